/* Tests of lib/db/loglevel without a database: which programs and level
 * names are accepted (exactly, case-sensitively), and which stored row
 * decides the level of a program. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "db/loglevel.h"

static void
test_programs(void **state)
{
	static const char *const bad[] = { "SMTPD", "smtpd ", " smtpd", "mailstead-smtpd", "smtp",
		"default", "x", "smtpd\n", "imapdd" };
	const char *error = NULL;
	size_t i;

	(void)state;
	assert_int_equal(loglevel_check_program("", &error), 0);
	for (i = 0; loglevel_programs[i] != NULL; i++)
		assert_int_equal(loglevel_check_program(loglevel_programs[i], &error), 0);
	assert_int_equal(i, 8);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		error = NULL;
		assert_int_equal(loglevel_check_program(bad[i], &error), -1);
		assert_non_null(strstr(error, "unknown program"));
	}
}

static void
test_levels(void **state)
{
	static const char *const bad[] = { "", "DEBUG", "Info", "warning", "err", "debug ", "trace" };
	static const char *const good[] = { "debug", "info", "warn", "error" };
	enum ms_log_level l;
	const char *error;
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++) {
		assert_int_equal(loglevel_check_level(good[i], &l, &error), 0);
		assert_int_equal(l, (enum ms_log_level)i);
		assert_string_equal(log_level_name(l), good[i]);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		error = NULL;
		assert_int_equal(loglevel_check_level(bad[i], &l, &error), -1);
		assert_non_null(strstr(error, "unknown log level"));
	}
	assert_int_equal(loglevel_conf_level(NULL), MS_LOG_INFO);
	assert_int_equal(loglevel_conf_level("bogus"), MS_LOG_INFO);
	assert_int_equal(loglevel_conf_level("warn"), MS_LOG_WARN);
}

static void
test_effective(void **state)
{
	struct loglevel_row rows[] = {
		{ "", MS_LOG_WARN }, { "imapd", MS_LOG_DEBUG }, { "smtpd", MS_LOG_ERROR },
	};

	(void)state;
	/* No rows: the config file's level. */
	assert_int_equal(loglevel_effective(rows, 0, "smtpd", MS_LOG_INFO), MS_LOG_INFO);
	/* Own row first, else the default row, in any order. */
	assert_int_equal(loglevel_effective(rows, 3, "smtpd", MS_LOG_INFO), MS_LOG_ERROR);
	assert_int_equal(loglevel_effective(rows, 3, "imapd", MS_LOG_INFO), MS_LOG_DEBUG);
	assert_int_equal(loglevel_effective(rows, 3, "queued", MS_LOG_INFO), MS_LOG_WARN);
	assert_int_equal(loglevel_effective(rows, 3, "", MS_LOG_INFO), MS_LOG_WARN);
	assert_int_equal(loglevel_effective(rows + 1, 2, "queued", MS_LOG_DEBUG), MS_LOG_DEBUG);
	assert_int_equal(loglevel_effective(rows + 1, 2, "smtpd", MS_LOG_DEBUG), MS_LOG_ERROR);
	/* Several programs in one process: the most verbose level wins. */
	assert_int_equal(loglevel_effective_any(rows, 3, "smtpd", MS_LOG_INFO), MS_LOG_ERROR);
	assert_int_equal(loglevel_effective_any(rows, 3, "smtpd,imapd", MS_LOG_INFO), MS_LOG_DEBUG);
	assert_int_equal(loglevel_effective_any(rows, 3, "smtpd,queued", MS_LOG_INFO), MS_LOG_WARN);
	assert_int_equal(loglevel_effective_any(rows + 2, 1, "admin,account,webapi", MS_LOG_INFO),
		MS_LOG_INFO);
	assert_int_equal(loglevel_effective_any(rows + 2, 1, "admin,smtpd", MS_LOG_DEBUG),
		MS_LOG_DEBUG);
	/* A name too long to be a program counts for nothing. */
	assert_int_equal(loglevel_effective_any(rows + 2, 1,
		"smtpd,an-overlong-name-that-is-no-program-at-all", MS_LOG_INFO), MS_LOG_ERROR);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_programs),
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_effective),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
