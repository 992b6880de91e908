/* Outgoing delivery events: logged; the single place webhooks hook in. */
#include "config.h"

#include "core/log.h"
#include "core/util.h"
#include "events.h"
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
delivery_event(struct queued *q, enum delivery_event_kind k, const struct queue_item *it,
	int code, const char *secode, const char *error, bool dsn, bool suppressing)
{
	(void)q;
	log_info(NULL, "proto=queue ev=%s qid=%lld account=%s rcpt=%s code=%d secode=%s "
		"dsn=%s suppressing=%s fromid=%s err=%s", delivery_event_name(k), (long long)it->id,
		lq(it->account), lq(ms_err("%s@%s", it->rcpt_localpart, it->rcpt_domain)), code,
		lq(secode ? secode : ""), dsn ? "yes" : "no", suppressing ? "yes" : "no",
		lq(it->from_id), lq(error ? error : ""));
}
