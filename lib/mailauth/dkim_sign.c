/* DKIM signing (RFC 6376 5, RFC 8463 3): rsa-sha256 or ed25519-sha256,
 * relaxed or simple canonicalization, chosen and oversigned header
 * fields, t= and x=; the DKIM-Signature field is folded to 78 columns. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "core/util.h"
#include "mailauth/dkim.h"
#include "mailauth/dkim_private.h"

/* The fields signed when the caller names none: those that carry the
 * message's meaning to a reader or a mail client. */
static const char *const default_headers[] = {
	"From", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To", "References",
	"Reply-To", "Sender", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
	"Content-Disposition", "List-Id", "List-Unsubscribe", "List-Unsubscribe-Post",
};

#define FOLD_WIDTH 78

struct fold {
	struct buf *b;
	size_t col;
};

/* Append a space-separated item, folding before it when the line would
 * grow past FOLD_WIDTH. */
static void
fold_item(struct fold *f, const char *s, size_t n, bool space)
{
	if (f->col + n + (space ? 1 : 0) > FOLD_WIDTH && f->col > 1) {
		buf_puts(f->b, "\r\n\t");
		f->col = 1;
	} else if (space) {
		buf_putc(f->b, ' ');
		f->col++;
	}
	buf_append(f->b, s, n);
	f->col += n;
}

static size_t
count_fields(const struct dkim_fields *f, const char *name)
{
	size_t i, c = 0, n = strlen(name);

	for (i = 0; i < f->n; i++)
		if (f->v[i].namelen == n && ms_strncaseeq(f->v[i].name, name, n))
			c++;
	return c;
}

/* RSA: PKCS#1 v1.5 with SHA-256 over data. Ed25519 (RFC 8463 3): PureEdDSA
 * over the SHA-256 of data. */
static int
sign_data(EVP_PKEY *key, bool ed25519, const struct buf *data, struct buf *sig,
	const char **error_r)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char h[EVP_MAX_MD_SIZE];
	unsigned int hl = 0;
	const unsigned char *in = (const unsigned char *)data->data;
	size_t inlen = data->len, siglen = 0;
	int ok = 0;

	if (ctx == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	if (ed25519) {
		if (EVP_Digest(data->data, data->len, h, &hl, dkim_hash_md(DKIM_HASH_SHA256), NULL) != 1)
			goto out;
		in = h;
		inlen = hl;
	}
	if (EVP_DigestSignInit(ctx, NULL, ed25519 ? NULL : dkim_hash_md(DKIM_HASH_SHA256), NULL, key) != 1 ||
	    EVP_DigestSign(ctx, NULL, &siglen, in, inlen) != 1)
		goto out;
	buf_reset(sig);
	buf_reserve(sig, siglen);
	if (EVP_DigestSign(ctx, (unsigned char *)sig->data, &siglen, in, inlen) != 1)
		goto out;
	sig->len = siglen;
	sig->data[siglen] = '\0';
	ok = 1;
out:
	EVP_MD_CTX_free(ctx);
	if (!ok) {
		*error_r = "signing failed";
		return -1;
	}
	return 0;
}

int
dkim_sign(const struct dkim_sign_opts *o, const char *msg, size_t len, struct buf *out,
	const char **error_r)
{
	const char *const *names = o->headers != NULL ? o->headers : default_headers;
	size_t nnames = o->headers != NULL ? o->nheaders : MS_NELEM(default_headers);
	struct dkim_fields f;
	struct dkim_sink sink;
	struct dkim_field sf;
	struct fold fold;
	struct buf hdr, item, data, sig, b64;
	char **hlist = NULL;
	size_t nh = 0, i, j, hdr_len, start;
	const char *body, *alg;
	unsigned char bh[EVP_MAX_MD_SIZE];
	unsigned int bhl = 0;
	int64_t now = o->now != 0 ? o->now : ms_now();
	bool ed25519, first;
	int ret = -1;

	if (o->key == NULL) {
		*error_r = "no signing key";
		return -1;
	}
	switch (EVP_PKEY_get_base_id(o->key)) {
	case EVP_PKEY_RSA:
		ed25519 = false;
		alg = "rsa-sha256";
		break;
	case EVP_PKEY_ED25519:
		ed25519 = true;
		alg = "ed25519-sha256";
		break;
	default:
		*error_r = "signing key is neither RSA nor Ed25519";
		return -1;
	}
	if (o->domain == NULL || !dkim_domain_ok(o->domain, strlen(o->domain)) ||
	    o->selector == NULL || !dkim_domain_ok(o->selector, strlen(o->selector))) {
		*error_r = "invalid signing domain or selector";
		return -1;
	}
	if (o->expiration < 0) {
		*error_r = "negative expiration";
		return -1;
	}
	if (dkim_split_message(msg, len, &hdr_len, &body) < 0) {
		*error_r = "message has no empty line between header and body";
		return -1;
	}
	dkim_fields_parse(msg, hdr_len, &f);
	if (count_fields(&f, "From") == 0) {
		dkim_fields_free(&f);
		*error_r = "message has no From header field";
		return -1;
	}

	/* h=: each listed name once per occurrence, plus once more when
	 * oversigning (RFC 6376 8.15), so that no instance can be added. */
	for (i = 0; i < nnames; i++) {
		size_t c, k;
		bool dup = false;

		if (names[i] == NULL || names[i][0] == '\0' || strchr(names[i], ':') != NULL ||
		    strpbrk(names[i], " \t\r\n;") != NULL) {
			dkim_fields_free(&f);
			free(hlist);
			*error_r = "invalid header field name in the list to sign";
			return -1;
		}
		for (j = 0; j < i; j++)
			if (ms_strcaseeq(names[j], names[i]))
				dup = true;
		if (dup)
			continue;
		c = count_fields(&f, names[i]) + (o->oversign ? 1 : 0);
		for (k = 0; k < c; k++) {
			hlist = xrealloc(hlist, (nh + 1) * sizeof(char *));
			hlist[nh++] = (char *)names[i];
		}
	}
	/* From is mandatory even when the caller left it out (RFC 6376 5.4). */
	for (i = 0; i < nh && !ms_strcaseeq(hlist[i], "From"); i++)
		;
	if (i == nh) {
		size_t c = count_fields(&f, "From") + (o->oversign ? 1 : 0);

		for (j = 0; j < c; j++) {
			hlist = xrealloc(hlist, (nh + 1) * sizeof(char *));
			hlist[nh++] = (char *)"From";
		}
	}

	/* Body hash. */
	memset(&sink, 0, sizeof(sink));
	sink.md = EVP_MD_CTX_new();
	if (sink.md == NULL || EVP_DigestInit_ex(sink.md, dkim_hash_md(DKIM_HASH_SHA256), NULL) != 1) {
		EVP_MD_CTX_free(sink.md);
		dkim_fields_free(&f);
		free(hlist);
		*error_r = "out of memory";
		return -1;
	}
	dkim_canon_body(&sink, o->simple_body, body, len - (size_t)(body - msg));
	EVP_DigestFinal_ex(sink.md, bh, &bhl);
	EVP_MD_CTX_free(sink.md);

	buf_init(&hdr);
	buf_init(&item);
	buf_init(&data);
	buf_init(&sig);
	buf_init(&b64);
	buf_puts(&hdr, "DKIM-Signature:");
	fold.b = &hdr;
	fold.col = hdr.len;
#define ITEM(...)                                                                                  \
	do {                                                                                       \
		buf_reset(&item);                                                                  \
		buf_printf(&item, __VA_ARGS__);                                                    \
		fold_item(&fold, item.data, item.len, true);                                       \
	} while (0)
	ITEM("v=1;");
	ITEM("a=%s;", alg);
	ITEM("c=%s/%s;", o->simple_header ? "simple" : "relaxed",
		o->simple_body ? "simple" : "relaxed");
	ITEM("d=%s;", o->domain);
	ITEM("s=%s;", o->selector);
	ITEM("t=%lld;", (long long)now);
	if (o->expiration > 0)
		ITEM("x=%lld;", (long long)(now + o->expiration));
	/* h= names separated by ":", folded between names (FWS around the
	 * colons is allowed by the tag-value grammar). */
	first = true;
	for (i = 0; i < nh; i++) {
		buf_reset(&item);
		buf_printf(&item, "%s%s%s", first ? "h=" : "", hlist[i], i + 1 == nh ? ";" : ":");
		fold_item(&fold, item.data, item.len, first);
		first = false;
	}
	ms_base64_encode(&b64, bh, bhl);
	ITEM("bh=%s;", b64.data);
	ITEM("b=");
#undef ITEM

	/* The header hash covers this field with an empty b= and no CRLF. */
	memset(&sf, 0, sizeof(sf));
	sf.raw = hdr.data;
	sf.rawlen = hdr.len;
	sf.name = hdr.data;
	sf.namelen = 14;
	sf.value = hdr.data + 15;
	sf.valuelen = hdr.len - 15;
	memset(&sink, 0, sizeof(sink));
	sink.out = &data;
	dkim_hash_headers(&sink, o->simple_header, &f, hlist, nh, &sf, sf.valuelen, sf.valuelen);
	if (sign_data(o->key, ed25519, &data, &sig, error_r) < 0)
		goto out;

	/* b= folded into the remaining width and then whole lines. */
	buf_reset(&b64);
	ms_base64_encode(&b64, sig.data, sig.len);
	for (start = 0; start < b64.len;) {
		size_t room = fold.col < FOLD_WIDTH ? FOLD_WIDTH - fold.col : 0, take;

		if (room == 0) {
			buf_puts(&hdr, "\r\n\t");
			fold.col = 1;
			continue;
		}
		take = b64.len - start < room ? b64.len - start : room;
		buf_append(&hdr, b64.data + start, take);
		fold.col += take;
		start += take;
	}
	buf_puts(&hdr, "\r\n");
	buf_append(out, hdr.data, hdr.len);
	ret = 0;
out:
	buf_free(&hdr);
	buf_free(&item);
	buf_free(&data);
	buf_free(&sig);
	buf_free(&b64);
	dkim_fields_free(&f);
	free(hlist);
	return ret;
}
