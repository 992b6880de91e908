/* SASLprep (RFC 4013) for user names and passwords, so that a password set
 * through the web interface and the same password sent by a SCRAM client
 * (which must prepare it, RFC 5802 section 2.2) give the same keys. */
#ifndef MS_SASLPREP_H
#define MS_SASLPREP_H

#include <stddef.h>

#include "core/buf.h"

/* Prepare the UTF-8 string in[0..len) and append the result to out.
 * What is done (RFC 4013 section 2 and RFC 3454 tables of Unicode 3.2):
 *   - mapping: non-ASCII space characters (table C.1.2) become U+0020;
 *     "commonly mapped to nothing" characters (B.1, e.g. soft hyphen,
 *     zero-width joiners, variation selectors, U+FEFF) are removed;
 *   - prohibited output: ASCII and non-ASCII control characters (C.2.1,
 *     C.2.2, which includes NUL), private use (C.3), non-characters (C.4),
 *     surrogates (C.5), C.6, C.7, change-display/deprecated (C.8) and tag
 *     characters (C.9) are refused;
 *   - invalid or overlong UTF-8, and a result that is empty, are refused.
 * Not done: NFKC normalization (section 2.2) and the bidirectional check
 * (section 2.3), which need the full Unicode tables. The string is
 * otherwise left as it is, so the result equals RFC 4013's for every
 * string that is already NFKC-stable: all ASCII, and the precomposed (NFC)
 * letters people type. A client that normalizes a fullwidth or ligature
 * character differently will not match; that is the documented limit.
 * Returns 0, or -1 with *error_r (out is left as it was). */
int saslprep(const char *in, size_t len, struct buf *out, const char **error_r);

#endif
