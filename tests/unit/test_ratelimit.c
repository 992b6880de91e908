/* Tests of lib/auth/ratelimit: IP class masking, per-class limits, fixed
 * windows rolling over, reset after a successful login, the concurrency
 * limiter's release, the memory bound, and use from many threads. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <pthread.h>

#include "auth/ratelimit.h"
#include "core/util.h"

static void
assert_mask(const unsigned char m[16], const char *want)
{
	char got[INET6_ADDRSTRLEN];

	assert_non_null(inet_ntop(AF_INET6, m, got, sizeof(got)));
	assert_string_equal(got, want);
}

static void
test_masks(void **state)
{
	unsigned char m[RATELIMIT_CLASSES][16];

	assert_int_equal(ratelimit_ip_masks("192.0.2.77", m), 0);
	assert_mask(m[0], "::ffff:192.0.2.77");
	assert_mask(m[1], "::ffff:192.0.2.64");	/* /26 */
	assert_mask(m[2], "::ffff:192.0.0.0");	/* /21: 192.0.0.0-192.0.7.255 */
	assert_int_equal(ratelimit_ip_masks("203.0.113.255", m), 0);
	assert_mask(m[1], "::ffff:203.0.113.192");
	assert_mask(m[2], "::ffff:203.0.112.0");
	/* IPv4-mapped IPv6 counts as IPv4. */
	assert_int_equal(ratelimit_ip_masks("::ffff:192.0.2.77", m), 0);
	assert_mask(m[0], "::ffff:192.0.2.77");
	assert_mask(m[2], "::ffff:192.0.0.0");
	/* IPv6: /64, /48, /32. */
	assert_int_equal(ratelimit_ip_masks("2001:db8:1234:5678:9abc:def0:1234:5678", m), 0);
	assert_mask(m[0], "2001:db8:1234:5678::");
	assert_mask(m[1], "2001:db8:1234::");
	assert_mask(m[2], "2001:db8::");
	assert_int_equal(ratelimit_ip_masks("2001:db8:ffff:ffff::1", m), 0);
	assert_mask(m[0], "2001:db8:ffff:ffff::");
	assert_mask(m[1], "2001:db8:ffff::");
	/* Unparsable: all zero, one shared key. */
	assert_int_equal(ratelimit_ip_masks("not an ip", m), -1);
	assert_mask(m[0], "::");
	assert_int_equal(ratelimit_ip_masks(NULL, m), -1);
	assert_int_equal(ratelimit_ip_masks("192.0.2.1/24", m), -1);
}

/* Failed logins: 10/30/90 per minute. */
static void
test_auth_failures_classes(void **state)
{
	struct ratelimit *rl = ratelimit_new_auth_failures();
	char ip[32];
	int i;
	int64_t t = 999999980;	/* 20 s into a minute */

	for (i = 0; i < 10; i++) {
		assert_true(ratelimit_allow(rl, "192.0.2.1", t, 1));
		assert_true(ratelimit_add(rl, "192.0.2.1", t, 1));
	}
	assert_false(ratelimit_allow(rl, "192.0.2.1", t, 1));
	assert_false(ratelimit_add(rl, "192.0.2.1", t, 1));
	/* allow() counts nothing: a neighbour still has room. */
	assert_true(ratelimit_allow(rl, "192.0.2.2", t, 1));
	assert_true(ratelimit_allow(rl, "192.0.2.2", t, 10));
	assert_false(ratelimit_allow(rl, "192.0.2.2", t, 11));
	/* The /26 (192.0.2.0-63) allows 30 in total. */
	for (i = 2; i <= 3; i++) {
		snprintf(ip, sizeof(ip), "192.0.2.%d", i);
		assert_true(ratelimit_add(rl, ip, t, 10));
	}
	assert_false(ratelimit_allow(rl, "192.0.2.4", t, 1));
	/* Next /26 in the same /21: fine until the /21 has 90. */
	for (i = 0; i < 6; i++) {
		snprintf(ip, sizeof(ip), "192.0.%d.%d", 3 + i / 3, 64 * (i % 3) + 1);
		assert_true(ratelimit_add(rl, ip, t, 10));
	}
	assert_false(ratelimit_allow(rl, "192.0.7.200", t, 1));
	assert_true(ratelimit_allow(rl, "192.0.8.1", t, 1));	/* another /21 */
	/* The next minute starts afresh (the day window still counts 90). */
	assert_true(ratelimit_add(rl, "192.0.2.1", t + 40, 1));
	ratelimit_free(&rl);
	assert_null(rl);
}

static void
test_day_window(void **state)
{
	struct ratelimit *rl = ratelimit_new_auth_failures();
	int64_t day = 86400 * 20000, t = day;
	int m;

	/* 10 per minute for 5 minutes reaches the daily 50. */
	for (m = 0; m < 5; m++) {
		assert_true(ratelimit_add(rl, "2001:db8::1", t + m * 60, 10));
		assert_false(ratelimit_allow(rl, "2001:db8::1", t + m * 60, 1));
	}
	assert_false(ratelimit_allow(rl, "2001:db8::1", t + 5 * 60, 1));
	assert_false(ratelimit_allow(rl, "2001:db8::1", t + 86399, 1));
	/* Same /64: same class-0 counter. */
	assert_false(ratelimit_allow(rl, "2001:db8::ffff", t + 600, 1));
	/* Another /64 of the same /48 still has room for the /48's 150. */
	assert_true(ratelimit_allow(rl, "2001:db8:0:1::1", t + 600, 10));
	/* Next day. */
	assert_true(ratelimit_add(rl, "2001:db8::1", t + 86400, 10));
	ratelimit_free(&rl);
}

static void
test_windows_custom(void **state)
{
	static const struct ratelimit_window w[] = {
		{ 10, { 2, 0, 0 } },	/* classes 1 and 2 unlimited */
	};
	struct ratelimit *rl = ratelimit_new(w, 1, 0);

	assert_true(ratelimit_add(rl, "198.51.100.1", 100, 2));
	assert_false(ratelimit_add(rl, "198.51.100.1", 109, 1));
	assert_true(ratelimit_add(rl, "198.51.100.1", 110, 2));
	assert_true(ratelimit_add(rl, "198.51.100.2", 110, 2));
	assert_true(ratelimit_add(rl, "198.51.100.3", 110, 2));	/* /26 unlimited */
	/* More than the limit at once never fits. */
	assert_false(ratelimit_allow(rl, "198.51.100.9", 110, 3));
	/* A clock going back also starts a new window. */
	assert_true(ratelimit_add(rl, "198.51.100.1", 50, 2));
	/* Negative times use floor division: -1 and 0 are different windows. */
	assert_true(ratelimit_add(rl, "198.51.100.4", -1, 2));
	assert_true(ratelimit_add(rl, "198.51.100.4", 0, 2));
	assert_false(ratelimit_add(rl, "198.51.100.4", 9, 1));
	/* n = 0 always fits and counts nothing. */
	assert_true(ratelimit_add(rl, "198.51.100.4", 9, 0));
	ratelimit_free(&rl);
}

/* A successful login clears the address's own failures and takes them
 * off its /26 and /21. */
static void
test_reset(void **state)
{
	struct ratelimit *rl = ratelimit_new_auth_failures();
	int64_t t = 1000000000;

	assert_true(ratelimit_add(rl, "192.0.2.1", t, 10));
	assert_true(ratelimit_add(rl, "192.0.2.2", t, 10));
	assert_true(ratelimit_add(rl, "192.0.2.3", t, 10));
	assert_false(ratelimit_allow(rl, "192.0.2.4", t, 1));	/* /26 full */
	ratelimit_reset(rl, "192.0.2.1", t);
	assert_true(ratelimit_allow(rl, "192.0.2.1", t, 10));
	assert_true(ratelimit_allow(rl, "192.0.2.4", t, 10));
	assert_false(ratelimit_allow(rl, "192.0.2.4", t, 11));
	assert_false(ratelimit_allow(rl, "192.0.2.2", t, 1));	/* others keep theirs */
	/* Resetting an address without failures changes nothing. */
	ratelimit_reset(rl, "192.0.2.9", t);
	assert_false(ratelimit_allow(rl, "192.0.2.4", t, 11));
	ratelimit_free(&rl);
}

static void
test_connection_rate(void **state)
{
	struct ratelimit *rl = ratelimit_new_connection_rate();
	int i;

	for (i = 0; i < 300; i++)
		assert_true(ratelimit_add(rl, "192.0.2.1", 60, 1));
	assert_false(ratelimit_add(rl, "192.0.2.1", 119, 1));
	assert_true(ratelimit_add(rl, "192.0.2.1", 120, 1));
	ratelimit_free(&rl);
}

static void
test_concurrency(void **state)
{
	struct ratelimit_conc *c = ratelimit_conc_new_connections();
	char ip[32];
	int i;

	for (i = 0; i < 30; i++)
		assert_true(ratelimit_conc_acquire(c, "192.0.2.1"));
	assert_false(ratelimit_conc_acquire(c, "192.0.2.1"));
	assert_true(ratelimit_conc_acquire(c, "192.0.2.2"));
	ratelimit_conc_release(c, "192.0.2.1");
	assert_true(ratelimit_conc_acquire(c, "192.0.2.1"));
	assert_false(ratelimit_conc_acquire(c, "192.0.2.1"));
	/* /26 limit 90: two more neighbours fill it. */
	for (i = 0; i < 29; i++)
		assert_true(ratelimit_conc_acquire(c, "192.0.2.2"));
	for (i = 0; i < 30; i++)
		assert_true(ratelimit_conc_acquire(c, "192.0.2.3"));
	assert_false(ratelimit_conc_acquire(c, "192.0.2.4"));
	assert_true(ratelimit_conc_acquire(c, "192.0.2.64"));
	/* Release everything: no counters are left behind. */
	for (i = 0; i < 30; i++) {
		ratelimit_conc_release(c, "192.0.2.1");
		ratelimit_conc_release(c, "192.0.2.2");
		ratelimit_conc_release(c, "192.0.2.3");
	}
	ratelimit_conc_release(c, "192.0.2.64");
	assert_int_equal(ratelimit_conc_size(c), 0);
	/* A stray release is ignored. */
	ratelimit_conc_release(c, "192.0.2.5");
	assert_int_equal(ratelimit_conc_size(c), 0);
	assert_true(ratelimit_conc_acquire(c, "192.0.2.4"));
	assert_int_equal(ratelimit_conc_size(c), 3);
	/* IPv6 in the same /64 shares a slot count. */
	for (i = 0; i < 30; i++) {
		snprintf(ip, sizeof(ip), "2001:db8::%x", i + 1);
		assert_true(ratelimit_conc_acquire(c, ip));
	}
	assert_false(ratelimit_conc_acquire(c, "2001:db8::ffff"));
	assert_true(ratelimit_conc_acquire(c, "2001:db8:0:1::1"));
	ratelimit_conc_free(&c);
	assert_null(c);
}

/* A flood of distinct addresses stays within max_keys per window, and an
 * address with many counts survives the eviction. */
static void
test_memory_bound(void **state)
{
	static const struct ratelimit_window w[] = {
		{ 60, { 6, 0, 0 } },
		{ 3600, { 0, 0, 0 } },
	};
	struct ratelimit *rl = ratelimit_new(w, MS_NELEM(w), 1000);
	char ip[64];
	int i;

	assert_true(ratelimit_add(rl, "192.0.2.1", 0, 5));
	for (i = 0; i < 50000; i++) {
		/* Distinct /64, /48 and /32: every flood counter stays at 1. */
		snprintf(ip, sizeof(ip), "%x:%x::1", 0x2000u + ((unsigned)i & 0xfff),
			(unsigned)i >> 12);
		assert_true(ratelimit_add(rl, ip, 1, 1));
		assert_true(ratelimit_size(rl) <= 2 * 1000);
	}
	assert_true(ratelimit_size(rl) >= 2 * 900);
	assert_false(ratelimit_allow(rl, "192.0.2.1", 2, 2));
	assert_true(ratelimit_allow(rl, "192.0.2.1", 2, 1));
	/* The window roll drops everything. */
	assert_true(ratelimit_add(rl, "192.0.2.1", 3600, 1));
	assert_int_equal(ratelimit_size(rl), 6);
	ratelimit_free(&rl);
}

struct thread_arg {
	struct ratelimit *rl;
	struct ratelimit_conc *c;
	int ok;
};

static void *
hammer(void *p)
{
	struct thread_arg *a = p;
	int i;

	for (i = 0; i < 1000; i++) {
		if (ratelimit_add(a->rl, "192.0.2.1", 5, 1))
			a->ok++;
		if (ratelimit_conc_acquire(a->c, "192.0.2.1"))
			ratelimit_conc_release(a->c, "192.0.2.1");
	}
	return NULL;
}

static void
test_threads(void **state)
{
	static const struct ratelimit_window w[] = { { 60, { 5000, 0, 0 } } };
	static const uint64_t lim[RATELIMIT_CLASSES] = { 3, 0, 0 };
	struct thread_arg args[8];
	pthread_t th[8];
	int i, total = 0;
	struct ratelimit *rl = ratelimit_new(w, 1, 0);
	struct ratelimit_conc *c = ratelimit_conc_new(lim);

	for (i = 0; i < 8; i++) {
		args[i].rl = rl;
		args[i].c = c;
		args[i].ok = 0;
		assert_int_equal(pthread_create(&th[i], NULL, hammer, &args[i]), 0);
	}
	for (i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		total += args[i].ok;
	}
	/* Exactly the limit got through, and every slot came back. */
	assert_int_equal(total, 5000);
	assert_false(ratelimit_allow(rl, "192.0.2.1", 5, 1));
	assert_int_equal(ratelimit_conc_size(c), 0);
	ratelimit_free(&rl);
	ratelimit_conc_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_masks),
		cmocka_unit_test(test_auth_failures_classes),
		cmocka_unit_test(test_day_window),
		cmocka_unit_test(test_windows_custom),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_connection_rate),
		cmocka_unit_test(test_concurrency),
		cmocka_unit_test(test_memory_bound),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
