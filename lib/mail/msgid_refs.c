/* Ids in header fields: the message ids a message refers to (In-Reply-To,
 * References), nearest first, for threading new messages
 * (lib/store/store_deliver.c), and the list id of List-Id (RFC 2919). */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/util.h"
#include "mail/addr.h"
#include "mail/msgid_refs.h"

/* RFC 5322 section 3.6.4:
 *   in-reply-to = "In-Reply-To:" 1*msg-id CRLF
 *   references  = "References:" 1*msg-id CRLF
 *   msg-id      = [CFWS] "<" id-left "@" id-right ">" [CFWS]
 * Real messages also carry phrases and comments around the ids (RFC 822
 * allowed them in In-Reply-To), so every "<...>" counts as an id.
 *
 * Append the message ids "<...>" of s[0..n) to v (lower case, without the
 * brackets), skipping empty, over-long and duplicate ones, up to max. */
static size_t
refs_scan(const char *s, size_t n, bool first_only, char **v, size_t nv, size_t max)
{
	size_t i = 0, j, k;

	while (i < n && nv < max) {
		char *id;

		if (s[i] != '<') {
			i++;
			continue;
		}
		for (j = i + 1; j < n && s[j] != '>' && s[j] != '<'; j++)
			;
		if (j >= n)
			break;
		if (s[j] == '<') {
			i = j;
			continue;
		}
		if (j - i - 1 == 0 || j - i - 1 > MAIL_MSGID_REFS_MAX_ID) {
			i = j + 1;
			continue;
		}
		id = xstrndup(s + i + 1, j - i - 1);
		ms_str_lower(id);
		for (k = 0; k < nv && strcmp(v[k], id) != 0; k++)
			;
		if (k < nv || memchr(s + i + 1, '\0', j - i - 1) != NULL)
			free(id);
		else
			v[nv++] = id;
		if (first_only)
			break;
		i = j + 1;
	}
	return nv;
}

size_t
mail_msgid_refs(const char *in_reply_to, size_t irtlen, const char *references, size_t reflen,
	size_t max, char ***ids_r)
{
	char **v, **r;
	size_t n, nr, i;

	*ids_r = NULL;
	if (max == 0)
		return 0;
	v = xcalloc(max, sizeof(*v));
	n = in_reply_to != NULL ? refs_scan(in_reply_to, irtlen, true, v, 0, max) : 0;
	/* References lists the oldest first; the nearest ancestors are at
	 * its end. Keep the last ones when there are more than fit. */
	r = xcalloc(MAIL_MSGID_REFS_MAX_SCAN, sizeof(*r));
	nr = references != NULL ? refs_scan(references, reflen, false, r, 0, MAIL_MSGID_REFS_MAX_SCAN) : 0;
	for (i = nr; i > 0 && n < max; i--) {
		size_t k;

		for (k = 0; k < n && strcmp(v[k], r[i - 1]) != 0; k++)
			;
		if (k == n) {
			v[n++] = r[i - 1];
			r[i - 1] = NULL;
		}
	}
	for (i = 0; i < nr; i++)
		free(r[i]);
	free(r);
	if (n == 0) {
		free(v);
		return 0;
	}
	*ids_r = v;
	return n;
}

void
mail_msgid_refs_free(char **ids, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

/* RFC 2919 section 3:
 *   list-id-header = "List-ID:" [phrase] CFWS "<" list-id ">" CRLF
 *   list-id = list-label "." list-id-namespace
 * The namespace is a domain name (or "localhost"); we take the last "<"
 * before the closing ">" and accept what parses as a domain name. */
bool
mail_list_id_parse(const char *v, size_t n, struct buf *out)
{
	const char *lt;
	char *uni, *ascii;
	const char *error;
	size_t len;

	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r' || v[n - 1] == '\n'))
		n--;
	if (n == 0 || v[n - 1] != '>')
		return false;
	n--;
	for (lt = v + n; lt > v && lt[-1] != '<'; lt--)
		;
	if (lt == v)
		return false;
	len = (size_t)(v + n - lt);
	if (len == 0 || memchr(lt, '\0', len) != NULL ||
	    mail_domain_parse(lt, len, false, &uni, &ascii, &error) < 0)
		return false;
	buf_puts(out, ascii);
	free(uni);
	free(ascii);
	return true;
}
