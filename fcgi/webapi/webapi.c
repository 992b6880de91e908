/* The webapi program: routes of /webapi/ (the documentation page at
 * /webapi/v0/, method calls POST /webapi/v0/<Method>), HTTP Basic
 * authentication per call, request checking, error answers, and the
 * suppression-list and message methods. Send is in webapi_send.c. The
 * method names, request and response shapes and error codes are the
 * reference's (webapi/webapi.go, webapisrv/server.go). */
#include "config.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"
#include "db/db.h"
#include "mail/addr.h"
#include "mail/mime.h"
#include "queue/queue.h"
#include "queue/webhook.h"
#include "store/store.h"
#include "webapi/webapi.h"

/* ---- errors ---- */

int
wa_error(struct wa_call *c, const char *code, const char *fmt, ...)
{
	va_list ap;

	c->code = code;
	buf_reset(&c->msg);
	va_start(ap, fmt);
	buf_vprintf(&c->msg, fmt, ap);
	va_end(ap);
	return -1;
}

int
wa_server_error(struct wa_call *c, const char *what, const char *error)
{
	log_error(c->req->cid, "proto=http app=webapi ev=server-error what=%s error=%s",
		lq(what), lq(error));
	return wa_error(c, "server", "%s failed (see the server log)", what);
}

static void
error_resp(struct web_response *resp, unsigned status, const char *code, const char *msg)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "Code", json_object_new_string(code));
	json_object_object_add(o, "Message", json_object_new_string(msg));
	web_resp_json(resp, status, o);
	json_object_put(o);
}

/* ---- login ---- */

/* Applications authenticate every call, and a password hash (yescrypt)
 * costs tens of milliseconds by design. A successful login is remembered
 * under HMAC-SHA256(process secret, user NUL password) with the account's
 * password hash of that moment: a later call with the same credentials
 * only rereads the stored hash and login_disabled (one small query), so a
 * password change or disabled login takes effect at once. The mapping of
 * a login address to its account is trusted for AUTH_CACHE_TTL_MS. */
#define AUTH_CACHE_SIZE 256
#define AUTH_CACHE_TTL_MS (60 * 1000)

struct auth_entry {
	unsigned char key[32];
	int64_t account_id;
	char *account_name;
	char *hash;
	int64_t expires_ms;	/* monotonic; 0: free slot */
};

static struct {
	pthread_mutex_t mu;
	unsigned char secret[32];
	bool have_secret;
	struct auth_entry v[AUTH_CACHE_SIZE];
	size_t next;		/* round-robin replacement */
} auth_cache = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void
auth_key(const char *username, const char *password, unsigned char key[32])
{
	unsigned int len = 32;
	struct buf m;

	buf_init(&m);
	buf_puts(&m, username);
	buf_putc(&m, '\0');
	buf_puts(&m, password);
	pthread_mutex_lock(&auth_cache.mu);
	if (!auth_cache.have_secret) {
		ms_random(auth_cache.secret, sizeof(auth_cache.secret));
		auth_cache.have_secret = true;
	}
	pthread_mutex_unlock(&auth_cache.mu);
	HMAC(EVP_sha256(), auth_cache.secret, sizeof(auth_cache.secret),
		(const unsigned char *)m.data, m.len, key, &len);
	buf_wipe(&m);
	buf_free(&m);
}

/* A cached login: 1 with the account (name in the request arena) and its
 * hash then (malloc'd), 0 when none. */
static int
auth_cache_get(struct web_request *req, const unsigned char key[32], int64_t *id_r,
	const char **name_r, char **hash_r)
{
	int64_t now = ms_mono_ms();
	size_t i;

	pthread_mutex_lock(&auth_cache.mu);
	for (i = 0; i < AUTH_CACHE_SIZE; i++) {
		struct auth_entry *e = &auth_cache.v[i];

		if (e->expires_ms == 0 || CRYPTO_memcmp(e->key, key, 32) != 0)
			continue;
		if (e->expires_ms < now)
			break;
		*id_r = e->account_id;
		*name_r = web_strdup(req, e->account_name);
		*hash_r = xstrdup(e->hash);
		pthread_mutex_unlock(&auth_cache.mu);
		return 1;
	}
	pthread_mutex_unlock(&auth_cache.mu);
	return 0;
}

static void
auth_cache_drop(const unsigned char key[32])
{
	size_t i;

	pthread_mutex_lock(&auth_cache.mu);
	for (i = 0; i < AUTH_CACHE_SIZE; i++)
		if (auth_cache.v[i].expires_ms != 0 &&
		    CRYPTO_memcmp(auth_cache.v[i].key, key, 32) == 0) {
			free(auth_cache.v[i].account_name);
			free(auth_cache.v[i].hash);
			memset(&auth_cache.v[i], 0, sizeof(auth_cache.v[i]));
		}
	pthread_mutex_unlock(&auth_cache.mu);
}

static void
auth_cache_put(const unsigned char key[32], int64_t id, const char *name, const char *hash)
{
	struct auth_entry *e;

	auth_cache_drop(key);
	pthread_mutex_lock(&auth_cache.mu);
	e = &auth_cache.v[auth_cache.next];
	auth_cache.next = (auth_cache.next + 1) % AUTH_CACHE_SIZE;
	free(e->account_name);
	free(e->hash);
	memcpy(e->key, key, 32);
	e->account_id = id;
	e->account_name = xstrdup(name);
	e->hash = xstrdup(hash);
	e->expires_ms = ms_mono_ms() + AUTH_CACHE_TTL_MS;
	pthread_mutex_unlock(&auth_cache.mu);
}

/* The account's password hash now, NULL when the login is disabled or
 * the account is gone (malloc'd). */
static char *
current_hash(struct store *st, int64_t id, const char **error_r, bool *failed_r)
{
	PGresult *res;
	PGconn *c;
	char *h = NULL;

	*failed_r = false;
	c = db_get(st->pool, error_r);
	if (c == NULL) {
		*failed_r = true;
		return NULL;
	}
	{
		const char *params[1] = { db_i64(id) };

		res = db_exec_prepared(c, "webapi_login_hash",
			"SELECT c.password_hash FROM accounts a JOIN credentials c ON c.account_id = a.id"
			" WHERE a.id = $1 AND a.login_disabled IS NULL", 1, params, NULL, NULL, error_r);
	}
	db_put(st->pool, c);
	if (res == NULL) {
		*failed_r = true;
		return NULL;
	}
	if (PQntuples(res) == 1)
		h = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return h;
}

/* The account for username/password: a login address (or account name)
 * as for the other logins, or one of the account's fromid login
 * addresses. */
static int
webapi_login(struct web_request *req, const char *username, const char *password,
	int64_t *account_id_r, const char **account_name_r, const char **error_r)
{
	struct store *st = web_env_store(req->env);
	const char *login = username, *cname = NULL;
	unsigned char key[32];
	char *chash = NULL, *now_hash;
	int64_t id = 0;
	PGresult *res;
	PGconn *c;
	bool failed;
	int ok;

	*account_name_r = NULL;
	auth_key(username, password, key);
	if (auth_cache_get(req, key, &id, &cname, &chash)) {
		now_hash = current_hash(st, id, error_r, &failed);
		if (failed) {
			free(chash);
			ok = -1;
			goto out;
		}
		ok = now_hash != NULL && strcmp(now_hash, chash) == 0;
		free(now_hash);
		free(chash);
		if (ok) {
			*account_id_r = id;
			*account_name_r = cname;
			goto out;
		}
		auth_cache_drop(key);
	}
	c = db_get(st->pool, error_r);
	if (c == NULL) {
		ok = -1;
		goto out;
	}
	res = db_execv(c, error_r,
		"SELECT a.name FROM fromid_login_addresses f JOIN accounts a ON a.id = f.account_id"
		" WHERE f.address = lower($1)", 1, username);
	db_put(st->pool, c);
	if (res == NULL) {
		ok = -1;
		goto out;
	}
	if (PQntuples(res) == 1)
		login = web_strdup(req, PQgetvalue(res, 0, 0));
	PQclear(res);
	ok = web_account_login(req, login, password, &id, account_name_r, error_r);
	if (ok > 0) {
		*account_id_r = id;
		now_hash = current_hash(st, id, error_r, &failed);
		if (now_hash != NULL && *account_name_r != NULL)
			auth_cache_put(key, id, *account_name_r, now_hash);
		free(now_hash);
	}
out:
	/* The key is derived from the password. */
	explicit_bzero(key, sizeof(key));
	return ok;
}

/* ---- suppression list ---- */

/* An email address of a request: the reference's "badAddress" when it
 * does not parse (RFC 5321 4.1.2 Mailbox, SMTPUTF8 allowed). */
static int
parse_address(struct wa_call *c, const char *s, struct mail_addr *a)
{
	const char *error;

	if (mail_addr_parse_mailbox(s, strlen(s), true, a, &error) < 0)
		return wa_error(c, "badAddress", "parsing address \"%s\": %s", s, error);
	return 0;
}

static void
put_time(struct json_object *o, const char *key, int64_t t)
{
	char tmp[64];
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	if (strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		tmp[0] = '\0';
	json_object_object_add(o, key, json_object_new_string(tmp));
}

static int
m_suppression_list(struct wa_call *c)
{
	struct queue_suppression *v;
	struct json_object *arr;
	const char *error;
	size_t n, i;

	if (queue_suppression_list(web_env_store(c->req->env), c->req->account_id, &v, &n,
		    &error) < 0)
		return wa_server_error(c, "listing suppressions", error);
	arr = json_object_new_array();
	for (i = 0; i < n; i++) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "ID", json_object_new_int64(v[i].id));
		put_time(o, "Created", v[i].created);
		json_object_object_add(o, "Account", json_object_new_string(v[i].account));
		json_object_object_add(o, "BaseAddress", json_object_new_string(v[i].base_address));
		json_object_object_add(o, "OriginalAddress",
			json_object_new_string(v[i].original_address));
		json_object_object_add(o, "Manual", json_object_new_boolean(v[i].manual));
		json_object_object_add(o, "Reason", json_object_new_string(v[i].reason));
		json_object_array_add(arr, o);
	}
	queue_suppressions_free(v, n);
	c->result = json_object_new_object();
	json_object_object_add(c->result, "Suppressions", arr);
	return 0;
}

static int
m_suppression_add(struct wa_call *c)
{
	const char *reason = wa_str(c->request, "Reason"), *error;
	struct mail_addr a;
	int r;

	if (parse_address(c, wa_str(c->request, "EmailAddress"), &a) < 0)
		return -1;
	if (wa_has_ctl(reason)) {
		mail_addr_free(&a);
		return wa_error(c, "user", "control characters not allowed in Reason");
	}
	r = queue_suppression_add(web_env_store(c->req->env), c->req->account_id, a.localpart,
		a.domain, wa_bool(c->request, "Manual"), reason, &error);
	mail_addr_free(&a);
	if (r < 0)
		return wa_server_error(c, "adding suppression", error);
	c->result = json_object_new_object();
	return 0;
}

static int
m_suppression_remove(struct wa_call *c)
{
	const char *error;
	struct mail_addr a;
	int r;

	if (parse_address(c, wa_str(c->request, "EmailAddress"), &a) < 0)
		return -1;
	r = queue_suppression_remove(web_env_store(c->req->env), c->req->account_id, a.localpart,
		a.domain, &error);
	mail_addr_free(&a);
	if (r < 0)
		return wa_server_error(c, "removing suppression", error);
	if (r == 0)
		return wa_error(c, "notFound", "address is not on the suppression list");
	c->result = json_object_new_object();
	return 0;
}

static int
m_suppression_present(struct wa_call *c)
{
	const char *error;
	struct mail_addr a;
	int r;

	if (parse_address(c, wa_str(c->request, "EmailAddress"), &a) < 0)
		return -1;
	r = queue_suppression_lookup(web_env_store(c->req->env), c->req->account_id, a.localpart,
		a.domain, NULL, &error);
	mail_addr_free(&a);
	if (r < 0)
		return wa_server_error(c, "looking up suppression", error);
	c->result = json_object_new_object();
	json_object_object_add(c->result, "Present", json_object_new_boolean(r == 1));
	return 0;
}

/* ---- messages ---- */

struct wa_message {
	int64_t id, mailbox_id;
	uint32_t uid;
	char *file_path, *mailbox, *keywords, *mailfrom, *msgfrom_localpart, *msgfrom_domain,
		*dkim_domains, *remote_ip, *rcptto;
	int64_t size, received;
	unsigned flags;
	bool mailfrom_validated, msgfrom_validated;
};

static void
wa_message_free(struct wa_message *m)
{
	free(m->file_path);
	free(m->mailbox);
	free(m->keywords);
	free(m->mailfrom);
	free(m->msgfrom_localpart);
	free(m->msgfrom_domain);
	free(m->dkim_domains);
	free(m->remote_ip);
	free(m->rcptto);
	memset(m, 0, sizeof(*m));
}

/* The message MsgID of the caller's account: 0, or -1 after setting the
 * error ("messageNotFound" for ids of other accounts too). */
static int
message_get(struct wa_call *c, struct wa_message *m)
{
	struct store *st = web_env_store(c->req->env);
	int64_t id = wa_int(c->request, "MsgID");
	const char *error;
	PGresult *res;
	PGconn *pc;

	memset(m, 0, sizeof(*m));
	pc = db_get(st->pool, &error);
	if (pc == NULL)
		return wa_server_error(c, "getting message", error);
	res = db_execv(pc, &error,
		"SELECT m.mailbox_id, m.uid, m.file_path, mb.name, m.size, m.flags,"
		" array_to_string(m.keywords, ' '), m.mailfrom, m.mailfrom_validated,"
		" m.msgfrom_localpart, m.msgfrom_domain, m.msgfrom_validated,"
		" array_to_string(m.dkim_domains, ' '), coalesce(host(m.remote_ip), ''),"
		" CASE WHEN m.rcptto_domain = '' THEN '' ELSE m.rcptto_localpart || '@' ||"
		"  m.rcptto_domain END, extract(epoch FROM m.received)::bigint"
		" FROM messages m JOIN mailboxes mb ON mb.id = m.mailbox_id"
		" WHERE m.id = $1 AND m.account_id = $2",
		2, db_i64(id), db_i64(c->req->account_id));
	db_put(st->pool, pc);
	if (res == NULL)
		return wa_server_error(c, "getting message", error);
	if (PQntuples(res) != 1) {
		PQclear(res);
		return wa_error(c, "messageNotFound", "message not found");
	}
	m->id = id;
	m->mailbox_id = db_get_i64(res, 0, 0);
	m->uid = (uint32_t)db_get_i64(res, 0, 1);
	m->file_path = xstrdup(PQgetvalue(res, 0, 2));
	m->mailbox = xstrdup(PQgetvalue(res, 0, 3));
	m->size = db_get_i64(res, 0, 4);
	m->flags = (unsigned)db_get_i64(res, 0, 5);
	m->keywords = xstrdup(PQgetvalue(res, 0, 6));
	m->mailfrom = xstrdup(PQgetvalue(res, 0, 7));
	m->mailfrom_validated = db_get_bool(res, 0, 8);
	m->msgfrom_localpart = xstrdup(PQgetvalue(res, 0, 9));
	m->msgfrom_domain = xstrdup(PQgetvalue(res, 0, 10));
	m->msgfrom_validated = db_get_bool(res, 0, 11);
	m->dkim_domains = xstrdup(PQgetvalue(res, 0, 12));
	m->remote_ip = xstrdup(PQgetvalue(res, 0, 13));
	m->rcptto = xstrdup(PQgetvalue(res, 0, 14));
	m->received = db_get_i64(res, 0, 15);
	PQclear(res);
	return 0;
}

static int
message_read(struct wa_call *c, const struct wa_message *m, struct buf *out)
{
	const char *error;

	if (store_msg_read(web_env_store(c->req->env), m->id, m->file_path, out, &error) < 0)
		return wa_server_error(c, "reading message", error);
	return 0;
}

static struct json_object *
words_array(const char *s)
{
	struct json_object *arr = json_object_new_array();

	while (*s != '\0') {
		size_t n = strcspn(s, " ");

		if (n > 0)
			json_object_array_add(arr, json_object_new_string_len(s, (int)n));
		s += n;
		if (*s == ' ')
			s++;
	}
	return arr;
}

static struct json_object *
take(struct json_object *from, const char *key)
{
	struct json_object *v = NULL;

	if (json_object_object_get_ex(from, key, &v) && v != NULL)
		return json_object_get(v);
	return NULL;
}

static int
m_message_get(struct wa_call *c)
{
	struct webhook_incoming_meta meta;
	struct webhook_incoming *wi;
	struct json_object *in, *msg, *mo, *flags, *refs, *irt;
	struct webhook_dsn dsn;
	struct wa_message m;
	struct buf raw, js, addr;
	unsigned bit;

	if (message_get(c, &m) < 0)
		return -1;
	buf_init(&raw);
	buf_init(&js);
	buf_init(&addr);
	if (message_read(c, &m, &raw) < 0)
		goto fail;
	/* The parsed message as incoming webhooks carry it (FEATURES.md 6). */
	memset(&meta, 0, sizeof(meta));
	meta.mailfrom = m.mailfrom;
	meta.remote_ip = m.remote_ip;
	meta.received = m.received;
	wi = webhook_incoming_new(raw.data, raw.len, &meta);
	webhook_incoming_json(&js, wi, m.id, m.rcptto, m.mailbox);
	webhook_incoming_free(&wi);
	in = json_tokener_parse(js.data);
	if (in == NULL) {
		wa_server_error(c, "parsing message", "webhook payload not JSON");
		goto fail;
	}
	msg = json_object_new_object();
	json_object_object_add(msg, "From", take(in, "From"));
	json_object_object_add(msg, "To", take(in, "To"));
	json_object_object_add(msg, "CC", take(in, "CC"));
	json_object_object_add(msg, "BCC", take(in, "BCC"));
	json_object_object_add(msg, "ReplyTo", take(in, "ReplyTo"));
	json_object_object_add(msg, "MessageID", take(in, "MessageID"));
	/* As the reference: In-Reply-To first when References lacks it. */
	refs = take(in, "References");
	if (refs == NULL || !json_object_is_type(refs, json_type_array)) {
		json_object_put(refs);
		refs = json_object_new_array();
	}
	if (json_object_object_get_ex(in, "InReplyTo", &irt) && irt != NULL &&
	    json_object_get_string_len(irt) > 0) {
		size_t i, n = json_object_array_length(refs);
		bool seen = false;

		for (i = 0; i < n; i++)
			if (strcmp(json_object_get_string(json_object_array_get_idx(refs, i)),
				    json_object_get_string(irt)) == 0)
				seen = true;
		if (!seen) {
			struct json_object *nr = json_object_new_array();

			json_object_array_add(nr, json_object_get(irt));
			for (i = 0; i < n; i++)
				json_object_array_add(nr,
					json_object_get(json_object_array_get_idx(refs, i)));
			json_object_put(refs);
			refs = nr;
		}
	}
	json_object_object_add(msg, "References", refs);
	json_object_object_add(msg, "Date", take(in, "Date"));
	json_object_object_add(msg, "Subject", take(in, "Subject"));
	json_object_object_add(msg, "Text", take(in, "Text"));
	json_object_object_add(msg, "HTML", take(in, "HTML"));

	webhook_dsn_parse(raw.data, raw.len, &dsn);
	mo = json_object_new_object();
	json_object_object_add(mo, "Size", json_object_new_int64(m.size));
	json_object_object_add(mo, "DSN", json_object_new_boolean(dsn.is_dsn));
	flags = json_object_new_array();
	for (bit = 1; bit <= SF_ALL; bit <<= 1) {
		const char *name = store_flag_name(bit);
		char lower[32];
		size_t i;

		if ((m.flags & bit) == 0 || name == NULL)
			continue;
		for (i = 0; name[i] != '\0' && i + 1 < sizeof(lower); i++)
			lower[i] = (name[i] >= 'A' && name[i] <= 'Z') ? (char)(name[i] + 32) : name[i];
		lower[i] = '\0';
		json_object_array_add(flags, json_object_new_string(lower));
	}
	{
		struct json_object *kw = words_array(m.keywords);
		size_t i;

		for (i = 0; i < json_object_array_length(kw); i++)
			json_object_array_add(flags, json_object_get(json_object_array_get_idx(kw, i)));
		json_object_put(kw);
	}
	json_object_object_add(mo, "Flags", flags);
	json_object_object_add(mo, "MailFrom", json_object_new_string(m.mailfrom));
	json_object_object_add(mo, "MailFromValidated",
		json_object_new_boolean(m.mailfrom_validated));
	json_object_object_add(mo, "RcptTo", json_object_new_string(m.rcptto));
	if (m.msgfrom_domain[0] != '\0')
		buf_printf(&addr, "%s@%s", m.msgfrom_localpart, m.msgfrom_domain);
	json_object_object_add(mo, "MsgFrom", json_object_new_string(addr.data));
	json_object_object_add(mo, "MsgFromValidated",
		json_object_new_boolean(m.msgfrom_validated));
	json_object_object_add(mo, "DKIMVerifiedDomains", words_array(m.dkim_domains));
	json_object_object_add(mo, "RemoteIP", json_object_new_string(m.remote_ip));
	json_object_object_add(mo, "MailboxName", json_object_new_string(m.mailbox));

	c->result = json_object_new_object();
	json_object_object_add(c->result, "Message", msg);
	json_object_object_add(c->result, "Structure", take(in, "Structure"));
	json_object_object_add(c->result, "Meta", mo);
	json_object_put(in);
	buf_free(&raw);
	buf_free(&js);
	buf_free(&addr);
	wa_message_free(&m);
	return 0;
fail:
	buf_free(&raw);
	buf_free(&js);
	buf_free(&addr);
	wa_message_free(&m);
	return -1;
}

/* Bytes of a message in a browser must not run scripts on our origin,
 * where the account pages live. */
static void
raw_headers(struct web_response *resp, const char *content_type)
{
	web_resp_header(resp, "Content-Type", content_type);
	web_resp_header(resp, "Content-Security-Policy", "sandbox; default-src 'none'");
	web_resp_header(resp, "Cache-Control", "no-store");
}

static int
m_message_raw_get(struct wa_call *c)
{
	struct wa_message m;

	if (message_get(c, &m) < 0)
		return -1;
	buf_reset(&c->resp->body);
	if (message_read(c, &m, &c->resp->body) < 0) {
		wa_message_free(&m);
		return -1;
	}
	c->resp->status = 200;
	raw_headers(c->resp, "text/plain");
	c->raw = true;
	wa_message_free(&m);
	return 0;
}

static int
m_message_part_get(struct wa_call *c)
{
	struct json_object *path = wa_array(c->request, "PartPath");
	const struct mime_part *p;
	struct mime_part *root;
	struct wa_message m;
	struct buf raw, ct;
	size_t i, n = path != NULL ? json_object_array_length(path) : 0;

	if (message_get(c, &m) < 0)
		return -1;
	buf_init(&raw);
	buf_init(&ct);
	if (message_read(c, &m, &raw) < 0) {
		buf_free(&raw);
		wa_message_free(&m);
		return -1;
	}
	root = mime_parse(raw.data, raw.len);
	p = root;
	/* PartPath indexes into the multipart children, level by level. */
	for (i = 0; i < n; i++) {
		int64_t idx = json_object_get_int64(json_object_array_get_idx(path, i));

		if (idx < 0 || (uint64_t)idx >= p->nparts) {
			wa_error(c, "partNotFound", "part %lld at index %zu not found", (long long)idx, i);
			mime_free(&root);
			buf_free(&raw);
			buf_free(&ct);
			wa_message_free(&m);
			return -1;
		}
		p = &p->parts[idx];
	}
	buf_reset(&c->resp->body);
	(void)mime_decode_body(p, raw.data, raw.len, &c->resp->body);
	buf_printf(&ct, "%s/%s", p->type, p->subtype);
	for (i = 0; i < p->nparams; i++)
		if (strcmp(p->params[i].name, "charset") == 0 && !wa_has_ctl(p->params[i].value) &&
		    strpbrk(p->params[i].value, "\";\\") == NULL)
			buf_printf(&ct, "; charset=\"%s\"", p->params[i].value);
	c->resp->status = 200;
	raw_headers(c->resp, ct.data);
	c->raw = true;
	mime_free(&root);
	buf_free(&raw);
	buf_free(&ct);
	wa_message_free(&m);
	return 0;
}

static int
m_message_delete(struct wa_call *c)
{
	struct store *st = web_env_store(c->req->env);
	struct store_flag_change *ch = NULL;
	uint32_t *expunged = NULL;
	size_t nch = 0, nexp = 0;
	struct wa_message m;
	const char *error;

	if (message_get(c, &m) < 0)
		return -1;
	/* Expunge takes messages marked \Deleted: mark, then expunge just
	 * this one (other \Deleted messages of the mailbox stay). */
	if (store_flags_change(st, c->req->account_id, m.mailbox_id, &m.uid, 1, STORE_FLAGS_ADD,
		    SF_DELETED, NULL, 0, -1, &ch, &nch, NULL, NULL, &error) < 0 ||
	    store_expunge(st, c->req->account_id, m.mailbox_id, &m.uid, 1, &expunged, &nexp,
		    &error) < 0) {
		store_flag_changes_free(ch, nch);
		wa_message_free(&m);
		return wa_server_error(c, "deleting message", error);
	}
	store_flag_changes_free(ch, nch);
	free(expunged);
	log_info(c->req->cid, "proto=http app=webapi ev=message-deleted account=%s msgid=%lld",
		lq(c->req->account_name), (long long)m.id);
	wa_message_free(&m);
	c->result = json_object_new_object();
	return 0;
}

/* RFC 9051 section 9: flag-keyword = "$MDNSent" / "$Forwarded" / "$Junk" /
 * "$NotJunk" / "$Phishing" / atom; atom-specials = "(" / ")" / "{" / SP /
 * CTL / list-wildcards / quoted-specials / resp-specials. */
static bool
keyword_ok(const char *s)
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
message_flags(struct wa_call *c, enum store_flag_op op)
{
	struct store *st = web_env_store(c->req->env);
	struct json_object *arr = wa_array(c->request, "Flags");
	size_t i, n = arr != NULL ? json_object_array_length(arr) : 0, nkw = 0, nch = 0;
	struct store_flag_change *ch = NULL;
	const char **kw = xcalloc(n + 1, sizeof(*kw));
	struct wa_message m;
	const char *error;
	unsigned flags = 0;
	int rc = -1;

	memset(&m, 0, sizeof(m));
	for (i = 0; i < n; i++) {
		const char *f = json_object_get_string(json_object_array_get_idx(arr, i));
		unsigned bit = store_flag_parse(f, strlen(f));

		if (bit != 0) {
			flags |= bit;
		} else if (f[0] == '\\' || !keyword_ok(f)) {
			wa_error(c, "user", "invalid flag or keyword \"%s\"", wa_has_ctl(f) ? "?" : f);
			goto out;
		} else {
			char *l = web_strdup(c->req, f);

			ms_str_lower(l);
			kw[nkw++] = l;
		}
	}
	if (message_get(c, &m) < 0)
		goto out;
	if (store_flags_change(st, c->req->account_id, m.mailbox_id, &m.uid, 1, op, flags,
		    kw, nkw, -1, &ch, &nch, NULL, NULL, &error) < 0) {
		wa_server_error(c, "changing flags", error);
		goto out;
	}
	store_flag_changes_free(ch, nch);
	c->result = json_object_new_object();
	rc = 0;
out:
	free(kw);
	wa_message_free(&m);
	return rc;
}

static int
m_message_flags_add(struct wa_call *c)
{
	return message_flags(c, STORE_FLAGS_ADD);
}

static int
m_message_flags_remove(struct wa_call *c)
{
	return message_flags(c, STORE_FLAGS_REMOVE);
}

static int
m_message_move(struct wa_call *c)
{
	struct store *st = web_env_store(c->req->env);
	const char *dest = wa_str(c->request, "DestMailboxName"), *error;
	struct store_copy_result r;
	struct store_mailbox mb;
	struct wa_message m;
	int found, rc;

	if (message_get(c, &m) < 0)
		return -1;
	memset(&mb, 0, sizeof(mb));
	found = store_mailbox_get(st, c->req->account_id, dest, &mb, &error);
	if (found < 0) {
		wa_message_free(&m);
		return wa_server_error(c, "looking up mailbox", error);
	}
	if (found == 0) {
		wa_message_free(&m);
		return wa_error(c, "user", "mailbox \"%s\" not found", wa_has_ctl(dest) ? "?" : dest);
	}
	if (mb.id == m.mailbox_id) {
		store_mailbox_free(&mb);
		wa_message_free(&m);
		return wa_error(c, "user", "message is already in the destination mailbox");
	}
	store_mailbox_free(&mb);
	memset(&r, 0, sizeof(r));
	rc = store_copy(st, c->req->account_id, m.mailbox_id, &m.uid, 1, dest, true, &r, &error);
	store_copy_result_free(&r);
	wa_message_free(&m);
	if (rc == STORE_NO_MAILBOX)
		return wa_error(c, "user", "mailbox not found");
	if (rc != 0)
		return wa_server_error(c, "moving message", error);
	c->result = json_object_new_object();
	return 0;
}

/* ---- method table and documentation ---- */

struct wa_method {
	const char *name;
	const struct wa_field *fields;
	size_t nfields;
	int (*fn)(struct wa_call *c);
	const char *doc;	/* HTML */
	const char *example;	/* request JSON */
	const char *response;	/* response JSON, NULL: bytes */
};

/* SuppressionList takes {} (no fields). */
static const struct wa_field f_none[] = { { "", WA_STR } };
static const struct wa_field f_supp_add[] = {
	{ "EmailAddress", WA_STR }, { "Manual", WA_BOOL }, { "Reason", WA_STR },
};
static const struct wa_field f_email[] = { { "EmailAddress", WA_STR } };
static const struct wa_field f_msgid[] = { { "MsgID", WA_INT } };
static const struct wa_field f_part[] = { { "MsgID", WA_INT }, { "PartPath", WA_INTS } };
static const struct wa_field f_flags[] = { { "MsgID", WA_INT }, { "Flags", WA_STRS } };
static const struct wa_field f_move[] = { { "MsgID", WA_INT }, { "DestMailboxName", WA_STR } };

static const struct wa_method methods[] = {
	{ "Send", wa_send_fields, 0, wa_send,
	  "Compose a message and queue it for delivery to the To, CC and BCC addresses "
	  "(BCC is not in the message). At least one of Text and HTML. From defaults to the "
	  "login address; it must be an address of the account. InlineFiles and AttachedFiles "
	  "carry base64 Data. Extra is returned in the outgoing webhooks. FutureRelease "
	  "(RFC 3339) delays the first attempt (at most 60 days). RequireTLS true demands "
	  "REQUIRETLS, false relaxes MTA-STS/DANE, absent is the default policy. SaveSent "
	  "stores a copy in the Sent mailbox. Returns the Message-ID and a queue message per "
	  "recipient; webhooks name the same QueueMsgID and FromID.",
	  "{\"From\": [{\"Name\": \"Shop\", \"Address\": \"shop@example.org\"}],\n"
	  " \"To\": [{\"Name\": \"Jane\", \"Address\": \"jane@example.com\"}],\n"
	  " \"Subject\": \"Your order\", \"Text\": \"Thank you!\\n\",\n"
	  " \"HTML\": \"<p>Thank you!</p>\",\n"
	  " \"AttachedFiles\": [{\"Name\": \"invoice.txt\", \"ContentType\": \"text/plain\","
	  " \"Data\": \"SW52b2ljZQo=\"}],\n"
	  " \"Extra\": {\"OrderId\": \"42\"}, \"SaveSent\": true}",
	  "{\"MessageID\": \"<a1b2c3@mail.example.org>\",\n"
	  " \"Submissions\": [{\"Address\": \"jane@example.com\", \"QueueMsgID\": 123, "
	  "\"FromID\": \"\"}]}" },
	{ "SuppressionList", f_none, 0, m_suppression_list,
	  "The addresses the account does not send to: added by hand, or when a delivery "
	  "failed permanently.", "{}",
	  "{\"Suppressions\": [{\"ID\": 1, \"Created\": \"2024-01-02T15:04:05Z\", "
	  "\"Account\": \"shop@example.org\", \"BaseAddress\": \"jane@example.com\", "
	  "\"OriginalAddress\": \"jane+x@example.com\", \"Manual\": false, "
	  "\"Reason\": \"550 5.1.1 no such user\"}]}" },
	{ "SuppressionAdd", f_supp_add, 3, m_suppression_add,
	  "Add an address to the suppression list: messages to it fail at once.",
	  "{\"EmailAddress\": \"jane@example.com\", \"Manual\": true, \"Reason\": \"asked us to stop\"}",
	  "{}" },
	{ "SuppressionRemove", f_email, 1, m_suppression_remove,
	  "Remove an address from the suppression list (error code notFound when absent).",
	  "{\"EmailAddress\": \"jane@example.com\"}", "{}" },
	{ "SuppressionPresent", f_email, 1, m_suppression_present,
	  "Whether an address is on the suppression list.",
	  "{\"EmailAddress\": \"jane@example.com\"}", "{\"Present\": true}" },
	{ "MessageGet", f_msgid, 1, m_message_get,
	  "A stored message of the account (MsgID as in incoming webhooks), parsed: addresses, "
	  "subject, text and HTML (at most 1 MB each), MIME structure and delivery facts.",
	  "{\"MsgID\": 1}",
	  "{\"Message\": {\"From\": [{\"Name\": \"Jane\", \"Address\": \"jane@example.com\"}], "
	  "\"To\": [...], \"CC\": [], \"BCC\": [], \"ReplyTo\": [], \"MessageID\": \"<x@y>\", "
	  "\"References\": [], \"Date\": \"2024-01-02T15:04:05Z\", \"Subject\": \"Hi\", "
	  "\"Text\": \"...\", \"HTML\": \"\"},\n \"Structure\": {\"ContentType\": \"text/plain\", "
	  "\"ContentTypeParams\": {\"charset\": \"utf-8\"}, \"ContentID\": \"\", "
	  "\"ContentDisposition\": \"\", \"Filename\": \"\", \"DecodedSize\": 4, \"Parts\": []},\n"
	  " \"Meta\": {\"Size\": 1234, \"DSN\": false, \"Flags\": [\"\\\\seen\"], "
	  "\"MailFrom\": \"jane@example.com\", \"MailFromValidated\": true, \"RcptTo\": "
	  "\"shop@example.org\", \"MsgFrom\": \"jane@example.com\", \"MsgFromValidated\": true, "
	  "\"DKIMVerifiedDomains\": [\"example.com\"], \"RemoteIP\": \"192.0.2.1\", "
	  "\"MailboxName\": \"Inbox\"}}" },
	{ "MessageRawGet", f_msgid, 1, m_message_raw_get,
	  "The message as stored, as text/plain bytes.", "{\"MsgID\": 1}", NULL },
	{ "MessagePartGet", f_part, 2, m_message_part_get,
	  "One MIME part, decoded from its transfer encoding. PartPath indexes into the "
	  "multipart parts level by level ([] is the whole body, [1, 0] the first part in the "
	  "second part).", "{\"MsgID\": 1, \"PartPath\": [1]}", NULL },
	{ "MessageDelete", f_msgid, 1, m_message_delete,
	  "Remove a message (IMAP clients see it expunged).", "{\"MsgID\": 1}", "{}" },
	{ "MessageFlagsAdd", f_flags, 2, m_message_flags_add,
	  "Set flags (\\\\seen, \\\\answered, \\\\flagged, \\\\draft, $forwarded, $junk, "
	  "$notjunk, $phishing, $mdnsent) and keywords.",
	  "{\"MsgID\": 1, \"Flags\": [\"\\\\seen\", \"processed\"]}", "{}" },
	{ "MessageFlagsRemove", f_flags, 2, m_message_flags_remove,
	  "Clear flags and keywords.", "{\"MsgID\": 1, \"Flags\": [\"\\\\seen\"]}", "{}" },
	{ "MessageMove", f_move, 2, m_message_move,
	  "Move a message to another existing mailbox.",
	  "{\"MsgID\": 1, \"DestMailboxName\": \"Archive\"}", "{}" },
};

static const struct wa_method *
find_method(const char *name)
{
	size_t i;

	for (i = 0; i < MS_NELEM(methods); i++)
		if (strcmp(methods[i].name, name) == 0)
			return &methods[i];
	return NULL;
}

/* The base URL for examples: the scheme and Host the page was asked with. */
static void
base_url(struct web_request *req, struct buf *out)
{
	const char *h = web_header(req, "host");

	buf_printf(out, "%s://%s/webapi/v0/", req->https ? "https" : "http",
		h != NULL && h[0] != '\0' && !wa_has_ctl(h) ? h : "localhost");
}

/* A curl line for the page, the request in single quotes for a POSIX
 * shell ("'" as '\''). */
static void
curl_line(struct buf *out, const char *base, const struct wa_method *m)
{
	const char *p;

	buf_printf(out, "curl -u 'you@example.org:password' %s%s -d '", base, m->name);
	for (p = m->example; *p != '\0'; p++) {
		if (*p == '\'')
			buf_puts(out, "'\\''");
		else if (*p != '\n')
			buf_putc(out, *p);
	}
	buf_puts(out, "'");
}

static void
page_index(struct web_request *req, struct web_response *resp)
{
	struct buf html, base, line;
	size_t i;

	buf_init(&html);
	buf_init(&base);
	buf_init(&line);
	base_url(req, &base);
	buf_puts(&html, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		"<title>Mailstead webapi</title>"
		"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
		"</head>\n<body>\n<h1>Mailstead webapi</h1>\n"
		"<p>An HTTP/JSON API for applications: send mail and follow its delivery "
		"(with webhooks, set in the account settings), and handle received messages, "
		"with nothing but an HTTP client and a JSON library.</p>\n"
		"<ul><li>Call a method with <code>POST ");
	web_html_escape(&html, base.data);
	buf_puts(&html, "&lt;Method&gt;</code>, authenticated with HTTP Basic: an email address "
		"of your account (or a fromid login address) and the account password. Failed "
		"logins are rate-limited per IP address.</li>\n"
		"<li>The request is a JSON object: as the body (<code>Content-Type: "
		"application/json</code>), or as form field <code>request</code> "
		"(<code>application/x-www-form-urlencoded</code>, what <code>curl -d "
		"request=...</code> sends). Unknown fields and wrong types are refused.</li>\n"
		"<li>The answer is JSON (status 200), or the bytes of a message or part. Errors "
		"are <code>{\"Code\": \"...\", \"Message\": \"...\"}</code> with status 400 for "
		"mistakes in the request (codes such as <code>protocol</code>, <code>user</code>, "
		"<code>badAddress</code>, <code>badFrom</code>, <code>missingBody</code>, "
		"<code>noRecipients</code>, <code>messageLimitReached</code>, "
		"<code>recipientLimitReached</code>, <code>messageNotFound</code>, "
		"<code>partNotFound</code>) and 500 (<code>server</code>) for ours; 401 for "
		"missing or bad credentials, 429 after too many failed logins.</li></ul>\n"
		"<h2>Methods</h2>\n<ul>");
	for (i = 0; i < MS_NELEM(methods); i++)
		buf_printf(&html, "<li><a href=\"#%s\">%s</a></li>", methods[i].name,
			methods[i].name);
	buf_puts(&html, "</ul>\n");
	for (i = 0; i < MS_NELEM(methods); i++) {
		const struct wa_method *m = &methods[i];

		buf_printf(&html, "<h3 id=\"%s\">%s</h3>\n<p>", m->name, m->name);
		web_html_escape(&html, m->doc);
		buf_puts(&html, "</p>\n<p>Request:</p><pre>");
		web_html_escape(&html, m->example);
		buf_puts(&html, "</pre>\n<p>Response:</p><pre>");
		web_html_escape(&html, m->response != NULL ? m->response :
			"(the bytes, not JSON)");
		buf_puts(&html, "</pre>\n<p>Example:</p><pre>");
		buf_reset(&line);
		curl_line(&line, base.data, m);
		web_html_escape(&html, line.data);
		buf_puts(&html, "</pre>\n");
	}
	buf_puts(&html, "</body></html>\n");
	web_resp_html(resp, 200, &html);
	buf_free(&html);
	buf_free(&base);
	buf_free(&line);
}

static void
page_root(struct web_request *req, struct web_response *resp)
{
	(void)req;
	web_resp_redirect(resp, 303, "/webapi/v0/");
}

/* GET on a method: its part of the documentation. */
static void
page_method(struct web_request *req, struct web_response *resp)
{
	const char *name = req->subpath + 4;
	struct buf loc;

	if (find_method(name) == NULL) {
		web_resp_text(resp, 404, "no such webapi method");
		return;
	}
	buf_init(&loc);
	buf_printf(&loc, "/webapi/v0/#%s", name);
	web_resp_redirect(resp, 303, loc.data);
	buf_free(&loc);
}

/* ---- calls ---- */

static void
call_method(struct web_request *req, struct web_response *resp)
{
	const char *name = req->subpath + 4, *error, *password;
	const struct wa_method *m = find_method(name);
	struct wa_call c;
	struct buf err;
	unsigned status = 0;
	int64_t start = ms_mono_ms();
	int rc;

	if (m == NULL) {
		error_resp(resp, 404, "protocol", "unknown webapi method");
		return;
	}
	rc = web_basic_auth(req, &password, &status, &error);
	if (rc <= 0) {
		if (status == 401)
			web_resp_header(resp, "WWW-Authenticate", "Basic realm=\"webapi\"");
		error_resp(resp, status, status == 500 ? "server" : status == 429 ?
			"rateLimited" : "unauthorized", error);
		return;
	}
	memset(&c, 0, sizeof(c));
	c.req = req;
	c.resp = resp;
	buf_init(&c.msg);
	buf_init(&err);
	/* Send's field count lives in webapi_send.c (not a constant here). */
	if (wa_request_parse(web_header(req, "content-type"), req->body.data, req->body.len,
		    m->fields, m->fn == wa_send ? wa_send_nfields : m->nfields, &c.request,
		    &err) < 0) {
		wa_error(&c, "protocol", "%s", err.data);
		rc = -1;
	} else {
		rc = m->fn(&c);
	}
	if (rc < 0) {
		if (c.code == NULL)
			wa_error(&c, "server", "%s failed", m->name);
		/* Whatever a failed method wrote is not the answer. */
		buf_reset(&resp->headers);
		error_resp(resp, strcmp(c.code, "server") == 0 ? 500 : 400, c.code, c.msg.data);
	} else if (!c.raw) {
		if (c.result == NULL)
			c.result = json_object_new_object();
		web_resp_json(resp, 200, c.result);
	}
	log_info(req->cid, "proto=http app=webapi ev=call method=%s account=%s result=%s ms=%lld",
		m->name, lq(req->account_name), rc < 0 ? c.code : "ok",
		(long long)(ms_mono_ms() - start));
	json_object_put(c.result);
	json_object_put(c.request);
	buf_free(&c.msg);
	buf_free(&err);
}

static const struct web_route routes[] = {
	{ "GET", "/", 0, page_root },
	{ "GET", "/v0/", 0, page_index },
	{ "POST", "/v0/", WEB_ROUTE_PREFIX, call_method },
	{ "GET", "/v0/", WEB_ROUTE_PREFIX, page_method },
};

const struct web_app webapi_app = {
	.name = "webapi",
	.kind = "webapi",
	.prefix = "/webapi/",
	.hosts = WEB_HOSTS_USER,
	.session = WEB_SESSION_NONE,
	.routes = routes,
	.nroutes = MS_NELEM(routes),
	.methods = NULL,
	.nmethods = 0,
	.login = webapi_login,
};
