/* The account web interface: its page, and the JSON API methods a logged-in
 * user calls on their own account (FEATURES.md section 5, webaccount).
 * Every method but the login ones runs with a session (web_auth), and
 * req->account_id is the account it is for; no method takes an account
 * from the client. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "account/account.h"
#include "account/account_private.h"
#include "core/log.h"
#include "core/util.h"
#include "db/db.h"
#include "store/store.h"

#define FULLNAME_MAX 200
#define PASSWORD_MIN 8

/* ---- helpers (account_private.h) ---- */

int
acct_own_address(struct web_call *call, const char *address, int64_t *address_id_r)
{
	const char *params[2] = { db_i64(call->req->account_id), address };
	PGresult *res;
	int found;

	res = web_call_query(call, "looking up address",
		"SELECT ad.id FROM addresses ad JOIN domains d ON d.id = ad.domain_id"
		" WHERE ad.account_id = $1 AND ad.localpart || '@' || d.name = $2", 2, params);
	if (res == NULL)
		return -1;
	found = PQntuples(res) == 1;
	if (found)
		*address_id_r = db_get_i64(res, 0, 0);
	PQclear(res);
	if (!found)
		web_call_error(call, "user:error", "%s is not an address of this account", address);
	return found;
}

bool
acct_split_address(struct web_request *req, const char *addr, const char **lp_r,
	const char **domain_r)
{
	const char *at = strrchr(addr, '@');
	char *d;

	if (at == NULL || at == addr || at[1] == '\0')
		return false;
	*lp_r = web_strndup(req, addr, (size_t)(at - addr));
	d = web_strdup(req, at + 1);
	ms_str_lower(d);
	*domain_r = d;
	return true;
}

/* ---- API methods ---- */

static int
api_account(struct web_call *call)
{
	struct web_request *req = call->req;
	struct store *st = web_env_store(req->env);
	struct json_object *o, *addrs;
	const char *error;
	PGresult *res;
	PGconn *c;

	c = db_get(st->pool, &error);
	if (c == NULL)
		return web_call_server_error(call, "account", error);
	{
		/* Prepared: pages call Account often (bench/web). */
		const char *params[1] = { db_i64(req->account_id) };

		res = db_exec_prepared(c, "web_account_info",
			"SELECT a.name, a.full_name, a.quota_message_size, a.disk_usage,"
			" coalesce(a.login_disabled, ''), d.name,"
			" ARRAY(SELECT ad.localpart || '@' || dd.name FROM addresses ad"
			"  JOIN domains dd ON dd.id = ad.domain_id WHERE ad.account_id = a.id"
			"  ORDER BY dd.name, ad.localpart)"
			" FROM accounts a JOIN domains d ON d.id = a.domain_id WHERE a.id = $1",
			1, params, NULL, NULL, &error);
	}
	db_put(st->pool, c);
	if (res == NULL)
		return web_call_server_error(call, "account", error);
	if (PQntuples(res) != 1) {
		PQclear(res);
		return web_call_error(call, "user:notFound", "account no longer exists");
	}
	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(PQgetvalue(res, 0, 0)));
	json_object_object_add(o, "fullName", json_object_new_string(PQgetvalue(res, 0, 1)));
	json_object_object_add(o, "quotaMessageSize", json_object_new_int64(db_get_i64(res, 0, 2)));
	json_object_object_add(o, "diskUsage", json_object_new_int64(db_get_i64(res, 0, 3)));
	json_object_object_add(o, "loginDisabled", json_object_new_string(PQgetvalue(res, 0, 4)));
	json_object_object_add(o, "domain", json_object_new_string(PQgetvalue(res, 0, 5)));
	json_object_object_add(o, "loginAddress", json_object_new_string(req->login_address));
	addrs = json_object_new_array();
	{
		/* The text form of a text[]: {a,b,"c d"}; addresses need no
		 * quoting except when they contain specials, handled here. */
		struct buf item;
		const char *p = PQgetvalue(res, 0, 6);

		buf_init(&item);
		if (*p == '{')
			p++;
		while (*p != '\0' && *p != '}') {
			buf_reset(&item);
			if (*p == '"') {
				for (p++; *p != '\0' && *p != '"'; p++) {
					if (*p == '\\' && p[1] != '\0')
						p++;
					buf_putc(&item, *p);
				}
				if (*p == '"')
					p++;
			} else {
				while (*p != '\0' && *p != ',' && *p != '}')
					buf_putc(&item, *p++);
			}
			/* An empty localpart is the catch-all "@domain". */
			json_object_array_add(addrs, json_object_new_string(item.data));
			if (*p == ',')
				p++;
		}
		buf_free(&item);
	}
	json_object_object_add(o, "addresses", addrs);
	PQclear(res);
	call->result = o;
	return 0;
}

bool
acct_text_ok(const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;

	if (strlen(s) > max)
		return false;
	while (*p != '\0') {
		size_t n, i;

		if (*p < 0x20 || *p == 0x7f)
			return false;
		if (*p < 0x80) {
			p++;
			continue;
		}
		/* UTF-8 (RFC 3629 section 4), lead byte and continuation
		 * bytes; overlong forms are refused by the lead ranges. */
		if (*p >= 0xc2 && *p <= 0xdf)
			n = 1;
		else if (*p >= 0xe0 && *p <= 0xef)
			n = 2;
		else if (*p >= 0xf0 && *p <= 0xf4)
			n = 3;
		else
			return false;
		for (i = 1; i <= n; i++)
			if ((p[i] & 0xc0) != 0x80)
				return false;
		p += n + 1;
	}
	return true;
}

static int
api_save_full_name(struct web_call *call)
{
	struct web_request *req = call->req;
	struct store *st = web_env_store(req->env);
	const char *name = web_call_str(call, 0), *error;
	PGconn *c;
	int rc;

	if (!acct_text_ok(name, FULLNAME_MAX))
		return web_call_error(call, "user:error",
			"full name must be at most %d characters without control characters", FULLNAME_MAX);
	c = db_get(st->pool, &error);
	if (c == NULL)
		return web_call_server_error(call, "saving full name", error);
	rc = db_cmd(c, &error, "UPDATE accounts SET full_name = $2 WHERE id = $1", 2,
		db_i64(req->account_id), name);
	db_put(st->pool, c);
	if (rc < 0)
		return web_call_server_error(call, "saving full name", error);
	log_info(req->cid, "proto=http app=account ev=full-name-saved account=%s",
		lq(req->account_name));
	call->result = NULL;
	return 0;
}

static int
api_set_password(struct web_call *call)
{
	struct web_request *req = call->req;
	const char *pw = web_call_str(call, 0), *error;

	if (strlen(pw) < PASSWORD_MIN)
		return web_call_error(call, "user:error", "password must be at least %d characters",
			PASSWORD_MIN);
	if (store_password_set(web_env_store(req->env), req->account_id, pw, &error) < 0) {
		/* credentials_derive refuses what SASLprep refuses: the user's
		 * mistake, not ours. */
		if (strstr(error, "SASLprep") != NULL || strstr(error, "password") != NULL)
			return web_call_error(call, "user:error", "%s", error);
		return web_call_server_error(call, "setting password", error);
	}
	/* The seeds: a password change ends the account's other sessions
	 * and keeps the one it was made with. */
	if (web_sessions_remove_account(req->env, req->account_id, req, &error) < 0)
		return web_call_server_error(call, "removing other sessions", error);
	log_info(req->cid, "proto=http app=account ev=password-changed account=%s",
		lq(req->account_name));
	call->result = NULL;
	return 0;
}

static int
api_generate_password(struct web_call *call)
{
	/* 12 random bytes: 16 characters of base64url, about 96 bits. */
	struct buf pw;

	buf_init(&pw);
	ms_random_token(&pw, 12);
	call->result = json_object_new_string(pw.data);
	buf_wipe(&pw);
	buf_free(&pw);
	return 0;
}

static int
api_login_attempts(struct web_call *call)
{
	return web_login_attempts_result(call, call->req->account_name, web_call_int(call, 0));
}

static const struct web_route routes[] = {
	{ "GET", "/", 0, web_route_page },
	{ "POST", "/import", WEB_ROUTE_AUTH | WEB_ROUTE_RAW, acct_route_import },
	{ "GET", "/importprogress", WEB_ROUTE_AUTH | WEB_ROUTE_STREAM, acct_route_import_progress },
	{ "POST", "/export", WEB_ROUTE_AUTH | WEB_ROUTE_STREAM, acct_route_export },
	{ "GET", "/profile.mobileconfig", WEB_ROUTE_AUTH, acct_route_mobileconfig },
	/* Thunderbird autoconfig, Microsoft autodiscover (both also under
	 * the client-settings domain) and the MTA-STS policy (RFC 8461
	 * section 3.2). */
	{ "GET", "/mail/config-v1.1.xml", WEB_ROUTE_WELLKNOWN, acct_route_autoconfig },
	{ "GET", "/.well-known/autoconfig/mail/config-v1.1.xml", WEB_ROUTE_WELLKNOWN,
		acct_route_autoconfig },
	{ "POST", "/autodiscover/autodiscover.xml", WEB_ROUTE_WELLKNOWN, acct_route_autodiscover },
	{ "POST", "/Autodiscover/Autodiscover.xml", WEB_ROUTE_WELLKNOWN, acct_route_autodiscover },
	{ "GET", "/.well-known/mta-sts.txt", WEB_ROUTE_WELLKNOWN, acct_route_mtasts },
};

static const struct web_param p_string_fullname[] = { { "fullName", WJ_STRING } };
static const struct web_param p_string_password[] = { { "password", WJ_STRING } };
static const struct web_param p_limit[] = { { "limit", WJ_INT } };
static const struct web_param p_webhook_out[] = {
	{ "url", WJ_STRING }, { "authorization", WJ_STRING }, { "events", WJ_STRING_ARRAY } };
static const struct web_param p_webhook_in[] = {
	{ "url", WJ_STRING }, { "authorization", WJ_STRING } };
static const struct web_param p_addresses[] = { { "loginAddresses", WJ_STRING_ARRAY } };
static const struct web_param p_keep[] = {
	{ "keepRetiredMessagePeriod", WJ_INT }, { "keepRetiredWebhookPeriod", WJ_INT } };
static const struct web_param p_rejects[] = { { "mailbox", WJ_STRING }, { "keep", WJ_BOOL } };
static const struct web_param p_junk[] = { { "junkFilter", WJ_ANY } };
static const struct web_param p_supp_add[] = {
	{ "address", WJ_STRING }, { "manual", WJ_BOOL }, { "reason", WJ_STRING } };
static const struct web_param p_address[] = { { "address", WJ_STRING } };
static const struct web_param p_pubkey_add[] = {
	{ "loginAddress", WJ_STRING }, { "name", WJ_STRING }, { "noIMAPPreauth", WJ_BOOL },
	{ "certPEM", WJ_STRING } };
static const struct web_param p_pubkey[] = { { "pubKey", WJ_OBJECT } };
static const struct web_param p_fingerprint[] = { { "fingerprint", WJ_STRING } };
static const struct web_param p_dest_save[] = { { "address", WJ_STRING }, { "destination", WJ_OBJECT } };
static const struct web_param p_token[] = { { "importToken", WJ_STRING } };

static const struct web_api_method methods[] = {
	{ "LoginPrep", NULL, 0, WEB_API_NOAUTH, web_api_loginprep },
	{ "Login", web_login_params, 3, WEB_API_NOAUTH, web_api_login },
	{ "Logout", NULL, 0, 0, web_api_logout },
	{ "Version", NULL, 0, WEB_API_NOAUTH, web_api_version },
	{ "Account", NULL, 0, 0, api_account },
	{ "AccountSaveFullName", p_string_fullname, 1, 0, api_save_full_name },
	{ "SetPassword", p_string_password, 1, 0, api_set_password },
	{ "GeneratePassword", NULL, 0, 0, api_generate_password },
	{ "LoginAttempts", p_limit, 1, 0, api_login_attempts },
	{ "Settings", NULL, 0, 0, acct_api_settings },
	{ "OutgoingWebhookSave", p_webhook_out, 3, 0, acct_api_outgoing_webhook_save },
	{ "IncomingWebhookSave", p_webhook_in, 2, 0, acct_api_incoming_webhook_save },
	{ "FromIDLoginAddressesSave", p_addresses, 1, 0, acct_api_fromid_save },
	{ "KeepRetiredPeriodsSave", p_keep, 2, 0, acct_api_keep_retired_save },
	{ "RejectsSave", p_rejects, 2, 0, acct_api_rejects_save },
	{ "JunkFilterSave", p_junk, 1, 0, acct_api_junk_filter_save },
	{ "SuppressionList", NULL, 0, 0, acct_api_suppression_list },
	{ "SuppressionAdd", p_supp_add, 3, 0, acct_api_suppression_add },
	{ "SuppressionRemove", p_address, 1, 0, acct_api_suppression_remove },
	{ "TLSPublicKeys", NULL, 0, 0, acct_api_tlspubkeys },
	{ "TLSPublicKeyAdd", p_pubkey_add, 4, 0, acct_api_tlspubkey_add },
	{ "TLSPublicKeyUpdate", p_pubkey, 1, 0, acct_api_tlspubkey_update },
	{ "TLSPublicKeyRemove", p_fingerprint, 1, 0, acct_api_tlspubkey_remove },
	{ "Destinations", NULL, 0, 0, acct_api_destinations },
	{ "DestinationSave", p_dest_save, 2, 0, acct_api_destination_save },
	{ "Aliases", NULL, 0, 0, acct_api_aliases },
	{ "ImportAbort", p_token, 1, 0, acct_api_import_abort },
};

const struct web_app account_app = {
	.name = "account",
	.kind = "webaccount",
	.prefix = "/",
	.hosts = WEB_HOSTS_USER,
	.session = WEB_SESSION_ACCOUNT,
	.routes = routes,
	.nroutes = MS_NELEM(routes),
	.methods = methods,
	.nmethods = MS_NELEM(methods),
	.login = web_account_login,
	.upload_path = "/import",
};
