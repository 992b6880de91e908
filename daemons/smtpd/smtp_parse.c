/* SMTP command-line parsing for mailstead-smtpd. Every function here works
 * on a bounded byte range and allocates only for its results, so it can be
 * fed arbitrary client bytes (see tests/fuzz/fuzz_smtp_parse.c). */
#include "config.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/util.h"
#include "smtp_parse.h"

static const char *const verb_names[SMTP_VERB_COUNT] = {
	[SMTP_VERB_UNKNOWN] = "?",
	[SMTP_VERB_EHLO] = "EHLO",
	[SMTP_VERB_HELO] = "HELO",
	[SMTP_VERB_MAIL] = "MAIL",
	[SMTP_VERB_RCPT] = "RCPT",
	[SMTP_VERB_DATA] = "DATA",
	[SMTP_VERB_RSET] = "RSET",
	[SMTP_VERB_NOOP] = "NOOP",
	[SMTP_VERB_QUIT] = "QUIT",
	[SMTP_VERB_VRFY] = "VRFY",
	[SMTP_VERB_EXPN] = "EXPN",
	[SMTP_VERB_HELP] = "HELP",
	[SMTP_VERB_STARTTLS] = "STARTTLS",
	[SMTP_VERB_AUTH] = "AUTH",
	[SMTP_VERB_BDAT] = "BDAT",
};

const char *
smtp_verb_name(enum smtp_verb verb)
{
	if ((unsigned)verb >= SMTP_VERB_COUNT)
		return "?";
	return verb_names[verb];
}

static bool
is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool
has_8bit(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return true;
	return false;
}

/* Does s[0..n) start with prefix, ignoring ASCII case? */
static bool
prefix_ci(const char *s, size_t n, const char *prefix)
{
	size_t pl = strlen(prefix);

	return n >= pl && ms_strncaseeq(s, prefix, pl);
}

/* RFC 5321 2.3.8: lines end in CRLF; 4.1.1: commands are a verb, SP and
 * arguments, and verbs are case-insensitive. A bare LF is refused here as
 * in DATA (SMTP smuggling), so the two never disagree about line ends. */
int
smtp_parse_line(const char *line, size_t n, struct smtp_cmdline *cmd,
	const char **reply_r)
{
	size_t i, vl, end;
	unsigned v;

	memset(cmd, 0, sizeof(*cmd));
	cmd->args = "";
	if (n < 2 || line[n - 2] != '\r' || line[n - 1] != '\n') {
		*reply_r = "500 5.5.2 invalid line ending, only CRLF allowed";
		return -1;
	}
	end = n - 2;
	for (i = 0; i < end; i++) {
		if (line[i] == '\0' || line[i] == '\r' || line[i] == '\n') {
			*reply_r = "500 5.5.2 invalid character in command";
			return -1;
		}
	}
	/* Trailing white space is a common client quirk; ignore it. */
	while (end > 0 && (line[end - 1] == ' ' || line[end - 1] == '\t'))
		end--;
	if (end == 0) {
		*reply_r = "500 5.5.2 empty command";
		return -1;
	}
	for (vl = 0; vl < end && line[vl] != ' '; vl++)
		;
	cmd->verb = SMTP_VERB_UNKNOWN;
	for (v = 1; v < SMTP_VERB_COUNT; v++) {
		if (strlen(verb_names[v]) == vl && ms_strncaseeq(line, verb_names[v], vl)) {
			cmd->verb = (enum smtp_verb)v;
			break;
		}
	}
	i = vl;
	while (i < end && line[i] == ' ')
		i++;
	cmd->args = line + i;
	cmd->argslen = end - i;
	return 0;
}

int
smtp_parse_noargs(const char *args, size_t n, const char **reply_r)
{
	if (n != 0) {
		*reply_r = "501 5.5.4 no parameters allowed";
		return -1;
	}
	return 0;
}

/* RFC 5321 4.1.2:
 *   Domain     = sub-domain *("." sub-domain)
 *   sub-domain = Let-dig [Ldh-str]
 *   Let-dig    = ALPHA / DIGIT
 *   Ldh-str    = *( ALPHA / DIGIT / "-" ) Let-dig
 * Leniency for what clients send in EHLO: "_" inside a label (Windows host
 * names) and one trailing dot. Labels at most 63 octets, names 255. */
static bool
valid_domain(const char *s, size_t n)
{
	size_t i, start = 0;

	if (n > 0 && s[n - 1] == '.')
		n--;
	if (n == 0 || n > 255)
		return false;
	for (i = 0; i <= n; i++) {
		unsigned char c = i < n ? (unsigned char)s[i] : '.';

		if (c == '.') {
			size_t ll = i - start;

			if (ll == 0 || ll > 63)
				return false;
			if (s[start] == '-' || s[i - 1] == '-')
				return false;
			start = i + 1;
			continue;
		}
		if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '_')
			return false;
	}
	return true;
}

/* RFC 5321 4.1.3:
 *   address-literal  = "[" ( IPv4-address-literal / IPv6-address-literal /
 *                      General-address-literal ) "]"
 *   IPv4-address-literal  = Snum 3("."  Snum)
 *   IPv6-address-literal  = "IPv6:" IPv6-addr
 *   General-address-literal  = Standardized-tag ":" 1*dcontent
 *   Standardized-tag  = Ldh-str
 *   dcontent       = %d33-90 / %d94-126
 * s includes the brackets. */
static bool
valid_address_literal(const char *s, size_t n)
{
	char tmp[64];
	const char *in;
	size_t il, i, colon;

	if (n < 3 || s[0] != '[' || s[n - 1] != ']')
		return false;
	in = s + 1;
	il = n - 2;
	if (prefix_ci(in, il, "IPv6:")) {
		struct in6_addr a6;

		if (il - 5 >= sizeof(tmp))
			return false;
		memcpy(tmp, in + 5, il - 5);
		tmp[il - 5] = '\0';
		return inet_pton(AF_INET6, tmp, &a6) == 1;
	}
	for (colon = 0; colon < il && in[colon] != ':'; colon++)
		;
	if (colon == il) {
		struct in_addr a4;

		if (il >= sizeof(tmp))
			return false;
		memcpy(tmp, in, il);
		tmp[il] = '\0';
		return inet_pton(AF_INET, tmp, &a4) == 1;
	}
	/* General-address-literal: tag must be an Ldh-str ending in Let-dig. */
	if (colon == 0 || in[colon - 1] == '-' || colon + 1 == il)
		return false;
	for (i = 0; i < colon; i++) {
		unsigned char c = (unsigned char)in[i];
		if (!is_alpha(c) && !is_digit(c) && c != '-')
			return false;
	}
	for (i = colon + 1; i < il; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c < 33 || c > 126 || (c >= 91 && c <= 93))
			return false;
	}
	return true;
}

/* RFC 5321 4.1.1.1:
 *   ehlo = "EHLO" SP ( Domain / address-literal ) CRLF
 *   helo = "HELO" SP Domain CRLF
 * HELO with an address literal is accepted too: clients send it. */
int
smtp_parse_helo(const char *args, size_t n, bool ehlo, struct smtp_helo *h,
	const char **reply_r)
{
	memset(h, 0, sizeof(*h));
	if (n == 0) {
		*reply_r = ehlo ? "501 5.5.4 EHLO requires a domain or address literal" :
			"501 5.5.4 HELO requires a domain";
		return -1;
	}
	if (args[0] == '[') {
		if (!valid_address_literal(args, n)) {
			*reply_r = "501 5.5.4 invalid address literal";
			return -1;
		}
		h->literal = true;
	} else if (!valid_domain(args, n)) {
		*reply_r = "501 5.5.4 invalid domain name";
		return -1;
	}
	h->name = xstrndup(args, n);
	return 0;
}

void
smtp_helo_free(struct smtp_helo *h)
{
	free(h->name);
	h->name = NULL;
}

/* Length of the path at s (s[0] == '<') through its closing ">", skipping
 * a ">" inside a quoted-string localpart or an address literal (dcontent
 * includes ">"). 0 when there is no end within n bytes or SMTP_PATH_MAX. */
static size_t
path_extent(const char *s, size_t n)
{
	bool quoted = false, literal = false;
	size_t i;

	if (n > SMTP_PATH_MAX)
		n = SMTP_PATH_MAX;
	for (i = 1; i < n; i++) {
		if (quoted) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				quoted = false;
		} else if (literal) {
			if (s[i] == ']')
				literal = false;
		} else if (s[i] == '"') {
			quoted = true;
		} else if (s[i] == '[') {
			literal = true;
		} else if (s[i] == '>') {
			return i + 1;
		}
	}
	return 0;
}

struct smtp_param {
	const char *key;
	size_t keylen;
	const char *val;	/* NULL: no "=value" */
	size_t vallen;
};

/* RFC 5321 4.1.2:
 *   Mail-parameters = esmtp-param *(SP esmtp-param)
 *   esmtp-param     = esmtp-keyword ["=" esmtp-value]
 *   esmtp-keyword   = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
 *   esmtp-value     = 1*(%d33-60 / %d62-126)
 * and RFC 6531 3.3: esmtp-value =/ UTF8-non-ascii (checked by the caller,
 * which knows whether SMTPUTF8 was given). Runs of spaces are tolerated. */
static int
parse_params(const char *s, size_t n, struct smtp_param *params, size_t *nparams,
	const char **reply_r)
{
	size_t i = 0, np = 0;

	for (;;) {
		struct smtp_param *p;
		size_t start;

		while (i < n && s[i] == ' ')
			i++;
		if (i == n)
			break;
		if (np == SMTP_PARAMS_MAX) {
			*reply_r = "501 5.5.4 too many parameters";
			return -1;
		}
		p = &params[np++];
		start = i;
		if (!is_alpha((unsigned char)s[i]) && !is_digit((unsigned char)s[i])) {
			*reply_r = "501 5.5.4 syntax error in parameters";
			return -1;
		}
		while (i < n && (is_alpha((unsigned char)s[i]) ||
		    is_digit((unsigned char)s[i]) || s[i] == '-'))
			i++;
		p->key = s + start;
		p->keylen = i - start;
		p->val = NULL;
		p->vallen = 0;
		if (i < n && s[i] == '=') {
			start = ++i;
			while (i < n) {
				unsigned char c = (unsigned char)s[i];

				if (c == ' ')
					break;
				if (c < 33 || c == '=' || c == 127) {
					*reply_r = "501 5.5.4 syntax error in parameter value";
					return -1;
				}
				i++;
			}
			if (i == start) {
				*reply_r = "501 5.5.4 empty parameter value";
				return -1;
			}
			p->val = s + start;
			p->vallen = i - start;
		}
		if (i < n && s[i] != ' ') {
			*reply_r = "501 5.5.4 syntax error in parameters";
			return -1;
		}
	}
	*nparams = np;
	return 0;
}

/* RFC 1870 section 3: size-value ::= 1*20DIGIT. A value too large for 64
 * bits is certainly above our limit, so it saturates instead of failing. */
static int
mail_param_size(struct smtp_mail *m, const struct smtp_param *p, const char **reply_r)
{
	size_t i;

	if (p->val == NULL || p->vallen > 20) {
		*reply_r = "501 5.5.4 invalid SIZE value";
		return -1;
	}
	for (i = 0; i < p->vallen; i++) {
		if (!is_digit((unsigned char)p->val[i])) {
			*reply_r = "501 5.5.4 invalid SIZE value";
			return -1;
		}
	}
	if (ms_parse_u64n(p->val, p->vallen, 0, UINT64_MAX, &m->size) < 0)
		m->size = UINT64_MAX;
	m->has_size = true;
	return 0;
}

/* RFC 6152 section 2: body-value ::= "7BIT" / "8BITMIME". BINARYMIME (RFC
 * 3030) needs CHUNKING, which we do not offer. */
static int
mail_param_body(struct smtp_mail *m, const struct smtp_param *p, const char **reply_r)
{
	if (p->val != NULL && p->vallen == 4 && ms_strncaseeq(p->val, "7BIT", 4)) {
		m->body = SMTP_BODY_7BIT;
		return 0;
	}
	if (p->val != NULL && p->vallen == 8 && ms_strncaseeq(p->val, "8BITMIME", 8)) {
		m->body = SMTP_BODY_8BITMIME;
		return 0;
	}
	if (p->val != NULL && p->vallen == 10 && ms_strncaseeq(p->val, "BINARYMIME", 10)) {
		*reply_r = "555 5.5.4 BODY=BINARYMIME not supported";
		return -1;
	}
	*reply_r = "501 5.5.4 invalid BODY value, expected 7BIT or 8BITMIME";
	return -1;
}

/* RFC 6531 3.4: the SMTPUTF8 parameter has no value. */
static int
mail_param_smtputf8(struct smtp_mail *m, const struct smtp_param *p, const char **reply_r)
{
	if (p->val != NULL) {
		*reply_r = "501 5.5.4 SMTPUTF8 takes no value";
		return -1;
	}
	m->smtputf8 = true;
	return 0;
}

/* RFC 8689 3: REQUIRETLS has no value; the session decides whether it is
 * allowed (only over TLS). */
static int
mail_param_requiretls(struct smtp_mail *m, const struct smtp_param *p, const char **reply_r)
{
	if (p->val != NULL) {
		*reply_r = "501 5.5.4 REQUIRETLS takes no value";
		return -1;
	}
	m->requiretls = true;
	return 0;
}

/* RFC 4954 5: AUTH=mailbox or AUTH=<>, xtext-encoded (RFC 3461 4):
 *   xtext = *( xchar / hexchar ), hexchar = "+" 2(%x30-39 / %x41-46) */
static int
hexdigit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
mail_param_auth(struct smtp_mail *m, const struct smtp_param *p, const char **reply_r)
{
	struct buf b;
	size_t i;

	if (p->val == NULL || p->vallen == 0 || m->has_auth) {
		*reply_r = "501 5.5.4 bad AUTH parameter";
		return -1;
	}
	buf_init(&b);
	for (i = 0; i < p->vallen; i++) {
		unsigned char c = (unsigned char)p->val[i];

		if (c == '+') {
			int hi = i + 2 < p->vallen ? hexdigit(p->val[i + 1]) : -1;
			int lo = i + 2 < p->vallen ? hexdigit(p->val[i + 2]) : -1;

			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
				buf_free(&b);
				*reply_r = "501 5.5.4 bad xtext in AUTH parameter";
				return -1;
			}
			buf_putc(&b, (char)(hi * 16 + lo));
			i += 2;
		} else if (c < 33 || c > 126 || c == '=') {
			buf_free(&b);
			*reply_r = "501 5.5.4 bad xtext in AUTH parameter";
			return -1;
		} else {
			buf_putc(&b, (char)c);
		}
	}
	m->has_auth = true;
	m->auth = buf_steal(&b);
	buf_free(&b);
	return 0;
}

/* RFC 4865 4: HOLDFOR = 1*9DIGIT (seconds); HOLDUNTIL = date-time (RFC
 * 3339). The session checks the maximum it announced. */
static int
mail_param_holdfor(struct smtp_mail *m, const struct smtp_param *p, const char **reply_r)
{
	uint64_t v;

	if (m->has_hold) {
		*reply_r = "501 5.5.4 only one of HOLDFOR and HOLDUNTIL";
		return -1;
	}
	if (p->val == NULL || p->vallen > 9 ||
	    ms_parse_u64n(p->val, p->vallen, 0, 999999999, &v) < 0) {
		*reply_r = "501 5.5.4 bad HOLDFOR parameter";
		return -1;
	}
	m->has_hold = true;
	m->hold_is_for = true;
	m->hold_for = v;
	m->hold_until = ms_now() + (int64_t)v;
	return 0;
}

static int
mail_param_holduntil(struct smtp_mail *m, const struct smtp_param *p, const char **reply_r)
{
	char tmp[64];
	struct tm tm;
	const char *end;
	long off = 0;

	if (m->has_hold) {
		*reply_r = "501 5.5.4 only one of HOLDFOR and HOLDUNTIL";
		return -1;
	}
	if (p->val == NULL || p->vallen >= sizeof(tmp)) {
		*reply_r = "501 5.5.4 bad HOLDUNTIL parameter";
		return -1;
	}
	memcpy(tmp, p->val, p->vallen);
	tmp[p->vallen] = '\0';
	memset(&tm, 0, sizeof(tm));
	/* date-time = full-date "T" full-time; fractions of seconds allowed. */
	end = strptime(tmp, "%Y-%m-%dT%H:%M:%S", &tm);
	if (end != NULL && *end == '.') {
		end++;
		while (*end >= '0' && *end <= '9')
			end++;
	}
	if (end != NULL && (*end == 'Z' || *end == 'z') && end[1] == '\0') {
		off = 0;
	} else if (end != NULL && (*end == '+' || *end == '-') && strlen(end) == 6 &&
		   end[3] == ':') {
		uint64_t hh, mm;

		if (ms_parse_u64n(end + 1, 2, 0, 23, &hh) < 0 ||
		    ms_parse_u64n(end + 4, 2, 0, 59, &mm) < 0) {
			*reply_r = "501 5.5.4 bad HOLDUNTIL parameter";
			return -1;
		}
		off = (long)(hh * 3600 + mm * 60) * (*end == '-' ? -1 : 1);
	} else {
		*reply_r = "501 5.5.4 bad HOLDUNTIL parameter";
		return -1;
	}
	m->hold_until = (int64_t)timegm(&tm) - off;
	if (m->hold_until <= 0) {
		m->hold_until = 0;
		*reply_r = "501 5.5.4 bad HOLDUNTIL parameter";
		return -1;
	}
	m->has_hold = true;
	m->hold_is_for = false;
	return 0;
}

/* MAIL parameters we understand. Keywords are case-insensitive (RFC 5321
 * 2.4). Extensions that depend on the listener or session (AUTH=,
 * REQUIRETLS, HOLDFOR=) are parsed here and allowed or refused by the
 * session's MAIL check. */
static const struct {
	const char *name;
	int (*fn)(struct smtp_mail *, const struct smtp_param *, const char **);
} mail_params[] = {
	{ "SIZE", mail_param_size },
	{ "BODY", mail_param_body },
	{ "SMTPUTF8", mail_param_smtputf8 },
	{ "REQUIRETLS", mail_param_requiretls },
	{ "AUTH", mail_param_auth },
	{ "HOLDFOR", mail_param_holdfor },
	{ "HOLDUNTIL", mail_param_holduntil },
};

/* RFC 5321 4.1.1.2:
 *   mail = "MAIL FROM:" Reverse-path [SP Mail-parameters] CRLF
 *   Reverse-path = Path / "<>"
 * The verb and its SP are gone already; args starts at "FROM:". Spaces
 * after the colon are tolerated (a frequent client quirk). */
static int
parse_mail(const char *args, size_t n, struct smtp_mail *m,
	const char **reply_r)
{
	struct smtp_param params[SMTP_PARAMS_MAX];
	size_t np = 0, i, j, plen, end;
	unsigned seen = 0;
	const char *path, *error;
	bool param8 = false;

	memset(m, 0, sizeof(*m));
	if (!prefix_ci(args, n, "FROM:")) {
		*reply_r = "501 5.5.2 syntax error, expected MAIL FROM:<address>";
		return -1;
	}
	i = 5;
	while (i < n && args[i] == ' ')
		i++;
	if (i == n || args[i] != '<') {
		*reply_r = "501 5.1.7 syntax error in sender address, expected <address>";
		return -1;
	}
	path = args + i;
	plen = path_extent(path, n - i);
	if (plen == 0) {
		*reply_r = "501 5.1.7 syntax error in sender address";
		return -1;
	}
	i += plen;
	if (i < n && args[i] != ' ') {
		*reply_r = "501 5.1.7 syntax error after sender address";
		return -1;
	}
	if (parse_params(args + i, n - i, params, &np, reply_r) < 0)
		return -1;
	for (j = 0; j < np; j++) {
		size_t k;

		for (k = 0; k < MS_NELEM(mail_params); k++) {
			if (strlen(mail_params[k].name) == params[j].keylen &&
			    ms_strncaseeq(params[j].key, mail_params[k].name, params[j].keylen))
				break;
		}
		if (k == MS_NELEM(mail_params)) {
			*reply_r = "555 5.5.4 unsupported MAIL parameter";
			return -1;
		}
		if (seen & (1u << k)) {
			*reply_r = "501 5.5.4 duplicate MAIL parameter";
			return -1;
		}
		seen |= 1u << k;
		if (mail_params[k].fn(m, &params[j], reply_r) < 0)
			return -1;
		if (params[j].val != NULL && has_8bit(params[j].val, params[j].vallen))
			param8 = true;
	}
	if (param8 && !m->smtputf8) {
		*reply_r = "501 5.5.4 non-ASCII parameter value requires SMTPUTF8";
		return -1;
	}
	/* RFC 6531 3.7.4.1 / RFC 6533: 553 5.6.7 for a non-ASCII address when
	 * the client did not ask for SMTPUTF8. */
	if (!m->smtputf8 && has_8bit(path, plen)) {
		*reply_r = "553 5.6.7 non-ASCII sender address requires SMTPUTF8";
		return -1;
	}
	if (mail_addr_parse_path(path, plen, m->smtputf8, &m->from, &end, &error) < 0 ||
	    end != plen) {
		mail_addr_free(&m->from);
		memset(&m->from, 0, sizeof(m->from));
		*reply_r = "501 5.1.7 syntax error in sender address";
		return -1;
	}
	m->null_sender = m->from.localpart[0] == '\0' && m->from.domain[0] == '\0';
	return 0;
}

int
smtp_parse_mail(const char *args, size_t n, struct smtp_mail *m,
	const char **reply_r)
{
	int rc = parse_mail(args, n, m, reply_r);

	/* A later parameter may fail after AUTH= allocated its value. */
	if (rc < 0) {
		free(m->auth);
		m->auth = NULL;
		m->has_auth = false;
	}
	return rc;
}

void
smtp_mail_free(struct smtp_mail *m)
{
	mail_addr_free(&m->from);
	free(m->auth);
	memset(m, 0, sizeof(*m));
}

/* RFC 5321 4.1.1.3:
 *   rcpt = "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" /
 *          Forward-path ) [SP Rcpt-parameters] CRLF
 * Note that, in a departure from the usual rules for local-parts, the
 * "Postmaster" string shown above is treated as case-insensitive. */
int
smtp_parse_rcpt(const char *args, size_t n, bool utf8, struct smtp_rcpt *r,
	const char **reply_r)
{
	struct smtp_param params[SMTP_PARAMS_MAX];
	size_t np = 0, i, plen, end;
	const char *path, *error;

	memset(r, 0, sizeof(*r));
	if (!prefix_ci(args, n, "TO:")) {
		*reply_r = "501 5.5.2 syntax error, expected RCPT TO:<address>";
		return -1;
	}
	i = 3;
	while (i < n && args[i] == ' ')
		i++;
	if (i == n || args[i] != '<') {
		*reply_r = "501 5.1.3 syntax error in recipient address, expected <address>";
		return -1;
	}
	path = args + i;
	plen = path_extent(path, n - i);
	if (plen == 0) {
		*reply_r = "501 5.1.3 syntax error in recipient address";
		return -1;
	}
	i += plen;
	if (i < n && args[i] != ' ') {
		*reply_r = "501 5.1.3 syntax error after recipient address";
		return -1;
	}
	if (parse_params(args + i, n - i, params, &np, reply_r) < 0)
		return -1;
	if (np > 0) {
		/* No DSN (RFC 3461) or other RCPT extensions are offered. */
		*reply_r = "555 5.5.4 unsupported RCPT parameter";
		return -1;
	}
	if (plen == 12 && ms_strncaseeq(path, "<postmaster>", 12)) {
		r->postmaster = true;
		r->to.localpart = xstrdup("postmaster");
		r->to.domain = xstrdup("");
		r->to.domain_ascii = xstrdup("");
		return 0;
	}
	if (!utf8 && has_8bit(path, plen)) {
		*reply_r = "553 5.6.7 non-ASCII recipient address requires SMTPUTF8";
		return -1;
	}
	if (mail_addr_parse_path(path, plen, utf8, &r->to, &end, &error) < 0 ||
	    end != plen) {
		mail_addr_free(&r->to);
		memset(&r->to, 0, sizeof(r->to));
		*reply_r = "501 5.1.3 syntax error in recipient address";
		return -1;
	}
	if (r->to.domain[0] == '\0') {
		/* "<>" is a reverse-path only. */
		mail_addr_free(&r->to);
		memset(&r->to, 0, sizeof(r->to));
		*reply_r = "501 5.1.3 null recipient address not allowed";
		return -1;
	}
	return 0;
}

void
smtp_rcpt_free(struct smtp_rcpt *r)
{
	mail_addr_free(&r->to);
	memset(r, 0, sizeof(*r));
}

enum smtp_localserve_fail
smtp_localserve_fail(const char *localpart, const char *prefix, unsigned *code_r)
{
	size_t n = strlen(localpart), np = strlen(prefix);
	const char *rest, *tail;
	size_t nrest;

	*code_r = 0;
	if (n < np || strncasecmp(localpart, prefix, np) != 0)
		return SMTP_LS_NONE;
	/* The suffix follows the prefix: "rcpttimeout" is no "rcptto" +
	 * "timeout" (the two would overlap). */
	rest = localpart + np;
	nrest = n - np;
#define ENDS_WITH(w) (nrest >= sizeof(w) - 1 && \
		strcasecmp(rest + nrest - (sizeof(w) - 1), (w)) == 0)
	if (ENDS_WITH("temperror")) {
		*code_r = 451;
		return SMTP_LS_CODE;
	}
	if (ENDS_WITH("permerror")) {
		*code_r = 550;
		return SMTP_LS_CODE;
	}
	if (ENDS_WITH("timeout"))
		return SMTP_LS_TIMEOUT;
#undef ENDS_WITH
	if (nrest < 3)
		return SMTP_LS_NONE;
	tail = rest + nrest - 3;
	if (tail[0] < '4' || tail[0] > '5' || tail[1] < '0' || tail[1] > '9' ||
	    tail[2] < '0' || tail[2] > '9')
		return SMTP_LS_NONE;
	*code_r = (unsigned)((tail[0] - '0') * 100 + (tail[1] - '0') * 10 + (tail[2] - '0'));
	return SMTP_LS_CODE;
}
