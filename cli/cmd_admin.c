/* Administrative subcommands: migrate, domain, account, address,
 * setaccountpassword ("domain set", "address rm|set": cmd_rules.c). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "web/web.h"
#include "core/util.h"
#include "mail/addr.h"
#include "store/store_rules.h"

int
cmd_migrate(struct cli *cli, int argc, char **argv)
{
	struct conf *conf = cli_conf(cli);
	const char *error;
	unsigned applied;
	PGconn *c;
	int version;

	if (argc != 1)
		return 2;
	cli_store(cli);
	c = db_get(cli->pool, &error);
	if (c == NULL)
		ms_fatal("mailstead: %s", error);
	if (db_migrate(c, conf->general.sqldir, &applied, &error) < 0) {
		db_put(cli->pool, c);
		fprintf(stderr, "mailstead: migrate: %s\n", error);
		return 1;
	}
	version = db_schema_version(c, &error);
	db_put(cli->pool, c);
	printf("applied %u migration%s, schema version %d\n", applied,
		applied == 1 ? "" : "s", version);
	return 0;
}

/* Parse a user-given domain into its Unicode form (malloc'd). */
static char *
parse_domain(const char *s)
{
	char *uni, *ascii;
	const char *error;

	if (mail_domain_parse(s, strlen(s), true, &uni, &ascii, &error) < 0)
		ms_fatal("mailstead: bad domain %s: %s", s, error);
	free(ascii);
	return uni;
}

static void
print_rows(struct cli *cli, const char *sql)
{
	const char *error;
	PGconn *c = db_get(cli->pool, &error);
	PGresult *res;
	int i, j;

	if (c == NULL)
		ms_fatal("mailstead: %s", error);
	res = db_exec(c, sql, 0, NULL, &error);
	db_put(cli->pool, c);
	if (res == NULL)
		ms_fatal("mailstead: %s", error);
	for (i = 0; i < PQntuples(res); i++) {
		for (j = 0; j < PQnfields(res); j++)
			printf(j ? "\t%s" : "%s", PQgetvalue(res, i, j));
		putchar('\n');
	}
	PQclear(res);
}

int
cmd_domain(struct cli *cli, int argc, char **argv)
{
	const char *error;
	char *dom;

	if (argc == 2 && strcmp(argv[1], "list") == 0) {
		cli_store(cli);
		print_rows(cli, "SELECT name FROM domains ORDER BY name");
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "set") == 0)
		return cmd_domain_set(cli, argc, argv);
	if (argc == 3 && strcmp(argv[1], "rm") == 0) {
		dom = parse_domain(argv[2]);
		if (store_domain_remove(cli_store(cli), dom, &error) < 0) {
			fprintf(stderr, "mailstead: domain rm: %s\n", error);
			free(dom);
			return 1;
		}
		printf("domain %s removed\n", dom);
		free(dom);
		return 0;
	}
	if (argc != 3 || strcmp(argv[1], "add") != 0)
		return 2;
	dom = parse_domain(argv[2]);
	if (store_domain_add(cli_store(cli), dom, &error) < 0) {
		fprintf(stderr, "mailstead: domain add: %s\n", error);
		free(dom);
		return 1;
	}
	printf("domain %s added\n", dom);
	free(dom);
	return 0;
}

/* Split "local@domain" (or "@domain") into parts; domain to Unicode form. */
static int
split_address(const char *s, struct mail_addr *a)
{
	const char *error;

	memset(a, 0, sizeof(*a));
	if (s[0] == '@') {
		a->localpart = xstrdup("");
		if (mail_domain_parse(s + 1, strlen(s + 1), true, &a->domain,
			    &a->domain_ascii, &error) < 0) {
			fprintf(stderr, "mailstead: bad address %s: %s\n", s, error);
			return -1;
		}
		return 0;
	}
	if (mail_addr_parse_mailbox(s, strlen(s), true, a, &error) < 0) {
		fprintf(stderr, "mailstead: bad address %s: %s\n", s, error);
		return -1;
	}
	return 0;
}

/* account rm ACCOUNT | account set ACCOUNT SETTING VALUE */
static int
account_rm_set(struct cli *cli, int argc, char **argv)
{
	static const struct {
		const char *name;
		enum store_account_setting what;
	} settings[] = {
		{ "full-name", STORE_ACCOUNT_FULL_NAME },
		{ "login-disabled", STORE_ACCOUNT_LOGIN_DISABLED },
		{ "quota", STORE_ACCOUNT_QUOTA },
		{ "max-outgoing-messages-per-day", STORE_ACCOUNT_MAX_OUTGOING },
		{ "max-first-time-recipients-per-day", STORE_ACCOUNT_MAX_FIRST_TIME },
		{ "keep-retired-messages", STORE_ACCOUNT_KEEP_RETIRED },
	};
	bool rm = strcmp(argv[1], "rm") == 0;
	const char *error;
	int64_t id;
	size_t i = 0;
	int found;

	if (argc != (rm ? 3 : 5))
		return 2;
	if (!rm) {
		for (i = 0; i < MS_NELEM(settings); i++)
			if (strcmp(argv[3], settings[i].name) == 0)
				break;
		if (i == MS_NELEM(settings)) {
			fprintf(stderr, "mailstead: account set: unknown setting %s (full-name, "
				"login-disabled, quota, max-outgoing-messages-per-day, "
				"max-first-time-recipients-per-day, keep-retired-messages)\n", argv[3]);
			return 2;
		}
	}
	found = store_account_find(cli_store(cli), argv[2], &id, &error);
	if (found <= 0) {
		fprintf(stderr, "mailstead: account %s: %s\n", argv[1],
			found < 0 ? error : ms_err("no account %s", argv[2]));
		return 1;
	}
	if (rm) {
		/* Sessions first, so the web programs' caches hear of it. */
		if (web_sessions_remove_account_db(cli->pool, id, &error) < 0 ||
		    store_account_remove(cli->store, id, &error) < 0) {
			fprintf(stderr, "mailstead: account rm: %s\n", error);
			return 1;
		}
		printf("account %s removed\n", argv[2]);
		return 0;
	}
	if (store_account_set(cli->store, id, settings[i].what, argv[4], &error) < 0) {
		fprintf(stderr, "mailstead: account set: %s\n", error);
		return 1;
	}
	printf("account %s: %s set to \"%s\"\n", argv[2], settings[i].name, argv[4]);
	return 0;
}

/* Rows of a RETURNING statement, -1 for a failed one; clears res. */
static int
rows(PGresult *res)
{
	int n;

	if (res == NULL)
		return -1;
	n = PQntuples(res);
	PQclear(res);
	return n;
}

/* account fromid-login ACCOUNT [add|rm ADDRESS]: the login addresses that
 * make webapi sends use a unique MAIL FROM per recipient (sql/017). */
static int
account_fromid_login(struct cli *cli, int argc, char **argv)
{
	const char *error;
	struct mail_addr a;
	struct buf addr;
	int64_t id;
	PGconn *c;
	int found, rc = 1;

	if (argc != 3 && argc != 5)
		return 2;
	found = store_account_find(cli_store(cli), argv[2], &id, &error);
	if (found <= 0) {
		fprintf(stderr, "mailstead: account fromid-login: %s\n",
			found < 0 ? error : ms_err("no account %s", argv[2]));
		return 1;
	}
	if (argc == 3) {
		struct buf q;

		buf_init(&q);
		buf_printf(&q, "SELECT address FROM fromid_login_addresses WHERE account_id = %lld"
			" ORDER BY address", (long long)id);
		print_rows(cli, q.data);
		buf_free(&q);
		return 0;
	}
	if (strcmp(argv[3], "add") != 0 && strcmp(argv[3], "rm") != 0)
		return 2;
	if (split_address(argv[4], &a) < 0)
		return 1;
	buf_init(&addr);
	mail_addr_format(&addr, &a, true);
	ms_str_lower(addr.data);
	c = db_get(cli->pool, &error);
	if (c == NULL) {
		fprintf(stderr, "mailstead: account fromid-login: %s\n", error);
		goto out;
	}
	if (strcmp(argv[3], "add") == 0) {
		int n = rows(db_execv(c, &error,
			"INSERT INTO fromid_login_addresses (address, account_id) VALUES ($1, $2)"
			" ON CONFLICT (address) DO NOTHING RETURNING 1", 2, addr.data, db_i64(id)));

		if (n == 0)
			error = "address is already a fromid login address";
		if (n <= 0) {
			fprintf(stderr, "mailstead: account fromid-login: %s\n", error);
		} else {
			printf("logins as %s now send with a unique MAIL FROM per recipient\n",
				addr.data);
			rc = 0;
		}
	} else {
		int n = rows(db_execv(c, &error,
			"DELETE FROM fromid_login_addresses WHERE address = $1 AND account_id = $2"
			" RETURNING 1", 2, addr.data, db_i64(id)));

		if (n == 0)
			error = "no such fromid login address for the account";
		if (n <= 0) {
			fprintf(stderr, "mailstead: account fromid-login: %s\n", error);
		} else {
			printf("%s is no longer a fromid login address\n", addr.data);
			rc = 0;
		}
	}
	db_put(cli->pool, c);
out:
	buf_free(&addr);
	mail_addr_free(&a);
	return rc;
}

int
cmd_account(struct cli *cli, int argc, char **argv)
{
	struct mail_addr a;
	const char *error;
	int64_t id;

	if (argc == 2 && strcmp(argv[1], "list") == 0) {
		cli_store(cli);
		print_rows(cli, "SELECT name FROM accounts ORDER BY name");
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "webhook") == 0)
		return cmd_account_webhook(cli, argc - 1, argv + 1);
	if (argc >= 2 && (strcmp(argv[1], "rm") == 0 || strcmp(argv[1], "set") == 0))
		return account_rm_set(cli, argc, argv);
	if (argc >= 2 && strcmp(argv[1], "fromid-login") == 0)
		return account_fromid_login(cli, argc, argv);
	if (argc != 3 || strcmp(argv[1], "add") != 0)
		return 2;
	if (split_address(argv[2], &a) < 0)
		return 1;
	if (a.localpart[0] == '\0') {
		fprintf(stderr, "mailstead: account add: %s has no localpart\n", argv[2]);
		mail_addr_free(&a);
		return 1;
	}
	if (store_account_add(cli_store(cli), a.localpart, a.domain, &id, &error) < 0) {
		fprintf(stderr, "mailstead: account add: %s\n", error);
		mail_addr_free(&a);
		return 1;
	}
	{
		PGconn *c = db_get(cli->pool, &error);
		PGresult *res = c ? db_execv(c, &error, "SELECT name FROM accounts WHERE id = $1",
			1, db_i64(id)) : NULL;
		const char *name = res && PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : argv[2];

		printf("account %s created; set its password with: mailstead setaccountpassword %s\n",
			name, name);
		PQclear(res);
		db_put(cli->pool, c);
	}
	mail_addr_free(&a);
	return 0;
}

int
cmd_address(struct cli *cli, int argc, char **argv)
{
	struct mail_addr a;
	const char *error;
	int64_t id;
	int found;

	if (argc >= 2 && strcmp(argv[1], "rm") == 0)
		return cmd_address_rm(cli, argc, argv);
	if (argc >= 2 && strcmp(argv[1], "set") == 0)
		return cmd_address_set(cli, argc, argv);
	if (argc != 4 || strcmp(argv[1], "add") != 0)
		return 2;
	if (split_address(argv[2], &a) < 0)
		return 1;
	found = store_account_find(cli_store(cli), argv[3], &id, &error);
	if (found <= 0) {
		fprintf(stderr, "mailstead: address add: %s\n",
			found < 0 ? error : ms_err("no account %s", argv[3]));
		mail_addr_free(&a);
		return 1;
	}
	if (store_address_add(cli->store, a.localpart, a.domain, id, &error) < 0) {
		fprintf(stderr, "mailstead: address add: %s\n", error);
		mail_addr_free(&a);
		return 1;
	}
	printf("address %s@%s now delivers to %s\n", a.localpart, a.domain, argv[3]);
	mail_addr_free(&a);
	return 0;
}

int
cli_read_password(const char *prompt, struct buf *out)
{
	struct termios old, noecho;
	bool tty = isatty(0);
	int c;

	buf_reset(out);
	if (tty) {
		fputs(prompt, stderr);
		if (tcgetattr(0, &old) == 0) {
			noecho = old;
			noecho.c_lflag &= ~(tcflag_t)ECHO;
			(void)tcsetattr(0, TCSAFLUSH, &noecho);
		}
	}
	while ((c = getchar()) != EOF && c != '\n')
		buf_putc(out, (char)c);
	if (out->len > 0 && out->data[out->len - 1] == '\r')
		buf_truncate(out, out->len - 1);
	if (tty) {
		(void)tcsetattr(0, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	return c == EOF && out->len == 0 ? -1 : 0;
}

int
cmd_setaccountpassword(struct cli *cli, int argc, char **argv)
{
	struct buf pw, again;
	const char *error;
	int64_t id;
	int found, rc = 1;

	if (argc != 2)
		return 2;
	found = store_account_find(cli_store(cli), argv[1], &id, &error);
	if (found <= 0) {
		fprintf(stderr, "mailstead: setaccountpassword: %s\n",
			found < 0 ? error : ms_err("no account %s", argv[1]));
		return 1;
	}
	buf_init(&pw);
	buf_init(&again);
	if (cli_read_password("new password: ", &pw) < 0 || pw.len == 0) {
		fprintf(stderr, "mailstead: setaccountpassword: no password given on standard input\n");
		goto out;
	}
	if (isatty(0)) {
		(void)cli_read_password("repeat password: ", &again);
		if (strcmp(pw.data, again.data) != 0) {
			fprintf(stderr, "mailstead: passwords do not match\n");
			goto out;
		}
	}
	if (store_password_set(cli->store, id, pw.data, &error) < 0) {
		fprintf(stderr, "mailstead: setaccountpassword: %s\n", error);
		goto out;
	}
	/* Logged-in web sessions of the account end with the old password. */
	if (web_sessions_remove_account_db(cli->pool, id, &error) < 0)
		fprintf(stderr, "mailstead: setaccountpassword: removing web sessions: %s\n", error);
	printf("password for %s updated\n", argv[1]);
	rc = 0;
out:
	buf_wipe(&pw);
	buf_wipe(&again);
	buf_free(&pw);
	buf_free(&again);
	return rc;
}
