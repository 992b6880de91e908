/* Templates from templates/ and static files from www/. Templates escape
 * every value for HTML; there is no way to insert raw text. Static files
 * are cached in memory with their gzip form and a strong ETag (a hash of
 * the content), revalidated by mtime/size on each request so edits show
 * up without a restart. */
#include "config.h"

#include <errno.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "core/log.h"
#include "core/util.h"
#include "web/web.h"
#include "web/web_private.h"

#define STATIC_MAX_FILE (8 * 1024 * 1024)	/* larger files are not served */
#define STATIC_CACHE_MAX 256			/* entries */
#define GZIP_MIN 256				/* smaller bodies are sent as is */

struct web_file {
	struct web_file *next;
	char *path;		/* full path */
	int64_t mtime_ns;
	off_t size;
	struct buf data, gz;	/* gz empty: not worth compressing */
	char etag[48];
	const char *type;
};

struct web_files {
	pthread_mutex_t mu;
	struct web_file *head;
	size_t n;
	/* Templates: path -> text, same revalidation. */
	struct web_file *tpl;
	size_t ntpl;
};

struct web_files *
web_files_new(void)
{
	struct web_files *f = xcalloc(1, sizeof(*f));

	pthread_mutex_init(&f->mu, NULL);
	return f;
}

static void
file_free(struct web_file *e)
{
	free(e->path);
	buf_free(&e->data);
	buf_free(&e->gz);
	free(e);
}

static void
list_free(struct web_file *e)
{
	struct web_file *next;

	for (; e != NULL; e = next) {
		next = e->next;
		file_free(e);
	}
}

void
web_files_free(struct web_files **fp)
{
	struct web_files *f = *fp;

	if (f == NULL)
		return;
	list_free(f->head);
	list_free(f->tpl);
	pthread_mutex_destroy(&f->mu);
	free(f);
	*fp = NULL;
}

static const struct {
	const char *ext, *type;
	bool compress;
} types[] = {
	{ ".html", "text/html; charset=utf-8", true },
	{ ".css", "text/css; charset=utf-8", true },
	{ ".js", "text/javascript; charset=utf-8", true },
	{ ".json", "application/json; charset=utf-8", true },
	{ ".svg", "image/svg+xml", true },
	{ ".txt", "text/plain; charset=utf-8", true },
	{ ".xml", "application/xml", true },
	{ ".ico", "image/x-icon", true },
	{ ".png", "image/png", false },
	{ ".jpg", "image/jpeg", false },
	{ ".woff2", "font/woff2", false },
};

static bool
gzip_buf(const struct buf *in, struct buf *out)
{
	z_stream z;
	int rc;

	memset(&z, 0, sizeof(z));
	/* windowBits 15 + 16: a gzip wrapper (RFC 1952), as Content-Encoding:
	 * gzip wants. Static files are compressed once, so the best level. */
	if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return false;
	buf_reserve(out, deflateBound(&z, in->len));
	z.next_in = (unsigned char *)in->data;
	z.avail_in = (uInt)in->len;
	z.next_out = (unsigned char *)out->data;
	z.avail_out = (uInt)(out->cap - 1);
	rc = deflate(&z, Z_FINISH);
	if (rc == Z_STREAM_END)
		out->len = z.total_out;
	deflateEnd(&z);
	if (rc != Z_STREAM_END)
		buf_reset(out);
	return rc == Z_STREAM_END;
}

/* The cache entry for path, loaded or refreshed; called with f->mu held.
 * Returns NULL when the file does not exist (errno ENOENT) or cannot be
 * served. */
static struct web_file *
file_get(struct web_file **head, size_t *count, const char *path, bool compress_table)
{
	struct web_file **pp, *e;
	struct stat st;
	int64_t mtime;
	size_t i;

	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > STATIC_MAX_FILE)
		return NULL;
	mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	for (pp = head; (e = *pp) != NULL; pp = &e->next)
		if (strcmp(e->path, path) == 0)
			break;
	if (e != NULL && e->mtime_ns == mtime && e->size == st.st_size)
		return e;
	if (e != NULL) {
		*pp = e->next;
		file_free(e);
		(*count)--;
	}
	if (*count >= STATIC_CACHE_MAX) {
		list_free(*head);
		*head = NULL;
		*count = 0;
	}
	e = xcalloc(1, sizeof(*e));
	e->path = xstrdup(path);
	buf_init(&e->data);
	buf_init(&e->gz);
	if (ms_read_file(path, &e->data) < 0) {
		file_free(e);
		return NULL;
	}
	e->mtime_ns = mtime;
	e->size = st.st_size;
	e->type = "application/octet-stream";
	if (compress_table) {
		unsigned char h[32];
		struct buf hex;
		size_t plen = strlen(path);
		bool compress = false;

		for (i = 0; i < MS_NELEM(types); i++) {
			size_t elen = strlen(types[i].ext);

			if (plen > elen && strcmp(path + plen - elen, types[i].ext) == 0) {
				e->type = types[i].type;
				compress = types[i].compress;
				break;
			}
		}
		SHA256((const unsigned char *)e->data.data, e->data.len, h);
		buf_init(&hex);
		ms_hex_encode(&hex, h, 12);
		snprintf(e->etag, sizeof(e->etag), "\"%s\"", hex.data);
		buf_free(&hex);
		if (compress && e->data.len >= GZIP_MIN && gzip_buf(&e->data, &e->gz) &&
		    e->gz.len + 64 >= e->data.len)
			buf_reset(&e->gz);
	}
	e->next = *head;
	*head = e;
	(*count)++;
	return e;
}

/* Does the If-None-Match list contain etag (RFC 9110 section 13.1.2; weak
 * comparison, so "W/" prefixes are ignored)? */
static bool
etag_matches(const char *inm, const char *etag)
{
	const char *p = inm;
	size_t n = strlen(etag);

	while (*p != '\0') {
		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		if (*p == '*')
			return true;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (strncmp(p, etag, n) == 0 && (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
			return true;
		p += strcspn(p, ",");
	}
	return false;
}

static bool
accepts_gzip(const struct web_request *req)
{
	const char *ae = web_header(req, "accept-encoding");
	const char *p;

	if (ae == NULL)
		return false;
	for (p = ae; (p = strstr(p, "gzip")) != NULL; p += 4) {
		const char *q = p + 4;

		while (*q == ' ')
			q++;
		/* "gzip;q=0" refuses it (RFC 9110 section 12.5.3). */
		if (strncmp(q, ";q=", 3) == 0)
			return strtod(q + 3, NULL) > 0;
		return true;
	}
	return false;
}

/* Static file names: letters, digits, "-", "_", "." and "/" between
 * segments; no segment starting with "." (hidden files, "..").
 * web_parse_uri has already refused dot segments; this is the second
 * line of defence and keeps odd names out of the cache. */
static bool
static_name_ok(const char *rel)
{
	const char *p;

	if (rel[0] != '/' || rel[1] == '\0' || strlen(rel) > 200)
		return false;
	for (p = rel; *p != '\0'; p++) {
		char c = *p;

		if (c == '/') {
			if (p[1] == '.' || p[1] == '/' || p[1] == '\0')
				return false;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

bool
web_static(struct web_request *req, struct web_response *resp, const char *dir,
	const char *rel)
{
	struct web_files *f = req->env->files;
	struct web_file *e;
	const char *inm;
	struct buf path;
	bool gz;

	if (strcmp(rel, "/") == 0 || !static_name_ok(rel))
		return false;
	buf_init(&path);
	buf_printf(&path, "%s/%s%s", req->env->www_dir, dir, rel);
	pthread_mutex_lock(&f->mu);
	e = file_get(&f->head, &f->n, path.data, true);
	buf_free(&path);
	if (e == NULL) {
		pthread_mutex_unlock(&f->mu);
		return false;
	}
	resp->status = 200;
	web_resp_header(resp, "ETag", e->etag);
	/* Names carry no version, so browsers revalidate (cheap: 304). */
	web_resp_header(resp, "Cache-Control", "no-cache");
	web_resp_header(resp, "Vary", "Accept-Encoding");
	inm = web_header(req, "if-none-match");
	if (inm != NULL && etag_matches(inm, e->etag)) {
		pthread_mutex_unlock(&f->mu);
		resp->status = 304;
		return true;
	}
	web_resp_header(resp, "Content-Type", e->type);
	gz = e->gz.len > 0 && accepts_gzip(req);
	if (gz)
		web_resp_header(resp, "Content-Encoding", "gzip");
	buf_reset(&resp->body);
	if (gz)
		buf_append(&resp->body, e->gz.data, e->gz.len);
	else
		buf_append(&resp->body, e->data.data, e->data.len);
	pthread_mutex_unlock(&f->mu);
	return true;
}

/* ---- templates ---- */

void
web_html_escape(struct buf *out, const char *s)
{
	for (; *s != '\0'; s++) {
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

static const char *
var_value(const char *const *vars, size_t nvars, const char *name, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < nvars; i += 2)
		if (strlen(vars[i]) == n && strncmp(vars[i], name, n) == 0)
			return vars[i + 1];
	return NULL;
}

/* Render tpl[0..len) into out. Sections nest. */
static void
render(struct buf *out, const char *tpl, size_t len, const char *const *vars, size_t nvars)
{
	const char *p = tpl, *end = tpl + len;

	while (p < end) {
		const char *open = memmem(p, (size_t)(end - p), "{{", 2), *close;
		const char *name;
		size_t n;

		if (open == NULL || (close = memmem(open + 2, (size_t)(end - open - 2), "}}", 2)) == NULL) {
			buf_append(out, p, (size_t)(end - p));
			return;
		}
		buf_append(out, p, (size_t)(open - p));
		name = open + 2;
		n = (size_t)(close - name);
		if (n > 0 && name[0] == '#') {
			/* {{#name}} ... {{/name}}: find the matching close tag,
			 * counting nested sections of the same name. */
			struct buf tag_open, tag_close;
			const char *q = close + 2, *body = q, *body_end = NULL;
			const char *v;
			int depth = 1;

			buf_init(&tag_open);
			buf_init(&tag_close);
			buf_puts(&tag_open, "{{#");
			buf_append(&tag_open, name + 1, n - 1);
			buf_puts(&tag_open, "}}");
			buf_puts(&tag_close, "{{/");
			buf_append(&tag_close, name + 1, n - 1);
			buf_puts(&tag_close, "}}");
			while (q < end) {
				const char *o = memmem(q, (size_t)(end - q), tag_open.data, tag_open.len);
				const char *c = memmem(q, (size_t)(end - q), tag_close.data, tag_close.len);

				if (c == NULL)
					break;
				if (o != NULL && o < c) {
					depth++;
					q = o + tag_open.len;
					continue;
				}
				if (--depth == 0) {
					body_end = c;
					q = c + tag_close.len;
					break;
				}
				q = c + tag_close.len;
			}
			if (body_end == NULL) {
				/* Unclosed: the rest is the section. */
				body_end = end;
				q = end;
			}
			v = var_value(vars, nvars, name + 1, n - 1);
			if (v != NULL && v[0] != '\0')
				render(out, body, (size_t)(body_end - body), vars, nvars);
			buf_free(&tag_open);
			buf_free(&tag_close);
			p = q;
			continue;
		}
		{
			const char *v = var_value(vars, nvars, name, n);
			struct buf tmp;

			if (v != NULL) {
				buf_init(&tmp);
				web_html_escape(&tmp, v);
				buf_append(out, tmp.data, tmp.len);
				buf_free(&tmp);
			}
		}
		p = close + 2;
	}
}

void
web_route_page(struct web_request *req, struct web_response *resp)
{
	const char *app = req->app->name;
	char *title = web_strdup(req, app), *file = xasprintf("%s.html", app);
	const char *vars[] = { "title", title, "version", PACKAGE_VERSION };
	struct buf html;
	const char *error;

	if (title[0] >= 'a' && title[0] <= 'z')
		title[0] = (char)(title[0] - 'a' + 'A');
	buf_init(&html);
	if (web_template(req->env, file, vars, MS_NELEM(vars), &html, &error) < 0) {
		log_error(req->cid, "proto=http app=%s ev=template-failed error=%s", app, lq(error));
		web_resp_text(resp, 500, "page template missing (see the server log)");
	} else {
		web_resp_html(resp, 200, &html);
	}
	buf_free(&html);
	free(file);
}

int
web_template(struct web_env *env, const char *name, const char *const *vars, size_t nvars,
	struct buf *out, const char **error_r)
{
	struct web_files *f = env->files;
	struct web_file *e;
	struct buf path;

	buf_init(&path);
	buf_printf(&path, "%s/%s", env->templates_dir, name);
	pthread_mutex_lock(&f->mu);
	e = file_get(&f->tpl, &f->ntpl, path.data, false);
	if (e == NULL) {
		pthread_mutex_unlock(&f->mu);
		*error_r = ms_err("template %s: %s", path.data, strerror(errno));
		buf_free(&path);
		return -1;
	}
	buf_free(&path);
	render(out, e->data.data, e->data.len, vars, nvars);
	pthread_mutex_unlock(&f->mu);
	return 0;
}
