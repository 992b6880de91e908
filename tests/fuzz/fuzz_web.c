/* Fuzz target for lib/web's request parsers (web_parse.c). The input is
 * split at NUL bytes into FastCGI parameters ("NAME=value"); the last
 * piece is also a JSON API body. The parsed request's target, query and
 * cookies are then parsed as web_handle does. Checks that what is accepted
 * holds the promised properties: paths start with "/" and have no dot
 * segments or control characters. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "web/web.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_web: check failed: %s (line %d)\n", #cond, __LINE__); \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static const struct web_param params[] = {
	{ "a", WJ_STRING }, { "b", WJ_INT }, { "c", WJ_STRING_ARRAY }, { "d", WJ_INT_ARRAY },
};
static const struct web_api_method method = { "Fuzz", params, 4, 0, NULL };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = xmalloc(size + 1), *p, *end;
	const char *envp[256], *error, *cookie, *last = "";
	struct json_object *root, **pv;
	struct web_request req;
	struct buf msg;
	size_t n = 0, i;
	const char *code;

	memcpy(copy, data, size);
	copy[size] = '\0';
	end = copy + size;
	for (p = copy; p <= end && n < MS_NELEM(envp);) {
		envp[n++] = p;
		last = p;
		p += strlen(p) + 1;
	}
	web_request_init(&req);
	if (web_parse_cgi_params(&req, envp, n, (size & 1) != 0, &error) == 0) {
		CHECK(req.method[0] != '\0');
		if (web_parse_uri(&req, req.uri, &error) == 0) {
			CHECK(req.path[0] == '/');
			CHECK(strstr(req.path, "/../") == NULL);
			CHECK(strstr(req.path, "/./") == NULL);
			for (i = 0; req.path[i] != '\0'; i++)
				CHECK((unsigned char)req.path[i] >= 0x20 && req.path[i] != 0x7f);
			(void)web_parse_query(&req, req.query, &error);
		}
		cookie = web_header(&req, "cookie");
		if (cookie != NULL && web_parse_cookies(&req, cookie, &error) == 0)
			for (i = 0; i < req.ncookies; i++)
				CHECK(req.cookies[i].name[0] != '\0');
		if (req.host[0] != '\0')
			CHECK(strchr(req.host, ' ') == NULL && strchr(req.host, '/') == NULL);
	}
	web_request_free(&req);
	buf_init(&msg);
	if (web_api_parse(last, strlen(last), &method, &root, &pv, &code, &msg) == 0) {
		CHECK(json_object_get_type(pv[0]) == json_type_string);
		CHECK(json_object_get_type(pv[1]) == json_type_int);
		CHECK(json_object_get_type(pv[3]) == json_type_array);
		for (i = 0; i < json_object_array_length(pv[3]); i++)
			CHECK(json_object_get_type(json_object_array_get_idx(pv[3], i)) ==
				json_type_int);
		free(pv);
		json_object_put(root);
	} else {
		CHECK(msg.len > 0);
	}
	buf_free(&msg);
	free(copy);
	return 0;
}
