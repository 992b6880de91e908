/* Outgoing delivery events: logged, and queued as webhook calls for the
 * sender account's outgoing webhook (lib/queue/webhook.h); the single
 * place deliver.c reports outcomes through. */
#include "config.h"

#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "events.h"
#include "queue/webhook.h"
#include "queued.h"

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
delivery_event_log(enum delivery_event_kind k, const struct queue_item *it, int code,
	const char *secode, const char *error, bool dsn, bool suppressing)
{
	log_info(NULL, "proto=queue ev=%s qid=%lld account=%s rcpt=%s code=%d secode=%s "
		"dsn=%s suppressing=%s fromid=%s err=%s", delivery_event_name(k), (long long)it->id,
		lq(it->account), lq(ms_err("%s@%s", it->rcpt_localpart, it->rcpt_domain)), code,
		lq(secode ? secode : ""), dsn ? "yes" : "no", suppressing ? "yes" : "no",
		lq(it->from_id), lq(error ? error : ""));
}

bool
delivery_event_webhook(struct webhook_outgoing_event *ev, enum delivery_event_kind k,
	const struct queue_item *it, int code, const char *secode, const char *error,
	bool suppressing)
{
	bool ok = k == DELIVERY_DELIVERED || k == DELIVERY_RELAYED;

	if (it->account_id <= 0)
		return false;
	/* The reference's fields: SMTP codes and the error only for
	 * failures; "DSN" means the event came from an incoming DSN, which
	 * never applies to the delivery daemon's own outcomes. */
	memset(ev, 0, sizeof(*ev));
	ev->account_id = it->account_id;
	ev->queue_msg_id = it->id;
	ev->event = delivery_event_name(k);
	ev->suppressing = suppressing;
	ev->from_id = it->from_id;
	ev->message_id = it->message_id;
	ev->subject = it->subject;
	ev->extra = it->extra;
	ev->smtp_code = ok ? 0 : code;
	ev->smtp_secode = ok ? NULL : secode;
	ev->error = ok ? "" : error;
	return true;
}
