/* Server-side SASL (RFC 4422) shared by SMTP AUTH (RFC 4954) and IMAP
 * AUTHENTICATE (RFC 9051 section 6.2.2): one mechanism-agnostic state
 * machine for PLAIN (RFC 4616), LOGIN (draft-murchison-sasl-login),
 * CRAM-MD5 (RFC 2195), SCRAM-SHA-1, SCRAM-SHA-256 (RFC 5802, RFC 7677) and
 * their -PLUS variants with tls-unique/tls-exporter channel binding
 * (RFC 5929, RFC 9266), and EXTERNAL (RFC 4422 appendix A) on top of a TLS
 * client certificate. The protocol code does the framing (base64, "*" to
 * cancel, 334/"+" continuations); this module sees decoded bytes only. */
#ifndef MS_SASL_H
#define MS_SASL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/password.h"
#include "core/buf.h"

/* ---- message helpers (also used directly by IMAP LOGIN paths) ---- */

/* Parse a decoded PLAIN message "authzid NUL authcid NUL passwd".
 * authzid_r/authcid_r/passwd_r are filled (NUL-terminated copies).
 * Returns 0, or -1 with *error_r when malformed (wrong number of NULs,
 * empty authcid, over 1024 bytes per field). An authzid different from the
 * authcid is refused by callers (no proxy authorization). */
int sasl_plain_parse(const char *msg, size_t n, struct buf *authzid_r,
	struct buf *authcid_r, struct buf *passwd_r, const char **error_r);

/* Decode a base64 SASL response line (without CRLF); "=" means empty.
 * Returns 0, or -1 when it is not valid base64. "*" (cancel) is handled by
 * the caller. */
int sasl_decode_response(const char *line, size_t n, struct buf *out);

/* ---- mechanisms to announce ---- */

/* Append the space-separated mechanism list in the order of FEATURES.md
 * section 2: EXTERNAL first when the client presented a certificate (and
 * tls), then SCRAM-SHA-256-PLUS SCRAM-SHA-256 SCRAM-SHA-1-PLUS SCRAM-SHA-1
 * CRAM-MD5 PLAIN LOGIN; the -PLUS names only when tls and
 * have_channel_binding. Whether to offer AUTH at all without TLS, and
 * which names IMAP leaves out (it announces no LOGIN, and PLAIN only with
 * TLS), is the protocol's decision. */
void sasl_mechanisms(bool tls, bool have_channel_binding, bool have_client_cert,
	struct buf *out);

/* ---- credentials lookup ---- */

/* What the server needs to verify any mechanism for one account. Filled by
 * the lookup callback (store_credentials_lookup() in lib/store). Holds
 * secrets: the state machine wipes its copy; so should other holders. */
struct sasl_creds {
	int64_t account_id;
	char account_name[256];
	bool have_password;	/* false: no credentials row (EXTERNAL only) */
	struct credentials cr;	/* yescrypt hash, SCRAM keys, CRAM-MD5 pads */
	bool login_disabled;
	char login_disabled_msg[256];	/* shown to the user; may be empty */
};

/* Look up username (an account name or one of its addresses, as the client
 * gave it after SASLprep). Returns 1 found (out filled), 0 unknown user,
 * -1 internal error (the callback logs the reason). */
typedef int sasl_lookup_fn(void *ctx, const char *username, struct sasl_creds *out);

/* ---- the server state machine ---- */

/* Channel-binding types of RFC 5929 section 3 and RFC 9266. */
enum sasl_cb_type {
	SASL_CB_TLS_UNIQUE,	/* TLS <= 1.2 (SSL_get_finished/peer_finished) */
	/* TLS 1.3: keying material exporter with label
	 * "EXPORTER-Channel-Binding", 32 bytes, empty context (RFC 9266). */
	SASL_CB_TLS_EXPORTER,
	SASL_CB_NTYPES,
};

struct sasl_params {
	const char *hostname;	/* for the CRAM-MD5 challenge */
	bool tls;		/* the connection is TLS-protected */
	/* Channel-binding data of this connection per type; NULL/0 when not
	 * available. Any present means -PLUS is offered (and a "y" gs2 flag is
	 * a downgrade). Copied by sasl_server_new. */
	const unsigned char *cb_data[SASL_CB_NTYPES];
	size_t cb_len[SASL_CB_NTYPES];
	/* EXTERNAL: the account whose TLS public key the client presented
	 * (0: no certificate, or a key we do not know), and the login address
	 * registered with that key. Copied. */
	int64_t external_account_id;
	const char *external_login_address;
	/* Secret for the fake SCRAM salts of unknown users. Give the same
	 * persistent secret to every process (store_server_secret() in
	 * lib/store), or salts for an unknown user differ between smtpd and
	 * imapd and across restarts, which reveals that the user is unknown.
	 * NULL: a random per-process secret. Copied. */
	const unsigned char *secret;
	size_t secret_len;
	sasl_lookup_fn *lookup;
	void *lookup_ctx;
};

enum sasl_status {
	SASL_CONTINUE,	/* send out as a challenge (334 / "+"), call step again */
	SASL_OK,	/* authenticated: sasl_server_account(), _username() */
	SASL_FAIL,	/* authentication failed: 535 / NO [AUTHENTICATIONFAILED] */
	SASL_ERROR,	/* internal error, e.g. database down: 454 / NO [UNAVAILABLE] */
};

/* Largest decoded client message accepted in one step; longer fails. */
#define SASL_MAX_MESSAGE 8192

struct sasl_server;

/* Start an exchange for mech (case-insensitive name as announced by
 * sasl_mechanisms). Returns NULL when the mechanism is unknown or not
 * offered on this connection (-PLUS without channel-binding data, EXTERNAL
 * without TLS or a known client key); the protocol answers 504 / NO.
 * p->lookup is required for every mechanism. Free with sasl_server_free. */
struct sasl_server *sasl_server_new(const char *mech, const struct sasl_params *p);
void sasl_server_free(struct sasl_server **s);

/* Feed one decoded client message. On the first call, in == NULL means the
 * client sent no initial response (AUTH PLAIN without argument); an empty
 * initial response ("=") is in != NULL with inlen 0. Later calls must pass
 * in != NULL. out is reset and receives the next challenge for
 * SASL_CONTINUE (it may be empty: send "334 " / "+ "). Return values as in
 * enum sasl_status; *error_r explains SASL_FAIL/SASL_ERROR for the log
 * (never containing a password). Once SASL_OK, SASL_FAIL or SASL_ERROR was
 * returned the exchange is over and further steps return SASL_FAIL.
 *
 * SCRAM (RFC 5802 section 5): after a valid client-final message the
 * server-final message "v=..." comes back with SASL_CONTINUE, and the
 * client's (empty) answer yields SASL_OK, as RFC 4954 section 4 and RFC
 * 9051 require. When SCRAM fails after the client-final message, out holds
 * the RFC 5802 server-error "e=..." with SASL_FAIL; a protocol may send it
 * as a challenge and discard the client's "*" before answering, or ignore
 * it and answer at once (both are fine for clients). */
enum sasl_status sasl_server_step(struct sasl_server *s, const char *in, size_t inlen,
	struct buf *out, const char **error_r);

/* After SASL_OK: the account authenticated, and the user name the client
 * authenticated as (the login address for EXTERNAL without authzid).
 * Before that, username is what the client claimed so far ("" if nothing),
 * account is 0. The string lives as long as s. */
int64_t sasl_server_account(const struct sasl_server *s);
const char *sasl_server_username(const struct sasl_server *s);
/* Canonical account name of the authenticated account ("" before). */
const char *sasl_server_account_name(const struct sasl_server *s);
/* Account name the claimed user name belongs to, also after a failure
 * ("" when unknown): for logs and login attempts (LoginAttempt.AccountName,
 * "-" when ""). Never tell it to the client, never use it to authorize. */
const char *sasl_server_log_account(const struct sasl_server *s);

/* Lower-case mechanism name for logs and login attempts, e.g.
 * "scram-sha-256-plus". */
const char *sasl_server_mech(const struct sasl_server *s);

/* Outcome for LoginAttempt.Result (FEATURES.md section 4): "ok",
 * "badcreds" (wrong password or unknown user; never distinguished),
 * "badchanbind", "badprotocol" (malformed message, SCRAM extension,
 * unsupported authzid), "logindisabled", "error"; "" while running. */
const char *sasl_server_result(const struct sasl_server *s);

/* When the credentials were right but the account's login is disabled
 * (result "logindisabled"), the message to show the user ("" if none);
 * NULL otherwise. Protocols answer without [AUTHENTICATIONFAILED] then, so
 * clients do not ask for another password. */
const char *sasl_server_login_disabled(const struct sasl_server *s);

/* Tests only: use challenge instead of a random value, as the SCRAM server
 * nonce part or the whole CRAM-MD5 challenge. Call before the first step. */
void sasl_server_set_test_challenge(struct sasl_server *s, const char *challenge);

#endif
