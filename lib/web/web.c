/* Dispatch of web requests: the process environment, the host check of
 * DESIGN.md "Web", app prefixes, the JSON API ("POST <prefix>api/<Method>"
 * with {"params": [...]}, answered {"result": ...} or {"error": {"code",
 * "message"}}), routes, static files, response helpers and the access log
 * (logfmt, one line per request). */
#include "config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "auth/ratelimit.h"
#include "core/conf.h"
#include "core/log.h"
#include "core/util.h"
#include "db/db.h"
#include "web/web.h"
#include "web/web_private.h"

/* How long the list of client-settings domains is trusted. */
#define CLIENT_HOSTS_TTL_MS 3000

/* ---- environment ---- */

static void
free_strv(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
add_config_host(struct web_env *env, const char *h)
{
	size_t i;
	char *s;

	if (h == NULL || h[0] == '\0')
		return;
	s = xstrdup(h);
	ms_str_lower(s);
	if (s[strlen(s) - 1] == '.')
		s[strlen(s) - 1] = '\0';
	for (i = 0; i < env->nconfig_hosts; i++)
		if (strcmp(env->config_hosts[i], s) == 0) {
			free(s);
			return;
		}
	env->config_hosts = xrealloc(env->config_hosts, (env->nconfig_hosts + 1) * sizeof(char *));
	env->config_hosts[env->nconfig_hosts++] = s;
}

/* The configured directory; when that is the default and not installed
 * (programs run from the build tree), the source tree's. */
static const char *
dir_or_source(const char *configured, const char *dflt, const char *source)
{
	struct stat st;

	if (strcmp(configured, dflt) == 0 && stat(configured, &st) < 0 && stat(source, &st) == 0)
		return source;
	return configured;
}

struct web_env *
web_env_new(struct conf *conf, struct db_pool *pool, struct store *st,
	const char *templates_dir, const char *www_dir, const char **error_r)
{
	struct web_env *env = xcalloc(1, sizeof(*env));
	size_t i;

	env->conf = conf;
	env->pool = pool;
	env->st = st;
	if (templates_dir == NULL)
		templates_dir = dir_or_source(conf->web.templates, MS_PKGDATADIR "/templates",
			MS_SRCDIR "/templates");
	if (www_dir == NULL)
		www_dir = dir_or_source(conf->web.www, MS_PKGDATADIR "/www", MS_SRCDIR "/www");
	env->templates_dir = xstrdup(templates_dir);
	env->www_dir = xstrdup(www_dir);
	env->auth_failures = ratelimit_new_auth_failures();
	env->sessions = web_sessions_new();
	env->files = web_files_new();
	pthread_mutex_init(&env->hosts_lock, NULL);
	add_config_host(env, conf->general.hostname);
	for (i = 0; i < conf->nlisteners; i++)
		add_config_host(env, conf->listeners[i].hostname);
	/* Sessions removed elsewhere (logout in another process, password
	 * change, account removal) leave the cache at once. */
	env->listener = db_listener_start(db_pool_conninfo(pool), error_r);
	if (env->listener == NULL) {
		web_env_free(&env);
		return NULL;
	}
	db_listener_subscribe(env->listener, WEB_SESSION_CHANNEL, web_sessions_notify,
		env->sessions);
	return env;
}

void
web_env_free(struct web_env **envp)
{
	struct web_env *env = *envp;
	size_t i;

	if (env == NULL)
		return;
	db_listener_stop(&env->listener);
	web_sessions_free(&env->sessions);
	web_files_free(&env->files);
	ratelimit_free(&env->auth_failures);
	for (i = 0; i < env->nconfig_hosts; i++)
		free(env->config_hosts[i]);
	free(env->config_hosts);
	free_strv(env->client_hosts, env->nclient_hosts);
	free_strv(env->wellknown_hosts, env->nwellknown_hosts);
	pthread_mutex_destroy(&env->hosts_lock);
	free(env->templates_dir);
	free(env->www_dir);
	free(env);
	*envp = NULL;
}

struct conf *
web_env_conf(const struct web_env *env)
{
	return env->conf;
}

struct store *
web_env_store(const struct web_env *env)
{
	return env->st;
}

struct db_pool *
web_env_pool(const struct web_env *env)
{
	return env->pool;
}

struct db_listener *
web_env_listener(const struct web_env *env)
{
	return env->listener;
}

/* ---- host-based access ---- */

static int
load_client_hosts(struct web_env *env, const char **error_r)
{
	PGconn *c = db_get(env->pool, error_r);
	PGresult *res;
	char **v, **w;
	int i, n, nw = 0;

	if (c == NULL)
		return -1;
	/* Column 1: client-settings domains; column 2: an enabled domain,
	 * whose autoconfig./autodiscover./mta-sts. names get the well-known
	 * endpoints. */
	res = db_execv(c, error_r,
		"SELECT lower(rtrim(client_settings_domain, '.')), CASE WHEN disabled THEN '' ELSE name END"
		" FROM domains", 0);
	db_put(env->pool, c);
	if (res == NULL)
		return -1;
	n = PQntuples(res);
	v = xcalloc((size_t)n + 1, sizeof(char *));
	w = xcalloc((size_t)n * 3 + 1, sizeof(char *));
	for (i = 0; i < n; i++) {
		const char *d = PQgetvalue(res, i, 1);

		v[i] = xstrdup(PQgetvalue(res, i, 0));
		if (d[0] != '\0') {
			w[nw++] = xasprintf("autoconfig.%s", d);
			w[nw++] = xasprintf("autodiscover.%s", d);
			w[nw++] = xasprintf("mta-sts.%s", d);
		}
	}
	PQclear(res);
	free_strv(env->client_hosts, env->nclient_hosts);
	env->client_hosts = v;
	env->nclient_hosts = (size_t)n;
	free_strv(env->wellknown_hosts, env->nwellknown_hosts);
	env->wellknown_hosts = w;
	env->nwellknown_hosts = (size_t)nw;
	env->client_hosts_ms = ms_mono_ms();
	return 0;
}

enum host_access { HOST_NO, HOST_YES, HOST_WELLKNOWN };

/* Does the app answer requests for host? (the seeds on host-based routing:
 * the admin interface only for IP addresses, the configured host names and
 * localhost; the user-facing ones also on client-settings domains, and
 * their well-known routes on autoconfig./autodiscover./mta-sts.<domain>) */
static enum host_access
host_allowed(struct web_env *env, const struct web_app *app, const char *host,
	const char *cid)
{
	enum host_access ok = HOST_NO;
	const char *error;
	size_t i;

	if (host[0] == '\0')
		return HOST_NO;
	if (web_host_is_ip(host) || strcmp(host, "localhost") == 0)
		return HOST_YES;
	for (i = 0; i < env->nconfig_hosts; i++)
		if (strcmp(env->config_hosts[i], host) == 0)
			return HOST_YES;
	if (app->hosts != WEB_HOSTS_USER)
		return HOST_NO;
	pthread_mutex_lock(&env->hosts_lock);
	if (env->client_hosts_ms == 0 || ms_mono_ms() - env->client_hosts_ms > CLIENT_HOSTS_TTL_MS) {
		if (load_client_hosts(env, &error) < 0)
			log_error(cid, "proto=http ev=client-hosts-failed error=%s", lq(error));
	}
	for (i = 0; i < env->nclient_hosts && ok == HOST_NO; i++)
		if (strcmp(env->client_hosts[i], host) == 0)
			ok = HOST_YES;
	for (i = 0; i < env->nwellknown_hosts && ok == HOST_NO; i++)
		if (strcmp(env->wellknown_hosts[i], host) == 0)
			ok = HOST_WELLKNOWN;
	pthread_mutex_unlock(&env->hosts_lock);
	return ok;
}

uint64_t
web_body_limit(const struct web_env *env, const struct web_app *const *apps, size_t napps,
	const char *method, const char *uri)
{
	const struct conf *conf = env->conf;
	size_t i, plen = strcspn(uri, "?");

	if (strcmp(method, "POST") != 0)
		return conf->web.max_body;
	for (i = 0; i < napps; i++) {
		const char *pfx = apps[i]->prefix, *up = apps[i]->upload_path;
		size_t n = strlen(pfx);

		/* The prefix ends in "/" and upload_path starts with one. */
		if (up != NULL && plen == n - 1 + strlen(up) && strncmp(uri, pfx, n - 1) == 0 &&
		    strncmp(uri + n - 1, up, strlen(up)) == 0)
			return conf->web.max_import > conf->web.max_body ? conf->web.max_import :
				conf->web.max_body;
	}
	return conf->web.max_body;
}

/* ---- responses ---- */

void
web_response_init(struct web_response *resp, const struct web_out_ops *ops, void *octx)
{
	memset(resp, 0, sizeof(*resp));
	resp->status = 200;
	buf_init(&resp->headers);
	buf_init(&resp->body);
	resp->ops = ops;
	resp->octx = octx;
}

void
web_response_free(struct web_response *resp)
{
	buf_free(&resp->headers);
	buf_free(&resp->body);
}

const char *
web_status_text(unsigned status)
{
	switch (status) {
	case 200: return "OK";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Content Too Large";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	}
	return "";
}

void
web_resp_header(struct web_response *resp, const char *name, const char *value)
{
	const char *p;

	buf_puts(&resp->headers, name);
	buf_puts(&resp->headers, ": ");
	for (p = value; *p != '\0'; p++)
		buf_putc(&resp->headers, *p == '\r' || *p == '\n' ? ' ' : *p);
	buf_puts(&resp->headers, "\r\n");
}

bool
web_resp_has_header(const struct web_response *resp, const char *name)
{
	const char *p = resp->headers.data;
	size_t n = strlen(name);

	while (*p != '\0') {
		if (ms_strncaseeq(p, name, n) && p[n] == ':')
			return true;
		p = strstr(p, "\r\n");
		if (p == NULL)
			break;
		p += 2;
	}
	return false;
}

void
web_resp_text(struct web_response *resp, unsigned status, const char *text)
{
	resp->status = status;
	buf_reset(&resp->body);
	buf_puts(&resp->body, text);
	if (text[0] != '\0' && text[strlen(text) - 1] != '\n')
		buf_putc(&resp->body, '\n');
	web_resp_header(resp, "Content-Type", "text/plain; charset=utf-8");
	web_resp_header(resp, "Cache-Control", "no-store");
}

/* Scripts and styles only from our own files, nothing inline, never
 * framed by others; frames only of our own URLs (the webmail shows message
 * HTML in a sandboxed iframe of /webmail/msg/<id>/html, which gets its own,
 * stricter policy). */
#define WEB_CSP "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
	"connect-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

void
web_resp_html(struct web_response *resp, unsigned status, const struct buf *html)
{
	resp->status = status;
	buf_reset(&resp->body);
	buf_append(&resp->body, html->data, html->len);
	web_resp_header(resp, "Content-Type", "text/html; charset=utf-8");
	web_resp_header(resp, "Content-Security-Policy", WEB_CSP);
	web_resp_header(resp, "Cache-Control", "no-store");
}

void
web_resp_json(struct web_response *resp, unsigned status, struct json_object *obj)
{
	resp->status = status;
	buf_reset(&resp->body);
	buf_puts(&resp->body, json_object_to_json_string_ext(obj,
		JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	buf_putc(&resp->body, '\n');
	web_resp_header(resp, "Content-Type", "application/json; charset=utf-8");
	web_resp_header(resp, "Cache-Control", "no-store");
}

void
web_resp_redirect(struct web_response *resp, unsigned status, const char *location)
{
	web_resp_header(resp, "Location", location);
	web_resp_text(resp, status, "moved");
}

void
web_set_cookie(struct web_request *req, struct web_response *resp, const char *name,
	const char *value, int max_age)
{
	struct buf c;

	buf_init(&c);
	buf_printf(&c, "%s=%s; Path=%s; HttpOnly; SameSite=Strict", name, value,
		req->app != NULL ? req->app->prefix : "/");
	if (max_age >= 0)
		buf_printf(&c, "; Max-Age=%d", max_age);
	if (req->https)
		buf_puts(&c, "; Secure");
	web_resp_header(resp, "Set-Cookie", c.data);
	buf_wipe(&c);
	buf_free(&c);
}

int
web_resp_stream_begin(struct web_response *resp)
{
	if (resp->streaming)
		return 0;
	resp->streaming = true;
	if (resp->ops->begin(resp->octx, resp) < 0) {
		resp->client_gone = true;
		return -1;
	}
	return 0;
}

int
web_resp_write(struct web_response *resp, const void *p, size_t n)
{
	if (!resp->streaming) {
		buf_append(&resp->body, p, n);
		return 0;
	}
	if (resp->client_gone || resp->ops->write(resp->octx, p, n) < 0) {
		resp->client_gone = true;
		return -1;
	}
	resp->sent += n;
	return 0;
}

int
web_resp_flush(struct web_response *resp)
{
	if (!resp->streaming)
		return 0;
	if (resp->client_gone || resp->ops->flush(resp->octx) < 0) {
		resp->client_gone = true;
		return -1;
	}
	return 0;
}

int
web_resp_sse(struct web_response *resp, const char *event, const char *data)
{
	struct buf b;
	const char *p = data;
	int rc;

	buf_init(&b);
	if (event != NULL)
		buf_printf(&b, "event: %s\n", event);
	/* Each line of data is its own "data:" field (HTML "server-sent
	 * events", 9.2.6). */
	for (;;) {
		size_t n = strcspn(p, "\r\n");

		buf_puts(&b, "data: ");
		buf_append(&b, p, n);
		buf_putc(&b, '\n');
		p += n;
		if (*p == '\0')
			break;
		p += p[0] == '\r' && p[1] == '\n' ? 2 : 1;
	}
	buf_putc(&b, '\n');
	rc = web_resp_write(resp, b.data, b.len);
	buf_free(&b);
	return rc == 0 ? web_resp_flush(resp) : rc;
}

void
web_response_finish(struct web_response *resp)
{
	if (resp->streaming) {
		(void)web_resp_flush(resp);
		return;
	}
	resp->streaming = true;
	resp->complete = true;
	if (resp->ops->begin(resp->octx, resp) < 0 ||
	    (resp->body.len > 0 && resp->ops->write(resp->octx, resp->body.data, resp->body.len) < 0)) {
		resp->client_gone = true;
		return;
	}
	resp->sent = resp->body.len;
	(void)resp->ops->flush(resp->octx);
}

/* ---- JSON API ---- */

unsigned
web_error_status(const char *code)
{
	if (strcmp(code, "user:noAuth") == 0 || strcmp(code, "user:badAuth") == 0 ||
	    strcmp(code, "user:loginFailed") == 0)
		return 403;
	if (strcmp(code, "user:notFound") == 0)
		return 404;
	if (strncmp(code, "user:", 5) == 0)
		return 400;
	return 500;
}

void
web_api_error_resp(struct web_request *req, struct web_response *resp, unsigned status,
	const char *code, const char *message)
{
	struct json_object *o = json_object_new_object(), *e = json_object_new_object();

	json_object_object_add(e, "code", json_object_new_string(code));
	json_object_object_add(e, "message", json_object_new_string(message));
	json_object_object_add(o, "error", e);
	web_resp_json(resp, status != 0 ? status : web_error_status(code), o);
	json_object_put(o);
	(void)req;
}

int
web_call_error(struct web_call *call, const char *code, const char *fmt, ...)
{
	va_list ap;

	call->err_code = code;
	buf_reset(&call->err_msg);
	va_start(ap, fmt);
	buf_vprintf(&call->err_msg, fmt, ap);
	va_end(ap);
	return -1;
}

int
web_call_server_error(struct web_call *call, const char *what, const char *error)
{
	log_error(call->req->cid, "proto=http app=%s ev=server-error what=%s error=%s",
		call->req->app->name, lq(what), lq(error));
	return web_call_error(call, "server:error", "%s failed (see the server log)", what);
}

PGresult *
web_call_query(struct web_call *call, const char *what, const char *sql, int n,
	const char *const *params)
{
	struct db_pool *pool = web_env_pool(call->req->env);
	const char *error;
	PGresult *res;
	PGconn *c;

	c = db_get(pool, &error);
	if (c == NULL) {
		web_call_server_error(call, what, error);
		return NULL;
	}
	res = db_exec(c, sql, n, params, &error);
	db_put(pool, c);
	if (res == NULL)
		web_call_server_error(call, what, error);
	return res;
}

int
web_call_cmd(struct web_call *call, const char *what, const char *sql, int n,
	const char *const *params)
{
	PGresult *res = web_call_query(call, what, sql, n, params);

	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

const char *
web_call_str(const struct web_call *call, size_t i)
{
	return json_object_get_string(call->params[i]);
}

int64_t
web_call_int(const struct web_call *call, size_t i)
{
	return json_object_get_int64(call->params[i]);
}

bool
web_call_bool(const struct web_call *call, size_t i)
{
	return json_object_get_boolean(call->params[i]);
}

int
web_api_version(struct web_call *call)
{
	call->result = json_object_new_string(PACKAGE_NAME " " PACKAGE_VERSION);
	return 0;
}

static void
api_dispatch(struct web_request *req, struct web_response *resp, const char *name)
{
	const struct web_app *app = req->app;
	const struct web_api_method *m = NULL;
	struct json_object *root = NULL, *o;
	struct web_call call;
	const char *code;
	struct buf msg;
	size_t i;

	if (strcmp(req->method, "POST") != 0) {
		web_resp_header(resp, "Allow", "POST");
		web_api_error_resp(req, resp, 405, "user:badRequest", "API calls use POST");
		return;
	}
	for (i = 0; i < app->nmethods; i++)
		if (strcmp(app->methods[i].name, name) == 0) {
			m = &app->methods[i];
			break;
		}
	if (m == NULL) {
		web_api_error_resp(req, resp, 404, "user:notFound", "no such API method");
		return;
	}
	memset(&call, 0, sizeof(call));
	call.req = req;
	call.resp = resp;
	buf_init(&call.err_msg);
	buf_init(&msg);
	if (web_api_parse(req->body.data, req->body.len, m, &root, &call.params, &code, &msg) < 0) {
		web_api_error_resp(req, resp, 400, code, msg.data);
		buf_free(&msg);
		buf_free(&call.err_msg);
		return;
	}
	buf_free(&msg);
	call.nparams = m->nparams;
	if ((m->flags & WEB_API_NOAUTH) == 0 &&
	    !web_auth(req, resp, true, true, web_header(req, "x-mailstead-csrf")))
		goto out;
	if (m->fn(&call) < 0) {
		if (call.err_code == NULL)
			web_call_error(&call, "server:error", "%s failed", m->name);
		web_api_error_resp(req, resp, call.status, call.err_code, call.err_msg.data);
		goto out;
	}
	o = json_object_new_object();
	json_object_object_add(o, "result", call.result);
	call.result = NULL;
	web_resp_json(resp, 200, o);
	json_object_put(o);
out:
	json_object_put(call.result);
	free(call.params);
	json_object_put(root);
	buf_free(&call.err_msg);
}

/* ---- dispatch ---- */

static bool
method_matches(const char *route, const char *method)
{
	return strcmp(route, method) == 0 ||
		(strcmp(route, "GET") == 0 && strcmp(method, "HEAD") == 0);
}

static void
route_dispatch(struct web_request *req, struct web_response *resp, bool wellknown_only)
{
	const struct web_app *app = req->app;
	bool path_found = false;
	size_t i;

	for (i = 0; i < app->nroutes; i++) {
		const struct web_route *r = &app->routes[i];
		bool match = (r->flags & WEB_ROUTE_PREFIX) != 0 ?
			strncmp(req->subpath, r->path, strlen(r->path)) == 0 :
			strcmp(req->subpath, r->path) == 0;

		if (!match || (wellknown_only && (r->flags & WEB_ROUTE_WELLKNOWN) == 0))
			continue;
		path_found = true;
		if (!method_matches(r->method, req->method))
			continue;
		if ((r->flags & WEB_ROUTE_AUTH) != 0) {
			bool post = strcmp(req->method, "POST") == 0;

			/* Form posts carry the CSRF token as field "csrf"; the
			 * form body is a query string. */
			const char *csrf = NULL;

			if (post && (r->flags & WEB_ROUTE_RAW) != 0) {
				csrf = web_header(req, "x-mailstead-csrf");
			} else if (post) {
				if (web_parse_query(req, req->body.data, &(const char *){ NULL }) < 0) {
					web_resp_text(resp, 400, "bad form body");
					return;
				}
				csrf = web_arg(req, "csrf");
			}
			if (!web_auth(req, resp, false, post, csrf))
				return;
		}
		r->fn(req, resp);
		return;
	}
	if (path_found) {
		web_resp_text(resp, 405, "method not allowed");
		return;
	}
	if (!wellknown_only && (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0) &&
	    (web_static(req, resp, app->name, req->subpath) ||
	     web_static(req, resp, "common", req->subpath)))
		return;
	web_resp_text(resp, 404, "not found");
}

static void
access_log(struct web_env *env, struct web_request *req, struct web_response *resp)
{
	if (!env->conf->web.access_log)
		return;
	log_info(req->cid, "proto=http app=%s method=%s path=%s status=%u size=%llu ms=%lld"
		" ip=%s host=%s https=%s%s%s",
		req->app != NULL ? req->app->name : "-", lq(req->method), lq(req->path), resp->status,
		(unsigned long long)resp->sent, (long long)(ms_mono_ms() - req->start_ms),
		lq(req->remote_ip), lq(req->host), req->https ? "yes" : "no",
		req->authenticated ? " account=" : "",
		req->authenticated ? lq(req->account_id != 0 ? req->account_name : "(admin)") : "");
}

static void
handle(struct web_env *env, const struct web_app *const *apps, size_t napps,
	struct web_request *req, struct web_response *resp)
{
	const struct web_app *app = NULL;
	const char *error = NULL, *cookie;
	enum host_access access = HOST_NO;
	size_t i, best = 0;

	if (web_parse_uri(req, req->uri, &error) < 0 ||
	    web_parse_query(req, req->query, &error) < 0 ||
	    ((cookie = web_header(req, "cookie")) != NULL &&
	     web_parse_cookies(req, cookie, &error) < 0)) {
		log_info(req->cid, "proto=http ev=bad-request error=%s", lq(error));
		web_resp_text(resp, 400, error);
		return;
	}
	for (i = 0; i < napps; i++) {
		const char *pfx = apps[i]->prefix;
		size_t n = strlen(pfx);

		if (strncmp(req->path, pfx, n) == 0 && n > best) {
			app = apps[i];
			best = n;
		} else if (n > 1 && strncmp(req->path, pfx, n - 1) == 0 && req->path[n - 1] == '\0' &&
			   host_allowed(env, apps[i], req->host, req->cid) == HOST_YES) {
			/* "/admin" to "/admin/": without the slash the browser
			 * would end up in the account app at "/" (the seeds). */
			web_resp_redirect(resp, 301, pfx);
			return;
		}
	}
	if (app == NULL || (access = host_allowed(env, app, req->host, req->cid)) == HOST_NO) {
		web_resp_text(resp, 404, "not found");
		return;
	}
	req->app = app;
	req->subpath = req->path + best - 1;
	if (req->body_too_large) {
		web_resp_text(resp, 413, "request body too large");
		return;
	}
	if (access == HOST_YES && strncmp(req->subpath, "/api/", 5) == 0) {
		api_dispatch(req, resp, req->subpath + 5);
		return;
	}
	route_dispatch(req, resp, access == HOST_WELLKNOWN);
}

void
web_handle(struct web_env *env, const struct web_app *const *apps, size_t napps,
	struct web_request *req, struct web_response *resp)
{
	req->env = env;
	handle(env, apps, napps, req, resp);
	if (!resp->streaming) {
		web_resp_header(resp, "X-Content-Type-Options", "nosniff");
		web_resp_header(resp, "Referrer-Policy", "same-origin");
	}
	web_response_finish(resp);
	access_log(env, req, resp);
}
