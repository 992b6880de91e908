/* Helpers shared by the lib/mail modules (UTF-8 checks, charset conversion,
 * RFC 2047 word decoding pieces). Not for use outside lib/mail: the
 * public contracts are addr.h, header.h and mime.h. */
#ifndef MS_MAIL_PRIVATE_H
#define MS_MAIL_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Length of the valid UTF-8 sequence (RFC 3629 section 4, no overlongs,
 * no surrogates, at most U+10FFFF) at s, or 0 when the bytes there are
 * not one. ASCII bytes, NUL included, count as a sequence of 1. */
size_t mail_utf8_seqlen(const char *s, size_t n);
/* Is [s, s+n) valid UTF-8 without NUL bytes? */
bool mail_utf8_valid(const char *s, size_t n);
/* Append s to out, replacing each invalid byte and NUL with U+FFFD, so the
 * result can go into PostgreSQL text/jsonb. */
void mail_utf8_sanitize(struct buf *out, const char *s, size_t n);
/* malloc'd, sanitized, NUL-terminated copy. */
char *mail_utf8_strndup(const char *s, size_t n);
/* Take the string out of b and release b (buf_steal re-initializes the
 * buffer, which would otherwise leak). */
char *mail_buf_finish(struct buf *b);

/* Can mail_charset_to_utf8 convert from charset? (utf-8, us-ascii,
 * iso-8859-1 directly; anything iconv(3) knows.) */
bool mail_charset_supported(const char *charset);
/* Convert [s, s+n) from charset to UTF-8, appending to out; undecodable
 * bytes become U+FFFD. A NULL or empty charset means UTF-8 (sanitized).
 * Returns 0, or -1 when the charset is unknown (nothing appended). */
int mail_charset_to_utf8(struct buf *out, const char *charset, const char *s, size_t n);

/* Decode base64 leniently: characters outside the alphabet (line breaks,
 * spaces) are skipped and missing padding is accepted. */
void mail_base64_decode_lenient(struct buf *out, const char *s, size_t n);
/* Decode quoted-printable (RFC 2045 6.7) leniently. */
void mail_qp_decode(struct buf *out, const char *s, size_t n);

/* Value of a hex digit or -1. */
int mail_hexval(char c);

/* MIME tree limits, shared by the parser and the JSON reader. */
#define MIME_MAX_DEPTH 32
#define MIME_MAX_PARTS 10000

struct mime_part;
struct mime_envelope;
/* Free what a part owns (not the part itself). */
void mime_part_clear(struct mime_part *p);
void mime_envelope_free(struct mime_envelope *e);

#endif
