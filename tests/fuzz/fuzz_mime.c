/* Fuzz target for lib/mail/mime and header: parse the input as a message,
 * check the tree's invariants, round-trip it through JSON, build a
 * preview, look up every section and decode every body; then feed the
 * input to the JSON reader and the header helpers directly. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "mail/header.h"
#include "mail/mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_mime: check failed: %s (line %d)\n", #cond,          \
			        __LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static size_t
check_tree(const struct mime_part *p, uint64_t lo, uint64_t hi, int depth)
{
	size_t n = 1, i;

	CHECK(depth <= 33);
	CHECK(lo <= p->header_start && p->header_start <= p->body_start);
	CHECK(p->body_start <= p->end && p->end <= hi);
	CHECK(p->type != NULL && p->subtype != NULL);
	CHECK((strcmp(p->type, "multipart") == 0) == (p->nparts > 0));
	for (i = 0; i < p->nparts; i++)
		n += check_tree(&p->parts[i], p->body_start, p->end, depth + 1);
	if (p->message != NULL) {
		CHECK(p->message->envelope != NULL);
		n += check_tree(p->message, p->body_start, p->end, depth + 1);
	}
	return n;
}

/* Every section number path up to 4 levels with numbers 0..nparts+1. */
static void
visit(const struct mime_part *root, uint32_t *nums, size_t depth, const char *s, size_t n)
{
	uint32_t k;

	if (depth >= 4)
		return;
	for (k = 0; k < 6; k++) {
		const struct mime_part *p;
		struct buf b;

		nums[depth] = k;
		p = mime_find_section(root, nums, depth + 1);
		if (p == NULL)
			continue;
		buf_init(&b);
		mime_decode_body(p, s, n, &b);
		buf_free(&b);
		visit(root, nums, depth + 1, s, n);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct mime_part *p, *back;
	struct buf j1, j2, pv, tmp;
	uint32_t nums[4];
	size_t nparts;

	p = mime_parse(s, size);
	CHECK(p != NULL);
	nparts = check_tree(p, 0, size, 0);
	CHECK(nparts <= 10000);
	CHECK(p->end == size && p->envelope != NULL);

	buf_init(&j1);
	buf_init(&j2);
	buf_init(&pv);
	buf_init(&tmp);
	mime_to_json(p, &j1);
	back = mime_from_json(j1.data, j1.len);
	CHECK(back != NULL);
	mime_to_json(back, &j2);
	CHECK(j1.len == j2.len && memcmp(j1.data, j2.data, j1.len) == 0);
	mime_preview(p, s, size, 256, &pv);
	visit(p, nums, 0, s, size);
	mime_free(&back);
	mime_free(&p);
	CHECK(p == NULL);

	/* The input as stored JSON: hostile structure must be refused or be
	 * safe to use on a buffer that does not match it. */
	back = mime_from_json(s, size);
	if (back != NULL) {
		buf_reset(&pv);
		mime_preview(back, s, size, 64, &pv);
		visit(back, nums, 0, s, size);
		buf_reset(&j1);
		mime_to_json(back, &j1);
		mime_free(&back);
	}

	mail_header_decode_words(&tmp, s, size);
	buf_reset(&tmp);
	mail_header_unfold(&tmp, s, size);
	buf_reset(&tmp);
	(void)mail_header_get(s, size, "subject", &tmp);
	{
		/* what the store keeps for searches: selecting again from the
		 * selection gives it unchanged */
		static const char *const names[] = { "from", "to", "subject" };
		struct buf again;

		bool ok;

		buf_reset(&tmp);
		ok = mail_header_select(&tmp, s, size, names, 3);
		buf_init(&again);
		if (ok && (!mail_header_select(&again, tmp.data, tmp.len, names, 3) ||
			   again.len != tmp.len || memcmp(again.data, tmp.data, tmp.len) != 0))
			abort();
		buf_free(&again);
	}

	buf_free(&j1);
	buf_free(&j2);
	buf_free(&pv);
	buf_free(&tmp);
	return 0;
}
