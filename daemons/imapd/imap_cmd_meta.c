/* QUOTA (RFC 9208: GETQUOTAROOT, GETQUOTA, SETQUOTA refused) with one quota
 * root "" per account holding the STORAGE resource, and METADATA (RFC 5464:
 * GETMETADATA, SETMETADATA) with annotations per mailbox and per account
 * (mailbox ""). The entry-name and value helpers are shared with LIST
 * RETURN (METADATA ...) (RFC 9590, imap_cmd_list.c). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "imap_session.h"

/* ---- QUOTA ---- */

/* RFC 9208 section 5.1: STORAGE is counted in units of 1024 octets; a
 * partly used unit counts (so a limit of one byte is not shown as 0). */
static long long
kib(int64_t bytes)
{
	return (long long)((bytes + 1023) / 1024);
}

/* The untagged QUOTA response for the account's root "", when it has a
 * limit: RFC 9208 section 5.1 quota_response = "QUOTA" SP quota-root-name
 * SP quota-list, and a quota-list cannot be empty, so an account without
 * a limit gets no QUOTA response at all (as the reference server does).
 * Returns 0, or -1 after a NO reply. */
static int
send_quota(struct imap_session *s, struct imap_cmd *cmd)
{
	int64_t limit, usage;
	const char *error;

	if (store_account_quota(s->d->store, s->account_id, &limit, &usage, &error) < 0) {
		log_error(imap_cid(s), "proto=imap ev=quota error=%s", lq(error));
		imap_reply(cmd, IMAP_NO, "[UNAVAILABLE] Temporary failure");
		return -1;
	}
	if (limit > 0)
		imap_untagged(s, "QUOTA \"\" (STORAGE %lld %lld)", kib(usage), kib(limit));
	return 0;
}

/*
 * RFC 9208 section 4.1.2: getquotaroot = "GETQUOTAROOT" SP mailbox
 * Answered with "* QUOTAROOT mailbox ''" and the QUOTA of that root. The
 * mailbox need not exist: the client may ask which limits would apply to
 * a mailbox it is about to create.
 */
void
imap_cmd_getquotaroot(struct imap_session *s, struct imap_cmd *cmd)
{
	struct buf name, b;
	const char *error;

	if (cmd->nargs != 1) {
		imap_reply(cmd, IMAP_BAD, "Usage: GETQUOTAROOT mailbox");
		return;
	}
	buf_init(&name);
	if (imap_mailbox_arg(s, &cmd->args[0], &name, &error) < 0) {
		imap_reply(cmd, IMAP_BAD, "%s", error);
		buf_free(&name);
		return;
	}
	buf_init(&b);
	buf_puts(&b, "QUOTAROOT ");
	imap_buf_mailbox(s, &b, name.data);
	buf_puts(&b, " \"\"");
	imap_untagged(s, "%s", b.data);
	(void)send_quota(s, cmd);
	buf_free(&b);
	buf_free(&name);
}

/* RFC 9208 section 4.1.1: getquota = "GETQUOTA" SP quota-root-name, where
 * quota-root-name = astring. The only root is "". */
void
imap_cmd_getquota(struct imap_session *s, struct imap_cmd *cmd)
{
	const char *root;
	size_t len;

	if (cmd->nargs != 1 || !imap_arg_astring(&cmd->args[0], &root, &len)) {
		imap_reply(cmd, IMAP_BAD, "Usage: GETQUOTA quota-root");
		return;
	}
	if (len != 0) {
		imap_reply(cmd, IMAP_NO, "Unknown quota root, the only one is \"\"");
		return;
	}
	(void)send_quota(s, cmd);
}

/*
 * RFC 9208 section 4.1.3:
 *   setquota = "SETQUOTA" SP quota-root-name SP setquota-list
 *   setquota-list = "(" [setquota-resource *(SP setquota-resource)] ")"
 *   setquota-resource = resource-name SP resource-limit
 * Limits are the administrator's (accounts.quota_message_size); QUOTASET
 * is not announced. A well-formed request is refused with NO, a malformed
 * one gets BAD like any other command.
 */
void
imap_cmd_setquota(struct imap_session *s, struct imap_cmd *cmd)
{
	const struct imap_arg *l;
	const char *root, *word;
	uint64_t u;
	size_t n, i;

	(void)s;
	if (cmd->nargs != 2 || !imap_arg_astring(&cmd->args[0], &root, NULL) ||
	    !imap_arg_list(&cmd->args[1], &l, &n) || n % 2 != 0)
		goto bad;
	for (i = 0; i < n; i += 2)
		if (!imap_arg_atom(&l[i], &word) || !imap_arg_atom(&l[i + 1], &word) ||
		    ms_parse_u64(word, 0, INT64_MAX, &u) < 0)
			goto bad;
	imap_reply(cmd, IMAP_NO, "[NOPERM] Quotas are set by the administrator");
	return;
bad:
	imap_reply(cmd, IMAP_BAD, "Usage: SETQUOTA quota-root (resource limit ...)");
}

/* ---- METADATA: entry names and values ---- */

/*
 * RFC 5464 section 3.2 and 5: entry = astring, a slash-separated path
 * that "MUST NOT contain asterisk or percent", no two slashes in a row and
 * no trailing slash (a lone "/" is allowed so DEPTH infinity can ask for
 * everything), printable US-ASCII only. Entry names are case-insensitive;
 * they are kept in lower case.
 */
int
imap_metadata_entry(const struct imap_arg *a, struct buf *out, const char **error_r)
{
	const char *str;
	size_t len, i;

	buf_reset(out);
	if (!imap_arg_astring(a, &str, &len)) {
		*error_r = "Invalid entry name";
		return -1;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)str[i];

		if (c < 0x20 || c >= 0x7f) {
			*error_r = "Entry names are printable US-ASCII";
			return -1;
		}
		if (c == '*' || c == '%') {
			*error_r = "Entry names cannot contain * or %";
			return -1;
		}
		if (c == '/' && i + 1 < len && str[i + 1] == '/') {
			*error_r = "Entry names cannot contain //";
			return -1;
		}
	}
	if (len > 1 && str[len - 1] == '/') {
		*error_r = "Entry names cannot end with /";
		return -1;
	}
	buf_append(out, str, len);
	ms_str_lower(out->data);
	return 0;
}

/* RFC 5464 section 5: value = nstring / literal8. A value set as a quoted
 * string comes back as a string; one set as a literal as a literal, which
 * must be a literal8 when it holds NUL (CHAR8 excludes it). */
void
imap_buf_metadata_value(struct imap_session *s, struct buf *out,
	const struct store_metadata *m)
{
	if (m->is_string) {
		imap_buf_string(s, out, m->value.data, m->value.len);
		return;
	}
	buf_printf(out, "%s{%zu}\r\n",
		memchr(m->value.data, '\0', m->value.len) != NULL ? "~" : "", m->value.len);
	buf_append(out, m->value.data, m->value.len);
}

/* The mailbox of a METADATA response: "" for the server annotations. */
static void
buf_meta_mailbox(struct imap_session *s, struct buf *out, const char *name)
{
	if (name == NULL || name[0] == '\0')
		buf_puts(out, "\"\"");
	else
		imap_buf_mailbox(s, out, name);
}

/* ---- GETMETADATA ---- */

enum depth { DEPTH_0, DEPTH_1, DEPTH_INFINITY };

/*
 * RFC 5464 section 4.2: an annotation matches a requested entry name when
 * it is that entry, or with DEPTH 1 an entry one level below it, or with
 * DEPTH infinity any entry below it. "" and "/" stand for the root.
 */
static bool
entry_matches(const char *have, const struct buf *want, enum depth depth)
{
	size_t plen = want->len;
	const char *rest;

	if (strcmp(have, want->data) == 0)
		return true;
	if (depth == DEPTH_0)
		return false;
	if (plen == 1 && want->data[0] == '/')
		plen = 0;
	if (strncmp(have, want->data, plen) != 0 || have[plen] != '/')
		return false;
	rest = have + plen + 1;
	return depth == DEPTH_INFINITY || strchr(rest, '/') == NULL;
}

/*
 * RFC 5464 sections 4.2 and 5:
 *   getmetadata = "GETMETADATA" [SP getmetadata-options] SP mailbox SP entries
 *   getmetadata-options = "(" getmetadata-option *(SP getmetadata-option) ")"
 *   getmetadata-option = "MAXSIZE" SP number / "DEPTH" SP ("0" / "1" / "infinity")
 *   entries = entry / "(" entry *(SP entry) ")"
 * Mailbox "" asks for the server annotations. The matches go in one
 * "* METADATA mailbox (entry value ...)" response, none when nothing
 * matched; values longer than MAXSIZE are left out and the size of the
 * longest of them is given in OK [METADATA LONGENTRIES n].
 */
void
imap_cmd_getmetadata(struct imap_session *s, struct imap_cmd *cmd)
{
	const struct imap_arg *a = cmd->args, *l, *ents;
	struct store_metadata *v = NULL;
	struct store_mailbox mb;
	struct buf name, b, *want = NULL;
	size_t nv = 0, nopt, nents = 0, i, j, k = 0, matched = 0;
	enum depth depth = DEPTH_0;
	bool have_depth = false, have_max = false;
	uint64_t maxsize = 0;
	int64_t longest = -1;
	const char *error, *word;
	int r;

	memset(&mb, 0, sizeof(mb));
	buf_init(&name);
	buf_init(&b);
	if (cmd->nargs > 0 && imap_arg_list(&a[0], &l, &nopt)) {
		if (nopt == 0 || nopt % 2 != 0)
			goto usage;
		for (i = 0; i < nopt; i += 2) {
			if (imap_arg_atom_eq(&l[i], "MAXSIZE") && !have_max &&
			    imap_arg_atom(&l[i + 1], &word) &&
			    ms_parse_u64(word, 0, UINT32_MAX, &maxsize) == 0) {
				have_max = true;
			} else if (imap_arg_atom_eq(&l[i], "DEPTH") && !have_depth &&
			    imap_arg_atom(&l[i + 1], &word) &&
			    (strcmp(word, "0") == 0 || strcmp(word, "1") == 0 ||
				ms_strcaseeq(word, "infinity"))) {
				have_depth = true;
				depth = word[0] == '0' ? DEPTH_0 : word[0] == '1' ? DEPTH_1 :
					DEPTH_INFINITY;
			} else {
				imap_reply(cmd, IMAP_BAD, "Invalid or repeated GETMETADATA option");
				goto out;
			}
		}
		k = 1;
	}
	if (cmd->nargs != k + 2)
		goto usage;
	if (imap_arg_list(&a[k + 1], &ents, &nents)) {
		if (nents == 0)
			goto usage;
	} else {
		ents = &a[k + 1];
		nents = 1;
	}
	if (imap_mailbox_arg(s, &a[k], &name, &error) < 0) {
		imap_reply(cmd, IMAP_BAD, "%s", error);
		goto out;
	}
	want = xcalloc(nents, sizeof(*want));
	for (i = 0; i < nents; i++)
		buf_init(&want[i]);
	for (i = 0; i < nents; i++) {
		if (imap_metadata_entry(&ents[i], &want[i], &error) < 0) {
			imap_reply(cmd, IMAP_BAD, "%s", error);
			goto out;
		}
	}
	if (name.len > 0) {
		r = store_mailbox_get(s->d->store, s->account_id, name.data, &mb, &error);
		if (r <= 0) {
			if (r < 0)
				log_error(imap_cid(s), "proto=imap ev=getmetadata error=%s",
					lq(error));
			imap_reply(cmd, IMAP_NO, r < 0 ? "[UNAVAILABLE] Temporary failure" :
				"[TRYCREATE] Mailbox does not exist");
			goto out;
		}
	}
	/* All annotations of the mailbox (bounded by the account limits),
	 * filtered here: the depth rules are prefix matches. */
	if (store_metadata_get(s->d->store, s->account_id, mb.id, NULL, 0, &v, &nv,
		    &error) < 0) {
		log_error(imap_cid(s), "proto=imap ev=getmetadata error=%s", lq(error));
		imap_reply(cmd, IMAP_NO, "[UNAVAILABLE] Temporary failure");
		goto out;
	}
	buf_puts(&b, "* METADATA ");
	buf_meta_mailbox(s, &b, mb.name);
	buf_puts(&b, " (");
	for (i = 0; i < nv; i++) {
		for (j = 0; j < nents; j++)
			if (entry_matches(v[i].entry, &want[j], depth))
				break;
		if (j == nents)
			continue;
		if (have_max && v[i].value.len > maxsize) {
			if ((int64_t)v[i].value.len > longest)
				longest = (int64_t)v[i].value.len;
			continue;
		}
		if (matched++ > 0)
			buf_putc(&b, ' ');
		imap_buf_astring(s, &b, v[i].entry);
		buf_putc(&b, ' ');
		imap_buf_metadata_value(s, &b, &v[i]);
	}
	buf_puts(&b, ")\r\n");
	if (matched > 0)
		imap_write(s, b.data, b.len);
	/* RFC 5464 4.2.1: the size of the longest value not returned. */
	if (longest >= 0)
		imap_reply(cmd, IMAP_OK, "[METADATA LONGENTRIES %lld] GETMETADATA completed",
			(long long)longest);
	goto out;
usage:
	imap_reply(cmd, IMAP_BAD, "Usage: GETMETADATA [(options)] mailbox entries");
out:
	for (i = 0; want != NULL && i < nents; i++)
		buf_free(&want[i]);
	free(want);
	store_metadata_free(v, nv);
	store_mailbox_free(&mb);
	buf_free(&name);
	buf_free(&b);
}

/* ---- SETMETADATA ---- */

/* RFC 5464 section 3.2: entries are under /private (the user's own) or
 * /shared (everyone's; the same here, as there are no other users of a
 * mailbox), and names under /private/vendor or /shared/vendor need a
 * vendor token and at least one more component. Returns NULL when the
 * name may be set, else why not. */
static const char *
entry_settable(const char *e)
{
	size_t slashes = 0;
	const char *p;

	if (!ms_startswith_ci(e, "/private/") && !ms_startswith_ci(e, "/shared/"))
		return "Only /private/... and /shared/... entries can be set";
	if (strcmp(e, "/private/vendor") == 0 || strcmp(e, "/shared/vendor") == 0 ||
	    ms_startswith_ci(e, "/private/vendor/") || ms_startswith_ci(e, "/shared/vendor/")) {
		for (p = e; *p != '\0'; p++)
			slashes += *p == '/';
		if (slashes < 4)
			return "Vendor entries need a vendor name and an entry below it";
	}
	return NULL;
}

/*
 * RFC 5464 sections 4.3 and 5:
 *   setmetadata = "SETMETADATA" SP mailbox SP "(" entry-value
 *                 *(SP entry-value) ")"
 *   entry-value = entry SP value
 *   value = nstring / literal8
 * NIL removes the entry. All changes are made or none: when the account's
 * limits would be exceeded the answer is NO [METADATA TOOMANY] or
 * NO [METADATA MAXSIZE n]. Private entries are supported, so NOPRIVATE is
 * never sent.
 */
void
imap_cmd_setmetadata(struct imap_session *s, struct imap_cmd *cmd)
{
	const struct imap_arg *l;
	struct store_metadata_change *ch = NULL;
	struct buf name, *ents = NULL;
	size_t n = 0, i, nch = 0;
	const char *error, *why;
	int r;

	buf_init(&name);
	if (cmd->nargs != 2 || !imap_arg_list(&cmd->args[1], &l, &n) || n == 0 || n % 2 != 0) {
		imap_reply(cmd, IMAP_BAD, "Usage: SETMETADATA mailbox (entry value ...)");
		goto out;
	}
	if (imap_mailbox_arg(s, &cmd->args[0], &name, &error) < 0) {
		imap_reply(cmd, IMAP_BAD, "%s", error);
		goto out;
	}
	nch = n / 2;
	ch = xcalloc(nch, sizeof(*ch));
	ents = xcalloc(nch, sizeof(*ents));
	for (i = 0; i < nch; i++)
		buf_init(&ents[i]);
	for (i = 0; i < nch; i++) {
		const struct imap_arg *val = &l[2 * i + 1];

		if (imap_metadata_entry(&l[2 * i], &ents[i], &error) < 0) {
			imap_reply(cmd, IMAP_BAD, "%s", error);
			goto out;
		}
		ch[i].entry = ents[i].data;
		switch (val->type) {
		case IMAP_ARG_NIL:
			break;
		case IMAP_ARG_QUOTED:
		case IMAP_ARG_LITERAL:
			ch[i].value = val->u.str;
			ch[i].len = val->len;
			ch[i].is_string = val->type == IMAP_ARG_QUOTED;
			break;
		default:
			imap_reply(cmd, IMAP_BAD, "A value is a string, a literal or NIL");
			goto out;
		}
	}
	for (i = 0; i < nch; i++) {
		if ((why = entry_settable(ch[i].entry)) != NULL) {
			imap_reply(cmd, IMAP_NO, "%s", why);
			goto out;
		}
	}
	r = store_metadata_set(s->d->store, s->account_id, name.len > 0 ? name.data : NULL,
		ch, nch, &error);
	switch (r) {
	case 0:
		log_info(imap_cid(s), "proto=imap ev=setmetadata mailbox=%s entries=%zu",
			lq(name.data), nch);
		break;
	case STORE_MAILBOX_NOT_FOUND:
		imap_reply(cmd, IMAP_NO, "[TRYCREATE] Mailbox does not exist");
		break;
	case STORE_METADATA_TOOMANY:
		imap_reply(cmd, IMAP_NO, "[METADATA TOOMANY] At most %d entries per account",
			STORE_METADATA_MAX_ENTRIES);
		break;
	case STORE_METADATA_TOOLARGE:
		imap_reply(cmd, IMAP_NO, "[METADATA MAXSIZE %d] Entries and values are "
			"limited to %d bytes per account", STORE_METADATA_MAX_SIZE,
			STORE_METADATA_MAX_SIZE);
		break;
	default:
		log_error(imap_cid(s), "proto=imap ev=setmetadata error=%s", lq(error));
		imap_reply(cmd, IMAP_NO, "[UNAVAILABLE] Temporary failure");
		break;
	}
out:
	for (i = 0; ents != NULL && i < nch; i++)
		buf_free(&ents[i]);
	free(ents);
	free(ch);
	buf_free(&name);
}
