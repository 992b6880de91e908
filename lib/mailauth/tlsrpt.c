/* TLSRPT result types and recording of outgoing TLS results, see
 * tlsrpt.h. */
#include "config.h"

#include <string.h>

#include <json-c/json.h>

#include "core/util.h"
#include "db/db.h"
#include "mailauth/tlsrpt.h"

static const char *const type_names[] = {
	[TLSRPT_SUCCESS] = "success",
	[TLSRPT_STARTTLS_NOT_SUPPORTED] = "starttls-not-supported",
	[TLSRPT_CERTIFICATE_HOST_MISMATCH] = "certificate-host-mismatch",
	[TLSRPT_CERTIFICATE_EXPIRED] = "certificate-expired",
	[TLSRPT_CERTIFICATE_NOT_TRUSTED] = "certificate-not-trusted",
	[TLSRPT_VALIDATION_FAILURE] = "validation-failure",
	[TLSRPT_TLSA_INVALID] = "tlsa-invalid",
	[TLSRPT_DNSSEC_INVALID] = "dnssec-invalid",
	[TLSRPT_DANE_REQUIRED] = "dane-required",
	[TLSRPT_STS_POLICY_FETCH_ERROR] = "sts-policy-fetch-error",
	[TLSRPT_STS_POLICY_INVALID] = "sts-policy-invalid",
	[TLSRPT_STS_WEBPKI_INVALID] = "sts-webpki-invalid",
};

const char *
tlsrpt_result_type_name(enum tlsrpt_result_type t)
{
	if ((size_t)t < sizeof(type_names) / sizeof(type_names[0]))
		return type_names[t];
	return "validation-failure";
}

int
tlsrpt_result_type_parse(const char *s, enum tlsrpt_result_type *t_r)
{
	size_t i;

	for (i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++) {
		if (strcmp(s, type_names[i]) == 0) {
			*t_r = (enum tlsrpt_result_type)i;
			return 0;
		}
	}
	return -1;
}

const char *
tlsrpt_policy_type_name(enum tlsrpt_policy_type t)
{
	switch (t) {
	case TLSRPT_POLICY_STS:
		return "sts";
	case TLSRPT_POLICY_TLSA:
		return "tlsa";
	case TLSRPT_POLICY_NONE:
		break;
	}
	return "no-policy-found";
}

static json_object *
str_array(const char *const *v, size_t n)
{
	json_object *a = json_object_new_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	return a;
}

static void
add_str(json_object *o, const char *key, const char *v)
{
	if (v != NULL && v[0] != '\0')
		json_object_object_add(o, key, json_object_new_string(v));
}

int
tlsrpt_results_add(struct db_pool *pool, const struct tlsrpt_result *r, size_t n,
	const char **error_r)
{
	json_object *all = json_object_new_array();
	PGconn *c;
	size_t i, k;
	int rc;

	if (n == 0) {
		json_object_put(all);
		return 0;
	}
	/* One JSON parameter carries all rows, so n results are one
	 * statement whatever n is. */
	for (i = 0; i < n; i++) {
		json_object *o = json_object_new_object(), *details = json_object_new_array();

		json_object_object_add(o, "policy_domain", json_object_new_string(r[i].policy_domain));
		json_object_object_add(o, "recipient_domain",
			json_object_new_string(r[i].recipient_domain ? r[i].recipient_domain : ""));
		json_object_object_add(o, "is_host", json_object_new_boolean(r[i].is_host));
		json_object_object_add(o, "policy_type",
			json_object_new_string(tlsrpt_policy_type_name(r[i].policy_type)));
		json_object_object_add(o, "policy_strings",
			str_array(r[i].policy_strings, r[i].npolicy_strings));
		json_object_object_add(o, "policy_mx", str_array(r[i].policy_mx, r[i].npolicy_mx));
		json_object_object_add(o, "success", json_object_new_int64(r[i].success));
		json_object_object_add(o, "failure", json_object_new_int64(r[i].failure));
		json_object_object_add(o, "send_report", json_object_new_boolean(r[i].send_report));
		for (k = 0; k < r[i].ndetails; k++) {
			const struct tlsrpt_failure *f = &r[i].details[k];
			json_object *d = json_object_new_object();

			json_object_object_add(d, "result-type",
				json_object_new_string(tlsrpt_result_type_name(f->type)));
			add_str(d, "sending-mta-ip", f->sending_ip);
			add_str(d, "receiving-mx-hostname", f->receiving_mx);
			add_str(d, "receiving-ip", f->receiving_ip);
			add_str(d, "failure-reason-code", f->reason);
			json_object_object_add(d, "failed-session-count", json_object_new_int64(1));
			json_object_array_add(details, d);
		}
		json_object_object_add(o, "details", details);
		json_object_array_add(all, o);
	}
	c = db_get(pool, error_r);
	if (c == NULL) {
		json_object_put(all);
		return -1;
	}
	/* Failure details are merged on everything but their count: the
	 * existing and the new ones are grouped, counts summed. */
	rc = db_cmd(c, error_r,
		"INSERT INTO tlsrpt_results AS t (policy_domain, day_utc, recipient_domain, is_host,"
		" policy_type, policy_strings, policy_mx, success_count, failure_count,"
		" failure_details, send_report)"
		" SELECT x.policy_domain, (now() AT TIME ZONE 'UTC')::date, x.recipient_domain,"
		"  x.is_host, x.policy_type,"
		"  ARRAY(SELECT jsonb_array_elements_text(x.policy_strings)),"
		"  ARRAY(SELECT jsonb_array_elements_text(x.policy_mx)),"
		"  x.success, x.failure, x.details, x.send_report"
		" FROM jsonb_to_recordset($1::jsonb) AS x(policy_domain text, recipient_domain text,"
		"  is_host boolean, policy_type text, policy_strings jsonb, policy_mx jsonb,"
		"  success bigint, failure bigint, details jsonb, send_report boolean)"
		" ON CONFLICT (policy_domain, day_utc, recipient_domain, is_host) DO UPDATE SET"
		"  policy_type = EXCLUDED.policy_type,"
		"  policy_strings = EXCLUDED.policy_strings, policy_mx = EXCLUDED.policy_mx,"
		"  success_count = t.success_count + EXCLUDED.success_count,"
		"  failure_count = t.failure_count + EXCLUDED.failure_count,"
		"  failure_details = (SELECT coalesce(jsonb_agg(g.d || jsonb_build_object("
		"    'failed-session-count', g.n) ORDER BY g.d::text), '[]'::jsonb)"
		"   FROM (SELECT e - 'failed-session-count' AS d,"
		"     sum((e->>'failed-session-count')::bigint) AS n"
		"    FROM jsonb_array_elements(t.failure_details || EXCLUDED.failure_details) AS e"
		"    GROUP BY 1) AS g),"
		"  send_report = t.send_report AND EXCLUDED.send_report, updated = now()",
		1, json_object_to_json_string_ext(all, JSON_C_TO_STRING_PLAIN));
	db_put(pool, c);
	json_object_put(all);
	return rc;
}
