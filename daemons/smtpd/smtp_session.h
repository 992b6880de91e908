/* One SMTP session over a struct conn: the command table, the checks and
 * actions per command, AUTH, the mail transaction, and the DATA transfer
 * into a store temporary file delivered with store_deliver (port 25) or
 * delivered and queued (submission). */
#ifndef MS_SMTP_SESSION_H
#define MS_SMTP_SESSION_H

#include <signal.h>
#include <stdint.h>

#include "auth/ratelimit.h"
#include "core/conf.h"
#include "net/conn.h"
#include "net/dns.h"
#include "net/tls.h"
#include "store/store.h"

enum smtp_kind {
	SMTP_KIND_SMTP,		/* incoming mail, port 25 */
	SMTP_KIND_SUBMISSION,	/* 587, STARTTLS */
	SMTP_KIND_SUBMISSIONS,	/* 465, implicit TLS */
};

/* Shared, read-only state of one listening service (one per listener and
 * kind); lives as long as net_serve. */
struct smtp_server {
	const struct conf *conf;
	const struct conf_listener_def *listener;
	enum smtp_kind kind;
	struct store *store;
	struct dns *dns;		/* resolver for SPF, DKIM, DMARC, iprev */
	struct tls_ctx *tls;		/* listener certificates; NULL: no TLS */
	const char *hostname;		/* listener host name */
	uint64_t max_message_size;	/* per listener */
	volatile sig_atomic_t *stop;	/* set on shutdown: idle sessions end */
	/* Failed authentications per IP class, shared by all listeners of
	 * the process (ratelimit_new_auth_failures). */
	struct ratelimit *auth_failures;
	/* The "sasl-fake-salt" server secret (store_server_secret), so
	 * unknown SCRAM users get the same fake salt from every daemon. */
	const unsigned char *sasl_secret;
	size_t sasl_secret_len;
};

/* Serve one connection until QUIT, EOF, timeout, too many errors or
 * shutdown (net_conn_fn; ctx is a struct smtp_server). The caller closes
 * the connection afterwards. */
void smtp_session_run(struct conn *c, void *ctx);

#endif
