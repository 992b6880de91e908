/* Email addresses: RFC 5321 paths and mailboxes for SMTP (with SMTPUTF8 and
 * IDNA2008 domains through libidn2) and the lenient RFC 5322 address-list
 * parser used for message headers. */
#include "config.h"

#include <arpa/inet.h>
#include <idn2.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "mail/addr.h"
#include "mail/header.h"
#include "mail/mail-private.h"

#define MAX_LOCALPART 64 /* RFC 5321 4.5.3.1.1 */
#define MAX_DOMAIN 255   /* RFC 5321 4.5.3.1.2 */
#define MAX_LABEL 63     /* RFC 1035 2.3.4 */
#define MAX_HDR_ADDRS 10000

void
mail_addr_free(struct mail_addr *a)
{
	if (a == NULL)
		return;
	free(a->localpart);
	free(a->domain);
	free(a->domain_ascii);
	a->localpart = a->domain = a->domain_ascii = NULL;
}

/*
 * RFC 5322 3.2.3 / RFC 5321 4.1.2:
 *   atext = ALPHA / DIGIT / "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" /
 *           "-" / "/" / "=" / "?" / "^" / "_" / "`" / "{" / "|" / "}" / "~"
 */
static bool
is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static bool
is_letdig(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* ---- domains ---- */

/*
 * RFC 5321 4.1.3:
 *   IPv4-address-literal = Snum 3("." Snum)
 *   Snum = 1*3DIGIT   ; representing a decimal integer value in the range 0 through 255
 */
static bool
ipv4_literal_valid(const char *s, size_t n)
{
	size_t i = 0;
	int parts;

	for (parts = 0; parts < 4; parts++) {
		unsigned v = 0, digits = 0;

		if (parts > 0) {
			if (i >= n || s[i] != '.')
				return false;
			i++;
		}
		while (i < n && s[i] >= '0' && s[i] <= '9' && digits < 4) {
			v = v * 10 + (unsigned)(s[i] - '0');
			digits++;
			i++;
		}
		if (digits == 0 || digits > 3 || v > 255)
			return false;
	}
	return i == n;
}

/*
 * RFC 5321 4.1.2 / 4.1.3:
 *   address-literal = "[" ( IPv4-address-literal / IPv6-address-literal /
 *                     General-address-literal ) "]"
 *   IPv6-address-literal = "IPv6:" IPv6-addr
 *   General-address-literal = Standardized-tag ":" 1*dcontent
 *   Standardized-tag = Ldh-str
 *   dcontent = %d33-90 / %d94-126
 */
static bool
address_literal_valid(const char *s, size_t n)
{
	const char *in, *colon;
	size_t inlen, i;

	if (n < 3 || s[0] != '[' || s[n - 1] != ']')
		return false;
	in = s + 1;
	inlen = n - 2;
	if (ipv4_literal_valid(in, inlen))
		return true;
	if (inlen > 5 && ms_strncaseeq(in, "IPv6:", 5)) {
		char tmp[64];
		struct in6_addr a6;

		/* inet_pton reads a C string: a NUL inside would hide what
		 * follows it (found by fuzz_addr). */
		if (inlen - 5 >= sizeof(tmp) || memchr(in + 5, '\0', inlen - 5) != NULL)
			return false;
		memcpy(tmp, in + 5, inlen - 5);
		tmp[inlen - 5] = '\0';
		return inet_pton(AF_INET6, tmp, &a6) == 1;
	}
	colon = memchr(in, ':', inlen);
	if (colon == NULL || colon == in || colon == in + inlen - 1)
		return false;
	/* Ldh-str = *( ALPHA / DIGIT / "-" ) Let-dig */
	for (i = 0; in + i < colon; i++)
		if (!is_letdig((unsigned char)in[i]) && in[i] != '-')
			return false;
	if (colon[-1] == '-')
		return false;
	for (i = (size_t)(colon - in) + 1; i < inlen; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c < 33 || c > 126 || (c >= 91 && c <= 93))
			return false;
	}
	return true;
}

/*
 * RFC 5321 4.1.2:
 *   sub-domain = Let-dig [Ldh-str]
 *   Let-dig    = ALPHA / DIGIT
 *   Ldh-str    = *( ALPHA / DIGIT / "-" ) Let-dig
 */
static bool
ldh_label_valid(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > MAX_LABEL)
		return false;
	if (!is_letdig((unsigned char)s[0]) || !is_letdig((unsigned char)s[n - 1]))
		return false;
	for (i = 1; i + 1 < n; i++)
		if (!is_letdig((unsigned char)s[i]) && s[i] != '-')
			return false;
	return true;
}

/* A-label to U-label, only when libidn2 agrees both ways; otherwise the
 * A-label is kept (IDNA2003-era names such as emoji domains still exist and
 * mail to them must not be refused for a display form). */
static void
alabel_to_unicode(struct buf *uni, const char *label)
{
	char *u = NULL, *back = NULL;

	if (idn2_to_unicode_8z8z(label, &u, 0) == IDN2_OK &&
	        idn2_to_ascii_8z(u, &back, IDN2_NONTRANSITIONAL) == IDN2_OK &&
	        strcmp(back, label) == 0)
		buf_puts(uni, u);
	else
		buf_puts(uni, label);
	idn2_free(u);
	idn2_free(back);
}

int
mail_domain_parse(
        const char *s, size_t n, bool utf8, char **unicode_r, char **ascii_r, const char **error_r)
{
	struct buf uni, asc, label;
	size_t i, start;
	int ret = -1;

	*unicode_r = *ascii_r = NULL;
	if (n == 0) {
		*error_r = "empty domain";
		return -1;
	}
	if (n > MAX_DOMAIN * 4) {
		*error_r = "domain too long";
		return -1;
	}
	if (s[0] == '[') {
		if (n > MAX_DOMAIN) {
			*error_r = "domain too long";
			return -1;
		}
		if (!address_literal_valid(s, n)) {
			*error_r = "invalid address literal";
			return -1;
		}
		*unicode_r = xstrndup(s, n);
		*ascii_r = xstrndup(s, n);
		return 0;
	}

	buf_init(&uni);
	buf_init(&asc);
	buf_init(&label);
	/* Domain = sub-domain *("." sub-domain); RFC 6531 3.3 adds
	 * sub-domain =/ U-label. Labels are converted one at a time so an
	 * ASCII label is judged by LDH rules only. */
	for (start = 0, i = 0; i <= n; i++) {
		bool ascii = true;
		size_t j, len;

		if (i < n && s[i] != '.')
			continue;
		len = i - start;
		if (len == 0) {
			*error_r = "empty label in domain";
			goto out;
		}
		buf_reset(&label);
		for (j = start; j < i; j++) {
			if (s[j] == '\0') {
				*error_r = "NUL in domain";
				goto out;
			}
			if ((unsigned char)s[j] >= 0x80)
				ascii = false;
			buf_putc(&label, ms_tolower(s[j]));
		}
		if (uni.len > 0) {
			buf_putc(&uni, '.');
			buf_putc(&asc, '.');
		}
		if (ascii) {
			if (!ldh_label_valid(label.data, label.len)) {
				*error_r = "invalid domain label";
				goto out;
			}
			buf_append(&asc, label.data, label.len);
			if (ms_startswith_ci(label.data, "xn--"))
				alabel_to_unicode(&uni, label.data);
			else
				buf_append(&uni, label.data, label.len);
		} else {
			char *a = NULL, *u = NULL;

			if (!utf8) {
				*error_r = "non-ASCII domain without SMTPUTF8";
				goto out;
			}
			if (!mail_utf8_valid(label.data, label.len)) {
				*error_r = "invalid UTF-8 in domain";
				goto out;
			}
			if (idn2_to_ascii_8z(label.data, &a,
			            IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL) != IDN2_OK) {
				*error_r = "invalid internationalized domain label";
				goto out;
			}
			ms_str_lower(a);
			if (strlen(a) > MAX_LABEL || idn2_to_unicode_8z8z(a, &u, 0) != IDN2_OK) {
				idn2_free(a);
				*error_r = "invalid internationalized domain label";
				goto out;
			}
			buf_puts(&asc, a);
			buf_puts(&uni, u);
			idn2_free(a);
			idn2_free(u);
		}
		start = i + 1;
	}
	if (asc.len > MAX_DOMAIN) {
		*error_r = "domain too long";
		goto out;
	}
	*unicode_r = buf_steal(&uni);
	*ascii_r = buf_steal(&asc);
	ret = 0;
out:
	buf_free(&uni);
	buf_free(&asc);
	buf_free(&label);
	return ret;
}

/* ---- RFC 5321 mailboxes and paths ---- */

/*
 * RFC 5321 4.1.2:
 *   Quoted-string   = DQUOTE *QcontentSMTP DQUOTE
 *   QcontentSMTP    = qtextSMTP / quoted-pairSMTP
 *   quoted-pairSMTP = %d92 %d32-126
 *   qtextSMTP       = %d32-33 / %d35-91 / %d93-126
 * RFC 6531 3.3: qtextSMTP =/ UTF8-non-ascii.
 * Scans from s[0] == '"'; returns the length through the closing quote or
 * 0 when invalid. Appends the unquoted content to out when non-NULL.
 */
static size_t
scan_quoted_smtp(const char *s, size_t n, bool utf8, struct buf *out, const char **error_r)
{
	size_t i = 1;

	while (i < n) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"')
			return i + 1;
		if (c == '\\') {
			if (i + 1 >= n || (unsigned char)s[i + 1] < 32 ||
			        (unsigned char)s[i + 1] > 126) {
				*error_r = "invalid quoted-pair in local-part";
				return 0;
			}
			if (out)
				buf_putc(out, s[i + 1]);
			i += 2;
		} else if (c >= 32 && c <= 126) {
			if (out)
				buf_putc(out, (char)c);
			i++;
		} else if (c >= 0x80) {
			size_t l = mail_utf8_seqlen(s + i, n - i);

			if (!utf8) {
				*error_r = "non-ASCII local-part without SMTPUTF8";
				return 0;
			}
			if (l == 0) {
				*error_r = "invalid UTF-8 in local-part";
				return 0;
			}
			if (out)
				buf_append(out, s + i, l);
			i += l;
		} else {
			*error_r = "invalid character in quoted local-part";
			return 0;
		}
	}
	*error_r = "unterminated quoted local-part";
	return 0;
}

/*
 * RFC 5321 4.1.2:
 *   Dot-string = Atom *("." Atom)
 *   Atom       = 1*atext
 * RFC 6531 3.3: atext =/ UTF8-non-ascii.
 * Scans up to the first byte that cannot continue a dot-string; returns
 * its length, or 0 with error_r set when what was scanned is not valid.
 */
static size_t
scan_dot_string(const char *s, size_t n, bool utf8, const char **error_r)
{
	size_t i = 0;
	bool need_atext = true;

	while (i < n) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (need_atext) {
				*error_r = "empty atom in local-part";
				return 0;
			}
			need_atext = true;
			i++;
		} else if (is_atext(c)) {
			need_atext = false;
			i++;
		} else if (c >= 0x80) {
			size_t l = mail_utf8_seqlen(s + i, n - i);

			if (!utf8) {
				*error_r = "non-ASCII local-part without SMTPUTF8";
				return 0;
			}
			if (l == 0) {
				*error_r = "invalid UTF-8 in local-part";
				return 0;
			}
			need_atext = false;
			i += l;
		} else {
			break;
		}
	}
	if (need_atext) {
		*error_r = i == 0 ? "empty local-part" : "local-part ends with a dot";
		return 0;
	}
	return i;
}

/*
 * RFC 5321 4.1.2:
 *   Mailbox    = Local-part "@" ( Domain / address-literal )
 *   Local-part = Dot-string / Quoted-string
 * The 64-octet limit applies to the Local-part as written (quotes and
 * escapes included), which is what travels in the SMTP command.
 */
int
mail_addr_parse_mailbox(
        const char *s, size_t n, bool utf8, struct mail_addr *a, const char **error_r)
{
	struct buf lp;
	size_t llen;
	char *uni, *asc;

	memset(a, 0, sizeof(*a));
	buf_init(&lp);
	if (n > 0 && s[0] == '"') {
		llen = scan_quoted_smtp(s, n, utf8, &lp, error_r);
	} else {
		llen = scan_dot_string(s, n, utf8, error_r);
		if (llen > 0)
			buf_append(&lp, s, llen);
	}
	if (llen == 0)
		goto fail;
	if (llen > MAX_LOCALPART) {
		*error_r = "local-part longer than 64 octets";
		goto fail;
	}
	if (llen >= n || s[llen] != '@') {
		*error_r = llen >= n ? "missing @domain" : "invalid character in local-part";
		goto fail;
	}
	if (mail_domain_parse(s + llen + 1, n - llen - 1, utf8, &uni, &asc, error_r) < 0)
		goto fail;
	a->localpart = buf_steal(&lp);
	a->domain = uni;
	a->domain_ascii = asc;
	buf_free(&lp);
	return 0;
fail:
	buf_free(&lp);
	return -1;
}

/*
 * RFC 5321 4.1.2:
 *   Reverse-path = Path / "<>"
 *   Forward-path = Path
 *   Path         = "<" [ A-d-l ":" ] Mailbox ">"
 *   A-d-l        = At-domain *( "," At-domain )
 *                ; Note that this form, the so-called "source
 *                ; route", MUST BE accepted, SHOULD NOT be
 *                ; generated, and SHOULD be ignored.
 *   At-domain    = "@" Domain
 */
int
mail_addr_parse_path(const char *s, size_t n, bool utf8, struct mail_addr *a, size_t *end_r,
        const char **error_r)
{
	size_t i, mb;

	memset(a, 0, sizeof(*a));
	*end_r = 0;
	if (n < 2 || s[0] != '<') {
		*error_r = "path must start with <";
		return -1;
	}
	if (s[1] == '>') {
		a->localpart = xstrdup("");
		a->domain = xstrdup("");
		a->domain_ascii = xstrdup("");
		*end_r = 2;
		return 0;
	}
	i = 1;
	if (s[i] == '@') {
		/* Source route: check each At-domain, then drop it. */
		for (;;) {
			size_t d0 = ++i; /* s[i] was "@" */
			char *u, *as;

			while (i < n && s[i] != ',' && s[i] != ':' && s[i] != '>')
				i++;
			if (i >= n || s[i] == '>') {
				*error_r = "unterminated source route";
				return -1;
			}
			if (mail_domain_parse(s + d0, i - d0, utf8, &u, &as, error_r) < 0)
				return -1;
			free(u);
			free(as);
			if (s[i] == ':') {
				i++;
				break;
			}
			/* s[i] == ',': the next At-domain starts after it. */
			if (++i >= n || s[i] != '@') {
				*error_r = "invalid source route";
				return -1;
			}
		}
	}
	/* Find the ">" that ends the mailbox: not inside the quoted
	 * local-part, and not inside an address literal, where dcontent
	 * may contain ">". */
	mb = i;
	if (i < n && s[i] == '"') {
		size_t q = scan_quoted_smtp(s + i, n - i, utf8, NULL, error_r);

		if (q == 0)
			return -1;
		i += q;
	}
	while (i < n && s[i] != '>') {
		if (s[i] == '[') {
			while (i < n && s[i] != ']')
				i++;
			if (i >= n)
				break;
		}
		i++;
	}
	if (i >= n) {
		*error_r = "path must end with >";
		return -1;
	}
	if (mail_addr_parse_mailbox(s + mb, i - mb, utf8, a, error_r) < 0)
		return -1;
	*end_r = i + 1;
	return 0;
}

static bool
is_dot_string(const char *s)
{
	size_t n = strlen(s), i;
	bool need = true;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (need)
				return false;
			need = true;
		} else if (is_atext(c) || c >= 0x80) {
			need = false;
		} else {
			return false;
		}
	}
	return !need;
}

void
mail_addr_format(struct buf *out, const struct mail_addr *a, bool utf8)
{
	const char *lp = a->localpart ? a->localpart : "";
	const char *dom = utf8 ? a->domain : a->domain_ascii;

	if (dom == NULL)
		dom = a->domain ? a->domain : "";
	if (lp[0] == '\0' && dom[0] == '\0')
		return; /* null path: the caller writes "<>" */
	if (is_dot_string(lp)) {
		buf_puts(out, lp);
	} else {
		/* Quoted-string: only DQUOTE and backslash need a quoted-pair. */
		buf_putc(out, '"');
		for (; *lp; lp++) {
			if (*lp == '"' || *lp == '\\')
				buf_putc(out, '\\');
			buf_putc(out, *lp);
		}
		buf_putc(out, '"');
	}
	buf_putc(out, '@');
	buf_puts(out, dom);
}

/* ---- RFC 5322 address lists ---- */

enum tok_type {
	T_WORD,    /* atom (dots included) */
	T_QSTR,    /* quoted-string, unquoted */
	T_DLIT,    /* domain-literal, brackets kept */
	T_SPECIAL, /* one of < > : ; , @ */
};

struct tok {
	enum tok_type type;
	char c;                     /* the special character */
	bool space_before;          /* CFWS before it */
	size_t text, textlen;       /* in the token text buffer */
	size_t comment, commentlen; /* first comment after it; len 0 if none */
	bool has_comment;
};

struct toks {
	struct tok *v;
	size_t n, cap;
	struct buf text; /* token texts, back to back */
};

static struct tok *
tok_add(struct toks *t, enum tok_type type, bool sp)
{
	struct tok *k;

	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->v = xrealloc(t->v, t->cap * sizeof(*t->v));
	}
	k = &t->v[t->n++];
	memset(k, 0, sizeof(*k));
	k->type = type;
	k->space_before = sp;
	k->text = t->text.len;
	return k;
}

static bool
is_hdr_special(char c)
{
	return c == '<' || c == '>' || c == ':' || c == ';' || c == ',' || c == '@';
}

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * RFC 5322 3.2.2:
 *   comment  = "(" *([FWS] ccontent) [FWS] ")"
 *   ccontent = ctext / quoted-pair / comment
 * Nested comments are kept in the text (they are rare and harmless in a
 * name); unterminated comments run to the end.
 */
static size_t
scan_comment(const char *s, size_t n, size_t i, struct buf *text)
{
	int depth = 0;

	for (; i < n; i++) {
		char c = s[i];

		if (c == '\\' && i + 1 < n) {
			buf_putc(text, s[++i]);
			continue;
		}
		if (c == '(') {
			if (depth++ == 0)
				continue;
		} else if (c == ')') {
			if (--depth == 0)
				return i + 1;
		} else if (c == '\r' || c == '\n') {
			continue;
		}
		buf_putc(text, c);
	}
	return n;
}

/*
 * RFC 5322 3.2.4:
 *   quoted-string = [CFWS] DQUOTE *([FWS] qcontent) [FWS] DQUOTE [CFWS]
 *   qcontent      = qtext / quoted-pair
 * 3.4.1:
 *   domain-literal = [CFWS] "[" *([FWS] dtext) [FWS] "]" [CFWS]
 */
static void
tokenize(const char *s, size_t n, struct toks *t)
{
	size_t i = 0;
	bool sp = false;

	while (i < n) {
		char c = s[i];
		struct tok *k;

		if (is_wsp(c)) {
			sp = true;
			i++;
		} else if (c == '(') {
			size_t start = t->text.len;
			size_t end = scan_comment(s, n, i, &t->text);

			if (t->n > 0 && !t->v[t->n - 1].has_comment &&
			        t->v[t->n - 1].type != T_SPECIAL) {
				k = &t->v[t->n - 1];
				k->has_comment = true;
				k->comment = start;
				k->commentlen = t->text.len - start;
			}
			i = end;
			sp = true;
		} else if (c == '"') {
			k = tok_add(t, T_QSTR, sp);
			for (i++; i < n && s[i] != '"'; i++) {
				if (s[i] == '\\' && i + 1 < n)
					i++;
				else if (s[i] == '\r' || s[i] == '\n')
					continue;
				buf_putc(&t->text, s[i]);
			}
			i++;
			k->textlen = t->text.len - k->text;
			sp = false;
		} else if (c == '[') {
			k = tok_add(t, T_DLIT, sp);
			for (; i < n; i++) {
				if (s[i] == '\\' && i + 1 < n)
					i++;
				else if (is_wsp(s[i]))
					continue;
				buf_putc(&t->text, s[i]);
				if (s[i] == ']') {
					i++;
					break;
				}
			}
			k->textlen = t->text.len - k->text;
			sp = false;
		} else if (is_hdr_special(c)) {
			k = tok_add(t, T_SPECIAL, sp);
			k->c = c;
			i++;
			sp = false;
		} else {
			/* Atoms, with dots (dot-atom, obs-phrase) and anything
			 * else that is not a delimiter, so junk stays in one
			 * place instead of derailing the parse. */
			k = tok_add(t, T_WORD, sp);
			while (i < n && !is_wsp(s[i]) && s[i] != '(' && s[i] != '"' &&
			        s[i] != '[' && !is_hdr_special(s[i]))
				buf_putc(&t->text, s[i++]);
			k->textlen = t->text.len - k->text;
			sp = false;
		}
	}
}

static bool
is_word(const struct tok *k)
{
	return k->type != T_SPECIAL;
}

static bool
is_sp(const struct toks *t, size_t i, char c)
{
	return i < t->n && t->v[i].type == T_SPECIAL && t->v[i].c == c;
}

/* Display name from tokens [a, b): words joined as written (a space where
 * there was whitespace), then RFC 2047 decoded. Encoded-words inside
 * quoted strings are decoded too, as common mailers produce them. */
static char *
phrase_text(const struct toks *t, size_t a, size_t b)
{
	struct buf raw, dec;
	size_t i;

	buf_init(&raw);
	buf_init(&dec);
	for (i = a; i < b; i++) {
		if (i > a && t->v[i].space_before)
			buf_putc(&raw, ' ');
		buf_append(&raw, t->text.data + t->v[i].text, t->v[i].textlen);
	}
	mail_header_decode_words(&dec, raw.data, raw.len);
	buf_free(&raw);
	return mail_buf_finish(&dec);
}

/* Local-part or domain from tokens [a, b), concatenated (obs-local-part
 * allows CFWS around the dots). */
static void
concat_text(struct buf *out, const struct toks *t, size_t a, size_t b)
{
	size_t i;

	for (i = a; i < b; i++)
		buf_append(out, t->text.data + t->v[i].text, t->v[i].textlen);
}

struct list_state {
	struct mail_hdr_addrs *out;
	size_t cap;
	char *group; /* current group name, or NULL */
	size_t group_count;
};

static void
emit(struct list_state *st, char *name, const char *lp, size_t lplen, const char *dom,
        size_t domlen)
{
	struct mail_hdr_addr *a;
	char *d;

	if (st->out->n >= MAX_HDR_ADDRS) {
		free(name);
		return;
	}
	if (st->out->n == st->cap) {
		st->cap = st->cap ? st->cap * 2 : 4;
		st->out->v = xrealloc(st->out->v, st->cap * sizeof(*st->out->v));
	}
	a = &st->out->v[st->out->n++];
	a->name = name ? name : xstrdup("");
	a->localpart = mail_utf8_strndup(lp, lplen);
	d = mail_utf8_strndup(dom, domlen);
	ms_str_lower(d);
	a->domain = d;
	a->group = st->group ? xstrdup(st->group) : NULL;
	st->group_count++;
}

/* Parse an addr-spec starting at token i: local-part tokens, "@", domain
 * tokens; stops at the first special that does not belong. Returns the
 * index after it and emits the address (name may be NULL). */
static size_t
parse_addr_spec(struct list_state *st, const struct toks *t, size_t i, char *name, bool use_comment)
{
	struct buf lp, dom;
	size_t a = i, last;

	buf_init(&lp);
	buf_init(&dom);
	while (i < t->n && is_word(&t->v[i]))
		i++;
	concat_text(&lp, t, a, i);
	last = i;
	if (is_sp(t, i, '@')) {
		size_t d0 = ++i;

		while (i < t->n && is_word(&t->v[i]))
			i++;
		concat_text(&dom, t, d0, i);
		last = i;
	}
	/* addr-spec (Comment) is the old way of giving a name. */
	if (use_comment && name == NULL && last > a && t->v[last - 1].has_comment) {
		const struct tok *k = &t->v[last - 1];
		struct buf dec;

		buf_init(&dec);
		mail_header_decode_words(&dec, t->text.data + k->comment, k->commentlen);
		name = mail_buf_finish(&dec);
	}
	if (lp.len > 0)
		emit(st, name, lp.data, lp.len, dom.data, dom.len);
	else
		free(name);
	buf_free(&lp);
	buf_free(&dom);
	return i;
}

/* Skip junk up to the next "," or ";" (not consumed). */
static size_t
skip_junk(const struct toks *t, size_t i)
{
	while (i < t->n && !is_sp(t, i, ',') && !is_sp(t, i, ';'))
		i++;
	return i;
}

/*
 * RFC 5322 3.4:
 *   address-list  = (address *("," address)) / obs-addr-list
 *   address       = mailbox / group
 *   mailbox       = name-addr / addr-spec
 *   name-addr     = [display-name] angle-addr
 *   angle-addr    = [CFWS] "<" addr-spec ">" [CFWS] / obs-angle-addr
 *   group         = display-name ":" [group-list] ";" [CFWS]
 *   display-name  = phrase
 *   group-list    = mailbox-list / CFWS / obs-group-list
 * 3.4.1:
 *   addr-spec     = local-part "@" domain
 * 4.4:
 *   obs-angle-addr  = [CFWS] "<" obs-route addr-spec ">" [CFWS]
 *   obs-route       = obs-domain-list ":"
 *   obs-domain-list = *(CFWS / ",") "@" domain *("," [CFWS] ["@" domain])
 *   obs-addr-list   = *([CFWS] ",") address *("," [address / CFWS])
 */
int
mail_hdr_addrs_parse(const char *s, size_t n, struct mail_hdr_addrs *out)
{
	struct toks t;
	struct list_state st;
	size_t i = 0;

	memset(out, 0, sizeof(*out));
	memset(&t, 0, sizeof(t));
	memset(&st, 0, sizeof(st));
	buf_init(&t.text);
	st.out = out;
	tokenize(s, n, &t);

	while (i < t.n && out->n < MAX_HDR_ADDRS) {
		size_t j;

		if (is_sp(&t, i, ',') || is_sp(&t, i, '>')) {
			i++;
			continue;
		}
		if (is_sp(&t, i, ';')) {
			if (st.group != NULL) {
				if (st.group_count == 0)
					emit(&st, NULL, "", 0, "", 0);
				free(st.group);
				st.group = NULL;
			}
			i++;
			continue;
		}
		j = i;
		while (j < t.n && is_word(&t.v[j]))
			j++;
		if (is_sp(&t, j, '<')) {
			/* name-addr */
			char *name = j > i ? phrase_text(&t, i, j) : NULL;
			size_t k = j + 1;

			if (is_sp(&t, k, '@')) {
				/* obs-route: skip up to its ":" */
				size_t m = k;

				while (m < t.n && !is_sp(&t, m, ':') && !is_sp(&t, m, '>'))
					m++;
				if (is_sp(&t, m, ':'))
					k = m + 1;
			}
			k = parse_addr_spec(&st, &t, k, name, false);
			if (is_sp(&t, k, '>'))
				k++;
			i = skip_junk(&t, k);
		} else if (is_sp(&t, j, '@')) {
			i = skip_junk(&t, parse_addr_spec(&st, &t, i, NULL, true));
		} else if (is_sp(&t, j, ':')) {
			if (st.group == NULL) {
				st.group = phrase_text(&t, i, j);
				st.group_count = 0;
			}
			i = j + 1;
		} else if (j > i) {
			/* A bare word ("To: joe"): kept as a local-part without
			 * a domain, as IMAP servers show it. */
			char *lp = phrase_text(&t, i, j);

			emit(&st, NULL, lp, strlen(lp), "", 0);
			free(lp);
			i = skip_junk(&t, j);
		} else {
			i = skip_junk(&t, j + 1);
		}
	}
	/* A group missing its ";" still ends here. */
	if (st.group != NULL && st.group_count == 0)
		emit(&st, NULL, "", 0, "", 0);
	free(st.group);
	free(t.v);
	buf_free(&t.text);
	return out->n == 0 && t.n > 0 ? -1 : 0;
}

void
mail_hdr_addrs_free(struct mail_hdr_addrs *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].localpart);
		free(l->v[i].domain);
		free(l->v[i].group);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}
