/* Growable byte buffer: the one type for variable-length text and bytes.
 * The data is always NUL-terminated (not counted in len), so text can be
 * passed to C string functions; binary data may contain NULs. */
#ifndef MS_BUF_H
#define MS_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
	char *data;	/* never NULL after buf_init */
	size_t len;
	size_t cap;	/* allocated bytes, including room for the NUL */
};

/* Initialize an empty buffer. Allocation failure aborts the process. */
void buf_init(struct buf *b);
/* Free the memory; the buffer may be reused after buf_init. */
void buf_free(struct buf *b);
/* Make the length 0, keeping the allocation. */
void buf_reset(struct buf *b);
/* Make sure at least n more bytes fit without reallocating. */
void buf_reserve(struct buf *b, size_t n);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
/* The decimal digits of v (what "%llu" gives, without printf's cost in
 * loops that write thousands of numbers). */
void buf_put_u64(struct buf *b, uint64_t v);
void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/* Shorten to n bytes (n <= len). */
void buf_truncate(struct buf *b, size_t n);
/* Remove the first n bytes (n <= len), moving the rest to the front. */
void buf_consume(struct buf *b, size_t n);
/* Detach the data: the caller owns the returned malloc'd string and the
 * buffer is left empty and initialized. */
char *buf_steal(struct buf *b);
/* Overwrite the contents with zeros (for secrets), then reset. */
void buf_wipe(struct buf *b);

#endif
