/* Tests of lib/web's parsers (web_parse.c): percent-decoding, request
 * targets with traversal attempts, query strings, cookies, Host headers,
 * FastCGI parameters, and the JSON API body with its parameter checks;
 * malformed input of each kind is refused, never guessed at. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/util.h"
#include "web/web.h"

static void
test_url_decode(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b);
	assert_int_equal(web_url_decode(&b, "a%20b+c", 7, true), 0);
	assert_string_equal(b.data, "a b c");
	buf_reset(&b);
	assert_int_equal(web_url_decode(&b, "a%20b+c", 7, false), 0);
	assert_string_equal(b.data, "a b+c");
	buf_reset(&b);
	assert_int_equal(web_url_decode(&b, "%C3%A9", 6, false), 0);
	assert_string_equal(b.data, "\xc3\xa9");
	/* Truncated and bad escapes, and an encoded NUL. */
	buf_reset(&b);
	assert_int_equal(web_url_decode(&b, "a%2", 3, false), -1);
	buf_reset(&b);
	assert_int_equal(web_url_decode(&b, "a%", 2, false), -1);
	buf_reset(&b);
	assert_int_equal(web_url_decode(&b, "%zz", 3, false), -1);
	buf_reset(&b);
	assert_int_equal(web_url_decode(&b, "a%00b", 5, false), -1);
	buf_free(&b);
}

static void
test_uri(void **state)
{
	static const char *const bad[] = {
		"", "x", "relative/path", "/a/../b", "/..", "/a/%2e%2e/b", "/a/./b", "/.",
		"/%2E%2e/etc/passwd", "/a%00b", "/a%0ab", "/a\\b", "/a%5cb", "/%",
	};
	struct web_request req;
	const char *error;
	size_t i;

	(void)state;
	web_request_init(&req);
	assert_int_equal(web_parse_uri(&req, "/admin/api/Login?x=1&y", &error), 0);
	assert_string_equal(req.path, "/admin/api/Login");
	assert_string_equal(req.query, "x=1&y");
	assert_int_equal(web_parse_uri(&req, "/a%20b/c.js", &error), 0);
	assert_string_equal(req.path, "/a b/c.js");
	assert_string_equal(req.query, "");
	/* Dots inside names are fine. */
	assert_int_equal(web_parse_uri(&req, "/..a/b../.c", &error), 0);
	for (i = 0; i < MS_NELEM(bad); i++) {
		error = NULL;
		assert_int_equal(web_parse_uri(&req, bad[i], &error), -1);
		assert_non_null(error);
	}
	web_request_free(&req);
}

static void
test_query(void **state)
{
	struct web_request req;
	const char *error;
	struct buf many;
	int i;

	(void)state;
	web_request_init(&req);
	assert_int_equal(web_parse_query(&req, "a=1&b=x%20y&c&&d=&e=p+q", &error), 0);
	assert_string_equal(web_arg(&req, "a"), "1");
	assert_string_equal(web_arg(&req, "b"), "x y");
	assert_string_equal(web_arg(&req, "c"), "");
	assert_string_equal(web_arg(&req, "d"), "");
	assert_string_equal(web_arg(&req, "e"), "p q");
	assert_null(web_arg(&req, "f"));
	assert_int_equal(web_parse_query(&req, "", &error), 0);
	assert_int_equal(req.nargs, 0);
	assert_int_equal(web_parse_query(&req, "a=%zz", &error), -1);
	assert_int_equal(web_parse_query(&req, "a%00=1", &error), -1);
	buf_init(&many);
	for (i = 0; i < WEB_MAX_ARGS + 1; i++)
		buf_printf(&many, "k%d=v&", i);
	assert_int_equal(web_parse_query(&req, many.data, &error), -1);
	buf_free(&many);
	web_request_free(&req);
}

static void
test_cookies(void **state)
{
	struct web_request req;
	const char *error;
	struct buf many;
	int i;

	(void)state;
	web_request_init(&req);
	assert_int_equal(web_parse_cookies(&req,
		" webaccountsession=abc ; other=\"q v\";novalue; =x;e=", &error), 0);
	assert_string_equal(web_cookie(&req, "webaccountsession"), "abc");
	assert_string_equal(web_cookie(&req, "other"), "q v");
	assert_string_equal(web_cookie(&req, "e"), "");
	assert_null(web_cookie(&req, "novalue"));
	assert_null(web_cookie(&req, ""));
	assert_int_equal(web_parse_cookies(&req, "", &error), 0);
	assert_int_equal(req.ncookies, 0);
	assert_int_equal(web_parse_cookies(&req, ";;;", &error), 0);
	buf_init(&many);
	for (i = 0; i < WEB_MAX_COOKIES + 1; i++)
		buf_printf(&many, "c%d=v; ", i);
	assert_int_equal(web_parse_cookies(&req, many.data, &error), -1);
	buf_free(&many);
	web_request_free(&req);
}

static void
test_host(void **state)
{
	struct web_request req;

	(void)state;
	web_request_init(&req);
	assert_string_equal(web_parse_host(&req, "Mail.Example.ORG:443"), "mail.example.org");
	assert_string_equal(web_parse_host(&req, "mail.example.org."), "mail.example.org");
	assert_string_equal(web_parse_host(&req, "[::1]:8080"), "[::1]");
	assert_string_equal(web_parse_host(&req, "127.0.0.1"), "127.0.0.1");
	assert_null(web_parse_host(&req, ""));
	assert_null(web_parse_host(&req, "a b"));
	assert_null(web_parse_host(&req, "host:port"));
	assert_null(web_parse_host(&req, "[nope]"));
	assert_null(web_parse_host(&req, "[::1"));
	assert_null(web_parse_host(&req, "[::1]x"));
	assert_null(web_parse_host(&req, "a/b"));
	assert_true(web_host_is_ip("127.0.0.1"));
	assert_true(web_host_is_ip("[2001:db8::1]"));
	assert_false(web_host_is_ip("2001:db8::1"));
	assert_false(web_host_is_ip("localhost"));
	assert_false(web_host_is_ip("1.2.3"));
	web_request_free(&req);
}

static void
test_cgi_params(void **state)
{
	const char *ok[] = {
		"REQUEST_METHOD=POST", "REQUEST_URI=/admin/api/Login?x", "HTTPS=on",
		"REMOTE_ADDR=192.0.2.1", "SERVER_ADDR=192.0.2.2", "HTTP_HOST=Mail.Example.org:443",
		"HTTP_X_MAILSTEAD_CSRF=tok", "HTTP_COOKIE=a=b", "CONTENT_TYPE=application/json",
		"CONTENT_LENGTH=12", "NOEQUALS", "=novalue", "HTTP_X_FORWARDED_PROTO=http",
	};
	struct web_request req;
	const char *error;

	(void)state;
	web_request_init(&req);
	assert_int_equal(web_parse_cgi_params(&req, ok, MS_NELEM(ok), false, &error), 0);
	assert_string_equal(req.method, "POST");
	assert_string_equal(req.uri, "/admin/api/Login?x");
	assert_true(req.https);
	assert_string_equal(req.remote_ip, "192.0.2.1");
	assert_string_equal(req.host, "mail.example.org");
	assert_string_equal(web_header(&req, "x-mailstead-csrf"), "tok");
	assert_string_equal(web_header(&req, "content-type"), "application/json");
	assert_string_equal(web_header(&req, "content-length"), "12");
	web_request_free(&req);

	/* A trusted proxy's X-Forwarded-Proto overrides HTTPS. */
	web_request_init(&req);
	assert_int_equal(web_parse_cgi_params(&req, ok, MS_NELEM(ok), true, &error), 0);
	assert_false(req.https);
	web_request_free(&req);

	{
		const char *nomethod[] = { "REQUEST_URI=/" };
		const char *lower[] = { "REQUEST_METHOD=get", "REQUEST_URI=/" };
		const char *nouri[] = { "REQUEST_METHOD=GET" };
		const char *badhost[] = { "REQUEST_METHOD=GET", "REQUEST_URI=/", "HTTP_HOST=a b" };

		web_request_init(&req);
		assert_int_equal(web_parse_cgi_params(&req, nomethod, 1, false, &error), -1);
		web_request_free(&req);
		web_request_init(&req);
		assert_int_equal(web_parse_cgi_params(&req, lower, 2, false, &error), -1);
		web_request_free(&req);
		web_request_init(&req);
		assert_int_equal(web_parse_cgi_params(&req, nouri, 1, false, &error), -1);
		web_request_free(&req);
		web_request_init(&req);
		assert_int_equal(web_parse_cgi_params(&req, badhost, 3, false, &error), -1);
		web_request_free(&req);
	}
	{
		/* More headers than WEB_MAX_HEADERS. */
		const char *many[WEB_MAX_HEADERS + 3];
		char names[WEB_MAX_HEADERS + 1][32];
		size_t i;

		many[0] = "REQUEST_METHOD=GET";
		many[1] = "REQUEST_URI=/";
		for (i = 0; i <= WEB_MAX_HEADERS; i++) {
			snprintf(names[i], sizeof(names[i]), "HTTP_X_H%zu=v", i);
			many[i + 2] = names[i];
		}
		web_request_init(&req);
		assert_int_equal(web_parse_cgi_params(&req, many, MS_NELEM(many), false, &error), -1);
		web_request_free(&req);
	}
}

static const struct web_param login_params[] = {
	{ "loginToken", WJ_STRING }, { "limit", WJ_INT }, { "flag", WJ_BOOL },
	{ "names", WJ_STRING_ARRAY },
};
static const struct web_api_method m_login = { "Test", login_params, 4, 0, NULL };

static int
api(const char *body, const char **code)
{
	struct json_object *root, **params;
	struct buf msg;
	int rc;

	buf_init(&msg);
	rc = web_api_parse(body, strlen(body), &m_login, &root, &params, code, &msg);
	if (rc == 0) {
		assert_string_equal(json_object_get_string(params[0]), "t");
		free(params);
		json_object_put(root);
	} else {
		assert_true(msg.len > 0);
	}
	buf_free(&msg);
	return rc;
}

static void
test_api_parse(void **state)
{
	const char *code;
	struct buf deep;
	int i;

	(void)state;
	assert_int_equal(api("{\"params\": [\"t\", 5, true, [\"a\", \"b\"]]}", &code), 0);
	assert_int_equal(api(" {\"params\":[\"t\",-5,false,[]],\"extra\":1}\n", &code), 0);
	/* Not JSON, not an object, trailing garbage. */
	assert_int_equal(api("", &code), -1);
	assert_string_equal(code, "user:badRequest");
	assert_int_equal(api("{\"params\": [", &code), -1);
	assert_string_equal(code, "user:badRequest");
	assert_int_equal(api("[1]", &code), -1);
	assert_int_equal(api("{\"params\": {}}", &code), -1);
	assert_int_equal(api("{\"params\": [\"t\", 5, true, []]} x", &code), -1);
	assert_string_equal(code, "user:badRequest");
	assert_int_equal(api("{'params': []}", &code), -1);
	assert_int_equal(api("{\"params\": [\"\xff\", 5, true, []]}", &code), -1);
	/* Wrong count and types. */
	assert_int_equal(api("{\"params\": [\"t\", 5, true]}", &code), -1);
	assert_string_equal(code, "user:badParams");
	assert_int_equal(api("{\"params\": [\"t\", \"5\", true, []]}", &code), -1);
	assert_string_equal(code, "user:badParams");
	assert_int_equal(api("{\"params\": [\"t\", 5.5, true, []]}", &code), -1);
	assert_int_equal(api("{\"params\": [\"t\", 5, 1, []]}", &code), -1);
	assert_int_equal(api("{\"params\": [\"t\", 5, true, [1]]}", &code), -1);
	assert_int_equal(api("{\"params\": [null, 5, true, []]}", &code), -1);
	assert_int_equal(api("{\"params\": [\"t\", 99999999999999999999999, true, []]}", &code), -1);
	/* Nesting beyond the limit. */
	buf_init(&deep);
	buf_puts(&deep, "{\"params\": [\"t\", 1, true, [], ");
	for (i = 0; i < 100; i++)
		buf_putc(&deep, '[');
	for (i = 0; i < 100; i++)
		buf_putc(&deep, ']');
	buf_puts(&deep, "]}");
	assert_int_equal(api(deep.data, &code), -1);
	buf_free(&deep);
}

static const struct web_param ids_params[] = { { "ids", WJ_INT_ARRAY } };
static const struct web_api_method m_ids = { "Ids", ids_params, 1, 0, NULL };

static int
api_ids(const char *body, const char **code, struct buf *msg)
{
	struct json_object *root, **params;
	int rc;

	buf_reset(msg);
	rc = web_api_parse(body, strlen(body), &m_ids, &root, &params, code, msg);
	if (rc == 0) {
		free(params);
		json_object_put(root);
	}
	return rc;
}

/* WJ_INT_ARRAY (admin queue ids): integers only, no fractions, strings,
 * nulls, nested arrays or values json-c would saturate. */
static void
test_api_parse_int_array(void **state)
{
	const char *code;
	struct buf msg;

	(void)state;
	buf_init(&msg);
	assert_int_equal(api_ids("{\"params\": [[1, 2, -3, 9223372036854775806]]}", &code, &msg), 0);
	assert_int_equal(api_ids("{\"params\": [[]]}", &code, &msg), 0);
	assert_int_equal(api_ids("{\"params\": [[1, 2.5]]}", &code, &msg), -1);
	assert_string_equal(code, "user:badParams");
	assert_non_null(strstr(msg.data, "parameter 1 (ids)"));
	assert_non_null(strstr(msg.data, "array of integers"));
	assert_int_equal(api_ids("{\"params\": [[\"1\"]]}", &code, &msg), -1);
	assert_int_equal(api_ids("{\"params\": [[null]]}", &code, &msg), -1);
	assert_int_equal(api_ids("{\"params\": [[[1]]]}", &code, &msg), -1);
	assert_int_equal(api_ids("{\"params\": [[true]]}", &code, &msg), -1);
	assert_int_equal(api_ids("{\"params\": [[99999999999999999999]]}", &code, &msg), -1);
	assert_int_equal(api_ids("{\"params\": [[-99999999999999999999]]}", &code, &msg), -1);
	assert_int_equal(api_ids("{\"params\": [1]}", &code, &msg), -1);
	assert_int_equal(api_ids("{\"params\": [{}]}", &code, &msg), -1);
	assert_string_equal(code, "user:badParams");
	buf_free(&msg);
}

static void
test_arena(void **state)
{
	struct web_request req;
	char *p;
	int i;

	(void)state;
	web_request_init(&req);
	for (i = 0; i < 1000; i++) {
		p = web_alloc(&req, (size_t)(i % 7 == 0 ? 5000 : 10));
		memset(p, 'x', (size_t)(i % 7 == 0 ? 5000 : 10));
	}
	assert_string_equal(web_strndup(&req, "abcdef", 3), "abc");
	web_request_free(&req);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_decode),
		cmocka_unit_test(test_uri),
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_cookies),
		cmocka_unit_test(test_host),
		cmocka_unit_test(test_cgi_params),
		cmocka_unit_test(test_api_parse),
		cmocka_unit_test(test_api_parse_int_array),
		cmocka_unit_test(test_arena),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
