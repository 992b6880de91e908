-- Core schema: domains, accounts, credentials, addresses, mailboxes,
-- messages, modification sequences and expunge tombstones.
-- Applied by `mailstead migrate` inside one transaction; see lib/db/migrate.c.

CREATE TABLE domains (
	id bigserial PRIMARY KEY,
	name text NOT NULL UNIQUE,
	disabled boolean NOT NULL DEFAULT false,
	reports_only boolean NOT NULL DEFAULT false,
	localpart_catchall_separators text NOT NULL DEFAULT '',
	localpart_case_sensitive boolean NOT NULL DEFAULT false,
	client_settings_domain text,
	description text NOT NULL DEFAULT '',
	created timestamptz NOT NULL DEFAULT now(),
	CHECK (name = lower(name) AND name <> '')
);
COMMENT ON TABLE domains IS 'Mail domains this server is the destination for.';
COMMENT ON COLUMN domains.id IS 'Internal identifier.';
COMMENT ON COLUMN domains.name IS 'Domain name in lower case, Unicode form (IDNA U-label) for internationalized names.';
COMMENT ON COLUMN domains.disabled IS 'When true, incoming mail for the domain gets a temporary 450 error and nobody can send from it.';
COMMENT ON COLUMN domains.reports_only IS 'Domain exists only to receive DMARC/TLS reports; it has no regular addresses.';
COMMENT ON COLUMN domains.localpart_catchall_separators IS 'Characters after which the rest of a localpart is ignored for lookup, e.g. ''+'' makes user+tag@ deliver to user@.';
COMMENT ON COLUMN domains.localpart_case_sensitive IS 'When false (the default), localparts are compared in lower case.';
COMMENT ON COLUMN domains.client_settings_domain IS 'Host name mail clients use for IMAP/submission for this domain, e.g. mail.example.org.';
COMMENT ON COLUMN domains.description IS 'Free text for administrators.';
COMMENT ON COLUMN domains.created IS 'When the domain was added.';

CREATE TABLE accounts (
	id bigserial PRIMARY KEY,
	name text NOT NULL UNIQUE,
	domain_id bigint NOT NULL REFERENCES domains(id),
	full_name text NOT NULL DEFAULT '',
	login_disabled text,
	quota_message_size bigint NOT NULL DEFAULT 0,
	modseq bigint NOT NULL DEFAULT 1,
	next_uidvalidity bigint NOT NULL DEFAULT 1,
	disk_usage bigint NOT NULL DEFAULT 0,
	created timestamptz NOT NULL DEFAULT now(),
	CHECK (name <> '')
);
COMMENT ON TABLE accounts IS 'Accounts: a set of mailboxes, credentials and addresses belonging to one user.';
COMMENT ON COLUMN accounts.id IS 'Internal identifier.';
COMMENT ON COLUMN accounts.name IS 'Account name, often the primary email address.';
COMMENT ON COLUMN accounts.domain_id IS 'Default domain of the account, used for localpart-only references.';
COMMENT ON COLUMN accounts.full_name IS 'Display name used in From headers of composed messages.';
COMMENT ON COLUMN accounts.login_disabled IS 'When set, logins are refused and this text is shown to the user.';
COMMENT ON COLUMN accounts.quota_message_size IS 'Maximum total size of stored messages in bytes; 0 means no limit.';
COMMENT ON COLUMN accounts.modseq IS 'Last modification sequence handed out for a change in this account (CONDSTORE/QRESYNC); only increases.';
COMMENT ON COLUMN accounts.next_uidvalidity IS 'UIDVALIDITY given to the next mailbox created in this account.';
COMMENT ON COLUMN accounts.disk_usage IS 'Total size in bytes of the non-expunged messages of the account, for quota checks.';
COMMENT ON COLUMN accounts.created IS 'When the account was created.';

CREATE TABLE credentials (
	account_id bigint PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
	password_hash text NOT NULL,
	scram_sha1_salt bytea NOT NULL,
	scram_sha1_iterations integer NOT NULL,
	scram_sha1_stored_key bytea NOT NULL,
	scram_sha1_server_key bytea NOT NULL,
	scram_sha256_salt bytea NOT NULL,
	scram_sha256_iterations integer NOT NULL,
	scram_sha256_stored_key bytea NOT NULL,
	scram_sha256_server_key bytea NOT NULL,
	crammd5_ipad bytea NOT NULL,
	crammd5_opad bytea NOT NULL,
	updated timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE credentials IS 'Password-derived secrets of an account, one row per account. The plain password is never stored.';
COMMENT ON COLUMN credentials.account_id IS 'Account these credentials belong to.';
COMMENT ON COLUMN credentials.password_hash IS 'yescrypt hash in crypt(3) format ($y$...), for PLAIN/LOGIN and web logins.';
COMMENT ON COLUMN credentials.scram_sha1_salt IS 'Random salt for SCRAM-SHA-1 (RFC 5802).';
COMMENT ON COLUMN credentials.scram_sha1_iterations IS 'PBKDF2 iteration count for SCRAM-SHA-1.';
COMMENT ON COLUMN credentials.scram_sha1_stored_key IS 'SCRAM-SHA-1 StoredKey = H(HMAC(SaltedPassword, "Client Key")).';
COMMENT ON COLUMN credentials.scram_sha1_server_key IS 'SCRAM-SHA-1 ServerKey = HMAC(SaltedPassword, "Server Key").';
COMMENT ON COLUMN credentials.scram_sha256_salt IS 'Random salt for SCRAM-SHA-256 (RFC 7677).';
COMMENT ON COLUMN credentials.scram_sha256_iterations IS 'PBKDF2 iteration count for SCRAM-SHA-256.';
COMMENT ON COLUMN credentials.scram_sha256_stored_key IS 'SCRAM-SHA-256 StoredKey.';
COMMENT ON COLUMN credentials.scram_sha256_server_key IS 'SCRAM-SHA-256 ServerKey.';
COMMENT ON COLUMN credentials.crammd5_ipad IS 'MD5 state after the HMAC inner pad block, for CRAM-MD5 (RFC 2195) without storing the password.';
COMMENT ON COLUMN credentials.crammd5_opad IS 'MD5 state after the HMAC outer pad block, for CRAM-MD5.';
COMMENT ON COLUMN credentials.updated IS 'When the password was last set.';

CREATE TABLE addresses (
	id bigserial PRIMARY KEY,
	account_id bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	domain_id bigint NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
	localpart text NOT NULL,
	mailbox text NOT NULL DEFAULT 'Inbox',
	smtp_error text,
	message_auth_required_smtp_error text,
	full_name text NOT NULL DEFAULT '',
	created timestamptz NOT NULL DEFAULT now(),
	UNIQUE (domain_id, localpart)
);
COMMENT ON TABLE addresses IS 'Destinations: email addresses delivering to an account. An empty localpart is the catch-all @domain.';
COMMENT ON COLUMN addresses.id IS 'Internal identifier.';
COMMENT ON COLUMN addresses.account_id IS 'Account receiving mail for this address.';
COMMENT ON COLUMN addresses.domain_id IS 'Domain of the address.';
COMMENT ON COLUMN addresses.localpart IS 'Localpart, canonical (lower case unless the domain is case-sensitive); empty string for the @domain catch-all.';
COMMENT ON COLUMN addresses.mailbox IS 'Mailbox incoming mail is delivered to when no ruleset matches.';
COMMENT ON COLUMN addresses.smtp_error IS 'When set, RCPT TO for this address is rejected with this SMTP error, e.g. ''550 5.1.1 no longer here''.';
COMMENT ON COLUMN addresses.message_auth_required_smtp_error IS 'When set, messages whose From is not validated by DMARC/SPF/DKIM are rejected with this SMTP error.';
COMMENT ON COLUMN addresses.full_name IS 'Display name for this address in composed messages; empty uses the account full name.';
COMMENT ON COLUMN addresses.created IS 'When the address was added.';

CREATE TABLE mailboxes (
	id bigserial PRIMARY KEY,
	account_id bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	parent_id bigint REFERENCES mailboxes(id),
	name text NOT NULL,
	uidvalidity bigint NOT NULL CHECK (uidvalidity BETWEEN 1 AND 4294967295),
	uidnext bigint NOT NULL DEFAULT 1 CHECK (uidnext BETWEEN 1 AND 4294967296),
	special_use text CHECK (special_use IN ('archive', 'drafts', 'junk', 'sent', 'trash')),
	subscribed boolean NOT NULL DEFAULT true,
	keywords text[] NOT NULL DEFAULT '{}',
	modseq bigint NOT NULL DEFAULT 1,
	createseq bigint NOT NULL DEFAULT 1,
	count_total bigint NOT NULL DEFAULT 0,
	count_deleted bigint NOT NULL DEFAULT 0,
	count_unread bigint NOT NULL DEFAULT 0,
	count_unseen bigint NOT NULL DEFAULT 0,
	size bigint NOT NULL DEFAULT 0,
	created timestamptz NOT NULL DEFAULT now(),
	UNIQUE (account_id, name)
);
COMMENT ON TABLE mailboxes IS 'Mailboxes (folders) of accounts, with IMAP UID state and message counts kept up to date on every change.';
COMMENT ON COLUMN mailboxes.id IS 'Internal identifier.';
COMMENT ON COLUMN mailboxes.account_id IS 'Account owning the mailbox.';
COMMENT ON COLUMN mailboxes.parent_id IS 'Parent mailbox in the hierarchy (name up to the last ''/''), NULL at the top.';
COMMENT ON COLUMN mailboxes.name IS 'Full hierarchical name with ''/'' as separator, e.g. ''Archive/2026''; ''Inbox'' is the inbox.';
COMMENT ON COLUMN mailboxes.uidvalidity IS 'IMAP UIDVALIDITY; changes only when UIDs cannot be kept (never reused within the account).';
COMMENT ON COLUMN mailboxes.uidnext IS 'UID the next message added to the mailbox gets.';
COMMENT ON COLUMN mailboxes.special_use IS 'RFC 6154 special use: archive, drafts, junk, sent or trash.';
COMMENT ON COLUMN mailboxes.subscribed IS 'Whether the mailbox is subscribed (IMAP LSUB/LIST SUBSCRIBED).';
COMMENT ON COLUMN mailboxes.keywords IS 'Keywords ever used in the mailbox, announced as IMAP PERMANENTFLAGS/FLAGS.';
COMMENT ON COLUMN mailboxes.modseq IS 'Modification sequence of the last change to the mailbox itself (rename, special use, keywords).';
COMMENT ON COLUMN mailboxes.createseq IS 'Account modification sequence at which the mailbox was created.';
COMMENT ON COLUMN mailboxes.count_total IS 'Number of messages in the mailbox.';
COMMENT ON COLUMN mailboxes.count_deleted IS 'Number of messages with the \Deleted flag.';
COMMENT ON COLUMN mailboxes.count_unread IS 'Number of messages without \Seen and without \Deleted.';
COMMENT ON COLUMN mailboxes.count_unseen IS 'Number of messages without \Seen.';
COMMENT ON COLUMN mailboxes.size IS 'Total size in bytes of the messages in the mailbox.';
COMMENT ON COLUMN mailboxes.created IS 'When the mailbox was created.';

CREATE TABLE messages (
	id bigint PRIMARY KEY,
	account_id bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	mailbox_id bigint NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	uid bigint NOT NULL CHECK (uid BETWEEN 1 AND 4294967295),
	modseq bigint NOT NULL,
	createseq bigint NOT NULL,
	flags integer NOT NULL DEFAULT 0,
	keywords text[] NOT NULL DEFAULT '{}',
	size bigint NOT NULL,
	received timestamptz NOT NULL,
	savedate timestamptz NOT NULL DEFAULT now(),
	file_path text NOT NULL,
	msg_prefix bytea NOT NULL DEFAULT '',
	parsed jsonb,
	preview text,
	is_reject boolean NOT NULL DEFAULT false,
	is_forward boolean NOT NULL DEFAULT false,
	mailbox_orig_id bigint,
	mailbox_destined_id bigint,
	remote_ip inet,
	remote_ip_masked1 text,
	remote_ip_masked2 text,
	remote_ip_masked3 text,
	ehlo_domain text NOT NULL DEFAULT '',
	mailfrom text NOT NULL DEFAULT '',
	mailfrom_localpart text NOT NULL DEFAULT '',
	mailfrom_domain text NOT NULL DEFAULT '',
	rcptto_localpart text NOT NULL DEFAULT '',
	rcptto_domain text NOT NULL DEFAULT '',
	msgfrom_localpart text NOT NULL DEFAULT '',
	msgfrom_domain text NOT NULL DEFAULT '',
	msgfrom_org_domain text NOT NULL DEFAULT '',
	ehlo_validated boolean NOT NULL DEFAULT false,
	mailfrom_validated boolean NOT NULL DEFAULT false,
	msgfrom_validated boolean NOT NULL DEFAULT false,
	ehlo_validation smallint NOT NULL DEFAULT 0,
	mailfrom_validation smallint NOT NULL DEFAULT 0,
	msgfrom_validation smallint NOT NULL DEFAULT 0,
	dkim_domains text[] NOT NULL DEFAULT '{}',
	orig_ehlo_domain text NOT NULL DEFAULT '',
	orig_dkim_domains text[] NOT NULL DEFAULT '{}',
	message_id text NOT NULL DEFAULT '',
	subject_base text NOT NULL DEFAULT '',
	message_hash bytea,
	thread_id bigint,
	thread_parent_ids bigint[] NOT NULL DEFAULT '{}',
	thread_missing_link boolean NOT NULL DEFAULT false,
	thread_muted boolean NOT NULL DEFAULT false,
	thread_collapsed boolean NOT NULL DEFAULT false,
	is_mailing_list boolean NOT NULL DEFAULT false,
	is_dsn boolean NOT NULL DEFAULT false,
	received_tls_version smallint NOT NULL DEFAULT 0,
	received_tls_cipher_suite integer NOT NULL DEFAULT 0,
	received_require_tls boolean NOT NULL DEFAULT false,
	trained_junk boolean,
	UNIQUE (mailbox_id, uid)
);
COMMENT ON TABLE messages IS 'Messages in mailboxes. The message text is a file under the data directory; this row holds everything else.';
COMMENT ON COLUMN messages.id IS 'Identifier, from messages_id_seq; also names the message file.';
COMMENT ON COLUMN messages.account_id IS 'Account owning the message.';
COMMENT ON COLUMN messages.mailbox_id IS 'Mailbox the message is in.';
COMMENT ON COLUMN messages.uid IS 'IMAP UID, unique and increasing within the mailbox for its UIDVALIDITY.';
COMMENT ON COLUMN messages.modseq IS 'Account modification sequence of the last change (flags, keywords) to this message.';
COMMENT ON COLUMN messages.createseq IS 'Account modification sequence at which the message was added to the mailbox.';
COMMENT ON COLUMN messages.flags IS 'System flags as bits: 1 \Seen, 2 \Answered, 4 \Flagged, 8 \Deleted, 16 \Draft, 32 $Forwarded, 64 $Junk, 128 $NotJunk, 256 $Phishing, 512 $MDNSent.';
COMMENT ON COLUMN messages.keywords IS 'Other IMAP keywords, lower case.';
COMMENT ON COLUMN messages.size IS 'Size in bytes as seen by IMAP: msg_prefix plus the file.';
COMMENT ON COLUMN messages.received IS 'When the message was received (IMAP INTERNALDATE).';
COMMENT ON COLUMN messages.savedate IS 'When the message was stored in this mailbox (IMAP SAVEDATE).';
COMMENT ON COLUMN messages.file_path IS 'Path of the message file relative to the data directory, e.g. msg/0/1234.';
COMMENT ON COLUMN messages.msg_prefix IS 'Header lines added at delivery (Return-Path, Received, Authentication-Results, ...), served before the file contents.';
COMMENT ON COLUMN messages.parsed IS 'MIME structure as JSON with byte offsets of every part relative to the file (add length of msg_prefix for IMAP), plus envelope fields.';
COMMENT ON COLUMN messages.preview IS 'Short plain-text preview of the message body (IMAP PREVIEW, webmail list).';
COMMENT ON COLUMN messages.is_reject IS 'Message was rejected by the junk filter and kept in the rejects mailbox.';
COMMENT ON COLUMN messages.is_forward IS 'Message was delivered through a ruleset marked as forwarding; reputation ignores its IP/EHLO/MAIL FROM.';
COMMENT ON COLUMN messages.mailbox_orig_id IS 'Mailbox the message was first delivered to; reputation looks at messages with the same origin.';
COMMENT ON COLUMN messages.mailbox_destined_id IS 'For rejects: the mailbox the message would have gone to if accepted.';
COMMENT ON COLUMN messages.remote_ip IS 'IP address of the SMTP client that delivered the message.';
COMMENT ON COLUMN messages.remote_ip_masked1 IS 'Remote IP masked to /32 (IPv6 /64) for reputation lookups.';
COMMENT ON COLUMN messages.remote_ip_masked2 IS 'Remote IP masked to /26 (IPv6 /48).';
COMMENT ON COLUMN messages.remote_ip_masked3 IS 'Remote IP masked to /21 (IPv6 /32).';
COMMENT ON COLUMN messages.ehlo_domain IS 'Domain the SMTP client gave in EHLO/HELO.';
COMMENT ON COLUMN messages.mailfrom IS 'SMTP MAIL FROM address; empty for the null sender.';
COMMENT ON COLUMN messages.mailfrom_localpart IS 'Localpart of MAIL FROM.';
COMMENT ON COLUMN messages.mailfrom_domain IS 'Domain of MAIL FROM, lower case.';
COMMENT ON COLUMN messages.rcptto_localpart IS 'Localpart of the RCPT TO this copy was delivered for.';
COMMENT ON COLUMN messages.rcptto_domain IS 'Domain of the RCPT TO this copy was delivered for.';
COMMENT ON COLUMN messages.msgfrom_localpart IS 'Localpart of the message From header.';
COMMENT ON COLUMN messages.msgfrom_domain IS 'Domain of the message From header, lower case.';
COMMENT ON COLUMN messages.msgfrom_org_domain IS 'Organizational domain (public suffix + 1) of the From domain.';
COMMENT ON COLUMN messages.ehlo_validated IS 'EHLO domain was validated (SPF pass for the HELO identity).';
COMMENT ON COLUMN messages.mailfrom_validated IS 'MAIL FROM domain was validated by SPF.';
COMMENT ON COLUMN messages.msgfrom_validated IS 'From domain was validated by DMARC (aligned SPF or DKIM).';
COMMENT ON COLUMN messages.ehlo_validation IS 'How EHLO was validated: 0 unknown, 1 strict, 2 dmarc, 3 relaxed, 4 pass, 5 neutral, 6 temperror, 7 permerror, 8 fail, 9 softfail, 10 none.';
COMMENT ON COLUMN messages.mailfrom_validation IS 'How MAIL FROM was validated (same values as ehlo_validation).';
COMMENT ON COLUMN messages.msgfrom_validation IS 'How the From header was validated (same values as ehlo_validation).';
COMMENT ON COLUMN messages.dkim_domains IS 'Domains with a valid DKIM signature on the message.';
COMMENT ON COLUMN messages.orig_ehlo_domain IS 'For forwarded messages: EHLO domain of the original sender, from headers.';
COMMENT ON COLUMN messages.orig_dkim_domains IS 'For forwarded messages: DKIM domains of the original message.';
COMMENT ON COLUMN messages.message_id IS 'Message-ID header without angle brackets, lower case; empty if absent.';
COMMENT ON COLUMN messages.subject_base IS 'Subject without Re:/Fwd: prefixes and list tags, for threading (RFC 5256 base subject).';
COMMENT ON COLUMN messages.message_hash IS 'SHA-256 of the message headers and body, to detect duplicates (e.g. of rejects).';
COMMENT ON COLUMN messages.thread_id IS 'Id of the first message of the thread this message belongs to.';
COMMENT ON COLUMN messages.thread_parent_ids IS 'Ids of ancestor messages, nearest first.';
COMMENT ON COLUMN messages.thread_missing_link IS 'A message referenced between this one and its nearest known ancestor is missing.';
COMMENT ON COLUMN messages.thread_muted IS 'The thread is muted: new messages in it are marked read.';
COMMENT ON COLUMN messages.thread_collapsed IS 'The thread is shown collapsed in webmail.';
COMMENT ON COLUMN messages.is_mailing_list IS 'The message came from a mailing list (List-Id header).';
COMMENT ON COLUMN messages.is_dsn IS 'The message is a delivery status notification (RFC 3464).';
COMMENT ON COLUMN messages.received_tls_version IS 'TLS version of the SMTP connection it arrived over (e.g. 772 for TLS 1.3); 0 for plain text.';
COMMENT ON COLUMN messages.received_tls_cipher_suite IS 'IANA TLS cipher suite number of that connection; 0 for plain text.';
COMMENT ON COLUMN messages.received_require_tls IS 'The message was sent with REQUIRETLS (RFC 8689).';
COMMENT ON COLUMN messages.trained_junk IS 'How the junk filter was trained with this message: true junk, false ham, NULL not trained.';

CREATE SEQUENCE messages_id_seq OWNED BY messages.id;
COMMENT ON SEQUENCE messages_id_seq IS 'Message ids; taken before the file is linked into place so the file name is known.';

CREATE INDEX messages_mailbox_modseq ON messages (mailbox_id, modseq);
CREATE INDEX messages_account_message_id ON messages (account_id, message_id) WHERE message_id <> '';
CREATE INDEX messages_account_thread ON messages (account_id, thread_id);
CREATE INDEX messages_orig_msgfrom ON messages (mailbox_orig_id, msgfrom_localpart, msgfrom_domain) WHERE flags & (64|128) <> 0;
CREATE INDEX messages_orig_received ON messages (mailbox_orig_id, received);

CREATE TABLE expunged (
	account_id bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	mailbox_id bigint NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	uid bigint NOT NULL,
	modseq bigint NOT NULL,
	PRIMARY KEY (mailbox_id, uid)
);
COMMENT ON TABLE expunged IS 'Tombstones of expunged messages, so IMAP QRESYNC clients learn about expunges (VANISHED) since a modseq.';
COMMENT ON COLUMN expunged.account_id IS 'Account the message belonged to.';
COMMENT ON COLUMN expunged.mailbox_id IS 'Mailbox the message was expunged from.';
COMMENT ON COLUMN expunged.uid IS 'UID of the expunged message.';
COMMENT ON COLUMN expunged.modseq IS 'Account modification sequence of the expunge.';
CREATE INDEX expunged_mailbox_modseq ON expunged (mailbox_id, modseq);

CREATE TABLE sync_state (
	account_id bigint PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
	highest_deleted_modseq bigint NOT NULL DEFAULT 0
);
COMMENT ON TABLE sync_state IS 'Per-account synchronization state for CONDSTORE/QRESYNC.';
COMMENT ON COLUMN sync_state.account_id IS 'Account.';
COMMENT ON COLUMN sync_state.highest_deleted_modseq IS 'Highest modseq of tombstones removed by cleanup; clients with an older modseq must resynchronize fully.';

-- Reporting view for psql users.
CREATE VIEW account_usage AS
SELECT a.name AS account,
	count(m.id) AS messages,
	coalesce(sum(m.size), 0) AS bytes,
	count(m.id) FILTER (WHERE m.flags & 1 = 0) AS unseen
FROM accounts a
LEFT JOIN messages m ON m.account_id = a.id
GROUP BY a.name;
COMMENT ON VIEW account_usage IS 'Per account: number of messages, total bytes, unseen messages.';
