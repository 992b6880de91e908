/* mbox reading and writing (mbox.h). RFC 4155 section 2: messages start
 * with a line "From " after a blank line (or at the start of the file), and
 * end with a blank line. The mboxrd convention undoes quoting: a line
 * ">From ", ">>From ", ... loses one ">" (the writer added one). */
#include "config.h"

#include <string.h>
#include <time.h>

#include "mail/mbox.h"

void
mbox_reader_init(struct mbox_reader *r, size_t max_msg)
{
	memset(r, 0, sizeof(*r));
	r->max_msg = max_msg;
	r->prev_blank = true;
	buf_init(&r->pending);
	buf_init(&r->msg);
}

void
mbox_reader_free(struct mbox_reader *r)
{
	buf_free(&r->pending);
	buf_free(&r->msg);
}

static bool
is_from(const char *p, size_t n)
{
	return n >= 5 && memcmp(p, "From ", 5) == 0;
}

/* The message so far is complete: drop the blank separator line (LF or
 * CRLF) and hand it over. */
static int
emit(struct mbox_reader *r, mbox_msg_fn *fn, void *ctx)
{
	struct buf *m = &r->msg;

	if (r->too_large)
		return fn(ctx, "", 0, r->received, r->nmsgs, true);
	if ((m->len == 1 && m->data[0] == '\n') || (m->len == 2 && memcmp(m->data, "\r\n", 2) == 0))
		buf_truncate(m, 0);	/* an empty message: only the separator */
	else if (m->len >= 2 && m->data[m->len - 1] == '\n' && m->data[m->len - 2] == '\n')
		buf_truncate(m, m->len - 1);
	else if (m->len >= 3 && memcmp(m->data + m->len - 3, "\n\r\n", 3) == 0)
		buf_truncate(m, m->len - 2);
	return fn(ctx, m->data, m->len, r->received, r->nmsgs, false);
}

/* One line, with its "\n" unless it is the last line of the file. */
static int
line(struct mbox_reader *r, const char *p, size_t n, mbox_msg_fn *fn, void *ctx)
{
	size_t content = n, k;

	if (content > 0 && p[content - 1] == '\n')
		content--;
	if (content > 0 && p[content - 1] == '\r')
		content--;
	if (r->prev_blank && is_from(p, content)) {
		if (r->in_msg && emit(r, fn, ctx) < 0)
			return -1;
		buf_reset(&r->msg);
		r->in_msg = true;
		r->too_large = false;
		r->nmsgs++;
		r->received = mbox_from_date(p, content);
	} else if (!r->in_msg) {
		if (content != 0)
			return MBOX_NOT_MBOX;
	} else if (!r->too_large) {
		for (k = 0; k < n && p[k] == '>'; k++)
			;
		if (k > 0 && is_from(p + k, n - k))
			buf_append(&r->msg, p + 1, n - 1);
		else
			buf_append(&r->msg, p, n);
		if (r->msg.len > r->max_msg) {
			r->too_large = true;
			buf_free(&r->msg);
			buf_init(&r->msg);
		}
	}
	r->prev_blank = content == 0;
	return 0;
}

int
mbox_feed(struct mbox_reader *r, const char *p, size_t n, mbox_msg_fn *fn, void *ctx)
{
	const char *end = p + n;
	int rc;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t ln = nl != NULL ? (size_t)(nl - p) + 1 : (size_t)(end - p);

		if (nl == NULL || r->pending.len > 0) {
			/* A line in pieces. Beyond the message limit only its
			 * start matters (a From line?): what is kept is
			 * already too large for a message. */
			if (r->pending.len <= r->max_msg + 8)
				buf_append(&r->pending, p, ln);
			p += ln;
			if (nl == NULL)
				return 0;
			rc = line(r, r->pending.data, r->pending.len, fn, ctx);
			buf_reset(&r->pending);
		} else {
			rc = line(r, p, ln, fn, ctx);
			p += ln;
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

int
mbox_finish(struct mbox_reader *r, mbox_msg_fn *fn, void *ctx)
{
	int rc;

	if (r->pending.len > 0) {
		rc = line(r, r->pending.data, r->pending.len, fn, ctx);
		buf_reset(&r->pending);
		if (rc < 0)
			return rc;
	}
	if (!r->in_msg)
		return 0;
	r->in_msg = false;
	return emit(r, fn, ctx);
}

int64_t
mbox_from_date(const char *l, size_t n)
{
	const char *p = l + 5, *end = l + n;
	char tmp[64];
	struct tm tm;
	time_t t;

	if (n < 5)
		return 0;
	while (p < end && *p != ' ')	/* the sender */
		p++;
	while (p < end && *p == ' ')
		p++;
	if ((size_t)(end - p) >= sizeof(tmp))
		return 0;
	memcpy(tmp, p, (size_t)(end - p));
	tmp[end - p] = '\0';
	memset(&tm, 0, sizeof(tm));
	/* Some writers add a time zone or put the year elsewhere; those
	 * dates are not read (the message then gets the import time). */
	p = strptime(tmp, "%a %b %d %H:%M:%S %Y", &tm);
	if (p == NULL || tm.tm_year < 70 || tm.tm_year > 1100)
		return 0;
	t = timegm(&tm);
	return t < 0 ? 0 : (int64_t)t;
}

void
mbox_append(struct buf *out, const char *msg, size_t n, int64_t received)
{
	char date[64];
	time_t t = (time_t)received;
	struct tm tm;
	size_t i = 0;

	if (gmtime_r(&t, &tm) == NULL || strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y", &tm) == 0)
		date[0] = '\0';
	buf_printf(out, "From MAILER-DAEMON %s\n", date);
	while (i < n) {
		const char *p = msg + i, *nl = memchr(p, '\n', n - i);
		size_t ln = nl != NULL ? (size_t)(nl - p) : n - i, k = 0;

		while (k < ln && p[k] == '>')
			k++;
		if (ln - k >= 5 && memcmp(p + k, "From ", 5) == 0)
			buf_putc(out, '>');
		buf_append(out, p, ln > 0 && p[ln - 1] == '\r' ? ln - 1 : ln);
		buf_putc(out, '\n');
		i += ln + (nl != NULL ? 1 : 0);
	}
	buf_putc(out, '\n');
}
