/* Lease renewal of the messages being attempted (leases.h). */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"
#include "queue/queue.h"
#include "queued.h"
#include "leases.h"

/* Ids of the messages being attempted, in no particular order. */
struct lease_set {
	int64_t *ids;
	size_t n, size;
};

struct leases {
	struct queued *q;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stopping;
	struct lease_set set;
};

static void
lease_set_add(struct lease_set *s, const int64_t *ids, size_t n)
{
	if (s->n + n > s->size) {
		size_t size = s->size == 0 ? 64 : s->size;

		while (size < s->n + n)
			size *= 2;
		s->ids = xrealloc(s->ids, size * sizeof(*s->ids));
		s->size = size;
	}
	memcpy(s->ids + s->n, ids, n * sizeof(*ids));
	s->n += n;
}

static void
lease_set_remove(struct lease_set *s, const int64_t *ids, size_t n)
{
	size_t i, k;

	/* A job holds at most a few hundred messages and few jobs run at
	 * once: a scan is cheaper than keeping an index. One occurrence per
	 * id is removed (the last one moves into its place). */
	for (k = 0; k < n; k++) {
		for (i = 0; i < s->n; i++) {
			if (s->ids[i] == ids[k]) {
				s->ids[i] = s->ids[--s->n];
				break;
			}
		}
	}
}

static void
lease_set_free(struct lease_set *s)
{
	free(s->ids);
	memset(s, 0, sizeof(*s));
}

static void *
keeper(void *arg)
{
	struct leases *l = arg;
	int64_t lease = (int64_t)l->q->conf->queue.lease;
	/* Every third of the lease: two renewals may fail (database
	 * restarting) before a lease runs out. */
	int64_t interval_ms = lease * 1000 / 3;
	const char *error;

	if (interval_ms < 200)
		interval_ms = 200;
	pthread_mutex_lock(&l->lock);
	while (!l->stopping) {
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += interval_ms / 1000;
		until.tv_nsec += (interval_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (!l->stopping &&
		    pthread_cond_timedwait(&l->cond, &l->lock, &until) != ETIMEDOUT)
			;
		if (l->stopping || l->set.n == 0)
			continue;
		/* Renewed with the lock held: a job removing its messages
		 * (to record their outcome) waits until this is done, so a
		 * released lease is never extended afterwards. */
		{
			int r = queue_lease_renew(l->q->store, l->set.ids, l->set.n, lease, &error);

			if (r < 0)
				log_warn(NULL, "proto=queue ev=lease-renew-failed n=%zu err=%s",
					l->set.n, lq(error));
			else
				log_debug(NULL, "proto=queue ev=lease-renewed n=%d", r);
		}
	}
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

struct leases *
leases_start(struct queued *q, const char **error_r)
{
	struct leases *l = xcalloc(1, sizeof(*l));
	int err;

	l->q = q;
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->cond, NULL);
	err = pthread_create(&l->thread, NULL, keeper, l);
	if (err != 0) {
		*error_r = ms_err("starting the lease keeper: %s", strerror(err));
		pthread_mutex_destroy(&l->lock);
		pthread_cond_destroy(&l->cond);
		free(l);
		return NULL;
	}
	return l;
}

void
leases_stop(struct leases **lp)
{
	struct leases *l = *lp;

	if (l == NULL)
		return;
	*lp = NULL;
	pthread_mutex_lock(&l->lock);
	l->stopping = true;
	pthread_cond_signal(&l->cond);
	pthread_mutex_unlock(&l->lock);
	pthread_join(l->thread, NULL);
	lease_set_free(&l->set);
	pthread_mutex_destroy(&l->lock);
	pthread_cond_destroy(&l->cond);
	free(l);
}

void
leases_add(struct leases *l, const int64_t *ids, size_t n)
{
	if (l == NULL)
		return;
	pthread_mutex_lock(&l->lock);
	lease_set_add(&l->set, ids, n);
	pthread_mutex_unlock(&l->lock);
}

void
leases_remove(struct leases *l, const int64_t *ids, size_t n)
{
	if (l == NULL)
		return;
	pthread_mutex_lock(&l->lock);
	lease_set_remove(&l->set, ids, n);
	pthread_mutex_unlock(&l->lock);
}
