/* The per-account suppression list: addresses (by base address, see
 * queue_base_address) that the delivery daemon fails at once instead of
 * contacting their servers again. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "mail/addr.h"
#include "queue/queue.h"
#include "queue/queue_private.h"

void
queue_suppression_free(struct queue_suppression *s)
{
	free(s->account);
	free(s->base_address);
	free(s->original_address);
	free(s->reason);
	memset(s, 0, sizeof(*s));
}

void
queue_suppressions_free(struct queue_suppression *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		queue_suppression_free(&v[i]);
	free(v);
}

#define SUP_COLUMNS \
	"SELECT s.id, floor(extract(epoch FROM s.created))::bigint, s.account_id, a.name," \
	" s.base_address, s.original_address, s.manual, s.reason" \
	" FROM suppressions s JOIN accounts a ON a.id = s.account_id"

static void
sup_from_row(const PGresult *res, int row, struct queue_suppression *s)
{
	s->id = db_get_i64(res, row, 0);
	s->created = db_get_i64(res, row, 1);
	s->account_id = db_get_i64(res, row, 2);
	s->account = xstrdup(PQgetvalue(res, row, 3));
	s->base_address = xstrdup(PQgetvalue(res, row, 4));
	s->original_address = xstrdup(PQgetvalue(res, row, 5));
	s->manual = db_get_bool(res, row, 6);
	s->reason = xstrdup(PQgetvalue(res, row, 7));
}

int
queue_suppression_list(struct store *st, int64_t account_id,
	struct queue_suppression **v_r, size_t *n_r, const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	PGresult *res;
	struct queue_suppression *v;
	size_t n, i;

	if (c == NULL)
		return -1;
	res = db_execv(c, error_r,
		SUP_COLUMNS " WHERE ($1::bigint = 0 OR s.account_id = $1::bigint)"
		" ORDER BY a.name, s.base_address", 1, db_i64(account_id));
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	n = (size_t)PQntuples(res);
	v = xcalloc(n ? n : 1, sizeof(*v));
	for (i = 0; i < n; i++)
		sup_from_row(res, (int)i, &v[i]);
	PQclear(res);
	*v_r = v;
	*n_r = n;
	return 0;
}

/* The INSERT of queue_suppression_add on connection c. */
static int
suppression_insert(PGconn *c, int64_t account_id, const char *localpart, const char *domain,
	bool manual, const char *reason, const char **error_r)
{
	struct buf base, orig;
	struct mail_addr a;
	PGresult *res;
	int rc = -1;

	buf_init(&base);
	buf_init(&orig);
	queue_base_address(&base, localpart, domain);
	memset(&a, 0, sizeof(a));
	a.localpart = (char *)localpart;
	a.domain = (char *)domain;
	a.domain_ascii = (char *)domain;
	mail_addr_format(&orig, &a, true);
	/* One entry per base address: a second add is not an error, the
	 * first reason stays. */
	res = db_execv(c, error_r,
		"INSERT INTO suppressions (account_id, base_address, original_address,"
		" manual, reason) VALUES ($1, $2, $3, $4::boolean, $5)"
		" ON CONFLICT (account_id, base_address) DO NOTHING RETURNING id",
		5, db_i64(account_id), base.data, orig.data, manual ? "true" : "false",
		reason ? reason : "");
	if (res != NULL) {
		rc = PQntuples(res) == 1 ? 0 : 1;
		PQclear(res);
	}
	buf_free(&base);
	buf_free(&orig);
	return rc;
}

int
queue_suppression_add_tx(struct pg_conn *c, int64_t account_id, const char *localpart,
	const char *domain, bool manual, const char *reason, const char **error_r)
{
	return suppression_insert(c, account_id, localpart, domain, manual, reason, error_r);
}

int
queue_suppression_add(struct store *st, int64_t account_id, const char *localpart,
	const char *domain, bool manual, const char *reason, const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	int rc;

	if (c == NULL)
		return -1;
	rc = suppression_insert(c, account_id, localpart, domain, manual, reason, error_r);
	db_put(st->pool, c);
	return rc;
}

int
queue_suppression_remove(struct store *st, int64_t account_id, const char *localpart,
	const char *domain, const char **error_r)
{
	struct buf base;
	PGconn *c;
	PGresult *res;
	int rc = -1;

	buf_init(&base);
	queue_base_address(&base, localpart, domain);
	c = db_get(st->pool, error_r);
	if (c == NULL)
		goto out;
	res = db_execv(c, error_r,
		"DELETE FROM suppressions WHERE account_id = $1 AND base_address = $2",
		2, db_i64(account_id), base.data);
	db_put(st->pool, c);
	if (res == NULL)
		goto out;
	rc = queue_cmd_tuples(res) > 0;
	PQclear(res);
out:
	buf_free(&base);
	return rc;
}

int
queue_suppression_lookup(struct store *st, int64_t account_id, const char *localpart,
	const char *domain, struct queue_suppression *s_r, const char **error_r)
{
	struct buf base;
	PGconn *c;
	PGresult *res;
	int rc = -1;

	buf_init(&base);
	queue_base_address(&base, localpart, domain);
	c = db_get(st->pool, error_r);
	if (c == NULL)
		goto out;
	res = db_execv(c, error_r,
		SUP_COLUMNS " WHERE s.account_id = $1 AND s.base_address = $2",
		2, db_i64(account_id), base.data);
	db_put(st->pool, c);
	if (res == NULL)
		goto out;
	rc = PQntuples(res) == 1;
	if (s_r != NULL) {
		memset(s_r, 0, sizeof(*s_r));
		if (rc == 1)
			sup_from_row(res, 0, s_r);
	}
	PQclear(res);
out:
	buf_free(&base);
	return rc;
}

int
queue_suppression_check(struct store *st, const int64_t *account_ids,
	const char *const *localparts, const char *const *domains, size_t n, bool *suppressed,
	const char **error_r)
{
	struct buf *bases, acct_arr, base_arr;
	const char **bv;
	PGconn *c;
	PGresult *res = NULL;
	size_t i;
	int rc = -1, k;

	for (i = 0; i < n; i++)
		suppressed[i] = false;
	if (n == 0)
		return 0;
	bases = xcalloc(n, sizeof(*bases));
	bv = xcalloc(n, sizeof(*bv));
	for (i = 0; i < n; i++) {
		buf_init(&bases[i]);
		queue_base_address(&bases[i], localparts[i], domains[i]);
		bv[i] = bases[i].data;
	}
	buf_init(&acct_arr);
	buf_init(&base_arr);
	db_i64_array(&acct_arr, account_ids, n);
	db_text_array(&base_arr, bv, n);
	c = db_get(st->pool, error_r);
	if (c != NULL) {
		/* One statement for the whole set (ordinality is 1-based). */
		res = db_execv(c, error_r,
			"SELECT r.i FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS r(acct, base, i)"
			" WHERE EXISTS (SELECT 1 FROM suppressions s"
			"  WHERE s.account_id = r.acct AND s.base_address = r.base)",
			2, acct_arr.data, base_arr.data);
		db_put(st->pool, c);
	}
	if (res != NULL) {
		for (k = 0; k < PQntuples(res); k++) {
			int64_t j = db_get_i64(res, k, 0);

			if (j >= 1 && (size_t)j <= n)
				suppressed[j - 1] = true;
		}
		PQclear(res);
		rc = 0;
	}
	for (i = 0; i < n; i++)
		buf_free(&bases[i]);
	free(bases);
	free(bv);
	buf_free(&acct_arr);
	buf_free(&base_arr);
	return rc;
}
