/* Webmail methods that change the account's mail: moving, removing and
 * flagging messages, managing mailboxes, thread mute and collapse, the
 * settings, and the answers to ruleset suggestions (webmail_private.h has
 * the shapes). Every change of messages and mailboxes goes through
 * lib/store, so modseqs, UIDs, counts, tombstones and the change NOTIFY
 * that IMAP IDLE and the webmail's events depend on stay right. */
#include "config.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"
#include "db/db.h"
#include "mail/addr.h"
#include "mail/header.h"
#include "mail/mime.h"
#include "mail/msgid_refs.h"
#include "store/store.h"
#include "store/store_rules.h"
#include "webmail/webmail_private.h"

/* Most ids one call takes (a page of the list is at most 200; selecting
 * "all" of a big mailbox goes through MailboxesMarkRead/MailboxEmpty). */
#define WM_MAX_IDS 10000

/* Messages of a call, ordered by mailbox and UID. */
struct wm_msgs {
	int64_t *id, *mailbox_id;
	uint32_t *uid;
	unsigned *flags;
	size_t n;
};

static void
wm_msgs_free(struct wm_msgs *m)
{
	free(m->id);
	free(m->mailbox_id);
	free(m->uid);
	free(m->flags);
	memset(m, 0, sizeof(*m));
}

/* The int array params[i] as a PostgreSQL bigint[] literal, checking each
 * id is positive. Returns the number of ids or -1 after an error. */
static long
ids_param(struct web_call *call, size_t i, const char *what, struct buf *out, int64_t **v_r)
{
	struct json_object *arr = call->params[i];
	size_t k, n = json_object_array_length(arr);
	int64_t *v;

	if (n == 0) {
		web_call_error(call, "user:error", "no %s given", what);
		return -1;
	}
	if (n > WM_MAX_IDS) {
		web_call_error(call, "user:error", "at most %d %s at once", WM_MAX_IDS, what);
		return -1;
	}
	v = xcalloc(n, sizeof(*v));
	for (k = 0; k < n; k++) {
		v[k] = json_object_get_int64(json_object_array_get_idx(arr, k));
		if (v[k] <= 0) {
			free(v);
			web_call_error(call, "user:badParams", "bad id in %s", what);
			return -1;
		}
	}
	db_i64_array(out, v, n);
	if (v_r != NULL)
		*v_r = v;
	else
		free(v);
	return (long)n;
}

/* Load the messages whose ids are in params[i], all of the session's
 * account: "user:notFound" when any is not. */
static int
msgs_load(struct web_call *call, size_t i, struct wm_msgs *m)
{
	struct buf ids;
	PGresult *res;
	long n;
	int k, rows;

	memset(m, 0, sizeof(*m));
	buf_init(&ids);
	n = ids_param(call, i, "messages", &ids, NULL);
	if (n < 0) {
		buf_free(&ids);
		return -1;
	}
	res = wm_query(call, "looking up messages",
		"SELECT id, mailbox_id, uid, flags, (SELECT count(DISTINCT x) FROM unnest($2::bigint[]) x)"
		" FROM messages WHERE account_id = $1 AND id = ANY($2::bigint[])"
		" ORDER BY mailbox_id, uid",
		2, (const char *[]){ db_i64(call->req->account_id), ids.data });
	buf_free(&ids);
	if (res == NULL)
		return -1;
	rows = PQntuples(res);
	if (rows == 0 || rows != db_get_i64(res, 0, 4)) {
		PQclear(res);
		return web_call_error(call, "user:notFound", "message not found");
	}
	m->n = (size_t)rows;
	m->id = xcalloc(m->n, sizeof(*m->id));
	m->mailbox_id = xcalloc(m->n, sizeof(*m->mailbox_id));
	m->uid = xcalloc(m->n, sizeof(*m->uid));
	m->flags = xcalloc(m->n, sizeof(*m->flags));
	for (k = 0; k < rows; k++) {
		m->id[k] = db_get_i64(res, k, 0);
		m->mailbox_id[k] = db_get_i64(res, k, 1);
		m->uid[k] = (uint32_t)db_get_i64(res, k, 2);
		m->flags[k] = (unsigned)db_get_i64(res, k, 3);
	}
	PQclear(res);
	return 0;
}

/* Name and special use ("" none) of a mailbox of the account, in the
 * request's arena. Returns 0, or -1 after "user:notFound" or a server
 * error. */
static int
mailbox_load(struct web_call *call, int64_t mailbox_id, const char **name_r, const char **use_r)
{
	PGresult *res;

	if (mailbox_id <= 0)
		return web_call_error(call, "user:notFound", "mailbox not found");
	res = wm_query(call, "looking up mailbox",
		"SELECT name, COALESCE(special_use, '') FROM mailboxes WHERE account_id = $1 AND id = $2",
		2, (const char *[]){ db_i64(call->req->account_id), db_i64(mailbox_id) });
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return web_call_error(call, "user:notFound", "mailbox not found");
	}
	*name_r = web_strdup(call->req, PQgetvalue(res, 0, 0));
	if (use_r != NULL)
		*use_r = web_strdup(call->req, PQgetvalue(res, 0, 1));
	PQclear(res);
	return 0;
}

static int
done(struct web_call *call)
{
	call->result = NULL;
	return 0;
}

/* ---- messages ---- */

int
wm_message_move(struct web_call *call)
{
	struct store *st = web_env_store(call->req->env);
	int64_t dst = web_call_int(call, 1);
	const char *dst_name, *error;
	struct wm_msgs m;
	size_t i, j;
	int rc;

	if (mailbox_load(call, dst, &dst_name, NULL) < 0 || msgs_load(call, 0, &m) < 0)
		return -1;
	/* One store_copy (one transaction) per source mailbox; messages
	 * already in the destination stay where they are. */
	for (i = 0; i < m.n; i = j) {
		struct store_copy_result r;

		for (j = i; j < m.n && m.mailbox_id[j] == m.mailbox_id[i]; j++)
			;
		if (m.mailbox_id[i] == dst)
			continue;
		memset(&r, 0, sizeof(r));
		rc = store_copy(st, call->req->account_id, m.mailbox_id[i], m.uid + i, j - i,
			dst_name, true, &r, &error);
		store_copy_result_free(&r);
		if (rc == STORE_NO_MAILBOX) {
			wm_msgs_free(&m);
			return web_call_error(call, "user:notFound", "mailbox not found");
		}
		if (rc != 0) {
			wm_msgs_free(&m);
			return web_call_server_error(call, "moving messages", error);
		}
	}
	log_info(call->req->cid, "proto=http app=webmail ev=messages-moved account=%s n=%zu"
		" mailbox=%lld", lq(call->req->account_name), m.n, (long long)dst);
	wm_msgs_free(&m);
	return done(call);
}

int
wm_message_delete(struct web_call *call)
{
	struct store *st = web_env_store(call->req->env);
	const char *error;
	struct wm_msgs m;
	size_t i, j, nexp;
	uint32_t *exp;

	if (msgs_load(call, 0, &m) < 0)
		return -1;
	for (i = 0; i < m.n; i = j) {
		for (j = i; j < m.n && m.mailbox_id[j] == m.mailbox_id[i]; j++)
			;
		if (store_remove(st, call->req->account_id, m.mailbox_id[i], m.uid + i, j - i,
			    &exp, &nexp, &error) < 0) {
			wm_msgs_free(&m);
			return web_call_server_error(call, "removing messages", error);
		}
		free(exp);
	}
	log_info(call->req->cid, "proto=http app=webmail ev=messages-removed account=%s n=%zu",
		lq(call->req->account_name), m.n);
	wm_msgs_free(&m);
	return done(call);
}

bool
wm_keyword_ok(const char *s)
{
	const unsigned char *p;

	if (s[0] == '\0' || strlen(s) > 128)
		return false;
	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p <= 0x20 || *p >= 0x7f || strchr("(){%*\"\\]", *p) != NULL)
			return false;
	return true;
}

static int
flags_change(struct web_call *call, enum store_flag_op op)
{
	struct store *st = web_env_store(call->req->env);
	struct json_object *arr = call->params[1];
	size_t i, j, n = json_object_array_length(arr), nkw = 0, nch;
	const char **kw = web_alloc(call->req, (n + 1) * sizeof(*kw));
	struct store_flag_change *ch;
	unsigned flags = 0;
	const char *error;
	struct wm_msgs m;

	if (n == 0)
		return web_call_error(call, "user:error", "no flags given");
	for (i = 0; i < n; i++) {
		const char *f = json_object_get_string(json_object_array_get_idx(arr, i));
		unsigned bit = store_flag_parse(f, strlen(f));

		if (bit != 0) {
			flags |= bit;
		} else if (f[0] == '\\' || !wm_keyword_ok(f)) {
			return web_call_error(call, "user:error", "invalid flag or keyword");
		} else {
			char *l = web_strdup(call->req, f);

			ms_str_lower(l);
			kw[nkw++] = l;
		}
	}
	if (msgs_load(call, 0, &m) < 0)
		return -1;
	for (i = 0; i < m.n; i = j) {
		for (j = i; j < m.n && m.mailbox_id[j] == m.mailbox_id[i]; j++)
			;
		if (store_flags_change(st, call->req->account_id, m.mailbox_id[i], m.uid + i, j - i,
			    op, flags, kw, nkw, -1, &ch, &nch, NULL, NULL, &error) < 0) {
			wm_msgs_free(&m);
			return web_call_server_error(call, "changing flags", error);
		}
		store_flag_changes_free(ch, nch);
	}
	wm_msgs_free(&m);
	return done(call);
}

int
wm_flags_add(struct web_call *call)
{
	return flags_change(call, STORE_FLAGS_ADD);
}

int
wm_flags_clear(struct web_call *call)
{
	return flags_change(call, STORE_FLAGS_REMOVE);
}

/* Set \Seen on the unseen messages of one mailbox of the account, or of
 * the threads of the messages (bigint[] literal thread_of). */
static int
mark_seen(struct web_call *call, int64_t mailbox_id, const char *thread_of)
{
	struct store *st = web_env_store(call->req->env);
	struct store_flag_change *ch;
	uint32_t *uids;
	const char *error;
	PGresult *res;
	size_t nch;
	int i, j, rows;

	if (thread_of == NULL)
		res = wm_query(call, "looking up unread messages",
			"SELECT mailbox_id, uid FROM messages WHERE account_id = $1 AND mailbox_id = $2"
			" AND flags & 1 = 0 ORDER BY mailbox_id, uid",
			2, (const char *[]){ db_i64(call->req->account_id), db_i64(mailbox_id) });
	else
		res = wm_query(call, "looking up unread messages",
			"SELECT mailbox_id, uid FROM messages WHERE account_id = $1 AND flags & 1 = 0"
			" AND COALESCE(thread_id, id) IN (SELECT COALESCE(thread_id, id) FROM messages"
			"  WHERE account_id = $1 AND id = ANY($2::bigint[]))"
			" ORDER BY mailbox_id, uid",
			2, (const char *[]){ db_i64(call->req->account_id), thread_of });
	if (res == NULL)
		return -1;
	rows = PQntuples(res);
	uids = xcalloc((size_t)rows + 1, sizeof(*uids));
	for (i = 0; i < rows; i++)
		uids[i] = (uint32_t)db_get_i64(res, i, 1);
	for (i = 0; i < rows; i = j) {
		int64_t mb = db_get_i64(res, i, 0);

		for (j = i; j < rows && db_get_i64(res, j, 0) == mb; j++)
			;
		if (store_flags_change(st, call->req->account_id, mb, uids + i, (size_t)(j - i),
			    STORE_FLAGS_ADD, SF_SEEN, NULL, 0, -1, &ch, &nch, NULL, NULL,
			    &error) < 0) {
			PQclear(res);
			free(uids);
			return web_call_server_error(call, "marking read", error);
		}
		store_flag_changes_free(ch, nch);
	}
	PQclear(res);
	free(uids);
	return 0;
}

int
wm_mailboxes_mark_read(struct web_call *call)
{
	struct buf ids;
	int64_t *v = NULL;
	const char *name;
	long n, i;

	buf_init(&ids);
	n = ids_param(call, 0, "mailboxes", &ids, &v);
	buf_free(&ids);
	if (n < 0)
		return -1;
	for (i = 0; i < n; i++)
		if (mailbox_load(call, v[i], &name, NULL) < 0) {
			free(v);
			return -1;
		}
	for (i = 0; i < n; i++)
		if (mark_seen(call, v[i], NULL) < 0) {
			free(v);
			return -1;
		}
	free(v);
	return done(call);
}

/* ---- mailboxes ---- */

/* A mailbox name from the user: valid and not Inbox below another
 * spelling. Returns the name or NULL after an error. */
static const char *
name_param(struct web_call *call, size_t i)
{
	const char *name = web_call_str(call, i);

	if (!store_mailbox_name_ok(name)) {
		web_call_error(call, "user:error", "invalid mailbox name");
		return NULL;
	}
	return name;
}

int
wm_mailbox_create(struct web_call *call)
{
	struct store *st = web_env_store(call->req->env);
	const char *name = name_param(call, 0), *error;
	int64_t id;
	int rc;

	if (name == NULL)
		return -1;
	rc = store_mailbox_create(st, call->req->account_id, name, NULL, &id, &error);
	if (rc == STORE_MAILBOX_EXISTS)
		return web_call_error(call, "user:error", "mailbox already exists");
	if (rc != 0)
		return web_call_server_error(call, "creating mailbox", error);
	log_info(call->req->cid, "proto=http app=webmail ev=mailbox-created account=%s mailbox=%s",
		lq(call->req->account_name), lq(name));
	return done(call);
}

int
wm_mailbox_delete(struct web_call *call)
{
	struct store *st = web_env_store(call->req->env);
	const char *name, *error;
	size_t nmsgs = 0;
	int rc;

	if (mailbox_load(call, web_call_int(call, 0), &name, NULL) < 0)
		return -1;
	rc = store_mailbox_delete(st, call->req->account_id, name, &nmsgs, &error);
	switch (rc) {
	case 0:
		break;
	case STORE_MAILBOX_NOT_FOUND:
		return web_call_error(call, "user:notFound", "mailbox not found");
	case STORE_MAILBOX_HAS_CHILDREN:
		return web_call_error(call, "user:error", "mailbox has child mailboxes, remove them first");
	case STORE_MAILBOX_IS_INBOX:
		return web_call_error(call, "user:error", "the Inbox cannot be removed");
	default:
		return web_call_server_error(call, "removing mailbox", error);
	}
	log_info(call->req->cid, "proto=http app=webmail ev=mailbox-removed account=%s mailbox=%s"
		" messages=%zu", lq(call->req->account_name), lq(name), nmsgs);
	return done(call);
}

int
wm_mailbox_empty(struct web_call *call)
{
	struct store *st = web_env_store(call->req->env);
	int64_t id = web_call_int(call, 0);
	const char *name, *error;
	uint32_t *exp;
	size_t nexp;

	if (mailbox_load(call, id, &name, NULL) < 0)
		return -1;
	if (store_remove(st, call->req->account_id, id, NULL, 0, &exp, &nexp, &error) < 0)
		return web_call_server_error(call, "emptying mailbox", error);
	free(exp);
	log_info(call->req->cid, "proto=http app=webmail ev=mailbox-emptied account=%s mailbox=%s"
		" messages=%zu", lq(call->req->account_name), lq(name), nexp);
	return done(call);
}

int
wm_mailbox_rename(struct web_call *call)
{
	struct store *st = web_env_store(call->req->env);
	const char *name, *to, *error;
	int rc;

	if (mailbox_load(call, web_call_int(call, 0), &name, NULL) < 0)
		return -1;
	to = name_param(call, 1);
	if (to == NULL)
		return -1;
	/* IMAP's rename of Inbox moves its messages instead; the webmail
	 * keeps the Inbox where it is, and no other mailbox becomes it. */
	if (strcmp(name, "Inbox") == 0)
		return web_call_error(call, "user:error", "the Inbox cannot be renamed");
	if (ms_strcaseeq(to, "inbox"))
		return web_call_error(call, "user:error", "the new name cannot be the Inbox");
	if (strcmp(name, to) == 0)
		return done(call);
	rc = store_mailbox_rename(st, call->req->account_id, name, to, &error);
	switch (rc) {
	case 0:
		break;
	case STORE_MAILBOX_NOT_FOUND:
		return web_call_error(call, "user:notFound", "mailbox not found");
	case STORE_MAILBOX_EXISTS:
		return web_call_error(call, "user:error", "a mailbox with the new name exists");
	default:
		return web_call_server_error(call, "renaming mailbox", error);
	}
	log_info(call->req->cid, "proto=http app=webmail ev=mailbox-renamed account=%s from=%s to=%s",
		lq(call->req->account_name), lq(name), lq(to));
	return done(call);
}

int
wm_mailbox_set_special_use(struct web_call *call)
{
	struct store *st = web_env_store(call->req->env);
	const char *use = web_call_str(call, 1), *name, *error;
	int rc;

	if (use[0] != '\0' && !store_special_use_ok(use))
		return web_call_error(call, "user:error",
			"special use must be \"\", archive, drafts, junk, sent or trash");
	if (mailbox_load(call, web_call_int(call, 0), &name, NULL) < 0)
		return -1;
	rc = store_mailbox_set_special_use(st, call->req->account_id, web_call_int(call, 0), use,
		&error);
	if (rc == STORE_MAILBOX_NOT_FOUND)
		return web_call_error(call, "user:notFound", "mailbox not found");
	if (rc != 0)
		return web_call_server_error(call, "setting special use", error);
	return done(call);
}

/* ---- threads ---- */

static int
threads_set(struct web_call *call, bool mute)
{
	struct store *st = web_env_store(call->req->env);
	bool on = web_call_bool(call, 1);
	struct wm_msgs m;
	struct buf ids;
	const char *error;
	int rc;

	if (msgs_load(call, 0, &m) < 0)
		return -1;
	/* Muting also collapses the thread and marks it read (as the
	 * reference does); unmuting leaves both as they are. */
	rc = store_threads_set(st, call->req->account_id, m.id, m.n,
		mute ? on : -1, mute ? (on ? 1 : -1) : on, &error);
	if (rc < 0) {
		wm_msgs_free(&m);
		return web_call_server_error(call, "changing threads", error);
	}
	if (mute && on) {
		buf_init(&ids);
		db_i64_array(&ids, m.id, m.n);
		rc = mark_seen(call, 0, ids.data);
		buf_free(&ids);
	}
	wm_msgs_free(&m);
	return rc < 0 ? -1 : done(call);
}

int
wm_thread_collapse(struct web_call *call)
{
	return threads_set(call, false);
}

int
wm_thread_mute(struct web_call *call)
{
	return threads_set(call, true);
}

/* ---- settings ---- */

/* Member key of o with type t, or NULL after "user:badParams". */
static struct json_object *
member(struct web_call *call, struct json_object *o, const char *key, json_type t)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, t)) {
		web_call_error(call, "user:badParams", "settings: %s missing or of the wrong type", key);
		return NULL;
	}
	return v;
}

int
wm_settings_save(struct web_call *call)
{
	struct json_object *o = call->params[0], *sig, *quoting, *sas, *html, *nss, *hdrs;
	const char *q;
	struct buf arr;
	const char **names;
	size_t i, n;
	int rc;

	if ((sig = member(call, o, "signature", json_type_string)) == NULL ||
	    (quoting = member(call, o, "quoting", json_type_string)) == NULL ||
	    (sas = member(call, o, "showAddressSecurity", json_type_boolean)) == NULL ||
	    (html = member(call, o, "showHTML", json_type_boolean)) == NULL ||
	    (nss = member(call, o, "noShowShortcuts", json_type_boolean)) == NULL ||
	    (hdrs = member(call, o, "showHeaders", json_type_array)) == NULL)
		return -1;
	q = json_object_get_string(quoting);
	if (strcmp(q, "default") != 0 && strcmp(q, "bottom") != 0 && strcmp(q, "top") != 0)
		return web_call_error(call, "user:error", "quoting must be default, bottom or top");
	if (json_object_get_string_len(sig) > 64 * 1024 ||
	    strlen(json_object_get_string(sig)) != (size_t)json_object_get_string_len(sig))
		return web_call_error(call, "user:error", "signature too long or with NUL");
	n = json_object_array_length(hdrs);
	if (n > 100)
		return web_call_error(call, "user:error", "at most 100 header fields");
	names = web_alloc(call->req, (n + 1) * sizeof(*names));
	for (i = 0; i < n; i++) {
		struct json_object *h = json_object_array_get_idx(hdrs, i);
		const unsigned char *p;

		if (!json_object_is_type(h, json_type_string))
			return web_call_error(call, "user:badParams", "showHeaders must be strings");
		names[i] = json_object_get_string(h);
		/* RFC 5322 field name: printable US-ASCII but ":". */
		if (names[i][0] == '\0' || strlen(names[i]) > 100)
			return web_call_error(call, "user:error", "invalid header field name");
		for (p = (const unsigned char *)names[i]; *p != '\0'; p++)
			if (*p <= 0x20 || *p >= 0x7f || *p == ':')
				return web_call_error(call, "user:error", "invalid header field name");
	}
	buf_init(&arr);
	db_text_array(&arr, names, n);
	rc = wm_cmd(call, "saving settings",
		"INSERT INTO webmail_settings (account_id, signature, quoting, show_address_security,"
		" show_html, no_show_shortcuts, show_headers) VALUES ($1, $2, $3, $4, $5, $6, $7)"
		" ON CONFLICT (account_id) DO UPDATE SET signature = $2, quoting = $3,"
		" show_address_security = $4, show_html = $5, no_show_shortcuts = $6, show_headers = $7",
		7, (const char *[]){ db_i64(call->req->account_id), json_object_get_string(sig), q,
			json_object_get_boolean(sas) ? "true" : "false",
			json_object_get_boolean(html) ? "true" : "false",
			json_object_get_boolean(nss) ? "true" : "false", arr.data });
	buf_free(&arr);
	return rc < 0 ? -1 : done(call);
}

/* ---- answers to ruleset suggestions ---- */

int
wm_ruleset_message_never(struct web_call *call)
{
	const char *rcptto = web_call_str(call, 0), *list_id = web_call_str(call, 1),
		*msgfrom = web_call_str(call, 2);
	bool to_inbox = web_call_bool(call, 3);
	int rc;

	if ((list_id[0] == '\0') == (msgfrom[0] == '\0'))
		return web_call_error(call, "user:error", "give either a list id or a from address");
	if (strlen(rcptto) > 1000 || strlen(list_id) > 1000 || strlen(msgfrom) > 1000)
		return web_call_error(call, "user:error", "value too long");
	rc = wm_cmd(call, "saving answer",
		"INSERT INTO webmail_ruleset_never (account_id, rcptto_address, list_id, msgfrom_address,"
		" to_inbox) VALUES ($1, $2, $3, $4, $5)",
		5, (const char *[]){ db_i64(call->req->account_id), rcptto, list_id, msgfrom,
			to_inbox ? "true" : "false" });
	return rc < 0 ? -1 : done(call);
}

int
wm_ruleset_mailbox_never(struct web_call *call)
{
	int64_t id = web_call_int(call, 0);
	const char *name;
	int rc;

	if (mailbox_load(call, id, &name, NULL) < 0)
		return -1;
	rc = wm_cmd(call, "saving answer",
		"INSERT INTO webmail_ruleset_never (account_id, mailbox_id, to_inbox) VALUES ($1, $2, $3)",
		3, (const char *[]){ db_i64(call->req->account_id), db_i64(id),
			web_call_bool(call, 1) ? "true" : "false" });
	return rc < 0 ? -1 : done(call);
}

/* ---- rulesets: suggestions after a move, adding and removing ---- */

/* The address rcptTo ("lp@domain" as the account's destinations list it)
 * of the session's account: its localpart and domain (request arena) and
 * the delivery mailbox. Returns 0, or -1 after "user:notFound" (not an
 * explicit address of the account) or a server error. */
static int
own_address(struct web_call *call, const char *rcptto, const char **lp_r, const char **dom_r,
	const char **mailbox_r)
{
	PGresult *res;

	res = wm_query(call, "looking up address",
		"SELECT ad.localpart, d.name, ad.mailbox FROM addresses ad"
		" JOIN domains d ON d.id = ad.domain_id"
		" WHERE ad.account_id = $1 AND ad.localpart || '@' || d.name = $2",
		2, (const char *[]){ db_i64(call->req->account_id), rcptto });
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return web_call_error(call, "user:notFound",
			"address not found in account (a catch-all address must be configured"
			" explicitly to get rulesets)");
	}
	if (lp_r != NULL)
		*lp_r = web_strdup(call->req, PQgetvalue(res, 0, 0));
	if (dom_r != NULL)
		*dom_r = web_strdup(call->req, PQgetvalue(res, 0, 1));
	if (mailbox_r != NULL)
		*mailbox_r = web_strdup(call->req, PQgetvalue(res, 0, 2));
	PQclear(res);
	return 0;
}

/* A string member of the ruleset object; absent or null is "". */
static int
rs_member(struct web_call *call, struct json_object *o, const char *key, char **out)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || v == NULL) {
		*out = xstrdup("");
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return web_call_error(call, "user:badParams", "ruleset: %s must be a string", key);
	*out = xstrdup(json_object_get_string(v));
	return 0;
}

/* Normalize a domain member in place ("" stays ""). */
static int
rs_domain(struct web_call *call, char **d, const char *what)
{
	char *uni, *ascii;
	const char *error;

	if ((*d)[0] == '\0')
		return 0;
	if (mail_domain_parse(*d, strlen(*d), true, &uni, &ascii, &error) < 0)
		return web_call_error(call, "user:error", "ruleset: bad %s: %s", what, error);
	free(*d);
	free(ascii);
	*d = uni;
	return 0;
}

/* Normalize a mailbox member in place ("" allowed when optional). */
static int
rs_mailbox(struct web_call *call, char **mb, const char *what, bool optional)
{
	const char *error;
	struct buf b;

	if ((*mb)[0] == '\0') {
		if (optional)
			return 0;
		return web_call_error(call, "user:error", "ruleset: %s is required", what);
	}
	buf_init(&b);
	if (store_mailbox_name_norm(*mb, &b, &error) < 0) {
		buf_free(&b);
		return web_call_error(call, "user:error", "ruleset: %s: %s", what, error);
	}
	free(*mb);
	*mb = buf_steal(&b);
	buf_free(&b);
	return 0;
}

/* The ruleset object (the account API's destination rulesets shape) as a
 * store_ruleset, checked as the account's DestinationSave checks it.
 * Returns 0 (free rs with store_ruleset_free) or -1 after an error. */
static int
ruleset_param(struct web_call *call, struct json_object *o, struct store_ruleset *rs)
{
	struct json_object *h = NULL, *fwd = NULL;
	const char *error;

	memset(rs, 0, sizeof(*rs));
	if (rs_member(call, o, "smtpMailFromRegexp", &rs->smtp_mailfrom_regexp) < 0 ||
	    rs_member(call, o, "msgFromRegexp", &rs->msg_from_regexp) < 0 ||
	    rs_member(call, o, "verifiedDomain", &rs->verified_domain) < 0 ||
	    rs_member(call, o, "listAllowDomain", &rs->list_allow_domain) < 0 ||
	    rs_member(call, o, "acceptRejectsToMailbox", &rs->accept_rejects_to_mailbox) < 0 ||
	    rs_member(call, o, "mailbox", &rs->mailbox) < 0 ||
	    rs_member(call, o, "comment", &rs->comment) < 0)
		return -1;
	if (strlen(rs->comment) > 1000)
		return web_call_error(call, "user:error", "ruleset: comment too long");
	if (json_object_object_get_ex(o, "isForward", &fwd) && fwd != NULL &&
	    !json_object_is_type(fwd, json_type_boolean))
		return web_call_error(call, "user:badParams", "ruleset: isForward must be a boolean");
	rs->is_forward = fwd != NULL && json_object_get_boolean(fwd);
	if (json_object_object_get_ex(o, "headersRegexp", &h) && h != NULL &&
	    !json_object_is_type(h, json_type_object))
		return web_call_error(call, "user:badParams",
			"ruleset: headersRegexp must be an object of field and value regexps");
	if (rs_mailbox(call, &rs->mailbox, "mailbox", false) < 0 ||
	    rs_mailbox(call, &rs->accept_rejects_to_mailbox, "accept-rejects mailbox", true) < 0 ||
	    rs_domain(call, &rs->verified_domain, "verified domain") < 0 ||
	    rs_domain(call, &rs->list_allow_domain, "list-allow domain") < 0)
		return -1;
	if (h != NULL) {
		size_t n = (size_t)json_object_object_length(h);

		if (n > STORE_RULES_HEADERS_MAX)
			return web_call_error(call, "user:error", "ruleset: at most %d header conditions",
				STORE_RULES_HEADERS_MAX);
		rs->headers = xcalloc(n + 1, sizeof(*rs->headers));
		json_object_object_foreach(h, key, val) {
			if (!json_object_is_type(val, json_type_string))
				return web_call_error(call, "user:badParams",
					"ruleset: header value regexp must be a string");
			rs->headers[rs->nheaders].field = xstrdup(key);
			rs->headers[rs->nheaders].value = xstrdup(json_object_get_string(val));
			rs->nheaders++;
		}
	}
	if (store_ruleset_compile(rs, &error) < 0)
		return web_call_error(call, "user:error", "ruleset: %s", error);
	return 0;
}

/* Same conditions and result (the comment does not count). */
static bool
ruleset_equal(const struct store_ruleset *a, const struct store_ruleset *b)
{
	size_t i, j;

	if (strcmp(a->smtp_mailfrom_regexp, b->smtp_mailfrom_regexp) != 0 ||
	    strcmp(a->msg_from_regexp, b->msg_from_regexp) != 0 ||
	    strcmp(a->verified_domain, b->verified_domain) != 0 ||
	    a->is_forward != b->is_forward ||
	    strcmp(a->list_allow_domain, b->list_allow_domain) != 0 ||
	    strcmp(a->accept_rejects_to_mailbox, b->accept_rejects_to_mailbox) != 0 ||
	    strcmp(a->mailbox, b->mailbox) != 0 || a->nheaders != b->nheaders)
		return false;
	for (i = 0; i < a->nheaders; i++) {
		for (j = 0; j < b->nheaders; j++)
			if (strcmp(a->headers[i].field, b->headers[j].field) == 0 &&
			    strcmp(a->headers[i].value, b->headers[j].value) == 0)
				break;
		if (j == b->nheaders)
			return false;
	}
	return true;
}

int
wm_ruleset_add(struct web_call *call)
{
	struct store *st = web_env_store(call->req->env);
	const char *rcptto = web_call_str(call, 0), *lp, *dom, *error;
	struct store_ruleset rs;
	int pos, rc;

	if (own_address(call, rcptto, &lp, &dom, NULL) < 0)
		return -1;
	rc = ruleset_param(call, call->params[1], &rs);
	if (rc == 0 && store_ruleset_add(st, lp, dom, &rs, &pos, &error) < 0)
		rc = web_call_error(call, "user:error", "adding ruleset: %s", error);
	store_ruleset_free(&rs);
	if (rc < 0)
		return -1;
	log_info(call->req->cid, "proto=http app=webmail ev=ruleset-added account=%s address=%s"
		" position=%d", lq(call->req->account_name), lq(rcptto), pos);
	return done(call);
}

int
wm_ruleset_remove(struct web_call *call)
{
	struct store *st = web_env_store(call->req->env);
	const char *rcptto = web_call_str(call, 0), *lp, *dom, *error;
	struct store_ruleset rs, *have = NULL;
	size_t i, nhave = 0, nequal = 0;
	int pos = 0, rc;

	if (own_address(call, rcptto, &lp, &dom, NULL) < 0)
		return -1;
	rc = ruleset_param(call, call->params[1], &rs);
	if (rc == 0 && store_ruleset_list(st, lp, dom, &have, &nhave, &error) < 0)
		rc = web_call_server_error(call, "listing rulesets", error);
	for (i = 0; rc == 0 && i < nhave; i++)
		if (ruleset_equal(&rs, &have[i])) {
			nequal++;
			pos = (int)i + 1;
		}
	if (rc == 0 && nequal != 1)
		rc = web_call_error(call, nequal == 0 ? "user:notFound" : "user:error",
			"the ruleset matches %zu rulesets of the address, expected 1", nequal);
	if (rc == 0 && store_ruleset_remove(st, lp, dom, pos, &error) < 0)
		rc = web_call_server_error(call, "removing ruleset", error);
	store_ruleset_free(&rs);
	store_rulesets_free(have, nhave);
	if (rc < 0)
		return -1;
	log_info(call->req->cid, "proto=http app=webmail ev=ruleset-removed account=%s address=%s"
		" position=%d", lq(call->req->account_name), lq(rcptto), pos);
	return done(call);
}

/* Append s to out with the characters special in the rules' regular
 * expressions (POSIX extended) escaped. */
static void
re_quote(struct buf *out, const char *s)
{
	for (; *s != '\0'; s++) {
		if (strchr("\\.+*?()|[]{}^$", *s) != NULL)
			buf_putc(out, '\\');
		buf_putc(out, *s);
	}
}

/* Whether a "never" answer of the account matches (sql with $1 the
 * account and the params after it). Returns 1, 0 or -1. */
static int
never_exists(struct web_call *call, const char *sql, int n, const char *const *params)
{
	PGresult *res = wm_query(call, "looking up earlier answers", sql, n, params);
	int rc;

	if (res == NULL)
		return -1;
	rc = PQntuples(res) > 0;
	PQclear(res);
	return rc;
}

/* What a suggestion is made of (strings in the request arena). */
struct suggest {
	const char *rcptto;	/* "lp@domain" the message came to */
	const char *msgfrom;	/* "lp@domain" of From, "" none */
	const char *file;
	char *doms;		/* verified domains (DKIM, SPF), space-separated */
	const char *lp, *dom;	/* the explicit address of the account, or NULL */
	const char *defmb;	/* its delivery mailbox (Inbox without one) */
	struct buf listid;	/* of the only List-Id field, "" none */
	size_t nlistid;		/* List-Id fields */
};

/* Load the message's facts. Returns 1, 0 (not delivered to an address:
 * no suggestion) or -1 after an error. */
static int
suggest_load(struct web_call *call, int64_t msg_id, struct suggest *sg)
{
	const char *acct = db_i64(call->req->account_id);
	PGresult *res;
	struct buf b;

	res = wm_query(call, "looking up message",
		"SELECT rcptto_localpart, rcptto_domain, msgfrom_localpart, msgfrom_domain, file_path,"
		" array_to_string(dkim_domains || CASE WHEN mailfrom_validated THEN mailfrom_domain"
		"  ELSE NULL END, ' ')"
		" FROM messages WHERE account_id = $1 AND id = $2",
		2, (const char *[]){ acct, db_i64(msg_id) });
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return web_call_error(call, "user:notFound", "message not found");
	}
	if (PQgetvalue(res, 0, 0)[0] == '\0' && PQgetvalue(res, 0, 1)[0] == '\0') {
		PQclear(res);
		return 0;
	}
	buf_init(&b);
	buf_printf(&b, "%s@%s", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
	sg->rcptto = web_strdup(call->req, b.data);
	buf_reset(&b);
	if (PQgetvalue(res, 0, 2)[0] != '\0' || PQgetvalue(res, 0, 3)[0] != '\0')
		buf_printf(&b, "%s@%s", PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3));
	sg->msgfrom = web_strdup(call->req, b.data != NULL ? b.data : "");
	buf_free(&b);
	sg->file = web_strdup(call->req, PQgetvalue(res, 0, 4));
	sg->doms = web_strdup(call->req, PQgetvalue(res, 0, 5));
	PQclear(res);

	sg->defmb = "Inbox";
	res = wm_query(call, "looking up address",
		"SELECT ad.localpart, d.name, ad.mailbox FROM addresses ad"
		" JOIN domains d ON d.id = ad.domain_id"
		" WHERE ad.account_id = $1 AND ad.localpart || '@' || d.name = $2",
		2, (const char *[]){ acct, sg->rcptto });
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 1) {
		sg->lp = web_strdup(call->req, PQgetvalue(res, 0, 0));
		sg->dom = web_strdup(call->req, PQgetvalue(res, 0, 1));
		if (PQgetvalue(res, 0, 2)[0] != '\0')
			sg->defmb = web_strdup(call->req, PQgetvalue(res, 0, 2));
	}
	PQclear(res);
	return 1;
}

/* Count the message's List-Id fields, keeping the list id of the last. */
static int
suggest_list_id(struct web_call *call, int64_t msg_id, struct suggest *sg)
{
	struct store *st = web_env_store(call->req->env);
	struct mail_header_iter it;
	const char *name, *value, *error;
	size_t namelen, valuelen;
	struct buf raw;

	buf_init(&raw);
	if (store_msg_read(st, msg_id, sg->file, &raw, &error) < 0) {
		buf_free(&raw);
		return web_call_server_error(call, "reading message", error);
	}
	mail_header_iter_init(&it, raw.data, mime_header_end(raw.data, raw.len));
	while (mail_header_next(&it, &name, &namelen, &value, &valuelen)) {
		struct buf v;

		if (namelen != 7 || !ms_strncaseeq(name, "list-id", 7))
			continue;
		sg->nlistid++;
		buf_init(&v);
		mail_header_unfold(&v, value, valuelen);
		buf_reset(&sg->listid);
		if (!mail_list_id_parse(v.data, v.len, &sg->listid))
			buf_reset(&sg->listid);
		buf_free(&v);
	}
	buf_free(&raw);
	return 0;
}

/* The shortest verified domain that is the list id's domain or a parent
 * of it (a signature of the whole domain rather than one host's SPF),
 * or NULL. Only then is a list ruleset suggested: anyone could add the
 * list's header to get its treatment. */
static const char *
suggest_list_domain(struct suggest *sg)
{
	const char *id = sg->listid.data, *best = NULL;
	size_t idlen = sg->listid.len;
	char *d, *next;

	for (d = sg->doms; d != NULL; d = next) {
		size_t dl;

		next = strchr(d, ' ');
		if (next != NULL)
			*next++ = '\0';
		dl = strlen(d);
		if (dl == 0 || (best != NULL && dl >= strlen(best)))
			continue;
		if (strcmp(id, d) == 0 ||
		    (idlen > dl + 1 && id[idlen - dl - 1] == '.' && strcmp(id + idlen - dl, d) == 0))
			best = d;
	}
	return best;
}

static struct json_object *
ruleset_json(const struct store_ruleset *rs)
{
	struct json_object *o = json_object_new_object(), *h = json_object_new_object();
	size_t i;

	json_object_object_add(o, "smtpMailFromRegexp", json_object_new_string(rs->smtp_mailfrom_regexp));
	json_object_object_add(o, "msgFromRegexp", json_object_new_string(rs->msg_from_regexp));
	json_object_object_add(o, "verifiedDomain", json_object_new_string(rs->verified_domain));
	for (i = 0; i < rs->nheaders; i++)
		json_object_object_add(h, rs->headers[i].field,
			json_object_new_string(rs->headers[i].value));
	json_object_object_add(o, "headersRegexp", h);
	json_object_object_add(o, "isForward", json_object_new_boolean(rs->is_forward));
	json_object_object_add(o, "listAllowDomain", json_object_new_string(rs->list_allow_domain));
	json_object_object_add(o, "acceptRejectsToMailbox",
		json_object_new_string(rs->accept_rejects_to_mailbox));
	json_object_object_add(o, "mailbox", json_object_new_string(rs->mailbox));
	json_object_object_add(o, "comment", json_object_new_string(rs->comment));
	return o;
}

/* The suggested ruleset for a move of the message to mailbox dst_name:
 * for a mailing list (verified) or the From address. Returns 1 with nrs
 * filled, 0 for no suggestion, -1 after an error. */
static int
suggest_ruleset(struct web_call *call, struct suggest *sg, const char *dst_name,
	struct store_ruleset *nrs)
{
	const char *acct = db_i64(call->req->account_id);
	const char *to_inbox = strcmp(dst_name, "Inbox") == 0 ? "true" : "false";
	const char *dom;
	struct buf re;
	int rc;

	if (sg->nlistid > 0) {
		if (sg->nlistid != 1 || sg->listid.len == 0)
			return 0;
		rc = never_exists(call, "SELECT 1 FROM webmail_ruleset_never WHERE account_id = $1"
			" AND rcptto_address = $2 AND list_id = $3 AND to_inbox = $4",
			4, (const char *[]){ acct, sg->rcptto, sg->listid.data, to_inbox });
		if (rc != 0 || (dom = suggest_list_domain(sg)) == NULL)
			return rc < 0 ? -1 : 0;
		buf_init(&re);
		re_quote(&re, "<");
		re_quote(&re, sg->listid.data);
		re_quote(&re, ">");
		buf_putc(&re, '$');
		nrs->headers = xcalloc(1, sizeof(*nrs->headers));
		nrs->headers[0].field = xstrdup("^list-id$");
		nrs->headers[0].value = buf_steal(&re);
		nrs->nheaders = 1;
		nrs->list_allow_domain = xstrdup(dom);
		nrs->msg_from_regexp = xstrdup("");
	} else {
		if (sg->msgfrom[0] == '\0')
			return 0;
		rc = never_exists(call, "SELECT 1 FROM webmail_ruleset_never WHERE account_id = $1"
			" AND rcptto_address = $2 AND msgfrom_address = $3 AND to_inbox = $4",
			4, (const char *[]){ acct, sg->rcptto, sg->msgfrom, to_inbox });
		if (rc != 0)
			return rc < 0 ? -1 : 0;
		buf_init(&re);
		buf_putc(&re, '^');
		re_quote(&re, sg->msgfrom);
		buf_putc(&re, '$');
		nrs->msg_from_regexp = buf_steal(&re);
		nrs->list_allow_domain = xstrdup("");
	}
	buf_free(&re);
	nrs->smtp_mailfrom_regexp = xstrdup("");
	nrs->verified_domain = xstrdup("");
	nrs->accept_rejects_to_mailbox = xstrdup("");
	nrs->mailbox = xstrdup(dst_name);
	{
		time_t now = time(NULL);
		struct tm tm;
		char date[16];

		gmtime_r(&now, &tm);
		if (strftime(date, sizeof(date), "%Y-%m-%d", &tm) == 0)
			date[0] = '\0';
		buf_init(&re);
		buf_printf(&re, "by webmail on %s", date);
		nrs->comment = buf_steal(&re);
		buf_free(&re);
	}
	return 1;
}

int
wm_ruleset_suggest_move(struct web_call *call)
{
	struct store *st = web_env_store(call->req->env);
	int64_t msg_id = web_call_int(call, 0), src = web_call_int(call, 1), dst = web_call_int(call, 2);
	const char *src_name, *dst_name, *error;
	struct store_ruleset *have = NULL, nrs;
	struct json_object *o;
	struct suggest sg;
	size_t nhave = 0, i;
	bool is_remove, exists = false;
	int rc;

	if (mailbox_load(call, src, &src_name, NULL) < 0 || mailbox_load(call, dst, &dst_name, NULL) < 0)
		return -1;
	call->result = NULL;
	memset(&sg, 0, sizeof(sg));
	memset(&nrs, 0, sizeof(nrs));
	buf_init(&sg.listid);
	rc = suggest_load(call, msg_id, &sg);
	if (rc <= 0)
		goto out;
	/* Only moves into or out of the address's delivery mailbox, unless
	 * the user said "never" for one of the mailboxes. */
	rc = 0;
	if (strcmp(src_name, sg.defmb) != 0 && strcmp(dst_name, sg.defmb) != 0)
		goto out;
	rc = never_exists(call, "SELECT 1 FROM webmail_ruleset_never WHERE account_id = $1"
		" AND ((mailbox_id = $2 AND NOT to_inbox) OR (mailbox_id = $3 AND to_inbox))",
		3, (const char *[]){ db_i64(call->req->account_id), db_i64(src), db_i64(dst) });
	if (rc != 0)
		goto out;
	if ((rc = suggest_list_id(call, msg_id, &sg)) < 0 ||
	    (rc = suggest_ruleset(call, &sg, dst_name, &nrs)) <= 0)
		goto out;
	/* Suggest adding a ruleset that is not there, or, for a move back
	 * into the delivery mailbox, removing one that is. A ruleset with
	 * the same From, header and list-allow conditions counts, whatever
	 * its mailbox (as the reference). */
	rc = -1;
	if (sg.lp != NULL && store_ruleset_list(st, sg.lp, sg.dom, &have, &nhave, &error) < 0) {
		web_call_server_error(call, "listing rulesets", error);
		goto out;
	}
	for (i = 0; i < nhave && !exists; i++) {
		struct store_ruleset x = nrs;

		x.msg_from_regexp = have[i].msg_from_regexp;
		x.headers = have[i].headers;
		x.nheaders = have[i].nheaders;
		x.list_allow_domain = have[i].list_allow_domain;
		exists = ruleset_equal(&x, &nrs);
	}
	is_remove = strcmp(dst_name, sg.defmb) == 0;
	rc = 0;
	if (is_remove != exists)
		goto out;
	if (is_remove) {
		free(nrs.mailbox);
		nrs.mailbox = xstrdup(src_name);
	}
	o = json_object_new_object();
	json_object_object_add(o, "listID", json_object_new_string(sg.nlistid > 0 ? sg.listid.data : ""));
	json_object_object_add(o, "msgFrom", json_object_new_string(sg.nlistid > 0 ? "" : sg.msgfrom));
	json_object_object_add(o, "rcptTo", json_object_new_string(sg.rcptto));
	json_object_object_add(o, "toMailbox", json_object_new_string(dst_name));
	json_object_object_add(o, "ruleset", ruleset_json(&nrs));
	json_object_object_add(o, "alreadyExists", json_object_new_boolean(exists));
	call->result = o;
out:
	store_rulesets_free(have, nhave);
	store_ruleset_free(&nrs);
	buf_free(&sg.listid);
	return rc < 0 ? -1 : 0;
}
