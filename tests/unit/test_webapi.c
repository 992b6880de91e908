/* Tests of the webapi's request checking (fcgi/webapi/webapi_req.c): JSON
 * body and form field, unknown fields, every field type with wrong values,
 * NUL bytes and deep nesting refused; RFC 3339 times. Composition is in
 * tests/unit/test_compose.c. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/util.h"
#include "mail/mime.h"
#include "webapi/webapi.h"

static const struct wa_field fields[] = {
	{ "S", WA_STR }, { "I", WA_INT }, { "B", WA_BOOL }, { "T", WA_TIME },
	{ "M", WA_STRMAP }, { "A", WA_ADDRS }, { "L", WA_STRS }, { "N", WA_INTS },
	{ "F", WA_FILES }, { "H", WA_HEADERS },
};

/* Parse body as content type ct; returns 0/-1 and leaves the error text
 * in err. */
static int
parse(const char *ct, const char *body, struct buf *err)
{
	struct json_object *root = NULL;
	int r;

	buf_reset(err);
	r = wa_request_parse(ct, body, strlen(body), fields, MS_NELEM(fields), &root, err);
	json_object_put(root);
	return r;
}

static void
test_request(void **state)
{
	struct json_object *root = NULL;
	struct buf err;
	const char *good = "{\"S\": \"x\", \"I\": 5, \"B\": true, \"T\": \"2024-01-02T03:04:05Z\","
		" \"M\": {\"k\": \"v\"}, \"A\": [{\"Name\": \"n\", \"Address\": \"a@b\"}],"
		" \"L\": [\"a\"], \"N\": [1, 2], \"F\": [{\"Data\": \"eA==\"}],"
		" \"H\": [[\"X-A\", \"b\"]]}";

	(void)state;
	buf_init(&err);
	assert_int_equal(parse("application/json", good, &err), 0);
	assert_int_equal(parse("application/json; charset=utf-8", good, &err), 0);
	/* No content type, or curl -d's form type, with a JSON body. */
	assert_int_equal(parse(NULL, good, &err), 0);
	assert_int_equal(parse("application/x-www-form-urlencoded", "  {\"S\": \"x\"}", &err), 0);
	/* The form field, percent-encoded, among others. */
	assert_int_equal(wa_request_parse("application/x-www-form-urlencoded",
		"a=1&request=%7B%22S%22%3A+%22x+y%22%7D&b=2",
		strlen("a=1&request=%7B%22S%22%3A+%22x+y%22%7D&b=2"), fields, MS_NELEM(fields), &root,
		&err), 0);
	assert_string_equal(wa_str(root, "S"), "x y");
	assert_false(wa_has(root, "I"));
	assert_int_equal(wa_int(root, "I"), 0);
	json_object_put(root);
	root = NULL;
	/* null is absent. */
	assert_int_equal(parse("application/json", "{\"S\": null, \"A\": null}", &err), 0);

	assert_int_equal(parse("application/x-www-form-urlencoded", "request=", &err), -1);
	assert_non_null(strstr(err.data, "missing/empty request"));
	assert_int_equal(parse("application/x-www-form-urlencoded", "request=%zz", &err), -1);
	assert_int_equal(parse("application/x-www-form-urlencoded", "request={}&request={}",
		&err), -1);
	assert_int_equal(parse("multipart/form-data; boundary=x", "--x", &err), -1);
	assert_non_null(strstr(err.data, "multipart/form-data"));
	assert_int_equal(parse("text/plain", "{}", &err), -1);
	assert_non_null(strstr(err.data, "unknown content-type"));

	/* Malformed JSON, trailing data, not an object, unknown fields. */
	assert_int_equal(parse("application/json", "", &err), -1);
	assert_int_equal(parse("application/json", "{", &err), -1);
	assert_non_null(strstr(err.data, "malformed JSON"));
	assert_int_equal(parse("application/json", "{\"S\": \"x\",}", &err), -1);
	assert_int_equal(parse("application/json", "{} x", &err), -1);
	assert_non_null(strstr(err.data, "malformed JSON"));
	assert_int_equal(parse("application/json", "{}{}", &err), -1);
	assert_int_equal(parse("application/json", "{\"S\": 'x'}", &err), -1);
	assert_int_equal(parse("application/json", "{} \r\n", &err), 0);
	assert_int_equal(parse("application/json", "[]", &err), -1);
	assert_int_equal(parse("application/json", "\"x\"", &err), -1);
	assert_int_equal(parse("application/json", "{\"Z\": 1}", &err), -1);
	assert_non_null(strstr(err.data, "unknown field \"Z\""));
	assert_int_equal(parse("application/json", "{\"Z\x01\": 1}", &err), -1);
	assert_null(strchr(err.data, '\x01'));

	/* Wrong types, one field at a time. */
	assert_int_equal(parse("application/json", "{\"S\": 1}", &err), -1);
	assert_non_null(strstr(err.data, "field \"S\" must be a string"));
	assert_int_equal(parse("application/json", "{\"S\": \"a\\u0000b\"}", &err), -1);
	assert_int_equal(parse("application/json", "{\"I\": 1.5}", &err), -1);
	assert_int_equal(parse("application/json", "{\"I\": \"1\"}", &err), -1);
	assert_int_equal(parse("application/json", "{\"B\": 1}", &err), -1);
	assert_int_equal(parse("application/json", "{\"T\": \"2024-01-02\"}", &err), -1);
	assert_int_equal(parse("application/json", "{\"M\": {\"k\": 1}}", &err), -1);
	assert_int_equal(parse("application/json", "{\"M\": []}", &err), -1);
	assert_int_equal(parse("application/json", "{\"A\": [\"a@b\"]}", &err), -1);
	assert_int_equal(parse("application/json", "{\"A\": [{\"Addr\": \"a@b\"}]}", &err), -1);
	assert_int_equal(parse("application/json", "{\"A\": {\"Address\": \"a@b\"}}", &err), -1);
	assert_int_equal(parse("application/json", "{\"L\": [1]}", &err), -1);
	assert_int_equal(parse("application/json", "{\"N\": [\"1\"]}", &err), -1);
	assert_int_equal(parse("application/json", "{\"F\": [{\"Data\": 1}]}", &err), -1);
	assert_int_equal(parse("application/json", "{\"H\": [[\"a\"]]}", &err), -1);
	assert_int_equal(parse("application/json", "{\"H\": [[\"a\", \"b\", \"c\"]]}", &err), -1);
	assert_int_equal(parse("application/json", "{\"H\": [[\"a\", 1]]}", &err), -1);
	/* Nesting beyond the limit. */
	{
		struct buf deep;
		int i;

		buf_init(&deep);
		buf_puts(&deep, "{\"L\": ");
		for (i = 0; i < 100; i++)
			buf_putc(&deep, '[');
		for (i = 0; i < 100; i++)
			buf_putc(&deep, ']');
		buf_putc(&deep, '}');
		assert_int_equal(parse("application/json", deep.data, &err), -1);
		buf_free(&deep);
	}
	buf_free(&err);
}

static void
test_time(void **state)
{
	int64_t t;

	(void)state;
	assert_int_equal(wa_parse_time("1970-01-01T00:00:00Z", &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(wa_parse_time("2024-02-29T12:30:15.123456Z", &t), 0);
	assert_int_equal(t, 1709209815);
	assert_int_equal(wa_parse_time("2024-02-29t14:30:15+02:00", &t), 0);
	assert_int_equal(t, 1709209815);
	assert_int_equal(wa_parse_time("2024-02-29T10:00:15-02:30", &t), 0);
	assert_int_equal(t, 1709209815);
	assert_int_equal(wa_parse_time("2024-02-30T00:00:00Z", &t), -1);
	assert_int_equal(wa_parse_time("2024-13-01T00:00:00Z", &t), -1);
	assert_int_equal(wa_parse_time("2024-01-01T24:00:00Z", &t), -1);
	assert_int_equal(wa_parse_time("2024-01-01 00:00:00Z", &t), -1);
	assert_int_equal(wa_parse_time("2024-01-01T00:00:00", &t), -1);
	assert_int_equal(wa_parse_time("2024-01-01T00:00:00.Z", &t), -1);
	assert_int_equal(wa_parse_time("2024-01-01T00:00:00+0200", &t), -1);
	assert_int_equal(wa_parse_time("2024-01-01T00:00:00Zjunk", &t), -1);
	assert_int_equal(wa_parse_time("", &t), -1);
}

static void
test_misc(void **state)
{
	(void)state;
	assert_true(wa_has_ctl("a\rb"));
	assert_true(wa_has_ctl("a\nb"));
	assert_true(wa_has_ctl("\x7f"));
	assert_false(wa_has_ctl("a\tb \xc3\xa9"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_misc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
