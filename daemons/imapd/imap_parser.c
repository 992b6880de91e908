/* IMAP command tokenizer: a byte-driven state machine, so input may arrive in
 * any pieces (one byte at a time in the unit test). Strings and lists are
 * collected into a per-command arena; limits bound every dimension. See
 * imap_parser.h for the contract. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/util.h"
#include "imap_parser.h"

/*
 * RFC 9051 section 9 (formal syntax), the parts this tokenizer handles:
 *
 *   command         = tag SP (command-any / command-auth / command-nonauth /
 *                     command-select) CRLF
 *   tag             = 1*<any ASTRING-CHAR except "+">
 *   astring         = 1*ASTRING-CHAR / string
 *   ASTRING-CHAR    = ATOM-CHAR / resp-specials
 *   atom            = 1*ATOM-CHAR
 *   ATOM-CHAR       = <any CHAR except atom-specials>
 *   atom-specials   = "(" / ")" / "{" / SP / CTL / list-wildcards /
 *                     quoted-specials / resp-specials
 *   list-wildcards  = "%" / "*"
 *   quoted-specials = DQUOTE / "\"
 *   resp-specials   = "]"
 *   string          = quoted / literal
 *   quoted          = DQUOTE *QUOTED-CHAR DQUOTE
 *   QUOTED-CHAR     = <any TEXT-CHAR except quoted-specials> /
 *                     "\" quoted-specials / UTF8-2 / UTF8-3 / UTF8-4
 *   literal         = "{" number64 ["+"] "}" CRLF *CHAR8
 *                       ; "+" is LITERAL+ (RFC 7888 section 3)
 *   literal8        = "~{" number64 ["+"] "}" CRLF *OCTET
 *                       ; RFC 3516 and RFC 4466; "+" from RFC 7888
 *                       ; section 6 (LITERAL+ applies to literal8 too)
 *   nil             = "NIL"
 *
 * Command arguments are a sequence of such tokens and parenthesized lists.
 * Tokens that the grammar builds from atom characters (sequence sets and
 * the saved search result "$" of RFC 5182, flags "\Seen", list patterns
 * with "%" and "*", fetch attributes such as "BODY.PEEK[1.2]<0.100>") are
 * all returned as atoms: any CHAR except SP, CTL, "(", ")", "{" and DQUOTE.
 * The one construct with a list inside an atom, BODY[HEADER.FIELDS (a b)],
 * comes out as the atom "BODY[HEADER.FIELDS", the list, and an atom
 * starting with "]", which may follow ")" without a space; the FETCH code
 * puts them back together.
 */

enum pstate {
	PS_START,	/* nothing of a command read yet */
	PS_TAG,
	PS_NAME,
	PS_ARG,		/* expecting an argument, SP, ")" or end of line */
	PS_AFTER,	/* after a string or list: SP, ")" or end of line */
	PS_ATOM,
	PS_TILDE,	/* "~": literal8 or an atom starting with "~" */
	PS_QUOTED,
	PS_QUOTED_ESC,
	PS_LIT_NUM,
	PS_LIT_PLUS,
	PS_LIT_CLOSE,
	PS_LIT_CR,
	PS_LIT_WAIT,	/* LITERAL returned; data follows */
	PS_LIT_DATA,
	PS_CR,		/* CR at the end of the command */
	PS_SKIP,	/* error: skip through the end of the command */
	PS_SKIP_DATA,	/* error: discard announced literal bytes */
	PS_REFUSED,	/* synchronizing literal refused: report the error */
	PS_LINE,	/* line mode */
	PS_LINE_SKIP,
	PS_DONE,	/* event returned; the next feed starts anew */
};

struct level {
	struct imap_arg *v;
	size_t n, cap;
};

struct chunk {
	struct chunk *next;
	size_t size, used, pad;	/* header is 32 bytes: data stays aligned */
};

#define CHUNK_SIZE 16384
#define BIG_ALLOC 4096

struct imap_parser {
	struct imap_parser_limits lim;
	enum pstate state;
	struct buf tok;
	struct level *levels;	/* [0] top level .. [max_depth] */
	unsigned depth;
	size_t linelen;
	unsigned nargs;
	uint64_t lit_total;
	bool after_paren;

	/* literal being announced / read */
	uint64_t lit_size, lit_left;
	unsigned lit_digits;
	bool lit_plus, lit8, lit_overflow;
	size_t lit_index;	/* node in levels[depth] */
	imap_stream_fn *stream_fn;	/* non-NULL: the literal is streamed */
	void *stream_ctx;
	uint32_t nstreams;	/* streamed literals in this command */

	/* literal announcement seen while skipping */
	int sk_state;
	uint64_t sk_num;
	unsigned sk_digits;
	bool sk_plus, sk_overflow;
	uint64_t skip_left;

	struct imap_command cmd;
	enum imap_parse_error err;
	const char *reason;
	enum imap_parse_result event;

	struct chunk *chunks, *big;
};

/* ---- arena ---- */

static void *
arena_alloc(struct imap_parser *p, size_t n)
{
	struct chunk *c;

	n = (n + 15) & ~(size_t)15;
	if (n > BIG_ALLOC) {
		c = xmalloc(sizeof(*c) + n);
		c->size = c->used = n;
		c->next = p->big;
		p->big = c;
		return c + 1;
	}
	c = p->chunks;
	if (c == NULL || c->size - c->used < n) {
		c = xmalloc(sizeof(*c) + CHUNK_SIZE);
		c->size = CHUNK_SIZE;
		c->used = 0;
		c->next = p->chunks;
		p->chunks = c;
	}
	c->used += n;
	return (char *)(c + 1) + c->used - n;
}

static char *
arena_strndup(struct imap_parser *p, const char *s, size_t n)
{
	char *d = arena_alloc(p, n + 1);

	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

static void
free_chunks(struct chunk *c)
{
	while (c != NULL) {
		struct chunk *next = c->next;

		free(c);
		c = next;
	}
}

/* Free everything but one normal chunk, which is kept for the next command. */
static void
arena_reset(struct imap_parser *p)
{
	free_chunks(p->big);
	p->big = NULL;
	if (p->chunks != NULL) {
		free_chunks(p->chunks->next);
		p->chunks->next = NULL;
		p->chunks->used = 0;
	}
}

/* ---- construction ---- */

struct imap_parser *
imap_parser_new(const struct imap_parser_limits *lim)
{
	struct imap_parser *p = xcalloc(1, sizeof(*p));

	p->lim = *lim;
	if (p->lim.max_depth == 0)
		p->lim.max_depth = 32;
	if (p->lim.max_args == 0)
		p->lim.max_args = 10000;
	if (p->lim.max_line < 64)
		p->lim.max_line = 64;
	p->levels = xcalloc(p->lim.max_depth + 1, sizeof(*p->levels));
	buf_init(&p->tok);
	p->state = PS_START;
	return p;
}

void
imap_parser_free(struct imap_parser **pp)
{
	struct imap_parser *p = *pp;
	unsigned i;

	if (p == NULL)
		return;
	for (i = 0; i <= p->lim.max_depth; i++)
		free(p->levels[i].v);
	free(p->levels);
	buf_free(&p->tok);
	free_chunks(p->chunks);
	free_chunks(p->big);
	free(p);
	*pp = NULL;
}

static void
start_command(struct imap_parser *p)
{
	arena_reset(p);
	buf_reset(&p->tok);
	p->levels[0].n = 0;
	p->depth = 0;
	p->linelen = 0;
	p->nargs = 0;
	p->lit_total = 0;
	p->nstreams = 0;
	p->stream_fn = NULL;
	p->after_paren = false;
	memset(&p->cmd, 0, sizeof(p->cmd));
	p->err = IMAP_PERR_NONE;
	p->reason = NULL;
	p->state = PS_START;
}

/* ---- character classes ---- */

/* Bytes of our generic atom: CHAR except SP, CTL, "(", ")", "{", DQUOTE.
 * (Stricter classes are checked by the commands that need them.) */
static bool
is_atomish(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return c != '(' && c != ')' && c != '{' && c != '"';
}

/* ATOM-CHAR plus "]" (ASTRING-CHAR), minus "+" (tag). */
static bool
is_tag_char(unsigned char c)
{
	if (!is_atomish(c))
		return false;
	return c != '%' && c != '*' && c != '\\' && c != '+';
}

static bool
is_atom_char(unsigned char c)
{
	return is_tag_char(c) && c != ']';
}

/* ---- errors ---- */

/* Enter skip mode, keeping the first reason. The caller reprocesses the
 * current byte in skip mode, so an end of line ends the command. */
static void
fail(struct imap_parser *p, enum imap_parse_error kind, const char *reason)
{
	if (p->err == IMAP_PERR_NONE || kind == IMAP_PERR_FATAL) {
		p->err = kind;
		p->reason = reason;
	}
	p->state = PS_SKIP;
	p->sk_state = 0;
}

static void
finish_error(struct imap_parser *p)
{
	p->state = PS_DONE;
	p->event = IMAP_PARSE_ERROR;
}

/* ---- building arguments ---- */

static struct imap_arg *
add_arg(struct imap_parser *p)
{
	struct level *l = &p->levels[p->depth];

	if (++p->nargs > p->lim.max_args)
		return NULL;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	memset(&l->v[l->n], 0, sizeof(l->v[0]));
	return &l->v[l->n++];
}

static struct imap_arg *
copy_level(struct imap_parser *p, unsigned depth)
{
	struct level *l = &p->levels[depth];
	struct imap_arg *v;

	if (l->n == 0)
		return NULL;
	v = arena_alloc(p, l->n * sizeof(*v));
	memcpy(v, l->v, l->n * sizeof(*v));
	return v;
}

/* Returns false (and fails) when there are too many arguments. */
static bool
finish_string(struct imap_parser *p, enum imap_arg_type type)
{
	struct imap_arg *a = add_arg(p);

	if (a == NULL) {
		fail(p, IMAP_PERR_SYNTAX, "Too many arguments");
		return false;
	}
	if (type == IMAP_ARG_ATOM && p->tok.len == 3 &&
	    ms_strncaseeq(p->tok.data, "NIL", 3))
		type = IMAP_ARG_NIL;
	a->type = type;
	a->len = p->tok.len;
	a->u.str = arena_strndup(p, p->tok.data, p->tok.len);
	buf_reset(&p->tok);
	return true;
}

static bool
open_list(struct imap_parser *p)
{
	if (p->depth >= p->lim.max_depth) {
		fail(p, IMAP_PERR_SYNTAX, "Lists nested too deeply");
		return false;
	}
	p->depth++;
	p->levels[p->depth].n = 0;
	return true;
}

static bool
close_list(struct imap_parser *p)
{
	struct imap_arg *list, *a;
	size_t n;

	if (p->depth == 0) {
		fail(p, IMAP_PERR_SYNTAX, "Unexpected )");
		return false;
	}
	list = copy_level(p, p->depth);
	n = p->levels[p->depth].n;
	p->depth--;
	a = add_arg(p);
	if (a == NULL) {
		fail(p, IMAP_PERR_SYNTAX, "Too many arguments");
		return false;
	}
	a->type = IMAP_ARG_LIST;
	a->len = n;
	a->u.list = list;
	p->state = PS_AFTER;
	p->after_paren = true;
	return true;
}

/* End of the command line. */
static void
end_of_line(struct imap_parser *p)
{
	if (p->depth > 0) {
		/* Caller reprocesses the LF in skip mode, which ends it. */
		fail(p, IMAP_PERR_SYNTAX, "Unbalanced parentheses");
		return;
	}
	p->cmd.args = copy_level(p, 0);
	p->cmd.nargs = p->levels[0].n;
	p->state = PS_DONE;
	p->event = IMAP_PARSE_COMMAND;
}

/* Does the literal being announced fit the memory limits? */
static bool
literal_fits(const struct imap_parser *p)
{
	return !p->lit_overflow && p->lit_size <= p->lim.max_literal &&
		p->lit_total + p->lit_size <= p->lim.max_literal;
}

/* A literal announcement "{n}" / "{n+}" / "~{n}" followed by CRLF. The
 * client sends a synchronizing literal's data only after our "+"; RFC 7888
 * section 4 lets a server reject it before that. A non-synchronizing one
 * arrives regardless, so a refused one must be read and discarded (or the
 * connection closed when its size is not even a number64). Literals the
 * caller may stream (max_stream) are announced whatever max_literal says;
 * the caller decides (literal_take). */
static void
literal_announced(struct imap_parser *p)
{
	bool sync = !p->lit_plus;
	struct imap_arg *a;

	if (!literal_fits(p) && (p->lit_overflow || p->lit_size > p->lim.max_stream)) {
		if (sync) {
			p->err = IMAP_PERR_TOOBIG;
			p->reason = "Literal too large";
			finish_error(p);
		} else if (p->lit_overflow) {
			p->err = IMAP_PERR_FATAL;
			p->reason = "Literal size out of range";
			finish_error(p);
		} else {
			fail(p, IMAP_PERR_TOOBIG, "Literal too large");
			p->skip_left = p->lit_size;
			p->state = p->skip_left > 0 ? PS_SKIP_DATA : PS_SKIP;
		}
		return;
	}
	a = add_arg(p);
	if (a == NULL) {
		fail(p, IMAP_PERR_SYNTAX, "Too many arguments");
		if (sync) {
			finish_error(p);
		} else {
			p->skip_left = p->lit_size;
			p->state = p->skip_left > 0 ? PS_SKIP_DATA : PS_SKIP;
		}
		return;
	}
	/* The data's memory is taken once the caller has decided (the
	 * literal may be streamed or refused instead). */
	a->type = IMAP_ARG_LITERAL;
	a->literal8 = p->lit8;
	a->len = (size_t)p->lit_size;
	a->u.str = NULL;
	p->lit_index = p->levels[p->depth].n - 1;
	p->lit_left = p->lit_size;
	p->stream_fn = NULL;
	/* The arguments before the literal, for the caller's decision. */
	p->cmd.args = p->levels[0].v;
	p->cmd.nargs = p->levels[0].n - (p->depth == 0 ? 1 : 0);
	p->state = PS_LIT_WAIT;
	p->event = IMAP_PARSE_LITERAL;
}

static void refuse(struct imap_parser *p, enum imap_parse_error kind, const char *reason);

/* The first feed after IMAP_PARSE_LITERAL: the caller has streamed,
 * refused or accepted the literal; an accepted one gets its memory, unless
 * it is too large for that (then it is refused here). */
static void
literal_take(struct imap_parser *p)
{
	struct imap_arg *a = &p->levels[p->depth].v[p->lit_index];

	p->cmd.args = NULL;
	p->cmd.nargs = 0;
	p->after_paren = false;
	if (p->stream_fn != NULL) {
		a->type = IMAP_ARG_STREAM;
		a->u.str = arena_strndup(p, "", 0);
		a->stream_id = ++p->nstreams;
	} else if (!literal_fits(p)) {
		refuse(p, IMAP_PERR_TOOBIG, "Literal too large");
		return;
	} else {
		a->u.str = arena_alloc(p, (size_t)p->lit_size + 1);
		a->u.str[p->lit_size] = '\0';
		p->lit_total += p->lit_size;
	}
	p->state = p->lit_left > 0 ? PS_LIT_DATA : PS_AFTER;
}

/* Skip mode: watch for a literal announcement at the end of a line, whose
 * data (non-synchronizing) must be skipped too. */
static void
skip_byte(struct imap_parser *p, unsigned char c)
{
	if (c == '\n') {
		if (p->sk_state == 3 && p->sk_plus) {
			if (p->sk_overflow) {
				p->err = IMAP_PERR_FATAL;
				p->reason = "Literal size out of range";
				finish_error(p);
				return;
			}
			p->sk_state = 0;
			p->skip_left = p->sk_num;
			if (p->skip_left > 0)
				p->state = PS_SKIP_DATA;
			return;
		}
		/* End of the command; a synchronizing literal's data is not
		 * sent since we never answered "+". */
		finish_error(p);
		return;
	}
	switch (c) {
	case '{':
		p->sk_state = 1;
		p->sk_num = 0;
		p->sk_digits = 0;
		p->sk_plus = false;
		p->sk_overflow = false;
		break;
	case '+':
		if (p->sk_state == 1 && p->sk_digits > 0) {
			p->sk_state = 2;
			p->sk_plus = true;
		} else {
			p->sk_state = 0;
		}
		break;
	case '}':
		if ((p->sk_state == 1 && p->sk_digits > 0) || p->sk_state == 2)
			p->sk_state = 3;
		else
			p->sk_state = 0;
		break;
	case '\r':
		if (p->sk_state != 3)
			p->sk_state = 0;
		break;
	default:
		if (c >= '0' && c <= '9' && p->sk_state == 1) {
			if (p->sk_num > (UINT64_C(0x7fffffffffffffff) - (c - '0')) / 10)
				p->sk_overflow = true;
			else
				p->sk_num = p->sk_num * 10 + (uint64_t)(c - '0');
			p->sk_digits++;
		} else {
			p->sk_state = 0;
		}
		break;
	}
}

/* ---- the state machine ---- */

enum { STEP_NEXT, STEP_AGAIN, STEP_EVENT };

static bool
counts_toward_line(enum pstate s)
{
	return s != PS_SKIP && s != PS_SKIP_DATA && s != PS_LIT_DATA &&
		s != PS_LINE && s != PS_LINE_SKIP && s != PS_DONE &&
		s != PS_REFUSED && s != PS_LIT_WAIT;
}

static int
step(struct imap_parser *p, unsigned char c)
{
	switch (p->state) {
	case PS_START:
		if (c == '\r' || c == '\n') {
			/* Empty lines between commands are ignored. */
			p->linelen = 0;
			return STEP_NEXT;
		}
		p->state = PS_TAG;
		return STEP_AGAIN;

	case PS_TAG:
		if (is_tag_char(c)) {
			buf_putc(&p->tok, (char)c);
			return STEP_NEXT;
		}
		if (p->tok.len == 0) {
			fail(p, IMAP_PERR_SYNTAX, "Invalid tag");
			return STEP_AGAIN;
		}
		if (c == ' ') {
			p->cmd.tag = arena_strndup(p, p->tok.data, p->tok.len);
			buf_reset(&p->tok);
			p->state = PS_NAME;
			return STEP_NEXT;
		}
		if (c == '\r' || c == '\n') {
			p->cmd.tag = arena_strndup(p, p->tok.data, p->tok.len);
			fail(p, IMAP_PERR_SYNTAX, "Missing command");
			return STEP_AGAIN;
		}
		fail(p, IMAP_PERR_SYNTAX, "Invalid tag");
		return STEP_AGAIN;

	case PS_NAME:
		if (is_atom_char(c)) {
			buf_putc(&p->tok, (char)c);
			return STEP_NEXT;
		}
		if (p->tok.len == 0) {
			fail(p, IMAP_PERR_SYNTAX, "Missing command");
			return STEP_AGAIN;
		}
		if (c != ' ' && c != '\r' && c != '\n') {
			fail(p, IMAP_PERR_SYNTAX, "Invalid command name");
			return STEP_AGAIN;
		}
		p->cmd.name = arena_strndup(p, p->tok.data, p->tok.len);
		buf_reset(&p->tok);
		p->state = PS_ARG;
		return c == ' ' ? STEP_NEXT : STEP_AGAIN;

	case PS_ARG:
		switch (c) {
		case ' ':
			return STEP_NEXT;	/* tolerate extra spaces */
		case '(':
			if (!open_list(p))
				return STEP_AGAIN;
			return STEP_NEXT;
		case ')':
			if (!close_list(p))
				return STEP_AGAIN;
			return STEP_NEXT;
		case '"':
			buf_reset(&p->tok);
			p->state = PS_QUOTED;
			return STEP_NEXT;
		case '{':
			p->lit8 = false;
			goto literal_start;
		case '~':
			buf_reset(&p->tok);
			buf_putc(&p->tok, '~');
			p->state = PS_TILDE;
			return STEP_NEXT;
		case '\r':
			p->state = PS_CR;
			return STEP_NEXT;
		case '\n':
			end_of_line(p);
			return p->state == PS_DONE ? STEP_EVENT : STEP_AGAIN;
		default:
			if (!is_atomish(c)) {
				fail(p, IMAP_PERR_SYNTAX, c >= 0x80 ?
					"8-bit character outside a string" :
					"Invalid character");
				return STEP_AGAIN;
			}
			buf_reset(&p->tok);
			p->state = PS_ATOM;
			return STEP_AGAIN;
		}

	case PS_TILDE:
		if (c == '{') {
			p->lit8 = true;
			goto literal_start;
		}
		p->state = PS_ATOM;
		return STEP_AGAIN;

	case PS_ATOM:
		if (is_atomish(c)) {
			buf_putc(&p->tok, (char)c);
			return STEP_NEXT;
		}
		if (c == ' ' || c == ')' || c == '\r' || c == '\n') {
			if (!finish_string(p, IMAP_ARG_ATOM))
				return STEP_AGAIN;
			p->state = PS_ARG;
			return c == ' ' ? STEP_NEXT : STEP_AGAIN;
		}
		fail(p, IMAP_PERR_SYNTAX, c >= 0x80 ? "8-bit character in atom" :
			"Invalid character in atom");
		return STEP_AGAIN;

	case PS_QUOTED:
		if (c == '"') {
			if (!finish_string(p, IMAP_ARG_QUOTED))
				return STEP_AGAIN;
			p->state = PS_AFTER;
			p->after_paren = false;
			return STEP_NEXT;
		}
		if (c == '\\') {
			p->state = PS_QUOTED_ESC;
			return STEP_NEXT;
		}
		if (c == '\r' || c == '\n' || c == '\0') {
			fail(p, IMAP_PERR_SYNTAX, c == '\0' ? "NUL in quoted string" :
				"Unterminated quoted string");
			return STEP_AGAIN;
		}
		buf_putc(&p->tok, (char)c);
		return STEP_NEXT;

	case PS_QUOTED_ESC:
		if (c == '"' || c == '\\') {
			buf_putc(&p->tok, (char)c);
			p->state = PS_QUOTED;
			return STEP_NEXT;
		}
		fail(p, IMAP_PERR_SYNTAX, "Invalid escape in quoted string");
		return STEP_AGAIN;

	case PS_LIT_NUM:
		if (c >= '0' && c <= '9') {
			if (p->lit_size > (UINT64_C(0x7fffffffffffffff) - (c - '0')) / 10)
				p->lit_overflow = true;
			else
				p->lit_size = p->lit_size * 10 + (uint64_t)(c - '0');
			p->lit_digits++;
			return STEP_NEXT;
		}
		if (p->lit_digits > 0 && c == '+') {
			p->lit_plus = true;
			p->state = PS_LIT_PLUS;
			return STEP_NEXT;
		}
		if (p->lit_digits > 0 && c == '}') {
			p->state = PS_LIT_CLOSE;
			return STEP_NEXT;
		}
		fail(p, IMAP_PERR_SYNTAX, "Invalid literal size");
		return STEP_AGAIN;

	case PS_LIT_PLUS:
		if (c == '}') {
			p->state = PS_LIT_CLOSE;
			return STEP_NEXT;
		}
		fail(p, IMAP_PERR_SYNTAX, "Invalid literal size");
		return STEP_AGAIN;

	case PS_LIT_CLOSE:
		if (c == '\r') {
			p->state = PS_LIT_CR;
			return STEP_NEXT;
		}
		/* fall through */
	case PS_LIT_CR:
		if (c == '\n') {
			literal_announced(p);
			return p->state == PS_LIT_WAIT || p->state == PS_DONE ?
				STEP_EVENT : STEP_NEXT;
		}
		fail(p, IMAP_PERR_SYNTAX, "Missing CRLF after literal size");
		return STEP_AGAIN;

	case PS_AFTER:
		switch (c) {
		case ' ':
			p->state = PS_ARG;
			return STEP_NEXT;
		case ')':
			if (!close_list(p))
				return STEP_AGAIN;
			return STEP_NEXT;
		case '\r':
			p->state = PS_CR;
			return STEP_NEXT;
		case '\n':
			end_of_line(p);
			return p->state == PS_DONE ? STEP_EVENT : STEP_AGAIN;
		case ']':
			/* BODY[HEADER.FIELDS (...)] continues after the list */
			if (p->after_paren) {
				buf_reset(&p->tok);
				p->state = PS_ATOM;
				return STEP_AGAIN;
			}
			break;
		default:
			break;
		}
		fail(p, IMAP_PERR_SYNTAX, "Missing space between arguments");
		return STEP_AGAIN;

	case PS_CR:
		if (c == '\n') {
			end_of_line(p);
			return p->state == PS_DONE ? STEP_EVENT : STEP_AGAIN;
		}
		fail(p, IMAP_PERR_SYNTAX, "CR without LF");
		return STEP_AGAIN;

	case PS_SKIP:
		skip_byte(p, c);
		return p->state == PS_DONE ? STEP_EVENT : STEP_NEXT;

	case PS_LINE:
		if (c == '\n') {
			if (p->tok.len > 0 && p->tok.data[p->tok.len - 1] == '\r')
				buf_truncate(&p->tok, p->tok.len - 1);
			p->state = PS_DONE;
			p->event = IMAP_PARSE_LINE;
			return STEP_EVENT;
		}
		if (p->tok.len >= p->lim.max_line) {
			p->err = IMAP_PERR_SYNTAX;
			p->reason = "Line too long";
			p->state = PS_LINE_SKIP;
			return STEP_NEXT;
		}
		buf_putc(&p->tok, (char)c);
		return STEP_NEXT;

	case PS_LINE_SKIP:
		if (c == '\n') {
			finish_error(p);
			return STEP_EVENT;
		}
		return STEP_NEXT;

	case PS_LIT_WAIT:
	case PS_LIT_DATA:
	case PS_SKIP_DATA:
	case PS_REFUSED:
	case PS_DONE:
		break;
	}
	ms_panic("imap parser: byte in state %d", (int)p->state);

literal_start:
	p->lit_size = 0;
	p->lit_digits = 0;
	p->lit_plus = false;
	p->lit_overflow = false;
	p->state = PS_LIT_NUM;
	return STEP_NEXT;
}

enum imap_parse_result
imap_parser_feed(struct imap_parser *p, const void *data, size_t len,
	size_t *consumed_r)
{
	const unsigned char *s = data;
	size_t i = 0;
	bool recount = false;

	if (p->state == PS_DONE)
		start_command(p);
	if (p->state == PS_LIT_WAIT)
		literal_take(p);
	if (p->state == PS_REFUSED) {
		finish_error(p);
		*consumed_r = 0;
		return IMAP_PARSE_ERROR;
	}
	while (i < len) {
		int r;

		if (p->state == PS_LIT_DATA) {
			struct imap_arg *a = &p->levels[p->depth].v[p->lit_index];
			size_t take = len - i;

			if (take > p->lit_left)
				take = (size_t)p->lit_left;
			if (p->stream_fn != NULL)
				p->stream_fn(p->stream_ctx, s + i, take);
			else
				memcpy(a->u.str + (a->len - p->lit_left), s + i, take);
			if (memchr(s + i, '\0', take) != NULL)
				a->has_nul = true;
			p->lit_left -= take;
			i += take;
			if (p->lit_left == 0)
				p->state = PS_AFTER;
			continue;
		}
		if (p->state == PS_SKIP_DATA) {
			size_t take = len - i;

			if (take > p->skip_left)
				take = (size_t)p->skip_left;
			p->skip_left -= take;
			i += take;
			if (p->skip_left == 0) {
				p->state = PS_SKIP;
				p->sk_state = 0;
			}
			continue;
		}
		if (!recount && counts_toward_line(p->state) &&
		    ++p->linelen > p->lim.max_line) {
			fail(p, IMAP_PERR_SYNTAX, "Command line too long");
			recount = true;
			continue;
		}
		r = step(p, s[i]);
		if (r == STEP_AGAIN) {
			recount = true;
			continue;
		}
		recount = false;
		i++;
		if (r == STEP_EVENT) {
			*consumed_r = i;
			return p->event;
		}
	}
	*consumed_r = i;
	return IMAP_PARSE_MORE;
}

/* ---- accessors ---- */

const struct imap_command *
imap_parser_command(const struct imap_parser *p)
{
	return &p->cmd;
}

enum imap_parse_error
imap_parser_error(const struct imap_parser *p, const char **reason_r)
{
	*reason_r = p->reason != NULL ? p->reason : "Syntax error";
	return p->err;
}

uint64_t
imap_parser_literal_size(const struct imap_parser *p)
{
	return p->lit_size;
}

bool
imap_parser_literal_sync(const struct imap_parser *p)
{
	return !p->lit_plus;
}

bool
imap_parser_literal8(const struct imap_parser *p)
{
	return p->lit8;
}

unsigned
imap_parser_literal_depth(const struct imap_parser *p)
{
	return p->depth;
}

bool
imap_parser_literal_fits(const struct imap_parser *p)
{
	return literal_fits(p);
}

/* A synchronizing literal (or any, for a fatal refusal) ends the command
 * at once; a non-synchronizing one's data is skipped with the rest of the
 * command. */
static void
refuse(struct imap_parser *p, enum imap_parse_error kind, const char *reason)
{
	p->err = kind;
	p->reason = reason;
	p->stream_fn = NULL;
	if (!p->lit_plus || kind == IMAP_PERR_FATAL) {
		p->state = PS_REFUSED;
		return;
	}
	p->sk_state = 0;
	p->skip_left = p->lit_size;
	p->state = p->skip_left > 0 ? PS_SKIP_DATA : PS_SKIP;
}

void
imap_parser_literal_refuse(struct imap_parser *p, enum imap_parse_error kind,
	const char *reason)
{
	if (p->state != PS_LIT_WAIT)
		ms_panic("imap_parser_literal_refuse without a literal");
	p->cmd.args = NULL;
	p->cmd.nargs = 0;
	refuse(p, kind, reason);
}

void
imap_parser_literal_stream(struct imap_parser *p, imap_stream_fn *fn, void *ctx)
{
	if (p->state != PS_LIT_WAIT || fn == NULL)
		ms_panic("imap_parser_literal_stream without a literal");
	p->stream_fn = fn;
	p->stream_ctx = ctx;
}

bool
imap_parser_idle(const struct imap_parser *p)
{
	return p->state == PS_DONE || (p->state == PS_START && p->linelen == 0);
}

void
imap_parser_want_line(struct imap_parser *p)
{
	buf_reset(&p->tok);
	p->err = IMAP_PERR_NONE;
	p->reason = NULL;
	p->state = PS_LINE;
}

const char *
imap_parser_line(const struct imap_parser *p, size_t *len_r)
{
	*len_r = p->tok.len;
	return p->tok.data;
}

bool
imap_arg_atom(const struct imap_arg *a, const char **s_r)
{
	if (a == NULL || a->type != IMAP_ARG_ATOM)
		return false;
	*s_r = a->u.str;
	return true;
}

bool
imap_arg_atom_eq(const struct imap_arg *a, const char *word)
{
	return a != NULL && a->type == IMAP_ARG_ATOM && ms_strcaseeq(a->u.str, word);
}

bool
imap_arg_astring(const struct imap_arg *a, const char **s_r, size_t *len_r)
{
	if (a == NULL || a->type == IMAP_ARG_LIST || a->type == IMAP_ARG_STREAM ||
	    a->has_nul || a->literal8)
		return false;
	*s_r = a->u.str;
	if (len_r != NULL)
		*len_r = a->len;
	return true;
}

bool
imap_arg_string(const struct imap_arg *a, const char **s_r, size_t *len_r)
{
	if (a == NULL || a->has_nul || a->literal8 ||
	    (a->type != IMAP_ARG_QUOTED && a->type != IMAP_ARG_LITERAL))
		return false;
	*s_r = a->u.str;
	if (len_r != NULL)
		*len_r = a->len;
	return true;
}

bool
imap_arg_nstring(const struct imap_arg *a, const char **s_r, size_t *len_r)
{
	if (a != NULL && a->type == IMAP_ARG_NIL) {
		*s_r = NULL;
		if (len_r != NULL)
			*len_r = 0;
		return true;
	}
	return imap_arg_string(a, s_r, len_r);
}

bool
imap_arg_list(const struct imap_arg *a, const struct imap_arg **list_r, size_t *n_r)
{
	if (a == NULL || a->type != IMAP_ARG_LIST)
		return false;
	*list_r = a->u.list;
	*n_r = a->len;
	return true;
}

/* ---- copies that outlive the command ---- */

struct imap_arg *
imap_args_dup(const struct imap_arg *a, size_t n)
{
	struct imap_arg *d = xcalloc(n + 1, sizeof(*d));
	size_t i;

	for (i = 0; i < n; i++) {
		d[i] = a[i];
		if (a[i].type == IMAP_ARG_LIST) {
			d[i].u.list = imap_args_dup(a[i].u.list, a[i].len);
		} else {
			d[i].u.str = xmalloc(a[i].len + 1);
			memcpy(d[i].u.str, a[i].u.str, a[i].len);
			d[i].u.str[a[i].len] = '\0';
		}
	}
	return d;
}

void
imap_args_free(struct imap_arg *a, size_t n)
{
	size_t i;

	if (a == NULL)
		return;
	for (i = 0; i < n; i++) {
		if (a[i].type == IMAP_ARG_LIST)
			imap_args_free(a[i].u.list, a[i].len);
		else
			free(a[i].u.str);
	}
	free(a);
}
