/* Recipient lookup for incoming mail (the reference's LookupAddress): domain
 * state, canonical localpart, exact address or alias, @domain catch-all,
 * postmaster fallback; address destinations with their compiled rulesets,
 * aliases with their members resolved. Nothing is cached: each RCPT TO
 * reads the current rows, so CLI changes apply at once. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "store/store.h"
#include "store/store_private.h"
#include "store/store_rules.h"
#include "store/store_rules_private.h"

int
store_rules_domain_get(PGconn *c, const char *domain, bool lock,
	struct store_domain_info *di, const char **error_r)
{
	PGresult *res = db_execpv(c, error_r, lock ?
		"SELECT id, disabled, reports_only, localpart_case_sensitive,"
		" localpart_catchall_separators FROM domains WHERE name = $1 FOR UPDATE" :
		"SELECT id, disabled, reports_only, localpart_case_sensitive,"
		" localpart_catchall_separators FROM domains WHERE name = $1",
		1, domain);

	memset(di, 0, sizeof(*di));
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return 0;
	}
	di->id = db_get_i64(res, 0, 0);
	di->disabled = db_get_bool(res, 0, 1);
	di->reports_only = db_get_bool(res, 0, 2);
	di->canon.case_sensitive = db_get_bool(res, 0, 3);
	di->canon.separators = xstrdup(PQgetvalue(res, 0, 4));
	PQclear(res);
	return 1;
}

static char *
opt_text(const PGresult *res, int row, int col)
{
	const char *v;

	if (PQgetisnull(res, row, col))
		return NULL;
	v = PQgetvalue(res, row, col);
	return v[0] != '\0' ? xstrdup(v) : NULL;
}

/* Columns: account_id, id, mailbox, smtp_error,
 * message_auth_required_smtp_error, localpart (from col). */
#define DEST_COLUMNS "a.account_id, a.id, a.mailbox, a.smtp_error," \
	" a.message_auth_required_smtp_error, a.localpart"

static void
dest_fill(struct store_destination *d, const PGresult *res, int row, int col,
	const char *domain)
{
	const char *lp = PQgetvalue(res, row, col + 5);

	d->account_id = db_get_i64(res, row, col);
	d->address_id = db_get_i64(res, row, col + 1);
	d->mailbox = xstrdup(PQgetisnull(res, row, col + 2) || PQgetvalue(res, row, col + 2)[0] == '\0' ?
		"Inbox" : PQgetvalue(res, row, col + 2));
	d->smtp_error = opt_text(res, row, col + 3);
	d->message_auth_required_smtp_error = opt_text(res, row, col + 4);
	d->address = xasprintf("%s@%s", lp, domain);
}

void
store_rules_ruleset_row(struct store_ruleset **rs, size_t *n, const PGresult *res,
	int row, int col)
{
	int64_t id = db_get_i64(res, row, col);
	struct store_ruleset *r;

	if (*n == 0 || (*rs)[*n - 1].id != id) {
		*rs = xrealloc(*rs, (*n + 1) * sizeof(**rs));
		r = &(*rs)[(*n)++];
		memset(r, 0, sizeof(*r));
		r->id = id;
		r->smtp_mailfrom_regexp = xstrdup(PQgetvalue(res, row, col + 1));
		r->msg_from_regexp = xstrdup(PQgetvalue(res, row, col + 2));
		r->verified_domain = xstrdup(PQgetvalue(res, row, col + 3));
		r->is_forward = db_get_bool(res, row, col + 4);
		r->list_allow_domain = xstrdup(PQgetvalue(res, row, col + 5));
		r->accept_rejects_to_mailbox = xstrdup(PQgetvalue(res, row, col + 6));
		r->mailbox = xstrdup(PQgetvalue(res, row, col + 7));
		r->comment = xstrdup(PQgetvalue(res, row, col + 8));
	}
	r = &(*rs)[*n - 1];
	if (!PQgetisnull(res, row, col + 9)) {
		r->headers = xrealloc(r->headers, (r->nheaders + 1) * sizeof(*r->headers));
		memset(&r->headers[r->nheaders], 0, sizeof(r->headers[0]));
		r->headers[r->nheaders].field = xstrdup(PQgetvalue(res, row, col + 9));
		r->headers[r->nheaders].value = xstrdup(PQgetvalue(res, row, col + 10));
		r->nheaders++;
	}
}

/* Load and compile the rulesets of the destinations ds[0..n) in one
 * query. A ruleset that does not compile (it was validated when added,
 * so only after a manual edit) is logged and never matches. */
static int
rulesets_load(PGconn *c, struct store_destination **ds, size_t n, const char **error_r)
{
	PGresult *res;
	struct buf ids;
	size_t i, k;
	int row;

	if (n == 0)
		return 0;
	buf_init(&ids);
	buf_putc(&ids, '{');
	for (i = 0; i < n; i++)
		buf_printf(&ids, "%s%lld", i ? "," : "", (long long)ds[i]->address_id);
	buf_putc(&ids, '}');
	if (n == 1)
		/* The usual case, as its own statement: the array form is
		 * planned anew on every call. */
		res = db_execpv(c, error_r,
			"SELECT r.address_id, " STORE_RULESET_COLUMNS STORE_RULESET_FROM
			" WHERE r.address_id = $1::bigint"
			" ORDER BY r.address_id, r.priority, r.id, h.key",
			1, db_i64(ds[0]->address_id));
	else
		res = db_execpv(c, error_r,
			"SELECT r.address_id, " STORE_RULESET_COLUMNS STORE_RULESET_FROM
			" WHERE r.address_id = ANY($1::bigint[])"
			" ORDER BY r.address_id, r.priority, r.id, h.key",
			1, ids.data);
	buf_free(&ids);
	if (res == NULL)
		return -1;
	for (row = 0; row < PQntuples(res); row++) {
		int64_t aid = db_get_i64(res, row, 0);

		for (k = 0; k < n; k++)
			if (ds[k]->address_id == aid)
				store_rules_ruleset_row(&ds[k]->rulesets, &ds[k]->nrulesets, res, row, 1);
	}
	PQclear(res);
	for (k = 0; k < n; k++) {
		for (i = 0; i < ds[k]->nrulesets; i++) {
			const char *err;

			if (store_ruleset_compile(&ds[k]->rulesets[i], &err) < 0)
				log_warn(NULL, "ev=ruleset-broken address=%s ruleset_id=%lld err=%s",
					lq(ds[k]->address), (long long)ds[k]->rulesets[i].id, lq(err));
		}
	}
	return 0;
}

/* Split "lp@domain" at the last '@'. */
static void
split_at(const char *addr, char **lp_r, char **domain_r)
{
	const char *at = strrchr(addr, '@');

	if (at == NULL) {
		*lp_r = xstrdup(addr);
		*domain_r = xstrdup("");
		return;
	}
	*lp_r = xstrndup(addr, (size_t)(at - addr));
	*domain_r = xstrdup(at + 1);
}

/* Members of alias a with their local destinations: one query for the
 * members (joined to their domain and exact address) and one for all
 * their rulesets. */
static int
members_load(PGconn *c, struct store_alias *a, const char **error_r)
{
	struct store_destination **ds;
	PGresult *res;
	size_t nds = 0;
	int row, rc;

	res = db_execpv(c, error_r,
		"WITH m AS (SELECT address, created,"
		"  left(address, length(address) - strpos(reverse(address), '@')) AS lp,"
		"  right(address, strpos(reverse(address), '@') - 1) AS dom"
		"  FROM alias_members WHERE alias_id = $1)"
		" SELECT m.address, d.id IS NOT NULL, coalesce(d.localpart_case_sensitive, false),"
		"  coalesce(d.localpart_catchall_separators, ''), coalesce(d.disabled, false),"
		"  a.account_id IS NOT NULL, " DEST_COLUMNS
		" FROM m LEFT JOIN domains d ON d.name = m.dom"
		" LEFT JOIN addresses a ON a.domain_id = d.id AND a.localpart = m.lp AND m.lp <> ''"
		" ORDER BY m.created, m.address",
		1, db_i64(a->id));
	if (res == NULL)
		return -1;
	a->nmembers = (size_t)PQntuples(res);
	a->members = xcalloc(a->nmembers ? a->nmembers : 1, sizeof(*a->members));
	ds = xcalloc(a->nmembers ? a->nmembers : 1, sizeof(*ds));
	for (row = 0; row < PQntuples(res); row++) {
		struct store_alias_member *m = &a->members[row];

		m->address = xstrdup(PQgetvalue(res, row, 0));
		split_at(m->address, &m->localpart, &m->domain);
		m->local = db_get_bool(res, row, 1);
		m->canon.case_sensitive = db_get_bool(res, row, 2);
		m->canon.separators = xstrdup(PQgetvalue(res, row, 3));
		/* A member with an SMTP error or in a disabled domain gets
		 * nothing, like an address that does not exist any more. */
		if (m->local && db_get_bool(res, row, 5) && !db_get_bool(res, row, 4) &&
		    (PQgetisnull(res, row, 9) || PQgetvalue(res, row, 9)[0] == '\0')) {
			dest_fill(&m->dest, res, row, 6, m->domain);
			m->resolved = true;
			ds[nds++] = &m->dest;
		}
	}
	PQclear(res);
	rc = rulesets_load(c, ds, nds, error_r);
	free(ds);
	return rc;
}

/* The lookup on one connection. for_delivery: the recipient of a
 * delivery, so postmaster is accepted (RFC 5321 4.5.1) and the rulesets
 * are loaded; false for a From check, which needs only whose address it
 * is. */
static int
lookup(PGconn *c, const char *localpart, const char *domain, bool for_delivery,
	struct store_recipient *r, const char **error_r)
{
	struct store_domain_info di;
	struct buf canon;
	PGresult *res;
	int rc = -1, found;

	memset(r, 0, sizeof(*r));
	found = store_rules_domain_get(c, domain, false, &di, error_r);
	if (found <= 0) {
		r->status = STORE_DEST_NOT_LOCAL;
		return found;
	}
	r->canon = di.canon;
	buf_init(&canon);
	store_rules_canon_localpart(&canon, localpart, &r->canon);
	r->canonical = xasprintf("%s@%s", canon.data, domain);
	if (di.disabled) {
		r->status = STORE_DEST_DISABLED;
		rc = 0;
		goto out;
	}

	/* The exact address... */
	res = db_execpv(c, error_r,
		"SELECT " DEST_COLUMNS " FROM addresses a WHERE a.domain_id = $1 AND a.localpart = $2",
		2, db_i64(di.id), canon.data);
	if (res == NULL)
		goto out;
	if (PQntuples(res) == 0 && !di.reports_only) {
		/* ... or an alias of that name ... */
		PQclear(res);
		res = db_execpv(c, error_r,
			"SELECT id, localpart, post_public, list_members, allow_msg_from"
			" FROM aliases WHERE domain_id = $1 AND localpart = $2",
			2, db_i64(di.id), canon.data);
		if (res == NULL)
			goto out;
		if (PQntuples(res) == 1) {
			struct store_alias *a = &r->alias;

			r->is_alias = true;
			a->id = db_get_i64(res, 0, 0);
			a->localpart = xstrdup(PQgetvalue(res, 0, 1));
			a->domain = xstrdup(domain);
			a->address = xasprintf("%s@%s", a->localpart, domain);
			a->post_public = db_get_bool(res, 0, 2);
			a->list_members = db_get_bool(res, 0, 3);
			a->allow_msg_from = db_get_bool(res, 0, 4);
			a->canon.case_sensitive = r->canon.case_sensitive;
			a->canon.separators = xstrdup(r->canon.separators);
			PQclear(res);
			if (members_load(c, a, error_r) < 0)
				goto out;
			r->status = STORE_DEST_OK;
			rc = 0;
			goto out;
		}
		/* ... then the catch-all (not for reports-only domains). */
		PQclear(res);
		res = db_execpv(c, error_r,
			"SELECT " DEST_COLUMNS " FROM addresses a WHERE a.domain_id = $1 AND a.localpart = ''",
			1, db_i64(di.id));
		if (res == NULL)
			goto out;
	}
	if (PQntuples(res) == 1) {
		dest_fill(&r->dest, res, 0, 0, domain);
		PQclear(res);
		if (r->dest.smtp_error != NULL) {
			r->status = STORE_DEST_SMTP_ERROR;
		} else {
			struct store_destination *d = &r->dest;

			if (for_delivery && rulesets_load(c, &d, 1, error_r) < 0)
				goto out;
			r->status = STORE_DEST_OK;
		}
		rc = 0;
		goto out;
	}
	PQclear(res);

	/* RFC 5321 section 4.5.1: postmaster must be accepted. Without an
	 * explicit address it goes to the oldest account of the domain. */
	if (for_delivery && ms_strcaseeq(canon.data, "postmaster")) {
		res = db_execpv(c, error_r,
			"SELECT id FROM accounts WHERE domain_id = $1 ORDER BY id LIMIT 1",
			1, db_i64(di.id));
		if (res == NULL)
			goto out;
		if (PQntuples(res) == 1) {
			r->dest.account_id = db_get_i64(res, 0, 0);
			r->dest.mailbox = xstrdup("Inbox");
			r->dest.address = xasprintf("postmaster@%s", domain);
			r->status = STORE_DEST_OK;
			PQclear(res);
			rc = 0;
			goto out;
		}
		PQclear(res);
	}
	r->status = STORE_DEST_UNKNOWN;
	rc = 0;
out:
	buf_free(&canon);
	return rc;
}

int
store_recipient_lookup(struct store *st, const char *localpart, const char *domain,
	struct store_recipient *r, const char **error_r)
{
	PGconn *c;
	int rc;

	memset(r, 0, sizeof(*r));
	c = db_get(st->pool, error_r);
	if (c == NULL)
		return -1;
	rc = lookup(c, localpart, domain, true, r, error_r);
	if (rc < 0 && PQstatus(c) != CONNECTION_OK) {
		/* The server ended the connection (restart, termination)
		 * while it was idle in the pool: the lookup only reads, so it
		 * is tried once more on a connection db_get reestablishes. */
		db_put(st->pool, c);
		store_recipient_free(r);
		c = db_get(st->pool, error_r);
		if (c == NULL)
			return -1;
		rc = lookup(c, localpart, domain, true, r, error_r);
	}
	db_put(st->pool, c);
	return rc;
}

int
store_recipient_postmaster(struct store *st, struct store_recipient *r,
	const char **error_r)
{
	PGconn *c;
	PGresult *res;

	memset(r, 0, sizeof(*r));
	c = db_get(st->pool, error_r);
	if (c == NULL)
		return -1;
	res = db_execpv(c, error_r,
		"SELECT a.id, d.name FROM accounts a"
		" JOIN domains d ON d.id = a.domain_id ORDER BY a.id LIMIT 1", 0);
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 1) {
		r->status = STORE_DEST_OK;
		r->dest.account_id = db_get_i64(res, 0, 0);
		r->dest.mailbox = xstrdup("Inbox");
		r->dest.address = xasprintf("postmaster@%s", PQgetvalue(res, 0, 1));
		r->canonical = xstrdup(r->dest.address);
		r->canon.separators = xstrdup("");
	} else {
		r->status = STORE_DEST_UNKNOWN;
	}
	PQclear(res);
	return 0;
}

int
store_alias_allows_from(struct store *st, int64_t account_id, const char *localpart,
	const char *domain, bool *domain_disabled_r, const char **error_r)
{
	struct store_recipient r;
	PGconn *c;
	int rc;

	if (domain_disabled_r != NULL)
		*domain_disabled_r = false;
	c = db_get(st->pool, error_r);
	if (c == NULL)
		return -1;
	rc = lookup(c, localpart, domain, false, &r, error_r);
	db_put(st->pool, c);
	if (rc == 0) {
		switch (r.status) {
		case STORE_DEST_DISABLED:
			if (domain_disabled_r != NULL)
				*domain_disabled_r = true;
			rc = 0;
			break;
		case STORE_DEST_OK:
		case STORE_DEST_SMTP_ERROR:
			if (r.is_alias)
				rc = r.alias.allow_msg_from && store_alias_has_account(&r.alias, account_id);
			else
				rc = r.dest.account_id == account_id;
			break;
		default:
			rc = 0;
			break;
		}
	}
	store_recipient_free(&r);
	return rc;
}

/* ---- the older single-destination interface (store.h) ---- */

static void
dest_from_recipient(struct store_dest *dest, const struct store_recipient *r)
{
	memset(dest, 0, sizeof(*dest));
	dest->status = r->status;
	if (r->status == STORE_DEST_OK && r->is_alias) {
		dest->status = STORE_DEST_ALIAS;
		(void)ms_strlcpy(dest->canonical, r->alias.address, sizeof(dest->canonical));
		return;
	}
	if (r->status != STORE_DEST_OK && r->status != STORE_DEST_SMTP_ERROR)
		return;
	dest->account_id = r->dest.account_id;
	dest->address_id = r->dest.address_id;
	(void)ms_strlcpy(dest->mailbox, r->dest.mailbox ? r->dest.mailbox : "Inbox",
		sizeof(dest->mailbox));
	if (r->dest.smtp_error != NULL)
		(void)ms_strlcpy(dest->smtp_error, r->dest.smtp_error, sizeof(dest->smtp_error));
	(void)ms_strlcpy(dest->canonical, r->canonical ? r->canonical : "",
		sizeof(dest->canonical));
}

int
store_lookup_dest(struct store *st, const char *localpart, const char *domain,
	struct store_dest *dest, const char **error_r)
{
	struct store_recipient r;
	int rc = store_recipient_lookup(st, localpart, domain, &r, error_r);

	if (rc == 0)
		dest_from_recipient(dest, &r);
	store_recipient_free(&r);
	return rc;
}

int
store_lookup_postmaster(struct store *st, struct store_dest *dest,
	const char **error_r)
{
	struct store_recipient r;
	int rc = store_recipient_postmaster(st, &r, error_r);

	if (rc == 0)
		dest_from_recipient(dest, &r);
	store_recipient_free(&r);
	return rc;
}
