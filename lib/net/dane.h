/* DANE for SMTP (RFC 7672, on RFC 6698/7671): which TLSA records apply to
 * an MX host, found with DNSSEC-authentic lookups through lib/net/dns,
 * and certificate verification against them with OpenSSL's DANE API
 * (SSL_dane_enable / SSL_dane_tlsa_add). Only DANE-TA(2) and DANE-EE(3)
 * are usable for SMTP (section 3.1.3: PKIX-TA(0)/PKIX-EE(1) are not). */
#ifndef MS_DANE_H
#define MS_DANE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "core/buf.h"

struct dns;

enum dane_usage {
	DANE_USAGE_PKIX_TA = 0,
	DANE_USAGE_PKIX_EE = 1,
	DANE_USAGE_DANE_TA = 2,
	DANE_USAGE_DANE_EE = 3,
};

struct dane_tlsa {
	uint8_t usage, selector, mtype;
	unsigned char *data;
	size_t len;
};

enum dane_status {
	/* DANE does not apply: the MX or address lookups are not DNSSEC-
	 * secure, or secure DNS says there are no TLSA records. */
	DANE_NONE = 0,
	/* Secure, usable TLSA records: TLS is required and the certificate
	 * must match one of them. */
	DANE_REQUIRED,
	/* Secure TLSA records exist but none is usable: TLS is still
	 * required, without authentication (section 2.2). */
	DANE_UNUSABLE,
	/* The TLSA lookup of a secure host failed (SERVFAIL, DNSSEC bogus,
	 * timeout): the host must not be used now (section 2.2). */
	DANE_TEMPERROR,
};

struct dane_host {
	enum dane_status status;
	/* The host's address records (and CNAMEs leading to them) are
	 * DNSSEC-secure. */
	bool address_authentic;
	/* The host name after following CNAMEs (equal to the host when
	 * there are none); malloc'd. */
	char *expanded;
	/* The TLSA base domain the records were found at: the expanded name,
	 * else the original host (section 2.2.2); NULL without lookup. It is
	 * the SNI name and the first name a DANE-TA certificate may carry. */
	char *base_domain;
	/* Usable records (DANE-TA/DANE-EE, known selector and matching
	 * type); nunusable counts the others. */
	struct dane_tlsa *tlsa;
	size_t ntlsa, nunusable;
	/* Names accepted in a DANE-TA certificate (section 3.2.2): the base
	 * domain, the MX host name, the expanded name. */
	char **names;
	size_t nnames;
	/* Why status is what it is, for logs and TLS report reason codes. */
	char *reason;
};

/* Is a record usable for SMTP (section 3.1): usage 2 or 3, selector 0
 * (certificate) or 1 (SubjectPublicKeyInfo), matching type 0 (full), 1
 * (SHA-256, 32 bytes) or 2 (SHA-512, 64 bytes)? */
bool dane_tlsa_usable(const struct dane_tlsa *t);
/* Append "3 1 1 <hex>" (presentation form) to out. */
void dane_tlsa_format(const struct dane_tlsa *t, struct buf *out);

/* Decide DANE for MX host (A-label, lower case; for a domain without MX
 * records the domain itself). mx_authentic: the MX lookup of the
 * recipient domain (with any CNAME leading to it) was DNSSEC-secure, or
 * there was no MX and the domain's own address lookup is what counts;
 * when false DANE never applies (section 2.2.1). Looks up the host's
 * addresses (A, else AAAA), and only when those are secure the TLSA
 * records of _25._tcp.<expanded> and, when there are none there,
 * _25._tcp.<host>. Fills *h (free with dane_host_free); never fails
 * otherwise (problems are in h->status and h->reason). */
void dane_host_lookup(struct dns *d, const char *host, bool mx_authentic, struct dane_host *h);
void dane_host_free(struct dane_host *h);
const char *dane_status_name(enum dane_status s);

/* Enable DANE on a client SSL_CTX (once, before SSL objects are made
 * from it). Returns 0 or -1. */
int dane_ctx_enable(SSL_CTX *ctx, const char **error_r);
/* Prepare ssl (before the handshake) for verification against h's usable
 * records: SNI and reference name = base domain, extra names for DANE-TA,
 * no name checks for DANE-EE (section 3.1.1), the handshake itself never
 * aborts on a verification failure (dane_ssl_verified decides after it,
 * so the reason can be reported). h must be DANE_REQUIRED. Returns 0, or
 * -1 with *error_r. */
int dane_ssl_setup(SSL *ssl, const struct dane_host *h, const char **error_r);
/* After the handshake: did the peer's certificate chain match one of the
 * records? Returns 0 with *usage_r (2 or 3) of the matched record, or -1
 * with the OpenSSL verification error in *verify_error_r and a message in
 * *error_r. */
int dane_ssl_verified(SSL *ssl, int *usage_r, long *verify_error_r, const char **error_r);

#endif
