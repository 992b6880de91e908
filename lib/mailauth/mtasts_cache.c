/* MTA-STS policy fetch over HTTPS (libcurl) and the policy cache in the
 * mtasts_policies table (sql/009_tlspolicy.sql); see mtasts.h. RFC 8461
 * sections 3.3 (fetching) and 5 (caching and refreshing). */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"
#include "db/db.h"
#include "mailauth/mtasts.h"
#include "net/dns.h"

/* A failed fetch is not repeated for this long (RFC 8461 section 5 leaves
 * the interval to the sender; mox uses 5 minutes as well). */
#define MTASTS_BACKOFF "5 minutes"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void
curl_init_once(void)
{
	/* Not thread-safe itself, so exactly once, before any handle. */
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct body {
	struct buf *b;
	bool too_large;
};

static size_t
write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct body *body = arg;

	if (body->b->len + n > MTASTS_MAX_POLICY) {
		body->too_large = true;
		return 0;	/* aborts the transfer: CURLE_WRITE_ERROR */
	}
	buf_append(body->b, p, n);
	return n * size;
}

/* "mta-sts.example.org:443:192.0.2.1,[2001:db8::1]" for CURLOPT_RESOLVE
 * from the addresses our resolver gives; returns 0 with at least one
 * address, else -1. */
static int
resolve_entry(struct dns *d, const char *host, unsigned port, struct buf *out,
	const char **error_r)
{
	static const enum dns_type types[] = { DNS_A, DNS_AAAA };
	enum dns_status worst = DNS_NXDOMAIN;
	const char *why = NULL;
	size_t t, i, n = 0;

	buf_printf(out, "%s:%u:", host, port);
	for (t = 0; t < 2; t++) {
		struct dns_answer a;

		if (dns_lookup(d, host, types[t], &a) == DNS_OK) {
			for (i = 0; i < a.n; i++) {
				buf_printf(out, types[t] == DNS_AAAA ? "%s[%s]" : "%s%s", n > 0 ? "," : "",
					a.rr[i].text);
				n++;
			}
		} else if (a.status == DNS_TEMPERROR) {
			worst = DNS_TEMPERROR;
			why = ms_err("%s", a.error ? a.error : "temporary error");
		}
		dns_answer_free(&a);
	}
	if (n == 0) {
		*error_r = worst == DNS_TEMPERROR ? ms_err("resolving %s: %s", host, why)
			: ms_err("%s has no address", host);
		return -1;
	}
	return 0;
}

static bool
content_type_plain(const char *ct)
{
	/* RFC 8461 section 3.3: the policy is served as text/plain; the type
	 * may carry parameters (charset). */
	if (ct == NULL || !ms_startswith_ci(ct, "text/plain"))
		return false;
	ct += 10;
	return *ct == '\0' || *ct == ';' || *ct == ' ' || *ct == '\t';
}

int
mtasts_fetch(const char *domain, const struct mtasts_fetch_options *o,
	struct buf *body_r, enum mtasts_fetch_error *kind_r, const char **error_r)
{
	char errbuf[CURL_ERROR_SIZE];
	struct curl_slist *resolve = NULL;
	struct body body = { body_r, false };
	unsigned port = o->port != 0 ? o->port : 443;
	char *host = xasprintf("mta-sts.%s", domain), *url;
	const char *ct = NULL;
	long status = 0;
	CURLcode rc;
	CURL *h;
	int ret = -1;

	pthread_once(&curl_once, curl_init_once);
	buf_reset(body_r);
	*kind_r = MTASTS_FETCH_ERROR;
	if (port == 443)
		url = xasprintf("https://%s/.well-known/mta-sts.txt", host);
	else
		url = xasprintf("https://%s:%u/.well-known/mta-sts.txt", host, port);
	if (o->dns != NULL) {
		struct buf e;

		buf_init(&e);
		if (resolve_entry(o->dns, host, port, &e, error_r) != 0) {
			buf_free(&e);
			free(url);
			free(host);
			return -1;
		}
		resolve = curl_slist_append(NULL, e.data);
		buf_free(&e);
	}
	h = curl_easy_init();
	if (h == NULL) {
		*error_r = "curl_easy_init failed";
		goto out;
	}
	errbuf[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	/* Section 3.3: "HTTP 3xx redirects MUST NOT be followed". */
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (o->ca_file != NULL && o->ca_file[0] != '\0')
		curl_easy_setopt(h, CURLOPT_CAINFO, o->ca_file);
	curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(o->timeout_ms > 0 ? o->timeout_ms : 60000));
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 30000L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE, (long)MTASTS_MAX_POLICY);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "mailstead");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	/* No proxy from the environment: the policy host is asked directly. */
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	if (resolve != NULL)
		curl_easy_setopt(h, CURLOPT_RESOLVE, resolve);
	rc = curl_easy_perform(h);
	if (rc != CURLE_OK) {
		if (body.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
			*kind_r = MTASTS_FETCH_INVALID;
			*error_r = "policy larger than 64 KiB";
		} else {
			if (rc == CURLE_PEER_FAILED_VERIFICATION)
				*kind_r = MTASTS_FETCH_WEBPKI;
			*error_r = ms_err("fetching %s: %s", url,
				errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
		}
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
	if (status != 200) {
		*error_r = ms_err("fetching %s: HTTP status %ld", url, status);
		goto out;
	}
	if (!content_type_plain(ct)) {
		*error_r = ms_err("fetching %s: content type %s, not text/plain", url,
			ct != NULL ? lq(ct) : "(none)");
		goto out;
	}
	*kind_r = MTASTS_FETCH_OK;
	ret = 0;
out:
	if (ret != 0)
		buf_reset(body_r);
	if (h != NULL)
		curl_easy_cleanup(h);
	curl_slist_free_all(resolve);
	free(url);
	free(host);
	return ret;
}

void
mtasts_outcome_free(struct mtasts_outcome *o)
{
	mtasts_policy_free(&o->policy);
	free(o->policy_text);
	free(o->record_id);
	free(o->reason);
	memset(o, 0, sizeof(*o));
}

static const char *
fetch_result_type(enum mtasts_fetch_error k)
{
	switch (k) {
	case MTASTS_FETCH_WEBPKI:
		return "sts-webpki-invalid";
	case MTASTS_FETCH_INVALID:
		return "sts-policy-invalid";
	default:
		return "sts-policy-fetch-error";
	}
}

struct cached {
	bool exists;
	bool valid;		/* a policy whose max_age has not run out */
	bool backoff;		/* a fetch failed within MTASTS_BACKOFF */
	char *record_id;
	char *text;
};

static int
cache_load(PGconn *c, const char *domain, struct cached *ca, const char **error_r)
{
	PGresult *res = db_execv(c, error_r,
		"SELECT record_id, policy_text,"
		" fetched IS NOT NULL AND valid_until > now(),"
		" last_error <> '' AND last_update_attempt > now() - interval '" MTASTS_BACKOFF "'"
		" FROM mtasts_policies WHERE domain = $1", 1, domain);

	memset(ca, 0, sizeof(*ca));
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 1) {
		ca->exists = true;
		ca->record_id = xstrdup(PQgetvalue(res, 0, 0));
		ca->text = xstrdup(PQgetvalue(res, 0, 1));
		ca->valid = db_get_bool(res, 0, 2);
		ca->backoff = db_get_bool(res, 0, 3);
	}
	PQclear(res);
	return 0;
}

static void
cached_free(struct cached *ca)
{
	free(ca->record_id);
	free(ca->text);
	memset(ca, 0, sizeof(*ca));
}

static int
cache_store(PGconn *c, const char *domain, const char *id, const struct mtasts_policy *p,
	const char *text, const char **error_r)
{
	struct buf mx;
	int rc;

	buf_init(&mx);
	db_text_array(&mx, (const char *const *)p->mx, p->nmx);
	rc = db_cmd(c, error_r,
		"INSERT INTO mtasts_policies (domain, record_id, mode, max_age, mx, policy_text,"
		" fetched, valid_until, last_update_attempt, last_error)"
		" VALUES ($1, $2, $3, $4::bigint, $5::text[], $6, now(),"
		"  now() + make_interval(secs => $4::bigint), now(), '')"
		" ON CONFLICT (domain) DO UPDATE SET record_id = EXCLUDED.record_id,"
		"  mode = EXCLUDED.mode, max_age = EXCLUDED.max_age, mx = EXCLUDED.mx,"
		"  policy_text = EXCLUDED.policy_text, fetched = EXCLUDED.fetched,"
		"  valid_until = EXCLUDED.valid_until, last_update_attempt = now(), last_error = ''",
		6, domain, id, mtasts_mode_name(p->mode), db_i64((int64_t)p->max_age), mx.data, text);
	buf_free(&mx);
	return rc;
}

static int
cache_store_failure(PGconn *c, const char *domain, const char *why, const char **error_r)
{
	/* The cached policy (if any) stays: it is used until it expires. */
	return db_cmd(c, error_r,
		"INSERT INTO mtasts_policies (domain, last_update_attempt, last_error)"
		" VALUES ($1, now(), $2)"
		" ON CONFLICT (domain) DO UPDATE SET last_update_attempt = now(),"
		"  last_error = EXCLUDED.last_error", 2, domain, why[0] != '\0' ? why : "error");
}

/* Fill o with the cached policy; returns 0, or -1 if the stored text no
 * longer parses (then treated as no cache). */
static int
use_cached(const struct cached *ca, struct mtasts_outcome *o)
{
	const char *err;

	if (mtasts_policy_parse(ca->text, strlen(ca->text), &o->policy, &err) != 0)
		return -1;
	o->have_policy = true;
	o->policy_text = xstrdup(ca->text);
	o->record_id = xstrdup(ca->record_id);
	return 0;
}

static void
set_result(struct mtasts_outcome *o, const char *type, const char *reason)
{
	o->result_type = type;
	free(o->reason);
	o->reason = xstrdup(reason);
}

/* The TXT lookup: 0 one valid record (r filled), 1 no (valid, single)
 * record, -1 temporary DNS error. *why_r says what was wrong. */
static int
lookup_record(struct dns *d, const char *domain, struct mtasts_record *r, const char **why_r)
{
	struct dns_answer a;
	char *name = xasprintf("_mta-sts.%s", domain);
	size_t i, found = 0;
	int ret = 1;

	*why_r = NULL;
	dns_lookup(d, name, DNS_TXT, &a);
	free(name);
	if (a.status == DNS_TEMPERROR) {
		*why_r = ms_err("dns: %s", a.error ? a.error : "temporary error");
		dns_answer_free(&a);
		return -1;
	}
	for (i = 0; a.status == DNS_OK && i < a.n; i++) {
		struct mtasts_record rec;
		const char *err = NULL;
		int rc = mtasts_record_parse(a.rr[i].text, a.rr[i].text_len, &rec, &err);

		if (rc == 1)
			continue;
		found++;
		if (rc < 0) {
			*why_r = ms_err("invalid record: %s", err);
			ret = 1;
			found = 2;	/* an invalid STSv1 record spoils the set */
			break;
		}
		*r = rec;
	}
	if (found == 1)
		ret = 0;
	else if (found > 1 && *why_r == NULL)
		*why_r = "multiple records";
	dns_answer_free(&a);
	return ret;
}

int
mtasts_get(struct db_pool *pool, struct dns *dns, const struct mtasts_fetch_options *fo,
	const char *domain, struct mtasts_outcome *o, const char **error_r)
{
	struct mtasts_record rec;
	struct cached ca;
	const char *why = NULL, *err = NULL;
	PGconn *c;
	int rc, ret = -1;

	memset(o, 0, sizeof(*o));
	c = db_get(pool, error_r);
	if (c == NULL)
		return -1;
	if (cache_load(c, domain, &ca, error_r) != 0) {
		db_put(pool, c);
		return -1;
	}
	rc = lookup_record(dns, domain, &rec, &why);
	if (rc < 0) {
		/* Section 5: with a valid cached policy, keep using it. Without
		 * one a temporary failure must not become "no policy" (an
		 * attacker could block the lookup): try again later. */
		set_result(o, "sts-policy-fetch-error", "dns-temporary-error");
		if (ca.valid && use_cached(&ca, o) == 0) {
			o->from_cache = true;
			set_result(o, "sts-policy-fetch-error", "dns-temporary-error+fallback-to-cached-policy");
			ret = 0;
		} else
			*error_r = ms_err("looking up the MTA-STS record of %s: %s", domain, why);
		goto out;
	}
	if (rc == 1) {
		/* No (usable) record. A cached policy stays in force until it
		 * expires (section 5.1: the record's removal alone does not
		 * revoke a policy). A cached mode-none policy, a failure entry
		 * or an expired policy is deleted. */
		if (why != NULL)
			set_result(o, "sts-policy-invalid", why[0] == 'm' ? "multiple-records" :
				"invalid-record");
		if (ca.valid && use_cached(&ca, o) == 0 && o->policy.mode != MTASTS_MODE_NONE) {
			o->from_cache = true;
		} else {
			mtasts_outcome_free(o);
			if (why != NULL)
				set_result(o, "sts-policy-invalid", why[0] == 'm' ? "multiple-records" :
					"invalid-record");
			if (ca.exists && db_cmd(c, &err, "DELETE FROM mtasts_policies WHERE domain = $1", 1,
				domain) != 0)
				log_warn(NULL, "ev=mtasts-cache-delete domain=%s error=%s", lq(domain), lq(err));
		}
		ret = 0;
		goto out;
	}
	if (ca.valid && strcmp(ca.record_id, rec.id) == 0 && use_cached(&ca, o) == 0) {
		ret = 0;
		goto out;
	}
	if (ca.backoff) {
		/* Section 5: no tight loop of fetches for a broken host. */
		if (ca.valid && use_cached(&ca, o) == 0)
			o->from_cache = true;
		set_result(o, "sts-policy-fetch-error", o->have_policy ?
			"back-off-after-recent-fetch-error+fallback-to-cached-policy" :
			"back-off-after-recent-fetch-error");
		ret = 0;
		goto out;
	} else {
		struct mtasts_policy p;
		enum mtasts_fetch_error kind;
		struct buf body;

		buf_init(&body);
		rc = mtasts_fetch(domain, fo, &body, &kind, &err);
		if (rc == 0 && mtasts_policy_parse(body.data, body.len, &p, &err) != 0) {
			kind = MTASTS_FETCH_INVALID;
			err = ms_err("invalid policy: %s", err);
			rc = -1;
		}
		if (rc == 0) {
			if (cache_store(c, domain, rec.id, &p, body.data, &err) != 0)
				log_warn(NULL, "ev=mtasts-cache-store domain=%s error=%s", lq(domain), lq(err));
			o->have_policy = true;
			o->policy = p;
			o->policy_text = buf_steal(&body);
			o->record_id = xstrdup(rec.id);
			log_info(NULL, "ev=mtasts-policy domain=%s id=%s mode=%s max_age=%llu", lq(domain),
				lq(rec.id), mtasts_mode_name(p.mode), (unsigned long long)p.max_age);
		} else {
			const char *fail = err;

			/* Section 5: a failed fetch with a valid cached policy
			 * keeps the cached one; without one there is no policy. */
			log_info(NULL, "ev=mtasts-fetch-failed domain=%s result=%s error=%s", lq(domain),
				fetch_result_type(kind), lq(fail));
			if (cache_store_failure(c, domain, fail, &err) != 0)
				log_warn(NULL, "ev=mtasts-cache-store domain=%s error=%s", lq(domain), lq(err));
			if (ca.valid && use_cached(&ca, o) == 0)
				o->from_cache = true;
			set_result(o, fetch_result_type(kind), o->have_policy ?
				"policy-fetch-failed+fallback-to-cached-policy" : "policy-fetch-failed");
		}
		buf_free(&body);
		ret = 0;
	}
out:
	cached_free(&ca);
	db_put(pool, c);
	return ret;
}
