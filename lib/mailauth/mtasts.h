/* MTA-STS (RFC 8461): the _mta-sts TXT record and policy file parsers, MX
 * host matching (pure, mtasts.c), the HTTPS fetch of a policy with libcurl
 * and the policy cache in PostgreSQL (mtasts_cache.c). The delivery code
 * does not call these directly but through lib/mailauth/tlspolicy.h. */
#ifndef MS_MTASTS_H
#define MS_MTASTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Limits: the policy body is at most 64 KiB (as mox; RFC 8461 sets none),
 * lines at most 1000 bytes, at most 100 mx lines. */
#define MTASTS_MAX_POLICY (64 * 1024)
#define MTASTS_MAX_LINE 1000
#define MTASTS_MAX_MX 100
/* RFC 8461 section 3.2: max_age is at most 31557600 (about a year). */
#define MTASTS_MAX_AGE 31557600

enum mtasts_mode {
	MTASTS_MODE_NONE = 0,
	MTASTS_MODE_TESTING,
	MTASTS_MODE_ENFORCE,
};

/* "none", "testing", "enforce". */
const char *mtasts_mode_name(enum mtasts_mode m);
/* The reverse; returns 0 or -1 for anything else (case-sensitive). */
int mtasts_mode_parse(const char *s, enum mtasts_mode *m_r);

struct mtasts_record {
	char id[33];		/* 1*32(ALPHA / DIGIT) */
};

/* Parse one TXT record (the character-strings concatenated) of
 * _mta-sts.<domain> (RFC 8461 section 3.1). Returns 0 for a valid
 * STSv1 record, 1 when the text does not start with "v=STSv1" (another
 * kind of TXT record: skip it), -1 with *error_r for an STSv1 record
 * with a syntax error (the domain then has no usable policy record). */
int mtasts_record_parse(const char *txt, size_t len, struct mtasts_record *r,
	const char **error_r);

struct mtasts_policy {
	enum mtasts_mode mode;
	uint64_t max_age;	/* seconds, clamped to MTASTS_MAX_AGE */
	/* Allowed MX patterns, lower case: "mx.example.org" or
	 * "*.example.org" (the wildcard covers exactly one label). */
	char **mx;
	size_t nmx;
};

/* Parse a policy file (RFC 8461 section 3.2): LF or CRLF separated
 * "key: value" lines; version STSv1, mode and max_age are required, mx at
 * least once unless mode is none; unknown keys are ignored, and of a
 * repeated version/mode/max_age the first counts. Returns 0 with *p
 * filled (free with mtasts_policy_free), or -1 with *error_r and *p
 * empty. The input need not be NUL-terminated; a NUL byte is an error. */
int mtasts_policy_parse(const char *text, size_t len, struct mtasts_policy *p,
	const char **error_r);
void mtasts_policy_free(struct mtasts_policy *p);
/* Whether host (an MX target, ASCII, any case, trailing dot allowed)
 * matches one of the policy's mx patterns (RFC 8461 section 4.1). */
bool mtasts_policy_matches(const struct mtasts_policy *p, const char *host);
/* Whether s is a valid mx pattern value (LDH labels, optional leading
 * "*." label); for tests and the parser. */
bool mtasts_mx_pattern_valid(const char *s, size_t len);

/* ---- fetching and caching (mtasts_cache.c) ---- */

struct dns;
struct db_pool;

struct mtasts_fetch_options {
	/* PEM file of CA certificates trusted besides the system's (a test
	 * CA, a private CA); NULL or "": the system's only. Verification is
	 * never turned off. */
	const char *ca_file;
	unsigned port;		/* 0: 443; other values for tests */
	int timeout_ms;		/* whole request; 0: 60000 (RFC 8461 section 3.3) */
	/* Resolve mta-sts.<domain> with this resolver (so test zones work
	 * and DNS answers are the ones the delivery sees); NULL: libcurl's
	 * system resolver. */
	struct dns *dns;
};

/* Why a fetch failed, for TLS reports (RFC 8460 section 4.3.2). */
enum mtasts_fetch_error {
	MTASTS_FETCH_OK = 0,
	MTASTS_FETCH_ERROR,	/* sts-policy-fetch-error: DNS, connect, HTTP status, type */
	MTASTS_FETCH_WEBPKI,	/* sts-webpki-invalid: certificate not valid for the host */
	MTASTS_FETCH_INVALID,	/* sts-policy-invalid: the body does not parse */
};

/* GET https://mta-sts.<domain>/.well-known/mta-sts.txt: PKIX-verified,
 * no redirects, HTTPS only, at most MTASTS_MAX_POLICY bytes, status 200
 * with a text/plain body. Returns 0 with the body in body_r (replaced), or
 * -1 with *kind_r and *error_r. Thread-safe. */
int mtasts_fetch(const char *domain, const struct mtasts_fetch_options *o,
	struct buf *body_r, enum mtasts_fetch_error *kind_r, const char **error_r);

/* The policy in effect for a recipient domain, from the cache and DNS
 * (RFC 8461 section 5): */
struct mtasts_outcome {
	/* A policy applies (in any mode; mode none means no restrictions). */
	bool have_policy;
	struct mtasts_policy policy;
	char *policy_text;	/* as fetched, for TLS reports; NULL without policy */
	char *record_id;	/* NULL without policy */
	/* The policy came from the cache although the TXT record said
	 * otherwise or a refresh failed. */
	bool from_cache;
	/* A problem with the domain's MTA-STS worth a TLS report:
	 * "sts-policy-fetch-error", "sts-policy-invalid", "sts-webpki-invalid"
	 * (static), with a reason code (malloc'd); NULL when none. */
	const char *result_type;
	char *reason;
};

/* Determine the policy of domain (lower case A-label form, the recipient
 * domain itself, never a CNAME target): look up the TXT record, use the
 * cached policy while its record id is current and max_age has not run
 * out, else fetch and cache it; a failed fetch is not retried for 5
 * minutes. Returns 0 (o->have_policy says whether one applies), or -1
 * when it cannot be determined now (DNS temporary error without a cached
 * policy, database error) with *error_r: the caller should try delivery
 * again later (RFC 8461 section 5: a temporary failure must not let a
 * downgrade through). Free o with mtasts_outcome_free. */
int mtasts_get(struct db_pool *pool, struct dns *dns, const struct mtasts_fetch_options *fo,
	const char *domain, struct mtasts_outcome *o, const char **error_r);
void mtasts_outcome_free(struct mtasts_outcome *o);

#endif
