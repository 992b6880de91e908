/* lib/mailauth/spf: the extended examples of RFC 7208 Appendix B (Appendix
 * A in RFC 4408), the macro examples of 7.4, the
 * lookup limits, include/redirect/exp semantics, DNS errors, malformed
 * records and the Received-SPF header, against a test zone file. */
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
#include "mailauth/spf.h"
#include "mailauth/spf_private.h"
#include "net/dns.h"
#include "test_zone.h"

static char zone_path[] = "/tmp/test_spf_zoneXXXXXX";
static struct dns *d;

static const char zone[] =
	"; RFC 7208 Appendix B\n"
	"example.com. 600 IN MX 10 mail-a.example.com.\n"
	"example.com. 600 IN MX 20 mail-b.example.com.\n"
	"example.com. IN A 192.0.2.10\n"
	"example.com. IN A 192.0.2.11\n"
	"amy.example.com. IN A 192.0.2.65\n"
	"bob.example.com. IN A 192.0.2.66\n"
	"mail-a.example.com. IN A 192.0.2.129\n"
	"mail-b.example.com. IN A 192.0.2.130\n"
	"www.example.com. IN CNAME example.com.\n"
	"example.org. 600 IN MX 10 mail-c.example.org.\n"
	"mail-c.example.org. IN A 192.0.2.140\n"
	"10.2.0.192.in-addr.arpa. IN PTR example.com.\n"
	"11.2.0.192.in-addr.arpa. IN PTR example.com.\n"
	"65.2.0.192.in-addr.arpa. IN PTR amy.example.com.\n"
	"66.2.0.192.in-addr.arpa. IN PTR bob.example.com.\n"
	"129.2.0.192.in-addr.arpa. IN PTR mail-a.example.com.\n"
	"130.2.0.192.in-addr.arpa. IN PTR mail-b.example.com.\n"
	"140.2.0.192.in-addr.arpa. IN PTR mail-c.example.org.\n"
	"22.0.2.10.in-addr.arpa. IN PTR mail.example.com.\n"
	/* B.2 (example.com's own record is given per test in B.1/B.3/B.4) */
	"example.com. IN TXT \"v=spf1 a mx -all\"\n"
	"example.net. IN TXT \"v=spf1 ip4:198.51.100.0/24 -all\"\n"
	"example.org. IN TXT \"v=spf1 include:example.com include:example.net -all\"\n"
	"la.example.org. IN TXT \"v=spf1 redirect=example.org\"\n"
	"ny.example.org. IN TXT \"v=spf1 redirect=example.org\"\n"
	/* B.3 */
	"mary.mobile-users._spf.example.com. IN A 127.0.0.2\n"
	"fred.mobile-users._spf.example.com. IN A 127.0.0.2\n"
	"15.15.168.192.joel.remote-users._spf.example.com. IN A 127.0.0.2\n"
	"16.15.168.192.joel.remote-users._spf.example.com. IN A 127.0.0.2\n"
	"mobile-users._spf.example.com. IN TXT \"v=spf1 exists:%{l1r+}.%{d}\"\n"
	"remote-users._spf.example.com. IN TXT \"v=spf1 exists:%{ir}.%{l1r+}.%{d}\"\n"
	/* B.4 */
	"ip4._spf.example.com. IN TXT \"v=spf1 -ip4:192.0.2.0/24 +all\"\n"
	"ptr._spf.example.com. IN TXT \"v=spf1 -ptr +all\"\n"
	/* Limits */
	"ten.t.example. IN TXT \"v=spf1 include:i1.t.example include:i2.t.example "
	"include:i3.t.example include:i4.t.example include:i5.t.example \" "
	"\"include:i6.t.example include:i7.t.example include:i8.t.example "
	"include:i9.t.example include:i10.t.example -all\"\n"
	"eleven.t.example. IN TXT \"v=spf1 include:i1.t.example include:i2.t.example "
	"include:i3.t.example include:i4.t.example include:i5.t.example \" "
	"\"include:i6.t.example include:i7.t.example include:i8.t.example "
	"include:i9.t.example include:i10.t.example include:i11.t.example -all\"\n"
	"i1.t.example. IN TXT \"v=spf1 -all\"\n"
	"i2.t.example. IN TXT \"v=spf1 -all\"\n"
	"i3.t.example. IN TXT \"v=spf1 -all\"\n"
	"i4.t.example. IN TXT \"v=spf1 -all\"\n"
	"i5.t.example. IN TXT \"v=spf1 -all\"\n"
	"i6.t.example. IN TXT \"v=spf1 -all\"\n"
	"i7.t.example. IN TXT \"v=spf1 -all\"\n"
	"i8.t.example. IN TXT \"v=spf1 -all\"\n"
	"i9.t.example. IN TXT \"v=spf1 -all\"\n"
	"i10.t.example. IN TXT \"v=spf1 -all\"\n"
	"i11.t.example. IN TXT \"v=spf1 +all\"\n"
	"loop.t.example. IN TXT \"v=spf1 include:loop.t.example -all\"\n"
	"rloop.t.example. IN TXT \"v=spf1 redirect=rloop.t.example\"\n"
	"pingpong1.t.example. IN TXT \"v=spf1 include:pingpong2.t.example -all\"\n"
	"pingpong2.t.example. IN TXT \"v=spf1 redirect=pingpong1.t.example\"\n"
	"void2.t.example. IN TXT \"v=spf1 a:n1.t.example mx:n2.t.example +all\"\n"
	"void3.t.example. IN TXT \"v=spf1 a:n1.t.example mx:n2.t.example exists:n3.t.example +all\"\n"
	"manymx.t.example. IN TXT \"v=spf1 mx -all\"\n"
	"manymx.t.example. IN MX 1 m1.t.example.\n"
	"manymx.t.example. IN MX 2 m2.t.example.\n"
	"manymx.t.example. IN MX 3 m3.t.example.\n"
	"manymx.t.example. IN MX 4 m4.t.example.\n"
	"manymx.t.example. IN MX 5 m5.t.example.\n"
	"manymx.t.example. IN MX 6 m6.t.example.\n"
	"manymx.t.example. IN MX 7 m7.t.example.\n"
	"manymx.t.example. IN MX 8 m8.t.example.\n"
	"manymx.t.example. IN MX 9 m9.t.example.\n"
	"manymx.t.example. IN MX 10 m10.t.example.\n"
	"manymx.t.example. IN MX 11 m11.t.example.\n"
	/* DNS errors */
	"$SERVFAIL broken.t.example\n"
	"$SERVFAIL sfrec.t.example\n"
	"$TIMEOUT slow.t.example\n"
	"sf.t.example. IN TXT \"v=spf1 a:broken.t.example -all\"\n"
	"slowmx.t.example. IN TXT \"v=spf1 mx:slow.t.example -all\"\n"
	/* include and redirect */
	"inctemp.t.example. IN TXT \"v=spf1 include:sfrec.t.example -all\"\n"
	"incnone.t.example. IN TXT \"v=spf1 include:nothing.t.example +all\"\n"
	"incperm.t.example. IN TXT \"v=spf1 include:multi.t.example +all\"\n"
	"incfail.t.example. IN TXT \"v=spf1 include:i1.t.example ?all\"\n"
	"incsoft.t.example. IN TXT \"v=spf1 include:soft.t.example include:neutral.t.example -all\"\n"
	"soft.t.example. IN TXT \"v=spf1 ~all\"\n"
	"neutral.t.example. IN TXT \"v=spf1 ?all\"\n"
	"incpass.t.example. IN TXT \"v=spf1 -include:i11.t.example +all\"\n"
	"redir.t.example. IN TXT \"v=spf1 exp=own.t.example redirect=target.t.example\"\n"
	"target.t.example. IN TXT \"v=spf1 ip4:192.0.2.0/24 -all exp=why.t.example\"\n"
	"why.t.example. IN TXT \"%{i} is not allowed to send for %{d} (%{c} at %{r})\"\n"
	"own.t.example. IN TXT \"own explanation\"\n"
	"redirnone.t.example. IN TXT \"v=spf1 redirect=nothing.t.example\"\n"
	"redirall.t.example. IN TXT \"v=spf1 ?all redirect=target.t.example\"\n"
	"expfail.t.example. IN TXT \"v=spf1 -all exp=%{l}.exp.t.example\"\n"
	"bob.exp.t.example. IN TXT \"Sorry %{L}, see http://example/why?s=%{S}\"\n"
	"badexp.t.example. IN TXT \"v=spf1 -all exp=two.t.example\"\n"
	"two.t.example. IN TXT \"one\"\n"
	"two.t.example. IN TXT \"two\"\n"
	/* records */
	"multi.t.example. IN TXT \"v=spf1 -all\"\n"
	"multi.t.example. IN TXT \"v=spf1 +all\"\n"
	"other.t.example. IN TXT \"google-site-verification=xyz\"\n"
	"other.t.example. IN TXT \"v=spf1 +all\"\n"
	"notspf.t.example. IN TXT \"v=spf10 +all\"\n"
	"upper.t.example. IN TXT \"V=SPF1 IP4:192.0.2.1 -ALL\"\n"
	"syntax.t.example. IN TXT \"v=spf1 ip4:192.0.2.1 -all foo\"\n"
	"dual.t.example. IN TXT \"v=spf1 a:a6.t.example/24//64 -all\"\n"
	"a6.t.example. IN A 192.0.2.200\n"
	"a6.t.example. IN AAAA 2001:db8::1\n"
	"exists6.t.example. IN TXT \"v=spf1 exists:%{ir}.%{v}.ok.t.example -all\"\n"
	"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.ok.t.example. IN A 127.0.0.2\n"
	"ptrmacro.t.example. IN TXT \"v=spf1 exists:%{p}.names.t.example -all\"\n"
	"amy.example.com.names.t.example. IN A 127.0.0.2\n"
	"$AUTHENTIC yes\n"
	"secure.t.example. IN TXT \"v=spf1 a -all\"\n"
	"secure.t.example. IN A 192.0.2.77\n"
	"$AUTHENTIC no\n";

static int
setup(void **state)
{
	(void)state;
	d = test_zone_dns(zone, sizeof(zone) - 1, zone_path);
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

static void
make_args(struct spf_args *a, const char *ip, const char *sender, char **local)
{
	const char *at = strrchr(sender, '@');

	memset(a, 0, sizeof(*a));
	a->ip = ip;
	*local = NULL;
	if (at != NULL) {
		*local = strndup(sender, (size_t)(at - sender));
		a->localpart = *local;
		a->domain = at + 1;
	} else
		a->domain = sender;
	a->helo = "helo.example.net";
	a->receiver = "mx.receiver.example";
	a->now = 1700000000;
}

/* spf_check for ip and "local@domain" (or "domain"); the outcome is freed
 * and the result returned, unless o is given. */
static enum spf_result
check(const char *ip, const char *sender, struct spf_outcome *o)
{
	struct spf_outcome tmp;
	struct spf_args a;
	enum spf_result r;
	char *local;

	make_args(&a, ip, sender, &local);
	r = spf_check(d, &a, o != NULL ? o : &tmp);
	if (o == NULL)
		spf_outcome_free(&tmp);
	free(local);
	return r;
}

/* The record given as the record of domain. */
static enum spf_result
check_rec(const char *record, const char *ip, const char *sender, struct spf_outcome *o)
{
	struct spf_outcome tmp;
	struct spf_args a;
	enum spf_result r;
	char *local;

	make_args(&a, ip, sender, &local);
	r = spf_check_record(d, &a, record, strlen(record), o != NULL ? o : &tmp);
	if (o == NULL)
		spf_outcome_free(&tmp);
	free(local);
	return r;
}

/* B.1: records for example.com and the hosts that pass. */
static void
test_appendix_b1(void **state)
{
	const char *dom = "example.com";

	(void)state;
	assert_int_equal(check_rec("v=spf1 +all", "198.51.100.99", dom, NULL), SPF_PASS);

	assert_int_equal(check_rec("v=spf1 a -all", "192.0.2.10", dom, NULL), SPF_PASS);
	assert_int_equal(check_rec("v=spf1 a -all", "192.0.2.11", dom, NULL), SPF_PASS);
	assert_int_equal(check_rec("v=spf1 a -all", "192.0.2.12", dom, NULL), SPF_FAIL);
	assert_int_equal(check_rec("v=spf1 a -all", "192.0.2.129", dom, NULL), SPF_FAIL);

	assert_int_equal(check_rec("v=spf1 a:example.org -all", "192.0.2.140", dom, NULL), SPF_FAIL);
	assert_int_equal(check_rec("v=spf1 a:example.org -all", "192.0.2.10", dom, NULL), SPF_FAIL);

	assert_int_equal(check_rec("v=spf1 mx -all", "192.0.2.129", dom, NULL), SPF_PASS);
	assert_int_equal(check_rec("v=spf1 mx -all", "192.0.2.130", dom, NULL), SPF_PASS);
	assert_int_equal(check_rec("v=spf1 mx -all", "192.0.2.10", dom, NULL), SPF_FAIL);

	assert_int_equal(check_rec("v=spf1 mx:example.org -all", "192.0.2.140", dom, NULL), SPF_PASS);
	assert_int_equal(check_rec("v=spf1 mx:example.org -all", "192.0.2.129", dom, NULL), SPF_FAIL);

	assert_int_equal(check_rec("v=spf1 mx mx:example.org -all", "192.0.2.129", dom, NULL), SPF_PASS);
	assert_int_equal(check_rec("v=spf1 mx mx:example.org -all", "192.0.2.130", dom, NULL), SPF_PASS);
	assert_int_equal(check_rec("v=spf1 mx mx:example.org -all", "192.0.2.140", dom, NULL), SPF_PASS);
	assert_int_equal(check_rec("v=spf1 mx mx:example.org -all", "192.0.2.141", dom, NULL), SPF_FAIL);

	/* 192.0.2.128/30 and 192.0.2.140/30 */
	assert_int_equal(check_rec("v=spf1 mx/30 mx:example.org/30 -all", "192.0.2.131", dom, NULL), SPF_PASS);
	assert_int_equal(check_rec("v=spf1 mx/30 mx:example.org/30 -all", "192.0.2.128", dom, NULL), SPF_PASS);
	assert_int_equal(check_rec("v=spf1 mx/30 mx:example.org/30 -all", "192.0.2.143", dom, NULL), SPF_PASS);
	assert_int_equal(check_rec("v=spf1 mx/30 mx:example.org/30 -all", "192.0.2.132", dom, NULL), SPF_FAIL);
	assert_int_equal(check_rec("v=spf1 mx/30 mx:example.org/30 -all", "192.0.2.144", dom, NULL), SPF_FAIL);

	/* ptr: valid and in example.com; valid but elsewhere; no valid name. */
	assert_int_equal(check_rec("v=spf1 ptr -all", "192.0.2.65", dom, NULL), SPF_PASS);
	assert_int_equal(check_rec("v=spf1 ptr -all", "192.0.2.10", dom, NULL), SPF_PASS);
	assert_int_equal(check_rec("v=spf1 ptr -all", "192.0.2.140", dom, NULL), SPF_FAIL);
	assert_int_equal(check_rec("v=spf1 ptr -all", "10.0.0.4", dom, NULL), SPF_FAIL);
	/* 10.2.0.22 has a PTR (mail.example.com) without a matching A. */
	assert_int_equal(check_rec("v=spf1 ptr -all", "10.2.0.22", dom, NULL), SPF_FAIL);

	assert_int_equal(check_rec("v=spf1 ip4:192.0.2.128/28 -all", "192.0.2.65", dom, NULL), SPF_FAIL);
	assert_int_equal(check_rec("v=spf1 ip4:192.0.2.128/28 -all", "192.0.2.129", dom, NULL), SPF_PASS);
}

/* B.2: include of two domains; redirect to a shared record. */
static void
test_appendix_b2(void **state)
{
	struct spf_outcome o;

	(void)state;
	assert_int_equal(check("192.0.2.10", "whatever@example.org", &o), SPF_PASS);
	assert_string_equal(o.mechanism, "include:example.com");
	assert_int_equal(o.lookups, 2);	/* include, a */
	spf_outcome_free(&o);
	assert_int_equal(check("192.0.2.129", "whatever@example.org", NULL), SPF_PASS);
	assert_int_equal(check("198.51.100.7", "whatever@example.org", &o), SPF_PASS);
	assert_string_equal(o.mechanism, "include:example.net");
	spf_outcome_free(&o);
	assert_int_equal(check("192.0.2.140", "whatever@example.org", &o), SPF_FAIL);
	assert_string_equal(o.mechanism, "-all");
	spf_outcome_free(&o);
	assert_int_equal(check("198.51.100.7", "x@la.example.org", &o), SPF_PASS);
	assert_string_equal(o.mechanism, "include:example.net");
	spf_outcome_free(&o);
	assert_int_equal(check("203.0.113.1", "x@ny.example.org", NULL), SPF_FAIL);
}

/* B.3: DNSBL style with exists and macros. */
static void
test_appendix_b3(void **state)
{
	const char *rec = "v=spf1 mx include:mobile-users._spf.%{d} "
		"include:remote-users._spf.%{d} -all";
	struct spf_outcome o;

	(void)state;
	assert_int_equal(check_rec(rec, "203.0.113.9", "mary@example.com", &o), SPF_PASS);
	assert_string_equal(o.mechanism, "include:mobile-users._spf.%{d}");
	spf_outcome_free(&o);
	assert_int_equal(check_rec(rec, "203.0.113.9", "fred+news@example.com", NULL), SPF_PASS);
	assert_int_equal(check_rec(rec, "192.168.15.15", "joel@example.com", NULL), SPF_PASS);
	assert_int_equal(check_rec(rec, "192.168.15.16", "joel@example.com", NULL), SPF_PASS);
	assert_int_equal(check_rec(rec, "192.168.15.17", "joel@example.com", &o), SPF_FAIL);
	assert_int_equal(o.void_lookups, 2);
	spf_outcome_free(&o);
	assert_int_equal(check_rec(rec, "203.0.113.9", "joel@example.com", NULL), SPF_FAIL);
	assert_int_equal(check_rec(rec, "192.0.2.129", "anyone@example.com", NULL), SPF_PASS);
}

/* B.4: -include as "not". Note that "ptr" in ptr._spf.example.com checks
 * names under ptr._spf.example.com (its <domain>), so it never matches the
 * example's hosts and only the address range decides here. */
static void
test_appendix_b4(void **state)
{
	const char *rec = "v=spf1 -include:ip4._spf.%{d} -include:ptr._spf.%{d} +all";
	struct spf_outcome o;

	(void)state;
	assert_int_equal(check_rec(rec, "10.0.0.4", "x@example.com", &o), SPF_FAIL);
	assert_string_equal(o.mechanism, "-include:ip4._spf.%{d}");
	spf_outcome_free(&o);
	assert_int_equal(check_rec(rec, "192.0.2.65", "x@example.com", &o), SPF_FAIL);
	assert_string_equal(o.mechanism, "-include:ptr._spf.%{d}");
	spf_outcome_free(&o);
}

static void
expect_expand(const struct spf_args *a, const char *macro, const char *want)
{
	struct buf b;
	const char *err = NULL;

	buf_init(&b);
	if (spf_macro_expand(NULL, a, a->domain, macro, strlen(macro), false, true, &b, &err) != 0)
		fail_msg("%s: %s", macro, err);
	if (strcmp(b.data, want) != 0)
		fail_msg("%s: got %s, want %s", macro, b.data, want);
	buf_free(&b);
}

/* 7.4 examples, sender strong-bad@email.example.com. */
static void
test_macro_examples(void **state)
{
	struct spf_args a;

	(void)state;
	memset(&a, 0, sizeof(a));
	a.ip = "192.0.2.3";
	a.localpart = "strong-bad";
	a.domain = "email.example.com";
	expect_expand(&a, "%{s}", "strong-bad@email.example.com");
	expect_expand(&a, "%{o}", "email.example.com");
	expect_expand(&a, "%{d}", "email.example.com");
	expect_expand(&a, "%{d4}", "email.example.com");
	expect_expand(&a, "%{d3}", "email.example.com");
	expect_expand(&a, "%{d2}", "example.com");
	expect_expand(&a, "%{d1}", "com");
	expect_expand(&a, "%{dr}", "com.example.email");
	expect_expand(&a, "%{d2r}", "example.email");
	expect_expand(&a, "%{l}", "strong-bad");
	expect_expand(&a, "%{l-}", "strong.bad");
	expect_expand(&a, "%{lr}", "strong-bad");
	expect_expand(&a, "%{lr-}", "bad.strong");
	expect_expand(&a, "%{l1r-}", "strong");
	expect_expand(&a, "%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com");
	expect_expand(&a, "%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com");
	expect_expand(&a, "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}",
		"bad.strong.lp.3.2.0.192.in-addr._spf.example.com");
	expect_expand(&a, "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}",
		"3.2.0.192.in-addr.strong.lp._spf.example.com");
	expect_expand(&a, "%{d2}.trusted-domains.example.net",
		"example.com.trusted-domains.example.net");
	a.ip = "2001:db8::cb01";
	expect_expand(&a, "%{ir}.%{v}._spf.%{d2}",
		"1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com");
	/* More: escapes, upper case, p without DNS, h, defaults. */
	expect_expand(&a, "%%%_%-", "% %20");
	a.localpart = "a b/c";
	expect_expand(&a, "%{L}", "a%20b%2Fc");
	expect_expand(&a, "%{l/}", "a b.c");
	a.localpart = NULL;
	expect_expand(&a, "%{l}.%{s}", "postmaster.postmaster@email.example.com");
	expect_expand(&a, "%{p}", "unknown");
	expect_expand(&a, "%{h}", "unknown");
	a.helo = "Mail.Example.NET";
	expect_expand(&a, "%{h}", "Mail.Example.NET");
	expect_expand(&a, "%{d9999999999}", "email.example.com");
	expect_expand(&a, "%{d1r}", "email");
}

static void
test_macro_explanation_and_errors(void **state)
{
	static const char *bad[] = {
		"%", "%{", "%{d", "%{x}", "%{d0}", "%{dr-x}", "%x", "%{c}", "%{r}",
		"%{t}", "a b", "caf\xc3\xa9", "%{d}%",
	};
	struct spf_args a;
	struct buf b;
	const char *err;
	size_t i;

	(void)state;
	memset(&a, 0, sizeof(a));
	a.ip = "::ffff:192.0.2.3";
	a.domain = "example.com";
	a.receiver = "mx.example.net";
	a.now = 1234567890;
	buf_init(&b);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = NULL;
		if (spf_macro_expand(NULL, &a, "example.com", bad[i], strlen(bad[i]), false, true,
			    &b, &err) == 0)
			fail_msg("%s was accepted as %s", bad[i], b.data);
		assert_non_null(err);
	}
	/* c, r, t and spaces are for explanations; an IPv4-mapped client
	 * is IPv4. */
	assert_int_equal(spf_macro_expand(NULL, &a, "example.com", "%{c} %{r} %{t} %{v} %{i}", 24,
		true, false, &b, &err), 0);
	assert_string_equal(b.data, "192.0.2.3 mx.example.net 1234567890 in-addr 192.0.2.3");
	buf_free(&b);
}

/* 7.3: expansions longer than 253 lose labels on the left; a macro bomb
 * is refused. */
static void
test_macro_truncation_and_bomb(void **state)
{
	struct spf_args a;
	struct buf b, macro;
	const char *err;
	size_t i;

	(void)state;
	memset(&a, 0, sizeof(a));
	a.ip = "192.0.2.3";
	a.localpart = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"; /* 63 */
	a.domain = "example.com";
	buf_init(&b);
	/* 5 x 64 + 11 = 331 bytes before truncation */
	assert_int_equal(spf_macro_expand(NULL, &a, a.domain, "%{l}.%{l}.%{l}.%{l}.%{l}.%{d}", 29,
		false, true, &b, &err), 0);
	assert_true(b.len <= 253);
	assert_int_equal(b.len, 3 * 64 + 11);
	assert_string_equal(b.data + b.len - 11, "example.com");
	assert_int_equal(b.data[0], 'a');
	buf_reset(&b);
	buf_init(&macro);
	for (i = 0; i < 2000; i++)
		buf_puts(&macro, "%{s}");
	assert_int_equal(spf_macro_expand(NULL, &a, a.domain, macro.data, macro.len, false, true,
		&b, &err), -1);
	assert_string_equal(err, "macro expansion too long");
	buf_free(&macro);
	buf_free(&b);
}

static void
test_lookup_limits(void **state)
{
	struct spf_outcome o;

	(void)state;
	assert_int_equal(check("192.0.2.1", "ten.t.example", &o), SPF_FAIL);
	assert_int_equal(o.lookups, 10);
	spf_outcome_free(&o);
	assert_int_equal(check("192.0.2.1", "eleven.t.example", &o), SPF_PERMERROR);
	assert_non_null(o.problem);
	assert_non_null(strstr(o.problem, "DNS-querying terms"));
	assert_null(o.mechanism);
	spf_outcome_free(&o);
	/* Recursion ends through the limit. */
	assert_int_equal(check("192.0.2.1", "loop.t.example", &o), SPF_PERMERROR);
	assert_int_equal(o.lookups, 11);
	spf_outcome_free(&o);
	assert_int_equal(check("192.0.2.1", "rloop.t.example", NULL), SPF_PERMERROR);
	assert_int_equal(check("192.0.2.1", "pingpong1.t.example", NULL), SPF_PERMERROR);
	/* Void lookups: two are fine, the third is a permerror. */
	assert_int_equal(check("192.0.2.1", "void2.t.example", &o), SPF_PASS);
	assert_int_equal(o.void_lookups, 2);
	spf_outcome_free(&o);
	assert_int_equal(check("192.0.2.1", "void3.t.example", &o), SPF_PERMERROR);
	assert_non_null(strstr(o.problem, "void"));
	spf_outcome_free(&o);
	/* More than 10 MX names. */
	assert_int_equal(check("192.0.2.1", "manymx.t.example", &o), SPF_PERMERROR);
	assert_non_null(strstr(o.problem, "MX"));
	spf_outcome_free(&o);
}

static void
test_dns_errors(void **state)
{
	struct spf_outcome o;

	(void)state;
	assert_int_equal(check("192.0.2.1", "x@sf.t.example", &o), SPF_TEMPERROR);
	assert_non_null(o.problem);
	assert_null(o.mechanism);
	spf_outcome_free(&o);
	assert_int_equal(check("192.0.2.1", "x@sfrec.t.example", NULL), SPF_TEMPERROR);
	assert_int_equal(check("192.0.2.1", "x@slowmx.t.example", NULL), SPF_TEMPERROR);
	/* An earlier match wins before the broken lookup. */
	assert_int_equal(check_rec("v=spf1 ip4:192.0.2.1 a:broken.t.example -all", "192.0.2.1",
		"sf.t.example", NULL), SPF_PASS);
	/* No record, no domain: none. */
	assert_int_equal(check("192.0.2.1", "x@nothing.t.example", &o), SPF_NONE);
	assert_null(o.mechanism);
	assert_null(o.problem);
	spf_outcome_free(&o);
	assert_int_equal(check("192.0.2.1", "x@notspf.t.example", NULL), SPF_NONE);
	/* 4.3: malformed or single-label domains are none without lookups. */
	assert_int_equal(check("192.0.2.1", "x@localhost", NULL), SPF_NONE);
	assert_int_equal(check("192.0.2.1", "x@a..b.example", NULL), SPF_NONE);
	assert_int_equal(check("192.0.2.1", "x@", NULL), SPF_NONE);
	assert_int_equal(check("192.0.2.1", "x@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example",
		NULL), SPF_NONE);
	/* A bad client address is a permerror, not a crash. */
	assert_int_equal(check("not-an-ip", "x@example.org", &o), SPF_PERMERROR);
	assert_non_null(o.problem);
	spf_outcome_free(&o);
}

static void
test_include_semantics(void **state)
{
	struct spf_outcome o;

	(void)state;
	assert_int_equal(check("192.0.2.1", "inctemp.t.example", NULL), SPF_TEMPERROR);
	assert_int_equal(check("192.0.2.1", "incnone.t.example", &o), SPF_PERMERROR);
	assert_non_null(strstr(o.problem, "nothing.t.example"));
	spf_outcome_free(&o);
	assert_int_equal(check("192.0.2.1", "incperm.t.example", NULL), SPF_PERMERROR);
	/* fail, softfail and neutral inside: no match. */
	assert_int_equal(check("192.0.2.1", "incfail.t.example", &o), SPF_NEUTRAL);
	assert_string_equal(o.mechanism, "?all");
	spf_outcome_free(&o);
	assert_int_equal(check("192.0.2.1", "incsoft.t.example", NULL), SPF_FAIL);
	/* pass inside: the include matches with its own qualifier. */
	assert_int_equal(check("192.0.2.1", "incpass.t.example", &o), SPF_FAIL);
	assert_string_equal(o.mechanism, "-include:i11.t.example");
	assert_null(o.explanation);
	spf_outcome_free(&o);
}

static void
test_redirect_and_exp(void **state)
{
	struct spf_outcome o;

	(void)state;
	assert_int_equal(check("192.0.2.9", "x@redir.t.example", &o), SPF_PASS);
	assert_string_equal(o.mechanism, "ip4:192.0.2.0/24");
	assert_int_equal(o.lookups, 1);
	spf_outcome_free(&o);
	/* The target's exp= is used with the target as %{d}, not ours. */
	assert_int_equal(check("198.51.100.4", "x@redir.t.example", &o), SPF_FAIL);
	assert_string_equal(o.mechanism, "-all");
	assert_string_equal(o.explanation, "198.51.100.4 is not allowed to send for "
		"target.t.example (198.51.100.4 at mx.receiver.example)");
	spf_outcome_free(&o);
	assert_int_equal(check("198.51.100.4", "x@redirnone.t.example", &o), SPF_PERMERROR);
	assert_non_null(strstr(o.problem, "redirect"));
	spf_outcome_free(&o);
	/* A mechanism that matches (all) makes redirect unused. */
	assert_int_equal(check("198.51.100.4", "x@redirall.t.example", &o), SPF_NEUTRAL);
	assert_string_equal(o.mechanism, "?all");
	spf_outcome_free(&o);
	/* exp= with macros in name and text (upper case escapes). */
	assert_int_equal(check("198.51.100.4", "bob@expfail.t.example", &o), SPF_FAIL);
	assert_string_equal(o.explanation,
		"Sorry bob, see http://example/why?s=bob%40expfail.t.example");
	spf_outcome_free(&o);
	/* Missing explanation record or two of them: no explanation. */
	assert_int_equal(check("198.51.100.4", "alice@expfail.t.example", &o), SPF_FAIL);
	assert_null(o.explanation);
	spf_outcome_free(&o);
	assert_int_equal(check("198.51.100.4", "alice@badexp.t.example", &o), SPF_FAIL);
	assert_null(o.explanation);
	spf_outcome_free(&o);
	/* No mechanism matched and no redirect: neutral, "default". */
	assert_int_equal(check_rec("v=spf1 ip4:10.0.0.0/8", "192.0.2.1", "x.t.example", &o),
		SPF_NEUTRAL);
	assert_string_equal(o.mechanism, "default");
	spf_outcome_free(&o);
}

static void
test_records(void **state)
{
	struct spf_outcome o;

	(void)state;
	assert_int_equal(check("192.0.2.1", "multi.t.example", &o), SPF_PERMERROR);
	assert_non_null(strstr(o.problem, "2 SPF records"));
	spf_outcome_free(&o);
	assert_int_equal(check("192.0.2.1", "other.t.example", NULL), SPF_PASS);
	assert_int_equal(check("192.0.2.1", "upper.t.example", NULL), SPF_PASS);
	assert_int_equal(check("192.0.2.2", "upper.t.example", NULL), SPF_FAIL);
	assert_int_equal(check("192.0.2.1", "syntax.t.example", &o), SPF_PERMERROR);
	assert_non_null(strstr(o.problem, "foo"));
	spf_outcome_free(&o);
	/* Dual CIDR lengths and IPv6. */
	assert_int_equal(check("192.0.2.1", "dual.t.example", NULL), SPF_PASS);
	assert_int_equal(check("192.0.3.1", "dual.t.example", NULL), SPF_FAIL);
	assert_int_equal(check("2001:db8::ffff", "dual.t.example", NULL), SPF_PASS);
	assert_int_equal(check("2001:db8:0:1::1", "dual.t.example", NULL), SPF_FAIL);
	assert_int_equal(check("::ffff:192.0.2.99", "dual.t.example", NULL), SPF_PASS);
	/* exists is an A lookup also for IPv6 clients. */
	assert_int_equal(check("2001:db8::1", "exists6.t.example", NULL), SPF_PASS);
	assert_int_equal(check("2001:db8::2", "exists6.t.example", NULL), SPF_FAIL);
	/* %{p}: the validated name. */
	assert_int_equal(check("192.0.2.65", "ptrmacro.t.example", NULL), SPF_PASS);
	assert_int_equal(check("192.0.2.66", "ptrmacro.t.example", NULL), SPF_FAIL);
	/* ip4/ip6 against the other family; ip6 ranges. */
	assert_int_equal(check_rec("v=spf1 ip4:0.0.0.0/0 -all", "2001:db8::1", "x.t.example", NULL),
		SPF_FAIL);
	assert_int_equal(check_rec("v=spf1 ip6:2001:db8::/32 -all", "2001:db8:ffff::1",
		"x.t.example", NULL), SPF_PASS);
	assert_int_equal(check_rec("v=spf1 ip6:::/0 ~all", "192.0.2.1", "x.t.example", NULL),
		SPF_SOFTFAIL);
	assert_int_equal(check_rec("v=spf1 unknown=%{l}x foo.bar=1 +all", "192.0.2.1",
		"x.t.example", NULL), SPF_PASS);
}

static void
test_malformed(void **state)
{
	static const char *bad[] = {
		"v=spf1 foo", "v=spf1 -", "v=spf1 a:", "v=spf1 include", "v=spf1 include:",
		"v=spf1 ip4:192.0.2.1/33", "v=spf1 ip4:192.0.2.1/024", "v=spf1 ip4:300.1.1.1",
		"v=spf1 ip4:192.0.2.1//64", "v=spf1 ip6:2001:db8::/129", "v=spf1 ip6:192.0.2.1",
		"v=spf1 ip6", "v=spf1 a/33", "v=spf1 a//129", "v=spf1 a/24/64", "v=spf1 a/",
		"v=spf1 mx:example.com/24//", "v=spf1 ptr/24", "v=spf1 all:foo", "v=spf1 allx",
		"v=spf1 redirect=a.example redirect=b.example", "v=spf1 exp=a.example exp=b.example",
		"v=spf1 -redirect=a.example", "v=spf1 a:1.2.3.4", "v=spf1 a:example.-com",
		"v=spf1 exists:%{x}.example.com", "v=spf1 exists:%{d0}.example.com",
		"v=spf1 a:%{c}.example.com", "v=spf1 1x=y", "v=spf1 =y",
		"v=spf1 exists:example", "v=spf1 include:ex%ample.com", "v=spf1 -all\t",
	};
	static const char *good[] = {
		"v=spf1", "v=spf1 ", "v=spf1  -all  ", "v=spf1 a mx ptr -all",
		"v=spf1 a:example.com/24//64 mx/24 mx//64 ?all", "v=spf1 ip4:192.0.2.1/0",
		"v=spf1 ip6:::1/128 ip6:2001:db8::/32", "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d}",
		"v=spf1 include:example.com. redirect=%{d}", "v=spf1 exp=explain._spf.%{d} -all",
		"v=spf1 x-custom=%{l}%% -all", "V=SPF1 A:EXAMPLE.COM -ALL", "v=spf1 a:x.123-456",
		"v=spf1 a:example.com/24",
	};
	const char *err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = NULL;
		if (spf_record_check(bad[i], strlen(bad[i]), &err) == 0)
			fail_msg("accepted: %s", bad[i]);
		assert_non_null(err);
		/* And evaluating it is a permerror. */
		assert_int_equal(check_rec(bad[i], "192.0.2.1", "x.t.example", NULL), SPF_PERMERROR);
	}
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (spf_record_check(good[i], strlen(good[i]), &err) != 0)
			fail_msg("refused: %s: %s", good[i], err);
	}
	assert_int_equal(spf_record_check("v=spf1 -all\0x", 13, &err), -1);
	assert_int_equal(spf_record_check("v=spf2 -all", 11, &err), -1);
	/* Not an SPF record at all (4.5: "v=spf1" then SP or the end). */
	assert_int_equal(spf_record_check("v=spf1\t-all", 11, &err), -1);
	assert_int_equal(check_rec("v=spf1\t-all", "192.0.2.1", "x.t.example", NULL), SPF_NONE);
	assert_int_equal(spf_record_check("spf1", 4, &err), -1);
}

/* A huge record: parsed, evaluated and bounded. */
static void
test_huge_record(void **state)
{
	struct spf_outcome o;
	struct buf b;
	size_t i;

	(void)state;
	buf_init(&b);
	buf_puts(&b, "v=spf1");
	for (i = 0; i < 5000; i++)
		buf_printf(&b, " ip4:10.%zu.%zu.0/24", (i / 250) % 250, i % 250);
	buf_puts(&b, " exists:%{s}%{s}%{s}%{s}%{s}.x.t.example -all");
	assert_int_equal(spf_record_check(b.data, b.len, &(const char *){ NULL }), 0);
	assert_int_equal(check_rec(b.data, "10.3.4.5", "x@x.t.example", NULL), SPF_PASS);
	assert_int_equal(check_rec(b.data, "192.0.2.1", "x@x.t.example", &o), SPF_FAIL);
	assert_int_equal(o.lookups, 1);
	spf_outcome_free(&o);
	buf_reset(&b);
	buf_puts(&b, "v=spf1");
	for (i = 0; i < 5000; i++)
		buf_puts(&b, " a");
	assert_int_equal(check_rec(b.data, "192.0.2.1", "x@x.t.example", &o), SPF_PERMERROR);
	spf_outcome_free(&o);
	buf_free(&b);
}

static void
test_authentic(void **state)
{
	struct spf_outcome o;

	(void)state;
	assert_int_equal(check("192.0.2.77", "secure.t.example", &o), SPF_PASS);
	assert_true(o.authentic);
	spf_outcome_free(&o);
	/* Every answer (TXT, A) came from the authentic part. */
	assert_int_equal(check("192.0.2.78", "secure.t.example", &o), SPF_FAIL);
	assert_true(o.authentic);
	spf_outcome_free(&o);
	assert_int_equal(check("192.0.2.10", "example.org", &o), SPF_PASS);
	assert_false(o.authentic);
	spf_outcome_free(&o);
}

static void
assert_folded(const char *h)
{
	const char *p = h, *nl;

	assert_true(strlen(h) > 2 && strcmp(h + strlen(h) - 2, "\r\n") == 0);
	while ((nl = strstr(p, "\r\n")) != NULL) {
		size_t cols = 0;
		const char *q;

		for (q = p; q < nl; q++)
			cols += *q == '\t' ? 8 : 1;
		/* Only a single word too long for any line may pass 78. */
		if (cols > 78 && (p == h || memchr(p + 1, ' ', (size_t)(nl - p - 1)) != NULL))
			fail_msg("line longer than 78 columns: %.*s", (int)(nl - p), p);
		if (p != h)
			assert_true(*p == ' ' || *p == '\t');
		p = nl + 2;
	}
	assert_int_equal(*p, '\0');
}

static void
test_received_header(void **state)
{
	struct spf_outcome o;
	struct spf_args a;
	struct buf b;
	char *local;

	(void)state;
	buf_init(&b);
	make_args(&a, "192.0.2.10", "whatever@example.org", &local);
	spf_check(d, &a, &o);
	spf_received_header(&b, &a, "mailfrom", &o);
	assert_string_equal(b.data,
		"Received-SPF: pass (mx.receiver.example: domain of whatever@example.org\r\n"
		"\tdesignates 192.0.2.10 as permitted sender) client-ip=192.0.2.10;\r\n"
		"\tenvelope-from=\"whatever@example.org\"; helo=helo.example.net;\r\n"
		"\treceiver=mx.receiver.example; identity=mailfrom;\r\n"
		"\tmechanism=\"include:example.com\"\r\n");
	assert_folded(b.data);
	spf_outcome_free(&o);
	free(local);

	buf_reset(&b);
	make_args(&a, "2001:db8::1", "x@eleven.t.example", &local);
	spf_check(d, &a, &o);
	spf_received_header(&b, &a, "mailfrom", &o);
	assert_non_null(strstr(b.data, "Received-SPF: permerror ("));
	assert_non_null(strstr(b.data, "client-ip=\"2001:db8::1\";"));
	assert_non_null(strstr(b.data, "problem=\"more than 10 DNS-querying terms\""));
	assert_null(strstr(b.data, "mechanism="));
	assert_folded(b.data);
	spf_outcome_free(&o);
	free(local);

	/* Quotes, parentheses and backslashes are escaped; long values
	 * still fold. */
	buf_reset(&b);
	make_args(&a, "192.0.2.1", "we\"ird)(\\@nothing.t.example", &local);
	a.helo = "a-very-long-helo-name-that-goes-on-and-on.subdomain.subdomain.example.net";
	spf_check(d, &a, &o);
	spf_received_header(&b, &a, "helo", &o);
	assert_non_null(strstr(b.data, "Received-SPF: none ("));
	assert_non_null(strstr(b.data, "we\"ird\\)\\(\\\\@nothing.t.example"));
	assert_non_null(strstr(b.data, "envelope-from=\"we\\\"ird)(\\\\@nothing.t.example\";"));
	assert_non_null(strstr(b.data, "identity=helo"));
	assert_folded(b.data);
	spf_outcome_free(&o);
	free(local);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_appendix_b1),
		cmocka_unit_test(test_appendix_b2),
		cmocka_unit_test(test_appendix_b3),
		cmocka_unit_test(test_appendix_b4),
		cmocka_unit_test(test_macro_examples),
		cmocka_unit_test(test_macro_explanation_and_errors),
		cmocka_unit_test(test_macro_truncation_and_bomb),
		cmocka_unit_test(test_lookup_limits),
		cmocka_unit_test(test_dns_errors),
		cmocka_unit_test(test_include_semantics),
		cmocka_unit_test(test_redirect_and_exp),
		cmocka_unit_test(test_records),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_huge_record),
		cmocka_unit_test(test_authentic),
		cmocka_unit_test(test_received_header),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
