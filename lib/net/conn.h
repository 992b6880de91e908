/* A client connection: blocking socket I/O with poll()-based timeouts on
 * every read and write, a read buffer for line-oriented protocols, and a
 * write buffer flushed explicitly (so pipelined replies go out together).
 * After conn_tls_accept (net/tls.h) the same calls read and write through
 * TLS; rbuf then holds decrypted bytes. After conn_deflate_start they also
 * decompress and compress (above TLS); rbuf then holds inflated bytes. */
#ifndef MS_CONN_H
#define MS_CONN_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/buf.h"

struct conn_tls;
struct conn_deflate;

struct conn {
	int fd;
	char cid[16];		/* connection id for logs */
	char remote_ip[64];
	unsigned remote_port;
	char local_ip[64];
	unsigned local_port;
	int timeout_ms;		/* for each read and write */
	bool eof;		/* peer closed */
	bool failed;		/* I/O error or timeout: stop using */
	bool timed_out;
	char rbuf[16384];
	size_t rpos, rlen;
	struct buf wbuf;
	/* Bytes read and written, for logs and limits (after TLS and
	 * compression: the plaintext bytes of the protocol). */
	unsigned long long nread, nwritten;
	/* TLS state (net/tls.c), NULL for plaintext. */
	struct conn_tls *tls;
	/* Plaintext bytes discarded by conn_tls_accept (STARTTLS injection). */
	size_t tls_discarded;
	/* Compression state (net/conn_deflate.c), NULL when off. */
	struct conn_deflate *zs;
};

/* Wrap an accepted socket: fills addresses and a fresh cid. */
void conn_init(struct conn *c, int fd, int timeout_ms);
/* Flush nothing; with TLS, send close_notify when that does not block
 * (waiting at most a second), then close the socket and free buffers. */
void conn_close(struct conn *c);

/* Read one line into line (replacing its contents), including the
 * terminating "\n" (and any "\r" before it). Returns 1 for a line, 0 on EOF
 * before any byte, -1 on error/timeout (c->failed set), and -2 when the line
 * exceeds max bytes: then the rest of the line up to "\n" is read and
 * dropped so the protocol can answer and continue. A final line without
 * "\n" at EOF is returned as is (caller sees no terminator). */
int conn_read_line(struct conn *c, struct buf *line, size_t max);
/* Read up to n bytes (at least 1 unless EOF/error). Returns the count, 0 on
 * EOF, -1 on error/timeout. */
ssize_t conn_read(struct conn *c, void *p, size_t n);
/* Read exactly n bytes into out (appending). Returns 0, or -1 on EOF/error. */
int conn_read_exact(struct conn *c, struct buf *out, size_t n);
/* For parsing in place with conn_peek/conn_skip: make sure input is
 * buffered, reading (with the timeout) only when nothing is. Returns the
 * number of buffered bytes, 0 on EOF, -1 on error/timeout. */
ssize_t conn_fill(struct conn *c);
/* Are there buffered input bytes not consumed yet (pipelining)? With TLS
 * this includes decrypted bytes OpenSSL holds (SSL_pending). */
bool conn_has_input(const struct conn *c);
/* The buffered input not consumed yet (no read is done): *n_r bytes at the
 * returned pointer, valid until the next read call. */
const char *conn_peek(struct conn *c, size_t *n_r);
/* Consume n (<= buffered) bytes returned by conn_peek. */
void conn_skip(struct conn *c, size_t n);
/* After a read timed out the connection is marked failed; writing usually
 * still works. This clears the failure so a last reply ("421 timeout",
 * "* BYE") can be sent. Returns true when the failure was a timeout. */
bool conn_recover_timeout(struct conn *c);

/* Queue bytes for writing; flushed when the buffer passes 64 KiB or on
 * conn_flush. Return 0 or -1 (c->failed). */
int conn_write(struct conn *c, const void *p, size_t n);
int conn_puts(struct conn *c, const char *s);
int conn_printf(struct conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int conn_flush(struct conn *c);

/* Wait until the connection is readable (buffered input counts), or the
 * extra fd (>= 0, e.g. an eventfd for change notifications) is readable, or
 * timeout_ms passes (-1: no limit). Returns 1 conn readable, 2 extra
 * readable, 0 timeout, -1 error. With TLS or compression, "readable" means
 * protocol data (or EOF/error) is there: TLS records without data (a key
 * update) and compressed input that inflates to nothing (yet) do not wake
 * the caller. */
int conn_wait(struct conn *c, int extra_fd, int timeout_ms);

/* ---- compression (conn_deflate.c) ---- */

/* Turn on COMPRESS=DEFLATE (RFC 4978): from now on everything written is
 * compressed with raw deflate (RFC 1951) and ends with a sync flush at each
 * conn_flush, and everything read is inflated; with TLS, compression
 * happens before encryption. Output queued before the call is flushed
 * uncompressed first (the command's OK). Input already buffered and not
 * consumed is taken as compressed data. The zlib state (about 120 KiB
 * allocated, less of it resident until much data went through) is
 * allocated here and freed by conn_close. Returns 0, or -1 with a static
 * or ms_err *error_r when compression is already on or zlib fails (the
 * connection is unusable only when c->failed is set). */
int conn_deflate_start(struct conn *c, const char **error_r);
/* Is compression on? */
bool conn_deflate_active(const struct conn *c);
/* Compressed bytes read and written so far (0 without compression), for
 * logs; c->nread and c->nwritten count the inflated bytes. */
void conn_deflate_counts(const struct conn *c, unsigned long long *read_r,
	unsigned long long *written_r);

/* ---- listening (listen.c) ---- */

/* Bind and listen on "host:port" ("[::1]:143"). Returns the fd or -1. */
int net_listen(const char *hostport, const char **error_r);
/* Whether ip (numeric text) is the host's own loopback address 127.0.0.1,
 * ::1 or ::ffff:127.0.0.1 (not the rest of 127.0.0.0/8). */
bool net_ip_is_localhost(const char *ip);

typedef void net_conn_fn(struct conn *c, void *ctx);

struct net_server {
	int *fds;
	size_t nfds;
	unsigned max_conns;
	int timeout_ms;
	net_conn_fn *fn;
	void *ctx;
	/* Optional, one per fd: passed to fn instead of ctx, so one server
	 * can serve differently configured sockets (smtp, submission, ...). */
	void **fd_ctx;
	const char *proto;	/* for logs: "smtp", "imap" */
	/* Optional: called by the accept loop at least twice a second and
	 * after each signal, in the accepting thread; e.g. to call
	 * tls_ctx_reload when daemon_hup is set. */
	void (*tick)(void *arg);
	void *tick_arg;
	/* Optional admission control, called in the connection's thread
	 * before fn: return NULL to serve the connection, or a reply line
	 * (with CRLF) to send before closing it, e.g. for per-IP connection
	 * rate and concurrency limits. release is then called after fn for
	 * every admitted connection. */
	const char *(*admit)(void *arg, const struct conn *c);
	void (*release)(void *arg, const struct conn *c);
	void *admit_arg;
};

/* Accept connections on all fds until *stop becomes nonzero, running fn in
 * a new detached thread per connection (the conn is closed and freed after
 * fn returns). Beyond max_conns, new connections get busy_reply (if not
 * NULL) and are closed. Returns after stop once all threads finished or
 * after 10 seconds. */
int net_serve(struct net_server *srv, const char *busy_reply,
	volatile sig_atomic_t *stop);

/* Current number of connection threads of net_serve. */
unsigned net_active_conns(void);

#endif
