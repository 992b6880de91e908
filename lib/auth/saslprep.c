/* SASLprep (RFC 4013): the mapping and prohibition steps of the stringprep
 * profile, with the code point ranges of RFC 3454 appendices B.1 and C.
 * See saslprep.h for what is deliberately left out (NFKC, bidi). */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "auth/saslprep.h"
#include "core/util.h"

struct range {
	uint32_t lo, hi;
};

/* RFC 3454 C.1.2, non-ASCII space characters: mapped to U+0020. */
static const struct range spaces[] = {
	{ 0x00A0, 0x00A0 }, { 0x1680, 0x1680 }, { 0x2000, 0x200B },
	{ 0x202F, 0x202F }, { 0x205F, 0x205F }, { 0x3000, 0x3000 },
};

/* RFC 3454 B.1, commonly mapped to nothing. */
static const struct range nothing[] = {
	{ 0x00AD, 0x00AD }, { 0x034F, 0x034F }, { 0x1806, 0x1806 },
	{ 0x180B, 0x180D }, { 0x200B, 0x200D }, { 0x2060, 0x2060 },
	{ 0xFE00, 0xFE0F }, { 0xFEFF, 0xFEFF },
};

/* RFC 4013 section 2.3 prohibited output: C.2.1, C.2.2, C.3, C.4 (the
 * nFFFE/nFFFF pairs are tested separately), C.5, C.6, C.7, C.8, C.9. */
static const struct range prohibited[] = {
	{ 0x0000, 0x001F }, { 0x007F, 0x009F },		/* C.2.1, C.2.2 */
	{ 0x0340, 0x0341 },				/* C.8 */
	{ 0x06DD, 0x06DD }, { 0x070F, 0x070F }, { 0x180E, 0x180E },
	{ 0x200C, 0x200F },				/* C.2.2, C.8 */
	{ 0x2028, 0x2029 }, { 0x202A, 0x202E },		/* C.2.2, C.8 */
	{ 0x2060, 0x2063 }, { 0x206A, 0x206F },		/* C.2.2, C.8 */
	{ 0x2FF0, 0x2FFB },				/* C.7 */
	{ 0xD800, 0xDFFF },				/* C.5 */
	{ 0xE000, 0xF8FF },				/* C.3 */
	{ 0xFDD0, 0xFDEF },				/* C.4 */
	{ 0xFEFF, 0xFEFF }, { 0xFFF9, 0xFFFD },		/* C.2.2, C.6 */
	{ 0x1D173, 0x1D17A },				/* C.2.2 */
	{ 0xE0001, 0xE0001 }, { 0xE0020, 0xE007F },	/* C.9 */
	{ 0xF0000, 0xFFFFD }, { 0x100000, 0x10FFFD },	/* C.3 */
};

static bool
in_table(uint32_t c, const struct range *t, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (c >= t[i].lo && c <= t[i].hi)
			return true;
	return false;
}

/* Decode one UTF-8 sequence at s[*i..n); returns the code point or -1 for
 * malformed, overlong, surrogate or out-of-range encodings. */
static int32_t
utf8_next(const unsigned char *s, size_t n, size_t *i)
{
	uint32_t c = s[*i], min;
	size_t len, k;

	if (c < 0x80) {
		(*i)++;
		return (int32_t)c;
	} else if ((c & 0xE0) == 0xC0) {
		len = 2;
		c &= 0x1F;
		min = 0x80;
	} else if ((c & 0xF0) == 0xE0) {
		len = 3;
		c &= 0x0F;
		min = 0x800;
	} else if ((c & 0xF8) == 0xF0) {
		len = 4;
		c &= 0x07;
		min = 0x10000;
	} else {
		return -1;
	}
	if (n - *i < len)
		return -1;
	for (k = 1; k < len; k++) {
		if ((s[*i + k] & 0xC0) != 0x80)
			return -1;
		c = c << 6 | (s[*i + k] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return -1;
	*i += len;
	return (int32_t)c;
}

int
saslprep(const char *in, size_t len, struct buf *out, const char **error_r)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0, start = out->len, prev;

	while (i < len) {
		int32_t c;

		prev = i;
		c = utf8_next(s, len, &i);
		if (c < 0) {
			*error_r = "invalid UTF-8";
			goto fail;
		}
		if (in_table((uint32_t)c, spaces, MS_NELEM(spaces))) {
			buf_putc(out, ' ');
			continue;
		}
		if (in_table((uint32_t)c, nothing, MS_NELEM(nothing)))
			continue;
		if (in_table((uint32_t)c, prohibited, MS_NELEM(prohibited)) ||
		    (c & 0xFFFE) == 0xFFFE) {
			*error_r = c < 0x20 || c == 0x7F ? "control character not allowed"
							 : "prohibited character";
			goto fail;
		}
		buf_append(out, in + prev, i - prev);
	}
	if (out->len == start) {
		*error_r = "empty string";
		goto fail;
	}
	return 0;
fail:
	/* The caller may be preparing a password: do not leave a prefix. */
	explicit_bzero(out->data + start, out->len - start);
	buf_truncate(out, start);
	return -1;
}
