/* One SMTP session over a struct conn: the command table, the checks and
 * actions per command, the mail transaction, and the DATA transfer into a
 * store temporary file delivered with store_deliver. */
#ifndef MS_SMTP_SESSION_H
#define MS_SMTP_SESSION_H

#include <signal.h>

#include "core/conf.h"
#include "net/conn.h"
#include "store/store.h"

/* Shared, read-only state of one listener; lives as long as net_serve. */
struct smtp_server {
	const struct conf *conf;
	struct store *store;
	const char *hostname;		/* conf->general.hostname */
	volatile sig_atomic_t *stop;	/* set on shutdown: idle sessions end */
	/* Later issues: listener kind (submission), TLS context, whether TLS is
	 * required, the DNS resolver for SPF/iprev. */
};

/* Serve one connection until QUIT, EOF, timeout, too many errors or
 * shutdown (net_conn_fn; ctx is a struct smtp_server). The caller closes
 * the connection afterwards. */
void smtp_session_run(struct conn *c, void *ctx);

#endif
