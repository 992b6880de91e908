/* The testing mode of port 25 that mailstead localserve turns on with
 * [smtp] localserve_account: mail for addresses that are not ours goes to
 * that account instead of being refused (so the outgoing queue, which
 * localserve points at this port, "delivers" everything locally), and
 * special localparts simulate failures at MAIL, RCPT or DATA
 * (smtp_localserve_fail in smtp_parse.c), as the reference's localserve. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"
#include "smtp_private.h"

/* A stalled command checks for shutdown and a vanished client this often. */
#define LS_STALL_SLICE_MS 250

bool
smtp_localserve_on(const struct smtp_session *s)
{
	return !s->submission && s->conf->smtp.localserve_account[0] != '\0';
}

/* "timeout": answer nothing until the client gives up (closes), the
 * session's inactivity timeout passes or the server stops; then 451 as the
 * reference does after its long sleep. Pipelined input stays unread. */
static void
stall(struct smtp_session *s, const char *stage)
{
	int64_t deadline = ms_mono_ms() + s->c->timeout_ms;

	log_info(s->cid, "proto=smtp ev=localserve-stall stage=%s", stage);
	if (conn_flush(s->c) < 0) {
		s->quit = true;
		return;
	}
	while (ms_mono_ms() < deadline) {
		struct timespec ts = { 0, LS_STALL_SLICE_MS * 1000000L };
		char ch;
		ssize_t n;

		if (*s->srv->stop) {
			smtp_reply(s, "421 4.3.2 %s shutting down", s->srv->hostname);
			s->quit = true;
			return;
		}
		/* recv on the socket itself, also under TLS: 0 is the peer's
		 * FIN once everything before it was read, which is all we need
		 * to free this thread early. */
		n = recv(s->c->fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
			log_info(s->cid, "proto=smtp ev=localserve-stall stage=%s result=client-gone",
				stage);
			s->quit = true;
			return;
		}
		(void)nanosleep(&ts, NULL);
	}
	log_info(s->cid, "proto=smtp ev=localserve-stall stage=%s result=timeout", stage);
	smtp_reply(s, "451 4.4.2 timed out due to special localpart (localserve)");
}

int
smtp_localserve_check(struct smtp_session *s, const char *stage, const char *prefix,
	const char *localpart)
{
	unsigned code;
	struct buf line;

	switch (smtp_localserve_fail(localpart, prefix, &code)) {
	case SMTP_LS_NONE:
		return 0;
	case SMTP_LS_TIMEOUT:
		stall(s, stage);
		return -1;
	case SMTP_LS_CODE:
		break;
	}
	/* RFC 3463: the enhanced code's class follows the reply's. */
	buf_init(&line);
	buf_printf(&line, "%u %c.0.0 failure with code %u due to special localpart (localserve)",
		code, code >= 500 ? '5' : '4', code);
	log_info(s->cid, "proto=smtp ev=localserve-fail stage=%s localpart=%s code=%u", stage,
		lq(localpart), code);
	smtp_refuse(s, line.data);
	buf_free(&line);
	return -1;
}

void
smtp_localserve_rcpt(struct smtp_session *s, const char *localpart)
{
	unsigned code;

	if (smtp_localserve_on(s) && s->tx.localserve_data_fail == NULL &&
	    smtp_localserve_fail(localpart, "", &code) != SMTP_LS_NONE)
		s->tx.localserve_data_fail = xstrdup(localpart);
}

int
smtp_localserve_data(struct smtp_session *s)
{
	if (s->tx.localserve_data_fail == NULL)
		return 0;
	return smtp_localserve_check(s, "data", "", s->tx.localserve_data_fail);
}

int
smtp_localserve_redirect(struct smtp_session *s, const char *rcpt,
	struct store_recipient *dest, const char **error_r)
{
	const char *acct = s->conf->smtp.localserve_account;
	const char *at = strrchr(acct, '@');	/* conf.c checked there is one */
	char *localpart = xstrndup(acct, (size_t)(at - acct));
	char *domain = xstrdup(at + 1);
	char *p;
	int r;

	/* Domains are stored lower case (the configuration is ASCII). */
	for (p = domain; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	store_recipient_free(dest);
	r = store_recipient_lookup(s->srv->store, localpart, domain, dest, error_r);
	if (r == 0 && dest->status != STORE_DEST_OK)
		log_warn(s->cid, "proto=smtp ev=localserve-redirect rcpt=%s account=%s "
			"result=not-found", lq(rcpt), lq(acct));
	else if (r == 0)
		log_info(s->cid, "proto=smtp ev=localserve-redirect rcpt=%s account=%s", lq(rcpt),
			lq(acct));
	free(localpart);
	free(domain);
	return r;
}
