/* Admin API: DMARC aggregate and TLS reports we received (the reference's
 * webadmin DMARCReports, DMARCReportID, DMARCSummaries, TLSReports,
 * TLSReportID, TLSRPTSummaries), our DMARC evaluations and outgoing TLS
 * results kept for the reports we send (DMARCEvaluation*, TLSRPTResults*),
 * and the suppression lists of reporting addresses (DMARCSuppress*,
 * TLSRPTSuppress*). Reports are stored by lib/reports; the tables are in
 * sql/014_reports.sql, 005_message_auth.sql and 009_tlspolicy.sql.
 *
 * Conventions of the results: times are unix seconds; lists that can grow
 * take (offset, limit) and answer {total, <items>}; time filters take
 * (start, end) in unix seconds and select what overlaps [start, end);
 * a domain parameter "" means all domains. Stored report documents are
 * returned as stored, with their RFC's field names. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "admin/admin_private.h"
#include "core/util.h"
#include "reports/reports.h"

/* Latest time a parameter may name: the end of year 9999. */
#define MAX_TIME 253402300799LL

/* ---- parameters ---- */

/* Parameters i and i+1 as a time range [start, end) in unix seconds. */
static int
param_range(struct web_call *call, size_t i, int64_t *start_r, int64_t *end_r)
{
	*start_r = web_call_int(call, i);
	*end_r = web_call_int(call, i + 1);
	if (*start_r < 0 || *start_r > MAX_TIME)
		return web_call_error(call, "user:error",
			"parameter %zu (start) must be a unix time from 0 to %lld", i + 1,
			MAX_TIME);
	if (*end_r <= *start_r || *end_r > MAX_TIME)
		return web_call_error(call, "user:error", "parameter %zu (end) must be a unix time "
			"after start (parameter %zu) and at most %lld", i + 2, i + 1, MAX_TIME);
	return 0;
}

/* Parameters i and i+1 as offset (0 or more) and limit (1 to 1000). */
static int
param_page(struct web_call *call, size_t i, int64_t *offset_r, int64_t *limit_r)
{
	*offset_r = web_call_int(call, i);
	*limit_r = web_call_int(call, i + 1);
	if (*offset_r < 0 || *offset_r > 1000000000)
		return web_call_error(call, "user:error", "parameter %zu (offset) must be 0 to "
			"1000000000", i + 1);
	if (*limit_r < 1 || *limit_r > 1000)
		return web_call_error(call, "user:error", "parameter %zu (limit) must be 1 to 1000",
			i + 2);
	return 0;
}

/* Parameter i as a domain, "" allowed (all domains): *dom_r malloc'd. */
static int
param_domain_opt(struct web_call *call, size_t i, char **dom_r)
{
	if (web_call_str(call, i)[0] == '\0') {
		*dom_r = xstrdup("");
		return 0;
	}
	return admin_param_domain(call, i, dom_r);
}

/* Parameter i as a future unix time (until of a suppression). */
static int
param_until(struct web_call *call, size_t i, int64_t *until_r)
{
	*until_r = web_call_int(call, i);
	if (*until_r <= ms_now() || *until_r > MAX_TIME)
		return web_call_error(call, "user:error",
			"parameter %zu (until) must be a unix time in the future", i + 1);
	return 0;
}

/* ---- results from rows ---- */

/* How a column becomes a JSON value: 's' string, 'i' integer, 'b'
 * boolean, 'j' JSON text (arrays are selected with to_json). */
struct col {
	const char *key;
	char type;
};

static struct json_object *
row_json(const PGresult *res, int row, int first, const struct col *cols, size_t ncols)
{
	struct json_object *o = json_object_new_object();
	size_t k;

	for (k = 0; k < ncols; k++) {
		int c = first + (int)k;
		const char *v = PQgetvalue(res, row, c);
		struct json_object *j;

		if (PQgetisnull(res, row, c)) {
			j = NULL;
		} else if (cols[k].type == 'i') {
			j = json_object_new_int64(db_get_i64(res, row, c));
		} else if (cols[k].type == 'b') {
			j = json_object_new_boolean(db_get_bool(res, row, c));
		} else if (cols[k].type == 'j') {
			j = json_tokener_parse(v);
		} else {
			j = json_object_new_string(v);
		}
		json_object_object_add(o, cols[k].key, j);
	}
	return o;
}

static struct json_object *
rows_json(const PGresult *res, int first, const struct col *cols, size_t ncols)
{
	struct json_object *arr = json_object_new_array();
	int i;

	for (i = 0; i < PQntuples(res); i++)
		json_object_array_add(arr, row_json(res, i, first, cols, ncols));
	return arr;
}

/* A page: column 0 is the total, the row columns follow from column 1;
 * one row with NULL columns when the page is empty (the queries join the
 * count with the page so both come in one statement). */
static struct json_object *
page_json(const PGresult *res, const char *key, const struct col *cols, size_t ncols)
{
	struct json_object *o = json_object_new_object(), *arr = json_object_new_array();
	int i;

	for (i = 0; i < PQntuples(res); i++) {
		if (!PQgetisnull(res, i, 1))
			json_object_array_add(arr, row_json(res, i, 1, cols, ncols));
	}
	json_object_object_add(o, "total", json_object_new_int64(PQntuples(res) > 0 ?
		db_get_i64(res, 0, 0) : 0));
	json_object_object_add(o, key, arr);
	return o;
}

#define NCOLS(a) (sizeof(a) / sizeof((a)[0]))
#define EPOCH(x) "extract(epoch FROM " x ")::bigint"

/* ---- received DMARC reports ---- */

static const struct col dmarc_report_cols[] = {
	{ "id", 'i' }, { "domain", 's' }, { "fromDomain", 's' }, { "orgName", 's' },
	{ "email", 's' }, { "reportID", 's' }, { "begin", 'i' }, { "end", 'i' },
	{ "received", 'i' }, { "policyPublished", 'j' }, { "records", 'i' }, { "messages", 'i' },
	{ "dkimFail", 'i' }, { "spfFail", 'i' },
};

/* Reports whose period overlaps [$1, $2), of domain $3 or all for "". */
#define DMARC_FILTER " date_end >= to_timestamp($1::bigint)" \
	" AND date_begin < to_timestamp($2::bigint) AND ($3 = '' OR domain = $3)"

/* DMARCReports(start, end, domain, offset, limit) -> {total, reports: [{id,
 * domain, fromDomain, orgName, email, reportID, begin, end, received,
 * policyPublished, records, messages, dkimFail, spfFail}]}: received DMARC
 * aggregate reports overlapping the period, newest period end first. */
int
admin_api_dmarc_reports(struct web_call *call)
{
	int64_t start, end, off, lim;
	char *dom = NULL;
	PGresult *res;

	if (param_range(call, 0, &start, &end) < 0 || param_domain_opt(call, 2, &dom) < 0 ||
	    param_page(call, 3, &off, &lim) < 0) {
		free(dom);
		return -1;
	}
	res = admin_query(call, "DMARC reports",
		"WITH f AS (SELECT * FROM dmarc_reports WHERE" DMARC_FILTER ")"
		" SELECT t.n, p.* FROM (SELECT count(*) AS n FROM f) AS t LEFT JOIN LATERAL"
		" (SELECT id, domain, from_domain, org_name, email, report_id,"
		"  " EPOCH("date_begin") ", " EPOCH("date_end") ", " EPOCH("received") ","
		"  policy_published::text, record_count, message_count,"
		"  (SELECT coalesce(sum(count), 0) FROM dmarc_report_records WHERE report = f.id"
		"   AND dkim = 'fail'),"
		"  (SELECT coalesce(sum(count), 0) FROM dmarc_report_records WHERE report = f.id"
		"   AND spf = 'fail')"
		"  FROM f ORDER BY date_end DESC, domain, id DESC"
		"  OFFSET $4::bigint LIMIT $5::bigint) AS p ON true",
		5, db_i64(start), db_i64(end), dom, db_i64(off), db_i64(lim));
	free(dom);
	if (res == NULL)
		return -1;
	call->result = page_json(res, "reports", dmarc_report_cols, NCOLS(dmarc_report_cols));
	PQclear(res);
	return 0;
}

/* DMARCReportID(domain, id) -> {id, domain, fromDomain, received, report}:
 * one report with its records (report: the stored document, RFC 7489
 * appendix C names). user:notFound unless the report is about domain. */
int
admin_api_dmarc_report_id(struct web_call *call)
{
	static const struct col cols[] = {
		{ "id", 'i' }, { "domain", 's' }, { "fromDomain", 's' }, { "received", 'i' },
		{ "report", 'j' },
	};
	char *dom;
	PGresult *res;

	if (admin_param_domain(call, 0, &dom) < 0)
		return -1;
	res = admin_query(call, "DMARC report",
		"SELECT id, domain, from_domain, " EPOCH("received") ", report::text"
		" FROM dmarc_reports WHERE id = $1::bigint AND domain = $2", 2,
		db_i64(web_call_int(call, 1)), dom);
	free(dom);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return web_call_error(call, "user:notFound", "no DMARC report %lld about domain %s",
			(long long)web_call_int(call, 1), web_call_str(call, 0));
	}
	call->result = row_json(res, 0, 0, cols, NCOLS(cols));
	PQclear(res);
	return 0;
}

/* DMARCSummaries(start, end, domain) -> [{domain, reports, total,
 * dispositionNone, dispositionQuarantine, dispositionReject, dkimFail,
 * spfFail, policyOverrides: {reason: messages}}]: per domain, over the
 * reports overlapping the period, message counts; ordered by domain. */
int
admin_api_dmarc_summaries(struct web_call *call)
{
	static const struct col cols[] = {
		{ "domain", 's' }, { "reports", 'i' }, { "total", 'i' }, { "dispositionNone", 'i' },
		{ "dispositionQuarantine", 'i' }, { "dispositionReject", 'i' }, { "dkimFail", 'i' },
		{ "spfFail", 'i' }, { "policyOverrides", 'j' },
	};
	int64_t start, end;
	char *dom = NULL;
	PGresult *res;

	if (param_range(call, 0, &start, &end) < 0 || param_domain_opt(call, 2, &dom) < 0) {
		free(dom);
		return -1;
	}
	res = admin_query(call, "DMARC summaries",
		"WITH f AS (SELECT id, domain FROM dmarc_reports WHERE" DMARC_FILTER "),"
		" c AS (SELECT f.domain, r.* FROM f"
		"  JOIN dmarc_report_records AS r ON r.report = f.id)"
		" SELECT d.domain, d.reports, coalesce(s.total, 0), coalesce(s.dnone, 0),"
		"  coalesce(s.dquar, 0), coalesce(s.drej, 0), coalesce(s.dkimfail, 0),"
		"  coalesce(s.spffail, 0), coalesce(o.ov, '{}')::text"
		" FROM (SELECT domain, count(*) AS reports FROM f GROUP BY domain) AS d"
		" LEFT JOIN (SELECT domain, sum(count) AS total,"
		"  sum(count) FILTER (WHERE disposition = 'none') AS dnone,"
		"  sum(count) FILTER (WHERE disposition = 'quarantine') AS dquar,"
		"  sum(count) FILTER (WHERE disposition = 'reject') AS drej,"
		"  sum(count) FILTER (WHERE dkim = 'fail') AS dkimfail,"
		"  sum(count) FILTER (WHERE spf = 'fail') AS spffail"
		"  FROM c GROUP BY domain) AS s USING (domain)"
		" LEFT JOIN (SELECT domain, jsonb_object_agg(reason, n) AS ov FROM"
		"  (SELECT domain, reason, sum(count) AS n FROM c, unnest(c.reasons) AS u(reason)"
		"   GROUP BY domain, reason) AS x GROUP BY domain) AS o USING (domain)"
		" ORDER BY d.domain",
		3, db_i64(start), db_i64(end), dom);
	free(dom);
	if (res == NULL)
		return -1;
	call->result = rows_json(res, 0, cols, NCOLS(cols));
	PQclear(res);
	return 0;
}

/* ---- received TLS reports ---- */

static const struct col tls_report_cols[] = {
	{ "id", 'i' }, { "policyDomains", 'j' }, { "fromDomain", 's' }, { "mailFrom", 's' },
	{ "hostReport", 'b' }, { "orgName", 's' }, { "reportID", 's' }, { "contactInfo", 's' },
	{ "begin", 'i' }, { "end", 'i' }, { "received", 'i' }, { "success", 'i' },
	{ "failure", 'i' },
};

#define TLS_FILTER " date_end >= to_timestamp($1::bigint) AND date_begin < to_timestamp($2::bigint)"

/* TLSReports(start, end, policyDomain, offset, limit) -> {total, reports:
 * [{id, policyDomains, fromDomain, mailFrom, hostReport, orgName,
 * reportID, contactInfo, begin, end, received, success, failure}]}:
 * received TLS reports overlapping the period that have a policy for
 * policyDomain ("" all), newest period end first. */
int
admin_api_tls_reports(struct web_call *call)
{
	int64_t start, end, off, lim;
	char *dom = NULL;
	PGresult *res;

	if (param_range(call, 0, &start, &end) < 0 || param_domain_opt(call, 2, &dom) < 0 ||
	    param_page(call, 3, &off, &lim) < 0) {
		free(dom);
		return -1;
	}
	res = admin_query(call, "TLS reports",
		"WITH f AS (SELECT * FROM tls_reports WHERE" TLS_FILTER
		"  AND ($3 = '' OR $3 = ANY (policy_domains)))"
		" SELECT t.n, p.* FROM (SELECT count(*) AS n FROM f) AS t LEFT JOIN LATERAL"
		" (SELECT id, to_json(policy_domains)::text, from_domain, mail_from, host_report,"
		"  org_name, report_id, contact_info, " EPOCH("date_begin") ","
		"  " EPOCH("date_end") ", " EPOCH("received") ", success_count, failure_count"
		"  FROM f ORDER BY date_end DESC, policy_domains[1], id DESC"
		"  OFFSET $4::bigint LIMIT $5::bigint) AS p ON true",
		5, db_i64(start), db_i64(end), dom, db_i64(off), db_i64(lim));
	free(dom);
	if (res == NULL)
		return -1;
	call->result = page_json(res, "reports", tls_report_cols, NCOLS(tls_report_cols));
	PQclear(res);
	return 0;
}

/* TLSReportID(domain, id) -> {id, policyDomains, fromDomain, mailFrom,
 * hostReport, received, report}: one report (report: the stored document,
 * RFC 8460 names); user:notFound unless it has a policy for domain. */
int
admin_api_tls_report_id(struct web_call *call)
{
	static const struct col cols[] = {
		{ "id", 'i' }, { "policyDomains", 'j' }, { "fromDomain", 's' }, { "mailFrom", 's' },
		{ "hostReport", 'b' }, { "received", 'i' }, { "report", 'j' },
	};
	char *dom;
	PGresult *res;

	if (admin_param_domain(call, 0, &dom) < 0)
		return -1;
	res = admin_query(call, "TLS report",
		"SELECT id, to_json(policy_domains)::text, from_domain, mail_from, host_report,"
		" " EPOCH("received") ", report::text FROM tls_reports"
		" WHERE id = $1::bigint AND $2 = ANY (policy_domains)",
		2, db_i64(web_call_int(call, 1)), dom);
	free(dom);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return web_call_error(call, "user:notFound", "no TLS report %lld about domain %s",
			(long long)web_call_int(call, 1), web_call_str(call, 0));
	}
	call->result = row_json(res, 0, 0, cols, NCOLS(cols));
	PQclear(res);
	return 0;
}

/* TLSRPTSummaries(start, end, policyDomain) -> [{policyDomain, reports,
 * success, failure, resultTypeCounts: {result-type: sessions}}]: per policy
 * domain over the reports overlapping the period, ordered by domain. */
int
admin_api_tlsrpt_summaries(struct web_call *call)
{
	static const struct col cols[] = {
		{ "policyDomain", 's' }, { "reports", 'i' }, { "success", 'i' }, { "failure", 'i' },
		{ "resultTypeCounts", 'j' },
	};
	int64_t start, end;
	char *dom = NULL;
	PGresult *res;

	if (param_range(call, 0, &start, &end) < 0 || param_domain_opt(call, 2, &dom) < 0) {
		free(dom);
		return -1;
	}
	res = admin_query(call, "TLS summaries",
		"WITH p AS (SELECT p.* FROM tls_reports AS r JOIN tls_report_policies AS p"
		"  ON p.report = r.id WHERE" TLS_FILTER " AND ($3 = '' OR p.policy_domain = $3))"
		" SELECT s.policy_domain, s.reports, s.success, s.failure,"
		"  coalesce(o.rt, '{}')::text"
		" FROM (SELECT policy_domain, count(DISTINCT report) AS reports,"
		"  sum(success_count) AS success, sum(failure_count) AS failure"
		"  FROM p GROUP BY policy_domain) AS s"
		" LEFT JOIN (SELECT policy_domain, jsonb_object_agg(t, n) AS rt FROM"
		"  (SELECT policy_domain, d->>'result-type' AS t,"
		"   sum(coalesce((d->>'failed-session-count')::bigint, 0)) AS n"
		"   FROM p, jsonb_array_elements(p.failure_details) AS d GROUP BY 1, 2) AS x"
		"  GROUP BY policy_domain) AS o USING (policy_domain)"
		" ORDER BY s.policy_domain",
		3, db_i64(start), db_i64(end), dom);
	free(dom);
	if (res == NULL)
		return -1;
	call->result = rows_json(res, 0, cols, NCOLS(cols));
	PQclear(res);
	return 0;
}

/* ---- our DMARC evaluations ---- */

/* DMARCEvaluationStats() -> [{domain, count, first, last, dispositions,
 * sendReport}]: evaluations of incoming messages kept for our aggregate
 * reports, per policy domain; sendReport: at least one is not optional,
 * so a report will be sent. */
int
admin_api_dmarc_evaluation_stats(struct web_call *call)
{
	static const struct col cols[] = {
		{ "domain", 's' }, { "count", 'i' }, { "first", 'i' }, { "last", 'i' },
		{ "dispositions", 'j' }, { "sendReport", 'b' },
	};
	PGresult *res;

	res = admin_query(call, "DMARC evaluations",
		"SELECT policy_domain, count(*), " EPOCH("min(evaluated)") ","
		" " EPOCH("max(evaluated)") ","
		" to_json(array_agg(DISTINCT disposition ORDER BY disposition))::text,"
		" bool_or(NOT optional)"
		" FROM dmarc_evaluations GROUP BY policy_domain ORDER BY policy_domain", 0);
	if (res == NULL)
		return -1;
	call->result = rows_json(res, 0, cols, NCOLS(cols));
	PQclear(res);
	return 0;
}

/* DMARCEvaluationsDomain(domain, start, end, offset, limit) -> {total,
 * evaluations: [{id, evaluated, optional, intervalHours, addresses,
 * policyPublished, sourceIP, disposition, alignedDKIMPass, alignedSPFPass,
 * overrideReasons, envelopeTo, envelopeFrom, headerFrom, dkimResults,
 * spfResults}]}: the domain's evaluations in [start, end), newest first. */
int
admin_api_dmarc_evaluations_domain(struct web_call *call)
{
	static const struct col cols[] = {
		{ "id", 'i' }, { "evaluated", 'i' }, { "optional", 'b' }, { "intervalHours", 'i' },
		{ "addresses", 'j' }, { "policyPublished", 'j' }, { "sourceIP", 's' },
		{ "disposition", 's' }, { "alignedDKIMPass", 'b' }, { "alignedSPFPass", 'b' },
		{ "overrideReasons", 'j' }, { "envelopeTo", 's' }, { "envelopeFrom", 's' },
		{ "headerFrom", 's' }, { "dkimResults", 'j' }, { "spfResults", 'j' },
	};
	int64_t start, end, off, lim;
	char *dom = NULL;
	PGresult *res;

	if (admin_param_domain(call, 0, &dom) < 0)
		return -1;
	if (param_range(call, 1, &start, &end) < 0 || param_page(call, 3, &off, &lim) < 0) {
		free(dom);
		return -1;
	}
	res = admin_query(call, "DMARC evaluations",
		"WITH f AS (SELECT * FROM dmarc_evaluations WHERE policy_domain = $1"
		"  AND evaluated >= to_timestamp($2::bigint)"
		"  AND evaluated < to_timestamp($3::bigint))"
		" SELECT t.n, p.* FROM (SELECT count(*) AS n FROM f) AS t LEFT JOIN LATERAL"
		" (SELECT id, " EPOCH("evaluated") ", optional, interval_hours,"
		"  to_json(addresses)::text,"
		"  policy_published::text, host(source_ip), disposition, aligned_dkim_pass,"
		"  aligned_spf_pass, to_json(override_reasons)::text, envelope_to, envelope_from,"
		"  header_from, dkim_results::text, spf_results::text"
		"  FROM f ORDER BY evaluated DESC, id DESC OFFSET $4::bigint LIMIT $5::bigint)"
		" AS p ON true",
		5, dom, db_i64(start), db_i64(end), db_i64(off), db_i64(lim));
	free(dom);
	if (res == NULL)
		return -1;
	call->result = page_json(res, "evaluations", cols, NCOLS(cols));
	PQclear(res);
	return 0;
}

/* DMARCRemoveEvaluations(domain) -> number removed: no report will be
 * sent for them. */
int
admin_api_dmarc_remove_evaluations(struct web_call *call)
{
	char *dom;
	PGresult *res;
	int64_t n;

	if (admin_param_domain(call, 0, &dom) < 0)
		return -1;
	res = admin_query(call, "removing DMARC evaluations",
		"WITH d AS (DELETE FROM dmarc_evaluations WHERE policy_domain = $1 RETURNING 1)"
		" SELECT count(*) FROM d", 1, dom);
	if (res == NULL) {
		free(dom);
		return -1;
	}
	n = db_get_i64(res, 0, 0);
	PQclear(res);
	admin_log(call, "dmarc-evaluations-removed", dom);
	free(dom);
	call->result = json_object_new_int64(n);
	return 0;
}

/* ---- our outgoing TLS results ---- */

static const struct col tls_result_cols[] = {
	{ "id", 'i' }, { "policyDomain", 's' }, { "day", 's' }, { "recipientDomain", 's' },
	{ "isHost", 'b' }, { "policyType", 's' }, { "policyStrings", 'j' }, { "policyMX", 'j' },
	{ "successCount", 'i' }, { "failureCount", 'i' }, { "failureDetails", 'j' },
	{ "sendReport", 'b' }, { "updated", 'i' },
};

#define TLS_RESULT_COLS "id, policy_domain, day_utc::text, recipient_domain, is_host," \
	" policy_type, to_json(policy_strings)::text, to_json(policy_mx)::text, success_count," \
	" failure_count, failure_details::text, send_report, " EPOCH("updated")

/* TLSRPTResults(start, end, offset, limit) -> {total, results: [{id,
 * policyDomain, day, recipientDomain, isHost, policyType, policyStrings,
 * policyMX, successCount, failureCount, failureDetails, sendReport,
 * updated}]}: our outgoing TLS results (what our TLS reports will say)
 * for UTC days overlapping [start, end), newest day first. */
int
admin_api_tlsrpt_results(struct web_call *call)
{
	int64_t start, end, off, lim;
	PGresult *res;

	if (param_range(call, 0, &start, &end) < 0 || param_page(call, 2, &off, &lim) < 0)
		return -1;
	res = admin_query(call, "TLS results",
		"WITH f AS (SELECT * FROM tlsrpt_results"
		"  WHERE day_utc >= (to_timestamp($1::bigint) AT TIME ZONE 'UTC')::date"
		"  AND day_utc < to_timestamp($2::bigint) AT TIME ZONE 'UTC')"
		" SELECT t.n, p.* FROM (SELECT count(*) AS n FROM f) AS t LEFT JOIN LATERAL"
		" (SELECT " TLS_RESULT_COLS " FROM f"
		"  ORDER BY day_utc DESC, policy_domain, recipient_domain, is_host"
		"  OFFSET $3::bigint LIMIT $4::bigint) AS p ON true",
		4, db_i64(start), db_i64(end), db_i64(off), db_i64(lim));
	if (res == NULL)
		return -1;
	call->result = page_json(res, "results", tls_result_cols, NCOLS(tls_result_cols));
	PQclear(res);
	return 0;
}

/* TLSRPTResultsDomain(isRcptDom, domain) -> [results as TLSRPTResults]:
 * the results for a recipient domain (isRcptDom) or a policy domain,
 * newest day first. */
int
admin_api_tlsrpt_results_domain(struct web_call *call)
{
	bool rcpt = web_call_bool(call, 0);
	char *dom;
	PGresult *res;

	if (admin_param_domain(call, 1, &dom) < 0)
		return -1;
	res = admin_query(call, "TLS results",
		rcpt ? "SELECT " TLS_RESULT_COLS " FROM tlsrpt_results WHERE recipient_domain = $1"
		       " ORDER BY day_utc DESC, policy_domain, is_host" :
		       "SELECT " TLS_RESULT_COLS " FROM tlsrpt_results WHERE policy_domain = $1"
		       " ORDER BY day_utc DESC, recipient_domain, is_host",
		1, dom);
	free(dom);
	if (res == NULL)
		return -1;
	call->result = rows_json(res, 0, tls_result_cols, NCOLS(tls_result_cols));
	PQclear(res);
	return 0;
}

/* "YYYY-MM-DD" naming a real day. */
static bool
valid_day(const char *s)
{
	static const unsigned mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	uint64_t y, m, d;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' ||
	    ms_parse_u64n(s, 4, 1, 9999, &y) < 0 || ms_parse_u64n(s + 5, 2, 1, 12, &m) < 0 ||
	    ms_parse_u64n(s + 8, 2, 1, mdays[m - 1], &d) < 0)
		return false;
	/* February 29 only in leap years (Gregorian rule). */
	return !(m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)));
}

/* TLSRPTRemoveResults(isRcptDom, domain, day) -> number removed: results
 * of a recipient domain (isRcptDom) or policy domain, of one UTC day
 * "YYYY-MM-DD" or all days (""). */
int
admin_api_tlsrpt_remove_results(struct web_call *call)
{
	bool rcpt = web_call_bool(call, 0);
	const char *day = web_call_str(call, 2);
	char *dom;
	PGresult *res;
	int64_t n;

	if (day[0] != '\0' && !valid_day(day))
		return web_call_error(call, "user:error", "parameter 3 (day) must be a day "
			"YYYY-MM-DD or empty for all days");
	if (admin_param_domain(call, 1, &dom) < 0)
		return -1;
	res = admin_query(call, "removing TLS results",
		rcpt ? "WITH d AS (DELETE FROM tlsrpt_results WHERE recipient_domain = $1"
		       " AND ($2 = '' OR day_utc = $2::text::date) RETURNING 1)"
		       " SELECT count(*) FROM d" :
		       "WITH d AS (DELETE FROM tlsrpt_results WHERE policy_domain = $1"
		       " AND ($2 = '' OR day_utc = $2::text::date) RETURNING 1)"
		       " SELECT count(*) FROM d",
		2, dom, day);
	if (res == NULL) {
		free(dom);
		return -1;
	}
	n = db_get_i64(res, 0, 0);
	PQclear(res);
	admin_log(call, "tls-results-removed", dom);
	free(dom);
	call->result = json_object_new_int64(n);
	return 0;
}

/* ---- suppression lists of reporting addresses ---- */

/* XSuppressAdd(reportingAddress, until, comment) -> id. */
static int
suppress_add(struct web_call *call, enum reports_kind k)
{
	const char *err;
	int64_t until, id;
	int rc;

	if (param_until(call, 1, &until) < 0)
		return -1;
	rc = reports_suppress_add(web_env_pool(call->req->env), k, web_call_str(call, 0), until,
		web_call_str(call, 2), &id, &err);
	if (rc < 0)
		return web_call_error(call, "user:error", "parameter 1 (reportingAddress): %s",
			err);
	if (rc == 0)
		return web_call_error(call, "user:error", "parameter 1 (reportingAddress): "
			"already on the list (entry %lld); extend that entry instead",
			(long long)id);
	admin_log(call, k == REPORTS_DMARC ? "dmarc-suppress-added" : "tlsrpt-suppress-added",
		web_call_str(call, 0));
	call->result = json_object_new_int64(id);
	return 0;
}

/* XSuppressList() -> [{id, inserted, reportingAddress, until, comment,
 * active}], by address; active: until is still ahead. */
static int
suppress_list(struct web_call *call, enum reports_kind k)
{
	static const struct col cols[] = {
		{ "id", 'i' }, { "inserted", 'i' }, { "reportingAddress", 's' }, { "until", 'i' },
		{ "comment", 's' }, { "active", 'b' },
	};
	PGresult *res;

	res = admin_query(call, "suppression list",
		"SELECT id, " EPOCH("inserted") ", reporting_address, " EPOCH("until") ", comment,"
		" until > now() FROM report_suppressions WHERE kind = $1"
		" ORDER BY reporting_address", 1, reports_kind_name(k));
	if (res == NULL)
		return -1;
	call->result = rows_json(res, 0, cols, NCOLS(cols));
	PQclear(res);
	return 0;
}

static int
suppress_result(struct web_call *call, int rc, const char *err, const char *what)
{
	if (rc < 0)
		return admin_fail(call, what, err);
	if (rc == 0)
		return web_call_error(call, "user:notFound", "no suppression list entry %lld",
			(long long)web_call_int(call, 0));
	admin_log(call, what, db_i64(web_call_int(call, 0)));
	call->result = NULL;
	return 0;
}

/* XSuppressRemove(id). */
static int
suppress_remove(struct web_call *call, enum reports_kind k)
{
	const char *err = NULL;
	int rc = reports_suppress_remove(web_env_pool(call->req->env), k, web_call_int(call, 0),
		&err);

	return suppress_result(call, rc, err, k == REPORTS_DMARC ? "dmarc-suppress-removed" :
		"tlsrpt-suppress-removed");
}

/* XSuppressExtend(id, until). */
static int
suppress_extend(struct web_call *call, enum reports_kind k)
{
	const char *err = NULL;
	int64_t until;
	int rc;

	if (param_until(call, 1, &until) < 0)
		return -1;
	rc = reports_suppress_extend(web_env_pool(call->req->env), k, web_call_int(call, 0), until,
		&err);
	return suppress_result(call, rc, err, k == REPORTS_DMARC ? "dmarc-suppress-extended" :
		"tlsrpt-suppress-extended");
}

int
admin_api_dmarc_suppress_add(struct web_call *call)
{
	return suppress_add(call, REPORTS_DMARC);
}

int
admin_api_dmarc_suppress_list(struct web_call *call)
{
	return suppress_list(call, REPORTS_DMARC);
}

int
admin_api_dmarc_suppress_remove(struct web_call *call)
{
	return suppress_remove(call, REPORTS_DMARC);
}

int
admin_api_dmarc_suppress_extend(struct web_call *call)
{
	return suppress_extend(call, REPORTS_DMARC);
}

int
admin_api_tlsrpt_suppress_add(struct web_call *call)
{
	return suppress_add(call, REPORTS_TLSRPT);
}

int
admin_api_tlsrpt_suppress_list(struct web_call *call)
{
	return suppress_list(call, REPORTS_TLSRPT);
}

int
admin_api_tlsrpt_suppress_remove(struct web_call *call)
{
	return suppress_remove(call, REPORTS_TLSRPT);
}

int
admin_api_tlsrpt_suppress_extend(struct web_call *call)
{
	return suppress_extend(call, REPORTS_TLSRPT);
}
