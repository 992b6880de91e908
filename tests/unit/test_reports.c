/* Unit tests of lib/reports without a database: the checks that refuse a
 * received report before anything is written (reports_dmarc_add and
 * reports_tls_add check first, so a NULL pool is never touched for a bad
 * report), and the normalization of reporting addresses for the
 * suppression lists. Storing valid reports is tested against PostgreSQL
 * in tests/integration/test_web_reports.py. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "reports/reports.h"

static struct reports_dmarc_record rec;
static struct reports_dmarc_feedback fb;

static void
good_dmarc(void)
{
	memset(&rec, 0, sizeof(rec));
	rec.source_ip = "192.0.2.1";
	rec.count = 3;
	rec.disposition = "none";
	memset(&fb, 0, sizeof(fb));
	fb.org_name = "google.com";
	fb.report_id = "123";
	fb.begin = 1700000000;
	fb.end = 1700086399;
	fb.policy.domain = "example.org";
	fb.policy.pct = 100;
	fb.records = &rec;
	fb.nrecords = 1;
}

/* The report is refused with an error naming the problem. */
static void
dmarc_refused(const char *want)
{
	const char *err = NULL;
	int64_t id = 7;

	assert_int_equal(reports_dmarc_add(NULL, &fb, NULL, &id, &err), -1);
	assert_non_null(err);
	assert_non_null(strstr(err, want));
	assert_int_equal(id, 0);
}

static void
test_dmarc_checks(void **state)
{
	(void)state;
	good_dmarc();
	fb.org_name = " ";
	dmarc_refused("org_name");
	good_dmarc();
	fb.report_id = NULL;
	dmarc_refused("report_id");
	good_dmarc();
	{
		char longid[REPORTS_MAX_ID + 2];

		memset(longid, 'x', sizeof(longid) - 1);
		longid[sizeof(longid) - 1] = '\0';
		fb.report_id = longid;
		dmarc_refused("at most");
		good_dmarc();
	}
	fb.end = fb.begin - 1;
	dmarc_refused("ends before");
	good_dmarc();
	fb.begin = -5;
	dmarc_refused("out of bounds");
	good_dmarc();
	fb.policy.pct = 101;
	dmarc_refused("pct");
	good_dmarc();
	rec.source_ip = "192.0.2.300";
	dmarc_refused("source_ip");
	rec.source_ip = NULL;
	dmarc_refused("source_ip");
	rec.source_ip = "2001:db8::1%eth0";
	dmarc_refused("source_ip");
	good_dmarc();
	rec.count = -1;
	dmarc_refused("negative count");
	good_dmarc();
	fb.nrecords = REPORTS_MAX_RECORDS + 1;
	dmarc_refused("more than");
	good_dmarc();
	fb.policy.domain = "";
	dmarc_refused("domain missing");
	fb.policy.domain = "bad domain";
	dmarc_refused("policy_published domain");
	fb.policy.domain = "[192.0.2.1]";
	dmarc_refused("address literal");
}

static struct reports_tls_failure fd;
static struct reports_tls_policy pol;
static struct reports_tls_report tr;

static void
good_tls(void)
{
	memset(&fd, 0, sizeof(fd));
	fd.result_type = "certificate-expired";
	fd.failed_session_count = 1;
	memset(&pol, 0, sizeof(pol));
	pol.policy_type = "sts";
	pol.policy_domain = "example.org";
	pol.success = 10;
	pol.failure = 1;
	pol.details = &fd;
	pol.ndetails = 1;
	memset(&tr, 0, sizeof(tr));
	tr.org_name = "Microsoft";
	tr.report_id = "r1";
	tr.begin = 1700000000;
	tr.end = 1700086399;
	tr.policies = &pol;
	tr.npolicies = 1;
}

static void
tls_refused(const char *want)
{
	const char *err = NULL;
	int64_t id = 7;

	assert_int_equal(reports_tls_add(NULL, &tr, NULL, NULL, false, &id, &err), -1);
	assert_non_null(err);
	assert_non_null(strstr(err, want));
	assert_int_equal(id, 0);
}

static void
test_tls_checks(void **state)
{
	(void)state;
	good_tls();
	tr.org_name = "";
	tls_refused("organization-name");
	good_tls();
	{
		char longid[REPORTS_MAX_ID + 2];

		memset(longid, 'y', sizeof(longid) - 1);
		longid[sizeof(longid) - 1] = '\0';
		tr.org_name = longid;
		tls_refused("at most");
	}
	good_tls();
	tr.npolicies = 0;
	tls_refused("policies");
	good_tls();
	tr.end = 253402300800LL;
	tls_refused("out of bounds");
	good_tls();
	pol.policy_type = NULL;
	tls_refused("policy-type");
	good_tls();
	pol.failure = -1;
	tls_refused("negative");
	good_tls();
	fd.result_type = "";
	tls_refused("result-type");
	good_tls();
	fd.failed_session_count = -2;
	tls_refused("failed-session-count");
	good_tls();
	pol.policy_domain = "a..b";
	tls_refused("policy-domain");
	good_tls();
	/* The From domain is checked too. */
	{
		const char *err = NULL;
		int64_t id;

		assert_int_equal(reports_tls_add(NULL, &tr, "bad domain!", NULL, false, &id, &err),
			-1);
		assert_non_null(strstr(err, "From domain"));
	}
}

static void
test_address_normalize(void **state)
{
	static const char *const cases[][2] = {
		{ "dmarc@Example.ORG", "dmarc@example.org" },
		{ "mailto:Reports@example.org", "Reports@example.org" },
		{ "MAILTO:r@xn--bcher-kva.example", "r@bücher.example" },
		{ "r@bücher.example", "r@bücher.example" },
	};
	static const char *const bad[] = {
		"", "mailto:", "no-at-sign", "a@b@c", "a b@example.org", "r@[192.0.2.1]",
		"@example.org",
	};
	const char *err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = reports_address_normalize(cases[i][0], &err);

		assert_non_null(s);
		assert_string_equal(s, cases[i][1]);
		free(s);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = NULL;
		assert_null(reports_address_normalize(bad[i], &err));
		assert_non_null(err);
	}
	assert_string_equal(reports_kind_name(REPORTS_DMARC), "dmarc");
	assert_string_equal(reports_kind_name(REPORTS_TLSRPT), "tlsrpt");
}

static void
test_suppress_checks(void **state)
{
	const char *err = NULL;
	int64_t id;

	(void)state;
	/* A time in the past or a bad address is refused before the
	 * database is used. */
	assert_int_equal(reports_suppress_add(NULL, REPORTS_DMARC, "a@example.org", 1000, "",
		&id, &err), -1);
	assert_non_null(strstr(err, "future"));
	assert_int_equal(reports_suppress_add(NULL, REPORTS_TLSRPT, "nope", 253402300000LL, "",
		&id, &err), -1);
	assert_int_equal(reports_suppress_extend(NULL, REPORTS_DMARC, 1, 5, &err), -1);
	assert_int_equal(reports_suppressed(NULL, REPORTS_DMARC, "x y", &err), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dmarc_checks),
		cmocka_unit_test(test_tls_checks),
		cmocka_unit_test(test_address_normalize),
		cmocka_unit_test(test_suppress_checks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
