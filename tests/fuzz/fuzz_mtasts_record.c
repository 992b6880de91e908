/* Fuzz target for the _mta-sts TXT record parser (mtasts_record_parse).
 * Checks: a valid record starts with "v=STSv1", has an id of 1 to 32
 * letters and digits, and parsing the same text again gives the same id;
 * a text not starting with "v=STSv1" is never an error, only "not ours". */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailauth/mtasts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "fuzz_mtasts_record: check failed: %s (line %d)\n", \
				#cond, __LINE__);                                          \
			abort();                                                           \
		}                                                                          \
	} while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct mtasts_record r, r2;
	const char *err = NULL;
	size_t i, n;
	int rc;

	if (size > 4096)
		size = 4096;
	rc = mtasts_record_parse(s, size, &r, &err);
	if (size < 7 || memcmp(s, "v=STSv1", 7) != 0) {
		CHECK(rc == 1);
		return 0;
	}
	if (rc < 0) {
		CHECK(err != NULL);
		return 0;
	}
	if (rc == 1)
		return 0;
	n = strlen(r.id);
	CHECK(n >= 1 && n <= 32);
	for (i = 0; i < n; i++)
		CHECK((r.id[i] >= '0' && r.id[i] <= '9') || (r.id[i] >= 'a' && r.id[i] <= 'z') ||
			(r.id[i] >= 'A' && r.id[i] <= 'Z'));
	CHECK(memmem(s, size, r.id, n) != NULL);
	CHECK(mtasts_record_parse(s, size, &r2, &err) == 0 && strcmp(r.id, r2.id) == 0);
	return 0;
}
