/* Log levels set at run time: rows of table log_levels (program -> level,
 * program "" being the default of all programs) override [general]
 * loglevel of the config file. Each long-running process applies them
 * from a thread that re-reads the table every LOGLEVEL_POLL_MS, so a
 * change takes effect within seconds without a restart, at the cost of
 * one small query per process per period (none per request). */
#ifndef MS_DB_LOGLEVEL_H
#define MS_DB_LOGLEVEL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/log.h"
#include "db/db.h"

#define LOGLEVEL_POLL_MS 2000

/* The programs that have a level of their own, NULL-terminated; "" (the
 * default) is not among them. */
extern const char *const loglevel_programs[];

/* 0 when program is "" or one of loglevel_programs, else -1 with
 * *error_r naming the valid ones. */
int loglevel_check_program(const char *program, const char **error_r);
/* Parse a level name ("debug", "info", "warn", "error"); 0 or -1 with
 * *error_r naming the valid ones. */
int loglevel_check_level(const char *level, enum ms_log_level *out, const char **error_r);
/* The stored levels: rows[i] of *n_r, ordered by program ("" first).
 * The caller frees them with loglevel_rows_free. Returns 0 or -1. */
struct loglevel_row {
	char *program;
	enum ms_log_level level;
};
int loglevel_list(PGconn *conn, struct loglevel_row **rows_r, size_t *n_r,
	const char **error_r);
void loglevel_rows_free(struct loglevel_row **rows, size_t n);

/* The level in effect for program: its own row, else the "" row, else
 * conf_level (the config file's). */
enum ms_log_level loglevel_effective(const struct loglevel_row *rows, size_t n,
	const char *program, enum ms_log_level conf_level);

/* Store (insert or replace) a level after checking program and level.
 * Returns 0 or -1 with *error_r (a user error when the check failed). */
int loglevel_set(PGconn *conn, const char *program, const char *level,
	const char **error_r);
/* Remove program's level. Returns 1 removed, 0 there was none, -1 error. */
int loglevel_remove(PGconn *conn, const char *program, const char **error_r);

/* The config file's level: [general] loglevel parsed, info when unset
 * or unknown (conf_load has checked it already). */
enum ms_log_level loglevel_conf_level(const char *conf_loglevel);

/* For a process hosting several programs (programs: names separated by
 * commas, as "admin,account,webapi" in mailstead localserve): the most
 * verbose of their effective levels, since the process has one level. */
enum ms_log_level loglevel_effective_any(const struct loglevel_row *rows, size_t n,
	const char *programs, enum ms_log_level conf_level);

/* Apply the stored level of program to this process once (at start), then
 * every LOGLEVEL_POLL_MS from a thread using a pooled connection (one such
 * thread per process). program may name several, separated by commas (see
 * loglevel_effective_any). conf_level is what the config file says.
 * Returns 0, or -1 with *error_r when the thread could not be started. */
int loglevel_watch_start(struct db_pool *pool, const char *program,
	enum ms_log_level conf_level, const char **error_r);
/* Stop and join that thread: before the pool is destroyed. No-op when
 * none runs. */
void loglevel_watch_stop(void);

/* Apply the level stored for program itself (not the default) once, for
 * short-lived processes such as the CLI; errors (e.g. no table before the
 * first migration) are ignored and the current level stays. */
void loglevel_apply_once(PGconn *conn, const char *program);

#endif
