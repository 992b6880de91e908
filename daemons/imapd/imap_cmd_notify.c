/* NOTIFY (RFC 5465): the client names mailboxes and events; the server then
 * reports them without being asked, also between commands.
 *
 * Changes arrive as wakeups (imap_notify.h: PostgreSQL NOTIFY from any
 * process that changed the account). The selected mailbox is reported by
 * imap_sync as for IDLE, under the rules of the SELECTED or SELECTED-DELAYED
 * group (or not at all when no group names it). Other mailboxes are compared
 * with a snapshot of their counters taken when NOTIFY was given: one query
 * per wakeup lists every mailbox with its HIGHESTMODSEQ, and the differences
 * become STATUS responses (MessageNew, MessageExpunge, FlagChange) and LIST
 * responses (MailboxName with OLDNAME or \NonExistent, SubscriptionChange);
 * annotations are compared by their modseq (MailboxMetadataChange and
 * ServerMetadataChange: "* METADATA mailbox entry").
 *
 * A snapshot cannot tell a new message followed by its expunge from nothing
 * at all; such a pair between two wakeups goes unreported, and the STATUS
 * sent has the current figures, which is what a client wants to show. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "imap_session.h"

enum notify_spec {
	NS_SELECTED,
	NS_SELECTED_DELAYED,
	NS_INBOXES,
	NS_PERSONAL,
	NS_SUBSCRIBED,
	NS_SUBTREE,
	NS_SUBTREE_ONE,		/* RFC 7377, also accepted here (as the reference) */
	NS_MAILBOXES,
};

enum {
	EV_MESSAGE_NEW = 1 << 0,
	EV_MESSAGE_EXPUNGE = 1 << 1,
	EV_FLAG_CHANGE = 1 << 2,
	EV_MAILBOX_NAME = 1 << 3,
	EV_SUBSCRIPTION = 1 << 4,
	EV_MAILBOX_METADATA = 1 << 5,
	EV_SERVER_METADATA = 1 << 6,
};
#define EV_METADATA (EV_MAILBOX_METADATA | EV_SERVER_METADATA)
#define EV_MESSAGE (EV_MESSAGE_NEW | EV_MESSAGE_EXPUNGE | EV_FLAG_CHANGE)

/* RFC 5465 5.10: BADEVENT lists what is supported. */
#define BADEVENT "[BADEVENT (MessageNew MessageExpunge FlagChange MailboxName " \
	"SubscriptionChange MailboxMetadataChange ServerMetadataChange)]"

struct notify_group {
	enum notify_spec spec;
	char **names;		/* store names, for SUBTREE/SUBTREE-ONE/MAILBOXES */
	size_t nnames;
	unsigned events;	/* 0: NONE */
	struct imap_arg *fetch;	/* MessageNew's fetch attributes, or NULL */
	size_t nfetch;
};

/* A mailbox as last reported. */
struct notify_mb {
	int64_t id;
	char *name;
	uint32_t uidvalidity, uidnext;
	int64_t messages, unseen, hms;
	bool subscribed;
};

struct imap_notify {
	struct notify_group *g;
	size_t ng;
	/* INBOXES: mailboxes incoming mail is delivered to (addresses and
	 * rulesets without a list domain), looked up at NOTIFY time. */
	char **inboxes;
	size_t ninboxes;
	struct notify_mb *snap;
	size_t nsnap;
	/* Annotations as last reported, when a group asks for metadata
	 * events (RFC 5465 5.7, 5.8). */
	bool want_meta;
	struct store_metadata_version *meta;
	size_t nmeta;
};

static void
free_snap(struct imap_notify *n)
{
	size_t i;

	for (i = 0; i < n->nsnap; i++)
		free(n->snap[i].name);
	free(n->snap);
	n->snap = NULL;
	n->nsnap = 0;
}

void
imap_notify_free(struct imap_notify **np)
{
	struct imap_notify *n = *np;
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->ng; i++) {
		store_names_free(n->g[i].names, n->g[i].nnames);
		imap_args_free(n->g[i].fetch, n->g[i].nfetch);
	}
	free(n->g);
	store_names_free(n->inboxes, n->ninboxes);
	free_snap(n);
	store_metadata_versions_free(n->meta, n->nmeta);
	free(n);
	*np = NULL;
}

/* ---- matching (RFC 5465 section 6) ---- */

static bool
spec_matches(const struct imap_notify *n, const struct notify_group *g,
	const char *name, bool subscribed)
{
	size_t i;

	switch (g->spec) {
	case NS_PERSONAL:
		return true;
	case NS_INBOXES:
		if (imap_mailbox_in_subtree(name, "Inbox", false))
			return true;
		for (i = 0; i < n->ninboxes; i++)
			if (strcmp(n->inboxes[i], name) == 0)
				return true;
		return false;
	case NS_SUBSCRIBED:
		return subscribed;
	case NS_SUBTREE:
	case NS_SUBTREE_ONE:
		for (i = 0; i < g->nnames; i++)
			if (imap_mailbox_in_subtree(name, g->names[i], g->spec == NS_SUBTREE_ONE))
				return true;
		return false;
	case NS_MAILBOXES:
		for (i = 0; i < g->nnames; i++)
			if (strcmp(g->names[i], name) == 0)
				return true;
		return false;
	case NS_SELECTED:
	case NS_SELECTED_DELAYED:
		break;
	}
	return false;
}

/* Does an event of one of the kinds in ev for this mailbox get reported?
 * The first group whose mailboxes match decides when it lists the event
 * or says NONE; message events of the selected mailbox belong to the
 * SELECTED group only (6: "the selected mailbox ... MUST NOT" otherwise). */
static bool
wants(const struct imap_session *s, int64_t id, const char *name, bool subscribed,
	unsigned ev)
{
	const struct imap_notify *n = s->notify;
	bool selected = s->sel != NULL && s->sel->id == id;
	size_t i;

	for (i = 0; i < n->ng; i++) {
		const struct notify_group *g = &n->g[i];

		if (g->spec == NS_SELECTED || g->spec == NS_SELECTED_DELAYED) {
			if (selected && (ev & EV_MESSAGE))
				return (g->events & ev) != 0;
			continue;
		}
		if (selected && (ev & EV_MESSAGE))
			continue;
		if (!spec_matches(n, g, name, subscribed))
			continue;
		if (g->events == 0)
			return false;
		if (g->events & ev)
			return true;
	}
	return false;
}

static const struct notify_group *
selected_group(const struct imap_session *s)
{
	size_t i;

	for (i = 0; s->notify != NULL && i < s->notify->ng; i++)
		if (s->notify->g[i].spec == NS_SELECTED ||
		    s->notify->g[i].spec == NS_SELECTED_DELAYED)
			return &s->notify->g[i];
	return NULL;
}

enum imap_notify_sel
imap_notify_selected(const struct imap_session *s, bool *flag_changes_r)
{
	const struct notify_group *g;

	*flag_changes_r = true;
	if (s->notify == NULL)
		return IMAP_NOTIFY_SEL_CLASSIC;
	g = selected_group(s);
	if (g == NULL || !(g->events & (EV_MESSAGE_NEW | EV_MESSAGE_EXPUNGE)))
		return IMAP_NOTIFY_SEL_OFF;
	*flag_changes_r = (g->events & EV_FLAG_CHANGE) != 0;
	return g->spec == NS_SELECTED ? IMAP_NOTIFY_SEL_NOW : IMAP_NOTIFY_SEL_DELAYED;
}

void
imap_notify_new_messages(struct imap_session *s, size_t first, size_t last)
{
	const struct notify_group *g = selected_group(s);

	if (g == NULL || !(g->events & EV_MESSAGE_NEW))
		return;
	imap_fetch_new_messages(s, g->fetch, g->nfetch, first, last);
}

/* ---- reporting ---- */

static void
send_status(struct imap_session *s, const struct store_mailbox *mb, int64_t hms,
	bool counts)
{
	struct buf b;

	buf_init(&b);
	buf_puts(&b, "* STATUS ");
	imap_buf_mailbox(s, &b, mb->name);
	/* 5.2, 5.3: MessageNew and MessageExpunge give UIDNEXT and MESSAGES;
	 * 5.1: FlagChange gives UIDVALIDITY (to tie a later HIGHESTMODSEQ to
	 * it). UNSEEN always, for the unread count clients show. */
	if (counts)
		buf_printf(&b, " (MESSAGES %lld UIDNEXT %u UIDVALIDITY %u UNSEEN %lld",
			(long long)mb->count_total, mb->uidnext, mb->uidvalidity,
			(long long)mb->count_unseen);
	else
		buf_printf(&b, " (UIDVALIDITY %u UNSEEN %lld", mb->uidvalidity,
			(long long)mb->count_unseen);
	if (s->enabled & IMAP_EN_CONDSTORE)
		buf_printf(&b, " HIGHESTMODSEQ %lld", (long long)hms);
	buf_puts(&b, ")\r\n");
	imap_write(s, b.data, b.len);
	buf_free(&b);
}

/* "* LIST (attrs) "/" name [("OLDNAME" (old))]" (RFC 5465 5.4, 5.5). */
static void
send_list(struct imap_session *s, const char *name, const char *oldname,
	bool nonexistent, bool subscribed, const char *special_use)
{
	const char *su = special_use ? imap_special_use_attr(special_use) : NULL;
	struct buf b;
	bool sp = false;

	buf_init(&b);
	buf_puts(&b, "* LIST (");
	if (nonexistent) {
		buf_puts(&b, "\\NonExistent");
		sp = true;
	}
	if (subscribed) {
		buf_puts(&b, sp ? " \\Subscribed" : "\\Subscribed");
		sp = true;
	}
	if (su != NULL) {
		if (sp)
			buf_putc(&b, ' ');
		buf_puts(&b, su);
	}
	buf_puts(&b, ") \"/\" ");
	imap_buf_mailbox(s, &b, name);
	if (oldname != NULL) {
		buf_puts(&b, " (\"OLDNAME\" (");
		imap_buf_mailbox(s, &b, oldname);
		buf_puts(&b, "))");
	}
	buf_puts(&b, "\r\n");
	imap_write(s, b.data, b.len);
	buf_free(&b);
}

static void
snap_set(struct notify_mb *m, const struct store_mailbox *mb, int64_t hms)
{
	free(m->name);
	m->id = mb->id;
	m->name = xstrdup(mb->name);
	m->uidvalidity = mb->uidvalidity;
	m->uidnext = mb->uidnext;
	m->messages = mb->count_total;
	m->unseen = mb->count_unseen;
	m->hms = hms;
	m->subscribed = mb->subscribed;
}

static struct notify_mb *
snap_find(struct imap_notify *n, int64_t id)
{
	size_t i;

	for (i = 0; i < n->nsnap; i++)
		if (n->snap[i].id == id)
			return &n->snap[i];
	return NULL;
}

static int diff_metadata(struct imap_session *s, const struct store_mailbox *mbs,
	size_t nmb, bool report);

/* Compare the mailboxes with the snapshot, report what the groups ask
 * for, and make the listing the new snapshot. With report false only the
 * snapshot is taken (NOTIFY SET itself). */
static int
diff_mailboxes(struct imap_session *s, bool report, bool status_all)
{
	struct imap_notify *n = s->notify;
	struct store_mailbox *mbs = NULL;
	struct notify_mb *snap;
	int64_t *hms = NULL;
	size_t nmb = 0, i;
	const char *error;

	if (store_mailbox_list_modseq(s->d->store, s->account_id, &mbs, &hms, &nmb,
		    &error) < 0) {
		log_warn(imap_cid(s), "proto=imap ev=notify-failed error=%s", lq(error));
		return -1;
	}
	for (i = 0; report && i < nmb; i++) {
		const struct store_mailbox *mb = &mbs[i];
		struct notify_mb *old = snap_find(n, mb->id);
		bool selected = s->sel != NULL && s->sel->id == mb->id;
		bool renamed, added, removed;

		if (old == NULL) {
			if (wants(s, mb->id, mb->name, mb->subscribed, EV_MAILBOX_NAME))
				send_list(s, mb->name, NULL, false, mb->subscribed,
					mb->special_use);
			continue;
		}
		renamed = strcmp(old->name, mb->name) != 0;
		if (renamed && wants(s, mb->id, mb->name, mb->subscribed, EV_MAILBOX_NAME))
			send_list(s, mb->name, old->name, false, mb->subscribed,
				mb->special_use);
		if (!renamed && old->subscribed != mb->subscribed &&
		    wants(s, mb->id, mb->name, true, EV_SUBSCRIPTION))
			send_list(s, mb->name, NULL, false, mb->subscribed, mb->special_use);
		if (selected)
			continue;	/* imap_sync's business */
		/* Messages added: UIDNEXT moved. Removed: fewer messages than
		 * the UIDs handed out since would give (a new UIDVALIDITY
		 * means the mailbox was emptied and refilled: both). */
		added = mb->uidnext != old->uidnext || mb->uidvalidity != old->uidvalidity;
		removed = mb->uidvalidity != old->uidvalidity ||
			mb->count_total < old->messages + (int64_t)(mb->uidnext - old->uidnext);
		if ((added && wants(s, mb->id, mb->name, mb->subscribed, EV_MESSAGE_NEW)) ||
		    (removed && wants(s, mb->id, mb->name, mb->subscribed, EV_MESSAGE_EXPUNGE)))
			send_status(s, mb, hms[i], true);
		else if (!added && !removed &&
			 (hms[i] != old->hms || mb->count_unseen != old->unseen) &&
			 wants(s, mb->id, mb->name, mb->subscribed, EV_FLAG_CHANGE))
			send_status(s, mb, hms[i], false);
	}
	/* Gone: deleted by another session (a rename keeps the id). */
	for (i = 0; report && i < n->nsnap; i++) {
		size_t j;
		bool found = false;

		for (j = 0; j < nmb && !found; j++)
			found = mbs[j].id == n->snap[i].id;
		if (!found && wants(s, n->snap[i].id, n->snap[i].name, n->snap[i].subscribed,
			    EV_MAILBOX_NAME))
			send_list(s, n->snap[i].name, NULL, true, false, NULL);
	}
	/* NOTIFY SET STATUS (RFC 5465 3): the current STATUS of every
	 * mailbox whose MessageNew events are asked for, except the
	 * selected one. */
	for (i = 0; status_all && i < nmb; i++)
		if ((s->sel == NULL || s->sel->id != mbs[i].id) &&
		    wants(s, mbs[i].id, mbs[i].name, mbs[i].subscribed, EV_MESSAGE_NEW))
			send_status(s, &mbs[i], hms[i], true);
	if (n->want_meta)
		(void)diff_metadata(s, mbs, nmb, report);
	snap = xcalloc(nmb + 1, sizeof(*snap));
	for (i = 0; i < nmb; i++)
		snap_set(&snap[i], &mbs[i], hms[i]);
	free_snap(n);
	n->snap = snap;
	n->nsnap = nmb;
	store_mailboxes_free(mbs, nmb);
	free(hms);
	return 0;
}

static int
cmp_meta(const struct store_metadata_version *a, const struct store_metadata_version *b)
{
	if (a->mailbox_id != b->mailbox_id)
		return a->mailbox_id < b->mailbox_id ? -1 : 1;
	return strcmp(a->entry, b->entry);
}

static void
send_metadata(struct imap_session *s, const struct store_mailbox *mbs, size_t nmb,
	const struct store_metadata_version *m)
{
	const struct store_mailbox *mb = NULL;
	struct buf b;
	size_t i;

	for (i = 0; i < nmb && m->mailbox_id != 0; i++)
		if (mbs[i].id == m->mailbox_id)
			mb = &mbs[i];
	if (m->mailbox_id != 0 && mb == NULL)
		return;		/* went with its mailbox (MailboxName says so) */
	if (m->mailbox_id == 0 ? !wants(s, 0, "", false, EV_SERVER_METADATA) :
	    !wants(s, mb->id, mb->name, mb->subscribed, EV_MAILBOX_METADATA))
		return;
	/* RFC 5464 4.4.2: the unsolicited form names entries, no values. */
	buf_init(&b);
	buf_puts(&b, "* METADATA ");
	if (mb == NULL)
		buf_puts(&b, "\"\"");
	else
		imap_buf_mailbox(s, &b, mb->name);
	buf_putc(&b, ' ');
	imap_buf_astring(s, &b, m->entry);
	buf_puts(&b, "\r\n");
	imap_write(s, b.data, b.len);
	buf_free(&b);
}

/* Annotations added, changed or removed since the last look. */
static int
diff_metadata(struct imap_session *s, const struct store_mailbox *mbs, size_t nmb,
	bool report)
{
	struct imap_notify *n = s->notify;
	struct store_metadata_version *v = NULL;
	size_t nv = 0, i = 0, j = 0;
	const char *error;

	if (store_metadata_versions(s->d->store, s->account_id, &v, &nv, &error) < 0) {
		log_warn(imap_cid(s), "proto=imap ev=notify-failed error=%s", lq(error));
		return -1;
	}
	while (report && (i < n->nmeta || j < nv)) {
		int c = i == n->nmeta ? 1 : j == nv ? -1 : cmp_meta(&n->meta[i], &v[j]);

		if (c < 0) {
			send_metadata(s, mbs, nmb, &n->meta[i++]);
		} else if (c > 0) {
			send_metadata(s, mbs, nmb, &v[j++]);
		} else {
			if (n->meta[i].modseq != v[j].modseq)
				send_metadata(s, mbs, nmb, &v[j]);
			i++;
			j++;
		}
	}
	store_metadata_versions_free(n->meta, n->nmeta);
	n->meta = v;
	n->nmeta = nv;
	return 0;
}

void
imap_notify_poll(struct imap_session *s, bool in_idle)
{
	enum imap_notify_sel mode;
	bool flags;

	if (s->notify == NULL)
		return;
	s->notify_pending = false;
	mode = imap_notify_selected(s, &flags);
	/* Between commands the SELECTED group gets its expunges at once;
	 * SELECTED-DELAYED keeps them for the next command that may report
	 * them (5465 6), as IDLE may. */
	if (s->sel != NULL && mode != IMAP_NOTIFY_SEL_OFF)
		(void)imap_sync(s, in_idle || mode == IMAP_NOTIFY_SEL_NOW, false);
	(void)diff_mailboxes(s, true, false);
}

/* ---- the command ---- */

static int
parse_events(struct imap_session *s, struct imap_cmd *cmd, struct notify_group *g,
	const struct imap_arg *a)
{
	static const struct {
		const char *name;
		unsigned ev;
	} names[] = {
		{ "MessageNew", EV_MESSAGE_NEW },
		{ "MessageExpunge", EV_MESSAGE_EXPUNGE },
		{ "FlagChange", EV_FLAG_CHANGE },
		{ "MailboxName", EV_MAILBOX_NAME },
		{ "SubscriptionChange", EV_SUBSCRIPTION },
		{ "MailboxMetadataChange", EV_MAILBOX_METADATA },
		{ "ServerMetadataChange", EV_SERVER_METADATA },
	};
	const struct imap_arg *l;
	const char *error;
	size_t n, i, k;

	if (imap_arg_atom_eq(a, "NONE")) {
		g->events = 0;
		return 0;
	}
	if (!imap_arg_list(a, &l, &n) || n == 0) {
		imap_reply(cmd, IMAP_BAD, "Expected NONE or a list of events");
		return -1;
	}
	for (i = 0; i < n; i++) {
		const char *word;

		if (!imap_arg_atom(&l[i], &word)) {
			imap_reply(cmd, IMAP_BAD, "Expected an event name");
			return -1;
		}
		for (k = 0; k < MS_NELEM(names); k++)
			if (ms_strcaseeq(word, names[k].name))
				break;
		if (k == MS_NELEM(names)) {
			/* 5465 3.1: unsupported events are NO, not BAD
			 * (AnnotationChange: no per-message annotations). */
			imap_reply(cmd, IMAP_NO, BADEVENT " Event %s is not supported", word);
			return -1;
		}
		g->events |= names[k].ev;
		if (names[k].ev == EV_MESSAGE_NEW && i + 1 < n &&
		    l[i + 1].type == IMAP_ARG_LIST) {
			const struct imap_arg *fl;
			size_t nf;

			i++;
			(void)imap_arg_list(&l[i], &fl, &nf);
			/* Checked with FETCH's own parser now, kept as
			 * arguments for each new message. */
			if (nf == 0 || imap_fetch_atts_check(s, &l[i], 1, &error) < 0) {
				imap_reply(cmd, IMAP_BAD, "MessageNew: %s",
					nf == 0 ? "Empty fetch attribute list" : error);
				return -1;
			}
			g->fetch = imap_args_dup(&l[i], 1);
			g->nfetch = 1;
		}
	}
	/* 5465 5: MessageNew and MessageExpunge come together; FlagChange
	 * needs both. */
	if (!(g->events & EV_MESSAGE_NEW) != !(g->events & EV_MESSAGE_EXPUNGE)) {
		imap_reply(cmd, IMAP_BAD, "MessageNew and MessageExpunge go together");
		return -1;
	}
	if ((g->events & EV_FLAG_CHANGE) && !(g->events & EV_MESSAGE_NEW)) {
		imap_reply(cmd, IMAP_BAD, "FlagChange needs MessageNew and MessageExpunge");
		return -1;
	}
	if ((g->spec == NS_SELECTED || g->spec == NS_SELECTED_DELAYED) &&
	    (g->events & ~EV_MESSAGE)) {
		imap_reply(cmd, IMAP_BAD, "Only message events apply to the selected mailbox");
		return -1;
	}
	return 0;
}

static int
parse_mailboxes(struct imap_session *s, struct imap_cmd *cmd, struct notify_group *g,
	const struct imap_arg *a)
{
	const struct imap_arg *l = a;
	const char *error;
	struct buf name;
	size_t n = 1, i;

	if (a->type == IMAP_ARG_LIST && (!imap_arg_list(a, &l, &n) || n == 0)) {
		imap_reply(cmd, IMAP_BAD, "Empty mailbox list");
		return -1;
	}
	buf_init(&name);
	g->names = xcalloc(n, sizeof(*g->names));
	for (i = 0; i < n; i++) {
		if (imap_mailbox_arg(s, &l[i], &name, &error) < 0) {
			imap_reply(cmd, IMAP_BAD, "%s", error);
			buf_free(&name);
			return -1;
		}
		g->names[g->nnames++] = xstrdup(name.data);
	}
	buf_free(&name);
	return 0;
}

/* event-group = "(" filter-mailboxes SP events ")" */
static int
parse_group(struct imap_session *s, struct imap_cmd *cmd, struct notify_group *g,
	const struct imap_arg *a)
{
	static const struct {
		const char *name;
		enum notify_spec spec;
		bool names;
	} specs[] = {
		{ "SELECTED", NS_SELECTED, false },
		{ "SELECTED-DELAYED", NS_SELECTED_DELAYED, false },
		{ "INBOXES", NS_INBOXES, false },
		{ "PERSONAL", NS_PERSONAL, false },
		{ "SUBSCRIBED", NS_SUBSCRIBED, false },
		{ "SUBTREE", NS_SUBTREE, true },
		{ "SUBTREE-ONE", NS_SUBTREE_ONE, true },
		{ "MAILBOXES", NS_MAILBOXES, true },
	};
	const struct imap_arg *l;
	size_t n, k;

	if (!imap_arg_list(a, &l, &n) || n < 2) {
		imap_reply(cmd, IMAP_BAD, "Expected (mailboxes events)");
		return -1;
	}
	for (k = 0; k < MS_NELEM(specs); k++)
		if (imap_arg_atom_eq(&l[0], specs[k].name))
			break;
	if (k == MS_NELEM(specs)) {
		/* RFC 5465 6 lists them; others are syntax errors. */
		imap_reply(cmd, IMAP_BAD, "Unknown mailbox filter");
		return -1;
	}
	g->spec = specs[k].spec;
	if (n != (specs[k].names ? 3u : 2u)) {
		imap_reply(cmd, IMAP_BAD, specs[k].names ?
			"Expected (%s mailboxes events)" : "Expected (%s events)",
			specs[k].name);
		return -1;
	}
	if (specs[k].names && parse_mailboxes(s, cmd, g, &l[1]) < 0)
		return -1;
	return parse_events(s, cmd, g, &l[n - 1]);
}

/*
 * notify          = "NOTIFY" SP (notify-set / notify-none)
 * notify-set      = "SET" [status-indicator] SP event-groups
 * status-indicator = SP "STATUS"
 */
void
imap_cmd_notify(struct imap_session *s, struct imap_cmd *cmd)
{
	struct imap_notify *n;
	const char *error;
	bool status = false;
	size_t i = 1, k;

	if (cmd->nargs == 1 && imap_arg_atom_eq(&cmd->args[0], "NONE")) {
		/* 5465 3: no more unsolicited responses at all, not even the
		 * ones IMAP sends without NOTIFY (the selected mailbox is
		 * frozen until it is selected again). */
		imap_notify_free(&s->notify);
		s->notify = xcalloc(1, sizeof(*s->notify));
		return;
	}
	if (cmd->nargs < 2 || !imap_arg_atom_eq(&cmd->args[0], "SET")) {
		imap_reply(cmd, IMAP_BAD, "Usage: NOTIFY SET [STATUS] (mailboxes events) ... "
			"or NOTIFY NONE");
		return;
	}
	if (imap_arg_atom_eq(&cmd->args[1], "STATUS")) {
		status = true;
		i++;
	}
	if (i >= cmd->nargs) {
		imap_reply(cmd, IMAP_BAD, "Missing event groups");
		return;
	}
	n = xcalloc(1, sizeof(*n));
	n->g = xcalloc(cmd->nargs - i, sizeof(*n->g));
	for (; i < cmd->nargs; i++) {
		struct notify_group *g = &n->g[n->ng++];

		if (parse_group(s, cmd, g, &cmd->args[i]) < 0)
			goto fail;
		if (g->spec == NS_SELECTED || g->spec == NS_SELECTED_DELAYED) {
			for (k = 0; k + 1 < n->ng; k++)
				if (n->g[k].spec == NS_SELECTED ||
				    n->g[k].spec == NS_SELECTED_DELAYED) {
					imap_reply(cmd, IMAP_BAD,
						"SELECTED or SELECTED-DELAYED only once");
					goto fail;
				}
		}
		if (g->events & EV_METADATA)
			n->want_meta = true;
		if (g->spec == NS_INBOXES && n->inboxes == NULL &&
		    store_delivery_mailboxes(s->d->store, s->account_id, &n->inboxes,
			    &n->ninboxes, &error) < 0) {
			log_error(imap_cid(s), "proto=imap ev=notify error=%s", lq(error));
			imap_reply(cmd, IMAP_NO, "[UNAVAILABLE] Temporary failure");
			goto fail;
		}
	}
	/* 5465 3: changes pending under the old settings are reported
	 * before the new ones apply. */
	if (s->notify != NULL && s->sel != NULL)
		(void)imap_sync(s, true, false);
	imap_notify_free(&s->notify);
	s->notify = n;
	/* The selected mailbox is brought up to date (it may have been
	 * frozen by NOTIFY NONE or a group without it). */
	if (s->sel != NULL && imap_notify_selected(s, &(bool){ false }) != IMAP_NOTIFY_SEL_OFF)
		(void)imap_sync(s, true, true);
	s->notify_pending = false;
	if (diff_mailboxes(s, false, status) < 0) {
		imap_notify_free(&s->notify);
		imap_reply(cmd, IMAP_NO, "[UNAVAILABLE] Temporary failure");
	}
	return;
fail:
	imap_notify_free(&n);
}
