/* SORT and THREAD with their UID forms (RFC 5256; DISPLAYFROM/DISPLAYTO of
 * RFC 5957). The search program picks the messages (imap_search_program);
 * their keys are loaded in batches, from the stored envelope
 * (messages.parsed) or, for THREAD=REFERENCES, which needs the References
 * field, from the header of the message file. imap_thread.c has the base
 * subjects, dates and the threading algorithms. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "mail/header.h"
#include "mail/mime.h"
#include "imap_session.h"
#include "imap_sortkey.h"
#include "imap_thread.h"

#define SORT_BATCH 500
/* Bytes of a message file read for its header at most (as SEARCH). */
#define SORT_HEADER_MAX (1024 * 1024)
/* References kept per message, the nearest ones: mail clients truncate
 * long lists themselves, and the RFC 5256 algorithm copes with that. */
#define MAX_REFS 1000

enum sort_key {
	SK_ARRIVAL,
	SK_CC,
	SK_DATE,
	SK_FROM,
	SK_SIZE,
	SK_SUBJECT,
	SK_TO,
	SK_DISPLAYFROM,
	SK_DISPLAYTO,
	SK_COUNT
};

static const char *const sort_key_names[SK_COUNT] = {
	"ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO",
};

struct crit {
	enum sort_key key;
	bool reverse;
};

/* What to load for each message. */
enum {
	NEED_SUBJECT = 1 << 0,
	NEED_DATE = 1 << 1,
	NEED_FROM = 1 << 2,
	NEED_TO = 1 << 3,
	NEED_CC = 1 << 4,
	NEED_DISPLAYFROM = 1 << 5,
	NEED_DISPLAYTO = 1 << 6,
	NEED_REFS = 1 << 7,	/* Message-ID, In-Reply-To, References (header) */
};
#define NEED_ENVELOPE (NEED_SUBJECT | NEED_DATE | NEED_FROM | NEED_TO | NEED_CC | \
	NEED_DISPLAYFROM | NEED_DISPLAYTO)

/* The keys of one message. Strings are malloc'd and casemapped; unloaded
 * ones are "" (static). */
struct msgkeys {
	uint32_t idx;		/* view index */
	int64_t arrival, size, date;
	char *str[SK_COUNT];	/* by sort key: CC, FROM, SUBJECT, TO, DISPLAY* */
	bool reply;
	char *msgid;
	char **refs;
	size_t nrefs;
};

static char empty_key[] = "";

static void
keys_free(struct msgkeys *k, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < SK_COUNT; j++)
			if (k[i].str[j] != empty_key)
				free(k[i].str[j]);
		free(k[i].msgid);
		imap_thread_msgids_free(k[i].refs, k[i].nrefs);
	}
	free(k);
}

static void
set_key(struct msgkeys *k, enum sort_key key, struct buf *b)
{
	imap_sortkey_casemap(b->data);
	k->str[key] = buf_steal(b);
}

/*
 * RFC 5256 section 3 (SORT): FROM, TO and CC sort by the "[IMAP]
 * addr-mailbox of the first" address of the field. A group comes first as
 * its start address, whose addr-mailbox is the group name (RFC 9051
 * 7.5.2), as FETCH ENVELOPE shows it.
 * RFC 5957 section 3 (DISPLAYFROM, DISPLAYTO): the display name when it is
 * not empty after RFC 2047 decoding, else the addr-spec (mailbox "@"
 * host), else the addr-mailbox alone (a group start or an address without
 * a domain); an absent or empty field sorts as "".
 */
static void
addr_key(const struct mail_hdr_addrs *l, bool display, struct buf *out)
{
	const struct mail_hdr_addr *a;

	if (l == NULL || l->n == 0)
		return;
	a = &l->v[0];
	if (a->group != NULL) {
		buf_puts(out, a->group);
		return;
	}
	if (!display) {
		buf_puts(out, a->localpart);
		return;
	}
	if (a->name[0] != '\0')
		buf_puts(out, a->name);
	else if (a->domain[0] != '\0')
		buf_printf(out, "%s@%s", a->localpart, a->domain);
	else
		buf_puts(out, a->localpart);
}

/* Keys from an envelope (NULL: the message had none we could read). */
static void
keys_from_envelope(struct msgkeys *k, const struct mime_envelope *e, unsigned need)
{
	static const struct {
		unsigned need;
		enum sort_key key;
		bool display;
	} addrs[] = {
		{ NEED_FROM, SK_FROM, false }, { NEED_TO, SK_TO, false },
		{ NEED_CC, SK_CC, false }, { NEED_DISPLAYFROM, SK_DISPLAYFROM, true },
		{ NEED_DISPLAYTO, SK_DISPLAYTO, true },
	};
	struct buf b;
	size_t i;

	buf_init(&b);
	if ((need & NEED_SUBJECT) && e != NULL && e->subject != NULL) {
		imap_sortkey_base_subject(e->subject, strlen(e->subject), &b, &k->reply);
		set_key(k, SK_SUBJECT, &b);
	}
	/* RFC 5256 2.2: without a usable Date field, INTERNALDATE. */
	k->date = k->arrival;
	if ((need & NEED_DATE) && e != NULL && e->date != NULL)
		(void)imap_sortkey_date(e->date, &k->date);
	for (i = 0; i < MS_NELEM(addrs); i++) {
		const struct mail_hdr_addrs *l = NULL;

		if (!(need & addrs[i].need) || e == NULL)
			continue;
		switch (addrs[i].key) {
		case SK_FROM:
		case SK_DISPLAYFROM:
			l = &e->from;
			break;
		case SK_TO:
		case SK_DISPLAYTO:
			l = &e->to;
			break;
		default:
			l = &e->cc;
			break;
		}
		addr_key(l, addrs[i].display, &b);
		set_key(k, addrs[i].key, &b);
	}
	buf_free(&b);
}

/* Keys for THREAD=REFERENCES from the header section h[0..n). RFC 5256
 * section 4 (1)(A): the references are the valid message IDs of
 * References, or, when it has none, the first valid one of In-Reply-To. */
static void
keys_from_header(struct msgkeys *k, const char *h, size_t n)
{
	struct buf v, b;
	char **ids = NULL;
	size_t nids;

	buf_init(&v);
	buf_init(&b);
	if (mail_header_get(h, n, "Subject", &v)) {
		imap_sortkey_base_subject(v.data, v.len, &b, &k->reply);
		set_key(k, SK_SUBJECT, &b);
	}
	buf_reset(&v);
	k->date = k->arrival;
	if (mail_header_get(h, n, "Date", &v))
		(void)imap_sortkey_date(v.data, &k->date);
	buf_reset(&v);
	if (mail_header_get(h, n, "Message-ID", &v)) {
		nids = imap_thread_msgids(v.data, v.len, 1, false, &ids, 0);
		if (nids == 1)
			k->msgid = ids[0];
		free(ids);
		ids = NULL;
	}
	buf_reset(&v);
	if (mail_header_get(h, n, "References", &v))
		k->nrefs = imap_thread_msgids(v.data, v.len, MAX_REFS, true, &k->refs, 0);
	buf_reset(&v);
	if (k->nrefs == 0 && mail_header_get(h, n, "In-Reply-To", &v))
		k->nrefs = imap_thread_msgids(v.data, v.len, 1, false, &k->refs, 0);
	buf_free(&v);
	buf_free(&b);
}

/* The header section of the message file alone. The stored prefix (our
 * trace fields) is left out on purpose: the envelope in messages.parsed
 * describes the file too. A copy of m that says its prefix is loaded and
 * empty makes the store read just the file, with no query. */
static int
read_file_header(struct imap_session *s, const struct store_msg *m, struct buf *out)
{
	struct store_msg tmp = *m;
	const char *error;
	int rc;

	tmp.have_prefix = true;
	buf_init(&tmp.prefix);
	rc = store_msg_read_header_part(s->d->store, &tmp, SORT_HEADER_MAX, out, &error);
	buf_free(&tmp.prefix);
	if (rc < 0)
		log_error(imap_cid(s), "proto=imap ev=sort-read uid=%u error=%s", m->uid,
			lq(error));
	return rc;
}

static void
load_one(struct imap_session *s, const struct store_msg *m, unsigned need,
	struct msgkeys *k)
{
	struct mime_part *tree = NULL;
	struct buf h;

	k->arrival = m->received;
	k->size = m->size;
	k->date = m->received;
	if (!(need & (NEED_ENVELOPE | NEED_REFS)))
		return;
	buf_init(&h);
	if (need & NEED_REFS) {
		if (read_file_header(s, m, &h) == 0)
			keys_from_header(k, h.data, h.len);
		buf_free(&h);
		return;
	}
	if (m->parsed != NULL)
		tree = mime_from_json(m->parsed, strlen(m->parsed));
	if (tree == NULL && read_file_header(s, m, &h) == 0)
		tree = mime_parse(h.data, h.len);
	keys_from_envelope(k, tree != NULL ? tree->envelope : NULL, need);
	mime_free(&tree);
	buf_free(&h);
}

/* Keys of the messages at view indexes idx[0..n) (ascending), in that
 * order; messages expunged meanwhile are left out. Returns 0 or -1
 * (logged). */
static int
load_keys(struct imap_session *s, const uint32_t *idx, size_t n, unsigned need,
	struct msgkeys **keys_r, size_t *n_r)
{
	struct imap_view *v = s->sel;
	struct msgkeys *keys = xcalloc(n + 1, sizeof(*keys));
	uint32_t *uids = xcalloc(SORT_BATCH, sizeof(*uids));
	size_t nk = 0, off, i, j;
	const char *error;
	unsigned what = (need & NEED_ENVELOPE) && !(need & NEED_REFS) ? STORE_MSGS_PARSED : 0;

	for (off = 0; off < n; off += SORT_BATCH) {
		size_t nb = n - off > SORT_BATCH ? SORT_BATCH : n - off, nm = 0;
		struct store_msg *msgs = NULL;

		for (i = 0; i < nb; i++)
			uids[i] = v->uids[idx[off + i]];
		if (store_msgs_get(s->d->store, v->id, uids, nb, what, &msgs, &nm, &error) < 0) {
			log_error(imap_cid(s), "proto=imap ev=sort error=%s", lq(error));
			keys_free(keys, nk);
			free(uids);
			return -1;
		}
		for (i = 0, j = 0; i < nm; i++) {
			struct msgkeys *k;
			size_t x;

			while (j < nb && uids[j] != msgs[i].uid)
				j++;
			if (j == nb)
				break;
			k = &keys[nk++];
			k->idx = idx[off + j];
			for (x = 0; x < SK_COUNT; x++)
				k->str[x] = empty_key;
			load_one(s, &msgs[i], need, k);
		}
		store_msgs_free(msgs, nm);
	}
	free(uids);
	*keys_r = keys;
	*n_r = nk;
	return 0;
}

/* ---- SORT ---- */

struct sort_ctx {
	const struct crit *crit;
	size_t ncrit;
};

static int
cmp_i64(int64_t a, int64_t b)
{
	return (a > b) - (a < b);
}

/* RFC 5256 section 3: criteria in order, strings with i;ascii-casemap
 * (casemapped already), and "if two or more messages exactly match
 * according to the sorting criteria, these messages are sorted according
 * to the order in which they appear in the mailbox" (not reversed). */
static int
keys_cmp(const void *x, const void *y, void *ctx)
{
	const struct sort_ctx *cx = ctx;
	const struct msgkeys *a = x, *b = y;
	size_t i;

	for (i = 0; i < cx->ncrit; i++) {
		enum sort_key key = cx->crit[i].key;
		int c;

		switch (key) {
		case SK_ARRIVAL:
			c = cmp_i64(a->arrival, b->arrival);
			break;
		case SK_DATE:
			c = cmp_i64(a->date, b->date);
			break;
		case SK_SIZE:
			c = cmp_i64(a->size, b->size);
			break;
		default:
			c = strcmp(a->str[key], b->str[key]);
			break;
		}
		if (c != 0)
			return cx->crit[i].reverse ? -c : c;
	}
	return (a->idx > b->idx) - (a->idx < b->idx);
}

static unsigned
need_of(enum sort_key key)
{
	switch (key) {
	case SK_CC:
		return NEED_CC;
	case SK_DATE:
		return NEED_DATE;
	case SK_FROM:
		return NEED_FROM;
	case SK_SUBJECT:
		return NEED_SUBJECT;
	case SK_TO:
		return NEED_TO;
	case SK_DISPLAYFROM:
		return NEED_DISPLAYFROM;
	case SK_DISPLAYTO:
		return NEED_DISPLAYTO;
	default:
		return 0;	/* ARRIVAL, SIZE: the message row has them */
	}
}

/*
 * RFC 5256 section 5, RFC 5957 section 4:
 *   sort-criteria  = "(" sort-criterion *(SP sort-criterion) ")"
 *   sort-criterion = ["REVERSE" SP] sort-key
 *   sort-key       = "ARRIVAL" / "CC" / "DATE" / "FROM" / "SIZE" /
 *                    "SUBJECT" / "TO" / "DISPLAYFROM" / "DISPLAYTO"
 * A key given again cannot change the order (it compared equal already),
 * so only its first use is kept: at most SK_COUNT criteria.
 */
static int
parse_criteria(const struct imap_arg *a, struct crit *crit, size_t *n_r,
	const char **error_r)
{
	const struct imap_arg *list;
	size_t n, i, k, nc = 0;
	bool seen[SK_COUNT] = { false };

	if (!imap_arg_list(a, &list, &n) || n == 0) {
		*error_r = "Sort criteria must be a non-empty parenthesized list";
		return -1;
	}
	for (i = 0; i < n; i++) {
		bool reverse = false;

		if (imap_arg_atom_eq(&list[i], "REVERSE")) {
			reverse = true;
			if (++i == n) {
				*error_r = "REVERSE without a sort key";
				return -1;
			}
		}
		for (k = 0; k < SK_COUNT; k++)
			if (imap_arg_atom_eq(&list[i], sort_key_names[k]))
				break;
		if (k == SK_COUNT) {
			*error_r = "Unknown sort key";
			return -1;
		}
		if (seen[k])
			continue;
		seen[k] = true;
		crit[nc].key = (enum sort_key)k;
		crit[nc].reverse = reverse;
		nc++;
	}
	*n_r = nc;
	return 0;
}

/* RFC 5256 section 3: "search-criteria = charset 1*(SP search-key)";
 * the charset is required and BADCHARSET lists what we support. Search
 * strings are compared as UTF-8 (US-ASCII is a subset). */
static bool
charset_ok(struct imap_cmd *cmd, const struct imap_arg *a)
{
	const char *cs;

	if (!imap_arg_astring(a, &cs, NULL)) {
		imap_reply(cmd, IMAP_BAD, "Invalid charset");
		return false;
	}
	if (!ms_strcaseeq(cs, "UTF-8") && !ms_strcaseeq(cs, "US-ASCII")) {
		imap_reply(cmd, IMAP_NO, "[BADCHARSET (US-ASCII UTF-8)] Unsupported charset");
		return false;
	}
	return true;
}

/*
 * sort      = ["UID" SP] "SORT" SP sort-criteria SP search-criteria
 * sort-data = "SORT" *(SP nz-number)   (RFC 7162 adds [SP "(" "MODSEQ" SP
 *             mod-sequence-value ")"] after a MODSEQ search key)
 * The answer is "* SORT" in IMAP4rev2 sessions too: ESORT's RETURN
 * options are not supported (not announced).
 */
void
imap_cmd_sort(struct imap_session *s, struct imap_cmd *cmd)
{
	struct crit crit[SK_COUNT];
	struct sort_ctx cx;
	struct msgkeys *keys = NULL;
	uint32_t *idx = NULL;
	size_t ncrit = 0, nidx = 0, nkeys = 0, i;
	int64_t maxmod = 0;
	unsigned need = 0;
	const char *error;
	struct buf b;

	if (cmd->nargs < 1 || parse_criteria(&cmd->args[0], crit, &ncrit, &error) < 0) {
		imap_reply(cmd, IMAP_BAD, "%s", cmd->nargs < 1 ? "Missing sort criteria" : error);
		return;
	}
	if (cmd->nargs < 2) {
		imap_reply(cmd, IMAP_BAD, "Missing charset");
		return;
	}
	if (!charset_ok(cmd, &cmd->args[1]))
		return;
	if (imap_search_program(s, cmd, cmd->args + 2, cmd->nargs - 2, &idx, &nidx, &maxmod) < 0)
		return;
	for (i = 0; i < ncrit; i++)
		need |= need_of(crit[i].key);
	if (load_keys(s, idx, nidx, need, &keys, &nkeys) < 0) {
		imap_reply(cmd, IMAP_NO, "[UNAVAILABLE] Sort failed");
		free(idx);
		return;
	}
	cx.crit = crit;
	cx.ncrit = ncrit;
	qsort_r(keys, nkeys, sizeof(*keys), keys_cmp, &cx);
	buf_init(&b);
	buf_puts(&b, "* SORT");
	for (i = 0; i < nkeys; i++)
		buf_printf(&b, " %u", cmd->uid ? s->sel->uids[keys[i].idx] : keys[i].idx + 1);
	if (maxmod > 0)
		buf_printf(&b, " (MODSEQ %lld)", (long long)maxmod);
	buf_puts(&b, "\r\n");
	imap_write(s, b.data, b.len);
	buf_free(&b);
	keys_free(keys, nkeys);
	free(idx);
}

/* ---- THREAD ---- */

/*
 * thread      = ["UID" SP] "THREAD" SP thread-alg SP search-criteria
 * thread-alg  = "ORDEREDSUBJECT" / "REFERENCES" / thread-alg-ext
 * thread-data = "THREAD" [SP 1*thread-list]
 * An algorithm we do not announce is a BAD argument (RFC 5256 section 3).
 */
void
imap_cmd_thread(struct imap_session *s, struct imap_cmd *cmd)
{
	struct imap_thread_msg *tm;
	struct msgkeys *keys = NULL;
	uint32_t *idx = NULL;
	size_t nidx = 0, nkeys = 0, i;
	int64_t maxmod;
	bool refs;
	struct buf b;

	if (cmd->nargs < 1 || cmd->args[0].type != IMAP_ARG_ATOM) {
		imap_reply(cmd, IMAP_BAD, "Missing threading algorithm");
		return;
	}
	if (imap_arg_atom_eq(&cmd->args[0], "REFERENCES")) {
		refs = true;
	} else if (imap_arg_atom_eq(&cmd->args[0], "ORDEREDSUBJECT")) {
		refs = false;
	} else {
		imap_reply(cmd, IMAP_BAD, "Unsupported threading algorithm");
		return;
	}
	if (cmd->nargs < 2) {
		imap_reply(cmd, IMAP_BAD, "Missing charset");
		return;
	}
	if (!charset_ok(cmd, &cmd->args[1]))
		return;
	if (imap_search_program(s, cmd, cmd->args + 2, cmd->nargs - 2, &idx, &nidx, &maxmod) < 0)
		return;
	if (load_keys(s, idx, nidx, refs ? NEED_REFS : NEED_SUBJECT | NEED_DATE, &keys,
		    &nkeys) < 0) {
		imap_reply(cmd, IMAP_NO, "[UNAVAILABLE] Thread failed");
		free(idx);
		return;
	}
	/* keys is in mailbox order, which breaks ties in the algorithms. */
	tm = xcalloc(nkeys + 1, sizeof(*tm));
	for (i = 0; i < nkeys; i++) {
		tm[i].id = cmd->uid ? s->sel->uids[keys[i].idx] : keys[i].idx + 1;
		tm[i].date = keys[i].date;
		tm[i].subject = keys[i].str[SK_SUBJECT];
		tm[i].reply = keys[i].reply;
		tm[i].msgid = keys[i].msgid;
		tm[i].refs = keys[i].refs;
		tm[i].nrefs = keys[i].nrefs;
	}
	buf_init(&b);
	buf_puts(&b, "* THREAD");
	if (nkeys > 0)
		buf_putc(&b, ' ');
	if (refs)
		imap_thread_references(tm, nkeys, &b);
	else
		imap_thread_orderedsubject(tm, nkeys, &b);
	buf_puts(&b, "\r\n");
	imap_write(s, b.data, b.len);
	buf_free(&b);
	free(tm);
	keys_free(keys, nkeys);
	free(idx);
}
