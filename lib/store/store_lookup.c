/* Recipient lookup for incoming mail: domain state, canonical localpart,
 * exact address, @domain catch-all, postmaster fallback. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "core/util.h"
#include "store/store.h"
#include "store/store_private.h"

static int
fill_dest(struct store_dest *dest, PGresult *res, const char *canon,
	const char *domain)
{
	const char *err = PQgetisnull(res, 0, 3) ? NULL : PQgetvalue(res, 0, 3);

	dest->account_id = db_get_i64(res, 0, 0);
	dest->address_id = db_get_i64(res, 0, 1);
	(void)ms_strlcpy(dest->mailbox, PQgetvalue(res, 0, 2), sizeof(dest->mailbox));
	(void)snprintf(dest->canonical, sizeof(dest->canonical), "%s@%s", canon, domain);
	if (err != NULL && err[0] != '\0') {
		dest->status = STORE_DEST_SMTP_ERROR;
		(void)ms_strlcpy(dest->smtp_error, err, sizeof(dest->smtp_error));
	} else {
		dest->status = STORE_DEST_OK;
	}
	return 0;
}

int
store_lookup_dest(struct store *st, const char *localpart, const char *domain,
	struct store_dest *dest, const char **error_r)
{
	PGresult *res;
	PGconn *c;
	struct buf canon;
	int64_t domain_id;
	bool disabled, reports_only, case_sensitive;
	int rc = -1;

	memset(dest, 0, sizeof(*dest));
	c = db_get(st->pool, error_r);
	if (c == NULL)
		return -1;
	buf_init(&canon);
	res = db_execv(c, error_r,
		"SELECT id, disabled, reports_only, localpart_case_sensitive,"
		" localpart_catchall_separators FROM domains WHERE name = $1",
		1, domain);
	if (res == NULL)
		goto out;
	if (PQntuples(res) == 0) {
		PQclear(res);
		dest->status = STORE_DEST_NOT_LOCAL;
		rc = 0;
		goto out;
	}
	domain_id = db_get_i64(res, 0, 0);
	disabled = db_get_bool(res, 0, 1);
	reports_only = db_get_bool(res, 0, 2);
	case_sensitive = db_get_bool(res, 0, 3);
	store_canon_localpart(&canon, localpart, case_sensitive, PQgetvalue(res, 0, 4));
	PQclear(res);
	if (disabled) {
		dest->status = STORE_DEST_DISABLED;
		rc = 0;
		goto out;
	}

	/* Exact address first, then (except for reports-only domains) the
	 * catch-all, whose localpart is ''. */
	res = db_execv(c, error_r,
		"SELECT account_id, id, mailbox, smtp_error FROM addresses"
		" WHERE domain_id = $1 AND (localpart = $2 OR ($3 AND localpart = ''))"
		" ORDER BY localpart = '' LIMIT 1",
		3, db_i64(domain_id), canon.data, reports_only ? "false" : "true");
	if (res == NULL)
		goto out;
	if (PQntuples(res) == 1) {
		fill_dest(dest, res, canon.data, domain);
		PQclear(res);
		rc = 0;
		goto out;
	}
	PQclear(res);

	/* RFC 5321 section 4.5.1: postmaster must be accepted. Without an
	 * explicit address it goes to the oldest account of the domain. */
	if (ms_strcaseeq(canon.data, "postmaster")) {
		res = db_execv(c, error_r,
			"SELECT a.id, 0, 'Inbox', NULL FROM accounts a WHERE a.domain_id = $1"
			" ORDER BY a.id LIMIT 1",
			1, db_i64(domain_id));
		if (res == NULL)
			goto out;
		if (PQntuples(res) == 1) {
			fill_dest(dest, res, "postmaster", domain);
			PQclear(res);
			rc = 0;
			goto out;
		}
		PQclear(res);
	}
	dest->status = STORE_DEST_UNKNOWN;
	rc = 0;
out:
	db_put(st->pool, c);
	buf_free(&canon);
	return rc;
}

int
store_lookup_postmaster(struct store *st, struct store_dest *dest,
	const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	PGresult *res;

	memset(dest, 0, sizeof(*dest));
	if (c == NULL)
		return -1;
	res = db_execv(c, error_r,
		"SELECT a.id, 0, 'Inbox', NULL, d.name FROM accounts a"
		" JOIN domains d ON d.id = a.domain_id ORDER BY a.id LIMIT 1", 0);
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 1)
		fill_dest(dest, res, "postmaster", PQgetvalue(res, 0, 4));
	else
		dest->status = STORE_DEST_UNKNOWN;
	PQclear(res);
	return 0;
}
