/* DANE TLSA gathering and verification for SMTP (RFC 7672), see dane.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "core/buf.h"
#include "core/util.h"
#include "net/dane.h"
#include "net/dns.h"

const char *
dane_status_name(enum dane_status s)
{
	switch (s) {
	case DANE_NONE:
		return "none";
	case DANE_REQUIRED:
		return "required";
	case DANE_UNUSABLE:
		return "unusable";
	case DANE_TEMPERROR:
		return "temperror";
	}
	return "none";
}

bool
dane_tlsa_usable(const struct dane_tlsa *t)
{
	/* RFC 7672 section 3.1.3: PKIX-TA(0) and PKIX-EE(1) are unusable
	 * for SMTP; RFC 6698 section 2.1.2/2.1.3: selectors 0 and 1,
	 * matching types 0 (full), 1 (SHA2-256) and 2 (SHA2-512). A digest
	 * of the wrong length can never match, so it is unusable too. */
	if (t->usage != DANE_USAGE_DANE_TA && t->usage != DANE_USAGE_DANE_EE)
		return false;
	if (t->selector > 1)
		return false;
	switch (t->mtype) {
	case 0:
		return t->len > 0;
	case 1:
		return t->len == 32;
	case 2:
		return t->len == 64;
	}
	return false;
}

void
dane_tlsa_format(const struct dane_tlsa *t, struct buf *out)
{
	buf_printf(out, "%u %u %u ", t->usage, t->selector, t->mtype);
	ms_hex_encode(out, t->data, t->len);
}

void
dane_host_free(struct dane_host *h)
{
	size_t i;

	for (i = 0; i < h->ntlsa; i++)
		free(h->tlsa[i].data);
	free(h->tlsa);
	for (i = 0; i < h->nnames; i++)
		free(h->names[i]);
	free(h->names);
	free(h->expanded);
	free(h->base_domain);
	free(h->reason);
	memset(h, 0, sizeof(*h));
}

static void
set_reason(struct dane_host *h, enum dane_status s, char *reason)
{
	h->status = s;
	free(h->reason);
	h->reason = reason;
}

static void
add_name(struct dane_host *h, const char *name)
{
	size_t i;

	for (i = 0; i < h->nnames; i++)
		if (strcmp(h->names[i], name) == 0)
			return;
	h->names = xrealloc(h->names, (h->nnames + 1) * sizeof(*h->names));
	h->names[h->nnames++] = xstrdup(name);
}

static char *
norm_host(const char *s)
{
	char *n = xstrdup(s);
	size_t len = strlen(n);

	if (len > 0 && n[len - 1] == '.')
		n[len - 1] = '\0';
	ms_str_lower(n);
	return n;
}

/* TLSA records at _25._tcp.<base>: 1 secure records found (h filled),
 * 0 none that count (insecure or secure denial), -1 lookup failed. */
static int
tlsa_at(struct dns *d, const char *base, struct dane_host *h)
{
	char *name = xasprintf("_25._tcp.%s", base);
	struct dns_answer a;
	size_t i;
	int ret = 0;

	dns_lookup(d, name, DNS_TLSA, &a);
	switch (a.status) {
	case DNS_TEMPERROR:
		/* Section 2.2: a failed TLSA lookup for a secure host (e.g.
		 * a bogus signature) means the host is not used now; it
		 * could be an attack hiding the records. */
		set_reason(h, DANE_TEMPERROR, xasprintf("TLSA lookup of %s failed: %s", name,
			a.error ? a.error : "temporary error"));
		ret = -1;
		break;
	case DNS_OK:
		if (!a.authentic) {
			/* Insecure TLSA records cannot be trusted: no DANE. */
			set_reason(h, DANE_NONE, xasprintf("TLSA records of %s are not DNSSEC-signed",
				name));
			break;
		}
		for (i = 0; i < a.n; i++) {
			struct dane_tlsa t = { a.rr[i].usage, a.rr[i].selector, a.rr[i].mtype, NULL,
				a.rr[i].data_len };

			if (!dane_tlsa_usable(&t)) {
				h->nunusable++;
				continue;
			}
			t.data = xmalloc(t.len);
			memcpy(t.data, a.rr[i].data, t.len);
			h->tlsa = xrealloc(h->tlsa, (h->ntlsa + 1) * sizeof(*h->tlsa));
			h->tlsa[h->ntlsa++] = t;
		}
		free(h->base_domain);
		h->base_domain = xstrdup(base);
		if (h->ntlsa > 0)
			set_reason(h, DANE_REQUIRED, xasprintf("%zu usable TLSA records at %s",
				h->ntlsa, name));
		else
			set_reason(h, DANE_UNUSABLE, xasprintf("%zu TLSA records at %s, none usable",
				h->nunusable, name));
		ret = 1;
		break;
	default:
		set_reason(h, DANE_NONE, xasprintf("no TLSA records at %s (%s)", name,
			a.authentic ? "secure denial" : "insecure"));
		break;
	}
	dns_answer_free(&a);
	free(name);
	return ret;
}

void
dane_host_lookup(struct dns *d, const char *host, bool mx_authentic, struct dane_host *h)
{
	struct dns_answer a;
	char *orig = norm_host(host);
	int rc;

	memset(h, 0, sizeof(*h));
	h->expanded = xstrdup(orig);
	if (!mx_authentic) {
		/* Section 2.2.1: without a secure MX RRset an attacker could
		 * have chosen the host; its TLSA records prove nothing. */
		set_reason(h, DANE_NONE, xstrdup("MX lookup not DNSSEC-secure"));
		free(orig);
		return;
	}
	/* Section 2.2.2: addresses first, TLSA only for a secure host (old
	 * unsigned servers may mishandle TLSA queries). */
	if (dns_lookup(d, orig, DNS_A, &a) != DNS_OK) {
		dns_answer_free(&a);
		dns_lookup(d, orig, DNS_AAAA, &a);
	}
	if (a.status != DNS_OK) {
		set_reason(h, DANE_NONE, xasprintf("no address for %s: %s", orig,
			dns_status_name(a.status)));
		dns_answer_free(&a);
		free(orig);
		return;
	}
	h->address_authentic = a.authentic;
	if (a.canonical != NULL && a.canonical[0] != '\0') {
		free(h->expanded);
		h->expanded = norm_host(a.canonical);
	}
	dns_answer_free(&a);
	if (!h->address_authentic) {
		set_reason(h, DANE_NONE, xasprintf("address records of %s not DNSSEC-secure", orig));
		free(orig);
		return;
	}
	/* The expanded name first, then the original one. */
	rc = tlsa_at(d, h->expanded, h);
	if (rc == 0 && strcmp(h->expanded, orig) != 0)
		rc = tlsa_at(d, orig, h);
	if (rc == 1) {
		/* Section 3.2.2: reference identifiers for DANE-TA. */
		add_name(h, h->base_domain);
		add_name(h, orig);
		add_name(h, h->expanded);
	}
	free(orig);
}

int
dane_ctx_enable(SSL_CTX *ctx, const char **error_r)
{
	if (SSL_CTX_dane_enable(ctx) <= 0) {
		*error_r = "SSL_CTX_dane_enable failed";
		return -1;
	}
	return 0;
}

int
dane_ssl_setup(SSL *ssl, const struct dane_host *h, const char **error_r)
{
	size_t i, usable = 0;

	if (h->status != DANE_REQUIRED || h->base_domain == NULL) {
		*error_r = "no usable TLSA records";
		return -1;
	}
	/* Section 8.1: SNI is the TLSA base domain; SSL_dane_enable sets it
	 * as the SNI name and as the primary reference identifier. */
	if (SSL_dane_enable(ssl, h->base_domain) <= 0) {
		*error_r = "SSL_dane_enable failed (DANE not enabled on the SSL_CTX?)";
		return -1;
	}
	/* Explicitly: a caller may have set another SNI name before. */
	if (SSL_set_tlsext_host_name(ssl, h->base_domain) != 1) {
		*error_r = "setting SNI failed";
		return -1;
	}
	/* Section 3.1.1: DANE-EE authenticates the key, names in the
	 * certificate (and its expiry) do not matter. */
	SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
	/* Section 3.2.3: a wildcard only as the whole leftmost label. */
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	for (i = 0; i < h->nnames; i++) {
		if (strcmp(h->names[i], h->base_domain) != 0 && SSL_add1_host(ssl, h->names[i]) != 1) {
			*error_r = "SSL_add1_host failed";
			return -1;
		}
	}
	for (i = 0; i < h->ntlsa; i++) {
		const struct dane_tlsa *t = &h->tlsa[i];
		int rc = SSL_dane_tlsa_add(ssl, t->usage, t->selector, t->mtype, t->data, t->len);

		if (rc < 0) {
			*error_r = "SSL_dane_tlsa_add failed";
			return -1;
		}
		if (rc > 0)
			usable++;
	}
	if (usable == 0) {
		*error_r = "OpenSSL found none of the TLSA records usable";
		return -1;
	}
	/* Verification runs during the handshake but does not abort it; the
	 * result is checked afterwards (dane_ssl_verified). */
	SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	return 0;
}

int
dane_ssl_verified(SSL *ssl, int *usage_r, long *verify_error_r, const char **error_r)
{
	long v = SSL_get_verify_result(ssl);
	uint8_t usage = 0;

	*verify_error_r = v;
	if (SSL_get0_peer_certificate(ssl) == NULL) {
		*verify_error_r = X509_V_ERR_UNSPECIFIED;
		*error_r = "no server certificate";
		return -1;
	}
	if (v != X509_V_OK || SSL_get0_dane_authority(ssl, NULL, NULL) < 0) {
		if (v == X509_V_OK)
			v = *verify_error_r = X509_V_ERR_DANE_NO_MATCH;
		*error_r = ms_err("DANE verification failed: %s", X509_verify_cert_error_string(v));
		return -1;
	}
	if (SSL_get0_dane_tlsa(ssl, &usage, NULL, NULL, NULL, NULL) < 0) {
		*verify_error_r = X509_V_ERR_DANE_NO_MATCH;
		*error_r = "DANE verification failed: no matched record";
		return -1;
	}
	*usage_r = usage;
	return 0;
}
