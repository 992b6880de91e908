/* Unit tests for daemons/smtpd: the command-line parser (smtp_parse) and
 * the DATA state machine (smtp_data), the latter fed whole, one byte at a
 * time and in random chunks, and checked against a simple reference
 * decoder on random input. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/util.h"
#include "smtpd/smtp_data.h"
#include "smtpd/smtp_parse.h"

/* ---------------------------------------------------------------- helpers */

/* Does the reply start with prefix, e.g. "501 5.5.4"? */
static void
assert_reply(const char *reply, const char *prefix)
{
	assert_non_null(reply);
	if (strncmp(reply, prefix, strlen(prefix)) != 0)
		fail_msg("reply \"%s\" does not start with \"%s\"", reply, prefix);
}

/* Parse a full line given as a C string with explicit length. */
static int
line_n(const char *s, size_t n, struct smtp_cmdline *cmd, const char **reply)
{
	*reply = NULL;
	return smtp_parse_line(s, n, cmd, reply);
}

static int
line(const char *s, struct smtp_cmdline *cmd, const char **reply)
{
	return line_n(s, strlen(s), cmd, reply);
}

static void
assert_args(const struct smtp_cmdline *cmd, const char *want)
{
	assert_int_equal(cmd->argslen, strlen(want));
	assert_memory_equal(cmd->args, want, cmd->argslen);
}

/* Parse MAIL/RCPT arguments given as C strings. */
static int
mail(const char *args, struct smtp_mail *m, const char **reply)
{
	*reply = NULL;
	return smtp_parse_mail(args, strlen(args), m, reply);
}

static int
rcpt(const char *args, bool utf8, struct smtp_rcpt *r, const char **reply)
{
	*reply = NULL;
	return smtp_parse_rcpt(args, strlen(args), utf8, r, reply);
}

static void
mail_bad(const char *args, const char *want)
{
	struct smtp_mail m;
	const char *reply;

	if (mail(args, &m, &reply) == 0)
		fail_msg("MAIL %s accepted, want %s", args, want);
	assert_reply(reply, want);
	smtp_mail_free(&m);
}

static void
rcpt_bad(const char *args, bool utf8, const char *want)
{
	struct smtp_rcpt r;
	const char *reply;

	if (rcpt(args, utf8, &r, &reply) == 0)
		fail_msg("RCPT %s accepted, want %s", args, want);
	assert_reply(reply, want);
	smtp_rcpt_free(&r);
}

static void
helo_ok(const char *args, bool ehlo, bool literal)
{
	struct smtp_helo h;
	const char *reply = NULL;

	if (smtp_parse_helo(args, strlen(args), ehlo, &h, &reply) != 0)
		fail_msg("HELO %s refused: %s", args, reply);
	assert_string_equal(h.name, args);
	assert_int_equal(h.literal, literal);
	smtp_helo_free(&h);
	assert_null(h.name);
}

static void
helo_bad(const char *args, size_t n)
{
	struct smtp_helo h;
	const char *reply = NULL;

	if (smtp_parse_helo(args, n, true, &h, &reply) == 0)
		fail_msg("EHLO %.*s accepted", (int)n, args);
	assert_reply(reply, "501 5.5.4");
	smtp_helo_free(&h);
}

/* ---------------------------------------------------------------- lines */

static void
test_line_verbs(void **state)
{
	static const struct {
		const char *in;
		enum smtp_verb verb;
		const char *args;
	} cases[] = {
		{ "EHLO client.example\r\n", SMTP_VERB_EHLO, "client.example" },
		{ "ehlo client.example\r\n", SMTP_VERB_EHLO, "client.example" },
		{ "eHlO x\r\n", SMTP_VERB_EHLO, "x" },
		{ "HELO x\r\n", SMTP_VERB_HELO, "x" },
		{ "MAIL FROM:<a@b.example>\r\n", SMTP_VERB_MAIL, "FROM:<a@b.example>" },
		{ "mail  FROM:<>\r\n", SMTP_VERB_MAIL, "FROM:<>" },
		{ "RCPT TO:<a@b.example>\r\n", SMTP_VERB_RCPT, "TO:<a@b.example>" },
		{ "DATA\r\n", SMTP_VERB_DATA, "" },
		{ "data \r\n", SMTP_VERB_DATA, "" },
		{ "DATA x\r\n", SMTP_VERB_DATA, "x" },
		{ "RSET\r\n", SMTP_VERB_RSET, "" },
		{ "NOOP hello there\r\n", SMTP_VERB_NOOP, "hello there" },
		{ "QUIT\r\n", SMTP_VERB_QUIT, "" },
		{ "Quit\t\r\n", SMTP_VERB_QUIT, "" },
		{ "VRFY user\r\n", SMTP_VERB_VRFY, "user" },
		{ "EXPN list\r\n", SMTP_VERB_EXPN, "list" },
		{ "HELP\r\n", SMTP_VERB_HELP, "" },
		{ "STARTTLS\r\n", SMTP_VERB_STARTTLS, "" },
		{ "AUTH PLAIN AGFAAGI=\r\n", SMTP_VERB_AUTH, "PLAIN AGFAAGI=" },
		{ "BDAT 10 LAST\r\n", SMTP_VERB_BDAT, "10 LAST" },
		{ "FROBNICATE now\r\n", SMTP_VERB_UNKNOWN, "now" },
		{ "MAILX FROM:<>\r\n", SMTP_VERB_UNKNOWN, "FROM:<>" },
		{ "MAI\r\n", SMTP_VERB_UNKNOWN, "" },
		{ "MAIL:FROM:<>\r\n", SMTP_VERB_UNKNOWN, "" },
		{ "M\xc3\x84IL FROM:<>\r\n", SMTP_VERB_UNKNOWN, "FROM:<>" },
		{ "\x01\x02\x7f binary\r\n", SMTP_VERB_UNKNOWN, "binary" },
		{ " MAIL FROM:<>\r\n", SMTP_VERB_UNKNOWN, "MAIL FROM:<>" },
	};
	size_t i;

	for (i = 0; i < MS_NELEM(cases); i++) {
		struct smtp_cmdline cmd;
		const char *reply;

		if (line(cases[i].in, &cmd, &reply) != 0)
			fail_msg("line %zu refused: %s", i, reply);
		if (cmd.verb != cases[i].verb)
			fail_msg("line %zu: verb %d, want %d", i, cmd.verb, cases[i].verb);
		assert_args(&cmd, cases[i].args);
	}
	assert_string_equal(smtp_verb_name(SMTP_VERB_MAIL), "MAIL");
	assert_string_equal(smtp_verb_name(SMTP_VERB_UNKNOWN), "?");
	assert_string_equal(smtp_verb_name(SMTP_VERB_COUNT), "?");
}

static void
test_line_bad(void **state)
{
	struct smtp_cmdline cmd;
	const char *reply;

	/* Only CRLF ends a line: bare LF, bare CR, nothing. */
	assert_int_equal(line("NOOP\n", &cmd, &reply), -1);
	assert_reply(reply, "500 5.5.2");
	assert_int_equal(line("NOOP\r", &cmd, &reply), -1);
	assert_reply(reply, "500 5.5.2");
	assert_int_equal(line("NOOP", &cmd, &reply), -1);
	assert_int_equal(line("", &cmd, &reply), -1);
	assert_int_equal(line("\n", &cmd, &reply), -1);
	/* Embedded CR, LF, NUL. */
	assert_int_equal(line("NOOP a\rb\r\n", &cmd, &reply), -1);
	assert_reply(reply, "500 5.5.2");
	assert_int_equal(line("NOOP a\nb\r\n", &cmd, &reply), -1);
	assert_int_equal(line_n("NO\0OP\r\n", 7, &cmd, &reply), -1);
	assert_reply(reply, "500 5.5.2");
	assert_int_equal(line_n("MAIL FROM:<a\0@b>\r\n", 18, &cmd, &reply), -1);
	/* Empty and blank lines. */
	assert_int_equal(line("\r\n", &cmd, &reply), -1);
	assert_reply(reply, "500 5.5.2");
	assert_int_equal(line("   \r\n", &cmd, &reply), -1);
	assert_reply(reply, "500 5.5.2");
}

static void
test_line_long(void **state)
{
	struct buf b;
	struct smtp_cmdline cmd;
	const char *reply;

	buf_init(&b);
	buf_puts(&b, "NOOP ");
	while (b.len < 100000)
		buf_putc(&b, 'x');
	buf_puts(&b, "\r\n");
	assert_int_equal(line_n(b.data, b.len, &cmd, &reply), 0);
	assert_int_equal(cmd.verb, SMTP_VERB_NOOP);
	assert_int_equal(cmd.argslen, b.len - 7);
	buf_reset(&b);
	while (b.len < 100000)
		buf_putc(&b, 'M');
	buf_puts(&b, "\r\n");
	assert_int_equal(line_n(b.data, b.len, &cmd, &reply), 0);
	assert_int_equal(cmd.verb, SMTP_VERB_UNKNOWN);
	buf_free(&b);
}

static void
test_noargs(void **state)
{
	const char *reply = NULL;

	assert_int_equal(smtp_parse_noargs("", 0, &reply), 0);
	assert_int_equal(smtp_parse_noargs("x", 1, &reply), -1);
	assert_reply(reply, "501 5.5.4");
}

/* ---------------------------------------------------------------- EHLO */

static void
test_helo(void **state)
{
	char label[80];

	helo_ok("client.example.net", true, false);
	helo_ok("localhost", true, false);
	helo_ok("Mail-1.Example.COM", true, false);
	helo_ok("a", false, false);
	helo_ok("123.example", true, false);
	helo_ok("host_name.example", true, false);	/* seen in the wild */
	helo_ok("example.org.", true, false);
	helo_ok("[192.0.2.1]", true, true);
	helo_ok("[192.0.2.1]", false, true);
	helo_ok("[IPv6:2001:db8::1]", true, true);
	helo_ok("[ipv6:::1]", true, true);
	helo_ok("[x-tag:some-content]", true, true);

	helo_bad("", 0);
	helo_bad("-host.example", 13);
	helo_bad("host-.example", 13);
	helo_bad("a..b", 4);
	helo_bad(".a", 2);
	helo_bad(".", 1);
	helo_bad("a b", 3);
	helo_bad("host.example extra", 18);
	helo_bad("ex\xc3\xa4mple.org", 12);	/* 8-bit without SMTPUTF8 */
	helo_bad("a\0b", 3);
	helo_bad("a\tb", 3);
	helo_bad("[192.0.2]", 9);
	helo_bad("[192.0.2.256]", 13);
	helo_bad("[192.0.2.1", 10);
	helo_bad("[]", 2);
	helo_bad("[", 1);
	helo_bad("[IPv6:zz::1]", 12);
	helo_bad("[IPv6:192.0.2.1]", 16);
	helo_bad("[:abc]", 6);
	helo_bad("[tag:]", 6);
	helo_bad("[tag-:x]", 8);
	helo_bad("[tag:a[b]", 9);
	helo_bad("[tag:a b]", 9);

	/* Label and name lengths (RFC 1035: 63 and 255). */
	memset(label, 'a', 63);
	label[63] = '\0';
	helo_ok(label, true, false);
	memset(label, 'a', 64);
	label[64] = '\0';
	helo_bad(label, 64);
	{
		struct buf b;

		buf_init(&b);
		while (b.len < 250)
			buf_puts(&b, "abcd.");
		buf_puts(&b, "abcde");
		helo_ok(b.data, true, false);	/* exactly 255 */
		buf_puts(&b, ".a");
		helo_bad(b.data, b.len);	/* 257 */
		buf_free(&b);
	}
}

/* ---------------------------------------------------------------- MAIL */

static void
test_mail_ok(void **state)
{
	struct smtp_mail m;
	const char *reply;

	assert_int_equal(mail("FROM:<sender@example.net>", &m, &reply), 0);
	assert_string_equal(m.from.localpart, "sender");
	assert_string_equal(m.from.domain, "example.net");
	assert_false(m.null_sender);
	assert_false(m.has_size);
	assert_int_equal(m.body, SMTP_BODY_NONE);
	assert_false(m.smtputf8);
	smtp_mail_free(&m);

	assert_int_equal(mail("from:<Sender@Example.NET>", &m, &reply), 0);
	assert_string_equal(m.from.localpart, "Sender");
	assert_string_equal(m.from.domain, "example.net");
	smtp_mail_free(&m);

	/* A space after the colon is a common client quirk. */
	assert_int_equal(mail("FROM: <a@b.example>", &m, &reply), 0);
	assert_string_equal(m.from.localpart, "a");
	smtp_mail_free(&m);

	assert_int_equal(mail("FROM:<>", &m, &reply), 0);
	assert_true(m.null_sender);
	assert_string_equal(m.from.localpart, "");
	smtp_mail_free(&m);

	assert_int_equal(mail("FROM:<> SIZE=0", &m, &reply), 0);
	assert_true(m.null_sender);
	assert_true(m.has_size);
	smtp_mail_free(&m);

	/* Source route: accepted and ignored (RFC 5321 4.1.2). */
	assert_int_equal(mail("FROM:<@relay.example,@r2.example:a@b.example>", &m, &reply), 0);
	assert_string_equal(m.from.localpart, "a");
	assert_string_equal(m.from.domain, "b.example");
	smtp_mail_free(&m);

	/* A ">" inside a quoted localpart does not end the path. */
	assert_int_equal(mail("FROM:<\"odd > name\"@b.example> SIZE=5", &m, &reply), 0);
	assert_string_equal(m.from.localpart, "odd > name");
	assert_int_equal(m.size, 5);
	smtp_mail_free(&m);

	assert_int_equal(mail("FROM:<a@[192.0.2.1]>", &m, &reply), 0);
	assert_string_equal(m.from.domain, "[192.0.2.1]");
	smtp_mail_free(&m);

	assert_int_equal(mail("FROM:<a@b.example> SIZE=1000 BODY=8BITMIME SMTPUTF8", &m, &reply), 0);
	assert_true(m.has_size);
	assert_int_equal(m.size, 1000);
	assert_int_equal(m.body, SMTP_BODY_8BITMIME);
	assert_true(m.smtputf8);
	smtp_mail_free(&m);

	/* Keywords and BODY values are case-insensitive; runs of spaces. */
	assert_int_equal(mail("FROM:<a@b.example>  size=7   body=7bit  smtputf8", &m, &reply), 0);
	assert_int_equal(m.size, 7);
	assert_int_equal(m.body, SMTP_BODY_7BIT);
	assert_true(m.smtputf8);
	smtp_mail_free(&m);

	/* 20 digits that overflow 64 bits saturate (certainly too big). */
	assert_int_equal(mail("FROM:<a@b.example> SIZE=99999999999999999999", &m, &reply), 0);
	assert_int_equal(m.size, UINT64_MAX);
	smtp_mail_free(&m);
	assert_int_equal(mail("FROM:<a@b.example> SIZE=00000000000000000042", &m, &reply), 0);
	assert_int_equal(m.size, 42);
	smtp_mail_free(&m);

	/* UTF-8 addresses with SMTPUTF8 (RFC 6531). */
	assert_int_equal(mail("FROM:<j\xc3\xb6rg@example.net> SMTPUTF8", &m, &reply), 0);
	assert_string_equal(m.from.localpart, "j\xc3\xb6rg");
	smtp_mail_free(&m);
	assert_int_equal(mail("FROM:<a@b\xc3\xbc" "cher.example> SMTPUTF8 BODY=8BITMIME", &m, &reply), 0);
	assert_string_equal(m.from.domain, "b\xc3\xbc" "cher.example");
	smtp_mail_free(&m);
}

static void
test_mail_bad(void **state)
{
	struct buf b;
	int i;

	mail_bad("", "501 5.5.2");
	mail_bad("FROM", "501 5.5.2");
	mail_bad("FROM <a@b.example>", "501 5.5.2");
	mail_bad("TO:<a@b.example>", "501 5.5.2");
	mail_bad("FRO:<a@b.example>", "501 5.5.2");
	mail_bad("FROM:", "501 5.1.7");
	mail_bad("FROM:a@b.example", "501 5.1.7");
	mail_bad("FROM:<a@b.example", "501 5.1.7");
	mail_bad("FROM:<a@b.example>x", "501 5.1.7");
	mail_bad("FROM:<a@b.example>>", "501 5.1.7");
	mail_bad("FROM:<a@@b.example>", "501 5.1.7");
	mail_bad("FROM:<a@>", "501 5.1.7");
	mail_bad("FROM:<@b.example>", "501 5.1.7");
	mail_bad("FROM:<a>", "501 5.1.7");
	mail_bad("FROM:<a b@c.example>", "501 5.1.7");
	mail_bad("FROM:<a@b..example>", "501 5.1.7");
	mail_bad("FROM:<\"unterminated@b.example>", "501 5.1.7");
	mail_bad("FROM:<a@[192.0.2.300]>", "501 5.1.7");
	mail_bad("FROM:<a\tb@c.example>", "501 5.1.7");
	/* NUL inside the argument (smtp_parse_line refuses it earlier too). */
	{
		struct smtp_mail m;
		const char *reply = NULL;

		assert_int_equal(smtp_parse_mail("FROM:<a\0b@c.example>", 21, &m, &reply), -1);
		assert_reply(reply, "501 5.1.7");
		smtp_mail_free(&m);
	}
	/* 8-bit without SMTPUTF8: RFC 6531 553 5.6.7. */
	mail_bad("FROM:<j\xc3\xb6rg@example.net>", "553 5.6.7");
	mail_bad("FROM:<a@b\xc3\xbc" "cher.example> BODY=8BITMIME", "553 5.6.7");
	/* Invalid UTF-8 even with SMTPUTF8. */
	mail_bad("FROM:<j\xff\xfe@example.net> SMTPUTF8", "501 5.1.7");

	/* Parameters. */
	mail_bad("FROM:<a@b.example> SIZE", "501 5.5.4");
	mail_bad("FROM:<a@b.example> SIZE=", "501 5.5.4");
	mail_bad("FROM:<a@b.example> SIZE=abc", "501 5.5.4");
	mail_bad("FROM:<a@b.example> SIZE=-1", "501 5.5.4");
	mail_bad("FROM:<a@b.example> SIZE=1k", "501 5.5.4");
	mail_bad("FROM:<a@b.example> SIZE=100000000000000000000", "501 5.5.4");	/* 21 digits */
	mail_bad("FROM:<a@b.example> SIZE==1", "501 5.5.4");
	mail_bad("FROM:<a@b.example> SIZE=1 SIZE=2", "501 5.5.4");
	mail_bad("FROM:<a@b.example> BODY", "501 5.5.4");
	mail_bad("FROM:<a@b.example> BODY=8BIT", "501 5.5.4");
	mail_bad("FROM:<a@b.example> BODY=BINARYMIME", "555 5.5.4");
	mail_bad("FROM:<a@b.example> SMTPUTF8=yes", "501 5.5.4");
	mail_bad("FROM:<a@b.example> SMTPUTF8 SMTPUTF8", "501 5.5.4");
	mail_bad("FROM:<a@b.example> FOO=bar", "555 5.5.4");
	mail_bad("FROM:<a@b.example> FOO", "555 5.5.4");
	mail_bad("FROM:<a@b.example> RET=HDRS", "555 5.5.4");	/* no DSN */
	mail_bad("FROM:<a@b.example> =x", "501 5.5.4");
	mail_bad("FROM:<a@b.example> -X=1", "501 5.5.4");
	mail_bad("FROM:<a@b.example> X_Y=1", "501 5.5.4");
	mail_bad("FROM:<a@b.example> SIZE=1\x01", "501 5.5.4");
	mail_bad("FROM:<a@b.example> BODY=7BIT\t", "501 5.5.4");
	/* 8-bit parameter values need SMTPUTF8 (RFC 6531 3.3). */
	mail_bad("FROM:<a@b.example> BODY=\xc3\xa4", "501 5.5.4");

	/* Too many parameters. */
	buf_init(&b);
	buf_puts(&b, "FROM:<a@b.example>");
	for (i = 0; i < SMTP_PARAMS_MAX + 1; i++)
		buf_printf(&b, " X%d=1", i);
	mail_bad(b.data, "501 5.5.4");

	/* Overlong path and localpart. */
	buf_reset(&b);
	buf_puts(&b, "FROM:<");
	while (b.len < SMTP_PATH_MAX + 10)
		buf_putc(&b, 'a');
	buf_puts(&b, "@b.example>");
	mail_bad(b.data, "501 5.1.7");
	buf_reset(&b);
	buf_puts(&b, "FROM:<");
	for (i = 0; i < 65; i++)
		buf_putc(&b, 'a');
	buf_puts(&b, "@b.example>");
	mail_bad(b.data, "501 5.1.7");
	buf_free(&b);
}

/* REQUIRETLS (RFC 8689), AUTH= (RFC 4954 5, xtext of RFC 3461 4) and
 * FUTURERELEASE's HOLDFOR/HOLDUNTIL (RFC 4865): the parser takes their
 * syntax; whether the session offers them is checked there. */
static void
test_mail_extension_params(void **state)
{
	struct smtp_mail m;
	const char *reply;
	int64_t now;

	/* REQUIRETLS */
	assert_int_equal(mail("FROM:<a@b.example> REQUIRETLS", &m, &reply), 0);
	assert_true(m.requiretls);
	smtp_mail_free(&m);
	assert_int_equal(mail("FROM:<a@b.example> requiretls", &m, &reply), 0);
	assert_true(m.requiretls);
	smtp_mail_free(&m);
	assert_int_equal(mail("FROM:<a@b.example>", &m, &reply), 0);
	assert_false(m.requiretls);
	smtp_mail_free(&m);
	mail_bad("FROM:<a@b.example> REQUIRETLS=yes", "501 5.5.4");
	mail_bad("FROM:<a@b.example> REQUIRETLS=", "501 5.5.4");
	mail_bad("FROM:<a@b.example> REQUIRETLS REQUIRETLS", "501 5.5.4");

	/* AUTH=: the mailbox decoded from xtext, or "<>". */
	assert_int_equal(mail("FROM:<a@b.example> AUTH=a@b.example", &m, &reply), 0);
	assert_true(m.has_auth);
	assert_string_equal(m.auth, "a@b.example");
	smtp_mail_free(&m);
	assert_null(m.auth);
	assert_int_equal(mail("FROM:<a@b.example> AUTH=<>", &m, &reply), 0);
	assert_true(m.has_auth);
	assert_string_equal(m.auth, "<>");
	smtp_mail_free(&m);
	assert_int_equal(mail("FROM:<a@b.example> AUTH=a+2Bb+3Dc@b.example SIZE=10", &m, &reply), 0);
	assert_string_equal(m.auth, "a+b=c@b.example");
	assert_int_equal(m.size, 10);
	smtp_mail_free(&m);
	assert_int_equal(mail("FROM:<a@b.example> auth=+41", &m, &reply), 0);
	assert_string_equal(m.auth, "A");
	smtp_mail_free(&m);
	mail_bad("FROM:<a@b.example> AUTH", "501 5.5.4");
	mail_bad("FROM:<a@b.example> AUTH=", "501 5.5.4");
	mail_bad("FROM:<a@b.example> AUTH=a+2", "501 5.5.4");	/* short hexchar */
	mail_bad("FROM:<a@b.example> AUTH=a+", "501 5.5.4");
	mail_bad("FROM:<a@b.example> AUTH=a+2b", "501 5.5.4");	/* lower-case hex */
	mail_bad("FROM:<a@b.example> AUTH=a+GG", "501 5.5.4");
	mail_bad("FROM:<a@b.example> AUTH=a+00b", "501 5.5.4");	/* NUL */
	mail_bad("FROM:<a@b.example> AUTH=a=b", "501 5.5.4");	/* '=' is not an xchar */
	mail_bad("FROM:<a@b.example> AUTH=a\x01b", "501 5.5.4");
	mail_bad("FROM:<a@b.example> AUTH=x AUTH=y", "501 5.5.4");
	/* A later bad parameter frees the AUTH value (no leak, no stale value). */
	assert_int_equal(mail("FROM:<a@b.example> AUTH=x SIZE=abc", &m, &reply), -1);
	assert_null(m.auth);
	assert_false(m.has_auth);
	smtp_mail_free(&m);

	/* HOLDFOR = 1*9DIGIT seconds. */
	now = ms_now();
	assert_int_equal(mail("FROM:<a@b.example> HOLDFOR=3600", &m, &reply), 0);
	assert_true(m.has_hold);
	assert_true(m.hold_is_for);
	assert_int_equal(m.hold_for, 3600);
	assert_true(m.hold_until >= now + 3600 && m.hold_until <= ms_now() + 3600);
	smtp_mail_free(&m);
	assert_false(m.has_hold);
	assert_int_equal(mail("FROM:<a@b.example> holdfor=999999999", &m, &reply), 0);
	assert_int_equal(m.hold_for, 999999999);
	smtp_mail_free(&m);
	assert_int_equal(mail("FROM:<a@b.example> HOLDFOR=0", &m, &reply), 0);
	assert_true(m.has_hold);
	assert_int_equal(m.hold_for, 0);
	smtp_mail_free(&m);
	assert_int_equal(mail("FROM:<a@b.example>", &m, &reply), 0);
	assert_false(m.has_hold);
	assert_int_equal(m.hold_until, 0);
	smtp_mail_free(&m);
	mail_bad("FROM:<a@b.example> HOLDFOR", "501 5.5.4");
	mail_bad("FROM:<a@b.example> HOLDFOR=", "501 5.5.4");
	mail_bad("FROM:<a@b.example> HOLDFOR=1000000000", "501 5.5.4");	/* 10 digits */
	mail_bad("FROM:<a@b.example> HOLDFOR=-5", "501 5.5.4");
	mail_bad("FROM:<a@b.example> HOLDFOR=5s", "501 5.5.4");
	mail_bad("FROM:<a@b.example> HOLDFOR=1 HOLDFOR=2", "501 5.5.4");

	/* HOLDUNTIL = date-time (RFC 3339), normalized to unix seconds. */
	assert_int_equal(mail("FROM:<a@b.example> HOLDUNTIL=2030-01-02T03:04:05Z", &m, &reply), 0);
	assert_true(m.has_hold);
	assert_false(m.hold_is_for);
	assert_int_equal(m.hold_until, 1893553445);
	smtp_mail_free(&m);
	assert_int_equal(mail("FROM:<a@b.example> HOLDUNTIL=2030-01-02T03:04:05.250z", &m, &reply),
		0);
	assert_int_equal(m.hold_until, 1893553445);
	smtp_mail_free(&m);
	assert_int_equal(mail("FROM:<a@b.example> HOLDUNTIL=2030-01-02T03:04:05+02:30", &m, &reply),
		0);
	assert_int_equal(m.hold_until, 1893544445);
	smtp_mail_free(&m);
	assert_int_equal(mail("FROM:<a@b.example> HOLDUNTIL=2030-01-02T03:04:05-01:00", &m, &reply),
		0);
	assert_int_equal(m.hold_until, 1893553445 + 3600);
	smtp_mail_free(&m);
	mail_bad("FROM:<a@b.example> HOLDUNTIL", "501 5.5.4");
	mail_bad("FROM:<a@b.example> HOLDUNTIL=", "501 5.5.4");
	mail_bad("FROM:<a@b.example> HOLDUNTIL=2030-01-02", "501 5.5.4");
	mail_bad("FROM:<a@b.example> HOLDUNTIL=2030-01-02T03:04:05", "501 5.5.4");	/* no zone */
	mail_bad("FROM:<a@b.example> HOLDUNTIL=2030-01-02T03:04:05+0200", "501 5.5.4");
	mail_bad("FROM:<a@b.example> HOLDUNTIL=2030-01-02T03:04:05+25:00", "501 5.5.4");
	mail_bad("FROM:<a@b.example> HOLDUNTIL=2030-13-02T03:04:05Z", "501 5.5.4");
	mail_bad("FROM:<a@b.example> HOLDUNTIL=2030-01-02T25:04:05Z", "501 5.5.4");
	mail_bad("FROM:<a@b.example> HOLDUNTIL=2030-01-02T03:04:05Zjunk", "501 5.5.4");
	mail_bad("FROM:<a@b.example> HOLDUNTIL=tomorrow", "501 5.5.4");
	mail_bad("FROM:<a@b.example> HOLDUNTIL=1960-01-01T00:00:00Z", "501 5.5.4");
	/* At most one of the two. */
	mail_bad("FROM:<a@b.example> HOLDFOR=10 HOLDUNTIL=2030-01-02T03:04:05Z", "501 5.5.4");
	mail_bad("FROM:<a@b.example> HOLDUNTIL=2030-01-02T03:04:05Z HOLDFOR=10", "501 5.5.4");
	mail_bad("FROM:<a@b.example> HOLDUNTIL=2030-01-02T03:04:05Z HOLDUNTIL=2030-01-02T03:04:05Z",
		"501 5.5.4");
}

/* ---------------------------------------------------------------- RCPT */

static void
test_rcpt_ok(void **state)
{
	struct smtp_rcpt r;
	const char *reply;

	assert_int_equal(rcpt("TO:<user@example.org>", false, &r, &reply), 0);
	assert_string_equal(r.to.localpart, "user");
	assert_string_equal(r.to.domain, "example.org");
	assert_false(r.postmaster);
	smtp_rcpt_free(&r);

	assert_int_equal(rcpt("to: <User@EXAMPLE.org>", false, &r, &reply), 0);
	assert_string_equal(r.to.localpart, "User");
	assert_string_equal(r.to.domain, "example.org");
	smtp_rcpt_free(&r);

	/* RFC 5321 4.1.1.3: "<Postmaster>" without domain, any case. */
	assert_int_equal(rcpt("TO:<Postmaster>", false, &r, &reply), 0);
	assert_true(r.postmaster);
	assert_string_equal(r.to.localpart, "postmaster");
	assert_string_equal(r.to.domain, "");
	smtp_rcpt_free(&r);
	assert_int_equal(rcpt("TO:<POSTMASTER>", false, &r, &reply), 0);
	assert_true(r.postmaster);
	smtp_rcpt_free(&r);
	assert_int_equal(rcpt("TO:<postmaster@example.org>", false, &r, &reply), 0);
	assert_false(r.postmaster);
	assert_string_equal(r.to.domain, "example.org");
	smtp_rcpt_free(&r);

	assert_int_equal(rcpt("TO:<d\xc3\xb6rte@example.org>", true, &r, &reply), 0);
	assert_string_equal(r.to.localpart, "d\xc3\xb6rte");
	smtp_rcpt_free(&r);

	assert_int_equal(rcpt("TO:<@hop.example:user@example.org>", false, &r, &reply), 0);
	assert_string_equal(r.to.localpart, "user");
	smtp_rcpt_free(&r);

	assert_int_equal(rcpt("TO:<\"a b\"@example.org>", false, &r, &reply), 0);
	assert_string_equal(r.to.localpart, "a b");
	smtp_rcpt_free(&r);
}

static void
test_rcpt_bad(void **state)
{
	rcpt_bad("", false, "501 5.5.2");
	rcpt_bad("TO", false, "501 5.5.2");
	rcpt_bad("TO <a@b.example>", false, "501 5.5.2");
	rcpt_bad("FROM:<a@b.example>", false, "501 5.5.2");
	rcpt_bad("TO:", false, "501 5.1.3");
	rcpt_bad("TO:a@b.example", false, "501 5.1.3");
	rcpt_bad("TO:<a@b.example", false, "501 5.1.3");
	rcpt_bad("TO:<a@b.example>junk", false, "501 5.1.3");
	rcpt_bad("TO:<>", false, "501 5.1.3");
	rcpt_bad("TO:<postmaster", false, "501 5.1.3");
	rcpt_bad("TO:<postmaster >", false, "501 5.1.3");
	rcpt_bad("TO:<user>", false, "501 5.1.3");
	rcpt_bad("TO:<a@b@c.example>", false, "501 5.1.3");
	rcpt_bad("TO:<a@b.example> NOTIFY=NEVER", false, "555 5.5.4");
	rcpt_bad("TO:<a@b.example> ORCPT=rfc822;a@b.example", false, "555 5.5.4");
	rcpt_bad("TO:<a@b.example> =", false, "501 5.5.4");
	rcpt_bad("TO:<a@b.example> X=", false, "501 5.5.4");
	rcpt_bad("TO:<d\xc3\xb6rte@example.org>", false, "553 5.6.7");
	rcpt_bad("TO:<d\xff@example.org>", true, "501 5.1.3");
}

/* ---------------------------------------------------------------- DATA */

struct data_result {
	struct buf out;
	size_t consumed;
	struct smtp_data d;
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t
rng(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return x;
}

enum chunking { WHOLE, BYTES, RANDOM };

/* Feed in (n bytes) to a fresh state machine, stopping at done the way the
 * session does (consumed bytes belong to the message, the rest to the next
 * command). */
static void
data_run(const char *in, size_t n, uint64_t max, enum chunking how,
	struct data_result *res)
{
	size_t off = 0;

	buf_init(&res->out);
	smtp_data_init(&res->d, max);
	while (off < n && !res->d.done) {
		size_t len = n - off, used;

		if (how == BYTES)
			len = 1;
		else if (how == RANDOM)
			len = 1 + (size_t)(rng() % (len < 64 ? len : 64));
		used = smtp_data_feed(&res->d, in + off, len, &res->out);
		assert_true(used <= len);
		if (used < len)
			assert_true(res->d.done);
		off += used;
	}
	res->consumed = off;
	/* Feeding after the end consumes nothing. */
	if (res->d.done)
		assert_int_equal(smtp_data_feed(&res->d, "x", 1, &res->out), 0);
}

/* Run all three chunkings and check they agree; returns the WHOLE run. */
static void
data_all(const char *in, size_t n, uint64_t max, struct data_result *res)
{
	enum chunking how;

	data_run(in, n, max, WHOLE, res);
	for (how = BYTES; how <= RANDOM; how++) {
		int k;

		for (k = 0; k < (how == RANDOM ? 8 : 1); k++) {
			struct data_result other;

			data_run(in, n, max, how, &other);
			assert_int_equal(other.consumed, res->consumed);
			assert_int_equal(other.out.len, res->out.len);
			assert_memory_equal(other.out.data, res->out.data, res->out.len);
			assert_int_equal(other.d.done, res->d.done);
			assert_int_equal(other.d.bare_cr, res->d.bare_cr);
			assert_int_equal(other.d.bare_lf, res->d.bare_lf);
			assert_int_equal(other.d.eightbit, res->d.eightbit);
			assert_int_equal(other.d.too_big, res->d.too_big);
			assert_int_equal(other.d.size, res->d.size);
			assert_int_equal(other.d.received, res->d.received);
			buf_free(&other.out);
		}
	}
}

/* Expect the input to end exactly before `rest` with output `want`. */
static void
data_expect(const char *in, const char *want, const char *rest, bool bare_cr,
	bool bare_lf)
{
	struct data_result r;
	size_t n = strlen(in);

	data_all(in, n, 0, &r);
	if (!r.d.done)
		fail_msg("no end of data found in %s", in);
	assert_string_equal(in + r.consumed, rest);
	assert_int_equal(r.out.len, strlen(want));
	assert_memory_equal(r.out.data, want, r.out.len);
	assert_int_equal(r.d.size, strlen(want));
	assert_int_equal(r.d.bare_cr, bare_cr);
	assert_int_equal(r.d.bare_lf, bare_lf);
	if (bare_cr || bare_lf)
		assert_reply(smtp_data_reject_reply(&r.d), "550 5.5.2");
	else
		assert_null(smtp_data_reject_reply(&r.d));
	buf_free(&r.out);
}

static void
test_data_basic(void **state)
{
	data_expect("Subject: hi\r\n\r\nbody\r\n.\r\n", "Subject: hi\r\n\r\nbody\r\n", "",
		false, false);
	/* RFC 5321 4.1.1.4: the DATA line's CRLF precedes the first line. */
	data_expect(".\r\n", "", "", false, false);
	data_expect("\r\n.\r\n", "\r\n", "", false, false);
	/* Commands pipelined after the end are not consumed. */
	data_expect("a\r\n.\r\nQUIT\r\n", "a\r\n", "QUIT\r\n", false, false);
	data_expect("a\r\n.\r\n.\r\n", "a\r\n", ".\r\n", false, false);
	/* No line length limit inside DATA. */
	{
		struct buf in, want;
		struct data_result r;

		buf_init(&in);
		buf_init(&want);
		while (in.len < 200000)
			buf_puts(&in, "0123456789");
		buf_append(&want, in.data, in.len);
		buf_puts(&in, "\r\n.\r\n");
		buf_puts(&want, "\r\n");
		data_all(in.data, in.len, 0, &r);
		assert_true(r.d.done);
		assert_int_equal(r.consumed, in.len);
		assert_int_equal(r.out.len, want.len);
		assert_memory_equal(r.out.data, want.data, want.len);
		buf_free(&r.out);
		buf_free(&in);
		buf_free(&want);
	}
}

static void
test_data_unstuff(void **state)
{
	/* RFC 5321 4.5.2: a leading dot is removed from every line. */
	data_expect("..\r\n...\r\n.x\r\n..y\r\nmid.dle\r\n .sp\r\n.\r\n",
		".\r\n..\r\nx\r\n.y\r\nmid.dle\r\n .sp\r\n", "", false, false);
	data_expect("a\r\n..\r\n.\r\n", "a\r\n.\r\n", "", false, false);
	data_expect("..\r\n.\r\n", ".\r\n", "", false, false);
}

static void
test_data_no_end(void **state)
{
	static const char *const partial[] = {
		"", "a", "a\r", "a\r\n", "a\r\n.", "a\r\n.\r", ".", ".\r",
		"a\n.\n", "a\r\n.\n", "a\n.\r\n", "a\r.\r\n", "a\r\n.\r.",
		"a\r\n..\r\n", "a\r\n. \r\n", "a\r\n.\t\r\n", "a\r\n.\r\r\n",
		"\n.\n", "\r.\r", "\r\n.\r\r\n.\n",
	};
	size_t i;

	for (i = 0; i < MS_NELEM(partial); i++) {
		struct data_result r;

		data_all(partial[i], strlen(partial[i]), 0, &r);
		if (r.d.done)
			fail_msg("partial input %zu ended the data", i);
		assert_int_equal(r.consumed, strlen(partial[i]));
		buf_free(&r.out);
	}
}

/* The SMTP smuggling cases from the seeds' FAQ: none of these end the
 * data, and all of them mark the message for rejection. */
static void
test_data_smuggling(void **state)
{
	static const char *const seps[] = {
		"\n.\n", "\n.\r\n", "\r\n.\n", "\r.\r\n", "\r\n.\r", "\r.\r", "\n.\r",
	};
	size_t i;

	for (i = 0; i < MS_NELEM(seps); i++) {
		struct buf in;
		struct data_result r;
		const char *tail;

		buf_init(&in);
		buf_puts(&in, "Subject: x\r\n\r\nbody");
		buf_puts(&in, seps[i]);
		buf_puts(&in, "MAIL FROM:<evil@example.net>\r\nRCPT TO:<u@example.org>\r\n"
			"DATA\r\nsmuggled\r\n.\r\nNOOP\r\n");
		data_all(in.data, in.len, 0, &r);
		if (!r.d.done)
			fail_msg("separator %zu: real end not found", i);
		tail = in.data + r.consumed;
		assert_string_equal(tail, "NOOP\r\n");
		assert_true(r.d.bare_cr || r.d.bare_lf);
		assert_reply(smtp_data_reject_reply(&r.d), "550 5.5.2");
		assert_non_null(strstr(smtp_data_reject_reply(&r.d), "smuggling"));
		buf_free(&r.out);
		buf_free(&in);
	}

	data_expect("a\nb\r\n.\r\n", "a\nb\r\n", "", false, true);
	data_expect("a\rb\r\n.\r\n", "a\rb\r\n", "", true, false);
	data_expect("a\r\r\n.\r\n", "a\r\r\n", "", true, false);
	data_expect("a\n\r\n.\r\n", "a\n\r\n", "", false, true);
}

static void
test_data_bare_lf_first(void **state)
{
	/* A bare LF right after the DATA line: text, and no line start after
	 * it, so ".\r\n" following it is text as well. */
	struct data_result r;
	const char *in = "\n.\r\n.\r\n";

	data_all(in, strlen(in), 0, &r);
	assert_true(r.d.done);
	assert_int_equal(r.consumed, strlen(in));
	assert_true(r.d.bare_lf);
	assert_int_equal(r.out.len, 4);
	assert_memory_equal(r.out.data, "\n.\r\n", 4);
	buf_free(&r.out);
}

static void
test_data_8bit_and_size(void **state)
{
	struct data_result r;
	const char *in = "Subject: x\r\n\r\nGr\xc3\xbc\xc3\x9f" "e\r\n.\r\n";
	const char *big = "0123456789\r\n0123456789\r\n.\r\nRSET\r\n";

	data_all(in, strlen(in), 0, &r);
	assert_true(r.d.eightbit);
	assert_null(smtp_data_reject_reply(&r.d));
	buf_free(&r.out);
	data_all("ascii\r\n.\r\n", 10, 0, &r);
	assert_false(r.d.eightbit);
	buf_free(&r.out);

	/* Exactly at the limit is fine. */
	data_all(big, strlen(big), 24, &r);
	assert_false(r.d.too_big);
	assert_int_equal(r.out.len, 24);
	buf_free(&r.out);
	/* Over it: reading continues to the real end, output stops. */
	data_all(big, strlen(big), 23, &r);
	assert_true(r.d.done);
	assert_true(r.d.too_big);
	assert_int_equal(r.d.size, 24);
	assert_int_equal(r.out.len, 23);
	assert_memory_equal(r.out.data, big, 23);
	assert_string_equal(big + r.consumed, "RSET\r\n");
	assert_reply(smtp_data_reject_reply(&r.d), "552 5.3.4");
	buf_free(&r.out);

	/* NULL output discards but still tracks. */
	{
		struct smtp_data d;

		smtp_data_init(&d, 0);
		assert_int_equal(smtp_data_feed(&d, big, strlen(big), NULL), strlen(big) - 6);
		assert_true(d.done);
		assert_int_equal(d.size, 24);
	}
}

static void
test_data_received(void **state)
{
	struct buf in;
	struct data_result r;
	int i;

	buf_init(&in);
	for (i = 0; i < SMTP_DATA_MAX_RECEIVED; i++)
		buf_printf(&in, "Received: from h%d by x; Mon, 1 Jan 2024 00:00:00 +0000\r\n", i);
	buf_puts(&in, "X-Received: not counted\r\nReceived-SPF: pass\r\n");
	buf_puts(&in, "Subject: loop\r\n\r\nReceived: in the body\r\n.\r\n");
	data_all(in.data, in.len, 0, &r);
	assert_int_equal(r.d.received, SMTP_DATA_MAX_RECEIVED);
	assert_null(smtp_data_reject_reply(&r.d));
	buf_free(&r.out);

	buf_reset(&in);
	for (i = 0; i < SMTP_DATA_MAX_RECEIVED; i++)
		buf_printf(&in, "%s: from h%d\r\n\tby x; date\r\n",
			i % 3 == 0 ? "RECEIVED" : i % 3 == 1 ? "received" : "Received \t", i);
	buf_puts(&in, "Received:x\r\n\r\nbody\r\n.\r\n");
	data_all(in.data, in.len, 0, &r);
	assert_int_equal(r.d.received, SMTP_DATA_MAX_RECEIVED + 1);
	assert_reply(smtp_data_reject_reply(&r.d), "554 5.4.6");
	buf_free(&r.out);

	/* Dot-stuffed header lines count after unstuffing; "Receivedx:" not. */
	data_all("..Received: a\r\nReceivedx: b\r\n.\r\n", 32, 0, &r);
	assert_int_equal(r.d.received, 0);
	buf_free(&r.out);
	data_all(".Received: a\r\n.\r\n", 17, 0, &r);
	assert_int_equal(r.d.received, 1);
	buf_free(&r.out);
	buf_free(&in);
}

static void
test_data_reject_precedence(void **state)
{
	struct smtp_data d;

	smtp_data_init(&d, 0);
	assert_null(smtp_data_reject_reply(&d));
	d.received = SMTP_DATA_MAX_RECEIVED + 1;
	assert_reply(smtp_data_reject_reply(&d), "554 5.4.6");
	d.too_big = true;
	assert_reply(smtp_data_reject_reply(&d), "552 5.3.4");
	d.bare_lf = true;
	assert_string_equal(smtp_data_reject_reply(&d),
		"550 5.5.2 bare carriage return or linefeed in message, not allowed "
		"(SMTP smuggling)");
}

/* Reference decoder, written the obvious way on a whole string: the end is
 * the first "\r\n.\r\n" in "\r\n" + input; every "." right after a CRLF
 * (or at the start) is removed; bare CR/LF are looked for directly. */
static void
reference(const char *in, size_t n, bool *done, size_t *consumed, struct buf *out,
	bool *bare_cr, bool *bare_lf, bool *eightbit)
{
	struct buf s;
	size_t i, end = n;

	buf_init(&s);
	buf_puts(&s, "\r\n");
	buf_append(&s, in, n);
	*done = false;
	for (i = 0; i + 5 <= s.len; i++) {
		if (memcmp(s.data + i, "\r\n.\r\n", 5) == 0) {
			*done = true;
			end = i;	/* in input offsets: message is in[0 .. i) */
			break;
		}
	}
	*consumed = *done ? end + 3 : n;
	*bare_cr = *bare_lf = *eightbit = false;
	for (i = 0; i < *consumed; i++) {
		if (in[i] == '\r' && (i + 1 >= *consumed || in[i + 1] != '\n'))
			*bare_cr = true;
		if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
			*bare_lf = true;
	}
	/* The message is in[0 .. end) (for done), then unstuffed. */
	if (*done) {
		for (i = 0; i < end; i++) {
			bool bol = i == 0 ? true : (i >= 2 && in[i - 2] == '\r' && in[i - 1] == '\n');

			if ((unsigned char)in[i] >= 0x80)
				*eightbit = true;
			if (bol && in[i] == '.')
				continue;
			buf_putc(out, in[i]);
		}
	}
	buf_free(&s);
}

static void
test_data_random_vs_reference(void **state)
{
	static const char alphabet[] = { 'a', '.', '.', '\r', '\r', '\n', '\n', (char)0xe9, 'R' };
	struct buf in, want;
	int iter;

	buf_init(&in);
	buf_init(&want);
	for (iter = 0; iter < 20000; iter++) {
		size_t len = (size_t)(rng() % 40), i;
		struct data_result r;
		bool done, bcr, blf, e8;
		size_t consumed;

		buf_reset(&in);
		for (i = 0; i < len; i++)
			buf_putc(&in, alphabet[rng() % sizeof(alphabet)]);
		if (rng() % 2)
			buf_puts(&in, "\r\n.\r\nNEXT\r\n");
		buf_reset(&want);
		reference(in.data, in.len, &done, &consumed, &want, &bcr, &blf, &e8);
		data_all(in.data, in.len, 0, &r);
		assert_int_equal(r.d.done, done);
		assert_int_equal(r.consumed, consumed);
		if (done) {
			if (r.out.len != want.len || memcmp(r.out.data, want.data, want.len) != 0)
				fail_msg("iteration %d: output differs from the reference", iter);
			assert_int_equal(r.d.bare_cr, bcr);
			assert_int_equal(r.d.bare_lf, blf);
			assert_int_equal(r.d.eightbit, e8);
			assert_int_equal(r.d.size, want.len);
		}
		buf_free(&r.out);
	}
	buf_free(&in);
	buf_free(&want);
}

/* ---------------------------------------------------- localserve localparts */

static void
test_localserve_fail(void **state)
{
	static const struct {
		const char *lp, *prefix;
		enum smtp_localserve_fail want;
		unsigned code;
	} cases[] = {
		{ "temperror", "", SMTP_LS_CODE, 451 },
		{ "permerror", "", SMTP_LS_CODE, 550 },
		{ "timeout", "", SMTP_LS_TIMEOUT, 0 },
		{ "x400", "", SMTP_LS_CODE, 400 },
		{ "599", "", SMTP_LS_CODE, 599 },
		{ "someone.552", "", SMTP_LS_CODE, 552 },
		{ "userPermError", "", SMTP_LS_CODE, 550 },
		{ "rcpttopermerror", "rcptto", SMTP_LS_CODE, 550 },
		{ "RcptToTempError", "rcptto", SMTP_LS_CODE, 451 },
		{ "rcptto.timeout", "rcptto", SMTP_LS_TIMEOUT, 0 },
		{ "rcptto-x-421", "rcptto", SMTP_LS_CODE, 421 },
		{ "mailfrom554", "mailfrom", SMTP_LS_CODE, 554 },
		/* Ordinary addresses. */
		{ "someone", "", SMTP_LS_NONE, 0 },
		{ "", "", SMTP_LS_NONE, 0 },
		{ "", "rcptto", SMTP_LS_NONE, 0 },
		{ "42", "", SMTP_LS_NONE, 0 },
		{ "x399", "", SMTP_LS_NONE, 0 },
		{ "x600", "", SMTP_LS_NONE, 0 },
		{ "x699", "", SMTP_LS_NONE, 0 },
		{ "x4a0", "", SMTP_LS_NONE, 0 },
		{ "x45", "", SMTP_LS_NONE, 0 },
		{ "permerrors", "", SMTP_LS_NONE, 0 },
		{ "timeouts", "", SMTP_LS_NONE, 0 },
		/* The prefix must be there, and the suffix after it. */
		{ "permerror", "rcptto", SMTP_LS_NONE, 0 },
		{ "xrcpttopermerror", "rcptto", SMTP_LS_NONE, 0 },
		{ "mailfrompermerror", "rcptto", SMTP_LS_NONE, 0 },
		{ "rcptto", "rcptto", SMTP_LS_NONE, 0 },
		{ "rcptt", "rcptto", SMTP_LS_NONE, 0 },
		{ "rcpttimeout", "rcptto", SMTP_LS_NONE, 0 },
		{ "mailfrom55", "mailfrom", SMTP_LS_NONE, 0 },
		/* UTF-8 and quoted-string content is just bytes. */
		{ "caf\xc3\xa9permerror", "", SMTP_LS_CODE, 550 },
		{ "a b 451", "", SMTP_LS_CODE, 451 },
		{ "\xff\xfe\xfd", "", SMTP_LS_NONE, 0 },
	};
	size_t i;

	for (i = 0; i < MS_NELEM(cases); i++) {
		unsigned code = 12345;
		enum smtp_localserve_fail f = smtp_localserve_fail(cases[i].lp, cases[i].prefix, &code);

		if (f != cases[i].want || code != cases[i].code)
			fail_msg("\"%s\" prefix \"%s\": got %d code %u, want %d code %u",
				cases[i].lp, cases[i].prefix, (int)f, code, (int)cases[i].want,
				cases[i].code);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_verbs),
		cmocka_unit_test(test_line_bad),
		cmocka_unit_test(test_line_long),
		cmocka_unit_test(test_noargs),
		cmocka_unit_test(test_helo),
		cmocka_unit_test(test_mail_ok),
		cmocka_unit_test(test_mail_bad),
		cmocka_unit_test(test_mail_extension_params),
		cmocka_unit_test(test_rcpt_ok),
		cmocka_unit_test(test_rcpt_bad),
		cmocka_unit_test(test_data_basic),
		cmocka_unit_test(test_data_unstuff),
		cmocka_unit_test(test_data_no_end),
		cmocka_unit_test(test_data_smuggling),
		cmocka_unit_test(test_data_bare_lf_first),
		cmocka_unit_test(test_data_8bit_and_size),
		cmocka_unit_test(test_data_received),
		cmocka_unit_test(test_data_reject_precedence),
		cmocka_unit_test(test_data_random_vs_reference),
		cmocka_unit_test(test_localserve_fail),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
