-- Web sessions of the admin, account and webmail interfaces (lib/web,
-- web_session.c), and the admin password. Sessions are server-side: the
-- browser holds a random token in an HttpOnly cookie; only hashes are
-- stored here.

CREATE TABLE web_sessions (
	id bigserial PRIMARY KEY,
	token_hash bytea NOT NULL UNIQUE,
	csrf_hash bytea NOT NULL,
	kind text NOT NULL CHECK (kind IN ('admin', 'account')),
	account_id bigint REFERENCES accounts(id) ON DELETE CASCADE,
	login_address text NOT NULL DEFAULT '',
	remote_ip text NOT NULL DEFAULT '',
	user_agent text NOT NULL DEFAULT '',
	created timestamptz NOT NULL DEFAULT now(),
	last_used timestamptz NOT NULL DEFAULT now(),
	expires timestamptz NOT NULL,
	CHECK ((kind = 'admin') = (account_id IS NULL))
);
CREATE INDEX web_sessions_account ON web_sessions (account_id, last_used);
CREATE INDEX web_sessions_expires ON web_sessions (expires);
COMMENT ON TABLE web_sessions IS 'Logged-in web sessions. A session is extended on use and ends when idle longer than [web] admin_session_idle / account_session_idle, at Logout, or (account sessions) when the password changes. At most 10 admin sessions and 100 per account: the least recently used go first.';
COMMENT ON COLUMN web_sessions.token_hash IS 'SHA-256 of the session token of the cookie (webadminsession, webaccountsession, webmailsession); the token itself is never stored.';
COMMENT ON COLUMN web_sessions.csrf_hash IS 'SHA-256 of the CSRF token that API calls must send in the x-mailstead-csrf header (forms: field csrf).';
COMMENT ON COLUMN web_sessions.kind IS '''admin'' for the admin interface, ''account'' for the account and webmail interfaces.';
COMMENT ON COLUMN web_sessions.account_id IS 'Account of an account session; NULL for admin sessions.';
COMMENT ON COLUMN web_sessions.login_address IS 'User name given at login (address or account name).';
COMMENT ON COLUMN web_sessions.remote_ip IS 'IP address the login came from.';
COMMENT ON COLUMN web_sessions.user_agent IS 'HTTP User-Agent of the login.';
COMMENT ON COLUMN web_sessions.created IS 'Login time.';
COMMENT ON COLUMN web_sessions.last_used IS 'Last time the session was extended (written at most about once a minute).';
COMMENT ON COLUMN web_sessions.expires IS 'The session is invalid after this time unless used before.';

-- Each removed session is announced, so the processes caching sessions
-- (the FastCGI programs, localserve) drop it at once. The payload is the
-- hex SHA-256 of the token.
CREATE FUNCTION web_sessions_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('mailstead_web_sessions', encode(OLD.token_hash, 'hex'));
	RETURN NULL;
END;
$$;
CREATE TRIGGER web_sessions_removed AFTER DELETE ON web_sessions
	FOR EACH ROW EXECUTE FUNCTION web_sessions_notify();

CREATE TABLE admin_password (
	id integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
	password_hash text NOT NULL,
	updated timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE admin_password IS 'The password of the admin web interface, one row, set with "mailstead setadminpassword". Without a row no admin login succeeds.';
COMMENT ON COLUMN admin_password.password_hash IS 'yescrypt hash in crypt(3) format.';
COMMENT ON COLUMN admin_password.updated IS 'When the password was last set.';
COMMENT ON COLUMN admin_password.id IS 'Always 1: a single row.';
COMMENT ON COLUMN web_sessions.id IS 'Identifier (not the session token, which is stored only as a hash).';
