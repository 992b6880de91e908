/* Tests of the webmail's date parser (fcgi/webmail/webmail_date.c): RFC
 * 5322 dates with and without day name and seconds, zones, two-digit
 * years, and malformed values (0). */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "webmail/webmail_private.h"

static void
test_valid(void **state)
{
	(void)state;
	/* 2006-01-02T22:04:05Z */
	assert_int_equal(wm_date_parse("Mon, 2 Jan 2006 15:04:05 -0700"), 1136239445);
	assert_int_equal(wm_date_parse("2 Jan 2006 22:04:05 +0000"), 1136239445);
	assert_int_equal(wm_date_parse("Mon, 02 JAN 2006 23:04:05 +0100 (CET)"), 1136239445);
	assert_int_equal(wm_date_parse("  Mon,  2 Jan 2006 22:04 GMT"), 1136239440);
	assert_int_equal(wm_date_parse("2 Jan 06 22:04:05 +0000"), 1136239445);
	assert_int_equal(wm_date_parse("1 Jan 1970 00:00:01 +0000"), 1);
}

static void
test_malformed(void **state)
{
	static const char *const bad[] = {
	        NULL,
	        "",
	        "garbage",
	        "Mon,",
	        "32 Jan 2006 10:00:00 +0000",
	        "2 Foo 2006 10:00:00 +0000",
	        "2 Jan 10:00:00",
	        "2 Jan 2006",
	        "2 Jan 2006 24:00 +0000",
	        "2 Jan 2006 10:60 +0000",
	        "2 Jan 2006 10:00:61 +0000",
	        "0 Jan 2006 10:00 +0000",
	        "1 Jan 1970 00:00:00 +0100",
	        "2 Ja",
	        "2006-01-02T15:04:05Z",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(wm_date_parse(bad[i]), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
