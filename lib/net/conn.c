/* Connection I/O with timeouts. Every blocking call first polls with the
 * connection timeout, so a silent or slow peer cannot hold a thread forever.
 * The layers under the buffers: the transport (the socket, or TLS through
 * the hooks of tls_private.h once c->tls is set) and, once c->zs is set,
 * compression above it (conn_deflate.c); the buffering here stays the same. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "net/conn.h"
#include "net/conn_private.h"
#include "net/tls_private.h"

static void
sockaddr_text(const struct sockaddr_storage *ss, char *ip, size_t iplen,
	unsigned *port)
{
	ip[0] = '\0';
	*port = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;
		inet_ntop(AF_INET, &s4->sin_addr, ip, (socklen_t)iplen);
		*port = ntohs(s4->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, ip, (socklen_t)iplen);
		*port = ntohs(s6->sin6_port);
		/* IPv4-mapped addresses are shown as IPv4. */
		if (strncmp(ip, "::ffff:", 7) == 0 && strchr(ip + 7, '.') != NULL)
			memmove(ip, ip + 7, strlen(ip + 7) + 1);
	}
}

void
conn_init(struct conn *c, int fd, int timeout_ms)
{
	struct sockaddr_storage ss;
	socklen_t len;

	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->timeout_ms = timeout_ms;
	buf_init(&c->wbuf);
	log_new_cid(c->cid, sizeof(c->cid));
	len = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
		sockaddr_text(&ss, c->remote_ip, sizeof(c->remote_ip), &c->remote_port);
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		sockaddr_text(&ss, c->local_ip, sizeof(c->local_ip), &c->local_port);
}

void
conn_close(struct conn *c)
{
	if (c->zs != NULL)
		conn_deflate_free(c);
	if (c->tls != NULL)
		tls_conn_close(c);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	buf_free(&c->wbuf);
}

static int
wait_fd(struct conn *c, short events)
{
	struct pollfd pfd = { .fd = c->fd, .events = events };

	for (;;) {
		int r = poll(&pfd, 1, c->timeout_ms);

		if (r > 0)
			return 0;
		if (r == 0) {
			c->timed_out = true;
			c->failed = true;
			return -1;
		}
		if (errno != EINTR) {
			c->failed = true;
			return -1;
		}
	}
}

ssize_t
conn_raw_read(struct conn *c, void *p, size_t n, bool block)
{
	ssize_t r;

	if (c->failed)
		return -1;
	if (c->eof)
		return 0;
	if (c->tls != NULL)
		return block ? tls_conn_read(c, p, n) : tls_conn_read_nowait(c, p, n);
	for (;;) {
		if (block && wait_fd(c, POLLIN) < 0)
			return -1;
		r = recv(c->fd, p, n, block ? 0 : MSG_DONTWAIT);
		if (r >= 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if (!block)
				return -2;
			continue;
		}
		c->failed = true;
		return -1;
	}
	if (r == 0)
		c->eof = true;
	return r;
}

int
conn_raw_write(struct conn *c, const void *p, size_t n)
{
	const char *s = p;

	if (c->failed)
		return -1;
	if (c->tls != NULL)
		return tls_conn_write(c, p, n);
	while (n > 0) {
		ssize_t w;

		if (wait_fd(c, POLLOUT) < 0)
			return -1;
		w = send(c->fd, s, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			c->failed = true;
			return -1;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read into rbuf through the layers (inflated when compression is on).
 * Returns as conn_raw_read. */
static ssize_t
read_layers(struct conn *c, char *p, size_t n, bool block)
{
	ssize_t r;

	if (c->zs != NULL)
		r = conn_deflate_read(c, p, n, block);
	else
		r = conn_raw_read(c, p, n, block);
	if (r > 0) {
		c->rlen += (size_t)r;
		c->nread += (unsigned long long)r;
	}
	return r;
}

/* Fill the read buffer; returns bytes read, 0 on EOF, -1 on error. */
static ssize_t
fill(struct conn *c)
{
	if (c->failed)
		return -1;
	if (c->eof)
		return 0;
	if (c->rpos > 0 && c->rpos == c->rlen)
		c->rpos = c->rlen = 0;
	if (c->rpos > 0 && c->rlen == sizeof(c->rbuf)) {
		memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
		c->rlen -= c->rpos;
		c->rpos = 0;
	}
	if (c->rlen == sizeof(c->rbuf))
		ms_panic("conn fill with a full read buffer");
	return read_layers(c, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen, true);
}

int
conn_read_line(struct conn *c, struct buf *line, size_t max)
{
	bool toolong = false;

	buf_reset(line);
	for (;;) {
		char *start = c->rbuf + c->rpos;
		size_t avail = c->rlen - c->rpos;
		char *nl = memchr(start, '\n', avail);
		size_t take = nl ? (size_t)(nl - start) + 1 : avail;
		ssize_t r;

		if (!toolong) {
			if (line->len + take > max) {
				toolong = true;
				buf_reset(line);
			} else {
				buf_append(line, start, take);
			}
		}
		c->rpos += take;
		if (nl != NULL)
			return toolong ? -2 : 1;
		r = fill(c);
		if (r < 0)
			return -1;
		if (r == 0) {
			if (toolong)
				return -2;
			return line->len > 0 ? 1 : 0;
		}
	}
}

ssize_t
conn_read(struct conn *c, void *p, size_t n)
{
	size_t avail;

	if (c->rpos == c->rlen) {
		ssize_t r = fill(c);
		if (r <= 0)
			return r;
	}
	avail = c->rlen - c->rpos;
	if (n > avail)
		n = avail;
	memcpy(p, c->rbuf + c->rpos, n);
	c->rpos += n;
	return (ssize_t)n;
}

int
conn_read_exact(struct conn *c, struct buf *out, size_t n)
{
	while (n > 0) {
		size_t avail = c->rlen - c->rpos, take;

		if (avail == 0) {
			if (fill(c) <= 0)
				return -1;
			continue;
		}
		take = avail < n ? avail : n;
		buf_append(out, c->rbuf + c->rpos, take);
		c->rpos += take;
		n -= take;
	}
	return 0;
}

ssize_t
conn_fill(struct conn *c)
{
	ssize_t r;

	if (c->rpos < c->rlen)
		return (ssize_t)(c->rlen - c->rpos);
	r = fill(c);
	return r <= 0 ? r : (ssize_t)(c->rlen - c->rpos);
}

bool
conn_has_input(const struct conn *c)
{
	if (c->rpos < c->rlen)
		return true;
	if (c->zs != NULL && conn_deflate_pending(c))
		return true;
	return c->tls != NULL && tls_conn_pending(c);
}

const char *
conn_peek(struct conn *c, size_t *n_r)
{
	*n_r = c->rlen - c->rpos;
	return c->rbuf + c->rpos;
}

void
conn_skip(struct conn *c, size_t n)
{
	if (n > c->rlen - c->rpos)
		ms_panic("conn_skip beyond buffered input");
	c->rpos += n;
}

bool
conn_recover_timeout(struct conn *c)
{
	if (!c->timed_out)
		return false;
	c->timed_out = false;
	c->failed = false;
	return true;
}

/* Write out the buffer. With compression, sync says whether to end with a
 * sync flush (conn_flush) or let zlib keep a tail for better compression
 * (the buffer only grew past its limit in the middle of a reply). */
static int
flush_out(struct conn *c, bool sync)
{
	int r = 0;

	if (c->failed)
		return -1;
	if (c->zs != NULL)
		r = conn_deflate_write(c, c->wbuf.data, c->wbuf.len, sync);
	else if (c->wbuf.len > 0)
		r = conn_raw_write(c, c->wbuf.data, c->wbuf.len);
	if (r == 0)
		c->nwritten += c->wbuf.len;
	buf_reset(&c->wbuf);
	return r;
}

int
conn_flush(struct conn *c)
{
	return flush_out(c, true);
}

int
conn_write(struct conn *c, const void *p, size_t n)
{
	if (c->failed)
		return -1;
	buf_append(&c->wbuf, p, n);
	if (c->wbuf.len >= 65536)
		return flush_out(c, false);
	return 0;
}

int
conn_puts(struct conn *c, const char *s)
{
	return conn_write(c, s, strlen(s));
}

int
conn_printf(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	if (c->failed)
		return -1;
	va_start(ap, fmt);
	buf_vprintf(&c->wbuf, fmt, ap);
	va_end(ap);
	if (c->wbuf.len >= 65536)
		return flush_out(c, false);
	return 0;
}

/* Try to read protocol data into the (empty) read buffer without blocking:
 * decrypted and inflated as the layers say. Returns true when the caller's
 * next read will not wait for the socket: data arrived, EOF, an error, or
 * OpenSSL must write first. */
static bool
input_ready(struct conn *c)
{
	c->rpos = c->rlen = 0;
	return read_layers(c, c->rbuf, sizeof(c->rbuf), false) != -2;
}

int
conn_wait(struct conn *c, int extra_fd, int timeout_ms)
{
	struct pollfd pfd[2];
	nfds_t n = 1;
	int64_t deadline = timeout_ms < 0 ? -1 : ms_mono_ms() + timeout_ms;

	if (c->rpos < c->rlen)
		return 1;
	/* Bytes held by a layer are only a maybe: compressed input may
	 * inflate to nothing yet. */
	if (((c->zs != NULL && conn_deflate_pending(c)) ||
		    (c->tls != NULL && tls_conn_pending(c))) &&
	    input_ready(c))
		return 1;
	pfd[0].fd = c->fd;
	pfd[0].events = POLLIN;
	if (extra_fd >= 0) {
		pfd[1].fd = extra_fd;
		pfd[1].events = POLLIN;
		n = 2;
	}
	for (;;) {
		int left = -1, r;

		if (deadline >= 0) {
			int64_t d = deadline - ms_mono_ms();

			left = d < 0 ? 0 : (int)d;
		}
		r = poll(pfd, n, left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return 0;
		if (pfd[0].revents) {
			/* With TLS, a readable socket may carry only part of
			 * a record or a record without data, and compressed
			 * input may inflate to nothing yet: keep waiting
			 * then, or IMAP IDLE would block in the next read. */
			if ((c->tls == NULL && c->zs == NULL) || c->failed || c->eof ||
			    input_ready(c))
				return 1;
			if (n == 2 && pfd[1].revents)
				return 2;
			continue;
		}
		return 2;
	}
}
