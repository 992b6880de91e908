/* Reports other mail servers send us and the suppression list of our own
 * reporting: storage of received DMARC aggregate reports (RFC 7489 section
 * 7.2, appendix C) and TLS reports (RFC 8460) in the tables of
 * sql/014_reports.sql. A report parser (XML for DMARC, JSON for TLS) fills
 * the structures below and calls reports_*_add, which checks them and
 * writes the report with its records in one transaction; the admin
 * interface reads the tables. Strings in the structures are borrowed;
 * NULL means absent (stored as absent in the report JSON, "" in columns). */
#ifndef MS_REPORTS_H
#define MS_REPORTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db_pool;

/* Limits of what one report may hold: a report over them is refused. */
#define REPORTS_MAX_RECORDS 100000
#define REPORTS_MAX_ITEMS 1000	/* auth results, reasons, policies, details per parent */
/* Longest organization name and report id: they form the unique key that
 * stores a report sent twice once, and index entries are bounded. */
#define REPORTS_MAX_ID 1000

/* ---- DMARC aggregate reports (RFC 7489 appendix C) ---- */

struct reports_dmarc_dkim {
	const char *domain, *selector, *result, *human_result;
};

struct reports_dmarc_spf {
	const char *domain, *scope, *result;
};

struct reports_dmarc_reason {
	const char *type, *comment;	/* type: forwarded, sampled_out, ... */
};

struct reports_dmarc_record {
	const char *source_ip;		/* IPv4 or IPv6 address, required */
	int64_t count;			/* >= 0 */
	/* policy_evaluated: disposition none/quarantine/reject, dkim and
	 * spf pass/fail (as the reporter wrote them, lower-cased on store). */
	const char *disposition, *dkim, *spf;
	const struct reports_dmarc_reason *reasons;
	size_t nreasons;
	const char *envelope_to, *envelope_from, *header_from;	/* identifiers */
	const struct reports_dmarc_dkim *dkim_results;	/* auth_results */
	size_t ndkim;
	const struct reports_dmarc_spf *spf_results;
	size_t nspf;
};

struct reports_dmarc_policy {
	const char *domain;		/* required: the domain the report is about */
	const char *adkim, *aspf, *p, *sp, *fo;
	int pct;			/* 0-100, -1 when absent */
};

struct reports_dmarc_feedback {
	const char *version;
	/* report_metadata; org_name and report_id are required */
	const char *org_name, *email, *extra_contact_info, *report_id;
	int64_t begin, end;		/* date_range, unix seconds, begin <= end */
	const char *const *errors;
	size_t nerrors;
	struct reports_dmarc_policy policy;
	const struct reports_dmarc_record *records;
	size_t nrecords;
};

/* Store a DMARC aggregate report that arrived in a message From
 * from_domain (NULL or "" when unknown). Returns 1 stored with *id_r the
 * new dmarc_reports.id, 0 when the same report (org_name, report_id,
 * domain) is already stored (*id_r its id), -1 with *error_r for an
 * invalid report (missing org_name/report_id, bad domain or source IP,
 * end before begin, negative count, over the limits) or a database
 * error. The report is checked before the database is used; nothing is
 * written unless everything is. */
int reports_dmarc_add(struct db_pool *pool, const struct reports_dmarc_feedback *f,
	const char *from_domain, int64_t *id_r, const char **error_r);

/* ---- TLS reports (RFC 8460 section 4.4) ---- */

struct reports_tls_failure {
	const char *result_type;	/* required, e.g. "certificate-expired" */
	const char *sending_mta_ip, *receiving_mx_hostname, *receiving_mx_helo;
	const char *receiving_ip, *additional_information, *failure_reason_code;
	int64_t failed_session_count;	/* >= 0 */
};

struct reports_tls_policy {
	const char *policy_type;	/* required: sts, tlsa, no-policy-found */
	const char *const *policy_strings;
	size_t npolicy_strings;
	const char *policy_domain;	/* required */
	const char *const *mx_hosts;
	size_t nmx_hosts;
	int64_t success, failure;	/* summary session counts, >= 0 */
	const struct reports_tls_failure *details;
	size_t ndetails;
};

struct reports_tls_report {
	/* organization-name and report-id are required */
	const char *org_name, *contact_info, *report_id;
	int64_t begin, end;		/* date-range, unix seconds, begin <= end */
	const struct reports_tls_policy *policies;	/* at least one */
	size_t npolicies;
};

/* Store a TLS report that arrived in a message From from_domain with MAIL
 * FROM mail_from (either NULL when unknown); host_report: it came to our
 * MX host's TLSRPT address (DANE) rather than a mail domain's. Returns 1
 * stored (*id_r the new tls_reports.id), 0 when a report with the same
 * organization-name and report-id is already stored (*id_r its id), -1
 * with *error_r (invalid report as for reports_dmarc_add, database). */
int reports_tls_add(struct db_pool *pool, const struct reports_tls_report *r,
	const char *from_domain, const char *mail_from, bool host_report, int64_t *id_r,
	const char **error_r);

/* ---- suppression of our outgoing reports ---- */

enum reports_kind { REPORTS_DMARC, REPORTS_TLSRPT };

/* "dmarc" / "tlsrpt", the kind column of report_suppressions. */
const char *reports_kind_name(enum reports_kind k);

/* Normalize a reporting address ("mailto:" prefix allowed) to
 * localpart@domain with a lower-case Unicode domain: malloc'd, or NULL
 * with *error_r. */
char *reports_address_normalize(const char *address, const char **error_r);

/* Add address until the unix time until (in the future) with a comment.
 * Returns 1 added (*id_r), 0 already on the list (*id_r its id; until and
 * comment unchanged), -1 with *error_r (bad address or time, database). */
int reports_suppress_add(struct db_pool *pool, enum reports_kind k, const char *address,
	int64_t until, const char *comment, int64_t *id_r, const char **error_r);
/* Returns 1 removed, 0 no such entry of this kind, -1 error. */
int reports_suppress_remove(struct db_pool *pool, enum reports_kind k, int64_t id,
	const char **error_r);
/* Set the until time of an entry. Returns 1 changed, 0 no such entry, -1
 * error. */
int reports_suppress_extend(struct db_pool *pool, enum reports_kind k, int64_t id,
	int64_t until, const char **error_r);
/* Whether reports of kind k to address are suppressed now: 1 yes, 0 no,
 * -1 error (for the report senders). */
int reports_suppressed(struct db_pool *pool, enum reports_kind k, const char *address,
	const char **error_r);

#endif
