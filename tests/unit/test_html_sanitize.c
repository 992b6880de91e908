/* Tests of lib/mail/html_sanitize: exact output for ordinary mail HTML,
 * and XSS cheat-sheet style inputs (scripts, event handlers, obfuscated
 * javascript: URLs, CSS expressions, raw-text tricks, namespace confusion)
 * that must come out harmless; remote resources blocked or kept; cid: URLs
 * rewritten; malformed, deep and huge inputs. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/buf.h"
#include "mail/html_sanitize.h"

static size_t last_blocked;

static int
cid_rewrite(void *ctx, const char *cid, size_t n, struct buf *out)
{
	(void)ctx;
	if (n == 7 && memcmp(cid, "missing", 7) == 0)
		return -1;
	buf_puts(out, "/webmail/msg/7/view/");
	buf_append(out, cid, n);
	return 0;
}

/* Sanitized s; the caller frees. */
static char *
san(const char *s, bool remote)
{
	struct html_sanitize_opts o = { 0 };
	struct buf b;

	o.allow_remote = remote;
	o.cid_url = cid_rewrite;
	buf_init(&b);
	last_blocked = html_sanitize(s, strlen(s), &o, &b);
	return buf_steal(&b);
}

static void
expect(const char *in, const char *want)
{
	char *got = san(in, false);

	if (strcmp(got, want) != 0)
		fail_msg("input:\n%s\nwant:\n%s\ngot:\n%s", in, want, got);
	free(got);
}

static bool
ci_contains(const char *s, const char *needle)
{
	size_t n = strlen(needle), i, k;

	for (i = 0; s[i] != '\0'; i++) {
		for (k = 0; k < n && s[i + k] != '\0'; k++) {
			char c = s[i + k];

			if (c >= 'A' && c <= 'Z')
				c = (char)(c + 32);
			if (c != needle[k])
				break;
		}
		if (k == n)
			return true;
	}
	return false;
}

static void
test_ordinary(void **state)
{
	(void)state;
	expect("<p>Hello <b>world</b> &amp; &eacute;t&eacute; &#8364; 5 &lt; 6</p>",
		"<p>Hello <b>world</b> &amp; &eacute;t&eacute; &#8364; 5 &lt; 6</p>");
	expect("<TABLE border=0 CellPadding='2'><tr><td align=left bgcolor=\"#fff\">x</td></tr></table>",
		"<table border=\"0\" cellpadding=\"2\"><tr><td align=\"left\" bgcolor=\"#fff\">x</td></tr></table>");
	/* document structure is unwrapped, head content that shows nothing is
	 * dropped, the style sheet is kept */
	expect("<!DOCTYPE html><html><head><meta charset=utf-8><title>T</title>"
	       "<style>p { color: red }</style></head><body><p>x</p></body></html>",
		"<style>p { color: red }</style><p>x</p>");
	/* AT&T, a bare ampersand, a stray '<' and '>' */
	expect("AT&T a & b 1 < 2 > 0", "AT&amp;T a &amp; b 1 &lt; 2 &gt; 0");
	expect("<br><br/><hr size=1><img alt=\"a\">", "<br><br><hr size=\"1\"><img alt=\"a\">");
}

static void
test_links(void **state)
{
	(void)state;
	expect("<a href=\"https://example.com/?a=1&amp;b=2\" target=_top onclick=x()>x</a>",
		"<a href=\"https://example.com/?a=1&amp;b=2\" target=\"_blank\" "
		"rel=\"noopener noreferrer\">x</a>");
	expect("<a href=mailto:a@b.example>m</a>",
		"<a href=\"mailto:a@b.example\" target=\"_blank\" rel=\"noopener noreferrer\">m</a>");
	expect("<a href=\"#top\">t</a>",
		"<a href=\"#top\" target=\"_blank\" rel=\"noopener noreferrer\">t</a>");
	/* relative URLs would point into the webmail itself */
	expect("<a href=\"/webmail/api/delete\">r</a>",
		"<a target=\"_blank\" rel=\"noopener noreferrer\">r</a>");
	/* links are never "remote resources": kept even when blocking */
	expect("<a href=http://example.com>h</a>",
		"<a href=\"http://example.com\" target=\"_blank\" rel=\"noopener noreferrer\">h</a>");
	assert_int_equal(last_blocked, 0);
}

/* Each input must lose every trace of script. */
static const char *const xss[] = {
	"<script>alert(1)</script>",
	"<SCRIPT SRC=http://xss.example/xss.js></SCRIPT>",
	"<scr<script>ipt>alert(1)</script>",
	"<script\n>alert(1)</script\n>",
	"<IMG SRC=\"javascript:alert('XSS');\">",
	"<IMG SRC=JaVaScRiPt:alert('XSS')>",
	"<IMG SRC=`javascript:alert(\"RSnake says, 'XSS'\")`>",
	"<IMG SRC=&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)>",
	"<IMG SRC=&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114&#0000105&#0000112&#0000116&#0000058alert(1)>",
	"<IMG SRC=&#x6A&#x61&#x76&#x61&#x73&#x63&#x72&#x69&#x70&#x74&#x3A;alert(1)>",
	"<IMG SRC=\"jav\tascript:alert(1);\">",
	"<IMG SRC=\"jav&#x09;ascript:alert(1);\">",
	"<IMG SRC=\"jav&#x0A;ascript:alert(1);\">",
	"<IMG SRC=\" &#14;  javascript:alert(1);\">",
	"<a href=\"java&Tab;script:alert(1)\">x</a>",
	"<a href=\"javascript&colon;alert(1)\">x</a>",
	"<a href=\"  JAVASCRIPT:alert(1)\">x</a>",
	"<a href=\"vbscript:msgbox(1)\">x</a>",
	"<a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">x</a>",
	"<img src=\"data:image/svg+xml;base64,PHN2Zz48c2NyaXB0PmFsZXJ0KDEpPC9zY3JpcHQ+PC9zdmc+\">",
	"<img src=x onerror=alert(1)>",
	"<img src=x ONERROR=\"alert(1)\">",
	"<img/src=x/onerror=alert(1)>",
	"<body onload=alert(1)>",
	"<BODY BACKGROUND=\"javascript:alert(1)\">",
	"<div onmouseover\n=\nalert(1)>x</div>",
	"<svg onload=alert(1)>",
	"<svg><script>alert(1)</script></svg>",
	"<svg><a xlink:href=\"javascript:alert(1)\"><text>x</text></a></svg>",
	"<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
	"<iframe src=\"javascript:alert(1)\"></iframe>",
	"<iframe srcdoc=\"<script>alert(1)</script>\"></iframe>",
	"<frameset><frame src=\"javascript:alert(1)\"></frameset>",
	"<object data=\"javascript:alert(1)\"></object>",
	"<embed src=\"data:text/html,<script>alert(1)</script>\">",
	"<applet code=\"x\"></applet>",
	"<form action=\"javascript:alert(1)\"><input type=submit formaction=javascript:alert(1)><button>b</button></form>",
	"<isindex action=javascript:alert(1) type=image>",
	"<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">",
	"<base href=\"javascript:alert(1)//\">",
	"<link rel=stylesheet href=\"javascript:alert(1)\">",
	"<div style=\"width: expression(alert(1));\">x</div>",
	"<div style=\"width: exp/**/ression(alert(1));\">x</div>",
	"<div style=\"background:url(javascript:alert(1))\">x</div>",
	"<div style=\"-moz-binding:url(http://x/xss.xml#xss)\">x</div>",
	"<div style=\"behavior: url(xss.htc);\">x</div>",
	"<div style=\"xss:\\65 xpression(alert(1))\">x</div>",
	"<style>@import 'http://xss.example/xss.css';</style>",
	"<style>body{background:url(\"javascript:alert(1)\")}</style>",
	"<style></style><script>alert(1)</script>",
	"<style>p{}</style x><script>alert(1)</script>",
	"<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\"></noscript>",
	"<textarea></textarea><script>alert(1)</script>",
	"<title><img src=x onerror=alert(1)></title>",
	"<xmp><img src=x onerror=alert(1)></xmp>",
	"<!--<img src=x onerror=alert(1)>-->",
	"<!-- --!><img src=x onerror=alert(1)> -->",
	"<![CDATA[<script>alert(1)</script>]]>",
	"<?xml version=1?><script>alert(1)</script>",
	"<a href=\"http://example.com\" onclick=\"alert(1)\">x</a>",
	"<a href=\"http://a\"\"onclick=alert(1)>x</a>",
	"<a title='x' onmouseover='alert(1)'>x</a>",
	"<img src=\"x\" `onerror=alert(1)`>",
	"<img \"\"\"><script>alert(1)</script>\">",
	"<div id=\"x\" onfocus=alert(1) autofocus tabindex=1>",
	"<details open ontoggle=alert(1)>",
	"<video><source onerror=\"alert(1)\"></video>",
	"<img srcset=\"javascript:alert(1) 1x\">",
	"<img src=\"x\" lowsrc=\"javascript:alert(1)\" dynsrc=\"javascript:alert(1)\">",
	"<table background=\"javascript:alert(1)\"><td background=\"javascript:alert(1)\">",
	"<scr\0ipt>alert(1)</scr\0ipt>",
	"<a href=\"&#x6a;avascript:alert(1)\">x</a>",
	"<a href=\"&#X6A;avascript&#58alert(1)\">x</a>",
	"<a href=\"jav&#x61;script:alert(1)\">x</a>",
	"<a href=\"javascript\\x3Aalert(1)\">x</a>",
	"<template><script>alert(1)</script></template>",
	"<plaintext><script>alert(1)</script>",
	"<svg><style><img src=x onerror=alert(1)></style></svg>",
	"<a/href=\"javascript:alert(1)\">x</a>",
	"<a href=javascript:alert(1)>x</a>",
};

static void
test_xss(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(xss) / sizeof(xss[0]); i++) {
		char *got = san(xss[i], true);

		if (ci_contains(got, "<script") || ci_contains(got, "javascript") ||
		    ci_contains(got, "vbscript") || ci_contains(got, " on") ||
		    ci_contains(got, "expression") || ci_contains(got, "<iframe") ||
		    ci_contains(got, "<svg") || ci_contains(got, "<math") ||
		    ci_contains(got, "<object") || ci_contains(got, "<embed") ||
		    ci_contains(got, "<form") || ci_contains(got, "<input") ||
		    ci_contains(got, "<meta") || ci_contains(got, "<base") ||
		    ci_contains(got, "<link") || ci_contains(got, "data:text") ||
		    ci_contains(got, "svg+xml") || ci_contains(got, "srcset") ||
		    ci_contains(got, "<img src=x") || ci_contains(got, "<frame") ||
		    ci_contains(got, "binding") || ci_contains(got, "behavior") ||
		    ci_contains(got, "@import") || ci_contains(got, "<textarea") ||
		    ci_contains(got, "<title") || ci_contains(got, "<noscript"))
			fail_msg("input %zu:\n%s\nkept something dangerous:\n%s", i, xss[i], got);
		free(got);
	}
}

static void
test_xss_exact(void **state)
{
	(void)state;
	/* the text around dropped elements stays */
	expect("a<script>alert(1)</script>b", "ab");
	expect("a<svg><g><circle/></g>t</svg>b", "ab");
	/* an attribute value that looks like a tag is text in the value */
	expect("<p title=\"<script>x</script>\">p</p>",
		"<p title=\"&lt;script&gt;x&lt;/script&gt;\">p</p>");
	expect("<p title='\"'>q</p>", "<p title=\"&quot;\">q</p>");
	/* first attribute of a name wins, as the browser does */
	expect("<p title=a title=b>c</p>", "<p title=\"a\">c</p>");
	expect("<scr<script>ipt>alert(1)</script>", "ipt&gt;alert(1)");
	expect("<p>x<!-- <script> -->y</p>", "<p>xy</p>");
	expect("<div style=\"color: red; width: expression(1)\">x</div>", "<div>x</div>");
	expect("<div style=\"color: red; font-size: 12px\">x</div>",
		"<div style=\"color: red; font-size: 12px\">x</div>");
	{
		struct buf b;

		buf_init(&b);
		html_sanitize("x\0y<p title=\"a\0\">", 17, NULL, &b);
		assert_string_equal(b.data, "x\xef\xbf\xbdy<p title=\"a\xef\xbf\xbd\"></p>");
		buf_free(&b);
	}
}

static void
test_remote(void **state)
{
	char *got;

	(void)state;
	expect("<img src=\"https://track.example/p.gif\" alt=a width=1>",
		"<img alt=\"a\" width=\"1\">");
	assert_int_equal(last_blocked, 1);
	expect("<img src=\"//track.example/p.gif\"><td background=http://x/b.png>",
		"<img><td></td>");
	assert_int_equal(last_blocked, 2);
	expect("<div style=\"background: url(http://x/a.png) no-repeat; color: red\">x</div>",
		"<div style=\"background: none no-repeat; color: red\">x</div>");
	assert_int_equal(last_blocked, 1);
	expect("<style>body { background-image: url('https://x/a.png') }</style>",
		"<style>body { background-image: none }</style>");
	assert_int_equal(last_blocked, 1);

	got = san("<img src=\"https://img.example/a.png\"><img src=\"http://img.example/b.png\">"
		  "<img src=\"//img.example/c.png\"><div style=\"background:url(https://x/y.png)\">"
		  "</div>", true);
	assert_string_equal(got, "<img src=\"https://img.example/a.png\">"
		"<img src=\"http://img.example/b.png\"><img src=\"https://img.example/c.png\">"
		"<div style=\"background:url(&quot;https://x/y.png&quot;)\"></div>");
	assert_int_equal(last_blocked, 0);
	free(got);

	/* inline images are no remote resources */
	expect("<img src=\"data:image/png;base64,iVBORw0KGgo=\">",
		"<img src=\"data:image/png;base64,iVBORw0KGgo=\">");
	assert_int_equal(last_blocked, 0);
	/* relative image URLs would load from the webmail: dropped */
	expect("<img src=\"/webmail/api/x\">", "<img>");
}

static void
test_cid(void **state)
{
	struct buf b;

	(void)state;
	expect("<img src=\"cid:part1.abc@example.com\">",
		"<img src=\"/webmail/msg/7/view/part1.abc@example.com\">");
	expect("<img src=\"CID:x&amp;y\">", "<img src=\"/webmail/msg/7/view/x&amp;y\">");
	expect("<img src=\"cid:missing\">", "<img>");
	expect("<div style=\"background:url(cid:bg)\"></div>",
		"<div style=\"background:url(&quot;/webmail/msg/7/view/bg&quot;)\"></div>");
	/* links to cid: are not resources */
	expect("<a href=\"cid:x\">x</a>", "<a target=\"_blank\" rel=\"noopener noreferrer\">x</a>");
	/* without a rewriter (or without options), cid: URLs are dropped */
	buf_init(&b);
	assert_int_equal(html_sanitize("<img src=cid:a>", 15, NULL, &b), 0);
	assert_string_equal(b.data, "<img>");
	buf_free(&b);
}

static void
test_css(void **state)
{
	struct html_sanitize_opts o = { 0 };
	struct buf b;
	size_t blocked = 0;

	(void)state;
	buf_init(&b);
	assert_true(html_sanitize_css("a{color:red}/* x */b{x:url( 'http://h/i.png' )}", 47, &o, &b,
		&blocked));
	assert_string_equal(b.data, "a{color:red} b{x:none}");
	assert_int_equal(blocked, 1);
	buf_reset(&b);
	/* an unterminated comment ends the sheet */
	assert_true(html_sanitize_css("a{color:red}/* b{}", 18, &o, &b, &blocked));
	assert_string_equal(b.data, "a{color:red}");
	buf_reset(&b);
	/* dropped whole, out untouched */
	assert_false(html_sanitize_css("a{b:c}\\", 8, &o, &b, &blocked));
	assert_false(html_sanitize_css("a{x:image-set('i.png' 1x)}", 26, &o, &b, &blocked));
	assert_false(html_sanitize_css("@IMPORT 'x.css';", 16, &o, &b, &blocked));
	assert_false(html_sanitize_css("a{b:c}</style>", 14, &o, &b, &blocked));
	assert_int_equal(b.len, 0);
	/* kept with remote allowed; a quote in the URL cannot end url("") */
	o.allow_remote = true;
	assert_true(html_sanitize_css("a{b:url(http://h/a\"b)}", 22, &o, &b, &blocked));
	assert_string_equal(b.data, "a{b:url(\"http://h/a%22b\")}");
	buf_free(&b);
}

static void
test_malformed(void **state)
{
	(void)state;
	/* unclosed elements are closed, stray end tags ignored */
	expect("<div><p><b>x", "<div><p><b>x</b></p></div>");
	expect("</p></div>x</b>", "x");
	expect("<b><i>x</b>y</i>", "<b><i>x</i></b>y");
	/* input ending inside a tag or attribute: the tag is dropped */
	expect("a<b title=\"x", "a");
	expect("a<b", "a");
	expect("a<", "a&lt;");
	expect("a<!--x", "a");
	expect("a<3 b", "a&lt;3 b");
	expect("</3>x", "x");
	expect("<unknown-el foo=bar>x</unknown-el>", "x");
	/* CDATA in HTML content is a bogus comment up to the first '>' */
	expect("<![CDATA[x]]>y", "y");
	expect("<![CDATA[x>]]>y", "]]&gt;y");
	expect("<p\nclass\n=\nc\n>x", "<p class=\"c\">x</p>");
	/* unterminated script: everything after it is script */
	expect("a<script>x<p>y", "a");
	expect("<style>p{color:red}", "<style>p{color:red}</style>");
}

static void
test_deep_and_huge(void **state)
{
	struct buf in, out;
	size_t i;

	(void)state;
	/* 100000 nested divs: capped, all closed */
	buf_init(&in);
	buf_init(&out);
	for (i = 0; i < 100000; i++)
		buf_puts(&in, "<div>");
	buf_puts(&in, "x");
	html_sanitize(in.data, in.len, NULL, &out);
	assert_int_equal(out.len, HTML_SANITIZE_MAX_DEPTH * (5 + 6) + 1);

	/* many unmatched end tags and attributes: linear */
	buf_reset(&in);
	buf_reset(&out);
	for (i = 0; i < 200000; i++)
		buf_puts(&in, "</b><p a=1 b=2 c=3 onclick=x>");
	html_sanitize(in.data, in.len, NULL, &out);
	assert_true(out.len > 0);

	/* a huge attribute and an unterminated comment */
	buf_reset(&in);
	buf_reset(&out);
	buf_puts(&in, "<p title=\"");
	for (i = 0; i < 1000000; i++)
		buf_putc(&in, 'a');
	buf_puts(&in, "\">x</p><!--");
	for (i = 0; i < 100000; i++)
		buf_puts(&in, "-- >");
	html_sanitize(in.data, in.len, NULL, &out);
	assert_int_equal(out.len, 1000000 + strlen("<p title=\"\">x</p>"));
	buf_free(&in);
	buf_free(&out);
}

static void
test_fixed_point(void **state)
{
	size_t i;

	(void)state;
	/* sanitizing sanitized output changes nothing */
	for (i = 0; i < sizeof(xss) / sizeof(xss[0]); i++) {
		char *a = san(xss[i], false), *b = san(a, false);

		assert_string_equal(a, b);
		free(a);
		free(b);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ordinary),
		cmocka_unit_test(test_links),
		cmocka_unit_test(test_xss),
		cmocka_unit_test(test_xss_exact),
		cmocka_unit_test(test_remote),
		cmocka_unit_test(test_cid),
		cmocka_unit_test(test_css),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_deep_and_huge),
		cmocka_unit_test(test_fixed_point),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
