/* Composing a MIME message (RFC 5322, RFC 2045-2049) from its parts: the
 * webapi's Send and the webmail's MessageSubmit/MessageCompose build their
 * messages here so both send exactly the same bytes. No database. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "mail/addr.h"
#include "mail/compose.h"


bool
mail_compose_has_ctl(const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			return true;
	return false;
}

/* RFC 5322 3.4: name-addr = [display-name] angle-addr, display-name a
 * phrase or quoted-string (quoted-pairs unescaped); or a bare addr-spec.
 * The address must be an RFC 5321 Mailbox (mail_addr_parse_mailbox). */
int
mail_compose_parse_name_addr(const char *s, struct buf *name, struct buf *addr,
	const char **error_r)
{
	size_t len = strlen(s);
	const char *lt = strrchr(s, '<'), *start = s, *end = s + len;
	struct mail_addr pa;

	buf_reset(name);
	buf_reset(addr);
	if (mail_compose_has_ctl(s) || len > 1000) {
		*error_r = "control characters or too long";
		return -1;
	}
	while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	while (start < end && (*start == ' ' || *start == '\t'))
		start++;
	if (lt != NULL) {
		const char *ns = start, *ne = lt;

		if (end - 1 <= lt || end[-1] != '>' || memchr(lt, '>', (size_t)(end - 1 - lt))) {
			*error_r = "want Name <lp@domain>";
			return -1;
		}
		buf_append(addr, lt + 1, (size_t)(end - 1 - (lt + 1)));
		while (ne > ns && (ne[-1] == ' ' || ne[-1] == '\t'))
			ne--;
		if (ne - ns >= 2 && *ns == '"' && ne[-1] == '"') {
			for (ns++, ne--; ns < ne; ns++) {
				if (*ns == '\\' && ns + 1 < ne)
					ns++;
				buf_putc(name, *ns);
			}
		} else {
			if (memchr(ns, '<', (size_t)(ne - ns)) != NULL ||
			    memchr(ns, '"', (size_t)(ne - ns)) != NULL) {
				*error_r = "bad display name (quote it)";
				return -1;
			}
			buf_append(name, ns, (size_t)(ne - ns));
		}
	} else {
		buf_append(addr, start, (size_t)(end - start));
	}
	buf_putc(name, '\0');
	name->len--;
	buf_putc(addr, '\0');
	addr->len--;
	if (mail_addr_parse_mailbox(addr->data, addr->len, true, &pa, error_r) < 0)
		return -1;
	mail_addr_free(&pa);
	return 0;
}

/* RFC 5322 3.6.4: a reply's References are the original's References
 * (or its In-Reply-To) followed by its Message-ID. Every "<...>" of at
 * most MAIL_COMPOSE_MAX_REF bytes without white space or control
 * characters is kept as written (ids are compared as is elsewhere). */
size_t
mail_compose_reply_refs(const char *references, const char *message_id, size_t max,
	char ***refs_r)
{
	const char *srcs[2] = { references, message_id };
	char **v = NULL;
	size_t n = 0, s;

	*refs_r = NULL;
	if (max == 0)
		return 0;
	v = xcalloc(max + 1, sizeof(*v));
	for (s = 0; s < 2; s++) {
		const char *p = srcs[s] != NULL ? srcs[s] : "";

		while ((p = strchr(p, '<')) != NULL) {
			const char *gt = strchr(p, '>'), *q;
			bool ok;

			if (gt == NULL)
				break;
			ok = (size_t)(gt - p) + 1 <= MAIL_COMPOSE_MAX_REF && gt - p > 1;
			for (q = p + 1; ok && q < gt; q++)
				if ((unsigned char)*q <= 0x20 || *q == 0x7f || *q == '<')
					ok = false;
			if (ok) {
				if (n == max) {
					/* Keep the newest: drop the oldest. */
					free(v[0]);
					memmove(v, v + 1, (max - 1) * sizeof(*v));
					n--;
				}
				v[n] = xmalloc((size_t)(gt - p) + 2);
				memcpy(v[n], p, (size_t)(gt - p) + 1);
				v[n][gt - p + 1] = '\0';
				n++;
			}
			p = ok ? gt + 1 : p + 1;
		}
	}
	if (n == 0) {
		free(v);
		return 0;
	}
	*refs_r = v;
	return n;
}

void
mail_compose_refs_free(char **refs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(refs[i]);
	free(refs);
}

static bool
compose_is_ascii(const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p >= 0x80)
			return false;
	return true;
}

/* RFC 2047 encoded-words (B encoding, charset utf-8) for s, each at most
 * 75 characters (section 2), so at most 45 bytes of text per word, cut at
 * UTF-8 character boundaries (section 5: a character is never split);
 * words separated by folding white space. */
static void
compose_put_encoded_words(struct buf *out, const char *s)
{
	size_t n = strlen(s), i = 0;

	while (i < n) {
		size_t k = n - i > 45 ? 45 : n - i;

		while (i + k < n && k > 0 && ((unsigned char)s[i + k] & 0xc0) == 0x80)
			k--;
		if (k == 0)
			k = 1;
		if (i > 0)
			buf_puts(out, "\r\n ");
		buf_puts(out, "=?utf-8?b?");
		ms_base64_encode(out, s + i, k);
		buf_puts(out, "?=");
		i += k;
	}
}

/* RFC 5322 3.2.3 atext plus space: a display name of these needs no
 * quoting. */
static bool
compose_is_atext_phrase(const char *s)
{
	const char *p;

	for (p = s; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9') || (*p != '\0' && strchr(" !#$%&'*+-/=?^_`{|}~", *p))))
			return false;
	return s[0] != ' ' && (s[0] == '\0' || s[strlen(s) - 1] != ' ');
}

/* RFC 5322 3.4: name-addr = [display-name] angle-addr. */
static void
compose_put_name_addr(struct buf *out, const struct mail_compose_addr *a, bool smtputf8)
{
	const char *p;

	if (a->name[0] != '\0') {
		if (compose_is_atext_phrase(a->name)) {
			buf_puts(out, a->name);
		} else if (!smtputf8 && !compose_is_ascii(a->name)) {
			compose_put_encoded_words(out, a->name);
		} else {
			/* quoted-string, RFC 5322 3.2.4 (RFC 6532 3.2 for UTF-8) */
			buf_putc(out, '"');
			for (p = a->name; *p != '\0'; p++) {
				if (*p == '"' || *p == '\\')
					buf_putc(out, '\\');
				buf_putc(out, *p);
			}
			buf_putc(out, '"');
		}
		buf_putc(out, ' ');
	}
	buf_printf(out, "<%s>", a->addr);
}

static void
compose_put_addr_field(struct buf *out, const char *name, const struct mail_compose_addr *v,
	size_t n, bool smtputf8)
{
	size_t i;

	if (n == 0)
		return;
	buf_printf(out, "%s: ", name);
	for (i = 0; i < n; i++) {
		if (i > 0)
			buf_puts(out, ",\r\n\t");
		compose_put_name_addr(out, &v[i], smtputf8);
	}
	buf_puts(out, "\r\n");
}

/* An unstructured field (RFC 5322 3.2.5, 2.2.3): folded before white
 * space to keep lines near 78 characters; non-ASCII as encoded-words
 * without SMTPUTF8, and also when a long value has no place to fold. */
static void
compose_put_unstructured(struct buf *out, const char *name, const char *value, bool smtputf8)
{
	size_t col, n = strlen(value), i, last_fold;

	buf_printf(out, "%s: ", name);
	if ((!smtputf8 && !compose_is_ascii(value)) ||
	    (n > 900 && strchr(value, ' ') == NULL && strchr(value, '\t') == NULL)) {
		compose_put_encoded_words(out, value);
		buf_puts(out, "\r\n");
		return;
	}
	col = strlen(name) + 2;
	last_fold = 0;
	for (i = 0; i < n; i++) {
		if ((value[i] == ' ' || value[i] == '\t') && col > 78 && i > last_fold) {
			buf_puts(out, "\r\n");
			col = 0;
			last_fold = i;
		}
		buf_putc(out, value[i]);
		col++;
	}
	buf_puts(out, "\r\n");
}

void
mail_compose_qp(struct buf *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, col = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		bool eol = i + 1 == n || s[i + 1] == '\n' ||
			(s[i + 1] == '\r' && i + 2 < n && s[i + 2] == '\n');
		size_t need;

		if (c == '\r' && i + 1 < n && s[i + 1] == '\n')
			continue;
		if (c == '\n') {
			buf_puts(out, "\r\n");
			col = 0;
			continue;
		}
		/* Rule 2 and 3: printable ASCII but "=" literally; space and
		 * tab only when not at the end of a line. */
		need = ((c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !eol)) ? 1 : 3;
		/* Rule 5: at most 76 characters, a soft break "=" included. */
		if (col + need > (eol ? 76 : 75)) {
			buf_puts(out, "=\r\n");
			col = 0;
		}
		if (need == 1) {
			buf_putc(out, (char)c);
		} else {
			buf_putc(out, '=');
			buf_putc(out, hex[c >> 4]);
			buf_putc(out, hex[c & 15]);
		}
		col += need;
	}
}

const char *
mail_compose_sniff_type(const char *p, size_t n)
{
	size_t i;

	if (n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0)
		return "image/png";
	if (n >= 3 && memcmp(p, "\xff\xd8\xff", 3) == 0)
		return "image/jpeg";
	if (n >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0))
		return "image/gif";
	if (n >= 5 && memcmp(p, "%PDF-", 5) == 0)
		return "application/pdf";
	if (n >= 4 && memcmp(p, "PK\x03\x04", 4) == 0)
		return "application/zip";
	for (i = 0; i < n && i < 512; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == 0 || (c < 0x20 && c != '\t' && c != '\r' && c != '\n' && c != '\f'))
			return "application/octet-stream";
	}
	return "text/plain; charset=utf-8";
}

/* Short ASCII lines can go as they are (7bit, RFC 2045 2.7). */
static bool
compose_is_7bit_text(const char *s)
{
	size_t col = 0;
	const char *p;

	for (p = s; *p != '\0'; p++) {
		/* RFC 5321 2.3.8: no bare CR in a message; QP encodes it. */
		if ((unsigned char)*p >= 0x80 || (*p < 0x20 && *p != '\t' && *p != '\n' &&
		    *p != '\r') || (*p == '\r' && p[1] != '\n'))
			return false;
		col = *p == '\n' ? 0 : col + 1;
		if (col > 78)
			return false;
	}
	return true;
}

static void
compose_put_text_part(struct buf *out, const char *subtype, const char *text)
{
	const char *p;

	buf_printf(out, "Content-Type: text/%s; charset=utf-8\r\n", subtype);
	if (compose_is_7bit_text(text)) {
		buf_puts(out, "Content-Transfer-Encoding: 7bit\r\n\r\n");
		for (p = text; *p != '\0'; p++) {
			if (*p == '\r' && p[1] == '\n')
				continue;
			if (*p == '\n')
				buf_putc(out, '\r');
			buf_putc(out, *p);
		}
	} else {
		buf_puts(out, "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
		mail_compose_qp(out, text, strlen(text));
	}
	/* The last line ends before the boundary's own CRLF. */
	if (out->len < 2 || memcmp(out->data + out->len - 2, "\r\n", 2) != 0)
		buf_puts(out, "\r\n");
}

/* RFC 2231 section 4 for a non-ASCII or special file name:
 * filename*=utf-8''percent-encoded; else a quoted-string. */
static void
compose_put_filename_param(struct buf *out, const char *name)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;

	if (compose_is_ascii(name)) {
		buf_puts(out, "; filename=\"");
		for (p = (const unsigned char *)name; *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				buf_putc(out, '\\');
			buf_putc(out, (char)*p);
		}
		buf_putc(out, '"');
		return;
	}
	buf_puts(out, ";\r\n\tfilename*=utf-8''");
	for (p = (const unsigned char *)name; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("!#$&+-.^_`|~", *p) != NULL) {
			buf_putc(out, (char)*p);
		} else {
			buf_putc(out, '%');
			buf_putc(out, hex[*p >> 4]);
			buf_putc(out, hex[*p & 15]);
		}
	}
}

static void
compose_put_file_part(struct buf *out, const struct mail_compose_file *f, bool inline_)
{
	const char *ct = f->content_type[0] != '\0' ? f->content_type :
		mail_compose_sniff_type(f->data.data, f->data.len);
	struct buf b64;
	size_t i;

	buf_printf(out, "Content-Type: %s\r\n", ct);
	buf_puts(out, "Content-Disposition: ");
	buf_puts(out, inline_ ? "inline" : "attachment");
	if (f->name[0] != '\0')
		compose_put_filename_param(out, f->name);
	buf_puts(out, "\r\n");
	if (f->content_id[0] != '\0') {
		if (f->content_id[0] == '<')
			buf_printf(out, "Content-ID: %s\r\n", f->content_id);
		else
			buf_printf(out, "Content-ID: <%s>\r\n", f->content_id);
	}
	buf_puts(out, "Content-Transfer-Encoding: base64\r\n\r\n");
	/* RFC 2045 6.8: lines of at most 76 characters. */
	buf_init(&b64);
	ms_base64_encode(&b64, f->data.data, f->data.len);
	for (i = 0; i < b64.len; i += 76) {
		buf_append(out, b64.data + i, b64.len - i > 76 ? 76 : b64.len - i);
		buf_puts(out, "\r\n");
	}
	buf_free(&b64);
}

enum compose_level { L_MIXED, L_RELATED, L_ALTERNATIVE, L_TEXT, L_HTML };

/* RFC 2046 5.1.1: a boundary that cannot occur in the parts: random,
 * and the parts are base64 or quoted-printable, or 7bit text that would
 * have to contain these 24 random characters. */
static void
compose_new_boundary(char *b, size_t size)
{
	struct buf t;

	buf_init(&t);
	ms_random_token(&t, 18);
	snprintf(b, size, "ms-%s", t.data);
	buf_free(&t);
}

/* The entity at level l: its Content-* fields, the empty line, its body.
 * Levels without content collapse into the next. */
static void
compose_put_entity(struct buf *out, const struct mail_compose_msg *m, enum compose_level l)
{
	char b[64];
	size_t i;

	switch (l) {
	case L_MIXED:
		if (m->nattached == 0) {
			compose_put_entity(out, m, L_RELATED);
			return;
		}
		compose_new_boundary(b, sizeof(b));
		buf_printf(out, "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n", b);
		buf_printf(out, "--%s\r\n", b);
		compose_put_entity(out, m, L_RELATED);
		for (i = 0; i < m->nattached; i++) {
			buf_printf(out, "\r\n--%s\r\n", b);
			compose_put_file_part(out, &m->attached_files[i], false);
		}
		buf_printf(out, "\r\n--%s--\r\n", b);
		return;
	case L_RELATED:
		if (m->ninline == 0) {
			compose_put_entity(out, m, L_ALTERNATIVE);
			return;
		}
		compose_new_boundary(b, sizeof(b));
		/* RFC 2387 3.1: type is the root part's. */
		buf_printf(out, "Content-Type: multipart/related; boundary=\"%s\"\r\n\r\n", b);
		buf_printf(out, "--%s\r\n", b);
		compose_put_entity(out, m, L_ALTERNATIVE);
		for (i = 0; i < m->ninline; i++) {
			buf_printf(out, "\r\n--%s\r\n", b);
			compose_put_file_part(out, &m->inline_files[i], true);
		}
		buf_printf(out, "\r\n--%s--\r\n", b);
		return;
	case L_ALTERNATIVE:
		if (m->text[0] == '\0' || m->html[0] == '\0') {
			compose_put_entity(out, m, m->text[0] != '\0' ? L_TEXT : L_HTML);
			return;
		}
		compose_new_boundary(b, sizeof(b));
		/* RFC 2046 5.1.4: in increasing order of preference. */
		buf_printf(out, "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n", b);
		buf_printf(out, "--%s\r\n", b);
		compose_put_text_part(out, "plain", m->text);
		buf_printf(out, "\r\n--%s\r\n", b);
		compose_put_text_part(out, "html", m->html);
		buf_printf(out, "\r\n--%s--\r\n", b);
		return;
	case L_TEXT:
		compose_put_text_part(out, "plain", m->text);
		return;
	case L_HTML:
		compose_put_text_part(out, "html", m->html);
		return;
	}
}

void
mail_compose(struct buf *out, const struct mail_compose_msg *m)
{
	size_t i;
	bool have_ua = false;

	compose_put_addr_field(out, "From", &m->from, 1, m->smtputf8);
	compose_put_addr_field(out, "Reply-To", m->reply_to, m->nreply_to, m->smtputf8);
	compose_put_addr_field(out, "To", m->to, m->nto, m->smtputf8);
	compose_put_addr_field(out, "Cc", m->cc, m->ncc, m->smtputf8);
	if (m->subject[0] != '\0')
		compose_put_unstructured(out, "Subject", m->subject, m->smtputf8);
	buf_puts(out, "Date: ");
	ms_rfc5322_date(out, m->date);
	buf_puts(out, "\r\n");
	buf_printf(out, "Message-Id: %s\r\n", m->message_id);
	/* RFC 5322 3.6.4: References lists the thread, In-Reply-To the
	 * message replied to, the last of them. */
	if (m->nreferences > 0) {
		buf_puts(out, "References: ");
		for (i = 0; i < m->nreferences; i++)
			buf_printf(out, "%s%s", i > 0 ? "\r\n\t" : "", m->references[i]);
		buf_printf(out, "\r\nIn-Reply-To: %s\r\n", m->references[m->nreferences - 1]);
	}
	buf_puts(out, "MIME-Version: 1.0\r\n");
	for (i = 0; i < m->nheaders; i++) {
		compose_put_unstructured(out, m->headers[i][0], m->headers[i][1], m->smtputf8);
		if (ms_strcaseeq(m->headers[i][0], "User-Agent") ||
		    ms_strcaseeq(m->headers[i][0], "X-Mailer"))
			have_ua = true;
	}
	if (!have_ua)
		buf_puts(out, "User-Agent: " PACKAGE_NAME "/" PACKAGE_VERSION "\r\n");
	compose_put_entity(out, m, L_MIXED);
}
