/* MIME parser (RFC 2045/2046/5322) recording byte offsets of every part, for
 * IMAP BODY[section] fetches and BODYSTRUCTURE, plus the envelope fields.
 * The parse never fails on malformed input: broken structure degrades to a
 * single text/plain part, as IMAP servers must still serve the bytes. The
 * structure is stored as JSON (messages.parsed) and read back with
 * mime_from_json. */
#ifndef MS_MIME_H
#define MS_MIME_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "mail/addr.h"

struct mime_param {
	char *name;	/* lower case */
	char *value;	/* decoded (RFC 2231 continuations joined) */
};

/* RFC 3501 ENVELOPE fields of a message (top level or message/rfc822).
 * The first field of each name counts. sender and reply_to are empty when
 * absent: RFC 3501's "default to from" is for the IMAP server to apply. */
struct mime_envelope {
	char *date, *subject;	/* raw (undecoded), unfolded; NULL if absent,
				 * "" if present but empty */
	struct mail_hdr_addrs from, sender, reply_to, to, cc, bcc;
	char *in_reply_to, *message_id;	/* raw, unfolded; NULL if absent */
};

/* Tree invariants (mime_parse guarantees them, mime_from_json checks
 * them): type "multipart" <=> nparts >= 1; type message/rfc822 or
 * message/global <=> message != NULL; every string is valid UTF-8.
 * Content-Type defaults (absent or unparseable): text/plain with param
 * charset=us-ascii, or message/rfc822 inside multipart/digest. A part the
 * parser cannot represent becomes a simpler type: multipart without a
 * usable boundary or without any boundary line -> text/plain;
 * transfer-encoded message/rfc822, or anything beyond the depth/part
 * limits -> application/octet-stream. */
struct mime_part {
	/* Offsets into the parsed buffer. The header section is
	 * [header_start, body_start) and includes the blank line; the body is
	 * [body_start, end). The line break before a multipart boundary is
	 * not part of the preceding part. body_lines counts lines in the body,
	 * a last line without a line break included. */
	uint64_t header_start, body_start, end;
	uint64_t body_lines;	/* lines in the body */
	char *type, *subtype;	/* lower case; default text/plain */
	struct mime_param *params;
	size_t nparams;
	char *id, *description, *encoding;	/* unfolded; NULL if absent or empty;
						 * encoding lower case */
	char *disposition;	/* lower case, NULL if absent */
	struct mime_param *disp_params;
	size_t ndisp_params;
	char *language, *location, *md5;
	struct mime_part *parts;	/* children of a multipart */
	size_t nparts;
	struct mime_part *message;	/* message/rfc822 (and global): the inner message */
	struct mime_envelope *envelope;	/* top level and message/rfc822 inner part */
};

/* Parse a whole message in [s, s+n). Returns a new tree (never NULL).
 * Nesting is limited (depth 32, 10000 parts in all); deeper content is
 * treated as an opaque body. */
struct mime_part *mime_parse(const char *s, size_t n);
void mime_free(struct mime_part **p);

/* JSON round trip (json-c). mime_to_json appends compact JSON text (valid
 * UTF-8, no \u0000, fit for jsonb; key list in mime_json.c).
 * mime_from_json returns a new tree, or NULL on invalid input: bad JSON,
 * wrong types, missing keys, offsets out of order, broken invariants,
 * limits exceeded. Offsets past the end of the message file are not
 * detected (it is not known here): check them against the file size
 * before slicing; mime_preview and mime_decode_body clamp them. */
void mime_to_json(const struct mime_part *p, struct buf *out);
struct mime_part *mime_from_json(const char *json, size_t n);

/* Find the part for an IMAP section number "1.2.3" (RFC 3501 6.4.5): numbers
 * index into multipart children; a message/rfc822 part's number refers to
 * the inner message's parts. For a non-multipart message (the root or an
 * inner message) part 1 is that message itself, so "1" on a single-part
 * message returns root and "2.1" can return parts[1].message. n == 0
 * returns root. Returns NULL when there is no such part. */
const struct mime_part *mime_find_section(const struct mime_part *root,
	const uint32_t *nums, size_t n);

/* Append up to maxchars characters (UTF-8 characters, not bytes) of a
 * plain-text preview (RFC 8970 PREVIEW: the first text/plain part, or
 * text/html stripped of tags, decoded from base64/quoted-printable and the
 * part's charset, whitespace collapsed) of the message in [s, s+n).
 * Attachments and attached messages are not used; only the first 64 KiB
 * (1 MiB for HTML) of the part are looked at. */
void mime_preview(const struct mime_part *root, const char *s, size_t n,
	size_t maxchars, struct buf *out);

/* Decode a part body with its Content-Transfer-Encoding into out. Returns
 * 0, or -1 for an unknown encoding (then the raw bytes are appended). */
int mime_decode_body(const struct mime_part *p, const char *s, size_t n,
	struct buf *out);

/* Append the body of part p decoded from its Content-Transfer-Encoding
 * and converted from its charset to UTF-8 (an unknown charset: the bytes
 * with invalid UTF-8 replaced by U+FFFD), for text parts. */
void mime_part_text(const struct mime_part *p, const char *s, size_t n,
	struct buf *out);

/* Where the header section of the message s[0..len) ends: just after the
 * empty line (CRLF or bare LF, as mime_parse sees it), or len. */
size_t mime_header_end(const char *s, size_t len);

#endif
