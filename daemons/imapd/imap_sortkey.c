/* Sort keys of RFC 5256 that need no mailbox: base subject extraction
 * (section 2.1), the i;ascii-casemap collation, and sent dates (section
 * 2.2). Used by SORT and THREAD (imap_cmd_sort.c); pure, so
 * unit tests call it directly. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "mail/header.h"
#include "imap_sortkey.h"

/* ---- base subject (RFC 5256 section 2.1) ---- */

/*
 * The grammar of section 5 that steps (2) to (6) apply:
 *   subj-refwd   = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
 *   subj-blob    = "[" *BLOBCHAR "]" *WSP
 *   subj-fwd-hdr = "[fwd:"
 *   subj-fwd-trl = "]"
 *   subj-leader  = (*subj-blob subj-refwd) / WSP
 *   subj-trailer = "(fwd)" / WSP
 *   BLOBCHAR     = %x01-5a / %x5c / %x5e-7f   ; any CHAR except '[' and ']'
 * ABNF literals are case-insensitive (RFC 5234 2.3). Step (1) has made the
 * text UTF-8, so octets above 0x7f are taken as ordinary characters here
 * (a BLOBCHAR or NONWSP), or a translated subject could never be a blob.
 */
static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Length of a subj-blob at the start of p[0..n), or 0. */
static size_t
match_blob(const char *p, size_t n)
{
	size_t i;

	if (n == 0 || p[0] != '[')
		return 0;
	for (i = 1; i < n && p[i] != '[' && p[i] != ']' && p[i] != '\0'; i++)
		;
	if (i == n || p[i] != ']')
		return 0;
	for (i++; i < n && is_wsp(p[i]); i++)
		;
	return i;
}

/* Length of a subj-refwd at the start of p[0..n), or 0. "fwd" is tried
 * before "fw": a "d" can never follow a complete "fw" subj-refwd. */
static size_t
match_refwd(const char *p, size_t n)
{
	size_t i;

	if (n >= 2 && ms_strncaseeq(p, "re", 2))
		i = 2;
	else if (n >= 2 && ms_strncaseeq(p, "fw", 2))
		i = n > 2 && ms_tolower(p[2]) == 'd' ? 3 : 2;
	else
		return 0;
	while (i < n && is_wsp(p[i]))
		i++;
	i += match_blob(p + i, n - i);
	return i < n && p[i] == ':' ? i + 1 : 0;
}

/* Length of a subj-refwd subj-leader (with its blobs), or 0. The blobs are
 * taken greedily: what follows them must start with "r" or "f", never "[". */
static size_t
match_refwd_leader(const char *p, size_t n)
{
	size_t i = 0, b, r;

	while ((b = match_blob(p + i, n - i)) > 0)
		i += b;
	r = match_refwd(p + i, n - i);
	return r > 0 ? i + r : 0;
}

void
imap_sortkey_base_subject(const char *s, size_t n, struct buf *out, bool *reply_r)
{
	struct buf unfolded, dec;
	size_t start = 0, end = 0, i, l;
	bool reply = false;
	char *p;

	/* (1) Encoded-words to UTF-8; tabs and continuations to spaces;
	 * runs of spaces to one. */
	buf_init(&unfolded);
	buf_init(&dec);
	mail_header_unfold(&unfolded, s, n);
	mail_header_decode_words(&dec, unfolded.data, unfolded.len);
	p = dec.data;
	for (i = 0; i < dec.len; i++) {
		char c = p[i];

		if (c == '\t' || c == '\r' || c == '\n')
			c = ' ';
		if (c == ' ' && end > 0 && p[end - 1] == ' ')
			continue;
		p[end++] = c;
	}
	for (;;) {
		/* (2) Trailing subj-trailers, as long as any is left. */
		for (;;) {
			if (end > start && is_wsp(p[end - 1])) {
				end--;
			} else if (end - start >= 5 && ms_strncaseeq(p + end - 5, "(fwd)", 5)) {
				end -= 5;
				reply = true;
			} else {
				break;
			}
		}
		/* (3) Leading subj-leaders; (4) a leading subj-blob when
		 * something (a non-empty subj-base) is left after it; (5)
		 * until neither matches. */
		for (;;) {
			if (end > start && is_wsp(p[start])) {
				start++;
				continue;
			}
			l = match_refwd_leader(p + start, end - start);
			if (l > 0) {
				start += l;
				reply = true;
				continue;
			}
			l = match_blob(p + start, end - start);
			if (l > 0 && start + l < end) {
				start += l;
				continue;
			}
			break;
		}
		/* (6) "[fwd:" ... "]" around the rest: remove both and start
		 * over from (2). */
		if (end - start >= 6 && ms_strncaseeq(p + start, "[fwd:", 5) && p[end - 1] == ']') {
			start += 5;
			end--;
			reply = true;
			continue;
		}
		break;
	}
	/* (7) What is left is the base subject. */
	buf_append(out, p + start, end - start);
	if (reply_r != NULL)
		*reply_r = reply;
	buf_free(&dec);
	buf_free(&unfolded);
}

void
imap_sortkey_casemap(char *s)
{
	for (; *s != '\0'; s++)
		*s = ms_toupper(*s);
}

/* ---- sent date (RFC 5256 section 2.2, RFC 5322 section 3.3) ---- */

/*
 * date-time = [ day-of-week "," ] date time [CFWS]
 * date      = day month year          (obs: 2 or 3 digit years, 4.3)
 * time      = hour ":" minute [ ":" second ] FWS zone
 * zone      = ("+" / "-") 4DIGIT / obs-zone
 * obs-zone  = "UT" / "GMT" / "EST" / "EDT" / "CST" / "CDT" / "MST" / "MDT" /
 *             "PST" / "PDT" / military letters (taken as -0000, as 4.3 says)
 * Comments are blanked out first, so CFWS anywhere is plain whitespace.
 */
struct dscan {
	const char *p, *end;
};

static void
dskip(struct dscan *d)
{
	while (d->p < d->end && (*d->p == ' ' || *d->p == '\t' || *d->p == '\r' || *d->p == '\n'))
		d->p++;
}

/* 1 to maxd digits; returns the count read (0: none). */
static int
ddigits(struct dscan *d, int maxd, int *v_r)
{
	int nd = 0, v = 0;

	while (d->p < d->end && nd < maxd && *d->p >= '0' && *d->p <= '9') {
		v = v * 10 + (*d->p - '0');
		d->p++;
		nd++;
	}
	*v_r = v;
	return nd;
}

/* A run of letters, at most 15 kept (lower-cased) in w. */
static size_t
dword(struct dscan *d, char w[16])
{
	size_t n = 0;

	while (d->p < d->end && ((*d->p >= 'a' && *d->p <= 'z') || (*d->p >= 'A' && *d->p <= 'Z'))) {
		if (n < 15)
			w[n++] = ms_tolower(*d->p);
		d->p++;
	}
	w[n] = '\0';
	return n;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int
imap_sortkey_date(const char *s, int64_t *t_r)
{
	static const char mon[12][4] = { "jan", "feb", "mar", "apr", "may", "jun", "jul",
		"aug", "sep", "oct", "nov", "dec" };
	static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	static const struct {
		const char *name;
		int hours;
	} zones[] = {
		{ "ut", 0 }, { "gmt", 0 }, { "z", 0 }, { "est", -5 }, { "edt", -4 },
		{ "cst", -6 }, { "cdt", -5 }, { "mst", -7 }, { "mdt", -6 }, { "pst", -8 },
		{ "pdt", -7 },
	};
	struct buf b;
	struct dscan d;
	char w[16];
	int day, m, y, hh, mm, ss = 0, nd, depth = 0, off = 0, zh, zm;
	size_t i, n = strlen(s);
	bool esc = false;
	int rc = -1;

	/* Comments (nested, with quoted-pairs) become spaces. */
	buf_init(&b);
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (depth > 0) {
			if (esc)
				esc = false;
			else if (c == '\\')
				esc = true;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			c = ' ';
		} else if (c == '(') {
			depth = 1;
			c = ' ';
		}
		buf_putc(&b, c);
	}
	d.p = b.data;
	d.end = b.data + b.len;
	dskip(&d);
	/* [ day-of-week "," ]: the name is not checked against the date. */
	if (d.p < d.end && !(*d.p >= '0' && *d.p <= '9')) {
		if (dword(&d, w) == 0)
			goto out;
		dskip(&d);
		if (d.p < d.end && *d.p == ',')
			d.p++;
		dskip(&d);
	}
	if (ddigits(&d, 2, &day) == 0 || day < 1 || day > 31)
		goto out;
	dskip(&d);
	if (d.p < d.end && *d.p == '-')	/* tolerated "1-Jan-2020" */
		d.p++;
	if (dword(&d, w) != 3)
		goto out;
	for (m = 0; m < 12 && strcmp(w, mon[m]) != 0; m++)
		;
	if (m == 12)
		goto out;
	if (d.p < d.end && *d.p == '-')
		d.p++;
	dskip(&d);
	nd = ddigits(&d, 4, &y);
	if (nd == 2)
		y += y < 50 ? 2000 : 1900;	/* RFC 5322 4.3 obs-year */
	else if (nd == 3)
		y += 1900;
	else if (nd != 4)
		goto out;
	/* A day past the month's end ("31 Feb") is no date. */
	if (day > mdays[m] + (m == 1 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))))
		goto out;
	dskip(&d);
	if (ddigits(&d, 2, &hh) == 0 || hh > 23)
		goto out;
	dskip(&d);
	if (d.p >= d.end || *d.p != ':')
		goto out;
	d.p++;
	dskip(&d);
	if (ddigits(&d, 2, &mm) != 2 || mm > 59)
		goto out;
	dskip(&d);
	if (d.p < d.end && *d.p == ':') {
		d.p++;
		dskip(&d);
		if (ddigits(&d, 2, &ss) != 2 || ss > 60)
			goto out;
		dskip(&d);
	}
	if (d.p < d.end && (*d.p == '+' || *d.p == '-')) {
		bool neg = *d.p == '-';

		d.p++;
		if (ddigits(&d, 2, &zh) != 2 || ddigits(&d, 2, &zm) != 2 || zm > 59)
			goto out;
		off = (zh * 60 + zm) * 60;
		if (neg)
			off = -off;
	} else if (dword(&d, w) > 0) {
		/* Named zones; unknown names and military letters -0000. */
		for (i = 0; i < MS_NELEM(zones); i++)
			if (strcmp(w, zones[i].name) == 0)
				off = zones[i].hours * 3600;
	}
	*t_r = (days_from_civil(y, m + 1, day) * 86400 + hh * 3600 + mm * 60 + ss) - off;
	rc = 0;
out:
	buf_free(&b);
	return rc;
}
