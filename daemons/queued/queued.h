/* mailstead-queued internals: the process-wide state shared by the
 * scheduler (main.c), the delivery of one claimed batch (deliver.c), DSNs
 * (dsn.c), the TLS policy seam (tlspolicy.h) and the event hooks
 * (events.h). */
#ifndef MS_QUEUED_H
#define MS_QUEUED_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/conf.h"
#include "net/dns.h"
#include "queue/queue.h"
#include "store/store.h"

struct queued {
	struct conf *conf;
	struct store *store;
	struct dns *dns;
	/* MTA-STS, DANE and TLSRPT (lib/mailauth/tlspolicy.h). */
	struct tlspolicy *tlspolicy;
	const char *hostname;	/* EHLO name and DSN reporting MTA */
	volatile sig_atomic_t *stop;
	/* Scheduler wake-ups: NOTIFY mailstead_queue, a delivery finishing. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool wake;
	unsigned active;	/* deliveries running */
	/* Messages being attempted, their leases kept alive (leases.h). */
	struct leases *leases;
};

/* Wake the scheduler (any thread). */
void queued_wake(struct queued *q);

/* Deliver what one queue_claim returned: batch by batch (each the
 * recipients of one submission: route, connect, send, record outcomes,
 * DSNs, suppression, events), one connection carrying consecutive
 * transactions to the same address (RSET between them). Batches not
 * started within half the lease, or when stopping, are handed back
 * (queue_unclaim). Frees nothing of v. */
void deliver_job(struct queued *q, struct queue_item *v, size_t n);

/* The recipient's final outcome as a DSN needs it. */
struct dsn_rcpt {
	const struct queue_item *it;
	int code;		/* SMTP code, 0 when none (no connection) */
	const char *secode;	/* "5.1.1", "" */
	const char *error;	/* text for the user */
	const char *remote_mta;	/* host that answered, or NULL */
};

/* Send a DSN (RFC 3464) to the sender of the items (all of one message)
 * about the recipients: failed (permanent) or delayed. Local senders get it
 * in their Inbox; others through the queue with the null sender. Nothing
 * for the null sender or for reports we send. Errors are logged. */
void dsn_send(struct queued *q, const struct dsn_rcpt *r, size_t n, bool delayed);

#endif
