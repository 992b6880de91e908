/* Copying and moving messages between mailboxes (IMAP COPY/MOVE): each copy
 * is a new row and a new hard link to the same file, linked and the bucket
 * directories fsync'd before the one transaction that inserts all rows (and,
 * for a move, expunges the originals) commits. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "store/store.h"
#include "store/store_private.h"

struct copy_src {
	int64_t id;
	uint32_t uid;
	char *path;		/* relative file path of the original */
	int64_t new_id;
	char *new_path;		/* relative path of the new link, NULL: none */
	uint32_t new_uid;
	bool inserted;
};

struct copy_ctx {
	int64_t account_id, src_mailbox_id;
	const char *target;
	bool move;
	struct copy_src *v;	/* ascending by uid and by new_id */
	size_t n;
	/* Set by copy_tx: */
	int result;		/* 0, STORE_OVER_QUOTA, STORE_NO_MAILBOX */
	int64_t tgt_id, modseq;
	uint32_t uidvalidity;
	char **del_paths;	/* move: files of the expunged originals */
	size_t ndel;
};

void
store_copy_result_free(struct store_copy_result *r)
{
	free(r->src_uids);
	free(r->dst_uids);
	memset(r, 0, sizeof(*r));
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static struct copy_src *
find_new_id(struct copy_ctx *ctx, int64_t id)
{
	size_t lo = 0, hi = ctx->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ctx->v[mid].new_id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < ctx->n && ctx->v[lo].new_id == id ? &ctx->v[lo] : NULL;
}

/*
 * The junk filter learns from $Junk/$NotJunk (FEATURES.md section 4): a
 * message put into the Junk mailbox is junk; one taken out of it into any
 * mailbox but Trash is not (deleting junk says nothing about it).
 */
static void
junk_masks(const char *src_use, const char *tgt_use, unsigned *set_r, unsigned *clear_r)
{
	*set_r = *clear_r = 0;
	if (strcmp(tgt_use, "junk") == 0) {
		*set_r = SF_JUNK;
		*clear_r = SF_NOTJUNK;
	} else if (strcmp(src_use, "junk") == 0 && strcmp(tgt_use, "trash") != 0) {
		*set_r = SF_NOTJUNK;
		*clear_r = SF_JUNK;
	}
}

static int
expunge_originals(PGconn *c, struct copy_ctx *ctx, const char **error_r)
{
	struct buf ids, arr;
	int64_t *v, size = 0, unseen = 0, unread = 0, deleted = 0;
	uint32_t *uids;
	size_t i, k = 0;
	PGresult *res;
	int rows, rc = -1;

	v = xcalloc(ctx->n, sizeof(*v));
	for (i = 0; i < ctx->n; i++)
		if (ctx->v[i].inserted)
			v[k++] = ctx->v[i].id;
	buf_init(&ids);
	buf_init(&arr);
	db_i64_array(&ids, v, k);
	free(v);
	res = db_execv(c, error_r,
		"DELETE FROM messages WHERE mailbox_id = $1 AND id = ANY($2::bigint[])"
		" RETURNING uid, file_path, size, flags",
		2, db_i64(ctx->src_mailbox_id), ids.data);
	if (res == NULL)
		goto out;
	rows = PQntuples(res);
	uids = xcalloc((size_t)rows + 1, sizeof(*uids));
	ctx->del_paths = xcalloc((size_t)rows + 1, sizeof(char *));
	for (i = 0; i < (size_t)rows; i++) {
		unsigned f = (unsigned)db_get_i64(res, (int)i, 3);

		uids[i] = (uint32_t)db_get_i64(res, (int)i, 0);
		ctx->del_paths[i] = xstrdup(PQgetvalue(res, (int)i, 1));
		size += db_get_i64(res, (int)i, 2);
		unseen += !(f & SF_SEEN);
		unread += !(f & (SF_SEEN | SF_DELETED));
		deleted += !!(f & SF_DELETED);
	}
	ctx->ndel = (size_t)rows;
	PQclear(res);
	store_pg_uid_array(&arr, uids, (size_t)rows);
	free(uids);
	/* Tombstones and counts as store_expunge leaves them; the account's
	 * disk usage is unchanged (the copies took the originals' place). */
	if (db_cmd(c, error_r,
		    "INSERT INTO expunged (account_id, mailbox_id, uid, modseq)"
		    " SELECT $1, $2, u, $4 FROM unnest($3::bigint[]) u"
		    " ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq = EXCLUDED.modseq",
		    4, db_i64(ctx->account_id), db_i64(ctx->src_mailbox_id), arr.data,
		    db_i64(ctx->modseq)) < 0 ||
	    db_cmd(c, error_r,
		    "UPDATE mailboxes SET count_total = count_total - $2, size = size - $3,"
		    " count_unseen = count_unseen - $4, count_unread = count_unread - $5,"
		    " count_deleted = count_deleted - $6 WHERE id = $1",
		    6, db_i64(ctx->src_mailbox_id), db_i64(rows), db_i64(size), db_i64(unseen),
		    db_i64(unread), db_i64(deleted)) < 0)
		goto out;
	rc = 0;
out:
	buf_free(&ids);
	buf_free(&arr);
	return rc;
}

static int
copy_tx(PGconn *c, void *arg, const char **error_r)
{
	struct copy_ctx *ctx = arg;
	struct buf sql, old_ids, new_ids, paths, kw;
	PGresult *res = NULL;
	char src_use[16] = "", tgt_use[16] = "";
	int64_t quota, usage, uidnext, size = 0, unseen = 0, unread = 0, deleted = 0;
	int64_t *ov, *nv;
	const char **pv;
	unsigned set, clear;
	size_t i, count = 0;
	int rows, rc = -1;

	/* A retried transaction starts over. */
	ctx->result = 0;
	for (i = 0; i < ctx->n; i++)
		ctx->v[i].inserted = false;
	store_free_words(ctx->del_paths, ctx->ndel);
	ctx->del_paths = NULL;
	ctx->ndel = 0;

	/* The account row first (the lock order everywhere, see
	 * store_bump_modseq), then the target mailbox row. */
	res = db_execv(c, error_r,
		"UPDATE accounts SET modseq = modseq + 1 WHERE id = $1"
		" RETURNING modseq, quota_message_size, disk_usage",
		1, db_i64(ctx->account_id));
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		*error_r = "no such account";
		return -1;
	}
	ctx->modseq = db_get_i64(res, 0, 0);
	quota = db_get_i64(res, 0, 1);
	usage = db_get_i64(res, 0, 2);
	PQclear(res);
	res = db_execv(c, error_r,
		"SELECT id, uidvalidity, uidnext, coalesce(special_use, ''),"
		" (SELECT coalesce(special_use, '') FROM mailboxes WHERE id = $3)"
		" FROM mailboxes WHERE account_id = $1 AND name = $2 FOR UPDATE",
		3, db_i64(ctx->account_id), ctx->target, db_i64(ctx->src_mailbox_id));
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		ctx->result = STORE_NO_MAILBOX;
		*error_r = "no such mailbox";
		return -1;
	}
	ctx->tgt_id = db_get_i64(res, 0, 0);
	ctx->uidvalidity = (uint32_t)db_get_i64(res, 0, 1);
	uidnext = db_get_i64(res, 0, 2);
	(void)ms_strlcpy(tgt_use, PQgetvalue(res, 0, 3), sizeof(tgt_use));
	(void)ms_strlcpy(src_use, PQgetvalue(res, 0, 4), sizeof(src_use));
	PQclear(res);
	junk_masks(src_use, tgt_use, &set, &clear);

	/* Every column of the original except the ones a copy gets anew, read
	 * from the catalog so columns added by later migrations are copied
	 * too (RFC 9051 6.4.7: "the flags and internal date of the message
	 * SHOULD be preserved"; we keep everything). */
	res = db_execv(c, error_r,
		"SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum),"
		" string_agg('m.' || quote_ident(attname), ', ' ORDER BY attnum)"
		" FROM pg_attribute WHERE attrelid = 'messages'::regclass AND attnum > 0"
		" AND NOT attisdropped AND attname <> ALL ('{id,mailbox_id,uid,modseq,"
		"createseq,flags,savedate,file_path}'::name[])", 0);
	if (res == NULL)
		return -1;
	buf_init(&sql);
	buf_init(&old_ids);
	buf_init(&new_ids);
	buf_init(&paths);
	buf_init(&kw);
	/* New UIDs in source UID order (row_number), all rows in one
	 * statement whatever the number of messages. */
	buf_printf(&sql,
		"INSERT INTO messages (id, mailbox_id, uid, modseq, createseq, flags, savedate,"
		" file_path, %s)"
		" SELECT x.new_id, $1, $2::bigint + row_number() OVER (ORDER BY m.uid) - 1, $3, $3,"
		" (m.flags & ~$4::int) | $5::int, now(), x.new_path, %s"
		" FROM messages m JOIN unnest($6::bigint[], $7::bigint[], $8::text[])"
		"  AS x(old_id, new_id, new_path) ON m.id = x.old_id"
		" WHERE m.mailbox_id = $9"
		" RETURNING id, uid, flags, size, array_to_string(keywords, ' ')",
		PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
	PQclear(res);
	ov = xcalloc(ctx->n, sizeof(*ov));
	nv = xcalloc(ctx->n, sizeof(*nv));
	pv = xcalloc(ctx->n, sizeof(*pv));
	for (i = 0; i < ctx->n; i++) {
		ov[i] = ctx->v[i].id;
		nv[i] = ctx->v[i].new_id;
		pv[i] = ctx->v[i].new_path;
	}
	db_i64_array(&old_ids, ov, ctx->n);
	db_i64_array(&new_ids, nv, ctx->n);
	db_text_array(&paths, pv, ctx->n);
	free(ov);
	free(nv);
	free(pv);
	{
		char setb[16], clearb[16];

		(void)snprintf(setb, sizeof(setb), "%u", set);
		(void)snprintf(clearb, sizeof(clearb), "%u", clear);
		res = db_execv(c, error_r, sql.data, 9, db_i64(ctx->tgt_id), db_i64(uidnext),
			db_i64(ctx->modseq), clearb, setb, old_ids.data, new_ids.data,
			paths.data, db_i64(ctx->src_mailbox_id));
	}
	if (res == NULL)
		goto out;
	rows = PQntuples(res);
	{
		const char **words = NULL;
		size_t nwords = 0;
		char **split = NULL;
		size_t nsplit = 0, j;

		for (i = 0; i < (size_t)rows; i++) {
			struct copy_src *cs = find_new_id(ctx, db_get_i64(res, (int)i, 0));
			unsigned f = (unsigned)db_get_i64(res, (int)i, 2);

			if (cs == NULL) {
				PQclear(res);
				*error_r = "copy: unexpected message id";
				goto out;
			}
			cs->inserted = true;
			cs->new_uid = (uint32_t)db_get_i64(res, (int)i, 1);
			size += db_get_i64(res, (int)i, 3);
			unseen += !(f & SF_SEEN);
			unread += !(f & (SF_SEEN | SF_DELETED));
			deleted += !!(f & SF_DELETED);
			count++;
		}
		/* Keywords of the copies become part of the target's FLAGS. */
		for (i = 0; i < (size_t)rows; i++) {
			store_split_words(PQgetvalue(res, (int)i, 4), &split, &nsplit);
			for (j = 0; j < nsplit; j++) {
				words = xrealloc(words, (nwords + 1) * sizeof(*words));
				words[nwords++] = split[j];
			}
			free(split);
		}
		db_text_array(&kw, words, nwords);
		for (j = 0; j < nwords; j++)
			free((char *)words[j]);
		free(words);
	}
	PQclear(res);
	if (count == 0) {
		rc = 0;
		goto out;
	}
	if (!ctx->move && quota > 0 && usage + size > quota) {
		ctx->result = STORE_OVER_QUOTA;
		*error_r = "quota exceeded";
		goto out;
	}
	if (db_cmd(c, error_r,
		    "UPDATE mailboxes SET uidnext = uidnext + $2, count_total = count_total + $2,"
		    " count_unseen = count_unseen + $3, count_unread = count_unread + $4,"
		    " count_deleted = count_deleted + $5, size = size + $6,"
		    " keywords = CASE WHEN cardinality($7::text[]) > 0 THEN ARRAY(SELECT DISTINCT k"
		    "  FROM unnest(keywords || $7::text[]) k ORDER BY k) ELSE keywords END"
		    " WHERE id = $1",
		    7, db_i64(ctx->tgt_id), db_i64((int64_t)count), db_i64(unseen), db_i64(unread),
		    db_i64(deleted), db_i64(size), kw.data) < 0)
		goto out;
	if (!ctx->move &&
	    db_cmd(c, error_r, "UPDATE accounts SET disk_usage = disk_usage + $2 WHERE id = $1",
		    2, db_i64(ctx->account_id), db_i64(size)) < 0)
		goto out;
	if (ctx->move && expunge_originals(c, ctx, error_r) < 0)
		goto out;
	rc = 0;
out:
	buf_free(&sql);
	buf_free(&old_ids);
	buf_free(&new_ids);
	buf_free(&paths);
	buf_free(&kw);
	return rc;
}

/* NOTIFY after COMMIT (as store_deliver does, see notify_payloads there):
 * not holding PostgreSQL's notify lock while the commit is flushed. */
static void
notify_after(struct store *st, int64_t account_id, int64_t mb1, int64_t mb2,
	int64_t modseq)
{
	struct buf p1, p2;
	const char *error;
	PGconn *c;

	c = db_get(st->pool, &error);
	if (c == NULL) {
		log_warn(NULL, "ev=notify-failed error=%s", lq(error));
		return;
	}
	buf_init(&p1);
	buf_init(&p2);
	buf_printf(&p1, "%lld %lld %lld", (long long)account_id, (long long)mb1,
		(long long)modseq);
	buf_printf(&p2, "%lld %lld %lld", (long long)account_id, (long long)mb2,
		(long long)modseq);
	if (db_cmd(c, &error,
		    "SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, $2),"
		    " CASE WHEN $3 <> $2 THEN pg_notify($1, $3) END",
		    3, STORE_NOTIFY_CHANNEL, p1.data, p2.data) < 0)
		log_warn(NULL, "ev=notify-failed error=%s", lq(error));
	db_put(st->pool, c);
	buf_free(&p1);
	buf_free(&p2);
}

static void
unlink_rel(struct store *st, const char *rel)
{
	struct buf full;

	buf_init(&full);
	buf_printf(&full, "%s/%s", st->datadir, rel);
	if (unlink(full.data) < 0 && errno != ENOENT)
		log_warn(NULL, "ev=unlink-failed path=%s error=%s", lq(full.data),
			lq(strerror(errno)));
	buf_free(&full);
}

/* Does the target exist? For a copy of nothing, which still answers
 * TRYCREATE for a missing mailbox. */
static int
target_exists(PGconn *c, struct copy_ctx *ctx, const char **error_r)
{
	PGresult *res = db_execv(c, error_r,
		"SELECT id, uidvalidity FROM mailboxes WHERE account_id = $1 AND name = $2",
		2, db_i64(ctx->account_id), ctx->target);
	int found;

	if (res == NULL)
		return -1;
	found = PQntuples(res) == 1;
	if (found) {
		ctx->tgt_id = db_get_i64(res, 0, 0);
		ctx->uidvalidity = (uint32_t)db_get_i64(res, 0, 1);
	}
	PQclear(res);
	return found;
}

int
store_copy(struct store *st, int64_t account_id, int64_t src_mailbox_id,
	const uint32_t *uids, size_t n, const char *target, bool move,
	struct store_copy_result *r, const char **error_r)
{
	struct copy_ctx ctx;
	struct buf arr;
	PGresult *res;
	PGconn *c;
	int64_t *ids = NULL, last_bucket = -1;
	size_t i;
	int rows, linked, rc = -1;
	bool unknown = false;

	memset(r, 0, sizeof(*r));
	memset(&ctx, 0, sizeof(ctx));
	ctx.account_id = account_id;
	ctx.src_mailbox_id = src_mailbox_id;
	ctx.target = target;
	ctx.move = move;

	c = db_get(st->pool, error_r);
	if (c == NULL)
		return -1;
	buf_init(&arr);
	store_pg_uid_array(&arr, uids, n);
	res = db_execv(c, error_r,
		"SELECT id, uid, file_path FROM messages WHERE mailbox_id = $1"
		" AND uid = ANY($2::bigint[]) ORDER BY uid",
		2, db_i64(src_mailbox_id), arr.data);
	buf_free(&arr);
	if (res == NULL) {
		db_put(st->pool, c);
		return -1;
	}
	rows = PQntuples(res);
	ctx.n = (size_t)rows;
	ctx.v = xcalloc(ctx.n + 1, sizeof(*ctx.v));
	for (i = 0; i < ctx.n; i++) {
		ctx.v[i].id = db_get_i64(res, (int)i, 0);
		ctx.v[i].uid = (uint32_t)db_get_i64(res, (int)i, 1);
		ctx.v[i].path = xstrdup(PQgetvalue(res, (int)i, 2));
	}
	PQclear(res);
	if (ctx.n == 0) {
		int found = target_exists(c, &ctx, error_r);

		db_put(st->pool, c);
		free(ctx.v);
		if (found < 0)
			return -1;
		if (found == 0) {
			*error_r = "no such mailbox";
			return STORE_NO_MAILBOX;
		}
		r->mailbox_id = ctx.tgt_id;
		r->uidvalidity = ctx.uidvalidity;
		return 0;
	}
	res = db_execv(c, error_r,
		"SELECT nextval('messages_id_seq') FROM generate_series(1, $1)", 1,
		db_i64((int64_t)ctx.n));
	db_put(st->pool, c);
	if (res == NULL)
		goto out;
	ids = xcalloc(ctx.n, sizeof(*ids));
	for (i = 0; i < ctx.n; i++)
		ids[i] = db_get_i64(res, (int)i, 0);
	PQclear(res);
	/* Ascending new ids in source UID order: the copies' files are in id
	 * order too, and find_new_id can search. */
	qsort(ids, ctx.n, sizeof(*ids), cmp_i64);
	for (i = 0; i < ctx.n; i++) {
		struct buf src;

		ctx.v[i].new_id = ids[i];
		buf_init(&src);
		buf_printf(&src, "%s/%s", st->datadir, ctx.v[i].path);
		linked = store_link_file(st, src.data, ids[i], &ctx.v[i].new_path, error_r);
		buf_free(&src);
		if (linked < 0)
			goto out;
	}
	/* One fsync per bucket directory (the ids ascend, so a bucket's
	 * copies are next to each other). */
	for (i = 0; i < ctx.n; i++) {
		int64_t bucket = ctx.v[i].new_id / STORE_MSG_PER_DIR;
		struct buf dir;

		if (bucket == last_bucket)
			continue;
		buf_init(&dir);
		buf_printf(&dir, "%s/msg/%lld", st->datadir, (long long)bucket);
		if (ms_fsync_dir(dir.data) < 0) {
			*error_r = ms_err("fsync %s: %s", dir.data, strerror(errno));
			buf_free(&dir);
			goto out;
		}
		buf_free(&dir);
		last_bucket = bucket;
	}
	rc = db_tx(st->pool, copy_tx, &ctx, error_r);
	/* -2: COMMIT outcome unknown; the links may be in use, keep them. */
	unknown = rc == -2;
	if (unknown)
		rc = -1;
	if (rc == 0) {
		r->mailbox_id = ctx.tgt_id;
		r->uidvalidity = ctx.uidvalidity;
		r->modseq = ctx.modseq;
		r->src_uids = xcalloc(ctx.n, sizeof(uint32_t));
		r->dst_uids = xcalloc(ctx.n, sizeof(uint32_t));
		for (i = 0; i < ctx.n; i++) {
			if (!ctx.v[i].inserted)
				continue;
			r->src_uids[r->n] = ctx.v[i].uid;
			r->dst_uids[r->n] = ctx.v[i].new_uid;
			r->n++;
		}
		if (r->n > 0)
			notify_after(st, account_id, ctx.tgt_id, move ? src_mailbox_id : ctx.tgt_id,
				ctx.modseq);
		/* The originals' rows are gone; their files can go. A crash
		 * before this leaves orphan files (verifydata). */
		for (i = 0; i < ctx.ndel; i++)
			unlink_rel(st, ctx.del_paths[i]);
	} else if (rc == -1 && ctx.result != 0) {
		rc = ctx.result;
	}
out:
	for (i = 0; i < ctx.n; i++) {
		/* Links without a committed row are removed. */
		if (ctx.v[i].new_path != NULL && !unknown && !(rc == 0 && ctx.v[i].inserted))
			unlink_rel(st, ctx.v[i].new_path);
		free(ctx.v[i].path);
		free(ctx.v[i].new_path);
	}
	free(ctx.v);
	free(ids);
	store_free_words(ctx.del_paths, ctx.ndel);
	return rc;
}
