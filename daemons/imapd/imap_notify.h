/* Change notifications for IMAP sessions: one db_listener thread per process
 * receives NOTIFY "mailstead_changes" ("<account_id> <mailbox_id> <modseq>")
 * and wakes the sessions of that account through a per-session eventfd kept
 * in a mutex-protected registry. Sessions poll the eventfd next to their
 * socket (conn_wait), which is what IDLE, NOOP and later NOTIFY build on.
 * Shutdown wakes every session so it can say BYE. */
#ifndef IMAP_NOTIFY_H
#define IMAP_NOTIFY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct imap_registry;

struct imap_waiter {
	int fd;				/* eventfd, nonblocking */
	_Atomic int64_t account_id;	/* 0: not logged in */
	atomic_bool pending;		/* set with each wakeup */
	struct imap_waiter *prev, *next;
};

struct imap_registry *imap_registry_new(void);
void imap_registry_free(struct imap_registry **r);

/* Create the waiter's eventfd and link it. Returns 0, or -1 with *error_r. */
int imap_waiter_add(struct imap_registry *r, struct imap_waiter *w,
	const char **error_r);
/* Unlink and close. */
void imap_waiter_remove(struct imap_registry *r, struct imap_waiter *w);
/* Drain the eventfd; returns whether a wakeup was pending. */
bool imap_waiter_consume(struct imap_waiter *w);

/* Wake the sessions of account_id, or all sessions when account_id < 0. */
void imap_registry_wake(struct imap_registry *r, int64_t account_id);

/* db_notify_fn for STORE_NOTIFY_CHANNEL; ctx is the registry. A NULL
 * payload (listener reconnected, events may be lost) wakes everyone. */
void imap_registry_on_notify(void *ctx, const char *channel, const char *payload);

#endif
