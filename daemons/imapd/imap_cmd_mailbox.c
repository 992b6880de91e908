/* Mailbox commands: SELECT/EXAMINE, NAMESPACE, STATUS, IDLE, and the
 * selected-state CHECK, CLOSE, UNSELECT, EXPUNGE (RFC 9051 sections 6.3
 * and 6.4). APPEND is in imap_cmd_append.c. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "imap_session.h"

#define DELIM '/'

/* ---- SELECT / EXAMINE ---- */

/* The select parameters of RFC 7162 (sections 3.1.8 and 3.2.5):
 *   select-param  = "CONDSTORE" / "QRESYNC" SP "(" uidvalidity SP
 *                   mod-sequence-value [SP known-uids]
 *                   [SP seq-match-data] ")"
 *   seq-match-data = "(" known-sequence-set SP known-uid-set ")"
 * seq-match-data only helps servers without tombstones; it is checked for
 * syntax and otherwise ignored. */
struct select_params {
	bool condstore, qresync;
	uint32_t uidvalidity;
	int64_t modseq;
	bool have_known;
	struct imap_seqset known;
};

static int
parse_select_params(struct imap_session *s, const struct imap_arg *a,
	struct select_params *p, const char **error_r)
{
	const struct imap_arg *l, *q, *m;
	size_t n, nq, nm, i;
	const char *str;
	uint64_t u;

	if (!imap_arg_list(a, &l, &n) || n == 0) {
		*error_r = "Invalid select parameters";
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (imap_arg_atom_eq(&l[i], "CONDSTORE")) {
			p->condstore = true;
			continue;
		}
		if (!imap_arg_atom_eq(&l[i], "QRESYNC")) {
			*error_r = "Unknown select parameter";
			return -1;
		}
		/* RFC 7162 3.2.5: only after ENABLE QRESYNC */
		if (!(s->enabled & IMAP_EN_QRESYNC)) {
			*error_r = "QRESYNC is not enabled";
			return -1;
		}
		if (p->qresync || i + 1 >= n || !imap_arg_list(&l[++i], &q, &nq) ||
		    nq < 2 || nq > 4 ||
		    !imap_arg_atom(&q[0], &str) || ms_parse_u64(str, 1, UINT32_MAX, &u) < 0) {
			*error_r = "Invalid QRESYNC parameters";
			return -1;
		}
		p->qresync = true;
		p->uidvalidity = (uint32_t)u;
		if (!imap_arg_atom(&q[1], &str) || ms_parse_u64(str, 1, INT64_MAX, &u) < 0) {
			*error_r = "Invalid QRESYNC mod-sequence";
			return -1;
		}
		p->modseq = (int64_t)u;
		if (nq >= 3 && q[2].type != IMAP_ARG_LIST) {
			if (!imap_arg_atom(&q[2], &str) ||
			    imap_seqset_parse(str, q[2].len, false, &p->known, error_r) < 0) {
				*error_r = "Invalid QRESYNC known UIDs";
				return -1;
			}
			p->have_known = true;
		}
		if ((nq == 4 || (nq == 3 && !p->have_known)) &&
		    (!imap_arg_list(&q[nq - 1], &m, &nm) || nm != 2 ||
			m[0].type == IMAP_ARG_LIST || m[1].type == IMAP_ARG_LIST)) {
			*error_r = "Invalid QRESYNC sequence match data";
			return -1;
		}
		/* RFC 9586 3.5 */
		if ((nq == 4 || (nq == 3 && !p->have_known)) &&
		    (s->enabled & IMAP_EN_UIDONLY)) {
			*error_r = "[UIDREQUIRED] No sequence match data with UIDONLY";
			return -1;
		}
	}
	return 0;
}

/* RFC 7162 3.2.5.2: after a QRESYNC SELECT with the right UIDVALIDITY, the
 * expunges (VANISHED (EARLIER)) and the messages changed since the client's
 * modseq (FETCH UID FLAGS MODSEQ), restricted to the known UIDs. Changes
 * later than the view are left to imap_sync. */
static void
qresync_report(struct imap_session *s, const struct select_params *p)
{
	struct imap_view *v = s->sel;
	struct store_change *ch = NULL;
	uint32_t *exp = NULL;
	size_t nch = 0, nexp = 0, i, pos;
	int64_t modseq;
	const char *error;
	const struct imap_seqset *known = p->have_known ? &p->known : NULL;
	uint32_t maxuid = v->uidnext > 0 ? v->uidnext - 1 : 0;
	struct buf b;

	if (imap_vanished_earlier(s, known, p->modseq) < 0)
		return;
	if (store_changes_since(s->d->store, s->account_id, v->id, p->modseq, &ch, &nch,
		    &exp, &nexp, &modseq, &error) < 0) {
		log_error(imap_cid(s), "proto=imap ev=qresync error=%s", lq(error));
		return;
	}
	for (i = 0; i < nch; i++)
		imap_view_keywords(s, ch[i].keywords, ch[i].nkeywords);
	buf_init(&b);
	for (i = 0; i < nch; i++) {
		size_t lo = 0, hi = v->n;

		if (ch[i].modseq > v->modseq)
			continue;	/* after the view: imap_sync reports it */
		if (known != NULL && !ch[i].created &&
		    !imap_seqset_contains(known, ch[i].uid, maxuid))
			continue;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (v->uids[mid] < ch[i].uid)
				lo = mid + 1;
			else
				hi = mid;
		}
		pos = lo;
		if (pos >= v->n || v->uids[pos] != ch[i].uid)
			continue;
		buf_reset(&b);
		imap_buf_fetch_open(s, &b, pos + 1, ch[i].uid, true);
		buf_puts(&b, "FLAGS ");
		imap_buf_flags(&b, ch[i].flags, ch[i].keywords, ch[i].nkeywords);
		buf_printf(&b, " MODSEQ (%lld))\r\n", (long long)ch[i].modseq);
		imap_write(s, b.data, b.len);
	}
	buf_free(&b);
	store_changes_free(ch, nch);
	free(exp);
}

/*
 * RFC 9051 6.3.2: select = "SELECT" SP mailbox [select-params]
 * The untagged responses: FLAGS, EXISTS, LIST (IMAP4rev2), OK [UIDVALIDITY],
 * OK [UIDNEXT], OK [PERMANENTFLAGS]; IMAP4rev1 (RFC 3501 6.3.1) also
 * expects RECENT. A SELECT while a mailbox is selected first deselects it
 * and says so with OK [CLOSED]; a failed SELECT leaves no mailbox selected.
 */
void
imap_cmd_select(struct imap_session *s, struct imap_cmd *cmd)
{
	bool examine = strcmp(cmd->name, "EXAMINE") == 0;
	struct store_mailbox mb;
	struct imap_view *v;
	struct buf name, b;
	struct select_params sp;
	const char *error;
	int64_t modseq, highest = 0;
	size_t i;
	int r;

	memset(&sp, 0, sizeof(sp));
	imap_seqset_init(&sp.known);
	if (cmd->nargs != 1 && cmd->nargs != 2) {
		imap_reply(cmd, IMAP_BAD, "Usage: %s mailbox [(parameters)]", cmd->name);
		return;
	}
	if (cmd->nargs == 2 && parse_select_params(s, &cmd->args[1], &sp, &error) < 0) {
		imap_reply(cmd, IMAP_BAD, "%s", error);
		imap_seqset_free(&sp.known);
		return;
	}
	buf_init(&name);
	if (imap_mailbox_arg(s, &cmd->args[0], &name, &error) < 0) {
		imap_reply(cmd, IMAP_BAD, "%s", error);
		imap_seqset_free(&sp.known);
		buf_free(&name);
		return;
	}
	/* RFC 7162 3.1.8: SELECT (CONDSTORE) is a CONDSTORE enabling command;
	 * the HIGHESTMODSEQ below is the answer, so no extra response. */
	if (sp.condstore)
		s->enabled |= IMAP_EN_CONDSTORE;
	if (s->sel != NULL) {
		imap_view_close(s);
		imap_untagged(s, "OK [CLOSED] Previous mailbox closed");
	}
	memset(&mb, 0, sizeof(mb));
	r = store_mailbox_get(s->d->store, s->account_id, name.data, &mb, &error);
	if (r <= 0) {
		if (r < 0) {
			log_error(imap_cid(s), "proto=imap ev=select error=%s", lq(error));
			imap_reply(cmd, IMAP_NO, "[UNAVAILABLE] Temporary failure");
		} else {
			imap_reply(cmd, IMAP_NO, "[NONEXISTENT] Mailbox does not exist");
		}
		imap_seqset_free(&sp.known);
		buf_free(&name);
		return;
	}
	v = xcalloc(1, sizeof(*v));
	v->id = mb.id;
	v->name = xstrdup(mb.name);
	v->uidvalidity = mb.uidvalidity;
	v->uidnext = mb.uidnext;
	v->readonly = examine;
	/* The modseq first: changes after it are reported by the next sync
	 * even when the UID list below already includes them. */
	if (store_mailbox_modseq(s->d->store, s->account_id, mb.id, &highest, &modseq, NULL,
		    &error) < 0 ||
	    imap_view_load(s, v, &error) < 0) {
		log_error(imap_cid(s), "proto=imap ev=select error=%s", lq(error));
		imap_reply(cmd, IMAP_NO, "[UNAVAILABLE] Temporary failure");
		free(v->uids);
		free(v->name);
		free(v);
		store_mailbox_free(&mb);
		imap_seqset_free(&sp.known);
		buf_free(&name);
		return;
	}
	v->modseq = modseq;
	if (v->n > 0 && v->uids[v->n - 1] >= v->uidnext)
		v->uidnext = v->uids[v->n - 1] + 1;
	v->keywords = xcalloc(mb.nkeywords + 1, sizeof(char *));
	for (i = 0; i < mb.nkeywords; i++)
		v->keywords[v->nkeywords++] = xstrdup(mb.keywords[i]);
	s->sel = v;
	s->state = IMAP_SELECTED;

	imap_view_send_flags(s);
	imap_untagged(s, "%zu EXISTS", v->n);
	if (!(s->enabled & IMAP_EN_REV2))
		imap_untagged(s, "0 RECENT");
	imap_untagged(s, "OK [UIDVALIDITY %u] UIDs valid", v->uidvalidity);
	imap_untagged(s, "OK [UIDNEXT %u] Predicted next UID", v->uidnext);
	/* RFC 7162 3.1.2.1: every SELECT/EXAMINE of a mailbox with
	 * persistent mod-sequences gives its HIGHESTMODSEQ. */
	imap_untagged(s, "OK [HIGHESTMODSEQ %lld] Highest", (long long)highest);
	if (s->enabled & IMAP_EN_REV2) {
		buf_init(&b);
		buf_puts(&b, "LIST () \"/\" ");
		imap_buf_mailbox(s, &b, v->name);
		imap_untagged(s, "%s", b.data);
		buf_free(&b);
	}
	/* RFC 7162 3.2.5.2: nothing to resynchronize when UIDVALIDITY
	 * changed; the client starts over. */
	if (sp.qresync && sp.uidvalidity == v->uidvalidity)
		qresync_report(s, &sp);
	log_info(imap_cid(s), "proto=imap ev=select mailbox=%s messages=%zu readonly=%s",
		lq(v->name), v->n, examine ? "yes" : "no");
	imap_reply(cmd, IMAP_OK, "[%s] %s completed", examine ? "READ-ONLY" : "READ-WRITE",
		cmd->name);
	store_mailbox_free(&mb);
	imap_seqset_free(&sp.known);
	buf_free(&name);
}

/* RFC 9051 6.3.10: one personal namespace with no prefix. */
void
imap_cmd_namespace(struct imap_session *s, struct imap_cmd *cmd)
{
	if (cmd->nargs != 0) {
		imap_reply(cmd, IMAP_BAD, "NAMESPACE takes no arguments");
		return;
	}
	imap_untagged(s, "NAMESPACE ((\"\" \"/\")) NIL NIL");
}

/* ---- STATUS ---- */

/* The untagged STATUS response text for mb with the items atts (RFC 9051
 * 6.3.11; also LIST-STATUS, RFC 5819). Returns 0, or -1 for an unknown
 * item. */
int
imap_status_response(struct imap_session *s, const struct store_mailbox *mb,
	const struct imap_arg *atts, size_t n, struct buf *b)
{
	size_t i;

	buf_puts(b, "STATUS ");
	imap_buf_mailbox(s, b, mb->name);
	buf_puts(b, " (");
	for (i = 0; i < n; i++) {
		const char *att;

		if (!imap_arg_atom(&atts[i], &att))
			att = "";
		if (i > 0)
			buf_putc(b, ' ');
		if (ms_strcaseeq(att, "MESSAGES"))
			buf_printf(b, "MESSAGES %lld", (long long)mb->count_total);
		else if (ms_strcaseeq(att, "UIDNEXT"))
			buf_printf(b, "UIDNEXT %u", mb->uidnext);
		else if (ms_strcaseeq(att, "UIDVALIDITY"))
			buf_printf(b, "UIDVALIDITY %u", mb->uidvalidity);
		else if (ms_strcaseeq(att, "UNSEEN"))
			buf_printf(b, "UNSEEN %lld", (long long)mb->count_unseen);
		else if (ms_strcaseeq(att, "DELETED"))
			buf_printf(b, "DELETED %lld", (long long)mb->count_deleted);
		else if (ms_strcaseeq(att, "SIZE"))
			buf_printf(b, "SIZE %lld", (long long)mb->size);
		else if (ms_strcaseeq(att, "DELETED-STORAGE")) {
			/* RFC 9208 4.2.2: what EXPUNGE would free, in octets:
			 * the sizes of the \Deleted messages, each of which
			 * counts fully against the quota. */
			int64_t freed = 0;
			const char *error;

			if (mb->count_deleted > 0 &&
			    store_mailbox_deleted_size(s->d->store, mb->id, &freed, &error) < 0)
				log_error(imap_cid(s), "proto=imap ev=status error=%s", lq(error));
			buf_printf(b, "DELETED-STORAGE %lld", (long long)freed);
		}
		else if (ms_strcaseeq(att, "RECENT") && !(s->enabled & IMAP_EN_REV2))
			buf_puts(b, "RECENT 0");
		else if (ms_strcaseeq(att, "APPENDLIMIT"))
			/* RFC 7889 section 4: the mailbox's limit; ours is
			 * the same for all (the APPENDLIMIT=n capability). */
			buf_printf(b, "APPENDLIMIT %llu", (unsigned long long)imap_appendlimit(s));
		else if (ms_strcaseeq(att, "HIGHESTMODSEQ")) {
			/* RFC 7162 3.1.9: a CONDSTORE enabling item */
			int64_t hms = 0;
			const char *error;

			if (store_mailbox_modseq(s->d->store, s->account_id, mb->id, &hms,
				    NULL, NULL, &error) < 0)
				log_error(imap_cid(s), "proto=imap ev=status error=%s", lq(error));
			buf_printf(b, "HIGHESTMODSEQ %lld", (long long)hms);
			imap_condstore_enable(s);
		} else
			return -1;
	}
	buf_putc(b, ')');
	return 0;
}

/* RFC 9051 6.3.11: status = "STATUS" SP mailbox SP
 *   "(" status-att *(SP status-att) ")"
 * status-att = "MESSAGES" / "UIDNEXT" / "UIDVALIDITY" / "UNSEEN" /
 *   "DELETED" / "SIZE" / "HIGHESTMODSEQ" (RFC 7162) / "DELETED-STORAGE"
 *   (RFC 9208) / "APPENDLIMIT" (RFC 7889); IMAP4rev1 also has "RECENT"
 *   (always 0 here). */
void
imap_cmd_status(struct imap_session *s, struct imap_cmd *cmd)
{
	const struct imap_arg *atts;
	struct store_mailbox mb;
	struct buf name, b;
	const char *error;
	size_t n;
	int r;

	if (cmd->nargs != 2 || !imap_arg_list(&cmd->args[1], &atts, &n) || n == 0) {
		imap_reply(cmd, IMAP_BAD, "Usage: STATUS mailbox (items)");
		return;
	}
	buf_init(&name);
	if (imap_mailbox_arg(s, &cmd->args[0], &name, &error) < 0) {
		imap_reply(cmd, IMAP_BAD, "%s", error);
		buf_free(&name);
		return;
	}
	memset(&mb, 0, sizeof(mb));
	r = store_mailbox_get(s->d->store, s->account_id, name.data, &mb, &error);
	buf_free(&name);
	if (r <= 0) {
		if (r < 0)
			log_error(imap_cid(s), "proto=imap ev=status error=%s", lq(error));
		imap_reply(cmd, IMAP_NO, r < 0 ? "[UNAVAILABLE] Temporary failure" :
			"[NONEXISTENT] Mailbox does not exist");
		return;
	}
	buf_init(&b);
	if (imap_status_response(s, &mb, atts, n, &b) < 0) {
		imap_reply(cmd, IMAP_BAD, "Unknown STATUS item");
		goto out;
	}
	imap_untagged(s, "%s", b.data);
out:
	buf_free(&b);
	store_mailbox_free(&mb);
}

/* ---- selected state ---- */

/* RFC 9051 6.4.1: CHECK is NOOP in IMAP4rev2 (the dispatcher reports
 * changes). */
void
imap_cmd_check(struct imap_session *s, struct imap_cmd *cmd)
{
	(void)s;
	if (cmd->nargs != 0)
		imap_reply(cmd, IMAP_BAD, "CHECK takes no arguments");
}

/* RFC 9051 6.4.1 (CLOSE): expunge \Deleted messages without untagged
 * EXPUNGE responses when the mailbox is read-write, then deselect. */
void
imap_cmd_close(struct imap_session *s, struct imap_cmd *cmd)
{
	uint32_t *exp = NULL;
	size_t nexp = 0;
	const char *error;

	if (cmd->nargs != 0) {
		imap_reply(cmd, IMAP_BAD, "CLOSE takes no arguments");
		return;
	}
	if (!s->sel->readonly &&
	    store_expunge(s->d->store, s->account_id, s->sel->id, NULL, 0, &exp, &nexp,
		    &error) < 0)
		log_error(imap_cid(s), "proto=imap ev=close-expunge error=%s", lq(error));
	free(exp);
	imap_view_close(s);
}

/* RFC 9051 6.4.2: like CLOSE without expunging. */
void
imap_cmd_unselect(struct imap_session *s, struct imap_cmd *cmd)
{
	if (cmd->nargs != 0) {
		imap_reply(cmd, IMAP_BAD, "UNSELECT takes no arguments");
		return;
	}
	imap_view_close(s);
}

/* RFC 9051 6.4.3 (EXPUNGE) and 6.4.9 (UID EXPUNGE sequence-set): untagged
 * EXPUNGE for each removed message, sent by the dispatcher's sync. */
void
imap_cmd_expunge(struct imap_session *s, struct imap_cmd *cmd)
{
	struct imap_view *v = s->sel;
	uint32_t *idx = NULL, *uids = NULL, *exp = NULL;
	size_t nidx = 0, nexp = 0, i;
	const char *error;

	if (cmd->nargs != (cmd->uid ? 1u : 0u)) {
		imap_reply(cmd, IMAP_BAD, cmd->uid ? "Usage: UID EXPUNGE uid-set" :
			"EXPUNGE takes no arguments");
		return;
	}
	if (v->readonly) {
		imap_reply(cmd, IMAP_NO, "[READ-ONLY] Mailbox is read-only");
		return;
	}
	if (cmd->uid) {
		if (imap_view_indexes(s, cmd, &cmd->args[0], &idx, &nidx) < 0)
			return;
		if (nidx == 0) {
			free(idx);
			return;
		}
		uids = xmalloc(nidx * sizeof(*uids));
		for (i = 0; i < nidx; i++)
			uids[i] = v->uids[idx[i]];
	}
	if (store_expunge(s->d->store, s->account_id, v->id, uids, nidx, &exp, &nexp,
		    &error) < 0) {
		log_error(imap_cid(s), "proto=imap ev=expunge error=%s", lq(error));
		imap_reply(cmd, IMAP_NO, "[UNAVAILABLE] Expunge failed");
	} else {
		log_info(imap_cid(s), "proto=imap ev=expunge mailbox=%s count=%zu",
			lq(v->name), nexp);
		imap_view_expunged(s, exp, nexp);
		/* RFC 7162 3.1.10: the new HIGHESTMODSEQ in the tagged OK */
		if (s->enabled & IMAP_EN_CONDSTORE)
			imap_reply(cmd, IMAP_OK, "[HIGHESTMODSEQ %lld] %sEXPUNGE completed",
				(long long)imap_view_highestmodseq(s), cmd->uid ? "UID " : "");
	}
	free(exp);
	free(uids);
	free(idx);
}

/* ---- IDLE ---- */

/* RFC 9051 6.3.13 (RFC 2177): idle = "IDLE" CRLF "DONE". The server sends
 * "+ idling", then untagged updates as they happen (woken by the change
 * notification), until the client sends DONE. */
void
imap_cmd_idle(struct imap_session *s, struct imap_cmd *cmd)
{
	if (cmd->nargs != 0) {
		imap_reply(cmd, IMAP_BAD, "IDLE takes no arguments");
		return;
	}
	imap_write(s, "+ idling\r\n", 10);
	(void)imap_sync(s, true, true);
	imap_parser_want_line(s->parser);
	for (;;) {
		enum imap_parse_result ev;
		enum imap_read r = imap_session_read(s, true, &ev);
		const char *line;
		size_t len;

		if (r == IMAP_READ_WAKE) {
			/* With NOTIFY, IDLE reports what it asks for
			 * (RFC 5465 3), other mailboxes too. */
			if (s->notify != NULL)
				imap_notify_poll(s, true);
			else
				(void)imap_sync(s, true, true);
			continue;
		}
		if (r != IMAP_READ_EVENT) {
			if (r == IMAP_READ_TIMEOUT)
				imap_bye(s, "autologout; idle too long");
			else if (r == IMAP_READ_STOP)
				imap_bye(s, "Server shutting down");
			s->state = IMAP_LOGOUT;
			cmd->replied = true;
			return;
		}
		if (ev != IMAP_PARSE_LINE) {
			imap_reply(cmd, IMAP_BAD, "Line too long, expected DONE");
			return;
		}
		line = imap_parser_line(s->parser, &len);
		if (len == 4 && ms_strncaseeq(line, "DONE", 4))
			break;
		imap_reply(cmd, IMAP_BAD, "Expected DONE");
		return;
	}
	imap_reply(cmd, IMAP_OK, "IDLE terminated");
}
