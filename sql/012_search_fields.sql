-- The header fields IMAP searches by name most often (FROM, TO, CC, BCC and
-- SUBJECT keys), copied from each message at delivery, so such a search
-- reads these bytes from the database instead of opening every message
-- file, and the database can leave out the rows that cannot match. Rows
-- stored before this migration, and messages whose fields are not valid
-- UTF-8 text, have NULL and are searched in their files, as before.

ALTER TABLE messages ADD search_fields text;
COMMENT ON COLUMN messages.search_fields IS 'The message''s From, To, Cc, Bcc and Subject header fields from its header section (msg_prefix, then the file), in order, each "Name:value" CRLF with the value unfolded but not decoded (encoded words kept); NULL when not stored (older rows, fields that are not valid UTF-8 or hold NUL or CR): IMAP searches then read the file.';
