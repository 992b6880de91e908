/* Unit tests for lib/net/dane.c: which TLSA records count for an MX host
 * (DNSSEC status of MX, addresses, CNAMEs and TLSA from a test zone), and
 * certificate verification with OpenSSL's DANE API over an in-memory
 * handshake with generated certificates (DANE-EE and DANE-TA, match and
 * mismatch). */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/buf.h"
#include "core/util.h"
#include "net/dane.h"
#include "net/dns.h"
#include "test_zone.h"

static const char zone[] =
	"$AUTHENTIC yes\n"
	"mx.secure.example. IN A 192.0.2.1\n"
	"_25._tcp.mx.secure.example. IN TLSA 3 1 1 "
	"8D02536C887482BC34FF54E41D2BA659BF85B341A0A20AFADB5813DCFBCF286D\n"
	"_25._tcp.mx.secure.example. IN TLSA 0 0 1 "
	"8D02536C887482BC34FF54E41D2BA659BF85B341A0A20AFADB5813DCFBCF286D\n"
	"nodane.other.example. IN A 192.0.2.2\n"
	"unusable.secure.example. IN AAAA 2001:db8::3\n"
	"_25._tcp.unusable.secure.example. IN TLSA 1 1 1 "
	"8D02536C887482BC34FF54E41D2BA659BF85B341A0A20AFADB5813DCFBCF286D\n"
	"_25._tcp.unusable.secure.example. IN TLSA 3 1 1 8D02\n"
	"_25._tcp.unusable.secure.example. IN TLSA 3 2 1 "
	"8D02536C887482BC34FF54E41D2BA659BF85B341A0A20AFADB5813DCFBCF286D\n"
	"broken.secure.example. IN A 192.0.2.4\n"
	/* An alias with TLSA at the target, one with TLSA only at the alias. */
	"alias.secure.example. IN CNAME target.secure.example.\n"
	"target.secure.example. IN A 192.0.2.5\n"
	"_25._tcp.target.secure.example. IN TLSA 2 0 1 "
	"1111111111111111111111111111111111111111111111111111111111111111\n"
	"alias2.secure.example. IN CNAME target2.secure.example.\n"
	"target2.secure.example. IN A 192.0.2.6\n"
	"_25._tcp.alias2.secure.example. IN TLSA 3 0 2 "
	"22222222222222222222222222222222222222222222222222222222222222222222222222222222"
	"222222222222222222222222222222222222222222222222\n"
	"$AUTHENTIC no\n"
	/* A secure host with insecure TLSA records. */
	"_25._tcp.nodane.other.example. IN TLSA 3 1 1 "
	"8D02536C887482BC34FF54E41D2BA659BF85B341A0A20AFADB5813DCFBCF286D\n"
	/* An insecure host with TLSA records. */
	"mx.insecure.example. IN A 192.0.2.7\n"
	"_25._tcp.mx.insecure.example. IN TLSA 3 1 1 "
	"8D02536C887482BC34FF54E41D2BA659BF85B341A0A20AFADB5813DCFBCF286D\n"
	/* An insecure alias to a secure target. */
	"insecure-alias.example. IN CNAME target.secure.example.\n"
	"$SECURE-ZONE secure.example\n"
	"$SERVFAIL _25._tcp.broken.secure.example\n";

static char zone_path[] = "/tmp/test_dane_zoneXXXXXX";
static struct dns *d;

static int
setup(void **state)
{
	(void)state;
	d = test_zone_dns(zone, sizeof(zone) - 1, zone_path);
	return d == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	dns_free(&d);
	unlink(zone_path);
	return 0;
}

static void
test_usable(void **state)
{
	unsigned char h32[32] = { 0 }, h64[64] = { 0 };
	struct dane_tlsa t = { 3, 1, 1, h32, 32 };

	(void)state;
	assert_true(dane_tlsa_usable(&t));
	t.usage = 2;
	assert_true(dane_tlsa_usable(&t));
	/* PKIX-TA/PKIX-EE are not for SMTP (RFC 7672 section 3.1.3). */
	t.usage = 0;
	assert_false(dane_tlsa_usable(&t));
	t.usage = 1;
	assert_false(dane_tlsa_usable(&t));
	t.usage = 4;
	assert_false(dane_tlsa_usable(&t));
	t.usage = 3;
	t.selector = 2;
	assert_false(dane_tlsa_usable(&t));
	t.selector = 0;
	t.mtype = 3;
	assert_false(dane_tlsa_usable(&t));
	/* Digest lengths must fit the matching type. */
	t.mtype = 2;
	assert_false(dane_tlsa_usable(&t));
	t.data = h64;
	t.len = 64;
	assert_true(dane_tlsa_usable(&t));
	t.mtype = 0;
	assert_true(dane_tlsa_usable(&t));
	t.len = 0;
	assert_false(dane_tlsa_usable(&t));
}

static void
test_lookup_required(void **state)
{
	struct dane_host h;
	struct buf b;

	(void)state;
	dane_host_lookup(d, "MX.Secure.Example.", true, &h);
	assert_int_equal(h.status, DANE_REQUIRED);
	assert_true(h.address_authentic);
	assert_string_equal(h.base_domain, "mx.secure.example");
	/* The PKIX-TA record is left out. */
	assert_int_equal(h.ntlsa, 1);
	assert_int_equal(h.nunusable, 1);
	assert_int_equal(h.tlsa[0].usage, 3);
	buf_init(&b);
	dane_tlsa_format(&h.tlsa[0], &b);
	assert_string_equal(b.data,
		"3 1 1 8d02536c887482bc34ff54e41d2ba659bf85b341a0a20afadb5813dcfbcf286d");
	buf_free(&b);
	assert_int_equal(h.nnames, 1);
	assert_string_equal(h.names[0], "mx.secure.example");
	dane_host_free(&h);
	assert_null(h.tlsa);

	/* The same host behind an insecure MX lookup: no DANE (RFC 7672
	 * section 2.2.1), the TLSA records are not even looked at. */
	dane_host_lookup(d, "mx.secure.example", false, &h);
	assert_int_equal(h.status, DANE_NONE);
	assert_int_equal(h.ntlsa, 0);
	assert_non_null(strstr(h.reason, "MX"));
	dane_host_free(&h);
}

static void
test_lookup_none(void **state)
{
	struct dane_host h;

	(void)state;
	/* Insecure addresses: no DANE although TLSA records exist. */
	dane_host_lookup(d, "mx.insecure.example", true, &h);
	assert_int_equal(h.status, DANE_NONE);
	assert_false(h.address_authentic);
	dane_host_free(&h);
	/* Secure host, insecure TLSA records. */
	dane_host_lookup(d, "nodane.other.example", true, &h);
	assert_int_equal(h.status, DANE_NONE);
	assert_true(h.address_authentic);
	assert_non_null(strstr(h.reason, "not DNSSEC-signed"));
	dane_host_free(&h);
	/* Secure denial: a host of the secure zone without TLSA. */
	dane_host_lookup(d, "target2.secure.example", true, &h);
	assert_int_equal(h.status, DANE_NONE);
	assert_non_null(strstr(h.reason, "secure denial"));
	dane_host_free(&h);
	/* No address at all. */
	dane_host_lookup(d, "missing.secure.example", true, &h);
	assert_int_equal(h.status, DANE_NONE);
	dane_host_free(&h);
}

static void
test_lookup_unusable_and_failure(void **state)
{
	struct dane_host h;

	(void)state;
	/* Only unusable records (PKIX-EE, short digest, unknown selector):
	 * TLS is required, unauthenticated (RFC 7672 section 2.2). The host
	 * has only an AAAA record. */
	dane_host_lookup(d, "unusable.secure.example", true, &h);
	assert_int_equal(h.status, DANE_UNUSABLE);
	assert_int_equal(h.ntlsa, 0);
	assert_int_equal(h.nunusable, 3);
	dane_host_free(&h);
	/* A failing TLSA lookup of a secure host: the host is not used. */
	dane_host_lookup(d, "broken.secure.example", true, &h);
	assert_int_equal(h.status, DANE_TEMPERROR);
	assert_non_null(strstr(h.reason, "TLSA lookup"));
	dane_host_free(&h);
}

static void
test_lookup_cname(void **state)
{
	struct dane_host h;

	(void)state;
	/* TLSA at the CNAME target is used first (RFC 7672 section 2.2.2);
	 * both names are reference identifiers for DANE-TA. */
	dane_host_lookup(d, "alias.secure.example", true, &h);
	assert_int_equal(h.status, DANE_REQUIRED);
	assert_string_equal(h.expanded, "target.secure.example");
	assert_string_equal(h.base_domain, "target.secure.example");
	assert_int_equal(h.tlsa[0].usage, 2);
	assert_int_equal(h.nnames, 2);
	assert_string_equal(h.names[0], "target.secure.example");
	assert_string_equal(h.names[1], "alias.secure.example");
	dane_host_free(&h);
	/* None at the target: the original name's records. */
	dane_host_lookup(d, "alias2.secure.example", true, &h);
	assert_int_equal(h.status, DANE_REQUIRED);
	assert_string_equal(h.expanded, "target2.secure.example");
	assert_string_equal(h.base_domain, "alias2.secure.example");
	assert_int_equal(h.tlsa[0].mtype, 2);
	dane_host_free(&h);
	/* An insecure CNAME to a secure target makes the address insecure. */
	dane_host_lookup(d, "insecure-alias.example", true, &h);
	assert_int_equal(h.status, DANE_NONE);
	assert_false(h.address_authentic);
	dane_host_free(&h);
}

/* ---- handshakes ---- */

static long serial = 1;

static void
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

/* A certificate for cn (and DNS:cn) with key, signed by issuer/ikey, or
 * self-signed when issuer is NULL; days < 0 makes it expired. */
static X509 *
make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *ikey, bool ca, int days)
{
	X509 *x = X509_new();
	X509_NAME *n;
	char *san;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), days < 0 ? -86400L * 10 : -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400L * days);
	X509_set_pubkey(x, key);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : n);
	if (ca) {
		add_ext(x, issuer != NULL ? issuer : x, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, issuer != NULL ? issuer : x, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		san = xasprintf("DNS:%s", cn);
		add_ext(x, issuer != NULL ? issuer : x, NID_subject_alt_name, san);
		free(san);
	}
	assert_true(X509_sign(x, ikey != NULL ? ikey : key, EVP_sha256()) > 0);
	return x;
}

static void
digest_spki(X509 *x, unsigned char out[32])
{
	unsigned char *der = NULL;
	int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);

	assert_true(n > 0);
	SHA256(der, (size_t)n, out);
	OPENSSL_free(der);
}

static void
digest_cert(X509 *x, unsigned char out[32])
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);

	assert_true(n > 0);
	SHA256(der, (size_t)n, out);
	OPENSSL_free(der);
}

/* Handshake a client SSL set up with h against a server presenting
 * leaf (+ chain); returns dane_ssl_verified's result. */
static int
handshake(const struct dane_host *h, X509 *leaf, EVP_PKEY *key, X509 *chain, int *usage_r,
	long *verr_r)
{
	SSL_CTX *sctx = SSL_CTX_new(TLS_server_method()), *cctx = SSL_CTX_new(TLS_client_method());
	SSL *s, *c;
	BIO *sb, *cb;
	const char *err = NULL;
	int i, rc, cdone = 0, sdone = 0;

	assert_int_equal(SSL_CTX_use_certificate(sctx, leaf), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(sctx, key), 1);
	if (chain != NULL)
		assert_int_equal(SSL_CTX_add1_chain_cert(sctx, chain), 1);
	assert_int_equal(dane_ctx_enable(cctx, &err), 0);
	s = SSL_new(sctx);
	c = SSL_new(cctx);
	assert_int_equal(BIO_new_bio_pair(&sb, 0, &cb, 0), 1);
	SSL_set_bio(s, sb, sb);
	SSL_set_bio(c, cb, cb);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	assert_int_equal(dane_ssl_setup(c, h, &err), 0);
	for (i = 0; i < 100 && !(cdone && sdone); i++) {
		if (!cdone) {
			rc = SSL_do_handshake(c);
			if (rc == 1)
				cdone = 1;
			else
				assert_int_equal(SSL_get_error(c, rc), SSL_ERROR_WANT_READ);
		}
		if (!sdone) {
			rc = SSL_do_handshake(s);
			if (rc == 1)
				sdone = 1;
			else
				assert_int_equal(SSL_get_error(s, rc), SSL_ERROR_WANT_READ);
		}
	}
	assert_true(cdone && sdone);
	/* The SNI the server saw is the TLSA base domain. */
	assert_string_equal(SSL_get_servername(s, TLSEXT_NAMETYPE_host_name), h->base_domain);
	rc = dane_ssl_verified(c, usage_r, verr_r, &err);
	if (rc != 0)
		assert_non_null(err);
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
	return rc;
}

static void
host_with(struct dane_host *h, const char *base, uint8_t usage, uint8_t sel,
	const unsigned char *data, size_t len)
{
	memset(h, 0, sizeof(*h));
	h->status = DANE_REQUIRED;
	h->base_domain = xstrdup(base);
	h->tlsa = xcalloc(1, sizeof(*h->tlsa));
	h->tlsa[0] = (struct dane_tlsa){ usage, sel, 1, xmalloc(len), len };
	memcpy(h->tlsa[0].data, data, len);
	h->ntlsa = 1;
	h->names = xcalloc(1, sizeof(char *));
	h->names[0] = xstrdup(base);
	h->nnames = 1;
}

static void
test_verify_dane_ee(void **state)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	/* Self-signed, another name, even expired: DANE-EE only looks at
	 * the key (RFC 7672 section 3.1.1). */
	X509 *cert = make_cert(key, "whatever.invalid", NULL, NULL, false, -1);
	unsigned char dg[32];
	struct dane_host h;
	int usage = 0;
	long verr = 0;

	(void)state;
	digest_spki(cert, dg);
	host_with(&h, "mx.secure.example", 3, 1, dg, 32);
	assert_int_equal(handshake(&h, cert, key, NULL, &usage, &verr), 0);
	assert_int_equal(usage, 3);
	dane_host_free(&h);

	/* One bit off: no match, the delivery must not go on. */
	dg[5] ^= 1;
	host_with(&h, "mx.secure.example", 3, 1, dg, 32);
	assert_int_equal(handshake(&h, cert, key, NULL, &usage, &verr), -1);
	assert_int_equal(verr, X509_V_ERR_DANE_NO_MATCH);
	dane_host_free(&h);
	X509_free(cert);
	EVP_PKEY_free(key);
}

static void
test_verify_dane_ta(void **state)
{
	EVP_PKEY *cakey = EVP_EC_gen("P-256"), *key = EVP_EC_gen("P-256");
	X509 *ca = make_cert(cakey, "Test TA", NULL, NULL, true, 30);
	X509 *leaf = make_cert(key, "mx.secure.example", ca, cakey, false, 30);
	X509 *other = make_cert(key, "other.example", ca, cakey, false, 30);
	unsigned char dg[32];
	struct dane_host h;
	int usage = 0;
	long verr = 0;

	(void)state;
	digest_cert(ca, dg);
	/* DANE-TA(2) certificate digest of the CA that issued the leaf. */
	host_with(&h, "mx.secure.example", 2, 0, dg, 32);
	assert_int_equal(handshake(&h, leaf, key, ca, &usage, &verr), 0);
	assert_int_equal(usage, 2);
	/* DANE-TA checks names: a leaf for another name fails. */
	assert_int_equal(handshake(&h, other, key, ca, &usage, &verr), -1);
	assert_int_equal(verr, X509_V_ERR_HOSTNAME_MISMATCH);
	dane_host_free(&h);
	/* ... unless that name is one of the extra reference identifiers. */
	host_with(&h, "mx.secure.example", 2, 0, dg, 32);
	h.names = xrealloc(h.names, 2 * sizeof(char *));
	h.names[h.nnames++] = xstrdup("other.example");
	assert_int_equal(handshake(&h, other, key, ca, &usage, &verr), 0);
	dane_host_free(&h);
	X509_free(other);
	X509_free(leaf);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(cakey);
}

static void
test_setup_refuses(void **state)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	struct dane_host h;
	const char *err = NULL;
	SSL *ssl;

	(void)state;
	memset(&h, 0, sizeof(h));
	assert_int_equal(dane_ctx_enable(ctx, &err), 0);
	ssl = SSL_new(ctx);
	/* Not a DANE host. */
	assert_int_equal(dane_ssl_setup(ssl, &h, &err), -1);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_usable),
		cmocka_unit_test(test_lookup_required),
		cmocka_unit_test(test_lookup_none),
		cmocka_unit_test(test_lookup_unusable_and_failure),
		cmocka_unit_test(test_lookup_cname),
		cmocka_unit_test(test_verify_dane_ee),
		cmocka_unit_test(test_verify_dane_ta),
		cmocka_unit_test(test_setup_refuses),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
