/* Fuzz target for the webapi's request checking and message composition
 * (fcgi/webapi/webapi_req.c) and of lib/mail/compose.c. The first byte picks the content type, the
 * rest is the body, checked against Send's request fields. An accepted
 * request's strings without control characters (what Send lets through)
 * are composed into a message, which must have CRLF line ends only and
 * parse as MIME. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "mail/mime.h"
#include "webapi/webapi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_webapi: check failed: %s (line %d)\n", #cond, __LINE__); \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static const struct wa_field fields[] = {
	{ "To", WA_ADDRS }, { "Subject", WA_STR }, { "Text", WA_STR }, { "HTML", WA_STR },
	{ "Headers", WA_HEADERS }, { "AttachedFiles", WA_FILES }, { "Date", WA_TIME },
	{ "Extra", WA_STRMAP }, { "PartPath", WA_INTS }, { "References", WA_STRS },
	{ "MsgID", WA_INT }, { "SaveSent", WA_BOOL },
};

static const char *
clean(const char *s)
{
	return wa_has_ctl(s) ? "" : s;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const types[] = { "application/json",
		"application/x-www-form-urlencoded", NULL, "multipart/form-data", "text/plain" };
	struct json_object *root = NULL, *arr;
	struct mail_compose_addr to[4];
	const char *hdrs[4][2];
	struct mail_compose_file files[2];
	struct mail_compose_msg m;
	struct buf err, out;
	size_t i, n, nh = 0, nf = 0;
	int64_t t;

	if (size < 1)
		return 0;
	buf_init(&err);
	if (wa_request_parse(types[data[0] % MS_NELEM(types)], (const char *)data + 1, size - 1,
		    fields, MS_NELEM(fields), &root, &err) < 0) {
		CHECK(err.len > 0);
		buf_free(&err);
		return 0;
	}
	CHECK(json_object_is_type(root, json_type_object));
	memset(&m, 0, sizeof(m));
	m.from.name = "F";
	m.from.addr = "f@example.org";
	arr = wa_array(root, "To");
	n = arr != NULL ? json_object_array_length(arr) : 0;
	for (i = 0; i < n && i < 4; i++) {
		to[i].name = clean(wa_str(json_object_array_get_idx(arr, i), "Name"));
		to[i].addr = "t@example.org";
	}
	m.to = to;
	m.nto = i;
	m.subject = clean(wa_str(root, "Subject"));
	m.text = clean(wa_str(root, "Text"));
	m.html = clean(wa_str(root, "HTML"));
	if (m.text[0] == '\0' && m.html[0] == '\0')
		m.text = "x";
	m.date = wa_parse_time(wa_str(root, "Date"), &t) == 0 ? (time_t)t : 0;
	m.message_id = "<m@example.org>";
	arr = wa_array(root, "Headers");
	n = arr != NULL ? json_object_array_length(arr) : 0;
	for (i = 0; i < n && nh < 4; i++) {
		struct json_object *kv = json_object_array_get_idx(arr, i);
		const char *k = json_object_get_string(json_object_array_get_idx(kv, 0));
		const char *v = json_object_get_string(json_object_array_get_idx(kv, 1));
		const char *p;
		int ok = k[0] != '\0';

		for (p = k; *p != '\0'; p++)
			if (*p < 33 || *p > 126 || *p == ':')
				ok = 0;
		if (ok && !wa_has_ctl(v)) {
			hdrs[nh][0] = k;
			hdrs[nh][1] = v;
			nh++;
		}
	}
	m.headers = (const char *const (*)[2])hdrs;
	m.nheaders = nh;
	arr = wa_array(root, "AttachedFiles");
	n = arr != NULL ? json_object_array_length(arr) : 0;
	for (i = 0; i < n && nf < 2; i++) {
		struct json_object *f = json_object_array_get_idx(arr, i);
		const char *d = wa_str(f, "Data");

		buf_init(&files[nf].data);
		if (ms_base64_decode(&files[nf].data, d, strlen(d)) < 0) {
			buf_free(&files[nf].data);
			continue;
		}
		files[nf].name = clean(wa_str(f, "Name"));
		files[nf].content_type = "";
		files[nf].content_id = "";
		nf++;
	}
	m.attached_files = files;
	m.nattached = nf;
	m.smtputf8 = data[0] & 0x80;
	buf_init(&out);
	mail_compose(&out, &m);
	for (i = 0; i < out.len; i++) {
		if (out.data[i] == '\n')
			CHECK(i > 0 && out.data[i - 1] == '\r');
		if (out.data[i] == '\r')
			CHECK(i + 1 < out.len && out.data[i + 1] == '\n');
	}
	{
		struct mime_part *p = mime_parse(out.data, out.len);

		CHECK(nf == 0 || (strcmp(p->type, "multipart") == 0 && p->nparts == nf + 1));
		mime_free(&p);
	}
	for (i = 0; i < nf; i++)
		buf_free(&files[i].data);
	buf_free(&out);
	buf_free(&err);
	json_object_put(root);
	return 0;
}
