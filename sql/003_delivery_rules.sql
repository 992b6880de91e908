-- Local delivery rules: aliases (lists) with their members, and per-address
-- rulesets that pick the mailbox for incoming mail (FEATURES.md section 2,
-- "Local delivery"; mox config Domains.Aliases and Destinations.Rulesets).
-- Domain settings (catch-all separators, case sensitivity, disabled,
-- reports-only) live in domains (001_core.sql).

CREATE TABLE aliases (
	id bigserial PRIMARY KEY,
	domain_id bigint NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
	localpart text NOT NULL CHECK (localpart <> ''),
	post_public boolean NOT NULL DEFAULT false,
	list_members boolean NOT NULL DEFAULT false,
	allow_msg_from boolean NOT NULL DEFAULT false,
	created timestamptz NOT NULL DEFAULT now(),
	UNIQUE (domain_id, localpart)
);
COMMENT ON TABLE aliases IS 'Alias (list) addresses: mail to localpart@domain goes to every member in alias_members. An alias and an address (addresses) never share a localpart in a domain.';
COMMENT ON COLUMN aliases.id IS 'Internal identifier.';
COMMENT ON COLUMN aliases.domain_id IS 'Domain of the alias address.';
COMMENT ON COLUMN aliases.localpart IS 'Localpart, canonical (lower case unless the domain is case-sensitive); never contains a catch-all separator of the domain.';
COMMENT ON COLUMN aliases.post_public IS 'When true anyone may send to the alias; when false only members may (checked against the message From address after DATA, refused with 550 5.7.2).';
COMMENT ON COLUMN aliases.list_members IS 'When true members may see the addresses of the other members (account web interface).';
COMMENT ON COLUMN aliases.allow_msg_from IS 'When true members may submit messages with the alias address in the From header.';
COMMENT ON COLUMN aliases.created IS 'When the alias was added.';

CREATE TABLE alias_members (
	alias_id bigint NOT NULL REFERENCES aliases(id) ON DELETE CASCADE,
	address text NOT NULL CHECK (address LIKE '_%@_%'),
	created timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (alias_id, address)
);
COMMENT ON TABLE alias_members IS 'Members of aliases. Local members (domain in domains) get a copy in their account, chosen by their own address settings and rulesets. External members are kept for forwarding through the outgoing queue; until the queue delivers them, only local members receive alias mail.';
COMMENT ON COLUMN alias_members.alias_id IS 'The alias.';
COMMENT ON COLUMN alias_members.address IS 'Member address localpart@domain, domain in lower-case Unicode form; for local domains the localpart is canonical and the address exists in addresses.';
COMMENT ON COLUMN alias_members.created IS 'When the member was added.';
CREATE INDEX alias_members_address ON alias_members (address);

CREATE TABLE rulesets (
	id bigserial PRIMARY KEY,
	address_id bigint NOT NULL REFERENCES addresses(id) ON DELETE CASCADE,
	priority integer NOT NULL,
	smtp_mailfrom_regexp text NOT NULL DEFAULT '',
	msg_from_regexp text NOT NULL DEFAULT '',
	verified_domain text NOT NULL DEFAULT '',
	headers_regexp jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(headers_regexp) = 'object'),
	is_forward boolean NOT NULL DEFAULT false,
	list_allow_domain text NOT NULL DEFAULT '',
	accept_rejects_to_mailbox text NOT NULL DEFAULT '',
	mailbox text NOT NULL CHECK (mailbox <> ''),
	comment text NOT NULL DEFAULT '',
	created timestamptz NOT NULL DEFAULT now(),
	UNIQUE (address_id, priority),
	CHECK (smtp_mailfrom_regexp <> '' OR msg_from_regexp <> '' OR verified_domain <> ''
		OR headers_regexp <> '{}'),
	CHECK (NOT (is_forward AND list_allow_domain <> '')),
	CHECK (NOT is_forward OR (smtp_mailfrom_regexp <> '' AND verified_domain <> ''))
);
COMMENT ON TABLE rulesets IS 'Delivery rules of an address: the first ruleset (lowest priority) whose conditions all match chooses the mailbox; otherwise addresses.mailbox is used. Regular expressions are POSIX extended (regcomp), case-sensitive unless they start with (?i).';
COMMENT ON COLUMN rulesets.id IS 'Internal identifier.';
COMMENT ON COLUMN rulesets.address_id IS 'Address (destination) the ruleset belongs to.';
COMMENT ON COLUMN rulesets.priority IS 'Evaluation order within the address, lowest first; "ruleset list" numbers them 1, 2, ... in this order.';
COMMENT ON COLUMN rulesets.smtp_mailfrom_regexp IS 'Condition: matches (a substring of) the SMTP MAIL FROM address localpart@domain; empty: no condition.';
COMMENT ON COLUMN rulesets.msg_from_regexp IS 'Condition: matches (a substring of) the single address localpart@domain in the message From header; empty: no condition.';
COMMENT ON COLUMN rulesets.verified_domain IS 'Condition: this domain or a subdomain of it was verified by SPF (EHLO or MAIL FROM) or DKIM; empty: no condition.';
COMMENT ON COLUMN rulesets.headers_regexp IS 'Condition: JSON object of header-name regexp to value regexp; every pair must match some header field (name and unfolded, trimmed value in lower case). Both must be lower case.';
COMMENT ON COLUMN rulesets.is_forward IS 'Modifier for junk analysis: the message was forwarded to us (needs smtp_mailfrom_regexp and verified_domain); DMARC rejects and reputation of the forwarder are not applied.';
COMMENT ON COLUMN rulesets.list_allow_domain IS 'Modifier for junk analysis: when this domain is SPF (MAIL FROM) or DKIM verified, the message is from a mailing list and accepted without junk checks; empty: none.';
COMMENT ON COLUMN rulesets.accept_rejects_to_mailbox IS 'Modifier for junk analysis: messages classified as junk are accepted into this mailbox instead of being rejected; empty: reject as usual.';
COMMENT ON COLUMN rulesets.mailbox IS 'Mailbox to deliver to when the ruleset matches; created when missing.';
COMMENT ON COLUMN rulesets.comment IS 'Free text for the user or administrator.';
COMMENT ON COLUMN rulesets.created IS 'When the ruleset was added.';

-- An alias and an address must not share a localpart in a domain: one of
-- them would silently never receive mail. The CLI checks first and gives a
-- clear message; these triggers keep concurrent or manual changes honest.
-- The advisory lock serializes the check-then-insert per domain.
CREATE FUNCTION delivery_localpart_unique() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_advisory_xact_lock(1835888996, (NEW.domain_id % 2147483647)::integer);
	IF TG_TABLE_NAME = 'addresses' THEN
		IF EXISTS (SELECT 1 FROM aliases WHERE domain_id = NEW.domain_id AND localpart = NEW.localpart) THEN
			RAISE EXCEPTION 'address localpart % is in use by an alias', NEW.localpart
				USING ERRCODE = 'unique_violation';
		END IF;
	ELSE
		IF EXISTS (SELECT 1 FROM addresses WHERE domain_id = NEW.domain_id AND localpart = NEW.localpart) THEN
			RAISE EXCEPTION 'alias localpart % is in use by an address', NEW.localpart
				USING ERRCODE = 'unique_violation';
		END IF;
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION delivery_localpart_unique() IS 'Trigger: refuses an address whose localpart is an alias of the same domain, and the reverse.';

CREATE TRIGGER addresses_not_alias BEFORE INSERT OR UPDATE OF domain_id, localpart ON addresses
	FOR EACH ROW EXECUTE FUNCTION delivery_localpart_unique();
CREATE TRIGGER aliases_not_address BEFORE INSERT OR UPDATE OF domain_id, localpart ON aliases
	FOR EACH ROW EXECUTE FUNCTION delivery_localpart_unique();
