/* GET /webmail/msg/<id>/...: a message of the session's account as raw
 * text, its text or sanitized HTML for the sandboxed iframe, one part
 * inline or as a download, or all attachments as a zip. Every answer has a
 * strict CSP and nosniff; another account's message is a 404. */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"
#include "db/db.h"
#include "mail/html_sanitize.h"
#include "mail/mime.h"
#include "store/store.h"
#include "webmail/webmail_private.h"

/* cid: images are put inline up to this many bytes in all: the sandboxed
 * document has an opaque origin, so the browser would not send the
 * SameSite=Strict session cookie with a request for the part. */
#define MSG_INLINE_MAX (10 * 1024 * 1024)


#define CSP_PLAIN "default-src 'none'; frame-ancestors 'self'; base-uri 'none'; form-action 'none'; sandbox"
#define CSP_HTML "default-src 'none'; style-src 'unsafe-inline'; img-src data:; " \
	"frame-ancestors 'self'; base-uri 'none'; form-action 'none'; " \
	"sandbox allow-popups allow-popups-to-escape-sandbox"
#define CSP_HTML_EXT "default-src 'none'; style-src 'unsafe-inline'; img-src data: http: https:; " \
	"font-src data: http: https:; frame-ancestors 'self'; base-uri 'none'; form-action 'none'; " \
	"sandbox allow-popups allow-popups-to-escape-sandbox"

struct msg {
	int64_t id;
	struct buf data;
	struct mime_part *root;
};

/* Load message id of the session's account; false after answering. */
static bool
msg_load(struct web_request *req, struct web_response *resp, int64_t id, struct msg *m)
{
	struct db_pool *pool = web_env_pool(req->env);
	const char *error = NULL;
	PGresult *res;
	PGconn *pc;

	m->id = id;
	buf_init(&m->data);
	m->root = NULL;
	pc = db_get(pool, &error);
	if (pc == NULL)
		goto fail;
	res = db_execv(pc, &error, "SELECT file_path FROM messages WHERE id = $1 AND account_id = $2",
		2, db_i64(id), db_i64(req->account_id));
	db_put(pool, pc);
	if (res == NULL)
		goto fail;
	if (PQntuples(res) != 1) {
		PQclear(res);
		web_resp_text(resp, 404, "no such message");
		return false;
	}
	if (store_msg_read(web_env_store(req->env), id, PQgetvalue(res, 0, 0), &m->data, &error) < 0) {
		PQclear(res);
		goto fail;
	}
	PQclear(res);
	m->root = mime_parse(m->data.data, m->data.len);
	return true;
fail:
	log_error(req->cid, "proto=http app=webmail ev=msg-load-failed msg=%lld error=%s",
		(long long)id, lq(error != NULL ? error : "?"));
	web_resp_text(resp, 500, "reading the message failed (see the server log)");
	buf_free(&m->data);
	return false;
}

static void
msg_free(struct msg *m)
{
	mime_free(&m->root);
	buf_free(&m->data);
}

static const char *
param(const struct mime_param *ps, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(ps[i].name, name) == 0)
			return ps[i].value;
	return NULL;
}

static const char *
part_filename(const struct mime_part *p)
{
	const char *f = param(p->disp_params, p->ndisp_params, "filename");

	if (f == NULL || *f == '\0')
		f = param(p->params, p->nparams, "name");
	return f != NULL && *f != '\0' ? f : NULL;
}

static bool
is_attachment(const struct mime_part *p)
{
	if (p->nparts > 0)
		return false;
	if (p->disposition != NULL && strcmp(p->disposition, "attachment") == 0)
		return true;
	if (part_filename(p) != NULL)
		return true;
	return strcmp(p->type, "text") != 0 && strcmp(p->type, "message") != 0;
}

/* Children of p for path indexes: an attached message's parts are those
 * of the inner message. */
static const struct mime_part *
part_child(const struct mime_part *p, unsigned long i)
{
	if (p->message != NULL)
		p = p->message;
	if (p->nparts > 0)
		return i < p->nparts ? &p->parts[i] : NULL;
	return NULL;
}

/* Path "0" is the whole message, "0.1" its second part, ... */
static const struct mime_part *
part_by_path(const struct mime_part *root, const char *path)
{
	const struct mime_part *p = root;
	const char *s = path;
	char *end;

	if (s[0] != '0' || (s[1] != '\0' && s[1] != '.'))
		return NULL;
	s++;
	while (*s == '.') {
		unsigned long i;

		s++;
		if (*s < '0' || *s > '9')
			return NULL;
		i = strtoul(s, &end, 10);
		if (end == s || i > 10000)
			return NULL;
		p = part_child(p, i);
		if (p == NULL)
			return NULL;
		s = end;
	}
	return *s == '\0' ? p : NULL;
}

/* Depth-first first part of type/subtype that is no attachment. */
static const struct mime_part *
find_body(const struct mime_part *p, const char *subtype)
{
	size_t i;

	if (p->message != NULL)
		return NULL;	/* attached messages are shown on their own */
	if (p->nparts == 0) {
		bool att = p->disposition != NULL && strcmp(p->disposition, "attachment") == 0;

		return !att && strcmp(p->type, "text") == 0 && strcmp(p->subtype, subtype) == 0 ?
			p : NULL;
	}
	for (i = 0; i < p->nparts; i++) {
		const struct mime_part *q = find_body(&p->parts[i], subtype);

		if (q != NULL)
			return q;
	}
	return NULL;
}

static void
common_headers(struct web_response *resp, const char *csp)
{
	web_resp_header(resp, "Content-Security-Policy", csp);
	web_resp_header(resp, "X-Content-Type-Options", "nosniff");
	web_resp_header(resp, "Cache-Control", "no-store, max-age=0");
	web_resp_header(resp, "Referrer-Policy", "no-referrer");
}

static void
answer(struct web_response *resp, const char *ctype, const char *csp, const struct buf *body)
{
	resp->status = 200;
	buf_reset(&resp->body);
	buf_append(&resp->body, body->data, body->len);
	web_resp_header(resp, "Content-Type", ctype);
	common_headers(resp, csp);
}

struct cid_ctx {
	const struct msg *m;
	size_t inlined;
	unsigned lookups;	/* each walks the tree: bounded for huge messages */
};

static const struct mime_part *
find_cid(const struct mime_part *p, const char *cid, size_t n)
{
	size_t i;

	if (p->id != NULL) {
		const char *s = p->id;
		size_t l = strlen(s);

		if (l >= 2 && s[0] == '<' && s[l - 1] == '>') {
			s++;
			l -= 2;
		}
		if (l == n && strncasecmp(s, cid, n) == 0)
			return p;
	}
	for (i = 0; i < p->nparts; i++) {
		const struct mime_part *q = find_cid(&p->parts[i], cid, n);

		if (q != NULL)
			return q;
	}
	return NULL;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int
cid_inline(void *ctx, const char *cid, size_t n, struct buf *out)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	struct cid_ctx *c = ctx;
	const struct mime_part *p;
	struct buf id, dec;
	size_t i;
	int rc = -1;

	if (++c->lookups > 1000)
		return -1;
	/* RFC 2392: the cid URL is the Content-ID percent-encoded */
	buf_init(&id);
	for (i = 0; i < n; i++) {
		if (cid[i] == '%' && i + 2 < n && hexval(cid[i + 1]) >= 0 && hexval(cid[i + 2]) >= 0) {
			buf_putc(&id, (char)(hexval(cid[i + 1]) * 16 + hexval(cid[i + 2])));
			i += 2;
		} else {
			buf_putc(&id, cid[i]);
		}
	}
	p = find_cid(c->m->root, id.data, id.len);
	buf_free(&id);
	if (p == NULL || strcmp(p->type, "image") != 0 || strcmp(p->subtype, "svg+xml") == 0)
		return -1;
	buf_init(&dec);
	mime_decode_body(p, c->m->data.data, c->m->data.len, &dec);
	if (c->inlined + dec.len <= MSG_INLINE_MAX) {
		c->inlined += dec.len;
		buf_printf(out, "data:%s/%s;base64,", p->type, p->subtype);
		for (i = 0; i < dec.len; i += 3) {
			uint32_t v = (uint32_t)(unsigned char)dec.data[i] << 16;

			if (i + 1 < dec.len)
				v |= (uint32_t)(unsigned char)dec.data[i + 1] << 8;
			if (i + 2 < dec.len)
				v |= (unsigned char)dec.data[i + 2];
			buf_putc(out, b64[v >> 18 & 63]);
			buf_putc(out, b64[v >> 12 & 63]);
			buf_putc(out, i + 1 < dec.len ? b64[v >> 6 & 63] : '=');
			buf_putc(out, i + 2 < dec.len ? b64[v & 63] : '=');
		}
		rc = 0;
	}
	buf_free(&dec);
	return rc;
}

static void
route_html(struct web_response *resp, const struct msg *m, bool external)
{
	const struct mime_part *p = find_body(m->root, "html");
	struct html_sanitize_opts o = { 0 };
	struct cid_ctx cc = { m, 0, 0 };
	struct buf html, out;

	if (p == NULL) {
		web_resp_text(resp, 404, "the message has no HTML part");
		return;
	}
	buf_init(&html);
	buf_init(&out);
	mime_part_text(p, m->data.data, m->data.len, &html);
	o.allow_remote = external;
	o.cid_url = cid_inline;
	o.cid_ctx = &cc;
	buf_puts(&out, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
		"<meta name=\"referrer\" content=\"no-referrer\"></head><body>");
	html_sanitize(html.data, html.len, &o, &out);
	buf_puts(&out, "</body></html>\n");
	answer(resp, "text/html; charset=utf-8", external ? CSP_HTML_EXT : CSP_HTML, &out);
	buf_free(&html);
	buf_free(&out);
}

static void
route_text(struct web_response *resp, const struct msg *m)
{
	const struct mime_part *p = find_body(m->root, "plain");
	struct buf text, out;

	if (p == NULL) {
		web_resp_text(resp, 404, "the message has no text part");
		return;
	}
	buf_init(&text);
	buf_init(&out);
	mime_part_text(p, m->data.data, m->data.len, &text);
	buf_puts(&out, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body><pre>");
	web_html_escape(&out, text.data);
	buf_puts(&out, "</pre></body></html>\n");
	answer(resp, "text/html; charset=utf-8", CSP_PLAIN, &out);
	buf_free(&text);
	buf_free(&out);
}

/* RFC 6266 Content-Disposition: an ASCII fallback filename and the
 * UTF-8 one in filename* (RFC 8187). Directories are cut off. */
static void
disposition(struct buf *cd, const char *kind, const char *name)
{
	const char *s, *base = name;
	size_t i;

	for (s = name; *s != '\0'; s++)
		if (*s == '/' || *s == '\\')
			base = s + 1;
	if (*base == '\0')
		base = "attachment.bin";
	buf_puts(cd, kind);
	buf_puts(cd, "; filename=\"");
	for (i = 0; base[i] != '\0'; i++) {
		unsigned char c = (unsigned char)base[i];

		buf_putc(cd, c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '%' ? '_' : (char)c);
	}
	buf_puts(cd, "\"; filename*=UTF-8''");
	for (i = 0; base[i] != '\0'; i++) {
		unsigned char c = (unsigned char)base[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("!#$&+-.^_`|~", c) != NULL)
			buf_putc(cd, (char)c);
		else
			buf_printf(cd, "%%%02X", c);
	}
}

/* Types a browser shows without running anything. */
static bool
safe_inline(const struct mime_part *p)
{
	static const char *const images[] = { "png", "gif", "jpeg", "jpg", "webp", "bmp" };
	size_t i;

	if (strcmp(p->type, "text") == 0 && strcmp(p->subtype, "plain") == 0)
		return true;
	if (strcmp(p->type, "image") == 0)
		for (i = 0; i < MS_NELEM(images); i++)
			if (strcmp(p->subtype, images[i]) == 0)
				return true;
	return false;
}

static void
route_part(struct web_response *resp, const struct msg *m, const char *path, bool download)
{
	const struct mime_part *p = part_by_path(m->root, path);
	struct buf body, cd, ct;
	const char *name;

	if (p == NULL) {
		web_resp_text(resp, 404, "no such part");
		return;
	}
	buf_init(&body);
	buf_init(&cd);
	buf_init(&ct);
	if (p == m->root)
		buf_append(&body, m->data.data, m->data.len);
	else
		mime_decode_body(p, m->data.data, m->data.len, &body);
	name = part_filename(p);
	if (!download && safe_inline(p)) {
		if (strcmp(p->type, "text") == 0) {
			/* decoded to UTF-8, so a charset in the part cannot
			 * make the browser read it as something else */
			buf_reset(&body);
			mime_part_text(p, m->data.data, m->data.len, &body);
			buf_puts(&ct, "text/plain; charset=utf-8");
		} else {
			buf_printf(&ct, "%s/%s", p->type, p->subtype);
		}
		disposition(&cd, "inline", name != NULL ? name : "part");
	} else {
		/* anything else is only handed over as a file */
		buf_puts(&ct, "application/octet-stream");
		disposition(&cd, "attachment", name != NULL ? name : "attachment.bin");
	}
	answer(resp, ct.data, CSP_PLAIN, &body);
	web_resp_header(resp, "Content-Disposition", cd.data);
	buf_free(&body);
	buf_free(&cd);
	buf_free(&ct);
}

static la_ssize_t
zip_write_cb(struct archive *a, void *ctx, const void *p, size_t n)
{
	(void)a;
	if (web_resp_write(ctx, p, n) < 0)
		return -1;
	return (la_ssize_t)n;
}

struct zip_state {
	struct archive *a;
	const struct msg *m;
	char **names;
	size_t nnames;
	int rc;
};

static bool
name_taken(const struct zip_state *z, const char *n)
{
	size_t i;

	for (i = 0; i < z->nnames; i++)
		if (strcmp(z->names[i], n) == 0)
			return true;
	return false;
}

static void
zip_parts(struct zip_state *z, const struct mime_part *p, struct buf *path)
{
	size_t i, plen = path->len;

	if (z->rc < 0)
		return;
	if (p->nparts > 0) {
		for (i = 0; i < p->nparts; i++) {
			buf_printf(path, ".%zu", i);
			zip_parts(z, &p->parts[i], path);
			buf_truncate(path, plen);
		}
		return;
	}
	if (!is_attachment(p) || p == z->m->root) {
		return;
	}
	{
		const char *fn = part_filename(p), *s, *base = NULL;
		struct archive_entry *e;
		struct buf name, body;
		unsigned seq = 0;

		buf_init(&name);
		buf_init(&body);
		if (fn != NULL) {
			base = fn;
			for (s = fn; *s != '\0'; s++)
				if (*s == '/' || *s == '\\')
					base = s + 1;
		}
		if (base == NULL || *base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
			buf_printf(&name, "attachment-%s.bin", path->data);
		else
			buf_puts(&name, base);
		while (name_taken(z, name.data)) {
			buf_reset(&name);
			buf_printf(&name, "%u-%s", ++seq, base != NULL && *base != '\0' ? base : "attachment.bin");
		}
		z->names = xrealloc(z->names, (z->nnames + 1) * sizeof(*z->names));
		z->names[z->nnames++] = xstrdup(name.data);
		mime_decode_body(p, z->m->data.data, z->m->data.len, &body);
		e = archive_entry_new();
		archive_entry_set_pathname_utf8(e, name.data);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, (la_int64_t)body.len);
		archive_entry_set_mtime(e, time(NULL), 0);
		if (archive_write_header(z->a, e) != ARCHIVE_OK ||
		    (body.len > 0 && archive_write_data(z->a, body.data, body.len) != (la_ssize_t)body.len))
			z->rc = -1;
		archive_entry_free(e);
		buf_free(&name);
		buf_free(&body);
	}
}

static void
route_zip(struct web_request *req, struct web_response *resp, const struct msg *m)
{
	struct zip_state z;
	struct buf cd, path;
	size_t i;

	memset(&z, 0, sizeof(z));
	z.m = m;
	resp->status = 200;
	web_resp_header(resp, "Content-Type", "application/zip");
	common_headers(resp, CSP_PLAIN);
	buf_init(&cd);
	buf_printf(&cd, "attachment; filename=\"email-%lld-attachments.zip\"", (long long)m->id);
	web_resp_header(resp, "Content-Disposition", cd.data);
	buf_free(&cd);
	if (web_resp_stream_begin(resp) < 0)
		return;
	z.a = archive_write_new();
	archive_write_set_format_zip(z.a);
	/* names are UTF-8 whatever the locale; the zip says so (flag bit 11) */
	archive_write_set_format_option(z.a, "zip", "hdrcharset", "UTF-8");
	archive_write_set_bytes_in_last_block(z.a, 1);
	if (archive_write_open(z.a, resp, NULL, zip_write_cb, NULL) != ARCHIVE_OK)
		z.rc = -1;
	buf_init(&path);
	buf_puts(&path, "0");
	zip_parts(&z, m->root, &path);
	buf_free(&path);
	if (z.rc == 0)
		archive_write_close(z.a);
	else
		archive_write_fail(z.a);
	archive_write_free(z.a);
	log_info(req->cid, "proto=http app=webmail ev=attachments-zip msg=%lld files=%zu result=%s",
		(long long)m->id, z.nnames, z.rc == 0 ? "ok" : "failed");
	for (i = 0; i < z.nnames; i++)
		free(z.names[i]);
	free(z.names);
}

void
webmail_route_msg(struct web_request *req, struct web_response *resp)
{
	const char *s = req->subpath, *what;
	char *end;
	long long id;
	struct msg m;

	/* subpath: /msg/<id>/<what>[/<path>] */
	if (strncmp(s, "/msg/", 5) != 0 || s[5] < '1' || s[5] > '9') {
		web_resp_text(resp, 404, "not found");
		return;
	}
	id = strtoll(s + 5, &end, 10);
	if (id <= 0 || *end != '/') {
		web_resp_text(resp, 404, "not found");
		return;
	}
	what = end + 1;
	if (strcmp(what, "raw") != 0 && strcmp(what, "text") != 0 && strcmp(what, "html") != 0 &&
	    strcmp(what, "htmlexternal") != 0 && strcmp(what, "attachments.zip") != 0 &&
	    strncmp(what, "view/", 5) != 0 && strncmp(what, "download/", 9) != 0) {
		web_resp_text(resp, 404, "not found");
		return;
	}
	if (!msg_load(req, resp, id, &m))
		return;
	if (strcmp(what, "raw") == 0)
		/* text/plain whatever the message holds: nothing to run */
		answer(resp, "text/plain; charset=utf-8", CSP_PLAIN, &m.data);
	else if (strcmp(what, "text") == 0)
		route_text(resp, &m);
	else if (strcmp(what, "html") == 0)
		route_html(resp, &m, false);
	else if (strcmp(what, "htmlexternal") == 0)
		route_html(resp, &m, true);
	else if (strcmp(what, "attachments.zip") == 0)
		route_zip(req, resp, &m);
	else if (strncmp(what, "view/", 5) == 0)
		route_part(resp, &m, what + 5, false);
	else
		route_part(resp, &m, what + 9, true);
	msg_free(&m);
}
