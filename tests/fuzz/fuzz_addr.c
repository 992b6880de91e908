/* Fuzz target for lib/mail/addr: the input goes through the RFC 5321 path
 * and mailbox parsers (with and without SMTPUTF8), the domain parser and
 * the RFC 5322 header address-list parser, and results are checked for
 * the properties callers rely on. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "mail/addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_addr: check failed: %s (line %d)\n", #cond,          \
			        __LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* A parsed address formats to something that parses back to the same. */
static void
check_roundtrip(const struct mail_addr *a, bool utf8)
{
	struct buf b;
	struct mail_addr again;
	const char *err = NULL;

	CHECK(a->localpart != NULL && a->domain != NULL && a->domain_ascii != NULL);
	if (a->domain[0] == '\0')
		return; /* null path */
	CHECK(strlen(a->localpart) <= 64);
	CHECK(strlen(a->domain_ascii) <= 255);
	buf_init(&b);
	mail_addr_format(&b, a, utf8);
	/* Formatting never lengthens the local-part as written (it drops
	 * needless quotes and escapes), so the result must parse again. */
	CHECK(mail_addr_parse_mailbox(b.data, b.len, utf8, &again, &err) == 0);
	CHECK(strcmp(again.localpart, a->localpart) == 0);
	CHECK(strcmp(again.domain_ascii, a->domain_ascii) == 0);
	CHECK(strcmp(again.domain, a->domain) == 0);
	mail_addr_free(&again);
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct mail_addr a;
	struct mail_hdr_addrs l;
	const char *err = NULL;
	size_t end, i;
	int utf8;
	char *u, *as;

	for (utf8 = 0; utf8 <= 1; utf8++) {
		if (mail_addr_parse_path(s, size, utf8, &a, &end, &err) == 0) {
			CHECK(end >= 2 && end <= size);
			check_roundtrip(&a, utf8);
			mail_addr_free(&a);
		} else {
			CHECK(err != NULL);
		}
		if (mail_addr_parse_mailbox(s, size, utf8, &a, &err) == 0) {
			check_roundtrip(&a, utf8);
			mail_addr_free(&a);
		}
		if (mail_domain_parse(s, size, utf8, &u, &as, &err) == 0) {
			CHECK(strlen(as) <= 255);
			free(u);
			free(as);
		} else {
			CHECK(u == NULL && as == NULL);
		}
	}
	if (mail_hdr_addrs_parse(s, size, &l) < 0)
		CHECK(l.n == 0);
	CHECK(l.n <= 10000);
	for (i = 0; i < l.n; i++)
		CHECK(l.v[i].name != NULL && l.v[i].localpart != NULL && l.v[i].domain != NULL);
	mail_hdr_addrs_free(&l);
	CHECK(l.v == NULL && l.n == 0);
	return 0;
}
