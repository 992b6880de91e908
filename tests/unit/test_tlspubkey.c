/* Tests of lib/auth/tlspubkey: fingerprints of client certificates (only
 * the public key counts), key type names, PEM and DER input, refusals. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "auth/tlspubkey.h"
#include "core/util.h"

/* A self-signed certificate for key with the given CN (NULL: none) and
 * serial number; DER into der, PEM into pem. */
static void
make_cert(EVP_PKEY *key, const char *cn, long serial, struct buf *der, struct buf *pem)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	unsigned char *p = NULL;
	BIO *b = BIO_new(BIO_s_mem());
	char *mem;
	long n;
	int len;
	int id = EVP_PKEY_get_base_id(key);

	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	if (cn != NULL)
		X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1,
			-1, 0);
	else
		X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"Org",
			-1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, name);
	assert_true(X509_sign(x, key, id == EVP_PKEY_ED25519 ? NULL : EVP_sha256()) > 0);
	len = i2d_X509(x, &p);
	assert_true(len > 0);
	buf_reset(der);
	buf_append(der, p, (size_t)len);
	OPENSSL_free(p);
	assert_int_equal(PEM_write_bio_X509(b, x), 1);
	n = BIO_get_mem_data(b, &mem);
	buf_reset(pem);
	buf_append(pem, mem, (size_t)n);
	BIO_free(b);
	X509_NAME_free(name);
	X509_free(x);
}

/* base64url(SHA-256(SubjectPublicKeyInfo)), computed independently. */
static void
expected_fp(EVP_PKEY *key, struct buf *out)
{
	unsigned char *spki = NULL, md[32];
	unsigned int mdlen;
	int n = i2d_PUBKEY(key, &spki);

	assert_true(n > 0);
	EVP_Digest(spki, (size_t)n, md, &mdlen, EVP_sha256(), NULL);
	OPENSSL_free(spki);
	buf_reset(out);
	ms_base64url_encode(out, md, sizeof(md));
}

static void
test_ecdsa(void **state)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	struct buf der, pem, fp, fp2;
	struct tlspubkey_info info, info2;
	const char *err;

	buf_init(&der);
	buf_init(&pem);
	buf_init(&fp);
	buf_init(&fp2);
	make_cert(k, "my phone", 1, &der, &pem);
	expected_fp(k, &fp);
	assert_int_equal(strlen(fp.data), 43);

	assert_int_equal(tlspubkey_parse(pem.data, pem.len, &info, &err), 0);
	assert_string_equal(info.fingerprint, fp.data);
	assert_string_equal(info.type, "ecdsa-p256");
	assert_string_equal(info.name, "my phone");
	assert_int_equal(info.der.len, der.len);
	assert_memory_equal(info.der.data, der.data, der.len);
	tlspubkey_info_free(&info);

	assert_int_equal(tlspubkey_parse(der.data, der.len, &info, &err), 0);
	assert_string_equal(info.fingerprint, fp.data);
	assert_int_equal(tlspubkey_fingerprint(der.data, der.len, &fp2, &err), 0);
	assert_string_equal(fp2.data, fp.data);

	/* Another certificate for the same key: same fingerprint. */
	make_cert(k, "laptop", 99, &der, &pem);
	assert_int_equal(tlspubkey_parse(pem.data, pem.len, &info2, &err), 0);
	assert_string_equal(info2.fingerprint, info.fingerprint);
	assert_string_equal(info2.name, "laptop");
	tlspubkey_info_free(&info);
	tlspubkey_info_free(&info2);
	EVP_PKEY_free(k);

	/* Another key: another fingerprint; P-384. */
	k = EVP_EC_gen("P-384");
	make_cert(k, "x", 1, &der, &pem);
	assert_int_equal(tlspubkey_parse(der.data, der.len, &info, &err), 0);
	assert_string_equal(info.type, "ecdsa-p384");
	assert_string_not_equal(info.fingerprint, fp.data);
	tlspubkey_info_free(&info);
	EVP_PKEY_free(k);
	buf_free(&der);
	buf_free(&pem);
	buf_free(&fp);
	buf_free(&fp2);
}

static void
test_ed25519_serial_name(void **state)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	struct buf der, pem, fp;
	struct tlspubkey_info info;
	const char *err;

	buf_init(&der);
	buf_init(&pem);
	buf_init(&fp);
	make_cert(k, NULL, 0x0102ab, &der, &pem);
	expected_fp(k, &fp);
	assert_int_equal(tlspubkey_parse(pem.data, pem.len, &info, &err), 0);
	assert_string_equal(info.type, "ed25519");
	assert_string_equal(info.name, "serial 0102ab");
	assert_string_equal(info.fingerprint, fp.data);
	tlspubkey_info_free(&info);
	EVP_PKEY_free(k);
	buf_free(&der);
	buf_free(&pem);
	buf_free(&fp);
}

static void
test_rsa(void **state)
{
	EVP_PKEY *k = EVP_RSA_gen(1024);
	struct buf der, pem;
	struct tlspubkey_info info;
	const char *err = NULL;

	buf_init(&der);
	buf_init(&pem);
	make_cert(k, "old", 1, &der, &pem);
	assert_int_equal(tlspubkey_parse(der.data, der.len, &info, &err), -1);
	assert_non_null(strstr(err, "2048"));
	tlspubkey_info_free(&info);
	EVP_PKEY_free(k);
	k = EVP_RSA_gen(2048);
	make_cert(k, "new", 1, &der, &pem);
	assert_int_equal(tlspubkey_parse(der.data, der.len, &info, &err), 0);
	assert_string_equal(info.type, "rsa-2048");
	tlspubkey_info_free(&info);
	EVP_PKEY_free(k);
	buf_free(&der);
	buf_free(&pem);
}

static void
test_garbage(void **state)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	struct buf der, pem, fp;
	struct tlspubkey_info info;
	const char *err;
	static const char bad_pem[] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";

	buf_init(&der);
	buf_init(&pem);
	buf_init(&fp);
	make_cert(k, "x", 1, &der, &pem);
	assert_int_equal(tlspubkey_parse("", 0, &info, &err), -1);
	tlspubkey_info_free(&info);
	assert_int_equal(tlspubkey_parse("hello", 5, &info, &err), -1);
	tlspubkey_info_free(&info);
	assert_int_equal(tlspubkey_parse(bad_pem, sizeof(bad_pem) - 1, &info, &err), -1);
	tlspubkey_info_free(&info);
	/* Truncated DER, DER with trailing bytes. */
	assert_int_equal(tlspubkey_parse(der.data, der.len - 1, &info, &err), -1);
	tlspubkey_info_free(&info);
	buf_putc(&der, 0);
	assert_int_equal(tlspubkey_parse(der.data, der.len, &info, &err), -1);
	tlspubkey_info_free(&info);
	assert_int_equal(tlspubkey_fingerprint("xyz", 3, &fp, &err), -1);
	assert_int_equal(fp.len, 0);
	EVP_PKEY_free(k);
	buf_free(&der);
	buf_free(&pem);
	buf_free(&fp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ecdsa),
		cmocka_unit_test(test_ed25519_serial_name),
		cmocka_unit_test(test_rsa),
		cmocka_unit_test(test_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
