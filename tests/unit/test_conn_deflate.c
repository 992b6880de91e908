/* Unit tests for lib/net/conn_deflate (COMPRESS=DEFLATE under struct
 * conn): a struct conn over loopback TCP against a peer that compresses and
 * inflates with zlib directly. Compressed input in awkward pieces (one byte
 * at a time, half a block), waiting that must not wake on input that
 * inflates to nothing, read-ahead bytes taken over at the start, output
 * ending in a sync flush, large writes, garbage, the end of the peer's
 * stream, and the refusals (twice, TLS under compression). */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"
#include "net/conn.h"
#include "net/tls.h"

static const unsigned char sync_mark[4] = { 0x00, 0x00, 0xff, 0xff };

/* ---- the peer ---- */

struct peer {
	int fd;
	z_stream out;	/* deflate */
	z_stream in;	/* inflate */
	struct buf got;	/* inflated bytes received */
	struct buf raw;	/* compressed bytes received */
};

static void
tcp_pair(int *server_r, int *client_r)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	struct timeval tv = { .tv_sec = 10 };
	int l, one = 1;

	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(l >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(l, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&sin, &len), 0);
	*client_r = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(*client_r >= 0);
	assert_int_equal(connect(*client_r, (struct sockaddr *)&sin, sizeof(sin)), 0);
	*server_r = accept(l, NULL, NULL);
	assert_true(*server_r >= 0);
	close(l);
	(void)setsockopt(*client_r, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(*client_r, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void
open_pair(struct conn *c, struct peer *p)
{
	int sfd;

	memset(p, 0, sizeof(*p));
	tcp_pair(&sfd, &p->fd);
	conn_init(c, sfd, 5000);
	assert_int_equal(deflateInit2(&p->out, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
	assert_int_equal(inflateInit2(&p->in, -15), Z_OK);
	buf_init(&p->got);
	buf_init(&p->raw);
}

static void
close_pair(struct conn *c, struct peer *p)
{
	conn_close(c);
	close(p->fd);
	deflateEnd(&p->out);
	inflateEnd(&p->in);
	buf_free(&p->got);
	buf_free(&p->raw);
}

/* Compress text into out (appending) with the given flush mode. */
static void
peer_compress(struct peer *p, const void *text, size_t n, int mode, struct buf *out)
{
	unsigned char tmp[4096];

	p->out.next_in = (unsigned char *)(uintptr_t)text;
	p->out.avail_in = (uInt)n;
	do {
		p->out.next_out = tmp;
		p->out.avail_out = sizeof(tmp);
		assert_int_not_equal(deflate(&p->out, mode), Z_STREAM_ERROR);
		buf_append(out, (const char *)tmp, sizeof(tmp) - p->out.avail_out);
	} while (p->out.avail_out == 0);
}

static void
send_all(int fd, const void *data, size_t n)
{
	const char *s = data;

	while (n > 0) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

		assert_true(w > 0);
		s += w;
		n -= (size_t)w;
	}
}

/* Send text compressed, ending with a sync flush. */
static void
peer_send(struct peer *p, const char *text)
{
	struct buf z;

	buf_init(&z);
	peer_compress(p, text, strlen(text), Z_SYNC_FLUSH, &z);
	send_all(p->fd, z.data, z.len);
	buf_free(&z);
}

/* Receive until the inflated bytes hold want bytes; false on EOF/timeout. */
static bool
peer_recv(struct peer *p, size_t want)
{
	unsigned char raw[8192], out[65536];

	while (p->got.len < want) {
		ssize_t r = recv(p->fd, raw, sizeof(raw), 0);

		if (r <= 0)
			return false;
		buf_append(&p->raw, (const char *)raw, (size_t)r);
		p->in.next_in = raw;
		p->in.avail_in = (uInt)r;
		do {
			int zr;

			p->in.next_out = out;
			p->in.avail_out = sizeof(out);
			zr = inflate(&p->in, Z_SYNC_FLUSH);
			assert_true(zr == Z_OK || zr == Z_BUF_ERROR);
			buf_append(&p->got, (const char *)out, sizeof(out) - p->in.avail_out);
		} while (p->in.avail_in > 0 || p->in.avail_out == 0);
	}
	return true;
}

static void
start(struct conn *c)
{
	const char *error = NULL;

	assert_int_equal(conn_deflate_start(c, &error), 0);
	assert_true(conn_deflate_active(c));
}

/* ---- tests ---- */

/* The OK queued before the start goes out uncompressed, everything after
 * compressed and sync-flushed; a second start and TLS are refused. */
static void
test_start_and_output(void **state)
{
	struct conn c;
	struct peer p;
	const char *error = NULL;
	char plain[32];
	unsigned long long zr, zw;

	(void)state;
	open_pair(&c, &p);
	assert_false(conn_deflate_active(&c));
	assert_int_equal(conn_puts(&c, "z OK DEFLATE active\r\n"), 0);
	start(&c);
	assert_int_equal(recv(p.fd, plain, 21, MSG_WAITALL), 21);
	assert_memory_equal(plain, "z OK DEFLATE active\r\n", 21);

	assert_int_equal(conn_printf(&c, "* %d EXISTS\r\n", 3), 0);
	assert_int_equal(conn_puts(&c, "a OK done\r\n"), 0);
	assert_int_equal(conn_flush(&c), 0);
	assert_true(peer_recv(&p, 23));
	assert_int_equal(p.got.len, 23);
	assert_memory_equal(p.got.data, "* 3 EXISTS\r\na OK done\r\n", 23);
	assert_true(p.raw.len >= 4);
	assert_memory_equal(p.raw.data + p.raw.len - 4, sync_mark, 4);
	/* A flush with nothing new writes nothing. */
	assert_int_equal(conn_flush(&c), 0);
	conn_deflate_counts(&c, &zr, &zw);
	assert_int_equal(zw, p.raw.len);
	assert_int_equal(c.nwritten, 21 + 23);

	assert_int_equal(conn_deflate_start(&c, &error), -1);
	assert_string_equal(error, "compression is already active");
	error = NULL;
	assert_int_equal(conn_tls_accept(&c, NULL, &error), -1);
	assert_string_equal(error, "compression is active");
	close_pair(&c, &p);
}

/* Several MB through conn_write: the buffer passes its 64 KiB limit many
 * times (written without a flush), the last conn_flush makes it whole. */
struct big_reader {
	struct peer *p;
	size_t want;
	bool ok;
};

static void *
big_reader_main(void *arg)
{
	struct big_reader *br = arg;

	br->ok = peer_recv(br->p, br->want);
	return NULL;
}

static void
test_large_output(void **state)
{
	struct conn c;
	struct peer p;
	struct big_reader br;
	pthread_t th;
	char chunk[1000];
	size_t i, total = 0;
	uint32_t x = 1;

	(void)state;
	open_pair(&c, &p);
	start(&c);
	br.p = &p;
	br.want = 3000 * sizeof(chunk);
	assert_int_equal(pthread_create(&th, NULL, big_reader_main, &br), 0);
	for (i = 0; i < 3000; i++) {
		size_t k;

		/* half text, half noise: neither trivial nor incompressible */
		for (k = 0; k < sizeof(chunk); k++) {
			x = x * 1103515245u + 12345u;
			chunk[k] = k % 2 ? (char)('a' + k % 7) : (char)(x >> 24);
		}
		assert_int_equal(conn_write(&c, chunk, sizeof(chunk)), 0);
		total += sizeof(chunk);
	}
	assert_int_equal(conn_flush(&c), 0);
	pthread_join(th, NULL);
	assert_true(br.ok);
	assert_int_equal(p.got.len, total);
	/* the same bytes again */
	x = 1;
	for (i = 0; i < 3000; i++) {
		size_t k;

		for (k = 0; k < sizeof(chunk); k++) {
			x = x * 1103515245u + 12345u;
			chunk[k] = k % 2 ? (char)('a' + k % 7) : (char)(x >> 24);
		}
		assert_memory_equal(p.got.data + i * sizeof(chunk), chunk, sizeof(chunk));
	}
	assert_true(p.raw.len < total);
	assert_memory_equal(p.raw.data + p.raw.len - 4, sync_mark, 4);
	close_pair(&c, &p);
}

/* Compressed input sent one byte at a time by a thread. */
struct trickle {
	int fd;
	struct buf z;
};

static void *
trickle_main(void *arg)
{
	struct trickle *t = arg;
	size_t i;

	for (i = 0; i < t->z.len; i++) {
		send_all(t->fd, t->z.data + i, 1);
		usleep(200);
	}
	return NULL;
}

static void
test_input_byte_by_byte(void **state)
{
	struct conn c;
	struct peer p;
	struct trickle t;
	struct buf line, lit;
	pthread_t th;
	static const char text[] = "a NOOP\r\nb APPEND INBOX {10}\r\n0123456789\r\nc LOGOUT\r\n";

	(void)state;
	open_pair(&c, &p);
	start(&c);
	t.fd = p.fd;
	buf_init(&t.z);
	peer_compress(&p, text, strlen(text), Z_SYNC_FLUSH, &t.z);
	assert_int_equal(pthread_create(&th, NULL, trickle_main, &t), 0);
	buf_init(&line);
	buf_init(&lit);
	assert_int_equal(conn_read_line(&c, &line, 100), 1);
	assert_string_equal(line.data, "a NOOP\r\n");
	assert_int_equal(conn_read_line(&c, &line, 100), 1);
	assert_string_equal(line.data, "b APPEND INBOX {10}\r\n");
	assert_int_equal(conn_read_exact(&c, &lit, 10), 0);
	assert_memory_equal(lit.data, "0123456789", 10);
	assert_int_equal(conn_read_line(&c, &line, 100), 1);
	assert_string_equal(line.data, "\r\n");
	assert_int_equal(conn_read_line(&c, &line, 100), 1);
	assert_string_equal(line.data, "c LOGOUT\r\n");
	pthread_join(th, NULL);
	assert_int_equal(c.nread, strlen(text));
	buf_free(&line);
	buf_free(&lit);
	buf_free(&t.z);
	close_pair(&c, &p);
}

/* Input that inflates to nothing yet must not make conn_wait report the
 * connection readable (IDLE would then block in a read and miss change
 * notifications); the rest of it must. */
static void
test_wait_partial_block(void **state)
{
	struct conn c;
	struct peer p;
	struct buf z, line;

	(void)state;
	open_pair(&c, &p);
	start(&c);
	buf_init(&z);
	buf_init(&line);
	peer_compress(&p, "DONE\r\n", 6, Z_SYNC_FLUSH, &z);
	assert_true(z.len > 2);
	send_all(p.fd, z.data, 1);
	assert_int_equal(conn_wait(&c, -1, 300), 0);
	assert_false(c.failed);
	/* Only the empty block of the flush is missing: the data inflate
	 * already, the marker alone must not wake anyone later either. */
	send_all(p.fd, z.data + 1, z.len - 5);
	assert_int_equal(conn_wait(&c, -1, 2000), 1);
	send_all(p.fd, z.data + z.len - 4, 4);
	assert_int_equal(conn_read_line(&c, &line, 100), 1);
	assert_string_equal(line.data, "DONE\r\n");
	assert_int_equal(conn_wait(&c, -1, 300), 0);
	assert_false(conn_has_input(&c));
	buf_free(&z);
	buf_free(&line);
	close_pair(&c, &p);
}

/* Bytes read ahead before the start (in the connection's buffer) are
 * compressed input. */
static void
test_readahead(void **state)
{
	struct conn c;
	struct peer p;
	struct buf z, wire, line;
	const char *error = NULL;

	(void)state;
	open_pair(&c, &p);
	buf_init(&z);
	buf_init(&wire);
	buf_init(&line);
	peer_compress(&p, "one\r\ntwo\r\n", 10, Z_SYNC_FLUSH, &z);
	buf_puts(&wire, "COMPRESS\r\n");
	buf_append(&wire, z.data, z.len);
	send_all(p.fd, wire.data, wire.len);
	/* All of it arrives before the first read, which takes it at once. */
	usleep(200 * 1000);
	assert_int_equal(conn_read_line(&c, &line, 100), 1);
	assert_string_equal(line.data, "COMPRESS\r\n");
	assert_int_equal(c.rlen - c.rpos, z.len);
	assert_int_equal(conn_deflate_start(&c, &error), 0);
	assert_int_equal(conn_read_line(&c, &line, 100), 1);
	assert_string_equal(line.data, "one\r\n");
	assert_int_equal(conn_read_line(&c, &line, 100), 1);
	assert_string_equal(line.data, "two\r\n");
	buf_free(&z);
	buf_free(&wire);
	buf_free(&line);
	close_pair(&c, &p);
}

/* Not deflate data: the read fails, the connection is marked failed. */
static void
test_garbage(void **state)
{
	struct conn c;
	struct peer p;
	struct buf line;
	unsigned char junk[64];

	(void)state;
	open_pair(&c, &p);
	start(&c);
	buf_init(&line);
	peer_send(&p, "ok\r\n");
	assert_int_equal(conn_read_line(&c, &line, 100), 1);
	assert_string_equal(line.data, "ok\r\n");
	/* a stored block whose length does not match its complement */
	memset(junk, 0, sizeof(junk));
	junk[0] = 0x00;
	junk[1] = 0x05;
	junk[2] = 0x00;
	junk[3] = 0x00;
	junk[4] = 0x00;
	send_all(p.fd, junk, sizeof(junk));
	assert_int_equal(conn_read_line(&c, &line, 100), -1);
	assert_true(c.failed);
	assert_int_equal(conn_wait(&c, -1, 100), 1);
	assert_true(conn_write(&c, "x", 1) < 0);
	buf_free(&line);
	close_pair(&c, &p);
}

/* The peer ends its stream (final block): what came before is read, then
 * EOF, and waiting returns at once. */
static void
test_stream_end(void **state)
{
	struct conn c;
	struct peer p;
	struct buf z, line;

	(void)state;
	open_pair(&c, &p);
	start(&c);
	buf_init(&z);
	buf_init(&line);
	peer_compress(&p, "last\r\n", 6, Z_FINISH, &z);
	buf_puts(&z, "trailing junk");
	send_all(p.fd, z.data, z.len);
	assert_int_equal(conn_read_line(&c, &line, 100), 1);
	assert_string_equal(line.data, "last\r\n");
	assert_int_equal(conn_wait(&c, -1, 2000), 1);
	assert_int_equal(conn_read_line(&c, &line, 100), 0);
	assert_true(c.eof);
	buf_free(&z);
	buf_free(&line);
	close_pair(&c, &p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_start_and_output),
		cmocka_unit_test(test_large_output),
		cmocka_unit_test(test_input_byte_by_byte),
		cmocka_unit_test(test_wait_partial_block),
		cmocka_unit_test(test_readahead),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_stream_end),
	};

	log_init("test_conn_deflate", MS_LOG_ERROR, 2);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
