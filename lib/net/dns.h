/* DNS lookups on libunbound: A, AAAA, MX, TXT, PTR, TLSA and CNAME with the
 * DNSSEC "authentic" flag, temporary versus permanent failures, a per-query
 * timeout and unbound's own cache of results.
 *
 * By default the system's resolvers (/etc/resolv.conf) are used as
 * forwarders and answers are validated against the root trust anchor
 * (Debian's dns-root-data), so "authentic" means DNSSEC-validated here,
 * not merely the upstream's AD bit.
 *
 * Test mode loads a zone file as local data and answers everything from it
 * (names not in it do not exist), so SPF/DKIM/DMARC/MX/TLSA run offline
 * and deterministically. The file holds resource records in zone-file
 * presentation format, one per line ("name TTL IN TYPE data"; TTL and
 * class may be left out; names are absolute), "; comments", and three
 * directives of our own:
 *   $AUTHENTIC yes|no     answers for the records after it are (not)
 *                         DNSSEC-authentic (default no);
 *   $SERVFAIL name        any lookup of name fails temporarily;
 *   $TIMEOUT name         any lookup of name times out (temporary).
 */
#ifndef MS_DNS_H
#define MS_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum dns_type {
	DNS_A = 1,
	DNS_CNAME = 5,
	DNS_PTR = 12,
	DNS_MX = 15,
	DNS_TXT = 16,
	DNS_AAAA = 28,
	DNS_SRV = 33,
	DNS_TLSA = 52,
};

enum dns_status {
	DNS_OK = 0,		/* records in the answer (n > 0) */
	DNS_NXDOMAIN,		/* the name does not exist */
	DNS_NODATA,		/* the name exists, without records of the type */
	DNS_TEMPERROR,		/* timeout, SERVFAIL, DNSSEC bogus, network */
	DNS_PERMERROR,		/* the name is not a valid DNS name */
};

struct dns_rr {
	/* A/AAAA: the address as text; MX/PTR/CNAME: the target name in
	 * lower case without the trailing dot ("" for the null MX "."); TXT:
	 * the character-strings concatenated (text_len bytes, may contain
	 * NUL; a NUL is appended); SRV: the target. TLSA: NULL. */
	char *text;
	size_t text_len;
	uint16_t pref;		/* MX preference, SRV priority */
	uint16_t weight, port;	/* SRV */
	uint8_t usage, selector, mtype;	/* TLSA */
	unsigned char *data;	/* TLSA certificate association data */
	size_t data_len;
};

struct dns_answer {
	enum dns_status status;
	bool authentic;		/* DNSSEC-validated (secure) */
	uint32_t ttl;
	size_t n;
	struct dns_rr *rr;
	char *canonical;	/* the name after following CNAMEs */
	char *error;		/* why, for DNS_TEMPERROR/DNS_PERMERROR */
};

struct dns;

struct dns_options {
	/* Zone file for test mode; NULL: the MAILSTEAD_DNS_ZONE environment
	 * variable when set, else the system resolver. */
	const char *zone_file;
	/* Root trust anchor file; NULL: /usr/share/dns/root.key when it
	 * exists; "none": no validation (nothing is authentic). */
	const char *trust_anchor;
	/* resolv.conf to take forwarders from; NULL: /etc/resolv.conf. */
	const char *resolv_conf;
	int timeout_ms;		/* per query; 0: 10000 */
};

/* Create a resolver (thread-safe: one per process is enough). Returns NULL
 * with *error_r set when the zone file or configuration is bad. */
struct dns *dns_new(const struct dns_options *opts, const char **error_r);
void dns_free(struct dns **d);
/* Whether answers come from a zone file (test mode). */
bool dns_is_test_mode(const struct dns *d);

/* Look up name (with or without trailing dot; Unicode names are converted
 * to A-labels) for type. Fills *a (free it with dns_answer_free) and
 * returns a->status. */
enum dns_status dns_lookup(struct dns *d, const char *name, enum dns_type type,
	struct dns_answer *a);
/* PTR lookup for an IPv4/IPv6 address in text form. */
enum dns_status dns_lookup_ptr(struct dns *d, const char *ip, struct dns_answer *a);
void dns_answer_free(struct dns_answer *a);

/* Helpers for callers. */
const char *dns_status_name(enum dns_status s);
/* "A", "MX", "TXT", ... */
const char *dns_type_name(enum dns_type t);
/* The reverse-lookup name for an address ("4.3.2.1.in-addr.arpa"), or
 * NULL for an invalid address; malloc'd. */
char *dns_reverse_name(const char *ip);

#endif
