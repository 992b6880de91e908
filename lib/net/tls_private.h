/* The TLS I/O hooks conn.c calls once conn_tls_accept succeeded (c->tls
 * set). Internal to lib/net: other modules use net/conn.h and net/tls.h. */
#ifndef MS_TLS_PRIVATE_H
#define MS_TLS_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "net/conn.h"

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
