/* RFC 5322 header sections: field iteration, unfolding, RFC 2047
 * encoded-word decoding. Also home of the lib/mail private helpers for
 * UTF-8, charsets and transfer decodings (mail-private.h). */
#include "config.h"

#include <errno.h>
#include <iconv.h>
#include <string.h>

#include "core/util.h"
#include "mail/header.h"
#include "mail/mail-private.h"

#define MAX_CHARSET_LEN 64

/* ---- UTF-8 ---- */

/*
 * RFC 3629 section 4:
 *   UTF8-2 = %xC2-DF UTF8-tail
 *   UTF8-3 = %xE0 %xA0-BF UTF8-tail / %xE1-EC 2( UTF8-tail ) /
 *            %xED %x80-9F UTF8-tail / %xEE-EF 2( UTF8-tail )
 *   UTF8-4 = %xF0 %x90-BF 2( UTF8-tail ) / %xF1-F3 3( UTF8-tail ) /
 *            %xF4 %x80-8F 2( UTF8-tail )
 */
size_t
mail_utf8_seqlen(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (n == 0)
		return 0;
	if (u[0] < 0x80)
		return 1;
	if (u[0] >= 0xc2 && u[0] <= 0xdf)
		len = 2;
	else if (u[0] >= 0xe0 && u[0] <= 0xef)
		len = 3;
	else if (u[0] >= 0xf0 && u[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (n < len)
		return 0;
	if (u[0] == 0xe0)
		lo = 0xa0;
	else if (u[0] == 0xed)
		hi = 0x9f;
	else if (u[0] == 0xf0)
		lo = 0x90;
	else if (u[0] == 0xf4)
		hi = 0x8f;
	if (u[1] < lo || u[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (u[i] < 0x80 || u[i] > 0xbf)
			return 0;
	return len;
}

bool
mail_utf8_valid(const char *s, size_t n)
{
	size_t i = 0, l;

	while (i < n) {
		if (s[i] == '\0')
			return false;
		l = mail_utf8_seqlen(s + i, n - i);
		if (l == 0)
			return false;
		i += l;
	}
	return true;
}


void
mail_utf8_sanitize(struct buf *out, const char *s, size_t n)
{
	size_t i = 0, run = 0, l;

	/* Copy valid runs in one go; only the bad bytes are replaced. */
	while (i < n) {
		l = s[i] == '\0' ? 0 : mail_utf8_seqlen(s + i, n - i);
		if (l == 0) {
			buf_append(out, s + run, i - run);
			ms_utf8_put(out, 0xfffd);
			i++;
			run = i;
		} else {
			i += l;
		}
	}
	buf_append(out, s + run, i - run);
}

char *
mail_buf_finish(struct buf *b)
{
	char *r = buf_steal(b);

	buf_free(b);
	return r;
}

char *
mail_utf8_strndup(const char *s, size_t n)
{
	struct buf b;

	buf_init(&b);
	mail_utf8_sanitize(&b, s, n);
	return mail_buf_finish(&b);
}

/* ---- charsets ---- */

enum cs_kind { CS_UTF8, CS_LATIN1, CS_ICONV, CS_BAD };

static enum cs_kind
charset_kind(const char *cs)
{
	static const char *const utf8[] = {"utf-8", "utf8", "us-ascii", "ascii", "ansi_x3.4-1968",
	        "us", "iso646-us", "csascii", "7bit", "8bit"};
	static const char *const latin1[] = {"iso-8859-1", "iso8859-1", "iso_8859-1", "latin1",
	        "l1", "iso-ir-100", "cp819", "ibm819"};
	size_t i, len;

	if (cs == NULL || cs[0] == '\0')
		return CS_UTF8;
	len = strlen(cs);
	if (len > MAX_CHARSET_LEN)
		return CS_BAD;
	/* Keep odd bytes and iconv's "//TRANSLIT"-style suffixes away from
	 * iconv_open: charset names are tokens. */
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)cs[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		            c == '-' || c == '_' || c == '.' || c == ':' || c == '+'))
			return CS_BAD;
	}
	/* US-ASCII labels are mapped to UTF-8: mislabelled UTF-8 is far more
	 * common than a reason to reject 8-bit bytes. */
	for (i = 0; i < MS_NELEM(utf8); i++)
		if (ms_strcaseeq(cs, utf8[i]))
			return CS_UTF8;
	for (i = 0; i < MS_NELEM(latin1); i++)
		if (ms_strcaseeq(cs, latin1[i]))
			return CS_LATIN1;
	return CS_ICONV;
}

bool
mail_charset_supported(const char *charset)
{
	iconv_t cd;

	switch (charset_kind(charset)) {
	case CS_UTF8:
	case CS_LATIN1:
		return true;
	case CS_BAD:
		return false;
	case CS_ICONV:
		break;
	}
	cd = iconv_open("UTF-8", charset);
	if (cd == (iconv_t)-1)
		return false;
	iconv_close(cd);
	return true;
}

static void
iconv_convert(struct buf *out, iconv_t cd, const char *s, size_t n)
{
	char tmp[1024];
	char *in = (char *)s, *op;
	size_t inleft = n, outleft;
	struct buf raw;

	buf_init(&raw);
	while (inleft > 0) {
		size_t r;

		op = tmp;
		outleft = sizeof(tmp);
		r = iconv(cd, &in, &inleft, &op, &outleft);
		buf_append(&raw, tmp, sizeof(tmp) - outleft);
		if (r != (size_t)-1)
			continue;
		if (errno == E2BIG)
			continue;
		/* EILSEQ: skip one bad byte; EINVAL: truncated sequence at
		 * the end. Either way a replacement character shows it. */
		ms_utf8_put(&raw, 0xfffd);
		if (errno == EILSEQ && inleft > 0) {
			in++;
			inleft--;
			iconv(cd, NULL, NULL, NULL, NULL);
		} else {
			break;
		}
	}
	/* Flush any shift state (ISO-2022-JP and friends). */
	op = tmp;
	outleft = sizeof(tmp);
	if (iconv(cd, NULL, NULL, &op, &outleft) != (size_t)-1)
		buf_append(&raw, tmp, sizeof(tmp) - outleft);
	/* iconv output is UTF-8, but may contain U+0000. */
	mail_utf8_sanitize(out, raw.data, raw.len);
	buf_free(&raw);
}

int
mail_charset_to_utf8(struct buf *out, const char *charset, const char *s, size_t n)
{
	iconv_t cd;
	size_t i;

	switch (charset_kind(charset)) {
	case CS_UTF8:
		mail_utf8_sanitize(out, s, n);
		return 0;
	case CS_LATIN1:
		for (i = 0; i < n; i++)
			ms_utf8_put(out, (unsigned char)s[i]);
		return 0;
	case CS_BAD:
		return -1;
	case CS_ICONV:
		break;
	}
	cd = iconv_open("UTF-8", charset);
	if (cd == (iconv_t)-1)
		return -1;
	iconv_convert(out, cd, s, n);
	iconv_close(cd);
	return 0;
}

/* ---- transfer decodings ---- */

int
mail_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static void
b64_flush(struct buf *out, uint32_t acc, int nchars)
{
	char b[3];

	/* nchars sextets are in the low bits of acc. */
	if (nchars == 2) {
		b[0] = (char)(acc >> 4);
		buf_append(out, b, 1);
	} else if (nchars == 3) {
		b[0] = (char)(acc >> 10);
		b[1] = (char)(acc >> 2);
		buf_append(out, b, 2);
	}
}

void
mail_base64_decode_lenient(struct buf *out, const char *s, size_t n)
{
	uint32_t acc = 0;
	int nchars = 0;
	size_t i;
	char b[3];

	buf_reserve(out, n / 4 * 3 + 3);
	for (i = 0; i < n; i++) {
		int v = b64val(s[i]);

		if (s[i] == '=') {
			/* Padding ends a quantum; concatenated encodings
			 * (rare, but seen) continue after it. */
			b64_flush(out, acc, nchars);
			acc = 0;
			nchars = 0;
			continue;
		}
		if (v < 0)
			continue;
		acc = (acc << 6) | (uint32_t)v;
		if (++nchars == 4) {
			b[0] = (char)(acc >> 16);
			b[1] = (char)(acc >> 8);
			b[2] = (char)acc;
			buf_append(out, b, 3);
			acc = 0;
			nchars = 0;
		}
	}
	b64_flush(out, acc, nchars);
}

/*
 * RFC 2045 6.7: quoted-printable.
 *   quoted-printable := qp-line *(CRLF qp-line)
 *   qp-line := *(qp-segment transport-padding CRLF) qp-part transport-padding
 *   qp-segment := qp-section *(SPACE / TAB) "="   ; soft line break
 *   ptext := hex-octet / safe-char
 *   hex-octet := "=" 2(DIGIT / "A" / "B" / "C" / "D" / "E" / "F")
 * Trailing whitespace on a line is transport padding and removed (rule 3);
 * lower-case hex and stray "=" are accepted as decoders should (6.7 note).
 */
void
mail_qp_decode(struct buf *out, const char *s, size_t n)
{
	size_t pos = 0;

	buf_reserve(out, n);
	while (pos < n) {
		const char *nl = memchr(s + pos, '\n', n - pos);
		size_t le = nl ? (size_t)(nl - s) : n; /* line content end */
		size_t eol_start, next = nl ? le + 1 : n, i;
		bool soft = false;

		eol_start = le;
		if (nl && le > pos && s[le - 1] == '\r')
			eol_start = le - 1;
		le = eol_start;
		while (le > pos && (s[le - 1] == ' ' || s[le - 1] == '\t'))
			le--;
		if (le > pos && s[le - 1] == '=') {
			soft = true;
			le--;
		}
		for (i = pos; i < le; i++) {
			int h, l;

			if (s[i] == '=' && i + 2 < le && (h = mail_hexval(s[i + 1])) >= 0 &&
			        (l = mail_hexval(s[i + 2])) >= 0) {
				buf_putc(out, (char)(h * 16 + l));
				i += 2;
			} else {
				buf_putc(out, s[i]);
			}
		}
		if (!soft && nl)
			buf_append(out, s + eol_start, next - eol_start);
		pos = next;
	}
}

/* ---- header fields ---- */

void
mail_header_iter_init(struct mail_header_iter *it, const char *s, size_t n)
{
	it->p = s;
	it->end = s + n;
}

/* End of the line starting at p: *content_end excludes CR LF, returns the
 * start of the next line. */
static const char *
line_end(const char *p, const char *end, const char **content_end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	const char *ce = nl ? nl : end;

	if (nl && ce > p && ce[-1] == '\r')
		ce--;
	*content_end = ce;
	return nl ? nl + 1 : end;
}

/*
 * RFC 5322 2.2 and 3.6.8:
 *   optional-field = field-name ":" unstructured CRLF
 *   field-name     = 1*ftext
 *   ftext          = %d33-57 / %d59-126
 * and 4.5.8 obs-optional allows WSP before the colon. A line starting
 * with WSP continues the previous field (2.2.3 folding).
 */
bool
mail_header_next(struct mail_header_iter *it, const char **name, size_t *namelen,
        const char **value, size_t *valuelen)
{
	while (it->p < it->end) {
		const char *p = it->p, *ce, *next, *colon, *ne, *q;

		next = line_end(p, it->end, &ce);
		if (ce == p) {
			/* The empty line ends the header section. */
			it->p = it->end;
			return false;
		}
		it->p = next;
		if (*p == ' ' || *p == '\t')
			continue; /* continuation without a field */
		colon = memchr(p, ':', (size_t)(ce - p));
		if (colon == NULL)
			continue;
		ne = colon;
		while (ne > p && (ne[-1] == ' ' || ne[-1] == '\t'))
			ne--;
		if (ne == p)
			continue;
		for (q = p; q < ne; q++)
			if ((unsigned char)*q < 33 || (unsigned char)*q > 126)
				break;
		if (q != ne)
			continue;
		/* Extend the value over continuation lines. */
		while (it->p < it->end && (*it->p == ' ' || *it->p == '\t')) {
			const char *ce2;

			next = line_end(it->p, it->end, &ce2);
			ce = ce2;
			it->p = next;
		}
		*name = p;
		*namelen = (size_t)(ne - p);
		*value = colon + 1;
		*valuelen = (size_t)(ce - (colon + 1));
		return true;
	}
	return false;
}

bool
mail_header_select(struct buf *out, const char *s, size_t n, const char *const *names,
	size_t nnames)
{
	struct mail_header_iter it;
	const char *name, *val;
	size_t namelen, vallen, i, start = out->len, vstart;
	bool ok = true;

	mail_header_iter_init(&it, s, n);
	while (mail_header_next(&it, &name, &namelen, &val, &vallen)) {
		for (i = 0; i < nnames; i++)
			if (strlen(names[i]) == namelen && ms_strncaseeq(name, names[i], namelen))
				break;
		if (i == nnames)
			continue;
		buf_append(out, name, namelen);
		buf_putc(out, ':');
		vstart = out->len;
		mail_header_unfold(out, val, vallen);
		if (memchr(out->data + vstart, '\0', out->len - vstart) != NULL ||
		    memchr(out->data + vstart, '\r', out->len - vstart) != NULL)
			ok = false;
		buf_puts(out, "\r\n");
	}
	return ok && mail_utf8_valid(out->data + start, out->len - start);
}

void
mail_header_unfold(struct buf *out, const char *value, size_t n)
{
	size_t i = 0, start = out->len;

	while (i < n &&
	        (value[i] == ' ' || value[i] == '\t' || value[i] == '\r' || value[i] == '\n'))
		i++;
	for (; i < n; i++) {
		/* RFC 5322 2.2.3: unfolding removes the CRLF of a fold. */
		if (value[i] == '\n')
			continue;
		if (value[i] == '\r' && i + 1 < n && value[i + 1] == '\n')
			continue;
		buf_putc(out, value[i]);
	}
	while (out->len > start &&
	        (out->data[out->len - 1] == ' ' || out->data[out->len - 1] == '\t' ||
	                out->data[out->len - 1] == '\r'))
		buf_truncate(out, out->len - 1);
}

bool
mail_header_get(const char *s, size_t n, const char *name, struct buf *out)
{
	struct mail_header_iter it;
	const char *fn, *v;
	size_t fnlen, vlen, len = strlen(name);

	mail_header_iter_init(&it, s, n);
	while (mail_header_next(&it, &fn, &fnlen, &v, &vlen)) {
		if (fnlen == len && ms_strncaseeq(fn, name, len)) {
			mail_header_unfold(out, v, vlen);
			return true;
		}
	}
	return false;
}

/* ---- RFC 2047 ---- */

struct ew {
	char charset[MAX_CHARSET_LEN + 1];
	char enc; /* 'b' or 'q' */
	const char *text;
	size_t textlen;
	size_t len; /* whole word */
};

/*
 * RFC 2047 section 2:
 *   encoded-word = "=?" charset "?" encoding "?" encoded-text "?="
 *   charset = token    ; RFC 2231 5: charset ["*" language]
 *   encoding = token
 *   token = 1*<Any CHAR except SPACE, CTLs, and especials>
 *   especials = "(" / ")" / "<" / ">" / "@" / "," / ";" / ":" / "
 *               <"> / "/" / "[" / "]" / "?" / "." / "="
 *   encoded-text = 1*<Any printable ASCII character other than "?" or SPACE>
 * Words longer than 75 characters are accepted, as in the wild.
 */
static bool
ew_parse(const char *s, size_t n, struct ew *w)
{
	size_t i = 2, cs0, cslen, t0;

	if (n < 8 || s[0] != '=' || s[1] != '?')
		return false;
	cs0 = i;
	while (i < n && s[i] != '?') {
		unsigned char c = (unsigned char)s[i];

		/* Looser than token; mail_charset_supported() vets names. */
		if (c <= 32 || c >= 127)
			return false;
		i++;
	}
	cslen = i - cs0;
	if (i >= n || cslen == 0)
		return false;
	/* Drop an RFC 2231 language suffix. */
	{
		const char *star = memchr(s + cs0, '*', cslen);

		if (star != NULL)
			cslen = (size_t)(star - (s + cs0));
	}
	if (cslen == 0 || cslen > MAX_CHARSET_LEN)
		return false;
	memcpy(w->charset, s + cs0, cslen);
	w->charset[cslen] = '\0';
	i++;
	if (i + 1 >= n || s[i + 1] != '?')
		return false;
	w->enc = ms_tolower(s[i]);
	if (w->enc != 'b' && w->enc != 'q')
		return false;
	i += 2;
	t0 = i;
	while (i < n && s[i] != '?') {
		unsigned char c = (unsigned char)s[i];

		if (c <= 32 || c >= 127)
			return false;
		i++;
	}
	if (i + 1 >= n || s[i + 1] != '=')
		return false;
	w->text = s + t0;
	w->textlen = i - t0;
	w->len = i + 2;
	return true;
}

/* Decode the encoded-text into raw bytes (in the word's charset). */
static bool
ew_decode(const struct ew *w, struct buf *out)
{
	size_t i;

	if (w->enc == 'b') {
		size_t pad = 0;

		/* Strict enough to reject words that are not base64 at all,
		 * lenient on missing padding. */
		for (i = 0; i < w->textlen; i++) {
			char c = w->text[i];

			if (c == '=') {
				pad++;
			} else if (b64val(c) < 0 || pad > 0) {
				return false;
			}
		}
		if (pad > 2)
			return false;
		mail_base64_decode_lenient(out, w->text, w->textlen);
		return true;
	}
	/* RFC 2047 4.2: "_" is SPACE, "=" hex hex an octet. */
	for (i = 0; i < w->textlen; i++) {
		char c = w->text[i];
		int h, l;

		if (c == '_') {
			buf_putc(out, ' ');
		} else if (c == '=' && i + 2 < w->textlen &&
		           (h = mail_hexval(w->text[i + 1])) >= 0 &&
		           (l = mail_hexval(w->text[i + 2])) >= 0) {
			buf_putc(out, (char)(h * 16 + l));
			i += 2;
		} else {
			buf_putc(out, c);
		}
	}
	return true;
}

static bool
is_lwsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool
all_lwsp(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!is_lwsp(s[i]))
			return false;
	return true;
}

static void
ew_flush(struct buf *out, const char *charset, struct buf *pend)
{
	if (mail_charset_to_utf8(out, charset, pend->data, pend->len) < 0)
		mail_utf8_sanitize(out, pend->data, pend->len);
	buf_reset(pend);
}

/*
 * RFC 2047 6.2: "any 'linear-white-space' that separates a pair of
 * adjacent 'encoded-word's is ignored". Adjacent words in the same charset
 * are joined before conversion, because encoders split multi-byte
 * characters across words. Words glued to other text are decoded too, as
 * most readers do.
 */
void
mail_header_decode_words(struct buf *out, const char *s, size_t n)
{
	struct buf pend, tmp;
	char pend_cs[MAX_CHARSET_LEN + 1] = "";
	bool have = false;
	size_t i = 0, lit = 0;
	struct ew w;

	buf_init(&pend);
	buf_init(&tmp);
	while (i < n) {
		if (s[i] == '=' && i + 1 < n && s[i + 1] == '?' && ew_parse(s + i, n - i, &w)) {
			buf_reset(&tmp);
			if (ew_decode(&w, &tmp) && mail_charset_supported(w.charset)) {
				bool gap_ws = all_lwsp(s + lit, i - lit);

				if (have && gap_ws && ms_strcaseeq(pend_cs, w.charset)) {
					/* joined below */
				} else {
					if (have)
						ew_flush(out, pend_cs, &pend);
					if (!(have && gap_ws))
						mail_utf8_sanitize(out, s + lit, i - lit);
					ms_strlcpy(pend_cs, w.charset, sizeof(pend_cs));
				}
				buf_append(&pend, tmp.data, tmp.len);
				have = true;
				i += w.len;
				lit = i;
				continue;
			}
		}
		if (have && !is_lwsp(s[i])) {
			ew_flush(out, pend_cs, &pend);
			have = false;
		}
		i++;
	}
	if (have)
		ew_flush(out, pend_cs, &pend);
	mail_utf8_sanitize(out, s + lit, n - lit);
	buf_free(&pend);
	buf_free(&tmp);
}
