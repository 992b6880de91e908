/* DKIM tag lists (RFC 6376 3.2), DKIM-Signature values (3.5) and key
 * records (3.6.1, RFC 8463 4): parsing and checking, no crypto beyond
 * turning a key record into an EVP_PKEY. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/util.h"
#include "mailauth/dkim_private.h"

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Length of the FWS at s[i] (RFC 5322 FWS = [*WSP CRLF] 1*WSP; we also
 * take a bare LF before WSP, as DNS tools sometimes produce), 0 if none. */
static size_t
fws_len(const char *s, size_t n, size_t i)
{
	size_t j = i;

	for (;;) {
		if (j < n && is_wsp(s[j])) {
			j++;
		} else if (j + 2 < n && s[j] == '\r' && s[j + 1] == '\n' && is_wsp(s[j + 2])) {
			j += 3;
		} else if (j + 1 < n && s[j] == '\n' && is_wsp(s[j + 1])) {
			j += 2;
		} else {
			break;
		}
	}
	return j - i;
}

static bool
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * RFC 6376 3.2:
 *   tag-list  =  tag-spec *( ";" tag-spec ) [ ";" ]
 *   tag-spec  =  [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]
 *   tag-name  =  ALPHA *ALNUMPUNC
 *   tag-value =  [ tval *( 1*(WSP / FWS) tval ) ]
 *   tval      =  1*VALCHAR
 *   VALCHAR   =  %x21-3A / %x3C-7E
 * Bytes >= 0x80 are also taken in values (UTF-8 in d= and i=, RFC 8616).
 */
int
dkim_taglist_parse(const char *s, size_t n, struct dkim_taglist *tl, const char **error_r)
{
	size_t i = 0, j;

	tl->n = 0;
	for (;;) {
		struct dkim_tag *t;
		size_t name_start, vend;

		i += fws_len(s, n, i);
		if (i == n)
			return 0; /* end, possibly after a trailing ";" */
		name_start = i;
		if (!is_alpha(s[i])) {
			*error_r = ms_err("tag-list: tag name expected at offset %zu", i);
			return -1;
		}
		while (i < n && (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '_'))
			i++;
		if (tl->n == DKIM_MAX_TAGS) {
			*error_r = "tag-list: too many tags";
			return -1;
		}
		t = &tl->v[tl->n];
		t->name = s + name_start;
		t->namelen = i - name_start;
		i += fws_len(s, n, i);
		if (i == n || s[i] != '=') {
			*error_r = ms_err("tag-list: \"=\" expected after tag %.*s", (int)t->namelen,
				t->name);
			return -1;
		}
		i++;
		t->raw_start = i;
		i += fws_len(s, n, i);
		t->value = s + i;
		vend = i;
		while (i < n && s[i] != ';') {
			size_t w = fws_len(s, n, i);
			unsigned char c = (unsigned char)s[i];

			if (w > 0) {
				i += w;
				continue;
			}
			if (c < 0x21 || c == 0x7f) {
				*error_r = ms_err("tag-list: bad character 0x%02x in tag %.*s", c,
					(int)t->namelen, t->name);
				return -1;
			}
			i++;
			vend = i;
		}
		t->valuelen = vend - (size_t)(t->value - s);
		t->raw_end = i;
		for (j = 0; j < tl->n; j++) {
			if (tl->v[j].namelen == t->namelen &&
			    memcmp(tl->v[j].name, t->name, t->namelen) == 0) {
				*error_r = ms_err("tag-list: duplicate tag %.*s", (int)t->namelen,
					t->name);
				return -1;
			}
		}
		tl->n++;
		if (i == n)
			return 0;
		i++; /* ";" */
	}
}

const struct dkim_tag *
dkim_taglist_get(const struct dkim_taglist *tl, const char *name)
{
	size_t i, len = strlen(name);

	for (i = 0; i < tl->n; i++)
		if (tl->v[i].namelen == len && memcmp(tl->v[i].name, name, len) == 0)
			return &tl->v[i];
	return NULL;
}

int
dkim_base64_decode_fws(struct buf *out, const char *s, size_t n)
{
	struct buf tmp;
	size_t i;
	int r;

	buf_init(&tmp);
	for (i = 0; i < n; i++)
		if (!is_wsp(s[i]) && s[i] != '\r' && s[i] != '\n')
			buf_putc(&tmp, s[i]);
	r = ms_base64_decode(out, tmp.data, tmp.len);
	buf_free(&tmp);
	return r;
}

static bool
tag_is(const struct dkim_tag *t, const char *s)
{
	size_t n = strlen(s);

	return t->valuelen == n && ms_strncaseeq(t->value, s, n);
}

/* Split a colon-separated list value (h=, q=, key h=/s=/t=) into items
 * with FWS trimmed; calls fn for each. Returns -1 on an empty item. */
static int
colon_list(const struct dkim_tag *t, int (*fn)(void *ctx, const char *p, size_t n), void *ctx)
{
	const char *p = t->value, *end = t->value + t->valuelen;

	while (p <= end) {
		const char *c = memchr(p, ':', (size_t)(end - p));
		const char *ie = c != NULL ? c : end, *is = p;

		while (is < ie && (is_wsp(*is) || *is == '\r' || *is == '\n'))
			is++;
		while (ie > is && (is_wsp(ie[-1]) || ie[-1] == '\r' || ie[-1] == '\n'))
			ie--;
		if (ie == is || fn(ctx, is, (size_t)(ie - is)) < 0)
			return -1;
		if (c == NULL)
			break;
		p = c + 1;
	}
	return 0;
}

/* RFC 6376 3.5 d= and s=: dot-separated labels (letters, digits, "-",
 * "_"; UTF-8 for RFC 8616), each 1-63 octets, 253 in all. */
bool
dkim_domain_ok(const char *s, size_t n)
{
	size_t i, label = 0;

	if (n == 0 || n > 253)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!(is_alpha((char)c) || is_digit((char)c) || c == '-' || c == '_' || c >= 0x80))
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0;
}

static char *
lower_dup(const char *s, size_t n)
{
	char *r = xstrndup(s, n);

	ms_str_lower(r);
	return r;
}

static int
add_hfield(void *ctx, const char *p, size_t n)
{
	struct dkim_sig *sig = ctx;
	size_t i;

	/* RFC 5322 field-name = 1*ftext (%d33-57 / %d59-126). */
	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] < 33 || (unsigned char)p[i] > 126 || p[i] == ':')
			return -1;
	if (sig->nhfields == DKIM_MAX_HFIELDS)
		return -1;
	sig->hfields = xrealloc(sig->hfields, (sig->nhfields + 1) * sizeof(char *));
	sig->hfields[sig->nhfields++] = lower_dup(p, n);
	return 0;
}

static int
check_query(void *ctx, const char *p, size_t n)
{
	bool *found = ctx;

	if (n == 7 && ms_strncaseeq(p, "dns/txt", 7))
		*found = true;
	return 0;
}

/* t= and x=: 1*12DIGIT. */
static int
parse_time(const struct dkim_tag *t, int64_t *out)
{
	uint64_t v;

	if (t->valuelen > 12 || ms_parse_u64n(t->value, t->valuelen, 0, 999999999999ULL, &v) < 0)
		return -1;
	*out = (int64_t)v;
	return 0;
}

static int
sig_fail(enum dkim_status st, const char *msg, enum dkim_status *status_r, const char **error_r)
{
	*status_r = st;
	*error_r = msg;
	return -1;
}

int
dkim_sig_parse(const char *value, size_t len, struct dkim_sig *sig, enum dkim_status *status_r,
	const char **error_r)
{
	static const char *const required[] = { "v", "a", "b", "bh", "d", "h", "s" };
	struct dkim_taglist tl;
	const struct dkim_tag *t;
	const char *err;
	bool q_ok = false, from = false;
	size_t i, o;

	memset(sig, 0, sizeof(*sig));
	buf_init(&sig->b);
	buf_init(&sig->bh);
	sig->timestamp = -1;
	sig->expiration = -1;
	if (dkim_taglist_parse(value, len, &tl, &err) < 0)
		return sig_fail(DKIM_NEUTRAL, err, status_r, error_r);
	for (i = 0; i < MS_NELEM(required); i++)
		if (dkim_taglist_get(&tl, required[i]) == NULL)
			return sig_fail(DKIM_PERMERROR, ms_err("missing required tag %s=", required[i]),
				status_r, error_r);
	if (!tag_is(dkim_taglist_get(&tl, "v"), "1"))
		return sig_fail(DKIM_PERMERROR, "unsupported version (v= must be 1)", status_r,
			error_r);

	/* Syntax first: the base64 values. */
	t = dkim_taglist_get(&tl, "b");
	if (dkim_base64_decode_fws(&sig->b, t->value, t->valuelen) < 0)
		return sig_fail(DKIM_NEUTRAL, "b= is not valid base64", status_r, error_r);
	sig->b_raw_start = t->raw_start;
	sig->b_raw_end = t->raw_end;
	for (i = 0, o = 0; i < t->valuelen && o < 8; i++)
		if (!is_wsp(t->value[i]) && t->value[i] != '\r' && t->value[i] != '\n')
			sig->b_prefix[o++] = t->value[i];
	sig->b_prefix[o] = '\0';
	t = dkim_taglist_get(&tl, "bh");
	if (dkim_base64_decode_fws(&sig->bh, t->value, t->valuelen) < 0)
		return sig_fail(DKIM_NEUTRAL, "bh= is not valid base64", status_r, error_r);

	t = dkim_taglist_get(&tl, "a");
	sig->algorithm = lower_dup(t->value, t->valuelen);
	if (strcmp(sig->algorithm, "rsa-sha256") == 0) {
		sig->keytype = DKIM_KEY_RSA;
		sig->hash = DKIM_HASH_SHA256;
	} else if (strcmp(sig->algorithm, "rsa-sha1") == 0) {
		sig->keytype = DKIM_KEY_RSA;
		sig->hash = DKIM_HASH_SHA1;
	} else if (strcmp(sig->algorithm, "ed25519-sha256") == 0) {
		sig->keytype = DKIM_KEY_ED25519;
		sig->hash = DKIM_HASH_SHA256;
	} else {
		return sig_fail(DKIM_PERMERROR, "unsupported algorithm (a=)", status_r, error_r);
	}
	if (sig->b.len == 0)
		return sig_fail(DKIM_PERMERROR, "empty signature (b=)", status_r, error_r);
	if (sig->bh.len != (size_t)EVP_MD_get_size(dkim_hash_md(sig->hash)))
		return sig_fail(DKIM_PERMERROR, "body hash (bh=) has the wrong length", status_r,
			error_r);

	t = dkim_taglist_get(&tl, "d");
	if (!dkim_domain_ok(t->value, t->valuelen))
		return sig_fail(DKIM_PERMERROR, "invalid domain (d=)", status_r, error_r);
	sig->domain = lower_dup(t->value, t->valuelen);
	t = dkim_taglist_get(&tl, "s");
	if (!dkim_domain_ok(t->value, t->valuelen))
		return sig_fail(DKIM_PERMERROR, "invalid selector (s=)", status_r, error_r);
	sig->selector = xstrndup(t->value, t->valuelen);

	/* c= "simple" / "relaxed", optionally "/" and the body's; default
	 * simple/simple (3.5). */
	sig->simple_header = sig->simple_body = true;
	if ((t = dkim_taglist_get(&tl, "c")) != NULL) {
		const char *slash = memchr(t->value, '/', t->valuelen);
		size_t hl = slash != NULL ? (size_t)(slash - t->value) : t->valuelen;
		const char *bp = slash != NULL ? slash + 1 : NULL;
		size_t bl = slash != NULL ? t->valuelen - hl - 1 : 0;

		if (hl == 7 && ms_strncaseeq(t->value, "relaxed", 7))
			sig->simple_header = false;
		else if (!(hl == 6 && ms_strncaseeq(t->value, "simple", 6)))
			return sig_fail(DKIM_PERMERROR, "unknown canonicalization (c=)", status_r,
				error_r);
		if (bp != NULL) {
			if (bl == 7 && ms_strncaseeq(bp, "relaxed", 7))
				sig->simple_body = false;
			else if (!(bl == 6 && ms_strncaseeq(bp, "simple", 6)))
				return sig_fail(DKIM_PERMERROR, "unknown canonicalization (c=)",
					status_r, error_r);
		}
	}

	/* h=: colon-separated field names; From is required (5.4). */
	t = dkim_taglist_get(&tl, "h");
	if (colon_list(t, add_hfield, sig) < 0)
		return sig_fail(DKIM_PERMERROR, "invalid or too long header list (h=)", status_r,
			error_r);
	for (i = 0; i < sig->nhfields; i++)
		if (strcmp(sig->hfields[i], "from") == 0)
			from = true;
	if (!from)
		return sig_fail(DKIM_PERMERROR, "From is not signed (h=)", status_r, error_r);

	/* i= [local-part] "@" domain, the domain d= or a subdomain of it. */
	if ((t = dkim_taglist_get(&tl, "i")) != NULL) {
		const char *at = NULL, *dom;
		size_t dl, sl = strlen(sig->domain);

		for (i = 0; i < t->valuelen; i++)
			if (t->value[i] == '@')
				at = t->value + i;
		if (at == NULL)
			return sig_fail(DKIM_PERMERROR, "invalid identity (i=)", status_r, error_r);
		dom = at + 1;
		dl = t->valuelen - (size_t)(dom - t->value);
		if (!dkim_domain_ok(dom, dl) ||
		    !(dl == sl ? ms_strncaseeq(dom, sig->domain, sl)
			       : dl > sl && dom[dl - sl - 1] == '.' &&
				       ms_strncaseeq(dom + dl - sl, sig->domain, sl)))
			return sig_fail(DKIM_PERMERROR, "identity (i=) is not in the domain (d=)",
				status_r, error_r);
		sig->identity = xstrndup(t->value, t->valuelen);
	} else {
		sig->identity = xasprintf("@%s", sig->domain);
	}

	if ((t = dkim_taglist_get(&tl, "l")) != NULL) {
		if (t->valuelen > 76 ||
		    ms_parse_u64n(t->value, t->valuelen, 0, UINT64_MAX, &sig->length) < 0)
			return sig_fail(DKIM_PERMERROR, "invalid body length (l=)", status_r,
				error_r);
		sig->has_length = true;
	}
	if ((t = dkim_taglist_get(&tl, "q")) != NULL) {
		if (colon_list(t, check_query, &q_ok) < 0 || !q_ok)
			return sig_fail(DKIM_PERMERROR, "unsupported query method (q=)", status_r,
				error_r);
	}
	if ((t = dkim_taglist_get(&tl, "t")) != NULL && parse_time(t, &sig->timestamp) < 0)
		return sig_fail(DKIM_PERMERROR, "invalid timestamp (t=)", status_r, error_r);
	if ((t = dkim_taglist_get(&tl, "x")) != NULL && parse_time(t, &sig->expiration) < 0)
		return sig_fail(DKIM_PERMERROR, "invalid expiration (x=)", status_r, error_r);
	if (sig->timestamp >= 0 && sig->expiration >= 0 && sig->expiration < sig->timestamp)
		return sig_fail(DKIM_PERMERROR, "expiration (x=) before timestamp (t=)", status_r,
			error_r);
	return 0;
}

void
dkim_sig_free(struct dkim_sig *sig)
{
	size_t i;

	buf_free(&sig->b);
	buf_free(&sig->bh);
	free(sig->algorithm);
	free(sig->domain);
	free(sig->selector);
	free(sig->identity);
	for (i = 0; i < sig->nhfields; i++)
		free(sig->hfields[i]);
	free(sig->hfields);
	memset(sig, 0, sizeof(*sig));
}

int
dkim_signature_check(const char *value, size_t len, const char **error_r)
{
	struct dkim_sig sig;
	enum dkim_status st;
	int r = dkim_sig_parse(value, len, &sig, &st, error_r);

	dkim_sig_free(&sig);
	return r;
}

struct keyrec_flags {
	struct dkim_keyrec *kr;
	bool email;
};

static int
key_hash(void *ctx, const char *p, size_t n)
{
	struct dkim_keyrec *kr = ctx;

	if (n == 4 && ms_strncaseeq(p, "sha1", 4))
		kr->hash_sha1 = true;
	else if (n == 6 && ms_strncaseeq(p, "sha256", 6))
		kr->hash_sha256 = true;
	return 0; /* unknown hashes are ignored */
}

static int
key_service(void *ctx, const char *p, size_t n)
{
	struct keyrec_flags *f = ctx;

	if ((n == 1 && p[0] == '*') || (n == 5 && ms_strncaseeq(p, "email", 5)))
		f->email = true;
	return 0;
}

static int
key_flag(void *ctx, const char *p, size_t n)
{
	struct dkim_keyrec *kr = ctx;

	if (n == 1 && (p[0] == 'y' || p[0] == 'Y'))
		kr->testing = true;
	else if (n == 1 && (p[0] == 's' || p[0] == 'S'))
		kr->strict = true;
	return 0; /* unknown flags are ignored */
}

/* RFC 6376 3.6.1 key record tags v= h= k= n= p= s= t=. */
int
dkim_keyrec_parse(const char *s, size_t n, struct dkim_keyrec *kr, const char **error_r)
{
	struct dkim_taglist tl;
	const struct dkim_tag *t;
	struct keyrec_flags f = { kr, true };
	const char *err;

	memset(kr, 0, sizeof(*kr));
	buf_init(&kr->p);
	if (dkim_taglist_parse(s, n, &tl, &err) < 0) {
		*error_r = ms_err("key record: %s", err);
		return -1;
	}
	if ((t = dkim_taglist_get(&tl, "v")) != NULL &&
	    (t != &tl.v[0] || !(t->valuelen == 5 && memcmp(t->value, "DKIM1", 5) == 0))) {
		*error_r = "key record: v= must be first and DKIM1";
		return -1;
	}
	if ((t = dkim_taglist_get(&tl, "h")) != NULL) {
		if (colon_list(t, key_hash, kr) < 0) {
			*error_r = "key record: invalid h=";
			return -1;
		}
	} else {
		kr->hash_sha1 = kr->hash_sha256 = true;
	}
	kr->keytype = DKIM_KEY_RSA;
	if ((t = dkim_taglist_get(&tl, "k")) != NULL) {
		if (tag_is(t, "ed25519")) {
			kr->keytype = DKIM_KEY_ED25519;
		} else if (!tag_is(t, "rsa")) {
			*error_r = "key record: unknown key type (k=)";
			return -1;
		}
	}
	if ((t = dkim_taglist_get(&tl, "s")) != NULL) {
		f.email = false;
		if (colon_list(t, key_service, &f) < 0 || !f.email) {
			*error_r = "key record: not for email (s=)";
			return -1;
		}
	}
	if ((t = dkim_taglist_get(&tl, "t")) != NULL && colon_list(t, key_flag, kr) < 0) {
		*error_r = "key record: invalid flags (t=)";
		return -1;
	}
	if ((t = dkim_taglist_get(&tl, "p")) == NULL) {
		*error_r = "key record: no public key (p=)";
		return -1;
	}
	if (dkim_base64_decode_fws(&kr->p, t->value, t->valuelen) < 0) {
		*error_r = "key record: p= is not valid base64";
		return -1;
	}
	kr->revoked = kr->p.len == 0;
	return 0;
}

void
dkim_keyrec_free(struct dkim_keyrec *kr)
{
	buf_free(&kr->p);
}

EVP_PKEY *
dkim_keyrec_pkey(const struct dkim_keyrec *kr, const char **error_r)
{
	const unsigned char *p = (const unsigned char *)kr->p.data;
	EVP_PKEY *k;

	if (kr->keytype == DKIM_KEY_ED25519) {
		/* RFC 8463 4.2: the raw 32-byte public key. */
		if (kr->p.len != 32) {
			*error_r = "key record: Ed25519 key is not 32 bytes";
			return NULL;
		}
		k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, p, kr->p.len);
		if (k == NULL)
			*error_r = "key record: invalid Ed25519 key";
		return k;
	}
	/* SubjectPublicKeyInfo as everyone publishes; the RSAPublicKey that
	 * RFC 6376 3.6.1 literally names is accepted too. */
	k = d2i_PUBKEY(NULL, &p, (long)kr->p.len);
	if (k == NULL) {
		p = (const unsigned char *)kr->p.data;
		k = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)kr->p.len);
	}
	if (k == NULL || p != (const unsigned char *)kr->p.data + kr->p.len) {
		EVP_PKEY_free(k);
		*error_r = "key record: invalid RSA public key";
		return NULL;
	}
	if (EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
		EVP_PKEY_free(k);
		*error_r = "key record: k=rsa but the key is not RSA";
		return NULL;
	}
	if (EVP_PKEY_get_bits(k) < 1024) {
		*error_r = ms_err("key record: RSA key of %d bits is too small (policy: 1024 or more)",
			EVP_PKEY_get_bits(k));
		EVP_PKEY_free(k);
		return NULL;
	}
	return k;
}
