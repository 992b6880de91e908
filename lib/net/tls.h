/* TLS (OpenSSL 3) for Mailstead connections: per-listener certificate sets
 * with SNI selection and reload on SIGHUP, the server-side handshake on a
 * struct conn (STARTTLS or implicit TLS), and what the protocols need after
 * it: version/cipher for Received headers and logs, channel bindings for
 * SCRAM-*-PLUS, and the client certificate's public key for EXTERNAL. */
#ifndef MS_TLS_H
#define MS_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "net/conn.h"

/* A listener's TLS settings. Nothing is kept of the pointers after
 * tls_ctx_create returns (the strings are copied). */
struct tls_config {
	/* ncerts pairs of PEM files: a certificate file (leaf first, then
	 * its chain) and the matching private key file (unencrypted; it may
	 * be the same file as the certificate). */
	const char *const *cert_files;
	const char *const *key_files;
	size_t ncerts;
	/* The listener's host name: its certificate is used when the client
	 * sends no SNI name, or one that no certificate covers. NULL or no
	 * match: the first certificate. */
	const char *hostname;
	/* Lowest protocol version accepted, an OpenSSL constant such as
	 * TLS1_2_VERSION (see tls_parse_version); 0 means TLS 1.2. */
	int min_version;
	/* Offer session resumption (TLS 1.3 tickets, TLS 1.2 tickets and
	 * session ids). Off by default in mox for incoming SMTP because some
	 * senders (Microsoft) failed deliveries with tickets. */
	bool session_tickets;
	/* Ask clients for a certificate but never require one, and accept any
	 * certificate without chain or name checks: a client is identified by
	 * its public key only (conn_tls_client_pubkey), as in mox. */
	bool client_auth;
};

/* Parse a protocol version: "1.0" "1.1" "1.2" "1.3", also with a "TLS",
 * "TLSv" or "TLS " prefix (any case). Returns 0 and sets *version_r to the
 * OpenSSL constant (TLS1_2_VERSION, ...), or -1. */
int tls_parse_version(const char *s, int *version_r);
/* "TLS1.0" .. "TLS1.3" for a version number (0x0301..0x0304), "unknown"
 * otherwise. Static string. */
const char *tls_version_name(int version);

struct tls_ctx;

/* Load every certificate/key pair of cfg (one OpenSSL SSL_CTX each) and
 * return a context for handshakes, or NULL with an error naming the file
 * in *error_r. Files are only read here and in tls_ctx_reload, so call it
 * while still root when key files are root-only. Certificates that are
 * expired are loaded, with a warning in the log. */
struct tls_ctx *tls_ctx_create(const struct tls_config *cfg, const char **error_r);
/* Read the same files again and swap the new certificates in for new
 * handshakes; connections already using the old ones keep them until they
 * close. Safe while other threads accept connections. On any error the old
 * certificates stay in use and -1 is returned with the reason; a daemon
 * that dropped root after start cannot reread root-only key files, which
 * the error then says (make the files readable by the daemon user, or
 * restart the daemon). Returns 0 on success. */
int tls_ctx_reload(struct tls_ctx *ctx, const char **error_r);
/* Release the context; connections still using it keep their certificates
 * alive until they close. Sets *ctx to NULL. */
void tls_ctx_free(struct tls_ctx **ctx);
/* The TLS context of a [listener] section (its tls_cert/tls_key files,
 * tls_min_version, tls_session_tickets, tls_client_auth), loaded as the
 * daemons do before dropping privileges, each certificate's names logged
 * for proto. Returns 0 with *ctx_r NULL when the listener has no
 * certificates, or -1 with *error_r. */
struct conf_listener_def;
int tls_ctx_for_listener(const struct conf_listener_def *l, const char *proto,
	struct tls_ctx **ctx_r, const char **error_r);
/* Reload each of the contexts (after SIGHUP), logging the outcome for
 * proto; running connections keep what they started with. */
void tls_ctx_reload_all(struct tls_ctx *const *ctxs, size_t n, const char *proto);
/* Number of certificates, and append the i-th certificate's DNS names
 * (lower case, "*.example.org" for wildcards, separated by spaces) to out,
 * for start-up logs and tests. */
size_t tls_ctx_cert_count(struct tls_ctx *ctx);
void tls_ctx_cert_names(struct tls_ctx *ctx, size_t i, struct buf *out);

/* Flags for conn_tls_accept_flags. */
enum conn_tls_flags {
	/* Fail the handshake (alert unrecognized_name) when the client sends
	 * an SNI name no certificate covers, instead of falling back to the
	 * host name's certificate. mox does this for IMAP and submission;
	 * incoming SMTP falls back (a sender may accept it anyway). */
	CONN_TLS_STRICT_SNI = 1 << 0,
};

/* Run the server side of a TLS handshake on c, bounded by c->timeout_ms in
 * total (a silent or trickling client times out, garbage fails at once;
 * a negative timeout means none). The socket is non-blocking afterwards.
 * Pending output in c is flushed first (the "220 Ready to start TLS" or
 * "OK Begin TLS" reply), and plaintext input that is already buffered is
 * discarded, never read as commands after the handshake (STARTTLS
 * command injection, CVE-2011-0411): see conn_tls_discarded_plaintext.
 * For implicit TLS (465, 993) call it right after the connection starts.
 * Returns 0: from now on all conn_* I/O goes through TLS. Returns -1 with
 * the reason in *error_r: c is then marked failed and must be closed. */
int conn_tls_accept(struct conn *c, struct tls_ctx *ctx, const char **error_r);
int conn_tls_accept_flags(struct conn *c, struct tls_ctx *ctx, unsigned flags,
	const char **error_r);
/* Number of plaintext bytes conn_tls_accept threw away (0 for an honest
 * client); worth logging as a possible injection attempt. */
size_t conn_tls_discarded_plaintext(const struct conn *c);

/* Facts about an established TLS connection; false/NULL/0 without TLS.
 * Strings live as long as the connection. */
bool conn_tls_active(const struct conn *c);
/* "TLS1.2", "TLS1.3" (the form mox uses in Received headers). */
const char *conn_tls_version_name(const struct conn *c);
/* IANA/RFC cipher suite name: "TLS_AES_128_GCM_SHA256",
 * "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384". */
const char *conn_tls_cipher_name(const struct conn *c);
/* Wire values: version 0x0303/0x0304, cipher suite IANA number (0x1301),
 * for messages.received_tls_version / received_tls_cipher_suite. */
uint16_t conn_tls_version_id(const struct conn *c);
uint16_t conn_tls_cipher_id(const struct conn *c);
/* The SNI name the client sent (lower case, no trailing dot), or NULL. */
const char *conn_tls_sni(const struct conn *c);
/* Was the session resumed (ticket or session id)? */
bool conn_tls_resumed(const struct conn *c);
/* Append the Received header comment mox writes, e.g.
 * "(TLS1.3 TLS_AES_128_GCM_SHA256)"; nothing without TLS. */
void conn_tls_received_comment(const struct conn *c, struct buf *out);
/* The TLS facts of a login attempt (login_attempts.tls), in the
 * reference's format: "version=... ciphersuite=... sni=... resumed=...
 * alpn="; nothing without TLS. Appended to out. */
void conn_tls_login_description(const struct conn *c, struct buf *out);

/* Channel binding data for SCRAM-*-PLUS, replacing out's contents.
 * type "tls-unique" (RFC 5929): the first Finished message of the
 * handshake; not defined for TLS 1.3, and refused for a resumed TLS 1.2
 * session without extended master secret (triple handshake attack).
 * type "tls-exporter" (RFC 9266): 32 bytes exported with label
 * "EXPORTER-Channel-Binding" and an empty context; TLS 1.2 only with the
 * extended master secret. Returns 0, or -1 with the reason in *error_r
 * (then do not offer or accept -PLUS with that binding type). */
int conn_tls_channel_binding(struct conn *c, const char *type, struct buf *out,
	const char **error_r);

/* The client certificate, when the client sent one (needs client_auth).
 * Returns 1 and sets fingerprint_r to the SHA-256 of the certificate's
 * DER SubjectPublicKeyInfo, base64url without padding (mox's TLS public
 * key fingerprint), and der_r (may be NULL) to the certificate's DER;
 * both are replaced. Returns 0 without TLS or without a certificate. */
int conn_tls_client_pubkey(struct conn *c, struct buf *fingerprint_r, struct buf *der_r);

/* The same fingerprint from a certificate given as PEM (the first
 * "CERTIFICATE" block is used) or DER, for `mailstead tlspubkey add`.
 * Returns 0 with fp_r and der_r (may be NULL; the certificate's DER)
 * replaced, or -1 with the reason in *error_r. */
int tls_pubkey_fingerprint_from_cert(const char *pem_or_der, size_t n, struct buf *fp_r,
	struct buf *der_r, const char **error_r);
/* Describe a DER certificate for the TLS public key list, as mox does:
 * type_r "rsa-2048", "ecdsa-p256", "ecdsa-p384", "ed25519"; name_r the
 * subject's common name, else "serial <hex>". RSA keys under 2048 bits and
 * other key types are refused. Returns 0 (both buffers replaced), or -1. */
int tls_pubkey_describe(const char *der, size_t n, struct buf *type_r, struct buf *name_r,
	const char **error_r);

/* ---- client side (outgoing SMTP, STARTTLS or implicit TLS) ---- */

struct ssl_st;	/* OpenSSL's SSL */

struct tls_client_params {
	/* SNI server name sent in the ClientHello; NULL or "" for none. */
	const char *sni;
	/* PEM file of trust anchors used besides the system's (tests, a
	 * private smarthost CA); NULL/"" for none. */
	const char *ca_file;
	/* Names (RFC 6125 DNS-IDs, "*.example.org" wildcards in the
	 * certificate allowed, no partial labels) one of which the
	 * certificate must carry for tls_client_result.verified; none: a
	 * trusted chain is enough. */
	const char *const *verify_names;
	size_t nverify_names;
	/* Called after the SSL is set up (SNI and names set), before the
	 * handshake: DANE code enables OpenSSL DANE here and adds the TLSA
	 * records (SSL_dane_enable, SSL_dane_tlsa_add). Returns 0, or -1
	 * with a reason in *error_r, which aborts the handshake. */
	int (*prepare)(void *arg, struct ssl_st *ssl, const char **error_r);
	void *arg;
};

struct tls_client_result {
	/* The chain (or DANE, when enabled by prepare) verified and a
	 * verify name matched (SSL_get_verify_result is X509_V_OK). */
	bool verified;
	/* SSL_get0_dane_authority: depth of the TLSA-matched certificate,
	 * -1 when DANE was not used or nothing matched. */
	int dane_authority;
	char verify_error[256];	/* why not verified */
};

/* Run the client side of a TLS handshake on c (after "220 ready" to
 * STARTTLS, or right after connecting for implicit TLS), bounded by
 * c->timeout_ms in total. Certificate problems do not fail the handshake:
 * they are reported in *res for the caller's policy (opportunistic TLS
 * goes on, verified TLS closes the connection). Returns 0 with TLS
 * active on c, or -1 with *error_r (c is then failed). */
int conn_tls_connect(struct conn *c, const struct tls_client_params *p,
	struct tls_client_result *res, const char **error_r);
/* The OpenSSL connection under an active TLS conn (for policy checks
 * after the handshake), or NULL. */
struct ssl_st *conn_tls_ssl(const struct conn *c);

#endif
