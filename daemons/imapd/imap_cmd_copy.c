/* COPY and MOVE with their UID forms (RFC 9051 6.4.7, 6.4.8, 6.4.9;
 * RFC 6851) answering with COPYUID (RFC 4315 UIDPLUS, part of IMAP4rev2).
 * The store does the work in one transaction (store_copy). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "imap_session.h"

/* RFC 4315 section 4 (RFC 9051 section 9):
 *   uid-set = (uniqueid / uid-range) *("," uid-set)
 *   uid-range = (uniqueid ":" uniqueid)
 * Consecutive UIDs become ranges ("1:3,5"); the order of v is kept, as the
 * source and destination sets correspond element by element. */
static void
buf_uid_set(struct buf *out, const uint32_t *v, size_t n)
{
	size_t i = 0, j;

	while (i < n) {
		for (j = i; j + 1 < n && v[j + 1] == v[j] + 1; j++)
			;
		if (i > 0)
			buf_putc(out, ',');
		if (j == i)
			buf_printf(out, "%u", v[i]);
		else
			buf_printf(out, "%u:%u", v[i], v[j]);
		i = j + 1;
	}
}

/*
 * copy = "COPY" SP sequence-set SP mailbox
 * move = "MOVE" SP sequence-set SP mailbox      (RFC 6851 section 3)
 * RFC 9051 6.4.7: "If the destination mailbox does not exist, a server
 * SHOULD return an error. It SHOULD NOT automatically create the mailbox.
 * [...] the server MUST send the response code "[TRYCREATE]"". RFC 6851
 * 3.3: a MOVE sends "* OK [COPYUID ...]" before the EXPUNGE (or VANISHED)
 * responses, then the tagged OK. Moving to the same mailbox is allowed
 * and gives the messages new UIDs (RFC 6851 3.2 puts no restriction on
 * it; the reference server allows it too).
 */
void
imap_cmd_copy(struct imap_session *s, struct imap_cmd *cmd)
{
	bool move = strcmp(cmd->name, "MOVE") == 0;
	struct imap_view *v = s->sel;
	struct store_copy_result res;
	uint32_t *idx = NULL, *uids = NULL;
	size_t nidx = 0, i;
	struct buf name, sets;
	const char *error;
	int rc;

	if (cmd->nargs != 2) {
		imap_reply(cmd, IMAP_BAD, "Usage: %s%s sequence-set mailbox",
			cmd->uid ? "UID " : "", cmd->name);
		return;
	}
	buf_init(&name);
	buf_init(&sets);
	memset(&res, 0, sizeof(res));
	if (imap_mailbox_arg(s, &cmd->args[1], &name, &error) < 0) {
		imap_reply(cmd, IMAP_BAD, "%s", error);
		goto out;
	}
	if (imap_view_indexes(s, cmd, &cmd->args[0], &idx, &nidx) < 0)
		goto out;
	if (move && v->readonly) {
		imap_reply(cmd, IMAP_NO, "[READ-ONLY] Mailbox is read-only");
		goto out;
	}
	/* Messages expunged by others but still in the view are skipped by
	 * the store (RFC 9051 6.4.7 lets the server copy the rest). */
	uids = xcalloc(nidx + 1, sizeof(*uids));
	for (i = 0; i < nidx; i++)
		uids[i] = v->uids[idx[i]];
	rc = store_copy(s->d->store, s->account_id, v->id, uids, nidx, name.data, move,
		&res, &error);
	if (rc == STORE_NO_MAILBOX) {
		imap_reply(cmd, IMAP_NO, "[TRYCREATE] Mailbox does not exist");
		goto out;
	}
	if (rc == STORE_OVER_QUOTA) {
		/* RFC 9208 section 4.3: OVERQUOTA, nothing copied. */
		imap_reply(cmd, IMAP_NO, "[OVERQUOTA] Quota exceeded");
		goto out;
	}
	if (rc < 0) {
		log_error(imap_cid(s), "proto=imap ev=%s error=%s", move ? "move" : "copy",
			lq(error));
		imap_reply(cmd, IMAP_NO, "[UNAVAILABLE] %s failed", cmd->name);
		goto out;
	}
	log_info(imap_cid(s), "proto=imap ev=%s from=%s to=%s count=%zu",
		move ? "move" : "copy", lq(v->name), lq(name.data), res.n);
	if (res.n == 0) {
		/* Nothing matched (e.g. a UID set of expunged messages):
		 * success without COPYUID, there are no UIDs to report. */
		imap_reply(cmd, IMAP_OK, "No messages %s", move ? "moved" : "copied");
		goto out;
	}
	buf_printf(&sets, "%u ", res.uidvalidity);
	buf_uid_set(&sets, res.src_uids, res.n);
	buf_putc(&sets, ' ');
	buf_uid_set(&sets, res.dst_uids, res.n);
	if (move) {
		imap_untagged(s, "OK [COPYUID %s] Moved", sets.data);
		/* EXPUNGE responses come from the dispatcher's sync (MOVE is
		 * not a command during which they are forbidden). */
		imap_view_expunged(s, res.src_uids, res.n);
		imap_view_own(s, res.modseq);
		imap_reply(cmd, IMAP_OK, "%s%s completed", cmd->uid ? "UID " : "", cmd->name);
	} else {
		imap_reply(cmd, IMAP_OK, "[COPYUID %s] %s%s completed", sets.data,
			cmd->uid ? "UID " : "", cmd->name);
	}
	/* Into the selected mailbox: EXISTS right away, as after APPEND. */
	if (res.mailbox_id == v->id)
		(void)imap_sync(s, true, true);
out:
	store_copy_result_free(&res);
	free(uids);
	free(idx);
	buf_free(&sets);
	buf_free(&name);
}
