/* TLSRPT data of outgoing deliveries (RFC 8460): result types, and the
 * recording of each delivery attempt's TLS/policy result per policy
 * domain and UTC day in tlsrpt_results (sql/009_tlspolicy.sql), from
 * which the TLS report sender builds its daily reports. */
#ifndef MS_TLSRPT_H
#define MS_TLSRPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 8460 section 4.3: result-type values of failure details. */
enum tlsrpt_result_type {
	TLSRPT_SUCCESS = 0,	/* not a failure: counted in the success count */
	TLSRPT_STARTTLS_NOT_SUPPORTED,
	TLSRPT_CERTIFICATE_HOST_MISMATCH,
	TLSRPT_CERTIFICATE_EXPIRED,
	TLSRPT_CERTIFICATE_NOT_TRUSTED,
	TLSRPT_VALIDATION_FAILURE,
	TLSRPT_TLSA_INVALID,
	TLSRPT_DNSSEC_INVALID,
	TLSRPT_DANE_REQUIRED,
	TLSRPT_STS_POLICY_FETCH_ERROR,
	TLSRPT_STS_POLICY_INVALID,
	TLSRPT_STS_WEBPKI_INVALID,
};

/* "starttls-not-supported", ...; "success" for TLSRPT_SUCCESS. */
const char *tlsrpt_result_type_name(enum tlsrpt_result_type t);
/* The reverse; returns 0 or -1. */
int tlsrpt_result_type_parse(const char *s, enum tlsrpt_result_type *t_r);

/* RFC 8460 section 4.4: policy-type. */
enum tlsrpt_policy_type {
	TLSRPT_POLICY_NONE = 0,	/* "no-policy-found" */
	TLSRPT_POLICY_STS,	/* "sts" */
	TLSRPT_POLICY_TLSA,	/* "tlsa" */
};
const char *tlsrpt_policy_type_name(enum tlsrpt_policy_type t);

struct tlsrpt_failure {
	enum tlsrpt_result_type type;
	const char *sending_ip;		/* our address; NULL when not connected */
	const char *receiving_mx;	/* MX host name, NULL if none */
	const char *receiving_ip;	/* NULL when not connected */
	const char *reason;		/* failure-reason-code, NULL for none */
};

/* One delivery attempt's contribution to one policy's daily result. */
struct tlsrpt_result {
	/* The recipient domain for its MTA-STS policy (is_host false), or
	 * the MX host for its DANE policy (is_host true). */
	const char *policy_domain;
	const char *recipient_domain;
	bool is_host;
	enum tlsrpt_policy_type policy_type;
	/* The policy for the report: MTA-STS policy lines or TLSA records
	 * in presentation form, and the MTA-STS mx patterns. */
	const char *const *policy_strings;
	size_t npolicy_strings;
	const char *const *policy_mx;
	size_t npolicy_mx;
	unsigned success;	/* successful sessions */
	unsigned failure;	/* failed sessions */
	/* Failure details; each adds one to its detail's failed-session-count
	 * (details may also note problems that did not fail the session,
	 * e.g. a testing-mode policy mismatch). */
	const struct tlsrpt_failure *details;
	size_t ndetails;
	/* false: keep but never report (deliveries of TLS reports
	 * themselves, RFC 8460 section 3). */
	bool send_report;
};

struct db_pool;

/* Add n results (distinct policy_domain/recipient_domain/is_host
 * combinations) to today's (UTC) rows in one statement: counts are added,
 * identical failure details (same type, hosts, IPs and reason) merged
 * with their counts summed, the policy replaced by the latest. Returns 0,
 * or -1 with *error_r (the caller logs it; delivery goes on). */
int tlsrpt_results_add(struct db_pool *pool, const struct tlsrpt_result *r, size_t n,
	const char **error_r);

#endif
