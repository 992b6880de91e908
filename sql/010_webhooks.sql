-- Webhooks (FEATURES.md sections 4 and 6): per-account URLs for events
-- about outgoing deliveries and for incoming messages, the queue of HTTP
-- calls still to make (retried with backoff), and retired calls kept as
-- history for the account's keep_retired_webhook_period.
-- Payloads are composed when the event happens (lib/queue/webhook.c); the
-- sender (mailstead-queued) POSTs them.

ALTER TABLE accounts
	ADD outgoing_webhook_url text NOT NULL DEFAULT '',
	ADD outgoing_webhook_authorization text NOT NULL DEFAULT '',
	ADD outgoing_webhook_events text[] NOT NULL DEFAULT '{}'
		CHECK (outgoing_webhook_events <@ ARRAY['delivered', 'suppressed', 'delayed',
			'failed', 'relayed', 'expanded', 'canceled', 'unrecognized']::text[]),
	ADD incoming_webhook_url text NOT NULL DEFAULT '',
	ADD incoming_webhook_authorization text NOT NULL DEFAULT '',
	ADD keep_retired_webhook_period interval NOT NULL DEFAULT '0'
		CHECK (keep_retired_webhook_period >= '0');
COMMENT ON COLUMN accounts.outgoing_webhook_url IS 'http(s) URL that gets a POST for each event about this account''s outgoing messages (delivered, failed, delayed, ...); empty: no webhooks.';
COMMENT ON COLUMN accounts.outgoing_webhook_authorization IS 'Value of the Authorization header sent with outgoing-event webhooks, e.g. ''Basic ...''; empty: none. A secret: never logged or listed.';
COMMENT ON COLUMN accounts.outgoing_webhook_events IS 'Events to send outgoing-event webhooks for; empty: all of them.';
COMMENT ON COLUMN accounts.incoming_webhook_url IS 'http(s) URL that gets a POST for each message delivered to this account over SMTP (port 25); empty: no webhooks.';
COMMENT ON COLUMN accounts.incoming_webhook_authorization IS 'Value of the Authorization header sent with incoming-message webhooks; empty: none. A secret.';
COMMENT ON COLUMN accounts.keep_retired_webhook_period IS 'How long webhook_retired keeps this account''s finished webhook calls; 0 keeps none.';

CREATE TABLE webhook_queue (
	id bigserial PRIMARY KEY,
	queue_msg_id bigint NOT NULL DEFAULT 0,
	from_id text NOT NULL DEFAULT '',
	message_id text NOT NULL DEFAULT '',
	subject text NOT NULL DEFAULT '',
	extra jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(extra) = 'object'),
	account_id bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	url text NOT NULL CHECK (url <> ''),
	authorization_header text NOT NULL DEFAULT '',
	is_incoming boolean NOT NULL,
	outgoing_event text NOT NULL DEFAULT '',
	payload text NOT NULL,
	submitted timestamptz NOT NULL DEFAULT now(),
	attempts integer NOT NULL DEFAULT 0,
	next_attempt timestamptz NOT NULL DEFAULT now(),
	results jsonb NOT NULL DEFAULT '[]',
	CHECK (is_incoming = (outgoing_event = ''))
);
COMMENT ON TABLE webhook_queue IS 'Webhook calls waiting to be made or retried (the reference''s Hook). A call leaves when it succeeds, fails for good, is canceled or is superseded by a newer event for the same queue message.';
COMMENT ON COLUMN webhook_queue.id IS 'Identifier, sent in the X-Mailstead-Webhook-ID header; kept in webhook_retired.';
COMMENT ON COLUMN webhook_queue.queue_msg_id IS 'For outgoing events: the queue (or queue_retired) message id, one per recipient. 0 for incoming messages.';
COMMENT ON COLUMN webhook_queue.from_id IS 'The message''s unique MAIL FROM id; empty when not used.';
COMMENT ON COLUMN webhook_queue.message_id IS 'Message-ID of the outgoing or incoming message, with <>.';
COMMENT ON COLUMN webhook_queue.subject IS 'Subject of the message, for listings.';
COMMENT ON COLUMN webhook_queue.extra IS 'Extra data of the outgoing message (queue.extra), also in the payload.';
COMMENT ON COLUMN webhook_queue.account_id IS 'Account whose webhook this is.';
COMMENT ON COLUMN webhook_queue.url IS 'URL to POST to, taken from the account when the event was queued.';
COMMENT ON COLUMN webhook_queue.authorization_header IS 'Authorization header value, taken from the account; empty for none. A secret.';
COMMENT ON COLUMN webhook_queue.is_incoming IS 'True for an incoming-message webhook, false for an outgoing delivery event.';
COMMENT ON COLUMN webhook_queue.outgoing_event IS 'delivered, suppressed, delayed, failed, relayed, expanded, canceled or unrecognized; empty for incoming.';
COMMENT ON COLUMN webhook_queue.payload IS 'The JSON body to POST (FEATURES.md section 6).';
COMMENT ON COLUMN webhook_queue.submitted IS 'When the event was queued.';
COMMENT ON COLUMN webhook_queue.attempts IS 'HTTP attempts made (counted when an attempt starts).';
COMMENT ON COLUMN webhook_queue.next_attempt IS 'When the next attempt is due; set ahead when an attempt starts (1m, 2m, 4m, 7.5m, 15m, 30m, 1h, 2h, 4h, 8h, 16h), so a crashed sender''s call is retried then.';
COMMENT ON COLUMN webhook_queue.results IS 'JSON array of attempts: {"start", "duration_ms", "url", "success", "code", "error", "response" (at most 512 bytes of the body)}.';
CREATE INDEX webhook_queue_due ON webhook_queue (next_attempt);
CREATE INDEX webhook_queue_queue_msg ON webhook_queue (queue_msg_id) WHERE queue_msg_id <> 0;
CREATE INDEX webhook_queue_account ON webhook_queue (account_id);

CREATE TABLE webhook_retired (
	id bigint PRIMARY KEY,
	queue_msg_id bigint NOT NULL,
	from_id text NOT NULL,
	message_id text NOT NULL,
	subject text NOT NULL,
	extra jsonb NOT NULL,
	account_id bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	url text NOT NULL,
	has_authorization boolean NOT NULL,
	is_incoming boolean NOT NULL,
	outgoing_event text NOT NULL,
	payload text NOT NULL,
	submitted timestamptz NOT NULL,
	superseded_by_id bigint NOT NULL DEFAULT 0,
	attempts integer NOT NULL,
	results jsonb NOT NULL,
	success boolean NOT NULL,
	last_activity timestamptz NOT NULL DEFAULT now(),
	keep_until timestamptz NOT NULL
);
COMMENT ON TABLE webhook_retired IS 'Finished webhook calls (delivered, failed for good, canceled or superseded), kept for the account''s keep_retired_webhook_period for debugging (the reference''s HookRetired).';
COMMENT ON COLUMN webhook_retired.id IS 'The id it had in webhook_queue.';
COMMENT ON COLUMN webhook_retired.queue_msg_id IS 'As webhook_queue.queue_msg_id.';
COMMENT ON COLUMN webhook_retired.from_id IS 'As webhook_queue.from_id.';
COMMENT ON COLUMN webhook_retired.message_id IS 'As webhook_queue.message_id.';
COMMENT ON COLUMN webhook_retired.subject IS 'As webhook_queue.subject.';
COMMENT ON COLUMN webhook_retired.extra IS 'As webhook_queue.extra.';
COMMENT ON COLUMN webhook_retired.account_id IS 'As webhook_queue.account_id.';
COMMENT ON COLUMN webhook_retired.url IS 'URL of the last attempt.';
COMMENT ON COLUMN webhook_retired.has_authorization IS 'Whether an Authorization header was sent (the value itself is not kept).';
COMMENT ON COLUMN webhook_retired.is_incoming IS 'As webhook_queue.is_incoming.';
COMMENT ON COLUMN webhook_retired.outgoing_event IS 'As webhook_queue.outgoing_event.';
COMMENT ON COLUMN webhook_retired.payload IS 'The JSON body.';
COMMENT ON COLUMN webhook_retired.submitted IS 'When the event was queued.';
COMMENT ON COLUMN webhook_retired.superseded_by_id IS 'When not 0: the id of the newer event for the same queue message that replaced this call before it was delivered.';
COMMENT ON COLUMN webhook_retired.attempts IS 'HTTP attempts made.';
COMMENT ON COLUMN webhook_retired.results IS 'As webhook_queue.results, including the last attempt (or the cancellation).';
COMMENT ON COLUMN webhook_retired.success IS 'Whether the last attempt succeeded.';
COMMENT ON COLUMN webhook_retired.last_activity IS 'When the call was retired.';
COMMENT ON COLUMN webhook_retired.keep_until IS 'When the sender''s cleanup removes this row.';
CREATE INDEX webhook_retired_account ON webhook_retired (account_id, last_activity);
CREATE INDEX webhook_retired_last_activity ON webhook_retired (last_activity);
CREATE INDEX webhook_retired_keep_until ON webhook_retired (keep_until);
CREATE INDEX webhook_retired_queue_msg ON webhook_retired (queue_msg_id) WHERE queue_msg_id <> 0;

-- Reporting view for psql users.
CREATE VIEW webhook_summary AS
SELECT a.name AS account,
	w.is_incoming,
	w.outgoing_event,
	count(*) AS calls,
	count(*) FILTER (WHERE w.attempts > 0) AS retrying,
	min(w.next_attempt) AS next_attempt
FROM webhook_queue w JOIN accounts a ON a.id = w.account_id
GROUP BY a.name, w.is_incoming, w.outgoing_event;
COMMENT ON VIEW webhook_summary IS 'Per account and event: webhook calls waiting, how many are being retried, and the earliest next attempt.';
