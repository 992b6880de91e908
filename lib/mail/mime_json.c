/* MIME tree <-> compact JSON (json-c), stored per message in PostgreSQL
 * jsonb. The reader treats its input as hostile: every type, limit and
 * tree invariant is checked, so later users can trust the result as much
 * as a fresh mime_parse() tree.
 *
 * Part:     {"h":header_start,"b":body_start,"e":end,"l":body_lines,
 *            "t":type,"s":subtype,"p":[[name,value],...],"i":id,
 *            "d":description,"c":encoding,"D":disposition,"P":[[n,v],...],
 *            "g":language,"o":location,"m":md5,"k":[part,...],
 *            "M":part (message/rfc822 inner message),"E":envelope}
 * Envelope: {"d":date,"s":subject,"f":from,"se":sender,"r":reply_to,
 *            "t":to,"c":cc,"b":bcc,"i":in_reply_to,"m":message_id}
 * Address:  [name,localpart,domain] or [name,localpart,domain,group]
 * Absent (NULL) strings and empty lists are omitted. */
#include "config.h"

#include <json-c/json.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "mail/mail-private.h"
#include "mail/mime.h"

#define JSON_MAX_NESTING 256 /* > 2 levels per MIME level + envelope */
#define JSON_MAX_PARAMS 1000
#define JSON_MAX_ADDRS 10000

/* ---- writing ---- */

static json_object *
jstr(const char *s)
{
	size_t n = strlen(s);
	json_object *o;

	/* jsonb refuses invalid UTF-8; parsed trees are clean already, hand
	 * built ones might not be. */
	if (mail_utf8_valid(s, n))
		return json_object_new_string_len(s, (int)n);
	{
		char *c = mail_utf8_strndup(s, n);

		o = json_object_new_string(c);
		free(c);
	}
	return o;
}

static void
put_str(json_object *o, const char *key, const char *s)
{
	if (s != NULL)
		json_object_object_add(o, key, jstr(s));
}

static void
put_u64(json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(
	        o, key, json_object_new_int64(v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v));
}

static void
put_params(json_object *o, const char *key, const struct mime_param *v, size_t n)
{
	json_object *a;
	size_t i;

	if (n == 0)
		return;
	a = json_object_new_array();
	for (i = 0; i < n; i++) {
		json_object *pair = json_object_new_array();

		json_object_array_add(pair, jstr(v[i].name ? v[i].name : ""));
		json_object_array_add(pair, jstr(v[i].value ? v[i].value : ""));
		json_object_array_add(a, pair);
	}
	json_object_object_add(o, key, a);
}

static void
put_addrs(json_object *o, const char *key, const struct mail_hdr_addrs *l)
{
	json_object *a;
	size_t i;

	if (l->n == 0)
		return;
	a = json_object_new_array();
	for (i = 0; i < l->n; i++) {
		const struct mail_hdr_addr *x = &l->v[i];
		json_object *e = json_object_new_array();

		json_object_array_add(e, jstr(x->name ? x->name : ""));
		json_object_array_add(e, jstr(x->localpart ? x->localpart : ""));
		json_object_array_add(e, jstr(x->domain ? x->domain : ""));
		if (x->group != NULL)
			json_object_array_add(e, jstr(x->group));
		json_object_array_add(a, e);
	}
	json_object_object_add(o, key, a);
}

static json_object *
envelope_to_json(const struct mime_envelope *e)
{
	json_object *o = json_object_new_object();

	put_str(o, "d", e->date);
	put_str(o, "s", e->subject);
	put_addrs(o, "f", &e->from);
	put_addrs(o, "se", &e->sender);
	put_addrs(o, "r", &e->reply_to);
	put_addrs(o, "t", &e->to);
	put_addrs(o, "c", &e->cc);
	put_addrs(o, "b", &e->bcc);
	put_str(o, "i", e->in_reply_to);
	put_str(o, "m", e->message_id);
	return o;
}

static json_object *
part_to_json(const struct mime_part *p)
{
	json_object *o = json_object_new_object();
	size_t i;

	put_u64(o, "h", p->header_start);
	put_u64(o, "b", p->body_start);
	put_u64(o, "e", p->end);
	put_u64(o, "l", p->body_lines);
	put_str(o, "t", p->type ? p->type : "text");
	put_str(o, "s", p->subtype ? p->subtype : "plain");
	put_params(o, "p", p->params, p->nparams);
	put_str(o, "i", p->id);
	put_str(o, "d", p->description);
	put_str(o, "c", p->encoding);
	put_str(o, "D", p->disposition);
	put_params(o, "P", p->disp_params, p->ndisp_params);
	put_str(o, "g", p->language);
	put_str(o, "o", p->location);
	put_str(o, "m", p->md5);
	if (p->nparts > 0) {
		json_object *a = json_object_new_array();

		for (i = 0; i < p->nparts; i++)
			json_object_array_add(a, part_to_json(&p->parts[i]));
		json_object_object_add(o, "k", a);
	}
	if (p->message != NULL)
		json_object_object_add(o, "M", part_to_json(p->message));
	if (p->envelope != NULL)
		json_object_object_add(o, "E", envelope_to_json(p->envelope));
	return o;
}

void
mime_to_json(const struct mime_part *p, struct buf *out)
{
	json_object *o = part_to_json(p);

	buf_puts(out, json_object_to_json_string_ext(
	                      o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

/* ---- reading ---- */

struct rd {
	size_t nparts;
};

/* A string member: absent is fine (NULL), anything but a valid UTF-8
 * string without NUL is an error. */
static int
get_str(json_object *o, const char *key, char **out)
{
	json_object *v;
	const char *s;
	int len;

	*out = NULL;
	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return -1;
	s = json_object_get_string(v);
	len = json_object_get_string_len(v);
	if (s == NULL || len < 0 || !mail_utf8_valid(s, (size_t)len))
		return -1;
	*out = xstrndup(s, (size_t)len);
	return 0;
}

static int
str_of(json_object *v, char **out)
{
	const char *s;
	int len;

	if (!json_object_is_type(v, json_type_string))
		return -1;
	s = json_object_get_string(v);
	len = json_object_get_string_len(v);
	if (s == NULL || len < 0 || !mail_utf8_valid(s, (size_t)len))
		return -1;
	*out = xstrndup(s, (size_t)len);
	return 0;
}

static int
get_u64(json_object *o, const char *key, uint64_t *out)
{
	json_object *v;
	int64_t x;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return -1;
	x = json_object_get_int64(v);
	if (x < 0)
		return -1;
	*out = (uint64_t)x;
	return 0;
}

static int
get_params(json_object *o, const char *key, struct mime_param **v_r, size_t *n_r)
{
	json_object *a;
	size_t n, i;
	struct mime_param *v;

	*v_r = NULL;
	*n_r = 0;
	if (!json_object_object_get_ex(o, key, &a))
		return 0;
	if (!json_object_is_type(a, json_type_array))
		return -1;
	n = json_object_array_length(a);
	if (n == 0)
		return 0;
	if (n > JSON_MAX_PARAMS)
		return -1;
	v = xcalloc(n, sizeof(*v));
	*v_r = v;
	for (i = 0; i < n; i++) {
		json_object *pair = json_object_array_get_idx(a, i);

		if (!json_object_is_type(pair, json_type_array) ||
		        json_object_array_length(pair) != 2)
			return -1;
		if (str_of(json_object_array_get_idx(pair, 0), &v[i].name) < 0 ||
		        str_of(json_object_array_get_idx(pair, 1), &v[i].value) < 0) {
			*n_r = i + 1;
			return -1;
		}
		*n_r = i + 1;
	}
	return 0;
}

static int
get_addrs(json_object *o, const char *key, struct mail_hdr_addrs *l)
{
	json_object *a;
	size_t n, i;

	memset(l, 0, sizeof(*l));
	if (!json_object_object_get_ex(o, key, &a))
		return 0;
	if (!json_object_is_type(a, json_type_array))
		return -1;
	n = json_object_array_length(a);
	if (n == 0)
		return 0;
	if (n > JSON_MAX_ADDRS)
		return -1;
	l->v = xcalloc(n, sizeof(*l->v));
	for (i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(a, i);
		struct mail_hdr_addr *x = &l->v[i];
		size_t len;

		l->n = i + 1; /* so that a failure frees what was set */
		if (!json_object_is_type(e, json_type_array))
			return -1;
		len = json_object_array_length(e);
		if (len != 3 && len != 4)
			return -1;
		if (str_of(json_object_array_get_idx(e, 0), &x->name) < 0 ||
		        str_of(json_object_array_get_idx(e, 1), &x->localpart) < 0 ||
		        str_of(json_object_array_get_idx(e, 2), &x->domain) < 0 ||
		        (len == 4 && str_of(json_object_array_get_idx(e, 3), &x->group) < 0))
			return -1;
	}
	return 0;
}

static int
envelope_from_json(json_object *o, struct mime_envelope *e)
{
	if (!json_object_is_type(o, json_type_object))
		return -1;
	if (get_str(o, "d", &e->date) < 0 || get_str(o, "s", &e->subject) < 0 ||
	        get_addrs(o, "f", &e->from) < 0 || get_addrs(o, "se", &e->sender) < 0 ||
	        get_addrs(o, "r", &e->reply_to) < 0 || get_addrs(o, "t", &e->to) < 0 ||
	        get_addrs(o, "c", &e->cc) < 0 || get_addrs(o, "b", &e->bcc) < 0 ||
	        get_str(o, "i", &e->in_reply_to) < 0 || get_str(o, "m", &e->message_id) < 0)
		return -1;
	return 0;
}

static bool
is_message_type(const struct mime_part *p)
{
	return strcmp(p->type, "message") == 0 &&
	       (strcmp(p->subtype, "rfc822") == 0 || strcmp(p->subtype, "global") == 0);
}

/* Fill p from o. On error p may be partly filled; the caller frees it. */
static int
part_from_json(json_object *o, struct mime_part *p, int depth, struct rd *rd)
{
	json_object *k, *m, *e;

	if (depth > MIME_MAX_DEPTH + 1 || ++rd->nparts > MIME_MAX_PARTS)
		return -1;
	if (!json_object_is_type(o, json_type_object))
		return -1;
	if (get_u64(o, "h", &p->header_start) < 0 || get_u64(o, "b", &p->body_start) < 0 ||
	        get_u64(o, "e", &p->end) < 0 || get_u64(o, "l", &p->body_lines) < 0)
		return -1;
	/* Offsets beyond the file are caught by users against the real size;
	 * their order is checked here, so lengths never underflow. */
	if (p->header_start > p->body_start || p->body_start > p->end)
		return -1;
	if (get_str(o, "t", &p->type) < 0 || get_str(o, "s", &p->subtype) < 0 || p->type == NULL ||
	        p->subtype == NULL || p->type[0] == '\0' || p->subtype[0] == '\0')
		return -1;
	if (get_params(o, "p", &p->params, &p->nparams) < 0 || get_str(o, "i", &p->id) < 0 ||
	        get_str(o, "d", &p->description) < 0 || get_str(o, "c", &p->encoding) < 0 ||
	        get_str(o, "D", &p->disposition) < 0 ||
	        get_params(o, "P", &p->disp_params, &p->ndisp_params) < 0 ||
	        get_str(o, "g", &p->language) < 0 || get_str(o, "o", &p->location) < 0 ||
	        get_str(o, "m", &p->md5) < 0)
		return -1;

	/* Tree invariants the parser guarantees: multipart parts have
	 * children and only they do; message/rfc822 and message/global parts
	 * have the inner message and only they do. */
	if (json_object_object_get_ex(o, "k", &k)) {
		size_t n, i;

		if (strcmp(p->type, "multipart") != 0 || !json_object_is_type(k, json_type_array))
			return -1;
		n = json_object_array_length(k);
		if (n == 0 || n > MIME_MAX_PARTS)
			return -1;
		p->parts = xcalloc(n, sizeof(*p->parts));
		p->nparts = n;
		for (i = 0; i < n; i++)
			if (part_from_json(json_object_array_get_idx(k, i), &p->parts[i], depth + 1,
			            rd) < 0)
				return -1;
	} else if (strcmp(p->type, "multipart") == 0) {
		return -1;
	}
	if (json_object_object_get_ex(o, "M", &m)) {
		if (!is_message_type(p))
			return -1;
		p->message = xcalloc(1, sizeof(*p->message));
		if (part_from_json(m, p->message, depth + 1, rd) < 0)
			return -1;
	} else if (is_message_type(p)) {
		return -1;
	}
	if (json_object_object_get_ex(o, "E", &e)) {
		p->envelope = xcalloc(1, sizeof(*p->envelope));
		if (envelope_from_json(e, p->envelope) < 0)
			return -1;
	}
	return 0;
}

struct mime_part *
mime_from_json(const char *json, size_t n)
{
	struct json_tokener *tok;
	json_object *o;
	struct mime_part *p = NULL;
	struct rd rd = {0};
	size_t end;

	if (json == NULL || n == 0 || n > INT_MAX)
		return NULL;
	tok = json_tokener_new_ex(JSON_MAX_NESTING);
	if (tok == NULL)
		return NULL;
	o = json_tokener_parse_ex(tok, json, (int)n);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(o);
		json_tokener_free(tok);
		return NULL;
	}
	/* Nothing but whitespace may follow the value. */
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	for (; end < n; end++) {
		if (json[end] != ' ' && json[end] != '\t' && json[end] != '\r' &&
		        json[end] != '\n') {
			json_object_put(o);
			return NULL;
		}
	}
	p = xcalloc(1, sizeof(*p));
	if (part_from_json(o, p, 0, &rd) < 0)
		mime_free(&p);
	json_object_put(o);
	return p;
}
