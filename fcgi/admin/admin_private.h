/* Internals of the admin web interface shared by admin.c (login, page,
 * method table), admin_domains.c (domains, DKIM, DNS), admin_accounts.c
 * (accounts, addresses, aliases, TLS keys), admin_queue.c (queue, hold
 * rules, retired messages, webhooks) and admin_reports.c (received DMARC
 * and TLS reports, evaluations, TLS results, report suppression lists). The methods are thin: checking of
 * values and the changes themselves are in lib/store, lib/queue and
 * lib/admin, which the command line uses too. */
#ifndef MS_FCGI_ADMIN_PRIVATE_H
#define MS_FCGI_ADMIN_PRIVATE_H

#include <json-c/json.h>
#include <stdint.h>

#include "admin/admin.h"
#include "db/db.h"
#include "mail/addr.h"
#include "store/store.h"

/* The store of the request's environment. */
struct store *admin_store(const struct web_call *call);

/* A failed change: the library's reason as "user:error" (the admin is
 * trusted with database messages such as a violated constraint). Logs it
 * with what. Returns -1. */
int admin_fail(struct web_call *call, const char *what, const char *error);

/* Log a change made by the admin (logfmt, ev=admin-change). */
void admin_log(const struct web_call *call, const char *what, const char *detail);

/* Parameter i as a domain: *uni_r (malloc'd, lower-case Unicode as
 * stored). Returns 0, or -1 after a user:error naming the parameter. */
int admin_param_domain(struct web_call *call, size_t i, char **uni_r);
/* Parameter i as an address "lp@domain" (or "@domain" when catchall is
 * allowed): a filled (free with mail_addr_free). Returns 0 or -1. */
int admin_param_address(struct web_call *call, size_t i, bool catchall, struct mail_addr *a);
/* Parameter i as an existing account (name or address): *id_r. Returns 0,
 * or -1 after user:notFound. */
int admin_param_account(struct web_call *call, size_t i, int64_t *id_r);
/* Parameter i (WJ_INT_ARRAY) as ids: malloc'd, *n_r entries (at least
 * one: an empty array is a user:error). Returns 0 or -1. */
int admin_param_ids(struct web_call *call, size_t i, int64_t **ids_r, size_t *n_r);

/* Run a query (db_execv) on a pooled connection: NULL after a
 * server:error. */
PGresult *admin_query(struct web_call *call, const char *what, const char *sql, int n, ...);

/* JSON helpers. */
struct json_object *admin_str(const char *s);
struct json_object *admin_strs(char **v, size_t n);

/* API methods (see admin.c for the method table with parameters). */
web_api_fn admin_api_domains, admin_api_domain, admin_api_domain_add, admin_api_domain_remove,
	admin_api_domain_disabled_save, admin_api_domain_reports_only_save,
	admin_api_domain_description_save, admin_api_domain_client_settings_save,
	admin_api_domain_localpart_save, admin_api_domain_dmarc_save, admin_api_domain_tlsrpt_save,
	admin_api_domain_mtasts_save, admin_api_domain_dkim_add, admin_api_domain_dkim_remove,
	admin_api_domain_dkim_sign_save, admin_api_domain_records, admin_api_domain_check;
web_api_fn admin_api_accounts, admin_api_account, admin_api_account_add,
	admin_api_account_remove, admin_api_set_password, admin_api_account_login_disabled_save,
	admin_api_account_settings_save, admin_api_account_full_name_save, admin_api_address_add,
	admin_api_address_remove, admin_api_address_setting_save, admin_api_aliases,
	admin_api_alias_add, admin_api_alias_update, admin_api_alias_remove,
	admin_api_alias_addresses_add, admin_api_alias_addresses_remove, admin_api_tls_public_keys,
	admin_api_account_webhook_save, admin_api_account_keep_retired_save,
	admin_api_tls_public_key_remove, admin_api_suppressions, admin_api_suppression_add,
	admin_api_suppression_remove, admin_api_rulesets, admin_api_ruleset_add,
	admin_api_ruleset_remove;
web_api_fn admin_api_queue_list, admin_api_queue_hold_set, admin_api_queue_next_attempt_set,
	admin_api_queue_next_attempt_add, admin_api_queue_fail, admin_api_queue_drop,
	admin_api_queue_requiretls_set, admin_api_queue_transport_set,
	admin_api_queue_hold_rule_list, admin_api_queue_hold_rule_add,
	admin_api_queue_hold_rule_remove, admin_api_retired_list, admin_api_hook_list,
	admin_api_hook_retired_list, admin_api_hook_next_attempt_set, admin_api_hook_cancel,
	admin_api_transports, admin_api_log_levels, admin_api_log_level_set,
	admin_api_log_level_remove, admin_api_queue_size, admin_api_hook_queue_size,
	admin_api_hook_next_attempt_add, admin_api_route_list, admin_api_route_add,
	admin_api_route_remove;
web_api_fn admin_api_dmarc_reports, admin_api_dmarc_report_id, admin_api_dmarc_summaries,
	admin_api_tls_reports, admin_api_tls_report_id, admin_api_tlsrpt_summaries,
	admin_api_dmarc_evaluation_stats, admin_api_dmarc_evaluations_domain,
	admin_api_dmarc_remove_evaluations, admin_api_dmarc_suppress_add,
	admin_api_dmarc_suppress_list, admin_api_dmarc_suppress_remove,
	admin_api_dmarc_suppress_extend, admin_api_tlsrpt_results, admin_api_tlsrpt_results_domain,
	admin_api_tlsrpt_remove_results, admin_api_tlsrpt_suppress_add,
	admin_api_tlsrpt_suppress_list, admin_api_tlsrpt_suppress_remove,
	admin_api_tlsrpt_suppress_extend;

#endif
