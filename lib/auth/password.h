/* Password-derived credentials: a yescrypt hash (libcrypt) for plain-text
 * logins, SCRAM-SHA-1/-256 StoredKey/ServerKey (RFC 5802, 7677), and the
 * CRAM-MD5 HMAC pad states (RFC 2195), so no mechanism needs the password. */
#ifndef MS_PASSWORD_H
#define MS_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCRAM_SALT_LEN 16
#define SCRAM_ITERATIONS 4096

struct scram_keys {
	unsigned char salt[SCRAM_SALT_LEN];
	size_t saltlen;	/* bytes used in salt, 1..SCRAM_SALT_LEN */
	uint32_t iterations;
	unsigned char stored_key[32];	/* SHA-1 uses the first 20 bytes */
	unsigned char server_key[32];
	size_t keylen;	/* 20 or 32 */
};

struct credentials {
	char hash[256];	/* crypt(3) string, "$y$..." */
	struct scram_keys sha1, sha256;
	unsigned char crammd5_ipad[16], crammd5_opad[16];
};

/* Derive all credentials from password with fresh random salts. The
 * password is first prepared with saslprep() (saslprep.h), as SCRAM
 * clients do; a password that SASLprep refuses (control characters,
 * invalid UTF-8) is refused here. Returns 0 or -1 with *error_r. */
int credentials_derive(const char *password, struct credentials *cr,
	const char **error_r);

/* Compute SCRAM keys for the given hash ("sha1" or "sha256"), salt and
 * iterations (used by derive and by tests with RFC vectors). The password
 * is used as given (already prepared). */
int scram_keys_compute(const char *hashname, const char *password,
	const unsigned char *salt, size_t saltlen, uint32_t iterations,
	struct scram_keys *k, const char **error_r);

/* Verify password (prepared with saslprep() first, like at derive time)
 * against a crypt(3) hash in constant time. Returns true on match. A
 * password SASLprep refuses is checked against the dummy hash, so it costs
 * the same, and fails. */
bool password_verify(const char *password, const char *hash);

/* Hash of a random password, to spend the same time for unknown users. */
const char *password_dummy_hash(void);

/* CRAM-MD5: compute the expected hex digest for challenge using stored pad
 * states; out gets 33 bytes (32 hex + NUL). */
void crammd5_digest(const unsigned char ipad[16], const unsigned char opad[16],
	const char *challenge, size_t len, char out[33]);

/* Wipe a credentials struct. */
void credentials_wipe(struct credentials *cr);

#endif
