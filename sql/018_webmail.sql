-- Webmail (fcgi/webmail): per-account settings, how messages from an
-- address are shown, and the answers to "always move such messages?"
-- that the user does not want to be asked again.

CREATE TABLE webmail_settings (
	account_id bigint PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
	signature text NOT NULL DEFAULT '',
	quoting text NOT NULL DEFAULT 'default' CHECK (quoting IN ('default', 'bottom', 'top')),
	show_address_security boolean NOT NULL DEFAULT false,
	show_html boolean NOT NULL DEFAULT false,
	no_show_shortcuts boolean NOT NULL DEFAULT false,
	show_headers text[] NOT NULL DEFAULT '{}'
);
COMMENT ON TABLE webmail_settings IS 'Webmail settings of an account (SettingsSave). No row: the defaults.';
COMMENT ON COLUMN webmail_settings.account_id IS 'Account the settings are of.';
COMMENT ON COLUMN webmail_settings.signature IS 'Text added below new messages and replies.';
COMMENT ON COLUMN webmail_settings.quoting IS 'Where a reply starts: default (bottom, or top for a reply to a top-posted message), bottom or top.';
COMMENT ON COLUMN webmail_settings.show_address_security IS 'Show for each recipient whether mail to it goes over verified TLS (RecipientSecurity).';
COMMENT ON COLUMN webmail_settings.show_html IS 'Show the HTML part of messages by default instead of their text.';
COMMENT ON COLUMN webmail_settings.no_show_shortcuts IS 'Do not show the keyboard shortcuts hint.';
COMMENT ON COLUMN webmail_settings.show_headers IS 'Extra header fields shown above a message.';

CREATE TABLE webmail_from_address_settings (
	account_id bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	from_address text NOT NULL,
	view_mode text NOT NULL CHECK (view_mode IN ('text', 'html', 'htmlexternal')),
	PRIMARY KEY (account_id, from_address)
);
COMMENT ON TABLE webmail_from_address_settings IS 'How the webmail shows messages from an address (FromAddressSettingsSave): as text, as HTML, or as HTML with remote resources loaded.';
COMMENT ON COLUMN webmail_from_address_settings.account_id IS 'Account the setting is of.';
COMMENT ON COLUMN webmail_from_address_settings.view_mode IS 'text: the text part; html: the sanitized HTML part without remote resources; htmlexternal: HTML with remote resources loaded.';
COMMENT ON COLUMN webmail_from_address_settings.from_address IS 'Message From address, lp@domain with the domain in lower case.';

CREATE TABLE webmail_ruleset_never (
	id bigserial PRIMARY KEY,
	account_id bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	rcptto_address text NOT NULL DEFAULT '',
	list_id text NOT NULL DEFAULT '',
	msgfrom_address text NOT NULL DEFAULT '',
	mailbox_id bigint REFERENCES mailboxes(id) ON DELETE CASCADE,
	to_inbox boolean NOT NULL DEFAULT false,
	CHECK ((list_id <> '')::int + (msgfrom_address <> '')::int + (mailbox_id IS NOT NULL)::int = 1)
);
CREATE INDEX webmail_ruleset_never_account ON webmail_ruleset_never (account_id);
COMMENT ON TABLE webmail_ruleset_never IS 'Moves after which the webmail no longer suggests a ruleset (RulesetMessageNever, RulesetMailboxNever): for a mailing list (list_id) or a sender (msgfrom_address) to an address (rcptto_address), or for a mailbox (mailbox_id).';
COMMENT ON COLUMN webmail_ruleset_never.id IS 'Identifier.';
COMMENT ON COLUMN webmail_ruleset_never.account_id IS 'Account that answered "never".';
COMMENT ON COLUMN webmail_ruleset_never.rcptto_address IS 'For a list or sender: the address of the account the messages came to; empty for a mailbox.';
COMMENT ON COLUMN webmail_ruleset_never.list_id IS 'List-Id of the mailing list, or empty.';
COMMENT ON COLUMN webmail_ruleset_never.msgfrom_address IS 'Message From address of the sender, or empty.';
COMMENT ON COLUMN webmail_ruleset_never.mailbox_id IS 'Mailbox for which moves to or from it are never turned into a suggestion, or NULL.';
COMMENT ON COLUMN webmail_ruleset_never.to_inbox IS 'For a list or sender: the refused suggestion was a move back to the Inbox. For a mailbox: moves to (true) or from (false) it.';
