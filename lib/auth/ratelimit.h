/* In-memory, thread-safe limiters keyed by IP address class, as in the
 * reference server: an address counts for itself and its surroundings,
 * IPv4 at /32, /26 and /21, IPv6 at /64, /48 and /32 (classes 0, 1, 2),
 * each class with its own limit. Rate limiters use fixed windows (all
 * counts of a window are dropped when the next window starts); the
 * concurrency limiter counts what is held until released. Per process:
 * smtpd and imapd each keep their own. */
#ifndef MS_RATELIMIT_H
#define MS_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RATELIMIT_CLASSES 3

/* The masked forms of ip ("192.0.2.1", "2001:db8::1"; an IPv4-mapped IPv6
 * address counts as IPv4) for the three classes, as 16 bytes (IPv4 as
 * ::ffff:a.b.c.d). Returns 0, or -1 when ip does not parse: then all
 * masks are zero, so such peers (e.g. unix sockets) share one key. */
int ratelimit_ip_masks(const char *ip, unsigned char masked[RATELIMIT_CLASSES][16]);

/* ---- rate limiter ---- */

struct ratelimit_window {
	int64_t seconds;	/* window length, > 0 */
	uint64_t limits[RATELIMIT_CLASSES];	/* per class; 0 means no limit */
};

struct ratelimit;

/* A limiter with n windows (copied). max_keys bounds the counters kept
 * per window (0: 100000); when a window is full, one of the least-used
 * counters of a small random sample is dropped, so heavy hitters stay
 * counted while a flood of distinct addresses cannot grow memory. */
struct ratelimit *ratelimit_new(const struct ratelimit_window *windows, size_t n,
	size_t max_keys);
void ratelimit_free(struct ratelimit **rl);

/* Failed authentications, shared by SMTP, IMAP and the web logins
 * (FEATURES.md section 5): 10/30/90 per minute and 50/150/450 per day. */
struct ratelimit *ratelimit_new_auth_failures(void);
/* New connections (FEATURES.md section 2): 300/900/2700 per minute. */
struct ratelimit *ratelimit_new_connection_rate(void);

/* Could n more be counted for ip at time now (unix seconds) without any
 * class of any window going over its limit? Counts nothing. */
bool ratelimit_allow(struct ratelimit *rl, const char *ip, int64_t now, uint64_t n);
/* Count n for ip if that stays within all limits and return true; else
 * count nothing and return false. */
bool ratelimit_add(struct ratelimit *rl, const char *ip, int64_t now, uint64_t n);
/* Forget ip's own count (class 0) in the current windows and take it off
 * its /26 and /21 (or /48, /32) too, e.g. after a successful login. */
void ratelimit_reset(struct ratelimit *rl, const char *ip, int64_t now);
/* Number of counters held over all windows (tests, metrics). */
size_t ratelimit_size(struct ratelimit *rl);

/* ---- concurrency limiter ---- */

struct ratelimit_conc;

struct ratelimit_conc *ratelimit_conc_new(const uint64_t limits[RATELIMIT_CLASSES]);
/* Simultaneous connections (FEATURES.md section 2): 30/90/270. */
struct ratelimit_conc *ratelimit_conc_new_connections(void);
void ratelimit_conc_free(struct ratelimit_conc **c);

/* Take one slot for ip: true when all classes are below their limits (the
 * slot is then held until ratelimit_conc_release with the same ip), false
 * otherwise (nothing held). */
bool ratelimit_conc_acquire(struct ratelimit_conc *c, const char *ip);
void ratelimit_conc_release(struct ratelimit_conc *c, const char *ip);
/* Number of counters held (0 once every slot is released). */
size_t ratelimit_conc_size(struct ratelimit_conc *c);

#endif
