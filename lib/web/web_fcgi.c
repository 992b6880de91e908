/* The FastCGI front-end (libfcgi): a fixed pool of worker threads, each
 * on FCGX_Accept_r, behind nginx (fastcgi_pass) or Apache
 * (mod_proxy_fcgi). The socket is the app's [web] <name>_socket (or -s),
 * or standard input when the program was started by spawn-fcgi or systemd
 * socket activation. The parameters are parsed by web_parse_cgi_params. */
#include "config.h"

#include <errno.h>
#include <fcgiapp.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/conf.h"
#include "core/daemon.h"
#include "core/log.h"
#include "core/util.h"
#include "db/db.h"
#include "db/loglevel.h"
#include "store/store.h"
#include "web/web.h"

struct fcgi_server {
	const struct web_app *app;
	struct web_env *env;
	int sock;
	uint64_t max_body;
};

struct fcgi_out {
	FCGX_Request *fr;
};

static int
fcgi_put(FCGX_Stream *s, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		int chunk = n > (1 << 30) ? (1 << 30) : (int)n;

		if (FCGX_PutStr(c, chunk, s) != chunk)
			return -1;
		c += chunk;
		n -= (size_t)chunk;
	}
	return 0;
}

static int
out_begin(void *ctx, struct web_response *resp)
{
	struct fcgi_out *o = ctx;
	struct buf h;
	int rc;

	/* CGI response (RFC 3875 section 6.3.3): the Status header gives
	 * the HTTP status. */
	buf_init(&h);
	buf_printf(&h, "Status: %u %s\r\n", resp->status, web_status_text(resp->status));
	buf_append(&h, resp->headers.data, resp->headers.len);
	if (resp->complete)
		buf_printf(&h, "Content-Length: %zu\r\n", resp->body.len);
	else
		/* nginx must pass streamed bodies (SSE) on at once. */
		buf_puts(&h, "X-Accel-Buffering: no\r\n");
	buf_puts(&h, "\r\n");
	rc = fcgi_put(o->fr->out, h.data, h.len);
	buf_free(&h);
	return rc;
}

static int
out_write(void *ctx, const void *p, size_t n)
{
	struct fcgi_out *o = ctx;

	return fcgi_put(o->fr->out, p, n);
}

static int
out_flush(void *ctx)
{
	struct fcgi_out *o = ctx;

	return FCGX_FFlush(o->fr->out) < 0 ? -1 : 0;
}

static const struct web_out_ops fcgi_ops = { out_begin, out_write, out_flush };

/* Reads the request body into req->body. Returns true when stdin was read
 * to its end (nothing of the request left unread on the connection). */
static bool
read_body(struct fcgi_server *srv, FCGX_Request *fr, struct web_request *req)
{
	const char *cl = web_header(req, "content-length");
	uint64_t want = 0, max = srv->max_body;
	char chunk[16384];

	if (srv->env != NULL)
		max = web_body_limit(srv->env, &srv->app, 1, req->method, req->uri);
	if (cl != NULL && ms_parse_u64(cl, 0, UINT64_MAX, &want) == 0 && want > max) {
		/* Not read at all: the answer is 413. */
		req->body_too_large = true;
		return false;
	}
	for (;;) {
		int n = FCGX_GetStr(chunk, sizeof(chunk), fr->in);

		if (n <= 0)
			return FCGX_GetError(fr->in) == 0;
		if (req->body.len + (size_t)n > max) {
			req->body_too_large = true;
			buf_reset(&req->body);
			return false;
		}
		buf_append(&req->body, chunk, (size_t)n);
	}
}

/* Serves one request. Returns true when the request was read to its end,
 * so the connection can be closed at once (see worker). */
static bool
serve_one(struct fcgi_server *srv, FCGX_Request *fr)
{
	struct web_request req;
	struct web_response resp;
	struct fcgi_out o = { fr };
	const char *error;
	size_t n = 0;
	bool drained = false;

	web_request_init(&req);
	web_response_init(&resp, &fcgi_ops, &o);
	while (fr->envp[n] != NULL)
		n++;
	if (web_parse_cgi_params(&req, (const char *const *)fr->envp, n,
	    srv->env != NULL && web_env_conf(srv->env)->web.trust_forwarded, &error) < 0) {
		log_info(req.cid, "proto=http app=%s ev=bad-params error=%s", srv->app->name, lq(error));
		web_resp_text(&resp, 400, error);
		web_response_finish(&resp);
	} else {
		drained = read_body(srv, fr, &req);
		web_handle(srv->env, &srv->app, 1, &req, &resp);
	}
	web_response_free(&resp);
	web_request_free(&req);
	return drained;
}

static void *
worker(void *arg)
{
	struct fcgi_server *srv = arg;
	FCGX_Request fr;

	if (FCGX_InitRequest(&fr, srv->sock, 0) != 0) {
		log_error(NULL, "app=%s ev=fcgi-init-failed", srv->app->name);
		return NULL;
	}
	while (!daemon_stop && FCGX_Accept_r(&fr) >= 0) {
		/* libfcgi closes a connection with shutdown() and then waits for
		 * the web server to close its side, reading and discarding, so
		 * that unread input cannot turn the close into a reset that
		 * loses the answer. When the whole request was read there is
		 * nothing to discard: a detached request is closed at once,
		 * and the thread is free without that extra round trip (about
		 * a tenth of the time of a small API call, bench/web). */
		if (serve_one(srv, &fr))
			FCGX_Detach(&fr);
		FCGX_Finish_r(&fr);
	}
	return NULL;
}

static const char *
socket_of(const struct web_app *app, const struct conf *conf)
{
	if (strcmp(app->name, "admin") == 0)
		return conf->web.admin_socket;
	if (strcmp(app->name, "account") == 0)
		return conf->web.account_socket;
	if (strcmp(app->name, "webapi") == 0)
		return conf->web.webapi_socket;
	if (strcmp(app->name, "webmail") == 0)
		return conf->web.webmail_socket;
	return "";
}

static int
open_socket(const char *path, const struct conf *conf, const char **error_r)
{
	int fd;

	/* A socket left by a previous run would make bind fail. */
	if (unlink(path) < 0 && errno != ENOENT) {
		*error_r = ms_err("removing old socket %s: %s", path, strerror(errno));
		return -1;
	}
	fd = FCGX_OpenSocket(path, 128);
	if (fd < 0) {
		*error_r = ms_err("cannot listen on %s", path);
		return -1;
	}
	/* The web server connects as its own user: the socket belongs to the
	 * program's user and to socket_group (mode 0660), or is open to all
	 * local users (0666) when no group is set and the directory decides. */
	if (conf->web.socket_group[0] != '\0') {
		struct group *gr = getgrnam(conf->web.socket_group);

		if (gr == NULL) {
			*error_r = ms_err("[web] socket_group %s: no such group", conf->web.socket_group);
			return -1;
		}
		if (chown(path, (uid_t)-1, gr->gr_gid) < 0 || chmod(path, 0660) < 0) {
			*error_r = ms_err("socket %s: %s", path, strerror(errno));
			return -1;
		}
	} else if (chmod(path, 0666) < 0) {
		*error_r = ms_err("socket %s: %s", path, strerror(errno));
		return -1;
	}
	return fd;
}

int
web_fcgi_main(const struct web_app *app, int argc, char **argv)
{
	const char *conf_path = MS_SYSCONFDIR "/mailstead.conf", *sock_path = NULL, *error;
	struct fcgi_server srv;
	struct conf *conf;
	struct db_pool *pool;
	struct store *st;
	pthread_t *threads;
	sigset_t block, old;
	enum ms_log_level lvl;
	char prog[64];
	uint64_t i;
	int opt;

	snprintf(prog, sizeof(prog), "mailstead-%s", app->name);
	while ((opt = getopt(argc, argv, "c:s:V")) != -1) {
		switch (opt) {
		case 'c':
			conf_path = optarg;
			break;
		case 's':
			sock_path = optarg;
			break;
		case 'V':
			printf("%s %s\n", prog, PACKAGE_VERSION);
			return 0;
		default:
			fprintf(stderr, "usage: %s [-c mailstead.conf] [-s socket]\n"
				"Without a socket (-s or [web] %s_socket), the FastCGI socket is\n"
				"standard input (spawn-fcgi, systemd socket activation).\n", prog, app->name);
			return 2;
		}
	}
	if (conf_load(conf_path, &conf, &error) < 0)
		ms_fatal("%s: %s", prog, error);
	if (log_parse_level(conf->general.loglevel, &lvl) < 0)
		lvl = MS_LOG_INFO;
	log_init(prog, lvl, 2);
	daemon_signals();
	if (FCGX_Init() != 0)
		ms_fatal("%s: FCGX_Init failed", prog);
	memset(&srv, 0, sizeof(srv));
	srv.app = app;
	srv.max_body = conf->web.max_body;
	if (sock_path == NULL) {
		int listening = 0;
		socklen_t len = sizeof(listening);

		/* A listening socket on standard input was handed over on
		 * purpose (spawn-fcgi, systemd StandardInput=socket): it wins
		 * over the configured path; -s wins over both. */
		if (getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening)
			sock_path = "";
		else
			sock_path = socket_of(app, conf);
	}
	if (sock_path[0] != '\0') {
		srv.sock = open_socket(sock_path, conf, &error);
		if (srv.sock < 0)
			ms_fatal("%s: %s", prog, error);
	} else {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);

		/* spawn-fcgi and systemd hand over the listening socket as
		 * fd 0 (FCGI_LISTENSOCK_FILENO of the FastCGI specification). */
		if (getsockname(0, (struct sockaddr *)&ss, &sl) < 0)
			ms_fatal("%s: no socket configured ([web] %s_socket or -s) and standard input "
				"is not a socket", prog, app->name);
		srv.sock = 0;
	}
	if (geteuid() == 0 && sock_path[0] != '\0' && conf->general.user != NULL &&
	    conf->general.user[0] != '\0') {
		struct passwd *pw = getpwnam(conf->general.user);

		if (pw != NULL && chown(sock_path, pw->pw_uid, (gid_t)-1) < 0)
			ms_fatal("%s: chown %s: %s", prog, sock_path, strerror(errno));
	}
	if (daemon_drop_privileges(conf->general.user, &error) < 0)
		ms_fatal("%s: %s", prog, error);
	pool = db_pool_create(conf->database.conninfo, (unsigned)conf->database.pool_size, &error);
	if (pool == NULL)
		ms_fatal("%s: database: %s", prog, error);
	if (db_migrate_pool(pool, conf->general.sqldir, &error) < 0)
		ms_fatal("%s: migrate: %s", prog, error);
	if (loglevel_watch_start(pool, app->name, lvl, &error) < 0)
		ms_fatal("%s: %s", prog, error);
	st = store_open(pool, conf->general.datadir, 0, &error);
	if (st == NULL)
		ms_fatal("%s: %s", prog, error);
	srv.env = web_env_new(conf, pool, st, NULL, NULL, &error);
	if (srv.env == NULL)
		ms_fatal("%s: %s", prog, error);
	log_info(NULL, "ev=start app=%s socket=%s threads=%llu", app->name,
		lq(sock_path[0] != '\0' ? sock_path : "stdin"), (unsigned long long)conf->web.threads);
	/* Signals go to the main thread only: the workers start with them
	 * blocked, the main thread waits for them in sigsuspend. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	threads = xcalloc(conf->web.threads, sizeof(*threads));
	for (i = 0; i < conf->web.threads; i++)
		if (pthread_create(&threads[i], NULL, worker, &srv) != 0)
			ms_fatal("%s: cannot start worker threads", prog);
	/* Workers block in accept; the main thread only waits for the stop
	 * signal. Requests in progress are cut off by the exit, which the web
	 * server reports as 502 for them. */
	while (!daemon_stop)
		sigsuspend(&old);
	log_info(NULL, "ev=stop app=%s", app->name);
	FCGX_ShutdownPending();
	if (sock_path[0] != '\0')
		unlink(sock_path);
	return 0;
}
