/* Creating, deleting, renaming and subscribing mailboxes (IMAP CREATE,
 * DELETE, RENAME, SUBSCRIBE; RFC 9051 6.3.4-6.3.8). Every change bumps the
 * account modseq under the account row lock, like deliveries, so changes
 * of one account are ordered. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"
#include "store/store.h"
#include "store/store_private.h"

bool
store_mailbox_name_ok(const char *name)
{
	const unsigned char *p = (const unsigned char *)name;
	size_t len = strlen(name);

	if (len == 0 || len > 1000 || name[0] == '/' || name[len - 1] == '/' ||
	    strstr(name, "//") != NULL)
		return false;
	for (; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '*' || *p == '%')
			return false;
	return true;
}

/* "INBOX" in any case is the inbox (RFC 9051 5.1), also as a parent. */
static char *
canonical_name(const char *name)
{
	if (ms_strcaseeq(name, "inbox"))
		return xstrdup("Inbox");
	if (ms_startswith_ci(name, "inbox/"))
		return xasprintf("Inbox%s", name + 5);
	return xstrdup(name);
}

struct create_ctx {
	int64_t account_id;
	const char *name, *special_use;
	int64_t id;
	bool exists;
};

static int
create_tx(PGconn *c, void *arg, const char **error_r)
{
	struct create_ctx *ctx = arg;
	int64_t modseq;
	PGresult *res;

	/* Lock the account first (the order used everywhere), then look. */
	if (store_bump_modseq(c, ctx->account_id, &modseq, error_r) < 0)
		return -1;
	res = db_execv(c, error_r, "SELECT id FROM mailboxes WHERE account_id = $1 AND name = $2",
		2, db_i64(ctx->account_id), ctx->name);
	if (res == NULL)
		return -1;
	ctx->exists = PQntuples(res) > 0;
	PQclear(res);
	if (ctx->exists)
		return 0;
	if (ctx->special_use != NULL) {
		/* One mailbox per special use (RFC 6154 allows several, but
		 * the junk filter and clients need to know which one). */
		res = db_execv(c, error_r,
			"SELECT name FROM mailboxes WHERE account_id = $1 AND special_use = $2",
			2, db_i64(ctx->account_id), ctx->special_use);
		if (res == NULL)
			return -1;
		if (PQntuples(res) > 0) {
			*error_r = ms_err("mailbox %s already has that special use", PQgetvalue(res, 0, 0));
			PQclear(res);
			return -1;
		}
		PQclear(res);
	}
	if (store_mailbox_create_tx(c, ctx->account_id, ctx->name, ctx->special_use, &ctx->id,
		    error_r) < 0)
		return -1;
	/* Sessions of the account learn of it (NOTIFY MailboxName). */
	return store_notify(c, ctx->account_id, ctx->id, 0, error_r);
}

int
store_mailbox_create(struct store *st, int64_t account_id, const char *name,
	const char *special_use, int64_t *id_r, const char **error_r)
{
	struct create_ctx ctx;
	char *n;
	int rc;

	if (!store_mailbox_name_ok(name)) {
		*error_r = "invalid mailbox name";
		return -1;
	}
	n = canonical_name(name);
	memset(&ctx, 0, sizeof(ctx));
	ctx.account_id = account_id;
	ctx.name = n;
	ctx.special_use = special_use;
	rc = db_tx(st->pool, create_tx, &ctx, error_r);
	free(n);
	if (rc != 0)
		return -1;
	if (ctx.exists)
		return STORE_MAILBOX_EXISTS;
	if (id_r != NULL)
		*id_r = ctx.id;
	return 0;
}

/* ---- delete ---- */

struct delete_ctx {
	int64_t account_id;
	const char *name;
	int result;
	char **files;
	size_t nfiles;
	int64_t mailbox_id, modseq;
};

static void
files_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int
delete_tx(PGconn *c, void *arg, const char **error_r)
{
	struct delete_ctx *ctx = arg;
	PGresult *res;
	int i;

	files_free(ctx->files, ctx->nfiles);
	ctx->files = NULL;
	ctx->nfiles = 0;
	if (store_bump_modseq(c, ctx->account_id, &ctx->modseq, error_r) < 0)
		return -1;
	res = db_execv(c, error_r,
		"SELECT id, EXISTS (SELECT 1 FROM mailboxes k WHERE k.parent_id = m.id)"
		" FROM mailboxes m WHERE account_id = $1 AND name = $2 FOR UPDATE",
		2, db_i64(ctx->account_id), ctx->name);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		ctx->result = STORE_MAILBOX_NOT_FOUND;
		PQclear(res);
		return 0;
	}
	ctx->mailbox_id = db_get_i64(res, 0, 0);
	if (db_get_bool(res, 0, 1)) {
		ctx->result = STORE_MAILBOX_HAS_CHILDREN;
		PQclear(res);
		return 0;
	}
	PQclear(res);
	/* The messages go with the mailbox: rows now, files after COMMIT. */
	res = db_execv(c, error_r,
		"WITH d AS (DELETE FROM messages WHERE mailbox_id = $1 RETURNING file_path, size),"
		" u AS (UPDATE accounts SET disk_usage = disk_usage - (SELECT coalesce(sum(size), 0)"
		"  FROM d) WHERE id = $2)"
		" SELECT file_path FROM d",
		2, db_i64(ctx->mailbox_id), db_i64(ctx->account_id));
	if (res == NULL)
		return -1;
	ctx->nfiles = (size_t)PQntuples(res);
	ctx->files = xcalloc(ctx->nfiles + 1, sizeof(char *));
	for (i = 0; i < PQntuples(res); i++)
		ctx->files[i] = xstrdup(PQgetvalue(res, i, 0));
	PQclear(res);
	if (db_cmd(c, error_r, "DELETE FROM mailboxes WHERE id = $1", 1,
		    db_i64(ctx->mailbox_id)) < 0)
		return -1;
	ctx->result = 0;
	return store_notify(c, ctx->account_id, ctx->mailbox_id, ctx->modseq, error_r);
}

int
store_mailbox_delete(struct store *st, int64_t account_id, const char *name,
	size_t *nmessages_r, const char **error_r)
{
	struct delete_ctx ctx;
	struct buf p;
	char *n = canonical_name(name);
	size_t i;
	int rc;

	if (strcmp(n, "Inbox") == 0) {
		free(n);
		return STORE_MAILBOX_IS_INBOX;
	}
	memset(&ctx, 0, sizeof(ctx));
	ctx.account_id = account_id;
	ctx.name = n;
	rc = db_tx(st->pool, delete_tx, &ctx, error_r);
	free(n);
	if (rc == 0 && ctx.result == 0) {
		buf_init(&p);
		for (i = 0; i < ctx.nfiles; i++) {
			buf_reset(&p);
			buf_printf(&p, "%s/%s", st->datadir, ctx.files[i]);
			if (unlink(p.data) < 0 && errno != ENOENT)
				log_warn(NULL, "ev=unlink-failed path=%s error=%s", lq(p.data),
					lq(strerror(errno)));
		}
		buf_free(&p);
	}
	if (nmessages_r != NULL)
		*nmessages_r = ctx.nfiles;
	/* With an unknown COMMIT outcome (-2) the files stay (orphans at
	 * worst, which verifydata reports). */
	files_free(ctx.files, ctx.nfiles);
	if (rc != 0)
		return -1;
	return ctx.result;
}

/* ---- rename ---- */

struct rename_ctx {
	int64_t account_id;
	const char *from, *to;
	int result;
};

/* Rename the mailbox "from" and everything below it to "to": names,
 * parents, and a new UIDVALIDITY for each (clients key their caches by
 * name; a new name must never show them UIDs of another mailbox). */
static int
rename_tree(PGconn *c, struct rename_ctx *ctx, int64_t modseq, const char **error_r)
{
	PGresult *res;
	int64_t parent_id = 0;
	const char *slash = strrchr(ctx->to, '/');

	if (slash != NULL) {
		char *parent = xstrndup(ctx->to, (size_t)(slash - ctx->to));

		res = db_execv(c, error_r, "SELECT id FROM mailboxes WHERE account_id = $1 AND name = $2",
			2, db_i64(ctx->account_id), parent);
		if (res == NULL) {
			free(parent);
			return -1;
		}
		if (PQntuples(res) == 1)
			parent_id = db_get_i64(res, 0, 0);
		PQclear(res);
		if (parent_id == 0 && store_mailbox_create_tx(c, ctx->account_id, parent, NULL,
			    &parent_id, error_r) < 0) {
			free(parent);
			return -1;
		}
		free(parent);
	}
	/* The mailbox and its descendants, in one statement; UIDVALIDITY
	 * values come from the account's counter. */
	return db_cmd(c, error_r,
		"WITH t AS (SELECT id, name, row_number() OVER (ORDER BY name) - 1 AS k"
		"  FROM mailboxes WHERE account_id = $1 AND (name = $2 OR left(name, length($2) + 1) = $2 || '/')),"
		" v AS (UPDATE accounts SET next_uidvalidity = next_uidvalidity + (SELECT count(*) FROM t)"
		"  WHERE id = $1 RETURNING next_uidvalidity - (SELECT count(*) FROM t) AS first)"
		" UPDATE mailboxes m SET name = $3 || substr(t.name, length($2) + 1),"
		"  uidvalidity = (SELECT first FROM v) + t.k, modseq = $4,"
		"  parent_id = CASE WHEN t.name = $2 THEN $5::bigint ELSE m.parent_id END"
		" FROM t WHERE m.id = t.id",
		5, db_i64(ctx->account_id), ctx->from, ctx->to, db_i64(modseq),
		parent_id ? db_i64(parent_id) : NULL);
}

/* RFC 9051 6.3.6: renaming INBOX moves its messages to a new mailbox with
 * that name; INBOX stays, empty (its children are not moved). */
static int
rename_inbox(PGconn *c, struct rename_ctx *ctx, int64_t modseq, const char **error_r)
{
	PGresult *res;
	int64_t inbox_id, new_id;

	if (store_mailbox_create_tx(c, ctx->account_id, ctx->to, NULL, &new_id, error_r) < 0)
		return -1;
	res = db_execv(c, error_r, "SELECT id FROM mailboxes WHERE account_id = $1 AND name = 'Inbox'",
		1, db_i64(ctx->account_id));
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		ctx->result = STORE_MAILBOX_NOT_FOUND;
		return 0;
	}
	inbox_id = db_get_i64(res, 0, 0);
	PQclear(res);
	/* The new mailbox gets a copy of Inbox's METADATA annotations (as
	 * the reference server does); they count against the limits. */
	res = db_execv(c, error_r,
		"INSERT INTO metadata (account_id, mailbox_id, entry, value, is_string, modseq)"
		" SELECT account_id, $2, entry, value, is_string, $3 FROM metadata"
		" WHERE mailbox_id = $1 RETURNING id",
		3, db_i64(inbox_id), db_i64(new_id), db_i64(modseq));
	if (res == NULL)
		return -1;
	if (PQntuples(res) > 0) {
		int r = store_metadata_check_tx(c, ctx->account_id, error_r);

		if (r != 0) {
			PQclear(res);
			if (r > 0)
				ctx->result = r;
			return -1;
		}
	}
	PQclear(res);
	/* New UIDs in the new mailbox in the old order; tombstones in the
	 * Inbox for QRESYNC clients; counts moved over. */
	return db_cmd(c, error_r,
		"WITH moved AS (SELECT id, uid, row_number() OVER (ORDER BY uid) AS n"
		"  FROM messages WHERE mailbox_id = $1),"
		" tomb AS (INSERT INTO expunged (account_id, mailbox_id, uid, modseq)"
		"  SELECT $3, $1, uid, $4 FROM moved ON CONFLICT DO NOTHING),"
		" upd AS (UPDATE messages m SET mailbox_id = $2, uid = moved.n, modseq = $4"
		"  FROM moved WHERE m.id = moved.id),"
		" newmb AS (UPDATE mailboxes n SET uidnext = (SELECT count(*) FROM moved) + 1,"
		"  count_total = o.count_total, count_deleted = o.count_deleted,"
		"  count_unread = o.count_unread, count_unseen = o.count_unseen, size = o.size,"
		"  keywords = o.keywords FROM mailboxes o WHERE o.id = $1 AND n.id = $2)"
		" UPDATE mailboxes SET count_total = 0, count_deleted = 0, count_unread = 0,"
		"  count_unseen = 0, size = 0, modseq = $4 WHERE id = $1",
		4, db_i64(inbox_id), db_i64(new_id), db_i64(ctx->account_id), db_i64(modseq));
}

static int
rename_tx(PGconn *c, void *arg, const char **error_r)
{
	struct rename_ctx *ctx = arg;
	PGresult *res;
	int64_t modseq;
	bool from_exists, to_exists;

	ctx->result = 0;
	if (store_bump_modseq(c, ctx->account_id, &modseq, error_r) < 0)
		return -1;
	res = db_execv(c, error_r,
		"SELECT EXISTS (SELECT 1 FROM mailboxes WHERE account_id = $1 AND name = $2),"
		" EXISTS (SELECT 1 FROM mailboxes WHERE account_id = $1 AND name = $3)",
		3, db_i64(ctx->account_id), ctx->from, ctx->to);
	if (res == NULL)
		return -1;
	from_exists = db_get_bool(res, 0, 0);
	to_exists = db_get_bool(res, 0, 1);
	PQclear(res);
	if (!from_exists) {
		ctx->result = STORE_MAILBOX_NOT_FOUND;
		return 0;
	}
	if (to_exists) {
		ctx->result = STORE_MAILBOX_EXISTS;
		return 0;
	}
	ctx->result = 0;
	if (strcmp(ctx->from, "Inbox") == 0) {
		if (rename_inbox(c, ctx, modseq, error_r) < 0)
			return -1;
	} else if (rename_tree(c, ctx, modseq, error_r) < 0) {
		return -1;
	}
	return store_notify(c, ctx->account_id, 0, modseq, error_r);
}

int
store_mailbox_rename(struct store *st, int64_t account_id, const char *from,
	const char *to, const char **error_r)
{
	struct rename_ctx ctx;
	char *f, *t;
	int rc;

	if (!store_mailbox_name_ok(to)) {
		*error_r = "invalid mailbox name";
		return -1;
	}
	f = canonical_name(from);
	t = canonical_name(to);
	memset(&ctx, 0, sizeof(ctx));
	ctx.account_id = account_id;
	ctx.from = f;
	ctx.to = t;
	rc = 0;
	if (strcmp(t, "Inbox") == 0 || strcmp(f, t) == 0) {
		ctx.result = STORE_MAILBOX_EXISTS;
	} else if (strcmp(f, "Inbox") != 0 && strncmp(t, f, strlen(f)) == 0 &&
	    t[strlen(f)] == '/') {
		/* Below itself. (Inbox's messages may move to a child.) */
		ctx.result = STORE_MAILBOX_EXISTS;
	} else {
		rc = db_tx(st->pool, rename_tx, &ctx, error_r);
	}
	free(f);
	free(t);
	/* A metadata limit rolled the transaction back. */
	if (rc != 0 && ctx.result != STORE_METADATA_TOOMANY &&
	    ctx.result != STORE_METADATA_TOOLARGE)
		return -1;
	return ctx.result;
}

/* ---- subscriptions ---- */

int
store_mailbox_subscribe(struct store *st, int64_t account_id, const char *name,
	bool subscribed, const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	char *n = canonical_name(name);
	PGresult *res;
	int rc;

	if (c == NULL) {
		free(n);
		return -1;
	}
	/* With the change notification (NOTIFY SubscriptionChange), in the
	 * statement's own transaction. */
	res = db_execv(c, error_r,
		"WITH u AS (UPDATE mailboxes SET subscribed = $3"
		"  WHERE account_id = $1 AND name = $2 RETURNING id)"
		" SELECT id, pg_notify($4, $1 || ' ' || id || ' 0') FROM u",
		4, db_i64(account_id), n, subscribed ? "true" : "false", STORE_NOTIFY_CHANNEL);
	db_put(st->pool, c);
	free(n);
	if (res == NULL)
		return -1;
	rc = PQntuples(res) > 0 ? 0 : STORE_MAILBOX_NOT_FOUND;
	PQclear(res);
	return rc;
}
