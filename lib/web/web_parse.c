/* Request parsing shared by both front-ends: the per-request arena, the
 * request target (RFC 9112 section 3.2, RFC 3986 percent-encoding), query
 * strings, the Cookie header (RFC 6265 section 4.2), the Host header, the
 * FastCGI/CGI parameters (RFC 3875 section 4.1) and the JSON API body.
 * Everything here is bounded and refuses rather than guesses. */
#include "config.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "web/web.h"

/* ---- arena ---- */

#define ARENA_CHUNK 4096

struct arena_chunk {
	struct arena_chunk *next;
	size_t used, cap;
	_Alignas(16) unsigned char data[];
};

struct web_arena {
	struct arena_chunk *head;
};

struct web_arena *
web_arena_new(void)
{
	return xcalloc(1, sizeof(struct web_arena));
}

void
web_arena_free(struct web_arena **ap)
{
	struct web_arena *a = *ap;
	struct arena_chunk *c, *next;

	if (a == NULL)
		return;
	for (c = a->head; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	free(a);
	*ap = NULL;
}

void *
web_alloc(struct web_request *req, size_t n)
{
	struct web_arena *a = req->arena;
	struct arena_chunk *c = a->head;
	void *p;

	n = (n + 15) & ~(size_t)15;
	if (n == 0)
		n = 16;
	if (c == NULL || c->cap - c->used < n) {
		size_t cap = n > ARENA_CHUNK / 2 ? n : ARENA_CHUNK;

		c = xmalloc(sizeof(*c) + cap);
		c->used = 0;
		c->cap = cap;
		/* A big allocation gets its own chunk behind the current one,
		 * so the current chunk's free space stays usable. */
		if (n > ARENA_CHUNK / 2 && a->head != NULL) {
			c->next = a->head->next;
			a->head->next = c;
		} else {
			c->next = a->head;
			a->head = c;
		}
	}
	p = c->data + c->used;
	c->used += n;
	return p;
}

char *
web_strndup(struct web_request *req, const char *s, size_t n)
{
	char *p = web_alloc(req, n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
web_strdup(struct web_request *req, const char *s)
{
	return web_strndup(req, s, strlen(s));
}

void
web_request_init(struct web_request *req)
{
	memset(req, 0, sizeof(*req));
	req->arena = web_arena_new();
	buf_init(&req->body);
	req->method = req->uri = req->host = req->remote_ip = req->local_ip = "";
	req->path = "/";
	req->query = req->subpath = req->account_name = req->login_address = "";
	log_new_cid(req->cid, sizeof(req->cid));
	req->start_ms = ms_mono_ms();
}

void
web_request_free(struct web_request *req)
{
	buf_free(&req->body);
	web_arena_free(&req->arena);
}

/* ---- lookups ---- */

static const char *
kv_find(const struct web_kv *v, size_t n, const char *name, bool ci)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ci ? ms_strcaseeq(v[i].name, name) : strcmp(v[i].name, name) == 0)
			return v[i].value;
	return NULL;
}

const char *
web_header(const struct web_request *req, const char *name)
{
	return kv_find(req->headers, req->nheaders, name, true);
}

const char *
web_cookie(const struct web_request *req, const char *name)
{
	return kv_find(req->cookies, req->ncookies, name, false);
}

const char *
web_arg(const struct web_request *req, const char *name)
{
	return kv_find(req->args, req->nargs, name, false);
}

/* ---- URI, query, cookies, host ---- */

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
web_url_decode(struct buf *out, const char *s, size_t n, bool plus_space)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '%') {
			int hi, lo;

			if (n - i < 3)
				return -1;
			hi = hexval(s[i + 1]);
			lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -1;
			buf_putc(out, (char)(hi << 4 | lo));
			i += 2;
		} else if (c == '+' && plus_space) {
			buf_putc(out, ' ');
		} else if (c == '\0') {
			return -1;
		} else {
			buf_putc(out, c);
		}
	}
	return 0;
}

int
web_parse_uri(struct web_request *req, const char *uri, const char **error_r)
{
	const char *q = strchr(uri, '?'), *p, *end;
	size_t plen = q != NULL ? (size_t)(q - uri) : strlen(uri);
	struct buf path;
	size_t i;

	if (strlen(uri) > WEB_MAX_URI) {
		*error_r = "request target too long";
		return -1;
	}
	/* RFC 9112 section 3.2.1 origin-form; the absolute-form of proxies
	 * does not reach us. */
	if (plen == 0 || uri[0] != '/') {
		*error_r = "request target must start with /";
		return -1;
	}
	buf_init(&path);
	if (web_url_decode(&path, uri, plen, false) < 0) {
		buf_free(&path);
		*error_r = "bad percent-encoding in path";
		return -1;
	}
	for (i = 0; i < path.len; i++) {
		unsigned char c = (unsigned char)path.data[i];

		if (c < 0x20 || c == 0x7f || c == '\\') {
			buf_free(&path);
			*error_r = "control character or backslash in path";
			return -1;
		}
	}
	/* No "." or ".." segments: nginx normalizes $uri, but the raw
	 * REQUEST_URI we read is the client's, and static files must never
	 * leave www/. */
	for (p = path.data; *p != '\0'; p = end) {
		size_t seg;

		p++;	/* the '/' */
		end = strchr(p, '/');
		if (end == NULL)
			end = p + strlen(p);
		seg = (size_t)(end - p);
		if ((seg == 1 && p[0] == '.') || (seg == 2 && p[0] == '.' && p[1] == '.')) {
			buf_free(&path);
			*error_r = "dot segment in path";
			return -1;
		}
	}
	req->path = web_strndup(req, path.data, path.len);
	buf_free(&path);
	req->query = q != NULL ? web_strdup(req, q + 1) : "";
	return 0;
}

int
web_parse_query(struct web_request *req, const char *query, const char **error_r)
{
	const char *p = query;
	struct web_kv *v;
	size_t n = 0, max = 1;
	struct buf name, value;
	int rc = 0;

	for (p = query; *p; p++)
		if (*p == '&')
			max++;
	if (max > WEB_MAX_ARGS) {
		*error_r = "too many query parameters";
		return -1;
	}
	v = web_alloc(req, max * sizeof(*v));
	buf_init(&name);
	buf_init(&value);
	for (p = query; *p != '\0';) {
		size_t len = strcspn(p, "&"), nlen;
		const char *eq = memchr(p, '=', len);

		nlen = eq != NULL ? (size_t)(eq - p) : len;
		buf_reset(&name);
		buf_reset(&value);
		if (len > 0 && (web_url_decode(&name, p, nlen, true) < 0 ||
		    (eq != NULL && web_url_decode(&value, eq + 1, len - nlen - 1, true) < 0))) {
			*error_r = "bad percent-encoding in query";
			rc = -1;
			break;
		}
		if (len > 0 && n < max) {
			v[n].name = web_strndup(req, name.data, name.len);
			v[n].value = web_strndup(req, value.data, value.len);
			n++;
		}
		p += len;
		if (*p == '&')
			p++;
	}
	buf_free(&name);
	buf_free(&value);
	req->args = v;
	req->nargs = rc == 0 ? n : 0;
	return rc;
}

static bool
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

int
web_parse_cookies(struct web_request *req, const char *header, const char **error_r)
{
	const char *p = header;
	struct web_kv *v = NULL;
	size_t n = 0;

	while (*p != '\0') {
		size_t len = strcspn(p, ";");
		const char *s = p, *e = p + len, *eq;

		p = *e == ';' ? e + 1 : e;
		while (s < e && is_ows(*s))
			s++;
		while (e > s && is_ows(e[-1]))
			e--;
		eq = memchr(s, '=', (size_t)(e - s));
		if (eq == NULL || eq == s)
			continue;
		if (n == WEB_MAX_COOKIES) {
			*error_r = "too many cookies";
			return -1;
		}
		if (v == NULL)
			v = web_alloc(req, WEB_MAX_COOKIES * sizeof(*v));
		{
			const char *ns = s, *ne = eq, *vs = eq + 1, *ve = e;

			while (ne > ns && is_ows(ne[-1]))
				ne--;
			while (vs < ve && is_ows(*vs))
				vs++;
			/* cookie-value = *cookie-octet / ( DQUOTE *cookie-octet DQUOTE ) */
			if (ve - vs >= 2 && vs[0] == '"' && ve[-1] == '"') {
				vs++;
				ve--;
			}
			v[n].name = web_strndup(req, ns, (size_t)(ne - ns));
			v[n].value = web_strndup(req, vs, (size_t)(ve - vs));
			n++;
		}
	}
	req->cookies = v;
	req->ncookies = n;
	return 0;
}

bool
web_host_is_ip(const char *host)
{
	unsigned char a[16];
	size_t n = strlen(host);

	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		char tmp[64];

		if (n - 2 >= sizeof(tmp))
			return false;
		memcpy(tmp, host + 1, n - 2);
		tmp[n - 2] = '\0';
		return inet_pton(AF_INET6, tmp, a) == 1;
	}
	return inet_pton(AF_INET, host, a) == 1;
}

const char *
web_parse_host(struct web_request *req, const char *value)
{
	size_t n = strlen(value), i, hostlen;
	const char *colon;
	char *h;

	if (n == 0 || n > 255)
		return NULL;
	if (value[0] == '[') {
		const char *end = strchr(value, ']');

		if (end == NULL)
			return NULL;
		hostlen = (size_t)(end - value) + 1;
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] != '\0' && end[1] != ':')
			return NULL;
	} else {
		colon = strchr(value, ':');
		hostlen = colon != NULL ? (size_t)(colon - value) : n;
	}
	if (colon != NULL) {
		uint64_t port;

		if (colon[1] != '\0' && ms_parse_u64(colon + 1, 0, 65535, &port) < 0)
			return NULL;
	}
	h = web_strndup(req, value, hostlen);
	for (i = 0; h[i] != '\0'; i++) {
		unsigned char c = (unsigned char)h[i];

		h[i] = ms_tolower(h[i]);
		/* reg-name of RFC 3986 section 3.2.2 as used for host names,
		 * plus the brackets and colons of IP-literals; UTF-8 for IDNA
		 * U-labels some clients send. */
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || c == '_' || c >= 0x80 ||
		      (h[0] == '[' && (c == ':' || c == '[' || c == ']'))))
			return NULL;
	}
	if (hostlen > 1 && h[hostlen - 1] == '.')
		h[hostlen - 1] = '\0';
	if (h[0] == '[' && !web_host_is_ip(h))
		return NULL;
	return h;
}

/* ---- CGI / FastCGI parameters ---- */

int
web_parse_cgi_params(struct web_request *req, const char *const *envp, size_t n,
	bool trust_forwarded, const char **error_r)
{
	const char *request_uri = NULL, *https = NULL, *host = NULL, *server_name = NULL;
	const char *ctype = NULL, *clen = NULL;
	struct buf name;
	size_t i, nh = 0;

	req->headers = web_alloc(req, (WEB_MAX_HEADERS + 2) * sizeof(struct web_kv));
	buf_init(&name);
	for (i = 0; i < n; i++) {
		const char *e = envp[i], *eq = strchr(e, '=');
		size_t nlen;

		if (eq == NULL || eq == e)
			continue;
		nlen = (size_t)(eq - e);
#define IS(s) (nlen == sizeof(s) - 1 && memcmp(e, s, nlen) == 0)
		if (IS("REQUEST_METHOD"))
			req->method = web_strdup(req, eq + 1);
		else if (IS("REQUEST_URI"))
			request_uri = eq + 1;
		else if (IS("HTTPS"))
			https = eq + 1;
		else if (IS("REMOTE_ADDR"))
			req->remote_ip = web_strdup(req, eq + 1);
		else if (IS("SERVER_ADDR"))
			req->local_ip = web_strdup(req, eq + 1);
		else if (IS("SERVER_NAME"))
			server_name = eq + 1;
		else if (IS("CONTENT_TYPE"))
			ctype = eq + 1;
		else if (IS("CONTENT_LENGTH"))
			clen = eq + 1;
#undef IS
		if (nlen > 5 && memcmp(e, "HTTP_", 5) == 0) {
			size_t j;

			/* Meta-variable names map back to header names: "_" was
			 * "-" (RFC 3875 section 4.1.18). */
			buf_reset(&name);
			for (j = 5; j < nlen; j++)
				buf_putc(&name, e[j] == '_' ? '-' : ms_tolower(e[j]));
			if (nh == WEB_MAX_HEADERS) {
				buf_free(&name);
				*error_r = "too many header fields";
				return -1;
			}
			req->headers[nh].name = web_strndup(req, name.data, name.len);
			req->headers[nh].value = web_strdup(req, eq + 1);
			if (strcmp(name.data, "host") == 0)
				host = eq + 1;
			nh++;
		}
	}
	buf_free(&name);
	/* CONTENT_TYPE and CONTENT_LENGTH are not HTTP_* variables. */
	if (ctype != NULL) {
		req->headers[nh].name = "content-type";
		req->headers[nh++].value = web_strdup(req, ctype);
	}
	if (clen != NULL && clen[0] != '\0') {
		req->headers[nh].name = "content-length";
		req->headers[nh++].value = web_strdup(req, clen);
	}
	req->nheaders = nh;
	if (req->method[0] == '\0') {
		*error_r = "no REQUEST_METHOD";
		return -1;
	}
	for (i = 0; req->method[i] != '\0'; i++)
		if (req->method[i] < 'A' || req->method[i] > 'Z') {
			*error_r = "bad REQUEST_METHOD";
			return -1;
		}
	if (request_uri == NULL || request_uri[0] == '\0') {
		*error_r = "no REQUEST_URI";
		return -1;
	}
	req->uri = web_strdup(req, request_uri);
	/* nginx: "fastcgi_param HTTPS $https if_not_empty" gives "on". */
	req->https = https != NULL && (ms_strcaseeq(https, "on") || strcmp(https, "1") == 0);
	if (trust_forwarded) {
		const char *proto = web_header(req, "x-forwarded-proto");
		const char *fwd = web_header(req, "x-forwarded-for");

		if (proto != NULL)
			req->https = ms_strcaseeq(proto, "https");
		if (fwd != NULL) {
			size_t len = strcspn(fwd, ",");
			const char *s = fwd;

			while (len > 0 && is_ows(*s)) {
				s++;
				len--;
			}
			while (len > 0 && is_ows(s[len - 1]))
				len--;
			if (len > 0)
				req->remote_ip = web_strndup(req, s, len);
		}
	}
	if (host == NULL)
		host = server_name;
	if (host != NULL) {
		const char *h = web_parse_host(req, host);

		if (h == NULL) {
			*error_r = "bad Host header";
			return -1;
		}
		req->host = h;
	}
	return 0;
}

/* ---- JSON API request body ---- */

static const char *
json_type_name(enum json_type t)
{
	switch (t) {
	case json_type_null: return "null";
	case json_type_boolean: return "boolean";
	case json_type_double: return "number with fraction";
	case json_type_int: return "integer";
	case json_type_object: return "object";
	case json_type_array: return "array";
	case json_type_string: return "string";
	}
	return "?";
}

static const char *
param_type_name(enum web_json_type t)
{
	switch (t) {
	case WJ_STRING: return "a string";
	case WJ_INT: return "an integer";
	case WJ_BOOL: return "a boolean";
	case WJ_OBJECT: return "an object";
	case WJ_ARRAY: return "an array";
	case WJ_STRING_ARRAY: return "an array of strings";
	case WJ_INT_ARRAY: return "an array of integers";
	case WJ_ANY: return "any value";
	}
	return "?";
}

static bool
param_type_ok(struct json_object *o, enum web_json_type t)
{
	enum json_type jt = json_object_get_type(o);
	size_t i, n;

	switch (t) {
	case WJ_STRING:
		return jt == json_type_string;
	case WJ_INT:
		/* json-c saturates out-of-range integers at INT64_MIN/MAX;
		 * those are refused rather than silently changed. */
		if (jt != json_type_int)
			return false;
		return json_object_get_int64(o) != INT64_MAX && json_object_get_int64(o) != INT64_MIN;
	case WJ_INT_ARRAY:
		if (jt != json_type_array)
			return false;
		n = json_object_array_length(o);
		for (i = 0; i < n; i++)
			if (!param_type_ok(json_object_array_get_idx(o, i), WJ_INT))
				return false;
		return true;
	case WJ_BOOL:
		return jt == json_type_boolean;
	case WJ_OBJECT:
		return jt == json_type_object;
	case WJ_ARRAY:
		return jt == json_type_array;
	case WJ_STRING_ARRAY:
		if (jt != json_type_array)
			return false;
		n = json_object_array_length(o);
		for (i = 0; i < n; i++)
			if (json_object_get_type(json_object_array_get_idx(o, i)) != json_type_string)
				return false;
		return true;
	case WJ_ANY:
		return true;
	}
	return false;
}

int
web_api_parse(const char *body, size_t len, const struct web_api_method *m,
	struct json_object **root_r, struct json_object ***params_r, const char **code_r,
	struct buf *msg)
{
	struct json_tokener *tok;
	struct json_object *root, *params;
	enum json_tokener_error jerr;
	struct json_object **pv;
	size_t i, n;

	*root_r = NULL;
	*params_r = NULL;
	*code_r = "user:badRequest";
	if (len > INT32_MAX || memchr(body, '\0', len) != NULL) {
		buf_puts(msg, "request body is not JSON text");
		return -1;
	}
	tok = json_tokener_new_ex(WEB_JSON_MAX_DEPTH);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, body, (int)len);
	jerr = json_tokener_get_error(tok);
	if (root != NULL && jerr == json_tokener_success &&
	    json_tokener_get_parse_end(tok) < len) {
		/* Only whitespace may follow the value. */
		for (i = json_tokener_get_parse_end(tok); i < len; i++)
			if (!strchr(" \t\r\n", body[i])) {
				json_object_put(root);
				root = NULL;
				buf_puts(msg, "text after the JSON value");
				json_tokener_free(tok);
				return -1;
			}
	}
	if (root == NULL || jerr != json_tokener_success) {
		if (jerr == json_tokener_continue)
			buf_puts(msg, "bad JSON: unexpected end of input");
		else
			buf_printf(msg, "bad JSON: %s", json_tokener_error_desc(jerr));
		json_object_put(root);
		json_tokener_free(tok);
		return -1;
	}
	json_tokener_free(tok);
	if (json_object_get_type(root) != json_type_object ||
	    !json_object_object_get_ex(root, "params", &params) ||
	    json_object_get_type(params) != json_type_array) {
		buf_puts(msg, "request must be an object {\"params\": [...]}");
		json_object_put(root);
		return -1;
	}
	*code_r = "user:badParams";
	n = json_object_array_length(params);
	if (n != m->nparams) {
		buf_printf(msg, "%s takes %zu parameter%s, got %zu", m->name, m->nparams,
			m->nparams == 1 ? "" : "s", n);
		json_object_put(root);
		return -1;
	}
	pv = xcalloc(n + 1, sizeof(*pv));
	for (i = 0; i < n; i++) {
		pv[i] = json_object_array_get_idx(params, i);
		if (!param_type_ok(pv[i], m->params[i].type)) {
			buf_printf(msg, "parameter %zu (%s) of %s must be %s, got %s", i + 1,
				m->params[i].name, m->name, param_type_name(m->params[i].type),
				json_type_name(json_object_get_type(pv[i])));
			free(pv);
			json_object_put(root);
			return -1;
		}
	}
	*root_r = root;
	*params_r = pv;
	return 0;
}
