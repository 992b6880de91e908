/* The admin web interface: its page and the JSON API of the administrator,
 * who logs in with the admin password ("mailstead setadminpassword"). The
 * admin answers only on IP addresses, the configured host names and
 * localhost (web_hosts WEB_HOSTS_ADMIN). More methods (domains, accounts,
 * queue, ...) follow the reference's webadmin. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "core/log.h"
#include "core/util.h"
#include "db/db.h"

static int
admin_login(struct web_request *req, const char *username, const char *password,
	int64_t *account_id_r, const char **account_name_r, const char **error_r)
{
	int rc;

	(void)username;
	*account_name_r = NULL;
	rc = web_admin_password_check(web_env_pool(req->env), password, error_r);
	if (rc == 1)
		*account_id_r = 0;
	return rc;
}

/* Domains() -> [{name, disabled, reportsOnly, clientSettingsDomain,
 * description, accounts}] ordered by name. */
static int
api_domains(struct web_call *call)
{
	struct db_pool *pool = web_env_pool(call->req->env);
	struct json_object *arr;
	const char *error;
	PGresult *res;
	PGconn *c;
	int i;

	c = db_get(pool, &error);
	if (c == NULL)
		return web_call_server_error(call, "listing domains", error);
	res = db_execv(c, &error,
		"SELECT d.name, d.disabled, d.reports_only, coalesce(d.client_settings_domain, ''),"
		" d.description, (SELECT count(*) FROM accounts a WHERE a.domain_id = d.id)"
		" FROM domains d ORDER BY d.name", 0);
	db_put(pool, c);
	if (res == NULL)
		return web_call_server_error(call, "listing domains", error);
	arr = json_object_new_array();
	for (i = 0; i < PQntuples(res); i++) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "name", json_object_new_string(PQgetvalue(res, i, 0)));
		json_object_object_add(o, "disabled", json_object_new_boolean(db_get_bool(res, i, 1)));
		json_object_object_add(o, "reportsOnly", json_object_new_boolean(db_get_bool(res, i, 2)));
		json_object_object_add(o, "clientSettingsDomain",
			json_object_new_string(PQgetvalue(res, i, 3)));
		json_object_object_add(o, "description", json_object_new_string(PQgetvalue(res, i, 4)));
		json_object_object_add(o, "accounts", json_object_new_int64(db_get_i64(res, i, 5)));
		json_object_array_add(arr, o);
	}
	PQclear(res);
	call->result = arr;
	return 0;
}

static int
api_login_attempts(struct web_call *call)
{
	return web_login_attempts_result(call, NULL, web_call_int(call, 0));
}

static void
page_index(struct web_request *req, struct web_response *resp)
{
	const char *vars[] = { "title", "Admin", "version", PACKAGE_VERSION };
	struct buf html;
	const char *error;

	buf_init(&html);
	if (web_template(req->env, "admin.html", vars, MS_NELEM(vars), &html, &error) < 0) {
		log_error(req->cid, "proto=http app=admin ev=template-failed error=%s", lq(error));
		web_resp_text(resp, 500, "page template missing (see the server log)");
	} else {
		web_resp_html(resp, 200, &html);
	}
	buf_free(&html);
}

static const struct web_route routes[] = {
	{ "GET", "/", 0, page_index },
};

static const struct web_param p_limit[] = { { "limit", WJ_INT } };

static const struct web_api_method methods[] = {
	{ "LoginPrep", NULL, 0, WEB_API_NOAUTH, web_api_loginprep },
	{ "Login", web_login_admin_params, 2, WEB_API_NOAUTH, web_api_login },
	{ "Logout", NULL, 0, 0, web_api_logout },
	{ "Version", NULL, 0, WEB_API_NOAUTH, web_api_version },
	{ "Domains", NULL, 0, 0, api_domains },
	{ "LoginAttempts", p_limit, 1, 0, api_login_attempts },
};

const struct web_app admin_app = {
	.name = "admin",
	.kind = "webadmin",
	.prefix = "/admin/",
	.hosts = WEB_HOSTS_ADMIN,
	.session = WEB_SESSION_ADMIN,
	.routes = routes,
	.nroutes = MS_NELEM(routes),
	.methods = methods,
	.nmethods = MS_NELEM(methods),
	.login = admin_login,
};
