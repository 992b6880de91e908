/* DKIM internals shared by dkim.c (verifying), dkim_sign.c, dkim_key.c and
 * dkim_canon.c, and used directly by the unit tests: the RFC 6376 3.2
 * tag-list parser, the signature and key record parsers, and the 3.4
 * canonicalization algorithms. Not for other modules. */
#ifndef MS_DKIM_PRIVATE_H
#define MS_DKIM_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "core/buf.h"
#include "mailauth/dkim.h"

/* Bounds on what we accept from the network. */
#define DKIM_MAX_TAGS 64
#define DKIM_MAX_SIGNATURES 10
#define DKIM_MAX_HFIELDS 256	/* names in h= */
/* t= in the future by more than this (seconds) makes a signature invalid. */
#define DKIM_FUTURE_TOLERANCE 900

struct dkim_tag {
	const char *name, *value;
	size_t namelen, valuelen;	/* value trimmed of surrounding FWS */
	/* Offsets into the parsed text: just after the "=" and at the ";"
	 * or end, i.e. the value with its surrounding whitespace (what b=
	 * blanking removes, RFC 6376 3.5). */
	size_t raw_start, raw_end;
};

struct dkim_taglist {
	struct dkim_tag v[DKIM_MAX_TAGS];
	size_t n;
};

/* Parse an RFC 6376 3.2 tag-list. The tags point into s. Duplicate tag
 * names, bad characters and more than DKIM_MAX_TAGS tags are errors.
 * Returns 0, or -1 with *error_r. */
int dkim_taglist_parse(const char *s, size_t n, struct dkim_taglist *tl,
	const char **error_r);
/* The tag named name (case-sensitive, as RFC 6376 3.2 says), or NULL. */
const struct dkim_tag *dkim_taglist_get(const struct dkim_taglist *tl, const char *name);

/* Decode base64 that may contain FWS (b=, bh=, p=); strict otherwise
 * (correct padding, no truncated groups). Appends to out. 0 or -1. */
int dkim_base64_decode_fws(struct buf *out, const char *s, size_t n);

enum dkim_hash { DKIM_HASH_SHA1, DKIM_HASH_SHA256 };
enum dkim_keytype { DKIM_KEY_RSA, DKIM_KEY_ED25519 };

struct dkim_sig {
	enum dkim_keytype keytype;
	enum dkim_hash hash;
	char *algorithm;	/* a=, lower case */
	struct buf b, bh;	/* decoded */
	char b_prefix[9];
	bool simple_header, simple_body;
	char *domain;		/* d=, lower case */
	char *selector;		/* s= */
	char *identity;		/* i=, or "@" d= */
	char **hfields;		/* h=, lower case */
	size_t nhfields;
	bool has_length;
	uint64_t length;	/* l= */
	int64_t timestamp;	/* t=, -1 when absent */
	int64_t expiration;	/* x=, -1 when absent */
	size_t b_raw_start, b_raw_end;	/* b= value span in the parsed value */
};

/* Parse a DKIM-Signature header field value into sig (free it with
 * dkim_sig_free, also after an error). Returns 0, or -1 with *status_r
 * DKIM_NEUTRAL (tag-list or base64 syntax) or DKIM_PERMERROR (missing,
 * unknown or inconsistent tags) and *error_r. */
int dkim_sig_parse(const char *value, size_t len, struct dkim_sig *sig,
	enum dkim_status *status_r, const char **error_r);
void dkim_sig_free(struct dkim_sig *sig);

struct dkim_keyrec {
	enum dkim_keytype keytype;
	bool hash_sha1, hash_sha256;	/* h= acceptable (both when absent) */
	bool testing, strict;		/* t=y, t=s */
	bool revoked;			/* p= empty */
	struct buf p;			/* decoded public key data */
};

/* Parse a key record TXT value (RFC 6376 3.6.1). Returns 0, or -1 with
 * *error_r. A revoked key (empty p=) parses with kr->revoked set. */
int dkim_keyrec_parse(const char *s, size_t n, struct dkim_keyrec *kr, const char **error_r);
void dkim_keyrec_free(struct dkim_keyrec *kr);
/* The public key of a parsed record: RSA from SubjectPublicKeyInfo (or a
 * bare PKCS#1 RSAPublicKey), Ed25519 from the raw 32 bytes. NULL with
 * *error_r for unusable keys, including RSA under 1024 bits. */
EVP_PKEY *dkim_keyrec_pkey(const struct dkim_keyrec *kr, const char **error_r);

/* Canonicalization output goes through a sink: into a hash, optionally
 * cut off after a length limit (l=), counting all canonical octets. */
struct dkim_sink {
	EVP_MD_CTX *md;		/* NULL: only append to out */
	struct buf *out;	/* NULL: only hash */
	bool limited;
	uint64_t limit;		/* octets still to pass when limited */
	uint64_t total;		/* canonical octets produced */
};

void dkim_sink_write(struct dkim_sink *s, const void *p, size_t n);

/* Header fields of a message, in order, for h= selection. raw is the
 * whole field as in the message without its final CRLF; value follows
 * the colon. */
struct dkim_field {
	const char *name, *value, *raw;
	size_t namelen, valuelen, rawlen;
};
struct dkim_fields {
	struct dkim_field *v;
	size_t n;
};
/* Collect the fields of a header section (lines without a colon are not
 * fields and are skipped). */
void dkim_fields_parse(const char *hdr, size_t len, struct dkim_fields *f);
void dkim_fields_free(struct dkim_fields *f);

/* RFC 6376 3.4.1/3.4.2: one header field. crlf: append CRLF (every
 * field but the signature itself). */
void dkim_canon_header(struct dkim_sink *s, bool simple, const struct dkim_field *f, bool crlf);
/* RFC 6376 3.4.3/3.4.4: the whole body. */
void dkim_canon_body(struct dkim_sink *s, bool simple, const char *body, size_t len);

/* Split msg at the empty line: *hdr_len is the length of the header
 * section including the CRLF of its last field, *body the start of the
 * body. Returns 0, or -1 when there is no empty line. A message starting
 * with CRLF has an empty header section. */
int dkim_split_message(const char *msg, size_t len, size_t *hdr_len, const char **body);

/* RFC 6376 5.4.2 and 3.7: hash the fields named in hfields (bottom-up
 * for repeated names; a missing instance hashes nothing), then sigfield
 * with its b= value (the span [b_raw_start, b_raw_end) of its value)
 * removed and without the final CRLF. */
void dkim_hash_headers(struct dkim_sink *s, bool simple, const struct dkim_fields *f,
	char *const *hfields, size_t nhfields, const struct dkim_field *sigfield,
	size_t b_raw_start, size_t b_raw_end);

const EVP_MD *dkim_hash_md(enum dkim_hash h);
/* Is s a plausible d= or s= value (dot-separated labels of letters,
 * digits, "-", "_" or UTF-8; 253 octets at most)? */
bool dkim_domain_ok(const char *s, size_t n);

#endif
