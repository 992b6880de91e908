/* SEARCH and UID SEARCH (RFC 9051 6.4.4, RFC 3501 6.4.4): the search
 * program is parsed into a tree of keys, then evaluated over the selected
 * mailbox's messages in batches. Flag, size, UID, sequence and date keys use
 * the message rows; header and body keys read the message. Results go out as
 * SEARCH (IMAP4rev1) or ESEARCH (RFC 4731; IMAP4rev2 and RETURN options).
 * SORT and THREAD (imap_cmd_sort.c) run their search program through
 * imap_search_program. */
#include "config.h"

#include <errno.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"
#include "mail/header.h"
#include "mail/mime.h"
#include "imap_session.h"

#define SEARCH_BATCH 500
/* Bytes of a message file read for a header search at most. */
#define SEARCH_HEADER_MAX (1024 * 1024)
#define MAX_SEARCH_DEPTH 100

enum skey_op {
	K_ALL,
	K_NONE,
	K_FLAG,		/* has all bits of flag */
	K_NOFLAG,	/* lacks the bits */
	K_KEYWORD,
	K_UNKEYWORD,
	K_LARGER,
	K_SMALLER,
	K_MODSEQ,	/* RFC 7162: modseq >= num */
	K_UID,
	K_SEQ,
	K_NOT,
	K_OR,
	K_AND,
	K_BEFORE,
	K_ON,
	K_SINCE,
	K_SENTBEFORE,
	K_SENTON,
	K_SENTSINCE,
	K_HEADER,	/* str: field name, str2: value */
	K_BODY,
	K_TEXT,
};

struct skey {
	enum skey_op op;
	unsigned flag;
	const char *str, *str2;	/* in the parser's arena or static */
	char *kw;		/* lower-cased keyword */
	uint64_t num;
	int date;		/* yyyymmdd */
	struct imap_seqset set;
	struct skey **kids;
	size_t nkids;
};

struct search_ctx {
	struct imap_session *s;
	const struct imap_arg *args;
	size_t n, i;
	const char *error;
	bool need_parsed, need_bytes;
	bool has_modseq;	/* a MODSEQ key: results carry (MODSEQ n) */
	int64_t *mods;		/* with has_modseq: each match's modseq */
};

static void
skey_free(struct skey *k)
{
	size_t i;

	if (k == NULL)
		return;
	for (i = 0; i < k->nkids; i++)
		skey_free(k->kids[i]);
	free(k->kids);
	free(k->kw);
	imap_seqset_free(&k->set);
	free(k);
}

static struct skey *
skey_new(enum skey_op op)
{
	struct skey *k = xcalloc(1, sizeof(*k));

	k->op = op;
	imap_seqset_init(&k->set);
	return k;
}

static void
skey_add(struct skey *parent, struct skey *kid)
{
	parent->kids = xrealloc(parent->kids, (parent->nkids + 1) * sizeof(*parent->kids));
	parent->kids[parent->nkids++] = kid;
}

static const struct {
	const char *name;
	unsigned bit;
	bool set;
} flag_keys[] = {
	{ "ANSWERED", SF_ANSWERED, true }, { "UNANSWERED", SF_ANSWERED, false },
	{ "DELETED", SF_DELETED, true }, { "UNDELETED", SF_DELETED, false },
	{ "DRAFT", SF_DRAFT, true }, { "UNDRAFT", SF_DRAFT, false },
	{ "FLAGGED", SF_FLAGGED, true }, { "UNFLAGGED", SF_FLAGGED, false },
	{ "SEEN", SF_SEEN, true }, { "UNSEEN", SF_SEEN, false },
};

/* Keywords that the store keeps as flag bits. */
static const struct {
	const char *name;
	unsigned bit;
} kw_bits[] = {
	{ "$Forwarded", SF_FORWARDED }, { "$Junk", SF_JUNK }, { "$NotJunk", SF_NOTJUNK },
	{ "$Phishing", SF_PHISHING }, { "$MDNSent", SF_MDNSENT },
};

static const char *const header_keys[] = { "FROM", "TO", "CC", "BCC", "SUBJECT" };

static struct skey *parse_key(struct search_ctx *cx, unsigned depth);

static const struct imap_arg *
next_arg(struct search_ctx *cx)
{
	if (cx->i >= cx->n) {
		cx->error = "Missing search argument";
		return NULL;
	}
	return &cx->args[cx->i++];
}

static bool
next_astring(struct search_ctx *cx, const char **s_r)
{
	const struct imap_arg *a = next_arg(cx);

	if (a == NULL)
		return false;
	if (!imap_arg_astring(a, s_r, NULL)) {
		cx->error = "Invalid search string";
		return false;
	}
	return true;
}

static bool
next_date(struct search_ctx *cx, int *date_r)
{
	const char *s;
	int y, m, d;

	if (!next_astring(cx, &s))
		return false;
	if (imap_parse_date(s, &y, &m, &d) < 0) {
		cx->error = "Invalid date";
		return false;
	}
	*date_r = y * 10000 + m * 100 + d;
	return true;
}

/*
 * search-key = "ALL" / "ANSWERED" / "BCC" SP astring /
 *   "BEFORE" SP date / "BODY" SP astring / "CC" SP astring / "DELETED" /
 *   "FLAGGED" / "FROM" SP astring / "KEYWORD" SP flag-keyword / "ON" SP date /
 *   "SEEN" / "SINCE" SP date / "SUBJECT" SP astring / "TEXT" SP astring /
 *   "TO" SP astring / "UNANSWERED" / "UNDELETED" / "UNFLAGGED" /
 *   "UNKEYWORD" SP flag-keyword / "UNSEEN" / "DRAFT" /
 *   "HEADER" SP header-fld-name SP astring / "LARGER" SP number64 /
 *   "NOT" SP search-key / "OR" SP search-key SP search-key /
 *   "SENTBEFORE" SP date / "SENTON" SP date / "SENTSINCE" SP date /
 *   "SMALLER" SP number64 / "UID" SP sequence-set / "UNDRAFT" /
 *   sequence-set / "(" search-key *(SP search-key) ")"
 * (RFC 3501 adds NEW, OLD, RECENT; without \Recent they are constant.)
 * RFC 7162 3.1.5: search-modsequence = "MODSEQ" [search-modseq-ext] SP
 *   mod-sequence-valzer; search-modseq-ext = SP entry-name SP
 *   entry-type-req. The entry (a flag's metadata item) is accepted and
 *   ignored, as the RFC allows: every flag shares the message's modseq.
 */
static struct skey *
parse_key(struct search_ctx *cx, unsigned depth)
{
	const struct imap_arg *a, *list;
	struct skey *k = NULL;
	const char *name, *str;
	size_t n, j;

	if (depth > MAX_SEARCH_DEPTH) {
		cx->error = "Search program nested too deeply";
		return NULL;
	}
	a = next_arg(cx);
	if (a == NULL)
		return NULL;
	if (imap_arg_list(a, &list, &n)) {
		struct search_ctx sub = *cx;

		if (n == 0) {
			cx->error = "Empty search key list";
			return NULL;
		}
		sub.args = list;
		sub.n = n;
		sub.i = 0;
		k = skey_new(K_AND);
		while (sub.i < sub.n) {
			struct skey *kid = parse_key(&sub, depth + 1);

			if (kid == NULL) {
				cx->error = sub.error;
				skey_free(k);
				return NULL;
			}
			skey_add(k, kid);
		}
		cx->need_parsed = sub.need_parsed;
		cx->need_bytes = sub.need_bytes;
		return k;
	}
	if (!imap_arg_atom(a, &name)) {
		cx->error = "Invalid search key";
		return NULL;
	}
	for (j = 0; j < MS_NELEM(flag_keys); j++) {
		if (ms_strcaseeq(name, flag_keys[j].name)) {
			k = skey_new(flag_keys[j].set ? K_FLAG : K_NOFLAG);
			k->flag = flag_keys[j].bit;
			return k;
		}
	}
	for (j = 0; j < MS_NELEM(header_keys); j++) {
		if (ms_strcaseeq(name, header_keys[j])) {
			if (!next_astring(cx, &str))
				return NULL;
			k = skey_new(K_HEADER);
			k->str = header_keys[j];
			k->str2 = str;
			cx->need_bytes = true;
			return k;
		}
	}
	if (ms_strcaseeq(name, "ALL") || ms_strcaseeq(name, "OLD"))
		return skey_new(K_ALL);
	if (ms_strcaseeq(name, "NEW") || ms_strcaseeq(name, "RECENT"))
		return skey_new(K_NONE);
	if (ms_strcaseeq(name, "KEYWORD") || ms_strcaseeq(name, "UNKEYWORD")) {
		bool set = ms_strcaseeq(name, "KEYWORD");

		if (!next_astring(cx, &str))
			return NULL;
		for (j = 0; j < MS_NELEM(kw_bits); j++) {
			if (ms_strcaseeq(str, kw_bits[j].name)) {
				k = skey_new(set ? K_FLAG : K_NOFLAG);
				k->flag = kw_bits[j].bit;
				return k;
			}
		}
		k = skey_new(set ? K_KEYWORD : K_UNKEYWORD);
		k->kw = xstrdup(str);
		ms_str_lower(k->kw);
		return k;
	}
	if (ms_strcaseeq(name, "LARGER") || ms_strcaseeq(name, "SMALLER")) {
		k = skey_new(ms_strcaseeq(name, "LARGER") ? K_LARGER : K_SMALLER);
		if (!next_astring(cx, &str) || ms_parse_u64(str, 0, INT64_MAX, &k->num) < 0) {
			cx->error = cx->error ? cx->error : "Invalid number";
			skey_free(k);
			return NULL;
		}
		return k;
	}
	if (ms_strcaseeq(name, "MODSEQ")) {
		k = skey_new(K_MODSEQ);
		a = next_arg(cx);
		if (a != NULL && a->type != IMAP_ARG_ATOM) {
			/* entry-name (a quoted string) SP entry-type-req */
			const struct imap_arg *t = next_arg(cx);
			const char *type;

			if (t == NULL || !imap_arg_atom(t, &type) ||
			    !(ms_strcaseeq(type, "priv") || ms_strcaseeq(type, "shared") ||
				ms_strcaseeq(type, "all")))
				a = NULL;
			else
				a = next_arg(cx);
		}
		if (a == NULL || !imap_arg_atom(a, &str) ||
		    ms_parse_u64(str, 0, INT64_MAX, &k->num) < 0) {
			cx->error = cx->error ? cx->error : "Invalid MODSEQ search key";
			skey_free(k);
			return NULL;
		}
		cx->has_modseq = true;
		return k;
	}
	if (ms_strcaseeq(name, "UID")) {
		a = next_arg(cx);
		k = skey_new(K_UID);
		if (a == NULL || !imap_arg_atom(a, &str) ||
		    imap_seqset_parse(str, a->len, false, &k->set, &cx->error) < 0) {
			cx->error = cx->error ? cx->error : "Invalid UID set";
			skey_free(k);
			return NULL;
		}
		return k;
	}
	if (ms_strcaseeq(name, "NOT")) {
		struct skey *kid = parse_key(cx, depth + 1);

		if (kid == NULL)
			return NULL;
		k = skey_new(K_NOT);
		skey_add(k, kid);
		return k;
	}
	if (ms_strcaseeq(name, "OR")) {
		struct skey *x = parse_key(cx, depth + 1), *y;

		if (x == NULL)
			return NULL;
		y = parse_key(cx, depth + 1);
		if (y == NULL) {
			skey_free(x);
			return NULL;
		}
		k = skey_new(K_OR);
		skey_add(k, x);
		skey_add(k, y);
		return k;
	}
	{
		static const struct {
			const char *name;
			enum skey_op op;
		} dates[] = {
			{ "BEFORE", K_BEFORE }, { "ON", K_ON }, { "SINCE", K_SINCE },
			{ "SENTBEFORE", K_SENTBEFORE }, { "SENTON", K_SENTON },
			{ "SENTSINCE", K_SENTSINCE },
		};

		for (j = 0; j < MS_NELEM(dates); j++) {
			if (!ms_strcaseeq(name, dates[j].name))
				continue;
			k = skey_new(dates[j].op);
			if (!next_date(cx, &k->date)) {
				skey_free(k);
				return NULL;
			}
			if (k->op >= K_SENTBEFORE)
				cx->need_parsed = true;
			return k;
		}
	}
	if (ms_strcaseeq(name, "HEADER")) {
		const char *field;

		if (!next_astring(cx, &field) || !next_astring(cx, &str))
			return NULL;
		k = skey_new(K_HEADER);
		k->str = field;
		k->str2 = str;
		cx->need_bytes = true;
		return k;
	}
	if (ms_strcaseeq(name, "BODY") || ms_strcaseeq(name, "TEXT")) {
		if (!next_astring(cx, &str))
			return NULL;
		k = skey_new(ms_strcaseeq(name, "BODY") ? K_BODY : K_TEXT);
		k->str = str;
		cx->need_bytes = true;
		cx->need_parsed = true;
		return k;
	}
	if ((name[0] >= '0' && name[0] <= '9') || name[0] == '*' || name[0] == '$') {
		/* RFC 9586 3.2: no sequence numbers in a UIDONLY session. */
		if (name[0] != '$' && (cx->s->enabled & IMAP_EN_UIDONLY)) {
			cx->error = "[UIDREQUIRED] Sequence numbers cannot be used with UIDONLY";
			return NULL;
		}
		k = skey_new(K_SEQ);
		if (imap_seqset_parse(name, a->len, false, &k->set, &cx->error) < 0) {
			skey_free(k);
			return NULL;
		}
		return k;
	}
	cx->error = "Unknown search key";
	return NULL;
}

/* ---- evaluation ---- */

struct smsg {
	uint32_t seq, uid;
	const struct store_msg *m;
	struct buf bytes;
	bool bytes_loaded, bytes_failed;
	/* The header section alone, for header searches: read without the
	 * body (the prefix comes with the batch). */
	struct buf header;
	bool header_loaded, header_failed;
	struct mime_part *tree;
	bool tree_loaded;
	int sent_date;		/* yyyymmdd, 0 unknown */
};

static int
local_date(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	localtime_r(&tt, &tm);
	return (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
}

/* The date part of an RFC 5322 date-time ("Tue, 1 Jul 2025 10:00:00 +0200"),
 * as written, ignoring time and zone as RFC 9051 says for SENT*. */
static int
rfc5322_date(const char *s)
{
	static const char mon[12][4] = { "jan", "feb", "mar", "apr", "may", "jun",
		"jul", "aug", "sep", "oct", "nov", "dec" };
	int d = 0, m = 0, y = 0, nd = 0, ny = 0;
	const char *comma = strchr(s, ',');

	if (comma != NULL)
		s = comma + 1;
	while (*s == ' ' || *s == '\t')
		s++;
	while (*s >= '0' && *s <= '9' && nd < 2)
		d = d * 10 + (*s++ - '0'), nd++;
	while (*s == ' ' || *s == '\t' || *s == '-')
		s++;
	for (m = 0; m < 12; m++)
		if (ms_strncaseeq(s, mon[m], 3))
			break;
	if (nd == 0 || m == 12)
		return 0;
	s += 3;
	while (*s == ' ' || *s == '\t' || *s == '-')
		s++;
	while (*s >= '0' && *s <= '9' && ny < 4)
		y = y * 10 + (*s++ - '0'), ny++;
	if (ny == 2)
		y += y < 50 ? 2000 : 1900;	/* RFC 5322 4.3 obs-year */
	else if (ny == 3)
		y += 1900;
	else if (ny != 4)
		return 0;
	return y * 10000 + (m + 1) * 100 + d;
}

static void
need_bytes(struct search_ctx *cx, struct smsg *sm)
{
	const char *error;

	if (sm->bytes_loaded)
		return;
	sm->bytes_loaded = true;
	if (sm->m->have_prefix) {
		/* The prefix came with the batch: only the file to read. */
		struct buf path;

		buf_append(&sm->bytes, sm->m->prefix.data, sm->m->prefix.len);
		buf_init(&path);
		buf_printf(&path, "%s/%s", cx->s->d->store->datadir, sm->m->file_path);
		if (ms_read_file(path.data, &sm->bytes) < 0) {
			log_error(imap_cid(cx->s), "proto=imap ev=search-read uid=%u error=%s",
				sm->uid, lq(strerror(errno)));
			sm->bytes_failed = true;
		}
		buf_free(&path);
		return;
	}
	if (store_msg_read(cx->s->d->store, sm->m->id, sm->m->file_path, &sm->bytes,
		    &error) < 0) {
		log_error(imap_cid(cx->s), "proto=imap ev=search-read uid=%u error=%s",
			sm->uid, lq(error));
		sm->bytes_failed = true;
	}
}

static size_t
prefix_of(const struct smsg *sm)
{
	return sm->m->prefix_len <= sm->bytes.len ? sm->m->prefix_len : 0;
}

static void
need_tree(struct search_ctx *cx, struct smsg *sm)
{
	if (sm->tree_loaded)
		return;
	sm->tree_loaded = true;
	if (sm->m->parsed != NULL)
		sm->tree = mime_from_json(sm->m->parsed, strlen(sm->m->parsed));
	if (sm->tree == NULL) {
		need_bytes(cx, sm);
		if (!sm->bytes_failed)
			sm->tree = mime_parse(sm->bytes.data + prefix_of(sm),
				sm->bytes.len - prefix_of(sm));
	}
}

/* ASCII case-insensitive substring search. */
static bool
contains_ci(const char *hay, size_t hn, const char *needle)
{
	size_t nn = strlen(needle), i;

	if (nn == 0)
		return true;
	for (i = 0; i + nn <= hn; i++)
		if (ms_tolower(hay[i]) == ms_tolower(needle[0]) &&
		    ms_strncaseeq(hay + i, needle, nn))
			return true;
	return false;
}

/* Length of the top-level header section (prefix included). */
static size_t
header_len(const struct smsg *sm)
{
	const char *p = sm->bytes.data;
	size_t n = sm->bytes.len, i;

	for (i = 0; i + 1 < n; i++) {
		if (p[i] != '\n')
			continue;
		if (p[i + 1] == '\n')
			return i + 2;
		if (p[i + 1] == '\r' && i + 2 < n && p[i + 2] == '\n')
			return i + 3;
	}
	return n;
}

/* The header section (prefix and the file's header) in sm->header; from
 * the whole message when that is loaded already. */
static void
need_header(struct search_ctx *cx, struct smsg *sm)
{
	const char *error;

	if (sm->header_loaded)
		return;
	sm->header_loaded = true;
	buf_init(&sm->header);
	if (sm->bytes_loaded) {
		if (sm->bytes_failed)
			sm->header_failed = true;
		else
			buf_append(&sm->header, sm->bytes.data, header_len(sm));
		return;
	}
	if (store_msg_read_header_part(cx->s->d->store, sm->m, SEARCH_HEADER_MAX, &sm->header,
		    &error) < 0) {
		log_error(imap_cid(cx->s), "proto=imap ev=search-read uid=%u error=%s",
			sm->uid, lq(error));
		sm->header_failed = true;
	}
}

static bool
match_header(struct search_ctx *cx, struct smsg *sm, const char *field, const char *value)
{
	struct mail_header_iter it;
	const char *name, *val;
	size_t namelen, vallen;
	struct buf unfolded, decoded;
	bool found = false;

	need_header(cx, sm);
	if (sm->header_failed)
		return false;
	buf_init(&unfolded);
	buf_init(&decoded);
	mail_header_iter_init(&it, sm->header.data, sm->header.len);
	while (!found && mail_header_next(&it, &name, &namelen, &val, &vallen)) {
		if (namelen != strlen(field) || !ms_strncaseeq(name, field, namelen))
			continue;
		buf_reset(&unfolded);
		buf_reset(&decoded);
		mail_header_unfold(&unfolded, val, vallen);
		mail_header_decode_words(&decoded, unfolded.data, unfolded.len);
		found = contains_ci(decoded.data, decoded.len, value);
	}
	buf_free(&unfolded);
	buf_free(&decoded);
	return found;
}

/* Text parts, decoded from their transfer encoding (charset as is). */
static bool
match_parts(const struct mime_part *p, const char *file, size_t n, const char *needle,
	unsigned depth)
{
	struct buf dec;
	size_t i;
	bool found;

	if (depth > 32)
		return false;
	for (i = 0; i < p->nparts; i++)
		if (match_parts(&p->parts[i], file, n, needle, depth + 1))
			return true;
	if (p->message != NULL)
		return match_parts(p->message, file, n, needle, depth + 1);
	if (p->nparts > 0 || (p->type != NULL && !ms_strcaseeq(p->type, "text")))
		return false;
	buf_init(&dec);
	(void)mime_decode_body(p, file, n, &dec);
	found = contains_ci(dec.data, dec.len, needle);
	buf_free(&dec);
	return found;
}

static bool
match_body(struct search_ctx *cx, struct smsg *sm, const char *needle)
{
	size_t pre;

	need_bytes(cx, sm);
	need_tree(cx, sm);
	if (sm->bytes_failed)
		return false;
	pre = prefix_of(sm);
	if (sm->tree == NULL) {
		size_t h = header_len(sm);

		return contains_ci(sm->bytes.data + h, sm->bytes.len - h, needle);
	}
	return match_parts(sm->tree, sm->bytes.data + pre, sm->bytes.len - pre, needle, 0);
}

static bool
has_keyword(const struct store_msg *m, const char *kw)
{
	size_t i;

	for (i = 0; i < m->nkeywords; i++)
		if (ms_strcaseeq(m->keywords[i], kw))
			return true;
	return false;
}

static bool
eval(struct search_ctx *cx, const struct skey *k, struct smsg *sm, uint32_t nmsgs,
	uint32_t maxuid)
{
	const struct store_msg *m = sm->m;
	size_t i;

	switch (k->op) {
	case K_ALL:
		return true;
	case K_NONE:
		return false;
	case K_FLAG:
		return (m->flags & k->flag) == k->flag;
	case K_NOFLAG:
		return (m->flags & k->flag) == 0;
	case K_KEYWORD:
		return has_keyword(m, k->kw);
	case K_UNKEYWORD:
		return !has_keyword(m, k->kw);
	case K_LARGER:
		return (uint64_t)m->size > k->num;
	case K_SMALLER:
		return (uint64_t)m->size < k->num;
	case K_MODSEQ:
		return (uint64_t)m->modseq >= k->num;
	case K_UID:
		return imap_seqset_contains(&k->set, sm->uid, maxuid);
	case K_SEQ:
		return imap_seqset_contains(&k->set, sm->seq, nmsgs);
	case K_NOT:
		return !eval(cx, k->kids[0], sm, nmsgs, maxuid);
	case K_OR:
		return eval(cx, k->kids[0], sm, nmsgs, maxuid) ||
			eval(cx, k->kids[1], sm, nmsgs, maxuid);
	case K_AND:
		for (i = 0; i < k->nkids; i++)
			if (!eval(cx, k->kids[i], sm, nmsgs, maxuid))
				return false;
		return true;
	case K_BEFORE:
		return local_date(m->received) < k->date;
	case K_ON:
		return local_date(m->received) == k->date;
	case K_SINCE:
		return local_date(m->received) >= k->date;
	case K_SENTBEFORE:
	case K_SENTON:
	case K_SENTSINCE:
		if (sm->sent_date == 0) {
			need_tree(cx, sm);
			if (sm->tree != NULL && sm->tree->envelope != NULL &&
			    sm->tree->envelope->date != NULL)
				sm->sent_date = rfc5322_date(sm->tree->envelope->date);
			if (sm->sent_date == 0)	/* no usable Date: when received */
				sm->sent_date = local_date(m->received);
		}
		if (k->op == K_SENTBEFORE)
			return sm->sent_date < k->date;
		if (k->op == K_SENTON)
			return sm->sent_date == k->date;
		return sm->sent_date >= k->date;
	case K_HEADER:
		return match_header(cx, sm, k->str, k->str2);
	case K_BODY:
		return match_body(cx, sm, k->str);
	case K_TEXT:
		if (match_body(cx, sm, k->str))
			return true;
		need_header(cx, sm);
		return !sm->header_failed && contains_ci(sm->header.data, sm->header.len, k->str);
	}
	return false;
}

/* Whether k looks at anything but UIDs and sequence numbers. */
static bool
needs_messages(const struct skey *k)
{
	size_t i;

	switch (k->op) {
	case K_ALL:
	case K_NONE:
	case K_UID:
	case K_SEQ:
		return false;
	case K_NOT:
	case K_OR:
	case K_AND:
		for (i = 0; i < k->nkids; i++)
			if (needs_messages(k->kids[i]))
				return true;
		return false;
	default:
		return true;
	}
}

/* Evaluate over the view; matches as ascending view indexes. */
static int
search_run(struct search_ctx *cx, const struct skey *root, uint32_t **idx_r, size_t *n_r)
{
	struct imap_view *v = cx->s->sel;
	uint32_t *idx = NULL, maxuid = v->n ? v->uids[v->n - 1] : 0;
	size_t nidx = 0, off = 0;
	const char *error;

	if (!needs_messages(root)) {
		/* ALL, UID and sequence sets: the view is enough. */
		size_t j;

		idx = xcalloc(v->n + 1, sizeof(*idx));
		for (j = 0; j < v->n; j++) {
			struct smsg sm;

			if (imap_view_pending(v, v->uids[j]))
				continue;
			memset(&sm, 0, sizeof(sm));
			sm.seq = (uint32_t)(j + 1);
			sm.uid = v->uids[j];
			if (eval(cx, root, &sm, (uint32_t)v->n, maxuid))
				idx[nidx++] = (uint32_t)j;
		}
		*idx_r = idx;
		*n_r = nidx;
		return 0;
	}

	while (off < v->n) {
		size_t nb = v->n - off > SEARCH_BATCH ? SEARCH_BATCH : v->n - off, nm = 0, i, j = 0;
		struct store_msg *msgs = NULL;

		if (store_msgs_get(cx->s->d->store, v->id, v->uids + off, nb,
			    (cx->need_parsed ? STORE_MSGS_PARSED : 0) |
			    (cx->need_bytes ? STORE_MSGS_PREFIX : 0),
			    &msgs, &nm, &error) < 0) {
			log_error(imap_cid(cx->s), "proto=imap ev=search error=%s", lq(error));
			free(idx);
			return -1;
		}
		for (i = 0; i < nm; i++) {
			struct smsg sm;

			while (j < nb && v->uids[off + j] != msgs[i].uid)
				j++;
			if (j == nb)
				break;
			if (imap_view_pending(v, msgs[i].uid))
				continue;
			memset(&sm, 0, sizeof(sm));
			sm.seq = (uint32_t)(off + j + 1);
			sm.uid = msgs[i].uid;
			sm.m = &msgs[i];
			buf_init(&sm.bytes);
			if (eval(cx, root, &sm, (uint32_t)v->n, maxuid)) {
				if ((nidx & (nidx - 1)) == 0) {	/* 0, 1, 2, 4, ...: grow */
					idx = xrealloc(idx, (nidx ? nidx * 2 : 1) * sizeof(*idx));
					if (cx->has_modseq)
						cx->mods = xrealloc(cx->mods,
							(nidx ? nidx * 2 : 1) * sizeof(*cx->mods));
				}
				if (cx->has_modseq)
					cx->mods[nidx] = msgs[i].modseq;
				idx[nidx++] = (uint32_t)(off + j);
			}
			buf_free(&sm.bytes);
			if (sm.header_loaded)
				buf_free(&sm.header);
			mime_free(&sm.tree);
		}
		store_msgs_free(msgs, nm);
		off += nb;
	}
	*idx_r = idx;
	*n_r = nidx;
	return 0;
}

/* ---- the command ---- */

/* The search keys from cx->i on, ANDed; NULL with a BAD reply when they
 * are missing or malformed. */
static struct skey *
parse_program(struct search_ctx *cx, struct imap_cmd *cmd)
{
	struct skey *root;

	if (cx->i >= cx->n) {
		imap_reply(cmd, IMAP_BAD, "Missing search keys");
		return NULL;
	}
	root = skey_new(K_AND);
	while (cx->i < cx->n) {
		struct skey *k = parse_key(cx, 0);

		if (k == NULL) {
			imap_reply(cmd, IMAP_BAD, "%s", cx->error ? cx->error : "Invalid search");
			skey_free(root);
			return NULL;
		}
		skey_add(root, k);
	}
	return root;
}

int
imap_search_program(struct imap_session *s, struct imap_cmd *cmd,
	const struct imap_arg *args, size_t n, uint32_t **idx_r, size_t *n_r,
	int64_t *maxmod_r)
{
	struct search_ctx cx;
	struct skey *root;
	size_t i;
	int rc = 0;

	*idx_r = NULL;
	*n_r = 0;
	*maxmod_r = 0;
	memset(&cx, 0, sizeof(cx));
	cx.s = s;
	cx.args = args;
	cx.n = n;
	root = parse_program(&cx, cmd);
	if (root == NULL)
		return -1;
	if (search_run(&cx, root, idx_r, n_r) < 0) {
		imap_reply(cmd, IMAP_NO, "[UNAVAILABLE] Search failed");
		rc = -1;
	} else if (cx.has_modseq) {
		/* RFC 7162 3.1.5: a MODSEQ key enables CONDSTORE. */
		imap_condstore_enable(s);
		for (i = 0; i < *n_r; i++)
			if (cx.mods[i] > *maxmod_r)
				*maxmod_r = cx.mods[i];
	}
	free(cx.mods);
	skey_free(root);
	return rc;
}

enum {
	RET_MIN = 1 << 0,
	RET_MAX = 1 << 1,
	RET_ALL = 1 << 2,
	RET_COUNT = 1 << 3,
};

/*
 * search        = "SEARCH" [search-return-opts] SP search-program
 * search-return-opts = SP "RETURN" SP "(" [search-return-opt
 *                      *(SP search-return-opt)] ")"
 * search-return-opt  = "MIN" / "MAX" / "ALL" / "COUNT" / "SAVE" /
 *                      search-ret-opt-ext
 * search-program = ["CHARSET" SP charset SP] search-key *(SP search-key)
 *
 * RFC 9051 6.4.4: "RETURN ()" is the same as "RETURN (ALL)"; IMAP4rev2
 * answers with ESEARCH; IMAP4rev1 without RETURN gets "* SEARCH".
 */
void
imap_cmd_search(struct imap_session *s, struct imap_cmd *cmd)
{
	struct search_ctx cx;
	struct skey *root;
	unsigned ret = 0;
	bool esearch = (s->enabled & IMAP_EN_REV2) != 0;
	uint32_t *idx = NULL, *vals;
	size_t nidx = 0, i;
	int64_t maxmod = 0;
	struct buf b;

	memset(&cx, 0, sizeof(cx));
	cx.s = s;
	cx.args = cmd->args;
	cx.n = cmd->nargs;
	if (cx.n >= 2 && imap_arg_atom_eq(&cx.args[0], "RETURN")) {
		const struct imap_arg *opts;
		size_t nopts;

		if (!imap_arg_list(&cx.args[1], &opts, &nopts)) {
			imap_reply(cmd, IMAP_BAD, "Invalid RETURN options");
			return;
		}
		for (i = 0; i < nopts; i++) {
			if (imap_arg_atom_eq(&opts[i], "MIN"))
				ret |= RET_MIN;
			else if (imap_arg_atom_eq(&opts[i], "MAX"))
				ret |= RET_MAX;
			else if (imap_arg_atom_eq(&opts[i], "ALL"))
				ret |= RET_ALL;
			else if (imap_arg_atom_eq(&opts[i], "COUNT"))
				ret |= RET_COUNT;
			else {
				imap_reply(cmd, IMAP_BAD, "Unsupported RETURN option");
				return;
			}
		}
		if (ret == 0)
			ret = RET_ALL;
		esearch = true;
		cx.i = 2;
	} else if (esearch) {
		ret = RET_ALL;
	}
	if (cx.n - cx.i >= 2 && imap_arg_atom_eq(&cx.args[cx.i], "CHARSET")) {
		const char *cs;

		if (!imap_arg_astring(&cx.args[cx.i + 1], &cs, NULL) ||
		    !(ms_strcaseeq(cs, "UTF-8") || ms_strcaseeq(cs, "US-ASCII"))) {
			imap_reply(cmd, IMAP_NO, "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset");
			return;
		}
		cx.i += 2;
	}
	root = parse_program(&cx, cmd);
	if (root == NULL)
		return;
	if (search_run(&cx, root, &idx, &nidx) < 0) {
		imap_reply(cmd, IMAP_NO, "[UNAVAILABLE] Search failed");
		free(cx.mods);
		skey_free(root);
		return;
	}
	/* RFC 7162 3.1.5: with a MODSEQ key the result ends with the highest
	 * modseq of the messages returned (for MIN/MAX alone: of those). */
	if (cx.has_modseq && nidx > 0) {
		imap_condstore_enable(s);
		if (esearch && !(ret & (RET_ALL | RET_COUNT))) {
			if (ret & RET_MIN)
				maxmod = cx.mods[0];
			if ((ret & RET_MAX) && cx.mods[nidx - 1] > maxmod)
				maxmod = cx.mods[nidx - 1];
		} else {
			for (i = 0; i < nidx; i++)
				if (cx.mods[i] > maxmod)
					maxmod = cx.mods[i];
		}
	} else if (cx.has_modseq) {
		imap_condstore_enable(s);
	}
	vals = xmalloc((nidx + 1) * sizeof(*vals));
	for (i = 0; i < nidx; i++)
		vals[i] = cmd->uid ? s->sel->uids[idx[i]] : idx[i] + 1;
	buf_init(&b);
	if (!esearch) {
		buf_puts(&b, "* SEARCH");
		for (i = 0; i < nidx; i++)
			buf_printf(&b, " %u", vals[i]);
		if (maxmod > 0)
			buf_printf(&b, " (MODSEQ %lld)", (long long)maxmod);
	} else {
		/* RFC 4731 section 3.1: MIN/MAX/ALL are left out when nothing
		 * matched; COUNT is always given. */
		buf_puts(&b, "* ESEARCH (TAG ");
		imap_buf_string(s, &b, cmd->tag, strlen(cmd->tag));
		buf_putc(&b, ')');
		if (cmd->uid)
			buf_puts(&b, " UID");
		if ((ret & RET_MIN) && nidx > 0)
			buf_printf(&b, " MIN %u", vals[0]);
		if ((ret & RET_MAX) && nidx > 0)
			buf_printf(&b, " MAX %u", vals[nidx - 1]);
		if (ret & RET_COUNT)
			buf_printf(&b, " COUNT %zu", nidx);
		if ((ret & RET_ALL) && nidx > 0) {
			buf_puts(&b, " ALL ");
			imap_seqset_format(&b, vals, nidx);
		}
		if (maxmod > 0)
			buf_printf(&b, " MODSEQ %lld", (long long)maxmod);
	}
	buf_puts(&b, "\r\n");
	imap_write(s, b.data, b.len);
	buf_free(&b);
	free(vals);
	free(idx);
	free(cx.mods);
	skey_free(root);
}
