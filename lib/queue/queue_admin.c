/* Queue administration: listing, reading, hold/release, dropping messages,
 * and hold rules. Used by the CLI now and the admin web interface later. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "mail/addr.h"
#include "queue/queue.h"
#include "queue/queue_private.h"
#include "queue/webhook.h"

void
queue_msgs_free(struct queue_msg *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].account);
		free(v[i].sender);
		free(v[i].recipient);
		free(v[i].from_id);
		free(v[i].last_error);
		free(v[i].message_id);
		free(v[i].subject);
		free(v[i].transport);
		free(v[i].future_release_request);
		free(v[i].extra);
		free(v[i].file_path);
	}
	free(v);
}

/* localpart@domain as an SMTP address (quoted when needed); "" for <>. */
static char *
format_addr(const char *localpart, const char *domain)
{
	struct mail_addr a;
	struct buf b;
	char *s;

	memset(&a, 0, sizeof(a));
	a.localpart = (char *)localpart;
	a.domain = (char *)domain;
	a.domain_ascii = (char *)domain;
	buf_init(&b);
	mail_addr_format(&b, &a, true);
	s = buf_steal(&b);
	buf_free(&b);	/* buf_steal leaves a fresh empty buffer */
	return s;
}

#define MSG_COLUMNS \
	"SELECT q.id, q.base_id, floor(extract(epoch FROM q.queued))::bigint, q.hold," \
	" coalesce(a.name, ''), q.sender_localpart, q.sender_domain," \
	" q.recipient_localpart, q.recipient_domain, q.from_id, q.attempts, q.max_attempts," \
	" floor(extract(epoch FROM q.next_attempt))::bigint," \
	" coalesce(floor(extract(epoch FROM q.last_attempt))::bigint, 0)," \
	" coalesce(q.results -> -1 ->> 'error', ''), q.size, q.message_id, q.subject," \
	" q.transport, CASE WHEN q.require_tls IS NULL THEN -1" \
	"  WHEN q.require_tls THEN 1 ELSE 0 END," \
	" q.future_release_request, q.extra::text, q.file_path" \
	" FROM queue q LEFT JOIN accounts a ON a.id = q.sender_account_id"

static void
msg_from_row(const PGresult *res, int row, struct queue_msg *m)
{
	m->id = db_get_i64(res, row, 0);
	m->base_id = db_get_i64(res, row, 1);
	m->queued = db_get_i64(res, row, 2);
	m->hold = db_get_bool(res, row, 3);
	m->account = xstrdup(PQgetvalue(res, row, 4));
	m->sender = format_addr(PQgetvalue(res, row, 5), PQgetvalue(res, row, 6));
	m->recipient = format_addr(PQgetvalue(res, row, 7), PQgetvalue(res, row, 8));
	m->from_id = xstrdup(PQgetvalue(res, row, 9));
	m->attempts = (int)db_get_i64(res, row, 10);
	m->max_attempts = (int)db_get_i64(res, row, 11);
	m->next_attempt = db_get_i64(res, row, 12);
	m->last_attempt = db_get_i64(res, row, 13);
	m->last_error = xstrdup(PQgetvalue(res, row, 14));
	m->size = db_get_i64(res, row, 15);
	m->message_id = xstrdup(PQgetvalue(res, row, 16));
	m->subject = xstrdup(PQgetvalue(res, row, 17));
	m->transport = xstrdup(PQgetvalue(res, row, 18));
	m->require_tls = (int)db_get_i64(res, row, 19);
	m->future_release_request = xstrdup(PQgetvalue(res, row, 20));
	m->extra = xstrdup(PQgetvalue(res, row, 21));
	m->file_path = xstrdup(PQgetvalue(res, row, 22));
}

int
queue_list(struct store *st, int64_t account_id, size_t max,
	struct queue_msg **v_r, size_t *n_r, const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	PGresult *res;
	struct queue_msg *v;
	size_t n, i;

	if (c == NULL)
		return -1;
	res = db_execv(c, error_r,
		MSG_COLUMNS
		" WHERE ($1::bigint = 0 OR q.sender_account_id = $1::bigint)"
		" ORDER BY q.next_attempt, q.id"
		" LIMIT CASE WHEN $2::bigint = 0 THEN NULL ELSE $2::bigint END",
		2, db_i64(account_id), db_i64((int64_t)max));
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	n = (size_t)PQntuples(res);
	v = xcalloc(n ? n : 1, sizeof(*v));
	for (i = 0; i < n; i++)
		msg_from_row(res, (int)i, &v[i]);
	PQclear(res);
	*v_r = v;
	*n_r = n;
	return 0;
}

int
queue_list_page(struct store *st, const struct queue_filter *f, size_t offset, size_t max,
	struct queue_msg **v_r, size_t *n_r, int64_t *total_r, const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	PGresult *res;
	struct queue_msg *v;
	size_t n, i;

	*total_r = 0;
	if (c == NULL)
		return -1;
	/* The page, then the count of all matching rows (both on one
	 * connection, but not one snapshot: the total is for display). */
	res = db_execv(c, error_r,
		MSG_COLUMNS
		" WHERE ($1::bigint = 0 OR q.sender_account_id = $1::bigint)"
		" AND ($2::int < 0 OR q.hold = ($2::int = 1))"
		" AND ($3::text IS NULL OR q.transport = $3::text)"
		" ORDER BY q.next_attempt, q.id OFFSET $4::bigint LIMIT $5::bigint",
		5, db_i64(f->account_id), db_i64(f->hold), f->transport, db_i64((int64_t)offset),
		db_i64((int64_t)(max ? max : 1000)));
	if (res != NULL) {
		PGresult *cnt = db_execv(c, error_r,
			"SELECT count(*) FROM queue q"
			" WHERE ($1::bigint = 0 OR q.sender_account_id = $1::bigint)"
			" AND ($2::int < 0 OR q.hold = ($2::int = 1))"
			" AND ($3::text IS NULL OR q.transport = $3::text)",
			3, db_i64(f->account_id), db_i64(f->hold), f->transport);

		if (cnt == NULL) {
			PQclear(res);
			res = NULL;
		} else {
			*total_r = db_get_i64(cnt, 0, 0);
			PQclear(cnt);
		}
	}
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	n = (size_t)PQntuples(res);
	v = xcalloc(n ? n : 1, sizeof(*v));
	for (i = 0; i < n; i++)
		msg_from_row(res, (int)i, &v[i]);
	PQclear(res);
	*v_r = v;
	*n_r = n;
	return 0;
}

int
queue_get(struct store *st, int64_t id, struct queue_msg *m_r, const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	PGresult *res;
	int found;

	if (c == NULL)
		return -1;
	res = db_execv(c, error_r, MSG_COLUMNS " WHERE q.id = $1", 1, db_i64(id));
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	found = PQntuples(res) == 1;
	memset(m_r, 0, sizeof(*m_r));
	if (found)
		msg_from_row(res, 0, m_r);
	PQclear(res);
	return found;
}

int
queue_msg_read(struct store *st, int64_t id, struct buf *out, const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	PGresult *res;
	struct buf path;
	int rc;

	if (c == NULL)
		return -1;
	res = db_execv(c, error_r, "SELECT msg_prefix, file_path FROM queue WHERE id = $1",
		1, db_i64(id));
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return 0;
	}
	if (db_get_bytea(res, 0, 0, out) < 0) {
		PQclear(res);
		*error_r = "bad msg_prefix";
		return -1;
	}
	buf_init(&path);
	buf_printf(&path, "%s/%s", st->datadir, PQgetvalue(res, 0, 1));
	PQclear(res);
	{
		struct buf file;

		buf_init(&file);
		rc = ms_read_file(path.data, &file);
		if (rc < 0)
			*error_r = ms_err("reading %s: %s", path.data, strerror(errno));
		else
			buf_append(out, file.data, file.len);
		buf_free(&file);
	}
	buf_free(&path);
	return rc < 0 ? -1 : 1;
}

int
queue_hold_set(struct store *st, const int64_t *ids, size_t n, bool hold,
	size_t *changed_r, const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	PGresult *res;
	struct buf arr;

	if (c == NULL)
		return -1;
	buf_init(&arr);
	db_i64_array(&arr, ids, n);
	res = db_execv(c, error_r,
		"UPDATE queue SET hold = $2::boolean"
		" WHERE id = ANY($1::bigint[]) AND hold <> $2::boolean",
		2, arr.data, hold ? "true" : "false");
	db_put(st->pool, c);
	buf_free(&arr);
	if (res == NULL)
		return -1;
	if (changed_r != NULL)
		*changed_r = (size_t)queue_cmd_tuples(res);
	PQclear(res);
	return 0;
}

struct drop_ctx {
	const char *ids;
	char **paths;
	size_t npaths;
};

static int
drop_tx(PGconn *c, void *arg, const char **error_r)
{
	struct drop_ctx *ctx = arg;
	PGresult *res;
	size_t i;

	for (i = 0; i < ctx->npaths; i++)
		free(ctx->paths[i]);
	free(ctx->paths);
	ctx->paths = NULL;
	ctx->npaths = 0;
	/* History first, for accounts that keep it; the result records why
	 * the message never went out. */
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
		    "  q.results || jsonb_build_array(jsonb_build_object("
		    "   'start', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
		    "   'duration_ms', 0, 'success', false, 'code', 0, 'secode', '',"
		    "   'error', 'delivery canceled by admin')),"
		    "  q.has_8bit, q.smtputf8, q.is_dmarc_report, q.is_tls_report, q.size,"
		    "  q.message_id, q.subject, q.transport, q.require_tls,"
		    "  q.future_release_request, q.extra, now(), false,"
		    "  now() + a.keep_retired_message_period"
		    " FROM queue q JOIN accounts a ON a.id = q.sender_account_id"
		    " WHERE q.id = ANY($1::bigint[]) AND a.keep_retired_message_period > '0'",
		    1, ctx->ids) < 0)
		return -1;
	/* "canceled" webhooks for accounts that want them, with the error
	 * the reference gives (FEATURES.md 6). */
	if (webhook_queue_rows_tx(c, ctx->ids, WEBHOOK_EVENT_CANCELED,
		    "delivery canceled by admin", 0, NULL, NULL, error_r) < 0)
		return -1;
	res = db_execv(c, error_r,
		"DELETE FROM queue WHERE id = ANY($1::bigint[]) RETURNING file_path",
		1, ctx->ids);
	if (res == NULL)
		return -1;
	ctx->npaths = (size_t)PQntuples(res);
	ctx->paths = xcalloc(ctx->npaths ? ctx->npaths : 1, sizeof(char *));
	for (i = 0; i < ctx->npaths; i++)
		ctx->paths[i] = xstrdup(PQgetvalue(res, (int)i, 0));
	PQclear(res);
	return 0;
}

int
queue_drop(struct store *st, const int64_t *ids, size_t n, size_t *dropped_r,
	const char **error_r)
{
	struct drop_ctx ctx;
	struct buf arr;
	size_t i;
	int rc;

	buf_init(&arr);
	db_i64_array(&arr, ids, n);
	memset(&ctx, 0, sizeof(ctx));
	ctx.ids = arr.data;
	rc = db_tx(st->pool, drop_tx, &ctx, error_r);
	if (rc == 0) {
		/* The rows are gone for good: now the files may go. A crash
		 * before this leaves orphans for verifydata, never a row
		 * without its file. */
		for (i = 0; i < ctx.npaths; i++)
			queue_unlink_rel(st, ctx.paths[i]);
		if (dropped_r != NULL)
			*dropped_r = ctx.npaths;
	}
	for (i = 0; i < ctx.npaths; i++)
		free(ctx.paths[i]);
	free(ctx.paths);
	buf_free(&arr);
	return rc;
}

/* ---- hold rules ---- */

void
queue_hold_rules_free(struct queue_hold_rule *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].account);
		free(v[i].sender_domain);
		free(v[i].recipient_domain);
	}
	free(v);
}

int
queue_holdrule_list(struct store *st, struct queue_hold_rule **v_r, size_t *n_r,
	const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	PGresult *res;
	struct queue_hold_rule *v;
	size_t n, i;

	if (c == NULL)
		return -1;
	res = db_execv(c, error_r,
		"SELECT h.id, coalesce(h.account_id, 0), coalesce(a.name, ''),"
		" h.sender_domain, h.recipient_domain"
		" FROM queue_hold_rules h LEFT JOIN accounts a ON a.id = h.account_id"
		" ORDER BY h.id", 0);
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	n = (size_t)PQntuples(res);
	v = xcalloc(n ? n : 1, sizeof(*v));
	for (i = 0; i < n; i++) {
		v[i].id = db_get_i64(res, (int)i, 0);
		v[i].account_id = db_get_i64(res, (int)i, 1);
		v[i].account = xstrdup(PQgetvalue(res, (int)i, 2));
		v[i].sender_domain = xstrdup(PQgetvalue(res, (int)i, 3));
		v[i].recipient_domain = xstrdup(PQgetvalue(res, (int)i, 4));
	}
	PQclear(res);
	*v_r = v;
	*n_r = n;
	return 0;
}

struct holdrule_ctx {
	const char *account;	/* NULL: any */
	const char *sender_domain, *recipient_domain;
	int64_t id;
	size_t held;
};

static int
holdrule_add_tx(PGconn *c, void *arg, const char **error_r)
{
	struct holdrule_ctx *ctx = arg;
	PGresult *res;

	res = db_execv(c, error_r,
		"INSERT INTO queue_hold_rules (account_id, sender_domain, recipient_domain)"
		" VALUES ($1::bigint, $2, $3) RETURNING id",
		3, ctx->account, ctx->sender_domain, ctx->recipient_domain);
	if (res == NULL)
		return -1;
	ctx->id = db_get_i64(res, 0, 0);
	PQclear(res);
	/* The same condition as at submission (queue_add). */
	res = db_execv(c, error_r,
		"UPDATE queue SET hold = true WHERE NOT hold"
		" AND ($1::bigint IS NULL OR sender_account_id = $1::bigint)"
		" AND ($2 = '' OR sender_domain = $2) AND ($3 = '' OR recipient_domain = $3)",
		3, ctx->account, ctx->sender_domain, ctx->recipient_domain);
	if (res == NULL)
		return -1;
	ctx->held = (size_t)queue_cmd_tuples(res);
	PQclear(res);
	return 0;
}

int
queue_holdrule_add(struct store *st, int64_t account_id, const char *sender_domain,
	const char *recipient_domain, int64_t *id_r, size_t *held_r, const char **error_r)
{
	struct holdrule_ctx ctx;
	char acct[24];

	memset(&ctx, 0, sizeof(ctx));
	if (account_id > 0) {
		(void)snprintf(acct, sizeof(acct), "%lld", (long long)account_id);
		ctx.account = acct;
	}
	ctx.sender_domain = sender_domain ? sender_domain : "";
	ctx.recipient_domain = recipient_domain ? recipient_domain : "";
	if (db_tx(st->pool, holdrule_add_tx, &ctx, error_r) < 0)
		return -1;
	if (id_r != NULL)
		*id_r = ctx.id;
	if (held_r != NULL)
		*held_r = ctx.held;
	return 0;
}

int
queue_holdrule_remove(struct store *st, int64_t id, const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	PGresult *res;
	int removed;

	if (c == NULL)
		return -1;
	res = db_execv(c, error_r, "DELETE FROM queue_hold_rules WHERE id = $1",
		1, db_i64(id));
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	removed = queue_cmd_tuples(res) > 0;
	PQclear(res);
	return removed;
}
