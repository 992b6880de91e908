/* SPF (RFC 7208): check_host() with every mechanism and modifier, macro
 * expansion, the DNS lookup limits, explanations, and the Received-SPF
 * header field. DNS comes from lib/net/dns. */
#ifndef MS_SPF_H
#define MS_SPF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "net/dns.h"

enum spf_result {
	SPF_NONE = 0,
	SPF_NEUTRAL,
	SPF_PASS,
	SPF_FAIL,
	SPF_SOFTFAIL,
	SPF_TEMPERROR,
	SPF_PERMERROR,
};

struct spf_args {
	const char *ip;		/* the client's address, IPv4 or IPv6 text */
	/* The identity checked: MAIL FROM's domain, or the HELO name for the
	 * HELO identity (then localpart "postmaster"). */
	const char *domain;
	const char *localpart;	/* MAIL FROM localpart; NULL/"" = "postmaster" */
	const char *helo;	/* EHLO/HELO name as given, for %{h} */
	const char *receiver;	/* our host name, for %{r} */
	int64_t now;		/* unix seconds for %{t}; 0 = now */
};

struct spf_outcome {
	enum spf_result result;
	char *mechanism;	/* the directive that matched ("ip4:192.0.2.0/24",
				 * "-all"), "default" when none did, NULL for
				 * none/temperror/permerror before a match */
	char *explanation;	/* fail: exp= text (expanded), else NULL */
	char *problem;		/* temperror/permerror: what went wrong */
	bool authentic;		/* every DNS answer used was DNSSEC-authentic */
	unsigned lookups;	/* DNS-querying terms evaluated (limit 10) */
	unsigned void_lookups;	/* lookups with no answer (limit 2) */
};

/* Evaluate SPF for args (RFC 7208 4, check_host()). Always fills *out
 * (free with spf_outcome_free) and returns out->result. */
enum spf_result spf_check(struct dns *d, const struct spf_args *args,
	struct spf_outcome *out);
void spf_outcome_free(struct spf_outcome *o);
/* "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror". */
const char *spf_result_name(enum spf_result r);

/* Append the Received-SPF header field (RFC 7208 9.1), folded at 78
 * columns, ending in CRLF. identity is "mailfrom" or "helo". */
void spf_received_header(struct buf *out, const struct spf_args *args,
	const char *identity, const struct spf_outcome *o);

/* Syntax check of a record ("v=spf1 ..."): 0, or -1 with *error_r (for
 * fuzzing and `mailstead dns check`). */
int spf_record_check(const char *record, size_t len, const char **error_r);

#endif
