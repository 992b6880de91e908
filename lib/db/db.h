/* PostgreSQL access: a thread-safe connection pool, parameterized query
 * helpers, a transaction helper that retries serialization failures and
 * deadlocks, schema migrations, and a LISTEN/NOTIFY listener thread.
 * No SQL text is ever built from client data: values go in as parameters. */
#ifndef MS_DB_H
#define MS_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db_pool;

/* Connect with a 10 second connect timeout added to conninfo. The caller
 * checks PQstatus and PQfinish()es the result. */
PGconn *db_connect(const char *conninfo);

/* Connect up to size connections lazily (the first one now, to fail early).
 * Returns the pool or NULL with *error_r set. */
struct db_pool *db_pool_create(const char *conninfo, unsigned size,
	const char **error_r);
void db_pool_destroy(struct db_pool **pool);
const char *db_pool_conninfo(const struct db_pool *pool);

/* Borrow a connection, waiting while all are in use. A broken connection is
 * reset on return. Returns NULL with *error_r when connecting fails. */
PGconn *db_get(struct db_pool *pool, const char **error_r);
void db_put(struct db_pool *pool, PGconn *conn);

/* Run sql with n text parameters (NULL entries are SQL NULL). Returns the
 * result for PGRES_COMMAND_OK / PGRES_TUPLES_OK (caller PQclear()s it), or
 * NULL with *error_r set (the SQLSTATE is kept for db_last_sqlstate). */
PGresult *db_exec(PGconn *conn, const char *sql, int n,
	const char *const *params, const char **error_r);
/* Same, with parameters as varargs: n const char * values. */
PGresult *db_execv(PGconn *conn, const char **error_r, const char *sql, int n, ...);
/* Run sql with binary-capable parameters (lengths/formats as in PQexecParams). */
PGresult *db_exec_bin(PGconn *conn, const char *sql, int n,
	const char *const *values, const int *lengths, const int *formats,
	const char **error_r);
/* Same as db_exec_bin with a named prepared statement: prepared on the
 * connection at first use (the name must always go with the same sql),
 * then only executed. */
PGresult *db_exec_prepared(PGconn *conn, const char *name, const char *sql,
	int n, const char *const *values, const int *lengths, const int *formats,
	const char **error_r);
/* db_execv as a prepared statement named after a hash of sql: the server
 * parses and plans it once per connection instead of on every call. For
 * the statements of hot paths (delivery, lookups, submission); sql must be
 * one statement with $n parameters. */
PGresult *db_execpv(PGconn *conn, const char **error_r, const char *sql, int n, ...);
/* Check a result as db_exec does: returns res for success, else PQclear()s
 * it, sets *error_r and the SQLSTATE and returns NULL. */
PGresult *db_check_result(PGconn *conn, PGresult *res, const char *sql,
	const char **error_r);
/* Run a statement whose result is not needed. Returns 0 or -1. */
int db_cmd(PGconn *conn, const char **error_r, const char *sql, int n, ...);
/* SQLSTATE of the last failed db_exec* in this thread ("" if none). */
const char *db_last_sqlstate(void);

/* PostgreSQL array literals for parameters ($1::text[], $1::bigint[]):
 * appended to out. Elements are quoted and escaped, so any text is safe. */
void db_text_array(struct buf *out, const char *const *v, size_t n);
void db_i64_array(struct buf *out, const int64_t *v, size_t n);

/* Decimal text for an integer parameter; storage is per thread and valid
 * for the next 31 calls in the same thread. */
const char *db_i64(int64_t v);
/* Parse an integer column value; returns 0 for NULL or garbage. */
int64_t db_get_i64(const PGresult *res, int row, int col);
bool db_get_bool(const PGresult *res, int row, int col);
/* Decode a bytea column (text format, hex) into out; returns 0 or -1. */
struct buf;
int db_get_bytea(const PGresult *res, int row, int col, struct buf *out);

/* Transaction body: return 0 to commit, -1 to roll back (with *error_r). */
typedef int db_tx_fn(PGconn *conn, void *ctx, const char **error_r);

/* Run fn inside BEGIN .. COMMIT on a pooled connection, retrying the whole
 * transaction (up to 10 times, with a short random backoff) when it fails
 * with a serialization failure (40001) or deadlock (40P01), including at
 * COMMIT. fn must therefore be safe to run again. Returns 0 when committed,
 * -1 with *error_r when it was not, and -2 with *error_r when the
 * connection broke during COMMIT so the outcome is unknown (the caller must
 * then keep whatever the rows may refer to, e.g. message files). */
int db_tx(struct db_pool *pool, db_tx_fn *fn, void *ctx, const char **error_r);

/* Apply the migrations sql/NNN_name.sql in sqldir that are not yet recorded
 * in schema_migrations, in order, each in its own transaction, under a
 * PostgreSQL advisory lock so concurrent starts do not race. *applied_r (may
 * be NULL) gets the number applied. Returns 0 or -1. */
int db_migrate(PGconn *conn, const char *sqldir, unsigned *applied_r,
	const char **error_r);
/* db_migrate on a pooled connection, for daemons at start-up (DESIGN.md:
 * migrations run on "mailstead migrate" and on daemon start). */
int db_migrate_pool(struct db_pool *pool, const char *sqldir,
	const char **error_r);

/* Highest applied migration number, 0 if none; -1 on error. */
int db_schema_version(PGconn *conn, const char **error_r);

/* LISTEN/NOTIFY fan-out. One listener thread per process holds its own
 * connection, LISTENs on the channels subscribed to, and calls the
 * subscribers' callbacks from that thread (callbacks must be quick and
 * must not call back into the listener). After a lost connection it
 * reconnects and calls every callback with payload NULL, meaning "events
 * may have been missed: recheck everything". */
struct db_listener;
typedef void db_notify_fn(void *ctx, const char *channel, const char *payload);

struct db_listener *db_listener_start(const char *conninfo, const char **error_r);
void db_listener_stop(struct db_listener **l);
/* Subscribe to channel; returns a subscription id > 0. */
uint64_t db_listener_subscribe(struct db_listener *l, const char *channel,
	db_notify_fn *fn, void *ctx);
void db_listener_unsubscribe(struct db_listener *l, uint64_t id);

#endif
