-- DMARC aggregate reports (RFC 7489 section 7.2, appendix C) and TLS
-- reports (RFC 8460) that other mail servers send us, the suppression
-- list of reporting addresses we send no reports to, and the "optional"
-- flag of DMARC evaluations. Reports are written by lib/reports
-- (reports_dmarc_add, reports_tls_add) in one transaction each and read by
-- the admin interface. Our own outgoing data is elsewhere: per-message
-- DMARC evaluations in dmarc_evaluations (005_message_auth.sql), outgoing
-- TLS results in tlsrpt_results (009_tlspolicy.sql).

CREATE TABLE dmarc_reports (
	id bigserial PRIMARY KEY,
	received timestamptz NOT NULL DEFAULT now(),
	domain text NOT NULL CHECK (domain <> ''),
	from_domain text NOT NULL DEFAULT '',
	org_name text NOT NULL,
	email text NOT NULL DEFAULT '',
	report_id text NOT NULL,
	date_begin timestamptz NOT NULL,
	date_end timestamptz NOT NULL CHECK (date_end >= date_begin),
	policy_published jsonb NOT NULL,
	record_count integer NOT NULL CHECK (record_count >= 0),
	message_count bigint NOT NULL CHECK (message_count >= 0),
	report jsonb NOT NULL,
	UNIQUE (org_name, report_id, domain)
);
COMMENT ON TABLE dmarc_reports IS 'DMARC aggregate reports received about our domains (RFC 7489 section 7.2): one row per report; its records are in dmarc_report_records. A report sent twice (same org_name, report_id, domain) is stored once.';
COMMENT ON COLUMN dmarc_reports.id IS 'Identifier (the admin page shows reports by it).';
COMMENT ON COLUMN dmarc_reports.received IS 'When we stored the report.';
COMMENT ON COLUMN dmarc_reports.domain IS 'policy_published domain: where the reporter found the DMARC record (ours, possibly an organizational domain); lower-case Unicode.';
COMMENT ON COLUMN dmarc_reports.from_domain IS 'Domain in the From header of the message that carried the report (lower-case Unicode); empty when unknown.';
COMMENT ON COLUMN dmarc_reports.org_name IS 'report_metadata org_name: who sent the report.';
COMMENT ON COLUMN dmarc_reports.email IS 'report_metadata email: the reporter''s contact address.';
COMMENT ON COLUMN dmarc_reports.report_id IS 'report_metadata report_id: unique per reporter.';
COMMENT ON COLUMN dmarc_reports.date_begin IS 'Start of the period the report covers (date_range begin).';
COMMENT ON COLUMN dmarc_reports.date_end IS 'End of the period the report covers (date_range end).';
COMMENT ON COLUMN dmarc_reports.policy_published IS 'The DMARC record the reporter applied: {"domain", "adkim", "aspf", "p", "sp", "pct", "fo"}.';
COMMENT ON COLUMN dmarc_reports.record_count IS 'Number of records (rows) in the report.';
COMMENT ON COLUMN dmarc_reports.message_count IS 'Messages the report covers: the sum of the records'' counts.';
COMMENT ON COLUMN dmarc_reports.report IS 'The whole parsed report with the element names of RFC 7489 appendix C: {"version", "report_metadata": {"org_name", "email", "extra_contact_info", "report_id", "date_range": {"begin", "end"}, "error": [...]}, "policy_published": {...}, "record": [{"row": {"source_ip", "count", "policy_evaluated": {"disposition", "dkim", "spf", "reason": [{"type", "comment"}]}}, "identifiers": {"envelope_to", "envelope_from", "header_from"}, "auth_results": {"dkim": [{"domain", "selector", "result", "human_result"}], "spf": [{"domain", "scope", "result"}]}}]}.';
CREATE INDEX dmarc_reports_domain ON dmarc_reports (domain, date_end);
CREATE INDEX dmarc_reports_end ON dmarc_reports (date_end);

CREATE TABLE dmarc_report_records (
	id bigserial PRIMARY KEY,
	report bigint NOT NULL REFERENCES dmarc_reports(id) ON DELETE CASCADE,
	source_ip inet NOT NULL,
	count bigint NOT NULL CHECK (count >= 0),
	disposition text NOT NULL,
	dkim text NOT NULL,
	spf text NOT NULL,
	reasons text[] NOT NULL DEFAULT '{}',
	envelope_to text NOT NULL DEFAULT '',
	envelope_from text NOT NULL DEFAULT '',
	header_from text NOT NULL DEFAULT '',
	dkim_domains text[] NOT NULL DEFAULT '{}',
	dkim_results text[] NOT NULL DEFAULT '{}',
	spf_domains text[] NOT NULL DEFAULT '{}',
	spf_results text[] NOT NULL DEFAULT '{}'
);
COMMENT ON TABLE dmarc_report_records IS 'The records of received DMARC aggregate reports as columns, for summaries and psql (e.g. which source IPs fail DKIM); derived from dmarc_reports.report when the report is stored.';
COMMENT ON COLUMN dmarc_report_records.id IS 'Identifier.';
COMMENT ON COLUMN dmarc_report_records.report IS 'The report (dmarc_reports.id).';
COMMENT ON COLUMN dmarc_report_records.source_ip IS 'row source_ip: the address that sent the messages.';
COMMENT ON COLUMN dmarc_report_records.count IS 'row count: messages from source_ip with these results.';
COMMENT ON COLUMN dmarc_report_records.disposition IS 'policy_evaluated disposition the reporter applied: none, quarantine or reject.';
COMMENT ON COLUMN dmarc_report_records.dkim IS 'policy_evaluated dkim: pass or fail (aligned DKIM result).';
COMMENT ON COLUMN dmarc_report_records.spf IS 'policy_evaluated spf: pass or fail (aligned SPF result).';
COMMENT ON COLUMN dmarc_report_records.reasons IS 'policy_evaluated reason types: why the disposition differs from the policy (forwarded, sampled_out, trusted_forwarder, mailing_list, local_policy, other).';
COMMENT ON COLUMN dmarc_report_records.envelope_to IS 'identifiers envelope_to: recipient domain, often empty.';
COMMENT ON COLUMN dmarc_report_records.envelope_from IS 'identifiers envelope_from: MAIL FROM domain.';
COMMENT ON COLUMN dmarc_report_records.header_from IS 'identifiers header_from: From header domain.';
COMMENT ON COLUMN dmarc_report_records.dkim_domains IS 'auth_results dkim domains (d=), in report order.';
COMMENT ON COLUMN dmarc_report_records.dkim_results IS 'auth_results dkim results, one per entry of dkim_domains: none, pass, fail, policy, neutral, temperror, permerror.';
COMMENT ON COLUMN dmarc_report_records.spf_domains IS 'auth_results spf domains, in report order.';
COMMENT ON COLUMN dmarc_report_records.spf_results IS 'auth_results spf results, one per entry of spf_domains: none, neutral, pass, fail, softfail, temperror, permerror.';
CREATE INDEX dmarc_report_records_report ON dmarc_report_records (report);

CREATE TABLE tls_reports (
	id bigserial PRIMARY KEY,
	received timestamptz NOT NULL DEFAULT now(),
	from_domain text NOT NULL DEFAULT '',
	mail_from text NOT NULL DEFAULT '',
	host_report boolean NOT NULL DEFAULT false,
	org_name text NOT NULL,
	report_id text NOT NULL,
	contact_info text NOT NULL DEFAULT '',
	date_begin timestamptz NOT NULL,
	date_end timestamptz NOT NULL CHECK (date_end >= date_begin),
	policy_domains text[] NOT NULL CHECK (cardinality(policy_domains) > 0),
	success_count bigint NOT NULL CHECK (success_count >= 0),
	failure_count bigint NOT NULL CHECK (failure_count >= 0),
	report jsonb NOT NULL,
	UNIQUE (org_name, report_id)
);
COMMENT ON TABLE tls_reports IS 'TLS reports (RFC 8460) received about our domains (MTA-STS) or our MX host (DANE): one row per report; its policies are in tls_report_policies. A report sent twice (same organization-name and report-id) is stored once.';
COMMENT ON COLUMN tls_reports.id IS 'Identifier (the admin page shows reports by it).';
COMMENT ON COLUMN tls_reports.received IS 'When we stored the report.';
COMMENT ON COLUMN tls_reports.from_domain IS 'Domain in the From header of the message that carried the report (lower-case Unicode); empty when unknown.';
COMMENT ON COLUMN tls_reports.mail_from IS 'MAIL FROM of the message that carried the report.';
COMMENT ON COLUMN tls_reports.host_report IS 'The report was sent to the TLSRPT address of our MX host (DANE policies of the host), not of a mail domain.';
COMMENT ON COLUMN tls_reports.org_name IS 'organization-name: who sent the report.';
COMMENT ON COLUMN tls_reports.report_id IS 'report-id: unique per reporter.';
COMMENT ON COLUMN tls_reports.contact_info IS 'contact-info: the reporter''s contact.';
COMMENT ON COLUMN tls_reports.date_begin IS 'date-range start-datetime.';
COMMENT ON COLUMN tls_reports.date_end IS 'date-range end-datetime.';
COMMENT ON COLUMN tls_reports.policy_domains IS 'The distinct policy-domain values of the report''s policies in report order, lower-case Unicode.';
COMMENT ON COLUMN tls_reports.success_count IS 'Sum of the policies'' total-successful-session-count.';
COMMENT ON COLUMN tls_reports.failure_count IS 'Sum of the policies'' total-failure-session-count.';
COMMENT ON COLUMN tls_reports.report IS 'The whole parsed report with the RFC 8460 section 4.4 field names: {"organization-name", "date-range": {"start-datetime", "end-datetime"}, "contact-info", "report-id", "policies": [{"policy": {"policy-type", "policy-string", "policy-domain", "mx-host"}, "summary": {"total-successful-session-count", "total-failure-session-count"}, "failure-details": [...]}]}.';
CREATE INDEX tls_reports_end ON tls_reports (date_end);
CREATE INDEX tls_reports_domains ON tls_reports USING gin (policy_domains);

CREATE TABLE tls_report_policies (
	id bigserial PRIMARY KEY,
	report bigint NOT NULL REFERENCES tls_reports(id) ON DELETE CASCADE,
	policy_domain text NOT NULL,
	policy_type text NOT NULL,
	policy_strings text[] NOT NULL DEFAULT '{}',
	mx_hosts text[] NOT NULL DEFAULT '{}',
	success_count bigint NOT NULL CHECK (success_count >= 0),
	failure_count bigint NOT NULL CHECK (failure_count >= 0),
	failure_details jsonb NOT NULL DEFAULT '[]'
);
COMMENT ON TABLE tls_report_policies IS 'The policies of received TLS reports as columns, for summaries per policy domain and psql; derived from tls_reports.report when the report is stored.';
COMMENT ON COLUMN tls_report_policies.id IS 'Identifier.';
COMMENT ON COLUMN tls_report_policies.report IS 'The report (tls_reports.id).';
COMMENT ON COLUMN tls_report_policies.policy_domain IS 'policy-domain, lower-case Unicode: our domain (MTA-STS, no-policy-found) or MX host (DANE).';
COMMENT ON COLUMN tls_report_policies.policy_type IS 'policy-type: sts, tlsa or no-policy-found.';
COMMENT ON COLUMN tls_report_policies.policy_strings IS 'policy-string: the MTA-STS policy lines or TLSA records the reporter used.';
COMMENT ON COLUMN tls_report_policies.mx_hosts IS 'mx-host: MX host patterns of an MTA-STS policy.';
COMMENT ON COLUMN tls_report_policies.success_count IS 'total-successful-session-count.';
COMMENT ON COLUMN tls_report_policies.failure_count IS 'total-failure-session-count.';
COMMENT ON COLUMN tls_report_policies.failure_details IS 'failure-details: [{"result-type", "sending-mta-ip", "receiving-mx-hostname", "receiving-mx-helo", "receiving-ip", "failed-session-count", "additional-information", "failure-reason-code"}].';
CREATE INDEX tls_report_policies_report ON tls_report_policies (report);
CREATE INDEX tls_report_policies_domain ON tls_report_policies (policy_domain);

-- Reporting addresses we do not send reports to (the reference keeps one
-- list for DMARC and one for TLS reports: kind tells them apart).
CREATE TABLE report_suppressions (
	id bigserial PRIMARY KEY,
	kind text NOT NULL CHECK (kind IN ('dmarc', 'tlsrpt')),
	reporting_address text NOT NULL CHECK (reporting_address <> ''),
	inserted timestamptz NOT NULL DEFAULT now(),
	until timestamptz NOT NULL,
	comment text NOT NULL DEFAULT '',
	UNIQUE (kind, reporting_address)
);
COMMENT ON TABLE report_suppressions IS 'Reporting addresses (rua= of DMARC records, TLSRPT records) that get none of our outgoing DMARC aggregate or TLS reports until a time, e.g. because they bounce.';
COMMENT ON COLUMN report_suppressions.id IS 'Identifier.';
COMMENT ON COLUMN report_suppressions.kind IS 'Which reports are suppressed: dmarc (aggregate reports) or tlsrpt (TLS reports).';
COMMENT ON COLUMN report_suppressions.reporting_address IS 'The address, localpart@domain with a lower-case Unicode domain.';
COMMENT ON COLUMN report_suppressions.inserted IS 'When the address was added.';
COMMENT ON COLUMN report_suppressions.until IS 'Reports are suppressed until this time; the row may be removed after it.';
COMMENT ON COLUMN report_suppressions.comment IS 'Why the address is suppressed.';

ALTER TABLE dmarc_evaluations
	ADD optional boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN dmarc_evaluations.optional IS 'The evaluation goes into a report sent for other evaluations but is no reason to send one: set for incoming DMARC reports themselves (so two servers do not exchange reports forever) and rejects from domains we never dealt with (so we cannot be used to flood a domain with reports).';
CREATE INDEX dmarc_evaluations_evaluated ON dmarc_evaluations (evaluated);

-- For psql users: received DMARC results per domain and day.
CREATE VIEW dmarc_report_summary AS
	SELECT r.domain, date_trunc('day', r.date_end) AS day, count(DISTINCT r.id) AS reports,
		sum(c.count) AS messages,
		sum(c.count) FILTER (WHERE c.disposition = 'quarantine') AS quarantined,
		sum(c.count) FILTER (WHERE c.disposition = 'reject') AS rejected,
		sum(c.count) FILTER (WHERE c.dkim <> 'pass') AS dkim_fail,
		sum(c.count) FILTER (WHERE c.spf <> 'pass') AS spf_fail
	FROM dmarc_reports r JOIN dmarc_report_records c ON c.report = r.id
	GROUP BY r.domain, date_trunc('day', r.date_end)
	ORDER BY day DESC, r.domain;
COMMENT ON VIEW dmarc_report_summary IS 'Received DMARC aggregate reports per domain and day (of the report period end): messages, how many the reporters quarantined or rejected, and how many failed aligned DKIM or SPF.';

-- For psql users: received TLS results per policy domain and day.
CREATE VIEW tls_report_summary AS
	SELECT p.policy_domain, date_trunc('day', r.date_end) AS day, p.policy_type,
		count(DISTINCT r.id) AS reports, sum(p.success_count) AS successes,
		sum(p.failure_count) AS failures
	FROM tls_reports r JOIN tls_report_policies p ON p.report = r.id
	GROUP BY p.policy_domain, date_trunc('day', r.date_end), p.policy_type
	ORDER BY day DESC, p.policy_domain;
COMMENT ON VIEW tls_report_summary IS 'Received TLS reports per policy domain, day (of the report period end) and policy type: successful and failed TLS sessions other servers had with us.';
