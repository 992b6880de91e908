/* Fuzz target for lib/mail/html_sanitize: sanitize the input with remote
 * blocked and allowed and with a cid rewriter, and check that the output
 * keeps the promises the webmail relies on: no script, no event handler
 * attribute, no javascript: URL, and sanitizing again changes nothing
 * that matters (the output is already clean). */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "mail/html_sanitize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_html_sanitize: check failed: %s (line %d)\n", #cond, \
			        __LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static int
cid(void *ctx, const char *c, size_t n, struct buf *out)
{
	(void)ctx;
	if (n > 0 && c[0] == 'x')
		return -1;
	buf_puts(out, "/webmail/msg/1/view/");
	buf_append(out, c, n);
	return 0;
}

static const char *
ci_find(const char *s, size_t n, const char *needle)
{
	size_t m = strlen(needle), i, k;

	for (i = 0; i + m <= n; i++) {
		for (k = 0; k < m; k++) {
			char c = s[i + k];

			if (c >= 'A' && c <= 'Z')
				c = (char)(c + 32);
			if (c != needle[k])
				break;
		}
		if (k == m)
			return s + i;
	}
	return NULL;
}

static bool
url_ok(const char *v, size_t n)
{
	static const char *const ok[] = { "http:", "https:", "mailto:", "#", "/webmail/",
		"data:image/" };
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (n >= strlen(ok[i]) && ci_find(v, strlen(ok[i]), ok[i]) == v)
			return true;
	return false;
}

/* Walk the output as the writer writes it: text without '<' except tags
 * "<name( attr=\"value\")*>" or "</name>", values without '"', and the
 * only raw text a <style> sheet without '<'. */
static void
check_clean(const struct buf *b)
{
	const char *p = b->data, *e = b->data + b->len;

	CHECK(memchr(b->data, '\0', b->len) == NULL);
	while (p < e) {
		const char *name;
		size_t nl;

		if (*p != '<') {
			p++;
			continue;
		}
		p++;
		if (p < e && *p == '/')
			p++;
		name = p;
		while (p < e && ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
			p++;
		nl = (size_t)(p - name);
		CHECK(nl > 0);
		CHECK(!(nl == 6 && memcmp(name, "script", 6) == 0));
		CHECK(!(nl == 6 && memcmp(name, "iframe", 6) == 0));
		CHECK(!(nl == 3 && memcmp(name, "svg", 3) == 0));
		while (p < e && *p == ' ') {
			const char *an = ++p;

			while (p < e && *p >= 'a' && *p <= 'z')
				p++;
			CHECK(p - an > 0 && !(an[0] == 'o' && an[1] == 'n'));
			CHECK(p + 1 < e && p[0] == '=' && p[1] == '"');
			p += 2;
			if ((p - an == 6 && memcmp(an, "href=", 5) == 0) ||
			    (p - an == 5 && memcmp(an, "src=", 4) == 0) ||
			    (p - an == 12 && memcmp(an, "background=", 11) == 0))
				CHECK(url_ok(p, (size_t)(e - p)));
			while (p < e && *p != '"')
				p++;
			CHECK(p < e);
			p++;
		}
		CHECK(p < e && *p == '>');
		p++;
		if (nl == 5 && memcmp(name, "style", 5) == 0 && name[-1] == '<') {
			while (p < e && *p != '<')
				p++;
			CHECK(p + 8 <= e && memcmp(p, "</style>", 8) == 0);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct html_sanitize_opts o = { 0 };
	struct buf a, b, c;
	size_t blocked;

	buf_init(&a);
	buf_init(&b);
	buf_init(&c);
	blocked = html_sanitize((const char *)data, size, NULL, &a);
	check_clean(&a);
	/* the output is a fixed point: sanitizing it again gives it back */
	CHECK(html_sanitize(a.data, a.len, NULL, &b) == 0);
	CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);

	o.allow_remote = true;
	o.cid_url = cid;
	CHECK(html_sanitize((const char *)data, size, &o, &c) == 0);
	check_clean(&c);
	(void)blocked;
	buf_free(&a);
	buf_free(&b);
	buf_free(&c);
	return 0;
}
