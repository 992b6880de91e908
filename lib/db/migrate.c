/* Schema migrations: sql/NNN_name.sql files applied in numeric order, each
 * in its own transaction, recorded in schema_migrations. A session-level
 * advisory lock serializes concurrent starts (several daemons, several
 * hosts) so each file is applied exactly once. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"
#include "db/db.h"

/* Arbitrary constant identifying "mailstead migrations" among advisory locks. */
#define MIGRATE_LOCK_KEY "7220591846113"

struct migration {
	unsigned num;
	char *name;	/* file name */
};

static int
cmp_migration(const void *a, const void *b)
{
	const struct migration *x = a, *y = b;

	return x->num < y->num ? -1 : x->num > y->num;
}

/* List NNN_*.sql files. Returns 0 or -1. */
static int
list_migrations(const char *dir, struct migration **out, size_t *n_r,
	const char **error_r)
{
	struct migration *v = NULL;
	struct dirent *de;
	size_t n = 0, i;
	DIR *d = opendir(dir);

	if (d == NULL) {
		*error_r = ms_err("migrations directory %s: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		const char *nm = de->d_name;
		size_t len = strlen(nm), digits = strspn(nm, "0123456789");
		uint64_t num;

		if (len < 5 || strcmp(nm + len - 4, ".sql") != 0)
			continue;
		if (digits == 0 || nm[digits] != '_' ||
		    ms_parse_u64n(nm, digits, 1, 99999, &num) < 0) {
			*error_r = ms_err("%s/%s: migration files must be named NNN_name.sql", dir, nm);
			goto fail;
		}
		v = xrealloc(v, (n + 1) * sizeof(*v));
		v[n].num = (unsigned)num;
		v[n].name = xstrdup(nm);
		n++;
	}
	closedir(d);
	d = NULL;
	qsort(v, n, sizeof(*v), cmp_migration);
	for (i = 1; i < n; i++) {
		if (v[i].num == v[i - 1].num) {
			*error_r = ms_err("%s: two migrations numbered %u: %s and %s",
				dir, v[i].num, v[i - 1].name, v[i].name);
			goto fail;
		}
	}
	*out = v;
	*n_r = n;
	return 0;
fail:
	if (d != NULL)
		closedir(d);
	for (i = 0; i < n; i++)
		free(v[i].name);
	free(v);
	return -1;
}

static int
ensure_table(PGconn *c, const char **error_r)
{
	return db_cmd(c, error_r,
		"CREATE TABLE IF NOT EXISTS schema_migrations ("
		" version integer PRIMARY KEY,"
		" name text NOT NULL,"
		" applied timestamptz NOT NULL DEFAULT now())", 0);
}

int
db_schema_version(PGconn *c, const char **error_r)
{
	PGresult *res;
	int v;

	res = db_execv(c, error_r,
		"SELECT coalesce(max(version), 0) FROM schema_migrations", 0);
	if (res == NULL) {
		if (strcmp(db_last_sqlstate(), "42P01") == 0)
			return 0;	/* undefined table: nothing applied */
		return -1;
	}
	v = (int)db_get_i64(res, 0, 0);
	PQclear(res);
	return v;
}

static int
apply_one(PGconn *c, const char *dir, const struct migration *m,
	const char **error_r)
{
	struct buf path, sql;
	PGresult *res;
	int rc = -1;

	buf_init(&path);
	buf_init(&sql);
	buf_printf(&path, "%s/%s", dir, m->name);
	if (ms_read_file(path.data, &sql) < 0) {
		*error_r = ms_err("%s: %s", path.data, strerror(errno));
		goto out;
	}
	if (db_cmd(c, error_r, "BEGIN", 0) < 0)
		goto out;
	/* The file is our own trusted SQL; PQexec allows several statements
	 * (PQexecParams does not). No client data is involved. */
	res = PQexec(c, sql.data);
	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK) {
		*error_r = ms_err("%s: %s", m->name, PQresultErrorMessage(res));
		PQclear(res);
		PQclear(PQexec(c, "ROLLBACK"));
		goto out;
	}
	PQclear(res);
	if (db_cmd(c, error_r,
		    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
		    2, db_i64(m->num), m->name) < 0 ||
	    db_cmd(c, error_r, "COMMIT", 0) < 0) {
		PQclear(PQexec(c, "ROLLBACK"));
		goto out;
	}
	log_info(NULL, "ev=migration-applied version=%u file=%s", m->num, lq(m->name));
	rc = 0;
out:
	buf_free(&path);
	buf_free(&sql);
	return rc;
}

int
db_migrate(PGconn *c, const char *sqldir, unsigned *applied_r,
	const char **error_r)
{
	struct migration *ms = NULL;
	size_t n = 0, i;
	unsigned applied = 0;
	int current, rc = -1;

	if (list_migrations(sqldir, &ms, &n, error_r) < 0)
		return -1;
	if (db_cmd(c, error_r, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", 0) < 0)
		goto out;
	if (ensure_table(c, error_r) < 0)
		goto unlock;
	current = db_schema_version(c, error_r);
	if (current < 0)
		goto unlock;
	for (i = 0; i < n; i++) {
		PGresult *res;
		bool done;

		if (ms[i].num <= (unsigned)current) {
			/* Also catch a gap: an old number that was never applied. */
			res = db_execv(c, error_r,
				"SELECT 1 FROM schema_migrations WHERE version = $1",
				1, db_i64(ms[i].num));
			if (res == NULL)
				goto unlock;
			done = PQntuples(res) > 0;
			PQclear(res);
			if (done)
				continue;
		}
		if (apply_one(c, sqldir, &ms[i], error_r) < 0)
			goto unlock;
		applied++;
	}
	rc = 0;
unlock:
	{
		const char *e2;
		(void)db_cmd(c, &e2, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", 0);
	}
out:
	for (i = 0; i < n; i++)
		free(ms[i].name);
	free(ms);
	if (applied_r != NULL)
		*applied_r = applied;
	return rc;
}

int
db_migrate_pool(struct db_pool *pool, const char *sqldir, const char **error_r)
{
	PGconn *c = db_get(pool, error_r);
	int rc;

	if (c == NULL)
		return -1;
	rc = db_migrate(c, sqldir, NULL, error_r);
	db_put(pool, c);
	return rc;
}
