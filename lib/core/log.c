/* logfmt logging to a file descriptor (stderr by default; systemd and
 * localserve collect it). */
#include "config.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "util.h"

static const char *log_prog = "mailstead";
static _Atomic int log_level = MS_LOG_INFO;
static int log_fd = 2;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void
log_init(const char *prog, enum ms_log_level level, int fd)
{
	log_prog = prog;
	log_level = level;
	log_fd = fd;
}

void
log_set_level(enum ms_log_level level)
{
	log_level = level;
}

enum ms_log_level
log_get_level(void)
{
	return (enum ms_log_level)log_level;
}

int
log_parse_level(const char *s, enum ms_log_level *out)
{
	size_t i;

	for (i = 0; i < MS_NELEM(level_names); i++) {
		if (ms_strcaseeq(s, level_names[i])) {
			*out = (enum ms_log_level)i;
			return 0;
		}
	}
	return -1;
}

const char *
log_level_name(enum ms_log_level level)
{
	return (size_t)level < MS_NELEM(level_names) ? level_names[level] : "?";
}

void
log_msg(enum ms_log_level level, const char *cid, const char *fmt, ...)
{
	struct buf b;
	struct timespec ts;
	struct tm tm;
	va_list ap;

	if ((int)level < log_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	buf_init(&b);
	buf_printf(&b, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s prog=%s",
		tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, level_names[level],
		log_prog);
	if (cid != NULL)
		buf_printf(&b, " cid=%s", cid);
	buf_putc(&b, ' ');
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	buf_putc(&b, '\n');
	(void)ms_write_all(log_fd, b.data, b.len);
	buf_free(&b);
}

/* Values longer than this are cut; a log line must stay readable. */
#define LQ_MAX 300

const char *
lqn(const char *s, size_t n)
{
	/* Worst case: every byte becomes \xNN, plus quotes, "..." and NUL. */
	static __thread char ring[16][1 + LQ_MAX * 4 + 3 + 1 + 1];
	static __thread unsigned idx;
	char *out = ring[idx++ % 16], *o = out;
	size_t i, max = n > LQ_MAX ? LQ_MAX : n;
	/* A cut value is always quoted, so every cut shows as ..." at the end. */
	bool quote = n == 0 || n > max;

	if (s == NULL)
		return "\"\"";
	for (i = 0; i < max && !quote; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f)
			quote = true;
	}
	if (!quote) {
		memcpy(out, s, max);
		out[max] = '\0';
		return out;
	}
	*o++ = '"';
	for (i = 0; i < max; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = (char)c;
		} else if (c < ' ' || c == 0x7f) {
			static const char hex[] = "0123456789abcdef";
			*o++ = '\\';
			*o++ = 'x';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		} else {
			*o++ = (char)c;	/* UTF-8 passes through */
		}
	}
	if (n > max) {
		memcpy(o, "...", 3);
		o += 3;
	}
	*o++ = '"';
	*o = '\0';
	return out;
}

const char *
lq(const char *s)
{
	return s == NULL ? "\"\"" : lqn(s, strlen(s));
}

void
log_new_cid(char *out, size_t outsize)
{
	static _Atomic uint64_t counter;
	static uint64_t base;
	static atomic_flag init = ATOMIC_FLAG_INIT;
	static _Atomic int ready;
	uint64_t v;

	if (!atomic_flag_test_and_set(&init)) {
		base = ms_random_u64();
		ready = 1;
	}
	while (!ready)
		;
	v = (base + atomic_fetch_add(&counter, 1)) & 0xffffffffffffULL;
	(void)snprintf(out, outsize, "%012llx", (unsigned long long)v);
}
