-- Outgoing delivery (mailstead-queued): the claim (lease) that keeps two
-- delivery processes from sending one message twice, per-account records
-- of what recipient domains' servers support (STARTTLS, REQUIRETLS), and
-- routes choosing a transport (FEATURES.md section 7: Routes on account,
-- domain and global level; transports themselves are in mailstead.conf).

ALTER TABLE queue
	ADD lease_until timestamptz;
COMMENT ON COLUMN queue.lease_until IS 'Set while a mailstead-queued process delivers the message (claimed with SELECT ... FOR UPDATE SKIP LOCKED, committed before connecting): no other process picks it up before this time. Cleared after the attempt; a crashed process leaves it, and the message is retried once it passes (one retry, no loss).';

CREATE TABLE recipient_domain_tls (
	account_id bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	domain text NOT NULL,
	updated timestamptz NOT NULL DEFAULT now(),
	starttls boolean NOT NULL,
	requiretls boolean NOT NULL,
	PRIMARY KEY (account_id, domain)
);
COMMENT ON TABLE recipient_domain_tls IS 'Per sending account and recipient domain: whether the domain''s mail server offered STARTTLS and REQUIRETLS at the last delivery attempt (the reference''s RecipientDomainTLS), for the webmail''s recipient security hints and automatic REQUIRETLS.';
COMMENT ON COLUMN recipient_domain_tls.account_id IS 'Sending account.';
COMMENT ON COLUMN recipient_domain_tls.domain IS 'Recipient domain, lower-case Unicode.';
COMMENT ON COLUMN recipient_domain_tls.updated IS 'When this was last learned.';
COMMENT ON COLUMN recipient_domain_tls.starttls IS 'The server announced STARTTLS (and the TLS handshake succeeded).';
COMMENT ON COLUMN recipient_domain_tls.requiretls IS 'The server announced REQUIRETLS after STARTTLS (RFC 8689).';

CREATE TABLE routes (
	id bigserial PRIMARY KEY,
	account_id bigint REFERENCES accounts(id) ON DELETE CASCADE,
	domain_id bigint REFERENCES domains(id) ON DELETE CASCADE,
	from_domains text[] NOT NULL DEFAULT '{}',
	to_domains text[] NOT NULL DEFAULT '{}',
	min_attempts integer NOT NULL DEFAULT 0 CHECK (min_attempts >= 0),
	transport text NOT NULL,
	created timestamptz NOT NULL DEFAULT now(),
	CHECK (account_id IS NULL OR domain_id IS NULL)
);
COMMENT ON TABLE routes IS 'Which transport delivers a message: routes of the sending account are evaluated first, then those of the sender''s domain, then the global ones (both ids NULL), each in id order; the first match wins, for every delivery attempt. No match: direct delivery to the MX hosts.';
COMMENT ON COLUMN routes.id IS 'Identifier; also the evaluation order within a level.';
COMMENT ON COLUMN routes.account_id IS 'Account-level route: applies to messages this account sends.';
COMMENT ON COLUMN routes.domain_id IS 'Domain-level route: applies to messages with a MAIL FROM in this domain.';
COMMENT ON COLUMN routes.from_domains IS 'Condition: MAIL FROM domain is one of these (lower-case Unicode; ".example.org" also matches subdomains); empty matches any.';
COMMENT ON COLUMN routes.to_domains IS 'Condition: recipient domain is one of these (same form); empty matches any.';
COMMENT ON COLUMN routes.min_attempts IS 'Condition: at least this many earlier delivery attempts (e.g. 3: use a smarthost from the 4th attempt on).';
COMMENT ON COLUMN routes.transport IS 'Name of a [transport NAME] section of mailstead.conf, or "direct".';
CREATE INDEX routes_account ON routes (account_id);
CREATE INDEX routes_domain ON routes (domain_id);
COMMENT ON COLUMN routes.created IS 'When the route was added.';
