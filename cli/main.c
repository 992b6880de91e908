/* mailstead: the command line for setting up and running Mailstead. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
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
	  "localserve [-dir DIR] [-smtp-port N] [-imap-port N] [-http-port N]",
	  "Run a complete local Mailstead for testing and development: creates DIR\n"
	  "(default ./mailstead-local) with a private PostgreSQL cluster, migrates it,\n"
	  "creates an account and prints its address and password, and starts smtpd\n"
	  "(127.0.0.1:1025), imapd (127.0.0.1:1143) and a status web page\n"
	  "(127.0.0.1:1080). Logs go to standard output; Ctrl-C or SIGTERM stops\n"
	  "everything. Running it again resumes with the same data. DIR/mailstead.conf\n"
	  "works with every other command (mailstead -c DIR/mailstead.conf ...) and\n"
	  "DIR/localserve.env can be sourced by shell scripts. When started as root,\n"
	  "everything runs as the unprivileged user \"mailstead\" (created if missing)." },
	{ "migrate", cmd_migrate, "migrate",
	  "Apply the database migrations (sql/NNN_name.sql) that are not applied yet.\n"
	  "Safe to run concurrently and repeatedly." },
	{ "domain", cmd_domain, "domain add DOMAIN | domain list",
	  "Add a domain Mailstead receives mail for, or list the domains. Unicode\n"
	  "domain names are accepted and stored in Unicode form." },
	{ "account", cmd_account, "account add ADDRESS | account list",
	  "Create an account for ADDRESS (its domain must exist) with the mailboxes\n"
	  "Inbox, Sent, Drafts, Trash, Junk and Archive; or list the accounts. Set a\n"
	  "password with setaccountpassword." },
	{ "address", cmd_address, "address add ADDRESS ACCOUNT",
	  "Deliver mail for ADDRESS to ACCOUNT (an account name or one of its\n"
	  "addresses). \"@domain\" makes a catch-all for the domain." },
	{ "setaccountpassword", cmd_setaccountpassword, "setaccountpassword ACCOUNT",
	  "Set the password of ACCOUNT, read from standard input (asked twice on a\n"
	  "terminal). Stores a yescrypt hash and the SCRAM/CRAM-MD5 secrets." },
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
