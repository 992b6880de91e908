/* Administration of domains and accounts beyond creating them: removal,
 * the account settings (login disabled, quota, send limits, full name),
 * the domain settings of DNS records and client configuration, and DKIM
 * selector signing. Shared by "mailstead domain|account ..." and the admin
 * web interface (FEATURES.md section 7: the admin interface can change
 * everything the command line can). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"
#include "mail/addr.h"
#include "store/store.h"
#include "store/store_private.h"
#include "store/store_rules.h"
#include "store/store_rules_private.h"

/* A localpart of a report address: no "@", spaces, controls or the
 * separators of a DMARC/TLSRPT URI list (RFC 7489 section 6.4 "," and
 * "!", RFC 8460 section 3 ";" and ","). */
static int
check_report_localpart(const char *s, const char **error_r)
{
	const unsigned char *p;

	if (strlen(s) > 64) {
		*error_r = "localpart longer than 64 bytes";
		return -1;
	}
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p <= 0x20 || *p == 0x7f || strchr("@;,!\"", *p) != NULL) {
			*error_r = ms_err("localpart must not contain spaces, control characters or "
				"any of @;,!\" (got %s)", s);
			return -1;
		}
	}
	return 0;
}

/* A host-name pattern of an MTA-STS "mx:" line (RFC 8461 section 3.2: a
 * name, or "*." and a name). Appends its lower-case ASCII form to out. */
static int
mtasts_mx_norm(const char *s, size_t n, struct buf *out, const char **error_r)
{
	const char *err;
	char *uni, *ascii;
	bool wild = n > 2 && s[0] == '*' && s[1] == '.';

	if (mail_domain_parse(s + (wild ? 2 : 0), n - (wild ? 2 : 0), true, &uni, &ascii,
		    &err) < 0 || ascii[0] == '[') {
		if (uni != NULL) {
			free(uni);
			free(ascii);
		}
		*error_r = ms_err("bad MX host %.*s: %s", (int)n, s, uni ? "address literal" : err);
		return -1;
	}
	if (wild)
		buf_puts(out, "*.");
	buf_puts(out, ascii);
	free(uni);
	free(ascii);
	return 0;
}

int
store_domain_set_other(PGconn *c, int64_t domain_id, enum store_domain_setting what,
	const char *value, const char **error_r)
{
	struct buf v;
	uint64_t n;
	int rc = -1;

	buf_init(&v);
	switch (what) {
	case STORE_DOMAIN_CLIENT_SETTINGS:
		if (value[0] != '\0') {
			char *uni, *ascii;
			const char *err;

			/* Stored in ASCII: it is compared with Host headers. */
			if (mail_domain_parse(value, strlen(value), true, &uni, &ascii, &err) < 0 ||
			    ascii[0] == '[' || strchr(ascii, '.') == NULL) {
				if (uni != NULL) {
					free(uni);
					free(ascii);
				}
				*error_r = ms_err("bad client settings domain %s: %s", value,
					uni != NULL ? "must be a host name with a dot" : err);
				break;
			}
			buf_puts(&v, ascii);
			free(uni);
			free(ascii);
		}
		rc = db_cmd(c, error_r,
			"UPDATE domains SET client_settings_domain = nullif($2, '') WHERE id = $1",
			2, db_i64(domain_id), v.data);
		/* The web programs re-read the client hosts within seconds
		 * (web.c CLIENT_HOSTS_TTL_MS). */
		break;
	case STORE_DOMAIN_DESCRIPTION:
		if (strlen(value) > 1000 || strpbrk(value, "\r\n\t") != NULL) {
			*error_r = "description must be one line of at most 1000 bytes";
			break;
		}
		rc = db_cmd(c, error_r, "UPDATE domains SET description = $2 WHERE id = $1",
			2, db_i64(domain_id), value);
		break;
	case STORE_DOMAIN_DMARC_LOCALPART:
	case STORE_DOMAIN_TLSRPT_LOCALPART:
		if (check_report_localpart(value, error_r) < 0)
			break;
		{
			/* A localpart cut at a catch-all separator would never
			 * reach the report address (the reference refuses it too). */
			PGresult *res = db_execv(c, error_r,
				"SELECT localpart_catchall_separators FROM domains WHERE id = $1", 1,
				db_i64(domain_id));
			const char *seps;

			if (res == NULL)
				break;
			seps = PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "";
			if (seps[0] != '\0' && strpbrk(value, seps) != NULL) {
				*error_r = ms_err("report localpart %s contains a catch-all separator of "
					"the domain (%s)", value, seps);
				PQclear(res);
				break;
			}
			PQclear(res);
		}
		rc = db_cmd(c, error_r, what == STORE_DOMAIN_DMARC_LOCALPART ?
			"UPDATE domains SET dmarc_localpart = $2 WHERE id = $1" :
			"UPDATE domains SET tlsrpt_localpart = $2 WHERE id = $1",
			2, db_i64(domain_id), value);
		break;
	case STORE_DOMAIN_MTASTS_MODE:
		if (strcmp(value, "enforce") != 0 && strcmp(value, "testing") != 0 &&
		    strcmp(value, "none") != 0 && strcmp(value, "default") != 0 && value[0] != '\0') {
			*error_r = ms_err("MTA-STS mode must be enforce, testing, none, default ([web] "
				"mtasts_mode) or \"\" (no MTA-STS), not %s", value);
			break;
		}
		rc = db_cmd(c, error_r, "UPDATE domains SET mtasts_mode = $2 WHERE id = $1",
			2, db_i64(domain_id), strcmp(value, "default") == 0 ? NULL : value);
		break;
	case STORE_DOMAIN_MTASTS_MAX_AGE:
		/* RFC 8461 section 3.2: max_age up to 31557600 (a year); "default"
		 * or 0 is [web] mtasts_max_age. */
		if (strcmp(value, "default") == 0) {
			n = 0;
		} else if (ms_parse_duration(value, &n) < 0 || n > 31557600) {
			*error_r = ms_err("MTA-STS max age must be up to 31557600 seconds (or a "
				"duration like 7d; 0 or default: [web] mtasts_max_age), not %s", value);
			break;
		}
		rc = db_cmd(c, error_r, "UPDATE domains SET mtasts_max_age = nullif($2::int, 0)"
			" WHERE id = $1", 2, db_i64(domain_id), db_i64((int64_t)n));
		break;
	case STORE_DOMAIN_MTASTS_MX: {
		/* Comma- or space-separated patterns; "" for the host name. */
		struct buf arr;
		const char *p = value;
		char **hosts = NULL;
		size_t nh = 0, i;

		buf_init(&arr);
		rc = 0;
		while (*p != '\0') {
			size_t len = strcspn(p, ", ");

			if (len > 0) {
				buf_reset(&v);
				if (mtasts_mx_norm(p, len, &v, error_r) < 0) {
					rc = -1;
					break;
				}
				hosts = xrealloc(hosts, (nh + 1) * sizeof(*hosts));
				hosts[nh++] = xstrdup(v.data);
			}
			p += len;
			p += strspn(p, ", ");
		}
		if (rc == 0) {
			db_text_array(&arr, (const char *const *)hosts, nh);
			rc = db_cmd(c, error_r,
				"UPDATE domains SET mtasts_mx = $2::text[] WHERE id = $1",
				2, db_i64(domain_id), arr.data);
		}
		for (i = 0; i < nh; i++)
			free(hosts[i]);
		free(hosts);
		buf_free(&arr);
		break;
	}
	default:
		*error_r = "unknown domain setting";
		break;
	}
	buf_free(&v);
	return rc;
}

/* ---- domain removal ---- */

struct domain_rm_ctx {
	const char *domain;
};

static int
domain_remove_tx(PGconn *c, void *arg, const char **error_r)
{
	struct domain_rm_ctx *ctx = arg;
	struct store_domain_info di;
	PGresult *res;
	int found;

	found = store_rules_domain_get(c, ctx->domain, true, &di, error_r);
	if (found <= 0) {
		if (found == 0)
			*error_r = ms_err("domain %s does not exist", ctx->domain);
		return -1;
	}
	free(di.canon.separators);
	/* Accounts and addresses are removed explicitly first, so no
	 * account's mail disappears with a domain by accident. Aliases,
	 * DKIM keys and routes of the domain go with it. */
	res = db_execv(c, error_r,
		"SELECT (SELECT name FROM accounts WHERE domain_id = $1 ORDER BY name LIMIT 1),"
		" (SELECT localpart FROM addresses WHERE domain_id = $1 ORDER BY localpart LIMIT 1)",
		1, db_i64(di.id));
	if (res == NULL)
		return -1;
	if (!PQgetisnull(res, 0, 0)) {
		*error_r = ms_err("account %s belongs to domain %s; remove the domain's accounts "
			"first", PQgetvalue(res, 0, 0), ctx->domain);
		PQclear(res);
		return -1;
	}
	if (!PQgetisnull(res, 0, 1)) {
		*error_r = ms_err("address %s@%s still exists; remove the domain's addresses first",
			PQgetvalue(res, 0, 1), ctx->domain);
		PQclear(res);
		return -1;
	}
	PQclear(res);
	/* Members of other aliases that are addresses of this domain are
	 * external-looking leftovers once it is gone: refuse like address
	 * removal would. */
	res = db_execv(c, error_r,
		"SELECT m.address FROM alias_members m JOIN aliases a ON a.id = m.alias_id"
		" WHERE a.domain_id <> $1 AND split_part(m.address, '@', 2) = $2 LIMIT 1",
		2, db_i64(di.id), ctx->domain);
	if (res == NULL)
		return -1;
	if (PQntuples(res) > 0) {
		*error_r = ms_err("%s is a member of an alias of another domain; remove it there "
			"first", PQgetvalue(res, 0, 0));
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return db_cmd(c, error_r, "DELETE FROM domains WHERE id = $1", 1, db_i64(di.id));
}

int
store_domain_remove(struct store *st, const char *domain, const char **error_r)
{
	struct domain_rm_ctx ctx = { domain };

	return db_tx(st->pool, domain_remove_tx, &ctx, error_r);
}

/* ---- accounts ---- */

/* Run an UPDATE with two parameters and return the number of rows it
 * changed, or -1. */
static int
update_count(PGconn *c, const char **error_r, const char *sql, const char *p1,
	const char *p2, const char *p3)
{
	struct buf q;
	PGresult *res;
	int n;

	buf_init(&q);
	buf_printf(&q, "WITH u AS (%s RETURNING 1) SELECT count(*) FROM u", sql);
	res = p3 != NULL ? db_execv(c, error_r, q.data, 3, p1, p2, p3) :
	    db_execv(c, error_r, q.data, 2, p1, p2);
	buf_free(&q);
	if (res == NULL)
		return -1;
	n = (int)db_get_i64(res, 0, 0);
	PQclear(res);
	return n;
}

int
store_account_set(struct store *st, int64_t account_id, enum store_account_setting what,
	const char *value, const char **error_r)
{
	const char *sql = NULL, *arg = value;
	const unsigned char *p;
	uint64_t n;
	PGconn *c;
	int rc;

	switch (what) {
	case STORE_ACCOUNT_FULL_NAME:
	case STORE_ACCOUNT_LOGIN_DISABLED:
		if (strlen(value) > 1000) {
			*error_r = "value longer than 1000 bytes";
			return -1;
		}
		for (p = (const unsigned char *)value; *p != '\0'; p++)
			if (*p < 0x20 || *p == 0x7f) {
				*error_r = "value must not contain control characters";
				return -1;
			}
		sql = what == STORE_ACCOUNT_FULL_NAME ?
		    "UPDATE accounts SET full_name = $2 WHERE id = $1" :
		    "UPDATE accounts SET login_disabled = nullif($2, '') WHERE id = $1";
		break;
	case STORE_ACCOUNT_QUOTA:
		/* Bytes, with the size suffixes of the configuration (k, m, g). */
		if (ms_parse_size(value, &n) < 0 || n > INT64_MAX / 2) {
			*error_r = ms_err("quota must be a size in bytes (0 for no limit; k, m, g "
				"suffixes), not %s", value);
			return -1;
		}
		arg = db_i64((int64_t)n);
		sql = "UPDATE accounts SET quota_message_size = $2 WHERE id = $1";
		break;
	case STORE_ACCOUNT_MAX_OUTGOING:
	case STORE_ACCOUNT_MAX_FIRST_TIME:
		if (ms_parse_u64(value, 1, INT32_MAX, &n) < 0) {
			*error_r = ms_err("send limit must be a number from 1 to %d, not %s", INT32_MAX,
				value);
			return -1;
		}
		arg = db_i64((int64_t)n);
		sql = what == STORE_ACCOUNT_MAX_OUTGOING ?
		    "UPDATE accounts SET max_outgoing_messages_per_day = $2 WHERE id = $1" :
		    "UPDATE accounts SET max_first_time_recipients_per_day = $2 WHERE id = $1";
		break;
	case STORE_ACCOUNT_KEEP_RETIRED:
		/* At most ten years, as an interval of seconds. */
		if (ms_parse_duration(value, &n) < 0 || n > 10ull * 366 * 86400) {
			*error_r = ms_err("keep-retired period must be a duration like 7d or 3600 "
				"(0 keeps none, at most 10 years), not %s", value);
			return -1;
		}
		arg = db_i64((int64_t)n);
		sql = "UPDATE accounts SET keep_retired_message_period = $2::bigint * interval '1 second'"
		    " WHERE id = $1";
		break;
	}
	if (sql == NULL) {
		*error_r = "unknown account setting";
		return -1;
	}
	c = db_get(st->pool, error_r);
	if (c == NULL)
		return -1;
	rc = update_count(c, error_r, sql, db_i64(account_id), arg, NULL);
	db_put(st->pool, c);
	if (rc == 0) {
		*error_r = "no such account";
		return -1;
	}
	return rc < 0 ? -1 : 0;
}

struct account_rm_ctx {
	int64_t id;
	char **paths;		/* message files, removed after the commit */
	size_t npaths;
	char *name;
};

static int
account_remove_tx(PGconn *c, void *arg, const char **error_r)
{
	struct account_rm_ctx *ctx = arg;
	PGresult *res;
	size_t i;
	int k;

	for (i = 0; i < ctx->npaths; i++)
		free(ctx->paths[i]);
	free(ctx->paths);
	ctx->paths = NULL;
	ctx->npaths = 0;
	free(ctx->name);
	ctx->name = NULL;

	res = db_execv(c, error_r, "SELECT name FROM accounts WHERE id = $1 FOR UPDATE", 1,
		db_i64(ctx->id));
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		*error_r = "no such account";
		return -1;
	}
	ctx->name = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	/* An alias must keep a member (as address removal requires). */
	res = db_execv(c, error_r,
		"WITH mine AS (SELECT ad.localpart || '@' || d.name AS address FROM addresses ad"
		"  JOIN domains d ON d.id = ad.domain_id WHERE ad.account_id = $1 AND ad.localpart <> '')"
		" SELECT a.localpart || '@' || d.name FROM aliases a JOIN domains d ON d.id = a.domain_id"
		" WHERE EXISTS (SELECT 1 FROM alias_members m WHERE m.alias_id = a.id"
		"  AND m.address IN (SELECT address FROM mine))"
		" AND NOT EXISTS (SELECT 1 FROM alias_members m WHERE m.alias_id = a.id"
		"  AND m.address NOT IN (SELECT address FROM mine)) LIMIT 1",
		1, db_i64(ctx->id));
	if (res == NULL)
		return -1;
	if (PQntuples(res) > 0) {
		*error_r = ms_err("the account's addresses are the only members of alias %s; "
			"remove the alias or add other members first", PQgetvalue(res, 0, 0));
		PQclear(res);
		return -1;
	}
	PQclear(res);
	if (db_cmd(c, error_r,
		    "DELETE FROM alias_members WHERE address IN (SELECT ad.localpart || '@' || d.name"
		    " FROM addresses ad JOIN domains d ON d.id = ad.domain_id WHERE ad.account_id = $1"
		    " AND ad.localpart <> '')", 1, db_i64(ctx->id)) < 0)
		return -1;
	res = db_execv(c, error_r, "SELECT file_path FROM messages WHERE account_id = $1", 1,
		db_i64(ctx->id));
	if (res == NULL)
		return -1;
	ctx->npaths = (size_t)PQntuples(res);
	ctx->paths = xcalloc(ctx->npaths + 1, sizeof(char *));
	for (k = 0; k < PQntuples(res); k++)
		ctx->paths[k] = xstrdup(PQgetvalue(res, k, 0));
	PQclear(res);
	/* Everything of the account references it ON DELETE CASCADE;
	 * queued messages keep going without a sender account. */
	if (db_cmd(c, error_r, "DELETE FROM accounts WHERE id = $1", 1, db_i64(ctx->id)) < 0)
		return -1;
	return db_cmd(c, error_r, "DELETE FROM login_attempts WHERE account_name = $1", 1,
		ctx->name);
}

int
store_account_remove(struct store *st, int64_t account_id, const char **error_r)
{
	struct account_rm_ctx ctx;
	struct buf full;
	size_t i;
	int rc;

	memset(&ctx, 0, sizeof(ctx));
	ctx.id = account_id;
	rc = db_tx(st->pool, account_remove_tx, &ctx, error_r);
	buf_init(&full);
	for (i = 0; i < ctx.npaths; i++) {
		/* Each message row has its own hard link; a failure leaves
		 * an orphan file, never a row without its file. */
		if (rc == 0) {
			buf_reset(&full);
			buf_printf(&full, "%s/%s", st->datadir, ctx.paths[i]);
			if (unlink(full.data) < 0 && errno != ENOENT)
				log_warn(NULL, "ev=unlink-failed path=%s error=%s", lq(full.data),
					lq(strerror(errno)));
		}
		free(ctx.paths[i]);
	}
	buf_free(&full);
	free(ctx.paths);
	free(ctx.name);
	return rc;
}

int
store_dkim_selector_set_sign(struct store *st, const char *domain, const char *selector,
	bool sign, const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	int n;

	if (c == NULL)
		return -1;
	n = update_count(c, error_r,
		"UPDATE dkim_selectors s SET sign = $3::boolean FROM domains d"
		" WHERE d.id = s.domain_id AND d.name = lower($1) AND s.selector = $2",
		domain, selector, sign ? "true" : "false");
	db_put(st->pool, c);
	return n < 0 ? -1 : n > 0;
}
