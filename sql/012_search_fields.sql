-- The header fields IMAP searches by name most often (FROM, TO, CC, BCC and
-- SUBJECT keys), copied from each message at delivery, so such a search
-- reads these bytes from the database instead of opening every message
-- file. Rows stored before this migration have NULL and are searched in
-- their files, as before.

ALTER TABLE messages ADD search_fields bytea;
COMMENT ON COLUMN messages.search_fields IS 'The message''s From, To, Cc, Bcc and Subject header fields as they are in its header section (msg_prefix and file), each "Name:value" with CRLF, folding kept; NULL when not stored (older rows): IMAP searches then read the file.';
