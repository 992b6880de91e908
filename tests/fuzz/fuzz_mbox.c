/* Fuzz target for lib/mail/mbox: the input is read as an mbox file in one
 * piece and again in pieces of varying size (the import reads archives in
 * chunks); both must find the same messages, each within the size limit,
 * and writing the messages back as mbox and reading that must give them
 * again (LF line ends: the writer drops CR before LF). */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "mail/mbox.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "fuzz_mbox: check failed: %s (line %d)\n", #cond,  \
			        __LINE__);                                                 \
			abort();                                                           \
		}                                                                          \
	} while (0)

#define MAX_MSG 4096

struct seen {
	struct buf all;		/* messages, each followed by a NUL separator */
	size_t n;
};

static int
collect(void *ctx, const char *msg, size_t len, int64_t received, size_t number, bool too_large)
{
	struct seen *s = ctx;

	CHECK(len <= MAX_MSG);
	CHECK(!too_large || len == 0);
	CHECK(number == s->n + 1);
	CHECK(received >= 0);
	s->n++;
	buf_append(&s->all, too_large ? "!" : "", too_large ? 1 : 0);
	buf_append(&s->all, msg, len);
	buf_putc(&s->all, '\0');
	return 0;
}

static int
read_all(const char *p, size_t n, size_t step, struct seen *s)
{
	struct mbox_reader r;
	size_t off = 0;
	int rc = 0;

	buf_init(&s->all);
	s->n = 0;
	mbox_reader_init(&r, MAX_MSG);
	while (off < n && rc == 0) {
		size_t k = step == 0 || n - off < step ? n - off : step;

		rc = mbox_feed(&r, p + off, k, collect, s);
		off += k;
	}
	if (rc == 0)
		rc = mbox_finish(&r, collect, s);
	mbox_reader_free(&r);
	return rc;
}

/* Write each (not too large) message of s as mbox. */
static void
rewrite(const struct seen *s, struct buf *out)
{
	const char *p = s->all.data, *end = s->all.data + s->all.len;

	while (p < end) {
		size_t len = strlen(p);

		if (p[0] != '!')
			mbox_append(out, p, len, 0);
		p += len + 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct seen whole, pieces;
	int rc1, rc2;

	rc1 = read_all(in, size, 0, &whole);
	rc2 = read_all(in, size, 1 + (size % 7), &pieces);
	CHECK(rc1 == rc2);
	if (rc1 == 0) {
		CHECK(whole.n == pieces.n);
		CHECK(whole.all.len == pieces.all.len);
		CHECK(memcmp(whole.all.data, pieces.all.data, whole.all.len) == 0);
	}
	(void)mbox_from_date(in, size);
	buf_free(&pieces.all);
	if (rc1 == 0 && memchr(in, '\0', size) == NULL && memchr(in, '\r', size) == NULL) {
		struct buf out;
		struct seen again;
		size_t nlarge = 0;
		const char *p;

		for (p = whole.all.data; p < whole.all.data + whole.all.len; p += strlen(p) + 1)
			nlarge += p[0] == '!';
		buf_init(&out);
		rewrite(&whole, &out);
		CHECK(read_all(out.data, out.len, 0, &again) == 0);
		CHECK(again.n == whole.n - nlarge);
		buf_free(&again.all);
		buf_free(&out);
	}
	buf_free(&whole.all);
	return 0;
}
