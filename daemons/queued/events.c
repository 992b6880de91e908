/* Outgoing delivery events: logged, and queued as webhook calls for the
 * sender account's outgoing webhook (lib/queue/webhook.h); the single
 * place deliver.c reports outcomes through. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "events.h"
#include "queue/webhook.h"
#include "queued.h"

/* The collector of this thread's job, if one is open. */
static _Thread_local struct delivery_events *collector;

void
delivery_events_begin(struct delivery_events *e)
{
	memset(e, 0, sizeof(*e));
	collector = e;
}

void
delivery_events_flush(struct queued *q, struct delivery_events *e)
{
	const char *error;
	size_t i;

	collector = NULL;
	if (e->n > 0 && webhook_outgoing_add(q->store, e->v, e->n, NULL, &error) < 0)
		log_warn(NULL, "proto=queue ev=webhook-queue n=%zu err=%s", e->n, lq(error));
	for (i = 0; i < e->n; i++) {
		free((char *)e->v[i].smtp_secode);
		free((char *)e->v[i].error);
	}
	free(e->v);
	memset(e, 0, sizeof(*e));
}

const char *
delivery_event_name(enum delivery_event_kind k)
{
	switch (k) {
	case DELIVERY_DELIVERED: return "delivered";
	case DELIVERY_SUPPRESSED: return "suppressed";
	case DELIVERY_DELAYED: return "delayed";
	case DELIVERY_FAILED: return "failed";
	case DELIVERY_RELAYED: return "relayed";
	}
	return "unknown";
}

void
delivery_event(struct queued *q, enum delivery_event_kind k, const struct queue_item *it,
	int code, const char *secode, const char *error, bool dsn, bool suppressing)
{
	struct webhook_outgoing_event ev;
	bool ok = k == DELIVERY_DELIVERED || k == DELIVERY_RELAYED;
	const char *error_msg;

	log_info(NULL, "proto=queue ev=%s qid=%lld account=%s rcpt=%s code=%d secode=%s "
		"dsn=%s suppressing=%s fromid=%s err=%s", delivery_event_name(k), (long long)it->id,
		lq(it->account), lq(ms_err("%s@%s", it->rcpt_localpart, it->rcpt_domain)), code,
		lq(secode ? secode : ""), dsn ? "yes" : "no", suppressing ? "yes" : "no",
		lq(it->from_id), lq(error ? error : ""));
	if (it->account_id <= 0)
		return;
	/* The reference's fields: SMTP codes and the error only for
	 * failures; "DSN" means the event came from an incoming DSN, which
	 * never applies to the delivery daemon's own outcomes (dsn here says
	 * a DSN was sent to the sender, which the payload does not carry). */
	memset(&ev, 0, sizeof(ev));
	ev.account_id = it->account_id;
	ev.queue_msg_id = it->id;
	ev.event = delivery_event_name(k);
	ev.suppressing = suppressing;
	ev.from_id = it->from_id;
	ev.message_id = it->message_id;
	ev.subject = it->subject;
	ev.extra = it->extra;
	ev.smtp_code = ok ? 0 : code;
	ev.smtp_secode = ok ? NULL : secode;
	ev.error = ok ? "" : error;
	if (collector != NULL) {
		/* Queued with the job's other events; the item's strings live
		 * until then, the reply's are copied. */
		struct delivery_events *e = collector;

		if (e->n == e->cap) {
			e->cap = e->cap ? 2 * e->cap : 64;
			e->v = xrealloc(e->v, e->cap * sizeof(*e->v));
		}
		ev.smtp_secode = ev.smtp_secode ? xstrdup(ev.smtp_secode) : NULL;
		ev.error = xstrdup(ev.error ? ev.error : "");
		e->v[e->n++] = ev;
		return;
	}
	/* Its own transaction, after the outcome committed: a crash in
	 * between loses the call (the outcome stays right). */
	if (webhook_outgoing_add(q->store, &ev, 1, NULL, &error_msg) < 0)
		log_warn(NULL, "proto=queue ev=webhook-queue qid=%lld err=%s", (long long)it->id,
			lq(error_msg));
}
