/* Storage of received DMARC aggregate and TLS reports (see reports.h).
 * A report is checked, turned into one JSON document with the field names
 * of its RFC (the "report" column), and inserted in one transaction; the
 * per-record and per-policy columns are derived from that document by SQL
 * in the same transaction, one statement each, so no row-by-row inserts. */
#include "config.h"

#include <arpa/inet.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/util.h"
#include "db/db.h"
#include "mail/addr.h"
#include "reports/reports.h"

static void
add_str(struct json_object *o, const char *key, const char *v)
{
	if (v != NULL)
		json_object_object_add(o, key, json_object_new_string(v));
}

/* Like add_str, lower-cased: result keywords compare without case. */
static void
add_lower(struct json_object *o, const char *key, const char *v)
{
	char *s;

	if (v == NULL)
		return;
	s = xstrdup(v);
	ms_str_lower(s);
	json_object_object_add(o, key, json_object_new_string(s));
	free(s);
}

static struct json_object *
str_array(const char *const *v, size_t n)
{
	struct json_object *a = json_object_new_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(v[i] != NULL ? v[i] : ""));
	return a;
}

static bool
valid_ip(const char *s)
{
	unsigned char b[16];

	return s != NULL && (inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1);
}

/* A domain of a report in stored form (lower-case Unicode), malloc'd; a
 * trailing dot is allowed. NULL with *error_r. */
static char *
report_domain(const char *s, const char *what, const char **error_r)
{
	char *uni, *ascii, *copy;
	const char *err;
	size_t n;
	int rc;

	if (s == NULL || s[0] == '\0') {
		*error_r = ms_err("%s missing", what);
		return NULL;
	}
	copy = xstrdup(s);
	n = strlen(copy);
	if (n > 1 && copy[n - 1] == '.')
		copy[--n] = '\0';
	rc = mail_domain_parse(copy, n, true, &uni, &ascii, &err);
	free(copy);
	if (rc < 0 || uni[0] == '[') {
		if (rc == 0) {
			free(uni);
			free(ascii);
			err = "an address literal is not a domain";
		}
		*error_r = ms_err("%s \"%s\": %s", what, s, err);
		return NULL;
	}
	free(ascii);
	return uni;
}

/* RFC 3339 date-time in UTC, as RFC 8460 section 4.4 date-range uses. */
static struct json_object *
rfc3339(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char s[32];

	if (gmtime_r(&tt, &tm) == NULL || strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		ms_panic("reports: time %lld out of range", (long long)t);
	return json_object_new_string(s);
}

/* Times beyond year 9999 do not fit timestamptz and date-time. */
#define MAX_TIME 253402300799LL

static int
check_range(int64_t begin, int64_t end, const char **error_r)
{
	if (begin < 0 || end < 0 || begin > MAX_TIME || end > MAX_TIME) {
		*error_r = "date range out of bounds";
		return -1;
	}
	if (end < begin) {
		*error_r = "date range ends before it begins";
		return -1;
	}
	return 0;
}

static bool
blank(const char *s)
{
	return s == NULL || s[strspn(s, " \t\r\n")] == '\0';
}

/* ---- DMARC ---- */

static int
dmarc_check(const struct reports_dmarc_feedback *f, const char **error_r)
{
	size_t i;

	if (blank(f->org_name) || blank(f->report_id)) {
		*error_r = "report_metadata: org_name and report_id are required";
		return -1;
	}
	if (strlen(f->org_name) > REPORTS_MAX_ID || strlen(f->report_id) > REPORTS_MAX_ID) {
		*error_r = ms_err("org_name and report_id may have at most %d bytes", REPORTS_MAX_ID);
		return -1;
	}
	if (check_range(f->begin, f->end, error_r) < 0)
		return -1;
	if (f->policy.pct < -1 || f->policy.pct > 100) {
		*error_r = "policy_published pct must be 0 to 100";
		return -1;
	}
	if (f->nrecords > REPORTS_MAX_RECORDS || f->nerrors > REPORTS_MAX_ITEMS) {
		*error_r = ms_err("report has more than %d records or %d errors",
			REPORTS_MAX_RECORDS, REPORTS_MAX_ITEMS);
		return -1;
	}
	for (i = 0; i < f->nrecords; i++) {
		const struct reports_dmarc_record *r = &f->records[i];

		if (!valid_ip(r->source_ip)) {
			*error_r = ms_err("record %zu: source_ip \"%s\" is not an IP address",
				i + 1,
				r->source_ip != NULL ? r->source_ip : "");
			return -1;
		}
		if (r->count < 0) {
			*error_r = ms_err("record %zu: negative count", i + 1);
			return -1;
		}
		if (r->nreasons > REPORTS_MAX_ITEMS || r->ndkim > REPORTS_MAX_ITEMS ||
		    r->nspf > REPORTS_MAX_ITEMS) {
			*error_r = ms_err("record %zu: more than %d reasons or results", i + 1,
				REPORTS_MAX_ITEMS);
			return -1;
		}
	}
	return 0;
}

static struct json_object *
dmarc_record_json(const struct reports_dmarc_record *r)
{
	struct json_object *o = json_object_new_object(), *row = json_object_new_object();
	struct json_object *pe = json_object_new_object(), *id = json_object_new_object();
	struct json_object *ar = json_object_new_object(), *a;
	size_t i;

	add_str(row, "source_ip", r->source_ip);
	json_object_object_add(row, "count", json_object_new_int64(r->count));
	add_lower(pe, "disposition", r->disposition);
	add_lower(pe, "dkim", r->dkim);
	add_lower(pe, "spf", r->spf);
	if (r->nreasons > 0) {
		a = json_object_new_array();
		for (i = 0; i < r->nreasons; i++) {
			struct json_object *x = json_object_new_object();

			add_lower(x, "type", r->reasons[i].type);
			add_str(x, "comment", r->reasons[i].comment);
			json_object_array_add(a, x);
		}
		json_object_object_add(pe, "reason", a);
	}
	json_object_object_add(row, "policy_evaluated", pe);
	json_object_object_add(o, "row", row);
	add_str(id, "envelope_to", r->envelope_to);
	add_str(id, "envelope_from", r->envelope_from);
	add_str(id, "header_from", r->header_from);
	json_object_object_add(o, "identifiers", id);
	a = json_object_new_array();
	for (i = 0; i < r->ndkim; i++) {
		struct json_object *x = json_object_new_object();

		add_str(x, "domain", r->dkim_results[i].domain);
		add_str(x, "selector", r->dkim_results[i].selector);
		add_lower(x, "result", r->dkim_results[i].result);
		add_str(x, "human_result", r->dkim_results[i].human_result);
		json_object_array_add(a, x);
	}
	json_object_object_add(ar, "dkim", a);
	a = json_object_new_array();
	for (i = 0; i < r->nspf; i++) {
		struct json_object *x = json_object_new_object();

		add_str(x, "domain", r->spf_results[i].domain);
		add_lower(x, "scope", r->spf_results[i].scope);
		add_lower(x, "result", r->spf_results[i].result);
		json_object_array_add(a, x);
	}
	json_object_object_add(ar, "spf", a);
	json_object_object_add(o, "auth_results", ar);
	return o;
}

static struct json_object *
dmarc_policy_json(const struct reports_dmarc_policy *p, const char *domain)
{
	struct json_object *o = json_object_new_object();

	add_str(o, "domain", domain);
	add_lower(o, "adkim", p->adkim);
	add_lower(o, "aspf", p->aspf);
	add_lower(o, "p", p->p);
	add_lower(o, "sp", p->sp);
	if (p->pct >= 0)
		json_object_object_add(o, "pct", json_object_new_int(p->pct));
	add_str(o, "fo", p->fo);
	return o;
}

static struct json_object *
dmarc_json(const struct reports_dmarc_feedback *f, const char *domain)
{
	struct json_object *o = json_object_new_object(), *md = json_object_new_object();
	struct json_object *dr = json_object_new_object(), *recs = json_object_new_array();
	size_t i;

	add_str(o, "version", f->version);
	add_str(md, "org_name", f->org_name);
	add_str(md, "email", f->email);
	add_str(md, "extra_contact_info", f->extra_contact_info);
	add_str(md, "report_id", f->report_id);
	json_object_object_add(dr, "begin", json_object_new_int64(f->begin));
	json_object_object_add(dr, "end", json_object_new_int64(f->end));
	json_object_object_add(md, "date_range", dr);
	if (f->nerrors > 0)
		json_object_object_add(md, "error", str_array(f->errors, f->nerrors));
	json_object_object_add(o, "report_metadata", md);
	json_object_object_add(o, "policy_published", dmarc_policy_json(&f->policy, domain));
	for (i = 0; i < f->nrecords; i++)
		json_object_array_add(recs, dmarc_record_json(&f->records[i]));
	json_object_object_add(o, "record", recs);
	return o;
}

/* The report row, unless the same report is stored: then that one's id
 * (second column false). */
static const char dmarc_insert_sql[] =
	"WITH ins AS (INSERT INTO dmarc_reports (domain, from_domain, org_name, email, report_id,"
	"  date_begin, date_end, policy_published, record_count, message_count, report)"
	" SELECT $1, $2, $3, $4, $5, to_timestamp($6::bigint), to_timestamp($7::bigint),"
	"  j->'policy_published', jsonb_array_length(j->'record'),"
	"  (SELECT coalesce(sum((r->'row'->>'count')::bigint), 0)"
	"   FROM jsonb_array_elements(j->'record') AS r), j"
	" FROM (SELECT $8::jsonb AS j) AS s"
	" ON CONFLICT (org_name, report_id, domain) DO NOTHING RETURNING id)"
	" SELECT id, true FROM ins UNION ALL"
	" SELECT id, false FROM dmarc_reports WHERE org_name = $3 AND report_id = $5"
	"  AND domain = $1 AND NOT EXISTS (SELECT 1 FROM ins)";

/* Each record's columns from the stored JSON; arrays keep report order. */
static const char dmarc_records_sql[] =
	"INSERT INTO dmarc_report_records (report, source_ip, count, disposition, dkim, spf,"
	" reasons, envelope_to, envelope_from, header_from, dkim_domains, dkim_results,"
	" spf_domains, spf_results)"
	" SELECT d.id, (r->'row'->>'source_ip')::inet, (r->'row'->>'count')::bigint,"
	"  coalesce(r->'row'->'policy_evaluated'->>'disposition', ''),"
	"  coalesce(r->'row'->'policy_evaluated'->>'dkim', ''),"
	"  coalesce(r->'row'->'policy_evaluated'->>'spf', ''),"
	"  ARRAY(SELECT coalesce(x->>'type', '') FROM jsonb_array_elements("
	"   coalesce(r->'row'->'policy_evaluated'->'reason', '[]')) WITH ORDINALITY AS t(x, n)"
	"   ORDER BY n),"
	"  coalesce(r->'identifiers'->>'envelope_to', ''),"
	"  coalesce(r->'identifiers'->>'envelope_from', ''),"
	"  coalesce(r->'identifiers'->>'header_from', ''),"
	"  ARRAY(SELECT coalesce(x->>'domain', '') FROM jsonb_array_elements("
	"   r->'auth_results'->'dkim') WITH ORDINALITY AS t(x, n) ORDER BY n),"
	"  ARRAY(SELECT coalesce(x->>'result', '') FROM jsonb_array_elements("
	"   r->'auth_results'->'dkim') WITH ORDINALITY AS t(x, n) ORDER BY n),"
	"  ARRAY(SELECT coalesce(x->>'domain', '') FROM jsonb_array_elements("
	"   r->'auth_results'->'spf') WITH ORDINALITY AS t(x, n) ORDER BY n),"
	"  ARRAY(SELECT coalesce(x->>'result', '') FROM jsonb_array_elements("
	"   r->'auth_results'->'spf') WITH ORDINALITY AS t(x, n) ORDER BY n)"
	" FROM dmarc_reports AS d, jsonb_array_elements(d.report->'record') AS r"
	" WHERE d.id = $1::bigint";

/* One report's transaction: insert_sql (returning the id and whether it
 * is new), then for a new report derive_sql with $1 the id and, when
 * derive_extra is set, $2 that. */
struct add_ctx {
	const char *insert_sql, *derive_sql, *derive_extra;
	const char *const *params;
	int nparams;
	int64_t id;
	bool existed;
};

static int
add_tx(PGconn *c, void *vctx, const char **error_r)
{
	struct add_ctx *ctx = vctx;
	PGresult *res;

	res = db_exec(c, ctx->insert_sql, ctx->nparams, ctx->params, error_r);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		/* Stored by a concurrent transaction after our snapshot. */
		PQclear(res);
		*error_r = "the same report is being stored concurrently, try again";
		return -1;
	}
	ctx->id = db_get_i64(res, 0, 0);
	ctx->existed = !db_get_bool(res, 0, 1);
	PQclear(res);
	if (ctx->existed)
		return 0;
	if (ctx->derive_extra != NULL)
		return db_cmd(c, error_r, ctx->derive_sql, 2, db_i64(ctx->id), ctx->derive_extra);
	return db_cmd(c, error_r, ctx->derive_sql, 1, db_i64(ctx->id));
}

static int
run_add(struct db_pool *pool, struct add_ctx *ctx, int64_t *id_r, const char **error_r)
{
	if (db_tx(pool, add_tx, ctx, error_r) < 0)
		return -1;
	*id_r = ctx->id;
	return ctx->existed ? 0 : 1;
}

int
reports_dmarc_add(struct db_pool *pool, const struct reports_dmarc_feedback *f,
	const char *from_domain, int64_t *id_r, const char **error_r)
{
	struct add_ctx ctx;
	char *domain = NULL, *from = NULL;
	struct json_object *j;
	const char *params[8];
	int rc;

	*id_r = 0;
	if (dmarc_check(f, error_r) < 0)
		return -1;
	domain = report_domain(f->policy.domain, "policy_published domain", error_r);
	if (domain == NULL)
		return -1;
	if (!blank(from_domain)) {
		from = report_domain(from_domain, "From domain", error_r);
		if (from == NULL) {
			free(domain);
			return -1;
		}
	}
	j = dmarc_json(f, domain);
	params[0] = domain;
	params[1] = from != NULL ? from : "";
	params[2] = f->org_name;
	params[3] = f->email != NULL ? f->email : "";
	params[4] = f->report_id;
	params[5] = db_i64(f->begin);
	params[6] = db_i64(f->end);
	params[7] = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN);
	memset(&ctx, 0, sizeof(ctx));
	ctx.insert_sql = dmarc_insert_sql;
	ctx.derive_sql = dmarc_records_sql;
	ctx.params = params;
	ctx.nparams = 8;
	rc = run_add(pool, &ctx, id_r, error_r);
	json_object_put(j);
	free(domain);
	free(from);
	return rc;
}

/* ---- TLS ---- */

static int
tls_check(const struct reports_tls_report *r, const char **error_r)
{
	size_t i, k;

	if (blank(r->org_name) || blank(r->report_id)) {
		*error_r = "organization-name and report-id are required";
		return -1;
	}
	if (strlen(r->org_name) > REPORTS_MAX_ID || strlen(r->report_id) > REPORTS_MAX_ID) {
		*error_r = ms_err("organization-name and report-id may have at most %d bytes",
			REPORTS_MAX_ID);
		return -1;
	}
	if (check_range(r->begin, r->end, error_r) < 0)
		return -1;
	if (r->npolicies == 0 || r->npolicies > REPORTS_MAX_ITEMS) {
		*error_r = ms_err("a report has 1 to %d policies", REPORTS_MAX_ITEMS);
		return -1;
	}
	for (i = 0; i < r->npolicies; i++) {
		const struct reports_tls_policy *p = &r->policies[i];

		if (blank(p->policy_type)) {
			*error_r = ms_err("policy %zu: policy-type missing", i + 1);
			return -1;
		}
		if (p->success < 0 || p->failure < 0) {
			*error_r = ms_err("policy %zu: negative session count", i + 1);
			return -1;
		}
		if (p->ndetails > REPORTS_MAX_ITEMS || p->npolicy_strings > REPORTS_MAX_ITEMS ||
		    p->nmx_hosts > REPORTS_MAX_ITEMS) {
			*error_r = ms_err("policy %zu: more than %d entries", i + 1,
				REPORTS_MAX_ITEMS);
			return -1;
		}
		for (k = 0; k < p->ndetails; k++) {
			const struct reports_tls_failure *d = &p->details[k];

			if (blank(d->result_type) || d->failed_session_count < 0) {
				*error_r = ms_err("policy %zu failure %zu: result-type missing or "
					"negative failed-session-count", i + 1, k + 1);
				return -1;
			}
		}
	}
	return 0;
}

static struct json_object *
tls_policy_json(const struct reports_tls_policy *p)
{
	struct json_object *o = json_object_new_object(), *pol = json_object_new_object();
	struct json_object *sum = json_object_new_object(), *fd = json_object_new_array();
	size_t i;

	add_lower(pol, "policy-type", p->policy_type);
	json_object_object_add(pol, "policy-string", str_array(p->policy_strings,
		p->npolicy_strings));
	add_str(pol, "policy-domain", p->policy_domain);
	json_object_object_add(pol, "mx-host", str_array(p->mx_hosts, p->nmx_hosts));
	json_object_object_add(o, "policy", pol);
	json_object_object_add(sum, "total-successful-session-count",
		json_object_new_int64(p->success));
	json_object_object_add(sum, "total-failure-session-count",
		json_object_new_int64(p->failure));
	json_object_object_add(o, "summary", sum);
	for (i = 0; i < p->ndetails; i++) {
		const struct reports_tls_failure *d = &p->details[i];
		struct json_object *x = json_object_new_object();

		add_lower(x, "result-type", d->result_type);
		add_str(x, "sending-mta-ip", d->sending_mta_ip);
		add_str(x, "receiving-mx-hostname", d->receiving_mx_hostname);
		add_str(x, "receiving-mx-helo", d->receiving_mx_helo);
		add_str(x, "receiving-ip", d->receiving_ip);
		json_object_object_add(x, "failed-session-count",
			json_object_new_int64(d->failed_session_count));
		add_str(x, "additional-information", d->additional_information);
		add_str(x, "failure-reason-code", d->failure_reason_code);
		json_object_array_add(fd, x);
	}
	json_object_object_add(o, "failure-details", fd);
	return o;
}

static const char tls_insert_sql[] =
	"WITH ins AS (INSERT INTO tls_reports (from_domain, mail_from, host_report, org_name,"
	" report_id, contact_info, date_begin, date_end, policy_domains, success_count,"
	" failure_count, report)"
	" SELECT $1, $2, $3::boolean, $4, $5, $6, to_timestamp($7::bigint),"
	"  to_timestamp($8::bigint), ARRAY(SELECT d FROM unnest($9::text[])"
	"  WITH ORDINALITY AS u(d, n) GROUP BY d ORDER BY min(n)),"
	"  (SELECT coalesce(sum((p->'summary'->>'total-successful-session-count')::bigint), 0)"
	"   FROM jsonb_array_elements(j->'policies') AS p),"
	"  (SELECT coalesce(sum((p->'summary'->>'total-failure-session-count')::bigint), 0)"
	"   FROM jsonb_array_elements(j->'policies') AS p), j"
	" FROM (SELECT $10::jsonb AS j) AS s"
	" ON CONFLICT (org_name, report_id) DO NOTHING RETURNING id)"
	" SELECT id, true FROM ins UNION ALL"
	" SELECT id, false FROM tls_reports WHERE org_name = $4 AND report_id = $5"
	"  AND NOT EXISTS (SELECT 1 FROM ins)";

/* $2: the policies' domains in stored form, in policy order. */
static const char tls_policies_sql[] =
	"INSERT INTO tls_report_policies (report, policy_domain, policy_type, policy_strings,"
	" mx_hosts, success_count, failure_count, failure_details)"
	" SELECT r.id, u.d, coalesce(p->'policy'->>'policy-type', ''),"
	"  ARRAY(SELECT jsonb_array_elements_text(p->'policy'->'policy-string')),"
	"  ARRAY(SELECT jsonb_array_elements_text(p->'policy'->'mx-host')),"
	"  (p->'summary'->>'total-successful-session-count')::bigint,"
	"  (p->'summary'->>'total-failure-session-count')::bigint, p->'failure-details'"
	" FROM tls_reports AS r,"
	"  jsonb_array_elements(r.report->'policies') WITH ORDINALITY AS t(p, i)"
	"  JOIN unnest($2::text[]) WITH ORDINALITY AS u(d, k) ON k = i"
	" WHERE r.id = $1::bigint";

int
reports_tls_add(struct db_pool *pool, const struct reports_tls_report *r,
	const char *from_domain, const char *mail_from, bool host_report, int64_t *id_r,
	const char **error_r)
{
	struct add_ctx ctx;
	struct json_object *j, *dr, *pols;
	char **doms, *from = NULL;
	const char *params[10];
	struct buf darr;
	size_t i, nd = 0;
	int rc = -1;

	*id_r = 0;
	if (tls_check(r, error_r) < 0)
		return -1;
	doms = xcalloc(r->npolicies, sizeof(char *));
	buf_init(&darr);
	j = json_object_new_object();
	for (i = 0; i < r->npolicies; i++) {
		doms[i] = report_domain(r->policies[i].policy_domain, "policy-domain", error_r);
		if (doms[i] == NULL)
			goto out;
		nd++;
	}
	if (!blank(from_domain)) {
		from = report_domain(from_domain, "From domain", error_r);
		if (from == NULL)
			goto out;
	}
	add_str(j, "organization-name", r->org_name);
	dr = json_object_new_object();
	json_object_object_add(dr, "start-datetime", rfc3339(r->begin));
	json_object_object_add(dr, "end-datetime", rfc3339(r->end));
	json_object_object_add(j, "date-range", dr);
	add_str(j, "contact-info", r->contact_info);
	add_str(j, "report-id", r->report_id);
	pols = json_object_new_array();
	for (i = 0; i < r->npolicies; i++)
		json_object_array_add(pols, tls_policy_json(&r->policies[i]));
	json_object_object_add(j, "policies", pols);
	db_text_array(&darr, (const char *const *)doms, nd);
	params[0] = from != NULL ? from : "";
	params[1] = mail_from != NULL ? mail_from : "";
	params[2] = host_report ? "true" : "false";
	params[3] = r->org_name;
	params[4] = r->report_id;
	params[5] = r->contact_info != NULL ? r->contact_info : "";
	params[6] = db_i64(r->begin);
	params[7] = db_i64(r->end);
	params[8] = darr.data;
	params[9] = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN);
	memset(&ctx, 0, sizeof(ctx));
	ctx.insert_sql = tls_insert_sql;
	ctx.derive_sql = tls_policies_sql;
	ctx.derive_extra = darr.data;
	ctx.params = params;
	ctx.nparams = 10;
	rc = run_add(pool, &ctx, id_r, error_r);
out:
	for (i = 0; i < nd; i++)
		free(doms[i]);
	free(doms);
	free(from);
	buf_free(&darr);
	json_object_put(j);
	return rc;
}

/* ---- suppression list ---- */

const char *
reports_kind_name(enum reports_kind k)
{
	return k == REPORTS_DMARC ? "dmarc" : "tlsrpt";
}

char *
reports_address_normalize(const char *address, const char **error_r)
{
	struct mail_addr a;
	struct buf out;
	const char *s = address;

	if (ms_startswith_ci(s, "mailto:"))
		s += 7;
	if (mail_addr_parse_mailbox(s, strlen(s), true, &a, error_r) < 0)
		return NULL;
	if (a.domain[0] == '[') {
		mail_addr_free(&a);
		*error_r = "an address literal cannot receive reports";
		return NULL;
	}
	buf_init(&out);
	mail_addr_format(&out, &a, true);
	mail_addr_free(&a);
	return buf_steal(&out);
}

int
reports_suppress_add(struct db_pool *pool, enum reports_kind k, const char *address,
	int64_t until, const char *comment, int64_t *id_r, const char **error_r)
{
	char *addr;
	PGresult *res;
	PGconn *c;

	*id_r = 0;
	if (until <= ms_now() || until > MAX_TIME) {
		*error_r = "the until time must be in the future";
		return -1;
	}
	addr = reports_address_normalize(address, error_r);
	if (addr == NULL)
		return -1;
	c = db_get(pool, error_r);
	if (c == NULL) {
		free(addr);
		return -1;
	}
	/* One statement: the insert's id, or the existing entry's. */
	res = db_execv(c, error_r,
		"WITH ins AS (INSERT INTO report_suppressions (kind, reporting_address, until,"
		" comment)"
		" VALUES ($1, $2, to_timestamp($3::bigint), $4)"
		" ON CONFLICT (kind, reporting_address) DO NOTHING RETURNING id)"
		" SELECT id, true FROM ins UNION ALL"
		" SELECT id, false FROM report_suppressions WHERE kind = $1"
		" AND reporting_address = $2"
		" AND NOT EXISTS (SELECT 1 FROM ins)",
		4, reports_kind_name(k), addr, db_i64(until), comment != NULL ? comment : "");
	db_put(pool, c);
	free(addr);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		*error_r = "suppression entry changed concurrently, try again";
		return -1;
	}
	*id_r = db_get_i64(res, 0, 0);
	if (db_get_bool(res, 0, 1)) {
		PQclear(res);
		return 1;
	}
	PQclear(res);
	return 0;
}

/* Run a one-row change; returns 1 when a row changed, 0 none, -1 error. */
static int
change(struct db_pool *pool, const char **error_r, const char *sql, int n, const char *p1,
	const char *p2, const char *p3)
{
	PGresult *res;
	PGconn *c;
	int rc;

	c = db_get(pool, error_r);
	if (c == NULL)
		return -1;
	res = db_execv(c, error_r, sql, n, p1, p2, p3);
	db_put(pool, c);
	if (res == NULL)
		return -1;
	rc = PQcmdTuples(res)[0] != '\0' && strcmp(PQcmdTuples(res), "0") != 0 ? 1 : 0;
	PQclear(res);
	return rc;
}

int
reports_suppress_remove(struct db_pool *pool, enum reports_kind k, int64_t id,
	const char **error_r)
{
	return change(pool, error_r, "DELETE FROM report_suppressions WHERE kind = $1 AND id = $2",
		2, reports_kind_name(k), db_i64(id), NULL);
}

int
reports_suppress_extend(struct db_pool *pool, enum reports_kind k, int64_t id, int64_t until,
	const char **error_r)
{
	if (until <= ms_now() || until > MAX_TIME) {
		*error_r = "the until time must be in the future";
		return -1;
	}
	return change(pool, error_r, "UPDATE report_suppressions"
		" SET until = to_timestamp($3::bigint) WHERE kind = $1 AND id = $2", 3,
		reports_kind_name(k), db_i64(id), db_i64(until));
}

int
reports_suppressed(struct db_pool *pool, enum reports_kind k, const char *address,
	const char **error_r)
{
	char *addr = reports_address_normalize(address, error_r);
	PGresult *res;
	PGconn *c;
	int rc;

	if (addr == NULL)
		return -1;
	c = db_get(pool, error_r);
	if (c == NULL) {
		free(addr);
		return -1;
	}
	res = db_execv(c, error_r, "SELECT 1 FROM report_suppressions WHERE kind = $1"
		" AND reporting_address = $2 AND until > now()", 2, reports_kind_name(k), addr);
	db_put(pool, c);
	free(addr);
	if (res == NULL)
		return -1;
	rc = PQntuples(res) > 0 ? 1 : 0;
	PQclear(res);
	return rc;
}
