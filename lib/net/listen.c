/* Listening sockets and the accept loop: one detached thread per
 * connection, bounded by a connection limit. */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/conf.h"
#include "core/log.h"
#include "core/util.h"
#include "net/conn.h"

static _Atomic unsigned active;

unsigned
net_active_conns(void)
{
	return active;
}

int
net_listen(const char *hostport, const char **error_r)
{
	struct addrinfo hints, *res = NULL;
	char *host;
	unsigned port;
	char portstr[8];
	int fd, on = 1, rc;

	if (conf_split_hostport(hostport, &host, &port) < 0) {
		*error_r = ms_err("bad listen address %s", hostport);
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	(void)snprintf(portstr, sizeof(portstr), "%u", port);
	rc = getaddrinfo(host[0] ? host : NULL, portstr, &hints, &res);
	free(host);
	if (rc != 0) {
		*error_r = ms_err("listen %s: %s", hostport, gai_strerror(rc));
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*error_r = ms_err("listen %s: socket: %s", hostport, strerror(errno));
		freeaddrinfo(res);
		return -1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (res->ai_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 512) < 0) {
		*error_r = ms_err("listen %s: %s", hostport, strerror(errno));
		close(fd);
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	return fd;
}

bool
net_ip_is_localhost(const char *ip)
{
	static const unsigned char v6loop[16] = { [15] = 1 };
	static const unsigned char v4mapped[12] = { [10] = 0xff, [11] = 0xff };
	unsigned char a[16];

	if (ip == NULL)
		return false;
	if (inet_pton(AF_INET, ip, a) == 1)
		return a[0] == 127 && a[1] == 0 && a[2] == 0 && a[3] == 1;
	if (inet_pton(AF_INET6, ip, a) != 1)
		return false;
	return memcmp(a, v6loop, 16) == 0 ||
	    (memcmp(a, v4mapped, 12) == 0 && a[12] == 127 && a[13] == 0 &&
		a[14] == 0 && a[15] == 1);
}

struct conn_thread {
	struct net_server *srv;
	void *ctx;
	int fd;
};

static void *
conn_main(void *arg)
{
	struct conn_thread *ct = arg;
	struct conn c;

	conn_init(&c, ct->fd, ct->srv->timeout_ms);
	log_info(c.cid, "proto=%s ev=connect remote=%s local=%s", ct->srv->proto,
		lq(c.remote_ip), lq(c.local_ip));
	if (ct->srv->admit != NULL) {
		const char *refuse = ct->srv->admit(ct->srv->admit_arg, &c);

		if (refuse != NULL) {
			log_info(c.cid, "proto=%s ev=refused reply=%s", ct->srv->proto, lq(refuse));
			(void)conn_puts(&c, refuse);
			(void)conn_flush(&c);
			conn_close(&c);
			free(ct);
			active--;
			return NULL;
		}
	}
	ct->srv->fn(&c, ct->ctx);
	if (ct->srv->release != NULL)
		ct->srv->release(ct->srv->admit_arg, &c);
	if (conn_deflate_active(&c)) {
		unsigned long long zr, zw;

		conn_deflate_counts(&c, &zr, &zw);
		log_info(c.cid, "proto=%s ev=disconnect read=%llu written=%llu "
			"compressed_read=%llu compressed_written=%llu", ct->srv->proto,
			c.nread, c.nwritten, zr, zw);
	} else {
		log_info(c.cid, "proto=%s ev=disconnect read=%llu written=%llu",
			ct->srv->proto, c.nread, c.nwritten);
	}
	conn_close(&c);
	free(ct);
	active--;
	return NULL;
}

int
net_serve(struct net_server *srv, const char *busy_reply,
	volatile sig_atomic_t *stop)
{
	struct pollfd *pfds = xcalloc(srv->nfds, sizeof(*pfds));
	pthread_attr_t attr;
	int64_t last_fd_warning = 0;
	size_t i;
	int waited;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 512 * 1024);
	for (i = 0; i < srv->nfds; i++) {
		pfds[i].fd = srv->fds[i];
		pfds[i].events = POLLIN;
	}
	while (!*stop) {
		int r = poll(pfds, srv->nfds, 500);

		if (srv->tick != NULL)
			srv->tick(srv->tick_arg);
		if (r <= 0)
			continue;
		for (i = 0; i < srv->nfds; i++) {
			struct conn_thread *ct;
			pthread_t t;
			int fd, one = 1;

			if (!(pfds[i].revents & POLLIN))
				continue;
			fd = accept4(srv->fds[i], NULL, NULL, SOCK_CLOEXEC);
			if (fd < 0) {
				/* Out of file descriptors: the pending connection
				 * stays queued and poll would report it at once
				 * again; back off instead of spinning. */
				if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
				    errno == ENOMEM) {
					int64_t now = ms_mono_ms();

					if (now - last_fd_warning > 10000) {
						log_warn(NULL, "proto=%s ev=accept-failed error=%s",
							srv->proto, lq(strerror(errno)));
						last_fd_warning = now;
					}
					usleep(100 * 1000);
				}
				continue;
			}
			(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			if (active >= srv->max_conns) {
				if (busy_reply != NULL)
					(void)send(fd, busy_reply, strlen(busy_reply),
						MSG_NOSIGNAL | MSG_DONTWAIT);
				close(fd);
				log_warn(NULL, "proto=%s ev=busy max_connections=%u",
					srv->proto, srv->max_conns);
				continue;
			}
			ct = xmalloc(sizeof(*ct));
			ct->srv = srv;
			ct->ctx = srv->fd_ctx != NULL ? srv->fd_ctx[i] : srv->ctx;
			ct->fd = fd;
			active++;
			if (pthread_create(&t, &attr, conn_main, ct) != 0) {
				active--;
				close(fd);
				free(ct);
				log_error(NULL, "proto=%s ev=thread-create-failed", srv->proto);
			}
		}
	}
	pthread_attr_destroy(&attr);
	free(pfds);
	/* Give running sessions a moment to finish. */
	for (waited = 0; active > 0 && waited < 100; waited++)
		usleep(100 * 1000);
	return 0;
}
