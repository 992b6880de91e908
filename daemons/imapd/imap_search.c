/* SEARCH and UID SEARCH (RFC 9051 6.4.4, RFC 3501 6.4.4) and the search
 * program ESEARCH shares (imap_search.h): the program is parsed into a tree
 * of keys, then evaluated over a mailbox. Programs that look only at
 * message rows (flags, keywords, sizes, dates, UIDs) scan the small
 * columns of the whole mailbox with the simple conditions pushed into the
 * database's WHERE clause; header and body keys read the messages in
 * batches, of only the rows those conditions leave. Results go out as
 * SEARCH (IMAP4rev1) or ESEARCH (RFC 4731; IMAP4rev2 and RETURN options).
 * Extensions: SEARCHRES (RFC 5182 "$" and SAVE), WITHIN (RFC 5032),
 * SAVEDATE (RFC 8514), INPROGRESS (RFC 9585). SORT and THREAD
 * (imap_cmd_sort.c) run their search program through imap_search_program. */
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

#define MAX_SEARCH_DEPTH 100

/* The parser's position in the arguments (a list gets its own). */
struct search_ctx {
	struct imap_session *s;
	const struct imap_arg *args;
	size_t n, i;
	const char *error;
	struct search_needs need;
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
 * RFC 5032: "OLDER" SP nz-number / "YOUNGER" SP nz-number.
 * RFC 8514: "SAVEDBEFORE" SP date / "SAVEDON" SP date / "SAVEDSINCE" SP
 *   date / "SAVEDATESUPPORTED".
 * RFC 5182: "$" where a sequence-set goes (also after UID).
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
		cx->need = sub.need;
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
			cx->need.fields = true;
			return k;
		}
	}
	/* RFC 8514 section 4.2: SAVEDATESUPPORTED matches every message of a
	 * mailbox that keeps save dates, and every mailbox here does. */
	if (ms_strcaseeq(name, "ALL") || ms_strcaseeq(name, "OLD") ||
	    ms_strcaseeq(name, "SAVEDATESUPPORTED"))
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
		cx->need.keywords = true;
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
		cx->need.modseq = true;
		return k;
	}
	if (ms_strcaseeq(name, "UID")) {
		a = next_arg(cx);
		k = skey_new(K_UID);
		if (a == NULL || !imap_arg_atom(a, &str) ||
		    imap_seqset_parse(str, a->len, true, &k->set, &cx->error) < 0) {
			cx->error = cx->error ? cx->error : "Invalid UID set";
			skey_free(k);
			return NULL;
		}
		cx->need.saved = cx->need.saved || k->set.saved;
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
			{ "SENTSINCE", K_SENTSINCE }, { "SAVEDBEFORE", K_SAVEDBEFORE },
			{ "SAVEDON", K_SAVEDON }, { "SAVEDSINCE", K_SAVEDSINCE },
		};

		for (j = 0; j < MS_NELEM(dates); j++) {
			if (!ms_strcaseeq(name, dates[j].name))
				continue;
			k = skey_new(dates[j].op);
			if (!next_date(cx, &k->date)) {
				skey_free(k);
				return NULL;
			}
			if (k->op == K_SENTBEFORE || k->op == K_SENTON || k->op == K_SENTSINCE)
				cx->need.parsed = true;
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
		if (store_is_search_field(field))
			cx->need.fields = true;
		else
			cx->need.bytes = true;
		return k;
	}
	if (ms_strcaseeq(name, "BODY") || ms_strcaseeq(name, "TEXT")) {
		if (!next_astring(cx, &str))
			return NULL;
		k = skey_new(ms_strcaseeq(name, "BODY") ? K_BODY : K_TEXT);
		k->str = str;
		cx->need.bytes = true;
		cx->need.parsed = true;
		return k;
	}
	/* RFC 5032 section 3: "OLDER" SP nz-number / "YOUNGER" SP nz-number,
	 * seconds before now, against the internal date. */
	if (ms_strcaseeq(name, "OLDER") || ms_strcaseeq(name, "YOUNGER")) {
		k = skey_new(ms_strcaseeq(name, "OLDER") ? K_OLDER : K_YOUNGER);
		a = next_arg(cx);
		if (a == NULL || !imap_arg_atom(a, &str) ||
		    ms_parse_u64(str, 1, UINT32_MAX, &k->num) < 0) {
			cx->error = cx->error ? cx->error : "Invalid interval";
			skey_free(k);
			return NULL;
		}
		return k;
	}
	/* search-key =/ sequence-set / "$" (RFC 5182 section 3) */
	if ((name[0] >= '0' && name[0] <= '9') || name[0] == '*' || name[0] == '$') {
		/* RFC 9586 3.2: no sequence numbers in a UIDONLY session. */
		if (name[0] != '$' && (cx->s->enabled & IMAP_EN_UIDONLY)) {
			cx->error = "[UIDREQUIRED] Sequence numbers cannot be used with UIDONLY";
			return NULL;
		}
		k = skey_new(K_SEQ);
		if (imap_seqset_parse(name, a->len, true, &k->set, &cx->error) < 0) {
			skey_free(k);
			return NULL;
		}
		cx->need.saved = cx->need.saved || k->set.saved;
		return k;
	}
	cx->error = "Unknown search key";
	return NULL;
}

/* ---- the program ---- */

/*
 * search-return-opts = SP "RETURN" SP "(" [search-return-opt
 *                      *(SP search-return-opt)] ")"
 * search-return-opt  = "MIN" / "MAX" / "ALL" / "COUNT" /
 *                      "SAVE" (RFC 5182 section 3) / search-ret-opt-ext
 * search-program     = ["CHARSET" SP charset SP] search-key *(SP search-key)
 *
 * RFC 9051 6.4.4: "RETURN ()" is the same as "RETURN (ALL)"; IMAP4rev2
 * answers with ESEARCH; IMAP4rev1 without RETURN gets "* SEARCH".
 */
struct imap_search *
imap_search_parse(struct imap_session *s, struct imap_cmd *cmd, const struct imap_arg *args,
	size_t n, bool esearch)
{
	struct imap_search *q = xcalloc(1, sizeof(*q));
	struct search_ctx cx;
	size_t i;

	memset(&cx, 0, sizeof(cx));
	cx.s = s;
	cx.args = args;
	cx.n = n;
	q->s = s;
	q->tag = cmd->tag;
	q->now = ms_now();
	q->interval_ms = (int64_t)s->d->conf->imap.search_progress_interval * 1000;
	q->last_report_ms = ms_mono_ms();
	if (cx.n >= 1 && imap_arg_atom_eq(&cx.args[0], "RETURN")) {
		const struct imap_arg *opts;
		size_t nopts;

		if (cx.n < 2 || !imap_arg_list(&cx.args[1], &opts, &nopts)) {
			imap_reply(cmd, IMAP_BAD, "Invalid RETURN options");
			goto fail;
		}
		for (i = 0; i < nopts; i++) {
			if (imap_arg_atom_eq(&opts[i], "MIN"))
				q->ret |= IMAP_RET_MIN;
			else if (imap_arg_atom_eq(&opts[i], "MAX"))
				q->ret |= IMAP_RET_MAX;
			else if (imap_arg_atom_eq(&opts[i], "ALL"))
				q->ret |= IMAP_RET_ALL;
			else if (imap_arg_atom_eq(&opts[i], "COUNT"))
				q->ret |= IMAP_RET_COUNT;
			else if (imap_arg_atom_eq(&opts[i], "SAVE"))
				q->save = true;
			else {
				/* RFC 4466 2.6.1: an unknown option is BAD */
				imap_reply(cmd, IMAP_BAD, "Unsupported RETURN option");
				goto fail;
			}
		}
		if (q->ret == 0 && !q->save)
			q->ret = IMAP_RET_ALL;
		q->given = true;
		cx.i = 2;
	} else if (esearch || (s->enabled & IMAP_EN_REV2)) {
		q->ret = IMAP_RET_ALL;
	}
	if (cx.n - cx.i >= 2 && imap_arg_atom_eq(&cx.args[cx.i], "CHARSET")) {
		const char *cs;

		if (!imap_arg_astring(&cx.args[cx.i + 1], &cs, NULL) ||
		    !(ms_strcaseeq(cs, "UTF-8") || ms_strcaseeq(cs, "US-ASCII"))) {
			imap_reply(cmd, IMAP_NO, "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset");
			goto fail;
		}
		cx.i += 2;
	}
	if (cx.i >= cx.n) {
		imap_reply(cmd, IMAP_BAD, "Missing search keys");
		goto fail;
	}
	q->root = skey_new(K_AND);
	while (cx.i < cx.n) {
		struct skey *k = parse_key(&cx, 0);

		if (k == NULL) {
			imap_reply(cmd, IMAP_BAD, "%s", cx.error ? cx.error : "Invalid search");
			goto fail;
		}
		skey_add(q->root, k);
	}
	q->need = cx.need;
	return q;
fail:
	imap_search_free(&q);
	return NULL;
}

void
imap_search_free(struct imap_search **qp)
{
	struct imap_search *q = *qp;

	if (q == NULL)
		return;
	skey_free(q->root);
	free(q->mods);
	free(q);
	*qp = NULL;
}

unsigned
imap_search_return(const struct imap_search *q, bool *given_r, bool *save_r)
{
	*given_r = q->given;
	*save_r = q->save;
	return q->ret;
}

bool
imap_search_uses_saved(const struct imap_search *q)
{
	return q->need.saved;
}

bool
imap_search_has_modseq(const struct imap_search *q)
{
	return q->need.modseq;
}

void
imap_search_set_goal(struct imap_search *q, uint64_t goal)
{
	q->goal = goal;
}

/* RFC 4731 section 3.1: MIN/MAX/ALL are left out when nothing matched;
 * COUNT is always given. */
void
imap_search_buf_return(const struct imap_search *q, const struct imap_search_result *res,
	const uint32_t *vals, struct buf *out)
{
	if ((q->ret & IMAP_RET_MIN) && res->n > 0)
		buf_printf(out, " MIN %u", vals[0]);
	if ((q->ret & IMAP_RET_MAX) && res->n > 0)
		buf_printf(out, " MAX %u", vals[res->n - 1]);
	if (q->ret & IMAP_RET_COUNT)
		buf_printf(out, " COUNT %zu", res->n);
	if ((q->ret & IMAP_RET_ALL) && res->n > 0) {
		buf_puts(out, " ALL ");
		imap_seqset_format(out, vals, res->n);
	}
	if (res->maxmod > 0)
		buf_printf(out, " MODSEQ %lld", (long long)res->maxmod);
}

/* RFC 5182 section 2.4: "if the SAVE result option is combined with MIN
 * and/or MAX result options, and none of the other ESEARCH result options
 * are present, the corresponding MIN/MAX is saved"; otherwise (ALL, COUNT,
 * or SAVE alone) the whole result. */
void
imap_search_save(struct imap_session *s, const struct imap_search *q,
	const struct imap_search_result *res)
{
	struct imap_view *v = s->sel;
	const uint32_t *u;
	size_t n, i;

	if (v == NULL)
		return;
	free(v->saved);
	v->saved = NULL;
	v->nsaved = 0;
	if (res == NULL || res->n == 0)
		return;
	u = v->uids;
	n = res->n;
	if ((q->ret & (IMAP_RET_MIN | IMAP_RET_MAX)) &&
	    !(q->ret & (IMAP_RET_ALL | IMAP_RET_COUNT))) {
		v->saved = xmalloc(2 * sizeof(*v->saved));
		if (q->ret & IMAP_RET_MIN)
			v->saved[v->nsaved++] = u[res->idx[0]];
		if ((q->ret & IMAP_RET_MAX) && (v->nsaved == 0 || n > 1))
			v->saved[v->nsaved++] = u[res->idx[n - 1]];
		return;
	}
	v->saved = xmalloc(n * sizeof(*v->saved));
	for (i = 0; i < n; i++)
		v->saved[i] = u[res->idx[i]];
	v->nsaved = n;
}

/* ---- the command ---- */

/*
 * search = "SEARCH" [search-return-opts] SP search-program
 * With SAVE (RFC 5182 section 2.1) the result replaces "$" when the
 * command succeeds, and empties it when the search fails; a command
 * rejected as BAD leaves "$" alone. SAVE alone asks for no ESEARCH
 * response (RFC 9051 6.4.4.1).
 */
void
imap_cmd_search(struct imap_session *s, struct imap_cmd *cmd)
{
	struct imap_search *q;
	struct imap_search_box box;
	struct imap_search_result res;
	unsigned ret;
	bool given, save, esearch;
	uint32_t *vals;
	size_t i;
	struct buf b;

	q = imap_search_parse(s, cmd, cmd->args, cmd->nargs, false);
	if (q == NULL)
		return;
	imap_search_refresh(q, cmd->uid);
	ret = imap_search_return(q, &given, &save);
	esearch = given || (s->enabled & IMAP_EN_REV2);
	memset(&box, 0, sizeof(box));
	box.id = s->sel->id;
	box.uids = s->sel->uids;
	box.n = s->sel->n;
	box.selected = true;
	imap_search_set_goal(q, box.n);
	if (imap_search_run(q, &box, &res) < 0) {
		if (save)
			imap_search_save(s, q, NULL);
		imap_reply(cmd, IMAP_NO, "[UNAVAILABLE] Search failed");
		imap_search_free(&q);
		return;
	}
	if (imap_search_has_modseq(q))
		imap_condstore_enable(s);
	if (save)
		imap_search_save(s, q, &res);
	vals = xmalloc((res.n + 1) * sizeof(*vals));
	for (i = 0; i < res.n; i++)
		vals[i] = cmd->uid ? s->sel->uids[res.idx[i]] : res.idx[i] + 1;
	buf_init(&b);
	if (!esearch) {
		buf_puts(&b, "* SEARCH");
		for (i = 0; i < res.n; i++)
			buf_printf(&b, " %u", vals[i]);
		if (res.maxmod > 0)
			buf_printf(&b, " (MODSEQ %lld)", (long long)res.maxmod);
		buf_puts(&b, "\r\n");
	} else if (ret != 0) {
		buf_puts(&b, "* ESEARCH (TAG ");
		imap_buf_string(s, &b, cmd->tag, strlen(cmd->tag));
		buf_putc(&b, ')');
		if (cmd->uid)
			buf_puts(&b, " UID");
		imap_search_buf_return(q, &res, vals, &b);
		buf_puts(&b, "\r\n");
	}
	imap_write(s, b.data, b.len);
	buf_free(&b);
	free(vals);
	imap_search_result_free(&res);
	imap_search_free(&q);
}

int
imap_search_program(struct imap_session *s, struct imap_cmd *cmd,
	const struct imap_arg *args, size_t n, uint32_t **idx_r, size_t *n_r,
	int64_t *maxmod_r)
{
	struct imap_search *q;
	struct imap_search_box box;
	struct imap_search_result res;

	*idx_r = NULL;
	*n_r = 0;
	*maxmod_r = 0;
	/* SORT and THREAD have their charset before the program and no
	 * RETURN options (RFC 5256 section 3). */
	if (n > 0 && (imap_arg_atom_eq(&args[0], "RETURN") ||
		imap_arg_atom_eq(&args[0], "CHARSET"))) {
		imap_reply(cmd, IMAP_BAD, "Unknown search key");
		return -1;
	}
	q = imap_search_parse(s, cmd, args, n, false);
	if (q == NULL)
		return -1;
	imap_search_refresh(q, cmd->uid);
	memset(&box, 0, sizeof(box));
	box.id = s->sel->id;
	box.uids = s->sel->uids;
	box.n = s->sel->n;
	box.selected = true;
	imap_search_set_goal(q, box.n);
	if (imap_search_run(q, &box, &res) < 0) {
		imap_reply(cmd, IMAP_NO, "[UNAVAILABLE] Search failed");
		imap_search_free(&q);
		return -1;
	}
	/* RFC 7162 3.1.5: a MODSEQ key enables CONDSTORE. */
	if (imap_search_has_modseq(q))
		imap_condstore_enable(s);
	*idx_r = res.idx;
	*n_r = res.n;
	*maxmod_r = res.maxmod;
	imap_search_free(&q);
	return 0;
}
