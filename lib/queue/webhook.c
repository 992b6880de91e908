/* Webhook queue: queueing outgoing-event and incoming-message calls (with
 * superseding), and the administration of waiting and retired calls and
 * of the accounts' webhook settings. Sending is webhook_send.c. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "mail/addr.h"
#include "queue/queue.h"
#include "queue/queue_private.h"
#include "queue/webhook.h"
#include "queue/webhook_private.h"
#include "store/store.h"

static bool
in_text_array(const char *arr, const char *word)
{
	/* PostgreSQL text[] output of event names: "{a,b}" (names need no
	 * quoting). */
	size_t wl = strlen(word);
	const char *p = arr;

	if (p[0] == '{')
		p++;
	while (*p != '\0' && *p != '}') {
		size_t l = strcspn(p, ",}");

		if (l == wl && strncmp(p, word, wl) == 0)
			return true;
		p += l;
		if (*p == ',')
			p++;
	}
	return false;
}

/* ---- outgoing ---- */

/* Insert calls given as parallel arrays and retire what they supersede,
 * in one statement. */
#define INSERT_CALLS \
	"WITH v AS (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[]," \
	"  $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])" \
	"  AS v(account_id, queue_msg_id, from_id, message_id, subject, extra, url, auth," \
	"   event, payload))," \
	" n AS (INSERT INTO webhook_queue (account_id, queue_msg_id, from_id, message_id," \
	"  subject, extra, url, authorization_header, is_incoming, outgoing_event, payload," \
	"  submitted, next_attempt)" \
	"  SELECT account_id, queue_msg_id, from_id, message_id, subject, extra::jsonb, url," \
	"   auth, event = '', event, payload, to_timestamp($11::float8 / 1000000)," \
	"   to_timestamp($11::float8 / 1000000) FROM v RETURNING id, queue_msg_id)," \
	/* The CTE's DELETE does not see the rows n inserts (one snapshot): \
	 * only older calls are superseded. */ \
	" o AS (DELETE FROM webhook_queue w USING n" \
	"  WHERE n.queue_msg_id <> 0 AND w.queue_msg_id = n.queue_msg_id" \
	"  RETURNING w.*, n.id AS superseded_by)" \
	" INSERT INTO webhook_retired (id, queue_msg_id, from_id, message_id, subject, extra," \
	"  account_id, url, has_authorization, is_incoming, outgoing_event, payload, submitted," \
	"  superseded_by_id, attempts, results, success, last_activity, keep_until)" \
	" SELECT o.id, o.queue_msg_id, o.from_id, o.message_id, o.subject, o.extra," \
	"  o.account_id, o.url, o.authorization_header <> '', o.is_incoming, o.outgoing_event," \
	"  o.payload, o.submitted, o.superseded_by, o.attempts, o.results, false, now()," \
	"  now() + a.keep_retired_webhook_period" \
	" FROM o JOIN accounts a ON a.id = o.account_id" \
	" WHERE a.keep_retired_webhook_period > '0'"

struct call_arrays {
	const char **account, **qid, **from_id, **message_id, **subject, **extra, **url,
		**auth, **event, **payload;
	char **owned;	/* strings to free */
	size_t n, nowned, cap;
};

static void
arrays_init(struct call_arrays *a, size_t cap)
{
	memset(a, 0, sizeof(*a));
	a->cap = cap ? cap : 1;
	a->account = xcalloc(a->cap, sizeof(char *));
	a->qid = xcalloc(a->cap, sizeof(char *));
	a->from_id = xcalloc(a->cap, sizeof(char *));
	a->message_id = xcalloc(a->cap, sizeof(char *));
	a->subject = xcalloc(a->cap, sizeof(char *));
	a->extra = xcalloc(a->cap, sizeof(char *));
	a->url = xcalloc(a->cap, sizeof(char *));
	a->auth = xcalloc(a->cap, sizeof(char *));
	a->event = xcalloc(a->cap, sizeof(char *));
	a->payload = xcalloc(a->cap, sizeof(char *));
	a->owned = xcalloc(a->cap * 8, sizeof(char *));
}

static const char *
own(struct call_arrays *a, char *s)
{
	a->owned[a->nowned++] = s;
	return s;
}

static const char *
own_utf8(struct call_arrays *a, const char *s)
{
	struct buf b;

	buf_init(&b);
	queue_utf8_sanitize(&b, s ? s : "");
	return own(a, buf_steal(&b));
}

static void
arrays_free(struct call_arrays *a)
{
	size_t i;

	for (i = 0; i < a->nowned; i++)
		free(a->owned[i]);
	free(a->owned);
	free(a->account);
	free(a->qid);
	free(a->from_id);
	free(a->message_id);
	free(a->subject);
	free(a->extra);
	free(a->url);
	free(a->auth);
	free(a->event);
	free(a->payload);
}

static int
arrays_insert(PGconn *c, const struct call_arrays *a, int64_t now_us, const char **error_r)
{
	struct buf arr[10];
	const char *params[11];
	const char **cols[10] = { a->account, a->qid, a->from_id, a->message_id, a->subject,
		a->extra, a->url, a->auth, a->event, a->payload };
	PGresult *res;
	int i;

	for (i = 0; i < 10; i++) {
		buf_init(&arr[i]);
		db_text_array(&arr[i], cols[i], a->n);
		params[i] = arr[i].data;
	}
	params[10] = db_i64(now_us);
	res = db_exec(c, INSERT_CALLS, 11, params, error_r);
	for (i = 0; i < 10; i++)
		buf_free(&arr[i]);
	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

int
webhook_outgoing_add_tx(PGconn *c, const struct webhook_outgoing_event *ev, size_t n,
	size_t *queued_r, const char **error_r)
{
	struct call_arrays a;
	struct buf ids;
	int64_t *acct, now_us = ms_now_ms() * 1000;
	PGresult *res = NULL;
	size_t i, j, nacct = 0;
	int rc = -1, k, rows;

	if (queued_r != NULL)
		*queued_r = 0;
	buf_init(&ids);
	acct = xcalloc(n + 1, sizeof(*acct));
	for (i = 0; i < n; i++) {
		if (ev[i].account_id <= 0 || !webhook_event_valid(ev[i].event))
			continue;
		for (j = 0; j < nacct && acct[j] != ev[i].account_id; j++)
			;
		if (j == nacct)
			acct[nacct++] = ev[i].account_id;
	}
	arrays_init(&a, n);
	if (nacct == 0) {
		rc = 0;
		goto out;
	}
	db_i64_array(&ids, acct, nacct);
	res = db_execv(c, error_r,
		"SELECT id, outgoing_webhook_url, outgoing_webhook_authorization,"
		" outgoing_webhook_events::text FROM accounts"
		" WHERE id = ANY($1::bigint[]) AND outgoing_webhook_url <> ''", 1, ids.data);
	if (res == NULL)
		goto out;
	rows = PQntuples(res);
	for (i = 0; i < n; i++) {
		const struct webhook_outgoing_event *e = &ev[i];
		struct buf payload, extra;

		if (e->account_id <= 0 || !webhook_event_valid(e->event))
			continue;
		/* Of several events for one queue message, the last counts. */
		for (j = i + 1; e->queue_msg_id != 0 && j < n; j++)
			if (ev[j].queue_msg_id == e->queue_msg_id && ev[j].account_id > 0 &&
			    webhook_event_valid(ev[j].event))
				break;
		if (e->queue_msg_id != 0 && j < n)
			continue;
		for (k = 0; k < rows && db_get_i64(res, k, 0) != e->account_id; k++)
			;
		if (k == rows)
			continue;
		if (strcmp(PQgetvalue(res, k, 3), "{}") != 0 &&
		    !in_text_array(PQgetvalue(res, k, 3), e->event))
			continue;
		buf_init(&payload);
		buf_init(&extra);
		webhook_outgoing_json(&payload, e, now_us);
		webhook_extra_json(&extra, e->extra);
		a.account[a.n] = own(&a, xstrdup(db_i64(e->account_id)));
		a.qid[a.n] = own(&a, xstrdup(db_i64(e->queue_msg_id)));
		a.from_id[a.n] = own_utf8(&a, e->from_id);
		a.message_id[a.n] = own_utf8(&a, e->message_id);
		a.subject[a.n] = own_utf8(&a, e->subject);
		a.extra[a.n] = own(&a, buf_steal(&extra));
		a.url[a.n] = PQgetvalue(res, k, 1);
		a.auth[a.n] = PQgetvalue(res, k, 2);
		a.event[a.n] = e->event;
		a.payload[a.n] = own(&a, buf_steal(&payload));
		a.n++;
		buf_free(&payload);
		buf_free(&extra);
	}
	if (a.n > 0) {
		if (arrays_insert(c, &a, now_us, error_r) < 0 ||
		    db_cmd(c, error_r, "SELECT pg_notify($1, '')", 1, WEBHOOK_NOTIFY_CHANNEL) < 0)
			goto out;
	}
	if (queued_r != NULL)
		*queued_r = a.n;
	rc = 0;
out:
	PQclear(res);
	arrays_free(&a);
	buf_free(&ids);
	free(acct);
	return rc;
}

struct outgoing_ctx {
	const struct webhook_outgoing_event *ev;
	size_t n, queued;
};

static int
outgoing_tx(PGconn *c, void *arg, const char **error_r)
{
	struct outgoing_ctx *ctx = arg;

	return webhook_outgoing_add_tx(c, ctx->ev, ctx->n, &ctx->queued, error_r);
}

int
webhook_outgoing_add(struct store *st, const struct webhook_outgoing_event *ev, size_t n,
	size_t *queued_r, const char **error_r)
{
	struct outgoing_ctx ctx = { ev, n, 0 };
	int rc = db_tx(st->pool, outgoing_tx, &ctx, error_r);

	if (queued_r != NULL)
		*queued_r = rc == 0 ? ctx.queued : 0;
	return rc == 0 ? 0 : -1;
}

int
webhook_queue_rows_tx(PGconn *c, const char *ids, const char *event, const char *error,
	int code, const char *secode, size_t *queued_r, const char **error_r)
{
	struct webhook_outgoing_event *ev;
	PGresult *res;
	size_t n, i;
	int rc;

	if (queued_r != NULL)
		*queued_r = 0;
	res = db_execv(c, error_r,
		"SELECT q.id, q.sender_account_id, q.from_id, q.message_id, q.subject,"
		" q.extra::text, coalesce(q.results->-1->>'error', '')"
		" FROM queue q JOIN accounts a ON a.id = q.sender_account_id"
		" WHERE q.id = ANY($1::bigint[]) AND a.outgoing_webhook_url <> ''"
		" ORDER BY q.id", 1, ids);
	if (res == NULL)
		return -1;
	n = (size_t)PQntuples(res);
	ev = xcalloc(n ? n : 1, sizeof(*ev));
	for (i = 0; i < n; i++) {
		ev[i].queue_msg_id = db_get_i64(res, (int)i, 0);
		ev[i].account_id = db_get_i64(res, (int)i, 1);
		ev[i].event = event;
		ev[i].from_id = PQgetvalue(res, (int)i, 2);
		ev[i].message_id = PQgetvalue(res, (int)i, 3);
		ev[i].subject = PQgetvalue(res, (int)i, 4);
		ev[i].extra = PQgetvalue(res, (int)i, 5);
		ev[i].error = error != NULL ? error : PQgetvalue(res, (int)i, 6);
		ev[i].smtp_code = code;
		ev[i].smtp_secode = secode;
	}
	rc = n > 0 ? webhook_outgoing_add_tx(c, ev, n, queued_r, error_r) : 0;
	free(ev);
	PQclear(res);
	return rc;
}

/* ---- incoming ---- */

/* A copy about a message the account sent (its from_id in the address). */
struct fromid_match {
	int64_t queue_msg_id;
	int64_t account_id;
	char *from_id, *message_id, *subject, *extra;
	char *rcpt_localpart, *rcpt_domain;	/* of the sent message */
};

struct webhook_incoming_ctx {
	struct webhook_incoming *wi;	/* NULL when no copy needs it */
	size_t naccounts;
	int64_t *account_ids;
	char **urls, **auths;	/* incoming URL and Authorization, "" if none */
	/* Per recipient index (n entries): the message it is about. */
	size_t n;
	struct fromid_match *matches;	/* queue_msg_id 0: none */
	struct webhook_dsn dsn;
	size_t queued;	/* calls inserted by the last webhook_incoming_tx */
};

void
webhook_incoming_ctx_free(struct webhook_incoming_ctx **ctxp)
{
	struct webhook_incoming_ctx *ctx = *ctxp;
	size_t i;

	if (ctx == NULL)
		return;
	webhook_incoming_free(&ctx->wi);
	for (i = 0; i < ctx->naccounts; i++) {
		free(ctx->urls[i]);
		if (ctx->auths[i] != NULL)
			explicit_bzero(ctx->auths[i], strlen(ctx->auths[i]));
		free(ctx->auths[i]);
	}
	for (i = 0; i < ctx->n; i++) {
		free(ctx->matches[i].from_id);
		free(ctx->matches[i].message_id);
		free(ctx->matches[i].subject);
		free(ctx->matches[i].extra);
		free(ctx->matches[i].rcpt_localpart);
		free(ctx->matches[i].rcpt_domain);
	}
	free(ctx->matches);
	free(ctx->account_ids);
	free(ctx->urls);
	free(ctx->auths);
	free(ctx);
	*ctxp = NULL;
}

/* prefix + file contents into out. */
static int
read_message(const char *path, const char *prefix, size_t prefix_len, struct buf *out,
	const char **error_r)
{
	struct stat stb;
	void *map = NULL;
	int fd;

	buf_append(out, prefix ? prefix : "", prefix ? prefix_len : 0);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &stb) < 0) {
		*error_r = ms_err("opening message %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (stb.st_size > 0) {
		map = mmap(NULL, (size_t)stb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			*error_r = ms_err("mapping message: %s", strerror(errno));
			close(fd);
			return -1;
		}
		buf_append(out, map, (size_t)stb.st_size);
		munmap(map, (size_t)stb.st_size);
	}
	close(fd);
	return 0;
}

static size_t
account_index(const struct webhook_incoming_ctx *ctx, int64_t account_id)
{
	size_t k;

	for (k = 0; k < ctx->naccounts && ctx->account_ids[k] != account_id; k++)
		;
	return k;
}

/* Which copies are about a message the account sent: the localpart cut at
 * the domain's first catch-all separator leaves the from_id of a retired
 * message of the same account (the reference matches only retired
 * messages: those kept by keep_retired_message_period). One query for all
 * recipients, webhooks or not: a DSN about a sent message also goes to
 * that message's results and, when it failed, to the suppression list
 * (webhook_incoming_tx). Returns the number of matches or -1. */
static int
match_fromids(PGconn *c, struct webhook_incoming_ctx *ctx, const struct store_rcpt *rcpts,
	size_t n, const char **error_r)
{
	const char **idx = xcalloc(n + 1, sizeof(char *)), **lp = xcalloc(n + 1, sizeof(char *)),
		**dom = xcalloc(n + 1, sizeof(char *)), **acct = xcalloc(n + 1, sizeof(char *));
	char **owned = xcalloc(2 * n + 1, sizeof(char *));
	struct buf a1, a2, a3, a4;
	PGresult *res = NULL;
	size_t i, m = 0, nowned = 0;
	int rc = -1, r;

	for (i = 0; i < n; i++) {
		if (rcpts[i].is_reject || rcpts[i].account_id <= 0 ||
		    rcpts[i].rcpt_localpart == NULL || rcpts[i].rcpt_domain == NULL ||
		    rcpts[i].rcpt_localpart[0] == '\0')
			continue;
		idx[m] = owned[nowned++] = xasprintf("%zu", i);
		acct[m] = owned[nowned++] = xstrdup(db_i64(rcpts[i].account_id));
		lp[m] = rcpts[i].rcpt_localpart;
		dom[m] = rcpts[i].rcpt_domain;
		m++;
	}
	buf_init(&a1);
	buf_init(&a2);
	buf_init(&a3);
	buf_init(&a4);
	if (m == 0) {
		rc = 0;
		goto out;
	}
	db_text_array(&a1, idx, m);
	db_text_array(&a2, lp, m);
	db_text_array(&a3, dom, m);
	db_text_array(&a4, acct, m);
	res = db_execv(c, error_r,
		"SELECT r.i, q.id, q.from_id, q.message_id, q.subject, q.extra::text,"
		" q.recipient_localpart, q.recipient_domain, q.sender_account_id"
		" FROM unnest($1::int[], $2::text[], $3::text[], $4::bigint[]) AS r(i, lp, dom, acct)"
		" JOIN domains d ON d.name = r.dom AND d.localpart_catchall_separators <> ''"
		" JOIN queue_retired q ON q.from_id <> ''"
		"  AND strpos(r.lp, left(d.localpart_catchall_separators, 1)) > 0"
		"  AND q.from_id = substr(r.lp, strpos(r.lp, left(d.localpart_catchall_separators, 1)) + 1)"
		"  AND q.sender_account_id = r.acct",
		4, a1.data, a2.data, a3.data, a4.data);
	if (res == NULL)
		goto out;
	for (r = 0; r < PQntuples(res); r++) {
		uint64_t k;
		struct fromid_match *fm;

		if (ms_parse_u64(PQgetvalue(res, r, 0), 0, n - 1, &k) < 0)
			continue;
		fm = &ctx->matches[k];
		if (fm->queue_msg_id != 0)
			continue;
		fm->queue_msg_id = db_get_i64(res, r, 1);
		fm->from_id = xstrdup(PQgetvalue(res, r, 2));
		fm->message_id = xstrdup(PQgetvalue(res, r, 3));
		fm->subject = xstrdup(PQgetvalue(res, r, 4));
		fm->extra = xstrdup(PQgetvalue(res, r, 5));
		fm->rcpt_localpart = xstrdup(PQgetvalue(res, r, 6));
		fm->rcpt_domain = xstrdup(PQgetvalue(res, r, 7));
		fm->account_id = db_get_i64(res, r, 8);
	}
	rc = PQntuples(res);
out:
	PQclear(res);
	for (i = 0; i < nowned; i++)
		free(owned[i]);
	free(owned);
	free(idx);
	free(lp);
	free(dom);
	free(acct);
	buf_free(&a1);
	buf_free(&a2);
	buf_free(&a3);
	buf_free(&a4);
	return rc;
}

int
webhook_incoming_prepare(struct store *st, const char *path, const char *prefix,
	size_t prefix_len, const struct webhook_incoming_meta *meta,
	const struct store_rcpt *rcpts, size_t n, struct webhook_incoming_ctx **ctx_r,
	const char **error_r)
{
	struct webhook_incoming_ctx *ctx;
	struct buf ids, msg;
	int64_t *acct = xcalloc(n + 1, sizeof(*acct));
	bool need_incoming = false;
	PGresult *res;
	PGconn *c;
	size_t i, j, nacct = 0;
	int nmatch = 0;

	*ctx_r = NULL;
	for (i = 0; i < n; i++) {
		if (rcpts[i].is_reject)
			continue;
		for (j = 0; j < nacct && acct[j] != rcpts[i].account_id; j++)
			;
		if (j == nacct)
			acct[nacct++] = rcpts[i].account_id;
	}
	if (nacct == 0) {
		free(acct);
		return 0;
	}
	buf_init(&ids);
	db_i64_array(&ids, acct, nacct);
	free(acct);
	c = db_get(st->pool, error_r);
	if (c == NULL) {
		buf_free(&ids);
		return -1;
	}
	/* Accounts with webhooks; then the fromid match, which also
	 * matters without webhooks (DSNs about sent messages). */
	res = db_exec_prepared(c, "webhook_incoming_accounts",
		"SELECT id, incoming_webhook_url, incoming_webhook_authorization,"
		" outgoing_webhook_url <> '' FROM accounts"
		" WHERE id = ANY($1::bigint[])"
		" AND (incoming_webhook_url <> '' OR outgoing_webhook_url <> '')",
		1, (const char *const[]){ ids.data }, NULL, NULL, error_r);
	buf_free(&ids);
	if (res == NULL) {
		db_put(st->pool, c);
		return -1;
	}
	ctx = xcalloc(1, sizeof(*ctx));
	ctx->naccounts = (size_t)PQntuples(res);
	ctx->account_ids = xcalloc(ctx->naccounts + 1, sizeof(int64_t));
	ctx->urls = xcalloc(ctx->naccounts + 1, sizeof(char *));
	ctx->auths = xcalloc(ctx->naccounts + 1, sizeof(char *));
	for (i = 0; i < ctx->naccounts; i++) {
		ctx->account_ids[i] = db_get_i64(res, (int)i, 0);
		ctx->urls[i] = xstrdup(PQgetvalue(res, (int)i, 1));
		ctx->auths[i] = xstrdup(PQgetvalue(res, (int)i, 2));
	}
	PQclear(res);
	ctx->n = n;
	ctx->matches = xcalloc(n + 1, sizeof(*ctx->matches));
	nmatch = match_fromids(c, ctx, rcpts, n, error_r);
	db_put(st->pool, c);
	if (nmatch < 0) {
		webhook_incoming_ctx_free(&ctx);
		return -1;
	}
	for (i = 0; i < n; i++) {
		size_t k = account_index(ctx, rcpts[i].account_id);

		if (!rcpts[i].is_reject && k < ctx->naccounts && ctx->urls[k][0] != '\0' &&
		    ctx->matches[i].queue_msg_id == 0)
			need_incoming = true;
	}
	if (!need_incoming && nmatch == 0) {
		webhook_incoming_ctx_free(&ctx);
		return 0;
	}
	buf_init(&msg);
	if (read_message(path, prefix, prefix_len, &msg, error_r) < 0) {
		buf_free(&msg);
		webhook_incoming_ctx_free(&ctx);
		return -1;
	}
	if (need_incoming)
		ctx->wi = webhook_incoming_new(msg.data, msg.len, meta);
	if (nmatch > 0)
		webhook_dsn_parse(msg.data, msg.len, &ctx->dsn);
	buf_free(&msg);
	*ctx_r = ctx;
	return 1;
}

/* A DSN about the sent message fm, inside the delivery transaction: its
 * outcome is appended to the retired message's results (the delivery
 * attempt's history goes on after the message left the queue), and a
 * permanent failure puts the recipient on the sender account's
 * suppression list, as a 5xx at RCPT TO would have (the reference does
 * both). Only a DSN about exactly one recipient counts: the fromid names
 * one queue row, one recipient. */
static int
dsn_record(PGconn *c, const struct fromid_match *fm, const struct webhook_dsn *d,
	const char **error_r)
{
	bool failed = ms_strcaseeq(d->action, "failed");
	/* "failed" after our retries ran out with a 4xx is not the
	 * address's fault. */
	bool permanent = failed && !(d->code >= 400 && d->code < 500);
	struct buf res, err, sec;
	int rc;

	if (d->nrcpts != 1)
		return 0;
	buf_init(&res);
	buf_init(&err);
	buf_init(&sec);
	/* The parsed enhanced code lacks its class ("1.1", as the reference
	 * keeps it); results carry it whole. */
	if (d->secode[0] != '\0' && d->code >= 200 && d->code < 600)
		buf_printf(&sec, "%d.%s", d->code / 100, d->secode);
	buf_printf(&err, "DSN received: %s", d->action[0] ? d->action : "(no action)");
	if (d->code > 0)
		buf_printf(&err, " (%d%s%s)", d->code, sec.len > 0 ? " " : "",
			sec.len > 0 ? sec.data : "");
	queue_result_json(&res, ms_now_ms(), 0, ms_strcaseeq(d->action, "delivered") ||
		ms_strcaseeq(d->action, "relayed") || ms_strcaseeq(d->action, "expanded"),
		d->code, sec.len > 0 ? sec.data : "", err.data);
	rc = db_cmd(c, error_r,
		"UPDATE queue_retired SET results = results || jsonb_build_array($2::jsonb),"
		" last_activity = now() WHERE id = $1", 2, db_i64(fm->queue_msg_id), res.data);
	if (rc == 0 && permanent && fm->account_id > 0 && fm->rcpt_domain[0] != '\0') {
		int r = queue_suppression_add_tx(c, fm->account_id, fm->rcpt_localpart,
			fm->rcpt_domain, false, err.data, error_r);

		rc = r < 0 ? -1 : 0;
	}
	buf_free(&res);
	buf_free(&err);
	buf_free(&sec);
	return rc;
}

int
webhook_incoming_tx(PGconn *c, void *arg, const struct store_rcpt *rcpts, size_t n,
	const char **error_r)
{
	struct webhook_incoming_ctx *ctx = arg;
	struct webhook_outgoing_event *ev = xcalloc(n + 1, sizeof(*ev));
	struct call_arrays a;
	size_t i, k, nev = 0, nout = 0;
	int rc = 0;

	ctx->queued = 0;
	arrays_init(&a, n);
	for (i = 0; i < n; i++) {
		const struct store_rcpt *r = &rcpts[i];
		const struct fromid_match *fm = i < ctx->n ? &ctx->matches[i] : NULL;
		struct mail_addr ad;
		struct buf payload, rcpt;
		const char *mailbox;

		if (r->is_reject)
			continue;
		if (fm != NULL && fm->queue_msg_id != 0) {
			if (ctx->dsn.is_dsn && dsn_record(c, fm, &ctx->dsn, error_r) < 0) {
				rc = -1;
				break;
			}
			/* About a message we sent: only the outgoing webhook. */
			ev[nev].account_id = r->account_id;
			ev[nev].queue_msg_id = fm->queue_msg_id;
			ev[nev].event = webhook_dsn_event(&ctx->dsn);
			ev[nev].dsn = ctx->dsn.is_dsn;
			ev[nev].from_id = fm->from_id;
			ev[nev].message_id = fm->message_id;
			ev[nev].subject = fm->subject;
			ev[nev].extra = fm->extra;
			ev[nev].smtp_code = ctx->dsn.code;
			ev[nev].smtp_secode = ctx->dsn.secode;
			nev++;
			continue;
		}
		k = account_index(ctx, r->account_id);
		if (k == ctx->naccounts || ctx->urls[k][0] == '\0' || ctx->wi == NULL)
			continue;
		/* As store_deliver names the mailbox. */
		mailbox = r->mailbox == NULL || ms_strcaseeq(r->mailbox, "inbox") ?
			"Inbox" : r->mailbox;
		buf_init(&rcpt);
		if (r->rcpt_domain != NULL && r->rcpt_domain[0] != '\0') {
			memset(&ad, 0, sizeof(ad));
			ad.localpart = (char *)(r->rcpt_localpart ? r->rcpt_localpart : "");
			ad.domain = (char *)r->rcpt_domain;
			ad.domain_ascii = (char *)r->rcpt_domain;
			mail_addr_format(&rcpt, &ad, true);
		}
		buf_init(&payload);
		webhook_incoming_json(&payload, ctx->wi, r->message_id, rcpt.data, mailbox);
		buf_free(&rcpt);
		a.account[a.n] = own(&a, xstrdup(db_i64(r->account_id)));
		a.qid[a.n] = "0";
		a.from_id[a.n] = "";
		a.message_id[a.n] = webhook_incoming_message_id(ctx->wi);
		a.subject[a.n] = webhook_incoming_subject(ctx->wi);
		a.extra[a.n] = "{}";
		a.url[a.n] = ctx->urls[k];
		a.auth[a.n] = ctx->auths[k];
		a.event[a.n] = "";
		a.payload[a.n] = own(&a, buf_steal(&payload));
		a.n++;
		buf_free(&payload);
	}
	/* No NOTIFY for incoming calls here: see webhook_kick. (Outgoing
	 * events from DSNs notify; they are rare.) */
	if (rc == 0 && a.n > 0)
		rc = arrays_insert(c, &a, ms_now_ms() * 1000, error_r);
	if (rc == 0 && nev > 0)
		rc = webhook_outgoing_add_tx(c, ev, nev, &nout, error_r);
	if (rc == 0)
		ctx->queued = a.n + nout;
	arrays_free(&a);
	free(ev);
	return rc;
}

void
webhook_kick(struct store *st)
{
	const char *error;
	PGconn *c = db_get(st->pool, &error);

	if (c == NULL || db_cmd(c, &error, "SELECT pg_notify($1, '')", 1,
		    WEBHOOK_NOTIFY_CHANNEL) < 0)
		log_warn(NULL, "ev=webhook-kick-failed error=%s", lq(error));
	if (c != NULL)
		db_put(st->pool, c);
}

/* ---- administration ---- */

void
webhook_calls_free(struct webhook_call *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].account);
		free(v[i].url);
		free(v[i].event);
		free(v[i].from_id);
		free(v[i].message_id);
		free(v[i].subject);
		free(v[i].last_result);
		free(v[i].results);
		free(v[i].payload);
	}
	free(v);
}

/* Columns common to both tables, then per table: queue: authorization
 * set, next attempt; retired: authorization, success, superseded_by,
 * last_activity, keep_until. The last result is summarized in SQL:
 * "<code> <error>" or "ok <code>". */
#define CALL_COLUMNS \
	"SELECT w.id, w.queue_msg_id, a.name, w.url, w.is_incoming," \
	" CASE WHEN w.is_incoming THEN 'incoming' ELSE w.outgoing_event END," \
	" w.from_id, w.message_id, w.subject, floor(extract(epoch FROM w.submitted))::bigint," \
	" w.attempts, coalesce(CASE WHEN (w.results->-1->>'success')::boolean" \
	"  THEN 'ok ' || (w.results->-1->>'code') ELSE concat_ws(' ', nullif(w.results->-1->>'code', '0')," \
	"  w.results->-1->>'error') END, ''), w.results::text, w.payload,"
#define QUEUE_COLUMNS CALL_COLUMNS \
	" w.authorization_header <> '', floor(extract(epoch FROM w.next_attempt))::bigint," \
	" false, 0::bigint, 0::bigint, 0::bigint" \
	" FROM webhook_queue w JOIN accounts a ON a.id = w.account_id"
#define RETIRED_COLUMNS CALL_COLUMNS \
	" w.has_authorization, 0::bigint, w.success, w.superseded_by_id," \
	" floor(extract(epoch FROM w.last_activity))::bigint," \
	" floor(extract(epoch FROM w.keep_until))::bigint" \
	" FROM webhook_retired w JOIN accounts a ON a.id = w.account_id"

static void
call_from_row(const PGresult *res, int row, struct webhook_call *w)
{
	w->id = db_get_i64(res, row, 0);
	w->queue_msg_id = db_get_i64(res, row, 1);
	w->account = xstrdup(PQgetvalue(res, row, 2));
	w->url = xstrdup(PQgetvalue(res, row, 3));
	w->is_incoming = db_get_bool(res, row, 4);
	w->event = xstrdup(PQgetvalue(res, row, 5));
	w->from_id = xstrdup(PQgetvalue(res, row, 6));
	w->message_id = xstrdup(PQgetvalue(res, row, 7));
	w->subject = xstrdup(PQgetvalue(res, row, 8));
	w->submitted = db_get_i64(res, row, 9);
	w->attempts = (int)db_get_i64(res, row, 10);
	w->last_result = xstrdup(PQgetvalue(res, row, 11));
	w->results = xstrdup(PQgetvalue(res, row, 12));
	w->payload = xstrdup(PQgetvalue(res, row, 13));
	w->authorization = db_get_bool(res, row, 14);
	w->next_attempt = db_get_i64(res, row, 15);
	w->success = db_get_bool(res, row, 16);
	w->superseded_by = db_get_i64(res, row, 17);
	w->last_activity = db_get_i64(res, row, 18);
	w->keep_until = db_get_i64(res, row, 19);
}

static int
calls_query(struct store *st, const char *sql, const char *p1, const char *p2,
	struct webhook_call **v_r, size_t *n_r, const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	PGresult *res;
	struct webhook_call *v;
	size_t n, i;

	if (c == NULL)
		return -1;
	res = db_execv(c, error_r, sql, 2, p1, p2);
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	n = (size_t)PQntuples(res);
	v = xcalloc(n ? n : 1, sizeof(*v));
	for (i = 0; i < n; i++)
		call_from_row(res, (int)i, &v[i]);
	PQclear(res);
	*v_r = v;
	*n_r = n;
	return 0;
}

int
webhook_list(struct store *st, bool retired, int64_t account_id, size_t max,
	struct webhook_call **v_r, size_t *n_r, const char **error_r)
{
	char acct[24], lim[24];

	(void)snprintf(acct, sizeof(acct), "%lld", (long long)account_id);
	(void)snprintf(lim, sizeof(lim), "%lld", max ? (long long)max : (long long)INT64_MAX);
	if (retired)
		return calls_query(st, RETIRED_COLUMNS
			" WHERE ($1::bigint = 0 OR w.account_id = $1::bigint)"
			" ORDER BY w.last_activity DESC, w.id DESC LIMIT $2::bigint",
			acct, lim, v_r, n_r, error_r);
	return calls_query(st, QUEUE_COLUMNS
		" WHERE ($1::bigint = 0 OR w.account_id = $1::bigint)"
		" ORDER BY w.next_attempt, w.id LIMIT $2::bigint", acct, lim, v_r, n_r, error_r);
}

int
webhook_get(struct store *st, bool retired, int64_t id, struct webhook_call *c_r,
	const char **error_r)
{
	struct webhook_call *v;
	size_t n;

	if (calls_query(st, retired ? RETIRED_COLUMNS " WHERE w.id = $1::bigint AND $2 = ''" :
		    QUEUE_COLUMNS " WHERE w.id = $1::bigint AND $2 = ''", db_i64(id), "",
		    &v, &n, error_r) < 0)
		return -1;
	if (n == 0) {
		free(v);
		return 0;
	}
	*c_r = v[0];
	free(v);
	return 1;
}

/* webhook_schedule (from_now) and webhook_schedule_add. */
static int
schedule(struct store *st, const int64_t *ids, size_t n, int64_t delay_s, bool from_now,
	size_t *changed_r, const char **error_r)
{
	struct buf arr;
	PGresult *res;
	PGconn *c;

	buf_init(&arr);
	db_i64_array(&arr, ids, n);
	c = db_get(st->pool, error_r);
	if (c == NULL) {
		buf_free(&arr);
		return -1;
	}
	/* One statement: the update and the notification commit together. */
	res = db_execv(c, error_r,
		"WITH u AS (UPDATE webhook_queue SET next_attempt ="
		"  CASE WHEN $5 THEN now() ELSE next_attempt END + $2::bigint * interval '1 second'"
		"  WHERE $3 OR id = ANY($1::bigint[]) RETURNING id)"
		" SELECT count(*), pg_notify($4, '') FROM u",
		5, arr.data, db_i64(delay_s), n == 0 ? "true" : "false", WEBHOOK_NOTIFY_CHANNEL,
		from_now ? "true" : "false");
	db_put(st->pool, c);
	buf_free(&arr);
	if (res == NULL)
		return -1;
	if (changed_r != NULL)
		*changed_r = (size_t)db_get_i64(res, 0, 0);
	PQclear(res);
	return 0;
}

int
webhook_schedule(struct store *st, const int64_t *ids, size_t n, int64_t delay_s,
	size_t *changed_r, const char **error_r)
{
	return schedule(st, ids, n, delay_s, true, changed_r, error_r);
}

int
webhook_schedule_add(struct store *st, const int64_t *ids, size_t n, int64_t delta_s,
	size_t *changed_r, const char **error_r)
{
	return schedule(st, ids, n, delta_s, false, changed_r, error_r);
}

int
webhook_cancel(struct store *st, const int64_t *ids, size_t n, size_t *canceled_r,
	const char **error_r)
{
	struct buf arr, result;
	PGresult *res;
	PGconn *c;

	buf_init(&arr);
	buf_init(&result);
	db_i64_array(&arr, ids, n);
	buf_puts(&result, "{\"start\":");
	webhook_json_time(&result, ms_now_ms() * 1000);
	buf_puts(&result, ",\"duration_ms\":0,\"url\":\"\",\"success\":false,\"code\":0,"
		"\"error\":\"canceled by admin\",\"response\":\"\"}");
	c = db_get(st->pool, error_r);
	if (c == NULL) {
		buf_free(&arr);
		buf_free(&result);
		return -1;
	}
	res = db_execv(c, error_r,
		"WITH d AS (DELETE FROM webhook_queue WHERE id = ANY($1::bigint[]) RETURNING *),"
		" r AS (INSERT INTO webhook_retired (id, queue_msg_id, from_id, message_id, subject,"
		"  extra, account_id, url, has_authorization, is_incoming, outgoing_event, payload,"
		"  submitted, attempts, results, success, last_activity, keep_until)"
		"  SELECT d.id, d.queue_msg_id, d.from_id, d.message_id, d.subject, d.extra,"
		"   d.account_id, d.url, d.authorization_header <> '', d.is_incoming, d.outgoing_event,"
		"   d.payload, d.submitted, d.attempts, d.results || jsonb_build_array($2::jsonb),"
		"   false, now(), now() + a.keep_retired_webhook_period"
		"  FROM d JOIN accounts a ON a.id = d.account_id"
		"  WHERE a.keep_retired_webhook_period > '0')"
		" SELECT count(*) FROM d", 2, arr.data, result.data);
	db_put(st->pool, c);
	buf_free(&arr);
	buf_free(&result);
	if (res == NULL)
		return -1;
	if (canceled_r != NULL)
		*canceled_r = (size_t)db_get_i64(res, 0, 0);
	PQclear(res);
	return 0;
}

void
webhook_account_conf_free(struct webhook_account_conf *c)
{
	free(c->outgoing_url);
	free(c->outgoing_events);
	free(c->incoming_url);
	memset(c, 0, sizeof(*c));
}

int
webhook_account_get(struct store *st, int64_t account_id, struct webhook_account_conf *c_r,
	const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	PGresult *res;

	if (c == NULL)
		return -1;
	res = db_execv(c, error_r,
		"SELECT outgoing_webhook_url, outgoing_webhook_authorization <> '',"
		" array_to_string(outgoing_webhook_events, ','), incoming_webhook_url,"
		" incoming_webhook_authorization <> '',"
		" floor(extract(epoch FROM keep_retired_webhook_period))::bigint"
		" FROM accounts WHERE id = $1", 1, db_i64(account_id));
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return 0;
	}
	c_r->outgoing_url = xstrdup(PQgetvalue(res, 0, 0));
	c_r->outgoing_authorization = db_get_bool(res, 0, 1);
	c_r->outgoing_events = xstrdup(PQgetvalue(res, 0, 2));
	c_r->incoming_url = xstrdup(PQgetvalue(res, 0, 3));
	c_r->incoming_authorization = db_get_bool(res, 0, 4);
	c_r->keep_retired_s = db_get_i64(res, 0, 5);
	PQclear(res);
	return 1;
}

int
webhook_account_set(struct store *st, int64_t account_id, bool incoming, const char *url,
	const char *authorization, const char *events, const char **error_r)
{
	struct buf evarr;
	const char **v = NULL;
	char *copy = NULL, *p;
	size_t nv = 0;
	PGresult *res;
	PGconn *c;
	int rc = -1;

	if (url[0] != '\0' && !webhook_url_valid(url)) {
		*error_r = ms_err("bad webhook URL %s: must be http:// or https:// with a host", url);
		return -1;
	}
	for (p = (char *)authorization; *p; p++)
		if ((unsigned char)*p < ' ' || *p == 0x7f) {
			*error_r = "the Authorization value must not contain control characters";
			return -1;
		}
	buf_init(&evarr);
	if (events != NULL) {
		copy = xstrdup(events);
		v = xcalloc(strlen(events) + 1, sizeof(char *));
		for (p = copy; *p != '\0'; ) {
			size_t l = strcspn(p, ", ");
			bool last = p[l] == '\0';

			p[l] = '\0';
			if (l == 0) {
				p += last ? 0 : 1;
				continue;
			}
			if (!webhook_event_valid(p)) {
				*error_r = ms_err("unknown webhook event %s (delivered, suppressed,"
					" delayed, failed, relayed, expanded, canceled, unrecognized)", p);
				goto out;
			}
			v[nv++] = p;
			p += l + (last ? 0 : 1);
		}
		db_text_array(&evarr, v, nv);
	}
	c = db_get(st->pool, error_r);
	if (c == NULL)
		goto out;
	if (incoming)
		res = db_execv(c, error_r,
			"UPDATE accounts SET incoming_webhook_url = $2,"
			" incoming_webhook_authorization = $3 WHERE id = $1",
			3, db_i64(account_id), url, url[0] ? authorization : "");
	else
		res = db_execv(c, error_r,
			"UPDATE accounts SET outgoing_webhook_url = $2,"
			" outgoing_webhook_authorization = $3,"
			" outgoing_webhook_events = coalesce($4::text[], outgoing_webhook_events)"
			" WHERE id = $1",
			4, db_i64(account_id), url, url[0] ? authorization : "",
			events != NULL ? evarr.data : NULL);
	db_put(st->pool, c);
	if (res == NULL)
		goto out;
	if (queue_cmd_tuples(res) != 1) {
		*error_r = "no such account";
		PQclear(res);
		goto out;
	}
	PQclear(res);
	rc = 0;
out:
	free(copy);
	free(v);
	buf_free(&evarr);
	return rc;
}

int
webhook_account_set_keep(struct store *st, int64_t account_id, int64_t seconds,
	const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	PGresult *res;
	int64_t n;

	if (c == NULL)
		return -1;
	res = db_execv(c, error_r,
		"UPDATE accounts SET keep_retired_webhook_period = $2::bigint * interval '1 second'"
		" WHERE id = $1", 2, db_i64(account_id), db_i64(seconds));
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	n = queue_cmd_tuples(res);
	PQclear(res);
	if (n != 1) {
		*error_r = "no such account";
		return -1;
	}
	return 0;
}
