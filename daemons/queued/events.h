/* Outgoing delivery events, one function per event, all called from
 * deliver.c at the point the outcome of a recipient is known and
 * recorded. They log now; webhooks (FEATURES.md section 6, the webhooks
 * branch) hook in here: each function gets everything the outgoing
 * webhook JSON needs (queue message id, fromid, message-id, subject,
 * SMTP code, enhanced code, error, extra). */
#ifndef MS_QUEUED_EVENTS_H
#define MS_QUEUED_EVENTS_H

#include <stdbool.h>

#include "queue/queue.h"
#include "queue/webhook.h"

struct queued;

enum delivery_event_kind {
	DELIVERY_DELIVERED,	/* accepted by the recipient's server */
	DELIVERY_SUPPRESSED,	/* on the suppression list, not attempted */
	DELIVERY_DELAYED,	/* temporary failure; will retry (delayed DSN sent) */
	DELIVERY_FAILED,	/* permanent failure or out of attempts */
	DELIVERY_RELAYED,	/* accepted by a smarthost (transport) */
};

const char *delivery_event_name(enum delivery_event_kind k);

/* Events of one job collected by the calling thread and queued as webhook
 * calls in one transaction by delivery_events_flush (which also ends the
 * collection); without begin, each event is queued by itself. */
struct delivery_events {
	struct webhook_outgoing_event *v;
	size_t n, cap;
};
void delivery_events_begin(struct delivery_events *e);
void delivery_events_flush(struct queued *q, struct delivery_events *e);

/* One event for one recipient (queue row it). code/secode/error are those
 * of the SMTP reply or failure ("" and 0 when none). dsn: a DSN was sent
 * to the sender about it. suppressing: the address was added to the
 * suppression list because of this failure. */
void delivery_event(struct queued *q, enum delivery_event_kind k, const struct queue_item *it,
	int code, const char *secode, const char *error, bool dsn, bool suppressing);

#endif
