/* mailstead-queued: delivers the outgoing queue. Claims due messages
 * (queue_claim: row locks plus a lease, so several queued processes can
 * share one database; each claim a job of up to JOB_MORE other messages
 * for the same destination, sent over one connection), runs at most
 * [queue] max_concurrent jobs at once, one thread each, and sleeps until
 * the next message is due or a NOTIFY mailstead_queue (smtpd queued
 * something, an operator released or rescheduled a message) wakes it. Also
 * removes expired history from queue_retired. SIGTERM: no new deliveries;
 * running jobs finish their current message and hand back the rest. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/conf.h"
#include "core/daemon.h"
#include "core/log.h"
#include "core/util.h"
#include "db/db.h"
#include "db/loglevel.h"
#include "queue/webhook.h"
#include "mailauth/tlspolicy.h"
#include "leases.h"
#include "queued.h"

/* Even without notifications, look at the queue this often. */
#define POLL_MAX_MS 60000
/* Up to this many messages of other submissions for the same destination
 * go with each claim, delivered one after the other over one connection:
 * fewer claims and connections for a big queue, while a queue of
 * thousands still spreads over every delivery slot. */
#define JOB_MORE 50

struct job {
	struct queued *q;
	struct queue_item *v;
	size_t n;
};

void
queued_wake(struct queued *q)
{
	pthread_mutex_lock(&q->lock);
	q->wake = true;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

static void
on_notify(void *ctx, const char *channel, const char *payload)
{
	(void)channel;
	(void)payload;
	queued_wake(ctx);
}

static void *
job_run(void *arg)
{
	struct job *j = arg;
	struct queued *q = j->q;

	deliver_job(q, j->v, j->n);
	{
		/* Whatever the job left registered (an error path). */
		int64_t *ids = xcalloc(j->n, sizeof(*ids));
		size_t i;

		for (i = 0; i < j->n; i++)
			ids[i] = j->v[i].id;
		leases_remove(q->leases, ids, j->n);
		free(ids);
	}
	queue_items_free(j->v, j->n);
	free(j);
	pthread_mutex_lock(&q->lock);
	q->active--;
	q->wake = true;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

/* Start deliveries while slots are free and messages are due. */
static void
fill_slots(struct queued *q)
{
	const char *error;

	for (;;) {
		struct queue_item *v;
		size_t n;
		struct job *j;
		pthread_t tid;
		pthread_attr_t attr;
		int r;

		pthread_mutex_lock(&q->lock);
		r = q->active < q->conf->queue.max_concurrent;
		pthread_mutex_unlock(&q->lock);
		if (!r || daemon_stop)
			return;
		r = queue_claim(q->store, (int64_t)q->conf->queue.lease,
			(int64_t)q->conf->queue.backoff_ms, JOB_MORE, &v, &n, &error);
		if (r < 0) {
			log_error(NULL, "proto=queue ev=claim err=%s", lq(error));
			return;
		}
		if (r == 0)
			return;
		log_debug(NULL, "proto=queue ev=claimed qid=%lld n=%zu attempt=%d", (long long)v[0].id,
			n, v[0].attempts);
		j = xcalloc(1, sizeof(*j));
		j->q = q;
		j->v = v;
		j->n = n;
		{
			int64_t *ids = xcalloc(n, sizeof(*ids));
			size_t i;

			for (i = 0; i < n; i++)
				ids[i] = v[i].id;
			leases_add(q->leases, ids, n);
			free(ids);
		}
		pthread_mutex_lock(&q->lock);
		q->active++;
		pthread_mutex_unlock(&q->lock);
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&tid, &attr, job_run, j) != 0) {
			pthread_attr_destroy(&attr);
			log_error(NULL, "proto=queue ev=thread err=%s", lq(strerror(errno)));
			/* The lease brings the messages back later. */
			queue_items_free(v, n);
			free(j);
			pthread_mutex_lock(&q->lock);
			q->active--;
			pthread_mutex_unlock(&q->lock);
			return;
		}
		pthread_attr_destroy(&attr);
	}
}

int
main(int argc, char **argv)
{
	struct queued q;
	struct conf *conf;
	struct db_pool *pool;
	struct db_listener *listener;
	struct webhook_sender *webhooks;
	const char *error;
	int64_t last_cleanup = 0;
	int waited;

	conf = daemon_start("mailstead-queued", argc, argv);
	/* libcurl's global setup before any thread exists. */
	webhook_global_init();
	if (daemon_drop_privileges(conf->general.user, &error) < 0)
		ms_fatal("mailstead-queued: %s", error);
	memset(&q, 0, sizeof(q));
	q.conf = conf;
	q.stop = &daemon_stop;
	q.hostname = conf->queue.ehlo_hostname[0] ? conf->queue.ehlo_hostname :
		conf->general.hostname;
	pthread_mutex_init(&q.lock, NULL);
	pthread_cond_init(&q.cond, NULL);
	/* Connections: one per running delivery (and its DSNs) plus the
	 * scheduler's, the webhook sender's and the lease keeper's. */
	pool = db_pool_create(conf->database.conninfo,
		(unsigned)(conf->database.pool_size > conf->queue.max_concurrent + 4 ?
		conf->database.pool_size : conf->queue.max_concurrent + 4), &error);
	if (pool == NULL)
		ms_fatal("mailstead-queued: database: %s", error);
	if (db_migrate_pool(pool, conf->general.sqldir, &error) < 0)
		ms_fatal("mailstead-queued: migrate: %s", error);
	if (loglevel_watch_start(pool, "queued", loglevel_conf_level(conf->general.loglevel),
	    &error) < 0)
		ms_fatal("mailstead-queued: %s", error);
	q.store = store_open(pool, conf->general.datadir, STORE_OPEN_DIRS, &error);
	if (q.store == NULL)
		ms_fatal("mailstead-queued: store: %s", error);
	{
		struct dns_options dopt;

		memset(&dopt, 0, sizeof(dopt));
		dopt.zone_file = conf->dns.zone_file;
		dopt.trust_anchor = conf->dns.trust_anchor[0] ? conf->dns.trust_anchor : NULL;
		dopt.timeout_ms = (int)(conf->dns.timeout * 1000);
		q.dns = dns_new(&dopt, &error);
		if (q.dns == NULL)
			ms_fatal("mailstead-queued: %s", error);
		if (dns_is_test_mode(q.dns))
			log_warn(NULL, "proto=queue ev=dns-test-mode note=%s",
				lq("answers come from a zone file, not from DNS"));
	}
	{
		struct tlspolicy_config tc;

		/* The CA file is read here for SMTP and by each MTA-STS fetch
		 * (libcurl), so it must be readable by [general] user. */
		memset(&tc, 0, sizeof(tc));
		tc.pool = pool;
		tc.dns = q.dns;
		tc.ca_file = conf->queue.tls_ca_file;
		tc.mtasts_port = (unsigned)conf->queue.mtasts_port;
		tc.hostname = q.hostname;
		q.tlspolicy = tlspolicy_new(&tc, &error);
		if (q.tlspolicy == NULL)
			ms_fatal("mailstead-queued: TLS policy: %s", error);
	}
	q.leases = leases_start(&q, &error);
	if (q.leases == NULL)
		ms_fatal("mailstead-queued: %s", error);
	listener = db_listener_start(conf->database.conninfo, &error);
	if (listener == NULL)
		ms_fatal("mailstead-queued: listener: %s", error);
	(void)db_listener_subscribe(listener, QUEUE_NOTIFY_CHANNEL, on_notify, &q);
	/* Webhook calls (FEATURES.md 6) go out from a thread of their own,
	 * so a slow receiver never holds up mail delivery. */
	{
		struct webhook_send_opts wo;

		memset(&wo, 0, sizeof(wo));
		webhooks = webhook_sender_start(q.store, listener, &wo, &error);
		if (webhooks == NULL)
			ms_fatal("mailstead-queued: %s", error);
	}

	log_info(NULL, "proto=queue ev=start hostname=%s max_concurrent=%llu version=%s pid=%ld",
		lq(q.hostname), (unsigned long long)conf->queue.max_concurrent, PACKAGE_VERSION,
		(long)getpid());

	while (!daemon_stop) {
		int64_t due = -1;
		struct timespec ts;

		if (ms_now() - last_cleanup >= (int64_t)conf->queue.retired_cleanup) {
			size_t removed = 0;

			last_cleanup = ms_now();
			if (queue_retired_cleanup(q.store, &removed, &error) < 0)
				log_warn(NULL, "proto=queue ev=retired-cleanup err=%s", lq(error));
			else if (removed > 0)
				log_info(NULL, "proto=queue ev=retired-cleanup removed=%zu", removed);
		}
		pthread_mutex_lock(&q.lock);
		q.wake = false;
		pthread_mutex_unlock(&q.lock);
		fill_slots(&q);
		if (queue_next_due(q.store, &due, &error) < 0) {
			log_error(NULL, "proto=queue ev=next-due err=%s", lq(error));
			due = 1000;
		}
		if (due < 0 || due > POLL_MAX_MS)
			due = POLL_MAX_MS;
		if (due < 10)
			due = 10;
		/* With every slot busy, a finishing delivery wakes us. */
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += (time_t)(due / 1000);
		ts.tv_nsec += (long)(due % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&q.lock);
		while (!q.wake && !daemon_stop) {
			/* Signals interrupt only the main thread's syscalls; wake
			 * at least twice a second to see daemon_stop. */
			struct timespec now, lim;

			clock_gettime(CLOCK_REALTIME, &now);
			lim = now;
			lim.tv_nsec += 500000000L;
			if (lim.tv_nsec >= 1000000000L) {
				lim.tv_sec++;
				lim.tv_nsec -= 1000000000L;
			}
			if (lim.tv_sec > ts.tv_sec || (lim.tv_sec == ts.tv_sec && lim.tv_nsec > ts.tv_nsec))
				lim = ts;
			if (pthread_cond_timedwait(&q.cond, &q.lock, &lim) == ETIMEDOUT &&
			    (lim.tv_sec == ts.tv_sec && lim.tv_nsec == ts.tv_nsec))
				break;
		}
		pthread_mutex_unlock(&q.lock);
	}

	/* Let running deliveries finish (their SMTP timeouts bound this). */
	for (waited = 0; waited < 600; waited++) {
		unsigned a;

		pthread_mutex_lock(&q.lock);
		a = q.active;
		pthread_mutex_unlock(&q.lock);
		if (a == 0)
			break;
		usleep(100 * 1000);
	}
	log_info(NULL, "proto=queue ev=stop");
	if (q.active == 0)
		leases_stop(&q.leases);
	/* Waits for webhook calls in flight (bounded by their timeout). */
	webhook_sender_stop(&webhooks);
	db_listener_stop(&listener);
	if (q.active > 0)
		return 0;	/* threads still use the store: leave it to exit */
	tlspolicy_free(&q.tlspolicy);
	dns_free(&q.dns);
	store_close(&q.store);
	loglevel_watch_stop();
	db_pool_destroy(&pool);
	conf_free(&conf);
	return 0;
}
