/* Unit tests for the IMAP command parser (daemons/imapd/imap_parser.c), the
 * sequence sets (imap_seqset.c) and modified UTF-7 (imap_utf7.c). Every
 * parser input is fed in one piece, one byte at a time and in uneven pieces;
 * the event transcripts must be identical and match the expected one. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/util.h"
#include "imapd/imap_parser.h"
#include "imapd/imap_seqset.h"
#include "imapd/imap_utf7.h"

/* ---- a tiny "session" that records what the parser reports ---- */

struct run_opts {
	size_t max_line;
	uint64_t max_literal;
	unsigned max_args, max_depth;
	uint64_t refuse_above;	/* session refuses literals larger than this */
	bool line_after_command;	/* after a command, read one raw line */
	uint64_t max_stream;	/* parser limit: literals announced for streaming */
	bool stream;		/* stream literals of at least stream_min bytes */
	uint64_t stream_min;
	enum imap_parse_error refuse_kind;	/* 0: IMAP_PERR_TOOBIG */
	bool literal_info;	/* LIT lines show depth and arguments so far */
};

static const struct run_opts defaults = { 1024, 1 << 20, 10000, 32, 0, false, 0, false, 0,
	IMAP_PERR_NONE, false };

/* The data of streamed literals, by stream_id - 1, for the transcript. */
static struct buf streams[8];
static size_t nstreams;

static void
stream_collect(void *ctx, const void *data, size_t len)
{
	struct buf *b = ctx;

	assert_true(len > 0);
	buf_append(b, data, len);
}

static void
dump_str(struct buf *out, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c >= 0x7f || c == '\\')
			buf_printf(out, "\\x%02x", c);
		else
			buf_putc(out, (char)c);
	}
}

static void
dump_args(struct buf *out, const struct imap_arg *a, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		buf_putc(out, ' ');
		switch (a[i].type) {
		case IMAP_ARG_ATOM:
			buf_puts(out, "A(");
			break;
		case IMAP_ARG_QUOTED:
			buf_puts(out, "Q(");
			break;
		case IMAP_ARG_LITERAL:
			buf_puts(out, a[i].literal8 ? "L8(" : "L(");
			if (a[i].has_nul)
				buf_puts(out, "nul:");
			break;
		case IMAP_ARG_NIL:
			buf_puts(out, "NIL");
			continue;
		case IMAP_ARG_LIST:
			buf_puts(out, "(");
			dump_args(out, a[i].u.list, a[i].len);
			buf_puts(out, " )");
			continue;
		case IMAP_ARG_STREAM:
			/* S<id>(data as the stream function got it) */
			assert_string_equal(a[i].u.str, "");
			assert_true(a[i].stream_id >= 1 && a[i].stream_id <= nstreams);
			assert_int_equal(streams[a[i].stream_id - 1].len, a[i].len);
			buf_printf(out, "%s%u(", a[i].literal8 ? "S8-" : "S", a[i].stream_id);
			if (a[i].has_nul)
				buf_puts(out, "nul:");
			dump_str(out, streams[a[i].stream_id - 1].data, a[i].len);
			buf_putc(out, ')');
			continue;
		}
		dump_str(out, a[i].u.str, a[i].len);
		/* the string is NUL-terminated too */
		assert_int_equal(a[i].u.str[a[i].len], '\0');
		buf_putc(out, ')');
	}
}

static const char *
kind_name(enum imap_parse_error k)
{
	switch (k) {
	case IMAP_PERR_SYNTAX:
		return "BAD";
	case IMAP_PERR_TOOBIG:
		return "TOOBIG";
	case IMAP_PERR_FATAL:
		return "FATAL";
	case IMAP_PERR_REFUSED:
		return "REFUSED";
	default:
		return "NONE";
	}
}

/* Feed in[0..n) in pieces of chunk bytes (0: growing pieces 1,2,3,...),
 * returning the transcript (malloc'd). *conts_r counts continuation
 * requests the session would send. */
static char *
run_chunked(const char *in, size_t n, size_t chunk, const struct run_opts *o, int *conts_r)
{
	struct imap_parser_limits lim = { o->max_line, o->max_literal, o->max_depth,
		o->max_args, o->max_stream };
	struct imap_parser *p = imap_parser_new(&lim);
	struct buf out;
	size_t off = 0, piece = 1;
	int conts = 0, guard = 0;

	buf_init(&out);
	for (;;) {
		size_t len = chunk ? chunk : piece++, used = 0;
		enum imap_parse_result ev;
		const struct imap_command *cmd;
		const char *reason;

		if (len > n - off)
			len = n - off;
		ev = imap_parser_feed(p, in + off, len, &used);
		assert_true(used <= len);
		off += used;
		cmd = imap_parser_command(p);
		assert_true(++guard < 10000000);
		switch (ev) {
		case IMAP_PARSE_MORE:
			assert_int_equal(used, len);
			if (off >= n)
				goto done;
			break;
		case IMAP_PARSE_LITERAL:
			buf_printf(&out, "LIT %llu %s",
				(unsigned long long)imap_parser_literal_size(p),
				imap_parser_literal_sync(p) ? "sync" : "nonsync");
			if (o->literal_info) {
				/* the complete top-level arguments before it */
				buf_printf(&out, " depth=%u%s%s args:", imap_parser_literal_depth(p),
					imap_parser_literal8(p) ? " lit8" : "",
					imap_parser_literal_fits(p) ? "" : " nofit");
				dump_args(&out, cmd->args, cmd->nargs);
			}
			buf_putc(&out, '\n');
			if (o->refuse_above && imap_parser_literal_size(p) > o->refuse_above) {
				imap_parser_literal_refuse(p, o->refuse_kind ? o->refuse_kind :
					IMAP_PERR_TOOBIG, "refused");
				break;
			}
			if (o->stream && imap_parser_literal_size(p) >= o->stream_min) {
				assert_true(nstreams < MS_NELEM(streams));
				buf_reset(&streams[nstreams]);
				imap_parser_literal_stream(p, stream_collect, &streams[nstreams]);
				nstreams++;
			}
			if (imap_parser_literal_sync(p))
				conts++;
			break;
		case IMAP_PARSE_COMMAND:
			buf_printf(&out, "CMD %s %s", cmd->tag, cmd->name);
			dump_args(&out, cmd->args, cmd->nargs);
			buf_putc(&out, '\n');
			if (o->line_after_command)
				imap_parser_want_line(p);
			nstreams = 0;
			break;
		case IMAP_PARSE_LINE: {
			size_t ll;
			const char *line = imap_parser_line(p, &ll);

			buf_puts(&out, "LINE ");
			dump_str(&out, line, ll);
			buf_putc(&out, '\n');
			break;
		}
		case IMAP_PARSE_ERROR: {
			enum imap_parse_error k = imap_parser_error(p, &reason);

			buf_printf(&out, "ERR %s %s %s\n", cmd->tag ? cmd->tag : "*",
				kind_name(k), reason);
			nstreams = 0;
			if (k == IMAP_PERR_FATAL)
				goto done;
			break;
		}
		}
	}
done:
	imap_parser_free(&p);
	assert_null(p);
	*conts_r = conts;
	{
		char *t = buf_steal(&out);

		buf_free(&out);	/* buf_steal leaves a fresh buffer */
		return t;
	}
}

/* Run with every chunking; all must agree with expect. */
static void
check_opts(const char *in, size_t n, const struct run_opts *o, const char *expect,
	int expect_conts)
{
	static const size_t chunks[] = { 0, 1, 2, 3, 7, 64 };
	char *whole;
	int conts, c2;
	size_t i;

	whole = run_chunked(in, n, n ? n : 1, o, &conts);
	if (strcmp(whole, expect) != 0)
		fail_msg("one piece:\n got: %s\nwant: %s", whole, expect);
	assert_int_equal(conts, expect_conts);
	for (i = 0; i < MS_NELEM(chunks); i++) {
		char *t = run_chunked(in, n, chunks[i], o, &c2);

		if (strcmp(t, whole) != 0)
			fail_msg("chunk %zu:\n got: %s\nwant: %s", chunks[i], t, whole);
		assert_int_equal(c2, conts);
		free(t);
	}
	free(whole);
}

/* A string literal that may contain NUL bytes. */
#define CHECKL(lit, o, expect, conts) check_opts(lit, sizeof(lit) - 1, o, expect, conts)

static void
check(const char *in, const char *expect, int expect_conts)
{
	check_opts(in, strlen(in), &defaults, expect, expect_conts);
}

/* ---- argument forms ---- */

static void
test_simple(void **state)
{
	(void)state;
	check("a1 NOOP\r\n", "CMD a1 NOOP\n", 0);
	check("a1 noop\n", "CMD a1 noop\n", 0);	/* bare LF accepted */
	check("\r\n\r\nx CAPABILITY\r\n", "CMD x CAPABILITY\n", 0);
	check("t]1 NOOP\r\n", "CMD t]1 NOOP\n", 0);	/* "]" is a tag char */
	check("a NOOP\r\nb LOGOUT\r\n", "CMD a NOOP\nCMD b LOGOUT\n", 0);
}

static void
test_atoms_quoted_nil(void **state)
{
	(void)state;
	check("a LOGIN user \"pa ss\"\r\n", "CMD a LOGIN A(user) Q(pa ss)\n", 0);
	check("a LOGIN \"a\\\"b\\\\c\" \"\"\r\n",
		"CMD a LOGIN Q(a\"b\\x5cc) Q()\n", 0);
	check("a X NIL nil \"NIL\" NILS\r\n", "CMD a X NIL NIL Q(NIL) A(NILS)\n", 0);
	check("a LIST \"\" *\r\n", "CMD a LIST Q() A(*)\n", 0);
	check("a LIST \"\" %/x\r\n", "CMD a LIST Q() A(%/x)\n", 0);
	check("a STORE 1:*,3 +FLAGS (\\Seen $Junk)\r\n",
		"CMD a STORE A(1:*,3) A(+FLAGS) ( A(\\x5cSeen) A($Junk) )\n", 0);
	check("a SELECT ~backup\r\n", "CMD a SELECT A(~backup)\n", 0);
	/* extra spaces are tolerated */
	check("a X  b   c \r\n", "CMD a X A(b) A(c)\n", 0);
	/* UTF-8 inside quoted strings */
	check("a SELECT \"f\xc3\xa9\"\r\n", "CMD a SELECT Q(f\\xc3\\xa9)\n", 0);
}

static void
test_lists_and_body_sections(void **state)
{
	(void)state;
	check("a X ((a) ((b c)) ())\r\n",
		"CMD a X ( ( A(a) ) ( ( A(b) A(c) ) ) ( ) )\n", 0);
	check("t1 FETCH 1:5,7 (FLAGS BODY.PEEK[HEADER.FIELDS (From \"To\")]<0.100> UID)\r\n",
		"CMD t1 FETCH A(1:5,7) ( A(FLAGS) A(BODY.PEEK[HEADER.FIELDS) "
		"( A(From) Q(To) ) A(]<0.100>) A(UID) )\n", 0);
	check("a FETCH 1 BODY[]\r\n", "CMD a FETCH A(1) A(BODY[])\n", 0);
	check("a FETCH 1 (BODY[1.2.MIME] BODY[TEXT]<5.10>)\r\n",
		"CMD a FETCH A(1) ( A(BODY[1.2.MIME]) A(BODY[TEXT]<5.10>) )\n", 0);
}

static void
test_literals(void **state)
{
	(void)state;
	/* synchronizing: one continuation per literal */
	check("a LOGIN {4}\r\nuser {4}\r\npass\r\n",
		"LIT 4 sync\nLIT 4 sync\nCMD a LOGIN L(user) L(pass)\n", 2);
	/* non-synchronizing (LITERAL+): none */
	check("a LOGIN {4+}\r\nuser {4+}\r\npass\r\n",
		"LIT 4 nonsync\nLIT 4 nonsync\nCMD a LOGIN L(user) L(pass)\n", 0);
	/* literal data is opaque: CRLF, quotes, parens, NUL */
	CHECKL("a APPEND INBOX (\\Seen) {9}\r\n(\"x\r\n\0)}\r\r\n", &defaults,
		"LIT 9 sync\nCMD a APPEND A(INBOX) ( A(\\x5cSeen) ) "
		"L(nul:(\"x\\x0d\\x0a\\x00)}\\x0d)\n", 1);
	check("a X {0}\r\n\r\n", "LIT 0 sync\nCMD a X L()\n", 1);
	check("a X {0+}\r\n {1+}\r\nz\r\n", "LIT 0 nonsync\nLIT 1 nonsync\nCMD a X L() L(z)\n", 0);
	/* literal inside a list, followed by more arguments */
	check("a X ({3+}\r\nabc def) g\r\n",
		"LIT 3 nonsync\nCMD a X ( L(abc) A(def) ) A(g)\n", 0);
	/* literal8 (RFC 3516) */
	check("a APPEND INBOX ~{3}\r\nabc\r\n", "LIT 3 sync\nCMD a APPEND A(INBOX) L8(abc)\n", 1);
}

static void
test_literal8_nul(void **state)
{
	(void)state;
	CHECKL("a APPEND INBOX ~{3}\r\na\0c\r\n", &defaults,
		"LIT 3 sync\nCMD a APPEND A(INBOX) L8(nul:a\\x00c)\n", 1);
}

static void
test_bad_literals(void **state)
{
	struct run_opts o = defaults;
	char *big;
	size_t n, len;

	(void)state;
	check("a LOGIN {abc}\r\nb NOOP\r\n",
		"ERR a BAD Invalid literal size\nCMD b NOOP\n", 0);
	check("a LOGIN {}\r\nb NOOP\r\n", "ERR a BAD Invalid literal size\nCMD b NOOP\n", 0);
	check("a LOGIN {5}x\r\nb NOOP\r\n",
		"ERR a BAD Missing CRLF after literal size\nCMD b NOOP\n", 0);
	check("a LOGIN {5} \r\nb NOOP\r\n",
		"ERR a BAD Missing CRLF after literal size\nCMD b NOOP\n", 0);
	check("a LOGIN {5}\rx\r\nb NOOP\r\n",
		"ERR a BAD Missing CRLF after literal size\nCMD b NOOP\n", 0);
	/* too large, synchronizing: refused before the client sends it */
	check("a LOGIN {99999999999}\r\nb NOOP\r\n", "ERR a TOOBIG Literal too large\nCMD b NOOP\n", 0);
	check("a LOGIN {99999999999999999999999}\r\nb NOOP\r\n",
		"ERR a TOOBIG Literal too large\nCMD b NOOP\n", 0);
	/* too large, non-synchronizing: its bytes are read and dropped */
	o.max_literal = 100;
	len = 150;
	big = xmalloc(1000);
	n = (size_t)snprintf(big, 1000, "a APPEND INBOX {%zu+}\r\n", len);
	memset(big + n, 'x', len);
	memcpy(big + n, "b LOGOUT\r\n", 10);	/* looks like a command */
	n += len;
	memcpy(big + n, " tail\r\nc NOOP\r\n", 15);
	n += 15;
	check_opts(big, n, &o, "ERR a TOOBIG Literal too large\nCMD c NOOP\n", 0);
	free(big);
	/* the sum of a command's literals is bounded too */
	CHECKL("a X {60+}\r\n012345678901234567890123456789012345678901234567890123456789"
		" {60+}\r\n012345678901234567890123456789012345678901234567890123456789\r\n"
		"b NOOP\r\n", &o,
		"LIT 60 nonsync\nERR a TOOBIG Literal too large\nCMD b NOOP\n", 0);
	/* size beyond number64 on a non-synchronizing literal: cannot skip */
	check("a X {99999999999999999999+}\r\nb NOOP\r\n",
		"ERR a FATAL Literal size out of range\n", 0);
}

/* Streamed literals (imap_parser_literal_stream): the caller gets the bytes,
 * the argument only the size; max_stream lets literals above max_literal be
 * announced for that. */
static void
test_literal_stream(void **state)
{
	struct run_opts o = defaults;

	(void)state;
	o.max_literal = 10;
	o.max_stream = 1000;
	o.stream = true;
	o.stream_min = 3;
	/* above max_literal, streamed: announced, continuation, data to the
	 * stream function */
	CHECKL("a APPEND INBOX {20}\r\n01234567890123456789\r\nb NOOP\r\n", &o,
		"LIT 20 sync\nCMD a APPEND A(INBOX) S1(01234567890123456789)\nCMD b NOOP\n", 1);
	/* several, mixed with an in-memory one; literal8 with NUL inside a
	 * list (RFC 6855 "UTF8 (~{n})"); streams do not count toward
	 * max_literal (20 + 12 > 10) */
	CHECKL("a APPEND INBOX (\\Seen) {2}\r\nab {12+}\r\n0123456789ab"
		" UTF8 (~{4}\r\nx\0yz) {20+}\r\n()()()()()()()()()()\r\n", &o,
		"LIT 2 sync\nLIT 12 nonsync\nLIT 4 sync\nLIT 20 nonsync\n"
		"CMD a APPEND A(INBOX) ( A(\\x5cSeen) ) L(ab) S1(0123456789ab) A(UTF8) "
		"( S8-2(nul:x\\x00yz) ) S3(()()()()()()()()()())\n", 2);
	/* an empty streamed literal */
	o.stream_min = 0;
	CHECKL("a APPEND INBOX {0}\r\n\r\n", &o, "LIT 0 sync\nCMD a APPEND A(INBOX) S1()\n", 1);
	o.stream_min = 3;
	/* above max_stream: refused by the parser as before */
	CHECKL("a APPEND INBOX {2000}\r\nb NOOP\r\n", &o,
		"ERR a TOOBIG Literal too large\nCMD b NOOP\n", 0);
	/* whether a literal would fit in memory, for the caller's decision:
	 * itself, or with the command's other literals (streamed ones do not
	 * count) */
	o.literal_info = true;
	o.stream_min = 10;
	CHECKL("a X {20+}\r\n01234567890123456789 {6+}\r\nabcdef {4+}\r\nabcd\r\n", &o,
		"LIT 20 nonsync depth=0 nofit args:\n"
		"LIT 6 nonsync depth=0 args: S1(01234567890123456789)\n"
		"LIT 4 nonsync depth=0 args: S1(01234567890123456789) L(abcdef)\n"
		"CMD a X S1(01234567890123456789) L(abcdef) L(abcd)\n", 0);
	o.stream = false;
	CHECKL("a X {6+}\r\nabcdef {6+}\r\nabcdef\r\nb NOOP\r\n", &o,
		"LIT 6 nonsync depth=0 args:\nLIT 6 nonsync depth=0 nofit args: L(abcdef)\n"
		"ERR a TOOBIG Literal too large\nCMD b NOOP\n", 0);
	o.literal_info = false;
	/* announced above max_literal but not streamed: the parser refuses
	 * it (a non-synchronizing one is skipped) */
	CHECKL("a X {20+}\r\n01234567890123456789\r\nb NOOP\r\n", &o,
		"LIT 20 nonsync\nERR a TOOBIG Literal too large\nCMD b NOOP\n", 0);
	CHECKL("a X {20}\r\nb NOOP\r\n", &o,
		"LIT 20 sync\nERR a TOOBIG Literal too large\nCMD b NOOP\n", 1);
	/* a streamed literal followed by a syntax error: the command is
	 * answered BAD like any other */
	o.stream = true;
	CHECKL("a APPEND INBOX {4+}\r\nabcd )\r\nb NOOP\r\n", &o,
		"LIT 4 nonsync\nERR a BAD Unexpected )\nCMD b NOOP\n", 0);
}

/* At IMAP_PARSE_LITERAL the caller sees the arguments before the literal
 * and its depth, to tell a message from a mailbox name. */
static void
test_literal_info(void **state)
{
	struct run_opts o = defaults;

	(void)state;
	o.literal_info = true;
	CHECKL("a APPEND {5+}\r\nINBOX (\\Seen) \"d\" ~{1+}\r\nx UTF8 ({1+}\r\ny)\r\n", &o,
		"LIT 5 nonsync depth=0 args:\n"
		"LIT 1 nonsync depth=0 lit8 args: L(INBOX) ( A(\\x5cSeen) ) Q(d)\n"
		"LIT 1 nonsync depth=1 args: L(INBOX) ( A(\\x5cSeen) ) Q(d) L8(x) A(UTF8)\n"
		"CMD a APPEND L(INBOX) ( A(\\x5cSeen) ) Q(d) L8(x) A(UTF8) ( L(y) )\n", 0);
}

static void
test_session_refuses_literal(void **state)
{
	struct run_opts o = defaults;

	(void)state;
	o.refuse_above = 3;
	/* synchronizing: no continuation, command ends at once */
	CHECKL("a LOGIN {10}\r\nb NOOP\r\n", &o,
		"LIT 10 sync\nERR a TOOBIG refused\nCMD b NOOP\n", 0);
	/* non-synchronizing: data skipped with the rest of the command */
	CHECKL("a LOGIN {10+}\r\nc LOGOUT\r\n x\r\nb NOOP\r\n", &o,
		"LIT 10 nonsync\nERR a TOOBIG refused\nCMD b NOOP\n", 0);
	/* small ones still pass */
	CHECKL("a LOGIN {2}\r\nab {10}\r\n", &o,
		"LIT 2 sync\nLIT 10 sync\nERR a TOOBIG refused\n", 1);
	/* the session's own answer (IMAP_PERR_REFUSED), both kinds */
	o.refuse_kind = IMAP_PERR_REFUSED;
	CHECKL("a APPEND X {10}\r\nb NOOP\r\n", &o,
		"LIT 10 sync\nERR a REFUSED refused\nCMD b NOOP\n", 0);
	CHECKL("a APPEND X {10+}\r\n0123456789\r\nb NOOP\r\n", &o,
		"LIT 10 nonsync\nERR a REFUSED refused\nCMD b NOOP\n", 0);
	/* fatal: ends at once, even a non-synchronizing literal is not read */
	o.refuse_kind = IMAP_PERR_FATAL;
	CHECKL("a APPEND X {10+}\r\n0123456789\r\nb NOOP\r\n", &o,
		"LIT 10 nonsync\nERR a FATAL refused\n", 0);
	/* A refused literal costs no memory: the parser's own limit is far
	 * above what could be allocated (2^50), the session's is small; the
	 * buffer would only be made once the data is wanted. */
	o.refuse_kind = 0;
	o.max_literal = UINT64_C(1) << 50;
	o.refuse_above = 100;
	CHECKL("a LOGIN {1125899906842624}\r\nb NOOP\r\n", &o,
		"LIT 1125899906842624 sync\nERR a TOOBIG refused\nCMD b NOOP\n", 0);
	CHECKL("a LOGIN {1125899906842624+}\r\n", &o,
		"LIT 1125899906842624 nonsync\n", 0);
}

static void
test_syntax_errors_resync(void **state)
{
	(void)state;
	check("a FETCH 1 (FLAGS\r\nb NOOP\r\n", "ERR a BAD Unbalanced parentheses\nCMD b NOOP\n", 0);
	check("a FETCH 1 FLAGS)\r\nb NOOP\r\n", "ERR a BAD Unexpected )\nCMD b NOOP\n", 0);
	check("a X \"abc\r\nb NOOP\r\n", "ERR a BAD Unterminated quoted string\nCMD b NOOP\n", 0);
	check("a X \"a\\b\"\r\nb NOOP\r\n",
		"ERR a BAD Invalid escape in quoted string\nCMD b NOOP\n", 0);
	check("a X \"a\"b\r\nb NOOP\r\n", "ERR a BAD Missing space between arguments\nCMD b NOOP\n", 0);
	check("a X \"a\"]\r\nb NOOP\r\n", "ERR a BAD Missing space between arguments\nCMD b NOOP\n", 0);
	check("a X ab\"c\r\nb NOOP\r\n", "ERR a BAD Invalid character in atom\nCMD b NOOP\n", 0);
	check("a X ab{3}\r\nb NOOP\r\n", "ERR a BAD Invalid character in atom\nCMD b NOOP\n", 0);
	check("a NOOP\rb\r\nb NOOP\r\n", "ERR a BAD CR without LF\nCMD b NOOP\n", 0);
	/* no tag: "* BAD" */
	check(" NOOP\r\nb NOOP\r\n", "ERR * BAD Invalid tag\nCMD b NOOP\n", 0);
	check("+ NOOP\r\nb NOOP\r\n", "ERR * BAD Invalid tag\nCMD b NOOP\n", 0);
	check("a*b NOOP\r\nb NOOP\r\n", "ERR * BAD Invalid tag\nCMD b NOOP\n", 0);
	check("a\r\nb NOOP\r\n", "ERR a BAD Missing command\nCMD b NOOP\n", 0);
	check("a \r\nb NOOP\r\n", "ERR a BAD Missing command\nCMD b NOOP\n", 0);
	check("a N(OOP\r\nb NOOP\r\n", "ERR a BAD Invalid command name\nCMD b NOOP\n", 0);
	/* an error before a non-synchronizing literal: its data is skipped,
	 * even when it looks like a command */
	check("a X \x01 {10+}\r\nc LOGOUT\r\n\r\nb NOOP\r\n",
		"ERR a BAD Invalid character\nCMD b NOOP\n", 0);
	/* ... and before a synchronizing one the client waits: ends there */
	check("a X \x01 {10}\r\nb NOOP\r\n", "ERR a BAD Invalid character\nCMD b NOOP\n", 0);
	/* several literals in one broken command */
	check("a X ) {2+}\r\nzz {3+}\r\n\r\n\r\r\nb NOOP\r\n",
		"ERR a BAD Unexpected )\nCMD b NOOP\n", 0);
	/* unbalanced, found only at the end after a literal */
	check("a X ((( {10+}\r\nc LOGOUT\r\n\r\nb NOOP\r\n",
		"LIT 10 nonsync\nERR a BAD Unbalanced parentheses\nCMD b NOOP\n", 0);
}

static void
test_nul_and_8bit(void **state)
{
	(void)state;
	CHECKL("a NOOP\0\r\nb NOOP\r\n", &defaults,
		"ERR a BAD Invalid command name\nCMD b NOOP\n", 0);
	CHECKL("a X \"x\0y\"\r\nb NOOP\r\n", &defaults,
		"ERR a BAD NUL in quoted string\nCMD b NOOP\n", 0);
	CHECKL("a X x\0y\r\nb NOOP\r\n", &defaults,
		"ERR a BAD Invalid character in atom\nCMD b NOOP\n", 0);
	CHECKL("\0a NOOP\r\nb NOOP\r\n", &defaults,
		"ERR * BAD Invalid tag\nCMD b NOOP\n", 0);
	check("a SELECT f\xc3\xa9\r\nb NOOP\r\n", "ERR a BAD 8-bit character in atom\nCMD b NOOP\n", 0);
	check("a SELECT \xc3\xa9\r\nb NOOP\r\n",
		"ERR a BAD 8-bit character outside a string\nCMD b NOOP\n", 0);
	check("\xff NOOP\r\nb NOOP\r\n", "ERR * BAD Invalid tag\nCMD b NOOP\n", 0);
}

static void
test_limits(void **state)
{
	struct run_opts o = defaults;
	struct buf in, expect;
	int i;

	(void)state;
	/* overlong line: error, then the next command works */
	o.max_line = 64;
	buf_init(&in);
	buf_puts(&in, "a X ");
	for (i = 0; i < 100; i++)
		buf_puts(&in, "y");
	buf_puts(&in, "\r\nb NOOP\r\n");
	check_opts(in.data, in.len, &o, "ERR a BAD Command line too long\nCMD b NOOP\n", 0);
	/* literal data does not count toward the line, its header does */
	buf_reset(&in);
	buf_puts(&in, "a X {100+}\r\n");
	for (i = 0; i < 100; i++)
		buf_puts(&in, "z");
	buf_puts(&in, "\r\n");
	check_opts(in.data, in.len, &o, "LIT 100 nonsync\nCMD a X L("
		"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"
		"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz)\n", 0);
	/* an overlong line ending in a non-synchronizing literal */
	buf_reset(&in);
	buf_puts(&in, "a X ");
	for (i = 0; i < 100; i++)
		buf_puts(&in, "y");
	buf_puts(&in, " {10+}\r\nc LOGOUT\r\n\r\nb NOOP\r\n");
	check_opts(in.data, in.len, &o, "ERR a BAD Command line too long\nCMD b NOOP\n", 0);

	/* argument count */
	o = defaults;
	o.max_args = 10;
	CHECKL("a X 1 2 3 4 5 6 7 8 9 10\r\n", &o,
		"CMD a X A(1) A(2) A(3) A(4) A(5) A(6) A(7) A(8) A(9) A(10)\n", 0);
	CHECKL("a X 1 2 3 4 5 6 7 8 9 10 11\r\nb NOOP\r\n", &o,
		"ERR a BAD Too many arguments\nCMD b NOOP\n", 0);
	CHECKL("a X (1 2 3 4 5) (6 7 8 9)\r\nb NOOP\r\n", &o,
		"ERR a BAD Too many arguments\nCMD b NOOP\n", 0);

	/* nesting */
	o = defaults;
	o.max_depth = 3;
	CHECKL("a X (((x)))\r\n", &o, "CMD a X ( ( ( A(x) ) ) )\n", 0);
	CHECKL("a X ((((x))))\r\nb NOOP\r\n", &o,
		"ERR a BAD Lists nested too deeply\nCMD b NOOP\n", 0);
	o = defaults;
	buf_reset(&in);
	buf_init(&expect);
	buf_puts(&in, "a X ");
	for (i = 0; i < 40; i++)
		buf_putc(&in, '(');
	for (i = 0; i < 40; i++)
		buf_putc(&in, ')');
	buf_puts(&in, "\r\nb NOOP\r\n");
	check_opts(in.data, in.len, &o, "ERR a BAD Lists nested too deeply\nCMD b NOOP\n", 0);
	buf_free(&in);
	buf_free(&expect);
}

static void
test_line_mode(void **state)
{
	struct run_opts o = defaults;
	struct buf in;
	int i;

	(void)state;
	o.line_after_command = true;
	CHECKL("a AUTHENTICATE PLAIN\r\nAGZvbwBiYXI=\r\n", &o,
		"CMD a AUTHENTICATE A(PLAIN)\nLINE AGZvbwBiYXI=\n", 0);
	CHECKL("a IDLE\r\nDONE\nb NOOP\r\n", &o, "CMD a IDLE\nLINE DONE\nCMD b NOOP\n", 0);
	/* raw: no tokenizing in a line */
	CHECKL("a IDLE\r\n{5}\r\n", &o, "CMD a IDLE\nLINE {5}\n", 0);
	o.max_line = 64;
	buf_init(&in);
	buf_puts(&in, "a IDLE\r\n");
	for (i = 0; i < 100; i++)
		buf_putc(&in, 'q');
	buf_puts(&in, "\r\n");
	check_opts(in.data, in.len, &o, "CMD a IDLE\nERR a BAD Line too long\n", 0);
	buf_free(&in);
}

static void
test_accessors(void **state)
{
	struct imap_parser_limits lim = { 1024, 1024, 32, 100, 0 };
	struct imap_parser *p = imap_parser_new(&lim);
	static const char in[] = "a X atom \"q\" {3+}\r\nl\0t NIL (x) ~{2+}\r\nab\r\n";
	const struct imap_command *cmd;
	size_t used, off = 0, len;
	const char *s;
	const struct imap_arg *list;
	size_t n;
	enum imap_parse_result ev;

	(void)state;
	assert_true(imap_parser_idle(p));
	do {
		ev = imap_parser_feed(p, in + off, sizeof(in) - 1 - off, &used);
		off += used;
	} while (ev == IMAP_PARSE_LITERAL);
	assert_int_equal(ev, IMAP_PARSE_COMMAND);
	assert_int_equal(off, sizeof(in) - 1);
	assert_true(imap_parser_idle(p));
	cmd = imap_parser_command(p);
	assert_int_equal(cmd->nargs, 6);
	assert_true(imap_arg_atom(&cmd->args[0], &s));
	assert_string_equal(s, "atom");
	assert_true(imap_arg_atom_eq(&cmd->args[0], "ATOM"));
	assert_true(imap_arg_astring(&cmd->args[0], &s, &len));
	assert_false(imap_arg_string(&cmd->args[0], &s, &len));
	assert_true(imap_arg_string(&cmd->args[1], &s, &len));
	assert_string_equal(s, "q");
	/* a literal with NUL is not a usable string */
	assert_false(imap_arg_astring(&cmd->args[2], &s, &len));
	assert_false(imap_arg_string(&cmd->args[2], &s, &len));
	assert_true(imap_arg_nstring(&cmd->args[3], &s, &len));
	assert_null(s);
	assert_true(imap_arg_astring(&cmd->args[3], &s, &len));	/* NIL as astring */
	assert_string_equal(s, "NIL");
	assert_false(imap_arg_atom(&cmd->args[3], &s));
	assert_true(imap_arg_list(&cmd->args[4], &list, &n));
	assert_int_equal(n, 1);
	assert_false(imap_arg_list(&cmd->args[0], &list, &n));
	assert_false(imap_arg_atom(NULL, &s));
	/* literal8 is for APPEND data only (RFC 3516 4.3), not a string */
	assert_int_equal(cmd->args[5].type, IMAP_ARG_LITERAL);
	assert_true(cmd->args[5].literal8);
	assert_false(imap_arg_astring(&cmd->args[5], &s, &len));
	assert_false(imap_arg_string(&cmd->args[5], &s, &len));
	assert_false(imap_arg_nstring(&cmd->args[5], &s, &len));
	/* partial input: not idle */
	ev = imap_parser_feed(p, "b NO", 4, &used);
	assert_int_equal(ev, IMAP_PARSE_MORE);
	assert_false(imap_parser_idle(p));
	imap_parser_free(&p);
}

/* ---- sequence sets ---- */

static char *
idx_str(const uint32_t *v, size_t n)
{
	struct buf b;
	size_t i;

	buf_init(&b);
	for (i = 0; i < n; i++)
		buf_printf(&b, "%s%u", i ? "," : "", v[i]);
	{
		char *t = buf_steal(&b);

		buf_free(&b);
		return t;
	}
}

static void
seq_expect(const char *set, uint32_t count, int rc, const char *expect)
{
	struct imap_seqset s;
	const char *err;
	uint32_t *idx;
	size_t n;
	char *got;

	imap_seqset_init(&s);
	assert_int_equal(imap_seqset_parse(set, strlen(set), false, &s, &err), 0);
	assert_int_equal(imap_seqset_to_indexes(&s, count, &idx, &n), rc);
	if (rc == 0) {
		got = idx_str(idx, n);
		assert_string_equal(got, expect);
		free(got);
	}
	free(idx);
	imap_seqset_free(&s);
}

static void
test_seqset_parse(void **state)
{
	static const char *const bad[] = { "", "0", "1:", ":1", "1,,2", "1,", ",1", "a",
		"4294967296", "01", "1:0", "1:2:3", "1 2", "*:", "-1", "1.5", "$",
		"99999999999999999999" };
	struct imap_seqset s;
	const char *err;
	size_t i;

	(void)state;
	imap_seqset_init(&s);
	for (i = 0; i < MS_NELEM(bad); i++) {
		err = NULL;
		if (imap_seqset_parse(bad[i], strlen(bad[i]), false, &s, &err) == 0)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_non_null(err);
	}
	assert_int_equal(imap_seqset_parse("1:5,7,9:*", 9, false, &s, &err), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.r[2].lo, 9);
	assert_int_equal(s.r[2].hi, IMAP_SEQ_STAR);
	assert_true(imap_seqset_contains(&s, 4, 20));
	assert_false(imap_seqset_contains(&s, 6, 20));
	assert_true(imap_seqset_contains(&s, 20, 20));
	assert_false(imap_seqset_contains(&s, 21, 20));
	/* "9:*" with * = 3 is "3:9" */
	assert_true(imap_seqset_contains(&s, 8, 3));
	assert_int_equal(imap_seqset_parse("4294967295", 10, false, &s, &err), 0);
	assert_int_equal(s.r[0].lo, UINT32_MAX);
	assert_int_equal(imap_seqset_parse("$", 1, true, &s, &err), 0);
	assert_true(s.saved);
	assert_int_equal(imap_seqset_parse("*", 1, true, &s, &err), 0);
	assert_false(s.saved);
	imap_seqset_free(&s);
}

/* RFC 5182: "$" is an atom to the parser wherever a sequence set may be,
 * and only the sequence-set parser (with allow_saved) gives it meaning. */
static void
test_saved_result(void **state)
{
	static const char *const bad[] = { "$,1", "1,$", "$:3", "3:$", "$$", "$1", "$*", "*$",
		"$ ", " $", ",$", "$," };
	static const uint32_t uids[] = { 2, 4, 6, 8, 10 };
	struct imap_seqset s;
	const char *err;
	uint32_t *idx;
	size_t i, n;
	char *got;

	(void)state;
	check("a FETCH $ (FLAGS)\r\n", "CMD a FETCH A($) ( A(FLAGS) )\n", 0);
	check("a UID STORE $ +FLAGS.SILENT (\\Seen)\r\n",
		"CMD a UID A(STORE) A($) A(+FLAGS.SILENT) ( A(\\x5cSeen) )\n", 0);
	check("a UID SEARCH RETURN (SAVE MIN) UID $ NOT $\r\n",
		"CMD a UID A(SEARCH) A(RETURN) ( A(SAVE) A(MIN) ) A(UID) A($) A(NOT) A($)\n", 0);
	check("a MOVE $ \"Archive\"\r\nb UID EXPUNGE $\r\n",
		"CMD a MOVE A($) Q(Archive)\nCMD b UID A(EXPUNGE) A($)\n", 0);
	check("a ESEARCH IN (mailboxes (a b) subtree-one c) RETURN () $\r\n",
		"CMD a ESEARCH A(IN) ( A(mailboxes) ( A(a) A(b) ) A(subtree-one) A(c) ) "
		"A(RETURN) ( ) A($)\n", 0);
	/* "$" inside other atoms stays part of them */
	check("a FETCH $,1 X$\r\n", "CMD a FETCH A($,1) A(X$)\n", 0);

	imap_seqset_init(&s);
	assert_int_equal(imap_seqset_parse("$", 1, true, &s, &err), 0);
	assert_true(s.saved);
	assert_int_equal(s.n, 0);
	err = NULL;
	assert_int_equal(imap_seqset_parse("$", 1, false, &s, &err), -1);
	assert_non_null(err);
	for (i = 0; i < MS_NELEM(bad); i++) {
		err = NULL;
		if (imap_seqset_parse(bad[i], strlen(bad[i]), true, &s, &err) == 0)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_non_null(err);
		assert_false(s.saved);
	}
	/* a later ordinary set clears the flag */
	assert_int_equal(imap_seqset_parse("$", 1, true, &s, &err), 0);
	assert_int_equal(imap_seqset_parse("1:2", 3, true, &s, &err), 0);
	assert_false(s.saved);
	imap_seqset_free(&s);

	/* the saved UIDs against the view: gone ones drop out */
	{
		static const uint32_t saved[] = { 1, 4, 5, 10, 11 };

		imap_seqset_uidlist_to_indexes(saved, MS_NELEM(saved), uids, MS_NELEM(uids),
			&idx, &n);
		got = idx_str(idx, n);
		assert_string_equal(got, "1,4");
		free(got);
		free(idx);
	}
	imap_seqset_uidlist_to_indexes(uids, MS_NELEM(uids), uids, MS_NELEM(uids), &idx, &n);
	got = idx_str(idx, n);
	assert_string_equal(got, "0,1,2,3,4");
	free(got);
	free(idx);
	imap_seqset_uidlist_to_indexes(NULL, 0, uids, MS_NELEM(uids), &idx, &n);
	assert_null(idx);
	assert_int_equal(n, 0);
	imap_seqset_uidlist_to_indexes(uids, MS_NELEM(uids), NULL, 0, &idx, &n);
	assert_null(idx);
	assert_int_equal(n, 0);
}

static void
test_seqset_indexes(void **state)
{
	(void)state;
	seq_expect("1:5,7,9:*", 10, 0, "0,1,2,3,4,6,8,9");
	seq_expect("5:2", 10, 0, "1,2,3,4");	/* reversed range */
	seq_expect("3,1,2,3,2:3", 5, 0, "0,1,2");	/* sorted, unique */
	seq_expect("*", 4, 0, "3");
	seq_expect("*:2", 4, 0, "1,2,3");
	seq_expect("*", 0, -1, "");	/* "*" in an empty mailbox */
	seq_expect("1:*", 0, -1, "");
	seq_expect("5", 4, -1, "");
	seq_expect("*:5", 4, -1, "");
	seq_expect("1:4", 4, 0, "0,1,2,3");
}

static void
test_seqset_uids(void **state)
{
	static const uint32_t uids[] = { 3, 5, 9, 20 };
	static const struct {
		const char *set, *expect;
	} cases[] = {
		{ "4:10", "1,2" }, { "25:*", "3" }, { "*", "3" }, { "1:2", "" },
		{ "1:*", "0,1,2,3" }, { "20,3,5", "0,1,3" }, { "9:4", "1,2" },
		{ "21:4294967295", "" }, { "5:5,5", "1" },
	};
	struct imap_seqset s;
	const char *err;
	uint32_t *idx;
	size_t n, i;
	char *got;

	(void)state;
	imap_seqset_init(&s);
	for (i = 0; i < MS_NELEM(cases); i++) {
		assert_int_equal(imap_seqset_parse(cases[i].set, strlen(cases[i].set), false,
			&s, &err), 0);
		imap_seqset_uids_to_indexes(&s, uids, 4, &idx, &n);
		got = idx_str(idx, n);
		if (strcmp(got, cases[i].expect) != 0)
			fail_msg("%s: got %s want %s", cases[i].set, got, cases[i].expect);
		free(got);
		free(idx);
	}
	/* empty mailbox: nothing, no error */
	imap_seqset_uids_to_indexes(&s, uids, 0, &idx, &n);
	assert_int_equal(n, 0);
	assert_null(idx);
	imap_seqset_free(&s);
}

static void
test_seqset_resolve_format(void **state)
{
	static const uint32_t v1[] = { 1, 2, 3, 5, 7, 8 }, v2[] = { UINT32_MAX },
		v3[] = { 4294967294u, 4294967295u };
	struct imap_seqset s;
	struct imap_seqrange *r;
	const char *err;
	struct buf b;
	size_t n;

	(void)state;
	imap_seqset_init(&s);
	assert_int_equal(imap_seqset_parse("5:7,1:3,4,10,12:11", 18, false, &s, &err), 0);
	r = imap_seqset_resolve(&s, 100, &n);
	assert_int_equal(n, 2);
	assert_int_equal(r[0].lo, 1);
	assert_int_equal(r[0].hi, 7);
	assert_int_equal(r[1].lo, 10);
	assert_int_equal(r[1].hi, 12);
	free(r);
	assert_int_equal(imap_seqset_parse("4294967295,1:*", 14, false, &s, &err), 0);
	r = imap_seqset_resolve(&s, UINT32_MAX, &n);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].hi, UINT32_MAX);
	free(r);
	imap_seqset_free(&s);

	buf_init(&b);
	imap_seqset_format(&b, v1, 6);
	assert_string_equal(b.data, "1:3,5,7:8");
	buf_reset(&b);
	imap_seqset_format(&b, v1, 0);
	assert_string_equal(b.data, "");
	buf_reset(&b);
	imap_seqset_format(&b, v2, 1);
	assert_string_equal(b.data, "4294967295");
	buf_reset(&b);
	imap_seqset_format(&b, v3, 2);
	assert_string_equal(b.data, "4294967294:4294967295");
	/* format and parse round trip */
	assert_int_equal(imap_seqset_parse("1:3,5,7:8", 9, false, &s, &err), 0);
	assert_int_equal(s.n, 3);
	imap_seqset_free(&s);
	buf_free(&b);
}

/* ---- modified UTF-7 ---- */

static void
utf7_pair(const char *utf8, const char *utf7)
{
	struct buf b;

	buf_init(&b);
	imap_utf7_encode(&b, utf8, strlen(utf8));
	assert_string_equal(b.data, utf7);
	buf_reset(&b);
	assert_int_equal(imap_utf7_decode(&b, utf7, strlen(utf7)), 0);
	assert_string_equal(b.data, utf8);
	buf_free(&b);
}

static void
test_utf7(void **state)
{
	static const char *const bad[] = { "&Jjo!", "&AGE-", "&", "&U,", "&2D0A6Q-",
		"&2D0-", "&3AA-", "&3gE-", "&-&AA" };
	struct buf b;
	size_t i;

	(void)state;
	utf7_pair("INBOX", "INBOX");
	utf7_pair("Entw\xc3\xbc" "rfe", "Entw&APw-rfe");
	utf7_pair("a&b", "a&-b");
	utf7_pair("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "&ZeVnLIqe-");
	utf7_pair("~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
		"~peter/mail/&U,BTFw-/&ZeVnLIqe-");
	utf7_pair("\xf0\x9f\x93\xa7 mail", "&2D3c5w- mail");	/* surrogate pair */
	buf_init(&b);
	for (i = 0; i < MS_NELEM(bad); i++) {
		buf_reset(&b);
		if (imap_utf7_decode(&b, bad[i], strlen(bad[i])) == 0)
			fail_msg("accepted %s", bad[i]);
	}
	/* invalid UTF-8 is replaced, never passed through */
	buf_reset(&b);
	imap_utf7_encode(&b, "a\xff", 2);
	assert_string_equal(b.data, "a&,,0-");
	buf_free(&b);
}

/* Mailbox names must be well-formed UTF-8 before they reach the store. */
static void
test_utf8_valid(void **state)
{
	static const char *const good[] = { "", "INBOX", "Entw\xc3\xbc" "rfe",
		"\xe6\x97\xa5\xe6\x9c\xac", "\xf0\x9f\x93\xa7 mail",
		"\xef\xbf\xbd",		/* U+FFFD itself is fine */
		"\xf4\x8f\xbf\xbf" };	/* U+10FFFF */
	static const char *const bad[] = { "Inb\xe4x",	/* Latin-1 */
		"\xc0\xaf", "\xe0\x80\xaf",	/* overlong "/" */
		"\xed\xa0\x80",		/* surrogate U+D800 */
		"\xf4\x90\x80\x80",		/* past U+10FFFF */
		"\xc3", "a\xe6\x97",		/* truncated */
		"\x80", "\xff", "\xc3\x28" };
	size_t i;

	(void)state;
	for (i = 0; i < MS_NELEM(good); i++)
		if (!imap_utf8_valid(good[i], strlen(good[i])))
			fail_msg("refused good[%zu]", i);
	for (i = 0; i < MS_NELEM(bad); i++)
		if (imap_utf8_valid(bad[i], strlen(bad[i])))
			fail_msg("accepted bad[%zu]", i);
	/* the length counts, not a NUL: a sequence cut by n is truncated */
	assert_true(imap_utf8_valid("\xc3\xbc", 2));
	assert_false(imap_utf8_valid("\xc3\xbc", 1));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple),
		cmocka_unit_test(test_atoms_quoted_nil),
		cmocka_unit_test(test_lists_and_body_sections),
		cmocka_unit_test(test_literals),
		cmocka_unit_test(test_literal8_nul),
		cmocka_unit_test(test_bad_literals),
		cmocka_unit_test(test_session_refuses_literal),
		cmocka_unit_test(test_literal_stream),
		cmocka_unit_test(test_literal_info),
		cmocka_unit_test(test_syntax_errors_resync),
		cmocka_unit_test(test_nul_and_8bit),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_line_mode),
		cmocka_unit_test(test_accessors),
		cmocka_unit_test(test_seqset_parse),
		cmocka_unit_test(test_saved_result),
		cmocka_unit_test(test_seqset_indexes),
		cmocka_unit_test(test_seqset_uids),
		cmocka_unit_test(test_seqset_resolve_format),
		cmocka_unit_test(test_utf7),
		cmocka_unit_test(test_utf8_valid),
	};

	size_t i;
	int rc;

	for (i = 0; i < MS_NELEM(streams); i++)
		buf_init(&streams[i]);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	for (i = 0; i < MS_NELEM(streams); i++)
		buf_free(&streams[i]);
	return rc;
}
