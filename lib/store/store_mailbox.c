/* Mailbox listing and lookup. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "store/store.h"
#include "store/store_private.h"

#define MAILBOX_COLUMNS \
	"id, name, uidvalidity, uidnext, special_use, subscribed, count_total," \
	" count_deleted, count_unread, count_unseen, size, array_to_string(keywords, ' ')"

static void
mailbox_from_row(const PGresult *res, int row, struct store_mailbox *mb)
{
	memset(mb, 0, sizeof(*mb));
	mb->id = db_get_i64(res, row, 0);
	mb->name = xstrdup(PQgetvalue(res, row, 1));
	mb->uidvalidity = (uint32_t)db_get_i64(res, row, 2);
	mb->uidnext = (uint32_t)db_get_i64(res, row, 3);
	mb->special_use = PQgetisnull(res, row, 4) ? NULL : xstrdup(PQgetvalue(res, row, 4));
	mb->subscribed = db_get_bool(res, row, 5);
	mb->count_total = db_get_i64(res, row, 6);
	mb->count_deleted = db_get_i64(res, row, 7);
	mb->count_unread = db_get_i64(res, row, 8);
	mb->count_unseen = db_get_i64(res, row, 9);
	mb->size = db_get_i64(res, row, 10);
	store_split_words(PQgetvalue(res, row, 11), &mb->keywords, &mb->nkeywords);
}

void
store_mailbox_free(struct store_mailbox *mb)
{
	free(mb->name);
	free(mb->special_use);
	store_free_words(mb->keywords, mb->nkeywords);
	memset(mb, 0, sizeof(*mb));
}

void
store_mailboxes_free(struct store_mailbox *mbs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		store_mailbox_free(&mbs[i]);
	free(mbs);
}

int
store_mailbox_list(struct store *st, int64_t account_id,
	struct store_mailbox **mbs_r, size_t *n_r, const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	PGresult *res;
	int i, n;

	if (c == NULL)
		return -1;
	res = db_execv(c, error_r,
		"SELECT " MAILBOX_COLUMNS " FROM mailboxes WHERE account_id = $1"
		" ORDER BY name <> 'Inbox', name",
		1, db_i64(account_id));
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	n = PQntuples(res);
	*mbs_r = xcalloc((size_t)n, sizeof(struct store_mailbox));
	for (i = 0; i < n; i++)
		mailbox_from_row(res, i, &(*mbs_r)[i]);
	*n_r = (size_t)n;
	PQclear(res);
	return 0;
}

int
store_mailbox_list_modseq(struct store *st, int64_t account_id,
	struct store_mailbox **mbs_r, int64_t **hms_r, size_t *n_r, const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	PGresult *res;
	int i, n;

	if (c == NULL)
		return -1;
	/* The HIGHESTMODSEQ of store_mailbox_modseq for every mailbox in one
	 * statement: two index lookups per mailbox (messages_mailbox_modseq,
	 * expunged_mailbox_modseq). */
	res = db_execv(c, error_r,
		"WITH d AS (SELECT COALESCE(max(highest_deleted_modseq), 0) AS m"
		"  FROM sync_state WHERE account_id = $1)"
		" SELECT " MAILBOX_COLUMNS ", GREATEST(mb.modseq, d.m,"
		"  (SELECT max(modseq) FROM messages WHERE mailbox_id = mb.id),"
		"  (SELECT max(modseq) FROM expunged WHERE mailbox_id = mb.id))"
		" FROM mailboxes mb, d WHERE mb.account_id = $1"
		" ORDER BY mb.name <> 'Inbox', mb.name",
		1, db_i64(account_id));
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	n = PQntuples(res);
	*mbs_r = xcalloc((size_t)n, sizeof(struct store_mailbox));
	*hms_r = xcalloc((size_t)n + 1, sizeof(int64_t));
	for (i = 0; i < n; i++) {
		mailbox_from_row(res, i, &(*mbs_r)[i]);
		(*hms_r)[i] = db_get_i64(res, i, 12);
	}
	*n_r = (size_t)n;
	PQclear(res);
	return 0;
}

int
store_delivery_mailboxes(struct store *st, int64_t account_id, char ***names_r,
	size_t *n_r, const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	PGresult *res;
	int i, n;

	if (c == NULL)
		return -1;
	res = db_execv(c, error_r,
		"SELECT mailbox FROM addresses WHERE account_id = $1"
		" UNION SELECT r.mailbox FROM rulesets r JOIN addresses a ON a.id = r.address_id"
		"  WHERE a.account_id = $1 AND r.list_allow_domain = ''",
		1, db_i64(account_id));
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	n = PQntuples(res);
	*names_r = xcalloc((size_t)n + 1, sizeof(char *));
	for (i = 0; i < n; i++)
		(*names_r)[i] = xstrdup(PQgetvalue(res, i, 0));
	*n_r = (size_t)n;
	PQclear(res);
	return 0;
}

int
store_mailbox_get(struct store *st, int64_t account_id, const char *name,
	struct store_mailbox *mb_r, const char **error_r)
{
	PGconn *c;
	PGresult *res;
	int found;

	/* "INBOX" is case-insensitive in IMAP (RFC 9051 section 5.1). */
	if (ms_strcaseeq(name, "inbox"))
		name = "Inbox";
	c = db_get(st->pool, error_r);
	if (c == NULL)
		return -1;
	res = db_execv(c, error_r,
		"SELECT " MAILBOX_COLUMNS " FROM mailboxes WHERE account_id = $1 AND name = $2",
		2, db_i64(account_id), name);
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	found = PQntuples(res) == 1;
	if (found)
		mailbox_from_row(res, 0, mb_r);
	PQclear(res);
	return found;
}

int
store_account_modseq(struct store *st, int64_t account_id, int64_t *modseq_r,
	const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	PGresult *res;

	if (c == NULL)
		return -1;
	res = db_execv(c, error_r, "SELECT modseq FROM accounts WHERE id = $1", 1,
		db_i64(account_id));
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		*error_r = "no such account";
		return -1;
	}
	*modseq_r = db_get_i64(res, 0, 0);
	PQclear(res);
	return 0;
}
