/* ESEARCH (RFC 7377 MULTISEARCH): one search program over several
 * mailboxes, chosen with the mailbox filters of RFC 5465 (NOTIFY), in
 * authenticated and selected state. Each mailbox with matches gets
 * "* ESEARCH (TAG "t" MAILBOX m UIDVALIDITY n) UID ..."; the results are
 * always UIDs. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "imap_search.h"

enum src_kind {
	SRC_SELECTED = 1 << 0,
	SRC_INBOXES = 1 << 1,
	SRC_PERSONAL = 1 << 2,
	SRC_SUBSCRIBED = 1 << 3,
};

enum name_kind { NAME_SUBTREE, NAME_SUBTREE_ONE, NAME_MAILBOX };

struct src_name {
	enum name_kind kind;
	char *name;		/* store name ("Inbox", "Archive/2026") */
};

struct sources {
	unsigned kinds;		/* enum src_kind */
	struct src_name *names;
	size_t nnames;
};

static void
sources_free(struct sources *src)
{
	size_t i;

	for (i = 0; i < src->nnames; i++)
		free(src->names[i].name);
	free(src->names);
	memset(src, 0, sizeof(*src));
}

static int
add_name(struct imap_session *s, struct sources *src, enum name_kind kind,
	const struct imap_arg *a, const char **error_r)
{
	struct buf name;

	buf_init(&name);
	if (imap_mailbox_arg(s, a, &name, error_r) < 0) {
		buf_free(&name);
		return -1;
	}
	src->names = xrealloc(src->names, (src->nnames + 1) * sizeof(*src->names));
	src->names[src->nnames].kind = kind;
	src->names[src->nnames].name = buf_steal(&name);
	src->nnames++;
	buf_free(&name);
	return 0;
}

/*
 * RFC 7377 section 3 (with RFC 5465 section 8):
 *   esearch-source-opts = "IN" SP "(" source-mbox [SP "(" scope-options ")"] ")"
 *   source-mbox      = filter-mailboxes *(SP filter-mailboxes)
 *   filter-mailboxes = "selected" / "inboxes" / "personal" / "subscribed" /
 *                      ("subtree" SP one-or-more-mailbox) /
 *                      ("subtree-one" SP one-or-more-mailbox) /
 *                      ("mailboxes" SP one-or-more-mailbox)
 *   one-or-more-mailbox = mailbox / many-mailboxes
 *   many-mailboxes   = "(" mailbox *(SP mailbox) ")"
 * No scope options are defined, so none are accepted (as the reference).
 */
static int
parse_sources(struct imap_session *s, const struct imap_arg *list, size_t n,
	struct sources *src, const char **error_r)
{
	size_t i, j;

	if (n == 0) {
		*error_r = "Empty mailbox source list";
		return -1;
	}
	for (i = 0; i < n; i++) {
		const struct imap_arg *l;
		enum name_kind kind;
		size_t nl;

		if (imap_arg_atom_eq(&list[i], "SELECTED")) {
			src->kinds |= SRC_SELECTED;
			continue;
		} else if (imap_arg_atom_eq(&list[i], "INBOXES")) {
			src->kinds |= SRC_INBOXES;
			continue;
		} else if (imap_arg_atom_eq(&list[i], "PERSONAL")) {
			src->kinds |= SRC_PERSONAL;
			continue;
		} else if (imap_arg_atom_eq(&list[i], "SUBSCRIBED")) {
			src->kinds |= SRC_SUBSCRIBED;
			continue;
		} else if (imap_arg_atom_eq(&list[i], "SUBTREE")) {
			kind = NAME_SUBTREE;
		} else if (imap_arg_atom_eq(&list[i], "SUBTREE-ONE")) {
			kind = NAME_SUBTREE_ONE;
		} else if (imap_arg_atom_eq(&list[i], "MAILBOXES")) {
			kind = NAME_MAILBOX;
		} else {
			*error_r = list[i].type == IMAP_ARG_LIST ? "Scope options not supported" :
				"Unknown mailbox source";
			return -1;
		}
		if (++i == n) {
			*error_r = "Missing mailbox name";
			return -1;
		}
		if (imap_arg_list(&list[i], &l, &nl)) {
			if (nl == 0) {
				*error_r = "Empty mailbox list";
				return -1;
			}
			for (j = 0; j < nl; j++)
				if (add_name(s, src, kind, &l[j], error_r) < 0)
					return -1;
		} else if (add_name(s, src, kind, &list[i], error_r) < 0) {
			return -1;
		}
	}
	return 0;
}

/* Does mailbox mb belong to the sources? */
static bool
selected_by(struct imap_session *s, const struct sources *src, char *const *delivery,
	size_t ndelivery, const struct store_mailbox *mb)
{
	size_t i;

	if ((src->kinds & SRC_PERSONAL) ||
	    ((src->kinds & SRC_SELECTED) && s->sel != NULL && s->sel->id == mb->id) ||
	    ((src->kinds & SRC_SUBSCRIBED) && mb->subscribed))
		return true;
	if (src->kinds & SRC_INBOXES) {
		/* RFC 5465 section 6: "inboxes" is where new mail arrives:
		 * the Inbox with its children, and the mailboxes of the
		 * account's addresses and delivery rules. */
		if (imap_mailbox_in_subtree(mb->name, "Inbox", false))
			return true;
		for (i = 0; i < ndelivery; i++)
			if (strcmp(mb->name, delivery[i]) == 0)
				return true;
	}
	for (i = 0; i < src->nnames; i++) {
		const struct src_name *sn = &src->names[i];

		if (sn->kind == NAME_MAILBOX ? strcmp(mb->name, sn->name) == 0 :
		    imap_mailbox_in_subtree(mb->name, sn->name, sn->kind == NAME_SUBTREE_ONE))
			return true;
	}
	return false;
}

/* "* ESEARCH (TAG "t" MAILBOX m UIDVALIDITY n) UID ..." for one mailbox. */
static void
write_result(struct imap_session *s, struct imap_cmd *cmd, const struct imap_search *q,
	const struct store_mailbox *mb, const uint32_t *uids,
	const struct imap_search_result *res)
{
	uint32_t *vals = xmalloc((res->n + 1) * sizeof(*vals));
	struct buf b;
	size_t i;

	for (i = 0; i < res->n; i++)
		vals[i] = uids[res->idx[i]];
	buf_init(&b);
	buf_puts(&b, "* ESEARCH (TAG ");
	imap_buf_string(s, &b, cmd->tag, strlen(cmd->tag));
	buf_puts(&b, " MAILBOX ");
	imap_buf_mailbox(s, &b, mb->name);
	buf_printf(&b, " UIDVALIDITY %u) UID", mb->uidvalidity);
	imap_search_buf_return(q, res, vals, &b);
	buf_puts(&b, "\r\n");
	imap_write(s, b.data, b.len);
	buf_free(&b);
	free(vals);
}

/*
 * esearch = "ESEARCH" [SP esearch-source-opts] [SP search-return-opts]
 *           SP search-program
 * RFC 7377 section 2: without source options the selected mailbox is
 * searched; mailboxes without matches get no response (unlike SEARCH);
 * SAVE only when the one mailbox searched is the selected one (section
 * 2.2). "$" means the selected mailbox's saved result, so it is refused
 * for a search that takes in other mailboxes (as the reference). A named
 * mailbox (MAILBOXES, SUBTREE, SUBTREE-ONE) that does not exist is NO
 * [NONEXISTENT], like SELECT and STATUS.
 */
void
imap_cmd_esearch(struct imap_session *s, struct imap_cmd *cmd)
{
	struct sources src;
	struct imap_search *q = NULL;
	struct store_mailbox *mbs = NULL;
	size_t nmbs = 0, i, k, nsel = 0;
	char **delivery = NULL;
	size_t ndelivery = 0;
	bool *use = NULL, given, save, only_selected = true;
	uint64_t goal = 0;
	const struct imap_arg *args = cmd->args;
	size_t nargs = cmd->nargs;
	const char *error;

	memset(&src, 0, sizeof(src));
	if (nargs >= 1 && imap_arg_atom_eq(&args[0], "IN")) {
		const struct imap_arg *list;
		size_t nl;

		if (nargs < 2 || !imap_arg_list(&args[1], &list, &nl)) {
			imap_reply(cmd, IMAP_BAD, "Usage: ESEARCH IN (sources) [RETURN (options)] keys");
			return;
		}
		if (parse_sources(s, list, nl, &src, &error) < 0) {
			imap_reply(cmd, IMAP_BAD, "%s", error);
			goto out;
		}
		args += 2;
		nargs -= 2;
	} else {
		src.kinds = SRC_SELECTED;
	}
	if ((src.kinds & SRC_SELECTED) && s->sel == NULL) {
		imap_reply(cmd, IMAP_BAD, "No mailbox selected");
		goto out;
	}
	q = imap_search_parse(s, cmd, args, nargs, true);
	if (q == NULL)
		goto out;
	(void)imap_search_return(q, &given, &save);
	if (s->sel != NULL)
		imap_search_refresh(q, false);

	if (store_mailbox_list(s->d->store, s->account_id, &mbs, &nmbs, &error) < 0 ||
	    ((src.kinds & SRC_INBOXES) &&
		store_delivery_mailboxes(s->d->store, s->account_id, &delivery, &ndelivery,
		    &error) < 0)) {
		log_error(imap_cid(s), "proto=imap ev=esearch error=%s", lq(error));
		imap_reply(cmd, IMAP_NO, "[UNAVAILABLE] Search failed");
		goto out;
	}
	for (i = 0; i < src.nnames; i++) {
		for (k = 0; k < nmbs; k++)
			if (strcmp(mbs[k].name, src.names[i].name) == 0)
				break;
		if (k == nmbs) {
			imap_reply(cmd, IMAP_NO, "[NONEXISTENT] Mailbox does not exist");
			goto out;
		}
	}
	use = xcalloc(nmbs + 1, sizeof(*use));
	for (i = 0; i < nmbs; i++) {
		use[i] = selected_by(s, &src, delivery, ndelivery, &mbs[i]);
		if (!use[i])
			continue;
		nsel++;
		if (s->sel != NULL && mbs[i].id == s->sel->id) {
			goal += s->sel->n;
		} else {
			only_selected = false;
			goal += (uint64_t)mbs[i].count_total;
		}
	}
	if (save && (!only_selected || nsel != 1)) {
		imap_reply(cmd, IMAP_BAD, "SAVE only when searching just the selected mailbox");
		goto out;
	}
	if (imap_search_uses_saved(q) && !only_selected) {
		imap_reply(cmd, IMAP_NO, "The saved result ($) is for the selected mailbox only");
		goto out;
	}
	imap_search_set_goal(q, goal);
	if (imap_search_has_modseq(q))
		imap_condstore_enable(s);
	for (i = 0; i < nmbs && !s->c->failed; i++) {
		struct imap_search_box box;
		struct imap_search_result res;
		uint32_t *uids = NULL;
		size_t nuids = 0;
		int r;

		if (!use[i])
			continue;
		memset(&box, 0, sizeof(box));
		box.id = mbs[i].id;
		if (s->sel != NULL && mbs[i].id == s->sel->id) {
			box.uids = s->sel->uids;
			box.n = s->sel->n;
			box.selected = true;
		} else {
			/* Sequence numbers in the program count the
			 * mailbox's messages as they are now. */
			if (store_mailbox_uids(s->d->store, mbs[i].id, &uids, &nuids,
				    &error) < 0) {
				log_error(imap_cid(s), "proto=imap ev=esearch error=%s", lq(error));
				imap_reply(cmd, IMAP_NO, "[UNAVAILABLE] Search failed");
				goto out;
			}
			box.uids = uids;
			box.n = nuids;
		}
		r = imap_search_run(q, &box, &res);
		if (r < 0) {
			free(uids);
			if (save)
				imap_search_save(s, q, NULL);
			imap_reply(cmd, IMAP_NO, "[UNAVAILABLE] Search failed");
			goto out;
		}
		if (save)
			imap_search_save(s, q, &res);
		if (res.n > 0 && imap_search_return(q, &given, &save) != 0)
			write_result(s, cmd, q, &mbs[i], box.uids, &res);
		imap_search_result_free(&res);
		free(uids);
	}
	log_debug(imap_cid(s), "proto=imap ev=esearch mailboxes=%zu", nsel);
out:
	free(use);
	store_names_free(delivery, ndelivery);
	store_mailboxes_free(mbs, nmbs);
	imap_search_free(&q);
	sources_free(&src);
}
