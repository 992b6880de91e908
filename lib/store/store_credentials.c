/* Credentials for the SASL state machine, TLS client public keys for
 * EXTERNAL, the login attempt log and shared server secrets
 * (sql/002_tls_pubkeys.sql). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "auth/sasl.h"
#include "core/log.h"
#include "core/util.h"
#include "net/tls.h"
#include "store/store.h"
#include "store/store_private.h"

#define LOGIN_ATTEMPTS_MAX_FAILED 10000
#define LOGIN_ATTEMPT_FIELD_MAX 512

static const char *
bytea_param(struct buf *b, const void *p, size_t n)
{
	buf_reset(b);
	buf_puts(b, "\\x");
	ms_hex_encode(b, p, n);
	return b->data;
}

/* ---- credentials ---- */

/* Decode one SCRAM key set from columns col..col+3 (salt, iterations,
 * StoredKey, ServerKey). Returns 0 or -1 when lengths are wrong. */
static int
get_scram(const PGresult *res, int col, size_t keylen, struct scram_keys *k)
{
	struct buf salt, stored, server;
	int64_t iter = db_get_i64(res, 0, col + 1);
	int rc = -1;

	buf_init(&salt);
	buf_init(&stored);
	buf_init(&server);
	memset(k, 0, sizeof(*k));
	if (db_get_bytea(res, 0, col, &salt) < 0 || db_get_bytea(res, 0, col + 2, &stored) < 0 ||
	    db_get_bytea(res, 0, col + 3, &server) < 0)
		goto out;
	if (salt.len == 0 || salt.len > SCRAM_SALT_LEN || iter < 1 || iter > 100000000 ||
	    stored.len != keylen || server.len != keylen)
		goto out;
	memcpy(k->salt, salt.data, salt.len);
	k->saltlen = salt.len;
	k->iterations = (uint32_t)iter;
	memcpy(k->stored_key, stored.data, keylen);
	memcpy(k->server_key, server.data, keylen);
	k->keylen = keylen;
	rc = 0;
out:
	buf_wipe(&salt);
	buf_free(&salt);
	buf_wipe(&stored);
	buf_free(&stored);
	buf_wipe(&server);
	buf_free(&server);
	return rc;
}

static int
get_pad(const PGresult *res, int col, unsigned char out[16])
{
	struct buf b;
	int rc = -1;

	buf_init(&b);
	if (db_get_bytea(res, 0, col, &b) == 0 && b.len == 16) {
		memcpy(out, b.data, 16);
		rc = 0;
	}
	buf_wipe(&b);
	buf_free(&b);
	return rc;
}

int
store_credentials_lookup(struct store *st, const char *username, struct sasl_creds *out,
	const char **error_r)
{
	PGresult *res;
	PGconn *c;
	int64_t id = 0;
	int found;

	memset(out, 0, sizeof(*out));
	found = store_account_find(st, username, &id, error_r);
	if (found <= 0)
		return found;
	c = db_get(st->pool, error_r);
	if (c == NULL)
		return -1;
	res = db_execv(c, error_r,
		"SELECT a.name, a.login_disabled IS NOT NULL, coalesce(a.login_disabled, ''),"
		" c.account_id IS NOT NULL, c.password_hash,"
		" c.scram_sha1_salt, c.scram_sha1_iterations, c.scram_sha1_stored_key, c.scram_sha1_server_key,"
		" c.scram_sha256_salt, c.scram_sha256_iterations, c.scram_sha256_stored_key, c.scram_sha256_server_key,"
		" c.crammd5_ipad, c.crammd5_opad"
		" FROM accounts a LEFT JOIN credentials c ON c.account_id = a.id WHERE a.id = $1",
		1, db_i64(id));
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		/* Removed between the two queries. */
		PQclear(res);
		return 0;
	}
	out->account_id = id;
	(void)ms_strlcpy(out->account_name, PQgetvalue(res, 0, 0), sizeof(out->account_name));
	out->login_disabled = db_get_bool(res, 0, 1);
	(void)ms_strlcpy(out->login_disabled_msg, PQgetvalue(res, 0, 2),
		sizeof(out->login_disabled_msg));
	out->have_password = db_get_bool(res, 0, 3);
	if (out->have_password) {
		if (ms_strlcpy(out->cr.hash, PQgetvalue(res, 0, 4), sizeof(out->cr.hash)) >=
			    sizeof(out->cr.hash) ||
		    get_scram(res, 5, 20, &out->cr.sha1) < 0 ||
		    get_scram(res, 9, 32, &out->cr.sha256) < 0 ||
		    get_pad(res, 13, out->cr.crammd5_ipad) < 0 ||
		    get_pad(res, 14, out->cr.crammd5_opad) < 0) {
			PQclear(res);
			credentials_wipe(&out->cr);
			*error_r = ms_err("stored credentials of account %lld are malformed;"
					  " set the password again", (long long)id);
			return -1;
		}
	}
	PQclear(res);
	return 1;
}

int
store_sasl_lookup(void *ctx, const char *username, struct sasl_creds *out)
{
	const char *err = NULL;
	int r = store_credentials_lookup(ctx, username, out, &err);

	if (r < 0)
		log_error(NULL, "ev=credentials_lookup user=%s error=%s", lq(username),
			lq(err ? err : "unknown"));
	return r;
}

/* ---- server secrets ---- */

int
store_server_secret(struct store *st, const char *name, size_t len, struct buf *out,
	const char **error_r)
{
	unsigned char fresh[1024];
	struct buf hex;
	PGresult *res = NULL;
	PGconn *c;
	int attempt, rc = -1;
	bool dberr = false;

	if (len == 0 || len > sizeof(fresh)) {
		*error_r = "bad secret length";
		return -1;
	}
	c = db_get(st->pool, error_r);
	if (c == NULL)
		return -1;
	buf_init(&hex);
	ms_random(fresh, len);
	bytea_param(&hex, fresh, len);
	/* Insert ours unless one exists, then read whichever won. A second
	 * try covers a concurrent first use whose row our snapshot missed. */
	for (attempt = 0; attempt < 2; attempt++) {
		res = db_execv(c, error_r,
			"WITH ins AS (INSERT INTO server_secrets (name, value) VALUES ($1, $2::bytea)"
			"  ON CONFLICT (name) DO NOTHING RETURNING value)"
			" SELECT value FROM ins UNION ALL"
			" SELECT value FROM server_secrets WHERE name = $1 LIMIT 1",
			2, name, hex.data);
		if (res == NULL) {
			dberr = true;
			break;
		}
		if (PQntuples(res) == 1)
			break;
		PQclear(res);
		res = NULL;
	}
	db_put(st->pool, c);
	if (res != NULL) {
		size_t start = out->len;

		if (PQntuples(res) != 1 || db_get_bytea(res, 0, 0, out) < 0 ||
		    out->len - start != len) {
			buf_truncate(out, start);
			*error_r = ms_err("server secret %s is missing or has another length",
				name);
		} else {
			rc = 0;
		}
		PQclear(res);
	} else if (!dberr) {
		*error_r = "server secret not stored";
	}
	explicit_bzero(fresh, sizeof(fresh));
	buf_wipe(&hex);
	buf_free(&hex);
	return rc;
}

/* ---- TLS public keys ---- */

void
store_tlspubkey_free(struct store_tlspubkey *k)
{
	free(k->fingerprint);
	free(k->type);
	free(k->name);
	buf_free(&k->cert_der);
	free(k->account_name);
	free(k->login_address);
	memset(k, 0, sizeof(*k));
}

void
store_tlspubkeys_free(struct store_tlspubkey *ks, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		store_tlspubkey_free(&ks[i]);
	free(ks);
}

/* Does login_address name account_id? */
static int
check_login_address(struct store *st, const char *login_address, int64_t account_id,
	const char **error_r)
{
	int64_t id = 0;
	int r;

	if (login_address == NULL || login_address[0] == '\0') {
		*error_r = "login address missing";
		return -1;
	}
	r = store_account_find(st, login_address, &id, error_r);
	if (r < 0)
		return -1;
	if (r == 0 || id != account_id) {
		*error_r = ms_err("login address %s does not belong to the account", login_address);
		return -1;
	}
	return 0;
}

int
store_tlspubkey_add(struct store *st, const struct store_tlspubkey *k, const char **error_r)
{
	struct buf der;
	PGconn *c;
	int rc;

	if (k->fingerprint == NULL || k->fingerprint[0] == '\0' || k->type == NULL ||
	    k->name == NULL || k->name[0] == '\0' || k->cert_der.len == 0) {
		*error_r = "TLS public key needs fingerprint, type, name and certificate";
		return -1;
	}
	if (check_login_address(st, k->login_address, k->account_id, error_r) < 0)
		return -1;
	c = db_get(st->pool, error_r);
	if (c == NULL)
		return -1;
	buf_init(&der);
	rc = db_cmd(c, error_r,
		"INSERT INTO tls_public_keys (fingerprint, type, name, no_imap_preauth, cert_der,"
		" account_id, login_address) VALUES ($1, $2, $3, $4, $5::bytea, $6, $7)",
		7, k->fingerprint, k->type, k->name, k->no_imap_preauth ? "true" : "false",
		bytea_param(&der, k->cert_der.data, k->cert_der.len), db_i64(k->account_id),
		k->login_address);
	if (rc < 0 && strcmp(db_last_sqlstate(), "23505") == 0)
		*error_r = "this TLS public key is already registered";
	db_put(st->pool, c);
	buf_free(&der);
	return rc;
}

int
store_tlspubkey_update(struct store *st, const struct store_tlspubkey *k, const char **error_r)
{
	PGresult *res;
	PGconn *c;
	int64_t owner;
	int r;

	if (k->name == NULL || k->name[0] == '\0') {
		*error_r = "TLS public key needs a name";
		return -1;
	}
	c = db_get(st->pool, error_r);
	if (c == NULL)
		return -1;
	res = db_execv(c, error_r,
		"SELECT account_id FROM tls_public_keys WHERE fingerprint = $1"
		" AND ($2::bigint = 0 OR account_id = $2)",
		2, k->fingerprint, db_i64(k->account_id > 0 ? k->account_id : 0));
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return 0;
	}
	owner = db_get_i64(res, 0, 0);
	PQclear(res);
	if (check_login_address(st, k->login_address, owner, error_r) < 0)
		return -1;
	c = db_get(st->pool, error_r);
	if (c == NULL)
		return -1;
	res = db_execv(c, error_r,
		"UPDATE tls_public_keys SET name = $3, no_imap_preauth = $4, login_address = $5"
		" WHERE fingerprint = $1 AND account_id = $2 RETURNING 1",
		5, k->fingerprint, db_i64(owner), k->name, k->no_imap_preauth ? "true" : "false",
		k->login_address);
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	r = PQntuples(res) == 1;
	PQclear(res);
	return r;
}

#define TLSPUBKEY_COLUMNS                                                                          \
	"k.fingerprint, k.type, k.name, k.no_imap_preauth, k.cert_der, k.account_id, a.name,"     \
	" k.login_address, extract(epoch FROM k.created)::bigint"                                  \
	" FROM tls_public_keys k JOIN accounts a ON a.id = k.account_id"

static int
tlspubkey_row(const PGresult *res, int row, struct store_tlspubkey *k)
{
	memset(k, 0, sizeof(*k));
	buf_init(&k->cert_der);
	k->fingerprint = xstrdup(PQgetvalue(res, row, 0));
	k->type = xstrdup(PQgetvalue(res, row, 1));
	k->name = xstrdup(PQgetvalue(res, row, 2));
	k->no_imap_preauth = db_get_bool(res, row, 3);
	k->account_id = db_get_i64(res, row, 5);
	k->account_name = xstrdup(PQgetvalue(res, row, 6));
	k->login_address = xstrdup(PQgetvalue(res, row, 7));
	k->created = db_get_i64(res, row, 8);
	return db_get_bytea(res, row, 4, &k->cert_der);
}

int
store_tlspubkey_list(struct store *st, int64_t account_id, struct store_tlspubkey **keys_r,
	size_t *n_r, const char **error_r)
{
	PGresult *res;
	PGconn *c = db_get(st->pool, error_r);
	struct store_tlspubkey *ks;
	int i, n;

	*keys_r = NULL;
	*n_r = 0;
	if (c == NULL)
		return -1;
	res = db_execv(c, error_r,
		"SELECT " TLSPUBKEY_COLUMNS
		" WHERE $1::bigint = 0 OR k.account_id = $1 ORDER BY a.name, k.name, k.fingerprint",
		1, db_i64(account_id > 0 ? account_id : 0));
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	n = PQntuples(res);
	ks = xcalloc(n > 0 ? (size_t)n : 1, sizeof(*ks));
	for (i = 0; i < n; i++)
		if (tlspubkey_row(res, i, &ks[i]) < 0) {
			store_tlspubkeys_free(ks, (size_t)i + 1);
			PQclear(res);
			*error_r = "malformed certificate column";
			return -1;
		}
	PQclear(res);
	*keys_r = ks;
	*n_r = (size_t)n;
	return 0;
}

int
store_tlspubkey_lookup(struct store *st, const char *fingerprint, struct store_tlspubkey *k_r,
	const char **error_r)
{
	PGresult *res;
	PGconn *c = db_get(st->pool, error_r);
	int r;

	/* Nothing is allocated unless found (tlspubkey_row fills k_r). */
	memset(k_r, 0, sizeof(*k_r));
	if (c == NULL)
		return -1;
	res = db_execv(c, error_r, "SELECT " TLSPUBKEY_COLUMNS " WHERE k.fingerprint = $1", 1,
		fingerprint);
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	r = PQntuples(res) == 1;
	if (r && tlspubkey_row(res, 0, k_r) < 0) {
		store_tlspubkey_free(k_r);
		*error_r = "malformed certificate column";
		r = -1;
	}
	PQclear(res);
	return r;
}

int
store_tlspubkey_remove(struct store *st, const char *fingerprint, int64_t account_id,
	const char **error_r)
{
	PGresult *res;
	PGconn *c = db_get(st->pool, error_r);
	int r;

	if (c == NULL)
		return -1;
	res = db_execv(c, error_r,
		"DELETE FROM tls_public_keys WHERE fingerprint = $1"
		" AND ($2::bigint = 0 OR account_id = $2) RETURNING 1",
		2, fingerprint, db_i64(account_id > 0 ? account_id : 0));
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	r = PQntuples(res) > 0;
	PQclear(res);
	return r;
}

/* ---- login attempts ---- */

/* Append s (NULL: "") cut to LOGIN_ATTEMPT_FIELD_MAX bytes at a character
 * boundary, with control characters and invalid UTF-8 bytes as '?', so
 * the text column accepts it and a psql listing stays one line. */
static void
clean_field(struct buf *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
	size_t i = 0, n = strlen((const char *)p);

	while (i < n) {
		size_t len = 1, k;
		uint32_t c = p[i];

		if (c >= 0xC2 && c <= 0xDF)
			len = 2;
		else if (c >= 0xE0 && c <= 0xEF)
			len = 3;
		else if (c >= 0xF0 && c <= 0xF4)
			len = 4;
		else if (c >= 0x80)
			len = 0;	/* invalid lead byte */
		if (len > 1) {
			if (n - i < len)
				len = 0;
			for (k = 1; len > 0 && k < len; k++)
				if ((p[i + k] & 0xC0) != 0x80)
					len = 0;
			/* Overlong, surrogate or above U+10FFFF. */
			if (len == 3 && ((c == 0xE0 && p[i + 1] < 0xA0) ||
					    (c == 0xED && p[i + 1] >= 0xA0)))
				len = 0;
			if (len == 4 && ((c == 0xF0 && p[i + 1] < 0x90) ||
					    (c == 0xF4 && p[i + 1] >= 0x90)))
				len = 0;
		}
		if (out->len + (len ? len : 1) > LOGIN_ATTEMPT_FIELD_MAX)
			break;
		if (len == 0 || (len == 1 && (c < 0x20 || c == 0x7f))) {
			buf_putc(out, '?');
			i++;
		} else {
			buf_append(out, p + i, len);
			i += len;
		}
	}
}

int
store_login_attempt_record(struct store *st, const struct store_login_attempt *a,
	const char **error_r)
{
	const char *in[10] = { a->account_name, a->login_address, a->remote_ip, a->local_ip,
		a->tls, a->tls_pubkey_fingerprint, a->protocol, a->user_agent, a->auth_mech,
		a->result };
	struct buf f[10], keymat, keyhex;
	PGresult *res;
	PGconn *c;
	size_t i;
	int rc = -1;
	bool inserted;

	buf_init(&keymat);
	buf_init(&keyhex);
	for (i = 0; i < MS_NELEM(f); i++) {
		buf_init(&f[i]);
		clean_field(&f[i], in[i]);
	}
	if (f[0].len == 0)
		buf_putc(&f[0], '-');
	/* The key covers every descriptive field, each with its length so
	 * that different splits of the same text cannot collide. */
	for (i = 0; i < MS_NELEM(f); i++) {
		unsigned char len[4] = { 0, 0, (unsigned char)(f[i].len >> 8),
			(unsigned char)f[i].len };

		buf_append(&keymat, len, sizeof(len));
		buf_append(&keymat, f[i].data, f[i].len);
	}
	c = db_get(st->pool, error_r);
	if (c == NULL)
		goto out;
	res = db_execv(c, error_r,
		"INSERT INTO login_attempts (key, account_name, login_address, remote_ip, local_ip,"
		" tls, tls_pubkey_fingerprint, protocol, user_agent, auth_mech, result)"
		" VALUES (sha256($1::bytea), $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
		" ON CONFLICT (key) DO UPDATE SET last = now(), count = login_attempts.count + 1"
		" RETURNING xmax = 0",
		11, bytea_param(&keyhex, keymat.data, keymat.len), f[0].data, f[1].data, f[2].data,
		f[3].data, f[4].data, f[5].data, f[6].data, f[7].data, f[8].data, f[9].data);
	if (res == NULL) {
		db_put(st->pool, c);
		goto out;
	}
	inserted = PQntuples(res) == 1 && db_get_bool(res, 0, 0);
	PQclear(res);
	rc = 0;
	/* A new failed row: keep the newest LOGIN_ATTEMPTS_MAX_FAILED failed
	 * rows of the account, so third parties cannot grow the table
	 * without bound. */
	if (inserted && strcmp(f[9].data, "ok") != 0)
		rc = db_cmd(c, error_r,
			"DELETE FROM login_attempts WHERE key IN (SELECT key FROM login_attempts"
			" WHERE account_name = $1 AND result <> 'ok' ORDER BY last DESC, key"
			" OFFSET $2)",
			2, f[0].data, db_i64(LOGIN_ATTEMPTS_MAX_FAILED));
	db_put(st->pool, c);
out:
	for (i = 0; i < MS_NELEM(f); i++)
		buf_free(&f[i]);
	buf_free(&keymat);
	buf_free(&keyhex);
	return rc;
}

int
store_login_attempt_list(struct store *st, const char *account_name, size_t limit,
	struct store_login_attempt **attempts_r, size_t *n_r, const char **error_r)
{
	struct store_login_attempt *v;
	PGresult *res;
	PGconn *c = db_get(st->pool, error_r);
	int i, j, n;

	*attempts_r = NULL;
	*n_r = 0;
	if (c == NULL)
		return -1;
	res = db_execv(c, error_r,
		"SELECT account_name, login_address, remote_ip, local_ip, tls,"
		" tls_pubkey_fingerprint, protocol, user_agent, auth_mech, result,"
		" extract(epoch FROM first)::bigint, extract(epoch FROM last)::bigint, count"
		" FROM login_attempts WHERE $1::text IS NULL OR account_name = $1"
		" ORDER BY last DESC, key LIMIT $2::bigint",
		2, account_name, limit > 0 ? db_i64((int64_t)limit) : NULL);
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	n = PQntuples(res);
	v = xcalloc(n > 0 ? (size_t)n : 1, sizeof(*v));
	for (i = 0; i < n; i++) {
		const char **s[10] = { &v[i].account_name, &v[i].login_address, &v[i].remote_ip,
			&v[i].local_ip, &v[i].tls, &v[i].tls_pubkey_fingerprint, &v[i].protocol,
			&v[i].user_agent, &v[i].auth_mech, &v[i].result };

		for (j = 0; j < 10; j++)
			*s[j] = xstrdup(PQgetvalue(res, i, j));
		v[i].first = db_get_i64(res, i, 10);
		v[i].last = db_get_i64(res, i, 11);
		v[i].count = db_get_i64(res, i, 12);
	}
	PQclear(res);
	*attempts_r = v;
	*n_r = (size_t)n;
	return 0;
}

void
store_login_attempts_free(struct store_login_attempt *a, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		/* The list owns these strings (see store.h). */
		free((char *)a[i].account_name);
		free((char *)a[i].login_address);
		free((char *)a[i].remote_ip);
		free((char *)a[i].local_ip);
		free((char *)a[i].tls);
		free((char *)a[i].tls_pubkey_fingerprint);
		free((char *)a[i].protocol);
		free((char *)a[i].user_agent);
		free((char *)a[i].auth_mech);
		free((char *)a[i].result);
	}
	free(a);
}

int
store_login_attempt_cleanup(struct store *st, int64_t max_age, int64_t *removed_r,
	const char **error_r)
{
	PGresult *res;
	PGconn *c = db_get(st->pool, error_r);

	if (c == NULL)
		return -1;
	res = db_execv(c, error_r,
		"DELETE FROM login_attempts WHERE last < now() - make_interval(secs => $1::bigint)",
		1, db_i64(max_age));
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	if (removed_r != NULL) {
		uint64_t n = 0;

		(void)ms_parse_u64(PQcmdTuples(res), 0, INT64_MAX, &n);
		*removed_r = (int64_t)n;
	}
	PQclear(res);
	return 0;
}

int
store_login_attempt_remove_account(struct store *st, const char *account_name,
	const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	int rc;

	if (c == NULL)
		return -1;
	rc = db_cmd(c, error_r, "DELETE FROM login_attempts WHERE account_name = $1", 1,
		account_name);
	db_put(st->pool, c);
	return rc;
}

void
store_login_attempt_conn(struct store *st, const struct conn *c, const char *protocol,
	const char *fingerprint, const char *mech, const char *login, const char *account,
	const char *result)
{
	struct store_login_attempt a;
	struct buf tls;
	const char *error;

	buf_init(&tls);
	conn_tls_login_description(c, &tls);
	memset(&a, 0, sizeof(a));
	a.account_name = account != NULL && account[0] != '\0' ? account : "-";
	a.login_address = login != NULL ? login : "";
	a.remote_ip = c->remote_ip;
	a.local_ip = c->local_ip;
	a.tls = tls.data;
	a.tls_pubkey_fingerprint = fingerprint != NULL ? fingerprint : "";
	a.protocol = protocol;
	a.user_agent = "";
	a.auth_mech = mech;
	a.result = result;
	if (store_login_attempt_record(st, &a, &error) < 0)
		log_warn(c->cid, "proto=%s ev=login-attempt result=error err=%s", protocol, lq(error));
	buf_free(&tls);
}
