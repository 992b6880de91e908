/* Default TLS policy (see tlspolicy.h): no MTA-STS, no DANE yet.
 * Opportunistic STARTTLS; for REQUIRETLS messages PKIX verification
 * against the MX host name, allowed only when the MX records were
 * DNSSEC-authentic (RFC 8689 4.2.1). */
#include "config.h"

#include <string.h>

#include "core/log.h"
#include "queued.h"
#include "tlspolicy.h"

int
tlspolicy_for_domain(struct queued *q, const char *domain, int require_tls,
	struct tls_domain_policy *p, const char **error_r)
{
	(void)q;
	(void)domain;
	(void)require_tls;
	(void)error_r;
	p->mtasts_enforce = p->mtasts_testing = false;
	p->mtasts_mx = NULL;
	p->nmtasts_mx = 0;
	p->priv = NULL;
	return 0;
}

bool
tlspolicy_mx_allowed(const struct tls_domain_policy *p, const char *host)
{
	(void)p;
	(void)host;
	return true;
}

void
tlspolicy_for_host(struct queued *q, const struct tls_domain_policy *p, const char *host,
	bool is_mx, int require_tls, struct tls_host_policy *h)
{
	(void)q;
	memset(h, 0, sizeof(*h));
	h->mode = TLS_MODE_OPPORTUNISTIC;
	if (require_tls == 1) {
		/* RFC 8689 4.2.1: verified TLS to a host whose name we can
		 * trust: from DNSSEC-authentic MX records (MTA-STS would be
		 * the other way), or configured (smarthost). */
		h->mode = TLS_MODE_PKIX;
		h->verify_names[0] = host;
		h->nverify_names = 1;
		/* deliver.c refuses MX hosts of unauthenticated MX
		 * records for REQUIRETLS (without an MTA-STS policy). */
		(void)is_mx;
		(void)p;
	}
	if (require_tls == 0)
		h->ignore_errors = true;
}

void
tlspolicy_report(struct queued *q, const char *domain, const struct tls_domain_policy *p,
	const struct tls_outcome *o)
{
	(void)q;
	(void)p;
	log_debug(NULL, "proto=queue ev=tls-result domain=%s host=%s ip=%s starttls=%s tls=%s "
		"verified=%s failure=%s detail=%s", lq(domain), lq(o->host), lq(o->ip),
		o->starttls_offered ? "yes" : "no", o->tls_ok ? "yes" : "no",
		o->verified ? "yes" : "no", lq(o->failure ? o->failure : ""),
		lq(o->detail ? o->detail : ""));
}

void
tlspolicy_domain_free(struct tls_domain_policy *p)
{
	(void)p;
}
