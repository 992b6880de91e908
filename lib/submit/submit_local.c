/* Sending to our own addresses (lib/submit): like submission (daemons/smtpd/
 * smtp_submit.c), local recipients get their copies at once through the
 * delivery plan (aliases, rulesets, posting rules), and only the others,
 * plus external alias members, go to the outgoing queue. mailstead-queued
 * delivers by MX and would otherwise send local mail out and back in. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "mail/mime.h"
#include "queue/queue.h"
#include "store/store.h"
#include "store/store_rules.h"
#include "submit/submit_private.h"

void
submit_local_free(struct submit_local *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		store_recipient_free(&l->r[i]);
	free(l->r);
	free(l->is_local);
	store_forwards_free(&l->fwd);
	memset(l, 0, sizeof(*l));
}

int
submit_local_lookup(struct sctx *c, const struct queue_rcpt *rcpts, size_t n,
	struct submit_local *l)
{
	struct store *st = c->st;
	const char *error;
	size_t i;

	memset(l, 0, sizeof(*l));
	l->r = xcalloc(n + 1, sizeof(*l->r));
	l->is_local = xcalloc(n + 1, sizeof(*l->is_local));
	for (i = 0; i < n; i++) {
		struct store_recipient *r = &l->r[i];

		l->n = i + 1;
		if (store_recipient_lookup(st, rcpts[i].localpart, rcpts[i].domain, r, &error) < 0)
			return submit_server_error(c, "looking up recipient", error);
		switch (r->status) {
		case STORE_DEST_OK:
			l->is_local[i] = true;
			l->nlocal++;
			break;
		case STORE_DEST_NOT_LOCAL:
			break;
		case STORE_DEST_UNKNOWN:
			return submit_set_error(c, "badAddress", "no such local recipient %s@%s",
				rcpts[i].localpart, rcpts[i].domain);
		case STORE_DEST_DISABLED:
			return submit_set_error(c, "user", "domain of recipient %s@%s temporarily disabled, "
				"try again later", rcpts[i].localpart, rcpts[i].domain);
		default:
			/* An address configured to refuse mail (smtp_error). */
			return submit_set_error(c, "user", "recipient %s@%s does not accept mail",
				rcpts[i].localpart, rcpts[i].domain);
		}
	}
	return 0;
}

int
submit_local_deliver(struct sctx *c, const struct submit_local_msg *m,
	const struct queue_rcpt *rcpts, size_t n, struct submit_local *l)
{
	struct store *st = c->st;
	struct store_tx_recipient *tr = xcalloc(n + 1, sizeof(*tr));
	struct store_rcpt *rc = NULL;
	struct store_msg_facts facts;
	struct store_plan plan;
	struct store_msg_in in;
	struct buf hdr;
	const char *error;
	size_t i, k = 0, hend;
	int r, rc_ = -1;

	memset(&plan, 0, sizeof(plan));
	buf_init(&hdr);
	for (i = 0; i < n; i++) {
		if (!l->is_local[i])
			continue;
		tr[k].localpart = rcpts[i].localpart;
		tr[k].domain = rcpts[i].domain;
		tr[k].r = &l->r[i];
		k++;
	}
	if (k == 0) {
		rc_ = 0;
		goto out;
	}
	/* Rulesets match on our header lines and the message's. */
	hend = mime_header_end(m->msg->data, m->msg->len);
	buf_append(&hdr, m->prefix->data, m->prefix->len);
	buf_append(&hdr, m->msg->data, hend);
	memset(&facts, 0, sizeof(facts));
	facts.mailfrom = m->mailfrom;
	facts.mailfrom_localpart = m->from_localpart;
	facts.mailfrom_domain = m->from_domain;
	facts.msgfrom_localpart = m->from_localpart;
	facts.msgfrom_domain = m->from_domain;
	facts.header = hdr.data;
	facts.header_len = hdr.len;
	store_plan_deliveries(tr, k, &facts, &plan);
	/* As submission: an alias refusing the sender refuses the message,
	 * so the user learns at once rather than by a bounce. */
	if (plan.nrefused > 0) {
		submit_set_error(c, "user", "not allowed to send to destination (alias posting rules)");
		goto out;
	}
	for (i = 0; i < plan.nforwards; i++)
		store_forwards_add(&l->fwd, plan.forwards[i].address);
	if (plan.ncopies > 0) {
		rc = xcalloc(plan.ncopies, sizeof(*rc));
		for (i = 0; i < plan.ncopies; i++) {
			rc[i].account_id = plan.copies[i].account_id;
			rc[i].mailbox = plan.copies[i].mailbox;
			rc[i].rcpt_localpart = tr[plan.copies[i].rcpt].localpart;
			rc[i].rcpt_domain = tr[plan.copies[i].rcpt].domain;
		}
		memset(&in, 0, sizeof(in));
		in.path = m->path;
		in.prefix = m->local_prefix->data;
		in.prefix_len = m->local_prefix->len;
		in.remote_ip = c->m->remote_ip;
		in.mailfrom = m->mailfrom;
		r = store_deliver(st, &in, rc, plan.ncopies, &error);
		if (r == STORE_OVER_QUOTA) {
			submit_set_error(c, "user", "mailbox of a local recipient is full (over quota); "
				"nothing was sent");
			goto out;
		}
		if (r != 0) {
			submit_server_error(c, "delivering to local recipients", error);
			goto out;
		}
		l->ncopies = plan.ncopies;
		for (i = 0; i < plan.ncopies; i++)
			log_info(c->cid, "proto=http app=%s ev=local-delivery account=%lld "
				"mailbox=%s msgid=%lld", c->m->app, (long long)rc[i].account_id, lq(rc[i].mailbox),
				(long long)rc[i].message_id);
	}
	rc_ = 0;
out:
	store_plan_free(&plan);
	buf_free(&hdr);
	free(rc);
	free(tr);
	return rc_;
}
