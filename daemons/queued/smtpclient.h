/* SMTP client for outgoing delivery (RFC 5321): connect (directly or
 * through a SOCKS5 proxy, RFC 1928), greeting, EHLO with the extensions we
 * use (PIPELINING RFC 2920, SIZE RFC 1870, 8BITMIME RFC 6152, SMTPUTF8 RFC
 * 6531, STARTTLS RFC 3207, REQUIRETLS RFC 8689, AUTH RFC 4954,
 * ENHANCEDSTATUSCODES RFC 2034), STARTTLS, AUTH with a caller-supplied
 * SASL exchange, and one mail transaction for several recipients.
 * smtpc_reply_parse and smtpc_ehlo_parse (smtpc_parse.c) are pure parsers
 * for the unit tests and the fuzz target. */
#ifndef MS_QUEUED_SMTPCLIENT_H
#define MS_QUEUED_SMTPCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "net/conn.h"
#include "net/tls.h"

/* Longest reply we accept: 512-byte lines (RFC 5321 4.5.3.1.5) times a
 * generous number of lines; servers with long EHLO lists fit easily. */
#define SMTPC_MAX_REPLY (64 * 1024)
#define SMTPC_MAX_LINE 4096

struct smtpc_reply {
	int code;		/* 3 digits; 0 for "no reply" (I/O error) */
	char secode[16];	/* enhanced status "5.1.1" of the first line, or "" */
	/* The lines without reply code and without enhanced code, joined
	 * with "\n". */
	struct buf text;
};
void smtpc_reply_init(struct smtpc_reply *r);
void smtpc_reply_free(struct smtpc_reply *r);

/* Parse one complete reply at the start of s[0..n) (RFC 5321 4.2:
 *   Reply-line = *( Reply-code "-" [ textstring ] CRLF )
 *                Reply-code [ SP textstring ] CRLF
 * with the same code on every line; a bare LF is accepted). The enhanced
 * code (RFC 3463: class "." subject "." detail) is taken from the first
 * line's text when it starts with one whose class matches the reply's
 * first digit, and cut from the text of every line that starts with one
 * (RFC 2034 4). Returns 1 with *used_r bytes consumed and r filled, 0 when
 * more input is needed, -1 for a malformed reply (*error_r). */
int smtpc_reply_parse(const char *s, size_t n, struct smtpc_reply *r, size_t *used_r,
	const char **error_r);

struct smtpc_ext {
	bool pipelining, eightbitmime, smtputf8, starttls, requiretls;
	bool enhancedstatuscodes, dsn, chunking;
	uint64_t size;		/* SIZE limit, 0: none announced or no limit */
	bool has_size;
	char auth[256];		/* AUTH mechanisms, space-separated, upper case */
};

/* Extensions from the text of a 250 EHLO reply (first line is the
 * greeting, then one keyword with parameters per line). Unknown keywords
 * are ignored; AUTH=... (old form) counts as AUTH. */
void smtpc_ehlo_parse(const char *text, size_t n, struct smtpc_ext *ext);

/* Append "code secode text" to out, for errors and results: the code left
 * out when 0, secode when "", the lines of text joined with spaces; e.g.
 * "550 5.1.1 no such user". */
void smtpc_reply_format(struct buf *out, int code, const char *secode, const char *text);

/* Is an enhanced status code well formed (RFC 3463 2)? */
bool smtpc_secode_valid(const char *s, size_t n);

struct smtpc {
	struct conn conn;
	char host[256];		/* what we connected to, for errors */
	char ip[64];
	struct smtpc_ext ext;
	bool tls;		/* STARTTLS or implicit TLS done */
	bool tls_verified;
	struct smtpc_reply reply;	/* the last reply read */
	struct buf line;	/* scratch */
	/* Error of the last failing step (static or ms_err storage copied). */
	char error[512];
	/* Whether the failure was a reply with a 5xx code (permanent). */
	bool permanent;
};

/* Connect to ip:port (numeric) within connect_ms; every read and write
 * then waits at most timeout_ms. With socks ("host:port" of a SOCKS5
 * proxy, no authentication) the TCP connection goes to the proxy, which
 * connects to ip:port. Returns 0 or -1 with c->error. */
int smtpc_connect(struct smtpc *c, const char *host, const char *ip, unsigned port,
	const char *socks, int connect_ms, int timeout_ms);
/* Read the 220 greeting and send EHLO name (HELO when EHLO gets 5xx).
 * Returns 0, or -1 with c->error and c->permanent. */
int smtpc_hello(struct smtpc *c, const char *name, bool greeting);
/* STARTTLS and the handshake, then EHLO again. Returns 0, or -1 (c->error;
 * the connection is unusable when the handshake failed). */
int smtpc_starttls(struct smtpc *c, const struct tls_client_params *tp,
	struct tls_client_result *tr, const char *name);
/* Implicit TLS right after connecting (submissions). */
int smtpc_tls_now(struct smtpc *c, const struct tls_client_params *tp,
	struct tls_client_result *tr);

/* One SASL step: given the server's decoded challenge, produce the
 * response. Return 0, 1 when the exchange is complete from the client's
 * side (verify the server's final message), or -1 with *error_r. */
typedef int smtpc_sasl_step(void *arg, const char *challenge, size_t n, struct buf *response,
	const char **error_r);
/* AUTH mech with an initial response from step(arg, "", 0) (RFC 4954
 * section 4), then steps until 235. Returns 0, or -1 (c->error, and
 * c->permanent for 535 and other 5xx). */
int smtpc_auth(struct smtpc *c, const char *mech, smtpc_sasl_step *step, void *arg);

struct smtpc_tx {
	const char *mailfrom;	/* formatted address or "" for <> */
	const char *const *rcpts;	/* formatted addresses */
	size_t nrcpts;
	/* The message: prefix then body, CRLF line endings; dot-stuffed
	 * here. */
	const char *prefix;
	size_t prefix_len;
	const char *body;
	size_t body_len;
	bool has_8bit, smtputf8, requiretls;
};

struct smtpc_rcpt_result {
	int code;		/* RCPT reply; the DATA reply for accepted ones
				 * after a failed DATA */
	char secode[16];
	char text[512];
	bool ok;
};

/* Run one transaction: MAIL FROM (with SIZE, BODY=8BITMIME, SMTPUTF8,
 * REQUIRETLS as needed), RCPT TO for each, DATA and the message, pipelined
 * when the server supports it. Each recipient's outcome is in res[i]
 * (nrcpts entries). Returns 0 when the transaction completed (some
 * recipients may still have failed), or -1 when it failed as a whole
 * before the message was accepted (MAIL FROM refused, DATA refused,
 * connection lost): then every recipient not refused at RCPT gets the
 * failing reply in res[i], and c->error/c->permanent say why. */
int smtpc_deliver(struct smtpc *c, const struct smtpc_tx *tx, struct smtpc_rcpt_result *res);

/* RSET before the next transaction on a connection kept open. Returns 0
 * on 250, -1 when the connection cannot be used any more (close it). */
int smtpc_rset(struct smtpc *c);

/* QUIT (no wait longer than a second) and close. */
void smtpc_close(struct smtpc *c);

#endif
