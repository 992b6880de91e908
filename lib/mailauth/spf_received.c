/* The Received-SPF header field (RFC 7208 9.1): result, comment and
 * key-value pairs, folded at 78 columns. */
#include "config.h"

#include <stdbool.h>
#include <string.h>

#include "core/buf.h"
#include "mailauth/spf.h"

static bool
is_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

/* ---- Received-SPF (RFC 7208 9.1) ----
 *   header-field     = "Received-SPF:" [CFWS] result FWS [comment FWS]
 *                      [ key-value-list ] CRLF
 *   key-value-list   = key-value-pair *( ";" [CFWS] key-value-pair ) [";"]
 *   key-value-pair   = key [CFWS] "=" ( dot-atom / quoted-string )
 */

struct folder {
	struct buf *out;
	size_t col;		/* columns on the current line */
};

/* Append a word, starting a continuation line first when it would pass
 * column 78 (a longer word gets a line of its own). */
static void
fold_word(struct folder *f, const char *w, size_t n)
{
	if (f->col + 1 + n > 78 && f->col > 1) {
		buf_puts(f->out, "\r\n\t");
		f->col = 8;
	} else {
		buf_putc(f->out, ' ');
		f->col++;
	}
	buf_append(f->out, w, n);
	f->col += n;
}

static bool
is_atext(char ch)
{
	return is_alnum(ch) || (ch != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", ch) != NULL);
}

static bool
is_dot_atom(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] == '.' ? s[i + 1] == '.' : !is_atext(s[i]))
			return false;
	}
	return true;
}

/* key=value; with value as dot-atom or quoted-string, printable ASCII. */
static void
fold_pair(struct folder *f, const char *key, const char *value)
{
	struct buf w;
	const char *p;

	buf_init(&w);
	buf_printf(&w, "%s=", key);
	if (is_dot_atom(value)) {
		buf_puts(&w, value);
	} else {
		buf_putc(&w, '"');
		for (p = value; *p != '\0'; p++) {
			unsigned char ch = (unsigned char)*p;

			if (ch == '"' || ch == '\\')
				buf_putc(&w, '\\');
			buf_putc(&w, ch < 0x20 || ch >= 0x7f ? '?' : (char)ch);
		}
		buf_putc(&w, '"');
	}
	buf_putc(&w, ';');
	fold_word(f, w.data, w.len);
	buf_free(&w);
}

/* The comment, cut into words; "(", ")" and "\" escaped, printable ASCII. */
static void
fold_comment(struct folder *f, const char *text)
{
	struct buf w;
	const char *p = text;

	buf_init(&w);
	while (*p != '\0') {
		size_t n;

		buf_reset(&w);
		if (p == text)
			buf_putc(&w, '(');
		for (n = strcspn(p, " "); n > 0; n--, p++) {
			unsigned char ch = (unsigned char)*p;

			if (ch == '(' || ch == ')' || ch == '\\')
				buf_putc(&w, '\\');
			buf_putc(&w, ch < 0x20 || ch >= 0x7f ? '?' : (char)ch);
		}
		p += strspn(p, " ");
		if (*p == '\0')
			buf_putc(&w, ')');
		if (w.len > 0)
			fold_word(f, w.data, w.len);
	}
	buf_free(&w);
}

void
spf_received_header(struct buf *out, const struct spf_args *args, const char *identity,
	const struct spf_outcome *o)
{
	const char *receiver = args->receiver != NULL && args->receiver[0] != '\0' ?
	    args->receiver : "unknown";
	const char *ip = args->ip != NULL ? args->ip : "unknown";
	const char *dom = args->domain != NULL ? args->domain : "";
	struct folder f = { out, 0 };
	struct buf sender, comment;

	buf_init(&sender);
	buf_init(&comment);
	buf_printf(&sender, "%s@%s", args->localpart != NULL && args->localpart[0] != '\0' ?
		args->localpart : "postmaster", dom);
	buf_printf(&comment, "%s: ", receiver);
	switch (o->result) {
	case SPF_PASS:
		buf_printf(&comment, "domain of %s designates %s as permitted sender",
			sender.data, ip);
		break;
	case SPF_FAIL:
		buf_printf(&comment, "domain of %s does not designate %s as permitted sender",
			sender.data, ip);
		break;
	case SPF_SOFTFAIL:
		buf_printf(&comment, "domain of transitioning %s does not designate %s as"
			" permitted sender", sender.data, ip);
		break;
	case SPF_NEUTRAL:
		buf_printf(&comment, "%s is neither permitted nor denied by domain of %s",
			ip, sender.data);
		break;
	case SPF_NONE:
		buf_printf(&comment, "domain of %s does not designate permitted sender hosts",
			sender.data);
		break;
	case SPF_TEMPERROR:
		buf_printf(&comment, "temporary error in processing during lookup of %s",
			sender.data);
		break;
	case SPF_PERMERROR:
		buf_printf(&comment, "permanent error in processing domain of %s", sender.data);
		break;
	}
	buf_puts(out, "Received-SPF: ");
	buf_puts(out, spf_result_name(o->result));
	f.col = strlen("Received-SPF: ") + strlen(spf_result_name(o->result));
	fold_comment(&f, comment.data);
	fold_pair(&f, "client-ip", ip);
	fold_pair(&f, "envelope-from", sender.data);
	if (args->helo != NULL && args->helo[0] != '\0')
		fold_pair(&f, "helo", args->helo);
	fold_pair(&f, "receiver", receiver);
	fold_pair(&f, "identity", identity != NULL ? identity : "mailfrom");
	if (o->mechanism != NULL)
		fold_pair(&f, "mechanism", o->mechanism);
	if (o->problem != NULL && (o->result == SPF_TEMPERROR || o->result == SPF_PERMERROR))
		fold_pair(&f, "problem", o->problem);
	/* No ";" after the last pair is needed; drop it for tidiness. */
	if (out->len > 0 && out->data[out->len - 1] == ';')
		buf_truncate(out, out->len - 1);
	buf_puts(out, "\r\n");
	buf_free(&sender);
	buf_free(&comment);
}
