/* RFC 5256 without a mailbox: base subjects, sent dates, message IDs and
 * the two threading algorithms. Everything works on plain arrays and
 * indexes; the trees are walked with explicit stacks, not recursion, since
 * a hostile References chain may be as deep as the mailbox is large and a
 * session thread has a small stack. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "mail/header.h"
#include "imap_thread.h"

/* ---- base subject (RFC 5256 section 2.1) ---- */

/*
 * The grammar of section 5 that steps (2) to (6) apply:
 *   subj-refwd   = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
 *   subj-blob    = "[" *BLOBCHAR "]" *WSP
 *   subj-fwd-hdr = "[fwd:"
 *   subj-fwd-trl = "]"
 *   subj-leader  = (*subj-blob subj-refwd) / WSP
 *   subj-trailer = "(fwd)" / WSP
 *   BLOBCHAR     = %x01-5a / %x5c / %x5e-7f   ; any CHAR except '[' and ']'
 * ABNF literals are case-insensitive (RFC 5234 2.3). Step (1) has made the
 * text UTF-8, so octets above 0x7f are taken as ordinary characters here
 * (a BLOBCHAR or NONWSP), or a translated subject could never be a blob.
 */
static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Length of a subj-blob at the start of p[0..n), or 0. */
static size_t
match_blob(const char *p, size_t n)
{
	size_t i;

	if (n == 0 || p[0] != '[')
		return 0;
	for (i = 1; i < n && p[i] != '[' && p[i] != ']' && p[i] != '\0'; i++)
		;
	if (i == n || p[i] != ']')
		return 0;
	for (i++; i < n && is_wsp(p[i]); i++)
		;
	return i;
}

/* Length of a subj-refwd at the start of p[0..n), or 0. "fwd" is tried
 * before "fw": a "d" can never follow a complete "fw" subj-refwd. */
static size_t
match_refwd(const char *p, size_t n)
{
	size_t i;

	if (n >= 2 && ms_strncaseeq(p, "re", 2))
		i = 2;
	else if (n >= 2 && ms_strncaseeq(p, "fw", 2))
		i = n > 2 && ms_tolower(p[2]) == 'd' ? 3 : 2;
	else
		return 0;
	while (i < n && is_wsp(p[i]))
		i++;
	i += match_blob(p + i, n - i);
	return i < n && p[i] == ':' ? i + 1 : 0;
}

/* Length of a subj-refwd subj-leader (with its blobs), or 0. The blobs are
 * taken greedily: what follows them must start with "r" or "f", never "[". */
static size_t
match_refwd_leader(const char *p, size_t n)
{
	size_t i = 0, b, r;

	while ((b = match_blob(p + i, n - i)) > 0)
		i += b;
	r = match_refwd(p + i, n - i);
	return r > 0 ? i + r : 0;
}

void
imap_thread_base_subject(const char *s, size_t n, struct buf *out, bool *reply_r)
{
	struct buf unfolded, dec;
	size_t start = 0, end = 0, i, l;
	bool reply = false;
	char *p;

	/* (1) Encoded-words to UTF-8; tabs and continuations to spaces;
	 * runs of spaces to one. */
	buf_init(&unfolded);
	buf_init(&dec);
	mail_header_unfold(&unfolded, s, n);
	mail_header_decode_words(&dec, unfolded.data, unfolded.len);
	p = dec.data;
	for (i = 0; i < dec.len; i++) {
		char c = p[i];

		if (c == '\t' || c == '\r' || c == '\n')
			c = ' ';
		if (c == ' ' && end > 0 && p[end - 1] == ' ')
			continue;
		p[end++] = c;
	}
	for (;;) {
		/* (2) Trailing subj-trailers, as long as any is left. */
		for (;;) {
			if (end > start && is_wsp(p[end - 1])) {
				end--;
			} else if (end - start >= 5 && ms_strncaseeq(p + end - 5, "(fwd)", 5)) {
				end -= 5;
				reply = true;
			} else {
				break;
			}
		}
		/* (3) Leading subj-leaders; (4) a leading subj-blob when
		 * something (a non-empty subj-base) is left after it; (5)
		 * until neither matches. */
		for (;;) {
			if (end > start && is_wsp(p[start])) {
				start++;
				continue;
			}
			l = match_refwd_leader(p + start, end - start);
			if (l > 0) {
				start += l;
				reply = true;
				continue;
			}
			l = match_blob(p + start, end - start);
			if (l > 0 && start + l < end) {
				start += l;
				continue;
			}
			break;
		}
		/* (6) "[fwd:" ... "]" around the rest: remove both and start
		 * over from (2). */
		if (end - start >= 6 && ms_strncaseeq(p + start, "[fwd:", 5) && p[end - 1] == ']') {
			start += 5;
			end--;
			reply = true;
			continue;
		}
		break;
	}
	/* (7) What is left is the base subject. */
	buf_append(out, p + start, end - start);
	if (reply_r != NULL)
		*reply_r = reply;
	buf_free(&dec);
	buf_free(&unfolded);
}

void
imap_thread_casemap(char *s)
{
	for (; *s != '\0'; s++)
		*s = ms_toupper(*s);
}

/* ---- sent date (RFC 5256 section 2.2, RFC 5322 section 3.3) ---- */

/*
 * date-time = [ day-of-week "," ] date time [CFWS]
 * date      = day month year          (obs: 2 or 3 digit years, 4.3)
 * time      = hour ":" minute [ ":" second ] FWS zone
 * zone      = ("+" / "-") 4DIGIT / obs-zone
 * obs-zone  = "UT" / "GMT" / "EST" / "EDT" / "CST" / "CDT" / "MST" / "MDT" /
 *             "PST" / "PDT" / military letters (taken as -0000, as 4.3 says)
 * Comments are blanked out first, so CFWS anywhere is plain whitespace.
 */
struct dscan {
	const char *p, *end;
};

static void
dskip(struct dscan *d)
{
	while (d->p < d->end && (*d->p == ' ' || *d->p == '\t' || *d->p == '\r' || *d->p == '\n'))
		d->p++;
}

/* 1 to maxd digits; returns the count read (0: none). */
static int
ddigits(struct dscan *d, int maxd, int *v_r)
{
	int nd = 0, v = 0;

	while (d->p < d->end && nd < maxd && *d->p >= '0' && *d->p <= '9') {
		v = v * 10 + (*d->p - '0');
		d->p++;
		nd++;
	}
	*v_r = v;
	return nd;
}

/* A run of letters, at most 15 kept (lower-cased) in w. */
static size_t
dword(struct dscan *d, char w[16])
{
	size_t n = 0;

	while (d->p < d->end && ((*d->p >= 'a' && *d->p <= 'z') || (*d->p >= 'A' && *d->p <= 'Z'))) {
		if (n < 15)
			w[n++] = ms_tolower(*d->p);
		d->p++;
	}
	w[n] = '\0';
	return n;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int
imap_thread_parse_date(const char *s, int64_t *t_r)
{
	static const char mon[12][4] = { "jan", "feb", "mar", "apr", "may", "jun", "jul",
		"aug", "sep", "oct", "nov", "dec" };
	static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	static const struct {
		const char *name;
		int hours;
	} zones[] = {
		{ "ut", 0 }, { "gmt", 0 }, { "z", 0 }, { "est", -5 }, { "edt", -4 },
		{ "cst", -6 }, { "cdt", -5 }, { "mst", -7 }, { "mdt", -6 }, { "pst", -8 },
		{ "pdt", -7 },
	};
	struct buf b;
	struct dscan d;
	char w[16];
	int day, m, y, hh, mm, ss = 0, nd, depth = 0, off = 0, zh, zm;
	size_t i, n = strlen(s);
	bool esc = false;
	int rc = -1;

	/* Comments (nested, with quoted-pairs) become spaces. */
	buf_init(&b);
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (depth > 0) {
			if (esc)
				esc = false;
			else if (c == '\\')
				esc = true;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			c = ' ';
		} else if (c == '(') {
			depth = 1;
			c = ' ';
		}
		buf_putc(&b, c);
	}
	d.p = b.data;
	d.end = b.data + b.len;
	dskip(&d);
	/* [ day-of-week "," ]: the name is not checked against the date. */
	if (d.p < d.end && !(*d.p >= '0' && *d.p <= '9')) {
		if (dword(&d, w) == 0)
			goto out;
		dskip(&d);
		if (d.p < d.end && *d.p == ',')
			d.p++;
		dskip(&d);
	}
	if (ddigits(&d, 2, &day) == 0 || day < 1 || day > 31)
		goto out;
	dskip(&d);
	if (d.p < d.end && *d.p == '-')	/* tolerated "1-Jan-2020" */
		d.p++;
	if (dword(&d, w) != 3)
		goto out;
	for (m = 0; m < 12 && strcmp(w, mon[m]) != 0; m++)
		;
	if (m == 12)
		goto out;
	if (d.p < d.end && *d.p == '-')
		d.p++;
	dskip(&d);
	nd = ddigits(&d, 4, &y);
	if (nd == 2)
		y += y < 50 ? 2000 : 1900;	/* RFC 5322 4.3 obs-year */
	else if (nd == 3)
		y += 1900;
	else if (nd != 4)
		goto out;
	/* A day past the month's end ("31 Feb") is no date. */
	if (day > mdays[m] + (m == 1 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))))
		goto out;
	dskip(&d);
	if (ddigits(&d, 2, &hh) == 0 || hh > 23)
		goto out;
	dskip(&d);
	if (d.p >= d.end || *d.p != ':')
		goto out;
	d.p++;
	dskip(&d);
	if (ddigits(&d, 2, &mm) != 2 || mm > 59)
		goto out;
	dskip(&d);
	if (d.p < d.end && *d.p == ':') {
		d.p++;
		dskip(&d);
		if (ddigits(&d, 2, &ss) != 2 || ss > 60)
			goto out;
		dskip(&d);
	}
	if (d.p < d.end && (*d.p == '+' || *d.p == '-')) {
		bool neg = *d.p == '-';

		d.p++;
		if (ddigits(&d, 2, &zh) != 2 || ddigits(&d, 2, &zm) != 2 || zm > 59)
			goto out;
		off = (zh * 60 + zm) * 60;
		if (neg)
			off = -off;
	} else if (dword(&d, w) > 0) {
		/* Named zones; unknown names and military letters -0000. */
		for (i = 0; i < MS_NELEM(zones); i++)
			if (strcmp(w, zones[i].name) == 0)
				off = zones[i].hours * 3600;
	}
	*t_r = (days_from_civil(y, m + 1, day) * 86400 + hh * 3600 + mm * 60 + ss) - off;
	rc = 0;
out:
	buf_free(&b);
	return rc;
}

/* ---- message IDs ---- */

/*
 * msg-id = [CFWS] "<" id-left "@" id-right ">" [CFWS] (RFC 5322 3.6.4).
 * Lists (References, In-Reply-To) are scanned for "<...>" that contain an
 * "@" and no whitespace outside quoted strings (obs-id-left allows a
 * quoted local-part); comments between IDs are skipped. The text between
 * the brackets is the ID, compared case-sensitively (RFC 5256 4 (1)(A)).
 */
/* Find the next message ID from *pos on: true with its text (without
 * brackets) at s[*start_r..+*len_r), *pos moved past it. */
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
