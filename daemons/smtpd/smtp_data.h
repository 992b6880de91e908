/* The SMTP DATA reader as a pure, incremental state machine: fed the raw
 * bytes that follow "354" in chunks of any size, it finds the one true end
 * of data (CRLF "." CRLF), removes dot-stuffing, and reports what the
 * session must refuse: bare CR or LF (SMTP smuggling), size over the limit,
 * too many Received headers. No I/O: the session reads from the socket and
 * writes the output to the message file. */
#ifndef MS_SMTP_DATA_H
#define MS_SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct smtp_data {
	/* Inputs, set by smtp_data_init. */
	uint64_t max_size;	/* 0: no limit */

	/* Results, valid once done is set (and meanwhile for progress). */
	bool done;		/* the end-of-data line was consumed */
	bool bare_cr;		/* a CR not followed by LF was seen */
	bool bare_lf;		/* an LF not preceded by CR was seen */
	bool eightbit;		/* a byte >= 0x80 was seen */
	bool too_big;		/* more than max_size bytes after unstuffing */
	uint64_t size;		/* message bytes after unstuffing (all of them,
				 * also the ones past max_size not emitted) */
	unsigned received;	/* Received: header fields in the header section */

	/* Private state. */
	int state;
	bool in_header;		/* still in the header section */
	unsigned hline_len;	/* bytes of the current header line so far */
	char hline[16];		/* its first bytes, to recognise "Received:" */
};

/* Start reading a message; the CRLF of the DATA command counts as the CRLF
 * before a possible "." (RFC 5321 4.1.1.4: an empty message is ".\r\n"). */
void smtp_data_init(struct smtp_data *d, uint64_t max_size);

/* Feed n input bytes. Message bytes (unstuffed, without the final
 * ".\r\n") are appended to out while the size is within max_size; out may
 * be NULL to discard them. Returns the number of input bytes consumed: all
 * n, or fewer when the end of data was reached (d->done), in which case the
 * rest belongs to the next command (pipelining). Feeding after done
 * consumes nothing. Never fails: every byte sequence has a meaning. */
size_t smtp_data_feed(struct smtp_data *d, const char *in, size_t n,
	struct buf *out);

/* The reply line (without CRLF) for a completed transfer the session must
 * reject, or NULL when the message may be delivered. The most specific
 * problem wins: smuggling first, then size, then a mail loop. */
const char *smtp_data_reject_reply(const struct smtp_data *d);

/* More Received header fields than this and the message is a loop
 * (FEATURES.md section 2 limits; RFC 5321 6.3). */
#define SMTP_DATA_MAX_RECEIVED 100

#endif
