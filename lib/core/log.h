/* logfmt logging: one line per event, `key=value` pairs, keyed by a
 * connection id. Values that may contain spaces or quotes go through lq().
 * Never log passwords, tokens or message bodies. */
#ifndef MS_LOG_H
#define MS_LOG_H

#include <stddef.h>

enum ms_log_level {
	MS_LOG_DEBUG,
	MS_LOG_INFO,
	MS_LOG_WARN,
	MS_LOG_ERROR,
};

/* Set the program name, minimum level and output fd (default stderr, info). */
void log_init(const char *prog, enum ms_log_level level, int fd);
void log_set_level(enum ms_log_level level);
enum ms_log_level log_get_level(void);
/* Parse "debug", "info", "warn", "error". Returns 0 or -1. */
int log_parse_level(const char *s, enum ms_log_level *out);
/* The name of a level ("debug" ... "error"; "?" for other values). */
const char *log_level_name(enum ms_log_level level);

/* Write one line: ts, level, prog, cid (when non-NULL), then the formatted
 * rest, which should be logfmt pairs like "ev=rcpt rcpt=%s". The line is
 * written with a single write() so concurrent threads do not interleave. */
void log_msg(enum ms_log_level level, const char *cid, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_debug(cid, ...) \
	do { if (log_get_level() <= MS_LOG_DEBUG) log_msg(MS_LOG_DEBUG, cid, __VA_ARGS__); } while (0)
#define log_info(cid, ...) log_msg(MS_LOG_INFO, cid, __VA_ARGS__)
#define log_warn(cid, ...) log_msg(MS_LOG_WARN, cid, __VA_ARGS__)
#define log_error(cid, ...) log_msg(MS_LOG_ERROR, cid, __VA_ARGS__)

/* Quote a value for logfmt when needed (spaces, quotes, '=', control or
 * non-ASCII bytes are escaped). Returns per-thread storage valid for the
 * next 15 calls in the same thread; long values are cut at 300 bytes. */
const char *lq(const char *s);
const char *lqn(const char *s, size_t n);

/* A new connection id: 12 hex digits, unique within the process and
 * unlikely to repeat across processes. Writes into out (>= 13 bytes). */
void log_new_cid(char *out, size_t outsize);

#endif
