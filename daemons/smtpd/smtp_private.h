/* Internals of the mailstead-smtpd session shared by its files:
 * smtp_session.c (command loop, EHLO/MAIL/RCPT/DATA for port 25),
 * smtp_auth.c (AUTH, TLS client certificates, login attempts) and
 * smtp_submit.c (what submission does after DATA). Nothing outside
 * daemons/smtpd includes this. */
#ifndef MS_SMTP_PRIVATE_H
#define MS_SMTP_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/sasl.h"
#include "core/buf.h"
#include "store/store_rules.h"
#include "smtp_data.h"
#include "smtp_parse.h"
#include "smtp_session.h"
#include "store/store_rules.h"

/* RFC 4954 4: "a server implementation MUST be able to handle at least
 * 12288 octets" of base64 in a response line (and in the initial
 * response): the AUTH command line and continuation lines with CRLF. */
#define SMTP_AUTH_RESPONSE_MAX 12288
#define SMTP_AUTH_CMDLINE_MAX (SMTP_AUTH_RESPONSE_MAX + 64)
#define SMTP_AUTH_LINE_MAX (SMTP_AUTH_RESPONSE_MAX + 2)

struct tx_rcpt {
	char *addr;		/* localpart@domain for logs and "for" */
	char *localpart;
	char *domain;		/* lower-case Unicode, as stored in domains.name */
	/* Local destination or alias (status OK), or for submission a
	 * remote recipient (STORE_DEST_NOT_LOCAL) that goes to the queue. */
	struct store_recipient r;
};

/* The mail transaction (RFC 5321 3.3): MAIL, RCPT..., DATA. */
struct smtp_tx {
	bool active;		/* MAIL accepted */
	struct smtp_mail mail;
	char *from;		/* formatted reverse-path without "<>"; "" for <> */
	struct tx_rcpt *rcpts;
	size_t nrcpts, cap;
	/* localserve: the first accepted recipient localpart that fails the
	 * message after DATA (kept also when the recipient was a duplicate). */
	char *localserve_data_fail;
};

struct smtp_session {
	struct conn *c;
	const struct smtp_server *srv;
	const struct conf *conf;
	const char *cid;

	struct smtp_helo helo;
	bool helo_done;
	bool esmtp;		/* EHLO rather than HELO */
	char *remote_name;	/* verified reverse name (iprev); NULL */
	bool remote_name_dnssec;	/* ...from DNSSEC-authentic answers */

	bool tls;		/* STARTTLS done or implicit TLS */
	bool tls_required;	/* refuse most commands before STARTTLS */
	bool submission;	/* submission listener: AUTH required */

	/* Authentication (submission only), by AUTH or by a registered TLS
	 * client certificate (the reference needs no AUTH command then). */
	bool authenticated;
	bool sasl_done;		/* AUTH succeeded: another AUTH is 503 */
	int64_t account_id;
	char *account_name;
	char *username;		/* login address, for logs */
	/* The TLS client certificate: its key fingerprint (NULL: none), and
	 * when the key is registered, its account and login address. */
	char *tls_fingerprint;
	int64_t tls_account_id;
	char *tls_login_address;
	/* Channel-binding data of the TLS connection (SCRAM-*-PLUS). */
	struct buf cb[SASL_CB_NTYPES];
	bool have_cb[SASL_CB_NTYPES];

	struct smtp_tx tx;
	unsigned ntx;		/* transactions that reached DATA */
	unsigned nerrors;
	bool quit;		/* end the session after the replies */
	struct buf line;
};

/* Parsed arguments passed from a check to its proceed. */
struct smtp_cmd {
	struct smtp_cmdline line;
	union {
		struct smtp_helo helo;
		struct smtp_mail mail;
		struct {
			struct smtp_rcpt rcpt;
			struct store_recipient r;
			const char *domain;	/* lookup domain (postmaster: ours) */
			char *addr;		/* formatted, for logs and "for" */
			bool duplicate;
		} rcpt;
		struct {
			char *mech;		/* as given, NUL-terminated */
			char *initial;		/* base64 initial response, or NULL */
			struct sasl_server *sasl;
		} auth;
	} u;
};

/* ---- smtp_session.c ---- */

/* One reply line; fmt is the line without CRLF. */
void smtp_reply(struct smtp_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Refuse a command with a complete reply line; 5xx replies count towards
 * the error limit. */
void smtp_refuse(struct smtp_session *s, const char *line);
/* Append the trace header lines for a stored or queued copy: Return-Path
 * (when with_return_path) and Received. */
void smtp_build_prefix(struct smtp_session *s, const char *txid, bool with_return_path,
	const struct buf *auth_headers, struct buf *p);


/* Deliver the received file at path to the transaction's local recipients
 * (status OK) through the delivery plan (aliases, rulesets); prefix holds
 * the header lines stored with each copy. refuse_any_not_allowed: an alias
 * refusing the sender refuses the whole message (else only when all
 * recipients refuse). External alias members are added to forwards_r, or
 * only logged when it is NULL. Stored message ids are appended to ids.
 * Returns 0 delivered and durable (also when no copy was needed), 1 when
 * refused (*error_r is the whole reply line), -1 on errors. */
struct smtp_analysis;
int smtp_deliver_local(struct smtp_session *s, const char *path, const char *txid,
	const struct buf *prefix, bool refuse_any_not_allowed,
	const struct smtp_analysis *an, struct buf *ids,
	struct store_forwards *forwards_r, const char **error_r);

/* ---- smtp_auth.c ---- */

/* After a TLS handshake (implicit or STARTTLS): remember channel-binding
 * data and, for submission with tls_client_auth, a client certificate;
 * a registered key authenticates the session (FEATURES.md, seed 004: "for
 * smtp (submission), we don't require an explicit auth command"). */
void smtp_auth_tls_established(struct smtp_session *s);
/* Too many failed authentications from the client's address right now? */
bool smtp_auth_ratelimited(struct smtp_session *s);
/* Append the mechanisms for the EHLO AUTH keyword (RFC 4954 3); nothing
 * when none may be used yet (no TLS while TLS is required). */
void smtp_auth_ehlo_mechanisms(struct smtp_session *s, struct buf *out);
/* The AUTH command (RFC 4954 4): check and proceed for the command table. */
int smtp_check_auth(struct smtp_session *s, struct smtp_cmd *cmd);
void smtp_proceed_auth(struct smtp_session *s, struct smtp_cmd *cmd);
void smtp_cleanup_auth(struct smtp_cmd *cmd);
/* Free the authentication state of the session. */
void smtp_auth_free(struct smtp_session *s);

/* ---- smtp_submit.c ---- */

/* Submission (RFC 6409) MAIL FROM policy: may the authenticated account
 * use this reverse-path? Replies and returns -1 when not. */
int smtp_submit_check_mailfrom(struct smtp_session *s, const struct smtp_mail *m);
/* Submission after DATA: check the message, then deliver to local
 * recipients and queue for remote ones; sends the final reply. path is
 * the received, fsync'd temporary file; eightbit and size from the DATA
 * reader. */
void smtp_submit_data(struct smtp_session *s, const char *path, const char *txid,
	const struct smtp_data *d);

/* ---- smtp_localserve.c ---- */

/* Is this a port-25 session with [smtp] localserve_account set? */
bool smtp_localserve_on(const struct smtp_session *s);
/* A special localpart with prefix ("mailfrom", "rcptto", "" at DATA) at
 * stage (for logs): returns 0 when localpart is ordinary, -1 after the
 * failure reply (or after ending the session: s->quit). */
int smtp_localserve_check(struct smtp_session *s, const char *stage, const char *prefix,
	const char *localpart);
/* An accepted recipient: remember its localpart when it is to fail the
 * message at DATA. */
void smtp_localserve_rcpt(struct smtp_session *s, const char *localpart);
/* The DATA stage: a remembered special localpart fails the message (the
 * reply is sent). Returns 0 or -1. */
int smtp_localserve_data(struct smtp_session *s);
/* Replace dest (not ours) by the lookup of the localserve account; rcpt is
 * for logs. Returns 0 (dest's status tells whether the account exists) or
 * -1 on a database error. */
int smtp_localserve_redirect(struct smtp_session *s, const char *rcpt,
	struct store_recipient *dest, const char **error_r);

#endif
