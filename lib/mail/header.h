/* RFC 5322 header sections: iterate fields, unfold, look up by name, and
 * decode RFC 2047 encoded-words. */
#ifndef MS_HEADER_H
#define MS_HEADER_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

struct mail_header_iter {
	const char *p, *end;
};

/* Iterate over the fields of a header section [s, s+n) (which may include
 * the empty line that ends it). */
void mail_header_iter_init(struct mail_header_iter *it, const char *s, size_t n);
/* Next field: name (without colon) and raw value (after the colon, folding
 * kept, trailing CRLF removed). Returns true, or false at the end. Lines
 * without a colon are skipped. */
bool mail_header_next(struct mail_header_iter *it, const char **name,
	size_t *namelen, const char **value, size_t *valuelen);

/* Find the first field named name (case-insensitive); unfolds and trims the
 * value and appends it to out (not reset first). Returns true when found. */
bool mail_header_get(const char *s, size_t n, const char *name, struct buf *out);

/* Append to out every field of the header section [s, s+n) whose name is
 * one of names[0..nnames) (case-insensitive), in order, as "Name:" then
 * the value unfolded (mail_header_unfold) then CRLF: iterating over out
 * gives each field again, its value unfolded (unfolding it again changes
 * nothing). Returns false when out cannot stand for the fields as text:
 * a value with NUL or a CR left after unfolding, or not valid UTF-8. */
bool mail_header_select(struct buf *out, const char *s, size_t n, const char *const *names,
	size_t nnames);

/* Unfold (remove CRLF before WSP) and trim leading/trailing whitespace;
 * appends to out. */
void mail_header_unfold(struct buf *out, const char *value, size_t n);

/* Decode RFC 2047 encoded-words (B and Q; charsets utf-8, us-ascii and
 * iso-8859-1 converted, others with iconv) into UTF-8 text, appended to
 * out. Invalid words and unknown charsets are kept as is; whitespace
 * between adjacent encoded-words is dropped (RFC 2047 6.2). The result is
 * always valid UTF-8: undecodable bytes, raw or decoded, become U+FFFD. */
void mail_header_decode_words(struct buf *out, const char *s, size_t n);

#endif
