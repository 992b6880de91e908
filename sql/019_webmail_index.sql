-- Webmail message lists (Request in fcgi/webmail/webmail_view.c) are
-- newest first by received, then id, and continue after an anchor message
-- (keyset pagination): these indexes give the rows in that order for one
-- mailbox or for the whole account without sorting all of them.

CREATE INDEX messages_mailbox_received ON messages (mailbox_id, received, id);
COMMENT ON INDEX messages_mailbox_received IS 'Webmail message lists of one mailbox, newest first (keyset pagination on received, id).';
CREATE INDEX messages_account_received ON messages (account_id, received, id);
COMMENT ON INDEX messages_account_received IS 'Webmail message lists over all mailboxes of an account, newest first (keyset pagination on received, id).';
