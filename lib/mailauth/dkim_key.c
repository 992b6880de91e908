/* DKIM keys: generation (RSA 2048, Ed25519), PKCS#8 PEM in and out, and
 * the public key as a DNS TXT record value (RFC 6376 3.6.1, RFC 8463 4.2). */
#include "config.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/util.h"
#include "mailauth/dkim.h"

EVP_PKEY *
dkim_key_generate(enum dkim_algo algo, const char **error_r)
{
	EVP_PKEY *k;

	if (algo == DKIM_ALGO_RSA)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	else
		k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (k == NULL)
		*error_r = "key generation failed";
	return k;
}

int
dkim_key_to_pem(EVP_PKEY *key, struct buf *out, const char **error_r)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p;
	long n;
	int ret = -1;

	if (bio == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	/* PKCS#8 ("BEGIN PRIVATE KEY"), unencrypted: the file mode protects it. */
	if (PEM_write_bio_PKCS8PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (n = BIO_get_mem_data(bio, &p)) <= 0) {
		*error_r = "cannot encode the private key";
	} else {
		buf_append(out, p, (size_t)n);
		OPENSSL_cleanse(p, (size_t)n);
		ret = 0;
	}
	BIO_free(bio);
	return ret;
}

EVP_PKEY *
dkim_key_from_pem(const char *pem, size_t len, const char **error_r)
{
	BIO *bio;
	EVP_PKEY *k;
	int id;

	if (len > INT32_MAX || (bio = BIO_new_mem_buf(pem, (int)len)) == NULL) {
		*error_r = "cannot read the private key";
		return NULL;
	}
	k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (k == NULL) {
		*error_r = "no PEM private key found";
		return NULL;
	}
	id = EVP_PKEY_get_base_id(k);
	if (id != EVP_PKEY_RSA && id != EVP_PKEY_ED25519) {
		EVP_PKEY_free(k);
		*error_r = "the private key is neither RSA nor Ed25519";
		return NULL;
	}
	if (id == EVP_PKEY_RSA && EVP_PKEY_get_bits(k) < 1024) {
		EVP_PKEY_free(k);
		*error_r = "the RSA key is smaller than 1024 bits";
		return NULL;
	}
	return k;
}

int
dkim_txt_record(EVP_PKEY *key, struct buf *out, const char **error_r)
{
	unsigned char raw[32], *der = NULL;
	size_t rawlen = sizeof(raw);
	int n;

	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_RSA:
		/* p= is the SubjectPublicKeyInfo, as verifiers expect. */
		n = i2d_PUBKEY(key, &der);
		if (n <= 0) {
			*error_r = "cannot encode the public key";
			return -1;
		}
		buf_puts(out, "v=DKIM1; k=rsa; p=");
		ms_base64_encode(out, der, (size_t)n);
		OPENSSL_free(der);
		return 0;
	case EVP_PKEY_ED25519:
		/* RFC 8463 4.2: the raw 32-byte public key. */
		if (EVP_PKEY_get_raw_public_key(key, raw, &rawlen) != 1 || rawlen != 32) {
			*error_r = "cannot encode the public key";
			return -1;
		}
		buf_puts(out, "v=DKIM1; k=ed25519; p=");
		ms_base64_encode(out, raw, rawlen);
		return 0;
	default:
		*error_r = "the key is neither RSA nor Ed25519";
		return -1;
	}
}

/* Decoded signing keys, by their PEM text. A changed key has a new text,
 * so it misses; the least recently used entry makes room. */
#define KEY_CACHE_SIZE 16

struct key_cache_entry {
	char *pem;	/* copy, cleansed when dropped */
	size_t len;
	EVP_PKEY *key;
	uint64_t used;
};

static struct key_cache_entry key_cache[KEY_CACHE_SIZE];
static uint64_t key_cache_clock;
static pthread_mutex_t key_cache_mu = PTHREAD_MUTEX_INITIALIZER;

EVP_PKEY *
dkim_key_from_pem_cached(const char *pem, size_t len, const char **error_r)
{
	struct key_cache_entry *e, *victim;
	EVP_PKEY *k;
	size_t i;

	pthread_mutex_lock(&key_cache_mu);
	for (i = 0; i < KEY_CACHE_SIZE; i++) {
		e = &key_cache[i];
		if (e->key != NULL && e->len == len && memcmp(e->pem, pem, len) == 0) {
			e->used = ++key_cache_clock;
			k = e->key;
			(void)EVP_PKEY_up_ref(k);
			pthread_mutex_unlock(&key_cache_mu);
			return k;
		}
	}
	pthread_mutex_unlock(&key_cache_mu);

	/* Decoded outside the lock; two threads may both decode a new key,
	 * and the second one's copy simply replaces another entry. */
	k = dkim_key_from_pem(pem, len, error_r);
	if (k == NULL)
		return NULL;
	pthread_mutex_lock(&key_cache_mu);
	victim = &key_cache[0];
	for (i = 0; i < KEY_CACHE_SIZE; i++) {
		e = &key_cache[i];
		if (e->key == NULL || e->used < victim->used)
			victim = e;
	}
	if (victim->key != NULL) {
		EVP_PKEY_free(victim->key);
		OPENSSL_cleanse(victim->pem, victim->len);
		free(victim->pem);
	}
	victim->pem = xmalloc(len + 1);
	memcpy(victim->pem, pem, len);
	victim->pem[len] = '\0';
	victim->len = len;
	victim->key = k;
	victim->used = ++key_cache_clock;
	(void)EVP_PKEY_up_ref(k);
	pthread_mutex_unlock(&key_cache_mu);
	return k;
}
