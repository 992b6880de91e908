/* Fingerprints and descriptions of TLS client certificates used for
 * EXTERNAL authentication (see tlspubkey.h). */
#include "config.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

#include "auth/tlspubkey.h"
#include "core/util.h"

static X509 *
load_cert(const void *data, size_t len)
{
	static const char pem[] = "-----BEGIN";
	const unsigned char *p = data;
	X509 *x = NULL;
	size_t i = 0;

	if (len > 1024 * 1024)
		return NULL;
	while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
		i++;
	if (len - i >= sizeof(pem) - 1 && memcmp(p + i, pem, sizeof(pem) - 1) == 0) {
		BIO *b = BIO_new_mem_buf(data, (int)len);

		if (b != NULL) {
			x = PEM_read_bio_X509(b, NULL, NULL, NULL);
			BIO_free(b);
		}
		return x;
	}
	x = d2i_X509(NULL, &p, (long)len);
	/* Trailing garbage after the DER is refused. */
	if (x != NULL && p != (const unsigned char *)data + len) {
		X509_free(x);
		x = NULL;
	}
	return x;
}

static int
spki_fingerprint(X509 *x, struct buf *out, const char **error_r)
{
	unsigned char *spki = NULL, md[32];
	unsigned int mdlen = 0;
	int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &spki);

	if (n <= 0) {
		*error_r = "certificate has no public key";
		return -1;
	}
	if (EVP_Digest(spki, (size_t)n, md, &mdlen, EVP_sha256(), NULL) != 1) {
		OPENSSL_free(spki);
		*error_r = "SHA-256 failed";
		return -1;
	}
	OPENSSL_free(spki);
	ms_base64url_encode(out, md, sizeof(md));
	return 0;
}

int
tlspubkey_fingerprint(const void *der, size_t len, struct buf *out, const char **error_r)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	int rc;

	if (x == NULL) {
		*error_r = "cannot parse certificate";
		return -1;
	}
	rc = spki_fingerprint(x, out, error_r);
	X509_free(x);
	return rc;
}

static int
key_type(X509 *x, char *out, size_t outsize, const char **error_r)
{
	EVP_PKEY *k = X509_get0_pubkey(x);
	char group[64];
	size_t glen = 0;

	if (k == NULL) {
		*error_r = "cannot read the certificate's public key";
		return -1;
	}
	switch (EVP_PKEY_get_base_id(k)) {
	case EVP_PKEY_RSA:
		if (EVP_PKEY_get_bits(k) < 2048) {
			*error_r = "RSA keys smaller than 2048 bits are not accepted";
			return -1;
		}
		snprintf(out, outsize, "rsa-%d", EVP_PKEY_get_bits(k));
		return 0;
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_group_name(k, group, sizeof(group), &glen) != 1)
			break;
		if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
			snprintf(out, outsize, "ecdsa-p256");
		else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
			snprintf(out, outsize, "ecdsa-p384");
		else if (strcmp(group, "secp521r1") == 0 || strcmp(group, "P-521") == 0)
			snprintf(out, outsize, "ecdsa-p521");
		else
			break;
		return 0;
	case EVP_PKEY_ED25519:
		snprintf(out, outsize, "ed25519");
		return 0;
	case EVP_PKEY_ED448:
		snprintf(out, outsize, "ed448");
		return 0;
	default:
		break;
	}
	*error_r = "public key type not supported"
		   " (use RSA >= 2048, ECDSA P-256/384/521 or Ed25519)";
	return -1;
}

static void
cert_name(X509 *x, char *out, size_t outsize)
{
	X509_NAME *subj = X509_get_subject_name(x);
	int i = subj ? X509_NAME_get_index_by_NID(subj, NID_commonName, -1) : -1;
	unsigned char *utf8 = NULL;
	int n;

	out[0] = '\0';
	if (i >= 0) {
		X509_NAME_ENTRY *e = X509_NAME_get_entry(subj, i);

		n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
		if (n > 0) {
			size_t k, len = (size_t)n < outsize - 1 ? (size_t)n : outsize - 1;

			memcpy(out, utf8, len);
			out[len] = '\0';
			/* No control characters in a name shown in lists. */
			for (k = 0; k < len; k++)
				if ((unsigned char)out[k] < 0x20 || out[k] == 0x7f)
					out[k] = '?';
		}
		OPENSSL_free(utf8);
	}
	if (out[0] == '\0') {
		BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
		unsigned char sb[64];
		struct buf b;

		buf_init(&b);
		buf_puts(&b, "serial ");
		if (bn != NULL && BN_num_bytes(bn) <= (int)sizeof(sb)) {
			int sn = BN_bn2bin(bn, sb);

			ms_hex_encode(&b, sb, (size_t)sn);
		}
		BN_free(bn);
		(void)ms_strlcpy(out, b.data, outsize);
		buf_free(&b);
	}
}

int
tlspubkey_parse(const void *data, size_t len, struct tlspubkey_info *info,
	const char **error_r)
{
	X509 *x = load_cert(data, len);
	struct buf fp;
	unsigned char *der = NULL;
	int n, rc = -1;

	memset(info, 0, sizeof(*info));
	buf_init(&info->der);
	if (x == NULL) {
		*error_r = "cannot parse certificate (expected one PEM or DER X.509 certificate)";
		return -1;
	}
	buf_init(&fp);
	if (key_type(x, info->type, sizeof(info->type), error_r) < 0 ||
	    spki_fingerprint(x, &fp, error_r) < 0)
		goto out;
	if (ms_strlcpy(info->fingerprint, fp.data, sizeof(info->fingerprint)) >=
		sizeof(info->fingerprint)) {
		*error_r = "fingerprint too long";
		goto out;
	}
	cert_name(x, info->name, sizeof(info->name));
	n = i2d_X509(x, &der);
	if (n <= 0) {
		*error_r = "cannot encode certificate";
		goto out;
	}
	buf_append(&info->der, der, (size_t)n);
	OPENSSL_free(der);
	rc = 0;
out:
	buf_free(&fp);
	X509_free(x);
	return rc;
}

void
tlspubkey_info_free(struct tlspubkey_info *info)
{
	buf_free(&info->der);
}
