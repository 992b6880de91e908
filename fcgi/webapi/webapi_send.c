/* Webapi Send: the JSON request into a struct submit_msg, lib/submit's
 * submit_send (which checks, composes, signs, delivers and queues exactly
 * as the webmail's MessageSubmit does), and its result or error as the
 * reference's JSON answer (webapisrv/server.go). */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "queue/queue.h"
#include "submit/submit.h"
#include "webapi/webapi.h"

const struct wa_field wa_send_fields[] = {
	{ "From", WA_ADDRS }, { "To", WA_ADDRS }, { "CC", WA_ADDRS }, { "BCC", WA_ADDRS },
	{ "ReplyTo", WA_ADDRS }, { "MessageID", WA_STR }, { "References", WA_STRS },
	{ "Date", WA_TIME }, { "Subject", WA_STR }, { "Text", WA_STR }, { "HTML", WA_STR },
	{ "Extra", WA_STRMAP }, { "Headers", WA_HEADERS }, { "InlineFiles", WA_FILES },
	{ "AttachedFiles", WA_FILES }, { "RequireTLS", WA_BOOL }, { "FutureRelease", WA_TIME },
	{ "SaveSent", WA_BOOL },
};
const size_t wa_send_nfields = MS_NELEM(wa_send_fields);

/* The [{Name, Address}] list of field name (checked by submit_send);
 * free() the array, the strings are the request's. */
static struct submit_addr *
get_addrs(struct json_object *rq, const char *field, size_t *n_r)
{
	struct json_object *arr = wa_array(rq, field);
	size_t i, n = arr != NULL ? json_object_array_length(arr) : 0;
	struct submit_addr *v = xcalloc(n + 1, sizeof(*v));

	for (i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);

		v[i].name = wa_str(e, "Name");
		v[i].address = wa_str(e, "Address");
	}
	*n_r = n;
	return v;
}

static void
files_free(struct mail_compose_file *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		buf_free(&v[i].data);
	free(v);
}

/* The files of field name with their data decoded from base64 (names and
 * types are checked by submit_send). */
static int
get_files(struct wa_call *c, const char *field, struct mail_compose_file **v_r, size_t *n_r)
{
	struct json_object *arr = wa_array(c->request, field);
	size_t i, n = arr != NULL ? json_object_array_length(arr) : 0;
	struct mail_compose_file *v;

	*v_r = NULL;
	*n_r = 0;
	if (n > SUBMIT_MAX_FILES)
		return wa_error(c, "user", "too many files in %s (at most %d)", field,
			SUBMIT_MAX_FILES);
	v = xcalloc(n + 1, sizeof(*v));
	*v_r = v;
	for (i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);
		const char *data = wa_str(e, "Data");
		struct buf clean;
		const char *p;
		int r;

		buf_init(&v[i].data);
		*n_r = i + 1;
		v[i].name = wa_str(e, "Name");
		v[i].content_type = wa_str(e, "ContentType");
		v[i].content_id = wa_str(e, "ContentID");
		/* RFC 4648 base64; line breaks and spaces (as in MIME bodies)
		 * are tolerated. */
		buf_init(&clean);
		for (p = data; *p != '\0'; p++)
			if (*p != '\r' && *p != '\n' && *p != ' ' && *p != '\t')
				buf_putc(&clean, *p);
		r = ms_base64_decode(&v[i].data, clean.data, clean.len);
		buf_free(&clean);
		if (r < 0)
			return wa_error(c, "user", "parsing attachment as base64 (%s %zu)", field, i);
	}
	return 0;
}

int
wa_send(struct wa_call *c)
{
	struct json_object *rq = c->request, *arr, *subs;
	struct submit_addr *from, *to, *cc, *bcc, *reply_to;
	struct mail_compose_file *inl = NULL, *att = NULL;
	const char **refs, *(*hdrs)[2];
	struct submit_result res;
	struct submit_err err;
	struct queue_extra extra;
	struct submit_msg m;
	int64_t t;
	size_t i;
	int rc = -1;

	memset(&m, 0, sizeof(m));
	memset(&extra, 0, sizeof(extra));
	memset(&res, 0, sizeof(res));
	submit_err_init(&err);
	m.account_id = c->req->account_id;
	m.account_name = c->req->account_name;
	m.login_address = c->req->login_address;
	m.remote_ip = c->req->remote_ip;
	m.app = "webapi";
	m.from = from = get_addrs(rq, "From", &m.nfrom);
	m.to = to = get_addrs(rq, "To", &m.nto);
	m.cc = cc = get_addrs(rq, "CC", &m.ncc);
	m.bcc = bcc = get_addrs(rq, "BCC", &m.nbcc);
	m.reply_to = reply_to = get_addrs(rq, "ReplyTo", &m.nreply_to);
	m.subject = wa_str(rq, "Subject");
	m.text = wa_str(rq, "Text");
	m.html = wa_str(rq, "HTML");
	if (wa_has(rq, "MessageID"))
		m.message_id = wa_str(rq, "MessageID");
	arr = wa_array(rq, "References");
	m.nreferences = arr != NULL ? json_object_array_length(arr) : 0;
	refs = xcalloc(m.nreferences + 1, sizeof(*refs));
	for (i = 0; i < m.nreferences; i++)
		refs[i] = json_object_get_string(json_object_array_get_idx(arr, i));
	m.references = refs;
	arr = wa_array(rq, "Headers");
	m.nheaders = arr != NULL ? json_object_array_length(arr) : 0;
	hdrs = xcalloc(m.nheaders + 1, sizeof(*hdrs));
	for (i = 0; i < m.nheaders; i++) {
		struct json_object *kv = json_object_array_get_idx(arr, i);

		hdrs[i][0] = json_object_get_string(json_object_array_get_idx(kv, 0));
		hdrs[i][1] = json_object_get_string(json_object_array_get_idx(kv, 1));
	}
	m.headers = (const char *const (*)[2])hdrs;
	if (wa_has(rq, "Date") && wa_parse_time(wa_str(rq, "Date"), &t) == 0) {
		m.has_date = true;
		m.date = (time_t)t;
	}
	if (wa_has(rq, "FutureRelease") && wa_parse_time(wa_str(rq, "FutureRelease"), &t) == 0) {
		m.has_future_release = true;
		m.future_release = t;
	}
	if (wa_has(rq, "Extra")) {
		struct json_object *eo;

		json_object_object_get_ex(rq, "Extra", &eo);
		{
			json_object_object_foreach(eo, key, val)
				queue_extra_add(&extra, key, json_object_get_string(val));
		}
	}
	m.extra = &extra;
	m.require_tls = !wa_has(rq, "RequireTLS") ? SUBMIT_TLS_DEFAULT :
		wa_bool(rq, "RequireTLS") ? SUBMIT_TLS_REQUIRED : SUBMIT_TLS_NOT_REQUIRED;
	m.save_sent = wa_bool(rq, "SaveSent");
	if (get_files(c, "InlineFiles", &inl, &m.ninline) < 0 ||
	    get_files(c, "AttachedFiles", &att, &m.nattached) < 0)
		goto out;
	m.inline_files = inl;
	m.attached_files = att;

	if (submit_send(web_env_store(c->req->env), web_env_conf(c->req->env), c->req->cid, &m,
		    &res, &err) < 0) {
		/* submit_send logged the details of server errors. */
		wa_error(c, err.code, "%s", err.msg.data);
		goto out;
	}
	subs = json_object_new_array();
	for (i = 0; i < res.nrcpts; i++) {
		struct json_object *o = json_object_new_object();
		const char *addr = i < m.nto ? to[i].address : i < m.nto + m.ncc ?
			cc[i - m.nto].address : bcc[i - m.nto - m.ncc].address;

		json_object_object_add(o, "Address", json_object_new_string(addr));
		/* 0: delivered to a local mailbox at once, not queued. */
		json_object_object_add(o, "QueueMsgID", json_object_new_int64(res.rcpts[i].queue_id));
		json_object_object_add(o, "FromID", json_object_new_string(res.rcpts[i].from_id));
		json_object_array_add(subs, o);
	}
	c->result = json_object_new_object();
	json_object_object_add(c->result, "MessageID", json_object_new_string(res.message_id));
	json_object_object_add(c->result, "Submissions", subs);
	rc = 0;
out:
	submit_result_free(&res);
	submit_err_free(&err);
	queue_extra_free(&extra);
	files_free(inl, m.ninline);
	files_free(att, m.nattached);
	free(refs);
	free(hdrs);
	free(from);
	free(to);
	free(cc);
	free(bcc);
	free(reply_to);
	return rc;
}
