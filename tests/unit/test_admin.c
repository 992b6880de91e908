/* Unit tests of lib/admin without a database: DKIM selector names
 * (dkimkey_selector_valid) and the zone-file presentation of DNS records
 * (dnsrec_presentation), which operators paste into their zones. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "admin/dkimkey.h"
#include "admin/dnsrec.h"
#include "core/buf.h"

static void
test_selector_valid(void **state)
{
	static const char *const good[] = { "k1", "2026a", "mail-2026", "a.b", "A1", "x" };
	static const char *const bad[] = {
		"", ".a", "a.", "a..b", "-a", "a-.b", "a_b", "a/b", "a b", "sel\n", "ü",
		"0123456789012345678901234567890123456789012345678901234567890123",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(dkimkey_selector_valid(good[i]));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(dkimkey_selector_valid(bad[i]));
}

static char *
present(enum dns_type type, const char *name, const char *value, struct buf *out)
{
	struct dnsrec r;

	memset(&r, 0, sizeof(r));
	r.name = (char *)name;
	r.type = type;
	r.value = (char *)value;
	buf_reset(out);
	dnsrec_presentation(&r, out);
	return out->data;
}

static void
test_presentation(void **state)
{
	struct buf out, longv, want;
	size_t i;

	(void)state;
	buf_init(&out);
	assert_string_equal(present(DNS_MX, "example.org", "10 mail.example.org", &out),
		"example.org. IN MX 10 mail.example.org.");
	assert_string_equal(present(DNS_CNAME, "mta-sts.example.org", "mail.example.org", &out),
		"mta-sts.example.org. IN CNAME mail.example.org.");
	/* SRV "not offered" keeps its root target without another dot. */
	assert_string_equal(present(DNS_SRV, "_imap._tcp.example.org", "0 0 0 .", &out),
		"_imap._tcp.example.org. IN SRV 0 0 0 .");
	assert_string_equal(present(DNS_SRV, "_imaps._tcp.example.org", "0 1 993 mail.example.org",
		&out), "_imaps._tcp.example.org. IN SRV 0 1 993 mail.example.org.");
	assert_string_equal(present(DNS_TXT, "example.org", "v=spf1 mx ~all", &out),
		"example.org. IN TXT \"v=spf1 mx ~all\"");
	assert_string_equal(present(DNS_TXT, "example.org", "", &out), "example.org. IN TXT \"\"");
	/* RFC 1035 3.3: a character-string holds at most 255 bytes, so long
	 * values (RSA DKIM keys) are split. */
	buf_init(&longv);
	buf_init(&want);
	for (i = 0; i < 600; i++)
		buf_putc(&longv, (char)('a' + i % 26));
	buf_puts(&want, "k._domainkey.example.org. IN TXT \"");
	buf_append(&want, longv.data, 255);
	buf_puts(&want, "\" \"");
	buf_append(&want, longv.data + 255, 255);
	buf_puts(&want, "\" \"");
	buf_append(&want, longv.data + 510, 90);
	buf_puts(&want, "\"");
	assert_string_equal(present(DNS_TXT, "k._domainkey.example.org", longv.data, &out),
		want.data);
	assert_string_equal(present(DNS_TLSA, "_25._tcp.mail.example.org", "3 1 1 abcd", &out),
		"_25._tcp.mail.example.org. IN TLSA 3 1 1 abcd");
	assert_string_equal(dnsrec_state_name(DNSREC_DIFFERENT), "different");
	buf_free(&longv);
	buf_free(&want);
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_selector_valid),
		cmocka_unit_test(test_presentation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
