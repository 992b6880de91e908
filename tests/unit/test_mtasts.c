/* Unit tests for lib/mailauth/mtasts.c: the _mta-sts TXT record and policy
 * file parsers (valid, malformed, limits) and MX host matching
 * (RFC 8461 sections 3.1, 3.2, 4.1). */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/util.h"
#include "mailauth/mtasts.h"

static int
rec(const char *s, struct mtasts_record *r)
{
	const char *err = NULL;
	int rc = mtasts_record_parse(s, strlen(s), r, &err);

	if (rc < 0)
		assert_non_null(err);
	return rc;
}

static void
test_record_valid(void **state)
{
	struct mtasts_record r;

	(void)state;
	/* RFC 8461 section 3.1's example. */
	assert_int_equal(rec("v=STSv1; id=20160831085700Z;", &r), 0);
	assert_string_equal(r.id, "20160831085700Z");
	assert_int_equal(rec("v=STSv1;id=abc", &r), 0);
	assert_string_equal(r.id, "abc");
	assert_int_equal(rec("v=STSv1 ;\tid=X1 ; ", &r), 0);
	assert_string_equal(r.id, "X1");
	/* Extensions are ignored, before or after id. */
	assert_int_equal(rec("v=STSv1; ext-1=foo; id=a; x.y_z=bar:baz", &r), 0);
	assert_string_equal(r.id, "a");
	/* 32 characters is the longest id. */
	assert_int_equal(rec("v=STSv1; id=01234567890123456789012345678901", &r), 0);
	assert_int_equal(strlen(r.id), 32);
}

static void
test_record_not_sts(void **state)
{
	struct mtasts_record r;

	(void)state;
	/* Other TXT records at the name are skipped, not errors. */
	assert_int_equal(rec("v=spf1 -all", &r), 1);
	assert_int_equal(rec("", &r), 1);
	assert_int_equal(rec("v=STSv", &r), 1);
	assert_int_equal(rec("v=stsv1; id=a", &r), 1);	/* %s: case-sensitive */
	assert_int_equal(rec(" v=STSv1; id=a", &r), 1);
	assert_int_equal(rec("v=STSv10; id=a", &r), 1);
}

static void
test_record_malformed(void **state)
{
	static const char *const bad[] = {
		"v=STSv1",				/* no id */
		"v=STSv1;",
		"v=STSv1; id=",				/* empty id */
		"v=STSv1; id=abc-def",			/* id is ALPHA / DIGIT */
		"v=STSv1; id=012345678901234567890123456789012", /* 33 */
		"v=STSv1; id=a; id=b",			/* duplicate */
		"v=STSv1 id=a",				/* no delimiter */
		"v=STSv1; id = a",			/* spaces around = */
		"v=STSv1; =a",
		"v=STSv1; -x=a; id=a",			/* name starts with alnum */
		"v=STSv1; id=a; ext=",			/* empty extension value */
		"v=STSv1; id=a; ext=a=b",		/* '=' not in a value */
		"v=STSv1; id=a;; ",
		"v=STSv1; aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=1; id=a", /* 33-char name */
	};
	struct mtasts_record r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (rec(bad[i], &r) != -1)
			fail_msg("accepted: %s", bad[i]);
	}
	/* A NUL in the text ends nothing: it is an invalid character. */
	{
		const char s[] = "v=STSv1; id=a\0b";
		const char *err = NULL;

		assert_int_equal(mtasts_record_parse(s, sizeof(s) - 1, &r, &err), -1);
	}
}

static int
pol(const char *s, struct mtasts_policy *p, const char **err)
{
	*err = NULL;
	return mtasts_policy_parse(s, strlen(s), p, err);
}

static void
test_policy_valid(void **state)
{
	struct mtasts_policy p;
	const char *err;

	(void)state;
	/* RFC 8461 section 3.2's example. */
	assert_int_equal(pol("version: STSv1\nmode: enforce\nmx: mail.example.com\n"
		"mx: *.example.net\nmx: backupmx.example.com\nmax_age: 604800\n", &p, &err), 0);
	assert_int_equal(p.mode, MTASTS_MODE_ENFORCE);
	assert_int_equal(p.max_age, 604800);
	assert_int_equal(p.nmx, 3);
	assert_string_equal(p.mx[0], "mail.example.com");
	assert_string_equal(p.mx[1], "*.example.net");
	mtasts_policy_free(&p);
	assert_null(p.mx);

	/* CRLF, no final newline, fields in another order, extensions,
	 * upper-case mx stored in lower case, whitespace after the colon and
	 * at the end of a line. */
	assert_int_equal(pol("mode:testing\r\nfoo_bar-1.x: anything at all\r\nversion: STSv1\r\n"
		"max_age:\t86400  \r\nMX: x\r\nmx: MX.Example.ORG", &p, &err), 0);
	assert_int_equal(p.mode, MTASTS_MODE_TESTING);
	assert_int_equal(p.max_age, 86400);
	assert_int_equal(p.nmx, 1);
	assert_string_equal(p.mx[0], "mx.example.org");
	mtasts_policy_free(&p);

	/* Mode none needs no mx; max_age above the maximum is clamped; of
	 * repeated fields the first counts. */
	assert_int_equal(pol("version: STSv1\nmode: none\nmode: enforce\nmax_age: 9999999999\n"
		"max_age: 5\n", &p, &err), 0);
	assert_int_equal(p.mode, MTASTS_MODE_NONE);
	assert_int_equal(p.max_age, MTASTS_MAX_AGE);
	assert_int_equal(p.nmx, 0);
	mtasts_policy_free(&p);
}

static void
test_policy_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"mode: enforce\nmx: a.example\nmax_age: 1\n",			/* no version */
		"version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n",
		"version: stsv1\nmode: enforce\nmx: a.example\nmax_age: 1\n",
		"version: STSv1\nmx: a.example\nmax_age: 1\n",			/* no mode */
		"version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 1\n",
		"version: STSv1\nmode: enforcing\nmx: a.example\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a.example\n",		/* no max_age */
		"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n",
		"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1d\n",
		"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 12345678901\n", /* 11 digits */
		"version: STSv1\nmode: enforce\nmax_age: 1\n",			/* enforce, no mx */
		"version: STSv1\nmode: testing\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: *.*.example\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: mx*.example\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: *example.org\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: *.\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a..example\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: -a.example\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a-.example\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a.example.\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a_b.example\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a example\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: b\xc3\xa4r.example\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx:\nmax_age: 1\n",		/* empty value */
		"version STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\n",	/* no colon */
		"version: STSv1\nmode: enforce\n mx: a.example\nmax_age: 1\n",	/* leading space */
		"version: STSv1\rmode: enforce\rmx: a.example\rmax_age: 1\r",	/* bare CR */
		"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\nx: a\x01b\n",
		"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\n<html>\n",
	};
	struct mtasts_policy p;
	const char *err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (pol(bad[i], &p, &err) != -1)
			fail_msg("accepted #%zu: %s", i, bad[i]);
		assert_non_null(err);
		assert_null(p.mx);
	}
}

static void
test_policy_limits(void **state)
{
	const char head[] = "version: STSv1\nmode: enforce\nmax_age: 1\n";
	struct mtasts_policy p;
	const char *err = NULL;
	struct buf b;
	int i;

	(void)state;
	buf_init(&b);
	/* 100 mx lines are fine, 101 are too many. */
	buf_puts(&b, head);
	for (i = 0; i < MTASTS_MAX_MX; i++)
		buf_printf(&b, "mx: mx%d.example\n", i);
	assert_int_equal(mtasts_policy_parse(b.data, b.len, &p, &err), 0);
	assert_int_equal(p.nmx, MTASTS_MAX_MX);
	mtasts_policy_free(&p);
	buf_puts(&b, "mx: one-more.example\n");
	assert_int_equal(mtasts_policy_parse(b.data, b.len, &p, &err), -1);
	assert_non_null(strstr(err, "mx"));

	/* A line longer than 1000 bytes. */
	buf_reset(&b);
	buf_puts(&b, head);
	buf_puts(&b, "mx: a.example\next: ");
	for (i = 0; i < 1000; i++)
		buf_putc(&b, 'x');
	buf_putc(&b, '\n');
	assert_int_equal(mtasts_policy_parse(b.data, b.len, &p, &err), -1);
	assert_non_null(strstr(err, "longer"));

	/* A body over 64 KiB, even of valid lines. */
	buf_reset(&b);
	buf_puts(&b, head);
	buf_puts(&b, "mx: a.example\n");
	while (b.len <= MTASTS_MAX_POLICY)
		buf_puts(&b, "ext: some extension value that is ignored\n");
	assert_int_equal(mtasts_policy_parse(b.data, b.len, &p, &err), -1);
	assert_non_null(strstr(err, "64 KiB"));

	/* A NUL byte anywhere. */
	buf_reset(&b);
	buf_puts(&b, head);
	buf_append(&b, "mx: a.example\n\0", 15);
	assert_int_equal(mtasts_policy_parse(b.data, b.len, &p, &err), -1);
	assert_non_null(strstr(err, "NUL"));

	/* A label over 63 characters, and a name over 253. */
	buf_reset(&b);
	buf_puts(&b, head);
	buf_puts(&b, "mx: ");
	for (i = 0; i < 64; i++)
		buf_putc(&b, 'a');
	buf_puts(&b, ".example\n");
	assert_int_equal(mtasts_policy_parse(b.data, b.len, &p, &err), -1);
	buf_reset(&b);
	for (i = 0; i < 50; i++)
		buf_puts(&b, "abcd.");
	buf_puts(&b, "example");
	assert_false(mtasts_mx_pattern_valid(b.data, b.len));
	assert_true(mtasts_mx_pattern_valid(b.data, 253));
	buf_free(&b);
}

/* Every prefix of a valid policy parses or fails cleanly, and only the
 * ones holding all required fields succeed. */
static void
test_policy_prefixes(void **state)
{
	const char s[] = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n"
		"max_age: 604800\r\n";
	const size_t complete = strlen("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n"
		"max_age: 6");
	struct mtasts_policy p;
	const char *err;
	size_t n;

	(void)state;
	for (n = 0; n <= sizeof(s) - 1; n++) {
		char *copy = xstrndup(s, n);	/* exactly n bytes for ASan */
		int rc = mtasts_policy_parse(copy, n, &p, &err);

		free(copy);
		if (n >= complete)
			assert_int_equal(rc, 0);
		else if (rc == 0)
			fail_msg("prefix of %zu bytes accepted", n);
		mtasts_policy_free(&p);
	}
}

static void
test_matching(void **state)
{
	struct mtasts_policy p;
	const char *err;

	(void)state;
	assert_int_equal(pol("version: STSv1\nmode: enforce\nmx: mail.example.com\n"
		"mx: *.example.net\nmax_age: 1\n", &p, &err), 0);
	assert_true(mtasts_policy_matches(&p, "mail.example.com"));
	assert_true(mtasts_policy_matches(&p, "MAIL.Example.COM"));
	assert_true(mtasts_policy_matches(&p, "mail.example.com."));
	assert_false(mtasts_policy_matches(&p, "mail.example.com.evil"));
	assert_false(mtasts_policy_matches(&p, "xmail.example.com"));
	assert_false(mtasts_policy_matches(&p, "example.com"));
	/* The wildcard covers exactly one leftmost label (section 4.1). */
	assert_true(mtasts_policy_matches(&p, "mx1.example.net"));
	assert_true(mtasts_policy_matches(&p, "MX1.EXAMPLE.NET."));
	assert_false(mtasts_policy_matches(&p, "example.net"));
	assert_false(mtasts_policy_matches(&p, ".example.net"));
	assert_false(mtasts_policy_matches(&p, "a.b.example.net"));
	assert_false(mtasts_policy_matches(&p, "mx1.example.network"));
	assert_false(mtasts_policy_matches(&p, "mx1xexample.net"));
	assert_false(mtasts_policy_matches(&p, ""));
	assert_false(mtasts_policy_matches(&p, "."));
	mtasts_policy_free(&p);

	/* A mode-none policy without mx matches nothing. */
	assert_int_equal(pol("version: STSv1\nmode: none\nmax_age: 1\n", &p, &err), 0);
	assert_false(mtasts_policy_matches(&p, "mail.example.com"));
	mtasts_policy_free(&p);
}

static void
test_mode_names(void **state)
{
	enum mtasts_mode m;

	(void)state;
	assert_int_equal(mtasts_mode_parse("enforce", &m), 0);
	assert_int_equal(m, MTASTS_MODE_ENFORCE);
	assert_string_equal(mtasts_mode_name(m), "enforce");
	assert_int_equal(mtasts_mode_parse("testing", &m), 0);
	assert_string_equal(mtasts_mode_name(m), "testing");
	assert_int_equal(mtasts_mode_parse("none", &m), 0);
	assert_string_equal(mtasts_mode_name(m), "none");
	assert_int_equal(mtasts_mode_parse("ENFORCE", &m), -1);
	assert_int_equal(mtasts_mode_parse("", &m), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_valid),
		cmocka_unit_test(test_record_not_sts),
		cmocka_unit_test(test_record_malformed),
		cmocka_unit_test(test_policy_valid),
		cmocka_unit_test(test_policy_malformed),
		cmocka_unit_test(test_policy_limits),
		cmocka_unit_test(test_policy_prefixes),
		cmocka_unit_test(test_matching),
		cmocka_unit_test(test_mode_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
