/* The DNS records a domain needs (MX, SPF, DKIM, DMARC, MTA-STS, TLSRPT,
 * client autoconfiguration, DANE TLSA), computed from the configuration,
 * the domain's settings and its DKIM keys, and their comparison with what
 * DNS publishes. Used by "mailstead dns records|check" and the admin web
 * interface (DomainRecords, DomainCheck). */
#ifndef MS_ADMIN_DNSREC_H
#define MS_ADMIN_DNSREC_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "net/dns.h"

struct conf;
struct store;

struct dnsrec {
	char *comment;		/* explanation shown above it, or NULL */
	char *name;		/* owner, A-labels, no final dot */
	enum dns_type type;
	char *value;		/* canonical form compared with DNS (see dnsrec_check) */
	bool optional;		/* a check reports it without failing */
};

struct dnsrec_list {
	struct dnsrec *v;
	size_t n;
	char **warnings;	/* e.g. "no DKIM keys for ..." */
	size_t nwarnings;
};
void dnsrec_list_free(struct dnsrec_list *r);

/* The records for domain (as given by the user; parsed to A-labels here).
 * Returns 0 with r filled (free with dnsrec_list_free), or -1 with
 * *error_r (bad domain, unknown domain, database). */
int dnsrec_build(const struct conf *conf, struct store *st, const char *domain,
	struct dnsrec_list *r, const char **error_r);

/* Zone-file presentation of a record ("name. IN TXT \"...\""), appended. */
void dnsrec_presentation(const struct dnsrec *r, struct buf *out);

enum dnsrec_state { DNSREC_OK, DNSREC_MISSING, DNSREC_DIFFERENT, DNSREC_ERROR };
const char *dnsrec_state_name(enum dnsrec_state s);

struct dnsrec_result {
	enum dnsrec_state state;
	struct buf found;	/* the values found, "\"a\", \"b\"" */
	char *error;		/* DNS error text for DNSREC_ERROR, else NULL */
	bool authentic;		/* DNSSEC-validated answer */
};
/* Look r up and compare (case-insensitively) with what DNS has. res is
 * initialized here; free with dnsrec_result_free. */
void dnsrec_check(struct dns *d, const struct dnsrec *r, struct dnsrec_result *res);
void dnsrec_result_free(struct dnsrec_result *res);

/* The MTA-STS policy (RFC 8461 section 3.2) of a domain, for
 * https://mta-sts.<domain>/.well-known/mta-sts.txt, and its id for the
 * _mta-sts TXT record (changes with the policy). Returns 1 with policy
 * and id appended, 0 when the domain publishes no MTA-STS (unknown domain
 * or mode ""), -1 on error. */
int dnsrec_mtasts_policy(const struct conf *conf, struct store *st, const char *domain,
	struct buf *policy, struct buf *id, const char **error_r);

#endif
