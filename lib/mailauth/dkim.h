/* DKIM (RFC 6376, RFC 8463): verifying every DKIM-Signature of a message
 * (rsa-sha256, rsa-sha1, ed25519-sha256; simple/relaxed canonicalization;
 * l=, x=, t=, i=, h=; key record flags) and signing (RSA and Ed25519,
 * chosen headers, oversigning, expiration). Messages are the bytes as
 * received: header and body with CRLF line ends. */
#ifndef MS_DKIM_H
#define MS_DKIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "core/buf.h"
#include "net/dns.h"

/* RFC 8601 2.7.1 result words. */
enum dkim_status {
	DKIM_NONE = 0,		/* (only as an overall result: no signatures) */
	DKIM_PASS,
	DKIM_FAIL,		/* signature or body hash does not verify */
	DKIM_POLICY,		/* verified but unacceptable (e.g. sha1 where refused) */
	DKIM_NEUTRAL,		/* syntax error in the signature (RFC 8601) */
	DKIM_TEMPERROR,		/* key lookup failed temporarily */
	DKIM_PERMERROR,		/* key missing, revoked, unusable, or bad signature tags */
};

struct dkim_result {
	enum dkim_status status;
	char *domain;		/* d=, lower case (NULL if unparsable) */
	char *selector;		/* s= */
	char *identity;		/* i= (or "@" d=) */
	char *algorithm;	/* a= */
	char *b_prefix;		/* the first 8 characters of b=, for header.b */
	char *error;		/* why not pass, NULL on pass */
	bool authentic;		/* the key record was DNSSEC-authentic */
	bool testing;		/* key record t=y */
};

/* Verify every DKIM-Signature header field of msg (at most 10; more are
 * reported as permerror without a lookup). *results (free with
 * dkim_results_free) gets one entry per signature in header order; *n may
 * be 0. now is unix seconds for x= (0 = now). Returns 0, or -1 when msg
 * has no header/body separation at all (*n is then 0). */
int dkim_verify(struct dns *d, const char *msg, size_t len, int64_t now,
	struct dkim_result **results, size_t *n);
void dkim_results_free(struct dkim_result *results, size_t n);
const char *dkim_status_name(enum dkim_status s);

struct dkim_sign_opts {
	const char *domain;	/* d= */
	const char *selector;	/* s= */
	EVP_PKEY *key;		/* RSA (a=rsa-sha256) or Ed25519 (ed25519-sha256) */
	/* Header fields to sign, in order; NULL: a default list (From, To,
	 * Cc, Subject, Date, Message-ID, In-Reply-To, References, Reply-To,
	 * MIME-Version, Content-Type, Content-Transfer-Encoding, ...). */
	const char *const *headers;
	size_t nheaders;
	/* Sign each listed field once more than it occurs, so none can be
	 * added later (oversigning). */
	bool oversign;
	bool simple_header, simple_body;	/* default relaxed/relaxed */
	int64_t expiration;	/* x= seconds after t=; 0: no x= */
	int64_t now;		/* t=; 0: now */
};

/* Append the DKIM-Signature header field for msg (folded, ending in CRLF)
 * to out. Returns 0, or -1 with *error_r. */
int dkim_sign(const struct dkim_sign_opts *o, const char *msg, size_t len,
	struct buf *out, const char **error_r);

/* Keys: generate (RSA 2048 or Ed25519), PEM in and out, and the DNS TXT
 * record value for the public key ("v=DKIM1; k=rsa; p=..."). */
enum dkim_algo { DKIM_ALGO_RSA, DKIM_ALGO_ED25519 };
EVP_PKEY *dkim_key_generate(enum dkim_algo algo, const char **error_r);
int dkim_key_to_pem(EVP_PKEY *key, struct buf *out, const char **error_r);
EVP_PKEY *dkim_key_from_pem(const char *pem, size_t len, const char **error_r);
/* dkim_key_from_pem through a small per-process cache of decoded keys
 * (decoding PEM costs more than an Ed25519 signature): for signing every
 * outgoing message. Returns a reference the caller EVP_PKEY_free()s. */
EVP_PKEY *dkim_key_from_pem_cached(const char *pem, size_t len, const char **error_r);
int dkim_txt_record(EVP_PKEY *key, struct buf *out, const char **error_r);

/* Parse a DKIM-Signature header field value (for fuzzing): 0 or -1. */
int dkim_signature_check(const char *value, size_t len, const char **error_r);

#endif
