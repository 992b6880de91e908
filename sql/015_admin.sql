-- Domain settings the admin interface and "mailstead domain set" change
-- and "dns records" publishes: where DMARC and TLS reports go, and the
-- MTA-STS policy (RFC 8461), served at mta-sts.<domain> and announced by
-- the _mta-sts record (lib/admin/dnsrec.c). The defaults give the records
-- printed before these settings existed; a NULL MTA-STS setting is the
-- [web] default of mailstead.conf.

ALTER TABLE domains
	ADD dmarc_localpart text NOT NULL DEFAULT 'dmarc-reports'
		CHECK (dmarc_localpart !~ '[@[:space:][:cntrl:];,!]'),
	ADD tlsrpt_localpart text NOT NULL DEFAULT 'tls-reports'
		CHECK (tlsrpt_localpart !~ '[@[:space:][:cntrl:];,!]'),
	ADD mtasts_mode text
		CHECK (mtasts_mode IN ('enforce', 'testing', 'none', '')),
	ADD mtasts_max_age integer
		CHECK (mtasts_max_age BETWEEN 1 AND 31557600),
	ADD mtasts_mx text[] NOT NULL DEFAULT '{}';
COMMENT ON COLUMN domains.dmarc_localpart IS 'Localpart of the address in the DMARC record''s rua= (aggregate reports), e.g. dmarc-reports for dmarc-reports@<domain>; empty: no rua, no reports requested.';
COMMENT ON COLUMN domains.tlsrpt_localpart IS 'Localpart of the address in the TLSRPT record (RFC 8460) at _smtp._tls.<domain>; empty: no TLSRPT record.';
COMMENT ON COLUMN domains.mtasts_mode IS 'MTA-STS policy mode (RFC 8461 section 3.2): enforce, testing or none; empty: no MTA-STS records or policy; NULL: [web] mtasts_mode.';
COMMENT ON COLUMN domains.mtasts_max_age IS 'MTA-STS policy max_age in seconds (at most a year); NULL: [web] mtasts_max_age.';
COMMENT ON COLUMN domains.mtasts_mx IS 'MX host patterns of the MTA-STS policy ("mx:" lines, "*.example.org" allowed); empty: the host names of the SMTP listeners.';
