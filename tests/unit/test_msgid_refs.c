/* Unit tests for lib/mail/msgid_refs.c: the message ids a new message
 * refers to, for threading, from In-Reply-To and References, and the list
 * id of List-Id, including malformed fields. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "mail/msgid_refs.h"

/* The ids joined by " ", "" for none. */
static char *
refs(const char *irt, const char *references, size_t max)
{
	char **v;
	size_t i, n;
	struct buf out;

	n = mail_msgid_refs(irt, irt ? strlen(irt) : 0, references,
		references ? strlen(references) : 0, max, &v);
	buf_init(&out);
	buf_puts(&out, "");
	for (i = 0; i < n; i++)
		buf_printf(&out, "%s%s", i ? " " : "", v[i]);
	if (n == 0)
		assert_null(v);
	mail_msgid_refs_free(v, n);
	return buf_steal(&out);
}

#define CHECK(irt, r, max, want) do { \
	char *got_ = refs(irt, r, max); \
	assert_string_equal(got_, want); \
	free(got_); \
} while (0)

static void
test_order(void **state)
{
	(void)state;
	CHECK("<P@x>", "<a@x> <b@x> <P@x>", 50, "p@x b@x a@x");
	CHECK(NULL, "<a@x>\r\n <b@x>", 50, "b@x a@x");
	CHECK("<p@x> <q@x>", NULL, 50, "p@x");
	CHECK("Reply from \"x\" <p@x> (comment)", "<a@x>", 50, "p@x a@x");
	CHECK("<p@x>", "<a@x> <b@x> <c@x>", 2, "p@x c@x");
	CHECK("<p@x>", "<a@x>", 0, "");
}

static void
test_malformed(void **state)
{
	char *big;

	(void)state;
	CHECK(NULL, NULL, 50, "");
	CHECK("", "", 50, "");
	CHECK("p@x", "a@x b@x", 50, "");
	CHECK("<>", "<> <a@x", 50, "");
	CHECK("<<p@x>", "<a<b@x> >c@x< <d@x>", 50, "p@x d@x b@x");
	CHECK(">>><<<", "<<<>>>", 50, "");
	CHECK("<a@x>", "<A@X> <a@x> <b@x> <b@x>", 50, "a@x b@x");
	big = malloc(2000);
	memset(big, 'a', 1999);
	big[0] = '<';
	big[1998] = '>';
	big[1999] = '\0';
	CHECK(big, "<ok@x>", 50, "ok@x");
	free(big);
}

static void
test_list_id(void **state)
{
	static const struct {
		const char *in, *want;	/* want NULL: none */
	} cases[] = {
		{ "Go News <go.lists.example>", "go.lists.example" },
		{ "<Go.Lists.EXAMPLE>  \t", "go.lists.example" },
		{ "\"a <b>\" <c.example>", "c.example" },
		{ "<lists.example", NULL },
		{ "lists.example", NULL },
		{ "<>", NULL },
		{ "", NULL },
		{ "<a..b>", NULL },
		{ "<a b.example>", NULL },
		{ "<-x.example>", NULL },
		{ ">", NULL },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf out;
		bool ok;

		buf_init(&out);
		buf_puts(&out, "x:");
		ok = mail_list_id_parse(cases[i].in, strlen(cases[i].in), &out);
		if (cases[i].want == NULL) {
			assert_false(ok);
			assert_string_equal(out.data, "x:");
		} else {
			assert_true(ok);
			assert_string_equal(out.data + 2, cases[i].want);
		}
		buf_free(&out);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_list_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
