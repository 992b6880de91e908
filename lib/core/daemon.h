/* Process helpers for daemons: signal handling, dropping root privileges
 * after binding, and the common start-up of config + logging. */
#ifndef MS_DAEMON_H
#define MS_DAEMON_H

#include <signal.h>
#include <stdbool.h>

#include "conf.h"

/* Set by SIGTERM/SIGINT; daemons poll it in their accept loops. */
extern volatile sig_atomic_t daemon_stop;
/* Set by SIGHUP (reload certificates etc.); cleared by the reader. */
extern volatile sig_atomic_t daemon_hup;

/* Install handlers for SIGTERM/SIGINT/SIGHUP and ignore SIGPIPE. */
void daemon_signals(void);

/* When running as root, switch to user (setgid, initgroups, setuid) and
 * verify root cannot be regained. Returns 0 (also when not root), -1 with
 * *error_r when root and user is NULL/unknown or switching fails. */
int daemon_drop_privileges(const char *user, const char **error_r);

/* Parse "-c path" (and --help/--version) from argv for a daemon; load the
 * config (exit 1 with the error on failure) and set up logging. */
struct conf *daemon_start(const char *prog, int argc, char **argv);

#endif
