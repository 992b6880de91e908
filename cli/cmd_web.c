/* mailstead setadminpassword: the password of the admin web interface. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "core/util.h"
#include "web/web.h"

int
cmd_setadminpassword(struct cli *cli, int argc, char **argv)
{
	struct buf pw, again;
	const char *error;
	int rc = 1;

	(void)argv;
	if (argc != 1)
		return 2;
	(void)cli_store(cli);
	buf_init(&pw);
	buf_init(&again);
	if (cli_read_password("new admin password: ", &pw) < 0 || pw.len == 0) {
		fprintf(stderr, "mailstead: setadminpassword: no password given on standard input\n");
		goto out;
	}
	if (isatty(0)) {
		(void)cli_read_password("repeat password: ", &again);
		if (strcmp(pw.data, again.data) != 0) {
			fprintf(stderr, "mailstead: passwords do not match\n");
			goto out;
		}
	}
	if (pw.len < 8) {
		fprintf(stderr, "mailstead: setadminpassword: use at least 8 characters\n");
		goto out;
	}
	if (web_admin_password_set(cli->pool, pw.data, &error) < 0) {
		fprintf(stderr, "mailstead: setadminpassword: %s\n", error);
		goto out;
	}
	printf("admin password updated; admin web sessions ended\n");
	rc = 0;
out:
	buf_wipe(&pw);
	buf_wipe(&again);
	buf_free(&pw);
	buf_free(&again);
	return rc;
}
