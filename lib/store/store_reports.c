/* Report data: DMARC evaluations of incoming messages (see store.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/util.h"
#include "store/store.h"

/* rua= "mailto:a@x,mailto:b@y!10m" as a text array literal. */
static void
addresses_array(struct buf *out, const char *rua)
{
	const char **v = NULL;
	char *copy = xstrdup(rua), *s = copy;
	size_t n = 0, i;

	while (*s != '\0') {
		size_t len = strcspn(s, ",");
		char *item = s;

		s += len;
		if (*s == ',')
			*s++ = '\0';
		while (*item == ' ' || *item == '\t')
			item++;
		if (*item == '\0')
			continue;
		v = xrealloc(v, (n + 1) * sizeof(char *));
		v[n++] = item;
	}
	db_text_array(out, v, n);
	for (i = 0; i < n; i++)
		v[i] = NULL;
	free(v);
	free(copy);
}

int
store_dmarc_evaluation_add(struct store *st, const struct store_dmarc_eval *e,
	const char **error_r)
{
	struct buf addrs, dd, ds, dr, ovr;
	const char *ov[1];
	PGconn *c;
	int rc;

	c = db_get(st->pool, error_r);
	if (c == NULL)
		return -1;
	buf_init(&addrs);
	buf_init(&dd);
	buf_init(&ds);
	buf_init(&dr);
	buf_init(&ovr);
	addresses_array(&addrs, e->addresses ? e->addresses : "");
	db_text_array(&dd, e->dkim_domains, e->ndkim);
	db_text_array(&ds, e->dkim_selectors, e->ndkim);
	db_text_array(&dr, e->dkim_results, e->ndkim);
	ov[0] = e->override;
	db_text_array(&ovr, ov, e->override ? 1 : 0);
	rc = db_cmd(c, error_r,
		"INSERT INTO dmarc_evaluations (policy_domain, interval_hours, addresses,"
		" policy_published, source_ip, disposition, aligned_dkim_pass, aligned_spf_pass,"
		" override_reasons, envelope_to, envelope_from, header_from, dkim_results, spf_results)"
		" VALUES ($1, $2::int, $3::text[],"
		" jsonb_build_object('domain', $1::text, 'adkim', $4::text, 'aspf', $5::text,"
		"  'p', $6::text, 'sp', $7::text, 'pct', $8::int, 'fo', $9::text),"
		" $10::inet, $11, $12::boolean, $13::boolean, $14::text[], $15, $16, $17,"
		" (SELECT coalesce(jsonb_agg(jsonb_build_object('domain', d, 'selector', s, 'result', r)),"
		"  '[]'::jsonb) FROM unnest($18::text[], $19::text[], $20::text[]) AS t(d, s, r)),"
		" jsonb_build_array(jsonb_build_object('domain', $21::text, 'scope', $22::text,"
		"  'result', $23::text)))",
		23, e->policy_domain, db_i64(e->interval_hours), addrs.data, e->adkim, e->aspf,
		e->p, e->sp, db_i64(e->pct), e->fo, e->source_ip, e->disposition,
		e->aligned_dkim_pass ? "true" : "false", e->aligned_spf_pass ? "true" : "false",
		ovr.data, e->envelope_to ? e->envelope_to : "", e->envelope_from ? e->envelope_from : "",
		e->header_from ? e->header_from : "", dd.data, ds.data, dr.data,
		e->spf_domain ? e->spf_domain : "", e->spf_scope, e->spf_result);
	db_put(st->pool, c);
	buf_free(&addrs);
	buf_free(&dd);
	buf_free(&ds);
	buf_free(&dr);
	buf_free(&ovr);
	return rc;
}
