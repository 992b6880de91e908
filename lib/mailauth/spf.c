/* SPF check_host() (RFC 7208 4-6): record selection, the record parser,
 * mechanisms and modifiers with the lookup limits, and explanations.
 * Macros are in spf_macro.c, the Received-SPF header in spf_received.c. */
#include "config.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/util.h"
#include "mailauth/spf.h"
#include "mailauth/spf_private.h"
#include "net/dns.h"

/* include and redirect each count as a lookup, so the limit ends any
 * recursion first; this is a second guard. */
#define SPF_MAX_DEPTH (SPF_MAX_LOOKUPS + 2)

const char *
spf_result_name(enum spf_result r)
{
	switch (r) {
	case SPF_NONE:
		return "none";
	case SPF_NEUTRAL:
		return "neutral";
	case SPF_PASS:
		return "pass";
	case SPF_FAIL:
		return "fail";
	case SPF_SOFTFAIL:
		return "softfail";
	case SPF_TEMPERROR:
		return "temperror";
	case SPF_PERMERROR:
		return "permerror";
	}
	return "unknown";
}

/* ---- context ---- */

int
spf_ctx_init(struct spf_ctx *c, struct dns *d, const struct spf_args *args,
	const char **error_r)
{
	unsigned char b[16];

	memset(c, 0, sizeof(*c));
	c->d = d;
	c->args = args;
	c->all_authentic = true;
	c->localpart = args->localpart != NULL && args->localpart[0] != '\0' ?
	    args->localpart : "postmaster";
	c->sender_domain = args->domain != NULL ? args->domain : "";
	c->now = args->now != 0 ? args->now : ms_now();
	if (args->ip == NULL) {
		*error_r = "no client IP address";
		return -1;
	}
	if (inet_pton(AF_INET, args->ip, b) == 1) {
		c->v4 = true;
		memcpy(c->ip, b, 4);
	} else if (inet_pton(AF_INET6, args->ip, b) == 1) {
		static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

		/* An IPv4-mapped address is the IPv4 client it stands for. */
		if (memcmp(b, mapped, sizeof(mapped)) == 0) {
			c->v4 = true;
			memcpy(c->ip, b + 12, 4);
		} else
			memcpy(c->ip, b, 16);
	} else {
		*error_r = "client IP address is invalid";
		return -1;
	}
	if (inet_ntop(c->v4 ? AF_INET : AF_INET6, c->ip, c->ip_text, sizeof(c->ip_text)) == NULL) {
		*error_r = "client IP address is invalid";
		return -1;
	}
	return 0;
}

void
spf_ctx_free(struct spf_ctx *c)
{
	size_t i;

	for (i = 0; i < c->ptr_n; i++)
		free(c->ptr_names[i]);
	c->ptr_n = 0;
	free(c->problem);
	free(c->explanation);
	c->problem = c->explanation = NULL;
}

static void set_problem(struct spf_ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The first reason wins: it is the one that ended the evaluation. */
static void
set_problem(struct spf_ctx *c, const char *fmt, ...)
{
	struct buf b;
	va_list ap;

	if (c->problem != NULL)
		return;
	buf_init(&b);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	c->problem = buf_steal(&b);
	buf_free(&b);
}

/* Every answer used counts for "authentic". */
static enum dns_status
lookup(struct spf_ctx *c, const char *name, enum dns_type type, struct dns_answer *a)
{
	dns_lookup(c->d, name, type, a);
	c->answers++;
	if (!a->authentic)
		c->all_authentic = false;
	return a->status;
}

/* ---- names and addresses ---- */

/* RFC 7208 4.3: a multi-label name with labels of 1-63 bytes, at most 253
 * in all (a final dot allowed), no spaces or control characters. */
static bool
domain_valid(const char *s)
{
	size_t len = strlen(s), labels = 0, i, l = 0;

	if (len > 0 && s[len - 1] == '.')
		len--;
	if (len == 0 || len > 253)
		return false;
	for (i = 0; i <= len; i++) {
		if (i == len || s[i] == '.') {
			if (l == 0 || l > 63)
				return false;
			labels++;
			l = 0;
			continue;
		}
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f || s[i] == '\\')
			return false;
		l++;
	}
	return labels >= 2;
}

/* Do the first bits of a and b agree? */
static bool
prefix_match(const unsigned char *a, const unsigned char *b, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;

	if (memcmp(a, b, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[full] ^ b[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

/* Does the address text (from an A/AAAA answer) match the client? */
static bool
addr_match(const struct spf_ctx *c, const char *text, unsigned bits4, unsigned bits6)
{
	unsigned char b[16];

	if (c->v4)
		return inet_pton(AF_INET, text, b) == 1 && prefix_match(c->ip, b, bits4);
	return inet_pton(AF_INET6, text, b) == 1 && prefix_match(c->ip, b, bits6);
}

void
spf_ptr_validate(struct spf_ctx *c)
{
	struct dns_answer pa, aa;
	char *rev;
	size_t i, j;

	if (c->ptr_done || c->d == NULL)
		return;
	c->ptr_done = true;
	rev = dns_reverse_name(c->ip_text);
	if (rev == NULL)
		return;
	if (lookup(c, rev, DNS_PTR, &pa) == DNS_OK) {
		/* 4.6.4: only the first 10 names are looked at. */
		for (i = 0; i < pa.n && i < SPF_MAX_NAMES; i++) {
			const char *name = pa.rr[i].text;

			if (name[0] == '\0' || !domain_valid(name))
				continue;
			/* 5.5: a lookup error skips the name. */
			if (lookup(c, name, c->v4 ? DNS_A : DNS_AAAA, &aa) == DNS_OK) {
				for (j = 0; j < aa.n; j++) {
					if (addr_match(c, aa.rr[j].text, 32, 128)) {
						c->ptr_names[c->ptr_n++] = xstrdup(name);
						break;
					}
				}
			}
			dns_answer_free(&aa);
		}
	}
	dns_answer_free(&pa);
	free(rev);
}

/* ---- record syntax (RFC 7208 4.6.1, 12) ----
 *   record      = version terms *SP
 *   version     = "v=spf1"
 *   terms       = *( 1*SP ( directive / modifier ) )
 *   directive   = [ qualifier ] mechanism
 *   qualifier   = "+" / "-" / "?" / "~"
 *   mechanism   = ( all / include / a / mx / ptr / ip4 / ip6 / exists )
 *   modifier    = redirect / explanation / unknown-modifier
 *   unknown-modifier = name "=" macro-string
 *   name        = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )
 */

enum term_kind {
	TERM_ALL,
	TERM_INCLUDE,
	TERM_A,
	TERM_MX,
	TERM_PTR,
	TERM_IP4,
	TERM_IP6,
	TERM_EXISTS,
	TERM_REDIRECT,
	TERM_EXP,
	TERM_UNKNOWN,
};

struct term {
	enum term_kind kind;
	char qual;		/* '+', '-', '~', '?' */
	const char *text;	/* the term as written */
	size_t text_len;
	const char *spec;	/* domain-spec / modifier value, NULL if absent */
	size_t spec_len;
	unsigned cidr4, cidr6;
	unsigned char net[16];
};

struct record {
	struct term *t;
	size_t n;
	const struct term *redirect, *exp;	/* set when parsing is done */
	bool has_redirect, has_exp;
};

static const struct {
	const char *name;
	enum term_kind kind;
} mechanisms[] = {
	{ "all", TERM_ALL }, { "include", TERM_INCLUDE }, { "a", TERM_A },
	{ "mx", TERM_MX }, { "ptr", TERM_PTR }, { "ip4", TERM_IP4 },
	{ "ip6", TERM_IP6 }, { "exists", TERM_EXISTS },
};

static bool
is_alpha(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static bool
is_alnum(char ch)
{
	return is_alpha(ch) || (ch >= '0' && ch <= '9');
}

/* toplabel = ( *alphanum ALPHA *alphanum ) /
 *            ( 1*alphanum "-" *( alphanum / "-" ) alphanum ) */
static bool
toplabel_valid(const char *s, size_t n)
{
	bool alpha = false, hyphen = false;
	size_t i;

	if (n == 0 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] == '-')
			hyphen = true;
		else if (!is_alnum(s[i]))
			return false;
		else if (is_alpha(s[i]))
			alpha = true;
	}
	return alpha || hyphen;
}

/* domain-spec = macro-string domain-end
 * domain-end  = ( "." toplabel [ "." ] ) / macro-expand */
static int
domain_spec_check(const char *s, size_t len, const char **error_r)
{
	bool ends_macro;
	size_t end, dot;

	if (len == 0) {
		*error_r = "empty domain-spec";
		return -1;
	}
	if (spf_macro_check(s, len, false, &ends_macro, error_r) < 0)
		return -1;
	if (ends_macro)
		return 0;
	end = len;
	if (s[end - 1] == '.')
		end--;
	for (dot = end; dot > 0 && s[dot - 1] != '.'; dot--)
		;
	if (dot == 0 || !toplabel_valid(s + dot, end - dot)) {
		*error_r = ms_err("domain-spec %.*s does not end in a valid top label",
			(int)(len > 100 ? 100 : len), s);
		return -1;
	}
	return 0;
}

/* "/" ( "0" / %x31-39 0*1DIGIT ) for IPv4 (max 32), 0*2DIGIT for IPv6. */
static int
cidr_parse(const char *s, size_t len, unsigned max, unsigned *out)
{
	uint64_t v;

	if (len == 0 || len > 3 || (len > 1 && s[0] == '0') ||
	    ms_parse_u64n(s, len, 0, max, &v) < 0)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* dual-cidr-length = [ ip4-cidr-length ] [ "/" ip6-cidr-length ]; s starts
 * at the first "/". */
static int
dual_cidr_parse(const char *s, size_t len, struct term *t, bool want4, bool want6,
	const char **error_r)
{
	size_t i = 0, n;

	if (len == 0)
		return 0;
	if (want4 && len >= 2 && s[1] != '/') {
		for (n = 1; n < len && s[n] != '/'; n++)
			;
		if (cidr_parse(s + 1, n - 1, 32, &t->cidr4) < 0)
			goto bad;
		i = n;
	}
	if (i < len && want6) {
		if (want4) {
			/* "//" before the IPv6 length */
			if (len - i < 3 || s[i] != '/' || s[i + 1] != '/')
				goto bad;
			i += 2;
		} else {
			if (s[i] != '/')
				goto bad;
			i++;
		}
		if (cidr_parse(s + i, len - i, 128, &t->cidr6) < 0)
			goto bad;
		i = len;
	}
	if (i != len)
		goto bad;
	return 0;
bad:
	*error_r = ms_err("invalid CIDR length %.*s", (int)(len > 40 ? 40 : len), s);
	return -1;
}

/* The first "/" of arg that is not inside a "%{...}". */
static size_t
slash_outside_macros(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		if (s[i] == '/')
			return i;
		if (s[i] == '%' && i + 1 < len && s[i + 1] == '{') {
			const char *close = memchr(s + i, '}', len - i);

			if (close == NULL)
				return len;
			i = (size_t)(close - s) + 1;
		} else if (s[i] == '%') {
			i += 2;
		} else {
			i++;
		}
	}
	return len;
}

static int
parse_mechanism(struct term *t, const char *args, size_t alen, const char **error_r)
{
	size_t slash;
	char ip[64];

	switch (t->kind) {
	case TERM_ALL:
		if (alen != 0)
			goto extra;
		return 0;
	case TERM_INCLUDE:
	case TERM_EXISTS:
		if (alen < 2 || args[0] != ':') {
			*error_r = ms_err("%.*s needs \":domain\"", (int)t->text_len > 60 ? 60 :
				(int)t->text_len, t->text);
			return -1;
		}
		t->spec = args + 1;
		t->spec_len = alen - 1;
		return domain_spec_check(t->spec, t->spec_len, error_r);
	case TERM_A:
	case TERM_MX:
	case TERM_PTR:
		t->cidr4 = 32;
		t->cidr6 = 128;
		if (alen == 0)
			return 0;
		if (args[0] == ':') {
			slash = 1 + slash_outside_macros(args + 1, alen - 1);
			t->spec = args + 1;
			t->spec_len = slash - 1;
			if (domain_spec_check(t->spec, t->spec_len, error_r) < 0)
				return -1;
		} else if (args[0] == '/') {
			slash = 0;
		} else {
			goto extra;
		}
		if (slash < alen && t->kind == TERM_PTR)
			goto extra;
		return dual_cidr_parse(args + slash, alen - slash, t, true, true, error_r);
	case TERM_IP4:
	case TERM_IP6:
		if (alen < 2 || args[0] != ':') {
			*error_r = t->kind == TERM_IP4 ? "ip4 needs \":address\"" :
			    "ip6 needs \":address\"";
			return -1;
		}
		for (slash = 1; slash < alen && args[slash] != '/'; slash++)
			;
		if (slash - 1 >= sizeof(ip))
			goto badip;
		memcpy(ip, args + 1, slash - 1);
		ip[slash - 1] = '\0';
		t->cidr4 = 32;
		t->cidr6 = 128;
		if (inet_pton(t->kind == TERM_IP4 ? AF_INET : AF_INET6, ip, t->net) != 1)
			goto badip;
		return dual_cidr_parse(args + slash, alen - slash, t, t->kind == TERM_IP4,
			t->kind == TERM_IP6, error_r);
	default:
		break;
	}
	return 0;
extra:
	*error_r = ms_err("malformed mechanism %.*s", (int)(t->text_len > 60 ? 60 : t->text_len),
		t->text);
	return -1;
badip:
	*error_r = ms_err("invalid address in %.*s", (int)(t->text_len > 60 ? 60 : t->text_len),
		t->text);
	return -1;
}

static int
parse_term(struct record *r, struct term *t, const char **error_r)
{
	const char *s = t->text, *name;
	size_t len = t->text_len, i = 0, nlen, k;

	if (s[0] == '+' || s[0] == '-' || s[0] == '~' || s[0] == '?') {
		t->qual = s[0];
		i = 1;
	} else
		t->qual = '+';
	name = s + i;
	for (nlen = 0; i + nlen < len && (name[nlen] == '\0' ||
	    strchr(":/=", name[nlen]) == NULL); nlen++)
		;
	if (i + nlen < len && name[nlen] == '=') {
		/* A modifier. */
		if (i != 0) {
			*error_r = "qualifier before a modifier";
			return -1;
		}
		if (nlen == 0 || !is_alpha(name[0])) {
			*error_r = "invalid modifier name";
			return -1;
		}
		for (k = 1; k < nlen; k++) {
			if (!is_alnum(name[k]) && name[k] != '-' && name[k] != '_' && name[k] != '.') {
				*error_r = "invalid modifier name";
				return -1;
			}
		}
		t->spec = name + nlen + 1;
		t->spec_len = len - i - nlen - 1;
		if (nlen == 8 && ms_strncaseeq(name, "redirect", 8)) {
			if (r->has_redirect) {
				*error_r = "more than one redirect modifier";
				return -1;
			}
			t->kind = TERM_REDIRECT;
			return domain_spec_check(t->spec, t->spec_len, error_r);
		}
		if (nlen == 3 && ms_strncaseeq(name, "exp", 3)) {
			if (r->has_exp) {
				*error_r = "more than one exp modifier";
				return -1;
			}
			t->kind = TERM_EXP;
			return domain_spec_check(t->spec, t->spec_len, error_r);
		}
		/* 6: unknown modifiers are ignored, but must parse. */
		t->kind = TERM_UNKNOWN;
		return spf_macro_check(t->spec, t->spec_len, true, NULL, error_r);
	}
	for (k = 0; k < MS_NELEM(mechanisms); k++) {
		if (strlen(mechanisms[k].name) == nlen && ms_strncaseeq(name, mechanisms[k].name, nlen)) {
			t->kind = mechanisms[k].kind;
			return parse_mechanism(t, name + nlen, len - i - nlen, error_r);
		}
	}
	*error_r = ms_err("unknown mechanism %.*s", (int)(len > 60 ? 60 : len), s);
	return -1;
}

/* Is this TXT string an SPF record? 4.5: it starts with "v=spf1" followed
 * by a space or its end. */
static bool
is_spf_record(const char *s, size_t len)
{
	return len >= 6 && ms_strncaseeq(s, "v=spf1", 6) && (len == 6 || s[6] == ' ');
}

static void
record_free(struct record *r)
{
	free(r->t);
	memset(r, 0, sizeof(*r));
}

/* Parse a whole record (after the version). 4.6: any syntax error makes
 * the record a permerror, before anything is evaluated. */
static int
record_parse(const char *s, size_t len, struct record *r, const char **error_r)
{
	size_t i, cap = 0;

	memset(r, 0, sizeof(*r));
	if (!is_spf_record(s, len)) {
		*error_r = "not an SPF record (no \"v=spf1\")";
		return -1;
	}
	for (i = 6; i < len;) {
		struct term *t;
		size_t n;

		if (s[i] == ' ') {
			i++;
			continue;
		}
		for (n = 0; i + n < len && s[i + n] != ' '; n++)
			;
		if (r->n == cap) {
			cap = cap ? cap * 2 : 8;
			r->t = xrealloc(r->t, cap * sizeof(*r->t));
		}
		t = &r->t[r->n];
		memset(t, 0, sizeof(*t));
		t->text = s + i;
		t->text_len = n;
		if (parse_term(r, t, error_r) < 0) {
			record_free(r);
			return -1;
		}
		if (t->kind == TERM_REDIRECT)
			r->has_redirect = true;
		else if (t->kind == TERM_EXP)
			r->has_exp = true;
		r->n++;
		i += n;
	}
	/* Now that the array no longer moves. */
	for (i = 0; i < r->n; i++) {
		if (r->t[i].kind == TERM_REDIRECT)
			r->redirect = &r->t[i];
		else if (r->t[i].kind == TERM_EXP)
			r->exp = &r->t[i];
	}
	return 0;
}

int
spf_record_check(const char *record, size_t len, const char **error_r)
{
	struct record r;

	if (record_parse(record, len, &r, error_r) < 0)
		return -1;
	record_free(&r);
	return 0;
}

/* ---- evaluation ---- */

enum match {
	MATCH_NO,
	MATCH_YES,
	MATCH_TEMPERROR,
	MATCH_PERMERROR,
};

static enum spf_result check_host(struct spf_ctx *c, const char *domain, unsigned depth,
	bool top, char **mech_r);

/* 4.6.4: the lookup limit, counted when a term is evaluated. */
static bool
count_lookup(struct spf_ctx *c)
{
	if (++c->lookups > SPF_MAX_LOOKUPS) {
		set_problem(c, "more than %d DNS-querying terms", SPF_MAX_LOOKUPS);
		return false;
	}
	return true;
}

static bool
count_void(struct spf_ctx *c)
{
	if (++c->void_lookups > SPF_MAX_VOID) {
		set_problem(c, "more than %d void lookups", SPF_MAX_VOID);
		return false;
	}
	return true;
}

/* The target of a term: its expanded domain-spec, or the current domain. */
static int
target_name(struct spf_ctx *c, const struct term *t, const char *domain, struct buf *out)
{
	const char *err;

	if (t->spec == NULL) {
		buf_puts(out, domain);
		return 0;
	}
	if (spf_macro_expand_ctx(c, domain, t->spec, t->spec_len, false, true, out, &err) < 0) {
		set_problem(c, "%.*s: %s", (int)(t->text_len > 60 ? 60 : t->text_len), t->text, err);
		return -1;
	}
	return 0;
}

/* What a lookup without records means for a term (RFC 7208 4.6.4, 5): no
 * match, with a void lookup counted when void_counts (permerror past the
 * limit), or temperror for a temporary DNS failure; what is the problem
 * text's name of the lookup ("MX of example.org"). */
static enum match
no_records(struct spf_ctx *c, const struct dns_answer *a, bool void_counts,
	const char *what, const char *name)
{
	switch (a->status) {
	case DNS_NXDOMAIN:
	case DNS_NODATA:
		if (void_counts && !count_void(c))
			return MATCH_PERMERROR;
		return MATCH_NO;
	case DNS_TEMPERROR:
		set_problem(c, "looking up %s%s: %s", what, name,
			a->error ? a->error : "temporary error");
		return MATCH_TEMPERROR;
	default:
		return MATCH_NO;
	}
}

/* Any A/AAAA of name within the term's CIDR lengths? void_counts: a
 * name without addresses is a void lookup (a; not the hosts of mx). */
static enum match
match_host(struct spf_ctx *c, const struct term *t, const char *name, bool void_counts)
{
	struct dns_answer a;
	enum match m = MATCH_NO;
	size_t i;

	if (!domain_valid(name))
		return MATCH_NO;	/* cannot exist */
	switch (lookup(c, name, c->v4 ? DNS_A : DNS_AAAA, &a)) {
	case DNS_OK:
		for (i = 0; i < a.n && m == MATCH_NO; i++)
			if (addr_match(c, a.rr[i].text, t->cidr4, t->cidr6))
				m = MATCH_YES;
		break;
	default:
		m = no_records(c, &a, void_counts, "", name);
		break;
	}
	dns_answer_free(&a);
	return m;
}

static enum match
match_mx(struct spf_ctx *c, const struct term *t, const char *name)
{
	struct dns_answer a;
	enum match m = MATCH_NO;
	size_t i;

	if (!domain_valid(name))
		return MATCH_NO;
	switch (lookup(c, name, DNS_MX, &a)) {
	case DNS_OK:
		/* 4.6.4: more than 10 MX names is a permerror. */
		if (a.n > SPF_MAX_NAMES) {
			set_problem(c, "%s has more than %d MX records", name, SPF_MAX_NAMES);
			m = MATCH_PERMERROR;
			break;
		}
		for (i = 0; i < a.n && m == MATCH_NO; i++) {
			if (a.rr[i].text[0] == '\0')
				continue;	/* null MX */
			m = match_host(c, t, a.rr[i].text, false);
		}
		break;
	default:
		m = no_records(c, &a, true, "MX of ", name);
		break;
	}
	dns_answer_free(&a);
	return m;
}

/* 5.5: a validated name that is the target or a subdomain of it. */
static enum match
match_ptr(struct spf_ctx *c, const char *target)
{
	size_t tl = strlen(target), i;

	spf_ptr_validate(c);
	if (c->ptr_n == 0 && !count_void(c))
		return MATCH_PERMERROR;
	for (i = 0; i < c->ptr_n; i++) {
		const char *n = c->ptr_names[i];
		size_t nl = strlen(n);

		if ((nl == tl && ms_strcaseeq(n, target)) ||
		    (nl > tl && n[nl - tl - 1] == '.' && ms_strcaseeq(n + nl - tl, target)))
			return MATCH_YES;
	}
	return MATCH_NO;
}

static enum match
match_exists(struct spf_ctx *c, const char *name)
{
	struct dns_answer a;
	enum match m = MATCH_NO;

	if (!domain_valid(name))
		return MATCH_NO;
	/* 5.7: always an A lookup, whatever the client's family. */
	switch (lookup(c, name, DNS_A, &a)) {
	case DNS_OK:
		m = MATCH_YES;
		break;
	default:
		m = no_records(c, &a, true, "", name);
		break;
	}
	dns_answer_free(&a);
	return m;
}

/* 5.2: include's result table. */
static enum match
match_include(struct spf_ctx *c, const char *target, unsigned depth)
{
	switch (check_host(c, target, depth + 1, false, NULL)) {
	case SPF_PASS:
		return MATCH_YES;
	case SPF_FAIL:
	case SPF_SOFTFAIL:
	case SPF_NEUTRAL:
		return MATCH_NO;
	case SPF_TEMPERROR:
		return MATCH_TEMPERROR;
	case SPF_NONE:
		set_problem(c, "include:%s has no SPF record", target);
		return MATCH_PERMERROR;
	case SPF_PERMERROR:
		return MATCH_PERMERROR;
	}
	return MATCH_PERMERROR;
}

static enum match
eval_mechanism(struct spf_ctx *c, const struct term *t, const char *domain, unsigned depth)
{
	struct buf target;
	enum match m = MATCH_NO;

	switch (t->kind) {
	case TERM_ALL:
		return MATCH_YES;
	case TERM_IP4:
		return c->v4 && prefix_match(c->ip, t->net, t->cidr4) ? MATCH_YES : MATCH_NO;
	case TERM_IP6:
		return !c->v4 && prefix_match(c->ip, t->net, t->cidr6) ? MATCH_YES : MATCH_NO;
	case TERM_INCLUDE:
	case TERM_A:
	case TERM_MX:
	case TERM_PTR:
	case TERM_EXISTS:
		break;
	default:
		return MATCH_NO;
	}
	if (!count_lookup(c))
		return MATCH_PERMERROR;
	buf_init(&target);
	if (target_name(c, t, domain, &target) < 0) {
		buf_free(&target);
		return MATCH_PERMERROR;
	}
	switch (t->kind) {
	case TERM_INCLUDE:
		m = match_include(c, target.data, depth);
		break;
	case TERM_A:
		m = match_host(c, t, target.data, true);
		break;
	case TERM_MX:
		m = match_mx(c, t, target.data);
		break;
	case TERM_PTR:
		m = match_ptr(c, target.data);
		break;
	case TERM_EXISTS:
		m = match_exists(c, target.data);
		break;
	default:
		break;
	}
	buf_free(&target);
	return m;
}

/* 6.2: the explanation for a fail. Any problem means no explanation. */
static void
explain(struct spf_ctx *c, const struct term *exp, const char *domain)
{
	struct buf name, text;
	struct dns_answer a;
	const char *err;
	size_t i;

	buf_init(&name);
	buf_init(&text);
	if (spf_macro_expand_ctx(c, domain, exp->spec, exp->spec_len, false, true, &name,
		    &err) < 0 || !domain_valid(name.data))
		goto out;
	if (lookup(c, name.data, DNS_TXT, &a) == DNS_OK && a.n == 1 &&
	    memchr(a.rr[0].text, '\0', a.rr[0].text_len) == NULL &&
	    spf_macro_expand_ctx(c, domain, a.rr[0].text, a.rr[0].text_len, true, false, &text,
		&err) == 0) {
		/* Only printable ASCII reaches the header and the reply. */
		for (i = 0; i < text.len; i++)
			if ((unsigned char)text.data[i] < 0x20 || (unsigned char)text.data[i] >= 0x7f)
				text.data[i] = '?';
		free(c->explanation);
		c->explanation = buf_steal(&text);
	}
	dns_answer_free(&a);
out:
	buf_free(&name);
	buf_free(&text);
}

static enum spf_result
qualifier_result(char q)
{
	switch (q) {
	case '-':
		return SPF_FAIL;
	case '~':
		return SPF_SOFTFAIL;
	case '?':
		return SPF_NEUTRAL;
	default:
		return SPF_PASS;
	}
}

/* 4.6-4.7 and 6.1: evaluate a record of domain. top: not inside an
 * include (only then exp= is used and the mechanism reported). */
static enum spf_result
eval_record(struct spf_ctx *c, const char *domain, const char *rec, size_t len,
	unsigned depth, bool top, char **mech_r)
{
	struct record r;
	const char *err;
	struct buf target;
	enum spf_result res;
	size_t i;

	if (record_parse(rec, len, &r, &err) < 0) {
		set_problem(c, "%s: %s", domain, err);
		return SPF_PERMERROR;
	}
	for (i = 0; i < r.n; i++) {
		const struct term *t = &r.t[i];

		if (t->kind == TERM_REDIRECT || t->kind == TERM_EXP || t->kind == TERM_UNKNOWN)
			continue;
		switch (eval_mechanism(c, t, domain, depth)) {
		case MATCH_NO:
			continue;
		case MATCH_TEMPERROR:
			record_free(&r);
			return SPF_TEMPERROR;
		case MATCH_PERMERROR:
			record_free(&r);
			return SPF_PERMERROR;
		case MATCH_YES:
			break;
		}
		res = qualifier_result(t->qual);
		if (mech_r != NULL) {
			free(*mech_r);
			*mech_r = xstrndup(t->text, t->text_len);
		}
		if (res == SPF_FAIL && top && r.exp != NULL)
			explain(c, r.exp, domain);
		record_free(&r);
		return res;
	}
	if (r.redirect != NULL) {
		/* 6.1: the result of the target's record, none being a
		 * permerror; its exp= (not ours) applies. */
		if (!count_lookup(c)) {
			record_free(&r);
			return SPF_PERMERROR;
		}
		buf_init(&target);
		if (target_name(c, r.redirect, domain, &target) < 0) {
			res = SPF_PERMERROR;
		} else {
			res = check_host(c, target.data, depth + 1, top, mech_r);
			if (res == SPF_NONE) {
				set_problem(c, "redirect=%s has no SPF record", target.data);
				res = SPF_PERMERROR;
			}
		}
		buf_free(&target);
		record_free(&r);
		return res;
	}
	record_free(&r);
	if (mech_r != NULL) {
		free(*mech_r);
		*mech_r = xstrdup("default");
	}
	return SPF_NEUTRAL;
}

/* 4.3-4.5: find domain's record and evaluate it. */
static enum spf_result
check_host(struct spf_ctx *c, const char *domain, unsigned depth, bool top, char **mech_r)
{
	struct dns_answer a;
	enum spf_result res;
	size_t i, found = 0, which = 0;

	if (depth > SPF_MAX_DEPTH) {
		set_problem(c, "include/redirect nested too deep");
		return SPF_PERMERROR;
	}
	if (!domain_valid(domain))
		return SPF_NONE;
	switch (lookup(c, domain, DNS_TXT, &a)) {
	case DNS_OK:
		break;
	case DNS_TEMPERROR:
		set_problem(c, "looking up TXT of %s: %s", domain, a.error ? a.error :
			"temporary error");
		dns_answer_free(&a);
		return SPF_TEMPERROR;
	default:
		dns_answer_free(&a);
		return SPF_NONE;
	}
	for (i = 0; i < a.n; i++) {
		if (is_spf_record(a.rr[i].text, a.rr[i].text_len)) {
			found++;
			which = i;
		}
	}
	if (found == 0) {
		dns_answer_free(&a);
		return SPF_NONE;
	}
	if (found > 1) {
		set_problem(c, "%s has %zu SPF records", domain, found);
		dns_answer_free(&a);
		return SPF_PERMERROR;
	}
	res = eval_record(c, domain, a.rr[which].text, a.rr[which].text_len, depth, top, mech_r);
	dns_answer_free(&a);
	return res;
}

/* ---- entry points ---- */

static enum spf_result
finish(struct spf_ctx *c, enum spf_result res, char *mech, struct spf_outcome *out)
{
	out->result = res;
	out->mechanism = mech;
	if (res == SPF_FAIL) {
		out->explanation = c->explanation;
		c->explanation = NULL;
	}
	if (res == SPF_TEMPERROR || res == SPF_PERMERROR) {
		out->problem = c->problem != NULL ? c->problem : xstrdup(spf_result_name(res));
		c->problem = NULL;
	}
	out->authentic = c->answers > 0 && c->all_authentic;
	out->lookups = c->lookups;
	out->void_lookups = c->void_lookups;
	spf_ctx_free(c);
	return res;
}

enum spf_result
spf_check(struct dns *d, const struct spf_args *args, struct spf_outcome *out)
{
	struct spf_ctx c;
	const char *err;
	char *mech = NULL;
	enum spf_result res;

	memset(out, 0, sizeof(*out));
	if (spf_ctx_init(&c, d, args, &err) < 0) {
		set_problem(&c, "%s", err);
		return finish(&c, SPF_PERMERROR, NULL, out);
	}
	if (args->domain == NULL)
		return finish(&c, SPF_NONE, NULL, out);
	res = check_host(&c, args->domain, 0, true, &mech);
	if (res == SPF_NONE || res == SPF_TEMPERROR || res == SPF_PERMERROR) {
		free(mech);
		mech = NULL;
	}
	return finish(&c, res, mech, out);
}

enum spf_result
spf_check_record(struct dns *d, const struct spf_args *args, const char *record, size_t len,
	struct spf_outcome *out)
{
	struct spf_ctx c;
	const char *err;
	char *mech = NULL;
	enum spf_result res;

	memset(out, 0, sizeof(*out));
	if (spf_ctx_init(&c, d, args, &err) < 0) {
		set_problem(&c, "%s", err);
		return finish(&c, SPF_PERMERROR, NULL, out);
	}
	if (args->domain == NULL || !domain_valid(args->domain))
		return finish(&c, SPF_NONE, NULL, out);
	if (!is_spf_record(record, len))
		return finish(&c, SPF_NONE, NULL, out);
	res = eval_record(&c, args->domain, record, len, 0, true, &mech);
	if (res == SPF_NONE || res == SPF_TEMPERROR || res == SPF_PERMERROR) {
		free(mech);
		mech = NULL;
	}
	return finish(&c, res, mech, out);
}

void
spf_outcome_free(struct spf_outcome *o)
{
	free(o->mechanism);
	free(o->explanation);
	free(o->problem);
	o->mechanism = o->explanation = o->problem = NULL;
}
