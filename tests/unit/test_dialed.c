/* Tests of the address order across delivery attempts
 * (daemons/queued/dialed.c): the other family first after a connection,
 * the same address first after the first connection of its family, no
 * change without (or with a malformed) history, and the history kept
 * per host with the oldest dropped past DIALED_MAX. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/util.h"
#include "queued/dialed.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The order dialed_order gives to want's addresses, resolved as given. */
static void
check_order(const char *json, const char *host, const char *const *resolved,
	const char *const *want, size_t n)
{
	char *ips[8];
	size_t i;

	assert_true(n <= N(ips));
	for (i = 0; i < n; i++)
		ips[i] = (char *)resolved[i];
	dialed_order(json, host, ips, n);
	for (i = 0; i < n; i++)
		assert_string_equal(ips[i], want[i]);
}

static const char *const resolved[] = { "2001:db8::1", "2001:db8::2", "192.0.2.1", "192.0.2.2" };

static void
test_no_history(void **state)
{
	(void)state;
	check_order(NULL, "mx.example", resolved, resolved, N(resolved));
	check_order("", "mx.example", resolved, resolved, N(resolved));
	check_order("{}", "mx.example", resolved, resolved, N(resolved));
	/* Another host's history does not count. */
	check_order("{\"other.example\": [\"2001:db8::1\"]}", "mx.example", resolved, resolved,
		N(resolved));
}

static void
test_malformed_history(void **state)
{
	static const char *const bad[] = {
		"not json", "[\"192.0.2.1\"]", "{\"mx.example\": \"192.0.2.1\"}",
		"{\"mx.example\": []}", "{\"mx.example\": [1, 2]}", "{\"mx.example\": [",
		"\"x\"", "null", "{\"mx.example\": {\"a\": 1}}",
	};
	size_t i;

	(void)state;
	for (i = 0; i < N(bad); i++)
		check_order(bad[i], "mx.example", resolved, resolved, N(resolved));
}

static void
test_after_ipv6_ipv4_first(void **state)
{
	/* One IPv6 connection: IPv4 next, then IPv6 with that address first. */
	static const char *const want[] = { "192.0.2.1", "192.0.2.2", "2001:db8::2", "2001:db8::1" };
	static const char *const want1[] = { "192.0.2.1", "192.0.2.2", "2001:db8::1", "2001:db8::2" };

	(void)state;
	check_order("{\"mx.example\": [\"2001:db8::2\"]}", "mx.example", resolved, want, N(want));
	check_order("{\"mx.example\": [\"2001:db8::1\"]}", "mx.example", resolved, want1,
		N(want1));
}

static void
test_after_ipv4_ipv6_first(void **state)
{
	/* After an IPv4 connection IPv6 comes first, IPv4's address first
	 * among the IPv4 ones (first connection of that family). */
	static const char *const want[] = { "2001:db8::1", "2001:db8::2", "192.0.2.2", "192.0.2.1" };

	(void)state;
	check_order("{\"mx.example\": [\"2001:db8::1\", \"192.0.2.2\"]}", "mx.example", resolved,
		want, N(want));
}

static void
test_second_connection_of_family(void **state)
{
	/* The family's second connection: no preference for its address. */
	static const char *const want[] = { "2001:db8::1", "2001:db8::2", "192.0.2.1", "192.0.2.2" };

	(void)state;
	check_order("{\"mx.example\": [\"192.0.2.1\", \"2001:db8::1\", \"192.0.2.2\"]}",
		"mx.example", resolved, want, N(want));
}

static void
test_one_family_only(void **state)
{
	static const char *const v4[] = { "192.0.2.1", "192.0.2.2", "192.0.2.3" };
	static const char *const want[] = { "192.0.2.3", "192.0.2.1", "192.0.2.2" };

	(void)state;
	check_order("{\"mx.example\": [\"192.0.2.3\"]}", "mx.example", v4, want, N(want));
	/* An address no longer in DNS changes nothing but the family. */
	check_order("{\"mx.example\": [\"192.0.2.9\"]}", "mx.example", v4, v4, N(v4));
}

static void
test_merge(void **state)
{
	struct dialed_ip add[DIALED_MAX + 3];
	char *s, *t;
	size_t i;

	(void)state;
	memset(add, 0, sizeof(add));
	ms_strlcpy(add[0].host, "mx.example", sizeof(add[0].host));
	ms_strlcpy(add[0].ip, "192.0.2.1", sizeof(add[0].ip));
	s = dialed_merge(NULL, add, 1);
	assert_string_equal(s, "{\"mx.example\":[\"192.0.2.1\"]}");
	ms_strlcpy(add[0].ip, "2001:db8::1", sizeof(add[0].ip));
	ms_strlcpy(add[1].host, "mx2.example", sizeof(add[1].host));
	ms_strlcpy(add[1].ip, "192.0.2.7", sizeof(add[1].ip));
	t = dialed_merge(s, add, 2);
	assert_string_equal(t, "{\"mx.example\":[\"192.0.2.1\",\"2001:db8::1\"],"
		"\"mx2.example\":[\"192.0.2.7\"]}");
	free(s);
	free(t);
	/* Malformed history starts from nothing. */
	s = dialed_merge("[1,2", add, 1);
	assert_string_equal(s, "{\"mx.example\":[\"2001:db8::1\"]}");
	free(s);
	s = dialed_merge("{\"mx.example\": 5}", add, 1);
	assert_string_equal(s, "{\"mx.example\":[\"2001:db8::1\"]}");
	free(s);
	/* At most DIALED_MAX per host: the oldest go. */
	for (i = 0; i < N(add); i++) {
		ms_strlcpy(add[i].host, "mx.example", sizeof(add[i].host));
		(void)snprintf(add[i].ip, sizeof(add[i].ip), "192.0.2.%zu", i + 1);
	}
	s = dialed_merge(NULL, add, N(add));
	assert_non_null(strstr(s, "\"192.0.2.4\""));
	assert_null(strstr(s, "\"192.0.2.3\""));
	assert_non_null(strstr(s, "\"192.0.2.19\""));
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_history),
		cmocka_unit_test(test_malformed_history),
		cmocka_unit_test(test_after_ipv6_ipv4_first),
		cmocka_unit_test(test_after_ipv4_ipv6_first),
		cmocka_unit_test(test_second_connection_of_family),
		cmocka_unit_test(test_one_family_only),
		cmocka_unit_test(test_merge),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
