/* The parts of RFC 5256 (SORT and THREAD) that need no mailbox: base
 * subject extraction (section 2.1), sent dates (2.2), message-ID lists, and
 * the ORDEREDSUBJECT and REFERENCES threading algorithms (sections 3 and 4),
 * which turn an array of messages into the THREAD response's thread lists.
 * Used by imap_cmd_sort.c; kept pure so unit tests can call it directly. */
#ifndef IMAP_THREAD_H
#define IMAP_THREAD_H

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
void imap_thread_base_subject(const char *s, size_t n, struct buf *out, bool *reply_r);

/* The i;ascii-casemap collation (RFC 4790 section 9.2), which RFC 5256
 * sorts with: a-z become A-Z in place, so keys compare with strcmp. */
void imap_thread_casemap(char *s);

/* RFC 5322 3.3 date-time (the obsolete forms of 4.3 accepted, comments
 * skipped, a missing zone taken as UTC) to unix seconds. Returns 0, or -1
 * when s is no date (RFC 5256 2.2: then INTERNALDATE is the sent date). */
int imap_thread_parse_date(const char *s, int64_t *t_r);

/* The message IDs (RFC 5322 msg-id, "<" id-left "@" id-right ">") in
 * s[0..n), in order, without the angle brackets. At most max are kept:
 * the last ones when last is true, else the first ones. Each is malloc'd
 * and appended to *ids_r (grown with realloc); returns the new count.
 * Text that is not a message ID is skipped. */
size_t imap_thread_msgids(const char *s, size_t n, size_t max, bool last,
	char ***ids_r, size_t count);
void imap_thread_msgids_free(char **ids, size_t n);

/* One message to thread. The strings belong to the caller. */
struct imap_thread_msg {
	uint32_t id;		/* number printed: sequence number or UID */
	int64_t date;		/* sent date (RFC 5256 2.2), unix seconds */
	const char *subject;	/* base subject, casemapped; "" if none */
	bool reply;		/* see imap_thread_base_subject */
	const char *msgid;	/* Message-ID without brackets; NULL if none */
	char *const *refs;	/* references, oldest first: those of References,
				 * or else the first of In-Reply-To */
	size_t nrefs;
};

/* Thread msgs[0..n) and append the thread lists (RFC 5256 section 5:
 * "(1)(2 3 (4)(5))", nothing for n == 0) to out. msgs is in mailbox order:
 * messages with equal sent dates keep that order. Time O(n log n) plus the
 * references; no recursion, so any depth of thread is fine. */
void imap_thread_orderedsubject(const struct imap_thread_msg *msgs, size_t n,
	struct buf *out);
void imap_thread_references(const struct imap_thread_msg *msgs, size_t n,
	struct buf *out);

#endif
