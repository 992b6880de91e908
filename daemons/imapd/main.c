/* mailstead-imapd: IMAP4rev2/IMAP4rev1 server. Binds the listeners as root,
 * drops privileges, starts the change-notification listener and serves one
 * thread per connection (imap_session.c). */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/conf.h"
#include "core/daemon.h"
#include "core/log.h"
#include "core/util.h"
#include "db/db.h"
#include "net/conn.h"
#include "store/store.h"
#include "imap_notify.h"
#include "imap_session.h"

/* Wake every session once the daemon is told to stop, so sessions waiting
 * for a command or in IDLE say "* BYE" right away. */
static void *
stop_watcher(void *arg)
{
	struct imap_registry *reg = arg;

	while (!daemon_stop)
		usleep(200 * 1000);
	imap_registry_wake(reg, -1);
	return NULL;
}

int
main(int argc, char **argv)
{
	struct conf *conf = daemon_start("mailstead-imapd", argc, argv);
	struct db_listener *listener;
	struct net_server srv;
	struct db_pool *pool;
	struct imapd d;
	pthread_t watcher;
	const char *error;
	size_t i, nfds = 0;
	int *fds;

	/* Bind while still root (ports below 1024): the imap port of every
	 * listener on each of its IPs. */
	{
		size_t li, ip, max = 0;

		for (li = 0; li < conf->nlisteners; li++)
			max += conf->listeners[li].ips.n;
		fds = xcalloc(max ? max : 1, sizeof(*fds));
		for (li = 0; li < conf->nlisteners; li++) {
			const struct conf_listener_def *l = &conf->listeners[li];

			if (l->imaps != 0)
				ms_fatal("mailstead-imapd: [listener %s] imaps: implicit TLS for IMAP "
					"is not available in this version; use imap", l->name);
			for (ip = 0; l->imap != 0 && ip < l->ips.n; ip++) {
				char *addr = conf_hostport(l->ips.v[ip], (unsigned)l->imap);

				fds[nfds] = net_listen(addr, &error);
				if (fds[nfds] < 0)
					ms_fatal("mailstead-imapd: [listener %s] imap: %s", l->name, error);
				nfds++;
				log_info(NULL, "proto=imap ev=listen listener=%s addr=%s", lq(l->name),
					lq(addr));
				free(addr);
			}
		}
		if (nfds == 0)
			ms_fatal("mailstead-imapd: no listener has an imap port");
	}
	if (daemon_drop_privileges(conf->general.user, &error) < 0)
		ms_fatal("mailstead-imapd: %s", error);

	pool = db_pool_create(conf->database.conninfo, (unsigned)conf->database.pool_size,
		&error);
	if (pool == NULL)
		ms_fatal("mailstead-imapd: database: %s", error);
	if (db_migrate_pool(pool, conf->general.sqldir, &error) < 0)
		ms_fatal("mailstead-imapd: migrate: %s", error);
	memset(&d, 0, sizeof(d));
	d.conf = conf;
	d.store = store_open(pool, conf->general.datadir, STORE_OPEN_DIRS, &error);
	if (d.store == NULL)
		ms_fatal("mailstead-imapd: store: %s", error);
	d.registry = imap_registry_new();
	/* IMAP has no STARTTLS yet (IMAP issue): plain-text logins are only
	 * allowed when every listener with an imap port says
	 * imap_require_starttls = no (e.g. loopback listeners); otherwise
	 * CAPABILITY shows LOGINDISABLED and logins are refused. */
	d.plaintext_auth = true;
	for (i = 0; i < conf->nlisteners; i++)
		if (conf->listeners[i].imap != 0 && conf->listeners[i].imap_require_starttls)
			d.plaintext_auth = false;
	if (!d.plaintext_auth)
		log_warn(NULL, "proto=imap ev=logindisabled reason=%s",
			lq("imap_require_starttls is set and IMAP STARTTLS is not available yet"));

	listener = db_listener_start(conf->database.conninfo, &error);
	if (listener == NULL)
		ms_fatal("mailstead-imapd: change listener: %s", error);
	(void)db_listener_subscribe(listener, STORE_NOTIFY_CHANNEL,
		imap_registry_on_notify, d.registry);
	if (pthread_create(&watcher, NULL, stop_watcher, d.registry) != 0)
		ms_fatal("mailstead-imapd: cannot start thread");

	memset(&srv, 0, sizeof(srv));
	srv.fds = fds;
	srv.nfds = nfds;
	srv.max_conns = (unsigned)conf->imap.l.max_connections;
	srv.timeout_ms = (int)(conf->imap.l.timeout * 1000);
	srv.fn = imap_session_run;
	srv.ctx = &d;
	srv.proto = "imap";
	net_serve(&srv, "* BYE too many connections\r\n", &daemon_stop);
	log_info(NULL, "proto=imap ev=stop");

	pthread_join(watcher, NULL);
	db_listener_stop(&listener);
	for (i = 0; i < srv.nfds; i++)
		close(fds[i]);
	free(fds);
	/* Sessions still running after net_serve's grace period may use the
	 * store and the configuration: then exit without tearing them down. */
	if (net_active_conns() == 0) {
		store_close(&d.store);
		db_pool_destroy(&pool);
		imap_registry_free(&d.registry);
		conf_free(&conf);
	}
	return 0;
}
