/* lib/mailauth/dkim: tag lists, canonicalization, the RFC 8463 example,
 * sign/verify round trips and the ways a signature must fail, against a
 * zone file (DNS test mode). */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>

#include "core/buf.h"
#include "core/util.h"
#include "mailauth/dkim.h"
#include "mailauth/dkim_private.h"
#include "test_zone.h"

static char zone_path[] = "/tmp/test_dkim_zoneXXXXXX";
static struct dns *d;
static EVP_PKEY *rsa, *ed, *rsa512;

#define RFC8463_TIME 1528637909

/* RFC 8463 Appendix A: keys (A.2) and the signed message (A.3). */
static const char rfc8463_zone[] =
	"brisbane._domainkey.football.example.com. IN TXT "
	"\"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"\n"
	"test._domainkey.football.example.com. IN TXT "
	"\"v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutAC\" "
	"\"DfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB\"\n";

static const char rfc8463_msg[] =
	"DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
	" d=football.example.com; i=@football.example.com;\r\n"
	" q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"
	" subject : date : message-id : from : subject : date;\r\n"
	" bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
	" b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n"
	" Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r\n"
	"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n"
	" d=football.example.com; i=@football.example.com;\r\n"
	" q=dns/txt; s=test; t=1528637909; h=from : to : subject :\r\n"
	" date : message-id : from : subject : date;\r\n"
	" bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
	" b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3\r\n"
	" DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz\r\n"
	" dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=\r\n"
	"From: Joe SixPack <joe@football.example.com>\r\n"
	"To: Suzie Q <suzie@shopping.example.net>\r\n"
	"Subject: Is dinner ready?\r\n"
	"Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
	"Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"
	"\r\n"
	"Hi.\r\n"
	"\r\n"
	"We lost the game.  Are you hungry yet?\r\n"
	"\r\n"
	"Joe.\r\n";

static const char plain_msg[] =
	"From: Alice <alice@example.org>\r\n"
	"To: Bob <bob@example.net>\r\n"
	"Subject: Lunch \r\n"
	"\ttomorrow?\r\n"
	"Date: Mon, 23 Nov 2026 10:00:00 +0100\r\n"
	"Message-ID: <1@example.org>\r\n"
	"X-Unsigned: yes\r\n"
	"\r\n"
	"Hi Bob,  \r\n"
	"\r\n"
	"shall we   meet at noon?\r\n"
	"\r\n"
	"\r\n";

/* A TXT record line with the value split into 200-octet strings. */
static void
zone_txt(struct buf *z, const char *name, const char *value)
{
	size_t i, n = strlen(value);

	buf_printf(z, "%s. IN TXT", name);
	for (i = 0; i < n; i += 200)
		buf_printf(z, " \"%.*s\"", (int)(n - i < 200 ? n - i : 200), value + i);
	buf_puts(z, "\n");
}

static void
zone_key(struct buf *z, const char *name, EVP_PKEY *k, const char *extra)
{
	struct buf rec;
	const char *err;

	buf_init(&rec);
	assert_int_equal(dkim_txt_record(k, &rec, &err), 0);
	if (extra != NULL) {
		/* Insert flags after "v=DKIM1;". */
		struct buf r2;

		buf_init(&r2);
		buf_append(&r2, rec.data, 8);
		buf_printf(&r2, " %s;%s", extra, rec.data + 8);
		zone_txt(z, name, r2.data);
		buf_free(&r2);
	} else {
		zone_txt(z, name, rec.data);
	}
	buf_free(&rec);
}

static int
setup(void **state)
{
	const char *err = NULL;
	struct buf z;

	(void)state;
	rsa = dkim_key_generate(DKIM_ALGO_RSA, &err);
	ed = dkim_key_generate(DKIM_ALGO_ED25519, &err);
	rsa512 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)512);
	if (rsa == NULL || ed == NULL || rsa512 == NULL)
		return -1;
	buf_init(&z);
	buf_puts(&z, rfc8463_zone);
	buf_puts(&z, "$AUTHENTIC yes\n");
	zone_key(&z, "rsa._domainkey.example.org", rsa, NULL);
	buf_puts(&z, "$AUTHENTIC no\n");
	zone_key(&z, "ed._domainkey.example.org", ed, NULL);
	zone_key(&z, "testing._domainkey.example.org", ed, "t=y");
	zone_key(&z, "strict._domainkey.example.org", rsa, "t=s");
	zone_key(&z, "sha1only._domainkey.example.org", rsa, "h=sha1");
	zone_key(&z, "wrongtype._domainkey.example.org", ed, NULL);
	zone_key(&z, "short._domainkey.example.org", rsa512, NULL);
	zone_key(&z, "notemail._domainkey.example.org", rsa, "s=other");
	buf_puts(&z, "revoked._domainkey.example.org. IN TXT \"v=DKIM1; k=rsa; p=\"\n");
	buf_puts(&z, "garbage._domainkey.example.org. IN TXT \"v=DKIM1; k=rsa; p=AAAA; p=AAAA\"\n");
	buf_puts(&z, "$SERVFAIL temp._domainkey.example.org\n");
	d = test_zone_dns(z.data, z.len, zone_path);
	buf_free(&z);
	return d != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	dns_free(&d);
	unlink(zone_path);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ed);
	EVP_PKEY_free(rsa512);
	return 0;
}

/* Sign msg and return the signed message (signature prepended). */
static void
sign_msg(struct buf *out, const char *msg, EVP_PKEY *k, const char *selector,
	const struct dkim_sign_opts *base)
{
	struct dkim_sign_opts o;
	const char *err = NULL;

	if (base != NULL)
		o = *base;
	else
		memset(&o, 0, sizeof(o));
	o.domain = "example.org";
	o.selector = selector;
	o.key = k;
	buf_init(out);
	if (dkim_sign(&o, msg, strlen(msg), out, &err) < 0)
		fail_msg("dkim_sign: %s", err);
	buf_puts(out, msg);
}

/* Verify and expect n results; returns them (caller frees). */
static struct dkim_result *
verify_n(const char *msg, int64_t now, size_t want)
{
	struct dkim_result *r;
	size_t n;

	assert_int_equal(dkim_verify(d, msg, strlen(msg), now, &r, &n), 0);
	assert_int_equal(n, want);
	return r;
}

static void
expect_status(const char *msg, int64_t now, enum dkim_status st, const char *errpart)
{
	struct dkim_result *r = verify_n(msg, now, 1);

	if (r[0].status != st)
		fail_msg("status %s, want %s (error: %s)", dkim_status_name(r[0].status),
			dkim_status_name(st), r[0].error ? r[0].error : "none");
	if (errpart != NULL) {
		assert_non_null(r[0].error);
		if (strstr(r[0].error, errpart) == NULL)
			fail_msg("error \"%s\" lacks \"%s\"", r[0].error, errpart);
	}
	if (st == DKIM_PASS)
		assert_null(r[0].error);
	dkim_results_free(r, 1);
}

/*
 * A signature with tags of our choosing (l=, i=, h= without From), signed
 * here with the private helpers: sigfmt is the value up to and including
 * "b=" with one %s for bh=.
 */
static void
custom_sign(struct buf *out, const char *msg, EVP_PKEY *k, const char *sigfmt, bool simple_h,
	bool simple_b, int64_t l, char *const *hf, size_t nhf)
{
	struct dkim_sink s;
	struct dkim_fields f;
	struct dkim_field sf;
	struct buf hdr, data, b64, sig;
	unsigned char bh[EVP_MAX_MD_SIZE], h[32];
	unsigned int bhl = 0, hl = 0;
	const char *body, *pct;
	size_t hdr_len, siglen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool is_ed = EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519;
	const EVP_MD *md = strstr(sigfmt, "a=rsa-sha1;") != NULL ? EVP_sha1() : EVP_sha256();

	assert_int_equal(dkim_split_message(msg, strlen(msg), &hdr_len, &body), 0);
	memset(&s, 0, sizeof(s));
	s.md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(s.md, md, NULL);
	s.limited = l >= 0;
	s.limit = l >= 0 ? (uint64_t)l : 0;
	dkim_canon_body(&s, simple_b, body, strlen(body));
	EVP_DigestFinal_ex(s.md, bh, &bhl);
	EVP_MD_CTX_free(s.md);
	buf_init(&b64);
	ms_base64_encode(&b64, bh, bhl);
	buf_init(&hdr);
	buf_puts(&hdr, "DKIM-Signature: ");
	pct = strstr(sigfmt, "%s");
	assert_non_null(pct);
	buf_append(&hdr, sigfmt, (size_t)(pct - sigfmt));
	buf_puts(&hdr, b64.data);
	buf_puts(&hdr, pct + 2);
	dkim_fields_parse(msg, hdr_len, &f);
	memset(&sf, 0, sizeof(sf));
	sf.raw = sf.name = hdr.data;
	sf.namelen = 14;
	sf.value = hdr.data + 15;
	sf.valuelen = hdr.len - 15;
	sf.rawlen = hdr.len;
	buf_init(&data);
	memset(&s, 0, sizeof(s));
	s.out = &data;
	dkim_hash_headers(&s, simple_h, &f, hf, nhf, &sf, sf.valuelen, sf.valuelen);
	buf_init(&sig);
	buf_reserve(&sig, 512);
	siglen = 512;
	if (is_ed) {
		EVP_Digest(data.data, data.len, h, &hl, EVP_sha256(), NULL);
		assert_int_equal(EVP_DigestSignInit(ctx, NULL, NULL, NULL, k), 1);
		assert_int_equal(EVP_DigestSign(ctx, (unsigned char *)sig.data, &siglen, h, hl), 1);
	} else {
		assert_int_equal(EVP_DigestSignInit(ctx, NULL, md, NULL, k), 1);
		assert_int_equal(EVP_DigestSign(ctx, (unsigned char *)sig.data, &siglen,
					 (unsigned char *)data.data, data.len),
			1);
	}
	buf_reset(&b64);
	ms_base64_encode(&b64, sig.data, siglen);
	buf_init(out);
	buf_printf(out, "%s%s\r\n%s", hdr.data, b64.data, msg);
	EVP_MD_CTX_free(ctx);
	dkim_fields_free(&f);
	buf_free(&hdr);
	buf_free(&data);
	buf_free(&b64);
	buf_free(&sig);
}

static void
test_taglist(void **state)
{
	struct dkim_taglist tl;
	const struct dkim_tag *t;
	const char *err;
	static const char s[] = " v = 1 ;\r\n\tb=ab cd\r\n ef ; x_1=; k=a:b;";

	(void)state;
	assert_int_equal(dkim_taglist_parse(s, sizeof(s) - 1, &tl, &err), 0);
	assert_int_equal(tl.n, 4);
	t = dkim_taglist_get(&tl, "v");
	assert_non_null(t);
	assert_int_equal(t->valuelen, 1);
	assert_memory_equal(t->value, "1", 1);
	t = dkim_taglist_get(&tl, "b");
	assert_int_equal(t->valuelen, strlen("ab cd\r\n ef"));
	assert_memory_equal(t->value, "ab cd\r\n ef", t->valuelen);
	/* The raw span covers the whitespace around the value. */
	assert_memory_equal(s + t->raw_start, "ab cd\r\n ef ", t->raw_end - t->raw_start);
	t = dkim_taglist_get(&tl, "x_1");
	assert_int_equal(t->valuelen, 0);
	assert_null(dkim_taglist_get(&tl, "V")); /* names are case-sensitive */

	/* Errors: duplicate tag, missing "=", empty tag-spec, bad name, CTL,
	 * CRLF not followed by WSP. */
	assert_int_equal(dkim_taglist_parse("a=1; a=2", 8, &tl, &err), -1);
	assert_non_null(strstr(err, "duplicate"));
	assert_int_equal(dkim_taglist_parse("a=1; b", 6, &tl, &err), -1);
	assert_int_equal(dkim_taglist_parse("a=1;; b=2", 9, &tl, &err), -1);
	assert_int_equal(dkim_taglist_parse("1a=1", 4, &tl, &err), -1);
	assert_int_equal(dkim_taglist_parse("a=1\x01", 4, &tl, &err), -1);
	assert_int_equal(dkim_taglist_parse("a=1\r\nb=2", 8, &tl, &err), -1);
	assert_int_equal(dkim_taglist_parse("", 0, &tl, &err), 0);
	assert_int_equal(tl.n, 0);
}

static void
test_base64_fws(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b);
	assert_int_equal(dkim_base64_decode_fws(&b, "aGVs\r\n bG8=", 11), 0);
	assert_string_equal(b.data, "hello");
	buf_reset(&b);
	/* Truncated: a partial group, or missing padding. */
	assert_int_equal(dkim_base64_decode_fws(&b, "aGVsbG8", 7), -1);
	assert_int_equal(dkim_base64_decode_fws(&b, "aGVs bG", 7), -1);
	assert_int_equal(dkim_base64_decode_fws(&b, "aGV*bG8=", 8), -1);
	buf_free(&b);
}

static void
test_signature_check(void **state)
{
	static const char good[] = "v=1; a=rsa-sha256; d=example.org; s=sel;\r\n h=from:to;"
				   " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=AAAA";
	static const char *const bad[] = {
		/* missing v=, wrong v=, unknown a=, missing From in h= */
		"a=rsa-sha256; d=example.org; s=sel; h=from; bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=AAAA",
		"v=2; a=rsa-sha256; d=example.org; s=sel; h=from; bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=AAAA",
		"v=1; a=rsa-md5; d=example.org; s=sel; h=from; bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=AAAA",
		"v=1; a=rsa-sha256; d=example.org; s=sel; h=to:subject; bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=AAAA",
		/* i= outside d=, duplicate tag, truncated b=, x= before t= */
		"v=1; a=rsa-sha256; d=example.org; s=sel; i=@example.com; h=from; bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=AAAA",
		"v=1; a=rsa-sha256; d=example.org; d=example.org; s=sel; h=from; bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=AAAA",
		"v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=AAA",
		"v=1; a=rsa-sha256; d=example.org; s=sel; t=20; x=10; h=from; bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=AAAA",
		/* bad c=, q=, l=, selector, bh= of the wrong length */
		"v=1; a=rsa-sha256; c=loose; d=example.org; s=sel; h=from; bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=AAAA",
		"v=1; a=rsa-sha256; q=http; d=example.org; s=sel; h=from; bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=AAAA",
		"v=1; a=rsa-sha256; l=-1; d=example.org; s=sel; h=from; bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=AAAA",
		"v=1; a=rsa-sha256; d=example.org; s=a..b; h=from; bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=AAAA",
		"v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=AAAA; b=AAAA",
	};
	const char *err;
	size_t i;

	(void)state;
	assert_int_equal(dkim_signature_check(good, sizeof(good) - 1, &err), 0);
	for (i = 0; i < MS_NELEM(bad); i++) {
		err = NULL;
		if (dkim_signature_check(bad[i], strlen(bad[i]), &err) != -1)
			fail_msg("accepted: %s", bad[i]);
		assert_non_null(err);
	}
	/* i= in a subdomain and q=dns/txt are fine. */
	assert_int_equal(dkim_signature_check("v=1; a=ed25519-sha256; q=dns/txt; d=example.org; "
					      "s=s; i=x@a.b.example.org; h=From; l=10; t=1; x=2; "
					      "bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=AAAA",
				 strlen("v=1; a=ed25519-sha256; q=dns/txt; d=example.org; "
					"s=s; i=x@a.b.example.org; h=From; l=10; t=1; x=2; "
					"bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=AAAA"),
				 &err),
		0);
}

static void
canon(struct buf *out, bool header, bool simple, const char *s)
{
	struct dkim_sink sink;

	memset(&sink, 0, sizeof(sink));
	buf_reset(out);
	sink.out = out;
	if (header) {
		struct dkim_fields f;
		size_t i;

		dkim_fields_parse(s, strlen(s), &f);
		for (i = 0; i < f.n; i++)
			dkim_canon_header(&sink, simple, &f.v[i], true);
		dkim_fields_free(&f);
	} else {
		dkim_canon_body(&sink, simple, s, strlen(s));
	}
}

/* RFC 6376 3.4.5 examples, and the empty-body rules. */
static void
test_canonicalization(void **state)
{
	static const char hdr[] = "A: X\r\nB : Y\t\r\n\tZ  \r\n";
	static const char body[] = " C \r\nD \t E\r\n\r\n\r\n";
	struct buf b;
	struct dkim_sink sink;

	(void)state;
	buf_init(&b);
	canon(&b, true, false, hdr);
	assert_string_equal(b.data, "a:X\r\nb:Y Z\r\n");
	canon(&b, false, false, body);
	assert_string_equal(b.data, " C\r\nD E\r\n");
	canon(&b, true, true, hdr);
	assert_string_equal(b.data, hdr);
	canon(&b, false, true, body);
	assert_string_equal(b.data, " C \r\nD \t E\r\n");
	canon(&b, false, true, "");
	assert_string_equal(b.data, "\r\n");
	canon(&b, false, false, "");
	assert_string_equal(b.data, "");
	canon(&b, false, true, "\r\n\r\n");
	assert_string_equal(b.data, "\r\n");
	canon(&b, false, false, " \t\r\n\r\n");
	assert_string_equal(b.data, "");
	/* A last line without CRLF gets one. */
	canon(&b, false, true, "a\r\nb");
	assert_string_equal(b.data, "a\r\nb\r\n");
	canon(&b, false, false, "a  b \t");
	assert_string_equal(b.data, "a b\r\n");
	/* The l= limit cuts the canonical body but counts all of it. */
	buf_reset(&b);
	memset(&sink, 0, sizeof(sink));
	sink.out = &b;
	sink.limited = true;
	sink.limit = 3;
	dkim_canon_body(&sink, false, body, strlen(body));
	assert_string_equal(b.data, " C\r");
	assert_int_equal(sink.total, 9);
	buf_free(&b);
}

static void
test_rfc8463_example(void **state)
{
	struct dkim_result *r;

	(void)state;
	r = verify_n(rfc8463_msg, RFC8463_TIME, 2);
	assert_int_equal(r[0].status, DKIM_PASS);
	assert_string_equal(r[0].algorithm, "ed25519-sha256");
	assert_string_equal(r[0].selector, "brisbane");
	assert_string_equal(r[0].domain, "football.example.com");
	assert_string_equal(r[0].identity, "@football.example.com");
	assert_string_equal(r[0].b_prefix, "/gCrinpc");
	assert_false(r[0].authentic);
	assert_int_equal(r[1].status, DKIM_PASS);
	assert_string_equal(r[1].algorithm, "rsa-sha256");
	assert_string_equal(r[1].selector, "test");
	dkim_results_free(r, 2);

	/* One changed body octet breaks both body hashes. */
	{
		char *m = xstrdup(rfc8463_msg);
		size_t i;

		*strstr(m, "hungry") = 'H';
		r = verify_n(m, RFC8463_TIME, 2);
		for (i = 0; i < 2; i++) {
			assert_int_equal(r[i].status, DKIM_FAIL);
			assert_non_null(strstr(r[i].error, "body hash"));
		}
		dkim_results_free(r, 2);
		free(m);
	}
}

static void
roundtrip(EVP_PKEY *k, const char *sel, bool sh, bool sb)
{
	struct dkim_sign_opts o;
	struct dkim_result *r;
	struct buf m;
	const char *p, *nl;

	memset(&o, 0, sizeof(o));
	o.simple_header = sh;
	o.simple_body = sb;
	sign_msg(&m, plain_msg, k, sel, &o);
	/* Folded to at most 78 columns. */
	for (p = m.data; (nl = strstr(p, "\r\n")) != NULL && strncmp(p, "From:", 5) != 0;
		p = nl + 2)
		assert_true(nl - p <= 78);
	r = verify_n(m.data, 0, 1);
	if (r[0].status != DKIM_PASS)
		fail_msg("%s c=%d/%d: %s: %s", sel, sh, sb, dkim_status_name(r[0].status),
			r[0].error);
	assert_string_equal(r[0].domain, "example.org");
	assert_string_equal(r[0].selector, sel);
	assert_string_equal(r[0].identity, "@example.org");
	assert_string_equal(r[0].algorithm,
		EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA ? "rsa-sha256" : "ed25519-sha256");
	assert_int_equal(r[0].authentic, strcmp(sel, "rsa") == 0);
	dkim_results_free(r, 1);
	buf_free(&m);
}

static void
test_roundtrip(void **state)
{
	int c;

	(void)state;
	for (c = 0; c < 4; c++) {
		roundtrip(rsa, "rsa", c & 1, c & 2);
		roundtrip(ed, "ed", c & 1, c & 2);
	}
}

static void
test_tampering(void **state)
{
	struct buf m, m2;
	char *p;

	(void)state;
	sign_msg(&m, plain_msg, ed, "ed", NULL);
	/* Body changed: body hash mismatch. */
	buf_init(&m2);
	buf_puts(&m2, m.data);
	p = strstr(m2.data, "noon");
	*p = 'N';
	expect_status(m2.data, 0, DKIM_FAIL, "body hash");
	/* Signed header changed: signature mismatch. */
	buf_reset(&m2);
	buf_puts(&m2, m.data);
	p = strstr(m2.data, "Lunch");
	*p = 'l';
	expect_status(m2.data, 0, DKIM_FAIL, "signature does not verify");
	/* Relaxed: refolding and whitespace changes are fine, as is an
	 * unsigned field changed and a trailing empty line added. */
	buf_reset(&m2);
	buf_puts(&m2, m.data);
	p = strstr(m2.data, "Subject: Lunch \r\n\ttomorrow?");
	memcpy(p, "Subject:  Lunch\r\n  tomorrow?", strlen("Subject:  Lunch\r\n  tomorrow?"));
	p = strstr(m2.data, "X-Unsigned: yes");
	p[12] = 'n';
	buf_puts(&m2, "\r\n");
	expect_status(m2.data, 0, DKIM_PASS, NULL);
	buf_free(&m2);
	buf_free(&m);
}

static void
test_oversigning(void **state)
{
	struct dkim_sign_opts o;
	struct buf m, m2;
	const char *p;

	(void)state;
	memset(&o, 0, sizeof(o));
	/* Without oversigning a From added above the signed one is not
	 * seen (fields are taken bottom-up)... */
	sign_msg(&m, plain_msg, rsa, "rsa", &o);
	p = strstr(m.data, "\r\nFrom:") + 2;
	buf_init(&m2);
	buf_append(&m2, m.data, (size_t)(p - m.data));
	buf_puts(&m2, "From: Mallory <m@evil.example>\r\n");
	buf_puts(&m2, p);
	expect_status(m2.data, 0, DKIM_PASS, NULL);
	buf_free(&m);
	buf_free(&m2);

	/* ...with oversigning the extra instance breaks the signature. */
	o.oversign = true;
	sign_msg(&m, plain_msg, rsa, "rsa", &o);
	assert_non_null(strstr(m.data, "From:From:"));
	expect_status(m.data, 0, DKIM_PASS, NULL);
	p = strstr(m.data, "\r\nFrom:") + 2;
	buf_init(&m2);
	buf_append(&m2, m.data, (size_t)(p - m.data));
	buf_puts(&m2, "From: Mallory <m@evil.example>\r\n");
	buf_puts(&m2, p);
	expect_status(m2.data, 0, DKIM_FAIL, "signature does not verify");
	buf_free(&m2);
	/* Adding a field that was absent (Cc, oversigned) fails too. */
	buf_init(&m2);
	buf_puts(&m2, m.data);
	buf_truncate(&m2, (size_t)(strstr(m2.data, "\r\n\r\n") - m2.data) + 2);
	buf_puts(&m2, "Cc: eve@example.net\r\n");
	buf_puts(&m2, strstr(m.data, "\r\n\r\n") + 2);
	expect_status(m2.data, 0, DKIM_FAIL, NULL);
	buf_free(&m2);
	buf_free(&m);
}

static void
test_headers_option(void **state)
{
	static const char *const hl[] = { "subject", "date" };
	struct dkim_sign_opts o;
	struct buf m;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.headers = hl;
	o.nheaders = 2;
	sign_msg(&m, plain_msg, ed, "ed", &o);
	/* From is added even when not listed. */
	assert_non_null(strstr(m.data, "h=subject:date:From;"));
	expect_status(m.data, 0, DKIM_PASS, NULL);
	buf_free(&m);
}

static void
test_length_limit(void **state)
{
	static char *const hf[] = { "from", "subject" };
	struct buf m, m2;
	const char *bodystart = strstr(plain_msg, "\r\n\r\n") + 4;
	char fmt[256];
	/* Relaxed body of plain_msg: "Hi Bob,\r\n\r\nshall we meet at noon?\r\n". */
	int64_t l = 9;

	(void)state;
	(void)bodystart;
	snprintf(fmt, sizeof(fmt),
		"v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=rsa; l=%lld;\r\n"
		"\th=from:subject; bh=%s; b=",
		(long long)l, "%s");
	custom_sign(&m, plain_msg, rsa, fmt, false, false, l, hf, 2);
	expect_status(m.data, 0, DKIM_PASS, NULL);
	/* Changes after the first l octets are not covered... */
	buf_init(&m2);
	buf_puts(&m2, m.data);
	*strstr(m2.data, "noon") = 'N';
	buf_puts(&m2, "Appended by a list\r\n");
	expect_status(m2.data, 0, DKIM_PASS, NULL);
	/* ...changes within them are. */
	*strstr(m2.data, "Hi Bob") = 'h';
	expect_status(m2.data, 0, DKIM_FAIL, "body hash");
	buf_free(&m2);
	buf_free(&m);

	/* l= beyond the body. */
	custom_sign(&m, plain_msg, rsa,
		"v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=rsa; l=100000;\r\n"
		"\th=from:subject; bh=%s; b=", false, false, 100000, hf, 2);
	expect_status(m.data, 0, DKIM_PERMERROR, "body length");
	buf_free(&m);
}

static void
test_expiration(void **state)
{
	struct dkim_sign_opts o;
	struct buf m;
	int64_t t = 1700000000;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.now = t;
	o.expiration = 3600;
	sign_msg(&m, plain_msg, ed, "ed", &o);
	assert_non_null(strstr(m.data, "t=1700000000;"));
	assert_non_null(strstr(m.data, "x=1700003600;"));
	expect_status(m.data, t + 10, DKIM_PASS, NULL);
	expect_status(m.data, t + 3601, DKIM_PERMERROR, "expired");
	/* t= well in the future. */
	expect_status(m.data, t - 3600, DKIM_PERMERROR, "future");
	/* Within the tolerance for clock skew. */
	expect_status(m.data, t - 60, DKIM_PASS, NULL);
	buf_free(&m);
}

static void
test_key_records(void **state)
{
	static char *const hf[] = { "from" };
	struct dkim_result *r;
	struct buf m;

	(void)state;
	sign_msg(&m, plain_msg, rsa, "revoked", NULL);
	expect_status(m.data, 0, DKIM_PERMERROR, "revoked");
	buf_free(&m);
	sign_msg(&m, plain_msg, rsa, "wrongtype", NULL);
	expect_status(m.data, 0, DKIM_PERMERROR, "key type");
	buf_free(&m);
	sign_msg(&m, plain_msg, rsa512, "short", NULL);
	expect_status(m.data, 0, DKIM_PERMERROR, "too small");
	buf_free(&m);
	sign_msg(&m, plain_msg, rsa, "sha1only", NULL);
	expect_status(m.data, 0, DKIM_PERMERROR, "h=");
	buf_free(&m);
	sign_msg(&m, plain_msg, rsa, "notemail", NULL);
	expect_status(m.data, 0, DKIM_PERMERROR, "s=");
	buf_free(&m);
	sign_msg(&m, plain_msg, rsa, "nonexistent", NULL);
	expect_status(m.data, 0, DKIM_PERMERROR, "no key record");
	buf_free(&m);
	sign_msg(&m, plain_msg, rsa, "garbage", NULL);
	expect_status(m.data, 0, DKIM_PERMERROR, "duplicate");
	buf_free(&m);
	sign_msg(&m, plain_msg, rsa, "temp", NULL);
	expect_status(m.data, 0, DKIM_TEMPERROR, NULL);
	buf_free(&m);

	/* t=y: passes, flagged as testing. */
	sign_msg(&m, plain_msg, ed, "testing", NULL);
	r = verify_n(m.data, 0, 1);
	assert_int_equal(r[0].status, DKIM_PASS);
	assert_true(r[0].testing);
	dkim_results_free(r, 1);
	buf_free(&m);

	/* t=s: i= must be d= itself. The same subdomain identity under a key
	 * without t=s passes. */
	custom_sign(&m, plain_msg, rsa,
		"v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=strict;\r\n"
		"\ti=@mail.example.org; h=from; bh=%s; b=",
		false, false, -1, hf, 1);
	expect_status(m.data, 0, DKIM_PERMERROR, "t=s");
	buf_free(&m);
	custom_sign(&m, plain_msg, rsa,
		"v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=rsa;\r\n"
		"\ti=bob@mail.example.org; h=from; bh=%s; b=",
		false, false, -1, hf, 1);
	r = verify_n(m.data, 0, 1);
	assert_int_equal(r[0].status, DKIM_PASS);
	assert_string_equal(r[0].identity, "bob@mail.example.org");
	dkim_results_free(r, 1);
	buf_free(&m);
	custom_sign(&m, plain_msg, rsa,
		"v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=strict;\r\n"
		"\ti=@example.org; h=from; bh=%s; b=",
		false, false, -1, hf, 1);
	expect_status(m.data, 0, DKIM_PASS, NULL);
	buf_free(&m);
}

/* rsa-sha1 is verified, but a good one is only "policy" (RFC 8301). */
static void
test_rsa_sha1(void **state)
{
	static char *const hf[] = { "from", "subject" };
	struct buf m;

	(void)state;
	custom_sign(&m, plain_msg, rsa,
		"v=1; a=rsa-sha1; c=simple/simple; d=example.org; s=rsa;\r\n"
		"\th=from:subject; bh=%s; b=",
		true, true, -1, hf, 2);
	expect_status(m.data, 0, DKIM_POLICY, "rsa-sha1");
	*strstr(m.data, "Lunch") = 'l';
	expect_status(m.data, 0, DKIM_FAIL, "signature does not verify");
	buf_free(&m);
	/* The same under a key record that allows only sha1 (h=sha1). */
	custom_sign(&m, plain_msg, rsa,
		"v=1; a=rsa-sha1; c=simple/simple; d=example.org; s=sha1only;\r\n"
		"\th=from:subject; bh=%s; b=",
		true, true, -1, hf, 2);
	expect_status(m.data, 0, DKIM_POLICY, "rsa-sha1");
	buf_free(&m);
}

static void
test_missing_from(void **state)
{
	static char *const hf[] = { "subject", "to" };
	struct buf m;
	const char *err = NULL;
	struct dkim_sign_opts o;

	(void)state;
	custom_sign(&m, plain_msg, ed,
		"v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.org; s=ed;\r\n"
		"\th=subject:to; bh=%s; b=",
		false, false, -1, hf, 2);
	expect_status(m.data, 0, DKIM_PERMERROR, "From");
	buf_free(&m);

	/* Signing refuses a message without From. */
	memset(&o, 0, sizeof(o));
	o.domain = "example.org";
	o.selector = "ed";
	o.key = ed;
	buf_init(&m);
	assert_int_equal(dkim_sign(&o, "To: x@example.org\r\n\r\nbody\r\n", 27, &m, &err), -1);
	assert_non_null(strstr(err, "From"));
	buf_free(&m);
}

static void
test_too_many(void **state)
{
	struct dkim_result *r;
	struct buf m, next;
	size_t i;

	(void)state;
	/* The first signature (bottom-most, 11th in header order) would be a
	 * temperror if it were looked up. */
	sign_msg(&m, plain_msg, rsa, "temp", NULL);
	for (i = 0; i < 10; i++) {
		sign_msg(&next, m.data, ed, "ed", NULL);
		buf_free(&m);
		m = next;
	}
	r = verify_n(m.data, 0, 11);
	for (i = 0; i < 10; i++)
		assert_int_equal(r[i].status, DKIM_PASS);
	assert_int_equal(r[10].status, DKIM_PERMERROR);
	assert_non_null(strstr(r[10].error, "too many"));
	dkim_results_free(r, 11);
	buf_free(&m);
}

static void
test_no_signature(void **state)
{
	struct dkim_result *r = NULL;
	size_t n = 99;

	(void)state;
	assert_int_equal(dkim_verify(d, plain_msg, strlen(plain_msg), 0, &r, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(dkim_verify(d, "From: a@b\r\n", 11, 0, &r, &n), -1);
	assert_int_equal(n, 0);
	/* A malformed signature is reported, not skipped. */
	r = verify_n("DKIM-Signature: v=1; a=rsa-sha256; d=example.org; d=x\r\n"
		     "From: a@example.org\r\n\r\nbody\r\n",
		0, 1);
	assert_int_equal(r[0].status, DKIM_NEUTRAL);
	assert_non_null(strstr(r[0].error, "duplicate"));
	dkim_results_free(r, 1);
	assert_string_equal(dkim_status_name(DKIM_PERMERROR), "permerror");
}

static void
test_keys(void **state)
{
	struct buf pem, txt;
	EVP_PKEY *k;
	const char *err;

	(void)state;
	buf_init(&pem);
	buf_init(&txt);
	assert_int_equal(dkim_key_to_pem(ed, &pem, &err), 0);
	assert_non_null(strstr(pem.data, "-----BEGIN PRIVATE KEY-----"));
	k = dkim_key_from_pem(pem.data, pem.len, &err);
	assert_non_null(k);
	assert_int_equal(EVP_PKEY_eq(k, ed), 1);
	EVP_PKEY_free(k);
	assert_int_equal(dkim_txt_record(ed, &txt, &err), 0);
	assert_int_equal(txt.len, strlen("v=DKIM1; k=ed25519; p=") + 44);
	buf_reset(&pem);
	buf_reset(&txt);
	assert_int_equal(dkim_key_to_pem(rsa, &pem, &err), 0);
	k = dkim_key_from_pem(pem.data, pem.len, &err);
	assert_non_null(k);
	assert_int_equal(EVP_PKEY_get_bits(k), 2048);
	EVP_PKEY_free(k);
	assert_int_equal(dkim_txt_record(rsa, &txt, &err), 0);
	assert_true(strncmp(txt.data, "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A", 50) ==
		    0);
	assert_null(dkim_key_from_pem("nonsense", 8, &err));
	buf_wipe(&pem);
	buf_free(&pem);
	buf_free(&txt);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_taglist),
		cmocka_unit_test(test_base64_fws),
		cmocka_unit_test(test_signature_check),
		cmocka_unit_test(test_canonicalization),
		cmocka_unit_test(test_rfc8463_example),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_tampering),
		cmocka_unit_test(test_oversigning),
		cmocka_unit_test(test_headers_option),
		cmocka_unit_test(test_length_limit),
		cmocka_unit_test(test_expiration),
		cmocka_unit_test(test_key_records),
		cmocka_unit_test(test_rsa_sha1),
		cmocka_unit_test(test_missing_from),
		cmocka_unit_test(test_too_many),
		cmocka_unit_test(test_no_signature),
		cmocka_unit_test(test_keys),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
