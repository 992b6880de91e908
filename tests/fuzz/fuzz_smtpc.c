/* Fuzz target for the SMTP client's parsers (daemons/queued/smtpc_parse.c)
 * on what a remote server sends: the input is a stream of replies, parsed
 * one after the other as mailstead-queued reads them, each reply's text
 * then fed to the EHLO extension parser; the whole input also goes to the
 * EHLO parser as is. Checks: progress and bounds of every parse, codes in
 * range, enhanced codes well formed and of the reply's class, a proper
 * prefix of a parsed reply never parses, the AUTH list NUL-terminated and
 * upper case, and the formatted error holds the code once. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/util.h"
#include "queued/smtpclient.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_smtpc: check failed: %s (line %d)\n", #cond,         \
			        __LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static void
check_ext(const struct smtpc_ext *e)
{
	size_t n = strnlen(e->auth, sizeof(e->auth)), i;

	CHECK(n < sizeof(e->auth));
	CHECK(n == 0 || (e->auth[0] != ' ' && e->auth[n - 1] != ' '));
	for (i = 0; i < n; i++)
		CHECK(!(e->auth[i] >= 'a' && e->auth[i] <= 'z'));
	CHECK(e->size == 0 || e->has_size);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct smtpc_reply r, r2;
	struct smtpc_ext ext;
	struct buf f;
	size_t pos = 0;

	smtpc_reply_init(&r);
	smtpc_reply_init(&r2);
	buf_init(&f);
	smtpc_ehlo_parse(s, size, &ext);
	check_ext(&ext);
	while (pos < size) {
		size_t used = 0, used2 = 0;
		const char *error = NULL;
		int rc = smtpc_reply_parse(s + pos, size - pos, &r, &used, &error);

		CHECK(rc == -1 || rc == 0 || rc == 1);
		if (rc != 1) {
			CHECK(rc == 0 || error != NULL);
			break;
		}
		CHECK(used > 0 && used <= size - pos && used <= SMTPC_MAX_REPLY);
		CHECK(r.code >= 200 && r.code <= 599);
		CHECK(r.text.len < used);
		if (r.secode[0] != '\0') {
			CHECK(smtpc_secode_valid(r.secode, strlen(r.secode)));
			CHECK(r.secode[0] == '0' + r.code / 100);
		}
		/* The reply ends with its last byte, not before. */
		CHECK(smtpc_reply_parse(s + pos, used - 1, &r2, &used2, &error) != 1);
		smtpc_ehlo_parse(r.text.data, r.text.len, &ext);
		check_ext(&ext);
		buf_reset(&f);
		smtpc_reply_format(&f, r.code, r.secode, r.text.data);
		CHECK(f.len >= 3 && f.data[0] == s[pos]);
		CHECK(memchr(f.data, '\n', f.len) == NULL);
		pos += used;
	}
	buf_free(&f);
	smtpc_reply_free(&r);
	smtpc_reply_free(&r2);
	return 0;
}
