/* Unit tests for daemons/imapd/imap_sortkey.c (RFC 5256 base subject
 * extraction (2.1), sent dates (2.2)) and imap_thread.c (message-ID lists,
 * the ORDEREDSUBJECT and REFERENCES threading algorithms, sections 3, 4). */
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
#include "imapd/imap_sortkey.h"
#include "imapd/imap_thread.h"

/* ---- base subject ---- */

static void
check_base(const char *subject, const char *want, bool want_reply)
{
	struct buf b;
	bool reply = !want_reply;

	buf_init(&b);
	imap_sortkey_base_subject(subject, strlen(subject), &b, &reply);
	if (strcmp(b.data, want) != 0 || reply != want_reply)
		fail_msg("base subject of \"%s\": got \"%s\" reply=%d, want \"%s\" reply=%d",
			subject, b.data, reply, want, want_reply);
	buf_free(&b);
}

static void
test_base_subject_refwd(void **state)
{
	(void)state;
	check_base("Re: foo", "foo", true);
	check_base("RE: FOO", "FOO", true);
	check_base("re:foo", "foo", true);
	check_base("Fwd: foo", "foo", true);
	check_base("FW: foo", "foo", true);
	check_base("fw :foo", "foo", true);
	check_base("Re: Re: Fwd: RE: foo", "foo", true);
	/* subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":" */
	check_base("Re[2]: foo", "foo", true);
	check_base("Re [2] : foo", "foo", true);
	check_base("Fwd[list]: foo", "foo", true);
	/* Not a subj-refwd: the rest stays. */
	check_base("Ref: foo", "Ref: foo", false);
	check_base("Fwdx: foo", "Fwdx: foo", false);
	check_base("Re foo", "Re foo", false);
	check_base("Re: ", "", true);
	check_base("Re:", "", true);
	check_base("", "", false);
	check_base("foo Re: bar", "foo Re: bar", false);
}

static void
test_base_subject_blobs(void **state)
{
	(void)state;
	/* subj-leader = (*subj-blob subj-refwd) / WSP: blobs before a
	 * Re: go with it. */
	check_base("[PATCH] Re: foo", "foo", true);
	check_base("[a] [b] Re: [c] Fwd: foo", "foo", true);
	/* Step (4): a leading blob goes when something is left. */
	check_base("[list] foo", "foo", false);
	check_base("[list]foo", "foo", false);
	check_base("[a][b] foo", "foo", false);
	check_base("[list] Re: foo", "foo", true);
	/* ... but not when the blob is all there is. */
	check_base("[list]", "[list]", false);
	check_base("[a][b]", "[b]", false);
	check_base("Re: [list]", "[list]", true);
	check_base("[unclosed foo", "[unclosed foo", false);
	check_base("[a [b] foo", "[a [b] foo", false);
	check_base("foo [list]", "foo [list]", false);
}

static void
test_base_subject_fwd(void **state)
{
	(void)state;
	/* subj-trailer = "(fwd)" / WSP, repeatedly */
	check_base("foo (fwd)", "foo", true);
	check_base("foo (FWD) (fwd)  ", "foo", true);
	check_base("foo(fwd)", "foo", true);
	check_base("(fwd)", "", true);
	check_base("foo (fwd) bar", "foo (fwd) bar", false);
	/* Step (6): "[fwd:" subject "]", then again from step (2). */
	check_base("[fwd: foo]", "foo", true);
	check_base("[Fwd: Re: foo]", "foo", true);
	check_base("Re: [fwd: [list] foo]", "foo", true);
	check_base("[fwd: [fwd: foo (fwd)]]", "foo", true);
	check_base("[fwd: foo", "[fwd: foo", false);
	check_base("[fwd:]", "", true);
}

static void
test_base_subject_whitespace_and_words(void **state)
{
	(void)state;
	/* (1) tabs, continuations and runs of spaces */
	check_base("  foo \t  bar  ", "foo bar", false);
	check_base("foo\r\n bar\r\n\tbaz", "foo bar baz", false);
	check_base("Re:\tfoo", "foo", true);
	/* (1) RFC 2047 encoded-words are decoded first, so an encoded Re:
	 * counts. */
	check_base("=?utf-8?q?Re=3A_caf=C3=A9?=", "caf\xc3\xa9", true);
	check_base("=?iso-8859-1?q?R=E9sum=E9?= (fwd)", "R\xc3\xa9sum\xc3\xa9", true);
	check_base("=?utf-8?b?W2xpc3RdIGhlbGxv?=", "hello", false);
	check_base("Re: =?utf-8?q?a?= =?utf-8?q?b?=", "ab", true);
	/* Non-ASCII text in blobs and subjects is kept as UTF-8. */
	check_base("[\xc3\xa9t\xc3\xa9] Re: x", "x", true);
}

static void
test_casemap(void **state)
{
	char s[] = "abc XYZ_[]\xc3\xa9z";

	(void)state;
	imap_sortkey_casemap(s);
	assert_string_equal(s, "ABC XYZ_[]\xc3\xa9Z");
}

/* ---- dates ---- */

static void
check_date(const char *s, int64_t want)
{
	int64_t t = -12345;

	if (imap_sortkey_date(s, &t) != 0)
		fail_msg("date \"%s\" not parsed", s);
	if (t != want)
		fail_msg("date \"%s\": got %lld, want %lld", s, (long long)t, (long long)want);
}

static void
check_bad_date(const char *s)
{
	int64_t t = 0;

	if (imap_sortkey_date(s, &t) == 0)
		fail_msg("\"%s\" parsed as a date (%lld)", s, (long long)t);
}

static void
test_dates(void **state)
{
	(void)state;
	/* 2025-07-01 08:00:00 UTC = 1751356800 */
	check_date("Tue, 1 Jul 2025 10:00:00 +0200", 1751356800);
	check_date("Tue, 01 Jul 2025 08:00:00 +0000", 1751356800);
	check_date("1 Jul 2025 04:00:00 -0400", 1751356800);
	check_date("1 Jul 2025 08:00 GMT", 1751356800);
	check_date("  1 jul 2025 08:00:00 UT  ", 1751356800);
	check_date("Tue, 1 Jul 2025 04:00:00 EDT", 1751356800);
	check_date("Tue, 1 Jul 2025 01:00:00 PDT", 1751356800);
	check_date("Tue, 1 Jul 2025 08:00:00", 1751356800);	/* no zone: UTC */
	check_date("Tue, 1 Jul 2025 08:00:00 Z", 1751356800);
	check_date("Tue, 1 Jul 2025 08:00:00 Q", 1751356800);	/* military: -0000 */
	check_date("Tue, 1 Jul 25 08:00:00 +0000", 1751356800);	/* obs-year */
	check_date("Tue (day), 1 Jul (month) 2025 08(h):00:00 +0000 (UTC)", 1751356800);
	check_date("Tue,1 Jul 2025 08 : 00 : 00 +0000", 1751356800);
	check_date("1-Jul-2025 08:00:00 +0000", 1751356800);
	/* RFC 5322 appendix A.1.1 and A.5 */
	check_date("Fri, 21 Nov 1997 09:55:06 -0600", 880127706);
	check_date("Thu,\r\n      13\r\n        Feb\r\n          1969\r\n      23:32\r\n"
		"               -0330 (Newfoundland Time)", -27723480);
	check_date("21 Nov 97 09:55:06 GMT", 880106106);
	check_date("Sat, 29 Feb 2020 00:00:00 +0000", 1582934400);
	check_date("Fri, 31 Dec 1999 23:59:60 +0000", 946684800);

	check_bad_date("");
	check_bad_date("garbage");
	check_bad_date("Tue, 32 Jul 2025 08:00:00 +0000");
	check_bad_date("31 Feb 2020 10:00:00 +0000");
	check_bad_date("29 Feb 2021 10:00:00 +0000");
	check_bad_date("1 Foo 2025 08:00:00 +0000");
	check_bad_date("1 Jul 2025 24:00:00 +0000");
	check_bad_date("1 Jul 2025 08:60:00 +0000");
	check_bad_date("1 Jul 2025 08:00:61 +0000");
	check_bad_date("1 Jul 2025 08:00:00 +01");
	check_bad_date("1 Jul 2025");
	check_bad_date("1 Jul 2025 08");
	check_bad_date("1 Jul 1 08:00:00 +0000");
}

/* ---- message IDs ---- */

static void
check_ids(const char *s, size_t max, bool last, const char *want)
{
	char **ids = NULL;
	size_t n = imap_thread_msgids(s, strlen(s), max, last, &ids, 0), i;
	struct buf b;

	buf_init(&b);
	for (i = 0; i < n; i++)
		buf_printf(&b, "%s%s", i ? "|" : "", ids[i]);
	if (strcmp(b.data, want) != 0)
		fail_msg("message IDs of \"%s\": got \"%s\", want \"%s\"", s, b.data, want);
	imap_thread_msgids_free(ids, n);
	buf_free(&b);
}

static void
test_msgids(void **state)
{
	(void)state;
	check_ids("<a@b>", 10, false, "a@b");
	check_ids("<a@b> <c@d>\r\n <e@f>", 10, false, "a@b|c@d|e@f");
	check_ids("<a@b>,<c@d>", 10, false, "a@b|c@d");
	check_ids("foo <a@b> (comment <x@y> (nested)) <c@d>", 10, false, "a@b|c@d");
	check_ids("<nope> <a b@c> <> <x@y>", 10, false, "x@y");
	check_ids("<\"a b\"@c>", 10, false, "\"a b\"@c");
	check_ids("<a@b<c@d>", 10, false, "c@d");
	check_ids("<A@B> <a@b>", 10, false, "A@B|a@b");	/* case kept */
	check_ids("<1@x> <2@x> <3@x> <4@x>", 2, false, "1@x|2@x");
	check_ids("<1@x> <2@x> <3@x> <4@x>", 2, true, "3@x|4@x");
	check_ids("<1@x> <2@x>", 5, true, "1@x|2@x");
	check_ids("<1@x>", 0, true, "");
	check_ids("no ids here", 10, false, "");
	check_ids("<unterminated@x", 10, false, "");
}

/* ---- threading ---- */

#define MAXM 16

/* Messages for a test: subject (raw), date, Message-ID, references
 * (space-separated IDs). */
struct tmsg {
	const char *subject;
	int64_t date;
	const char *msgid;
	const char *refs;
};

struct built {
	struct imap_thread_msg m[MAXM];
	char *subj[MAXM];
	char **refs[MAXM];
};

static void
build(struct built *bt, const struct tmsg *in, size_t n)
{
	size_t i;

	assert_true(n <= MAXM);
	memset(bt, 0, sizeof(*bt));
	for (i = 0; i < n; i++) {
		struct buf b;

		buf_init(&b);
		imap_sortkey_base_subject(in[i].subject, strlen(in[i].subject), &b,
			&bt->m[i].reply);
		imap_sortkey_casemap(b.data);
		bt->subj[i] = buf_steal(&b);
		bt->m[i].id = (uint32_t)i + 1;
		bt->m[i].date = in[i].date;
		bt->m[i].subject = bt->subj[i];
		bt->m[i].msgid = in[i].msgid;
		if (in[i].refs != NULL)
			bt->m[i].nrefs = imap_thread_msgids(in[i].refs, strlen(in[i].refs), 100,
				true, &bt->refs[i], 0);
		bt->m[i].refs = bt->refs[i];
	}
}

static void
built_free(struct built *bt, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(bt->subj[i]);
		imap_thread_msgids_free(bt->refs[i], bt->m[i].nrefs);
	}
}

static void
check_refs(const struct tmsg *in, size_t n, const char *want)
{
	struct built bt;
	struct buf out;

	build(&bt, in, n);
	buf_init(&out);
	imap_thread_references(bt.m, n, &out);
	if (strcmp(out.data, want) != 0)
		fail_msg("REFERENCES: got \"%s\", want \"%s\"", out.data, want);
	buf_free(&out);
	built_free(&bt, n);
}

static void
check_ordered(const struct tmsg *in, size_t n, const char *want)
{
	struct built bt;
	struct buf out;

	build(&bt, in, n);
	buf_init(&out);
	imap_thread_orderedsubject(bt.m, n, &out);
	if (strcmp(out.data, want) != 0)
		fail_msg("ORDEREDSUBJECT: got \"%s\", want \"%s\"", out.data, want);
	buf_free(&out);
	built_free(&bt, n);
}

static void
test_references_links(void **state)
{
	(void)state;
	check_refs(NULL, 0, "");
	{
		const struct tmsg m[] = { { "one", 10, "a@x", NULL } };

		check_refs(m, 1, "(1)");
	}
	{
		/* A chain prints as one list. */
		const struct tmsg m[] = {
			{ "one", 10, "a@x", NULL },
			{ "Re: one", 20, "b@x", "<a@x>" },
			{ "Re: one", 30, "c@x", "<a@x> <b@x>" },
		};

		check_refs(m, 3, "(1 2 3)");
	}
	{
		/* Siblings are sorted by sent date, not mailbox order;
		 * In-Reply-To alone links too (the caller puts it in refs). */
		const struct tmsg m[] = {
			{ "one", 10, "a@x", NULL },
			{ "Re: one", 30, "b@x", "<a@x>" },
			{ "Re: one", 20, "c@x", "<a@x>" },
			{ "Re: one", 40, "d@x", "<a@x> <b@x>" },
		};

		check_refs(m, 4, "(1 (3)(2 4))");
	}
	{
		/* References give the parent of a message that arrives
		 * before it: the dummy becomes the message. */
		const struct tmsg m[] = {
			{ "Re: one", 20, "b@x", "<a@x>" },
			{ "one", 10, "a@x", NULL },
		};

		check_refs(m, 2, "(2 1)");
	}
	{
		/* Truncated References: c keeps its parent b. */
		const struct tmsg m[] = {
			{ "s", 10, "a@x", NULL },
			{ "s", 20, "b@x", "<a@x>" },
			{ "s", 30, "c@x", "<a@x> <b@x>" },
			{ "s", 40, "d@x", "<a@x> <c@x>" },
		};

		check_refs(m, 4, "(1 2 3 4)");
	}
	{
		/* A later message's References cannot move a message that
		 * has its parent from its own References (1)(B) already... but
		 * a message's own references replace a link made earlier. */
		const struct tmsg m[] = {
			{ "p", 10, "p@x", NULL },
			{ "q", 20, "q@x", NULL },
			{ "r", 30, "r@x", "<q@x>" },
			{ "s", 40, "s@x", "<p@x> <r@x>" },
		};

		check_refs(m, 4, "(1)(2 3 4)");
	}
	{
		/* Duplicate Message-ID: only the first message has it. */
		const struct tmsg m[] = {
			{ "a", 10, "a@x", NULL },
			{ "b", 20, "a@x", NULL },
			{ "c", 30, "c@x", "<a@x>" },
		};

		check_refs(m, 3, "(1 3)(2)");
	}
	{
		/* Message IDs compare case-sensitively. */
		const struct tmsg m[] = {
			{ "a", 10, "a@x", NULL },
			{ "b", 20, "b@x", "<A@x>" },
		};

		check_refs(m, 2, "(1)(2)");
	}
	{
		/* Loops are not created: a refers to b, b to a. */
		const struct tmsg m[] = {
			{ "a", 10, "a@x", "<b@x>" },
			{ "b", 20, "b@x", "<a@x>" },
		};

		check_refs(m, 2, "(2 1)");
	}
	{
		/* A message referring to itself. */
		const struct tmsg m[] = {
			{ "a", 10, "a@x", "<a@x> <a@x>" },
		};

		check_refs(m, 1, "(1)");
	}
}

static void
test_references_dummies(void **state)
{
	(void)state;
	{
		/* Two replies to a missing message: the dummy stays at the
		 * top, sorted by its first child. */
		const struct tmsg m[] = {
			{ "other", 50, "o@x", NULL },
			{ "Re: lost", 30, "b@x", "<gone@x>" },
			{ "Re: lost", 20, "c@x", "<gone@x>" },
		};

		check_refs(m, 3, "((3)(2))(1)");
	}
	{
		/* One reply to a missing message: the dummy goes. */
		const struct tmsg m[] = {
			{ "Re: lost", 30, "b@x", "<gone@x>" },
		};

		check_refs(m, 1, "(1)");
	}
	{
		/* A missing message in the middle of a chain: its child
		 * takes its place. */
		const struct tmsg m[] = {
			{ "top", 10, "a@x", NULL },
			{ "Re: top", 30, "c@x", "<a@x> <gone@x>" },
			{ "Re: top", 20, "d@x", "<a@x> <gone@x>" },
			{ "Re: top", 40, "e@x", "<a@x>" },
		};

		check_refs(m, 4, "(1 (3)(2)(4))");
	}
	{
		/* Dummies below dummies collapse. */
		const struct tmsg m[] = {
			{ "Re: x", 20, "b@x", "<g1@x> <g2@x>" },
			{ "Re: x", 10, "c@x", "<g1@x> <g3@x>" },
		};

		check_refs(m, 2, "((2)(1))");
	}
}

static void
test_references_subjects(void **state)
{
	(void)state;
	{
		/* A reply without references goes below the original. */
		const struct tmsg m[] = {
			{ "Hello", 10, "a@x", NULL },
			{ "Re: hello", 20, "b@x", NULL },
		};

		check_refs(m, 2, "(1 2)");
	}
	{
		/* The original is chosen even when the reply is older. */
		const struct tmsg m[] = {
			{ "Re: hello", 10, "b@x", NULL },
			{ "hello", 20, "a@x", NULL },
		};

		check_refs(m, 2, "(2 1)");
	}
	{
		/* Two messages that are no replies: siblings below a new
		 * dummy. */
		const struct tmsg m[] = {
			{ "hello", 10, "a@x", NULL },
			{ "[list] hello", 20, "b@x", NULL },
			{ "other", 15, "c@x", NULL },
		};

		check_refs(m, 3, "((1)(2))(3)");
	}
	{
		/* Two replies: a dummy as well. */
		const struct tmsg m[] = {
			{ "Re: hello", 10, "a@x", NULL },
			{ "Fwd: hello", 20, "b@x", NULL },
		};

		check_refs(m, 2, "((1)(2))");
	}
	{
		/* A dummy thread takes in a message with its subject. */
		const struct tmsg m[] = {
			{ "Re: lost", 30, "b@x", "<gone@x>" },
			{ "Re: lost", 40, "c@x", "<gone@x>" },
			{ "lost", 20, "d@x", NULL },
		};

		check_refs(m, 3, "((3)(1)(2))");
	}
	{
		/* Two dummy threads of one subject merge. */
		const struct tmsg m[] = {
			{ "Re: lost", 30, "b@x", "<gone1@x>" },
			{ "Re: lost", 40, "c@x", "<gone1@x>" },
			{ "Re: lost", 10, "d@x", "<gone2@x>" },
			{ "Re: lost", 50, "e@x", "<gone2@x>" },
		};

		check_refs(m, 4, "((3)(1)(2)(4))");
	}
	{
		/* Empty subjects are never gathered. */
		const struct tmsg m[] = {
			{ "", 10, "a@x", NULL },
			{ "Re:", 20, "b@x", NULL },
		};

		check_refs(m, 2, "(1)(2)");
	}
	{
		/* Only the top level merges: a reply deeper in a thread
		 * stays where its references put it. */
		const struct tmsg m[] = {
			{ "hello", 10, "a@x", NULL },
			{ "other", 5, "o@x", NULL },
			{ "Re: hello", 20, "b@x", "<o@x>" },
		};

		check_refs(m, 3, "(2 3)(1)");
	}
}

static void
test_references_dates(void **state)
{
	(void)state;
	{
		/* Equal dates keep mailbox order; top-level threads go by
		 * their first message. */
		const struct tmsg m[] = {
			{ "a", 50, "a@x", NULL },
			{ "b", 10, "b@x", NULL },
			{ "c", 10, "c@x", NULL },
			{ "Re: a", 5, "d@x", "<a@x>" },
		};

		check_refs(m, 4, "(2)(3)(1 4)");
	}
}

static void
test_orderedsubject(void **state)
{
	(void)state;
	check_ordered(NULL, 0, "");
	{
		const struct tmsg m[] = {
			{ "foo", 30, NULL, NULL },
			{ "Re: foo", 10, NULL, NULL },
			{ "bar", 20, NULL, NULL },
			{ "FOO", 40, NULL, NULL },
			{ "Re: bar", 25, NULL, NULL },
			{ "baz", 5, NULL, NULL },
			{ "[list] Fwd: foo", 35, NULL, NULL },
		};

		/* foo: 2 (10) is the parent of 1, 7, 4 by date; baz first. */
		check_ordered(m, 7, "(6)(2 (1)(7)(4))(3 5)");
	}
	{
		/* Equal dates: mailbox order; references are ignored. */
		const struct tmsg m[] = {
			{ "x", 10, "a@x", NULL },
			{ "y", 10, "b@x", "<a@x>" },
			{ "x", 10, "c@x", NULL },
		};

		check_ordered(m, 3, "(1 3)(2)");
	}
}

/* Deep threads print without recursion: a chain, and a comb in which
 * every message of a chain also has a leaf child (nested lists). */
static void
test_deep(void **state)
{
	enum { N = 60000 };
	struct imap_thread_msg *m = calloc(N, sizeof(*m));
	char **ids = calloc(N, sizeof(*ids));
	char ***refs = calloc(N, sizeof(*refs));
	struct buf out, want;
	size_t i;

	(void)state;
	assert_non_null(m);
	for (i = 0; i < N; i++) {
		ids[i] = xasprintf("%zu@x", i);
		m[i].id = (uint32_t)i + 1;
		m[i].date = (int64_t)i;
		m[i].subject = "";
		m[i].msgid = ids[i];
		if (i > 0) {
			refs[i] = calloc(1, sizeof(char *));
			refs[i][0] = ids[i - 1];
			m[i].refs = refs[i];
			m[i].nrefs = 1;
		}
	}
	buf_init(&out);
	buf_init(&want);
	imap_thread_references(m, N, &out);
	buf_putc(&want, '(');
	for (i = 0; i < N; i++)
		buf_printf(&want, i ? " %zu" : "%zu", i + 1);
	buf_putc(&want, ')');
	assert_string_equal(out.data, want.data);

	/* Comb: even messages form the chain, odd ones are leaves of the
	 * even message before them (dated later than its chain child). */
	for (i = 1; i < N; i++) {
		refs[i][0] = ids[i % 2 == 0 ? i - 2 : i - 1];
		m[i].date = i % 2 == 0 ? (int64_t)i : (int64_t)i + N;
	}
	buf_reset(&out);
	buf_reset(&want);
	imap_thread_references(m, N, &out);
	/* Chain message k (odd) has the children k+2 (earlier) and leaf
	 * k+1; the last chain message N-1 only its leaf N:
	 * "(1 (3 (5 ... (N-1 N)(N-2))...(4))(2))". */
	buf_puts(&want, "(1");
	for (i = 3; i < N; i += 2)
		buf_printf(&want, " (%zu", i);
	buf_printf(&want, " %d)", N);
	for (i = N - 3; i >= 1 && i < N; i -= 2)
		buf_printf(&want, "(%zu))", i + 1);
	assert_string_equal(out.data, want.data);
	buf_free(&out);
	buf_free(&want);
	for (i = 0; i < N; i++) {
		free(ids[i]);
		free(refs[i]);
	}
	free(refs);
	free(ids);
	free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base_subject_refwd),
		cmocka_unit_test(test_base_subject_blobs),
		cmocka_unit_test(test_base_subject_fwd),
		cmocka_unit_test(test_base_subject_whitespace_and_words),
		cmocka_unit_test(test_casemap),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_msgids),
		cmocka_unit_test(test_references_links),
		cmocka_unit_test(test_references_dummies),
		cmocka_unit_test(test_references_subjects),
		cmocka_unit_test(test_references_dates),
		cmocka_unit_test(test_orderedsubject),
		cmocka_unit_test(test_deep),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
