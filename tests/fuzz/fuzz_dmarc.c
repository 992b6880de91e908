/* Fuzz target for lib/mailauth/dmarc and authres: the input is parsed as a
 * DMARC record (dmarc_record_parse), and its first two lines (split at
 * NUL or LF) are used as domains for dmarc_org_domain/dmarc_aligned and as
 * values and comments in an Authentication-Results header. No DNS: fast
 * and deterministic. Checks: parsed fields in range, the record starting
 * with v, alignment symmetric and strict implying relaxed, the
 * organizational domain a suffix of the domain, and the header keeping
 * its structure (CRLF + tab folding, balanced comments and quotes, one
 * ';' per method) whatever the values hold. */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/util.h"
#include "mailauth/authres.h"
#include "mailauth/dmarc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_dmarc: check failed: %s (line %d)\n", #cond,         \
			        __LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* Beyond the parser's own 4096-byte limit; longer inputs add nothing. */
#define FUZZ_MAX_INPUT 8192

static void
check_record(const char *s, size_t size)
{
	struct dmarc_record rec;
	const char *err = NULL;
	size_t i = 0;

	if (dmarc_record_parse(s, size, &rec, &err) != 0) {
		CHECK(err != NULL);
		CHECK(rec.rua == NULL && rec.ruf == NULL && rec.fo == NULL && rec.rf == NULL);
		return;
	}
	while (i < size && (s[i] == ' ' || s[i] == '\t'))
		i++;
	CHECK(i < size && s[i] == 'v');
	CHECK(memchr(s, '\0', size) == NULL);
	CHECK(rec.p <= DMARC_POLICY_REJECT && rec.sp <= DMARC_POLICY_REJECT);
	CHECK(rec.sp_set || rec.sp == DMARC_POLICY_NONE);
	CHECK(rec.pct <= 100);
	CHECK(rec.rua == NULL || (strchr(rec.rua, '@') != NULL && strlen(rec.rua) < size));
	CHECK(rec.ruf == NULL || (strchr(rec.ruf, '@') != NULL && strlen(rec.ruf) < size));
	CHECK(rec.fo == NULL || strlen(rec.fo) < size);
	CHECK(rec.rf == NULL || strlen(rec.rf) < size);
	dmarc_record_free(&rec);
	CHECK(rec.rua == NULL && rec.fo == NULL);
}

static void
check_domains(const char *a, const char *b)
{
	bool rel = dmarc_aligned(a, b, false), str = dmarc_aligned(a, b, true);

	CHECK(rel == dmarc_aligned(b, a, false));
	CHECK(str == dmarc_aligned(b, a, true));
	CHECK(!str || rel);
	CHECK(dmarc_aligned(a, a, true) == (a[0] != '\0'));
	if (a[0] != '\0') {
		char *org = dmarc_org_domain(a);
		size_t la = strlen(a), lo = strlen(org);

		/* The domain itself or one of its parent domains. */
		CHECK(lo > 0 && lo <= la && ms_strcaseeq(a + la - lo, org));
		CHECK(lo == la || a[la - lo - 1] == '.');
		CHECK(dmarc_aligned(a, org, false));
		free(org);
	}
}

/* RFC 8601 structure: "Authentication-Results: " id, then resinfos each
 * after ";" CRLF TAB (or "; none"); outside comments and quoted strings
 * exactly nmethods ';'. */
static void
check_header(const struct buf *h, unsigned nmethods)
{
	const char *p = h->data;
	unsigned depth = 0, semis = 0;
	bool quoted = false;

	CHECK(strlen(h->data) == h->len);
	CHECK(strncmp(p, "Authentication-Results: ", 24) == 0);
	CHECK(h->len > 2 && memcmp(h->data + h->len - 2, "\r\n", 2) == 0);
	for (p += 24; *p != '\0'; p++) {
		if (*p == '\r') {
			CHECK(p[1] == '\n' && (p[2] == '\t' || p[2] == '\0'));
			CHECK(!quoted && depth == 0);
			p++;
			continue;
		}
		CHECK(*p != '\n');
		if ((quoted || depth > 0) && *p == '\\' && p[1] != '\0')
			p++;
		else if (quoted)
			quoted = *p != '"';
		else if (*p == '(')
			depth++;
		else if (*p == ')') {
			CHECK(depth > 0);
			depth--;
		} else if (depth == 0 && *p == '"')
			quoted = true;
		else if (depth == 0 && *p == ';')
			semis++;
	}
	CHECK(!quoted && depth == 0);
	CHECK(semis == (nmethods > 0 ? nmethods : 1));
}

static void
check_authres(const char *a, const char *b)
{
	struct iprev_outcome ipr = { .result = IPREV_PASS, .authentic = true, .name = (char *)b };
	struct spf_outcome spf = { .result = SPF_PASS };
	struct dkim_result k[2];
	struct dmarc_outcome dm;
	struct authres ar;
	struct buf h;

	memset(k, 0, sizeof(k));
	k[0].status = DKIM_FAIL;
	k[0].error = (char *)a;
	k[0].domain = (char *)b;
	k[0].selector = (char *)a;
	k[0].b_prefix = (char *)b;
	k[1].status = DKIM_PASS;
	k[1].domain = (char *)a;
	memset(&dm, 0, sizeof(dm));
	dm.result = DMARC_FAIL;
	dm.from_domain = (char *)a;
	dm.record_domain = (char *)b;
	memset(&ar, 0, sizeof(ar));
	ar.authserv_id = "mx.example.org";
	ar.ip = a;
	ar.iprev = &ipr;
	ar.spf_mailfrom = &spf;
	ar.mailfrom = b;
	ar.spf_helo = &spf;
	ar.helo = a;
	ar.dkim = k;
	ar.ndkim = 2;
	ar.dmarc = &dm;
	buf_init(&h);
	authres_header(&h, &ar);
	check_header(&h, 6);

	/* No signatures: "dkim=none" with DMARC. */
	buf_reset(&h);
	ar.ndkim = 0;
	ar.iprev = NULL;
	authres_header(&h, &ar);
	check_header(&h, 4);
	buf_free(&h);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	size_t la, lb;
	char *a, *b;

	if (size > FUZZ_MAX_INPUT)
		size = FUZZ_MAX_INPUT;
	check_record(s, size);

	/* Two lines as two domains/values. */
	for (la = 0; la < size && s[la] != '\0' && s[la] != '\n'; la++)
		;
	lb = 0;
	if (la < size)
		for (; la + 1 + lb < size && s[la + 1 + lb] != '\0' && s[la + 1 + lb] != '\n'; lb++)
			;
	a = xstrndup(s, la);
	b = xstrndup(la < size ? s + la + 1 : "", lb);
	check_domains(a, b);
	check_authres(a, b);
	free(a);
	free(b);
	return 0;
}
