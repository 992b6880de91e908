/* Tests of lib/mail/mbox: splitting mbox files into messages (fed whole
 * and one byte at a time), mboxrd unquoting, CRLF files, From line dates,
 * size limits, files that are no mbox, and writing mbox with quoting. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/buf.h"
#include "mail/mbox.h"

#define MAXMSG 100

struct got {
	char msgs[8][256];
	int64_t received[8];
	bool large[8];
	size_t n;
	bool stop_after_first;
};

static int
collect(void *ctx, const char *msg, size_t len, int64_t received, size_t number, bool too_large)
{
	struct got *g = ctx;

	assert_int_equal(number, g->n + 1);
	assert_true(g->n < 8 && len < 256);
	memcpy(g->msgs[g->n], msg, len);
	g->msgs[g->n][len] = '\0';
	g->received[g->n] = received;
	g->large[g->n] = too_large;
	g->n++;
	return g->stop_after_first ? -1 : 0;
}

/* Read s whole, and again one byte at a time; both give g. */
static int
read_mbox(const char *s, struct got *g)
{
	struct mbox_reader r;
	struct got g2;
	size_t i;
	int rc, rc2 = 0;

	memset(g, 0, sizeof(*g));
	mbox_reader_init(&r, MAXMSG);
	rc = mbox_feed(&r, s, strlen(s), collect, g);
	if (rc == 0)
		rc = mbox_finish(&r, collect, g);
	mbox_reader_free(&r);

	memset(&g2, 0, sizeof(g2));
	mbox_reader_init(&r, MAXMSG);
	for (i = 0; s[i] != '\0' && rc2 == 0; i++)
		rc2 = mbox_feed(&r, s + i, 1, collect, &g2);
	if (rc2 == 0)
		rc2 = mbox_finish(&r, collect, &g2);
	mbox_reader_free(&r);
	assert_int_equal(rc, rc2);
	assert_int_equal(g->n, g2.n);
	for (i = 0; i < g->n; i++) {
		assert_string_equal(g->msgs[i], g2.msgs[i]);
		assert_int_equal(g->received[i], g2.received[i]);
		assert_int_equal(g->large[i], g2.large[i]);
	}
	return rc;
}

static void
test_split(void **state)
{
	struct got g;

	(void)state;
	assert_int_equal(read_mbox(
		"From a@example.org Thu Nov 23 00:00:00 2023\n"
		"Subject: one\n\nbody\n>From quoted\n>>From twice\nFrom not at a start\n\n"
		"From b@example.org Fri Nov 24 01:02:03 2023\n"
		"Subject: two\n\nlast line without newline", &g), 0);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.msgs[0],
		"Subject: one\n\nbody\nFrom quoted\n>From twice\nFrom not at a start\n");
	assert_int_equal(g.received[0], 1700697600);
	assert_string_equal(g.msgs[1], "Subject: two\n\nlast line without newline");
	assert_int_equal(g.received[1], 1700787723);
}

static void
test_crlf_and_blank_start(void **state)
{
	struct got g;

	(void)state;
	assert_int_equal(read_mbox("\r\n\nFrom x Thu Nov 23 00:00:00 2023\r\nA: b\r\n\r\nbody\r\n\r\n"
		"From y\r\nB: c\r\n", &g), 0);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.msgs[0], "A: b\r\n\r\nbody\r\n");
	assert_int_equal(g.received[0], 1700697600);
	assert_string_equal(g.msgs[1], "B: c\r\n");
	assert_int_equal(g.received[1], 0);	/* no date */
}

static void
test_not_mbox_and_empty(void **state)
{
	struct got g;

	(void)state;
	assert_int_equal(read_mbox("Subject: no From line\n\nFrom x\n", &g), MBOX_NOT_MBOX);
	assert_int_equal(g.n, 0);
	assert_int_equal(read_mbox("", &g), 0);
	assert_int_equal(g.n, 0);
	assert_int_equal(read_mbox("\n\n", &g), 0);
	assert_int_equal(g.n, 0);
	/* "From" without the space is no From line. */
	assert_int_equal(read_mbox("From:x\n", &g), MBOX_NOT_MBOX);
}

static void
test_too_large(void **state)
{
	char big[400];
	struct got g;
	int n;

	(void)state;
	n = snprintf(big, sizeof(big), "From a\n%0200d\n\nFrom b\nsmall\n", 0);
	assert_true(n > 0 && (size_t)n < sizeof(big));
	assert_int_equal(read_mbox(big, &g), 0);
	assert_int_equal(g.n, 2);
	assert_true(g.large[0]);
	assert_string_equal(g.msgs[0], "");
	assert_false(g.large[1]);
	assert_string_equal(g.msgs[1], "small\n");
}

static void
test_stop(void **state)
{
	struct mbox_reader r;
	struct got g;
	const char *s = "From a\n1\n\nFrom b\n2\n";

	(void)state;
	memset(&g, 0, sizeof(g));
	g.stop_after_first = true;
	mbox_reader_init(&r, MAXMSG);
	assert_int_equal(mbox_feed(&r, s, strlen(s), collect, &g), -1);
	assert_int_equal(g.n, 1);
	mbox_reader_free(&r);
}

static void
test_from_date(void **state)
{
	const char *l;

	(void)state;
	l = "From MAILER-DAEMON Thu Nov 23 00:00:00 2023";
	assert_int_equal(mbox_from_date(l, strlen(l)), 1700697600);
	l = "From x Mon Jan  1 12:00:00 2024";
	assert_int_equal(mbox_from_date(l, strlen(l)), 1704110400);
	l = "From x yesterday";
	assert_int_equal(mbox_from_date(l, strlen(l)), 0);
	assert_int_equal(mbox_from_date("From", 4), 0);
	l = "From x Thu Nov 23 00:00:00 2023 plus a lot of trailing text beyond the buffer size here";
	assert_int_equal(mbox_from_date(l, strlen(l)), 0);
}

static void
test_append_roundtrip(void **state)
{
	const char *m = "Subject: q\r\n\r\nFrom here\r\n>From there\r\nend";
	struct buf out;
	struct got g;

	(void)state;
	buf_init(&out);
	mbox_append(&out, m, strlen(m), 1700697600);
	assert_string_equal(out.data, "From MAILER-DAEMON Thu Nov 23 00:00:00 2023\n"
		"Subject: q\n\n>From here\n>>From there\nend\n\n");
	mbox_append(&out, "", 0, 0);
	assert_int_equal(read_mbox(out.data, &g), 0);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.msgs[0], "Subject: q\n\nFrom here\n>From there\nend\n");
	assert_string_equal(g.msgs[1], "");
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_crlf_and_blank_start),
		cmocka_unit_test(test_not_mbox_and_empty),
		cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_stop),
		cmocka_unit_test(test_from_date),
		cmocka_unit_test(test_append_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
