/* TLS facts that identify a connection: channel bindings for SCRAM-PLUS
 * (RFC 5929, RFC 9266) and client certificate public keys for TLS client
 * authentication (fingerprints, descriptions). Split from tls.c, which
 * sets connections up. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "core/log.h"
#include "core/util.h"
#include "net/conn.h"
#include "net/tls.h"
#include "net/tls_private.h"

/* ---- channel binding ---- */

int
conn_tls_channel_binding(struct conn *c, const char *type, struct buf *out,
	const char **error_r)
{
	SSL *ssl;
	int version;
	bool ems;

	if (c->tls == NULL) {
		*error_r = "channel binding needs TLS";
		return -1;
	}
	ssl = c->tls->ssl;
	version = SSL_version(ssl);
	ems = SSL_get_extms_support(ssl) == 1;
	buf_reset(out);
	if (strcmp(type, "tls-unique") == 0) {
		unsigned char fin[EVP_MAX_MD_SIZE];
		size_t n;

		/* RFC 8446 section C.5: no tls-unique for TLS 1.3. */
		if (version >= TLS1_3_VERSION) {
			*error_r = "tls-unique is not available with TLS 1.3";
			return -1;
		}
		/* A resumed session without extended master secret lets a
		 * man in the middle give two connections the same Finished
		 * (triple handshake attack, RFC 7627 section 1). */
		if (SSL_session_reused(ssl) == 1 && !ems) {
			*error_r = "tls-unique is unsafe for a resumed session without extended "
				   "master secret";
			return -1;
		}
		/* RFC 5929 section 3.1: the first Finished message of the
		 * latest handshake: the client's in a full handshake, ours in
		 * an abbreviated (resumed) one. */
		if (SSL_session_reused(ssl) == 1)
			n = SSL_get_finished(ssl, fin, sizeof(fin));
		else
			n = SSL_get_peer_finished(ssl, fin, sizeof(fin));
		if (n == 0 || n > sizeof(fin)) {
			*error_r = "tls-unique: no Finished message";
			return -1;
		}
		buf_append(out, fin, n);
		return 0;
	}
	if (strcmp(type, "tls-exporter") == 0) {
		static const char label[] = "EXPORTER-Channel-Binding";
		unsigned char key[TLS_EXPORTER_LEN];

		/* RFC 9266 section 3: TLS 1.2 only with RFC 7627. */
		if (version < TLS1_3_VERSION && !ems) {
			*error_r = "tls-exporter needs TLS 1.3 or the extended master secret";
			return -1;
		}
		/* An empty context (use_context=1, length 0) as RFC 9266
		 * section 2 says; for TLS 1.2 that differs from no context. */
		if (SSL_export_keying_material(ssl, key, sizeof(key), label, sizeof(label) - 1,
			    (const unsigned char *)"", 0, 1) != 1) {
			*error_r = ms_err("tls-exporter: %s", ssl_error_text());
			return -1;
		}
		buf_append(out, key, sizeof(key));
		OPENSSL_cleanse(key, sizeof(key));
		return 0;
	}
	*error_r = ms_err("unknown channel binding type %s", type);
	return -1;
}

/* ---- client public keys ---- */

/* mox's TLS public key fingerprint: SHA-256 of the DER SubjectPublicKeyInfo,
 * base64url without padding (store/tlspubkey.go). */
static int
cert_fingerprint(X509 *cert, struct buf *fp_r, struct buf *der_r, const char **error_r)
{
	unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int len;

	len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
	if (len <= 0) {
		*error_r = ms_err("encoding the public key: %s", ssl_error_text());
		return -1;
	}
	if (EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL) != 1) {
		OPENSSL_free(der);
		*error_r = ms_err("sha256: %s", ssl_error_text());
		return -1;
	}
	OPENSSL_free(der);
	buf_reset(fp_r);
	ms_base64url_encode(fp_r, md, mdlen);
	if (der_r != NULL) {
		der = NULL;
		len = i2d_X509(cert, &der);
		if (len <= 0) {
			*error_r = ms_err("encoding the certificate: %s", ssl_error_text());
			return -1;
		}
		buf_reset(der_r);
		buf_append(der_r, der, (size_t)len);
		OPENSSL_free(der);
	}
	return 0;
}

int
conn_tls_client_pubkey(struct conn *c, struct buf *fingerprint_r, struct buf *der_r)
{
	X509 *cert;
	const char *error;

	if (c->tls == NULL)
		return 0;
	cert = SSL_get0_peer_certificate(c->tls->ssl);
	if (cert == NULL)
		return 0;
	if (cert_fingerprint(cert, fingerprint_r, der_r, &error) < 0) {
		log_warn(c->cid, "ev=tls-client-certificate-error reason=%s", lq(error));
		return 0;
	}
	return 1;
}

/* Parse a PEM (first certificate block) or DER certificate. */
static X509 *
cert_parse(const char *p, size_t n, const char **error_r)
{
	X509 *cert;

	if (n == 0 || n > TLS_MAX_FILE_SIZE) {
		*error_r = "certificate: empty or too large";
		return NULL;
	}
	ERR_clear_error();
	if (memmem(p, n, "-----BEGIN", 10) != NULL) {
		BIO *bio = BIO_new_mem_buf(p, (int)n);

		if (bio == NULL)
			ms_panic("BIO_new_mem_buf failed");
		cert = PEM_read_bio_X509(bio, NULL, tls_no_passphrase, NULL);
		BIO_free(bio);
		if (cert == NULL)
			*error_r = ms_err("no PEM certificate found: %s", ssl_error_text());
	} else {
		const unsigned char *q = (const unsigned char *)p;

		cert = d2i_X509(NULL, &q, (long)n);
		if (cert == NULL) {
			*error_r = ms_err("not a PEM or DER certificate: %s", ssl_error_text());
		} else if (q != (const unsigned char *)p + n) {
			X509_free(cert);
			cert = NULL;
			*error_r = "DER certificate followed by other data";
		}
	}
	ERR_clear_error();
	return cert;
}

int
tls_pubkey_fingerprint_from_cert(const char *pem_or_der, size_t n, struct buf *fp_r,
	struct buf *der_r, const char **error_r)
{
	X509 *cert = cert_parse(pem_or_der, n, error_r);
	int ret;

	if (cert == NULL)
		return -1;
	ret = cert_fingerprint(cert, fp_r, der_r, error_r);
	X509_free(cert);
	return ret;
}

int
tls_pubkey_describe(const char *der, size_t n, struct buf *type_r, struct buf *name_r,
	const char **error_r)
{
	X509 *cert = cert_parse(der, n, error_r);
	EVP_PKEY *pk;
	X509_NAME *subject;
	int idx, ret = -1;

	if (cert == NULL)
		return -1;
	pk = X509_get0_pubkey(cert);
	buf_reset(type_r);
	buf_reset(name_r);
	if (pk == NULL) {
		*error_r = ms_err("certificate public key: %s", ssl_error_text());
		goto out;
	}
	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_RSA: {
		int bits = EVP_PKEY_get_bits(pk);

		if (bits < 2048) {
			*error_r = "rsa keys smaller than 2048 bits are not accepted";
			goto out;
		}
		buf_printf(type_r, "rsa-%d", bits);
		break;
	}
	case EVP_PKEY_EC: {
		static const struct {
			const char *openssl, *name;
		} curves[] = {
			{ "prime256v1", "p256" },
			{ "secp384r1", "p384" },
			{ "secp521r1", "p521" },
			{ "secp224r1", "p224" },
		};
		char group[64];
		size_t glen = 0, i;

		if (EVP_PKEY_get_group_name(pk, group, sizeof(group), &glen) != 1) {
			*error_r = "unknown elliptic curve";
			goto out;
		}
		for (i = 0; i < MS_NELEM(curves); i++) {
			if (strcmp(group, curves[i].openssl) == 0)
				break;
		}
		if (i == MS_NELEM(curves)) {
			*error_r = ms_err("elliptic curve %s is not supported", group);
			goto out;
		}
		buf_printf(type_r, "ecdsa-%s", curves[i].name);
		break;
	}
	case EVP_PKEY_ED25519:
		buf_puts(type_r, "ed25519");
		break;
	default:
		*error_r = ms_err("public key type %s is not supported",
			OBJ_nid2sn(EVP_PKEY_get_base_id(pk)));
		goto out;
	}

	subject = X509_get_subject_name(cert);
	idx = subject != NULL ? X509_NAME_get_index_by_NID(subject, NID_commonName, -1) : -1;
	if (idx >= 0) {
		unsigned char *utf8 = NULL;
		int len = ASN1_STRING_to_UTF8(&utf8,
			X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx)));

		if (len > 0)
			buf_append(name_r, utf8, (size_t)len);
		OPENSSL_free(utf8);
	}
	if (name_r->len == 0) {
		BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
		unsigned char bin[64];
		int len = bn != NULL && BN_num_bytes(bn) <= (int)sizeof(bin) ?
			BN_bn2bin(bn, bin) :
			0;

		buf_puts(name_r, "serial ");
		ms_hex_encode(name_r, bin, len > 0 ? (size_t)len : 0);
		BN_free(bn);
	}
	ret = 0;
out:
	ERR_clear_error();
	X509_free(cert);
	return ret;
}
