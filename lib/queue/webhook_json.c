/* Webhook payloads (FEATURES.md section 6; the reference's webhook.Outgoing
 * and webhook.Incoming): JSON with the reference's field names and order,
 * map keys sorted (as Go's encoding/json writes them), times in RFC 3339.
 * Written by hand rather than through json-c so the bytes are exactly
 * what the unit tests expect ("/" unescaped, valid UTF-8 guaranteed). */
#include "config.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/util.h"
#include "mail/addr.h"
#include "mail/header.h"
#include "mail/mime.h"
#include "queue/queue.h"
#include "queue/webhook.h"
#include "queue/webhook_private.h"

/* ---- JSON writing ---- */

/* A JSON string: the value made valid UTF-8 first, then ", \ and control
 * characters escaped; U+2028/U+2029 too, so the text is also valid
 * JavaScript. */
static void
json_str_n(struct buf *out, const char *s, size_t n)
{
	struct buf clean, tmp;
	size_t i;

	buf_init(&clean);
	buf_init(&tmp);
	buf_append(&tmp, s, n);
	/* NUL bytes would end the C string early: replace them first. */
	for (i = 0; i < tmp.len; i++)
		if (tmp.data[i] == '\0')
			tmp.data[i] = ' ';
	queue_utf8_sanitize(&clean, tmp.data);
	buf_free(&tmp);
	buf_putc(out, '"');
	for (i = 0; i < clean.len; i++) {
		unsigned char c = (unsigned char)clean.data[i];

		switch (c) {
		case '"': buf_puts(out, "\\\""); break;
		case '\\': buf_puts(out, "\\\\"); break;
		case '\n': buf_puts(out, "\\n"); break;
		case '\r': buf_puts(out, "\\r"); break;
		case '\t': buf_puts(out, "\\t"); break;
		default:
			if (c < 0x20 || c == 0x7f) {
				buf_printf(out, "\\u%04x", c);
			} else if (c == 0xe2 && i + 2 < clean.len &&
			    (unsigned char)clean.data[i + 1] == 0x80 &&
			    ((unsigned char)clean.data[i + 2] == 0xa8 ||
			     (unsigned char)clean.data[i + 2] == 0xa9)) {
				buf_printf(out, "\\u%04x",
					0x2000 | (unsigned char)clean.data[i + 2]);
				i += 2;
			} else {
				buf_putc(out, (char)c);
			}
		}
	}
	buf_putc(out, '"');
	buf_free(&clean);
}

static void
json_str(struct buf *out, const char *s)
{
	json_str_n(out, s ? s : "", s ? strlen(s) : 0);
}

/* ,"key": (no comma before the first key of an object) */
static void
json_key(struct buf *out, const char *key)
{
	if (out->len > 0 && out->data[out->len - 1] != '{')
		buf_putc(out, ',');
	buf_printf(out, "\"%s\":", key);
}

static void
kv_str(struct buf *out, const char *key, const char *v)
{
	json_key(out, key);
	json_str(out, v);
}

static void
kv_bool(struct buf *out, const char *key, bool v)
{
	json_key(out, key);
	buf_puts(out, v ? "true" : "false");
}

static void
kv_i64(struct buf *out, const char *key, int64_t v)
{
	json_key(out, key);
	buf_printf(out, "%lld", (long long)v);
}

/* RFC 3339 in UTC with the fraction Go's RFC3339Nano gives (trailing
 * zeros and an empty fraction dropped). */
static void
json_time_us(struct buf *out, int64_t us)
{
	time_t t = (time_t)(us >= 0 ? us / 1000000 : (us - 999999) / 1000000);
	long frac = (long)(us - (int64_t)t * 1000000);
	struct tm tm;
	char b[64];
	int digits = 6;

	if (gmtime_r(&t, &tm) == NULL || strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		buf_puts(out, "\"0001-01-01T00:00:00Z\"");
		return;
	}
	buf_printf(out, "\"%s", b);
	if (frac > 0) {
		while (frac % 10 == 0) {
			frac /= 10;
			digits--;
		}
		buf_printf(out, ".%0*ld", digits, frac);
	}
	buf_puts(out, "Z\"");
}

void
webhook_json_time(struct buf *out, int64_t us)
{
	json_time_us(out, us);
}

bool
webhook_url_valid(const char *url)
{
	const char *host;

	if (ms_startswith_ci(url, "https://"))
		host = url + 8;
	else if (ms_startswith_ci(url, "http://"))
		host = url + 7;
	else
		return false;
	/* A host, and no whitespace or control characters anywhere (a
	 * header-injection or log-confusion vector otherwise). */
	if (*host == '\0' || *host == '/' || *host == '?' || *host == '#')
		return false;
	for (; *url; url++)
		if ((unsigned char)*url <= ' ' || *url == 0x7f)
			return false;
	return true;
}

/* ---- outgoing ---- */

static const char *const events[] = {
	WEBHOOK_EVENT_DELIVERED, WEBHOOK_EVENT_SUPPRESSED, WEBHOOK_EVENT_DELAYED,
	WEBHOOK_EVENT_FAILED, WEBHOOK_EVENT_RELAYED, WEBHOOK_EVENT_EXPANDED,
	WEBHOOK_EVENT_CANCELED, WEBHOOK_EVENT_UNRECOGNIZED,
};

bool
webhook_event_valid(const char *s)
{
	size_t i;

	for (i = 0; s != NULL && i < MS_NELEM(events); i++)
		if (strcmp(s, events[i]) == 0)
			return true;
	return false;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A JSON object of string values, keys sorted; anything that is not such
 * an object gives {}. */
void
webhook_extra_json(struct buf *out, const char *extra)
{
	struct json_object *o = extra ? json_tokener_parse(extra) : NULL;
	const char **keys = NULL;
	size_t n = 0, i;

	buf_putc(out, '{');
	if (o != NULL && json_object_is_type(o, json_type_object)) {
		struct json_object_iterator it = json_object_iter_begin(o);
		struct json_object_iterator end = json_object_iter_end(o);

		keys = xcalloc((size_t)json_object_object_length(o) + 1, sizeof(char *));
		for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
			if (json_object_is_type(json_object_iter_peek_value(&it), json_type_string))
				keys[n++] = json_object_iter_peek_name(&it);
		}
		qsort(keys, n, sizeof(*keys), cmp_str);
		for (i = 0; i < n; i++) {
			struct json_object *v = NULL;

			(void)json_object_object_get_ex(o, keys[i], &v);
			if (i > 0)
				buf_putc(out, ',');
			json_str(out, keys[i]);
			buf_putc(out, ':');
			json_str_n(out, json_object_get_string(v),
				(size_t)json_object_get_string_len(v));
		}
	}
	buf_putc(out, '}');
	free(keys);
	if (o != NULL)
		json_object_put(o);
}

void
webhook_outgoing_json(struct buf *out, const struct webhook_outgoing_event *ev,
	int64_t queued_us)
{
	struct buf o, ecode;
	const char *sec = ev->smtp_secode;

	buf_init(&o);
	buf_init(&ecode);
	/* The reference composes "<class>.<subject>.<detail>" from the code's
	 * class and the stored "subject.detail". */
	if (sec != NULL && sec[0] != '\0') {
		const char *d1 = strchr(sec, '.');

		if (d1 != NULL && strchr(d1 + 1, '.') != NULL)
			buf_puts(&ecode, sec);
		else if (ev->smtp_code >= 200 && ev->smtp_code < 600)
			buf_printf(&ecode, "%d.%s", ev->smtp_code / 100, sec);
	}
	buf_putc(&o, '{');
	kv_i64(&o, "Version", 0);
	kv_str(&o, "Event", ev->event);
	kv_bool(&o, "DSN", ev->dsn);
	kv_bool(&o, "Suppressing", ev->suppressing);
	kv_i64(&o, "QueueMsgID", ev->queue_msg_id);
	kv_str(&o, "FromID", ev->from_id);
	kv_str(&o, "MessageID", ev->message_id);
	kv_str(&o, "Subject", ev->subject);
	json_key(&o, "WebhookQueued");
	json_time_us(&o, queued_us);
	kv_i64(&o, "SMTPCode", ev->smtp_code);
	kv_str(&o, "SMTPEnhancedCode", ecode.data);
	kv_str(&o, "Error", ev->error);
	json_key(&o, "Extra");
	webhook_extra_json(&o, ev->extra);
	buf_putc(&o, '}');
	buf_append(out, o.data, o.len);
	buf_free(&o);
	buf_free(&ecode);
}

/* ---- incoming ---- */

struct webhook_incoming {
	/* Everything before "Meta" (with the trailing comma), and the Meta
	 * members that follow the per-recipient ones. */
	struct buf head;
	char *mailfrom;
	bool mailfrom_validated, msgfrom_validated;
	struct buf dkim;	/* JSON array */
	char *remote_ip;
	int64_t received;
	bool automated;
	char *subject, *message_id;
};

/* RFC 5322 3.3 date-time, with the obsolete forms of 4.3 (two-digit
 * years, named zones) and comments tolerated:
 *   date-time = [ day-of-week "," ] date time [CFWS]
 *   date = day month year;  time = hour ":" minute [ ":" second ] zone
 * Sets the UTC time and the zone offset in seconds. Returns 0, or -1 when
 * s is no date. */
static int
parse_date(const char *s, int64_t *t_r, int *off_r)
{
	static const char *const months[] = { "jan", "feb", "mar", "apr", "may", "jun",
		"jul", "aug", "sep", "oct", "nov", "dec" };
	static const struct { const char *name; int hours; } zones[] = {
		{ "ut", 0 }, { "utc", 0 }, { "gmt", 0 }, { "z", 0 },
		{ "est", -5 }, { "edt", -4 }, { "cst", -6 }, { "cdt", -5 },
		{ "mst", -7 }, { "mdt", -6 }, { "pst", -8 }, { "pdt", -7 },
	};
	char clean[128];
	size_t n = 0, i;
	const char *p;
	int day, mon = -1, year, hh, mm, ss = 0, off = 0, depth = 0;
	int64_t days, y, m;
	char *end;

	/* Drop comments and fold whitespace. */
	for (p = s; *p != '\0' && n + 1 < sizeof(clean); p++) {
		if (*p == '(')
			depth++;
		else if (*p == ')' && depth > 0)
			depth--;
		else if (depth == 0)
			clean[n++] = (*p == '\t' || *p == '\r' || *p == '\n') ? ' ' : *p;
	}
	clean[n] = '\0';
	p = clean;
	while (*p == ' ')
		p++;
	if (strchr(p, ',') != NULL)
		p = strchr(p, ',') + 1;
	day = (int)strtol(p, &end, 10);
	if (end == p || day < 1 || day > 31)
		return -1;
	p = end;
	while (*p == ' ' || *p == '-')
		p++;
	for (i = 0; i < MS_NELEM(months); i++)
		if (ms_strncaseeq(p, months[i], 3))
			mon = (int)i;
	if (mon < 0)
		return -1;
	while (*p != '\0' && *p != ' ' && *p != '-')
		p++;
	while (*p == ' ' || *p == '-')
		p++;
	year = (int)strtol(p, &end, 10);
	if (end == p)
		return -1;
	if (end - p <= 2)
		year += year < 50 ? 2000 : 1900;
	else if (end - p == 3)
		year += 1900;
	if (year < 1 || year > 9999)
		return -1;
	p = end;
	hh = (int)strtol(p, &end, 10);
	if (end == p || *end != ':' || hh > 23 || hh < 0)
		return -1;
	p = end + 1;
	mm = (int)strtol(p, &end, 10);
	if (end == p || mm > 59 || mm < 0)
		return -1;
	p = end;
	if (*p == ':') {
		p++;
		ss = (int)strtol(p, &end, 10);
		if (end == p || ss > 60 || ss < 0)
			return -1;
		p = end;
	}
	while (*p == ' ')
		p++;
	if ((p[0] == '+' || p[0] == '-') && strspn(p + 1, "0123456789") >= 4) {
		int v = (p[1] - '0') * 1000 + (p[2] - '0') * 100 + (p[3] - '0') * 10 + (p[4] - '0');

		if (v / 100 > 23 || v % 100 > 59)
			return -1;
		off = (v / 100 * 3600 + v % 100 * 60) * (p[0] == '-' ? -1 : 1);
	} else {
		for (i = 0; i < MS_NELEM(zones); i++) {
			size_t zl = strlen(zones[i].name);

			if (ms_strncaseeq(p, zones[i].name, zl) &&
			    (p[zl] == '\0' || p[zl] == ' '))
				off = zones[i].hours * 3600;
		}
		/* Other zones (military letters, unknown names) count as
		 * "-0000": UTC, zone unknown (RFC 5322 4.3). */
	}
	/* Days since 1970-01-01 of the civil date (Howard Hinnant's
	 * algorithm), so no timegm and no TZ dependency. */
	y = year - (mon < 2);
	m = mon + 1;
	{
		int64_t era = (y >= 0 ? y : y - 399) / 400;
		int64_t yoe = y - era * 400;
		int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + day - 1;
		int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

		days = era * 146097 + doe - 719468;
	}
	*t_r = days * 86400 + hh * 3600 + mm * 60 + ss - off;
	*off_r = off;
	return 0;
}

/* The Date as Go writes a time.Time with the zone it was parsed with:
 * "2024-01-02T03:04:05+01:00", "Z" for offset 0. */
static void
json_date(struct buf *out, int64_t t, int off)
{
	time_t lt = (time_t)(t + off);
	struct tm tm;
	char b[64];

	if (gmtime_r(&lt, &tm) == NULL || strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		buf_puts(out, "null");
		return;
	}
	if (off == 0)
		buf_printf(out, "\"%sZ\"", b);
	else
		buf_printf(out, "\"%s%c%02d:%02d\"", b, off < 0 ? '-' : '+',
			abs(off) / 3600, abs(off) % 3600 / 60);
}

/* [{"Name":..,"Address":..}]: addresses in SMTP form (localpart quoted
 * when needed, Unicode domain); group markers and bare words skipped. */
static void
json_addrs(struct buf *out, const struct mail_hdr_addrs *l)
{
	size_t i;
	bool first = true;

	buf_putc(out, '[');
	for (i = 0; i < l->n; i++) {
		const struct mail_hdr_addr *h = &l->v[i];
		struct mail_addr a;
		struct buf addr;
		char *uni = NULL, *ascii = NULL;
		const char *error;

		if (h->domain == NULL || h->domain[0] == '\0')
			continue;
		buf_init(&addr);
		if (mail_domain_parse(h->domain, strlen(h->domain), true, &uni, &ascii,
			    &error) < 0)
			uni = NULL;
		memset(&a, 0, sizeof(a));
		a.localpart = h->localpart;
		a.domain = uni ? uni : h->domain;
		a.domain_ascii = ascii ? ascii : h->domain;
		mail_addr_format(&addr, &a, true);
		if (!first)
			buf_putc(out, ',');
		first = false;
		buf_putc(out, '{');
		kv_str(out, "Name", h->name);
		kv_str(out, "Address", addr.data);
		buf_putc(out, '}');
		buf_free(&addr);
		free(uni);
		free(ascii);
	}
	buf_putc(out, ']');
}

/* Message-IDs of a References (or In-Reply-To) value, each "<...>":
 * RFC 5322 3.6.4 msg-id = "<" id-left "@" id-right ">", comments and
 * whitespace between them ignored. */
static void
json_msgids(struct buf *out, const char *v)
{
	const char *p = v, *e;
	bool first = true;

	buf_putc(out, '[');
	while (p != NULL && (p = strchr(p, '<')) != NULL) {
		e = strchr(p, '>');
		if (e == NULL)
			break;
		if (e - p > 1 && memchr(p + 1, '<', (size_t)(e - p - 1)) == NULL) {
			struct buf id;
			size_t i;

			/* Folding whitespace inside an id is not part of it. */
			buf_init(&id);
			for (i = 0; p + i <= e; i++)
				if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
					buf_putc(&id, p[i]);
			if (!first)
				buf_putc(out, ',');
			first = false;
			json_str(out, id.data);
			buf_free(&id);
		}
		p = e + 1;
	}
	buf_putc(out, ']');
}

static const char *
param(const struct mime_param *v, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return v[i].value;
	return NULL;
}

static int
cmp_param(const void *a, const void *b)
{
	return strcmp(((const struct mime_param *)a)->name, ((const struct mime_param *)b)->name);
}

/* Size of the body decoded from its transfer encoding; for text parts a
 * bare LF counts as CRLF (the reference's DecodedSize). Multiparts: 0. */
static int64_t
decoded_size(const struct mime_part *p, const char *s, size_t n)
{
	struct buf dec;
	int64_t size;
	size_t i;

	if (p->nparts > 0 || strcmp(p->type, "multipart") == 0)
		return 0;
	buf_init(&dec);
	(void)mime_decode_body(p, s, n, &dec);
	size = (int64_t)dec.len;
	if (strcmp(p->type, "text") == 0)
		for (i = 0; i < dec.len; i++)
			if (dec.data[i] == '\n' && (i == 0 || dec.data[i - 1] != '\r'))
				size++;
	buf_free(&dec);
	return size;
}

/* The reference's webhook.Structure of a part, recursively over multipart
 * children (an attached message's inner parts are not listed). */
static void
json_structure(struct buf *out, const struct mime_part *p, const char *s, size_t n, int depth)
{
	struct mime_param *params;
	struct buf ct, fn;
	const char *filename;
	size_t i;

	buf_init(&ct);
	buf_init(&fn);
	buf_printf(&ct, "%s/%s", p->type, p->subtype);
	ms_str_lower(ct.data);
	buf_putc(out, '{');
	kv_str(out, "ContentType", ct.data);
	json_key(out, "ContentTypeParams");
	buf_putc(out, '{');
	params = xcalloc(p->nparams + 1, sizeof(*params));
	if (p->nparams > 0)
		memcpy(params, p->params, p->nparams * sizeof(*params));
	qsort(params, p->nparams, sizeof(*params), cmp_param);
	for (i = 0; i < p->nparams; i++) {
		/* A parameter given twice: the first (as Go's map would
		 * keep one). */
		if (i > 0 && strcmp(params[i].name, params[i - 1].name) == 0)
			continue;
		if (i > 0)
			buf_putc(out, ',');
		json_str(out, params[i].name);
		buf_putc(out, ':');
		json_str(out, params[i].value);
	}
	free(params);
	buf_putc(out, '}');
	kv_str(out, "ContentID", p->id);
	kv_str(out, "ContentDisposition", p->disposition);
	filename = param(p->disp_params, p->ndisp_params, "filename");
	if (filename == NULL || filename[0] == '\0')
		filename = param(p->params, p->nparams, "name");
	/* Many mailers RFC 2047-encode these values although RFC 2231 is
	 * the standard for parameters: decode what looks like that. */
	if (filename != NULL && (strncmp(filename, "=?", 2) == 0 ||
	    (strlen(filename) >= 2 && strcmp(filename + strlen(filename) - 2, "?=") == 0)))
		mail_header_decode_words(&fn, filename, strlen(filename));
	else if (filename != NULL)
		buf_puts(&fn, filename);
	kv_str(out, "Filename", fn.data);
	kv_i64(out, "DecodedSize", decoded_size(p, s, n));
	json_key(out, "Parts");
	buf_putc(out, '[');
	for (i = 0; i < p->nparts && depth < 64; i++) {
		if (i > 0)
			buf_putc(out, ',');
		json_structure(out, &p->parts[i], s, n, depth + 1);
	}
	buf_putc(out, ']');
	buf_putc(out, '}');
	buf_free(&ct);
	buf_free(&fn);
}

static bool
is_type(const struct mime_part *p, const char *type, const char *subtype)
{
	return strcmp(p->type, type) == 0 && strcmp(p->subtype, subtype) == 0;
}

/* The first text/plain and text/html parts, as the reference's
 * ReadableParts finds them: the part itself, else among the children
 * (all of a multipart/alternative, else the first readable child), else
 * recursively in the children. */
static bool
readable_parts(const struct mime_part *p, const struct mime_part **text,
	const struct mime_part **html, int depth)
{
	bool alt = is_type(p, "multipart", "alternative");
	size_t i;

	if (is_type(p, "text", "plain")) {
		*text = p;
		return true;
	}
	if (is_type(p, "text", "html")) {
		*html = p;
		return true;
	}
	for (i = 0; i < p->nparts; i++) {
		const struct mime_part *c = &p->parts[i];

		if (is_type(c, "text", "plain") || is_type(c, "text", "html")) {
			if (is_type(c, "text", "plain"))
				*text = c;
			else
				*html = c;
			if (!alt)
				break;
		}
	}
	if (*text != NULL || *html != NULL)
		return true;
	for (i = 0; i < p->nparts && depth < 32; i++)
		if (readable_parts(&p->parts[i], text, html, depth + 1))
			return true;
	return false;
}

/* Decoded text with CRLF made LF, cut at WEBHOOK_TEXT_MAX bytes on a
 * character boundary. */
static void
json_text(struct buf *out, const struct mime_part *p, const char *s, size_t n)
{
	struct buf t, lf;
	size_t i, cut;

	if (p == NULL) {
		json_str(out, "");
		return;
	}
	buf_init(&t);
	buf_init(&lf);
	mime_part_text(p, s, n, &t);
	cut = t.len < WEBHOOK_TEXT_MAX ? t.len : WEBHOOK_TEXT_MAX;
	while (cut > 0 && cut < t.len && ((unsigned char)t.data[cut] & 0xc0) == 0x80)
		cut--;
	for (i = 0; i < cut; i++) {
		if (t.data[i] == '\r' && i + 1 < cut && t.data[i + 1] == '\n')
			continue;
		buf_putc(&lf, t.data[i]);
	}
	json_str_n(out, lf.data, lf.len);
	buf_free(&t);
	buf_free(&lf);
}

/* Automated mail should get no automatic replies (the reference's
 * isAutomated): list or bulk headers, or Auto-Submitted other than "no"
 * (RFC 3834 5). */
static bool
header_automated(const char *h, size_t n)
{
	static const char *const names[] = { "List-Id", "List-Unsubscribe",
		"List-Unsubscribe-Post", "Precedence" };
	struct buf v;
	bool r = false;
	size_t i;

	buf_init(&v);
	for (i = 0; i < MS_NELEM(names) && !r; i++) {
		buf_reset(&v);
		r = mail_header_get(h, n, names[i], &v) && v.len > 0;
	}
	buf_reset(&v);
	if (!r && mail_header_get(h, n, "Auto-Submitted", &v) && v.len > 0 &&
	    !ms_strcaseeq(v.data, "no"))
		r = true;
	buf_free(&v);
	return r;
}

struct webhook_incoming *
webhook_incoming_new(const char *msg, size_t n, const struct webhook_incoming_meta *meta)
{
	struct webhook_incoming *wi = xcalloc(1, sizeof(*wi));
	struct mime_part *root = mime_parse(msg, n);
	const struct mime_envelope *env = root->envelope;
	const struct mime_part *text = NULL, *html = NULL;
	static const struct mail_hdr_addrs none = { NULL, 0 };
	struct buf *o = &wi->head, subj, refs;
	size_t hend = mime_header_end(msg, n), i;
	int64_t t;
	int off;

	buf_init(&wi->head);
	buf_init(&wi->dkim);
	buf_init(&subj);
	buf_init(&refs);
	if (env != NULL && env->subject != NULL)
		mail_header_decode_words(&subj, env->subject, strlen(env->subject));
	wi->subject = xstrdup(subj.data);
	{
		struct buf mid;

		buf_init(&mid);
		if (env != NULL && env->message_id != NULL)
			queue_utf8_sanitize(&mid, env->message_id);
		wi->message_id = buf_steal(&mid);
		buf_free(&mid);
	}
	buf_putc(o, '{');
	kv_i64(o, "Version", 0);
	json_key(o, "From");
	json_addrs(o, env ? &env->from : &none);
	json_key(o, "To");
	json_addrs(o, env ? &env->to : &none);
	json_key(o, "CC");
	json_addrs(o, env ? &env->cc : &none);
	json_key(o, "BCC");
	json_addrs(o, env ? &env->bcc : &none);
	json_key(o, "ReplyTo");
	json_addrs(o, env ? &env->reply_to : &none);
	kv_str(o, "Subject", wi->subject);
	kv_str(o, "MessageID", wi->message_id);
	kv_str(o, "InReplyTo", env && env->in_reply_to ? env->in_reply_to : "");
	json_key(o, "References");
	if (mail_header_get(msg, hend, "References", &refs))
		json_msgids(o, refs.data);
	else
		buf_puts(o, "[]");
	json_key(o, "Date");
	if (env != NULL && env->date != NULL && parse_date(env->date, &t, &off) == 0)
		json_date(o, t, off);
	else
		buf_puts(o, "null");
	(void)readable_parts(root, &text, &html, 0);
	json_key(o, "Text");
	json_text(o, text, msg, n);
	json_key(o, "HTML");
	json_text(o, html, msg, n);
	json_key(o, "Structure");
	json_structure(o, root, msg, n, 0);
	buf_putc(o, ',');

	wi->mailfrom = xstrdup(meta->mailfrom ? meta->mailfrom : "");
	wi->mailfrom_validated = meta->mailfrom_validated;
	wi->msgfrom_validated = meta->msgfrom_validated;
	buf_putc(&wi->dkim, '[');
	for (i = 0; i < meta->ndkim_domains; i++) {
		if (i > 0)
			buf_putc(&wi->dkim, ',');
		json_str(&wi->dkim, meta->dkim_domains[i]);
	}
	buf_putc(&wi->dkim, ']');
	wi->remote_ip = xstrdup(meta->remote_ip ? meta->remote_ip : "");
	wi->received = meta->received;
	wi->automated = wi->mailfrom[0] == '\0' || header_automated(msg, hend) ||
		is_type(root, "multipart", "report");
	mime_free(&root);
	buf_free(&subj);
	buf_free(&refs);
	return wi;
}

void
webhook_incoming_free(struct webhook_incoming **wip)
{
	struct webhook_incoming *wi = *wip;

	if (wi == NULL)
		return;
	buf_free(&wi->head);
	buf_free(&wi->dkim);
	free(wi->mailfrom);
	free(wi->remote_ip);
	free(wi->subject);
	free(wi->message_id);
	free(wi);
	*wip = NULL;
}

void
webhook_incoming_json(struct buf *out, const struct webhook_incoming *wi, int64_t msg_id,
	const char *rcpt_to, const char *mailbox)
{
	struct buf m;

	buf_append(out, wi->head.data, wi->head.len);
	buf_init(&m);
	buf_putc(&m, '{');
	kv_i64(&m, "MsgID", msg_id);
	kv_str(&m, "MailFrom", wi->mailfrom);
	kv_bool(&m, "MailFromValidated", wi->mailfrom_validated);
	kv_bool(&m, "MsgFromValidated", wi->msgfrom_validated);
	kv_str(&m, "RcptTo", rcpt_to);
	json_key(&m, "DKIMVerifiedDomains");
	buf_append(&m, wi->dkim.data, wi->dkim.len);
	kv_str(&m, "RemoteIP", wi->remote_ip);
	json_key(&m, "Received");
	json_time_us(&m, wi->received * 1000000);
	kv_str(&m, "MailboxName", mailbox);
	kv_bool(&m, "Automated", wi->automated);
	buf_putc(&m, '}');
	buf_puts(out, "\"Meta\":");
	buf_append(out, m.data, m.len);
	buf_putc(out, '}');
	buf_free(&m);
}

const char *
webhook_incoming_subject(const struct webhook_incoming *wi)
{
	return wi->subject;
}

const char *
webhook_incoming_message_id(const struct webhook_incoming *wi)
{
	return wi->message_id;
}

/* ---- incoming DSNs about our messages ---- */

/* The SMTP codes of a Diagnostic-Code "smtp; 550 5.1.1 text" value (the
 * part after "smtp;"): code, and the enhanced code without its class. */
static void
diag_codes(const char *v, int *code, char *secode, size_t secode_size)
{
	const char *p = v, *sp;

	while (*p == ' ' || *p == '\t')
		p++;
	if (!ms_startswith_ci(p, "smtp;"))
		return;
	p += 5;
	while (*p == ' ' || *p == '\t')
		p++;
	if (strspn(p, "0123456789") != 3 || p[3] != ' ' || p[0] < '2' || p[0] > '5')
		return;
	*code = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
	p += 4;
	if ((p[0] == '4' || p[0] == '5') && p[1] == '.') {
		sp = p + strcspn(p, " \t");
		if ((size_t)(sp - p - 2) < secode_size && sp - p > 2) {
			memcpy(secode, p + 2, (size_t)(sp - p - 2));
			secode[sp - p - 2] = '\0';
		}
	}
}

void
webhook_dsn_parse(const char *msg, size_t n, struct webhook_dsn *d)
{
	struct mime_part *root = mime_parse(msg, n);
	const struct mime_part *ds;
	struct buf body, group, v;
	size_t ngroups = 0;
	bool have_rcpt = false;

	memset(d, 0, sizeof(*d));
	/* RFC 3464 2: multipart/report with the delivery-status second (RFC
	 * 6533 3: message/global-delivery-status for SMTPUTF8). */
	if (!is_type(root, "multipart", "report") || root->nparts < 2 ||
	    (!is_type(&root->parts[1], "message", "delivery-status") &&
	     !is_type(&root->parts[1], "message", "global-delivery-status"))) {
		mime_free(&root);
		return;
	}
	d->is_dsn = true;
	ds = &root->parts[1];
	buf_init(&body);
	buf_init(&group);
	buf_init(&v);
	(void)mime_decode_body(ds, msg, n, &body);
	/* Groups of fields separated by empty lines: the per-message
	 * fields, then one group per recipient (RFC 3464 2.1). */
	{
		struct buf cur;
		size_t pos = 0;

		buf_init(&cur);
		for (;;) {
			size_t e = pos, l;
			bool end;

			while (e < body.len && body.data[e] != '\n')
				e++;
			end = e >= body.len;
			l = e - pos;
			if (l > 0 && body.data[e - 1] == '\r')
				l--;
			if (l > 0) {
				buf_append(&cur, body.data + pos, l);
				buf_puts(&cur, "\r\n");
			}
			if ((l == 0 || end) && cur.len > 0) {
				if (++ngroups == 2) {
					have_rcpt = true;
					buf_append(&group, cur.data, cur.len);
				}
				if (ngroups >= 2)
					d->nrcpts++;
				buf_reset(&cur);
			}
			if (end)
				break;
			pos = e + 1;
		}
		buf_free(&cur);
	}
	if (have_rcpt) {
		if (mail_header_get(group.data, group.len, "Action", &v)) {
			ms_str_lower(v.data);
			(void)ms_strlcpy(d->action, v.data, sizeof(d->action));
		}
		buf_reset(&v);
		if (mail_header_get(group.data, group.len, "Diagnostic-Code", &v))
			diag_codes(v.data, &d->code, d->secode, sizeof(d->secode));
		buf_reset(&v);
		if (d->code == 0 && mail_header_get(group.data, group.len, "Status", &v) &&
		    (v.data[0] == '4' || v.data[0] == '5') && v.data[1] == '.' &&
		    v.len - 2 < sizeof(d->secode)) {
			d->code = v.data[0] == '4' ? 400 : 500;
			(void)ms_strlcpy(d->secode, v.data + 2, sizeof(d->secode));
			d->secode[strcspn(d->secode, " \t(")] = '\0';
		}
	}
	buf_free(&body);
	buf_free(&group);
	buf_free(&v);
	mime_free(&root);
}

const char *
webhook_dsn_event(const struct webhook_dsn *d)
{
	static const char *const actions[] = { "failed", "delayed", "delivered", "relayed",
		"expanded" };
	size_t i;

	if (!d->is_dsn || d->nrcpts != 1)
		return WEBHOOK_EVENT_UNRECOGNIZED;
	for (i = 0; i < MS_NELEM(actions); i++)
		if (strcmp(d->action, actions[i]) == 0)
			return actions[i];
	return WEBHOOK_EVENT_UNRECOGNIZED;
}
