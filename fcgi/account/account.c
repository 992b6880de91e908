/* The account web interface: its page, and the JSON API methods a logged-in
 * user calls on their own account (FEATURES.md section 5, webaccount).
 * Every method but the login ones runs with a session (web_auth), and
 * req->account_id is the account it is for; no method takes an account
 * from the client. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "account/account.h"
#include "core/log.h"
#include "core/util.h"
#include "db/db.h"
#include "store/store.h"

#define FULLNAME_MAX 200
#define PASSWORD_MIN 8

/* ---- login ---- */

static int
account_login(struct web_request *req, const char *username, const char *password,
	int64_t *account_id_r, const char **account_name_r, const char **error_r)
{
	struct store *st = web_env_store(req->env);
	int64_t id = 0;
	PGresult *res;
	PGconn *c;
	int ok, found;

	*account_name_r = NULL;
	ok = store_login(st, username, password, &id, error_r);
	if (ok < 0)
		return -1;
	/* The account's name, also for refused logins, so the account owner
	 * sees attempts on it (LoginAttempts). */
	if (!ok) {
		found = store_account_find(st, username, &id, error_r);
		if (found < 0)
			return -1;
		if (!found)
			return 0;
	}
	c = db_get(st->pool, error_r);
	if (c == NULL)
		return -1;
	res = db_execv(c, error_r, "SELECT name FROM accounts WHERE id = $1", 1, db_i64(id));
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 1)
		*account_name_r = web_strdup(req, PQgetvalue(res, 0, 0));
	PQclear(res);
	if (ok)
		*account_id_r = id;
	return ok;
}

/* ---- API methods ---- */

static int
api_account(struct web_call *call)
{
	struct web_request *req = call->req;
	struct store *st = web_env_store(req->env);
	struct json_object *o, *addrs;
	const char *error;
	PGresult *res;
	PGconn *c;

	c = db_get(st->pool, &error);
	if (c == NULL)
		return web_call_server_error(call, "account", error);
	{
		/* Prepared: pages call Account often (bench/web). */
		const char *params[1] = { db_i64(req->account_id) };

		res = db_exec_prepared(c, "web_account_info",
			"SELECT a.name, a.full_name, a.quota_message_size, a.disk_usage,"
			" coalesce(a.login_disabled, ''), d.name,"
			" ARRAY(SELECT ad.localpart || '@' || dd.name FROM addresses ad"
			"  JOIN domains dd ON dd.id = ad.domain_id WHERE ad.account_id = a.id"
			"  ORDER BY dd.name, ad.localpart)"
			" FROM accounts a JOIN domains d ON d.id = a.domain_id WHERE a.id = $1",
			1, params, NULL, NULL, &error);
	}
	db_put(st->pool, c);
	if (res == NULL)
		return web_call_server_error(call, "account", error);
	if (PQntuples(res) != 1) {
		PQclear(res);
		return web_call_error(call, "user:notFound", "account no longer exists");
	}
	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(PQgetvalue(res, 0, 0)));
	json_object_object_add(o, "fullName", json_object_new_string(PQgetvalue(res, 0, 1)));
	json_object_object_add(o, "quotaMessageSize", json_object_new_int64(db_get_i64(res, 0, 2)));
	json_object_object_add(o, "diskUsage", json_object_new_int64(db_get_i64(res, 0, 3)));
	json_object_object_add(o, "loginDisabled", json_object_new_string(PQgetvalue(res, 0, 4)));
	json_object_object_add(o, "domain", json_object_new_string(PQgetvalue(res, 0, 5)));
	json_object_object_add(o, "loginAddress", json_object_new_string(req->login_address));
	addrs = json_object_new_array();
	{
		/* The text form of a text[]: {a,b,"c d"}; addresses need no
		 * quoting except when they contain specials, handled here. */
		struct buf item;
		const char *p = PQgetvalue(res, 0, 6);

		buf_init(&item);
		if (*p == '{')
			p++;
		while (*p != '\0' && *p != '}') {
			buf_reset(&item);
			if (*p == '"') {
				for (p++; *p != '\0' && *p != '"'; p++) {
					if (*p == '\\' && p[1] != '\0')
						p++;
					buf_putc(&item, *p);
				}
				if (*p == '"')
					p++;
			} else {
				while (*p != '\0' && *p != ',' && *p != '}')
					buf_putc(&item, *p++);
			}
			/* An empty localpart is the catch-all "@domain". */
			json_object_array_add(addrs, json_object_new_string(item.data));
			if (*p == ',')
				p++;
		}
		buf_free(&item);
	}
	json_object_object_add(o, "addresses", addrs);
	PQclear(res);
	call->result = o;
	return 0;
}

static bool
text_ok(const char *s, size_t max)
{
	const unsigned char *p;

	if (strlen(s) > max)
		return false;
	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

static int
api_save_full_name(struct web_call *call)
{
	struct web_request *req = call->req;
	struct store *st = web_env_store(req->env);
	const char *name = web_call_str(call, 0), *error;
	PGconn *c;
	int rc;

	if (!text_ok(name, FULLNAME_MAX))
		return web_call_error(call, "user:error",
			"full name must be at most %d characters without control characters", FULLNAME_MAX);
	c = db_get(st->pool, &error);
	if (c == NULL)
		return web_call_server_error(call, "saving full name", error);
	rc = db_cmd(c, &error, "UPDATE accounts SET full_name = $2 WHERE id = $1", 2,
		db_i64(req->account_id), name);
	db_put(st->pool, c);
	if (rc < 0)
		return web_call_server_error(call, "saving full name", error);
	log_info(req->cid, "proto=http app=account ev=full-name-saved account=%s",
		lq(req->account_name));
	call->result = NULL;
	return 0;
}

static int
api_set_password(struct web_call *call)
{
	struct web_request *req = call->req;
	const char *pw = web_call_str(call, 0), *error;

	if (strlen(pw) < PASSWORD_MIN)
		return web_call_error(call, "user:error", "password must be at least %d characters",
			PASSWORD_MIN);
	if (store_password_set(web_env_store(req->env), req->account_id, pw, &error) < 0) {
		/* credentials_derive refuses what SASLprep refuses: the user's
		 * mistake, not ours. */
		if (strstr(error, "SASLprep") != NULL || strstr(error, "password") != NULL)
			return web_call_error(call, "user:error", "%s", error);
		return web_call_server_error(call, "setting password", error);
	}
	/* The seeds: a password change ends the account's other sessions
	 * and keeps the one it was made with. */
	if (web_sessions_remove_account(req->env, req->account_id, req, &error) < 0)
		return web_call_server_error(call, "removing other sessions", error);
	log_info(req->cid, "proto=http app=account ev=password-changed account=%s",
		lq(req->account_name));
	call->result = NULL;
	return 0;
}

static int
api_generate_password(struct web_call *call)
{
	/* 12 random bytes: 16 characters of base64url, about 96 bits. */
	struct buf pw;

	buf_init(&pw);
	ms_random_token(&pw, 12);
	call->result = json_object_new_string(pw.data);
	buf_wipe(&pw);
	buf_free(&pw);
	return 0;
}

static int
api_login_attempts(struct web_call *call)
{
	return web_login_attempts_result(call, call->req->account_name, web_call_int(call, 0));
}

/* ---- page ---- */

static void
page_index(struct web_request *req, struct web_response *resp)
{
	const char *vars[] = { "title", "Account", "version", PACKAGE_VERSION };
	struct buf html;
	const char *error;

	buf_init(&html);
	if (web_template(req->env, "account.html", vars, MS_NELEM(vars), &html, &error) < 0) {
		log_error(req->cid, "proto=http app=account ev=template-failed error=%s", lq(error));
		web_resp_text(resp, 500, "page template missing (see the server log)");
	} else {
		web_resp_html(resp, 200, &html);
	}
	buf_free(&html);
}

static const struct web_route routes[] = {
	{ "GET", "/", 0, page_index },
};

static const struct web_param p_string_fullname[] = { { "fullName", WJ_STRING } };
static const struct web_param p_string_password[] = { { "password", WJ_STRING } };
static const struct web_param p_limit[] = { { "limit", WJ_INT } };

static const struct web_api_method methods[] = {
	{ "LoginPrep", NULL, 0, WEB_API_NOAUTH, web_api_loginprep },
	{ "Login", web_login_params, 3, WEB_API_NOAUTH, web_api_login },
	{ "Logout", NULL, 0, 0, web_api_logout },
	{ "Version", NULL, 0, WEB_API_NOAUTH, web_api_version },
	{ "Account", NULL, 0, 0, api_account },
	{ "AccountSaveFullName", p_string_fullname, 1, 0, api_save_full_name },
	{ "SetPassword", p_string_password, 1, 0, api_set_password },
	{ "GeneratePassword", NULL, 0, 0, api_generate_password },
	{ "LoginAttempts", p_limit, 1, 0, api_login_attempts },
};

const struct web_app account_app = {
	.name = "account",
	.kind = "webaccount",
	.prefix = "/",
	.hosts = WEB_HOSTS_USER,
	.session = WEB_SESSION_ACCOUNT,
	.routes = routes,
	.nroutes = MS_NELEM(routes),
	.methods = methods,
	.nmethods = MS_NELEM(methods),
	.login = account_login,
};
