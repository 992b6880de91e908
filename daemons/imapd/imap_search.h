/* The IMAP search program shared by SEARCH / UID SEARCH (imap_search.c)
 * and ESEARCH (imap_cmd_esearch.c, RFC 7377): parsing the RETURN options
 * and search keys, evaluating them over one mailbox, the ESEARCH return
 * data, and the saved result of RFC 5182. Internal to mailstead-imapd. */
#ifndef IMAP_SEARCH_H
#define IMAP_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "imap_session.h"

/* RETURN options (RFC 4731 section 3.1); SAVE (RFC 5182) is separate. */
enum {
	IMAP_RET_MIN = 1 << 0,
	IMAP_RET_MAX = 1 << 1,
	IMAP_RET_ALL = 1 << 2,
	IMAP_RET_COUNT = 1 << 3,
};

struct imap_search;

/* One mailbox to search, its messages numbered as the client sees them. */
struct imap_search_box {
	int64_t id;
	const uint32_t *uids;	/* ascending; sequence number n is uids[n-1] */
	size_t n;
	bool selected;		/* the session's view: pending expunges, "$" */
};

/* The matches in one mailbox. */
struct imap_search_result {
	uint32_t *idx;		/* ascending indexes into box->uids (malloc'd) */
	size_t n;
	/* With a MODSEQ key (RFC 7162 3.1.5): the highest modseq of the
	 * messages returned (of MIN/MAX alone when only those are asked);
	 * 0 when none matched. */
	int64_t maxmod;
};

/* Parse "[RETURN (options)] [CHARSET charset] search-key *(SP search-key)"
 * from args[0..n); esearch: the answer is ESEARCH whatever the protocol
 * version (the ESEARCH command). Returns the program, or NULL with a BAD
 * (NO [BADCHARSET]) reply set on cmd. The program refers to the parser's
 * memory: use it within the command. Free with imap_search_free. */
/* Before the box of the selected mailbox is made: when the program is
 * answered from the view's state, a sync brings that up to date (it may
 * add messages to the view). */
void imap_search_refresh(struct imap_search *q, bool allow_expunge);
struct imap_search *imap_search_parse(struct imap_session *s, struct imap_cmd *cmd,
	const struct imap_arg *args, size_t n, bool esearch);
void imap_search_free(struct imap_search **q);

/* The RETURN options: IMAP_RET_* bits, with ALL filled in for "RETURN ()"
 * and, without RETURN, for IMAP4rev2 and the ESEARCH command; 0 when
 * nothing but SAVE was asked or (IMAP4rev1 SEARCH) no RETURN was given. *given_r: RETURN was there; *save_r:
 * SAVE was among the options. */
unsigned imap_search_return(const struct imap_search *q, bool *given_r, bool *save_r);
/* Does the program use "$" (only valid in the selected mailbox)? */
bool imap_search_uses_saved(const struct imap_search *q);
/* Does the program use a MODSEQ key (a CONDSTORE enabling command)? */
bool imap_search_has_modseq(const struct imap_search *q);
/* The number of messages all imap_search_run calls of this command will
 * look at: the goal in INPROGRESS responses (RFC 9585); 0: unknown. */
void imap_search_set_goal(struct imap_search *q, uint64_t goal);

/* Evaluate over box. Long searches send "* OK [INPROGRESS ...]" now and
 * then. Returns 0 with *res filled (free with imap_search_result_free), or
 * -1 (logged). */
int imap_search_run(struct imap_search *q, const struct imap_search_box *box,
	struct imap_search_result *res);
void imap_search_result_free(struct imap_search_result *res);

/* Append the ESEARCH return data (RFC 4731 search-return-data: " MIN n",
 * " MAX n", " COUNT n", " ALL set", " MODSEQ n") for res, whose values
 * (sequence numbers or UIDs, ascending) are vals[0..res->n). */
void imap_search_buf_return(const struct imap_search *q,
	const struct imap_search_result *res, const uint32_t *vals, struct buf *out);

/* RFC 5182: make res (in the selected mailbox) the saved result "$"; with
 * only MIN and/or MAX asked, just those messages (section 2.4). With res
 * NULL the saved result becomes empty (a failed SEARCH ... SAVE). */
void imap_search_save(struct imap_session *s, const struct imap_search *q,
	const struct imap_search_result *res);

#endif
