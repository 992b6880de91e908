/* mailstead-smtpd: receives mail for local addresses over SMTP. Loads the
 * configuration, opens the database pool and store, binds the listeners
 * as root, drops privileges, then serves one thread per connection until
 * SIGTERM/SIGINT. */
#include "config.h"

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
	struct tls_ctx **tls;		/* one per listener with certificates */
	size_t ntls;
};

/* Per-IP connection limits (FEATURES.md section 2), checked in each
 * connection's thread before the session starts. */
struct admission {
	struct ratelimit *rate;		/* 300/900/2700 new connections a minute */
	struct ratelimit_conc *conc;	/* 30/90/270 at the same time */
	char *refuse_reply;
};

static const char *
admit(void *arg, const struct conn *c)
{
	struct admission *a = arg;

	/* Loopback clients (webmail, monitoring, local tools) are trusted,
	 * as Postfix's anvil exempts $mynetworks by default. */
	if (net_ip_is_localhost(c->remote_ip))
		return NULL;
	/* As the reference: the rate counts every attempt, then the
	 * concurrency slot is taken (and released after the session). */
	if (!ratelimit_add(a->rate, c->remote_ip, ms_now(), 1))
		return a->refuse_reply;
	if (!ratelimit_conc_acquire(a->conc, c->remote_ip))
		return a->refuse_reply;
	return NULL;
}

static void
release(void *arg, const struct conn *c)
{
	struct admission *a = arg;

	if (net_ip_is_localhost(c->remote_ip))
		return;
	ratelimit_conc_release(a->conc, c->remote_ip);
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
	tls_ctx_reload_all(b->tls, b->ntls, "smtp");
}

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
	b->tls = xcalloc(conf->nlisteners + 1, sizeof(struct tls_ctx *));
	for (li = 0; li < conf->nlisteners; li++) {
		const struct conf_listener_def *l = &conf->listeners[li];
		uint64_t ports[3] = { l->smtp, l->submission, l->submissions };
		struct tls_ctx *tls = NULL;

		if (ports[0] == 0 && ports[1] == 0 && ports[2] == 0)
			continue;
		if (tls_ctx_for_listener(l, "smtp", &tls, &error) < 0)
			ms_fatal("mailstead-smtpd: [listener %s] TLS: %s", l->name, error);
		if (tls != NULL)
			b->tls[b->ntls++] = tls;

		for (k = 0; k < 3; k++) {
			struct smtp_server *srv;

			if (ports[k] == 0)
				continue;
			srv = &b->servers[b->nservers++];
			srv->conf = conf;
			srv->listener = l;
			srv->kind = (enum smtp_kind)k;
			srv->hostname = l->hostname;
			srv->tls = tls;
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
	struct dns *dns;
	struct net_server ns;
	struct bound b;
	struct admission adm;
	struct ratelimit *auth_failures;
	struct buf secret;
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
	if (loglevel_watch_start(pool, "smtpd", loglevel_conf_level(conf->general.loglevel),
	    &error) < 0)
		ms_fatal("mailstead-smtpd: %s", error);
	store = store_open(pool, conf->general.datadir, STORE_OPEN_DIRS, &error);
	if (store == NULL)
		ms_fatal("mailstead-smtpd: store: %s", error);
	/* One secret for the fake SCRAM salts of unknown users, the same in
	 * every daemon (sasl.h), so they cannot be told from real ones. */
	buf_init(&secret);
	if (store_server_secret(store, "sasl-fake-salt", 32, &secret, &error) < 0)
		ms_fatal("mailstead-smtpd: server secret: %s", error);
	{
		struct dns_options dopt;

		memset(&dopt, 0, sizeof(dopt));
		dopt.zone_file = conf->dns.zone_file;
		dopt.trust_anchor = conf->dns.trust_anchor[0] ? conf->dns.trust_anchor : NULL;
		dopt.timeout_ms = (int)(conf->dns.timeout * 1000);
		dns = dns_new(&dopt, &error);
		if (dns == NULL)
			ms_fatal("mailstead-smtpd: %s", error);
		if (dns_is_test_mode(dns))
			log_warn(NULL, "proto=smtp ev=dns-test-mode note=%s",
				lq("answers come from a zone file, not from DNS"));
	}
	auth_failures = ratelimit_new_auth_failures();
	for (i = 0; i < b.nservers; i++) {
		b.servers[i].store = store;
		b.servers[i].dns = dns;
		b.servers[i].auth_failures = auth_failures;
		b.servers[i].sasl_secret = (const unsigned char *)secret.data;
		b.servers[i].sasl_secret_len = secret.len;
	}
	adm.rate = ratelimit_new_connection_rate();
	adm.conc = ratelimit_conc_new_connections();
	adm.refuse_reply = xasprintf("421 4.7.0 %s too many connections from your address\r\n",
		conf->general.hostname);

	memset(&ns, 0, sizeof(ns));
	ns.fds = b.fds;
	ns.nfds = b.n;
	ns.fd_ctx = b.ctx;
	ns.max_conns = (unsigned)conf->smtp.l.max_connections;
	ns.timeout_ms = (int)(conf->smtp.l.timeout * 1000);
	ns.fn = smtp_session_run;
	ns.proto = "smtp";
	ns.tick = tick;
	ns.tick_arg = &b;
	ns.admit = admit;
	ns.release = release;
	ns.admit_arg = &adm;

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
	free(adm.refuse_reply);
	ratelimit_free(&adm.rate);
	ratelimit_conc_free(&adm.conc);
	ratelimit_free(&auth_failures);
	buf_wipe(&secret);
	buf_free(&secret);
	free(b.fds);
	free(b.ctx);
	free(b.servers);
	for (i = 0; i < b.ntls; i++)
		tls_ctx_free(&b.tls[i]);
	free(b.tls);
	dns_free(&dns);
	store_close(&store);
	loglevel_watch_stop();
	db_pool_destroy(&pool);
	conf_free(&conf);
	return 0;
}
