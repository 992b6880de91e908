/* Client-side SASL mechanisms; see sasl_client.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth/sasl_client.h"
#include "auth/saslprep.h"
#include "core/util.h"

enum mech { M_SCRAM256, M_SCRAM1, M_CRAMMD5, M_PLAIN };

/* Highest SCRAM iteration count we compute (RFC 5802 leaves it open;
 * servers use 4096 to some 100,000). */
#define SCRAM_CLIENT_MAX_ITERATIONS 1000000

static const char *const mech_names[] = {
	"SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN",
};

struct sasl_client {
	enum mech mech;
	int step;
	bool failed;		/* a step failed: the exchange is over */
	char *user, *pass;
	struct buf cnonce, client_first_bare, auth_message;
	unsigned char server_key[EVP_MAX_MD_SIZE];
	unsigned server_key_len;
};

static bool
word_in(const char *list, const char *word)
{
	size_t n = strlen(word);
	const char *p = list;

	while (p != NULL && *p) {
		size_t k;

		while (*p == ' ')
			p++;
		k = strcspn(p, " ");
		if (k == n && ms_strncaseeq(p, word, n))
			return true;
		p += k;
	}
	return false;
}

const char *
sasl_client_choose(const char *offered, const char *const *allowed, size_t nallowed)
{
	size_t i, j;

	for (i = 0; i < MS_NELEM(mech_names); i++) {
		bool ok = nallowed == 0;

		for (j = 0; j < nallowed; j++)
			ok |= ms_strcaseeq(allowed[j], mech_names[i]);
		if (ok && word_in(offered, mech_names[i]))
			return mech_names[i];
	}
	return NULL;
}

struct sasl_client *
sasl_client_new(const char *mech, const char *username, const char *password)
{
	struct sasl_client *c;
	size_t i;

	for (i = 0; i < MS_NELEM(mech_names); i++)
		if (ms_strcaseeq(mech, mech_names[i]))
			break;
	if (i == MS_NELEM(mech_names))
		return NULL;
	c = xcalloc(1, sizeof(*c));
	c->mech = (enum mech)i;
	c->user = xstrdup(username);
	c->pass = xstrdup(password);
	buf_init(&c->cnonce);
	buf_init(&c->client_first_bare);
	buf_init(&c->auth_message);
	return c;
}

void
sasl_client_free(struct sasl_client **cp)
{
	struct sasl_client *c = *cp;

	if (c == NULL)
		return;
	OPENSSL_cleanse(c->pass, strlen(c->pass));
	free(c->pass);
	free(c->user);
	buf_free(&c->cnonce);
	buf_free(&c->client_first_bare);
	buf_free(&c->auth_message);
	OPENSSL_cleanse(c->server_key, sizeof(c->server_key));
	free(c);
	*cp = NULL;
}

/* RFC 5802 5.1: saslname with "=" and "," escaped. */
static void
put_saslname(struct buf *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '=')
			buf_puts(out, "=3D");
		else if (*s == ',')
			buf_puts(out, "=2C");
		else
			buf_putc(out, *s);
	}
}

/* The value of attribute a ("r", "s", "i", "v") in a SCRAM message, or
 * NULL; *n_r its length. */
static const char *
attr(const char *s, size_t n, char a, size_t *n_r)
{
	size_t i = 0;

	while (i < n) {
		size_t k = i;

		while (k < n && s[k] != ',')
			k++;
		if (k - i >= 2 && s[i] == a && s[i + 1] == '=') {
			*n_r = k - i - 2;
			return s + i + 2;
		}
		i = k + 1;
	}
	return NULL;
}

static int
scram_step(struct sasl_client *c, const char *in, size_t n, struct buf *out,
	const char **error_r)
{
	const EVP_MD *md = c->mech == M_SCRAM256 ? EVP_sha256() : EVP_sha1();
	unsigned mdlen = (unsigned)EVP_MD_get_size(md);

	if (c->step == 0) {
		ms_random_token(&c->cnonce, 18);
		buf_puts(&c->client_first_bare, "n=");
		put_saslname(&c->client_first_bare, c->user);
		buf_printf(&c->client_first_bare, ",r=%s", c->cnonce.data);
		buf_printf(out, "n,,%s", c->client_first_bare.data);
		c->step = 1;
		return 0;
	}
	if (c->step == 1) {
		const char *r, *sv, *iv;
		size_t rn, sn, in_, k;
		uint64_t iter;
		struct buf salt, pw, final;
		unsigned char salted[EVP_MAX_MD_SIZE], ckey[EVP_MAX_MD_SIZE],
			skey[EVP_MAX_MD_SIZE], csig[EVP_MAX_MD_SIZE];
		unsigned len;
		const char *perr;
		int rc = -1;

		/* RFC 5802 7:
		 *   server-first-message = [reserved-mext ","] nonce "," salt ","
		 *                          iteration-count ["," extensions]
		 * A mandatory extension ("m=") we cannot know: fail. A
		 * server error ("e=", not allowed here but sent by some)
		 * is reported as such. */
		if (n >= 2 && in[0] == 'e' && in[1] == '=') {
			*error_r = ms_err("SCRAM server error: %.*s", (int)(n > 100 ? 100 : n - 2),
				in + 2);
			return -1;
		}
		if (n < 2 || in[0] != 'r' || in[1] != '=') {
			*error_r = "malformed SCRAM server-first message (no nonce first)";
			return -1;
		}
		/* The server's nonce continues ours (RFC 5802 5.1) and is
		 * printable ASCII without ','; it goes back in client-final. */
		r = attr(in, n, 'r', &rn);
		if (rn <= c->cnonce.len || memcmp(r, c->cnonce.data, c->cnonce.len) != 0) {
			*error_r = "SCRAM server nonce does not start with our nonce";
			return -1;
		}
		for (k = 0; k < rn; k++) {
			if (r[k] < 0x21 || r[k] > 0x7e) {
				*error_r = "SCRAM server nonce has characters that are not printable";
				return -1;
			}
		}
		sv = attr(in, n, 's', &sn);
		iv = attr(in, n, 'i', &in_);
		if (sv == NULL || iv == NULL) {
			*error_r = "malformed SCRAM server-first message (salt or iteration count "
				"missing)";
			return -1;
		}
		/* At least 1; at most SCRAM_CLIENT_MAX_ITERATIONS, so a
		 * hostile or broken server cannot make us spin. */
		if (ms_parse_u64n(iv, in_, 1, SCRAM_CLIENT_MAX_ITERATIONS, &iter) < 0) {
			*error_r = "SCRAM iteration count missing, not a number or out of range";
			return -1;
		}
		buf_init(&salt);
		buf_init(&pw);
		buf_init(&final);
		if (ms_base64_decode(&salt, sv, sn) < 0 || salt.len == 0) {
			*error_r = "bad SCRAM salt (empty or not base64)";
			goto out;
		}
		if (saslprep(c->pass, strlen(c->pass), &pw, &perr) < 0) {
			buf_reset(&pw);
			buf_puts(&pw, c->pass);
		}
		if (PKCS5_PBKDF2_HMAC(pw.data, (int)pw.len, (const unsigned char *)salt.data,
			    (int)salt.len, (int)iter, md, (int)mdlen, salted) != 1) {
			*error_r = "PBKDF2 failed";
			goto out;
		}
		HMAC(md, salted, (int)mdlen, (const unsigned char *)"Client Key", 10, ckey, &len);
		HMAC(md, salted, (int)mdlen, (const unsigned char *)"Server Key", 10,
			c->server_key, &c->server_key_len);
		(void)EVP_Digest(ckey, mdlen, skey, &len, md, NULL);	/* StoredKey */
		buf_puts(&final, "c=biws,r=");
		buf_append(&final, r, rn);
		buf_append(&c->auth_message, c->client_first_bare.data, c->client_first_bare.len);
		buf_putc(&c->auth_message, ',');
		buf_append(&c->auth_message, in, n);
		buf_putc(&c->auth_message, ',');
		buf_append(&c->auth_message, final.data, final.len);
		HMAC(md, skey, (int)mdlen, (const unsigned char *)c->auth_message.data,
			c->auth_message.len, csig, &len);
		for (k = 0; k < mdlen; k++)
			csig[k] ^= ckey[k];	/* ClientProof */
		buf_puts(&final, ",p=");
		ms_base64_encode(&final, csig, mdlen);
		buf_append(out, final.data, final.len);
		c->step = 2;
		rc = 0;
out:
		OPENSSL_cleanse(salted, sizeof(salted));
		OPENSSL_cleanse(ckey, sizeof(ckey));
		OPENSSL_cleanse(skey, sizeof(skey));
		buf_wipe(&pw);
		buf_free(&pw);
		buf_free(&salt);
		buf_free(&final);
		return rc;
	}
	if (c->step == 2) {
		const char *v;
		size_t vn;
		unsigned char ssig[EVP_MAX_MD_SIZE];
		unsigned len;
		struct buf got;
		bool ok;

		/* RFC 5802 7: server-final-message = (server-error /
		 * verifier) ["," extensions]. */
		if (n >= 2 && in[0] == 'e' && in[1] == '=') {
			*error_r = ms_err("SCRAM server error: %.*s", (int)(n > 100 ? 100 : n - 2),
				in + 2);
			return -1;
		}
		v = n >= 2 && in[0] == 'v' && in[1] == '=' ? attr(in, n, 'v', &vn) : NULL;
		if (v == NULL) {
			*error_r = "SCRAM server-final message without signature";
			return -1;
		}
		buf_init(&got);
		HMAC(md, c->server_key, (int)c->server_key_len,
			(const unsigned char *)c->auth_message.data, c->auth_message.len, ssig, &len);
		ok = ms_base64_decode(&got, v, vn) == 0 && got.len == len &&
			CRYPTO_memcmp(got.data, ssig, len) == 0;
		buf_free(&got);
		if (!ok) {
			*error_r = "SCRAM server signature does not match: not the real server";
			return -1;
		}
		c->step = 3;
		return 1;
	}
	*error_r = "unexpected SCRAM message";
	return -1;
}

static int
client_step(struct sasl_client *c, const char *in, size_t n, struct buf *out,
	const char **error_r)
{
	switch (c->mech) {
	case M_PLAIN:
		if (c->step++ != 0) {
			*error_r = "unexpected PLAIN challenge";
			return -1;
		}
		buf_putc(out, '\0');
		buf_puts(out, c->user);
		buf_putc(out, '\0');
		buf_puts(out, c->pass);
		return 0;
	case M_CRAMMD5: {
		unsigned char mac[EVP_MAX_MD_SIZE];
		unsigned len;

		if (c->step == 0 && n == 0)
			return 0;	/* no initial response: wait for the challenge */
		if (c->step++ != 0) {
			*error_r = "unexpected CRAM-MD5 challenge";
			return -1;
		}
		HMAC(EVP_md5(), c->pass, (int)strlen(c->pass), (const unsigned char *)in, n,
			mac, &len);
		buf_printf(out, "%s ", c->user);
		ms_hex_encode(out, mac, len);
		return 0;
	}
	case M_SCRAM256:
	case M_SCRAM1:
		return scram_step(c, in, n, out, error_r);
	}
	return -1;
}

int
sasl_client_step(struct sasl_client *c, const char *in, size_t n, struct buf *out,
	const char **error_r)
{
	int r;

	/* After an error nothing the server sends can make it succeed. */
	if (c->failed) {
		*error_r = "SASL exchange already failed";
		return -1;
	}
	r = client_step(c, in, n, out, error_r);
	if (r < 0)
		c->failed = true;
	return r;
}
