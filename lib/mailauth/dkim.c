/* DKIM verification (RFC 6376 6, RFC 8463): every DKIM-Signature field of
 * a message is checked on its own, its key fetched from DNS, and the
 * outcome reported with the RFC 8601 result words. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "core/util.h"
#include "mailauth/dkim.h"
#include "mailauth/dkim_private.h"

const char *
dkim_status_name(enum dkim_status s)
{
	switch (s) {
	case DKIM_NONE:
		return "none";
	case DKIM_PASS:
		return "pass";
	case DKIM_FAIL:
		return "fail";
	case DKIM_POLICY:
		return "policy";
	case DKIM_NEUTRAL:
		return "neutral";
	case DKIM_TEMPERROR:
		return "temperror";
	case DKIM_PERMERROR:
		return "permerror";
	}
	return "unknown";
}

static enum dkim_status
set_error(struct dkim_result *r, enum dkim_status st, const char *error)
{
	r->status = st;
	free(r->error);
	r->error = xstrdup(error);
	return st;
}

/* Fetch and check the key record for sig (RFC 6376 6.1.2). Returns the
 * key, or NULL after setting r's status and error. */
static EVP_PKEY *
fetch_key(struct dns *d, const struct dkim_sig *sig, struct dkim_result *r)
{
	struct dns_answer a;
	struct dkim_keyrec kr;
	const char *err = NULL, *dom;
	EVP_PKEY *key = NULL;
	char *name;
	size_t i;
	bool parsed = false;

	name = xasprintf("%s._domainkey.%s", sig->selector, sig->domain);
	dns_lookup(d, name, DNS_TXT, &a);
	free(name);
	switch (a.status) {
	case DNS_OK:
		break;
	case DNS_TEMPERROR:
		set_error(r, DKIM_TEMPERROR,
			ms_err("key lookup: %s", a.error != NULL ? a.error : "temporary DNS error"));
		dns_answer_free(&a);
		return NULL;
	default:
		set_error(r, DKIM_PERMERROR, ms_err("no key record (%s)", dns_status_name(a.status)));
		dns_answer_free(&a);
		return NULL;
	}
	r->authentic = a.authentic;
	/* 3.6.2.2: several TXT records are not an error in themselves; the
	 * first that parses as a key record is used. */
	for (i = 0; i < a.n && !parsed; i++) {
		if (strlen(a.rr[i].text) != a.rr[i].text_len) {
			err = "key record contains NUL";
			continue;
		}
		if (dkim_keyrec_parse(a.rr[i].text, a.rr[i].text_len, &kr, &err) == 0)
			parsed = true;
		else
			dkim_keyrec_free(&kr);
	}
	dns_answer_free(&a);
	if (!parsed) {
		set_error(r, DKIM_PERMERROR, err != NULL ? err : "no key record");
		return NULL;
	}
	r->testing = kr.testing;
	if (kr.revoked) {
		set_error(r, DKIM_PERMERROR, "key revoked (empty p=)");
		goto out;
	}
	if (kr.keytype != sig->keytype) {
		set_error(r, DKIM_PERMERROR, "key type (k=) does not match the algorithm (a=)");
		goto out;
	}
	if (!(sig->hash == DKIM_HASH_SHA1 ? kr.hash_sha1 : kr.hash_sha256)) {
		set_error(r, DKIM_PERMERROR, "hash algorithm not allowed by the key record (h=)");
		goto out;
	}
	if (kr.strict) {
		/* t=s: the i= domain must be d= itself, no subdomain. */
		dom = strrchr(sig->identity, '@');
		if (dom == NULL || !ms_strcaseeq(dom + 1, sig->domain)) {
			set_error(r, DKIM_PERMERROR,
				"key record t=s does not allow a subdomain identity (i=)");
			goto out;
		}
	}
	if ((key = dkim_keyrec_pkey(&kr, &err)) == NULL)
		set_error(r, DKIM_PERMERROR, err);
out:
	dkim_keyrec_free(&kr);
	return key;
}

/* RSA: PKCS#1 v1.5 over the data with the a= hash. Ed25519 (RFC 8463 3):
 * PureEdDSA over the SHA-256 of the data. Returns 1 verified, 0 not. */
static int
signature_ok(EVP_PKEY *key, const struct dkim_sig *sig, const struct buf *data)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char h[EVP_MAX_MD_SIZE];
	unsigned int hl = 0;
	int ok = 0;

	if (ctx == NULL)
		return 0;
	if (sig->keytype == DKIM_KEY_ED25519) {
		if (EVP_Digest(data->data, data->len, h, &hl, dkim_hash_md(DKIM_HASH_SHA256), NULL) == 1 &&
		    EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1)
			ok = EVP_DigestVerify(ctx, (const unsigned char *)sig->b.data, sig->b.len, h,
				     hl) == 1;
	} else {
		if (EVP_DigestVerifyInit(ctx, NULL, dkim_hash_md(sig->hash), NULL, key) == 1)
			ok = EVP_DigestVerify(ctx, (const unsigned char *)sig->b.data, sig->b.len,
				     (const unsigned char *)data->data, data->len) == 1;
	}
	EVP_MD_CTX_free(ctx);
	return ok;
}

static void
verify_one(struct dns *d, const struct dkim_fields *f, const struct dkim_field *sigfield,
	const char *body, size_t bodylen, int64_t now, struct dkim_result *r)
{
	struct dkim_sig sig;
	struct dkim_sink sink;
	struct buf data;
	enum dkim_status st;
	const char *err;
	unsigned char bh[EVP_MAX_MD_SIZE];
	unsigned int bhl = 0;
	EVP_PKEY *key = NULL;

	buf_init(&data);
	if (dkim_sig_parse(sigfield->value, sigfield->valuelen, &sig, &st, &err) < 0) {
		/* Report what could be read, for Authentication-Results. */
		if (sig.domain != NULL)
			r->domain = xstrdup(sig.domain);
		if (sig.selector != NULL)
			r->selector = xstrdup(sig.selector);
		if (sig.algorithm != NULL)
			r->algorithm = xstrdup(sig.algorithm);
		set_error(r, st, err);
		goto out;
	}
	r->domain = xstrdup(sig.domain);
	r->selector = xstrdup(sig.selector);
	r->identity = xstrdup(sig.identity);
	r->algorithm = xstrdup(sig.algorithm);
	r->b_prefix = xstrdup(sig.b_prefix);

	/* 6.1.1: expired signatures are not looked up. We report them as
	 * permerror, as for other unusable signatures (RFC 6376 calls it
	 * PERMFAIL, "signature expired"). */
	if (sig.expiration >= 0 && sig.expiration < now) {
		set_error(r, DKIM_PERMERROR, "signature expired (x=)");
		goto out;
	}
	if (sig.timestamp >= 0 && sig.timestamp > now + DKIM_FUTURE_TOLERANCE) {
		set_error(r, DKIM_PERMERROR, "signature timestamp (t=) in the future");
		goto out;
	}
	if ((key = fetch_key(d, &sig, r)) == NULL)
		goto out;

	/* 6.1.3: the body hash first, then the header hash. */
	memset(&sink, 0, sizeof(sink));
	sink.md = EVP_MD_CTX_new();
	if (sink.md == NULL || EVP_DigestInit_ex(sink.md, dkim_hash_md(sig.hash), NULL) != 1) {
		EVP_MD_CTX_free(sink.md);
		set_error(r, DKIM_TEMPERROR, "out of memory");
		goto out;
	}
	sink.limited = sig.has_length;
	sink.limit = sig.length;
	dkim_canon_body(&sink, sig.simple_body, body, bodylen);
	EVP_DigestFinal_ex(sink.md, bh, &bhl);
	EVP_MD_CTX_free(sink.md);
	if (sig.has_length && sink.total < sig.length) {
		set_error(r, DKIM_PERMERROR, "body length (l=) exceeds the body");
		goto out;
	}
	if (bhl != sig.bh.len || CRYPTO_memcmp(bh, sig.bh.data, bhl) != 0) {
		set_error(r, DKIM_FAIL, "body hash (bh=) does not match");
		goto out;
	}
	memset(&sink, 0, sizeof(sink));
	sink.out = &data;
	dkim_hash_headers(&sink, sig.simple_header, f, sig.hfields, sig.nhfields, sigfield,
		sig.b_raw_start, sig.b_raw_end);
	if (!signature_ok(key, &sig, &data)) {
		set_error(r, DKIM_FAIL, "signature does not verify");
		goto out;
	}
	/* RFC 8301 3.1: rsa-sha1 must not be considered valid. It is still
	 * verified, so that a correct one is told apart from a forgery. */
	if (sig.hash == DKIM_HASH_SHA1) {
		set_error(r, DKIM_POLICY, "rsa-sha1 verifies but is not accepted (RFC 8301)");
		goto out;
	}
	r->status = DKIM_PASS;
out:
	EVP_PKEY_free(key);
	buf_free(&data);
	dkim_sig_free(&sig);
}

int
dkim_verify(struct dns *d, const char *msg, size_t len, int64_t now, struct dkim_result **results,
	size_t *n)
{
	struct dkim_fields f;
	struct dkim_result *res;
	const char *body;
	size_t hdr_len, i, nsig = 0;

	*results = NULL;
	*n = 0;
	if (dkim_split_message(msg, len, &hdr_len, &body) < 0)
		return -1;
	if (now == 0)
		now = ms_now();
	dkim_fields_parse(msg, hdr_len, &f);
	for (i = 0; i < f.n; i++)
		if (f.v[i].namelen == 14 && ms_strncaseeq(f.v[i].name, "DKIM-Signature", 14))
			nsig++;
	if (nsig == 0) {
		dkim_fields_free(&f);
		return 0;
	}
	res = xcalloc(nsig, sizeof(*res));
	nsig = 0;
	for (i = 0; i < f.n; i++) {
		struct dkim_result *r;

		if (!(f.v[i].namelen == 14 && ms_strncaseeq(f.v[i].name, "DKIM-Signature", 14)))
			continue;
		r = &res[nsig++];
		if (nsig > DKIM_MAX_SIGNATURES) {
			set_error(r, DKIM_PERMERROR, "too many signatures, not verified");
			continue;
		}
		verify_one(d, &f, &f.v[i], body, len - (size_t)(body - msg), now, r);
	}
	dkim_fields_free(&f);
	*results = res;
	*n = nsig;
	return 0;
}

void
dkim_results_free(struct dkim_result *results, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(results[i].domain);
		free(results[i].selector);
		free(results[i].identity);
		free(results[i].algorithm);
		free(results[i].b_prefix);
		free(results[i].error);
	}
	free(results);
}
