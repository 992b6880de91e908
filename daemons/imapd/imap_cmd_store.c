/* STORE and UID STORE (RFC 9051 6.4.6) with CONDSTORE's UNCHANGEDSINCE
 * (RFC 7162 3.1.3): flag changes and their untagged FETCH answers. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "imap_session.h"

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int
cmp_change(const void *a, const void *b)
{
	const struct store_flag_change *x = a, *y = b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/*
 * RFC 9051 6.4.6:
 *   store           = "STORE" SP sequence-set SP store-att-flags
 *   store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP
 *                     (flag-list / (flag *(SP flag)))
 * Without .SILENT the new flags of each message are sent as untagged
 * FETCH (with UID for UID STORE).
 * RFC 7162 3.1.3: store-modifier = "UNCHANGEDSINCE" SP mod-sequence-valzer
 * before the attribute; messages changed after it are left alone and
 * listed in the tagged "OK [MODIFIED set]". With CONDSTORE enabled the
 * FETCH responses carry MODSEQ, and changed messages get one even with
 * .SILENT (the client must learn the new mod-sequence).
 */
void
imap_cmd_store(struct imap_session *s, struct imap_cmd *cmd)
{
	struct imap_view *v = s->sel;
	struct store_flag_change *ch = NULL;
	struct store_msg *msgs = NULL;
	const struct imap_arg *flist;
	enum store_flag_op op = STORE_FLAGS_SET;
	uint32_t *idx = NULL, *uids = NULL;
	size_t nidx = 0, nuids = 0, nch = 0, nflist, nkw = 0, nm = 0, i, j, k;
	char **kw = NULL;
	const struct imap_arg *args = cmd->args, *mods;
	size_t nargs = cmd->nargs, nmods;
	const char *att, *error;
	unsigned flags;
	bool silent = false, condstore;
	int64_t unchangedsince = -1;
	uint32_t *failed = NULL;
	size_t nfailed = 0, f = 0;
	struct buf b;

	if (nargs >= 2 && imap_arg_list(&args[1], &mods, &nmods)) {
		const char *str;
		uint64_t u;

		if (nmods != 2 || !imap_arg_atom_eq(&mods[0], "UNCHANGEDSINCE") ||
		    !imap_arg_atom(&mods[1], &str) || ms_parse_u64(str, 0, INT64_MAX, &u) < 0) {
			imap_reply(cmd, IMAP_BAD, "Invalid STORE modifiers");
			return;
		}
		unchangedsince = (int64_t)u;
		/* args[0] stays the sequence set: move it over the modifier */
		args++;
		nargs--;
	}
	if (nargs < 3 || !imap_arg_atom(&args[1], &att)) {
		imap_reply(cmd, IMAP_BAD,
			"Usage: STORE sequence-set [(UNCHANGEDSINCE n)] [+|-]FLAGS[.SILENT] (flags)");
		return;
	}
	if (att[0] == '+' || att[0] == '-') {
		op = att[0] == '+' ? STORE_FLAGS_ADD : STORE_FLAGS_REMOVE;
		att++;
	}
	if (ms_strcaseeq(att, "FLAGS.SILENT"))
		silent = true;
	else if (!ms_strcaseeq(att, "FLAGS")) {
		imap_reply(cmd, IMAP_BAD, "Unknown STORE attribute");
		return;
	}
	if (nargs == 3 && imap_arg_list(&args[2], &flist, &nflist)) {
		/* flag-list */
	} else {
		flist = &args[2];
		nflist = nargs - 2;
	}
	if (imap_parse_flags(flist, nflist, &flags, &kw, &nkw, &error) < 0) {
		imap_reply(cmd, IMAP_BAD, "%s", error);
		return;
	}
	if (v->readonly) {
		imap_reply(cmd, IMAP_NO, "[READ-ONLY] Mailbox is read-only");
		goto out;
	}
	if (imap_view_indexes(s, cmd, &cmd->args[0], &idx, &nidx) < 0)
		goto out;
	uids = xmalloc((nidx + 1) * sizeof(*uids));
	for (i = 0; i < nidx; i++)
		if (!imap_view_pending(v, v->uids[idx[i]]))
			uids[nuids++] = v->uids[idx[i]];
	if (unchangedsince >= 0)
		imap_condstore_enable(s);
	condstore = (s->enabled & IMAP_EN_CONDSTORE) != 0;
	if (nuids == 0)
		goto out;
	if (store_flags_change(s->d->store, s->account_id, v->id, uids, nuids, op, flags,
		    (const char *const *)kw, nkw, unchangedsince, &ch, &nch, &failed, &nfailed,
		    &error) < 0) {
		log_error(imap_cid(s), "proto=imap ev=store error=%s", lq(error));
		imap_reply(cmd, IMAP_NO, "[UNAVAILABLE] Cannot change flags");
		goto out;
	}
	for (i = 0; i < nch; i++) {
		imap_view_own(s, ch[i].modseq);
		imap_view_keywords(s, ch[i].keywords, ch[i].nkeywords);
	}
	if (nfailed > 0) {
		/* [MODIFIED] takes sequence numbers, or UIDs for UID STORE */
		uint32_t *mod = xmalloc(nfailed * sizeof(*mod));
		size_t pos;

		for (i = 0; i < nfailed; i++) {
			mod[i] = failed[i];
			if (!cmd->uid) {
				for (pos = 0; pos < v->n && v->uids[pos] != failed[i]; pos++)
					;
				mod[i] = (uint32_t)pos + 1;
			}
		}
		qsort(mod, nfailed, sizeof(*mod), cmp_u32);
		buf_init(&b);
		imap_seqset_format(&b, mod, nfailed);
		imap_reply(cmd, IMAP_OK, "[MODIFIED %s] Conditional STORE failed", b.data);
		buf_free(&b);
		free(mod);
	}
	if (silent && !condstore)
		goto out;
	/* Messages that did not change still get their flags (RFC 9051
	 * 6.4.6: "the server SHOULD send an untagged FETCH response"). */
	if (nch > 1)
		qsort(ch, nch, sizeof(*ch), cmp_change);
	if (nch < nuids && !silent) {
		uint32_t *rest = xmalloc(nuids * sizeof(*rest));
		size_t nrest = 0;

		for (i = 0, k = 0; i < nuids; i++) {
			while (k < nch && ch[k].uid < uids[i])
				k++;
			if (k == nch || ch[k].uid != uids[i])
				rest[nrest++] = uids[i];
		}
		if (store_msgs_get(s->d->store, v->id, rest, nrest, false, &msgs, &nm,
			    &error) < 0)
			log_error(imap_cid(s), "proto=imap ev=store error=%s", lq(error));
		free(rest);
	}
	/* uids, ch and msgs are all ascending by UID: one merge pass. */
	buf_init(&b);
	for (i = 0, j = 0, k = 0; i < nidx; i++) {
		uint32_t uid = v->uids[idx[i]];

		while (k < nch && ch[k].uid < uid)
			k++;
		while (j < nm && msgs[j].uid < uid)
			j++;
		while (f < nfailed && failed[f] < uid)
			f++;
		if (f < nfailed && failed[f] == uid)
			continue;	/* listed in [MODIFIED] instead */
		buf_reset(&b);
		imap_buf_fetch_open(s, &b, idx[i] + 1, uid, cmd->uid);
		if (k < nch && ch[k].uid == uid) {
			if (!silent) {
				buf_puts(&b, "FLAGS ");
				imap_buf_flags(&b, ch[k].flags, ch[k].keywords,
					ch[k].nkeywords);
				buf_putc(&b, ' ');
			}
			if (condstore)
				buf_printf(&b, "MODSEQ (%lld) ", (long long)ch[k].modseq);
		} else if (j < nm && msgs[j].uid == uid) {
			buf_puts(&b, "FLAGS ");
			imap_buf_flags(&b, msgs[j].flags, msgs[j].keywords, msgs[j].nkeywords);
			buf_putc(&b, ' ');
			if (condstore)
				buf_printf(&b, "MODSEQ (%lld) ", (long long)msgs[j].modseq);
		} else {
			continue;
		}
		buf_truncate(&b, b.len - 1);	/* the last space */
		buf_puts(&b, ")\r\n");
		imap_write(s, b.data, b.len);
	}
	buf_free(&b);
out:
	free(failed);
	store_msgs_free(msgs, nm);
	store_flag_changes_free(ch, nch);
	imap_keywords_free(kw, nkw);
	free(uids);
	free(idx);
}
