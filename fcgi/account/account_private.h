/* Internals of the account web interface shared by its files: the API
 * methods and routes each file implements, and small database helpers
 * that turn failures into the call's "server:error". */
#ifndef MS_FCGI_ACCOUNT_PRIVATE_H
#define MS_FCGI_ACCOUNT_PRIVATE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "web/web.h"

/* Parse "localpart@domain" ("@domain" for the catch-all) of the account's
 * own addresses: 1 with the address row id, 0 not an address of the
 * account (call error set), -1 error (set). */
int acct_own_address(struct web_call *call, const char *address, int64_t *address_id_r);

/* Whether s is at most max bytes of valid UTF-8 without control
 * characters. */
bool acct_text_ok(const char *s, size_t max);

/* Split "lp@domain" at the last '@' into the request arena, domain in
 * lower case; false for a missing or empty part. */
bool acct_split_address(struct web_request *req, const char *addr, const char **lp_r,
	const char **domain_r);

/* account_settings.c */
int acct_api_settings(struct web_call *call);
int acct_api_outgoing_webhook_save(struct web_call *call);
int acct_api_incoming_webhook_save(struct web_call *call);
int acct_api_fromid_save(struct web_call *call);
int acct_api_keep_retired_save(struct web_call *call);
int acct_api_rejects_save(struct web_call *call);
int acct_api_junk_filter_save(struct web_call *call);
int acct_api_suppression_list(struct web_call *call);
int acct_api_suppression_add(struct web_call *call);
int acct_api_suppression_remove(struct web_call *call);
int acct_api_tlspubkeys(struct web_call *call);
int acct_api_tlspubkey_add(struct web_call *call);
int acct_api_tlspubkey_update(struct web_call *call);
int acct_api_tlspubkey_remove(struct web_call *call);

/* account_dest.c */
int acct_api_destinations(struct web_call *call);
int acct_api_destination_save(struct web_call *call);
int acct_api_aliases(struct web_call *call);

/* account_archive.c: import (POST /import, SSE progress on
 * GET /importprogress) and export (POST /export). */
int acct_api_import_abort(struct web_call *call);
void acct_route_import(struct web_request *req, struct web_response *resp);
void acct_route_import_progress(struct web_request *req, struct web_response *resp);
void acct_route_export(struct web_request *req, struct web_response *resp);

/* account_wellknown.c: client autoconfiguration and MTA-STS. */
void acct_route_autoconfig(struct web_request *req, struct web_response *resp);
void acct_route_autodiscover(struct web_request *req, struct web_response *resp);
void acct_route_mtasts(struct web_request *req, struct web_response *resp);
void acct_route_mobileconfig(struct web_request *req, struct web_response *resp);

#endif
