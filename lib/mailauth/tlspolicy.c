/* Outbound TLS policy: MTA-STS + DANE + REQUIRETLS decisions, SSL
 * verification and TLSRPT records; see tlspolicy.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"
#include "mailauth/tlspolicy.h"
#include "net/dns.h"

struct tlspolicy {
	struct tlspolicy_config cfg;
	struct mtasts_fetch_options fetch;
	SSL_CTX *ctx;
};

struct tlspolicy *
tlspolicy_new(const struct tlspolicy_config *cfg, const char **error_r)
{
	struct tlspolicy *tp = xcalloc(1, sizeof(*tp));

	tp->cfg = *cfg;
	tp->fetch.ca_file = cfg->ca_file;
	tp->fetch.port = cfg->mtasts_port;
	tp->fetch.timeout_ms = cfg->mtasts_timeout_ms;
	tp->fetch.dns = cfg->dns;
	tp->ctx = SSL_CTX_new(TLS_client_method());
	if (tp->ctx == NULL) {
		*error_r = "SSL_CTX_new failed";
		goto fail;
	}
	/* Certificates are checked after the handshake (tlspolicy_ssl_check)
	 * so that opportunistic TLS works with any certificate and failures
	 * can be reported with their reason. */
	SSL_CTX_set_verify(tp->ctx, SSL_VERIFY_NONE, NULL);
	if (SSL_CTX_set_default_verify_paths(tp->ctx) != 1) {
		*error_r = "loading the system's CA certificates failed";
		goto fail;
	}
	if (cfg->ca_file != NULL && cfg->ca_file[0] != '\0' &&
		SSL_CTX_load_verify_locations(tp->ctx, cfg->ca_file, NULL) != 1) {
		*error_r = ms_err("loading CA certificates from %s failed", cfg->ca_file);
		goto fail;
	}
	if (dane_ctx_enable(tp->ctx, error_r) != 0)
		goto fail;
	return tp;
fail:
	ERR_clear_error();
	tlspolicy_free(&tp);
	return NULL;
}

void
tlspolicy_free(struct tlspolicy **tpp)
{
	struct tlspolicy *tp = *tpp;

	if (tp == NULL)
		return;
	SSL_CTX_free(tp->ctx);
	free(tp);
	*tpp = NULL;
}

SSL_CTX *
tlspolicy_ssl_ctx(struct tlspolicy *tp)
{
	return tp->ctx;
}

static void
split_policy_lines(struct tlspolicy_domain *d, const char *text)
{
	while (*text != '\0') {
		size_t n = strcspn(text, "\n");
		size_t m = n;

		if (m > 0 && text[m - 1] == '\r')
			m--;
		if (m > 0) {
			d->policy_lines = xrealloc(d->policy_lines,
				(d->npolicy_lines + 1) * sizeof(*d->policy_lines));
			d->policy_lines[d->npolicy_lines++] = xstrndup(text, m);
		}
		text += n;
		if (*text == '\n')
			text++;
	}
}

int
tlspolicy_domain_begin(struct tlspolicy *tp, const char *domain,
	enum tlspolicy_sender sender, struct tlspolicy_domain *d, const char **error_r)
{
	memset(d, 0, sizeof(*d));
	d->domain = xstrdup(domain);
	d->sender = sender;
	if (mtasts_get(tp->cfg.pool, tp->cfg.dns, &tp->fetch, domain, &d->sts, error_r) != 0) {
		struct tlsrpt_failure f = { TLSRPT_STS_POLICY_FETCH_ERROR, NULL, NULL, NULL,
			d->sts.reason };
		struct tlsrpt_result r = { .policy_domain = domain, .recipient_domain = domain,
			.policy_type = TLSRPT_POLICY_STS, .failure = 1, .details = &f, .ndetails = 1,
			.send_report = true };
		const char *err = NULL;

		if (tlsrpt_results_add(tp->cfg.pool, &r, 1, &err) != 0)
			log_warn(NULL, "ev=tlsrpt-record domain=%s error=%s", lq(domain), lq(err));
		d->sts_problem_recorded = true;
		if (sender != TLSPOLICY_SENDER_TLS_OPTIONAL)
			return -1;
		/* TLS-Required: No: deliver as without MTA-STS. */
		log_info(NULL, "ev=mtasts-ignored domain=%s reason=tls-required-no error=%s",
			lq(domain), lq(*error_r));
		mtasts_outcome_free(&d->sts);
		return 0;
	}
	if (d->sts.have_policy) {
		d->sts_enforce = d->sts.policy.mode == MTASTS_MODE_ENFORCE;
		d->sts_testing = d->sts.policy.mode == MTASTS_MODE_TESTING;
		split_policy_lines(d, d->sts.policy_text);
	}
	return 0;
}

void
tlspolicy_domain_end(struct tlspolicy_domain *d)
{
	size_t i;

	for (i = 0; i < d->npolicy_lines; i++)
		free(d->policy_lines[i]);
	free(d->policy_lines);
	mtasts_outcome_free(&d->sts);
	free(d->domain);
	memset(d, 0, sizeof(*d));
}

static void
host_fail(struct tlspolicy_host *h, enum tlsrpt_result_type t, const char *reason)
{
	h->result = t;
	free(h->result_reason);
	h->result_reason = reason != NULL ? xstrdup(reason) : NULL;
	h->failed = true;
}

static void
host_skip(struct tlspolicy_host *h, bool permanent, char *why)
{
	h->skip = true;
	h->skip_permanent = permanent;
	free(h->skip_reason);
	h->skip_reason = why;
}

void
tlspolicy_host_begin(struct tlspolicy *tp, struct tlspolicy_domain *d, const char *host,
	bool mx_authentic, struct tlspolicy_host *h)
{
	bool optional = d->sender == TLSPOLICY_SENDER_TLS_OPTIONAL;

	memset(h, 0, sizeof(*h));
	h->host = xstrdup(host);
	ms_str_lower(h->host);
	h->ignore_verify_errors = optional;

	/* RFC 8461 section 4.1: an MX host not in a testing/enforce policy.
	 * Enforce: not used (unless the sender said TLS-Required: No);
	 * testing: used, and reported. */
	if (d->sts.have_policy && d->sts.policy.mode != MTASTS_MODE_NONE &&
		!mtasts_policy_matches(&d->sts.policy, h->host)) {
		h->mx_mismatch = true;
		if (d->sts_enforce && !optional) {
			host_fail(h, TLSRPT_VALIDATION_FAILURE, "mtasts-policy-mx-mismatch");
			host_skip(h, false, xasprintf("MX host %s not allowed by the MTA-STS policy of %s"
				" (mode enforce)", h->host, d->domain));
			return;
		}
	}

	dane_host_lookup(tp->cfg.dns, h->host, mx_authentic, &h->dh);
	switch (h->dh.status) {
	case DANE_REQUIRED:
		/* RFC 7672: authenticated TLS with the TLSA records. MTA-STS
		 * does not add PKIX on top (RFC 8461 section 2: DANE takes
		 * precedence). */
		h->tls = TLSPOLICY_TLS_REQUIRED;
		h->dane = true;
		break;
	case DANE_UNUSABLE:
		/* RFC 7672 section 2.2: TLS, but no authentication from
		 * DANE; MTA-STS enforce still wants PKIX. */
		h->tls = TLSPOLICY_TLS_REQUIRED;
		h->pkix = d->sts_enforce;
		break;
	case DANE_TEMPERROR:
		if (!optional) {
			host_fail(h, TLSRPT_DNSSEC_INVALID, "tlsa-lookup-failed");
			host_skip(h, false, xasprintf("%s", h->dh.reason));
			return;
		}
		/* TLS-Required: No: as without DANE. */
		/* FALLTHROUGH */
	case DANE_NONE:
		if (d->sts_enforce) {
			h->tls = TLSPOLICY_TLS_REQUIRED;
			h->pkix = true;
		} else {
			h->tls = TLSPOLICY_TLS_OPPORTUNISTIC;
			h->pkix_report = d->sts_testing;
		}
		break;
	}
	if (optional) {
		/* RFC 8689 section 5: TLS-Required: No ignores the recipient's
		 * policies; STARTTLS is still tried. */
		h->tls = TLSPOLICY_TLS_OPPORTUNISTIC;
		return;
	}
	if (d->sender == TLSPOLICY_SENDER_REQUIRETLS && !h->dane && !(d->sts_enforce && h->pkix)) {
		/* RFC 8689 section 4.2.1: the MX host must come from DNSSEC-
		 * signed MX records or an MTA-STS policy, and its certificate
		 * must verify (PKIX for the MX host name, or DANE). TLSA
		 * records that are all unusable do not count (as mox). */
		if (mx_authentic) {
			h->tls = TLSPOLICY_TLS_REQUIRED;
			h->pkix = true;
			h->pkix_report = false;
		} else {
			host_skip(h, true, xasprintf("REQUIRETLS: the MX records of %s are not"
				" DNSSEC-signed, and it has no MTA-STS policy in mode enforce",
				d->domain));
		}
	}
}

void
tlspolicy_host_end(struct tlspolicy_host *h)
{
	free(h->host);
	free(h->skip_reason);
	free(h->result_reason);
	dane_host_free(&h->dh);
	memset(h, 0, sizeof(*h));
}

const char *
tlspolicy_host_mode(const struct tlspolicy_host *h)
{
	if (h->skip)
		return "skip";
	if (h->tls == TLSPOLICY_TLS_OPPORTUNISTIC)
		return h->ignore_verify_errors ? "opportunistic+tls-required-no" :
			h->pkix_report ? "opportunistic+pkix-report" : "opportunistic";
	if (h->dane)
		return "required+dane";
	if (h->pkix)
		return "required+pkix";
	return "required";
}

int
tlspolicy_ssl_prepare(struct tlspolicy_host *h, SSL *ssl, const char **error_r)
{
	if (h->dane)
		return dane_ssl_setup(ssl, &h->dh, error_r);
	/* SNI with the MX host name (RFC 8461 section 4.2; harmless
	 * otherwise and what servers with several certificates expect). */
	if (SSL_set_tlsext_host_name(ssl, h->host) != 1) {
		*error_r = "setting SNI failed";
		return -1;
	}
	if (h->pkix || h->pkix_report) {
		/* RFC 8461 section 4.2: the certificate must be valid for the
		 * MX host name; a wildcard only for the leftmost label. */
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (SSL_set1_host(ssl, h->host) != 1) {
			*error_r = "SSL_set1_host failed";
			return -1;
		}
	}
	SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	return 0;
}

enum tlsrpt_result_type
tlspolicy_verify_error_type(long v)
{
	switch (v) {
	case X509_V_OK:
		return TLSRPT_SUCCESS;
	case X509_V_ERR_HOSTNAME_MISMATCH:
		return TLSRPT_CERTIFICATE_HOST_MISMATCH;
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return TLSRPT_CERTIFICATE_EXPIRED;
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_CERT_UNTRUSTED:
	case X509_V_ERR_INVALID_CA:
		return TLSRPT_CERTIFICATE_NOT_TRUSTED;
	case X509_V_ERR_DANE_NO_MATCH:
		return TLSRPT_TLSA_INVALID;
	}
	return TLSRPT_VALIDATION_FAILURE;
}

int
tlspolicy_ssl_check(struct tlspolicy_host *h, SSL *ssl, const char **error_r)
{
	long v;

	if (h->dane) {
		int usage = 0;

		if (dane_ssl_verified(ssl, &usage, &v, error_r) == 0) {
			h->verified = true;
			return 0;
		}
		/* RFC 7672 section 2.2: a certificate that matches no usable
		 * TLSA record fails the delivery to this host. */
		host_fail(h, tlspolicy_verify_error_type(v), X509_verify_cert_error_string(v));
		if (h->result == TLSRPT_CERTIFICATE_HOST_MISMATCH || h->result == TLSRPT_SUCCESS)
			h->result = TLSRPT_TLSA_INVALID;
		goto failed;
	}
	if (!h->pkix && !h->pkix_report)
		return 0;
	v = SSL_get_verify_result(ssl);
	if (v == X509_V_OK && SSL_get0_peer_certificate(ssl) != NULL) {
		h->verified = true;
		return 0;
	}
	if (v == X509_V_OK)
		v = X509_V_ERR_UNSPECIFIED;
	*error_r = ms_err("certificate of %s not valid (PKIX): %s", h->host,
		X509_verify_cert_error_string(v));
	host_fail(h, tlspolicy_verify_error_type(v), X509_verify_cert_error_string(v));
	if (h->pkix_report) {
		/* MTA-STS testing: reported, not enforced (RFC 8461 sec. 5). */
		h->failed = false;
		return 0;
	}
failed:
	if (h->ignore_verify_errors) {
		log_info(NULL, "ev=tls-verify-ignored host=%s reason=tls-required-no error=%s",
			lq(h->host), lq(*error_r));
		return 0;
	}
	return -1;
}

bool
tlspolicy_tls_failed(struct tlspolicy_host *h, bool not_offered, const char *why)
{
	host_fail(h, not_offered ? TLSRPT_STARTTLS_NOT_SUPPORTED : TLSRPT_VALIDATION_FAILURE,
		not_offered ? NULL : why);
	if (h->tls == TLSPOLICY_TLS_OPPORTUNISTIC || h->ignore_verify_errors) {
		/* Opportunistic: plaintext is the expected fallback and no
		 * policy failed, so the session is not a failure for the
		 * recipient domain's report. */
		if (h->tls == TLSPOLICY_TLS_OPPORTUNISTIC && !h->ignore_verify_errors)
			h->failed = false;
		return true;
	}
	return false;
}

static bool
dane_type(enum tlsrpt_result_type t)
{
	return t == TLSRPT_TLSA_INVALID || t == TLSRPT_DNSSEC_INVALID || t == TLSRPT_DANE_REQUIRED;
}

void
tlspolicy_host_record(struct tlspolicy *tp, struct tlspolicy_domain *d,
	const struct tlspolicy_host *h, const char *local_ip, const char *remote_ip)
{
	struct tlsrpt_failure dfail[3], hfail[2];
	struct tlsrpt_result r[2];
	struct buf *tlsa = NULL;
	const char **tlsa_strs = NULL;
	enum tlsrpt_result_type sts_type;
	size_t n = 0, nd = 0, nh = 0, i;
	const char *err = NULL;
	bool host_result = h->dh.address_authentic && h->dh.status != DANE_NONE;

	memset(r, 0, sizeof(r));
	/* The recipient domain's (MTA-STS) result. */
	if (d->sts.result_type != NULL && !d->sts_problem_recorded &&
		tlsrpt_result_type_parse(d->sts.result_type, &sts_type) == 0) {
		dfail[nd++] = (struct tlsrpt_failure){ sts_type, NULL, NULL, NULL, d->sts.reason };
		d->sts_problem_recorded = true;
	}
	if (h->mx_mismatch && h->result != TLSRPT_VALIDATION_FAILURE)
		dfail[nd++] = (struct tlsrpt_failure){ TLSRPT_VALIDATION_FAILURE, local_ip, h->host,
			remote_ip, "mtasts-policy-mx-mismatch" };
	if (h->result != TLSRPT_SUCCESS && (!dane_type(h->result) || !host_result))
		dfail[nd++] = (struct tlsrpt_failure){ h->result, local_ip, h->host, remote_ip,
			h->result_reason };
	r[n].policy_domain = d->domain;
	r[n].recipient_domain = d->domain;
	r[n].is_host = false;
	if (d->sts.have_policy && d->sts.policy.mode != MTASTS_MODE_NONE) {
		r[n].policy_type = TLSRPT_POLICY_STS;
		r[n].policy_strings = (const char *const *)d->policy_lines;
		r[n].npolicy_strings = d->npolicy_lines;
		r[n].policy_mx = (const char *const *)d->sts.policy.mx;
		r[n].npolicy_mx = d->sts.policy.nmx;
	}
	r[n].success = h->failed ? 0 : 1;
	r[n].failure = h->failed ? 1 : 0;
	r[n].details = dfail;
	r[n].ndetails = nd;
	r[n].send_report = !d->no_report;
	n++;

	/* The MX host's (DANE) result, for hosts under DNSSEC with TLSA. */
	if (host_result) {
		if (h->dh.status == DANE_UNUSABLE)
			hfail[nh++] = (struct tlsrpt_failure){ TLSRPT_TLSA_INVALID, local_ip, h->host,
				remote_ip, "all-unusable-records+ignored" };
		if (h->result != TLSRPT_SUCCESS)
			hfail[nh++] = (struct tlsrpt_failure){ h->result, local_ip, h->host, remote_ip,
				h->result_reason };
		tlsa = xcalloc(h->dh.ntlsa > 0 ? h->dh.ntlsa : 1, sizeof(*tlsa));
		tlsa_strs = xcalloc(h->dh.ntlsa > 0 ? h->dh.ntlsa : 1, sizeof(*tlsa_strs));
		for (i = 0; i < h->dh.ntlsa; i++) {
			buf_init(&tlsa[i]);
			dane_tlsa_format(&h->dh.tlsa[i], &tlsa[i]);
			tlsa_strs[i] = tlsa[i].data;
		}
		r[n].policy_domain = h->dh.base_domain != NULL ? h->dh.base_domain : h->host;
		r[n].recipient_domain = d->domain;
		r[n].is_host = true;
		r[n].policy_type = TLSRPT_POLICY_TLSA;
		r[n].policy_strings = tlsa_strs;
		r[n].npolicy_strings = h->dh.ntlsa;
		r[n].success = h->failed ? 0 : 1;
		r[n].failure = h->failed ? 1 : 0;
		r[n].details = hfail;
		r[n].ndetails = nh;
		r[n].send_report = !d->no_report;
		n++;
	}
	if (tlsrpt_results_add(tp->cfg.pool, r, n, &err) != 0)
		log_warn(NULL, "ev=tlsrpt-record domain=%s host=%s error=%s", lq(d->domain),
			lq(h->host), lq(err));
	if (tlsa != NULL) {
		for (i = 0; i < h->dh.ntlsa; i++)
			buf_free(&tlsa[i]);
		free(tlsa);
		free(tlsa_strs);
	}
}
