/* mailstead: the command line for setting up and running Mailstead. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "db/loglevel.h"
#include "core/log.h"
#include "core/util.h"

struct command {
	const char *name;
	int (*fn)(struct cli *, int, char **);
	const char *usage;
	const char *help;
};

static int cmd_version(struct cli *cli, int argc, char **argv);
static int cmd_help(struct cli *cli, int argc, char **argv);

static const struct command commands[] = {
	{ "localserve", cmd_localserve,
	  "localserve [-dir DIR] [-smtp-port N] [-submission-port N] [-submissions-port N]\n"
	  "           [-imap-port N] [-imaps-port N] [-http-port N]",
	  "Run a complete local Mailstead for testing and development: creates DIR\n"
	  "(default ./mailstead-local) with a private PostgreSQL cluster, migrates it,\n"
	  "creates an account and prints its address and password, and starts smtpd\n"
	  "(127.0.0.1:1025; submission on 1587 with STARTTLS and 1465 with TLS, using\n"
	  "a self-signed certificate made once in DIR/tls), imapd (127.0.0.1:1143 with\n"
	  "STARTTLS, 1993 with TLS, same certificate) and\n"
	  "the web interfaces on 127.0.0.1:1080 (account at /, admin at /admin/ with the\n"
	  "printed admin password, a status page at /status/). Logs go to standard output; Ctrl-C or SIGTERM stops\n"
	  "everything. Running it again resumes with the same data. DIR/mailstead.conf\n"
	  "works with every other command (mailstead -c DIR/mailstead.conf ...) and\n"
	  "DIR/localserve.env can be sourced by shell scripts. When started as root,\n"
	  "everything runs as the unprivileged user \"mailstead\" (created if missing)." },
	{ "migrate", cmd_migrate, "migrate",
	  "Apply the database migrations (sql/NNN_name.sql) that are not applied yet.\n"
	  "Safe to run concurrently and repeatedly." },
	{ "domain", cmd_domain,
	  "domain add DOMAIN | domain list | domain rm DOMAIN | domain set DOMAIN SETTING VALUE",
	  "Add a domain Mailstead receives mail for, or list the domains. Unicode\n"
	  "domain names are accepted and stored in Unicode form.\n"
	  "  domain rm DOMAIN\n"
	  "      Remove the domain with its aliases and DKIM keys (refused while accounts\n"
	  "      or addresses of the domain exist).\n"
	  "  domain set DOMAIN catchall-separators CHARS\n"
	  "      Localparts are cut at the first of these characters before lookup:\n"
	  "      with \"+-\", user+tag@ and user-tag@ deliver to user@. \"\" for none.\n"
	  "  domain set DOMAIN case-sensitive yes|no\n"
	  "      Compare localparts exactly instead of in lower case (default no).\n"
	  "  domain set DOMAIN disabled yes|no\n"
	  "      A disabled domain gets 450 (try again later) for every recipient.\n"
	  "  domain set DOMAIN reports-only yes|no\n"
	  "      Only exact addresses (DMARC/TLS report addresses) receive mail: no\n"
	  "      aliases, no catch-all.\n"
	  "  domain set DOMAIN client-settings-domain HOST | description TEXT\n"
	  "      Host name mail clients use for the domain (\"\" for none); a note.\n"
	  "  domain set DOMAIN dmarc-localpart LOCALPART | tlsrpt-localpart LOCALPART\n"
	  "      Where DMARC aggregate and TLS reports go (LOCALPART@DOMAIN, default\n"
	  "      dmarc-reports and tls-reports; \"\" requests none), as published by\n"
	  "      \"dns records\".\n"
	  "  domain set DOMAIN mtasts-mode enforce|testing|none|default|\"\"\n"
	  "  domain set DOMAIN mtasts-max-age SECONDS|default | mtasts-mx HOST,*.HOST,...\n"
	  "      The MTA-STS policy (RFC 8461) served at mta-sts.DOMAIN and announced by\n"
	  "      \"dns records\" (\"\" mode: no MTA-STS; default: [web] mtasts_mode and\n"
	  "      mtasts_max_age; mx default: the SMTP listeners' host names)." },
	{ "account", cmd_account,
	  "account add ADDRESS | account list | account rm ACCOUNT |\n"
	  "          account set ACCOUNT SETTING VALUE | account webhook ACCOUNT ...",
	  "Create an account for ADDRESS (its domain must exist) with the mailboxes\n"
	  "Inbox, Sent, Drafts, Trash, Junk and Archive; or list the accounts. Set a\n"
	  "password with setaccountpassword.\n"
	  "  account rm ACCOUNT\n"
	  "      Remove the account with its addresses, messages and settings; its\n"
	  "      addresses leave their aliases (refused when an alias would be empty).\n"
	  "  account set ACCOUNT full-name NAME\n"
	  "  account set ACCOUNT login-disabled MESSAGE\n"
	  "      Refuse logins, showing MESSAGE (\"\" allows logins again).\n"
	  "  account set ACCOUNT quota SIZE\n"
	  "      Maximum size of all stored messages (e.g. 2g; 0 for no limit).\n"
	  "  account set ACCOUNT max-outgoing-messages-per-day N |\n"
	  "        max-first-time-recipients-per-day N\n"
	  "      Send limits over any 24 hours (defaults 1000 and 200).\n"
	  "  account set ACCOUNT keep-retired-messages DURATION\n"
	  "      Keep the delivery history of the account's sent messages this long\n"
	  "      (e.g. 7d; 0: none) for queue retired list.\n"
	  "  account webhook ACCOUNT\n"
	  "      Show the account's webhook settings (Authorization values are not shown).\n"
	  "  account webhook ACCOUNT set outgoing|incoming URL [-authorization-stdin]\n"
	  "        [-events EVENT,...]\n"
	  "      POST JSON to URL (http:// or https://) about the account's outgoing\n"
	  "      deliveries (events delivered, suppressed, delayed, failed, relayed,\n"
	  "      expanded, canceled, unrecognized; -events limits them, default all),\n"
	  "      or for each message delivered to it over SMTP (incoming). With\n"
	  "      -authorization-stdin, the value of an Authorization header (e.g.\n"
	  "      \"Basic dXNlcjpwYXNz\") is read from standard input.\n"
	  "  account webhook ACCOUNT clear outgoing|incoming\n"
	  "  account webhook ACCOUNT keep-retired DURATION\n"
	  "      Keep finished webhook calls this long (e.g. 7d; 0: not at all) for\n"
	  "      queue webhook retired list.\n"
	  "  account fromid-login ACCOUNT [add|rm ADDRESS]\n"
	  "      List, add or remove fromid login addresses (e.g. user+app@example.org):\n"
	  "      webapi logins with one of them (and the account password) send with a\n"
	  "      unique MAIL FROM per recipient after the domain's catch-all separator,\n"
	  "      so DSNs name the message (FromID in Send and in webhooks)." },
	{ "address", cmd_address,
	  "address add ADDRESS ACCOUNT | address rm ADDRESS | address set ADDRESS SETTING VALUE",
	  "Deliver mail for ADDRESS to ACCOUNT (an account name or one of its\n"
	  "addresses). \"@domain\" makes a catch-all for the domain: it gets mail for\n"
	  "localparts that are neither an address nor an alias.\n"
	  "  address rm ADDRESS\n"
	  "      Remove the address with its rulesets and alias memberships (refused\n"
	  "      when it is the last member of an alias).\n"
	  "  address set ADDRESS mailbox NAME\n"
	  "      Mailbox for mail no ruleset matches (default Inbox; created when\n"
	  "      missing).\n"
	  "  address set ADDRESS smtp-error \"550 5.1.1 gone\"\n"
	  "      Refuse RCPT TO for the address with this reply (4xx or 5xx; \"\" to\n"
	  "      accept mail again). Useful next to a catch-all.\n"
	  "  address set ADDRESS message-auth-required-smtp-error TEXT\n"
	  "      Refuse messages whose From is not DMARC-aligned verified (with SPF\n"
	  "      or DKIM), with a 5xx reply carrying TEXT (\"\" to turn off).\n"
	  "  address set ADDRESS full-name NAME\n"
	  "      Display name for composing messages from this address." },
	{ "alias", cmd_alias,
	  "alias list [DOMAIN] | alias add ALIAS MEMBER... [OPTIONS] | alias rm ALIAS |\n"
	  "          alias set ALIAS SETTING yes|no | alias addaddr|rmaddr ALIAS MEMBER...",
	  "Aliases (lists): mail to ALIAS goes to every member. Members in our domains\n"
	  "must be existing addresses and get the message in their account, sorted by\n"
	  "that address's mailbox and rulesets. Members elsewhere are stored for\n"
	  "forwarding through the outgoing queue; until the queue forwards alias mail,\n"
	  "only local members receive it. A member who is also a direct recipient of\n"
	  "the same message, or its sender, gets no extra copy.\n"
	  "Options and settings (default no):\n"
	  "  --post-public / post-public      anyone may send to the alias; otherwise\n"
	  "                                   only members (by the message From address;\n"
	  "                                   others get 550 5.7.2 after DATA)\n"
	  "  --list-members / list-members    members may see the other members\n"
	  "  --allow-msg-from / allow-msg-from  members may send with the alias as From\n"
	  "alias list prints ADDRESS<TAB>post-public=..<TAB>list-members=..<TAB>\n"
	  "allow-msg-from=..<TAB>members=A,B,..; an alias keeps at least one member." },
	{ "ruleset", cmd_ruleset,
	  "ruleset add ADDRESS --mailbox NAME [CONDITIONS] [MODIFIERS] |\n"
	  "          ruleset list ADDRESS | ruleset rm ADDRESS N",
	  "Rulesets of an address choose the mailbox for incoming mail: the first\n"
	  "ruleset (in list order) whose conditions all match wins, else the address's\n"
	  "mailbox. The mailbox is created when missing. Conditions (at least one):\n"
	  "  --mailfrom REGEXP         matches the SMTP MAIL FROM address\n"
	  "  --msgfrom REGEXP          matches the message From address\n"
	  "  --verified-domain DOMAIN  DOMAIN or a subdomain is SPF or DKIM verified\n"
	  "  --header FIELD=VALUE      both regexps (lower case) match one header field\n"
	  "                            (name, and unfolded, trimmed, lower-cased value);\n"
	  "                            may be repeated, e.g. --header '^list-id$=<a\\.b>'\n"
	  "Modifiers for junk filtering: --is-forward (needs --mailfrom and\n"
	  "--verified-domain), --list-allow-domain DOMAIN, --accept-rejects-to-mailbox\n"
	  "NAME; and --comment TEXT. Regular expressions are POSIX extended (as\n"
	  "egrep), case-sensitive unless they start with (?i), and match anywhere in\n"
	  "the text unless anchored with ^ and $. ruleset list numbers the rulesets;\n"
	  "ruleset rm removes number N." },
	{ "setaccountpassword", cmd_setaccountpassword, "setaccountpassword ACCOUNT",
	  "Set the password of ACCOUNT, read from standard input (asked twice on a\n"
	  "terminal). Stores a yescrypt hash and the SCRAM/CRAM-MD5 secrets." },
	{ "setadminpassword", cmd_setadminpassword, "setadminpassword",
	  "Set the password of the admin web interface (mailstead-admin, /admin/),\n"
	  "read from standard input (asked twice on a terminal). Ends all admin web\n"
	  "sessions." },
	{ "webapi", cmd_webapi, "webapi [-url URL] [-user ADDRESS] METHOD [JSON]",
	  "Call a webapi method (POST URL/METHOD, default URL\n"
	  "http://127.0.0.1:1080/webapi/v0/, as localserve; or $MAILSTEAD_WEBAPI_URL)\n"
	  "with the JSON request (default {}) as ADDRESS (or $MAILSTEAD_WEBAPI_USER)\n"
	  "and the password of $MAILSTEAD_WEBAPI_PASSWORD or standard input. Prints\n"
	  "the answer; exits 1 unless it is HTTP 200. E.g.\n"
	  "  mailstead webapi -user you@example.org Send \\\n"
	  "    '{\"To\": [{\"Address\": \"jane@example.com\"}], \"Text\": \"Hi\"}'" },
	{ "queue", cmd_queue,
	  "queue list|add|dump|hold|unhold|drop|schedule|fail|requiretls|transport|holdrules|\n"
	  "      retired|routes|suppress|webhook ... (help queue)",
	  "The outgoing queue (mailstead-queued delivers it). Listings are tab-separated\n"
	  "with a header line, escaped like psql COPY text; times are UTC.\n"
	  "  queue list [-account ACCOUNT] [-n MAX]\n"
	  "      Queued messages by next delivery attempt.\n"
	  "  queue add -from ADDRESS -to ADDRESS [-to ADDRESS ...] [-account ACCOUNT]\n"
	  "        [-holdfor SECONDS | -holduntil YYYY-MM-DDTHH:MM:SSZ]\n"
	  "        [-requiretls yes|no|default] [-limits] [-maxattempts N]\n"
	  "        [-transport NAME] [-fromid] FILE|-\n"
	  "      Inject a message (bare LF becomes CRLF) for delivery, as submission\n"
	  "      would queue it: Message-Id/Date added when missing, X-Mailstead-Extra-*\n"
	  "      headers become extra data, hold rules apply, FUTURERELEASE up to 60\n"
	  "      days. The sender account is -account, else the account of the -from\n"
	  "      address, else none (\"<>\" is the null sender). -limits enforces the\n"
	  "      account's send limits. Prints ID<TAB>RECIPIENT per recipient.\n"
	  "  queue dump ID\n"
	  "      Print the message as it will be sent.\n"
	  "  queue hold ID... | queue unhold ID...\n"
	  "      Put messages on hold (no delivery attempts) or release them.\n"
	  "  queue schedule -now ID... | -in DURATION ID... | -add [-]DURATION ID...\n"
	  "      Set the next delivery attempt (now, after DURATION like 30m, or move it).\n"
	  "  queue fail ID...\n"
	  "      Fail the messages at once: mailstead-queued retires them and sends the\n"
	  "      sender a failure DSN (messages being delivered are left alone).\n"
	  "  queue requiretls yes|no|default ID...\n"
	  "      REQUIRETLS (yes), \"TLS-Required: No\" (no) or the domain's policy.\n"
	  "  queue transport NAME|direct|\"\" ID...\n"
	  "      Deliver through [transport NAME] of mailstead.conf; \"\" uses routes.\n"
	  "  queue retired list [-account ACCOUNT] [-n MAX] | retired print ID\n"
	  "      Delivery history kept per account (keep_retired_message_period).\n"
	  "  queue routes list | add [-account ACCOUNT | -domain DOMAIN]\n"
	  "        [-from DOMAIN,...] [-to DOMAIN,...] [-minattempts N] TRANSPORT |\n"
	  "        remove ID\n"
	  "      Which transport delivers: account routes first, then the sender\n"
	  "      domain's, then global ones; the first match wins, per attempt.\n"
	  "  queue drop ID...\n"
	  "      Remove messages without delivering them (kept as history in\n"
	  "      queue_retired when the account keeps it). Exit 1 if none matched.\n"
	  "  queue holdrules list | add [-account ACCOUNT] [-senderdom DOMAIN]\n"
	  "        [-recipientdom DOMAIN] | remove ID\n"
	  "      Newly queued messages matching every condition of a rule are put on\n"
	  "      hold; a rule without conditions holds everything. Adding a rule also\n"
	  "      holds matching queued messages; removing one releases nothing.\n"
	  "  queue suppress list [ACCOUNT] | add ACCOUNT ADDRESS [REASON...] |\n"
	  "        remove ACCOUNT ADDRESS | lookup ACCOUNT ADDRESS\n"
	  "      The account's suppression list: deliveries to these addresses fail\n"
	  "      at once. Matching is by base address (localpart cut at '+' or '-',\n"
	  "      dots removed, lower case). lookup exits 1 when not suppressed.\n"
	  "  queue webhook list [-account ACCOUNT] [-n MAX]\n"
	  "  queue webhook retired list [-account ACCOUNT] [-n MAX]\n"
	  "      Webhook calls waiting or being retried (by next attempt), or finished\n"
	  "      ones kept per the account's keep-retired period (newest first).\n"
	  "  queue webhook print ID | queue webhook retired print ID\n"
	  "      One call: its fields, attempt results (JSON) and the payload.\n"
	  "  queue webhook schedule -now|-in DURATION ID...|-all\n"
	  "      Set the next attempt (retries follow 1m, 2m, 4m, 7.5m, 15m, 30m, 1h,\n"
	  "      2h, 4h, 8h, 16h after failures, then the call fails).\n"
	  "  queue webhook send\n"
	  "      Make the calls that are due now from this command and print how many\n"
	  "      were attempted (mailstead-queued normally does; results are recorded\n"
	  "      the same way).\n"
	  "  queue webhook drop ID...\n"
	  "      Cancel calls (kept as retired when the account keeps them)." },
	{ "tlspubkey", cmd_tlspubkey,
	  "tlspubkey add ADDRESS CERTFILE [-name NAME] [-no-imap-preauth] | list [ACCOUNT] | rm FINGERPRINT",
	  "TLS client certificates that log in as ADDRESS with SASL EXTERNAL (SMTP\n"
	  "submission and IMAP). Only the public key counts (its SHA-256, shown as the\n"
	  "fingerprint); the certificate may be self-signed and its names and dates\n"
	  "are not checked. CERTFILE is PEM or DER. IMAP clients with a registered key\n"
	  "get a PREAUTH greeting unless the key was added with -no-imap-preauth.\n"
	  "Example: openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes\n"
	  "-subj /CN=laptop -keyout key.pem -out cert.pem, then\n"
	  "mailstead tlspubkey add alice@example.org cert.pem." },
	{ "spf", cmd_spf, "spf check IP MAILFROM [HELO] [--dns-zone FILE]",
	  "Check SPF (RFC 7208) for a message from IP with MAIL FROM address MAILFROM\n"
	  "(or just its domain; the localpart defaults to postmaster; \"\" or \"<>\" checks\n"
	  "the HELO identity postmaster@HELO instead). HELO is the EHLO/HELO name, for\n"
	  "%{h} macros and the header. DNS is the system resolver, or the test zone\n"
	  "file --dns-zone FILE (else $MAILSTEAD_DNS_ZONE), in zone-file format with\n"
	  "$SERVFAIL name / $TIMEOUT name / $AUTHENTIC yes|no directives.\n"
	  "Prints the result (none, neutral, pass, fail, softfail, temperror or\n"
	  "permerror) on the first line, then mechanism=, explanation=, problem=,\n"
	  "lookups=, void-lookups= and authentic= lines, then the Received-SPF header.\n"
	  "Exit status: 0 when the check ran (whatever its result), 2 for usage\n"
	  "errors, 1 for internal errors (e.g. an unreadable zone file)." },
	{ "dkim", cmd_dkim,
	  "dkim verify [--dns-zone FILE] MESSAGE |\n"
	  "       dkim gen --algorithm rsa|ed25519 --domain DOMAIN --selector SELECTOR\n"
	  "                [--headers A,B,C] [--expiration SECONDS] [--no-oversign] [--no-sign]\n"
	  "                [--dir DIR] |\n"
	  "       dkim list [DOMAIN] | dkim rm DOMAIN SELECTOR |\n"
	  "       dkim sign --domain DOMAIN --selector SELECTOR [--key PEM] [--headers A,B,C]\n"
	  "                 [--expiration SECONDS] [--oversign] [--canonicalization H/B] MESSAGE",
	  "DKIM (RFC 6376, RFC 8463 Ed25519). MESSAGE is a file (\"-\": standard input);\n"
	  "bare LF line ends are taken as CRLF.\n"
	  "  dkim verify [--dns-zone FILE] MESSAGE\n"
	  "      Verify every DKIM-Signature: one line per signature with the result\n"
	  "      (pass, fail, neutral, temperror, permerror), d=, s=, a= and the reason.\n"
	  "      Keys come from DNS, or from a zone file with --dns-zone. Exit status 0\n"
	  "      only when there is a signature and all of them pass.\n"
	  "  dkim gen --algorithm rsa|ed25519 --domain DOMAIN --selector SELECTOR [--dir DIR]\n"
	  "      Make a key (RSA 2048 or Ed25519), store it with DOMAIN (which must have\n"
	  "      been added) and print the DNS TXT record to publish: from then on\n"
	  "      submissions with a From address in DOMAIN are signed with it\n"
	  "      (relaxed/relaxed; --headers: the fields to sign, default a list of the\n"
	  "      usual ones; each oversigned unless --no-oversign; x= 72 hours after t=\n"
	  "      unless --expiration, 0 for none; --no-sign: published only, e.g. the\n"
	  "      next key of a rotation). With --dir the key is only written to\n"
	  "      DIR/SELECTOR._domainkey.DOMAIN.ALGORITHM.pem (mode 0600).\n"
	  "  dkim list [DOMAIN]\n"
	  "      The stored selectors with their public TXT records.\n"
	  "  dkim rm DOMAIN SELECTOR\n"
	  "      Forget a stored key (unpublish its record afterwards).\n"
	  "  dkim sign --domain DOMAIN --selector SELECTOR [--key PEM] [--headers A,B,C]\n"
	  "            [--expiration SECONDS] [--oversign] [--canonicalization H/B] MESSAGE\n"
	  "      Print the message with a DKIM-Signature field added (relaxed/relaxed by\n"
	  "      default; From is always signed; --oversign signs each field once more\n"
	  "      than it occurs so none can be added). The key is the domain's stored\n"
	  "      key for SELECTOR unless --key names a PEM file." },
	{ "dmarc", cmd_dmarc,
	  "dmarc check MESSAGE --ip IP --mail-from ADDRESS --helo NAME [--dns-zone FILE]",
	  "Evaluate a message file as smtpd does incoming mail: SPF for ADDRESS (\"\" or\n"
	  "\"<>\": the HELO identity), every DKIM signature, iprev for IP and DMARC for the\n"
	  "From domain. Prints the DMARC result (none, pass, fail, temperror,\n"
	  "permerror) on the first line, then from-domain=, record-domain=, policy=,\n"
	  "disposition=, reject=, spf=, dkim= and iprev= lines and the\n"
	  "Authentication-Results header. DNS as for \"spf check\". Exit status: 0 when\n"
	  "the check ran, 2 for usage errors, 1 for other errors." },
	{ "dns", cmd_dns, "dns records DOMAIN | dns check DOMAIN [--dns-zone FILE]",
	  "records: print every DNS record DOMAIN needs, in zone-file format: MX, SPF,\n"
	  "DKIM (the keys from \"mailstead dkim gen\"), DMARC, MTA-STS, TLSRPT, client\n"
	  "autoconfiguration (SRV, CNAME) and DANE TLSA for the listeners' certificates.\n"
	  "check: look each of them up (system resolver, or --dns-zone FILE) and print\n"
	  "ok, missing, different or error before it, with what was found. Exit status\n"
	  "0 when MX, SPF, DKIM and DMARC are all as printed (the others are reported\n"
	  "as optional), 1 otherwise, 2 for usage errors." },
	{ "loglevel", cmd_loglevel, "loglevel [list | set PROGRAM LEVEL | remove PROGRAM]",
	  "Log levels set at run time, overriding [general] loglevel of the config\n"
	  "file: the running programs apply a change within a few seconds, without a\n"
	  "restart. PROGRAM is smtpd, imapd, queued, admin, account, webmail, webapi,\n"
	  "cli, or default (the level of programs without one of their own); LEVEL is\n"
	  "debug, info, warn or error. list (the default) prints, tab-separated, each\n"
	  "program with the level set for it (- for none) and the level in effect.\n"
	  "remove returns a program to the default. The mailstead command itself\n"
	  "logs warnings and errors only unless cli has a level of its own." },
	{ "version", cmd_version, "version", "Print the version." },
	{ "help", cmd_help, "help [COMMAND]", "Show the commands, or help for one." },
};

static void
usage(FILE *fp)
{
	size_t i;

	fprintf(fp, "usage: mailstead [-c mailstead.conf] COMMAND [ARGS]\n\ncommands:\n");
	for (i = 0; i < MS_NELEM(commands); i++)
		fprintf(fp, "  mailstead %s\n", commands[i].usage);
	fprintf(fp, "\nThe configuration file is -c, else $MAILSTEAD_CONF, else %s/mailstead.conf.\n",
		MS_SYSCONFDIR);
}

static int
cmd_version(struct cli *cli, int argc, char **argv)
{
	printf("mailstead %s\n", PACKAGE_VERSION);
	return 0;
}

static int
cmd_help(struct cli *cli, int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		usage(stdout);
		return 0;
	}
	for (i = 0; i < MS_NELEM(commands); i++) {
		if (strcmp(commands[i].name, argv[1]) == 0) {
			printf("usage: mailstead %s\n\n%s\n", commands[i].usage, commands[i].help);
			return 0;
		}
	}
	fprintf(stderr, "mailstead: unknown command %s\n", argv[1]);
	return 2;
}

void
cli_put_field(const char *s, bool first)
{
	if (!first)
		putchar('\t');
	for (; *s; s++) {
		switch (*s) {
		case '\t': fputs("\\t", stdout); break;
		case '\n': fputs("\\n", stdout); break;
		case '\r': fputs("\\r", stdout); break;
		case '\\': fputs("\\\\", stdout); break;
		default: putchar(*s); break;
		}
	}
}

const char *
cli_fmt_time(int64_t t, char *out, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		out[0] = '\0';
	return out;
}

const char *
cli_fmt_i64(int64_t v, char *out, size_t size)
{
	(void)snprintf(out, size, "%lld", (long long)v);
	return out;
}

bool
cli_opt_is(const char *arg, const char *name)
{
	if (arg[0] != '-')
		return false;
	arg += arg[1] == '-' ? 2 : 1;
	return strcmp(arg, name) == 0;
}

struct conf *
cli_conf(struct cli *cli)
{
	const char *error;
	enum ms_log_level lvl;

	if (cli->conf != NULL)
		return cli->conf;
	if (conf_load(cli->conf_path, &cli->conf, &error) < 0)
		ms_fatal("mailstead: %s", error);
	if (log_parse_level(cli->conf->general.loglevel, &lvl) == 0 && lvl > MS_LOG_INFO)
		log_set_level(lvl);
	return cli->conf;
}

struct store *
cli_store(struct cli *cli)
{
	struct conf *conf = cli_conf(cli);
	const char *error;

	if (cli->store != NULL)
		return cli->store;
	cli->pool = db_pool_create(conf->database.conninfo, 2, &error);
	if (cli->pool == NULL)
		ms_fatal("mailstead: %s", error);
	cli->store = store_open(cli->pool, conf->general.datadir, 0, &error);
	if (cli->store == NULL)
		ms_fatal("mailstead: %s", error);
	{
		PGconn *c = db_get(cli->pool, &error);

		/* Only a level set for "cli" itself: a default meant for the
		 * daemons would make every command chatty. */
		if (c != NULL) {
			loglevel_apply_once(c, "cli");
			db_put(cli->pool, c);
		}
	}
	return cli->store;
}

int
main(int argc, char **argv)
{
	struct cli cli;
	size_t i;
	int rc, argi = 1;

	memset(&cli, 0, sizeof(cli));
	cli.conf_path = getenv("MAILSTEAD_CONF");
	if (cli.conf_path == NULL || cli.conf_path[0] == '\0')
		cli.conf_path = MS_SYSCONFDIR "/mailstead.conf";
	log_init("mailstead", MS_LOG_WARN, 2);
	while (argi < argc && argv[argi][0] == '-') {
		if (strcmp(argv[argi], "-c") == 0 && argi + 1 < argc) {
			cli.conf_path = argv[argi + 1];
			argi += 2;
		} else if (strcmp(argv[argi], "--version") == 0) {
			return cmd_version(&cli, 0, NULL);
		} else if (strcmp(argv[argi], "-h") == 0 || strcmp(argv[argi], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "mailstead: unknown option %s\n", argv[argi]);
			usage(stderr);
			return 2;
		}
	}
	if (argi >= argc) {
		usage(stderr);
		return 2;
	}
	for (i = 0; i < MS_NELEM(commands); i++) {
		if (strcmp(commands[i].name, argv[argi]) == 0) {
			rc = commands[i].fn(&cli, argc - argi, argv + argi);
			if (rc == 2)
				fprintf(stderr, "usage: mailstead %s\n", commands[i].usage);
			store_close(&cli.store);
			db_pool_destroy(&cli.pool);
			conf_free(&cli.conf);
			return rc;
		}
	}
	fprintf(stderr, "mailstead: unknown command %s\n", argv[argi]);
	usage(stderr);
	return 2;
}
