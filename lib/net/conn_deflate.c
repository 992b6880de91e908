/* COMPRESS=DEFLATE (RFC 4978) as a layer of struct conn: raw deflate
 * (RFC 1951, no zlib or gzip framing) in both directions, between the
 * line buffering above and TLS or the socket below, so a protocol keeps
 * reading lines and writing replies as before. The zlib state exists only
 * on connections that turned compression on. */
#include "config.h"

#define ZLIB_CONST
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/log.h"
#include "core/util.h"
#include "net/conn_private.h"

/*
 * RFC 4978 section 4: "The windowBits value must be in the range -8 to -15,
 * or else deflateInit2() uses the wrong format." The negative value selects
 * raw deflate. We inflate with the largest window (-15) because the peer
 * may compress with any window up to 32 KiB. For our own output a smaller
 * window is allowed and costs little on IMAP traffic, whose repetitions
 * (response syntax, header names) are close together: zlib's deflate state
 * takes (1 << (windowBits + 2)) + (1 << (memLevel + 9)) bytes, 256 KiB with
 * the defaults 15/8 and 64 KiB with 13/6, and it stays allocated for as long
 * as the connection lives (the hash heads, 2 << (memLevel + 7) bytes, are
 * cleared at once, so they are resident even on an idle connection).
 * Level 5: section 4 suggests 1 to 5 for a server (most of the gain, a
 * fraction of the CPU of the higher levels).
 */
#define DEFLATE_LEVEL 5
#define DEFLATE_WINDOW_BITS 13
#define DEFLATE_MEM_LEVEL 6
#define INFLATE_WINDOW_BITS 15

/* Compressed input is read from the transport in pieces of this size, and
 * compressed output written in pieces of this size. */
#define DEFLATE_IBUF 8192
#define DEFLATE_OBUF 8192

/* zlib's avail_in/avail_out are unsigned int: larger writes go in pieces. */
#define DEFLATE_MAX_CHUNK (1u << 30)

struct conn_deflate {
	z_stream in;		/* inflate: the peer's data */
	z_stream out;		/* deflate: ours */
	unsigned char *ibuf;	/* compressed input not inflated yet */
	size_t icap, ipos, ilen;
	/* Not in the (zeroed) struct: untouched pages stay unresident. */
	unsigned char *obuf;
	/* The last inflate filled the caller's buffer, so zlib may hold more
	 * output even with no input left. */
	bool out_full;
	/* Bytes were compressed without a flush since the last sync flush. */
	bool unflushed;
	/* The peer ended its deflate stream (final block). */
	bool ended;
	unsigned long long zread, zwritten;
};

int
conn_deflate_start(struct conn *c, const char **error_r)
{
	struct conn_deflate *z;
	size_t buffered;
	int r;

	if (c->zs != NULL) {
		*error_r = "compression is already active";
		return -1;
	}
	if (c->fd < 0 || c->failed) {
		*error_r = "connection already failed";
		return -1;
	}
	/* RFC 4978 section 3: the server "MUST compress starting immediately
	 * after the CRLF which ends the tagged OK response": what is queued
	 * (that OK) goes out uncompressed. */
	if (c->wbuf.len > 0 && conn_flush(c) < 0) {
		*error_r = "writing before compression failed";
		return -1;
	}
	z = xcalloc(1, sizeof(*z));
	/* Input read ahead came after the command that turned compression
	 * on: it is compressed already. (A client must wait for the OK
	 * before sending more, RFC 4978 section 3, but one that does not is
	 * served as the data says.) */
	buffered = c->rlen - c->rpos;
	z->icap = buffered > DEFLATE_IBUF ? buffered : DEFLATE_IBUF;
	z->ibuf = xmalloc(z->icap);
	z->obuf = xmalloc(DEFLATE_OBUF);
	if (buffered > 0)
		memcpy(z->ibuf, c->rbuf + c->rpos, buffered);
	z->ilen = buffered;
	z->zread = z->ilen;
	c->rpos = c->rlen = 0;

	r = inflateInit2(&z->in, -INFLATE_WINDOW_BITS);
	if (r != Z_OK) {
		*error_r = ms_err("inflateInit2: %s", z->in.msg ? z->in.msg : zError(r));
		free(z->ibuf);
		free(z->obuf);
		free(z);
		return -1;
	}
	r = deflateInit2(&z->out, DEFLATE_LEVEL, Z_DEFLATED, -DEFLATE_WINDOW_BITS,
		DEFLATE_MEM_LEVEL, Z_DEFAULT_STRATEGY);
	if (r != Z_OK) {
		*error_r = ms_err("deflateInit2: %s", z->out.msg ? z->out.msg : zError(r));
		(void)inflateEnd(&z->in);
		free(z->ibuf);
		free(z->obuf);
		free(z);
		return -1;
	}
	c->zs = z;
	return 0;
}

bool
conn_deflate_active(const struct conn *c)
{
	return c->zs != NULL;
}

void
conn_deflate_counts(const struct conn *c, unsigned long long *read_r,
	unsigned long long *written_r)
{
	*read_r = c->zs != NULL ? c->zs->zread : 0;
	*written_r = c->zs != NULL ? c->zs->zwritten : 0;
}

ssize_t
conn_deflate_read(struct conn *c, void *p, size_t n, bool block)
{
	struct conn_deflate *z = c->zs;

	if (c->failed)
		return -1;
	if (n > DEFLATE_MAX_CHUNK)
		n = DEFLATE_MAX_CHUNK;
	for (;;) {
		size_t produced, consumed, avail;
		int r;

		if (z->ended) {
			/* Nothing can follow the final block: what the
			 * peer sends after it is not read. */
			c->eof = true;
			return 0;
		}
		if (z->ipos == z->ilen && !z->out_full) {
			ssize_t got = conn_raw_read(c, z->ibuf, z->icap, block);

			if (got <= 0)
				return got;
			z->ipos = 0;
			z->ilen = (size_t)got;
			z->zread += (unsigned long long)got;
		}
		avail = z->ilen - z->ipos;
		if (avail > DEFLATE_MAX_CHUNK)
			avail = DEFLATE_MAX_CHUNK;
		z->in.next_in = z->ibuf + z->ipos;
		z->in.avail_in = (uInt)avail;
		z->in.next_out = p;
		z->in.avail_out = (uInt)n;
		r = inflate(&z->in, Z_SYNC_FLUSH);
		consumed = avail - z->in.avail_in;
		produced = n - z->in.avail_out;
		z->ipos += consumed;
		z->out_full = z->in.avail_out == 0;
		if (r == Z_STREAM_END) {
			z->ended = true;
			z->out_full = false;
		} else if (r != Z_OK && r != Z_BUF_ERROR) {
			/* Z_DATA_ERROR (not deflate data), Z_MEM_ERROR,
			 * Z_NEED_DICT (impossible in raw mode). */
			log_debug(c->cid, "ev=inflate-error reason=%s",
				lq(z->in.msg ? z->in.msg : zError(r)));
			c->failed = true;
			return -1;
		}
		if (produced > 0)
			return (ssize_t)produced;
		if (consumed == 0 && z->ipos < z->ilen && !z->ended) {
			/* No progress with input and room for output:
			 * zlib's contract says this cannot happen. */
			log_debug(c->cid, "ev=inflate-error reason=\"no progress\"");
			c->failed = true;
			return -1;
		}
		/* Input that inflates to nothing (block headers, the empty
		 * block of a sync flush): read more. */
		z->out_full = false;
	}
}

int
conn_deflate_write(struct conn *c, const void *p, size_t n, bool flush)
{
	struct conn_deflate *z = c->zs;
	const unsigned char *s = p;

	if (c->failed)
		return -1;
	if (n == 0 && !(flush && z->unflushed))
		return 0;
	do {
		size_t take = n > DEFLATE_MAX_CHUNK ? DEFLATE_MAX_CHUNK : n;
		/* Z_SYNC_FLUSH ends with an empty stored block, so the
		 * peer can inflate everything up to here without waiting
		 * for more: every batch of replies ends with one. */
		int mode = (flush && take == n) ? Z_SYNC_FLUSH : Z_NO_FLUSH;

		z->out.next_in = s;
		z->out.avail_in = (uInt)take;
		/* zlib's loop: call again while it fills the whole output
		 * buffer; then all input is taken (and, with a flush,
		 * all output produced). */
		do {
			size_t have;
			int r;

			z->out.next_out = z->obuf;
			z->out.avail_out = DEFLATE_OBUF;
			r = deflate(&z->out, mode);
			if (r == Z_STREAM_ERROR)
				ms_panic("deflate: inconsistent stream state");
			have = DEFLATE_OBUF - z->out.avail_out;
			if (have > 0) {
				if (conn_raw_write(c, z->obuf, have) < 0)
					return -1;
				z->zwritten += have;
			}
		} while (z->out.avail_out == 0);
		s += take;
		n -= take;
		if (take > 0)
			z->unflushed = true;
		if (mode == Z_SYNC_FLUSH)
			z->unflushed = false;
	} while (n > 0);
	return 0;
}

bool
conn_deflate_pending(const struct conn *c)
{
	const struct conn_deflate *z = c->zs;

	/* After the final block the next read returns EOF at once. */
	return z->ipos < z->ilen || z->out_full || z->ended;
}

void
conn_deflate_free(struct conn *c)
{
	struct conn_deflate *z = c->zs;

	if (z == NULL)
		return;
	(void)inflateEnd(&z->in);
	(void)deflateEnd(&z->out);
	free(z->ibuf);
	free(z->obuf);
	free(z);
	c->zs = NULL;
}
