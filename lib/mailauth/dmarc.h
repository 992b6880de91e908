/* DMARC (RFC 7489): policy record discovery at the From domain and its
 * organizational domain (public suffix list via libpsl), SPF and DKIM
 * identifier alignment (strict/relaxed), policy or subdomain policy, pct
 * sampling, and the resulting disposition. */
#ifndef MS_DMARC_H
#define MS_DMARC_H

#include <stdbool.h>
#include <stddef.h>

#include "mailauth/dkim.h"
#include "mailauth/spf.h"
#include "net/dns.h"

enum dmarc_result {
	DMARC_NONE = 0,		/* no (valid) record */
	DMARC_PASS,
	DMARC_FAIL,
	DMARC_TEMPERROR,
	DMARC_PERMERROR,	/* e.g. no usable From domain */
};

enum dmarc_policy {
	DMARC_POLICY_NONE = 0,
	DMARC_POLICY_QUARANTINE,
	DMARC_POLICY_REJECT,
};

struct dmarc_record {
	enum dmarc_policy p, sp;
	bool sp_set;
	bool adkim_strict, aspf_strict;
	unsigned pct;		/* 0..100, default 100 */
	char *rua, *ruf;	/* as in the record, NULL if absent */
	char *fo, *rf;
	unsigned ri;		/* default 86400 */
};

struct dmarc_outcome {
	enum dmarc_result result;
	char *from_domain;	/* lower case, A-labels */
	char *record_domain;	/* where the record was found, NULL if none */
	struct dmarc_record rec;	/* valid when record_domain != NULL */
	enum dmarc_policy policy;	/* p or sp as applicable */
	/* What to do with a failing message: the policy, lowered one step
	 * when pct sampling left it out; DMARC_POLICY_NONE on pass. */
	enum dmarc_policy disposition;
	bool reject;		/* disposition == reject */
	bool spf_aligned, dkim_aligned;	/* aligned pass of each */
	char *dkim_aligned_domain;	/* the d= that gave DKIM alignment */
	bool authentic;		/* record lookups were DNSSEC-authentic */
	char *error;		/* temperror/permerror detail */
};

/* Evaluate DMARC for a message with From domain from_domain, given the SPF
 * outcome for spf_domain (the MAIL FROM domain, or the HELO name for a
 * null sender) and the DKIM results. sample is a number in [0, 100) to
 * compare with pct (pass a random one; tests pass fixed values). Fills
 * *out (free with dmarc_outcome_free) and returns out->result. */
enum dmarc_result dmarc_check(struct dns *d, const char *from_domain,
	const struct spf_outcome *spf, const char *spf_domain,
	const struct dkim_result *dkim, size_t ndkim, unsigned sample,
	struct dmarc_outcome *out);
void dmarc_outcome_free(struct dmarc_outcome *o);

/* Parse a record ("v=DMARC1; p=reject; ..."). Returns 0, or -1 with
 * *error_r; rec (free with dmarc_record_free) is filled on success. */
int dmarc_record_parse(const char *text, size_t len, struct dmarc_record *rec,
	const char **error_r);
void dmarc_record_free(struct dmarc_record *rec);

/* The organizational domain (RFC 7489 3.2) of an A-label domain in any
 * case, malloc'd and in lower case; the domain itself when it is a public
 * suffix or unknown. */
char *dmarc_org_domain(const char *domain);
/* Relaxed (same organizational domain) or strict (equal) alignment. */
bool dmarc_aligned(const char *a, const char *b, bool strict);

const char *dmarc_result_name(enum dmarc_result r);
const char *dmarc_policy_name(enum dmarc_policy p);

#endif
