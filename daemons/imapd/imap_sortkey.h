/* Sort keys of RFC 5256 (SORT and THREAD) that need no mailbox: base
 * subjects (section 2.1), the i;ascii-casemap collation and sent dates
 * (2.2). Pure functions, unit-tested directly. */
#ifndef IMAP_SORTKEY_H
#define IMAP_SORTKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* RFC 5256 2.1: append the base subject (UTF-8) of the Subject field value
 * s[0..n) to out. s is the raw value: RFC 2047 encoded-words, tabs and
 * folding are handled here. *reply_r (may be NULL) is set to whether the
 * extraction removed a subj-refwd ("Re:", "Fwd:"), a "(fwd)" trailer or a
 * "[fwd: ...]" wrapper, which is what makes a message a reply or forward
 * for THREAD=REFERENCES (section 4 step 5). */
void imap_sortkey_base_subject(const char *s, size_t n, struct buf *out, bool *reply_r);

/* The i;ascii-casemap collation (RFC 4790 section 9.2), which RFC 5256
 * sorts with: a-z become A-Z in place, so keys compare with strcmp. */
void imap_sortkey_casemap(char *s);

/* RFC 5322 3.3 date-time (the obsolete forms of 4.3 accepted, comments
 * skipped, a missing zone taken as UTC) to unix seconds. Returns 0, or -1
 * when s is no date (RFC 5256 2.2: then INTERNALDATE is the sent date). */
int imap_sortkey_date(const char *s, int64_t *t_r);

#endif
