/* The web platform: one handler API for the web programs (admin, account,
 * webmail, webapi) and two front-ends that feed it, FastCGI (libfcgi,
 * web_fcgi.c) behind nginx/Apache and libmicrohttpd (web_mhd.c) inside
 * "mailstead localserve". A program is a struct web_app (routes, JSON API
 * methods, login) plus a three-line main calling web_fcgi_main.
 *
 * A request is answered by web_handle: host check (DESIGN.md "Web"), the
 * app's prefix, then "<prefix>api/<Method>" (JSON API), the app's routes,
 * and static files from www/<app>/. Memory of a request lives in its
 * arena (web_alloc) and is freed when the request is done. */
#ifndef MS_WEB_H
#define MS_WEB_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct conf;
struct db_listener;
struct db_pool;
struct store;
struct web_env;
struct web_arena;

/* Limits on what a request may carry; a request over them gets a 4xx. */
#define WEB_MAX_HEADERS 100
#define WEB_MAX_COOKIES 50
#define WEB_MAX_ARGS 100
#define WEB_MAX_URI 8192
#define WEB_JSON_MAX_DEPTH 32

struct web_kv {
	const char *name;
	const char *value;
};

struct web_request {
	/* ---- filled by the front-end ---- */
	const char *method;	/* as sent, e.g. "GET" */
	const char *uri;	/* raw request target: path and query */
	const char *host;	/* lower case, no port or trailing dot; "" unknown */
	const char *remote_ip, *local_ip;	/* "" when unknown */
	bool https;		/* the client talks TLS to the web server */
	struct web_kv *headers;	/* names in lower case */
	size_t nheaders;
	struct buf body;
	bool body_too_large;	/* the front-end stopped reading at max_body */
	char cid[16];		/* log id of the request */

	/* ---- filled by web_handle ---- */
	const char *path;	/* percent-decoded path of uri, starts with "/" */
	const char *query;	/* raw query after '?', "" if none */
	struct web_kv *cookies;
	size_t ncookies;
	struct web_kv *args;	/* decoded query parameters */
	size_t nargs;
	struct web_env *env;
	const struct web_app *app;
	const char *subpath;	/* path below the app's prefix, starts with "/" */

	/* ---- a valid session (web_auth) ---- */
	bool authenticated;
	int64_t account_id;	/* 0 for admin sessions */
	const char *account_name;	/* "" for admin */
	const char *login_address;
	unsigned char session_hash[32];	/* SHA-256 of the session token */

	struct web_arena *arena;
	int64_t start_ms;	/* monotonic, for the access log */
};

/* What the front-end does with a response. begin sends the status line and
 * headers (once), write sends body bytes, flush pushes them out (SSE). Each
 * returns 0 or -1 when the client is gone. */
struct web_response;
struct web_out_ops {
	int (*begin)(void *ctx, struct web_response *resp);
	int (*write)(void *ctx, const void *p, size_t n);
	int (*flush)(void *ctx);
};

struct web_response {
	unsigned status;
	struct buf headers;	/* "Name: value\r\n" lines */
	struct buf body;	/* buffered body (not streaming) */
	bool streaming;		/* headers sent, body goes out by web_resp_write */
	bool complete;		/* begin is called with the whole body in body */
	bool client_gone;
	uint64_t sent;		/* body bytes written (access log) */
	const struct web_out_ops *ops;
	void *octx;
};

/* ---- request arena and accessors ---- */

struct web_arena *web_arena_new(void);
void web_arena_free(struct web_arena **a);
/* Memory that lives until the request is done (never NULL). */
void *web_alloc(struct web_request *req, size_t n);
char *web_strdup(struct web_request *req, const char *s);
char *web_strndup(struct web_request *req, const char *s, size_t n);

/* Initialize / release a request and a response (front-ends). */
void web_request_init(struct web_request *req);
void web_request_free(struct web_request *req);
void web_response_init(struct web_response *resp, const struct web_out_ops *ops, void *octx);
void web_response_free(struct web_response *resp);

/* A header's value (name in lower case), or NULL. */
const char *web_header(const struct web_request *req, const char *name);
/* A cookie's value, or NULL. */
const char *web_cookie(const struct web_request *req, const char *name);
/* A query parameter's decoded value, or NULL. */
const char *web_arg(const struct web_request *req, const char *name);

/* ---- responses ---- */

/* Reason phrase of an HTTP status code (RFC 9110 section 15), "" when
 * unknown. */
const char *web_status_text(unsigned status);
/* Add a header; CR and LF in value become spaces. */
void web_resp_header(struct web_response *resp, const char *name, const char *value);
/* Whether a header was added (name compared ignoring case). */
bool web_resp_has_header(const struct web_response *resp, const char *name);
/* A complete small answer: status, content type and body text. */
void web_resp_text(struct web_response *resp, unsigned status, const char *text);
/* An HTML page with the strict Content-Security-Policy. */
void web_resp_html(struct web_response *resp, unsigned status, const struct buf *html);
void web_resp_json(struct web_response *resp, unsigned status, struct json_object *obj);
void web_resp_redirect(struct web_response *resp, unsigned status, const char *location);

/* Cookie attributes per the seeds: HttpOnly, SameSite=Strict, Path = the
 * app's prefix, Secure over HTTPS; max_age < 0 omits Max-Age (a session
 * cookie), 0 deletes the cookie. */
void web_set_cookie(struct web_request *req, struct web_response *resp, const char *name,
	const char *value, int max_age);

/* Streaming (SSE, large downloads): send the headers now; afterwards the
 * body goes out in web_resp_write calls, flushed by web_resp_flush. Only
 * in routes with WEB_ROUTE_STREAM. Return 0 or -1 when the client is gone. */
int web_resp_stream_begin(struct web_response *resp);
int web_resp_write(struct web_response *resp, const void *p, size_t n);
int web_resp_flush(struct web_response *resp);
/* One server-sent event (text/event-stream): "event: name" (when non-NULL)
 * and "data:" lines, flushed. */
int web_resp_sse(struct web_response *resp, const char *event, const char *data);

/* ---- apps ---- */

enum web_route_flags {
	WEB_ROUTE_PREFIX = 1,	/* path matches as a prefix */
	WEB_ROUTE_AUTH = 2,	/* needs a session (403 otherwise); POSTs need the csrf form field */
	WEB_ROUTE_STREAM = 4,	/* may stream its body */
	/* With WEB_ROUTE_AUTH, a POST whose body is data (an upload), not a
	 * form: the CSRF token comes in the x-mailstead-csrf header. */
	WEB_ROUTE_RAW = 8,
	/* Also answered on the well-known host names of every enabled domain
	 * (autoconfig.<domain>, autodiscover.<domain>, mta-sts.<domain>),
	 * where nothing else of the app is served. */
	WEB_ROUTE_WELLKNOWN = 16,
};

typedef void web_route_fn(struct web_request *req, struct web_response *resp);

struct web_route {
	const char *method;	/* "GET" (also answers HEAD), "POST", ... */
	const char *path;	/* below the prefix, e.g. "/" or "/export" */
	unsigned flags;
	web_route_fn *fn;
};

/* JSON API parameter types, checked before a method runs. */
enum web_json_type {
	WJ_STRING,
	WJ_INT,		/* a JSON number without fraction, int64 */
	WJ_BOOL,
	WJ_OBJECT,
	WJ_ARRAY,
	WJ_STRING_ARRAY,	/* array of strings */
	WJ_INT_ARRAY,		/* array of WJ_INT numbers */
	WJ_ANY,
};

struct web_param {
	const char *name;
	enum web_json_type type;
};

struct web_call {
	struct web_request *req;
	struct web_response *resp;
	struct json_object **params;	/* checked: params[i] has the declared type */
	size_t nparams;
	struct json_object *result;	/* set by the method (owned by the call) */
	const char *err_code;		/* set by web_call_error */
	struct buf err_msg;
	unsigned status;		/* HTTP status of an error; 0: by code */
};

/* A method returns 0 with call->result set (NULL is JSON null), or -1
 * after web_call_error. */
typedef int web_api_fn(struct web_call *call);

enum web_api_flags {
	WEB_API_NOAUTH = 1,	/* callable without a session (Login, Version) */
};

struct web_api_method {
	const char *name;
	const struct web_param *params;
	size_t nparams;
	unsigned flags;
	web_api_fn *fn;
};

/* Which Host headers an app answers (DESIGN.md "Web", the seeds): admin
 * only IP addresses, the host names of the configuration and localhost;
 * the user-facing apps also every domain's client-settings domain. */
enum web_hosts { WEB_HOSTS_ADMIN, WEB_HOSTS_USER };

enum web_session_kind {
	WEB_SESSION_NONE,
	WEB_SESSION_ADMIN,	/* [web] admin_session_idle, at most 10 */
	WEB_SESSION_ACCOUNT,	/* [web] account_session_idle, 100 per account */
};

/* Check a login: returns 1 valid (account_id_r, account_name_r in the
 * request arena; 0 and "" for admin), 0 bad credentials, -1 error. For a
 * refused login, *account_name_r may name the account it was for (logged
 * in login_attempts), else NULL. */
typedef int web_login_fn(struct web_request *req, const char *username, const char *password,
	int64_t *account_id_r, const char **account_name_r, const char **error_r);
/* A web_login_fn for account logins (the account pages, the webapi):
 * the password of the account with login address username, the name
 * also for a refused login of an existing account. */
int web_account_login(struct web_request *req, const char *username, const char *password,
	int64_t *account_id_r, const char **account_name_r, const char **error_r);

struct web_app {
	const char *name;	/* "account": logs, templates and www/<name>/ */
	const char *kind;	/* "webaccount": cookie names, login_attempts.protocol */
	const char *prefix;	/* "/" or "/admin/" (ends in "/") */
	enum web_hosts hosts;
	enum web_session_kind session;
	const struct web_route *routes;
	size_t nroutes;
	const struct web_api_method *methods;
	size_t nmethods;
	web_login_fn *login;
	/* A POST to this path below the prefix (e.g. "/import") may carry up
	 * to [web] max_import bytes instead of max_body; NULL: none. */
	const char *upload_path;
};

/* The body limit of a request for uri: [web] max_import for an app's
 * upload_path, else max_body. For the front-ends, before reading. */
uint64_t web_body_limit(const struct web_env *env, const struct web_app *const *apps,
	size_t napps, const char *method, const char *uri);

/* Login methods every app with sessions lists (WEB_API_NOAUTH):
 *   LoginPrep() -> loginToken (also set as cookie "<kind>login", 30 s)
 *   Login(loginToken, username, password) -> csrf token; admin apps use
 *     web_login_admin_params: Login(loginToken, password)
 *   Logout() (needs the session and CSRF header like other methods) */
extern const struct web_param web_login_params[3];
extern const struct web_param web_login_admin_params[2];
int web_api_loginprep(struct web_call *call);
int web_api_login(struct web_call *call);
int web_api_logout(struct web_call *call);
/* Version() -> "mailstead 0.1.0" */
int web_api_version(struct web_call *call);

/* Set an error on the call: code "user:error", "user:notFound",
 * "server:error", ...; returns -1. */
int web_call_error(struct web_call *call, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Log error (not shown to the user) and set "server:error"; returns -1. */
int web_call_server_error(struct web_call *call, const char *what, const char *error);
/* Run sql with n text parameters on a connection of the env's pool.
 * Returns the result (the caller PQclear()s) or NULL after
 * web_call_server_error(what). */
struct pg_result *web_call_query(struct web_call *call, const char *what, const char *sql,
	int n, const char *const *params);
/* The same for a statement whose result is not needed: 0 or -1. */
int web_call_cmd(struct web_call *call, const char *what, const char *sql, int n,
	const char *const *params);
const char *web_call_str(const struct web_call *call, size_t i);
int64_t web_call_int(const struct web_call *call, size_t i);
bool web_call_bool(const struct web_call *call, size_t i);

/* ---- sessions (web_session.c) ---- */

/* HTTP Basic authentication (RFC 7617) for programs without sessions (the
 * webapi): the Authorization header's user and password are checked by
 * the app's login function, behind the failed-login limiter shared with
 * the other logins, and recorded in login_attempts (auth mechanism
 * "httpbasic", protocol app->kind; successes at most once a minute per
 * login, client address and user agent). Returns 1 when valid: req->
 * authenticated, account_id, account_name and login_address are set and
 * *password_r (request arena; wipe is the caller's choice) is the
 * password; 0 when refused (*status_r 401 or 429, *error_r the reason for
 * the client); -1 on a server error (*status_r 500). */
int web_basic_auth(struct web_request *req, const char **password_r, unsigned *status_r,
	const char **error_r);

/* The result of a LoginAttempts(limit) method: the login_attempts rows of
 * account_name (NULL: all), most recent first, as an array of objects
 * {first, last, count, accountName, loginAddress, remoteIP, localIP, tls,
 * protocol, userAgent, authMech, result} (times in unix seconds). */
int web_login_attempts_result(struct web_call *call, const char *account_name, int64_t limit);

/* Remove every session of the account except the one of req (NULL: all),
 * e.g. after a password change; other processes hear of it by NOTIFY.
 * Returns 0 or -1. */
int web_sessions_remove_account(struct web_env *env, int64_t account_id,
	const struct web_request *keep, const char **error_r);
/* The same from a command (no env): deletes the rows and notifies. */
int web_sessions_remove_account_db(struct db_pool *pool, int64_t account_id,
	const char **error_r);

/* Admin password (table admin_password): set from the command line; check
 * returns 1 match, 0 no match or no password set, -1 error. */
int web_admin_password_set(struct db_pool *pool, const char *password, const char **error_r);
int web_admin_password_check(struct db_pool *pool, const char *password, const char **error_r);

/* ---- templates and static files (web_static.c) ---- */

/* Render templates/<name> with vars (name/value pairs): {{name}} is the
 * value HTML-escaped; {{#name}}...{{/name}} is kept only when the value is
 * non-empty. Unknown names render empty. Returns 0 or -1 (missing file). */
int web_template(struct web_env *env, const char *name, const char *const *vars,
	size_t nvars, struct buf *out, const char **error_r);
/* A route answering with the app's page: templates/<app name>.html with
 * {{title}} (the app's name capitalized) and {{version}}. */
void web_route_page(struct web_request *req, struct web_response *resp);
/* Append s HTML-escaped (& < > " '). */
void web_html_escape(struct buf *out, const char *s);

/* Answer a GET/HEAD for www/<dir>/<rel> with ETag, Cache-Control and gzip.
 * Returns true when it answered (file served, 304, or a refusal of a bad
 * path), false when there is no such file. */
bool web_static(struct web_request *req, struct web_response *resp, const char *dir,
	const char *rel);

/* ---- environment and dispatch (web.c) ---- */

/* Process-wide state of the web programs: the configuration, database,
 * store, failed-login limiter, session cache (kept current by LISTEN on
 * "mailstead_web_sessions"), static file cache and the client-settings
 * host names. templates_dir/www_dir NULL: from the configuration. */
struct web_env *web_env_new(struct conf *conf, struct db_pool *pool, struct store *st,
	const char *templates_dir, const char *www_dir, const char **error_r);
void web_env_free(struct web_env **env);
struct conf *web_env_conf(const struct web_env *env);
struct store *web_env_store(const struct web_env *env);
struct db_pool *web_env_pool(const struct web_env *env);
/* The env's LISTEN/NOTIFY listener (db.h), for apps that follow other
 * channels too (the webmail's /events on the store's channel). */
struct db_listener *web_env_listener(const struct web_env *env);

/* Answer req with the app whose prefix matches (longest first); the front-
 * end has filled the request. Always produces a response (buffered, or
 * already streamed) and logs it. */
void web_handle(struct web_env *env, const struct web_app *const *apps, size_t napps,
	struct web_request *req, struct web_response *resp);
/* Send a buffered response through the front-end (after web_handle). */
void web_response_finish(struct web_response *resp);

/* ---- parsers (web_parse.c), exposed for the tests and fuzzers ---- */

/* Percent-decode s[0..n) into out. plus_space: '+' is a space (query
 * strings). Refuses (-1) bad escapes and decoded NUL bytes. */
int web_url_decode(struct buf *out, const char *s, size_t n, bool plus_space);
/* Split uri into a decoded path and raw query. The path must start with
 * "/", and may not contain NUL, control characters, or "." / ".."
 * segments once decoded. Returns 0 or -1 (*error_r). */
int web_parse_uri(struct web_request *req, const char *uri, const char **error_r);
/* Query string "a=1&b=x%20y" into req->args. Returns 0 or -1. */
int web_parse_query(struct web_request *req, const char *query, const char **error_r);
/* Cookie header (RFC 6265 section 4.2.1, leniently: pairs separated by
 * ";", whitespace trimmed, quotes around a value removed) into
 * req->cookies; pairs without "=" are skipped. Returns 0 or -1 (too many). */
int web_parse_cookies(struct web_request *req, const char *header, const char **error_r);
/* Host header value: lower case, no port, no trailing dot; IPv6 literals
 * keep their brackets. Returns NULL for an invalid value. */
const char *web_parse_host(struct web_request *req, const char *value);
/* Whether host (as from web_parse_host) is an IP address literal. */
bool web_host_is_ip(const char *host);
/* Fill req from FastCGI/CGI parameters ("NAME=value" strings; RFC 3875
 * section 4.1 meta-variables and HTTP_* headers). Returns 0 or -1 with a
 * reason (the request is then answered 400). */
int web_parse_cgi_params(struct web_request *req, const char *const *envp, size_t n,
	bool trust_forwarded, const char **error_r);

/* Parse a JSON API request body {"params": [...]} and check the values
 * against the method's parameter list. Returns 0 with call->params set
 * (owned by *root_r, which the caller frees with json_object_put), or -1
 * with an error code ("user:badRequest", "user:badParams") and message. */
int web_api_parse(const char *body, size_t len, const struct web_api_method *m,
	struct json_object **root_r, struct json_object ***params_r, const char **code_r,
	struct buf *msg);

/* ---- front-ends ---- */

/* FastCGI main of a program: "-c mailstead.conf [-s socket]". Listens on
 * -s, else on a listening socket passed as standard input (spawn-fcgi,
 * systemd StandardInput=socket), else on the app's socket from [web];
 * drops to [general] user, runs [web] threads workers. */
int web_fcgi_main(const struct web_app *app, int argc, char **argv);

/* libmicrohttpd server hosting apps on hostport ("127.0.0.1:1080"), one
 * thread per connection. */
struct web_mhd;
struct web_mhd *web_mhd_start(struct web_env *env, const struct web_app *const *apps,
	size_t napps, const char *hostport, const char **error_r);
void web_mhd_stop(struct web_mhd **m);

#endif
