/* Tests of the SMTP client's parsers (daemons/queued/smtpc_parse.c):
 * replies (RFC 5321 4.2) fed whole and one byte at a time, enhanced
 * status codes (RFC 3463, RFC 2034) cut from the text of every line,
 * malformed and oversized replies, the EHLO extension list, and the error
 * text format. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/util.h"
#include "queued/smtpclient.h"

/* Parse s whole; the result code, with r filled. */
static int
parse(const char *s, size_t n, struct smtpc_reply *r, size_t *used, const char **error)
{
	*used = 0;
	*error = NULL;
	return smtpc_reply_parse(s, n, r, used, error);
}

/* Every proper prefix of a complete reply needs more input; the whole
 * parses with all bytes used. */
static void
check_prefixes(const char *s)
{
	struct smtpc_reply r;
	size_t n = strlen(s), i, used;
	const char *error;

	smtpc_reply_init(&r);
	for (i = 0; i < n; i++) {
		int rc = parse(s, i, &r, &used, &error);

		if (rc != 0)
			fail_msg("prefix of %zu bytes of \"%s\": %d (%s)", i, s, rc,
				error ? error : "");
	}
	assert_int_equal(parse(s, n, &r, &used, &error), 1);
	assert_int_equal(used, n);
	smtpc_reply_free(&r);
}

static void
test_reply_single(void **state)
{
	struct smtpc_reply r;
	size_t used;
	const char *error;

	(void)state;
	smtpc_reply_init(&r);
	assert_int_equal(parse("250 ok\r\n", 8, &r, &used, &error), 1);
	assert_int_equal(r.code, 250);
	assert_string_equal(r.secode, "");
	assert_string_equal(r.text.data, "ok");
	assert_int_equal(used, 8);
	/* A code alone, and a bare LF. */
	assert_int_equal(parse("354 go on\n", 10, &r, &used, &error), 1);
	assert_int_equal(r.code, 354);
	assert_int_equal(parse("221\r\n", 5, &r, &used, &error), 1);
	assert_int_equal(r.code, 221);
	assert_string_equal(r.text.data, "");
	assert_int_equal(parse("220 mx ESMTP\n", 13, &r, &used, &error), 1);
	assert_string_equal(r.text.data, "mx ESMTP");
	/* Only the first reply is consumed. */
	assert_int_equal(parse("250 a\r\n251 b\r\n", 14, &r, &used, &error), 1);
	assert_int_equal(used, 7);
	assert_string_equal(r.text.data, "a");
	smtpc_reply_free(&r);
	check_prefixes("250 ok\r\n");
	check_prefixes("250-mx.example greets you\r\n250-PIPELINING\r\n250 SIZE 100\r\n");
}

static void
test_reply_multiline(void **state)
{
	struct smtpc_reply r;
	size_t used;
	const char *error;
	const char *s = "250-first\r\n250-\r\n250 last\r\n";

	(void)state;
	smtpc_reply_init(&r);
	assert_int_equal(parse(s, strlen(s), &r, &used, &error), 1);
	assert_int_equal(r.code, 250);
	assert_string_equal(r.text.data, "first\n\nlast");
	assert_int_equal(used, strlen(s));
	/* Not finished without the last line. */
	assert_int_equal(parse("250-first\r\n250-more\r\n", 21, &r, &used, &error), 0);
	smtpc_reply_free(&r);
}

static void
test_reply_enhanced_codes(void **state)
{
	struct smtpc_reply r;
	size_t used;
	const char *error;
	const char *ml = "550-5.1.1 no such user here,\r\n550 5.1.1 check the address\r\n";

	(void)state;
	smtpc_reply_init(&r);
	assert_int_equal(parse("550 5.1.1 no such user\r\n", 24, &r, &used, &error), 1);
	assert_string_equal(r.secode, "5.1.1");
	assert_string_equal(r.text.data, "no such user");
	/* RFC 2034: on every line; cut from each. */
	assert_int_equal(parse(ml, strlen(ml), &r, &used, &error), 1);
	assert_string_equal(r.secode, "5.1.1");
	assert_string_equal(r.text.data, "no such user here,\ncheck the address");
	/* Three-digit parts. */
	assert_int_equal(parse("451 4.123.456 x\r\n", 17, &r, &used, &error), 1);
	assert_string_equal(r.secode, "4.123.456");
	assert_string_equal(r.text.data, "x");
	/* The code alone. */
	assert_int_equal(parse("250 2.0.0\r\n", 11, &r, &used, &error), 1);
	assert_string_equal(r.secode, "2.0.0");
	assert_string_equal(r.text.data, "");
	/* Class not matching the reply: text, not an enhanced code. */
	assert_int_equal(parse("550 2.1.1 odd\r\n", 15, &r, &used, &error), 1);
	assert_string_equal(r.secode, "");
	assert_string_equal(r.text.data, "2.1.1 odd");
	/* Malformed codes stay text. */
	static const char *const notcodes[] = {
		"550 5.1 x\r\n", "550 5.1.1234 x\r\n", "550 5..1 x\r\n", "550 5.1.1.1 x\r\n",
		"550 5.1.x y\r\n", "550 .1.1 x\r\n", "550 5.1.1x y\r\n",
	};
	for (size_t i = 0; i < MS_NELEM(notcodes); i++) {
		assert_int_equal(parse(notcodes[i], strlen(notcodes[i]), &r, &used, &error), 1);
		if (r.secode[0] != '\0')
			fail_msg("\"%s\" gave enhanced code %s", notcodes[i], r.secode);
		assert_int_equal(r.text.len, strlen(notcodes[i]) - 6);
	}
	/* 3xx replies carry no enhanced code: a 334 challenge stays whole. */
	assert_int_equal(parse("334 5.1.1\r\n", 11, &r, &used, &error), 1);
	assert_string_equal(r.secode, "");
	assert_string_equal(r.text.data, "5.1.1");
	smtpc_reply_free(&r);
}

static void
test_reply_malformed(void **state)
{
	static const char *const bad[] = {
		"25 ok\r\n",		/* two digits */
		"abc ok\r\n",
		"250x ok\r\n",		/* separator */
		"650 ok\r\n",		/* no such class */
		"150 ok\r\n",
		"050 ok\r\n",
		"\r\n",
		" 250 ok\r\n",
		"250-a\r\n251 b\r\n",	/* code changes */
		"250-a\r\n25\r\n",
		"250-a\r\nxyz\r\n",
	};
	struct smtpc_reply r;
	size_t used, i;
	const char *error;
	char *big;

	(void)state;
	smtpc_reply_init(&r);
	for (i = 0; i < MS_NELEM(bad); i++) {
		if (parse(bad[i], strlen(bad[i]), &r, &used, &error) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_non_null(error);
	}
	/* NUL bytes in the text are carried, not trusted as an end. */
	assert_int_equal(parse("250 a\0b\r\n", 9, &r, &used, &error), 1);
	assert_int_equal(r.text.len, 3);

	/* A line longer than SMTPC_MAX_LINE, complete or not. */
	big = malloc(SMTPC_MAX_REPLY + 16);
	assert_non_null(big);
	memset(big, 'a', SMTPC_MAX_REPLY + 16);
	memcpy(big, "250 ", 4);
	assert_int_equal(parse(big, SMTPC_MAX_LINE + 10, &r, &used, &error), -1);
	big[SMTPC_MAX_LINE + 10] = '\n';
	assert_int_equal(parse(big, SMTPC_MAX_LINE + 11, &r, &used, &error), -1);
	/* Many short lines beyond SMTPC_MAX_REPLY in total. */
	for (i = 0; i + 8 <= SMTPC_MAX_REPLY + 8; i += 8)
		memcpy(big + i, "250-abc\n", 8);
	assert_int_equal(parse(big, i, &r, &used, &error), -1);
	free(big);
	smtpc_reply_free(&r);
}

static void
test_secode_valid(void **state)
{
	(void)state;
	assert_true(smtpc_secode_valid("5.1.1", 5));
	assert_true(smtpc_secode_valid("2.0.0", 5));
	assert_true(smtpc_secode_valid("4.999.999", 9));
	assert_false(smtpc_secode_valid("3.1.1", 5));
	assert_false(smtpc_secode_valid("5.1", 3));
	assert_false(smtpc_secode_valid("5.1.", 4));
	assert_false(smtpc_secode_valid("5.1.1.", 6));
	assert_false(smtpc_secode_valid("5.1000.1", 8));
	assert_false(smtpc_secode_valid("5.1.1000", 8));
	assert_false(smtpc_secode_valid("51.1.1", 6));
	assert_false(smtpc_secode_valid("", 0));
	/* n bounds the check, not a NUL. */
	assert_true(smtpc_secode_valid("5.1.1 rest", 5));
	assert_false(smtpc_secode_valid("5.1.1 rest", 6));
}

static void
test_ehlo(void **state)
{
	struct smtpc_ext e;
	const char *t = "mx.example greets PIPELINING\nPIPELINING\n8bitmime\nSMTPUTF8\n"
		"STARTTLS\nREQUIRETLS\nENHANCEDSTATUSCODES\nDSN\nCHUNKING\nSIZE 35882577\n"
		"AUTH PLAIN login\nAUTH=CRAM-MD5\nX-UNKNOWN foo";

	(void)state;
	smtpc_ehlo_parse(t, strlen(t), &e);
	assert_true(e.pipelining && e.eightbitmime && e.smtputf8 && e.starttls && e.requiretls);
	assert_true(e.enhancedstatuscodes && e.dsn && e.chunking && e.has_size);
	assert_int_equal(e.size, 35882577);
	assert_string_equal(e.auth, "PLAIN LOGIN CRAM-MD5");

	/* The greeting line is not a keyword; prefixes are not keywords. */
	t = "PIPELINING STARTTLS\nPIPELININGX\nSTARTTLSX\nSIZEX 10";
	smtpc_ehlo_parse(t, strlen(t), &e);
	assert_false(e.pipelining || e.starttls || e.has_size);
	assert_string_equal(e.auth, "");

	/* SIZE without a limit, with garbage, with an absurd number. */
	t = "mx\nSIZE";
	smtpc_ehlo_parse(t, strlen(t), &e);
	assert_true(e.has_size);
	assert_int_equal(e.size, 0);
	t = "mx\nSIZE abc";
	smtpc_ehlo_parse(t, strlen(t), &e);
	assert_true(e.has_size);
	assert_int_equal(e.size, 0);
	t = "mx\nSIZE 99999999999999999999999";
	smtpc_ehlo_parse(t, strlen(t), &e);
	assert_int_equal(e.size, 0);

	/* CRs and empty lines; a tab is no separator (RFC 5321 4.1.1.1:
	 * ehlo-keyword *( SP ehlo-param )). */
	t = "mx\r\nSTARTTLS\r\n\r\nAUTH\tPLAIN\r\nAUTH LOGIN\r\n";
	smtpc_ehlo_parse(t, strlen(t), &e);
	assert_true(e.starttls);
	assert_string_equal(e.auth, "LOGIN");

	/* AUTH words that are no mechanism names (RFC 4422 3.1) are left
	 * out; runs of spaces are one separator. */
	t = "mx\nAUTH  PLAIN\001 x-oauth2  LOGIN \nAUTH A_VERY_LONG_MECHANISM_NAME_XYZ\nAUTH ";
	smtpc_ehlo_parse(t, strlen(t), &e);
	assert_string_equal(e.auth, "X-OAUTH2 LOGIN");

	/* Empty input and a greeting alone. */
	smtpc_ehlo_parse("", 0, &e);
	assert_false(e.pipelining);
	smtpc_ehlo_parse("mx", 2, &e);
	assert_false(e.has_size);
}

static void
test_ehlo_auth_bounded(void **state)
{
	struct smtpc_ext e;
	struct buf t;
	int i;

	(void)state;
	buf_init(&t);
	buf_puts(&t, "mx");
	for (i = 0; i < 200; i++)
		buf_printf(&t, "\nAUTH MECHANISM-NUMBER-%d", i);
	smtpc_ehlo_parse(t.data, t.len, &e);
	assert_true(strlen(e.auth) < sizeof(e.auth));
	assert_true(strncmp(e.auth, "MECHANISM-NUMBER-0 MECHANISM-NUMBER-1 ", 38) == 0);
	/* No trailing separator. */
	assert_true(e.auth[strlen(e.auth) - 1] != ' ');
	buf_free(&t);
}

static void
test_reply_format(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b);
	smtpc_reply_format(&b, 550, "5.1.1", "no such user");
	assert_string_equal(b.data, "550 5.1.1 no such user");
	buf_reset(&b);
	smtpc_reply_format(&b, 451, "", "first\nsecond");
	assert_string_equal(b.data, "451 first second");
	buf_reset(&b);
	smtpc_reply_format(&b, 250, "2.0.0", "");
	assert_string_equal(b.data, "250 2.0.0");
	buf_reset(&b);
	smtpc_reply_format(&b, 0, NULL, "connection lost");
	assert_string_equal(b.data, "connection lost");
	/* Appends to what is there. */
	buf_reset(&b);
	buf_puts(&b, "rcpt: ");
	smtpc_reply_format(&b, 452, "4.5.3", "too many");
	assert_string_equal(b.data, "rcpt: 452 4.5.3 too many");
	buf_free(&b);
}

/* A reply parsed from the wire and formatted: the enhanced code once. */
static void
test_reply_parse_then_format(void **state)
{
	struct smtpc_reply r;
	struct buf b;
	size_t used;
	const char *error;
	const char *s = "550-5.1.1 The email account that you tried to reach does not exist.\r\n"
		"550 5.1.1 Please try double-checking the address.\r\n";

	(void)state;
	smtpc_reply_init(&r);
	buf_init(&b);
	assert_int_equal(parse(s, strlen(s), &r, &used, &error), 1);
	smtpc_reply_format(&b, r.code, r.secode, r.text.data);
	assert_string_equal(b.data, "550 5.1.1 The email account that you tried to reach does not "
		"exist. Please try double-checking the address.");
	buf_free(&b);
	smtpc_reply_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_single),
		cmocka_unit_test(test_reply_multiline),
		cmocka_unit_test(test_reply_enhanced_codes),
		cmocka_unit_test(test_reply_malformed),
		cmocka_unit_test(test_secode_valid),
		cmocka_unit_test(test_ehlo),
		cmocka_unit_test(test_ehlo_auth_bounded),
		cmocka_unit_test(test_reply_format),
		cmocka_unit_test(test_reply_parse_then_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
