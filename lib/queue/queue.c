/* Enqueueing: message files linked into <datadir>/queue/<id/8192>/<id> and
 * their directories fsync'd before the transaction that inserts the rows
 * commits (as store_deliver does for mailboxes), plus the account send
 * limits. A crash in between leaves at most orphan files, never a row
 * without its file. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json.h>

#include "core/log.h"
#include "core/util.h"
#include "queue/queue.h"
#include "queue/queue_private.h"

#define MAX_RCPTS 10000

int64_t
queue_cmd_tuples(PGresult *res)
{
	uint64_t v;

	if (ms_parse_u64(PQcmdTuples(res), 0, INT64_MAX, &v) < 0)
		return 0;
	return (int64_t)v;
}

void
queue_rcpt_key(struct buf *out, const char *localpart, const char *domain)
{
	buf_puts(out, localpart);
	buf_putc(out, '@');
	buf_puts(out, domain);
}

/* ---- send limits ---- */

/* Compute the limits on connection c; the recipients are a text[] literal
 * of n entries. */
static int
limits_query(PGconn *c, int64_t account_id, const char *rcpt_array, size_t n,
	int *reason_r, int64_t *limit_r, const char **error_r)
{
	PGresult *res;
	int64_t max_msgs, max_first, sent, first_recent, first_new;

	res = db_execpv(c, error_r,
		"SELECT a.max_outgoing_messages_per_day, a.max_first_time_recipients_per_day,"
		" (SELECT count(*) FROM outgoing o WHERE o.account_id = a.id"
		"   AND o.submitted > now() - interval '24 hours'),"
		" (SELECT count(*) FROM outgoing_recipients r WHERE r.account_id = a.id"
		"   AND r.first_submitted > now() - interval '24 hours'),"
		" (SELECT count(DISTINCT x) FROM unnest($2::text[]) AS x WHERE NOT EXISTS"
		"   (SELECT 1 FROM outgoing_recipients r WHERE r.account_id = a.id AND r.recipient = x))"
		" FROM accounts a WHERE a.id = $1",
		2, db_i64(account_id), rcpt_array);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		*error_r = ms_err("no account with id %lld", (long long)account_id);
		return -1;
	}
	max_msgs = db_get_i64(res, 0, 0);
	max_first = db_get_i64(res, 0, 1);
	sent = db_get_i64(res, 0, 2);
	first_recent = db_get_i64(res, 0, 3);
	first_new = db_get_i64(res, 0, 4);
	PQclear(res);
	*reason_r = QUEUE_OK;
	if (limit_r != NULL)
		*limit_r = 0;
	if (sent + (int64_t)n > max_msgs) {
		*reason_r = QUEUE_LIMIT_MESSAGES;
		if (limit_r != NULL)
			*limit_r = max_msgs;
	} else if (first_recent + first_new > max_first) {
		*reason_r = QUEUE_LIMIT_FIRST_TIME;
		if (limit_r != NULL)
			*limit_r = max_first;
	}
	return 0;
}

int
queue_check_limits(struct store *st, int64_t account_id,
	const char *const *recipients, size_t n, int *reason_r, int64_t *limit_r,
	const char **error_r)
{
	struct buf arr;
	PGconn *c;
	int rc;

	c = db_get(st->pool, error_r);
	if (c == NULL)
		return -1;
	buf_init(&arr);
	db_text_array(&arr, recipients, n);
	rc = limits_query(c, account_id, arr.data, n, reason_r, limit_r, error_r);
	db_put(st->pool, c);
	buf_free(&arr);
	return rc;
}

const char *
queue_refusal_text(int reason, int64_t limit)
{
	switch (reason) {
	case QUEUE_LIMIT_MESSAGES:
		return ms_err("max number of messages (%lld) over past 24h reached, try increasing"
			" per-account setting max_outgoing_messages_per_day", (long long)limit);
	case QUEUE_LIMIT_FIRST_TIME:
		return ms_err("max number of new/first-time recipients (%lld) over past 24h reached,"
			" try increasing per-account setting max_first_time_recipients_per_day",
			(long long)limit);
	case QUEUE_FROMID_EXISTS:
		return "fromid not unique";
	default:
		return "ok";
	}
}

/* ---- files ---- */

/* Offset just past the empty line that ends the header section, or n. */
static size_t
header_end(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		const char *nl = memchr(s + i, '\n', n - i);

		if (nl == NULL)
			return n;
		if ((size_t)(nl - s) == i || ((size_t)(nl - s) == i + 1 && s[i] == '\r'))
			return (size_t)(nl - s) + 1;
		i = (size_t)(nl - s) + 1;
	}
	return n;
}

/* When the message has X-Mailstead-Extra-* fields, write a copy without
 * them to a new fsync'd temporary file and return its path in *path_r
 * (malloc'd; NULL when the message has none and can be linked as is). */
static int
strip_copy(struct store *st, const char *path, char **path_r, const char **error_r)
{
	struct stat stb;
	struct buf head;
	void *map = NULL;
	const char *data = "";
	size_t size, hlen;
	int fd, out = -1, rc = -1;
	char *tmp = NULL;

	*path_r = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &stb) < 0) {
		*error_r = ms_err("opening message %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	size = (size_t)stb.st_size;
	if (size > 0) {
		map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			*error_r = ms_err("mapping message: %s", strerror(errno));
			close(fd);
			return -1;
		}
		data = map;
	}
	close(fd);
	buf_init(&head);
	hlen = header_end(data, size);
	if (queue_strip_extra(data, hlen, &head) == 0) {
		rc = 0;
		goto out;
	}
	out = store_tmpfile(st, &tmp, error_r);
	if (out < 0)
		goto out;
	if (ms_write_all(out, head.data, head.len) < 0 ||
	    ms_write_all(out, data + hlen, size - hlen) < 0 || fsync(out) < 0) {
		*error_r = ms_err("writing %s: %s", tmp, strerror(errno));
		goto out;
	}
	*path_r = tmp;
	tmp = NULL;
	rc = 0;
out:
	if (out >= 0)
		close(out);
	if (tmp != NULL) {
		(void)unlink(tmp);
		free(tmp);
	}
	buf_free(&head);
	if (map != NULL)
		munmap(map, size);
	return rc;
}

void
queue_file_relpath(struct buf *out, int64_t id)
{
	buf_printf(out, "queue/%lld/%lld", (long long)(id / QUEUE_MSG_PER_DIR), (long long)id);
}

/* Highest queue/ bucket directory whose entry this process has made
 * durable (queue/ itself counts as bucket -1); -2 none yet. Whoever
 * created a directory, its entry is fsync'd once per process before the
 * first file in it is committed: another thread or process may have made
 * it and not synced yet. One data directory per process. */
static _Atomic int64_t durable_bucket = -2;

/* mkdir path (may exist) and make its entry in parent durable unless the
 * bucket is known to be. */
static int
mkdir_durable(const char *path, const char *parent, int64_t bucket,
	const char **error_r)
{
	if (mkdir(path, 0750) < 0 && errno != EEXIST) {
		*error_r = ms_err("creating %s: %s", path, strerror(errno));
		return -1;
	}
	if (bucket > atomic_load(&durable_bucket)) {
		if (ms_fsync_dir(parent) < 0) {
			*error_r = ms_err("fsync %s: %s", parent, strerror(errno));
			return -1;
		}
		atomic_store(&durable_bucket, bucket);
	}
	return 0;
}

/* Link src to queue/<dir>/<id> for every id, then fsync each directory
 * once. relpaths[i] gets the relative paths (malloc'd). On failure the
 * links made so far stay in relpaths for the caller to remove. */
static int
link_files(struct store *st, const char *src, const int64_t *ids, size_t n,
	char **relpaths, const char **error_r)
{
	struct buf qdir, dir, full, rel;
	int64_t lastdir = -1;
	size_t i;
	int rc = -1;

	buf_init(&qdir);
	buf_init(&dir);
	buf_init(&full);
	buf_init(&rel);
	buf_printf(&qdir, "%s/queue", st->datadir);
	if (mkdir_durable(qdir.data, st->datadir, -1, error_r) < 0)
		goto out;
	for (i = 0; i < n; i++) {
		int64_t d = ids[i] / QUEUE_MSG_PER_DIR;

		buf_reset(&dir);
		buf_printf(&dir, "%s/%lld", qdir.data, (long long)d);
		if (d != lastdir && mkdir_durable(dir.data, qdir.data, d, error_r) < 0)
			goto out;
		buf_reset(&rel);
		queue_file_relpath(&rel, ids[i]);
		buf_reset(&full);
		buf_printf(&full, "%s/%s", st->datadir, rel.data);
		if (link(src, full.data) < 0) {
			*error_r = ms_err("linking message to %s: %s", full.data, strerror(errno));
			goto out;
		}
		relpaths[i] = xstrdup(rel.data);
		/* ids ascend, so a directory is done when the next id is in
		 * another one (or this is the last). */
		if (i + 1 == n || ids[i + 1] / QUEUE_MSG_PER_DIR != d) {
			if (ms_fsync_dir(dir.data) < 0) {
				*error_r = ms_err("fsync %s: %s", dir.data, strerror(errno));
				goto out;
			}
		}
		lastdir = d;
	}
	rc = 0;
out:
	buf_free(&qdir);
	buf_free(&dir);
	buf_free(&full);
	buf_free(&rel);
	return rc;
}

void
queue_unlink_rel(struct store *st, const char *rel)
{
	struct buf full;

	buf_init(&full);
	buf_printf(&full, "%s/%s", st->datadir, rel);
	if (unlink(full.data) < 0 && errno != ENOENT)
		log_warn(NULL, "ev=queue-unlink path=%s err=%s", lq(full.data), lq(strerror(errno)));
	buf_free(&full);
}

static int
take_ids(struct store *st, size_t n, int64_t *ids, const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	PGresult *res;
	size_t i, j;

	if (c == NULL)
		return -1;
	res = db_execpv(c, error_r,
		"SELECT nextval('queue_id_seq') FROM generate_series(1, $1)", 1,
		db_i64((int64_t)n));
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	if ((size_t)PQntuples(res) != n) {
		PQclear(res);
		*error_r = "queue_id_seq gave too few ids";
		return -1;
	}
	for (i = 0; i < n; i++)
		ids[i] = db_get_i64(res, (int)i, 0);
	PQclear(res);
	/* Ascending, for base_id and for fsync'ing each directory once. */
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && ids[j] < ids[j - 1]; j--) {
			int64_t t = ids[j];
			ids[j] = ids[j - 1];
			ids[j - 1] = t;
		}
	return 0;
}

/* ---- the transaction ---- */

struct add_ctx {
	const struct queue_msg_in *m;
	size_t n;
	int64_t base_id;
	int64_t size;
	struct buf ids, localparts, domains, from_ids, paths, keys;
	struct buf subject, message_id;	/* valid UTF-8 */
	const char *extra_json;
	bool any_from_id;
	int refusal;
};

static int
add_tx(PGconn *c, void *arg, const char **error_r)
{
	struct add_ctx *ctx = arg;
	const struct queue_msg_in *m = ctx->m;
	const char *values[24];
	int lengths[24], formats[24];
	char next[32], maxatt[16];
	PGresult *res;
	int i;

	ctx->refusal = QUEUE_OK;
	if (m->check_limits) {
		int64_t limit;

		/* Serialize submissions of one account so two cannot both pass
		 * the check before either records its recipients. */
		if (db_cmd(c, error_r, "SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE",
			    1, db_i64(m->account_id)) < 0)
			return -1;
		if (limits_query(c, m->account_id, ctx->keys.data, ctx->n, &ctx->refusal,
			    &limit, error_r) < 0)
			return -1;
		if (ctx->refusal != QUEUE_OK) {
			*error_r = queue_refusal_text(ctx->refusal, limit);
			return -1;
		}
	}
	if (ctx->any_from_id) {
		res = db_execpv(c, error_r,
			"SELECT from_id FROM queue WHERE from_id = ANY($1::text[]) AND from_id <> ''"
			" UNION ALL SELECT from_id FROM queue_retired"
			"  WHERE from_id = ANY($1::text[]) AND from_id <> '' LIMIT 1",
			1, ctx->from_ids.data);
		if (res == NULL)
			return -1;
		if (PQntuples(res) > 0) {
			*error_r = ms_err("fromid %s already used", lq(PQgetvalue(res, 0, 0)));
			PQclear(res);
			ctx->refusal = QUEUE_FROMID_EXISTS;
			return -1;
		}
		PQclear(res);
	}

	for (i = 0; i < 24; i++) {
		values[i] = NULL;
		lengths[i] = 0;
		formats[i] = 0;
	}
	(void)snprintf(next, sizeof(next), "%lld", (long long)m->next_attempt);
	(void)snprintf(maxatt, sizeof(maxatt), "%d", m->max_attempts);
	values[0] = ctx->ids.data;
	values[1] = ctx->localparts.data;
	values[2] = ctx->domains.data;
	values[3] = ctx->from_ids.data;
	values[4] = ctx->paths.data;
	values[5] = db_i64(ctx->base_id);
	values[6] = m->account_id > 0 ? db_i64(m->account_id) : NULL;
	values[7] = m->sender_localpart ? m->sender_localpart : "";
	values[8] = m->sender_domain ? m->sender_domain : "";
	values[9] = maxatt;
	values[10] = m->next_attempt > 0 ? next : NULL;
	values[11] = m->has_8bit ? "true" : "false";
	values[12] = m->smtputf8 ? "true" : "false";
	values[13] = m->is_dmarc_report ? "true" : "false";
	values[14] = m->is_tls_report ? "true" : "false";
	values[15] = db_i64(ctx->size);
	values[16] = ctx->message_id.data;
	values[17] = m->prefix ? m->prefix : "";
	lengths[17] = (int)m->prefix_len;
	formats[17] = 1;	/* binary bytea */
	values[18] = ctx->subject.data;
	values[19] = m->transport ? m->transport : "";
	values[20] = m->require_tls == QUEUE_TLS_REQUIRED ? "true" :
		m->require_tls == QUEUE_TLS_NOT_REQUIRED ? "false" : NULL;
	values[21] = m->future_release_request ? m->future_release_request : "";
	values[22] = ctx->extra_json;
	res = db_exec_bin(c,
		"INSERT INTO queue (id, base_id, hold, sender_account_id, sender_localpart,"
		" sender_domain, from_id, recipient_localpart, recipient_domain, max_attempts,"
		" next_attempt, has_8bit, smtputf8, is_dmarc_report, is_tls_report, size,"
		" message_id, msg_prefix, subject, transport, require_tls,"
		" future_release_request, extra, file_path)"
		" SELECT r.id, $6,"
		"  EXISTS (SELECT 1 FROM queue_hold_rules h"
		"   WHERE (h.account_id IS NULL OR h.account_id = $7::bigint)"
		"   AND (h.sender_domain = '' OR h.sender_domain = $9)"
		"   AND (h.recipient_domain = '' OR h.recipient_domain = r.dom)),"
		"  $7::bigint, $8, $9, r.fid, r.lp, r.dom, $10::int,"
		"  coalesce(to_timestamp($11::bigint), now()), $12::boolean, $13::boolean,"
		"  $14::boolean, $15::boolean, $16::bigint, $17, $18, $19, $20, $21::boolean,"
		"  $22, $23::jsonb, r.path"
		" FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[])"
		"  AS r(id, lp, dom, fid, path)",
		23, values, lengths, formats, error_r);
	if (res == NULL) {
		if (strcmp(db_last_sqlstate(), "23505") == 0 && ctx->any_from_id) {
			/* A concurrent submission took the same fromid. */
			ctx->refusal = QUEUE_FROMID_EXISTS;
			*error_r = queue_refusal_text(QUEUE_FROMID_EXISTS, 0);
		}
		return -1;
	}
	PQclear(res);

	if (m->account_id > 0) {
		/* Bookkeeping for the send limits: outgoing only needs the last
		 * 24 hours, so this account's older rows go now. */
		if (db_cmd(c, error_r,
			    "DELETE FROM outgoing WHERE account_id = $1"
			    " AND submitted < now() - interval '24 hours'",
			    1, db_i64(m->account_id)) < 0 ||
		    db_cmd(c, error_r,
			    "INSERT INTO outgoing (account_id, recipient)"
			    " SELECT $1, x FROM unnest($2::text[]) AS x",
			    2, db_i64(m->account_id), ctx->keys.data) < 0 ||
		    db_cmd(c, error_r,
			    "INSERT INTO outgoing_recipients (account_id, recipient)"
			    " SELECT DISTINCT $1::bigint, x FROM unnest($2::text[]) AS x"
			    " ON CONFLICT (account_id, recipient) DO UPDATE SET last_submitted = now()",
			    2, db_i64(m->account_id), ctx->keys.data) < 0)
			return -1;
	}
	return 0;
}

static char *
extra_to_json(const struct queue_extra *e)
{
	json_object *o = json_object_new_object();
	char *s;
	size_t i;

	for (i = 0; e != NULL && i < e->n; i++)
		json_object_object_add(o, e->v[i].key, json_object_new_string(e->v[i].value));
	s = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

static int
check_input(const struct queue_msg_in *m, const struct queue_rcpt *rcpts,
	size_t n, const char **error_r)
{
	size_t i, j;

	if (n == 0 || n > MAX_RCPTS) {
		*error_r = ms_err("need 1 to %d recipients, got %zu", MAX_RCPTS, n);
		return -1;
	}
	if (m->path == NULL) {
		*error_r = "no message file";
		return -1;
	}
	if (m->check_limits && m->account_id <= 0) {
		*error_r = "send limits need an account";
		return -1;
	}
	if (m->next_attempt > 0 && m->next_attempt > ms_now() + QUEUE_FUTURE_RELEASE_MAX + 60) {
		*error_r = "next attempt more than 60 days in the future";
		return -1;
	}
	if (m->max_attempts < 0) {
		*error_r = "negative max_attempts";
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (rcpts[i].localpart == NULL || rcpts[i].domain == NULL ||
		    rcpts[i].domain[0] == '\0') {
			*error_r = ms_err("recipient %zu has no domain", i + 1);
			return -1;
		}
		if (rcpts[i].from_id == NULL || rcpts[i].from_id[0] == '\0')
			continue;
		for (j = 0; j < i; j++) {
			if (rcpts[j].from_id != NULL &&
			    strcmp(rcpts[j].from_id, rcpts[i].from_id) == 0) {
				*error_r = ms_err("fromid %s used twice", lq(rcpts[i].from_id));
				return QUEUE_FROMID_EXISTS;
			}
		}
	}
	return 0;
}

int
queue_add(struct store *st, const struct queue_msg_in *m,
	const struct queue_rcpt *rcpts, size_t n, int64_t *ids_r,
	const char **error_r)
{
	struct add_ctx ctx;
	struct stat stb;
	const char **v;
	char *stripped = NULL, **relpaths = NULL, *json = NULL;
	const char *src;
	int64_t *ids = NULL;
	size_t i;
	int rc;

	rc = check_input(m, rcpts, n, error_r);
	if (rc != 0)
		return rc;
	rc = -1;
	memset(&ctx, 0, sizeof(ctx));
	ctx.m = m;
	ctx.n = n;
	buf_init(&ctx.ids);
	buf_init(&ctx.localparts);
	buf_init(&ctx.domains);
	buf_init(&ctx.from_ids);
	buf_init(&ctx.paths);
	buf_init(&ctx.keys);
	buf_init(&ctx.subject);
	buf_init(&ctx.message_id);
	queue_utf8_sanitize(&ctx.subject, m->subject ? m->subject : "");
	queue_utf8_sanitize(&ctx.message_id, m->message_id ? m->message_id : "");
	relpaths = xcalloc(n, sizeof(char *));
	ids = xcalloc(n, sizeof(int64_t));
	v = xcalloc(n, sizeof(char *));

	src = m->path;
	if (m->strip_extra_headers) {
		if (strip_copy(st, m->path, &stripped, error_r) < 0)
			goto out;
		if (stripped != NULL)
			src = stripped;
	}
	if (stat(src, &stb) < 0) {
		*error_r = ms_err("message file %s: %s", src, strerror(errno));
		goto out;
	}
	ctx.size = (int64_t)m->prefix_len + (int64_t)stb.st_size;
	if (take_ids(st, n, ids, error_r) < 0)
		goto out;
	ctx.base_id = ids[0];
	if (link_files(st, src, ids, n, relpaths, error_r) < 0)
		goto out;

	db_i64_array(&ctx.ids, ids, n);
	for (i = 0; i < n; i++)
		v[i] = rcpts[i].localpart;
	db_text_array(&ctx.localparts, v, n);
	for (i = 0; i < n; i++)
		v[i] = rcpts[i].domain;
	db_text_array(&ctx.domains, v, n);
	for (i = 0; i < n; i++) {
		v[i] = rcpts[i].from_id ? rcpts[i].from_id : "";
		if (v[i][0] != '\0')
			ctx.any_from_id = true;
	}
	db_text_array(&ctx.from_ids, v, n);
	db_text_array(&ctx.paths, (const char *const *)relpaths, n);
	{
		struct buf *keys = xcalloc(n, sizeof(struct buf));

		for (i = 0; i < n; i++) {
			buf_init(&keys[i]);
			queue_rcpt_key(&keys[i], rcpts[i].localpart, rcpts[i].domain);
			v[i] = keys[i].data;
		}
		db_text_array(&ctx.keys, v, n);
		for (i = 0; i < n; i++)
			buf_free(&keys[i]);
		free(keys);
	}
	json = extra_to_json(m->extra);
	ctx.extra_json = json;

	rc = db_tx(st->pool, add_tx, &ctx, error_r);
	if (rc == -2) {
		/* COMMIT outcome unknown: the rows may exist, so the files must
		 * stay (at worst orphans for verifydata). Report an error: the
		 * client retries, and a duplicate beats a loss. */
		for (i = 0; i < n; i++) {
			free(relpaths[i]);
			relpaths[i] = NULL;
		}
		rc = -1;
		goto out;
	}
	if (rc < 0) {
		if (ctx.refusal != QUEUE_OK)
			rc = ctx.refusal;
		goto out;
	}
	if (ids_r != NULL)
		memcpy(ids_r, ids, n * sizeof(int64_t));
	rc = 0;
out:
	for (i = 0; i < n; i++) {
		if (relpaths[i] != NULL && rc != 0)
			queue_unlink_rel(st, relpaths[i]);
		free(relpaths[i]);
	}
	if (stripped != NULL) {
		(void)unlink(stripped);
		free(stripped);
	}
	free(relpaths);
	free(ids);
	free(v);
	free(json);
	buf_free(&ctx.ids);
	buf_free(&ctx.localparts);
	buf_free(&ctx.domains);
	buf_free(&ctx.from_ids);
	buf_free(&ctx.paths);
	buf_free(&ctx.keys);
	buf_free(&ctx.subject);
	buf_free(&ctx.message_id);
	return rc;
}
