-- The webapi (fcgi/webapi): login addresses that make outgoing messages use
-- a unique SMTP MAIL FROM ("fromid", the seeds on the webapi), so DSNs and
-- other replies to it can be matched to the message and recipient.

CREATE TABLE fromid_login_addresses (
	address text PRIMARY KEY,
	account_id bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	created timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fromid_login_addresses_account ON fromid_login_addresses (account_id);
COMMENT ON TABLE fromid_login_addresses IS 'Login addresses (lower case) with which messages sent through the webapi get a random fromid after the sender domain''s first catch-all separator in their MAIL FROM, e.g. user+Rand0m@example.org. The address need not be a delivery address: logging in with it needs the account''s password.';
COMMENT ON COLUMN fromid_login_addresses.address IS 'Login address, lower case, e.g. user+app@example.org.';
COMMENT ON COLUMN fromid_login_addresses.account_id IS 'Account the login address logs in to.';
COMMENT ON COLUMN fromid_login_addresses.created IS 'When the address was added.';
