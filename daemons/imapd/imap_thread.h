/* RFC 5256 THREAD without a mailbox: message-ID lists and the
 * ORDEREDSUBJECT and REFERENCES threading algorithms (sections 3 and 4),
 * which turn an array of messages into the THREAD response's thread lists.
 * Used by imap_cmd_sort.c; kept pure so unit tests can call it directly.
 * The keys (base subject, sent date) come from imap_sortkey.h. */
#ifndef IMAP_THREAD_H
#define IMAP_THREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

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
	bool reply;		/* see imap_sortkey_base_subject */
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
