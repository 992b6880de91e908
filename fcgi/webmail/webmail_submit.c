/* Webmail: sending and drafts (webmail_private.h, webmail_submit.c
 * section). MessageSubmit hands the message to lib/submit's submit_send,
 * so it is checked, composed, signed, delivered and queued exactly as the
 * webapi's Send; a reply then sets \Answered and a forward $Forwarded on
 * the original message, as the reference does. MessageCompose stores a
 * draft in the Drafts mailbox. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "core/conf.h"
#include "core/log.h"
#include "core/util.h"
#include "db/db.h"
#include "mail/addr.h"
#include "mail/compose.h"
#include "mail/header.h"
#include "mail/mime.h"
#include "mailauth/mtasts.h"
#include "net/dns.h"
#include "store/store.h"
#include "submit/submit.h"
#include "webmail/webmail_private.h"

#define WM_MAX_ADDRS 1000
#define WM_MAX_FILES 100

/* The message of MessageSubmit/MessageCompose, its strings owned by the
 * request's JSON. */
struct wm_msg {
	struct submit_addr from;
	struct submit_addr *to, *cc, *bcc, reply_to;
	size_t nto, ncc, nbcc, nreply_to;
	const char *subject, *text;
	struct mail_compose_file *files;
	size_t nfiles;
	bool is_forward;
	int64_t response_id, draft_id, future_release;
	int require_tls;	/* -1 null, 0 false, 1 true */
	struct json_object *fwd;	/* forwardAttachments, NULL for none */
	char **strs;		/* formatted addresses */
	size_t nstrs;
};

static void
wm_msg_free(struct wm_msg *m)
{
	size_t i;

	for (i = 0; i < m->nfiles; i++)
		buf_free(&m->files[i].data);
	free(m->files);
	free(m->to);
	free(m->cc);
	free(m->bcc);
	for (i = 0; i < m->nstrs; i++)
		free(m->strs[i]);
	free(m->strs);
	memset(m, 0, sizeof(*m));
}

/* Member name of o: a string (or absent/null: ""). -1 with user:error for
 * any other type. */
static int
get_str(struct web_call *call, struct json_object *o, const char *name, const char **s_r)
{
	struct json_object *v;

	*s_r = "";
	if (!json_object_object_get_ex(o, name, &v) || v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return web_call_error(call, "user:error", "%s must be a string", name);
	*s_r = json_object_get_string(v);
	if (strlen(*s_r) != (size_t)json_object_get_string_len(v))
		return web_call_error(call, "user:error", "%s contains a NUL byte", name);
	return 0;
}

static int
get_int(struct web_call *call, struct json_object *o, const char *name, int64_t *v_r)
{
	struct json_object *v;

	*v_r = 0;
	if (!json_object_object_get_ex(o, name, &v) || v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return web_call_error(call, "user:error", "%s must be an integer", name);
	*v_r = json_object_get_int64(v);
	return 0;
}

static char *
keep(struct wm_msg *m, char *s)
{
	m->strs = xrealloc(m->strs, (m->nstrs + 1) * sizeof(*m->strs));
	m->strs[m->nstrs++] = s;
	return s;
}

/* A media type "type/subtype[; params]", printable ASCII. */
static bool
content_type_ok(const char *s)
{
	const char *slash = strchr(s, '/'), *p;

	if (slash == NULL || slash == s || slash[1] == '\0' || strlen(s) > 200)
		return false;
	for (p = s; *p != '\0'; p++)
		if (*p < 32 || *p > 126)
			return false;
	return true;
}

/* One address as the compose form has it (mail_compose_parse_name_addr). */
static int
parse_addr(struct web_call *call, struct wm_msg *m, const char *field, const char *s,
	struct submit_addr *out)
{
	struct buf name, addr;
	const char *error;

	buf_init(&name);
	buf_init(&addr);
	if (mail_compose_parse_name_addr(s, &name, &addr, &error) < 0) {
		buf_free(&name);
		buf_free(&addr);
		return web_call_error(call, "user:error", "bad address in %s: \"%s\": %s", field,
			mail_compose_has_ctl(s) ? "?" : s, error);
	}
	out->address = keep(m, buf_steal(&addr));
	out->name = keep(m, buf_steal(&name));
	/* buf_steal leaves the buffers initialized (allocated). */
	buf_free(&name);
	buf_free(&addr);
	return 0;
}

static int
parse_addr_list(struct web_call *call, struct wm_msg *m, struct json_object *o,
	const char *field, struct submit_addr **v_r, size_t *n_r)
{
	struct json_object *arr;
	size_t i, n;

	*v_r = NULL;
	*n_r = 0;
	if (!json_object_object_get_ex(o, field, &arr) || arr == NULL)
		return 0;
	if (!json_object_is_type(arr, json_type_array))
		return web_call_error(call, "user:error", "%s must be a list of addresses", field);
	n = json_object_array_length(arr);
	if (n > WM_MAX_ADDRS)
		return web_call_error(call, "user:error", "too many addresses in %s", field);
	*v_r = xcalloc(n + 1, sizeof(**v_r));
	for (i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);

		if (!json_object_is_type(e, json_type_string))
			return web_call_error(call, "user:error", "%s must be a list of strings",
				field);
		if (parse_addr(call, m, field, json_object_get_string(e), &(*v_r)[i]) < 0)
			return -1;
		*n_r = i + 1;
	}
	return 0;
}

/* forwardAttachments {messageID, paths [[int]]}: parts of the account's
 * message, each path indexes from the root through multipart children
 * (an attached message's parts after it), added to m's files decoded,
 * with their file names and content types. */
static int
forward_files(struct web_call *call, struct wm_msg *m)
{
	struct json_object *paths, *idv;
	struct mime_part *root = NULL;
	struct buf msg;
	const char *p[2], *error;
	PGresult *res;
	char a[32], b[32], *path;
	size_t i, n, k;
	int64_t id;
	int rc = -1;

	if (m->fwd == NULL || !json_object_object_get_ex(m->fwd, "paths", &paths) ||
	    paths == NULL)
		return 0;
	if (!json_object_is_type(paths, json_type_array))
		return web_call_error(call, "user:error", "forwardAttachments.paths must be a list");
	n = json_object_array_length(paths);
	if (n == 0)
		return 0;
	if (n + m->nfiles > WM_MAX_FILES)
		return web_call_error(call, "user:error", "too many attachments");
	if (!json_object_object_get_ex(m->fwd, "messageID", &idv) ||
	    !json_object_is_type(idv, json_type_int))
		return web_call_error(call, "user:error", "forwardAttachments.messageID must be an "
			"integer");
	id = json_object_get_int64(idv);
	snprintf(a, sizeof(a), "%lld", (long long)call->req->account_id);
	snprintf(b, sizeof(b), "%lld", (long long)id);
	p[0] = a;
	p[1] = b;
	res = wm_query(call, "reading message", "SELECT file_path FROM messages"
		" WHERE account_id = $1 AND id = $2", 2, p);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return web_call_error(call, "user:notFound", "no such message %lld", (long long)id);
	}
	path = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	buf_init(&msg);
	if (store_msg_read(web_env_store(call->req->env), id, path, &msg, &error) < 0) {
		web_call_server_error(call, "reading message to forward", error);
		goto out;
	}
	root = mime_parse(msg.data, msg.len);
	m->files = xrealloc(m->files, (m->nfiles + n + 1) * sizeof(*m->files));
	for (i = 0; i < n; i++) {
		struct json_object *pa = json_object_array_get_idx(paths, i);
		const struct mime_part *pt = root;
		struct mail_compose_file *f = &m->files[m->nfiles];
		const char *name = "";
		struct buf ct;

		if (!json_object_is_type(pa, json_type_array) || json_object_array_length(pa) == 0 ||
		    json_object_array_length(pa) > 32) {
			web_call_error(call, "user:error", "a forwardAttachments path must be a list "
				"of integers");
			goto out;
		}
		for (k = 0; k < json_object_array_length(pa); k++) {
			struct json_object *x = json_object_array_get_idx(pa, k);
			int64_t ix = json_object_is_type(x, json_type_int) ? json_object_get_int64(x) : -1;

			if (pt->message != NULL && pt->nparts == 0)
				pt = pt->message;
			if (ix < 0 || (size_t)ix >= pt->nparts) {
				web_call_error(call, "user:error", "no part at forwardAttachments path %zu",
					i);
				goto out;
			}
			pt = &pt->parts[ix];
		}
		for (k = 0; k < pt->ndisp_params; k++)
			if (strcmp(pt->disp_params[k].name, "filename") == 0)
				name = pt->disp_params[k].value;
		for (k = 0; name[0] == '\0' && k < pt->nparams; k++)
			if (strcmp(pt->params[k].name, "name") == 0)
				name = pt->params[k].value;
		buf_init(&ct);
		buf_printf(&ct, "%s/%s", pt->type, pt->subtype);
		memset(f, 0, sizeof(*f));
		buf_init(&f->data);
		f->name = mail_compose_has_ctl(name) ? "" : keep(m, xstrdup(name));
		f->content_type = keep(m, buf_steal(&ct));
		buf_free(&ct);
		f->content_id = "";
		m->nfiles++;
		(void)mime_decode_body(pt, msg.data, msg.len, &f->data);
	}
	rc = 0;
out:
	mime_free(&root);
	buf_free(&msg);
	free(path);
	return rc;
}

/* The "m" parameter of MessageSubmit and MessageCompose. */
static int
parse_msg(struct web_call *call, struct json_object *o, struct wm_msg *m)
{
	struct json_object *arr, *v;
	const char *from, *reply_to;
	size_t i, n;

	memset(m, 0, sizeof(*m));
	m->require_tls = -1;
	if (get_str(call, o, "from", &from) < 0 || get_str(call, o, "replyTo", &reply_to) < 0 ||
	    get_str(call, o, "subject", &m->subject) < 0 ||
	    get_str(call, o, "textBody", &m->text) < 0 ||
	    get_int(call, o, "responseMessageID", &m->response_id) < 0 ||
	    get_int(call, o, "draftMessageID", &m->draft_id) < 0 ||
	    get_int(call, o, "futureRelease", &m->future_release) < 0)
		return -1;
	if (from[0] == '\0')
		return web_call_error(call, "user:error", "missing from address");
	if (parse_addr(call, m, "from", from, &m->from) < 0)
		return -1;
	if (reply_to[0] != '\0') {
		if (parse_addr(call, m, "replyTo", reply_to, &m->reply_to) < 0)
			return -1;
		m->nreply_to = 1;
	}
	if (parse_addr_list(call, m, o, "to", &m->to, &m->nto) < 0 ||
	    parse_addr_list(call, m, o, "cc", &m->cc, &m->ncc) < 0 ||
	    parse_addr_list(call, m, o, "bcc", &m->bcc, &m->nbcc) < 0)
		return -1;
	if (json_object_object_get_ex(o, "isForward", &v) && v != NULL) {
		if (!json_object_is_type(v, json_type_boolean))
			return web_call_error(call, "user:error", "isForward must be a boolean");
		m->is_forward = json_object_get_boolean(v);
	}
	if (json_object_object_get_ex(o, "requireTLS", &v) && v != NULL) {
		if (!json_object_is_type(v, json_type_boolean))
			return web_call_error(call, "user:error", "requireTLS must be true, false "
				"or null");
		m->require_tls = json_object_get_boolean(v) ? 1 : 0;
	}
	if (json_object_object_get_ex(o, "forwardAttachments", &v) && v != NULL) {
		if (!json_object_is_type(v, json_type_object))
			return web_call_error(call, "user:error", "forwardAttachments must be an "
				"object");
		m->fwd = v;
	}
	if (!json_object_object_get_ex(o, "attachments", &arr) || arr == NULL)
		return forward_files(call, m);
	if (!json_object_is_type(arr, json_type_array))
		return web_call_error(call, "user:error", "attachments must be a list");
	n = json_object_array_length(arr);
	if (n > WM_MAX_FILES)
		return web_call_error(call, "user:error", "too many attachments (at most %d)",
			WM_MAX_FILES);
	m->files = xcalloc(n + 1, sizeof(*m->files));
	for (i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);
		struct mail_compose_file *f = &m->files[i];
		const char *data;

		buf_init(&f->data);
		m->nfiles = i + 1;
		if (!json_object_is_type(e, json_type_object))
			return web_call_error(call, "user:error", "attachment %zu is not an object", i);
		if (get_str(call, e, "filename", &f->name) < 0 ||
		    get_str(call, e, "contentType", &f->content_type) < 0 ||
		    get_str(call, e, "data", &data) < 0)
			return -1;
		f->content_id = "";
		/* Both become header fields (MessageCompose does not go
		 * through submit_send's checks). */
		if (mail_compose_has_ctl(f->name) || strlen(f->name) > 255 ||
		    (f->content_type[0] != '\0' && !content_type_ok(f->content_type)))
			return web_call_error(call, "user:error", "attachment %zu: bad filename or "
				"contentType", i);
		if (ms_base64_decode(&f->data, data, strlen(data)) < 0)
			return web_call_error(call, "user:error", "attachment %zu: data is not "
				"base64", i);
	}
	return forward_files(call, m);
}

/* Mailbox and UID of the account's message id; 1 found, 0 not, -1 error. */
static int
message_loc(struct web_call *call, int64_t id, int64_t *mailbox_id_r, uint32_t *uid_r)
{
	const char *p[2];
	PGresult *res;
	char a[32], b[32];
	int found;

	snprintf(a, sizeof(a), "%lld", (long long)call->req->account_id);
	snprintf(b, sizeof(b), "%lld", (long long)id);
	p[0] = a;
	p[1] = b;
	res = wm_query(call, "finding message", "SELECT mailbox_id, uid FROM messages"
		" WHERE account_id = $1 AND id = $2", 2, p);
	if (res == NULL)
		return -1;
	found = PQntuples(res) == 1;
	if (found) {
		*mailbox_id_r = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		*uid_r = (uint32_t)strtoul(PQgetvalue(res, 0, 1), NULL, 10);
	}
	PQclear(res);
	return found;
}

/* Add flags/keyword to (op ADD) the account's message; 0 or -1. */
static int
flags_add(struct web_call *call, int64_t id, unsigned flags, const char *keyword)
{
	struct store_flag_change *ch = NULL;
	size_t nch = 0;
	int64_t mb;
	uint32_t uid;
	const char *error;
	int r;

	r = message_loc(call, id, &mb, &uid);
	if (r <= 0)
		return r < 0 ? -1 : web_call_error(call, "user:notFound", "no such message");
	if (store_flags_change(web_env_store(call->req->env), call->req->account_id, mb, &uid, 1,
		    STORE_FLAGS_ADD, flags, keyword != NULL ? &keyword : NULL, keyword != NULL,
		    -1, &ch, &nch, NULL, NULL, &error) < 0)
		return web_call_server_error(call, "changing flags", error);
	store_flag_changes_free(ch, nch);
	return 0;
}

/* Remove the account's message for good (a draft once sent/replaced). */
static int
message_remove(struct web_call *call, int64_t id)
{
	uint32_t *exp = NULL;
	size_t nexp = 0;
	int64_t mb;
	uint32_t uid;
	const char *error;
	int r;

	if (flags_add(call, id, SF_DELETED, NULL) < 0)
		return -1;
	r = message_loc(call, id, &mb, &uid);
	if (r <= 0)
		return r;
	if (store_expunge(web_env_store(call->req->env), call->req->account_id, mb, &uid, 1, &exp,
		    &nexp, &error) < 0)
		return web_call_server_error(call, "removing draft", error);
	free(exp);
	return 0;
}

/* RFC 5322 3.6.4 for a reply or forward of the account's message id:
 * References are the original's References (msg-ids, the last 20) and
 * its Message-ID; the last one becomes In-Reply-To. The strings go into
 * m's list (freed with it); *refs_r is malloc'd. Returns 0 or -1. */
static int
original_refs(struct web_call *call, struct wm_msg *m, int64_t id, const char ***refs_r,
	size_t *n_r)
{
	struct store *st = web_env_store(call->req->env);
	struct buf msg, refs, mid;
	const char *p[2], *error, **v = NULL;
	PGresult *res;
	char a[32], b[32], *path, **v2 = NULL;
	size_t n = 0, hend, i;
	int rc = -1;

	*refs_r = NULL;
	*n_r = 0;
	snprintf(a, sizeof(a), "%lld", (long long)call->req->account_id);
	snprintf(b, sizeof(b), "%lld", (long long)id);
	p[0] = a;
	p[1] = b;
	res = wm_query(call, "reading message", "SELECT file_path FROM messages"
		" WHERE account_id = $1 AND id = $2", 2, p);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return web_call_error(call, "user:notFound", "no such message %lld", (long long)id);
	}
	path = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	buf_init(&msg);
	buf_init(&refs);
	buf_init(&mid);
	if (store_msg_read(st, id, path, &msg, &error) < 0) {
		web_call_server_error(call, "reading original message", error);
		goto out;
	}
	hend = mime_header_end(msg.data, msg.len);
	(void)mail_header_get(msg.data, hend, "References", &refs);
	(void)mail_header_get(msg.data, hend, "Message-ID", &mid);
	buf_putc(&refs, '\0');
	buf_putc(&mid, '\0');
	n = mail_compose_reply_refs(refs.data, mid.data, 21, &v2);
	v = xcalloc(n + 1, sizeof(*v));
	for (i = 0; i < n; i++)
		v[i] = keep(m, v2[i]);
	free(v2);
	*refs_r = v;
	*n_r = n;
	v = NULL;
	rc = 0;
out:
	free(v);
	free(path);
	buf_free(&msg);
	buf_free(&refs);
	buf_free(&mid);
	return rc;
}

/* The submit_err of submit_send as the webmail's codes: "server" stays a
 * server error (logged already), everything else is the user's. */
static int
map_err(struct web_call *call, const struct submit_err *e)
{
	if (strcmp(e->code, "server") == 0)
		return web_call_error(call, "server:error", "%s", e->msg.data);
	return web_call_error(call, "user:error", "%s", e->msg.data);
}

int
wm_message_submit(struct web_call *call)
{
	struct json_object *o = call->params[0];
	struct submit_result res;
	struct submit_err err;
	struct submit_msg sm;
	struct wm_msg m;
	const char **refs = NULL;
	int rc = -1;

	submit_err_init(&err);
	memset(&res, 0, sizeof(res));
	if (parse_msg(call, o, &m) < 0)
		goto out;
	memset(&sm, 0, sizeof(sm));
	sm.account_id = call->req->account_id;
	sm.account_name = call->req->account_name;
	sm.login_address = call->req->login_address;
	sm.remote_ip = call->req->remote_ip;
	sm.app = "webmail";
	sm.from = &m.from;
	sm.nfrom = 1;
	sm.to = m.to;
	sm.nto = m.nto;
	sm.cc = m.cc;
	sm.ncc = m.ncc;
	sm.bcc = m.bcc;
	sm.nbcc = m.nbcc;
	sm.reply_to = &m.reply_to;
	sm.nreply_to = m.nreply_to;
	sm.subject = m.subject;
	sm.text = m.text[0] != '\0' ? m.text : "\n";
	sm.html = "";
	sm.attached_files = m.files;
	sm.nattached = m.nfiles;
	sm.require_tls = m.require_tls < 0 ? SUBMIT_TLS_DEFAULT : m.require_tls ?
		SUBMIT_TLS_REQUIRED : SUBMIT_TLS_NOT_REQUIRED;
	if (m.future_release > 0) {
		sm.has_future_release = true;
		sm.future_release = m.future_release;
	}
	sm.save_sent = true;
	if (m.response_id > 0) {
		/* RFC 5322 3.6.4: In-Reply-To and References name the
		 * original. */
		if (original_refs(call, &m, m.response_id, &refs, &sm.nreferences) < 0)
			goto out;
		sm.references = refs;
	}
	if (submit_send(web_env_store(call->req->env), web_env_conf(call->req->env),
		    call->req->cid, &sm, &res, &err) < 0) {
		map_err(call, &err);
		goto out;
	}
	if (m.response_id > 0 &&
	    flags_add(call, m.response_id, m.is_forward ? 0 : SF_ANSWERED,
		    m.is_forward ? "$forwarded" : NULL) < 0)
		goto out;
	if (m.draft_id > 0 && message_remove(call, m.draft_id) < 0)
		goto out;
	call->result = NULL;
	rc = 0;
out:
	free(refs);
	submit_result_free(&res);
	submit_err_free(&err);
	wm_msg_free(&m);
	return rc;
}

/* The account's mailbox with special use (e.g. "drafts"), NULL if none
 * (caller frees); *error_r set on a database error. */
static char *
special_mailbox(struct web_call *call, const char *use, const char **error_r)
{
	struct store_mailbox *mbs;
	char *name = NULL;
	size_t n, i;

	*error_r = NULL;
	if (store_mailbox_list(web_env_store(call->req->env), call->req->account_id, &mbs, &n,
		    error_r) < 0)
		return NULL;
	for (i = 0; i < n; i++)
		if (mbs[i].special_use != NULL && ms_strcaseeq(mbs[i].special_use, use)) {
			name = xstrdup(mbs[i].name);
			break;
		}
	store_mailboxes_free(mbs, n);
	return name;
}

int
wm_message_compose(struct web_call *call)
{
	struct json_object *o = call->params[0];
	int64_t draft_id = json_object_get_int64(call->params[1]);
	struct mail_compose_addr from, *to = NULL, *cc = NULL, rt;
	struct mail_compose_msg cm;
	struct store_append_result ar;
	struct store_append_msg am;
	struct store *st = web_env_store(call->req->env);
	struct wm_msg m;
	struct buf msg, msgid;
	const char *error, *p[3];
	char *mb = NULL, *path = NULL, a[32], b[32], c[32];
	int64_t replace_mb = 0;
	uint32_t replace_uid = 0;
	PGresult *res;
	size_t i;
	int fd, r, rc = -1;

	buf_init(&msg);
	buf_init(&msgid);
	memset(&ar, 0, sizeof(ar));
	if (parse_msg(call, o, &m) < 0)
		goto out;
	if (mail_compose_has_ctl(m.subject)) {
		web_call_error(call, "user:error", "control characters in subject");
		goto out;
	}
	mb = special_mailbox(call, "drafts", &error);
	if (mb == NULL) {
		if (error != NULL)
			web_call_server_error(call, "finding Drafts mailbox", error);
		else
			web_call_error(call, "user:error", "no Drafts mailbox");
		goto out;
	}
	if (draft_id > 0) {
		r = message_loc(call, draft_id, &replace_mb, &replace_uid);
		if (r < 0)
			goto out;
		if (r == 0) {
			web_call_error(call, "user:notFound", "no such draft message");
			goto out;
		}
	}
	from.name = m.from.name;
	from.addr = m.from.address;
	to = xcalloc(m.nto + 1, sizeof(*to));
	for (i = 0; i < m.nto; i++) {
		to[i].name = m.to[i].name;
		to[i].addr = m.to[i].address;
	}
	cc = xcalloc(m.ncc + 1, sizeof(*cc));
	for (i = 0; i < m.ncc; i++) {
		cc[i].name = m.cc[i].name;
		cc[i].addr = m.cc[i].address;
	}
	rt.name = m.reply_to.name;
	rt.addr = m.reply_to.address;
	buf_putc(&msgid, '<');
	ms_random_token(&msgid, 16);
	buf_printf(&msgid, "@%s>", web_env_conf(call->req->env)->general.hostname);
	memset(&cm, 0, sizeof(cm));
	cm.from = from;
	cm.to = to;
	cm.nto = m.nto;
	cm.cc = cc;
	cm.ncc = m.ncc;
	cm.reply_to = &rt;
	cm.nreply_to = m.nreply_to;
	cm.subject = m.subject;
	cm.date = time(NULL);
	cm.message_id = msgid.data;
	cm.text = m.text[0] != '\0' ? m.text : "\n";
	cm.html = "";
	cm.attached_files = m.files;
	cm.nattached = m.nfiles;
	cm.smtputf8 = true;
	mail_compose(&msg, &cm);
	/* Bcc is kept in the draft, as in the reference. */
	if (m.nbcc > 0) {
		struct buf h;

		buf_init(&h);
		buf_puts(&h, "Bcc: ");
		for (i = 0; i < m.nbcc; i++)
			buf_printf(&h, "%s<%s>", i > 0 ? ",\r\n\t" : "", m.bcc[i].address);
		buf_puts(&h, "\r\n");
		buf_append(&h, msg.data, msg.len);
		buf_free(&msg);
		msg = h;
	}
	fd = store_tmpfile(st, &path, &error);
	if (fd < 0) {
		web_call_server_error(call, "creating temporary file", error);
		goto out;
	}
	if (ms_write_all(fd, msg.data, msg.len) < 0 || fsync(fd) < 0) {
		close(fd);
		web_call_server_error(call, "writing draft", "write or fsync failed");
		goto out;
	}
	close(fd);
	memset(&am, 0, sizeof(am));
	am.path = path;
	am.flags = SF_DRAFT | SF_SEEN;
	r = store_append(st, call->req->account_id, mb, &am, 1, replace_mb, replace_uid, &ar,
		&error);
	if (r == STORE_OVER_QUOTA) {
		web_call_error(call, "user:error", "over quota, draft not saved");
		goto out;
	}
	if (r == STORE_GONE) {
		web_call_error(call, "user:notFound", "draft to replace no longer exists");
		goto out;
	}
	if (r != 0) {
		web_call_server_error(call, "saving draft", error);
		goto out;
	}
	snprintf(a, sizeof(a), "%lld", (long long)call->req->account_id);
	snprintf(b, sizeof(b), "%lld", (long long)ar.mailbox_id);
	snprintf(c, sizeof(c), "%u", am.uid);
	p[0] = a;
	p[1] = b;
	p[2] = c;
	res = wm_query(call, "reading draft id", "SELECT id FROM messages WHERE account_id = $1"
		" AND mailbox_id = $2 AND uid = $3", 3, p);
	if (res == NULL)
		goto out;
	call->result = json_object_new_int64(PQntuples(res) == 1 ?
		strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0);
	PQclear(res);
	rc = 0;
out:
	if (path != NULL) {
		(void)unlink(path);
		free(path);
	}
	free(mb);
	free(to);
	free(cc);
	buf_free(&msg);
	buf_free(&msgid);
	wm_msg_free(&m);
	return rc;
}

int
wm_message_find_message_id(struct web_call *call)
{
	const char *s = web_call_str(call, 0), *p[2];
	size_t n = strlen(s);
	struct buf id;
	PGresult *res;
	char a[32];

	/* Stored without <>, lower case (sql/001 messages.message_id). */
	if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
		s++;
		n -= 2;
	}
	if (n == 0 || n > 1000) {
		call->result = json_object_new_int64(0);
		return 0;
	}
	buf_init(&id);
	buf_append(&id, s, n);
	snprintf(a, sizeof(a), "%lld", (long long)call->req->account_id);
	p[0] = a;
	p[1] = id.data;
	res = wm_query(call, "finding message", "SELECT id FROM messages WHERE account_id = $1"
		" AND message_id = lower($2) ORDER BY id DESC LIMIT 1", 2, p);
	buf_free(&id);
	if (res == NULL)
		return -1;
	call->result = json_object_new_int64(PQntuples(res) == 1 ?
		strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0);
	PQclear(res);
	return 0;
}

int
wm_decode_mime_words(struct web_call *call)
{
	const char *s = web_call_str(call, 0);
	struct buf out;

	buf_init(&out);
	mail_header_decode_words(&out, s, strlen(s));
	call->result = json_object_new_string_len(out.data != NULL ? out.data : "",
		(int)out.len);
	buf_free(&out);
	return 0;
}

int
wm_from_address_settings_save(struct web_call *call)
{
	struct json_object *o = call->params[0];
	const char *addr, *mode, *p[3];
	struct mail_addr pa;
	struct buf f;
	char a[32];
	int r;

	if (get_str(call, o, "fromAddress", &addr) < 0 || get_str(call, o, "viewMode", &mode) < 0)
		return -1;
	if (strcmp(mode, "text") != 0 && strcmp(mode, "html") != 0 &&
	    strcmp(mode, "htmlexternal") != 0)
		return web_call_error(call, "user:error", "viewMode must be text, html or "
			"htmlexternal");
	if (mail_addr_parse_mailbox(addr, strlen(addr), true, &pa, &p[0]) < 0)
		return web_call_error(call, "user:error", "bad fromAddress: %s", p[0]);
	/* lp@domain with the domain in lower case (sql/018). */
	buf_init(&f);
	buf_printf(&f, "%s@%s", pa.localpart, pa.domain);
	mail_addr_free(&pa);
	snprintf(a, sizeof(a), "%lld", (long long)call->req->account_id);
	p[0] = a;
	p[1] = f.data;
	p[2] = mode;
	r = wm_cmd(call, "saving from-address setting",
		"INSERT INTO webmail_from_address_settings (account_id, from_address, view_mode)"
		" VALUES ($1, $2, $3) ON CONFLICT (account_id, from_address)"
		" DO UPDATE SET view_mode = EXCLUDED.view_mode", 3, p);
	buf_free(&f);
	if (r < 0)
		return -1;
	call->result = NULL;
	return 0;
}

/* CompleteRecipient: addresses in the From, To, Cc and Bcc of the
 * account's messages (received from, sent to: the Sent copies) and its
 * own, whose address or display name starts with search (case-
 * insensitive), most recently seen first, at most 20; complete is false
 * when there were more. */
int
wm_complete_recipient(struct web_call *call)
{
	const char *search = web_call_str(call, 0), *p[2];
	struct json_object *list;
	PGresult *res;
	char a[32];
	int i, n;

	if (strlen(search) > 500)
		return web_call_error(call, "user:error", "search too long");
	snprintf(a, sizeof(a), "%lld", (long long)call->req->account_id);
	p[0] = a;
	p[1] = search;
	res = wm_query(call, "completing recipient",
		"WITH seen AS ("
		" SELECT e->>1 || '@' || (e->>2) AS addr, e->>0 AS name, m.id AS last"
		" FROM messages m, jsonb_array_elements("
		"  coalesce(m.parsed->'E'->'f', '[]') || coalesce(m.parsed->'E'->'t', '[]') ||"
		"  coalesce(m.parsed->'E'->'c', '[]') || coalesce(m.parsed->'E'->'b', '[]')) e"
		" WHERE m.account_id = $1 AND jsonb_typeof(e) = 'array'"
		"  AND coalesce(e->>1, '') <> '' AND coalesce(e->>2, '') <> ''"
		" UNION ALL"
		" SELECT ad.localpart || '@' || d.name, ad.full_name, 0"
		" FROM addresses ad JOIN domains d ON d.id = ad.domain_id WHERE ad.account_id = $1),"
		" matched AS ("
		" SELECT DISTINCT ON (lower(addr)) addr, name, last FROM seen"
		" WHERE left(lower(addr), length($2)) = lower($2)"
		"  OR left(lower(name), length($2)) = lower($2)"
		" ORDER BY lower(addr), last DESC)"
		" SELECT addr, name FROM matched ORDER BY last DESC, addr LIMIT 21", 2, p);
	if (res == NULL)
		return -1;
	n = PQntuples(res);
	list = json_object_new_array();
	for (i = 0; i < n && i < 20; i++) {
		const char *addr = PQgetvalue(res, i, 0), *name = PQgetvalue(res, i, 1);
		struct buf f;
		const char *q;

		buf_init(&f);
		if (name[0] != '\0' && !mail_compose_has_ctl(name)) {
			/* RFC 5322 quoted-string, so the result parses again. */
			buf_putc(&f, '"');
			for (q = name; *q != '\0'; q++) {
				if (*q == '"' || *q == '\\')
					buf_putc(&f, '\\');
				buf_putc(&f, *q);
			}
			buf_printf(&f, "\" <%s>", addr);
		} else {
			buf_puts(&f, addr);
		}
		json_object_array_add(list, json_object_new_string(f.data));
		buf_free(&f);
	}
	PQclear(res);
	call->result = json_object_new_object();
	json_object_object_add(call->result, "addresses", list);
	json_object_object_add(call->result, "complete", json_object_new_boolean(n <= 20));
	return 0;
}

static const char *
yes_no(int v)
{
	return v < 0 ? "unknown" : v ? "yes" : "no";
}

/* RecipientSecurity: what protects mail to address, as the compose form
 * shows it. dnssec: the MX answer is DNSSEC-signed; dane: and every MX
 * host has TLSA records (RFC 7672), signed; mtaSTS: an enforce-mode
 * policy (RFC 8461); startTLS and requireTLS: what the domain's server
 * announced at this account's last delivery there (recipient_domain_tls).
 * "unknown" when it cannot be told now (DNS error, never delivered). */
int
wm_recipient_security(struct web_call *call)
{
	struct conf *conf = web_env_conf(call->req->env);
	const char *s = web_call_str(call, 0), *error, *p[2];
	int dnssec = -1, dane = -1, mtasts = -1, starttls = -1, requiretls = -1;
	struct mtasts_fetch_options fo;
	struct mtasts_outcome mo;
	struct dns_options dopt;
	struct dns_answer mx;
	struct mail_addr pa;
	struct dns *d;
	PGresult *res;
	char a[32];
	size_t i;

	if (mail_addr_parse_mailbox(s, strlen(s), true, &pa, &error) < 0)
		return web_call_error(call, "user:error", "bad address: %s", error);
	snprintf(a, sizeof(a), "%lld", (long long)call->req->account_id);
	p[0] = a;
	p[1] = pa.domain;
	res = wm_query(call, "reading recipient domain TLS", "SELECT starttls, requiretls"
		" FROM recipient_domain_tls WHERE account_id = $1 AND domain = $2", 2, p);
	if (res == NULL) {
		mail_addr_free(&pa);
		return -1;
	}
	if (PQntuples(res) == 1) {
		starttls = PQgetvalue(res, 0, 0)[0] == 't';
		requiretls = PQgetvalue(res, 0, 1)[0] == 't';
	}
	PQclear(res);

	memset(&dopt, 0, sizeof(dopt));
	dopt.zone_file = conf->dns.zone_file;
	dopt.trust_anchor = conf->dns.trust_anchor[0] ? conf->dns.trust_anchor : NULL;
	dopt.timeout_ms = (int)(conf->dns.timeout * 1000);
	d = dns_new(&dopt, &error);
	if (d == NULL) {
		mail_addr_free(&pa);
		return web_call_server_error(call, "DNS resolver", error);
	}
	memset(&mx, 0, sizeof(mx));
	switch (dns_lookup(d, pa.domain_ascii, DNS_MX, &mx)) {
	case DNS_OK:
	case DNS_NODATA:
	case DNS_NXDOMAIN:
		dnssec = mx.authentic;
		break;
	default:
		break;
	}
	if (dnssec == 0) {
		dane = 0;
	} else if (dnssec == 1) {
		/* Without MX the domain itself is the host (RFC 5321 5.1). */
		size_t nhosts = mx.status == DNS_OK ? mx.n : 1;

		dane = 1;
		for (i = 0; i < nhosts && dane == 1; i++) {
			const char *host = mx.status == DNS_OK ? mx.rr[i].text : pa.domain_ascii;
			struct dns_answer t;
			struct buf name;

			if (host[0] == '\0') {
				dane = 0;	/* null MX: no mail at all */
				break;
			}
			buf_init(&name);
			buf_printf(&name, "_25._tcp.%s", host);
			memset(&t, 0, sizeof(t));
			switch (dns_lookup(d, name.data, DNS_TLSA, &t)) {
			case DNS_OK:
				if (!t.authentic)
					dane = 0;
				break;
			case DNS_NODATA:
			case DNS_NXDOMAIN:
				dane = 0;
				break;
			default:
				dane = -1;
				break;
			}
			dns_answer_free(&t);
			buf_free(&name);
		}
	}
	dns_answer_free(&mx);
	memset(&fo, 0, sizeof(fo));
	fo.ca_file = conf->queue.tls_ca_file;
	fo.port = (unsigned)conf->queue.mtasts_port;
	fo.timeout_ms = 10000;
	fo.dns = d;
	memset(&mo, 0, sizeof(mo));
	if (mtasts_get(web_env_pool(call->req->env), d, &fo, pa.domain_ascii, &mo, &error) == 0)
		mtasts = mo.have_policy && mo.policy.mode == MTASTS_MODE_ENFORCE;
	else
		log_info(call->req->cid, "proto=http app=webmail ev=recipient-security domain=%s "
			"mtasts=unknown err=%s", lq(pa.domain_ascii), lq(error));
	mtasts_outcome_free(&mo);
	dns_free(&d);
	mail_addr_free(&pa);
	call->result = json_object_new_object();
	json_object_object_add(call->result, "startTLS", json_object_new_string(yes_no(starttls)));
	json_object_object_add(call->result, "mtaSTS", json_object_new_string(yes_no(mtasts)));
	json_object_object_add(call->result, "dnssec", json_object_new_string(yes_no(dnssec)));
	json_object_object_add(call->result, "dane", json_object_new_string(yes_no(dane)));
	json_object_object_add(call->result, "requireTLS",
		json_object_new_string(yes_no(requiretls)));
	return 0;
}
