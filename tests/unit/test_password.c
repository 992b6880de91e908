/* Tests of lib/auth: password hashing, SCRAM keys against the RFC 5802 and
 * RFC 7677 examples, CRAM-MD5 against RFC 2195, and SASL PLAIN parsing. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth/password.h"
#include "auth/sasl.h"
#include "core/util.h"

static void
test_yescrypt(void **state)
{
	struct credentials cr, cr2;
	const char *err;

	assert_int_equal(credentials_derive("correct horse", &cr, &err), 0);
	assert_true(strncmp(cr.hash, "$y$", 3) == 0);
	assert_true(password_verify("correct horse", cr.hash));
	assert_false(password_verify("correct hors", cr.hash));
	assert_false(password_verify("", cr.hash));
	assert_false(password_verify("correct horse", ""));
	assert_false(password_verify("correct horse", "garbage"));
	/* Fresh salts every time. */
	assert_int_equal(credentials_derive("correct horse", &cr2, &err), 0);
	assert_string_not_equal(cr.hash, cr2.hash);
	assert_memory_not_equal(cr.sha256.salt, cr2.sha256.salt, SCRAM_SALT_LEN);
	assert_true(password_verify("x", password_dummy_hash()) == false);
	credentials_wipe(&cr);
	credentials_wipe(&cr2);
}

/* Check keys by recomputing the RFC's ServerSignature and verifying the
 * ClientProof against StoredKey, as a SCRAM server does. */
static void
check_scram(const char *hash, const char *salt_b64, const char *authmsg,
	const char *proof_b64, const char *serversig_b64)
{
	const EVP_MD *md = strcmp(hash, "sha1") == 0 ? EVP_sha1() : EVP_sha256();
	struct scram_keys k;
	struct buf salt, proof, sig;
	unsigned char csig[32], ssig[32], ckey[32], stored[32];
	unsigned int len;
	size_t i;
	const char *err;

	buf_init(&salt);
	buf_init(&proof);
	buf_init(&sig);
	assert_int_equal(ms_base64_decode(&salt, salt_b64, strlen(salt_b64)), 0);
	assert_int_equal(ms_base64_decode(&proof, proof_b64, strlen(proof_b64)), 0);
	assert_int_equal(scram_keys_compute(hash, "pencil", (unsigned char *)salt.data,
				 salt.len, 4096, &k, &err), 0);
	assert_int_equal(k.keylen, proof.len);
	HMAC(md, k.server_key, (int)k.keylen, (const unsigned char *)authmsg,
		strlen(authmsg), ssig, &len);
	ms_base64_encode(&sig, ssig, k.keylen);
	assert_string_equal(sig.data, serversig_b64);
	HMAC(md, k.stored_key, (int)k.keylen, (const unsigned char *)authmsg,
		strlen(authmsg), csig, &len);
	for (i = 0; i < k.keylen; i++)
		ckey[i] = (unsigned char)proof.data[i] ^ csig[i];
	EVP_Digest(ckey, k.keylen, stored, &len, md, NULL);
	assert_memory_equal(stored, k.stored_key, k.keylen);
	buf_free(&salt);
	buf_free(&proof);
	buf_free(&sig);
}

static void
test_scram_sha1_rfc5802(void **state)
{
	check_scram("sha1", "QSXCR+Q6sek8bf92",
		"n=user,r=fyko+d2lbbFgONRv9qkxdawL,"
		"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096,"
		"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j",
		"v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", "rmF9pqV8S7suAoZWja4dJRkFsKQ=");
}

static void
test_scram_sha256_rfc7677(void **state)
{
	check_scram("sha256", "W22ZaJ0SNY7soEsUEjb6gQ==",
		"n=user,r=rOprNGfwEbeRWgbNEkqO,"
		"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,"
		"i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
		"dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
}

static void
test_crammd5_rfc2195(void **state)
{
	struct credentials cr;
	const char *err, *chal = "<1896.697170952@postoffice.reston.mci.net>";
	char out[33];

	assert_int_equal(credentials_derive("tanstaaftanstaaf", &cr, &err), 0);
	crammd5_digest(cr.crammd5_ipad, cr.crammd5_opad, chal, strlen(chal), out);
	assert_string_equal(out, "b913a602c7eda7a495b4e6e7334d3890");
	/* A key longer than the 64-byte block is hashed first (RFC 2104);
	 * the digest must still differ per password. */
	assert_int_equal(credentials_derive(
		"0123456789012345678901234567890123456789012345678901234567890123456789",
		&cr, &err), 0);
	crammd5_digest(cr.crammd5_ipad, cr.crammd5_opad, chal, strlen(chal), out);
	assert_string_not_equal(out, "b913a602c7eda7a495b4e6e7334d3890");
	assert_int_equal(strlen(out), 32);
}

static void
test_sasl_plain(void **state)
{
	struct buf z, c, p;
	const char *err;

	buf_init(&z);
	buf_init(&c);
	buf_init(&p);
	assert_int_equal(sasl_plain_parse("\0tim\0tanstaaf", 13, &z, &c, &p, &err), 0);
	assert_int_equal(z.len, 0);
	assert_string_equal(c.data, "tim");
	assert_string_equal(p.data, "tanstaaf");
	assert_int_equal(sasl_plain_parse("adm\0tim\0pw", 10, &z, &c, &p, &err), 0);
	assert_string_equal(z.data, "adm");
	/* Malformed: too few or too many NULs, empty fields. */
	assert_int_equal(sasl_plain_parse("tim\0pw", 6, &z, &c, &p, &err), -1);
	assert_int_equal(sasl_plain_parse("", 0, &z, &c, &p, &err), -1);
	assert_int_equal(sasl_plain_parse("\0\0pw", 4, &z, &c, &p, &err), -1);
	assert_int_equal(sasl_plain_parse("\0tim\0", 5, &z, &c, &p, &err), -1);
	assert_int_equal(sasl_plain_parse("\0tim\0p\0w", 8, &z, &c, &p, &err), -1);
	/* Response decoding: "=" is empty, bad base64 fails. */
	assert_int_equal(sasl_decode_response("=", 1, &p), 0);
	assert_int_equal(p.len, 0);
	assert_int_equal(sasl_decode_response("AHRpbQBwdw==", 12, &p), 0);
	assert_int_equal(p.len, 7);
	assert_int_equal(sasl_decode_response("AHRpbQBwdw=", 11, &p), -1);
	assert_int_equal(sasl_decode_response("*", 1, &p), -1);
	buf_free(&z);
	buf_free(&c);
	buf_free(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_yescrypt),
		cmocka_unit_test(test_scram_sha1_rfc5802),
		cmocka_unit_test(test_scram_sha256_rfc7677),
		cmocka_unit_test(test_crammd5_rfc2195),
		cmocka_unit_test(test_sasl_plain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
