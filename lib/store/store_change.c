/* Changes the webmail makes that IMAP has no single command for: removing
 * messages for good without \Deleted first, moving a mailbox's special
 * use, and the thread flags (mute, collapse). Each bumps the account's
 * modseq under the account row lock and NOTIFYs, like every change. */
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

/* ---- remove ---- */

struct remove_ctx {
	int64_t account_id, mailbox_id;
	const uint32_t *uids;
	size_t n;
	uint32_t *expunged;
	size_t nexpunged;
	char **paths;
};

static int
remove_tx(PGconn *c, void *arg, const char **error_r)
{
	struct remove_ctx *ctx = arg;
	int64_t modseq;

	free(ctx->expunged);
	store_free_words(ctx->paths, ctx->nexpunged);
	ctx->expunged = NULL;
	ctx->paths = NULL;
	ctx->nexpunged = 0;
	if (store_bump_modseq(c, ctx->account_id, &modseq, error_r) < 0 ||
	    store_expunge_tx(c, ctx->account_id, ctx->mailbox_id, ctx->uids, ctx->n, false,
		    modseq, &ctx->expunged, &ctx->paths, &ctx->nexpunged, error_r) < 0)
		return -1;
	if (ctx->nexpunged == 0)
		return 0;
	return store_notify(c, ctx->account_id, ctx->mailbox_id, modseq, error_r);
}

int
store_remove(struct store *st, int64_t account_id, int64_t mailbox_id,
	const uint32_t *uids, size_t n, uint32_t **expunged_r, size_t *nexpunged_r,
	const char **error_r)
{
	struct remove_ctx ctx;
	size_t i;

	*expunged_r = NULL;
	*nexpunged_r = 0;
	if (uids != NULL && n == 0)
		return 0;
	memset(&ctx, 0, sizeof(ctx));
	ctx.account_id = account_id;
	ctx.mailbox_id = mailbox_id;
	ctx.uids = uids;
	ctx.n = n;
	if (db_tx(st->pool, remove_tx, &ctx, error_r) < 0) {
		free(ctx.expunged);
		store_free_words(ctx.paths, ctx.nexpunged);
		return -1;
	}
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

/* ---- special use ---- */

bool
store_special_use_ok(const char *use)
{
	static const char *const uses[] = { "archive", "drafts", "junk", "sent", "trash" };
	size_t i;

	for (i = 0; i < MS_NELEM(uses); i++)
		if (strcmp(use, uses[i]) == 0)
			return true;
	return false;
}

struct special_ctx {
	int64_t account_id, mailbox_id;
	const char *use;
	bool found;
};

static int
special_tx(PGconn *c, void *arg, const char **error_r)
{
	struct special_ctx *ctx = arg;
	int64_t modseq;
	PGresult *res;
	int i;

	if (store_bump_modseq(c, ctx->account_id, &modseq, error_r) < 0)
		return -1;
	/* The mailbox that had the use loses it (one mailbox per use, as
	 * store_mailbox_create keeps it), then the mailbox gets it. */
	res = db_execv(c, error_r,
		"UPDATE mailboxes SET special_use = CASE WHEN id = $2 THEN $3 ELSE NULL END,"
		" modseq = $4"
		" WHERE account_id = $1 AND (id = $2 OR ($3::text IS NOT NULL AND special_use = $3))"
		" RETURNING id",
		4, db_i64(ctx->account_id), db_i64(ctx->mailbox_id), ctx->use, db_i64(modseq));
	if (res == NULL)
		return -1;
	ctx->found = false;
	for (i = 0; i < PQntuples(res); i++)
		if (db_get_i64(res, i, 0) == ctx->mailbox_id)
			ctx->found = true;
	if (!ctx->found) {
		PQclear(res);
		return 0;
	}
	for (i = 0; i < PQntuples(res); i++)
		if (store_notify(c, ctx->account_id, db_get_i64(res, i, 0), modseq, error_r) < 0) {
			PQclear(res);
			return -1;
		}
	PQclear(res);
	return 0;
}

int
store_mailbox_set_special_use(struct store *st, int64_t account_id, int64_t mailbox_id,
	const char *use, const char **error_r)
{
	struct special_ctx ctx;

	if (use != NULL && use[0] == '\0')
		use = NULL;
	if (use != NULL && !store_special_use_ok(use)) {
		*error_r = "unknown special use";
		return -1;
	}
	memset(&ctx, 0, sizeof(ctx));
	ctx.account_id = account_id;
	ctx.mailbox_id = mailbox_id;
	ctx.use = use;
	if (db_tx(st->pool, special_tx, &ctx, error_r) != 0)
		return -1;
	return ctx.found ? 0 : STORE_MAILBOX_NOT_FOUND;
}

/* ---- threads ---- */

struct thread_ctx {
	int64_t account_id;
	const char *ids;	/* bigint[] literal */
	int mute, collapse;
	size_t nchanged;
};

static int
thread_tx(PGconn *c, void *arg, const char **error_r)
{
	struct thread_ctx *ctx = arg;
	int64_t modseq;
	PGresult *res;
	int i;

	if (store_bump_modseq(c, ctx->account_id, &modseq, error_r) < 0)
		return -1;
	/* A message without thread_id is a thread of its own. */
	res = db_execv(c, error_r,
		"WITH u AS (UPDATE messages SET modseq = $5,"
		" thread_muted = CASE WHEN $3::int < 0 THEN thread_muted ELSE $3::int = 1 END,"
		" thread_collapsed = CASE WHEN $4::int < 0 THEN thread_collapsed ELSE $4::int = 1 END"
		" WHERE account_id = $1 AND COALESCE(thread_id, id) IN"
		"  (SELECT COALESCE(thread_id, id) FROM messages"
		"   WHERE account_id = $1 AND id = ANY($2::bigint[]))"
		" AND (($3::int >= 0 AND thread_muted <> ($3::int = 1))"
		"  OR ($4::int >= 0 AND thread_collapsed <> ($4::int = 1)))"
		" RETURNING mailbox_id) SELECT DISTINCT mailbox_id FROM u",
		5, db_i64(ctx->account_id), ctx->ids, db_i64(ctx->mute), db_i64(ctx->collapse),
		db_i64(modseq));
	if (res == NULL)
		return -1;
	ctx->nchanged = (size_t)PQntuples(res);
	for (i = 0; i < PQntuples(res); i++)
		if (store_notify(c, ctx->account_id, db_get_i64(res, i, 0), modseq, error_r) < 0) {
			PQclear(res);
			return -1;
		}
	PQclear(res);
	return 0;
}

int
store_threads_set(struct store *st, int64_t account_id, const int64_t *message_ids, size_t n,
	int mute, int collapse, const char **error_r)
{
	struct thread_ctx ctx;
	struct buf ids;
	int rc;

	if (n == 0 || (mute < 0 && collapse < 0))
		return 0;
	buf_init(&ids);
	db_i64_array(&ids, message_ids, n);
	memset(&ctx, 0, sizeof(ctx));
	ctx.account_id = account_id;
	ctx.ids = ids.data;
	ctx.mute = mute;
	ctx.collapse = collapse;
	rc = db_tx(st->pool, thread_tx, &ctx, error_r);
	buf_free(&ids);
	return rc == 0 ? 0 : -1;
}
