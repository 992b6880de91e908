/* LISTEN/NOTIFY fan-out: one thread with its own connection waits for
 * notifications and calls the subscribers of each channel. Subscribing
 * from another thread queues the LISTEN and wakes the thread via a pipe. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"
#include "db/db.h"

struct db_sub {
	uint64_t id;
	char *channel;
	db_notify_fn *fn;
	void *ctx;
};

struct db_listener {
	char *conninfo;
	PGconn *conn;
	pthread_t thread;
	pthread_mutex_t mu;
	int wake[2];
	volatile int stop;
	struct db_sub *subs;
	size_t nsubs;
	uint64_t next_id;
	char **channels;	/* channels LISTENed on (or to LISTEN) */
	size_t nchannels;
	size_t nlistened;	/* channels[0..nlistened) are active */
};

static int
do_listen(struct db_listener *l, const char *channel)
{
	char *ident = PQescapeIdentifier(l->conn, channel, strlen(channel));
	struct buf sql;
	PGresult *res;
	int ok;

	if (ident == NULL)
		return -1;
	buf_init(&sql);
	buf_printf(&sql, "LISTEN %s", ident);
	PQfreemem(ident);
	res = PQexec(l->conn, sql.data);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	buf_free(&sql);
	return ok ? 0 : -1;
}

/* LISTEN on channels not yet listened to. Called from the thread. */
static int
listen_pending(struct db_listener *l)
{
	pthread_mutex_lock(&l->mu);
	while (l->nlistened < l->nchannels) {
		char *ch = xstrdup(l->channels[l->nlistened]);
		int rc;

		pthread_mutex_unlock(&l->mu);
		rc = do_listen(l, ch);
		free(ch);
		if (rc < 0)
			return -1;
		pthread_mutex_lock(&l->mu);
		l->nlistened++;
	}
	pthread_mutex_unlock(&l->mu);
	return 0;
}

static void
dispatch(struct db_listener *l, const char *channel, const char *payload)
{
	size_t i;

	/* Callbacks run with the lock held so unsubscribe (which takes the
	 * lock) guarantees no call is in progress once it returns. */
	pthread_mutex_lock(&l->mu);
	for (i = 0; i < l->nsubs; i++)
		if (channel == NULL || strcmp(l->subs[i].channel, channel) == 0)
			l->subs[i].fn(l->subs[i].ctx, channel ? channel : l->subs[i].channel,
				payload);
	pthread_mutex_unlock(&l->mu);
}

static void
reconnect(struct db_listener *l)
{
	while (!l->stop) {
		if (l->conn != NULL)
			PQfinish(l->conn);
		l->conn = db_connect(l->conninfo);
		if (PQstatus(l->conn) == CONNECTION_OK) {
			pthread_mutex_lock(&l->mu);
			l->nlistened = 0;
			pthread_mutex_unlock(&l->mu);
			if (listen_pending(l) == 0) {
				log_info(NULL, "ev=db-listener-reconnected");
				/* Tell everyone they may have missed events. */
				dispatch(l, NULL, NULL);
				return;
			}
		}
		log_warn(NULL, "ev=db-listener-reconnect-failed error=%s",
			lq(PQerrorMessage(l->conn)));
		sleep(1);
	}
}

static void *
listener_main(void *arg)
{
	struct db_listener *l = arg;

	while (!l->stop) {
		struct pollfd pfd[2];
		PGnotify *n;

		if (PQstatus(l->conn) != CONNECTION_OK || listen_pending(l) < 0) {
			reconnect(l);
			continue;
		}
		/* LISTEN in listen_pending may have read notifications. */
		while ((n = PQnotifies(l->conn)) != NULL) {
			dispatch(l, n->relname, n->extra);
			PQfreemem(n);
		}
		memset(pfd, 0, sizeof(pfd));
		pfd[0].fd = PQsocket(l->conn);
		pfd[0].events = POLLIN;
		pfd[1].fd = l->wake[0];
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, 1000) < 0)
			continue;
		if (pfd[1].revents & POLLIN) {
			char tmp[64];
			while (read(l->wake[0], tmp, sizeof(tmp)) > 0)
				;
		}
		if (!(pfd[0].revents & (POLLIN | POLLERR | POLLHUP)))
			continue;
		if (!PQconsumeInput(l->conn)) {
			log_warn(NULL, "ev=db-listener-lost error=%s", lq(PQerrorMessage(l->conn)));
			reconnect(l);
			continue;
		}
		while ((n = PQnotifies(l->conn)) != NULL) {
			dispatch(l, n->relname, n->extra);
			PQfreemem(n);
		}
	}
	return NULL;
}

struct db_listener *
db_listener_start(const char *conninfo, const char **error_r)
{
	struct db_listener *l = xcalloc(1, sizeof(*l));

	l->conninfo = xstrdup(conninfo);
	l->conn = db_connect(conninfo);
	if (PQstatus(l->conn) != CONNECTION_OK) {
		*error_r = ms_err("listener: connecting to database: %s",
			PQerrorMessage(l->conn));
		PQfinish(l->conn);
		free(l->conninfo);
		free(l);
		return NULL;
	}
	if (pipe2(l->wake, O_CLOEXEC | O_NONBLOCK) < 0)
		ms_panic("pipe2: %s", strerror(errno));
	pthread_mutex_init(&l->mu, NULL);
	l->next_id = 1;
	if (pthread_create(&l->thread, NULL, listener_main, l) != 0)
		ms_panic("pthread_create failed");
	return l;
}

void
db_listener_stop(struct db_listener **lp)
{
	struct db_listener *l = *lp;
	size_t i;

	if (l == NULL)
		return;
	l->stop = 1;
	(void)write(l->wake[1], "x", 1);
	pthread_join(l->thread, NULL);
	PQfinish(l->conn);
	close(l->wake[0]);
	close(l->wake[1]);
	for (i = 0; i < l->nsubs; i++)
		free(l->subs[i].channel);
	for (i = 0; i < l->nchannels; i++)
		free(l->channels[i]);
	free(l->subs);
	free(l->channels);
	free(l->conninfo);
	pthread_mutex_destroy(&l->mu);
	free(l);
	*lp = NULL;
}

uint64_t
db_listener_subscribe(struct db_listener *l, const char *channel,
	db_notify_fn *fn, void *ctx)
{
	uint64_t id;
	size_t i;
	bool known = false;

	pthread_mutex_lock(&l->mu);
	id = l->next_id++;
	l->subs = xrealloc(l->subs, (l->nsubs + 1) * sizeof(*l->subs));
	l->subs[l->nsubs].id = id;
	l->subs[l->nsubs].channel = xstrdup(channel);
	l->subs[l->nsubs].fn = fn;
	l->subs[l->nsubs].ctx = ctx;
	l->nsubs++;
	for (i = 0; i < l->nchannels; i++)
		if (strcmp(l->channels[i], channel) == 0)
			known = true;
	if (!known) {
		l->channels = xrealloc(l->channels, (l->nchannels + 1) * sizeof(char *));
		l->channels[l->nchannels++] = xstrdup(channel);
	}
	pthread_mutex_unlock(&l->mu);
	if (!known)
		(void)write(l->wake[1], "x", 1);
	return id;
}

void
db_listener_unsubscribe(struct db_listener *l, uint64_t id)
{
	size_t i;

	pthread_mutex_lock(&l->mu);
	for (i = 0; i < l->nsubs; i++) {
		if (l->subs[i].id == id) {
			free(l->subs[i].channel);
			l->subs[i] = l->subs[l->nsubs - 1];
			l->nsubs--;
			break;
		}
	}
	pthread_mutex_unlock(&l->mu);
}
