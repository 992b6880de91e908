/* The TLS policy of one delivery: the seam where MTA-STS (RFC 8461,
 * lib/mailauth/mtasts.*) and DANE (RFC 7672, lib/net/dane.*) plug into
 * mailstead-queued.
 *
 * How delivery uses it (deliver.c):
 *   1. tlspolicy_for_domain() once per recipient domain and attempt, after
 *      the MX lookup: fills a struct tls_domain_policy (e.g. MTA-STS
 *      "enforce" with its mx patterns, or "none"). It may also reject MX
 *      hosts (tlspolicy_mx_allowed).
 *   2. tlspolicy_for_host() per MX host before connecting: fills a
 *      struct tls_host_policy (mode, names to verify, DANE TLSA records
 *      through the prepare hook of lib/net/tls.h).
 *   3. The SMTP client does STARTTLS as the mode asks and verifies:
 *      opportunistic  STARTTLS when offered, any certificate, plaintext
 *                     when not offered or when the handshake fails;
 *      pkix           STARTTLS required, certificate chain to a trusted
 *                     root and one of verify_names (RFC 6125);
 *      dane           STARTTLS required, the handshake verified by the
 *                     TLSA records the prepare hook gave OpenSSL (or by
 *                     the verify hook).
 *      A REQUIRETLS message (RFC 8689) needs pkix or dane and a verified
 *      handshake whatever the policy says; "TLS-Required: No" makes a
 *      pkix/dane failure non-fatal (deliver over unverified TLS or
 *      plaintext, as RFC 8689 section 5 allows).
 *   4. tlspolicy_report() after each TLS attempt with the outcome, for
 *      TLSRPT (RFC 8460) result recording.
 *
 * tlspolicy.c implements these on lib/mailauth/tlspolicy.h (MTA-STS
 * with the policy cache, DANE, REQUIRETLS / TLS-Required: No, TLSRPT
 * results in the database). */
#ifndef MS_QUEUED_TLSPOLICY_H
#define MS_QUEUED_TLSPOLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "net/tls.h"

struct queued;		/* queued.h */

enum tls_mode {
	TLS_MODE_NONE = 0,	/* no STARTTLS at all (transport setting) */
	TLS_MODE_OPPORTUNISTIC,
	TLS_MODE_PKIX,
	TLS_MODE_DANE,
};

/* Per recipient domain and attempt. */
struct tls_domain_policy {
	/* An MTA-STS policy in mode "enforce" (or "testing", which only
	 * reports): the MX names of the policy ("*.example.org" allowed);
	 * the deliverer then verifies with pkix against the MX host name. */
	bool mtasts_enforce, mtasts_testing;
	char **mtasts_mx;
	size_t nmtasts_mx;
	/* The MX records were DNSSEC-authentic (set by deliver.c). */
	bool mx_authentic;
	/* Opaque state of the policy code (cached policy, TLSA answers...),
	 * freed by tlspolicy_domain_free. */
	void *priv;
};

/* Per host (MX target or smarthost). */
struct tls_host_policy {
	enum tls_mode mode;
	/* Certificate names for pkix (usually the host name). */
	const char *verify_names[8];
	size_t nverify_names;
	/* Handed to conn_tls_connect (lib/net/tls.h): DANE adds the TLSA
	 * records here. prepare_arg lives as long as the domain policy. */
	int (*prepare)(void *arg, struct ssl_st *ssl, const char **error_r);
	void *prepare_arg;
	/* Optional last word after the handshake (ssl from conn_tls_ssl):
	 * return 1 verified, 0 not verified (*error_r why). NULL: the
	 * handshake's own result (tls_client_result.verified) decides. */
	int (*verify)(void *arg, struct ssl_st *ssl, const struct tls_client_result *r,
		const char **error_r);
	/* A failure of verification or of STARTTLS in pkix/dane mode may be
	 * ignored: deliver anyway (TLS-Required: No, MTA-STS testing). */
	bool ignore_errors;
	/* Do not connect at all, for this reason (a TLSA lookup failure of a
	 * DNSSEC-signed host, REQUIRETLS that no verification can meet);
	 * skip_permanent: a permanent failure (5.7.30). NULL: go ahead. The
	 * string lives as long as the domain policy. */
	const char *skip;
	bool skip_permanent;
};

/* What happened with TLS at one host, for tlspolicy_report. */
struct tls_outcome {
	const char *host;	/* MX host name */
	const char *ip;
	bool starttls_offered;
	bool tls_ok;		/* handshake done */
	bool verified;
	/* RFC 8460 result type on failure: "starttls-not-supported",
	 * "certificate-host-mismatch", "certificate-expired",
	 * "certificate-not-trusted", "validation-failure",
	 * "tlsa-invalid", "dnssec-invalid", "sts-policy-invalid", ... */
	const char *failure;
	const char *detail;
};

/* Fill *p for recipient domain domain (lower-case Unicode) of a message
 * with require_tls (-1 default, 0 "TLS-Required: No", 1 REQUIRETLS).
 * mx_authentic is already set in *p. Returns 0, or -1 with *error_r for a
 * temporary failure (policy fetch failed in a way that must delay). */
int tlspolicy_for_domain(struct queued *q, const char *domain, int require_tls,
	struct tls_domain_policy *p, const char **error_r);
/* May we deliver to MX host (from DNS) under the domain policy? */
bool tlspolicy_mx_allowed(const struct tls_domain_policy *p, const char *host);
/* Fill *h for a connection to host (an MX target, or a smarthost when
 * is_mx is false) with the domain policy (NULL for smarthosts). */
void tlspolicy_for_host(struct queued *q, const struct tls_domain_policy *p,
	const char *host, bool is_mx, int require_tls, struct tls_host_policy *h);
/* Record a TLS outcome (TLSRPT); the default logs it. */
void tlspolicy_report(struct queued *q, const char *domain,
	const struct tls_domain_policy *p, const struct tls_outcome *o);
void tlspolicy_domain_free(struct tls_domain_policy *p);

#endif
