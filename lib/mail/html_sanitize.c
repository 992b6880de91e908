/* HTML sanitizer for received mail (see html_sanitize.h). A small tokenizer
 * after the WHATWG HTML tokenizer states that matter here (data, tag open,
 * attributes, comments, raw text) feeds a writer that keeps an element and
 * attribute allow-list and a stack of open elements, so the output is a
 * well-formed fragment whose only raw-text element is a checked <style>. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/html_sanitize.h"

#define MAX_ATTRS 64

enum el_kind {
	EL_UNKNOWN = 0,	/* unwrap: drop the tag, keep the content */
	EL_KEEP,	/* keep with allowed attributes */
	EL_VOID,	/* keep, no end tag */
	EL_DROP,	/* drop with all content */
	EL_DROP_RAW,	/* raw text element: drop it and its text */
	EL_DROP_VOID,	/* drop, no content */
	EL_STYLE,	/* keep, content is CSS and is sanitized */
};

struct el_def {
	const char *name;
	enum el_kind kind;
};

/* Sorted for bsearch. */
static const struct el_def elements[] = {
	{ "a", EL_KEEP }, { "abbr", EL_KEEP }, { "address", EL_KEEP },
	{ "applet", EL_DROP }, { "area", EL_VOID }, { "article", EL_KEEP },
	{ "aside", EL_KEEP }, { "audio", EL_DROP }, { "b", EL_KEEP },
	{ "base", EL_DROP_VOID }, { "basefont", EL_DROP_VOID }, { "bdi", EL_KEEP },
	{ "bdo", EL_KEEP }, { "bgsound", EL_DROP_VOID }, { "big", EL_KEEP },
	{ "blockquote", EL_KEEP }, { "br", EL_VOID }, { "button", EL_DROP },
	{ "canvas", EL_DROP }, { "caption", EL_KEEP }, { "center", EL_KEEP },
	{ "cite", EL_KEEP }, { "code", EL_KEEP }, { "col", EL_VOID },
	{ "colgroup", EL_KEEP }, { "datalist", EL_DROP }, { "dd", EL_KEEP },
	{ "del", EL_KEEP }, { "details", EL_KEEP }, { "dfn", EL_KEEP },
	{ "dialog", EL_DROP }, { "div", EL_KEEP }, { "dl", EL_KEEP }, { "dt", EL_KEEP },
	{ "em", EL_KEEP }, { "embed", EL_DROP_VOID }, { "fieldset", EL_KEEP },
	{ "figcaption", EL_KEEP }, { "figure", EL_KEEP }, { "font", EL_KEEP },
	{ "footer", EL_KEEP }, { "frame", EL_DROP_VOID }, { "frameset", EL_DROP },
	{ "h1", EL_KEEP }, { "h2", EL_KEEP }, { "h3", EL_KEEP }, { "h4", EL_KEEP },
	{ "h5", EL_KEEP }, { "h6", EL_KEEP }, { "header", EL_KEEP }, { "hr", EL_VOID },
	{ "i", EL_KEEP }, { "iframe", EL_DROP_RAW }, { "img", EL_VOID },
	{ "input", EL_DROP_VOID }, { "ins", EL_KEEP }, { "kbd", EL_KEEP },
	{ "keygen", EL_DROP_VOID }, { "label", EL_KEEP }, { "legend", EL_KEEP },
	{ "li", EL_KEEP }, { "link", EL_DROP_VOID }, { "main", EL_KEEP },
	{ "map", EL_KEEP }, { "mark", EL_KEEP }, { "math", EL_DROP },
	{ "meta", EL_DROP_VOID }, { "meter", EL_DROP }, { "nav", EL_KEEP },
	{ "noembed", EL_DROP_RAW }, { "noframes", EL_DROP_RAW },
	{ "noscript", EL_DROP_RAW }, { "object", EL_DROP }, { "ol", EL_KEEP },
	{ "optgroup", EL_DROP }, { "option", EL_DROP }, { "output", EL_DROP },
	{ "p", EL_KEEP }, { "param", EL_DROP_VOID }, { "picture", EL_DROP },
	{ "plaintext", EL_DROP_RAW }, { "portal", EL_DROP }, { "pre", EL_KEEP },
	{ "progress", EL_DROP }, { "q", EL_KEEP }, { "rp", EL_KEEP }, { "rt", EL_KEEP },
	{ "ruby", EL_KEEP }, { "s", EL_KEEP }, { "samp", EL_KEEP },
	{ "script", EL_DROP_RAW }, { "section", EL_KEEP }, { "select", EL_DROP },
	{ "slot", EL_DROP }, { "small", EL_KEEP }, { "source", EL_DROP_VOID },
	{ "span", EL_KEEP }, { "strike", EL_KEEP }, { "strong", EL_KEEP },
	{ "style", EL_STYLE }, { "sub", EL_KEEP }, { "summary", EL_KEEP },
	{ "sup", EL_KEEP }, { "svg", EL_DROP }, { "table", EL_KEEP },
	{ "tbody", EL_KEEP }, { "td", EL_KEEP }, { "template", EL_DROP },
	{ "textarea", EL_DROP_RAW }, { "tfoot", EL_KEEP }, { "th", EL_KEEP },
	{ "thead", EL_KEEP }, { "time", EL_KEEP }, { "title", EL_DROP_RAW },
	{ "tr", EL_KEEP }, { "track", EL_DROP_VOID }, { "tt", EL_KEEP },
	{ "u", EL_KEEP }, { "ul", EL_KEEP }, { "var", EL_KEEP }, { "video", EL_DROP },
	{ "wbr", EL_VOID }, { "xmp", EL_DROP_RAW },
};

/* Attributes kept (besides the URL ones handled below); sorted. */
static const char *const plain_attrs[] = {
	"abbr", "align", "alt", "bgcolor", "border", "cellpadding", "cellspacing",
	"class", "clear", "color", "cols", "colspan", "coords", "datetime", "dir",
	"face", "headers", "height", "hspace", "lang", "nowrap", "open", "reversed",
	"rowspan", "rules", "scope", "shape", "size", "span", "start", "summary",
	"title", "type", "valign", "value", "vspace", "width",
};

struct attr {
	const char *name;
	size_t name_len;
	const char *val;	/* raw, entities not decoded; NULL: no value */
	size_t val_len;
};

struct tag {
	char name[16];	/* lower case; longer names are unknown elements */
	bool end, known_name;
	struct attr attrs[MAX_ATTRS];
	size_t nattrs;
};

struct san {
	const struct html_sanitize_opts *o;
	struct buf *out;
	size_t blocked;
	/* open kept elements */
	const struct el_def *stack[HTML_SANITIZE_MAX_DEPTH];
	size_t depth;
	/* inside a dropped element: its definition and nesting count */
	const struct el_def *drop;
	size_t drop_nest;
	struct buf tmp, tmp2;
};

static int
ascii_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static bool
is_alpha(int c)
{
	c = ascii_lower(c);
	return c >= 'a' && c <= 'z';
}

static bool
is_alnum(int c)
{
	return is_alpha(c) || (c >= '0' && c <= '9');
}

static bool
is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

static bool
ci_prefix(const char *s, size_t n, const char *pre)
{
	size_t i, m = strlen(pre);

	if (n < m)
		return false;
	for (i = 0; i < m; i++)
		if (ascii_lower((unsigned char)s[i]) != pre[i])
			return false;
	return true;
}

/* Case-insensitive search of needle (lower case) in s[0..n). */
static const char *
ci_find(const char *s, size_t n, const char *needle)
{
	size_t m = strlen(needle), i;

	if (m == 0 || n < m)
		return NULL;
	for (i = 0; i + m <= n; i++)
		if (ascii_lower((unsigned char)s[i]) == needle[0] && ci_prefix(s + i, n - i, needle))
			return s + i;
	return NULL;
}

static int
el_cmp(const void *k, const void *e)
{
	return strcmp(k, ((const struct el_def *)e)->name);
}

static const struct el_def *
el_lookup(const struct tag *t)
{
	static const struct el_def unknown = { "", EL_UNKNOWN };
	const struct el_def *d;

	if (!t->known_name)
		return &unknown;
	d = bsearch(t->name, elements, sizeof(elements) / sizeof(elements[0]),
		sizeof(elements[0]), el_cmp);
	return d != NULL ? d : &unknown;
}

static int
str_cmp(const void *k, const void *e)
{
	return strcmp(k, *(const char *const *)e);
}

static void
put_utf8(struct buf *b, uint32_t cp)
{
	char u[4];

	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		cp = 0xfffd;
	if (cp < 0x80) {
		buf_putc(b, (char)cp);
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		buf_append(b, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		buf_append(b, u, 3);
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		buf_append(b, u, 4);
	}
}

/* Named character references that can change how a URL or CSS reads, plus
 * the common ones. An unknown name stays literal text, which is safe: it
 * is re-escaped on output, so the browser sees "&amp;name;" too. */
static const struct {
	const char *name;
	uint32_t cp;
} named_refs[] = {
	{ "amp", '&' }, { "apos", '\'' }, { "colon", ':' }, { "comma", ',' },
	{ "gt", '>' }, { "lpar", '(' }, { "lt", '<' }, { "newline", '\n' },
	{ "nbsp", 0xa0 }, { "num", '#' }, { "period", '.' }, { "quot", '"' },
	{ "rpar", ')' }, { "semi", ';' }, { "sol", '/' }, { "tab", '\t' },
	{ "bsol", '\\' }, { "excl", '!' }, { "equals", '=' }, { "commat", '@' },
};

/* Decode character references in an attribute value into out (WHATWG
 * 13.2.5.72: numeric with or without ';', named from the table). */
static void
decode_refs(const char *s, size_t n, struct buf *out)
{
	size_t i = 0, j, k;

	while (i < n) {
		if (s[i] == '\0') {
			put_utf8(out, 0xfffd);
			i++;
			continue;
		}
		if (s[i] != '&') {
			buf_putc(out, s[i++]);
			continue;
		}
		j = i + 1;
		if (j < n && s[j] == '#') {
			uint64_t cp = 0;
			bool hex = false, any = false;

			j++;
			if (j < n && (s[j] == 'x' || s[j] == 'X')) {
				hex = true;
				j++;
			}
			for (; j < n; j++) {
				int c = ascii_lower((unsigned char)s[j]), d;

				if (c >= '0' && c <= '9')
					d = c - '0';
				else if (hex && c >= 'a' && c <= 'f')
					d = c - 'a' + 10;
				else
					break;
				any = true;
				if (cp <= 0x10ffff)
					cp = cp * (hex ? 16 : 10) + (uint64_t)d;
			}
			if (!any) {
				buf_putc(out, s[i++]);
				continue;
			}
			if (j < n && s[j] == ';')
				j++;
			put_utf8(out, cp > 0x10ffff ? 0xfffd : (uint32_t)cp);
			i = j;
			continue;
		}
		for (k = j; k < n && k - j < 16 && is_alnum((unsigned char)s[k]); k++)
			;
		if (k < n && s[k] == ';' && k > j) {
			size_t r;
			bool found = false;

			for (r = 0; r < sizeof(named_refs) / sizeof(named_refs[0]); r++)
				if (strlen(named_refs[r].name) == k - j &&
				    ci_prefix(s + j, k - j, named_refs[r].name)) {
					/* Only "amp" etc. are case-sensitive in HTML;
					 * decoding more is the safe direction. */
					put_utf8(out, named_refs[r].cp);
					found = true;
					break;
				}
			if (found) {
				i = k + 1;
				continue;
			}
		}
		buf_putc(out, s[i++]);
	}
}

/* Append s[0..n) escaped for a double-quoted attribute value or text. */
static void
put_escaped(struct buf *b, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		switch (s[i]) {
		case '&': buf_puts(b, "&amp;"); break;
		case '<': buf_puts(b, "&lt;"); break;
		case '>': buf_puts(b, "&gt;"); break;
		case '"': buf_puts(b, "&quot;"); break;
		case '\'': buf_puts(b, "&#39;"); break;
		case '\0': put_utf8(b, 0xfffd); break;
		default: buf_putc(b, s[i]);
		}
	}
}

/* Text content: references are kept as written when they are well formed
 * (a browser can only turn them into text), any other '&' is escaped. */
static void
put_text(struct buf *b, const char *s, size_t n)
{
	size_t i, k;

	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '&') {
			k = i + 1;
			if (k < n && s[k] == '#') {
				k++;
				if (k < n && (s[k] == 'x' || s[k] == 'X'))
					k++;
			}
			while (k < n && k - i < 40 && is_alnum((unsigned char)s[k]))
				k++;
			if (k < n && s[k] == ';' && k > i + 1 && is_alnum((unsigned char)s[k - 1])) {
				buf_append(b, s + i, k + 1 - i);
				i = k;
			} else {
				buf_puts(b, "&amp;");
			}
		} else if (c == '<') {
			buf_puts(b, "&lt;");
		} else if (c == '>') {
			buf_puts(b, "&gt;");
		} else if (c == '\0') {
			put_utf8(b, 0xfffd);
		} else {
			buf_putc(b, c);
		}
	}
}

enum url_ctx {
	URL_LINK,	/* a href: http, https, mailto, #fragment */
	URL_RESOURCE,	/* img src, background, CSS url(): loads something */
};

/* Check a decoded URL; append what to use to out and return true, or
 * return false to drop the attribute. */
static bool
url_check(struct san *z, const char *u, size_t n, enum url_ctx ctx, struct buf *out)
{
	struct buf clean;
	size_t i, s;
	bool ok = false;

	/* What the URL parser does first: strip leading/trailing C0 and
	 * space, remove tab and newlines anywhere. */
	buf_init(&clean);
	while (n > 0 && (unsigned char)u[0] <= 0x20) {
		u++;
		n--;
	}
	while (n > 0 && (unsigned char)u[n - 1] <= 0x20)
		n--;
	for (i = 0; i < n; i++)
		if (u[i] != '\t' && u[i] != '\n' && u[i] != '\r')
			buf_putc(&clean, u[i]);
	u = clean.data;
	n = clean.len;
	for (s = 0; s < n && (is_alnum((unsigned char)u[s]) || u[s] == '+' || u[s] == '-' ||
		     u[s] == '.'); s++)
		;
	if (s == n || u[s] != ':' || s == 0 || !is_alpha((unsigned char)u[0])) {
		/* No scheme: a fragment link, a protocol-relative remote URL,
		 * or a relative URL, which would resolve against the webmail
		 * itself and is dropped. */
		if (ctx == URL_LINK && n > 0 && u[0] == '#')
			ok = true;
		else if (n >= 2 && (u[0] == '/' || u[0] == '\\') && (u[1] == '/' || u[1] == '\\')) {
			if (ctx == URL_LINK)
				ok = false;
			else if (z->o != NULL && z->o->allow_remote) {
				buf_puts(out, "https:");
				buf_append(out, u, n);
				buf_free(&clean);
				return true;
			} else
				z->blocked++;
		}
		if (ok)
			buf_append(out, u, n);
		buf_free(&clean);
		return ok;
	}
	if (ci_prefix(u, n, "http:") || ci_prefix(u, n, "https:")) {
		if (ctx == URL_LINK || (z->o != NULL && z->o->allow_remote))
			ok = true;
		else
			z->blocked++;
	} else if (ci_prefix(u, n, "mailto:")) {
		ok = ctx == URL_LINK;
	} else if (ci_prefix(u, n, "cid:")) {
		if (ctx == URL_RESOURCE && z->o != NULL && z->o->cid_url != NULL && n > 4) {
			size_t before = out->len;

			if (z->o->cid_url(z->o->cid_ctx, u + 4, n - 4, out) == 0) {
				buf_free(&clean);
				return true;
			}
			buf_truncate(out, before);
		}
	} else if (ctx == URL_RESOURCE && ci_prefix(u, n, "data:image/")) {
		/* Raster formats only: an SVG image cannot run script in an img,
		 * but in CSS or opened in a tab it is a document. */
		static const char *const types[] = { "png", "gif", "jpeg", "jpg", "webp", "bmp" };
		size_t t, tl;

		for (t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
			tl = strlen(types[t]);
			if (ci_prefix(u + 11, n - 11, types[t]) && n > 11 + tl &&
			    (u[11 + tl] == ';' || u[11 + tl] == ','))
				ok = true;
		}
	}
	if (ok)
		buf_append(out, u, n);
	buf_free(&clean);
	return ok;
}

/* CSS: comments removed, then dropped whole for anything that can run
 * code or hide from this check; url() arguments checked like img src. */
bool
html_sanitize_css(const char *css, size_t n, const struct html_sanitize_opts *opts,
	struct buf *out, size_t *blocked_r)
{
	static const char *const banned[] = {
		"expression", "javascript", "vbscript", "behavior", "binding", "@import",
		"image-set", "src(", "@namespace", "</",
	};
	struct san z;
	struct buf c, url;
	size_t i, b;

	memset(&z, 0, sizeof(z));
	z.o = opts;
	buf_init(&c);
	for (i = 0; i < n; i++) {
		if (css[i] == '/' && i + 1 < n && css[i + 1] == '*') {
			const char *e = NULL;
			size_t k;

			for (k = i + 2; k + 1 < n; k++)
				if (css[k] == '*' && css[k + 1] == '/') {
					e = css + k;
					break;
				}
			if (e == NULL)
				break;
			i = (size_t)(e - css) + 1;
			buf_putc(&c, ' ');
			continue;
		}
		/* Escapes can spell anything; '<' could end a style element. */
		if (css[i] == '\\' || css[i] == '\0' || css[i] == '<') {
			buf_free(&c);
			return false;
		}
		buf_putc(&c, css[i]);
	}
	for (b = 0; b < sizeof(banned) / sizeof(banned[0]); b++)
		if (ci_find(c.data, c.len, banned[b]) != NULL) {
			buf_free(&c);
			return false;
		}

	buf_init(&url);
	for (i = 0; i < c.len;) {
		const char *p = c.data + i;
		size_t rest = c.len - i, k, start, end;
		char q = 0;

		if (!ci_prefix(p, rest, "url(") || (i > 0 && (is_alnum((unsigned char)p[-1]) || p[-1] == '-'))) {
			buf_putc(out, *p);
			i++;
			continue;
		}
		k = i + 4;
		while (k < c.len && is_space((unsigned char)c.data[k]))
			k++;
		if (k < c.len && (c.data[k] == '"' || c.data[k] == '\'')) {
			q = c.data[k++];
			start = k;
			while (k < c.len && c.data[k] != q)
				k++;
			end = k;
			if (k < c.len)
				k++;
		} else {
			start = k;
			while (k < c.len && c.data[k] != ')' && !is_space((unsigned char)c.data[k]))
				k++;
			end = k;
		}
		while (k < c.len && c.data[k] != ')')
			k++;
		if (k < c.len)
			k++;
		buf_reset(&url);
		if (url_check(&z, c.data + start, end - start, URL_RESOURCE, &url)) {
			size_t j;

			buf_puts(out, "url(\"");
			for (j = 0; j < url.len; j++) {
				/* quote-safe: these cannot occur in a URL we keep
				 * unencoded anyway */
				if (url.data[j] == '"' || url.data[j] == '\n' || url.data[j] == '>' ||
				    url.data[j] == '<')
					buf_printf(out, "%%%02X", (unsigned char)url.data[j]);
				else
					buf_putc(out, url.data[j]);
			}
			buf_puts(out, "\")");
		} else {
			buf_puts(out, "none");
		}
		i = k;
	}
	buf_free(&url);
	buf_free(&c);
	if (blocked_r != NULL)
		*blocked_r += z.blocked;
	return true;
}

static void
put_attr(struct buf *b, const char *name, const char *v, size_t n)
{
	buf_putc(b, ' ');
	buf_puts(b, name);
	buf_puts(b, "=\"");
	put_escaped(b, v, n);
	buf_putc(b, '"');
}

static bool
attr_is(const struct attr *a, const char *name)
{
	return a->name_len == strlen(name) && ci_prefix(a->name, a->name_len, name);
}

/* Write an allowed start tag with its allowed attributes. */
static void
write_start(struct san *z, const struct el_def *d, const struct tag *t)
{
	struct buf *o = z->out;
	bool is_link = strcmp(d->name, "a") == 0 || strcmp(d->name, "area") == 0;
	size_t i, k;
	uint64_t seen = 0;

	buf_putc(o, '<');
	buf_puts(o, d->name);
	for (i = 0; i < t->nattrs; i++) {
		const struct attr *a = &t->attrs[i];
		char name[16];
		bool dup = false;

		bool odd = false;

		if (a->name_len >= sizeof(name))
			continue;
		/* a name with a NUL or other odd byte is no name we know */
		for (k = 0; k < a->name_len; k++) {
			name[k] = (char)ascii_lower((unsigned char)a->name[k]);
			if (!is_alnum((unsigned char)name[k]) && name[k] != '-')
				odd = true;
		}
		name[a->name_len] = '\0';
		if (odd)
			continue;
		/* First of a name wins, as in the browser. */
		for (k = 0; k < i; k++)
			if ((seen >> k & 1) && attr_is(&t->attrs[k], name))
				dup = true;
		if (dup)
			continue;
		buf_reset(&z->tmp);
		if (a->val != NULL)
			decode_refs(a->val, a->val_len, &z->tmp);
		if ((strcmp(name, "href") == 0 && is_link) ||
		    (strcmp(name, "src") == 0 && strcmp(d->name, "img") == 0) ||
		    strcmp(name, "background") == 0) {
			buf_reset(&z->tmp2);
			if (url_check(z, z->tmp.data, z->tmp.len,
				    name[0] == 'h' ? URL_LINK : URL_RESOURCE, &z->tmp2)) {
				put_attr(o, name, z->tmp2.data, z->tmp2.len);
				seen |= (uint64_t)1 << i;
			}
		} else if (strcmp(name, "style") == 0) {
			buf_reset(&z->tmp2);
			if (html_sanitize_css(z->tmp.data, z->tmp.len, z->o, &z->tmp2, &z->blocked)) {
				put_attr(o, name, z->tmp2.data, z->tmp2.len);
				seen |= (uint64_t)1 << i;
			}
		} else if ((strcmp(name, "name") == 0 && strcmp(d->name, "map") == 0) ||
			   (strcmp(name, "usemap") == 0 && strcmp(d->name, "img") == 0 &&
			    z->tmp.len > 0 && z->tmp.data[0] == '#') ||
			   bsearch(name, plain_attrs, sizeof(plain_attrs) / sizeof(plain_attrs[0]),
				   sizeof(plain_attrs[0]), str_cmp) != NULL) {
			put_attr(o, name, z->tmp.data, z->tmp.len);
			seen |= (uint64_t)1 << i;
		}
	}
	if (is_link)
		buf_puts(o, " target=\"_blank\" rel=\"noopener noreferrer\"");
	buf_putc(o, '>');
}

static void
close_to(struct san *z, size_t depth)
{
	while (z->depth > depth) {
		z->depth--;
		buf_puts(z->out, "</");
		buf_puts(z->out, z->stack[z->depth]->name);
		buf_putc(z->out, '>');
	}
}

/* The text of a raw text element runs to "</name" followed by a tag name
 * end; returns the index of the '<' or n. */
static size_t
raw_end(const char *s, size_t n, size_t i, const char *name)
{
	size_t m = strlen(name);

	for (; i < n; i++) {
		if (s[i] != '<' || i + 1 >= n || s[i + 1] != '/')
			continue;
		if (ci_prefix(s + i + 2, n - i - 2, name) &&
		    (i + 2 + m == n || is_space((unsigned char)s[i + 2 + m]) ||
			    s[i + 2 + m] == '/' || s[i + 2 + m] == '>'))
			return i;
	}
	return n;
}

static void
handle_tag(struct san *z, const struct tag *t, const char *s, size_t n, size_t *pos)
{
	const struct el_def *d = el_lookup(t);
	size_t i;

	if (z->drop != NULL) {
		/* Inside dropped content: only follow its nesting. */
		if (d == z->drop) {
			if (t->end) {
				if (--z->drop_nest == 0)
					z->drop = NULL;
			} else {
				z->drop_nest++;
			}
		} else if (!t->end && d->kind == EL_DROP_RAW) {
			size_t e = raw_end(s, n, *pos, d->name);

			*pos = e;
		}
		return;
	}
	if (t->end) {
		if (d->kind != EL_KEEP && d->kind != EL_STYLE)
			return;
		for (i = z->depth; i > 0; i--)
			if (z->stack[i - 1] == d) {
				close_to(z, i - 1);
				break;
			}
		return;
	}
	switch (d->kind) {
	case EL_UNKNOWN:
	case EL_DROP_VOID:
		return;
	case EL_DROP:
		z->drop = d;
		z->drop_nest = 1;
		return;
	case EL_DROP_RAW:
		*pos = raw_end(s, n, *pos, d->name);
		return;
	case EL_STYLE: {
		size_t e = raw_end(s, n, *pos, "style");
		size_t before = z->out->len;

		if (z->depth < HTML_SANITIZE_MAX_DEPTH) {
			buf_puts(z->out, "<style>");
			if (!html_sanitize_css(s + *pos, e - *pos, z->o, z->out, &z->blocked))
				buf_truncate(z->out, before);
			else
				buf_puts(z->out, "</style>");
		}
		*pos = e;
		/* the end tag, when there, is read as a tag and ignored as
		 * no style is on the stack */
		return;
	}
	case EL_VOID:
		write_start(z, d, t);
		return;
	case EL_KEEP:
		if (z->depth >= HTML_SANITIZE_MAX_DEPTH)
			return;
		write_start(z, d, t);
		z->stack[z->depth++] = d;
		return;
	}
}

/* Parse a tag starting at s[i] == '<' (s[i+1] is a letter, or '/' and a
 * letter). Returns the index after '>', or 0 when the input ends inside the
 * tag (the browser then emits nothing). */
static size_t
parse_tag(const char *s, size_t n, size_t i, struct tag *t)
{
	size_t k, nl = 0;

	memset(t, 0, sizeof(*t));
	i++;
	if (s[i] == '/') {
		t->end = true;
		i++;
	}
	t->known_name = true;
	for (; i < n && !is_space((unsigned char)s[i]) && s[i] != '/' && s[i] != '>'; i++) {
		if (nl + 1 >= sizeof(t->name) || s[i] == '\0')
			t->known_name = false;
		else
			t->name[nl++] = (char)ascii_lower((unsigned char)s[i]);
	}
	t->name[nl] = '\0';
	for (;;) {
		struct attr a;

		while (i < n && (is_space((unsigned char)s[i]) || s[i] == '/'))
			i++;
		if (i >= n)
			return 0;
		if (s[i] == '>')
			return i + 1;
		memset(&a, 0, sizeof(a));
		a.name = s + i;
		/* a first '=' belongs to the name (13.2.5.32) */
		for (k = i + 1; k < n && !is_space((unsigned char)s[k]) && s[k] != '/' &&
		     s[k] != '>' && s[k] != '='; k++)
			;
		a.name_len = k - i;
		i = k;
		while (i < n && is_space((unsigned char)s[i]))
			i++;
		if (i < n && s[i] == '=') {
			i++;
			while (i < n && is_space((unsigned char)s[i]))
				i++;
			if (i >= n)
				return 0;
			if (s[i] == '"' || s[i] == '\'') {
				char q = s[i++];

				a.val = s + i;
				while (i < n && s[i] != q)
					i++;
				if (i >= n)
					return 0;
				a.val_len = (size_t)(s + i - a.val);
				i++;
			} else if (s[i] == '>') {
				a.val = s + i;
				a.val_len = 0;
			} else {
				a.val = s + i;
				while (i < n && !is_space((unsigned char)s[i]) && s[i] != '>')
					i++;
				a.val_len = (size_t)(s + i - a.val);
			}
		}
		if (t->nattrs < MAX_ATTRS)
			t->attrs[t->nattrs++] = a;
	}
}

/* End of a comment starting at s[i] == '<' with "<!--": after "-->",
 * "--!>", or the "<!-->"/"<!--->" short forms; n when unterminated. */
static size_t
comment_end(const char *s, size_t n, size_t i)
{
	size_t k = i + 4;

	if (k < n && s[k] == '>')
		return k + 1;
	if (k + 1 < n && s[k] == '-' && s[k + 1] == '>')
		return k + 2;
	for (; k + 2 < n; k++) {
		if (s[k] == '-' && s[k + 1] == '-' && s[k + 2] == '>')
			return k + 3;
		if (k + 3 < n && s[k] == '-' && s[k + 1] == '-' && s[k + 2] == '!' && s[k + 3] == '>')
			return k + 4;
	}
	return n;
}

static size_t
bogus_end(const char *s, size_t n, size_t i)
{
	const char *e = memchr(s + i, '>', n - i);

	return e == NULL ? n : (size_t)(e - s) + 1;
}

size_t
html_sanitize(const char *s, size_t n, const struct html_sanitize_opts *opts, struct buf *out)
{
	struct san *z;
	struct tag *t;
	size_t i = 0, blocked;

	z = calloc(1, sizeof(*z));
	t = malloc(sizeof(*t));
	if (z == NULL || t == NULL)
		abort();
	z->o = opts;
	z->out = out;
	buf_init(&z->tmp);
	buf_init(&z->tmp2);
	while (i < n) {
		const char *lt = memchr(s + i, '<', n - i);
		size_t e = lt == NULL ? n : (size_t)(lt - s);

		if (e > i && z->drop == NULL)
			put_text(out, s + i, e - i);
		i = e;
		if (i >= n)
			break;
		/* s[i] == '<' */
		if (i + 1 < n && (is_alpha((unsigned char)s[i + 1]) ||
			(s[i + 1] == '/' && i + 2 < n && is_alpha((unsigned char)s[i + 2])))) {
			size_t after = parse_tag(s, n, i, t);

			if (after == 0)
				break;
			i = after;
			handle_tag(z, t, s, n, &i);
		} else if (i + 3 < n && memcmp(s + i, "<!--", 4) == 0) {
			i = comment_end(s, n, i);
		} else if (i + 1 < n && (s[i + 1] == '!' || s[i + 1] == '?' || s[i + 1] == '/')) {
			/* doctype, CDATA (a bogus comment in HTML content),
			 * processing instruction, "</3": all dropped */
			i = bogus_end(s, n, i + 1);
		} else {
			if (z->drop == NULL)
				buf_puts(out, "&lt;");
			i++;
		}
	}
	close_to(z, 0);
	blocked = z->blocked;
	buf_free(&z->tmp);
	buf_free(&z->tmp2);
	free(t);
	free(z);
	return blocked;
}
