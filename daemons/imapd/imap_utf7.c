/* Modified UTF-7 (RFC 3501 section 5.1.3): printable US-ASCII except "&"
 * stands for itself, "&" is "&-", anything else is "&" + modified BASE64
 * (RFC 2045 alphabet with "," for "/", no padding) of UTF-16BE + "-". */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "imap_utf7.h"

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/* Decode one UTF-8 sequence at s[*i]; invalid input gives U+FFFD. */
static uint32_t
utf8_next(const unsigned char *s, size_t n, size_t *i)
{
	uint32_t c = s[*i], cp;
	size_t len, k;

	if (c < 0x80) {
		(*i)++;
		return c;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		(*i)++;
		return 0xfffd;
	}
	if (*i + len > n) {
		(*i)++;
		return 0xfffd;
	}
	for (k = 1; k < len; k++) {
		if ((s[*i + k] & 0xc0) != 0x80) {
			(*i)++;
			return 0xfffd;
		}
		cp = (cp << 6) | (s[*i + k] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff)) {
		(*i)++;
		return 0xfffd;
	}
	*i += len;
	return cp;
}

bool
imap_utf8_valid(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		size_t start = i;

		/* utf8_next steps over an invalid byte alone; a real U+FFFD
		 * takes three. */
		if (utf8_next(u, n, &i) == 0xfffd && i - start == 1)
			return false;
	}
	return true;
}

static void
utf8_put(struct buf *out, uint32_t cp)
{
	char t[4];

	if (cp < 0x80) {
		buf_putc(out, (char)cp);
	} else if (cp < 0x800) {
		t[0] = (char)(0xc0 | (cp >> 6));
		t[1] = (char)(0x80 | (cp & 0x3f));
		buf_append(out, t, 2);
	} else if (cp < 0x10000) {
		t[0] = (char)(0xe0 | (cp >> 12));
		t[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		t[2] = (char)(0x80 | (cp & 0x3f));
		buf_append(out, t, 3);
	} else {
		t[0] = (char)(0xf0 | (cp >> 18));
		t[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		t[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		t[3] = (char)(0x80 | (cp & 0x3f));
		buf_append(out, t, 4);
	}
}

struct b64state {
	uint32_t bits;
	unsigned nbits;
	bool open;
};

static void
put16(struct buf *out, struct b64state *st, uint32_t u)
{
	st->bits = (st->bits << 16) | (u & 0xffff);
	st->nbits += 16;
	while (st->nbits >= 6) {
		st->nbits -= 6;
		buf_putc(out, b64[(st->bits >> st->nbits) & 0x3f]);
	}
}

static void
close_run(struct buf *out, struct b64state *st)
{
	if (!st->open)
		return;
	if (st->nbits > 0)
		buf_putc(out, b64[(st->bits << (6 - st->nbits)) & 0x3f]);
	buf_putc(out, '-');
	st->bits = 0;
	st->nbits = 0;
	st->open = false;
}

void
imap_utf7_encode(struct buf *out, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	struct b64state st = { 0, 0, false };
	size_t i = 0;

	while (i < n) {
		uint32_t cp = utf8_next(u, n, &i);

		if (cp >= 0x20 && cp <= 0x7e) {
			close_run(out, &st);
			if (cp == '&')
				buf_append(out, "&-", 2);
			else
				buf_putc(out, (char)cp);
			continue;
		}
		if (!st.open) {
			buf_putc(out, '&');
			st.open = true;
		}
		if (cp >= 0x10000) {
			cp -= 0x10000;
			put16(out, &st, 0xd800 | (cp >> 10));
			put16(out, &st, 0xdc00 | (cp & 0x3ff));
		} else {
			put16(out, &st, cp);
		}
	}
	close_run(out, &st);
}

static int
b64val(unsigned char c)
{
	const char *p;

	if (c == '\0')
		return -1;
	p = strchr(b64, c);
	return p ? (int)(p - b64) : -1;
}

int
imap_utf7_decode(struct buf *out, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		uint32_t bits = 0, high = 0;
		unsigned nbits = 0;
		bool any = false;

		if (u[i] != '&') {
			buf_putc(out, (char)u[i++]);
			continue;
		}
		i++;
		if (i < n && u[i] == '-') {
			buf_putc(out, '&');
			i++;
			continue;
		}
		for (;;) {
			int v;

			if (i >= n)
				return -1;	/* no closing "-" */
			if (u[i] == '-') {
				i++;
				break;
			}
			v = b64val(u[i++]);
			if (v < 0)
				return -1;
			bits = (bits << 6) | (uint32_t)v;
			nbits += 6;
			if (nbits >= 16) {
				uint32_t unit;

				nbits -= 16;
				unit = (bits >> nbits) & 0xffff;
				any = true;
				if (high != 0) {
					if (unit < 0xdc00 || unit > 0xdfff)
						return -1;
					utf8_put(out, 0x10000 + ((high - 0xd800) << 10) +
						(unit - 0xdc00));
					high = 0;
				} else if (unit >= 0xd800 && unit <= 0xdbff) {
					high = unit;
				} else if (unit >= 0xdc00 && unit <= 0xdfff) {
					return -1;
				} else if (unit >= 0x20 && unit <= 0x7e) {
					return -1;	/* must be written directly */
				} else {
					utf8_put(out, unit);
				}
			}
		}
		/* leftover bits must be zero padding, and the run non-empty */
		if (!any || high != 0 || nbits >= 6 || (bits & ((1u << nbits) - 1)) != 0)
			return -1;
	}
	return 0;
}
