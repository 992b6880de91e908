/* Unit tests for lib/core/util and lib/core/log: number, size and duration
 * parsing, base64/hex, bounded copies, case helpers, random tokens, dates,
 * logfmt quoting and connection ids. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"

/* ---- ms_parse_u64 / ms_parse_u64n ---- */

static void
test_parse_u64_valid(void **state)
{
	uint64_t v = 0;

	assert_int_equal(ms_parse_u64("0", 0, UINT64_MAX, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(ms_parse_u64("42", 0, UINT64_MAX, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(ms_parse_u64("007", 0, UINT64_MAX, &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(ms_parse_u64("18446744073709551615", 0, UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);
	/* Leading zeros beyond 20 digits are still the same number. */
	assert_int_equal(ms_parse_u64("0000000000000000000000025", 0, UINT64_MAX, &v), 0);
	assert_int_equal(v, 25);
}

static void
test_parse_u64_overflow(void **state)
{
	uint64_t v = 1234;

	assert_int_equal(ms_parse_u64("18446744073709551616", 0, UINT64_MAX, &v), -1);
	assert_int_equal(ms_parse_u64("18446744073709551620", 0, UINT64_MAX, &v), -1);
	assert_int_equal(ms_parse_u64("99999999999999999999", 0, UINT64_MAX, &v), -1);
	assert_int_equal(ms_parse_u64("184467440737095516150", 0, UINT64_MAX, &v), -1);
	assert_int_equal(ms_parse_u64("100000000000000000000000000000", 0, UINT64_MAX, &v), -1);
	/* Failure leaves the output alone. */
	assert_int_equal(v, 1234);
}

static void
test_parse_u64_rejects_non_digits(void **state)
{
	static const char *const bad[] = {
		"", " ", "+1", "-1", "-0", " 1", "1 ", "1\t", "\n1", "1a", "a1",
		"0x10", "1e3", "1.0", "1,000", "1_000", "\xd9\xa1",
	};
	uint64_t v = 77;
	size_t i;

	for (i = 0; i < MS_NELEM(bad); i++) {
		if (ms_parse_u64(bad[i], 0, UINT64_MAX, &v) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	assert_int_equal(v, 77);
}

static void
test_parse_u64_range(void **state)
{
	uint64_t v = 0;

	assert_int_equal(ms_parse_u64("1", 1, 65535, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(ms_parse_u64("65535", 1, 65535, &v), 0);
	assert_int_equal(v, 65535);
	assert_int_equal(ms_parse_u64("0", 1, 65535, &v), -1);
	assert_int_equal(ms_parse_u64("65536", 1, 65535, &v), -1);
	assert_int_equal(ms_parse_u64("5", 5, 5, &v), 0);
	assert_int_equal(ms_parse_u64("4", 5, 5, &v), -1);
	assert_int_equal(ms_parse_u64("6", 5, 5, &v), -1);
}

static void
test_parse_u64n_bounded(void **state)
{
	/* Not NUL-terminated after the digits: only n bytes are looked at. */
	static const char buf[] = { '1', '2', '3', 'x', 'y' };
	uint64_t v = 0;

	assert_int_equal(ms_parse_u64n(buf, 3, 0, UINT64_MAX, &v), 0);
	assert_int_equal(v, 123);
	assert_int_equal(ms_parse_u64n(buf, 1, 0, UINT64_MAX, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(ms_parse_u64n(buf, 4, 0, UINT64_MAX, &v), -1);
	assert_int_equal(ms_parse_u64n(buf, 0, 0, UINT64_MAX, &v), -1);
	assert_int_equal(ms_parse_u64n("{25}", 0, 0, 10, &v), -1);
	assert_int_equal(ms_parse_u64n("25}", 2, 0, 10, &v), -1);
	assert_int_equal(ms_parse_u64n("25}", 2, 0, 25, &v), 0);
	assert_int_equal(v, 25);
	assert_int_equal(ms_parse_u64n("184467440737095516159", 20, 0, UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);
}

/* ---- ms_parse_size / ms_parse_duration / ms_parse_bool ---- */

static void
test_parse_size(void **state)
{
	static const struct {
		const char *s;
		uint64_t v;
	} ok[] = {
		{ "0", 0 },
		{ "512", 512 },
		{ "1k", 1024 },
		{ "1K", 1024 },
		{ "25m", 25ULL << 20 },
		{ "25M", 25ULL << 20 },
		{ "3g", 3ULL << 30 },
		{ "0g", 0 },
		{ "18446744073709551615", UINT64_MAX },
		{ "18014398509481983k", 18014398509481983ULL * 1024 },
		{ "17179869183g", 17179869183ULL << 30 },
	};
	static const char *const bad[] = {
		"", "k", "m", "1t", "1kb", "1 k", " 1k", "1k ", "-1k", "+1k", "1.5m",
		"kk", "1kk", "0x1k",
		"18014398509481984k",	/* 2^64 */
		"17179869184g",	/* 2^64 */
		"18446744073709551616",
	};
	uint64_t v;
	size_t i;

	for (i = 0; i < MS_NELEM(ok); i++) {
		v = 1;
		if (ms_parse_size(ok[i].s, &v) != 0)
			fail_msg("rejected \"%s\"", ok[i].s);
		if (v != ok[i].v)
			fail_msg("\"%s\" gave %llu", ok[i].s, (unsigned long long)v);
	}
	for (i = 0; i < MS_NELEM(bad); i++) {
		v = 99;
		if (ms_parse_size(bad[i], &v) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(v, 99);
	}
}

static void
test_parse_duration(void **state)
{
	static const struct {
		const char *s;
		uint64_t v;
	} ok[] = {
		{ "0", 0 },
		{ "30", 30 },
		{ "30s", 30 },
		{ "30S", 30 },
		{ "5m", 300 },
		{ "2h", 7200 },
		{ "1d", 86400 },
		{ "7D", 604800 },
		{ "213503982334601d", 213503982334601ULL * 86400 },
	};
	static const char *const bad[] = {
		"", "s", "m", "5x", "5ms", "1.5h", "-5m", " 5m", "5 m", "1w", "1y",
		"213503982334602d",	/* just over 2^64 seconds */
		"307445734561825861m",
	};
	uint64_t v;
	size_t i;

	for (i = 0; i < MS_NELEM(ok); i++) {
		v = 1;
		if (ms_parse_duration(ok[i].s, &v) != 0)
			fail_msg("rejected \"%s\"", ok[i].s);
		if (v != ok[i].v)
			fail_msg("\"%s\" gave %llu", ok[i].s, (unsigned long long)v);
	}
	for (i = 0; i < MS_NELEM(bad); i++) {
		v = 99;
		if (ms_parse_duration(bad[i], &v) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(v, 99);
	}
}

static void
test_parse_bool(void **state)
{
	static const char *const yes[] = { "yes", "YES", "Yes", "true", "TRUE", "1", "on", "On" };
	static const char *const no[] = { "no", "NO", "false", "False", "0", "off", "OFF" };
	static const char *const bad[] = { "", "y", "n", "2", "yes ", " no", "onn", "of", "tru", "enable" };
	bool b;
	size_t i;

	for (i = 0; i < MS_NELEM(yes); i++) {
		b = false;
		assert_int_equal(ms_parse_bool(yes[i], &b), 0);
		assert_true(b);
	}
	for (i = 0; i < MS_NELEM(no); i++) {
		b = true;
		assert_int_equal(ms_parse_bool(no[i], &b), 0);
		assert_false(b);
	}
	for (i = 0; i < MS_NELEM(bad); i++) {
		b = true;
		if (ms_parse_bool(bad[i], &b) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_true(b);
	}
}

/* ---- base64 / hex ---- */

/* RFC 4648 section 10. */
static const struct {
	const char *plain, *b64, *b64url;
} rfc4648[] = {
	{ "", "", "" },
	{ "f", "Zg==", "Zg" },
	{ "fo", "Zm8=", "Zm8" },
	{ "foo", "Zm9v", "Zm9v" },
	{ "foob", "Zm9vYg==", "Zm9vYg" },
	{ "fooba", "Zm9vYmE=", "Zm9vYmE" },
	{ "foobar", "Zm9vYmFy", "Zm9vYmFy" },
};

static void
test_base64_rfc4648_vectors(void **state)
{
	size_t i;

	for (i = 0; i < MS_NELEM(rfc4648); i++) {
		struct buf b;

		buf_init(&b);
		ms_base64_encode(&b, rfc4648[i].plain, strlen(rfc4648[i].plain));
		assert_string_equal(b.data, rfc4648[i].b64);
		buf_reset(&b);
		assert_int_equal(ms_base64_decode(&b, rfc4648[i].b64, strlen(rfc4648[i].b64)), 0);
		assert_int_equal(b.len, strlen(rfc4648[i].plain));
		assert_string_equal(b.data, rfc4648[i].plain);
		buf_reset(&b);
		ms_base64url_encode(&b, rfc4648[i].plain, strlen(rfc4648[i].plain));
		assert_string_equal(b.data, rfc4648[i].b64url);
		buf_free(&b);
	}
}

static void
test_base64_appends(void **state)
{
	struct buf b;

	buf_init(&b);
	buf_puts(&b, "AUTH PLAIN ");
	ms_base64_encode(&b, "\0user\0pass", 10);
	assert_string_equal(b.data, "AUTH PLAIN AHVzZXIAcGFzcw==");
	buf_reset(&b);
	buf_puts(&b, ">");
	assert_int_equal(ms_base64_decode(&b, "AHVzZXIAcGFzcw==", 16), 0);
	assert_int_equal(b.len, 11);
	assert_memory_equal(b.data, ">\0user\0pass", 11);
	buf_free(&b);
}

static void
test_base64_binary_roundtrip(void **state)
{
	unsigned char src[256];
	size_t i, n;

	for (i = 0; i < sizeof(src); i++)
		src[i] = (unsigned char)(255 - i);
	for (n = 0; n <= sizeof(src); n++) {
		struct buf enc, dec;

		buf_init(&enc);
		buf_init(&dec);
		ms_base64_encode(&enc, src, n);
		assert_int_equal(enc.len, (n + 2) / 3 * 4);
		assert_int_equal(ms_base64_decode(&dec, enc.data, enc.len), 0);
		assert_int_equal(dec.len, n);
		assert_memory_equal(dec.data, src, n);
		buf_free(&enc);
		buf_free(&dec);
	}
}

static void
test_base64_decode_strict_failures(void **state)
{
	static const struct {
		const char *s;
		size_t n;	/* 0: strlen */
	} bad[] = {
		/* wrong length */
		{ "Z", 0 }, { "Zg", 0 }, { "Zg=", 0 }, { "Zm9vY", 0 }, { "Zm9vYg=", 0 },
		/* bad padding */
		{ "Zg===", 0 }, { "====", 0 }, { "Z===", 0 }, { "=g==", 0 },
		{ "Z=g=", 0 }, { "Zg=a", 0 },
		/* padding before the end */
		{ "Zg==Zg==", 0 }, { "Zm8=Zm9v", 0 },
		/* whitespace */
		{ "Zm9v\n", 0 }, { "Zm 9v", 0 }, { "Zm9v    ", 0 }, { "    Zm9v", 0 },
		{ "Zm9v\r\nYmFy", 0 },
		/* characters outside the standard alphabet */
		{ "Zm9*", 0 }, { "Zm9-", 0 }, { "Zm9_", 0 }, { "Zm9.", 0 },
		{ "Zm9\x80", 0 }, { "Zm\0v", 4 }, { "Zm9vYmFy\0\0\0\0", 12 },
	};
	size_t i;

	for (i = 0; i < MS_NELEM(bad); i++) {
		struct buf b;
		size_t n = bad[i].n ? bad[i].n : strlen(bad[i].s);
		int rc;

		buf_init(&b);
		buf_puts(&b, "keep");
		rc = ms_base64_decode(&b, bad[i].s, n);
		if (rc != -1)
			fail_msg("accepted #%zu \"%s\"", i, bad[i].s);
		/* Nothing half-decoded is left behind. */
		assert_int_equal(b.len, 4);
		assert_string_equal(b.data, "keep");
		buf_free(&b);
	}
}

static void
test_base64_decode_failure_leaves_no_plaintext(void **state)
{
	/* "secret!!" then a bad quartet: the decoded bytes before the error
	 * must not stay in the buffer, neither counted nor beyond len. */
	struct buf b;

	buf_init(&b);
	memset(b.data, 0, b.cap);	/* defined bytes for the scan below */
	assert_int_equal(ms_base64_decode(&b, "c2VjcmV0ISE*", 12), -1);
	assert_int_equal(b.len, 0);
	assert_null(memmem(b.data, b.cap, "secret", 6));
	buf_free(&b);
}

static void
test_base64url_alphabet(void **state)
{
	static const unsigned char v[] = { 0xfb, 0xff, 0xbf, 0xfb, 0xff };
	struct buf b;

	buf_init(&b);
	ms_base64_encode(&b, v, sizeof(v));
	assert_string_equal(b.data, "+/+/+/8=");
	buf_reset(&b);
	ms_base64url_encode(&b, v, sizeof(v));
	assert_string_equal(b.data, "-_-_-_8");
	buf_free(&b);
}

static void
test_hex_encode(void **state)
{
	static const unsigned char v[] = { 0x00, 0x01, 0x0f, 0x10, 0xab, 0xff };
	struct buf b;

	buf_init(&b);
	ms_hex_encode(&b, v, 0);
	assert_string_equal(b.data, "");
	ms_hex_encode(&b, v, sizeof(v));
	assert_string_equal(b.data, "00010f10abff");
	buf_free(&b);
}

/* ---- strings ---- */

static void
test_strlcpy(void **state)
{
	char d[8];

	memset(d, 'X', sizeof(d));
	assert_int_equal(ms_strlcpy(d, "hello", sizeof(d)), 5);
	assert_string_equal(d, "hello");
	/* Exactly fits: 7 chars + NUL. */
	assert_int_equal(ms_strlcpy(d, "1234567", sizeof(d)), 7);
	assert_string_equal(d, "1234567");
	/* Truncated: return value >= size signals it. */
	assert_int_equal(ms_strlcpy(d, "12345678", sizeof(d)), 8);
	assert_string_equal(d, "1234567");
	assert_true(ms_strlcpy(d, "a much longer string", sizeof(d)) >= sizeof(d));
	assert_string_equal(d, "a much ");
	assert_int_equal(ms_strlcpy(d, "", sizeof(d)), 0);
	assert_string_equal(d, "");
	assert_int_equal(ms_strlcpy(d, "abc", 1), 3);
	assert_string_equal(d, "");
	/* Size 0 writes nothing. */
	memset(d, 'X', sizeof(d));
	assert_int_equal(ms_strlcpy(d, "abc", 0), 3);
	assert_int_equal(d[0], 'X');
}

static void
test_case_helpers(void **state)
{
	char s[] = "MiXeD-Case_09 @[`{ \xc3\x84\xc3\xa4Z";

	assert_int_equal(ms_tolower('A'), 'a');
	assert_int_equal(ms_tolower('Z'), 'z');
	assert_int_equal(ms_tolower('@'), '@');
	assert_int_equal(ms_tolower('['), '[');
	assert_int_equal(ms_tolower('a'), 'a');
	assert_int_equal(ms_toupper('a'), 'A');
	assert_int_equal(ms_toupper('z'), 'Z');
	assert_int_equal(ms_toupper('`'), '`');
	assert_int_equal(ms_toupper('{'), '{');
	assert_int_equal(ms_toupper((char)0xe4), (char)0xe4);

	ms_str_lower(s);
	/* Only ASCII letters change; UTF-8 bytes are left alone. */
	assert_string_equal(s, "mixed-case_09 @[`{ \xc3\x84\xc3\xa4z");

	assert_true(ms_strcaseeq("MAIL FROM", "mail from"));
	assert_true(ms_strcaseeq("", ""));
	assert_false(ms_strcaseeq("abc", "abcd"));
	assert_false(ms_strcaseeq("abcd", "abc"));
	assert_false(ms_strcaseeq("a@", "a`"));
	assert_false(ms_strcaseeq("\xc3\x84", "\xc3\xa4"));
	assert_true(ms_strncaseeq("HELO x", "helo y", 4));
	assert_false(ms_strncaseeq("HELO x", "helo y", 6));
	assert_true(ms_strncaseeq("a", "b", 0));
	assert_true(ms_startswith_ci("STARTTLS", "starttls"));
	assert_true(ms_startswith_ci("BODY=8BITMIME", "body="));
	assert_true(ms_startswith_ci("anything", ""));
	assert_false(ms_startswith_ci("STA", "starttls"));
	assert_false(ms_startswith_ci("XSTARTTLS", "starttls"));
}

static void
test_err_ring(void **state)
{
	const char *e[8];
	int i;

	for (i = 0; i < 8; i++)
		e[i] = ms_err("error %d: %s", i, "boom");
	/* All 8 are still intact, as the header promises. */
	for (i = 0; i < 8; i++) {
		char want[32];

		(void)snprintf(want, sizeof(want), "error %d: boom", i);
		assert_string_equal(e[i], want);
	}
}

static void
test_xasprintf(void **state)
{
	char big[2000], *s;

	memset(big, 'w', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	s = xasprintf("<%s>%d", big, 5);
	assert_int_equal(strlen(s), 2 + 1999 + 1);
	assert_int_equal(s[0], '<');
	assert_string_equal(s + 2000, ">5");
	free(s);
}

/* ---- random ---- */

static bool
is_b64url(const char *s)
{
	for (; *s; s++) {
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		    (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return false;
	}
	return true;
}

static void
test_random_token(void **state)
{
	static const struct {
		size_t nbytes, len;
	} sizes[] = { { 0, 0 }, { 1, 2 }, { 2, 3 }, { 3, 4 }, { 16, 22 }, { 32, 43 }, { 64, 86 } };
	struct buf a, b;
	size_t i;

	for (i = 0; i < MS_NELEM(sizes); i++) {
		buf_init(&a);
		ms_random_token(&a, sizes[i].nbytes);
		assert_int_equal(a.len, sizes[i].len);
		assert_true(is_b64url(a.data));
		buf_free(&a);
	}
	buf_init(&a);
	buf_init(&b);
	buf_puts(&a, "sid=");
	ms_random_token(&a, 32);
	ms_random_token(&b, 32);
	assert_int_equal(a.len, 4 + 43);
	assert_memory_equal(a.data, "sid=", 4);
	assert_true(is_b64url(a.data + 4));
	assert_string_not_equal(a.data + 4, b.data);
	buf_free(&a);
	buf_free(&b);
}

static void
test_random_bytes_vary(void **state)
{
	unsigned char x[32], y[32], zero[32] = { 0 };

	ms_random(x, sizeof(x));
	ms_random(y, sizeof(y));
	assert_memory_not_equal(x, y, sizeof(x));
	assert_memory_not_equal(x, zero, sizeof(x));
	assert_true(ms_random_u64() != ms_random_u64());
}

/* ---- time ---- */

static void
date_in(const char *tz, time_t t, const char *want)
{
	struct buf b;

	assert_int_equal(setenv("TZ", tz, 1), 0);
	tzset();
	buf_init(&b);
	ms_rfc5322_date(&b, t);
	assert_string_equal(b.data, want);
	buf_free(&b);
}

static void
test_rfc5322_date(void **state)
{
	date_in("UTC", 0, "Thu, 1 Jan 1970 00:00:00 +0000");
	date_in("UTC", 1700000000, "Tue, 14 Nov 2023 22:13:20 +0000");
	date_in("UTC", 951782400, "Tue, 29 Feb 2000 00:00:00 +0000");
	date_in("UTC", 4102444799, "Thu, 31 Dec 2099 23:59:59 +0000");
	/* POSIX TZ strings: the sign is inverted from the RFC 5322 zone. */
	date_in("XYZ+5", 0, "Wed, 31 Dec 1969 19:00:00 -0500");
	date_in("ABC-5:30", 0, "Thu, 1 Jan 1970 05:30:00 +0530");
	date_in("NEG+0:30", 0, "Wed, 31 Dec 1969 23:30:00 -0030");
	assert_int_equal(setenv("TZ", "UTC", 1), 0);
	tzset();
}

static void
test_clocks(void **state)
{
	int64_t now = ms_now(), ms = ms_now_ms();
	int64_t m1 = ms_mono_ms(), m2;

	/* After 2020 and consistent with each other. */
	assert_true(now > 1577836800);
	assert_true(ms / 1000 >= now - 1 && ms / 1000 <= now + 1);
	m2 = ms_mono_ms();
	assert_true(m2 >= m1);
}

/* ---- files ---- */

static void
test_files(void **state)
{
	char dir[] = "/tmp/ms-test-util-XXXXXX";
	char path[256], file[256];
	struct buf b;
	struct stat st;
	int fd;

	assert_non_null(mkdtemp(dir));
	(void)snprintf(path, sizeof(path), "%s/a/b/c", dir);
	assert_int_equal(ms_mkdir_p(path, 0700), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	/* Existing directories are fine. */
	assert_int_equal(ms_mkdir_p(path, 0700), 0);
	assert_int_equal(ms_fsync_dir(path), 0);

	(void)snprintf(file, sizeof(file), "%s/a/f", dir);
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ms_write_all(fd, "line1\n\0bin", 10), 0);
	close(fd);
	buf_init(&b);
	assert_int_equal(ms_read_file(file, &b), 0);
	assert_int_equal(b.len, 10);
	assert_memory_equal(b.data, "line1\n\0bin", 10);
	buf_free(&b);

	/* A file where a directory should be is an error, not success. */
	errno = 0;
	assert_int_equal(ms_mkdir_p(file, 0700), -1);
	assert_int_equal(errno, ENOTDIR);
	(void)snprintf(path, sizeof(path), "%s/a/f/sub", dir);
	assert_int_equal(ms_mkdir_p(path, 0700), -1);
	errno = 0;
	assert_int_equal(ms_mkdir_p("", 0700), -1);
	assert_int_equal(errno, ENOENT);

	buf_init(&b);
	(void)snprintf(path, sizeof(path), "%s/missing", dir);
	errno = 0;
	assert_int_equal(ms_read_file(path, &b), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(b.len, 0);
	buf_free(&b);

	assert_int_equal(unlink(file), 0);
	(void)snprintf(path, sizeof(path), "%s/a/b/c", dir);
	assert_int_equal(rmdir(path), 0);
	(void)snprintf(path, sizeof(path), "%s/a/b", dir);
	assert_int_equal(rmdir(path), 0);
	(void)snprintf(path, sizeof(path), "%s/a", dir);
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

/* ---- logfmt ---- */

static void
test_lq_plain_and_quoted(void **state)
{
	assert_string_equal(lq("user@example.com"), "user@example.com");
	assert_string_equal(lq("<a@b>"), "<a@b>");
	assert_string_equal(lq(""), "\"\"");
	assert_string_equal(lq(NULL), "\"\"");
	assert_string_equal(lq("two words"), "\"two words\"");
	assert_string_equal(lq("say \"hi\""), "\"say \\\"hi\\\"\"");
	assert_string_equal(lq("k=v"), "\"k=v\"");
	assert_string_equal(lq("back\\slash"), "\"back\\\\slash\"");
	assert_string_equal(lq("tab\there"), "\"tab\\x09here\"");
}

static void
test_lq_control_bytes_cannot_forge_lines(void **state)
{
	const char *q = lq("x\r\nts=0 level=error forged=1");

	/* No raw CR/LF may reach the log line. */
	assert_null(strchr(q, '\n'));
	assert_null(strchr(q, '\r'));
	assert_string_equal(q, "\"x\\x0d\\x0ats=0 level=error forged=1\"");
	assert_string_equal(lq("\x1b[31m"), "\"\\x1b[31m\"");
	assert_string_equal(lq("del\x7f"), "\"del\\x7f\"");
	assert_string_equal(lqn("a\0b", 3), "\"a\\x00b\"");
	assert_string_equal(lqn("abcdef", 3), "abc");
	assert_string_equal(lqn("abc", 0), "\"\"");
	/* UTF-8 is quoted but kept readable. */
	assert_string_equal(lq("J\xc3\xbcrgen"), "\"J\xc3\xbcrgen\"");
}

static void
test_lq_long_values_are_cut(void **state)
{
	char s[1001], want[400];

	memset(s, 'a', sizeof(s) - 1);
	s[1000] = '\0';
	/* Exactly 300 bytes: not cut. */
	assert_int_equal(strlen(lqn(s, 300)), 300);
	assert_null(strstr(lqn(s, 300), "..."));
	/* Longer: the first 300 bytes, and a visible "..." marking the cut. */
	want[0] = '"';
	memset(want + 1, 'a', 300);
	memcpy(want + 301, "...\"", 5);
	assert_string_equal(lqn(s, 301), want);
	assert_string_equal(lq(s), want);
	s[10] = ' ';
	want[11] = ' ';
	assert_string_equal(lq(s), want);
}

static void
test_lq_worst_case_length(void **state)
{
	char s[1000], want[1300], *w = want;
	const char *q;
	size_t i;

	/* Every byte escaped to 4: must fit, and be cut at 300 input bytes. */
	memset(s, '\x01', sizeof(s));
	q = lqn(s, sizeof(s));
	*w++ = '"';
	for (i = 0; i < 300; i++) {
		memcpy(w, "\\x01", 4);
		w += 4;
	}
	memcpy(w, "...\"", 5);
	assert_int_equal(strlen(q), 1 + 1200 + 4);
	assert_string_equal(q, want);
}

static void
test_lq_ring_keeps_15_results(void **state)
{
	char ctl[400];
	int phase;

	memset(ctl, '\n', sizeof(ctl));
	/* Try two alignments in the ring so the slot before the first
	 * result is not the last one in the array. */
	for (phase = 0; phase < 2; phase++) {
		const char *first, *r[15];
		char want[16];
		int i;

		if (phase)
			(void)lq("shift");
		first = lq("first");
		for (i = 0; i < 14; i++) {
			(void)snprintf(want, sizeof(want), "v%d", i);
			r[i] = lq(want);
		}
		/* The 15th later call, with the longest possible output. */
		r[14] = lqn(ctl, sizeof(ctl));
		assert_string_equal(first, "first");
		for (i = 0; i < 14; i++) {
			(void)snprintf(want, sizeof(want), "v%d", i);
			assert_string_equal(r[i], want);
		}
		assert_int_equal(strlen(r[14]), 1 + 1200 + 4);
	}
}

static void
test_log_parse_level(void **state)
{
	enum ms_log_level l = MS_LOG_ERROR;

	assert_int_equal(log_parse_level("debug", &l), 0);
	assert_int_equal(l, MS_LOG_DEBUG);
	assert_int_equal(log_parse_level("INFO", &l), 0);
	assert_int_equal(l, MS_LOG_INFO);
	assert_int_equal(log_parse_level("warn", &l), 0);
	assert_int_equal(l, MS_LOG_WARN);
	assert_int_equal(log_parse_level("error", &l), 0);
	assert_int_equal(l, MS_LOG_ERROR);
	assert_int_equal(log_parse_level("warning", &l), -1);
	assert_int_equal(log_parse_level("", &l), -1);
	assert_int_equal(l, MS_LOG_ERROR);
}

static void
test_log_line_format(void **state)
{
	static const char line1[] = "Z level=info prog=unit cid=0123456789ab "
		"ev=rcpt rcpt=\"a b@example.com\"\n";
	static const char line2[] = "Z level=error prog=unit ev=boom\n";
	int fds[2];
	char out[1024], *p;
	ssize_t n;

	assert_int_equal(pipe(fds), 0);
	log_init("unit", MS_LOG_INFO, fds[1]);
	log_debug("c1", "ev=hidden");
	log_info("0123456789ab", "ev=rcpt rcpt=%s", lq("a b@example.com"));
	log_error(NULL, "ev=boom");
	log_init("unit", MS_LOG_INFO, 2);
	close(fds[1]);
	n = read(fds[0], out, sizeof(out) - 1);
	close(fds[0]);
	assert_true(n > 0);
	out[n] = '\0';
	/* ts=YYYY-MM-DDTHH:MM:SS.mmmZ, then the fixed keys. */
	assert_memory_equal(out, "ts=", 3);
	assert_int_equal(out[13], 'T');
	assert_true(strlen(out) > 26 + strlen(line1));
	assert_memory_equal(out + 26, line1, strlen(line1));
	p = out + 26 + strlen(line1);
	assert_memory_equal(p, "ts=", 3);
	assert_string_equal(p + 26, line2);
	assert_null(strstr(out, "hidden"));
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

static bool
is_cid(const char *s)
{
	size_t i;

	for (i = 0; i < 12; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[12] == '\0';
}

enum { CID_THREADS = 4, CIDS_PER_THREAD = 5000 };
static char cids[CID_THREADS * CIDS_PER_THREAD][13];

static void *
cid_thread(void *arg)
{
	size_t base = (size_t)(uintptr_t)arg * CIDS_PER_THREAD, i;

	for (i = 0; i < CIDS_PER_THREAD; i++)
		log_new_cid(cids[base + i], sizeof(cids[0]));
	return NULL;
}

static void
test_cid_unique(void **state)
{
	pthread_t t[CID_THREADS];
	size_t i;

	for (i = 0; i < CID_THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, cid_thread, (void *)(uintptr_t)i), 0);
	for (i = 0; i < CID_THREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	for (i = 0; i < MS_NELEM(cids); i++)
		if (!is_cid(cids[i]))
			fail_msg("bad cid \"%s\"", cids[i]);
	qsort(cids, MS_NELEM(cids), sizeof(cids[0]), cmp_str);
	for (i = 1; i < MS_NELEM(cids); i++)
		if (strcmp(cids[i - 1], cids[i]) == 0)
			fail_msg("duplicate cid %s", cids[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_u64_valid),
		cmocka_unit_test(test_parse_u64_overflow),
		cmocka_unit_test(test_parse_u64_rejects_non_digits),
		cmocka_unit_test(test_parse_u64_range),
		cmocka_unit_test(test_parse_u64n_bounded),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_parse_bool),
		cmocka_unit_test(test_base64_rfc4648_vectors),
		cmocka_unit_test(test_base64_appends),
		cmocka_unit_test(test_base64_binary_roundtrip),
		cmocka_unit_test(test_base64_decode_strict_failures),
		cmocka_unit_test(test_base64_decode_failure_leaves_no_plaintext),
		cmocka_unit_test(test_base64url_alphabet),
		cmocka_unit_test(test_hex_encode),
		cmocka_unit_test(test_strlcpy),
		cmocka_unit_test(test_case_helpers),
		cmocka_unit_test(test_err_ring),
		cmocka_unit_test(test_xasprintf),
		cmocka_unit_test(test_random_token),
		cmocka_unit_test(test_random_bytes_vary),
		cmocka_unit_test(test_rfc5322_date),
		cmocka_unit_test(test_clocks),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_lq_plain_and_quoted),
		cmocka_unit_test(test_lq_control_bytes_cannot_forge_lines),
		cmocka_unit_test(test_lq_long_values_are_cut),
		cmocka_unit_test(test_lq_worst_case_length),
		cmocka_unit_test(test_lq_ring_keeps_15_results),
		cmocka_unit_test(test_log_parse_level),
		cmocka_unit_test(test_log_line_format),
		cmocka_unit_test(test_cid_unique),
	};

	/* Dates are checked in fixed zones; keep the rest in UTC too. */
	if (setenv("TZ", "UTC", 1) != 0)
		return 1;
	tzset();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
