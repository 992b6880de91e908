/* mailstead-imapd: IMAP4rev2/IMAP4rev1 server. Binds the imap (STARTTLS)
 * and imaps (implicit TLS) ports of every listener as root, loads their
 * certificates, drops privileges, starts the change-notification listener
 * and serves one thread per connection (imap_session.c). */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/ratelimit.h"
#include "core/conf.h"
#include "core/daemon.h"
#include "core/log.h"
#include "core/util.h"
#include "db/db.h"
#include "db/loglevel.h"
#include "net/conn.h"
#include "net/tls.h"
#include "store/store.h"
#include "imap_notify.h"
#include "imap_session.h"

/* One listening socket per IP of every listener's imap and imaps port,
 * bound while still root; each socket's fd_ctx is its struct
 * imap_listener. */
struct bound {
	int *fds;
	void **ctx;
	size_t n;
	struct imap_listener *listeners;	/* one per listener and kind */
	size_t nlisteners;
	struct tls_ctx **tls;			/* one per listener with certificates */
	size_t ntls;
};

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

/* Called by the accept loop: reload certificates after SIGHUP. Running
 * connections keep the certificates they started with. */
static void
tick(void *arg)
{
	struct bound *b = arg;

	if (!daemon_hup)
		return;
	daemon_hup = 0;
	tls_ctx_reload_all(b->tls, b->ntls, "imap");
}

static void
bind_all(struct conf *conf, struct imapd *d, struct bound *b)
{
	static const char *const kind_names[2] = { "imap", "imaps" };
	size_t li, ip, k, max = 0;
	const char *error;

	for (li = 0; li < conf->nlisteners; li++)
		max += 2 * conf->listeners[li].ips.n;
	b->fds = xcalloc(max ? max : 1, sizeof(int));
	b->ctx = xcalloc(max ? max : 1, sizeof(void *));
	b->listeners = xcalloc(conf->nlisteners * 2 + 1, sizeof(struct imap_listener));
	b->tls = xcalloc(conf->nlisteners + 1, sizeof(struct tls_ctx *));
	for (li = 0; li < conf->nlisteners; li++) {
		const struct conf_listener_def *l = &conf->listeners[li];
		uint64_t ports[2] = { l->imap, l->imaps };
		struct tls_ctx *tls;

		if (ports[0] == 0 && ports[1] == 0)
			continue;
		if (tls_ctx_for_listener(l, "imap", &tls, &error) < 0)
			ms_fatal("mailstead-imapd: [listener %s] TLS: %s", l->name, error);
		if (tls != NULL)
			b->tls[b->ntls++] = tls;
		/* conf.c refuses imaps without certificates. */
		if (ports[1] != 0 && tls == NULL)
			ms_fatal("mailstead-imapd: [listener %s] imaps needs tls_cert and tls_key",
				l->name);
		if (ports[0] != 0 && tls == NULL && l->imap_require_starttls)
			log_warn(NULL, "proto=imap ev=logindisabled listener=%s reason=%s",
				lq(l->name), lq("imap_require_starttls is set but the listener has "
					"no tls_cert: logins on its imap port are refused"));
		for (k = 0; k < 2; k++) {
			struct imap_listener *il;

			if (ports[k] == 0)
				continue;
			il = &b->listeners[b->nlisteners++];
			il->d = d;
			il->conf = l;
			il->tls = tls;
			il->implicit_tls = k == 1;
			for (ip = 0; ip < l->ips.n; ip++) {
				char *addr = conf_hostport(l->ips.v[ip], (unsigned)ports[k]);

				b->fds[b->n] = net_listen(addr, &error);
				if (b->fds[b->n] < 0)
					ms_fatal("mailstead-imapd: [listener %s] %s: %s", l->name,
						kind_names[k], error);
				b->ctx[b->n++] = il;
				log_info(NULL, "proto=imap ev=listen listener=%s service=%s "
					"addr=%s tls=%s", lq(l->name), kind_names[k], lq(addr),
					k == 1 ? "implicit" : tls != NULL ? "starttls" : "none");
				free(addr);
			}
		}
	}
}

int
main(int argc, char **argv)
{
	struct conf *conf = daemon_start("mailstead-imapd", argc, argv);
	struct db_listener *listener;
	struct net_server srv;
	struct db_pool *pool;
	struct imapd d;
	struct bound b;
	struct buf secret;
	pthread_t watcher;
	const char *error;
	size_t i;

	memset(&d, 0, sizeof(d));
	memset(&b, 0, sizeof(b));
	/* Bind while still root (ports below 1024, root-only key files). */
	bind_all(conf, &d, &b);
	if (b.n == 0)
		ms_fatal("mailstead-imapd: no listener has an imap or imaps port");
	if (daemon_drop_privileges(conf->general.user, &error) < 0)
		ms_fatal("mailstead-imapd: %s", error);

	pool = db_pool_create(conf->database.conninfo, (unsigned)conf->database.pool_size,
		&error);
	if (pool == NULL)
		ms_fatal("mailstead-imapd: database: %s", error);
	if (db_migrate_pool(pool, conf->general.sqldir, &error) < 0)
		ms_fatal("mailstead-imapd: migrate: %s", error);
	if (loglevel_watch_start(pool, "imapd", loglevel_conf_level(conf->general.loglevel),
	    &error) < 0)
		ms_fatal("mailstead-imapd: %s", error);
	d.conf = conf;
	d.store = store_open(pool, conf->general.datadir, STORE_OPEN_DIRS, &error);
	if (d.store == NULL)
		ms_fatal("mailstead-imapd: store: %s", error);
	d.registry = imap_registry_new();
	/* The same fake-salt secret as mailstead-smtpd (sasl.h), so unknown
	 * users look alike in both. */
	buf_init(&secret);
	if (store_server_secret(d.store, "sasl-fake-salt", 32, &secret, &error) < 0)
		ms_fatal("mailstead-imapd: server secret: %s", error);
	d.sasl_secret = (const unsigned char *)secret.data;
	d.sasl_secret_len = secret.len;
	d.auth_failures = ratelimit_new_auth_failures();

	listener = db_listener_start(conf->database.conninfo, &error);
	if (listener == NULL)
		ms_fatal("mailstead-imapd: change listener: %s", error);
	(void)db_listener_subscribe(listener, STORE_NOTIFY_CHANNEL,
		imap_registry_on_notify, d.registry);
	if (pthread_create(&watcher, NULL, stop_watcher, d.registry) != 0)
		ms_fatal("mailstead-imapd: cannot start thread");

	memset(&srv, 0, sizeof(srv));
	srv.fds = b.fds;
	srv.nfds = b.n;
	srv.fd_ctx = b.ctx;
	srv.max_conns = (unsigned)conf->imap.l.max_connections;
	srv.timeout_ms = (int)(conf->imap.l.timeout * 1000);
	srv.fn = imap_session_run;
	srv.proto = "imap";
	srv.tick = tick;
	srv.tick_arg = &b;
	log_info(NULL, "proto=imap ev=start version=%s pid=%ld", PACKAGE_VERSION,
		(long)getpid());
	net_serve(&srv, "* BYE too many connections\r\n", &daemon_stop);
	log_info(NULL, "proto=imap ev=stop");

	pthread_join(watcher, NULL);
	db_listener_stop(&listener);
	for (i = 0; i < srv.nfds; i++)
		close(b.fds[i]);
	/* Sessions still running after net_serve's grace period may use the
	 * store, the limiter and the configuration: then exit without tearing
	 * them down. */
	if (net_active_conns() == 0) {
		ratelimit_free(&d.auth_failures);
		buf_wipe(&secret);
		buf_free(&secret);
		free(b.fds);
		free(b.ctx);
		free(b.listeners);
		for (i = 0; i < b.ntls; i++)
			tls_ctx_free(&b.tls[i]);
		free(b.tls);
		store_close(&d.store);
		loglevel_watch_stop();
		db_pool_destroy(&pool);
		imap_registry_free(&d.registry);
		conf_free(&conf);
	}
	return 0;
}
