/* The webmail: its page, the method table and the routes. The methods are
 * in the files named in webmail_private.h, which also describes the JSON
 * values they take and give. */
#include "config.h"

#include "core/util.h"
#include "webmail/webmail.h"
#include "webmail/webmail_private.h"

static const struct web_route routes[] = {
	{ "GET", "/", 0, web_route_page },
	/* ---- routes of webmail_view.c ---- */
	/* ---- routes of webmail_msg.c ---- */
	{ "GET", "/msg/", WEB_ROUTE_PREFIX | WEB_ROUTE_AUTH | WEB_ROUTE_STREAM, webmail_route_msg },
};

/* M("Name", fn, { "param", WJ_TYPE }, ...) and M0("Name", fn) for methods
 * without parameters. */
#define P(...) ((const struct web_param[]){ __VA_ARGS__ })
#define M(name, fn, ...) { name, P(__VA_ARGS__), \
	sizeof(P(__VA_ARGS__)) / sizeof(struct web_param), 0, fn }
#define M0(name, fn) { name, NULL, 0, 0, fn }

static const struct web_api_method methods[] = {
	{ "LoginPrep", NULL, 0, WEB_API_NOAUTH, web_api_loginprep },
	{ "Login", web_login_params, 3, WEB_API_NOAUTH, web_api_login },
	{ "Logout", NULL, 0, 0, web_api_logout },
	{ "Version", NULL, 0, WEB_API_NOAUTH, web_api_version },
	/* ---- methods of webmail_view.c ---- */
	/* ---- methods of webmail_change.c ---- */
	/* ---- methods of webmail_submit.c ---- */
};

const struct web_app webmail_app = {
	.name = "webmail",
	.kind = "webmail",
	.prefix = "/webmail/",
	.hosts = WEB_HOSTS_USER,
	.session = WEB_SESSION_ACCOUNT,
	.routes = routes,
	.nroutes = MS_NELEM(routes),
	.methods = methods,
	.nmethods = MS_NELEM(methods),
	.login = web_account_login,
};
