/* Fuzz target for the queue's parsers (lib/queue/queue_extra.c): the
 * input is a message for X-Mailstead-Extra-* extraction and stripping, its
 * first line a HOLDFOR/HOLDUNTIL value and a suppression localpart. Checks
 * the properties queue_add and submission rely on. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/util.h"
#include "queue/queue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_queue: check failed: %s (line %d)\n", #cond,         \
			        __LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#define NOW 1700000000

static void
check_extra(const char *s, size_t n)
{
	struct queue_extra e, again;
	struct buf out;
	const char *err = NULL;
	size_t removed, i, j;
	int r;

	r = queue_extract_extra(s, n, &e, &err);
	buf_init(&out);
	removed = queue_strip_extra(s, n, &out);
	CHECK(out.len <= n);
	if (r == 0) {
		/* Every extra field parsed is a field stripped. */
		CHECK(removed == e.n);
		for (i = 0; i < e.n; i++) {
			const char *k = e.v[i].key, *v = e.v[i].value;

			CHECK(k[0] != '\0');
			/* Canonical: upper case first and after '-', else lower. */
			for (j = 0; k[j]; j++) {
				char want = j == 0 || k[j - 1] == '-' ? ms_toupper(k[j]) : ms_tolower(k[j]);

				CHECK(k[j] == want);
			}
			for (j = 0; v[j]; j++)
				CHECK((unsigned char)v[j] >= 0x20 || v[j] == '\t');
			for (j = 0; j < i; j++)
				CHECK(strcmp(e.v[j].key, k) != 0);
		}
		queue_extra_free(&e);
	} else {
		CHECK(r == -1 && err != NULL && e.n == 0);
	}
	/* Stripped, nothing is left to find. */
	CHECK(queue_extract_extra(out.data, out.len, &again, &err) == 0);
	CHECK(again.n == 0);
	queue_extra_free(&again);
	{
		struct buf twice;

		buf_init(&twice);
		CHECK(queue_strip_extra(out.data, out.len, &twice) == 0);
		CHECK(twice.len == out.len && memcmp(twice.data, out.data, out.len) == 0);
		buf_free(&twice);
	}
	buf_free(&out);
}

static void
check_line(const char *line)
{
	char req[64];
	const char *err;
	int64_t next = 0;
	struct buf b;
	int r;

	r = queue_parse_holdfor(line, NOW, &next, req, sizeof(req), &err);
	CHECK(r == -1 || r == 0 || r == 1);
	if (r == 0) {
		CHECK(next > NOW && next <= NOW + QUEUE_FUTURE_RELEASE_MAX);
		CHECK(strncmp(req, "for;", 4) == 0);
	}
	r = queue_parse_holduntil(line, NOW, &next, req, sizeof(req), &err);
	CHECK(r == -1 || r == 0 || r == 1);
	if (r == 0) {
		CHECK(next > NOW && next <= NOW + QUEUE_FUTURE_RELEASE_MAX);
		CHECK(strncmp(req, "until;", 6) == 0 && strcmp(req + 6, line) == 0);
	}
	buf_init(&b);
	queue_base_address(&b, line, "example.org");
	CHECK(b.len >= strlen("@example.org"));
	/* Cut at the first '+' or '-' (the domain has neither). */
	CHECK(strchr(b.data, '+') == NULL && strchr(b.data, '-') == NULL);
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	const char *nl = memchr(s, '\n', size);
	char *line;

	check_extra(s, size);
	line = xstrndup(s, nl ? (size_t)(nl - s) : size);
	if (strlen(line) > 0 && line[strlen(line) - 1] == '\r')
		line[strlen(line) - 1] = '\0';
	check_line(line);
	free(line);
	return 0;
}
