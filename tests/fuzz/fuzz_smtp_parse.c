/* Fuzz target for the SMTP command parser and the DATA state machine of
 * mailstead-smtpd. Input lines go through smtp_parse_line and the argument
 * parsers; the whole input also goes through the DATA reader whole, one
 * byte at a time and in input-derived chunks, which must all agree. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "smtpd/smtp_data.h"
#include "smtpd/smtp_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_smtp_parse: check failed: %s (line %d)\n", #cond, __LINE__); \
		abort(); \
	} \
} while (0)

/* The localserve special localparts: a code is always a 4xx/5xx. */
static void
check_localserve(const char *localpart)
{
	static const char *const prefixes[] = { "", "mailfrom", "rcptto" };
	size_t i;

	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		unsigned code = 1;
		enum smtp_localserve_fail f = smtp_localserve_fail(localpart, prefixes[i], &code);

		CHECK(f == SMTP_LS_CODE ? code >= 400 && code <= 599 : code == 0);
		/* With a prefix the answer is never "more" than without. */
		if (i > 0 && f != SMTP_LS_NONE)
			CHECK(smtp_localserve_fail(localpart, "", &code) != SMTP_LS_NONE);
	}
}

/* A refusal must come with a reply line "[45]xx x.y.z text". */
static void
check_reply(const char *reply)
{
	CHECK(reply != NULL);
	CHECK(strlen(reply) > 10);
	CHECK(reply[0] == '4' || reply[0] == '5');
	CHECK(reply[3] == ' ' && reply[5] == '.');
}

static void
fuzz_args(enum smtp_verb verb, const char *args, size_t n)
{
	const char *reply = NULL;

	switch (verb) {
	case SMTP_VERB_EHLO:
	case SMTP_VERB_HELO: {
		struct smtp_helo h;

		if (smtp_parse_helo(args, n, verb == SMTP_VERB_EHLO, &h, &reply) == 0) {
			CHECK(h.name != NULL && strlen(h.name) == n);
		} else {
			check_reply(reply);
		}
		smtp_helo_free(&h);
		break;
	}
	case SMTP_VERB_MAIL: {
		struct smtp_mail m;

		if (smtp_parse_mail(args, n, &m, &reply) == 0) {
			CHECK(m.from.localpart != NULL && m.from.domain != NULL);
			CHECK(m.null_sender == (m.from.localpart[0] == '\0' &&
				m.from.domain[0] == '\0'));
			check_localserve(m.from.localpart);
		} else {
			check_reply(reply);
		}
		smtp_mail_free(&m);
		break;
	}
	case SMTP_VERB_RCPT: {
		int utf8;

		for (utf8 = 0; utf8 < 2; utf8++) {
			struct smtp_rcpt r;

			if (smtp_parse_rcpt(args, n, utf8, &r, &reply) == 0) {
				CHECK(r.to.localpart != NULL && r.to.domain != NULL);
				CHECK(r.postmaster || r.to.domain[0] != '\0');
				check_localserve(r.to.localpart);
			} else {
				check_reply(reply);
			}
			smtp_rcpt_free(&r);
		}
		break;
	}
	default:
		if (smtp_parse_noargs(args, n, &reply) < 0)
			check_reply(reply);
		break;
	}
}

static void
fuzz_lines(const char *p, size_t size)
{
	size_t off = 0;

	while (off < size) {
		const char *nl = memchr(p + off, '\n', size - off);
		size_t len = nl ? (size_t)(nl - (p + off)) + 1 : size - off;
		struct smtp_cmdline cmd;
		const char *reply = NULL;

		if (smtp_parse_line(p + off, len, &cmd, &reply) == 0) {
			CHECK(cmd.args >= p + off && cmd.args + cmd.argslen <= p + off + len);
			CHECK(smtp_verb_name(cmd.verb) != NULL);
			fuzz_args(cmd.verb, cmd.args, cmd.argslen);
		} else {
			check_reply(reply);
		}
		/* The argument parsers also see raw lines, whatever the verb. */
		fuzz_args(SMTP_VERB_MAIL, p + off, len);
		fuzz_args(SMTP_VERB_RCPT, p + off, len);
		off += len;
	}
}

struct data_run {
	struct smtp_data d;
	struct buf out;
	size_t consumed;
};

/* chunk: 0 whole, 1 byte by byte, 2 sizes taken from the input bytes. */
static void
run_data(const char *p, size_t size, uint64_t max, int chunk, struct data_run *r)
{
	size_t off = 0, k = 0;

	buf_init(&r->out);
	smtp_data_init(&r->d, max);
	while (off < size && !r->d.done) {
		size_t len = size - off, used;

		if (chunk == 1)
			len = 1;
		else if (chunk == 2) {
			size_t want = 1 + (unsigned char)p[k++ % size] % 17;
			len = want < len ? want : len;
		}
		used = smtp_data_feed(&r->d, p + off, len, &r->out);
		CHECK(used <= len);
		CHECK(used == len || r->d.done);
		off += used;
	}
	r->consumed = off;
	CHECK(r->out.len <= r->consumed);
	CHECK(r->d.size >= r->out.len);
	if (max != 0)
		CHECK(r->out.len <= max);
	if (r->d.done) {
		/* The end is always the bytes CR LF "." CR LF (the first CRLF may
		 * be the DATA command's). */
		CHECK(r->consumed >= 3);
		CHECK(memcmp(p + r->consumed - 3, ".\r\n", 3) == 0);
		CHECK(r->consumed == 3 || memcmp(p + r->consumed - 5, "\r\n", 2) == 0);
		CHECK(smtp_data_feed(&r->d, "x", 1, &r->out) == 0);
	}
}

static void
fuzz_data(const char *p, size_t size)
{
	struct data_run a, b;
	uint64_t max = size > 0 ? (unsigned char)p[0] * 4u : 0;
	int chunk;

	run_data(p, size, max, 0, &a);
	for (chunk = 1; chunk <= 2; chunk++) {
		run_data(p, size, max, chunk, &b);
		CHECK(a.consumed == b.consumed);
		CHECK(a.out.len == b.out.len);
		CHECK(memcmp(a.out.data, b.out.data, a.out.len) == 0);
		CHECK(a.d.done == b.d.done && a.d.bare_cr == b.d.bare_cr &&
			a.d.bare_lf == b.d.bare_lf && a.d.eightbit == b.d.eightbit &&
			a.d.too_big == b.d.too_big && a.d.size == b.d.size &&
			a.d.received == b.d.received);
		buf_free(&b.out);
	}
	if (a.d.done && smtp_data_reject_reply(&a.d) != NULL)
		check_reply(smtp_data_reject_reply(&a.d));
	buf_free(&a.out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;

	fuzz_lines(p, size);
	fuzz_data(p, size);
	return 0;
}
