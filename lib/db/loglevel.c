/* Log levels stored in the database (table log_levels, sql/013) and their
 * periodic application by running processes. Polling fits every process
 * the same way (daemons, FastCGI programs): each has a pool but not every
 * one has a LISTEN connection, and a query every two seconds per process
 * costs nothing next to the requests it serves. */
#include "config.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"
#include "db/db.h"
#include "db/loglevel.h"

const char *const loglevel_programs[] = {
	"smtpd", "imapd", "queued", "admin", "account", "webmail", "webapi", "cli", NULL,
};

int
loglevel_check_program(const char *program, const char **error_r)
{
	size_t i;

	if (program[0] == '\0')
		return 0;
	for (i = 0; loglevel_programs[i] != NULL; i++)
		if (strcmp(program, loglevel_programs[i]) == 0)
			return 0;
	*error_r = ms_err("unknown program %s: use one of smtpd, imapd, queued, admin, account, "
		"webmail, webapi, cli, or \"\" for the default", lq(program));
	return -1;
}

int
loglevel_check_level(const char *level, enum ms_log_level *out, const char **error_r)
{
	/* Exact lower-case names only: what is stored is what is shown. */
	if (log_parse_level(level, out) < 0 || strcmp(level, log_level_name(*out)) != 0) {
		*error_r = ms_err("unknown log level %s: use debug, info, warn or error", lq(level));
		return -1;
	}
	return 0;
}

int
loglevel_list(PGconn *conn, struct loglevel_row **rows_r, size_t *n_r, const char **error_r)
{
	struct loglevel_row *rows;
	PGresult *res;
	size_t n = 0;
	int i;

	res = db_exec_prepared(conn, "loglevel_list",
		"SELECT program, level FROM log_levels ORDER BY program", 0, NULL, NULL, NULL,
		error_r);
	if (res == NULL)
		return -1;
	rows = xcalloc((size_t)PQntuples(res) + 1, sizeof(*rows));
	for (i = 0; i < PQntuples(res); i++) {
		enum ms_log_level l;

		/* A row the check constraint let in but this version does not
		 * know is skipped rather than guessed at. */
		if (log_parse_level(PQgetvalue(res, i, 1), &l) < 0)
			continue;
		rows[n].program = xstrdup(PQgetvalue(res, i, 0));
		rows[n].level = l;
		n++;
	}
	PQclear(res);
	*rows_r = rows;
	*n_r = n;
	return 0;
}

void
loglevel_rows_free(struct loglevel_row **rows, size_t n)
{
	size_t i;

	if (*rows == NULL)
		return;
	for (i = 0; i < n; i++)
		free((*rows)[i].program);
	free(*rows);
	*rows = NULL;
}

enum ms_log_level
loglevel_effective(const struct loglevel_row *rows, size_t n, const char *program,
	enum ms_log_level conf_level)
{
	enum ms_log_level l = conf_level;
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(rows[i].program, program) == 0)
			return rows[i].level;
		if (rows[i].program[0] == '\0')
			l = rows[i].level;
	}
	return l;
}

enum ms_log_level
loglevel_effective_any(const struct loglevel_row *rows, size_t n, const char *programs,
	enum ms_log_level conf_level)
{
	enum ms_log_level best = MS_LOG_ERROR, l;
	char name[32];
	const char *p = programs;

	for (;;) {
		size_t len = strcspn(p, ",");

		if (len < sizeof(name)) {
			memcpy(name, p, len);
			name[len] = '\0';
			l = loglevel_effective(rows, n, name, conf_level);
			if (l < best)
				best = l;
		}
		if (p[len] == '\0')
			break;
		p += len + 1;
	}
	return best;
}

int
loglevel_set(PGconn *conn, const char *program, const char *level, const char **error_r)
{
	enum ms_log_level l;

	if (loglevel_check_program(program, error_r) < 0 ||
	    loglevel_check_level(level, &l, error_r) < 0)
		return -1;
	return db_cmd(conn, error_r,
		"INSERT INTO log_levels (program, level) VALUES ($1, $2)"
		" ON CONFLICT (program) DO UPDATE SET level = EXCLUDED.level, updated = now()",
		2, program, level);
}

int
loglevel_remove(PGconn *conn, const char *program, const char **error_r)
{
	PGresult *res;
	int removed;

	if (loglevel_check_program(program, error_r) < 0)
		return -1;
	res = db_execv(conn, error_r, "DELETE FROM log_levels WHERE program = $1", 1, program);
	if (res == NULL)
		return -1;
	removed = strcmp(PQcmdTuples(res), "0") != 0;
	PQclear(res);
	return removed;
}

enum ms_log_level
loglevel_conf_level(const char *conf_loglevel)
{
	enum ms_log_level l;

	if (conf_loglevel == NULL || log_parse_level(conf_loglevel, &l) < 0)
		return MS_LOG_INFO;
	return l;
}

struct watch {
	struct db_pool *pool;
	char *program;
	enum ms_log_level conf_level;
	bool failing;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;	/* signalled by loglevel_watch_stop */
	bool stop;
};

/* The process's watcher (one per process), for loglevel_watch_stop. */
static struct watch *the_watch;

/* Read the table and set this process's level; log a change. */
static void
watch_apply(struct watch *w)
{
	struct loglevel_row *rows = NULL;
	enum ms_log_level old = log_get_level(), l;
	const char *error;
	PGconn *c;
	size_t n = 0;
	int rc;

	c = db_get(w->pool, &error);
	if (c == NULL) {
		rc = -1;
	} else {
		rc = loglevel_list(c, &rows, &n, &error);
		db_put(w->pool, c);
	}
	if (rc < 0) {
		/* Keep the current level; say so once per outage. */
		if (!w->failing)
			log_warn(NULL, "ev=loglevel-read-failed error=%s", lq(error));
		w->failing = true;
		return;
	}
	w->failing = false;
	l = loglevel_effective_any(rows, n, w->program, w->conf_level);
	loglevel_rows_free(&rows, n);
	if (l == old)
		return;
	/* Logged at info where either level shows it. */
	if (l > MS_LOG_INFO)
		log_info(NULL, "ev=loglevel-changed from=%s to=%s", log_level_name(old),
			log_level_name(l));
	log_set_level(l);
	if (l <= MS_LOG_INFO)
		log_info(NULL, "ev=loglevel-changed from=%s to=%s", log_level_name(old),
			log_level_name(l));
}

static void *
watch_main(void *arg)
{
	struct watch *w = arg;
	bool stop = false;

	while (!stop) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += LOGLEVEL_POLL_MS / 1000;
		ts.tv_nsec += (LOGLEVEL_POLL_MS % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&w->mu);
		while (!w->stop && pthread_cond_timedwait(&w->cv, &w->mu, &ts) == 0)
			;
		stop = w->stop;
		pthread_mutex_unlock(&w->mu);
		if (!stop)
			watch_apply(w);
	}
	return NULL;
}

int
loglevel_watch_start(struct db_pool *pool, const char *program, enum ms_log_level conf_level,
	const char **error_r)
{
	struct watch *w;
	sigset_t all, old;
	int rc;

	if (the_watch != NULL) {
		*error_r = ms_err("the log level thread is already running");
		return -1;
	}
	w = xcalloc(1, sizeof(*w));
	w->pool = pool;
	w->program = xstrdup(program);
	w->conf_level = conf_level;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	watch_apply(w);
	/* The thread takes no signals: daemons wait for them elsewhere. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&w->thread, NULL, watch_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		*error_r = ms_err("cannot start the log level thread: %s", strerror(rc));
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->cv);
		free(w->program);
		free(w);
		return -1;
	}
	the_watch = w;
	return 0;
}

void
loglevel_watch_stop(void)
{
	struct watch *w = the_watch;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w->program);
	free(w);
	the_watch = NULL;
}

void
loglevel_apply_once(PGconn *conn, const char *program)
{
	struct loglevel_row *rows = NULL;
	const char *error;
	size_t n = 0, i;

	if (loglevel_list(conn, &rows, &n, &error) < 0)
		return;
	for (i = 0; i < n; i++) {
		if (strcmp(rows[i].program, program) == 0) {
			log_set_level(rows[i].level);
			log_debug(NULL, "ev=loglevel-applied program=%s level=%s", program,
				log_level_name(rows[i].level));
		}
	}
	loglevel_rows_free(&rows, n);
}
