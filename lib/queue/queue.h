/* The outgoing queue, enqueue side: queue_add puts a submitted message in
 * the queue (a file under <datadir>/queue/ plus one row per recipient), and
 * helpers for the account send limits, X-Mailstead-Extra-* headers,
 * FUTURERELEASE, hold rules, the suppression list and the admin commands.
 * Used by smtpd (submission), the webapi and the CLI; mailstead-queued
 * delivers. Functions return 0 on success and -1 with *error_r (per-thread
 * storage) on failure unless stated otherwise. */
#ifndef MS_QUEUE_H
#define MS_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct store;	/* store/store.h */

/* NOTIFY channel, sent (by a trigger on the queue table, payload "") in
 * every transaction that queues messages, releases them from hold or
 * changes their next attempt. */
#define QUEUE_NOTIFY_CHANNEL "mailstead_queue"

/* FUTURERELEASE (RFC 4865) limit: a message may be held for delivery at
 * most this long after submission (announced in EHLO). */
#define QUEUE_FUTURE_RELEASE_MAX (60 * 24 * 3600)

/* Message files go to <datadir>/queue/<id / QUEUE_MSG_PER_DIR>/<id>. */
#define QUEUE_MSG_PER_DIR 8192

/* Header fields whose name starts with this (case-insensitively) carry
 * "extra" data (FEATURES.md: X-Mox-Extra-* in the reference). */
#define QUEUE_EXTRA_HEADER_PREFIX "X-Mailstead-Extra-"

/* ---- extra data (queue_extra.c; no database) ---- */

struct queue_extra_kv {
	char *key;
	char *value;
};

struct queue_extra {
	struct queue_extra_kv *v;	/* in header order */
	size_t n;
};

void queue_extra_free(struct queue_extra *e);
/* Append a pair (copies both); for the webapi's JSON "Extra". */
void queue_extra_add(struct queue_extra *e, const char *key, const char *value);

/* Collect the X-Mailstead-Extra-<Key> fields of a header section into
 * *extra (initialized here; free it in either case). s/n may be the whole
 * message: parsing stops at the empty line ending the header.
 * Keys: the field name is canonicalized as the reference does (Go's
 * CanonicalMIMEHeaderKey: first letter and every letter after '-' upper
 * case, the rest lower case) and the prefix removed, so
 * "x-mailstead-extra-order-id" gives key "Order-Id". The name must be an
 * RFC 9110 token and the key non-empty.
 * Values: unfolded (each line trimmed, continuation lines joined with one
 * space), must be valid UTF-8 without control characters other than tab.
 * Returns 0 (also with no such fields), or -1 with *error_r when a field is
 * malformed or a key occurs twice; submission answers that with
 * "554 5.6.0" (the reference's code). */
int queue_extract_extra(const char *s, size_t n, struct queue_extra *extra,
	const char **error_r);

/* Does the header field name (namelen bytes) start with the extra prefix,
 * ignoring case? */
bool queue_is_extra_header(const char *name, size_t namelen);

/* Copy the message s/n to out without its X-Mailstead-Extra-* header
 * fields (with their continuation lines); everything else byte for byte.
 * Returns the number of fields removed. */
size_t queue_strip_extra(const char *s, size_t n, struct buf *out);

/* Base address of the suppression list (the reference's
 * webapi.Suppression.BaseAddress): the localpart cut at the first '+' or
 * '-', dots removed, lower case (Unicode simple case mapping), then '@' and
 * the domain (given in lower-case Unicode form), formatted as an SMTP
 * address (quoted when needed). Appends to out. */
void queue_base_address(struct buf *out, const char *localpart,
	const char *domain);

/* Append s with every byte that is not part of valid UTF-8 replaced by
 * U+FFFD (text columns must be UTF-8; raw 8-bit headers often are not). */
void queue_utf8_sanitize(struct buf *out, const char *s);

/* FUTURERELEASE, RFC 4865 section 3 (MAIL FROM parameters, submission only):
 *   holdfor-value   = 1*9DIGIT   (seconds; no leading zero, not 0)
 *   holduntil-value = date-time  (RFC 3339, in UTC: "Z")
 * now is unix seconds. On 0, *next_r is the unix time of the first
 * delivery attempt (fractions of a second round up) and request (>= 64
 * bytes) gets "for;<n>" or "until;<value>" for queue.future_release_request.
 * Returns -1 for bad syntax (reply 501 5.5.4), 1 when the time is in the
 * past or more than QUEUE_FUTURE_RELEASE_MAX ahead (reply 554 5.5.4, as the
 * reference does), with *error_r set. */
int queue_parse_holdfor(const char *value, int64_t now, int64_t *next_r,
	char *request, size_t requestsize, const char **error_r);
int queue_parse_holduntil(const char *value, int64_t now, int64_t *next_r,
	char *request, size_t requestsize, const char **error_r);

/* ---- queueing (queue.c) ---- */

enum queue_tls {
	QUEUE_TLS_DEFAULT = 0,	/* recipient domain policy (NULL) */
	QUEUE_TLS_REQUIRED,	/* REQUIRETLS */
	QUEUE_TLS_NOT_REQUIRED,	/* "TLS-Required: No" */
};

/* Why queue_add or queue_check_limits refused (positive return values). */
enum queue_refusal {
	QUEUE_OK = 0,
	/* max_outgoing_messages_per_day reached: 451 4.7.1 */
	QUEUE_LIMIT_MESSAGES = 1,
	/* max_first_time_recipients_per_day reached: 451 4.7.1 */
	QUEUE_LIMIT_FIRST_TIME = 2,
	/* a from_id is already used in queue or queue_retired */
	QUEUE_FROMID_EXISTS = 3,
};

struct queue_msg_in {
	/* The message as submitted, fsync'd, in the data directory's file
	 * system (e.g. from store_tmpfile). It is hard-linked, not moved:
	 * the caller removes it afterwards, as with store_deliver. */
	const char *path;
	/* Header lines to send before the file (Received, DKIM-Signature,
	 * Authentication-Results, generated Message-Id/Date), CRLF-terminated. */
	const char *prefix;
	size_t prefix_len;
	/* Submitting account, or 0 for messages of the system itself. With
	 * an account, the recipients are recorded for the send limits. */
	int64_t account_id;
	/* MAIL FROM for delivery; both "" for the null sender. Domain in
	 * lower-case Unicode form (mail_addr.domain). */
	const char *sender_localpart;
	const char *sender_domain;
	bool has_8bit;		/* needs 8BITMIME */
	bool smtputf8;		/* needs SMTPUTF8 */
	bool is_dmarc_report, is_tls_report;
	const char *message_id;	/* Message-ID with <>, or NULL */
	const char *subject;	/* raw Subject value, or NULL */
	enum queue_tls require_tls;
	/* First delivery attempt (unix seconds), 0 for now. Later than
	 * now + QUEUE_FUTURE_RELEASE_MAX (+1 minute of slack) is an error. */
	int64_t next_attempt;
	const char *future_release_request;	/* "for;N"/"until;T" or NULL */
	const struct queue_extra *extra;	/* NULL for none */
	/* Store the message without its X-Mailstead-Extra-* fields (then a
	 * copy is written; without such fields the file is linked as is).
	 * Submission sets this: the extra data travels in the queue row,
	 * not to the recipient. */
	bool strip_extra_headers;
	int max_attempts;	/* 0: default (8) */
	const char *transport;	/* NULL/"": routing rules */
	/* Check the account's send limits in the same transaction that
	 * queues (serialized per account, so concurrent submissions cannot
	 * both slip under a limit). Needs account_id. */
	bool check_limits;
};

struct queue_rcpt {
	const char *localpart;	/* as given in RCPT TO (unquoted) */
	const char *domain;	/* lower-case Unicode form, or "[literal]" */
	const char *from_id;	/* NULL/"" for none; unique when set */
};

/* Queue the message for n recipients (1 <= n <= 10000): take n ids, link
 * the file (or its stripped copy) to queue/<id/8192>/<id> for each and
 * fsync the directories, then in one transaction check the limits (when
 * asked) and from_ids, insert one row per recipient sharing base_id =
 * ids[0], put rows on hold that match a hold rule, record the recipients
 * for the send limits, and NOTIFY. ids_r (n entries, may be NULL) gets
 * the queue ids in recipient order.
 * Returns 0 when queued and durable; a positive enum queue_refusal (with
 * *error_r a human-readable reason) or -1 on error, in both cases with
 * nothing queued and no file left behind.
 * Recipients on the account's suppression list are queued too, as in the
 * reference: the delivery attempt fails them at once (DSN to the sender,
 * "failed" webhook), so the submitter always learns about it. */
int queue_add(struct store *st, const struct queue_msg_in *m,
	const struct queue_rcpt *rcpts, size_t n, int64_t *ids_r,
	const char **error_r);

/* The form of a recipient in the send-limit bookkeeping (outgoing,
 * outgoing_recipients): the unquoted localpart as submitted, '@', the
 * lower-case Unicode domain. Appends to out. */
void queue_rcpt_key(struct buf *out, const char *localpart, const char *domain);

/* The send limits of the account over the last 24 hours (the reference's
 * Account.SendLimitReached), for submitting to the n recipients (each as
 * queue_rcpt_key makes it):
 * - messages: rows in outgoing (one per recipient per message) + n >
 *   max_outgoing_messages_per_day -> QUEUE_LIMIT_MESSAGES;
 * - first-time: addresses first sent to in the last 24 hours + those among
 *   the n never sent to > max_first_time_recipients_per_day ->
 *   QUEUE_LIMIT_FIRST_TIME.
 * Sets *reason_r (QUEUE_OK or the limit hit) and *limit_r (may be NULL) to
 * the configured maximum of that limit. Returns 0 or -1. */
int queue_check_limits(struct store *st, int64_t account_id,
	const char *const *recipients, size_t n, int *reason_r, int64_t *limit_r,
	const char **error_r);

/* Text for a refusal, in the reference's words, e.g. "max number of
 * messages (1000) over past 24h reached, try increasing per-account setting
 * max_outgoing_messages_per_day"; limit as from queue_check_limits.
 * Per-thread storage (ms_err). */
const char *queue_refusal_text(int reason, int64_t limit);

/* ---- administration (queue_admin.c) ---- */

struct queue_msg {
	int64_t id, base_id;
	int64_t queued;		/* unix seconds */
	bool hold;
	char *account;		/* sender account name, "" when none */
	char *sender;		/* MAIL FROM address, "" for <> */
	char *recipient;
	char *from_id;
	int attempts, max_attempts;
	int64_t next_attempt;
	int64_t last_attempt;	/* 0: never */
	char *last_error;	/* error of the last result, "" if none */
	int64_t size;
	char *message_id, *subject, *transport;
	int require_tls;	/* -1 default (NULL), 0 no, 1 yes */
	char *future_release_request;
	char *extra;		/* JSON object text */
	char *file_path;	/* relative to the data directory */
};
void queue_msgs_free(struct queue_msg *v, size_t n);

/* All queued messages (at most max; 0 = no limit), by next attempt then
 * id. When account_id > 0 only that account's. */
int queue_list(struct store *st, int64_t account_id, size_t max,
	struct queue_msg **v_r, size_t *n_r, const char **error_r);
/* A page of queued messages for the admin interface: those matching f,
 * by next attempt then id, skipping offset, at most max (0: 1000);
 * *total_r gets how many match f in all. */
struct queue_filter {
	int64_t account_id;	/* 0: any */
	int hold;		/* -1: any, 0: not on hold, 1: on hold */
	const char *transport;	/* NULL: any; "" the default */
};
int queue_list_page(struct store *st, const struct queue_filter *f, size_t offset, size_t max,
	struct queue_msg **v_r, size_t *n_r, int64_t *total_r, const char **error_r);
/* One message. Returns 1 found, 0 not found, -1 error. */
int queue_get(struct store *st, int64_t id, struct queue_msg *m_r,
	const char **error_r);
/* Append the message as it will be sent (prefix then file) to out.
 * Returns 1, 0 not found, -1 error. */
int queue_msg_read(struct store *st, int64_t id, struct buf *out,
	const char **error_r);

/* Set or clear hold for the messages with the given ids; *changed_r (may be
 * NULL) gets the number of rows whose state changed. Releasing wakes the
 * delivery daemon (NOTIFY). */
int queue_hold_set(struct store *st, const int64_t *ids, size_t n, bool hold,
	size_t *changed_r, const char **error_r);

/* Remove messages from the queue without delivering ("canceled"): rows go
 * to queue_retired when the sender account keeps history
 * (keep_retired_message_period > 0), with a result "delivery canceled by
 * admin"; files are removed after the commit. *dropped_r (may be NULL) gets
 * the number removed. */
int queue_drop(struct store *st, const int64_t *ids, size_t n,
	size_t *dropped_r, const char **error_r);

struct queue_hold_rule {
	int64_t id;
	int64_t account_id;	/* 0: any */
	char *account;		/* name, "" for any */
	char *sender_domain;	/* "" for any */
	char *recipient_domain;	/* "" for any */
};
void queue_hold_rules_free(struct queue_hold_rule *v, size_t n);

int queue_holdrule_list(struct store *st, struct queue_hold_rule **v_r,
	size_t *n_r, const char **error_r);
/* Add a rule (account_id 0 and "" domains match anything; domains in
 * lower-case Unicode form). A message matches when all set conditions do
 * (the reference ORs them at submission but ANDs them when holding queued
 * messages; we AND in both places). Like the reference, messages already
 * queued that match are put on hold too; *held_r (may be NULL) gets how
 * many. */
int queue_holdrule_add(struct store *st, int64_t account_id,
	const char *sender_domain, const char *recipient_domain, int64_t *id_r,
	size_t *held_r, const char **error_r);
/* Remove a rule; messages on hold stay on hold. Returns 1 removed, 0 no
 * such rule, -1 error. */
int queue_holdrule_remove(struct store *st, int64_t id, const char **error_r);

/* ---- suppression list (queue_suppress.c) ---- */

struct pg_conn;		/* libpq's PGconn */

struct queue_suppression {
	int64_t id;
	int64_t created;	/* unix seconds */
	int64_t account_id;
	char *account;		/* name */
	char *base_address;
	char *original_address;
	bool manual;
	char *reason;
};
void queue_suppression_free(struct queue_suppression *s);
void queue_suppressions_free(struct queue_suppression *v, size_t n);

/* The suppressions of an account (account_id 0: of all accounts), by
 * account and base address. */
int queue_suppression_list(struct store *st, int64_t account_id,
	struct queue_suppression **v_r, size_t *n_r, const char **error_r);
/* Add localpart@domain (domain lower-case Unicode) for the account.
 * Returns 0 added, 1 when its base address is already listed (nothing
 * changed), -1 error. */
int queue_suppression_add(struct store *st, int64_t account_id,
	const char *localpart, const char *domain, bool manual, const char *reason,
	const char **error_r);
/* The same inside the caller's transaction (c is libpq's PGconn). */
int queue_suppression_add_tx(struct pg_conn *c, int64_t account_id,
	const char *localpart, const char *domain, bool manual, const char *reason,
	const char **error_r);
/* Remove the entry with the base address of localpart@domain. Returns 1
 * removed, 0 not listed, -1 error. */
int queue_suppression_remove(struct store *st, int64_t account_id,
	const char *localpart, const char *domain, const char **error_r);
/* queue_suppression_lookup for n addresses in one statement: sets
 * suppressed[i] for each. Returns 0, or -1 (*error_r; all false). */
int queue_suppression_check(struct store *st, const int64_t *account_ids,
	const char *const *localparts, const char *const *domains, size_t n, bool *suppressed,
	const char **error_r);
/* Is localpart@domain (by base address) suppressed for the account? The
 * entry goes to *s_r when non-NULL (free with queue_suppression_free).
 * Returns 1 yes, 0 no, -1 error. */
int queue_suppression_lookup(struct store *st, int64_t account_id,
	const char *localpart, const char *domain, struct queue_suppression *s_r,
	const char **error_r);

/* ---- delivery (queue_deliver.c; mailstead-queued and the CLI) ---- */

/* A queue row claimed for a delivery attempt. */
struct queue_item {
	int64_t id, base_id;
	int64_t account_id;	/* 0: system message / account gone */
	char *account;		/* name, "" */
	char *sender_localpart, *sender_domain;	/* both "" for <> */
	char *from_id;
	char *rcpt_localpart, *rcpt_domain;
	int attempts;		/* including the one claimed now */
	int max_attempts;	/* 0: the configured default */
	bool has_8bit, smtputf8, is_dmarc_report, is_tls_report;
	int64_t size, queued;
	char *message_id, *subject, *transport;
	int require_tls;	/* -1 default, 0 "TLS-Required: No", 1 REQUIRETLS */
	char *future_release_request, *extra, *file_path, *dialed_ips;
	/* The sender domain's catch-all separators (fromid), "" if none. */
	char *catchall_separators;
	struct buf prefix;	/* msg_prefix */
	bool has_dsn_utf8;
	struct buf dsn_utf8;
};
void queue_items_free(struct queue_item *v, size_t n);

/* Claim the first due message (not on hold, next_attempt passed, no live
 * lease) and its due siblings (same base_id, recipient domain and
 * transport), plus up to `more` due messages of other submissions for the
 * same destination (recipient domain, transport, sender account and
 * domain, attempt number, REQUIRETLS setting), locking with FOR UPDATE
 * SKIP LOCKED so concurrent processes never get the same rows, and in the
 * same transaction set their lease (now + lease_s), count the attempt, and
 * set next_attempt by the backoff (backoff_ms * 2^(attempts before)).
 * Returns 1 with *v_r (n >= 1, ordered by base_id then id), 0 when
 * nothing is due, -1 on error. */
int queue_claim(struct store *st, int64_t lease_s, int64_t backoff_ms, size_t more,
	struct queue_item **v_r, size_t *n_r, const char **error_r);
/* Undo queue_claim for messages that were not attempted after all: lease
 * released, attempt uncounted, due now. Returns 0 or -1. */
int queue_unclaim(struct store *st, const int64_t *ids, size_t n, const char **error_r);
/* The given messages for an immediate decision by an operator (queue
 * fail): leased for 5 minutes, without counting an attempt; messages being
 * delivered are left out. */
int queue_claim_ids(struct store *st, const int64_t *ids, size_t n,
	struct queue_item **v_r, size_t *n_r, const char **error_r);
/* Milliseconds until the next message may be claimed (<= 0: now), or -1
 * when nothing is queued (except on hold). */
int queue_next_due(struct store *st, int64_t *ms_r, const char **error_r);

/* One result for queue.results / queue_retired.results (appended to out):
 * {"start": ISO 8601 UTC, "duration_ms", "success", "code", "secode",
 * "error"}. */
void queue_result_json(struct buf *out, int64_t start_ms, int64_t duration_ms,
	bool success, int code, const char *secode, const char *error);

struct queue_outcome {
	int64_t id;
	const char *result_json;	/* queue_result_json */
	/* Done with the message: delivered (success) or failed for good;
	 * else it stays queued for the next attempt. */
	bool retire;
	bool success;
	/* The message's new queue.dialed_ips (JSON object: host name ->
	 * addresses connected to, oldest first), or NULL to leave it. */
	const char *dialed_ips;
};
/* Work done in the outcome transaction (libpq's PGconn as struct
 * pg_conn): the suppression entries and webhook calls that report the
 * outcomes, so they commit with them or not at all. Returns 0, or -1 with
 * *error_r to roll everything back. It may run more than once (db_tx
 * retries serialization failures). */
typedef int queue_outcome_hook(struct pg_conn *c, void *arg, const char **error_r);
/* Record the attempt's outcomes in one transaction: results appended,
 * leases released, retired rows moved to queue_retired (when the sender
 * account keeps history) and deleted, then hook(c, arg) when not NULL;
 * the files of retired rows are removed after the commit. */
int queue_record_outcomes(struct store *st, const struct queue_outcome *v, size_t n,
	queue_outcome_hook *hook, void *arg, const char **error_r);
/* Give claimed messages back without an outcome (shutdown before the
 * attempt started). */
int queue_release_lease(struct store *st, const int64_t *ids, size_t n, const char **error_r);
/* Extend the leases of messages still being attempted to now + lease_s
 * (only rows that still hold a lease: an outcome already recorded has
 * released it). Returns the number of rows extended, or -1. */
int queue_lease_renew(struct store *st, const int64_t *ids, size_t n, int64_t lease_s,
	const char **error_r);

/* Remember whether the recipient domain's server offered STARTTLS and
 * REQUIRETLS, per sending account (no-op for account_id 0). */
int queue_domain_tls_record(struct store *st, int64_t account_id, const char *domain,
	bool starttls, bool requiretls, const char **error_r);
/* Remove queue_retired rows past keep_until. */
int queue_retired_cleanup(struct store *st, size_t *removed_r, const char **error_r);

enum queue_field {
	QUEUE_FIELD_NEXT_ATTEMPT,	/* value: unix seconds */
	QUEUE_FIELD_NEXT_ATTEMPT_ADD,	/* value: seconds, may be negative */
	QUEUE_FIELD_TRANSPORT,		/* value: name, "" for routes */
	QUEUE_FIELD_REQUIRE_TLS,	/* value: "true", "false" or NULL */
	/* value NULL: make mailstead-queued fail the messages at once (with
	 * a DSN to the sender), by setting transport QUEUE_TRANSPORT_FAIL_NOW,
	 * releasing hold and scheduling now; messages being delivered are
	 * left alone. */
	QUEUE_FIELD_FAIL,
};
/* The transport name "queue fail" sets; no configured transport can
 * have it (names are one word without "!"). */
#define QUEUE_TRANSPORT_FAIL_NOW "!fail"
/* Change one field of the messages (CLI schedule/transport/requiretls). */
int queue_update_field(struct store *st, const int64_t *ids, size_t n, enum queue_field field,
	const char *value, size_t *changed_r, const char **error_r);

/* ---- history (queue_deliver.c) ---- */

struct queue_retired {
	int64_t id, base_id, queued;
	char *account, *sender, *recipient, *from_id;
	int attempts;
	int64_t last_activity, keep_until;
	bool success;
	char *message_id, *subject, *transport;
	char *results;		/* JSON array text */
	char *last_error;
};
void queue_retired_free(struct queue_retired *v, size_t n);
/* Retired messages, newest first; account_id/id 0 for all, max 0 for no
 * limit. */
int queue_retired_list(struct store *st, int64_t account_id, int64_t id, size_t max,
	struct queue_retired **v_r, size_t *n_r, const char **error_r);
/* The message sent with this fromid (queue_retired, or still queued),
 * for matching a returned DSN. Returns 1 found (*r_out filled; free its
 * fields with queue_retired_free(r_out, 0) semantics: free each string),
 * 0 none, -1 error. */
int queue_retired_find_fromid(struct store *st, const char *from_id, struct queue_retired *r_out,
	const char **error_r);

/* ---- routes (queue_deliver.c) ---- */

struct queue_route {
	int64_t id;
	char *account, *domain;	/* level: account name / domain name / both "" global */
	char *from_domains, *to_domains;	/* comma-separated, "" any */
	int min_attempts;
	char *transport;
};
void queue_routes_free(struct queue_route *v, size_t n);
int queue_route_list(struct store *st, struct queue_route **v_r, size_t *n_r,
	const char **error_r);
/* Add a route on one level: account_id > 0 (account), domain non-empty
 * (sender domain), or neither (global). */
int queue_route_add(struct store *st, int64_t account_id, const char *domain,
	const char *const *from_domains, size_t nfrom, const char *const *to_domains,
	size_t nto, int min_attempts, const char *transport, int64_t *id_r,
	const char **error_r);
/* Returns 1 removed, 0 no such route, -1 error. */
int queue_route_remove(struct store *st, int64_t id, const char **error_r);
/* The transport for a delivery attempt (attempts_before earlier attempts)
 * by the first matching route: *transport_r malloc'd, or NULL when none
 * matches (direct delivery). */
int queue_route_lookup(struct store *st, int64_t account_id, const char *sender_domain,
	const char *rcpt_domain, int attempts_before, char **transport_r, const char **error_r);

#endif
