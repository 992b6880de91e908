/* The delivery side of the queue, for mailstead-queued and the CLI:
 * claiming due messages so that no two processes deliver one message
 * (SELECT ... FOR UPDATE SKIP LOCKED, then a lease committed before any
 * network traffic), recording each attempt's result, retiring delivered or
 * failed messages to queue_retired, routes, the per-account record of
 * recipient domains' TLS support, and the cleanup of old history. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json.h>

#include "core/log.h"
#include "core/util.h"
#include "queue/queue.h"
#include "queue/queue_private.h"

void
queue_items_free(struct queue_item *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].account);
		free(v[i].sender_localpart);
		free(v[i].sender_domain);
		free(v[i].from_id);
		free(v[i].rcpt_localpart);
		free(v[i].rcpt_domain);
		free(v[i].message_id);
		free(v[i].subject);
		free(v[i].transport);
		free(v[i].future_release_request);
		free(v[i].extra);
		free(v[i].file_path);
		free(v[i].dialed_ips);
		free(v[i].catchall_separators);
		buf_free(&v[i].prefix);
		buf_free(&v[i].dsn_utf8);
	}
	free(v);
}

#define ITEM_COLUMNS \
	" q.id, q.base_id, coalesce(q.sender_account_id, 0), coalesce(a.name, '')," \
	" q.sender_localpart, q.sender_domain, q.from_id, q.recipient_localpart," \
	" q.recipient_domain, q.attempts, q.max_attempts, q.has_8bit, q.smtputf8," \
	" q.is_dmarc_report, q.is_tls_report, q.size, q.message_id, q.subject, q.transport," \
	" CASE WHEN q.require_tls IS NULL THEN -1 WHEN q.require_tls THEN 1 ELSE 0 END," \
	" q.future_release_request, q.extra::text, q.file_path, q.msg_prefix," \
	" q.dsn_utf8, q.dsn_utf8 IS NOT NULL, q.dialed_ips::text," \
	" floor(extract(epoch FROM q.queued))::bigint," \
	" coalesce((SELECT d.localpart_catchall_separators FROM domains d" \
	"  WHERE d.name = q.sender_domain), '')"

static void
item_from_row(const PGresult *res, int row, struct queue_item *it)
{
	memset(it, 0, sizeof(*it));
	it->id = db_get_i64(res, row, 0);
	it->base_id = db_get_i64(res, row, 1);
	it->account_id = db_get_i64(res, row, 2);
	it->account = xstrdup(PQgetvalue(res, row, 3));
	it->sender_localpart = xstrdup(PQgetvalue(res, row, 4));
	it->sender_domain = xstrdup(PQgetvalue(res, row, 5));
	it->from_id = xstrdup(PQgetvalue(res, row, 6));
	it->rcpt_localpart = xstrdup(PQgetvalue(res, row, 7));
	it->rcpt_domain = xstrdup(PQgetvalue(res, row, 8));
	it->attempts = (int)db_get_i64(res, row, 9);
	it->max_attempts = (int)db_get_i64(res, row, 10);
	it->has_8bit = db_get_bool(res, row, 11);
	it->smtputf8 = db_get_bool(res, row, 12);
	it->is_dmarc_report = db_get_bool(res, row, 13);
	it->is_tls_report = db_get_bool(res, row, 14);
	it->size = db_get_i64(res, row, 15);
	it->message_id = xstrdup(PQgetvalue(res, row, 16));
	it->subject = xstrdup(PQgetvalue(res, row, 17));
	it->transport = xstrdup(PQgetvalue(res, row, 18));
	it->require_tls = (int)db_get_i64(res, row, 19);
	it->future_release_request = xstrdup(PQgetvalue(res, row, 20));
	it->extra = xstrdup(PQgetvalue(res, row, 21));
	it->file_path = xstrdup(PQgetvalue(res, row, 22));
	buf_init(&it->prefix);
	buf_init(&it->dsn_utf8);
	(void)db_get_bytea(res, row, 23, &it->prefix);
	it->has_dsn_utf8 = db_get_bool(res, row, 25);
	if (it->has_dsn_utf8)
		(void)db_get_bytea(res, row, 24, &it->dsn_utf8);
	it->dialed_ips = xstrdup(PQgetvalue(res, row, 26));
	it->queued = db_get_i64(res, row, 27);
	it->catchall_separators = xstrdup(PQgetvalue(res, row, 28));
}

struct claim_ctx {
	const char *ids;	/* queue_claim_ids: bigint[] literal */
	int64_t lease_s, backoff_ms;
	size_t more;		/* other submissions for the destination */
	struct queue_item *v;
	size_t n;
};

static int
claim_tx(PGconn *c, void *arg, const char **error_r)
{
	struct claim_ctx *ctx = arg;
	PGresult *res;
	char base[24], lease[24], backoff[24], more[24], attempts[24], acct[24];
	char *dom = NULL, *transport = NULL, *sdom = NULL, *rtls = NULL;
	bool has_acct;
	size_t i;
	int64_t *idv = NULL;
	size_t nid = 0;

	queue_items_free(ctx->v, ctx->n);
	ctx->v = NULL;
	ctx->n = 0;
	/* The first due message nobody else holds. SKIP LOCKED: a row another
	 * process is claiming right now is not waited for. */
	res = db_execv(c, error_r,
		"SELECT id, base_id, recipient_domain, transport, sender_account_id,"
		" sender_domain, attempts, require_tls FROM queue"
		" WHERE NOT hold AND next_attempt <= now()"
		" AND (lease_until IS NULL OR lease_until <= now())"
		" ORDER BY next_attempt, id LIMIT 1 FOR UPDATE SKIP LOCKED", 0);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return 0;
	}
	(void)snprintf(base, sizeof(base), "%s", PQgetvalue(res, 0, 1));
	dom = xstrdup(PQgetvalue(res, 0, 2));
	transport = xstrdup(PQgetvalue(res, 0, 3));
	has_acct = !PQgetisnull(res, 0, 4);
	(void)snprintf(acct, sizeof(acct), "%s", PQgetvalue(res, 0, 4));
	sdom = xstrdup(PQgetvalue(res, 0, 5));
	(void)snprintf(attempts, sizeof(attempts), "%s", PQgetvalue(res, 0, 6));
	rtls = PQgetisnull(res, 0, 7) ? NULL : xstrdup(PQgetvalue(res, 0, 7));
	(void)snprintf(lease, sizeof(lease), "%lld", (long long)ctx->lease_s);
	(void)snprintf(backoff, sizeof(backoff), "%lld", (long long)ctx->backoff_ms);
	(void)snprintf(more, sizeof(more), "%zu", ctx->more);
	/* Its siblings: the same submission for the same domain go over one
	 * connection (one transaction with several RCPT TO). Each gets the
	 * lease, its attempt counted and its next attempt set by the backoff
	 * (base * 2^attempts before this one), all before connecting: a crash
	 * during delivery leaves exactly one more attempt, once the lease
	 * has passed. */
	{
		PGresult *upd = db_execv(c, error_r,
			"WITH s AS (SELECT id FROM queue"
			"  WHERE base_id = $1::bigint AND recipient_domain = $2 AND transport = $3"
			"  AND NOT hold AND next_attempt <= now()"
			"  AND (lease_until IS NULL OR lease_until <= now())"
			"  ORDER BY id LIMIT 1000 FOR UPDATE SKIP LOCKED)"
			" UPDATE queue q SET lease_until = now() + make_interval(secs => $4::bigint),"
			"  attempts = q.attempts + 1, last_attempt = now(),"
			"  next_attempt = now() + make_interval(secs =>"
			"   $5::bigint / 1000.0 * power(2, least(q.attempts, 24)))"
			" FROM s WHERE q.id = s.id RETURNING q.id",
			5, base, dom, transport, lease, backoff);

		PQclear(res);
		res = upd;
	}
	if (res == NULL)
		goto fail;
	nid = (size_t)PQntuples(res);
	idv = xcalloc(nid + ctx->more + 1, sizeof(int64_t));
	for (i = 0; i < nid; i++)
		idv[i] = db_get_i64(res, (int)i, 0);
	PQclear(res);
	/* Other submissions due for the same destination, claimed the same
	 * way, so that one connection carries them one transaction after
	 * the other (the caller delivers them in that order). Only those
	 * that route and verify TLS like the first: same sender account
	 * and domain (routes), attempt number (routes' minattempts) and
	 * REQUIRETLS setting. */
	if (ctx->more > 0 && nid > 0) {
		res = db_execv(c, error_r,
			"WITH s AS (SELECT id FROM queue"
			"  WHERE recipient_domain = $2 AND transport = $3 AND base_id <> $1::bigint"
			"  AND sender_account_id IS NOT DISTINCT FROM $6::bigint"
			"  AND sender_domain = $7 AND attempts = $8::int"
			"  AND require_tls IS NOT DISTINCT FROM $9::boolean"
			"  AND NOT hold AND next_attempt <= now()"
			"  AND (lease_until IS NULL OR lease_until <= now())"
			"  ORDER BY next_attempt, id LIMIT $10::bigint FOR UPDATE SKIP LOCKED)"
			" UPDATE queue q SET lease_until = now() + make_interval(secs => $4::bigint),"
			"  attempts = q.attempts + 1, last_attempt = now(),"
			"  next_attempt = now() + make_interval(secs =>"
			"   $5::bigint / 1000.0 * power(2, least(q.attempts, 24)))"
			" FROM s WHERE q.id = s.id RETURNING q.id",
			10, base, dom, transport, lease, backoff, has_acct ? acct : NULL, sdom,
			attempts, rtls, more);
		if (res == NULL)
			goto fail;
		for (i = 0; i < (size_t)PQntuples(res) && i < ctx->more; i++)
			idv[nid++] = db_get_i64(res, (int)i, 0);
		PQclear(res);
	}
	free(dom);
	free(transport);
	free(sdom);
	free(rtls);
	dom = transport = sdom = rtls = NULL;
	if (nid == 0) {
		free(idv);
		return 0;
	}
	{
		struct buf ids;

		buf_init(&ids);
		db_i64_array(&ids, idv, nid);
		free(idv);
		idv = NULL;
		/* By submission, so each one's recipients are together. */
		res = db_execv(c, error_r,
			"SELECT" ITEM_COLUMNS " FROM queue q LEFT JOIN accounts a ON a.id = q.sender_account_id"
			" WHERE q.id = ANY($1::bigint[]) ORDER BY q.base_id, q.id", 1, ids.data);
		buf_free(&ids);
		if (res == NULL)
			return -1;
	}
	ctx->n = (size_t)PQntuples(res);
	ctx->v = xcalloc(ctx->n ? ctx->n : 1, sizeof(*ctx->v));
	for (i = 0; i < ctx->n; i++)
		item_from_row(res, (int)i, &ctx->v[i]);
	PQclear(res);
	return 0;

fail:
	free(idv);
	free(dom);
	free(transport);
	free(sdom);
	free(rtls);
	return -1;
}

int
queue_claim(struct store *st, int64_t lease_s, int64_t backoff_ms, size_t more,
	struct queue_item **v_r, size_t *n_r, const char **error_r)
{
	struct claim_ctx ctx;

	memset(&ctx, 0, sizeof(ctx));
	ctx.lease_s = lease_s;
	ctx.backoff_ms = backoff_ms;
	ctx.more = more;
	if (db_tx(st->pool, claim_tx, &ctx, error_r) != 0) {
		queue_items_free(ctx.v, ctx.n);
		return -1;
	}
	*v_r = ctx.v;
	*n_r = ctx.n;
	return ctx.n > 0;
}

int
queue_next_due(struct store *st, int64_t *ms_r, const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	PGresult *res;

	if (c == NULL)
		return -1;
	res = db_execv(c, error_r,
		"SELECT greatest(0, floor(extract(epoch FROM"
		" min(greatest(next_attempt, coalesce(lease_until, next_attempt))) - now()) * 1000))::bigint"
		" FROM queue WHERE NOT hold", 0);
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	/* NULL: nothing waiting; due messages give 0. */
	*ms_r = PQgetisnull(res, 0, 0) ? -1 : db_get_i64(res, 0, 0);
	PQclear(res);
	return 0;
}

/* ---- results ---- */

void
queue_result_json(struct buf *out, int64_t start_ms, int64_t duration_ms, bool success,
	int code, const char *secode, const char *error)
{
	json_object *o = json_object_new_object();
	time_t t = (time_t)(start_ms / 1000);
	struct tm tm;
	char ts[64], frac[16];

	if (gmtime_r(&t, &tm) == NULL || strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		ts[0] = '\0';
	(void)snprintf(frac, sizeof(frac), ".%03dZ", (int)(start_ms % 1000));
	ms_strlcpy(ts + strlen(ts), frac, sizeof(ts) - strlen(ts));
	json_object_object_add(o, "start", json_object_new_string(ts));
	json_object_object_add(o, "duration_ms", json_object_new_int64(duration_ms));
	json_object_object_add(o, "success", json_object_new_boolean(success));
	json_object_object_add(o, "code", json_object_new_int(code));
	json_object_object_add(o, "secode", json_object_new_string(secode ? secode : ""));
	{
		struct buf e;

		buf_init(&e);
		queue_utf8_sanitize(&e, error ? error : "");
		json_object_object_add(o, "error", json_object_new_string(e.data));
		buf_free(&e);
	}
	buf_puts(out, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

struct outcome_ctx {
	const struct queue_outcome *v;
	size_t n;
	queue_outcome_hook *hook;
	void *hook_arg;
	struct buf retry_ids, retry_res, retire_ids, retire_res, retire_ok;
	struct buf dialed_ids, dialed;	/* messages with new dialed_ips */
	char **paths;
	size_t npaths;
};

static int
outcome_tx(PGconn *c, void *arg, const char **error_r)
{
	struct outcome_ctx *ctx = arg;
	PGresult *res;
	size_t i;

	for (i = 0; i < ctx->npaths; i++)
		free(ctx->paths[i]);
	free(ctx->paths);
	ctx->paths = NULL;
	ctx->npaths = 0;
	/* The addresses connected to, first: retired rows copy them. */
	if (ctx->dialed_ids.len > 2 && db_cmd(c, error_r,
		    "UPDATE queue q SET dialed_ips = r.d::jsonb"
		    " FROM unnest($1::bigint[], $2::text[]) AS r(id, d) WHERE q.id = r.id",
		    2, ctx->dialed_ids.data, ctx->dialed.data) < 0)
		return -1;
	/* Retried later: the result goes to the history, the lease goes. */
	if (db_cmd(c, error_r,
		    "UPDATE queue q SET results = q.results || jsonb_build_array(r.res::jsonb),"
		    " lease_until = NULL"
		    " FROM unnest($1::bigint[], $2::text[]) AS r(id, res) WHERE q.id = r.id",
		    2, ctx->retry_ids.data, ctx->retry_res.data) < 0)
		return -1;
	/* Delivered or failed for good: history for accounts that keep it,
	 * then the row goes; its file after the commit. */
	if (db_cmd(c, error_r,
		    "INSERT INTO queue_retired (id, base_id, queued, sender_account_id,"
		    " sender_localpart, sender_domain, from_id, recipient_localpart,"
		    " recipient_domain, recipient_address, attempts, max_attempts, dialed_ips,"
		    " last_attempt, results, has_8bit, smtputf8, is_dmarc_report, is_tls_report,"
		    " size, message_id, subject, transport, require_tls, future_release_request,"
		    " extra, last_activity, success, keep_until)"
		    " SELECT q.id, q.base_id, q.queued, q.sender_account_id, q.sender_localpart,"
		    "  q.sender_domain, q.from_id, q.recipient_localpart, q.recipient_domain,"
		    "  q.recipient_localpart || '@' || q.recipient_domain, q.attempts,"
		    "  q.max_attempts, q.dialed_ips, q.last_attempt,"
		    "  q.results || jsonb_build_array(r.res::jsonb),"
		    "  q.has_8bit, q.smtputf8, q.is_dmarc_report, q.is_tls_report, q.size,"
		    "  q.message_id, q.subject, q.transport, q.require_tls,"
		    "  q.future_release_request, q.extra, now(), r.ok,"
		    "  now() + a.keep_retired_message_period"
		    " FROM queue q JOIN unnest($1::bigint[], $2::text[], $3::boolean[]) AS r(id, res, ok)"
		    "  ON q.id = r.id JOIN accounts a ON a.id = q.sender_account_id"
		    " WHERE a.keep_retired_message_period > '0'",
		    3, ctx->retire_ids.data, ctx->retire_res.data, ctx->retire_ok.data) < 0)
		return -1;
	res = db_execv(c, error_r,
		"DELETE FROM queue WHERE id = ANY($1::bigint[]) RETURNING file_path",
		1, ctx->retire_ids.data);
	if (res == NULL)
		return -1;
	ctx->npaths = (size_t)PQntuples(res);
	ctx->paths = xcalloc(ctx->npaths ? ctx->npaths : 1, sizeof(char *));
	for (i = 0; i < ctx->npaths; i++)
		ctx->paths[i] = xstrdup(PQgetvalue(res, (int)i, 0));
	PQclear(res);
	/* What reports the outcomes (webhook calls, suppressions) commits
	 * with them: a crash after the commit loses nothing, one before it
	 * retries the attempt. */
	if (ctx->hook != NULL && ctx->hook(c, ctx->hook_arg, error_r) < 0)
		return -1;
	return 0;
}

int
queue_record_outcomes(struct store *st, const struct queue_outcome *v, size_t n,
	queue_outcome_hook *hook, void *arg, const char **error_r)
{
	struct outcome_ctx ctx;
	int64_t *rids = xcalloc(n ? n : 1, sizeof(int64_t));
	int64_t *tids = xcalloc(n ? n : 1, sizeof(int64_t));
	const char **rres = xcalloc(n ? n : 1, sizeof(char *));
	const char **tres = xcalloc(n ? n : 1, sizeof(char *));
	const char **tok = xcalloc(n ? n : 1, sizeof(char *));
	int64_t *dids = xcalloc(n ? n : 1, sizeof(int64_t));
	const char **dv = xcalloc(n ? n : 1, sizeof(char *));
	size_t i, nr = 0, nt = 0, nd = 0;
	int rc;

	memset(&ctx, 0, sizeof(ctx));
	ctx.hook = hook;
	ctx.hook_arg = arg;
	buf_init(&ctx.retry_ids);
	buf_init(&ctx.retry_res);
	buf_init(&ctx.retire_ids);
	buf_init(&ctx.retire_res);
	buf_init(&ctx.retire_ok);
	buf_init(&ctx.dialed_ids);
	buf_init(&ctx.dialed);
	for (i = 0; i < n; i++) {
		if (v[i].dialed_ips != NULL) {
			dids[nd] = v[i].id;
			dv[nd++] = v[i].dialed_ips;
		}
		if (v[i].retire) {
			tids[nt] = v[i].id;
			tres[nt] = v[i].result_json;
			tok[nt++] = v[i].success ? "t" : "f";
		} else {
			rids[nr] = v[i].id;
			rres[nr++] = v[i].result_json;
		}
	}
	db_i64_array(&ctx.retry_ids, rids, nr);
	db_text_array(&ctx.retry_res, rres, nr);
	db_i64_array(&ctx.retire_ids, tids, nt);
	db_text_array(&ctx.retire_res, tres, nt);
	db_text_array(&ctx.retire_ok, tok, nt);
	db_i64_array(&ctx.dialed_ids, dids, nd);
	db_text_array(&ctx.dialed, dv, nd);
	rc = db_tx(st->pool, outcome_tx, &ctx, error_r);
	if (rc == 0)
		for (i = 0; i < ctx.npaths; i++)
			queue_unlink_rel(st, ctx.paths[i]);
	for (i = 0; i < ctx.npaths; i++)
		free(ctx.paths[i]);
	free(ctx.paths);
	buf_free(&ctx.retry_ids);
	buf_free(&ctx.retry_res);
	buf_free(&ctx.retire_ids);
	buf_free(&ctx.retire_res);
	buf_free(&ctx.retire_ok);
	buf_free(&ctx.dialed_ids);
	buf_free(&ctx.dialed);
	free(dids);
	free(dv);
	free(rids);
	free(tids);
	free(rres);
	free(tres);
	free(tok);
	return rc < 0 ? -1 : 0;
}

int
queue_unclaim(struct store *st, const int64_t *ids, size_t n, const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	struct buf arr;
	int rc;

	if (c == NULL)
		return -1;
	buf_init(&arr);
	db_i64_array(&arr, ids, n);
	/* The claim in reverse: no attempt was made. */
	rc = db_cmd(c, error_r,
		"UPDATE queue SET lease_until = NULL, attempts = greatest(attempts - 1, 0),"
		" next_attempt = now() WHERE id = ANY($1::bigint[])", 1, arr.data);
	db_put(st->pool, c);
	buf_free(&arr);
	return rc;
}

int
queue_release_lease(struct store *st, const int64_t *ids, size_t n, const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	struct buf arr;
	int rc;

	if (c == NULL)
		return -1;
	buf_init(&arr);
	db_i64_array(&arr, ids, n);
	rc = db_cmd(c, error_r, "UPDATE queue SET lease_until = NULL WHERE id = ANY($1::bigint[])",
		1, arr.data);
	db_put(st->pool, c);
	buf_free(&arr);
	return rc;
}

int
queue_lease_renew(struct store *st, const int64_t *ids, size_t n, int64_t lease_s,
	const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	struct buf arr;
	PGresult *res;
	int rc = -1;

	if (c == NULL)
		return -1;
	buf_init(&arr);
	db_i64_array(&arr, ids, n);
	res = db_execv(c, error_r,
		"UPDATE queue SET lease_until = now() + make_interval(secs => $2::bigint)"
		" WHERE id = ANY($1::bigint[]) AND lease_until IS NOT NULL", 2, arr.data,
		db_i64(lease_s));
	db_put(st->pool, c);
	if (res != NULL) {
		rc = (int)strtol(PQcmdTuples(res), NULL, 10);
		PQclear(res);
	}
	buf_free(&arr);
	return rc;
}

/* ---- routes ---- */

int
queue_route_lookup(struct store *st, int64_t account_id, const char *sender_domain,
	const char *rcpt_domain, int attempts_before, char **transport_r, const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	PGresult *res;

	*transport_r = NULL;
	if (c == NULL)
		return -1;
	/* Account routes, then the sender domain's, then global ones; in id
	 * order within a level; the first match wins. ".example.org" in a
	 * list also matches subdomains. */
	res = db_execv(c, error_r,
		"SELECT r.transport FROM routes r LEFT JOIN domains d ON d.id = r.domain_id"
		" WHERE (r.account_id = $1::bigint OR d.name = $2"
		"  OR (r.account_id IS NULL AND r.domain_id IS NULL))"
		" AND (cardinality(r.from_domains) = 0 OR EXISTS (SELECT 1 FROM unnest(r.from_domains) f"
		"  WHERE f = $2 OR (left(f, 1) = '.' AND right($2, length(f)) = f)))"
		" AND (cardinality(r.to_domains) = 0 OR EXISTS (SELECT 1 FROM unnest(r.to_domains) t"
		"  WHERE t = $3 OR (left(t, 1) = '.' AND right($3, length(t)) = t)))"
		" AND r.min_attempts <= $4::int"
		" ORDER BY CASE WHEN r.account_id IS NOT NULL THEN 0"
		"  WHEN r.domain_id IS NOT NULL THEN 1 ELSE 2 END, r.id LIMIT 1",
		4, db_i64(account_id), sender_domain, rcpt_domain, db_i64(attempts_before));
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	if (PQntuples(res) > 0)
		*transport_r = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

void
queue_routes_free(struct queue_route *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].account);
		free(v[i].domain);
		free(v[i].from_domains);
		free(v[i].to_domains);
		free(v[i].transport);
	}
	free(v);
}

int
queue_route_list(struct store *st, struct queue_route **v_r, size_t *n_r, const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	PGresult *res;
	struct queue_route *v;
	size_t i, n;

	if (c == NULL)
		return -1;
	res = db_execv(c, error_r,
		"SELECT r.id, coalesce(a.name, ''), coalesce(d.name, ''),"
		" array_to_string(r.from_domains, ','), array_to_string(r.to_domains, ','),"
		" r.min_attempts, r.transport FROM routes r"
		" LEFT JOIN accounts a ON a.id = r.account_id LEFT JOIN domains d ON d.id = r.domain_id"
		" ORDER BY CASE WHEN r.account_id IS NOT NULL THEN 0"
		"  WHEN r.domain_id IS NOT NULL THEN 1 ELSE 2 END, r.id", 0);
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	n = (size_t)PQntuples(res);
	v = xcalloc(n ? n : 1, sizeof(*v));
	for (i = 0; i < n; i++) {
		v[i].id = db_get_i64(res, (int)i, 0);
		v[i].account = xstrdup(PQgetvalue(res, (int)i, 1));
		v[i].domain = xstrdup(PQgetvalue(res, (int)i, 2));
		v[i].from_domains = xstrdup(PQgetvalue(res, (int)i, 3));
		v[i].to_domains = xstrdup(PQgetvalue(res, (int)i, 4));
		v[i].min_attempts = (int)db_get_i64(res, (int)i, 5);
		v[i].transport = xstrdup(PQgetvalue(res, (int)i, 6));
	}
	PQclear(res);
	*v_r = v;
	*n_r = n;
	return 0;
}

int
queue_route_add(struct store *st, int64_t account_id, const char *domain,
	const char *const *from_domains, size_t nfrom, const char *const *to_domains,
	size_t nto, int min_attempts, const char *transport, int64_t *id_r,
	const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	PGresult *res;
	struct buf f, t;

	if (c == NULL)
		return -1;
	buf_init(&f);
	buf_init(&t);
	db_text_array(&f, from_domains, nfrom);
	db_text_array(&t, to_domains, nto);
	res = db_execv(c, error_r,
		"INSERT INTO routes (account_id, domain_id, from_domains, to_domains, min_attempts,"
		" transport) SELECT $1::bigint,"
		" CASE WHEN $2 = '' THEN NULL ELSE (SELECT id FROM domains WHERE name = $2) END,"
		" $3::text[], $4::text[], $5::int, $6"
		" WHERE $2 = '' OR EXISTS (SELECT 1 FROM domains WHERE name = $2) RETURNING id",
		6, account_id > 0 ? db_i64(account_id) : NULL, domain ? domain : "", f.data, t.data,
		db_i64(min_attempts), transport);
	db_put(st->pool, c);
	buf_free(&f);
	buf_free(&t);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		*error_r = ms_err("no domain %s", domain);
		return -1;
	}
	if (id_r != NULL)
		*id_r = db_get_i64(res, 0, 0);
	PQclear(res);
	return 0;
}

int
queue_route_remove(struct store *st, int64_t id, const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	PGresult *res;
	int removed;

	if (c == NULL)
		return -1;
	res = db_execv(c, error_r, "DELETE FROM routes WHERE id = $1", 1, db_i64(id));
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	removed = queue_cmd_tuples(res) > 0;
	PQclear(res);
	return removed;
}

/* ---- recipient domain TLS, cleanup, admin changes ---- */

int
queue_domain_tls_record(struct store *st, int64_t account_id, const char *domain,
	bool starttls, bool requiretls, const char **error_r)
{
	PGconn *c;
	int rc;

	if (account_id <= 0)
		return 0;
	c = db_get(st->pool, error_r);
	if (c == NULL)
		return -1;
	rc = db_cmd(c, error_r,
		"INSERT INTO recipient_domain_tls (account_id, domain, starttls, requiretls)"
		" VALUES ($1, $2, $3::boolean, $4::boolean)"
		" ON CONFLICT (account_id, domain) DO UPDATE SET updated = now(),"
		" starttls = excluded.starttls, requiretls = excluded.requiretls",
		4, db_i64(account_id), domain, starttls ? "true" : "false",
		requiretls ? "true" : "false");
	db_put(st->pool, c);
	return rc;
}

int
queue_retired_cleanup(struct store *st, size_t *removed_r, const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	PGresult *res;

	if (c == NULL)
		return -1;
	res = db_execv(c, error_r, "DELETE FROM queue_retired WHERE keep_until < now()", 0);
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	if (removed_r != NULL)
		*removed_r = (size_t)queue_cmd_tuples(res);
	PQclear(res);
	return 0;
}

int
queue_update_field(struct store *st, const int64_t *ids, size_t n, enum queue_field field,
	const char *value, size_t *changed_r, const char **error_r)
{
	static const char *const sql[] = {
		/* schedule: absolute next attempt (unix seconds) */
		"UPDATE queue SET next_attempt = to_timestamp($2::bigint), lease_until = NULL"
		" WHERE id = ANY($1::bigint[])",
		/* schedule relative: seconds added to the current next attempt */
		"UPDATE queue SET next_attempt = next_attempt + make_interval(secs => $2::bigint)"
		" WHERE id = ANY($1::bigint[])",
		"UPDATE queue SET transport = $2 WHERE id = ANY($1::bigint[])",
		"UPDATE queue SET require_tls = $2::boolean WHERE id = ANY($1::bigint[])",
		/* fail: the delivery daemon fails it at once, with a DSN */
		"UPDATE queue SET transport = '" QUEUE_TRANSPORT_FAIL_NOW "', hold = false,"
		" next_attempt = now(), lease_until = NULL WHERE id = ANY($1::bigint[])"
		" AND (lease_until IS NULL OR lease_until <= now()) AND $2::text IS NULL",
	};
	PGconn *c;
	PGresult *res;
	struct buf arr;

	c = db_get(st->pool, error_r);
	if (c == NULL)
		return -1;
	buf_init(&arr);
	db_i64_array(&arr, ids, n);
	res = db_execv(c, error_r, sql[field], 2, arr.data, value);
	db_put(st->pool, c);
	buf_free(&arr);
	if (res == NULL)
		return -1;
	if (changed_r != NULL)
		*changed_r = (size_t)queue_cmd_tuples(res);
	PQclear(res);
	return 0;
}

/* Claim specific messages for the CLI's "queue fail": like queue_claim
 * but by id, ignoring next_attempt and hold; rows under a live lease of a
 * delivery in progress are skipped. */
static int
claim_ids_tx(PGconn *c, void *arg, const char **error_r)
{
	struct claim_ctx *ctx = arg;
	const char *ids = ctx->ids;
	PGresult *res;
	size_t i;

	queue_items_free(ctx->v, ctx->n);
	ctx->v = NULL;
	ctx->n = 0;

	res = db_execv(c, error_r,
		"WITH s AS (SELECT id FROM queue WHERE id = ANY($1::bigint[])"
		"  AND (lease_until IS NULL OR lease_until <= now()) FOR UPDATE SKIP LOCKED)"
		" UPDATE queue q SET lease_until = now() + interval '5 minutes'"
		" FROM s WHERE q.id = s.id RETURNING q.id", 1, ids);
	if (res == NULL)
		return -1;
	PQclear(res);
	res = db_execv(c, error_r,
		"SELECT" ITEM_COLUMNS " FROM queue q LEFT JOIN accounts a ON a.id = q.sender_account_id"
		" WHERE q.id = ANY($1::bigint[]) AND q.lease_until > now() ORDER BY q.id", 1, ids);
	if (res == NULL)
		return -1;
	ctx->n = (size_t)PQntuples(res);
	ctx->v = xcalloc(ctx->n ? ctx->n : 1, sizeof(*ctx->v));
	for (i = 0; i < ctx->n; i++)
		item_from_row(res, (int)i, &ctx->v[i]);
	PQclear(res);
	return 0;
}

int
queue_claim_ids(struct store *st, const int64_t *ids, size_t n, struct queue_item **v_r,
	size_t *n_r, const char **error_r)
{
	struct claim_ctx ctx;
	struct buf arr;
	int rc;

	buf_init(&arr);
	db_i64_array(&arr, ids, n);
	memset(&ctx, 0, sizeof(ctx));
	ctx.ids = arr.data;
	rc = db_tx(st->pool, claim_ids_tx, &ctx, error_r);
	buf_free(&arr);
	if (rc != 0)
		return -1;
	*v_r = ctx.v;
	*n_r = ctx.n;
	return 0;
}

/* ---- history (queue_retired) ---- */

void
queue_retired_free(struct queue_retired *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].account);
		free(v[i].sender);
		free(v[i].recipient);
		free(v[i].from_id);
		free(v[i].message_id);
		free(v[i].subject);
		free(v[i].transport);
		free(v[i].results);
		free(v[i].last_error);
	}
	free(v);
}

int
queue_retired_list(struct store *st, int64_t account_id, int64_t id, size_t max,
	struct queue_retired **v_r, size_t *n_r, const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	PGresult *res;
	struct queue_retired *v;
	size_t i, n;

	if (c == NULL)
		return -1;
	res = db_execv(c, error_r,
		"SELECT r.id, r.base_id, floor(extract(epoch FROM r.queued))::bigint,"
		" coalesce(a.name, ''), CASE WHEN r.sender_domain = '' THEN '<>'"
		"  ELSE r.sender_localpart || '@' || r.sender_domain END, r.recipient_address,"
		" r.from_id, r.attempts, floor(extract(epoch FROM r.last_activity))::bigint,"
		" r.success, floor(extract(epoch FROM r.keep_until))::bigint, r.message_id,"
		" r.subject, r.transport, r.results::text, coalesce(r.results -> -1 ->> 'error', '')"
		" FROM queue_retired r LEFT JOIN accounts a ON a.id = r.sender_account_id"
		" WHERE ($1::bigint = 0 OR r.sender_account_id = $1::bigint)"
		" AND ($2::bigint = 0 OR r.id = $2::bigint)"
		" ORDER BY r.last_activity DESC, r.id DESC"
		" LIMIT CASE WHEN $3::bigint = 0 THEN NULL ELSE $3::bigint END",
		3, db_i64(account_id), db_i64(id), db_i64((int64_t)max));
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	n = (size_t)PQntuples(res);
	v = xcalloc(n ? n : 1, sizeof(*v));
	for (i = 0; i < n; i++) {
		int r = (int)i;

		v[i].id = db_get_i64(res, r, 0);
		v[i].base_id = db_get_i64(res, r, 1);
		v[i].queued = db_get_i64(res, r, 2);
		v[i].account = xstrdup(PQgetvalue(res, r, 3));
		v[i].sender = xstrdup(PQgetvalue(res, r, 4));
		v[i].recipient = xstrdup(PQgetvalue(res, r, 5));
		v[i].from_id = xstrdup(PQgetvalue(res, r, 6));
		v[i].attempts = (int)db_get_i64(res, r, 7);
		v[i].last_activity = db_get_i64(res, r, 8);
		v[i].success = db_get_bool(res, r, 9);
		v[i].keep_until = db_get_i64(res, r, 10);
		v[i].message_id = xstrdup(PQgetvalue(res, r, 11));
		v[i].subject = xstrdup(PQgetvalue(res, r, 12));
		v[i].transport = xstrdup(PQgetvalue(res, r, 13));
		v[i].results = xstrdup(PQgetvalue(res, r, 14));
		v[i].last_error = xstrdup(PQgetvalue(res, r, 15));
	}
	PQclear(res);
	*v_r = v;
	*n_r = n;
	return 0;
}

int
queue_retired_find_fromid(struct store *st, const char *from_id, struct queue_retired *r_out,
	const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	PGresult *res;
	int64_t id;
	struct queue_retired *v;
	size_t n;

	if (c == NULL)
		return -1;
	res = db_execv(c, error_r,
		"SELECT id FROM queue_retired WHERE from_id = $1 AND from_id <> ''"
		" UNION ALL SELECT id FROM queue WHERE from_id = $1 AND from_id <> '' LIMIT 1",
		1, from_id);
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return 0;
	}
	id = db_get_i64(res, 0, 0);
	PQclear(res);
	if (queue_retired_list(st, 0, id, 1, &v, &n, error_r) < 0)
		return -1;
	memset(r_out, 0, sizeof(*r_out));
	if (n == 0) {
		/* Still queued (a delayed DSN): the id is what matters. */
		r_out->id = id;
		r_out->account = xstrdup("");
		r_out->sender = xstrdup("");
		r_out->recipient = xstrdup("");
		r_out->from_id = xstrdup(from_id);
		r_out->message_id = xstrdup("");
		r_out->subject = xstrdup("");
		r_out->transport = xstrdup("");
		r_out->results = xstrdup("[]");
		r_out->last_error = xstrdup("");
		queue_retired_free(v, n);
		return 1;
	}
	*r_out = v[0];
	free(v);
	return 1;
}
