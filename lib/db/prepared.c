/* Named prepared statements on any connection. Each connection remembers
 * which names it has prepared in libpq instance data attached with an
 * event procedure, so the set is dropped when the connection is reset
 * (the server forgets prepared statements with the session) or freed. */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-events.h>

#include "core/log.h"
#include "core/util.h"
#include "db/db.h"

struct prepared_name {
	struct prepared_name *next;
	char *name;
	char *sql;	/* db_execpv: the text the name was made from */
	uint64_t hash;	/* db_execpv: hash of sql */
};

static void
names_free(struct prepared_name *p)
{
	while (p != NULL) {
		struct prepared_name *next = p->next;

		free(p->name);
		free(p->sql);
		free(p);
		p = next;
	}
}

/* The event procedure; its address identifies our instance data. */
static int
prepared_event(PGEventId id, void *info, void *pass)
{
	(void)pass;
	if (id == PGEVT_CONNRESET) {
		PGconn *c = ((PGEventConnReset *)info)->conn;
		struct prepared_name *p = PQinstanceData(c, prepared_event);

		names_free(p);
		(void)PQsetInstanceData(c, prepared_event, NULL);
	} else if (id == PGEVT_CONNDESTROY) {
		PGconn *c = ((PGEventConnDestroy *)info)->conn;

		names_free(PQinstanceData(c, prepared_event));
	}
	return 1;
}

static bool
is_prepared(PGconn *c, const char *name)
{
	const struct prepared_name *p;

	for (p = PQinstanceData(c, prepared_event); p != NULL; p = p->next)
		if (strcmp(p->name, name) == 0)
			return true;
	return false;
}

/* Prepare sql as name on c and record it (with the text and hash for
 * db_execpv when hash != 0). Returns 0 or -1 with *error_r. */
static int
prepare(PGconn *c, const char *name, const char *sql, uint64_t hash, int n,
	const char **error_r)
{
	struct prepared_name *p;
	PGresult *res;

	/* Registering again returns 0 without harm; the data set below
	 * survives until the next reset. */
	(void)PQregisterEventProc(c, prepared_event, "mailstead-prepared", NULL);
	res = PQprepare(c, name, sql, n, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		*error_r = ms_err("database: preparing %s: %s", name,
			res ? PQresultErrorMessage(res) : PQerrorMessage(c));
		PQclear(res);
		return -1;
	}
	PQclear(res);
	p = xcalloc(1, sizeof(*p));
	p->name = xstrdup(name);
	if (hash != 0) {
		p->sql = xstrdup(sql);
		p->hash = hash;
	}
	p->next = PQinstanceData(c, prepared_event);
	if (PQsetInstanceData(c, prepared_event, p) == 0) {
		/* Not registered (cannot happen after the call above): keep
		 * no record, so the next call prepares under the same name
		 * and fails visibly rather than silently. */
		free(p->name);
		free(p->sql);
		free(p);
	}
	return 0;
}

PGresult *
db_exec_prepared(PGconn *c, const char *name, const char *sql, int n,
	const char *const *values, const int *lengths, const int *formats,
	const char **error_r)
{
	PGresult *res;

	if (!is_prepared(c, name) && prepare(c, name, sql, 0, n, error_r) < 0)
		return NULL;
	res = PQexecPrepared(c, name, n, values, lengths, formats, 0);
	return db_check_result(c, res, sql, error_r);
}

/* FNV-1a, 64 bits: names statements by their text. */
static uint64_t
sql_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

PGresult *
db_execpv(PGconn *c, const char **error_r, const char *sql, int n, ...)
{
	const char *params[32];
	const struct prepared_name *p;
	uint64_t h = sql_hash(sql) | 1;	/* never 0 */
	char name[24];
	PGresult *res;
	va_list ap;
	int i;

	if (n > 32)
		ms_panic("db_execpv: %d parameters, at most 32", n);
	va_start(ap, n);
	for (i = 0; i < n; i++)
		params[i] = va_arg(ap, const char *);
	va_end(ap);
	for (p = PQinstanceData(c, prepared_event); p != NULL; p = p->next)
		if (p->sql != NULL && p->hash == h)
			break;
	if (p != NULL && strcmp(p->sql, sql) != 0)
		/* Two texts with one hash: the later one is not prepared. */
		return db_exec(c, sql, n, params, error_r);
	(void)snprintf(name, sizeof(name), "h%016llx", (unsigned long long)h);
	if (p == NULL && prepare(c, name, sql, h, n, error_r) < 0)
		return NULL;
	res = PQexecPrepared(c, name, n, params, NULL, NULL, 0);
	return db_check_result(c, res, sql, error_r);
}
