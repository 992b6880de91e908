/* mailstead-smtpd: receives mail for local addresses over SMTP. Loads the
 * configuration, opens the database pool and store, binds the listeners
 * as root, drops privileges, then serves one thread per connection until
 * SIGTERM/SIGINT. */
#include "config.h"

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
#include "smtp_session.h"
#include "store/store.h"

static const char *const kind_names[] = { "smtp", "submission", "submissions" };

/* One listening socket per IP of every listener service (smtp, submission,
 * submissions), bound while still root. */
struct bound {
	int *fds;
	void **ctx;
	size_t n;
	struct smtp_server *servers;	/* one per listener and kind */
	size_t nservers;
};

static void
bind_all(struct conf *conf, struct bound *b)
{
	size_t li, ip, k, max = 0;
	const char *error;

	for (li = 0; li < conf->nlisteners; li++)
		max += 3 * conf->listeners[li].ips.n;
	b->fds = xcalloc(max ? max : 1, sizeof(int));
	b->ctx = xcalloc(max ? max : 1, sizeof(void *));
	b->servers = xcalloc(conf->nlisteners * 3 + 1, sizeof(struct smtp_server));
	for (li = 0; li < conf->nlisteners; li++) {
		const struct conf_listener_def *l = &conf->listeners[li];
		uint64_t ports[3] = { l->smtp, l->submission, l->submissions };

		for (k = 0; k < 3; k++) {
			struct smtp_server *srv;

			if (ports[k] == 0)
				continue;
			srv = &b->servers[b->nservers++];
			srv->conf = conf;
			srv->listener = l;
			srv->kind = (enum smtp_kind)k;
			srv->hostname = l->hostname;
			srv->max_message_size = l->max_message_size;
			srv->stop = &daemon_stop;
			for (ip = 0; ip < l->ips.n; ip++) {
				char *addr = conf_hostport(l->ips.v[ip], (unsigned)ports[k]);

				b->fds[b->n] = net_listen(addr, &error);
				if (b->fds[b->n] < 0)
					ms_fatal("mailstead-smtpd: [listener %s] %s: %s", l->name,
						kind_names[k], error);
				b->ctx[b->n++] = srv;
				log_info(NULL, "proto=smtp ev=listen listener=%s service=%s addr=%s",
					lq(l->name), kind_names[k], lq(addr));
				free(addr);
			}
		}
	}
}

int
main(int argc, char **argv)
{
	struct conf *conf;
	struct db_pool *pool;
	struct store *store;
	struct net_server ns;
	struct bound b;
	const char *error;
	char *busy;
	size_t i;

	conf = daemon_start("mailstead-smtpd", argc, argv);
	memset(&b, 0, sizeof(b));
	/* Bind while still root (port 25), then give up root for good. */
	bind_all(conf, &b);
	if (b.n == 0) {
		log_info(NULL, "proto=smtp ev=disabled reason=%s",
			lq("no listener has smtp, submission or submissions ports"));
		conf_free(&conf);
		return 0;
	}
	if (daemon_drop_privileges(conf->general.user, &error) < 0)
		ms_fatal("mailstead-smtpd: %s", error);
	/* Everything else as the unprivileged user: the database identity
	 * (peer authentication) and the owner of the directories created. */
	pool = db_pool_create(conf->database.conninfo,
		(unsigned)conf->database.pool_size, &error);
	if (pool == NULL)
		ms_fatal("mailstead-smtpd: database: %s", error);
	if (db_migrate_pool(pool, conf->general.sqldir, &error) < 0)
		ms_fatal("mailstead-smtpd: migrate: %s", error);
	store = store_open(pool, conf->general.datadir, STORE_OPEN_DIRS, &error);
	if (store == NULL)
		ms_fatal("mailstead-smtpd: store: %s", error);
	for (i = 0; i < b.nservers; i++)
		b.servers[i].store = store;

	memset(&ns, 0, sizeof(ns));
	ns.fds = b.fds;
	ns.nfds = b.n;
	ns.fd_ctx = b.ctx;
	ns.max_conns = (unsigned)conf->smtp.l.max_connections;
	ns.timeout_ms = (int)(conf->smtp.l.timeout * 1000);
	ns.fn = smtp_session_run;
	ns.proto = "smtp";

	log_info(NULL, "proto=smtp ev=start hostname=%s version=%s pid=%ld",
		lq(conf->general.hostname), PACKAGE_VERSION, (long)getpid());

	busy = xasprintf("421 4.7.0 %s too many connections\r\n", conf->general.hostname);
	(void)net_serve(&ns, busy, &daemon_stop);

	for (i = 0; i < ns.nfds; i++)
		close(b.fds[i]);
	/* Sessions still running after net_serve's grace period use the store
	 * and configuration: then leave freeing to the process exit. */
	if (net_active_conns() > 0) {
		log_warn(NULL, "proto=smtp ev=stop sessions_left=%u", net_active_conns());
		return 0;
	}
	log_info(NULL, "proto=smtp ev=stop");
	free(busy);
	free(b.fds);
	free(b.ctx);
	free(b.servers);
	store_close(&store);
	db_pool_destroy(&pool);
	conf_free(&conf);
	return 0;
}
