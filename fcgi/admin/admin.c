/* The admin web interface: its page, the login with the admin password
 * ("mailstead setadminpassword") and the table of JSON API methods, named
 * after the reference's webadmin. The admin answers only on IP addresses,
 * the configured host names and localhost (WEB_HOSTS_ADMIN). The methods
 * live in admin_domains.c, admin_accounts.c, admin_queue.c and
 * admin_reports.c; the helpers they share are here. */
#include "config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_private.h"
#include "core/log.h"
#include "core/util.h"
#include "db/db.h"

static int
admin_login(struct web_request *req, const char *username, const char *password,
	int64_t *account_id_r, const char **account_name_r, const char **error_r)
{
	int rc;

	(void)username;
	*account_name_r = NULL;
	rc = web_admin_password_check(web_env_pool(req->env), password, error_r);
	if (rc == 1)
		*account_id_r = 0;
	return rc;
}

/* ---- helpers (admin_private.h) ---- */

struct store *
admin_store(const struct web_call *call)
{
	return web_env_store(call->req->env);
}

int
admin_fail(struct web_call *call, const char *what, const char *error)
{
	log_info(call->req->cid, "proto=http app=admin ev=admin-change-refused what=%s error=%s",
		lq(what), lq(error));
	return web_call_error(call, "user:error", "%s: %s", what, error);
}

void
admin_log(const struct web_call *call, const char *what, const char *detail)
{
	log_info(call->req->cid, "proto=http app=admin ev=admin-change what=%s detail=%s",
		lq(what), lq(detail));
}

int
admin_param_domain(struct web_call *call, size_t i, char **uni_r)
{
	const char *s = web_call_str(call, i), *err;
	char *ascii;

	*uni_r = NULL;
	if (mail_domain_parse(s, strlen(s), true, uni_r, &ascii, &err) < 0 || (*uni_r)[0] == '[') {
		if (*uni_r != NULL) {
			free(*uni_r);
			free(ascii);
			*uni_r = NULL;
			err = "an address literal is not a domain";
		}
		return web_call_error(call, "user:error", "parameter %zu: bad domain \"%s\": %s",
			i + 1, s, err);
	}
	free(ascii);
	return 0;
}

int
admin_param_address(struct web_call *call, size_t i, bool catchall, struct mail_addr *a)
{
	const char *s = web_call_str(call, i), *err;

	memset(a, 0, sizeof(*a));
	if (s[0] == '@' && catchall) {
		if (mail_domain_parse(s + 1, strlen(s + 1), true, &a->domain, &a->domain_ascii,
			    &err) < 0)
			return web_call_error(call, "user:error",
				"parameter %zu: bad address \"%s\": %s", i + 1, s, err);
		a->localpart = xstrdup("");
		return 0;
	}
	if (mail_addr_parse_mailbox(s, strlen(s), true, a, &err) < 0)
		return web_call_error(call, "user:error", "parameter %zu: bad address \"%s\": %s",
			i + 1, s, err);
	return 0;
}

int
admin_param_account(struct web_call *call, size_t i, int64_t *id_r)
{
	const char *s = web_call_str(call, i), *err;
	int found = store_account_find(admin_store(call), s, id_r, &err);

	if (found < 0)
		return web_call_server_error(call, "finding account", err);
	if (found == 0)
		return web_call_error(call, "user:notFound", "parameter %zu: no account \"%s\"",
			i + 1, s);
	return 0;
}

int
admin_param_ids(struct web_call *call, size_t i, int64_t **ids_r, size_t *n_r)
{
	struct json_object *a = call->params[i];
	size_t n = json_object_array_length(a), k;

	*ids_r = NULL;
	*n_r = 0;
	if (n == 0 || n > 10000)
		return web_call_error(call, "user:error", "parameter %zu (ids) must list 1 to 10000 "
			"ids", i + 1);
	*ids_r = xcalloc(n, sizeof(int64_t));
	for (k = 0; k < n; k++)
		(*ids_r)[k] = json_object_get_int64(json_object_array_get_idx(a, k));
	*n_r = n;
	return 0;
}

PGresult *
admin_query(struct web_call *call, const char *what, const char *sql, int n, ...)
{
	const char *params[8];
	va_list ap;
	int i;

	if (n > 8)
		ms_panic("admin_query: %d parameters, at most 8", n);
	va_start(ap, n);
	for (i = 0; i < n; i++)
		params[i] = va_arg(ap, const char *);
	va_end(ap);
	return web_call_query(call, what, sql, n, params);
}

struct json_object *
admin_str(const char *s)
{
	return json_object_new_string(s != NULL ? s : "");
}

struct json_object *
admin_strs(char **v, size_t n)
{
	struct json_object *arr = json_object_new_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_object_array_add(arr, admin_str(v[i]));
	return arr;
}

static int
api_login_attempts(struct web_call *call)
{
	return web_login_attempts_result(call, NULL, web_call_int(call, 0));
}

static const struct web_route routes[] = {
	{ "GET", "/", 0, web_route_page },
};

/* ---- the method table ---- */

#define P(...) ((const struct web_param[]){ __VA_ARGS__ })
#define M(name, fn, ...) { name, P(__VA_ARGS__), \
	sizeof(P(__VA_ARGS__)) / sizeof(struct web_param), 0, fn }
#define M0(name, fn) { name, NULL, 0, 0, fn }

static const struct web_api_method methods[] = {
	{ "LoginPrep", NULL, 0, WEB_API_NOAUTH, web_api_loginprep },
	{ "Login", web_login_admin_params, 2, WEB_API_NOAUTH, web_api_login },
	{ "Logout", NULL, 0, 0, web_api_logout },
	{ "Version", NULL, 0, WEB_API_NOAUTH, web_api_version },
	M("LoginAttempts", api_login_attempts, { "limit", WJ_INT }),

	/* domains (admin_domains.c) */
	M0("Domains", admin_api_domains),
	M("Domain", admin_api_domain, { "domain", WJ_STRING }),
	M("DomainAdd", admin_api_domain_add, { "domain", WJ_STRING },
		{ "accountLocalpart", WJ_STRING }),
	M("DomainRemove", admin_api_domain_remove, { "domain", WJ_STRING }),
	M("DomainDisabledSave", admin_api_domain_disabled_save, { "domain", WJ_STRING },
		{ "disabled", WJ_BOOL }),
	M("DomainReportsOnlySave", admin_api_domain_reports_only_save, { "domain", WJ_STRING },
		{ "reportsOnly", WJ_BOOL }),
	M("DomainDescriptionSave", admin_api_domain_description_save, { "domain", WJ_STRING },
		{ "description", WJ_STRING }),
	M("DomainClientSettingsDomainSave", admin_api_domain_client_settings_save,
		{ "domain", WJ_STRING }, { "clientSettingsDomain", WJ_STRING }),
	M("DomainLocalpartConfigSave", admin_api_domain_localpart_save, { "domain", WJ_STRING },
		{ "catchallSeparators", WJ_STRING }, { "caseSensitive", WJ_BOOL }),
	M("DomainDMARCAddressSave", admin_api_domain_dmarc_save, { "domain", WJ_STRING },
		{ "localpart", WJ_STRING }),
	M("DomainTLSRPTAddressSave", admin_api_domain_tlsrpt_save, { "domain", WJ_STRING },
		{ "localpart", WJ_STRING }),
	M("DomainMTASTSSave", admin_api_domain_mtasts_save, { "domain", WJ_STRING },
		{ "mode", WJ_STRING }, { "maxAge", WJ_INT }, { "mx", WJ_STRING_ARRAY }),
	M("DomainDKIMAdd", admin_api_domain_dkim_add, { "domain", WJ_STRING },
		{ "selector", WJ_STRING }, { "algorithm", WJ_STRING }, { "headers", WJ_STRING_ARRAY },
		{ "expirationSeconds", WJ_INT }, { "oversign", WJ_BOOL }, { "sign", WJ_BOOL }),
	M("DomainDKIMRemove", admin_api_domain_dkim_remove, { "domain", WJ_STRING },
		{ "selector", WJ_STRING }),
	M("DomainDKIMSignSave", admin_api_domain_dkim_sign_save, { "domain", WJ_STRING },
		{ "selector", WJ_STRING }, { "sign", WJ_BOOL }),
	M("DomainRecords", admin_api_domain_records, { "domain", WJ_STRING }),
	M("DomainCheck", admin_api_domain_check, { "domain", WJ_STRING }),

	/* accounts, addresses, aliases, keys (admin_accounts.c) */
	M0("Accounts", admin_api_accounts),
	M("Account", admin_api_account, { "account", WJ_STRING }),
	M("AccountAdd", admin_api_account_add, { "address", WJ_STRING }),
	M("AccountRemove", admin_api_account_remove, { "account", WJ_STRING }),
	M("SetPassword", admin_api_set_password, { "account", WJ_STRING },
		{ "password", WJ_STRING }),
	M("AccountLoginDisabledSave", admin_api_account_login_disabled_save,
		{ "account", WJ_STRING }, { "message", WJ_STRING }),
	M("AccountSettingsSave", admin_api_account_settings_save, { "account", WJ_STRING },
		{ "maxOutgoingMessagesPerDay", WJ_INT }, { "maxFirstTimeRecipientsPerDay", WJ_INT },
		{ "quotaMessageSize", WJ_INT }),
	M("AccountFullNameSave", admin_api_account_full_name_save, { "account", WJ_STRING },
		{ "fullName", WJ_STRING }),
	M("AddressAdd", admin_api_address_add, { "address", WJ_STRING }, { "account", WJ_STRING }),
	M("AddressRemove", admin_api_address_remove, { "address", WJ_STRING }),
	M("AddressSettingSave", admin_api_address_setting_save, { "address", WJ_STRING },
		{ "setting", WJ_STRING }, { "value", WJ_STRING }),
	M("Rulesets", admin_api_rulesets, { "address", WJ_STRING }),
	M("RulesetAdd", admin_api_ruleset_add, { "address", WJ_STRING }, { "ruleset", WJ_OBJECT }),
	M("RulesetRemove", admin_api_ruleset_remove, { "address", WJ_STRING },
		{ "position", WJ_INT }),
	M("Aliases", admin_api_aliases, { "domain", WJ_STRING }),
	M("AliasAdd", admin_api_alias_add, { "alias", WJ_STRING }, { "members", WJ_STRING_ARRAY },
		{ "postPublic", WJ_BOOL }, { "listMembers", WJ_BOOL }, { "allowMsgFrom", WJ_BOOL }),
	M("AliasUpdate", admin_api_alias_update, { "alias", WJ_STRING }, { "postPublic", WJ_BOOL },
		{ "listMembers", WJ_BOOL }, { "allowMsgFrom", WJ_BOOL }),
	M("AliasRemove", admin_api_alias_remove, { "alias", WJ_STRING }),
	M("AliasAddressesAdd", admin_api_alias_addresses_add, { "alias", WJ_STRING },
		{ "members", WJ_STRING_ARRAY }),
	M("AliasAddressesRemove", admin_api_alias_addresses_remove, { "alias", WJ_STRING },
		{ "members", WJ_STRING_ARRAY }),
	M("AccountWebhookSave", admin_api_account_webhook_save, { "account", WJ_STRING },
		{ "kind", WJ_STRING }, { "url", WJ_STRING }, { "authorization", WJ_STRING },
		{ "events", WJ_STRING_ARRAY }),
	M("AccountKeepRetiredSave", admin_api_account_keep_retired_save, { "account", WJ_STRING },
		{ "messageSeconds", WJ_INT }, { "webhookSeconds", WJ_INT }),
	M("TLSPublicKeys", admin_api_tls_public_keys, { "account", WJ_STRING }),
	M("TLSPublicKeyRemove", admin_api_tls_public_key_remove, { "fingerprint", WJ_STRING }),
	M("Suppressions", admin_api_suppressions, { "account", WJ_STRING }),
	M("SuppressionAdd", admin_api_suppression_add, { "account", WJ_STRING },
		{ "address", WJ_STRING }, { "reason", WJ_STRING }),
	M("SuppressionRemove", admin_api_suppression_remove, { "account", WJ_STRING },
		{ "address", WJ_STRING }),

	/* queue, webhooks, configuration (admin_queue.c) */
	M("QueueList", admin_api_queue_list, { "filter", WJ_OBJECT }, { "offset", WJ_INT },
		{ "limit", WJ_INT }),
	M("QueueHoldSet", admin_api_queue_hold_set, { "ids", WJ_INT_ARRAY }, { "hold", WJ_BOOL }),
	M("QueueNextAttemptSet", admin_api_queue_next_attempt_set, { "ids", WJ_INT_ARRAY },
		{ "minutes", WJ_INT }),
	M("QueueNextAttemptAdd", admin_api_queue_next_attempt_add, { "ids", WJ_INT_ARRAY },
		{ "minutes", WJ_INT }),
	M("QueueFail", admin_api_queue_fail, { "ids", WJ_INT_ARRAY }),
	M("QueueDrop", admin_api_queue_drop, { "ids", WJ_INT_ARRAY }),
	M("QueueRequireTLSSet", admin_api_queue_requiretls_set, { "ids", WJ_INT_ARRAY },
		{ "requireTLS", WJ_STRING }),
	M("QueueTransportSet", admin_api_queue_transport_set, { "ids", WJ_INT_ARRAY },
		{ "transport", WJ_STRING }),
	M0("QueueHoldRuleList", admin_api_queue_hold_rule_list),
	M("QueueHoldRuleAdd", admin_api_queue_hold_rule_add, { "account", WJ_STRING },
		{ "senderDomain", WJ_STRING }, { "recipientDomain", WJ_STRING }),
	M("QueueHoldRuleRemove", admin_api_queue_hold_rule_remove, { "id", WJ_INT }),
	M("RetiredList", admin_api_retired_list, { "account", WJ_STRING }, { "limit", WJ_INT }),
	M("HookList", admin_api_hook_list, { "account", WJ_STRING }, { "limit", WJ_INT }),
	M("HookRetiredList", admin_api_hook_retired_list, { "account", WJ_STRING },
		{ "limit", WJ_INT }),
	M("HookNextAttemptSet", admin_api_hook_next_attempt_set, { "ids", WJ_INT_ARRAY },
		{ "minutes", WJ_INT }),
	M("HookCancel", admin_api_hook_cancel, { "ids", WJ_INT_ARRAY }),
	M0("QueueSize", admin_api_queue_size),
	M0("HookQueueSize", admin_api_hook_queue_size),
	M("HookNextAttemptAdd", admin_api_hook_next_attempt_add, { "ids", WJ_INT_ARRAY },
		{ "minutes", WJ_INT }),
	M0("RouteList", admin_api_route_list),
	M("RouteAdd", admin_api_route_add, { "account", WJ_STRING }, { "domain", WJ_STRING },
		{ "fromDomains", WJ_STRING_ARRAY }, { "toDomains", WJ_STRING_ARRAY },
		{ "minAttempts", WJ_INT }, { "transport", WJ_STRING }),
	M("RouteRemove", admin_api_route_remove, { "id", WJ_INT }),
	M0("Transports", admin_api_transports),
	M0("LogLevels", admin_api_log_levels),
	M("LogLevelSet", admin_api_log_level_set, { "program", WJ_STRING }, { "level", WJ_STRING }),
	M("LogLevelRemove", admin_api_log_level_remove, { "program", WJ_STRING }),

	/* reports received, evaluations, TLS results, report suppression
	 * (admin_reports.c); times are unix seconds */
	M("DMARCReports", admin_api_dmarc_reports, { "start", WJ_INT }, { "end", WJ_INT },
		{ "domain", WJ_STRING }, { "offset", WJ_INT }, { "limit", WJ_INT }),
	M("DMARCReportID", admin_api_dmarc_report_id, { "domain", WJ_STRING },
		{ "reportID", WJ_INT }),
	M("DMARCSummaries", admin_api_dmarc_summaries, { "start", WJ_INT }, { "end", WJ_INT },
		{ "domain", WJ_STRING }),
	M("TLSReports", admin_api_tls_reports, { "start", WJ_INT }, { "end", WJ_INT },
		{ "policyDomain", WJ_STRING }, { "offset", WJ_INT }, { "limit", WJ_INT }),
	M("TLSReportID", admin_api_tls_report_id, { "domain", WJ_STRING },
		{ "reportID", WJ_INT }),
	M("TLSRPTSummaries", admin_api_tlsrpt_summaries, { "start", WJ_INT }, { "end", WJ_INT },
		{ "policyDomain", WJ_STRING }),
	M0("DMARCEvaluationStats", admin_api_dmarc_evaluation_stats),
	M("DMARCEvaluationsDomain", admin_api_dmarc_evaluations_domain, { "domain", WJ_STRING },
		{ "start", WJ_INT }, { "end", WJ_INT }, { "offset", WJ_INT }, { "limit", WJ_INT }),
	M("DMARCRemoveEvaluations", admin_api_dmarc_remove_evaluations, { "domain", WJ_STRING }),
	M("DMARCSuppressAdd", admin_api_dmarc_suppress_add, { "reportingAddress", WJ_STRING },
		{ "until", WJ_INT }, { "comment", WJ_STRING }),
	M0("DMARCSuppressList", admin_api_dmarc_suppress_list),
	M("DMARCSuppressRemove", admin_api_dmarc_suppress_remove, { "id", WJ_INT }),
	M("DMARCSuppressExtend", admin_api_dmarc_suppress_extend, { "id", WJ_INT },
		{ "until", WJ_INT }),
	M("TLSRPTResults", admin_api_tlsrpt_results, { "start", WJ_INT }, { "end", WJ_INT },
		{ "offset", WJ_INT }, { "limit", WJ_INT }),
	M("TLSRPTResultsDomain", admin_api_tlsrpt_results_domain, { "isRcptDom", WJ_BOOL },
		{ "domain", WJ_STRING }),
	M("TLSRPTRemoveResults", admin_api_tlsrpt_remove_results, { "isRcptDom", WJ_BOOL },
		{ "domain", WJ_STRING }, { "day", WJ_STRING }),
	M("TLSRPTSuppressAdd", admin_api_tlsrpt_suppress_add, { "reportingAddress", WJ_STRING },
		{ "until", WJ_INT }, { "comment", WJ_STRING }),
	M0("TLSRPTSuppressList", admin_api_tlsrpt_suppress_list),
	M("TLSRPTSuppressRemove", admin_api_tlsrpt_suppress_remove, { "id", WJ_INT }),
	M("TLSRPTSuppressExtend", admin_api_tlsrpt_suppress_extend, { "id", WJ_INT },
		{ "until", WJ_INT }),
};

const struct web_app admin_app = {
	.name = "admin",
	.kind = "webadmin",
	.prefix = "/admin/",
	.hosts = WEB_HOSTS_ADMIN,
	.session = WEB_SESSION_ADMIN,
	.routes = routes,
	.nroutes = MS_NELEM(routes),
	.methods = methods,
	.nmethods = MS_NELEM(methods),
	.login = admin_login,
};
