/* Sequence sets: parse, resolve "*", map onto a mailbox view, format. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "imap_seqset.h"

/*
 * RFC 9051 section 9:
 *   sequence-set    = (seq-number / seq-range) ["," sequence-set]
 *   seq-range       = seq-number ":" seq-number
 *                       ; two seq-number values and all values between
 *                       ; these two regardless of order.
 *   seq-number      = nz-number / "*"
 *   nz-number       = digit-nz *DIGIT    ; (0 < n < 4,294,967,296)
 *   search-sequence-set = sequence-set / "$"   (RFC 5182)
 */

#define MAX_RANGES 100000

void
imap_seqset_init(struct imap_seqset *set)
{
	memset(set, 0, sizeof(*set));
}

void
imap_seqset_free(struct imap_seqset *set)
{
	free(set->r);
	memset(set, 0, sizeof(*set));
}

/* seq-number at s[*i]; returns 0 or -1. */
static int
parse_number(const char *s, size_t n, size_t *i, uint32_t *v)
{
	uint64_t x = 0;
	size_t start = *i;

	if (*i < n && s[*i] == '*') {
		(*i)++;
		*v = IMAP_SEQ_STAR;
		return 0;
	}
	if (*i >= n || s[*i] < '1' || s[*i] > '9')
		return -1;
	while (*i < n && s[*i] >= '0' && s[*i] <= '9') {
		x = x * 10 + (uint64_t)(s[*i] - '0');
		if (x > UINT32_MAX || *i - start > 10)
			return -1;
		(*i)++;
	}
	*v = (uint32_t)x;
	return 0;
}

int
imap_seqset_parse(const char *s, size_t n, bool allow_saved,
	struct imap_seqset *set, const char **error_r)
{
	size_t i = 0;

	set->n = 0;
	set->saved = false;
	if (n == 1 && s[0] == '$') {
		if (!allow_saved) {
			*error_r = "Saved search result ($) not supported here";
			return -1;
		}
		set->saved = true;
		return 0;
	}
	if (n == 0) {
		*error_r = "Empty sequence set";
		return -1;
	}
	while (i < n) {
		struct imap_seqrange r;

		if (parse_number(s, n, &i, &r.lo) < 0) {
			*error_r = "Invalid sequence set";
			return -1;
		}
		r.hi = r.lo;
		if (i < n && s[i] == ':') {
			i++;
			if (parse_number(s, n, &i, &r.hi) < 0) {
				*error_r = "Invalid sequence set";
				return -1;
			}
		}
		if (i < n) {
			if (s[i] != ',' || i + 1 == n) {
				*error_r = "Invalid sequence set";
				return -1;
			}
			i++;
		}
		if (set->n == MAX_RANGES) {
			*error_r = "Sequence set too long";
			return -1;
		}
		if (set->n == set->cap) {
			set->cap = set->cap ? set->cap * 2 : 8;
			set->r = xrealloc(set->r, set->cap * sizeof(*set->r));
		}
		set->r[set->n++] = r;
	}
	return 0;
}

static void
resolve_one(const struct imap_seqrange *in, uint32_t star, struct imap_seqrange *out)
{
	uint32_t a = in->lo == IMAP_SEQ_STAR ? star : in->lo;
	uint32_t b = in->hi == IMAP_SEQ_STAR ? star : in->hi;

	out->lo = a < b ? a : b;
	out->hi = a < b ? b : a;
}

bool
imap_seqset_contains(const struct imap_seqset *set, uint32_t v, uint32_t star)
{
	size_t i;

	for (i = 0; i < set->n; i++) {
		struct imap_seqrange r;

		resolve_one(&set->r[i], star, &r);
		if (v >= r.lo && v <= r.hi)
			return true;
	}
	return false;
}

static int
cmp_range(const void *a, const void *b)
{
	const struct imap_seqrange *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return 0;
}

struct imap_seqrange *
imap_seqset_resolve(const struct imap_seqset *set, uint32_t star, size_t *n_r)
{
	struct imap_seqrange *v;
	size_t i, m = 0;

	*n_r = 0;
	if (set->n == 0)
		return NULL;
	v = xmalloc(set->n * sizeof(*v));
	for (i = 0; i < set->n; i++)
		resolve_one(&set->r[i], star, &v[i]);
	qsort(v, set->n, sizeof(*v), cmp_range);
	for (i = 0; i < set->n; i++) {
		/* merge overlapping and adjacent ranges */
		if (m > 0 && (uint64_t)v[i].lo <= (uint64_t)v[m - 1].hi + 1) {
			if (v[i].hi > v[m - 1].hi)
				v[m - 1].hi = v[i].hi;
		} else {
			v[m++] = v[i];
		}
	}
	*n_r = m;
	return v;
}

int
imap_seqset_to_indexes(const struct imap_seqset *set, uint32_t count,
	uint32_t **idx_r, size_t *n_r)
{
	struct imap_seqrange *r;
	size_t nr, i, total = 0, k = 0;
	uint32_t *idx;

	*idx_r = NULL;
	*n_r = 0;
	r = imap_seqset_resolve(set, count, &nr);
	for (i = 0; i < nr; i++) {
		if (r[i].lo == 0 || r[i].hi > count) {
			free(r);
			return -1;
		}
		total += (size_t)(r[i].hi - r[i].lo) + 1;
	}
	idx = total ? xmalloc(total * sizeof(*idx)) : NULL;
	for (i = 0; i < nr; i++) {
		uint64_t v;

		for (v = r[i].lo; v <= r[i].hi; v++)
			idx[k++] = (uint32_t)(v - 1);
	}
	free(r);
	*idx_r = idx;
	*n_r = k;
	return 0;
}

void
imap_seqset_uids_to_indexes(const struct imap_seqset *set, const uint32_t *uids,
	size_t n, uint32_t **idx_r, size_t *n_r)
{
	struct imap_seqrange *r;
	size_t nr, i = 0, j = 0, k = 0;
	uint32_t *idx = NULL;

	*idx_r = NULL;
	*n_r = 0;
	if (n == 0)
		return;
	r = imap_seqset_resolve(set, uids[n - 1], &nr);
	/* Both lists ascending: one merge pass. */
	while (i < n && j < nr) {
		if (uids[i] < r[j].lo) {
			i++;
		} else if (uids[i] > r[j].hi) {
			j++;
		} else {
			if (idx == NULL)
				idx = xmalloc(n * sizeof(*idx));
			idx[k++] = (uint32_t)i;
			i++;
		}
	}
	free(r);
	*idx_r = idx;
	*n_r = k;
}

void
imap_seqset_uidlist_to_indexes(const uint32_t *list, size_t nlist, const uint32_t *uids,
	size_t n, uint32_t **idx_r, size_t *n_r)
{
	size_t i = 0, j = 0, k = 0;
	uint32_t *idx = NULL;

	*idx_r = NULL;
	*n_r = 0;
	/* Both ascending: one merge pass. */
	while (i < n && j < nlist) {
		if (uids[i] < list[j]) {
			i++;
		} else if (uids[i] > list[j]) {
			j++;
		} else {
			if (idx == NULL)
				idx = xmalloc((nlist < n ? nlist : n) * sizeof(*idx));
			idx[k++] = (uint32_t)i;
			i++;
			j++;
		}
	}
	*idx_r = idx;
	*n_r = k;
}

void
imap_seqset_format(struct buf *out, const uint32_t *v, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t j = i;

		while (j + 1 < n && v[j + 1] == v[j] + 1)
			j++;
		if (i > 0)
			buf_putc(out, ',');
		if (j == i)
			buf_printf(out, "%u", v[i]);
		else
			buf_printf(out, "%u:%u", v[i], v[j]);
		i = j + 1;
	}
}
