-- IMAP SEARCH on flags, sizes, dates and UIDs reads only these columns of a
-- mailbox's messages (store_msgs_scan); with them in the index the scan is
-- an index-only scan in UID order instead of reading every whole row
-- (message rows carry the header prefix and MIME structure, kilobytes each).

CREATE INDEX messages_mailbox_search ON messages (mailbox_id, uid)
	INCLUDE (flags, modseq, size, received, savedate);
COMMENT ON INDEX messages_mailbox_search IS 'Covering index for IMAP searches on flags, sizes, dates and UIDs of one mailbox (index-only scans in UID order).';
