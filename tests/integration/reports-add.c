/* Test helper: store a received report through lib/reports as the report
 * parsers will. Reads JSON on standard input,
 *   {"kind": "dmarc" | "tls", "fromDomain": "...", "mailFrom": "...",
 *    "hostReport": false, "report": {...}}
 * where report uses the field names of the stored documents (RFC 7489
 * appendix C for DMARC, RFC 8460 section 4.4 for TLS, with date-range in
 * unix seconds), fills the lib structures and calls reports_dmarc_add or
 * reports_tls_add. Prints "stored ID" or "exists ID"; exits 1 with the
 * library's error on standard error. Not installed; a test tool only,
 * lenient where a real parser would not be. */
#include "config.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/util.h"
#include "db/db.h"
#include "reports/reports.h"

static struct json_object *
get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    json_object_is_type(v, json_type_null))
		return NULL;
	return v;
}

static const char *
str(struct json_object *o, const char *key)
{
	struct json_object *v = get(o, key);

	return v != NULL ? json_object_get_string(v) : NULL;
}

static int64_t
num(struct json_object *o, const char *key, int64_t dflt)
{
	struct json_object *v = get(o, key);

	return v != NULL ? json_object_get_int64(v) : dflt;
}

static size_t
len(struct json_object *a)
{
	if (a == NULL || !json_object_is_type(a, json_type_array))
		return 0;
	return json_object_array_length(a);
}

static const char **
strs(struct json_object *a, size_t *n_r)
{
	size_t n = len(a), i;
	const char **v = xcalloc(n + 1, sizeof(char *));

	for (i = 0; i < n; i++)
		v[i] = json_object_get_string(json_object_array_get_idx(a, i));
	*n_r = n;
	return v;
}

static int
dmarc(struct db_pool *pool, struct json_object *in, struct json_object *rep, int64_t *id,
	const char **err)
{
	struct reports_dmarc_feedback f;
	struct reports_dmarc_record *recs;
	struct json_object *md = get(rep, "report_metadata"), *pp = get(rep, "policy_published");
	struct json_object *ra = get(rep, "record");
	size_t i, k;
	int rc;

	memset(&f, 0, sizeof(f));
	f.version = str(rep, "version");
	f.org_name = str(md, "org_name");
	f.email = str(md, "email");
	f.extra_contact_info = str(md, "extra_contact_info");
	f.report_id = str(md, "report_id");
	f.begin = num(get(md, "date_range"), "begin", 0);
	f.end = num(get(md, "date_range"), "end", 0);
	f.errors = strs(get(md, "error"), &f.nerrors);
	f.policy.domain = str(pp, "domain");
	f.policy.adkim = str(pp, "adkim");
	f.policy.aspf = str(pp, "aspf");
	f.policy.p = str(pp, "p");
	f.policy.sp = str(pp, "sp");
	f.policy.fo = str(pp, "fo");
	f.policy.pct = (int)num(pp, "pct", -1);
	f.nrecords = len(ra);
	recs = xcalloc(f.nrecords + 1, sizeof(*recs));
	for (i = 0; i < f.nrecords; i++) {
		struct json_object *r = json_object_array_get_idx(ra, i), *row = get(r, "row");
		struct json_object *pe = get(row, "policy_evaluated"), *ids = get(r, "identifiers");
		struct json_object *ar = get(r, "auth_results"), *a;
		struct reports_dmarc_reason *rs;
		struct reports_dmarc_dkim *dk;
		struct reports_dmarc_spf *sp;

		recs[i].source_ip = str(row, "source_ip");
		recs[i].count = num(row, "count", 0);
		recs[i].disposition = str(pe, "disposition");
		recs[i].dkim = str(pe, "dkim");
		recs[i].spf = str(pe, "spf");
		a = get(pe, "reason");
		recs[i].nreasons = len(a);
		rs = xcalloc(len(a) + 1, sizeof(*rs));
		for (k = 0; k < len(a); k++) {
			rs[k].type = str(json_object_array_get_idx(a, k), "type");
			rs[k].comment = str(json_object_array_get_idx(a, k), "comment");
		}
		recs[i].reasons = rs;
		recs[i].envelope_to = str(ids, "envelope_to");
		recs[i].envelope_from = str(ids, "envelope_from");
		recs[i].header_from = str(ids, "header_from");
		a = get(ar, "dkim");
		recs[i].ndkim = len(a);
		dk = xcalloc(len(a) + 1, sizeof(*dk));
		for (k = 0; k < len(a); k++) {
			struct json_object *x = json_object_array_get_idx(a, k);

			dk[k].domain = str(x, "domain");
			dk[k].selector = str(x, "selector");
			dk[k].result = str(x, "result");
			dk[k].human_result = str(x, "human_result");
		}
		recs[i].dkim_results = dk;
		a = get(ar, "spf");
		recs[i].nspf = len(a);
		sp = xcalloc(len(a) + 1, sizeof(*sp));
		for (k = 0; k < len(a); k++) {
			struct json_object *x = json_object_array_get_idx(a, k);

			sp[k].domain = str(x, "domain");
			sp[k].scope = str(x, "scope");
			sp[k].result = str(x, "result");
		}
		recs[i].spf_results = sp;
	}
	f.records = recs;
	rc = reports_dmarc_add(pool, &f, str(in, "fromDomain"), id, err);
	for (i = 0; i < f.nrecords; i++) {
		free((void *)recs[i].reasons);
		free((void *)recs[i].dkim_results);
		free((void *)recs[i].spf_results);
	}
	free(recs);
	free((void *)f.errors);
	return rc;
}

static int
tls(struct db_pool *pool, struct json_object *in, struct json_object *rep, int64_t *id,
	const char **err)
{
	struct reports_tls_report r;
	struct reports_tls_policy *ps;
	struct json_object *pa = get(rep, "policies"), *dr = get(rep, "date-range"), *hr;
	size_t i, k;
	int rc;

	memset(&r, 0, sizeof(r));
	r.org_name = str(rep, "organization-name");
	r.contact_info = str(rep, "contact-info");
	r.report_id = str(rep, "report-id");
	r.begin = num(dr, "start-datetime", 0);
	r.end = num(dr, "end-datetime", 0);
	r.npolicies = len(pa);
	ps = xcalloc(r.npolicies + 1, sizeof(*ps));
	for (i = 0; i < r.npolicies; i++) {
		struct json_object *p = json_object_array_get_idx(pa, i), *pol = get(p, "policy");
		struct json_object *sum = get(p, "summary"), *fd = get(p, "failure-details");
		struct reports_tls_failure *d;

		ps[i].policy_type = str(pol, "policy-type");
		ps[i].policy_domain = str(pol, "policy-domain");
		ps[i].policy_strings = strs(get(pol, "policy-string"), &ps[i].npolicy_strings);
		ps[i].mx_hosts = strs(get(pol, "mx-host"), &ps[i].nmx_hosts);
		ps[i].success = num(sum, "total-successful-session-count", 0);
		ps[i].failure = num(sum, "total-failure-session-count", 0);
		ps[i].ndetails = len(fd);
		d = xcalloc(len(fd) + 1, sizeof(*d));
		for (k = 0; k < len(fd); k++) {
			struct json_object *x = json_object_array_get_idx(fd, k);

			d[k].result_type = str(x, "result-type");
			d[k].sending_mta_ip = str(x, "sending-mta-ip");
			d[k].receiving_mx_hostname = str(x, "receiving-mx-hostname");
			d[k].receiving_mx_helo = str(x, "receiving-mx-helo");
			d[k].receiving_ip = str(x, "receiving-ip");
			d[k].additional_information = str(x, "additional-information");
			d[k].failure_reason_code = str(x, "failure-reason-code");
			d[k].failed_session_count = num(x, "failed-session-count", 0);
		}
		ps[i].details = d;
	}
	r.policies = ps;
	hr = get(in, "hostReport");
	rc = reports_tls_add(pool, &r, str(in, "fromDomain"), str(in, "mailFrom"),
		hr != NULL && json_object_get_boolean(hr), id, err);
	for (i = 0; i < r.npolicies; i++) {
		free((void *)ps[i].policy_strings);
		free((void *)ps[i].mx_hosts);
		free((void *)ps[i].details);
	}
	free(ps);
	return rc;
}

int
main(int argc, char **argv)
{
	struct json_object *in;
	struct db_pool *pool;
	struct buf b;
	const char *err = NULL, *kind;
	int64_t id = 0;
	char chunk[4096];
	size_t n;
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: reports-add CONNINFO < report.json\n");
		return 2;
	}
	buf_init(&b);
	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
		buf_append(&b, chunk, n);
	in = json_tokener_parse(b.data != NULL ? b.data : "");
	buf_free(&b);
	if (in == NULL) {
		fprintf(stderr, "reports-add: bad JSON\n");
		return 2;
	}
	pool = db_pool_create(argv[1], 1, &err);
	if (pool == NULL) {
		fprintf(stderr, "reports-add: %s\n", err);
		return 2;
	}
	kind = str(in, "kind");
	if (kind != NULL && strcmp(kind, "dmarc") == 0)
		rc = dmarc(pool, in, get(in, "report"), &id, &err);
	else
		rc = tls(pool, in, get(in, "report"), &id, &err);
	if (rc < 0)
		fprintf(stderr, "reports-add: %s\n", err);
	else
		printf("%s %lld\n", rc == 1 ? "stored" : "exists", (long long)id);
	db_pool_destroy(&pool);
	json_object_put(in);
	return rc < 0 ? 1 : 0;
}
