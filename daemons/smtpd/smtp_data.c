/* DATA transfer decoding for mailstead-smtpd: end-of-data detection, dot
 * unstuffing and the SMTP smuggling defence, as a byte-driven state machine
 * so that it behaves the same however the peer's bytes are split into TCP
 * segments (tests feed it one byte at a time). */
#include "config.h"

#include <string.h>

#include "core/util.h"
#include "smtp_data.h"

/* RFC 5321 4.1.1.4: "The mail data are terminated by a line containing
 * only a period, that is, the character sequence "<CRLF>.<CRLF>", where the
 * first <CRLF> is actually the terminator of the previous line."
 * RFC 5321 4.5.2: "When a line of mail text is received by the SMTP server,
 * it checks the line. If the line is composed of a single period, it is
 * treated as the end of mail indicator. If the first character is a period
 * and there are other characters on the line, the first character is
 * deleted."
 * RFC 5321 2.3.8: "In addition, the appearance of "bare" "CR" or "LF"
 * characters in text (i.e., either without the other) has a long history
 * of causing problems in mail implementations and applications that use
 * the mail system as a tool. SMTP client implementations MUST NOT transmit
 * these characters except when they are intended as line terminators and
 * then MUST, as indicated above, transmit them only as a <CRLF> sequence."
 *
 * Only the exact bytes CR LF "." CR LF end the data. A line start exists
 * only after CR LF: after a bare LF (or bare CR) a "." is ordinary text, so
 * "\n.\n", "\r\n.\n", "\n.\r\n" and "\r.\r" never end the message; they
 * make it a smuggling attempt which the session rejects once the real end
 * has been read. */
enum {
	ST_BOL,		/* at a line start: just after CRLF (or the DATA line) */
	ST_DOT,		/* line start, then "." */
	ST_DOT_CR,	/* line start, then ".", CR */
	ST_TEXT,	/* inside a line */
	ST_CR,		/* inside a line, a CR not yet known to start CRLF */
	ST_DONE,
};

void
smtp_data_init(struct smtp_data *d, uint64_t max_size)
{
	memset(d, 0, sizeof(*d));
	d->max_size = max_size;
	d->state = ST_BOL;
	d->in_header = true;
}

/* RFC 5322 3.6.7: received = "Received:" [1*received-token / CFWS] ";"
 * date-time CRLF, and 4.5 (obsolete syntax) allows WSP before the colon. */
static bool
is_received_line(const char *l, size_t n)
{
	size_t i;

	if (n < 9 || !ms_strncaseeq(l, "received", 8))
		return false;
	for (i = 8; i < n && (l[i] == ' ' || l[i] == '\t'); i++)
		;
	return i < n && l[i] == ':';
}

/* Follow the header section: count Received fields until the empty line. */
static void
track_header(struct smtp_data *d, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && d->in_header; i++) {
		char c = p[i];

		if (c == '\n') {
			size_t stored = d->hline_len < sizeof(d->hline) ?
				d->hline_len : sizeof(d->hline);

			if (d->hline_len == 0 || (d->hline_len == 1 && d->hline[0] == '\r'))
				d->in_header = false;
			else if (is_received_line(d->hline, stored) &&
			    d->received < UINT32_MAX)
				d->received++;
			d->hline_len = 0;
			continue;
		}
		if (d->hline_len < sizeof(d->hline))
			d->hline[d->hline_len] = c;
		if (d->hline_len < UINT32_MAX)
			d->hline_len++;
	}
}

/* Account for n message bytes and append what fits under max_size. */
static void
emit(struct smtp_data *d, struct buf *out, const char *p, size_t n)
{
	size_t fit = n;

	if (n == 0)
		return;
	if (d->in_header)
		track_header(d, p, n);
	if (d->max_size != 0) {
		if (d->size >= d->max_size)
			fit = 0;
		else if (d->max_size - d->size < n)
			fit = (size_t)(d->max_size - d->size);
		if (fit < n)
			d->too_big = true;
	}
	d->size += n;
	/* The output is always exactly the first max_size bytes, however the
	 * input was split. */
	if (out != NULL && fit > 0)
		buf_append(out, p, fit);
}

size_t
smtp_data_feed(struct smtp_data *d, const char *in, size_t n, struct buf *out)
{
	size_t i = 0;

	while (i < n && d->state != ST_DONE) {
		unsigned char c = (unsigned char)in[i];

		switch (d->state) {
		case ST_BOL:
			if (c == '.') {
				d->state = ST_DOT;
				i++;
				continue;
			}
			d->state = ST_TEXT;
			continue;	/* same byte as text */
		case ST_DOT:
			if (c == '\r') {
				d->state = ST_DOT_CR;
				i++;
				continue;
			}
			/* ".x": the leading dot is stuffing; drop it. */
			d->state = ST_TEXT;
			continue;
		case ST_DOT_CR:
			if (c == '\n') {
				d->state = ST_DONE;
				i++;
				continue;
			}
			/* ".", bare CR, more: the dot was stuffing, the CR is bare. */
			d->bare_cr = true;
			emit(d, out, "\r", 1);
			d->state = ST_TEXT;
			continue;
		case ST_CR:
			if (c == '\n') {
				emit(d, out, "\r\n", 2);
				d->state = ST_BOL;
				i++;
				continue;
			}
			d->bare_cr = true;
			emit(d, out, "\r", 1);
			d->state = ST_TEXT;
			continue;
		case ST_TEXT: {
			size_t j = i;
			unsigned char hi = 0;

			/* Copy a run of ordinary bytes at once. */
			while (j < n && in[j] != '\r' && in[j] != '\n') {
				hi |= (unsigned char)in[j];
				j++;
			}
			if (hi & 0x80)
				d->eightbit = true;
			emit(d, out, in + i, j - i);
			i = j;
			if (i == n)
				break;
			if (in[i] == '\r') {
				d->state = ST_CR;
			} else {
				/* A bare LF: text, never a line start. */
				d->bare_lf = true;
				emit(d, out, "\n", 1);
			}
			i++;
			continue;
		}
		default:
			ms_panic("smtp_data_feed: bad state %d", d->state);
		}
	}
	if (d->state == ST_DONE)
		d->done = true;
	return i;
}

const char *
smtp_data_reject_reply(const struct smtp_data *d)
{
	if (d->bare_cr || d->bare_lf)
		return "550 5.5.2 bare carriage return or linefeed in message, "
			"not allowed (SMTP smuggling)";
	if (d->too_big)
		return "552 5.3.4 message too big";
	if (d->received > SMTP_DATA_MAX_RECEIVED)
		return "554 5.4.6 too many Received headers, mail loop";
	return NULL;
}
