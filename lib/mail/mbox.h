/* The mbox format (RFC 4155 "application/mbox", read as mboxrd): splitting
 * a file into messages as it arrives in pieces, the date of a "From " line,
 * and writing messages as mbox. Used by the account import and export. */
#ifndef MS_MBOX_H
#define MS_MBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* One message found: its bytes as they were before mbox quoting (line
 * ends as in the file, the blank separator line removed), the time of its
 * From line (unix seconds, 0 when unreadable), and its number (1-based).
 * too_large: it was over the reader's limit; msg is then empty. Return 0
 * to go on, -1 to stop (mbox_feed/mbox_finish then return -1). */
typedef int mbox_msg_fn(void *ctx, const char *msg, size_t len, int64_t received,
	size_t number, bool too_large);

struct mbox_reader {
	size_t max_msg;		/* bytes of one message */
	struct buf pending;	/* a partial line */
	struct buf msg;
	bool in_msg, prev_blank, too_large;
	int64_t received;
	size_t nmsgs;
};

/* mbox_feed/mbox_finish result when the data does not start with a
 * "From " line (after blank lines): not an mbox file. */
#define MBOX_NOT_MBOX (-2)

void mbox_reader_init(struct mbox_reader *r, size_t max_msg);
void mbox_reader_free(struct mbox_reader *r);
/* Feed the next n bytes (any split, even one byte at a time). Calls fn for
 * each message completed by them. Returns 0, -1 (fn stopped) or
 * MBOX_NOT_MBOX. */
int mbox_feed(struct mbox_reader *r, const char *p, size_t n, mbox_msg_fn *fn, void *ctx);
/* End of the file: the last message. Returns 0, -1 or MBOX_NOT_MBOX (no
 * message at all in a non-empty file is not an error: an empty mbox). */
int mbox_finish(struct mbox_reader *r, mbox_msg_fn *fn, void *ctx);

/* The date of a From line "From sender Www Mmm dd hh:mm:ss yyyy" (asctime,
 * taken as UTC), line[0..n) without its line end. Returns unix seconds, or
 * 0 when it cannot be read. */
int64_t mbox_from_date(const char *line, size_t n);

/* Append msg[0..n) as one mbox entry: a From line with the received time,
 * the message with LF line ends and mboxrd quoting (">" before lines
 * matching ^>*From ), and a blank line. */
void mbox_append(struct buf *out, const char *msg, size_t n, int64_t received);

#endif
