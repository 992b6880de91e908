/* FETCH (RFC 9051 6.4.5, 7.5.2): fetch attribute parsing,
 * body sections with byte offsets from the stored MIME structure, BINARY
 * sections decoded from their transfer encoding (RFC 3516), ENVELOPE and
 * BODYSTRUCTURE, SAVEDATE (RFC 8514), PREVIEW (RFC 8970) and implicit
 * \Seen. STORE is in imap_cmd_store.c.
 *
 * The message IMAP shows is msg_prefix (header lines added at delivery,
 * stored in the database) followed by the file. The MIME offsets are
 * relative to the file, so every offset is shifted by prefix_len, and the
 * top-level header section runs from 0 (the prefix) to the file's body. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "mail/mime.h"
#include "imap_session.h"

#define FETCH_BATCH 200
/* Batches of requests answered from the row columns alone (rows_only). */
#define FETCH_ROWS_BATCH 2000
#define MAX_SECTION_PARTS 32
/* RFC 8970 section 3.1: a preview is at most 256 characters; like the
 * reference we give at most 200, what clients show next to a subject. */
#define PREVIEW_MAX_CHARS 200
/* Characters computed for a preview that is saved: as delivery does. */
#define PREVIEW_STORE_CHARS 256

enum fetch_kind {
	F_UID,
	F_FLAGS,
	F_INTERNALDATE,
	F_SIZE,
	F_ENVELOPE,
	F_BODYSTRUCTURE,
	F_BODY,			/* non-extensible BODYSTRUCTURE */
	F_SECTION,		/* BODY[...], BODY.PEEK[...], RFC822, RFC822.* */
	F_MODSEQ,		/* RFC 7162 3.1.4.1 */
	F_BINARY,		/* BINARY[...], BINARY.PEEK[...] (RFC 3516) */
	F_BINARY_SIZE,		/* BINARY.SIZE[...] */
	F_SAVEDATE,		/* RFC 8514 */
	F_PREVIEW,		/* RFC 8970 */
};

enum sect_text {
	ST_ALL,			/* BODY[] or BODY[1.2] */
	ST_HEADER,
	ST_FIELDS,
	ST_FIELDS_NOT,
	ST_TEXT,
	ST_MIME,
};

struct fetch_item {
	enum fetch_kind kind;
	uint32_t part[MAX_SECTION_PARTS];
	size_t npart;
	enum sect_text text;
	const char **fields;	/* into the parser's arena */
	size_t nfields;
	bool peek;
	bool partial;
	uint64_t pstart, plen;
	char *label;		/* "BODY[HEADER]", "RFC822.TEXT" */
};

struct fetch_req {
	struct fetch_item *items;
	size_t n;
	bool need_parsed, need_bytes, sets_seen, has_flags, has_uid, has_modseq;
	bool has_binary;
	bool has_preview;
	/* Nothing but row columns and top-level header sections: only the
	 * header of each file is read, no structure parsed (note_header_only). */
	bool header_only;
	/* Nothing but UID, FLAGS, INTERNALDATE, RFC822.SIZE, MODSEQ and
	 * SAVEDATE: the narrow columns of store_msgs_scan suffice. */
	bool rows_only;
	/* Nothing but UID, FLAGS and MODSEQ: the view's state answers
	 * (imap_view_state.c). */
	bool state_only;
	int64_t changedsince;	/* -1: no CHANGEDSINCE modifier */
	bool vanished;		/* VANISHED modifier (RFC 7162 3.2.6) */
};

static void
req_free(struct fetch_req *r)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		free(r->items[i].label);
		free(r->items[i].fields);
	}
	free(r->items);
	memset(r, 0, sizeof(*r));
}

static struct fetch_item *
add_item(struct fetch_req *r, enum fetch_kind kind)
{
	struct fetch_item *it;

	r->items = xrealloc(r->items, (r->n + 1) * sizeof(*r->items));
	it = &r->items[r->n++];
	memset(it, 0, sizeof(*it));
	it->kind = kind;
	if (kind == F_FLAGS)
		r->has_flags = true;
	if (kind == F_UID)
		r->has_uid = true;
	if (kind == F_MODSEQ)
		r->has_modseq = true;
	if (kind == F_PREVIEW)
		r->has_preview = true;
	if (kind == F_ENVELOPE || kind == F_BODY || kind == F_BODYSTRUCTURE)
		r->need_parsed = true;
	return it;
}

/*
 *   section         = "[" [section-spec] "]"
 *   section-spec    = section-msgtext / (section-part ["." section-text])
 *   section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list /
 *                     "TEXT"
 *   section-part    = nz-number *("." nz-number)
 *   section-text    = section-msgtext / "MIME"
 * spec is the text between "[" and "]" (or up to the header-list).
 */
static int
parse_section_spec(struct fetch_item *it, const char *spec, size_t n)
{
	size_t i = 0;

	it->text = ST_ALL;
	while (i < n && spec[i] >= '0' && spec[i] <= '9') {
		uint64_t v = 0;
		size_t start = i;

		while (i < n && spec[i] >= '0' && spec[i] <= '9') {
			v = v * 10 + (uint64_t)(spec[i] - '0');
			if (v > UINT32_MAX)
				return -1;
			i++;
		}
		if (spec[start] == '0' || it->npart == MAX_SECTION_PARTS)
			return -1;
		it->part[it->npart++] = (uint32_t)v;
		if (i == n)
			return 0;
		if (spec[i] != '.')
			return -1;
		i++;
		if (i == n)
			return -1;
	}
	spec += i;
	n -= i;
	if (n == 0)
		return 0;
	if (n == 6 && ms_strncaseeq(spec, "HEADER", 6))
		it->text = ST_HEADER;
	else if (n == 4 && ms_strncaseeq(spec, "TEXT", 4))
		it->text = ST_TEXT;
	else if (n == 4 && ms_strncaseeq(spec, "MIME", 4) && it->npart > 0)
		it->text = ST_MIME;
	else if (n == 13 && ms_strncaseeq(spec, "HEADER.FIELDS", 13))
		it->text = ST_FIELDS;
	else if (n == 17 && ms_strncaseeq(spec, "HEADER.FIELDS.NOT", 17))
		it->text = ST_FIELDS_NOT;
	else
		return -1;
	return 0;
}

/* partial = "<" number64 "." nz-number64 ">" */
static int
parse_partial(struct fetch_item *it, const char *s)
{
	const char *dot, *end;

	if (*s == '\0')
		return 0;
	dot = strchr(s, '.');
	end = strchr(s, '>');
	if (s[0] != '<' || dot == NULL || end == NULL || end[1] != '\0' || dot > end ||
	    ms_parse_u64n(s + 1, (size_t)(dot - s - 1), 0, INT64_MAX, &it->pstart) < 0 ||
	    ms_parse_u64n(dot + 1, (size_t)(end - dot - 1), 1, INT64_MAX, &it->plen) < 0)
		return -1;
	it->partial = true;
	return 0;
}

static bool
valid_field_name(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f || s[i] == ':')
			return false;
	return true;
}

/* One fetch-att starting at args[*i]; BODY[HEADER.FIELDS (..)] spans three
 * arguments. Returns 0 or -1 with *error_r. */
static int
parse_att(struct imap_session *s, struct fetch_req *r, const struct imap_arg *args,
	size_t n, size_t *i, const char **error_r)
{
	const char *att, *rest, *close, *after;
	struct fetch_item *it;
	struct buf label;

	(void)s;
	if (!imap_arg_atom(&args[*i], &att)) {
		*error_r = "Invalid fetch attribute";
		return -1;
	}
	(*i)++;
	if (ms_strcaseeq(att, "UID")) {
		add_item(r, F_UID);
	} else if (ms_strcaseeq(att, "FLAGS")) {
		add_item(r, F_FLAGS);
	} else if (ms_strcaseeq(att, "MODSEQ")) {
		if (!r->has_modseq)
			add_item(r, F_MODSEQ);
	} else if (ms_strcaseeq(att, "INTERNALDATE")) {
		add_item(r, F_INTERNALDATE);
	} else if (ms_strcaseeq(att, "SAVEDATE")) {
		/* RFC 8514 section 4.1: fetch-att =/ "SAVEDATE" */
		add_item(r, F_SAVEDATE);
	} else if (ms_strcaseeq(att, "PREVIEW")) {
		/* RFC 8970 section 6: fetch-att =/ "PREVIEW"
		 *   [SP "(" preview-mod *(SP preview-mod) ")"]
		 *   preview-mod = "LAZY"
		 * LAZY lets us answer NIL for a preview not at hand; like
		 * the reference we always have one (computed if needed). */
		const struct imap_arg *mods;
		size_t nmods, k;

		if (*i < n && imap_arg_list(&args[*i], &mods, &nmods)) {
			if (nmods == 0) {
				*error_r = "Empty PREVIEW modifier list";
				return -1;
			}
			for (k = 0; k < nmods; k++) {
				if (!imap_arg_atom_eq(&mods[k], "LAZY")) {
					*error_r = "Unknown PREVIEW modifier";
					return -1;
				}
			}
			(*i)++;
		}
		if (!r->has_preview)
			add_item(r, F_PREVIEW);
	} else if (ms_strcaseeq(att, "RFC822.SIZE")) {
		add_item(r, F_SIZE);
	} else if (ms_strcaseeq(att, "ENVELOPE")) {
		add_item(r, F_ENVELOPE);
	} else if (ms_strcaseeq(att, "BODYSTRUCTURE")) {
		add_item(r, F_BODYSTRUCTURE);
	} else if (ms_strcaseeq(att, "BODY")) {
		add_item(r, F_BODY);
	} else if (ms_strcaseeq(att, "RFC822") || ms_strcaseeq(att, "RFC822.HEADER") ||
		   ms_strcaseeq(att, "RFC822.TEXT")) {
		/* RFC 3501 6.4.5: RFC822 = BODY[], RFC822.HEADER =
		 * BODY.PEEK[HEADER], RFC822.TEXT = BODY[TEXT], each answered
		 * under its own name. */
		it = add_item(r, F_SECTION);
		it->text = att[6] == '\0' ? ST_ALL : ms_strcaseeq(att + 7, "HEADER") ?
			ST_HEADER : ST_TEXT;
		it->peek = it->text == ST_HEADER;
		it->label = xstrdup(att[6] == '\0' ? "RFC822" : it->text == ST_HEADER ?
			"RFC822.HEADER" : "RFC822.TEXT");
		r->need_bytes = true;
		r->need_parsed = r->need_parsed || it->text != ST_ALL;
		r->sets_seen = r->sets_seen || !it->peek;
	} else if (ms_startswith_ci(att, "BINARY[") || ms_startswith_ci(att, "BINARY.PEEK[") ||
		   ms_startswith_ci(att, "BINARY.SIZE[")) {
		/* RFC 3516 section 4.2 / RFC 9051 section 9:
		 *   fetch-att =/ "BINARY" [".PEEK"] section-binary [partial] /
		 *                "BINARY.SIZE" section-binary
		 *   section-binary = "[" [section-part] "]"
		 * Answered as BINARY[part] (no origin octet with a partial,
		 * RFC 9051 msg-att-static) and BINARY.SIZE[part]. */
		bool size = ms_startswith_ci(att, "BINARY.SIZE[");

		it = add_item(r, size ? F_BINARY_SIZE : F_BINARY);
		it->peek = size || ms_startswith_ci(att, "BINARY.PEEK[");
		rest = strchr(att, '[') + 1;
		close = strchr(rest, ']');
		if (close == NULL || parse_section_spec(it, rest, (size_t)(close - rest)) < 0 ||
		    it->text != ST_ALL) {
			*error_r = "Invalid binary section";
			return -1;
		}
		if ((size && close[1] != '\0') || parse_partial(it, close + 1) < 0) {
			*error_r = "Invalid partial range";
			return -1;
		}
		buf_init(&label);
		buf_puts(&label, size ? "BINARY.SIZE[" : "BINARY[");
		buf_append(&label, rest, (size_t)(close - rest));
		buf_putc(&label, ']');
		it->label = buf_steal(&label);
		buf_free(&label);
		r->need_bytes = true;
		r->need_parsed = true;
		r->has_binary = true;
		r->sets_seen = r->sets_seen || !it->peek;
	} else if (ms_startswith_ci(att, "BODY[") || ms_startswith_ci(att, "BODY.PEEK[")) {
		it = add_item(r, F_SECTION);
		it->peek = ms_startswith_ci(att, "BODY.PEEK[");
		rest = strchr(att, '[') + 1;
		close = strchr(rest, ']');
		if (close != NULL) {
			after = close + 1;
		} else {
			/* "BODY[HEADER.FIELDS" (header-list) "]..." */
			const struct imap_arg *list;
			size_t nl, k;

			if (*i + 1 >= n || !imap_arg_list(&args[*i], &list, &nl) ||
			    nl == 0 || !imap_arg_atom(&args[*i + 1], &after) ||
			    after[0] != ']') {
				*error_r = "Invalid body section";
				return -1;
			}
			close = rest + strlen(rest);
			it->fields = xcalloc(nl, sizeof(*it->fields));
			for (k = 0; k < nl; k++) {
				size_t fl;

				if (!imap_arg_astring(&list[k], &it->fields[k], &fl) ||
				    !valid_field_name(it->fields[k], fl)) {
					*error_r = "Invalid header field name";
					return -1;
				}
			}
			it->nfields = nl;
			after++;
			*i += 2;
		}
		if (parse_section_spec(it, rest, (size_t)(close - rest)) < 0 ||
		    ((it->text == ST_FIELDS || it->text == ST_FIELDS_NOT) != (it->nfields > 0))) {
			*error_r = "Invalid body section";
			return -1;
		}
		if (parse_partial(it, after) < 0) {
			*error_r = "Invalid partial range";
			return -1;
		}
		/* The label is the section as the client wrote it (upper
		 * case), which the response must repeat. */
		buf_init(&label);
		buf_puts(&label, "BODY[");
		buf_append(&label, rest, (size_t)(close - rest));
		if (it->nfields > 0) {
			size_t k;

			buf_puts(&label, " (");
			for (k = 0; k < it->nfields; k++) {
				if (k > 0)
					buf_putc(&label, ' ');
				imap_buf_astring(s, &label, it->fields[k]);
			}
			buf_putc(&label, ')');
		}
		buf_putc(&label, ']');
		{
			size_t k;

			for (k = 5; k < label.len && label.data[k] != ' '; k++)
				label.data[k] = ms_toupper(label.data[k]);
		}
		it->label = buf_steal(&label);
		buf_free(&label);
		r->need_bytes = true;
		if (it->npart > 0 || it->text != ST_ALL)
			r->need_parsed = true;
		r->sets_seen = r->sets_seen || !it->peek;
	} else {
		*error_r = "Unknown fetch attribute";
		return -1;
	}
	return 0;
}

/*
 *   fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" /
 *           fetch-att / "(" fetch-att *(SP fetch-att) ")")
 */
static int
parse_fetch_atts(struct imap_session *s, struct fetch_req *r,
	const struct imap_arg *args, size_t nargs, const char **error_r)
{
	const struct imap_arg *list;
	size_t n, i = 0;

	if (nargs == 1 && imap_arg_atom_eq(&args[0], "ALL")) {
		add_item(r, F_FLAGS);
		add_item(r, F_INTERNALDATE);
		add_item(r, F_SIZE);
		add_item(r, F_ENVELOPE);
		return 0;
	}
	if (nargs == 1 && imap_arg_atom_eq(&args[0], "FAST")) {
		add_item(r, F_FLAGS);
		add_item(r, F_INTERNALDATE);
		add_item(r, F_SIZE);
		return 0;
	}
	if (nargs == 1 && imap_arg_atom_eq(&args[0], "FULL")) {
		add_item(r, F_FLAGS);
		add_item(r, F_INTERNALDATE);
		add_item(r, F_SIZE);
		add_item(r, F_ENVELOPE);
		add_item(r, F_BODY);
		return 0;
	}
	if (nargs == 1 && imap_arg_list(&args[0], &list, &n)) {
		if (n == 0) {
			*error_r = "Empty fetch attribute list";
			return -1;
		}
		while (i < n)
			if (parse_att(s, r, list, n, &i, error_r) < 0)
				return -1;
		return 0;
	}
	/* A single attribute; BODY[HEADER.FIELDS (..)] is three arguments. */
	if (nargs == 0 || parse_att(s, r, args, nargs, &i, error_r) < 0)
		return nargs == 0 ? (*error_r = "Missing fetch attributes", -1) : -1;
	if (i != nargs) {
		*error_r = "Fetch modifiers are not supported";
		return -1;
	}
	return 0;
}

/* ---- body sections ---- */

static bool
field_listed(const struct fetch_item *it, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < it->nfields; i++)
		if (strlen(it->fields[i]) == len && ms_strncaseeq(it->fields[i], name, len))
			return true;
	return false;
}

/* HEADER.FIELDS [.NOT]: the matching fields, raw with their folding, and
 * the blank line ("Subsetting does not exclude the [RFC-5322] delimiting
 * blank line between the header and the body"). */
static void
filter_header(const struct fetch_item *it, const char *h, size_t n, struct buf *out)
{
	size_t i = 0;
	bool keep = false;

	while (i < n) {
		const char *nl = memchr(h + i, '\n', n - i);
		size_t end = nl ? (size_t)(nl - h) + 1 : n;
		size_t len = end - i;

		if (len <= 2 && (h[i] == '\r' || h[i] == '\n')) {
			buf_append(out, h + i, len);	/* the blank line */
			break;
		}
		if (h[i] != ' ' && h[i] != '\t') {
			const char *colon = memchr(h + i, ':', len);
			size_t nl_len = colon ? (size_t)(colon - (h + i)) : len;

			while (nl_len > 0 && (h[i + nl_len - 1] == ' ' || h[i + nl_len - 1] == '\t'))
				nl_len--;
			keep = colon != NULL &&
				field_listed(it, h + i, nl_len) == (it->text == ST_FIELDS);
		}
		if (keep)
			buf_append(out, h + i, len);
		i = end;
	}
}

/* The bytes of one section of msg[0..len) (prefix included). Returns false
 * when the section does not exist (answered NIL). */
static bool
section_bytes(const struct fetch_item *it, const struct mime_part *root,
	const char *msg, size_t len, size_t prefix, struct buf *tmp,
	const char **data_r, size_t *n_r)
{
	const struct mime_part *p = root, *m;
	uint64_t a, b;

#define CLAMP(x) ((x) > len ? len : (size_t)(x))
	if (it->npart == 0 && it->text == ST_ALL) {
		*data_r = msg;
		*n_r = len;
		return true;
	}
	if (root == NULL)
		return false;
	if (it->npart > 0) {
		p = mime_find_section(root, it->part, it->npart);
		if (p == NULL)
			return false;
	}
	switch (it->text) {
	case ST_ALL:
		a = prefix + p->body_start;
		b = prefix + p->end;
		break;
	case ST_MIME:
		a = p == root ? 0 : prefix + p->header_start;
		b = prefix + p->body_start;
		break;
	default:
		/* HEADER/TEXT of the message itself or of a message/rfc822
		 * part's encapsulated message */
		if (it->npart == 0)
			m = root;
		else if (p != root && p->message != NULL)
			m = p->message;
		else
			return false;
		if (it->text == ST_TEXT) {
			a = prefix + m->body_start;
			b = prefix + m->end;
		} else {
			a = m == root ? 0 : prefix + m->header_start;
			b = prefix + m->body_start;
		}
		break;
	}
	a = CLAMP(a);
	b = CLAMP(b);
	if (b < a)
		b = a;
	if (it->text == ST_FIELDS || it->text == ST_FIELDS_NOT) {
		buf_reset(tmp);
		filter_header(it, msg + a, (size_t)(b - a), tmp);
		*data_r = tmp->data;
		*n_r = tmp->len;
		return true;
	}
	*data_r = msg + a;
	*n_r = (size_t)(b - a);
	return true;
#undef CLAMP
}

/* BINARY results other than data. */
enum {
	BIN_OK = 0,
	BIN_NIL = 1,		/* no such part */
	BIN_UNKNOWN_CTE = -1,	/* RFC 3516 4.2: NO [UNKNOWN-CTE] */
	BIN_NOT_LEAF = -2,	/* multipart or message/rfc822 */
};

/*
 * The part a BINARY item refers to (root for the whole message), and
 * whether it can be answered; the structure is enough for that, so it is
 * known before any data is sent. With part numbers it must be a leaf
 * (RFC 3516 section 4.2 decodes a part's body; multipart and message parts
 * have none of their own: an error, as in the reference).
 */
static int
binary_part(const struct fetch_item *it, const struct mime_part *root,
	const struct mime_part **p_r)
{
	const struct mime_part *p = root;
	struct buf none;
	int r;

	if (root == NULL)
		return BIN_NIL;
	if (it->npart > 0) {
		p = mime_find_section(root, it->part, it->npart);
		if (p == NULL)
			return BIN_NIL;
		if (p->nparts > 0 || p->message != NULL)
			return BIN_NOT_LEAF;
	}
	*p_r = p;
	if (p->nparts > 0 || p->message != NULL)
		return BIN_OK;		/* the whole message: its body is sent raw */
	/* An empty body: only the encoding is looked at. */
	buf_init(&none);
	r = mime_decode_body(p, NULL, 0, &none);
	buf_free(&none);
	return r < 0 ? BIN_UNKNOWN_CTE : BIN_OK;
}

/* Would any BINARY item of r fail on this message? 0 or a BIN_* error. */
static int
binary_precheck(const struct fetch_req *r, const struct mime_part *root)
{
	const struct mime_part *p;
	size_t i;
	int br;

	for (i = 0; i < r->n; i++) {
		if (r->items[i].kind != F_BINARY && r->items[i].kind != F_BINARY_SIZE)
			continue;
		br = binary_part(&r->items[i], root, &p);
		if (br < 0)
			return br;
	}
	return 0;
}

/*
 * The decoded content of a BINARY section of msg[0..len) into out: a leaf
 * part's body without its Content-Transfer-Encoding; without part numbers
 * the whole message, its top-level body decoded when it is a leaf and the
 * header without the Content-Transfer-Encoding field, which no longer
 * applies.
 */
static int
binary_bytes(const struct fetch_item *it, const struct mime_part *root, const char *msg,
	size_t len, size_t prefix, struct buf *out)
{
	static const char *const cte[] = { "Content-Transfer-Encoding" };
	const struct mime_part *p = NULL;
	struct fetch_item hf;
	size_t hend;
	int br;

	buf_reset(out);
	br = binary_part(it, root, &p);
	if (br != BIN_OK)
		return br;
	if (it->npart > 0)
		return mime_decode_body(p, msg + prefix, len - prefix, out) < 0 ?
			BIN_UNKNOWN_CTE : BIN_OK;
	memset(&hf, 0, sizeof(hf));
	hf.text = ST_FIELDS_NOT;
	hf.fields = (const char **)cte;
	hf.nfields = 1;
	hend = prefix + root->body_start > len ? len : (size_t)(prefix + root->body_start);
	filter_header(&hf, msg, hend, out);
	if (p->nparts > 0 || p->message != NULL) {
		buf_append(out, msg + hend, len - hend);
		return BIN_OK;
	}
	return mime_decode_body(p, msg + prefix, len - prefix, out) < 0 ?
		BIN_UNKNOWN_CTE : BIN_OK;
}

/* ---- FETCH ---- */

struct fetch_msg {
	uint32_t seq;
	struct store_msg *m;
	bool show_flags;	/* \Seen was set implicitly */
	struct mime_part *tree;
	struct buf bytes;
	bool have_bytes, read_failed;
	/* bytes is the prefix and the file's header section only
	 * (header_only requests): sections come from it, sizes from m. */
	bool header_bytes;
	/* A preview computed here (none was stored): saved with the batch. */
	char *new_preview;
};

/* Requests that need nothing of a message but row columns and its own
 * header (BODY.PEEK[HEADER.FIELDS (...)], what clients list mailboxes
 * with): the files are read up to the end of their header only. */
static void
note_header_only(struct fetch_req *r)
{
	size_t i;

	if (!r->need_bytes || r->has_preview || r->has_binary)
		return;
	for (i = 0; i < r->n; i++) {
		const struct fetch_item *it = &r->items[i];

		switch (it->kind) {
		case F_UID:
		case F_FLAGS:
		case F_INTERNALDATE:
		case F_SIZE:
		case F_MODSEQ:
		case F_SAVEDATE:
			break;
		case F_SECTION:
			if (it->npart == 0 && (it->text == ST_HEADER || it->text == ST_FIELDS ||
				it->text == ST_FIELDS_NOT))
				break;
			return;
		default:
			return;
		}
	}
	r->header_only = true;
}

static void
note_rows_only(struct fetch_req *r)
{
	size_t i;

	if (r->need_bytes || r->need_parsed || r->has_preview || r->has_binary || r->sets_seen)
		return;
	for (i = 0; i < r->n; i++)
		if (r->items[i].kind != F_UID && r->items[i].kind != F_FLAGS &&
		    r->items[i].kind != F_INTERNALDATE && r->items[i].kind != F_SIZE &&
		    r->items[i].kind != F_MODSEQ && r->items[i].kind != F_SAVEDATE)
			return;
	r->rows_only = true;
	r->state_only = true;
	for (i = 0; i < r->n; i++)
		if (r->items[i].kind != F_UID && r->items[i].kind != F_FLAGS &&
		    r->items[i].kind != F_MODSEQ)
			r->state_only = false;
}

/* A top-level header section from header_bytes: the prefix and the file's
 * header, cut where the MIME parser ends the header. */
static void
header_section(const struct fetch_item *it, const struct fetch_msg *fm, struct buf *tmp,
	const char **data_r, size_t *n_r)
{
	size_t pre = fm->m->prefix_len <= fm->bytes.len ? fm->m->prefix_len : 0;
	size_t end = pre + mime_header_end(fm->bytes.data + pre, fm->bytes.len - pre);

	if (it->text == ST_HEADER) {
		*data_r = fm->bytes.data;
		*n_r = end;
		return;
	}
	buf_reset(tmp);
	filter_header(it, fm->bytes.data, end, tmp);
	*data_r = tmp->data;
	*n_r = tmp->len;
}

static void
load_message(struct imap_session *s, const struct fetch_req *r, struct fetch_msg *fm)
{
	bool want_preview = r->has_preview && fm->m->preview == NULL;
	bool need_tree = r->need_parsed || want_preview;
	const char *error;

	if (r->header_only) {
		/* at most the file: the reading stops at the empty line */
		if (store_msg_read_header_part(s->d->store, fm->m, SIZE_MAX, &fm->bytes,
			    &error) < 0) {
			log_error(imap_cid(s), "proto=imap ev=fetch-read uid=%u error=%s",
				fm->m->uid, lq(error));
			fm->read_failed = true;
		} else {
			fm->have_bytes = fm->header_bytes = true;
		}
		return;
	}
	if (r->need_bytes || (need_tree && fm->m->parsed == NULL) || want_preview) {
		if (store_msg_read_msg(s->d->store, fm->m, &fm->bytes, &error) < 0) {
			log_error(imap_cid(s), "proto=imap ev=fetch-read uid=%u error=%s",
				fm->m->uid, lq(error));
			fm->read_failed = true;
		} else {
			fm->have_bytes = true;
		}
	}
	if (!need_tree)
		return;
	if (fm->m->parsed != NULL && fm->tree == NULL)
		fm->tree = mime_from_json(fm->m->parsed, strlen(fm->m->parsed));
	if (fm->tree == NULL && fm->have_bytes) {
		size_t pre = fm->m->prefix_len <= fm->bytes.len ? fm->m->prefix_len : 0;

		fm->tree = mime_parse(fm->bytes.data + pre, fm->bytes.len - pre);
	}
	if (want_preview && fm->have_bytes) {
		/* RFC 8970 section 3: the message text as plain text, from
		 * the first text part (HTML reduced to its text), whitespace
		 * collapsed; MIME offsets are relative to the file. */
		size_t pre = fm->m->prefix_len <= fm->bytes.len ? fm->m->prefix_len : 0;
		struct buf pv;

		buf_init(&pv);
		mime_preview(fm->tree, fm->bytes.data + pre, fm->bytes.len - pre,
			PREVIEW_STORE_CHARS, &pv);
		fm->new_preview = buf_steal(&pv);
		buf_free(&pv);
	}
}

/* The preview as sent: at most PREVIEW_MAX_CHARS characters, no
 * whitespace at either end. NIL when the message could not be read. */
static void
buf_preview(struct imap_session *s, struct buf *out, const char *pv)
{
	size_t n = 0, chars = 0;

	if (pv == NULL) {
		buf_puts(out, "NIL");
		return;
	}
	while (pv[n] != '\0' && chars < PREVIEW_MAX_CHARS) {
		n++;
		while (((unsigned char)pv[n] & 0xc0) == 0x80)
			n++;	/* continuation bytes of a UTF-8 character */
		chars++;
	}
	while (n > 0 && (pv[n - 1] == ' ' || pv[n - 1] == '\t'))
		n--;
	while (n > 0 && (*pv == ' ' || *pv == '\t')) {
		pv++;
		n--;
	}
	imap_buf_string(s, out, pv, n);
}

/* Write the FETCH response of one message. Returns 0, or a BIN_* error
 * of a BINARY item (nothing written for the message then). */
static int
write_message(struct imap_session *s, struct imap_cmd *cmd, const struct fetch_req *r,
	struct fetch_msg *fm, struct buf *out)
{
	const struct store_msg *m = fm->m;
	struct buf tmp, *bin = NULL;	/* BINARY data by item */
	bool *bin_nil = NULL;
	size_t i, pre = m->prefix_len <= fm->bytes.len ? m->prefix_len : 0;
	bool first = true;
	int ret = 0;

#define SEP() do { if (!first) buf_putc(out, ' '); first = false; } while (0)
	buf_init(&tmp);
	buf_reset(out);
	/* BINARY first: a part that cannot be decoded fails the command
	 * (RFC 3516 4.2) before anything of this message is sent. */
	for (i = 0; i < r->n; i++) {
		const struct fetch_item *it = &r->items[i];
		int br;

		if (it->kind != F_BINARY && it->kind != F_BINARY_SIZE)
			continue;
		if (bin == NULL) {
			size_t k;

			bin = xcalloc(r->n, sizeof(*bin));
			bin_nil = xcalloc(r->n, sizeof(*bin_nil));
			for (k = 0; k < r->n; k++)
				buf_init(&bin[k]);
		}
		br = fm->have_bytes ? binary_bytes(it, fm->tree, fm->bytes.data, fm->bytes.len,
			pre, &bin[i]) : BIN_NIL;
		if (br < 0) {
			ret = br;
			goto out;
		}
		bin_nil[i] = br == BIN_NIL;
	}
	/* RFC 9586 3.3: UIDONLY answers "* uid UIDFETCH (...)", the UID item
	 * only when asked for. */
	buf_puts(out, "* ");
	if (s->enabled & IMAP_EN_UIDONLY) {
		buf_put_u64(out, m->uid);
		buf_puts(out, " UIDFETCH (");
	} else {
		buf_put_u64(out, fm->seq);
		buf_puts(out, " FETCH (");
	}
	/* RFC 9051 6.4.9: UID FETCH always returns UID. */
	if (cmd->uid && !r->has_uid && !(s->enabled & IMAP_EN_UIDONLY)) {
		SEP();
		buf_puts(out, "UID ");
		buf_put_u64(out, m->uid);
	}
	if (fm->show_flags && !r->has_flags) {
		SEP();
		buf_puts(out, "FLAGS ");
		imap_buf_flags(out, m->flags, m->keywords, m->nkeywords);
	}
	/* RFC 7162 3.1.4: a flag change reported with CONDSTORE on carries
	 * its MODSEQ. */
	if (fm->show_flags && !r->has_modseq && (s->enabled & IMAP_EN_CONDSTORE)) {
		SEP();
		buf_printf(out, "MODSEQ (%lld)", (long long)m->modseq);
	}
	for (i = 0; i < r->n; i++) {
		const struct fetch_item *it = &r->items[i];
		const char *data;
		size_t n;

		SEP();
		switch (it->kind) {
		case F_UID:
			buf_puts(out, "UID ");
			buf_put_u64(out, m->uid);
			break;
		case F_FLAGS:
			buf_puts(out, "FLAGS ");
			imap_buf_flags(out, m->flags, m->keywords, m->nkeywords);
			break;
		case F_MODSEQ:
			/* fetch-mod-resp = "MODSEQ" SP "(" permsg-modsequence ")" */
			buf_puts(out, "MODSEQ (");
			buf_put_u64(out, (uint64_t)m->modseq);
			buf_putc(out, ')');
			break;
		case F_INTERNALDATE:
			buf_puts(out, "INTERNALDATE \"");
			imap_buf_datetime(out, m->received);
			buf_putc(out, '"');
			break;
		case F_SAVEDATE:
			/* msg-att-static =/ "SAVEDATE" SP (date-time / nil);
			 * every message here has one. */
			buf_puts(out, "SAVEDATE \"");
			imap_buf_datetime(out, m->savedate);
			buf_putc(out, '"');
			break;
		case F_PREVIEW:
			/* msg-att-static =/ "PREVIEW" SP nstring */
			buf_puts(out, "PREVIEW ");
			buf_preview(s, out, m->preview != NULL ? m->preview : fm->new_preview);
			break;
		case F_SIZE:
			buf_printf(out, "RFC822.SIZE %lld", (long long)(fm->have_bytes &&
				!fm->header_bytes ?
				(long long)fm->bytes.len : (long long)m->size));
			break;
		case F_ENVELOPE:
			buf_puts(out, "ENVELOPE ");
			imap_buf_envelope(s, out, fm->tree ? fm->tree->envelope : NULL);
			break;
		case F_BODYSTRUCTURE:
		case F_BODY:
			buf_puts(out, it->kind == F_BODY ? "BODY " : "BODYSTRUCTURE ");
			if (fm->tree != NULL)
				imap_buf_body(s, out, fm->tree, it->kind == F_BODYSTRUCTURE, 0);
			else
				buf_puts(out, "(\"text\" \"plain\" NIL NIL NIL \"7bit\" 0 0)");
			break;
		case F_SECTION:
			buf_puts(out, it->label);
			if (it->partial)
				buf_printf(out, "<%llu>", (unsigned long long)it->pstart);
			buf_putc(out, ' ');
			if (fm->have_bytes && fm->header_bytes) {
				header_section(it, fm, &tmp, &data, &n);
			} else if (!fm->have_bytes ||
			    !section_bytes(it, fm->tree, fm->bytes.data, fm->bytes.len,
				    m->prefix_len <= fm->bytes.len ? m->prefix_len : 0,
				    &tmp, &data, &n)) {
				buf_puts(out, "NIL");
				break;
			}
			if (it->partial) {
				/* "If the starting octet is beyond the end of
				 * the text, an empty string is returned." */
				if (it->pstart >= n) {
					n = 0;
				} else {
					data += it->pstart;
					n -= (size_t)it->pstart;
					if (it->plen < n)
						n = (size_t)it->plen;
				}
			}
			/* Always a literal: bodies may hold CR, LF and
			 * 8-bit bytes. */
			buf_printf(out, "{%zu}\r\n", n);
			imap_write(s, out->data, out->len);
			imap_write(s, data, n);
			buf_reset(out);
			break;
		case F_BINARY_SIZE:
			/* "BINARY.SIZE" section-binary SP number; a part
			 * that does not exist has size 0 */
			buf_printf(out, "%s %zu", it->label, bin_nil[i] ? (size_t)0 : bin[i].len);
			break;
		case F_BINARY:
			buf_puts(out, it->label);
			buf_putc(out, ' ');
			if (bin_nil[i]) {
				buf_puts(out, "NIL");
				break;
			}
			data = bin[i].data;
			n = bin[i].len;
			if (it->partial) {
				if (it->pstart >= n) {
					n = 0;
				} else {
					data += it->pstart;
					n -= (size_t)it->pstart;
					if (it->plen < n)
						n = (size_t)it->plen;
				}
			}
			/* RFC 3516 4.2: literal8 when the data holds NUL (a
			 * literal cannot, RFC 9051 CHAR8), else a literal */
			buf_printf(out, "%s{%zu}\r\n", memchr(data, '\0', n) != NULL ? "~" : "", n);
			imap_write(s, out->data, out->len);
			imap_write(s, data, n);
			buf_reset(out);
			break;
		}
	}
	buf_puts(out, ")\r\n");
	imap_write(s, out->data, out->len);
out:
	if (bin != NULL) {
		for (i = 0; i < r->n; i++)
			buf_free(&bin[i]);
		free(bin);
		free(bin_nil);
	}
	buf_free(&tmp);
	return ret;
#undef SEP
}

/* Set \Seen on the messages of a batch that lack it (RFC 9051 6.4.5:
 * BODY[section] "The \Seen flag is implicitly set; if this causes the
 * flags to change, they SHOULD be included as part of the FETCH
 * responses."). */
static void
implicit_seen(struct imap_session *s, struct fetch_msg *fms, size_t n)
{
	struct store_flag_change *ch = NULL;
	uint32_t *uids = xmalloc((n + 1) * sizeof(*uids));
	size_t nuids = 0, nch = 0, i, j;
	const char *error;

	for (i = 0; i < n; i++)
		if (fms[i].seq != 0 && !(fms[i].m->flags & SF_SEEN))
			uids[nuids++] = fms[i].m->uid;
	if (nuids > 0 &&
	    store_flags_change(s->d->store, s->account_id, s->sel->id, uids, nuids,
		    STORE_FLAGS_ADD, SF_SEEN, NULL, 0, -1, &ch, &nch, NULL, NULL,
		    &error) < 0)
		log_error(imap_cid(s), "proto=imap ev=fetch-seen error=%s", lq(error));
	for (i = 0; i < nch; i++) {
		imap_view_own(s, ch[i].modseq);
		for (j = 0; j < n; j++) {
			if (fms[j].m->uid == ch[i].uid) {
				fms[j].m->flags = ch[i].flags;
				fms[j].m->modseq = ch[i].modseq;
				fms[j].show_flags = true;
			}
		}
	}
	store_flag_changes_free(ch, nch);
	free(uids);
}

/* Store the previews computed for a batch (messages that had none, e.g.
 * rows made without one) in one statement, as the reference does, so the
 * next FETCH PREVIEW reads them; frees them. */
static void
save_previews(struct imap_session *s, struct fetch_msg *fms, size_t n)
{
	uint32_t *uids = xmalloc((n + 1) * sizeof(*uids));
	const char **pv = xmalloc((n + 1) * sizeof(*pv));
	size_t i, k = 0;
	const char *error;

	for (i = 0; i < n; i++) {
		if (fms[i].new_preview == NULL)
			continue;
		uids[k] = fms[i].m->uid;
		pv[k++] = fms[i].new_preview;
	}
	if (k > 0 && store_msgs_set_previews(s->d->store, s->sel->id, uids, pv, k, &error) < 0)
		log_warn(imap_cid(s), "proto=imap ev=preview-save error=%s", lq(error));
	for (i = 0; i < n; i++)
		free(fms[i].new_preview);
	free(uids);
	free(pv);
}

/* fetch_run from the view's state, current as of the last sync: no
 * database, no files. */
static void
fetch_run_state(struct imap_session *s, struct imap_cmd *cmd, const struct fetch_req *r,
	const uint32_t *idx, size_t n, bool *expunged_r)
{
	struct imap_view *v = s->sel;
	struct buf out;
	size_t i;

	buf_init(&out);
	for (i = 0; i < n && !s->c->failed; i++) {
		struct store_msg m;
		struct fetch_msg fm;

		if (imap_view_pending(v, v->uids[idx[i]])) {
			*expunged_r = true;
			continue;
		}
		memset(&m, 0, sizeof(m));
		imap_view_state_get(v, idx[i], &m);
		/* RFC 7162 3.1.4.1 */
		if (r->changedsince >= 0 && m.modseq <= r->changedsince)
			continue;
		/* keywords first: FLAGS must be announced before use */
		if (m.nkeywords > 0)
			imap_view_keywords(s, m.keywords, m.nkeywords);
		memset(&fm, 0, sizeof(fm));
		fm.seq = idx[i] + 1;
		fm.m = &m;
		buf_init(&fm.bytes);
		(void)write_message(s, cmd, r, &fm, &out);
	}
	buf_free(&out);
}

/* Run the request over view indexes idx[0..n); returns -1 when some
 * message could not be read. A BINARY error stops it (*binerr_r). */
static int
fetch_run(struct imap_session *s, struct imap_cmd *cmd, const struct fetch_req *r,
	const uint32_t *idx, size_t n, bool *expunged_r, int *binerr_r)
{
	struct imap_view *v = s->sel;
	size_t batch = r->rows_only ? FETCH_ROWS_BATCH : FETCH_BATCH;
	uint32_t *uids, *seqs;
	struct buf out;
	size_t off = 0, i;
	int ret = 0;

	if (r->state_only && v->ms != NULL) {
		fetch_run_state(s, cmd, r, idx, n, expunged_r);
		return 0;
	}
	uids = xmalloc(batch * sizeof(*uids));
	seqs = xmalloc(batch * sizeof(*seqs));
	buf_init(&out);
	while (off < n && !s->c->failed && *binerr_r == 0) {
		struct store_msg *msgs = NULL;
		struct fetch_msg *fms;
		size_t nb = 0, nm = 0, j = 0, found = 0, limit;
		const char *error;
		int rc;

		for (; off < n && nb < batch; off++) {
			uint32_t uid = v->uids[idx[off]];

			if (imap_view_pending(v, uid)) {
				*expunged_r = true;
				continue;
			}
			uids[nb] = uid;
			seqs[nb] = idx[off] + 1;
			nb++;
		}
		if (nb == 0)
			continue;
		/* FETCH 1:* (FLAGS), what a client resynchronizes with: the
		 * small columns of a UID range (rows not asked for are left
		 * out below), index-only but for the keywords. */
		if (r->rows_only && uids[nb - 1] - uids[0] < 2 * (uint64_t)nb)
			rc = store_msgs_scan(s->d->store, v->id, uids[0] - 1, uids[nb - 1],
				2 * nb, NULL, STORE_SCAN_KEYWORDS, &msgs, &nm, &error);
		/* The prefixes come with the batch, so reading the messages
		 * asks the database nothing more. */
		else
			rc = store_msgs_get(s->d->store, v->id, uids, nb,
				(r->need_parsed && !r->header_only ? STORE_MSGS_PARSED : 0) |
				(r->need_bytes || r->has_preview ? STORE_MSGS_PREFIX : 0) |
				(r->has_preview ? STORE_MSGS_PREVIEW : 0), &msgs, &nm, &error);
		if (rc < 0) {
			log_error(imap_cid(s), "proto=imap ev=fetch error=%s", lq(error));
			ret = -1;
			break;
		}
		fms = xcalloc(nm + 1, sizeof(*fms));
		for (i = 0; i < nm; i++) {
			/* both ascending; a row not asked for gets seq 0 */
			while (j < nb && uids[j] < msgs[i].uid)
				j++;
			fms[i].seq = j < nb && uids[j] == msgs[i].uid ? seqs[j] : 0;
			fms[i].m = &msgs[i];
			buf_init(&fms[i].bytes);
			if (fms[i].seq == 0)
				continue;
			found++;
			/* RFC 7162 3.1.4.1: CHANGEDSINCE leaves out the
			 * messages not changed after it. */
			if (r->changedsince >= 0 && msgs[i].modseq <= r->changedsince)
				fms[i].seq = 0;
			/* keywords first: FLAGS must be announced before use */
			imap_view_keywords(s, msgs[i].keywords, msgs[i].nkeywords);
		}
		if (found < nb)
			*expunged_r = true;	/* expunged meanwhile */
		/* A BINARY item that will fail ends the command at that
		 * message: the ones before it are answered (and get \Seen),
		 * it and the rest not. */
		limit = nm;
		for (i = 0; r->has_binary && i < nm; i++) {
			if (fms[i].seq == 0 || fms[i].m->parsed == NULL)
				continue;
			fms[i].tree = mime_from_json(fms[i].m->parsed, strlen(fms[i].m->parsed));
			if (fms[i].tree != NULL &&
			    (*binerr_r = binary_precheck(r, fms[i].tree)) < 0) {
				limit = i;
				break;
			}
		}
		if (r->sets_seen && !v->readonly)
			implicit_seen(s, fms, limit);
		for (i = 0; i < limit && !s->c->failed; i++) {
			int werr;

			if (fms[i].seq == 0)
				continue;
			load_message(s, r, &fms[i]);
			if (fms[i].read_failed)
				ret = -1;
			werr = write_message(s, cmd, r, &fms[i], &out);
			mime_free(&fms[i].tree);
			buf_free(&fms[i].bytes);
			if (werr < 0) {
				/* (a message without a stored structure) */
				*binerr_r = werr;
				break;
			}
		}
		for (i = 0; i < nm; i++) {
			mime_free(&fms[i].tree);
			buf_free(&fms[i].bytes);
		}
		if (r->has_preview)
			save_previews(s, fms, nm);
		free(fms);
		store_msgs_free(msgs, nm);
	}
	buf_free(&out);
	free(uids);
	free(seqs);
	return ret;
}

/*
 * RFC 7162 3.1.4.1 and 3.2.6:
 *   fetch-modifier  = chgsince-fetch-mod / "VANISHED"
 *   chgsince-fetch-mod = "CHANGEDSINCE" SP mod-sequence-value
 * Returns false when a is not a modifier list (then it is a fetch
 * attribute list); true with the modifiers in r, or with a BAD reply set
 * and r->changedsince = -2.
 */
static bool
parse_fetch_modifiers(struct imap_session *s, struct imap_cmd *cmd,
	const struct imap_arg *a, struct fetch_req *r)
{
	const struct imap_arg *l;
	const char *str;
	size_t n, i;
	uint64_t u;

	if (!imap_arg_list(a, &l, &n) || n == 0 ||
	    !(imap_arg_atom_eq(&l[0], "CHANGEDSINCE") || imap_arg_atom_eq(&l[0], "VANISHED")))
		return false;
	for (i = 0; i < n; i++) {
		if (imap_arg_atom_eq(&l[i], "VANISHED") && !r->vanished) {
			r->vanished = true;
		} else if (imap_arg_atom_eq(&l[i], "CHANGEDSINCE") && r->changedsince < 0 &&
			   i + 1 < n && imap_arg_atom(&l[i + 1], &str) &&
			   ms_parse_u64(str, 0, INT64_MAX, &u) == 0) {
			r->changedsince = (int64_t)u;
			i++;
		} else {
			imap_reply(cmd, IMAP_BAD, "Invalid FETCH modifiers");
			r->changedsince = -2;
			return true;
		}
	}
	/* RFC 7162 3.2.6: VANISHED only in UID FETCH, with CHANGEDSINCE,
	 * after ENABLE QRESYNC. */
	if (r->vanished && (!cmd->uid || r->changedsince < 0 ||
		!(s->enabled & IMAP_EN_QRESYNC))) {
		imap_reply(cmd, IMAP_BAD, "VANISHED needs UID FETCH, CHANGEDSINCE and QRESYNC");
		r->changedsince = -2;
	}
	return true;
}

/* fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" /
 *         fetch-att / "(" fetch-att *(SP fetch-att) ")") [fetch-modifiers] */
void
imap_cmd_fetch(struct imap_session *s, struct imap_cmd *cmd)
{
	struct fetch_req req;
	uint32_t *idx = NULL;
	size_t nidx = 0, nargs;
	const char *error;
	bool expunged = false;
	int binerr = 0, ret;

	if (cmd->nargs < 2) {
		imap_reply(cmd, IMAP_BAD, "Usage: FETCH sequence-set attributes");
		return;
	}
	memset(&req, 0, sizeof(req));
	req.changedsince = -1;
	nargs = cmd->nargs;
	if (nargs >= 3 && parse_fetch_modifiers(s, cmd, &cmd->args[nargs - 1], &req)) {
		if (req.changedsince < -1)
			return;		/* BAD set */
		nargs--;
	}
	if (parse_fetch_atts(s, &req, cmd->args + 1, nargs - 1, &error) < 0) {
		imap_reply(cmd, IMAP_BAD, "%s", error);
		req_free(&req);
		return;
	}
	if (req.changedsince >= 0 && !req.has_modseq)
		add_item(&req, F_MODSEQ);
	note_header_only(&req);
	note_rows_only(&req);
	/* Answers from the state are as current as the sync before them;
	 * it goes first so that "*" counts the messages it adds. */
	if (req.state_only)
		(void)imap_view_state_fresh(s, cmd->uid);
	if (imap_view_indexes(s, cmd, &cmd->args[0], &idx, &nidx) < 0) {
		req_free(&req);
		return;
	}
	if (req.has_modseq)
		imap_condstore_enable(s);
	if (req.vanished) {
		struct imap_seqset set;
		const char *str;

		/* the UID set as given: expunged UIDs are not in the view
		 * ("$" holds none that were reported expunged either) */
		imap_seqset_init(&set);
		if (imap_arg_atom(&cmd->args[0], &str) &&
		    imap_seqset_parse(str, cmd->args[0].len, false, &set, &error) == 0)
			(void)imap_vanished_earlier(s, &set, req.changedsince);
		imap_seqset_free(&set);
	}
	ret = fetch_run(s, cmd, &req, idx, nidx, &expunged, &binerr);
	if (binerr == BIN_UNKNOWN_CTE)
		imap_reply(cmd, IMAP_NO, "[UNKNOWN-CTE] Cannot decode the part's "
			"Content-Transfer-Encoding");
	else if (binerr == BIN_NOT_LEAF)
		imap_reply(cmd, IMAP_NO, "BINARY is only for parts that are not multipart "
			"or message");
	else if (ret < 0)
		imap_reply(cmd, IMAP_NO, "[SERVERBUG] Some messages could not be read");
	else if (expunged)
		imap_reply(cmd, IMAP_OK, "[EXPUNGEISSUED] Some messages were expunged");
	free(idx);
	req_free(&req);
}

/* ---- NOTIFY MessageNew (RFC 5465 5.2) ---- */

int
imap_fetch_atts_check(struct imap_session *s, const struct imap_arg *atts, size_t n,
	const char **error_r)
{
	struct fetch_req req;
	int r;

	memset(&req, 0, sizeof(req));
	req.changedsince = -1;
	r = parse_fetch_atts(s, &req, atts, n, error_r);
	if (r == 0 && req.has_modseq)
		imap_condstore_enable(s);
	req_free(&req);
	return r;
}

void
imap_fetch_new_messages(struct imap_session *s, const struct imap_arg *atts, size_t n,
	size_t first, size_t last)
{
	struct fetch_req req;
	struct imap_cmd cmd;
	uint32_t *idx;
	size_t i;
	const char *error;
	bool expunged = false;
	int binerr = 0;

	if (first >= last)
		return;
	memset(&req, 0, sizeof(req));
	req.changedsince = -1;
	if (atts == NULL) {
		/* No attributes given: UID and FLAGS (and MODSEQ once
		 * CONDSTORE is on), what a client needs to list the message. */
		add_item(&req, F_FLAGS);
		if (s->enabled & IMAP_EN_CONDSTORE)
			add_item(&req, F_MODSEQ);
	} else if (parse_fetch_atts(s, &req, atts, n, &error) < 0) {
		/* Checked at NOTIFY time; only a changed session state gets here. */
		log_warn(imap_cid(s), "proto=imap ev=notify-fetch error=%s", lq(error));
		req_free(&req);
		return;
	}
	/* As UID FETCH: the UID is always there (RFC 5465 5.2 leaves the
	 * attributes to the client; without the UID the message cannot be
	 * told apart after later expunges). */
	memset(&cmd, 0, sizeof(cmd));
	buf_init(&cmd.reply);
	cmd.tag = "*";
	cmd.name = "FETCH";
	cmd.uid = true;
	idx = xmalloc((last - first) * sizeof(*idx));
	for (i = first; i < last; i++)
		idx[i - first] = (uint32_t)i;
	/* A BINARY error (UNKNOWN-CTE) ends these responses as it would a
	 * FETCH; here it can only be said untagged. */
	if (fetch_run(s, &cmd, &req, idx, last - first, &expunged, &binerr) < 0)
		imap_untagged(s, "NO [SERVERBUG] Some new messages could not be read");
	else if (binerr != 0)
		imap_untagged(s, "NO [UNKNOWN-CTE] A new message part could not be decoded");
	free(idx);
	buf_free(&cmd.reply);
	req_free(&req);
}
