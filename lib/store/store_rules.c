/* The pure half of local delivery rules: regular expressions, ruleset
 * matching, alias posting rules, the per-transaction delivery plan with
 * de-duplication, and validation of names and SMTP error lines. No
 * database access here, so tests/unit/test_rules.c can call everything. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"
#include "mail/addr.h"
#include "mail/header.h"
#include "store/store_rules.h"

/* ---- freeing ---- */

void
store_ruleset_free(struct store_ruleset *rs)
{
	size_t i;

	if (rs->compiled) {
		if (rs->smtp_mailfrom_regexp[0] != '\0')
			regfree(&rs->mailfrom_re);
		if (rs->msg_from_regexp[0] != '\0')
			regfree(&rs->msgfrom_re);
		for (i = 0; i < rs->nheaders; i++) {
			regfree(&rs->headers[i].field_re);
			regfree(&rs->headers[i].value_re);
		}
	}
	for (i = 0; i < rs->nheaders; i++) {
		free(rs->headers[i].field);
		free(rs->headers[i].value);
	}
	free(rs->headers);
	free(rs->smtp_mailfrom_regexp);
	free(rs->msg_from_regexp);
	free(rs->verified_domain);
	free(rs->list_allow_domain);
	free(rs->accept_rejects_to_mailbox);
	free(rs->mailbox);
	free(rs->comment);
	memset(rs, 0, sizeof(*rs));
}

void
store_rulesets_free(struct store_ruleset *rs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		store_ruleset_free(&rs[i]);
	free(rs);
}

void
store_destination_free(struct store_destination *d)
{
	free(d->address);
	free(d->mailbox);
	free(d->smtp_error);
	free(d->message_auth_required_smtp_error);
	store_rulesets_free(d->rulesets, d->nrulesets);
	memset(d, 0, sizeof(*d));
}

void
store_alias_free(struct store_alias *a)
{
	size_t i;

	for (i = 0; i < a->nmembers; i++) {
		struct store_alias_member *m = &a->members[i];

		free(m->address);
		free(m->localpart);
		free(m->domain);
		free(m->canon.separators);
		store_destination_free(&m->dest);
	}
	free(a->members);
	free(a->address);
	free(a->localpart);
	free(a->domain);
	free(a->canon.separators);
	memset(a, 0, sizeof(*a));
}

void
store_aliases_free(struct store_alias *a, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		store_alias_free(&a[i]);
	free(a);
}

void
store_recipient_free(struct store_recipient *r)
{
	free(r->canonical);
	free(r->canon.separators);
	store_destination_free(&r->dest);
	store_alias_free(&r->alias);
	memset(r, 0, sizeof(*r));
}

/* ---- regular expressions ---- */

/* Escapes glibc's regcomp gives a meaning in extended expressions; any
 * other backslash-letter or digit is refused rather than silently matched
 * as a literal (RE2 users write \d, which POSIX reads as "d"). */
static const char posix_escapes[] = "wWsSbB<>`'";

static int
regexp_compile(const char *src, regex_t *re, const char **error_r)
{
	int flags = REG_EXTENDED | REG_NOSUB;
	size_t len = strlen(src), i;
	char msg[256];
	int rc;

	if (len > STORE_RULES_REGEXP_MAX) {
		*error_r = ms_err("regular expression longer than %d bytes", STORE_RULES_REGEXP_MAX);
		return -1;
	}
	/* RE2 flag groups: only a leading (?i) has a POSIX equivalent. */
	if (strncmp(src, "(?i)", 4) == 0) {
		flags |= REG_ICASE;
		src += 4;
	} else if (strncmp(src, "(?", 2) == 0) {
		*error_r = ms_err("bad regular expression %s: only a leading (?i) flag is "
			"supported (POSIX extended syntax)", src);
		return -1;
	}
	for (i = 0; src[i] != '\0'; i++) {
		unsigned char c;

		if (src[i] != '\\')
			continue;
		c = (unsigned char)src[i + 1];
		if (c >= '1' && c <= '9') {
			*error_r = ms_err("bad regular expression %s: back-references (\\%c) are "
				"not supported", src, c);
			return -1;
		}
		if (((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '0') &&
		    strchr(posix_escapes, c) == NULL) {
			*error_r = ms_err("bad regular expression %s: \\%c is not supported in "
				"POSIX extended syntax (use a bracket expression such as [0-9])",
				src, c);
			return -1;
		}
		if (c != '\0')
			i++;
	}
	rc = regcomp(re, src, flags);
	if (rc != 0) {
		(void)regerror(rc, re, msg, sizeof(msg));
		regfree(re);
		*error_r = ms_err("bad regular expression %s: %s", src, msg);
		return -1;
	}
	return 0;
}

static bool
regexp_matches(const regex_t *re, const char *s)
{
	return regexec(re, s, 0, NULL, 0) == 0;
}

int
store_rules_regexp_check(const char *src, const char **error_r)
{
	regex_t re;

	if (regexp_compile(src, &re, error_r) < 0)
		return -1;
	regfree(&re);
	return 0;
}

static bool
has_upper(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			return true;
	return false;
}

int
store_ruleset_compile(struct store_ruleset *rs, const char **error_r)
{
	bool mf = false, msf = false;
	size_t nh = 0, i;

	if (rs->compiled)
		return 0;
	rs->broken = true;
	if (rs->smtp_mailfrom_regexp == NULL)
		rs->smtp_mailfrom_regexp = xstrdup("");
	if (rs->msg_from_regexp == NULL)
		rs->msg_from_regexp = xstrdup("");
	if (rs->verified_domain == NULL)
		rs->verified_domain = xstrdup("");
	if (rs->list_allow_domain == NULL)
		rs->list_allow_domain = xstrdup("");
	if (rs->accept_rejects_to_mailbox == NULL)
		rs->accept_rejects_to_mailbox = xstrdup("");
	if (rs->comment == NULL)
		rs->comment = xstrdup("");
	if (rs->mailbox == NULL || rs->mailbox[0] == '\0') {
		*error_r = "ruleset needs a mailbox";
		return -1;
	}
	if (rs->smtp_mailfrom_regexp[0] == '\0' && rs->msg_from_regexp[0] == '\0' &&
	    rs->verified_domain[0] == '\0' && rs->nheaders == 0) {
		*error_r = "ruleset needs at least one condition (MAIL FROM, From, "
			"verified domain or header)";
		return -1;
	}
	if (rs->nheaders > STORE_RULES_HEADERS_MAX) {
		*error_r = ms_err("ruleset has more than %d header conditions",
			STORE_RULES_HEADERS_MAX);
		return -1;
	}
	for (i = 0; i < rs->nheaders; i++) {
		if (rs->headers[i].field[0] == '\0') {
			*error_r = "header condition needs a field name regular expression";
			return -1;
		}
		/* Field names and values are lower-cased before matching, so
		 * upper case in the expression could never match. */
		if (has_upper(rs->headers[i].field) || has_upper(rs->headers[i].value)) {
			*error_r = ms_err("header condition %s=%s must be lower case "
				"(fields and values are compared in lower case)",
				rs->headers[i].field, rs->headers[i].value);
			return -1;
		}
	}
	if (rs->is_forward && rs->list_allow_domain[0] != '\0') {
		*error_r = "a ruleset cannot have both is-forward and list-allow-domain";
		return -1;
	}
	if (rs->is_forward && (rs->smtp_mailfrom_regexp[0] == '\0' ||
	    rs->verified_domain[0] == '\0')) {
		*error_r = "a ruleset with is-forward needs a MAIL FROM regular expression "
			"and a verified domain too";
		return -1;
	}
	if (ms_strcaseeq(rs->accept_rejects_to_mailbox, "inbox")) {
		*error_r = "accept-rejects-to-mailbox cannot be Inbox";
		return -1;
	}

	if (rs->smtp_mailfrom_regexp[0] != '\0') {
		if (regexp_compile(rs->smtp_mailfrom_regexp, &rs->mailfrom_re, error_r) < 0)
			goto fail;
		mf = true;
	}
	if (rs->msg_from_regexp[0] != '\0') {
		if (regexp_compile(rs->msg_from_regexp, &rs->msgfrom_re, error_r) < 0)
			goto fail;
		msf = true;
	}
	for (nh = 0; nh < rs->nheaders; nh++) {
		struct store_header_rule *h = &rs->headers[nh];

		if (regexp_compile(h->field, &h->field_re, error_r) < 0)
			goto fail;
		if (regexp_compile(h->value, &h->value_re, error_r) < 0) {
			regfree(&h->field_re);
			goto fail;
		}
	}
	rs->compiled = true;
	rs->broken = false;
	return 0;
fail:
	if (mf)
		regfree(&rs->mailfrom_re);
	if (msf)
		regfree(&rs->msgfrom_re);
	for (i = 0; i < nh; i++) {
		regfree(&rs->headers[i].field_re);
		regfree(&rs->headers[i].value_re);
	}
	return -1;
}

/* ---- names and lines ---- */

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when invalid. */
static size_t
utf8_seq(const unsigned char *s)
{
	unsigned c = s[0];
	size_t n, i;
	unsigned cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

int
store_mailbox_name_norm(const char *name, struct buf *out, const char **error_r)
{
	const unsigned char *p = (const unsigned char *)name;
	size_t len = strlen(name);

	if (len == 0) {
		*error_r = "empty mailbox name";
		return -1;
	}
	if (len > STORE_MAILBOX_NAME_MAX) {
		*error_r = ms_err("mailbox name longer than %d bytes", STORE_MAILBOX_NAME_MAX);
		return -1;
	}
	while (*p != '\0') {
		size_t n = utf8_seq(p);

		if (n == 0) {
			*error_r = "mailbox name is not valid UTF-8";
			return -1;
		}
		if (n == 1 && (*p < 0x20 || *p == 0x7f || *p == '%' || *p == '*')) {
			*error_r = "mailbox name contains a control character or an IMAP "
				"wildcard (% or *)";
			return -1;
		}
		p += n;
	}
	if (name[0] == '/' || name[len - 1] == '/' || strstr(name, "//") != NULL) {
		*error_r = "mailbox name has an empty hierarchy level ('/' at the start, "
			"the end or twice)";
		return -1;
	}
	/* The inbox is "Inbox" in the store, whatever case it is given in. */
	if (len >= 5 && ms_strncaseeq(name, "inbox", 5) && (name[5] == '\0' || name[5] == '/')) {
		buf_puts(out, "Inbox");
		buf_puts(out, name + 5);
	} else {
		buf_puts(out, name);
	}
	return 0;
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* "d.ddd.ddd" enhanced status code at s (RFC 3463), length or 0. */
static size_t
enhanced_code_len(const char *s)
{
	size_t i = 0, part, digits;

	for (part = 0; part < 3; part++) {
		if (part > 0) {
			if (s[i] != '.')
				return 0;
			i++;
		}
		for (digits = 0; is_digit(s[i]) && digits < 3; digits++)
			i++;
		if (digits == 0 || (part == 0 && digits != 1))
			return 0;
	}
	return s[i] == '\0' || s[i] == ' ' ? i : 0;
}

int
store_smtp_error_norm(const char *in, struct buf *out, const char **error_r)
{
	const char *p, *line, *text;
	struct buf t;
	char code[4];
	size_t len, elen;
	int rc = -1;

	/* Work on a trimmed copy so the text ends where the string does. */
	while (*in == ' ')
		in++;
	len = strlen(in);
	while (len > 0 && in[len - 1] == ' ')
		len--;
	buf_init(&t);
	buf_append(&t, in, len);
	line = t.data;
	for (p = line; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e) {
			*error_r = "SMTP error must be printable ASCII on one line";
			goto out;
		}
	}
	if (len < 3 || (line[0] != '4' && line[0] != '5') || !is_digit(line[1]) ||
	    !is_digit(line[2]) || (len > 3 && line[3] != ' ')) {
		*error_r = "SMTP error must start with a 4xx or 5xx reply code, e.g. "
			"\"550 5.1.1 no such user\"";
		goto out;
	}
	memcpy(code, line, 3);
	code[3] = '\0';
	/* 421 means "closing the connection"; the reference turns it into a
	 * 451 for the one recipient. */
	if (strcmp(code, "421") == 0)
		memcpy(code, "451", 3);
	text = line + 3;
	while (*text == ' ')
		text++;
	buf_puts(out, code);
	buf_putc(out, ' ');
	elen = enhanced_code_len(text);
	if (elen > 0) {
		if (text[0] != code[0]) {
			*error_r = "SMTP error: the enhanced status code class must match the reply code";
			goto out;
		}
		buf_puts(out, text);
		if (text[elen] == '\0')
			buf_puts(out, code[0] == '5' ? " no such user" : " error processing");
	} else {
		buf_puts(out, code[0] == '4' ? "4.3.0 " : strcmp(code, "550") == 0 ? "5.1.1 " : "5.0.0 ");
		buf_puts(out, *text != '\0' ? text : code[0] == '5' ? "no such user" : "error processing");
	}
	if (out->len > STORE_SMTP_ERROR_MAX) {
		*error_r = ms_err("SMTP error longer than %d bytes", STORE_SMTP_ERROR_MAX);
		goto out;
	}
	rc = 0;
out:
	buf_free(&t);
	return rc;
}

void
store_rules_canon_localpart(struct buf *out, const char *localpart,
	const struct store_domain_canon *canon)
{
	size_t n = strlen(localpart), i, start = out->len;

	if (canon->separators != NULL && canon->separators[0] != '\0') {
		size_t cut = strcspn(localpart, canon->separators);

		/* "+tag" alone is not cut to an empty localpart. */
		if (cut > 0)
			n = cut;
	}
	buf_append(out, localpart, n);
	if (!canon->case_sensitive)
		for (i = start; i < out->len; i++)
			out->data[i] = ms_tolower(out->data[i]);
}

bool
store_rules_addr_is(const char *localpart, const char *domain,
	const char *canon_lp, const char *canon_domain,
	const struct store_domain_canon *canon)
{
	struct buf b;
	bool eq;

	if (localpart == NULL || domain == NULL || domain[0] == '\0' ||
	    canon_lp == NULL || canon_domain == NULL || !ms_strcaseeq(domain, canon_domain))
		return false;
	if (canon == NULL)
		return strcmp(localpart, canon_lp) == 0;
	buf_init(&b);
	store_rules_canon_localpart(&b, localpart, canon);
	eq = strcmp(b.data, canon_lp) == 0;
	buf_free(&b);
	return eq;
}

/* ---- ruleset matching ---- */

struct hfield {
	char *name, *value;	/* lower case; value unfolded and trimmed */
};

struct hfields {
	bool parsed;
	struct hfield *v;
	size_t n;
};

static void
hfields_parse(struct hfields *h, const char *s, size_t n)
{
	struct mail_header_iter it;
	const char *name, *value;
	size_t namelen, valuelen;

	h->parsed = true;
	if (s == NULL)
		return;
	mail_header_iter_init(&it, s, n);
	while (mail_header_next(&it, &name, &namelen, &value, &valuelen)) {
		struct buf v;
		size_t i;
		char *nm;

		buf_init(&v);
		mail_header_unfold(&v, value, valuelen);
		for (i = 0; i < v.len; i++)
			v.data[i] = ms_tolower(v.data[i]);
		nm = xstrndup(name, namelen);
		ms_str_lower(nm);
		h->v = xrealloc(h->v, (h->n + 1) * sizeof(*h->v));
		h->v[h->n].name = nm;
		h->v[h->n].value = buf_steal(&v);
		h->n++;
		buf_free(&v);
	}
}

static void
hfields_free(struct hfields *h)
{
	size_t i;

	for (i = 0; i < h->n; i++) {
		free(h->v[i].name);
		free(h->v[i].value);
	}
	free(h->v);
}

/* d is s, or a parent domain of s. */
static bool
domain_within(const char *s, const char *d)
{
	size_t ls, ld;

	if (s == NULL || d == NULL || s[0] == '\0' || d[0] == '\0')
		return false;
	ls = strlen(s);
	ld = strlen(d);
	if (ls == ld)
		return ms_strcaseeq(s, d);
	return ls > ld && s[ls - ld - 1] == '.' && ms_strcaseeq(s + ls - ld, d);
}

static bool
verified_domain_matches(const char *d, const struct store_msg_facts *f)
{
	size_t i;

	if (f->ehlo_validated && domain_within(f->ehlo_domain, d))
		return true;
	if (f->mailfrom_validated && domain_within(f->mailfrom_domain, d))
		return true;
	for (i = 0; i < f->ndkim_domains; i++)
		if (domain_within(f->dkim_domains[i], d))
			return true;
	return false;
}

static bool
ruleset_matches(const struct store_ruleset *rs, const struct store_msg_facts *f,
	struct hfields *h)
{
	size_t i, j;

	if (!rs->compiled || rs->broken)
		return false;
	if (rs->smtp_mailfrom_regexp[0] != '\0' &&
	    !regexp_matches(&rs->mailfrom_re, f->mailfrom ? f->mailfrom : ""))
		return false;
	if (rs->msg_from_regexp[0] != '\0') {
		struct buf a;
		bool ok;

		if (f->msgfrom_domain == NULL || f->msgfrom_domain[0] == '\0')
			return false;
		buf_init(&a);
		buf_printf(&a, "%s@%s", f->msgfrom_localpart ? f->msgfrom_localpart : "",
			f->msgfrom_domain);
		ok = regexp_matches(&rs->msgfrom_re, a.data);
		buf_free(&a);
		if (!ok)
			return false;
	}
	if (rs->verified_domain[0] != '\0' && !verified_domain_matches(rs->verified_domain, f))
		return false;
	if (rs->nheaders > 0 && !h->parsed)
		hfields_parse(h, f->header, f->header_len);
	for (i = 0; i < rs->nheaders; i++) {
		bool found = false;

		for (j = 0; j < h->n && !found; j++)
			found = regexp_matches(&rs->headers[i].field_re, h->v[j].name) &&
				regexp_matches(&rs->headers[i].value_re, h->v[j].value);
		if (!found)
			return false;
	}
	return true;
}

/* Shared by one plan: the header is parsed at most once. */
static const struct store_ruleset *
match_with(const struct store_ruleset *rs, size_t n, const struct store_msg_facts *f,
	struct hfields *h)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ruleset_matches(&rs[i], f, h))
			return &rs[i];
	return NULL;
}

const struct store_ruleset *
store_rules_match(const struct store_ruleset *rs, size_t n,
	const struct store_msg_facts *f)
{
	struct hfields h = { false, NULL, 0 };
	const struct store_ruleset *m = match_with(rs, n, f, &h);

	hfields_free(&h);
	return m;
}

static const char *
choose_with(const struct store_destination *d, const struct store_msg_facts *f,
	const struct store_ruleset **ruleset_r, struct hfields *h)
{
	const struct store_ruleset *rs = match_with(d->rulesets, d->nrulesets, f, h);

	if (ruleset_r != NULL)
		*ruleset_r = rs;
	if (rs != NULL)
		return rs->mailbox;
	return d->mailbox != NULL && d->mailbox[0] != '\0' ? d->mailbox : "Inbox";
}

const char *
store_rules_choose(const struct store_destination *d, const struct store_msg_facts *f,
	const struct store_ruleset **ruleset_r)
{
	struct hfields h = { false, NULL, 0 };
	const char *mb = choose_with(d, f, ruleset_r, &h);

	hfields_free(&h);
	return mb;
}

bool
store_rules_list_allowed(const struct store_ruleset *rs, const struct store_msg_facts *f)
{
	size_t i;

	if (rs == NULL || rs->list_allow_domain == NULL || rs->list_allow_domain[0] == '\0')
		return false;
	if (f->mailfrom_validated && f->mailfrom_domain != NULL &&
	    ms_strcaseeq(f->mailfrom_domain, rs->list_allow_domain))
		return true;
	for (i = 0; i < f->ndkim_domains; i++)
		if (ms_strcaseeq(f->dkim_domains[i], rs->list_allow_domain))
			return true;
	return false;
}

/* ---- aliases ---- */

static bool
member_is(const struct store_alias_member *m, const char *lp, const char *dom)
{
	return store_rules_addr_is(lp, dom, m->localpart, m->domain,
		m->local ? &m->canon : NULL);
}

bool
store_alias_accepts_from(const struct store_alias *a, const char *lp, const char *dom)
{
	size_t i;

	if (lp != NULL && dom != NULL && dom[0] != '\0') {
		for (i = 0; i < a->nmembers; i++)
			if (member_is(&a->members[i], lp, dom))
				return true;
		if (store_rules_addr_is(lp, dom, a->localpart, a->domain, &a->canon))
			return a->allow_msg_from;
	}
	return a->post_public;
}

bool
store_alias_has_account(const struct store_alias *a, int64_t account_id)
{
	size_t i;

	for (i = 0; i < a->nmembers; i++)
		if (a->members[i].resolved && a->members[i].dest.account_id == account_id)
			return true;
	return false;
}

bool
store_recipient_same(const struct store_recipient *a, const struct store_recipient *b)
{
	if (a->status != STORE_DEST_OK || b->status != STORE_DEST_OK ||
	    a->is_alias != b->is_alias)
		return false;
	if (a->is_alias)
		return a->alias.id == b->alias.id;
	if (a->dest.address_id != 0 || b->dest.address_id != 0)
		return a->dest.address_id == b->dest.address_id;
	return a->dest.account_id == b->dest.account_id;
}

int
store_msgfrom_parse(const char *header, size_t n, char **localpart_r, char **domain_r)
{
	struct mail_hdr_addrs l;
	struct buf v;
	const char *error;
	char *uni = NULL, *ascii = NULL;
	int found = 0;

	*localpart_r = *domain_r = NULL;
	buf_init(&v);
	if (!mail_header_get(header, n, "From", &v)) {
		buf_free(&v);
		return 0;
	}
	(void)mail_hdr_addrs_parse(v.data, v.len, &l);
	if (l.n == 1 && l.v[0].domain[0] != '\0') {
		const struct mail_hdr_addr *a = &l.v[0];

		if (mail_domain_parse(a->domain, strlen(a->domain), true, &uni, &ascii,
			    &error) == 0) {
			*domain_r = uni;
			free(ascii);
		} else {
			*domain_r = xstrdup(a->domain);
			ms_str_lower(*domain_r);
		}
		*localpart_r = xstrdup(a->localpart);
		found = 1;
	}
	mail_hdr_addrs_free(&l);
	buf_free(&v);
	return found;
}

int
store_msg_read_header(const char *path, size_t max, struct buf *out,
	const char **error_r)
{
	size_t start = out->len, scan = out->len;
	char chunk[16384];
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		*error_r = ms_err("opening %s: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		size_t want = sizeof(chunk), i;
		ssize_t r;

		if (out->len - start >= max)
			break;
		if (want > max - (out->len - start))
			want = max - (out->len - start);
		r = read(fd, chunk, want);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*error_r = ms_err("reading %s: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		buf_append(out, chunk, (size_t)r);
		/* The header ends at the first empty line (also at the very
		 * start: a message without header fields). */
		for (i = scan; i < out->len; i++) {
			if (out->data[i] != '\n')
				continue;
			if (i == start || (i == start + 1 && out->data[start] == '\r') ||
			    (i >= start + 1 && out->data[i - 1] == '\n') ||
			    (i >= start + 2 && out->data[i - 1] == '\r' && out->data[i - 2] == '\n')) {
				buf_truncate(out, i + 1);
				close(fd);
				return 0;
			}
		}
		scan = out->len;
	}
	close(fd);
	return 0;
}

/* ---- the delivery plan ---- */

static void
plan_copy(struct store_plan *p, size_t rcpt, const struct store_destination *d,
	const char *mailbox, const char *deliver_to, const struct store_ruleset *rs)
{
	size_t i;

	for (i = 0; i < p->ncopies; i++)
		if (p->copies[i].account_id == d->account_id &&
		    strcmp(p->copies[i].mailbox, mailbox) == 0)
			return;
	p->copies = xrealloc(p->copies, (p->ncopies + 1) * sizeof(*p->copies));
	p->copies[p->ncopies].rcpt = rcpt;
	p->copies[p->ncopies].account_id = d->account_id;
	p->copies[p->ncopies].mailbox = mailbox;
	p->copies[p->ncopies].deliver_to = deliver_to;
	p->copies[p->ncopies].dest = d;
	p->copies[p->ncopies].ruleset = rs;
	p->ncopies++;
}

static void
plan_forward(struct store_plan *p, size_t rcpt, const char *address)
{
	size_t i;

	for (i = 0; i < p->nforwards; i++)
		if (strcmp(p->forwards[i].address, address) == 0)
			return;
	p->forwards = xrealloc(p->forwards, (p->nforwards + 1) * sizeof(*p->forwards));
	p->forwards[p->nforwards].rcpt = rcpt;
	p->forwards[p->nforwards].address = address;
	p->nforwards++;
}

/* Is alias member m also an explicit (non-alias) recipient? Canonical
 * addresses compare as strings: both were canonicalized with the settings
 * of their domain. */
static bool
member_is_explicit(const struct store_alias_member *m,
	const struct store_tx_recipient *rcpts, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const struct store_recipient *r = rcpts[i].r;

		if (r->status != STORE_DEST_OK || r->is_alias || r->canonical == NULL)
			continue;
		if (m->local ? strcmp(r->canonical, m->address) == 0 :
		    store_rules_addr_is(rcpts[i].localpart, rcpts[i].domain, m->localpart,
			    m->domain, NULL))
			return true;
	}
	return false;
}

static bool
member_is_sender(const struct store_alias_member *m, const struct store_msg_facts *f)
{
	return member_is(m, f->msgfrom_localpart, f->msgfrom_domain) ||
		member_is(m, f->mailfrom_localpart, f->mailfrom_domain);
}

void
store_plan_deliveries(const struct store_tx_recipient *rcpts, size_t n,
	const struct store_msg_facts *f, struct store_plan *p)
{
	struct hfields h = { false, NULL, 0 };
	size_t i, j, pass;

	memset(p, 0, sizeof(*p));
	p->verdicts = xcalloc(n ? n : 1, sizeof(*p->verdicts));
	/* Explicit address recipients first, then aliases, so a member who is
	 * also addressed directly keeps the copy of the direct recipient. */
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < n; i++) {
			const struct store_recipient *r = rcpts[i].r;
			const struct store_ruleset *rs;
			const char *mb;

			if (r->status != STORE_DEST_OK || r->is_alias != (pass == 1))
				continue;
			p->verdicts[i] = STORE_VERDICT_OK;
			if (!r->is_alias) {
				mb = choose_with(&r->dest, f, &rs, &h);
				plan_copy(p, i, &r->dest, mb, r->canonical, rs);
				continue;
			}
			if (!store_alias_accepts_from(&r->alias, f->msgfrom_localpart,
				    f->msgfrom_domain)) {
				p->verdicts[i] = STORE_VERDICT_NOT_ALLOWED;
				p->nrefused++;
				continue;
			}
			for (j = 0; j < r->alias.nmembers; j++) {
				const struct store_alias_member *m = &r->alias.members[j];

				if (member_is_explicit(m, rcpts, n) || member_is_sender(m, f))
					continue;
				if (!m->local) {
					plan_forward(p, i, m->address);
				} else if (m->resolved) {
					mb = choose_with(&m->dest, f, &rs, &h);
					plan_copy(p, i, &m->dest, mb, m->address, rs);
				}
			}
		}
	}
	hfields_free(&h);
}

void
store_plan_free(struct store_plan *p)
{
	free(p->copies);
	free(p->forwards);
	free(p->verdicts);
	memset(p, 0, sizeof(*p));
}

void
store_forwards_add(struct store_forwards *f, const char *address)
{
	const char *at = strrchr(address, '@');
	char *lp, *dom;
	size_t i;

	if (at == NULL || at == address || at[1] == '\0')
		return;
	lp = xstrndup(address, (size_t)(at - address));
	dom = xstrdup(at + 1);
	ms_str_lower(dom);
	for (i = 0; i < f->n; i++) {
		if (strcmp(f->localparts[i], lp) == 0 && strcmp(f->domains[i], dom) == 0) {
			free(lp);
			free(dom);
			return;
		}
	}
	f->localparts = xrealloc(f->localparts, (f->n + 1) * sizeof(char *));
	f->domains = xrealloc(f->domains, (f->n + 1) * sizeof(char *));
	f->localparts[f->n] = lp;
	f->domains[f->n] = dom;
	f->n++;
}

void
store_forwards_free(struct store_forwards *f)
{
	size_t i;

	for (i = 0; i < f->n; i++) {
		free(f->localparts[i]);
		free(f->domains[i]);
	}
	free(f->localparts);
	free(f->domains);
	memset(f, 0, sizeof(*f));
}
