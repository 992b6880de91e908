/* Tests of the webapi's request checking and message composition
 * (fcgi/webapi/webapi_req.c): JSON body and form field, unknown fields,
 * every field type with wrong values, NUL bytes and deep nesting refused;
 * RFC 3339 times; quoted-printable; and composed messages parsed back with
 * lib/mail's MIME parser. */
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
test_qp(void **state)
{
	struct buf b;
	char line[200];
	const char *p;
	size_t n;

	(void)state;
	buf_init(&b);
	wa_qp_encode(&b, "a=b \nc\td\t\n\xc3\xa9", 12);
	assert_string_equal(b.data, "a=3Db=20\r\nc\td=09\r\n=C3=A9");
	/* Long lines get soft breaks; no line over 76. */
	buf_reset(&b);
	memset(line, 'x', sizeof(line));
	line[150] = '=';
	wa_qp_encode(&b, line, sizeof(line));
	for (p = b.data; *p != '\0'; p += n + (p[n] != '\0' ? 2 : 0)) {
		const char *e = strstr(p, "\r\n");

		n = e != NULL ? (size_t)(e - p) : strlen(p);
		assert_true(n <= 76);
	}
	buf_free(&b);
}

/* The text of a part of a composed message, decoded. */
static void
part_text(const struct mime_part *p, const struct buf *msg, struct buf *out)
{
	buf_reset(out);
	mime_part_text(p, msg->data, msg->len, out);
}

static void
test_compose(void **state)
{
	struct wa_addr to[2] = { { "Zo\xc3\xab \"Z\" Doe", "z@example.com" },
		{ "", "b@example.com" } };
	const char *refs[] = { "<a@x>", "<b@x>" };
	const char *hdrs[][2] = { { "X-Campaign", "spring \xe2\x9c\x93" } };
	struct wa_file att = { "R\xc3\xa9sum\xc3\xa9.pdf", "application/pdf", "", { 0 } };
	struct wa_file inl = { "logo.png", "", "logo@x", { 0 } };
	struct mime_part *root;
	struct wa_msg m;
	struct buf out, t;

	(void)state;
	buf_init(&out);
	buf_init(&t);
	buf_init(&att.data);
	buf_init(&inl.data);
	buf_append(&att.data, "%PDF-1.4\0\xff", 10);
	buf_append(&inl.data, "\x89PNG\r\n\x1a\nxyz", 11);
	memset(&m, 0, sizeof(m));
	m.from.name = "Shop";
	m.from.addr = "shop@example.org";
	m.to = to;
	m.nto = 2;
	m.subject = "Gr\xc3\xbc\xc3\x9f" "e";
	m.date = 0;
	m.message_id = "<id1@example.org>";
	m.references = refs;
	m.nreferences = 2;
	m.headers = (const char *const (*)[2])hdrs;
	m.nheaders = 1;
	m.text = "Hallo\nWelt \xc3\xa9\n";
	m.html = "<p>Hallo</p>";
	m.inline_files = &inl;
	m.ninline = 1;
	m.attached_files = &att;
	m.nattached = 1;
	wa_compose(&out, &m);

	/* Header fields, ASCII only without SMTPUTF8. */
	assert_non_null(strstr(out.data, "From: Shop <shop@example.org>\r\n"));
	assert_non_null(strstr(out.data, "To: =?utf-8?b?"));
	assert_non_null(strstr(out.data, ",\r\n\t<b@example.com>\r\n"));
	assert_non_null(strstr(out.data, "Subject: =?utf-8?b?R3LDvMOfZQ==?=\r\n"));
	assert_non_null(strstr(out.data, "Date: Thu, 1 Jan 1970 00:00:00 +0000\r\n"));
	assert_non_null(strstr(out.data, "References: <a@x>\r\n\t<b@x>\r\nIn-Reply-To: <b@x>\r\n"));
	assert_non_null(strstr(out.data, "User-Agent: mailstead/"));
	{
		size_t hend = mime_header_end(out.data, out.len), i;

		for (i = 0; i < hend; i++)
			assert_true((unsigned char)out.data[i] < 0x80);
	}
	/* Every line ends in CRLF. */
	{
		size_t i;

		for (i = 0; i < out.len; i++)
			if (out.data[i] == '\n')
				assert_true(i > 0 && out.data[i - 1] == '\r');
	}

	/* The structure, parsed back. */
	root = mime_parse(out.data, out.len);
	assert_string_equal(root->subtype, "mixed");
	assert_int_equal(root->nparts, 2);
	assert_string_equal(root->parts[0].subtype, "related");
	assert_int_equal(root->parts[0].nparts, 2);
	assert_string_equal(root->parts[0].parts[0].subtype, "alternative");
	assert_string_equal(root->parts[0].parts[0].parts[0].subtype, "plain");
	assert_string_equal(root->parts[0].parts[0].parts[1].subtype, "html");
	part_text(&root->parts[0].parts[0].parts[0], &out, &t);
	assert_string_equal(t.data, "Hallo\r\nWelt \xc3\xa9\r\n");
	assert_string_equal(root->parts[0].parts[1].type, "image");
	assert_string_equal(root->parts[0].parts[1].subtype, "png");
	assert_string_equal(root->parts[0].parts[1].id, "<logo@x>");
	assert_string_equal(root->parts[0].parts[1].disposition, "inline");
	buf_reset(&t);
	assert_int_equal(mime_decode_body(&root->parts[1], out.data, out.len, &t), 0);
	assert_int_equal(t.len, 10);
	assert_memory_equal(t.data, "%PDF-1.4\0\xff", 10);
	assert_string_equal(root->parts[1].disposition, "attachment");
	assert_string_equal(root->parts[1].disp_params[0].value, "R\xc3\xa9sum\xc3\xa9.pdf");
	mime_free(&root);

	/* Only text: no multipart; with SMTPUTF8 the subject stays raw. */
	buf_reset(&out);
	m.html = "";
	m.ninline = m.nattached = 0;
	m.nheaders = 0;
	m.smtputf8 = true;
	wa_compose(&out, &m);
	assert_non_null(strstr(out.data, "Subject: Gr\xc3\xbc\xc3\x9f" "e\r\n"));
	assert_non_null(strstr(out.data, "To: \"Zo\xc3\xab \\\"Z\\\" Doe\" <z@example.com>"));
	assert_non_null(strstr(out.data, "Content-Type: text/plain; charset=utf-8\r\n"
		"Content-Transfer-Encoding: quoted-printable\r\n\r\nHallo\r\nWelt =C3=A9\r\n"));
	assert_null(strstr(out.data, "multipart"));

	buf_free(&att.data);
	buf_free(&inl.data);
	buf_free(&out);
	buf_free(&t);
}

static void
test_misc(void **state)
{
	(void)state;
	assert_true(wa_has_ctl("a\rb"));
	assert_true(wa_has_ctl("a\nb"));
	assert_true(wa_has_ctl("\x7f"));
	assert_false(wa_has_ctl("a\tb \xc3\xa9"));
	assert_string_equal(wa_sniff_type("\x89PNG\r\n\x1a\n", 8), "image/png");
	assert_string_equal(wa_sniff_type("%PDF-1.7", 8), "application/pdf");
	assert_string_equal(wa_sniff_type("hello\n", 6), "text/plain; charset=utf-8");
	assert_string_equal(wa_sniff_type("a\0b", 3), "application/octet-stream");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_qp),
		cmocka_unit_test(test_compose),
		cmocka_unit_test(test_misc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
