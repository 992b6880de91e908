/* mailstead loglevel: the log levels set at run time (table log_levels),
 * which running programs apply within seconds (lib/db/loglevel.c). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "core/log.h"
#include "core/util.h"
#include "db/db.h"
#include "db/loglevel.h"

/* "default" on the command line is the default level's program "". */
static const char *
program_arg(const char *s)
{
	return strcmp(s, "default") == 0 ? "" : s;
}

static int
loglevel_print(struct cli *cli, PGconn *c)
{
	enum ms_log_level cl = loglevel_conf_level(cli_conf(cli)->general.loglevel);
	struct loglevel_row *rows = NULL;
	const char *error;
	size_t n = 0, i, j;

	if (loglevel_list(c, &rows, &n, &error) < 0) {
		fprintf(stderr, "mailstead: %s\n", error);
		return 1;
	}
	/* Every program, with its own level ("-" when it has none) and the
	 * level it logs at; the first row is the default. */
	cli_put_field("program", true);
	cli_put_field("set", false);
	cli_put_field("effective", false);
	putchar('\n');
	for (i = 0; i == 0 || loglevel_programs[i - 1] != NULL; i++) {
		const char *p = i == 0 ? "" : loglevel_programs[i - 1], *set = "-";

		for (j = 0; j < n; j++)
			if (strcmp(rows[j].program, p) == 0)
				set = log_level_name(rows[j].level);
		cli_put_field(i == 0 ? "default" : p, true);
		cli_put_field(set, false);
		cli_put_field(log_level_name(loglevel_effective(rows, n, p, cl)), false);
		putchar('\n');
	}
	loglevel_rows_free(&rows, n);
	return 0;
}

int
cmd_loglevel(struct cli *cli, int argc, char **argv)
{
	const char *error, *sub = argc >= 2 ? argv[1] : "list";
	PGconn *c;
	int rc;

	if (strcmp(sub, "list") == 0 ? argc > 2 : strcmp(sub, "set") == 0 ? argc != 4 :
	    strcmp(sub, "remove") == 0 ? argc != 3 : true)
		return 2;
	cli_store(cli);
	c = db_get(cli->pool, &error);
	if (c == NULL)
		ms_fatal("mailstead: %s", error);
	if (strcmp(sub, "list") == 0) {
		rc = loglevel_print(cli, c);
	} else if (strcmp(sub, "set") == 0) {
		rc = loglevel_set(c, program_arg(argv[2]), argv[3], &error) < 0 ? 1 : 0;
		if (rc != 0)
			fprintf(stderr, "mailstead: loglevel set: %s\n", error);
	} else {
		int r = loglevel_remove(c, program_arg(argv[2]), &error);

		rc = r == 1 ? 0 : 1;
		if (r < 0)
			fprintf(stderr, "mailstead: loglevel remove: %s\n", error);
		else if (r == 0)
			fprintf(stderr, "mailstead: loglevel remove: no log level set for %s\n",
				argv[2]);
	}
	db_put(cli->pool, c);
	return rc;
}
