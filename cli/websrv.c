/* The localserve web server (libmicrohttpd). For now it serves a status
 * page listing accounts, their mailboxes and message counts; the admin,
 * account, webmail and webapi programs mount here later (lib/web). */
#include "config.h"

#include <microhttpd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/conf.h"
#include "core/log.h"
#include "core/util.h"

struct websrv {
	struct MHD_Daemon *d;
	struct store *st;
	char *templates_dir;
	char *www_dir;
};

static void
html_escape(struct buf *out, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': buf_puts(out, "&lt;"); break;
		case '>': buf_puts(out, "&gt;"); break;
		case '&': buf_puts(out, "&amp;"); break;
		case '"': buf_puts(out, "&quot;"); break;
		case '\'': buf_puts(out, "&#39;"); break;
		default: buf_putc(out, *s);
		}
	}
}

static int
status_rows(struct websrv *w, struct buf *rows, const char **error_r)
{
	PGconn *c = db_get(w->st->pool, error_r);
	PGresult *res;
	int i;

	if (c == NULL)
		return -1;
	res = db_execv(c, error_r,
		"SELECT a.name, m.name, m.count_total, m.count_unseen, m.size"
		" FROM accounts a JOIN mailboxes m ON m.account_id = a.id"
		" ORDER BY a.name, m.name <> 'Inbox', m.name", 0);
	db_put(w->st->pool, c);
	if (res == NULL)
		return -1;
	for (i = 0; i < PQntuples(res); i++) {
		buf_puts(rows, "<tr><td>");
		html_escape(rows, PQgetvalue(res, i, 0));
		buf_puts(rows, "</td><td>");
		html_escape(rows, PQgetvalue(res, i, 1));
		buf_printf(rows, "</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td></tr>\n",
			PQgetvalue(res, i, 2), PQgetvalue(res, i, 3), PQgetvalue(res, i, 4));
	}
	PQclear(res);
	return 0;
}

/* Replace {{name}} placeholders: values are already HTML. */
static void
render(struct buf *out, const char *tpl, const char *const *kv, size_t nkv)
{
	const char *p = tpl;

	while (*p) {
		const char *open = strstr(p, "{{"), *close;
		size_t i;

		if (open == NULL || (close = strstr(open, "}}")) == NULL) {
			buf_puts(out, p);
			return;
		}
		buf_append(out, p, (size_t)(open - p));
		for (i = 0; i + 1 < nkv; i += 2)
			if (strlen(kv[i]) == (size_t)(close - open - 2) &&
			    strncmp(kv[i], open + 2, (size_t)(close - open - 2)) == 0)
				buf_puts(out, kv[i + 1]);
		p = close + 2;
	}
}

static enum MHD_Result
respond(struct MHD_Connection *conn, unsigned code, const char *type,
	struct buf *body)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(body->len, body->data,
		MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Content-Security-Policy",
		"default-src 'none'; style-src 'self'; frame-ancestors 'none'");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	ret = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
handler(void *cls, struct MHD_Connection *conn, const char *url,
	const char *method, const char *version, const char *upload_data,
	size_t *upload_data_size, void **con_cls)
{
	struct websrv *w = cls;
	struct buf body, tpl, rows, path;
	const char *error;
	enum MHD_Result ret;

	buf_init(&body);
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		buf_puts(&body, "method not allowed\n");
		ret = respond(conn, 405, "text/plain; charset=utf-8", &body);
		buf_free(&body);
		return ret;
	}
	buf_init(&path);
	if (strcmp(url, "/status.css") == 0) {
		buf_printf(&path, "%s/status.css", w->www_dir);
		if (ms_read_file(path.data, &body) == 0)
			ret = respond(conn, 200, "text/css; charset=utf-8", &body);
		else
			ret = respond(conn, 404, "text/plain; charset=utf-8", &body);
	} else if (strcmp(url, "/") == 0) {
		buf_init(&tpl);
		buf_init(&rows);
		buf_printf(&path, "%s/status.html", w->templates_dir);
		if (ms_read_file(path.data, &tpl) < 0) {
			buf_printf(&body, "template %s missing\n", path.data);
			ret = respond(conn, 500, "text/plain; charset=utf-8", &body);
		} else if (status_rows(w, &rows, &error) < 0) {
			log_error(NULL, "proto=http ev=status-failed error=%s", lq(error));
			buf_puts(&body, "database error\n");
			ret = respond(conn, 500, "text/plain; charset=utf-8", &body);
		} else {
			const char *kv[] = { "version", PACKAGE_VERSION, "rows", rows.data };

			render(&body, tpl.data, kv, MS_NELEM(kv));
			ret = respond(conn, 200, "text/html; charset=utf-8", &body);
		}
		buf_free(&tpl);
		buf_free(&rows);
	} else {
		buf_puts(&body, "not found\n");
		ret = respond(conn, 404, "text/plain; charset=utf-8", &body);
	}
	buf_free(&path);
	buf_free(&body);
	return ret;
}

struct websrv *
websrv_start(struct store *st, const char *hostport, const char *templates_dir,
	const char **error_r)
{
	struct sockaddr_in sin;
	struct websrv *w;
	char *host, *slash;
	unsigned port;

	if (conf_split_hostport(hostport, &host, &port) < 0) {
		*error_r = ms_err("bad web listen address %s", hostport);
		return NULL;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
		*error_r = ms_err("web listen address must be an IPv4 address: %s", hostport);
		free(host);
		return NULL;
	}
	free(host);
	w = xcalloc(1, sizeof(*w));
	w->st = st;
	w->templates_dir = xstrdup(templates_dir);
	w->www_dir = xstrdup(templates_dir);
	slash = strrchr(w->www_dir, '/');
	if (slash != NULL)
		*slash = '\0';
	{
		char *www = xasprintf("%s/www", w->www_dir);
		free(w->www_dir);
		w->www_dir = www;
	}
	w->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
		(uint16_t)port, NULL, NULL, handler, w,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30,
		MHD_OPTION_END);
	if (w->d == NULL) {
		*error_r = ms_err("cannot start web server on %s", hostport);
		free(w->templates_dir);
		free(w->www_dir);
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
	MHD_stop_daemon(w->d);
	free(w->templates_dir);
	free(w->www_dir);
	free(w);
	*wp = NULL;
}
