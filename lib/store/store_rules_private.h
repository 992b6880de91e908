/* Helpers shared by store_lookup.c and store_rules_db.c; not for other
 * modules. */
#ifndef MS_STORE_RULES_PRIVATE_H
#define MS_STORE_RULES_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"
#include "store/store_rules.h"

struct store_domain_info {
	int64_t id;
	bool disabled, reports_only;
	struct store_domain_canon canon;	/* separators malloc'd when found */
};

/* The domains row of domain (lower-case Unicode). 1 found, 0 not ours, -1
 * database error. lock takes FOR UPDATE (inside a transaction). */
int store_rules_domain_get(PGconn *c, const char *domain, bool lock,
	struct store_domain_info *di, const char **error_r);

/* The settings of store_domain_set from STORE_DOMAIN_CLIENT_SETTINGS on,
 * inside its transaction (store_admin.c). Returns 0 or -1. */
int store_domain_set_other(PGconn *c, int64_t domain_id, enum store_domain_setting what,
	const char *value, const char **error_r);

/* Columns of a ruleset row as read by store_rules_ruleset_row, and the FROM
 * clause giving one row per header condition (or one with NULL key). */
#define STORE_RULESET_COLUMNS "r.id, r.smtp_mailfrom_regexp, r.msg_from_regexp," \
	" r.verified_domain, r.is_forward, r.list_allow_domain," \
	" r.accept_rejects_to_mailbox, r.mailbox, r.comment, h.key, h.value"
#define STORE_RULESET_FROM " FROM rulesets r LEFT JOIN LATERAL" \
	" jsonb_each_text(r.headers_regexp) h ON true"

/* Append the ruleset of row (columns from col as above) to (*rs)[0..*n),
 * or add its header condition to the last one when it has the same id. */
void store_rules_ruleset_row(struct store_ruleset **rs, size_t *n,
	const PGresult *res, int row, int col);

#endif
