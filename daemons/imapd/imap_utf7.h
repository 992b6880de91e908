/* Modified UTF-7 mailbox names (RFC 3501 section 5.1.3), used with IMAP4rev1
 * clients; IMAP4rev2 (RFC 9051 section 5.1) and UTF8=ACCEPT use UTF-8. */
#ifndef IMAP_UTF7_H
#define IMAP_UTF7_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

/* Append the UTF-8 name s encoded in modified UTF-7. Invalid UTF-8 bytes
 * become U+FFFD. */
void imap_utf7_encode(struct buf *out, const char *s, size_t n);
/* Append the modified UTF-7 name [s, s+n) decoded to UTF-8. 8-bit bytes are
 * copied as they are (clients sending raw UTF-8). Returns 0 or -1 when the
 * encoding is invalid. */
int imap_utf7_decode(struct buf *out, const char *s, size_t n);
/* Is [s, s+n) well-formed UTF-8 (RFC 3629: no overlong forms, surrogates or
 * code points past U+10FFFF)? PostgreSQL refuses anything else in a text
 * column, so mailbox names are checked before they reach the store. */
bool imap_utf8_valid(const char *s, size_t n);

#endif
