/* Unit tests for lib/core/buf: growth, binary safety, printf, and the
 * operations that shorten, detach or wipe a buffer. */
#include "config.h"

#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/util.h"

/* Run fn(b) in a child and report whether it died of SIGABRT (ms_panic). */
static bool
aborts(void (*fn)(struct buf *), struct buf *b)
{
	pid_t pid;
	int status;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (freopen("/dev/null", "w", stderr) == NULL)
			_exit(3);
		fn(b);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

/* Deterministic bytes covering all 256 values, NULs included. */
static void
fill_pattern(unsigned char *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)((i * 131 + seed + (i >> 8)) & 0xff);
}

static void
test_init_is_empty_string(void **state)
{
	struct buf b;

	buf_init(&b);
	assert_non_null(b.data);
	assert_int_equal(b.len, 0);
	assert_true(b.cap >= 1);
	assert_string_equal(b.data, "");
	buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
}

static void
test_grow_byte_by_byte(void **state)
{
	struct buf b;
	size_t i;

	buf_init(&b);
	for (i = 0; i < 10000; i++) {
		buf_putc(&b, (char)('a' + i % 26));
		assert_int_equal(b.len, i + 1);
		assert_true(b.cap > b.len);
		assert_int_equal(b.data[b.len], '\0');
	}
	for (i = 0; i < 10000; i++)
		assert_int_equal(b.data[i], 'a' + i % 26);
	buf_free(&b);
}

static void
test_append_binary_with_nuls(void **state)
{
	static const char bin[] = { 'a', '\0', 'b', '\0', '\0', 'c', '\xff', '\0' };
	struct buf b;

	buf_init(&b);
	buf_append(&b, bin, sizeof(bin));
	buf_append(&b, bin, sizeof(bin));
	assert_int_equal(b.len, 2 * sizeof(bin));
	assert_memory_equal(b.data, bin, sizeof(bin));
	assert_memory_equal(b.data + sizeof(bin), bin, sizeof(bin));
	/* Still terminated after the counted bytes for C string users. */
	assert_int_equal(b.data[b.len], '\0');
	/* strlen stops at the first embedded NUL; len does not. */
	assert_int_equal(strlen(b.data), 1);
	buf_free(&b);
}

static void
test_append_empty_is_noop(void **state)
{
	struct buf b;

	buf_init(&b);
	buf_puts(&b, "keep");
	buf_append(&b, NULL, 0);
	buf_append(&b, "", 0);
	buf_puts(&b, "");
	assert_int_equal(b.len, 4);
	assert_string_equal(b.data, "keep");
	buf_free(&b);
}

static void
test_puts_putc_nul_char(void **state)
{
	struct buf b;

	buf_init(&b);
	buf_puts(&b, "ab");
	buf_putc(&b, '\0');
	buf_puts(&b, "cd");
	assert_int_equal(b.len, 5);
	assert_memory_equal(b.data, "ab\0cd", 6);
	buf_free(&b);
}

static void
test_put_u64_matches_printf(void **state)
{
	static const uint64_t vals[] = { 0, 1, 9, 10, 99, 100, 4294967295u, 4294967296u,
		9223372036854775807u, 18446744073709551615u };
	struct buf b, want;
	size_t i;

	(void)state;
	buf_init(&b);
	buf_init(&want);
	for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		buf_put_u64(&b, vals[i]);
		buf_putc(&b, ' ');
		buf_printf(&want, "%llu ", (unsigned long long)vals[i]);
	}
	assert_string_equal(b.data, want.data);
	assert_int_equal(b.len, strlen(b.data));
	buf_free(&b);
	buf_free(&want);
}

static void
test_printf_simple_and_appends(void **state)
{
	struct buf b;

	buf_init(&b);
	buf_puts(&b, "250-");
	buf_printf(&b, "%s %d %05u %c %%", "SIZE", -7, 42u, 'x');
	assert_string_equal(b.data, "250-SIZE -7 00042 x %");
	assert_int_equal(b.len, strlen("250-SIZE -7 00042 x %"));
	buf_printf(&b, "%s", "");
	assert_int_equal(b.len, strlen("250-SIZE -7 00042 x %"));
	buf_free(&b);
}

static void
test_printf_beyond_capacity(void **state)
{
	struct buf b;
	char big[5000];

	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_init(&b);
	buf_puts(&b, "pre:");
	buf_printf(&b, "[%s]%d", big, 12345);
	assert_int_equal(b.len, 4 + 1 + 4999 + 1 + 5);
	assert_memory_equal(b.data, "pre:[", 5);
	assert_memory_equal(b.data + 5, big, 4999);
	assert_string_equal(b.data + 5 + 4999, "]12345");
	assert_true(b.cap > b.len);
	buf_free(&b);
}

/* Every output length around the capacity boundaries, from every fill
 * level: catches off-by-one in the vsnprintf retry. */
static void
test_printf_every_boundary(void **state)
{
	char src[300], want[600];
	size_t pre, k;

	memset(src, 'q', sizeof(src));
	for (pre = 0; pre < 140; pre += 7) {
		for (k = 0; k < 280; k++) {
			struct buf b;

			buf_init(&b);
			memset(want, 'p', pre);
			buf_append(&b, want, pre);
			buf_printf(&b, "%.*s|", (int)k, src);
			memcpy(want + pre, src, k);
			want[pre + k] = '|';
			want[pre + k + 1] = '\0';
			assert_int_equal(b.len, pre + k + 1);
			assert_string_equal(b.data, want);
			buf_free(&b);
		}
	}
}

static void __attribute__((format(printf, 2, 3)))
vwrap(struct buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
}

static void
test_vprintf_reuses_args_after_growth(void **state)
{
	struct buf b;
	char big[1000];

	/* The retry after growing must see the same arguments again. */
	memset(big, 'm', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_init(&b);
	vwrap(&b, "%d:%s:%d", 7, big, 8);
	assert_int_equal(b.len, 2 + 999 + 2);
	assert_memory_equal(b.data, "7:", 2);
	assert_string_equal(b.data + 2 + 999, ":8");
	buf_free(&b);
}

static void
test_truncate(void **state)
{
	struct buf b;

	buf_init(&b);
	buf_puts(&b, "hello world");
	buf_truncate(&b, 11);
	assert_string_equal(b.data, "hello world");
	buf_truncate(&b, 5);
	assert_int_equal(b.len, 5);
	assert_string_equal(b.data, "hello");
	buf_puts(&b, "!");
	assert_string_equal(b.data, "hello!");
	buf_truncate(&b, 0);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	buf_free(&b);
}

static void
test_consume(void **state)
{
	struct buf b;

	buf_init(&b);
	buf_puts(&b, "EHLO a\r\nQUIT\r\n");
	buf_consume(&b, 0);
	assert_string_equal(b.data, "EHLO a\r\nQUIT\r\n");
	buf_consume(&b, 8);
	assert_int_equal(b.len, 6);
	assert_string_equal(b.data, "QUIT\r\n");
	buf_puts(&b, "X");
	assert_string_equal(b.data, "QUIT\r\nX");
	buf_consume(&b, b.len);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	buf_free(&b);
}

static void
test_consume_binary_large(void **state)
{
	enum { N = 100000 };
	unsigned char *src = malloc(N);
	struct buf b;

	assert_non_null(src);
	fill_pattern(src, N, 3);
	buf_init(&b);
	buf_append(&b, src, N);
	buf_consume(&b, 12345);
	assert_int_equal(b.len, N - 12345);
	assert_memory_equal(b.data, src + 12345, N - 12345);
	assert_int_equal(b.data[b.len], '\0');
	buf_free(&b);
	free(src);
}

static void
truncate_too_far(struct buf *b)
{
	buf_truncate(b, b->len + 1);
}

static void
consume_too_far(struct buf *b)
{
	buf_consume(b, b->len + 1);
}

static void
test_shorten_beyond_length_aborts(void **state)
{
	struct buf b;

	buf_init(&b);
	buf_puts(&b, "abc");
	assert_true(aborts(truncate_too_far, &b));
	assert_true(aborts(consume_too_far, &b));
	/* The parent's buffer is untouched. */
	assert_string_equal(b.data, "abc");
	buf_free(&b);
}

static void
test_steal(void **state)
{
	struct buf b;
	char *s;

	buf_init(&b);
	buf_printf(&b, "%s-%d", "token", 99);
	s = buf_steal(&b);
	assert_string_equal(s, "token-99");
	/* The buffer is empty, initialized and independent of s. */
	assert_non_null(b.data);
	assert_true(b.data != s);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	buf_puts(&b, "next");
	assert_string_equal(b.data, "next");
	assert_string_equal(s, "token-99");
	free(s);
	buf_free(&b);
}

static void
test_steal_empty(void **state)
{
	struct buf b;
	char *s;

	buf_init(&b);
	s = buf_steal(&b);
	assert_string_equal(s, "");
	free(s);
	buf_free(&b);
}

static void
test_wipe_zeroes_whole_allocation(void **state)
{
	struct buf b;
	size_t i;

	buf_init(&b);
	/* Grow, then shorten: the secret's tail lies beyond len. */
	for (i = 0; i < 500; i++)
		buf_putc(&b, 'S');
	buf_truncate(&b, 10);
	buf_wipe(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	for (i = 0; i < b.cap; i++)
		assert_int_equal(b.data[i], 0);
	/* Still usable. */
	buf_puts(&b, "ok");
	assert_string_equal(b.data, "ok");
	buf_free(&b);
}

static void
test_reset_keeps_allocation(void **state)
{
	struct buf b;
	char *p;
	size_t cap;

	buf_init(&b);
	buf_reserve(&b, 1000);
	buf_puts(&b, "x");
	p = b.data;
	cap = b.cap;
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	assert_ptr_equal(b.data, p);
	assert_int_equal(b.cap, cap);
	buf_free(&b);
}

static void
test_reserve_then_append_does_not_move(void **state)
{
	struct buf b;
	char chunk[3000];
	char *p;

	memset(chunk, 'r', sizeof(chunk));
	buf_init(&b);
	buf_puts(&b, "head");
	buf_reserve(&b, sizeof(chunk));
	assert_true(b.cap >= b.len + sizeof(chunk) + 1);
	p = b.data;
	buf_append(&b, chunk, sizeof(chunk));
	assert_ptr_equal(b.data, p);
	assert_int_equal(b.len, 4 + sizeof(chunk));
	assert_memory_equal(b.data, "head", 4);
	assert_memory_equal(b.data + 4, chunk, sizeof(chunk));
	buf_free(&b);
}

static void
test_large_appends(void **state)
{
	enum { N = 8 * 1024 * 1024 };
	unsigned char *src = malloc(N);
	struct buf b;
	size_t off = 0, step = 1;

	assert_non_null(src);
	fill_pattern(src, N, 11);
	buf_init(&b);
	/* Odd, growing chunk sizes so reallocations land mid-chunk. */
	while (off < N) {
		size_t n = step < N - off ? step : N - off;

		buf_append(&b, src + off, n);
		off += n;
		step = step * 3 + 7;
	}
	assert_int_equal(b.len, (size_t)N);
	assert_memory_equal(b.data, src, N);
	assert_int_equal(b.data[N], '\0');
	/* A single append of the whole thing onto the end. */
	buf_append(&b, src, N);
	assert_int_equal(b.len, 2 * (size_t)N);
	assert_memory_equal(b.data + N, src, N);
	buf_free(&b);
	free(src);
}

static void
test_reuse_after_free(void **state)
{
	struct buf b;

	buf_init(&b);
	buf_puts(&b, "one");
	buf_free(&b);
	buf_free(&b);	/* freeing twice is harmless */
	buf_init(&b);
	buf_puts(&b, "two");
	assert_string_equal(b.data, "two");
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_is_empty_string),
		cmocka_unit_test(test_grow_byte_by_byte),
		cmocka_unit_test(test_append_binary_with_nuls),
		cmocka_unit_test(test_append_empty_is_noop),
		cmocka_unit_test(test_puts_putc_nul_char),
		cmocka_unit_test(test_put_u64_matches_printf),
		cmocka_unit_test(test_printf_simple_and_appends),
		cmocka_unit_test(test_printf_beyond_capacity),
		cmocka_unit_test(test_printf_every_boundary),
		cmocka_unit_test(test_vprintf_reuses_args_after_growth),
		cmocka_unit_test(test_truncate),
		cmocka_unit_test(test_consume),
		cmocka_unit_test(test_consume_binary_large),
		cmocka_unit_test(test_shorten_beyond_length_aborts),
		cmocka_unit_test(test_steal),
		cmocka_unit_test(test_steal_empty),
		cmocka_unit_test(test_wipe_zeroes_whole_allocation),
		cmocka_unit_test(test_reset_keeps_allocation),
		cmocka_unit_test(test_reserve_then_append_does_not_move),
		cmocka_unit_test(test_large_appends),
		cmocka_unit_test(test_reuse_after_free),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
