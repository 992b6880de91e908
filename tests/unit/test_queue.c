/* Unit tests for the queue's pure parts (lib/queue/queue_extra.c):
 * X-Mailstead-Extra-* header fields (keys, values, errors, stripping),
 * suppression base addresses, and the FUTURERELEASE parameters. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/util.h"
#include "queue/queue.h"

static int
extract(const char *msg, struct queue_extra *e)
{
	const char *err = NULL;
	int r = queue_extract_extra(msg, strlen(msg), e, &err);

	if (r < 0) {
		assert_non_null(err);
		assert_int_equal(e->n, 0);
	}
	return r;
}

static const char *
value_of(const struct queue_extra *e, const char *key)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		if (strcmp(e->v[i].key, key) == 0)
			return e->v[i].value;
	return NULL;
}

static void
test_extra_keys_canonical(void **state)
{
	struct queue_extra e;
	const char *msg =
		"From: a@example.org\r\n"
		"X-Mailstead-Extra-order-id: 123\r\n"
		"x-mailstead-extra-CUSTOMER:Acme Corp  \r\n"
		"X-MAILSTEAD-EXTRA-a_b.c: v\r\n"
		"X-Mailstead-Extras: not ours\r\n"
		"Subject: hi\r\n"
		"\r\n"
		"X-Mailstead-Extra-In-Body: ignored\r\n";

	assert_int_equal(extract(msg, &e), 0);
	assert_int_equal(e.n, 3);
	/* Go's CanonicalMIMEHeaderKey of the whole name, prefix removed. */
	assert_string_equal(e.v[0].key, "Order-Id");
	assert_string_equal(e.v[0].value, "123");
	assert_string_equal(e.v[1].key, "Customer");
	assert_string_equal(e.v[1].value, "Acme Corp");
	assert_string_equal(e.v[2].key, "A_b.c");
	assert_string_equal(e.v[2].value, "v");
	assert_null(value_of(&e, "In-Body"));
	queue_extra_free(&e);
	assert_null(e.v);
}

static void
test_extra_folded_and_utf8(void **state)
{
	struct queue_extra e;
	const char *msg =
		"X-Mailstead-Extra-Note: first\r\n"
		"   second  \r\n"
		"\tthird\r\n"
		"X-Mailstead-Extra-Name: Ren\xc3\xa9\tM\xc3\xbcller\r\n"
		"X-Mailstead-Extra-Empty:\r\n"
		"\r\n";

	assert_int_equal(extract(msg, &e), 0);
	assert_int_equal(e.n, 3);
	assert_string_equal(value_of(&e, "Note"), "first second third");
	assert_string_equal(value_of(&e, "Name"), "Ren\xc3\xa9\tM\xc3\xbcller");
	assert_string_equal(value_of(&e, "Empty"), "");
	queue_extra_free(&e);

	/* LF-only line ends and a message without a body. */
	assert_int_equal(extract("X-Mailstead-Extra-K: v\nTo: x@y\n", &e), 0);
	assert_int_equal(e.n, 1);
	assert_string_equal(value_of(&e, "K"), "v");
	queue_extra_free(&e);

	assert_int_equal(extract("Subject: none here\r\n\r\nbody\r\n", &e), 0);
	assert_int_equal(e.n, 0);
	queue_extra_free(&e);
	assert_int_equal(extract("", &e), 0);
	assert_int_equal(e.n, 0);
}

static void
test_extra_errors(void **state)
{
	struct queue_extra e;
	static const char *const bad[] = {
		/* the same key twice, also in another case */
		"X-Mailstead-Extra-Id: 1\r\nX-Mailstead-Extra-Id: 2\r\n\r\n",
		"X-Mailstead-Extra-ID: 1\r\nx-mailstead-extra-id: 2\r\n\r\n",
		/* no key */
		"X-Mailstead-Extra-: v\r\n\r\n",
		/* not a token */
		"X-Mailstead-Extra-a/b: v\r\n\r\n",
		"X-Mailstead-Extra-a(b): v\r\n\r\n",
		"X-Mailstead-Extra-a@b: v\r\n\r\n",
		/* control characters, invalid UTF-8 */
		"X-Mailstead-Extra-K: a\x01 b\r\n\r\n",
		"X-Mailstead-Extra-K: a\x7f\r\n\r\n",
		"X-Mailstead-Extra-K: a\xff\r\n\r\n",
		"X-Mailstead-Extra-K: \xc3\r\n\r\n",
		"X-Mailstead-Extra-K: \xed\xa0\x80\r\n\r\n",	/* surrogate */
		"X-Mailstead-Extra-K: \xc0\xaf\r\n\r\n",	/* overlong */
		"X-Mailstead-Extra-K: a\rb\r\n\r\n",	/* bare CR inside */
	};
	size_t i;

	for (i = 0; i < MS_NELEM(bad); i++) {
		if (extract(bad[i], &e) != -1)
			fail_msg("accepted %s", bad[i]);
	}
}

static void
test_extra_every_truncation(void **state)
{
	/* Whatever prefix of a message arrives, parsing and stripping
	 * neither crash nor invent fields. */
	const char *msg =
		"X-Mailstead-Extra-A: 1\r\n"
		" folded\r\n"
		"Subject: s\r\n"
		"x-mailstead-extra-b: 2\r\n"
		"\r\n"
		"body\r\n";
	size_t n = strlen(msg), len;

	for (len = 0; len <= n; len++) {
		char *copy = xstrndup(msg, len);
		struct queue_extra e;
		struct buf out;
		const char *err;
		size_t removed;

		buf_init(&out);
		if (queue_extract_extra(copy, len, &e, &err) == 0) {
			assert_true(e.n <= 2);
			queue_extra_free(&e);
		}
		removed = queue_strip_extra(copy, len, &out);
		assert_true(removed <= 2);
		assert_true(out.len <= len);
		buf_free(&out);
		free(copy);
	}
}

static void
test_strip(void **state)
{
	const char *msg =
		"From: a@example.org\r\n"
		"X-Mailstead-Extra-A: 1\r\n"
		"  continued\r\n"
		"To: b@example.org\r\n"
		"x-mailstead-extra-b: 2\r\n"
		"X-Mailstead-Extras: kept\r\n"
		"\r\n"
		"X-Mailstead-Extra-C: body, kept\r\n";
	const char *want =
		"From: a@example.org\r\n"
		"To: b@example.org\r\n"
		"X-Mailstead-Extras: kept\r\n"
		"\r\n"
		"X-Mailstead-Extra-C: body, kept\r\n";
	struct buf out;

	buf_init(&out);
	assert_int_equal(queue_strip_extra(msg, strlen(msg), &out), 2);
	assert_string_equal(out.data, want);

	/* Nothing to remove: byte for byte the same. */
	buf_reset(&out);
	assert_int_equal(queue_strip_extra(want, strlen(want), &out), 0);
	assert_string_equal(out.data, want);

	/* The last header field without a line end, LF-only lines. */
	buf_reset(&out);
	assert_int_equal(queue_strip_extra("A: 1\nX-Mailstead-Extra-Z: 9", 27, &out), 1);
	assert_string_equal(out.data, "A: 1\n");
	buf_free(&out);
}

static void
expect_base(const char *lp, const char *dom, const char *want)
{
	struct buf b;

	buf_init(&b);
	queue_base_address(&b, lp, dom);
	if (strcmp(b.data, want) != 0)
		fail_msg("base address of %s@%s: got %s, want %s", lp, dom, b.data, want);
	buf_free(&b);
}

static void
test_base_address(void **state)
{
	expect_base("John.Doe", "example.org", "johndoe@example.org");
	expect_base("John.Doe+news", "example.org", "johndoe@example.org");
	expect_base("john-doe+x", "example.org", "john@example.org");
	expect_base("a+b-c", "example.org", "a@example.org");
	expect_base("a-b+c", "example.org", "a@example.org");
	expect_base("...x.y...", "example.org", "xy@example.org");
	/* Unicode lower case (Go strings.ToLower). */
	expect_base("\xc3\x89lodie.Martin", "exemple.fr", "\xc3\xa9lodiemartin@exemple.fr");
	expect_base("\xd0\x98\xd0\x92\xd0\x90\xd0\x9d", "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xbc\xd0\xb5\xd1\x80.\xd1\x80\xd1\x84",
		"\xd0\xb8\xd0\xb2\xd0\xb0\xd0\xbd@\xd0\xbf\xd1\x80\xd0\xb8\xd0\xbc\xd0\xb5\xd1\x80.\xd1\x80\xd1\x84");
	/* Quoted when no longer a dot-string. */
	expect_base("Mr Smith", "example.org", "\"mr smith\"@example.org");
	expect_base("+tag", "example.org", "\"\"@example.org");
	expect_base("Q\"x", "example.org", "\"q\\\"x\"@example.org");
	expect_base("user", "[192.0.2.1]", "user@[192.0.2.1]");
}

#define NOW 1700000000	/* 2023-11-14T22:13:20Z */

static void
test_holdfor(void **state)
{
	char req[64];
	const char *err;
	int64_t next;

	assert_int_equal(queue_parse_holdfor("60", NOW, &next, req, sizeof(req), &err), 0);
	assert_int_equal(next, NOW + 60);
	assert_string_equal(req, "for;60");
	assert_int_equal(queue_parse_holdfor("5184000", NOW, &next, req, sizeof(req), &err), 0);
	assert_int_equal(next, NOW + QUEUE_FUTURE_RELEASE_MAX);
	assert_int_equal(queue_parse_holdfor("5184001", NOW, &next, req, sizeof(req), &err), 1);
	assert_int_equal(queue_parse_holdfor("999999999", NOW, &next, req, sizeof(req), &err), 1);
	assert_int_equal(queue_parse_holdfor("0", NOW, &next, req, sizeof(req), &err), -1);
	assert_int_equal(queue_parse_holdfor("060", NOW, &next, req, sizeof(req), &err), -1);
	assert_int_equal(queue_parse_holdfor("1234567890", NOW, &next, req, sizeof(req), &err), -1);
	assert_int_equal(queue_parse_holdfor("", NOW, &next, req, sizeof(req), &err), -1);
	assert_int_equal(queue_parse_holdfor("12a", NOW, &next, req, sizeof(req), &err), -1);
	assert_int_equal(queue_parse_holdfor("-5", NOW, &next, req, sizeof(req), &err), -1);
}

static void
test_holduntil(void **state)
{
	char req[64];
	const char *err;
	int64_t next;

	assert_int_equal(queue_parse_holduntil("2023-11-15T00:00:00Z", NOW, &next, req,
		sizeof(req), &err), 0);
	assert_int_equal(next, 1700006400);
	assert_string_equal(req, "until;2023-11-15T00:00:00Z");
	/* A fraction is later than the whole second: never release early. */
	assert_int_equal(queue_parse_holduntil("2023-11-14T22:13:20.25Z", NOW, &next, req,
		sizeof(req), &err), 0);
	assert_int_equal(next, NOW + 1);
	assert_int_equal(queue_parse_holduntil("2023-11-14T22:13:21.000Z", NOW, &next, req,
		sizeof(req), &err), 0);
	assert_int_equal(next, NOW + 1);
	/* Leap day; exactly 60 days ahead. */
	assert_int_equal(queue_parse_holduntil("2024-01-13T22:13:20Z", NOW, &next, req,
		sizeof(req), &err), 0);
	assert_int_equal(next, NOW + QUEUE_FUTURE_RELEASE_MAX);
	assert_int_equal(queue_parse_holduntil("2024-02-29T00:00:00Z", 1709000000, &next, req,
		sizeof(req), &err), 0);

	/* Out of range: past, now, too far. */
	assert_int_equal(queue_parse_holduntil("2023-11-14T22:13:20Z", NOW, &next, req,
		sizeof(req), &err), 1);
	assert_int_equal(queue_parse_holduntil("2020-01-01T00:00:00Z", NOW, &next, req,
		sizeof(req), &err), 1);
	assert_int_equal(queue_parse_holduntil("2024-01-13T22:13:21Z", NOW, &next, req,
		sizeof(req), &err), 1);
	assert_int_equal(queue_parse_holduntil("2024-01-13T22:13:20.1Z", NOW, &next, req,
		sizeof(req), &err), 1);

	/* Syntax. */
	static const char *const bad[] = {
		"", "2023-11-15", "2023-11-15T00:00:00", "2023-11-15T00:00:00z",
		"2023-11-15t00:00:00Z", "2023-11-15T00:00:00+00:00", "2023-11-15 00:00:00Z",
		"2023-13-01T00:00:00Z", "2023-02-29T00:00:00Z", "2023-11-31T00:00:00Z",
		"2023-11-15T24:00:00Z", "2023-11-15T00:60:00Z", "2023-11-15T00:00:60Z",
		"2023-11-15T00:00:00.Z", "2023-11-15T00:00:00ZZ", "20231-11-15T00:00:00Z",
		"2023-1-15T00:00:00Z", "2023-11-15T00:00:00.1234567890123456789012345678901234567890123456789Z",
	};
	size_t i;

	for (i = 0; i < MS_NELEM(bad); i++) {
		if (queue_parse_holduntil(bad[i], NOW, &next, req, sizeof(req), &err) != -1)
			fail_msg("accepted %s", bad[i]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_extra_keys_canonical),
		cmocka_unit_test(test_extra_folded_and_utf8),
		cmocka_unit_test(test_extra_errors),
		cmocka_unit_test(test_extra_every_truncation),
		cmocka_unit_test(test_strip),
		cmocka_unit_test(test_base_address),
		cmocka_unit_test(test_holdfor),
		cmocka_unit_test(test_holduntil),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
