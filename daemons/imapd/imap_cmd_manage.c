/* Mailbox management: CREATE (with RFC 6154 CREATE-SPECIAL-USE), DELETE,
 * RENAME, SUBSCRIBE, UNSUBSCRIBE (RFC 9051 6.3.4-6.3.8). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "imap_session.h"

/* RFC 6154 special-use attributes CREATE accepts, and their store names. */
static const struct {
	const char *attr, *use;
} special_uses[] = {
	{ "\\Archive", "archive" }, { "\\Drafts", "drafts" }, { "\\Junk", "junk" },
	{ "\\Sent", "sent" }, { "\\Trash", "trash" },
};

static void
temporary_failure(struct imap_session *s, struct imap_cmd *cmd, const char *what,
	const char *error)
{
	log_error(imap_cid(s), "proto=imap ev=%s error=%s", what, lq(error));
	imap_reply(cmd, IMAP_NO, "[UNAVAILABLE] Temporary failure, try again later");
}

/* The mailbox name argument in store form, without a trailing hierarchy
 * delimiter (RFC 9051 6.3.4: "CREATE foo/" creates foo). */
static bool
name_arg(struct imap_session *s, struct imap_cmd *cmd, const struct imap_arg *a,
	struct buf *name)
{
	const char *error;

	if (imap_mailbox_arg(s, a, name, &error) < 0) {
		imap_reply(cmd, IMAP_BAD, "%s", error);
		return false;
	}
	while (name->len > 1 && name->data[name->len - 1] == '/')
		buf_truncate(name, name->len - 1);
	return true;
}

/*
 * RFC 9051 6.3.4 / RFC 6154 3:
 *   create = "CREATE" SP mailbox [create-params]
 *   create-params = SP "(" create-param *(SP create-param) ")"
 *   create-param = "USE" SP "(" [use-attr *(SP use-attr)] ")"
 */
void
imap_cmd_create(struct imap_session *s, struct imap_cmd *cmd)
{
	const struct imap_arg *params = NULL, *uses = NULL;
	const char *special = NULL, *error, *key;
	size_t nparams = 0, nuses = 0, i, j;
	struct buf name;
	int r;

	if (cmd->nargs < 1 || cmd->nargs > 2 ||
	    (cmd->nargs == 2 && !imap_arg_list(&cmd->args[1], &params, &nparams))) {
		imap_reply(cmd, IMAP_BAD, "Usage: CREATE mailbox [(USE (\\Special))]");
		return;
	}
	for (i = 0; i < nparams; i += 2) {
		if (i + 1 >= nparams || !imap_arg_atom(&params[i], &key) ||
		    !ms_strcaseeq(key, "USE") || !imap_arg_list(&params[i + 1], &uses, &nuses)) {
			imap_reply(cmd, IMAP_BAD, "Unknown CREATE parameter");
			return;
		}
		for (j = 0; j < nuses; j++) {
			const char *attr;
			size_t k;

			if (!imap_arg_atom(&uses[j], &attr)) {
				imap_reply(cmd, IMAP_BAD, "Invalid special-use attribute");
				return;
			}
			for (k = 0; k < MS_NELEM(special_uses); k++)
				if (ms_strcaseeq(attr, special_uses[k].attr))
					break;
			if (k == MS_NELEM(special_uses)) {
				imap_reply(cmd, IMAP_NO, "[USEATTR] Unsupported special-use attribute %s",
					attr);
				return;
			}
			if (special != NULL) {
				imap_reply(cmd, IMAP_NO, "[USEATTR] One special use per mailbox");
				return;
			}
			special = special_uses[k].use;
		}
	}
	buf_init(&name);
	if (!name_arg(s, cmd, &cmd->args[0], &name))
		goto out;
	if (ms_strcaseeq(name.data, "inbox")) {
		imap_reply(cmd, IMAP_NO, "[ALREADYEXISTS] INBOX always exists");
		goto out;
	}
	if (!store_mailbox_name_ok(name.data)) {
		imap_reply(cmd, IMAP_NO, "[CANNOT] Invalid mailbox name");
		goto out;
	}
	r = store_mailbox_create(s->d->store, s->account_id, name.data, special, NULL, &error);
	if (r < 0) {
		if (special != NULL && strstr(error, "special use") != NULL)
			imap_reply(cmd, IMAP_NO, "[USEATTR] %s", error);
		else
			temporary_failure(s, cmd, "create", error);
	} else if (r == STORE_MAILBOX_EXISTS) {
		imap_reply(cmd, IMAP_NO, "[ALREADYEXISTS] Mailbox already exists");
	} else {
		log_info(imap_cid(s), "proto=imap ev=create mailbox=%s", lq(name.data));
		imap_reply(cmd, IMAP_OK, "CREATE completed");
	}
out:
	buf_free(&name);
}

/* RFC 9051 6.3.5: delete = "DELETE" SP mailbox. A mailbox with children is
 * refused ([HASCHILDREN]), as is INBOX. */
void
imap_cmd_delete(struct imap_session *s, struct imap_cmd *cmd)
{
	const char *error;
	struct buf name;
	size_t n = 0;
	int r;

	if (cmd->nargs != 1) {
		imap_reply(cmd, IMAP_BAD, "Usage: DELETE mailbox");
		return;
	}
	buf_init(&name);
	if (!name_arg(s, cmd, &cmd->args[0], &name))
		goto out;
	/* Deleting the selected mailbox: it is closed first. */
	if (s->sel != NULL && strcmp(s->sel->name, name.data) == 0)
		imap_view_close(s);
	r = store_mailbox_delete(s->d->store, s->account_id, name.data, &n, &error);
	switch (r) {
	case 0:
		log_info(imap_cid(s), "proto=imap ev=delete mailbox=%s messages=%zu",
			lq(name.data), n);
		imap_reply(cmd, IMAP_OK, "DELETE completed");
		break;
	case STORE_MAILBOX_NOT_FOUND:
		imap_reply(cmd, IMAP_NO, "[NONEXISTENT] Mailbox does not exist");
		break;
	case STORE_MAILBOX_HAS_CHILDREN:
		imap_reply(cmd, IMAP_NO, "[HASCHILDREN] Mailbox has child mailboxes, delete them first");
		break;
	case STORE_MAILBOX_IS_INBOX:
		imap_reply(cmd, IMAP_NO, "[CANNOT] INBOX cannot be deleted");
		break;
	default:
		temporary_failure(s, cmd, "delete", error);
		break;
	}
out:
	buf_free(&name);
}

/* RFC 9051 6.3.6: rename = "RENAME" SP mailbox SP mailbox. */
void
imap_cmd_rename(struct imap_session *s, struct imap_cmd *cmd)
{
	struct buf from, to;
	const char *error;
	int r;

	if (cmd->nargs != 2) {
		imap_reply(cmd, IMAP_BAD, "Usage: RENAME mailbox newname");
		return;
	}
	buf_init(&from);
	buf_init(&to);
	if (!name_arg(s, cmd, &cmd->args[0], &from) || !name_arg(s, cmd, &cmd->args[1], &to))
		goto out;
	if (!store_mailbox_name_ok(to.data)) {
		imap_reply(cmd, IMAP_NO, "[CANNOT] Invalid mailbox name");
		goto out;
	}
	r = store_mailbox_rename(s->d->store, s->account_id, from.data, to.data, &error);
	switch (r) {
	case 0:
		log_info(imap_cid(s), "proto=imap ev=rename from=%s to=%s", lq(from.data),
			lq(to.data));
		/* A renamed selected mailbox is no longer the one the client
		 * selected by name: close it (RFC 9051 leaves this open). */
		if (s->sel != NULL && !ms_strcaseeq(from.data, "inbox") &&
		    (strcmp(s->sel->name, from.data) == 0 ||
			(strncmp(s->sel->name, from.data, from.len) == 0 &&
			    s->sel->name[from.len] == '/'))) {
			imap_view_close(s);
			imap_untagged(s, "OK [CLOSED] Mailbox renamed");
		}
		imap_reply(cmd, IMAP_OK, "RENAME completed");
		break;
	case STORE_MAILBOX_NOT_FOUND:
		imap_reply(cmd, IMAP_NO, "[NONEXISTENT] Mailbox does not exist");
		break;
	case STORE_MAILBOX_EXISTS:
		imap_reply(cmd, IMAP_NO, "[ALREADYEXISTS] Target mailbox exists or is inside the "
			"mailbox");
		break;
	case STORE_METADATA_TOOMANY:
		/* Renaming INBOX copies its annotations (RFC 5464 limits). */
		imap_reply(cmd, IMAP_NO, "[METADATA TOOMANY] Too many annotations to copy");
		break;
	case STORE_METADATA_TOOLARGE:
		imap_reply(cmd, IMAP_NO, "[METADATA MAXSIZE %d] Annotations to copy too large",
			STORE_METADATA_MAX_SIZE);
		break;
	default:
		temporary_failure(s, cmd, "rename", error);
		break;
	}
out:
	buf_free(&from);
	buf_free(&to);
}

/* RFC 9051 6.3.7/6.3.8: SUBSCRIBE / UNSUBSCRIBE mailbox. Only existing
 * mailboxes can be subscribed (allowed by 6.3.7). */
void
imap_cmd_subscribe(struct imap_session *s, struct imap_cmd *cmd)
{
	bool on = strcmp(cmd->name, "SUBSCRIBE") == 0;
	const char *error;
	struct buf name;
	int r;

	if (cmd->nargs != 1) {
		imap_reply(cmd, IMAP_BAD, "Usage: %s mailbox", cmd->name);
		return;
	}
	buf_init(&name);
	if (!name_arg(s, cmd, &cmd->args[0], &name))
		goto out;
	r = store_mailbox_subscribe(s->d->store, s->account_id, name.data, on, &error);
	if (r < 0)
		temporary_failure(s, cmd, "subscribe", error);
	else if (r == STORE_MAILBOX_NOT_FOUND)
		imap_reply(cmd, IMAP_NO, "[NONEXISTENT] Mailbox does not exist");
	else
		imap_reply(cmd, IMAP_OK, "%s completed", cmd->name);
out:
	buf_free(&name);
}
