/* Outbound TLS policy for SMTP delivery: what TLS a delivery to a recipient
 * domain and MX host needs, from MTA-STS (RFC 8461), DANE (RFC 7672) and
 * the sender's choice (REQUIRETLS, or "TLS-Required: No", RFC 8689), the
 * verification of the SSL connection accordingly, and the TLSRPT record of
 * each attempt (RFC 8460). This is the one interface the delivery code
 * uses; the modes follow mox's smtpclient: a STARTTLS requirement, and
 * independent PKIX and DANE verification, whose errors may be ignored.
 *
 * Use per delivery attempt:
 *   tlspolicy_domain_begin(recipient domain)       MTA-STS, once
 *   for each MX host:
 *     tlspolicy_host_begin(host, mx_authentic)     DANE, MX match, REQUIRETLS
 *     if h.skip: tlspolicy_host_record(...), next host
 *     connect, EHLO;
 *     no STARTTLS offered or handshake failed:
 *       tlspolicy_tls_failed() says whether plaintext may be used
 *     else SSL_new(tlspolicy_ssl_ctx()), tlspolicy_ssl_prepare(), handshake,
 *       tlspolicy_ssl_check() says whether to go on
 *     tlspolicy_host_record(...)                   TLSRPT row
 *     tlspolicy_host_end()
 *   tlspolicy_domain_end()
 */
#ifndef MS_TLSPOLICY_H
#define MS_TLSPOLICY_H

#include <stdbool.h>

#include <openssl/ssl.h>

#include "mailauth/mtasts.h"
#include "mailauth/tlsrpt.h"
#include "net/dane.h"

struct db_pool;
struct dns;

struct tlspolicy_config {
	struct db_pool *pool;	/* MTA-STS cache and TLSRPT results */
	struct dns *dns;
	/* PEM CA certificates trusted for PKIX verification (SMTP servers
	 * under MTA-STS, MTA-STS policy hosts) besides the system's; NULL or
	 * "": only the system's. */
	const char *ca_file;
	/* Port of MTA-STS policy hosts; 0: 443 (other values for tests). */
	unsigned mtasts_port;
	int mtasts_timeout_ms;	/* 0: 60 s */
	/* Our host name, only for logs. */
	const char *hostname;
};

struct tlspolicy;

/* Create the policy context and its client SSL_CTX (DANE enabled, system
 * CA store plus ca_file). Returns NULL with *error_r (bad CA file). The
 * config's pointers must outlive the context. Thread-safe in use. */
struct tlspolicy *tlspolicy_new(const struct tlspolicy_config *cfg, const char **error_r);
void tlspolicy_free(struct tlspolicy **tp);
/* The SSL_CTX to make outgoing SMTP SSL objects from (owned by tp). */
SSL_CTX *tlspolicy_ssl_ctx(struct tlspolicy *tp);

/* The message's TLS choice (RFC 8689). */
enum tlspolicy_sender {
	TLSPOLICY_SENDER_DEFAULT = 0,
	TLSPOLICY_SENDER_REQUIRETLS,	/* MAIL FROM ... REQUIRETLS */
	TLSPOLICY_SENDER_TLS_OPTIONAL,	/* "TLS-Required: No" header */
};

struct tlspolicy_domain {
	char *domain;
	enum tlspolicy_sender sender;
	/* Do not report (delivering a TLS report itself, RFC 8460 sec. 3). */
	bool no_report;
	struct mtasts_outcome sts;
	/* An MTA-STS policy in mode enforce applies: only matching MX hosts,
	 * STARTTLS with a PKIX-valid certificate for the host. */
	bool sts_enforce;
	bool sts_testing;
	/* The MTA-STS problem (sts.result_type) was recorded already. */
	bool sts_problem_recorded;
	/* MTA-STS lines for TLS reports ("version: STSv1", ...). */
	char **policy_lines;
	size_t npolicy_lines;
};

/* Start a delivery attempt to domain (ASCII, lower case): find its MTA-STS
 * policy. Returns 0, or -1 with *error_r when the policy cannot be
 * determined now (temporary DNS error without a cached policy): the
 * attempt should be retried later (a TLS report failure is recorded
 * unless the sender said TLS-Required: No, which ignores MTA-STS
 * problems and returns 0). Free d with tlspolicy_domain_end either way. */
int tlspolicy_domain_begin(struct tlspolicy *tp, const char *domain,
	enum tlspolicy_sender sender, struct tlspolicy_domain *d, const char **error_r);
void tlspolicy_domain_end(struct tlspolicy_domain *d);

enum tlspolicy_tls {
	/* STARTTLS when offered; plaintext when not offered or when the
	 * handshake fails (then reconnect without trying TLS). */
	TLSPOLICY_TLS_OPPORTUNISTIC = 0,
	/* STARTTLS must be offered and succeed. */
	TLSPOLICY_TLS_REQUIRED,
};

struct tlspolicy_host {
	char *host;
	/* Do not connect to this host: MX not in the enforced MTA-STS
	 * policy, TLSA lookup failure, or REQUIRETLS that cannot be met
	 * (neither DANE, nor MTA-STS enforce, nor DNSSEC-signed MX records
	 * for PKIX with the host name). skip_permanent: REQUIRETLS unmet
	 * (554 5.7.30 when every host is). */
	bool skip, skip_permanent;
	char *skip_reason;
	enum tlspolicy_tls tls;
	bool pkix;		/* the certificate must be PKIX-valid for host */
	bool pkix_report;	/* check PKIX for reports only (MTA-STS testing) */
	bool dane;		/* the certificate must match the TLSA records */
	/* "TLS-Required: No": verification failures are recorded, not fatal,
	 * and plaintext is allowed. */
	bool ignore_verify_errors;
	struct dane_host dh;
	/* The outcome so far, for the TLSRPT record and logs. */
	enum tlsrpt_result_type result;
	char *result_reason;
	bool failed;		/* counts as a failed session */
	bool mx_mismatch;	/* host not in a testing/enforce MTA-STS policy */
	bool verified;		/* PKIX or DANE verification passed */
};

/* Decide the requirements for MX host (ASCII, lower case; the domain
 * itself when it has no MX records). mx_authentic: the MX lookup of the
 * recipient domain was DNSSEC-secure (for an implicit MX: true, the
 * host's own address lookup decides). Free h with tlspolicy_host_end. */
void tlspolicy_host_begin(struct tlspolicy *tp, struct tlspolicy_domain *d, const char *host,
	bool mx_authentic, struct tlspolicy_host *h);
void tlspolicy_host_end(struct tlspolicy_host *h);
/* "opportunistic", "required+pkix", "required+dane", ... for logs. */
const char *tlspolicy_host_mode(const struct tlspolicy_host *h);

/* Set up ssl (from tlspolicy_ssl_ctx, not yet handshaken) for h: SNI,
 * DANE records, host name for PKIX. The handshake never aborts on a
 * certificate problem; tlspolicy_ssl_check decides. Returns 0, or -1 with
 * *error_r. */
int tlspolicy_ssl_prepare(struct tlspolicy_host *h, SSL *ssl, const char **error_r);
/* After a successful handshake: verify as h requires. Returns 0 to go on
 * with the session (verified, nothing to verify, or failure ignored),
 * -1 to quit it (a temporary failure; *error_r says why). */
int tlspolicy_ssl_check(struct tlspolicy_host *h, SSL *ssl, const char **error_r);
/* STARTTLS was not offered (not_offered) or the handshake failed (why).
 * Returns true when delivery may go on in plaintext (opportunistic TLS,
 * or TLS-Required: No), false when the host must be given up (temporary
 * failure). */
bool tlspolicy_tls_failed(struct tlspolicy_host *h, bool not_offered, const char *why);

/* Record the attempt with h (after it, or after skipping h) for TLS
 * reports: the recipient domain's result and, when DNSSEC made DANE a
 * question, the host's. local_ip/remote_ip: the connection's addresses,
 * NULL when none. Errors are logged, not returned. */
void tlspolicy_host_record(struct tlspolicy *tp, struct tlspolicy_domain *d,
	const struct tlspolicy_host *h, const char *local_ip, const char *remote_ip);

/* Map an OpenSSL X509_V_ERR_* code to a TLSRPT result type. */
enum tlsrpt_result_type tlspolicy_verify_error_type(long verify_error);

#endif
