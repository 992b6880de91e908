/* Fuzz target for the webmail's date parser (fcgi/webmail/webmail_date.c):
 * any bytes as a Date field value; the result is 0 or a time after the
 * epoch, never a crash or a read past the string. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "webmail/webmail_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = xmalloc(size + 1);
	int64_t t;

	memcpy(s, data, size);
	s[size] = '\0';
	t = wm_date_parse(s);
	if (t < 0) {
		fprintf(stderr, "fuzz_webmail_date: negative time\n");
		abort();
	}
	free(s);
	return 0;
}
