/* Fuzz target for the RFC 5256 pieces of mailstead-imapd (imap_sortkey.c,
 * imap_thread.c): base subjects, sent dates, message-ID lists and both
 * threading algorithms. The input is a list of header sections separated
 * by empty lines, one message each (Subject, Date, Message-ID, References,
 * In-Reply-To). Base subject extraction must be idempotent, and both
 * algorithms must print every message exactly once in well-formed thread
 * lists (RFC 5256 section 5). */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/util.h"
#include "mail/header.h"
#include "imapd/imap_sortkey.h"
#include "imapd/imap_thread.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_imap_thread: check failed: %s (line %d)\n", #cond, __LINE__); \
		abort(); \
	} \
} while (0)

#define MAX_MSGS 200

struct fmsg {
	char *subject, *msgid;
	char **refs;
	size_t nrefs;
};

/*
 * thread-list    = "(" (thread-members / thread-nested) ")"
 * thread-members = nz-number *(SP nz-number) [SP thread-nested]
 * thread-nested  = 2*thread-list
 * Marks each number seen in seen[1..n]; fails on anything else.
 */
static const char *
check_list(const char *p, bool *seen, size_t n, unsigned depth)
{
	size_t nested = 0;
	bool numbers = false;

	CHECK(depth < 100000);
	CHECK(*p == '(');
	p++;
	while (*p >= '1' && *p <= '9') {
		unsigned long v = strtoul(p, (char **)&p, 10);

		CHECK(v >= 1 && v <= n && !seen[v]);
		seen[v] = true;
		numbers = true;
		if (*p == ' ')
			p++;
		else
			break;
	}
	while (*p == '(') {
		p = check_list(p, seen, n, depth + 1);
		nested++;
	}
	CHECK(*p == ')');
	/* thread-nested needs two lists; members alone need no nesting. */
	CHECK(nested == 0 ? numbers : nested >= 2);
	return p + 1;
}

static void
check_output(const struct buf *out, size_t n)
{
	bool *seen = xcalloc(n + 1, sizeof(*seen));
	const char *p = out->data;
	size_t i;

	CHECK(n > 0 || out->len == 0);
	while (*p != '\0')
		p = check_list(p, seen, n, 0);
	for (i = 1; i <= n; i++)
		CHECK(seen[i]);
	free(seen);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fmsg fm[MAX_MSGS];
	struct imap_thread_msg tm[MAX_MSGS];
	const char *s = (const char *)data, *end = s + size;
	struct buf v, b, out;
	size_t n = 0, i;

	buf_init(&v);
	buf_init(&b);
	buf_init(&out);
	while (s < end && n < MAX_MSGS) {
		const char *sep = memmem(s, (size_t)(end - s), "\n\n", 2);
		size_t len = sep != NULL ? (size_t)(sep - s) + 1 : (size_t)(end - s);
		char **ids = NULL;
		bool reply = false;
		int64_t t = 0;

		memset(&fm[n], 0, sizeof(fm[n]));
		memset(&tm[n], 0, sizeof(tm[n]));
		buf_reset(&b);
		if (mail_header_get(s, len, "Subject", &v))
			imap_sortkey_base_subject(v.data, v.len, &b, &reply);
		/* Base subject extraction is idempotent on its own output
		 * (less the decoding, which the output has had). */
		if (memchr(b.data, '=', b.len) == NULL) {
			struct buf again;
			bool r2;

			buf_init(&again);
			imap_sortkey_base_subject(b.data, b.len, &again, &r2);
			CHECK(again.len == b.len && memcmp(again.data, b.data, b.len) == 0);
			CHECK(!r2);
			buf_free(&again);
		}
		imap_sortkey_casemap(b.data);
		fm[n].subject = buf_steal(&b);
		buf_reset(&v);
		if (mail_header_get(s, len, "Date", &v))
			(void)imap_sortkey_date(v.data, &t);
		buf_reset(&v);
		if (mail_header_get(s, len, "Message-ID", &v) &&
		    imap_thread_msgids(v.data, v.len, 1, false, &ids, 0) == 1)
			fm[n].msgid = ids[0];
		free(ids);
		buf_reset(&v);
		if (mail_header_get(s, len, "References", &v))
			fm[n].nrefs = imap_thread_msgids(v.data, v.len, 20, true, &fm[n].refs, 0);
		buf_reset(&v);
		if (fm[n].nrefs == 0 && mail_header_get(s, len, "In-Reply-To", &v))
			fm[n].nrefs = imap_thread_msgids(v.data, v.len, 1, false, &fm[n].refs, 0);
		buf_reset(&v);
		CHECK(fm[n].nrefs <= 20);
		tm[n].id = (uint32_t)n + 1;
		tm[n].date = t;
		tm[n].subject = fm[n].subject;
		tm[n].reply = reply;
		tm[n].msgid = fm[n].msgid;
		tm[n].refs = fm[n].refs;
		tm[n].nrefs = fm[n].nrefs;
		n++;
		s += sep != NULL ? len + 1 : len;
	}
	imap_thread_references(tm, n, &out);
	check_output(&out, n);
	buf_reset(&out);
	imap_thread_orderedsubject(tm, n, &out);
	check_output(&out, n);
	for (i = 0; i < n; i++) {
		free(fm[i].subject);
		free(fm[i].msgid);
		imap_thread_msgids_free(fm[i].refs, fm[i].nrefs);
	}
	buf_free(&out);
	buf_free(&b);
	buf_free(&v);
	return 0;
}
