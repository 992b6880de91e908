/* Fuzz target for the dialed-addresses history (daemons/queued/dialed.c),
 * which is JSON read back from queue.dialed_ips: the input is the stored
 * text. Checks: ordering keeps exactly the same addresses (a permutation),
 * and merging an address always gives an object with it under its host,
 * which orders without trouble again. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "queued/dialed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_dialed: check failed: %s (line %d)\n", #cond,        \
			        __LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static const char *const addrs[] = { "2001:db8::1", "192.0.2.1", "2001:db8::2", "192.0.2.2" };

static void
check_permutation(const char *json)
{
	char *ips[4];
	size_t i, j, seen;

	for (i = 0; i < 4; i++)
		ips[i] = (char *)addrs[i];
	dialed_order(json, "mx.example", ips, 4);
	for (i = 0; i < 4; i++) {
		for (seen = 0, j = 0; j < 4; j++)
			seen += ips[j] == addrs[i];
		CHECK(seen == 1);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *json = xmalloc(size + 1), *merged;
	struct dialed_ip add;

	memcpy(json, data, size);
	json[size] = '\0';
	check_permutation(json);
	memset(&add, 0, sizeof(add));
	ms_strlcpy(add.host, "mx.example", sizeof(add.host));
	ms_strlcpy(add.ip, "192.0.2.2", sizeof(add.ip));
	merged = dialed_merge(json, &add, 1);
	CHECK(merged[0] == '{');
	CHECK(strstr(merged, "\"mx.example\"") != NULL);
	CHECK(strstr(merged, "\"192.0.2.2\"") != NULL);
	check_permutation(merged);
	free(merged);
	free(json);
	return 0;
}
