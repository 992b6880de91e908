/* Webhooks (FEATURES.md sections 4 and 6): HTTP POSTs with a JSON body to
 * an account's URLs, about its outgoing deliveries (delivered, failed,
 * delayed, ...) and about messages delivered to it over SMTP.
 *
 * Events are queued in webhook_queue, in the same transaction as the change
 * they report where the caller allows (webhook_outgoing_add_tx,
 * webhook_incoming_tx), and sent by mailstead-queued (webhook_sender_start
 * or webhook_process) with libcurl, retried after 1m, 2m, 4m, 7.5m, 15m,
 * 30m, 1h, 2h, 4h, 8h and 16h, then given up. A newer outgoing event for
 * the same queue message (one recipient of a message) supersedes a call
 * still waiting. Finished calls go to webhook_retired when the account
 * keeps them (keep_retired_webhook_period).
 *
 * webhook_json.c composes the payloads (no database, unit-tested);
 * webhook.c queues and administers; webhook_send.c sends.
 * Functions return 0 on success and -1 with *error_r (per-thread storage)
 * on failure unless stated otherwise. */
#ifndef MS_WEBHOOK_H
#define MS_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* libpq's PGconn, without needing its headers here (the payload code and
 * its fuzz target do not use the database). */
struct pg_conn;
struct store;		/* store/store.h */
struct store_rcpt;	/* store/store.h */
struct db_listener;	/* db/db.h */

/* NOTIFY channel that wakes the sender: calls were queued or rescheduled. */
#define WEBHOOK_NOTIFY_CHANNEL "mailstead_webhook"

/* Text and HTML in incoming-message payloads are cut to this many bytes
 * (at a UTF-8 character boundary), as the reference does. */
#define WEBHOOK_TEXT_MAX (1024 * 1024)
/* Bytes of the receiver's response body kept in a result. */
#define WEBHOOK_RESPONSE_MAX 512
/* Retry intervals after each failed attempt; after the last one the call
 * is retired as failed. */
#define WEBHOOK_MAX_ATTEMPTS 12

/* ---- outgoing delivery events ---- */

/* The events (FEATURES.md 6; the reference's webhook.OutgoingEvent). */
#define WEBHOOK_EVENT_DELIVERED "delivered"	/* accepted by the next hop */
#define WEBHOOK_EVENT_SUPPRESSED "suppressed"	/* recipient on the suppression list */
#define WEBHOOK_EVENT_DELAYED "delayed"	/* attempt failed, will retry */
#define WEBHOOK_EVENT_FAILED "failed"	/* failed for good */
#define WEBHOOK_EVENT_RELAYED "relayed"	/* relayed into a system without DSNs */
#define WEBHOOK_EVENT_EXPANDED "expanded"	/* delivered to an alias/list */
#define WEBHOOK_EVENT_CANCELED "canceled"	/* removed from the queue */
#define WEBHOOK_EVENT_UNRECOGNIZED "unrecognized"	/* unknown DSN or mail to a fromid */

/* Is s one of the event names above? */
bool webhook_event_valid(const char *s);

struct webhook_outgoing_event {
	/* Sender account (queue.sender_account_id). Events of messages
	 * without an account, or whose account has no outgoing URL or is
	 * not subscribed to the event, are skipped. */
	int64_t account_id;
	int64_t queue_msg_id;	/* queue.id: one recipient of a message */
	const char *event;	/* WEBHOOK_EVENT_* */
	bool dsn;		/* learned from an incoming DSN message */
	bool suppressing;	/* this failure added the recipient to the
				 * suppression list */
	const char *from_id;	/* NULL/"" when not used */
	const char *message_id;	/* with <>, NULL/"" when absent */
	const char *subject;	/* NULL/"" when absent; made valid UTF-8 */
	const char *extra;	/* queue.extra as JSON object text; NULL: {} */
	int smtp_code;		/* e.g. 550; 0 when none */
	/* Enhanced status code, "5.1.1", or without its class, "1.1" (as
	 * the reference keeps it; the class is then taken from smtp_code);
	 * NULL/"" when none. */
	const char *smtp_secode;
	const char *error;	/* error text of the attempt, NULL/"" if none */
};

/* Append the outgoing-event payload (the reference's webhook.Outgoing,
 * fields in its order): {"Version":0,"Event":..,"DSN":..,"Suppressing":..,
 * "QueueMsgID":..,"FromID":..,"MessageID":..,"Subject":..,
 * "WebhookQueued":<RFC 3339 UTC>,"SMTPCode":..,"SMTPEnhancedCode":..,
 * "Error":..,"Extra":{..}}. queued_us is unix time in microseconds.
 * Strings are made valid UTF-8; Extra keeps only string values. */
void webhook_outgoing_json(struct buf *out, const struct webhook_outgoing_event *ev,
	int64_t queued_us);

/* Queue webhook calls for n events inside the caller's transaction (so the
 * calls exist exactly when the delivery change they report commits): one
 * query for the accounts' settings, one statement inserting the calls and
 * moving the calls they supersede (same queue_msg_id, still waiting or
 * being sent) to webhook_retired (superseded_by_id set) or deleting them,
 * and a NOTIFY for the sender. Of several events for one queue message in
 * the same call, the last counts. *queued_r (may be NULL) gets the number
 * of calls queued. */
int webhook_outgoing_add_tx(struct pg_conn *c, const struct webhook_outgoing_event *ev,
	size_t n, size_t *queued_r, const char **error_r);
/* The same in a transaction of its own. */
int webhook_outgoing_add(struct store *st, const struct webhook_outgoing_event *ev,
	size_t n, size_t *queued_r, const char **error_r);

/* Queue event for the queue rows with the given ids (a bigint[] literal,
 * db_i64_array), read from the queue table inside the caller's
 * transaction (call it before deleting them): fields from each row, Error
 * the given text (NULL: the error of the row's last result), SMTP codes
 * code/secode (0/NULL for none). For queue drop ("canceled", "delivery
 * canceled by admin") and queue fail ("failed"). */
int webhook_queue_rows_tx(struct pg_conn *c, const char *ids, const char *event,
	const char *error, int code, const char *secode, size_t *queued_r,
	const char **error_r);

/* ---- incoming messages ---- */

/* SMTP transaction facts of an incoming message (the payload's Meta). */
struct webhook_incoming_meta {
	const char *mailfrom;		/* MAIL FROM address, "" for <> */
	bool mailfrom_validated;	/* SPF pass for MAIL FROM */
	bool msgfrom_validated;		/* From domain DMARC-aligned pass */
	const char *const *dkim_domains;	/* domains of passing signatures */
	size_t ndkim_domains;
	const char *remote_ip;		/* NULL/"" when unknown */
	int64_t received;		/* unix seconds */
};

/* A message's incoming-webhook payload without its per-recipient fields. */
struct webhook_incoming;

/* Parse the message [msg, msg+n) (as stored: our header prefix, then the
 * message) and build the payload fields that do not depend on the
 * recipient: From/To/CC/BCC/ReplyTo, Subject, MessageID, InReplyTo,
 * References, Date, Text, HTML, Structure and the Meta facts. The bytes
 * are not referenced after return. Never fails (a malformed message gives
 * what could be parsed). */
struct webhook_incoming *webhook_incoming_new(const char *msg, size_t n,
	const struct webhook_incoming_meta *meta);
void webhook_incoming_free(struct webhook_incoming **wi);
/* Append the full payload (the reference's webhook.Incoming) for the copy
 * stored as message msg_id in mailbox, delivered for RCPT TO rcpt_to. */
void webhook_incoming_json(struct buf *out, const struct webhook_incoming *wi,
	int64_t msg_id, const char *rcpt_to, const char *mailbox);
/* Subject and Message-ID for the queue row's columns (valid UTF-8). */
const char *webhook_incoming_subject(const struct webhook_incoming *wi);
const char *webhook_incoming_message_id(const struct webhook_incoming *wi);

/* An incoming DSN (RFC 3464) about a message we sent: whether the message
 * is one (multipart/report with message/delivery-status or, RFC 6533,
 * message/global-delivery-status second), its recipient count, and of the
 * first recipient the Action (lower case) and the SMTP code and enhanced
 * code without its class ("1.1") from Diagnostic-Code "smtp; 550 5.1.1
 * ...", else from Status (code 400/500). Never fails. */
struct webhook_dsn {
	bool is_dsn;
	size_t nrcpts;
	char action[32];
	int code;
	char secode[16];
};
void webhook_dsn_parse(const char *msg, size_t n, struct webhook_dsn *d);
/* The outgoing event for it, as the reference decides: the Action
 * (failed, delayed, delivered, relayed, expanded) of a DSN with exactly
 * one recipient, else "unrecognized" (also for mail that is no DSN). */
const char *webhook_dsn_event(const struct webhook_dsn *d);

/* Incoming webhooks at local delivery, in the delivery transaction:
 *  1. before store_deliver: webhook_incoming_prepare looks up (two
 *     queries) which of the recipients' accounts have an incoming or
 *     outgoing URL, and which copies are about a sent message (below).
 *     When neither, it returns 0 and nothing else is needed. A copy for
 *     an address with a catch-all separator whose rest is the from_id of
 *     a message the account sent (queue_retired) is about that message
 *     (a DSN, or other mail to the unique MAIL FROM): it gets an outgoing
 *     event (webhook_dsn_event, "DSN": true for DSNs) instead of an
 *     incoming webhook, as in the reference. When calls are due it
 *     returns 1 with *ctx_r, having parsed the message (path: the file,
 *     prefix: our header lines before it);
 *  2. the caller sets store_msg_in.tx_hook = webhook_incoming_tx and
 *     tx_hook_arg = *ctx_r: inside the transaction that stores the copies,
 *     it inserts one call per stored copy (rejected copies skipped); a DSN
 *     about one recipient of a sent message is appended to that retired
 *     message's results, and a permanent failure ("failed", not 4.x.x)
 *     adds the recipient to the account's suppression list, webhooks or
 *     not;
 *  3. after the delivery committed: webhook_kick (the delivery
 *     transaction does not NOTIFY, see store_deliver), then
 *     webhook_incoming_ctx_free.
 * Returns -1 on errors (delivery should go on without webhooks: log). */
struct webhook_incoming_ctx;
int webhook_incoming_prepare(struct store *st, const char *path,
	const char *prefix, size_t prefix_len, const struct webhook_incoming_meta *meta,
	const struct store_rcpt *rcpts, size_t n, struct webhook_incoming_ctx **ctx_r,
	const char **error_r);
int webhook_incoming_tx(struct pg_conn *c, void *ctx, const struct store_rcpt *rcpts,
	size_t n, const char **error_r);
void webhook_incoming_ctx_free(struct webhook_incoming_ctx **ctx);

/* NOTIFY the sender (outside any transaction); errors are logged. */
void webhook_kick(struct store *st);

/* ---- sending (webhook_send.c) ---- */

struct webhook_send_opts {
	unsigned max_concurrent;	/* calls at once, one per URL; 0: 10 */
	long timeout_ms;		/* whole request; 0: 60 s */
	/* Refuse http:// URLs (only https); default false, since
	 * applications often listen on loopback. */
	bool https_only;
};

/* Process-wide libcurl setup; call once before threads start (the sender
 * does it itself when needed, but curl_global_init is not thread-safe on
 * older libcurl). */
void webhook_global_init(void);

/* One round: claim up to max_concurrent due calls (SELECT ... FOR UPDATE
 * SKIP LOCKED, so several senders never POST one call at once; one call
 * per URL, so a receiver sees one account's events in order), count the
 * attempt and set the next one before sending (a crash means one retry,
 * not a loss), POST them concurrently, record each result, and retire
 * calls that succeeded or failed for good. Also removes expired
 * webhook_retired rows (at most once an hour). Returns the number of calls
 * attempted (0: none due) or -1; *next_due_ms_r (may be NULL) gets the
 * unix time in ms of the next due call, 0 when there is none. */
int webhook_process(struct store *st, const struct webhook_send_opts *o,
	int64_t *next_due_ms_r, const char **error_r);

/* A thread that runs webhook_process whenever calls are due or the
 * listener reports a NOTIFY on WEBHOOK_NOTIFY_CHANNEL (and at least every
 * minute). listener may be NULL (then it polls every 5 seconds). */
struct webhook_sender;
struct webhook_sender *webhook_sender_start(struct store *st, struct db_listener *l,
	const struct webhook_send_opts *o, const char **error_r);
/* Stop after the round in progress (waits for it) and free. */
void webhook_sender_stop(struct webhook_sender **ws);

/* ---- administration (webhook.c) ---- */

struct webhook_call {
	int64_t id;
	int64_t queue_msg_id;
	char *account;
	char *url;
	bool authorization;	/* an Authorization header is sent */
	bool is_incoming;
	char *event;		/* "incoming" or the outgoing event */
	char *from_id, *message_id, *subject;
	int64_t submitted;	/* unix seconds */
	int attempts;
	int64_t next_attempt;	/* queue only */
	char *last_result;	/* summary of the last attempt, "" if none */
	char *results;		/* JSON array */
	char *payload;
	/* retired only: */
	bool success;
	int64_t superseded_by;
	int64_t last_activity, keep_until;
};
void webhook_calls_free(struct webhook_call *v, size_t n);

/* Calls waiting (retired false: by next attempt) or retired (by last
 * activity, newest first). account_id 0: all accounts; max 0: no limit. */
int webhook_list(struct store *st, bool retired, int64_t account_id, size_t max,
	struct webhook_call **v_r, size_t *n_r, const char **error_r);
/* One call. Returns 1 found, 0 not, -1 error. */
int webhook_get(struct store *st, bool retired, int64_t id, struct webhook_call *c_r,
	const char **error_r);
/* Set the next attempt of the calls (n ids; n 0: all) to now + delay_s
 * (may be negative: "now") and wake the sender. *changed_r (may be NULL)
 * gets how many. */
int webhook_schedule(struct store *st, const int64_t *ids, size_t n, int64_t delay_s,
	size_t *changed_r, const char **error_r);
/* Move the next attempt of the calls (n 0: all) by delta_s seconds (may
 * be negative) and wake the sender. */
int webhook_schedule_add(struct store *st, const int64_t *ids, size_t n, int64_t delta_s,
	size_t *changed_r, const char **error_r);
/* Cancel calls: no more attempts; retired (result "canceled by admin")
 * when the account keeps retired webhooks. */
int webhook_cancel(struct store *st, const int64_t *ids, size_t n, size_t *canceled_r,
	const char **error_r);

/* Account webhook settings. */
struct webhook_account_conf {
	char *outgoing_url;
	bool outgoing_authorization;	/* set (the value is not returned) */
	char *outgoing_events;		/* comma-separated, "" for all */
	char *incoming_url;
	bool incoming_authorization;
	int64_t keep_retired_s;		/* keep_retired_webhook_period */
};
void webhook_account_conf_free(struct webhook_account_conf *c);
/* Returns 1, 0 no such account, -1 error. */
int webhook_account_get(struct store *st, int64_t account_id,
	struct webhook_account_conf *c_r, const char **error_r);
/* Set the outgoing or incoming URL and Authorization value ("" clears
 * them); url must be http:// or https:// (or "" to disable). events
 * (outgoing only, may be NULL: unchanged) is a comma-separated list of
 * event names, "" for all. */
int webhook_account_set(struct store *st, int64_t account_id, bool incoming,
	const char *url, const char *authorization, const char *events,
	const char **error_r);
/* Set keep_retired_webhook_period (seconds). */
int webhook_account_set_keep(struct store *st, int64_t account_id, int64_t seconds,
	const char **error_r);

/* Is url an absolute http:// or https:// URL with a host? */
bool webhook_url_valid(const char *url);

#endif
