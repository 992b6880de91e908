/* DKIM canonicalization (RFC 6376 3.4) and the header hash input (5.4):
 * the simple and relaxed algorithms for header fields and bodies, written
 * into a sink that hashes (and may stop after l= octets). */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "core/util.h"
#include "mailauth/dkim_private.h"

void
dkim_sink_write(struct dkim_sink *s, const void *p, size_t n)
{
	size_t pass = n;

	s->total += n;
	if (s->limited) {
		if ((uint64_t)pass > s->limit)
			pass = (size_t)s->limit;
		s->limit -= pass;
	}
	if (pass == 0)
		return;
	if (s->md != NULL)
		EVP_DigestUpdate(s->md, p, pass);
	if (s->out != NULL)
		buf_append(s->out, p, pass);
}

/* The digests are fetched from the provider once: OpenSSL 3 looks
 * EVP_sha256() up again (under locks) on every use otherwise. */
static EVP_MD *md_sha1, *md_sha256;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void
md_init(void)
{
	md_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
	md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

const EVP_MD *
dkim_hash_md(enum dkim_hash h)
{
	pthread_once(&md_once, md_init);
	if (h == DKIM_HASH_SHA1)
		return md_sha1 != NULL ? md_sha1 : EVP_sha1();
	return md_sha256 != NULL ? md_sha256 : EVP_sha256();
}

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

int
dkim_split_message(const char *msg, size_t len, size_t *hdr_len, const char **body)
{
	size_t i;

	if (len >= 2 && msg[0] == '\r' && msg[1] == '\n') {
		*hdr_len = 0;
		*body = msg + 2;
		return 0;
	}
	for (i = 0; i + 4 <= len; i++) {
		if (msg[i] == '\r' && memcmp(msg + i, "\r\n\r\n", 4) == 0) {
			*hdr_len = i + 2;
			*body = msg + i + 4;
			return 0;
		}
	}
	return -1;
}

/* The end of the line at p (the CRLF or LF, or end) and the start of the
 * next one. */
static const char *
next_line(const char *p, const char *end, const char **content_end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	if (nl == NULL) {
		*content_end = end;
		return end;
	}
	*content_end = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
	return nl + 1;
}

/*
 * RFC 5322 2.2: field = field-name ":" unstructured CRLF, folded lines
 * starting with WSP continue the previous field. Obsolete syntax (4.5.8)
 * allows WSP before the colon, which simple canonicalization keeps.
 */
void
dkim_fields_parse(const char *hdr, size_t len, struct dkim_fields *f)
{
	const char *p = hdr, *end = hdr + len;
	size_t cap = 0;

	f->v = NULL;
	f->n = 0;
	while (p < end) {
		const char *ce, *next, *colon, *ne;
		struct dkim_field *fld;

		next = next_line(p, end, &ce);
		if (is_wsp(*p) || ce == p) {
			p = next;
			continue;
		}
		colon = memchr(p, ':', (size_t)(ce - p));
		if (colon == NULL) {
			p = next;
			continue;
		}
		ne = colon;
		while (ne > p && is_wsp(ne[-1]))
			ne--;
		/* Extend over continuation lines. */
		while (next < end && is_wsp(*next))
			next = next_line(next, end, &ce);
		if (ne == p) {
			p = next;
			continue;
		}
		if (f->n == cap) {
			cap = cap ? cap * 2 : 16;
			f->v = xrealloc(f->v, cap * sizeof(*f->v));
		}
		fld = &f->v[f->n++];
		fld->name = p;
		fld->namelen = (size_t)(ne - p);
		fld->value = colon + 1;
		fld->valuelen = (size_t)(ce - (colon + 1));
		fld->raw = p;
		fld->rawlen = (size_t)(ce - p);
		p = next;
	}
}

void
dkim_fields_free(struct dkim_fields *f)
{
	free(f->v);
	f->v = NULL;
	f->n = 0;
}

/*
 * RFC 6376 3.4.2 relaxed header canonicalization: lower-case the name,
 * unfold, reduce WSP runs to one SP, drop WSP at the end of the value and
 * around the colon.
 */
static void
relaxed_header(struct dkim_sink *s, const struct dkim_field *f)
{
	struct buf b;
	const char *v = f->value, *end = f->value + f->valuelen;
	bool space = false;
	size_t i;

	buf_init(&b);
	for (i = 0; i < f->namelen; i++)
		buf_putc(&b, ms_tolower(f->name[i]));
	buf_putc(&b, ':');
	while (v < end && (is_wsp(*v) || *v == '\r' || *v == '\n'))
		v++;
	for (; v < end; v++) {
		if (*v == '\r' && v + 1 < end && v[1] == '\n')
			continue; /* unfolding: the CRLF goes, the WSP stays */
		if (*v == '\n')
			continue;
		if (is_wsp(*v)) {
			space = true;
			continue;
		}
		if (space)
			buf_putc(&b, ' ');
		space = false;
		buf_putc(&b, *v);
	}
	dkim_sink_write(s, b.data, b.len);
	buf_free(&b);
}

void
dkim_canon_header(struct dkim_sink *s, bool simple, const struct dkim_field *f, bool crlf)
{
	if (simple)
		dkim_sink_write(s, f->raw, f->rawlen);
	else
		relaxed_header(s, f);
	if (crlf)
		dkim_sink_write(s, "\r\n", 2);
}

/*
 * RFC 6376 3.4.3 simple: drop empty lines at the end; an empty body is
 * one CRLF. 3.4.4 relaxed: additionally drop WSP at line ends and reduce
 * WSP runs to one SP; an empty body stays empty (erratum 1384). Both add
 * a CRLF to a last line that lacks one.
 */
/* Canonical body output is gathered in a staging buffer and handed to the
 * sink (the digest) in large pieces: relaxed canonicalization produces a
 * piece per word, and one EVP_DigestUpdate call per word costs more than
 * hashing the bytes. */
struct stage {
	struct dkim_sink *sink;
	size_t n;
	char buf[16384];
};

static void
stage_flush(struct stage *st)
{
	if (st->n > 0)
		dkim_sink_write(st->sink, st->buf, st->n);
	st->n = 0;
}

static void
stage_put(struct stage *st, const char *p, size_t n)
{
	if (st->n + n > sizeof(st->buf)) {
		stage_flush(st);
		if (n > sizeof(st->buf)) {
			dkim_sink_write(st->sink, p, n);
			return;
		}
	}
	memcpy(st->buf + st->n, p, n);
	st->n += n;
}

void
dkim_canon_body(struct dkim_sink *s, bool simple, const char *body, size_t len)
{
	const char *p = body, *end = body + len;
	uint64_t empty = 0;
	bool any = false;
	struct stage st;

	st.sink = s;
	st.n = 0;
	while (p < end) {
		const char *le = p, *next, *last;

		/* Lines end at CRLF only; a bare CR or LF is line content. */
		for (;;) {
			le = memchr(le, '\r', (size_t)(end - le));
			if (le == NULL || (le + 1 < end && le[1] == '\n'))
				break;
			le++;
		}
		if (le == NULL) {
			le = end;
			next = end;
		} else {
			next = le + 2;
		}
		last = le;
		if (!simple)
			while (last > p && is_wsp(last[-1]))
				last--;
		if (last == p) {
			empty++;
			p = next;
			continue;
		}
		for (; empty > 0; empty--)
			stage_put(&st, "\r\n", 2);
		any = true;
		if (simple) {
			stage_put(&st, p, (size_t)(last - p));
		} else {
			const char *q = p;

			while (q < last) {
				const char *r = q;

				if (is_wsp(*q)) {
					while (q < last && is_wsp(*q))
						q++;
					stage_put(&st, " ", 1);
					continue;
				}
				while (r < last && !is_wsp(*r))
					r++;
				stage_put(&st, q, (size_t)(r - q));
				q = r;
			}
		}
		stage_put(&st, "\r\n", 2);
		p = next;
	}
	if (simple && !any)
		stage_put(&st, "\r\n", 2);
	stage_flush(&st);
}

void
dkim_hash_headers(struct dkim_sink *s, bool simple, const struct dkim_fields *f,
	char *const *hfields, size_t nhfields, const struct dkim_field *sigfield,
	size_t b_raw_start, size_t b_raw_end)
{
	bool *used = xcalloc(f->n ? f->n : 1, sizeof(bool));
	struct dkim_field sf;
	struct buf raw;
	size_t i, j, voff;

	for (i = 0; i < nhfields; i++) {
		size_t want = strlen(hfields[i]);

		for (j = f->n; j-- > 0;) {
			if (used[j] || f->v[j].namelen != want ||
			    !ms_strncaseeq(f->v[j].name, hfields[i], want))
				continue;
			used[j] = true;
			dkim_canon_header(s, simple, &f->v[j], true);
			break;
		}
	}
	free(used);

	/* The signature field itself, b= value and its whitespace removed. */
	voff = (size_t)(sigfield->value - sigfield->raw);
	buf_init(&raw);
	buf_append(&raw, sigfield->raw, voff + b_raw_start);
	buf_append(&raw, sigfield->value + b_raw_end, sigfield->valuelen - b_raw_end);
	sf = *sigfield;
	sf.raw = raw.data;
	sf.rawlen = raw.len;
	sf.name = raw.data + (sigfield->name - sigfield->raw);
	sf.value = raw.data + voff;
	sf.valuelen = sigfield->valuelen - (b_raw_end - b_raw_start);
	dkim_canon_header(s, simple, &sf, false);
	buf_free(&raw);
}
