/* Webapi requests and message composition without a database: the JSON
 * request (body or form field), checked against the method's fields with
 * their types so methods can read them without further checks, and the
 * MIME message Send composes. Unit tests: tests/unit/test_webapi.c; fuzz
 * target: tests/fuzz/fuzz_webapi.c. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "webapi/webapi.h"

/* ---- request ---- */

static const char *
skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	return p;
}

/* Media type of a Content-Type value, lower case, without parameters
 * (RFC 9110 section 8.3.1: type "/" subtype *( OWS ";" OWS parameter )). */
static void
media_type(const char *ct, char *out, size_t size)
{
	size_t i = 0;

	for (; ct != NULL && *ct == ' '; ct++)
		;
	for (; ct != NULL && *ct != '\0' && *ct != ';' && *ct != ' ' && i + 1 < size; ct++)
		out[i++] = (*ct >= 'A' && *ct <= 'Z') ? (char)(*ct + 32) : *ct;
	out[i] = '\0';
}

/* The "request" field of an application/x-www-form-urlencoded body (the
 * HTML standard's form encoding: name=value pairs joined by "&", "+" for
 * space, percent-escapes). */
static int
form_request(const char *body, size_t len, struct buf *out, struct buf *err)
{
	const char *p = body, *end = body + len;
	bool found = false;

	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *e = amp != NULL ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(e - p));

		if (eq != NULL && eq - p == 7 && memcmp(p, "request", 7) == 0) {
			if (found) {
				buf_puts(err, "form field \"request\" given more than once");
				return -1;
			}
			found = true;
			if (web_url_decode(out, eq + 1, (size_t)(e - eq - 1), true) < 0) {
				buf_puts(err, "bad percent-encoding in form field \"request\"");
				return -1;
			}
		}
		p = e + (amp != NULL);
	}
	if (!found || out->len == 0) {
		buf_puts(err, "missing/empty request: send the request as JSON body, or as form "
			"field \"request\"");
		return -1;
	}
	return 0;
}

/* s for an error message: printable ASCII only, at most max bytes. */
static void
put_printable(struct buf *out, const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i < max; i++)
		buf_putc(out, s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' ? s[i] : '?');
	if (s[i] != '\0')
		buf_puts(out, "...");
}

static const char *
type_name(enum wa_type t)
{
	switch (t) {
	case WA_STR: return "a string";
	case WA_INT: return "an integer";
	case WA_BOOL: return "a boolean";
	case WA_TIME: return "an RFC 3339 date-time string";
	case WA_STRMAP: return "an object with string values";
	case WA_ADDRS: return "an array of {\"Name\", \"Address\"} objects";
	case WA_STRS: return "an array of strings";
	case WA_INTS: return "an array of integers";
	case WA_FILES: return "an array of {\"Name\", \"ContentType\", \"ContentID\", \"Data\"} objects";
	case WA_HEADERS: return "an array of [name, value] string pairs";
	}
	return "?";
}

/* A JSON string without NUL (json-c keeps \u0000 inside strings). */
static bool
is_str(struct json_object *v)
{
	return json_object_is_type(v, json_type_string) &&
		strlen(json_object_get_string(v)) == (size_t)json_object_get_string_len(v);
}

static bool
is_str_or_null(struct json_object *v)
{
	return v == NULL || is_str(v);
}

/* An object with only the given string members. */
static bool
is_str_object(struct json_object *v, const char *const *names, size_t n)
{
	size_t i;

	if (!json_object_is_type(v, json_type_object))
		return false;
	json_object_object_foreach(v, key, val) {
		for (i = 0; i < n; i++)
			if (strcmp(key, names[i]) == 0)
				break;
		if (i == n || !is_str_or_null(val))
			return false;
	}
	return true;
}

static bool
type_ok(struct json_object *v, enum wa_type t)
{
	static const char *const addr_keys[] = { "Name", "Address" };
	static const char *const file_keys[] = { "Name", "ContentType", "ContentID", "Data" };
	size_t i, n;
	int64_t dummy;

	if (v == NULL)
		return true;
	switch (t) {
	case WA_STR:
		return is_str(v);
	case WA_INT:
		return json_object_is_type(v, json_type_int);
	case WA_BOOL:
		return json_object_is_type(v, json_type_boolean);
	case WA_TIME:
		return is_str(v) && wa_parse_time(json_object_get_string(v), &dummy) == 0;
	case WA_STRMAP:
		if (!json_object_is_type(v, json_type_object))
			return false;
		{
			json_object_object_foreach(v, key, val) {
				(void)key;
				if (!is_str(val))
					return false;
			}
		}
		return true;
	default:
		break;
	}
	if (!json_object_is_type(v, json_type_array))
		return false;
	n = json_object_array_length(v);
	for (i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(v, i);

		switch (t) {
		case WA_ADDRS:
			if (!is_str_object(e, addr_keys, 2))
				return false;
			break;
		case WA_FILES:
			if (!is_str_object(e, file_keys, 4))
				return false;
			break;
		case WA_STRS:
			if (!is_str(e))
				return false;
			break;
		case WA_INTS:
			if (!json_object_is_type(e, json_type_int))
				return false;
			break;
		case WA_HEADERS:
			if (!json_object_is_type(e, json_type_array) ||
			    json_object_array_length(e) != 2 ||
			    !is_str(json_object_array_get_idx(e, 0)) ||
			    !is_str(json_object_array_get_idx(e, 1)))
				return false;
			break;
		default:
			return false;
		}
	}
	return true;
}

int
wa_request_parse(const char *content_type, const char *body, size_t len,
	const struct wa_field *fields, size_t nfields, struct json_object **root_r,
	struct buf *err)
{
	struct json_tokener *tok;
	struct json_object *root;
	struct buf form;
	char mt[64];
	const char *js = body, *end;
	size_t jlen = len, i;
	enum json_tokener_error jerr;

	*root_r = NULL;
	buf_init(&form);
	media_type(content_type, mt, sizeof(mt));
	/* "curl -d '{...}'" says form-urlencoded but sends JSON: a body
	 * starting with "{" cannot be a form with field "request". */
	if (mt[0] == '\0')
		snprintf(mt, sizeof(mt), "application/x-www-form-urlencoded");
	if (strcmp(mt, "application/x-www-form-urlencoded") == 0 &&
	    (skip_ws(body, body + len) == body + len || *skip_ws(body, body + len) != '{')) {
		if (form_request(body, len, &form, err) < 0)
			goto fail;
		js = form.data;
		jlen = form.len;
	} else if (strcmp(mt, "multipart/form-data") == 0) {
		buf_puts(err, "multipart/form-data is not supported: send the request as JSON body, "
			"or as form field \"request\" (application/x-www-form-urlencoded), with files "
			"base64-encoded in InlineFiles/AttachedFiles");
		goto fail;
	} else if (strcmp(mt, "application/json") != 0 &&
		   strcmp(mt, "application/x-www-form-urlencoded") != 0) {
		buf_printf(err, "unknown content-type %s: use application/json or "
			"application/x-www-form-urlencoded", mt);
		goto fail;
	}
	if (jlen > WA_REQUEST_MAX || jlen > INT32_MAX) {
		buf_puts(err, "request too large");
		goto fail;
	}
	tok = json_tokener_new_ex(WEB_JSON_MAX_DEPTH);
	if (tok == NULL) {
		buf_puts(err, "out of memory");
		goto fail;
	}
	/* RFC 8259 exactly, as the reference's decoder: no trailing commas,
	 * no single quotes, no comments. */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	root = json_tokener_parse_ex(tok, js, (int)jlen);
	jerr = json_tokener_get_error(tok);
	if (root == NULL && jerr == json_tokener_continue)
		jerr = json_tokener_error_parse_eof;
	end = js + (root != NULL ? (size_t)json_tokener_get_parse_end(tok) : 0);
	json_tokener_free(tok);
	if (root != NULL && skip_ws(end, js + jlen) != js + jlen) {
		buf_puts(err, "parsing request: data after the JSON object");
		json_object_put(root);
		goto fail;
	}
	if (root == NULL || jerr != json_tokener_success) {
		buf_printf(err, "parsing request: malformed JSON: %s",
			json_tokener_error_desc(jerr));
		json_object_put(root);
		goto fail;
	}
	if (skip_ws(end, js + jlen) != js + jlen) {
		buf_puts(err, "parsing request: data after the JSON object");
		json_object_put(root);
		goto fail;
	}
	if (!json_object_is_type(root, json_type_object)) {
		buf_puts(err, "parsing request: the request must be a JSON object");
		json_object_put(root);
		goto fail;
	}
	{
		json_object_object_foreach(root, key, val) {
			for (i = 0; i < nfields; i++)
				if (strcmp(key, fields[i].name) == 0)
					break;
			if (i == nfields) {
				buf_puts(err, "parsing request: unknown field \"");
				put_printable(err, key, 64);
				buf_puts(err, "\"");
				json_object_put(root);
				goto fail;
			}
			if (!type_ok(val, fields[i].type)) {
				buf_printf(err, "parsing request: field \"%s\" must be %s",
					fields[i].name, type_name(fields[i].type));
				json_object_put(root);
				goto fail;
			}
		}
	}
	buf_free(&form);
	*root_r = root;
	return 0;
fail:
	buf_free(&form);
	return -1;
}

const char *
wa_str(struct json_object *o, const char *name)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, name, &v) || v == NULL ||
	    !json_object_is_type(v, json_type_string))
		return "";
	return json_object_get_string(v);
}

int64_t
wa_int(struct json_object *o, const char *name)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, name, &v) || v == NULL)
		return 0;
	return json_object_get_int64(v);
}

bool
wa_bool(struct json_object *o, const char *name)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, name, &v) || v == NULL)
		return false;
	return json_object_get_boolean(v);
}

struct json_object *
wa_array(struct json_object *o, const char *name)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, name, &v) || v == NULL ||
	    !json_object_is_type(v, json_type_array))
		return NULL;
	return v;
}

bool
wa_has(struct json_object *o, const char *name)
{
	struct json_object *v;

	return json_object_object_get_ex(o, name, &v) && v != NULL;
}

static int
digits(const char *s, size_t n, int min, int max, int *v_r)
{
	int v = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v < min || v > max)
		return -1;
	*v_r = v;
	return 0;
}

/* RFC 3339 section 5.6:
 *   date-time = full-date "T" full-time
 *   full-date = date-fullyear "-" date-month "-" date-mday
 *   full-time = partial-time time-offset
 *   partial-time = time-hour ":" time-minute ":" time-second [time-secfrac]
 *   time-offset = "Z" / time-numoffset; time-numoffset = ("+" / "-") time-hour ":" time-minute
 * "T" and "Z" may be lower case (section 5.6, note). */
int
wa_parse_time(const char *s, int64_t *t_r)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	struct tm tm;
	size_t n = strlen(s), i = 19;
	time_t t;

	if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
	    s[13] != ':' || s[16] != ':' ||
	    digits(s, 4, 0, 9999, &y) < 0 || digits(s + 5, 2, 1, 12, &mo) < 0 ||
	    digits(s + 8, 2, 1, 31, &d) < 0 || digits(s + 11, 2, 0, 23, &h) < 0 ||
	    digits(s + 14, 2, 0, 59, &mi) < 0 || digits(s + 17, 2, 0, 60, &sec) < 0 ||
	    d > mdays[mo - 1])
		return -1;
	if (s[i] == '.') {
		for (i++; s[i] >= '0' && s[i] <= '9'; i++)
			;
		if (i == 20)
			return -1;
	}
	if ((s[i] == 'Z' || s[i] == 'z') && s[i + 1] == '\0') {
		sign = 0;
	} else if ((s[i] == '+' || s[i] == '-') && n - i == 6 && s[i + 3] == ':' &&
		   digits(s + i + 1, 2, 0, 23, &oh) == 0 && digits(s + i + 4, 2, 0, 59, &om) == 0) {
		sign = s[i] == '+' ? 1 : -1;
	} else {
		return -1;
	}
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec == 60 ? 59 : sec;
	t = timegm(&tm);
	*t_r = (int64_t)t - sign * (oh * 3600 + om * 60);
	return 0;
}

bool
wa_has_ctl(const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			return true;
	return false;
}

/* ---- composing ---- */

static bool
is_ascii(const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p >= 0x80)
			return false;
	return true;
}

/* RFC 2047 encoded-words (B encoding, charset utf-8) for s, each at most
 * 75 characters (section 2), so at most 45 bytes of text per word, cut at
 * UTF-8 character boundaries (section 5: a character is never split);
 * words separated by folding white space. */
static void
put_encoded_words(struct buf *out, const char *s)
{
	size_t n = strlen(s), i = 0;

	while (i < n) {
		size_t k = n - i > 45 ? 45 : n - i;

		while (i + k < n && k > 0 && ((unsigned char)s[i + k] & 0xc0) == 0x80)
			k--;
		if (k == 0)
			k = 1;
		if (i > 0)
			buf_puts(out, "\r\n ");
		buf_puts(out, "=?utf-8?b?");
		ms_base64_encode(out, s + i, k);
		buf_puts(out, "?=");
		i += k;
	}
}

/* RFC 5322 3.2.3 atext plus space: a display name of these needs no
 * quoting. */
static bool
is_atext_phrase(const char *s)
{
	const char *p;

	for (p = s; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9') || (*p != '\0' && strchr(" !#$%&'*+-/=?^_`{|}~", *p))))
			return false;
	return s[0] != ' ' && (s[0] == '\0' || s[strlen(s) - 1] != ' ');
}

/* RFC 5322 3.4: name-addr = [display-name] angle-addr. */
static void
put_name_addr(struct buf *out, const struct wa_addr *a, bool smtputf8)
{
	const char *p;

	if (a->name[0] != '\0') {
		if (is_atext_phrase(a->name)) {
			buf_puts(out, a->name);
		} else if (!smtputf8 && !is_ascii(a->name)) {
			put_encoded_words(out, a->name);
		} else {
			/* quoted-string, RFC 5322 3.2.4 (RFC 6532 3.2 for UTF-8) */
			buf_putc(out, '"');
			for (p = a->name; *p != '\0'; p++) {
				if (*p == '"' || *p == '\\')
					buf_putc(out, '\\');
				buf_putc(out, *p);
			}
			buf_putc(out, '"');
		}
		buf_putc(out, ' ');
	}
	buf_printf(out, "<%s>", a->addr);
}

static void
put_addr_field(struct buf *out, const char *name, const struct wa_addr *v, size_t n,
	bool smtputf8)
{
	size_t i;

	if (n == 0)
		return;
	buf_printf(out, "%s: ", name);
	for (i = 0; i < n; i++) {
		if (i > 0)
			buf_puts(out, ",\r\n\t");
		put_name_addr(out, &v[i], smtputf8);
	}
	buf_puts(out, "\r\n");
}

/* An unstructured field (RFC 5322 3.2.5, 2.2.3): folded before white
 * space to keep lines near 78 characters; non-ASCII as encoded-words
 * without SMTPUTF8, and also when a long value has no place to fold. */
static void
put_unstructured(struct buf *out, const char *name, const char *value, bool smtputf8)
{
	size_t col, n = strlen(value), i, last_fold;

	buf_printf(out, "%s: ", name);
	if ((!smtputf8 && !is_ascii(value)) ||
	    (n > 900 && strchr(value, ' ') == NULL && strchr(value, '\t') == NULL)) {
		put_encoded_words(out, value);
		buf_puts(out, "\r\n");
		return;
	}
	col = strlen(name) + 2;
	last_fold = 0;
	for (i = 0; i < n; i++) {
		if ((value[i] == ' ' || value[i] == '\t') && col > 78 && i > last_fold) {
			buf_puts(out, "\r\n");
			col = 0;
			last_fold = i;
		}
		buf_putc(out, value[i]);
		col++;
	}
	buf_puts(out, "\r\n");
}

void
wa_qp_encode(struct buf *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, col = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		bool eol = i + 1 == n || s[i + 1] == '\n' ||
			(s[i + 1] == '\r' && i + 2 < n && s[i + 2] == '\n');
		size_t need;

		if (c == '\r' && i + 1 < n && s[i + 1] == '\n')
			continue;
		if (c == '\n') {
			buf_puts(out, "\r\n");
			col = 0;
			continue;
		}
		/* Rule 2 and 3: printable ASCII but "=" literally; space and
		 * tab only when not at the end of a line. */
		need = ((c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !eol)) ? 1 : 3;
		/* Rule 5: at most 76 characters, a soft break "=" included. */
		if (col + need > (eol ? 76 : 75)) {
			buf_puts(out, "=\r\n");
			col = 0;
		}
		if (need == 1) {
			buf_putc(out, (char)c);
		} else {
			buf_putc(out, '=');
			buf_putc(out, hex[c >> 4]);
			buf_putc(out, hex[c & 15]);
		}
		col += need;
	}
}

const char *
wa_sniff_type(const char *p, size_t n)
{
	size_t i;

	if (n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0)
		return "image/png";
	if (n >= 3 && memcmp(p, "\xff\xd8\xff", 3) == 0)
		return "image/jpeg";
	if (n >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0))
		return "image/gif";
	if (n >= 5 && memcmp(p, "%PDF-", 5) == 0)
		return "application/pdf";
	if (n >= 4 && memcmp(p, "PK\x03\x04", 4) == 0)
		return "application/zip";
	for (i = 0; i < n && i < 512; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == 0 || (c < 0x20 && c != '\t' && c != '\r' && c != '\n' && c != '\f'))
			return "application/octet-stream";
	}
	return "text/plain; charset=utf-8";
}

/* Short ASCII lines can go as they are (7bit, RFC 2045 2.7). */
static bool
is_7bit_text(const char *s)
{
	size_t col = 0;
	const char *p;

	for (p = s; *p != '\0'; p++) {
		if ((unsigned char)*p >= 0x80 || (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r'))
			return false;
		col = *p == '\n' ? 0 : col + 1;
		if (col > 78)
			return false;
	}
	return true;
}

static void
put_text_part(struct buf *out, const char *subtype, const char *text)
{
	const char *p;

	buf_printf(out, "Content-Type: text/%s; charset=utf-8\r\n", subtype);
	if (is_7bit_text(text)) {
		buf_puts(out, "Content-Transfer-Encoding: 7bit\r\n\r\n");
		for (p = text; *p != '\0'; p++) {
			if (*p == '\r' && p[1] == '\n')
				continue;
			if (*p == '\n')
				buf_putc(out, '\r');
			buf_putc(out, *p);
		}
	} else {
		buf_puts(out, "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
		wa_qp_encode(out, text, strlen(text));
	}
	/* The last line ends before the boundary's own CRLF. */
	if (out->len < 2 || memcmp(out->data + out->len - 2, "\r\n", 2) != 0)
		buf_puts(out, "\r\n");
}

/* RFC 2231 section 4 for a non-ASCII or special file name:
 * filename*=utf-8''percent-encoded; else a quoted-string. */
static void
put_filename_param(struct buf *out, const char *name)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;

	if (is_ascii(name)) {
		buf_puts(out, "; filename=\"");
		for (p = (const unsigned char *)name; *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				buf_putc(out, '\\');
			buf_putc(out, (char)*p);
		}
		buf_putc(out, '"');
		return;
	}
	buf_puts(out, ";\r\n\tfilename*=utf-8''");
	for (p = (const unsigned char *)name; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("!#$&+-.^_`|~", *p) != NULL) {
			buf_putc(out, (char)*p);
		} else {
			buf_putc(out, '%');
			buf_putc(out, hex[*p >> 4]);
			buf_putc(out, hex[*p & 15]);
		}
	}
}

static void
put_file_part(struct buf *out, const struct wa_file *f, bool inline_)
{
	const char *ct = f->content_type[0] != '\0' ? f->content_type :
		wa_sniff_type(f->data.data, f->data.len);
	struct buf b64;
	size_t i;

	buf_printf(out, "Content-Type: %s\r\n", ct);
	buf_puts(out, "Content-Disposition: ");
	buf_puts(out, inline_ ? "inline" : "attachment");
	if (f->name[0] != '\0')
		put_filename_param(out, f->name);
	buf_puts(out, "\r\n");
	if (f->content_id[0] != '\0') {
		if (f->content_id[0] == '<')
			buf_printf(out, "Content-ID: %s\r\n", f->content_id);
		else
			buf_printf(out, "Content-ID: <%s>\r\n", f->content_id);
	}
	buf_puts(out, "Content-Transfer-Encoding: base64\r\n\r\n");
	/* RFC 2045 6.8: lines of at most 76 characters. */
	buf_init(&b64);
	ms_base64_encode(&b64, f->data.data, f->data.len);
	for (i = 0; i < b64.len; i += 76) {
		buf_append(out, b64.data + i, b64.len - i > 76 ? 76 : b64.len - i);
		buf_puts(out, "\r\n");
	}
	buf_free(&b64);
}

enum level { L_MIXED, L_RELATED, L_ALTERNATIVE, L_TEXT, L_HTML };

/* RFC 2046 5.1.1: a boundary that cannot occur in the parts: random,
 * and the parts are base64 or quoted-printable, or 7bit text that would
 * have to contain these 24 random characters. */
static void
new_boundary(char *b, size_t size)
{
	struct buf t;

	buf_init(&t);
	ms_random_token(&t, 18);
	snprintf(b, size, "ms-%s", t.data);
	buf_free(&t);
}

/* The entity at level l: its Content-* fields, the empty line, its body.
 * Levels without content collapse into the next. */
static void
put_entity(struct buf *out, const struct wa_msg *m, enum level l)
{
	char b[64];
	size_t i;

	switch (l) {
	case L_MIXED:
		if (m->nattached == 0) {
			put_entity(out, m, L_RELATED);
			return;
		}
		new_boundary(b, sizeof(b));
		buf_printf(out, "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n", b);
		buf_printf(out, "--%s\r\n", b);
		put_entity(out, m, L_RELATED);
		for (i = 0; i < m->nattached; i++) {
			buf_printf(out, "\r\n--%s\r\n", b);
			put_file_part(out, &m->attached_files[i], false);
		}
		buf_printf(out, "\r\n--%s--\r\n", b);
		return;
	case L_RELATED:
		if (m->ninline == 0) {
			put_entity(out, m, L_ALTERNATIVE);
			return;
		}
		new_boundary(b, sizeof(b));
		/* RFC 2387 3.1: type is the root part's. */
		buf_printf(out, "Content-Type: multipart/related; boundary=\"%s\"\r\n\r\n", b);
		buf_printf(out, "--%s\r\n", b);
		put_entity(out, m, L_ALTERNATIVE);
		for (i = 0; i < m->ninline; i++) {
			buf_printf(out, "\r\n--%s\r\n", b);
			put_file_part(out, &m->inline_files[i], true);
		}
		buf_printf(out, "\r\n--%s--\r\n", b);
		return;
	case L_ALTERNATIVE:
		if (m->text[0] == '\0' || m->html[0] == '\0') {
			put_entity(out, m, m->text[0] != '\0' ? L_TEXT : L_HTML);
			return;
		}
		new_boundary(b, sizeof(b));
		/* RFC 2046 5.1.4: in increasing order of preference. */
		buf_printf(out, "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n", b);
		buf_printf(out, "--%s\r\n", b);
		put_text_part(out, "plain", m->text);
		buf_printf(out, "\r\n--%s\r\n", b);
		put_text_part(out, "html", m->html);
		buf_printf(out, "\r\n--%s--\r\n", b);
		return;
	case L_TEXT:
		put_text_part(out, "plain", m->text);
		return;
	case L_HTML:
		put_text_part(out, "html", m->html);
		return;
	}
}

void
wa_compose(struct buf *out, const struct wa_msg *m)
{
	size_t i;
	bool have_ua = false;

	put_addr_field(out, "From", &m->from, 1, m->smtputf8);
	put_addr_field(out, "Reply-To", m->reply_to, m->nreply_to, m->smtputf8);
	put_addr_field(out, "To", m->to, m->nto, m->smtputf8);
	put_addr_field(out, "Cc", m->cc, m->ncc, m->smtputf8);
	if (m->subject[0] != '\0')
		put_unstructured(out, "Subject", m->subject, m->smtputf8);
	buf_puts(out, "Date: ");
	ms_rfc5322_date(out, m->date);
	buf_puts(out, "\r\n");
	buf_printf(out, "Message-Id: %s\r\n", m->message_id);
	/* RFC 5322 3.6.4: References lists the thread, In-Reply-To the
	 * message replied to, the last of them. */
	if (m->nreferences > 0) {
		buf_puts(out, "References: ");
		for (i = 0; i < m->nreferences; i++)
			buf_printf(out, "%s%s", i > 0 ? "\r\n\t" : "", m->references[i]);
		buf_printf(out, "\r\nIn-Reply-To: %s\r\n", m->references[m->nreferences - 1]);
	}
	buf_puts(out, "MIME-Version: 1.0\r\n");
	for (i = 0; i < m->nheaders; i++) {
		put_unstructured(out, m->headers[i][0], m->headers[i][1], m->smtputf8);
		if (ms_strcaseeq(m->headers[i][0], "User-Agent") ||
		    ms_strcaseeq(m->headers[i][0], "X-Mailer"))
			have_ua = true;
	}
	if (!have_ua)
		buf_puts(out, "User-Agent: " PACKAGE_NAME "/" PACKAGE_VERSION "\r\n");
	put_entity(out, m, L_MIXED);
}
