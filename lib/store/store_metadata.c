/* IMAP METADATA annotations (RFC 5464) of mailboxes and of the account
 * (sql/006_metadata.sql), and the figures IMAP QUOTA (RFC 9208) reports:
 * the account's limit and usage, and what expunging \Deleted messages of a
 * mailbox would free. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/util.h"
#include "store/store.h"
#include "store/store_private.h"

/* ---- quota ---- */

int
store_account_quota(struct store *st, int64_t account_id, int64_t *limit_r,
	int64_t *usage_r, const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	PGresult *res;

	if (c == NULL)
		return -1;
	res = db_execv(c, error_r,
		"SELECT quota_message_size, disk_usage FROM accounts WHERE id = $1",
		1, db_i64(account_id));
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		*error_r = "account not found";
		return -1;
	}
	*limit_r = db_get_i64(res, 0, 0);
	*usage_r = db_get_i64(res, 0, 1);
	PQclear(res);
	return 0;
}

int
store_mailbox_deleted_size(struct store *st, int64_t mailbox_id, int64_t *size_r,
	const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	PGresult *res;

	if (c == NULL)
		return -1;
	res = db_execv(c, error_r,
		"SELECT coalesce(sum(size), 0) FROM messages WHERE mailbox_id = $1"
		" AND flags & $2::int <> 0",
		2, db_i64(mailbox_id), db_i64(SF_DELETED));
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	*size_r = db_get_i64(res, 0, 0);
	PQclear(res);
	return 0;
}

/* ---- annotations ---- */

void
store_metadata_free(struct store_metadata *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].entry);
		buf_free(&v[i].value);
	}
	free(v);
}

int
store_metadata_get(struct store *st, int64_t account_id, int64_t mailbox_id,
	const char *const *entries, size_t nentries, struct store_metadata **v_r,
	size_t *n_r, const char **error_r)
{
	/* Which annotations, by mailbox_id: one mailbox ($2), the server's,
	 * or every mailbox's; then optionally by entry name. */
	const char *where = mailbox_id > 0 ? "mailbox_id = $2::bigint" :
		mailbox_id == 0 ? "mailbox_id IS NULL AND $2::bigint IS NULL" :
		"mailbox_id IS NOT NULL AND $2::bigint IS NULL";
	struct store_metadata *v = NULL;
	struct buf sql, names;
	PGconn *c;
	PGresult *res;
	int i, n;

	*v_r = NULL;
	*n_r = 0;
	buf_init(&sql);
	buf_init(&names);
	if (entries != NULL)
		db_text_array(&names, entries, nentries);
	buf_printf(&sql,
		"SELECT coalesce(mailbox_id, 0), entry, value, is_string FROM metadata"
		" WHERE account_id = $1 AND %s AND ($3::text[] IS NULL OR entry = ANY($3::text[]))"
		" ORDER BY mailbox_id NULLS FIRST, entry", where);
	c = db_get(st->pool, error_r);
	if (c == NULL) {
		buf_free(&sql);
		buf_free(&names);
		return -1;
	}
	res = db_execv(c, error_r, sql.data, 3, db_i64(account_id),
		mailbox_id > 0 ? db_i64(mailbox_id) : NULL, entries != NULL ? names.data : NULL);
	db_put(st->pool, c);
	buf_free(&sql);
	buf_free(&names);
	if (res == NULL)
		return -1;
	n = PQntuples(res);
	if (n > 0)
		v = xcalloc((size_t)n, sizeof(*v));
	for (i = 0; i < n; i++) {
		v[i].mailbox_id = db_get_i64(res, i, 0);
		v[i].entry = xstrdup(PQgetvalue(res, i, 1));
		buf_init(&v[i].value);
		v[i].is_string = db_get_bool(res, i, 3);
		if (db_get_bytea(res, i, 2, &v[i].value) < 0) {
			PQclear(res);
			store_metadata_free(v, (size_t)i + 1);
			*error_r = "metadata: bad bytea value";
			return -1;
		}
	}
	PQclear(res);
	*v_r = v;
	*n_r = (size_t)n;
	return 0;
}

int
store_metadata_check_tx(PGconn *c, int64_t account_id, const char **error_r)
{
	PGresult *res = db_execv(c, error_r,
		"SELECT count(*), coalesce(sum(octet_length(entry) + octet_length(value)), 0)"
		" FROM metadata WHERE account_id = $1",
		1, db_i64(account_id));
	int64_t count, size;

	if (res == NULL)
		return -1;
	count = db_get_i64(res, 0, 0);
	size = db_get_i64(res, 0, 1);
	PQclear(res);
	/* RFC 5464 4.3: TOOMANY for the number of entries, MAXSIZE for
	 * their size; both limits are for the account as a whole. */
	if (count > STORE_METADATA_MAX_ENTRIES) {
		*error_r = "too many metadata entries";
		return STORE_METADATA_TOOMANY;
	}
	if (size > STORE_METADATA_MAX_SIZE) {
		*error_r = "metadata values too large";
		return STORE_METADATA_TOOLARGE;
	}
	return 0;
}

struct set_ctx {
	int64_t account_id;
	const char *mailbox;		/* NULL: server annotations */
	const char *del, *ins_entries, *ins_values, *ins_strings;	/* array literals */
	bool inserts;
	int result;
};

static int
set_tx(PGconn *c, void *arg, const char **error_r)
{
	struct set_ctx *ctx = arg;
	const char *mbid = NULL;
	int64_t modseq, mailbox_id = 0;
	PGresult *res;
	int r;

	ctx->result = 0;
	/* The account row first: the lock order of every change. */
	if (store_bump_modseq(c, ctx->account_id, &modseq, error_r) < 0)
		return -1;
	if (ctx->mailbox != NULL) {
		res = db_execv(c, error_r,
			"SELECT id FROM mailboxes WHERE account_id = $1 AND name = $2 FOR UPDATE",
			2, db_i64(ctx->account_id), ctx->mailbox);
		if (res == NULL)
			return -1;
		if (PQntuples(res) != 1) {
			PQclear(res);
			ctx->result = STORE_MAILBOX_NOT_FOUND;
			*error_r = "no such mailbox";
			return -1;
		}
		mailbox_id = db_get_i64(res, 0, 0);
		PQclear(res);
		mbid = db_i64(mailbox_id);
	}
	/* Every entry named goes, then the ones with a value come back:
	 * two statements, as one INSERT cannot both remove and add a row
	 * of the same unique key. */
	if (db_cmd(c, error_r,
		    "DELETE FROM metadata WHERE account_id = $1 AND"
		    " (mailbox_id = $2::bigint OR ($2::bigint IS NULL AND mailbox_id IS NULL))"
		    " AND entry = ANY($3::text[])",
		    3, db_i64(ctx->account_id), mbid, ctx->del) < 0)
		return -1;
	if (ctx->inserts) {
		if (db_cmd(c, error_r,
			    "INSERT INTO metadata"
			    " (account_id, mailbox_id, entry, value, is_string, modseq)"
			    " SELECT $1, $2::bigint, e, decode(v, 'hex'), s, $6"
			    " FROM unnest($3::text[], $4::text[], $5::boolean[]) AS x(e, v, s)",
			    6, db_i64(ctx->account_id), mbid, ctx->ins_entries, ctx->ins_values,
			    ctx->ins_strings, db_i64(modseq)) < 0)
			return -1;
		/* Removing entries is always allowed, also above the limits. */
		r = store_metadata_check_tx(c, ctx->account_id, error_r);
		if (r != 0) {
			if (r > 0)
				ctx->result = r;
			return -1;
		}
	}
	/* RFC 7162 3.1: a change of the mailbox's metadata is a change of
	 * the mailbox, so its HIGHESTMODSEQ moves. */
	if (mailbox_id > 0 &&
	    db_cmd(c, error_r, "UPDATE mailboxes SET modseq = $2 WHERE id = $1", 2,
		    db_i64(mailbox_id), db_i64(modseq)) < 0)
		return -1;
	return store_notify(c, ctx->account_id, mailbox_id, modseq, error_r);
}

static int
cmp_change(const void *a, const void *b)
{
	const struct store_metadata_change *const *x = a, *const *y = b;
	int r = strcmp((*x)->entry, (*y)->entry);

	/* Equal entries keep their order: the pointers are into one array. */
	if (r == 0)
		r = *x < *y ? -1 : *x > *y;
	return r;
}

int
store_metadata_set(struct store *st, int64_t account_id, const char *mailbox,
	const struct store_metadata_change *ch, size_t n, const char **error_r)
{
	const struct store_metadata_change **sorted;
	const char **del, **ins_e, **ins_v, **ins_s;
	struct buf a_del, a_e, a_v, a_s, *hex;
	size_t i, ndel = 0, nins = 0;
	struct set_ctx ctx;
	int rc;

	/* "INBOX" is case-insensitive in IMAP (RFC 9051 section 5.1). */
	if (mailbox != NULL && ms_strcaseeq(mailbox, "inbox"))
		mailbox = "Inbox";

	/* The last change of each entry wins: sort by entry, keeping the
	 * order within an entry, and take the last of each run. */
	sorted = xcalloc(n + 1, sizeof(*sorted));
	for (i = 0; i < n; i++)
		sorted[i] = &ch[i];
	qsort(sorted, n, sizeof(*sorted), cmp_change);
	del = xcalloc(n + 1, sizeof(*del));
	ins_e = xcalloc(n + 1, sizeof(*ins_e));
	ins_v = xcalloc(n + 1, sizeof(*ins_v));
	ins_s = xcalloc(n + 1, sizeof(*ins_s));
	hex = xcalloc(n + 1, sizeof(*hex));
	for (i = 0; i < n; i++) {
		const struct store_metadata_change *c = sorted[i];

		if (i + 1 < n && strcmp(sorted[i + 1]->entry, c->entry) == 0)
			continue;
		del[ndel++] = c->entry;
		if (c->value == NULL)
			continue;
		buf_init(&hex[nins]);
		ms_hex_encode(&hex[nins], c->value, c->len);
		ins_e[nins] = c->entry;
		ins_v[nins] = hex[nins].data;
		ins_s[nins] = c->is_string ? "t" : "f";
		nins++;
	}
	buf_init(&a_del);
	buf_init(&a_e);
	buf_init(&a_v);
	buf_init(&a_s);
	db_text_array(&a_del, del, ndel);
	db_text_array(&a_e, ins_e, nins);
	db_text_array(&a_v, ins_v, nins);
	db_text_array(&a_s, ins_s, nins);
	for (i = 0; i < nins; i++)
		buf_free(&hex[i]);
	free(hex);
	free(sorted);
	free(del);
	free(ins_e);
	free(ins_v);
	free(ins_s);

	memset(&ctx, 0, sizeof(ctx));
	ctx.account_id = account_id;
	ctx.mailbox = mailbox;
	ctx.del = a_del.data;
	ctx.ins_entries = a_e.data;
	ctx.ins_values = a_v.data;
	ctx.ins_strings = a_s.data;
	ctx.inserts = nins > 0;
	rc = db_tx(st->pool, set_tx, &ctx, error_r);
	buf_free(&a_del);
	buf_free(&a_e);
	buf_free(&a_v);
	buf_free(&a_s);
	if (ctx.result != 0)
		return ctx.result;
	return rc == 0 ? 0 : -1;
}

int
store_metadata_versions(struct store *st, int64_t account_id,
	struct store_metadata_version **v_r, size_t *n_r, const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	PGresult *res;
	int i, n;

	*v_r = NULL;
	*n_r = 0;
	if (c == NULL)
		return -1;
	res = db_execv(c, error_r,
		"SELECT coalesce(mailbox_id, 0), entry, modseq FROM metadata WHERE account_id = $1"
		" ORDER BY 1, entry COLLATE \"C\"",
		1, db_i64(account_id));
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	n = PQntuples(res);
	*v_r = xcalloc((size_t)n + 1, sizeof(**v_r));
	for (i = 0; i < n; i++) {
		(*v_r)[i].mailbox_id = db_get_i64(res, i, 0);
		(*v_r)[i].entry = xstrdup(PQgetvalue(res, i, 1));
		(*v_r)[i].modseq = db_get_i64(res, i, 2);
	}
	*n_r = (size_t)n;
	PQclear(res);
	return 0;
}

void
store_metadata_versions_free(struct store_metadata_version *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i].entry);
	free(v);
}
