/* Webhook sender: claims due calls from webhook_queue and POSTs them with
 * libcurl (several at once with the multi interface, in one thread),
 * records each attempt and retires finished calls. mailstead-queued runs
 * it in a thread of its own (webhook_sender_start). */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"
#include "queue/queue.h"
#include "queue/queue_private.h"
#include "queue/webhook.h"
#include "queue/webhook_private.h"
#include "store/store.h"

#define DEFAULT_CONCURRENT 10
#define DEFAULT_TIMEOUT_MS 60000
/* Response bodies beyond this are not read (the call counts as failed):
 * a receiver has no reason to answer with more. */
#define RESPONSE_READ_MAX (1024 * 1024)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void
curl_init_once(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		ms_fatal("curl_global_init failed");
}

void
webhook_global_init(void)
{
	(void)pthread_once(&curl_once, curl_init_once);
}

struct call {
	int64_t id, account_id;
	int attempt;
	char *url, *auth, *payload, *event;
	CURL *easy;
	struct curl_slist *headers;
	struct buf response;
	size_t read;		/* response bytes received */
	char errbuf[CURL_ERROR_SIZE];
	int64_t t0;		/* monotonic ms */
	/* Result: */
	long code;
	bool success;
	int64_t duration_ms;
	char *error;
};

static size_t
write_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct call *c = arg;
	size_t n = size * nmemb;

	if (c->response.len < WEBHOOK_RESPONSE_MAX) {
		size_t take = WEBHOOK_RESPONSE_MAX - c->response.len;

		buf_append(&c->response, p, n < take ? n : take);
	}
	c->read += n;
	/* Returning less than n makes libcurl abort the transfer. */
	return c->read > RESPONSE_READ_MAX ? 0 : n;
}

/* The User-Agent: "mailstead/<version> (webhook)", as the reference sends
 * "mox/<version> (webhook)". */
#define USER_AGENT PACKAGE_NAME "/" PACKAGE_VERSION " (webhook)"

static int
call_setup(struct call *c, const struct webhook_send_opts *o)
{
	struct buf h;
	long timeout = o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS;

	c->easy = curl_easy_init();
	if (c->easy == NULL)
		return -1;
	buf_init(&h);
	c->headers = curl_slist_append(c->headers, "Content-Type: application/json; charset=utf-8");
	buf_printf(&h, "X-Mailstead-Webhook-ID: %lld", (long long)c->id);
	c->headers = curl_slist_append(c->headers, h.data);
	buf_reset(&h);
	buf_printf(&h, "X-Mailstead-Webhook-Attempt: %d", c->attempt);
	c->headers = curl_slist_append(c->headers, h.data);
	if (c->auth[0] != '\0') {
		buf_reset(&h);
		buf_printf(&h, "Authorization: %s", c->auth);
		c->headers = curl_slist_append(c->headers, h.data);
		buf_wipe(&h);
	}
	/* No "Expect: 100-continue" round trip for larger bodies. */
	c->headers = curl_slist_append(c->headers, "Expect:");
	buf_free(&h);
	if (c->headers == NULL)
		return -1;
	(void)curl_easy_setopt(c->easy, CURLOPT_URL, c->url);
	(void)curl_easy_setopt(c->easy, CURLOPT_PROTOCOLS_STR, o->https_only ? "https" : "http,https");
	(void)curl_easy_setopt(c->easy, CURLOPT_FOLLOWLOCATION, 0L);
	(void)curl_easy_setopt(c->easy, CURLOPT_POST, 1L);
	(void)curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->payload);
	(void)curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(c->payload));
	(void)curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
	(void)curl_easy_setopt(c->easy, CURLOPT_USERAGENT, USER_AGENT);
	(void)curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, timeout);
	(void)curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS, timeout < 30000 ? timeout : 30000L);
	(void)curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
	(void)curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, write_cb);
	(void)curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
	(void)curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->errbuf);
	(void)curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
	return 0;
}

static void
call_free(struct call *c)
{
	if (c->easy != NULL)
		curl_easy_cleanup(c->easy);
	curl_slist_free_all(c->headers);
	free(c->url);
	if (c->auth != NULL)
		explicit_bzero(c->auth, strlen(c->auth));
	free(c->auth);
	free(c->payload);
	free(c->event);
	free(c->error);
	buf_free(&c->response);
}

static void
call_done(struct call *c, CURLcode res)
{
	c->duration_ms = ms_mono_ms() - c->t0;
	if (res != CURLE_OK) {
		c->error = xasprintf("http transaction: %s",
			c->errbuf[0] ? c->errbuf : curl_easy_strerror(res));
		return;
	}
	(void)curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->code);
	/* The reference wants exactly 200; any 2xx is success here, as
	 * receivers commonly answer 204. */
	c->success = c->code >= 200 && c->code < 300;
	if (!c->success)
		c->error = xasprintf("http status %ld, expected 2xx", c->code);
}

/* POST all calls concurrently; returns when each has a result. */
static void
post_all(struct call *calls, size_t n, const struct webhook_send_opts *o)
{
	CURLM *m = curl_multi_init();
	CURLMsg *msg;
	int running = 0, left;
	size_t i;

	for (i = 0; i < n; i++) {
		calls[i].t0 = ms_mono_ms();
		if (m == NULL || call_setup(&calls[i], o) < 0 ||
		    curl_multi_add_handle(m, calls[i].easy) != CURLM_OK) {
			calls[i].error = xstrdup("cannot set up the HTTP request");
			calls[i].duration_ms = 0;
			if (calls[i].easy != NULL) {
				curl_easy_cleanup(calls[i].easy);
				calls[i].easy = NULL;
			}
		}
	}
	if (m == NULL)
		return;
	do {
		if (curl_multi_perform(m, &running) != CURLM_OK)
			break;
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			struct call *c = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			(void)curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
			if (c != NULL)
				call_done(c, msg->data.result);
		}
		if (running > 0 && curl_multi_poll(m, NULL, 0, 1000, NULL) != CURLM_OK)
			break;
	} while (running > 0);
	for (i = 0; i < n; i++) {
		if (calls[i].easy == NULL)
			continue;
		if (calls[i].error == NULL && !calls[i].success)
			calls[i].error = xstrdup("http transaction did not complete");
		(void)curl_multi_remove_handle(m, calls[i].easy);
	}
	curl_multi_cleanup(m);
}

/* Claim: at most max due calls, one per URL, each counted as an attempt
 * with its next attempt set by the backoff (with 1% jitter) and a
 * placeholder result, committed before any POST. */
#define CLAIM_SQL \
	"WITH cand AS (SELECT id, url, next_attempt FROM webhook_queue" \
	"  WHERE next_attempt <= now() ORDER BY next_attempt, id LIMIT 200" \
	"  FOR UPDATE SKIP LOCKED)," \
	" one AS (SELECT DISTINCT ON (url) id, next_attempt FROM cand" \
	"  ORDER BY url, next_attempt, id)," \
	" pick AS (SELECT id FROM one ORDER BY next_attempt, id LIMIT $1::int)" \
	" UPDATE webhook_queue w SET attempts = w.attempts + 1," \
	"  next_attempt = now() + coalesce((ARRAY[60, 120, 240, 450, 900, 1800, 3600, 7200," \
	"   14400, 28800, 57600])[w.attempts + 1], 115200) * (0.99 + random() * 0.02)" \
	"   * interval '1 second'," \
	"  results = w.results || jsonb_build_array(jsonb_build_object('start', $2::text," \
	"   'duration_ms', 0, 'url', w.url, 'success', false, 'code', 0," \
	"   'error', 'delivering', 'response', ''))" \
	" FROM pick WHERE w.id = pick.id" \
	" RETURNING w.id, w.account_id, w.attempts, w.url, w.authorization_header, w.payload," \
	"  CASE WHEN w.is_incoming THEN 'incoming' ELSE w.outgoing_event END"

struct claim_ctx {
	unsigned max;
	const char *start;
	PGresult *res;
};

static int
claim_tx(PGconn *c, void *arg, const char **error_r)
{
	struct claim_ctx *ctx = arg;

	PQclear(ctx->res);
	ctx->res = db_execv(c, error_r, CLAIM_SQL, 2, db_i64(ctx->max), ctx->start);
	return ctx->res == NULL ? -1 : 0;
}

static void
json_string(struct buf *out, const char *s, size_t n)
{
	struct buf clean, raw;
	size_t i;

	buf_init(&clean);
	buf_init(&raw);
	buf_append(&raw, s, n);
	for (i = 0; i < raw.len; i++)
		if (raw.data[i] == '\0')
			raw.data[i] = ' ';
	queue_utf8_sanitize(&clean, raw.data);
	buf_putc(out, '"');
	for (i = 0; i < clean.len; i++) {
		unsigned char ch = (unsigned char)clean.data[i];

		if (ch == '"' || ch == '\\')
			buf_printf(out, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			buf_printf(out, "\\u%04x", ch);
		else
			buf_putc(out, (char)ch);
	}
	buf_putc(out, '"');
	buf_free(&clean);
	buf_free(&raw);
}

/* The attempt's entry of the results array. */
static void
attempt_json(struct buf *out, const char *start, const struct call *c, bool superseded)
{
	struct buf err;

	buf_init(&err);
	buf_puts(&err, c->error ? c->error : "");
	if (superseded)
		buf_puts(&err, " (superseded)");
	buf_printf(out, "{\"start\":\"%s\",\"duration_ms\":%lld,\"url\":", start,
		(long long)c->duration_ms);
	json_string(out, c->url, strlen(c->url));
	buf_printf(out, ",\"success\":%s,\"code\":%ld,\"error\":", c->success ? "true" : "false",
		c->code);
	json_string(out, err.data, err.len);
	buf_puts(out, ",\"response\":");
	json_string(out, c->response.data, c->response.len);
	buf_putc(out, '}');
	buf_free(&err);
}

/* Record the result: keep the call for a retry, or retire it; a call
 * that left the queue meanwhile (superseded, canceled) gets the result
 * appended to its retired row, if any. */
static void
record(struct store *st, const char *start, struct call *c)
{
	bool final = c->success || c->attempt >= WEBHOOK_MAX_ATTEMPTS;
	struct buf res_json, gone_json;
	const char *error;
	PGresult *res;
	PGconn *conn;
	int64_t n = 0;

	buf_init(&res_json);
	buf_init(&gone_json);
	attempt_json(&res_json, start, c, false);
	attempt_json(&gone_json, start, c, true);
	conn = db_get(st->pool, &error);
	if (conn == NULL)
		goto fail;
	if (final)
		res = db_execv(conn, &error,
			"WITH d AS (DELETE FROM webhook_queue WHERE id = $1 RETURNING *),"
			" r AS (INSERT INTO webhook_retired (id, queue_msg_id, from_id, message_id,"
			"  subject, extra, account_id, url, has_authorization, is_incoming, outgoing_event,"
			"  payload, submitted, attempts, results, success, last_activity, keep_until)"
			"  SELECT d.id, d.queue_msg_id, d.from_id, d.message_id, d.subject, d.extra,"
			"   d.account_id, d.url, d.authorization_header <> '', d.is_incoming, d.outgoing_event,"
			"   d.payload, d.submitted, d.attempts, jsonb_set(d.results, '{-1}', $2::jsonb),"
			"   $3::boolean, now(), now() + a.keep_retired_webhook_period"
			"  FROM d JOIN accounts a ON a.id = d.account_id"
			"  WHERE a.keep_retired_webhook_period > '0')"
			" SELECT count(*) FROM d",
			3, db_i64(c->id), res_json.data, c->success ? "true" : "false");
	else
		res = db_execv(conn, &error,
			"WITH u AS (UPDATE webhook_queue SET results = jsonb_set(results, '{-1}', $2::jsonb)"
			"  WHERE id = $1 RETURNING id) SELECT count(*) FROM u",
			2, db_i64(c->id), res_json.data);
	if (res == NULL)
		goto fail;
	n = db_get_i64(res, 0, 0);
	PQclear(res);
	if (n == 0 && db_cmd(conn, &error,
		    "UPDATE webhook_retired SET results = results || jsonb_build_array($2::jsonb)"
		    " WHERE id = $1", 2, db_i64(c->id), gone_json.data) < 0)
		goto fail;
	db_put(st->pool, conn);
	buf_free(&res_json);
	buf_free(&gone_json);
	return;
fail:
	/* The claim already set the next attempt: the call is retried then. */
	log_error(NULL, "ev=webhook-record webhook=%lld error=%s", (long long)c->id, lq(error));
	if (conn != NULL)
		db_put(st->pool, conn);
	buf_free(&res_json);
	buf_free(&gone_json);
}

static void
cleanup_retired(struct store *st)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	static int64_t last;
	int64_t now = ms_now();
	const char *error;
	PGconn *c;

	pthread_mutex_lock(&mu);
	if (now - last < 3600) {
		pthread_mutex_unlock(&mu);
		return;
	}
	last = now;
	pthread_mutex_unlock(&mu);
	c = db_get(st->pool, &error);
	if (c == NULL || db_cmd(c, &error,
		    "DELETE FROM webhook_retired WHERE keep_until < now()", 0) < 0)
		log_warn(NULL, "ev=webhook-cleanup error=%s", lq(error));
	if (c != NULL)
		db_put(st->pool, c);
}

int
webhook_process(struct store *st, const struct webhook_send_opts *o, int64_t *next_due_ms_r,
	const char **error_r)
{
	struct claim_ctx cc;
	struct call *calls;
	struct buf start;
	PGresult *res;
	PGconn *conn;
	size_t n, i;

	webhook_global_init();
	cleanup_retired(st);
	if (next_due_ms_r != NULL)
		*next_due_ms_r = 0;
	buf_init(&start);
	webhook_json_time(&start, ms_now_ms() * 1000);
	/* Without the quotes the JSON string writer added. */
	buf_consume(&start, 1);
	buf_truncate(&start, start.len - 1);
	memset(&cc, 0, sizeof(cc));
	cc.max = o->max_concurrent ? o->max_concurrent : DEFAULT_CONCURRENT;
	cc.start = start.data;
	if (db_tx(st->pool, claim_tx, &cc, error_r) != 0) {
		PQclear(cc.res);
		buf_free(&start);
		return -1;
	}
	n = (size_t)PQntuples(cc.res);
	calls = xcalloc(n ? n : 1, sizeof(*calls));
	for (i = 0; i < n; i++) {
		calls[i].id = db_get_i64(cc.res, (int)i, 0);
		calls[i].account_id = db_get_i64(cc.res, (int)i, 1);
		calls[i].attempt = (int)db_get_i64(cc.res, (int)i, 2);
		calls[i].url = xstrdup(PQgetvalue(cc.res, (int)i, 3));
		calls[i].auth = xstrdup(PQgetvalue(cc.res, (int)i, 4));
		calls[i].payload = xstrdup(PQgetvalue(cc.res, (int)i, 5));
		calls[i].event = xstrdup(PQgetvalue(cc.res, (int)i, 6));
		buf_init(&calls[i].response);
		if (o->https_only && !ms_startswith_ci(calls[i].url, "https://"))
			log_warn(NULL, "ev=webhook webhook=%lld note=not-https", (long long)calls[i].id);
	}
	PQclear(cc.res);
	if (n > 0)
		post_all(calls, n, o);
	for (i = 0; i < n; i++) {
		struct call *c = &calls[i];
		bool final = c->success || c->attempt >= WEBHOOK_MAX_ATTEMPTS;

		record(st, start.data, c);
		if (c->success)
			log_info(NULL, "ev=webhook webhook=%lld account_id=%lld event=%s attempt=%d "
				"result=ok code=%ld duration_ms=%lld", (long long)c->id,
				(long long)c->account_id, c->event, c->attempt, c->code,
				(long long)c->duration_ms);
		else
			log_info(NULL, "ev=webhook webhook=%lld account_id=%lld event=%s attempt=%d "
				"result=%s code=%ld error=%s duration_ms=%lld", (long long)c->id,
				(long long)c->account_id, c->event, c->attempt,
				final ? "failed" : "retry", c->code, lq(c->error),
				(long long)c->duration_ms);
		call_free(c);
	}
	free(calls);
	buf_free(&start);
	if (next_due_ms_r != NULL) {
		conn = db_get(st->pool, error_r);
		if (conn == NULL)
			return -1;
		res = db_execv(conn, error_r,
			"SELECT floor(extract(epoch FROM min(next_attempt)) * 1000)::bigint"
			" FROM webhook_queue", 0);
		db_put(st->pool, conn);
		if (res == NULL)
			return -1;
		*next_due_ms_r = db_get_i64(res, 0, 0);
		PQclear(res);
	}
	return (int)n;
}

/* ---- the sender thread ---- */

struct webhook_sender {
	struct store *st;
	struct webhook_send_opts o;
	struct db_listener *l;
	uint64_t sub;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool kicked, stop;
};

static void
on_notify(void *arg, const char *channel, const char *payload)
{
	struct webhook_sender *ws = arg;

	pthread_mutex_lock(&ws->mu);
	ws->kicked = true;
	pthread_cond_signal(&ws->cv);
	pthread_mutex_unlock(&ws->mu);
}

static void *
sender_main(void *arg)
{
	struct webhook_sender *ws = arg;

	pthread_mutex_lock(&ws->mu);
	while (!ws->stop) {
		const char *error;
		int64_t next = 0, now, wait_ms;
		int n;

		ws->kicked = false;
		pthread_mutex_unlock(&ws->mu);
		n = webhook_process(ws->st, &ws->o, &next, &error);
		if (n < 0)
			log_error(NULL, "ev=webhook-process error=%s", lq(error));
		now = ms_now_ms();
		/* Calls just claimed are in the future now; when there was
		 * work, look again at once (more may be due). */
		wait_ms = ws->l != NULL ? 60000 : 5000;
		if (n > 0)
			wait_ms = 0;
		else if (n < 0)
			wait_ms = 5000;
		else if (next > 0 && next - now < wait_ms)
			wait_ms = next - now > 0 ? next - now : 0;
		pthread_mutex_lock(&ws->mu);
		if (wait_ms > 0 && !ws->kicked && !ws->stop) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += (time_t)(wait_ms / 1000);
			ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			while (!ws->kicked && !ws->stop &&
			       pthread_cond_timedwait(&ws->cv, &ws->mu, &ts) != ETIMEDOUT)
				;
		}
	}
	pthread_mutex_unlock(&ws->mu);
	return NULL;
}

struct webhook_sender *
webhook_sender_start(struct store *st, struct db_listener *l,
	const struct webhook_send_opts *o, const char **error_r)
{
	struct webhook_sender *ws = xcalloc(1, sizeof(*ws));

	webhook_global_init();
	ws->st = st;
	ws->o = *o;
	ws->l = l;
	pthread_mutex_init(&ws->mu, NULL);
	pthread_cond_init(&ws->cv, NULL);
	if (l != NULL)
		ws->sub = db_listener_subscribe(l, WEBHOOK_NOTIFY_CHANNEL, on_notify, ws);
	if (pthread_create(&ws->thread, NULL, sender_main, ws) != 0) {
		*error_r = "cannot start the webhook sender thread";
		if (l != NULL)
			db_listener_unsubscribe(l, ws->sub);
		pthread_mutex_destroy(&ws->mu);
		pthread_cond_destroy(&ws->cv);
		free(ws);
		return NULL;
	}
	return ws;
}

void
webhook_sender_stop(struct webhook_sender **wsp)
{
	struct webhook_sender *ws = *wsp;

	if (ws == NULL)
		return;
	if (ws->l != NULL)
		db_listener_unsubscribe(ws->l, ws->sub);
	pthread_mutex_lock(&ws->mu);
	ws->stop = true;
	pthread_cond_signal(&ws->cv);
	pthread_mutex_unlock(&ws->mu);
	pthread_join(ws->thread, NULL);
	pthread_mutex_destroy(&ws->mu);
	pthread_cond_destroy(&ws->cv);
	free(ws);
	*wsp = NULL;
}
