/* Small helpers every module needs: checked allocation, bounded copies,
 * range-checked number parsing, random tokens, time, base64/hex, and
 * per-thread error strings for the error_r convention. */
#ifndef MS_UTIL_H
#define MS_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"

#define MS_NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* A bug: log the message to stderr and abort with a core. */
void ms_panic(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
/* A fatal configuration or start-up error: print and exit(1). */
void ms_fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

/* Allocation that never returns NULL (aborts instead). */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Bounded copy: copies at most size-1 bytes and NUL-terminates.
 * Returns strlen(src); a value >= size means it was truncated. */
size_t ms_strlcpy(char *dst, const char *src, size_t size);

/* Format an error message into per-thread storage and return it, for use
 * as `*error_r = ms_err("...")`. The string stays valid until the same
 * thread has made 8 more calls. */
const char *ms_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parse a decimal unsigned integer in [min, max]. The whole string must be
 * digits. Returns 0 and sets *out, or -1. */
int ms_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* Same for a byte range that need not be NUL-terminated. */
int ms_parse_u64n(const char *s, size_t n, uint64_t min, uint64_t max,
	uint64_t *out);
/* Parse a size with an optional k/m/g suffix (powers of 1024). */
int ms_parse_size(const char *s, uint64_t *out);
/* Parse a duration: plain seconds, or a number with s/m/h/d suffix. */
int ms_parse_duration(const char *s, uint64_t *seconds_out);
/* Parse "yes/no/true/false/1/0/on/off". */
int ms_parse_bool(const char *s, bool *out);

/* Fill p with n cryptographically random bytes (getrandom); aborts on
 * failure since nothing safe can be done without randomness. */
void ms_random(void *p, size_t n);
/* A random token of nbytes random bytes, base64url-encoded without
 * padding, appended to out. */
void ms_random_token(struct buf *out, size_t nbytes);
uint64_t ms_random_u64(void);

/* Wall clock in seconds and milliseconds since the epoch. */
int64_t ms_now(void);
int64_t ms_now_ms(void);
/* Monotonic milliseconds, for timeouts. */
int64_t ms_mono_ms(void);
/* RFC 5322 date-time of t in local time, e.g. "Mon, 23 Nov 2026 10:00:00 +0100". */
void ms_rfc5322_date(struct buf *out, time_t t);

/* Base64 (RFC 4648 section 4). Decoding is strict: no whitespace, correct
 * padding. Returns 0 or -1 on bad input. */
void ms_base64_encode(struct buf *out, const void *p, size_t n);
int ms_base64_decode(struct buf *out, const char *s, size_t n);
/* base64url without padding (section 5). */
void ms_base64url_encode(struct buf *out, const void *p, size_t n);
void ms_hex_encode(struct buf *out, const void *p, size_t n);

/* Append code point cp as UTF-8; surrogates, NUL and values past U+10FFFF
 * become U+FFFD. */
void ms_utf8_put(struct buf *out, uint32_t cp);

/* ASCII-only case folding helpers (locale-independent). */
static inline char
ms_tolower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}
static inline char
ms_toupper(char c)
{
	return (c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
}
void ms_str_lower(char *s);
/* Case-insensitive ASCII comparison of n bytes / of strings. */
int ms_strncaseeq(const char *a, const char *b, size_t n);
int ms_strcaseeq(const char *a, const char *b);
/* Does s start with prefix, ignoring ASCII case? */
bool ms_startswith_ci(const char *s, const char *prefix);

/* Write all of p to fd, retrying on EINTR and short writes. */
int ms_write_all(int fd, const void *p, size_t n);
/* Read a whole file into out. Returns 0 or -1 with errno set. */
int ms_read_file(const char *path, struct buf *out);
/* mkdir -p with mode. Returns 0 or -1 with errno set. */
int ms_mkdir_p(const char *path, unsigned int mode);
/* fsync a directory by path. */
int ms_fsync_dir(const char *path);

#endif
