/* Making DKIM keys for our domains and storing them (dkim_selectors):
 * "mailstead dkim gen" and the admin web interface (DomainAdd makes two,
 * DomainDKIMAdd one). */
#ifndef MS_ADMIN_DKIMKEY_H
#define MS_ADMIN_DKIMKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct store;

struct dkimkey_params {
	const char *domain;	/* as stored (lower-case Unicode) */
	const char *selector;
	const char *algorithm;	/* "rsa" (2048 bits) or "ed25519" */
	const char *const *headers;	/* fields to sign; NULL/0: the default list */
	size_t nheaders;
	int64_t expiration_seconds;	/* 0: no x= */
	bool oversign, sign;
};

/* Is s a usable selector (RFC 6376 section 3.1: sub-domain of LDH labels,
 * at most 63 bytes here)? */
bool dkimkey_selector_valid(const char *s);

/* Generate a key, store it with the domain and append the public TXT
 * record value ("v=DKIM1; k=...; p=...") to txt. Header names are stored
 * lower case with From added when missing. Returns 0, or -1 with *error_r
 * (bad parameters, unknown domain, selector exists, database). */
int dkimkey_generate(struct store *st, const struct dkimkey_params *p, struct buf *txt,
	const char **error_r);

/* The two keys a new domain gets (as the reference does): an Ed25519 and
 * an RSA one, both signing, selectors "<yyyymmdd>e" and "<yyyymmdd>r" of
 * now. Returns 0 or -1. */
int dkimkey_generate_defaults(struct store *st, const char *domain, int64_t now,
	const char **error_r);

#endif
