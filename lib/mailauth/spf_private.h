/* SPF internals shared by spf.c (check_host) and spf_macro.c (RFC 7208 7
 * macros), and exposed to the unit test and the fuzz target. Not for other
 * modules. */
#ifndef MS_SPF_PRIVATE_H
#define MS_SPF_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "mailauth/spf.h"
#include "net/dns.h"

/* RFC 7208 4.6.4: DNS-querying terms, void lookups, and the MX/PTR names
 * looked up per term. */
#define SPF_MAX_LOOKUPS 10
#define SPF_MAX_VOID 2
#define SPF_MAX_NAMES 10
/* Bound on one macro expansion (a record full of %{s} must not make
 * megabytes); larger is a permerror. */
#define SPF_MAX_EXPANSION 8192

/* One evaluation of spf_check(): the client, the sender, the counters and
 * what the DNS answered so far. */
struct spf_ctx {
	struct dns *d;		/* NULL: no lookups (%{p} is "unknown") */
	const struct spf_args *args;
	bool v4;		/* the client is IPv4 (also for ::ffff:a.b.c.d) */
	unsigned char ip[16];	/* v4: first 4 bytes */
	char ip_text[64];	/* v4 dotted or v6 compressed, for PTR and %{c} */
	const char *localpart;	/* "postmaster" when not given */
	const char *sender_domain;
	int64_t now;
	unsigned lookups, void_lookups;
	unsigned answers;	/* DNS answers used */
	bool all_authentic;	/* so far every answer was authentic */
	/* RFC 7208 5.5 validated PTR names, looked up once. */
	bool ptr_done;
	char *ptr_names[SPF_MAX_NAMES];
	size_t ptr_n;
	char *problem;		/* first temperror/permerror reason */
	char *explanation;
};

/* Set up ctx for args (the client address parsed). Returns 0, or -1 with
 * *error_r when args->ip is not an IP address. Free with spf_ctx_free. */
int spf_ctx_init(struct spf_ctx *c, struct dns *d, const struct spf_args *args,
	const char **error_r);
void spf_ctx_free(struct spf_ctx *c);

/* RFC 7208 5.5: the validated names of the client (PTR names whose A/AAAA
 * include the client), looked up on first use. */
void spf_ptr_validate(struct spf_ctx *c);

/* Syntax of a macro-string (RFC 7208 7.1) of len bytes. explanation: the
 * text of an exp= TXT record (SP and %{c} %{r} %{t} allowed). *ends_macro_r
 * (may be NULL) tells whether the string ends in a macro-expand, for the
 * domain-end rule. Returns 0 or -1 with *error_r. */
int spf_macro_check(const char *s, size_t len, bool explanation,
	bool *ends_macro_r, const char **error_r);

/* Expand macro-string s for current domain `domain`, appending to out.
 * domain_spec: the result is a name, truncated from the left to 253 bytes
 * (RFC 7208 7.3) without a final dot. Returns 0 or -1 with *error_r
 * (syntax, or longer than SPF_MAX_EXPANSION). */
int spf_macro_expand_ctx(struct spf_ctx *c, const char *domain, const char *s,
	size_t len, bool explanation, bool domain_spec, struct buf *out,
	const char **error_r);

/* The expander for tests: args as for spf_check, d may be NULL (then
 * %{p} is "unknown"). Same returns as spf_macro_expand_ctx. */
int spf_macro_expand(struct dns *d, const struct spf_args *args, const char *domain,
	const char *s, size_t len, bool explanation, bool domain_spec, struct buf *out,
	const char **error_r);

/* check_host() with record (len bytes, may hold NULs) taken as the SPF
 * record of args->domain instead of looking it up (includes, redirects
 * and everything else do use DNS). For the fuzz target. Fills *out like
 * spf_check. */
enum spf_result spf_check_record(struct dns *d, const struct spf_args *args,
	const char *record, size_t len, struct spf_outcome *out);

#endif
