/* LIST and LSUB (RFC 9051 6.3.9, RFC 3501 6.3.9) with LIST-EXTENDED
 * (RFC 5258: selection options SUBSCRIBED, REMOTE, RECURSIVEMATCH,
 * SPECIAL-USE; several patterns; return options SUBSCRIBED, CHILDREN,
 * SPECIAL-USE), LIST-STATUS (RFC 5819: RETURN (STATUS (...))) and
 * LIST-METADATA (RFC 9590: RETURN (METADATA (...))). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "imap_session.h"

#define DELIM '/'

/* RFC 9051 6.3.9: "*" matches zero or more characters at this position,
 * "%" is like "*" but does not match a hierarchy delimiter. Dynamic
 * programming over (pattern, name) keeps it linear in their product. */
static bool
pattern_match(const char *pat, size_t pn, const char *name, size_t nn)
{
	bool *row = xcalloc(nn + 1, sizeof(bool)), *next = xcalloc(nn + 1, sizeof(bool));
	size_t i, j;
	bool ok;

	/* row[j]: pattern[0..i) matches name[0..j) */
	row[0] = true;
	for (i = 0; i < pn; i++) {
		char pc = pat[i];

		memset(next, 0, (nn + 1) * sizeof(bool));
		for (j = 0; j <= nn; j++) {
			if (pc == '*' || pc == '%') {
				/* zero chars, or extend a previous match */
				if (row[j] || (j > 0 && next[j - 1] &&
					    (pc == '*' || name[j - 1] != DELIM)))
					next[j] = true;
			} else if (j > 0 && row[j - 1] && name[j - 1] == pc) {
				next[j] = true;
			}
		}
		memcpy(row, next, (nn + 1) * sizeof(bool));
	}
	ok = row[nn];
	free(row);
	free(next);
	return ok;
}

struct list_entry {
	char *name;		/* display form, "INBOX/..." */
	const struct store_mailbox *mb;	/* NULL: implied parent */
	bool children;
	bool subscribed_child;	/* a descendant is subscribed (CHILDINFO) */
};

static int
cmp_entry(const void *a, const void *b)
{
	const struct list_entry *x = a, *y = b;

	return strcmp(x->name, y->name);
}

static const char *
special_use_attr(const char *su)
{
	static const struct {
		const char *su, *attr;
	} map[] = {
		{ "sent", "\\Sent" }, { "drafts", "\\Drafts" }, { "trash", "\\Trash" },
		{ "junk", "\\Junk" }, { "archive", "\\Archive" },
	};
	size_t i;

	if (su == NULL)
		return NULL;
	for (i = 0; i < MS_NELEM(map); i++)
		if (strcmp(su, map[i].su) == 0)
			return map[i].attr;
	return NULL;
}

/* Display name: the store's "Inbox" is INBOX. */
static char *
display_name(const char *name)
{
	if (strncmp(name, "Inbox", 5) == 0 && (name[5] == '\0' || name[5] == DELIM))
		return xasprintf("INBOX%s", name + 5);
	return xstrdup(name);
}

static bool
has_entry(const struct list_entry *e, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(e[i].name, name) == 0)
			return true;
	return false;
}

struct list_opts {
	bool lsub;
	bool extended;		/* any LIST-EXTENDED syntax was used */
	bool sel_subscribed, sel_special_use, sel_recursive;
	bool ret_subscribed, ret_special_use;
	const struct imap_arg *status;	/* RETURN (STATUS (...)) items */
	size_t nstatus;
	struct buf *meta;	/* RETURN (METADATA (...)) entries, lower case */
	size_t nmeta;
	struct buf *patterns;	/* reference + pattern, INBOX normalized */
	size_t npatterns;
};

/* The entry names of RETURN (METADATA (...)), checked like GETMETADATA's
 * and without repeats. Returns 0, or -1 with *error_r. */
static int
parse_meta_entries(struct list_opts *o, const struct imap_arg *ents, size_t n,
	const char **error_r)
{
	struct buf e;
	size_t i, j;

	o->meta = xcalloc(n, sizeof(*o->meta));
	buf_init(&e);
	for (i = 0; i < n; i++) {
		if (imap_metadata_entry(&ents[i], &e, error_r) < 0) {
			buf_free(&e);
			return -1;
		}
		for (j = 0; j < o->nmeta; j++)
			if (strcmp(o->meta[j].data, e.data) == 0)
				break;
		if (j < o->nmeta)
			continue;
		buf_init(&o->meta[o->nmeta]);
		buf_append(&o->meta[o->nmeta], e.data, e.len);
		o->nmeta++;
	}
	buf_free(&e);
	return 0;
}

/* RFC 9590 section 3: "* METADATA mailbox (entry value ...)" with every
 * requested entry, NIL for those without a value (as the reference server
 * does). v holds the requested annotations of all mailboxes, ordered by
 * mailbox id and entry (one query for the whole listing). */
static void
send_list_metadata(struct imap_session *s, const struct list_opts *o, const char *name,
	int64_t mailbox_id, const struct store_metadata *v, size_t nv)
{
	size_t lo = 0, hi = nv, i, j;
	struct buf b;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v[mid].mailbox_id < mailbox_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	buf_init(&b);
	buf_puts(&b, "* METADATA ");
	imap_buf_mailbox(s, &b, name);
	buf_puts(&b, " (");
	for (i = 0; i < o->nmeta; i++) {
		if (i > 0)
			buf_putc(&b, ' ');
		imap_buf_astring(s, &b, o->meta[i].data);
		buf_putc(&b, ' ');
		for (j = lo; j < nv && v[j].mailbox_id == mailbox_id; j++)
			if (strcmp(v[j].entry, o->meta[i].data) == 0)
				break;
		if (j < nv && v[j].mailbox_id == mailbox_id)
			imap_buf_metadata_value(s, &b, &v[j]);
		else
			buf_puts(&b, "NIL");
	}
	buf_puts(&b, ")\r\n");
	imap_write(s, b.data, b.len);
	buf_free(&b);
}

/*
 * RFC 5258 6:
 *   list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat
 *          [SP list-return-opts]
 *   list-select-opts = "(" [list-select-option *(SP list-select-option)] ")"
 *   mbox-or-pat = list-mailbox / patterns
 *   patterns = "(" list-mailbox *(SP list-mailbox) ")"
 *   list-return-opts = "RETURN" SP "(" [return-option *(SP return-option)] ")"
 * RFC 5819: return-option =/ "STATUS" SP "(" status-att *(SP status-att) ")"
 * RFC 9590: return-option =/ "METADATA" SP "(" entry *(SP entry) ")"
 * Returns 0, or -1 after a BAD reply.
 */
static int
parse_list(struct imap_session *s, struct imap_cmd *cmd, struct list_opts *o)
{
	const struct imap_arg *a = cmd->args, *l, *pats, *ents;
	size_t n = cmd->nargs, i = 0, nl, npats, k, nents;
	const char *error, *word;
	struct buf ref, pat;
	bool rec_only = false;

	if (!o->lsub && i < n && a[i].type == IMAP_ARG_LIST) {
		o->extended = true;
		(void)imap_arg_list(&a[i], &l, &nl);
		for (k = 0; k < nl; k++) {
			if (!imap_arg_atom(&l[k], &word))
				goto bad;
			if (ms_strcaseeq(word, "SUBSCRIBED"))
				o->sel_subscribed = true;
			else if (ms_strcaseeq(word, "REMOTE"))
				;	/* no remote mailboxes here */
			else if (ms_strcaseeq(word, "RECURSIVEMATCH"))
				o->sel_recursive = rec_only = true;
			else if (ms_strcaseeq(word, "SPECIAL-USE"))
				o->sel_special_use = true;
			else {
				imap_reply(cmd, IMAP_BAD, "Unknown LIST selection option %s", word);
				return -1;
			}
		}
		/* RFC 5258 3: RECURSIVEMATCH needs another option to
		 * modify; only SUBSCRIBED is one that it does. */
		if (rec_only && !o->sel_subscribed && !o->sel_special_use) {
			imap_reply(cmd, IMAP_BAD, "RECURSIVEMATCH needs another selection option");
			return -1;
		}
		i++;
	}
	if (i + 2 > n)
		goto bad;
	buf_init(&ref);
	if (imap_mailbox_arg(s, &a[i], &ref, &error) < 0) {
		buf_free(&ref);
		imap_reply(cmd, IMAP_BAD, "%s", error);
		return -1;
	}
	i++;
	if (a[i].type == IMAP_ARG_LIST && !o->lsub) {
		o->extended = true;
		(void)imap_arg_list(&a[i], &pats, &npats);
	} else {
		pats = &a[i];
		npats = 1;
	}
	if (npats == 0 || npats > 100) {
		buf_free(&ref);
		goto bad;
	}
	o->patterns = xcalloc(npats, sizeof(struct buf));
	for (k = 0; k < npats; k++) {
		struct buf *full = &o->patterns[o->npatterns++];

		buf_init(full);
		buf_init(&pat);
		if (imap_mailbox_arg(s, &pats[k], &pat, &error) < 0) {
			buf_free(&pat);
			buf_free(&ref);
			imap_reply(cmd, IMAP_BAD, "%s", error);
			return -1;
		}
		/* An empty pattern (basic LIST) asks for the delimiter; it is
		 * kept empty so the caller can answer that. */
		if (pat.len > 0) {
			buf_append(full, ref.data, ref.len);
			buf_append(full, pat.data, pat.len);
		}
		/* INBOX is case-insensitive, also with wildcards right
		 * after it. */
		if (full->len >= 5 && ms_strncaseeq(full->data, "INBOX", 5) &&
		    (full->len == 5 || strchr("/*%", full->data[5]) != NULL))
			memcpy(full->data, "INBOX", 5);
		buf_free(&pat);
	}
	buf_free(&ref);
	i++;
	if (i < n) {
		if (o->lsub || i + 2 != n || !imap_arg_atom_eq(&a[i], "RETURN") ||
		    !imap_arg_list(&a[i + 1], &l, &nl))
			goto bad;
		o->extended = true;
		for (k = 0; k < nl; k++) {
			if (!imap_arg_atom(&l[k], &word))
				goto bad;
			if (ms_strcaseeq(word, "SUBSCRIBED")) {
				o->ret_subscribed = true;
			} else if (ms_strcaseeq(word, "CHILDREN")) {
				;	/* \HasChildren/\HasNoChildren are always sent */
			} else if (ms_strcaseeq(word, "SPECIAL-USE")) {
				o->ret_special_use = true;
			} else if (ms_strcaseeq(word, "STATUS") && k + 1 < nl &&
			    imap_arg_list(&l[k + 1], &o->status, &o->nstatus) && o->nstatus > 0) {
				k++;
			} else if (ms_strcaseeq(word, "METADATA") && k + 1 < nl &&
			    o->meta == NULL && imap_arg_list(&l[k + 1], &ents, &nents) &&
			    nents > 0) {
				k++;
				if (parse_meta_entries(o, ents, nents, &error) < 0) {
					imap_reply(cmd, IMAP_BAD, "%s", error);
					return -1;
				}
			} else {
				imap_reply(cmd, IMAP_BAD, "Unknown LIST return option %s", word);
				return -1;
			}
		}
	}
	return 0;
bad:
	imap_reply(cmd, IMAP_BAD, o->lsub ? "Usage: LSUB reference pattern" :
		"Usage: LIST [(selection)] reference pattern [RETURN (options)]");
	return -1;
}

static bool
matches(const struct list_opts *o, const char *name)
{
	size_t k;

	for (k = 0; k < o->npatterns; k++)
		if (o->patterns[k].len > 0 &&
		    pattern_match(o->patterns[k].data, o->patterns[k].len, name, strlen(name)))
			return true;
	return false;
}

static void
list_or_lsub(struct imap_session *s, struct imap_cmd *cmd, bool lsub)
{
	struct store_mailbox *mbs = NULL;
	struct store_metadata *meta = NULL;
	struct list_entry *e = NULL;
	struct list_opts o;
	size_t nmbs = 0, ne = 0, nmeta = 0, i, j;
	struct buf b, st;
	const char *error;
	bool only_subscribed;

	memset(&o, 0, sizeof(o));
	o.lsub = lsub;
	if (parse_list(s, cmd, &o) < 0)
		goto out;
	if (o.npatterns == 1 && o.patterns[0].len == 0 && !lsub && !o.extended) {
		/* "An empty ("" string) mailbox name argument is a special
		 * request to return the hierarchy delimiter and the root name
		 * of the name given in the reference." */
		imap_untagged(s, "LIST (\\Noselect) \"/\" \"\"");
		goto out;
	}
	only_subscribed = lsub || o.sel_subscribed;
	if (store_mailbox_list(s->d->store, s->account_id, &mbs, &nmbs, &error) < 0) {
		log_error(imap_cid(s), "proto=imap ev=list error=%s", lq(error));
		imap_reply(cmd, IMAP_NO, "[UNAVAILABLE] Temporary failure");
		goto out;
	}
	if (o.nmeta > 0) {
		const char **names = xcalloc(o.nmeta, sizeof(*names));

		for (i = 0; i < o.nmeta; i++)
			names[i] = o.meta[i].data;
		int r = store_metadata_get(s->d->store, s->account_id,
			STORE_METADATA_ALL_MAILBOXES, names, o.nmeta, &meta, &nmeta, &error);

		free(names);
		if (r < 0) {
			log_error(imap_cid(s), "proto=imap ev=list error=%s", lq(error));
			imap_reply(cmd, IMAP_NO, "[UNAVAILABLE] Temporary failure");
			goto out;
		}
	}
	e = xcalloc(nmbs * 2 + 1, sizeof(*e));
	for (i = 0; i < nmbs; i++) {
		e[ne].name = display_name(mbs[i].name);
		e[ne].mb = &mbs[i];
		ne++;
	}
	/* Parents that are not mailboxes themselves ("a" of "a/b"). */
	for (i = 0, j = ne; i < j; i++) {
		char *p = xstrdup(e[i].name), *slash;

		while ((slash = strrchr(p, DELIM)) != NULL) {
			*slash = '\0';
			if (p[0] == '\0' || has_entry(e, ne, p))
				break;
			e = xrealloc(e, (ne + 1) * sizeof(*e));
			memset(&e[ne], 0, sizeof(e[ne]));
			e[ne].name = xstrdup(p);
			ne++;
		}
		free(p);
	}
	for (i = 0; i < ne; i++) {
		size_t len = strlen(e[i].name);

		for (j = 0; j < ne; j++) {
			if (strncmp(e[j].name, e[i].name, len) != 0 || e[j].name[len] != DELIM)
				continue;
			e[i].children = true;
			if (e[j].mb != NULL && e[j].mb->subscribed)
				e[i].subscribed_child = true;
		}
	}
	qsort(e, ne, sizeof(*e), cmp_entry);

	buf_init(&b);
	buf_init(&st);
	for (i = 0; i < ne; i++) {
		const struct store_mailbox *mb = e[i].mb;
		bool sub = mb != NULL && mb->subscribed, childinfo = false;
		const char *su = mb ? special_use_attr(mb->special_use) : NULL;

		if (!matches(&o, e[i].name))
			continue;
		/* RFC 5258 3: with RECURSIVEMATCH, a matching parent with
		 * subscribed descendants is listed (subscribed or not) with
		 * CHILDINFO. */
		childinfo = o.sel_recursive && o.sel_subscribed && e[i].subscribed_child;
		if (only_subscribed && !sub && !childinfo)
			continue;
		if (o.sel_special_use && su == NULL)
			continue;
		buf_reset(&b);
		buf_puts(&b, lsub ? "LSUB (" : "LIST (");
		if (mb == NULL)
			buf_puts(&b, o.extended ? "\\NonExistent " : "\\Noselect ");
		buf_puts(&b, e[i].children ? "\\HasChildren" : "\\HasNoChildren");
		if (sub && !lsub && (o.sel_subscribed || o.ret_subscribed))
			buf_puts(&b, " \\Subscribed");
		if (su != NULL && !lsub) {
			buf_putc(&b, ' ');
			buf_puts(&b, su);
		}
		buf_puts(&b, ") \"/\" ");
		imap_buf_mailbox(s, &b, e[i].name);
		if (childinfo)
			buf_puts(&b, " (\"CHILDINFO\" (\"SUBSCRIBED\"))");
		imap_untagged(s, "%s", b.data);
		/* RFC 5819: STATUS right after the LIST line of each
		 * selectable mailbox. */
		if (o.nstatus > 0 && mb != NULL) {
			buf_reset(&st);
			if (imap_status_response(s, mb, o.status, o.nstatus, &st) < 0) {
				imap_reply(cmd, IMAP_BAD, "Unknown STATUS item");
				break;
			}
			imap_untagged(s, "%s", st.data);
		}
		if (o.nmeta > 0 && mb != NULL)
			send_list_metadata(s, &o, e[i].name, mb->id, meta, nmeta);
	}
	buf_free(&b);
	buf_free(&st);
out:
	for (i = 0; i < ne; i++)
		free(e[i].name);
	free(e);
	store_mailboxes_free(mbs, nmbs);
	store_metadata_free(meta, nmeta);
	for (i = 0; i < o.nmeta; i++)
		buf_free(&o.meta[i]);
	free(o.meta);
	for (i = 0; i < o.npatterns; i++)
		buf_free(&o.patterns[i]);
	free(o.patterns);
}

void
imap_cmd_list(struct imap_session *s, struct imap_cmd *cmd)
{
	list_or_lsub(s, cmd, false);
}

/* RFC 3501 6.3.9 (IMAP4rev1 only; RFC 9051 keeps it as deprecated). */
void
imap_cmd_lsub(struct imap_session *s, struct imap_cmd *cmd)
{
	list_or_lsub(s, cmd, true);
}

const char *
imap_special_use_attr(const char *special_use)
{
	return special_use_attr(special_use);
}
