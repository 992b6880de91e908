/* Client-side SASL for SMTP AUTH to smarthosts and submission services:
 * SCRAM-SHA-256 and SCRAM-SHA-1 (RFC 5802, RFC 7677; no channel binding),
 * CRAM-MD5 (RFC 2195) and PLAIN (RFC 4616). The mechanism is the
 * strongest the server offers among the allowed ones, in that order. The
 * state holds the password and is wiped by sasl_client_free. */
#ifndef MS_SASL_CLIENT_H
#define MS_SASL_CLIENT_H

#include <stddef.h>

#include "core/buf.h"

struct sasl_client;

/* Pick a mechanism from offered (space-separated, any case) limited to
 * allowed (NULL/empty: all four), strongest first. Returns the static
 * name, or NULL when none fits. */
const char *sasl_client_choose(const char *offered, const char *const *allowed, size_t nallowed);

/* New state for mech (as from sasl_client_choose). NULL for an unknown
 * mechanism. */
struct sasl_client *sasl_client_new(const char *mech, const char *username,
	const char *password);
void sasl_client_free(struct sasl_client **c);

/* One step: the server's decoded challenge in (empty for the initial
 * response) -> the response to send, appended to out. Returns 0 (send
 * out, continue), 1 (the server's final message verified: done), or -1
 * with *error_r (bad challenge: a SCRAM server-first message without our
 * nonce first, with a nonce that is not printable, without a base64 salt
 * or with an iteration count outside 1..1000000; a server error "e=";
 * a server signature mismatch). After -1 or after the end every step
 * fails. */
int sasl_client_step(struct sasl_client *c, const char *in, size_t n, struct buf *out,
	const char **error_r);

#endif
