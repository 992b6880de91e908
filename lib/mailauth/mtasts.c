/* MTA-STS record and policy parsing and MX matching (RFC 8461), see
 * mtasts.h. Pure functions: no DNS, no network, no database, so the unit
 * tests and fuzz targets link only this file. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "mailauth/mtasts.h"

const char *
mtasts_mode_name(enum mtasts_mode m)
{
	switch (m) {
	case MTASTS_MODE_NONE:
		return "none";
	case MTASTS_MODE_TESTING:
		return "testing";
	case MTASTS_MODE_ENFORCE:
		return "enforce";
	}
	return "none";
}

int
mtasts_mode_parse(const char *s, enum mtasts_mode *m_r)
{
	/* RFC 8461 section 3.2: %s"testing" / %s"enforce" / %s"none", i.e.
	 * case-sensitive. */
	if (strcmp(s, "enforce") == 0)
		*m_r = MTASTS_MODE_ENFORCE;
	else if (strcmp(s, "testing") == 0)
		*m_r = MTASTS_MODE_TESTING;
	else if (strcmp(s, "none") == 0)
		*m_r = MTASTS_MODE_NONE;
	else
		return -1;
	return 0;
}

static bool
is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* RFC 8461 section 3.1:
 *   sts-text-record = sts-version 1*(sts-field-delim sts-field)
 *                     [sts-field-delim]
 *   sts-field       = sts-id / sts-extension
 *   sts-field-delim = *WSP ";" *WSP
 *   sts-version     = %s"v=STSv1"
 *   sts-id          = %s"id=" 1*32(ALPHA / DIGIT)
 *   sts-extension   = sts-ext-name "=" sts-ext-value
 *   sts-ext-name    = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
 *   sts-ext-value   = 1*(%x21-3A / %x3C / %x3E-7E)  ; VCHAR without ";" "="
 */
int
mtasts_record_parse(const char *txt, size_t len, struct mtasts_record *r,
	const char **error_r)
{
	size_t i = 7;
	bool have_id = false;

	memset(r, 0, sizeof(*r));
	if (len < 7 || memcmp(txt, "v=STSv1", 7) != 0)
		return 1;
	/* "v=STSv1x" is some other version, not ours to judge. */
	if (len > 7 && txt[7] != ';' && !is_wsp(txt[7]))
		return 1;
	for (;;) {
		size_t start, nlen, vstart;

		/* sts-field-delim */
		while (i < len && is_wsp(txt[i]))
			i++;
		if (i == len)
			break;
		if (txt[i] != ';') {
			*error_r = ms_err("expected ';' at offset %zu", i);
			return -1;
		}
		i++;
		while (i < len && is_wsp(txt[i]))
			i++;
		if (i == len)
			break;	/* the optional trailing delimiter */
		start = i;
		if (!is_alnum(txt[i])) {
			*error_r = ms_err("bad field name at offset %zu", i);
			return -1;
		}
		while (i < len && (is_alnum(txt[i]) || txt[i] == '_' || txt[i] == '-' ||
			txt[i] == '.'))
			i++;
		nlen = i - start;
		if (nlen > 32) {
			*error_r = "field name longer than 32 characters";
			return -1;
		}
		if (i == len || txt[i] != '=') {
			*error_r = ms_err("expected '=' after field name at offset %zu", i);
			return -1;
		}
		i++;
		vstart = i;
		while (i < len && (unsigned char)txt[i] >= 0x21 && (unsigned char)txt[i] <= 0x7e &&
			txt[i] != ';' && txt[i] != '=')
			i++;
		if (i == vstart) {
			*error_r = ms_err("empty value at offset %zu", i);
			return -1;
		}
		if (nlen == 2 && memcmp(txt + start, "id", 2) == 0) {
			size_t k;

			if (have_id) {
				*error_r = "duplicate id field";
				return -1;
			}
			if (i - vstart > 32) {
				*error_r = "id longer than 32 characters";
				return -1;
			}
			for (k = vstart; k < i; k++) {
				if (!is_alnum(txt[k])) {
					*error_r = "id with characters other than letters and digits";
					return -1;
				}
			}
			memcpy(r->id, txt + vstart, i - vstart);
			r->id[i - vstart] = '\0';
			have_id = true;
		}
		/* Extensions are ignored. */
	}
	if (!have_id) {
		*error_r = "record without id field";
		return -1;
	}
	return 0;
}

bool
mtasts_mx_pattern_valid(const char *s, size_t len)
{
	size_t i = 0, label = 0;

	if (len >= 2 && s[0] == '*' && s[1] == '.')
		i = 2;
	if (i == len || len > 253)
		return false;
	/* RFC 5321 Domain: sub-domain *("." sub-domain), a sub-domain is
	 * Let-dig [Ldh-str]; a label is at most 63 octets (RFC 1035). */
	for (; i < len; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!is_alnum(c) && !(c == '-' && label > 0))
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && s[len - 1] != '-';
}

static void
policy_add_mx(struct mtasts_policy *p, const char *v, size_t n)
{
	char *mx = xstrndup(v, n);

	ms_str_lower(mx);
	p->mx = xrealloc(p->mx, (p->nmx + 1) * sizeof(*p->mx));
	p->mx[p->nmx++] = mx;
}

/* RFC 8461 section 3.2:
 *   sts-policy-record        = sts-policy-field *WSP
 *                              *(sts-policy-term sts-policy-field *WSP)
 *                              [sts-policy-term]
 *   sts-policy-field         = sts-policy-version / sts-policy-mode /
 *                              sts-policy-max-age / sts-policy-mx /
 *                              sts-policy-extension
 *   sts-policy-field-delim   = ":" *WSP
 *   sts-policy-version-value = %s"STSv1"
 *   sts-policy-mode-value    = %s"testing" / %s"enforce" / %s"none"
 *   sts-policy-mx-value      = ["*."] Domain
 *   sts-policy-max-age-value = 1*10(DIGIT)
 *   sts-policy-ext-name      = (sts-policy-alphanum)
 *                              *31(sts-policy-alphanum / "_" / "-" / ".")
 *   sts-policy-term          = LF / CRLF
 *   sts-policy-ext-value     = sts-policy-vchar
 *                              [*(%x20 / sts-policy-vchar) sts-policy-vchar]
 *                              ; VCHAR and UTF-8 non-ASCII
 */
int
mtasts_policy_parse(const char *text, size_t len, struct mtasts_policy *p,
	const char **error_r)
{
	bool have_version = false, have_mode = false, have_max_age = false;
	size_t pos = 0;
	unsigned lineno = 0;

	memset(p, 0, sizeof(*p));
	if (len > MTASTS_MAX_POLICY) {
		*error_r = "policy larger than 64 KiB";
		return -1;
	}
	if (memchr(text, '\0', len) != NULL) {
		*error_r = "policy contains a NUL byte";
		return -1;
	}
	while (pos < len) {
		const char *line = text + pos, *nl = memchr(line, '\n', len - pos);
		size_t llen = nl != NULL ? (size_t)(nl - line) : len - pos;
		size_t k, klen, v, vend;

		pos += llen + (nl != NULL ? 1 : 0);
		lineno++;
		if (llen > 0 && line[llen - 1] == '\r')
			llen--;
		if (llen > MTASTS_MAX_LINE) {
			*error_r = ms_err("line %u longer than %d bytes", lineno, MTASTS_MAX_LINE);
			goto fail;
		}
		/* An empty last line is the optional final terminator; empty
		 * lines elsewhere are not in the grammar, but harmless and
		 * common, so they are skipped. */
		if (llen == 0)
			continue;
		if (memchr(line, '\r', llen) != NULL) {
			*error_r = ms_err("line %u: bare CR", lineno);
			goto fail;
		}
		for (k = 0; k < llen && (is_alnum(line[k]) || (k > 0 && (line[k] == '_' ||
			line[k] == '-' || line[k] == '.'))); k++)
			;
		klen = k;
		if (klen == 0 || klen > 32 || k == llen || line[k] != ':') {
			*error_r = ms_err("line %u: not a \"key: value\" field", lineno);
			goto fail;
		}
		v = k + 1;
		while (v < llen && is_wsp(line[v]))
			v++;
		vend = llen;
		/* Trailing whitespace is allowed after a field. */
		while (vend > v && is_wsp(line[vend - 1]))
			vend--;
		if (vend == v) {
			*error_r = ms_err("line %u: empty value", lineno);
			goto fail;
		}
		for (k = v; k < vend; k++) {
			unsigned char c = (unsigned char)line[k];

			if (c < 0x20 || c == 0x7f || (c == '\t' && k + 1 < vend)) {
				*error_r = ms_err("line %u: control character in value", lineno);
				goto fail;
			}
		}
#define KEY(s) (klen == sizeof(s) - 1 && memcmp(line, s, klen) == 0)
		if (KEY("version")) {
			if (have_version)
				continue;
			if (vend - v != 5 || memcmp(line + v, "STSv1", 5) != 0) {
				*error_r = ms_err("line %u: version is not STSv1", lineno);
				goto fail;
			}
			have_version = true;
		} else if (KEY("mode")) {
			char m[16];

			if (have_mode)
				continue;
			if (vend - v >= sizeof(m)) {
				*error_r = ms_err("line %u: unknown mode", lineno);
				goto fail;
			}
			memcpy(m, line + v, vend - v);
			m[vend - v] = '\0';
			if (mtasts_mode_parse(m, &p->mode) != 0) {
				*error_r = ms_err("line %u: unknown mode %s", lineno, lq(m));
				goto fail;
			}
			have_mode = true;
		} else if (KEY("max_age")) {
			uint64_t age;

			if (have_max_age)
				continue;
			/* 1*10(DIGIT): a longer number is a syntax error, a
			 * value above the maximum is taken as the maximum. */
			if (vend - v > 10 ||
				ms_parse_u64n(line + v, vend - v, 0, 9999999999ULL, &age) != 0) {
				*error_r = ms_err("line %u: max_age is not a number of at most 10 digits",
					lineno);
				goto fail;
			}
			p->max_age = age > MTASTS_MAX_AGE ? MTASTS_MAX_AGE : age;
			have_max_age = true;
		} else if (KEY("mx")) {
			if (!mtasts_mx_pattern_valid(line + v, vend - v)) {
				*error_r = ms_err("line %u: invalid mx host pattern", lineno);
				goto fail;
			}
			if (p->nmx >= MTASTS_MAX_MX) {
				*error_r = ms_err("more than %d mx lines", MTASTS_MAX_MX);
				goto fail;
			}
			policy_add_mx(p, line + v, vend - v);
		}
#undef KEY
		/* Other keys are extensions, ignored (section 3.2). */
	}
	if (!have_version) {
		*error_r = "policy without version";
		goto fail;
	}
	if (!have_mode) {
		*error_r = "policy without mode";
		goto fail;
	}
	if (!have_max_age) {
		*error_r = "policy without max_age";
		goto fail;
	}
	if (p->nmx == 0 && p->mode != MTASTS_MODE_NONE) {
		*error_r = "policy without mx for a mode other than none";
		goto fail;
	}
	return 0;
fail:
	mtasts_policy_free(p);
	return -1;
}

void
mtasts_policy_free(struct mtasts_policy *p)
{
	size_t i;

	for (i = 0; i < p->nmx; i++)
		free(p->mx[i]);
	free(p->mx);
	memset(p, 0, sizeof(*p));
}

/* RFC 8461 section 4.1: a pattern matches the host name exactly (case-
 * insensitively), and "*.example.com" matches one extra leftmost label:
 * "mx.example.com", not "example.com" nor "a.b.example.com". */
bool
mtasts_policy_matches(const struct mtasts_policy *p, const char *host)
{
	size_t hlen = strlen(host), i;

	if (hlen > 0 && host[hlen - 1] == '.')
		hlen--;
	if (hlen == 0)
		return false;
	for (i = 0; i < p->nmx; i++) {
		const char *pat = p->mx[i];
		size_t plen = strlen(pat);

		if (pat[0] == '*' && pat[1] == '.') {
			const char *dot = memchr(host, '.', hlen);
			size_t rest;

			/* The first label of host must be non-empty and the
			 * remainder must equal the pattern after "*." */
			if (dot == NULL || dot == host)
				continue;
			rest = hlen - (size_t)(dot + 1 - host);
			if (rest == plen - 2 && ms_strncaseeq(dot + 1, pat + 2, rest))
				return true;
		} else if (plen == hlen && ms_strncaseeq(host, pat, hlen))
			return true;
	}
	return false;
}
