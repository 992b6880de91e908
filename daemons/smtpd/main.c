/* mailstead-smtpd: receives mail for local addresses over SMTP. Loads the
 * configuration, opens the database pool and store, binds the listeners
 * as root, drops privileges, then serves one thread per connection until
 * SIGTERM/SIGINT. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/conf.h"
#include "core/daemon.h"
#include "core/log.h"
#include "core/util.h"
#include "db/db.h"
#include "net/conn.h"
#include "smtp_session.h"
#include "store/store.h"

int
main(int argc, char **argv)
{
	struct conf *conf;
	struct db_pool *pool;
	struct store *store;
	struct smtp_server srv;
	struct net_server ns;
	const char *error;
	char *busy;
	int *fds;
	size_t i;

	conf = daemon_start("mailstead-smtpd", argc, argv);
	if (conf->smtp.l.listen.n == 0) {
		log_info(NULL, "proto=smtp ev=disabled reason=%s",
			lq("no [smtp] listen addresses configured"));
		conf_free(&conf);
		return 0;
	}
	pool = db_pool_create(conf->database.conninfo,
		(unsigned)conf->database.pool_size, &error);
	if (pool == NULL)
		ms_fatal("mailstead-smtpd: database: %s", error);
	if (db_migrate_pool(pool, conf->general.sqldir, &error) < 0)
		ms_fatal("mailstead-smtpd: migrate: %s", error);

	/* Bind while still root (port 25), then give up root for good. */
	fds = xcalloc(conf->smtp.l.listen.n, sizeof(*fds));
	for (i = 0; i < conf->smtp.l.listen.n; i++) {
		fds[i] = net_listen(conf->smtp.l.listen.v[i], &error);
		if (fds[i] < 0)
			ms_fatal("mailstead-smtpd: %s", error);
	}
	if (daemon_drop_privileges(conf->general.user, &error) < 0)
		ms_fatal("mailstead-smtpd: %s", error);
	/* After dropping root, so directories the store creates belong to
	 * the daemon's user. */
	store = store_open(pool, conf->general.datadir, &error);
	if (store == NULL)
		ms_fatal("mailstead-smtpd: store: %s", error);

	srv.conf = conf;
	srv.store = store;
	srv.hostname = conf->general.hostname;
	srv.stop = &daemon_stop;

	ns.fds = fds;
	ns.nfds = conf->smtp.l.listen.n;
	ns.max_conns = (unsigned)conf->smtp.l.max_connections;
	ns.timeout_ms = (int)(conf->smtp.l.timeout * 1000);
	ns.fn = smtp_session_run;
	ns.ctx = &srv;
	ns.proto = "smtp";

	for (i = 0; i < conf->smtp.l.listen.n; i++)
		log_info(NULL, "proto=smtp ev=listen addr=%s", lq(conf->smtp.l.listen.v[i]));
	log_info(NULL, "proto=smtp ev=start hostname=%s version=%s pid=%ld",
		lq(conf->general.hostname), PACKAGE_VERSION, (long)getpid());

	busy = xasprintf("421 4.7.0 %s too many connections\r\n", conf->general.hostname);
	(void)net_serve(&ns, busy, &daemon_stop);

	for (i = 0; i < ns.nfds; i++)
		close(fds[i]);
	/* Sessions still running after net_serve's grace period use the store
	 * and configuration: then leave freeing to the process exit. */
	if (net_active_conns() > 0) {
		log_warn(NULL, "proto=smtp ev=stop sessions_left=%u", net_active_conns());
		return 0;
	}
	log_info(NULL, "proto=smtp ev=stop");
	free(busy);
	free(fds);
	store_close(&store);
	db_pool_destroy(&pool);
	conf_free(&conf);
	return 0;
}
