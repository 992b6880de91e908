/* Fuzz target for mail_msgid_refs (lib/mail/msgid_refs.c): the input
 * is In-Reply-To, a NUL byte, then References. Every id returned must be
 * non-empty, at most MAIL_MSGID_REFS_MAX_ID bytes, lower case, without "<"
 * or ">", and unique. The whole input is also read as a List-Id value. */
#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "mail/msgid_refs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_msgid_refs: check failed: %s (line %d)\n", #cond, __LINE__); \
		abort(); \
	} \
} while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data, *nul = memchr(s, '\0', size);
	size_t irtlen = nul != NULL ? (size_t)(nul - s) : size;
	const char *r = nul != NULL ? nul + 1 : NULL;
	size_t rlen = nul != NULL ? size - irtlen - 1 : 0;
	char **v;
	size_t n, i, j;

	n = mail_msgid_refs(s, irtlen, r, rlen, MAIL_MSGID_REFS_MAX_REFS, &v);
	CHECK(n <= MAIL_MSGID_REFS_MAX_REFS);
	CHECK((n == 0) == (v == NULL));
	for (i = 0; i < n; i++) {
		size_t len = strlen(v[i]);

		CHECK(len > 0 && len <= MAIL_MSGID_REFS_MAX_ID);
		CHECK(strpbrk(v[i], "<>") == NULL);
		for (j = 0; j < len; j++)
			CHECK(!isupper((unsigned char)v[i][j]));
		for (j = 0; j < i; j++)
			CHECK(strcmp(v[i], v[j]) != 0);
	}
	mail_msgid_refs_free(v, n);
	{
		/* The list id: a lower-case name without brackets or space. */
		struct buf out;

		buf_init(&out);
		if (mail_list_id_parse(s, size, &out)) {
			CHECK(out.len > 0 && strlen(out.data) == out.len);
			CHECK(strpbrk(out.data, "<> \t") == NULL);
			for (j = 0; j < out.len; j++)
				CHECK(!isupper((unsigned char)out.data[j]));
		} else {
			CHECK(out.len == 0);
		}
		buf_free(&out);
	}
	return 0;
}
