/* The queue's pure parts, no database or files: X-Mailstead-Extra-*
 * header fields (collect and strip), suppression base addresses, and the
 * FUTURERELEASE parameters of MAIL FROM. Unit-tested on their own. */
#include "config.h"

#include <locale.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wctype.h>

#include "core/log.h"
#include "core/util.h"
#include "mail/addr.h"
#include "mail/header.h"
#include "queue/queue.h"

#define PREFIX_LEN (sizeof(QUEUE_EXTRA_HEADER_PREFIX) - 1)

void
queue_extra_free(struct queue_extra *e)
{
	size_t i;

	for (i = 0; i < e->n; i++) {
		free(e->v[i].key);
		free(e->v[i].value);
	}
	free(e->v);
	e->v = NULL;
	e->n = 0;
}

void
queue_extra_add(struct queue_extra *e, const char *key, const char *value)
{
	e->v = xrealloc(e->v, (e->n + 1) * sizeof(*e->v));
	e->v[e->n].key = xstrdup(key);
	e->v[e->n].value = xstrdup(value);
	e->n++;
}

/* RFC 9110 5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" /
 * "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA. These are the
 * bytes Go's textproto accepts in a field name, which the reference uses. */
static bool
is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

bool
queue_is_extra_header(const char *name, size_t namelen)
{
	return namelen >= PREFIX_LEN &&
		ms_strncaseeq(name, QUEUE_EXTRA_HEADER_PREFIX, PREFIX_LEN);
}

/* UTF-8 sequence length at s (n bytes available), 0 when invalid
 * (RFC 3629 section 4: no overlongs, no surrogates, at most U+10FFFF). */
static size_t
utf8_len(const unsigned char *s, size_t n, uint32_t *cp_r)
{
	uint32_t cp;
	size_t len, i;

	if (n == 0)
		return 0;
	if (s[0] < 0x80) {
		*cp_r = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cp_r = cp;
	return len;
}

void
queue_utf8_sanitize(struct buf *out, const char *s)
{
	size_t n = strlen(s), i = 0;

	while (i < n) {
		uint32_t cp;
		size_t l = utf8_len((const unsigned char *)s + i, n - i, &cp);

		if (l == 0) {
			buf_puts(out, "\xef\xbf\xbd");	/* U+FFFD */
			i++;
		} else {
			buf_append(out, s + i, l);
			i += l;
		}
	}
}

/* Unfold like Go's textproto (what the reference parses headers with):
 * every physical line trimmed of SP/HTAB, continuation lines joined with a
 * single space. */
static void
unfold_value(struct buf *out, const char *v, size_t n)
{
	size_t i = 0;
	bool first = true;

	while (i < n) {
		const char *nl = memchr(v + i, '\n', n - i);
		size_t end = nl ? (size_t)(nl - v) : n, s = i, e = end;

		if (e > s && v[e - 1] == '\r')
			e--;
		while (s < e && (v[s] == ' ' || v[s] == '\t'))
			s++;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e > s) {
			if (!first)
				buf_putc(out, ' ');
			buf_append(out, v + s, e - s);
			first = false;
		}
		i = nl ? end + 1 : n;
	}
}

/* A valid extra value: UTF-8 (it goes into a jsonb string), and no control
 * characters except HTAB (Go's validHeaderValueByte). */
static bool
valid_value(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint32_t cp;
		size_t l = utf8_len((const unsigned char *)s + i, n - i, &cp);

		if (l == 0 || (cp < 0x20 && cp != '\t') || cp == 0x7f)
			return false;
		i += l;
	}
	return true;
}

int
queue_extract_extra(const char *s, size_t n, struct queue_extra *extra,
	const char **error_r)
{
	struct mail_header_iter it;
	const char *name, *value;
	size_t namelen, valuelen, i, j;
	struct buf key, val;

	extra->v = NULL;
	extra->n = 0;
	buf_init(&key);
	buf_init(&val);
	mail_header_iter_init(&it, s, n);
	while (mail_header_next(&it, &name, &namelen, &value, &valuelen)) {
		bool upper = true;

		if (!queue_is_extra_header(name, namelen))
			continue;
		if (namelen == PREFIX_LEN) {
			*error_r = ms_err("empty key in %s header field", QUEUE_EXTRA_HEADER_PREFIX);
			goto fail;
		}
		/* Canonical form of the whole name (Go CanonicalMIMEHeaderKey),
		 * then the part after the prefix is the key. */
		buf_reset(&key);
		for (i = 0; i < namelen; i++) {
			char c = name[i];

			if (!is_tchar((unsigned char)c)) {
				*error_r = ms_err("malformed header field name %s",
					lqn(name, namelen));
				goto fail;
			}
			c = upper ? ms_toupper(c) : ms_tolower(c);
			if (i >= PREFIX_LEN)
				buf_putc(&key, c);
			upper = c == '-';
		}
		for (j = 0; j < extra->n; j++) {
			if (strcmp(extra->v[j].key, key.data) == 0) {
				*error_r = ms_err("duplicate %s key %s",
					QUEUE_EXTRA_HEADER_PREFIX, lq(key.data));
				goto fail;
			}
		}
		buf_reset(&val);
		unfold_value(&val, value, valuelen);
		if (!valid_value(val.data, val.len)) {
			*error_r = ms_err("%s%s: value must be UTF-8 without control characters",
				QUEUE_EXTRA_HEADER_PREFIX, lq(key.data));
			goto fail;
		}
		queue_extra_add(extra, key.data, val.data);
	}
	buf_free(&key);
	buf_free(&val);
	return 0;
fail:
	buf_free(&key);
	buf_free(&val);
	queue_extra_free(extra);
	return -1;
}

size_t
queue_strip_extra(const char *s, size_t n, struct buf *out)
{
	struct mail_header_iter it;
	const char *name, *value, *copied = s, *end = s + n;
	size_t namelen, valuelen, removed = 0;

	mail_header_iter_init(&it, s, n);
	while (mail_header_next(&it, &name, &namelen, &value, &valuelen)) {
		const char *fend = value + valuelen;

		if (!queue_is_extra_header(name, namelen))
			continue;
		/* The field runs from its name through the line end of its
		 * last (continuation) line. */
		if (fend < end && *fend == '\r')
			fend++;
		if (fend < end && *fend == '\n')
			fend++;
		buf_append(out, copied, (size_t)(name - copied));
		copied = fend;
		removed++;
	}
	buf_append(out, copied, (size_t)(end - copied));
	return removed;
}

/* ---- suppression base address ---- */

static pthread_once_t utf8_locale_once = PTHREAD_ONCE_INIT;
static locale_t utf8_locale;

static void
utf8_locale_init(void)
{
	/* glibc 2.35+ has C.UTF-8 built in, with Unicode case mappings. */
	utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

/* Lower-case a code point with the Unicode simple case mapping (as Go's
 * strings.ToLower does), ASCII-only when no UTF-8 locale exists. */
static uint32_t
lower_cp(uint32_t cp)
{
	if (cp < 0x80)
		return (uint32_t)ms_tolower((char)cp);
	pthread_once(&utf8_locale_once, utf8_locale_init);
	if (utf8_locale == (locale_t)0)
		return cp;
	return (uint32_t)towlower_l((wint_t)cp, utf8_locale);
}

void
queue_base_address(struct buf *out, const char *localpart, const char *domain)
{
	struct buf lp;
	struct mail_addr a;
	size_t n = strcspn(localpart, "+-"), i = 0;

	buf_init(&lp);
	while (i < n) {
		uint32_t cp;
		size_t l = utf8_len((const unsigned char *)localpart + i, n - i, &cp);

		if (l == 0) {
			/* Not UTF-8: keep the byte (ASCII case folding only). */
			buf_putc(&lp, ms_tolower(localpart[i]));
			i++;
			continue;
		}
		if (cp != '.')
			ms_utf8_put(&lp, lower_cp(cp));
		i += l;
	}
	memset(&a, 0, sizeof(a));
	a.localpart = lp.data;
	a.domain = (char *)domain;
	a.domain_ascii = (char *)domain;
	if (lp.len == 0 && domain[0] == '\0')
		buf_puts(out, "\"\"@");	/* not the null path */
	else
		mail_addr_format(out, &a, true);
	buf_free(&lp);
}

/* ---- FUTURERELEASE ---- */

int
queue_parse_holdfor(const char *value, int64_t now, int64_t *next_r,
	char *request, size_t requestsize, const char **error_r)
{
	size_t len = strspn(value, "0123456789");
	uint64_t secs;

	/* RFC 4865 section 3: holdfor-value = 1*9DIGIT; the reference also
	 * refuses 0 and leading zeros. */
	if (len == 0 || len > 9 || value[len] != '\0' || value[0] == '0' ||
	    ms_parse_u64(value, 1, 999999999, &secs) < 0) {
		*error_r = "HOLDFOR needs 1 to 9 digits, a number of seconds above 0";
		return -1;
	}
	if (secs > QUEUE_FUTURE_RELEASE_MAX) {
		*error_r = "future release interval too far in the future";
		return 1;
	}
	*next_r = now + (int64_t)secs;
	(void)snprintf(request, requestsize, "for;%llu", (unsigned long long)secs);
	return 0;
}

static bool
digits(const char *s, size_t n, int min, int max, int *v_r)
{
	uint64_t v;

	if (ms_parse_u64n(s, n, (uint64_t)min, (uint64_t)max, &v) < 0)
		return false;
	*v_r = (int)v;
	return true;
}

static int
days_in_month(int year, int month)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (month == 2 && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0))
		return 29;
	return days[month - 1];
}

int
queue_parse_holduntil(const char *value, int64_t now, int64_t *next_r,
	char *request, size_t requestsize, const char **error_r)
{
	/* RFC 3339 section 5.6, restricted to UTC as RFC 4865 requires:
	 *   date-time = full-date "T" partial-time "Z"
	 *   full-date = date-fullyear "-" date-month "-" date-mday
	 *   partial-time = time-hour ":" time-minute ":" time-second [time-secfrac]
	 *   time-secfrac = "." 1*DIGIT */
	const char *s = value;
	struct tm tm;
	int year, mon, mday, hour, min, sec;
	bool frac = false;
	int64_t t;
	size_t nd;

	if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
	    s[13] != ':' || s[16] != ':' ||
	    !digits(s, 4, 0, 9999, &year) || !digits(s + 5, 2, 1, 12, &mon) ||
	    !digits(s + 8, 2, 1, 31, &mday) || !digits(s + 11, 2, 0, 23, &hour) ||
	    !digits(s + 14, 2, 0, 59, &min) || !digits(s + 17, 2, 0, 59, &sec) ||
	    mday > days_in_month(year, mon))
		goto bad;
	s += 19;
	if (*s == '.') {
		s++;
		nd = strspn(s, "0123456789");
		if (nd == 0)
			goto bad;
		frac = strspn(s, "0") < nd;
		s += nd;
	}
	if (strcmp(s, "Z") != 0)
		goto bad;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = mday;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	t = (int64_t)timegm(&tm);
	/* A fraction means strictly later than t: never release early. */
	if (t < now || (t == now && !frac)) {
		*error_r = "requested future release time is in the past";
		return 1;
	}
	if (t - now > QUEUE_FUTURE_RELEASE_MAX ||
	    (t - now == QUEUE_FUTURE_RELEASE_MAX && frac)) {
		*error_r = "requested future release time is too far in the future";
		return 1;
	}
	if ((size_t)snprintf(request, requestsize, "until;%s", value) >= requestsize)
		goto bad;	/* an absurd number of fraction digits */
	*next_r = t + (frac ? 1 : 0);
	return 0;
bad:
	*error_r = "HOLDUNTIL needs an RFC 3339 UTC date-time like 2026-05-01T10:00:00Z";
	return -1;
}
