/* Tests of message composition (lib/mail/compose.c): quoted-printable,
 * composed messages parsed back with lib/mail's MIME parser, content type
 * sniffing, and awkward input (empty parts, very long non-ASCII words). */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/util.h"
#include "mail/compose.h"
#include "mail/mime.h"

static void
test_qp(void **state)
{
	struct buf b;
	char line[200];
	const char *p;
	size_t n;

	(void)state;
	buf_init(&b);
	mail_compose_qp(&b, "a=b \nc\td\t\n\xc3\xa9", 12);
	assert_string_equal(b.data, "a=3Db=20\r\nc\td=09\r\n=C3=A9");
	/* Long lines get soft breaks; no line over 76. */
	buf_reset(&b);
	memset(line, 'x', sizeof(line));
	line[150] = '=';
	mail_compose_qp(&b, line, sizeof(line));
	for (p = b.data; *p != '\0'; p += n + (p[n] != '\0' ? 2 : 0)) {
		const char *e = strstr(p, "\r\n");

		n = e != NULL ? (size_t)(e - p) : strlen(p);
		assert_true(n <= 76);
	}
	buf_free(&b);
}

/* The text of a part of a composed message, decoded. */
static void
part_text(const struct mime_part *p, const struct buf *msg, struct buf *out)
{
	buf_reset(out);
	mime_part_text(p, msg->data, msg->len, out);
}

static void
test_compose(void **state)
{
	struct mail_compose_addr to[2] = { { "Zo\xc3\xab \"Z\" Doe", "z@example.com" },
		{ "", "b@example.com" } };
	const char *refs[] = { "<a@x>", "<b@x>" };
	const char *hdrs[][2] = { { "X-Campaign", "spring \xe2\x9c\x93" } };
	struct mail_compose_file att = { "R\xc3\xa9sum\xc3\xa9.pdf", "application/pdf", "", { 0 } };
	struct mail_compose_file inl = { "logo.png", "", "logo@x", { 0 } };
	struct mime_part *root;
	struct mail_compose_msg m;
	struct buf out, t;

	(void)state;
	buf_init(&out);
	buf_init(&t);
	buf_init(&att.data);
	buf_init(&inl.data);
	buf_append(&att.data, "%PDF-1.4\0\xff", 10);
	buf_append(&inl.data, "\x89PNG\r\n\x1a\nxyz", 11);
	memset(&m, 0, sizeof(m));
	m.from.name = "Shop";
	m.from.addr = "shop@example.org";
	m.to = to;
	m.nto = 2;
	m.subject = "Gr\xc3\xbc\xc3\x9f" "e";
	m.date = 0;
	m.message_id = "<id1@example.org>";
	m.references = refs;
	m.nreferences = 2;
	m.headers = (const char *const (*)[2])hdrs;
	m.nheaders = 1;
	m.text = "Hallo\nWelt \xc3\xa9\n";
	m.html = "<p>Hallo</p>";
	m.inline_files = &inl;
	m.ninline = 1;
	m.attached_files = &att;
	m.nattached = 1;
	mail_compose(&out, &m);

	/* Header fields, ASCII only without SMTPUTF8. */
	assert_non_null(strstr(out.data, "From: Shop <shop@example.org>\r\n"));
	assert_non_null(strstr(out.data, "To: =?utf-8?b?"));
	assert_non_null(strstr(out.data, ",\r\n\t<b@example.com>\r\n"));
	assert_non_null(strstr(out.data, "Subject: =?utf-8?b?R3LDvMOfZQ==?=\r\n"));
	assert_non_null(strstr(out.data, "Date: Thu, 1 Jan 1970 00:00:00 +0000\r\n"));
	assert_non_null(strstr(out.data, "References: <a@x>\r\n\t<b@x>\r\nIn-Reply-To: <b@x>\r\n"));
	assert_non_null(strstr(out.data, "User-Agent: mailstead/"));
	{
		size_t hend = mime_header_end(out.data, out.len), i;

		for (i = 0; i < hend; i++)
			assert_true((unsigned char)out.data[i] < 0x80);
	}
	/* Every line ends in CRLF. */
	{
		size_t i;

		for (i = 0; i < out.len; i++)
			if (out.data[i] == '\n')
				assert_true(i > 0 && out.data[i - 1] == '\r');
	}

	/* The structure, parsed back. */
	root = mime_parse(out.data, out.len);
	assert_string_equal(root->subtype, "mixed");
	assert_int_equal(root->nparts, 2);
	assert_string_equal(root->parts[0].subtype, "related");
	assert_int_equal(root->parts[0].nparts, 2);
	assert_string_equal(root->parts[0].parts[0].subtype, "alternative");
	assert_string_equal(root->parts[0].parts[0].parts[0].subtype, "plain");
	assert_string_equal(root->parts[0].parts[0].parts[1].subtype, "html");
	part_text(&root->parts[0].parts[0].parts[0], &out, &t);
	assert_string_equal(t.data, "Hallo\r\nWelt \xc3\xa9\r\n");
	assert_string_equal(root->parts[0].parts[1].type, "image");
	assert_string_equal(root->parts[0].parts[1].subtype, "png");
	assert_string_equal(root->parts[0].parts[1].id, "<logo@x>");
	assert_string_equal(root->parts[0].parts[1].disposition, "inline");
	buf_reset(&t);
	assert_int_equal(mime_decode_body(&root->parts[1], out.data, out.len, &t), 0);
	assert_int_equal(t.len, 10);
	assert_memory_equal(t.data, "%PDF-1.4\0\xff", 10);
	assert_string_equal(root->parts[1].disposition, "attachment");
	assert_string_equal(root->parts[1].disp_params[0].value, "R\xc3\xa9sum\xc3\xa9.pdf");
	mime_free(&root);

	/* Only text: no multipart; with SMTPUTF8 the subject stays raw. */
	buf_reset(&out);
	m.html = "";
	m.ninline = m.nattached = 0;
	m.nheaders = 0;
	m.smtputf8 = true;
	mail_compose(&out, &m);
	assert_non_null(strstr(out.data, "Subject: Gr\xc3\xbc\xc3\x9f" "e\r\n"));
	assert_non_null(strstr(out.data, "To: \"Zo\xc3\xab \\\"Z\\\" Doe\" <z@example.com>"));
	assert_non_null(strstr(out.data, "Content-Type: text/plain; charset=utf-8\r\n"
		"Content-Transfer-Encoding: quoted-printable\r\n\r\nHallo\r\nWelt =C3=A9\r\n"));
	assert_null(strstr(out.data, "multipart"));

	buf_free(&att.data);
	buf_free(&inl.data);
	buf_free(&out);
	buf_free(&t);
}

static void
test_sniff(void **state)
{
	(void)state;
	assert_string_equal(mail_compose_sniff_type("\x89PNG\r\n\x1a\n", 8), "image/png");
	assert_string_equal(mail_compose_sniff_type("%PDF-1.7", 8), "application/pdf");
	assert_string_equal(mail_compose_sniff_type("hello\n", 6), "text/plain; charset=utf-8");
	assert_string_equal(mail_compose_sniff_type("a\0b", 3), "application/octet-stream");
}

/* Awkward input: no body at all, a subject of 300 two-byte characters
 * (many encoded-words, none over 75 characters, no character split),
 * a file without name or data. The result still parses and every line
 * stays within RFC 5322's 998 characters. */
static void
test_awkward(void **state)
{
	struct mail_compose_file f = { "", "", "", { 0 } };
	struct mail_compose_addr to = { "", "x@example.com" };
	struct mail_compose_msg m;
	struct mime_part *root;
	struct buf out, subj;
	const char *p, *e;
	size_t i;

	(void)state;
	buf_init(&out);
	buf_init(&subj);
	buf_init(&f.data);
	for (i = 0; i < 300; i++)
		buf_puts(&subj, "\xc3\xa9");
	memset(&m, 0, sizeof(m));
	m.from.name = subj.data;
	m.from.addr = "a@example.org";
	m.to = &to;
	m.nto = 1;
	m.subject = subj.data;
	m.message_id = "<m@x>";
	m.text = "";
	m.html = "";
	m.attached_files = &f;
	m.nattached = 1;
	mail_compose(&out, &m);
	for (p = out.data; (e = strstr(p, "\r\n")) != NULL; p = e + 2) {
		assert_true(e - p <= 998);
		if (strncmp(p, "Subject:", 8) == 0 || (p[0] == '\t' && strstr(p, "=?utf-8?") == p + 1))
			assert_true(e - p <= 76 + 9);
	}
	assert_non_null(strstr(out.data, "Subject: =?utf-8?b?"));
	root = mime_parse(out.data, out.len);
	assert_non_null(root);
	mime_free(&root);

	/* A bare CR in short ASCII text (RFC 5321 2.3.8 forbids it in a
	 * message) makes the part quoted-printable, the CR encoded. */
	buf_reset(&out);
	m.text = "a\rb\r\nc\n";
	m.nattached = 0;
	mail_compose(&out, &m);
	assert_non_null(strstr(out.data, "quoted-printable\r\n\r\na=0Db\r\nc\r\n"));
	for (i = 0; i < out.len; i++)
		if (out.data[i] == '\r')
			assert_true(i + 1 < out.len && out.data[i + 1] == '\n');
	root = mime_parse(out.data, out.len);
	assert_non_null(root);
	mime_free(&root);
	buf_free(&f.data);
	buf_free(&out);
	buf_free(&subj);
}

/* Addresses as typed in the compose form: good forms, and malformed
 * ones refused with an error (never a crash or a half result). */
static void
test_parse_name_addr(void **state)
{
	static const char *const bad[] = {
		"", " ", "not an address", "a@b@c", "<>", "<a@b", "a@b>", "Name <a@b> x",
		"Name <a@b><c@d>", "\"unterminated <a@b>", "Na\"me <a@b>", "a@", "@b",
		"Name <>", "a\r\n@b.example", "x <a@b.example\n>", "<<a@b.example>>",
		"a b@c.example",
	};
	struct buf name, addr;
	const char *error;
	size_t i;

	(void)state;
	buf_init(&name);
	buf_init(&addr);
	assert_int_equal(mail_compose_parse_name_addr(" a@b.example ", &name, &addr, &error), 0);
	assert_string_equal(name.data, "");
	assert_string_equal(addr.data, "a@b.example");
	assert_int_equal(mail_compose_parse_name_addr("Jo Doe <jo@b.example>", &name, &addr,
		&error), 0);
	assert_string_equal(name.data, "Jo Doe");
	assert_string_equal(addr.data, "jo@b.example");
	assert_int_equal(mail_compose_parse_name_addr("\"Doe, \\\"Jo\\\"\" <jo@b.example>", &name,
		&addr, &error), 0);
	assert_string_equal(name.data, "Doe, \"Jo\"");
	assert_int_equal(mail_compose_parse_name_addr("Zo\xc3\xab <zo\xc3\xab@b.example>", &name,
		&addr, &error), 0);
	assert_string_equal(name.data, "Zo\xc3\xab");
	assert_int_equal(mail_compose_parse_name_addr("<x@b.example>", &name, &addr, &error), 0);
	assert_string_equal(name.data, "");
	assert_string_equal(addr.data, "x@b.example");
	for (i = 0; i < MS_NELEM(bad); i++) {
		error = NULL;
		if (mail_compose_parse_name_addr(bad[i], &name, &addr, &error) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_non_null(error);
	}
	buf_free(&name);
	buf_free(&addr);
}

/* Reply references: kept as written, malformed ones skipped, the newest
 * max kept, the Message-ID last. */
static void
test_reply_refs(void **state)
{
	char **v;
	size_t n;

	(void)state;
	n = mail_compose_reply_refs("<a@x> junk <B@Y>\r\n\t<bad id@x> <> <c@x", "<Mid@x>", 10, &v);
	assert_int_equal(n, 3);
	assert_string_equal(v[0], "<a@x>");
	assert_string_equal(v[1], "<B@Y>");
	assert_string_equal(v[2], "<Mid@x>");
	mail_compose_refs_free(v, n);
	n = mail_compose_reply_refs("<1@x> <2@x> <3@x>", "<4@x>", 2, &v);
	assert_int_equal(n, 2);
	assert_string_equal(v[0], "<3@x>");
	assert_string_equal(v[1], "<4@x>");
	mail_compose_refs_free(v, n);
	assert_int_equal(mail_compose_reply_refs(NULL, NULL, 5, &v), 0);
	assert_null(v);
	assert_int_equal(mail_compose_reply_refs("<<<>>>", "no brackets", 5, &v), 0);
	assert_int_equal(mail_compose_reply_refs("<a\x01b@x>", "<a\x7f@x>", 5, &v), 0);
	{
		char big[600];

		memset(big, 'a', sizeof(big));
		big[0] = '<';
		big[sizeof(big) - 2] = '>';
		big[sizeof(big) - 1] = '\0';
		assert_int_equal(mail_compose_reply_refs(big, "", 5, &v), 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qp),
		cmocka_unit_test(test_compose),
		cmocka_unit_test(test_sniff),
		cmocka_unit_test(test_awkward),
		cmocka_unit_test(test_parse_name_addr),
		cmocka_unit_test(test_reply_refs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
