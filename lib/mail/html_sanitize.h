/* Allow-list HTML sanitizer for showing received mail in the webmail. It
 * tokenizes the HTML itself and writes a new fragment that holds only known
 * harmless elements and attributes, quoted and escaped, so whatever the
 * browser parses is what was checked here. The page serving it still sends a
 * sandbox CSP: this is the first layer, not the only one. */
#ifndef MS_HTML_SANITIZE_H
#define MS_HTML_SANITIZE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

/* Elements nested deeper than this are unwrapped (their content is kept). */
#define HTML_SANITIZE_MAX_DEPTH 256

struct html_sanitize_opts {
	/* Keep http:, https: and protocol-relative URLs in img src,
	 * background attributes and CSS url(); otherwise they are removed and
	 * counted. Links (a href) are kept either way. */
	bool allow_remote;
	/* Rewrite a "cid:" URL: append the URL to use for content id
	 * cid[0..n) (the text after "cid:", entities decoded, not percent
	 * decoded) to out and return 0, or return -1 to drop the URL. NULL:
	 * cid: URLs are dropped. */
	int (*cid_url)(void *ctx, const char *cid, size_t n, struct buf *out);
	void *cid_ctx;
};

/* Sanitize the HTML in[0..n) (UTF-8 expected; other bytes are passed on
 * and NUL becomes U+FFFD) and append a fragment to out: no html/head/body
 * tags, every element closed. Never fails on malformed input; time and
 * memory are linear in n. Returns the number of remote references that
 * were removed because opts->allow_remote is false (0 when allowed). opts
 * may be NULL (remote blocked, cid dropped). */
size_t html_sanitize(const char *in, size_t n, const struct html_sanitize_opts *opts,
	struct buf *out);

/* Sanitize a CSS declaration list (a style attribute) or style sheet the
 * same way html_sanitize does, appending to out. Returns false when the
 * CSS was dropped whole (expression(), @import, javascript:, escapes,
 * bindings); out then is unchanged. *blocked_r is increased by the number
 * of remote url()s removed. */
bool html_sanitize_css(const char *css, size_t n, const struct html_sanitize_opts *opts,
	struct buf *out, size_t *blocked_r);

#endif
