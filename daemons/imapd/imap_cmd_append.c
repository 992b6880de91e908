/* APPEND with MULTIAPPEND (RFC 3502), literal8 data (RFC 3516 section 4.4)
 * and the UTF8 data item (RFC 6855 section 4), and REPLACE / UID REPLACE
 * (RFC 8508). Message data arrives as uploads streamed to temporary files
 * (imap_session.c on_literal, checked here first); all messages of one
 * command are stored in one transaction (store_append), so a failure
 * stores none of them. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "imap_session.h"

/* RFC 7889: one limit for every mailbox, the smaller of what an IMAP
 * literal and what SMTP may carry (a message larger than SMTP takes could
 * not be sent on from Drafts or Outbox anyway). */
uint64_t
imap_appendlimit(const struct imap_session *s)
{
	uint64_t a = s->d->conf->imap.max_literal_size;
	uint64_t b = s->d->conf->smtp.max_message_size;

	return a < b ? a : b;
}

/* Index of the first message argument: APPEND mailbox ..., REPLACE seq
 * mailbox ..., UID REPLACE uid mailbox ... (counting "REPLACE" as an
 * argument of UID, as the parser does); 0 for other commands. */
static size_t
message_base(const struct imap_command *pc, bool *replace_r)
{
	*replace_r = false;
	if (ms_strcaseeq(pc->name, "APPEND"))
		return 1;
	if (ms_strcaseeq(pc->name, "REPLACE")) {
		*replace_r = true;
		return 2;
	}
	if (ms_strcaseeq(pc->name, "UID") && pc->nargs >= 1 &&
	    imap_arg_atom_eq(&pc->args[0], "REPLACE")) {
		*replace_r = true;
		return 3;
	}
	return 0;
}

bool
imap_append_message_literal(const struct imap_session *s, const struct imap_command *pc,
	unsigned depth)
{
	bool replace;
	size_t base = message_base(pc, &replace);

	if (base == 0 || s->state == IMAP_NOTAUTH)
		return false;
	/* After the mailbox, a literal at the top level is message data
	 * (flags are atoms and the date-time is quoted) ... */
	if (depth == 0)
		return pc->nargs >= base;
	/* ... and so is the one of "UTF8" SP "(" literal8 ")". */
	return depth == 1 && pc->nargs >= base + 1 &&
		imap_arg_atom_eq(&pc->args[pc->nargs - 1], "UTF8");
}

int
imap_append_check_literal(struct imap_session *s, const struct imap_command *pc,
	uint64_t size, bool sync, struct buf *reply)
{
	uint64_t limit = imap_appendlimit(s);
	const char *what = "APPEND", *error;
	struct store_mailbox mb;
	struct buf name;
	bool replace;
	size_t base = message_base(pc, &replace);
	int r;

	buf_reset(reply);
	if (replace) {
		what = "REPLACE";
		if (s->state != IMAP_SELECTED) {
			buf_puts(reply, "BAD No mailbox selected");
			return -1;
		}
	}
	/* RFC 7889 section 4 and RFC 4469 section 5 (TOOBIG): refused before
	 * the data when synchronizing; read and dropped otherwise. */
	if (size > limit) {
		buf_printf(reply, "NO [TOOBIG] Message of %llu bytes is larger than "
			"APPENDLIMIT %llu", (unsigned long long)size, (unsigned long long)limit);
		return -1;
	}
	if (!sync)
		return 0;
	/* RFC 3502 section 6.3.11: "If the server receives a zero-length
	 * message literal, it MUST cancel the append" (as the reference, also
	 * for a single message). */
	if (size == 0) {
		buf_printf(reply, "NO Empty message, %s cancelled", what);
		return -1;
	}
	if (replace && s->sel->readonly) {
		buf_puts(reply, "NO [READ-ONLY] Mailbox is read-only");
		return -1;
	}
	/* The mailbox once, before the first message: RFC 9051 6.3.12 wants
	 * TRYCREATE for a missing one, and the client need not send the data
	 * to learn it. Other failures are left to the command. */
	if (s->nuploads > 0 || pc->nargs < base)
		return 0;
	buf_init(&name);
	memset(&mb, 0, sizeof(mb));
	if (imap_mailbox_arg(s, &pc->args[base - 1], &name, &error) < 0) {
		buf_printf(reply, "BAD %s", error);
		buf_free(&name);
		return -1;
	}
	r = store_mailbox_get(s->d->store, s->account_id, name.data, &mb, &error);
	buf_free(&name);
	store_mailbox_free(&mb);
	if (r == 0) {
		buf_puts(reply, "NO [TRYCREATE] Mailbox does not exist");
		return -1;
	}
	return 0;
}

/* ---- parsing ---- */

struct append_in {
	const struct imap_arg *flags;	/* flag-list elements */
	size_t nflags;
	int64_t received;		/* 0: now */
	const struct imap_arg *data;	/* IMAP_ARG_STREAM or IMAP_ARG_LITERAL */
};

/*
 * RFC 3502 section 6.3.11, RFC 4466 section 2.3, RFC 3516 section 4.4,
 * RFC 6855 section 4:
 *   append          = "APPEND" SP mailbox 1*append-message
 *   append-message  = append-opts SP append-data
 *   append-opts     = [SP flag-list] [SP date-time] *(SP append-ext)
 *   append-data     = literal / literal8 / append-data-ext
 *   append-data-ext =/ "UTF8" SP "(" literal8 ")"
 * No append-ext is known here (CATENATE is not supported). Returns the
 * messages (malloc'd) or -1 with *error_r.
 */
static int
parse_messages(const struct imap_arg *a, size_t n, struct append_in **v_r, size_t *nv_r,
	const char **error_r)
{
	struct append_in *v = NULL;
	size_t nv = 0, i = 0;

	while (i < n) {
		struct append_in m;
		const struct imap_arg *l;
		const char *date;
		size_t nl;

		memset(&m, 0, sizeof(m));
		if (imap_arg_list(&a[i], &m.flags, &m.nflags))
			i++;
		if (i < n && a[i].type == IMAP_ARG_QUOTED) {
			if (!imap_arg_string(&a[i], &date, NULL) ||
			    imap_parse_datetime(date, &m.received) < 0) {
				*error_r = "Invalid date-time";
				goto fail;
			}
			i++;
		}
		if (i < n && (a[i].type == IMAP_ARG_STREAM || a[i].type == IMAP_ARG_LITERAL)) {
			m.data = &a[i++];
		} else if (i < n && imap_arg_atom_eq(&a[i], "UTF8")) {
			if (i + 1 >= n || !imap_arg_list(&a[i + 1], &l, &nl) || nl != 1 ||
			    (l[0].type != IMAP_ARG_STREAM && l[0].type != IMAP_ARG_LITERAL) ||
			    !l[0].literal8) {
				*error_r = "UTF8 data must be \"UTF8 (~{n}...)\"";
				goto fail;
			}
			m.data = &l[0];
			i += 2;
		} else {
			*error_r = i < n ? "Expected a message literal" : "Missing message literal";
			goto fail;
		}
		v = xrealloc(v, (nv + 1) * sizeof(*v));
		v[nv++] = m;
	}
	if (nv == 0) {
		*error_r = "Missing message literal";
		goto fail;
	}
	*v_r = v;
	*nv_r = nv;
	return 0;
fail:
	free(v);
	return -1;
}

/* The fsync'd file of one message: its upload, or a new one for data that
 * came as an in-memory literal. Returns 0 or -1 with *error_r. */
static int
message_file(struct imap_session *s, const struct imap_arg *a, const char **path_r,
	const char **error_r)
{
	struct imap_upload *u;
	size_t off = 0;

	if (a->type == IMAP_ARG_STREAM) {
		if (a->stream_id == 0 || a->stream_id > s->nuploads)
			ms_panic("imapd: stream %u without an upload", a->stream_id);
		u = &s->uploads[a->stream_id - 1];
		if (u->failed || u->written != u->size) {
			*error_r = "writing the message failed";
			return -1;
		}
	} else {
		u = imap_upload_new(s, error_r);
		if (u == NULL)
			return -1;
		u->size = a->len;
		while (off < a->len) {
			ssize_t w = write(u->fd, a->u.str + off, a->len - off);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				*error_r = ms_err("writing %s: %s", u->path,
					w < 0 ? strerror(errno) : "short write");
				return -1;
			}
			off += (size_t)w;
		}
	}
	if (fsync(u->fd) < 0) {
		*error_r = ms_err("fsync %s: %s", u->path, strerror(errno));
		return -1;
	}
	*path_r = u->path;
	return 0;
}

/* ---- APPEND and REPLACE ---- */

/*
 * Store the messages of args[0..n) (append-message list) into the mailbox
 * named by mbarg, replacing replace_uid of the selected mailbox when it is
 * not 0. Replies BAD/NO itself; on success fills *res and uids_r (one per
 * message, malloc'd) and returns 0.
 */
static int
append_run(struct imap_session *s, struct imap_cmd *cmd, const struct imap_arg *mbarg,
	const struct imap_arg *args, size_t n, uint32_t replace_uid, bool single,
	struct store_append_result *res, uint32_t **uids_r, size_t *nuids_r)
{
	struct append_in *in = NULL;
	struct store_append_msg *msgs = NULL;
	char ***kws = NULL;
	size_t *nkws = NULL, nin = 0, i;
	uint64_t total = 0;
	const char *error;
	struct buf name;
	int r, ret = -1;

	buf_init(&name);
	if (parse_messages(args, n, &in, &nin, &error) < 0) {
		imap_reply(cmd, IMAP_BAD, "%s", error);
		goto out;
	}
	if (single && nin != 1) {
		imap_reply(cmd, IMAP_BAD, "%s takes one message", cmd->name);
		goto out;
	}
	msgs = xcalloc(nin, sizeof(*msgs));
	kws = xcalloc(nin, sizeof(*kws));
	nkws = xcalloc(nin, sizeof(*nkws));
	for (i = 0; i < nin; i++) {
		if (imap_parse_flags(in[i].flags, in[i].nflags, &msgs[i].flags, &kws[i],
			    &nkws[i], &error) < 0) {
			imap_reply(cmd, IMAP_BAD, "%s", error);
			goto out;
		}
		msgs[i].keywords = (const char *const *)kws[i];
		msgs[i].nkeywords = nkws[i];
		msgs[i].received = in[i].received;
	}
	if (imap_mailbox_arg(s, mbarg, &name, &error) < 0) {
		imap_reply(cmd, IMAP_BAD, "%s", error);
		goto out;
	}
	for (i = 0; i < nin; i++) {
		/* RFC 3502 6.3.11: a zero-length literal cancels them all. */
		if (in[i].data->len == 0) {
			imap_reply(cmd, IMAP_NO, "Empty message, %s cancelled", cmd->name);
			goto out;
		}
		total += in[i].data->len;
	}
	for (i = 0; i < nin; i++) {
		if (message_file(s, in[i].data, &msgs[i].path, &error) < 0) {
			log_error(imap_cid(s), "proto=imap ev=append error=%s", lq(error));
			imap_reply(cmd, IMAP_NO, "[UNAVAILABLE] Cannot write message");
			goto out;
		}
	}
	r = store_append(s->d->store, s->account_id, name.data, msgs, nin,
		replace_uid != 0 ? s->sel->id : 0, replace_uid, res, &error);
	switch (r) {
	case 0:
		break;
	case STORE_NO_MAILBOX:
		/* RFC 9051 6.3.12: not created, TRYCREATE */
		imap_reply(cmd, IMAP_NO, "[TRYCREATE] Mailbox does not exist");
		goto out;
	case STORE_OVER_QUOTA:
		/* RFC 9208 section 4.3 */
		imap_reply(cmd, IMAP_NO, "[OVERQUOTA] Account over its quota");
		goto out;
	case STORE_GONE:
		imap_reply(cmd, IMAP_NO, "[EXPUNGEISSUED] The message to replace was expunged");
		goto out;
	default:
		log_error(imap_cid(s), "proto=imap ev=append error=%s", lq(error));
		imap_reply(cmd, IMAP_NO, "[UNAVAILABLE] Cannot store message");
		goto out;
	}
	*uids_r = xcalloc(nin, sizeof(uint32_t));
	for (i = 0; i < nin; i++)
		(*uids_r)[i] = msgs[i].uid;
	*nuids_r = nin;
	log_info(imap_cid(s), "proto=imap ev=%s mailbox=%s messages=%zu size=%llu uid=%u%s",
		replace_uid != 0 ? "replace" : "append", lq(name.data), nin,
		(unsigned long long)total, msgs[0].uid, nin > 1 ? "+" : "");
	ret = 0;
out:
	for (i = 0; kws != NULL && i < nin; i++)
		imap_keywords_free(kws[i], nkws[i]);
	free(kws);
	free(nkws);
	free(msgs);
	free(in);
	buf_free(&name);
	return ret;
}

/*
 * RFC 9051 6.3.12 with RFC 3502: append = "APPEND" SP mailbox
 * 1*append-message. All messages or none; "OK [APPENDUID uidvalidity
 * uid-set]" (RFC 4315 section 3, a uid-set for several). "If the mailbox is
 * currently selected, the normal new message actions SHOULD occur": EXISTS
 * right away.
 */
void
imap_cmd_append(struct imap_session *s, struct imap_cmd *cmd)
{
	struct store_append_result res;
	uint32_t *uids = NULL;
	size_t nuids = 0;
	struct buf set;

	if (cmd->nargs < 2) {
		imap_reply(cmd, IMAP_BAD,
			"Usage: APPEND mailbox [(flags)] [date-time] literal [...]");
		return;
	}
	if (append_run(s, cmd, &cmd->args[0], cmd->args + 1, cmd->nargs - 1, 0, false, &res,
		    &uids, &nuids) < 0)
		return;
	buf_init(&set);
	imap_seqset_format(&set, uids, nuids);
	imap_reply(cmd, IMAP_OK, "[APPENDUID %u %s] APPEND completed", res.uidvalidity,
		set.data);
	buf_free(&set);
	free(uids);
	if (s->sel != NULL && s->sel->id == res.mailbox_id)
		(void)imap_sync(s, true, true);
}

/*
 * RFC 8508 section 3:
 *   replace = "REPLACE" SP seq-number SP mailbox append-message
 *   (UID REPLACE: a UID instead of seq-number)
 * Append the message to mailbox and expunge the given one of the selected
 * mailbox, atomically. The APPENDUID goes in an untagged OK (section 3.3:
 * the tagged OK may need HIGHESTMODSEQ), then the EXISTS (same mailbox) and
 * EXPUNGE or VANISHED of the replaced message.
 */
void
imap_cmd_replace(struct imap_session *s, struct imap_cmd *cmd)
{
	struct imap_view *v = s->sel;
	struct store_append_result res;
	uint32_t *uids = NULL, old;
	size_t nuids = 0, lo, hi;
	const char *str;
	uint64_t num;

	if (cmd->nargs < 3 || !imap_arg_atom(&cmd->args[0], &str)) {
		imap_reply(cmd, IMAP_BAD, "Usage: %sREPLACE %s mailbox [(flags)] [date-time] "
			"literal", cmd->uid ? "UID " : "", cmd->uid ? "uid" : "number");
		return;
	}
	if (strcmp(str, "*") == 0) {
		if (v->n == 0) {
			imap_reply(cmd, IMAP_BAD, "Mailbox is empty");
			return;
		}
		num = cmd->uid ? v->uids[v->n - 1] : v->n;
	} else if (ms_parse_u64(str, 1, UINT32_MAX, &num) < 0) {
		imap_reply(cmd, IMAP_BAD, "Invalid message %s", cmd->uid ? "UID" : "number");
		return;
	}
	if (cmd->uid) {
		/* UIDs the client names that are not there: nothing to
		 * replace (NO, as COPY of a missing UID copies nothing). */
		for (lo = 0, hi = v->n; lo < hi;) {
			size_t mid = lo + (hi - lo) / 2;

			if (v->uids[mid] < num)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo >= v->n || v->uids[lo] != num) {
			imap_reply(cmd, IMAP_NO, "No message with UID %llu",
				(unsigned long long)num);
			return;
		}
		old = (uint32_t)num;
	} else {
		/* RFC 9051 section 9 (seq-number): BAD beyond the last */
		if (num > v->n) {
			imap_reply(cmd, IMAP_BAD, "Invalid message sequence number");
			return;
		}
		old = v->uids[num - 1];
	}
	if (v->readonly) {
		imap_reply(cmd, IMAP_NO, "[READ-ONLY] Mailbox is read-only");
		return;
	}
	if (imap_view_pending(v, old)) {
		imap_reply(cmd, IMAP_NO, "[EXPUNGEISSUED] The message to replace was expunged");
		return;
	}
	if (append_run(s, cmd, &cmd->args[1], cmd->args + 2, cmd->nargs - 2, old, true, &res,
		    &uids, &nuids) < 0)
		return;
	imap_untagged(s, "OK [APPENDUID %u %u] Replacement message stored", res.uidvalidity,
		uids[0]);
	free(uids);
	imap_view_expunged(s, &old, 1);
	(void)imap_sync(s, true, true);
	/* RFC 7162 3.1.10 (an expunging command): the new HIGHESTMODSEQ */
	if (s->enabled & IMAP_EN_CONDSTORE)
		imap_reply(cmd, IMAP_OK, "[HIGHESTMODSEQ %lld] %sREPLACE completed",
			(long long)imap_view_highestmodseq(s), cmd->uid ? "UID " : "");
}
