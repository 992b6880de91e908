/* lib/net/dns in test mode: answers from a zone file, offline. */
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

#include "net/dns.h"
#include "test_zone.h"

static char zone_path[] = "/tmp/test_dns_zoneXXXXXX";
static struct dns *d;

static const char zone[] =
	"; test zone\n"
	"$AUTHENTIC yes\n"
	"example.org. 300 IN MX 10 mail.example.org.\n"
	"example.org. 300 IN MX 20 backup.example.net.\n"
	"mail.example.org. IN A 192.0.2.10\n"
	"mail.example.org. IN AAAA 2001:db8::10\n"
	"_25._tcp.mail.example.org. IN TLSA 3 1 1 "
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
	"$AUTHENTIC no\n"
	"example.org. IN TXT \"v=spf1 \" \"ip4:192.0.2.0/24 -all\" ; two strings\n"
	"alias.example.org. IN CNAME mail.example.org.\n"
	"10.2.0.192.in-addr.arpa. IN PTR mail.example.org.\n"
	"0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. IN PTR mail.example.org.\n"
	"xn--bcher-kva.example. IN A 192.0.2.20\n"
	"nullmx.example. IN MX 0 .\n"
	"_submissions._tcp.example.org. IN SRV 0 1 465 mail.example.org.\n"
	"$SERVFAIL broken.example.org\n"
	"$TIMEOUT slow.example.org.\n"
	"$SECURE-ZONE secure.example\n"
	"www.secure.example. IN A 192.0.2.30\n";

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
test_mx_sorted_fields(void **state)
{
	struct dns_answer a;
	size_t i;
	int seen = 0;

	(void)state;
	assert_int_equal(dns_lookup(d, "Example.ORG.", DNS_MX, &a), DNS_OK);
	assert_true(dns_is_test_mode(d));
	assert_int_equal(a.n, 2);
	assert_true(a.authentic);
	for (i = 0; i < a.n; i++) {
		if (a.rr[i].pref == 10) {
			assert_string_equal(a.rr[i].text, "mail.example.org");
			seen |= 1;
		} else {
			assert_int_equal(a.rr[i].pref, 20);
			assert_string_equal(a.rr[i].text, "backup.example.net");
			seen |= 2;
		}
	}
	assert_int_equal(seen, 3);
	dns_answer_free(&a);
	assert_int_equal(dns_lookup(d, "nullmx.example", DNS_MX, &a), DNS_OK);
	assert_int_equal(a.n, 1);
	assert_int_equal(a.rr[0].pref, 0);
	assert_string_equal(a.rr[0].text, "");
	assert_false(a.authentic);
	dns_answer_free(&a);
}

static void
test_addresses_and_cname(void **state)
{
	struct dns_answer a;

	(void)state;
	assert_int_equal(dns_lookup(d, "mail.example.org", DNS_A, &a), DNS_OK);
	assert_int_equal(a.n, 1);
	assert_string_equal(a.rr[0].text, "192.0.2.10");
	dns_answer_free(&a);
	assert_int_equal(dns_lookup(d, "mail.example.org", DNS_AAAA, &a), DNS_OK);
	assert_string_equal(a.rr[0].text, "2001:db8::10");
	dns_answer_free(&a);
	/* The CNAME is followed; the canonical name is the target. */
	assert_int_equal(dns_lookup(d, "alias.example.org", DNS_A, &a), DNS_OK);
	assert_string_equal(a.rr[0].text, "192.0.2.10");
	assert_string_equal(a.canonical, "mail.example.org");
	dns_answer_free(&a);
	assert_int_equal(dns_lookup(d, "alias.example.org", DNS_CNAME, &a), DNS_OK);
	assert_string_equal(a.rr[0].text, "mail.example.org");
	dns_answer_free(&a);
	/* A Unicode name is looked up by its A-labels. */
	assert_int_equal(dns_lookup(d, "b\xc3\xbc" "cher.example", DNS_A, &a), DNS_OK);
	assert_string_equal(a.rr[0].text, "192.0.2.20");
	dns_answer_free(&a);
}

/* Answers come from the result cache the second time: equal contents,
 * separate memory (freeing one leaves the other intact). */
static void
test_cache(void **state)
{
	struct dns_answer a, b;

	(void)state;
	assert_int_equal(dns_lookup(d, "mail.example.org", DNS_AAAA, &a), DNS_OK);
	assert_int_equal(dns_lookup(d, "MAIL.example.org.", DNS_AAAA, &b), DNS_OK);
	assert_int_equal(a.n, b.n);
	assert_string_equal(a.rr[0].text, b.rr[0].text);
	assert_true(a.rr[0].text != b.rr[0].text);
	assert_true(b.ttl <= a.ttl);
	assert_int_equal(a.authentic, b.authentic);
	dns_answer_free(&a);
	assert_string_equal(b.rr[0].text, "2001:db8::10");
	dns_answer_free(&b);
	/* Negative answers too; errors are not cached (still temporary). */
	assert_int_equal(dns_lookup(d, "nothere2.example.org", DNS_A, &a), DNS_NXDOMAIN);
	dns_answer_free(&a);
	assert_int_equal(dns_lookup(d, "nothere2.example.org", DNS_A, &a), DNS_NXDOMAIN);
	dns_answer_free(&a);
	assert_int_equal(dns_lookup(d, "broken.example.org", DNS_A, &a), DNS_TEMPERROR);
	dns_answer_free(&a);
	assert_int_equal(dns_lookup(d, "broken.example.org", DNS_A, &a), DNS_TEMPERROR);
	dns_answer_free(&a);
}

static void
test_srv(void **state)
{
	struct dns_answer a;

	(void)state;
	assert_int_equal(dns_lookup(d, "_submissions._tcp.example.org", DNS_SRV, &a), DNS_OK);
	assert_int_equal(a.n, 1);
	assert_int_equal(a.rr[0].pref, 0);
	assert_int_equal(a.rr[0].weight, 1);
	assert_int_equal(a.rr[0].port, 465);
	assert_string_equal(a.rr[0].text, "mail.example.org");
	dns_answer_free(&a);
}

static void
test_txt_concatenated(void **state)
{
	struct dns_answer a;

	(void)state;
	assert_int_equal(dns_lookup(d, "example.org", DNS_TXT, &a), DNS_OK);
	assert_int_equal(a.n, 1);
	assert_string_equal(a.rr[0].text, "v=spf1 ip4:192.0.2.0/24 -all");
	assert_int_equal(a.rr[0].text_len, strlen("v=spf1 ip4:192.0.2.0/24 -all"));
	assert_false(a.authentic);
	dns_answer_free(&a);
}

static void
test_ptr_and_tlsa(void **state)
{
	struct dns_answer a;
	char *r;

	(void)state;
	assert_int_equal(dns_lookup_ptr(d, "192.0.2.10", &a), DNS_OK);
	assert_string_equal(a.rr[0].text, "mail.example.org");
	dns_answer_free(&a);
	assert_int_equal(dns_lookup_ptr(d, "2001:db8::10", &a), DNS_OK);
	assert_string_equal(a.rr[0].text, "mail.example.org");
	dns_answer_free(&a);
	assert_int_equal(dns_lookup_ptr(d, "not-an-ip", &a), DNS_PERMERROR);
	dns_answer_free(&a);
	r = dns_reverse_name("192.0.2.1");
	assert_string_equal(r, "1.2.0.192.in-addr.arpa");
	free(r);
	assert_int_equal(dns_lookup(d, "_25._tcp.mail.example.org", DNS_TLSA, &a), DNS_OK);
	assert_true(a.authentic);
	assert_int_equal(a.rr[0].usage, 3);
	assert_int_equal(a.rr[0].selector, 1);
	assert_int_equal(a.rr[0].mtype, 1);
	assert_int_equal(a.rr[0].data_len, 32);
	assert_int_equal(a.rr[0].data[0], 0x01);
	assert_int_equal(a.rr[0].data[31], 0xef);
	dns_answer_free(&a);
}

static void
test_negative_and_errors(void **state)
{
	struct dns_answer a;

	(void)state;
	assert_int_equal(dns_lookup(d, "nothere.example.org", DNS_A, &a), DNS_NXDOMAIN);
	assert_false(a.authentic);
	dns_answer_free(&a);
	assert_int_equal(dns_lookup(d, "mail.example.org", DNS_TXT, &a), DNS_NODATA);
	dns_answer_free(&a);
	assert_int_equal(dns_lookup(d, "broken.example.org", DNS_TXT, &a), DNS_TEMPERROR);
	assert_non_null(a.error);
	dns_answer_free(&a);
	assert_int_equal(dns_lookup(d, "SLOW.example.org", DNS_A, &a), DNS_TEMPERROR);
	dns_answer_free(&a);
	assert_int_equal(dns_lookup(d, "a..b", DNS_A, &a), DNS_PERMERROR);
	dns_answer_free(&a);
	assert_int_equal(dns_lookup(d, "", DNS_A, &a), DNS_PERMERROR);
	dns_answer_free(&a);
	{
		char longlabel[80];

		memset(longlabel, 'a', 64);
		strcpy(longlabel + 64, ".example");
		assert_int_equal(dns_lookup(d, longlabel, DNS_A, &a), DNS_PERMERROR);
		dns_answer_free(&a);
	}
	/* Denial of existence in a secure zone is authentic. */
	assert_int_equal(dns_lookup(d, "none.secure.example", DNS_TLSA, &a), DNS_NXDOMAIN);
	assert_true(a.authentic);
	dns_answer_free(&a);
	assert_int_equal(dns_lookup(d, "www.secure.example", DNS_A, &a), DNS_OK);
	assert_true(a.authentic);
	dns_answer_free(&a);
}

static void
test_bad_zone_file(void **state)
{
	char path[] = "/tmp/test_dns_badXXXXXX";
	const char bad[] = "ok.example. IN A 192.0.2.1\nthis is not a record\n";
	const char *err = NULL;
	struct dns_options o;
	struct dns *b;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, bad, sizeof(bad) - 1), (ssize_t)(sizeof(bad) - 1));
	close(fd);
	memset(&o, 0, sizeof(o));
	o.zone_file = path;
	b = dns_new(&o, &err);
	assert_null(b);
	assert_non_null(strstr(err, ":2:"));
	unlink(path);
	o.zone_file = "/nonexistent/zone";
	assert_null(dns_new(&o, &err));
	assert_non_null(strstr(err, "/nonexistent/zone"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mx_sorted_fields),
		cmocka_unit_test(test_addresses_and_cname),
		cmocka_unit_test(test_txt_concatenated),
		cmocka_unit_test(test_srv),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_ptr_and_tlsa),
		cmocka_unit_test(test_negative_and_errors),
		cmocka_unit_test(test_bad_zone_file),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
