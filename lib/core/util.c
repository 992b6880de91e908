/* Small helpers shared by every module; see util.h for the contracts. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

void
ms_panic(const char *fmt, ...)
{
	va_list ap;

	fputs("panic: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

void
ms_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		ms_panic("out of memory allocating %zu bytes", n);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		ms_panic("out of memory allocating %zu*%zu bytes", n, size);
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		ms_panic("out of memory reallocating %zu bytes", n);
	return q;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	struct buf b;
	va_list ap;

	buf_init(&b);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	return b.data;
}

size_t
ms_strlcpy(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);

	if (size > 0) {
		size_t c = n < size - 1 ? n : size - 1;
		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return n;
}

const char *
ms_err(const char *fmt, ...)
{
	static __thread char ring[8][512];
	static __thread unsigned idx;
	char *p = ring[idx++ % 8];
	va_list ap;

	va_start(ap, fmt);
	/* Truncation of our own error text is acceptable. */
	(void)vsnprintf(p, sizeof(ring[0]), fmt, ap);
	va_end(ap);
	return p;
}

int
ms_parse_u64n(const char *s, size_t n, uint64_t min, uint64_t max,
	uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	/* No length cap: leading zeros are valid digits, and the overflow
	 * check below stops on the first digit that does not fit. */
	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int
ms_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	return ms_parse_u64n(s, strlen(s), min, max, out);
}

static int
parse_suffixed(const char *s, const char *suffixes, const uint64_t *mult,
	uint64_t *out)
{
	size_t n = strlen(s);
	uint64_t m = 1, v;
	const char *p;

	if (n == 0)
		return -1;
	p = strchr(suffixes, ms_tolower(s[n - 1]));
	if (p != NULL && s[n - 1] != '\0') {
		m = mult[p - suffixes];
		n--;
	}
	if (ms_parse_u64n(s, n, 0, UINT64_MAX, &v) < 0)
		return -1;
	if (v != 0 && m > UINT64_MAX / v)
		return -1;
	*out = v * m;
	return 0;
}

int
ms_parse_size(const char *s, uint64_t *out)
{
	static const uint64_t mult[] = { 1024, 1024 * 1024, 1024 * 1024 * 1024 };

	return parse_suffixed(s, "kmg", mult, out);
}

int
ms_parse_duration(const char *s, uint64_t *seconds_out)
{
	static const uint64_t mult[] = { 1, 60, 3600, 86400 };

	return parse_suffixed(s, "smhd", mult, seconds_out);
}

int
ms_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "yes", "true", "1", "on" };
	static const char *const no[] = { "no", "false", "0", "off" };
	size_t i;

	for (i = 0; i < MS_NELEM(yes); i++) {
		if (ms_strcaseeq(s, yes[i])) {
			*out = true;
			return 0;
		}
		if (ms_strcaseeq(s, no[i])) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

void
ms_random(void *p, size_t n)
{
	unsigned char *c = p;

	while (n > 0) {
		ssize_t r = getrandom(c, n, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			ms_panic("getrandom: %s", strerror(errno));
		}
		c += r;
		n -= (size_t)r;
	}
}

void
ms_random_token(struct buf *out, size_t nbytes)
{
	unsigned char tmp[64];

	if (nbytes > sizeof(tmp))
		ms_panic("ms_random_token: %zu bytes too many", nbytes);
	ms_random(tmp, nbytes);
	ms_base64url_encode(out, tmp, nbytes);
	explicit_bzero(tmp, sizeof(tmp));
}

uint64_t
ms_random_u64(void)
{
	uint64_t v;

	ms_random(&v, sizeof(v));
	return v;
}

int64_t
ms_now(void)
{
	return (int64_t)time(NULL);
}

int64_t
ms_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
ms_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
ms_rfc5322_date(struct buf *out, time_t t)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char mons[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	long off;

	localtime_r(&t, &tm);
	off = tm.tm_gmtoff / 60;
	buf_printf(out, "%s, %d %s %04d %02d:%02d:%02d %c%02ld%02ld",
		days[tm.tm_wday], tm.tm_mday, mons[tm.tm_mon], tm.tm_year + 1900,
		tm.tm_hour, tm.tm_min, tm.tm_sec, off < 0 ? '-' : '+',
		labs(off) / 60, labs(off) % 60);
}

static const char b64std[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64url[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void
b64_encode(struct buf *out, const void *p, size_t n, const char *alpha, bool pad)
{
	const unsigned char *s = p;
	size_t i;

	buf_reserve(out, (n + 2) / 3 * 4);
	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		buf_putc(out, alpha[v >> 18 & 63]);
		buf_putc(out, alpha[v >> 12 & 63]);
		buf_putc(out, alpha[v >> 6 & 63]);
		buf_putc(out, alpha[v & 63]);
	}
	if (i < n) {
		uint32_t v = (uint32_t)s[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)s[i + 1] << 8;
		buf_putc(out, alpha[v >> 18 & 63]);
		buf_putc(out, alpha[v >> 12 & 63]);
		if (i + 1 < n)
			buf_putc(out, alpha[v >> 6 & 63]);
		else if (pad)
			buf_putc(out, '=');
		if (pad)
			buf_putc(out, '=');
	}
}

void
ms_base64_encode(struct buf *out, const void *p, size_t n)
{
	b64_encode(out, p, n, b64std, true);
}

void
ms_base64url_encode(struct buf *out, const void *p, size_t n)
{
	b64_encode(out, p, n, b64url, false);
}

static int
b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* On error nothing is left in out: a half-decoded credential must not
 * linger in a buffer the caller believes unchanged. */
static int
b64_fail(struct buf *out, size_t start)
{
	explicit_bzero(out->data + start, out->len - start);
	buf_truncate(out, start);
	return -1;
}

int
ms_base64_decode(struct buf *out, const char *s, size_t n)
{
	size_t i, start = out->len;

	if (n % 4 != 0)
		return -1;
	for (i = 0; i < n; i += 4) {
		int a = b64val(s[i]), b = b64val(s[i + 1]);
		int c = s[i + 2] == '=' ? -2 : b64val(s[i + 2]);
		int d = s[i + 3] == '=' ? -2 : b64val(s[i + 3]);
		bool last = i + 4 == n;

		if (a < 0 || b < 0 || c == -1 || d == -1)
			return b64_fail(out, start);
		if ((c == -2 || d == -2) && !last)
			return b64_fail(out, start);
		if (c == -2 && d != -2)
			return b64_fail(out, start);
		buf_putc(out, (char)(a << 2 | b >> 4));
		if (c >= 0)
			buf_putc(out, (char)((b & 15) << 4 | c >> 2));
		if (d >= 0)
			buf_putc(out, (char)((c & 3) << 6 | d));
	}
	return 0;
}

void
ms_hex_encode(struct buf *out, const void *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = p;
	size_t i;

	for (i = 0; i < n; i++) {
		buf_putc(out, hex[s[i] >> 4]);
		buf_putc(out, hex[s[i] & 15]);
	}
}

void
ms_str_lower(char *s)
{
	for (; *s; s++)
		*s = ms_tolower(*s);
}

int
ms_strncaseeq(const char *a, const char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ms_tolower(a[i]) != ms_tolower(b[i]))
			return 0;
	return 1;
}

int
ms_strcaseeq(const char *a, const char *b)
{
	size_t la = strlen(a);

	return la == strlen(b) && ms_strncaseeq(a, b, la);
}

bool
ms_startswith_ci(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);

	return strlen(s) >= n && ms_strncaseeq(s, prefix, n);
}

int
ms_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

int
ms_read_file(const char *path, struct buf *out)
{
	char tmp[65536];
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	for (;;) {
		ssize_t r = read(fd, tmp, sizeof(tmp));

		if (r < 0) {
			int e = errno;
			if (e == EINTR)
				continue;
			close(fd);
			errno = e;
			return -1;
		}
		if (r == 0)
			break;
		buf_append(out, tmp, (size_t)r);
	}
	close(fd);
	return 0;
}

int
ms_mkdir_p(const char *path, unsigned int mode)
{
	char *p, *s;
	int rc = 0;

	if (path[0] == '\0') {
		errno = ENOENT;
		return -1;
	}
	p = xstrdup(path);
	for (s = p + 1;; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;

			*s = '\0';
			if (mkdir(p, mode) < 0 && errno != EEXIST) {
				rc = -1;
				break;
			}
			*s = c;
			if (c == '\0')
				break;
		}
	}
	free(p);
	if (rc == 0) {
		struct stat st;

		/* EEXIST above also covers a plain file in the way. */
		if (stat(path, &st) < 0)
			return -1;
		if (!S_ISDIR(st.st_mode)) {
			errno = ENOTDIR;
			return -1;
		}
	}
	return rc;
}

int
ms_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

void
ms_utf8_put(struct buf *out, uint32_t cp)
{
	char b[4];

	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		cp = 0xfffd;
	if (cp < 0x80) {
		buf_putc(out, (char)cp);
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3f));
		buf_append(out, b, 2);
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		buf_append(out, b, 3);
	} else {
		b[0] = (char)(0xf0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		buf_append(out, b, 4);
	}
}
