/* Unit tests for lib/store/store_rules.c, the database-free half of local
 * delivery: the regular expression dialect, ruleset validation and
 * matching, mailbox choice, alias posting rules, the per-transaction plan
 * with its de-duplication, name and SMTP error normalization, localpart
 * canonicalization, the From parser and the header reader. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/util.h"
#include "store/store_rules.h"

/* ---- fixtures ---- */

static char *
dup_or_empty(const char *s)
{
	return xstrdup(s ? s : "");
}

/* A ruleset to be compiled; NULL conditions are "none". */
static void
rs_init(struct store_ruleset *rs, const char *mailbox, const char *mailfrom,
	const char *msgfrom, const char *vdomain)
{
	memset(rs, 0, sizeof(*rs));
	rs->mailbox = dup_or_empty(mailbox);
	rs->smtp_mailfrom_regexp = dup_or_empty(mailfrom);
	rs->msg_from_regexp = dup_or_empty(msgfrom);
	rs->verified_domain = dup_or_empty(vdomain);
}

static void
rs_header(struct store_ruleset *rs, const char *field, const char *value)
{
	rs->headers = xrealloc(rs->headers, (rs->nheaders + 1) * sizeof(*rs->headers));
	memset(&rs->headers[rs->nheaders], 0, sizeof(rs->headers[0]));
	rs->headers[rs->nheaders].field = xstrdup(field);
	rs->headers[rs->nheaders].value = xstrdup(value);
	rs->nheaders++;
}

static void
rs_compile_ok(struct store_ruleset *rs)
{
	const char *err = NULL;

	if (store_ruleset_compile(rs, &err) != 0)
		fail_msg("ruleset did not compile: %s", err);
	assert_true(rs->compiled);
}

/* Expect compile to fail with an error containing `want`. */
static void
rs_compile_bad(struct store_ruleset *rs, const char *want)
{
	const char *err = NULL;

	assert_int_equal(store_ruleset_compile(rs, &err), -1);
	assert_non_null(err);
	if (strstr(err, want) == NULL)
		fail_msg("error %s does not mention %s", err, want);
	assert_true(rs->broken);
	store_ruleset_free(rs);
}

/* A destination of account `account` with default mailbox `mailbox` and
 * rulesets moved from rs[0..n). */
static void
dest_init(struct store_destination *d, int64_t account, int64_t address_id,
	const char *address, const char *mailbox, struct store_ruleset *rs, size_t n)
{
	memset(d, 0, sizeof(*d));
	d->account_id = account;
	d->address_id = address_id;
	d->address = xstrdup(address);
	d->mailbox = mailbox ? xstrdup(mailbox) : NULL;
	if (n > 0) {
		d->rulesets = xcalloc(n, sizeof(*rs));
		memcpy(d->rulesets, rs, n * sizeof(*rs));
		d->nrulesets = n;
	}
}

static const char HDR[] =
	"Return-Path: <list-bounces@lists.example.net>\r\n"
	"From: Alice Example <Alice@Example.NET>\r\n"
	"To: user@example.org\r\n"
	"List-Id: Friends\r\n"
	"  <Friends.Lists.Example.Net>\r\n"
	"Subject:   Hello   \r\n"
	"X-Spam: no\r\n"
	"X-Spam: YES\r\n"
	"\r\n";

static void
facts_init(struct store_msg_facts *f)
{
	memset(f, 0, sizeof(*f));
	f->mailfrom = "list-bounces@lists.example.net";
	f->mailfrom_localpart = "list-bounces";
	f->mailfrom_domain = "lists.example.net";
	f->ehlo_domain = "mx.lists.example.net";
	f->msgfrom_localpart = "Alice";
	f->msgfrom_domain = "example.net";
	f->header = HDR;
	f->header_len = sizeof(HDR) - 1;
}

/* ---- regular expressions ---- */

static void
expect_re_bad(const char *re, const char *want)
{
	const char *err = NULL;

	assert_int_equal(store_rules_regexp_check(re, &err), -1);
	if (err == NULL || strstr(err, want) == NULL)
		fail_msg("regexp %s: error %s does not mention %s", re, err ? err : "(null)", want);
}

static void
test_regexp_dialect(void **state)
{
	const char *err = NULL;
	struct buf b;
	size_t i;

	assert_int_equal(store_rules_regexp_check("^user(|\\+.*)@example\\.org$", &err), 0);
	assert_int_equal(store_rules_regexp_check("(?i)^list", &err), 0);
	assert_int_equal(store_rules_regexp_check("a\\sb\\w", &err), 0);
	assert_int_equal(store_rules_regexp_check("[0-9]+", &err), 0);
	expect_re_bad("(a)\\1", "back-references");
	expect_re_bad("\\d+", "\\d is not supported");
	expect_re_bad("(?s)x", "only a leading (?i)");
	expect_re_bad("a(b", "bad regular expression");
	expect_re_bad("[z-a]", "bad regular expression");
	buf_init(&b);
	for (i = 0; i < STORE_RULES_REGEXP_MAX; i++)
		buf_putc(&b, 'a');
	assert_int_equal(store_rules_regexp_check(b.data, &err), 0);
	buf_putc(&b, 'a');
	expect_re_bad(b.data, "longer than");
	buf_free(&b);
}

static void
test_ruleset_validation(void **state)
{
	struct store_ruleset rs;

	rs_init(&rs, "Lists", NULL, NULL, NULL);
	rs_compile_bad(&rs, "at least one condition");
	rs_init(&rs, NULL, "^x", NULL, NULL);
	rs_compile_bad(&rs, "needs a mailbox");
	rs_init(&rs, "Lists", NULL, NULL, NULL);
	rs_header(&rs, "List-Id", "x");
	rs_compile_bad(&rs, "lower case");
	rs_init(&rs, "Lists", NULL, NULL, NULL);
	rs_header(&rs, "list-id", "<X>");
	rs_compile_bad(&rs, "lower case");
	rs_init(&rs, "Lists", "^x", NULL, NULL);
	rs.is_forward = true;
	rs_compile_bad(&rs, "verified domain");
	rs_init(&rs, "Lists", "^x", NULL, "example.net");
	rs.is_forward = true;
	rs.list_allow_domain = xstrdup("example.net");
	rs_compile_bad(&rs, "both is-forward and list-allow-domain");
	rs_init(&rs, "Lists", "^x", NULL, NULL);
	rs.accept_rejects_to_mailbox = xstrdup("INBOX");
	rs_compile_bad(&rs, "cannot be Inbox");
	rs_init(&rs, "Lists", "(a)\\1", NULL, NULL);
	rs_compile_bad(&rs, "back-references");
	/* A bad header value regexp after a good field regexp: nothing leaks
	 * (checked by the ASan build) and the ruleset never matches. */
	rs_init(&rs, "Lists", "^x", NULL, NULL);
	rs_header(&rs, "a", "b(");
	rs_compile_bad(&rs, "bad regular expression");

	rs_init(&rs, "Lists", "^x", NULL, "example.net");
	rs.is_forward = true;
	rs_compile_ok(&rs);
	/* Compiling twice is harmless. */
	rs_compile_ok(&rs);
	store_ruleset_free(&rs);
}

/* ---- matching ---- */

static void
test_match_mailfrom_msgfrom(void **state)
{
	struct store_ruleset rs[3];
	struct store_msg_facts f;

	facts_init(&f);
	rs_init(&rs[0], "A", "^nobody@", NULL, NULL);
	rs_init(&rs[1], "B", "@lists\\.example\\.net$", NULL, NULL);
	rs_init(&rs[2], "C", NULL, "^alice@example\\.net$", NULL);
	rs_compile_ok(&rs[0]);
	rs_compile_ok(&rs[1]);
	rs_compile_ok(&rs[2]);
	/* First match wins: rs[1] before rs[2]. */
	assert_ptr_equal(store_rules_match(rs, 3, &f), &rs[1]);
	/* Case-sensitive: "Alice" does not match ^alice. */
	f.mailfrom = "someone@else.example";
	assert_null(store_rules_match(rs, 3, &f));
	f.msgfrom_localpart = "alice";
	assert_ptr_equal(store_rules_match(rs, 3, &f), &rs[2]);
	/* No From address: MsgFromRegexp never matches, even ".*". */
	f.msgfrom_localpart = f.msgfrom_domain = NULL;
	assert_null(store_rules_match(rs, 3, &f));
	/* The null sender is "" for the MAIL FROM regexp. */
	f.mailfrom = "";
	assert_null(store_rules_match(rs, 3, &f));
	store_ruleset_free(&rs[0]);
	store_ruleset_free(&rs[1]);
	store_ruleset_free(&rs[2]);

	rs_init(&rs[0], "N", "^$", NULL, NULL);
	rs_compile_ok(&rs[0]);
	assert_ptr_equal(store_rules_match(rs, 1, &f), &rs[0]);
	store_ruleset_free(&rs[0]);

	/* (?i) makes the match case-insensitive. */
	facts_init(&f);
	rs_init(&rs[0], "I", NULL, "(?i)^ALICE@", NULL);
	rs_compile_ok(&rs[0]);
	assert_ptr_equal(store_rules_match(rs, 1, &f), &rs[0]);
	store_ruleset_free(&rs[0]);
}

static void
test_match_verified_domain(void **state)
{
	static const char *const dkim[] = { "mail.example.com", "example.net" };
	struct store_ruleset rs;
	struct store_msg_facts f;

	facts_init(&f);
	rs_init(&rs, "V", NULL, NULL, "example.net");
	rs_compile_ok(&rs);
	/* Nothing verified yet (SPF/DKIM come later): no match. */
	assert_null(store_rules_match(&rs, 1, &f));
	/* SPF pass for MAIL FROM lists.example.net: a subdomain matches. */
	f.mailfrom_validated = true;
	assert_non_null(store_rules_match(&rs, 1, &f));
	f.mailfrom_validated = false;
	f.ehlo_validated = true;
	assert_non_null(store_rules_match(&rs, 1, &f));
	f.ehlo_validated = false;
	/* "badexample.net" is not within example.net. */
	f.mailfrom_domain = "badexample.net";
	f.mailfrom_validated = true;
	assert_null(store_rules_match(&rs, 1, &f));
	f.mailfrom_validated = false;
	f.dkim_domains = dkim;
	f.ndkim_domains = 1;
	assert_null(store_rules_match(&rs, 1, &f));
	f.ndkim_domains = 2;
	assert_non_null(store_rules_match(&rs, 1, &f));
	store_ruleset_free(&rs);

	/* ListAllowDomain needs the exact domain, verified by SPF MAIL FROM
	 * or DKIM (not EHLO). */
	facts_init(&f);
	rs_init(&rs, "L", "x", NULL, NULL);
	rs.list_allow_domain = xstrdup("lists.example.net");
	rs_compile_ok(&rs);
	assert_false(store_rules_list_allowed(&rs, &f));
	f.ehlo_validated = true;
	assert_false(store_rules_list_allowed(&rs, &f));
	f.mailfrom_validated = true;
	assert_true(store_rules_list_allowed(&rs, &f));
	f.mailfrom_validated = false;
	f.dkim_domains = dkim;
	f.ndkim_domains = 2;
	assert_false(store_rules_list_allowed(&rs, &f));
	assert_false(store_rules_list_allowed(NULL, &f));
	store_ruleset_free(&rs);
}

static void
test_match_headers(void **state)
{
	struct store_ruleset rs;
	struct store_msg_facts f;

	facts_init(&f);
	/* Folded value, compared unfolded and in lower case. */
	rs_init(&rs, "Friends", NULL, NULL, NULL);
	rs_header(&rs, "^list-id$", "<friends\\.lists\\.example\\.net>$");
	rs_compile_ok(&rs);
	assert_non_null(store_rules_match(&rs, 1, &f));
	store_ruleset_free(&rs);

	/* Trimmed: "hello" is the whole value. */
	rs_init(&rs, "S", NULL, NULL, NULL);
	rs_header(&rs, "^subject$", "^hello$");
	rs_compile_ok(&rs);
	assert_non_null(store_rules_match(&rs, 1, &f));
	store_ruleset_free(&rs);

	/* Any instance of a repeated field may match. */
	rs_init(&rs, "J", NULL, NULL, NULL);
	rs_header(&rs, "^x-spam$", "^yes$");
	rs_compile_ok(&rs);
	assert_non_null(store_rules_match(&rs, 1, &f));
	store_ruleset_free(&rs);

	/* The field regexp is unanchored like the reference's: "id" matches
	 * list-id. All header conditions must match. */
	rs_init(&rs, "Both", NULL, NULL, NULL);
	rs_header(&rs, "id", "friends");
	rs_header(&rs, "^x-spam$", "^maybe$");
	rs_compile_ok(&rs);
	assert_null(store_rules_match(&rs, 1, &f));
	store_ruleset_free(&rs);

	/* Conditions combine: header matches but MAIL FROM does not. */
	rs_init(&rs, "Mixed", "^other@", NULL, NULL);
	rs_header(&rs, "^list-id$", "friends");
	rs_compile_ok(&rs);
	assert_null(store_rules_match(&rs, 1, &f));
	store_ruleset_free(&rs);

	/* Without a header section, header rules do not match. */
	rs_init(&rs, "H", NULL, NULL, NULL);
	rs_header(&rs, "^list-id$", ".*");
	rs_compile_ok(&rs);
	f.header = NULL;
	f.header_len = 0;
	assert_null(store_rules_match(&rs, 1, &f));
	store_ruleset_free(&rs);
}

static void
test_choose(void **state)
{
	struct store_ruleset rs[2];
	struct store_destination d;
	const struct store_ruleset *m = (const void *)1;
	struct store_msg_facts f;

	facts_init(&f);
	rs_init(&rs[0], "Lists/Friends", NULL, NULL, NULL);
	rs_header(&rs[0], "^list-id$", "friends");
	rs_init(&rs[1], "Never", "^nomatch$", NULL, NULL);
	rs[1].is_forward = false;
	rs_compile_ok(&rs[0]);
	rs_compile_ok(&rs[1]);
	dest_init(&d, 7, 70, "user@example.org", "Archive", rs, 2);
	assert_string_equal(store_rules_choose(&d, &f, &m), "Lists/Friends");
	assert_ptr_equal(m, &d.rulesets[0]);
	f.header = NULL;
	assert_string_equal(store_rules_choose(&d, &f, &m), "Archive");
	assert_null(m);
	free(d.mailbox);
	d.mailbox = NULL;
	assert_string_equal(store_rules_choose(&d, &f, NULL), "Inbox");
	/* A broken ruleset never matches. */
	f.header = HDR;
	d.rulesets[0].broken = true;
	assert_string_equal(store_rules_choose(&d, &f, &m), "Inbox");
	d.rulesets[0].broken = false;
	store_destination_free(&d);
}

/* ---- names and lines ---- */

static void
expect_norm(int (*fn)(const char *, struct buf *, const char **), const char *in,
	const char *want)
{
	const char *err = NULL;
	char *copy = xstrdup(in);	/* its own allocation, for ASan/valgrind */
	struct buf b;

	buf_init(&b);
	if (fn(copy, &b, &err) != 0)
		fail_msg("%s rejected: %s", in, err);
	assert_string_equal(b.data, want);
	buf_free(&b);
	free(copy);
}

static void
expect_norm_bad(int (*fn)(const char *, struct buf *, const char **), const char *in)
{
	const char *err = NULL;
	struct buf b;

	buf_init(&b);
	if (fn(in, &b, &err) == 0)
		fail_msg("%s accepted as %s", in, b.data);
	assert_non_null(err);
	buf_free(&b);
}

static void
test_mailbox_names(void **state)
{
	struct buf b;
	size_t i;

	expect_norm(store_mailbox_name_norm, "Lists", "Lists");
	expect_norm(store_mailbox_name_norm, "INBOX", "Inbox");
	expect_norm(store_mailbox_name_norm, "inbox/Sub", "Inbox/Sub");
	expect_norm(store_mailbox_name_norm, "Inboxes", "Inboxes");
	expect_norm(store_mailbox_name_norm, "Grüße/2026", "Grüße/2026");
	expect_norm_bad(store_mailbox_name_norm, "");
	expect_norm_bad(store_mailbox_name_norm, "/Lists");
	expect_norm_bad(store_mailbox_name_norm, "Lists/");
	expect_norm_bad(store_mailbox_name_norm, "a//b");
	expect_norm_bad(store_mailbox_name_norm, "a*");
	expect_norm_bad(store_mailbox_name_norm, "a%");
	expect_norm_bad(store_mailbox_name_norm, "tab\there");
	expect_norm_bad(store_mailbox_name_norm, "bad\xff");
	expect_norm_bad(store_mailbox_name_norm, "\xed\xa0\x80");	/* surrogate */
	buf_init(&b);
	for (i = 0; i <= STORE_MAILBOX_NAME_MAX; i++)
		buf_putc(&b, 'm');
	expect_norm_bad(store_mailbox_name_norm, b.data);
	buf_free(&b);
}

static void
test_smtp_errors(void **state)
{
	expect_norm(store_smtp_error_norm, "550 5.1.1 gone", "550 5.1.1 gone");
	expect_norm(store_smtp_error_norm, "  550 gone away  ", "550 5.1.1 gone away");
	expect_norm(store_smtp_error_norm, "550", "550 5.1.1 no such user");
	expect_norm(store_smtp_error_norm, "554 5.7.1", "554 5.7.1 no such user");
	expect_norm(store_smtp_error_norm, "553 not here", "553 5.0.0 not here");
	expect_norm(store_smtp_error_norm, "421", "451 4.3.0 error processing");
	expect_norm(store_smtp_error_norm, "450 4.2.1 later", "450 4.2.1 later");
	expect_norm_bad(store_smtp_error_norm, "250 ok");
	expect_norm_bad(store_smtp_error_norm, "55 x");
	expect_norm_bad(store_smtp_error_norm, "550-multi");
	expect_norm_bad(store_smtp_error_norm, "550 4.1.1 class mismatch");
	expect_norm_bad(store_smtp_error_norm, "550 line\r\nbreak");
	expect_norm_bad(store_smtp_error_norm, "550 caf\xc3\xa9");
	expect_norm_bad(store_smtp_error_norm, "");
}

static void
expect_canon(const char *lp, bool cs, const char *seps, const char *want)
{
	struct store_domain_canon c = { cs, (char *)seps };
	struct buf b;

	buf_init(&b);
	store_rules_canon_localpart(&b, lp, &c);
	assert_string_equal(b.data, want);
	buf_free(&b);
}

static void
test_canon_localpart(void **state)
{
	struct store_domain_canon ci = { false, (char *)"+-" };

	expect_canon("User", false, "", "user");
	expect_canon("User", true, "", "User");
	expect_canon("User+Tag", false, "+", "user");
	expect_canon("user-tag+x", false, "+-", "user");
	expect_canon("user+tag-x", false, "-+", "user");
	expect_canon("first.last", false, "+", "first.last");
	expect_canon("+tag", false, "+", "+tag");
	expect_canon("User+Tag", true, "+", "User");
	expect_canon("user+tag", false, NULL, "user+tag");

	assert_true(store_rules_addr_is("User+x", "Example.ORG", "user", "example.org", &ci));
	assert_false(store_rules_addr_is("user", "example.com", "user", "example.org", &ci));
	assert_false(store_rules_addr_is("User", "example.org", "user", "example.org", NULL));
	assert_true(store_rules_addr_is("user", "EXAMPLE.org", "user", "example.org", NULL));
	assert_false(store_rules_addr_is(NULL, "example.org", "user", "example.org", NULL));
	assert_false(store_rules_addr_is("user", "", "user", "", NULL));
}

/* ---- aliases and the plan ---- */

static void
member_local(struct store_alias_member *m, const char *lp, const char *dom,
	int64_t account, int64_t address_id, const char *mailbox)
{
	struct buf a;

	memset(m, 0, sizeof(*m));
	buf_init(&a);
	buf_printf(&a, "%s@%s", lp, dom);
	m->address = buf_steal(&a);
	buf_free(&a);
	m->localpart = xstrdup(lp);
	m->domain = xstrdup(dom);
	m->local = true;
	m->resolved = account != 0;
	m->canon.separators = xstrdup("+");
	if (m->resolved)
		dest_init(&m->dest, account, address_id, m->address, mailbox, NULL, 0);
}

static void
member_external(struct store_alias_member *m, const char *lp, const char *dom)
{
	memset(m, 0, sizeof(*m));
	m->address = xasprintf("%s@%s", lp, dom);
	m->localpart = xstrdup(lp);
	m->domain = xstrdup(dom);
}

/* Alias team@example.org: a (account 1), b (account 2), c (account 3, not
 * resolvable any more), ext@elsewhere.example. */
static void
alias_team(struct store_recipient *r, bool post_public, bool allow_msg_from)
{
	struct store_alias *a = &r->alias;

	memset(r, 0, sizeof(*r));
	r->status = STORE_DEST_OK;
	r->is_alias = true;
	r->canonical = xstrdup("team@example.org");
	r->canon.separators = xstrdup("+");
	a->id = 99;
	a->address = xstrdup("team@example.org");
	a->localpart = xstrdup("team");
	a->domain = xstrdup("example.org");
	a->post_public = post_public;
	a->allow_msg_from = allow_msg_from;
	a->canon.separators = xstrdup("+");
	a->nmembers = 4;
	a->members = xcalloc(4, sizeof(*a->members));
	member_local(&a->members[0], "a", "example.org", 1, 10, "Inbox");
	member_local(&a->members[1], "b", "example.org", 2, 20, "Inbox");
	member_local(&a->members[2], "c", "example.org", 0, 0, NULL);
	member_external(&a->members[3], "Ext", "elsewhere.example");
}

static void
rcpt_address(struct store_recipient *r, const char *canonical, int64_t account,
	int64_t address_id, const char *mailbox)
{
	memset(r, 0, sizeof(*r));
	r->status = STORE_DEST_OK;
	r->canonical = xstrdup(canonical);
	r->canon.separators = xstrdup("+");
	dest_init(&r->dest, account, address_id, canonical, mailbox, NULL, 0);
}

static void
test_alias_accepts_from(void **state)
{
	struct store_recipient r;

	alias_team(&r, false, false);
	/* Members may post, also with a tag and other case. */
	assert_true(store_alias_accepts_from(&r.alias, "a", "example.org"));
	assert_true(store_alias_accepts_from(&r.alias, "B+lists", "EXAMPLE.ORG"));
	/* The unresolved local member is still a member by address. */
	assert_true(store_alias_accepts_from(&r.alias, "c", "example.org"));
	/* External members compare their localpart exactly. */
	assert_true(store_alias_accepts_from(&r.alias, "Ext", "elsewhere.example"));
	assert_false(store_alias_accepts_from(&r.alias, "ext", "elsewhere.example"));
	/* Others, no From, and the alias itself without allow_msg_from. */
	assert_false(store_alias_accepts_from(&r.alias, "x", "example.net"));
	assert_false(store_alias_accepts_from(&r.alias, NULL, NULL));
	assert_false(store_alias_accepts_from(&r.alias, "team", "example.org"));
	r.alias.allow_msg_from = true;
	assert_true(store_alias_accepts_from(&r.alias, "Team", "example.org"));
	/* Public: anyone, but the alias address follows allow_msg_from. */
	r.alias.post_public = true;
	r.alias.allow_msg_from = false;
	assert_true(store_alias_accepts_from(&r.alias, "x", "example.net"));
	assert_true(store_alias_accepts_from(&r.alias, NULL, NULL));
	assert_false(store_alias_accepts_from(&r.alias, "team", "example.org"));

	assert_true(store_alias_has_account(&r.alias, 2));
	assert_false(store_alias_has_account(&r.alias, 3));
	assert_false(store_alias_has_account(&r.alias, 0));
	store_recipient_free(&r);
	assert_null(r.canonical);
}

static void
test_recipient_same(void **state)
{
	struct store_recipient a, b, c, p1, p2;

	rcpt_address(&a, "a@example.org", 1, 10, "Inbox");
	rcpt_address(&b, "a@example.org", 1, 10, "Inbox");
	rcpt_address(&c, "a2@example.org", 1, 11, "Inbox");
	rcpt_address(&p1, "postmaster@example.org", 1, 0, "Inbox");
	rcpt_address(&p2, "postmaster@example.org", 1, 0, "Inbox");
	assert_true(store_recipient_same(&a, &b));
	assert_false(store_recipient_same(&a, &c));
	assert_true(store_recipient_same(&p1, &p2));
	assert_false(store_recipient_same(&p1, &a));
	b.status = STORE_DEST_UNKNOWN;
	assert_false(store_recipient_same(&a, &b));
	store_recipient_free(&a);
	store_recipient_free(&b);
	store_recipient_free(&c);
	store_recipient_free(&p1);
	store_recipient_free(&p2);
	alias_team(&a, true, false);
	alias_team(&b, true, false);
	assert_true(store_recipient_same(&a, &b));
	b.alias.id = 100;
	assert_false(store_recipient_same(&a, &b));
	store_recipient_free(&a);
	store_recipient_free(&b);
}

static size_t
copies_for_account(const struct store_plan *p, int64_t account)
{
	size_t i, n = 0;

	for (i = 0; i < p->ncopies; i++)
		n += p->copies[i].account_id == account;
	return n;
}

static void
test_plan_alias_dedup(void **state)
{
	struct store_recipient team, direct_b;
	struct store_tx_recipient tx[2];
	struct store_msg_facts f;
	struct store_plan p;

	facts_init(&f);
	alias_team(&team, true, false);
	rcpt_address(&direct_b, "b@example.org", 2, 20, "Inbox");
	/* The alias comes first in RCPT order; the direct recipient still
	 * keeps its copy and b gets no second one. */
	tx[0].localpart = "team";
	tx[0].domain = "example.org";
	tx[0].r = &team;
	tx[1].localpart = "B";
	tx[1].domain = "example.org";
	tx[1].r = &direct_b;
	store_plan_deliveries(tx, 2, &f, &p);
	assert_int_equal(p.nrefused, 0);
	assert_int_equal(p.verdicts[0], STORE_VERDICT_OK);
	assert_int_equal(p.verdicts[1], STORE_VERDICT_OK);
	assert_int_equal(p.ncopies, 2);
	assert_int_equal(p.copies[0].account_id, 2);
	assert_int_equal(p.copies[0].rcpt, 1);
	assert_string_equal(p.copies[0].deliver_to, "b@example.org");
	assert_int_equal(p.copies[1].account_id, 1);
	assert_int_equal(p.copies[1].rcpt, 0);
	assert_string_equal(p.copies[1].deliver_to, "a@example.org");
	assert_string_equal(p.copies[1].mailbox, "Inbox");
	/* The unresolvable member c gets nothing; the external one is left
	 * for the queue. */
	assert_int_equal(copies_for_account(&p, 3), 0);
	assert_int_equal(p.nforwards, 1);
	assert_string_equal(p.forwards[0].address, "Ext@elsewhere.example");
	assert_int_equal(p.forwards[0].rcpt, 0);
	store_plan_free(&p);

	/* The sender (From header) is skipped, also when the From has a tag. */
	f.msgfrom_localpart = "a+sent";
	f.msgfrom_domain = "example.org";
	store_plan_deliveries(tx, 1, &f, &p);
	assert_int_equal(p.ncopies, 1);
	assert_int_equal(p.copies[0].account_id, 2);
	store_plan_free(&p);
	/* ... and so is the MAIL FROM sender. */
	facts_init(&f);
	f.mailfrom_localpart = "b";
	f.mailfrom_domain = "example.org";
	store_plan_deliveries(tx, 1, &f, &p);
	assert_int_equal(p.ncopies, 1);
	assert_int_equal(p.copies[0].account_id, 1);
	store_plan_free(&p);
	store_recipient_free(&team);
	store_recipient_free(&direct_b);
}

static void
test_plan_members_only(void **state)
{
	struct store_recipient team, direct;
	struct store_tx_recipient tx[2];
	struct store_msg_facts f;
	struct store_plan p;

	facts_init(&f);
	alias_team(&team, false, false);
	rcpt_address(&direct, "d@example.org", 4, 40, "Inbox");
	tx[0].localpart = "team";
	tx[0].domain = "example.org";
	tx[0].r = &team;
	tx[1].localpart = "d";
	tx[1].domain = "example.org";
	tx[1].r = &direct;
	/* A non-member posting: the alias refuses, the direct recipient is
	 * delivered. */
	store_plan_deliveries(tx, 2, &f, &p);
	assert_int_equal(p.nrefused, 1);
	assert_int_equal(p.verdicts[0], STORE_VERDICT_NOT_ALLOWED);
	assert_int_equal(p.verdicts[1], STORE_VERDICT_OK);
	assert_int_equal(p.ncopies, 1);
	assert_int_equal(p.copies[0].account_id, 4);
	assert_int_equal(p.nforwards, 0);
	store_plan_free(&p);
	/* Only the alias: everything refused. */
	store_plan_deliveries(tx, 1, &f, &p);
	assert_int_equal(p.nrefused, 1);
	assert_int_equal(p.ncopies, 0);
	store_plan_free(&p);
	/* A member posting: the other members get it, the poster does not. */
	f.msgfrom_localpart = "A";
	f.msgfrom_domain = "example.org";
	store_plan_deliveries(tx, 1, &f, &p);
	assert_int_equal(p.nrefused, 0);
	assert_int_equal(p.ncopies, 1);
	assert_int_equal(p.copies[0].account_id, 2);
	store_plan_free(&p);
	store_recipient_free(&team);
	store_recipient_free(&direct);
}

static void
test_plan_mailboxes(void **state)
{
	struct store_recipient r1, r2, team;
	struct store_tx_recipient tx[3];
	struct store_ruleset rs;
	struct store_msg_facts f;
	struct store_plan p;

	facts_init(&f);
	/* Two addresses of account 1, one with a list ruleset: the same
	 * mailbox is stored once, different mailboxes once each. */
	rcpt_address(&r1, "a@example.org", 1, 10, "Inbox");
	rcpt_address(&r2, "a2@example.org", 1, 11, "Inbox");
	tx[0].localpart = "a";
	tx[0].domain = "example.org";
	tx[0].r = &r1;
	tx[1].localpart = "a2";
	tx[1].domain = "example.org";
	tx[1].r = &r2;
	store_plan_deliveries(tx, 2, &f, &p);
	assert_int_equal(p.ncopies, 1);
	assert_int_equal(p.copies[0].rcpt, 0);
	store_plan_free(&p);

	rs_init(&rs, "Lists", NULL, NULL, NULL);
	rs_header(&rs, "^list-id$", "friends");
	rs_compile_ok(&rs);
	r2.dest.rulesets = xcalloc(1, sizeof(rs));
	r2.dest.rulesets[0] = rs;
	r2.dest.nrulesets = 1;
	store_plan_deliveries(tx, 2, &f, &p);
	assert_int_equal(p.ncopies, 2);
	assert_string_equal(p.copies[0].mailbox, "Inbox");
	assert_null(p.copies[0].ruleset);
	assert_string_equal(p.copies[1].mailbox, "Lists");
	assert_ptr_equal(p.copies[1].ruleset, &r2.dest.rulesets[0]);
	store_plan_free(&p);

	/* An alias member's copy follows the member's own rulesets. */
	alias_team(&team, true, false);
	rs_init(&rs, "Team", NULL, NULL, NULL);
	rs_header(&rs, "^to$", "example\\.org");
	rs_compile_ok(&rs);
	team.alias.members[1].dest.rulesets = xcalloc(1, sizeof(rs));
	team.alias.members[1].dest.rulesets[0] = rs;
	team.alias.members[1].dest.nrulesets = 1;
	tx[2].localpart = "team";
	tx[2].domain = "example.org";
	tx[2].r = &team;
	store_plan_deliveries(tx, 3, &f, &p);
	/* a@ is explicit, so member a is skipped; b goes to Team. */
	assert_int_equal(p.ncopies, 3);
	assert_int_equal(p.copies[2].account_id, 2);
	assert_string_equal(p.copies[2].mailbox, "Team");
	assert_int_equal(p.copies[2].rcpt, 2);
	store_plan_free(&p);
	store_recipient_free(&r1);
	store_recipient_free(&r2);
	store_recipient_free(&team);
}

/* ---- From parser and header reader ---- */

static void
expect_from(const char *hdr, int found, const char *lp, const char *dom)
{
	char *l = NULL, *d = NULL;

	assert_int_equal(store_msgfrom_parse(hdr, strlen(hdr), &l, &d), found);
	if (found) {
		assert_string_equal(l, lp);
		assert_string_equal(d, dom);
	} else {
		assert_null(l);
		assert_null(d);
	}
	free(l);
	free(d);
}

static void
test_msgfrom_parse(void **state)
{
	expect_from("From: Alice <Alice@Example.NET>\r\nTo: x@y\r\n\r\n", 1, "Alice", "example.net");
	expect_from("from: bob@xn--mnchen-3ya.example\r\n\r\n", 1, "bob", "münchen.example");
	expect_from("Subject: x\r\n From: folded\r\n\r\n", 0, NULL, NULL);
	expect_from("From: a@x.example, b@y.example\r\n\r\n", 0, NULL, NULL);
	expect_from("From: undisclosed:;\r\n\r\n", 0, NULL, NULL);
	expect_from("From: joe\r\n\r\n", 0, NULL, NULL);
	expect_from("To: a@b.example\r\n\r\n", 0, NULL, NULL);
}

static void
expect_header(const char *content, size_t max, const char *want)
{
	char path[] = "/tmp/test_rules.XXXXXX";
	const char *err = NULL;
	struct buf b;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(ms_write_all(fd, content, strlen(content)), 0);
	close(fd);
	buf_init(&b);
	buf_puts(&b, "PFX:");
	if (store_msg_read_header(path, max, &b, &err) != 0)
		fail_msg("reading header: %s", err);
	assert_string_equal(b.data + 4, want);
	buf_free(&b);
	unlink(path);
}

static void
test_read_header(void **state)
{
	struct buf big;
	const char *err = NULL;
	size_t i;

	expect_header("A: 1\r\nB: 2\r\n\r\nbody\r\n\r\nmore\r\n", 1 << 20, "A: 1\r\nB: 2\r\n\r\n");
	expect_header("A: 1\nB: 2\n\nbody\n", 1 << 20, "A: 1\nB: 2\n\n");
	expect_header("\r\nbody only\r\n", 1 << 20, "\r\n");
	expect_header("A: 1\r\nno end of header", 1 << 20, "A: 1\r\nno end of header");
	expect_header("A: 1\r\nB: 2\r\n\r\n", 8, "A: 1\r\nB:");
	/* An empty line far beyond the first read chunk is still found. */
	buf_init(&big);
	for (i = 0; i < 5000; i++)
		buf_puts(&big, "X-Filler: 0123456789\r\n");
	buf_puts(&big, "\r\nbody\r\n");
	{
		struct buf want;

		buf_init(&want);
		buf_append(&want, big.data, big.len - 6);
		expect_header(big.data, 1 << 20, want.data);
		buf_free(&want);
	}
	buf_free(&big);
	buf_init(&big);
	assert_int_equal(store_msg_read_header("/nonexistent/x", 10, &big, &err), -1);
	assert_non_null(err);
	buf_free(&big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_regexp_dialect),
		cmocka_unit_test(test_ruleset_validation),
		cmocka_unit_test(test_match_mailfrom_msgfrom),
		cmocka_unit_test(test_match_verified_domain),
		cmocka_unit_test(test_match_headers),
		cmocka_unit_test(test_choose),
		cmocka_unit_test(test_mailbox_names),
		cmocka_unit_test(test_smtp_errors),
		cmocka_unit_test(test_canon_localpart),
		cmocka_unit_test(test_alias_accepts_from),
		cmocka_unit_test(test_recipient_same),
		cmocka_unit_test(test_plan_alias_dedup),
		cmocka_unit_test(test_plan_members_only),
		cmocka_unit_test(test_plan_mailboxes),
		cmocka_unit_test(test_msgfrom_parse),
		cmocka_unit_test(test_read_header),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
