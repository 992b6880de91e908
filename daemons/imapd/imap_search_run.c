/* Running a search program (imap_search_private.h) over a mailbox: the
 * keys evaluated on a message, the conditions the database can check
 * first (the prefilter), INPROGRESS reports, and the ways through a
 * mailbox: the view's state for flag programs, a scan of the rows' small
 * columns (with the stored header fields) for programs that need no
 * message text, and batches of whole rows and files for the rest. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"
#include "mail/header.h"
#include "mail/mime.h"
#include "imap_search.h"
#include "imap_search_private.h"
#include "imap_utf7.h"

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
need_bytes(struct imap_search *cx, struct smsg *sm)
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
need_tree(struct imap_search *cx, struct smsg *sm)
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
need_header(struct imap_search *cx, struct smsg *sm)
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
match_header(struct imap_search *cx, struct smsg *sm, const char *field, const char *value)
{
	struct mail_header_iter it;
	const char *name, *val;
	size_t namelen, vallen;
	struct buf unfolded, decoded;
	bool found = false;

	/* The stored fields are those of the header, in its order
	 * (mail_header_select): the same answer without the file. */
	if (sm->m->have_fields && store_is_search_field(field)) {
		mail_header_iter_init(&it, sm->m->fields.data, sm->m->fields.len);
	} else {
		need_header(cx, sm);
		if (sm->header_failed)
			return false;
		mail_header_iter_init(&it, sm->header.data, sm->header.len);
	}
	buf_init(&unfolded);
	buf_init(&decoded);
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
match_body(struct imap_search *cx, struct smsg *sm, const char *needle)
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

/* Is uid in the saved result "$"? Only programs over the selected
 * mailbox get here with "$" (imap_search_uses_saved is checked first). */
static bool
in_saved(const struct imap_search *cx, uint32_t uid)
{
	const struct imap_view *v = cx->s->sel;
	size_t lo = 0, hi;

	if (v == NULL)
		return false;
	hi = v->nsaved;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v->saved[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < v->nsaved && v->saved[lo] == uid;
}

static bool
eval(struct imap_search *cx, const struct skey *k, struct smsg *sm, uint32_t nmsgs,
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
	case K_SEQ:
		if (k->set.saved)
			return in_saved(cx, sm->uid);
		if (k->op == K_UID)
			return imap_seqset_contains(&k->set, sm->uid, maxuid);
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
	case K_OLDER:
		return m->received <= cx->now - (int64_t)k->num;
	case K_YOUNGER:
		return m->received >= cx->now - (int64_t)k->num;
	case K_SAVEDBEFORE:
		return local_date(m->savedate) < k->date;
	case K_SAVEDON:
		return local_date(m->savedate) == k->date;
	case K_SAVEDSINCE:
		return local_date(m->savedate) >= k->date;
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

/* Whether k looks at nothing but what the view's state holds (flags,
 * keywords, modseq) and the numbering: answered without the database
 * (imap_view_state.c). */
static bool
state_keys_only(const struct skey *k)
{
	size_t i;

	switch (k->op) {
	case K_ALL:
	case K_NONE:
	case K_FLAG:
	case K_NOFLAG:
	case K_KEYWORD:
	case K_UNKEYWORD:
	case K_MODSEQ:
	case K_UID:
	case K_SEQ:
		return true;
	case K_NOT:
	case K_OR:
	case K_AND:
		for (i = 0; i < k->nkids; i++)
			if (!state_keys_only(k->kids[i]))
				return false;
		return true;
	default:
		return false;
	}
}

void
imap_search_refresh(struct imap_search *q, bool allow_expunge)
{
	if (needs_messages(q->root) && state_keys_only(q->root))
		(void)imap_view_state_fresh(q->s, allow_expunge);
}

/* ---- what the database can do ---- */

/* Unix time of local midnight starting date (yyyymmdd) plus days: a
 * message's local_date is before date exactly when it was received before
 * that moment. */
static int64_t
local_midnight(int date, int days)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = date / 10000 - 1900;
	tm.tm_mon = date / 100 % 100 - 1;
	tm.tm_mday = date % 100 + days;
	tm.tm_isdst = -1;
	return (int64_t)mktime(&tm);
}

static void
max_i64(int64_t *a, int64_t b)
{
	if (b > *a)
		*a = b;
}

static void
min_i64(int64_t *a, int64_t b)
{
	if (b < *a)
		*a = b;
}

/* The conditions every match must meet, from the keys ANDed at the top of
 * the program: flag, keyword, size, modseq and date keys become a filter
 * the database applies (the tree is still evaluated on what comes back),
 * UID and sequence sets narrow the UID range [*lo, *hi] to scan. Keywords
 * point into the tree; kw and nokw are malloc'd arrays for them. */
struct prefilter {
	struct store_msg_filter f;
	const char **kw, **nokw;
	uint32_t lo, hi;	/* lo > hi: nothing can match */
};

static void
prefilter_add(struct imap_search *q, const struct imap_search_box *box, const struct skey *k,
	struct prefilter *p)
{
	struct store_msg_filter *f = &p->f;
	struct imap_seqrange *r;
	size_t i, nr;

	switch (k->op) {
	case K_AND:
		for (i = 0; i < k->nkids; i++)
			prefilter_add(q, box, k->kids[i], p);
		break;
	case K_NONE:
		p->lo = 1;
		p->hi = 0;
		break;
	case K_NOT:
		/* NOT of a flag or keyword key is the opposite key (each
		 * flag key tests one bit); NOT NOT is the key itself. */
		switch (k->kids[0]->op) {
		case K_FLAG:
			f->flags_clear |= k->kids[0]->flag;
			break;
		case K_NOFLAG:
			f->flags_set |= k->kids[0]->flag;
			break;
		case K_KEYWORD:
		case K_UNKEYWORD: {
			struct skey opp = *k->kids[0];

			opp.op = opp.op == K_KEYWORD ? K_UNKEYWORD : K_KEYWORD;
			prefilter_add(q, box, &opp, p);
			break;
		}
		case K_NOT:
			prefilter_add(q, box, k->kids[0]->kids[0], p);
			break;
		default:
			break;
		}
		break;
	case K_FLAG:
		f->flags_set |= k->flag;
		break;
	case K_NOFLAG:
		f->flags_clear |= k->flag;
		break;
	case K_KEYWORD:
		p->kw = xrealloc(p->kw, (f->nkeywords + 1) * sizeof(*p->kw));
		p->kw[f->nkeywords++] = k->kw;
		f->keywords = p->kw;
		break;
	case K_UNKEYWORD:
		p->nokw = xrealloc(p->nokw, (f->nno_keywords + 1) * sizeof(*p->nokw));
		p->nokw[f->nno_keywords++] = k->kw;
		f->no_keywords = p->nokw;
		break;
	case K_LARGER:
		max_i64(&f->size_gt, (int64_t)k->num);
		break;
	case K_SMALLER:
		if (f->size_lt < 0 || (int64_t)k->num < f->size_lt)
			f->size_lt = (int64_t)k->num;
		break;
	case K_MODSEQ:
		max_i64(&f->modseq_ge, (int64_t)k->num);
		break;
	case K_BEFORE:
		min_i64(&f->received_lt, local_midnight(k->date, 0));
		break;
	case K_SINCE:
		max_i64(&f->received_ge, local_midnight(k->date, 0));
		break;
	case K_ON:
		max_i64(&f->received_ge, local_midnight(k->date, 0));
		min_i64(&f->received_lt, local_midnight(k->date, 1));
		break;
	case K_SAVEDBEFORE:
		min_i64(&f->saved_lt, local_midnight(k->date, 0));
		break;
	case K_SAVEDSINCE:
		max_i64(&f->saved_ge, local_midnight(k->date, 0));
		break;
	case K_SAVEDON:
		max_i64(&f->saved_ge, local_midnight(k->date, 0));
		min_i64(&f->saved_lt, local_midnight(k->date, 1));
		break;
	case K_OLDER:
		/* whole seconds: received <= now - n */
		min_i64(&f->received_lt, q->now - (int64_t)k->num + 1);
		break;
	case K_YOUNGER:
		max_i64(&f->received_ge, q->now - (int64_t)k->num);
		break;
	case K_UID:
	case K_SEQ:
		if (k->set.saved) {
			const struct imap_view *v = q->s->sel;

			if (v == NULL || v->nsaved == 0) {
				p->lo = 1;
				p->hi = 0;
				break;
			}
			if (v->saved[0] > p->lo)
				p->lo = v->saved[0];
			if (v->saved[v->nsaved - 1] < p->hi)
				p->hi = v->saved[v->nsaved - 1];
			break;
		}
		r = imap_seqset_resolve(&k->set, k->op == K_UID ? box->uids[box->n - 1] :
			(uint32_t)box->n, &nr);
		if (nr == 0) {
			p->lo = 1;
			p->hi = 0;
		} else if (k->op == K_UID) {
			if (r[0].lo > p->lo)
				p->lo = r[0].lo;
			if (r[nr - 1].hi < p->hi)
				p->hi = r[nr - 1].hi;
		} else if (r[0].lo > box->n) {
			p->lo = 1;
			p->hi = 0;
		} else {
			uint32_t first = box->uids[r[0].lo - 1];
			uint32_t last = box->uids[(r[nr - 1].hi > box->n ? box->n : r[nr - 1].hi) - 1];

			if (first > p->lo)
				p->lo = first;
			if (last < p->hi)
				p->hi = last;
		}
		free(r);
		break;
	case K_HEADER:
		/* Subject searches (SUBJECT, HEADER Subject) first ask the
		 * database which stored subjects may match, so only those
		 * messages are read. */
		if (ms_strcaseeq(k->str, "Subject") && f->subject_contains == NULL &&
		    k->str2 != NULL && imap_utf8_valid(k->str2, strlen(k->str2)))
			f->subject_contains = k->str2;
		/* and all stored fields (From, To, ...) ask the stored text */
		if (store_is_search_field(k->str) && f->fields_contains == NULL &&
		    k->str2 != NULL && imap_utf8_valid(k->str2, strlen(k->str2)))
			f->fields_contains = k->str2;
		break;
	default:
		/* OR, NOT and keys on the message text: evaluated here */
		break;
	}
}

/* ---- progress (RFC 9585) ---- */

/*
 * resp-text-code =/ "INPROGRESS" [ SP "(" progress-tag SP progress-count
 *                   SP progress-goal ")" ]
 * progress-tag = tag-string / nil; progress-count = number;
 * progress-goal = nz-number / nil
 * Sent between steps once interval_ms passed since the start or the last
 * report. A tag with "]" would end the response code early: NIL then.
 */
static void
search_progress(struct imap_search *q, uint64_t done_here)
{
	uint64_t done = q->done + done_here;
	int64_t now = ms_mono_ms();
	struct buf b;

	if (done == 0 || now - q->last_report_ms < q->interval_ms)
		return;
	q->last_report_ms = now;
	if (q->goal > 0 && done > q->goal)
		done = q->goal;
	buf_init(&b);
	buf_puts(&b, "* OK [INPROGRESS (");
	if (strchr(q->tag, ']') != NULL)
		buf_puts(&b, "NIL");
	else
		imap_buf_string(q->s, &b, q->tag, strlen(q->tag));
	buf_printf(&b, " %llu ", (unsigned long long)done);
	if (q->goal > 0)
		buf_printf(&b, "%llu", (unsigned long long)q->goal);
	else
		buf_puts(&b, "NIL");
	buf_puts(&b, ")] Searching\r\n");
	imap_write(q->s, b.data, b.len);
	(void)conn_flush(q->s->c);
	buf_free(&b);
}

/* ---- running a program over a mailbox ---- */

struct matches {
	uint32_t *idx;
	size_t n, cap;
};

/* Append a box index to mt; with mods (the result, not candidates) and a
 * MODSEQ key, its modseq to q->mods in step. */
static void
add_index(struct imap_search *q, struct matches *mt, bool mods, uint32_t index,
	int64_t modseq)
{
	mods = mods && q->need.modseq;
	if (mt->n == mt->cap) {
		mt->cap = mt->cap ? mt->cap * 2 : 64;
		mt->idx = xrealloc(mt->idx, mt->cap * sizeof(*mt->idx));
		if (mods)
			q->mods = xrealloc(q->mods, mt->cap * sizeof(*q->mods));
	}
	if (mods)
		q->mods[mt->n] = modseq;
	mt->idx[mt->n++] = index;
}

static void
add_match(struct imap_search *q, struct matches *mt, uint32_t index, int64_t modseq)
{
	add_index(q, mt, true, index, modseq);
}

/* The program over the view's state (state_keys_only programs). */
static void
scan_state(struct imap_search *q, const struct imap_search_box *box, const struct prefilter *p,
	struct matches *mt)
{
	const struct imap_view *v = q->s->sel;
	uint32_t maxuid = box->uids[box->n - 1];
	size_t j;

	for (j = 0; j < box->n; j++) {
		struct store_msg m;
		struct smsg sm;
		uint32_t uid = box->uids[j];

		if (uid < p->lo || uid > p->hi || imap_view_pending(v, uid))
			continue;
		memset(&m, 0, sizeof(m));
		imap_view_state_get(v, j, &m);
		memset(&sm, 0, sizeof(sm));
		sm.seq = (uint32_t)(j + 1);
		sm.uid = uid;
		sm.m = &m;
		if (eval(q, q->root, &sm, (uint32_t)box->n, maxuid))
			add_match(q, mt, (uint32_t)j, m.modseq);
	}
}

/* The rows of box in [p->lo, p->hi] meeting the prefilter, in chunks of
 * small columns. With evaluate, the program is run on each (it needs no
 * message text) and the matches collected; without, every row returned is
 * a candidate for the batched evaluation. */
static int
scan_rows(struct imap_search *q, const struct imap_search_box *box, const struct prefilter *p,
	bool evaluate, struct matches *mt)
{
	const struct imap_view *v = box->selected ? q->s->sel : NULL;
	uint32_t after = p->lo - 1, maxuid = box->uids[box->n - 1];
	size_t j = 0;
	const char *error;

	if (evaluate && v != NULL && v->ms != NULL && v->uids == box->uids &&
	    state_keys_only(q->root)) {
		scan_state(q, box, p, mt);
		return 0;
	}
	for (;;) {
		struct store_msg *rows = NULL;
		size_t nrows = 0, i;

		search_progress(q, j);
		if (store_msgs_scan(q->s->d->store, box->id, after, p->hi, SEARCH_SCAN_CHUNK,
			    &p->f, (evaluate && q->need.keywords ? STORE_SCAN_KEYWORDS : 0) |
			    (evaluate && q->need.fields ? STORE_SCAN_FIELDS : 0),
			    &rows, &nrows, &error) < 0) {
			log_error(imap_cid(q->s), "proto=imap ev=search error=%s", lq(error));
			return -1;
		}
		for (i = 0; i < nrows; i++) {
			struct smsg sm;

			/* both ascending: the row's place among the client's
			 * messages (rows the client does not know are skipped) */
			while (j < box->n && box->uids[j] < rows[i].uid)
				j++;
			if (j == box->n)
				break;
			if (box->uids[j] != rows[i].uid)
				continue;
			if (v != NULL && imap_view_pending(v, rows[i].uid))
				continue;
			/* Header keys may read files (rows stored without
			 * their fields): steps as in run_batches. */
			if (evaluate && q->need.fields && j > 0 && j % SEARCH_BATCH == 0)
				search_progress(q, j);
			if (!evaluate) {
				add_index(q, mt, false, (uint32_t)j, 0);
				continue;
			}
			memset(&sm, 0, sizeof(sm));
			sm.seq = (uint32_t)(j + 1);
			sm.uid = rows[i].uid;
			sm.m = &rows[i];
			if (eval(q, q->root, &sm, (uint32_t)box->n, maxuid))
				add_match(q, mt, (uint32_t)j, rows[i].modseq);
			/* (a row without stored fields had its header read) */
			if (sm.header_loaded)
				buf_free(&sm.header);
		}
		after = nrows > 0 ? rows[nrows - 1].uid : p->hi;
		store_msgs_free(rows, nrows);
		if (nrows < SEARCH_SCAN_CHUNK || j == box->n)
			break;
	}
	return 0;
}

/* The program on the messages at box indexes cand[0..ncand) (NULL: all of
 * box), read in batches with what the keys need. */
static int
run_batches(struct imap_search *q, const struct imap_search_box *box, const uint32_t *cand,
	size_t ncand, struct matches *mt)
{
	const struct imap_view *v = box->selected ? q->s->sel : NULL;
	uint32_t maxuid = box->uids[box->n - 1];
	uint32_t *uids = xmalloc(SEARCH_BATCH * sizeof(*uids));
	uint32_t *pos = xmalloc(SEARCH_BATCH * sizeof(*pos));
	size_t off = 0;
	const char *error;
	int ret = 0;

	while (off < ncand) {
		size_t nb = 0, nm = 0, i, j = 0;
		struct store_msg *msgs = NULL;

		search_progress(q, cand != NULL ? cand[off] : off);
		for (; off < ncand && nb < SEARCH_BATCH; off++) {
			uint32_t x = cand != NULL ? cand[off] : (uint32_t)off;

			if (v != NULL && imap_view_pending(v, box->uids[x]))
				continue;
			pos[nb] = x;
			uids[nb++] = box->uids[x];
		}
		if (nb == 0)
			continue;
		if (store_msgs_get(q->s->d->store, box->id, uids, nb,
			    (q->need.parsed ? STORE_MSGS_PARSED : 0) |
			    (q->need.bytes || q->need.fields ? STORE_MSGS_PREFIX : 0),
			    &msgs, &nm, &error) < 0) {
			log_error(imap_cid(q->s), "proto=imap ev=search error=%s", lq(error));
			ret = -1;
			break;
		}
		for (i = 0; i < nm; i++) {
			struct smsg sm;

			while (j < nb && uids[j] != msgs[i].uid)
				j++;
			if (j == nb)
				break;
			memset(&sm, 0, sizeof(sm));
			sm.seq = pos[j] + 1;
			sm.uid = msgs[i].uid;
			sm.m = &msgs[i];
			buf_init(&sm.bytes);
			if (eval(q, q->root, &sm, (uint32_t)box->n, maxuid))
				add_match(q, mt, pos[j], msgs[i].modseq);
			buf_free(&sm.bytes);
			if (sm.header_loaded)
				buf_free(&sm.header);
			mime_free(&sm.tree);
		}
		store_msgs_free(msgs, nm);
	}
	free(uids);
	free(pos);
	return ret;
}

int
imap_search_run(struct imap_search *q, const struct imap_search_box *box,
	struct imap_search_result *res)
{
	const struct imap_view *v = box->selected ? q->s->sel : NULL;
	struct matches mt, cand;
	struct prefilter p;
	size_t i;
	int ret = 0;

	memset(res, 0, sizeof(*res));
	memset(&mt, 0, sizeof(mt));
	memset(&cand, 0, sizeof(cand));
	free(q->mods);
	q->mods = NULL;
	if (box->n == 0)
		return 0;
	if (!needs_messages(q->root)) {
		/* ALL, UID and sequence sets: the numbering is enough. */
		uint32_t maxuid = box->uids[box->n - 1];

		for (i = 0; i < box->n; i++) {
			struct smsg sm;

			if (v != NULL && imap_view_pending(v, box->uids[i]))
				continue;
			memset(&sm, 0, sizeof(sm));
			sm.seq = (uint32_t)(i + 1);
			sm.uid = box->uids[i];
			if (eval(q, q->root, &sm, (uint32_t)box->n, maxuid))
				add_match(q, &mt, (uint32_t)i, 0);
		}
		goto done;
	}
	memset(&p, 0, sizeof(p));
	store_msg_filter_init(&p.f);
	p.lo = box->uids[0];
	p.hi = box->uids[box->n - 1];
	prefilter_add(q, box, q->root, &p);
	if (p.lo > p.hi) {
		/* nothing can match */
	} else if (!q->need.bytes && !q->need.parsed) {
		/* Flags, keywords, sizes, dates: the rows' small columns,
		 * filtered by the database as far as it can. */
		ret = scan_rows(q, box, &p, true, &mt);
	} else if (store_msg_filter_active(&p.f) || p.lo > box->uids[0] ||
		   p.hi < box->uids[box->n - 1]) {
		/* Text keys with conditions on the rows: read the text of
		 * the rows meeting the conditions only. */
		ret = scan_rows(q, box, &p, false, &cand);
		if (ret == 0)
			ret = run_batches(q, box, cand.idx, cand.n, &mt);
	} else {
		ret = run_batches(q, box, NULL, box->n, &mt);
	}
	free(p.kw);
	free(p.nokw);
	free(cand.idx);
	if (ret < 0) {
		free(mt.idx);
		return -1;
	}
done:
	q->done += box->n;
	res->idx = mt.idx;
	res->n = mt.n;
	/* RFC 7162 3.1.5: with a MODSEQ key the result ends with the highest
	 * modseq of the messages returned (for MIN/MAX alone: of those). */
	if (q->need.modseq && mt.n > 0) {
		if (q->ret != 0 && !(q->ret & (IMAP_RET_ALL | IMAP_RET_COUNT))) {
			if (q->ret & IMAP_RET_MIN)
				res->maxmod = q->mods[0];
			if ((q->ret & IMAP_RET_MAX) && q->mods[mt.n - 1] > res->maxmod)
				res->maxmod = q->mods[mt.n - 1];
		} else {
			for (i = 0; i < mt.n; i++)
				if (q->mods[i] > res->maxmod)
					res->maxmod = q->mods[i];
		}
	}
	return 0;
}

void
imap_search_result_free(struct imap_search_result *res)
{
	free(res->idx);
	memset(res, 0, sizeof(*res));
}

