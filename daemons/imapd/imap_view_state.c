/* The per-message state a session keeps of its selected mailbox: flags,
 * keywords and modseq of every message, parallel to the view's UIDs.
 *
 * A client resynchronizing asks FETCH 1:* (UID FLAGS) and searches on
 * \Seen or \Flagged all the time; answered from the database, each reads
 * every row of the mailbox. The state is loaded with the UIDs at SELECT (the
 * same scan) and imap_sync, which already reads every change since the
 * view's modseq to report it, applies the changes to it. So an answer from
 * the state is exactly as current as the sync that precedes it
 * (imap_view_state_fresh), and costs one small query instead of a scan.
 *
 * Keyword lists repeat: most messages have none, the rest share a few
 * combinations. Each distinct list is kept once (kwsets, found again by
 * a hash of its text) and messages refer to it by number, so the state is
 * 16 bytes a message. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "imap_session.h"

/* FNV-1a: short strings, a handful of distinct values. */
static uint32_t
kw_hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

static void
kw_rehash(struct imap_view *v)
{
	size_t i, cap = v->kwhashcap ? v->kwhashcap * 2 : 16;

	free(v->kwhash);
	v->kwhash = xcalloc(cap, sizeof(*v->kwhash));
	v->kwhashcap = cap;
	for (i = 0; i < v->nkwsets; i++) {
		const char *j = v->kwsets[i].joined;
		size_t h = kw_hash(j, strlen(j)) & (cap - 1);

		while (v->kwhash[h] != 0)
			h = (h + 1) & (cap - 1);
		v->kwhash[h] = (uint32_t)(i + 1);
	}
}

/* set->v from set->joined, words separated by spaces. */
static void
split_words(struct imap_kwset *set)
{
	const char *p = set->joined;

	set->v = NULL;
	set->n = 0;
	while (*p != '\0') {
		size_t len;

		while (*p == ' ')
			p++;
		len = strcspn(p, " ");
		if (len == 0)
			break;
		set->v = xrealloc(set->v, (set->n + 1) * sizeof(*set->v));
		set->v[set->n++] = xstrndup(p, len);
		p += len;
	}
}

/* The number (1 + index) of the keyword list joined[0..n), added when
 * new; 0 for the empty list. */
static uint32_t
kw_intern(struct imap_view *v, const char *joined, size_t n)
{
	struct imap_kwset *set;
	size_t h;

	if (n == 0)
		return 0;
	if (v->kwhashcap == 0 || 2 * (v->nkwsets + 1) > v->kwhashcap)
		kw_rehash(v);
	h = kw_hash(joined, n) & (v->kwhashcap - 1);
	while (v->kwhash[h] != 0) {
		const char *j = v->kwsets[v->kwhash[h] - 1].joined;

		if (strlen(j) == n && memcmp(j, joined, n) == 0)
			return v->kwhash[h];
		h = (h + 1) & (v->kwhashcap - 1);
	}
	v->kwsets = xrealloc(v->kwsets, (v->nkwsets + 1) * sizeof(*v->kwsets));
	set = &v->kwsets[v->nkwsets++];
	set->joined = xstrndup(joined, n);
	split_words(set);
	v->kwhash[h] = (uint32_t)v->nkwsets;
	return (uint32_t)v->nkwsets;
}

void
imap_view_grow(struct imap_view *v)
{
	if (v->n < v->cap)
		return;
	v->cap = v->cap ? v->cap * 2 : 64;
	v->uids = xrealloc(v->uids, v->cap * sizeof(*v->uids));
	if (v->ms != NULL)
		v->ms = xrealloc(v->ms, v->cap * sizeof(*v->ms));
}

void
imap_view_state_set(struct imap_view *v, size_t pos, unsigned flags, int64_t modseq,
	char *const *kw, size_t nkw)
{
	struct imap_msgstate *m;
	struct buf j;
	size_t i;

	if (v->ms == NULL || pos >= v->n)
		return;
	m = &v->ms[pos];
	m->flags = flags;
	m->modseq = modseq;
	if (nkw == 0) {
		m->kw = 0;
		return;
	}
	buf_init(&j);
	for (i = 0; i < nkw; i++) {
		if (i > 0)
			buf_putc(&j, ' ');
		buf_puts(&j, kw[i]);
	}
	m->kw = kw_intern(v, j.data, j.len);
	buf_free(&j);
}

void
imap_view_state_get(const struct imap_view *v, size_t pos, struct store_msg *m)
{
	const struct imap_msgstate *st = &v->ms[pos];

	m->uid = v->uids[pos];
	m->flags = st->flags;
	m->modseq = st->modseq;
	if (st->kw != 0) {
		m->keywords = v->kwsets[st->kw - 1].v;
		m->nkeywords = v->kwsets[st->kw - 1].n;
	} else {
		m->keywords = NULL;
		m->nkeywords = 0;
	}
}

void
imap_view_state_drop(struct imap_view *v)
{
	size_t i, k;

	for (i = 0; i < v->nkwsets; i++) {
		free(v->kwsets[i].joined);
		for (k = 0; k < v->kwsets[i].n; k++)
			free(v->kwsets[i].v[k]);
		free(v->kwsets[i].v);
	}
	free(v->kwsets);
	free(v->kwhash);
	free(v->ms);
	v->kwsets = NULL;
	v->nkwsets = 0;
	v->kwhash = NULL;
	v->kwhashcap = 0;
	v->ms = NULL;
}

static void
load_row(void *ctx, size_t n, uint32_t uid, unsigned flags, int64_t modseq,
	const char *keywords)
{
	struct imap_view *v = ctx;
	struct imap_msgstate *m;

	if (v->cap == 0) {
		v->cap = n;
		v->uids = xmalloc(n * sizeof(*v->uids));
		v->ms = xmalloc(n * sizeof(*v->ms));
	}
	if (v->n == v->cap)
		return;		/* (n is the same for every call) */
	v->uids[v->n] = uid;
	m = &v->ms[v->n++];
	m->flags = flags;
	m->modseq = modseq;
	m->kw = kw_intern(v, keywords, strlen(keywords));
}

int
imap_view_load(struct imap_session *s, struct imap_view *v, const char **error_r)
{
	v->n = v->cap = 0;
	if (store_mailbox_states(s->d->store, v->id, load_row, v, error_r) < 0) {
		free(v->uids);
		v->uids = NULL;
		imap_view_state_drop(v);
		v->n = v->cap = 0;
		return -1;
	}
	if (v->ms == NULL) {
		/* an empty mailbox: the state is kept all the same */
		v->ms = xmalloc(sizeof(*v->ms));
		v->uids = xmalloc(sizeof(*v->uids));
		v->cap = 1;
	}
	return 0;
}

bool
imap_view_state_fresh(struct imap_session *s, bool allow_expunge)
{
	if (s->sel == NULL || s->sel->ms == NULL)
		return false;
	/* A failed sync drops the state (imap_sync), so what is left is
	 * current. */
	(void)imap_sync(s, allow_expunge, true);
	return s->sel != NULL && s->sel->ms != NULL;
}
