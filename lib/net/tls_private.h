/* The TLS I/O hooks conn.c calls once conn_tls_accept succeeded (c->tls
 * set). Internal to lib/net: other modules use net/conn.h and net/tls.h. */
#ifndef MS_TLS_PRIVATE_H
#define MS_TLS_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "net/conn.h"

struct tls_set;

/* Per connection, c->tls. */
struct conn_tls {
	SSL *ssl;
	struct tls_set *set;	/* the certificates it was accepted with (tls.c) */
	unsigned flags;
	char *sni;		/* normalized SNI name, or NULL */
	bool sni_rejected;	/* CONN_TLS_STRICT_SNI refused the name */
	bool fatal;		/* OpenSSL failed: no close_notify */
};

/* Largest certificate or key file read. */
#define TLS_MAX_FILE_SIZE (1024 * 1024)
/* Length of the tls-exporter channel binding (RFC 9266 section 2). */
#define TLS_EXPORTER_LEN 32

/* pem_password_cb that never prompts on the terminal for a pass phrase:
 * encrypted keys fail. */
int tls_no_passphrase(char *buf, int size, int rwflag, void *u);

/* The first (root cause) OpenSSL error of this thread's queue, which is
 * emptied. */
const char *ssl_error_text(void);

/* Read up to n decrypted bytes, waiting with c->timeout_ms for each poll.
 * Returns the count (> 0), 0 on EOF (c->eof set), -1 on error or timeout
 * (c->failed, c->timed_out set). */
ssize_t tls_conn_read(struct conn *c, void *p, size_t n);
/* Like tls_conn_read without waiting: -2 when no application data can be
 * read yet (only a partial record, or records without data arrived). */
ssize_t tls_conn_read_nowait(struct conn *c, void *p, size_t n);
/* Write all n bytes. Returns 0, or -1 (c->failed). */
int tls_conn_write(struct conn *c, const void *p, size_t n);
/* Does OpenSSL hold decrypted bytes not read yet? */
bool tls_conn_pending(const struct conn *c);
/* Send close_notify if possible without blocking long, free the TLS state
 * and set c->tls to NULL. The socket stays open. */
void tls_conn_close(struct conn *c);

#endif
