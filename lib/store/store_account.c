/* Domains, accounts and credentials. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "auth/password.h"
#include "core/log.h"
#include "core/util.h"
#include "store/store.h"
#include "store/store_private.h"

static const struct {
	const char *name;
	const char *special_use;
} default_mailboxes[] = {
	{ "Inbox", NULL },
	{ "Sent", "sent" },
	{ "Drafts", "drafts" },
	{ "Trash", "trash" },
	{ "Junk", "junk" },
	{ "Archive", "archive" },
};

int
store_domain_add(struct store *st, const char *domain, const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	int rc;

	if (c == NULL)
		return -1;
	rc = db_cmd(c, error_r, "INSERT INTO domains (name) VALUES ($1)", 1, domain);
	if (rc < 0 && strcmp(db_last_sqlstate(), "23505") == 0)
		*error_r = ms_err("domain %s already exists", domain);
	db_put(st->pool, c);
	return rc;
}

void
store_canon_localpart(struct buf *out, const char *localpart,
	bool case_sensitive, const char *separators)
{
	size_t n = strlen(localpart), i, start = out->len;

	if (separators != NULL && separators[0] != '\0') {
		size_t cut = strcspn(localpart, separators);
		/* "+tag" alone is not cut to an empty localpart. */
		if (cut > 0)
			n = cut;
	}
	buf_append(out, localpart, n);
	if (!case_sensitive)
		for (i = start; i < out->len; i++)
			out->data[i] = ms_tolower(out->data[i]);
}

int
store_mailbox_create_tx(PGconn *c, int64_t account_id, const char *name,
	const char *special_use, int64_t *id_r, const char **error_r)
{
	PGresult *res;
	int64_t modseq, parent_id = 0;
	const char *slash = strrchr(name, '/');

	if (name[0] == '\0' || name[0] == '/' || (slash != NULL && slash[1] == '\0') ||
	    strstr(name, "//") != NULL) {
		*error_r = ms_err("bad mailbox name %s", name);
		return -1;
	}
	/* Hierarchical names need their parents ("Archive/2026" needs
	 * "Archive"), created as plain mailboxes when missing. */
	if (slash != NULL) {
		char *parent = xstrndup(name, (size_t)(slash - name));

		res = db_execv(c, error_r,
			"SELECT id FROM mailboxes WHERE account_id = $1 AND name = $2",
			2, db_i64(account_id), parent);
		if (res == NULL) {
			free(parent);
			return -1;
		}
		if (PQntuples(res) == 1) {
			parent_id = db_get_i64(res, 0, 0);
		} else if (store_mailbox_create_tx(c, account_id, parent, NULL, &parent_id,
			       error_r) < 0) {
			PQclear(res);
			free(parent);
			return -1;
		}
		PQclear(res);
		free(parent);
	}
	if (store_bump_modseq(c, account_id, &modseq, error_r) < 0)
		return -1;
	res = db_execv(c, error_r,
		"WITH v AS (UPDATE accounts SET next_uidvalidity = next_uidvalidity + 1"
		"  WHERE id = $1 RETURNING next_uidvalidity - 1 AS uv)"
		" INSERT INTO mailboxes (account_id, name, uidvalidity, special_use,"
		"  modseq, createseq, parent_id)"
		" SELECT $1, $2, (SELECT uv FROM v), $3, $4, $4, $5 RETURNING id",
		5, db_i64(account_id), name, special_use, db_i64(modseq),
		parent_id ? db_i64(parent_id) : NULL);
	if (res == NULL)
		return -1;
	*id_r = db_get_i64(res, 0, 0);
	PQclear(res);
	return 0;
}

struct account_add_ctx {
	const char *localpart, *domain;
	int64_t account_id;
};

static int
account_add_tx(PGconn *c, void *arg, const char **error_r)
{
	struct account_add_ctx *ctx = arg;
	PGresult *res;
	struct buf canon, name;
	int64_t domain_id;
	bool case_sensitive;
	size_t i;
	int rc = -1;

	res = db_execv(c, error_r,
		"SELECT id, localpart_case_sensitive FROM domains WHERE name = $1",
		1, ctx->domain);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		*error_r = ms_err("domain %s does not exist (add it first with: mailstead domain add %s)",
			ctx->domain, ctx->domain);
		return -1;
	}
	domain_id = db_get_i64(res, 0, 0);
	case_sensitive = db_get_bool(res, 0, 1);
	PQclear(res);

	buf_init(&canon);
	buf_init(&name);
	store_canon_localpart(&canon, ctx->localpart, case_sensitive, NULL);
	buf_printf(&name, "%s@%s", canon.data, ctx->domain);
	/* UIDVALIDITY starts from the clock so a re-created account does not
	 * reuse values that clients may have cached. */
	res = db_execv(c, error_r,
		"INSERT INTO accounts (name, domain_id, next_uidvalidity)"
		" VALUES ($1, $2, (extract(epoch FROM now())::bigint % 2000000000) + 1)"
		" RETURNING id",
		2, name.data, db_i64(domain_id));
	if (res == NULL) {
		if (strcmp(db_last_sqlstate(), "23505") == 0)
			*error_r = ms_err("account %s already exists", name.data);
		goto out;
	}
	ctx->account_id = db_get_i64(res, 0, 0);
	PQclear(res);
	if (db_cmd(c, error_r, "INSERT INTO sync_state (account_id) VALUES ($1)", 1,
		    db_i64(ctx->account_id)) < 0)
		goto out;
	if (db_cmd(c, error_r,
		    "INSERT INTO addresses (account_id, domain_id, localpart) VALUES ($1, $2, $3)",
		    3, db_i64(ctx->account_id), db_i64(domain_id), canon.data) < 0) {
		if (strcmp(db_last_sqlstate(), "23505") == 0)
			*error_r = ms_err("address %s is already in use", name.data);
		goto out;
	}
	for (i = 0; i < MS_NELEM(default_mailboxes); i++) {
		int64_t id;

		if (store_mailbox_create_tx(c, ctx->account_id, default_mailboxes[i].name,
			    default_mailboxes[i].special_use, &id, error_r) < 0)
			goto out;
	}
	rc = 0;
out:
	buf_free(&canon);
	buf_free(&name);
	return rc;
}

int
store_account_add(struct store *st, const char *localpart, const char *domain,
	int64_t *account_id_r, const char **error_r)
{
	struct account_add_ctx ctx = { localpart, domain, 0 };

	if (localpart[0] == '\0') {
		*error_r = "account address needs a localpart";
		return -1;
	}
	if (db_tx(st->pool, account_add_tx, &ctx, error_r) < 0)
		return -1;
	*account_id_r = ctx.account_id;
	return 0;
}

struct address_add_ctx {
	const char *localpart, *domain;
	int64_t account_id;
};

static int
address_add_tx(PGconn *c, void *arg, const char **error_r)
{
	struct address_add_ctx *ctx = arg;
	PGresult *res;
	struct buf canon;
	int64_t domain_id;
	int rc;

	res = db_execv(c, error_r,
		"SELECT id, localpart_case_sensitive FROM domains WHERE name = $1",
		1, ctx->domain);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		*error_r = ms_err("domain %s does not exist", ctx->domain);
		return -1;
	}
	domain_id = db_get_i64(res, 0, 0);
	buf_init(&canon);
	store_canon_localpart(&canon, ctx->localpart, db_get_bool(res, 0, 1), NULL);
	PQclear(res);
	rc = db_cmd(c, error_r,
		"INSERT INTO addresses (account_id, domain_id, localpart) VALUES ($1, $2, $3)",
		3, db_i64(ctx->account_id), db_i64(domain_id), canon.data);
	if (rc < 0 && strcmp(db_last_sqlstate(), "23505") == 0)
		*error_r = ms_err("address %s@%s is already in use", canon.data, ctx->domain);
	buf_free(&canon);
	return rc;
}

int
store_address_add(struct store *st, const char *localpart, const char *domain,
	int64_t account_id, const char **error_r)
{
	struct address_add_ctx ctx = { localpart, domain, account_id };

	return db_tx(st->pool, address_add_tx, &ctx, error_r);
}

int
store_account_find(struct store *st, const char *name, int64_t *account_id_r,
	const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	const char *at = strrchr(name, '@');
	PGresult *res;
	char *local;
	int found;

	if (c == NULL)
		return -1;
	local = at ? xstrndup(name, (size_t)(at - name)) : NULL;
	/* By account name, else by address (localpart compared per the
	 * domain's case sensitivity). */
	res = db_execv(c, error_r,
		"SELECT id FROM accounts WHERE name = $1"
		" UNION ALL"
		" SELECT a.account_id FROM addresses a JOIN domains d ON d.id = a.domain_id"
		"  WHERE $2::text IS NOT NULL AND d.name = lower($3) AND a.localpart <> ''"
		"  AND a.localpart = CASE WHEN d.localpart_case_sensitive THEN $2 ELSE lower($2) END"
		" LIMIT 1",
		3, name, local, at ? at + 1 : "");
	db_put(st->pool, c);
	free(local);
	if (res == NULL)
		return -1;
	found = PQntuples(res) > 0;
	if (found)
		*account_id_r = db_get_i64(res, 0, 0);
	PQclear(res);
	return found;
}

static const char *
bytea_hex(struct buf *b, const unsigned char *p, size_t n)
{
	buf_reset(b);
	buf_puts(b, "\\x");
	ms_hex_encode(b, p, n);
	return b->data;
}

int
store_password_set(struct store *st, int64_t account_id, const char *password,
	const char **error_r)
{
	struct credentials cr;
	struct buf h[8];
	PGconn *c;
	size_t i;
	int rc = -1;

	if (strlen(password) < 1) {
		*error_r = "empty password";
		return -1;
	}
	if (credentials_derive(password, &cr, error_r) < 0)
		return -1;
	for (i = 0; i < MS_NELEM(h); i++)
		buf_init(&h[i]);
	c = db_get(st->pool, error_r);
	if (c != NULL) {
		PGresult *res = db_execv(c, error_r,
			"INSERT INTO credentials (account_id, password_hash,"
			" scram_sha1_salt, scram_sha1_iterations, scram_sha1_stored_key, scram_sha1_server_key,"
			" scram_sha256_salt, scram_sha256_iterations, scram_sha256_stored_key, scram_sha256_server_key,"
			" crammd5_ipad, crammd5_opad)"
			" SELECT id, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 FROM accounts WHERE id = $1"
			" ON CONFLICT (account_id) DO UPDATE SET password_hash = EXCLUDED.password_hash,"
			" scram_sha1_salt = EXCLUDED.scram_sha1_salt, scram_sha1_iterations = EXCLUDED.scram_sha1_iterations,"
			" scram_sha1_stored_key = EXCLUDED.scram_sha1_stored_key, scram_sha1_server_key = EXCLUDED.scram_sha1_server_key,"
			" scram_sha256_salt = EXCLUDED.scram_sha256_salt, scram_sha256_iterations = EXCLUDED.scram_sha256_iterations,"
			" scram_sha256_stored_key = EXCLUDED.scram_sha256_stored_key, scram_sha256_server_key = EXCLUDED.scram_sha256_server_key,"
			" crammd5_ipad = EXCLUDED.crammd5_ipad, crammd5_opad = EXCLUDED.crammd5_opad, updated = now()"
			" RETURNING account_id",
			12, db_i64(account_id), cr.hash,
			bytea_hex(&h[0], cr.sha1.salt, SCRAM_SALT_LEN), db_i64(cr.sha1.iterations),
			bytea_hex(&h[1], cr.sha1.stored_key, cr.sha1.keylen),
			bytea_hex(&h[2], cr.sha1.server_key, cr.sha1.keylen),
			bytea_hex(&h[3], cr.sha256.salt, SCRAM_SALT_LEN), db_i64(cr.sha256.iterations),
			bytea_hex(&h[4], cr.sha256.stored_key, cr.sha256.keylen),
			bytea_hex(&h[5], cr.sha256.server_key, cr.sha256.keylen),
			bytea_hex(&h[6], cr.crammd5_ipad, 16),
			bytea_hex(&h[7], cr.crammd5_opad, 16));
		if (res != NULL) {
			if (PQntuples(res) == 1)
				rc = 0;
			else
				*error_r = "no such account";
			PQclear(res);
		}
		db_put(st->pool, c);
	}
	credentials_wipe(&cr);
	for (i = 0; i < MS_NELEM(h); i++) {
		buf_wipe(&h[i]);
		buf_free(&h[i]);
	}
	return rc;
}

int
store_login(struct store *st, const char *username, const char *password,
	int64_t *account_id_r, const char **error_r)
{
	int64_t id = 0;
	PGresult *res;
	PGconn *c;
	char *hash = NULL;
	bool disabled = false;
	int found;

	found = store_account_find(st, username, &id, error_r);
	if (found < 0)
		return -1;
	if (found) {
		c = db_get(st->pool, error_r);
		if (c == NULL)
			return -1;
		res = db_execv(c, error_r,
			"SELECT c.password_hash, a.login_disabled IS NOT NULL"
			" FROM accounts a JOIN credentials c ON c.account_id = a.id WHERE a.id = $1",
			1, db_i64(id));
		db_put(st->pool, c);
		if (res == NULL)
			return -1;
		if (PQntuples(res) == 1) {
			hash = xstrdup(PQgetvalue(res, 0, 0));
			disabled = db_get_bool(res, 0, 1);
		}
		PQclear(res);
	}
	/* Spend the hashing time even for unknown users. */
	if (hash == NULL) {
		(void)password_verify(password, password_dummy_hash());
		return 0;
	}
	found = password_verify(password, hash) && !disabled;
	free(hash);
	if (found)
		*account_id_r = id;
	return found;
}
