-- Outgoing queue: queued messages (one row per recipient), retired
-- messages (delivery history), hold rules, the per-account suppression
-- list, and the per-account bookkeeping behind the send limits
-- MaxOutgoingMessagesPerDay and MaxFirstTimeRecipientsPerDay.
-- Message files live under <datadir>/queue/<id/8192>/<id>; see lib/queue/queue.h.

ALTER TABLE accounts
	ADD max_outgoing_messages_per_day integer NOT NULL DEFAULT 1000
		CHECK (max_outgoing_messages_per_day > 0),
	ADD max_first_time_recipients_per_day integer NOT NULL DEFAULT 200
		CHECK (max_first_time_recipients_per_day > 0),
	ADD keep_retired_message_period interval NOT NULL DEFAULT '0'
		CHECK (keep_retired_message_period >= '0');
COMMENT ON COLUMN accounts.max_outgoing_messages_per_day IS 'Send limit: at most this many recipients (one per message per recipient) submitted in any 24 hours; more gets a temporary 451 4.7.1. Set a large value to effectively disable.';
COMMENT ON COLUMN accounts.max_first_time_recipients_per_day IS 'Send limit: at most this many first-time recipients (addresses the account never sent to before) in any 24 hours; more gets a temporary 451 4.7.1.';
COMMENT ON COLUMN accounts.keep_retired_message_period IS 'How long queue_retired keeps delivery history of this account''s messages; 0 keeps none.';

CREATE SEQUENCE queue_id_seq;
COMMENT ON SEQUENCE queue_id_seq IS 'Queue message ids, shared by queue and queue_retired; taken before the file is linked into place so the file name is known.';

CREATE TABLE queue (
	id bigint PRIMARY KEY,
	base_id bigint NOT NULL,
	queued timestamptz NOT NULL DEFAULT now(),
	hold boolean NOT NULL DEFAULT false,
	sender_account_id bigint REFERENCES accounts(id) ON DELETE SET NULL,
	sender_localpart text NOT NULL,
	sender_domain text NOT NULL,
	from_id text NOT NULL DEFAULT '',
	recipient_localpart text NOT NULL,
	recipient_domain text NOT NULL,
	attempts integer NOT NULL DEFAULT 0,
	max_attempts integer NOT NULL DEFAULT 0 CHECK (max_attempts >= 0),
	dialed_ips jsonb NOT NULL DEFAULT '{}',
	next_attempt timestamptz NOT NULL,
	last_attempt timestamptz,
	results jsonb NOT NULL DEFAULT '[]',
	has_8bit boolean NOT NULL DEFAULT false,
	smtputf8 boolean NOT NULL DEFAULT false,
	is_dmarc_report boolean NOT NULL DEFAULT false,
	is_tls_report boolean NOT NULL DEFAULT false,
	size bigint NOT NULL CHECK (size >= 0),
	message_id text NOT NULL DEFAULT '',
	msg_prefix bytea NOT NULL DEFAULT '',
	subject text NOT NULL DEFAULT '',
	dsn_utf8 bytea,
	transport text NOT NULL DEFAULT '',
	require_tls boolean,
	future_release_request text NOT NULL DEFAULT '',
	extra jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(extra) = 'object'),
	file_path text NOT NULL,
	CHECK (recipient_domain <> '')
);
COMMENT ON TABLE queue IS 'Outgoing messages waiting for delivery, one row per recipient. The message text is the file at file_path, sent after msg_prefix.';
COMMENT ON COLUMN queue.id IS 'Identifier, from queue_id_seq; also names the message file. Kept when the message is retired.';
COMMENT ON COLUMN queue.base_id IS 'Id of the first row queued for the same submission: all rows with one base_id share message text, prefix and sender, so recipients on one host can go in one SMTP transaction. Equals id for a single recipient (the reference uses 0 there).';
COMMENT ON COLUMN queue.queued IS 'When the message was submitted.';
COMMENT ON COLUMN queue.hold IS 'On hold: no delivery is attempted until an administrator releases it (set by a matching queue_hold_rules row at submission, or by hand).';
COMMENT ON COLUMN queue.sender_account_id IS 'Account that submitted the message; delivery failure notices (DSNs) and webhooks go to it. NULL for messages the system sends itself (DSNs, reports) or when the account was removed.';
COMMENT ON COLUMN queue.sender_localpart IS 'Localpart of the SMTP MAIL FROM used for delivery; empty with an empty sender_domain for the null sender <>.';
COMMENT ON COLUMN queue.sender_domain IS 'Domain of MAIL FROM, lower case, Unicode (IDNA U-labels), or an address literal in brackets.';
COMMENT ON COLUMN queue.from_id IS 'Random id for transactional mail, added to the MAIL FROM localpart after the catch-all separator to match returning DSNs to this message; empty when not used. Unique over queue and queue_retired.';
COMMENT ON COLUMN queue.recipient_localpart IS 'Localpart of the RCPT TO address, as submitted.';
COMMENT ON COLUMN queue.recipient_domain IS 'Domain of the RCPT TO address, lower case, Unicode, or an address literal in brackets.';
COMMENT ON COLUMN queue.attempts IS 'Number of delivery attempts made so far.';
COMMENT ON COLUMN queue.max_attempts IS 'Attempts before giving up and sending a failure DSN; 0 means the default of 8.';
COMMENT ON COLUMN queue.dialed_ips IS 'JSON object: per host name, the IP addresses dialed in earlier attempts, to prefer others next time.';
COMMENT ON COLUMN queue.next_attempt IS 'When the next delivery attempt is due. In the future for FUTURERELEASE (at most 60 days after submission) and for backoff after failures (7.5 min doubling).';
COMMENT ON COLUMN queue.last_attempt IS 'When the last delivery attempt started; NULL before the first.';
COMMENT ON COLUMN queue.results IS 'JSON array of delivery attempts: {"start", "duration_ms", "success", "code", "secode", "error"}.';
COMMENT ON COLUMN queue.has_8bit IS 'The message has bytes with the high bit set: delivery needs 8BITMIME.';
COMMENT ON COLUMN queue.smtputf8 IS 'The message or its addresses need SMTPUTF8.';
COMMENT ON COLUMN queue.is_dmarc_report IS 'The message is a DMARC aggregate report we send; its delivery failures are handled quietly.';
COMMENT ON COLUMN queue.is_tls_report IS 'The message is a TLS report (TLSRPT) we send; it may go without verified TLS.';
COMMENT ON COLUMN queue.size IS 'Size in bytes as sent: msg_prefix plus the file.';
COMMENT ON COLUMN queue.message_id IS 'Message-ID header including the angle brackets, used in the References of DSNs; empty if absent.';
COMMENT ON COLUMN queue.msg_prefix IS 'Header lines added at submission (Received, DKIM-Signature, Authentication-Results, a generated Message-ID/Date), sent before the file contents.';
COMMENT ON COLUMN queue.subject IS 'Subject header as submitted, for listings and DSNs.';
COMMENT ON COLUMN queue.dsn_utf8 IS 'For a DSN we send: the full message in its SMTPUTF8 form, used when the receiving server supports SMTPUTF8 (the file then holds the ASCII form). NULL otherwise.';
COMMENT ON COLUMN queue.transport IS 'Name of a configured transport to deliver through; empty for the normal routing rules.';
COMMENT ON COLUMN queue.require_tls IS 'RFC 8689: true for REQUIRETLS (verified TLS along the whole path), false for "TLS-Required: No" (ignore the recipient domain''s MTA-STS/DANE policy on failure), NULL for the default policy.';
COMMENT ON COLUMN queue.future_release_request IS 'RFC 4865 FUTURERELEASE as requested, "for;<seconds>" or "until;<date-time>", for DSNs; empty when not requested.';
COMMENT ON COLUMN queue.extra IS 'JSON object of string values from X-Mailstead-Extra-<Key> headers (removed from the message) or the webapi, passed along in webhooks.';
COMMENT ON COLUMN queue.file_path IS 'Path of the message file relative to the data directory, e.g. queue/0/1234; a hard link per row.';

CREATE INDEX queue_due ON queue (next_attempt) WHERE NOT hold;
COMMENT ON INDEX queue_due IS 'The delivery loop: messages not on hold, by next attempt.';
CREATE INDEX queue_recipient_domain ON queue (recipient_domain, next_attempt);
COMMENT ON INDEX queue_recipient_domain IS 'Messages per recipient domain: gathering recipients for one connection, hold rules, listings.';
CREATE INDEX queue_base_id ON queue (base_id);
CREATE INDEX queue_sender_account ON queue (sender_account_id);
CREATE UNIQUE INDEX queue_from_id ON queue (from_id) WHERE from_id <> '';

-- Wake mailstead-queued: one notification per transaction that adds
-- messages or changes when/whether they may be delivered (identical
-- notifications in one transaction are delivered once).
CREATE FUNCTION queue_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('mailstead_queue', '');
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION queue_notify() IS 'Trigger function: NOTIFY mailstead_queue, so the delivery daemon rechecks which messages are due.';
CREATE TRIGGER queue_notify AFTER INSERT OR UPDATE OF hold, next_attempt ON queue
	FOR EACH STATEMENT EXECUTE FUNCTION queue_notify();
COMMENT ON TRIGGER queue_notify ON queue IS 'NOTIFY mailstead_queue when messages are queued, released from hold or rescheduled.';

CREATE TABLE queue_retired (
	id bigint PRIMARY KEY,
	base_id bigint NOT NULL,
	queued timestamptz NOT NULL,
	sender_account_id bigint REFERENCES accounts(id) ON DELETE CASCADE,
	sender_localpart text NOT NULL,
	sender_domain text NOT NULL,
	from_id text NOT NULL DEFAULT '',
	recipient_localpart text NOT NULL,
	recipient_domain text NOT NULL,
	recipient_address text NOT NULL,
	attempts integer NOT NULL,
	max_attempts integer NOT NULL,
	dialed_ips jsonb NOT NULL DEFAULT '{}',
	last_attempt timestamptz,
	results jsonb NOT NULL DEFAULT '[]',
	has_8bit boolean NOT NULL,
	smtputf8 boolean NOT NULL,
	is_dmarc_report boolean NOT NULL,
	is_tls_report boolean NOT NULL,
	size bigint NOT NULL,
	message_id text NOT NULL DEFAULT '',
	subject text NOT NULL DEFAULT '',
	transport text NOT NULL DEFAULT '',
	require_tls boolean,
	future_release_request text NOT NULL DEFAULT '',
	extra jsonb NOT NULL DEFAULT '{}',
	last_activity timestamptz NOT NULL DEFAULT now(),
	success boolean NOT NULL,
	keep_until timestamptz NOT NULL
);
COMMENT ON TABLE queue_retired IS 'Delivery history: queue rows whose delivery succeeded, failed or was canceled, kept per the account''s keep_retired_message_period (to match incoming DSNs by from_id, and for debugging). No message file.';
COMMENT ON COLUMN queue_retired.id IS 'The id the message had in queue.';
COMMENT ON COLUMN queue_retired.base_id IS 'As queue.base_id.';
COMMENT ON COLUMN queue_retired.queued IS 'When the message was submitted.';
COMMENT ON COLUMN queue_retired.sender_account_id IS 'Account that submitted the message; NULL for system messages.';
COMMENT ON COLUMN queue_retired.sender_localpart IS 'Localpart of MAIL FROM.';
COMMENT ON COLUMN queue_retired.sender_domain IS 'Domain of MAIL FROM, lower case, Unicode.';
COMMENT ON COLUMN queue_retired.from_id IS 'As queue.from_id: matches returning DSNs to the message; empty when not used.';
COMMENT ON COLUMN queue_retired.recipient_localpart IS 'Localpart of RCPT TO.';
COMMENT ON COLUMN queue_retired.recipient_domain IS 'Domain of RCPT TO, lower case, Unicode.';
COMMENT ON COLUMN queue_retired.recipient_address IS 'The recipient as one address (localpart@domain, Unicode), for lookups of earlier deliveries to an address (suppression decisions).';
COMMENT ON COLUMN queue_retired.attempts IS 'Delivery attempts made.';
COMMENT ON COLUMN queue_retired.max_attempts IS 'As queue.max_attempts.';
COMMENT ON COLUMN queue_retired.dialed_ips IS 'As queue.dialed_ips.';
COMMENT ON COLUMN queue_retired.last_attempt IS 'When the last delivery attempt started; NULL when none was made.';
COMMENT ON COLUMN queue_retired.results IS 'JSON array of delivery attempts, as queue.results, including the final one (or the cancellation).';
COMMENT ON COLUMN queue_retired.has_8bit IS 'As queue.has_8bit.';
COMMENT ON COLUMN queue_retired.smtputf8 IS 'As queue.smtputf8.';
COMMENT ON COLUMN queue_retired.is_dmarc_report IS 'As queue.is_dmarc_report.';
COMMENT ON COLUMN queue_retired.is_tls_report IS 'As queue.is_tls_report.';
COMMENT ON COLUMN queue_retired.size IS 'Size in bytes as sent.';
COMMENT ON COLUMN queue_retired.message_id IS 'Message-ID header including angle brackets.';
COMMENT ON COLUMN queue_retired.subject IS 'Subject header as submitted.';
COMMENT ON COLUMN queue_retired.transport IS 'As queue.transport.';
COMMENT ON COLUMN queue_retired.require_tls IS 'As queue.require_tls.';
COMMENT ON COLUMN queue_retired.future_release_request IS 'As queue.future_release_request.';
COMMENT ON COLUMN queue_retired.extra IS 'As queue.extra.';
COMMENT ON COLUMN queue_retired.last_activity IS 'When the message was retired (delivered, failed for good, or canceled).';
COMMENT ON COLUMN queue_retired.success IS 'Whether delivery to the next hop succeeded.';
COMMENT ON COLUMN queue_retired.keep_until IS 'When the cleanup job removes this row.';
CREATE INDEX queue_retired_recipient ON queue_retired (recipient_address, last_activity);
CREATE INDEX queue_retired_last_activity ON queue_retired (last_activity);
CREATE INDEX queue_retired_keep_until ON queue_retired (keep_until);
CREATE INDEX queue_retired_sender_account ON queue_retired (sender_account_id);
CREATE UNIQUE INDEX queue_retired_from_id ON queue_retired (from_id) WHERE from_id <> '';

CREATE TABLE queue_hold_rules (
	id bigserial PRIMARY KEY,
	account_id bigint REFERENCES accounts(id) ON DELETE CASCADE,
	sender_domain text NOT NULL DEFAULT '',
	recipient_domain text NOT NULL DEFAULT '',
	created timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE queue_hold_rules IS 'Messages queued that match a rule are put on hold. A rule matches when each of its set conditions matches; a rule without conditions holds everything (pauses the queue).';
COMMENT ON COLUMN queue_hold_rules.id IS 'Identifier, used to remove the rule.';
COMMENT ON COLUMN queue_hold_rules.account_id IS 'Condition: the submitting account; NULL matches any.';
COMMENT ON COLUMN queue_hold_rules.sender_domain IS 'Condition: the MAIL FROM domain (lower case, Unicode); empty matches any.';
COMMENT ON COLUMN queue_hold_rules.recipient_domain IS 'Condition: the recipient domain (lower case, Unicode); empty matches any.';
COMMENT ON COLUMN queue_hold_rules.created IS 'When the rule was added.';

CREATE TABLE suppressions (
	id bigserial PRIMARY KEY,
	account_id bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	base_address text NOT NULL CHECK (base_address <> ''),
	original_address text NOT NULL CHECK (original_address <> ''),
	manual boolean NOT NULL DEFAULT false,
	reason text NOT NULL DEFAULT '',
	created timestamptz NOT NULL DEFAULT now(),
	UNIQUE (account_id, base_address)
);
COMMENT ON TABLE suppressions IS 'Per-account suppression list: messages to these addresses fail at once, without a delivery attempt. Added automatically after hard delivery failures, or by hand.';
COMMENT ON COLUMN suppressions.id IS 'Identifier.';
COMMENT ON COLUMN suppressions.account_id IS 'Account the suppression applies to; other accounts may still send to the address.';
COMMENT ON COLUMN suppressions.base_address IS 'Simplified address that is matched: localpart cut at the first ''+'' or ''-'', dots removed, lower case; then ''@'' and the lower-case Unicode domain. So john.doe+news@ and johndoe@ are one entry.';
COMMENT ON COLUMN suppressions.original_address IS 'The address that caused the suppression, as it was used (Unicode domain).';
COMMENT ON COLUMN suppressions.manual IS 'Added by a person (CLI, account page, webapi) rather than after a delivery failure.';
COMMENT ON COLUMN suppressions.reason IS 'Free text: why the address is suppressed, e.g. the SMTP error of the failed delivery.';
COMMENT ON COLUMN suppressions.created IS 'When the suppression was added.';

CREATE TABLE outgoing (
	id bigserial PRIMARY KEY,
	account_id bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	recipient text NOT NULL,
	submitted timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE outgoing IS 'One row per recipient of each message an account submitted in the last 24 hours, for max_outgoing_messages_per_day. Older rows are removed when the account next submits.';
COMMENT ON COLUMN outgoing.id IS 'Identifier.';
COMMENT ON COLUMN outgoing.account_id IS 'Submitting account.';
COMMENT ON COLUMN outgoing.recipient IS 'Recipient address, localpart as submitted, ''@'', lower-case Unicode domain.';
COMMENT ON COLUMN outgoing.submitted IS 'When the message was queued.';
CREATE INDEX outgoing_account_submitted ON outgoing (account_id, submitted);

CREATE TABLE outgoing_recipients (
	account_id bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	recipient text NOT NULL,
	first_submitted timestamptz NOT NULL DEFAULT now(),
	last_submitted timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (account_id, recipient)
);
COMMENT ON TABLE outgoing_recipients IS 'Every address an account ever submitted a message to, for max_first_time_recipients_per_day: a recipient is first-time until it has a row here.';
COMMENT ON COLUMN outgoing_recipients.account_id IS 'Submitting account.';
COMMENT ON COLUMN outgoing_recipients.recipient IS 'Recipient address, same form as outgoing.recipient.';
COMMENT ON COLUMN outgoing_recipients.first_submitted IS 'When the account first sent to the address; rows from the last 24 hours are the first-time recipients counted against the limit.';
COMMENT ON COLUMN outgoing_recipients.last_submitted IS 'When the account last sent to the address.';
CREATE INDEX outgoing_recipients_first ON outgoing_recipients (account_id, first_submitted);

-- Reporting view for psql users.
CREATE VIEW queue_summary AS
SELECT q.recipient_domain,
	count(*) AS messages,
	count(*) FILTER (WHERE q.hold) AS held,
	count(*) FILTER (WHERE q.attempts > 0) AS retrying,
	min(q.next_attempt) FILTER (WHERE NOT q.hold) AS next_attempt,
	coalesce(sum(q.size), 0) AS bytes
FROM queue q
GROUP BY q.recipient_domain;
COMMENT ON VIEW queue_summary IS 'Per recipient domain: queued messages, how many are on hold or being retried, the earliest next attempt and total bytes.';
