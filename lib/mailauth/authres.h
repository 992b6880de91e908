/* iprev (RFC 8601 3: forward-confirmed reverse DNS) and the
 * Authentication-Results header field (RFC 8601) that reports it with the
 * SPF, DKIM and DMARC results. */
#ifndef MS_AUTHRES_H
#define MS_AUTHRES_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "mailauth/dkim.h"
#include "mailauth/dmarc.h"
#include "mailauth/spf.h"
#include "net/dns.h"

enum iprev_result {
	IPREV_PASS = 0,
	IPREV_FAIL,
	IPREV_TEMPERROR,
	IPREV_PERMERROR,
};

struct iprev_outcome {
	enum iprev_result result;
	char *name;		/* pass: the PTR name that resolves back */
	bool authentic;		/* the answers that decided were authentic */
};

/* Look up the PTR names of ip (at most 10 are tried) and their A/AAAA
 * records; pass when one of them contains ip. Fills *out (free with
 * iprev_outcome_free) and returns out->result. */
enum iprev_result iprev_check(struct dns *d, const char *ip, struct iprev_outcome *out);
void iprev_outcome_free(struct iprev_outcome *o);
const char *iprev_result_name(enum iprev_result r);

struct authres {
	const char *authserv_id;	/* our host name */
	const char *ip;			/* client address */
	const struct iprev_outcome *iprev;	/* NULL: not checked */
	/* SPF for the MAIL FROM identity (spf_mailfrom: address, or
	 * "postmaster@<helo>" for a null sender) and for HELO. */
	const struct spf_outcome *spf_mailfrom;
	const char *mailfrom;
	const struct spf_outcome *spf_helo;
	const char *helo;
	const struct dkim_result *dkim;	/* ndkim 0: dkim=none */
	size_t ndkim;
	const struct dmarc_outcome *dmarc;	/* NULL: not checked */
};

/* Append "Authentication-Results: ..." with one method per folded line,
 * ending in CRLF. DNSSEC-authentic lookups are noted as "(dnssec)". */
void authres_header(struct buf *out, const struct authres *ar);

#endif
