/* MIME parser (RFC 2045, 2046, 2231, 5322) that records the byte offsets of
 * every part for IMAP, plus envelopes, IMAP section lookup, body decoding
 * and the RFC 8970 preview text. It never fails: malformed structure
 * degrades to simpler parts, and all scanning is bounded by the buffer. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "mail/header.h"
#include "mail/mail-private.h"
#include "mail/mime.h"

#define MAX_PARAMS 64    /* per header field; more are dropped */
#define MAX_SECTIONS 100 /* RFC 2231 continuations per parameter */
#define MAX_BOUNDARY 200 /* RFC 2046 says 70; tolerate more */

/* ---- freeing ---- */

static void
params_free(struct mime_param *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].value);
	}
	free(v);
}

void
mime_envelope_free(struct mime_envelope *e)
{
	if (e == NULL)
		return;
	free(e->date);
	free(e->subject);
	mail_hdr_addrs_free(&e->from);
	mail_hdr_addrs_free(&e->sender);
	mail_hdr_addrs_free(&e->reply_to);
	mail_hdr_addrs_free(&e->to);
	mail_hdr_addrs_free(&e->cc);
	mail_hdr_addrs_free(&e->bcc);
	free(e->in_reply_to);
	free(e->message_id);
	free(e);
}

void
mime_part_clear(struct mime_part *p)
{
	size_t i;

	free(p->type);
	free(p->subtype);
	params_free(p->params, p->nparams);
	free(p->id);
	free(p->description);
	free(p->encoding);
	free(p->disposition);
	params_free(p->disp_params, p->ndisp_params);
	free(p->language);
	free(p->location);
	free(p->md5);
	for (i = 0; i < p->nparts; i++)
		mime_part_clear(&p->parts[i]);
	free(p->parts);
	if (p->message != NULL) {
		mime_part_clear(p->message);
		free(p->message);
	}
	mime_envelope_free(p->envelope);
	memset(p, 0, sizeof(*p));
}

void
mime_free(struct mime_part **p)
{
	if (*p == NULL)
		return;
	mime_part_clear(*p);
	free(*p);
	*p = NULL;
}

/* ---- header values: RFC 2045 tokens, parameters, RFC 2231 ---- */

struct lex {
	const char *s;
	size_t n, i;
};

/* RFC 2045 5.1:
 *   token := 1*<any (US-ASCII) CHAR except SPACE, CTLs, or tspecials>
 *   tspecials := "(" / ")" / "<" / ">" / "@" / "," / ";" / ":" / "\" /
 *                <"> / "/" / "[" / "]" / "?" / "=" */
static bool
is_token_char(unsigned char c)
{
	return c > 32 && c < 127 && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* Skip whitespace and (nested) comments: RFC 822 structured fields. */
static void
skip_cfws(struct lex *l)
{
	while (l->i < l->n) {
		char c = l->s[l->i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			l->i++;
		} else if (c == '(') {
			int depth = 0;

			for (; l->i < l->n; l->i++) {
				c = l->s[l->i];
				if (c == '\\' && l->i + 1 < l->n)
					l->i++;
				else if (c == '(')
					depth++;
				else if (c == ')' && --depth == 0)
					break;
			}
			if (l->i < l->n)
				l->i++;
		} else {
			break;
		}
	}
}

static size_t
lex_token(struct lex *l, const char **p)
{
	size_t start = l->i;

	while (l->i < l->n && is_token_char((unsigned char)l->s[l->i]))
		l->i++;
	*p = l->s + start;
	return l->i - start;
}

static char *
lower_dup(const char *s, size_t n)
{
	char *d = xstrndup(s, n);

	ms_str_lower(d);
	return d;
}

struct rawparam {
	char *name;       /* lower case, as written (with *N*) */
	struct buf value; /* unquoted */
};

/*
 * RFC 2045 5.1:
 *   parameter := attribute "=" value
 *   attribute := token
 *   value := token / quoted-string
 * Unquoted values that are not tokens (spaces, "=", non-ASCII) are common;
 * they run to the next ";" with trailing whitespace and comments dropped.
 */
static size_t
parse_raw_params(struct lex *l, struct rawparam *v)
{
	size_t n = 0;

	for (;;) {
		const char *a;
		size_t alen;

		skip_cfws(l);
		if (l->i >= l->n)
			break;
		if (l->s[l->i] != ';') {
			/* Junk: resynchronize on the next ";". */
			while (l->i < l->n && l->s[l->i] != ';')
				l->i++;
			continue;
		}
		l->i++;
		skip_cfws(l);
		alen = lex_token(l, &a);
		skip_cfws(l);
		if (alen == 0 || l->i >= l->n || l->s[l->i] != '=')
			continue;
		l->i++;
		skip_cfws(l);
		if (n >= MAX_PARAMS) {
			/* Still consume the value so a quoted ";" does not
			 * start a bogus parameter. */
			if (l->i < l->n && l->s[l->i] == '"') {
				for (l->i++; l->i < l->n && l->s[l->i] != '"'; l->i++)
					if (l->s[l->i] == '\\')
						l->i++;
				if (l->i < l->n)
					l->i++;
			}
			continue;
		}
		v[n].name = lower_dup(a, alen);
		buf_init(&v[n].value);
		if (l->i < l->n && l->s[l->i] == '"') {
			/* RFC 822 quoted-string; quoted-pair unescaped. */
			for (l->i++; l->i < l->n && l->s[l->i] != '"'; l->i++) {
				if (l->s[l->i] == '\\' && l->i + 1 < l->n)
					l->i++;
				buf_putc(&v[n].value, l->s[l->i]);
			}
			if (l->i < l->n)
				l->i++;
		} else {
			size_t st = l->i, e;

			while (l->i < l->n && l->s[l->i] != ';' && l->s[l->i] != '(')
				l->i++;
			e = l->i;
			while (e > st && (l->s[e - 1] == ' ' || l->s[e - 1] == '\t' ||
			                         l->s[e - 1] == '\r' || l->s[e - 1] == '\n'))
				e--;
			buf_append(&v[n].value, l->s + st, e - st);
		}
		n++;
	}
	return n;
}

/* "%XX" decoding of RFC 2231 extended values; bad escapes stay as is. */
static void
pct_decode(struct buf *out, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int h, lo;

		if (s[i] == '%' && i + 2 < n && (h = mail_hexval(s[i + 1])) >= 0 &&
		        (lo = mail_hexval(s[i + 2])) >= 0) {
			buf_putc(out, (char)(h * 16 + lo));
			i += 2;
		} else {
			buf_putc(out, s[i]);
		}
	}
}

/* Split "charset'language'value" (RFC 2231 extended-initial-value); the
 * charset goes to cs (may be empty), returns the offset of the value. */
static size_t
split_ext_initial(const char *s, size_t n, char *cs, size_t cssize)
{
	const char *q1 = memchr(s, '\'', n), *q2;
	size_t cl;

	cs[0] = '\0';
	if (q1 == NULL)
		return 0;
	q2 = memchr(q1 + 1, '\'', n - (size_t)(q1 + 1 - s));
	if (q2 == NULL)
		return 0;
	cl = (size_t)(q1 - s);
	if (cl < cssize) {
		memcpy(cs, s, cl);
		cs[cl] = '\0';
	}
	return (size_t)(q2 + 1 - s);
}

/* Parse "base", "base*", "base*N", "base*N*"; returns the base length. */
static size_t
param_name_split(const char *name, int *section, bool *ext)
{
	size_t len = strlen(name), base;
	const char *star = strchr(name, '*');
	uint64_t v;

	*section = -1;
	*ext = false;
	if (star == NULL || star == name)
		return len;
	base = (size_t)(star - name);
	if (star[1] == '\0') {
		*ext = true;
		return base;
	}
	{
		const char *d = star + 1, *e = d;

		while (*e >= '0' && *e <= '9')
			e++;
		if (e == d || (e[0] != '\0' && !(e[0] == '*' && e[1] == '\0')))
			return len; /* not RFC 2231: keep the name as written */
		/* other-sections := "*" ("1" / ... / "9") *DIGIT: no leading 0 */
		if (e - d > 1 && d[0] == '0')
			return len;
		if (ms_parse_u64n(d, (size_t)(e - d), 0, MAX_SECTIONS - 1, &v) < 0)
			return len;
		*section = (int)v;
		*ext = e[0] == '*';
	}
	return base;
}

static bool
wants_2047(const char *name)
{
	return strcmp(name, "name") == 0 || strcmp(name, "filename") == 0;
}

/* Convert a parameter value to UTF-8 with an optional charset. */
static char *
param_value_utf8(const char *name, const char *charset, const char *s, size_t n)
{
	struct buf out;

	buf_init(&out);
	if (charset != NULL && charset[0] != '\0') {
		if (mail_charset_to_utf8(&out, charset, s, n) < 0)
			mail_utf8_sanitize(&out, s, n);
	} else if (wants_2047(name) && memmem(s, n, "=?", 2) != NULL) {
		/* Not standard, but what many mailers send for file names. */
		mail_header_decode_words(&out, s, n);
	} else {
		mail_utf8_sanitize(&out, s, n);
	}
	return mail_buf_finish(&out);
}

/*
 * RFC 2231 3 and 4:
 *   parameter := regular-parameter / extended-parameter
 *   regular-parameter-name := attribute [section]
 *   section := initial-section / other-sections
 *   initial-section := "*0"
 *   other-sections := "*" ("1" / "2" / "3" / "4" / "5" / "6" / "7" / "8" / "9") *DIGIT)
 *   extended-initial-name := attribute [initial-section] "*"
 *   extended-other-names := attribute other-sections "*"
 *   extended-initial-value := [charset] "'" [language] "'" extended-other-values
 *   extended-other-values := *(ext-octet / attribute-char)
 *   ext-octet := "%" 2(DIGIT / "A" / "B" / "C" / "D" / "E" / "F")
 * Continuations are joined in section order up to the first gap; an
 * extended or continued value wins over a plain one of the same name.
 */
static void
assemble_params(struct rawparam *raw, size_t nraw, struct mime_param **out_v, size_t *out_n)
{
	struct mime_param *v = NULL;
	size_t n = 0, i, j;
	bool *done = xcalloc(nraw ? nraw : 1, sizeof(bool));

	if (nraw > 0)
		v = xcalloc(nraw, sizeof(*v));
	for (i = 0; i < nraw; i++) {
		char *base;
		size_t blen;
		int sec;
		bool ext;
		int plain = -1, extended = -1;
		int sections[MAX_SECTIONS];
		bool sect_ext[MAX_SECTIONS];

		if (done[i])
			continue;
		blen = param_name_split(raw[i].name, &sec, &ext);
		base = xstrndup(raw[i].name, blen);
		for (j = 0; j < MAX_SECTIONS; j++)
			sections[j] = -1;
		/* Collect every raw parameter with this base name. */
		for (j = i; j < nraw; j++) {
			size_t bl;
			int s2;
			bool e2;

			if (done[j])
				continue;
			bl = param_name_split(raw[j].name, &s2, &e2);
			if (bl != blen || memcmp(raw[j].name, base, blen) != 0)
				continue;
			done[j] = true;
			if (s2 >= 0) {
				if (sections[s2] < 0) {
					sections[s2] = (int)j;
					sect_ext[s2] = e2;
				}
			} else if (e2) {
				if (extended < 0)
					extended = (int)j;
			} else if (plain < 0) {
				plain = (int)j;
			}
		}
		v[n].name = base;
		if (sections[0] >= 0) {
			struct buf bytes;
			char cs[65] = "";
			int k;

			buf_init(&bytes);
			for (k = 0; k < MAX_SECTIONS && sections[k] >= 0; k++) {
				const struct buf *val = &raw[sections[k]].value;
				size_t off = 0;

				if (sect_ext[k]) {
					if (k == 0)
						off = split_ext_initial(
						        val->data, val->len, cs, sizeof(cs));
					pct_decode(&bytes, val->data + off, val->len - off);
				} else {
					buf_append(&bytes, val->data, val->len);
				}
			}
			v[n].value = param_value_utf8(base, cs, bytes.data, bytes.len);
			buf_free(&bytes);
		} else if (extended >= 0) {
			const struct buf *val = &raw[extended].value;
			struct buf bytes;
			char cs[65];
			size_t off = split_ext_initial(val->data, val->len, cs, sizeof(cs));

			buf_init(&bytes);
			pct_decode(&bytes, val->data + off, val->len - off);
			v[n].value = param_value_utf8(base, cs, bytes.data, bytes.len);
			buf_free(&bytes);
		} else if (plain >= 0) {
			v[n].value = param_value_utf8(
			        base, NULL, raw[plain].value.data, raw[plain].value.len);
		} else {
			/* Only continuations without a "*0": nothing usable. */
			v[n].value = xstrdup("");
		}
		n++;
	}
	free(done);
	if (n == 0) {
		free(v);
		v = NULL;
	}
	*out_v = v;
	*out_n = n;
}

/*
 * RFC 2045 5.1:
 *   content := "Content-Type" ":" type "/" subtype *(";" parameter)
 * RFC 2183 2:
 *   disposition := "Content-Disposition" ":" disposition-type
 *                  *(";" disposition-parm)
 * With want_subtype false this parses the Content-Disposition form.
 * Returns false when the type (and subtype) is missing or malformed.
 */
static bool
parse_typed_value(const char *s, size_t n, bool want_subtype, char **type_r, char **subtype_r,
        struct mime_param **params_r, size_t *nparams_r)
{
	struct lex l = {s, n, 0};
	const char *t, *st = NULL;
	size_t tl, stl = 0, nraw, i;
	struct rawparam *raw;

	*type_r = NULL;
	if (subtype_r)
		*subtype_r = NULL;
	*params_r = NULL;
	*nparams_r = 0;
	skip_cfws(&l);
	tl = lex_token(&l, &t);
	if (tl == 0)
		return false;
	if (want_subtype) {
		skip_cfws(&l);
		if (l.i >= l.n || l.s[l.i] != '/')
			return false;
		l.i++;
		skip_cfws(&l);
		stl = lex_token(&l, &st);
		if (stl == 0)
			return false;
	}
	raw = xcalloc(MAX_PARAMS, sizeof(*raw));
	nraw = parse_raw_params(&l, raw);
	assemble_params(raw, nraw, params_r, nparams_r);
	for (i = 0; i < nraw; i++) {
		free(raw[i].name);
		buf_free(&raw[i].value);
	}
	free(raw);
	*type_r = lower_dup(t, tl);
	if (want_subtype)
		*subtype_r = lower_dup(st, stl);
	return true;
}

/* ---- the parser ---- */

enum {
	H_CTYPE,
	H_CTE,
	H_CID,
	H_CDESC,
	H_CDISP,
	H_CLANG,
	H_CLOC,
	H_CMD5,
	H_DATE,
	H_SUBJECT,
	H_FROM,
	H_SENDER,
	H_REPLY_TO,
	H_TO,
	H_CC,
	H_BCC,
	H_IN_REPLY_TO,
	H_MESSAGE_ID,
	H_COUNT
};

static const char *const hdr_names[H_COUNT] = {
        "content-type",
        "content-transfer-encoding",
        "content-id",
        "content-description",
        "content-disposition",
        "content-language",
        "content-location",
        "content-md5",
        "date",
        "subject",
        "from",
        "sender",
        "reply-to",
        "to",
        "cc",
        "bcc",
        "in-reply-to",
        "message-id",
};

struct hdrs {
	const char *v[H_COUNT];
	size_t len[H_COUNT];
	bool seen[H_COUNT];
};

struct parser {
	const char *s;
	size_t n;
	size_t nparts;
};

/* One pass over the header section; the first occurrence of each field
 * counts. */
static void
collect_headers(const char *s, size_t n, bool is_message, struct hdrs *h)
{
	struct mail_header_iter it;
	const char *name, *value;
	size_t nl, vl, i, last = is_message ? H_COUNT : H_DATE;

	memset(h, 0, sizeof(*h));
	mail_header_iter_init(&it, s, n);
	while (mail_header_next(&it, &name, &nl, &value, &vl)) {
		for (i = 0; i < last; i++) {
			if (!h->seen[i] && strlen(hdr_names[i]) == nl &&
			        ms_strncaseeq(name, hdr_names[i], nl)) {
				h->seen[i] = true;
				h->v[i] = value;
				h->len[i] = vl;
				break;
			}
		}
	}
}

/* Unfolded, trimmed, sanitized copy of a header value, or NULL when the
 * field is absent (or empty, when empty_is_null). */
static char *
hdr_string(const struct hdrs *h, int idx, bool empty_is_null)
{
	struct buf u;
	char *r;

	if (!h->seen[idx])
		return NULL;
	buf_init(&u);
	mail_header_unfold(&u, h->v[idx], h->len[idx]);
	if (u.len == 0 && empty_is_null) {
		buf_free(&u);
		return NULL;
	}
	r = mail_utf8_strndup(u.data, u.len);
	buf_free(&u);
	return r;
}

static void
hdr_addrs(const struct hdrs *h, int idx, struct mail_hdr_addrs *out)
{
	struct buf u;

	memset(out, 0, sizeof(*out));
	if (!h->seen[idx])
		return;
	buf_init(&u);
	mail_header_unfold(&u, h->v[idx], h->len[idx]);
	(void)mail_hdr_addrs_parse(u.data, u.len, out);
	buf_free(&u);
}

static struct mime_envelope *
parse_envelope(const struct hdrs *h)
{
	struct mime_envelope *e = xcalloc(1, sizeof(*e));

	e->date = hdr_string(h, H_DATE, false);
	e->subject = hdr_string(h, H_SUBJECT, false);
	hdr_addrs(h, H_FROM, &e->from);
	hdr_addrs(h, H_SENDER, &e->sender);
	hdr_addrs(h, H_REPLY_TO, &e->reply_to);
	hdr_addrs(h, H_TO, &e->to);
	hdr_addrs(h, H_CC, &e->cc);
	hdr_addrs(h, H_BCC, &e->bcc);
	e->in_reply_to = hdr_string(h, H_IN_REPLY_TO, false);
	e->message_id = hdr_string(h, H_MESSAGE_ID, false);
	return e;
}

/* Offset just after the empty line ending the header section that starts
 * at start, or end when there is none. */
static size_t
header_end(const char *s, size_t start, size_t end)
{
	size_t pos = start;

	while (pos < end) {
		const char *nl = memchr(s + pos, '\n', end - pos);
		size_t le;

		if (nl == NULL)
			return end;
		le = (size_t)(nl - s);
		if (le == pos || (le == pos + 1 && s[pos] == '\r'))
			return le + 1;
		pos = le + 1;
	}
	return end;
}

size_t
mime_header_end(const char *s, size_t len)
{
	return header_end(s, 0, len);
}

static uint64_t
count_lines(const char *s, size_t a, size_t b)
{
	uint64_t lines = 0;
	const char *p = s + a, *e = s + b, *nl;

	while (p < e && (nl = memchr(p, '\n', (size_t)(e - p))) != NULL) {
		lines++;
		p = nl + 1;
	}
	if (p < e)
		lines++; /* a last line without a line break */
	return lines;
}

static void
set_type(struct mime_part *p, const char *type, const char *subtype)
{
	free(p->type);
	free(p->subtype);
	p->type = xstrdup(type);
	p->subtype = xstrdup(subtype);
	params_free(p->params, p->nparams);
	p->params = NULL;
	p->nparams = 0;
	if (strcmp(type, "text") == 0) {
		/* RFC 2045 5.2 default */
		p->params = xcalloc(1, sizeof(*p->params));
		p->params[0].name = xstrdup("charset");
		p->params[0].value = xstrdup("us-ascii");
		p->nparams = 1;
	}
}

static const char *
param_get(const struct mime_param *v, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return v[i].value;
	return NULL;
}

/*
 * RFC 2046 5.1.1:
 *   boundary := 0*69<bchars> bcharsnospace
 *   dash-boundary := "--" boundary
 *   multipart-body := [preamble CRLF]
 *                     dash-boundary transport-padding CRLF
 *                     body-part *encapsulation
 *                     close-delimiter transport-padding
 *                     [CRLF epilogue]
 *   encapsulation := delimiter transport-padding CRLF body-part
 *   delimiter := CRLF dash-boundary
 *   close-delimiter := delimiter "--"
 *   transport-padding := *LWSP-char
 * Returns 0 not a boundary line, 1 delimiter, 2 close-delimiter.
 */
static int
boundary_line(const char *line, size_t len, const char *b, size_t blen)
{
	size_t i;
	int kind = 1;

	if (len < 2 + blen || line[0] != '-' || line[1] != '-' || memcmp(line + 2, b, blen) != 0)
		return 0;
	i = 2 + blen;
	if (len - i >= 2 && line[i] == '-' && line[i + 1] == '-') {
		kind = 2;
		i += 2;
	}
	for (; i < len; i++)
		if (line[i] != ' ' && line[i] != '\t')
			return 0;
	return kind;
}

struct range {
	size_t start, end;
};

/* Split a multipart body into part ranges. Stops taking parts when the
 * total part budget is used up. */
static size_t
split_multipart(struct parser *ps, size_t bs, size_t be, const char *b, size_t blen,
        struct range **out, bool *limited)
{
	const char *s = ps->s;
	struct range *v = NULL;
	size_t n = 0, cap = 0, pos = bs, cur = SIZE_MAX;

	*limited = false;
	while (pos < be) {
		const char *nl = memchr(s + pos, '\n', be - pos);
		size_t le = nl ? (size_t)(nl - s) : be, next = nl ? le + 1 : be;
		size_t ce = le;
		int kind;

		if (nl && ce > pos && s[ce - 1] == '\r')
			ce--;
		if (ce - pos < 2 + blen || s[pos] != '-' ||
		        (kind = boundary_line(s + pos, ce - pos, b, blen)) == 0) {
			pos = next;
			continue;
		}
		if (cur != SIZE_MAX) {
			/* The line break before the boundary belongs to it. */
			size_t e = pos;

			if (e > cur && s[e - 1] == '\n')
				e--;
			if (e > cur && s[e - 1] == '\r')
				e--;
			if (ps->nparts + n >= MIME_MAX_PARTS) {
				*limited = true;
				break;
			}
			if (n == cap) {
				cap = cap ? cap * 2 : 4;
				v = xrealloc(v, cap * sizeof(*v));
			}
			v[n].start = cur;
			v[n].end = e;
			n++;
		}
		if (kind == 2) {
			cur = SIZE_MAX;
			break; /* the rest is the epilogue */
		}
		cur = next;
		pos = next;
	}
	if (cur != SIZE_MAX && !*limited) {
		/* No close-delimiter: the last part runs to the end. */
		if (ps->nparts + n >= MIME_MAX_PARTS) {
			*limited = true;
		} else {
			if (n == cap) {
				cap = cap ? cap * 2 : 4;
				v = xrealloc(v, cap * sizeof(*v));
			}
			v[n].start = cur;
			v[n].end = be;
			n++;
		}
	}
	*out = v;
	return n;
}

static bool
encoding_is_identity(const char *enc)
{
	return enc == NULL || strcmp(enc, "7bit") == 0 || strcmp(enc, "8bit") == 0 ||
	       strcmp(enc, "binary") == 0;
}

static void parse_entity(struct parser *ps, struct mime_part *p, size_t start, size_t end,
        int depth, bool is_message, bool digest_child);

static void
parse_multipart(struct parser *ps, struct mime_part *p, int depth)
{
	const char *b = param_get(p->params, p->nparams, "boundary");
	struct range *r = NULL;
	size_t nr, i, blen;
	bool limited = false, digest;

	if (b == NULL || (blen = strlen(b)) == 0 || blen > MAX_BOUNDARY) {
		/* Not a usable multipart: serve it as text. */
		set_type(p, "text", "plain");
		return;
	}
	if (depth >= MIME_MAX_DEPTH) {
		set_type(p, "application", "octet-stream");
		return;
	}
	nr = split_multipart(ps, (size_t)p->body_start, (size_t)p->end, b, blen, &r, &limited);
	if (nr == 0) {
		free(r);
		if (limited)
			set_type(p, "application", "octet-stream");
		else
			set_type(p, "text", "plain");
		return;
	}
	digest = strcmp(p->subtype, "digest") == 0;
	ps->nparts += nr;
	p->parts = xcalloc(nr, sizeof(*p->parts));
	p->nparts = nr;
	for (i = 0; i < nr; i++)
		parse_entity(ps, &p->parts[i], r[i].start, r[i].end, depth + 1, false, digest);
	free(r);
}

static void
parse_entity(struct parser *ps, struct mime_part *p, size_t start, size_t end, int depth,
        bool is_message, bool digest_child)
{
	struct hdrs h;
	size_t bs = header_end(ps->s, start, end);
	bool ok = false;

	p->header_start = start;
	p->body_start = bs;
	p->end = end;
	p->body_lines = count_lines(ps->s, bs, end);
	collect_headers(ps->s + start, bs - start, is_message, &h);

	if (h.seen[H_CTYPE]) {
		struct buf u;

		buf_init(&u);
		mail_header_unfold(&u, h.v[H_CTYPE], h.len[H_CTYPE]);
		ok = parse_typed_value(
		        u.data, u.len, true, &p->type, &p->subtype, &p->params, &p->nparams);
		buf_free(&u);
	}
	if (!ok) {
		if (digest_child)
			set_type(p, "message", "rfc822");
		else
			set_type(p, "text", "plain");
	}
	if (h.seen[H_CTE]) {
		struct lex l = {h.v[H_CTE], h.len[H_CTE], 0};
		const char *t;
		size_t tl;

		skip_cfws(&l);
		tl = lex_token(&l, &t);
		if (tl > 0)
			p->encoding = lower_dup(t, tl);
	}
	p->id = hdr_string(&h, H_CID, true);
	p->description = hdr_string(&h, H_CDESC, true);
	if (h.seen[H_CDISP]) {
		struct buf u;

		buf_init(&u);
		mail_header_unfold(&u, h.v[H_CDISP], h.len[H_CDISP]);
		parse_typed_value(u.data, u.len, false, &p->disposition, NULL, &p->disp_params,
		        &p->ndisp_params);
		buf_free(&u);
	}
	p->language = hdr_string(&h, H_CLANG, true);
	p->location = hdr_string(&h, H_CLOC, true);
	p->md5 = hdr_string(&h, H_CMD5, true);
	if (is_message)
		p->envelope = parse_envelope(&h);

	if (strcmp(p->type, "multipart") == 0) {
		parse_multipart(ps, p, depth);
	} else if (strcmp(p->type, "message") == 0 &&
	           (strcmp(p->subtype, "rfc822") == 0 || strcmp(p->subtype, "global") == 0)) {
		/* An encapsulated message can only be addressed by offsets
		 * when it is not transfer-encoded (RFC 2046 5.2.1). */
		if (!encoding_is_identity(p->encoding) || depth >= MIME_MAX_DEPTH ||
		        ps->nparts >= MIME_MAX_PARTS) {
			set_type(p, "application", "octet-stream");
			return;
		}
		ps->nparts++;
		p->message = xcalloc(1, sizeof(*p->message));
		parse_entity(ps, p->message, bs, end, depth + 1, true, false);
	}
}

struct mime_part *
mime_parse(const char *s, size_t n)
{
	struct parser ps;
	struct mime_part *root = xcalloc(1, sizeof(*root));

	ps.s = s != NULL ? s : "";
	ps.n = s != NULL ? n : 0;
	ps.nparts = 1;
	parse_entity(&ps, root, 0, ps.n, 0, true, false);
	return root;
}

/* ---- sections ---- */

static bool
is_multipart(const struct mime_part *p)
{
	return p->type != NULL && strcmp(p->type, "multipart") == 0 && p->nparts > 0;
}

/*
 * RFC 3501 6.4.5: "Every message has at least one part number.
 * Non-[MIME-IMB] messages, and non-multipart [MIME-IMB] messages with no
 * encapsulated message, only have a part 1. Multipart messages are
 * assigned consecutive part numbers, as they occur in the message. If a
 * particular part is of type message or multipart, its parts MUST be
 * indicated by a period followed by the part number within that nested
 * multipart part."
 */
const struct mime_part *
mime_find_section(const struct mime_part *root, const uint32_t *nums, size_t n)
{
	const struct mime_part *cur = root;
	bool is_msg = true;
	size_t i;

	if (root == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		uint32_t k = nums[i];

		if (!is_msg && cur->message != NULL) {
			cur = cur->message;
			is_msg = true;
		}
		if (is_multipart(cur)) {
			if (k < 1 || k > cur->nparts)
				return NULL;
			cur = &cur->parts[k - 1];
		} else if (!(is_msg && k == 1)) {
			return NULL;
		}
		is_msg = false;
	}
	return cur;
}

/* ---- body decoding ---- */

/* Clamp a part's body to the buffer: offsets may come from stored JSON
 * that no longer matches the file. */
static void
body_range(const struct mime_part *p, size_t n, size_t *a, size_t *b)
{
	uint64_t bs = p->body_start, e = p->end;

	if (e > n)
		e = n;
	if (bs > e)
		bs = e;
	*a = (size_t)bs;
	*b = (size_t)e;
}

static int
decode_with(const char *enc, const char *s, size_t n, struct buf *out)
{
	if (encoding_is_identity(enc)) {
		buf_append(out, s, n);
		return 0;
	}
	if (strcmp(enc, "base64") == 0) {
		mail_base64_decode_lenient(out, s, n);
		return 0;
	}
	if (strcmp(enc, "quoted-printable") == 0) {
		mail_qp_decode(out, s, n);
		return 0;
	}
	buf_append(out, s, n);
	return -1;
}

int
mime_decode_body(const struct mime_part *p, const char *s, size_t n, struct buf *out)
{
	size_t a, b;

	if (s == NULL) {
		s = "";
		n = 0;
	}
	body_range(p, n, &a, &b);
	return decode_with(p->encoding, s + a, b - a, out);
}

/* ---- preview ---- */

static const struct mime_part *
find_text_part(const struct mime_part *p, const char *subtype, int depth)
{
	size_t i;

	if (depth > MIME_MAX_DEPTH + 1)
		return NULL;
	if (is_multipart(p)) {
		for (i = 0; i < p->nparts; i++) {
			const struct mime_part *r =
			        find_text_part(&p->parts[i], subtype, depth + 1);

			if (r != NULL)
				return r;
		}
		return NULL;
	}
	/* Attached messages and attachments are not the message's text. */
	if (p->message != NULL || p->type == NULL || p->subtype == NULL)
		return NULL;
	if (p->disposition != NULL && strcmp(p->disposition, "attachment") == 0)
		return NULL;
	if (strcmp(p->type, "text") == 0 && strcmp(p->subtype, subtype) == 0)
		return p;
	return NULL;
}

struct entity {
	const char *name;
	uint32_t cp;
};

static const struct entity entities[] = {
        {"amp", '&'},
        {"lt", '<'},
        {"gt", '>'},
        {"quot", '"'},
        {"apos", '\''},
        {"nbsp", 0xa0},
        {"copy", 0xa9},
        {"reg", 0xae},
        {"trade", 0x2122},
        {"hellip", 0x2026},
        {"mdash", 0x2014},
        {"ndash", 0x2013},
        {"lsquo", 0x2018},
        {"rsquo", 0x2019},
        {"ldquo", 0x201c},
        {"rdquo", 0x201d},
        {"bull", 0x2022},
        {"middot", 0xb7},
        {"euro", 0x20ac},
        {"pound", 0xa3},
        {"laquo", 0xab},
        {"raquo", 0xbb},
        {"zwnj", 0x200c},
        {"zwj", 0x200d},
        {"shy", 0xad},
        {"auml", 0xe4},
        {"ouml", 0xf6},
        {"uuml", 0xfc},
        {"Auml", 0xc4},
        {"Ouml", 0xd6},
        {"Uuml", 0xdc},
        {"szlig", 0xdf},
        {"eacute", 0xe9},
        {"egrave", 0xe8},
        {"aacute", 0xe1},
        {"agrave", 0xe0},
        {"ccedil", 0xe7},
};

/* Decode an entity at s[0] == '&'; returns its length or 0. */
static size_t
html_entity(const char *s, size_t n, struct buf *out)
{
	size_t i = 1;
	uint64_t v = 0;

	if (n > 1 && s[1] == '#') {
		bool hex = n > 2 && (s[2] == 'x' || s[2] == 'X');
		size_t d0;

		i = hex ? 3 : 2;
		d0 = i;
		while (i < n && i - d0 < 8) {
			int h = hex ? mail_hexval(s[i])
			            : (s[i] >= '0' && s[i] <= '9' ? s[i] - '0' : -1);

			if (h < 0)
				break;
			v = v * (hex ? 16 : 10) + (uint64_t)h;
			i++;
		}
		if (i == d0)
			return 0;
		if (i < n && s[i] == ';')
			i++;
		ms_utf8_put(out, v > 0x10ffff ? 0xfffd : (uint32_t)v);
		return i;
	}
	while (i < n && i < 12 &&
	        ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
	                (s[i] >= '0' && s[i] <= '9')))
		i++;
	if (i < n && s[i] == ';') {
		size_t k;

		for (k = 0; k < MS_NELEM(entities); k++) {
			if (strlen(entities[k].name) == i - 1 &&
			        memcmp(entities[k].name, s + 1, i - 1) == 0) {
				ms_utf8_put(out, entities[k].cp);
				return i + 1;
			}
		}
	}
	return 0;
}

static bool
tag_is(const char *name, size_t len, const char *const *set, size_t nset)
{
	size_t i;

	for (i = 0; i < nset; i++)
		if (strlen(set[i]) == len && ms_strncaseeq(name, set[i], len))
			return true;
	return false;
}

/* Find "</name" (case-insensitive) from i; returns the index after its
 * ">", or n. */
static size_t
skip_element(const char *s, size_t n, size_t i, const char *name, size_t len)
{
	while (i < n) {
		const char *lt = memchr(s + i, '<', n - i);
		size_t j;

		if (lt == NULL)
			return n;
		j = (size_t)(lt - s);
		if (j + 2 + len <= n && s[j + 1] == '/' && ms_strncaseeq(s + j + 2, name, len)) {
			const char *gt = memchr(s + j, '>', n - j);

			return gt ? (size_t)(gt - s) + 1 : n;
		}
		i = j + 1;
	}
	return n;
}

/* HTML to text: tags dropped (block-level ones become a space), script,
 * style, head and title contents dropped, comments dropped, character
 * references decoded. Input and output are UTF-8. */
static void
html_to_text(struct buf *out, const char *s, size_t n)
{
	static const char *const hidden[] = {"script", "style", "head", "title"};
	static const char *const block[] = {"br", "p", "div", "tr", "td", "th", "li", "ul", "ol",
	        "table", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "hr", "body", "html",
	        "section", "article", "header", "footer", "pre"};
	size_t i = 0;

	while (i < n) {
		char c = s[i];

		if (c == '&') {
			size_t l = html_entity(s + i, n - i, out);

			if (l > 0) {
				i += l;
				continue;
			}
			buf_putc(out, c);
			i++;
		} else if (c == '<' && i + 1 < n &&
		           ((s[i + 1] >= 'a' && s[i + 1] <= 'z') ||
		                   (s[i + 1] >= 'A' && s[i + 1] <= 'Z') || s[i + 1] == '/' ||
		                   s[i + 1] == '!' || s[i + 1] == '?')) {
			size_t j = i + 1, name0, namelen;
			bool closing = false;

			if (n - i >= 4 && memcmp(s + i, "<!--", 4) == 0) {
				const char *e = memmem(s + i + 4, n - i - 4, "-->", 3);

				i = e ? (size_t)(e - s) + 3 : n;
				continue;
			}
			if (s[j] == '/') {
				closing = true;
				j++;
			}
			name0 = j;
			while (j < n &&
			        ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z') ||
			                (s[j] >= '0' && s[j] <= '9')))
				j++;
			namelen = j - name0;
			/* Find the tag's end, stepping over quoted attribute
			 * values. */
			while (j < n && s[j] != '>') {
				if (s[j] == '"' || s[j] == '\'') {
					const char *q = memchr(s + j + 1, s[j], n - j - 1);

					j = q ? (size_t)(q - s) : n;
				}
				if (j < n)
					j++;
			}
			i = j < n ? j + 1 : n;
			if (!closing && tag_is(s + name0, namelen, hidden, MS_NELEM(hidden)))
				i = skip_element(s, n, i, s + name0, namelen);
			else if (tag_is(s + name0, namelen, block, MS_NELEM(block)))
				buf_putc(out, ' ');
		} else {
			buf_putc(out, c);
			i++;
		}
	}
}

/* Whitespace-like code points collapse; invisible ones disappear. */
static int
char_class(uint32_t cp)
{
	if (cp == ' ' || cp == '\t' || cp == '\r' || cp == '\n' || cp == '\f' || cp == '\v' ||
	        cp == 0xa0 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
	        cp == 0x202f || cp == 0x205f || cp == 0x3000)
		return 1;
	if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) || cp == 0xad || cp == 0x34f ||
	        (cp >= 0x200b && cp <= 0x200d) || cp == 0x2060 || cp == 0xfeff)
		return 2;
	return 0;
}

static uint32_t
utf8_cp(const char *s, size_t l)
{
	const unsigned char *u = (const unsigned char *)s;

	switch (l) {
	case 1:
		return u[0];
	case 2:
		return ((uint32_t)(u[0] & 0x1f) << 6) | (u[1] & 0x3f);
	case 3:
		return ((uint32_t)(u[0] & 0x0f) << 12) | ((uint32_t)(u[1] & 0x3f) << 6) |
		       (u[2] & 0x3f);
	default:
		return ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3f) << 12) |
		       ((uint32_t)(u[2] & 0x3f) << 6) | (u[3] & 0x3f);
	}
}

static void
collapse_cut(struct buf *out, const char *s, size_t n, size_t maxchars)
{
	size_t i = 0, count = 0;
	bool pending = false;

	while (i < n && count < maxchars) {
		size_t l = mail_utf8_seqlen(s + i, n - i);
		int cls;

		if (l == 0) {
			i++; /* cannot happen on sanitized input */
			continue;
		}
		cls = char_class(utf8_cp(s + i, l));
		if (cls == 1) {
			pending = count > 0;
		} else if (cls == 0) {
			if (pending) {
				if (count + 2 > maxchars)
					break;
				buf_putc(out, ' ');
				count++;
				pending = false;
			}
			buf_append(out, s + i, l);
			count++;
		}
		i += l;
	}
}

void
mime_preview(
        const struct mime_part *root, const char *s, size_t n, size_t maxchars, struct buf *out)
{
	const struct mime_part *p;
	bool html = false;
	size_t a, b, cap;
	struct buf dec, text, stripped;
	const char *charset;

	if (root == NULL || s == NULL || maxchars == 0)
		return;
	p = find_text_part(root, "plain", 0);
	if (p == NULL) {
		p = find_text_part(root, "html", 0);
		html = true;
	}
	if (p == NULL)
		return;
	body_range(p, n, &a, &b);
	/* A preview needs only the start of the text; markup can be long. */
	cap = html ? 1024 * 1024 : 64 * 1024 + maxchars * 16;
	if (b - a > cap)
		b = a + cap;
	buf_init(&dec);
	buf_init(&text);
	buf_init(&stripped);
	decode_with(p->encoding, s + a, b - a, &dec);
	charset = param_get(p->params, p->nparams, "charset");
	if (mail_charset_to_utf8(&text, charset, dec.data, dec.len) < 0)
		mail_utf8_sanitize(&text, dec.data, dec.len);
	if (html) {
		html_to_text(&stripped, text.data, text.len);
		collapse_cut(out, stripped.data, stripped.len, maxchars);
	} else {
		collapse_cut(out, text.data, text.len, maxchars);
	}
	buf_free(&dec);
	buf_free(&text);
	buf_free(&stripped);
}

void
mime_part_text(const struct mime_part *p, const char *s, size_t n, struct buf *out)
{
	struct buf dec;
	const char *charset;

	if (p == NULL || s == NULL)
		return;
	buf_init(&dec);
	(void)mime_decode_body(p, s, n, &dec);
	charset = param_get(p->params, p->nparams, "charset");
	if (mail_charset_to_utf8(out, charset, dec.data, dec.len) < 0)
		mail_utf8_sanitize(out, dec.data, dec.len);
	buf_free(&dec);
}
