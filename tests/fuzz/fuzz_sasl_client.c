/* Fuzz target for the client side of SASL (lib/auth/sasl_client.c) on
 * what a smarthost's server sends. The input is lines:
 *   line 1:  the mechanism ("SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5",
 *            "PLAIN"; anything else is tried as a name too)
 *   then one server challenge per line, already base64-decoded as
 *   smtpc_auth hands them over; "@N" in a line is replaced by the
 *   client's nonce (from its first message), so server-first messages in
 *   the corpus reach the SCRAM proof and signature steps.
 * Checks: only -1/0/1, an error for every -1, nothing accepted after an
 * error or after success, success only for a SCRAM server-final message,
 * and bounded responses. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/sasl_client.h"
#include "core/buf.h"
#include "core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_sasl_client: check failed: %s (line %d)\n", #cond,   \
			        __LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data, *end = s + size, *nl;
	struct sasl_client *c;
	struct buf mech, out, msg;
	char nonce[128] = "";
	bool scram, done = false, failed = false;
	int steps = 0;

	nl = memchr(s, '\n', size);
	if (nl == NULL)
		return 0;
	buf_init(&mech);
	buf_append(&mech, s, (size_t)(nl - s));
	c = sasl_client_new(mech.data, "user", "pencil");
	scram = ms_startswith_ci(mech.data, "SCRAM-");
	buf_free(&mech);
	if (c == NULL)
		return 0;
	buf_init(&out);
	buf_init(&msg);
	{
		const char *error = NULL;
		int r = sasl_client_step(c, "", 0, &out, &error);

		CHECK(r == 0);
		if (scram) {
			const char *p = strstr(out.data, ",r=");

			CHECK(p != NULL && strlen(p + 3) < sizeof(nonce));
			ms_strlcpy(nonce, p + 3, sizeof(nonce));
		}
	}
	for (s = nl + 1; s < end && steps < 8; steps++) {
		const char *le = memchr(s, '\n', (size_t)(end - s)), *p, *error = NULL;
		size_t len = le ? (size_t)(le - s) : (size_t)(end - s);
		int r;

		buf_reset(&msg);
		for (p = s; p < s + len; p++) {
			if (p + 1 < s + len && p[0] == '@' && p[1] == 'N') {
				buf_puts(&msg, nonce);
				p++;
			} else {
				buf_putc(&msg, *p);
			}
		}
		buf_reset(&out);
		r = sasl_client_step(c, msg.data, msg.len, &out, &error);
		CHECK(r == -1 || r == 0 || r == 1);
		CHECK(out.len < 4096 + msg.len);
		if (r == -1)
			CHECK(error != NULL && error[0] != '\0');
		if (done || failed)
			CHECK(r == -1);
		if (r == 1) {
			CHECK(scram && msg.len >= 2 && msg.data[0] == 'v');
			done = true;
		}
		if (r == -1 && !done)
			failed = true;
		s += len + 1;
	}
	sasl_client_free(&c);
	CHECK(c == NULL);
	buf_free(&out);
	buf_free(&msg);
	return 0;
}
