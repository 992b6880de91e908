/* The SMTP server session of mailstead-smtpd (RFC 5321 with PIPELINING,
 * SIZE, ENHANCEDSTATUSCODES, 8BITMIME, LIMITS and SMTPUTF8). Commands are
 * dispatched through one table; each has a check (sequence, syntax, policy:
 * replies and returns -1 to refuse, leaves the session alone) and a proceed
 * (changes state and replies), in the manner of OpenSMTPD's smtp_check_*
 * and smtp_proceed_*. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "queue/queue.h"
#include "queue/webhook.h"
#include "smtp_analyze.h"
#include "smtp_private.h"

/* After this many refused commands (5xx) the client is disconnected. */
#define SMTP_MAX_ERRORS 20
/* Message bytes collected in memory before a write to the temp file. */
#define SMTP_DATA_WBUF (256 * 1024)
/* Idle waits are cut into slices this long to notice a shutdown. */
#define SMTP_WAIT_SLICE_MS 1000

/* Command flags. */
enum {
	/* Allowed when TLS is required but not active yet (RFC 3207 4). */
	SMTP_CF_PRE_TLS = 1 << 0,
	/* Allowed before AUTH on a submission listener (RFC 6409 4.3). */
	SMTP_CF_PRE_AUTH = 1 << 1,
	/* RFC 2920 3.1: "The EHLO, DATA, VRFY, EXPN, TURN, QUIT, and NOOP
	 * commands can only appear as the last command in a group"; flush the
	 * replies after them without waiting for more input. */
	SMTP_CF_ENDS_GROUP = 1 << 2,
	/* Needs EHLO/HELO first (RFC 5321 4.1.4: a server may refuse MAIL
	 * before EHLO/HELO with 503). */
	SMTP_CF_NEEDS_HELO = 1 << 3,
	/* Known verb whose extension this listener does not offer: BDAT (no
	 * CHUNKING, as in the reference). RFC 5321 4.2.4: 502. */
	SMTP_CF_NOT_OFFERED = 1 << 4,
	/* Offered on submission listeners only (AUTH); 502 elsewhere. */
	SMTP_CF_SUBMISSION_ONLY = 1 << 5,
};

typedef int smtp_check_fn(struct smtp_session *s, struct smtp_cmd *cmd);
typedef void smtp_proceed_fn(struct smtp_session *s, struct smtp_cmd *cmd);

struct smtp_cmd_def {
	enum smtp_verb verb;
	unsigned flags;
	smtp_check_fn *check;	/* NULL: always allowed */
	smtp_proceed_fn *proceed;
	void (*cleanup)(struct smtp_cmd *cmd);	/* frees u; may be NULL */
};

/* ---- replies ---- */

void
smtp_reply(struct smtp_session *s, const char *fmt, ...)
{
	va_list ap;
	struct buf b;

	buf_init(&b);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	buf_puts(&b, "\r\n");
	(void)conn_write(s->c, b.data, b.len);
	buf_free(&b);
}

void
smtp_refuse(struct smtp_session *s, const char *line)
{
	smtp_reply(s, "%s", line);
	if (line[0] == '5')
		s->nerrors++;
	log_debug(s->cid, "proto=smtp ev=refused reply=%s", lq(line));
}

/* Is a complete line already buffered (then more replies will follow
 * before we need to wait for the client, so flushing can wait)? */
static bool
has_buffered_line(struct conn *c)
{
	size_t n;
	const char *p = conn_peek(c, &n);

	return n > 0 && memchr(p, '\n', n) != NULL;
}

/* Say goodbye after a read timeout: writing may still work. */
static void
reply_timeout(struct smtp_session *s)
{
	log_info(s->cid, "proto=smtp ev=timeout");
	if (!conn_recover_timeout(s->c))
		return;
	smtp_reply(s, "421 4.4.2 %s timeout, closing connection", s->srv->hostname);
	(void)conn_flush(s->c);
	s->c->failed = true;
}

/* ---- transaction ---- */

static void
tx_reset(struct smtp_session *s)
{
	size_t i;

	smtp_mail_free(&s->tx.mail);
	free(s->tx.from);
	for (i = 0; i < s->tx.nrcpts; i++) {
		free(s->tx.rcpts[i].addr);
		free(s->tx.rcpts[i].localpart);
		free(s->tx.rcpts[i].domain);
		store_recipient_free(&s->tx.rcpts[i].r);
	}
	free(s->tx.rcpts);
	free(s->tx.localserve_data_fail);
	memset(&s->tx, 0, sizeof(s->tx));
}

/* ---- EHLO / HELO ---- */

static int
check_helo(struct smtp_session *s, struct smtp_cmd *cmd)
{
	const char *r;

	if (smtp_parse_helo(cmd->line.args, cmd->line.argslen,
		    cmd->line.verb == SMTP_VERB_EHLO, &cmd->u.helo, &r) < 0) {
		/* Mail clients often send a bogus name (a laptop's
		 * "my_pc.local", nothing at all); for submission it is of no
		 * use, and the user cannot fix it, so as the reference does
		 * we take the client's address instead. */
		if (s->submission) {
			smtp_helo_free(&cmd->u.helo);
			cmd->u.helo.name = xasprintf("[%s%s]",
				strchr(s->c->remote_ip, ':') != NULL ? "IPv6:" : "",
				s->c->remote_ip);
			cmd->u.helo.literal = true;
			return 0;
		}
		smtp_refuse(s, r);
		return -1;
	}
	return 0;
}

/* RFC 4865 4: the longest FUTURERELEASE interval, 60 days as the
 * reference announces. */
#define FUTURERELEASE_MAX (60 * 24 * 3600)

/* Append " YYYY-MM-DDTHH:MM:SSZ" (RFC 3339, UTC) of t to the string in p. */
static void
ms_rfc3339_utc(char *p, size_t size, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	size_t len = strlen(p);

	gmtime_r(&tt, &tm);
	(void)strftime(p + len, size - len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* STARTTLS is offered when the listener has certificates, the session is
 * not yet TLS, and it is incoming SMTP with smtp_starttls or submission
 * on its STARTTLS port. */
static bool
starttls_offered(const struct smtp_session *s)
{
	if (s->srv->tls == NULL || s->tls)
		return false;
	if (s->srv->kind == SMTP_KIND_SMTP)
		return s->srv->listener->smtp_starttls;
	return s->srv->kind == SMTP_KIND_SUBMISSION;
}

/* REQUIRETLS (RFC 8689 2) is announced only over TLS; incoming SMTP can
 * turn it off (smtp_requiretls = no). */
static bool
requiretls_offered(const struct smtp_session *s)
{
	if (!s->tls)
		return false;
	return s->srv->kind != SMTP_KIND_SMTP || s->srv->listener->smtp_requiretls;
}

/* RFC 5321 4.1.1.1 and the order of FEATURES.md section 2. */
static void
reply_ehlo_lines(struct smtp_session *s)
{
	char size[48], limits[48], future[80];
	const char *lines[16];
	struct buf auth;
	size_t n = 0, i;

	(void)snprintf(size, sizeof(size), "SIZE %llu",
		(unsigned long long)s->srv->max_message_size);
	(void)snprintf(limits, sizeof(limits), "LIMITS RCPTMAX=%llu",
		(unsigned long long)s->conf->smtp.max_recipients);
	lines[n++] = s->srv->hostname;
	lines[n++] = "PIPELINING";		/* RFC 2920 */
	lines[n++] = size;			/* RFC 1870 */
	/* STARTTLS (RFC 3207) before TLS, REQUIRETLS (RFC 8689) after it. */
	if (starttls_offered(s))
		lines[n++] = "STARTTLS";
	else if (requiretls_offered(s))
		lines[n++] = "REQUIRETLS";
	/* Submission only: AUTH <mechanisms> (RFC 4954), FUTURERELEASE (RFC 4865). */
	buf_init(&auth);
	if (s->submission) {
		buf_puts(&auth, "AUTH ");
		smtp_auth_ehlo_mechanisms(s, &auth);
		/* RFC 4954 3: at least one mechanism; none may be used before
		 * STARTTLS when TLS is required, so then no AUTH keyword. */
		if (auth.len > strlen("AUTH "))
			lines[n++] = auth.data;
		(void)snprintf(future, sizeof(future), "FUTURERELEASE %d ", FUTURERELEASE_MAX);
		ms_rfc3339_utc(future, sizeof(future), (int64_t)time(NULL) + FUTURERELEASE_MAX);
		lines[n++] = future;
	}
	lines[n++] = "ENHANCEDSTATUSCODES";	/* RFC 2034 */
	lines[n++] = "8BITMIME";		/* RFC 6152 */
	lines[n++] = limits;			/* RFC 9422 */
	lines[n++] = "SMTPUTF8";		/* RFC 6531 */
	for (i = 0; i < n; i++)
		smtp_reply(s, "250%c%s", i + 1 < n ? '-' : ' ', lines[i]);
	buf_free(&auth);
}

static void
proceed_helo(struct smtp_session *s, struct smtp_cmd *cmd)
{
	bool ehlo = cmd->line.verb == SMTP_VERB_EHLO;

	/* RFC 5321 4.1.4: EHLO/HELO after a transaction started resets it. */
	tx_reset(s);
	smtp_helo_free(&s->helo);
	s->helo = cmd->u.helo;
	memset(&cmd->u.helo, 0, sizeof(cmd->u.helo));
	s->helo_done = true;
	s->esmtp = ehlo;
	log_info(s->cid, "proto=smtp ev=%s helo=%s", ehlo ? "ehlo" : "helo",
		lq(s->helo.name));
	/* RFC 2034 3: no enhanced status code in the EHLO/HELO reply. */
	if (ehlo)
		reply_ehlo_lines(s);
	else
		smtp_reply(s, "250 %s", s->srv->hostname);
}

static void
cleanup_helo(struct smtp_cmd *cmd)
{
	smtp_helo_free(&cmd->u.helo);
}

/* ---- MAIL ---- */

static int
check_mail(struct smtp_session *s, struct smtp_cmd *cmd)
{
	struct smtp_mail *m = &cmd->u.mail;
	const char *r;

	/* RFC 5321 4.1.4: "MAIL ... MUST NOT be sent if a mail transaction is
	 * already open". */
	if (s->tx.active) {
		smtp_refuse(s, "503 5.5.1 nested MAIL command, send RSET first");
		return -1;
	}
	if (smtp_parse_mail(cmd->line.args, cmd->line.argslen, m, &r) < 0) {
		smtp_refuse(s, r);
		log_info(s->cid, "proto=smtp ev=mail result=refused reply=%s", lq(r));
		return -1;
	}
	/* RFC 1869 / 5321 4.1.1.11: parameters of extensions that were not
	 * announced (HELO announces none) are refused with 555. */
	if (!s->esmtp && (m->has_size || m->body != SMTP_BODY_NONE || m->smtputf8)) {
		smtp_refuse(s, "555 5.5.4 MAIL parameters require EHLO");
		return -1;
	}
	/* RFC 4954 / 6409: submission needs an authenticated client. */
	if (s->submission && !s->authenticated) {
		smtp_refuse(s, "530 5.7.0 authentication required");
		return -1;
	}
	if (m->requiretls && (!s->esmtp || !requiretls_offered(s))) {
		smtp_refuse(s, "555 5.5.4 REQUIRETLS needs TLS (RFC 8689)");
		return -1;
	}
	if (m->has_hold) {
		int64_t now = (int64_t)time(NULL);

		/* FUTURERELEASE is announced on submission only. */
		if (!s->esmtp || !s->submission) {
			smtp_refuse(s, "555 5.5.4 HOLDFOR/HOLDUNTIL only on submission");
			return -1;
		}
		/* RFC 4865 4: a release beyond the announced interval is
		 * refused; like the reference, with 554 (a semantic error),
		 * also for a HOLDUNTIL time in the past. */
		if (m->hold_until > now + FUTURERELEASE_MAX) {
			smtp_refuse(s, "554 5.5.4 release time too far in the future (at most 60 days)");
			return -1;
		}
		if (!m->hold_is_for && m->hold_until <= now) {
			smtp_refuse(s, "554 5.5.4 requested release time is in the past");
			return -1;
		}
	}
	if (m->has_auth && !s->esmtp) {
		smtp_refuse(s, "555 5.5.4 MAIL parameters require EHLO");
		return -1;
	}
	/* RFC 1870 6.1: a declared size above the fixed maximum gets 552. */
	if (m->has_size && m->size > s->srv->max_message_size) {
		smtp_refuse(s, "552 5.3.4 message size exceeds fixed maximum message size");
		log_info(s->cid, "proto=smtp ev=mail result=too-big size=%llu",
			(unsigned long long)m->size);
		return -1;
	}
	if (s->submission)
		return smtp_submit_check_mailfrom(s, m);
	if (smtp_localserve_on(s) && !m->null_sender &&
	    smtp_localserve_check(s, "mail", "mailfrom", m->from.localpart) < 0)
		return -1;
	return 0;
}

static void
proceed_mail(struct smtp_session *s, struct smtp_cmd *cmd)
{
	struct buf b;

	tx_reset(s);
	s->tx.active = true;
	s->tx.mail = cmd->u.mail;
	memset(&cmd->u.mail, 0, sizeof(cmd->u.mail));
	buf_init(&b);
	mail_addr_format(&b, &s->tx.mail.from, s->tx.mail.smtputf8);
	s->tx.from = buf_steal(&b);
	buf_free(&b);
	log_info(s->cid, "proto=smtp ev=mail from=%s size=%s body=%s smtputf8=%s result=ok",
		lq(s->tx.from), s->tx.mail.has_size ?
		ms_err("%llu", (unsigned long long)s->tx.mail.size) : "-",
		s->tx.mail.body == SMTP_BODY_8BITMIME ? "8bitmime" :
		s->tx.mail.body == SMTP_BODY_7BIT ? "7bit" : "none",
		s->tx.mail.smtputf8 ? "yes" : "no");
	smtp_reply(s, "250 2.1.0 sender OK");
}

static void
cleanup_mail(struct smtp_cmd *cmd)
{
	smtp_mail_free(&cmd->u.mail);
}

/* ---- RCPT ---- */

/* A configured smtp_error is meant to be a whole reply ("550 5.1.1 no
 * longer here"); make sure it is one line that starts with a 4xx/5xx code. */
static void
reply_configured_error(struct smtp_session *s, const char *err)
{
	struct buf b;
	const char *p;

	buf_init(&b);
	if (!((err[0] == '4' || err[0] == '5') && err[1] >= '0' && err[1] <= '9' &&
	    err[2] >= '0' && err[2] <= '9' && err[3] == ' '))
		buf_puts(&b, "550 5.7.1 ");
	for (p = err; *p != '\0'; p++)
		buf_putc(&b, (unsigned char)*p < 0x20 || *p == 0x7f ? ' ' : *p);
	smtp_refuse(s, b.data);
	buf_free(&b);
}

static int
check_rcpt(struct smtp_session *s, struct smtp_cmd *cmd)
{
	struct smtp_rcpt *r = &cmd->u.rcpt.rcpt;
	struct store_recipient *dest = &cmd->u.rcpt.r;
	const char *reason, *error;
	size_t i;

	if (!s->tx.active) {
		smtp_refuse(s, "503 5.5.1 need MAIL before RCPT");
		return -1;
	}
	if (smtp_parse_rcpt(cmd->line.args, cmd->line.argslen, s->tx.mail.smtputf8,
		    r, &reason) < 0) {
		smtp_refuse(s, reason);
		log_info(s->cid, "proto=smtp ev=rcpt result=refused reply=%s", lq(reason));
		return -1;
	}
	/* RFC 5321 4.1.1.3: "<Postmaster>" is postmaster at our host name. */
	cmd->u.rcpt.domain = r->postmaster ? s->srv->hostname : r->to.domain;
	{
		struct mail_addr a = r->to;
		struct buf b;

		buf_init(&b);
		if (r->postmaster)
			a.domain = a.domain_ascii = (char *)s->srv->hostname;
		mail_addr_format(&b, &a, s->tx.mail.smtputf8);
		cmd->u.rcpt.addr = buf_steal(&b);
		buf_free(&b);
	}
	/* RFC 5321 4.5.3.1.10: 452 for too many recipients; the client
	 * sends the rest in a later transaction. Not counted as an error. */
	if (s->tx.nrcpts >= s->conf->smtp.max_recipients ||
	    (!s->submission && s->tx.mail.null_sender && s->tx.nrcpts >= 1)) {
		smtp_reply(s, "452 4.5.3 too many recipients");
		log_info(s->cid, "proto=smtp ev=rcpt rcpt=%s result=too-many",
			lq(cmd->u.rcpt.addr));
		return -1;
	}
	if (smtp_localserve_on(s) &&
	    smtp_localserve_check(s, "rcpt", "rcptto", r->to.localpart) < 0)
		return -1;
	/* Looked up for every RCPT (no cache): CLI changes apply at once. */
	if (store_recipient_lookup(s->srv->store, r->to.localpart, cmd->u.rcpt.domain,
		    dest, &error) < 0) {
		log_error(s->cid, "proto=smtp ev=rcpt rcpt=%s result=error err=%s",
			lq(cmd->u.rcpt.addr), lq(error));
		smtp_reply(s, "451 4.3.0 temporary error looking up recipient, try again later");
		return -1;
	}
	/* RFC 5321 4.5.1: postmaster must be accepted even when our host
	 * name is not one of the mail domains. */
	if (r->postmaster && dest->status == STORE_DEST_NOT_LOCAL &&
	    store_recipient_postmaster(s->srv->store, dest, &error) < 0) {
		log_error(s->cid, "proto=smtp ev=rcpt rcpt=%s result=error err=%s",
			lq(cmd->u.rcpt.addr), lq(error));
		smtp_reply(s, "451 4.3.0 temporary error looking up recipient, try again later");
		return -1;
	}
	/* localserve: what is not ours lands in the localserve account. */
	if (smtp_localserve_on(s) && (dest->status == STORE_DEST_NOT_LOCAL ||
		    dest->status == STORE_DEST_UNKNOWN) &&
	    smtp_localserve_redirect(s, cmd->u.rcpt.addr, dest, &error) < 0) {
		log_error(s->cid, "proto=smtp ev=rcpt rcpt=%s result=error err=%s",
			lq(cmd->u.rcpt.addr), lq(error));
		smtp_reply(s, "451 4.3.0 temporary error looking up recipient, try again later");
		return -1;
	}
	switch (dest->status) {
	case STORE_DEST_OK:
		break;
	case STORE_DEST_UNKNOWN:
		reason = "unknown";
		smtp_refuse(s, "550 5.1.1 no such user");
		goto refused;
	case STORE_DEST_NOT_LOCAL:
		/* Authenticated submission queues mail for other domains (no
		 * relay check: the user is authenticated). */
		if (s->submission) {
			/* FEATURES.md section 4: an address on the account's
			 * suppression list (an earlier permanent failure, or
			 * added by hand) fails now, where the sender sees why,
			 * instead of in a DSN later. */
			int sup = queue_suppression_lookup(s->srv->store, s->account_id,
				r->to.localpart, cmd->u.rcpt.domain, NULL, &error);

			if (sup < 0) {
				log_error(s->cid, "proto=smtp ev=rcpt rcpt=%s result=error err=%s",
					lq(cmd->u.rcpt.addr), lq(error));
				smtp_reply(s, "451 4.3.0 temporary error looking up recipient, "
					"try again later");
				return -1;
			}
			if (sup == 1) {
				reason = "suppressed";
				smtp_refuse(s, "550 5.7.1 recipient address is on the suppression list "
					"of your account (an earlier delivery failed permanently); "
					"not sending");
				goto refused;
			}
			break;
		}
		/* Never an open relay: only local domains are accepted here. */
		reason = "relay-denied";
		smtp_refuse(s, "550 5.7.1 relaying denied");
		goto refused;
	case STORE_DEST_DISABLED:
		reason = "disabled";
		smtp_reply(s, "450 4.2.1 recipient domain temporarily disabled, try again later");
		goto refused;
	case STORE_DEST_SMTP_ERROR:
		reason = "smtp-error";
		reply_configured_error(s, dest->dest.smtp_error);
		goto refused;
	default:
		reason = "error";
		smtp_reply(s, "451 4.3.0 temporary error looking up recipient");
		goto refused;
	}
	/* An alias none of whose members we can deliver to: its external
	 * members wait for the outgoing queue, so ask the sender to retry
	 * rather than accept mail that would reach nobody. Submission
	 * queues external members itself. */
	if (dest->is_alias && !s->submission) {
		bool local = false;

		for (i = 0; i < dest->alias.nmembers; i++)
			local = local || dest->alias.members[i].resolved;
		if (!local) {
			reason = "alias-undeliverable";
			smtp_reply(s, "451 4.3.0 alias cannot be delivered to at the moment, "
				"try again later");
			log_warn(s->cid, "proto=smtp ev=rcpt rcpt=%s alias=%s result=%s "
				"members=%zu note=no-local-member", lq(cmd->u.rcpt.addr),
				lq(dest->alias.address), reason, dest->alias.nmembers);
			return -1;
		}
	}
	/* The same destination twice is accepted but kept once; copies are
	 * de-duplicated per account and mailbox after DATA. */
	for (i = 0; i < s->tx.nrcpts; i++) {
		const struct tx_rcpt *t = &s->tx.rcpts[i];

		if (store_recipient_same(&t->r, dest) ||
		    (dest->status == STORE_DEST_NOT_LOCAL && t->r.status == STORE_DEST_NOT_LOCAL &&
			    strcmp(t->localpart, r->to.localpart) == 0 &&
			    strcmp(t->domain, cmd->u.rcpt.domain) == 0))
			cmd->u.rcpt.duplicate = true;
	}
	return 0;
refused:
	log_info(s->cid, "proto=smtp ev=rcpt rcpt=%s result=%s",
		lq(cmd->u.rcpt.addr), reason);
	return -1;
}

static void
proceed_rcpt(struct smtp_session *s, struct smtp_cmd *cmd)
{
	struct smtp_rcpt *r = &cmd->u.rcpt.rcpt;
	struct tx_rcpt *t;

	smtp_localserve_rcpt(s, r->to.localpart);
	if (cmd->u.rcpt.duplicate) {
		log_info(s->cid, "proto=smtp ev=rcpt rcpt=%s result=duplicate dest=%s",
			lq(cmd->u.rcpt.addr), lq(cmd->u.rcpt.r.status == STORE_DEST_NOT_LOCAL ?
				cmd->u.rcpt.addr : cmd->u.rcpt.r.is_alias ?
				cmd->u.rcpt.r.alias.address : cmd->u.rcpt.r.dest.address));
		smtp_reply(s, "250 2.1.5 recipient OK (duplicate)");
		return;
	}
	if (s->tx.nrcpts == s->tx.cap) {
		s->tx.cap = s->tx.cap ? s->tx.cap * 2 : 4;
		s->tx.rcpts = xrealloc(s->tx.rcpts, s->tx.cap * sizeof(*s->tx.rcpts));
	}
	t = &s->tx.rcpts[s->tx.nrcpts++];
	memset(t, 0, sizeof(*t));
	t->addr = cmd->u.rcpt.addr;
	cmd->u.rcpt.addr = NULL;
	t->localpart = xstrdup(r->to.localpart);
	t->domain = xstrdup(cmd->u.rcpt.domain);
	t->r = cmd->u.rcpt.r;
	memset(&cmd->u.rcpt.r, 0, sizeof(cmd->u.rcpt.r));
	if (t->r.status == STORE_DEST_NOT_LOCAL)
		log_info(s->cid, "proto=smtp ev=rcpt rcpt=%s result=ok remote=yes", lq(t->addr));
	else if (t->r.is_alias)
		log_info(s->cid, "proto=smtp ev=rcpt rcpt=%s result=ok alias=%s members=%zu",
			lq(t->addr), lq(t->r.alias.address), t->r.alias.nmembers);
	else
		log_info(s->cid, "proto=smtp ev=rcpt rcpt=%s result=ok account=%lld dest=%s",
			lq(t->addr), (long long)t->r.dest.account_id, lq(t->r.dest.address));
	smtp_reply(s, "250 2.1.5 recipient OK");
}

static void
cleanup_rcpt(struct smtp_cmd *cmd)
{
	smtp_rcpt_free(&cmd->u.rcpt.rcpt);
	free(cmd->u.rcpt.addr);
	store_recipient_free(&cmd->u.rcpt.r);
}

/* ---- DATA ---- */

static int
check_data(struct smtp_session *s, struct smtp_cmd *cmd)
{
	const char *r;

	if (!s->tx.active) {
		smtp_refuse(s, "503 5.5.1 need MAIL and RCPT before DATA");
		return -1;
	}
	/* RFC 5321 3.3: with no accepted recipient, 554 "no valid recipients". */
	if (s->tx.nrcpts == 0) {
		smtp_refuse(s, "554 5.5.1 no valid recipients");
		return -1;
	}
	if (smtp_parse_noargs(cmd->line.args, cmd->line.argslen, &r) < 0) {
		smtp_refuse(s, r);
		return -1;
	}
	return 0;
}

/* Read the message text after 354 through the end-of-data line, writing
 * the unstuffed bytes to fd. Returns 0 when the end was read (d->done), -1
 * when the connection ended first (EOF, timeout, error). Write errors do
 * not stop the reading; they are reported in *write_errno_r. */
static int
data_read(struct smtp_session *s, struct smtp_data *d, int fd, int *write_errno_r)
{
	struct buf out;
	int rc = 0;

	buf_init(&out);
	buf_reserve(&out, SMTP_DATA_WBUF + 4);
	*write_errno_r = 0;
	while (!d->done) {
		size_t avail;
		const char *p = conn_peek(s->c, &avail);

		if (avail == 0) {
			char ch;

			/* Fills the connection buffer and hands us one byte;
			 * the rest stays buffered for the peek above. */
			if (conn_read(s->c, &ch, 1) <= 0) {
				rc = -1;
				break;
			}
			(void)smtp_data_feed(d, &ch, 1, *write_errno_r ? NULL : &out);
		} else {
			conn_skip(s->c,
				smtp_data_feed(d, p, avail, *write_errno_r ? NULL : &out));
		}
		if (out.len >= SMTP_DATA_WBUF || (d->done && out.len > 0)) {
			if (*write_errno_r == 0 && ms_write_all(fd, out.data, out.len) < 0)
				*write_errno_r = errno ? errno : EIO;
			buf_reset(&out);
		}
	}
	buf_free(&out);
	return rc;
}

/* RFC 5321 4.4 trace information:
 *   Return-path-line  = "Return-Path:" FWS Reverse-path <CRLF>
 *   Time-stamp-line  = "Received:" FWS Stamp <CRLF>
 *   Stamp          = From-domain By-domain Opt-info [CFWS] ";"
 *                    FWS date-time
 *   From-domain    = "FROM" FWS Extended-Domain
 *   By-domain      = CFWS "BY" FWS Extended-Domain
 *   Extended-Domain  = Domain /
 *                    ( Domain FWS "(" TCP-info ")" ) /
 *                    ( address-literal FWS "(" TCP-info ")" )
 *   TCP-info       = address-literal / ( Domain FWS address-literal )
 *   Opt-info       = [Via] [With] [ID] [For] [Additional-Registered-Clauses]
 *   With           = CFWS "WITH" FWS Protocol
 *   ID             = CFWS "ID" FWS ( Atom / msg-id )
 *   For            = CFWS "FOR" FWS ( Path / Mailbox )
 * Protocol names: ESMTP/SMTP (RFC 5321), ESMTPS/ESMTPA/ESMTPSA (RFC 3848),
 * UTF8SMTP/UTF8SMTPS/UTF8SMTPA/UTF8SMTPSA (RFC 6531 4.3). The "for" clause
 * names the recipient only when there is exactly one, so recipients do not
 * learn about each other. Submission names our own host as "from", as
 * the reference does, so the submitting client's (often internal or
 * mobile) address is not published to every recipient. */
void
smtp_build_prefix(struct smtp_session *s, const char *txid, bool with_return_path,
	const struct buf *auth_headers, struct buf *p)
{
	const char *proto = s->tx.mail.smtputf8 ? "UTF8SMTP" : s->esmtp ? "ESMTP" : "SMTP";
	bool v6 = strchr(s->c->remote_ip, ':') != NULL;

	if (with_return_path)
		buf_printf(p, "Return-Path: <%s>\r\n", s->tx.from);
	/* RFC 8601 and RFC 7208 9.1: above the Received field we add. */
	if (auth_headers != NULL)
		buf_append(p, auth_headers->data, auth_headers->len);
	if (s->submission)
		buf_printf(p, "Received: from %s\r\n\tby %s (Mailstead) with %s%s%s id %s",
			s->srv->hostname, s->srv->hostname, proto,
			s->esmtp && s->tls ? "S" : "", s->esmtp && s->authenticated ? "A" : "",
			txid);
	else
		buf_printf(p, "Received: from %s (%s%s [%s%s])\r\n\tby %s (Mailstead) with %s%s%s id %s",
			s->helo.name, s->remote_name ? s->remote_name : "unknown",
			s->remote_name && s->remote_name_dnssec ? " (dnssec)" : "",
			v6 ? "IPv6:" : "", s->c->remote_ip, s->srv->hostname, proto,
			s->esmtp && s->tls ? "S" : "", s->esmtp && s->authenticated ? "A" : "",
			txid);
	if (s->tx.nrcpts == 1)
		buf_printf(p, "\r\n\tfor <%s>", s->tx.rcpts[0].addr);
	/* Comments (RFC 5322 CFWS) with the TLS version and cipher suite, and
	 * whether the sender asked for REQUIRETLS, as the reference writes. */
	if (s->tls) {
		buf_puts(p, "\r\n\t");
		conn_tls_received_comment(s->c, p);
		if (s->tx.mail.requiretls)
			buf_puts(p, " (requiretls)");
	}
	buf_puts(p, "; ");
	ms_rfc5322_date(p, time(NULL));
	buf_puts(p, "\r\n");
}

/* The DMARC policy for one copy (RFC 7489 6.6.4, and the reference's
 * ruleset modifiers): a copy whose ruleset marks the message as forwarded
 * (IsForward) or from an allowed mailing list (ListAllowDomain, verified
 * by SPF or DKIM) is accepted despite a reject policy; with
 * AcceptRejectsToMailbox it is accepted into that mailbox; otherwise a
 * rejected copy goes to the Rejects mailbox, \Seen. *naccepted counts the
 * copies accepted; the evaluation is recorded for reports. */
static void
dmarc_decide(struct smtp_session *s, const struct smtp_analysis *an,
	const struct store_copy *cp, struct store_rcpt *r, size_t *naccepted)
{
	const struct store_ruleset *rs = cp->ruleset;
	struct store_msg_facts f;
	const char *override = NULL;

	if (an->dmarc.result == DMARC_FAIL && an->dmarc.reject) {
		memset(&f, 0, sizeof(f));
		f.mailfrom_domain = s->tx.mail.from.domain;
		f.mailfrom_validated = !an->spf_is_helo && an->spf.result == SPF_PASS;
		f.dkim_domains = (const char *const *)an->dkim_domains;
		f.ndkim_domains = an->ndkim_domains;
		if (rs != NULL && rs->is_forward)
			override = "forwarded";
		else if (rs != NULL && store_rules_list_allowed(rs, &f))
			override = "mailing_list";
		else if (rs != NULL && rs->accept_rejects_to_mailbox != NULL &&
		    rs->accept_rejects_to_mailbox[0] != '\0') {
			override = "local_policy";
			r->mailbox = rs->accept_rejects_to_mailbox;
		}
		if (override == NULL) {
			r->mailbox = "Rejects";
			r->is_reject = true;
			log_info(s->cid, "proto=smtp ev=dmarc-reject rcpt=%s from_domain=%s",
				lq(cp->deliver_to), lq(an->dmarc.from_domain));
		} else {
			log_info(s->cid, "proto=smtp ev=dmarc-override rcpt=%s reason=%s",
				lq(cp->deliver_to), override);
			(*naccepted)++;
		}
	} else {
		(*naccepted)++;
	}
	smtp_analysis_record_dmarc(s, an, r->rcpt_domain,
		an->dmarc.result == DMARC_FAIL && override == NULL ?
		dmarc_policy_name(an->dmarc.disposition) : "none", override);
}

/* Incoming-message webhooks (FEATURES.md 6) for the copies about to be
 * stored, for accounts that have an incoming URL: the calls are inserted
 * in the delivery transaction (store_msg_in.tx_hook), so a message is
 * never stored without its webhook or the reverse. Port 25 only, as the
 * reference does. A failure is logged and delivery goes on without. */
static void
webhook_prepare(struct smtp_session *s, const char *path, const struct buf *prefix,
	struct store_msg_in *msg, const struct store_rcpt *rc, size_t n,
	struct webhook_incoming_ctx **whc_r)
{
	struct webhook_incoming_meta wm;
	const char *error;

	memset(&wm, 0, sizeof(wm));
	wm.mailfrom = s->tx.from;
	wm.mailfrom_validated = msg->mailfrom_validated && !msg->ehlo_validated;
	/* (with a null sender the SPF pass is for the HELO identity) */
	wm.msgfrom_validated = msg->msgfrom_validated;
	wm.dkim_domains = msg->dkim_domains;
	wm.ndkim_domains = msg->ndkim_domains;
	wm.remote_ip = s->c->remote_ip;
	wm.received = ms_now();
	if (webhook_incoming_prepare(s->srv->store, path, prefix->data, prefix->len, &wm, rc,
		    n, whc_r, &error) < 0) {
		log_warn(s->cid, "proto=smtp ev=webhook-incoming result=error err=%s", lq(error));
		return;
	}
	if (*whc_r != NULL) {
		msg->tx_hook = webhook_incoming_tx;
		msg->tx_hook_arg = *whc_r;
		/* Stored and reported as received at the same second. */
		msg->received = wm.received;
	}
}

/* Choose who gets the message and in which mailbox, then deliver the
 * received file to all local recipients of the transaction (status OK) at
 * once. The header section (our trace lines, then the message's) feeds the
 * rulesets and gives the From address that alias posting rules check
 * (store_plan_deliveries). An alias that refuses the sender refuses the
 * whole message on submission (the user learns about it at once instead
 * of through a bounce), on port 25 only when every recipient refuses.
 * External alias members go to forwards_r (submission queues them), or are
 * logged when it is NULL. ids gets the stored message ids. Returns 0 when
 * stored and durable (only then may 250 be sent; also when no copy was
 * needed, e.g. the sender was the only member of an alias), 1 when refused
 * (*error_r is the reply), -1 on errors. */
int
smtp_deliver_local(struct smtp_session *s, const char *path, const char *txid,
	const struct buf *prefix, bool refuse_any_not_allowed,
	const struct smtp_analysis *an, struct buf *ids,
	struct store_forwards *forwards_r, const char **error_r)
{
	struct store_tx_recipient *tr = xcalloc(s->tx.nrcpts + 1, sizeof(*tr));
	size_t *idx = xcalloc(s->tx.nrcpts + 1, sizeof(*idx));
	struct store_rcpt *rc = NULL;
	struct webhook_incoming_ctx *whc = NULL;
	struct store_msg_facts facts;
	struct store_plan plan;
	struct store_msg_in msg;
	struct buf hdr;
	char *from_lp = NULL, *from_dom = NULL;
	size_t i, n = 0, naccepted = 0;
	int r = -1;

	memset(&plan, 0, sizeof(plan));
	buf_init(&hdr);
	for (i = 0; i < s->tx.nrcpts; i++) {
		if (s->tx.rcpts[i].r.status != STORE_DEST_OK)
			continue;
		tr[n].localpart = s->tx.rcpts[i].localpart;
		tr[n].domain = s->tx.rcpts[i].domain;
		tr[n].r = &s->tx.rcpts[i].r;
		idx[n++] = i;
	}
	if (n == 0) {
		r = 0;
		goto out;
	}
	buf_append(&hdr, prefix->data, prefix->len);
	if (an != NULL && an->header.len > 0)
		buf_append(&hdr, an->header.data, an->header.len);
	else if (store_msg_read_header(path, STORE_RULES_HEADER_READ_MAX, &hdr, error_r) < 0)
		goto out;
	(void)store_msgfrom_parse(hdr.data + prefix->len, hdr.len - prefix->len, &from_lp,
		&from_dom);
	/* Verified domains (SPF, DKIM) for rulesets come from the analysis
	 * of incoming mail; submissions have none. */
	memset(&facts, 0, sizeof(facts));
	facts.mailfrom = s->tx.from;
	facts.mailfrom_localpart = s->tx.mail.from.localpart;
	facts.mailfrom_domain = s->tx.mail.from.domain;
	facts.ehlo_domain = s->helo.name;
	if (an != NULL) {
		facts.mailfrom_validated = !an->spf_is_helo && an->spf.result == SPF_PASS;
		facts.ehlo_validated = an->spf_is_helo && an->spf.result == SPF_PASS;
		facts.dkim_domains = (const char *const *)an->dkim_domains;
		facts.ndkim_domains = an->ndkim_domains;
	}
	facts.msgfrom_localpart = from_lp;
	facts.msgfrom_domain = from_dom;
	facts.header = hdr.data;
	facts.header_len = hdr.len;
	store_plan_deliveries(tr, n, &facts, &plan);
	for (i = 0; i < n; i++)
		if (plan.verdicts[i] == STORE_VERDICT_NOT_ALLOWED)
			log_info(s->cid, "proto=smtp ev=alias-refused rcpt=%s msgfrom=%s txid=%s",
				lq(s->tx.rcpts[idx[i]].addr), from_dom ? lq(ms_err("%s@%s", from_lp,
				from_dom)) : "-", txid);
	if (plan.nrefused == n || (refuse_any_not_allowed && plan.nrefused > 0)) {
		/* The reference's answer for a non-member posting to a
		 * members-only alias (SePol7ExpnProhibited2). */
		*error_r = "550 5.7.2 not allowed to send to destination";
		r = 1;
		goto out;
	}
	for (i = 0; i < plan.nforwards; i++) {
		if (forwards_r != NULL) {
			store_forwards_add(forwards_r, plan.forwards[i].address);
			log_info(s->cid, "proto=smtp ev=alias-forward rcpt=%s member=%s "
				"result=queued txid=%s", lq(s->tx.rcpts[idx[plan.forwards[i].rcpt]].addr),
				lq(plan.forwards[i].address), txid);
		} else {
			/* Forwarding incoming mail needs the outgoing queue. */
			log_warn(s->cid, "proto=smtp ev=alias-forward rcpt=%s member=%s "
				"result=not-forwarded note=queue-integration-pending txid=%s",
				lq(s->tx.rcpts[idx[plan.forwards[i].rcpt]].addr),
				lq(plan.forwards[i].address), txid);
		}
	}
	/* Recipients refused while others accepted would get a DSN, which
	 * needs the queue too; they are logged above. */
	if (plan.ncopies == 0) {
		r = 0;
		goto out;
	}
	memset(&msg, 0, sizeof(msg));
	msg.path = path;
	msg.prefix = prefix->data;
	msg.prefix_len = prefix->len;
	msg.remote_ip = s->c->remote_ip;
	msg.tls_version = conn_tls_version_id(s->c);
	msg.tls_cipher = conn_tls_cipher_id(s->c);
	msg.require_tls = s->tx.mail.requiretls;
	msg.ehlo = s->helo.name;
	msg.mailfrom = s->tx.from;
	if (an != NULL)
		smtp_analysis_to_msg(an, &msg);
	rc = xcalloc(plan.ncopies, sizeof(*rc));
	for (i = 0; i < plan.ncopies; i++) {
		const struct store_copy *cp = &plan.copies[i];

		rc[i].account_id = cp->account_id;
		rc[i].mailbox = cp->mailbox;
		rc[i].rcpt_localpart = tr[cp->rcpt].localpart;
		rc[i].rcpt_domain = tr[cp->rcpt].domain;
		if (an != NULL)
			dmarc_decide(s, an, cp, &rc[i], &naccepted);
		log_debug(s->cid, "proto=smtp ev=copy rcpt=%s deliver_to=%s account=%lld "
			"mailbox=%s ruleset=%lld txid=%s", lq(s->tx.rcpts[idx[cp->rcpt]].addr),
			lq(cp->deliver_to), (long long)cp->account_id, lq(cp->mailbox),
			cp->ruleset ? (long long)cp->ruleset->id : 0LL, txid);
	}
	if (an != NULL)
		webhook_prepare(s, path, prefix, &msg, rc, plan.ncopies, &whc);
	r = store_deliver(s->srv->store, &msg, rc, plan.ncopies, error_r);
	if (whc != NULL) {
		/* The calls committed with the delivery; wake the sender. */
		if (r == 0)
			webhook_kick(s->srv->store);
		webhook_incoming_ctx_free(&whc);
	}
	if (r == 0 && an != NULL && naccepted == 0) {
		/* RFC 7489 6.6.4 / 10.3: reject with 550 5.7.1; the copies
		 * are kept in the recipients' Rejects mailboxes. */
		*error_r = ms_err("550 5.7.1 rejected by DMARC policy of %s",
			an->dmarc.from_domain);
		r = 1;
	}
	if (r == STORE_OVER_QUOTA) {
		/* RFC 3463 4.2.2: mailbox full; temporary, the sender retries. */
		*error_r = "452 4.2.2 mailbox full, over quota";
		r = 1;
	}
	if (r == 0) {
		for (i = 0; i < plan.ncopies; i++)
			buf_printf(ids, "%s%lld", ids->len ? "," : "", (long long)rc[i].message_id);
	}
out:
	store_plan_free(&plan);
	buf_free(&hdr);
	free(from_lp);
	free(from_dom);
	free(rc);
	free(tr);
	free(idx);
	return r;
}

/* Port 25: store the message for its local recipients. */
static int
deliver_incoming(struct smtp_session *s, const char *path, const char *txid,
	struct buf *ids, const char **error_r)
{
	struct smtp_analysis an;
	struct buf prefix;
	int r;

	smtp_analyze(s, path, &an);
	buf_init(&prefix);
	smtp_build_prefix(s, txid, true, &an.headers, &prefix);
	r = smtp_deliver_local(s, path, txid, &prefix, false, &an, ids, NULL, error_r);
	buf_free(&prefix);
	smtp_analysis_free(&an);
	return r;
}

static void
proceed_data(struct smtp_session *s, struct smtp_cmd *cmd)
{
	struct smtp_data d;
	char *path = NULL;
	const char *error, *rej;
	char txid[48];
	struct buf ids;
	int fd, werr, rd, dr;

	fd = store_tmpfile(s->srv->store, &path, &error);
	if (fd < 0) {
		log_error(s->cid, "proto=smtp ev=data result=error err=%s", lq(error));
		smtp_reply(s, "451 4.3.0 temporary error, try again later");
		return;
	}
	s->ntx++;
	(void)snprintf(txid, sizeof(txid), "%s-%u", s->cid, s->ntx);
	smtp_reply(s, "354 start mail input; end with <CRLF>.<CRLF>");
	if (conn_flush(s->c) < 0) {
		close(fd);
		(void)unlink(path);
		free(path);
		s->quit = true;
		return;
	}
	smtp_data_init(&d, s->srv->max_message_size);
	rd = data_read(s, &d, fd, &werr);
	if (rd < 0) {
		/* Nothing is stored for an unfinished transfer. */
		close(fd);
		(void)unlink(path);
		free(path);
		log_info(s->cid, "proto=smtp ev=data result=aborted reason=%s size=%llu txid=%s",
			s->c->timed_out ? "timeout" : s->c->eof ? "eof" : "io-error",
			(unsigned long long)d.size, txid);
		if (s->c->timed_out)
			reply_timeout(s);
		s->quit = true;
		tx_reset(s);
		return;
	}
	buf_init(&ids);
	rej = smtp_data_reject_reply(&d);
	if (rej == NULL && werr == 0 && fsync(fd) < 0)
		werr = errno;
	close(fd);
	if (rej != NULL) {
		smtp_refuse(s, rej);
		log_info(s->cid, "proto=smtp ev=data result=rejected reply=%s size=%llu "
			"bare_cr=%s bare_lf=%s received=%u rcpts=%zu txid=%s",
			lq(rej), (unsigned long long)d.size, d.bare_cr ? "yes" : "no",
			d.bare_lf ? "yes" : "no", d.received, s->tx.nrcpts, txid);
	} else if (werr != 0) {
		/* store_deliver links the file: it must be on disk first. */
		log_error(s->cid, "proto=smtp ev=data result=error err=%s txid=%s",
			lq(strerror(werr)), txid);
		if (werr == ENOSPC || werr == EDQUOT)
			smtp_reply(s, "452 4.3.1 insufficient system storage");
		else
			smtp_reply(s, "451 4.3.0 temporary error storing message");
	} else if (smtp_localserve_data(s) < 0) {
		log_info(s->cid, "proto=smtp ev=data result=localserve-fail txid=%s", txid);
	} else if (s->submission) {
		smtp_submit_data(s, path, txid, &d);
	} else if ((dr = deliver_incoming(s, path, txid, &ids, &error)) < 0) {
		log_error(s->cid, "proto=smtp ev=data result=error err=%s size=%llu "
			"rcpts=%zu txid=%s", lq(error), (unsigned long long)d.size,
			s->tx.nrcpts, txid);
		smtp_reply(s, "451 4.3.0 temporary error storing message, try again later");
	} else if (dr > 0) {
		smtp_refuse(s, error);
		log_info(s->cid, "proto=smtp ev=data result=rejected reply=%s size=%llu "
			"rcpts=%zu txid=%s", lq(error), (unsigned long long)d.size,
			s->tx.nrcpts, txid);
	} else {
		/* Durable for every recipient: only now may we say 250. */
		log_info(s->cid, "proto=smtp ev=data result=delivered size=%llu 8bit=%s "
			"rcpts=%zu msgids=%s txid=%s", (unsigned long long)d.size,
			d.eightbit ? "yes" : "no", s->tx.nrcpts, ids.data, txid);
		smtp_reply(s, "250 2.0.0 message queued as %s", txid);
	}
	/* Delivered messages are hard links now; the temp name always goes. */
	(void)unlink(path);
	free(path);
	buf_free(&ids);
	/* RFC 5321 4.1.1.4: the transaction ends with the DATA reply. */
	tx_reset(s);
}

/* ---- the small commands ---- */

static int
check_noargs(struct smtp_session *s, struct smtp_cmd *cmd)
{
	const char *r;

	if (smtp_parse_noargs(cmd->line.args, cmd->line.argslen, &r) < 0) {
		smtp_refuse(s, r);
		return -1;
	}
	return 0;
}

static void
proceed_rset(struct smtp_session *s, struct smtp_cmd *cmd)
{
	tx_reset(s);
	smtp_reply(s, "250 2.0.0 OK");
}

/* RFC 5321 4.1.1.9: noop = "NOOP" [ SP String ] CRLF; the string is ignored. */
static void
proceed_noop(struct smtp_session *s, struct smtp_cmd *cmd)
{
	smtp_reply(s, "250 2.0.0 OK");
}

static void
proceed_quit(struct smtp_session *s, struct smtp_cmd *cmd)
{
	smtp_reply(s, "221 2.0.0 %s closing connection", s->srv->hostname);
	s->quit = true;
}

/* RFC 5321 4.1.1.6: vrfy = "VRFY" SP String CRLF. */
static int
check_vrfy(struct smtp_session *s, struct smtp_cmd *cmd)
{
	if (cmd->line.argslen == 0) {
		smtp_refuse(s, "501 5.5.4 VRFY requires an argument");
		return -1;
	}
	return 0;
}

/* RFC 5321 3.5.3: 252 when the server will not verify but will accept. */
static void
proceed_vrfy(struct smtp_session *s, struct smtp_cmd *cmd)
{
	smtp_reply(s, "252 2.5.0 cannot VRFY user, but will accept message and attempt delivery");
}

/* RFC 5321 3.5.2: EXPN may be disabled; lists are not disclosed. */
static void
proceed_expn(struct smtp_session *s, struct smtp_cmd *cmd)
{
	smtp_reply(s, "502 5.5.1 EXPN not available");
}

static void
proceed_help(struct smtp_session *s, struct smtp_cmd *cmd)
{
	smtp_reply(s, "214 2.0.0 Mailstead ESMTP; commands: EHLO HELO MAIL RCPT DATA "
		"RSET NOOP QUIT VRFY HELP; see RFC 5321");
}

/* ---- STARTTLS (RFC 3207) ---- */

static int
check_starttls(struct smtp_session *s, struct smtp_cmd *cmd)
{
	/* RFC 3207 4: "STARTTLS" CRLF, no parameters. */
	if (cmd->line.argslen > 0) {
		smtp_refuse(s, "501 5.5.4 STARTTLS takes no parameters");
		return -1;
	}
	if (s->tls) {
		smtp_refuse(s, "503 5.5.1 already in TLS");
		return -1;
	}
	/* Only possible with submission_require_starttls = no. */
	if (s->authenticated) {
		smtp_refuse(s, "503 5.5.1 cannot STARTTLS after authentication");
		return -1;
	}
	if (!starttls_offered(s)) {
		smtp_refuse(s, "502 5.5.1 STARTTLS not offered on this listener");
		return -1;
	}
	return 0;
}

static void
proceed_starttls(struct smtp_session *s, struct smtp_cmd *cmd)
{
	const char *error;
	struct buf fp;
	size_t discarded;

	smtp_reply(s, "220 2.0.0 ready to start TLS");
	/* Port 25 falls back to the host name's certificate for unknown SNI
	 * names (a sender may still accept it); submission is strict. */
	if (conn_tls_accept_flags(s->c, s->srv->tls,
		    s->srv->kind == SMTP_KIND_SMTP ? 0 : CONN_TLS_STRICT_SNI, &error) < 0) {
		log_info(s->cid, "proto=smtp ev=starttls result=failed err=%s", lq(error));
		s->quit = true;
		return;
	}
	s->tls = true;
	discarded = conn_tls_discarded_plaintext(s->c);
	buf_init(&fp);
	(void)conn_tls_client_pubkey(s->c, &fp, NULL);
	log_info(s->cid, "proto=smtp ev=starttls result=ok version=%s cipher=%s sni=%s "
		"clientkey=%s discarded=%zu",
		conn_tls_version_name(s->c), conn_tls_cipher_name(s->c),
		lq(conn_tls_sni(s->c) ? conn_tls_sni(s->c) : ""), lq(fp.data), discarded);
	if (discarded > 0)
		log_warn(s->cid, "proto=smtp ev=starttls-injection bytes=%zu", discarded);
	buf_free(&fp);
	/* RFC 3207 4.2: forget everything learned before TLS, the client
	 * must send EHLO again. */
	tx_reset(s);
	smtp_helo_free(&s->helo);
	s->helo_done = false;
	s->esmtp = false;
	smtp_auth_tls_established(s);
}

/* The command table. */
static const struct smtp_cmd_def smtp_cmds[] = {
	{ SMTP_VERB_EHLO, SMTP_CF_PRE_TLS | SMTP_CF_PRE_AUTH | SMTP_CF_ENDS_GROUP,
	  check_helo, proceed_helo, cleanup_helo },
	{ SMTP_VERB_HELO, SMTP_CF_PRE_TLS | SMTP_CF_PRE_AUTH | SMTP_CF_ENDS_GROUP,
	  check_helo, proceed_helo, cleanup_helo },
	{ SMTP_VERB_MAIL, SMTP_CF_NEEDS_HELO, check_mail, proceed_mail, cleanup_mail },
	{ SMTP_VERB_RCPT, SMTP_CF_NEEDS_HELO, check_rcpt, proceed_rcpt, cleanup_rcpt },
	{ SMTP_VERB_DATA, SMTP_CF_NEEDS_HELO | SMTP_CF_ENDS_GROUP,
	  check_data, proceed_data, NULL },
	{ SMTP_VERB_RSET, SMTP_CF_PRE_TLS | SMTP_CF_PRE_AUTH,
	  check_noargs, proceed_rset, NULL },
	{ SMTP_VERB_NOOP, SMTP_CF_PRE_TLS | SMTP_CF_PRE_AUTH | SMTP_CF_ENDS_GROUP,
	  NULL, proceed_noop, NULL },
	{ SMTP_VERB_QUIT, SMTP_CF_PRE_TLS | SMTP_CF_PRE_AUTH | SMTP_CF_ENDS_GROUP,
	  check_noargs, proceed_quit, NULL },
	{ SMTP_VERB_VRFY, SMTP_CF_ENDS_GROUP, check_vrfy, proceed_vrfy, NULL },
	{ SMTP_VERB_EXPN, SMTP_CF_ENDS_GROUP, NULL, proceed_expn, NULL },
	{ SMTP_VERB_HELP, SMTP_CF_PRE_TLS | SMTP_CF_PRE_AUTH, NULL, proceed_help, NULL },
	{ SMTP_VERB_STARTTLS, SMTP_CF_PRE_TLS | SMTP_CF_PRE_AUTH | SMTP_CF_ENDS_GROUP,
	  check_starttls, proceed_starttls, NULL },
	/* RFC 4954: submission only (port 25 answers 502); allowed before
	 * STARTTLS so that it can answer 538 when TLS is required. */
	{ SMTP_VERB_AUTH, SMTP_CF_PRE_TLS | SMTP_CF_PRE_AUTH | SMTP_CF_NEEDS_HELO |
	  SMTP_CF_ENDS_GROUP | SMTP_CF_SUBMISSION_ONLY,
	  smtp_check_auth, smtp_proceed_auth, smtp_cleanup_auth },
	{ SMTP_VERB_BDAT, SMTP_CF_NOT_OFFERED, NULL, NULL, NULL },
};

static const struct smtp_cmd_def *
cmd_lookup(enum smtp_verb verb)
{
	size_t i;

	for (i = 0; i < MS_NELEM(smtp_cmds); i++)
		if (smtp_cmds[i].verb == verb)
			return &smtp_cmds[i];
	return NULL;
}

/* Checks every command shares, from the table flags. */
static int
check_common(struct smtp_session *s, const struct smtp_cmd_def *def)
{
	if ((def->flags & SMTP_CF_NOT_OFFERED) ||
	    ((def->flags & SMTP_CF_SUBMISSION_ONLY) && !s->submission)) {
		smtp_refuse(s, "502 5.5.1 command not offered on this listener");
		return -1;
	}
	/* RFC 3207 4: "530 5.7.0 Must issue a STARTTLS command first". */
	if (s->tls_required && !s->tls && !(def->flags & SMTP_CF_PRE_TLS)) {
		smtp_refuse(s, "530 5.7.0 must issue a STARTTLS command first");
		return -1;
	}
	/* RFC 4954 6: 530 5.7.0 Authentication required. */
	if (s->submission && !s->authenticated && !(def->flags & SMTP_CF_PRE_AUTH)) {
		smtp_refuse(s, "530 5.7.0 authentication required");
		return -1;
	}
	if ((def->flags & SMTP_CF_NEEDS_HELO) && !s->helo_done) {
		smtp_refuse(s, "503 5.5.1 send EHLO or HELO first");
		return -1;
	}
	return 0;
}

/* Handle one line as read (with its line ending). */
static void
dispatch(struct smtp_session *s, const char *raw, size_t n)
{
	const struct smtp_cmd_def *def;
	struct smtp_cmd cmd;
	const char *r;

	memset(&cmd, 0, sizeof(cmd));
	if (smtp_parse_line(raw, n, &cmd.line, &r) < 0) {
		smtp_refuse(s, r);
		return;
	}
	def = cmd_lookup(cmd.line.verb);
	if (def == NULL) {
		/* Only the verb, at debug level: after a refused DATA a client
		 * may send its message text as "commands". */
		smtp_refuse(s, "500 5.5.1 command not recognized");
		log_debug(s->cid, "proto=smtp ev=unknown-command verb=%s",
			lqn(raw, strcspn(raw, " \r\n") < 16 ? strcspn(raw, " \r\n") : 16));
		return;
	}
	if (check_common(s, def) == 0 &&
	    (def->check == NULL || def->check(s, &cmd) == 0))
		def->proceed(s, &cmd);
	if (def->cleanup != NULL)
		def->cleanup(&cmd);
	if (def->flags & SMTP_CF_ENDS_GROUP)
		(void)conn_flush(s->c);
}

/* Wait for the next command. Returns 1 with a line in s->line, 0 when
 * the line was handled here (too long) and -1 when the session is over
 * (EOF, timeout, shutdown, error; any goodbye is sent). */
static int
read_command(struct smtp_session *s)
{
	struct conn *c = s->c;
	int64_t deadline;
	size_t max;
	int r;

	/* RFC 2920 3.2: replies may be held while more commands of the group
	 * are buffered, but must be sent before waiting for the client. */
	if (!has_buffered_line(c) && conn_flush(c) < 0)
		return -1;
	if (!conn_has_input(c)) {
		deadline = ms_mono_ms() + c->timeout_ms;
		for (;;) {
			int64_t left = deadline - ms_mono_ms();

			if (*s->srv->stop) {
				log_info(s->cid, "proto=smtp ev=shutdown");
				smtp_reply(s, "421 4.3.2 %s shutting down", s->srv->hostname);
				(void)conn_flush(c);
				return -1;
			}
			if (left <= 0) {
				reply_timeout(s);
				return -1;
			}
			r = conn_wait(c, -1, left < SMTP_WAIT_SLICE_MS ?
				(int)left : SMTP_WAIT_SLICE_MS);
			if (r < 0)
				return -1;
			if (r > 0)
				break;
		}
	}
	max = s->conf->smtp.max_line_length;
	/* RFC 4954 4: an AUTH command with its initial response may be
	 * longer than other commands (12288 octets of response). */
	if (s->submission && !s->sasl_done && max < SMTP_AUTH_CMDLINE_MAX)
		max = SMTP_AUTH_CMDLINE_MAX;
	r = conn_read_line(c, &s->line, max);
	if (r == 1) {
		if (s->line.data[s->line.len - 1] != '\n') {
			/* A last line without "\n" at EOF: not a command. */
			log_info(s->cid, "proto=smtp ev=eof partial_line=yes");
			return -1;
		}
		return 1;
	}
	if (r == 0) {
		log_info(s->cid, "proto=smtp ev=eof");
		return -1;
	}
	if (r == -1) {
		if (c->timed_out)
			reply_timeout(s);
		return -1;
	}
	/* RFC 5321 4.5.3.1.4 limits command lines; answer and go on. */
	smtp_refuse(s, "500 5.5.2 line too long");
	return c->eof ? -1 : 0;
}

void
smtp_session_run(struct conn *c, void *ctx)
{
	const struct smtp_server *srv = ctx;
	struct smtp_session s;
	int i;

	memset(&s, 0, sizeof(s));
	s.c = c;
	s.srv = srv;
	s.conf = srv->conf;
	s.cid = c->cid;
	buf_init(&s.line);
	for (i = 0; i < SASL_CB_NTYPES; i++)
		buf_init(&s.cb[i]);

	s.submission = srv->kind != SMTP_KIND_SMTP;
	/* Incoming SMTP may insist on STARTTLS before mail (RFC 3207 4). */
	s.tls_required = srv->kind == SMTP_KIND_SMTP && srv->tls != NULL &&
		srv->listener->smtp_require_starttls;
	if (srv->kind == SMTP_KIND_SUBMISSIONS) {
		const char *error;

		/* RFC 8314 3.3: implicit TLS, the handshake comes first. */
		if (srv->tls == NULL ||
		    conn_tls_accept_flags(c, srv->tls, CONN_TLS_STRICT_SNI, &error) < 0) {
			log_info(s.cid, "proto=smtp ev=tls result=failed err=%s",
				lq(srv->tls == NULL ? "no certificates" : error));
			goto out;
		}
		s.tls = true;
		log_info(s.cid, "proto=smtp ev=tls result=ok version=%s cipher=%s sni=%s",
			conn_tls_version_name(c), conn_tls_cipher_name(c),
			lq(conn_tls_sni(c) ? conn_tls_sni(c) : ""));
	}
	/* As the reference: an address with too many failed logins gets no
	 * submission service for a while (the limiter of ratelimit.h). */
	if (s.submission && smtp_auth_ratelimited(&s)) {
		log_info(s.cid, "proto=smtp ev=refused reason=auth-ratelimited");
		smtp_reply(&s, "421 4.7.0 %s too many authentication failures, try again later",
			srv->hostname);
		(void)conn_flush(c);
		goto out;
	}
	if (s.tls)
		smtp_auth_tls_established(&s);

	/* RFC 5321 4.2: greeting = "220 " Domain [ SP textstring ] CRLF. */
	smtp_reply(&s, "220 %s ESMTP Mailstead", srv->hostname);
	while (!s.quit && !c->failed) {
		int r = read_command(&s);

		if (r < 0)
			break;
		if (r > 0)
			dispatch(&s, s.line.data, s.line.len);
		if (s.nerrors >= SMTP_MAX_ERRORS) {
			log_info(s.cid, "proto=smtp ev=too-many-errors errors=%u", s.nerrors);
			smtp_reply(&s, "421 4.7.0 %s too many errors, closing connection",
				srv->hostname);
			break;
		}
	}
	(void)conn_flush(c);
out:
	tx_reset(&s);
	smtp_helo_free(&s.helo);
	free(s.remote_name);
	smtp_auth_free(&s);
	buf_free(&s.line);
}
