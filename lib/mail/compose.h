/* Composing MIME messages (lib/mail/compose.c): shared by the webapi's
 * Send and the webmail. Unit tests: tests/unit/test_compose.c; fuzz:
 * tests/fuzz/fuzz_compose.c. */
#ifndef MS_MAIL_COMPOSE_H
#define MS_MAIL_COMPOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "core/buf.h"


struct mail_compose_addr {
	const char *name;	/* display name, may be "" */
	const char *addr;	/* formatted address (mail_addr_format) */
};

struct mail_compose_file {
	const char *name;	/* file name, may be "" */
	const char *content_type;	/* "" to detect */
	const char *content_id;	/* "" for none; <> added when missing */
	struct buf data;	/* decoded contents */
};

struct mail_compose_msg {
	struct mail_compose_addr from;
	const struct mail_compose_addr *to, *cc, *reply_to;
	size_t nto, ncc, nreply_to;
	const char *subject;
	time_t date;
	const char *message_id;	/* with <> */
	const char *const *references;
	size_t nreferences;
	const char *const (*headers)[2];
	size_t nheaders;
	const char *text, *html;	/* "" for none; "\n" line ends */
	const struct mail_compose_file *inline_files, *attached_files;
	size_t ninline, nattached;
	bool smtputf8;	/* raw UTF-8 allowed in header fields */
};

/* Compose the message (RFC 5322, MIME RFC 2045-2049) into out with CRLF
 * line ends: header fields, then multipart/mixed (attached files) around
 * multipart/related (inline files) around multipart/alternative (text
 * and HTML), each level only when needed; text in quoted-printable unless
 * it is short-lined ASCII, files in base64. Non-ASCII in display names
 * and unstructured fields becomes RFC 2047 encoded-words unless
 * smtputf8. Values are not checked here (the caller refused control
 * characters). */
void mail_compose(struct buf *out, const struct mail_compose_msg *m);

/* Append s as quoted-printable (RFC 2045 section 6.7), "\n" or "\r\n"
 * line ends becoming hard CRLF line breaks, lines at most 76 characters. */
void mail_compose_qp(struct buf *out, const char *s, size_t n);

/* A content type for data when the caller gave none, by its first bytes
 * (PNG, JPEG, GIF, PDF, ZIP, text), else "application/octet-stream". */
const char *mail_compose_sniff_type(const char *p, size_t n);

/* Does s contain control characters (C0 but not tab, or DEL)? Header
 * values with CR or LF would let a caller inject header fields. */
bool mail_compose_has_ctl(const char *s);

/* Parse an address as people type it: "lp@domain" or "Name <lp@domain>"
 * (display name plain or a quoted-string). Returns 0 with the display
 * name ("" for none) and the address in the buffers (NUL-terminated), or
 * -1 with *error_r (static). The address is an RFC 5321 Mailbox with
 * SMTPUTF8 allowed; control characters anywhere are refused. */
int mail_compose_parse_name_addr(const char *s, struct buf *name, struct buf *addr,
	const char **error_r);

/* The References of a reply (RFC 5322 3.6.4): the "<id>"s of the
 * original's References value, then its Message-ID value (either may be
 * NULL), as written, malformed or over-long (MAIL_COMPOSE_MAX_REF) ones
 * skipped, at most max (the newest). Returns the count with *refs_r
 * malloc'd (mail_compose_refs_free), or 0 with NULL. */
#define MAIL_COMPOSE_MAX_REF 500
size_t mail_compose_reply_refs(const char *references, const char *message_id, size_t max,
	char ***refs_r);
void mail_compose_refs_free(char **refs, size_t n);

#endif
