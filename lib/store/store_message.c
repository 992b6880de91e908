/* Reading messages, changing flags, expunging, and change tracking. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "store/store.h"
#include "store/store_private.h"

void
store_msg_free(struct store_msg *m)
{
	store_free_words(m->keywords, m->nkeywords);
	free(m->file_path);
	buf_free(&m->prefix);
	buf_free(&m->fields);
	free(m->parsed);
	free(m->preview);
	memset(m, 0, sizeof(*m));
}

void
store_msgs_free(struct store_msg *ms, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		store_msg_free(&ms[i]);
	free(ms);
}

void
store_flag_changes_free(struct store_flag_change *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		store_free_words(c[i].keywords, c[i].nkeywords);
	free(c);
}

void
store_changes_free(struct store_change *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		store_free_words(c[i].keywords, c[i].nkeywords);
	free(c);
}

static uint32_t *
uids_from_result(const PGresult *res, int col, size_t *n_r)
{
	int i, n = PQntuples(res);
	uint32_t *v = xcalloc((size_t)n, sizeof(uint32_t));

	for (i = 0; i < n; i++)
		v[i] = (uint32_t)db_get_i64(res, i, col);
	*n_r = (size_t)n;
	return v;
}

int
store_mailbox_uids(struct store *st, int64_t mailbox_id, uint32_t **uids_r,
	size_t *n_r, const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	PGresult *res;

	if (c == NULL)
		return -1;
	res = db_execv(c, error_r,
		"SELECT uid FROM messages WHERE mailbox_id = $1 ORDER BY uid", 1,
		db_i64(mailbox_id));
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	*uids_r = uids_from_result(res, 0, n_r);
	PQclear(res);
	return 0;
}

int
store_mailbox_states(struct store *st, int64_t mailbox_id, store_state_fn *fn, void *ctx,
	const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	PGresult *res;
	int i, n;

	if (c == NULL)
		return -1;
	res = db_execv(c, error_r,
		"SELECT uid, flags, modseq, array_to_string(keywords, ' ') FROM messages"
		" WHERE mailbox_id = $1 ORDER BY uid", 1, db_i64(mailbox_id));
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	n = PQntuples(res);
	for (i = 0; i < n; i++)
		fn(ctx, (size_t)n, (uint32_t)db_get_i64(res, i, 0), (unsigned)db_get_i64(res, i, 1),
			db_get_i64(res, i, 2), PQgetvalue(res, i, 3));
	PQclear(res);
	return 0;
}

/* The columns of store_msgs_get; $1 mailbox, $2/$3/$4 what to load. */
#define MSGS_SELECT \
	"SELECT id, uid, flags, array_to_string(keywords, ' '), modseq, size," \
	" floor(extract(epoch FROM received))::bigint, file_path, length(msg_prefix)," \
	" CASE WHEN $2 THEN parsed::text END, CASE WHEN $3 THEN msg_prefix END," \
	" floor(extract(epoch FROM savedate))::bigint, CASE WHEN $4 THEN preview END" \
	" FROM messages WHERE mailbox_id = $1 AND "

int
store_msgs_get(struct store *st, int64_t mailbox_id, const uint32_t *uids,
	size_t n, unsigned what, struct store_msg **msgs_r, size_t *n_r,
	const char **error_r)
{
	PGconn *c;
	PGresult *res;
	struct buf arr;
	const char *values[6];
	bool dense = true;
	size_t i, j = 0, got = 0;
	int row, rows;

	*msgs_r = NULL;
	*n_r = 0;
	if (n == 0)
		return 0;
	for (i = 1; i < n && dense; i++)
		if (uids[i] <= uids[i - 1])
			dense = false;
	/*
	 * FETCH 1:* and searches walk whole mailboxes batch by batch. For a
	 * batch without many holes one range scan of the (mailbox_id, uid)
	 * index costs PostgreSQL less than half of one index probe per UID
	 * with "uid = ANY(array)" (bench/imap, RESULTS.md); rows in the range
	 * that were not asked for, at most as many as were, are skipped
	 * below. Both statements are prepared: planning took as long as
	 * running a batch.
	 */
	dense = dense && (uint64_t)uids[n - 1] - uids[0] < 2 * (uint64_t)n;
	buf_init(&arr);
	values[0] = db_i64(mailbox_id);
	values[1] = (what & STORE_MSGS_PARSED) ? "true" : "false";
	values[2] = (what & STORE_MSGS_PREFIX) ? "true" : "false";
	values[3] = (what & STORE_MSGS_PREVIEW) ? "true" : "false";
	c = db_get(st->pool, error_r);
	if (c == NULL) {
		buf_free(&arr);
		return -1;
	}
	if (dense) {
		values[4] = db_i64(uids[0]);
		values[5] = db_i64(uids[n - 1]);
		res = db_exec_prepared(c, "store_msgs_range",
			MSGS_SELECT "uid >= $5 AND uid <= $6 ORDER BY uid", 6, values, NULL,
			NULL, error_r);
	} else {
		store_pg_uid_array(&arr, uids, n);
		values[4] = arr.data;
		res = db_exec_prepared(c, "store_msgs_any",
			MSGS_SELECT "uid = ANY($5::bigint[]) ORDER BY uid", 5, values, NULL, NULL,
			error_r);
	}
	db_put(st->pool, c);
	buf_free(&arr);
	if (res == NULL)
		return -1;
	rows = PQntuples(res);
	*msgs_r = xcalloc((size_t)rows + 1, sizeof(struct store_msg));
	for (row = 0; row < rows; row++) {
		struct store_msg *m = &(*msgs_r)[got];
		uint32_t uid = (uint32_t)db_get_i64(res, row, 1);

		if (dense) {
			while (j < n && uids[j] < uid)
				j++;
			if (j == n || uids[j] != uid)
				continue;
		}
		m->id = db_get_i64(res, row, 0);
		m->uid = uid;
		m->flags = (unsigned)db_get_i64(res, row, 2);
		store_split_words(PQgetvalue(res, row, 3), &m->keywords, &m->nkeywords);
		m->modseq = db_get_i64(res, row, 4);
		m->size = db_get_i64(res, row, 5);
		m->received = db_get_i64(res, row, 6);
		m->file_path = xstrdup(PQgetvalue(res, row, 7));
		m->prefix_len = (size_t)db_get_i64(res, row, 8);
		m->parsed = PQgetisnull(res, row, 9) ? NULL : xstrdup(PQgetvalue(res, row, 9));
		if ((what & STORE_MSGS_PREFIX) && !PQgetisnull(res, row, 10)) {
			buf_init(&m->prefix);
			m->have_prefix = db_get_bytea(res, row, 10, &m->prefix) == 0;
		}
		m->savedate = db_get_i64(res, row, 11);
		if (!PQgetisnull(res, row, 12))
			m->preview = xstrdup(PQgetvalue(res, row, 12));
		got++;
	}
	*n_r = got;
	PQclear(res);
	return 0;
}

int
store_msg_read_msg(struct store *st, const struct store_msg *m, struct buf *out,
	const char **error_r)
{
	struct buf path;

	if (!m->have_prefix)
		return store_msg_read(st, m->id, m->file_path, out, error_r);
	buf_append(out, m->prefix.data, m->prefix.len);
	buf_init(&path);
	buf_printf(&path, "%s/%s", st->datadir, m->file_path);
	if (ms_read_file(path.data, out) < 0) {
		*error_r = ms_err("reading %s: %s", path.data, strerror(errno));
		buf_free(&path);
		return -1;
	}
	buf_free(&path);
	return 0;
}

int
store_msg_read(struct store *st, int64_t message_id, const char *file_path,
	struct buf *out, const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	const char *params[1];
	int formats[1] = { 0 };
	PGresult *res;
	struct buf path;

	if (c == NULL)
		return -1;
	params[0] = db_i64(message_id);
	/* Binary result so the prefix bytes arrive without hex decoding. */
	res = PQexecParams(c, "SELECT msg_prefix FROM messages WHERE id = $1", 1,
		NULL, params, NULL, formats, 1);
	db_put(st->pool, c);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		*error_r = PQresultStatus(res) == PGRES_TUPLES_OK ? "message not found" :
			ms_err("database: %s", PQresultErrorMessage(res));
		PQclear(res);
		return -1;
	}
	buf_append(out, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
	PQclear(res);
	buf_init(&path);
	buf_printf(&path, "%s/%s", st->datadir, file_path);
	if (ms_read_file(path.data, out) < 0) {
		*error_r = ms_err("reading %s: %s", path.data, strerror(errno));
		buf_free(&path);
		return -1;
	}
	buf_free(&path);
	return 0;
}

struct flags_ctx {
	int64_t account_id, mailbox_id;
	const uint32_t *uids;
	size_t n;
	enum store_flag_op op;
	unsigned flags;
	char **keywords;	/* lower case */
	size_t nkeywords;
	int64_t unchangedsince;
	struct store_flag_change *changes;
	size_t nchanges;
	uint32_t *failed;
	size_t nfailed;
};

static bool
has_word(char **v, size_t n, const char *w)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i], w) == 0)
			return true;
	return false;
}

/* Apply the operation to one message's keywords; returns true if changed. */
static bool
apply_keywords(struct flags_ctx *ctx, char ***kw, size_t *nkw)
{
	bool changed = false;
	size_t i, j;

	switch (ctx->op) {
	case STORE_FLAGS_SET:
		if (*nkw != ctx->nkeywords)
			changed = true;
		for (i = 0; i < ctx->nkeywords && !changed; i++)
			if (!has_word(*kw, *nkw, ctx->keywords[i]))
				changed = true;
		if (changed) {
			store_free_words(*kw, *nkw);
			*kw = xcalloc(ctx->nkeywords ? ctx->nkeywords : 1, sizeof(char *));
			for (i = 0; i < ctx->nkeywords; i++)
				(*kw)[i] = xstrdup(ctx->keywords[i]);
			*nkw = ctx->nkeywords;
		}
		break;
	case STORE_FLAGS_ADD:
		for (i = 0; i < ctx->nkeywords; i++) {
			if (has_word(*kw, *nkw, ctx->keywords[i]))
				continue;
			*kw = xrealloc(*kw, (*nkw + 1) * sizeof(char *));
			(*kw)[(*nkw)++] = xstrdup(ctx->keywords[i]);
			changed = true;
		}
		break;
	case STORE_FLAGS_REMOVE:
		for (i = 0; i < *nkw;) {
			if (has_word(ctx->keywords, ctx->nkeywords, (*kw)[i])) {
				free((*kw)[i]);
				for (j = i + 1; j < *nkw; j++)
					(*kw)[j - 1] = (*kw)[j];
				(*nkw)--;
				changed = true;
			} else {
				i++;
			}
		}
		break;
	}
	return changed;
}

static int
flags_tx(PGconn *c, void *arg, const char **error_r)
{
	struct flags_ctx *ctx = arg;
	struct buf arr, kw, ids, fls, joined;
	char **kwtexts = NULL;
	PGresult *res;
	int64_t modseq = 0;
	int64_t d_unseen = 0, d_unread = 0, d_deleted = 0;
	int i, rows, rc = -1;
	size_t k;

	/* A retried transaction starts over. */
	store_flag_changes_free(ctx->changes, ctx->nchanges);
	ctx->changes = NULL;
	ctx->nchanges = 0;
	free(ctx->failed);
	ctx->failed = NULL;
	ctx->nfailed = 0;

	if (store_bump_modseq(c, ctx->account_id, &modseq, error_r) < 0)
		return -1;
	buf_init(&arr);
	buf_init(&kw);
	buf_init(&ids);
	buf_init(&fls);
	buf_init(&joined);
	store_pg_uid_array(&arr, ctx->uids, ctx->n);
	res = db_execv(c, error_r,
		"SELECT id, uid, flags, array_to_string(keywords, ' '), modseq FROM messages"
		" WHERE mailbox_id = $1 AND uid = ANY($2::bigint[]) ORDER BY uid FOR UPDATE",
		2, db_i64(ctx->mailbox_id), arr.data);
	if (res == NULL)
		goto out;
	rows = PQntuples(res);
	ctx->changes = xcalloc((size_t)rows, sizeof(*ctx->changes));
	kwtexts = xcalloc((size_t)rows + 1, sizeof(*kwtexts));
	buf_putc(&ids, '{');
	buf_putc(&fls, '{');
	for (i = 0; i < rows; i++) {
		unsigned old = (unsigned)db_get_i64(res, i, 2), nf = old;
		uint32_t uid = (uint32_t)db_get_i64(res, i, 1);
		char **words;
		size_t nwords;
		bool kwchanged;

		if (ctx->unchangedsince >= 0 && db_get_i64(res, i, 4) > ctx->unchangedsince) {
			ctx->failed = xrealloc(ctx->failed, (ctx->nfailed + 1) * sizeof(uint32_t));
			ctx->failed[ctx->nfailed++] = uid;
			continue;
		}
		if (ctx->op == STORE_FLAGS_SET)
			nf = ctx->flags;
		else if (ctx->op == STORE_FLAGS_ADD)
			nf = old | ctx->flags;
		else
			nf = old & ~ctx->flags;
		store_split_words(PQgetvalue(res, i, 3), &words, &nwords);
		kwchanged = apply_keywords(ctx, &words, &nwords);
		if (nf == old && !kwchanged) {
			store_free_words(words, nwords);
			continue;
		}
		/* One UPDATE for all rows below: id, flags and the
		 * keywords joined by spaces (keywords are atoms). */
		if (ctx->nchanges > 0) {
			buf_putc(&ids, ',');
			buf_putc(&fls, ',');
		}
		buf_puts(&ids, PQgetvalue(res, i, 0));
		buf_put_u64(&fls, nf);
		buf_reset(&joined);
		for (k = 0; k < nwords; k++) {
			if (k > 0)
				buf_putc(&joined, ' ');
			buf_puts(&joined, words[k]);
		}
		kwtexts[ctx->nchanges] = xstrdup(joined.data);
		d_unseen += (int64_t)!(nf & SF_SEEN) - (int64_t)!(old & SF_SEEN);
		d_unread += (int64_t)!(nf & (SF_SEEN | SF_DELETED)) -
			(int64_t)!(old & (SF_SEEN | SF_DELETED));
		d_deleted += (int64_t)!!(nf & SF_DELETED) - (int64_t)!!(old & SF_DELETED);
		ctx->changes[ctx->nchanges].uid = uid;
		ctx->changes[ctx->nchanges].flags = nf;
		ctx->changes[ctx->nchanges].keywords = words;
		ctx->changes[ctx->nchanges].nkeywords = nwords;
		ctx->changes[ctx->nchanges].modseq = modseq;
		ctx->nchanges++;
	}
	PQclear(res);
	buf_putc(&ids, '}');
	buf_putc(&fls, '}');
	if (ctx->nchanges > 0) {
		buf_reset(&kw);
		db_text_array(&kw, (const char *const *)kwtexts, ctx->nchanges);
		if (db_cmd(c, error_r,
			    "UPDATE messages m SET flags = u.flags, modseq = $4,"
			    " keywords = string_to_array(u.keywords, ' ')"
			    " FROM unnest($1::bigint[], $2::int[], $3::text[]) AS u(id, flags, keywords)"
			    " WHERE m.id = u.id",
			    4, ids.data, fls.data, kw.data, db_i64(modseq)) < 0)
			goto out;
		buf_reset(&kw);
		db_text_array(&kw, (const char *const *)ctx->keywords, ctx->nkeywords);
		if (db_cmd(c, error_r,
			    "UPDATE mailboxes SET count_unseen = count_unseen + $2,"
			    " count_unread = count_unread + $3, count_deleted = count_deleted + $4,"
			    " keywords = CASE WHEN $6 THEN ARRAY(SELECT DISTINCT k FROM"
			    "  unnest(keywords || $5::text[]) k ORDER BY k) ELSE keywords END"
			    " WHERE id = $1",
			    6, db_i64(ctx->mailbox_id), db_i64(d_unseen), db_i64(d_unread),
			    db_i64(d_deleted), kw.data,
			    ctx->op != STORE_FLAGS_REMOVE && ctx->nkeywords > 0 ? "true" : "false") < 0)
			goto out;
		if (store_notify(c, ctx->account_id, ctx->mailbox_id, modseq, error_r) < 0)
			goto out;
	}
	rc = 0;
out:
	if (kwtexts != NULL)
		for (k = 0; kwtexts[k] != NULL; k++)
			free(kwtexts[k]);
	free(kwtexts);
	buf_free(&arr);
	buf_free(&kw);
	buf_free(&ids);
	buf_free(&fls);
	buf_free(&joined);
	return rc;
}

int
store_flags_change(struct store *st, int64_t account_id, int64_t mailbox_id,
	const uint32_t *uids, size_t n, enum store_flag_op op, unsigned flags,
	const char *const *keywords, size_t nkeywords, int64_t unchangedsince,
	struct store_flag_change **changes_r, size_t *nchanges_r,
	uint32_t **failed_r, size_t *nfailed_r, const char **error_r)
{
	struct flags_ctx ctx;
	size_t i;
	int rc;

	memset(&ctx, 0, sizeof(ctx));
	ctx.account_id = account_id;
	ctx.mailbox_id = mailbox_id;
	ctx.uids = uids;
	ctx.n = n;
	ctx.op = op;
	ctx.flags = flags & SF_ALL;
	ctx.unchangedsince = unchangedsince;
	ctx.keywords = xcalloc(nkeywords ? nkeywords : 1, sizeof(char *));
	for (i = 0; i < nkeywords; i++) {
		ctx.keywords[i] = xstrdup(keywords[i]);
		ms_str_lower(ctx.keywords[i]);
	}
	ctx.nkeywords = nkeywords;
	if (n == 0) {
		rc = 0;
	} else {
		rc = db_tx(st->pool, flags_tx, &ctx, error_r);
	}
	store_free_words(ctx.keywords, ctx.nkeywords);
	if (rc < 0) {
		store_flag_changes_free(ctx.changes, ctx.nchanges);
		free(ctx.failed);
		return -1;
	}
	*changes_r = ctx.changes;
	*nchanges_r = ctx.nchanges;
	if (failed_r != NULL) {
		*failed_r = ctx.failed;
		*nfailed_r = ctx.nfailed;
	} else {
		free(ctx.failed);
	}
	return 0;
}

struct expunge_ctx {
	int64_t account_id, mailbox_id;
	const uint32_t *uids;
	size_t n;
	uint32_t *expunged;
	size_t nexpunged;
	char **paths;
};

static int
cmp_uid(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int
store_expunge_tx(PGconn *c, int64_t account_id, int64_t mailbox_id,
	const uint32_t *uids, size_t n, bool deleted_only, int64_t modseq,
	uint32_t **expunged_r, char ***paths_r, size_t *n_r, const char **error_r)
{
	struct buf arr;
	PGresult *res;
	int64_t size = 0, unseen = 0, unread = 0, deleted = 0;
	uint32_t *exp;
	char **paths;
	int i, rows;

	*expunged_r = NULL;
	*paths_r = NULL;
	*n_r = 0;
	buf_init(&arr);
	if (uids != NULL)
		store_pg_uid_array(&arr, uids, n);
	res = db_execv(c, error_r,
		"DELETE FROM messages WHERE mailbox_id = $1 AND ($3::bool OR flags & 8 <> 0)"
		" AND ($2::bigint[] IS NULL OR uid = ANY($2::bigint[]))"
		" RETURNING uid, file_path, size, flags",
		3, db_i64(mailbox_id), uids != NULL ? arr.data : NULL,
		deleted_only ? "false" : "true");
	buf_free(&arr);
	if (res == NULL)
		return -1;
	rows = PQntuples(res);
	exp = xcalloc((size_t)rows + 1, sizeof(uint32_t));
	paths = xcalloc((size_t)rows + 1, sizeof(char *));
	for (i = 0; i < rows; i++) {
		unsigned f = (unsigned)db_get_i64(res, i, 3);

		exp[i] = (uint32_t)db_get_i64(res, i, 0);
		paths[i] = xstrdup(PQgetvalue(res, i, 1));
		size += db_get_i64(res, i, 2);
		unseen += !(f & SF_SEEN);
		unread += !(f & (SF_SEEN | SF_DELETED));
		deleted += !!(f & SF_DELETED);
	}
	PQclear(res);
	*expunged_r = exp;
	*paths_r = paths;
	*n_r = (size_t)rows;
	if (rows == 0)
		return 0;
	/* RETURNING order is unspecified; the paths need not follow. */
	qsort(exp, (size_t)rows, sizeof(*exp), cmp_uid);
	buf_init(&arr);
	store_pg_uid_array(&arr, exp, (size_t)rows);
	if (db_cmd(c, error_r,
		    "INSERT INTO expunged (account_id, mailbox_id, uid, modseq)"
		    " SELECT $1, $2, u, $4 FROM unnest($3::bigint[]) u"
		    " ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq = EXCLUDED.modseq",
		    4, db_i64(account_id), db_i64(mailbox_id), arr.data,
		    db_i64(modseq)) < 0 ||
	    db_cmd(c, error_r,
		    "UPDATE mailboxes SET count_total = count_total - $2, size = size - $3,"
		    " count_unseen = count_unseen - $4, count_unread = count_unread - $5,"
		    " count_deleted = count_deleted - $6 WHERE id = $1",
		    6, db_i64(mailbox_id), db_i64(rows), db_i64(size), db_i64(unseen),
		    db_i64(unread), db_i64(deleted)) < 0 ||
	    db_cmd(c, error_r,
		    "UPDATE accounts SET disk_usage = disk_usage - $2 WHERE id = $1",
		    2, db_i64(account_id), db_i64(size)) < 0) {
		buf_free(&arr);
		return -1;
	}
	buf_free(&arr);
	return 0;
}

static int
expunge_tx(PGconn *c, void *arg, const char **error_r)
{
	struct expunge_ctx *ctx = arg;
	int64_t modseq;

	free(ctx->expunged);
	store_free_words(ctx->paths, ctx->nexpunged);
	ctx->expunged = NULL;
	ctx->paths = NULL;
	ctx->nexpunged = 0;
	if (store_bump_modseq(c, ctx->account_id, &modseq, error_r) < 0 ||
	    store_expunge_tx(c, ctx->account_id, ctx->mailbox_id, ctx->uids, ctx->n, true,
		    modseq, &ctx->expunged, &ctx->paths, &ctx->nexpunged, error_r) < 0)
		return -1;
	if (ctx->nexpunged == 0)
		return 0;
	return store_notify(c, ctx->account_id, ctx->mailbox_id, modseq, error_r);
}

int
store_expunge(struct store *st, int64_t account_id, int64_t mailbox_id,
	const uint32_t *uids, size_t n, uint32_t **expunged_r, size_t *nexpunged_r,
	const char **error_r)
{
	struct expunge_ctx ctx;
	size_t i;

	memset(&ctx, 0, sizeof(ctx));
	ctx.account_id = account_id;
	ctx.mailbox_id = mailbox_id;
	ctx.uids = uids;
	ctx.n = n;
	if (uids != NULL && n == 0) {
		*expunged_r = NULL;
		*nexpunged_r = 0;
		return 0;
	}
	if (db_tx(st->pool, expunge_tx, &ctx, error_r) < 0) {
		free(ctx.expunged);
		store_free_words(ctx.paths, ctx.nexpunged);
		return -1;
	}
	/* The rows are gone; the files can go. A crash before this leaves
	 * orphan files that verifydata removes. */
	for (i = 0; i < ctx.nexpunged; i++) {
		struct buf p;

		buf_init(&p);
		buf_printf(&p, "%s/%s", st->datadir, ctx.paths[i]);
		if (unlink(p.data) < 0 && errno != ENOENT)
			log_warn(NULL, "ev=unlink-failed path=%s error=%s", lq(p.data),
				lq(strerror(errno)));
		buf_free(&p);
	}
	store_free_words(ctx.paths, ctx.nexpunged);
	*expunged_r = ctx.expunged;
	*nexpunged_r = ctx.nexpunged;
	return 0;
}

struct changes_ctx {
	int64_t account_id, mailbox_id, since;
	struct store_change *changes;
	size_t n;
	uint32_t *expunged;
	size_t nexpunged;
	int64_t modseq;
};

/* One statement, so one snapshot (READ COMMITTED takes one per statement)
 * for the account's modseq, the changed rows and the expunged UIDs, in one
 * round trip: this runs after every command that changes a mailbox and
 * before every answer from the view's state (imap_sync). Rows: kind 0 the
 * account modseq, 1 a changed message, 2 an expunged UID. */
static int
changes_query(PGconn *c, void *arg, const char **error_r)
{
	struct changes_ctx *ctx = arg;
	PGresult *res;
	int i, rows;
	size_t nch = 0, nexp = 0;

	store_changes_free(ctx->changes, ctx->n);
	free(ctx->expunged);
	ctx->changes = NULL;
	ctx->expunged = NULL;
	ctx->n = ctx->nexpunged = 0;
	res = db_execv(c, error_r,
		"SELECT 0, 0, false, 0, NULL, modseq FROM accounts WHERE id = $1"
		" UNION ALL (SELECT 1, uid, createseq > $3, flags, array_to_string(keywords, ' '),"
		"  modseq FROM messages WHERE mailbox_id = $2 AND modseq > $3 ORDER BY uid)"
		" UNION ALL (SELECT 2, uid, false, 0, NULL, 0"
		"  FROM expunged WHERE mailbox_id = $2 AND modseq > $3 ORDER BY uid)",
		3, db_i64(ctx->account_id), db_i64(ctx->mailbox_id), db_i64(ctx->since));
	if (res == NULL)
		return -1;
	rows = PQntuples(res);
	for (i = 0; i < rows; i++) {
		int64_t kind = db_get_i64(res, i, 0);

		nch += kind == 1;
		nexp += kind == 2;
	}
	ctx->changes = xcalloc(nch + 1, sizeof(*ctx->changes));
	ctx->expunged = xcalloc(nexp + 1, sizeof(*ctx->expunged));
	for (i = 0; i < rows; i++) {
		int64_t kind = db_get_i64(res, i, 0);

		if (kind == 0) {
			ctx->modseq = db_get_i64(res, i, 5);
		} else if (kind == 1) {
			struct store_change *ch = &ctx->changes[ctx->n++];

			ch->uid = (uint32_t)db_get_i64(res, i, 1);
			ch->created = db_get_bool(res, i, 2);
			ch->flags = (unsigned)db_get_i64(res, i, 3);
			store_split_words(PQgetvalue(res, i, 4), &ch->keywords, &ch->nkeywords);
			ch->modseq = db_get_i64(res, i, 5);
		} else {
			ctx->expunged[ctx->nexpunged++] = (uint32_t)db_get_i64(res, i, 1);
		}
	}
	PQclear(res);
	return 0;
}

int
store_changes_since(struct store *st, int64_t account_id, int64_t mailbox_id,
	int64_t since, struct store_change **changes_r, size_t *n_r,
	uint32_t **expunged_r, size_t *nexpunged_r, int64_t *modseq_r,
	const char **error_r)
{
	struct changes_ctx ctx;
	PGconn *c;
	int r;

	memset(&ctx, 0, sizeof(ctx));
	ctx.account_id = account_id;
	ctx.mailbox_id = mailbox_id;
	ctx.since = since;
	c = db_get(st->pool, error_r);
	if (c == NULL)
		return -1;
	r = changes_query(c, &ctx, error_r);
	db_put(st->pool, c);
	if (r < 0) {
		store_changes_free(ctx.changes, ctx.n);
		free(ctx.expunged);
		return -1;
	}
	*changes_r = ctx.changes;
	*n_r = ctx.n;
	*expunged_r = ctx.expunged;
	*nexpunged_r = ctx.nexpunged;
	*modseq_r = ctx.modseq;
	return 0;
}

int
store_msg_read_header_part(struct store *st, const struct store_msg *m, size_t max,
	struct buf *out, const char **error_r)
{
	struct buf path;
	char chunk[8192];
	size_t start, got = 0;
	ssize_t r;
	int fd;

	if (m->have_prefix) {
		buf_append(out, m->prefix.data, m->prefix.len);
	} else {
		/* Without the prefix at hand: the whole message, then cut. */
		struct buf all;
		const char *end;

		buf_init(&all);
		if (store_msg_read(st, m->id, m->file_path, &all, error_r) < 0) {
			buf_free(&all);
			return -1;
		}
		end = memmem(all.data, all.len, "\r\n\r\n", 4);
		buf_append(out, all.data, end != NULL ? (size_t)(end - all.data) + 4 : all.len);
		buf_free(&all);
		return 0;
	}
	buf_init(&path);
	buf_printf(&path, "%s/%s", st->datadir, m->file_path);
	fd = open(path.data, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*error_r = ms_err("reading %s: %s", path.data, strerror(errno));
		buf_free(&path);
		return -1;
	}
	buf_free(&path);
	start = out->len;
	/* Read until the empty line that ends the header (it may also be
	 * the file's first line). */
	while (got < max && (r = read(fd, chunk, sizeof(chunk))) > 0) {
		size_t from = out->len >= start + 3 ? out->len - 3 : start;
		const char *end;

		buf_append(out, chunk, (size_t)r);
		got += (size_t)r;
		if ((out->len - start >= 2 && memcmp(out->data + start, "\r\n", 2) == 0)) {
			buf_truncate(out, start + 2);
			break;
		}
		end = memmem(out->data + from, out->len - from, "\r\n\r\n", 4);
		if (end != NULL) {
			buf_truncate(out, (size_t)(end - out->data) + 4);
			break;
		}
	}
	close(fd);
	return 0;
}

int
store_mailbox_modseq(struct store *st, int64_t account_id, int64_t mailbox_id,
	int64_t *highest_r, int64_t *account_r, int64_t *deleted_r, const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	PGresult *res;

	if (c == NULL)
		return -1;
	/* One statement: one snapshot for all three values. */
	res = db_execv(c, error_r,
		"WITH d AS (SELECT COALESCE(max(highest_deleted_modseq), 0) AS m"
		"  FROM sync_state WHERE account_id = $1)"
		" SELECT GREATEST(mb.modseq, d.m,"
		"  (SELECT max(modseq) FROM messages WHERE mailbox_id = $2),"
		"  (SELECT max(modseq) FROM expunged WHERE mailbox_id = $2)),"
		" a.modseq, d.m"
		" FROM accounts a JOIN mailboxes mb ON mb.account_id = a.id, d"
		" WHERE a.id = $1 AND mb.id = $2",
		2, db_i64(account_id), db_i64(mailbox_id));
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		*error_r = "no such mailbox";
		return -1;
	}
	if (highest_r != NULL)
		*highest_r = db_get_i64(res, 0, 0);
	if (account_r != NULL)
		*account_r = db_get_i64(res, 0, 1);
	if (deleted_r != NULL)
		*deleted_r = db_get_i64(res, 0, 2);
	PQclear(res);
	return 0;
}

int
store_expunged_since(struct store *st, int64_t mailbox_id, int64_t since,
	uint32_t **uids_r, size_t *n_r, const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	PGresult *res;

	*uids_r = NULL;
	*n_r = 0;
	if (c == NULL)
		return -1;
	res = db_execv(c, error_r,
		"SELECT uid FROM expunged WHERE mailbox_id = $1 AND modseq > $2 ORDER BY uid",
		2, db_i64(mailbox_id), db_i64(since));
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	*uids_r = uids_from_result(res, 0, n_r);
	PQclear(res);
	return 0;
}
