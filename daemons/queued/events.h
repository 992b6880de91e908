/* Outgoing delivery events, one function per event, all called from
 * deliver.c at the point the outcome of a recipient is known: the log
 * line, and the outgoing webhook call (FEATURES.md section 6) that
 * deliver.c queues in the outcome's own transaction. */
#ifndef MS_QUEUED_EVENTS_H
#define MS_QUEUED_EVENTS_H

#include <stdbool.h>

#include "queue/queue.h"

struct queued;

enum delivery_event_kind {
	DELIVERY_DELIVERED,	/* accepted by the recipient's server */
	DELIVERY_SUPPRESSED,	/* on the suppression list, not attempted */
	DELIVERY_DELAYED,	/* temporary failure; will retry (delayed DSN sent) */
	DELIVERY_FAILED,	/* permanent failure or out of attempts */
	DELIVERY_RELAYED,	/* accepted by a smarthost (transport) */
};

const char *delivery_event_name(enum delivery_event_kind k);

struct webhook_outgoing_event;

/* One event for one recipient (queue row it). code/secode/error are those
 * of the SMTP reply or failure ("" and 0 when none). dsn: a DSN was sent
 * to the sender about it. suppressing: the address was added to the
 * suppression list because of this failure. */
void delivery_event_log(enum delivery_event_kind k, const struct queue_item *it, int code,
	const char *secode, const char *error, bool dsn, bool suppressing);
/* The webhook call of the event (lib/queue/webhook.h), to be queued with
 * webhook_outgoing_add_tx in the transaction that records the outcome.
 * Returns false when there is none (no sender account). The strings of ev
 * point into it and the arguments. */
bool delivery_event_webhook(struct webhook_outgoing_event *ev, enum delivery_event_kind k,
	const struct queue_item *it, int code, const char *secode, const char *error,
	bool suppressing);

#endif
