-- Message authentication results (SPF, DKIM, DMARC, iprev) per delivered
-- message, and DMARC evaluations kept for aggregate reports.

ALTER TABLE messages
	ADD COLUMN spf_result text NOT NULL DEFAULT '',
	ADD COLUMN dmarc_result text NOT NULL DEFAULT '',
	ADD COLUMN dmarc_disposition text NOT NULL DEFAULT '',
	ADD COLUMN iprev_result text NOT NULL DEFAULT '';
COMMENT ON COLUMN messages.spf_result IS 'SPF result for MAIL FROM (or HELO for a null sender): none, neutral, pass, fail, softfail, temperror, permerror; empty when not checked (submission, IMAP APPEND).';
COMMENT ON COLUMN messages.dmarc_result IS 'DMARC result for the From domain: none, pass, fail, temperror, permerror; empty when not checked.';
COMMENT ON COLUMN messages.dmarc_disposition IS 'What the DMARC policy asked for this message after pct sampling: none, quarantine or reject; empty when not checked.';
COMMENT ON COLUMN messages.iprev_result IS 'Forward-confirmed reverse DNS of the sending IP (RFC 8601 iprev): pass, fail, temperror, permerror; empty when not checked.';

CREATE TABLE dmarc_evaluations (
	id bigserial PRIMARY KEY,
	policy_domain text NOT NULL,
	evaluated timestamptz NOT NULL DEFAULT now(),
	interval_hours integer NOT NULL,
	addresses text[] NOT NULL,
	policy_published jsonb NOT NULL,
	source_ip inet NOT NULL,
	disposition text NOT NULL,
	aligned_dkim_pass boolean NOT NULL,
	aligned_spf_pass boolean NOT NULL,
	override_reasons text[] NOT NULL DEFAULT '{}',
	envelope_to text NOT NULL,
	envelope_from text NOT NULL,
	header_from text NOT NULL,
	dkim_results jsonb NOT NULL,
	spf_results jsonb NOT NULL
);
COMMENT ON TABLE dmarc_evaluations IS 'One row per incoming message evaluated against a DMARC record that asks for aggregate reports (rua), to be summarized into reports per policy domain and interval.';
COMMENT ON COLUMN dmarc_evaluations.id IS 'Row id.';
COMMENT ON COLUMN dmarc_evaluations.policy_domain IS 'Domain where the DMARC record was found (the From domain or its organizational domain).';
COMMENT ON COLUMN dmarc_evaluations.evaluated IS 'When the message was evaluated.';
COMMENT ON COLUMN dmarc_evaluations.interval_hours IS 'Requested report interval (ri=) in hours, at least 1.';
COMMENT ON COLUMN dmarc_evaluations.addresses IS 'Report addresses from rua=, as in the record.';
COMMENT ON COLUMN dmarc_evaluations.policy_published IS 'The record as evaluated: {"domain", "adkim", "aspf", "p", "sp", "pct", "fo"}.';
COMMENT ON COLUMN dmarc_evaluations.source_ip IS 'IP address that sent the message.';
COMMENT ON COLUMN dmarc_evaluations.disposition IS 'Policy applied: none, quarantine or reject.';
COMMENT ON COLUMN dmarc_evaluations.aligned_dkim_pass IS 'A DKIM signature passed and was aligned with the From domain.';
COMMENT ON COLUMN dmarc_evaluations.aligned_spf_pass IS 'SPF passed and its domain was aligned with the From domain.';
COMMENT ON COLUMN dmarc_evaluations.override_reasons IS 'Why a failing message was not rejected: forwarded, mailing_list, local_policy, sampled_out.';
COMMENT ON COLUMN dmarc_evaluations.envelope_to IS 'Recipient domain.';
COMMENT ON COLUMN dmarc_evaluations.envelope_from IS 'MAIL FROM domain (empty for a null sender).';
COMMENT ON COLUMN dmarc_evaluations.header_from IS 'From header domain.';
COMMENT ON COLUMN dmarc_evaluations.dkim_results IS 'Each DKIM signature: [{"domain", "selector", "result"}].';
COMMENT ON COLUMN dmarc_evaluations.spf_results IS 'SPF checks: [{"domain", "scope" (mfrom or helo), "result"}].';
CREATE INDEX dmarc_evaluations_domain ON dmarc_evaluations (policy_domain, evaluated);

CREATE TABLE dkim_selectors (
	id bigserial PRIMARY KEY,
	domain_id bigint NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
	selector text NOT NULL,
	algorithm text NOT NULL CHECK (algorithm IN ('rsa', 'ed25519')),
	private_key text NOT NULL,
	headers text[] NOT NULL DEFAULT '{}',
	oversign boolean NOT NULL DEFAULT true,
	expiration_seconds integer NOT NULL DEFAULT 259200 CHECK (expiration_seconds >= 0),
	sign boolean NOT NULL DEFAULT true,
	created timestamptz NOT NULL DEFAULT now(),
	UNIQUE (domain_id, selector)
);
COMMENT ON TABLE dkim_selectors IS 'DKIM keys of our domains (mailstead dkim gen): submitted messages From a domain are signed with each of its selectors that has sign set.';
COMMENT ON COLUMN dkim_selectors.id IS 'Row id.';
COMMENT ON COLUMN dkim_selectors.domain_id IS 'The domain whose messages are signed.';
COMMENT ON COLUMN dkim_selectors.selector IS 'Selector (s=); the public key is published at <selector>._domainkey.<domain>.';
COMMENT ON COLUMN dkim_selectors.algorithm IS 'Key type: rsa (rsa-sha256, 2048 bits) or ed25519 (ed25519-sha256, RFC 8463).';
COMMENT ON COLUMN dkim_selectors.private_key IS 'Private key, PKCS#8 PEM. Secret: never logged, readable only by the database role of the daemons.';
COMMENT ON COLUMN dkim_selectors.headers IS 'Header fields to sign, lower case; empty for the default list.';
COMMENT ON COLUMN dkim_selectors.oversign IS 'Sign each header field once more than present, so none can be added without breaking the signature.';
COMMENT ON COLUMN dkim_selectors.expiration_seconds IS 'Signature lifetime (x= is t= plus this); 0 for no expiration. Default 72 hours.';
COMMENT ON COLUMN dkim_selectors.sign IS 'Sign new messages with this selector (false keeps the key published during a rotation).';
COMMENT ON COLUMN dkim_selectors.created IS 'When the key was generated or imported.';
