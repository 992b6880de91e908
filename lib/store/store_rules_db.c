/* Administration of local delivery rules: domain settings, address
 * settings and removal, aliases and their members, rulesets. Each change
 * is one transaction; the checks the reference makes when it loads its
 * domains.conf are made here, when the change is requested. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "mail/addr.h"
#include "store/store.h"
#include "store/store_private.h"
#include "store/store_rules.h"
#include "store/store_rules_private.h"

/* The address row of localpart@domain ("" localpart: the catch-all). The
 * localpart is canonicalized for case only: configured addresses never
 * contain a catch-all separator. Returns 1 with *id_r, 0 not found (with
 * *error_r), -1 error. */
static int
address_find(PGconn *c, const char *localpart, const char *domain, bool lock,
	int64_t *id_r, char **canonical_r, const char **error_r)
{
	struct store_domain_info di;
	struct store_domain_canon cs;
	struct buf canon;
	PGresult *res;
	int found;

	found = store_rules_domain_get(c, domain, false, &di, error_r);
	if (found <= 0) {
		if (found == 0)
			*error_r = ms_err("domain %s does not exist", domain);
		return found;
	}
	cs.case_sensitive = di.canon.case_sensitive;
	cs.separators = NULL;
	buf_init(&canon);
	store_rules_canon_localpart(&canon, localpart, &cs);
	free(di.canon.separators);
	res = db_execv(c, error_r, lock ?
		"SELECT id FROM addresses WHERE domain_id = $1 AND localpart = $2 FOR UPDATE" :
		"SELECT id FROM addresses WHERE domain_id = $1 AND localpart = $2",
		2, db_i64(di.id), canon.data);
	if (res == NULL) {
		buf_free(&canon);
		return -1;
	}
	found = PQntuples(res) == 1;
	if (found) {
		*id_r = db_get_i64(res, 0, 0);
		if (canonical_r != NULL)
			*canonical_r = xasprintf("%s@%s", canon.data, domain);
	} else {
		*error_r = ms_err("no address %s@%s", canon.data, domain);
	}
	PQclear(res);
	buf_free(&canon);
	return found;
}

/* ---- domains ---- */

struct domain_set_ctx {
	const char *domain;
	enum store_domain_setting what;
	const char *value;
};

static int
check_separators(const char *seps, struct buf *out, const char **error_r)
{
	const char *p;

	for (p = seps; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c <= 0x20 || c >= 0x7f || c == '@' || c == '"' || c == '\\' ||
		    (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
			*error_r = ms_err("catch-all separators must be ASCII punctuation "
				"other than @, \" and \\, such as + or -; not %c", *p);
			return -1;
		}
		if (memchr(out->data, c, out->len) == NULL)
			buf_putc(out, (char)c);
	}
	if (out->len > 16) {
		*error_r = "at most 16 catch-all separators";
		return -1;
	}
	return 0;
}

static int
domain_set_tx(PGconn *c, void *arg, const char **error_r)
{
	struct domain_set_ctx *ctx = arg;
	struct store_domain_info di;
	struct buf seps;
	PGresult *res;
	bool b = false;
	int found, rc = -1;

	found = store_rules_domain_get(c, ctx->domain, true, &di, error_r);
	if (found <= 0) {
		if (found == 0)
			*error_r = ms_err("domain %s does not exist", ctx->domain);
		return -1;
	}
	free(di.canon.separators);
	if (ctx->what > STORE_DOMAIN_REPORTS_ONLY)
		return store_domain_set_other(c, di.id, ctx->what, ctx->value, error_r);
	if (ctx->what != STORE_DOMAIN_SEPARATORS && ms_parse_bool(ctx->value, &b) < 0) {
		*error_r = ms_err("expected yes or no, not %s", ctx->value);
		return -1;
	}
	buf_init(&seps);
	switch (ctx->what) {
	case STORE_DOMAIN_SEPARATORS:
		if (check_separators(ctx->value, &seps, error_r) < 0)
			goto out;
		/* An existing address containing a new separator could no
		 * longer be reached: its localpart would be cut. */
		res = db_execv(c, error_r,
			"SELECT localpart FROM addresses WHERE domain_id = $1 AND $2 <> ''"
			"  AND strpos(translate(localpart, $2, repeat(chr(1), length($2))), chr(1)) > 0"
			" UNION ALL SELECT localpart FROM aliases WHERE domain_id = $1 AND $2 <> ''"
			"  AND strpos(translate(localpart, $2, repeat(chr(1), length($2))), chr(1)) > 0"
			" LIMIT 1",
			2, db_i64(di.id), seps.data);
		if (res == NULL)
			goto out;
		if (PQntuples(res) > 0) {
			*error_r = ms_err("address or alias %s@%s contains a separator and could "
				"no longer receive mail; remove it first", PQgetvalue(res, 0, 0),
				ctx->domain);
			PQclear(res);
			goto out;
		}
		PQclear(res);
		rc = db_cmd(c, error_r,
			"UPDATE domains SET localpart_catchall_separators = $2 WHERE id = $1",
			2, db_i64(di.id), seps.data);
		break;
	case STORE_DOMAIN_CASE_SENSITIVE:
		if (!b) {
			/* Case-insensitive lookups lower-case the localpart, so an
			 * address stored with capitals would be unreachable. */
			res = db_execv(c, error_r,
				"SELECT localpart FROM addresses WHERE domain_id = $1 AND localpart ~ '[A-Z]'"
				" UNION ALL SELECT localpart FROM aliases WHERE domain_id = $1 AND localpart ~ '[A-Z]'"
				" LIMIT 1",
				1, db_i64(di.id));
			if (res == NULL)
				goto out;
			if (PQntuples(res) > 0) {
				*error_r = ms_err("address or alias %s@%s has upper-case letters and "
					"could no longer receive mail; remove it first",
					PQgetvalue(res, 0, 0), ctx->domain);
				PQclear(res);
				goto out;
			}
			PQclear(res);
		}
		rc = db_cmd(c, error_r,
			"UPDATE domains SET localpart_case_sensitive = $2 WHERE id = $1",
			2, db_i64(di.id), b ? "true" : "false");
		break;
	case STORE_DOMAIN_DISABLED:
		rc = db_cmd(c, error_r, "UPDATE domains SET disabled = $2 WHERE id = $1",
			2, db_i64(di.id), b ? "true" : "false");
		break;
	case STORE_DOMAIN_REPORTS_ONLY:
		rc = db_cmd(c, error_r, "UPDATE domains SET reports_only = $2 WHERE id = $1",
			2, db_i64(di.id), b ? "true" : "false");
		break;
	default:
		break;
	}
out:
	buf_free(&seps);
	return rc;
}

int
store_domain_set(struct store *st, const char *domain, enum store_domain_setting what,
	const char *value, const char **error_r)
{
	struct domain_set_ctx ctx = { domain, what, value };

	return db_tx(st->pool, domain_set_tx, &ctx, error_r);
}

/* ---- addresses ---- */

struct address_ctx {
	const char *localpart, *domain;
	enum store_address_setting what;
	const char *value;
};

static int
check_text(const char *s, bool ascii, const char **error_r)
{
	const unsigned char *p;

	if (strlen(s) > 255) {
		*error_r = "value longer than 255 bytes";
		return -1;
	}
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f || (ascii && *p > 0x7e)) {
			*error_r = ascii ? "value must be printable ASCII" :
				"value must not contain control characters";
			return -1;
		}
	}
	return 0;
}

static int
address_set_tx(PGconn *c, void *arg, const char **error_r)
{
	struct address_ctx *ctx = arg;
	struct buf v;
	int64_t id;
	int rc = -1;

	if (address_find(c, ctx->localpart, ctx->domain, true, &id, NULL, error_r) <= 0)
		return -1;
	buf_init(&v);
	switch (ctx->what) {
	case STORE_ADDRESS_MAILBOX:
		if (store_mailbox_name_norm(ctx->value, &v, error_r) < 0)
			break;
		rc = db_cmd(c, error_r, "UPDATE addresses SET mailbox = $2 WHERE id = $1",
			2, db_i64(id), v.data);
		break;
	case STORE_ADDRESS_SMTP_ERROR:
		if (ctx->value[0] != '\0' && store_smtp_error_norm(ctx->value, &v, error_r) < 0)
			break;
		rc = db_cmd(c, error_r, "UPDATE addresses SET smtp_error = $2 WHERE id = $1",
			2, db_i64(id), v.len > 0 ? v.data : NULL);
		break;
	case STORE_ADDRESS_AUTH_ERROR:
		/* The reference takes the text after the reply code here. */
		if (check_text(ctx->value, true, error_r) < 0)
			break;
		rc = db_cmd(c, error_r,
			"UPDATE addresses SET message_auth_required_smtp_error = $2 WHERE id = $1",
			2, db_i64(id), ctx->value[0] != '\0' ? ctx->value : NULL);
		break;
	case STORE_ADDRESS_FULL_NAME:
		if (check_text(ctx->value, false, error_r) < 0)
			break;
		rc = db_cmd(c, error_r, "UPDATE addresses SET full_name = $2 WHERE id = $1",
			2, db_i64(id), ctx->value);
		break;
	}
	buf_free(&v);
	return rc;
}

int
store_address_set(struct store *st, const char *localpart, const char *domain,
	enum store_address_setting what, const char *value, const char **error_r)
{
	struct address_ctx ctx = { localpart, domain, what, value };

	return db_tx(st->pool, address_set_tx, &ctx, error_r);
}

static int
address_remove_tx(PGconn *c, void *arg, const char **error_r)
{
	struct address_ctx *ctx = arg;
	PGresult *res;
	char *canonical = NULL;
	int64_t id;
	int rc = -1;

	if (address_find(c, ctx->localpart, ctx->domain, true, &id, &canonical, error_r) <= 0)
		return -1;
	/* As the reference: an alias keeps at least one member. */
	res = db_execv(c, error_r,
		"SELECT a.localpart || '@' || d.name FROM alias_members m"
		" JOIN aliases a ON a.id = m.alias_id JOIN domains d ON d.id = a.domain_id"
		" WHERE m.address = $1"
		"  AND (SELECT count(*) FROM alias_members m2 WHERE m2.alias_id = m.alias_id) = 1"
		" LIMIT 1",
		1, canonical);
	if (res == NULL)
		goto out;
	if (PQntuples(res) > 0) {
		*error_r = ms_err("%s is the last member of alias %s; add members to the alias "
			"or remove it first", canonical, PQgetvalue(res, 0, 0));
		PQclear(res);
		goto out;
	}
	PQclear(res);
	if (db_cmd(c, error_r, "DELETE FROM alias_members WHERE address = $1", 1, canonical) < 0 ||
	    db_cmd(c, error_r, "DELETE FROM addresses WHERE id = $1", 1, db_i64(id)) < 0)
		goto out;
	rc = 0;
out:
	free(canonical);
	return rc;
}

int
store_address_remove(struct store *st, const char *localpart, const char *domain,
	const char **error_r)
{
	struct address_ctx ctx = { localpart, domain, STORE_ADDRESS_MAILBOX, NULL };

	return db_tx(st->pool, address_remove_tx, &ctx, error_r);
}

/* ---- aliases ---- */

struct alias_ctx {
	const char *localpart, *domain;
	bool post_public, list_members, allow_msg_from;
	enum store_alias_setting what;
	bool value;
	const char *const *members;
	size_t nmembers;
};

/* The alias row; 1 with *id_r, 0 (with *error_r), -1. */
static int
alias_find(PGconn *c, const char *localpart, const char *domain, int64_t *id_r,
	const char **error_r)
{
	struct store_domain_info di;
	struct buf canon;
	PGresult *res;
	int found;

	found = store_rules_domain_get(c, domain, false, &di, error_r);
	if (found <= 0) {
		if (found == 0)
			*error_r = ms_err("domain %s does not exist", domain);
		return found;
	}
	buf_init(&canon);
	store_rules_canon_localpart(&canon, localpart, &di.canon);
	free(di.canon.separators);
	res = db_execv(c, error_r,
		"SELECT id FROM aliases WHERE domain_id = $1 AND localpart = $2 FOR UPDATE",
		2, db_i64(di.id), canon.data);
	if (res == NULL) {
		buf_free(&canon);
		return -1;
	}
	found = PQntuples(res) == 1;
	if (found)
		*id_r = db_get_i64(res, 0, 0);
	else
		*error_r = ms_err("no alias %s@%s", canon.data, domain);
	PQclear(res);
	buf_free(&canon);
	return found;
}

/* Normalize a member address into out ("lp@domain", domain lower-case
 * Unicode). Members in our domains must be existing addresses (the
 * reference's rule), canonical for case; others are external. With
 * must_exist false (removal) a local member need not exist any more. */
static int
member_norm(PGconn *c, const char *member, bool must_exist, struct buf *out,
	const char **error_r)
{
	struct store_domain_info di;
	struct mail_addr a;
	const char *perr;
	int found, rc = -1;

	if (mail_addr_parse_mailbox(member, strlen(member), true, &a, &perr) < 0) {
		*error_r = ms_err("bad member address %s: %s", member, perr);
		return -1;
	}
	found = store_rules_domain_get(c, a.domain, false, &di, error_r);
	if (found < 0)
		goto out;
	if (found == 0) {
		buf_printf(out, "%s@%s", a.localpart, a.domain);
		rc = 0;
		goto out;
	}
	{
		struct store_domain_canon cs = { di.canon.case_sensitive, NULL };
		struct buf canon;
		PGresult *res;

		free(di.canon.separators);
		buf_init(&canon);
		store_rules_canon_localpart(&canon, a.localpart, &cs);
		buf_printf(out, "%s@%s", canon.data, a.domain);
		if (!must_exist) {
			buf_free(&canon);
			rc = 0;
			goto out;
		}
		res = db_execv(c, error_r,
			"SELECT 1 FROM addresses WHERE domain_id = $1 AND localpart = $2",
			2, db_i64(di.id), canon.data);
		buf_free(&canon);
		if (res == NULL)
			goto out;
		if (PQntuples(res) == 0) {
			*error_r = ms_err("no address %s: members in local domains must be "
				"existing addresses (aliases cannot be nested)", out->data);
			PQclear(res);
			goto out;
		}
		PQclear(res);
	}
	rc = 0;
out:
	mail_addr_free(&a);
	return rc;
}

static int
members_add(PGconn *c, int64_t alias_id, const char *const *members, size_t n,
	const char **error_r)
{
	struct buf m;
	size_t i;
	int rc = 0;

	buf_init(&m);
	for (i = 0; i < n && rc == 0; i++) {
		buf_reset(&m);
		rc = member_norm(c, members[i], true, &m, error_r);
		if (rc == 0) {
			rc = db_cmd(c, error_r,
				"INSERT INTO alias_members (alias_id, address) VALUES ($1, $2)",
				2, db_i64(alias_id), m.data);
			if (rc < 0 && strcmp(db_last_sqlstate(), "23505") == 0)
				*error_r = ms_err("%s is already a member", m.data);
		}
	}
	buf_free(&m);
	return rc;
}

static int
alias_add_tx(PGconn *c, void *arg, const char **error_r)
{
	struct alias_ctx *ctx = arg;
	struct store_domain_info di;
	struct buf canon;
	PGresult *res;
	int64_t id;
	int found, rc = -1;

	if (ctx->nmembers == 0) {
		*error_r = "an alias needs at least one member";
		return -1;
	}
	found = store_rules_domain_get(c, ctx->domain, false, &di, error_r);
	if (found <= 0) {
		if (found == 0)
			*error_r = ms_err("domain %s does not exist", ctx->domain);
		return -1;
	}
	buf_init(&canon);
	if (ctx->localpart[0] == '\0') {
		*error_r = "an alias needs a localpart";
		goto out;
	}
	if (strpbrk(ctx->localpart, di.canon.separators) != NULL) {
		*error_r = ms_err("alias localpart %s contains a catch-all separator of %s",
			ctx->localpart, ctx->domain);
		goto out;
	}
	store_rules_canon_localpart(&canon, ctx->localpart, &di.canon);
	res = db_execv(c, error_r,
		"SELECT 1 FROM addresses WHERE domain_id = $1 AND localpart = $2"
		" UNION ALL SELECT 2 FROM aliases WHERE domain_id = $1 AND localpart = $2",
		2, db_i64(di.id), canon.data);
	if (res == NULL)
		goto out;
	if (PQntuples(res) > 0) {
		*error_r = ms_err(strcmp(PQgetvalue(res, 0, 0), "1") == 0 ?
			"%s@%s is in use as an address" : "alias %s@%s already exists",
			canon.data, ctx->domain);
		PQclear(res);
		goto out;
	}
	PQclear(res);
	res = db_execv(c, error_r,
		"INSERT INTO aliases (domain_id, localpart, post_public, list_members, allow_msg_from)"
		" VALUES ($1, $2, $3, $4, $5) RETURNING id",
		5, db_i64(di.id), canon.data, ctx->post_public ? "true" : "false",
		ctx->list_members ? "true" : "false", ctx->allow_msg_from ? "true" : "false");
	if (res == NULL) {
		if (strcmp(db_last_sqlstate(), "23505") == 0)
			*error_r = ms_err("%s@%s is in use as an address or alias", canon.data,
				ctx->domain);
		goto out;
	}
	id = db_get_i64(res, 0, 0);
	PQclear(res);
	rc = members_add(c, id, ctx->members, ctx->nmembers, error_r);
out:
	free(di.canon.separators);
	buf_free(&canon);
	return rc;
}

int
store_alias_add(struct store *st, const char *localpart, const char *domain,
	bool post_public, bool list_members, bool allow_msg_from,
	const char *const *members, size_t nmembers, const char **error_r)
{
	struct alias_ctx ctx;

	memset(&ctx, 0, sizeof(ctx));
	ctx.localpart = localpart;
	ctx.domain = domain;
	ctx.post_public = post_public;
	ctx.list_members = list_members;
	ctx.allow_msg_from = allow_msg_from;
	ctx.members = members;
	ctx.nmembers = nmembers;
	return db_tx(st->pool, alias_add_tx, &ctx, error_r);
}

static int
alias_remove_tx(PGconn *c, void *arg, const char **error_r)
{
	struct alias_ctx *ctx = arg;
	int64_t id;

	if (alias_find(c, ctx->localpart, ctx->domain, &id, error_r) <= 0)
		return -1;
	return db_cmd(c, error_r, "DELETE FROM aliases WHERE id = $1", 1, db_i64(id));
}

int
store_alias_remove(struct store *st, const char *localpart, const char *domain,
	const char **error_r)
{
	struct alias_ctx ctx;

	memset(&ctx, 0, sizeof(ctx));
	ctx.localpart = localpart;
	ctx.domain = domain;
	return db_tx(st->pool, alias_remove_tx, &ctx, error_r);
}

static int
alias_set_tx(PGconn *c, void *arg, const char **error_r)
{
	struct alias_ctx *ctx = arg;
	const char *v = ctx->value ? "true" : "false";
	int64_t id;

	if (alias_find(c, ctx->localpart, ctx->domain, &id, error_r) <= 0)
		return -1;
	switch (ctx->what) {
	case STORE_ALIAS_POST_PUBLIC:
		return db_cmd(c, error_r, "UPDATE aliases SET post_public = $2 WHERE id = $1",
			2, db_i64(id), v);
	case STORE_ALIAS_LIST_MEMBERS:
		return db_cmd(c, error_r, "UPDATE aliases SET list_members = $2 WHERE id = $1",
			2, db_i64(id), v);
	case STORE_ALIAS_ALLOW_MSG_FROM:
		return db_cmd(c, error_r, "UPDATE aliases SET allow_msg_from = $2 WHERE id = $1",
			2, db_i64(id), v);
	}
	*error_r = "unknown alias setting";
	return -1;
}

int
store_alias_set(struct store *st, const char *localpart, const char *domain,
	enum store_alias_setting what, bool value, const char **error_r)
{
	struct alias_ctx ctx;

	memset(&ctx, 0, sizeof(ctx));
	ctx.localpart = localpart;
	ctx.domain = domain;
	ctx.what = what;
	ctx.value = value;
	return db_tx(st->pool, alias_set_tx, &ctx, error_r);
}

static int
alias_members_add_tx(PGconn *c, void *arg, const char **error_r)
{
	struct alias_ctx *ctx = arg;
	int64_t id;

	if (ctx->nmembers == 0) {
		*error_r = "no members given";
		return -1;
	}
	if (alias_find(c, ctx->localpart, ctx->domain, &id, error_r) <= 0)
		return -1;
	return members_add(c, id, ctx->members, ctx->nmembers, error_r);
}

int
store_alias_members_add(struct store *st, const char *localpart, const char *domain,
	const char *const *members, size_t n, const char **error_r)
{
	struct alias_ctx ctx;

	memset(&ctx, 0, sizeof(ctx));
	ctx.localpart = localpart;
	ctx.domain = domain;
	ctx.members = members;
	ctx.nmembers = n;
	return db_tx(st->pool, alias_members_add_tx, &ctx, error_r);
}

static int
alias_members_remove_tx(PGconn *c, void *arg, const char **error_r)
{
	struct alias_ctx *ctx = arg;
	PGresult *res;
	struct buf m;
	int64_t id;
	size_t i;
	int rc = -1;

	if (ctx->nmembers == 0) {
		*error_r = "no members given";
		return -1;
	}
	if (alias_find(c, ctx->localpart, ctx->domain, &id, error_r) <= 0)
		return -1;
	buf_init(&m);
	for (i = 0; i < ctx->nmembers; i++) {
		buf_reset(&m);
		if (member_norm(c, ctx->members[i], false, &m, error_r) < 0)
			goto out;
		res = db_execv(c, error_r,
			"DELETE FROM alias_members WHERE alias_id = $1 AND address = $2 RETURNING 1",
			2, db_i64(id), m.data);
		if (res == NULL)
			goto out;
		if (PQntuples(res) == 0) {
			*error_r = ms_err("%s is not a member", m.data);
			PQclear(res);
			goto out;
		}
		PQclear(res);
	}
	res = db_execv(c, error_r, "SELECT count(*) FROM alias_members WHERE alias_id = $1",
		1, db_i64(id));
	if (res == NULL)
		goto out;
	if (db_get_i64(res, 0, 0) == 0)
		*error_r = "an alias keeps at least one member; remove the alias instead";
	else
		rc = 0;
	PQclear(res);
out:
	buf_free(&m);
	return rc;
}

int
store_alias_members_remove(struct store *st, const char *localpart, const char *domain,
	const char *const *members, size_t n, const char **error_r)
{
	struct alias_ctx ctx;

	memset(&ctx, 0, sizeof(ctx));
	ctx.localpart = localpart;
	ctx.domain = domain;
	ctx.members = members;
	ctx.nmembers = n;
	return db_tx(st->pool, alias_members_remove_tx, &ctx, error_r);
}

int
store_alias_list(struct store *st, const char *domain, struct store_alias **aliases_r,
	size_t *n_r, const char **error_r)
{
	struct store_alias *v = NULL;
	PGresult *res;
	PGconn *c;
	int row;

	*aliases_r = NULL;
	*n_r = 0;
	c = db_get(st->pool, error_r);
	if (c == NULL)
		return -1;
	/* Member addresses cannot contain a newline (RFC 5321 qtext and
	 * quoted-pair exclude control characters), so it separates them. */
	res = db_execv(c, error_r,
		"SELECT a.id, a.localpart, d.name, a.post_public, a.list_members, a.allow_msg_from,"
		" array_to_string(ARRAY(SELECT m.address FROM alias_members m"
		"  WHERE m.alias_id = a.id ORDER BY m.created, m.address), chr(10))"
		" FROM aliases a JOIN domains d ON d.id = a.domain_id"
		" WHERE $1::text IS NULL OR d.name = $1 ORDER BY d.name, a.localpart",
		1, domain);
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	v = xcalloc((size_t)PQntuples(res) + 1, sizeof(*v));
	for (row = 0; row < PQntuples(res); row++) {
		struct store_alias *a = &v[row];
		const char *p = PQgetvalue(res, row, 6);

		a->id = db_get_i64(res, row, 0);
		a->localpart = xstrdup(PQgetvalue(res, row, 1));
		a->domain = xstrdup(PQgetvalue(res, row, 2));
		a->address = xasprintf("%s@%s", a->localpart, a->domain);
		a->post_public = db_get_bool(res, row, 3);
		a->list_members = db_get_bool(res, row, 4);
		a->allow_msg_from = db_get_bool(res, row, 5);
		while (*p != '\0') {
			size_t len = strcspn(p, "\n");
			struct store_alias_member *m;

			a->members = xrealloc(a->members, (a->nmembers + 1) * sizeof(*a->members));
			m = &a->members[a->nmembers++];
			memset(m, 0, sizeof(*m));
			m->address = xstrndup(p, len);
			p += len;
			if (*p == '\n')
				p++;
		}
	}
	*n_r = (size_t)PQntuples(res);
	*aliases_r = v;
	PQclear(res);
	return 0;
}

/* ---- rulesets ---- */

struct ruleset_ctx {
	const char *localpart, *domain;
	struct store_ruleset *rs;
	const char *fields, *values;	/* PostgreSQL text arrays */
	int position;
	struct store_ruleset *list;
	size_t nlist;
};

static int
ruleset_add_tx(PGconn *c, void *arg, const char **error_r)
{
	struct ruleset_ctx *ctx = arg;
	const struct store_ruleset *rs = ctx->rs;
	PGresult *res;
	int64_t id, count, maxprio;

	if (address_find(c, ctx->localpart, ctx->domain, true, &id, NULL, error_r) <= 0)
		return -1;
	res = db_execv(c, error_r,
		"SELECT count(*), coalesce(max(priority), 0) FROM rulesets WHERE address_id = $1",
		1, db_i64(id));
	if (res == NULL)
		return -1;
	count = db_get_i64(res, 0, 0);
	maxprio = db_get_i64(res, 0, 1);
	PQclear(res);
	if (count >= STORE_RULES_MAX) {
		*error_r = ms_err("an address has at most %d rulesets", STORE_RULES_MAX);
		return -1;
	}
	if (db_cmd(c, error_r,
		    "INSERT INTO rulesets (address_id, priority, smtp_mailfrom_regexp,"
		    " msg_from_regexp, verified_domain, headers_regexp, is_forward,"
		    " list_allow_domain, accept_rejects_to_mailbox, mailbox, comment)"
		    " VALUES ($1, $2, $3, $4, $5, jsonb_object($6::text[], $7::text[]), $8, $9, $10,"
		    " $11, $12)",
		    12, db_i64(id), db_i64(maxprio + 1), rs->smtp_mailfrom_regexp,
		    rs->msg_from_regexp, rs->verified_domain, ctx->fields, ctx->values,
		    rs->is_forward ? "true" : "false", rs->list_allow_domain,
		    rs->accept_rejects_to_mailbox, rs->mailbox, rs->comment) < 0)
		return -1;
	ctx->position = (int)count + 1;
	return 0;
}

/* Replace *s by its normalized mailbox name; "" stays "" when optional. */
static int
norm_mailbox_field(char **s, bool optional, const char **error_r)
{
	struct buf b;

	if (*s == NULL || (*s)[0] == '\0') {
		if (optional)
			return 0;
		*error_r = "ruleset needs a mailbox";
		return -1;
	}
	buf_init(&b);
	if (store_mailbox_name_norm(*s, &b, error_r) < 0) {
		buf_free(&b);
		return -1;
	}
	free(*s);
	*s = buf_steal(&b);
	buf_free(&b);
	return 0;
}

/* Replace *s by the lower-case Unicode form of the domain name in it. */
static int
norm_domain_field(char **s, const char *what, const char **error_r)
{
	char *uni, *ascii;
	const char *perr;

	if (*s == NULL || (*s)[0] == '\0')
		return 0;
	if (mail_domain_parse(*s, strlen(*s), true, &uni, &ascii, &perr) < 0) {
		*error_r = ms_err("bad %s %s: %s", what, *s, perr);
		return -1;
	}
	free(ascii);
	free(*s);
	*s = uni;
	return 0;
}

int
store_ruleset_add(struct store *st, const char *localpart, const char *domain,
	struct store_ruleset *rs, int *position_r, const char **error_r)
{
	struct ruleset_ctx ctx;
	struct buf fields, values;
	const char **fv, **vv;
	size_t i, j;
	int rc = -1;

	if (norm_mailbox_field(&rs->mailbox, false, error_r) < 0 ||
	    norm_mailbox_field(&rs->accept_rejects_to_mailbox, true, error_r) < 0 ||
	    norm_domain_field(&rs->verified_domain, "verified domain", error_r) < 0 ||
	    norm_domain_field(&rs->list_allow_domain, "list-allow domain", error_r) < 0)
		return -1;
	for (i = 0; i < rs->nheaders; i++)
		for (j = 0; j < i; j++)
			if (strcmp(rs->headers[i].field, rs->headers[j].field) == 0) {
				*error_r = ms_err("header field %s given twice", rs->headers[i].field);
				return -1;
			}
	if (store_ruleset_compile(rs, error_r) < 0)
		return -1;
	buf_init(&fields);
	buf_init(&values);
	fv = xcalloc(rs->nheaders + 1, sizeof(*fv));
	vv = xcalloc(rs->nheaders + 1, sizeof(*vv));
	for (i = 0; i < rs->nheaders; i++) {
		fv[i] = rs->headers[i].field;
		vv[i] = rs->headers[i].value;
	}
	db_text_array(&fields, fv, rs->nheaders);
	db_text_array(&values, vv, rs->nheaders);
	memset(&ctx, 0, sizeof(ctx));
	ctx.localpart = localpart;
	ctx.domain = domain;
	ctx.rs = rs;
	ctx.fields = fields.data;
	ctx.values = values.data;
	rc = db_tx(st->pool, ruleset_add_tx, &ctx, error_r);
	if (rc == 0 && position_r != NULL)
		*position_r = ctx.position;
	free(fv);
	free(vv);
	buf_free(&fields);
	buf_free(&values);
	return rc;
}

static int
ruleset_list_tx(PGconn *c, void *arg, const char **error_r)
{
	struct ruleset_ctx *ctx = arg;
	PGresult *res;
	int64_t id;
	int row;

	store_rulesets_free(ctx->list, ctx->nlist);
	ctx->list = NULL;
	ctx->nlist = 0;
	if (address_find(c, ctx->localpart, ctx->domain, false, &id, NULL, error_r) <= 0)
		return -1;
	res = db_execv(c, error_r,
		"SELECT " STORE_RULESET_COLUMNS STORE_RULESET_FROM
		" WHERE r.address_id = $1 ORDER BY r.priority, r.id, h.key",
		1, db_i64(id));
	if (res == NULL)
		return -1;
	for (row = 0; row < PQntuples(res); row++)
		store_rules_ruleset_row(&ctx->list, &ctx->nlist, res, row, 0);
	PQclear(res);
	return 0;
}

int
store_ruleset_list(struct store *st, const char *localpart, const char *domain,
	struct store_ruleset **rs_r, size_t *n_r, const char **error_r)
{
	struct ruleset_ctx ctx;

	memset(&ctx, 0, sizeof(ctx));
	ctx.localpart = localpart;
	ctx.domain = domain;
	*rs_r = NULL;
	*n_r = 0;
	if (db_tx(st->pool, ruleset_list_tx, &ctx, error_r) < 0) {
		store_rulesets_free(ctx.list, ctx.nlist);
		return -1;
	}
	*rs_r = ctx.list;
	*n_r = ctx.nlist;
	return 0;
}

static int
ruleset_remove_tx(PGconn *c, void *arg, const char **error_r)
{
	struct ruleset_ctx *ctx = arg;
	PGresult *res;
	int64_t id;

	if (address_find(c, ctx->localpart, ctx->domain, true, &id, NULL, error_r) <= 0)
		return -1;
	res = db_execv(c, error_r,
		"DELETE FROM rulesets WHERE id = (SELECT id FROM rulesets WHERE address_id = $1"
		" ORDER BY priority, id OFFSET $2 LIMIT 1) RETURNING id",
		2, db_i64(id), db_i64(ctx->position - 1));
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		*error_r = ms_err("address has no ruleset %d (see: mailstead ruleset list)",
			ctx->position);
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return 0;
}

int
store_ruleset_remove(struct store *st, const char *localpart, const char *domain,
	int position, const char **error_r)
{
	struct ruleset_ctx ctx;

	if (position < 1) {
		*error_r = "ruleset numbers start at 1";
		return -1;
	}
	memset(&ctx, 0, sizeof(ctx));
	ctx.localpart = localpart;
	ctx.domain = domain;
	ctx.position = position;
	return db_tx(st->pool, ruleset_remove_tx, &ctx, error_r);
}
