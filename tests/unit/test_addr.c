/* Unit tests for lib/mail/addr: RFC 5321 mailboxes and paths (SMTPUTF8,
 * IDNA, limits) and the RFC 5322 header address-list parser. */
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
#include "mail/addr.h"

/* Parse s as a mailbox; returns 0/-1 and leaves the result in *a. */
static int
mbox(const char *s, bool utf8, struct mail_addr *a)
{
	const char *err = NULL;
	int r = mail_addr_parse_mailbox(s, strlen(s), utf8, a, &err);

	if (r < 0)
		assert_non_null(err);
	return r;
}

static void
expect_mbox(const char *s, bool utf8, const char *lp, const char *dom, const char *dom_ascii)
{
	struct mail_addr a;

	if (mbox(s, utf8, &a) != 0)
		fail_msg("mailbox %s rejected", s);
	assert_string_equal(a.localpart, lp);
	assert_string_equal(a.domain, dom);
	assert_string_equal(a.domain_ascii, dom_ascii);
	mail_addr_free(&a);
	assert_null(a.localpart);
}

static void
expect_bad_mbox(const char *s, bool utf8)
{
	struct mail_addr a;

	if (mbox(s, utf8, &a) == 0) {
		mail_addr_free(&a);
		fail_msg("mailbox %s accepted", s);
	}
}

static void
test_mailbox_simple(void **state)
{
	expect_mbox("user@example.com", false, "user", "example.com", "example.com");
	expect_mbox("First.Last+tag@EXAMPLE.Com", false, "First.Last+tag", "example.com",
	        "example.com");
	expect_mbox("!#$%&'*+-/=?^_`{|}~@x.example", false, "!#$%&'*+-/=?^_`{|}~", "x.example",
	        "x.example");
	expect_mbox("a@ab--cd.example", false, "a", "ab--cd.example", "ab--cd.example");
	expect_mbox("a@1.example", false, "a", "1.example", "1.example");
}

static void
test_mailbox_malformed(void **state)
{
	static const char *const bad[] = {
	        "",
	        "@",
	        "user",
	        "user@",
	        "@example.com",
	        ".user@example.com",
	        "user.@example.com",
	        "us..er@example.com",
	        "us er@example.com",
	        "user@@example.com",
	        "user@example..com",
	        "user@.example.com",
	        "user@example.com.",
	        "user@-example.com",
	        "user@example-.com",
	        "user@exa_mple.com",
	        "user@exa mple.com",
	        "user(c)@example.com",
	        "<user@example.com>",
	        "user@example.com>",
	        "\"unterminated@example.com",
	        "\"a\"b@example.com",
	        "user@[1.2.3]",
	        "user@[1.2.3.256]",
	        "user@[1.2.3.4.5]",
	        "user@[IPv6:zz::1]",
	        "user@[IPv6:1:2:3]",
	        "user@[]",
	        "user@[tag:]",
	        "user@[ta g:x]",
	        "user@[tag-:x]",
	        "user@[tag:a[b]",
	        "user@[1.2.3.4",
	        "user@1.2.3.4]",
	};
	size_t i;

	for (i = 0; i < MS_NELEM(bad); i++)
		expect_bad_mbox(bad[i], true);
	/* Embedded NUL in the counted string. */
	{
		struct mail_addr a;
		const char *err;

		assert_int_equal(
		        mail_addr_parse_mailbox("a\0b@example.com", 15, true, &a, &err), -1);
		assert_int_equal(
		        mail_addr_parse_mailbox("ab@exa\0mple.com", 15, true, &a, &err), -1);
		/* in an IPv6 address literal (inet_pton would stop at it) */
		assert_int_equal(
		        mail_addr_parse_mailbox("a@[IPv6:2001:db8::1\0zz]", 24, true, &a, &err), -1);
	}
}

static void
test_mailbox_quoted(void **state)
{
	struct mail_addr a;
	struct buf b;

	expect_mbox("\"john doe\"@example.com", false, "john doe", "example.com", "example.com");
	expect_mbox("\"a\\\"b\\\\c\"@example.com", false, "a\"b\\c", "example.com", "example.com");
	expect_mbox("\"a@b\"@example.com", false, "a@b", "example.com", "example.com");
	expect_mbox("\"\"@example.com", false, "", "example.com", "example.com");
	/* quoted-pairSMTP = %d92 %d32-126: no controls */
	expect_bad_mbox("\"a\\\x01\"@example.com", false);
	expect_bad_mbox("\"a\x01\"@example.com", false);
	expect_bad_mbox("\"a\\", false);

	/* Formatting re-quotes only what is not a dot-string. */
	buf_init(&b);
	assert_int_equal(mbox("\"john \\\"j\\\" doe\"@example.com", false, &a), 0);
	mail_addr_format(&b, &a, false);
	assert_string_equal(b.data, "\"john \\\"j\\\" doe\"@example.com");
	mail_addr_free(&a);

	buf_reset(&b);
	assert_int_equal(mbox("\"john\"@example.com", false, &a), 0);
	mail_addr_format(&b, &a, false);
	assert_string_equal(b.data, "john@example.com");
	mail_addr_free(&a);

	buf_reset(&b);
	assert_int_equal(mbox("\"a..b\"@example.com", false, &a), 0);
	mail_addr_format(&b, &a, false);
	assert_string_equal(b.data, "\"a..b\"@example.com");
	mail_addr_free(&a);

	buf_reset(&b);
	assert_int_equal(mbox("\"\"@example.com", false, &a), 0);
	mail_addr_format(&b, &a, false);
	assert_string_equal(b.data, "\"\"@example.com");
	mail_addr_free(&a);
	buf_free(&b);
}

static void
test_mailbox_smtputf8(void **state)
{
	struct mail_addr a;
	struct buf b;

	/* Non-ASCII only with SMTPUTF8. */
	expect_bad_mbox("j\xc3\xb6rg@example.com", false);
	expect_mbox("j\xc3\xb6rg@example.com", true, "j\xc3\xb6rg", "example.com", "example.com");
	expect_bad_mbox("\"j\xc3\xb6 rg\"@example.com", false);
	expect_mbox(
	        "\"j\xc3\xb6 rg\"@example.com", true, "j\xc3\xb6 rg", "example.com", "example.com");
	expect_bad_mbox("user@b\xc3\xbc"
	                "cher.example",
	        false);

	/* Invalid UTF-8: lone continuation, overlong, surrogate, truncated. */
	expect_bad_mbox("\x80@example.com", true);
	expect_bad_mbox("\xc0\xaf@example.com", true);
	expect_bad_mbox("\xed\xa0\x80@example.com", true);
	expect_bad_mbox("\xe2\x82@example.com", true);
	expect_bad_mbox("\"\xff\"@example.com", true);
	expect_bad_mbox("a@b\xc3.example", true);

	/* Format in both forms. */
	assert_int_equal(mbox("J\xc3\xb6rg@B\xc3\xbc"
	                      "CHER.example",
	                         true, &a),
	        0);
	assert_string_equal(a.localpart, "J\xc3\xb6rg");
	assert_string_equal(a.domain, "b\xc3\xbc"
	                              "cher.example");
	assert_string_equal(a.domain_ascii, "xn--bcher-kva.example");
	buf_init(&b);
	mail_addr_format(&b, &a, true);
	assert_string_equal(b.data, "J\xc3\xb6rg@b\xc3\xbc"
	                            "cher.example");
	buf_reset(&b);
	mail_addr_format(&b, &a, false);
	assert_string_equal(b.data, "J\xc3\xb6rg@xn--bcher-kva.example");
	buf_free(&b);
	mail_addr_free(&a);
}

static void
test_domain_idna(void **state)
{
	char *u, *as;
	const char *err;

	/* A-label in, both forms out, even without SMTPUTF8. */
	expect_mbox("a@xn--bcher-kva.example", false, "a",
	        "b\xc3\xbc"
	        "cher.example",
	        "xn--bcher-kva.example");
	expect_mbox("a@XN--BCHER-KVA.Example", false, "a",
	        "b\xc3\xbc"
	        "cher.example",
	        "xn--bcher-kva.example");
	/* U-label in. */
	assert_int_equal(mail_domain_parse("b\xc3\xbc"
	                                   "cher.example",
	                         15, true, &u, &as, &err),
	        0);
	assert_string_equal(u, "b\xc3\xbc"
	                       "cher.example");
	assert_string_equal(as, "xn--bcher-kva.example");
	free(u);
	free(as);
	/* IDNA2008 nontransitional: sharp s is kept, not mapped to "ss". */
	assert_int_equal(mail_domain_parse("fa\xc3\x9f.de", 7, true, &u, &as, &err), 0);
	assert_string_equal(as, "xn--fa-hia.de");
	assert_string_equal(u, "fa\xc3\x9f.de");
	free(u);
	free(as);
	/* Invalid punycode in an A-label: kept as an opaque ASCII label. */
	assert_int_equal(mail_domain_parse("xn--zzzz.example", 16, false, &u, &as, &err), 0);
	assert_string_equal(u, "xn--zzzz.example");
	assert_string_equal(as, "xn--zzzz.example");
	free(u);
	free(as);
	/* Disallowed in IDNA2008 as a U-label. */
	assert_int_equal(mail_domain_parse("\xe2\x9d\xa4.example", 11, true, &u, &as, &err), -1);
	assert_null(u);
	assert_null(as);
	/* Address literals are kept as written. */
	assert_int_equal(mail_domain_parse("[IPv6:2001:DB8::1]", 18, false, &u, &as, &err), 0);
	assert_string_equal(u, "[IPv6:2001:DB8::1]");
	assert_string_equal(as, "[IPv6:2001:DB8::1]");
	free(u);
	free(as);
	expect_mbox("a@[192.0.2.1]", false, "a", "[192.0.2.1]", "[192.0.2.1]");
	expect_mbox("a@[001.0.2.1]", false, "a", "[001.0.2.1]", "[001.0.2.1]");
	expect_mbox("a@[IPv6:::1]", false, "a", "[IPv6:::1]", "[IPv6:::1]");
	expect_mbox("a@[IPv6:::ffff:192.0.2.1]", false, "a", "[IPv6:::ffff:192.0.2.1]",
	        "[IPv6:::ffff:192.0.2.1]");
	expect_mbox("a@[x-tag:any>thing]", false, "a", "[x-tag:any>thing]", "[x-tag:any>thing]");
}

static void
test_limits(void **state)
{
	char lp[80], s[400];
	int i;

	/* RFC 5321 4.5.3.1.1: local-part 64 octets. */
	memset(lp, 'a', 64);
	lp[64] = '\0';
	snprintf(s, sizeof(s), "%s@example.com", lp);
	expect_mbox(s, false, lp, "example.com", "example.com");
	snprintf(s, sizeof(s), "a%s@example.com", lp);
	expect_bad_mbox(s, false);
	/* The quotes count: "62 chars" is 64 octets on the wire. */
	snprintf(s, sizeof(s), "\"%.62s\"@example.com", lp);
	{
		struct mail_addr a;

		assert_int_equal(mbox(s, false, &a), 0);
		assert_int_equal(strlen(a.localpart), 62);
		mail_addr_free(&a);
	}
	snprintf(s, sizeof(s), "\"%.63s\"@example.com", lp);
	expect_bad_mbox(s, false);

	/* RFC 5321 4.5.3.1.2: domain 255 octets; labels 63. */
	{
		struct buf d;
		int lens255[] = {1, 63, 63, 63, 61}; /* 251 + 4 dots */
		int lens256[] = {1, 63, 63, 63, 62};

		buf_init(&d);
		for (i = 0; i < 5; i++) {
			char label[64];

			memset(label, 'a' + i, (size_t)lens255[i]);
			if (i > 0)
				buf_putc(&d, '.');
			buf_append(&d, label, (size_t)lens255[i]);
		}
		assert_int_equal(d.len, 255);
		snprintf(s, sizeof(s), "a@%s", d.data);
		expect_mbox(s, false, "a", d.data, d.data);
		buf_reset(&d);
		for (i = 0; i < 5; i++) {
			char label[64];

			memset(label, 'a' + i, (size_t)lens256[i]);
			if (i > 0)
				buf_putc(&d, '.');
			buf_append(&d, label, (size_t)lens256[i]);
		}
		assert_int_equal(d.len, 256);
		snprintf(s, sizeof(s), "a@%s", d.data);
		expect_bad_mbox(s, false);
		buf_free(&d);
	}
	memset(lp, 'b', 64);
	lp[64] = '\0';
	snprintf(s, sizeof(s), "a@%s.example", lp);
	expect_bad_mbox(s, false);
	snprintf(s, sizeof(s), "a@%.63s.example", lp);
	{
		struct mail_addr a;

		assert_int_equal(mbox(s, false, &a), 0);
		mail_addr_free(&a);
	}
	/* A U-label whose A-label is longer than 63 octets. */
	{
		struct buf b;
		char *u, *as;
		const char *err;

		buf_init(&b);
		for (i = 0; i < 64; i++)
			buf_puts(&b, "\xc3\xbc");
		buf_puts(&b, ".example");
		assert_int_equal(mail_domain_parse(b.data, b.len, true, &u, &as, &err), -1);
		buf_free(&b);
	}
}

static void
test_path(void **state)
{
	struct mail_addr a;
	const char *err;
	size_t end;
	struct buf b;
	const char *s;

	s = "<user@example.com> SIZE=100";
	assert_int_equal(mail_addr_parse_path(s, strlen(s), false, &a, &end, &err), 0);
	assert_int_equal(end, 18);
	assert_string_equal(a.localpart, "user");
	assert_string_equal(a.domain, "example.com");
	mail_addr_free(&a);

	/* Null reverse-path. */
	s = "<> BODY=8BITMIME";
	assert_int_equal(mail_addr_parse_path(s, strlen(s), false, &a, &end, &err), 0);
	assert_int_equal(end, 2);
	assert_string_equal(a.localpart, "");
	assert_string_equal(a.domain, "");
	assert_string_equal(a.domain_ascii, "");
	buf_init(&b);
	mail_addr_format(&b, &a, false);
	assert_int_equal(b.len, 0);
	mail_addr_free(&a);

	/* Source route accepted and ignored. */
	s = "<@r1.example,@[192.0.2.1],@r3.example:user@example.com>";
	assert_int_equal(mail_addr_parse_path(s, strlen(s), false, &a, &end, &err), 0);
	assert_int_equal(end, strlen(s));
	assert_string_equal(a.localpart, "user");
	assert_string_equal(a.domain, "example.com");
	mail_addr_free(&a);

	/* ">" inside the quoted local-part and an address literal. */
	s = "<\"a>b\"@[x-tag:c>d]>";
	assert_int_equal(mail_addr_parse_path(s, strlen(s), false, &a, &end, &err), 0);
	assert_int_equal(end, strlen(s));
	assert_string_equal(a.localpart, "a>b");
	assert_string_equal(a.domain, "[x-tag:c>d]");
	mail_addr_free(&a);

	/* SMTPUTF8 in a path. */
	s = "<j\xc3\xb6rg@b\xc3\xbc"
	    "cher.example>";
	assert_int_equal(mail_addr_parse_path(s, strlen(s), false, &a, &end, &err), -1);
	assert_int_equal(mail_addr_parse_path(s, strlen(s), true, &a, &end, &err), 0);
	assert_string_equal(a.domain_ascii, "xn--bcher-kva.example");
	buf_reset(&b);
	mail_addr_format(&b, &a, false);
	assert_string_equal(b.data, "j\xc3\xb6rg@xn--bcher-kva.example");
	mail_addr_free(&a);
	buf_free(&b);

	{
		static const char *const bad[] = {
		        "",
		        "<",
		        ">",
		        "user@example.com",
		        "<user@example.com",
		        "< user@example.com>",
		        "<user@example.com >",
		        "< >",
		        "<@>",
		        "<@r1.example:>",
		        "<@r1.example>",
		        "<@r1.example,r2:u@x.example>",
		        "<@:u@example.com>",
		        "<@r1.example,:u@example.com>",
		        "<postmaster>",
		        "<\"unterminated@example.com>",
		        "<u@[1.2.3.4>",
		        "<u@exa mple.com>",
		};
		size_t i;

		for (i = 0; i < MS_NELEM(bad); i++) {
			if (mail_addr_parse_path(bad[i], strlen(bad[i]), true, &a, &end, &err) ==
			        0) {
				mail_addr_free(&a);
				fail_msg("path %s accepted", bad[i]);
			}
		}
	}
	/* Only n bytes are looked at. */
	s = "<a@b.example>";
	assert_int_equal(mail_addr_parse_path(s, 5, false, &a, &end, &err), -1);
}

/* ---- header address lists ---- */

static void
expect_addr(const struct mail_hdr_addrs *l, size_t i, const char *name, const char *lp,
        const char *dom, const char *group)
{
	if (i >= l->n)
		fail_msg("address %zu missing (have %zu)", i, l->n);
	assert_string_equal(l->v[i].name, name);
	assert_string_equal(l->v[i].localpart, lp);
	assert_string_equal(l->v[i].domain, dom);
	if (group == NULL)
		assert_null(l->v[i].group);
	else
		assert_string_equal(l->v[i].group, group);
}

static int
hparse(const char *s, struct mail_hdr_addrs *l)
{
	return mail_hdr_addrs_parse(s, strlen(s), l);
}

static void
test_hdr_basic(void **state)
{
	struct mail_hdr_addrs l;

	assert_int_equal(hparse("\"Doe, John\" <john@Example.COM>, jane@example.com "
	                        "(Jane Roe), undisclosed-recipients:;",
	                         &l),
	        0);
	assert_int_equal(l.n, 3);
	expect_addr(&l, 0, "Doe, John", "john", "example.com", NULL);
	expect_addr(&l, 1, "Jane Roe", "jane", "example.com", NULL);
	/* An empty group is kept as one placeholder entry. */
	expect_addr(&l, 2, "", "", "", "undisclosed-recipients");
	mail_hdr_addrs_free(&l);
	assert_null(l.v);
	assert_int_equal(l.n, 0);

	assert_int_equal(hparse("John Q. Public <jqp@example.com>", &l), 0);
	assert_int_equal(l.n, 1);
	expect_addr(&l, 0, "John Q. Public", "jqp", "example.com", NULL);
	mail_hdr_addrs_free(&l);

	/* Quoted local-part, domain literal. */
	assert_int_equal(hparse("<\"a b\"@[192.0.2.1]>", &l), 0);
	expect_addr(&l, 0, "", "a b", "[192.0.2.1]", NULL);
	mail_hdr_addrs_free(&l);

	/* RFC 6532 UTF-8 in the raw header. */
	assert_int_equal(hparse("J\xc3\xbcrgen <j\xc3\xbcrgen@b\xc3\xbc"
	                        "cher.example>",
	                         &l),
	        0);
	expect_addr(&l, 0, "J\xc3\xbcrgen", "j\xc3\xbcrgen",
	        "b\xc3\xbc"
	        "cher.example",
	        NULL);
	mail_hdr_addrs_free(&l);
}

static void
test_hdr_groups(void **state)
{
	struct mail_hdr_addrs l;

	assert_int_equal(hparse("Friends: a@x.example, B <b@Y.EXAMPLE>;, c@z.example, "
	                        "Empty:;, Open: d@w.example",
	                         &l),
	        0);
	assert_int_equal(l.n, 5);
	expect_addr(&l, 0, "", "a", "x.example", "Friends");
	expect_addr(&l, 1, "B", "b", "y.example", "Friends");
	expect_addr(&l, 2, "", "c", "z.example", NULL);
	expect_addr(&l, 3, "", "", "", "Empty");
	/* A group without its ";" ends with the header. */
	expect_addr(&l, 4, "", "d", "w.example", "Open");
	mail_hdr_addrs_free(&l);

	/* Encoded-word group name. */
	assert_int_equal(hparse("=?utf-8?q?Gr=C3=BCn?=: ;", &l), 0);
	assert_int_equal(l.n, 1);
	expect_addr(&l, 0, "", "", "", "Gr\xc3\xbcn");
	mail_hdr_addrs_free(&l);
}

static void
test_hdr_comments(void **state)
{
	struct mail_hdr_addrs l;

	/* Nested comments, comments between tokens, old "(Name)" form. */
	assert_int_equal(hparse("john(a comment)@example.com (John (the man) Doe), "
	                        "(lead) Mary (middle) <mary@example.com> (trail)",
	                         &l),
	        0);
	assert_int_equal(l.n, 2);
	expect_addr(&l, 0, "John (the man) Doe", "john", "example.com", NULL);
	expect_addr(&l, 1, "Mary", "mary", "example.com", NULL);
	mail_hdr_addrs_free(&l);

	/* Unterminated comment runs to the end without harm. */
	assert_int_equal(hparse("a@example.com (oops", &l), 0);
	expect_addr(&l, 0, "oops", "a", "example.com", NULL);
	mail_hdr_addrs_free(&l);

	/* obs-route and CFWS around dots (obs-local-part). */
	assert_int_equal(hparse("Joe <@route.example,@r2.example:joe . q @ example . com>", &l), 0);
	expect_addr(&l, 0, "Joe", "joe.q", "example.com", NULL);
	mail_hdr_addrs_free(&l);
}

static void
test_hdr_encoded_words(void **state)
{
	struct mail_hdr_addrs l;

	/* Adjacent encoded-words: the whitespace between them disappears. */
	assert_int_equal(
	        hparse("=?utf-8?q?J=C3=BCrgen?= =?utf-8?q?_M=C3=BCller?= <j@x.example>", &l), 0);
	expect_addr(&l, 0, "J\xc3\xbcrgen M\xc3\xbcller", "j", "x.example", NULL);
	mail_hdr_addrs_free(&l);

	/* A character split over two words. */
	assert_int_equal(hparse("=?UTF-8?B?w6k=?=\r\n =?UTF-8?Q?=C3?= =?utf-8?q?=A9t=C3=A9?= "
	                        "<e@x.example>",
	                         &l),
	        0);
	expect_addr(&l, 0, "\xc3\xa9\xc3\xa9t\xc3\xa9", "e", "x.example", NULL);
	mail_hdr_addrs_free(&l);

	/* ISO-8859-1 and an iconv charset; words mixed with atoms. */
	assert_int_equal(hparse("=?iso-8859-1?q?Andr=E9?= Meyer <a@x.example>, "
	                        "\"=?windows-1252?Q?=80uro?=\" <e@x.example>",
	                         &l),
	        0);
	expect_addr(&l, 0, "Andr\xc3\xa9 Meyer", "a", "x.example", NULL);
	expect_addr(&l, 1, "\xe2\x82\xacuro", "e", "x.example", NULL);
	mail_hdr_addrs_free(&l);

	/* Invalid words stay as they are. */
	assert_int_equal(
	        hparse("=?utf-8?x?abc?= <a@x.example>, =?no-such-cs?q?a?= <b@x.example>", &l), 0);
	expect_addr(&l, 0, "=?utf-8?x?abc?=", "a", "x.example", NULL);
	expect_addr(&l, 1, "=?no-such-cs?q?a?=", "b", "x.example", NULL);
	mail_hdr_addrs_free(&l);
}

static void
test_hdr_junk(void **state)
{
	struct mail_hdr_addrs l;
	struct buf b;
	int i;

	assert_int_equal(hparse(", , foo bar <a@b.example>, ;;; <>, >x@y.example", &l), 0);
	assert_int_equal(l.n, 2);
	expect_addr(&l, 0, "foo bar", "a", "b.example", NULL);
	expect_addr(&l, 1, "", "x", "y.example", NULL);
	mail_hdr_addrs_free(&l);

	/* Bare word: kept without a domain. */
	assert_int_equal(hparse("joe", &l), 0);
	expect_addr(&l, 0, "", "joe", "", NULL);
	mail_hdr_addrs_free(&l);

	/* Nothing usable from a non-empty value: -1, list still safe. */
	assert_int_equal(hparse(",,,", &l), -1);
	assert_int_equal(l.n, 0);
	mail_hdr_addrs_free(&l);
	assert_int_equal(hparse("<>", &l), -1);
	mail_hdr_addrs_free(&l);
	/* Empty or only CFWS is not an error. */
	assert_int_equal(hparse("", &l), 0);
	assert_int_equal(l.n, 0);
	mail_hdr_addrs_free(&l);
	assert_int_equal(hparse("  (just a comment) ", &l), 0);
	assert_int_equal(l.n, 0);
	mail_hdr_addrs_free(&l);

	/* Invalid UTF-8 and NUL bytes come out as U+FFFD. */
	{
		static const char raw[] = "N\xff\0 <a@x.example>";

		assert_int_equal(mail_hdr_addrs_parse(raw, sizeof(raw) - 1, &l), 0);
	}
	expect_addr(&l, 0, "N\xef\xbf\xbd\xef\xbf\xbd", "a", "x.example", NULL);
	mail_hdr_addrs_free(&l);

	/* Unterminated quoted string and domain literal. */
	assert_int_equal(hparse("\"John <a@b.example>", &l), 0);
	mail_hdr_addrs_free(&l);
	assert_int_equal(hparse("a@[1.2.3.4", &l), 0);
	expect_addr(&l, 0, "", "a", "[1.2.3.4", NULL);
	mail_hdr_addrs_free(&l);

	/* The number of addresses is capped. */
	buf_init(&b);
	for (i = 0; i < 12000; i++)
		buf_puts(&b, "a@b.example,");
	assert_int_equal(mail_hdr_addrs_parse(b.data, b.len, &l), 0);
	assert_int_equal(l.n, 10000);
	mail_hdr_addrs_free(&l);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_mailbox_simple),
	        cmocka_unit_test(test_mailbox_malformed),
	        cmocka_unit_test(test_mailbox_quoted),
	        cmocka_unit_test(test_mailbox_smtputf8),
	        cmocka_unit_test(test_domain_idna),
	        cmocka_unit_test(test_limits),
	        cmocka_unit_test(test_path),
	        cmocka_unit_test(test_hdr_basic),
	        cmocka_unit_test(test_hdr_groups),
	        cmocka_unit_test(test_hdr_comments),
	        cmocka_unit_test(test_hdr_encoded_words),
	        cmocka_unit_test(test_hdr_junk),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
