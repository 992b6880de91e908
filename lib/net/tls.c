/* TLS with OpenSSL 3: certificate sets chosen by SNI and swapped on reload,
 * the server handshake on a struct conn, the TLS reads and writes conn.c
 * calls (tls_private.h), and the connection facts, channel bindings and
 * client public keys the protocols need. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/conf.h"
#include "core/log.h"
#include "core/util.h"
#include "net/conn.h"
#include "net/tls.h"
#include "net/tls_private.h"

/* RFC 1035 name length; longer SNI names cannot match a certificate. */
#define TLS_MAX_NAME 253
/* How long conn_close may wait to send close_notify. */
#define TLS_CLOSE_WAIT_MS 1000

/* One certificate with its key (an SSL_CTX) and the DNS names it covers. */
struct tls_cert {
	SSL_CTX *ssl_ctx;
	char **names;		/* lower case, no trailing dot; "*.x" wildcards */
	size_t nnames;
};

/* An immutable set of certificates. A reload builds a new set; every
 * handshake holds a reference to the set it started with, so the SSL_CTXs
 * (and the SNI callback's view) stay valid for the connection's life. */
struct tls_set {
	atomic_uint refs;
	struct tls_cert *certs;
	size_t ncerts;
	size_t default_idx;	/* the listener host name's certificate */
};

struct tls_ctx {
	pthread_mutex_t lock;	/* guards cur */
	struct tls_set *cur;
	/* A copy of the configuration, for reloads. */
	char **cert_files, **key_files;
	size_t ncerts;
	char *hostname;
	int min_version;
	bool session_tickets, client_auth;
};


/* ---- errors ---- */

const char *
ssl_error_text(void)
{
	unsigned long e = ERR_get_error();
	const char *reason;
	char tmp[256];

	if (e == 0)
		return "unknown OpenSSL error";
	ERR_clear_error();
	reason = ERR_reason_error_string(e);
	if (reason != NULL)
		return ms_err("%s", reason);
	ERR_error_string_n(e, tmp, sizeof(tmp));
	return ms_err("%s", tmp);
}

/* ---- versions ---- */

int
tls_parse_version(const char *s, int *version_r)
{
	static const struct {
		const char *text;
		int version;
	} versions[] = {
		{ "1.0", TLS1_VERSION },
		{ "1.1", TLS1_1_VERSION },
		{ "1.2", TLS1_2_VERSION },
		{ "1.3", TLS1_3_VERSION },
	};
	size_t i;

	if (ms_startswith_ci(s, "tlsv"))
		s += 4;
	else if (ms_startswith_ci(s, "tls "))
		s += 4;
	else if (ms_startswith_ci(s, "tls"))
		s += 3;
	for (i = 0; i < MS_NELEM(versions); i++) {
		if (strcmp(s, versions[i].text) == 0) {
			*version_r = versions[i].version;
			return 0;
		}
	}
	return -1;
}

const char *
tls_version_name(int version)
{
	switch (version) {
	case TLS1_VERSION:
		return "TLS1.0";
	case TLS1_1_VERSION:
		return "TLS1.1";
	case TLS1_2_VERSION:
		return "TLS1.2";
	case TLS1_3_VERSION:
		return "TLS1.3";
	default:
		return "unknown";
	}
}

/* ---- host names ---- */

/* Lower-case s and drop one trailing dot. Returns a malloc'd name, or NULL
 * when it cannot be a DNS name (empty, too long, odd bytes). */
static char *
host_normalize(const char *s, size_t n)
{
	char *h;
	size_t i;

	if (n > 0 && s[n - 1] == '.')
		n--;
	if (n == 0 || n > TLS_MAX_NAME)
		return NULL;
	h = xstrndup(s, n);
	for (i = 0; i < n; i++) {
		char ch = ms_tolower(h[i]);

		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
			    ch == '.' || ch == '_' || ch == '*')) {
			free(h);
			return NULL;
		}
		h[i] = ch;
	}
	return h;
}

/* Does certificate name pattern cover host? A wildcard "*.example.org"
 * stands for exactly one non-empty label (RFC 6125 section 6.4.3). */
static bool
name_matches(const char *pattern, const char *host, bool wildcard)
{
	const char *dot;

	if (!wildcard)
		return strcmp(pattern, host) == 0;
	if (pattern[0] != '*' || pattern[1] != '.')
		return false;
	dot = strchr(host, '.');
	if (dot == NULL || dot == host || memchr(host, '*', (size_t)(dot - host)) != NULL)
		return false;
	return strcmp(dot + 1, pattern + 2) == 0;
}

/* The certificate for host: exact names win over wildcards, then the
 * configured order. Returns the index or -1. */
static long
set_select(const struct tls_set *set, const char *host)
{
	int pass;
	size_t i, j;

	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < set->ncerts; i++) {
			for (j = 0; j < set->certs[i].nnames; j++) {
				if (name_matches(set->certs[i].names[j], host, pass == 1))
					return (long)i;
			}
		}
	}
	return -1;
}

static void
cert_add_name(struct tls_cert *tc, const unsigned char *p, int len)
{
	char *name;

	if (len <= 0 || memchr(p, '\0', (size_t)len) != NULL)
		return;
	name = host_normalize((const char *)p, (size_t)len);
	if (name == NULL)
		return;
	tc->names = xrealloc(tc->names, (tc->nnames + 1) * sizeof(*tc->names));
	tc->names[tc->nnames++] = name;
}

/* The DNS names of subjectAltName, or the subject CN when there are none
 * (RFC 6125 section 6.4.4). */
static void
cert_load_names(struct tls_cert *tc, X509 *leaf)
{
	GENERAL_NAMES *sans;
	X509_NAME *subject;
	int i, idx;

	sans = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
	if (sans != NULL) {
		for (i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
			const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);

			if (gn->type == GEN_DNS)
				cert_add_name(tc, ASN1_STRING_get0_data(gn->d.dNSName),
					ASN1_STRING_length(gn->d.dNSName));
		}
		GENERAL_NAMES_free(sans);
	}
	if (tc->nnames > 0)
		return;
	subject = X509_get_subject_name(leaf);
	idx = subject != NULL ? X509_NAME_get_index_by_NID(subject, NID_commonName, -1) : -1;
	if (idx >= 0) {
		ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
		unsigned char *utf8 = NULL;
		int len = ASN1_STRING_to_UTF8(&utf8, cn);

		if (len > 0)
			cert_add_name(tc, utf8, len);
		OPENSSL_free(utf8);
	}
	ERR_clear_error();
}

/* ---- loading certificates ---- */

/* Read a whole file into out without stray copies (key files): the buffer
 * is sized from fstat so it is not reallocated while reading. */
static int
read_pem_file(const char *what, const char *path, struct buf *out, const char **error_r)
{
	struct stat st;
	int fd, err;

	buf_reset(out);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		if (err == EACCES && geteuid() != 0)
			*error_r = ms_err("reading %s file %s: %s (this process runs as uid %ld "
					  "now: make the file readable for it, or restart the "
					  "daemon to load it as root)",
				what, path, strerror(err), (long)geteuid());
		else
			*error_r = ms_err("reading %s file %s: %s", what, path, strerror(err));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > TLS_MAX_FILE_SIZE) {
		*error_r = ms_err("reading %s file %s: not a regular file of at most %d bytes",
			what, path, TLS_MAX_FILE_SIZE);
		close(fd);
		return -1;
	}
	buf_reserve(out, (size_t)st.st_size + 1);
	for (;;) {
		ssize_t r;

		if (out->len + 1 >= out->cap) {
			if (out->len >= TLS_MAX_FILE_SIZE) {
				*error_r = ms_err("reading %s file %s: larger than %d bytes",
					what, path, TLS_MAX_FILE_SIZE);
				close(fd);
				return -1;
			}
			buf_reserve(out, 4096);
		}
		r = read(fd, out->data + out->len, out->cap - 1 - out->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = errno;
			*error_r = ms_err("reading %s file %s: %s", what, path, strerror(err));
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		out->len += (size_t)r;
	}
	out->data[out->len] = '\0';
	close(fd);
	return 0;
}

int
tls_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* Accept any client certificate: clients are identified by public key
 * only, so there is no chain or name to check. The TLS handshake itself
 * proves the client holds the private key (CertificateVerify). */
static int
accept_any_cert(X509_STORE_CTX *store, void *arg)
{
	(void)store;
	(void)arg;
	return 1;
}

static int sni_callback(SSL *ssl, int *alert, void *arg);

static SSL_CTX *
new_ssl_ctx(const struct tls_ctx *ctx, const char **error_r)
{
	static const unsigned char sid_ctx[] = "mailstead";
	SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());

	if (sctx == NULL) {
		*error_r = ms_err("creating TLS context: %s", ssl_error_text());
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(sctx, ctx->min_version) != 1) {
		*error_r = ms_err("setting minimum TLS version: %s", ssl_error_text());
		SSL_CTX_free(sctx);
		return NULL;
	}
	/* No renegotiation: it only serves attacks (triple handshake, CPU
	 * exhaustion) for mail protocols. A peer closing TCP without
	 * close_notify is an ordinary EOF: the protocols end themselves. */
	SSL_CTX_set_options(sctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
			SSL_OP_NO_COMPRESSION);
	/* Idle IMAP connections would otherwise keep ~34 KiB of buffers. */
	SSL_CTX_set_mode(sctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_id_context(sctx, sid_ctx, sizeof(sid_ctx) - 1);
	if (ctx->session_tickets) {
		SSL_CTX_sess_set_cache_size(sctx, 4096);
	} else {
		/* SSL_OP_NO_TICKET alone would switch TLS 1.3 to stateful
		 * tickets; no tickets at all and no session cache. */
		SSL_CTX_set_options(sctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_num_tickets(sctx, 0);
		SSL_CTX_set_session_cache_mode(sctx, SSL_SESS_CACHE_OFF);
	}
	if (ctx->client_auth) {
		SSL_CTX_set_verify(sctx, SSL_VERIFY_PEER, NULL);
		SSL_CTX_set_cert_verify_callback(sctx, accept_any_cert, NULL);
	}
	SSL_CTX_set_tlsext_servername_callback(sctx, sni_callback);
	return sctx;
}

/* Load one certificate chain and key into tc. */
static int
cert_load(const struct tls_ctx *ctx, const char *cert_file, const char *key_file,
	struct tls_cert *tc, const char **error_r)
{
	struct buf pem, keypem;
	BIO *bio = NULL;
	X509 *leaf = NULL, *x;
	STACK_OF(X509) *chain = NULL;
	EVP_PKEY *key = NULL;
	int ret = -1;

	buf_init(&pem);
	buf_init(&keypem);
	ERR_clear_error();
	if (read_pem_file("certificate", cert_file, &pem, error_r) < 0)
		goto out;
	bio = BIO_new_mem_buf(pem.data, (int)pem.len);
	if (bio == NULL)
		ms_panic("BIO_new_mem_buf failed");
	leaf = PEM_read_bio_X509(bio, NULL, tls_no_passphrase, NULL);
	if (leaf == NULL) {
		*error_r = ms_err("certificate file %s: no PEM certificate found (%s)", cert_file,
			ssl_error_text());
		goto out;
	}
	chain = sk_X509_new_null();
	while ((x = PEM_read_bio_X509(bio, NULL, tls_no_passphrase, NULL)) != NULL)
		(void)sk_X509_push(chain, x);
	if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE &&
		ERR_peek_last_error() != 0) {
		*error_r = ms_err("certificate file %s: bad certificate in the chain (%s)",
			cert_file, ssl_error_text());
		goto out;
	}
	ERR_clear_error();
	BIO_free(bio);
	bio = NULL;

	if (read_pem_file("key", key_file, &keypem, error_r) < 0)
		goto out;
	bio = BIO_new_mem_buf(keypem.data, (int)keypem.len);
	if (bio == NULL)
		ms_panic("BIO_new_mem_buf failed");
	key = PEM_read_bio_PrivateKey(bio, NULL, tls_no_passphrase, NULL);
	if (key == NULL) {
		*error_r = ms_err("key file %s: no unencrypted PEM private key found (%s)",
			key_file, ssl_error_text());
		goto out;
	}
	if (X509_check_private_key(leaf, key) != 1) {
		ERR_clear_error();
		*error_r = ms_err("key file %s does not match the certificate in %s", key_file,
			cert_file);
		goto out;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0)
		log_warn(NULL, "ev=tls-certificate-expired file=%s", lq(cert_file));

	tc->ssl_ctx = new_ssl_ctx(ctx, error_r);
	if (tc->ssl_ctx == NULL)
		goto out;
	if (SSL_CTX_use_certificate(tc->ssl_ctx, leaf) != 1) {
		*error_r = ms_err("certificate file %s: %s", cert_file, ssl_error_text());
		goto out;
	}
	if (SSL_CTX_use_PrivateKey(tc->ssl_ctx, key) != 1) {
		*error_r = ms_err("key file %s: %s", key_file, ssl_error_text());
		goto out;
	}
	if (SSL_CTX_set1_chain(tc->ssl_ctx, chain) != 1) {
		*error_r = ms_err("certificate file %s: chain: %s", cert_file, ssl_error_text());
		goto out;
	}
	if (SSL_CTX_check_private_key(tc->ssl_ctx) != 1) {
		*error_r = ms_err("key file %s does not match the certificate in %s: %s",
			key_file, cert_file, ssl_error_text());
		goto out;
	}
	cert_load_names(tc, leaf);
	ret = 0;
out:
	BIO_free(bio);
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	EVP_PKEY_free(key);
	buf_wipe(&keypem);
	buf_free(&keypem);
	buf_free(&pem);
	ERR_clear_error();
	return ret;
}

static void
set_free(struct tls_set *set)
{
	size_t i, j;

	for (i = 0; i < set->ncerts; i++) {
		SSL_CTX_free(set->certs[i].ssl_ctx);
		for (j = 0; j < set->certs[i].nnames; j++)
			free(set->certs[i].names[j]);
		free(set->certs[i].names);
	}
	free(set->certs);
	free(set);
}

static void
set_release(struct tls_set *set)
{
	if (set == NULL)	/* client connections have no certificate set */
		return;
	if (atomic_fetch_sub(&set->refs, 1) == 1)
		set_free(set);
}

static struct tls_set *
set_acquire(struct tls_ctx *ctx)
{
	struct tls_set *set;

	pthread_mutex_lock(&ctx->lock);
	set = ctx->cur;
	atomic_fetch_add(&set->refs, 1);
	pthread_mutex_unlock(&ctx->lock);
	return set;
}

/* Read all files of ctx into a new set with one reference. */
static struct tls_set *
set_load(const struct tls_ctx *ctx, const char **error_r)
{
	struct tls_set *set = xcalloc(1, sizeof(*set));
	size_t i;

	atomic_init(&set->refs, 1);
	set->certs = xcalloc(ctx->ncerts, sizeof(*set->certs));
	for (i = 0; i < ctx->ncerts; i++) {
		if (cert_load(ctx, ctx->cert_files[i], ctx->key_files[i], &set->certs[i],
			    error_r) < 0) {
			set->ncerts = i + 1;
			set_free(set);
			return NULL;
		}
	}
	set->ncerts = ctx->ncerts;
	set->default_idx = 0;
	if (ctx->hostname != NULL) {
		char *host = host_normalize(ctx->hostname, strlen(ctx->hostname));
		long idx = host != NULL ? set_select(set, host) : -1;

		if (idx >= 0)
			set->default_idx = (size_t)idx;
		else
			log_warn(NULL, "ev=tls-no-hostname-certificate hostname=%s using=%s",
				lq(ctx->hostname), lq(ctx->cert_files[0]));
		free(host);
	}
	return set;
}

static void
ctx_free_config(struct tls_ctx *ctx)
{
	size_t i;

	for (i = 0; i < ctx->ncerts; i++) {
		free(ctx->cert_files[i]);
		free(ctx->key_files[i]);
	}
	free(ctx->cert_files);
	free(ctx->key_files);
	free(ctx->hostname);
}

struct tls_ctx *
tls_ctx_create(const struct tls_config *cfg, const char **error_r)
{
	struct tls_ctx *ctx;
	const char *error;
	size_t i;

	if (cfg->ncerts == 0) {
		*error_r = "tls: no certificate and key files configured";
		return NULL;
	}
	if (cfg->min_version != 0 &&
		(cfg->min_version < TLS1_VERSION || cfg->min_version > TLS1_3_VERSION)) {
		*error_r = ms_err("tls: unknown minimum version 0x%x", (unsigned)cfg->min_version);
		return NULL;
	}
	ctx = xcalloc(1, sizeof(*ctx));
	ctx->ncerts = cfg->ncerts;
	ctx->cert_files = xcalloc(cfg->ncerts, sizeof(char *));
	ctx->key_files = xcalloc(cfg->ncerts, sizeof(char *));
	for (i = 0; i < cfg->ncerts; i++) {
		ctx->cert_files[i] = xstrdup(cfg->cert_files[i]);
		ctx->key_files[i] = xstrdup(cfg->key_files[i]);
	}
	ctx->hostname = cfg->hostname != NULL ? xstrdup(cfg->hostname) : NULL;
	ctx->min_version = cfg->min_version != 0 ? cfg->min_version : TLS1_2_VERSION;
	ctx->session_tickets = cfg->session_tickets;
	ctx->client_auth = cfg->client_auth;
	ctx->cur = set_load(ctx, &error);
	if (ctx->cur == NULL) {
		*error_r = ms_err("tls: %s", error);
		ctx_free_config(ctx);
		free(ctx);
		return NULL;
	}
	pthread_mutex_init(&ctx->lock, NULL);
	return ctx;
}

int
tls_ctx_reload(struct tls_ctx *ctx, const char **error_r)
{
	struct tls_set *set, *old;
	const char *error;

	set = set_load(ctx, &error);
	if (set == NULL) {
		*error_r = ms_err("tls reload: %s (still using the previous certificates)", error);
		return -1;
	}
	pthread_mutex_lock(&ctx->lock);
	old = ctx->cur;
	ctx->cur = set;
	pthread_mutex_unlock(&ctx->lock);
	set_release(old);
	return 0;
}

void
tls_ctx_free(struct tls_ctx **ctxp)
{
	struct tls_ctx *ctx = *ctxp;

	if (ctx == NULL)
		return;
	*ctxp = NULL;
	set_release(ctx->cur);
	pthread_mutex_destroy(&ctx->lock);
	ctx_free_config(ctx);
	free(ctx);
}

size_t
tls_ctx_cert_count(struct tls_ctx *ctx)
{
	return ctx->ncerts;
}

void
tls_ctx_cert_names(struct tls_ctx *ctx, size_t i, struct buf *out)
{
	struct tls_set *set = set_acquire(ctx);
	size_t j;

	if (i < set->ncerts) {
		for (j = 0; j < set->certs[i].nnames; j++) {
			if (j > 0)
				buf_putc(out, ' ');
			buf_puts(out, set->certs[i].names[j]);
		}
	}
	set_release(set);
}

/* ---- socket BIO ---- */

/* A socket BIO that writes with MSG_NOSIGNAL: a peer resetting the
 * connection must not kill the process with SIGPIPE, whatever the
 * program's signal setup. The fd is the BIO's data pointer. */
static BIO_METHOD *sock_method;
static pthread_once_t sock_method_once = PTHREAD_ONCE_INIT;

static int
sock_bio_fd(BIO *b)
{
	return (int)(intptr_t)BIO_get_data(b);
}

static int
sock_bio_write(BIO *b, const char *p, int n)
{
	ssize_t r;

	BIO_clear_retry_flags(b);
	r = send(sock_bio_fd(b), p, (size_t)n, MSG_NOSIGNAL);
	if (r < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			BIO_set_retry_write(b);
		return -1;
	}
	return (int)r;
}

static int
sock_bio_read(BIO *b, char *p, int n)
{
	ssize_t r;

	BIO_clear_retry_flags(b);
	r = recv(sock_bio_fd(b), p, (size_t)n, 0);
	if (r < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			BIO_set_retry_read(b);
		return -1;
	}
	if (r == 0)
		BIO_set_flags(b, BIO_FLAGS_IN_EOF);
	return (int)r;
}

static long
sock_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)num;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_EOF:
		return BIO_test_flags(b, BIO_FLAGS_IN_EOF) != 0;
	case BIO_C_GET_FD:
		if (ptr != NULL)
			*(int *)ptr = sock_bio_fd(b);
		return sock_bio_fd(b);
	default:
		return 0;
	}
}

static void
sock_method_init(void)
{
	sock_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK |
			BIO_TYPE_DESCRIPTOR,
		"mailstead socket");
	if (sock_method == NULL || BIO_meth_set_write(sock_method, sock_bio_write) != 1 ||
		BIO_meth_set_read(sock_method, sock_bio_read) != 1 ||
		BIO_meth_set_ctrl(sock_method, sock_bio_ctrl) != 1)
		ms_panic("creating the socket BIO method failed");
}

static BIO *
sock_bio_new(int fd)
{
	BIO *b;

	pthread_once(&sock_method_once, sock_method_init);
	b = BIO_new(sock_method);
	if (b == NULL)
		ms_panic("BIO_new failed");
	BIO_set_data(b, (void *)(intptr_t)fd);
	BIO_set_init(b, 1);
	return b;
}

/* ---- handshake ---- */

/* SNI: switch the connection to the certificate covering the name. No
 * name, or one no certificate covers: keep the host name's certificate
 * (the SSL was created with it), unless the caller asked for strict SNI. */
static int
sni_callback(SSL *ssl, int *alert, void *arg)
{
	struct conn_tls *t = SSL_get_app_data(ssl);
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	long idx;

	(void)arg;
	if (t == NULL || name == NULL || name[0] == '\0')
		return SSL_TLSEXT_ERR_NOACK;
	free(t->sni);
	t->sni = host_normalize(name, strlen(name));
	idx = t->sni != NULL ? set_select(t->set, t->sni) : -1;
	if (idx < 0) {
		if (t->flags & CONN_TLS_STRICT_SNI) {
			t->sni_rejected = true;
			*alert = SSL_AD_UNRECOGNIZED_NAME;
			return SSL_TLSEXT_ERR_ALERT_FATAL;
		}
		return SSL_TLSEXT_ERR_NOACK;
	}
	if ((size_t)idx != t->set->default_idx &&
		SSL_set_SSL_CTX(ssl, t->set->certs[idx].ssl_ctx) == NULL) {
		*alert = SSL_AD_INTERNAL_ERROR;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	return SSL_TLSEXT_ERR_OK;
}

static void
conn_tls_free(struct conn_tls *t)
{
	SSL_free(t->ssl);
	set_release(t->set);
	free(t->sni);
	free(t);
}

/* Wait for the socket as OpenSSL asks (want: SSL_ERROR_WANT_READ/WRITE),
 * for at most timeout_ms (-1: forever). Returns 0 when ready, or -1 on a
 * timeout (*timed_out_r set) or a poll error (errno). */
static int
wait_want(int fd, int want, int timeout_ms, bool *timed_out_r)
{
	struct pollfd pfd = { .fd = fd, .events = want == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN };

	*timed_out_r = false;
	for (;;) {
		int r = poll(&pfd, 1, timeout_ms);

		if (r > 0)
			return 0;
		if (r == 0) {
			*timed_out_r = true;
			return -1;
		}
		if (errno != EINTR)
			return -1;
	}
}

/* Why an SSL call failed with err (SSL_get_error). */
static const char *
ssl_failure_text(struct conn_tls *t, int err)
{
	if (t->sni_rejected) {
		ERR_clear_error();
		return ms_err("no certificate for SNI name %s",
			t->sni != NULL ? t->sni : "(invalid)");
	}
	switch (err) {
	case SSL_ERROR_ZERO_RETURN:
		return "connection closed by client";
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() != 0)
			return ssl_error_text();
		if (errno != 0)
			return ms_err("%s", strerror(errno));
		return "connection closed by client";
	default:
		return ssl_error_text();
	}
}

int
conn_tls_accept(struct conn *c, struct tls_ctx *ctx, const char **error_r)
{
	return conn_tls_accept_flags(c, ctx, 0, error_r);
}

int
conn_tls_accept_flags(struct conn *c, struct tls_ctx *ctx, unsigned flags,
	const char **error_r)
{
	struct conn_tls *t;
	const char *reason;
	int64_t deadline;
	BIO *bio;
	int fl;

	if (c->tls != NULL) {
		*error_r = "TLS is already active";
		return -1;
	}
	/* RFC 4978 section 3: compression goes above TLS, so TLS cannot
	 * start under an active compression layer. */
	if (c->zs != NULL) {
		*error_r = "compression is active";
		return -1;
	}
	if (c->fd < 0 || c->failed) {
		*error_r = "connection already failed";
		return -1;
	}
	if (c->wbuf.len > 0 && conn_flush(c) < 0) {
		*error_r = "writing before the TLS handshake failed";
		return -1;
	}
	/* RFC 3207 section 4.2 / RFC 9051 section 6.2.1: nothing the client
	 * sent before the handshake may count afterwards. A client cannot
	 * send its ClientHello before our reply, so buffered bytes are an
	 * injection attempt (CVE-2011-0411) or a broken client. */
	c->tls_discarded += c->rlen - c->rpos;
	c->rpos = c->rlen = 0;
	if (c->eof) {
		c->failed = true;
		*error_r = "connection closed by client before TLS";
		return -1;
	}

	t = xcalloc(1, sizeof(*t));
	t->flags = flags;
	t->set = set_acquire(ctx);
	t->ssl = SSL_new(t->set->certs[t->set->default_idx].ssl_ctx);
	if (t->ssl == NULL) {
		reason = ssl_error_text();
		goto fail;
	}
	SSL_set_app_data(t->ssl, t);
	bio = sock_bio_new(c->fd);
	SSL_set_bio(t->ssl, bio, bio);	/* takes the one reference */
	SSL_set_accept_state(t->ssl);
	fl = fcntl(c->fd, F_GETFL);
	if (fl < 0 || fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		reason = ms_err("fcntl: %s", strerror(errno));
		goto fail;
	}

	/* The whole handshake gets one timeout, so a client sending a byte
	 * now and then cannot keep the thread. */
	deadline = c->timeout_ms < 0 ? -1 : ms_mono_ms() + c->timeout_ms;
	for (;;) {
		int r, err;
		int64_t left;
		bool timed_out;

		ERR_clear_error();
		errno = 0;
		r = SSL_do_handshake(t->ssl);
		if (r == 1)
			break;
		err = SSL_get_error(t->ssl, r);
		if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
			reason = ssl_failure_text(t, err);
			goto fail;
		}
		left = deadline < 0 ? -1 : deadline - ms_mono_ms();
		if (deadline >= 0 && left <= 0) {
			reason = "timeout";
			goto fail;
		}
		if (wait_want(c->fd, err, left > INT_MAX ? INT_MAX : (int)left, &timed_out) < 0) {
			reason = timed_out ? "timeout" : ms_err("poll: %s", strerror(errno));
			goto fail;
		}
	}
	c->tls = t;
	return 0;

fail:
	t->fatal = true;
	conn_tls_free(t);
	ERR_clear_error();
	c->failed = true;
	*error_r = ms_err("TLS handshake: %s", reason);
	return -1;
}

/* ---- client handshake (outgoing SMTP) ---- */

/* One client SSL_CTX per process (per extra CA file, in practice one):
 * loading the system trust store for every connection would cost more
 * than the handshake. */
static pthread_mutex_t client_ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static SSL_CTX *client_ctx;
static char *client_ctx_ca;

/* Accept every certificate during the handshake: the result is looked at
 * afterwards (SSL_get_verify_result), so opportunistic TLS can go on with
 * an unverified certificate while policy code decides. */
static int
client_verify_cb(int ok, X509_STORE_CTX *store)
{
	(void)ok;
	(void)store;
	return 1;
}

static SSL_CTX *
client_ctx_get(const char *ca_file, const char **error_r)
{
	SSL_CTX *ctx;

	pthread_mutex_lock(&client_ctx_lock);
	if (client_ctx != NULL && strcmp(client_ctx_ca, ca_file ? ca_file : "") == 0) {
		SSL_CTX_up_ref(client_ctx);
		ctx = client_ctx;
		pthread_mutex_unlock(&client_ctx_lock);
		return ctx;
	}
	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL) {
		pthread_mutex_unlock(&client_ctx_lock);
		*error_r = ssl_error_text();
		return NULL;
	}
	/* RFC 8996: no TLS 1.0/1.1. */
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, client_verify_cb);
	if (SSL_CTX_set_default_verify_paths(ctx) != 1)
		ERR_clear_error();
	if (ca_file != NULL && ca_file[0] != '\0' &&
	    SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
		*error_r = ms_err("loading CA file %s: %s", ca_file, ssl_error_text());
		SSL_CTX_free(ctx);
		pthread_mutex_unlock(&client_ctx_lock);
		return NULL;
	}
	/* OpenSSL's DANE verification (RFC 7671) needs this once per ctx;
	 * the DANE code enables it per connection in its prepare hook. */
	if (SSL_CTX_dane_enable(ctx) <= 0)
		ERR_clear_error();
	if (client_ctx != NULL)
		SSL_CTX_free(client_ctx);
	free(client_ctx_ca);
	client_ctx = ctx;
	client_ctx_ca = xstrdup(ca_file ? ca_file : "");
	SSL_CTX_up_ref(ctx);
	pthread_mutex_unlock(&client_ctx_lock);
	return ctx;
}

int
conn_tls_connect(struct conn *c, const struct tls_client_params *p,
	struct tls_client_result *res, const char **error_r)
{
	struct conn_tls *t;
	const char *reason;
	SSL_CTX *ctx;
	int64_t deadline;
	BIO *bio;
	size_t i;
	int fl;
	long vr;

	memset(res, 0, sizeof(*res));
	if (c->tls != NULL || c->zs != NULL || c->fd < 0 || c->failed) {
		*error_r = "connection not usable for TLS";
		return -1;
	}
	if (c->wbuf.len > 0 && conn_flush(c) < 0) {
		*error_r = "writing before the TLS handshake failed";
		return -1;
	}
	/* A server may not send before our ClientHello either; whatever it
	 * did is dropped (RFC 3207 section 4.2, the client side). */
	c->tls_discarded += c->rlen - c->rpos;
	c->rpos = c->rlen = 0;
	ctx = client_ctx_get(p->ca_file, error_r);
	if (ctx == NULL)
		return -1;
	t = xcalloc(1, sizeof(*t));
	t->ssl = SSL_new(ctx);
	SSL_CTX_free(ctx);	/* the SSL holds its own reference */
	if (t->ssl == NULL) {
		reason = ssl_error_text();
		goto fail;
	}
	SSL_set_app_data(t->ssl, t);
	if (p->sni != NULL && p->sni[0] != '\0' && SSL_set_tlsext_host_name(t->ssl, p->sni) != 1) {
		reason = ssl_error_text();
		goto fail;
	}
	/* RFC 6125 names the certificate must match for "verified"; no
	 * partial-label wildcards ("f*.example.org"), as RFC 7672 3.2.3
	 * and MTA-STS (RFC 8461 3.4) want. */
	SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	for (i = 0; i < p->nverify_names; i++) {
		int ok = i == 0 ? SSL_set1_host(t->ssl, p->verify_names[i]) :
			SSL_add1_host(t->ssl, p->verify_names[i]);

		if (ok != 1) {
			reason = ms_err("bad verify name %s", p->verify_names[i]);
			goto fail;
		}
	}
	if (p->prepare != NULL && p->prepare(p->arg, t->ssl, &reason) < 0)
		goto fail;
	bio = sock_bio_new(c->fd);
	SSL_set_bio(t->ssl, bio, bio);
	SSL_set_connect_state(t->ssl);
	fl = fcntl(c->fd, F_GETFL);
	if (fl < 0 || fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		reason = ms_err("fcntl: %s", strerror(errno));
		goto fail;
	}
	deadline = c->timeout_ms < 0 ? -1 : ms_mono_ms() + c->timeout_ms;
	for (;;) {
		int r, err;
		int64_t left;
		bool timed_out;

		ERR_clear_error();
		errno = 0;
		r = SSL_do_handshake(t->ssl);
		if (r == 1)
			break;
		err = SSL_get_error(t->ssl, r);
		if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
			reason = ssl_failure_text(t, err);
			if (strcmp(reason, "connection closed by client") == 0)
				reason = "connection closed by server";
			goto fail;
		}
		left = deadline < 0 ? -1 : deadline - ms_mono_ms();
		if (deadline >= 0 && left <= 0) {
			reason = "timeout";
			goto fail;
		}
		if (wait_want(c->fd, err, left > INT_MAX ? INT_MAX : (int)left, &timed_out) < 0) {
			reason = timed_out ? "timeout" : ms_err("poll: %s", strerror(errno));
			goto fail;
		}
	}
	vr = SSL_get_verify_result(t->ssl);
	res->verified = vr == X509_V_OK && SSL_get0_peer_certificate(t->ssl) != NULL;
	res->dane_authority = SSL_get0_dane_authority(t->ssl, NULL, NULL);
	if (!res->verified)
		ms_strlcpy(res->verify_error, vr == X509_V_OK ? "no certificate" :
			X509_verify_cert_error_string(vr), sizeof(res->verify_error));
	c->tls = t;
	return 0;

fail:
	t->fatal = true;
	conn_tls_free(t);
	ERR_clear_error();
	c->failed = true;
	*error_r = ms_err("TLS handshake: %s", reason);
	return -1;
}

struct ssl_st *
conn_tls_ssl(const struct conn *c)
{
	return c->tls != NULL ? c->tls->ssl : NULL;
}

size_t
conn_tls_discarded_plaintext(const struct conn *c)
{
	return c->tls_discarded;
}

/* ---- I/O for conn.c ---- */

static ssize_t
tls_read(struct conn *c, void *p, size_t n, bool block)
{
	struct conn_tls *t = c->tls;

	if (c->failed)
		return -1;
	if (c->eof)
		return 0;
	for (;;) {
		size_t got = 0;
		bool timed_out;
		int r, err;

		ERR_clear_error();
		errno = 0;
		r = SSL_read_ex(t->ssl, p, n, &got);
		if (r == 1)
			return (ssize_t)got;
		err = SSL_get_error(t->ssl, r);
		switch (err) {
		case SSL_ERROR_WANT_READ:
			if (!block)
				return -2;
			/* FALLTHROUGH */
		case SSL_ERROR_WANT_WRITE:
			/* Writing happens during reads for key updates. */
			if (wait_want(c->fd, err, c->timeout_ms, &timed_out) < 0) {
				c->timed_out = timed_out;
				c->failed = true;
				return -1;
			}
			continue;
		case SSL_ERROR_ZERO_RETURN:
			c->eof = true;
			return 0;
		default:
			log_debug(c->cid, "ev=tls-read-error reason=%s",
				lq(ssl_failure_text(t, err)));
			ERR_clear_error();
			t->fatal = true;
			c->failed = true;
			return -1;
		}
	}
}

ssize_t
tls_conn_read(struct conn *c, void *p, size_t n)
{
	return tls_read(c, p, n, true);
}

ssize_t
tls_conn_read_nowait(struct conn *c, void *p, size_t n)
{
	return tls_read(c, p, n, false);
}

int
tls_conn_write(struct conn *c, const void *p, size_t n)
{
	struct conn_tls *t = c->tls;
	const char *s = p;

	if (c->failed)
		return -1;
	while (n > 0) {
		size_t w = 0;
		bool timed_out;
		int r, err;

		ERR_clear_error();
		errno = 0;
		r = SSL_write_ex(t->ssl, s, n, &w);
		if (r == 1) {
			s += w;
			n -= w;
			continue;
		}
		err = SSL_get_error(t->ssl, r);
		if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
			/* Retried with the same buffer and length, as
			 * OpenSSL requires. */
			if (wait_want(c->fd, err, c->timeout_ms, &timed_out) < 0) {
				c->timed_out = timed_out;
				c->failed = true;
				return -1;
			}
			continue;
		}
		log_debug(c->cid, "ev=tls-write-error reason=%s", lq(ssl_failure_text(t, err)));
		ERR_clear_error();
		t->fatal = true;
		c->failed = true;
		return -1;
	}
	return 0;
}

bool
tls_conn_pending(const struct conn *c)
{
	return SSL_pending(c->tls->ssl) > 0;
}

void
tls_conn_close(struct conn *c)
{
	struct conn_tls *t = c->tls;

	if (!t->fatal && c->fd >= 0 && SSL_is_init_finished(t->ssl)) {
		int r;
		bool timed_out;

		/* Send our close_notify; do not wait for the client's. */
		ERR_clear_error();
		r = SSL_shutdown(t->ssl);
		if (r < 0 && SSL_get_error(t->ssl, r) == SSL_ERROR_WANT_WRITE &&
			wait_want(c->fd, SSL_ERROR_WANT_WRITE, TLS_CLOSE_WAIT_MS, &timed_out) == 0)
			(void)SSL_shutdown(t->ssl);
		ERR_clear_error();
	}
	conn_tls_free(t);
	c->tls = NULL;
}

/* ---- facts ---- */

bool
conn_tls_active(const struct conn *c)
{
	return c->tls != NULL;
}

uint16_t
conn_tls_version_id(const struct conn *c)
{
	return c->tls != NULL ? (uint16_t)SSL_version(c->tls->ssl) : 0;
}

const char *
conn_tls_version_name(const struct conn *c)
{
	return c->tls != NULL ? tls_version_name(SSL_version(c->tls->ssl)) : NULL;
}

uint16_t
conn_tls_cipher_id(const struct conn *c)
{
	const SSL_CIPHER *cipher;

	if (c->tls == NULL)
		return 0;
	cipher = SSL_get_current_cipher(c->tls->ssl);
	return cipher != NULL ? SSL_CIPHER_get_protocol_id(cipher) : 0;
}

const char *
conn_tls_cipher_name(const struct conn *c)
{
	const SSL_CIPHER *cipher;
	const char *name;

	if (c->tls == NULL)
		return NULL;
	cipher = SSL_get_current_cipher(c->tls->ssl);
	if (cipher == NULL)
		return NULL;
	name = SSL_CIPHER_standard_name(cipher);
	return name != NULL ? name : SSL_CIPHER_get_name(cipher);
}

const char *
conn_tls_sni(const struct conn *c)
{
	return c->tls != NULL ? c->tls->sni : NULL;
}

bool
conn_tls_resumed(const struct conn *c)
{
	return c->tls != NULL && SSL_session_reused(c->tls->ssl) == 1;
}

void
conn_tls_received_comment(const struct conn *c, struct buf *out)
{
	const char *cipher;

	if (c->tls == NULL)
		return;
	cipher = conn_tls_cipher_name(c);
	buf_printf(out, "(%s %s)", conn_tls_version_name(c), cipher != NULL ? cipher : "unknown");
}

void
conn_tls_login_description(const struct conn *c, struct buf *out)
{
	if (!conn_tls_active(c))
		return;
	buf_printf(out, "version=%s ciphersuite=%s sni=%s resumed=%s alpn=",
		conn_tls_version_name(c), conn_tls_cipher_name(c),
		conn_tls_sni(c) ? conn_tls_sni(c) : "",
		conn_tls_resumed(c) ? "true" : "false");
}

int
tls_ctx_for_listener(const struct conf_listener_def *l, const char *proto,
	struct tls_ctx **ctx_r, const char **error_r)
{
	struct tls_config cfg;
	struct tls_ctx *ctx;
	struct buf names;
	size_t i;

	*ctx_r = NULL;
	if (l->tls_cert.n == 0)
		return 0;
	memset(&cfg, 0, sizeof(cfg));
	cfg.cert_files = (const char *const *)l->tls_cert.v;
	cfg.key_files = (const char *const *)l->tls_key.v;
	cfg.ncerts = l->tls_cert.n;
	cfg.hostname = l->hostname;
	if (tls_parse_version(l->tls_min_version, &cfg.min_version) < 0) {
		*error_r = "bad tls_min_version";
		return -1;
	}
	cfg.session_tickets = l->tls_session_tickets;
	cfg.client_auth = l->tls_client_auth;
	ctx = tls_ctx_create(&cfg, error_r);
	if (ctx == NULL)
		return -1;
	buf_init(&names);
	for (i = 0; i < tls_ctx_cert_count(ctx); i++) {
		buf_reset(&names);
		tls_ctx_cert_names(ctx, i, &names);
		log_info(NULL, "proto=%s ev=tls-certificate listener=%s names=%s", proto,
			lq(l->name), lq(names.data));
	}
	buf_free(&names);
	*ctx_r = ctx;
	return 0;
}

void
tls_ctx_reload_all(struct tls_ctx *const *ctxs, size_t n, const char *proto)
{
	const char *error;
	size_t i;

	for (i = 0; i < n; i++) {
		if (tls_ctx_reload(ctxs[i], &error) < 0)
			log_error(NULL, "proto=%s ev=tls-reload result=failed err=%s", proto,
				lq(error));
		else
			log_info(NULL, "proto=%s ev=tls-reload result=ok", proto);
	}
}
