/* Admin API: accounts, addresses, aliases and TLS public keys (the
 * reference's webadmin Account*, Address*, Alias* methods). Changes go
 * through the store functions "mailstead account|address|alias" use. */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_private.h"
#include "core/log.h"
#include "core/util.h"
#include "queue/queue.h"
#include "queue/webhook.h"
#include "store/store_rules.h"

#define PASSWORD_MIN 8

int
admin_api_accounts(struct web_call *call)
{
	struct json_object *arr;
	PGresult *res;
	int i;

	res = admin_query(call, "listing accounts",
		"SELECT a.name, d.name, a.full_name, coalesce(a.login_disabled, ''),"
		" a.quota_message_size, a.disk_usage,"
		" (SELECT count(*) FROM addresses ad WHERE ad.account_id = a.id)"
		" FROM accounts a JOIN domains d ON d.id = a.domain_id ORDER BY a.name", 0);
	if (res == NULL)
		return -1;
	arr = json_object_new_array();
	for (i = 0; i < PQntuples(res); i++) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "name", admin_str(PQgetvalue(res, i, 0)));
		json_object_object_add(o, "domain", admin_str(PQgetvalue(res, i, 1)));
		json_object_object_add(o, "fullName", admin_str(PQgetvalue(res, i, 2)));
		json_object_object_add(o, "loginDisabled", admin_str(PQgetvalue(res, i, 3)));
		json_object_object_add(o, "quotaMessageSize", json_object_new_int64(db_get_i64(res, i, 4)));
		json_object_object_add(o, "diskUsage", json_object_new_int64(db_get_i64(res, i, 5)));
		json_object_object_add(o, "addresses", json_object_new_int64(db_get_i64(res, i, 6)));
		json_object_array_add(arr, o);
	}
	PQclear(res);
	call->result = arr;
	return 0;
}

/* Account(account) -> settings, addresses with their settings, aliases
 * it is a member of, webhook URLs (not their Authorization). */
int
admin_api_account(struct web_call *call)
{
	struct json_object *o, *arr;
	const char *id;
	int64_t aid;
	PGresult *res;
	int i;

	if (admin_param_account(call, 0, &aid) < 0)
		return -1;
	id = db_i64(aid);
	res = admin_query(call, "reading account",
		"SELECT a.name, d.name, a.full_name, coalesce(a.login_disabled, ''),"
		" a.quota_message_size, a.disk_usage, a.max_outgoing_messages_per_day,"
		" a.max_first_time_recipients_per_day,"
		" extract(epoch FROM a.keep_retired_message_period)::bigint,"
		" a.outgoing_webhook_url, a.incoming_webhook_url,"
		" extract(epoch FROM a.created)::bigint,"
		" EXISTS (SELECT 1 FROM credentials c WHERE c.account_id = a.id),"
		" extract(epoch FROM a.keep_retired_webhook_period)::bigint,"
		" array_to_string(a.outgoing_webhook_events, ','),"
		" a.outgoing_webhook_authorization <> '', a.incoming_webhook_authorization <> ''"
		" FROM accounts a JOIN domains d ON d.id = a.domain_id WHERE a.id = $1", 1, id);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return web_call_error(call, "user:notFound", "account no longer exists");
	}
	o = json_object_new_object();
	json_object_object_add(o, "name", admin_str(PQgetvalue(res, 0, 0)));
	json_object_object_add(o, "domain", admin_str(PQgetvalue(res, 0, 1)));
	json_object_object_add(o, "fullName", admin_str(PQgetvalue(res, 0, 2)));
	json_object_object_add(o, "loginDisabled", admin_str(PQgetvalue(res, 0, 3)));
	json_object_object_add(o, "quotaMessageSize", json_object_new_int64(db_get_i64(res, 0, 4)));
	json_object_object_add(o, "diskUsage", json_object_new_int64(db_get_i64(res, 0, 5)));
	json_object_object_add(o, "maxOutgoingMessagesPerDay",
		json_object_new_int64(db_get_i64(res, 0, 6)));
	json_object_object_add(o, "maxFirstTimeRecipientsPerDay",
		json_object_new_int64(db_get_i64(res, 0, 7)));
	json_object_object_add(o, "keepRetiredMessageSeconds",
		json_object_new_int64(db_get_i64(res, 0, 8)));
	json_object_object_add(o, "outgoingWebhookURL", admin_str(PQgetvalue(res, 0, 9)));
	json_object_object_add(o, "incomingWebhookURL", admin_str(PQgetvalue(res, 0, 10)));
	json_object_object_add(o, "created", json_object_new_int64(db_get_i64(res, 0, 11)));
	json_object_object_add(o, "hasPassword", json_object_new_boolean(db_get_bool(res, 0, 12)));
	json_object_object_add(o, "keepRetiredWebhookSeconds",
		json_object_new_int64(db_get_i64(res, 0, 13)));
	arr = json_object_new_array();
	{
		/* Outgoing events, [] for all; Authorization values are secrets:
		 * only whether one is set. */
		const char *p = PQgetvalue(res, 0, 14);

		while (*p != '\0') {
			size_t n = strcspn(p, ",");

			json_object_array_add(arr, json_object_new_string_len(p, (int)n));
			p += n;
			p += strspn(p, ",");
		}
	}
	json_object_object_add(o, "outgoingWebhookEvents", arr);
	json_object_object_add(o, "outgoingWebhookAuthorization",
		json_object_new_boolean(db_get_bool(res, 0, 15)));
	json_object_object_add(o, "incomingWebhookAuthorization",
		json_object_new_boolean(db_get_bool(res, 0, 16)));
	PQclear(res);

	res = admin_query(call, "reading account",
		"SELECT ad.localpart || '@' || d.name, ad.mailbox, coalesce(ad.smtp_error, ''),"
		" coalesce(ad.message_auth_required_smtp_error, ''), ad.full_name,"
		" (SELECT count(*) FROM rulesets r WHERE r.address_id = ad.id)"
		" FROM addresses ad JOIN domains d ON d.id = ad.domain_id WHERE ad.account_id = $1"
		" ORDER BY d.name, ad.localpart", 1, id);
	if (res == NULL)
		goto fail;
	arr = json_object_new_array();
	for (i = 0; i < PQntuples(res); i++) {
		struct json_object *a = json_object_new_object();

		json_object_object_add(a, "address", admin_str(PQgetvalue(res, i, 0)));
		json_object_object_add(a, "mailbox", admin_str(PQgetvalue(res, i, 1)));
		json_object_object_add(a, "smtpError", admin_str(PQgetvalue(res, i, 2)));
		json_object_object_add(a, "messageAuthRequiredSmtpError",
			admin_str(PQgetvalue(res, i, 3)));
		json_object_object_add(a, "fullName", admin_str(PQgetvalue(res, i, 4)));
		json_object_object_add(a, "rulesets", json_object_new_int64(db_get_i64(res, i, 5)));
		json_object_array_add(arr, a);
	}
	PQclear(res);
	json_object_object_add(o, "addresses", arr);

	res = admin_query(call, "reading account",
		"SELECT DISTINCT al.localpart || '@' || d.name FROM aliases al"
		" JOIN domains d ON d.id = al.domain_id JOIN alias_members m ON m.alias_id = al.id"
		" WHERE m.address IN (SELECT ad.localpart || '@' || dd.name FROM addresses ad"
		"  JOIN domains dd ON dd.id = ad.domain_id WHERE ad.account_id = $1)"
		" ORDER BY 1", 1, id);
	if (res == NULL)
		goto fail;
	arr = json_object_new_array();
	for (i = 0; i < PQntuples(res); i++)
		json_object_array_add(arr, admin_str(PQgetvalue(res, i, 0)));
	PQclear(res);
	json_object_object_add(o, "aliases", arr);
	call->result = o;
	return 0;
fail:
	json_object_put(o);
	return -1;
}

/* AccountAdd(address) -> account name: as "mailstead account add". */
int
admin_api_account_add(struct web_call *call)
{
	struct mail_addr a;
	const char *err;
	PGresult *res;
	int64_t id;

	if (admin_param_address(call, 0, false, &a) < 0)
		return -1;
	if (store_account_add(admin_store(call), a.localpart, a.domain, &id, &err) < 0) {
		mail_addr_free(&a);
		return admin_fail(call, "adding account", err);
	}
	mail_addr_free(&a);
	res = admin_query(call, "adding account", "SELECT name FROM accounts WHERE id = $1", 1,
		db_i64(id));
	if (res == NULL)
		return -1;
	call->result = admin_str(PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "");
	PQclear(res);
	admin_log(call, "account-added", json_object_get_string(call->result));
	return 0;
}

int
admin_api_account_remove(struct web_call *call)
{
	const char *err;
	int64_t id;

	if (admin_param_account(call, 0, &id) < 0)
		return -1;
	/* Sessions first, so every process's session cache hears of it. */
	if (web_sessions_remove_account(call->req->env, id, NULL, &err) < 0)
		return web_call_server_error(call, "removing sessions", err);
	if (store_account_remove(admin_store(call), id, &err) < 0)
		return admin_fail(call, "removing account", err);
	admin_log(call, "account-removed", web_call_str(call, 0));
	call->result = NULL;
	return 0;
}

/* SetPassword(account, password): as "setaccountpassword"; ends the
 * account's web sessions. */
int
admin_api_set_password(struct web_call *call)
{
	const char *pw = web_call_str(call, 1), *err;
	int64_t id;

	if (admin_param_account(call, 0, &id) < 0)
		return -1;
	if (strlen(pw) < PASSWORD_MIN)
		return web_call_error(call, "user:error",
			"parameter 2 (password) must be at least %d characters", PASSWORD_MIN);
	if (store_password_set(admin_store(call), id, pw, &err) < 0)
		return admin_fail(call, "setting password", err);
	if (web_sessions_remove_account(call->req->env, id, NULL, &err) < 0)
		return web_call_server_error(call, "removing sessions", err);
	admin_log(call, "password-set", web_call_str(call, 0));
	call->result = NULL;
	return 0;
}

static int
account_set(struct web_call *call, int64_t id, enum store_account_setting what,
	const char *value)
{
	const char *err;

	if (store_account_set(admin_store(call), id, what, value, &err) < 0)
		return admin_fail(call, "changing account", err);
	return 0;
}

/* AccountLoginDisabledSave(account, message): "" allows logins. A
 * disabled account's web sessions end. */
int
admin_api_account_login_disabled_save(struct web_call *call)
{
	const char *msg = web_call_str(call, 1), *err;
	int64_t id;

	if (admin_param_account(call, 0, &id) < 0 ||
	    account_set(call, id, STORE_ACCOUNT_LOGIN_DISABLED, msg) < 0)
		return -1;
	if (msg[0] != '\0' && web_sessions_remove_account(call->req->env, id, NULL, &err) < 0)
		return web_call_server_error(call, "removing sessions", err);
	admin_log(call, msg[0] ? "login-disabled" : "login-enabled", web_call_str(call, 0));
	call->result = NULL;
	return 0;
}

/* AccountSettingsSave(account, maxOutgoingMessagesPerDay,
 * maxFirstTimeRecipientsPerDay, quotaMessageSize) */
int
admin_api_account_settings_save(struct web_call *call)
{
	static const struct {
		const char *name;
		enum store_account_setting what;
		int64_t min;
	} v[] = {
		{ "maxOutgoingMessagesPerDay", STORE_ACCOUNT_MAX_OUTGOING, 1 },
		{ "maxFirstTimeRecipientsPerDay", STORE_ACCOUNT_MAX_FIRST_TIME, 1 },
		{ "quotaMessageSize", STORE_ACCOUNT_QUOTA, 0 },
	};
	int64_t id;
	size_t i;

	if (admin_param_account(call, 0, &id) < 0)
		return -1;
	/* All values are checked before any is saved. */
	for (i = 0; i < MS_NELEM(v); i++) {
		int64_t n = web_call_int(call, i + 1);

		if (n < v[i].min || (v[i].what != STORE_ACCOUNT_QUOTA && n > INT32_MAX) ||
		    n > INT64_MAX / 2)
			return web_call_error(call, "user:error",
				"parameter %zu (%s) out of range: %lld", i + 2, v[i].name, (long long)n);
	}
	for (i = 0; i < MS_NELEM(v); i++)
		if (account_set(call, id, v[i].what, db_i64(web_call_int(call, i + 1))) < 0)
			return -1;
	admin_log(call, "account-settings", web_call_str(call, 0));
	call->result = NULL;
	return 0;
}

int
admin_api_account_full_name_save(struct web_call *call)
{
	int64_t id;

	if (admin_param_account(call, 0, &id) < 0 ||
	    account_set(call, id, STORE_ACCOUNT_FULL_NAME, web_call_str(call, 1)) < 0)
		return -1;
	call->result = NULL;
	return 0;
}

/* AddressAdd(address, account): "@domain" makes the catch-all. */
int
admin_api_address_add(struct web_call *call)
{
	struct mail_addr a;
	const char *err;
	int64_t id;
	int rc = 0;

	if (admin_param_address(call, 0, true, &a) < 0)
		return -1;
	if (admin_param_account(call, 1, &id) < 0) {
		mail_addr_free(&a);
		return -1;
	}
	if (store_address_add(admin_store(call), a.localpart, a.domain, id, &err) < 0)
		rc = admin_fail(call, "adding address", err);
	else
		admin_log(call, "address-added", web_call_str(call, 0));
	mail_addr_free(&a);
	call->result = NULL;
	return rc;
}

int
admin_api_address_remove(struct web_call *call)
{
	struct mail_addr a;
	const char *err;
	int rc = 0;

	if (admin_param_address(call, 0, true, &a) < 0)
		return -1;
	if (store_address_remove(admin_store(call), a.localpart, a.domain, &err) < 0)
		rc = admin_fail(call, "removing address", err);
	else
		admin_log(call, "address-removed", web_call_str(call, 0));
	mail_addr_free(&a);
	call->result = NULL;
	return rc;
}

/* AddressSettingSave(address, setting, value): the settings of "mailstead
 * address set" (mailbox, smtp-error, message-auth-required-smtp-error,
 * full-name). */
int
admin_api_address_setting_save(struct web_call *call)
{
	static const struct {
		const char *name;
		enum store_address_setting what;
	} settings[] = {
		{ "mailbox", STORE_ADDRESS_MAILBOX },
		{ "smtp-error", STORE_ADDRESS_SMTP_ERROR },
		{ "message-auth-required-smtp-error", STORE_ADDRESS_AUTH_ERROR },
		{ "full-name", STORE_ADDRESS_FULL_NAME },
	};
	const char *name = web_call_str(call, 1), *err;
	struct mail_addr a;
	size_t i;
	int rc = 0;

	for (i = 0; i < MS_NELEM(settings); i++)
		if (strcmp(name, settings[i].name) == 0)
			break;
	if (i == MS_NELEM(settings))
		return web_call_error(call, "user:error", "parameter 2 (setting): unknown setting %s "
			"(mailbox, smtp-error, message-auth-required-smtp-error, full-name)", name);
	if (admin_param_address(call, 0, true, &a) < 0)
		return -1;
	if (store_address_set(admin_store(call), a.localpart, a.domain, settings[i].what,
		    web_call_str(call, 2), &err) < 0)
		rc = admin_fail(call, "changing address", err);
	mail_addr_free(&a);
	call->result = NULL;
	return rc;
}

/* Aliases(domain) -> [{address, postPublic, listMembers, allowMsgFrom,
 * members}]; domain "" for all. */
int
admin_api_aliases(struct web_call *call)
{
	struct store_alias *v = NULL;
	struct json_object *arr;
	const char *err;
	char *dom = NULL;
	size_t n = 0, i, j;

	if (web_call_str(call, 0)[0] != '\0' && admin_param_domain(call, 0, &dom) < 0)
		return -1;
	if (store_alias_list(admin_store(call), dom, &v, &n, &err) < 0) {
		free(dom);
		return web_call_server_error(call, "listing aliases", err);
	}
	free(dom);
	arr = json_object_new_array();
	for (i = 0; i < n; i++) {
		struct json_object *o = json_object_new_object(), *m = json_object_new_array();

		json_object_object_add(o, "address", admin_str(v[i].address));
		json_object_object_add(o, "postPublic", json_object_new_boolean(v[i].post_public));
		json_object_object_add(o, "listMembers", json_object_new_boolean(v[i].list_members));
		json_object_object_add(o, "allowMsgFrom", json_object_new_boolean(v[i].allow_msg_from));
		for (j = 0; j < v[i].nmembers; j++)
			json_object_array_add(m, admin_str(v[i].members[j].address));
		json_object_object_add(o, "members", m);
		json_object_array_add(arr, o);
	}
	store_aliases_free(v, n);
	call->result = arr;
	return 0;
}

/* The strings of a WJ_STRING_ARRAY parameter (pointers into the call's
 * JSON; the array is malloc'd). */
static const char **
strings(struct web_call *call, size_t i, size_t *n_r)
{
	struct json_object *a = call->params[i];
	size_t n = json_object_array_length(a), k;
	const char **v = xcalloc(n + 1, sizeof(*v));

	for (k = 0; k < n; k++)
		v[k] = json_object_get_string(json_object_array_get_idx(a, k));
	*n_r = n;
	return v;
}

/* AliasAdd(alias, members, postPublic, listMembers, allowMsgFrom) */
int
admin_api_alias_add(struct web_call *call)
{
	struct mail_addr a;
	const char **members, *err;
	size_t n;
	int rc = 0;

	if (admin_param_address(call, 0, false, &a) < 0)
		return -1;
	members = strings(call, 1, &n);
	if (store_alias_add(admin_store(call), a.localpart, a.domain, web_call_bool(call, 2),
		    web_call_bool(call, 3), web_call_bool(call, 4), members, n, &err) < 0)
		rc = admin_fail(call, "adding alias", err);
	else
		admin_log(call, "alias-added", web_call_str(call, 0));
	free(members);
	mail_addr_free(&a);
	call->result = NULL;
	return rc;
}

/* AliasUpdate(alias, postPublic, listMembers, allowMsgFrom) */
int
admin_api_alias_update(struct web_call *call)
{
	static const enum store_alias_setting what[] = {
		STORE_ALIAS_POST_PUBLIC, STORE_ALIAS_LIST_MEMBERS, STORE_ALIAS_ALLOW_MSG_FROM,
	};
	struct mail_addr a;
	const char *err;
	size_t i;
	int rc = 0;

	if (admin_param_address(call, 0, false, &a) < 0)
		return -1;
	for (i = 0; i < MS_NELEM(what) && rc == 0; i++)
		if (store_alias_set(admin_store(call), a.localpart, a.domain, what[i],
			    web_call_bool(call, i + 1), &err) < 0)
			rc = admin_fail(call, "changing alias", err);
	mail_addr_free(&a);
	call->result = NULL;
	return rc;
}

int
admin_api_alias_remove(struct web_call *call)
{
	struct mail_addr a;
	const char *err;
	int rc = 0;

	if (admin_param_address(call, 0, false, &a) < 0)
		return -1;
	if (store_alias_remove(admin_store(call), a.localpart, a.domain, &err) < 0)
		rc = admin_fail(call, "removing alias", err);
	else
		admin_log(call, "alias-removed", web_call_str(call, 0));
	mail_addr_free(&a);
	call->result = NULL;
	return rc;
}

static int
alias_members(struct web_call *call, bool add)
{
	struct mail_addr a;
	const char **members, *err;
	size_t n;
	int rc = 0;

	if (admin_param_address(call, 0, false, &a) < 0)
		return -1;
	members = strings(call, 1, &n);
	if ((add ? store_alias_members_add : store_alias_members_remove)(admin_store(call),
		    a.localpart, a.domain, members, n, &err) < 0)
		rc = admin_fail(call, add ? "adding alias members" : "removing alias members", err);
	free(members);
	mail_addr_free(&a);
	call->result = NULL;
	return rc;
}

int
admin_api_alias_addresses_add(struct web_call *call)
{
	return alias_members(call, true);
}

int
admin_api_alias_addresses_remove(struct web_call *call)
{
	return alias_members(call, false);
}

/* TLSPublicKeys(account) -> [{fingerprint, type, name, account,
 * loginAddress, noIMAPPreauth, created}]; account "" for all. */
int
admin_api_tls_public_keys(struct web_call *call)
{
	struct store_tlspubkey *keys = NULL;
	struct json_object *arr;
	const char *err;
	int64_t id = 0;
	size_t n = 0, i;

	if (web_call_str(call, 0)[0] != '\0' && admin_param_account(call, 0, &id) < 0)
		return -1;
	if (store_tlspubkey_list(admin_store(call), id, &keys, &n, &err) < 0)
		return web_call_server_error(call, "listing TLS public keys", err);
	arr = json_object_new_array();
	for (i = 0; i < n; i++) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "fingerprint", admin_str(keys[i].fingerprint));
		json_object_object_add(o, "type", admin_str(keys[i].type));
		json_object_object_add(o, "name", admin_str(keys[i].name));
		json_object_object_add(o, "account", admin_str(keys[i].account_name));
		json_object_object_add(o, "loginAddress", admin_str(keys[i].login_address));
		json_object_object_add(o, "noIMAPPreauth", json_object_new_boolean(keys[i].no_imap_preauth));
		json_object_object_add(o, "created", json_object_new_int64(keys[i].created));
		json_object_array_add(arr, o);
	}
	store_tlspubkeys_free(keys, n);
	call->result = arr;
	return 0;
}

/* AccountWebhookSave(account, kind, url, authorization, events): kind
 * "outgoing" or "incoming"; url "" turns them off; events (outgoing only)
 * the events to send, [] for all. As "mailstead account webhook set". */
int
admin_api_account_webhook_save(struct web_call *call)
{
	const char *kind = web_call_str(call, 1), *err;
	struct json_object *ev = call->params[4];
	bool incoming = strcmp(kind, "incoming") == 0;
	struct buf events;
	int64_t id;
	size_t i;
	int rc = 0;

	if (!incoming && strcmp(kind, "outgoing") != 0)
		return web_call_error(call, "user:error",
			"parameter 2 (kind) must be outgoing or incoming, not %s", kind);
	if (incoming && json_object_array_length(ev) > 0)
		return web_call_error(call, "user:error",
			"parameter 5 (events): incoming webhooks have no events");
	if (admin_param_account(call, 0, &id) < 0)
		return -1;
	buf_init(&events);
	for (i = 0; i < json_object_array_length(ev); i++)
		buf_printf(&events, "%s%s", i ? "," : "",
			json_object_get_string(json_object_array_get_idx(ev, i)));
	if (webhook_account_set(admin_store(call), id, incoming, web_call_str(call, 2),
		    web_call_str(call, 3), incoming ? NULL : events.data, &err) < 0)
		rc = admin_fail(call, "saving webhook", err);
	else
		admin_log(call, "webhook-saved", web_call_str(call, 0));
	buf_free(&events);
	call->result = NULL;
	return rc;
}

/* AccountKeepRetiredSave(account, messageSeconds, webhookSeconds): how
 * long delivery history and finished webhook calls are kept (0: not). */
int
admin_api_account_keep_retired_save(struct web_call *call)
{
	int64_t msgs = web_call_int(call, 1), hooks = web_call_int(call, 2), id;
	const char *err;

	if (msgs < 0 || msgs > 10ll * 366 * 86400 || hooks < 0 || hooks > 10ll * 366 * 86400)
		return web_call_error(call, "user:error",
			"parameters 2 and 3 are seconds from 0 to 10 years");
	if (admin_param_account(call, 0, &id) < 0 ||
	    account_set(call, id, STORE_ACCOUNT_KEEP_RETIRED, db_i64(msgs)) < 0)
		return -1;
	if (webhook_account_set_keep(admin_store(call), id, hooks, &err) < 0)
		return admin_fail(call, "saving webhook period", err);
	call->result = NULL;
	return 0;
}

/* TLSPublicKeyRemove(fingerprint): as "mailstead tlspubkey rm". */
int
admin_api_tls_public_key_remove(struct web_call *call)
{
	const char *err;
	int rc = store_tlspubkey_remove(admin_store(call), web_call_str(call, 0), 0, &err);

	if (rc < 0)
		return admin_fail(call, "removing TLS public key", err);
	if (rc == 0)
		return web_call_error(call, "user:notFound", "no TLS public key %s",
			web_call_str(call, 0));
	admin_log(call, "tlspubkey-removed", web_call_str(call, 0));
	call->result = NULL;
	return 0;
}

/* Suppressions(account) -> [{id, account, baseAddress, originalAddress,
 * manual, reason, created}]; account "" for all. */
int
admin_api_suppressions(struct web_call *call)
{
	struct queue_suppression *v = NULL;
	struct json_object *arr;
	const char *err;
	int64_t id = 0;
	size_t n = 0, i;

	if (web_call_str(call, 0)[0] != '\0' && admin_param_account(call, 0, &id) < 0)
		return -1;
	if (queue_suppression_list(admin_store(call), id, &v, &n, &err) < 0)
		return web_call_server_error(call, "listing suppressions", err);
	arr = json_object_new_array();
	for (i = 0; i < n; i++) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "id", json_object_new_int64(v[i].id));
		json_object_object_add(o, "account", admin_str(v[i].account));
		json_object_object_add(o, "baseAddress", admin_str(v[i].base_address));
		json_object_object_add(o, "originalAddress", admin_str(v[i].original_address));
		json_object_object_add(o, "manual", json_object_new_boolean(v[i].manual));
		json_object_object_add(o, "reason", admin_str(v[i].reason));
		json_object_object_add(o, "created", json_object_new_int64(v[i].created));
		json_object_array_add(arr, o);
	}
	queue_suppressions_free(v, n);
	call->result = arr;
	return 0;
}

/* SuppressionAdd(account, address, reason) -> true when added, false when
 * its base address was listed already. */
int
admin_api_suppression_add(struct web_call *call)
{
	const char *err, *reason = web_call_str(call, 2);
	struct mail_addr a;
	int64_t id;
	int rc;

	if (admin_param_account(call, 0, &id) < 0 || admin_param_address(call, 1, false, &a) < 0)
		return -1;
	rc = queue_suppression_add(admin_store(call), id, a.localpart, a.domain, true,
		reason[0] ? reason : "added by the admin", &err);
	mail_addr_free(&a);
	if (rc < 0)
		return admin_fail(call, "adding suppression", err);
	call->result = json_object_new_boolean(rc == 0);
	return 0;
}

int
admin_api_suppression_remove(struct web_call *call)
{
	struct mail_addr a;
	const char *err;
	int64_t id;
	int rc;

	if (admin_param_account(call, 0, &id) < 0 || admin_param_address(call, 1, false, &a) < 0)
		return -1;
	rc = queue_suppression_remove(admin_store(call), id, a.localpart, a.domain, &err);
	mail_addr_free(&a);
	if (rc < 0)
		return admin_fail(call, "removing suppression", err);
	if (rc == 0)
		return web_call_error(call, "user:notFound", "%s is not suppressed for %s",
			web_call_str(call, 1), web_call_str(call, 0));
	call->result = NULL;
	return 0;
}

/* ---- rulesets of an address ("mailstead ruleset"), in the JSON form of
 * the account interface: {mailbox, smtpMailFromRegexp, msgFromRegexp,
 * verifiedDomain, headersRegexp: {field: value}, isForward,
 * listAllowDomain, acceptRejectsToMailbox, comment} ---- */

static struct json_object *
ruleset_json(int pos, const struct store_ruleset *rs)
{
	struct json_object *o = json_object_new_object(), *h = json_object_new_object();
	size_t i;

	json_object_object_add(o, "position", json_object_new_int(pos));
	json_object_object_add(o, "mailbox", admin_str(rs->mailbox));
	json_object_object_add(o, "smtpMailFromRegexp", admin_str(rs->smtp_mailfrom_regexp));
	json_object_object_add(o, "msgFromRegexp", admin_str(rs->msg_from_regexp));
	json_object_object_add(o, "verifiedDomain", admin_str(rs->verified_domain));
	for (i = 0; i < rs->nheaders; i++)
		json_object_object_add(h, rs->headers[i].field, admin_str(rs->headers[i].value));
	json_object_object_add(o, "headersRegexp", h);
	json_object_object_add(o, "isForward", json_object_new_boolean(rs->is_forward));
	json_object_object_add(o, "listAllowDomain", admin_str(rs->list_allow_domain));
	json_object_object_add(o, "acceptRejectsToMailbox", admin_str(rs->accept_rejects_to_mailbox));
	json_object_object_add(o, "comment", admin_str(rs->comment));
	return o;
}

/* Rulesets(address) -> the address's rulesets in order. */
int
admin_api_rulesets(struct web_call *call)
{
	struct store_ruleset *v = NULL;
	struct json_object *arr;
	struct mail_addr a;
	const char *err;
	size_t n = 0, i;
	int rc;

	if (admin_param_address(call, 0, true, &a) < 0)
		return -1;
	rc = store_ruleset_list(admin_store(call), a.localpart, a.domain, &v, &n, &err);
	mail_addr_free(&a);
	if (rc < 0)
		return admin_fail(call, "listing rulesets", err);
	arr = json_object_new_array();
	for (i = 0; i < n; i++)
		json_object_array_add(arr, ruleset_json((int)i + 1, &v[i]));
	store_rulesets_free(v, n);
	call->result = arr;
	return 0;
}

/* RulesetAdd(address, ruleset) -> its position: checked and appended as
 * "mailstead ruleset add" does. */
int
admin_api_ruleset_add(struct web_call *call)
{
	static const struct {
		const char *key;
		size_t off;
	} strs[] = {
		{ "mailbox", offsetof(struct store_ruleset, mailbox) },
		{ "smtpMailFromRegexp", offsetof(struct store_ruleset, smtp_mailfrom_regexp) },
		{ "msgFromRegexp", offsetof(struct store_ruleset, msg_from_regexp) },
		{ "verifiedDomain", offsetof(struct store_ruleset, verified_domain) },
		{ "listAllowDomain", offsetof(struct store_ruleset, list_allow_domain) },
		{ "acceptRejectsToMailbox", offsetof(struct store_ruleset, accept_rejects_to_mailbox) },
		{ "comment", offsetof(struct store_ruleset, comment) },
	};
	struct json_object *o = call->params[1];
	struct store_ruleset rs;
	struct mail_addr a;
	const char *err;
	size_t k;
	int pos, rc = -1;

	memset(&rs, 0, sizeof(rs));
	json_object_object_foreach(o, key, val) {
		for (k = 0; k < MS_NELEM(strs); k++)
			if (strcmp(key, strs[k].key) == 0)
				break;
		if (k < MS_NELEM(strs) && json_object_is_type(val, json_type_string)) {
			char **field = (char **)((char *)&rs + strs[k].off);

			free(*field);
			*field = xstrdup(json_object_get_string(val));
		} else if (strcmp(key, "isForward") == 0 && json_object_is_type(val, json_type_boolean)) {
			rs.is_forward = json_object_get_boolean(val);
		} else if (strcmp(key, "headersRegexp") == 0 &&
			   json_object_is_type(val, json_type_object)) {
			json_object_object_foreach(val, hk, hv) {
				struct store_header_rule *h;

				if (!json_object_is_type(hv, json_type_string)) {
					web_call_error(call, "user:badParams", "parameter 2 (ruleset): "
						"headersRegexp values must be strings");
					goto out;
				}
				rs.headers = xrealloc(rs.headers, (rs.nheaders + 1) * sizeof(*rs.headers));
				h = &rs.headers[rs.nheaders++];
				memset(h, 0, sizeof(*h));
				h->field = xstrdup(hk);
				h->value = xstrdup(json_object_get_string(hv));
			}
		} else if (strcmp(key, "position") != 0) {
			web_call_error(call, "user:badParams", "parameter 2 (ruleset): unknown or "
				"mistyped field \"%s\"", key);
			goto out;
		}
	}
	if (rs.mailbox == NULL || rs.mailbox[0] == '\0') {
		web_call_error(call, "user:error", "parameter 2 (ruleset): a mailbox is required");
		goto out;
	}
	if (admin_param_address(call, 0, true, &a) < 0)
		goto out;
	if (store_ruleset_add(admin_store(call), a.localpart, a.domain, &rs, &pos, &err) < 0) {
		admin_fail(call, "adding ruleset", err);
	} else {
		admin_log(call, "ruleset-added", web_call_str(call, 0));
		call->result = json_object_new_int(pos);
		rc = 0;
	}
	mail_addr_free(&a);
out:
	store_ruleset_free(&rs);
	return rc;
}

/* RulesetRemove(address, position) */
int
admin_api_ruleset_remove(struct web_call *call)
{
	int64_t pos = web_call_int(call, 1);
	struct mail_addr a;
	const char *err;
	int rc = 0;

	if (pos < 1 || pos > STORE_RULES_MAX)
		return web_call_error(call, "user:error", "parameter 2 (position) must be 1 to %d",
			STORE_RULES_MAX);
	if (admin_param_address(call, 0, true, &a) < 0)
		return -1;
	if (store_ruleset_remove(admin_store(call), a.localpart, a.domain, (int)pos, &err) < 0)
		rc = admin_fail(call, "removing ruleset", err);
	else
		admin_log(call, "ruleset-removed", web_call_str(call, 0));
	mail_addr_free(&a);
	call->result = NULL;
	return rc;
}
