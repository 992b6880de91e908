/* Unit tests for lib/mailauth/tlspolicy.c: the requirements decided for an
 * MX host from MTA-STS (given as a parsed policy, no fetch), DANE (from a
 * test zone) and the sender's REQUIRETLS / TLS-Required: No, and the
 * fallback rules after a failed STARTTLS. No database is touched. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/x509_vfy.h>

#include "core/util.h"
#include "mailauth/tlspolicy.h"
#include "net/dns.h"
#include "test_zone.h"

static const char zone[] =
	"$AUTHENTIC yes\n"
	"mx.dane.example. IN A 192.0.2.1\n"
	"_25._tcp.mx.dane.example. IN TLSA 3 1 1 "
	"8D02536C887482BC34FF54E41D2BA659BF85B341A0A20AFADB5813DCFBCF286D\n"
	"mx.broken.example. IN A 192.0.2.2\n"
	"mx.signed.example. IN A 192.0.2.3\n"
	"$AUTHENTIC no\n"
	"mx.plain.example. IN A 192.0.2.4\n"
	"$SECURE-ZONE signed.example\n"
	"$SERVFAIL _25._tcp.mx.broken.example\n";

static char zone_path[] = "/tmp/test_tlspolicy_zoneXXXXXX";
static struct dns *d;
static struct tlspolicy *tp;

static int
setup(void **state)
{
	struct tlspolicy_config c;
	const char *err = NULL;

	(void)state;
	d = test_zone_dns(zone, sizeof(zone) - 1, zone_path);
	if (d == NULL)
		return -1;
	memset(&c, 0, sizeof(c));
	c.dns = d;
	tp = tlspolicy_new(&c, &err);
	return tp == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	tlspolicy_free(&tp);
	dns_free(&d);
	unlink(zone_path);
	return 0;
}

/* A domain state as tlspolicy_domain_begin leaves it, with policy text
 * (NULL: no MTA-STS policy). */
static void
domain(struct tlspolicy_domain *dom, const char *policy, enum tlspolicy_sender sender)
{
	const char *err = NULL;

	memset(dom, 0, sizeof(*dom));
	dom->domain = xstrdup("example.com");
	dom->sender = sender;
	if (policy != NULL) {
		assert_int_equal(mtasts_policy_parse(policy, strlen(policy), &dom->sts.policy, &err), 0);
		dom->sts.have_policy = true;
		dom->sts.policy_text = xstrdup(policy);
		dom->sts_enforce = dom->sts.policy.mode == MTASTS_MODE_ENFORCE;
		dom->sts_testing = dom->sts.policy.mode == MTASTS_MODE_TESTING;
	}
}

#define ENFORCE "version: STSv1\nmode: enforce\nmx: *.dane.example\nmx: mx.plain.example\n" \
	"mx: mx.broken.example\nmax_age: 600\n"
#define TESTING "version: STSv1\nmode: testing\nmx: mx.plain.example\nmax_age: 600\n"

static void
test_no_policy(void **state)
{
	struct tlspolicy_domain dom;
	struct tlspolicy_host h;

	(void)state;
	domain(&dom, NULL, TLSPOLICY_SENDER_DEFAULT);
	tlspolicy_host_begin(tp, &dom, "mx.plain.example", false, &h);
	assert_false(h.skip);
	assert_int_equal(h.tls, TLSPOLICY_TLS_OPPORTUNISTIC);
	assert_false(h.pkix || h.dane || h.pkix_report);
	assert_string_equal(tlspolicy_host_mode(&h), "opportunistic");
	/* No STARTTLS offered: plaintext is allowed, not a failed session. */
	assert_true(tlspolicy_tls_failed(&h, true, NULL));
	assert_int_equal(h.result, TLSRPT_STARTTLS_NOT_SUPPORTED);
	assert_false(h.failed);
	tlspolicy_host_end(&h);
	tlspolicy_domain_end(&dom);
}

static void
test_mtasts_enforce(void **state)
{
	struct tlspolicy_domain dom;
	struct tlspolicy_host h;

	(void)state;
	domain(&dom, ENFORCE, TLSPOLICY_SENDER_DEFAULT);
	/* A listed host: STARTTLS with PKIX, no plaintext fallback. */
	tlspolicy_host_begin(tp, &dom, "MX.Plain.Example", false, &h);
	assert_false(h.skip);
	assert_int_equal(h.tls, TLSPOLICY_TLS_REQUIRED);
	assert_true(h.pkix);
	assert_false(h.dane);
	assert_string_equal(tlspolicy_host_mode(&h), "required+pkix");
	assert_false(tlspolicy_tls_failed(&h, true, NULL));
	assert_true(h.failed);
	tlspolicy_host_end(&h);
	/* A host not in the policy is not used. */
	tlspolicy_host_begin(tp, &dom, "mx.other.example", false, &h);
	assert_true(h.skip);
	assert_false(h.skip_permanent);
	assert_true(h.mx_mismatch);
	assert_int_equal(h.result, TLSRPT_VALIDATION_FAILURE);
	assert_string_equal(h.result_reason, "mtasts-policy-mx-mismatch");
	tlspolicy_host_end(&h);
	/* Wildcard pattern, DNSSEC host with TLSA: DANE takes precedence
	 * over PKIX (RFC 8461 section 2). */
	tlspolicy_host_begin(tp, &dom, "mx.dane.example", true, &h);
	assert_false(h.skip);
	assert_true(h.dane);
	assert_false(h.pkix);
	assert_int_equal(h.tls, TLSPOLICY_TLS_REQUIRED);
	tlspolicy_host_end(&h);
	tlspolicy_domain_end(&dom);

	/* TLS-Required: No: the mismatch and the requirements are ignored. */
	domain(&dom, ENFORCE, TLSPOLICY_SENDER_TLS_OPTIONAL);
	tlspolicy_host_begin(tp, &dom, "mx.other.example", false, &h);
	assert_false(h.skip);
	assert_int_equal(h.tls, TLSPOLICY_TLS_OPPORTUNISTIC);
	assert_true(h.ignore_verify_errors);
	assert_true(tlspolicy_tls_failed(&h, false, "handshake failed"));
	tlspolicy_host_end(&h);
	tlspolicy_domain_end(&dom);
}

static void
test_mtasts_testing(void **state)
{
	struct tlspolicy_domain dom;
	struct tlspolicy_host h;

	(void)state;
	domain(&dom, TESTING, TLSPOLICY_SENDER_DEFAULT);
	/* Not listed: used anyway, the mismatch only reported. */
	tlspolicy_host_begin(tp, &dom, "mx.signed.example", false, &h);
	assert_false(h.skip);
	assert_true(h.mx_mismatch);
	assert_int_equal(h.tls, TLSPOLICY_TLS_OPPORTUNISTIC);
	assert_true(h.pkix_report);
	assert_false(h.pkix);
	tlspolicy_host_end(&h);
	tlspolicy_domain_end(&dom);
}

static void
test_dane(void **state)
{
	struct tlspolicy_domain dom;
	struct tlspolicy_host h;

	(void)state;
	domain(&dom, NULL, TLSPOLICY_SENDER_DEFAULT);
	tlspolicy_host_begin(tp, &dom, "mx.dane.example", true, &h);
	assert_int_equal(h.dh.status, DANE_REQUIRED);
	assert_true(h.dane);
	assert_string_equal(tlspolicy_host_mode(&h), "required+dane");
	assert_false(tlspolicy_tls_failed(&h, true, NULL));
	assert_int_equal(h.result, TLSRPT_STARTTLS_NOT_SUPPORTED);
	tlspolicy_host_end(&h);
	/* Insecure MX lookup: no DANE even with TLSA records. */
	tlspolicy_host_begin(tp, &dom, "mx.dane.example", false, &h);
	assert_int_equal(h.dh.status, DANE_NONE);
	assert_int_equal(h.tls, TLSPOLICY_TLS_OPPORTUNISTIC);
	tlspolicy_host_end(&h);
	/* A failing TLSA lookup of a signed host: not used now. */
	tlspolicy_host_begin(tp, &dom, "mx.broken.example", true, &h);
	assert_true(h.skip);
	assert_false(h.skip_permanent);
	assert_int_equal(h.result, TLSRPT_DNSSEC_INVALID);
	tlspolicy_host_end(&h);
	tlspolicy_domain_end(&dom);
	/* ... unless TLS-Required: No. */
	domain(&dom, NULL, TLSPOLICY_SENDER_TLS_OPTIONAL);
	tlspolicy_host_begin(tp, &dom, "mx.broken.example", true, &h);
	assert_false(h.skip);
	assert_int_equal(h.tls, TLSPOLICY_TLS_OPPORTUNISTIC);
	tlspolicy_host_end(&h);
	tlspolicy_domain_end(&dom);
}

static void
test_requiretls(void **state)
{
	struct tlspolicy_domain dom;
	struct tlspolicy_host h;

	(void)state;
	domain(&dom, NULL, TLSPOLICY_SENDER_REQUIRETLS);
	/* Unsigned MX, no policy, no DANE: cannot be met, permanently. */
	tlspolicy_host_begin(tp, &dom, "mx.plain.example", false, &h);
	assert_true(h.skip);
	assert_true(h.skip_permanent);
	tlspolicy_host_end(&h);
	/* Signed MX records: PKIX with the host name (RFC 8689 4.2.1). */
	tlspolicy_host_begin(tp, &dom, "mx.signed.example", true, &h);
	assert_false(h.skip);
	assert_true(h.pkix);
	assert_int_equal(h.tls, TLSPOLICY_TLS_REQUIRED);
	tlspolicy_host_end(&h);
	/* DANE is enough. */
	tlspolicy_host_begin(tp, &dom, "mx.dane.example", true, &h);
	assert_false(h.skip);
	assert_true(h.dane);
	tlspolicy_host_end(&h);
	tlspolicy_domain_end(&dom);
	/* MTA-STS enforce is enough with an unsigned MX. */
	domain(&dom, ENFORCE, TLSPOLICY_SENDER_REQUIRETLS);
	tlspolicy_host_begin(tp, &dom, "mx.plain.example", false, &h);
	assert_false(h.skip);
	assert_true(h.pkix);
	tlspolicy_host_end(&h);
	tlspolicy_domain_end(&dom);
}

static void
test_verify_error_types(void **state)
{
	(void)state;
	assert_int_equal(tlspolicy_verify_error_type(X509_V_OK), TLSRPT_SUCCESS);
	assert_int_equal(tlspolicy_verify_error_type(X509_V_ERR_HOSTNAME_MISMATCH),
		TLSRPT_CERTIFICATE_HOST_MISMATCH);
	assert_int_equal(tlspolicy_verify_error_type(X509_V_ERR_CERT_HAS_EXPIRED),
		TLSRPT_CERTIFICATE_EXPIRED);
	assert_int_equal(tlspolicy_verify_error_type(X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT),
		TLSRPT_CERTIFICATE_NOT_TRUSTED);
	assert_int_equal(tlspolicy_verify_error_type(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY),
		TLSRPT_CERTIFICATE_NOT_TRUSTED);
	assert_int_equal(tlspolicy_verify_error_type(X509_V_ERR_DANE_NO_MATCH), TLSRPT_TLSA_INVALID);
	assert_int_equal(tlspolicy_verify_error_type(X509_V_ERR_CERT_SIGNATURE_FAILURE),
		TLSRPT_VALIDATION_FAILURE);
	/* Names round-trip (RFC 8460 section 4.3). */
	{
		enum tlsrpt_result_type t;
		int i;

		for (i = TLSRPT_SUCCESS; i <= TLSRPT_STS_WEBPKI_INVALID; i++) {
			assert_int_equal(tlsrpt_result_type_parse(
				tlsrpt_result_type_name((enum tlsrpt_result_type)i), &t), 0);
			assert_int_equal(t, i);
		}
		assert_string_equal(tlsrpt_result_type_name(TLSRPT_STS_POLICY_FETCH_ERROR),
			"sts-policy-fetch-error");
		assert_int_equal(tlsrpt_result_type_parse("no-such-type", &t), -1);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_policy),
		cmocka_unit_test(test_mtasts_enforce),
		cmocka_unit_test(test_mtasts_testing),
		cmocka_unit_test(test_dane),
		cmocka_unit_test(test_requiretls),
		cmocka_unit_test(test_verify_error_types),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
