/* FETCH ENVELOPE and BODY/BODYSTRUCTURE (RFC 9051 7.5.2) written from the
 * stored MIME structure (mail/mime.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "mail/header.h"
#include "mail/mime.h"
#include "imap_session.h"

/* Display names are decoded UTF-8; IMAP4rev1 without UTF8=ACCEPT wants
 * them as RFC 2047 encoded-words when not ASCII. */
static void
buf_addr_name(struct imap_session *s, struct buf *out, const char *name)
{
	size_t i, n = strlen(name);
	bool ascii = true;
	struct buf enc;

	if (n == 0) {
		buf_puts(out, "NIL");
		return;
	}
	for (i = 0; i < n; i++)
		if ((unsigned char)name[i] >= 0x80)
			ascii = false;
	if (ascii || imap_utf8(s)) {
		imap_buf_string(s, out, name, n);
		return;
	}
	buf_init(&enc);
	i = 0;
	while (i < n) {
		size_t take = n - i > 45 ? 45 : n - i;

		/* do not split a UTF-8 sequence between encoded-words */
		while (i + take < n && take > 0 &&
		       ((unsigned char)name[i + take] & 0xc0) == 0x80)
			take--;
		if (take == 0)
			take = n - i;
		if (enc.len > 0)
			buf_putc(&enc, ' ');
		buf_puts(&enc, "=?utf-8?b?");
		ms_base64_encode(&enc, name + i, take);
		buf_puts(&enc, "?=");
		i += take;
	}
	imap_buf_string(s, out, enc.data, enc.len);
	buf_free(&enc);
}

/* env-from etc. = "(" 1*address ")" / nil; groups per RFC 9051 7.5.2:
 * a start "(NIL NIL groupname NIL)" and an end "(NIL NIL NIL NIL)". */
static void
buf_addrs(struct imap_session *s, struct buf *out, const struct mail_hdr_addrs *l)
{
	const char *group = NULL;
	size_t i;

	if (l == NULL || l->n == 0) {
		buf_puts(out, "NIL");
		return;
	}
	buf_putc(out, '(');
	for (i = 0; i < l->n; i++) {
		const struct mail_hdr_addr *a = &l->v[i];

		if (group != NULL && (a->group == NULL || strcmp(a->group, group) != 0)) {
			buf_puts(out, "(NIL NIL NIL NIL)");
			group = NULL;
		}
		if (a->group != NULL && group == NULL) {
			buf_puts(out, "(NIL NIL ");
			imap_buf_nstring(s, out, a->group);
			buf_puts(out, " NIL)");
			group = a->group;
		}
		buf_putc(out, '(');
		buf_addr_name(s, out, a->name ? a->name : "");
		buf_puts(out, " NIL ");
		imap_buf_nstring(s, out, a->localpart);
		buf_putc(out, ' ');
		imap_buf_nstring(s, out, a->domain);
		buf_putc(out, ')');
	}
	if (group != NULL)
		buf_puts(out, "(NIL NIL NIL NIL)");
	buf_putc(out, ')');
}

/*
 *   envelope = "(" env-date SP env-subject SP env-from SP env-sender SP
 *              env-reply-to SP env-to SP env-cc SP env-bcc SP
 *              env-in-reply-to SP env-message-id ")"
 * "If the Sender or Reply-To header lines are absent in the [RFC5322]
 * header, or are present but empty, the server sets the corresponding
 * member of the envelope to be the same value as the from member."
 */
void
imap_buf_envelope(struct imap_session *s, struct buf *out, const struct mime_envelope *e)
{
	if (e == NULL) {
		buf_puts(out, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
		return;
	}
	buf_putc(out, '(');
	imap_buf_nstring(s, out, e->date);
	buf_putc(out, ' ');
	imap_buf_nstring(s, out, e->subject);
	buf_putc(out, ' ');
	buf_addrs(s, out, &e->from);
	buf_putc(out, ' ');
	buf_addrs(s, out, e->sender.n > 0 ? &e->sender : &e->from);
	buf_putc(out, ' ');
	buf_addrs(s, out, e->reply_to.n > 0 ? &e->reply_to : &e->from);
	buf_putc(out, ' ');
	buf_addrs(s, out, &e->to);
	buf_putc(out, ' ');
	buf_addrs(s, out, &e->cc);
	buf_putc(out, ' ');
	buf_addrs(s, out, &e->bcc);
	buf_putc(out, ' ');
	imap_buf_nstring(s, out, e->in_reply_to);
	buf_putc(out, ' ');
	imap_buf_nstring(s, out, e->message_id);
	buf_putc(out, ')');
}

/* body-fld-param = "(" string SP string *(SP string SP string) ")" / nil */
static void
buf_params(struct imap_session *s, struct buf *out, const struct mime_param *p, size_t n)
{
	size_t i;

	if (n == 0) {
		buf_puts(out, "NIL");
		return;
	}
	buf_putc(out, '(');
	for (i = 0; i < n; i++) {
		if (i > 0)
			buf_putc(out, ' ');
		imap_buf_nstring(s, out, p[i].name ? p[i].name : "");
		buf_putc(out, ' ');
		imap_buf_nstring(s, out, p[i].value ? p[i].value : "");
	}
	buf_putc(out, ')');
}

/* body-fld-dsp SP body-fld-lang SP body-fld-loc */
static void
buf_ext_common(struct imap_session *s, struct buf *out, const struct mime_part *p)
{
	if (p->disposition == NULL) {
		buf_puts(out, "NIL");
	} else {
		buf_putc(out, '(');
		imap_buf_nstring(s, out, p->disposition);
		buf_putc(out, ' ');
		buf_params(s, out, p->disp_params, p->ndisp_params);
		buf_putc(out, ')');
	}
	buf_putc(out, ' ');
	imap_buf_nstring(s, out, p->language);
	buf_putc(out, ' ');
	imap_buf_nstring(s, out, p->location);
}

static bool
streq(const char *a, const char *b)
{
	return a != NULL && ms_strcaseeq(a, b);
}

/*
 *   body            = "(" (body-type-1part / body-type-mpart) ")"
 *   body-type-1part = (body-type-basic / body-type-msg / body-type-text)
 *                     [SP body-ext-1part]
 *   body-type-basic = media-basic SP body-fields
 *   body-type-msg   = media-message SP body-fields SP envelope
 *                     SP body SP body-fld-lines
 *   body-type-text  = media-text SP body-fields SP body-fld-lines
 *   body-fields     = body-fld-param SP body-fld-id SP body-fld-desc SP
 *                     body-fld-enc SP body-fld-octets
 *   body-ext-1part  = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang
 *                     [SP body-fld-loc *(SP body-extension)]]]
 *   body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
 *   body-ext-mpart  = body-fld-param [SP body-fld-dsp [SP body-fld-lang
 *                     [SP body-fld-loc *(SP body-extension)]]]
 */
void
imap_buf_body(struct imap_session *s, struct buf *out, const struct mime_part *p,
	bool ext, unsigned depth)
{
	const char *type = p->type ? p->type : "text";
	const char *subtype = p->subtype ? p->subtype : "plain";
	uint64_t size = p->end > p->body_start ? p->end - p->body_start : 0;
	size_t i;

	if (streq(type, "multipart") && depth < 64) {
		buf_putc(out, '(');
		for (i = 0; i < p->nparts; i++)
			imap_buf_body(s, out, &p->parts[i], ext, depth + 1);
		if (p->nparts == 0)	/* the grammar needs one body */
			buf_puts(out, "(\"text\" \"plain\" NIL NIL NIL \"7bit\" 0 0)");
		buf_putc(out, ' ');
		imap_buf_nstring(s, out, subtype);
		if (ext) {
			buf_putc(out, ' ');
			buf_params(s, out, p->params, p->nparams);
			buf_putc(out, ' ');
			buf_ext_common(s, out, p);
		}
		buf_putc(out, ')');
		return;
	}
	buf_putc(out, '(');
	imap_buf_nstring(s, out, type);
	buf_putc(out, ' ');
	imap_buf_nstring(s, out, subtype);
	buf_putc(out, ' ');
	buf_params(s, out, p->params, p->nparams);
	buf_putc(out, ' ');
	imap_buf_nstring(s, out, p->id);
	buf_putc(out, ' ');
	imap_buf_nstring(s, out, p->description);
	buf_putc(out, ' ');
	imap_buf_nstring(s, out, p->encoding ? p->encoding : "7bit");
	buf_printf(out, " %llu", (unsigned long long)size);
	if (streq(type, "message") && (streq(subtype, "rfc822") || streq(subtype, "global"))) {
		buf_putc(out, ' ');
		if (p->message != NULL && depth < 64) {
			imap_buf_envelope(s, out, p->message->envelope);
			buf_putc(out, ' ');
			imap_buf_body(s, out, p->message, ext, depth + 1);
		} else {
			imap_buf_envelope(s, out, NULL);
			buf_puts(out, " (\"text\" \"plain\" NIL NIL NIL \"7bit\" 0 0)");
		}
		buf_printf(out, " %llu", (unsigned long long)p->body_lines);
	} else if (streq(type, "text")) {
		buf_printf(out, " %llu", (unsigned long long)p->body_lines);
	}
	if (ext) {
		buf_putc(out, ' ');
		imap_buf_nstring(s, out, p->md5);
		buf_putc(out, ' ');
		buf_ext_common(s, out, p);
	}
	buf_putc(out, ')');
}

