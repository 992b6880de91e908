-- IMAP METADATA (RFC 5464) annotations: per mailbox, or for the whole
-- account (the "server" annotations of the IMAP mailbox ""). Deleting a
-- mailbox removes its annotations; renaming keeps them (same mailbox row).

CREATE TABLE metadata (
	id bigserial PRIMARY KEY,
	account_id bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	mailbox_id bigint REFERENCES mailboxes(id) ON DELETE CASCADE,
	entry text NOT NULL,
	value bytea NOT NULL,
	is_string boolean NOT NULL DEFAULT true,
	modseq bigint NOT NULL,
	CHECK (entry = lower(entry) AND (entry LIKE '/private/%' OR entry LIKE '/shared/%'))
);
COMMENT ON TABLE metadata IS 'IMAP METADATA annotations (RFC 5464) of an account: per mailbox, or server-wide for the account when mailbox_id is NULL. At most 1000 entries and 1000000 bytes of entry names plus values per account.';
COMMENT ON COLUMN metadata.id IS 'Internal identifier.';
COMMENT ON COLUMN metadata.account_id IS 'Account owning the annotation.';
COMMENT ON COLUMN metadata.mailbox_id IS 'Mailbox the annotation belongs to; NULL for a server annotation (IMAP mailbox name "").';
COMMENT ON COLUMN metadata.entry IS 'Entry name in lower case, starting with /private/ or /shared/, e.g. /private/comment.';
COMMENT ON COLUMN metadata.value IS 'The value as set by the client; may contain any bytes when set as a literal.';
COMMENT ON COLUMN metadata.is_string IS 'The value was set as a quoted string (true) or as a literal (false); it is returned the same way.';
COMMENT ON COLUMN metadata.modseq IS 'Account modification sequence of the last change to this annotation.';
CREATE UNIQUE INDEX metadata_mailbox_entry ON metadata (mailbox_id, entry) WHERE mailbox_id IS NOT NULL;
CREATE UNIQUE INDEX metadata_server_entry ON metadata (account_id, entry) WHERE mailbox_id IS NULL;
CREATE INDEX metadata_account ON metadata (account_id);
