/* SPF macros (RFC 7208 7): the syntax check of macro-strings and their
 * expansion, including the explanation-only letters and the truncation of
 * expanded domain names. Expansions are bounded by SPF_MAX_EXPANSION. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/util.h"
#include "mailauth/spf_private.h"

/* RFC 7208 7.1:
 *   macro-string = *( macro-expand / macro-literal )
 *   macro-expand = ( "%{" macro-letter transformers *delimiter "}" )
 *                  / "%%" / "%_" / "%-"
 *   macro-literal = %x21-24 / %x26-7E
 *   macro-letter = "s" / "l" / "o" / "d" / "i" / "p" / "h" /
 *                  "c" / "r" / "t" / "v"
 *   transformers = *DIGIT [ "r" ]
 *   delimiter = "." / "-" / "+" / "," / "/" / "_" / "="
 * and 6.2: explain-string = *( macro-string / SP ).
 */

struct macro {
	char letter;		/* lower case */
	bool escape;		/* upper-case letter: URL-escape the value */
	unsigned digits;	/* 0: all parts */
	bool reverse;
	char delims[8];		/* NUL-terminated; "" means "." */
};

static bool
is_delim(char ch)
{
	return ch != '\0' && strchr(".-+,/_=", ch) != NULL;
}

/* Parse the "%{...}" at s[0] (s[0] == '%', s[1] == '{'). Returns the bytes
 * consumed, or 0 with *error_r. */
static size_t
macro_parse(const char *s, size_t len, bool explanation, struct macro *m,
	const char **error_r)
{
	size_t i = 2, nd = 0;
	char l;

	memset(m, 0, sizeof(*m));
	if (i >= len) {
		*error_r = "unterminated macro";
		return 0;
	}
	l = ms_tolower(s[i]);
	if (l == '\0' || strchr("slodiphcrtv", l) == NULL) {
		*error_r = ms_err("unknown macro letter '%c'", s[i] >= 0x21 && s[i] < 0x7f ? s[i] : '?');
		return 0;
	}
	if (!explanation && (l == 'c' || l == 'r' || l == 't')) {
		*error_r = ms_err("macro %%{%c} is allowed only in explanations", s[i]);
		return 0;
	}
	m->letter = l;
	m->escape = s[i] != l;
	i++;
	if (i < len && s[i] >= '0' && s[i] <= '9') {
		/* Saturating: any count past the number of parts means all. */
		unsigned n = 0;

		for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			n = n >= 1000 ? 1000 : n * 10 + (unsigned)(s[i] - '0');
		if (n == 0) {
			*error_r = "macro transformer digit 0";
			return 0;
		}
		m->digits = n;
	}
	if (i < len && (s[i] == 'r' || s[i] == 'R')) {
		m->reverse = true;
		i++;
	}
	for (; i < len && is_delim(s[i]); i++) {
		if (strchr(m->delims, s[i]) == NULL && nd < sizeof(m->delims) - 1)
			m->delims[nd++] = s[i];
	}
	if (i >= len || s[i] != '}') {
		*error_r = "malformed macro (expected '}')";
		return 0;
	}
	return i + 1;
}

int
spf_macro_check(const char *s, size_t len, bool explanation, bool *ends_macro_r,
	const char **error_r)
{
	struct macro m;
	bool ends_macro = false;
	size_t i = 0;

	while (i < len) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '%') {
			if (i + 1 >= len) {
				*error_r = "'%' at the end of a macro-string";
				return -1;
			}
			if (s[i + 1] == '{') {
				size_t n = macro_parse(s + i, len - i, explanation, &m, error_r);

				if (n == 0)
					return -1;
				i += n;
			} else if (s[i + 1] == '%' || s[i + 1] == '_' || s[i + 1] == '-') {
				i += 2;
			} else {
				*error_r = "'%' not followed by '{', '%', '_' or '-'";
				return -1;
			}
			ends_macro = true;
			continue;
		}
		if (!((ch >= 0x21 && ch <= 0x7e) || (explanation && ch == ' '))) {
			*error_r = ms_err("invalid character 0x%02x in macro-string", ch);
			return -1;
		}
		ends_macro = false;
		i++;
	}
	if (ends_macro_r != NULL)
		*ends_macro_r = ends_macro;
	return 0;
}

/* RFC 7208 7.3: upper-case macros are URL-escaped (RFC 3986 unreserved
 * characters kept). */
static void
put_escaped(struct buf *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			buf_putc(out, (char)ch);
		} else {
			buf_putc(out, '%');
			buf_putc(out, hex[ch >> 4]);
			buf_putc(out, hex[ch & 0xf]);
		}
	}
}

/* The value of a macro letter (7.2), into val. */
static void
macro_value(struct spf_ctx *c, const char *domain, char letter, struct buf *val)
{
	const struct spf_args *a = c->args;
	size_t i;

	switch (letter) {
	case 's':
		buf_printf(val, "%s@%s", c->localpart, c->sender_domain);
		break;
	case 'l':
		buf_puts(val, c->localpart);
		break;
	case 'o':
		buf_puts(val, c->sender_domain);
		break;
	case 'd':
		buf_puts(val, domain);
		break;
	case 'i':
		/* IPv6 in dotted nibbles (7.3). */
		if (c->v4) {
			buf_puts(val, c->ip_text);
		} else {
			for (i = 0; i < 16; i++)
				buf_printf(val, "%s%x.%x", i ? "." : "", c->ip[i] >> 4, c->ip[i] & 0xf);
		}
		break;
	case 'p': {
		/* 7.3: a validated name, preferring <domain> or a subdomain
		 * of it; "unknown" when there is none. */
		const char *best = NULL;
		size_t dl = strlen(domain);

		if (dl > 0 && domain[dl - 1] == '.')
			dl--;
		if (c->d != NULL)
			spf_ptr_validate(c);
		for (i = 0; i < c->ptr_n && best == NULL; i++) {
			const char *n = c->ptr_names[i];
			size_t nl = strlen(n);

			if ((nl == dl && ms_strncaseeq(n, domain, dl)) ||
			    (nl > dl && n[nl - dl - 1] == '.' && ms_strncaseeq(n + nl - dl, domain, dl)))
				best = n;
		}
		if (best == NULL && c->ptr_n > 0)
			best = c->ptr_names[0];
		buf_puts(val, best != NULL ? best : "unknown");
		break;
	}
	case 'v':
		buf_puts(val, c->v4 ? "in-addr" : "ip6");
		break;
	case 'h':
		buf_puts(val, a->helo != NULL && a->helo[0] != '\0' ? a->helo : "unknown");
		break;
	case 'c':
		buf_puts(val, c->ip_text);
		break;
	case 'r':
		buf_puts(val, a->receiver != NULL && a->receiver[0] != '\0' ? a->receiver : "unknown");
		break;
	case 't':
		buf_printf(val, "%lld", (long long)c->now);
		break;
	default:
		break;
	}
}

/* Apply transformers and delimiters (7.3): split at any delimiter, reverse,
 * keep the rightmost `digits` parts, join with ".". */
static void
macro_transform(const struct macro *m, const char *v, size_t len, struct buf *out)
{
	const char *delims = m->delims[0] != '\0' ? m->delims : ".";
	size_t *start, *plen, n = 0, i, first, from;

	if (m->digits == 0 && !m->reverse && m->delims[0] == '\0') {
		if (m->escape)
			put_escaped(out, v, len);
		else
			buf_append(out, v, len);
		return;
	}
	start = xcalloc(len + 1, sizeof(*start));
	plen = xcalloc(len + 1, sizeof(*plen));
	from = 0;
	for (i = 0; i <= len; i++) {
		if (i == len || strchr(delims, v[i]) != NULL) {
			start[n] = from;
			plen[n] = i - from;
			n++;
			from = i + 1;
		}
	}
	/* Parts in output order: reversed or not; then the rightmost ones. */
	first = m->digits != 0 && m->digits < n ? n - m->digits : 0;
	for (i = first; i < n; i++) {
		size_t k = m->reverse ? n - 1 - i : i;

		if (i > first)
			buf_putc(out, '.');
		if (m->escape)
			put_escaped(out, v + start[k], plen[k]);
		else
			buf_append(out, v + start[k], plen[k]);
	}
	free(start);
	free(plen);
}

/* 7.3: "if the expanded domain name exceeds 253 characters ..., the left
 * side is truncated to fit, by removing successive domain labels (and
 * their following dots)". A final dot is dropped first. */
static void
truncate_name(struct buf *b, size_t from)
{
	if (b->len > from && b->data[b->len - 1] == '.')
		buf_truncate(b, b->len - 1);
	while (b->len - from > 253) {
		char *dot = memchr(b->data + from, '.', b->len - from);
		size_t cut;

		if (dot == NULL)
			break;	/* one huge label: the lookup rejects it */
		cut = (size_t)(dot - (b->data + from)) + 1;
		memmove(b->data + from, b->data + from + cut, b->len - from - cut);
		buf_truncate(b, b->len - cut);
	}
}

int
spf_macro_expand_ctx(struct spf_ctx *c, const char *domain, const char *s, size_t len,
	bool explanation, bool domain_spec, struct buf *out, const char **error_r)
{
	size_t i = 0, start = out->len;
	struct buf val;
	struct macro m;

	if (spf_macro_check(s, len, explanation, NULL, error_r) < 0)
		return -1;
	buf_init(&val);
	while (i < len) {
		if (out->len - start > SPF_MAX_EXPANSION) {
			buf_free(&val);
			buf_truncate(out, start);
			*error_r = "macro expansion too long";
			return -1;
		}
		if (s[i] != '%') {
			const char *pct = memchr(s + i, '%', len - i);
			size_t n = pct != NULL ? (size_t)(pct - (s + i)) : len - i;

			buf_append(out, s + i, n);
			i += n;
			continue;
		}
		switch (s[i + 1]) {
		case '%':
			buf_putc(out, '%');
			i += 2;
			continue;
		case '_':
			buf_putc(out, ' ');
			i += 2;
			continue;
		case '-':
			buf_puts(out, "%20");
			i += 2;
			continue;
		default:
			break;
		}
		/* Checked above: a well-formed "%{...}". */
		i += macro_parse(s + i, len - i, explanation, &m, error_r);
		buf_reset(&val);
		macro_value(c, domain, m.letter, &val);
		macro_transform(&m, val.data, val.len, out);
	}
	buf_free(&val);
	if (out->len - start > SPF_MAX_EXPANSION) {
		buf_truncate(out, start);
		*error_r = "macro expansion too long";
		return -1;
	}
	if (domain_spec)
		truncate_name(out, start);
	return 0;
}

int
spf_macro_expand(struct dns *d, const struct spf_args *args, const char *domain,
	const char *s, size_t len, bool explanation, bool domain_spec, struct buf *out,
	const char **error_r)
{
	struct spf_ctx c;
	int rc;

	if (spf_ctx_init(&c, d, args, error_r) < 0)
		return -1;
	rc = spf_macro_expand_ctx(&c, domain, s, len, explanation, domain_spec, out, error_r);
	spf_ctx_free(&c);
	return rc;
}
