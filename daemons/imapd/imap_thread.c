/* RFC 5256 threading without a mailbox: message-ID lists and the
 * ORDEREDSUBJECT and REFERENCES algorithms. Everything works on plain
 * arrays and indexes; the trees are walked with explicit stacks, not
 * recursion, since a hostile References chain may be as deep as the
 * mailbox is large and a session thread has a small stack. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "imap_thread.h"

/* ---- message IDs ---- */

/*
 * msg-id = [CFWS] "<" id-left "@" id-right ">" [CFWS] (RFC 5322 3.6.4).
 * Lists (References, In-Reply-To) are scanned for "<...>" that contain an
 * "@" and no whitespace outside quoted strings (obs-id-left allows a
 * quoted local-part); comments between IDs are skipped. The text between
 * the brackets is the ID, compared case-sensitively (RFC 5256 4 (1)(A)).
 * next_msgid finds the next one from *pos on: true with its text at
 * s[*start_r..+*len_r), *pos moved past it.
 */
static bool
next_msgid(const char *s, size_t n, size_t *pos, size_t *start_r, size_t *len_r)
{
	size_t i = *pos, j, depth;

	while (i < n) {
		bool at = false, ok = true, quoted = false;

		if (s[i] == '(') {
			/* A comment, nested, with quoted-pairs. */
			for (depth = 0; i < n; i++) {
				if (s[i] == '\\')
					i++;
				else if (s[i] == '(')
					depth++;
				else if (s[i] == ')' && --depth == 0)
					break;
			}
			i++;
			continue;
		}
		if (s[i] != '<') {
			i++;
			continue;
		}
		for (j = i + 1; j < n; j++) {
			char c = s[j];

			if (quoted) {
				if (c == '\\')
					j++;
				else if (c == '"')
					quoted = false;
				continue;
			}
			if (c == '"')
				quoted = true;
			else if (c == '@')
				at = true;
			else if (c == '>' || c == '<')
				break;
			else if ((unsigned char)c <= ' ' || c == 0x7f)
				ok = false;
		}
		if (j < n && s[j] == '>' && at && ok) {
			*start_r = i + 1;
			*len_r = j - i - 1;
			*pos = j + 1;
			return true;
		}
		i++;	/* not an ID: go on after the "<" */
	}
	*pos = n;
	return false;
}

size_t
imap_thread_msgids(const char *s, size_t n, size_t max, bool last, char ***ids_r,
	size_t count)
{
	size_t pos = 0, start, len, total = 0, skip = 0, seen = 0, kept = 0;

	if (last) {
		while (next_msgid(s, n, &pos, &start, &len))
			total++;
		if (total > max)
			skip = total - max;
		pos = 0;
	}
	while (kept < max && next_msgid(s, n, &pos, &start, &len)) {
		if (seen++ < skip)
			continue;
		kept++;
		*ids_r = xrealloc(*ids_r, (count + 1) * sizeof(**ids_r));
		(*ids_r)[count++] = xstrndup(s + start, len);
	}
	return count;
}

void
imap_thread_msgids_free(char **ids, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

/* ---- trees ---- */

#define NONE (-1)
#define ROOT 0

/* A node of the thread tree: a message (msg >= 0) or a dummy. Children
 * are a doubly linked list, so unlinking is O(1). */
struct tnode {
	int msg;
	int parent, first, last, prev, next;
};

struct tree {
	const struct imap_thread_msg *msgs;
	struct tnode *v;
	size_t n, cap;
};

static int
node_new(struct tree *t, int msg)
{
	struct tnode *x;

	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->v = xrealloc(t->v, t->cap * sizeof(*t->v));
	}
	x = &t->v[t->n];
	x->msg = msg;
	x->parent = x->first = x->last = x->prev = x->next = NONE;
	return (int)t->n++;
}

static void
node_unlink(struct tree *t, int k)
{
	struct tnode *x = &t->v[k];

	if (x->parent == NONE)
		return;
	if (x->prev != NONE)
		t->v[x->prev].next = x->next;
	else
		t->v[x->parent].first = x->next;
	if (x->next != NONE)
		t->v[x->next].prev = x->prev;
	else
		t->v[x->parent].last = x->prev;
	x->parent = x->prev = x->next = NONE;
}

/* Make k (unlinked) the last child of p. */
static void
node_append(struct tree *t, int p, int k)
{
	struct tnode *x = &t->v[k];

	x->parent = p;
	x->prev = t->v[p].last;
	x->next = NONE;
	if (x->prev != NONE)
		t->v[x->prev].next = k;
	else
		t->v[p].first = k;
	t->v[p].last = k;
}

/* Put k (unlinked) just before sibling s. */
static void
node_insert_before(struct tree *t, int s, int k)
{
	struct tnode *x = &t->v[k];

	x->parent = t->v[s].parent;
	x->next = s;
	x->prev = t->v[s].prev;
	if (x->prev != NONE)
		t->v[x->prev].next = k;
	else
		t->v[x->parent].first = k;
	t->v[s].prev = k;
}

/* Would making p the parent of c close a loop (p is c or below it)? */
static bool
would_loop(const struct tree *t, int p, int c)
{
	if (t->v[c].first == NONE)
		return p == c;
	for (; p != NONE; p = t->v[p].parent)
		if (p == c)
			return true;
	return false;
}

/* The message a node sorts by: itself, or for a dummy its first child
 * (section 4 steps 4 and 6), looked through as far as needed. */
static int
node_msg(const struct tree *t, int k)
{
	while (k != NONE && t->v[k].msg < 0)
		k = t->v[k].first;
	return k == NONE ? -1 : t->v[k].msg;
}

/* Sent date, then mailbox order (RFC 5256 2.2 and section 2). Messages
 * sort before nodes without any (which pruning has removed anyway). */
static int
msg_cmp(const struct imap_thread_msg *msgs, int a, int b)
{
	if (a < 0 || b < 0)
		return (a < 0) - (b < 0);
	if (msgs[a].date != msgs[b].date)
		return msgs[a].date < msgs[b].date ? -1 : 1;
	return (a > b) - (a < b);
}

static int
node_cmp(const void *x, const void *y, void *ctx)
{
	const struct tree *t = ctx;

	return msg_cmp(t->msgs, node_msg(t, *(const int *)x), node_msg(t, *(const int *)y));
}

/* Sort the children of p by sent date. */
static void
sort_children(struct tree *t, int p, int **tmp, size_t *tmpcap)
{
	size_t n = 0, i;
	int k;

	for (k = t->v[p].first; k != NONE; k = t->v[k].next)
		n++;
	if (n < 2)
		return;
	if (n > *tmpcap) {
		*tmpcap = n;
		*tmp = xrealloc(*tmp, n * sizeof(**tmp));
	}
	n = 0;
	for (k = t->v[p].first; k != NONE; k = t->v[k].next)
		(*tmp)[n++] = k;
	qsort_r(*tmp, n, sizeof(**tmp), node_cmp, t);
	for (i = 0; i < n; i++)
		node_unlink(t, (*tmp)[i]);
	for (i = 0; i < n; i++)
		node_append(t, p, (*tmp)[i]);
}

/* The nodes below the root in pre-order (parents before descendants):
 * processing it backwards visits every node after all of its children. */
static int *
preorder(const struct tree *t, size_t *n_r)
{
	int *out = xmalloc((t->n + 1) * sizeof(*out));
	int *stack = xmalloc((t->n + 1) * sizeof(*stack));
	size_t n = 0, sp = 0;
	int k;

	/* Children go on the stack last first, so they come out in order. */
	for (k = t->v[ROOT].last; k != NONE; k = t->v[k].prev)
		stack[sp++] = k;
	while (sp > 0) {
		int x = stack[--sp];

		out[n++] = x;
		for (k = t->v[x].last; k != NONE; k = t->v[k].prev)
			stack[sp++] = k;
	}
	free(stack);
	*n_r = n;
	return out;
}

/* RFC 5256 section 5:
 *   thread-list    = "(" (thread-members / thread-nested) ")"
 *   thread-members = nz-number *(SP nz-number) [SP thread-nested]
 *   thread-nested  = 2*thread-list
 * A node with one child continues its list; one with more opens a list
 * per child. Dummies print nothing. The stack holds, for every open
 * nested level, the next sibling still to print there. */
static void
print_threads(const struct tree *t, struct buf *out)
{
	int *stack = xmalloc((t->n + 1) * sizeof(*stack));
	size_t sp;
	int r;

	for (r = t->v[ROOT].first; r != NONE; r = t->v[r].next) {
		int cur = r;
		bool first = true;

		sp = 0;
		buf_putc(out, '(');
		for (;;) {
			for (;;) {
				const struct tnode *x = &t->v[cur];

				if (x->msg >= 0) {
					buf_printf(out, first ? "%u" : " %u", t->msgs[x->msg].id);
					first = false;
				}
				if (x->first == NONE)
					break;
				if (x->first == x->last) {
					cur = x->first;
					continue;
				}
				if (!first)
					buf_putc(out, ' ');
				stack[sp++] = t->v[x->first].next;
				buf_putc(out, '(');
				cur = x->first;
				first = true;
			}
			buf_putc(out, ')');
			/* Next sibling of the innermost open level; levels
			 * whose siblings are done close their enclosing list. */
			while (sp > 0 && stack[sp - 1] == NONE) {
				sp--;
				buf_putc(out, ')');
			}
			if (sp == 0)
				break;
			cur = stack[sp - 1];
			stack[sp - 1] = t->v[cur].next;
			buf_putc(out, '(');
			first = true;
		}
	}
	free(stack);
}

/* ---- ORDEREDSUBJECT (section 3) ---- */

static int
subject_cmp(const void *x, const void *y, void *ctx)
{
	const struct imap_thread_msg *msgs = ctx;
	int a = *(const int *)x, b = *(const int *)y;
	int c = strcmp(msgs[a].subject, msgs[b].subject);

	return c != 0 ? c : msg_cmp(msgs, a, b);
}

/* Sort by base subject, then sent date; each run of one base subject is a
 * thread whose first message is the parent of all the others (siblings,
 * in date order); threads go by the sent date of their first message. */
void
imap_thread_orderedsubject(const struct imap_thread_msg *msgs, size_t n, struct buf *out)
{
	struct tree t;
	int *ord, *tmp = NULL;
	size_t i, tmpcap = 0;
	int parent = NONE;

	if (n == 0)
		return;
	memset(&t, 0, sizeof(t));
	t.msgs = msgs;
	(void)node_new(&t, -1);
	ord = xmalloc(n * sizeof(*ord));
	for (i = 0; i < n; i++)
		ord[i] = (int)i;
	qsort_r(ord, n, sizeof(*ord), subject_cmp, (void *)msgs);
	for (i = 0; i < n; i++) {
		int k = node_new(&t, ord[i]);

		if (i > 0 && strcmp(msgs[ord[i]].subject, msgs[ord[i - 1]].subject) == 0) {
			node_append(&t, parent, k);
		} else {
			node_append(&t, ROOT, k);
			parent = k;
		}
	}
	sort_children(&t, ROOT, &tmp, &tmpcap);
	print_threads(&t, out);
	free(tmp);
	free(ord);
	free(t.v);
}

/* ---- REFERENCES (section 4) ---- */

/* Open-addressing hash from a string (owned by the caller) to a node. */
struct smap {
	const char **keys;
	int *vals;
	size_t cap, n;
};

static uint64_t
str_hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL;	/* FNV-1a */

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static size_t
smap_slot(const struct smap *m, const char *key)
{
	size_t i = (size_t)str_hash(key) & (m->cap - 1);

	while (m->keys[i] != NULL && strcmp(m->keys[i], key) != 0)
		i = (i + 1) & (m->cap - 1);
	return i;
}

static int
smap_get(const struct smap *m, const char *key)
{
	size_t i;

	if (m->cap == 0)
		return NONE;
	i = smap_slot(m, key);
	return m->keys[i] != NULL ? m->vals[i] : NONE;
}

static void
smap_put(struct smap *m, const char *key, int val)
{
	size_t i;

	if ((m->n + 1) * 2 > m->cap) {
		struct smap g;

		g.cap = m->cap ? m->cap * 2 : 256;
		g.n = m->n;
		g.keys = xcalloc(g.cap, sizeof(*g.keys));
		g.vals = xcalloc(g.cap, sizeof(*g.vals));
		for (i = 0; i < m->cap; i++) {
			if (m->keys[i] != NULL) {
				size_t j = smap_slot(&g, m->keys[i]);

				g.keys[j] = m->keys[i];
				g.vals[j] = m->vals[i];
			}
		}
		free(m->keys);
		free(m->vals);
		*m = g;
	}
	i = smap_slot(m, key);
	if (m->keys[i] == NULL)
		m->n++;
	m->keys[i] = key;
	m->vals[i] = val;
}

static void
smap_free(struct smap *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

/* Step (1): the message's own node and the links from its references. */
static void
link_message(struct tree *t, struct smap *ids, int i)
{
	const struct imap_thread_msg *m = &t->msgs[i];
	int self = NONE, prev = NONE, k;
	size_t j;

	/* A message without a (valid) Message-ID, or with the ID of an
	 * earlier message, gets a node of its own that nothing can refer
	 * to: the "unique Message ID" of the RFC. A dummy made for an
	 * earlier reference becomes this message. */
	if (m->msgid != NULL && m->msgid[0] != '\0') {
		k = smap_get(ids, m->msgid);
		if (k == NONE) {
			self = node_new(t, i);
			smap_put(ids, m->msgid, self);
		} else if (t->v[k].msg < 0) {
			self = k;
			t->v[k].msg = i;
		}
	}
	if (self == NONE)
		self = node_new(t, i);
	/* (A) Each reference is the parent of the next one, unless the
	 * child has a parent already (References may have been truncated)
	 * or the link would close a loop. Unknown IDs get dummies. */
	for (j = 0; j < m->nrefs; j++) {
		k = smap_get(ids, m->refs[j]);
		if (k == NONE) {
			k = node_new(t, -1);
			smap_put(ids, m->refs[j], k);
		}
		if (prev != NONE && t->v[k].parent == NONE && !would_loop(t, prev, k))
			node_append(t, prev, k);
		prev = k;
	}
	/* (B) The last reference is the parent of the message itself; a
	 * link made earlier from a truncated References is replaced. */
	node_unlink(t, self);
	if (prev != NONE && !would_loop(t, prev, self))
		node_append(t, prev, self);
}

/* Step (3): remove dummies. A dummy without children goes; one with
 * children is replaced by them, except at the top where it stays when it
 * has more than one (they would become separate threads). Children are
 * pruned before their parents. */
static void
prune(struct tree *t)
{
	size_t n, i;
	int *ord = preorder(t, &n);

	for (i = n; i-- > 0;) {
		int k = ord[i], c;
		struct tnode *x = &t->v[k];

		if (x->msg >= 0)
			continue;
		if (x->first == NONE) {
			node_unlink(t, k);
			continue;
		}
		if (x->parent == ROOT && x->first != x->last)
			continue;
		while ((c = t->v[k].first) != NONE) {
			node_unlink(t, c);
			node_insert_before(t, k, c);
		}
		node_unlink(t, k);
	}
	free(ord);
}

static const struct imap_thread_msg *
thread_first(const struct tree *t, int k)
{
	int m = node_msg(t, k);

	return m >= 0 ? &t->msgs[m] : NULL;
}

/* Step (5): gather top-level threads with the same base subject. */
static void
merge_subjects(struct tree *t)
{
	struct smap subj;
	size_t n = 0, i;
	int *top, k;

	memset(&subj, 0, sizeof(subj));
	for (k = t->v[ROOT].first; k != NONE; k = t->v[k].next)
		n++;
	top = xmalloc((n + 1) * sizeof(*top));
	n = 0;
	for (k = t->v[ROOT].first; k != NONE; k = t->v[k].next)
		top[n++] = k;
	/* (B) One node per subject: a dummy wins over a message, a message
	 * that is no reply or forward over one that is. */
	for (i = 0; i < n; i++) {
		const struct imap_thread_msg *m = thread_first(t, top[i]);
		int cur;

		if (m == NULL || m->subject[0] == '\0')
			continue;
		cur = smap_get(&subj, m->subject);
		if (cur == NONE) {
			smap_put(&subj, m->subject, top[i]);
		} else if (t->v[cur].msg >= 0 &&
		    (t->v[top[i]].msg < 0 ||
			(t->msgs[t->v[cur].msg].reply && !t->msgs[t->v[top[i]].msg].reply))) {
			smap_put(&subj, m->subject, top[i]);
		}
	}
	/* (C) Merge every other thread of a subject into the chosen one. */
	for (i = 0; i < n; i++) {
		const struct imap_thread_msg *m;
		int c = top[i], cur, d, x;

		if (t->v[c].parent != ROOT)	/* already merged */
			continue;
		m = thread_first(t, c);
		if (m == NULL || m->subject[0] == '\0')
			continue;
		cur = smap_get(&subj, m->subject);
		if (cur == c || cur == NONE)
			continue;
		if (t->v[cur].msg < 0 && t->v[c].msg < 0) {
			/* Two dummies: the children join, c goes. */
			while ((x = t->v[c].first) != NONE) {
				node_unlink(t, x);
				node_append(t, cur, x);
			}
			node_unlink(t, c);
		} else if (t->v[cur].msg < 0 ||
		    (t->v[c].msg >= 0 && t->msgs[t->v[c].msg].reply &&
			!t->msgs[t->v[cur].msg].reply)) {
			/* Below the dummy, or a reply below the original. */
			node_unlink(t, c);
			node_append(t, cur, c);
		} else {
			/* Siblings under a new dummy, which takes the place
			 * of the chosen thread. */
			d = node_new(t, -1);
			node_insert_before(t, cur, d);
			node_unlink(t, cur);
			node_unlink(t, c);
			node_append(t, d, cur);
			node_append(t, d, c);
			smap_put(&subj, m->subject, d);
		}
	}
	free(top);
	smap_free(&subj);
}

void
imap_thread_references(const struct imap_thread_msg *msgs, size_t n, struct buf *out)
{
	struct tree t;
	struct smap ids;
	int *tmp = NULL, *ord, k;
	size_t i, tmpcap = 0, nord;

	if (n == 0)
		return;
	memset(&t, 0, sizeof(t));
	memset(&ids, 0, sizeof(ids));
	t.msgs = msgs;
	(void)node_new(&t, -1);	/* ROOT */
	/* (1) Link messages through their references. */
	for (i = 0; i < n; i++)
		link_message(&t, &ids, (int)i);
	smap_free(&ids);
	/* (2) Everything without a parent hangs below the root. */
	for (k = ROOT + 1; k < (int)t.n; k++)
		if (t.v[k].parent == NONE)
			node_append(&t, ROOT, k);
	/* (3) Prune dummies. */
	prune(&t);
	/* (4) Sort the top level by sent date, a dummy by its earliest
	 * child. */
	for (k = t.v[ROOT].first; k != NONE; k = t.v[k].next)
		if (t.v[k].msg < 0)
			sort_children(&t, k, &tmp, &tmpcap);
	sort_children(&t, ROOT, &tmp, &tmpcap);
	/* (5) Gather threads by base subject. */
	merge_subjects(&t);
	/* (6) Sort every set of siblings by sent date, the deepest first so
	 * a dummy's first child is known when the dummy is sorted. */
	ord = preorder(&t, &nord);
	for (i = nord; i-- > 0;)
		sort_children(&t, ord[i], &tmp, &tmpcap);
	sort_children(&t, ROOT, &tmp, &tmpcap);
	free(ord);
	print_threads(&t, out);
	free(tmp);
	free(t.v);
}
