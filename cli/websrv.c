/* The localserve web server: libmicrohttpd (lib/web/web_mhd.c) hosting the
 * web programs at their production paths, account at "/", admin at
 * "/admin/", the webmail at "/webmail/" and the webapi at "/webapi/", plus a localserve-only status
 * page at "/status/" listing accounts, mailboxes and message counts. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "account/account.h"
#include "admin/admin.h"
#include "webapi/webapi.h"
#include "webmail/webmail.h"
#include "cli.h"
#include "core/conf.h"
#include "core/log.h"
#include "core/util.h"
#include "web/web.h"

struct websrv {
	struct web_env *env;
	struct web_mhd *mhd;
};

static int
status_rows(struct store *st, struct buf *rows, const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	PGresult *res;
	int i;

	if (c == NULL)
		return -1;
	res = db_execv(c, error_r,
		"SELECT a.name, m.name, m.count_total, m.count_unseen, m.size"
		" FROM accounts a JOIN mailboxes m ON m.account_id = a.id"
		" ORDER BY a.name, m.name <> 'Inbox', m.name", 0);
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	for (i = 0; i < PQntuples(res); i++) {
		buf_puts(rows, "<tr><td>");
		web_html_escape(rows, PQgetvalue(res, i, 0));
		buf_puts(rows, "</td><td>");
		web_html_escape(rows, PQgetvalue(res, i, 1));
		buf_printf(rows, "</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td></tr>\n",
			PQgetvalue(res, i, 2), PQgetvalue(res, i, 3), PQgetvalue(res, i, 4));
	}
	PQclear(res);
	return 0;
}

/* The status template has one {{rows}} of table rows built (escaped) above
 * and {{version}}; it predates the escaping templates, so it is filled
 * here directly. */
static void
status_page(struct web_request *req, struct web_response *resp)
{
	struct buf tpl, rows, out;
	const char *error, *p, *q;

	buf_init(&tpl);
	buf_init(&rows);
	buf_init(&out);
	{
		/* The rows are HTML already: a marker goes through the
		 * escaping template and is replaced afterwards. */
		const char *vars[] = { "version", PACKAGE_VERSION, "rows", "\x01ROWS\x01" };

		if (web_template(req->env, "status.html", vars, MS_NELEM(vars), &tpl, &error) < 0) {
			web_resp_text(resp, 500, error);
			goto out;
		}
	}
	if (status_rows(web_env_store(req->env), &rows, &error) < 0) {
		log_error(req->cid, "proto=http ev=status-failed error=%s", lq(error));
		web_resp_text(resp, 500, "database error");
		goto out;
	}
	p = tpl.data;
	q = strstr(p, "\x01ROWS\x01");
	if (q != NULL) {
		buf_append(&out, p, (size_t)(q - p));
		buf_append(&out, rows.data, rows.len);
		buf_puts(&out, q + 6);
	} else {
		buf_append(&out, tpl.data, tpl.len);
	}
	web_resp_html(resp, 200, &out);
out:
	buf_free(&tpl);
	buf_free(&rows);
	buf_free(&out);
}

static void
status_css(struct web_request *req, struct web_response *resp)
{
	if (!web_static(req, resp, ".", "/status.css"))
		web_resp_text(resp, 404, "not found");
}

static const struct web_route status_routes[] = {
	{ "GET", "/", 0, status_page },
	{ "GET", "/status.css", 0, status_css },
};

static const struct web_app status_app = {
	.name = "status",
	.kind = "localservestatus",
	.prefix = "/status/",
	.hosts = WEB_HOSTS_ADMIN,
	.session = WEB_SESSION_NONE,
	.routes = status_routes,
	.nroutes = MS_NELEM(status_routes),
};

static const struct web_app *const apps[] = { &account_app, &admin_app, &webmail_app, &webapi_app,
	&status_app };

struct websrv *
websrv_start(struct cli *cli, const char *hostport, const char *templates_dir,
	const char **error_r)
{
	struct websrv *w = xcalloc(1, sizeof(*w));
	char *www = xstrdup(templates_dir), *slash;

	slash = strrchr(www, '/');
	if (slash != NULL)
		*slash = '\0';
	{
		char *p = xasprintf("%s/www", www);

		free(www);
		www = p;
	}
	w->env = web_env_new(cli->conf, cli->pool, cli->store, templates_dir, www, error_r);
	free(www);
	if (w->env == NULL) {
		free(w);
		return NULL;
	}
	w->mhd = web_mhd_start(w->env, apps, MS_NELEM(apps), hostport, error_r);
	if (w->mhd == NULL) {
		web_env_free(&w->env);
		free(w);
		return NULL;
	}
	return w;
}

void
websrv_stop(struct websrv **wp)
{
	struct websrv *w = *wp;

	if (w == NULL)
		return;
	web_mhd_stop(&w->mhd);
	web_env_free(&w->env);
	free(w);
	*wp = NULL;
}
