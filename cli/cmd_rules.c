/* Subcommands for local delivery rules: domain set, address rm/set,
 * alias, ruleset. Changes are rows in the database; a running smtpd looks
 * recipients up per RCPT TO, so they apply to the next transaction. */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/util.h"
#include "mail/addr.h"
#include "store/store_rules.h"

/* "lp@domain" or "@domain" (catch-all, when allowed) into localpart and
 * lower-case Unicode domain. Prints the problem and returns -1. */
static int
parse_address(const char *cmd, const char *s, bool allow_catchall, struct mail_addr *a)
{
	const char *error;

	memset(a, 0, sizeof(*a));
	if (s[0] == '@' && allow_catchall) {
		if (mail_domain_parse(s + 1, strlen(s + 1), true, &a->domain,
			    &a->domain_ascii, &error) < 0) {
			fprintf(stderr, "mailstead: %s: bad address %s: %s\n", cmd, s, error);
			return -1;
		}
		a->localpart = xstrdup("");
		return 0;
	}
	if (mail_addr_parse_mailbox(s, strlen(s), true, a, &error) < 0) {
		fprintf(stderr, "mailstead: %s: bad address %s: %s\n", cmd, s, error);
		return -1;
	}
	return 0;
}

static int
fail(const char *cmd, const char *error)
{
	fprintf(stderr, "mailstead: %s: %s\n", cmd, error);
	return 1;
}

static const char *
yesno(bool b)
{
	return b ? "yes" : "no";
}

/* ---- domain set ---- */

int
cmd_domain_set(struct cli *cli, int argc, char **argv)
{
	static const struct {
		const char *name;
		enum store_domain_setting what;
	} settings[] = {
		{ "catchall-separators", STORE_DOMAIN_SEPARATORS },
		{ "case-sensitive", STORE_DOMAIN_CASE_SENSITIVE },
		{ "disabled", STORE_DOMAIN_DISABLED },
		{ "reports-only", STORE_DOMAIN_REPORTS_ONLY },
		{ "client-settings-domain", STORE_DOMAIN_CLIENT_SETTINGS },
		{ "description", STORE_DOMAIN_DESCRIPTION },
		{ "dmarc-localpart", STORE_DOMAIN_DMARC_LOCALPART },
		{ "tlsrpt-localpart", STORE_DOMAIN_TLSRPT_LOCALPART },
		{ "mtasts-mode", STORE_DOMAIN_MTASTS_MODE },
		{ "mtasts-max-age", STORE_DOMAIN_MTASTS_MAX_AGE },
		{ "mtasts-mx", STORE_DOMAIN_MTASTS_MX },
	};
	const char *error;
	char *dom, *ascii;
	size_t i;
	int rc;

	/* domain set DOMAIN SETTING VALUE */
	if (argc != 5)
		return 2;
	for (i = 0; i < MS_NELEM(settings); i++)
		if (strcmp(argv[3], settings[i].name) == 0)
			break;
	if (i == MS_NELEM(settings)) {
		fprintf(stderr, "mailstead: domain set: unknown setting %s (catchall-separators, "
			"case-sensitive, disabled, reports-only, client-settings-domain, description, "
			"dmarc-localpart, tlsrpt-localpart, mtasts-mode, mtasts-max-age, mtasts-mx)\n",
			argv[3]);
		return 2;
	}
	if (mail_domain_parse(argv[2], strlen(argv[2]), true, &dom, &ascii, &error) < 0)
		return fail("domain set", ms_err("bad domain %s: %s", argv[2], error));
	free(ascii);
	rc = store_domain_set(cli_store(cli), dom, settings[i].what, argv[4], &error);
	if (rc < 0)
		rc = fail("domain set", error);
	else
		printf("domain %s: %s set to \"%s\"\n", dom, settings[i].name, argv[4]);
	free(dom);
	return rc;
}

/* ---- address rm / set ---- */

int
cmd_address_rm(struct cli *cli, int argc, char **argv)
{
	struct mail_addr a;
	const char *error;
	int rc = 0;

	if (argc != 3)
		return 2;
	if (parse_address("address rm", argv[2], true, &a) < 0)
		return 1;
	if (store_address_remove(cli_store(cli), a.localpart, a.domain, &error) < 0)
		rc = fail("address rm", error);
	else
		printf("address %s@%s removed\n", a.localpart, a.domain);
	mail_addr_free(&a);
	return rc;
}

int
cmd_address_set(struct cli *cli, int argc, char **argv)
{
	static const struct {
		const char *name;
		enum store_address_setting what;
	} settings[] = {
		{ "mailbox", STORE_ADDRESS_MAILBOX },
		{ "smtp-error", STORE_ADDRESS_SMTP_ERROR },
		{ "message-auth-required-smtp-error", STORE_ADDRESS_AUTH_ERROR },
		{ "full-name", STORE_ADDRESS_FULL_NAME },
	};
	struct mail_addr a;
	const char *error;
	size_t i;
	int rc = 0;

	/* address set ADDRESS SETTING VALUE */
	if (argc != 5)
		return 2;
	for (i = 0; i < MS_NELEM(settings); i++)
		if (strcmp(argv[3], settings[i].name) == 0)
			break;
	if (i == MS_NELEM(settings)) {
		fprintf(stderr, "mailstead: address set: unknown setting %s (mailbox, smtp-error, "
			"message-auth-required-smtp-error, full-name)\n", argv[3]);
		return 2;
	}
	if (parse_address("address set", argv[2], true, &a) < 0)
		return 1;
	if (store_address_set(cli_store(cli), a.localpart, a.domain, settings[i].what,
		    argv[4], &error) < 0)
		rc = fail("address set", error);
	else
		printf("address %s@%s: %s set to \"%s\"\n", a.localpart, a.domain,
			settings[i].name, argv[4]);
	mail_addr_free(&a);
	return rc;
}

/* ---- alias ---- */

static int
alias_list(struct cli *cli, int argc, char **argv)
{
	struct store_alias *v;
	const char *error;
	char *dom = NULL, *ascii;
	size_t n, i, j;

	if (argc > 3)
		return 2;
	if (argc == 3) {
		if (mail_domain_parse(argv[2], strlen(argv[2]), true, &dom, &ascii, &error) < 0)
			return fail("alias list", ms_err("bad domain %s: %s", argv[2], error));
		free(ascii);
	}
	if (store_alias_list(cli_store(cli), dom, &v, &n, &error) < 0) {
		free(dom);
		return fail("alias list", error);
	}
	/* One line per alias: address, settings, members (comma-separated). */
	for (i = 0; i < n; i++) {
		printf("%s\tpost-public=%s\tlist-members=%s\tallow-msg-from=%s\tmembers=",
			v[i].address, yesno(v[i].post_public), yesno(v[i].list_members),
			yesno(v[i].allow_msg_from));
		for (j = 0; j < v[i].nmembers; j++)
			printf("%s%s", j ? "," : "", v[i].members[j].address);
		putchar('\n');
	}
	store_aliases_free(v, n);
	free(dom);
	return 0;
}

static const struct {
	const char *name;
	enum store_alias_setting what;
} alias_settings[] = {
	{ "post-public", STORE_ALIAS_POST_PUBLIC },
	{ "list-members", STORE_ALIAS_LIST_MEMBERS },
	{ "allow-msg-from", STORE_ALIAS_ALLOW_MSG_FROM },
};

static int
alias_add(struct cli *cli, int argc, char **argv)
{
	struct mail_addr a;
	const char **members;
	const char *error;
	bool flags[MS_NELEM(alias_settings)] = { false };
	size_t nmembers = 0, k;
	int i, rc = 0;

	/* alias add ALIAS MEMBER... [--post-public] [--list-members]
	 * [--allow-msg-from] */
	if (argc < 3)
		return 2;
	members = xcalloc((size_t)argc, sizeof(*members));
	for (i = 3; i < argc; i++) {
		if (strncmp(argv[i], "--", 2) != 0) {
			members[nmembers++] = argv[i];
			continue;
		}
		for (k = 0; k < MS_NELEM(alias_settings); k++)
			if (strcmp(argv[i] + 2, alias_settings[k].name) == 0)
				break;
		if (k == MS_NELEM(alias_settings)) {
			fprintf(stderr, "mailstead: alias add: unknown option %s\n", argv[i]);
			free(members);
			return 2;
		}
		flags[k] = true;
	}
	if (nmembers == 0) {
		free(members);
		return fail("alias add", "an alias needs at least one member");
	}
	if (parse_address("alias add", argv[2], false, &a) < 0) {
		free(members);
		return 1;
	}
	if (store_alias_add(cli_store(cli), a.localpart, a.domain, flags[0], flags[1], flags[2],
		    members, nmembers, &error) < 0)
		rc = fail("alias add", error);
	else
		printf("alias %s@%s added with %zu member%s\n", a.localpart, a.domain, nmembers,
			nmembers == 1 ? "" : "s");
	mail_addr_free(&a);
	free(members);
	return rc;
}

static int
alias_other(struct cli *cli, int argc, char **argv)
{
	const char *sub = argv[1], *error;
	struct mail_addr a;
	int rc = 0;

	if (argc < 3)
		return 2;
	if ((strcmp(sub, "rm") == 0 && argc != 3) || (strcmp(sub, "set") == 0 && argc != 5) ||
	    ((strcmp(sub, "addaddr") == 0 || strcmp(sub, "rmaddr") == 0) && argc < 4))
		return 2;
	if (parse_address(ms_err("alias %s", sub), argv[2], false, &a) < 0)
		return 1;
	cli_store(cli);
	if (strcmp(sub, "rm") == 0) {
		if (store_alias_remove(cli->store, a.localpart, a.domain, &error) < 0)
			rc = fail("alias rm", error);
		else
			printf("alias %s@%s removed\n", a.localpart, a.domain);
	} else if (strcmp(sub, "set") == 0) {
		size_t k;
		bool b;

		for (k = 0; k < MS_NELEM(alias_settings); k++)
			if (strcmp(argv[3], alias_settings[k].name) == 0)
				break;
		if (k == MS_NELEM(alias_settings)) {
			fprintf(stderr, "mailstead: alias set: unknown setting %s (post-public, "
				"list-members, allow-msg-from)\n", argv[3]);
			rc = 2;
		} else if (ms_parse_bool(argv[4], &b) < 0) {
			rc = fail("alias set", ms_err("expected yes or no, not %s", argv[4]));
		} else if (store_alias_set(cli->store, a.localpart, a.domain,
			       alias_settings[k].what, b, &error) < 0) {
			rc = fail("alias set", error);
		} else {
			printf("alias %s@%s: %s set to %s\n", a.localpart, a.domain,
				alias_settings[k].name, yesno(b));
		}
	} else if (strcmp(sub, "addaddr") == 0) {
		if (store_alias_members_add(cli->store, a.localpart, a.domain,
			    (const char *const *)argv + 3, (size_t)argc - 3, &error) < 0)
			rc = fail("alias addaddr", error);
		else
			printf("alias %s@%s: %d member%s added\n", a.localpart, a.domain,
				argc - 3, argc == 4 ? "" : "s");
	} else {
		if (store_alias_members_remove(cli->store, a.localpart, a.domain,
			    (const char *const *)argv + 3, (size_t)argc - 3, &error) < 0)
			rc = fail("alias rmaddr", error);
		else
			printf("alias %s@%s: %d member%s removed\n", a.localpart, a.domain,
				argc - 3, argc == 4 ? "" : "s");
	}
	mail_addr_free(&a);
	return rc;
}

int
cmd_alias(struct cli *cli, int argc, char **argv)
{
	if (argc < 2)
		return 2;
	if (strcmp(argv[1], "list") == 0)
		return alias_list(cli, argc, argv);
	if (strcmp(argv[1], "add") == 0)
		return alias_add(cli, argc, argv);
	if (strcmp(argv[1], "rm") == 0 || strcmp(argv[1], "set") == 0 ||
	    strcmp(argv[1], "addaddr") == 0 || strcmp(argv[1], "rmaddr") == 0)
		return alias_other(cli, argc, argv);
	return 2;
}

/* ---- ruleset ---- */

/* Value of "--name VALUE" or "--name=VALUE" at argv[*i]; advances *i. */
static const char *
opt_value(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);
	const char *a = argv[*i];

	if (strncmp(a, name, n) != 0)
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n] == '\0' && *i + 1 < argc) {
		(*i)++;
		return argv[*i];
	}
	return NULL;
}

static void
print_ruleset(int pos, const struct store_ruleset *rs)
{
	size_t i;

	printf("%d\tmailbox=%s", pos, rs->mailbox);
	if (rs->smtp_mailfrom_regexp[0] != '\0')
		printf("\tmailfrom=%s", rs->smtp_mailfrom_regexp);
	if (rs->msg_from_regexp[0] != '\0')
		printf("\tmsgfrom=%s", rs->msg_from_regexp);
	if (rs->verified_domain[0] != '\0')
		printf("\tverified-domain=%s", rs->verified_domain);
	for (i = 0; i < rs->nheaders; i++)
		printf("\theader=%s=%s", rs->headers[i].field, rs->headers[i].value);
	if (rs->is_forward)
		printf("\tis-forward");
	if (rs->list_allow_domain[0] != '\0')
		printf("\tlist-allow-domain=%s", rs->list_allow_domain);
	if (rs->accept_rejects_to_mailbox[0] != '\0')
		printf("\taccept-rejects-to-mailbox=%s", rs->accept_rejects_to_mailbox);
	if (rs->comment[0] != '\0')
		printf("\tcomment=%s", rs->comment);
	putchar('\n');
}


/* ruleset add options that take one text value, and their field. */
static const struct {
	const char *opt;
	size_t off;
} ruleset_str_opts[] = {
	{ "--mailbox", offsetof(struct store_ruleset, mailbox) },
	{ "--mailfrom", offsetof(struct store_ruleset, smtp_mailfrom_regexp) },
	{ "--msgfrom", offsetof(struct store_ruleset, msg_from_regexp) },
	{ "--verified-domain", offsetof(struct store_ruleset, verified_domain) },
	{ "--list-allow-domain", offsetof(struct store_ruleset, list_allow_domain) },
	{ "--accept-rejects-to-mailbox", offsetof(struct store_ruleset, accept_rejects_to_mailbox) },
	{ "--comment", offsetof(struct store_ruleset, comment) },
};

static int
ruleset_add(struct cli *cli, int argc, char **argv)
{
	struct store_ruleset rs;
	struct mail_addr a;
	const char *error, *v;
	int i, pos, rc = 0;

	if (argc < 4)
		return 2;
	memset(&rs, 0, sizeof(rs));
	for (i = 3; i < argc; i++) {
		size_t k;
		bool matched = false;

		/* Options that set one text field of the ruleset. */
		for (k = 0; k < MS_NELEM(ruleset_str_opts) && !matched; k++) {
			if ((v = opt_value(argc, argv, &i, ruleset_str_opts[k].opt)) != NULL) {
				char **field = (char **)((char *)&rs + ruleset_str_opts[k].off);

				free(*field);
				*field = xstrdup(v);
				matched = true;
			}
		}
		if (matched) {
			continue;
		} else if ((v = opt_value(argc, argv, &i, "--header")) != NULL) {
			const char *eq = strchr(v, '=');
			struct store_header_rule *h;

			if (eq == NULL || eq == v) {
				fprintf(stderr, "mailstead: ruleset add: --header needs "
					"FIELD-REGEXP=VALUE-REGEXP, not %s\n", v);
				store_ruleset_free(&rs);
				return 2;
			}
			rs.headers = xrealloc(rs.headers, (rs.nheaders + 1) * sizeof(*rs.headers));
			h = &rs.headers[rs.nheaders++];
			memset(h, 0, sizeof(*h));
			h->field = xstrndup(v, (size_t)(eq - v));
			h->value = xstrdup(eq + 1);
		} else if (strcmp(argv[i], "--is-forward") == 0) {
			rs.is_forward = true;
		} else {
			fprintf(stderr, "mailstead: ruleset add: unknown or incomplete option %s\n",
				argv[i]);
			store_ruleset_free(&rs);
			return 2;
		}
	}
	if (rs.mailbox == NULL) {
		store_ruleset_free(&rs);
		return fail("ruleset add", "--mailbox is required");
	}
	if (parse_address("ruleset add", argv[2], true, &a) < 0) {
		store_ruleset_free(&rs);
		return 1;
	}
	if (store_ruleset_add(cli_store(cli), a.localpart, a.domain, &rs, &pos, &error) < 0) {
		rc = fail("ruleset add", error);
	} else {
		printf("ruleset added to %s@%s:\n", a.localpart, a.domain);
		print_ruleset(pos, &rs);
	}
	store_ruleset_free(&rs);
	mail_addr_free(&a);
	return rc;
}

int
cmd_ruleset(struct cli *cli, int argc, char **argv)
{
	struct store_ruleset *v;
	struct mail_addr a;
	const char *error;
	size_t n, i;
	uint64_t pos;
	int rc = 0;

	if (argc < 3)
		return 2;
	if (strcmp(argv[1], "add") == 0)
		return ruleset_add(cli, argc, argv);
	if (strcmp(argv[1], "list") == 0) {
		if (argc != 3)
			return 2;
		if (parse_address("ruleset list", argv[2], true, &a) < 0)
			return 1;
		if (store_ruleset_list(cli_store(cli), a.localpart, a.domain, &v, &n, &error) < 0) {
			rc = fail("ruleset list", error);
		} else {
			for (i = 0; i < n; i++)
				print_ruleset((int)i + 1, &v[i]);
			store_rulesets_free(v, n);
		}
		mail_addr_free(&a);
		return rc;
	}
	if (strcmp(argv[1], "rm") == 0) {
		if (argc != 4)
			return 2;
		if (ms_parse_u64(argv[3], 1, STORE_RULES_MAX, &pos) < 0)
			return fail("ruleset rm", ms_err("bad ruleset number %s (see: mailstead "
				"ruleset list %s)", argv[3], argv[2]));
		if (parse_address("ruleset rm", argv[2], true, &a) < 0)
			return 1;
		if (store_ruleset_remove(cli_store(cli), a.localpart, a.domain, (int)pos, &error) < 0)
			rc = fail("ruleset rm", error);
		else
			printf("ruleset %d of %s@%s removed\n", (int)pos, a.localpart, a.domain);
		mail_addr_free(&a);
		return rc;
	}
	return 2;
}
