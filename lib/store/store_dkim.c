/* DKIM keys per domain (dkim_selectors), see store.h. Private keys are
 * secrets: they are never logged and are wiped when freed. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/buf.h"
#include "core/util.h"
#include "store/store.h"
#include "store/store_private.h"

int
store_dkim_selector_add(struct store *st, const char *domain,
	const struct store_dkim_selector *sel, const char **error_r)
{
	struct buf hdrs;
	PGresult *res;
	PGconn *c;
	int rc = -1;

	c = db_get(st->pool, error_r);
	if (c == NULL)
		return -1;
	buf_init(&hdrs);
	db_text_array(&hdrs, (const char *const *)sel->headers, sel->nheaders);
	res = db_execv(c, error_r,
		"INSERT INTO dkim_selectors (domain_id, selector, algorithm, private_key, headers,"
		" oversign, expiration_seconds, sign)"
		" SELECT d.id, $2, $3, $4, $5::text[], $6::boolean, $7::int, $8::boolean"
		" FROM domains d WHERE d.name = lower($1)"
		" ON CONFLICT (domain_id, selector) DO NOTHING RETURNING id",
		8, domain, sel->selector, sel->algorithm, sel->private_key, hdrs.data,
		sel->oversign ? "true" : "false", db_i64(sel->expiration_seconds),
		sel->sign ? "true" : "false");
	if (res != NULL) {
		if (PQntuples(res) == 1) {
			rc = 0;
		} else {
			PGresult *d = db_execv(c, error_r, "SELECT 1 FROM domains WHERE name = lower($1)",
				1, domain);

			if (d != NULL) {
				*error_r = PQntuples(d) == 0 ?
				    ms_err("no such domain: %s (add it with: mailstead domain add %s)",
					domain, domain) :
				    ms_err("selector %s already exists for %s", sel->selector, domain);
				PQclear(d);
			}
		}
		PQclear(res);
	}
	db_put(st->pool, c);
	buf_free(&hdrs);
	return rc;
}

int
store_dkim_selectors(struct store *st, const char *domain, bool signing_only,
	struct store_dkim_selector **v_r, size_t *n_r, const char **error_r)
{
	struct store_dkim_selector *v;
	PGresult *res;
	PGconn *c;
	int i, n;

	*v_r = NULL;
	*n_r = 0;
	c = db_get(st->pool, error_r);
	if (c == NULL)
		return -1;
	if (domain != NULL && signing_only)
		/* Every signed message asks this: its own text, so the server
		 * keeps one generic plan (the general form is planned anew on
		 * each call for its "$1 IS NULL OR"). */
		res = db_execpv(c, error_r,
			"SELECT s.id, d.name, s.selector, s.algorithm, s.private_key,"
			" array_to_string(s.headers, ' '), s.oversign, s.sign, s.expiration_seconds,"
			" extract(epoch FROM s.created)::bigint"
			" FROM dkim_selectors s JOIN domains d ON d.id = s.domain_id"
			" WHERE d.name = lower($1) AND s.sign"
			" ORDER BY d.name, s.selector",
			1, domain);
	else
		res = db_execv(c, error_r,
			"SELECT s.id, d.name, s.selector, s.algorithm, s.private_key,"
			" array_to_string(s.headers, ' '), s.oversign, s.sign, s.expiration_seconds,"
			" extract(epoch FROM s.created)::bigint"
			" FROM dkim_selectors s JOIN domains d ON d.id = s.domain_id"
			" WHERE ($1::text IS NULL OR d.name = lower($1)) AND (s.sign OR NOT $2::boolean)"
			" ORDER BY d.name, s.selector",
			2, domain, signing_only ? "true" : "false");
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	n = PQntuples(res);
	v = xcalloc((size_t)n + 1, sizeof(*v));
	for (i = 0; i < n; i++) {
		v[i].id = db_get_i64(res, i, 0);
		v[i].domain = xstrdup(PQgetvalue(res, i, 1));
		v[i].selector = xstrdup(PQgetvalue(res, i, 2));
		v[i].algorithm = xstrdup(PQgetvalue(res, i, 3));
		v[i].private_key = xstrdup(PQgetvalue(res, i, 4));
		store_split_words(PQgetvalue(res, i, 5), &v[i].headers, &v[i].nheaders);
		v[i].oversign = db_get_bool(res, i, 6);
		v[i].sign = db_get_bool(res, i, 7);
		v[i].expiration_seconds = db_get_i64(res, i, 8);
		v[i].created = db_get_i64(res, i, 9);
	}
	/* The key text also sits in libpq's result buffer: clear it. */
	for (i = 0; i < n; i++)
		OPENSSL_cleanse(PQgetvalue(res, i, 4), strlen(PQgetvalue(res, i, 4)));
	PQclear(res);
	*v_r = v;
	*n_r = (size_t)n;
	return 0;
}

int
store_dkim_selector_rm(struct store *st, const char *domain, const char *selector,
	const char **error_r)
{
	PGresult *res;
	PGconn *c;
	int rc;

	c = db_get(st->pool, error_r);
	if (c == NULL)
		return -1;
	res = db_execv(c, error_r,
		"DELETE FROM dkim_selectors s USING domains d"
		" WHERE d.id = s.domain_id AND d.name = lower($1) AND s.selector = $2 RETURNING s.id",
		2, domain, selector);
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	rc = PQntuples(res) > 0 ? 1 : 0;
	PQclear(res);
	return rc;
}

void
store_dkim_selectors_free(struct store_dkim_selector *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].domain);
		free(v[i].selector);
		free(v[i].algorithm);
		if (v[i].private_key != NULL) {
			OPENSSL_cleanse(v[i].private_key, strlen(v[i].private_key));
			free(v[i].private_key);
		}
		store_free_words(v[i].headers, v[i].nheaders);
	}
	free(v);
}
