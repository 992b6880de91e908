/* Connection pool and query helpers. Connections are created lazily up to
 * the pool size; a thread borrows one only for the duration of a
 * transaction or a statement. */
#include "config.h"

#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"
#include "db/db.h"

struct db_pool {
	char *conninfo;
	unsigned size;
	unsigned created;	/* connections that exist (idle + borrowed) */
	PGconn **idle;
	unsigned nidle;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

static __thread char last_sqlstate[6];

PGconn *
db_connect(const char *conninfo)
{
	/* The conninfo string is expanded first; the keywords after it
	 * override, so a dead server cannot hang a connect forever. */
	static const char *const keys[] = { "dbname", "connect_timeout", NULL };
	const char *values[] = { conninfo, "10", NULL };

	return PQconnectdbParams(keys, values, 1);
}

static PGconn *
connect_one(const char *conninfo, const char **error_r)
{
	PGconn *c = db_connect(conninfo);

	if (PQstatus(c) != CONNECTION_OK) {
		/* The libpq message may contain the conninfo host but never a
		 * password unless one was put in the conninfo string. */
		*error_r = ms_err("connecting to database: %s", PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	/* Quiet NOTICEs (e.g. "relation already exists, skipping"). */
	PQclear(PQexec(c, "SET client_min_messages TO warning"));
	return c;
}

struct db_pool *
db_pool_create(const char *conninfo, unsigned size, const char **error_r)
{
	struct db_pool *p;
	PGconn *c;

	if (size == 0)
		size = 1;
	c = connect_one(conninfo, error_r);
	if (c == NULL)
		return NULL;
	p = xcalloc(1, sizeof(*p));
	p->conninfo = xstrdup(conninfo);
	p->size = size;
	p->idle = xcalloc(size, sizeof(PGconn *));
	p->idle[p->nidle++] = c;
	p->created = 1;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	return p;
}

void
db_pool_destroy(struct db_pool **pp)
{
	struct db_pool *p = *pp;
	unsigned i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nidle; i++)
		PQfinish(p->idle[i]);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->idle);
	free(p->conninfo);
	free(p);
	*pp = NULL;
}

const char *
db_pool_conninfo(const struct db_pool *p)
{
	return p->conninfo;
}

PGconn *
db_get(struct db_pool *p, const char **error_r)
{
	PGconn *c;

	pthread_mutex_lock(&p->mu);
	while (p->nidle == 0 && p->created >= p->size)
		pthread_cond_wait(&p->cv, &p->mu);
	if (p->nidle > 0) {
		c = p->idle[--p->nidle];
		pthread_mutex_unlock(&p->mu);
		/* An idle connection whose socket is readable has been closed by
		 * the server (restart, idle timeout, pg_terminate_backend) or
		 * has a notice pending: consuming the input makes PQstatus tell
		 * which. A server that ends a connection sends its FATAL
		 * message and then closes: the first read takes the message,
		 * a second one sees the end of the stream. */
		{
			struct pollfd pfd = { .fd = PQsocket(c), .events = POLLIN };
			int i;

			for (i = 0; i < 4 && pfd.fd >= 0 && poll(&pfd, 1, 0) > 0; i++)
				if (!PQconsumeInput(c))
					break;
		}
		if (PQstatus(c) != CONNECTION_OK) {
			PQreset(c);
			if (PQstatus(c) != CONNECTION_OK) {
				*error_r = ms_err("database connection lost: %s",
					PQerrorMessage(c));
				db_put(p, c);
				return NULL;
			}
		}
		return c;
	}
	p->created++;
	pthread_mutex_unlock(&p->mu);
	c = connect_one(p->conninfo, error_r);
	if (c == NULL) {
		pthread_mutex_lock(&p->mu);
		p->created--;
		pthread_cond_signal(&p->cv);
		pthread_mutex_unlock(&p->mu);
	}
	return c;
}

void
db_put(struct db_pool *p, PGconn *c)
{
	if (c == NULL)
		return;
	/* A connection left inside a transaction (a bug or an error path that
	 * forgot) is rolled back so the next borrower starts clean. */
	if (PQtransactionStatus(c) != PQTRANS_IDLE &&
	    PQstatus(c) == CONNECTION_OK)
		PQclear(PQexec(c, "ROLLBACK"));
	pthread_mutex_lock(&p->mu);
	p->idle[p->nidle++] = c;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

PGresult *
db_check_result(PGconn *conn, PGresult *res, const char *sql, const char **error_r)
{
	ExecStatusType st = PQresultStatus(res);
	const char *state;

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		last_sqlstate[0] = '\0';
		return res;
	}
	state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	(void)ms_strlcpy(last_sqlstate, state ? state : "", sizeof(last_sqlstate));
	*error_r = ms_err("database: %s", res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
	log_debug(NULL, "ev=sql-error sqlstate=%s sql=%s", lq(last_sqlstate), lq(sql));
	PQclear(res);
	return NULL;
}

PGresult *
db_exec(PGconn *conn, const char *sql, int n, const char *const *params,
	const char **error_r)
{
	PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);

	return db_check_result(conn, res, sql, error_r);
}

PGresult *
db_exec_bin(PGconn *conn, const char *sql, int n, const char *const *values,
	const int *lengths, const int *formats, const char **error_r)
{
	PGresult *res = PQexecParams(conn, sql, n, NULL, values, lengths, formats, 0);

	return db_check_result(conn, res, sql, error_r);
}

PGresult *
db_execv(PGconn *conn, const char **error_r, const char *sql, int n, ...)
{
	const char *params[32];
	va_list ap;
	int i;

	if (n > 32)
		ms_panic("db_execv: %d parameters, at most 32", n);
	va_start(ap, n);
	for (i = 0; i < n; i++)
		params[i] = va_arg(ap, const char *);
	va_end(ap);
	return db_exec(conn, sql, n, params, error_r);
}

int
db_cmd(PGconn *conn, const char **error_r, const char *sql, int n, ...)
{
	const char *params[32];
	PGresult *res;
	va_list ap;
	int i;

	if (n > 32)
		ms_panic("db_cmd: %d parameters, at most 32", n);
	va_start(ap, n);
	for (i = 0; i < n; i++)
		params[i] = va_arg(ap, const char *);
	va_end(ap);
	res = db_exec(conn, sql, n, params, error_r);
	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

const char *
db_last_sqlstate(void)
{
	return last_sqlstate;
}

void
db_text_array(struct buf *out, const char *const *v, size_t n)
{
	size_t i;
	const char *p;

	buf_putc(out, '{');
	for (i = 0; i < n; i++) {
		if (i > 0)
			buf_putc(out, ',');
		buf_putc(out, '"');
		for (p = v[i]; *p; p++) {
			if (*p == '"' || *p == '\\')
				buf_putc(out, '\\');
			buf_putc(out, *p);
		}
		buf_putc(out, '"');
	}
	buf_putc(out, '}');
}

void
db_i64_array(struct buf *out, const int64_t *v, size_t n)
{
	size_t i;

	buf_putc(out, '{');
	for (i = 0; i < n; i++)
		buf_printf(out, i ? ",%lld" : "%lld", (long long)v[i]);
	buf_putc(out, '}');
}

const char *
db_i64(int64_t v)
{
	static __thread char ring[32][24];
	static __thread unsigned idx;
	char *p = ring[idx++ % 32];

	(void)snprintf(p, sizeof(ring[0]), "%lld", (long long)v);
	return p;
}

int64_t
db_get_i64(const PGresult *res, int row, int col)
{
	const char *s;
	uint64_t v = 0, lim;
	bool neg;

	if (PQgetisnull(res, row, col))
		return 0;
	/* By hand: strtoll's locale handling was a tenth of the CPU of
	 * reading large results (FETCH 1:* FLAGS). The text form of an
	 * integer column is [-]digits; anything else is 0, as before. */
	s = PQgetvalue(res, row, col);
	neg = *s == '-';
	if (neg)
		s++;
	if (*s == '\0')
		return 0;
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; *s != '\0'; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (d > 9 || v > (lim - d) / 10)
			return 0;
		v = v * 10 + d;
	}
	return neg ? (int64_t)(0 - v) : (int64_t)v;
}

bool
db_get_bool(const PGresult *res, int row, int col)
{
	return !PQgetisnull(res, row, col) && PQgetvalue(res, row, col)[0] == 't';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
db_get_bytea(const PGresult *res, int row, int col, struct buf *out)
{
	const char *s = PQgetvalue(res, row, col);
	size_t n = (size_t)PQgetlength(res, row, col), i;

	if (PQgetisnull(res, row, col))
		return 0;
	if (PQfformat(res, col) == 1) {
		buf_append(out, s, n);
		return 0;
	}
	if (n < 2 || s[0] != '\\' || s[1] != 'x' || n % 2 != 0)
		return -1;
	buf_reserve(out, (n - 2) / 2);
	for (i = 2; i < n; i += 2) {
		int h = hexval(s[i]), l = hexval(s[i + 1]);
		if (h < 0 || l < 0)
			return -1;
		buf_putc(out, (char)(h << 4 | l));
	}
	return 0;
}

static bool
retryable(const char *state)
{
	return strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0;
}

/* COMMIT and report whether it happened: 0 committed, -1 rolled back
 * (e.g. serialization failure, or the transaction had already failed),
 * -2 unknown (the connection broke: the server may have committed). */
static int
commit(PGconn *c, const char **error_r)
{
	PGresult *res;
	int rc;

	if (PQtransactionStatus(c) != PQTRANS_INTRANS) {
		/* A failed statement aborted the transaction: COMMIT would
		 * only roll back. */
		*error_r = "transaction aborted";
		return -1;
	}
	res = PQexec(c, "COMMIT");
	if (res == NULL || PQstatus(c) != CONNECTION_OK) {
		*error_r = ms_err("database connection lost during COMMIT: %s", PQerrorMessage(c));
		PQclear(res);
		last_sqlstate[0] = '\0';
		return -2;
	}
	if (PQresultStatus(res) == PGRES_COMMAND_OK && strcmp(PQcmdStatus(res), "COMMIT") == 0) {
		PQclear(res);
		last_sqlstate[0] = '\0';
		return 0;
	}
	rc = -1;
	(void)ms_strlcpy(last_sqlstate, PQresultErrorField(res, PG_DIAG_SQLSTATE) ?
		PQresultErrorField(res, PG_DIAG_SQLSTATE) : "", sizeof(last_sqlstate));
	*error_r = ms_err("database: COMMIT: %s", PQresultErrorMessage(res)[0] ?
		PQresultErrorMessage(res) : PQcmdStatus(res));
	PQclear(res);
	return rc;
}

int
db_tx(struct db_pool *pool, db_tx_fn *fn, void *ctx, const char **error_r)
{
	const char *err = NULL;
	PGconn *c;
	int attempt, rc = -1;

	c = db_get(pool, error_r);
	if (c == NULL)
		return -1;
	for (attempt = 0; attempt < 10; attempt++) {
		if (db_cmd(c, &err, "BEGIN", 0) < 0) {
			/* Nothing ran yet: a broken connection can be reset and
			 * the transaction tried again. */
			if (PQstatus(c) != CONNECTION_OK && attempt == 0) {
				PQreset(c);
				if (PQstatus(c) == CONNECTION_OK)
					continue;
			}
			break;
		}
		if (fn(c, ctx, &err) == 0) {
			rc = commit(c, &err);
			if (rc == 0 || rc == -2)
				break;
		} else {
			rc = -1;
			/* fn's failure may have been a serialization failure. */
			PQclear(PQexec(c, "ROLLBACK"));
		}
		if (!retryable(last_sqlstate))
			break;
		log_debug(NULL, "ev=tx-retry attempt=%d sqlstate=%s", attempt + 1,
			last_sqlstate);
		PQclear(PQexec(c, "ROLLBACK"));
		/* Random backoff of 1..(attempt+1)*10 ms against a livelock. */
		usleep((useconds_t)(1000 * (1 + ms_random_u64() % (10 * (unsigned)(attempt + 1)))));
	}
	if (rc != 0 && PQstatus(c) == CONNECTION_OK &&
	    PQtransactionStatus(c) != PQTRANS_IDLE)
		PQclear(PQexec(c, "ROLLBACK"));
	db_put(pool, c);
	if (rc != 0)
		*error_r = err ? err : "database transaction failed";
	return rc == 0 ? 0 : rc;
}
