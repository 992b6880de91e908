/* lib/mailauth/dmarc and authres: DMARC record parsing (RFC 7489 6.3/6.4),
 * organizational domains and identifier alignment, policy discovery and
 * evaluation (6.6), iprev (RFC 8601 3) and the Authentication-Results
 * header field, against a zone file (DNS test mode). */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "mailauth/authres.h"
#include "mailauth/dkim.h"
#include "mailauth/dmarc.h"
#include "mailauth/spf.h"
#include "net/dns.h"
#include "test_zone.h"

static char zone_path[] = "/tmp/test_dmarc_zoneXXXXXX";
/* PTR names per address in the "too many names" part of the zone. */
#define MANY 11
static struct dns *d;

static const char zone[] =
	/* Policy discovery */
	"_dmarc.example.com. IN TXT \"v=DMARC1; p=reject; sp=quarantine; "
	"rua=mailto:dmarc@example.com\"\n"
	"_dmarc.own.example.com. IN TXT \"v=DMARC1; p=none\"\n"
	"_dmarc.multi.example.com. IN TXT \"v=DMARC1; p=none\"\n"
	"_dmarc.multi.example.com. IN TXT \"v=DMARC1; p=quarantine\"\n"
	"_dmarc.bad.example.com. IN TXT \"v=DMARC1; p=bogus\"\n"
	"_dmarc.strict.example. IN TXT \"v=DMARC1; p=reject; adkim=s; aspf=s\"\n"
	"_dmarc.multi.example. IN TXT \"v=DMARC1; p=reject\"\n"
	"_dmarc.multi.example. IN TXT \"v=DMARC1; p=none\"\n"
	"_dmarc.mixed.example. IN TXT \"google-site-verification=abc\"\n"
	"_dmarc.mixed.example. IN TXT \"v=DMARC1; p=quarantine\"\n"
	"_dmarc.mixed.example. IN TXT \"v=spf1 -all\"\n"
	"_dmarc.notdmarc.example. IN TXT \"v=DMARC10; p=reject\"\n"
	"_dmarc.notdmarc.example. IN TXT \"v=spf1 -all\"\n"
	"_dmarc.invalid.example. IN TXT \"v=DMARC1; p=bogus\"\n"
	"_dmarc.pct.example. IN TXT \"v=DMARC1; p=reject; pct=50\"\n"
	"_dmarc.pctq.example. IN TXT \"v=DMARC1; p=quarantine; pct=50\"\n"
	"_dmarc.pct0.example. IN TXT \"v=DMARC1; p=reject; pct=0\"\n"
	"_dmarc.example.co.uk. IN TXT \"v=DMARC1; p=reject; sp=none\"\n"
	"$SERVFAIL _dmarc.broken.example\n"
	"$SERVFAIL _dmarc.broken2.example\n"
	"$AUTHENTIC yes\n"
	"_dmarc.secure.example. IN TXT \"v=DMARC1; p=reject\"\n"
	"$AUTHENTIC no\n"
	/* iprev */
	"1.2.0.192.in-addr.arpa. IN PTR mail.example.net.\n"
	"mail.example.net. IN A 192.0.2.1\n"
	"3.2.0.192.in-addr.arpa. IN PTR elsewhere.example.net.\n"
	"elsewhere.example.net. IN A 192.0.2.99\n"
	"4.2.0.192.in-addr.arpa. IN PTR sf.example.net.\n"
	"$SERVFAIL sf.example.net\n"
	"$SERVFAIL 5.2.0.192.in-addr.arpa\n"
	"6.2.0.192.in-addr.arpa. IN PTR sf.example.net.\n"
	"6.2.0.192.in-addr.arpa. IN PTR six.example.net.\n"
	"six.example.net. IN A 192.0.2.6\n"
	"7.2.0.192.in-addr.arpa. IN PTR sf.example.net.\n"
	"7.2.0.192.in-addr.arpa. IN PTR elsewhere.example.net.\n"
	"8.2.0.192.in-addr.arpa. IN PTR nothere.example.net.\n"
	"10.2.0.192.in-addr.arpa. IN PTR x\\)\\;dkim=pass.evil.example.\n"
	"x\\)\\;dkim=pass.evil.example. IN A 192.0.2.10\n"
	/* Ten names, the tenth resolves back: tried. */
	"12.2.0.192.in-addr.arpa. IN PTR m01.many.example.net.\n"
	"12.2.0.192.in-addr.arpa. IN PTR m02.many.example.net.\n"
	"12.2.0.192.in-addr.arpa. IN PTR m03.many.example.net.\n"
	"12.2.0.192.in-addr.arpa. IN PTR m04.many.example.net.\n"
	"12.2.0.192.in-addr.arpa. IN PTR m05.many.example.net.\n"
	"12.2.0.192.in-addr.arpa. IN PTR m06.many.example.net.\n"
	"12.2.0.192.in-addr.arpa. IN PTR m07.many.example.net.\n"
	"12.2.0.192.in-addr.arpa. IN PTR m08.many.example.net.\n"
	"12.2.0.192.in-addr.arpa. IN PTR m09.many.example.net.\n"
	"12.2.0.192.in-addr.arpa. IN PTR m10.many.example.net.\n"
	"m10.many.example.net. IN A 192.0.2.12\n"
	/* 2001:db8::25 and 2001:db8::26 */
	"5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. IN PTR "
	"v6.example.net.\n"
	"v6.example.net. IN AAAA 2001:db8:0:0:0:0:0:25\n"
	"v6.example.net. IN A 192.0.2.25\n"
	"6.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. IN PTR "
	"v4only.example.net.\n"
	"v4only.example.net. IN A 192.0.2.26\n"
	"$AUTHENTIC yes\n"
	"9.2.0.192.in-addr.arpa. IN PTR secure.example.net.\n"
	"secure.example.net. IN A 192.0.2.9\n"
	"$AUTHENTIC no\n";

static int
setup(void **state)
{
	struct buf z;
	unsigned i, k;

	(void)state;
	/* 192.0.2.101 to .111 each have the same eleven PTR names n01 to
	 * n11, and nK resolves to 192.0.2.(100+K) only. */
	buf_init(&z);
	buf_append(&z, zone, sizeof(zone) - 1);
	for (i = 1; i <= MANY; i++) {
		for (k = 1; k <= MANY; k++)
			buf_printf(&z, "%u.2.0.192.in-addr.arpa. IN PTR n%02u.many.example.net.\n",
				100 + i, k);
		buf_printf(&z, "n%02u.many.example.net. IN A 192.0.2.%u\n", i, 100 + i);
	}
	d = test_zone_dns(z.data, z.len, zone_path);
	buf_free(&z);
	return d != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	dns_free(&d);
	unlink(zone_path);
	return 0;
}

/* ---- record parsing ---- */

static void
parse_ok(const char *text, struct dmarc_record *r)
{
	const char *err = NULL;

	if (dmarc_record_parse(text, strlen(text), r, &err) != 0)
		fail_msg("\"%s\" rejected: %s", text, err);
}

/* The record must be rejected with an error mentioning want. */
static void
parse_bad_len(const char *text, size_t len, const char *want)
{
	struct dmarc_record r;
	const char *err = NULL;

	if (dmarc_record_parse(text, len, &r, &err) == 0) {
		dmarc_record_free(&r);
		fail_msg("\"%.*s\" accepted", (int)(len > 200 ? 200 : len), text);
	}
	assert_non_null(err);
	if (strstr(err, want) == NULL)
		fail_msg("\"%.*s\": error \"%s\" does not mention \"%s\"",
			(int)(len > 200 ? 200 : len), text, err, want);
	/* A failed parse leaves nothing to free. */
	assert_null(r.rua);
	assert_null(r.ruf);
	assert_null(r.fo);
	assert_null(r.rf);
}

static void
parse_bad(const char *text, const char *want)
{
	parse_bad_len(text, strlen(text), want);
}

static void
test_record_all_tags(void **state)
{
	struct dmarc_record r;

	(void)state;
	parse_ok("v=DMARC1; p=quarantine; sp=reject; adkim=s; aspf=s; pct=25; "
		"rua=mailto:agg@example.com,mailto:agg2@example.net!10m; "
		"ruf=mailto:forensic@example.com; fo=1:d:s; rf=afrf; ri=3600", &r);
	assert_int_equal(r.p, DMARC_POLICY_QUARANTINE);
	assert_true(r.sp_set);
	assert_int_equal(r.sp, DMARC_POLICY_REJECT);
	assert_true(r.adkim_strict);
	assert_true(r.aspf_strict);
	assert_int_equal(r.pct, 25);
	assert_string_equal(r.rua, "mailto:agg@example.com,mailto:agg2@example.net!10m");
	assert_string_equal(r.ruf, "mailto:forensic@example.com");
	assert_string_equal(r.fo, "1:d:s");
	assert_string_equal(r.rf, "afrf");
	assert_int_equal(r.ri, 3600);
	dmarc_record_free(&r);
	assert_null(r.rua);

	/* Defaults (6.3): relaxed alignment, pct 100, ri 86400, no sp. */
	parse_ok("v=DMARC1; p=reject", &r);
	assert_int_equal(r.p, DMARC_POLICY_REJECT);
	assert_false(r.sp_set);
	assert_false(r.adkim_strict);
	assert_false(r.aspf_strict);
	assert_int_equal(r.pct, 100);
	assert_int_equal(r.ri, 86400);
	assert_null(r.rua);
	assert_null(r.ruf);
	assert_null(r.fo);
	assert_null(r.rf);
	dmarc_record_free(&r);

	/* Explicit relaxed values, policy values in any case, boundaries. */
	parse_ok("v=DMARC1; p=None; sp=NONE; adkim=r; aspf=R; pct=0; ri=0", &r);
	assert_int_equal(r.p, DMARC_POLICY_NONE);
	assert_true(r.sp_set);
	assert_int_equal(r.sp, DMARC_POLICY_NONE);
	assert_false(r.adkim_strict);
	assert_false(r.aspf_strict);
	assert_int_equal(r.pct, 0);
	assert_int_equal(r.ri, 0);
	dmarc_record_free(&r);
	parse_ok("v=DMARC1; p=reject; pct=100; ri=4294967295", &r);
	assert_int_equal(r.pct, 100);
	assert_int_equal(r.ri, 4294967295u);
	dmarc_record_free(&r);

	/* Only the given length is read. */
	{
		static const char longer[] = "v=DMARC1; p=quarantine; pct=5";
		const char *err = NULL;

		assert_int_equal(dmarc_record_parse(longer, strlen("v=DMARC1; p=quarantine"), &r,
			&err), 0);
		assert_int_equal(r.p, DMARC_POLICY_QUARANTINE);
		assert_int_equal(r.pct, 100);
		dmarc_record_free(&r);
	}
}

static void
test_record_version(void **state)
{
	struct dmarc_record r;

	(void)state;
	parse_bad("p=none; v=DMARC1", "v=DMARC1");
	parse_bad("p=reject", "v=DMARC1");
	parse_bad("v=DMARC2; p=none", "v=DMARC1");
	parse_bad("v=dmarc1; p=none", "v=DMARC1");
	parse_bad("v=DMARC1x; p=none", "v=DMARC1");
	parse_bad("v=DMARC; p=none", "v=DMARC1");
	parse_bad("v=; p=none", "v=DMARC1");
	parse_bad("; v=DMARC1; p=none", "v=DMARC1");
	parse_bad("x=1; v=DMARC1; p=none", "v=DMARC1");
	parse_bad("v=DMARC1 p=none", "v=DMARC1");
	/* v appearing again later is a repeated tag. */
	parse_bad("v=DMARC1; p=none; v=DMARC1", "repeated");

	/* Whitespace around '=' and ';' (dmarc-version, dmarc-sep). */
	parse_ok("v = DMARC1 ;\tp\t=\treject ;  sp =none ; ", &r);
	assert_int_equal(r.p, DMARC_POLICY_REJECT);
	assert_true(r.sp_set);
	assert_int_equal(r.sp, DMARC_POLICY_NONE);
	dmarc_record_free(&r);
	parse_ok("v=DMARC1;p=quarantine;pct=10", &r);
	assert_int_equal(r.p, DMARC_POLICY_QUARANTINE);
	assert_int_equal(r.pct, 10);
	dmarc_record_free(&r);
	parse_ok("  v=DMARC1;;; p=reject;;", &r);
	assert_int_equal(r.p, DMARC_POLICY_REJECT);
	dmarc_record_free(&r);
}

static void
test_record_p_missing_or_invalid(void **state)
{
	struct dmarc_record r;

	(void)state;
	/* 6.6.3: no valid p=, but a valid rua=: as if p=none. */
	parse_ok("v=DMARC1; rua=mailto:reports@example.com", &r);
	assert_int_equal(r.p, DMARC_POLICY_NONE);
	assert_string_equal(r.rua, "mailto:reports@example.com");
	dmarc_record_free(&r);
	parse_ok("v=DMARC1; p=bogus; sp=reject; rua=http://x.example/, mailto:a@example.com", &r);
	assert_int_equal(r.p, DMARC_POLICY_NONE);
	assert_non_null(r.rua);
	dmarc_record_free(&r);

	/* Without one: no record. */
	parse_bad("v=DMARC1", "missing p=");
	parse_bad("v=DMARC1; sp=reject; pct=50", "missing p=");
	parse_bad("v=DMARC1; p=bogus", "invalid p=");
	parse_bad("v=DMARC1; p=", "invalid p=");
	parse_bad("v=DMARC1; rua=https://reports.example.com/", "missing p=");
	parse_bad("v=DMARC1; rua=mailto:no-at-sign", "missing p=");

	/* An invalid rua on an otherwise good record is dropped. */
	parse_ok("v=DMARC1; p=reject; rua=https://reports.example.com/; ruf=mailto:", &r);
	assert_int_equal(r.p, DMARC_POLICY_REJECT);
	assert_null(r.rua);
	assert_null(r.ruf);
	dmarc_record_free(&r);

	/* An invalid sp is ignored: the domain policy applies. */
	parse_ok("v=DMARC1; p=reject; sp=bogus", &r);
	assert_int_equal(r.p, DMARC_POLICY_REJECT);
	assert_false(r.sp_set);
	dmarc_record_free(&r);
}

static void
test_record_bad_values(void **state)
{
	struct dmarc_record r;

	(void)state;
	parse_bad("v=DMARC1; p=none; pct=101", "pct");
	parse_bad("v=DMARC1; p=none; pct=-1", "pct");
	parse_bad("v=DMARC1; p=none; pct=", "pct");
	parse_bad("v=DMARC1; p=none; pct=50%", "pct");
	parse_bad("v=DMARC1; p=none; pct=+5", "pct");
	parse_bad("v=DMARC1; p=none; pct=99999999999999999999999999", "pct");
	parse_bad("v=DMARC1; p=none; adkim=x", "adkim");
	parse_bad("v=DMARC1; p=none; aspf=strict", "aspf");
	parse_bad("v=DMARC1; p=none; ri=soon", "ri");
	parse_bad("v=DMARC1; p=none; ri=4294967296", "ri");
	parse_bad("v=DMARC1; p=none; nonsense", "without '='");

	/* Repeated tags, in any case. */
	parse_bad("v=DMARC1; p=none; p=reject", "repeated");
	parse_bad("v=DMARC1; p=none; P=reject", "repeated");
	parse_bad("v=DMARC1; p=none; pct=10; pct=20", "repeated");
	parse_bad("v=DMARC1; p=none; rua=mailto:a@example.com; rua=mailto:b@example.com",
		"repeated");

	/* Unknown tags (and repeats of them) are ignored (6.3). */
	parse_ok("v=DMARC1; p=reject; np=quarantine; psd=y; t=n; x-foo=bar; x-foo=baz", &r);
	assert_int_equal(r.p, DMARC_POLICY_REJECT);
	assert_false(r.sp_set);
	dmarc_record_free(&r);
	/* Tag names other than v are matched without regard to case. */
	parse_ok("v=DMARC1; P=quarantine; SP=reject; PCT=5", &r);
	assert_int_equal(r.p, DMARC_POLICY_QUARANTINE);
	assert_int_equal(r.sp, DMARC_POLICY_REJECT);
	assert_int_equal(r.pct, 5);
	dmarc_record_free(&r);
}

static void
test_record_size_nul_empty(void **state)
{
	struct dmarc_record r;
	struct buf b;
	static const char with_nul[] = "v=DMARC1; p=reject\0; p=none";
	static const char lead_nul[] = "\0v=DMARC1; p=reject";

	(void)state;
	parse_bad_len("", 0, "v=DMARC1");
	parse_bad(";", "v=DMARC1");
	parse_bad("   \t ", "v=DMARC1");
	parse_bad_len(with_nul, sizeof(with_nul) - 1, "NUL");
	parse_bad_len(lead_nul, sizeof(lead_nul) - 1, "NUL");

	/* Many unknown tags up to the limit: the policy at the end counts. */
	buf_init(&b);
	buf_puts(&b, "v=DMARC1");
	while (b.len < 4000)
		buf_printf(&b, "; x%zu=%s", b.len, "aaaaaaaaaaaaaaaaaaaa");
	buf_puts(&b, "; p=quarantine");
	assert_true(b.len <= 4096);
	parse_ok(b.data, &r);
	assert_int_equal(r.p, DMARC_POLICY_QUARANTINE);
	dmarc_record_free(&r);

	/* Past any sensible record size: an error, not a crash. */
	while (b.len < 70000)
		buf_puts(&b, "; p=reject");
	parse_bad_len(b.data, b.len, "longer");
	buf_reset(&b);
	buf_puts(&b, "v=DMARC1; p=reject; rua=mailto:");
	while (b.len < 5000)
		buf_putc(&b, 'a');
	buf_puts(&b, "@example.com");
	parse_bad_len(b.data, b.len, "longer");
	buf_free(&b);
}

/* ---- organizational domain and alignment ---- */

static void
test_org_domain(void **state)
{
	static const struct {
		const char *domain, *org;
	} t[] = {
		{ "example.com", "example.com" },
		{ "mail.example.com", "example.com" },
		{ "a.b.c.example.com", "example.com" },
		{ "example.co.uk", "example.co.uk" },
		{ "a.b.example.co.uk", "example.co.uk" },
		{ "co.uk", "co.uk" },		/* a public suffix: itself */
		{ "com", "com" },
		{ "sub.multi.example", "multi.example" },	/* unlisted TLD: "*" rule */
		{ "MAIL.Example.COM", "example.com" },
		{ "A.Example.CO.UK", "example.co.uk" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char *o = dmarc_org_domain(t[i].domain);

		if (strcmp(o, t[i].org) != 0)
			fail_msg("org domain of %s: %s, expected %s", t[i].domain, o, t[i].org);
		free(o);
	}
}

static void
test_alignment(void **state)
{
	static const struct {
		const char *a, *b;
		bool relaxed, strict;
	} t[] = {
		{ "example.com", "example.com", true, true },
		{ "EXAMPLE.com", "example.COM", true, true },
		{ "mail.example.com", "example.com", true, false },
		{ "example.com", "mail.example.com", true, false },
		{ "a.mail.example.com", "b.example.com", true, false },
		{ "Mail.EXAMPLE.com", "example.com", true, false },
		{ "example.com", "example.net", false, false },
		{ "notexample.com", "example.com", false, false },
		{ "example.com.evil.example", "example.com", false, false },
		{ "a.example.co.uk", "b.example.co.uk", true, false },
		{ "A.Example.CO.UK", "b.example.co.uk", true, false },
		{ "example.co.uk", "example.co.uk", true, true },
		{ "example.co.uk", "other.co.uk", false, false },
		{ "co.uk", "example.co.uk", false, false },
		{ "example.com", "", false, false },
		{ "", "", false, false },
		{ NULL, "example.com", false, false },
		{ "example.com", NULL, false, false },
		{ NULL, NULL, false, false },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *a = t[i].a ? t[i].a : "(null)", *b = t[i].b ? t[i].b : "(null)";

		if (dmarc_aligned(t[i].a, t[i].b, false) != t[i].relaxed)
			fail_msg("relaxed %s / %s: expected %saligned", a, b,
				t[i].relaxed ? "" : "not ");
		if (dmarc_aligned(t[i].a, t[i].b, true) != t[i].strict)
			fail_msg("strict %s / %s: expected %saligned", a, b,
				t[i].strict ? "" : "not ");
	}
}

/* ---- dmarc_check ---- */

static struct spf_outcome spf_pass = { .result = SPF_PASS };
static struct spf_outcome spf_fail = { .result = SPF_FAIL };

static struct dkim_result
dk(enum dkim_status st, const char *domain)
{
	struct dkim_result r;

	memset(&r, 0, sizeof(r));
	r.status = st;
	r.domain = (char *)domain;
	return r;
}

static void
test_check_alignment(void **state)
{
	struct dmarc_outcome o;
	struct dkim_result k[3];

	(void)state;
	/* Aligned SPF only (relaxed: the bounce subdomain counts). */
	assert_int_equal(dmarc_check(d, "Example.COM", &spf_pass, "bounce.example.com", NULL, 0,
		0, &o), DMARC_PASS);
	assert_string_equal(o.from_domain, "example.com");
	assert_string_equal(o.record_domain, "example.com");
	assert_true(o.spf_aligned);
	assert_false(o.dkim_aligned);
	assert_null(o.dkim_aligned_domain);
	assert_int_equal(o.policy, DMARC_POLICY_REJECT);
	assert_int_equal(o.disposition, DMARC_POLICY_NONE);
	assert_false(o.reject);
	assert_string_equal(o.rec.rua, "mailto:dmarc@example.com");
	dmarc_outcome_free(&o);
	assert_null(o.from_domain);

	/* A MAIL FROM domain in other case still aligns. */
	assert_int_equal(dmarc_check(d, "example.com", &spf_pass, "Bounce.EXAMPLE.com", NULL, 0,
		0, &o), DMARC_PASS);
	assert_true(o.spf_aligned);
	dmarc_outcome_free(&o);
	assert_int_equal(dmarc_check(d, "example.co.uk", &spf_pass, "Bounce.EXAMPLE.CO.UK", NULL,
		0, 0, &o), DMARC_PASS);
	assert_true(o.spf_aligned);
	dmarc_outcome_free(&o);

	/* Aligned DKIM only: the first passing aligned signature is named;
	 * a failing aligned one and a passing unaligned one do not count. */
	k[0] = dk(DKIM_FAIL, "example.com");
	k[1] = dk(DKIM_PASS, "other.example");
	k[2] = dk(DKIM_PASS, "mail.example.com");
	assert_int_equal(dmarc_check(d, "example.com", &spf_fail, "example.com", k, 3, 0, &o),
		DMARC_PASS);
	assert_false(o.spf_aligned);
	assert_true(o.dkim_aligned);
	assert_string_equal(o.dkim_aligned_domain, "mail.example.com");
	assert_int_equal(o.disposition, DMARC_POLICY_NONE);
	dmarc_outcome_free(&o);

	/* SPF passes, but for another organization; DKIM fails. */
	k[0] = dk(DKIM_FAIL, "example.com");
	assert_int_equal(dmarc_check(d, "example.com", &spf_pass, "example.net", k, 1, 0, &o),
		DMARC_FAIL);
	assert_false(o.spf_aligned);
	assert_false(o.dkim_aligned);
	assert_null(o.dkim_aligned_domain);
	assert_int_equal(o.policy, DMARC_POLICY_REJECT);
	assert_int_equal(o.disposition, DMARC_POLICY_REJECT);
	assert_true(o.reject);
	dmarc_outcome_free(&o);

	/* SPF fails for the aligned domain; DKIM results that are not a
	 * pass (policy, temperror) do not align either. */
	k[0] = dk(DKIM_POLICY, "example.com");
	k[1] = dk(DKIM_TEMPERROR, "example.com");
	k[2] = dk(DKIM_PASS, NULL);
	assert_int_equal(dmarc_check(d, "example.com", &spf_fail, "example.com", k, 3, 0, &o),
		DMARC_FAIL);
	assert_false(o.spf_aligned);
	assert_false(o.dkim_aligned);
	dmarc_outcome_free(&o);
	/* No SPF outcome at all. */
	assert_int_equal(dmarc_check(d, "example.com", NULL, NULL, NULL, 0, 0, &o), DMARC_FAIL);
	dmarc_outcome_free(&o);

	/* Strict alignment: subdomains no longer count. */
	k[0] = dk(DKIM_PASS, "mail.strict.example");
	assert_int_equal(dmarc_check(d, "strict.example", &spf_pass, "bounce.strict.example", k,
		1, 0, &o), DMARC_FAIL);
	assert_true(o.reject);
	dmarc_outcome_free(&o);
	k[0] = dk(DKIM_PASS, "strict.example");
	assert_int_equal(dmarc_check(d, "strict.example", &spf_fail, "strict.example", k, 1, 0,
		&o), DMARC_PASS);
	assert_true(o.dkim_aligned);
	assert_string_equal(o.dkim_aligned_domain, "strict.example");
	dmarc_outcome_free(&o);
	assert_int_equal(dmarc_check(d, "strict.example", &spf_pass, "STRICT.example", NULL, 0,
		0, &o), DMARC_PASS);
	assert_true(o.spf_aligned);
	dmarc_outcome_free(&o);
}

static void
test_check_discovery(void **state)
{
	struct dmarc_outcome o;

	(void)state;
	/* The org domain itself: p=. */
	assert_int_equal(dmarc_check(d, "example.com", &spf_fail, "example.com", NULL, 0, 0, &o),
		DMARC_FAIL);
	assert_int_equal(o.policy, DMARC_POLICY_REJECT);
	assert_int_equal(o.disposition, DMARC_POLICY_REJECT);
	dmarc_outcome_free(&o);
	/* A subdomain without its own record: the org record's sp=. */
	assert_int_equal(dmarc_check(d, "Deep.Sub.example.com", &spf_fail, "example.com", NULL, 0,
		0, &o), DMARC_FAIL);
	assert_string_equal(o.from_domain, "deep.sub.example.com");
	assert_string_equal(o.record_domain, "example.com");
	assert_int_equal(o.policy, DMARC_POLICY_QUARANTINE);
	assert_int_equal(o.disposition, DMARC_POLICY_QUARANTINE);
	assert_false(o.reject);
	dmarc_outcome_free(&o);
	/* A subdomain with its own record: that one, p=. */
	assert_int_equal(dmarc_check(d, "own.example.com", &spf_fail, "example.com", NULL, 0, 0,
		&o), DMARC_FAIL);
	assert_string_equal(o.record_domain, "own.example.com");
	assert_int_equal(o.policy, DMARC_POLICY_NONE);
	assert_int_equal(o.disposition, DMARC_POLICY_NONE);
	dmarc_outcome_free(&o);
	/* sp=none at the org domain of a public-suffix-style name. */
	assert_int_equal(dmarc_check(d, "mail.example.co.uk", &spf_fail, "x.example", NULL, 0, 0,
		&o), DMARC_FAIL);
	assert_string_equal(o.record_domain, "example.co.uk");
	assert_int_equal(o.policy, DMARC_POLICY_NONE);
	dmarc_outcome_free(&o);
	/* A subdomain without sp= at the org: p= (org without sp). */
	assert_int_equal(dmarc_check(d, "www.secure.example", &spf_fail, "x.example", NULL, 0, 0,
		&o), DMARC_FAIL);
	assert_string_equal(o.record_domain, "secure.example");
	assert_int_equal(o.policy, DMARC_POLICY_REJECT);
	dmarc_outcome_free(&o);

	/* No record anywhere. */
	assert_int_equal(dmarc_check(d, "nothing.example", &spf_fail, "x.example", NULL, 0, 0,
		&o), DMARC_NONE);
	assert_null(o.record_domain);
	assert_false(o.reject);
	assert_int_equal(o.disposition, DMARC_POLICY_NONE);
	assert_string_equal(o.from_domain, "nothing.example");
	dmarc_outcome_free(&o);
	assert_int_equal(dmarc_check(d, "a.nothing.example", &spf_pass, "a.nothing.example", NULL,
		0, 0, &o), DMARC_NONE);
	dmarc_outcome_free(&o);

	/* Two DMARC records: none. */
	assert_int_equal(dmarc_check(d, "multi.example", &spf_fail, "x.example", NULL, 0, 0, &o),
		DMARC_NONE);
	assert_null(o.record_domain);
	dmarc_outcome_free(&o);
	/* 6.6.3 steps 3 and 5: the org domain is asked only when the From
	 * domain has no DMARC record at all; several (or an invalid one)
	 * there end discovery. */
	assert_int_equal(dmarc_check(d, "multi.example.com", &spf_fail, "x.example", NULL, 0, 0,
		&o), DMARC_NONE);
	assert_null(o.record_domain);
	assert_false(o.reject);
	dmarc_outcome_free(&o);
	assert_int_equal(dmarc_check(d, "bad.example.com", &spf_fail, "x.example", NULL, 0, 0,
		&o), DMARC_NONE);
	assert_null(o.record_domain);
	assert_false(o.reject);
	dmarc_outcome_free(&o);
	assert_int_equal(dmarc_check(d, "invalid.example", &spf_fail, "x.example", NULL, 0, 0,
		&o), DMARC_NONE);
	dmarc_outcome_free(&o);

	/* Other TXT records beside the DMARC one are ignored... */
	assert_int_equal(dmarc_check(d, "mixed.example", &spf_fail, "x.example", NULL, 0, 0, &o),
		DMARC_FAIL);
	assert_string_equal(o.record_domain, "mixed.example");
	assert_int_equal(o.policy, DMARC_POLICY_QUARANTINE);
	dmarc_outcome_free(&o);
	/* ...and alone they are no record (v=DMARC10 is not v=DMARC1). */
	assert_int_equal(dmarc_check(d, "notdmarc.example", &spf_fail, "x.example", NULL, 0, 0,
		&o), DMARC_NONE);
	dmarc_outcome_free(&o);
}

static void
test_check_errors_pct_authentic(void **state)
{
	struct dmarc_outcome o;

	(void)state;
	/* SERVFAIL on _dmarc.<from>, or on the org domain after NXDOMAIN. */
	assert_int_equal(dmarc_check(d, "broken.example", &spf_pass, "broken.example", NULL, 0, 0,
		&o), DMARC_TEMPERROR);
	assert_non_null(o.error);
	assert_non_null(strstr(o.error, "_dmarc.broken.example"));
	assert_false(o.reject);
	dmarc_outcome_free(&o);
	assert_int_equal(dmarc_check(d, "news.broken2.example", &spf_pass, "broken2.example", NULL,
		0, 0, &o), DMARC_TEMPERROR);
	assert_non_null(strstr(o.error, "_dmarc.broken2.example"));
	dmarc_outcome_free(&o);

	/* pct=50: a sample below 50 gets the policy, one at or above it the
	 * next lower one. */
	assert_int_equal(dmarc_check(d, "pct.example", &spf_fail, "pct.example", NULL, 0, 10, &o),
		DMARC_FAIL);
	assert_int_equal(o.policy, DMARC_POLICY_REJECT);
	assert_int_equal(o.disposition, DMARC_POLICY_REJECT);
	assert_true(o.reject);
	dmarc_outcome_free(&o);
	assert_int_equal(dmarc_check(d, "pct.example", &spf_fail, "pct.example", NULL, 0, 90, &o),
		DMARC_FAIL);
	assert_int_equal(o.policy, DMARC_POLICY_REJECT);
	assert_int_equal(o.disposition, DMARC_POLICY_QUARANTINE);
	assert_false(o.reject);
	dmarc_outcome_free(&o);
	assert_int_equal(dmarc_check(d, "pct.example", &spf_fail, "pct.example", NULL, 0, 49, &o),
		DMARC_FAIL);
	assert_true(o.reject);
	dmarc_outcome_free(&o);
	assert_int_equal(dmarc_check(d, "pct.example", &spf_fail, "pct.example", NULL, 0, 50, &o),
		DMARC_FAIL);
	assert_false(o.reject);
	dmarc_outcome_free(&o);
	assert_int_equal(dmarc_check(d, "pctq.example", &spf_fail, "pctq.example", NULL, 0, 10,
		&o), DMARC_FAIL);
	assert_int_equal(o.disposition, DMARC_POLICY_QUARANTINE);
	dmarc_outcome_free(&o);
	assert_int_equal(dmarc_check(d, "pctq.example", &spf_fail, "pctq.example", NULL, 0, 90,
		&o), DMARC_FAIL);
	assert_int_equal(o.policy, DMARC_POLICY_QUARANTINE);
	assert_int_equal(o.disposition, DMARC_POLICY_NONE);
	dmarc_outcome_free(&o);
	assert_int_equal(dmarc_check(d, "pct0.example", &spf_fail, "pct0.example", NULL, 0, 0,
		&o), DMARC_FAIL);
	assert_int_equal(o.disposition, DMARC_POLICY_QUARANTINE);
	assert_false(o.reject);
	dmarc_outcome_free(&o);
	/* pct=100 (default): every sample gets the policy. */
	assert_int_equal(dmarc_check(d, "example.com", &spf_fail, "example.com", NULL, 0, 99, &o),
		DMARC_FAIL);
	assert_true(o.reject);
	dmarc_outcome_free(&o);
	/* A pass is never sampled into a disposition. */
	assert_int_equal(dmarc_check(d, "pct.example", &spf_pass, "pct.example", NULL, 0, 10, &o),
		DMARC_PASS);
	assert_int_equal(o.disposition, DMARC_POLICY_NONE);
	assert_false(o.reject);
	dmarc_outcome_free(&o);

	/* DNSSEC. */
	assert_int_equal(dmarc_check(d, "secure.example", &spf_pass, "secure.example", NULL, 0, 0,
		&o), DMARC_PASS);
	assert_true(o.authentic);
	dmarc_outcome_free(&o);
	assert_int_equal(dmarc_check(d, "example.com", &spf_pass, "example.com", NULL, 0, 0, &o),
		DMARC_PASS);
	assert_false(o.authentic);
	dmarc_outcome_free(&o);

	/* No From domain. */
	assert_int_equal(dmarc_check(d, "", &spf_pass, "example.com", NULL, 0, 0, &o),
		DMARC_PERMERROR);
	assert_non_null(o.error);
	assert_null(o.record_domain);
	assert_false(o.reject);
	dmarc_outcome_free(&o);
	assert_int_equal(dmarc_check(d, NULL, &spf_pass, "example.com", NULL, 0, 0, &o),
		DMARC_PERMERROR);
	dmarc_outcome_free(&o);

	assert_string_equal(dmarc_result_name(DMARC_TEMPERROR), "temperror");
	assert_string_equal(dmarc_policy_name(DMARC_POLICY_QUARANTINE), "quarantine");
}

/* ---- iprev ---- */

static enum iprev_result
iprev(const char *ip, const char *want_name)
{
	struct iprev_outcome o;
	enum iprev_result r = iprev_check(d, ip, &o);

	assert_int_equal(o.result, r);
	if (want_name != NULL)
		assert_string_equal(o.name, want_name);
	else
		assert_null(o.name);
	iprev_outcome_free(&o);
	return r;
}

static void
test_iprev(void **state)
{
	struct iprev_outcome o;
	unsigned i, untried = 0;

	(void)state;
	assert_int_equal(iprev("192.0.2.1", "mail.example.net"), IPREV_PASS);
	/* No PTR record; a PTR name resolving elsewhere or not at all. */
	assert_int_equal(iprev("192.0.2.2", NULL), IPREV_FAIL);
	assert_int_equal(iprev("192.0.2.3", NULL), IPREV_FAIL);
	assert_int_equal(iprev("192.0.2.8", NULL), IPREV_FAIL);
	/* SERVFAIL on the forward name, on the PTR name. */
	assert_int_equal(iprev("192.0.2.4", NULL), IPREV_TEMPERROR);
	assert_int_equal(iprev("192.0.2.5", NULL), IPREV_TEMPERROR);
	/* A failing forward name does not matter when another matches; it
	 * does when none does. */
	assert_int_equal(iprev("192.0.2.6", "six.example.net"), IPREV_PASS);
	assert_int_equal(iprev("192.0.2.7", NULL), IPREV_TEMPERROR);
	/* IPv6, in any textual form; an IPv6 client needs an AAAA. */
	assert_int_equal(iprev("2001:db8::25", "v6.example.net"), IPREV_PASS);
	assert_int_equal(iprev("2001:DB8:0:0::0:25", "v6.example.net"), IPREV_PASS);
	assert_int_equal(iprev("2001:db8::26", NULL), IPREV_FAIL);
	/* Not an address. */
	assert_int_equal(iprev("", NULL), IPREV_PERMERROR);
	assert_int_equal(iprev("192.0.2.300", NULL), IPREV_PERMERROR);
	assert_int_equal(iprev("mail.example.net", NULL), IPREV_PERMERROR);
	/* Ten PTR names are all tried. */
	assert_int_equal(iprev("192.0.2.12", "m10.many.example.net"), IPREV_PASS);
	/* With eleven, the one in the answer's eleventh place is not: the
	 * resolver may order the names as it likes, so the place is read
	 * from the same lookup iprev makes. */
	for (i = 1; i <= MANY; i++) {
		struct dns_answer a;
		char ip[32], name[64];
		size_t pos;

		snprintf(ip, sizeof(ip), "192.0.2.%u", 100 + i);
		snprintf(name, sizeof(name), "n%02u.many.example.net", i);
		assert_int_equal(dns_lookup_ptr(d, ip, &a), DNS_OK);
		assert_int_equal(a.n, MANY);
		for (pos = 0; pos < a.n && strcmp(a.rr[pos].text, name) != 0; pos++)
			;
		assert_true(pos < a.n);
		dns_answer_free(&a);
		if (pos < 10) {
			assert_int_equal(iprev(ip, name), IPREV_PASS);
		} else {
			assert_int_equal(iprev(ip, NULL), IPREV_FAIL);
			untried++;
		}
	}
	/* The same rrset is ordered the same way for every address, so one
	 * of them had its name in eleventh place. */
	assert_int_equal(untried, 1);

	/* DNSSEC: both answers authentic. */
	assert_int_equal(iprev_check(d, "192.0.2.9", &o), IPREV_PASS);
	assert_true(o.authentic);
	iprev_outcome_free(&o);
	assert_int_equal(iprev_check(d, "192.0.2.1", &o), IPREV_PASS);
	assert_false(o.authentic);
	iprev_outcome_free(&o);
	assert_string_equal(iprev_result_name(IPREV_TEMPERROR), "temperror");
}

/* ---- Authentication-Results ---- */

/* Every line ends in CRLF, continuation lines start with a tab, and no
 * bare CR or LF occurs. */
static void
assert_header_lines(const char *h)
{
	const char *p;

	assert_true(strncmp(h, "Authentication-Results: ", 24) == 0);
	assert_true(strlen(h) > 2 && strcmp(h + strlen(h) - 2, "\r\n") == 0);
	for (p = h; *p != '\0'; p++) {
		if (*p == '\r') {
			assert_int_equal(p[1], '\n');
			assert_true(p[2] == '\0' || p[2] == '\t');
			p++;
		} else if (*p == '\n') {
			fail_msg("bare LF at offset %td", p - h);
		}
	}
}

/* The header outside quoted strings and comments: parentheses balance,
 * quotes close, and the ';'-separated resinfos are counted. */
static unsigned
header_resinfos(const char *h)
{
	const char *p = strchr(h, ':') + 1;
	unsigned depth = 0, semis = 0;
	bool quoted = false;

	for (; *p != '\0'; p++) {
		if ((quoted || depth > 0) && *p == '\\' && p[1] != '\0')
			p++;
		else if (quoted)
			quoted = *p != '"';
		else if (*p == '(')
			depth++;
		else if (*p == ')') {
			assert_true(depth > 0);
			depth--;
		} else if (depth == 0 && *p == '"')
			quoted = true;
		else if (depth == 0 && *p == ';')
			semis++;
	}
	assert_false(quoted);
	assert_int_equal(depth, 0);
	return semis;
}

static void
test_authres_representative(void **state)
{
	struct iprev_outcome ipr = { .result = IPREV_PASS, .name = (char *)"mail.example.net" };
	struct spf_outcome spf = { .result = SPF_PASS };
	struct dkim_result k[2];
	struct dmarc_outcome dm;
	struct authres ar;
	struct buf b;

	(void)state;
	memset(k, 0, sizeof(k));
	k[0].status = DKIM_PASS;
	k[0].domain = (char *)"example.com";
	k[0].selector = (char *)"sel1";
	k[0].algorithm = (char *)"rsa-sha256";
	k[0].b_prefix = (char *)"abcdefgh";
	k[1].status = DKIM_FAIL;
	k[1].domain = (char *)"other.example";
	k[1].selector = (char *)"s2";
	k[1].algorithm = (char *)"ed25519-sha256";
	k[1].b_prefix = (char *)"ZZ+/==ab";
	k[1].error = (char *)"body hash mismatch (bh=) \\ (x";
	memset(&dm, 0, sizeof(dm));
	dm.result = DMARC_PASS;
	dm.from_domain = (char *)"example.com";
	dm.record_domain = (char *)"example.com";
	dm.policy = DMARC_POLICY_REJECT;
	dm.disposition = DMARC_POLICY_NONE;

	memset(&ar, 0, sizeof(ar));
	ar.authserv_id = "mx.example.org";
	ar.ip = "192.0.2.1";
	ar.iprev = &ipr;
	ar.spf_mailfrom = &spf;
	ar.mailfrom = "alice@example.com";
	ar.dkim = k;
	ar.ndkim = 2;
	ar.dmarc = &dm;
	buf_init(&b);
	authres_header(&b, &ar);
	assert_string_equal(b.data,
		"Authentication-Results: mx.example.org;\r\n"
		"\tiprev=pass policy.iprev=192.0.2.1 (mail.example.net);\r\n"
		"\tspf=pass smtp.mailfrom=alice@example.com;\r\n"
		"\tdkim=pass header.d=example.com header.s=sel1 header.a=rsa-sha256"
		" header.b=abcdefgh;\r\n"
		"\tdkim=fail (body hash mismatch bh=  x) header.d=other.example header.s=s2"
		" header.a=ed25519-sha256 header.b=\"ZZ+/==ab\";\r\n"
		"\tdmarc=pass (p=reject dis=none) header.from=example.com\r\n");
	assert_header_lines(b.data);
	assert_int_equal(header_resinfos(b.data), 5);

	/* A failing DMARC with a lowered disposition; HELO identity. */
	buf_reset(&b);
	dm.result = DMARC_FAIL;
	dm.disposition = DMARC_POLICY_QUARANTINE;
	ar.spf_mailfrom = NULL;
	ar.spf_helo = &spf;
	ar.helo = "helo.example.net";
	ar.iprev = NULL;
	ar.ndkim = 1;
	authres_header(&b, &ar);
	assert_string_equal(b.data,
		"Authentication-Results: mx.example.org;\r\n"
		"\tspf=pass smtp.helo=helo.example.net;\r\n"
		"\tdkim=pass header.d=example.com header.s=sel1 header.a=rsa-sha256"
		" header.b=abcdefgh;\r\n"
		"\tdmarc=fail (p=reject dis=quarantine) header.from=example.com\r\n");
	assert_header_lines(b.data);
	buf_free(&b);
}

static void
test_authres_quoting(void **state)
{
	struct spf_outcome spf = { .result = SPF_SOFTFAIL };
	struct iprev_outcome ipr = { .result = IPREV_FAIL };
	struct authres ar;
	struct buf b;

	(void)state;
	memset(&ar, 0, sizeof(ar));
	ar.authserv_id = "mx.example.org";
	ar.spf_mailfrom = &spf;
	buf_init(&b);

	/* A local-part with a space: the whole value is a quoted-string. */
	ar.mailfrom = "john doe@example.com";
	authres_header(&b, &ar);
	assert_string_equal(b.data, "Authentication-Results: mx.example.org;\r\n"
		"\tspf=softfail smtp.mailfrom=\"john doe@example.com\"\r\n");
	assert_header_lines(b.data);

	/* Quotes and backslashes are escaped; CR/LF dropped. */
	buf_reset(&b);
	ar.mailfrom = "we\"ird\\x\r\n;dkim=pass@example.com";
	authres_header(&b, &ar);
	assert_string_equal(b.data, "Authentication-Results: mx.example.org;\r\n"
		"\tspf=softfail smtp.mailfrom=\"we\\\"ird\\\\x;dkim=pass@example.com\"\r\n");
	assert_header_lines(b.data);
	assert_int_equal(header_resinfos(b.data), 1);

	/* Other specials, an empty value (null sender HELO), IPv6. */
	buf_reset(&b);
	ar.mailfrom = "a(b)@example.com";
	ar.spf_helo = &spf;
	ar.helo = "";
	ar.iprev = &ipr;
	ar.ip = "2001:db8::1";
	authres_header(&b, &ar);
	assert_string_equal(b.data, "Authentication-Results: mx.example.org;\r\n"
		"\tiprev=fail policy.iprev=\"2001:db8::1\";\r\n"
		"\tspf=softfail smtp.mailfrom=\"a(b)@example.com\";\r\n"
		"\tspf=softfail smtp.helo=\"\"\r\n");
	assert_header_lines(b.data);
	assert_int_equal(header_resinfos(b.data), 3);
	buf_free(&b);
}

static void
test_authres_none_dnssec_injection(void **state)
{
	struct iprev_outcome ipr = { .result = IPREV_PASS, .authentic = true,
		.name = (char *)"secure.example.net" };
	struct spf_outcome spf = { .result = SPF_PASS, .authentic = true };
	struct dkim_result k;
	struct dmarc_outcome dm;
	struct authres ar;
	struct buf b;

	(void)state;
	buf_init(&b);
	memset(&ar, 0, sizeof(ar));
	ar.authserv_id = "mx.example.org";

	/* Nothing checked. */
	authres_header(&b, &ar);
	assert_string_equal(b.data, "Authentication-Results: mx.example.org; none\r\n");
	assert_header_lines(b.data);

	/* No signatures; DMARC without a record; DNSSEC notes. */
	buf_reset(&b);
	memset(&dm, 0, sizeof(dm));
	dm.result = DMARC_NONE;
	dm.from_domain = (char *)"example.org";
	dm.authentic = true;
	ar.ip = "192.0.2.9";
	ar.iprev = &ipr;
	ar.spf_mailfrom = &spf;
	ar.mailfrom = "bob@example.org";
	ar.dmarc = &dm;
	authres_header(&b, &ar);
	assert_string_equal(b.data,
		"Authentication-Results: mx.example.org;\r\n"
		"\tiprev=pass (dnssec) policy.iprev=192.0.2.9 (secure.example.net);\r\n"
		"\tspf=pass (dnssec) smtp.mailfrom=bob@example.org;\r\n"
		"\tdkim=none;\r\n"
		"\tdmarc=none (dnssec) header.from=example.org\r\n");
	assert_header_lines(b.data);

	buf_reset(&b);
	memset(&k, 0, sizeof(k));
	k.status = DKIM_PASS;
	k.domain = (char *)"example.org";
	k.authentic = true;
	ar.dkim = &k;
	ar.ndkim = 1;
	ar.iprev = NULL;
	ar.spf_mailfrom = NULL;
	ar.dmarc = NULL;
	authres_header(&b, &ar);
	assert_string_equal(b.data, "Authentication-Results: mx.example.org;\r\n"
		"\tdkim=pass (dnssec) header.d=example.org\r\n");
	buf_free(&b);
}

/* A PTR name is chosen by whoever controls the client's reverse zone: it
 * may hold ')' and ';', which must not end the comment it is put in and
 * add a result of the sender's choosing. */
static void
test_authres_hostile_ptr(void **state)
{
	struct iprev_outcome ipr;
	struct authres ar;
	struct buf b;

	(void)state;
	assert_int_equal(iprev_check(d, "192.0.2.10", &ipr), IPREV_PASS);
	assert_string_equal(ipr.name, "x);dkim=pass.evil.example");
	memset(&ar, 0, sizeof(ar));
	ar.authserv_id = "mx.example.org";
	ar.ip = "192.0.2.10";
	ar.iprev = &ipr;
	buf_init(&b);
	authres_header(&b, &ar);
	assert_header_lines(b.data);
	/* One resinfo: the name stays inside its comment. */
	assert_int_equal(header_resinfos(b.data), 1);
	assert_string_equal(b.data, "Authentication-Results: mx.example.org;\r\n"
		"\tiprev=pass policy.iprev=192.0.2.10 (x;dkim=pass.evil.example)\r\n");
	buf_free(&b);
	iprev_outcome_free(&ipr);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_all_tags),
		cmocka_unit_test(test_record_version),
		cmocka_unit_test(test_record_p_missing_or_invalid),
		cmocka_unit_test(test_record_bad_values),
		cmocka_unit_test(test_record_size_nul_empty),
		cmocka_unit_test(test_org_domain),
		cmocka_unit_test(test_alignment),
		cmocka_unit_test(test_check_alignment),
		cmocka_unit_test(test_check_discovery),
		cmocka_unit_test(test_check_errors_pct_authentic),
		cmocka_unit_test(test_iprev),
		cmocka_unit_test(test_authres_representative),
		cmocka_unit_test(test_authres_quoting),
		cmocka_unit_test(test_authres_none_dnssec_injection),
		cmocka_unit_test(test_authres_hostile_ptr),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
