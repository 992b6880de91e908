/* Named prepared statements on any connection. Each connection remembers
 * which names it has prepared in libpq instance data attached with an
 * event procedure, so the set is dropped when the connection is reset
 * (the server forgets prepared statements with the session) or freed. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <libpq-events.h>

#include "core/log.h"
#include "core/util.h"
#include "db/db.h"

struct prepared_name {
	struct prepared_name *next;
	char *name;
};

static void
names_free(struct prepared_name *p)
{
	while (p != NULL) {
		struct prepared_name *next = p->next;

		free(p->name);
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

static int
prepare(PGconn *c, const char *name, const char *sql, int n,
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
	p->next = PQinstanceData(c, prepared_event);
	if (PQsetInstanceData(c, prepared_event, p) == 0) {
		/* Not registered (cannot happen after the call above): keep
		 * no record, so the next call prepares under the same name
		 * and fails visibly rather than silently. */
		free(p->name);
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

	if (!is_prepared(c, name) && prepare(c, name, sql, n, error_r) < 0)
		return NULL;
	res = PQexecPrepared(c, name, n, values, lengths, formats, 0);
	return db_check_result(c, res, sql, error_r);
}
