/* TLS client certificates as login credentials (SASL EXTERNAL, IMAP
 * preauth): only the certificate's public key identifies the account, by
 * its fingerprint, base64url (no padding) of SHA-256 over the DER
 * SubjectPublicKeyInfo, as the reference server does. Names, expiry and
 * issuers are deliberately ignored; no certificate authority is involved. */
#ifndef MS_TLSPUBKEY_H
#define MS_TLSPUBKEY_H

#include <stddef.h>

#include "core/buf.h"

struct tlspubkey_info {
	char fingerprint[48];	/* 43 characters */
	char type[32];		/* "rsa-2048", "ecdsa-p256", "ed25519", ... */
	char name[256];		/* subject CN, else "serial <hex>" */
	struct buf der;		/* the certificate, DER */
};

/* Parse one certificate, DER or PEM ("-----BEGIN CERTIFICATE-----"), and
 * fill info (info->der is initialized here; free with tlspubkey_info_free).
 * Refuses RSA keys under 2048 bits and key types other than RSA, ECDSA
 * P-256/P-384/P-521, Ed25519 and Ed448. Returns 0 or -1 with *error_r. */
int tlspubkey_parse(const void *data, size_t len, struct tlspubkey_info *info,
	const char **error_r);
void tlspubkey_info_free(struct tlspubkey_info *info);

/* Only the fingerprint of a DER certificate (what a daemon needs for the
 * peer certificate: i2d_X509 of SSL_get0_peer_certificate). Appends to out.
 * Returns 0 or -1 with *error_r. */
int tlspubkey_fingerprint(const void *der, size_t len, struct buf *out,
	const char **error_r);

#endif
