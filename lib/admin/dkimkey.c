/* DKIM key generation for stored selectors (dkimkey.h). Private keys are
 * secrets: wiped after use, never logged. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "admin/dkimkey.h"
#include "core/util.h"
#include "mailauth/dkim.h"
#include "store/store.h"

bool
dkimkey_selector_valid(const char *s)
{
	size_t n = strlen(s), label = 0, i;

	if (n == 0 || n > 63 || s[0] == '.' || s[n - 1] == '.' || s[0] == '-')
		return false;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			    (ch >= '0' && ch <= '9') || ch == '-'))
			return false;
		label++;
	}
	return true;
}

static bool
header_name_valid(const char *s)
{
	const unsigned char *p;

	/* RFC 5322 section 3.6.8 field-name: printable ASCII but ":". */
	if (*s == '\0')
		return false;
	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p <= 0x20 || *p >= 0x7f || *p == ':')
			return false;
	return true;
}

int
dkimkey_generate(struct store *st, const struct dkimkey_params *p, struct buf *txt,
	const char **error_r)
{
	struct store_dkim_selector sel;
	struct buf pem;
	enum dkim_algo a;
	EVP_PKEY *key;
	bool from = false;
	size_t i;
	int rc = -1;

	if (strcmp(p->algorithm, "rsa") == 0) {
		a = DKIM_ALGO_RSA;
	} else if (strcmp(p->algorithm, "ed25519") == 0) {
		a = DKIM_ALGO_ED25519;
	} else {
		*error_r = ms_err("algorithm must be rsa or ed25519, not %s", p->algorithm);
		return -1;
	}
	if (!dkimkey_selector_valid(p->selector)) {
		*error_r = ms_err("bad selector %s: letters, digits, \"-\" and dots only", p->selector);
		return -1;
	}
	if (p->expiration_seconds < 0 || p->expiration_seconds > 365 * 86400) {
		*error_r = "expiration must be 0 to 31536000 seconds";
		return -1;
	}
	memset(&sel, 0, sizeof(sel));
	sel.headers = xcalloc(p->nheaders + 2, sizeof(char *));
	for (i = 0; i < p->nheaders; i++) {
		if (!header_name_valid(p->headers[i])) {
			*error_r = ms_err("bad header field name %s", p->headers[i]);
			goto out_headers;
		}
		sel.headers[sel.nheaders] = xstrdup(p->headers[i]);
		ms_str_lower(sel.headers[sel.nheaders]);
		from = from || strcmp(sel.headers[sel.nheaders], "from") == 0;
		sel.nheaders++;
	}
	/* RFC 6376 section 5.4: From must be signed. */
	if (!from && sel.nheaders > 0)
		sel.headers[sel.nheaders++] = xstrdup("from");
	if ((key = dkim_key_generate(a, error_r)) == NULL)
		goto out_headers;
	buf_init(&pem);
	if (dkim_key_to_pem(key, &pem, error_r) < 0 || dkim_txt_record(key, txt, error_r) < 0)
		goto out;
	sel.selector = (char *)p->selector;
	sel.algorithm = (char *)p->algorithm;
	sel.private_key = pem.data;
	sel.oversign = p->oversign;
	sel.sign = p->sign;
	sel.expiration_seconds = p->expiration_seconds;
	rc = store_dkim_selector_add(st, p->domain, &sel, error_r);
out:
	buf_wipe(&pem);
	buf_free(&pem);
	EVP_PKEY_free(key);
out_headers:
	for (i = 0; i < sel.nheaders; i++)
		free(sel.headers[i]);
	free(sel.headers);
	return rc;
}

int
dkimkey_generate_defaults(struct store *st, const char *domain, int64_t now,
	const char **error_r)
{
	static const char *const algos[] = { "ed25519", "rsa" };
	struct dkimkey_params p;
	struct buf txt;
	char date[16], selector[24];
	time_t t = (time_t)now;
	struct tm tm;
	size_t i;
	int rc = 0;

	gmtime_r(&t, &tm);
	if (strftime(date, sizeof(date), "%Y%m%d", &tm) == 0) {
		*error_r = "cannot format the date";
		return -1;
	}
	buf_init(&txt);
	for (i = 0; i < MS_NELEM(algos) && rc == 0; i++) {
		memset(&p, 0, sizeof(p));
		if ((size_t)snprintf(selector, sizeof(selector), "%s%c", date, algos[i][0]) >=
		    sizeof(selector)) {
			*error_r = "selector too long";
			rc = -1;
			break;
		}
		p.domain = domain;
		p.selector = selector;
		p.algorithm = algos[i];
		p.expiration_seconds = 72 * 3600;
		p.oversign = true;
		p.sign = true;
		buf_reset(&txt);
		rc = dkimkey_generate(st, &p, &txt, error_r);
	}
	buf_free(&txt);
	return rc;
}
