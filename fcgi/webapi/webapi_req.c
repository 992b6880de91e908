/* Webapi requests without a database: the JSON
 * request (body or form field), checked against the method's fields with
 * their types so methods can read them without further checks (the
 * message itself is composed by lib/mail/compose.c). Unit tests: tests/unit/test_webapi.c; fuzz
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
	return mail_compose_has_ctl(s);
}
