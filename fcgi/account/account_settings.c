/* Account settings of the account web interface: webhooks, fromid login
 * addresses, retired-keeping periods, rejects and junk filter settings,
 * the suppression list and the TLS public keys for client-certificate
 * logins. Every method works on req->account_id only. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "account/account_private.h"
#include "core/log.h"
#include "core/util.h"
#include "db/db.h"
#include "mail/addr.h"
#include "net/tls.h"
#include "queue/queue.h"
#include "queue/webhook.h"
#include "store/store.h"
#include "store/store_rules.h"

#define WEBHOOK_URL_MAX 2048
#define AUTHORIZATION_MAX 1024
#define KEEP_MAX_SECONDS (10LL * 366 * 86400)	/* ten years */
#define REASON_MAX 1000
#define PUBKEY_NAME_MAX 200
#define PEM_MAX 65536

/* A JSON text from the database (array_to_json, jsonb::text) as an object
 * for the result; NULL text or a parse failure gives JSON null. */
static struct json_object *
json_from_db(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return NULL;
	return json_tokener_parse(PQgetvalue(res, row, col));
}

int
acct_api_settings(struct web_call *call)
{
	const char *params[1] = { db_i64(call->req->account_id) };
	struct json_object *o, *ow, *iw;
	PGresult *res;

	res = web_call_query(call, "loading settings",
		"SELECT outgoing_webhook_url, outgoing_webhook_authorization,"
		" array_to_json(outgoing_webhook_events), incoming_webhook_url,"
		" incoming_webhook_authorization, array_to_json(fromid_login_addresses),"
		" extract(epoch FROM keep_retired_message_period)::bigint,"
		" extract(epoch FROM keep_retired_webhook_period)::bigint,"
		" rejects_mailbox, keep_rejects, junk_filter::text,"
		" max_outgoing_messages_per_day, max_first_time_recipients_per_day"
		" FROM accounts WHERE id = $1", 1, params);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return web_call_error(call, "user:notFound", "account no longer exists");
	}
	o = json_object_new_object();
	/* The Authorization values are the account's own secrets: shown to
	 * its owner for editing, never logged. */
	ow = json_object_new_object();
	json_object_object_add(ow, "url", json_object_new_string(PQgetvalue(res, 0, 0)));
	json_object_object_add(ow, "authorization", json_object_new_string(PQgetvalue(res, 0, 1)));
	json_object_object_add(ow, "events", json_from_db(res, 0, 2));
	json_object_object_add(o, "outgoingWebhook", ow);
	iw = json_object_new_object();
	json_object_object_add(iw, "url", json_object_new_string(PQgetvalue(res, 0, 3)));
	json_object_object_add(iw, "authorization", json_object_new_string(PQgetvalue(res, 0, 4)));
	json_object_object_add(o, "incomingWebhook", iw);
	json_object_object_add(o, "fromIDLoginAddresses", json_from_db(res, 0, 5));
	json_object_object_add(o, "keepRetiredMessagePeriod", json_object_new_int64(db_get_i64(res, 0, 6)));
	json_object_object_add(o, "keepRetiredWebhookPeriod", json_object_new_int64(db_get_i64(res, 0, 7)));
	json_object_object_add(o, "rejectsMailbox", json_object_new_string(PQgetvalue(res, 0, 8)));
	json_object_object_add(o, "keepRejects", json_object_new_boolean(db_get_bool(res, 0, 9)));
	json_object_object_add(o, "junkFilter", json_from_db(res, 0, 10));
	json_object_object_add(o, "maxOutgoingMessagesPerDay", json_object_new_int64(db_get_i64(res, 0, 11)));
	json_object_object_add(o, "maxFirstTimeRecipientsPerDay",
		json_object_new_int64(db_get_i64(res, 0, 12)));
	PQclear(res);
	call->result = o;
	return 0;
}

/* ---- webhooks ---- */

static int
check_webhook(struct web_call *call, const char *url, const char *auth)
{
	if (strlen(url) > WEBHOOK_URL_MAX || (url[0] != '\0' && !webhook_url_valid(url)))
		return web_call_error(call, "user:error",
			"webhook URL must be empty or an http:// or https:// URL with a host");
	if (!acct_text_ok(auth, AUTHORIZATION_MAX))
		return web_call_error(call, "user:error",
			"Authorization must be at most %d characters without control characters",
			AUTHORIZATION_MAX);
	if (url[0] == '\0' && auth[0] != '\0')
		return web_call_error(call, "user:error", "Authorization needs a URL");
	return 0;
}

int
acct_api_outgoing_webhook_save(struct web_call *call)
{
	const char *url = web_call_str(call, 0), *auth = web_call_str(call, 1), *error;
	struct json_object *events = call->params[2];
	struct buf ev;
	size_t i, n = json_object_array_length(events);
	int rc;

	if (check_webhook(call, url, auth) < 0)
		return -1;
	buf_init(&ev);
	for (i = 0; i < n; i++) {
		const char *e = json_object_get_string(json_object_array_get_idx(events, i));

		if (!webhook_event_valid(e)) {
			buf_free(&ev);
			return web_call_error(call, "user:error", "unknown webhook event %s (delivered,"
				" suppressed, delayed, failed, relayed, expanded, canceled, unrecognized)", e);
		}
		if (i > 0)
			buf_putc(&ev, ',');
		buf_puts(&ev, e);
	}
	rc = webhook_account_set(web_env_store(call->req->env), call->req->account_id, false, url,
		auth, ev.data, &error);
	buf_free(&ev);
	if (rc < 0)
		return web_call_server_error(call, "saving outgoing webhook", error);
	log_info(call->req->cid, "proto=http app=account ev=outgoing-webhook-saved account=%s url=%s",
		lq(call->req->account_name), lq(url));
	return 0;
}

int
acct_api_incoming_webhook_save(struct web_call *call)
{
	const char *url = web_call_str(call, 0), *auth = web_call_str(call, 1), *error;

	if (check_webhook(call, url, auth) < 0)
		return -1;
	if (webhook_account_set(web_env_store(call->req->env), call->req->account_id, true, url,
	    auth, NULL, &error) < 0)
		return web_call_server_error(call, "saving incoming webhook", error);
	log_info(call->req->cid, "proto=http app=account ev=incoming-webhook-saved account=%s url=%s",
		lq(call->req->account_name), lq(url));
	return 0;
}

/* ---- fromid login addresses ---- */

int
acct_api_fromid_save(struct web_call *call)
{
	struct json_object *list = call->params[0];
	size_t i, n = json_object_array_length(list);
	const char **v = web_alloc(call->req, (n + 1) * sizeof(char *));
	const char *params[2];
	struct buf arr;
	PGresult *res;
	int rc;

	if (n > 100)
		return web_call_error(call, "user:error", "at most 100 login addresses");
	for (i = 0; i < n; i++)
		v[i] = json_object_get_string(json_object_array_get_idx(list, i));
	buf_init(&arr);
	db_text_array(&arr, v, n);
	params[0] = db_i64(call->req->account_id);
	params[1] = arr.data;
	/* Each must be an address of the account on a domain with a
	 * catch-all separator: the fromid goes after that separator
	 * (MAIL FROM localpart+fromid@domain). One query for all. */
	res = web_call_query(call, "checking login addresses",
		"SELECT x.a, ad.id IS NOT NULL, coalesce(d.localpart_catchall_separators, '')"
		" FROM unnest($2::text[]) AS x(a)"
		" LEFT JOIN domains d ON d.name = lower(split_part(x.a, '@', 2))"
		" LEFT JOIN addresses ad ON ad.domain_id = d.id AND ad.account_id = $1"
		"  AND ad.localpart || '@' || d.name = x.a", 2, params);
	if (res == NULL) {
		buf_free(&arr);
		return -1;
	}
	rc = 0;
	for (i = 0; i < (size_t)PQntuples(res) && rc == 0; i++) {
		if (!db_get_bool(res, (int)i, 1))
			rc = web_call_error(call, "user:error", "%s is not an address of this account",
				PQgetvalue(res, (int)i, 0));
		else if (PQgetvalue(res, (int)i, 2)[0] == '\0')
			rc = web_call_error(call, "user:error", "the domain of %s has no catch-all"
				" separator, so a fromid cannot be added to it", PQgetvalue(res, (int)i, 0));
	}
	PQclear(res);
	if (rc == 0)
		rc = web_call_cmd(call, "saving login addresses",
			"UPDATE accounts SET fromid_login_addresses = ARRAY(SELECT DISTINCT unnest($2::text[])"
			" ORDER BY 1) WHERE id = $1", 2, params);
	buf_free(&arr);
	return rc;
}

/* ---- retired periods ---- */

int
acct_api_keep_retired_save(struct web_call *call)
{
	int64_t msg = web_call_int(call, 0), hook = web_call_int(call, 1);
	const char *params[3];

	if (msg < 0 || msg > KEEP_MAX_SECONDS || hook < 0 || hook > KEEP_MAX_SECONDS)
		return web_call_error(call, "user:error",
			"periods are seconds from 0 (keep nothing) to ten years");
	params[0] = db_i64(call->req->account_id);
	params[1] = db_i64(msg);
	params[2] = db_i64(hook);
	return web_call_cmd(call, "saving retired periods",
		"UPDATE accounts SET keep_retired_message_period = $2::bigint * interval '1 second',"
		" keep_retired_webhook_period = $3::bigint * interval '1 second' WHERE id = $1",
		3, params);
}

/* ---- rejects and junk filter ---- */

int
acct_api_rejects_save(struct web_call *call)
{
	const char *mailbox = web_call_str(call, 0), *error, *params[3];
	struct buf norm;
	int rc;

	buf_init(&norm);
	if (mailbox[0] != '\0' && store_mailbox_name_norm(mailbox, &norm, &error) < 0) {
		buf_free(&norm);
		return web_call_error(call, "user:error", "rejects mailbox: %s", error);
	}
	if (strcmp(norm.data, "Inbox") == 0) {
		buf_free(&norm);
		return web_call_error(call, "user:error", "the rejects mailbox cannot be the Inbox");
	}
	params[0] = db_i64(call->req->account_id);
	params[1] = norm.data;
	params[2] = web_call_bool(call, 1) ? "true" : "false";
	rc = web_call_cmd(call, "saving rejects settings",
		"UPDATE accounts SET rejects_mailbox = $2, keep_rejects = $3 WHERE id = $1", 3, params);
	buf_free(&norm);
	return rc;
}

/* The junk filter settings the reference's Bayesian filter has: a number
 * in [lo, hi] (non-integers allowed) or a boolean. */
struct junk_key {
	const char *name;
	enum json_type type;
	double lo, hi;
};

static const struct junk_key junk_keys[] = {
	{ "threshold", json_type_double, 0, 1 },
	{ "onegrams", json_type_boolean, 0, 0 },
	{ "twograms", json_type_boolean, 0, 0 },
	{ "threegrams", json_type_boolean, 0, 0 },
	{ "maxPower", json_type_double, 0, 1 },
	{ "topWords", json_type_int, 0, 1000 },
	{ "ignoreWords", json_type_double, 0, 1 },
	{ "rareWords", json_type_int, 0, 1000 },
};

int
acct_api_junk_filter_save(struct web_call *call)
{
	struct json_object *jf = call->params[0], *out;
	const char *params[2];
	size_t i;
	int rc;

	if (jf == NULL) {
		params[0] = db_i64(call->req->account_id);
		return web_call_cmd(call, "saving junk filter",
			"UPDATE accounts SET junk_filter = NULL WHERE id = $1", 1, params);
	}
	if (!json_object_is_type(jf, json_type_object))
		return web_call_error(call, "user:badParams", "junkFilter must be an object or null");
	json_object_object_foreach(jf, key, val) {
		for (i = 0; i < MS_NELEM(junk_keys); i++)
			if (strcmp(junk_keys[i].name, key) == 0)
				break;
		if (i == MS_NELEM(junk_keys))
			return web_call_error(call, "user:error", "unknown junk filter setting %s", key);
		(void)val;
	}
	out = json_object_new_object();
	for (i = 0; i < MS_NELEM(junk_keys); i++) {
		const struct junk_key *k = &junk_keys[i];
		struct json_object *v;

		if (!json_object_object_get_ex(jf, k->name, &v)) {
			json_object_put(out);
			return web_call_error(call, "user:error", "junk filter setting %s missing", k->name);
		}
		if (k->type == json_type_boolean) {
			if (!json_object_is_type(v, json_type_boolean)) {
				json_object_put(out);
				return web_call_error(call, "user:error", "%s must be true or false", k->name);
			}
			json_object_object_add(out, k->name, json_object_new_boolean(json_object_get_boolean(v)));
		} else {
			double d = json_object_get_double(v);

			if ((!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int)) ||
			    !isfinite(d) || d < k->lo || d > k->hi ||
			    (k->type == json_type_int && d != floor(d))) {
				json_object_put(out);
				return web_call_error(call, "user:error", "%s must be a%s number from %g to %g",
					k->name, k->type == json_type_int ? " whole" : "", k->lo, k->hi);
			}
			json_object_object_add(out, k->name, k->type == json_type_int ?
				json_object_new_int64((int64_t)d) : json_object_new_double(d));
		}
	}
	params[0] = db_i64(call->req->account_id);
	params[1] = json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN);
	rc = web_call_cmd(call, "saving junk filter",
		"UPDATE accounts SET junk_filter = $2::jsonb WHERE id = $1", 2, params);
	json_object_put(out);
	return rc;
}

/* ---- suppression list ---- */

static struct json_object *
suppression_json(const struct queue_suppression *s)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_int64(s->id));
	json_object_object_add(o, "created", json_object_new_int64(s->created));
	json_object_object_add(o, "baseAddress", json_object_new_string(s->base_address));
	json_object_object_add(o, "originalAddress", json_object_new_string(s->original_address));
	json_object_object_add(o, "manual", json_object_new_boolean(s->manual));
	json_object_object_add(o, "reason", json_object_new_string(s->reason));
	return o;
}

int
acct_api_suppression_list(struct web_call *call)
{
	struct queue_suppression *v;
	struct json_object *a;
	const char *error;
	size_t i, n;

	if (queue_suppression_list(web_env_store(call->req->env), call->req->account_id, &v, &n,
	    &error) < 0)
		return web_call_server_error(call, "listing suppressions", error);
	a = json_object_new_array();
	for (i = 0; i < n; i++)
		json_object_array_add(a, suppression_json(&v[i]));
	queue_suppressions_free(v, n);
	call->result = a;
	return 0;
}

/* Parse an address typed by the user (SMTPUTF8 allowed). */
static int
parse_user_address(struct web_call *call, const char *s, struct mail_addr *a)
{
	const char *error;

	if (mail_addr_parse_mailbox(s, strlen(s), true, a, &error) < 0)
		return web_call_error(call, "user:error", "bad address %s: %s", s, error);
	return 0;
}

int
acct_api_suppression_add(struct web_call *call)
{
	const char *reason = web_call_str(call, 2), *error;
	struct mail_addr a;
	int rc;

	if (!acct_text_ok(reason, REASON_MAX))
		return web_call_error(call, "user:error", "reason must be at most %d characters", REASON_MAX);
	if (parse_user_address(call, web_call_str(call, 0), &a) < 0)
		return -1;
	rc = queue_suppression_add(web_env_store(call->req->env), call->req->account_id, a.localpart,
		a.domain, web_call_bool(call, 1), reason, &error);
	mail_addr_free(&a);
	if (rc < 0)
		return web_call_server_error(call, "adding suppression", error);
	if (rc == 1)
		return web_call_error(call, "user:error", "address is already on the suppression list");
	return 0;
}

int
acct_api_suppression_remove(struct web_call *call)
{
	const char *error;
	struct mail_addr a;
	int rc;

	if (parse_user_address(call, web_call_str(call, 0), &a) < 0)
		return -1;
	rc = queue_suppression_remove(web_env_store(call->req->env), call->req->account_id,
		a.localpart, a.domain, &error);
	mail_addr_free(&a);
	if (rc < 0)
		return web_call_server_error(call, "removing suppression", error);
	if (rc == 0)
		return web_call_error(call, "user:notFound", "address is not on the suppression list");
	return 0;
}

/* ---- TLS public keys ---- */

static struct json_object *
pubkey_json(const struct store_tlspubkey *k)
{
	struct json_object *o = json_object_new_object();
	struct buf pem;

	json_object_object_add(o, "fingerprint", json_object_new_string(k->fingerprint));
	json_object_object_add(o, "type", json_object_new_string(k->type));
	json_object_object_add(o, "name", json_object_new_string(k->name));
	json_object_object_add(o, "noIMAPPreauth", json_object_new_boolean(k->no_imap_preauth));
	json_object_object_add(o, "loginAddress", json_object_new_string(k->login_address));
	json_object_object_add(o, "created", json_object_new_int64(k->created));
	buf_init(&pem);
	ms_base64_encode(&pem, k->cert_der.data, k->cert_der.len);
	json_object_object_add(o, "certDER", json_object_new_string(pem.data));
	buf_free(&pem);
	return o;
}

int
acct_api_tlspubkeys(struct web_call *call)
{
	struct store_tlspubkey *ks;
	struct json_object *a;
	const char *error;
	size_t i, n;

	if (store_tlspubkey_list(web_env_store(call->req->env), call->req->account_id, &ks, &n,
	    &error) < 0)
		return web_call_server_error(call, "listing TLS public keys", error);
	a = json_object_new_array();
	for (i = 0; i < n; i++)
		json_object_array_add(a, pubkey_json(&ks[i]));
	store_tlspubkeys_free(ks, n);
	call->result = a;
	return 0;
}

/* The login address of a key must be one of the account's addresses (the
 * store checks it too, but its refusal reads like a server error). */
static int
check_login_address(struct web_call *call, const char *addr)
{
	int64_t id;

	return acct_own_address(call, addr, &id) == 1 ? 0 : -1;
}

int
acct_api_tlspubkey_add(struct web_call *call)
{
	const char *login = web_call_str(call, 0), *name = web_call_str(call, 1);
	const char *pem = web_call_str(call, 3), *error;
	struct store_tlspubkey k;
	struct buf fp, type, cn;
	int rc = -1;

	if (!acct_text_ok(name, PUBKEY_NAME_MAX))
		return web_call_error(call, "user:error", "name must be at most %d characters",
			PUBKEY_NAME_MAX);
	if (strlen(pem) > PEM_MAX)
		return web_call_error(call, "user:error", "certificate too large");
	if (check_login_address(call, login) < 0)
		return -1;
	memset(&k, 0, sizeof(k));
	buf_init(&fp);
	buf_init(&type);
	buf_init(&cn);
	buf_init(&k.cert_der);
	if (tls_pubkey_fingerprint_from_cert(pem, strlen(pem), &fp, &k.cert_der, &error) < 0 ||
	    tls_pubkey_describe(k.cert_der.data, k.cert_der.len, &type, &cn, &error) < 0) {
		web_call_error(call, "user:error", "certificate: %s", error);
		goto out;
	}
	k.fingerprint = fp.data;
	k.type = type.data;
	k.name = (char *)(name[0] != '\0' ? name : cn.data);
	k.no_imap_preauth = web_call_bool(call, 2);
	k.account_id = call->req->account_id;
	k.login_address = (char *)login;
	if (store_tlspubkey_add(web_env_store(call->req->env), &k, &error) < 0) {
		if (strcmp(db_last_sqlstate(), "23505") == 0)
			web_call_error(call, "user:error", "this public key is already registered");
		else
			web_call_server_error(call, "adding TLS public key", error);
		goto out;
	}
	k.created = ms_now();
	call->result = pubkey_json(&k);
	log_info(call->req->cid, "proto=http app=account ev=tlspubkey-added account=%s fingerprint=%s",
		lq(call->req->account_name), lq(fp.data));
	rc = 0;
out:
	buf_free(&fp);
	buf_free(&type);
	buf_free(&cn);
	buf_free(&k.cert_der);
	return rc;
}

int
acct_api_tlspubkey_update(struct web_call *call)
{
	struct json_object *o = call->params[0], *v;
	struct store_tlspubkey k, cur;
	const char *error;
	int rc;

	memset(&k, 0, sizeof(k));
	if (!json_object_object_get_ex(o, "fingerprint", &v) || !json_object_is_type(v, json_type_string))
		return web_call_error(call, "user:badParams", "pubKey.fingerprint must be a string");
	k.fingerprint = (char *)json_object_get_string(v);
	/* Only a key of this account may be changed. */
	rc = store_tlspubkey_lookup(web_env_store(call->req->env), k.fingerprint, &cur, &error);
	if (rc < 0)
		return web_call_server_error(call, "looking up TLS public key", error);
	if (rc == 0 || cur.account_id != call->req->account_id) {
		if (rc == 1)
			store_tlspubkey_free(&cur);
		return web_call_error(call, "user:notFound", "no such TLS public key");
	}
	k.name = web_strdup(call->req, cur.name);
	k.login_address = web_strdup(call->req, cur.login_address);
	k.no_imap_preauth = cur.no_imap_preauth;
	store_tlspubkey_free(&cur);
	if (json_object_object_get_ex(o, "name", &v)) {
		if (!json_object_is_type(v, json_type_string) ||
		    !acct_text_ok(json_object_get_string(v), PUBKEY_NAME_MAX))
			return web_call_error(call, "user:error", "name must be at most %d characters",
				PUBKEY_NAME_MAX);
		k.name = (char *)json_object_get_string(v);
	}
	if (json_object_object_get_ex(o, "loginAddress", &v)) {
		if (!json_object_is_type(v, json_type_string))
			return web_call_error(call, "user:badParams", "loginAddress must be a string");
		k.login_address = (char *)json_object_get_string(v);
		if (check_login_address(call, k.login_address) < 0)
			return -1;
	}
	if (json_object_object_get_ex(o, "noIMAPPreauth", &v)) {
		if (!json_object_is_type(v, json_type_boolean))
			return web_call_error(call, "user:badParams", "noIMAPPreauth must be a boolean");
		k.no_imap_preauth = json_object_get_boolean(v);
	}
	k.account_id = call->req->account_id;
	rc = store_tlspubkey_update(web_env_store(call->req->env), &k, &error);
	if (rc < 0)
		return web_call_server_error(call, "updating TLS public key", error);
	if (rc == 0)
		return web_call_error(call, "user:notFound", "no such TLS public key");
	return 0;
}

int
acct_api_tlspubkey_remove(struct web_call *call)
{
	const char *error;
	int rc;

	rc = store_tlspubkey_remove(web_env_store(call->req->env), web_call_str(call, 0),
		call->req->account_id, &error);
	if (rc < 0)
		return web_call_server_error(call, "removing TLS public key", error);
	if (rc == 0)
		return web_call_error(call, "user:notFound", "no such TLS public key");
	return 0;
}
