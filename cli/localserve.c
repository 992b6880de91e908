/* mailstead localserve: a complete Mailstead on one machine with no
 * set-up: a private PostgreSQL cluster in the data directory, the daemons
 * on loopback ports, and a status page. See "mailstead help localserve". */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "core/daemon.h"
#include "core/log.h"
#include "core/util.h"
#include "db/loglevel.h"
#include "web/web.h"

#define LS_USER "mailstead"
#define LS_DOMAIN "localhost"
#define LS_LOCALPART "you"
#define LS_PGPORT "5432"

struct ls {
	char *dir;		/* absolute */
	unsigned smtp_port, imap_port, imaps_port, http_port, submission_port, submissions_port;
	const char *pg_bindir;
	bool root;		/* started as root: runs as LS_USER */
	char *paths_sbin[3];	/* smtpd, imapd, queued binaries */
	char *sqldir, *templatesdir;
	pid_t pids[3];
	int64_t started[3];	/* ms, for restart backoff */
	struct buf password;
	struct buf admin_password;	/* of the admin web interface */
	bool dir_created;	/* -dir did not exist before this run */
	bool pg_started;	/* PostgreSQL runs: stop it on every exit */
	int fails[3];		/* quick successive daemon failures */
};

static const char *const daemon_names[3] = {
	"mailstead-smtpd", "mailstead-imapd", "mailstead-queued",
};

static volatile sig_atomic_t ls_stop, ls_child;
static struct ls *ls_cleanup;	/* for the exit handler */

static void stop_daemons(struct ls *ls);
static void stop_postgres(struct ls *ls);

/* Every exit after PostgreSQL started, including ms_fatal's, stops the
 * daemons and PostgreSQL so nothing is left running. */
static void
ls_atexit(void)
{
	struct ls *ls = ls_cleanup;

	if (ls == NULL)
		return;
	ls_cleanup = NULL;
	stop_daemons(ls);
	if (ls->pg_started)
		stop_postgres(ls);
}

static void
on_stop(int sig)
{
	(void)sig;
	ls_stop = 1;
}

static void
on_child(int sig)
{
	(void)sig;
	ls_child = 1;
}

static char *
path_join(const char *a, const char *b)
{
	return xasprintf("%s/%s", a, b);
}

/* A libpq connection-string value: single-quoted, ' and \ escaped. */
static void
conninfo_quote(struct buf *out, const char *v)
{
	buf_putc(out, '\'');
	for (; *v; v++) {
		if (*v == '\'' || *v == '\\')
			buf_putc(out, '\\');
		buf_putc(out, *v);
	}
	buf_putc(out, '\'');
}

/* A shell word: single-quoted, with ' written as '\''. */
static void
shell_quote(struct buf *out, const char *v)
{
	buf_putc(out, '\'');
	for (; *v; v++) {
		if (*v == '\'')
			buf_puts(out, "'\\''");
		else
			buf_putc(out, *v);
	}
	buf_putc(out, '\'');
}

/* A PostgreSQL configuration string value. */
static void
pgconf_quote(struct buf *out, const char *v)
{
	buf_putc(out, '\'');
	for (; *v; v++) {
		if (*v == '\'')
			buf_putc(out, '\'');
		buf_putc(out, *v);
	}
	buf_putc(out, '\'');
}

static char *
conninfo_for(const struct ls *ls, const char *dbname)
{
	struct buf b;
	char *sock = path_join(ls->dir, "pgsock");

	buf_init(&b);
	buf_puts(&b, "host=");
	conninfo_quote(&b, sock);
	buf_printf(&b, " port=" LS_PGPORT " dbname=%s user=" LS_USER, dbname);
	free(sock);
	{
		char *s = buf_steal(&b);

		buf_free(&b);	/* buf_steal leaves an initialized buffer */
		return s;
	}
}

static bool
is_file(const char *p, int mode)
{
	return access(p, mode) == 0;
}

/* Where this program runs from decides whether the build tree's daemons and
 * SQL files are used, so "./cli/mailstead localserve" works without install. */
static void
find_paths(struct ls *ls)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	bool in_build = false;
	char *builddir_cli = path_join(MS_BUILDDIR, "cli");

	if (n > 0) {
		char *slash;

		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash != NULL) {
			*slash = '\0';
			in_build = strcmp(exe, builddir_cli) == 0;
		}
	}
	free(builddir_cli);
	if (in_build) {
		ls->paths_sbin[0] = path_join(MS_BUILDDIR, "daemons/smtpd/mailstead-smtpd");
		ls->paths_sbin[1] = path_join(MS_BUILDDIR, "daemons/imapd/mailstead-imapd");
		ls->paths_sbin[2] = path_join(MS_BUILDDIR, "daemons/queued/mailstead-queued");
		ls->sqldir = path_join(MS_SRCDIR, "sql");
		ls->templatesdir = path_join(MS_SRCDIR, "templates");
	} else {
		ls->paths_sbin[0] = path_join(MS_SBINDIR, "mailstead-smtpd");
		ls->paths_sbin[1] = path_join(MS_SBINDIR, "mailstead-imapd");
		ls->paths_sbin[2] = path_join(MS_SBINDIR, "mailstead-queued");
		ls->sqldir = xstrdup(MS_SQLDIR);
		ls->templatesdir = path_join(MS_PKGDATADIR, "templates");
	}
}

static const char *
find_pg_bindir(void)
{
	static char found[PATH_MAX];
	const char *env = getenv("PG_BINDIR");
	char *p;
	int v;

	if (env != NULL && env[0] != '\0')
		return env;
	p = path_join(PG_BINDIR, "initdb");
	if (PG_BINDIR[0] != '\0' && is_file(p, X_OK)) {
		free(p);
		return PG_BINDIR;
	}
	free(p);
	for (v = 30; v >= 10; v--) {
		(void)snprintf(found, sizeof(found), "/usr/lib/postgresql/%d/bin", v);
		p = path_join(found, "initdb");
		if (is_file(p, X_OK)) {
			free(p);
			return found;
		}
		free(p);
	}
	return NULL;
}

/* Run argv, with stdout/stderr appended to logpath (or inherited when
 * NULL). Returns the exit status, or -1. */
static int
run(char *const argv[], const char *logpath)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (logpath != NULL) {
			int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
			if (fd >= 0) {
				dup2(fd, 1);
				dup2(fd, 2);
			}
		}
		execv(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void
ensure_user(void)
{
	char *argv[] = { "/usr/sbin/useradd", "--system", "--user-group",
		"--no-create-home", "--home-dir", "/nonexistent", "--shell",
		"/usr/sbin/nologin", LS_USER, NULL };

	if (getpwnam(LS_USER) != NULL)
		return;
	printf("creating system user %s to run PostgreSQL and the daemons (we are root)\n", LS_USER);
	if (run(argv, NULL) != 0 || getpwnam(LS_USER) == NULL)
		ms_fatal("mailstead localserve: could not create user %s; create it with: "
			"useradd --system --user-group %s", LS_USER, LS_USER);
}

static bool
dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	bool empty = true;

	if (d == NULL)
		return false;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			empty = false;
	closedir(d);
	return empty;
}

/* As root, make the data directory reachable for LS_USER: own it, and give
 * search (x) permission on parent directories that lack it (e.g. /root). */
static void
prepare_root(struct ls *ls)
{
	struct passwd *pw;
	char *p, *slash;

	ensure_user();
	pw = getpwnam(LS_USER);
	if (!ls->dir_created) {
		struct stat stb;

		/* Never hand an existing directory with someone else's files
		 * (say /root) to the unprivileged user. */
		if (stat(ls->dir, &stb) == 0 && stb.st_uid != pw->pw_uid && !dir_is_empty(ls->dir))
			ms_fatal("mailstead localserve: %s exists, is not empty and is not owned by %s; "
				"choose a new -dir", ls->dir, LS_USER);
	}
	if (chown(ls->dir, pw->pw_uid, pw->pw_gid) < 0)
		ms_fatal("mailstead localserve: chown %s: %s", ls->dir, strerror(errno));
	p = xstrdup(ls->dir);
	while ((slash = strrchr(p, '/')) != NULL && slash != p) {
		struct stat stb;

		*slash = '\0';
		if (stat(p, &stb) < 0)
			break;
		if (stb.st_uid == pw->pw_uid || (stb.st_mode & S_IXOTH) ||
		    (stb.st_gid == pw->pw_gid && (stb.st_mode & S_IXGRP)))
			continue;
		if (chmod(p, (stb.st_mode & 07777) | S_IXOTH) < 0)
			ms_fatal("mailstead localserve: %s is not searchable by user %s and chmod failed: %s",
				p, LS_USER, strerror(errno));
		printf("granted search permission (o+x) on %s so user %s can reach %s\n",
			p, LS_USER, ls->dir);
	}
	free(p);
}

static void
write_file(const char *path, const char *content, mode_t mode)
{
	char *tmp = xasprintf("%s.tmp", path);
	int fd;

	/* A leftover temporary file must not lend us its permissions. */
	(void)unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0 || ms_write_all(fd, content, strlen(content)) < 0 || fsync(fd) < 0)
		ms_fatal("mailstead localserve: writing %s: %s", tmp, strerror(errno));
	close(fd);
	if (rename(tmp, path) < 0)
		ms_fatal("mailstead localserve: rename %s: %s", tmp, strerror(errno));
	free(tmp);
}

static void
start_postgres(struct ls *ls)
{
	char *pgdata = path_join(ls->dir, "pgdata");
	char *sock = path_join(ls->dir, "pgsock");
	char *log = path_join(ls->dir, "postgresql.log");
	char *initdb = path_join(ls->pg_bindir, "initdb");
	char *pgctl = path_join(ls->pg_bindir, "pg_ctl");
	char *version = path_join(pgdata, "PG_VERSION");
	char *opts;
	struct sockaddr_un sun;

	if (strlen(sock) + strlen("/.s.PGSQL." LS_PGPORT) >= sizeof(sun.sun_path))
		ms_fatal("mailstead localserve: directory path %s is too long for a unix socket; "
			"use a shorter -dir", ls->dir);
	if (mkdir(sock, 0755) < 0 && errno != EEXIST)
		ms_fatal("mailstead localserve: mkdir %s: %s", sock, strerror(errno));
	if (!is_file(version, F_OK)) {
		char *argv[] = { initdb, "-D", pgdata, "-U", LS_USER, "--auth=trust",
			"-E", "UTF8", "--locale=C", NULL };

		printf("creating PostgreSQL cluster in %s\n", pgdata);
		fflush(stdout);
		if (run(argv, log) != 0)
			ms_fatal("mailstead localserve: initdb failed; see %s", log);
	}
	{
		/* Our settings live in an included file rewritten at every start,
		 * so a moved data directory keeps working and paths with spaces
		 * need no shell quoting. */
		char *inc = path_join(pgdata, "mailstead-localserve.conf");
		char *main_conf = path_join(pgdata, "postgresql.conf");
		struct buf b, conf;

		buf_init(&b);
		buf_init(&conf);
		buf_puts(&b, "# Written by mailstead localserve at each start.\n"
			"listen_addresses = ''\nport = " LS_PGPORT "\nunix_socket_directories = ");
		pgconf_quote(&b, sock);
		buf_putc(&b, '\n');
		write_file(inc, b.data, 0600);
		if (ms_read_file(main_conf, &conf) < 0)
			ms_fatal("mailstead localserve: reading %s: %s", main_conf, strerror(errno));
		if (strstr(conf.data, "include_if_exists = 'mailstead-localserve.conf'") == NULL) {
			buf_puts(&conf, "\ninclude_if_exists = 'mailstead-localserve.conf'\n");
			write_file(main_conf, conf.data, 0600);
		}
		buf_free(&b);
		buf_free(&conf);
		free(inc);
		free(main_conf);
	}
	opts = NULL;
	{
		char *status_argv[] = { pgctl, "-D", pgdata, "status", NULL };
		char *argv[] = { pgctl, "-D", pgdata, "-l", log, "-w", "-t", "60", "start", NULL };

		if (run(status_argv, "/dev/null") == 0) {
			/* Left running by a localserve that was killed. */
			printf("PostgreSQL is already running for %s; using it\n", pgdata);
		} else {
			printf("starting PostgreSQL (log: %s)\n", log);
			fflush(stdout);
			ls->pg_started = true;	/* from here on, stop it on exit */
			if (run(argv, NULL) != 0)
				ms_fatal("mailstead localserve: PostgreSQL did not start; see %s", log);
		}
		ls->pg_started = true;
	}
	free(opts);
	free(pgdata);
	free(sock);
	free(log);
	free(initdb);
	free(pgctl);
	free(version);
}

static void
stop_postgres(struct ls *ls)
{
	char *pgdata = path_join(ls->dir, "pgdata");
	char *pgctl = path_join(ls->pg_bindir, "pg_ctl");
	char *argv[] = { pgctl, "-D", pgdata, "-m", "fast", "-w", "stop", NULL };

	if (run(argv, NULL) != 0)
		log_warn(NULL, "ev=postgres-stop-failed");
	free(pgdata);
	free(pgctl);
}

static void
create_database(struct ls *ls)
{
	char *ci = conninfo_for(ls, "postgres");
	PGconn *c = db_connect(ci);
	PGresult *res;
	const char *error;

	if (PQstatus(c) != CONNECTION_OK)
		ms_fatal("mailstead localserve: connecting to PostgreSQL: %s", PQerrorMessage(c));
	res = db_execv(c, &error, "SELECT 1 FROM pg_database WHERE datname = 'mailstead'", 0);
	if (res == NULL)
		ms_fatal("mailstead localserve: %s", error);
	if (PQntuples(res) == 0 &&
	    db_cmd(c, &error, "CREATE DATABASE mailstead", 0) < 0)
		ms_fatal("mailstead localserve: %s", error);
	PQclear(res);
	PQfinish(c);
	free(ci);
}

static void
write_config(struct ls *ls)
{
	struct buf b;
	char *path = path_join(ls->dir, "mailstead.conf");
	char *ci = conninfo_for(ls, "mailstead");

	buf_init(&b);
	buf_printf(&b,
		"; Generated by \"mailstead localserve\" on each start; edits are overwritten.\n"
		"; Use it with other commands: mailstead -c %s/mailstead.conf ...\n"
		"[general]\n"
		"hostname = localhost\n"
		"datadir = %s/data\n"
		"%s"
		"loglevel = info\n"
		"sqldir = %s\n\n"
		"[database]\n"
		"conninfo = %s\n"
		"pool_size = 8\n\n"
		"[web]\n"
		"listen = 127.0.0.1:%u\n\n"
		"[dns]\n"
		"; Lookups (SPF, DKIM, DMARC, iprev) are answered from this zone file,\n"
		"; never from the internet; add records to it to try things out.\n"
		"zone_file = %s/dns.zone\n\n"
		"[listener local]\n"
		"ips = 127.0.0.1\n"
		"hostname = localhost\n"
		"tls_cert = %s/tls/localhost.crt\n"
		"tls_key = %s/tls/localhost.key\n"
		"smtp = %u\n"
		"submission = %u\n"
		"submissions = %u\n"
		"imap = %u\n"
		"imaps = %u\n"
		"; Plain-text logins are fine on loopback.\n"
		"imap_require_starttls = no\n\n"
		"[smtp]\n"
		"; Testing only: on the smtp port, mail for addresses that are not ours\n"
		"; is delivered to this account instead of refused, and recipient\n"
		"; localparts ending in temperror, permerror, timeout or a code 400-599\n"
		"; fail (at RCPT TO when they start with rcptto, at MAIL FROM for senders\n"
		"; starting with mailfrom, else after DATA).\n"
		"localserve_account = " LS_LOCALPART "@" LS_DOMAIN "\n\n"
		"[queue]\n"
		"; Nothing goes to the internet: outgoing mail is handed to our own smtp\n"
		"; port, which delivers it to the account above (or fails as asked).\n"
		"transport = localserve\n"
		"; Retry soon (5s, then doubling) so simulated temporary failures show.\n"
		"backoff_ms = 5000\n"
		"command_timeout = 1m\n\n"
		"[transport localserve]\n"
		"type = smtp\n"
		"host = 127.0.0.1\n"
		"port = %u\n"
		"; STARTTLS with our own self-signed certificate.\n"
		"tls_verify = no\n",
		ls->dir, ls->dir, ls->root ? "user = " LS_USER "\n" : "", ls->sqldir, ci,
		ls->http_port, ls->dir, ls->dir, ls->dir, ls->smtp_port, ls->submission_port,
		ls->submissions_port, ls->imap_port, ls->imaps_port, ls->smtp_port);
	write_file(path, b.data, 0640);
	buf_free(&b);
	free(path);
	free(ci);
	/* The zone is created once and then left to the user's edits. */
	path = path_join(ls->dir, "dns.zone");
	if (access(path, F_OK) != 0) {
		static const char zone[] =
			"; DNS for mailstead localserve: every lookup of the daemons is\n"
			"; answered from this file (names not in it do not exist). Records in\n"
			"; zone-file format, e.g.\n"
			";   example.org. IN TXT \"v=spf1 ip4:127.0.0.1 -all\"\n"
			"; Restart localserve after changes.\n"
			"localhost. IN A 127.0.0.1\n"
			"localhost. IN AAAA ::1\n"
			"localhost. IN MX 10 localhost.\n"
			"localhost. IN TXT \"v=spf1 ip4:127.0.0.1 ip6:::1 -all\"\n"
			"1.0.0.127.in-addr.arpa. IN PTR localhost.\n"
			"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa. IN PTR localhost.\n";

		write_file(path, zone, 0644);
	}
	free(path);
}

/* Read PASSWORD=... and ADMIN_PASSWORD=... from an existing
 * localserve.env. */
static void
load_password(struct ls *ls)
{
	char *path = path_join(ls->dir, "localserve.env");
	struct buf env;
	const char *p;

	buf_init(&env);
	if (ms_read_file(path, &env) == 0 && (p = strstr(env.data, "\nPASSWORD='")) != NULL) {
		p += strlen("\nPASSWORD='");
		buf_append(&ls->password, p, strcspn(p, "'\n"));
	}
	if (env.len > 0 && (p = strstr(env.data, "\nADMIN_PASSWORD='")) != NULL) {
		p += strlen("\nADMIN_PASSWORD='");
		buf_append(&ls->admin_password, p, strcspn(p, "'\n"));
	}
	buf_wipe(&env);
	buf_free(&env);
	free(path);
}

static void
env_line(struct buf *b, const char *name, const char *value)
{
	buf_printf(b, "%s=", name);
	shell_quote(b, value);
	buf_putc(b, '\n');
}

static void
write_env(struct ls *ls)
{
	struct buf b, v;
	char *path = path_join(ls->dir, "localserve.env");

	buf_init(&b);
	buf_init(&v);
	buf_puts(&b, "# Written by \"mailstead localserve\"; source it in shell scripts.\n");
	env_line(&b, "MAILSTEAD_DIR", ls->dir);
	/* load_password finds the password on the line "PASSWORD='...'". */
	env_line(&b, "PASSWORD", ls->password.data);
	env_line(&b, "ADMIN_PASSWORD", ls->admin_password.data);
	buf_printf(&v, "%s/mailstead.conf", ls->dir);
	env_line(&b, "MAILSTEAD_CONF", v.data);
	buf_printf(&b, "SMTP_PORT=%u\nSUBMISSION_PORT=%u\nSUBMISSIONS_PORT=%u\n"
		"IMAP_PORT=%u\nIMAPS_PORT=%u\nHTTP_PORT=%u\n", ls->smtp_port, ls->submission_port,
		ls->submissions_port, ls->imap_port, ls->imaps_port, ls->http_port);
	env_line(&b, "ACCOUNT", LS_LOCALPART "@" LS_DOMAIN);
	buf_reset(&v);
	buf_printf(&v, "%s/tls/localhost.crt", ls->dir);
	env_line(&b, "TLS_CERT", v.data);
	buf_reset(&v);
	buf_printf(&v, "%s/tls/localhost.key", ls->dir);
	env_line(&b, "TLS_KEY", v.data);
	buf_reset(&v);
	buf_printf(&v, "%s/pgsock", ls->dir);
	env_line(&b, "PGHOST", v.data);
	buf_puts(&b, "PGPORT=" LS_PGPORT "\nPGDATABASE=mailstead\nPGUSER=" LS_USER "\n"
		"export MAILSTEAD_CONF PGHOST PGPORT PGDATABASE PGUSER\n");
	write_file(path, b.data, 0600);
	buf_wipe(&b);
	buf_free(&b);
	buf_free(&v);
	free(path);
}

/* Keep a week of delivery and webhook history, so "mailstead queue retired
 * list" shows what happened to sent mail (the default keeps none). */
static void
keep_history(struct store *st, int64_t id)
{
	const char *error;
	char ids[24];
	PGconn *c = db_get(st->pool, &error);

	(void)snprintf(ids, sizeof(ids), "%lld", (long long)id);
	if (c == NULL || db_cmd(c, &error, "UPDATE accounts SET keep_retired_message_period = "
		    "'7 days', keep_retired_webhook_period = '7 days' WHERE id = $1", 1, ids) < 0)
		ms_fatal("mailstead localserve: %s", error);
	db_put(st->pool, c);
}

static void
setup_account(struct ls *ls, struct store *st)
{
	const char *error;
	int64_t id;
	int found;

	found = store_account_find(st, LS_LOCALPART "@" LS_DOMAIN, &id, &error);
	if (found < 0)
		ms_fatal("mailstead localserve: %s", error);
	if (found && ls->password.len > 0)
		return;
	if (!found) {
		if (store_domain_add(st, LS_DOMAIN, &error) < 0 &&
		    strstr(error, "already exists") == NULL)
			ms_fatal("mailstead localserve: %s", error);
		if (store_account_add(st, LS_LOCALPART, LS_DOMAIN, &id, &error) < 0)
			ms_fatal("mailstead localserve: %s", error);
		/* Like a developer's mail catcher: every address @localhost
		 * is delivered to this account. */
		if (store_address_add(st, "", LS_DOMAIN, id, &error) < 0)
			ms_fatal("mailstead localserve: %s", error);
		keep_history(st, id);
	}
	buf_reset(&ls->password);
	ms_random_token(&ls->password, 12);
	if (store_password_set(st, id, ls->password.data, &error) < 0)
		ms_fatal("mailstead localserve: %s", error);
}

/* The admin web interface's password: made once, kept in localserve.env. */
static void
setup_admin_password(struct ls *ls, struct store *st)
{
	const char *error;

	if (ls->admin_password.len > 0)
		return;
	ms_random_token(&ls->admin_password, 12);
	if (web_admin_password_set(st->pool, ls->admin_password.data, &error) < 0)
		ms_fatal("mailstead localserve: admin password: %s", error);
}

static pid_t
spawn_daemon(struct ls *ls, int i)
{
	char *conf = path_join(ls->dir, "mailstead.conf");
	pid_t pid = fork();

	if (pid < 0)
		ms_fatal("fork: %s", strerror(errno));
	if (pid == 0) {
		char *argv[] = { ls->paths_sbin[i], "-c", conf, NULL };
		sigset_t all;

		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		dup2(1, 2);	/* all logs on standard output */
		execv(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	free(conf);
	ls->started[i] = ms_mono_ms();
	return pid;
}

/* Restart daemons that exited unexpectedly (at most once a second). */
static void
reap(struct ls *ls)
{
	pid_t pid;
	int st, i;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (i = 0; i < 3; i++) {
			if (pid != ls->pids[i])
				continue;
			ls->pids[i] = 0;
			if (ls_stop)
				break;
			log_warn(NULL, "ev=daemon-exited daemon=%s status=%d", daemon_names[i],
				WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st));
			/* A daemon that keeps dying right after start (port in
			 * use, bad configuration) is not restarted forever. */
			if (ms_mono_ms() - ls->started[i] < 5000) {
				if (++ls->fails[i] >= 5)
					ms_fatal("mailstead localserve: %s keeps exiting; stopping",
						daemon_names[i]);
				sleep(1);
			} else {
				ls->fails[i] = 0;
			}
			ls->pids[i] = spawn_daemon(ls, i);
		}
	}
}

static void
stop_daemons(struct ls *ls)
{
	int i, waited;

	for (i = 0; i < 3; i++)
		if (ls->pids[i] > 0)
			kill(ls->pids[i], SIGTERM);
	for (waited = 0; waited < 150; waited++) {
		bool any = false;

		for (i = 0; i < 3; i++) {
			if (ls->pids[i] > 0 && waitpid(ls->pids[i], NULL, WNOHANG) == ls->pids[i])
				ls->pids[i] = 0;
			any |= ls->pids[i] > 0;
		}
		if (!any)
			return;
		usleep(100 * 1000);
	}
	for (i = 0; i < 3; i++)
		if (ls->pids[i] > 0) {
			kill(ls->pids[i], SIGKILL);
			waitpid(ls->pids[i], NULL, 0);
		}
}

static int
parse_port(const char *s, unsigned *out)
{
	uint64_t v;

	if (ms_parse_u64(s, 1, 65535, &v) < 0)
		return -1;
	*out = (unsigned)v;
	return 0;
}

int
cmd_localserve(struct cli *cli, int argc, char **argv)
{
	struct ls ls;
	const char *dir = "mailstead-local", *error;
	struct sigaction sa;
	struct websrv *web;
	struct store *st;
	char *http, *conf_path;
	sigset_t block, old;
	int i;

	memset(&ls, 0, sizeof(ls));
	ls.smtp_port = 1025;
	ls.imap_port = 1143;
	ls.imaps_port = 1993;
	ls.http_port = 1080;
	ls.submission_port = 1587;
	ls.submissions_port = 1465;
	for (i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			return 2;
		if (strcmp(argv[i], "-dir") == 0)
			dir = argv[++i];
		else if (strcmp(argv[i], "-smtp-port") == 0 && parse_port(argv[i + 1], &ls.smtp_port) == 0)
			i++;
		else if (strcmp(argv[i], "-imap-port") == 0 && parse_port(argv[i + 1], &ls.imap_port) == 0)
			i++;
		else if (strcmp(argv[i], "-imaps-port") == 0 &&
			 parse_port(argv[i + 1], &ls.imaps_port) == 0)
			i++;
		else if (strcmp(argv[i], "-http-port") == 0 && parse_port(argv[i + 1], &ls.http_port) == 0)
			i++;
		else if (strcmp(argv[i], "-submission-port") == 0 &&
			 parse_port(argv[i + 1], &ls.submission_port) == 0)
			i++;
		else if (strcmp(argv[i], "-submissions-port") == 0 &&
			 parse_port(argv[i + 1], &ls.submissions_port) == 0)
			i++;
		else
			return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	log_init("mailstead-localserve", MS_LOG_INFO, 1);
	buf_init(&ls.password);
	buf_init(&ls.admin_password);
	ls.pg_bindir = find_pg_bindir();
	if (ls.pg_bindir == NULL)
		ms_fatal("mailstead localserve: PostgreSQL server programs (initdb, pg_ctl) not found; "
			"install the Debian package postgresql, or set PG_BINDIR");
	find_paths(&ls);
	for (i = 0; i < 3; i++)
		if (!is_file(ls.paths_sbin[i], X_OK))
			ms_fatal("mailstead localserve: %s not found (build with make, or make install)",
				ls.paths_sbin[i]);
	if (strpbrk(dir, " \t\n;#\"'\\") != NULL)
		ms_fatal("mailstead localserve: -dir %s: use a path without spaces, quotes, ';' or '#' "
			"(it goes into mailstead.conf and a shell file)", dir);
	ls.dir_created = access(dir, F_OK) != 0;
	if (ms_mkdir_p(dir, 0750) < 0)
		ms_fatal("mailstead localserve: creating %s: %s", dir, strerror(errno));
	ls.dir = realpath(dir, NULL);
	if (ls.dir == NULL)
		ms_fatal("mailstead localserve: %s: %s", dir, strerror(errno));

	ls.root = geteuid() == 0;
	if (ls.root) {
		/* PostgreSQL refuses to run as root, and protocol code must not
		 * run as root either: everything runs as LS_USER. */
		prepare_root(&ls);
		if (daemon_drop_privileges(LS_USER, &error) < 0)
			ms_fatal("mailstead localserve: %s", error);
		printf("running as user %s\n", LS_USER);
	}
	umask(027);

	/* Block the stop signals until the daemons run, then wait for them. */
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_child;
	sigaction(SIGCHLD, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	{
		char *tlsdir = path_join(ls.dir, "tls");
		char *crt = path_join(tlsdir, "localhost.crt");
		char *key = path_join(tlsdir, "localhost.key");

		if (mkdir(tlsdir, 0750) < 0 && errno != EEXIST)
			ms_fatal("mailstead localserve: mkdir %s: %s", tlsdir, strerror(errno));
		if (selfsigned_ensure(crt, key, &error) < 0)
			ms_fatal("mailstead localserve: TLS certificate: %s", error);
		free(tlsdir);
		free(crt);
		free(key);
	}
	ls_cleanup = &ls;
	atexit(ls_atexit);
	start_postgres(&ls);
	create_database(&ls);
	write_config(&ls);
	conf_path = path_join(ls.dir, "mailstead.conf");
	cli->conf_path = conf_path;
	st = cli_store(cli);
	{
		PGconn *c = db_get(cli->pool, &error);
		unsigned applied = 0;

		if (c == NULL || db_migrate(c, cli->conf->general.sqldir, &applied, &error) < 0)
			ms_fatal("mailstead localserve: migrate: %s", error);
		db_put(cli->pool, c);
		if (applied > 0)
			printf("applied %u database migration%s\n", applied, applied == 1 ? "" : "s");
	}
	load_password(&ls);
	setup_account(&ls, st);
	setup_admin_password(&ls, st);
	write_env(&ls);

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block, &old);
	for (i = 0; i < 3 && !ls_stop; i++)
		ls.pids[i] = spawn_daemon(&ls, i);
	http = xasprintf("127.0.0.1:%u", ls.http_port);
	web = websrv_start(cli, http, ls.templatesdir, &error);
	if (web == NULL)
		log_error(NULL, "ev=web-start-failed error=%s", lq(error));
	/* The web programs run in this process: it logs at the most verbose
	 * level set for any of them (the daemons watch their own). */
	if (loglevel_watch_start(cli->pool, "admin,account,webmail,webapi",
		    loglevel_conf_level(cli->conf->general.loglevel), &error) < 0)
		log_error(NULL, "ev=loglevel-watch-failed error=%s", lq(error));

	printf("\n"
		"Mailstead localserve is running (data in %s)\n"
		"  account:  " LS_LOCALPART "@" LS_DOMAIN " (every address @" LS_DOMAIN " delivers here)\n"
		"  password: %s\n"
		"  SMTP:     127.0.0.1:%u   e.g. swaks --server 127.0.0.1:%u --to " LS_LOCALPART "@" LS_DOMAIN "\n"
		"  submission: 127.0.0.1:%u (STARTTLS), 127.0.0.1:%u (TLS), self-signed certificate\n"
		"            %s/tls/localhost.crt; e.g. swaks --server 127.0.0.1:%u --tls --auth-user\n"
		"            " LS_LOCALPART "@" LS_DOMAIN " --auth-password PASSWORD --to someone@example.org\n"
		"  sent mail: never leaves this machine: the queue delivers it to this account\n"
		"            (history: mailstead queue retired list); localparts ending in\n"
		"            temperror, permerror, timeout or a code 400-599 simulate failures,\n"
		"            e.g. rcpttopermerror@example.org (see the README)\n"
		"  IMAP:     127.0.0.1:%u (STARTTLS; plain-text login allowed on loopback),\n"
		"            127.0.0.1:%u (TLS), user " LS_LOCALPART "@" LS_DOMAIN
		", same certificate\n"
		"  account:  http://%s/ (log in with the account and password above)\n"
		"  admin:    http://%s/admin/ password %s\n"
		"  webmail:  http://%s/webmail/ (log in with the account and password above)\n"
		"  webapi:   http://%s/webapi/v0/ (HTTP Basic auth with the account and password)\n"
		"  status:   http://%s/status/\n"
		"  psql:     . %s/localserve.env && psql\n"
		"Press Ctrl-C to stop.\n\n",
		ls.dir, ls.password.data, ls.smtp_port, ls.smtp_port, ls.submission_port,
		ls.submissions_port, ls.dir, ls.submission_port, ls.imap_port, ls.imaps_port, http,
		http, ls.admin_password.data, http, http, http, ls.dir);
	while (!ls_stop) {
		sigsuspend(&old);
		if (ls_child) {
			ls_child = 0;
			reap(&ls);
		}
	}
	printf("stopping\n");
	ls_cleanup = NULL;
	stop_daemons(&ls);
	loglevel_watch_stop();
	websrv_stop(&web);
	store_close(&cli->store);
	db_pool_destroy(&cli->pool);
	stop_postgres(&ls);
	printf("stopped\n");
	free(http);
	conf_free(&cli->conf);
	cli->conf_path = NULL;
	free(conf_path);
	buf_wipe(&ls.password);
	buf_free(&ls.password);
	buf_wipe(&ls.admin_password);
	buf_free(&ls.admin_password);
	for (i = 0; i < 3; i++)
		free(ls.paths_sbin[i]);
	free(ls.sqldir);
	free(ls.templatesdir);
	free(ls.dir);
	return 0;
}
