/* Rate and concurrency limiters by IP class (see ratelimit.h): hash tables
 * of counters keyed by (class, masked address), one table per window,
 * with a keyed hash so remote peers cannot aim at one bucket. */
#include "config.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "auth/ratelimit.h"
#include "core/util.h"

#define DEFAULT_MAX_KEYS 100000
#define EVICT_SAMPLE 8

int
ratelimit_ip_masks(const char *ip, unsigned char masked[RATELIMIT_CLASSES][16])
{
	/* Prefix lengths per class, counted in the 128-bit form; IPv4 sits in
	 * the last 32 bits of ::ffff:0:0/96. */
	static const unsigned v4bits[RATELIMIT_CLASSES] = { 96 + 32, 96 + 26, 96 + 21 };
	static const unsigned v6bits[RATELIMIT_CLASSES] = { 64, 48, 32 };
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	unsigned char a[16];
	const unsigned *bits;
	int c;
	unsigned i;

	memset(masked, 0, RATELIMIT_CLASSES * 16);
	if (ip == NULL)
		return -1;
	if (inet_pton(AF_INET, ip, a + 12) == 1) {
		memcpy(a, mapped, sizeof(mapped));
		bits = v4bits;
	} else if (inet_pton(AF_INET6, ip, a) == 1) {
		bits = memcmp(a, mapped, sizeof(mapped)) == 0 ? v4bits : v6bits;
	} else {
		return -1;
	}
	for (c = 0; c < RATELIMIT_CLASSES; c++)
		for (i = 0; i < 16; i++) {
			unsigned have = bits[c] > i * 8 ? bits[c] - i * 8 : 0;

			if (have >= 8)
				masked[c][i] = a[i];
			else if (have > 0)
				masked[c][i] = (unsigned char)(a[i] & (0xff << (8 - have)));
		}
	return 0;
}

/* ---- keyed hash: SipHash-1-3 over the 17-byte key ---- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
	do {                                                                                       \
		v0 += v1;                                                                          \
		v1 = ROTL(v1, 13);                                                                 \
		v1 ^= v0;                                                                          \
		v0 = ROTL(v0, 32);                                                                 \
		v2 += v3;                                                                          \
		v3 = ROTL(v3, 16);                                                                 \
		v3 ^= v2;                                                                          \
		v0 += v3;                                                                          \
		v3 = ROTL(v3, 21);                                                                 \
		v3 ^= v0;                                                                          \
		v2 += v1;                                                                          \
		v1 = ROTL(v1, 17);                                                                 \
		v1 ^= v2;                                                                          \
		v2 = ROTL(v2, 32);                                                                 \
	} while (0)

static uint64_t
siphash13(const uint64_t k[2], const unsigned char *m, size_t len)
{
	uint64_t v0 = 0x736f6d6570736575ULL ^ k[0], v1 = 0x646f72616e646f6dULL ^ k[1];
	uint64_t v2 = 0x6c7967656e657261ULL ^ k[0], v3 = 0x7465646279746573ULL ^ k[1];
	uint64_t b = (uint64_t)len << 56, w;
	size_t i, j, full = len - len % 8;

	for (i = 0; i < full; i += 8) {
		w = 0;
		for (j = 0; j < 8; j++)
			w |= (uint64_t)m[i + j] << (8 * j);
		v3 ^= w;
		SIPROUND;
		v0 ^= w;
	}
	for (j = 0; i + j < len; j++)
		b |= (uint64_t)m[i + j] << (8 * j);
	v3 ^= b;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- counter tables ---- */

struct counter {
	struct counter *next;
	unsigned char key[17];	/* class, masked address */
	uint64_t count;
};

struct table {
	struct counter **buckets;
	size_t nbuckets;	/* power of two */
	size_t n;
	uint64_t seed[2];
	uint64_t rng;		/* xorshift state for eviction sampling */
};

static void
table_init(struct table *t)
{
	t->nbuckets = 64;
	t->buckets = xcalloc(t->nbuckets, sizeof(*t->buckets));
	t->n = 0;
	ms_random(t->seed, sizeof(t->seed));
	ms_random(&t->rng, sizeof(t->rng));
	t->rng |= 1;
}

static void
table_clear(struct table *t)
{
	size_t i;

	for (i = 0; i < t->nbuckets; i++) {
		struct counter *c = t->buckets[i], *next;

		for (; c != NULL; c = next) {
			next = c->next;
			free(c);
		}
		t->buckets[i] = NULL;
	}
	t->n = 0;
}

static void
table_free(struct table *t)
{
	table_clear(t);
	free(t->buckets);
	t->buckets = NULL;
}

static size_t
table_slot(const struct table *t, const unsigned char key[17])
{
	return (size_t)siphash13(t->seed, key, 17) & (t->nbuckets - 1);
}

static struct counter *
table_find(const struct table *t, const unsigned char key[17])
{
	struct counter *c = t->buckets[table_slot(t, key)];

	while (c != NULL && memcmp(c->key, key, 17) != 0)
		c = c->next;
	return c;
}

static uint64_t
table_get(const struct table *t, const unsigned char key[17])
{
	struct counter *c = table_find(t, key);

	return c != NULL ? c->count : 0;
}

static void
table_grow(struct table *t)
{
	struct counter **old = t->buckets;
	size_t oldn = t->nbuckets, i;

	t->nbuckets *= 2;
	t->buckets = xcalloc(t->nbuckets, sizeof(*t->buckets));
	for (i = 0; i < oldn; i++) {
		struct counter *c = old[i], *next;

		for (; c != NULL; c = next) {
			size_t s = table_slot(t, c->key);

			next = c->next;
			c->next = t->buckets[s];
			t->buckets[s] = c;
		}
	}
	free(old);
}

static void
table_remove(struct table *t, const unsigned char key[17])
{
	struct counter **pp = &t->buckets[table_slot(t, key)];

	for (; *pp != NULL; pp = &(*pp)->next)
		if (memcmp((*pp)->key, key, 17) == 0) {
			struct counter *c = *pp;

			*pp = c->next;
			free(c);
			t->n--;
			return;
		}
}

/* Drop the least-used of a few randomly chosen counters. */
static void
table_evict(struct table *t)
{
	struct counter *victim = NULL;
	unsigned char key[17];
	int tries, seen = 0;

	for (tries = 0; tries < 1024 && seen < EVICT_SAMPLE; tries++) {
		struct counter *c;

		t->rng ^= t->rng << 13;
		t->rng ^= t->rng >> 7;
		t->rng ^= t->rng << 17;
		c = t->buckets[t->rng & (t->nbuckets - 1)];

		if (c == NULL)
			continue;
		seen++;
		if (victim == NULL || c->count < victim->count)
			victim = c;
	}
	if (victim == NULL) {
		size_t i;

		for (i = 0; i < t->nbuckets && victim == NULL; i++)
			victim = t->buckets[i];
		if (victim == NULL)
			return;
	}
	memcpy(key, victim->key, sizeof(key));
	table_remove(t, key);
}

/* Add n to the counter for key, creating it (and making room) as needed. */
static void
table_add(struct table *t, const unsigned char key[17], uint64_t n, size_t max_keys)
{
	struct counter *c = table_find(t, key);
	size_t s;

	if (c != NULL) {
		c->count = c->count > UINT64_MAX - n ? UINT64_MAX : c->count + n;
		return;
	}
	if (max_keys > 0)
		while (t->n >= max_keys)
			table_evict(t);
	if (t->n >= t->nbuckets)
		table_grow(t);
	c = xcalloc(1, sizeof(*c));
	memcpy(c->key, key, 17);
	c->count = n;
	s = table_slot(t, key);
	c->next = t->buckets[s];
	t->buckets[s] = c;
	t->n++;
}

static void
make_keys(const char *ip, unsigned char keys[RATELIMIT_CLASSES][17])
{
	unsigned char masked[RATELIMIT_CLASSES][16];
	int c;

	(void)ratelimit_ip_masks(ip, masked);
	for (c = 0; c < RATELIMIT_CLASSES; c++) {
		keys[c][0] = (unsigned char)c;
		memcpy(keys[c] + 1, masked[c], 16);
	}
}

/* ---- rate limiter ---- */

struct rl_window {
	struct ratelimit_window w;
	int64_t period;		/* now / seconds of the counts held */
	bool started;
	struct table t;
};

struct ratelimit {
	pthread_mutex_t lock;
	struct rl_window *win;
	size_t nwin;
	size_t max_keys;
};

struct ratelimit *
ratelimit_new(const struct ratelimit_window *windows, size_t n, size_t max_keys)
{
	struct ratelimit *rl = xcalloc(1, sizeof(*rl));
	size_t i;

	pthread_mutex_init(&rl->lock, NULL);
	rl->win = xcalloc(n ? n : 1, sizeof(*rl->win));
	rl->nwin = n;
	rl->max_keys = max_keys ? max_keys : DEFAULT_MAX_KEYS;
	for (i = 0; i < n; i++) {
		if (windows[i].seconds <= 0)
			ms_panic("ratelimit_new: window %zu has length %lld", i,
				(long long)windows[i].seconds);
		rl->win[i].w = windows[i];
		table_init(&rl->win[i].t);
	}
	return rl;
}

void
ratelimit_free(struct ratelimit **rlp)
{
	struct ratelimit *rl = *rlp;
	size_t i;

	if (rl == NULL)
		return;
	*rlp = NULL;
	for (i = 0; i < rl->nwin; i++)
		table_free(&rl->win[i].t);
	free(rl->win);
	pthread_mutex_destroy(&rl->lock);
	free(rl);
}

struct ratelimit *
ratelimit_new_auth_failures(void)
{
	static const struct ratelimit_window w[] = {
		{ 60, { 10, 30, 90 } },
		{ 24 * 3600, { 50, 150, 450 } },
	};

	return ratelimit_new(w, MS_NELEM(w), 0);
}

struct ratelimit *
ratelimit_new_connection_rate(void)
{
	static const struct ratelimit_window w[] = {
		{ 60, { 300, 900, 2700 } },
	};

	return ratelimit_new(w, MS_NELEM(w), 0);
}

static int64_t
period_of(int64_t now, int64_t seconds)
{
	/* Floor division, so times before the epoch do not share period 0. */
	int64_t p = now / seconds;

	return (now % seconds != 0 && now < 0) ? p - 1 : p;
}

/* Drop the counts of windows that have ended (or when the clock went back). */
static void
roll_windows(struct ratelimit *rl, int64_t now)
{
	size_t i;

	for (i = 0; i < rl->nwin; i++) {
		struct rl_window *w = &rl->win[i];
		int64_t p = period_of(now, w->w.seconds);

		if (!w->started || p != w->period) {
			table_clear(&w->t);
			w->period = p;
			w->started = true;
		}
	}
}

static bool
within_limits(struct ratelimit *rl, unsigned char keys[RATELIMIT_CLASSES][17], uint64_t n)
{
	size_t i;
	int c;

	for (i = 0; i < rl->nwin; i++)
		for (c = 0; c < RATELIMIT_CLASSES; c++) {
			uint64_t lim = rl->win[i].w.limits[c], have;

			if (lim == 0)
				continue;
			have = table_get(&rl->win[i].t, keys[c]);
			if (n > lim || have > lim - n)
				return false;
		}
	return true;
}

static bool
check_add(struct ratelimit *rl, const char *ip, int64_t now, uint64_t n, bool add)
{
	unsigned char keys[RATELIMIT_CLASSES][17];
	bool ok;
	size_t i;
	int c;

	make_keys(ip, keys);
	pthread_mutex_lock(&rl->lock);
	roll_windows(rl, now);
	ok = within_limits(rl, keys, n);
	if (ok && add && n > 0)
		for (i = 0; i < rl->nwin; i++)
			for (c = 0; c < RATELIMIT_CLASSES; c++)
				table_add(&rl->win[i].t, keys[c], n, rl->max_keys);
	pthread_mutex_unlock(&rl->lock);
	return ok;
}

bool
ratelimit_allow(struct ratelimit *rl, const char *ip, int64_t now, uint64_t n)
{
	return check_add(rl, ip, now, n, false);
}

bool
ratelimit_add(struct ratelimit *rl, const char *ip, int64_t now, uint64_t n)
{
	return check_add(rl, ip, now, n, true);
}

void
ratelimit_reset(struct ratelimit *rl, const char *ip, int64_t now)
{
	unsigned char keys[RATELIMIT_CLASSES][17];
	size_t i;
	int c;

	make_keys(ip, keys);
	pthread_mutex_lock(&rl->lock);
	roll_windows(rl, now);
	for (i = 0; i < rl->nwin; i++) {
		struct table *t = &rl->win[i].t;
		uint64_t own = table_get(t, keys[0]);

		if (own == 0)
			continue;
		table_remove(t, keys[0]);
		for (c = 1; c < RATELIMIT_CLASSES; c++) {
			struct counter *ctr = table_find(t, keys[c]);

			if (ctr == NULL)
				continue;
			if (ctr->count <= own)
				table_remove(t, keys[c]);
			else
				ctr->count -= own;
		}
	}
	pthread_mutex_unlock(&rl->lock);
}

size_t
ratelimit_size(struct ratelimit *rl)
{
	size_t i, n = 0;

	pthread_mutex_lock(&rl->lock);
	for (i = 0; i < rl->nwin; i++)
		n += rl->win[i].t.n;
	pthread_mutex_unlock(&rl->lock);
	return n;
}

/* ---- concurrency limiter ---- */

struct ratelimit_conc {
	pthread_mutex_t lock;
	uint64_t limits[RATELIMIT_CLASSES];
	struct table t;
};

struct ratelimit_conc *
ratelimit_conc_new(const uint64_t limits[RATELIMIT_CLASSES])
{
	struct ratelimit_conc *c = xcalloc(1, sizeof(*c));

	pthread_mutex_init(&c->lock, NULL);
	memcpy(c->limits, limits, sizeof(c->limits));
	table_init(&c->t);
	return c;
}

struct ratelimit_conc *
ratelimit_conc_new_connections(void)
{
	static const uint64_t limits[RATELIMIT_CLASSES] = { 30, 90, 270 };

	return ratelimit_conc_new(limits);
}

void
ratelimit_conc_free(struct ratelimit_conc **cp)
{
	struct ratelimit_conc *c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	table_free(&c->t);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

bool
ratelimit_conc_acquire(struct ratelimit_conc *c, const char *ip)
{
	unsigned char keys[RATELIMIT_CLASSES][17];
	bool ok = true;
	int k;

	make_keys(ip, keys);
	pthread_mutex_lock(&c->lock);
	for (k = 0; k < RATELIMIT_CLASSES; k++)
		if (c->limits[k] != 0 && table_get(&c->t, keys[k]) >= c->limits[k])
			ok = false;
	/* No eviction here: a dropped counter would make releases wrong. The
	 * table holds at most three counters per slot in use. */
	if (ok)
		for (k = 0; k < RATELIMIT_CLASSES; k++)
			table_add(&c->t, keys[k], 1, 0);
	pthread_mutex_unlock(&c->lock);
	return ok;
}

void
ratelimit_conc_release(struct ratelimit_conc *c, const char *ip)
{
	unsigned char keys[RATELIMIT_CLASSES][17];
	int k;

	make_keys(ip, keys);
	pthread_mutex_lock(&c->lock);
	for (k = 0; k < RATELIMIT_CLASSES; k++) {
		struct counter *ctr = table_find(&c->t, keys[k]);

		if (ctr == NULL)
			continue;	/* release without acquire: a caller bug, ignored */
		if (ctr->count <= 1)
			table_remove(&c->t, keys[k]);
		else
			ctr->count--;
	}
	pthread_mutex_unlock(&c->lock);
}

size_t
ratelimit_conc_size(struct ratelimit_conc *c)
{
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = c->t.n;
	pthread_mutex_unlock(&c->lock);
	return n;
}
