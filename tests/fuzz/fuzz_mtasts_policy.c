/* Fuzz target for the MTA-STS policy file parser (mtasts_policy_parse) and
 * MX matching. Checks: a parsed policy has a known mode, max_age within
 * the RFC maximum, mx patterns that are valid and lower case, at least one
 * unless mode none; every pattern without a wildcard matches itself and a
 * wildcard pattern matches "x." + its domain but not the bare domain. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "mailauth/mtasts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "fuzz_mtasts_policy: check failed: %s (line %d)\n", \
				#cond, __LINE__);                                          \
			abort();                                                           \
		}                                                                          \
	} while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mtasts_policy p;
	const char *err = NULL;
	size_t i, k;

	if (size > MTASTS_MAX_POLICY + 16)
		size = MTASTS_MAX_POLICY + 16;
	if (mtasts_policy_parse((const char *)data, size, &p, &err) != 0) {
		CHECK(err != NULL);
		CHECK(p.nmx == 0 && p.mx == NULL);
		return 0;
	}
	CHECK(p.mode <= MTASTS_MODE_ENFORCE);
	CHECK(p.max_age <= MTASTS_MAX_AGE);
	CHECK(p.nmx > 0 || p.mode == MTASTS_MODE_NONE);
	CHECK(p.nmx <= MTASTS_MAX_MX);
	for (i = 0; i < p.nmx; i++) {
		const char *mx = p.mx[i];
		size_t len = strlen(mx);

		CHECK(mtasts_mx_pattern_valid(mx, len));
		for (k = 0; k < len; k++)
			CHECK(!(mx[k] >= 'A' && mx[k] <= 'Z'));
		if (mx[0] == '*') {
			char *host = xasprintf("x%s", mx + 1);

			CHECK(mtasts_policy_matches(&p, host));
			free(host);
		} else
			CHECK(mtasts_policy_matches(&p, mx));
	}
	CHECK(!mtasts_policy_matches(&p, ""));
	mtasts_policy_free(&p);
	CHECK(p.mx == NULL && p.nmx == 0);
	return 0;
}
