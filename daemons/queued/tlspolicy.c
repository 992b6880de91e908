/* The TLS policy of mailstead-queued (see tlspolicy.h): the seam's
 * functions on top of lib/mailauth/tlspolicy (MTA-STS with its cache,
 * DANE, REQUIRETLS / TLS-Required: No, TLSRPT results).
 *
 * Mapping of lib/mailauth/tlspolicy's host requirements to the seam's
 * modes: DANE verification -> TLS_MODE_DANE; PKIX (MTA-STS enforce,
 * REQUIRETLS) -> TLS_MODE_PKIX with the host name; TLS required without
 * authentication (secure TLSA records, none usable, RFC 7672 2.2) ->
 * TLS_MODE_DANE whose verify hook accepts any certificate; otherwise
 * opportunistic (with a verify hook for MTA-STS testing reports). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "mail/addr.h"
#include "mailauth/tlspolicy.h"
#include "queued.h"
#include "tlspolicy.h"

/* The policy state of one recipient domain and attempt (p->priv). */
struct seam_domain {
	struct queued *q;
	struct tlspolicy_domain d;
	bool have_d;		/* d is set up (not for smarthosts) */
	bool mx_authentic;
	/* Host policies handed out (one per connection attempt), alive as
	 * long as the domain policy: they are the prepare/verify args. */
	struct seam_host **hosts;
	size_t nhosts;
};

struct seam_host {
	struct seam_domain *sd;
	struct tlspolicy_host h;
	bool recorded;
};

static enum tlspolicy_sender
sender_of(int require_tls)
{
	return require_tls == 1 ? TLSPOLICY_SENDER_REQUIRETLS :
		require_tls == 0 ? TLSPOLICY_SENDER_TLS_OPTIONAL : TLSPOLICY_SENDER_DEFAULT;
}

int
tlspolicy_for_domain(struct queued *q, const char *domain, int require_tls,
	struct tls_domain_policy *p, const char **error_r)
{
	struct seam_domain *sd = xcalloc(1, sizeof(*sd));
	char *uni = NULL, *ascii = NULL;
	const char *err = NULL;
	int rc;

	p->mtasts_enforce = p->mtasts_testing = false;
	p->mtasts_mx = NULL;
	p->nmtasts_mx = 0;
	p->priv = sd;
	sd->q = q;
	sd->mx_authentic = p->mx_authentic;
	if (q->tlspolicy == NULL || domain[0] == '[')
		return 0;	/* address literal: no MTA-STS (no domain) */
	/* MTA-STS names and the policy's mx patterns are in A-label form. */
	if (mail_domain_parse(domain, strlen(domain), true, &uni, &ascii, &err) != 0) {
		*error_r = ms_err("recipient domain %s: %s", domain, err);
		return -1;
	}
	rc = tlspolicy_domain_begin(q->tlspolicy, ascii, sender_of(require_tls), &sd->d, error_r);
	free(uni);
	free(ascii);
	sd->have_d = true;
	if (rc != 0) {
		log_info(NULL, "proto=queue ev=mtasts-unknown domain=%s err=%s", lq(domain),
			lq(*error_r));
		return -1;
	}
	if (sd->d.sts.have_policy) {
		p->mtasts_enforce = sd->d.sts_enforce;
		p->mtasts_testing = sd->d.sts_testing;
		p->mtasts_mx = sd->d.sts.policy.mx;
		p->nmtasts_mx = sd->d.sts.policy.nmx;
		log_debug(NULL, "proto=queue ev=mtasts domain=%s mode=%s id=%s cached=%s", lq(domain),
			mtasts_mode_name(sd->d.sts.policy.mode), lq(sd->d.sts.record_id),
			sd->d.sts.from_cache ? "yes" : "no");
	}
	return 0;
}

static void
record(struct seam_host *sh, const char *ip)
{
	if (sh->recorded)
		return;
	sh->recorded = true;
	tlspolicy_host_record(sh->sd->q->tlspolicy, &sh->sd->d, &sh->h, NULL, ip);
}

bool
tlspolicy_mx_allowed(const struct tls_domain_policy *p, const char *host)
{
	struct seam_domain *sd = p->priv;
	struct seam_host sh;

	if (sd == NULL || !sd->have_d || !sd->d.sts_enforce ||
		sd->d.sender == TLSPOLICY_SENDER_TLS_OPTIONAL ||
		mtasts_policy_matches(&sd->d.sts.policy, host))
		return true;
	/* Not allowed by an enforced policy (RFC 8461 section 4.1): the
	 * attempt counts as a failed session for the domain's TLS report.
	 * tlspolicy_host_begin stops before any DNS lookup here. */
	memset(&sh, 0, sizeof(sh));
	sh.sd = sd;
	tlspolicy_host_begin(sd->q->tlspolicy, &sd->d, host, sd->mx_authentic, &sh.h);
	log_info(NULL, "proto=queue ev=mtasts-mx-mismatch domain=%s host=%s", lq(sd->d.domain),
		lq(host));
	record(&sh, NULL);
	tlspolicy_host_end(&sh.h);
	return false;
}

static int
seam_prepare(void *arg, struct ssl_st *ssl, const char **error_r)
{
	struct seam_host *sh = arg;

	return tlspolicy_ssl_prepare(&sh->h, ssl, error_r);
}

static int
seam_verify(void *arg, struct ssl_st *ssl, const struct tls_client_result *r,
	const char **error_r)
{
	struct seam_host *sh = arg;

	(void)r;
	if (tlspolicy_ssl_check(&sh->h, ssl, error_r) != 0)
		return 0;
	if (sh->h.verified)
		return 1;
	/* Required TLS without authentication (all TLSA records unusable)
	 * is all that is asked: "verified" for the seam. */
	if (sh->h.tls == TLSPOLICY_TLS_REQUIRED && !sh->h.pkix && !sh->h.dane)
		return 1;
	if (sh->h.result != TLSRPT_SUCCESS)
		*error_r = ms_err("%s (%s)", tlsrpt_result_type_name(sh->h.result),
			sh->h.result_reason ? sh->h.result_reason : "");
	else
		*error_r = "not verified";
	return 0;
}

void
tlspolicy_for_host(struct queued *q, const struct tls_domain_policy *p, const char *host,
	bool is_mx, int require_tls, struct tls_host_policy *h)
{
	struct seam_domain *sd = p != NULL ? p->priv : NULL;
	struct seam_host *sh;

	memset(h, 0, sizeof(*h));
	h->mode = TLS_MODE_OPPORTUNISTIC;
	if (sd == NULL || !sd->have_d || !is_mx) {
		/* Smarthosts and address literals: deliver.c's transport
		 * settings; REQUIRETLS needs the configured name verified. */
		if (require_tls == 1 && host[0] != '[') {
			h->mode = TLS_MODE_PKIX;
			h->verify_names[0] = host;
			h->nverify_names = 1;
		}
		h->ignore_errors = require_tls == 0;
		return;
	}
	sh = xcalloc(1, sizeof(*sh));
	sh->sd = sd;
	sd->hosts = xrealloc(sd->hosts, (sd->nhosts + 1) * sizeof(*sd->hosts));
	sd->hosts[sd->nhosts++] = sh;
	tlspolicy_host_begin(q->tlspolicy, &sd->d, host, sd->mx_authentic, &sh->h);
	log_debug(NULL, "proto=queue ev=tls-policy domain=%s host=%s mode=%s dane=%s reason=%s",
		lq(sd->d.domain), lq(host), tlspolicy_host_mode(&sh->h),
		dane_status_name(sh->h.dh.status), lq(sh->h.dh.reason ? sh->h.dh.reason : ""));
	if (sh->h.skip) {
		h->skip = sh->h.skip_reason;
		h->skip_permanent = sh->h.skip_permanent;
		record(sh, NULL);
		return;
	}
	h->prepare = seam_prepare;
	h->prepare_arg = sh;
	h->ignore_errors = sh->h.ignore_verify_errors;
	if (sh->h.dane || (sh->h.tls == TLSPOLICY_TLS_REQUIRED && !sh->h.pkix)) {
		h->mode = TLS_MODE_DANE;
		h->verify = seam_verify;
	} else if (sh->h.pkix) {
		h->mode = TLS_MODE_PKIX;
		h->verify_names[0] = sh->h.host;
		h->nverify_names = 1;
		h->verify = seam_verify;
	} else if (sh->h.pkix_report) {
		h->verify = seam_verify;
	}
}

void
tlspolicy_report(struct queued *q, const char *domain, const struct tls_domain_policy *p,
	const struct tls_outcome *o)
{
	struct seam_domain *sd = p != NULL ? p->priv : NULL;
	struct seam_host *sh = NULL;
	size_t i;

	(void)q;
	log_debug(NULL, "proto=queue ev=tls-result domain=%s host=%s ip=%s starttls=%s tls=%s "
		"verified=%s failure=%s detail=%s", lq(domain), lq(o->host), lq(o->ip),
		o->starttls_offered ? "yes" : "no", o->tls_ok ? "yes" : "no",
		o->verified ? "yes" : "no", lq(o->failure ? o->failure : ""),
		lq(o->detail ? o->detail : ""));
	if (sd == NULL || !sd->have_d)
		return;
	/* The latest connection attempt to this host. */
	for (i = sd->nhosts; i > 0; i--) {
		if (ms_strcaseeq(sd->hosts[i - 1]->h.host, o->host)) {
			sh = sd->hosts[i - 1];
			break;
		}
	}
	if (sh == NULL)
		return;
	if (!o->starttls_offered)
		(void)tlspolicy_tls_failed(&sh->h, true, NULL);
	else if (!o->tls_ok)
		(void)tlspolicy_tls_failed(&sh->h, false, o->detail);
	/* After a handshake the verify hook has set the outcome. */
	record(sh, o->ip);
}

void
tlspolicy_domain_free(struct tls_domain_policy *p)
{
	struct seam_domain *sd = p->priv;
	size_t i;

	if (sd == NULL)
		return;
	for (i = 0; i < sd->nhosts; i++) {
		tlspolicy_host_end(&sd->hosts[i]->h);
		free(sd->hosts[i]);
	}
	free(sd->hosts);
	if (sd->have_d)
		tlspolicy_domain_end(&sd->d);
	free(sd);
	p->priv = NULL;
	p->mtasts_mx = NULL;
	p->nmtasts_mx = 0;
}
