/* The mailstead command: shared declarations of the subcommands. */
#ifndef MS_CLI_H
#define MS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/conf.h"
#include "store/store.h"

struct cli {
	const char *conf_path;	/* -c, $MAILSTEAD_CONF, or the installed default */
	struct conf *conf;	/* loaded on demand by cli_conf() */
	struct db_pool *pool;
	struct store *store;
};

/* Load the configuration (exit 1 with "file:line: message" on errors). */
struct conf *cli_conf(struct cli *cli);
/* Connect to the database and open the store (exit 1 on failure). */
struct store *cli_store(struct cli *cli);

/* Output of listings: fields separated by tabs, a tab, newline, CR or
 * backslash in a field escaped (\t \n \r \\) so every row is one line. */
void cli_put_field(const char *s, bool first);
/* t (unix seconds) as RFC 3339 UTC into out; "" for t <= 0. Returns out. */
const char *cli_fmt_time(int64_t t, char *out, size_t size);
/* v in decimal into out. Returns out. */
const char *cli_fmt_i64(int64_t v, char *out, size_t size);
/* Whether arg is the option "-name" or "--name". */
bool cli_opt_is(const char *arg, const char *name);

int cmd_migrate(struct cli *cli, int argc, char **argv);
int cmd_domain(struct cli *cli, int argc, char **argv);
int cmd_account(struct cli *cli, int argc, char **argv);
int cmd_address(struct cli *cli, int argc, char **argv);
/* Local delivery rules (cmd_rules.c); cmd_domain/cmd_address hand "set"
 * and "rm" to the first three. */
int cmd_domain_set(struct cli *cli, int argc, char **argv);
int cmd_address_rm(struct cli *cli, int argc, char **argv);
int cmd_address_set(struct cli *cli, int argc, char **argv);
int cmd_alias(struct cli *cli, int argc, char **argv);
int cmd_ruleset(struct cli *cli, int argc, char **argv);
int cmd_setaccountpassword(struct cli *cli, int argc, char **argv);
/* The admin web interface's password (cmd_web.c). */
int cmd_setadminpassword(struct cli *cli, int argc, char **argv);
/* A webapi client (cmd_webapi.c). */
int cmd_webapi(struct cli *cli, int argc, char **argv);
int cmd_localserve(struct cli *cli, int argc, char **argv);
int cmd_tlspubkey(struct cli *cli, int argc, char **argv);
int cmd_queue(struct cli *cli, int argc, char **argv);
/* queue schedule|fail|requiretls|transport|retired|routes (cmd_queue_deliver.c);
 * argv[0] is the subcommand. */
int cmd_queue_deliver(struct cli *cli, int argc, char **argv);
/* queue webhook ... and account webhook ... (cmd_webhook.c); argv[0] is
 * "webhook". */
int cmd_queue_webhook(struct cli *cli, int argc, char **argv);
int cmd_account_webhook(struct cli *cli, int argc, char **argv);
/* SPF check from the command line (cmd_spf.c); needs no configuration. */
int cmd_spf(struct cli *cli, int argc, char **argv);
/* DKIM verify, key generation and signing (cmd_dkim.c). */
int cmd_dkim(struct cli *cli, int argc, char **argv);

/* Read a message file ("-": standard input) into out with bare LF made
 * CRLF. Returns 0, or -1 after printing why. */
int cli_read_message(const char *path, struct buf *out);
/* DMARC evaluation of a message file (cmd_dmarc.c). */
int cmd_dmarc(struct cli *cli, int argc, char **argv);
/* Log levels set at run time (cmd_loglevel.c). */
int cmd_loglevel(struct cli *cli, int argc, char **argv);
/* DNS records to publish for a domain, and checking them (cmd_dns.c). */
int cmd_dns(struct cli *cli, int argc, char **argv);

/* Read one line (the password) from stdin without echo when it is a
 * terminal; strips the newline. Returns 0 or -1. */
int cli_read_password(const char *prompt, struct buf *out);

/* Make a self-signed certificate for localhost (key mode 0600) unless both
 * files exist. Returns 0 or -1 with *error_r. */
int selfsigned_ensure(const char *cert_path, const char *key_path,
	const char **error_r);

/* The localserve web server (libmicrohttpd): the account app at "/" and
 * the admin app at "/admin/", with templates_dir and its sibling www/. */
struct websrv;
struct websrv *websrv_start(struct cli *cli, const char *hostport,
	const char *templates_dir, const char **error_r);
void websrv_stop(struct websrv **w);

#endif
