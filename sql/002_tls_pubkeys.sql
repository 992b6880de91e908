-- TLS client certificate public keys (SASL EXTERNAL and IMAP preauth), the
-- login attempt audit log, and server-wide secrets (e.g. the key for fake
-- SCRAM salts of unknown users, shared by smtpd and imapd).
-- See lib/store/store_credentials.c and lib/auth/tlspubkey.h.

CREATE TABLE tls_public_keys (
	fingerprint text PRIMARY KEY,
	type text NOT NULL,
	name text NOT NULL,
	no_imap_preauth boolean NOT NULL DEFAULT false,
	cert_der bytea NOT NULL,
	account_id bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	login_address text NOT NULL,
	created timestamptz NOT NULL DEFAULT now(),
	CHECK (fingerprint <> '' AND name <> '' AND login_address <> '')
);
CREATE INDEX tls_public_keys_account ON tls_public_keys (account_id);
COMMENT ON TABLE tls_public_keys IS 'Public keys of TLS client certificates that log in to an account (SASL EXTERNAL, IMAP PREAUTH). Only the key counts: certificate names, expiry and issuer are ignored.';
COMMENT ON COLUMN tls_public_keys.fingerprint IS 'base64url (no padding) of SHA-256 over the DER SubjectPublicKeyInfo of the certificate.';
COMMENT ON COLUMN tls_public_keys.type IS 'Key type and size, e.g. ''rsa-2048'', ''ecdsa-p256'', ''ed25519''.';
COMMENT ON COLUMN tls_public_keys.name IS 'Descriptive name to recognize the key, e.g. the device it is used on; defaults to the certificate''s common name.';
COMMENT ON COLUMN tls_public_keys.no_imap_preauth IS 'When true, IMAP connections with this key start unauthenticated instead of with PREAUTH, for clients that insist on authenticating.';
COMMENT ON COLUMN tls_public_keys.cert_der IS 'The certificate as uploaded, DER-encoded, to show and export it.';
COMMENT ON COLUMN tls_public_keys.account_id IS 'Account this key logs in to.';
COMMENT ON COLUMN tls_public_keys.login_address IS 'Address of the account the connection is authenticated as (EXTERNAL without authorization identity, PREAUTH).';
COMMENT ON COLUMN tls_public_keys.created IS 'When the key was added.';

CREATE TABLE login_attempts (
	key bytea PRIMARY KEY,
	first timestamptz NOT NULL DEFAULT now(),
	last timestamptz NOT NULL DEFAULT now(),
	count bigint NOT NULL DEFAULT 1,
	account_name text NOT NULL,
	login_address text NOT NULL DEFAULT '',
	remote_ip text NOT NULL DEFAULT '',
	local_ip text NOT NULL DEFAULT '',
	tls text NOT NULL DEFAULT '',
	tls_pubkey_fingerprint text NOT NULL DEFAULT '',
	protocol text NOT NULL,
	user_agent text NOT NULL DEFAULT '',
	auth_mech text NOT NULL DEFAULT '',
	result text NOT NULL CHECK (result IN ('ok', 'baduser', 'badpassword', 'badcreds',
		'badchanbind', 'badprotocol', 'logindisabled', 'error', 'aborted', 'ratelimited'))
);
CREATE INDEX login_attempts_account_last ON login_attempts (account_name, last);
CREATE INDEX login_attempts_last ON login_attempts (last);
COMMENT ON TABLE login_attempts IS 'Successful and failed logins for auditing: one row per distinct combination of the descriptive columns, counted. At most 10000 failed rows are kept per account name; rows unused for 30 days are removed.';
COMMENT ON COLUMN login_attempts.key IS 'SHA-256 over the descriptive columns (account_name through result), identifying the combination.';
COMMENT ON COLUMN login_attempts.first IS 'First attempt with this combination.';
COMMENT ON COLUMN login_attempts.last IS 'Most recent attempt with this combination.';
COMMENT ON COLUMN login_attempts.count IS 'Number of attempts with this combination.';
COMMENT ON COLUMN login_attempts.account_name IS 'Account name; ''-'' when no account matched the login, ''(admin)'' for admin logins. Not a foreign key, so attempts for unknown or removed accounts stay visible.';
COMMENT ON COLUMN login_attempts.login_address IS 'User name the client gave (address or account name); empty for admin logins.';
COMMENT ON COLUMN login_attempts.remote_ip IS 'IP address of the client.';
COMMENT ON COLUMN login_attempts.local_ip IS 'IP address of ours the client connected to.';
COMMENT ON COLUMN login_attempts.tls IS 'TLS details (version, cipher suite, SNI, resumption, ALPN); empty without TLS.';
COMMENT ON COLUMN login_attempts.tls_pubkey_fingerprint IS 'Fingerprint of the TLS client certificate''s public key, if one was presented (see tls_public_keys.fingerprint).';
COMMENT ON COLUMN login_attempts.protocol IS 'Protocol: ''submission'', ''imap'', ''webmail'', ''webaccount'', ''webadmin'', ''webapi''.';
COMMENT ON COLUMN login_attempts.user_agent IS 'Client software: HTTP User-Agent or IMAP ID; empty when unknown.';
COMMENT ON COLUMN login_attempts.auth_mech IS 'Mechanism in lower case, e.g. ''plain'', ''scram-sha-256-plus'', ''external'', ''login'', ''websession''.';
COMMENT ON COLUMN login_attempts.result IS 'Outcome: ok, baduser, badpassword, badcreds (bad user or password, not told apart), badchanbind (SCRAM channel binding mismatch: possible man in the middle), badprotocol, logindisabled, error (server side), aborted (client cancelled), ratelimited.';

CREATE TABLE server_secrets (
	name text PRIMARY KEY,
	value bytea NOT NULL,
	created timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE server_secrets IS 'Random secrets created on first use and shared by all daemons, e.g. ''sasl-fake-salt'' for the SCRAM salts given to unknown users.';
COMMENT ON COLUMN server_secrets.name IS 'Purpose of the secret.';
COMMENT ON COLUMN server_secrets.value IS 'The random secret bytes.';
COMMENT ON COLUMN server_secrets.created IS 'When the secret was created.';
