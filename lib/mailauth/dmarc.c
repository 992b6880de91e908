/* DMARC (RFC 7489), see dmarc.h. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpsl.h>

#include "core/buf.h"
#include "core/util.h"
#include "mailauth/dmarc.h"

const char *
dmarc_result_name(enum dmarc_result r)
{
	switch (r) {
	case DMARC_NONE:
		return "none";
	case DMARC_PASS:
		return "pass";
	case DMARC_FAIL:
		return "fail";
	case DMARC_TEMPERROR:
		return "temperror";
	case DMARC_PERMERROR:
		return "permerror";
	}
	return "none";
}

const char *
dmarc_policy_name(enum dmarc_policy p)
{
	switch (p) {
	case DMARC_POLICY_NONE:
		return "none";
	case DMARC_POLICY_QUARANTINE:
		return "quarantine";
	case DMARC_POLICY_REJECT:
		return "reject";
	}
	return "none";
}

/* ---- organizational domain ---- */

static const psl_ctx_t *psl;
static pthread_once_t psl_once = PTHREAD_ONCE_INIT;

static void
psl_init(void)
{
	/* The system list (Debian's publicsuffix package) when it is newer
	 * than the one built into libpsl. */
	psl = psl_latest(NULL);
	if (psl == NULL)
		psl = psl_builtin();
}

char *
dmarc_org_domain(const char *domain)
{
	const char *r = NULL;
	char *lower = xstrdup(domain), *org;

	/* libpsl matches its rules byte for byte against lower-case input:
	 * "A.Example.CO.UK" would find no "co.uk" rule and come out as
	 * "CO.UK", so a mixed-case MAIL FROM or HELO domain failed relaxed
	 * alignment. Domain names compare without regard to case. */
	ms_str_lower(lower);
	pthread_once(&psl_once, psl_init);
	if (psl != NULL)
		r = psl_registrable_domain(psl, lower);
	org = xstrdup(r != NULL ? r : lower);
	free(lower);
	return org;
}

bool
dmarc_aligned(const char *a, const char *b, bool strict)
{
	char *oa, *ob;
	bool same;

	if (a == NULL || b == NULL || a[0] == '\0' || b[0] == '\0')
		return false;
	if (ms_strcaseeq(a, b))
		return true;
	if (strict)
		return false;
	oa = dmarc_org_domain(a);
	ob = dmarc_org_domain(b);
	same = ms_strcaseeq(oa, ob);
	free(oa);
	free(ob);
	return same;
}

/* ---- record ---- */

void
dmarc_record_free(struct dmarc_record *rec)
{
	free(rec->rua);
	free(rec->ruf);
	free(rec->fo);
	free(rec->rf);
	memset(rec, 0, sizeof(*rec));
}

static int
parse_policy(const char *v, enum dmarc_policy *p)
{
	if (ms_strcaseeq(v, "none"))
		*p = DMARC_POLICY_NONE;
	else if (ms_strcaseeq(v, "quarantine"))
		*p = DMARC_POLICY_QUARANTINE;
	else if (ms_strcaseeq(v, "reject"))
		*p = DMARC_POLICY_REJECT;
	else
		return -1;
	return 0;
}

/* rua/ruf: comma-separated URIs, each "mailto:..." possibly with "!size";
 * at least one must be a mailto URI for the value to count as valid. */
static bool
valid_uris(const char *v)
{
	const char *s = v;

	while (*s != '\0') {
		size_t n = strcspn(s, ",");

		while (n > 0 && (*s == ' ' || *s == '\t')) {
			s++;
			n--;
		}
		if (n > 7 && ms_startswith_ci(s, "mailto:") && memchr(s, '@', n) != NULL)
			return true;
		s += n;
		if (*s == ',')
			s++;
	}
	return false;
}

/*
 * RFC 7489 6.4:
 *   dmarc-record = dmarc-version dmarc-sep [dmarc-request] ...
 *   dmarc-version = "v" *WSP "=" *WSP %x44 %x4d %x41 %x52 %x43 %x31
 *   dmarc-sep = *WSP %x3b *WSP
 * v= must come first; tags are separated by ';'; unknown tags are
 * ignored (6.3). A repeated tag makes the record invalid here.
 */
int
dmarc_record_parse(const char *text, size_t len, struct dmarc_record *rec,
	const char **error_r)
{
	char *copy, *s, *tag;
	unsigned seen = 0, bit;
	bool first = true, p_valid = false, p_present = false;
	static const char *const tags[] = { "v", "p", "sp", "adkim", "aspf", "pct",
		"rua", "ruf", "fo", "rf", "ri" };
	size_t i;
	int rc = -1;

	memset(rec, 0, sizeof(*rec));
	rec->pct = 100;
	rec->ri = 86400;
	if (memchr(text, '\0', len) != NULL) {
		*error_r = "NUL byte in record";
		return -1;
	}
	if (len > 4096) {
		*error_r = "record longer than 4096 bytes";
		return -1;
	}
	copy = xstrndup(text, len);
	s = copy;
	while (s != NULL) {
		char *end = strchr(s, ';'), *eq, *name, *val;
		size_t n;

		if (end != NULL)
			*end++ = '\0';
		tag = s;
		s = end;
		while (*tag == ' ' || *tag == '\t')
			tag++;
		n = strlen(tag);
		while (n > 0 && (tag[n - 1] == ' ' || tag[n - 1] == '\t'))
			tag[--n] = '\0';
		if (*tag == '\0') {
			if (first) {
				*error_r = "record does not start with v=DMARC1";
				goto out;
			}
			continue;
		}
		eq = strchr(tag, '=');
		if (eq == NULL) {
			*error_r = ms_err("tag without '=': %s", tag);
			goto out;
		}
		name = tag;
		val = eq + 1;
		*eq = '\0';
		n = strlen(name);
		while (n > 0 && (name[n - 1] == ' ' || name[n - 1] == '\t'))
			name[--n] = '\0';
		while (*val == ' ' || *val == '\t')
			val++;
		if (first) {
			if (strcmp(name, "v") != 0 || strcmp(val, "DMARC1") != 0) {
				*error_r = "record does not start with v=DMARC1";
				goto out;
			}
			first = false;
		}
		bit = 0;
		for (i = 0; i < MS_NELEM(tags); i++)
			if (ms_strcaseeq(name, tags[i]))
				bit = 1u << i;
		if (bit == 0)
			continue;	/* unknown tag */
		if (seen & bit) {
			*error_r = ms_err("tag %s repeated", name);
			goto out;
		}
		seen |= bit;
		if (ms_strcaseeq(name, "p")) {
			p_present = true;
			p_valid = parse_policy(val, &rec->p) == 0;
		} else if (ms_strcaseeq(name, "sp")) {
			/* An invalid sp is ignored (the domain policy applies). */
			rec->sp_set = parse_policy(val, &rec->sp) == 0;
		} else if (ms_strcaseeq(name, "adkim") || ms_strcaseeq(name, "aspf")) {
			bool strict;

			if (ms_strcaseeq(val, "s"))
				strict = true;
			else if (ms_strcaseeq(val, "r"))
				strict = false;
			else {
				*error_r = ms_err("%s must be r or s, not %s", name, val);
				goto out;
			}
			if (ms_strcaseeq(name, "adkim"))
				rec->adkim_strict = strict;
			else
				rec->aspf_strict = strict;
		} else if (ms_strcaseeq(name, "pct")) {
			uint64_t v;

			if (ms_parse_u64n(val, strlen(val), 0, 100, &v) < 0) {
				*error_r = ms_err("pct must be 0..100, not %s", val);
				goto out;
			}
			rec->pct = (unsigned)v;
		} else if (ms_strcaseeq(name, "ri")) {
			uint64_t v;

			if (ms_parse_u64n(val, strlen(val), 0, UINT32_MAX, &v) < 0) {
				*error_r = ms_err("ri must be a number of seconds, not %s", val);
				goto out;
			}
			rec->ri = (unsigned)v;
		} else if (ms_strcaseeq(name, "rua")) {
			if (valid_uris(val))
				rec->rua = xstrdup(val);
		} else if (ms_strcaseeq(name, "ruf")) {
			if (valid_uris(val))
				rec->ruf = xstrdup(val);
		} else if (ms_strcaseeq(name, "fo")) {
			rec->fo = xstrdup(val);
		} else if (ms_strcaseeq(name, "rf")) {
			rec->rf = xstrdup(val);
		}
	}
	if (first) {
		*error_r = "empty record";
		goto out;
	}
	/* 6.6.3: a record without a valid p= still counts (as p=none)
	 * when it has a valid rua=. */
	if (!p_valid) {
		if (rec->rua == NULL) {
			*error_r = p_present ? "invalid p= tag" : "missing p= tag";
			goto out;
		}
		rec->p = DMARC_POLICY_NONE;
	}
	rc = 0;
out:
	free(copy);
	if (rc < 0)
		dmarc_record_free(rec);
	return rc;
}

/* ---- discovery and evaluation ---- */

/* Look up the record at _dmarc.<domain>. Returns 1 found (rec filled), 0
 * no DMARC record at all, 2 DMARC records but not exactly one valid one
 * (several, or an invalid one), -1 temperror. */
static int
lookup_record(struct dns *d, const char *domain, struct dmarc_record *rec,
	bool *authentic_r, const char **error_r)
{
	struct dns_answer a;
	char *name = xasprintf("_dmarc.%s", domain);
	size_t i, found = 0, which = 0;
	int rc = 0;

	dns_lookup(d, name, DNS_TXT, &a);
	free(name);
	*authentic_r = a.authentic;
	if (a.status == DNS_TEMPERROR) {
		*error_r = ms_err("looking up _dmarc.%s: %s", domain, a.error ? a.error : "temporary error");
		dns_answer_free(&a);
		return -1;
	}
	/* 6.6.3: records not starting with "v=DMARC1" are discarded; one
	 * must remain. */
	for (i = 0; a.status == DNS_OK && i < a.n; i++) {
		const char *t = a.rr[i].text;

		if (strncmp(t, "v=DMARC1", 8) == 0 && (t[8] == '\0' || t[8] == ';' ||
			t[8] == ' ' || t[8] == '\t')) {
			found++;
			which = i;
		}
	}
	if (found == 1 && dmarc_record_parse(a.rr[which].text, a.rr[which].text_len, rec,
		    error_r) == 0)
		rc = 1;
	else if (found > 0)
		rc = 2;
	dns_answer_free(&a);
	return rc;
}

void
dmarc_outcome_free(struct dmarc_outcome *o)
{
	free(o->from_domain);
	free(o->record_domain);
	free(o->dkim_aligned_domain);
	free(o->error);
	dmarc_record_free(&o->rec);
	memset(o, 0, sizeof(*o));
}

enum dmarc_result
dmarc_check(struct dns *d, const char *from_domain, const struct spf_outcome *spf,
	const char *spf_domain, const struct dkim_result *dkim, size_t ndkim,
	unsigned sample, struct dmarc_outcome *out)
{
	const char *err = NULL;
	char *org = NULL;
	bool auth = false;
	size_t i;
	int r;

	memset(out, 0, sizeof(*out));
	if (from_domain == NULL || from_domain[0] == '\0') {
		out->result = DMARC_PERMERROR;
		out->error = xstrdup("message has no From domain");
		return out->result;
	}
	out->from_domain = xstrdup(from_domain);
	ms_str_lower(out->from_domain);
	r = lookup_record(d, out->from_domain, &out->rec, &auth, &err);
	out->authentic = auth;
	if (r == 1) {
		out->record_domain = xstrdup(out->from_domain);
		out->policy = out->rec.p;
	} else if (r == 0) {
		/* 6.6.3 step 3: the organizational domain is asked only when
		 * the From domain has no DMARC record. Several, or an invalid
		 * one, there end discovery (steps 5 and 6), as below: an
		 * earlier version fell back to the org domain's policy then. */
		org = dmarc_org_domain(out->from_domain);
		if (strcmp(org, out->from_domain) != 0) {
			r = lookup_record(d, org, &out->rec, &auth, &err);
			out->authentic = out->authentic && auth;
			if (r == 1) {
				out->record_domain = xstrdup(org);
				/* 6.6.3: the subdomain policy for a subdomain. */
				out->policy = out->rec.sp_set ? out->rec.sp : out->rec.p;
			}
		}
	}
	free(org);
	if (r < 0) {
		out->result = DMARC_TEMPERROR;
		out->error = xstrdup(err);
		return out->result;
	}
	if (r == 0 || r == 2) {
		out->result = DMARC_NONE;
		return out->result;
	}
	/* 3.1: identifier alignment. SPF counts only for a pass of the
	 * MAIL FROM (or, for a null sender, HELO) identity. */
	if (spf != NULL && spf->result == SPF_PASS &&
	    dmarc_aligned(spf_domain, out->from_domain, out->rec.aspf_strict))
		out->spf_aligned = true;
	for (i = 0; dkim != NULL && i < ndkim; i++) {
		if (dkim[i].status == DKIM_PASS &&
		    dmarc_aligned(dkim[i].domain, out->from_domain, out->rec.adkim_strict)) {
			out->dkim_aligned = true;
			out->dkim_aligned_domain = xstrdup(dkim[i].domain);
			break;
		}
	}
	if (out->spf_aligned || out->dkim_aligned) {
		out->result = DMARC_PASS;
		out->disposition = DMARC_POLICY_NONE;
		return out->result;
	}
	out->result = DMARC_FAIL;
	out->disposition = out->policy;
	/* 6.6.4: pct: messages outside the sample get the next lower
	 * policy (reject -> quarantine, quarantine -> none). */
	if (sample >= out->rec.pct && out->disposition != DMARC_POLICY_NONE)
		out->disposition = out->disposition == DMARC_POLICY_REJECT ?
		    DMARC_POLICY_QUARANTINE : DMARC_POLICY_NONE;
	out->reject = out->disposition == DMARC_POLICY_REJECT;
	return out->result;
}
