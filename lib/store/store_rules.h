/* Local delivery rules (FEATURES.md section 2, "Local delivery"): recipient
 * resolution to an address destination or an alias, the ruleset matcher
 * that picks a mailbox, alias posting rules and the per-transaction
 * delivery plan with de-duplication, plus the administration calls behind
 * "mailstead domain set / address rm|set / alias / ruleset".
 *
 * Pure functions (no database; store_rules.c, unit-tested) and database
 * functions (store_lookup.c, store_rules_db.c) share the types below.
 * Nothing is cached: every lookup reads the current rows, so changes made
 * with the CLI apply to the next RCPT TO of a running smtpd.
 *
 * Regular expressions are POSIX extended (regcomp(3) REG_EXTENDED), not Go
 * RE2 as in the reference: case-sensitive, except that a leading "(?i)" is
 * accepted and means REG_ICASE; back-references are refused (they make
 * matching exponential and RE2 has none); at most STORE_RULES_REGEXP_MAX
 * bytes. Matching is "contains" (unanchored) unless the expression uses
 * ^ and $. */
#ifndef MS_STORE_RULES_H
#define MS_STORE_RULES_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "store/store.h"

#define STORE_RULES_REGEXP_MAX 1000	/* bytes of one regular expression */
#define STORE_RULES_HEADERS_MAX 32	/* header conditions per ruleset */
#define STORE_RULES_MAX 200		/* rulesets per address */
#define STORE_RULES_HEADER_READ_MAX (1024 * 1024)	/* header bytes matched */
#define STORE_MAILBOX_NAME_MAX 255	/* bytes of a mailbox name */
#define STORE_SMTP_ERROR_MAX 255	/* bytes of a configured SMTP error line */

/* ---- types ---- */

struct store_header_rule {
	char *field;		/* regexp on the lower-case field name */
	char *value;		/* regexp on the lower-case, unfolded, trimmed value */
	regex_t field_re, value_re;
};

struct store_ruleset {
	int64_t id;
	/* Conditions; "" (or no headers) means "no condition". */
	char *smtp_mailfrom_regexp;
	char *msg_from_regexp;
	char *verified_domain;	/* lower-case Unicode */
	struct store_header_rule *headers;
	size_t nheaders;
	/* Modifiers for junk analysis (later issue); they do not affect
	 * whether the ruleset matches. */
	bool is_forward;
	char *list_allow_domain;	/* "" none */
	char *accept_rejects_to_mailbox;	/* "" none */
	/* Result. */
	char *mailbox;
	char *comment;
	/* Set by store_ruleset_compile. */
	bool compiled;
	bool broken;		/* did not compile: never matches */
	regex_t mailfrom_re, msgfrom_re;
};

/* Canonicalization settings of a domain (domains row). */
struct store_domain_canon {
	bool case_sensitive;
	char *separators;	/* catch-all separator characters, "" none */
};

/* An address destination: where mail for one address goes. */
struct store_destination {
	int64_t account_id;
	int64_t address_id;	/* 0: postmaster fallback without an address row */
	char *address;		/* canonical destination: "lp@domain", "@domain" for
				 * the catch-all, "postmaster@domain" for the fallback */
	char *mailbox;		/* default mailbox, "Inbox" when not configured */
	char *smtp_error;	/* NULL, or the complete RCPT reply to give */
	char *message_auth_required_smtp_error;	/* NULL or reply (DMARC issue) */
	struct store_ruleset *rulesets;	/* compiled, in priority order */
	size_t nrulesets;
};

struct store_alias_member {
	char *address;		/* as stored: "lp@domain" */
	char *localpart, *domain;
	bool local;		/* domain is one of ours */
	bool resolved;		/* local and delivers to dest (an address without
				 * smtp_error); false for external members and for
				 * local members that no longer resolve */
	struct store_domain_canon canon;	/* of the member's domain, when local */
	struct store_destination dest;	/* when resolved */
};

struct store_alias {
	int64_t id;
	char *address;		/* canonical alias address "lp@domain" */
	char *localpart, *domain;
	bool post_public, list_members, allow_msg_from;
	struct store_domain_canon canon;	/* of the alias's domain */
	struct store_alias_member *members;
	size_t nmembers;
};

/* The result of looking up one recipient. status is one of store.h's
 * STORE_DEST_OK (then is_alias says which of dest/alias is filled),
 * STORE_DEST_UNKNOWN, STORE_DEST_NOT_LOCAL, STORE_DEST_DISABLED or
 * STORE_DEST_SMTP_ERROR (dest.smtp_error holds the reply). */
struct store_recipient {
	enum store_dest_status status;
	bool is_alias;
	char *canonical;	/* canonical "lp@domain" that was looked up */
	struct store_domain_canon canon;	/* of the recipient domain */
	struct store_destination dest;
	struct store_alias alias;
};

/* What smtpd knows about a message when choosing mailboxes. Strings may be
 * NULL for "unknown/none". Validation results (SPF, DKIM) come from a later
 * issue; until then smtpd passes false/none and rulesets with
 * verified_domain do not match. */
struct store_msg_facts {
	const char *mailfrom;		/* MAIL FROM "lp@domain" as in SMTP; "" for <> */
	const char *mailfrom_localpart;
	const char *mailfrom_domain;	/* lower-case Unicode */
	bool mailfrom_validated;	/* SPF pass for MAIL FROM */
	const char *ehlo_domain;	/* lower-case Unicode */
	bool ehlo_validated;		/* SPF pass for the EHLO identity */
	const char *const *dkim_domains;	/* domains of valid DKIM signatures */
	size_t ndkim_domains;
	const char *msgfrom_localpart;	/* the single From header address */
	const char *msgfrom_domain;	/* lower-case Unicode; NULL/"" when none */
	const char *header;		/* header section matched by header rules */
	size_t header_len;
};

/* ---- pure functions (store_rules.c) ---- */

void store_ruleset_free(struct store_ruleset *rs);
void store_destination_free(struct store_destination *d);
void store_alias_free(struct store_alias *a);
/* Frees everything in r and zeroes it (safe on a zeroed struct). */
void store_recipient_free(struct store_recipient *r);

/* Check one regular expression for use in a ruleset (length, no
 * back-references, compiles). Returns 0, or -1 with a message naming the
 * problem in *error_r. */
int store_rules_regexp_check(const char *re, const char **error_r);

/* Validate a ruleset as the reference does: at least one condition; header
 * names and value regexps in lower case; is_forward needs
 * smtp_mailfrom_regexp and verified_domain and excludes list_allow_domain;
 * accept_rejects_to_mailbox is not Inbox; mailboxes valid. Then compile the
 * regexps (rs->compiled). Returns 0 or -1 with *error_r. On -1 the ruleset
 * is marked broken and never matches. */
int store_ruleset_compile(struct store_ruleset *rs, const char **error_r);

/* Normalize and check a mailbox name: not empty, at most
 * STORE_MAILBOX_NAME_MAX bytes, valid UTF-8 without control characters or
 * IMAP wildcards, no empty hierarchy level; "inbox" in any case (also as
 * the first level) becomes "Inbox". Appends to out; 0 or -1 with *error_r. */
int store_mailbox_name_norm(const char *name, struct buf *out,
	const char **error_r);

/* Normalize a configured SMTP error line for RCPT TO: "CODE[ text]" with
 * CODE 4xx or 5xx, printable ASCII, at most STORE_SMTP_ERROR_MAX bytes. A
 * 421 becomes 451 (421 would mean "closing the connection"); a missing
 * enhanced status code and text are filled in ("550 5.1.1 no such user",
 * "451 4.3.0 error processing"). Appends to out; 0 or -1 with *error_r. */
int store_smtp_error_norm(const char *line, struct buf *out,
	const char **error_r);

/* Canonical localpart in a domain: lower case (ASCII) unless
 * case-sensitive, cut at the first catch-all separator (unless that would
 * leave it empty). Appends to out. */
void store_rules_canon_localpart(struct buf *out, const char *localpart,
	const struct store_domain_canon *canon);

/* Is localpart@domain (as written, e.g. in a From header) the address
 * canon_lp@canon_domain of a domain with settings canon (NULL: compare the
 * localpart exactly)? Domains compare ASCII-case-insensitively. */
bool store_rules_addr_is(const char *localpart, const char *domain,
	const char *canon_lp, const char *canon_domain,
	const struct store_domain_canon *canon);

/* The first ruleset in rs[0..n) whose conditions all match the message,
 * or NULL. SMTPMailFromRegexp matches facts->mailfrom; MsgFromRegexp
 * "lp@domain" of the From address (never when there is none);
 * VerifiedDomain equals, or is a parent domain of, the EHLO domain when
 * ehlo_validated, the MAIL FROM domain when mailfrom_validated, or a DKIM
 * domain; every header rule matches at least one field of facts->header. */
const struct store_ruleset *store_rules_match(const struct store_ruleset *rs,
	size_t n, const struct store_msg_facts *facts);

/* Mailbox for a message to destination d: the matching ruleset's mailbox,
 * else d->mailbox, else "Inbox". *ruleset_r (may be NULL) gets the matching
 * ruleset or NULL; its modifiers apply to the junk analysis. The returned
 * string lives in d. */
const char *store_rules_choose(const struct store_destination *d,
	const struct store_msg_facts *facts, const struct store_ruleset **ruleset_r);

/* ListAllowDomain of a matched ruleset: is rs->list_allow_domain exactly
 * the SPF-validated MAIL FROM domain or a DKIM domain? (For the junk
 * analysis issue: such messages are accepted without junk checks.) */
bool store_rules_list_allowed(const struct store_ruleset *rs,
	const struct store_msg_facts *facts);

/* May a message with From localpart@domain (NULL/"" when there is no
 * single From address) be sent to alias a? Yes when it is a member; when
 * it is the alias address itself, only if allow_msg_from; otherwise only if
 * post_public. */
bool store_alias_accepts_from(const struct store_alias *a,
	const char *from_localpart, const char *from_domain);

/* Is one of account_id's addresses a local member of alias a? */
bool store_alias_has_account(const struct store_alias *a, int64_t account_id);

/* Do two resolved recipients (status OK) name the same destination (same
 * address row, same alias, or both the postmaster fallback of one account)?
 * smtpd answers a repeated RCPT TO for the same destination with 250 but
 * keeps it once. */
bool store_recipient_same(const struct store_recipient *a,
	const struct store_recipient *b);

/* The single address in the From header of header[0..n): 1 with malloc'd
 * *localpart_r and lower-case Unicode *domain_r; 0 when there is no From
 * field or it does not hold exactly one address with a domain. */
int store_msgfrom_parse(const char *header, size_t n, char **localpart_r,
	char **domain_r);

/* Read the header section of a message file (through the empty line, at
 * most max bytes) into out. 0 or -1 with *error_r. */
int store_msg_read_header(const char *path, size_t max, struct buf *out,
	const char **error_r);

/* ---- the delivery plan for one transaction (pure) ---- */

/* One accepted RCPT TO of the transaction. */
struct store_tx_recipient {
	const char *localpart;	/* as given in RCPT TO */
	const char *domain;	/* lower-case Unicode */
	const struct store_recipient *r;	/* status STORE_DEST_OK */
};

/* One copy to store. Pointers refer into the store_tx_recipient data. */
struct store_copy {
	size_t rcpt;		/* index of the RCPT TO it is for */
	int64_t account_id;
	const char *mailbox;	/* chosen mailbox, never NULL */
	const char *deliver_to;	/* address the copy is for: the recipient's, or
				 * the alias member's canonical address */
	const struct store_destination *dest;
	const struct store_ruleset *ruleset;	/* matched, or NULL */
};

/* An external alias member: to be forwarded by the outgoing queue (not
 * implemented yet: smtpd logs these and does not deliver them). */
struct store_forward {
	size_t rcpt;
	const char *address;
};

enum store_verdict {
	STORE_VERDICT_OK,		/* delivered to its copies (maybe none) */
	STORE_VERDICT_NOT_ALLOWED,	/* alias refuses the sender: 550 5.7.2 */
};

struct store_plan {
	struct store_copy *copies;
	size_t ncopies;
	struct store_forward *forwards;
	size_t nforwards;
	enum store_verdict *verdicts;	/* one per recipient */
	size_t nrefused;		/* recipients with NOT_ALLOWED */
};

/* Decide who gets the message, as the reference does: explicit address
 * recipients first, then aliases. An alias whose posting rules refuse the
 * From address gets STORE_VERDICT_NOT_ALLOWED and no copies. Alias members
 * are skipped when they are also an explicit recipient of the
 * transaction, or the sender (the From address or MAIL FROM). Each copy's
 * mailbox comes from store_rules_choose with the member's own destination.
 * Finally one copy per account and mailbox is kept (the first).
 * The plan points into rcpts, which must outlive it. Free with
 * store_plan_free. */
void store_plan_deliveries(const struct store_tx_recipient *rcpts, size_t n,
	const struct store_msg_facts *facts, struct store_plan *plan);
void store_plan_free(struct store_plan *plan);

/* The external alias members of plans, to queue: "lp@domain" addresses
 * as stored, split, the domain lower case, each once. */
struct store_forwards {
	char **localparts;
	char **domains;
	size_t n;
};
void store_forwards_add(struct store_forwards *f, const char *address);
void store_forwards_free(struct store_forwards *f);

/* ---- database lookups (store_lookup.c) ---- */

/* Resolve localpart@domain (domain lower-case Unicode, localpart as given)
 * for incoming mail, as the reference's LookupAddress: unknown domain ->
 * NOT_LOCAL; disabled domain -> DISABLED; localpart canonicalized (case,
 * catch-all separators); then the exact address or alias; then (except for
 * reports-only domains, which have exact addresses only) the "@domain"
 * catch-all; then postmaster@ falls back to the oldest account of the
 * domain. Address results carry mailbox, smtp_error and compiled
 * rulesets; alias results carry the members resolved to local destinations
 * or marked external. r is overwritten (free it with
 * store_recipient_free, also after -1). Returns 0, or -1 on a database
 * error. */
int store_recipient_lookup(struct store *st, const char *localpart,
	const char *domain, struct store_recipient *r, const char **error_r);

/* The server's postmaster (RCPT TO:<Postmaster> when the host name is not
 * a mail domain): the oldest account, Inbox. Status OK, or UNKNOWN when
 * there are no accounts. r is overwritten; a NOT_LOCAL result of
 * store_recipient_lookup holds no memory, so it may be passed as is. */
int store_recipient_postmaster(struct store *st, struct store_recipient *r,
	const char **error_r);

/* For submission: may account_id use localpart@domain as the message From
 * address? Yes when the address (or the catch-all it falls under) delivers
 * to the account, or when it is an alias with allow_msg_from of which the
 * account has a member address. Returns 1 yes, 0 no, -1 error;
 * *domain_disabled_r (may be NULL) is set when the domain is disabled
 * (then the answer is 0, and the submission should get a temporary
 * error). */
int store_alias_allows_from(struct store *st, int64_t account_id,
	const char *localpart, const char *domain, bool *domain_disabled_r,
	const char **error_r);

/* ---- administration (store_rules_db.c); domains and addresses are
 * given as parsed by the caller (domain lower-case Unicode) ---- */

enum store_domain_setting {
	STORE_DOMAIN_SEPARATORS,	/* value: characters, "" for none */
	STORE_DOMAIN_CASE_SENSITIVE,	/* value: "yes"/"no" */
	STORE_DOMAIN_DISABLED,
	STORE_DOMAIN_REPORTS_ONLY,
	/* store_admin.c: */
	STORE_DOMAIN_CLIENT_SETTINGS,	/* host name mail clients use, "" none */
	STORE_DOMAIN_DESCRIPTION,	/* one line of text */
	STORE_DOMAIN_DMARC_LOCALPART,	/* rua= address localpart, "" none */
	STORE_DOMAIN_TLSRPT_LOCALPART,	/* TLSRPT rua localpart, "" no record */
	STORE_DOMAIN_MTASTS_MODE,	/* enforce, testing, none; "" no MTA-STS;
					 * default: [web] mtasts_mode */
	STORE_DOMAIN_MTASTS_MAX_AGE,	/* seconds; 0 or default: [web] */
	STORE_DOMAIN_MTASTS_MX,		/* host patterns, comma-separated; "" host name */
};
/* Change one setting. Turning case sensitivity off is refused while an
 * address or alias of the domain has upper-case letters. */
int store_domain_set(struct store *st, const char *domain,
	enum store_domain_setting what, const char *value, const char **error_r);
/* Remove a domain with its aliases, DKIM keys and routes. Refused while
 * an account belongs to it or an address in it exists (store_admin.c). */
int store_domain_remove(struct store *st, const char *domain, const char **error_r);

enum store_address_setting {
	STORE_ADDRESS_MAILBOX,		/* value: mailbox name */
	STORE_ADDRESS_SMTP_ERROR,	/* value: SMTP reply, "" to clear */
	STORE_ADDRESS_AUTH_ERROR,	/* message_auth_required_smtp_error */
	STORE_ADDRESS_FULL_NAME,
};
/* Set a setting of an existing address ("" localpart: the catch-all). */
int store_address_set(struct store *st, const char *localpart,
	const char *domain, enum store_address_setting what, const char *value,
	const char **error_r);
/* Remove an address with its rulesets and alias memberships. Refused when
 * it is the last member of an alias. */
int store_address_remove(struct store *st, const char *localpart,
	const char *domain, const char **error_r);

/* Add an alias with at least one member (addresses "lp@domain"; local
 * members must be existing addresses, external ones are kept for the
 * queue). Refused when the localpart is an address, contains a catch-all
 * separator, or the alias exists. */
int store_alias_add(struct store *st, const char *localpart, const char *domain,
	bool post_public, bool list_members, bool allow_msg_from,
	const char *const *members, size_t nmembers, const char **error_r);
int store_alias_remove(struct store *st, const char *localpart,
	const char *domain, const char **error_r);
enum store_alias_setting {
	STORE_ALIAS_POST_PUBLIC,
	STORE_ALIAS_LIST_MEMBERS,
	STORE_ALIAS_ALLOW_MSG_FROM,
};
int store_alias_set(struct store *st, const char *localpart, const char *domain,
	enum store_alias_setting what, bool value, const char **error_r);
/* Add members (each must be new) / remove members (each must exist, and
 * at least one must remain). */
int store_alias_members_add(struct store *st, const char *localpart,
	const char *domain, const char *const *members, size_t n,
	const char **error_r);
int store_alias_members_remove(struct store *st, const char *localpart,
	const char *domain, const char *const *members, size_t n,
	const char **error_r);

/* Aliases for listing: of one domain, or all when domain is NULL, ordered
 * by domain and localpart; members as stored, no destinations. */
int store_alias_list(struct store *st, const char *domain,
	struct store_alias **aliases_r, size_t *n_r, const char **error_r);
void store_aliases_free(struct store_alias *a, size_t n);

/* Append a ruleset (after validating it with store_ruleset_compile) to an
 * existing address; *position_r (may be NULL) gets its 1-based position. */
int store_ruleset_add(struct store *st, const char *localpart,
	const char *domain, struct store_ruleset *rs, int *position_r,
	const char **error_r);
/* The rulesets of an address in order (not compiled). */
int store_ruleset_list(struct store *st, const char *localpart,
	const char *domain, struct store_ruleset **rs_r, size_t *n_r,
	const char **error_r);
/* Remove the ruleset at 1-based position. */
int store_ruleset_remove(struct store *st, const char *localpart,
	const char *domain, int position, const char **error_r);
void store_rulesets_free(struct store_ruleset *rs, size_t n);

#endif
