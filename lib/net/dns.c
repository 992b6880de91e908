/* DNS on libunbound (see dns.h). Queries run asynchronously in unbound's
 * worker thread; one dispatcher thread of ours takes the results
 * (ub_process) and hands them to the waiting callers, each of which waits
 * at most the timeout. A query given up on is cancelled; when unbound
 * delivers it anyway (a cancel can race with the delivery), the callback
 * frees it. */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <idn2.h>
#include <unbound.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"
#include "net/dns.h"

#define DEFAULT_ROOT_KEY "/usr/share/dns/root.key"

struct name_list {
	char **v;
	size_t n;
};

struct dns {
	struct ub_ctx *ctx;
	bool test;
	int timeout_ms;
	pthread_t thread;
	int stop_pipe[2];
	/* Result cache: answers by "type name", until their TTL runs out. */
	pthread_mutex_t cache_mu;
	struct cache_entry **cache;	/* CACHE_BUCKETS chains */
	size_t ncached;
	/* Test mode: names from $SERVFAIL, $TIMEOUT, records under
	 * "$AUTHENTIC yes", and $SECURE-ZONE zones. All lower case. */
	struct name_list servfail, timeout, authentic, secure_zones;
};

/* Hands results from the dispatcher to the waiting callers (a query does
 * not point back to its resolver, and the critical sections are tiny). */
static pthread_mutex_t dns_handover_mu = PTHREAD_MUTEX_INITIALIZER;

#define CACHE_BUCKETS 4096
#define CACHE_MAX 50000
#define CACHE_TTL_MAX 3600	/* seconds */
#define CACHE_NEG_TTL 60	/* NXDOMAIN/NODATA without a TTL */

struct cache_entry {
	struct cache_entry *next;
	char *key;
	uint64_t hash;
	time_t expires;		/* CLOCK_MONOTONIC seconds */
	struct dns_answer a;
};

struct query {
	pthread_cond_t cv;
	bool done, abandoned;
	int err;
	struct ub_result *res;
};

static void
names_add(struct name_list *l, const char *name)
{
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(char *));
	l->v[l->n++] = xstrdup(name);
}

static bool
names_has(const struct name_list *l, const char *name)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i], name) == 0)
			return true;
	return false;
}

static void
names_free(struct name_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* name or a parent of it in the list (both lower case, no final dot). */
static bool
names_covers(const struct name_list *l, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; i < l->n; i++) {
		size_t z = strlen(l->v[i]);

		if (z == 0 || (z == n && strcmp(name, l->v[i]) == 0) ||
		    (n > z && name[n - z - 1] == '.' && strcmp(name + n - z, l->v[i]) == 0))
			return true;
	}
	return false;
}

/* Lower case, without the final dot. */
static char *
norm_name(const char *s)
{
	char *n = xstrdup(s);
	size_t len = strlen(n);

	if (len > 0 && n[len - 1] == '.')
		n[len - 1] = '\0';
	ms_str_lower(n);
	return n;
}

const char *
dns_status_name(enum dns_status s)
{
	switch (s) {
	case DNS_OK:
		return "ok";
	case DNS_NXDOMAIN:
		return "nxdomain";
	case DNS_NODATA:
		return "nodata";
	case DNS_TEMPERROR:
		return "temperror";
	case DNS_PERMERROR:
		return "permerror";
	}
	return "unknown";
}

/* ---- zone file (test mode) ---- */

static char *
trim(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' ||
		    s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

/* Cut a "; comment" that is not inside a quoted string. */
static void
cut_comment(char *s)
{
	bool quoted = false;

	for (; *s != '\0'; s++) {
		if (*s == '\\' && s[1] != '\0')
			s++;
		else if (*s == '"')
			quoted = !quoted;
		else if (*s == ';' && !quoted) {
			*s = '\0';
			return;
		}
	}
}

static int
load_zone(struct dns *d, const char *path, const char **error_r)
{
	FILE *f = fopen(path, "r");
	char line[8192];
	bool authentic = false;
	unsigned lineno = 0;
	int rc = 0;

	if (f == NULL) {
		*error_r = ms_err("DNS zone file %s: %s", path, strerror(errno));
		return -1;
	}
	/* Everything is answered from the file: a name not in it does not
	 * exist (no query ever leaves the machine). */
	if ((rc = ub_ctx_zone_add(d->ctx, ".", "static")) != 0) {
		*error_r = ms_err("DNS zone file %s: %s", path, ub_strerror(rc));
		fclose(f);
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *s, owner[512];

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			*error_r = ms_err("%s:%u: line too long", path, lineno);
			rc = -1;
			break;
		}
		cut_comment(line);
		s = trim(line);
		if (*s == '\0')
			continue;
		if (*s == '$') {
			char *arg = s + strcspn(s, " \t");

			if (*arg != '\0')
				*arg++ = '\0';
			arg = trim(arg);
			if (ms_strcaseeq(s, "$AUTHENTIC") && (ms_strcaseeq(arg, "yes") ||
				ms_strcaseeq(arg, "no"))) {
				authentic = ms_strcaseeq(arg, "yes");
			} else if (ms_strcaseeq(s, "$SERVFAIL") && *arg != '\0') {
				char *n = norm_name(arg);

				names_add(&d->servfail, n);
				free(n);
			} else if (ms_strcaseeq(s, "$TIMEOUT") && *arg != '\0') {
				char *n = norm_name(arg);

				names_add(&d->timeout, n);
				free(n);
			} else if (ms_strcaseeq(s, "$SECURE-ZONE") && *arg != '\0') {
				char *n = norm_name(arg);

				names_add(&d->secure_zones, n);
				free(n);
			} else {
				*error_r = ms_err("%s:%u: unknown directive %s (known: $AUTHENTIC yes|no,"
					" $SERVFAIL name, $TIMEOUT name, $SECURE-ZONE name)", path, lineno, s);
				rc = -1;
				break;
			}
			continue;
		}
		if ((rc = ub_ctx_data_add(d->ctx, s)) != 0) {
			*error_r = ms_err("%s:%u: bad record: %s", path, lineno, ub_strerror(rc));
			rc = -1;
			break;
		}
		if (authentic) {
			/* Remembered as "owner TYPE": the first token after
			 * the owner that is neither a TTL nor a class. */
			size_t n = strcspn(s, " \t");
			const char *t = s + n;
			char *nn, *key;

			if (n >= sizeof(owner))
				n = sizeof(owner) - 1;
			memcpy(owner, s, n);
			owner[n] = '\0';
			for (;;) {
				size_t tl;

				t += strspn(t, " \t");
				tl = strcspn(t, " \t");
				if (tl == 0 || !(strspn(t, "0123456789") == tl ||
					(tl == 2 && ms_startswith_ci(t, "in")) ||
					(tl == 2 && ms_startswith_ci(t, "ch"))))
					break;
				t += tl;
			}
			nn = norm_name(owner);
			key = xasprintf("%s %.*s", nn, (int)strcspn(t, " \t"), t);
			for (t = key + strlen(nn); *t != '\0'; t++)
				*(char *)t = (char)toupper((unsigned char)*t);
			if (!names_has(&d->authentic, key))
				names_add(&d->authentic, key);
			free(key);
			free(nn);
		}
	}
	if (rc == 0 && ferror(f)) {
		*error_r = ms_err("reading %s: %s", path, strerror(errno));
		rc = -1;
	}
	fclose(f);
	return rc;
}

/* ---- the dispatcher ---- */

static void *
dispatch_main(void *arg)
{
	struct dns *d = arg;
	struct pollfd p[2];

	p[0].fd = ub_fd(d->ctx);
	p[0].events = POLLIN;
	p[1].fd = d->stop_pipe[0];
	p[1].events = POLLIN;
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error(NULL, "ev=dns-poll-failed error=%s", lq(strerror(errno)));
			break;
		}
		if (p[1].revents != 0)
			break;
		if (p[0].revents != 0) {
			int err = ub_process(d->ctx);

			if (err != 0)
				log_warn(NULL, "ev=dns-process-failed error=%s", lq(ub_strerror(err)));
		}
	}
	return NULL;
}

/* Called by ub_process in the dispatcher thread. */
static void
query_done(void *arg, int err, struct ub_result *res)
{
	struct query *q = arg;

	pthread_mutex_lock(&dns_handover_mu);
	if (q->abandoned) {
		pthread_mutex_unlock(&dns_handover_mu);
		if (res != NULL)
			ub_resolve_free(res);
		pthread_cond_destroy(&q->cv);
		free(q);
		return;
	}
	q->err = err;
	q->res = res;
	q->done = true;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&dns_handover_mu);
}

/* ---- result cache ---- */

static time_t
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static uint64_t
key_hash(const char *k)
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */

	for (; *k != '\0'; k++) {
		h ^= (unsigned char)*k;
		h *= 1099511628211ULL;
	}
	return h;
}

static void
answer_copy(struct dns_answer *dst, const struct dns_answer *src)
{
	size_t i;

	*dst = *src;
	dst->rr = src->n > 0 ? xcalloc(src->n, sizeof(*dst->rr)) : NULL;
	for (i = 0; i < src->n; i++) {
		dst->rr[i] = src->rr[i];
		if (src->rr[i].text != NULL) {
			dst->rr[i].text = xmalloc(src->rr[i].text_len + 1);
			memcpy(dst->rr[i].text, src->rr[i].text, src->rr[i].text_len + 1);
		}
		if (src->rr[i].data != NULL) {
			dst->rr[i].data = xmalloc(src->rr[i].data_len + 1);
			memcpy(dst->rr[i].data, src->rr[i].data, src->rr[i].data_len);
		}
	}
	dst->canonical = src->canonical ? xstrdup(src->canonical) : NULL;
	dst->error = src->error ? xstrdup(src->error) : NULL;
}

static void
entry_free(struct cache_entry *e)
{
	dns_answer_free(&e->a);
	free(e->key);
	free(e);
}

/* Drop everything (now 0) or what has expired by now. Called with
 * cache_mu held (or when no other thread can use the resolver). */
static void
cache_prune(struct dns *d, time_t now)
{
	size_t i;

	for (i = 0; i < CACHE_BUCKETS; i++) {
		struct cache_entry **pp = &d->cache[i];

		while (*pp != NULL) {
			struct cache_entry *e = *pp;

			if (now == 0 || e->expires <= now) {
				*pp = e->next;
				entry_free(e);
				d->ncached--;
			} else {
				pp = &e->next;
			}
		}
	}
}

static void
cache_clear(struct dns *d)
{
	cache_prune(d, 0);
}

static bool
cache_get(struct dns *d, const char *key, struct dns_answer *a)
{
	uint64_t h = key_hash(key);
	struct cache_entry *e;
	time_t now = mono_now();
	bool hit = false;

	pthread_mutex_lock(&d->cache_mu);
	for (e = d->cache[h % CACHE_BUCKETS]; e != NULL; e = e->next) {
		if (e->hash == h && e->expires > now && strcmp(e->key, key) == 0) {
			answer_copy(a, &e->a);
			a->ttl = (uint32_t)(e->expires - now);
			hit = true;
			break;
		}
	}
	pthread_mutex_unlock(&d->cache_mu);
	return hit;
}

/* Remember a definite answer (records, NXDOMAIN, NODATA) for its TTL, at
 * most an hour; errors are never cached. */
static void
cache_put(struct dns *d, const char *key, const struct dns_answer *a)
{
	struct cache_entry *e, **pp;
	uint32_t ttl = a->ttl;
	time_t now = mono_now();

	if (a->status != DNS_OK && a->status != DNS_NXDOMAIN && a->status != DNS_NODATA)
		return;
	if (ttl == 0 && a->status != DNS_OK)
		ttl = CACHE_NEG_TTL;
	if (ttl == 0)
		return;
	if (ttl > CACHE_TTL_MAX)
		ttl = CACHE_TTL_MAX;
	e = xcalloc(1, sizeof(*e));
	e->key = xstrdup(key);
	e->hash = key_hash(key);
	e->expires = now + (time_t)ttl;
	answer_copy(&e->a, a);
	pthread_mutex_lock(&d->cache_mu);
	if (d->ncached >= CACHE_MAX) {
		cache_prune(d, now);
		if (d->ncached >= CACHE_MAX)
			cache_clear(d);
	}
	/* Replace an entry for the same key (another thread's, or expired). */
	for (pp = &d->cache[e->hash % CACHE_BUCKETS]; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->hash == e->hash && strcmp((*pp)->key, key) == 0) {
			struct cache_entry *old = *pp;

			*pp = old->next;
			entry_free(old);
			d->ncached--;
			break;
		}
	}
	e->next = d->cache[e->hash % CACHE_BUCKETS];
	d->cache[e->hash % CACHE_BUCKETS] = e;
	d->ncached++;
	pthread_mutex_unlock(&d->cache_mu);
}

struct dns *
dns_new(const struct dns_options *opts, const char **error_r)
{
	static const struct dns_options defaults;
	const char *zone, *ta;
	struct dns *d;
	int rc;

	if (opts == NULL)
		opts = &defaults;
	d = xcalloc(1, sizeof(*d));
	d->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 10000;
	d->stop_pipe[0] = d->stop_pipe[1] = -1;
	pthread_mutex_init(&d->cache_mu, NULL);
	d->cache = xcalloc(CACHE_BUCKETS, sizeof(*d->cache));
	d->ctx = ub_ctx_create();
	if (d->ctx == NULL) {
		*error_r = "DNS: cannot create resolver context";
		goto fail;
	}
	/* Threads, not a forked process, for asynchronous queries. */
	if ((rc = ub_ctx_async(d->ctx, 1)) != 0) {
		*error_r = ms_err("DNS: %s", ub_strerror(rc));
		goto fail;
	}
	zone = opts->zone_file;
	if (zone == NULL || zone[0] == '\0')
		zone = getenv("MAILSTEAD_DNS_ZONE");
	if (zone != NULL && zone[0] != '\0') {
		d->test = true;
		if (load_zone(d, zone, error_r) < 0)
			goto fail;
	} else {
		rc = ub_ctx_resolvconf(d->ctx, opts->resolv_conf);
		if (rc != 0) {
			*error_r = ms_err("DNS: reading %s: %s", opts->resolv_conf ?
				opts->resolv_conf : "/etc/resolv.conf", ub_strerror(rc));
			goto fail;
		}
		(void)ub_ctx_hosts(d->ctx, NULL);
		ta = opts->trust_anchor;
		if (ta == NULL && access(DEFAULT_ROOT_KEY, R_OK) == 0)
			ta = DEFAULT_ROOT_KEY;
		/* "none": no validation (for resolvers that strip DNSSEC
		 * records, which would make every answer bogus). */
		if (ta != NULL && strcmp(ta, "none") == 0)
			ta = NULL;
		if (ta != NULL && ta[0] != '\0' && (rc = ub_ctx_add_ta_file(d->ctx, ta)) != 0) {
			*error_r = ms_err("DNS: trust anchor %s: %s", ta, ub_strerror(rc));
			goto fail;
		}
	}
	if (pipe2(d->stop_pipe, O_CLOEXEC) < 0) {
		*error_r = ms_err("DNS: pipe: %s", strerror(errno));
		goto fail;
	}
	if ((rc = pthread_create(&d->thread, NULL, dispatch_main, d)) != 0) {
		*error_r = ms_err("DNS: starting thread: %s", strerror(rc));
		goto fail;
	}
	return d;
fail:
	if (d->stop_pipe[0] >= 0) {
		close(d->stop_pipe[0]);
		close(d->stop_pipe[1]);
	}
	if (d->ctx != NULL)
		ub_ctx_delete(d->ctx);
	names_free(&d->servfail);
	names_free(&d->timeout);
	names_free(&d->authentic);
	names_free(&d->secure_zones);
	free(d->cache);
	pthread_mutex_destroy(&d->cache_mu);
	free(d);
	return NULL;
}

void
dns_free(struct dns **dp)
{
	struct dns *d = *dp;

	if (d == NULL)
		return;
	(void)!write(d->stop_pipe[1], "x", 1);
	pthread_join(d->thread, NULL);
	close(d->stop_pipe[0]);
	close(d->stop_pipe[1]);
	ub_ctx_delete(d->ctx);
	names_free(&d->servfail);
	names_free(&d->timeout);
	names_free(&d->authentic);
	names_free(&d->secure_zones);
	cache_clear(d);
	free(d->cache);
	pthread_mutex_destroy(&d->cache_mu);
	free(d);
	*dp = NULL;
}

bool
dns_is_test_mode(const struct dns *d)
{
	return d->test;
}

/* ---- answers ---- */

/* Wire-format name at p (len bytes left) to text, lower case, without the
 * final dot; labels' dots and unusual bytes escaped as in zone files.
 * Returns bytes consumed or 0 when malformed. */
static size_t
wire_name(const unsigned char *p, size_t len, struct buf *out)
{
	size_t i = 0;

	for (;;) {
		size_t l, j;

		if (i >= len)
			return 0;
		l = p[i++];
		if (l == 0)
			return i;
		if (l > 63 || i + l > len)
			return 0;	/* compression pointers do not occur here */
		if (out->len > 0)
			buf_putc(out, '.');
		for (j = 0; j < l; j++) {
			unsigned char c = p[i + j];

			if (c >= 'A' && c <= 'Z')
				c = (unsigned char)(c - 'A' + 'a');
			if (c == '.' || c == '\\')
				buf_printf(out, "\\%c", c);
			else if (c <= ' ' || c >= 0x7f)
				buf_printf(out, "\\%03u", c);
			else
				buf_putc(out, (char)c);
		}
		i += l;
	}
}

static int
parse_rr(enum dns_type type, const unsigned char *p, size_t len, struct dns_rr *rr)
{
	char ip[INET6_ADDRSTRLEN];
	struct buf b;
	size_t i;

	memset(rr, 0, sizeof(*rr));
	buf_init(&b);
	switch (type) {
	case DNS_A:
	case DNS_AAAA:
		if (len != (type == DNS_A ? 4u : 16u) ||
		    inet_ntop(type == DNS_A ? AF_INET : AF_INET6, p, ip, sizeof(ip)) == NULL)
			goto bad;
		buf_puts(&b, ip);
		break;
	case DNS_MX:
		if (len < 3)
			goto bad;
		rr->pref = (uint16_t)(p[0] << 8 | p[1]);
		if (wire_name(p + 2, len - 2, &b) != len - 2)
			goto bad;
		break;
	case DNS_PTR:
	case DNS_CNAME:
		if (wire_name(p, len, &b) != len)
			goto bad;
		break;
	case DNS_SRV:
		if (len < 7)
			goto bad;
		rr->pref = (uint16_t)(p[0] << 8 | p[1]);
		rr->weight = (uint16_t)(p[2] << 8 | p[3]);
		rr->port = (uint16_t)(p[4] << 8 | p[5]);
		if (wire_name(p + 6, len - 6, &b) != len - 6)
			goto bad;
		break;
	case DNS_TXT:
		for (i = 0; i < len;) {
			size_t l = p[i++];

			if (i + l > len)
				goto bad;
			buf_append(&b, (const char *)p + i, l);
			i += l;
		}
		break;
	case DNS_TLSA:
		if (len < 3)
			goto bad;
		rr->usage = p[0];
		rr->selector = p[1];
		rr->mtype = p[2];
		rr->data_len = len - 3;
		rr->data = xmalloc(rr->data_len + 1);
		memcpy(rr->data, p + 3, rr->data_len);
		buf_free(&b);
		return 0;
	}
	rr->text_len = b.len;
	rr->text = buf_steal(&b);
	buf_free(&b);
	return 0;
bad:
	buf_free(&b);
	return -1;
}

static void
set_error(struct dns_answer *a, enum dns_status st, const char *msg)
{
	a->status = st;
	free(a->error);
	a->error = xstrdup(msg);
}

/* Name as queried: A-labels, no final dot, valid lengths. NULL (with
 * *error_r) when it cannot be a DNS name. */
static char *
query_name(const char *name, const char **error_r)
{
	char *ascii = NULL, *n;
	const char *s, *label;
	size_t len;
	int rc;

	if (name == NULL || name[0] == '\0') {
		*error_r = "empty name";
		return NULL;
	}
	for (s = name; *s != '\0' && (unsigned char)*s < 0x80; s++)
		;
	if (*s != '\0') {
		rc = idn2_to_ascii_8z(name, &ascii, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
		if (rc != IDN2_OK) {
			*error_r = ms_err("invalid international name: %s", idn2_strerror(rc));
			return NULL;
		}
		n = norm_name(ascii);
		idn2_free(ascii);
	} else
		n = norm_name(name);
	len = strlen(n);
	if (len == 0 || len > 253) {
		free(n);
		*error_r = "name empty or longer than 253 bytes";
		return NULL;
	}
	for (label = n; ; ) {
		size_t l = strcspn(label, ".");

		if (l == 0 || l > 63) {
			free(n);
			*error_r = "empty label or label longer than 63 bytes";
			return NULL;
		}
		if (label[l] == '\0')
			break;
		label += l + 1;
	}
	return n;
}

const char *
dns_type_name(enum dns_type t)
{
	switch (t) {
	case DNS_A:
		return "A";
	case DNS_CNAME:
		return "CNAME";
	case DNS_PTR:
		return "PTR";
	case DNS_MX:
		return "MX";
	case DNS_TXT:
		return "TXT";
	case DNS_AAAA:
		return "AAAA";
	case DNS_TLSA:
		return "TLSA";
	case DNS_SRV:
		return "SRV";
	}
	return "?";
}

static enum dns_status
lookup_once(struct dns *d, const char *name, enum dns_type type, struct dns_answer *a)
{
	struct ub_result *res;
	struct query *q;
	struct timespec deadline;
	const char *err = NULL;
	char *qn;
	int async_id = 0, rc, i;

	memset(a, 0, sizeof(*a));
	qn = query_name(name, &err);
	if (qn == NULL) {
		set_error(a, DNS_PERMERROR, err);
		return a->status;
	}
	if (d->test && (names_has(&d->servfail, qn) || names_has(&d->timeout, qn))) {
		set_error(a, DNS_TEMPERROR, names_has(&d->timeout, qn) ?
			"timeout (test zone)" : "SERVFAIL (test zone)");
		free(qn);
		return a->status;
	}
	q = xcalloc(1, sizeof(*q));
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&q->cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	rc = ub_resolve_async(d->ctx, qn, (int)type, 1, q, query_done, &async_id);
	if (rc != 0) {
		pthread_cond_destroy(&q->cv);
		free(q);
		set_error(a, DNS_TEMPERROR, ub_strerror(rc));
		free(qn);
		return a->status;
	}
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += d->timeout_ms / 1000;
	deadline.tv_nsec += (long)(d->timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&dns_handover_mu);
	while (!q->done) {
		if (pthread_cond_timedwait(&q->cv, &dns_handover_mu, &deadline) == ETIMEDOUT &&
		    !q->done)
			break;
	}
	if (!q->done) {
		/* Given up: the callback frees the query if it still comes. */
		q->abandoned = true;
		pthread_mutex_unlock(&dns_handover_mu);
		(void)ub_cancel(d->ctx, async_id);
		set_error(a, DNS_TEMPERROR, "timeout");
		free(qn);
		return a->status;
	}
	pthread_mutex_unlock(&dns_handover_mu);
	res = q->res;
	rc = q->err;
	pthread_cond_destroy(&q->cv);
	free(q);
	if (rc != 0 || res == NULL) {
		set_error(a, DNS_TEMPERROR, ub_strerror(rc));
		if (res != NULL)
			ub_resolve_free(res);
		free(qn);
		return a->status;
	}
	a->canonical = norm_name(res->canonname != NULL ? res->canonname : qn);
	a->ttl = (uint32_t)res->ttl;
	if (res->bogus) {
		set_error(a, DNS_TEMPERROR, ms_err("DNSSEC validation failed: %s",
			res->why_bogus ? res->why_bogus : "bogus"));
	} else if (res->rcode == 3) {
		a->status = DNS_NXDOMAIN;
	} else if (res->rcode != 0) {
		set_error(a, DNS_TEMPERROR, ms_err("DNS rcode %d", res->rcode));
	} else if (!res->havedata) {
		a->status = DNS_NODATA;
	} else {
		for (i = 0; res->data[i] != NULL; i++)
			;
		a->rr = xcalloc((size_t)i, sizeof(*a->rr));
		for (i = 0; res->data[i] != NULL; i++) {
			if (parse_rr(type, (const unsigned char *)res->data[i],
				    (size_t)res->len[i], &a->rr[a->n]) == 0)
				a->n++;
		}
		a->status = a->n > 0 ? DNS_OK : DNS_NODATA;
		if (a->n == 0)
			set_error(a, DNS_TEMPERROR, "malformed records in answer");
	}
	if (d->test) {
		char *key = xasprintf("%s %s", a->canonical, dns_type_name(type));

		a->authentic = a->status != DNS_TEMPERROR &&
		    (names_covers(&d->secure_zones, a->canonical) ||
			(a->status == DNS_OK && names_has(&d->authentic, key)));
		free(key);
	} else
		a->authentic = res->secure && !res->bogus;
	ub_resolve_free(res);
	free(qn);
	return a->status;
}

/* Test mode: unbound answers a CNAME in local data but does not follow it
 * there, so CNAMEs are followed here (at most 8, as a resolver would). */
static enum dns_status
lookup_uncached(struct dns *d, const char *name, enum dns_type type, struct dns_answer *a)
{
	struct dns_answer c;
	char *target;
	int depth;
	char *asked;

	bool chain_authentic = true;

	lookup_once(d, name, type, a);
	if (!d->test || type == DNS_CNAME || a->status != DNS_NODATA)
		return a->status;
	asked = query_name(name, &(const char *){ NULL });
	for (depth = 0; depth < 8 && a->status == DNS_NODATA && asked != NULL; depth++) {
		/* An answer reached through CNAMEs is only authentic when every
		 * CNAME on the way is (as a validating resolver reports it);
		 * DANE depends on it (RFC 7672 section 2.2.2). */
		if (lookup_once(d, asked, DNS_CNAME, &c) == DNS_OK) {
			/* unbound may have named the target already. */
			target = xstrdup(strcmp(a->canonical, asked) != 0 ? a->canonical :
				c.rr[0].text);
			chain_authentic = chain_authentic && c.authentic;
			dns_answer_free(&c);
		} else if (strcmp(a->canonical, asked) != 0) {
			target = xstrdup(a->canonical);
			chain_authentic = false;
			dns_answer_free(&c);
		} else {
			dns_answer_free(&c);
			break;
		}
		dns_answer_free(a);
		lookup_once(d, target, type, a);
		free(asked);
		asked = target;
	}
	free(asked);
	if (a->status == DNS_NODATA && depth == 8)
		set_error(a, DNS_TEMPERROR, "CNAME chain too long");
	if (!chain_authentic)
		a->authentic = false;
	return a->status;
}

enum dns_status
dns_lookup(struct dns *d, const char *name, enum dns_type type, struct dns_answer *a)
{
	const char *err = NULL;
	char *qn = query_name(name, &err), *key;

	if (qn == NULL) {
		memset(a, 0, sizeof(*a));
		set_error(a, DNS_PERMERROR, err);
		return a->status;
	}
	key = xasprintf("%s %s", dns_type_name(type), qn);
	free(qn);
	if (cache_get(d, key, a)) {
		free(key);
		return a->status;
	}
	lookup_uncached(d, name, type, a);
	cache_put(d, key, a);
	free(key);
	return a->status;
}

char *
dns_reverse_name(const char *ip)
{
	unsigned char a[16];
	struct buf b;
	int i;

	buf_init(&b);
	if (inet_pton(AF_INET, ip, a) == 1) {
		buf_printf(&b, "%u.%u.%u.%u.in-addr.arpa", a[3], a[2], a[1], a[0]);
	} else if (inet_pton(AF_INET6, ip, a) == 1) {
		for (i = 15; i >= 0; i--)
			buf_printf(&b, "%x.%x.", a[i] & 0xf, a[i] >> 4);
		buf_puts(&b, "ip6.arpa");
	} else {
		buf_free(&b);
		return NULL;
	}
	{
		char *s = buf_steal(&b);

		buf_free(&b);
		return s;
	}
}

enum dns_status
dns_lookup_ptr(struct dns *d, const char *ip, struct dns_answer *a)
{
	char *n = dns_reverse_name(ip);
	enum dns_status st;

	if (n == NULL) {
		memset(a, 0, sizeof(*a));
		set_error(a, DNS_PERMERROR, "not an IP address");
		return a->status;
	}
	st = dns_lookup(d, n, DNS_PTR, a);
	free(n);
	return st;
}

void
dns_answer_free(struct dns_answer *a)
{
	size_t i;

	for (i = 0; i < a->n; i++) {
		free(a->rr[i].text);
		free(a->rr[i].data);
	}
	free(a->rr);
	free(a->canonical);
	free(a->error);
	memset(a, 0, sizeof(*a));
}
