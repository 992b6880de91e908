/* Accounts, mailboxes and messages: rows in PostgreSQL plus message files
 * under <datadir>/msg/. Every change bumps the account's modseq and sends a
 * NOTIFY on channel "mailstead_changes" with payload
 * "<account_id> <mailbox_id> <modseq>" so other processes (IMAP IDLE,
 * webmail) pick it up. Functions return 0 on success and -1 with *error_r
 * (per-thread storage) on failure unless stated otherwise. */
#ifndef MS_STORE_H
#define MS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "db/db.h"

#define STORE_NOTIFY_CHANNEL "mailstead_changes"

/* System flags, stored as bits in messages.flags. */
enum store_flag {
	SF_SEEN = 1 << 0,
	SF_ANSWERED = 1 << 1,
	SF_FLAGGED = 1 << 2,
	SF_DELETED = 1 << 3,
	SF_DRAFT = 1 << 4,
	SF_FORWARDED = 1 << 5,	/* $Forwarded */
	SF_JUNK = 1 << 6,	/* $Junk */
	SF_NOTJUNK = 1 << 7,	/* $NotJunk */
	SF_PHISHING = 1 << 8,	/* $Phishing */
	SF_MDNSENT = 1 << 9,	/* $MDNSent */
};
#define SF_ALL 0x3ff

/* IMAP name of a flag bit ("\\Seen", "$Junk"), or NULL. */
const char *store_flag_name(unsigned bit);
/* Flag bit for an IMAP flag/keyword name (case-insensitive), or 0 when it
 * is not a system flag (then it is a keyword). */
unsigned store_flag_parse(const char *name, size_t len);

struct store {
	struct db_pool *pool;
	char *datadir;
	/* Highest msg/ bucket directory known to be durable in msg/; -1
	 * none. Starts at -1 so the first delivery of a process syncs once. */
	_Atomic int64_t durable_bucket;
	/* Deliveries waiting to be committed together (store_deliver.c). */
	struct store_deliver_queue *dq;
};

enum store_open_flags {
	STORE_OPEN_DIRS = 1,	/* create <datadir>/tmp and msg (daemons) */
};

/* Create the store handle. With STORE_OPEN_DIRS, make sure <datadir>/tmp
 * and msg exist (call after dropping privileges so they get the daemon's
 * owner); commands that only touch the database pass 0. */
struct store *store_open(struct db_pool *pool, const char *datadir,
	unsigned flags, const char **error_r);
void store_close(struct store **st);

/* ---- domains, accounts, credentials (store_account.c) ---- */

/* Add a domain (name already lower case; IDNA handled by the caller).
 * Returns 0, or -1 (also when it exists). */
int store_domain_add(struct store *st, const char *domain, const char **error_r);

/* Create an account named after its address localpart@domain (domain must
 * exist), with the address as destination and the default mailboxes Inbox,
 * Sent, Drafts, Trash, Junk, Archive (with special-use flags). Sets
 * *account_id_r. */
int store_account_add(struct store *st, const char *localpart,
	const char *domain, int64_t *account_id_r, const char **error_r);

/* Add another destination address for an account. An empty localpart is
 * the @domain catch-all. */
int store_address_add(struct store *st, const char *localpart,
	const char *domain, int64_t account_id, const char **error_r);

/* Account id by account name or by one of its addresses. Returns 1 found,
 * 0 not found, -1 error. */
int store_account_find(struct store *st, const char *name_or_address,
	int64_t *account_id_r, const char **error_r);

/* Set the password: stores the yescrypt hash, SCRAM-SHA-1/256 keys and
 * CRAM-MD5 pads (lib/auth/password.h). */
int store_password_set(struct store *st, int64_t account_id,
	const char *password, const char **error_r);

enum store_account_setting {
	STORE_ACCOUNT_FULL_NAME,
	STORE_ACCOUNT_LOGIN_DISABLED,	/* message shown at login; "" enables */
	STORE_ACCOUNT_QUOTA,		/* bytes (k/m/g suffixes), 0 no limit */
	STORE_ACCOUNT_MAX_OUTGOING,	/* max_outgoing_messages_per_day */
	STORE_ACCOUNT_MAX_FIRST_TIME,	/* max_first_time_recipients_per_day */
	STORE_ACCOUNT_KEEP_RETIRED,	/* keep_retired_message_period: a duration
					 * ("7d", seconds), 0 keeps none */
};
/* Change one setting of an account (store_admin.c). Returns 0, or -1
 * with *error_r (bad value, no such account, database). */
int store_account_set(struct store *st, int64_t account_id, enum store_account_setting what,
	const char *value, const char **error_r);
/* Remove an account with its addresses, mailboxes, messages (files too),
 * credentials, keys and history; its addresses leave the aliases they
 * are members of (refused when one would be left without members).
 * Web sessions go by cascade: callers in the web programs first call
 * web_sessions_remove_account so the session caches hear of it. */
int store_account_remove(struct store *st, int64_t account_id, const char **error_r);

/* Check a login (an address or account name) and password. Returns 1 and
 * *account_id_r when valid, 0 when not (unknown user, wrong password, login
 * disabled), -1 on error. Takes about the same time for unknown users. */
int store_login(struct store *st, const char *username, const char *password,
	int64_t *account_id_r, const char **error_r);

/* ---- recipient lookup (store_lookup.c) ---- */

enum store_dest_status {
	STORE_DEST_OK,
	STORE_DEST_UNKNOWN,	/* domain is ours, address is not */
	STORE_DEST_NOT_LOCAL,	/* domain is not ours (relay) */
	STORE_DEST_DISABLED,	/* domain disabled: temporary failure */
	STORE_DEST_SMTP_ERROR,	/* address configured to reject (smtp_error) */
	STORE_DEST_ALIAS,	/* an alias: only store_recipient_lookup
				 * (store_rules.h) gives its members */
};

struct store_dest {
	enum store_dest_status status;
	int64_t account_id;
	int64_t address_id;
	char mailbox[256];	/* destination mailbox name */
	char smtp_error[256];	/* for STORE_DEST_SMTP_ERROR */
	char canonical[512];	/* canonical localpart@domain that matched */
};

/* Find the destination for localpart@domain (domain in lower case; localpart
 * as given). Applies the domain's case sensitivity and catch-all separators,
 * then the exact address or alias, then the @domain catch-all; postmaster@
 * any local domain falls back to the first account of that domain when not
 * defined. A summary of store_recipient_lookup (store_rules.h), which also
 * returns rulesets and alias members and is what smtpd uses. */
int store_lookup_dest(struct store *st, const char *localpart,
	const char *domain, struct store_dest *dest, const char **error_r);

/* Destination for the server's own postmaster (RCPT TO:<Postmaster> when
 * the host name is not a mail domain): the first account created. Sets
 * dest->status to STORE_DEST_OK, or STORE_DEST_UNKNOWN when there are no
 * accounts. */
int store_lookup_postmaster(struct store *st, struct store_dest *dest,
	const char **error_r);

/* ---- delivery (store_deliver.c) ---- */

/* A temporary file for an incoming message: <datadir>/tmp/<random>.
 * Returns the open fd (O_RDWR) and its path in *path_r (malloc'd). */
int store_tmpfile(struct store *st, char **path_r, const char **error_r);

struct store_rcpt;

struct store_msg_in {
	const char *path;	/* file with the message as received, fsync'd */
	const char *prefix;	/* header lines we add (CRLF-terminated) */
	size_t prefix_len;
	int64_t received;	/* unix seconds; 0 = now */
	unsigned flags;		/* initial SF_* flags */
	const char *const *keywords;	/* initial keywords, or NULL */
	size_t nkeywords;
	/* Envelope and connection facts; NULL/empty when not applicable. */
	const char *remote_ip;
	uint16_t tls_version;	/* e.g. 0x0304; 0 without TLS */
	uint16_t tls_cipher;	/* IANA cipher suite number; 0 without TLS */
	bool require_tls;	/* received with REQUIRETLS */
	const char *ehlo;
	const char *mailfrom;	/* "" for the null sender */
	/* Authentication results of incoming mail (messages columns of the
	 * same names); zero/NULL when not checked (submission, APPEND). */
	bool ehlo_validated, mailfrom_validated, msgfrom_validated;
	uint8_t ehlo_validation, mailfrom_validation, msgfrom_validation;	/* STORE_VALIDATION_* */
	const char *const *dkim_domains;	/* domains of passing signatures */
	size_t ndkim_domains;
	const char *spf_result, *dmarc_result, *dmarc_disposition, *iprev_result;
	/* Called inside the delivery transaction after this message's rows
	 * are inserted (rcpts have message_id, mailbox_id, uid set), to make
	 * rows that must exist exactly when the delivery does (incoming
	 * webhooks: webhook_incoming_tx). It may run more than once (the
	 * transaction is retried) and must not NOTIFY (see notify_payloads in
	 * store_deliver.c). Returning -1 fails the delivery. NULL for none. */
	int (*tx_hook)(PGconn *c, void *arg, const struct store_rcpt *rcpts, size_t n,
		const char **error_r);
	void *tx_hook_arg;
};

/* How an identity was validated (messages.*_validation). */
enum store_validation {
	STORE_VALIDATION_UNKNOWN = 0,
	STORE_VALIDATION_STRICT,
	STORE_VALIDATION_DMARC,
	STORE_VALIDATION_RELAXED,
	STORE_VALIDATION_PASS,
	STORE_VALIDATION_NEUTRAL,
	STORE_VALIDATION_TEMPERROR,
	STORE_VALIDATION_PERMERROR,
	STORE_VALIDATION_FAIL,
	STORE_VALIDATION_SOFTFAIL,
	STORE_VALIDATION_NONE,
};

struct store_rcpt {
	int64_t account_id;
	const char *mailbox;	/* name; created if missing ("Inbox" if NULL) */
	const char *rcpt_localpart;
	const char *rcpt_domain;
	/* A rejected message kept for the recipient (e.g. by DMARC policy):
	 * stored \Seen with is_reject, in mailbox (normally "Rejects"). */
	bool is_reject;
	/* Set by store_deliver: */
	int64_t message_id;
	int64_t mailbox_id;
	uint32_t uid;
	int64_t modseq;
};

/* store_deliver's result when an account's quota (quota_message_size)
 * would be exceeded: nothing was stored. */
#define STORE_OVER_QUOTA (-2)

/* Deliver one message to n recipients atomically: link the file into
 * msg/<id/8192>/<id> for each, fsync the directories, then insert all rows
 * and update counts in one transaction and NOTIFY. Concurrent calls are
 * committed together (group commit: one transaction and one WAL flush for
 * all deliveries waiting), each still all-or-nothing. On return 0 the
 * message is durable for every recipient; on -1 (or STORE_OVER_QUOTA)
 * nothing was stored (links removed).
 * The MIME structure, preview and envelope columns are derived from the
 * file. The caller removes the temporary file afterwards. */
int store_deliver(struct store *st, const struct store_msg_in *msg,
	struct store_rcpt *rcpts, size_t n, const char **error_r);

/* New messages (store_deliver, store_append) join the thread of the
 * nearest message of the account they refer to (mail_msgid_refs), and
 * arrive \Seen when that thread is muted. */

/* ---- IMAP APPEND and REPLACE (store_deliver.c) ---- */

/* store_append's result when the message to replace no longer exists:
 * nothing was stored. */
#define STORE_GONE (-4)

struct store_append_msg {
	const char *path;	/* the message file, fsync'd */
	int64_t received;	/* unix seconds; 0 = now */
	unsigned flags;		/* SF_* */
	const char *const *keywords;	/* lower case */
	size_t nkeywords;
	/* Set by store_append: */
	uint32_t uid;
	int64_t modseq;
};

struct store_append_result {
	int64_t mailbox_id;	/* target */
	uint32_t uidvalidity;
	/* REPLACE: the expunge's modseq (the messages' own modseqs are
	 * higher). */
	int64_t expunge_modseq;
};

/* Append the n messages (IMAP APPEND, RFC 3502 MULTIAPPEND) to the mailbox
 * named mailbox ("INBOX" in any case is Inbox), all or nothing in one
 * transaction: new UIDs in order, quota checked for the sum, files linked
 * and their directories fsync'd before COMMIT, NOTIFY after it. With
 * replace_mailbox_id > 0 (RFC 8508 REPLACE) the message replace_uid of
 * that mailbox is expunged in the same transaction, first, so its space
 * counts for the quota. Returns 0 (uids set), STORE_NO_MAILBOX (no such
 * mailbox; it is not created), STORE_OVER_QUOTA, STORE_GONE (replace_uid
 * does not exist) or -1 with *error_r; nothing is stored unless 0. */
int store_append(struct store *st, int64_t account_id, const char *mailbox,
	struct store_append_msg *msgs, size_t n, int64_t replace_mailbox_id,
	uint32_t replace_uid, struct store_append_result *r, const char **error_r);

/* ---- reports (store_reports.c) ---- */

/* A DMARC evaluation of an incoming message, for aggregate reports. */
struct store_dmarc_eval {
	const char *policy_domain;
	unsigned interval_hours;
	const char *addresses;	/* rua= as in the record (comma-separated) */
	const char *adkim, *aspf, *p, *sp, *fo;
	unsigned pct;
	const char *source_ip;
	const char *disposition;	/* none, quarantine, reject */
	bool aligned_dkim_pass, aligned_spf_pass;
	const char *override;	/* reason a reject was not applied, or NULL */
	const char *envelope_to, *envelope_from, *header_from;
	const char *const *dkim_domains, *const *dkim_selectors, *const *dkim_results;
	size_t ndkim;
	const char *spf_domain, *spf_scope, *spf_result;
};

/* Insert into dmarc_evaluations. Returns 0 or -1 with *error_r. */
int store_dmarc_evaluation_add(struct store *st, const struct store_dmarc_eval *e,
	const char **error_r);

/* ---- DKIM keys (store_dkim.c) ---- */

struct store_dkim_selector {
	int64_t id;
	char *domain;		/* lower case, A-labels as stored in domains */
	char *selector;
	char *algorithm;	/* "rsa" or "ed25519" */
	char *private_key;	/* PKCS#8 PEM; wiped by store_dkim_selectors_free */
	char **headers;		/* empty: the default list */
	size_t nheaders;
	bool oversign, sign;
	int64_t expiration_seconds;
	int64_t created;	/* unix seconds */
};

/* Add a selector for domain (which must exist). Returns 0, or -1 with
 * *error_r (unknown domain, selector already present, database). */
int store_dkim_selector_add(struct store *st, const char *domain,
	const struct store_dkim_selector *sel, const char **error_r);
/* Selectors of domain (NULL: all domains), only those with sign set when
 * signing_only, ordered by domain and selector. Returns 0 or -1. */
int store_dkim_selectors(struct store *st, const char *domain, bool signing_only,
	struct store_dkim_selector **v_r, size_t *n_r, const char **error_r);
/* Returns 1 removed, 0 no such selector, -1 error. */
int store_dkim_selector_rm(struct store *st, const char *domain, const char *selector,
	const char **error_r);
void store_dkim_selectors_free(struct store_dkim_selector *v, size_t n);
/* Turn signing with a selector on or off (a rotation keeps the old key
 * published without signing). Returns 1 changed, 0 no such selector, -1
 * error (store_admin.c). */
int store_dkim_selector_set_sign(struct store *st, const char *domain, const char *selector,
	bool sign, const char **error_r);

/* ---- mailboxes and messages (store_mailbox.c, store_message.c) ---- */

struct store_mailbox {
	int64_t id;
	char *name;
	uint32_t uidvalidity;
	uint32_t uidnext;
	char *special_use;	/* "sent", ... or NULL */
	bool subscribed;
	int64_t count_total, count_deleted, count_unread, count_unseen, size;
	char **keywords;
	size_t nkeywords;
};
void store_mailbox_free(struct store_mailbox *mb);
void store_mailboxes_free(struct store_mailbox *mbs, size_t n);

/* All mailboxes of the account, ordered by name (Inbox first). */
int store_mailbox_list(struct store *st, int64_t account_id,
	struct store_mailbox **mbs_r, size_t *n_r, const char **error_r);
/* Same, with each mailbox's HIGHESTMODSEQ (as store_mailbox_modseq) in
 * (*hms_r)[i] (malloc'd; free it and the mailboxes). */
int store_mailbox_list_modseq(struct store *st, int64_t account_id,
	struct store_mailbox **mbs_r, int64_t **hms_r, size_t *n_r, const char **error_r);
/* The mailboxes incoming mail is delivered to: the addresses' mailboxes and
 * those of rulesets that are not for mailing lists (the NOTIFY and ESEARCH
 * "inboxes" filter, RFC 5465 section 6). Free with store_names_free. */
int store_delivery_mailboxes(struct store *st, int64_t account_id, char ***names_r,
	size_t *n_r, const char **error_r);
/* One mailbox by name ("INBOX" case-insensitively is Inbox). Returns 1
 * found, 0 not found, -1 error. */
int store_mailbox_get(struct store *st, int64_t account_id, const char *name,
	struct store_mailbox *mb_r, const char **error_r);
/* Mailbox management (store_mailbox_admin.c). Names are as stored ("/"
 * separated, "INBOX" in any case means Inbox). Results other than 0/-1: */
#define STORE_MAILBOX_EXISTS 1		/* target name is taken */
#define STORE_MAILBOX_NOT_FOUND 2
#define STORE_MAILBOX_HAS_CHILDREN 3	/* delete: remove the children first */
#define STORE_MAILBOX_IS_INBOX 4	/* delete: Inbox cannot be deleted */
/* A name we accept for a new mailbox: not empty, no leading, trailing or
 * doubled "/", no control characters, no "*" or "%". */
bool store_mailbox_name_ok(const char *name);
/* Create (with missing parents) and optional special use ("junk", ...).
 * Returns 0 (*id_r set), STORE_MAILBOX_EXISTS or -1. */
int store_mailbox_create(struct store *st, int64_t account_id, const char *name,
	const char *special_use, int64_t *id_r, const char **error_r);
/* Delete a mailbox, its messages (files removed after commit) and its
 * METADATA annotations. Returns 0 (*nmessages_r: messages removed),
 * STORE_MAILBOX_NOT_FOUND, STORE_MAILBOX_HAS_CHILDREN,
 * STORE_MAILBOX_IS_INBOX or -1. */
int store_mailbox_delete(struct store *st, int64_t account_id, const char *name,
	size_t *nmessages_r, const char **error_r);
/* Rename a mailbox with its children (new UIDVALIDITY each; missing
 * parents of the new name created; annotations stay with them). Renaming
 * Inbox moves its messages to a new mailbox instead (RFC 9051 6.3.6),
 * which gets a copy of Inbox's annotations (as the reference server
 * does; Inbox keeps its own). Returns 0, STORE_MAILBOX_NOT_FOUND,
 * STORE_MAILBOX_EXISTS (also for a name below itself),
 * STORE_METADATA_TOOMANY/TOOLARGE (the copied annotations would
 * exceed the account's limits) or -1. */
int store_mailbox_rename(struct store *st, int64_t account_id, const char *from,
	const char *to, const char **error_r);
/* Returns 0, STORE_MAILBOX_NOT_FOUND or -1. */
int store_mailbox_subscribe(struct store *st, int64_t account_id, const char *name,
	bool subscribed, const char **error_r);

/* Highest modseq of the account (the account's current modseq). */
int store_account_modseq(struct store *st, int64_t account_id,
	int64_t *modseq_r, const char **error_r);

struct store_msg {
	int64_t id;
	uint32_t uid;
	unsigned flags;
	char **keywords;
	size_t nkeywords;
	int64_t modseq;
	int64_t size;
	int64_t received;	/* unix seconds */
	int64_t savedate;	/* unix seconds: stored into this mailbox */
	char *file_path;	/* relative to datadir */
	size_t prefix_len;	/* length of msg_prefix */
	char *parsed;		/* JSON text of the MIME structure (mime.h) */
	bool have_prefix;	/* prefix loaded (STORE_MSGS_PREFIX) */
	struct buf prefix;
	/* With STORE_MSGS_PREVIEW: the stored preview, NULL when none was
	 * ever computed (store_msgs_set_previews fills it in). */
	char *preview;
	/* With STORE_SCAN_FIELDS: the row's search_fields (the header
	 * fields of store_search_fields, values unfolded, see
	 * mail_header_select), when it has them. */
	bool have_fields;
	struct buf fields;
};
void store_msg_free(struct store_msg *m);

/* The header fields kept with each message for searches (lower case):
 * From, To, Cc, Bcc, Subject. */
#define STORE_NSEARCH_FIELDS 5
extern const char *const store_search_fields[STORE_NSEARCH_FIELDS];
/* Whether name (any case) is one of them. */
bool store_is_search_field(const char *name);
void store_msgs_free(struct store_msg *ms, size_t n);

/* UIDs of all messages in the mailbox, ascending. */
int store_mailbox_uids(struct store *st, int64_t mailbox_id, uint32_t **uids_r,
	size_t *n_r, const char **error_r);

/* Every message of the mailbox in UID order with what IMAP keeps of it
 * per session (flags, keywords as one space-separated string, "" for none,
 * modseq): fn gets n, the number of messages, with each (for sizing). */
typedef void store_state_fn(void *ctx, size_t n, uint32_t uid, unsigned flags,
	int64_t modseq, const char *keywords);
int store_mailbox_states(struct store *st, int64_t mailbox_id, store_state_fn *fn, void *ctx,
	const char **error_r);

/* What store_msgs_get loads besides the metadata. */
enum store_msgs_what {
	STORE_MSGS_PARSED = 1,	/* m->parsed, the MIME JSON */
	STORE_MSGS_PREFIX = 2,	/* m->prefix, the header lines we added */
	STORE_MSGS_PREVIEW = 4,	/* m->preview */
};
/* Metadata of the messages with the given UIDs (ascending, unique) in the
 * mailbox; UIDs that no longer exist are skipped. what: STORE_MSGS_*
 * (a bool true is STORE_MSGS_PARSED). */
int store_msgs_get(struct store *st, int64_t mailbox_id, const uint32_t *uids,
	size_t n, unsigned what, struct store_msg **msgs_r, size_t *n_r,
	const char **error_r);
/* Conditions on message rows evaluated by the database (store_msgs_scan);
 * a row must meet all of them. store_msg_filter_init sets "no condition"
 * everywhere. Times are unix seconds compared with the columns' whole
 * seconds. */
struct store_msg_filter {
	unsigned flags_set;	/* every one of these SF_* bits set */
	unsigned flags_clear;	/* none of these bits set */
	const char *const *keywords;	/* all present (lower case) */
	size_t nkeywords;
	const char *const *no_keywords;	/* none present (lower case) */
	size_t nno_keywords;
	int64_t size_gt, size_lt;	/* -1: no bound */
	int64_t modseq_ge;		/* -1: no bound */
	int64_t received_ge, received_lt;	/* INT64_MIN / INT64_MAX: none */
	int64_t saved_ge, saved_lt;
	/* Candidates for a Subject search (NULL: none): rows whose stored
	 * envelope subject contains it ignoring case, plus every row whose
	 * subject the database cannot judge (encoded words, no envelope).
	 * Valid UTF-8 without NUL; the caller still checks the header. */
	const char *subject_contains;
	/* Candidates for a search on one of the stored header fields (NULL:
	 * none): rows whose search_fields contain it ignoring case, plus
	 * the rows the database cannot judge (encoded words, not stored).
	 * Valid UTF-8 without NUL; the caller still checks the field. */
	const char *fields_contains;
};
void store_msg_filter_init(struct store_msg_filter *f);
/* Whether f has any condition. */
bool store_msg_filter_active(const struct store_msg_filter *f);
/* Rows of the mailbox with after < uid <= last that meet f (NULL: all),
 * ascending by UID, at most limit of them, with only the small columns:
 * uid, flags, modseq, size, received, savedate, and the keywords when
 * with_keywords (id, file_path, prefix and parsed stay empty). For
 * searches over a whole mailbox that need no message text
 * (store_search.c). */
enum store_scan_what {
	STORE_SCAN_KEYWORDS = 1,	/* m->keywords */
	/* m->fields; rows without stored fields come with id, file_path
	 * and prefix instead, so their header can be read from the file
	 * (store_msg_read_header_part) */
	STORE_SCAN_FIELDS = 2,
};
int store_msgs_scan(struct store *st, int64_t mailbox_id, uint32_t after, uint32_t last,
	size_t limit, const struct store_msg_filter *f, unsigned what,
	struct store_msg **msgs_r, size_t *n_r, const char **error_r);
/* Save computed previews (RFC 8970) of messages that have none stored, in
 * one statement: previews[i] for uids[i]. The modseq does not change (a
 * preview is derived data, not a change of the message). */
int store_msgs_set_previews(struct store *st, int64_t mailbox_id, const uint32_t *uids,
	const char *const *previews, size_t n, const char **error_r);
/* Free a list of names (store_delivery_mailboxes). */
void store_names_free(char **names, size_t n);

/* Append the header section of message m (prefix and the file's header,
 * through the empty line; at most max bytes of the file are read) to out.
 * Uses m->prefix when loaded (STORE_MSGS_PREFIX), else asks the database.
 * Returns 0 or -1. */
int store_msg_read_header_part(struct store *st, const struct store_msg *m, size_t max,
	struct buf *out, const char **error_r);

/* Read the whole message (prefix followed by the file) into out. */
int store_msg_read(struct store *st, int64_t message_id, const char *file_path,
	struct buf *out, const char **error_r);
/* Same for a message of store_msgs_get: with its prefix loaded
 * (STORE_MSGS_PREFIX) only the file is read, no query is made. Returns 0
 * or -1. */
int store_msg_read_msg(struct store *st, const struct store_msg *m, struct buf *out,
	const char **error_r);

enum store_flag_op { STORE_FLAGS_SET, STORE_FLAGS_ADD, STORE_FLAGS_REMOVE };

struct store_flag_change {
	uint32_t uid;
	unsigned flags;
	char **keywords;
	size_t nkeywords;
	int64_t modseq;
};
void store_flag_changes_free(struct store_flag_change *c, size_t n);

/* Change flags/keywords of the messages with the given UIDs. Messages whose
 * modseq is above unchangedsince (when >= 0) are not changed and their UIDs
 * returned in *failed_r (may be NULL when unchangedsince < 0). The new state
 * of every message that actually changed is returned in *changes_r. */
int store_flags_change(struct store *st, int64_t account_id, int64_t mailbox_id,
	const uint32_t *uids, size_t n, enum store_flag_op op, unsigned flags,
	const char *const *keywords, size_t nkeywords, int64_t unchangedsince,
	struct store_flag_change **changes_r, size_t *nchanges_r,
	uint32_t **failed_r, size_t *nfailed_r, const char **error_r);

/* Expunge messages with \Deleted in the mailbox; when uids is non-NULL only
 * those among the given UIDs. Expunged UIDs (ascending) go to *expunged_r.
 * Leaves tombstones, updates counts, removes files after commit. */
int store_expunge(struct store *st, int64_t account_id, int64_t mailbox_id,
	const uint32_t *uids, size_t n, uint32_t **expunged_r, size_t *nexpunged_r,
	const char **error_r);

/* ---- webmail changes (store_change.c) ---- */

/* Remove messages for good, whatever their flags (webmail delete, empty
 * mailbox): like store_expunge without the \Deleted condition, in one
 * transaction (tombstones, counts, NOTIFY), files removed after commit.
 * uids NULL: every message of the mailbox. */
int store_remove(struct store *st, int64_t account_id, int64_t mailbox_id,
	const uint32_t *uids, size_t n, uint32_t **expunged_r, size_t *nexpunged_r,
	const char **error_r);
/* Whether use is one of the RFC 6154 uses we keep: archive, drafts, junk,
 * sent, trash. */
bool store_special_use_ok(const char *use);
/* Give the mailbox special use use (NULL or "": none); the mailbox of the
 * account that had it loses it. Returns 0, STORE_MAILBOX_NOT_FOUND (not a
 * mailbox of the account) or -1. */
int store_mailbox_set_special_use(struct store *st, int64_t account_id, int64_t mailbox_id,
	const char *use, const char **error_r);
/* Set thread_muted (mute 0/1) and/or thread_collapsed (collapse 0/1; -1
 * leaves either as is) on every message of the threads of the given
 * messages of the account (a message without thread_id is its own
 * thread). Changed messages get a new modseq; NOTIFY per mailbox. Ids of
 * other accounts are ignored. */
int store_threads_set(struct store *st, int64_t account_id, const int64_t *message_ids, size_t n,
	int mute, int collapse, const char **error_r);

/* ---- copy and move (store_copy.c) ---- */

/* store_copy's result when the target mailbox does not exist. */
#define STORE_NO_MAILBOX (-3)

struct store_copy_result {
	int64_t mailbox_id;	/* target */
	uint32_t uidvalidity;	/* of the target */
	uint32_t *src_uids;	/* copied source UIDs, ascending */
	uint32_t *dst_uids;	/* their new UIDs in the target, same order */
	size_t n;
	int64_t modseq;		/* account modseq of the change */
};
void store_copy_result_free(struct store_copy_result *r);

/* Copy the messages with the given UIDs (ascending) of mailbox src_mailbox_id
 * into the mailbox named target (may be the same): new rows with every
 * column, flags and keywords kept, new UIDs in source UID order, one new
 * hard link per copy (bucket directories fsync'd before the commit). Copies
 * into the special-use junk mailbox get $Junk and lose $NotJunk; copies out
 * of it into any mailbox but trash get $NotJunk and lose $Junk. With move,
 * the originals are expunged (tombstones, counts) in the same transaction.
 * UIDs that no longer exist are skipped (r->n may be 0). Returns 0, -1 with
 * *error_r, STORE_OVER_QUOTA (copy only) or STORE_NO_MAILBOX; nothing is
 * changed on error. Free r with store_copy_result_free. */
int store_copy(struct store *st, int64_t account_id, int64_t src_mailbox_id,
	const uint32_t *uids, size_t n, const char *target, bool move,
	struct store_copy_result *r, const char **error_r);

/* Changes in a mailbox since modseq: messages added or changed (uid, flags,
 * keywords, modseq; created true when createseq > since) and UIDs expunged
 * (tombstones with modseq > since). *modseq_r is the account modseq the
 * answer is consistent with. */
struct store_change {
	uint32_t uid;
	bool created;
	unsigned flags;
	char **keywords;
	size_t nkeywords;
	int64_t modseq;
};
int store_changes_since(struct store *st, int64_t account_id, int64_t mailbox_id,
	int64_t since, struct store_change **changes_r, size_t *n_r,
	uint32_t **expunged_r, size_t *nexpunged_r, int64_t *modseq_r,
	const char **error_r);
void store_changes_free(struct store_change *c, size_t n);

/* A mailbox's HIGHESTMODSEQ (RFC 7162 section 3.1.1) in one snapshot: the
 * largest of the mailbox row's modseq, its messages' and tombstones' modseqs
 * and sync_state.highest_deleted_modseq, so it never decreases when
 * tombstones are cleaned. Also the account's modseq (*account_r) and
 * highest_deleted_modseq (*deleted_r, 0 when never cleaned); either may be
 * NULL. Returns 0, or -1 (also for an unknown mailbox) with *error_r. */
int store_mailbox_modseq(struct store *st, int64_t account_id, int64_t mailbox_id,
	int64_t *highest_r, int64_t *account_r, int64_t *deleted_r, const char **error_r);

/* UIDs (ascending, malloc'd, NULL when none) of the mailbox's tombstones
 * with modseq above since. */
int store_expunged_since(struct store *st, int64_t mailbox_id, int64_t since,
	uint32_t **uids_r, size_t *n_r, const char **error_r);

/* ==== quota figures and METADATA annotations (store_metadata.c,
 * sql/006_metadata.sql) ==== */

/* The account's quota_message_size (*limit_r, 0: no limit) and disk_usage
 * (*usage_r), both in bytes. Returns 0, or -1 (also for an unknown
 * account). */
int store_account_quota(struct store *st, int64_t account_id, int64_t *limit_r,
	int64_t *usage_r, const char **error_r);
/* Sum of the sizes of the messages with \Deleted in the mailbox (what an
 * EXPUNGE would free of the quota), in bytes. */
int store_mailbox_deleted_size(struct store *st, int64_t mailbox_id, int64_t *size_r,
	const char **error_r);

/* Limits per account, over all its mailboxes and server annotations: the
 * number of entries, and the bytes of entry names plus values. */
#define STORE_METADATA_MAX_ENTRIES 1000
#define STORE_METADATA_MAX_SIZE 1000000
/* Results of store_metadata_set (and store_mailbox_rename, which copies
 * the annotations of Inbox) when a limit above would be exceeded; nothing
 * was changed. Distinct from the STORE_MAILBOX_* results. */
#define STORE_METADATA_TOOMANY 5
#define STORE_METADATA_TOOLARGE 6

struct store_metadata {
	int64_t mailbox_id;	/* 0: a server annotation */
	char *entry;		/* lower case, "/private/..." or "/shared/..." */
	struct buf value;	/* any bytes (set as a literal) */
	bool is_string;		/* set as a quoted string, return it as one */
};
void store_metadata_free(struct store_metadata *v, size_t n);

/* store_metadata_get's mailbox_id for the annotations of all mailboxes of
 * the account (not the server ones). */
#define STORE_METADATA_ALL_MAILBOXES (-1)
/* Annotations of one mailbox (mailbox_id > 0), of the server (0) or of all
 * mailboxes (STORE_METADATA_ALL_MAILBOXES) of the account; with entries
 * only those entry names (lower case), else all. One query; ordered by
 * mailbox id, then entry name. *v_r is malloc'd (free with
 * store_metadata_free), NULL when there are none. */
int store_metadata_get(struct store *st, int64_t account_id, int64_t mailbox_id,
	const char *const *entries, size_t nentries, struct store_metadata **v_r,
	size_t *n_r, const char **error_r);

/* Every annotation of the account with the modseq of its last change
 * (mailbox_id 0: the account's own), ordered by mailbox_id and entry; for
 * NOTIFY's MailboxMetadataChange and ServerMetadataChange. */
struct store_metadata_version {
	int64_t mailbox_id;
	char *entry;
	int64_t modseq;
};
int store_metadata_versions(struct store *st, int64_t account_id,
	struct store_metadata_version **v_r, size_t *n_r, const char **error_r);
void store_metadata_versions_free(struct store_metadata_version *v, size_t n);
/* One change of store_metadata_set: value NULL removes the entry. */
struct store_metadata_change {
	const char *entry;	/* lower case, "/private/..." or "/shared/..." */
	const char *value;
	size_t len;
	bool is_string;
};
/* Set or remove annotations of the mailbox named mailbox (as stored;
 * "INBOX" in any case is Inbox; NULL: server annotations) in one
 * transaction; a later change of the same entry wins. Bumps the account's
 * modseq (and the mailbox's, so its HIGHESTMODSEQ moves). Returns 0,
 * STORE_MAILBOX_NOT_FOUND, STORE_METADATA_TOOMANY, STORE_METADATA_TOOLARGE
 * (nothing changed) or -1. */
int store_metadata_set(struct store *st, int64_t account_id, const char *mailbox,
	const struct store_metadata_change *ch, size_t n, const char **error_r);

/* ==== SASL credentials, TLS client keys, login attempts, server secrets
 * (store_credentials.c, sql/002_tls_pubkeys.sql) ==== */

struct sasl_creds;	/* auth/sasl.h */

/* Credentials of the account with this name or address (found like
 * store_account_find) for the SASL state machine. Returns 1 found (out
 * filled; have_password false when no password was ever set), 0 unknown,
 * -1 error. */
int store_credentials_lookup(struct store *st, const char *username,
	struct sasl_creds *out, const char **error_r);
/* The same with the sasl_lookup_fn signature (ctx is the struct store *);
 * errors are logged. For struct sasl_params.lookup. */
int store_sasl_lookup(void *ctx, const char *username, struct sasl_creds *out);

/* A random secret of len bytes (1..1024) named name, created on first use
 * and the same for every process sharing the database, e.g.
 * "sasl-fake-salt" for struct sasl_params.secret. Appended to out. */
int store_server_secret(struct store *st, const char *name, size_t len,
	struct buf *out, const char **error_r);

struct store_tlspubkey {
	char *fingerprint;	/* tlspubkey.h: base64url SHA-256 of the SPKI */
	char *type;		/* "ecdsa-p256", ... */
	char *name;
	bool no_imap_preauth;
	struct buf cert_der;
	int64_t account_id;
	char *account_name;	/* filled by list/lookup; ignored by add */
	char *login_address;
	int64_t created;	/* unix seconds; filled by list/lookup */
};
/* Free the members (not k itself). */
void store_tlspubkey_free(struct store_tlspubkey *k);
void store_tlspubkeys_free(struct store_tlspubkey *ks, size_t n);

/* Add a key. login_address must be an address (or the name) of account_id.
 * Fails when the fingerprint is already registered (to any account). */
int store_tlspubkey_add(struct store *st, const struct store_tlspubkey *k,
	const char **error_r);
/* Change name, no_imap_preauth and login_address of an existing key (same
 * check of login_address). Returns 1 updated, 0 no such key, -1 error. */
int store_tlspubkey_update(struct store *st, const struct store_tlspubkey *k,
	const char **error_r);
/* Keys of one account (account_id > 0) or of all, by account then name. */
int store_tlspubkey_list(struct store *st, int64_t account_id,
	struct store_tlspubkey **keys_r, size_t *n_r, const char **error_r);
/* The key with this fingerprint (what a daemon does for a client
 * certificate). Returns 1 found (*k_r filled, free with
 * store_tlspubkey_free), 0 unknown, -1 error. */
int store_tlspubkey_lookup(struct store *st, const char *fingerprint,
	struct store_tlspubkey *k_r, const char **error_r);
/* Returns 1 removed, 0 no such key (of that account when account_id > 0),
 * -1 error. */
int store_tlspubkey_remove(struct store *st, const char *fingerprint,
	int64_t account_id, const char **error_r);

/* A login attempt, FEATURES.md section 4 LoginAttempt. Strings may be
 * NULL (stored as ""); they are cut to 512 bytes and made printable UTF-8.
 * account_name: "-" (or NULL/"") when no account matched, "(admin)" for
 * admin logins. result: see sasl_server_result(), plus "aborted",
 * "ratelimited", "baduser", "badpassword". */
struct store_login_attempt {
	const char *account_name, *login_address, *remote_ip, *local_ip, *tls,
		*tls_pubkey_fingerprint, *protocol, *user_agent, *auth_mech, *result;
	/* Filled by store_login_attempt_list only: */
	int64_t first, last, count;
};
/* Count the attempt on its row (one per distinct combination of the
 * strings), keeping at most 10000 failed rows per account name. */
int store_login_attempt_record(struct store *st, const struct store_login_attempt *a,
	const char **error_r);
/* The same for a login on connection c (addresses and TLS facts from it):
 * account may be NULL/"" ("-"), login and fingerprint NULL (""). Errors
 * are logged, not returned: recording must not fail a login. */
struct conn;
void store_login_attempt_conn(struct store *st, const struct conn *c, const char *protocol,
	const char *fingerprint, const char *mech, const char *login, const char *account,
	const char *result);
/* Most recent first; account_name NULL for all; limit 0 for no limit. The
 * strings of the returned attempts are malloc'd: free with
 * store_login_attempts_free. */
int store_login_attempt_list(struct store *st, const char *account_name, size_t limit,
	struct store_login_attempt **attempts_r, size_t *n_r, const char **error_r);
void store_login_attempts_free(struct store_login_attempt *a, size_t n);
/* Remove rows not used for max_age seconds (the reference keeps 30 days);
 * *removed_r (may be NULL) gets the number removed. */
int store_login_attempt_cleanup(struct store *st, int64_t max_age, int64_t *removed_r,
	const char **error_r);
/* Remove all rows of an account name (when the account is removed). */
int store_login_attempt_remove_account(struct store *st, const char *account_name,
	const char **error_r);

/* ==== end of store_credentials.c block ==== */

#endif
