/* IMAP command parser (RFC 9051 section 9, RFC 3501 section 9, LITERAL+ RFC
 * 7888): a resumable, bounded tokenizer fed arbitrary chunks of client input.
 * It turns "tag SP name [SP args] CRLF" into a small tree of arguments and
 * leaves meaning to the command handlers. Malformed input is skipped through
 * the end of the command (including the bytes of announced non-synchronizing
 * literals) so the session can answer BAD and continue. */
#ifndef IMAP_PARSER_H
#define IMAP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum imap_arg_type {
	IMAP_ARG_ATOM,		/* atom, sequence set, flag, BODY[...] pieces */
	IMAP_ARG_QUOTED,	/* quoted string, escapes removed */
	IMAP_ARG_LITERAL,	/* {n}, {n+} or (literal8) ~{n} */
	IMAP_ARG_NIL,		/* the atom NIL (any case) */
	IMAP_ARG_LIST,		/* parenthesized list */
	/* A literal whose data went to the caller's stream function
	 * (imap_parser_literal_stream) instead of memory: len is its size,
	 * u.str is "" and stream_id numbers it (1, 2, ... per command). */
	IMAP_ARG_STREAM,
};

struct imap_arg {
	enum imap_arg_type type;
	bool literal8;		/* ~{n} (RFC 3516 BINARY) */
	bool has_nul;		/* string contains a NUL byte (literals only) */
	uint32_t stream_id;	/* IMAP_ARG_STREAM: 1 for the command's first */
	size_t len;		/* string bytes, or number of list elements */
	union {
		char *str;	/* NUL-terminated (also for NIL: "NIL") */
		struct imap_arg *list;
	} u;
};

/* A parsed command. All memory belongs to the parser and stays valid until
 * the next command starts being parsed (line mode keeps it). */
struct imap_command {
	const char *tag;	/* NULL when the error came before a tag */
	const char *name;	/* as sent by the client */
	const struct imap_arg *args;
	size_t nargs;
};

struct imap_parser_limits {
	size_t max_line;	/* bytes of one command outside literal data */
	uint64_t max_literal;	/* one literal, and all literals of a command */
	unsigned max_depth;	/* list nesting (32) */
	unsigned max_args;	/* arguments including lists (10000) */
	/* Literals up to this size are announced (IMAP_PARSE_LITERAL) even
	 * when they exceed max_literal, for the caller to stream or refuse
	 * (0: none; then max_literal alone decides). */
	uint64_t max_stream;
};

enum imap_parse_result {
	IMAP_PARSE_MORE,	/* all input consumed; feed more */
	IMAP_PARSE_COMMAND,	/* a complete command: imap_parser_command() */
	IMAP_PARSE_LITERAL,	/* a literal announcement {n}/{n+} CRLF was read */
	IMAP_PARSE_LINE,	/* line mode: imap_parser_line() */
	IMAP_PARSE_ERROR,	/* command skipped: imap_parser_error() */
};

enum imap_parse_error {
	IMAP_PERR_NONE,
	IMAP_PERR_SYNTAX,	/* answer "<tag> BAD <reason>" (or "* BAD") */
	IMAP_PERR_TOOBIG,	/* a literal over the limit: "<tag> NO [TOOBIG]" */
	IMAP_PERR_FATAL,	/* cannot resynchronize: "* BYE" and close */
	/* The caller refused a literal (imap_parser_literal_refuse) and the
	 * reason it gave is the whole answer after the tag ("NO [TRYCREATE]
	 * ..."); otherwise like IMAP_PERR_TOOBIG. */
	IMAP_PERR_REFUSED,
};

struct imap_parser;

/* A new parser; limits are copied. Never returns NULL. */
struct imap_parser *imap_parser_new(const struct imap_parser_limits *lim);
void imap_parser_free(struct imap_parser **p);

/* Feed len bytes. Returns at the first event; *consumed_r says how many bytes
 * were used (all of them for IMAP_PARSE_MORE); the caller feeds the rest
 * again later. After COMMAND, LINE or ERROR the next call starts a new
 * command (or a line in line mode). After LITERAL the caller either sends
 * "+ Ready for literal data" (synchronizing literal) and keeps feeding, or
 * calls imap_parser_literal_refuse() first (a refused literal is never
 * allocated: its buffer is made by the next feed). */
enum imap_parse_result imap_parser_feed(struct imap_parser *p, const void *data,
	size_t len, size_t *consumed_r);

/* The command after IMAP_PARSE_COMMAND. After IMAP_PARSE_ERROR only tag and
 * name are set (name may be NULL). After IMAP_PARSE_LITERAL: tag, name and
 * the complete top-level arguments before the literal (a list still open
 * is not among them; see imap_parser_literal_depth), valid until the next
 * feed. */
const struct imap_command *imap_parser_command(const struct imap_parser *p);

/* After IMAP_PARSE_ERROR: the kind and a human-readable reason (static). */
enum imap_parse_error imap_parser_error(const struct imap_parser *p,
	const char **reason_r);

/* After IMAP_PARSE_LITERAL: the announced size and whether the client waits
 * for a continuation request (synchronizing literal). */
uint64_t imap_parser_literal_size(const struct imap_parser *p);
bool imap_parser_literal_sync(const struct imap_parser *p);
/* Is it a literal8 ("~{n}", RFC 3516)? */
bool imap_parser_literal8(const struct imap_parser *p);
/* List nesting of the literal: 0 at the top level, 1 inside "(...)". */
unsigned imap_parser_literal_depth(const struct imap_parser *p);
/* Would the literal fit the memory limits (max_literal, for it and the
 * command's other literals in memory)? When not, the caller must stream or
 * refuse it: taking it (continuation request) would be refused too late. */
bool imap_parser_literal_fits(const struct imap_parser *p);
/* Refuse the literal just announced (e.g. too large for this command). A
 * synchronizing literal ends the command at once (the client sends no data);
 * a non-synchronizing one is read and discarded with the rest of the
 * command. The next feed returns IMAP_PARSE_ERROR with kind and reason
 * (which must stay valid until then). IMAP_PERR_FATAL ends the command at
 * once in both cases: the caller closes the connection. */
void imap_parser_literal_refuse(struct imap_parser *p, enum imap_parse_error kind,
	const char *reason);
/* Take the literal just announced as a stream: its bytes are passed to fn
 * as they arrive (in pieces, during later feeds) and not kept; the argument
 * becomes IMAP_ARG_STREAM. Streamed literals do not count toward
 * max_literal. A literal above max_literal (announced because of
 * max_stream) that is neither streamed nor refused is refused by the parser
 * as IMAP_PERR_TOOBIG. */
typedef void imap_stream_fn(void *ctx, const void *data, size_t len);
void imap_parser_literal_stream(struct imap_parser *p, imap_stream_fn *fn, void *ctx);

/* True when no byte of a new command has been read yet (between commands). */
bool imap_parser_idle(const struct imap_parser *p);

/* Line mode, for AUTHENTICATE responses and IDLE's DONE: the next feed reads
 * one raw line (up to max_line bytes) and returns IMAP_PARSE_LINE, or
 * IMAP_PARSE_ERROR when it was too long. The current command stays valid. */
void imap_parser_want_line(struct imap_parser *p);
/* The line without CRLF, NUL-terminated. */
const char *imap_parser_line(const struct imap_parser *p, size_t *len_r);

/* ---- argument accessors: true when the argument has that form ---- */

/* An atom (not NIL). */
bool imap_arg_atom(const struct imap_arg *a, const char **s_r);
/* An atom equal to word, ignoring ASCII case. */
bool imap_arg_atom_eq(const struct imap_arg *a, const char *word);
/* astring = 1*ASTRING-CHAR / string: atom, NIL (as "NIL"), quoted or
 * literal; strings containing NUL, literal8 (allowed only where RFC 3516
 * says) and streamed literals are refused. len_r may be NULL. */
bool imap_arg_astring(const struct imap_arg *a, const char **s_r, size_t *len_r);
/* string = quoted / literal (no NUL, no literal8, not streamed). */
bool imap_arg_string(const struct imap_arg *a, const char **s_r, size_t *len_r);
/* nstring = string / nil; *s_r is NULL for NIL. */
bool imap_arg_nstring(const struct imap_arg *a, const char **s_r, size_t *len_r);
/* A parenthesized list. */
bool imap_arg_list(const struct imap_arg *a, const struct imap_arg **list_r,
	size_t *n_r);

/* A deep copy of n arguments in malloc'd memory (for state kept after the
 * command, e.g. NOTIFY's fetch attributes); free with imap_args_free. */
struct imap_arg *imap_args_dup(const struct imap_arg *a, size_t n);
void imap_args_free(struct imap_arg *a, size_t n);

#endif
