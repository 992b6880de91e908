/* The layers under struct conn's buffers, internal to lib/net: the
 * transport (TLS when c->tls is set, else the socket) in conn.c, and the
 * COMPRESS=DEFLATE layer above it in conn_deflate.c, which conn.c calls
 * once c->zs is set. Other modules use net/conn.h. */
#ifndef MS_CONN_PRIVATE_H
#define MS_CONN_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "net/conn.h"

/* Read up to n bytes from the transport. With block, waits with
 * c->timeout_ms. Returns the count (> 0), 0 on EOF (c->eof set), -1 on
 * error or timeout (c->failed, c->timed_out set), and without block -2
 * when nothing can be read now. Not counted in c->nread. */
ssize_t conn_raw_read(struct conn *c, void *p, size_t n, bool block);
/* Write all n bytes to the transport. Returns 0, or -1 (c->failed). Not
 * counted in c->nwritten. */
int conn_raw_write(struct conn *c, const void *p, size_t n);

/* Inflate into p (at most n bytes), reading compressed bytes from the
 * transport as needed; same results as conn_raw_read. Invalid compressed
 * data is an error (c->failed set, logged at debug level). */
ssize_t conn_deflate_read(struct conn *c, void *p, size_t n, bool block);
/* Compress n bytes and write them out. With flush, end with a sync flush
 * so the peer can decompress everything written so far; without, zlib may
 * keep some of it until the next write with flush. Returns 0 or -1. */
int conn_deflate_write(struct conn *c, const void *p, size_t n, bool flush);
/* Does the layer hold compressed input not inflated yet, output that did
 * not fit the last read, or the end of the peer's stream (the next read
 * returns EOF)? (Such input may still inflate to nothing.) */
bool conn_deflate_pending(const struct conn *c);
/* Free the compression state and set c->zs to NULL. */
void conn_deflate_free(struct conn *c);

#endif
