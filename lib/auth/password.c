/* Credentials derived from a password. The plain password is never stored:
 * yescrypt for PLAIN/LOGIN/web logins, SCRAM keys for SCRAM-*, and the MD5
 * states after the HMAC pads for CRAM-MD5 (RFC 2195 section 3 suggests
 * exactly this intermediate-state storage). */
#include "config.h"

/* CRAM-MD5 needs the MD5 chaining state after one block, which only the
 * low-level (deprecated in OpenSSL 3) MD5 interface exposes. */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/md5.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "auth/password.h"
#include "auth/saslprep.h"
#include "core/util.h"

int
scram_keys_compute(const char *hashname, const char *password,
	const unsigned char *salt, size_t saltlen, uint32_t iterations,
	struct scram_keys *k, const char **error_r)
{
	const EVP_MD *md = strcmp(hashname, "sha1") == 0 ? EVP_sha1() : EVP_sha256();
	unsigned char salted[32], client_key[32];
	unsigned int len = 0;
	size_t hlen = (size_t)EVP_MD_get_size(md);

	if (saltlen > sizeof(k->salt)) {
		*error_r = "scram salt too long";
		return -1;
	}
	if (saltlen == 0 || iterations == 0) {
		*error_r = "scram salt or iteration count missing";
		return -1;
	}
	memset(k, 0, sizeof(*k));
	memcpy(k->salt, salt, saltlen);
	k->saltlen = saltlen;
	k->iterations = iterations;
	k->keylen = hlen;
	/* RFC 5802 section 3: SaltedPassword := Hi(Normalize(password), salt, i),
	 * where Hi is PBKDF2 with HMAC as the PRF. */
	if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)saltlen,
		    (int)iterations, md, (int)hlen, salted) != 1) {
		*error_r = "PBKDF2 failed";
		return -1;
	}
	/* ClientKey := HMAC(SaltedPassword, "Client Key"); StoredKey := H(ClientKey) */
	if (HMAC(md, salted, (int)hlen, (const unsigned char *)"Client Key", 10,
		    client_key, &len) == NULL ||
	    EVP_Digest(client_key, hlen, k->stored_key, &len, md, NULL) != 1 ||
	    /* ServerKey := HMAC(SaltedPassword, "Server Key") */
	    HMAC(md, salted, (int)hlen, (const unsigned char *)"Server Key", 10,
		    k->server_key, &len) == NULL) {
		OPENSSL_cleanse(salted, sizeof(salted));
		*error_r = "HMAC failed";
		return -1;
	}
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(client_key, sizeof(client_key));
	return 0;
}

static void
md5_pad_state(const unsigned char *key, size_t keylen, unsigned char pad,
	unsigned char out[16])
{
	unsigned char block[64];
	MD5_CTX ctx;
	size_t i;
	uint32_t words[4];

	memset(block, pad, sizeof(block));
	for (i = 0; i < keylen; i++)
		block[i] ^= key[i];
	MD5_Init(&ctx);
	MD5_Update(&ctx, block, sizeof(block));
	words[0] = ctx.A;
	words[1] = ctx.B;
	words[2] = ctx.C;
	words[3] = ctx.D;
	for (i = 0; i < 4; i++) {
		out[i * 4] = (unsigned char)(words[i]);
		out[i * 4 + 1] = (unsigned char)(words[i] >> 8);
		out[i * 4 + 2] = (unsigned char)(words[i] >> 16);
		out[i * 4 + 3] = (unsigned char)(words[i] >> 24);
	}
	OPENSSL_cleanse(block, sizeof(block));
	OPENSSL_cleanse(&ctx, sizeof(ctx));
}

static void
md5_resume(MD5_CTX *ctx, const unsigned char st[16])
{
	uint32_t w[4];
	int i;

	for (i = 0; i < 4; i++)
		w[i] = (uint32_t)st[i * 4] | (uint32_t)st[i * 4 + 1] << 8 |
			(uint32_t)st[i * 4 + 2] << 16 | (uint32_t)st[i * 4 + 3] << 24;
	MD5_Init(ctx);
	ctx->A = w[0];
	ctx->B = w[1];
	ctx->C = w[2];
	ctx->D = w[3];
	ctx->Nl = 512;	/* one 64-byte block processed */
	ctx->Nh = 0;
}

void
crammd5_digest(const unsigned char ipad[16], const unsigned char opad[16],
	const char *challenge, size_t len, char out[33])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char inner[16], outer[16];
	MD5_CTX ctx;
	int i;

	md5_resume(&ctx, ipad);
	MD5_Update(&ctx, challenge, len);
	MD5_Final(inner, &ctx);
	md5_resume(&ctx, opad);
	MD5_Update(&ctx, inner, sizeof(inner));
	MD5_Final(outer, &ctx);
	for (i = 0; i < 16; i++) {
		out[i * 2] = hex[outer[i] >> 4];
		out[i * 2 + 1] = hex[outer[i] & 15];
	}
	out[32] = '\0';
}

static int
derive_prepared(const char *password, struct credentials *cr,
	const char **error_r)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd;
	unsigned char salt[SCRAM_SALT_LEN];
	unsigned char md5key[16];
	const unsigned char *key = (const unsigned char *)password;
	size_t keylen = strlen(password);
	const char *h;

	if (crypt_gensalt_rn("$y$", 0, NULL, 0, setting, sizeof(setting)) == NULL) {
		*error_r = "crypt_gensalt: yescrypt not available";
		return -1;
	}
	cd = xcalloc(1, sizeof(*cd));
	h = crypt_rn(password, setting, cd, sizeof(*cd));
	if (h == NULL || h[0] == '*' ||
	    ms_strlcpy(cr->hash, h, sizeof(cr->hash)) >= sizeof(cr->hash)) {
		OPENSSL_cleanse(cd, sizeof(*cd));
		free(cd);
		*error_r = "crypt failed";
		return -1;
	}
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);

	ms_random(salt, sizeof(salt));
	if (scram_keys_compute("sha1", password, salt, sizeof(salt),
		    SCRAM_ITERATIONS, &cr->sha1, error_r) < 0)
		return -1;
	ms_random(salt, sizeof(salt));
	if (scram_keys_compute("sha256", password, salt, sizeof(salt),
		    SCRAM_ITERATIONS, &cr->sha256, error_r) < 0)
		return -1;

	/* RFC 2104: keys longer than the block size are hashed first. */
	if (keylen > 64) {
		MD5((const unsigned char *)password, keylen, md5key);
		key = md5key;
		keylen = sizeof(md5key);
	}
	md5_pad_state(key, keylen, 0x36, cr->crammd5_ipad);
	md5_pad_state(key, keylen, 0x5c, cr->crammd5_opad);
	OPENSSL_cleanse(md5key, sizeof(md5key));
	return 0;
}

int
credentials_derive(const char *password, struct credentials *cr,
	const char **error_r)
{
	struct buf prep;
	const char *err;
	int rc;

	memset(cr, 0, sizeof(*cr));
	buf_init(&prep);
	if (saslprep(password, strlen(password), &prep, &err) < 0) {
		buf_free(&prep);
		*error_r = ms_err("password not allowed: %s", err);
		return -1;
	}
	rc = derive_prepared(prep.data, cr, error_r);
	if (rc < 0)
		credentials_wipe(cr);
	buf_wipe(&prep);
	buf_free(&prep);
	return rc;
}

static bool
verify_prepared(const char *password, const char *hash)
{
	struct crypt_data *cd;
	const char *h;
	bool ok;
	size_t n;

	if (hash == NULL || hash[0] != '$')
		return false;
	cd = xcalloc(1, sizeof(*cd));
	h = crypt_rn(password, hash, cd, sizeof(*cd));
	n = strlen(hash);
	ok = h != NULL && h[0] != '*' && strlen(h) == n &&
		CRYPTO_memcmp(h, hash, n) == 0;
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);
	return ok;
}

bool
password_verify(const char *password, const char *hash)
{
	struct buf prep;
	const char *err;
	bool ok;

	buf_init(&prep);
	if (saslprep(password, strlen(password), &prep, &err) < 0) {
		(void)verify_prepared(password, password_dummy_hash());
		buf_free(&prep);
		return false;
	}
	ok = verify_prepared(prep.data, hash);
	buf_wipe(&prep);
	buf_free(&prep);
	return ok;
}

static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static char dummy_hash[256];

static void
make_dummy(void)
{
	struct credentials cr;
	struct buf pw;
	const char *err;

	buf_init(&pw);
	ms_random_token(&pw, 18);
	if (credentials_derive(pw.data, &cr, &err) == 0)
		(void)ms_strlcpy(dummy_hash, cr.hash, sizeof(dummy_hash));
	credentials_wipe(&cr);
	buf_wipe(&pw);
	buf_free(&pw);
}

const char *
password_dummy_hash(void)
{
	pthread_once(&dummy_once, make_dummy);
	return dummy_hash;
}

void
credentials_wipe(struct credentials *cr)
{
	OPENSSL_cleanse(cr, sizeof(*cr));
}
