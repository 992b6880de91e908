/* Unit tests for lib/net/tls: real handshakes over loopback TCP between a
 * struct conn (server) and an OpenSSL client in a thread. Keys and
 * self-signed certificates are made here and written to a temporary
 * directory: SNI selection and fallback, minimum version, session tickets,
 * reload, key mismatch errors, STARTTLS injection, I/O through conn_*,
 * channel bindings, client public keys, and clients that misbehave. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"
#include "net/conn.h"
#include "net/tls.h"

/* ---- keys and certificates ---- */

struct keycert {
	EVP_PKEY *key;
	X509 *cert;
	char cert_path[512];
	char key_path[512];
};

static char tmpdir[256];
static struct keycert kc_a, kc_b, kc_c, kc_a2, kc_client;

static X509 *
make_cert(EVP_PKEY *key, const char *cn, const char *san, long serial)
{
	X509 *x = X509_new();
	X509_NAME *name;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), serial), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	name = X509_get_subject_name(x);
	if (cn != NULL)
		assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
					 (const unsigned char *)cn, -1, -1, 0),
			1);
	else
		assert_int_equal(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
					 (const unsigned char *)"Mailstead tests", -1, -1, 0),
			1);
	assert_int_equal(X509_set_issuer_name(x, name), 1);
	if (san != NULL) {
		X509V3_CTX v3;
		X509_EXTENSION *ext;

		X509V3_set_ctx_nodb(&v3);
		X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
		ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
		assert_non_null(ext);
		assert_int_equal(X509_add_ext(x, ext, -1), 1);
		X509_EXTENSION_free(ext);
	}
	/* Ed25519 signs without a separate digest. */
	assert_true(X509_sign(x, key,
			    EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519 ? NULL : EVP_sha256()) >
		0);
	return x;
}

static void
write_cert(const char *path, X509 *cert)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, cert), 1);
	assert_int_equal(fclose(f), 0);
}

static void
write_key(const char *path, EVP_PKEY *key)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
	assert_int_equal(fclose(f), 0);
}

static void
keycert_make(struct keycert *kc, const char *file, const char *cn, const char *san, long serial)
{
	kc->key = EVP_EC_gen("P-256");
	assert_non_null(kc->key);
	kc->cert = make_cert(kc->key, cn, san, serial);
	assert_true((size_t)snprintf(kc->cert_path, sizeof(kc->cert_path), "%s/%s.pem", tmpdir,
			    file) < sizeof(kc->cert_path));
	assert_true((size_t)snprintf(kc->key_path, sizeof(kc->key_path), "%s/%s.key", tmpdir,
			    file) < sizeof(kc->key_path));
	write_cert(kc->cert_path, kc->cert);
	write_key(kc->key_path, kc->key);
}

static void
keycert_free(struct keycert *kc)
{
	if (kc->cert_path[0] != '\0')
		(void)unlink(kc->cert_path);
	if (kc->key_path[0] != '\0')
		(void)unlink(kc->key_path);
	X509_free(kc->cert);
	EVP_PKEY_free(kc->key);
	memset(kc, 0, sizeof(*kc));
}

static char *
tmp_path(const char *file)
{
	return xasprintf("%s/%s", tmpdir, file);
}

static int
group_setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	log_init("test_tls", MS_LOG_ERROR, 2);
	if (ms_strlcpy(tmpdir, "/tmp/test_tls.XXXXXX", sizeof(tmpdir)) >= sizeof(tmpdir) ||
		mkdtemp(tmpdir) == NULL)
		return -1;
	keycert_make(&kc_a, "a", "a.example.org", "DNS:a.example.org", 1);
	keycert_make(&kc_b, "b", "b certificate", "DNS:*.b.example.org", 2);
	keycert_make(&kc_c, "c", "c.example.org", NULL, 3);
	keycert_make(&kc_a2, "a2", "a.example.org", "DNS:a.example.org", 4);
	keycert_make(&kc_client, "client", "client device", NULL, 5);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	keycert_free(&kc_a);
	keycert_free(&kc_b);
	keycert_free(&kc_c);
	keycert_free(&kc_a2);
	keycert_free(&kc_client);
	(void)rmdir(tmpdir);
	return 0;
}

/* A context with certificates b, a, c (in that order, so falling back to
 * the host name's certificate a differs from taking the first). */
static struct tls_ctx *
ctx_new(int min_version, bool tickets, bool client_auth)
{
	const char *certs[] = { kc_b.cert_path, kc_a.cert_path, kc_c.cert_path };
	const char *keys[] = { kc_b.key_path, kc_a.key_path, kc_c.key_path };
	struct tls_config cfg = {
		.cert_files = certs,
		.key_files = keys,
		.ncerts = 3,
		.hostname = "A.example.org.",
		.min_version = min_version,
		.session_tickets = tickets,
		.client_auth = client_auth,
	};
	const char *error = NULL;
	struct tls_ctx *ctx = tls_ctx_create(&cfg, &error);

	if (ctx == NULL)
		fail_msg("tls_ctx_create: %s", error);
	return ctx;
}

/* ---- the client thread ---- */

enum op_kind {
	OP_END,
	OP_READ_LINE,	/* expect text (NULL: any line) */
	OP_WRITE,	/* text */
	OP_WRITE_BULK,	/* n bytes of 'x' then "\r\n", one SSL_write */
	OP_READ_BULK,	/* n bytes, all 'y' */
	OP_KEY_UPDATE,	/* TLS 1.3 KeyUpdate, asking the server to update too */
	OP_SLEEP,	/* n milliseconds */
};

struct op {
	enum op_kind kind;
	const char *text;
	size_t n;
};

static const struct op default_ops[] = {
	{ OP_READ_LINE, NULL, 0 },
	{ OP_WRITE, "ping\r\n", 0 },
	{ OP_END, NULL, 0 },
};

struct client {
	int fd;
	/* settings */
	const char *sni;
	int min_version, max_version;
	SSL_SESSION *resume;		/* offered for resumption */
	struct keycert *cert;		/* client certificate */
	bool raw_line_first;		/* read a plaintext line before TLS */
	const char *garbage;		/* send this instead of TLS */
	size_t garbage_len;
	int trickle_ms;			/* send garbage a byte at a time */
	bool silent;			/* send nothing, wait for EOF */
	const struct op *ops;		/* NULL: default_ops */
	/* results */
	char raw_line[128];
	bool handshake_ok;
	X509 *peer;
	int version;
	uint16_t cipher_id;
	bool resumed;
	unsigned char unique[64];
	size_t unique_len;
	unsigned char exporter[32];
	bool have_exporter;
	char first_line[128];
	SSL_SESSION *session;		/* for resuming later */
	bool clean_eof;			/* got close_notify */
	const char *error;		/* script failure */
};

static int
raw_read_line(int fd, char *out, size_t size)
{
	size_t n = 0;

	while (n + 1 < size) {
		char ch;
		ssize_t r = recv(fd, &ch, 1, 0);

		if (r <= 0)
			return -1;
		out[n++] = ch;
		if (ch == '\n')
			break;
	}
	out[n] = '\0';
	return 0;
}

static void
raw_wait_eof(int fd)
{
	char tmp[512];

	while (recv(fd, tmp, sizeof(tmp), 0) > 0)
		;
}

static int
ssl_read_line(SSL *ssl, char *out, size_t size)
{
	size_t n = 0;

	while (n + 1 < size) {
		char ch;

		if (SSL_read(ssl, &ch, 1) != 1)
			return -1;
		out[n++] = ch;
		if (ch == '\n')
			break;
	}
	out[n] = '\0';
	return 0;
}

static void
client_run_ops(struct client *cl, SSL *ssl)
{
	const struct op *op;
	char line[128];

	for (op = cl->ops != NULL ? cl->ops : default_ops; op->kind != OP_END; op++) {
		switch (op->kind) {
		case OP_READ_LINE:
			if (ssl_read_line(ssl, line, sizeof(line)) < 0) {
				cl->error = "read line failed";
				return;
			}
			if (op->text != NULL && strcmp(line, op->text) != 0) {
				cl->error = "unexpected line";
				return;
			}
			if (cl->first_line[0] == '\0')
				(void)ms_strlcpy(cl->first_line, line, sizeof(cl->first_line));
			/* TLS 1.3 tickets arrive after the handshake: read. */
			SSL_SESSION_free(cl->session);
			cl->session = SSL_get1_session(ssl);
			break;
		case OP_WRITE:
			if (SSL_write(ssl, op->text, (int)strlen(op->text)) != (int)strlen(op->text)) {
				cl->error = "write failed";
				return;
			}
			break;
		case OP_WRITE_BULK: {
			char *p = xmalloc(op->n + 2);

			memset(p, 'x', op->n);
			memcpy(p + op->n, "\r\n", 2);
			if (SSL_write(ssl, p, (int)op->n + 2) != (int)op->n + 2)
				cl->error = "bulk write failed";
			free(p);
			if (cl->error != NULL)
				return;
			break;
		}
		case OP_READ_BULK: {
			char tmp[4096];
			size_t got = 0;

			while (got < op->n) {
				int r = SSL_read(ssl, tmp, (int)(op->n - got < sizeof(tmp) ?
								    op->n - got :
								    sizeof(tmp)));
				int i;

				if (r <= 0) {
					cl->error = "bulk read failed";
					return;
				}
				for (i = 0; i < r; i++) {
					if (tmp[i] != 'y') {
						cl->error = "bulk data corrupt";
						return;
					}
				}
				got += (size_t)r;
			}
			break;
		}
		case OP_KEY_UPDATE:
			if (SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED) != 1 ||
				SSL_do_handshake(ssl) != 1) {
				cl->error = "key update failed";
				return;
			}
			break;
		case OP_SLEEP:
			usleep((useconds_t)op->n * 1000);
			break;
		case OP_END:
			break;
		}
	}
}

static void *
client_main(void *arg)
{
	struct client *cl = arg;
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = NULL;
	const SSL_CIPHER *cipher;
	char tmp[64];
	int r;

	SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
	if (cl->min_version != 0)
		SSL_CTX_set_min_proto_version(cctx, cl->min_version);
	if (cl->max_version != 0)
		SSL_CTX_set_max_proto_version(cctx, cl->max_version);
	if (cl->cert != NULL) {
		SSL_CTX_use_certificate(cctx, cl->cert->cert);
		SSL_CTX_use_PrivateKey(cctx, cl->cert->key);
	}
	if (cl->raw_line_first && raw_read_line(cl->fd, cl->raw_line, sizeof(cl->raw_line)) < 0) {
		cl->error = "no plaintext line before TLS";
		goto out;
	}
	if (cl->garbage != NULL && cl->trickle_ms > 0) {
		size_t i;

		for (i = 0; i < cl->garbage_len; i++) {
			if (send(cl->fd, cl->garbage + i, 1, MSG_NOSIGNAL) != 1)
				break;
			usleep((useconds_t)cl->trickle_ms * 1000);
		}
		raw_wait_eof(cl->fd);
		goto out;
	}
	if (cl->garbage != NULL) {
		(void)send(cl->fd, cl->garbage, cl->garbage_len, MSG_NOSIGNAL);
		raw_wait_eof(cl->fd);
		goto out;
	}
	if (cl->silent) {
		raw_wait_eof(cl->fd);
		goto out;
	}
	ssl = SSL_new(cctx);
	SSL_set_fd(ssl, cl->fd);
	if (cl->sni != NULL)
		SSL_set_tlsext_host_name(ssl, cl->sni);
	if (cl->resume != NULL)
		SSL_set_session(ssl, cl->resume);
	if (SSL_connect(ssl) != 1)
		goto out;
	cl->handshake_ok = true;
	cl->peer = SSL_get1_peer_certificate(ssl);
	cl->version = SSL_version(ssl);
	cipher = SSL_get_current_cipher(ssl);
	cl->cipher_id = cipher != NULL ? SSL_CIPHER_get_protocol_id(cipher) : 0;
	cl->resumed = SSL_session_reused(ssl) == 1;
	/* The client's own view of the channel bindings. */
	if (cl->version <= TLS1_2_VERSION)
		cl->unique_len = cl->resumed ?
			SSL_get_peer_finished(ssl, cl->unique, sizeof(cl->unique)) :
			SSL_get_finished(ssl, cl->unique, sizeof(cl->unique));
	cl->have_exporter = SSL_export_keying_material(ssl, cl->exporter, sizeof(cl->exporter),
				    "EXPORTER-Channel-Binding", 24,
				    (const unsigned char *)"", 0, 1) == 1;
	client_run_ops(cl, ssl);
	if (cl->error != NULL)
		goto out;
	/* Wait for the server's close. */
	for (;;) {
		r = SSL_read(ssl, tmp, sizeof(tmp));
		if (r <= 0)
			break;
	}
	cl->clean_eof = SSL_get_error(ssl, r) == SSL_ERROR_ZERO_RETURN;
	/* Answer close_notify: OpenSSL forgets sessions of connections that
	 * did not end with one (they could have been truncated). */
	if (cl->clean_eof)
		(void)SSL_shutdown(ssl);
out:
	SSL_free(ssl);
	SSL_CTX_free(cctx);
	ERR_clear_error();
	return NULL;
}

/* ---- server side helpers ---- */

struct session {
	struct conn c;
	struct client cl;
	pthread_t th;
	bool running;
};

/* A connected loopback TCP pair. */
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
	/* The client thread must never hang the test run. */
	(void)setsockopt(*client_r, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(*client_r, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void
session_open(struct session *s, int timeout_ms)
{
	int sfd, cfd;

	memset(s, 0, sizeof(*s));
	tcp_pair(&sfd, &cfd);
	conn_init(&s->c, sfd, timeout_ms);
	s->cl.fd = cfd;
}

static void
session_client_start(struct session *s)
{
	assert_int_equal(pthread_create(&s->th, NULL, client_main, &s->cl), 0);
	s->running = true;
}

/* Close the server side (close_notify) and wait for the client. */
static void
session_close(struct session *s)
{
	conn_close(&s->c);
	if (s->running)
		pthread_join(s->th, NULL);
	s->running = false;
	close(s->cl.fd);
}

static void
session_free(struct session *s)
{
	X509_free(s->cl.peer);
	SSL_SESSION_free(s->cl.session);
	s->cl.peer = NULL;
	s->cl.session = NULL;
}

/* The server half of default_ops: greet (with the SNI name), read "ping". */
static void
server_greet_ping(struct conn *c)
{
	struct buf line;
	const char *sni = conn_tls_sni(c);

	buf_init(&line);
	assert_int_equal(conn_printf(c, "hello %s\r\n", sni != NULL ? sni : "-"), 0);
	assert_int_equal(conn_flush(c), 0);
	assert_int_equal(conn_read_line(c, &line, 1000), 1);
	assert_string_equal(line.data, "ping\r\n");
	buf_free(&line);
}

/* ---- tests ---- */

static void
test_parse_version(void **state)
{
	int v = 0;

	(void)state;
	assert_int_equal(tls_parse_version("1.2", &v), 0);
	assert_int_equal(v, TLS1_2_VERSION);
	assert_int_equal(tls_parse_version("1.3", &v), 0);
	assert_int_equal(v, TLS1_3_VERSION);
	assert_int_equal(tls_parse_version("TLSv1.0", &v), 0);
	assert_int_equal(v, TLS1_VERSION);
	assert_int_equal(tls_parse_version("tls1.1", &v), 0);
	assert_int_equal(v, TLS1_1_VERSION);
	assert_int_equal(tls_parse_version("TLS 1.3", &v), 0);
	assert_int_equal(v, TLS1_3_VERSION);
	assert_int_equal(tls_parse_version("1.4", &v), -1);
	assert_int_equal(tls_parse_version("", &v), -1);
	assert_int_equal(tls_parse_version("1.2 ", &v), -1);
	assert_int_equal(tls_parse_version("SSLv3", &v), -1);
	assert_string_equal(tls_version_name(0x0304), "TLS1.3");
	assert_string_equal(tls_version_name(0x0303), "TLS1.2");
	assert_string_equal(tls_version_name(0x0300), "unknown");
}

static void
test_cert_names(void **state)
{
	struct tls_ctx *ctx = ctx_new(0, false, false);
	struct buf b;

	(void)state;
	buf_init(&b);
	assert_int_equal(tls_ctx_cert_count(ctx), 3);
	tls_ctx_cert_names(ctx, 0, &b);
	assert_string_equal(b.data, "*.b.example.org");
	buf_reset(&b);
	tls_ctx_cert_names(ctx, 1, &b);
	assert_string_equal(b.data, "a.example.org");
	buf_reset(&b);
	/* No subjectAltName: the CN counts. */
	tls_ctx_cert_names(ctx, 2, &b);
	assert_string_equal(b.data, "c.example.org");
	buf_free(&b);
	tls_ctx_free(&ctx);
	assert_null(ctx);
}

static void
expect_cert(struct tls_ctx *ctx, const char *sni, unsigned flags, X509 *want)
{
	struct session s;
	const char *error = NULL;
	int r;

	session_open(&s, 5000);
	s.cl.sni = sni;
	session_client_start(&s);
	r = conn_tls_accept_flags(&s.c, ctx, flags, &error);
	if (r != 0)
		fail_msg("sni %s: %s", sni != NULL ? sni : "(none)", error);
	server_greet_ping(&s.c);
	if (sni != NULL) {
		char *lower = xstrdup(sni);

		ms_str_lower(lower);
		if (lower[strlen(lower) - 1] == '.')
			lower[strlen(lower) - 1] = '\0';
		assert_non_null(conn_tls_sni(&s.c));
		assert_string_equal(conn_tls_sni(&s.c), lower);
		free(lower);
	} else {
		assert_null(conn_tls_sni(&s.c));
	}
	session_close(&s);
	assert_true(s.cl.handshake_ok);
	assert_null(s.cl.error);
	assert_true(s.cl.clean_eof);
	assert_non_null(s.cl.peer);
	if (X509_cmp(s.cl.peer, want) != 0)
		fail_msg("sni %s: wrong certificate", sni != NULL ? sni : "(none)");
	session_free(&s);
}

static void
test_sni_selection(void **state)
{
	struct tls_ctx *ctx = ctx_new(0, false, false);

	(void)state;
	expect_cert(ctx, "a.example.org", 0, kc_a.cert);
	expect_cert(ctx, "A.Example.ORG.", 0, kc_a.cert);
	expect_cert(ctx, "x.b.example.org", 0, kc_b.cert);
	expect_cert(ctx, "mail.b.example.org", CONN_TLS_STRICT_SNI, kc_b.cert);
	/* CN-only certificate. */
	expect_cert(ctx, "c.example.org", 0, kc_c.cert);
	/* The wildcard covers one label only: not the apex, not two labels. */
	expect_cert(ctx, "b.example.org", 0, kc_a.cert);
	expect_cert(ctx, "y.x.b.example.org", 0, kc_a.cert);
	/* Unknown and absent names fall back to the host name's
	 * certificate (a), not the first one (b). */
	expect_cert(ctx, "unknown.example.net", 0, kc_a.cert);
	expect_cert(ctx, NULL, 0, kc_a.cert);
	expect_cert(ctx, NULL, CONN_TLS_STRICT_SNI, kc_a.cert);
	tls_ctx_free(&ctx);
}

static void
test_sni_strict_rejects_unknown(void **state)
{
	struct tls_ctx *ctx = ctx_new(0, false, false);
	struct session s;
	const char *error = NULL;

	(void)state;
	session_open(&s, 5000);
	s.cl.sni = "unknown.example.net";
	session_client_start(&s);
	assert_int_equal(conn_tls_accept_flags(&s.c, ctx, CONN_TLS_STRICT_SNI, &error), -1);
	assert_non_null(strstr(error, "no certificate for SNI name unknown.example.net"));
	assert_true(s.c.failed);
	assert_false(conn_tls_active(&s.c));
	session_close(&s);
	assert_false(s.cl.handshake_ok);
	session_free(&s);
	tls_ctx_free(&ctx);
}

static void
test_min_version(void **state)
{
	struct tls_ctx *ctx = ctx_new(TLS1_3_VERSION, false, false);
	struct session s;
	const char *error = NULL;

	(void)state;
	/* A TLS 1.2-only client is refused. */
	session_open(&s, 5000);
	s.cl.max_version = TLS1_2_VERSION;
	session_client_start(&s);
	assert_int_equal(conn_tls_accept(&s.c, ctx, &error), -1);
	assert_non_null(strstr(error, "TLS handshake: "));
	session_close(&s);
	assert_false(s.cl.handshake_ok);
	session_free(&s);

	/* A TLS 1.3 client is fine. */
	session_open(&s, 5000);
	session_client_start(&s);
	assert_int_equal(conn_tls_accept(&s.c, ctx, &error), 0);
	assert_int_equal(conn_tls_version_id(&s.c), 0x0304);
	server_greet_ping(&s.c);
	session_close(&s);
	assert_true(s.cl.handshake_ok);
	session_free(&s);
	tls_ctx_free(&ctx);

	/* Default minimum 1.2: a 1.2 client gets 1.2. */
	ctx = ctx_new(0, false, false);
	session_open(&s, 5000);
	s.cl.max_version = TLS1_2_VERSION;
	session_client_start(&s);
	assert_int_equal(conn_tls_accept(&s.c, ctx, &error), 0);
	assert_int_equal(conn_tls_version_id(&s.c), 0x0303);
	assert_string_equal(conn_tls_version_name(&s.c), "TLS1.2");
	server_greet_ping(&s.c);
	session_close(&s);
	session_free(&s);

	/* ... and a TLS 1.1-only client is refused by default. */
	session_open(&s, 5000);
	s.cl.max_version = TLS1_1_VERSION;
	session_client_start(&s);
	assert_int_equal(conn_tls_accept(&s.c, ctx, &error), -1);
	session_close(&s);
	assert_false(s.cl.handshake_ok);
	session_free(&s);
	tls_ctx_free(&ctx);
}

/* Connect twice, offering the first session on the second connection.
 * Returns whether the second was resumed (both sides must agree). */
static bool
resumes(struct tls_ctx *ctx, int max_version)
{
	struct session s;
	SSL_SESSION *sess;
	const char *error = NULL;
	bool resumed;

	session_open(&s, 5000);
	s.cl.max_version = max_version;
	session_client_start(&s);
	assert_int_equal(conn_tls_accept(&s.c, ctx, &error), 0);
	assert_false(conn_tls_resumed(&s.c));
	server_greet_ping(&s.c);
	session_close(&s);
	assert_true(s.cl.handshake_ok);
	assert_false(s.cl.resumed);
	assert_non_null(s.cl.session);
	sess = s.cl.session;
	s.cl.session = NULL;
	session_free(&s);

	session_open(&s, 5000);
	s.cl.max_version = max_version;
	s.cl.resume = sess;
	session_client_start(&s);
	assert_int_equal(conn_tls_accept(&s.c, ctx, &error), 0);
	resumed = conn_tls_resumed(&s.c);
	server_greet_ping(&s.c);
	session_close(&s);
	assert_true(s.cl.handshake_ok);
	assert_int_equal(s.cl.resumed, resumed);
	session_free(&s);
	SSL_SESSION_free(sess);
	return resumed;
}

static void
test_session_tickets(void **state)
{
	struct tls_ctx *on = ctx_new(0, true, false);
	struct tls_ctx *off = ctx_new(0, false, false);

	(void)state;
	assert_true(resumes(on, 0));
	assert_true(resumes(on, TLS1_2_VERSION));
	assert_false(resumes(off, 0));
	assert_false(resumes(off, TLS1_2_VERSION));
	tls_ctx_free(&on);
	tls_ctx_free(&off);
}

static void
copy_file(const char *from, const char *to)
{
	struct buf b;
	FILE *f;

	buf_init(&b);
	assert_int_equal(ms_read_file(from, &b), 0);
	f = fopen(to, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(b.data, 1, b.len, f), b.len);
	assert_int_equal(fclose(f), 0);
	buf_free(&b);
}

static void
test_reload(void **state)
{
	char *cert = tmp_path("reload.pem"), *key = tmp_path("reload.key");
	const char *certs[] = { cert, kc_b.cert_path };
	const char *keys[] = { key, kc_b.key_path };
	struct tls_config cfg = {
		.cert_files = certs,
		.key_files = keys,
		.ncerts = 2,
		.hostname = "a.example.org",
	};
	static const struct op ops[] = {
		{ OP_READ_LINE, "hello a.example.org\r\n", 0 },
		{ OP_READ_LINE, "after reload\r\n", 0 },
		{ OP_WRITE, "ping\r\n", 0 },
		{ OP_END, NULL, 0 },
	};
	struct tls_ctx *ctx;
	struct session old;
	struct buf line;
	const char *error = NULL;

	(void)state;
	buf_init(&line);
	copy_file(kc_a.cert_path, cert);
	copy_file(kc_a.key_path, key);
	ctx = tls_ctx_create(&cfg, &error);
	assert_non_null(ctx);

	/* A connection made before the reload... */
	session_open(&old, 5000);
	old.cl.sni = "a.example.org";
	old.cl.ops = ops;
	session_client_start(&old);
	assert_int_equal(conn_tls_accept(&old.c, ctx, &error), 0);
	assert_int_equal(conn_printf(&old.c, "hello %s\r\n", conn_tls_sni(&old.c)), 0);
	assert_int_equal(conn_flush(&old.c), 0);

	/* ... new files, reload: new handshakes get the new certificate. */
	copy_file(kc_a2.cert_path, cert);
	copy_file(kc_a2.key_path, key);
	assert_int_equal(tls_ctx_reload(ctx, &error), 0);
	expect_cert(ctx, "a.example.org", 0, kc_a2.cert);
	expect_cert(ctx, NULL, 0, kc_a2.cert);

	/* The old connection keeps working with its old certificate. */
	assert_int_equal(conn_puts(&old.c, "after reload\r\n"), 0);
	assert_int_equal(conn_flush(&old.c), 0);
	assert_int_equal(conn_read_line(&old.c, &line, 100), 1);
	assert_string_equal(line.data, "ping\r\n");
	session_close(&old);
	assert_null(old.cl.error);
	assert_int_equal(X509_cmp(old.cl.peer, kc_a.cert), 0);
	session_free(&old);

	/* A broken key: reload fails, naming the file, old certificates stay. */
	copy_file(kc_b.key_path, key);
	assert_int_equal(tls_ctx_reload(ctx, &error), -1);
	assert_non_null(strstr(error, key));
	assert_non_null(strstr(error, "does not match"));
	expect_cert(ctx, "a.example.org", 0, kc_a2.cert);
	/* A missing file too. */
	assert_int_equal(unlink(cert), 0);
	assert_int_equal(tls_ctx_reload(ctx, &error), -1);
	assert_non_null(strstr(error, cert));
	assert_non_null(strstr(error, strerror(ENOENT)));
	expect_cert(ctx, "a.example.org", 0, kc_a2.cert);

	tls_ctx_free(&ctx);
	(void)unlink(key);
	free(cert);
	free(key);
	buf_free(&line);
}

static void
test_create_errors(void **state)
{
	const char *certs[] = { kc_a.cert_path, kc_b.cert_path };
	const char *keys[] = { kc_a.key_path, kc_a.key_path };
	struct tls_config cfg = { .cert_files = certs, .key_files = keys, .ncerts = 2 };
	char *garbage = tmp_path("garbage.pem");
	const char *error = NULL;
	FILE *f;

	(void)state;
	/* b's certificate with a's key. */
	assert_null(tls_ctx_create(&cfg, &error));
	assert_non_null(strstr(error, kc_a.key_path));
	assert_non_null(strstr(error, kc_b.cert_path));
	assert_non_null(strstr(error, "does not match"));

	/* No certificates. */
	cfg.ncerts = 0;
	assert_null(tls_ctx_create(&cfg, &error));

	/* Not PEM. */
	f = fopen(garbage, "w");
	assert_non_null(f);
	fputs("not a certificate\n", f);
	assert_int_equal(fclose(f), 0);
	certs[0] = garbage;
	cfg.ncerts = 1;
	assert_null(tls_ctx_create(&cfg, &error));
	assert_non_null(strstr(error, garbage));
	assert_non_null(strstr(error, "no PEM certificate"));
	/* A certificate file is no key. */
	certs[0] = kc_a.cert_path;
	keys[0] = kc_a.cert_path;
	assert_null(tls_ctx_create(&cfg, &error));
	assert_non_null(strstr(error, "no unencrypted PEM private key"));
	/* Bad minimum version. */
	keys[0] = kc_a.key_path;
	cfg.min_version = 0x0200;
	assert_null(tls_ctx_create(&cfg, &error));
	(void)unlink(garbage);
	free(garbage);
}

static void
test_combined_pem_and_chain(void **state)
{
	/* One file with key and certificate (and a second certificate as
	 * the chain), used as both cert and key file. */
	char *path = tmp_path("combined.pem");
	const char *certs[] = { path };
	struct tls_config cfg = { .cert_files = certs, .key_files = certs, .ncerts = 1 };
	struct tls_ctx *ctx;
	const char *error = NULL;
	FILE *f = fopen(path, "w");

	(void)state;
	assert_non_null(f);
	assert_int_equal(PEM_write_PrivateKey(f, kc_c.key, NULL, NULL, 0, NULL, NULL), 1);
	assert_int_equal(PEM_write_X509(f, kc_c.cert), 1);
	assert_int_equal(PEM_write_X509(f, kc_b.cert), 1);
	assert_int_equal(fclose(f), 0);
	ctx = tls_ctx_create(&cfg, &error);
	if (ctx == NULL)
		fail_msg("%s", error);
	expect_cert(ctx, "c.example.org", 0, kc_c.cert);
	tls_ctx_free(&ctx);
	(void)unlink(path);
	free(path);
}

static void
test_starttls_injection(void **state)
{
	static const char injected[] = "STARTTLS\r\nMAIL FROM:<evil@example.org>\r\n";
	static const struct op ops[] = {
		{ OP_READ_LINE, "hello -\r\n", 0 },
		{ OP_WRITE, "NOOP\r\n", 0 },
		{ OP_END, NULL, 0 },
	};
	struct tls_ctx *ctx = ctx_new(0, false, false);
	struct session s;
	struct buf line;
	const char *error = NULL;

	(void)state;
	buf_init(&line);
	session_open(&s, 5000);
	/* The command and the injected one arrive in one segment. */
	assert_int_equal(send(s.cl.fd, injected, strlen(injected), 0), (ssize_t)strlen(injected));
	assert_int_equal(conn_read_line(&s.c, &line, 1000), 1);
	assert_string_equal(line.data, "STARTTLS\r\n");
	assert_true(conn_has_input(&s.c));
	s.cl.raw_line_first = true;
	s.cl.ops = ops;
	session_client_start(&s);
	/* The reply is only queued: conn_tls_accept flushes it. */
	assert_int_equal(conn_puts(&s.c, "220 2.0.0 Ready to start TLS\r\n"), 0);
	assert_int_equal(conn_tls_accept(&s.c, ctx, &error), 0);
	assert_int_equal(conn_tls_discarded_plaintext(&s.c),
		strlen("MAIL FROM:<evil@example.org>\r\n"));
	assert_false(conn_has_input(&s.c));
	assert_int_equal(conn_puts(&s.c, "hello -\r\n"), 0);
	assert_int_equal(conn_flush(&s.c), 0);
	/* The first command after TLS is the client's, not the injected one. */
	assert_int_equal(conn_read_line(&s.c, &line, 1000), 1);
	assert_string_equal(line.data, "NOOP\r\n");
	session_close(&s);
	assert_string_equal(s.cl.raw_line, "220 2.0.0 Ready to start TLS\r\n");
	assert_null(s.cl.error);
	session_free(&s);

	/* An honest STARTTLS discards nothing. */
	session_open(&s, 5000);
	assert_int_equal(send(s.cl.fd, "STARTTLS\r\n", 10, 0), 10);
	assert_int_equal(conn_read_line(&s.c, &line, 1000), 1);
	s.cl.raw_line_first = true;
	s.cl.ops = ops;
	session_client_start(&s);
	assert_int_equal(conn_puts(&s.c, "220 go ahead\r\n"), 0);
	assert_int_equal(conn_tls_accept(&s.c, ctx, &error), 0);
	assert_int_equal(conn_tls_discarded_plaintext(&s.c), 0);
	assert_int_equal(conn_puts(&s.c, "hello -\r\n"), 0);
	assert_int_equal(conn_flush(&s.c), 0);
	assert_int_equal(conn_read_line(&s.c, &line, 1000), 1);
	assert_string_equal(line.data, "NOOP\r\n");
	session_close(&s);
	session_free(&s);
	buf_free(&line);
	tls_ctx_free(&ctx);
}

static void
test_io(void **state)
{
	static const struct op ops[] = {
		{ OP_READ_LINE, "hello A\r\n", 0 },
		{ OP_WRITE, "one\r\ntwo\r\n", 0 },
		{ OP_WRITE_BULK, NULL, 100000 },
		{ OP_READ_BULK, NULL, 200000 },
		{ OP_READ_LINE, "end\r\n", 0 },
		{ OP_SLEEP, NULL, 300 },
		{ OP_KEY_UPDATE, NULL, 0 },
		{ OP_SLEEP, NULL, 300 },
		{ OP_WRITE, "late\r\n", 0 },
		{ OP_WRITE, "toolong-toolong-toolong\r\nshort\r\n", 0 },
		{ OP_END, NULL, 0 },
	};
	struct tls_ctx *ctx = ctx_new(0, false, false);
	struct session s;
	struct buf line, bulk;
	const char *error = NULL;
	char *big;
	int64_t t0;
	int efd;

	(void)state;
	buf_init(&line);
	buf_init(&bulk);
	session_open(&s, 5000);
	s.cl.ops = ops;
	session_client_start(&s);
	assert_int_equal(conn_tls_accept(&s.c, ctx, &error), 0);
	assert_true(conn_tls_active(&s.c));
	assert_int_equal(conn_printf(&s.c, "hello %s\r\n", "A"), 0);
	assert_int_equal(conn_flush(&s.c), 0);

	/* Two lines in one record: the second is buffered input. */
	assert_int_equal(conn_read_line(&s.c, &line, 1000), 1);
	assert_string_equal(line.data, "one\r\n");
	assert_true(conn_has_input(&s.c));
	assert_int_equal(conn_wait(&s.c, -1, 0), 1);
	assert_int_equal(conn_read_line(&s.c, &line, 1000), 1);
	assert_string_equal(line.data, "two\r\n");

	/* 100 KB across many records. */
	assert_int_equal(conn_read_exact(&s.c, &bulk, 100002), 0);
	assert_int_equal(bulk.len, 100002);
	assert_int_equal(memcmp(bulk.data + 100000, "\r\n", 2), 0);
	assert_int_equal(bulk.data[0], 'x');
	assert_int_equal(bulk.data[99999], 'x');

	/* 200 KB out, through the 64 KiB automatic flushes. */
	big = xmalloc(200000);
	memset(big, 'y', 200000);
	assert_int_equal(conn_write(&s.c, big, 100000), 0);
	assert_int_equal(conn_write(&s.c, big, 100000), 0);
	free(big);
	assert_int_equal(conn_puts(&s.c, "end\r\n"), 0);
	assert_int_equal(conn_flush(&s.c), 0);

	/* Nothing comes for a while; the KeyUpdate in between is no input,
	 * so conn_wait keeps waiting until "late" arrives. */
	assert_int_equal(conn_wait(&s.c, -1, 100), 0);
	t0 = ms_mono_ms();
	assert_int_equal(conn_wait(&s.c, -1, 5000), 1);
	assert_true(ms_mono_ms() - t0 >= 350);
	assert_int_equal(conn_read_line(&s.c, &line, 1000), 1);
	assert_string_equal(line.data, "late\r\n");
	/* Over-long line through TLS. */
	assert_int_equal(conn_read_line(&s.c, &line, 10), -2);
	assert_int_equal(conn_read_line(&s.c, &line, 10), 1);
	assert_string_equal(line.data, "short\r\n");

	/* The extra fd wakes conn_wait (IMAP IDLE notifications). */
	efd = eventfd(0, EFD_CLOEXEC);
	assert_true(efd >= 0);
	assert_int_equal(eventfd_write(efd, 1), 0);
	assert_int_equal(conn_wait(&s.c, efd, 2000), 2);
	close(efd);

	/* Plaintext byte counts after TLS are the protocol bytes. */
	assert_true(s.c.nread >= 100002 + 10);
	assert_true(s.c.nwritten >= 200000);
	session_close(&s);
	assert_null(s.cl.error);
	assert_true(s.cl.clean_eof);
	session_free(&s);

	/* EOF from the client. */
	session_open(&s, 5000);
	s.cl.ops = default_ops;
	session_client_start(&s);
	assert_int_equal(conn_tls_accept(&s.c, ctx, &error), 0);
	server_greet_ping(&s.c);
	/* The client waits for our close; shut its socket down instead. */
	shutdown(s.cl.fd, SHUT_RDWR);
	assert_int_equal(conn_read_line(&s.c, &line, 1000), 0);
	assert_true(s.c.eof);
	session_close(&s);
	session_free(&s);

	buf_free(&line);
	buf_free(&bulk);
	tls_ctx_free(&ctx);
}

static void
test_facts(void **state)
{
	struct tls_ctx *ctx = ctx_new(0, false, false);
	struct session s;
	struct buf b;
	const char *error = NULL;

	(void)state;
	buf_init(&b);
	session_open(&s, 5000);
	assert_false(conn_tls_active(&s.c));
	assert_null(conn_tls_version_name(&s.c));
	assert_int_equal(conn_tls_version_id(&s.c), 0);
	assert_int_equal(conn_tls_channel_binding(&s.c, "tls-exporter", &b, &error), -1);
	conn_tls_received_comment(&s.c, &b);
	assert_int_equal(b.len, 0);
	s.cl.sni = "x.B.example.org";
	session_client_start(&s);
	assert_int_equal(conn_tls_accept(&s.c, ctx, &error), 0);
	assert_string_equal(conn_tls_version_name(&s.c), "TLS1.3");
	assert_int_equal(conn_tls_version_id(&s.c), 0x0304);
	assert_string_equal(conn_tls_sni(&s.c), "x.b.example.org");
	assert_true(strncmp(conn_tls_cipher_name(&s.c), "TLS_", 4) == 0);
	conn_tls_received_comment(&s.c, &b);
	assert_true(strncmp(b.data, "(TLS1.3 TLS_", 12) == 0);
	assert_int_equal(b.data[b.len - 1], ')');
	{
		/* Both sides agree on the cipher suite's IANA number. */
		uint16_t id = conn_tls_cipher_id(&s.c);

		assert_true(id >= 0x1301 && id <= 0x1305);
		server_greet_ping(&s.c);
		session_close(&s);
		assert_true(s.cl.handshake_ok);
		assert_int_equal(id, s.cl.cipher_id);
	}
	/* After close: no TLS facts. */
	assert_int_equal(conn_tls_cipher_id(&s.c), 0);
	assert_false(conn_tls_active(&s.c));
	session_free(&s);

	session_open(&s, 5000);
	s.cl.max_version = TLS1_2_VERSION;
	session_client_start(&s);
	assert_int_equal(conn_tls_accept(&s.c, ctx, &error), 0);
	{
		uint16_t id = conn_tls_cipher_id(&s.c);

		server_greet_ping(&s.c);
		assert_string_equal(conn_tls_version_name(&s.c), "TLS1.2");
		assert_true(strncmp(conn_tls_cipher_name(&s.c), "TLS_ECDHE_ECDSA_WITH_", 21) == 0);
		session_close(&s);
		assert_int_equal(id, s.cl.cipher_id);
		assert_true(id != 0);
	}
	session_free(&s);
	buf_free(&b);
	tls_ctx_free(&ctx);
}

/* Server and client channel bindings for one connection. */
static void
check_bindings(struct tls_ctx *ctx, int max_version, SSL_SESSION *resume, bool want_resumed,
	SSL_SESSION **session_r)
{
	struct session s;
	struct buf unique, exporter;
	const char *error = NULL;
	int ru, re;

	buf_init(&unique);
	buf_init(&exporter);
	session_open(&s, 5000);
	s.cl.max_version = max_version;
	s.cl.resume = resume;
	session_client_start(&s);
	assert_int_equal(conn_tls_accept(&s.c, ctx, &error), 0);
	assert_int_equal(conn_tls_resumed(&s.c), want_resumed);
	ru = conn_tls_channel_binding(&s.c, "tls-unique", &unique, &error);
	if (max_version == TLS1_2_VERSION)
		assert_int_equal(ru, 0);
	else {
		assert_int_equal(ru, -1);
		assert_non_null(strstr(error, "TLS 1.3"));
	}
	re = conn_tls_channel_binding(&s.c, "tls-exporter", &exporter, &error);
	assert_int_equal(re, 0);
	assert_int_equal(exporter.len, 32);
	assert_int_equal(conn_tls_channel_binding(&s.c, "tls-server-end-point", &unique, &error),
		-1);
	if (ru == 0)	/* (the failed call above reset it) */
		assert_int_equal(conn_tls_channel_binding(&s.c, "tls-unique", &unique, &error), 0);
	server_greet_ping(&s.c);
	session_close(&s);
	assert_true(s.cl.handshake_ok);
	assert_int_equal(s.cl.resumed, want_resumed);
	assert_true(s.cl.have_exporter);
	assert_memory_equal(exporter.data, s.cl.exporter, 32);
	if (ru == 0) {
		assert_true(unique.len >= 12);
		assert_int_equal(unique.len, s.cl.unique_len);
		assert_memory_equal(unique.data, s.cl.unique, unique.len);
	}
	if (session_r != NULL) {
		*session_r = s.cl.session;
		s.cl.session = NULL;
	}
	session_free(&s);
	buf_free(&unique);
	buf_free(&exporter);
}

static void
test_channel_binding(void **state)
{
	struct tls_ctx *ctx = ctx_new(0, true, false);
	SSL_SESSION *sess = NULL;

	(void)state;
	check_bindings(ctx, 0, NULL, false, NULL);
	/* TLS 1.2 full handshake: tls-unique is the client's Finished... */
	check_bindings(ctx, TLS1_2_VERSION, NULL, false, &sess);
	assert_non_null(sess);
	/* ... and in a resumed one the server's. */
	check_bindings(ctx, TLS1_2_VERSION, sess, true, NULL);
	SSL_SESSION_free(sess);
	tls_ctx_free(&ctx);
}

/* The fingerprint computed independently: from the key, not the
 * certificate, with the generic encoder. */
static void
expected_fingerprint(EVP_PKEY *key, struct buf *out)
{
	unsigned char *der = NULL, md[32];
	int len = i2d_PUBKEY(key, &der);

	assert_true(len > 0);
	assert_non_null(SHA256(der, (size_t)len, md));
	OPENSSL_free(der);
	buf_reset(out);
	ms_base64url_encode(out, md, sizeof(md));
}

static void
test_client_pubkey(void **state)
{
	struct tls_ctx *ctx = ctx_new(0, false, true);
	struct tls_ctx *noauth = ctx_new(0, false, false);
	struct session s;
	struct buf fp, der, want, filefp, filebuf;
	const char *error = NULL;
	unsigned char *certder = NULL;
	int certlen;

	(void)state;
	buf_init(&fp);
	buf_init(&der);
	buf_init(&want);
	buf_init(&filefp);
	buf_init(&filebuf);
	expected_fingerprint(kc_client.key, &want);
	assert_int_equal(want.len, 43);	/* 32 bytes, base64url, no padding */
	assert_null(strchr(want.data, '='));

	/* From the PEM file (the CLI path). */
	assert_int_equal(ms_read_file(kc_client.cert_path, &filebuf), 0);
	assert_int_equal(tls_pubkey_fingerprint_from_cert(filebuf.data, filebuf.len, &filefp,
				 &der, &error),
		0);
	assert_string_equal(filefp.data, want.data);
	certlen = i2d_X509(kc_client.cert, &certder);
	assert_int_equal(der.len, (size_t)certlen);
	assert_memory_equal(der.data, certder, der.len);
	/* From DER. */
	assert_int_equal(tls_pubkey_fingerprint_from_cert((const char *)certder, (size_t)certlen,
				 &filefp, NULL, &error),
		0);
	assert_string_equal(filefp.data, want.data);
	assert_int_equal(tls_pubkey_fingerprint_from_cert("garbage", 7, &filefp, NULL, &error), -1);
	assert_int_equal(tls_pubkey_fingerprint_from_cert((const char *)certder,
				 (size_t)certlen - 1, &filefp, NULL, &error),
		-1);

	/* Over TLS, with a client certificate, TLS 1.3 and 1.2. */
	for (int v = 0; v < 2; v++) {
		session_open(&s, 5000);
		s.cl.cert = &kc_client;
		s.cl.max_version = v == 0 ? 0 : TLS1_2_VERSION;
		session_client_start(&s);
		assert_int_equal(conn_tls_accept(&s.c, ctx, &error), 0);
		buf_reset(&der);
		assert_int_equal(conn_tls_client_pubkey(&s.c, &fp, &der), 1);
		assert_string_equal(fp.data, want.data);
		assert_int_equal(der.len, (size_t)certlen);
		assert_memory_equal(der.data, certder, der.len);
		server_greet_ping(&s.c);
		session_close(&s);
		assert_true(s.cl.handshake_ok);
		session_free(&s);
	}

	/* Without a certificate: still fine, nothing to identify. */
	session_open(&s, 5000);
	session_client_start(&s);
	assert_int_equal(conn_tls_accept(&s.c, ctx, &error), 0);
	assert_int_equal(conn_tls_client_pubkey(&s.c, &fp, NULL), 0);
	server_greet_ping(&s.c);
	session_close(&s);
	assert_true(s.cl.handshake_ok);
	session_free(&s);

	/* Not asked for: not sent. */
	session_open(&s, 5000);
	s.cl.cert = &kc_client;
	session_client_start(&s);
	assert_int_equal(conn_tls_accept(&s.c, noauth, &error), 0);
	assert_int_equal(conn_tls_client_pubkey(&s.c, &fp, NULL), 0);
	server_greet_ping(&s.c);
	session_close(&s);
	session_free(&s);

	OPENSSL_free(certder);
	buf_free(&fp);
	buf_free(&der);
	buf_free(&want);
	buf_free(&filefp);
	buf_free(&filebuf);
	tls_ctx_free(&ctx);
	tls_ctx_free(&noauth);
}

static void
describe(EVP_PKEY *key, const char *cn, int want_ret, const char *want_type,
	const char *want_name)
{
	X509 *cert = make_cert(key, cn, NULL, 0x1234abL);
	unsigned char *der = NULL;
	int len = i2d_X509(cert, &der);
	struct buf type, name;
	const char *error = NULL;

	buf_init(&type);
	buf_init(&name);
	assert_int_equal(tls_pubkey_describe((const char *)der, (size_t)len, &type, &name, &error),
		want_ret);
	if (want_ret == 0) {
		assert_string_equal(type.data, want_type);
		assert_string_equal(name.data, want_name);
	} else {
		assert_non_null(strstr(error, want_type));
	}
	OPENSSL_free(der);
	X509_free(cert);
	buf_free(&type);
	buf_free(&name);
}

static void
test_pubkey_describe(void **state)
{
	EVP_PKEY *k;

	(void)state;
	describe(kc_client.key, "client device", 0, "ecdsa-p256", "client device");
	k = EVP_EC_gen("P-384");
	describe(k, NULL, 0, "ecdsa-p384", "serial 1234ab");
	EVP_PKEY_free(k);
	k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	assert_non_null(k);
	describe(k, "phone", 0, "ed25519", "phone");
	EVP_PKEY_free(k);
	k = EVP_RSA_gen(2048);
	describe(k, "laptop", 0, "rsa-2048", "laptop");
	EVP_PKEY_free(k);
	k = EVP_RSA_gen(1024);
	describe(k, "old", -1, "smaller than 2048", NULL);
	EVP_PKEY_free(k);
}

static void
test_garbage_and_silence(void **state)
{
	static const char http[] = "GET / HTTP/1.0\r\n\r\n";
	static const char partial[] = "\x16\x03\x01\x02\x00\x01";
	struct tls_ctx *ctx = ctx_new(0, false, false);
	struct session s;
	const char *error = NULL;
	int64_t t0;

	(void)state;
	/* Garbage instead of a ClientHello: an error at once. */
	session_open(&s, 5000);
	s.cl.garbage = http;
	s.cl.garbage_len = strlen(http);
	session_client_start(&s);
	t0 = ms_mono_ms();
	assert_int_equal(conn_tls_accept(&s.c, ctx, &error), -1);
	assert_true(ms_mono_ms() - t0 < 2000);
	assert_non_null(strstr(error, "TLS handshake: "));
	assert_null(strstr(error, "timeout"));
	assert_true(s.c.failed);
	/* A failed handshake cannot be "recovered" for a plaintext reply. */
	assert_false(conn_recover_timeout(&s.c));
	assert_int_equal(conn_puts(&s.c, "421 bye\r\n"), -1);
	session_close(&s);
	session_free(&s);

	/* A silent client: the handshake times out. */
	session_open(&s, 300);
	s.cl.silent = true;
	session_client_start(&s);
	t0 = ms_mono_ms();
	assert_int_equal(conn_tls_accept(&s.c, ctx, &error), -1);
	assert_true(ms_mono_ms() - t0 >= 250);
	assert_true(ms_mono_ms() - t0 < 3000);
	assert_non_null(strstr(error, "timeout"));
	session_close(&s);
	session_free(&s);

	/* Half a record, then silence: times out too. */
	session_open(&s, 300);
	s.cl.garbage = partial;
	s.cl.garbage_len = sizeof(partial) - 1;
	session_client_start(&s);
	t0 = ms_mono_ms();
	assert_int_equal(conn_tls_accept(&s.c, ctx, &error), -1);
	assert_true(ms_mono_ms() - t0 < 3000);
	assert_non_null(strstr(error, "timeout"));
	session_close(&s);
	session_free(&s);

	/* A byte now and then does not extend the handshake's time. */
	session_open(&s, 300);
	s.cl.garbage = "\x16\x03\x01\x00\x40\x01\x00\x00\x3c\x03\x03\x00\x00\x00\x00\x00";
	s.cl.garbage_len = 16;
	s.cl.trickle_ms = 100;
	session_client_start(&s);
	t0 = ms_mono_ms();
	assert_int_equal(conn_tls_accept(&s.c, ctx, &error), -1);
	assert_true(ms_mono_ms() - t0 < 1000);
	assert_non_null(strstr(error, "timeout"));
	session_close(&s);
	session_free(&s);

	/* The client hangs up before the handshake. */
	session_open(&s, 5000);
	shutdown(s.cl.fd, SHUT_WR);
	assert_int_equal(conn_tls_accept(&s.c, ctx, &error), -1);
	assert_non_null(strstr(error, "closed"));
	session_close(&s);
	session_free(&s);
	tls_ctx_free(&ctx);
}

static void
test_read_timeout_after_tls(void **state)
{
	static const struct op ops[] = {
		{ OP_READ_LINE, "hello -\r\n", 0 },
		{ OP_READ_LINE, "421 timeout\r\n", 0 },
		{ OP_END, NULL, 0 },
	};
	struct tls_ctx *ctx = ctx_new(0, false, false);
	struct session s;
	struct buf line;
	const char *error = NULL;

	(void)state;
	buf_init(&line);
	session_open(&s, 200);
	s.cl.ops = ops;
	session_client_start(&s);
	assert_int_equal(conn_tls_accept(&s.c, ctx, &error), 0);
	assert_int_equal(conn_puts(&s.c, "hello -\r\n"), 0);
	assert_int_equal(conn_flush(&s.c), 0);
	assert_int_equal(conn_read_line(&s.c, &line, 100), -1);
	assert_true(s.c.timed_out);
	/* As in plaintext, a last reply can go out after a read timeout. */
	assert_true(conn_recover_timeout(&s.c));
	assert_int_equal(conn_puts(&s.c, "421 timeout\r\n"), 0);
	assert_int_equal(conn_flush(&s.c), 0);
	session_close(&s);
	assert_null(s.cl.error);
	assert_true(s.cl.clean_eof);
	session_free(&s);
	buf_free(&line);
	tls_ctx_free(&ctx);
}

/* Many handshakes in threads while another thread reloads: no crash, no
 * leak, every handshake gets one of the two certificates. */
struct stress {
	struct tls_ctx *ctx;
	int ok;
};

static void *
stress_main(void *arg)
{
	struct stress *st = arg;
	int i;

	for (i = 0; i < 10; i++) {
		struct session s;
		const char *error = NULL;
		struct buf line;

		buf_init(&line);
		session_open(&s, 5000);
		s.cl.sni = "a.example.org";
		s.cl.ops = default_ops;
		if (pthread_create(&s.th, NULL, client_main, &s.cl) != 0)
			break;
		s.running = true;
		if (conn_tls_accept(&s.c, st->ctx, &error) == 0 &&
			conn_puts(&s.c, "hello\r\n") == 0 && conn_flush(&s.c) == 0 &&
			conn_read_line(&s.c, &line, 100) == 1 && strcmp(line.data, "ping\r\n") == 0)
			st->ok++;
		session_close(&s);
		if (s.cl.peer == NULL ||
			(X509_cmp(s.cl.peer, kc_a.cert) != 0 && X509_cmp(s.cl.peer, kc_a2.cert) != 0))
			st->ok = -1000;
		session_free(&s);
		buf_free(&line);
	}
	return NULL;
}

static void
test_reload_concurrent(void **state)
{
	char *cert = tmp_path("stress.pem"), *key = tmp_path("stress.key");
	const char *certs[] = { cert };
	const char *keys[] = { key };
	struct tls_config cfg = { .cert_files = certs, .key_files = keys, .ncerts = 1 };
	struct stress st[3];
	pthread_t th[3];
	const char *error = NULL;
	int i;

	(void)state;
	copy_file(kc_a.cert_path, cert);
	copy_file(kc_a.key_path, key);
	cfg.hostname = "a.example.org";
	for (i = 0; i < 3; i++) {
		st[i].ok = 0;
		st[i].ctx = NULL;
	}
	st[0].ctx = tls_ctx_create(&cfg, &error);
	assert_non_null(st[0].ctx);
	for (i = 0; i < 3; i++) {
		st[i].ctx = st[0].ctx;
		assert_int_equal(pthread_create(&th[i], NULL, stress_main, &st[i]), 0);
	}
	for (i = 0; i < 20; i++) {
		const struct keycert *kc = i % 2 ? &kc_a : &kc_a2;

		/* Write key first, then cert: a reload in between may see a
		 * mismatch and must then keep the old pair. */
		copy_file(kc->key_path, key);
		copy_file(kc->cert_path, cert);
		(void)tls_ctx_reload(st[0].ctx, &error);
		usleep(10 * 1000);
	}
	for (i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(st[i].ok, 10);
	}
	tls_ctx_free(&st[0].ctx);
	(void)unlink(cert);
	(void)unlink(key);
	free(cert);
	free(key);
}

/* The daemon's way: net_serve with implicit TLS in the connection
 * function, strict SNI, and a reload from the accept loop's tick when
 * "SIGHUP" (a flag here) arrives. */
struct serve_state {
	struct tls_ctx *ctx;
	volatile sig_atomic_t stop, hup;
	atomic_int ticks, reloads, served, failed;
};

static void
serve_conn(struct conn *c, void *arg)
{
	struct serve_state *st = arg;
	const char *error = NULL;
	struct buf line;

	if (conn_tls_accept_flags(c, st->ctx, CONN_TLS_STRICT_SNI, &error) < 0) {
		st->failed++;
		return;
	}
	buf_init(&line);
	if (conn_printf(c, "hello %s\r\n", conn_tls_sni(c) != NULL ? conn_tls_sni(c) : "-") == 0 &&
		conn_flush(c) == 0 && conn_read_line(c, &line, 100) == 1 &&
		strcmp(line.data, "ping\r\n") == 0)
		st->served++;
	buf_free(&line);
}

static void
serve_tick(void *arg)
{
	struct serve_state *st = arg;
	const char *error = NULL;

	st->ticks++;
	if (st->hup) {
		st->hup = 0;
		if (tls_ctx_reload(st->ctx, &error) == 0)
			st->reloads++;
	}
}

struct serve_thread {
	struct net_server *ns;
	struct serve_state *st;
};

static void *
serve_main(void *arg)
{
	struct serve_thread *t = arg;

	(void)net_serve(t->ns, NULL, &t->st->stop);
	return NULL;
}

static X509 *
serve_client(unsigned port, const char *sni, bool *ok_r)
{
	struct sockaddr_in sin;
	struct client cl;
	struct timeval tv = { .tv_sec = 10 };

	memset(&cl, 0, sizeof(cl));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	cl.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(cl.fd >= 0);
	(void)setsockopt(cl.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(cl.fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cl.sni = sni;
	(void)client_main(&cl);
	close(cl.fd);
	*ok_r = cl.handshake_ok && cl.error == NULL && cl.clean_eof;
	SSL_SESSION_free(cl.session);
	return cl.peer;
}

static void
test_net_serve_implicit_tls_and_hup(void **state)
{
	char *cert = tmp_path("serve.pem"), *key = tmp_path("serve.key");
	const char *certs[] = { cert, kc_b.cert_path };
	const char *keys[] = { key, kc_b.key_path };
	struct tls_config cfg = {
		.cert_files = certs,
		.key_files = keys,
		.ncerts = 2,
		.hostname = "a.example.org",
	};
	struct serve_state st;
	struct net_server ns;
	struct serve_thread t = { &ns, &st };
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	const char *error = NULL;
	pthread_t th;
	X509 *peer;
	bool ok;
	int fd, i;

	(void)state;
	copy_file(kc_a.cert_path, cert);
	copy_file(kc_a.key_path, key);
	memset(&st, 0, sizeof(st));
	st.ctx = tls_ctx_create(&cfg, &error);
	assert_non_null(st.ctx);
	fd = net_listen("127.0.0.1:0", &error);
	assert_true(fd >= 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	memset(&ns, 0, sizeof(ns));
	ns.fds = &fd;
	ns.nfds = 1;
	ns.max_conns = 10;
	ns.timeout_ms = 5000;
	ns.fn = serve_conn;
	ns.ctx = &st;
	ns.proto = "test";
	ns.tick = serve_tick;
	ns.tick_arg = &st;
	assert_int_equal(pthread_create(&th, NULL, serve_main, &t), 0);

	peer = serve_client(ntohs(sin.sin_port), "a.example.org", &ok);
	assert_true(ok);
	assert_int_equal(X509_cmp(peer, kc_a.cert), 0);
	X509_free(peer);

	copy_file(kc_a2.cert_path, cert);
	copy_file(kc_a2.key_path, key);
	st.hup = 1;
	for (i = 0; i < 300 && st.reloads == 0; i++)
		usleep(10 * 1000);
	assert_int_equal(st.reloads, 1);
	peer = serve_client(ntohs(sin.sin_port), NULL, &ok);
	assert_true(ok);
	assert_int_equal(X509_cmp(peer, kc_a2.cert), 0);
	X509_free(peer);
	peer = serve_client(ntohs(sin.sin_port), "x.b.example.org", &ok);
	assert_true(ok);
	assert_int_equal(X509_cmp(peer, kc_b.cert), 0);
	X509_free(peer);
	/* Strict SNI (as for IMAP and submission): unknown names fail. */
	peer = serve_client(ntohs(sin.sin_port), "unknown.example.net", &ok);
	assert_false(ok);
	assert_null(peer);

	st.stop = 1;
	pthread_join(th, NULL);
	close(fd);
	assert_int_equal(st.served, 3);
	assert_int_equal(st.failed, 1);
	assert_true(st.ticks >= 1);
	tls_ctx_free(&st.ctx);
	(void)unlink(cert);
	(void)unlink(key);
	free(cert);
	free(key);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_version),
		cmocka_unit_test(test_cert_names),
		cmocka_unit_test(test_sni_selection),
		cmocka_unit_test(test_sni_strict_rejects_unknown),
		cmocka_unit_test(test_min_version),
		cmocka_unit_test(test_session_tickets),
		cmocka_unit_test(test_reload),
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test(test_combined_pem_and_chain),
		cmocka_unit_test(test_starttls_injection),
		cmocka_unit_test(test_io),
		cmocka_unit_test(test_facts),
		cmocka_unit_test(test_channel_binding),
		cmocka_unit_test(test_client_pubkey),
		cmocka_unit_test(test_pubkey_describe),
		cmocka_unit_test(test_garbage_and_silence),
		cmocka_unit_test(test_read_timeout_after_tls),
		cmocka_unit_test(test_reload_concurrent),
		cmocka_unit_test(test_net_serve_implicit_tls_and_hup),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
