-- Outbound TLS policy: the MTA-STS policy cache (RFC 8461 section 5) and
-- the per policy domain and day TLS results of delivery attempts that the
-- TLS report sender (RFC 8460) turns into reports. Written by
-- mailstead-queued through lib/mailauth/mtasts_cache.c and tlsrpt.c.

CREATE TABLE mtasts_policies (
	domain text PRIMARY KEY CHECK (domain = lower(domain) AND domain <> ''),
	-- id= of the _mta-sts TXT record the policy was fetched for; '' when
	-- the last fetch failed (backoff entry without a policy).
	record_id text NOT NULL DEFAULT '',
	mode text NOT NULL DEFAULT '' CHECK (mode IN ('', 'enforce', 'testing', 'none')),
	max_age bigint NOT NULL DEFAULT 0 CHECK (max_age >= 0),
	mx text[] NOT NULL DEFAULT '{}',
	-- The policy file as fetched (at most 64 KiB), for TLS reports
	-- ("policy-string") and inspection with psql.
	policy_text text NOT NULL DEFAULT '',
	fetched timestamptz,
	valid_until timestamptz,
	last_update_attempt timestamptz NOT NULL DEFAULT now(),
	last_error text NOT NULL DEFAULT '',
	last_use timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE mtasts_policies IS 'MTA-STS policy cache (RFC 8461 section 5): the last good policy of a recipient domain, used until valid_until (fetched + max_age) and refreshed when the _mta-sts TXT id changes; a row without fetched is a recent failed fetch (backoff).';
COMMENT ON COLUMN mtasts_policies.record_id IS 'The id= of the _mta-sts.<domain> TXT record the cached policy belongs to.';
COMMENT ON COLUMN mtasts_policies.valid_until IS 'fetched + max_age: after this the policy is no longer applied without a refresh.';
COMMENT ON COLUMN mtasts_policies.last_update_attempt IS 'Last fetch attempt, successful or not: failed fetches are not retried for 5 minutes.';

-- One row per (policy domain, UTC day, recipient domain, host or not):
-- counts of successful and failed sessions, and the failure details with
-- their counts, as RFC 8460 section 4.4 reports them.
CREATE TABLE tlsrpt_results (
	id bigserial PRIMARY KEY,
	policy_domain text NOT NULL,
	day_utc date NOT NULL,
	recipient_domain text NOT NULL,
	-- false: the recipient domain's policy (MTA-STS); true: an MX host's
	-- own policy (DANE TLSA), reported to the host's TLSRPT address.
	is_host boolean NOT NULL,
	-- "sts", "tlsa" or "no-policy-found" (RFC 8460 section 4.4 policy-type)
	policy_type text NOT NULL CHECK (policy_type IN ('sts', 'tlsa', 'no-policy-found')),
	-- The policy text for the report's policy-string: the MTA-STS policy
	-- lines, or the TLSA records in presentation format.
	policy_strings text[] NOT NULL DEFAULT '{}',
	policy_mx text[] NOT NULL DEFAULT '{}',
	success_count bigint NOT NULL DEFAULT 0 CHECK (success_count >= 0),
	failure_count bigint NOT NULL DEFAULT 0 CHECK (failure_count >= 0),
	-- [{"result-type": ..., "sending-mta-ip": ..., "receiving-mx-hostname":
	--   ..., "receiving-ip": ..., "failure-reason-code": ...,
	--   "failed-session-count": n}, ...]
	failure_details jsonb NOT NULL DEFAULT '[]',
	send_report boolean NOT NULL DEFAULT true,
	updated timestamptz NOT NULL DEFAULT now(),
	UNIQUE (policy_domain, day_utc, recipient_domain, is_host)
);
COMMENT ON TABLE tlsrpt_results IS 'Outgoing TLS/policy results per policy domain and UTC day for TLS reports (RFC 8460); one row per policy domain, day, recipient domain and whether the policy is an MX host''s (DANE) or the recipient domain''s (MTA-STS).';
COMMENT ON COLUMN tlsrpt_results.failure_details IS 'RFC 8460 failure-details: result-type (starttls-not-supported, certificate-host-mismatch, certificate-expired, certificate-not-trusted, validation-failure, tlsa-invalid, dnssec-invalid, dane-required, sts-policy-fetch-error, sts-policy-invalid, sts-webpki-invalid), receiving host/IP, reason code, failed-session-count.';
COMMENT ON COLUMN tlsrpt_results.send_report IS 'false for results that must not be reported (e.g. deliveries of TLS reports themselves, RFC 8460 section 3).';
CREATE INDEX tlsrpt_results_day ON tlsrpt_results (day_utc);

-- For psql users: results of the last days, one line per policy.
CREATE VIEW tlsrpt_summary AS
	SELECT day_utc, policy_domain, is_host, policy_type, recipient_domain,
		success_count, failure_count,
		(SELECT string_agg((d->>'result-type') || '=' || (d->>'failed-session-count'), ' ')
			FROM jsonb_array_elements(failure_details) AS d) AS failures
	FROM tlsrpt_results
	ORDER BY day_utc DESC, policy_domain;
COMMENT ON VIEW tlsrpt_summary IS 'Outgoing TLS results per day and policy domain with failure counts by result type.';

COMMENT ON COLUMN mtasts_policies.domain IS 'Recipient domain (lower-case ASCII) the policy is for.';
COMMENT ON COLUMN mtasts_policies.mode IS 'Policy mode: enforce, testing or none; empty for a failed-fetch entry without a policy.';
COMMENT ON COLUMN mtasts_policies.max_age IS 'Seconds the policy may be cached (max_age of the policy file, at most one year).';
COMMENT ON COLUMN mtasts_policies.mx IS 'The mx: patterns of the policy ("*.example.com" matches one label).';
COMMENT ON COLUMN mtasts_policies.policy_text IS 'The policy file as fetched (at most 64 KiB), for TLS reports and inspection.';
COMMENT ON COLUMN mtasts_policies.fetched IS 'When the policy was fetched; NULL for an entry recording a failed fetch.';
COMMENT ON COLUMN mtasts_policies.last_error IS 'Why the last fetch failed; empty after a success.';
COMMENT ON COLUMN mtasts_policies.last_use IS 'Last delivery that used the policy.';
COMMENT ON COLUMN tlsrpt_results.id IS 'Identifier.';
COMMENT ON COLUMN tlsrpt_results.policy_domain IS 'Domain the report goes to: the recipient domain (MTA-STS) or the TLSA base domain (DANE).';
COMMENT ON COLUMN tlsrpt_results.day_utc IS 'UTC day of the delivery attempts counted.';
COMMENT ON COLUMN tlsrpt_results.recipient_domain IS 'Recipient domain of the delivery attempts.';
COMMENT ON COLUMN tlsrpt_results.is_host IS 'false: the recipient domain''s policy (MTA-STS); true: an MX host''s own policy (DANE TLSA).';
COMMENT ON COLUMN tlsrpt_results.policy_type IS 'RFC 8460 section 4.4 policy-type: sts, tlsa or no-policy-found.';
COMMENT ON COLUMN tlsrpt_results.policy_strings IS 'The policy for the report''s policy-string: MTA-STS policy lines or TLSA records in presentation format.';
COMMENT ON COLUMN tlsrpt_results.policy_mx IS 'mx patterns of an MTA-STS policy (mx-host in the report).';
COMMENT ON COLUMN tlsrpt_results.success_count IS 'Sessions with a successful TLS negotiation under the policy.';
COMMENT ON COLUMN tlsrpt_results.failure_count IS 'Sessions that failed under the policy (details in failure_details).';
COMMENT ON COLUMN tlsrpt_results.updated IS 'Last change of the row.';
