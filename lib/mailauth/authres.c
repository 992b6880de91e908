/* iprev and Authentication-Results (RFC 8601), see authres.h. */
#include "config.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/util.h"
#include "mailauth/authres.h"

const char *
iprev_result_name(enum iprev_result r)
{
	switch (r) {
	case IPREV_PASS:
		return "pass";
	case IPREV_FAIL:
		return "fail";
	case IPREV_TEMPERROR:
		return "temperror";
	case IPREV_PERMERROR:
		return "permerror";
	}
	return "permerror";
}

void
iprev_outcome_free(struct iprev_outcome *o)
{
	free(o->name);
	memset(o, 0, sizeof(*o));
}

/* Whether the address text a is the same address as ip (in binary). */
static bool
same_ip(const char *a, const unsigned char *bin, int family)
{
	unsigned char x[16];

	return inet_pton(family, a, x) == 1 &&
	    memcmp(x, bin, family == AF_INET ? 4 : 16) == 0;
}

/*
 * RFC 8601 3: "the client IP address is looked up in the reverse tree
 * (PTR), each name found is looked up (A/AAAA), and the check passes if
 * one of them yields the client address". Errors: a temporary DNS
 * failure anywhere that could have changed the outcome is temperror; no
 * PTR record or no match is fail.
 */
enum iprev_result
iprev_check(struct dns *d, const char *ip, struct iprev_outcome *out)
{
	unsigned char bin[16];
	struct dns_answer ptr;
	bool temp = false;
	int family;
	size_t i, j;

	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, ip, bin) == 1)
		family = AF_INET;
	else if (inet_pton(AF_INET6, ip, bin) == 1)
		family = AF_INET6;
	else {
		out->result = IPREV_PERMERROR;
		return out->result;
	}
	switch (dns_lookup_ptr(d, ip, &ptr)) {
	case DNS_OK:
		break;
	case DNS_TEMPERROR:
		out->result = IPREV_TEMPERROR;
		dns_answer_free(&ptr);
		return out->result;
	default:
		out->result = IPREV_FAIL;
		out->authentic = ptr.authentic;
		dns_answer_free(&ptr);
		return out->result;
	}
	for (i = 0; i < ptr.n && i < 10; i++) {
		struct dns_answer fwd;

		if (ptr.rr[i].text[0] == '\0')
			continue;
		dns_lookup(d, ptr.rr[i].text, family == AF_INET ? DNS_A : DNS_AAAA, &fwd);
		if (fwd.status == DNS_TEMPERROR)
			temp = true;
		for (j = 0; fwd.status == DNS_OK && j < fwd.n; j++) {
			if (same_ip(fwd.rr[j].text, bin, family)) {
				out->result = IPREV_PASS;
				out->name = xstrdup(ptr.rr[i].text);
				out->authentic = ptr.authentic && fwd.authentic;
				dns_answer_free(&fwd);
				dns_answer_free(&ptr);
				return out->result;
			}
		}
		dns_answer_free(&fwd);
	}
	dns_answer_free(&ptr);
	out->result = temp ? IPREV_TEMPERROR : IPREV_FAIL;
	return out->result;
}

/* ---- Authentication-Results ---- */

/* RFC 8601 2.2: pvalue = [CFWS] ( value / [ [ local-part ] "@" ]
 * domain-name ) [CFWS]; value is a token or quoted-string. Anything that
 * is not plainly a token or an address is quoted. */
static void
put_value(struct buf *out, const char *v)
{
	const char *s;
	bool plain = v[0] != '\0';

	for (s = v; *s != '\0' && plain; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= ' ' || c >= 0x7f || strchr("()<>,;:\\\"/[]?=", c) != NULL)
			plain = false;
	}
	if (plain) {
		buf_puts(out, v);
		return;
	}
	buf_putc(out, '"');
	for (s = v; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			buf_putc(out, '\\');
		if (c == '\r' || c == '\n')
			continue;
		buf_putc(out, (char)c);
	}
	buf_putc(out, '"');
}

/* " (text)": a comment (RFC 5322 3.2.2) may not contain unbalanced
 * parentheses or backslashes; keep it simple and drop them, and CR/LF. */
static void
put_comment(struct buf *out, const char *text)
{
	const char *s;

	buf_puts(out, " (");
	for (s = text; *s != '\0'; s++)
		if (*s != '(' && *s != ')' && *s != '\\' && *s != '\r' && *s != '\n')
			buf_putc(out, *s);
	buf_putc(out, ')');
}

static void
method_start(struct buf *out, const char *method, const char *result)
{
	buf_printf(out, ";\r\n\t%s=%s", method, result);
}

void
authres_header(struct buf *out, const struct authres *ar)
{
	size_t i;

	buf_puts(out, "Authentication-Results: ");
	buf_puts(out, ar->authserv_id);
	if (ar->iprev != NULL) {
		method_start(out, "iprev", iprev_result_name(ar->iprev->result));
		if (ar->iprev->authentic)
			buf_puts(out, " (dnssec)");
		buf_puts(out, " policy.iprev=");
		put_value(out, ar->ip);
		/* The PTR name is the client's choice and may hold ')' or
		 * ';' (a label is any bytes): written raw it could end the
		 * comment and append results of its own. */
		if (ar->iprev->name != NULL)
			put_comment(out, ar->iprev->name);
	}
	if (ar->spf_mailfrom != NULL) {
		method_start(out, "spf", spf_result_name(ar->spf_mailfrom->result));
		if (ar->spf_mailfrom->authentic)
			buf_puts(out, " (dnssec)");
		buf_puts(out, " smtp.mailfrom=");
		put_value(out, ar->mailfrom != NULL ? ar->mailfrom : "");
	}
	if (ar->spf_helo != NULL) {
		method_start(out, "spf", spf_result_name(ar->spf_helo->result));
		if (ar->spf_helo->authentic)
			buf_puts(out, " (dnssec)");
		buf_puts(out, " smtp.helo=");
		put_value(out, ar->helo != NULL ? ar->helo : "");
	}
	if (ar->ndkim == 0 && ar->dmarc != NULL)
		method_start(out, "dkim", "none");
	for (i = 0; i < ar->ndkim; i++) {
		const struct dkim_result *k = &ar->dkim[i];

		method_start(out, "dkim", dkim_status_name(k->status));
		if (k->authentic)
			buf_puts(out, " (dnssec)");
		if (k->error != NULL)
			put_comment(out, k->error);
		if (k->domain != NULL) {
			buf_puts(out, " header.d=");
			put_value(out, k->domain);
		}
		if (k->selector != NULL) {
			buf_puts(out, " header.s=");
			put_value(out, k->selector);
		}
		if (k->algorithm != NULL) {
			buf_puts(out, " header.a=");
			put_value(out, k->algorithm);
		}
		if (k->b_prefix != NULL) {
			buf_puts(out, " header.b=");
			put_value(out, k->b_prefix);
		}
	}
	if (ar->dmarc != NULL) {
		method_start(out, "dmarc", dmarc_result_name(ar->dmarc->result));
		if (ar->dmarc->authentic)
			buf_puts(out, " (dnssec)");
		if (ar->dmarc->record_domain != NULL)
			buf_printf(out, " (p=%s dis=%s)", dmarc_policy_name(ar->dmarc->policy),
				dmarc_policy_name(ar->dmarc->disposition));
		if (ar->dmarc->from_domain != NULL) {
			buf_puts(out, " header.from=");
			put_value(out, ar->dmarc->from_domain);
		}
	}
	if (ar->iprev == NULL && ar->spf_mailfrom == NULL && ar->spf_helo == NULL &&
	    ar->ndkim == 0 && ar->dmarc == NULL)
		buf_puts(out, "; none");
	buf_puts(out, "\r\n");
}
