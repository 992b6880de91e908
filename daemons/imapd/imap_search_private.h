/* Inside the search code (imap_search.c parses programs and runs the
 * commands; imap_search_run.c evaluates a program over a mailbox): the
 * program tree and what it needs. Not for other files. */
#ifndef IMAP_SEARCH_PRIVATE_H
#define IMAP_SEARCH_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap_search.h"

/* Messages read per database query when the text is needed. */
#define SEARCH_BATCH 500
/* Rows per query of the small-columns scan. */
#define SEARCH_SCAN_CHUNK 50000
/* Bytes of a message file read for a header search at most. */
#define SEARCH_HEADER_MAX (1024 * 1024)

enum skey_op {
	K_ALL,
	K_NONE,
	K_FLAG,		/* has all bits of flag */
	K_NOFLAG,	/* lacks the bits */
	K_KEYWORD,
	K_UNKEYWORD,
	K_LARGER,
	K_SMALLER,
	K_MODSEQ,	/* RFC 7162: modseq >= num */
	K_UID,
	K_SEQ,
	K_NOT,
	K_OR,
	K_AND,
	K_BEFORE,
	K_ON,
	K_SINCE,
	K_SENTBEFORE,
	K_SENTON,
	K_SENTSINCE,
	K_HEADER,	/* str: field name, str2: value */
	K_BODY,
	K_TEXT,
	K_OLDER,	/* RFC 5032: received at least num seconds ago */
	K_YOUNGER,	/* received at most num seconds ago */
	K_SAVEDBEFORE,	/* RFC 8514, on the save date like BEFORE/ON/SINCE */
	K_SAVEDON,
	K_SAVEDSINCE,
};

struct skey {
	enum skey_op op;
	unsigned flag;
	const char *str, *str2;	/* in the parser's arena or static */
	char *kw;		/* lower-cased keyword */
	uint64_t num;
	int date;		/* yyyymmdd */
	struct imap_seqset set;
	struct skey **kids;
	size_t nkids;
};

/* What the keys of a program need, gathered while parsing. */
struct search_needs {
	bool parsed;		/* the MIME structure */
	bool bytes;		/* the message text */
	bool keywords;		/* the keyword lists of the rows */
	/* header keys on the fields stored with the rows (search_fields):
	 * the rows' small columns and those bytes suffice */
	bool fields;
	bool modseq;		/* a MODSEQ key: results carry (MODSEQ n) */
	bool saved;		/* "$" */
};

struct imap_search {
	struct imap_session *s;
	const char *tag;
	struct skey *root;
	unsigned ret;		/* IMAP_RET_* */
	bool given, save;
	struct search_needs need;
	int64_t now;		/* unix seconds, for WITHIN */
	/* INPROGRESS (RFC 9585): messages looked at in earlier mailboxes
	 * of the command, the goal, and when the last report went out. */
	uint64_t done, goal;
	int64_t last_report_ms, interval_ms;
	/* With need.modseq: the modseq of each match of the current run. */
	int64_t *mods;
};

#endif
