-- Account settings the account web interface edits (FEATURES.md section 5)
-- that had no column yet: the login addresses that give submitted
-- messages a unique MAIL FROM (fromid), and the rejects and junk filter
-- settings. The junk analysis itself is a later issue; until then these
-- are stored and shown, and the CHECKs keep them well-formed for it.

ALTER TABLE accounts
	ADD fromid_login_addresses text[] NOT NULL DEFAULT '{}',
	ADD rejects_mailbox text NOT NULL DEFAULT '',
	ADD keep_rejects boolean NOT NULL DEFAULT false,
	ADD junk_filter jsonb
		CHECK (junk_filter IS NULL OR jsonb_typeof(junk_filter) = 'object');
COMMENT ON COLUMN accounts.fromid_login_addresses IS 'Login addresses (of this account) for which submitted messages get a random fromid: MAIL FROM becomes localpart<separator>fromid@domain, so DSNs and replies to it are matched to the sent message (webhooks). Needs a catch-all separator on the domain.';
COMMENT ON COLUMN accounts.rejects_mailbox IS 'Mailbox where messages rejected by the junk analysis are kept for a while so the user can find them; empty: rejected messages are not kept.';
COMMENT ON COLUMN accounts.keep_rejects IS 'When false, old messages in the rejects mailbox are removed automatically; when true they are kept.';
COMMENT ON COLUMN accounts.junk_filter IS 'Settings of the Bayesian junk filter as a JSON object {"threshold": 0..1, "onegrams", "twograms", "threegrams": bool, "maxPower": 0..1, "topWords", "ignoreWords": 0..1, "rareWords": int}; NULL: no junk filter.';
