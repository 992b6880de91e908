/* Parsers of the SMTP client: replies (RFC 5321 4.2) with enhanced status
 * codes (RFC 3463), and the EHLO extension list. No I/O, bounded, for unit
 * tests and the fuzz target. */
#include "config.h"

#include <string.h>

#include "core/util.h"
#include "smtpclient.h"

void
smtpc_reply_init(struct smtpc_reply *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->text);
}

void
smtpc_reply_free(struct smtpc_reply *r)
{
	buf_free(&r->text);
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 3463 2: status-code = class "." subject "." detail;
 * class = "2"/"4"/"5", subject = 1*3digit, detail = 1*3digit. */
bool
smtpc_secode_valid(const char *s, size_t n)
{
	size_t i = 0, k, part;

	if (n < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
		return false;
	i = 2;
	for (part = 0; part < 2; part++) {
		for (k = 0; i < n && is_digit(s[i]) && k < 3; k++, i++)
			;
		if (k == 0 || (i < n && is_digit(s[i])))
			return false;
		if (part == 0) {
			if (i >= n || s[i] != '.')
				return false;
			i++;
		}
	}
	return i == n;
}

int
smtpc_reply_parse(const char *s, size_t n, struct smtpc_reply *r, size_t *used_r,
	const char **error_r)
{
	size_t pos = 0, nlines = 0;
	int code = 0;

	buf_reset(&r->text);
	r->code = 0;
	r->secode[0] = '\0';
	for (;;) {
		const char *nl, *line = s + pos, *text;
		size_t len, tlen;
		int c;
		bool last;

		if (pos >= n)
			return 0;
		nl = memchr(line, '\n', n - pos);
		if (nl == NULL) {
			if (n - pos > SMTPC_MAX_LINE || n > SMTPC_MAX_REPLY) {
				*error_r = "reply line too long";
				return -1;
			}
			return 0;
		}
		len = (size_t)(nl - line);
		pos += len + 1;
		if (len > 0 && line[len - 1] == '\r')
			len--;
		if (len > SMTPC_MAX_LINE || pos > SMTPC_MAX_REPLY) {
			*error_r = "reply too long";
			return -1;
		}
		if (len < 3 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2]) ||
		    line[0] < '2' || line[0] > '5') {
			*error_r = "malformed reply code";
			return -1;
		}
		c = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
		if (nlines > 0 && c != code) {
			*error_r = "reply code changes within a multi-line reply";
			return -1;
		}
		code = c;
		if (len == 3) {
			last = true;
		} else if (line[3] == ' ') {
			last = true;
		} else if (line[3] == '-') {
			last = false;
		} else {
			*error_r = "malformed reply separator";
			return -1;
		}
		text = len > 4 ? line + 4 : "";
		tlen = len > 4 ? len - 4 : 0;
		{
			size_t k = 0;

			/* RFC 2034 4: the enhanced code starts the text of
			 * every line of the reply; its class must agree with
			 * the reply code. The first line's is kept in
			 * r->secode, and it is cut from the text of every
			 * line, so that errors formatted as "code secode
			 * text" (smtpc_reply_format) do not repeat it. */
			while (k < tlen && k < 15 && text[k] != ' ')
				k++;
			if (k > 0 && text[0] == line[0] && smtpc_secode_valid(text, k)) {
				if (nlines == 0) {
					memcpy(r->secode, text, k);
					r->secode[k] = '\0';
				}
				while (k < tlen && text[k] == ' ')
					k++;
				text += k;
				tlen -= k;
			}
		}
		if (nlines > 0)
			buf_putc(&r->text, '\n');
		buf_append(&r->text, text, tlen);
		nlines++;
		if (last)
			break;
	}
	r->code = code;
	*used_r = pos;
	return 1;
}

void
smtpc_reply_format(struct buf *out, int code, const char *secode, const char *text)
{
	size_t start = out->len;
	const char *p;

	if (code > 0)
		buf_printf(out, "%d", code);
	if (secode != NULL && secode[0] != '\0')
		buf_printf(out, "%s%s", out->len > start ? " " : "", secode);
	if (text == NULL || text[0] == '\0')
		return;
	if (out->len > start)
		buf_putc(out, ' ');
	/* One line: the lines of a multi-line reply joined with spaces. */
	for (p = text; *p != '\0'; p++)
		buf_putc(out, *p == '\n' || *p == '\r' ? ' ' : *p);
}

/* Does the line (len bytes) start with keyword kw as a whole word? */
static bool
kw_is(const char *line, size_t len, const char *kw, const char **rest_r, size_t *restlen_r)
{
	size_t k = strlen(kw);

	if (len < k || !ms_strncaseeq(line, kw, k))
		return false;
	if (len > k && line[k] != ' ' && line[k] != '=')
		return false;
	*rest_r = len > k ? line + k + 1 : line + len;
	*restlen_r = len > k ? len - k - 1 : 0;
	return true;
}

/* RFC 4422 3.1: sasl-mech = 1*20mech-char, mech-char = UPPER-ALPHA /
 * DIGIT / HYPHEN / UNDERSCORE (lower case accepted and raised). */
static bool
is_mech_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		c == '-' || c == '_';
}

/* Append the mechanisms of an AUTH line (RFC 4954 3: "AUTH" 1*(SP
 * sasl-mech)) to ext->auth, upper case, one space between them. Words
 * that are no mechanism name, and any that do not fit whole, are left
 * out. */
static void
auth_add(struct smtpc_ext *ext, const char *s, size_t n)
{
	size_t i = 0, o = strlen(ext->auth);

	while (i < n) {
		size_t start, k, wl;
		bool ok = true;

		while (i < n && s[i] == ' ')
			i++;
		start = i;
		for (; i < n && s[i] != ' '; i++)
			ok = is_mech_char(s[i]) && ok;
		wl = i - start;
		if (wl == 0 || wl > 20 || !ok || o + (o > 0) + wl + 1 > sizeof(ext->auth))
			continue;
		if (o > 0)
			ext->auth[o++] = ' ';
		for (k = 0; k < wl; k++)
			ext->auth[o++] = ms_toupper(s[start + k]);
		ext->auth[o] = '\0';
	}
}

void
smtpc_ehlo_parse(const char *text, size_t n, struct smtpc_ext *ext)
{
	size_t pos = 0;
	bool first = true;

	memset(ext, 0, sizeof(*ext));
	while (pos < n) {
		const char *line = text + pos, *nl = memchr(line, '\n', n - pos), *rest;
		size_t len = nl != NULL ? (size_t)(nl - line) : n - pos, restlen;

		pos += len + 1;
		if (len > 0 && line[len - 1] == '\r')
			len--;	/* text not from smtpc_reply_parse */
		if (first) {	/* the greeting: domain and free text */
			first = false;
			continue;
		}
		if (kw_is(line, len, "PIPELINING", &rest, &restlen))
			ext->pipelining = true;
		else if (kw_is(line, len, "8BITMIME", &rest, &restlen))
			ext->eightbitmime = true;
		else if (kw_is(line, len, "SMTPUTF8", &rest, &restlen))
			ext->smtputf8 = true;
		else if (kw_is(line, len, "STARTTLS", &rest, &restlen))
			ext->starttls = true;
		else if (kw_is(line, len, "REQUIRETLS", &rest, &restlen))
			ext->requiretls = true;
		else if (kw_is(line, len, "ENHANCEDSTATUSCODES", &rest, &restlen))
			ext->enhancedstatuscodes = true;
		else if (kw_is(line, len, "DSN", &rest, &restlen))
			ext->dsn = true;
		else if (kw_is(line, len, "CHUNKING", &rest, &restlen))
			ext->chunking = true;
		else if (kw_is(line, len, "SIZE", &rest, &restlen)) {
			uint64_t v = 0;

			ext->has_size = true;
			/* RFC 1870: "SIZE" [SP number]; 0 or absent: no limit. */
			if (restlen > 0 && ms_parse_u64n(rest, restlen, 0, UINT64_MAX, &v) == 0)
				ext->size = v;
		} else if (kw_is(line, len, "AUTH", &rest, &restlen)) {
			auth_add(ext, rest, restlen);
		}
	}
}
