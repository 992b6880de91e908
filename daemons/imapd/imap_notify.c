/* The session registry behind change notifications (see imap_notify.h). */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/util.h"
#include "imap_notify.h"

struct imap_registry {
	pthread_mutex_t lock;
	struct imap_waiter *head;
};

struct imap_registry *
imap_registry_new(void)
{
	struct imap_registry *r = xcalloc(1, sizeof(*r));

	pthread_mutex_init(&r->lock, NULL);
	return r;
}

void
imap_registry_free(struct imap_registry **rp)
{
	if (*rp == NULL)
		return;
	pthread_mutex_destroy(&(*rp)->lock);
	free(*rp);
	*rp = NULL;
}

int
imap_waiter_add(struct imap_registry *r, struct imap_waiter *w, const char **error_r)
{
	w->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->fd < 0) {
		*error_r = ms_err("eventfd: %s", strerror(errno));
		return -1;
	}
	atomic_store(&w->account_id, 0);
	atomic_store(&w->pending, false);
	pthread_mutex_lock(&r->lock);
	w->prev = NULL;
	w->next = r->head;
	if (r->head != NULL)
		r->head->prev = w;
	r->head = w;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

void
imap_waiter_remove(struct imap_registry *r, struct imap_waiter *w)
{
	if (w->fd < 0)
		return;
	pthread_mutex_lock(&r->lock);
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		r->head = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	pthread_mutex_unlock(&r->lock);
	close(w->fd);
	w->fd = -1;
}

bool
imap_waiter_consume(struct imap_waiter *w)
{
	eventfd_t v;

	while (eventfd_read(w->fd, &v) == 0)
		;
	return atomic_exchange(&w->pending, false);
}

void
imap_registry_wake(struct imap_registry *r, int64_t account_id)
{
	struct imap_waiter *w;

	pthread_mutex_lock(&r->lock);
	for (w = r->head; w != NULL; w = w->next) {
		if (account_id >= 0 && atomic_load(&w->account_id) != account_id)
			continue;
		atomic_store(&w->pending, true);
		/* Cannot block: the counter only overflows after 2^64 wakeups. */
		(void)eventfd_write(w->fd, 1);
	}
	pthread_mutex_unlock(&r->lock);
}

void
imap_registry_on_notify(void *ctx, const char *channel, const char *payload)
{
	struct imap_registry *r = ctx;
	uint64_t account;
	const char *sp;

	(void)channel;
	if (payload == NULL) {
		imap_registry_wake(r, -1);
		return;
	}
	/* "<account_id> <mailbox_id> <modseq>" */
	sp = strchr(payload, ' ');
	if (ms_parse_u64n(payload, sp ? (size_t)(sp - payload) : strlen(payload),
		    1, INT64_MAX, &account) < 0)
		return;
	imap_registry_wake(r, (int64_t)account);
}
