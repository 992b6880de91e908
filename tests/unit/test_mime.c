/* Unit tests for lib/mail/header and lib/mail/mime: header iteration and
 * RFC 2047, MIME structure with exact byte offsets, envelopes, IMAP
 * sections, preview, body decoding, JSON round trip and robustness on
 * truncated and hostile input. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/util.h"
#include "mail/header.h"
#include "mail/mime.h"

/* ---- helpers ---- */

/* Expand "|" in a template to the line ending eol. */
static char *
expand(const char *tmpl, const char *eol)
{
	struct buf b;

	buf_init(&b);
	for (; *tmpl; tmpl++) {
		if (*tmpl == '|')
			buf_puts(&b, eol);
		else
			buf_putc(&b, *tmpl);
	}
	{
		char *r = buf_steal(&b);

		buf_free(&b); /* buf_steal leaves b initialized */
		return r;
	}
}

/* Offset of the nth occurrence of needle (with "|" expanded) in msg. */
static size_t
at(const char *msg, const char *eol, const char *needle, int nth)
{
	char *nd = expand(needle, eol);
	const char *p = msg;
	size_t off;

	for (;;) {
		p = strstr(p, nd);
		if (p == NULL)
			fail_msg("needle %s not found", needle);
		if (--nth == 0)
			break;
		p++;
	}
	off = (size_t)(p - msg);
	free(nd);
	return off;
}

/* Offset just after the nth occurrence of needle. */
static size_t
after(const char *msg, const char *eol, const char *needle, int nth)
{
	char *nd = expand(needle, eol);
	size_t r = at(msg, eol, needle, nth) + strlen(nd);

	free(nd);
	return r;
}

static void
expect_offsets(const struct mime_part *p, size_t h, size_t b, size_t e, uint64_t lines)
{
	assert_non_null(p);
	assert_int_equal(p->header_start, h);
	assert_int_equal(p->body_start, b);
	assert_int_equal(p->end, e);
	assert_int_equal(p->body_lines, lines);
}

static void
expect_type(const struct mime_part *p, const char *type, const char *subtype)
{
	assert_non_null(p);
	assert_string_equal(p->type, type);
	assert_string_equal(p->subtype, subtype);
}

static const char *
param(const struct mime_param *v, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return v[i].value;
	return NULL;
}

static const struct mime_part *
section(const struct mime_part *root, size_t n, ...)
{
	uint32_t nums[16];
	va_list ap;
	size_t i;

	va_start(ap, n);
	for (i = 0; i < n; i++)
		nums[i] = va_arg(ap, unsigned int);
	va_end(ap);
	return mime_find_section(root, nums, n);
}

static const char NESTED[] = "From: A <a@example.com>|"
                             "To: b@example.com, \"C D\" <c@example.com>|"
                             "Cc: undisclosed-recipients:;|"
                             "Subject: =?utf-8?q?nested?= test|"
                             "Date: Mon, 23 Nov 2026 10:00:00 +0100|"
                             "Message-ID: <outer@example.com>|"
                             "In-Reply-To: <parent@example.com>|"
                             "MIME-Version: 1.0|"
                             "Content-Type: multipart/mixed;| boundary=\"outer\"|"
                             "|"
                             "preamble|"
                             "--outer|"
                             "Content-Type: multipart/alternative; boundary=inner|"
                             "|"
                             "--inner|"
                             "Content-Type: text/plain; charset=utf-8|"
                             "Content-Transfer-Encoding: quoted-printable|"
                             "|"
                             "plain =C3=A4 body|"
                             "second line|"
                             "--inner|"
                             "Content-Type: text/html|"
                             "|"
                             "<p>html</p>|"
                             "--inner--|"
                             "|"
                             "--outer|"
                             "Content-Type: message/rfc822|"
                             "Content-Description: forwarded|"
                             "|"
                             "Subject: inner|"
                             "From: c@example.com|"
                             "|"
                             "inner body|"
                             "--outer|"
                             "Content-Type: application/octet-stream; name=\"a.bin\"|"
                             "Content-Transfer-Encoding: base64|"
                             "Content-Disposition: attachment; filename=\"a.bin\"|"
                             "Content-ID: <part3@example.com>|"
                             "|"
                             "AAEC|"
                             "/w==|"
                             "--outer--|"
                             "epilogue|";

static void
check_nested(const char *eol)
{
	char *m = expand(NESTED, eol);
	size_t n = strlen(m);
	struct mime_part *root = mime_parse(m, n);
	const struct mime_part *p1, *p11, *p12, *p2, *p3;
	const struct mime_envelope *env;
	struct buf b;

	expect_offsets(root, 0, after(m, eol, "boundary=\"outer\"||", 1), n, 34);
	expect_type(root, "multipart", "mixed");
	assert_string_equal(param(root->params, root->nparams, "boundary"), "outer");
	assert_int_equal(root->nparts, 3);
	assert_null(root->message);

	p1 = &root->parts[0];
	expect_type(p1, "multipart", "alternative");
	expect_offsets(p1, after(m, eol, "preamble|--outer|", 1),
	        after(m, eol, "boundary=inner||", 1),
	        at(m, eol, "--inner--||--outer|", 1) + strlen("--inner--") + strlen(eol), 11);
	assert_null(p1->envelope);
	assert_int_equal(p1->nparts, 2);

	p11 = &p1->parts[0];
	expect_type(p11, "text", "plain");
	assert_string_equal(param(p11->params, p11->nparams, "charset"), "utf-8");
	assert_string_equal(p11->encoding, "quoted-printable");
	expect_offsets(p11, after(m, eol, "boundary=inner||--inner|", 1),
	        after(m, eol, "quoted-printable||", 1),
	        at(m, eol, "second line|--inner", 1) + strlen("second line"), 2);

	p12 = &p1->parts[1];
	expect_type(p12, "text", "html");
	expect_offsets(p12, after(m, eol, "second line|--inner|", 1),
	        after(m, eol, "text/html||", 1), at(m, eol, "<p>html</p>", 1) + 11, 1);

	p2 = &root->parts[1];
	expect_type(p2, "message", "rfc822");
	assert_string_equal(p2->description, "forwarded");
	expect_offsets(p2, after(m, eol, "--inner--||--outer|", 1),
	        after(m, eol, "Content-Description: forwarded||", 1),
	        at(m, eol, "inner body|--outer", 1) + strlen("inner body"), 4);
	assert_non_null(p2->message);
	assert_null(p2->envelope);
	expect_offsets(
	        p2->message, p2->body_start, after(m, eol, "From: c@example.com||", 1), p2->end, 1);
	expect_type(p2->message, "text", "plain");
	assert_non_null(p2->message->envelope);
	assert_string_equal(p2->message->envelope->subject, "inner");
	assert_int_equal(p2->message->envelope->from.n, 1);
	assert_string_equal(p2->message->envelope->from.v[0].localpart, "c");
	assert_null(p2->message->envelope->date);

	p3 = &root->parts[2];
	expect_type(p3, "application", "octet-stream");
	assert_string_equal(param(p3->params, p3->nparams, "name"), "a.bin");
	assert_string_equal(p3->encoding, "base64");
	assert_string_equal(p3->disposition, "attachment");
	assert_string_equal(param(p3->disp_params, p3->ndisp_params, "filename"), "a.bin");
	assert_string_equal(p3->id, "<part3@example.com>");
	expect_offsets(p3, after(m, eol, "inner body|--outer|", 1),
	        after(m, eol, "<part3@example.com>||", 1), at(m, eol, "/w==|--outer--", 1) + 4, 2);
	buf_init(&b);
	assert_int_equal(mime_decode_body(p3, m, n, &b), 0);
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.data, "\x00\x01\x02\xff", 4);

	/* Top-level envelope. */
	env = root->envelope;
	assert_non_null(env);
	assert_string_equal(env->subject, "=?utf-8?q?nested?= test");
	assert_string_equal(env->date, "Mon, 23 Nov 2026 10:00:00 +0100");
	assert_string_equal(env->message_id, "<outer@example.com>");
	assert_string_equal(env->in_reply_to, "<parent@example.com>");
	assert_int_equal(env->from.n, 1);
	assert_string_equal(env->from.v[0].name, "A");
	assert_string_equal(env->from.v[0].localpart, "a");
	assert_string_equal(env->from.v[0].domain, "example.com");
	assert_int_equal(env->sender.n, 0);
	assert_int_equal(env->reply_to.n, 0);
	assert_int_equal(env->to.n, 2);
	assert_string_equal(env->to.v[1].name, "C D");
	assert_int_equal(env->cc.n, 1);
	assert_string_equal(env->cc.v[0].group, "undisclosed-recipients");
	assert_int_equal(env->bcc.n, 0);

	/* Preview: the first text/plain, QP-decoded, lines joined. */
	buf_reset(&b);
	mime_preview(root, m, n, 256, &b);
	assert_string_equal(b.data, "plain \xc3\xa4 body second line");

	buf_free(&b);
	mime_free(&root);
	assert_null(root);
	free(m);
}

static void
test_nested_crlf(void **state)
{
	check_nested("\r\n");
}

static void
test_nested_bare_lf(void **state)
{
	check_nested("\n");
}

static void
test_missing_close_boundary(void **state)
{
	static const char tmpl[] = "Content-Type: multipart/mixed; boundary=b|"
	                           "|"
	                           "--b|"
	                           "|"
	                           "first|"
	                           "--b  \t|"
	                           "Content-Type: text/plain|"
	                           "|"
	                           "second|"
	                           "--bb|"
	                           "--b-|"
	                           "not a boundary|";
	char *m = expand(tmpl, "\r\n");
	size_t n = strlen(m);
	struct mime_part *root = mime_parse(m, n);
	const struct mime_part *p;

	assert_int_equal(root->nparts, 2);
	p = &root->parts[0];
	/* No header fields: the header section is the empty line only. */
	expect_offsets(p, after(m, "\r\n", "--b|", 1), after(m, "\r\n", "--b||", 1),
	        at(m, "\r\n", "first|", 1) + 5, 1);
	expect_type(p, "text", "plain");
	assert_string_equal(param(p->params, p->nparams, "charset"), "us-ascii");
	p = &root->parts[1];
	/* Boundary with transport padding; the last part runs to the end. */
	expect_offsets(
	        p, after(m, "\r\n", "--b  \t|", 1), after(m, "\r\n", "text/plain||", 1), n, 4);
	mime_free(&root);
	free(m);
}

static void
test_no_content_type(void **state)
{
	const char *m = "Subject: plain\nFrom: x@example.com\n\nline one\nline two";
	struct mime_part *root = mime_parse(m, strlen(m));
	struct buf b;

	expect_type(root, "text", "plain");
	assert_string_equal(param(root->params, root->nparams, "charset"), "us-ascii");
	assert_null(root->encoding);
	/* Body without a final line break still counts its last line. */
	expect_offsets(root, 0, 36, strlen(m), 2);
	assert_string_equal(root->envelope->subject, "plain");
	buf_init(&b);
	mime_preview(root, m, strlen(m), 100, &b);
	assert_string_equal(b.data, "line one line two");
	buf_free(&b);
	mime_free(&root);

	/* Header only, no empty line. */
	m = "Subject: x\r\nFrom: y@example.com";
	root = mime_parse(m, strlen(m));
	expect_offsets(root, 0, strlen(m), strlen(m), 0);
	assert_string_equal(root->envelope->subject, "x");
	assert_int_equal(root->envelope->from.n, 1);
	mime_free(&root);

	/* No header fields at all. */
	m = "\r\nbody\r\n";
	root = mime_parse(m, strlen(m));
	expect_offsets(root, 0, 2, 8, 1);
	assert_null(root->envelope->subject);
	mime_free(&root);

	/* Empty input. */
	root = mime_parse("", 0);
	expect_offsets(root, 0, 0, 0, 0);
	expect_type(root, "text", "plain");
	mime_free(&root);
	root = mime_parse(NULL, 0);
	expect_offsets(root, 0, 0, 0, 0);
	mime_free(&root);
}

static void
test_degraded_structure(void **state)
{
	struct mime_part *root;
	const char *m;

	/* Multipart without a boundary parameter is served as text. */
	m = "Content-Type: multipart/mixed\r\n\r\n--x\r\nbody\r\n";
	root = mime_parse(m, strlen(m));
	expect_type(root, "text", "plain");
	assert_int_equal(root->nparts, 0);
	mime_free(&root);

	/* Boundary never seen in the body: also text. */
	m = "Content-Type: multipart/mixed; boundary=zz\r\n\r\n--x\r\nbody\r\n";
	root = mime_parse(m, strlen(m));
	expect_type(root, "text", "plain");
	mime_free(&root);

	/* Invalid Content-Type: RFC 2045 default. */
	m = "Content-Type: text\r\n\r\nx";
	root = mime_parse(m, strlen(m));
	expect_type(root, "text", "plain");
	assert_string_equal(param(root->params, root->nparams, "charset"), "us-ascii");
	mime_free(&root);

	/* A base64 message/rfc822 cannot be addressed by offsets. */
	m = "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
	    "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	    "U3ViamVjdDogeA0KDQp5DQo=\r\n--b--\r\n";
	root = mime_parse(m, strlen(m));
	assert_int_equal(root->nparts, 1);
	expect_type(&root->parts[0], "application", "octet-stream");
	assert_null(root->parts[0].message);
	mime_free(&root);

	/* multipart/digest: parts default to message/rfc822. */
	m = "Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\n"
	    "Subject: digested\r\n\r\nhello\r\n--d--\r\n";
	root = mime_parse(m, strlen(m));
	assert_int_equal(root->nparts, 1);
	expect_type(&root->parts[0], "message", "rfc822");
	assert_non_null(root->parts[0].message);
	assert_string_equal(root->parts[0].message->envelope->subject, "digested");
	mime_free(&root);

	/* Top-level message/rfc822 and the second of two Content-Types. */
	m = "Content-Type: message/rfc822\r\nContent-Type: text/html\r\n\r\n"
	    "Content-Type: text/html\r\n\r\n<b>x</b>";
	root = mime_parse(m, strlen(m));
	expect_type(root, "message", "rfc822");
	assert_non_null(root->message);
	expect_type(root->message, "text", "html");
	mime_free(&root);
}

static void
test_params(void **state)
{
	static const char m[] =
	        "Content-Type: Application/X-Stuff (a comment) ;\r\n"
	        " title*0*=us-ascii'en'This%20is%20even%20more%20;\r\n"
	        " title*1*=%2A%2A%2Afun%2A%2A%2A%20;\r\n"
	        " title*2=\"isn't it!\"; NAME = \"a \\\"q\\\" b\" ; junk ; x=unquoted value ;"
	        " bnd=----=_Part_1\r\n"
	        "Content-Disposition: ATTACHMENT; filename*=utf-8''%C3%A4rger.txt; size=12;"
	        " filename=fallback.txt\r\n"
	        "Content-Transfer-Encoding: (c) Base64 \r\n"
	        "Content-Language: en, de\r\n"
	        "Content-Location: http://example.com/x\r\n"
	        "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n"
	        "Content-ID:\r\n"
	        "\r\n";
	struct mime_part *root = mime_parse(m, sizeof(m) - 1);
	const struct mime_part *p;

	expect_type(root, "application", "x-stuff");
	assert_string_equal(param(root->params, root->nparams, "title"),
	        "This is even more ***fun*** isn't it!");
	assert_string_equal(param(root->params, root->nparams, "name"), "a \"q\" b");
	assert_string_equal(param(root->params, root->nparams, "x"), "unquoted value");
	assert_string_equal(param(root->params, root->nparams, "bnd"), "----=_Part_1");
	assert_int_equal(root->nparams, 4);
	assert_string_equal(root->disposition, "attachment");
	/* The extended value wins over the plain one. */
	assert_string_equal(
	        param(root->disp_params, root->ndisp_params, "filename"), "\xc3\xa4rger.txt");
	assert_string_equal(param(root->disp_params, root->ndisp_params, "size"), "12");
	assert_string_equal(root->encoding, "base64");
	assert_string_equal(root->language, "en, de");
	assert_string_equal(root->location, "http://example.com/x");
	assert_string_equal(root->md5, "Q2hlY2sgSW50ZWdyaXR5IQ==");
	assert_null(root->id); /* empty field */
	mime_free(&root);

	{
		const char *m2 =
		        "Content-Type: text/plain; name*=iso-8859-1'de'%E4%FC.txt\r\n"
		        "Content-Disposition: inline; filename=\"=?utf-8?b?w6QudHh0?=\"\r\n\r\n";

		root = mime_parse(m2, strlen(m2));
		p = root;
		assert_string_equal(param(p->params, p->nparams, "name"), "\xc3\xa4\xc3\xbc.txt");
		assert_string_equal(
		        param(p->disp_params, p->ndisp_params, "filename"), "\xc3\xa4.txt");
		mime_free(&root);
	}
}

static void
test_sections(void **state)
{
	char *m = expand(NESTED, "\r\n");
	struct mime_part *root = mime_parse(m, strlen(m));
	const char *single = "Subject: s\r\n\r\nbody\r\n";
	struct mime_part *s1;
	uint32_t none[1];

	assert_ptr_equal(mime_find_section(root, none, 0), root);
	assert_ptr_equal(section(root, 1, 1), &root->parts[0]);
	assert_ptr_equal(section(root, 2, 1, 1), &root->parts[0].parts[0]);
	assert_ptr_equal(section(root, 2, 1, 2), &root->parts[0].parts[1]);
	assert_ptr_equal(section(root, 1, 2), &root->parts[1]);
	/* 2.1: part 1 of the non-multipart inner message is its body. */
	assert_ptr_equal(section(root, 2, 2, 1), root->parts[1].message);
	assert_ptr_equal(section(root, 1, 3), &root->parts[2]);
	assert_null(section(root, 1, 4));
	assert_null(section(root, 1, 0));
	assert_null(section(root, 2, 1, 3));
	assert_null(section(root, 3, 1, 1, 1));
	assert_null(section(root, 2, 2, 2));
	assert_null(section(root, 3, 2, 1, 1));
	assert_null(section(root, 2, 3, 1));
	mime_free(&root);
	free(m);

	/* A non-multipart message only has part 1, the message itself. */
	s1 = mime_parse(single, strlen(single));
	assert_ptr_equal(section(s1, 1, 1), s1);
	assert_null(section(s1, 1, 2));
	assert_null(section(s1, 2, 1, 1));
	mime_free(&s1);

	/* message/rfc822 whose inner message is multipart. */
	{
		const char *m2 = "Content-Type: multipart/mixed; boundary=o\r\n\r\n"
		                 "--o\r\n\r\ntext\r\n"
		                 "--o\r\nContent-Type: message/rfc822\r\n\r\n"
		                 "Content-Type: multipart/mixed; boundary=i\r\n\r\n"
		                 "--i\r\n\r\nin1\r\n--i\r\n\r\nin2\r\n--i--\r\n"
		                 "--o--\r\n";
		struct mime_part *r = mime_parse(m2, strlen(m2));
		const struct mime_part *inner;

		assert_int_equal(r->nparts, 2);
		inner = r->parts[1].message;
		assert_non_null(inner);
		assert_int_equal(inner->nparts, 2);
		assert_ptr_equal(section(r, 2, 2, 1), &inner->parts[0]);
		assert_ptr_equal(section(r, 2, 2, 2), &inner->parts[1]);
		assert_null(section(r, 2, 2, 3));
		assert_int_equal(inner->parts[1].end - inner->parts[1].body_start, 3);
		assert_memory_equal(m2 + inner->parts[1].body_start, "in2", 3);
		mime_free(&r);
	}
}

static void
test_preview(void **state)
{
	struct mime_part *root;
	struct buf b;
	const char *m;

	buf_init(&b);
	/* HTML only: tags, style, script, comments dropped; entities decoded. */
	m = "Content-Type: text/html; charset=utf-8\r\n\r\n"
	    "<html><head><title>T</title><style>p { color: red }</style></head>"
	    "<body><!-- hidden --><p>Hi&nbsp;&amp; bye</p><script>alert(1)</script>"
	    "<div>caf&#233; &#x263A; &lt;ok&gt; a&unknown; <a href=\"x>y\">link</a>"
	    "</div></body></html>";
	root = mime_parse(m, strlen(m));
	mime_preview(root, m, strlen(m), 256, &b);
	assert_string_equal(b.data, "Hi & bye caf\xc3\xa9 \xe2\x98\xba <ok> a&unknown; link");
	mime_free(&root);

	/* Plain text wins over HTML; cut counts characters, not bytes. */
	m = "Content-Type: multipart/alternative; boundary=a\r\n\r\n"
	    "--a\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n"
	    "--a\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n"
	    "xNbcIOT2/CAgCgp4eXo=\r\n--a--\r\n";
	root = mime_parse(m, strlen(m));
	buf_reset(&b);
	mime_preview(root, m, strlen(m), 256, &b);
	assert_string_equal(b.data, "\xc3\x84\xc3\x96\xc3\x9c \xc3\xa4\xc3\xb6\xc3\xbc xyz");
	buf_reset(&b);
	mime_preview(root, m, strlen(m), 3, &b);
	assert_string_equal(b.data, "\xc3\x84\xc3\x96\xc3\x9c");
	buf_reset(&b);
	/* No dangling space at the cut. */
	mime_preview(root, m, strlen(m), 4, &b);
	assert_string_equal(b.data, "\xc3\x84\xc3\x96\xc3\x9c");
	buf_reset(&b);
	mime_preview(root, m, strlen(m), 5, &b);
	assert_string_equal(b.data, "\xc3\x84\xc3\x96\xc3\x9c \xc3\xa4");
	buf_reset(&b);
	mime_preview(root, m, strlen(m), 0, &b);
	assert_int_equal(b.len, 0);
	mime_free(&root);

	/* Attachments are not previewed. */
	m = "Content-Type: multipart/mixed; boundary=a\r\n\r\n"
	    "--a\r\nContent-Type: text/plain\r\nContent-Disposition: attachment\r\n\r\n"
	    "attached\r\n--a\r\nContent-Type: image/png\r\n\r\nxx\r\n--a--\r\n";
	root = mime_parse(m, strlen(m));
	buf_reset(&b);
	mime_preview(root, m, strlen(m), 256, &b);
	assert_int_equal(b.len, 0);
	mime_free(&root);
	buf_free(&b);
}

static void
test_decode_body(void **state)
{
	struct mime_part p;
	struct buf b;
	const char *s;

	memset(&p, 0, sizeof(p));
	buf_init(&b);

	s = "SGVs\r\nbG8g\r\n d29y bGQ\r\n";
	p.body_start = 0;
	p.end = strlen(s);
	p.encoding = (char *)"base64";
	assert_int_equal(mime_decode_body(&p, s, strlen(s), &b), 0);
	assert_string_equal(b.data, "Hello world");

	buf_reset(&b);
	s = "a=3Db=\r\nc  \r\nd=\ne=ZZ=4\r\n=E2=82=AC=";
	p.end = strlen(s);
	p.encoding = (char *)"quoted-printable";
	assert_int_equal(mime_decode_body(&p, s, strlen(s), &b), 0);
	assert_string_equal(b.data, "a=bc\r\nde=ZZ=4\r\n\xe2\x82\xac");

	buf_reset(&b);
	p.encoding = (char *)"x-uuencode";
	s = "begin 644";
	p.end = strlen(s);
	assert_int_equal(mime_decode_body(&p, s, strlen(s), &b), -1);
	assert_string_equal(b.data, "begin 644");

	buf_reset(&b);
	p.encoding = NULL;
	s = "raw\r\n";
	p.end = strlen(s);
	assert_int_equal(mime_decode_body(&p, s, strlen(s), &b), 0);
	assert_string_equal(b.data, "raw\r\n");

	/* Offsets past the end of the buffer are clamped. */
	buf_reset(&b);
	p.body_start = 3;
	p.end = 1000;
	assert_int_equal(mime_decode_body(&p, s, strlen(s), &b), 0);
	assert_string_equal(b.data, "\r\n");
	buf_reset(&b);
	p.body_start = 500;
	assert_int_equal(mime_decode_body(&p, s, strlen(s), &b), 0);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

/* ---- headers ---- */

/* mail_header_select keeps the chosen fields so that iterating over its
 * output gives them again, each value unfolded. */
static void
test_header_select(void **state)
{
	static const char *const names[] = { "from", "to", "subject" };
	const char *h = "Received: by x\r\n"
	                "fRoM: a@example.com\r\n"
	                "Subject: folded\r\n\tline\r\n  two\r\n"
	                "X-Other: skip\r\n"
	                "To  : first\n"
	                "To:\r\n"
	                "\r\n"
	                "Subject: in the body\r\n";
	struct mail_header_iter a, b;
	const char *n1, *v1, *n2, *v2;
	size_t nl1, vl1, nl2, vl2, kept = 0;
	struct buf out, unf;

	(void)state;
	buf_init(&out);
	buf_init(&unf);
	assert_true(mail_header_select(&out, h, strlen(h), names, 3));
	assert_string_equal(out.data, "fRoM:a@example.com\r\n"
		"Subject:folded\tline  two\r\n"
		"To:first\r\n"
		"To:\r\n");
	mail_header_iter_init(&a, h, strlen(h));
	mail_header_iter_init(&b, out.data, out.len);
	while (mail_header_next(&a, &n1, &nl1, &v1, &vl1)) {
		if (!(nl1 == 4 && strncasecmp(n1, "from", 4) == 0) &&
		    !(nl1 == 2 && strncasecmp(n1, "to", 2) == 0) &&
		    !(nl1 == 7 && strncasecmp(n1, "subject", 7) == 0))
			continue;
		assert_true(mail_header_next(&b, &n2, &nl2, &v2, &vl2));
		assert_int_equal(nl1, nl2);
		assert_memory_equal(n1, n2, nl1);
		buf_reset(&unf);
		mail_header_unfold(&unf, v1, vl1);
		assert_int_equal(unf.len, vl2);
		assert_memory_equal(unf.data, v2, vl2);
		kept++;
	}
	assert_false(mail_header_next(&b, &n2, &nl2, &v2, &vl2));
	assert_int_equal(kept, 4);
	/* nothing chosen, or an empty header: nothing out */
	buf_reset(&out);
	assert_true(mail_header_select(&out, h, strlen(h), names, 0));
	assert_true(mail_header_select(&out, "", 0, names, 3));
	assert_true(mail_header_select(&out, "\r\nFrom: body\r\n", 15, names, 3));
	assert_int_equal(out.len, 0);
	/* what text cannot hold: NUL, a CR unfolding leaves, bad UTF-8 */
	assert_false(mail_header_select(&out, "To: a\0b\r\n", 9, names, 3));
	buf_reset(&out);
	assert_false(mail_header_select(&out, "To: a\rb\r\n", 9, names, 3));
	buf_reset(&out);
	assert_false(mail_header_select(&out, "To: \xc3(\r\n", 8, names, 3));
	buf_reset(&out);
	/* the same in a field not chosen does not matter */
	assert_true(mail_header_select(&out, "X: a\0b\r\nTo: \xc3\xbc\r\n", 15, names, 3));
	assert_string_equal(out.data, "To:\xc3\xbc\r\n");
	buf_free(&out);
	buf_free(&unf);
}

static void
test_header_iter(void **state)
{
	const char *h = "From: a@example.com\r\n"
	                "Subject: folded\r\n\tline\r\n  two\r\n"
	                "no colon here\r\n"
	                " orphan continuation\r\n"
	                "Bad Name: x\r\n"
	                "X-Empty:\r\n"
	                "X-Spaced  : v\n"
	                "\r\n"
	                "Body: not a header\r\n";
	struct mail_header_iter it;
	const char *name, *value;
	size_t nl, vl;
	struct buf b;

	mail_header_iter_init(&it, h, strlen(h));
	assert_true(mail_header_next(&it, &name, &nl, &value, &vl));
	assert_int_equal(nl, 4);
	assert_memory_equal(name, "From", 4);
	assert_int_equal(vl, 14);
	assert_memory_equal(value, " a@example.com", 14);
	assert_true(mail_header_next(&it, &name, &nl, &value, &vl));
	assert_memory_equal(name, "Subject", 7);
	assert_int_equal(vl, strlen(" folded\r\n\tline\r\n  two"));
	assert_memory_equal(value, " folded\r\n\tline\r\n  two", vl);
	assert_true(mail_header_next(&it, &name, &nl, &value, &vl));
	assert_int_equal(nl, 7);
	assert_memory_equal(name, "X-Empty", 7);
	assert_int_equal(vl, 0);
	assert_true(mail_header_next(&it, &name, &nl, &value, &vl));
	assert_int_equal(nl, 8);
	assert_memory_equal(name, "X-Spaced", 8);
	assert_int_equal(vl, 2);
	assert_false(mail_header_next(&it, &name, &nl, &value, &vl));
	assert_false(mail_header_next(&it, &name, &nl, &value, &vl));

	buf_init(&b);
	assert_true(mail_header_get(h, strlen(h), "SUBJECT", &b));
	assert_string_equal(b.data, "folded\tline  two");
	buf_reset(&b);
	assert_false(mail_header_get(h, strlen(h), "Body", &b));
	assert_false(mail_header_get(h, strlen(h), "Subjec", &b));
	assert_true(mail_header_get(h, strlen(h), "x-spaced", &b));
	assert_string_equal(b.data, "v");
	buf_reset(&b);
	mail_header_unfold(&b, " \r\n a\r\n\tb \r\n ", 13);
	assert_string_equal(b.data, "a\tb");
	buf_free(&b);

	/* A final field without a line break. */
	mail_header_iter_init(&it, "A: 1\r\nB: 2", 10);
	assert_true(mail_header_next(&it, &name, &nl, &value, &vl));
	assert_true(mail_header_next(&it, &name, &nl, &value, &vl));
	assert_memory_equal(name, "B", 1);
	assert_int_equal(vl, 2);
	assert_false(mail_header_next(&it, &name, &nl, &value, &vl));
}

static void
expect_decoded(const char *in, const char *out)
{
	struct buf b;

	buf_init(&b);
	mail_header_decode_words(&b, in, strlen(in));
	assert_string_equal(b.data, out);
	buf_free(&b);
}

static void
test_encoded_words(void **state)
{
	expect_decoded("=?UTF-8?B?SGVsbG8gV29ybGQ=?=", "Hello World");
	expect_decoded("=?utf-8?q?a_b=3Dc?=", "a b=c");
	/* Whitespace between adjacent words goes, other text stays. */
	expect_decoded("=?utf-8?q?a?= =?utf-8?q?b?=", "ab");
	expect_decoded("=?utf-8?q?a?=\r\n\t=?utf-8?q?b?=", "ab");
	expect_decoded("=?utf-8?q?a?= b =?utf-8?q?c?=", "a b c");
	expect_decoded("x =?utf-8?q?a?= y", "x a y");
	/* Different charsets next to each other. */
	expect_decoded("=?iso-8859-1?q?=E4?= =?utf-8?q?=C3=B6?=", "\xc3\xa4\xc3\xb6");
	/* RFC 2231 language suffix. */
	expect_decoded("=?US-ASCII*EN?Q?Keith_Moore?=", "Keith Moore");
	/* iconv charsets. */
	expect_decoded("=?koi8-r?b?8NLJ18XU?=", "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82");
	expect_decoded("=?windows-1252?q?=80?=", "\xe2\x82\xac");
	/* Invalid words are kept. */
	expect_decoded("=?utf-8?x?abc?=", "=?utf-8?x?abc?=");
	expect_decoded("=?utf-8?b?####?=", "=?utf-8?b?####?=");
	expect_decoded("=?x-nonexistent?q?a?=", "=?x-nonexistent?q?a?=");
	expect_decoded("=?utf-8?q?a b?=", "=?utf-8?q?a b?=");
	expect_decoded("=?utf-8?q?unterminated", "=?utf-8?q?unterminated");
	expect_decoded("=??q?a?=", "=??q?a?=");
	expect_decoded("=?utf-8//TRANSLIT?q?a?=", "=?utf-8//TRANSLIT?q?a?=");
	/* Decoded invalid UTF-8 and raw 8-bit become U+FFFD. */
	expect_decoded("=?utf-8?q?=FF?= \xff", "\xef\xbf\xbd \xef\xbf\xbd");
	expect_decoded("=?utf-8?q?=00?=", "\xef\xbf\xbd");
}

/* ---- JSON ---- */

static void
expect_str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static void
expect_params_eq(const struct mime_param *a, size_t na, const struct mime_param *b, size_t nb)
{
	size_t i;

	assert_int_equal(na, nb);
	for (i = 0; i < na; i++) {
		assert_string_equal(a[i].name, b[i].name);
		assert_string_equal(a[i].value, b[i].value);
	}
}

static void
expect_addrs_eq(const struct mail_hdr_addrs *a, const struct mail_hdr_addrs *b)
{
	size_t i;

	assert_int_equal(a->n, b->n);
	for (i = 0; i < a->n; i++) {
		assert_string_equal(a->v[i].name, b->v[i].name);
		assert_string_equal(a->v[i].localpart, b->v[i].localpart);
		assert_string_equal(a->v[i].domain, b->v[i].domain);
		expect_str_eq(a->v[i].group, b->v[i].group);
	}
}

static void
expect_tree_eq(const struct mime_part *a, const struct mime_part *b)
{
	size_t i;

	assert_int_equal(a->header_start, b->header_start);
	assert_int_equal(a->body_start, b->body_start);
	assert_int_equal(a->end, b->end);
	assert_int_equal(a->body_lines, b->body_lines);
	expect_str_eq(a->type, b->type);
	expect_str_eq(a->subtype, b->subtype);
	expect_params_eq(a->params, a->nparams, b->params, b->nparams);
	expect_str_eq(a->id, b->id);
	expect_str_eq(a->description, b->description);
	expect_str_eq(a->encoding, b->encoding);
	expect_str_eq(a->disposition, b->disposition);
	expect_params_eq(a->disp_params, a->ndisp_params, b->disp_params, b->ndisp_params);
	expect_str_eq(a->language, b->language);
	expect_str_eq(a->location, b->location);
	expect_str_eq(a->md5, b->md5);
	assert_int_equal(a->nparts, b->nparts);
	for (i = 0; i < a->nparts; i++)
		expect_tree_eq(&a->parts[i], &b->parts[i]);
	assert_int_equal(a->message == NULL, b->message == NULL);
	if (a->message)
		expect_tree_eq(a->message, b->message);
	assert_int_equal(a->envelope == NULL, b->envelope == NULL);
	if (a->envelope) {
		const struct mime_envelope *x = a->envelope, *y = b->envelope;

		expect_str_eq(x->date, y->date);
		expect_str_eq(x->subject, y->subject);
		expect_addrs_eq(&x->from, &y->from);
		expect_addrs_eq(&x->sender, &y->sender);
		expect_addrs_eq(&x->reply_to, &y->reply_to);
		expect_addrs_eq(&x->to, &y->to);
		expect_addrs_eq(&x->cc, &y->cc);
		expect_addrs_eq(&x->bcc, &y->bcc);
		expect_str_eq(x->in_reply_to, y->in_reply_to);
		expect_str_eq(x->message_id, y->message_id);
	}
}

static void
test_json_roundtrip(void **state)
{
	char *m = expand(NESTED, "\r\n");
	struct mime_part *root = mime_parse(m, strlen(m)), *back;
	struct buf j1, j2;

	buf_init(&j1);
	buf_init(&j2);
	mime_to_json(root, &j1);
	/* Compact: no pretty printing, short keys. */
	assert_null(strstr(j1.data, "\n"));
	assert_null(strstr(j1.data, ": "));
	assert_non_null(strstr(j1.data, "\"t\":\"multipart\""));
	back = mime_from_json(j1.data, j1.len);
	assert_non_null(back);
	expect_tree_eq(root, back);
	mime_to_json(back, &j2);
	assert_string_equal(j1.data, j2.data);
	mime_free(&back);
	mime_free(&root);

	/* Strings with quotes, backslashes, controls and non-ASCII survive. */
	{
		const char *m2 = "Subject: \"q\" \\ \x01 \xc3\xa4 / \xff\r\n"
		                 "From: \"N \\\"x\\\"\" <a@b.example>\r\n\r\n";

		root = mime_parse(m2, strlen(m2));
		buf_reset(&j1);
		mime_to_json(root, &j1);
		back = mime_from_json(j1.data, j1.len);
		assert_non_null(back);
		expect_tree_eq(root, back);
		assert_string_equal(
		        back->envelope->subject, "\"q\" \\ \x01 \xc3\xa4 / \xef\xbf\xbd");
		mime_free(&back);
		mime_free(&root);
	}
	buf_free(&j1);
	buf_free(&j2);
	free(m);
}

static void
test_json_hostile(void **state)
{
	static const char *const bad[] = {
	        "",
	        " ",
	        "{",
	        "[]",
	        "null",
	        "1",
	        "\"x\"",
	        "{}",
	        "{\"h\":0}",
	        "{\"h\":0,\"b\":0,\"e\":0,\"l\":0,\"t\":\"text\"}",
	        "{\"h\":0,\"b\":0,\"e\":0,\"l\":0,\"t\":1,\"s\":\"plain\"}",
	        "{\"h\":\"0\",\"b\":0,\"e\":0,\"l\":0,\"t\":\"text\",\"s\":\"plain\"}",
	        "{\"h\":-1,\"b\":0,\"e\":0,\"l\":0,\"t\":\"text\",\"s\":\"plain\"}",
	        "{\"h\":0.5,\"b\":0,\"e\":0,\"l\":0,\"t\":\"text\",\"s\":\"plain\"}",
	        "{\"h\":5,\"b\":4,\"e\":9,\"l\":0,\"t\":\"text\",\"s\":\"plain\"}",
	        "{\"h\":0,\"b\":4,\"e\":3,\"l\":0,\"t\":\"text\",\"s\":\"plain\"}",
	        "{\"h\":0,\"b\":0,\"e\":0,\"l\":0,\"t\":\"\",\"s\":\"plain\"}",
	        "{\"h\":0,\"b\":0,\"e\":0,\"l\":0,\"t\":\"te\\u0000xt\",\"s\":\"plain\"}",
	        "{\"h\":0,\"b\":0,\"e\":0,\"l\":0,\"t\":\"te\xff\",\"s\":\"plain\"}",
	        "{\"h\":0,\"b\":0,\"e\":0,\"l\":0,\"t\":\"text\",\"s\":\"plain\"} x",
	        "{\"h\":0,\"b\":0,\"e\":0,\"l\":0,\"t\":\"text\",\"s\":\"plain\",\"p\":{}}",
	        "{\"h\":0,\"b\":0,\"e\":0,\"l\":0,\"t\":\"text\",\"s\":\"plain\",\"p\":[[\"a\"]]}",
	        "{\"h\":0,\"b\":0,\"e\":0,\"l\":0,\"t\":\"text\",\"s\":\"plain\",\"p\":[[\"a\",1]]"
	        "}",
	        "{\"h\":0,\"b\":0,\"e\":0,\"l\":0,\"t\":\"text\",\"s\":\"plain\",\"p\":[\"a\"]}",
	        "{\"h\":0,\"b\":0,\"e\":0,\"l\":0,\"t\":\"text\",\"s\":\"plain\",\"c\":null}",
	        /* multipart without children, children on a leaf */
	        "{\"h\":0,\"b\":0,\"e\":0,\"l\":0,\"t\":\"multipart\",\"s\":\"mixed\"}",
	        "{\"h\":0,\"b\":0,\"e\":0,\"l\":0,\"t\":\"multipart\",\"s\":\"mixed\",\"k\":[]}",
	        "{\"h\":0,\"b\":0,\"e\":0,\"l\":0,\"t\":\"text\",\"s\":\"plain\",\"k\":"
	        "[{\"h\":0,\"b\":0,\"e\":0,\"l\":0,\"t\":\"text\",\"s\":\"plain\"}]}",
	        "{\"h\":0,\"b\":0,\"e\":0,\"l\":0,\"t\":\"multipart\",\"s\":\"mixed\",\"k\":[1]}",
	        /* message/rfc822 without its message, a message on a leaf */
	        "{\"h\":0,\"b\":0,\"e\":0,\"l\":0,\"t\":\"message\",\"s\":\"rfc822\"}",
	        "{\"h\":0,\"b\":0,\"e\":0,\"l\":0,\"t\":\"text\",\"s\":\"plain\",\"M\":"
	        "{\"h\":0,\"b\":0,\"e\":0,\"l\":0,\"t\":\"text\",\"s\":\"plain\"}}",
	        /* envelope of the wrong shape */
	        "{\"h\":0,\"b\":0,\"e\":0,\"l\":0,\"t\":\"text\",\"s\":\"plain\",\"E\":[]}",
	        "{\"h\":0,\"b\":0,\"e\":0,\"l\":0,\"t\":\"text\",\"s\":\"plain\",\"E\":{\"f\":[["
	        "\"a\",\"b\"]]}}",
	        "{\"h\":0,\"b\":0,\"e\":0,\"l\":0,\"t\":\"text\",\"s\":\"plain\",\"E\":{\"f\":[["
	        "\"a\",\"b\",\"c\",\"d\",\"e\"]]}}",
	        "{\"h\":0,\"b\":0,\"e\":0,\"l\":0,\"t\":\"text\",\"s\":\"plain\",\"E\":{\"s\":[]}}",
	        "{\"h\":0,\"b\":0,\"e\":0,\"l\":0,\"t\":\"text\",\"s\":\"plain\",\"E\":{\"f\":{}}}",
	};
	const char *ok =
	        "{\"h\":0,\"b\":11,\"e\":99999999999,\"l\":0,\"t\":\"text\",\"s\":\"plain\","
	        "\"zz\":[1,2,3]}";
	struct mime_part *p;
	struct buf b;
	size_t i;
	int d;

	for (i = 0; i < MS_NELEM(bad); i++) {
		p = mime_from_json(bad[i], strlen(bad[i]));
		if (p != NULL) {
			mime_free(&p);
			fail_msg("accepted bad JSON #%zu: %s", i, bad[i]);
		}
	}
	assert_null(mime_from_json(NULL, 0));

	/* Unknown keys are ignored; absurd offsets are kept and users clamp. */
	p = mime_from_json(ok, strlen(ok));
	assert_non_null(p);
	assert_int_equal(p->end, 99999999999ULL);
	buf_init(&b);
	mime_preview(p, "Subj: x\r\n\r\nhello", 16, 100, &b);
	assert_string_equal(b.data, "hello");
	buf_reset(&b);
	assert_int_equal(mime_decode_body(p, "short", 5, &b), 0);
	assert_int_equal(b.len, 0);
	mime_free(&p);

	/* Deep nesting: beyond the MIME depth limit, and beyond json-c's. */
	for (d = 0; d < 2; d++) {
		int levels = d == 0 ? 40 : 5000, k;

		buf_reset(&b);
		for (k = 0; k < levels; k++)
			buf_puts(&b, "{\"h\":0,\"b\":0,\"e\":0,\"l\":0,\"t\":\"multipart\","
			             "\"s\":\"mixed\",\"k\":[");
		buf_puts(&b, "{\"h\":0,\"b\":0,\"e\":0,\"l\":0,\"t\":\"text\",\"s\":\"plain\"}");
		for (k = 0; k < levels; k++)
			buf_puts(&b, "]}");
		assert_null(mime_from_json(b.data, b.len));
	}
	/* Too many parts. */
	buf_reset(&b);
	buf_puts(
	        &b, "{\"h\":0,\"b\":0,\"e\":0,\"l\":0,\"t\":\"multipart\",\"s\":\"mixed\",\"k\":[");
	for (i = 0; i < 10001; i++)
		buf_printf(&b, "%s{\"h\":0,\"b\":0,\"e\":0,\"l\":0,\"t\":\"a\",\"s\":\"b\"}",
		        i ? "," : "");
	buf_puts(&b, "]}");
	assert_null(mime_from_json(b.data, b.len));
	buf_free(&b);
}

/* ---- limits and robustness ---- */

static size_t
count_parts(const struct mime_part *p, size_t depth, size_t *maxdepth)
{
	size_t n = 1, i;

	if (depth > *maxdepth)
		*maxdepth = depth;
	for (i = 0; i < p->nparts; i++)
		n += count_parts(&p->parts[i], depth + 1, maxdepth);
	if (p->message)
		n += count_parts(p->message, depth + 1, maxdepth);
	return n;
}

static void
test_limits(void **state)
{
	struct buf b;
	struct mime_part *root;
	const struct mime_part *p;
	size_t maxdepth = 0, depth;
	int i;

	/* 40 nested multiparts: the 33rd level becomes opaque. */
	buf_init(&b);
	for (i = 0; i < 40; i++)
		buf_printf(
		        &b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i);
	buf_puts(&b, "Content-Type: text/plain\r\n\r\nx\r\n");
	for (i = 39; i >= 0; i--)
		buf_printf(&b, "--b%d--\r\n", i);
	root = mime_parse(b.data, b.len);
	for (p = root, depth = 0; p->nparts > 0; p = &p->parts[0])
		depth++;
	assert_int_equal(depth, 32);
	expect_type(p, "application", "octet-stream");
	mime_free(&root);

	/* Nested message/rfc822 chain. */
	buf_reset(&b);
	for (i = 0; i < 40; i++)
		buf_puts(&b, "Content-Type: message/rfc822\r\n\r\n");
	buf_puts(&b, "Subject: deep\r\n\r\nbody\r\n");
	root = mime_parse(b.data, b.len);
	maxdepth = 0;
	count_parts(root, 0, &maxdepth);
	assert_int_equal(maxdepth, 32);
	mime_free(&root);

	/* 12000 parts: at most 10000 in the tree. */
	buf_reset(&b);
	buf_puts(&b, "Content-Type: multipart/mixed; boundary=p\r\n\r\n");
	for (i = 0; i < 12000; i++)
		buf_puts(&b, "--p\r\n\r\nx\r\n");
	buf_puts(&b, "--p--\r\n");
	root = mime_parse(b.data, b.len);
	maxdepth = 0;
	assert_int_equal(count_parts(root, 0, &maxdepth), 10000);
	assert_int_equal(root->nparts, 9999);
	mime_free(&root);
	buf_free(&b);
}

/* Every offset lies inside the buffer and inside its parent, and the
 * structure invariants hold. */
static void
check_invariants(const struct mime_part *p, uint64_t lo, uint64_t hi)
{
	size_t i;

	assert_true(lo <= p->header_start);
	assert_true(p->header_start <= p->body_start);
	assert_true(p->body_start <= p->end);
	assert_true(p->end <= hi);
	assert_non_null(p->type);
	assert_non_null(p->subtype);
	if (strcmp(p->type, "multipart") == 0)
		assert_true(p->nparts > 0);
	else
		assert_int_equal(p->nparts, 0);
	if (strcmp(p->type, "message") == 0 &&
	        (strcmp(p->subtype, "rfc822") == 0 || strcmp(p->subtype, "global") == 0))
		assert_non_null(p->message);
	else
		assert_null(p->message);
	for (i = 0; i < p->nparts; i++)
		check_invariants(&p->parts[i], p->body_start, p->end);
	if (p->message) {
		assert_int_equal(p->message->header_start, p->body_start);
		assert_non_null(p->message->envelope);
		check_invariants(p->message, p->body_start, p->end);
	}
}

static void
visit_sections(const struct mime_part *root, uint32_t *nums, size_t depth, const char *s, size_t n)
{
	uint32_t k;

	if (depth >= 5)
		return;
	for (k = 0; k <= 4; k++) {
		const struct mime_part *p;
		struct buf b;

		nums[depth] = k;
		p = mime_find_section(root, nums, depth + 1);
		if (p == NULL)
			continue;
		buf_init(&b);
		mime_decode_body(p, s, n, &b);
		buf_free(&b);
		visit_sections(root, nums, depth + 1, s, n);
	}
}

static void
test_truncated_prefixes(void **state)
{
	char *full = expand(NESTED, "\r\n");
	size_t n = strlen(full), len;

	for (len = 0; len <= n; len++) {
		/* An exact-size copy so that any read past len is caught by
		 * valgrind or ASan. */
		char *s = malloc(len ? len : 1);
		struct mime_part *p, *back;
		struct buf j1, j2, pv;
		uint32_t nums[8];

		assert_non_null(s);
		memcpy(s, full, len);
		p = mime_parse(s, len);
		check_invariants(p, 0, len);
		assert_int_equal(p->end, len);
		buf_init(&j1);
		buf_init(&j2);
		buf_init(&pv);
		mime_to_json(p, &j1);
		back = mime_from_json(j1.data, j1.len);
		assert_non_null(back);
		expect_tree_eq(p, back);
		mime_to_json(back, &j2);
		assert_string_equal(j1.data, j2.data);
		mime_preview(p, s, len, 50, &pv);
		visit_sections(p, nums, 0, s, len);
		buf_free(&j1);
		buf_free(&j2);
		buf_free(&pv);
		mime_free(&back);
		mime_free(&p);
		free(s);
	}
	/* The full message keeps its structure. */
	{
		struct mime_part *p = mime_parse(full, n);

		assert_int_equal(p->nparts, 3);
		mime_free(&p);
	}
	free(full);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_header_iter),
	        cmocka_unit_test(test_header_select),
	        cmocka_unit_test(test_encoded_words),
	        cmocka_unit_test(test_nested_crlf),
	        cmocka_unit_test(test_nested_bare_lf),
	        cmocka_unit_test(test_missing_close_boundary),
	        cmocka_unit_test(test_no_content_type),
	        cmocka_unit_test(test_degraded_structure),
	        cmocka_unit_test(test_params),
	        cmocka_unit_test(test_sections),
	        cmocka_unit_test(test_preview),
	        cmocka_unit_test(test_decode_body),
	        cmocka_unit_test(test_json_roundtrip),
	        cmocka_unit_test(test_json_hostile),
	        cmocka_unit_test(test_limits),
	        cmocka_unit_test(test_truncated_prefixes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
