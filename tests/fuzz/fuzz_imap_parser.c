/* Fuzz target for the IMAP command parser of mailstead-imapd. The input is
 * fed whole, one byte at a time and in input-derived pieces; the three
 * event transcripts must agree. Every atom argument also goes through the
 * sequence-set parser (with "$", RFC 5182) and its mappings, and every
 * string through modified UTF-7. The first input byte picks options (small
 * limits, refusing literals, line mode after commands) so those paths are
 * reached. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/util.h"
#include "imapd/imap_parser.h"
#include "imapd/imap_seqset.h"
#include "imapd/imap_utf7.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_imap_parser: check failed: %s (line %d)\n", #cond, __LINE__); \
		abort(); \
	} \
} while (0)

struct opts {
	struct imap_parser_limits lim;
	uint64_t refuse_above;
	bool line_mode;
	bool stream;		/* stream literals of 3 bytes or more */
	bool refuse_fatal;	/* refusals are IMAP_PERR_FATAL */
};

/* Streamed literal data of the current command, in stream_id order. */
struct streams {
	struct buf data[64];
	size_t n;
	struct buf *cur;	/* the one being streamed; NULL: none */
};

static void
stream_fn(void *ctx, const void *data, size_t len)
{
	struct streams *st = ctx;

	CHECK(st->cur != NULL && len > 0);
	buf_append(st->cur, data, len);
}

static void
fuzz_seqset(const char *s, size_t n)
{
	static const uint32_t uids[] = { 1, 2, 7, 100, 4294967295u };
	struct imap_seqset set;
	const char *err = NULL;
	uint32_t *idx;
	size_t nidx, i, nr;
	struct imap_seqrange *r;
	struct buf b;

	imap_seqset_init(&set);
	if (imap_seqset_parse(s, n, true, &set, &err) < 0) {
		CHECK(err != NULL);
		imap_seqset_free(&set);
		return;
	}
	if (set.saved) {
		/* "$": the saved UIDs against a view; both ascending */
		static const uint32_t saved[] = { 2, 7, 8, 4294967295u };

		CHECK(set.n == 0);
		imap_seqset_uidlist_to_indexes(saved, MS_NELEM(saved), uids, MS_NELEM(uids),
			&idx, &nidx);
		CHECK(nidx == 3);
		for (i = 0; i < nidx; i++)
			CHECK(i == 0 || idx[i] > idx[i - 1]);
		free(idx);
	} else {
		if (imap_seqset_to_indexes(&set, 50, &idx, &nidx) == 0) {
			for (i = 0; i < nidx; i++) {
				CHECK(idx[i] < 50);
				CHECK(i == 0 || idx[i] > idx[i - 1]);
				CHECK(imap_seqset_contains(&set, idx[i] + 1, 50));
			}
		}
		free(idx);
		imap_seqset_uids_to_indexes(&set, uids, MS_NELEM(uids), &idx, &nidx);
		for (i = 0; i < nidx; i++) {
			CHECK(idx[i] < MS_NELEM(uids));
			CHECK(imap_seqset_contains(&set, uids[idx[i]], uids[MS_NELEM(uids) - 1]));
		}
		free(idx);
		/* resolved ranges are sorted, disjoint and format back */
		r = imap_seqset_resolve(&set, 1000, &nr);
		buf_init(&b);
		for (i = 0; i < nr; i++) {
			CHECK(r[i].lo <= r[i].hi);
			CHECK(i == 0 || (uint64_t)r[i].lo > (uint64_t)r[i - 1].hi + 1);
			if (i == 0 && r[i].hi - r[i].lo < 1000) {
				uint32_t v[1000];
				size_t k;

				for (k = 0; k <= r[i].hi - r[i].lo; k++)
					v[k] = r[i].lo + (uint32_t)k;
				imap_seqset_format(&b, v, k);
				CHECK(b.len > 0);
			}
		}
		buf_free(&b);
		free(r);
	}
	imap_seqset_free(&set);
}

static void
fuzz_utf7(const char *s, size_t n)
{
	struct buf a, b;
	size_t i;

	buf_init(&a);
	buf_init(&b);
	if (imap_utf7_decode(&a, s, n) == 0) {
		imap_utf7_encode(&b, a.data, a.len);
		for (i = 0; i < b.len; i++)
			CHECK(b.data[i] >= 0x20 && b.data[i] < 0x7f);
		buf_reset(&a);
		CHECK(imap_utf7_decode(&a, b.data, b.len) == 0);
	}
	buf_free(&a);
	buf_free(&b);
}

static void
dump(struct buf *out, const struct imap_arg *a, size_t n, unsigned depth,
	const struct streams *st)
{
	size_t i;

	CHECK(depth <= 33);
	for (i = 0; i < n; i++) {
		buf_printf(out, " %d:", (int)a[i].type);
		if (a[i].type == IMAP_ARG_LIST) {
			buf_putc(out, '(');
			dump(out, a[i].u.list, a[i].len, depth + 1, st);
			buf_putc(out, ')');
			continue;
		}
		if (a[i].type == IMAP_ARG_STREAM) {
			const struct buf *b;

			CHECK(a[i].stream_id >= 1 && a[i].stream_id <= st->n);
			b = &st->data[a[i].stream_id - 1];
			CHECK(b->len == a[i].len && a[i].u.str[0] == '\0');
			CHECK(a[i].has_nul == (b->len > 0 && memchr(b->data, '\0', b->len) != NULL));
			buf_printf(out, "S%u:", a[i].stream_id);
			buf_append(out, b->data, b->len);
			continue;
		}
		CHECK(a[i].u.str != NULL && a[i].u.str[a[i].len] == '\0');
		CHECK(a[i].has_nul == (memchr(a[i].u.str, '\0', a[i].len) != NULL));
		buf_append(out, a[i].u.str, a[i].len);
		if (a[i].type == IMAP_ARG_ATOM)
			fuzz_seqset(a[i].u.str, a[i].len);
		if (!a[i].has_nul)
			fuzz_utf7(a[i].u.str, a[i].len);
	}
}

/* chunk 0: sizes from the input itself */
static char *
run(const uint8_t *in, size_t n, size_t chunk, const struct opts *o)
{
	struct imap_parser *p = imap_parser_new(&o->lim);
	struct streams st;
	struct buf out;
	size_t off = 0, k = 0, i;
	char *t;

	memset(&st, 0, sizeof(st));
	for (i = 0; i < MS_NELEM(st.data); i++)
		buf_init(&st.data[i]);
	buf_init(&out);
	for (;;) {
		size_t len = chunk ? chunk : (size_t)(in[k++ % n] % 17) + 1, used = 0;
		enum imap_parse_result ev;
		const struct imap_command *cmd;
		const char *reason;

		if (len > n - off)
			len = n - off;
		ev = imap_parser_feed(p, in + off, len, &used);
		CHECK(used <= len);
		off += used;
		cmd = imap_parser_command(p);
		if (ev == IMAP_PARSE_MORE) {
			CHECK(used == len);
			if (off >= n)
				break;
		} else if (ev == IMAP_PARSE_LITERAL) {
			uint64_t sz = imap_parser_literal_size(p);

			CHECK(sz <= o->lim.max_literal || sz <= o->lim.max_stream);
			CHECK(cmd->nargs == 0 || cmd->args != NULL);
			buf_printf(&out, "LIT %llu %d %u %d %zu\n", (unsigned long long)sz,
				imap_parser_literal_sync(p), imap_parser_literal_depth(p),
				imap_parser_literal8(p), cmd->nargs);
			st.cur = NULL;
			if (o->refuse_above && sz > o->refuse_above)
				imap_parser_literal_refuse(p, o->refuse_fatal ? IMAP_PERR_FATAL :
					IMAP_PERR_TOOBIG, "refused");
			else if (o->stream && sz >= 3 && st.n < MS_NELEM(st.data)) {
				st.cur = &st.data[st.n++];
				buf_reset(st.cur);
				imap_parser_literal_stream(p, stream_fn, &st);
			}
		} else if (ev == IMAP_PARSE_COMMAND) {
			CHECK(cmd->tag != NULL && cmd->name != NULL);
			CHECK(imap_parser_idle(p));
			buf_printf(&out, "CMD %s %s", cmd->tag, cmd->name);
			dump(&out, cmd->args, cmd->nargs, 0, &st);
			buf_putc(&out, '\n');
			st.n = 0;
			st.cur = NULL;
			if (o->line_mode)
				imap_parser_want_line(p);
		} else if (ev == IMAP_PARSE_LINE) {
			size_t ll;
			const char *line = imap_parser_line(p, &ll);

			CHECK(ll <= o->lim.max_line);
			buf_puts(&out, "LINE ");
			buf_append(&out, line, ll);
			buf_putc(&out, '\n');
		} else {
			enum imap_parse_error kind = imap_parser_error(p, &reason);

			CHECK(kind != IMAP_PERR_NONE && reason != NULL);
			buf_printf(&out, "ERR %s %d %s\n", cmd->tag ? cmd->tag : "*", (int)kind,
				reason);
			st.n = 0;
			st.cur = NULL;
			if (kind == IMAP_PERR_FATAL)
				break;
		}
	}
	imap_parser_free(&p);
	for (i = 0; i < MS_NELEM(st.data); i++)
		buf_free(&st.data[i]);
	t = buf_steal(&out);
	buf_free(&out);
	return t;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct opts o;
	char *a, *b, *c;

	if (size < 1)
		return 0;
	memset(&o, 0, sizeof(o));
	o.lim.max_line = (data[0] & 1) ? 64 : 4096;
	o.lim.max_literal = (data[0] & 2) ? 16 : 65536;
	o.lim.max_depth = (data[0] & 4) ? 3 : 32;
	o.lim.max_args = (data[0] & 8) ? 8 : 10000;
	o.refuse_above = (data[0] & 16) ? 4 : 0;
	o.line_mode = (data[0] & 32) != 0;
	/* streaming: literals up to 1 MiB are announced for it */
	o.stream = (data[0] & 64) != 0;
	o.lim.max_stream = o.stream ? 1 << 20 : 0;
	o.refuse_fatal = (data[0] & 128) != 0;
	data++;
	size--;
	if (size == 0)
		return 0;
	a = run(data, size, size, &o);
	b = run(data, size, 1, &o);
	c = run(data, size, 0, &o);
	CHECK(strcmp(a, b) == 0);
	CHECK(strcmp(a, c) == 0);
	free(a);
	free(b);
	free(c);
	/* the whole input as one sequence set */
	fuzz_seqset((const char *)data, size);
	return 0;
}
