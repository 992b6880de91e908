/* IMAP sequence sets (RFC 9051 section 9: sequence-set, seq-range,
 * seq-number): parsing "1:5,7,9:*", resolving "*" against a mailbox, mapping
 * to message sequence numbers or UIDs of the session's view, and formatting
 * sorted UID lists compactly (ESEARCH, COPYUID). "$" (RFC 5182 SEARCHRES)
 * is recognized where allowed; the session resolves it against the saved
 * result (imap_seqset_uidlist_to_indexes). */
#ifndef IMAP_SEQSET_H
#define IMAP_SEQSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* "*" is kept as 0 until resolved (0 is never a valid number). */
#define IMAP_SEQ_STAR 0

struct imap_seqrange {
	uint32_t lo, hi;	/* as written; either may be IMAP_SEQ_STAR */
};

struct imap_seqset {
	struct imap_seqrange *r;
	size_t n, cap;
	bool saved;		/* "$": the saved search result (SEARCHRES) */
};

void imap_seqset_init(struct imap_seqset *set);
void imap_seqset_free(struct imap_seqset *set);

/* Parse a sequence-set from [s, s+n). With allow_saved, "$" alone sets
 * set->saved. Returns 0, or -1 with a static reason in *error_r. At most
 * 100000 ranges. */
int imap_seqset_parse(const char *s, size_t n, bool allow_saved,
	struct imap_seqset *set, const char **error_r);

/* Does the set contain v, with "*" meaning star? Ranges are unordered
 * ("5:2" is "2:5"). */
bool imap_seqset_contains(const struct imap_seqset *set, uint32_t v, uint32_t star);

/* Resolve "*" to star, order each range, sort and merge them. The result
 * (malloc'd, *n_r ranges with lo <= hi) is ascending and disjoint. */
struct imap_seqrange *imap_seqset_resolve(const struct imap_seqset *set,
	uint32_t star, size_t *n_r);

/* Message sequence numbers: the 0-based indexes (ascending, unique,
 * malloc'd) of the messages in a mailbox of count messages. "*" is count.
 * Returns 0, or -1 when a number is above count (including "*" in an empty
 * mailbox), which RFC 9051 section 9 says deserves BAD. */
int imap_seqset_to_indexes(const struct imap_seqset *set, uint32_t count,
	uint32_t **idx_r, size_t *n_r);

/* UIDs: the 0-based indexes into the ascending uids[0..n) of the UIDs in the
 * set; "*" is the largest UID in use (RFC 9051 section 6.4.9: "UID range of
 * 559:*" includes the last message even when 559 is higher). Nonexistent
 * UIDs are ignored. The result is malloc'd (may be NULL when empty). */
void imap_seqset_uids_to_indexes(const struct imap_seqset *set,
	const uint32_t *uids, size_t n, uint32_t **idx_r, size_t *n_r);

/* The saved search result (RFC 5182 "$", a list of UIDs ascending and
 * unique) against the ascending uids[0..n): the 0-based indexes of the
 * UIDs that are in both (malloc'd, NULL when none). UIDs no longer in uids
 * (expunged and reported) drop out. */
void imap_seqset_uidlist_to_indexes(const uint32_t *list, size_t nlist,
	const uint32_t *uids, size_t n, uint32_t **idx_r, size_t *n_r);

/* Append the ascending, unique values v[0..n) as a compact sequence set
 * ("1:3,7,9:10"); nothing for n == 0. */
void imap_seqset_format(struct buf *out, const uint32_t *v, size_t n);

#endif
