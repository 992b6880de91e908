/* SASL mechanisms shared by SMTP submission and IMAP. For now PLAIN
 * (RFC 4616); LOGIN, CRAM-MD5, SCRAM-* and EXTERNAL follow. */
#ifndef MS_SASL_H
#define MS_SASL_H

#include <stddef.h>

#include "core/buf.h"

/* Parse a decoded PLAIN message "authzid NUL authcid NUL passwd".
 * authzid_r/authcid_r/passwd_r are filled (NUL-terminated copies).
 * Returns 0, or -1 with *error_r when malformed (wrong number of NULs,
 * empty authcid, over 255 bytes per field). An authzid different from the
 * authcid is refused by callers (no proxy authorization). */
int sasl_plain_parse(const char *msg, size_t n, struct buf *authzid_r,
	struct buf *authcid_r, struct buf *passwd_r, const char **error_r);

/* Decode a base64 SASL response line (without CRLF); "=" means empty.
 * Returns 0, or -1 when it is not valid base64. "*" (cancel) is handled by
 * the caller. */
int sasl_decode_response(const char *line, size_t n, struct buf *out);

#endif
