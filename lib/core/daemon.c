/* Daemon start-up shared by smtpd, imapd and queued. */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

volatile sig_atomic_t daemon_stop;
volatile sig_atomic_t daemon_hup;

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		daemon_hup = 1;
	else
		daemon_stop = 1;
}

void
daemon_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

int
daemon_drop_privileges(const char *user, const char **error_r)
{
	struct passwd *pw;

	if (geteuid() != 0)
		return 0;
	if (user == NULL || user[0] == '\0') {
		*error_r = ms_err("running as root: set [general] user to an unprivileged user");
		return -1;
	}
	errno = 0;
	pw = getpwnam(user);
	if (pw == NULL) {
		*error_r = ms_err("user %s does not exist (create it with: useradd --system %s)",
			user, user);
		return -1;
	}
	if (pw->pw_uid == 0) {
		*error_r = ms_err("[general] user %s is root; use an unprivileged user", user);
		return -1;
	}
	if (setgid(pw->pw_gid) < 0 || initgroups(user, pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0) {
		*error_r = ms_err("switching to user %s: %s", user, strerror(errno));
		return -1;
	}
	if (setuid(0) == 0) {
		*error_r = ms_err("could regain root after switching to %s", user);
		return -1;
	}
	return 0;
}

struct conf *
daemon_start(const char *prog, int argc, char **argv)
{
	const char *path = MS_SYSCONFDIR "/mailstead.conf", *error;
	enum ms_log_level lvl;
	struct conf *conf;
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			path = argv[++i];
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("%s %s\n", prog, PACKAGE_VERSION);
			exit(0);
		} else {
			fprintf(stderr, "usage: %s [-c mailstead.conf]\n", prog);
			exit(strcmp(argv[i], "--help") == 0 ? 0 : 2);
		}
	}
	if (conf_load(path, &conf, &error) < 0)
		ms_fatal("%s: %s", prog, error);
	if (log_parse_level(conf->general.loglevel, &lvl) < 0)
		lvl = MS_LOG_INFO;
	log_init(prog, lvl, 2);
	daemon_signals();
	return conf;
}
