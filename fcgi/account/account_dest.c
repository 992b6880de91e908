/* The account's addresses ("destinations") with their default mailbox,
 * full name and rulesets, edited as a whole (DestinationSave validates
 * every ruleset as "mailstead ruleset add" does, then replaces them in one
 * transaction), and the aliases the account is a member of. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "account/account_private.h"
#include "core/log.h"
#include "core/util.h"
#include "db/db.h"
#include "mail/addr.h"
#include "store/store.h"
#include "store/store_rules.h"

#define COMMENT_MAX 1000

static struct json_object *
json_or_null(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return NULL;
	return json_tokener_parse(PQgetvalue(res, row, col));
}

int
acct_api_destinations(struct web_call *call)
{
	const char *params[1] = { db_i64(call->req->account_id) };
	struct json_object *a;
	PGresult *res;
	int i;

	/* One query: each address with its rulesets as a JSON array in
	 * priority order. */
	res = web_call_query(call, "listing addresses",
		"SELECT ad.localpart || '@' || d.name, ad.mailbox, ad.full_name,"
		" coalesce(ad.smtp_error, ''),"
		" (SELECT coalesce(json_agg(json_build_object("
		"   'smtpMailFromRegexp', r.smtp_mailfrom_regexp, 'msgFromRegexp', r.msg_from_regexp,"
		"   'verifiedDomain', r.verified_domain, 'headersRegexp', r.headers_regexp,"
		"   'isForward', r.is_forward, 'listAllowDomain', r.list_allow_domain,"
		"   'acceptRejectsToMailbox', r.accept_rejects_to_mailbox, 'mailbox', r.mailbox,"
		"   'comment', r.comment) ORDER BY r.priority, r.id), '[]')"
		"  FROM rulesets r WHERE r.address_id = ad.id)"
		" FROM addresses ad JOIN domains d ON d.id = ad.domain_id"
		" WHERE ad.account_id = $1 ORDER BY d.name, ad.localpart", 1, params);
	if (res == NULL)
		return -1;
	a = json_object_new_array();
	for (i = 0; i < PQntuples(res); i++) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "address", json_object_new_string(PQgetvalue(res, i, 0)));
		json_object_object_add(o, "mailbox", json_object_new_string(PQgetvalue(res, i, 1)));
		json_object_object_add(o, "fullName", json_object_new_string(PQgetvalue(res, i, 2)));
		json_object_object_add(o, "smtpError", json_object_new_string(PQgetvalue(res, i, 3)));
		json_object_object_add(o, "rulesets", json_or_null(res, i, 4));
		json_object_array_add(a, o);
	}
	PQclear(res);
	call->result = a;
	return 0;
}

/* ---- DestinationSave ---- */

/* A string member of a ruleset object; absent is "". Returns NULL (call
 * error set) when it is not a string. */
static const char *
rs_str(struct web_call *call, struct json_object *o, size_t idx, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || v == NULL)
		return "";
	if (!json_object_is_type(v, json_type_string)) {
		web_call_error(call, "user:badParams", "ruleset %zu: %s must be a string", idx + 1, key);
		return NULL;
	}
	return json_object_get_string(v);
}

/* Normalize a mailbox field ("" allowed when optional) into out. */
static int
norm_mailbox(struct web_call *call, size_t idx, const char *what, const char *in, bool optional,
	struct buf *out)
{
	const char *error;

	buf_reset(out);
	if (in[0] == '\0') {
		if (optional)
			return 0;
		return web_call_error(call, "user:error", "ruleset %zu: %s is required", idx + 1, what);
	}
	if (store_mailbox_name_norm(in, out, &error) < 0)
		return web_call_error(call, "user:error", "ruleset %zu: %s: %s", idx + 1, what, error);
	return 0;
}

static int
norm_domain(struct web_call *call, size_t idx, const char *what, const char *in, struct buf *out)
{
	char *uni, *ascii;
	const char *error;

	buf_reset(out);
	if (in[0] == '\0')
		return 0;
	if (mail_domain_parse(in, strlen(in), true, &uni, &ascii, &error) < 0)
		return web_call_error(call, "user:error", "ruleset %zu: bad %s %s: %s", idx + 1, what,
			in, error);
	buf_puts(out, uni);
	free(uni);
	free(ascii);
	return 0;
}

/* Columns of the rulesets to insert, as PostgreSQL array literals. */
struct rs_columns {
	const char **mailfrom, **msgfrom, **verified, **headers, **forward, **listallow,
		**rejects, **mailbox, **comment;
};

/* Check ruleset idx (object o) and put its normalized columns at idx. */
static int
check_ruleset(struct web_call *call, struct json_object *o, size_t idx, struct rs_columns *cols)
{
	struct web_request *req = call->req;
	const char *mf, *mfrom, *vd, *la, *ar, *mb, *cm, *error;
	struct store_ruleset rs;
	struct json_object *h = NULL, *fwd, *hout;
	struct buf b;
	int rc = -1;

	if (!json_object_is_type(o, json_type_object))
		return web_call_error(call, "user:badParams", "ruleset %zu must be an object", idx + 1);
	if ((mf = rs_str(call, o, idx, "smtpMailFromRegexp")) == NULL ||
	    (mfrom = rs_str(call, o, idx, "msgFromRegexp")) == NULL ||
	    (vd = rs_str(call, o, idx, "verifiedDomain")) == NULL ||
	    (la = rs_str(call, o, idx, "listAllowDomain")) == NULL ||
	    (ar = rs_str(call, o, idx, "acceptRejectsToMailbox")) == NULL ||
	    (mb = rs_str(call, o, idx, "mailbox")) == NULL ||
	    (cm = rs_str(call, o, idx, "comment")) == NULL)
		return -1;
	if (!acct_text_ok(cm, COMMENT_MAX))
		return web_call_error(call, "user:error", "ruleset %zu: comment must be at most %d"
			" characters without control characters", idx + 1, COMMENT_MAX);
	if (json_object_object_get_ex(o, "isForward", &fwd) && fwd != NULL &&
	    !json_object_is_type(fwd, json_type_boolean))
		return web_call_error(call, "user:badParams", "ruleset %zu: isForward must be a boolean",
			idx + 1);
	if (json_object_object_get_ex(o, "headersRegexp", &h) && h != NULL &&
	    !json_object_is_type(h, json_type_object))
		return web_call_error(call, "user:badParams",
			"ruleset %zu: headersRegexp must be an object of field and value regexps", idx + 1);

	memset(&rs, 0, sizeof(rs));
	buf_init(&b);
	rs.smtp_mailfrom_regexp = xstrdup(mf);
	rs.msg_from_regexp = xstrdup(mfrom);
	rs.comment = xstrdup(cm);
	rs.is_forward = fwd != NULL && json_object_get_boolean(fwd);
	if (norm_mailbox(call, idx, "mailbox", mb, false, &b) < 0)
		goto out;
	rs.mailbox = xstrdup(b.data);
	if (norm_mailbox(call, idx, "accept-rejects mailbox", ar, true, &b) < 0)
		goto out;
	rs.accept_rejects_to_mailbox = xstrdup(b.data);
	if (norm_domain(call, idx, "verified domain", vd, &b) < 0)
		goto out;
	rs.verified_domain = xstrdup(b.data);
	if (norm_domain(call, idx, "list-allow domain", la, &b) < 0)
		goto out;
	rs.list_allow_domain = xstrdup(b.data);
	if (h != NULL) {
		size_t n = (size_t)json_object_object_length(h);

		if (n > STORE_RULES_HEADERS_MAX) {
			web_call_error(call, "user:error", "ruleset %zu: at most %d header conditions",
				idx + 1, STORE_RULES_HEADERS_MAX);
			goto out;
		}
		rs.headers = xcalloc(n + 1, sizeof(*rs.headers));
		json_object_object_foreach(h, key, val) {
			if (!json_object_is_type(val, json_type_string)) {
				web_call_error(call, "user:badParams",
					"ruleset %zu: header value regexp for %s must be a string", idx + 1, key);
				goto out;
			}
			rs.headers[rs.nheaders].field = xstrdup(key);
			rs.headers[rs.nheaders].value = xstrdup(json_object_get_string(val));
			rs.nheaders++;
		}
	}
	/* The reference's checks (at least one condition, lower-case header
	 * rules, is_forward needs mailfrom and verified domain, ...) and
	 * regexps that compile. */
	if (store_ruleset_compile(&rs, &error) < 0) {
		web_call_error(call, "user:error", "ruleset %zu: %s", idx + 1, error);
		goto out;
	}
	cols->mailfrom[idx] = web_strdup(req, rs.smtp_mailfrom_regexp);
	cols->msgfrom[idx] = web_strdup(req, rs.msg_from_regexp);
	cols->verified[idx] = web_strdup(req, rs.verified_domain);
	cols->forward[idx] = rs.is_forward ? "true" : "false";
	cols->listallow[idx] = web_strdup(req, rs.list_allow_domain);
	cols->rejects[idx] = web_strdup(req, rs.accept_rejects_to_mailbox);
	cols->mailbox[idx] = web_strdup(req, rs.mailbox);
	cols->comment[idx] = web_strdup(req, rs.comment);
	hout = json_object_new_object();
	for (size_t i = 0; i < rs.nheaders; i++)
		json_object_object_add(hout, rs.headers[i].field,
			json_object_new_string(rs.headers[i].value));
	cols->headers[idx] = web_strdup(req, json_object_to_json_string_ext(hout,
		JSON_C_TO_STRING_PLAIN));
	json_object_put(hout);
	rc = 0;
out:
	store_ruleset_free(&rs);
	buf_free(&b);
	return rc;
}

struct dest_save {
	int64_t address_id;
	const char *mailbox, *full_name;
	size_t n;
	struct buf arrays[9];
};

static int
dest_save_tx(PGconn *c, void *arg, const char **error_r)
{
	struct dest_save *d = arg;

	if (db_cmd(c, error_r, "UPDATE addresses SET mailbox = $2, full_name = $3 WHERE id = $1",
	    3, db_i64(d->address_id), d->mailbox, d->full_name) < 0 ||
	    db_cmd(c, error_r, "DELETE FROM rulesets WHERE address_id = $1", 1,
	    db_i64(d->address_id)) < 0)
		return -1;
	if (d->n == 0)
		return 0;
	return db_cmd(c, error_r,
		"INSERT INTO rulesets (address_id, priority, smtp_mailfrom_regexp, msg_from_regexp,"
		" verified_domain, headers_regexp, is_forward, list_allow_domain,"
		" accept_rejects_to_mailbox, mailbox, comment)"
		" SELECT $1, t.ord, t.mf, t.mfrom, t.vd, t.h::jsonb, t.fwd, t.la, t.ar, t.mb, t.cm"
		" FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::boolean[],"
		"  $7::text[], $8::text[], $9::text[], $10::text[])"
		"  WITH ORDINALITY AS t(mf, mfrom, vd, h, fwd, la, ar, mb, cm, ord)",
		10, db_i64(d->address_id), d->arrays[0].data, d->arrays[1].data, d->arrays[2].data,
		d->arrays[3].data, d->arrays[4].data, d->arrays[5].data, d->arrays[6].data,
		d->arrays[7].data, d->arrays[8].data);
}

int
acct_api_destination_save(struct web_call *call)
{
	struct web_request *req = call->req;
	const char *address = web_call_str(call, 0), *error, *fullname = "", *mailbox;
	struct json_object *dest = call->params[1], *v, *list = NULL;
	struct dest_save d;
	struct rs_columns cols;
	struct buf mb;
	size_t i;
	int rc;

	memset(&d, 0, sizeof(d));
	if (acct_own_address(call, address, &d.address_id) != 1)
		return -1;
	if (json_object_object_get_ex(dest, "fullName", &v) && v != NULL) {
		if (!json_object_is_type(v, json_type_string) || !acct_text_ok(json_object_get_string(v), 200))
			return web_call_error(call, "user:error",
				"full name must be at most 200 characters without control characters");
		fullname = json_object_get_string(v);
	}
	mailbox = "Inbox";
	if (json_object_object_get_ex(dest, "mailbox", &v) && v != NULL) {
		if (!json_object_is_type(v, json_type_string))
			return web_call_error(call, "user:badParams", "mailbox must be a string");
		if (json_object_get_string(v)[0] != '\0')
			mailbox = json_object_get_string(v);
	}
	buf_init(&mb);
	if (store_mailbox_name_norm(mailbox, &mb, &error) < 0) {
		buf_free(&mb);
		return web_call_error(call, "user:error", "mailbox: %s", error);
	}
	d.mailbox = web_strdup(req, mb.data);
	buf_free(&mb);
	d.full_name = fullname;
	if (json_object_object_get_ex(dest, "rulesets", &list) && list != NULL &&
	    !json_object_is_type(list, json_type_array))
		return web_call_error(call, "user:badParams", "rulesets must be an array");
	d.n = list != NULL ? json_object_array_length(list) : 0;
	if (d.n > STORE_RULES_MAX)
		return web_call_error(call, "user:error", "an address has at most %d rulesets",
			STORE_RULES_MAX);
	cols.mailfrom = web_alloc(req, (d.n + 1) * sizeof(char *));
	cols.msgfrom = web_alloc(req, (d.n + 1) * sizeof(char *));
	cols.verified = web_alloc(req, (d.n + 1) * sizeof(char *));
	cols.headers = web_alloc(req, (d.n + 1) * sizeof(char *));
	cols.forward = web_alloc(req, (d.n + 1) * sizeof(char *));
	cols.listallow = web_alloc(req, (d.n + 1) * sizeof(char *));
	cols.rejects = web_alloc(req, (d.n + 1) * sizeof(char *));
	cols.mailbox = web_alloc(req, (d.n + 1) * sizeof(char *));
	cols.comment = web_alloc(req, (d.n + 1) * sizeof(char *));
	for (i = 0; i < d.n; i++)
		if (check_ruleset(call, json_object_array_get_idx(list, i), i, &cols) < 0)
			return -1;
	{
		const char **c[9] = { cols.mailfrom, cols.msgfrom, cols.verified, cols.headers,
			cols.forward, cols.listallow, cols.rejects, cols.mailbox, cols.comment };

		for (i = 0; i < 9; i++) {
			buf_init(&d.arrays[i]);
			db_text_array(&d.arrays[i], c[i], d.n);
		}
	}
	rc = db_tx(web_env_pool(req->env), dest_save_tx, &d, &error);
	for (i = 0; i < 9; i++)
		buf_free(&d.arrays[i]);
	if (rc < 0)
		return web_call_server_error(call, "saving address", error);
	log_info(req->cid, "proto=http app=account ev=destination-saved account=%s address=%s"
		" rulesets=%zu", lq(req->account_name), lq(address), d.n);
	return 0;
}

/* ---- aliases ---- */

int
acct_api_aliases(struct web_call *call)
{
	const char *params[1] = { db_i64(call->req->account_id) };
	struct json_object *a;
	PGresult *res;
	int i;

	/* The aliases with a member address of this account; all members
	 * only where the alias lists them (ListMembers). */
	res = web_call_query(call, "listing aliases",
		"SELECT al.localpart || '@' || d.name, al.post_public, al.list_members,"
		" al.allow_msg_from, array_to_json(array_agg(DISTINCT m.address ORDER BY m.address)),"
		" CASE WHEN al.list_members THEN (SELECT array_to_json(array_agg(m2.address"
		"  ORDER BY m2.address)) FROM alias_members m2 WHERE m2.alias_id = al.id) END"
		" FROM aliases al JOIN domains d ON d.id = al.domain_id"
		" JOIN alias_members m ON m.alias_id = al.id"
		" JOIN addresses ad ON ad.account_id = $1"
		" JOIN domains adm ON adm.id = ad.domain_id AND m.address = ad.localpart || '@' || adm.name"
		" GROUP BY al.id, d.name ORDER BY d.name, al.localpart", 1, params);
	if (res == NULL)
		return -1;
	a = json_object_new_array();
	for (i = 0; i < PQntuples(res); i++) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "address", json_object_new_string(PQgetvalue(res, i, 0)));
		json_object_object_add(o, "postPublic", json_object_new_boolean(db_get_bool(res, i, 1)));
		json_object_object_add(o, "listMembers", json_object_new_boolean(db_get_bool(res, i, 2)));
		json_object_object_add(o, "allowMsgFrom", json_object_new_boolean(db_get_bool(res, i, 3)));
		json_object_object_add(o, "memberAddresses", json_or_null(res, i, 4));
		json_object_object_add(o, "members", json_or_null(res, i, 5));
		json_object_array_add(a, o);
	}
	PQclear(res);
	call->result = a;
	return 0;
}
