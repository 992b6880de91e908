/* Admin API: domains, their settings, DKIM keys and DNS records (the
 * reference's webadmin Domain* methods). Changes go through the functions
 * "mailstead domain|dkim|dns" use. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "admin/admin_private.h"
#include "admin/dkimkey.h"
#include "admin/dnsrec.h"
#include "core/conf.h"
#include "core/log.h"
#include "core/util.h"
#include "mailauth/dkim.h"
#include "net/dns.h"
#include "store/store_rules.h"

int
admin_api_domains(struct web_call *call)
{
	struct json_object *arr;
	PGresult *res;
	int i;

	res = admin_query(call, "listing domains",
		"SELECT d.name, d.disabled, d.reports_only, coalesce(d.client_settings_domain, ''),"
		" d.description, (SELECT count(*) FROM accounts a WHERE a.domain_id = d.id),"
		" (SELECT count(*) FROM addresses ad WHERE ad.domain_id = d.id),"
		" (SELECT count(*) FROM dkim_selectors s WHERE s.domain_id = d.id)"
		" FROM domains d ORDER BY d.name", 0);
	if (res == NULL)
		return -1;
	arr = json_object_new_array();
	for (i = 0; i < PQntuples(res); i++) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "name", admin_str(PQgetvalue(res, i, 0)));
		json_object_object_add(o, "disabled", json_object_new_boolean(db_get_bool(res, i, 1)));
		json_object_object_add(o, "reportsOnly", json_object_new_boolean(db_get_bool(res, i, 2)));
		json_object_object_add(o, "clientSettingsDomain", admin_str(PQgetvalue(res, i, 3)));
		json_object_object_add(o, "description", admin_str(PQgetvalue(res, i, 4)));
		json_object_object_add(o, "accounts", json_object_new_int64(db_get_i64(res, i, 5)));
		json_object_object_add(o, "addresses", json_object_new_int64(db_get_i64(res, i, 6)));
		json_object_object_add(o, "dkimSelectors", json_object_new_int64(db_get_i64(res, i, 7)));
		json_object_array_add(arr, o);
	}
	PQclear(res);
	call->result = arr;
	return 0;
}

/* The DKIM selectors of a domain with their public records. */
static int
dkim_json(struct web_call *call, const char *domain, struct json_object **arr_r)
{
	struct store_dkim_selector *sels = NULL;
	struct json_object *arr;
	const char *err;
	size_t n = 0, i;

	if (store_dkim_selectors(admin_store(call), domain, false, &sels, &n, &err) < 0)
		return web_call_server_error(call, "listing DKIM keys", err);
	arr = json_object_new_array();
	for (i = 0; i < n; i++) {
		struct json_object *o = json_object_new_object();
		EVP_PKEY *key = dkim_key_from_pem(sels[i].private_key, strlen(sels[i].private_key),
			&err);
		struct buf txt;

		buf_init(&txt);
		if (key == NULL || dkim_txt_record(key, &txt, &err) < 0)
			buf_printf(&txt, "(bad key: %s)", err);
		EVP_PKEY_free(key);
		json_object_object_add(o, "selector", admin_str(sels[i].selector));
		json_object_object_add(o, "algorithm", admin_str(sels[i].algorithm));
		json_object_object_add(o, "sign", json_object_new_boolean(sels[i].sign));
		json_object_object_add(o, "oversign", json_object_new_boolean(sels[i].oversign));
		json_object_object_add(o, "expirationSeconds",
			json_object_new_int64(sels[i].expiration_seconds));
		json_object_object_add(o, "headers", admin_strs(sels[i].headers, sels[i].nheaders));
		json_object_object_add(o, "created", json_object_new_int64(sels[i].created));
		json_object_object_add(o, "txt", admin_str(txt.data));
		buf_free(&txt);
		json_object_array_add(arr, o);
	}
	store_dkim_selectors_free(sels, n);
	*arr_r = arr;
	return 0;
}

/* Domain(domain) -> settings, accounts, addresses, aliases, DKIM keys. */
int
admin_api_domain(struct web_call *call)
{
	struct json_object *o, *arr, *dkim = NULL;
	struct store_alias *aliases = NULL;
	const char *err;
	size_t nal = 0, i, j;
	char *dom;
	PGresult *res;
	int k;

	if (admin_param_domain(call, 0, &dom) < 0)
		return -1;
	res = admin_query(call, "reading domain",
		"SELECT d.name, d.disabled, d.reports_only, coalesce(d.client_settings_domain, ''),"
		" d.description, d.localpart_catchall_separators, d.localpart_case_sensitive,"
		" d.dmarc_localpart, d.tlsrpt_localpart, coalesce(d.mtasts_mode, 'default'),"
		" coalesce(d.mtasts_max_age, 0),"
		" array_to_string(d.mtasts_mx, ' '), extract(epoch FROM d.created)::bigint"
		" FROM domains d WHERE d.name = $1", 1, dom);
	if (res == NULL) {
		free(dom);
		return -1;
	}
	if (PQntuples(res) != 1) {
		PQclear(res);
		k = web_call_error(call, "user:notFound", "no such domain %s", dom);
		free(dom);
		return k;
	}
	o = json_object_new_object();
	json_object_object_add(o, "name", admin_str(PQgetvalue(res, 0, 0)));
	json_object_object_add(o, "disabled", json_object_new_boolean(db_get_bool(res, 0, 1)));
	json_object_object_add(o, "reportsOnly", json_object_new_boolean(db_get_bool(res, 0, 2)));
	json_object_object_add(o, "clientSettingsDomain", admin_str(PQgetvalue(res, 0, 3)));
	json_object_object_add(o, "description", admin_str(PQgetvalue(res, 0, 4)));
	json_object_object_add(o, "catchallSeparators", admin_str(PQgetvalue(res, 0, 5)));
	json_object_object_add(o, "localpartCaseSensitive",
		json_object_new_boolean(db_get_bool(res, 0, 6)));
	json_object_object_add(o, "dmarcLocalpart", admin_str(PQgetvalue(res, 0, 7)));
	json_object_object_add(o, "tlsrptLocalpart", admin_str(PQgetvalue(res, 0, 8)));
	json_object_object_add(o, "mtastsMode", admin_str(PQgetvalue(res, 0, 9)));
	json_object_object_add(o, "mtastsMaxAge", json_object_new_int64(db_get_i64(res, 0, 10)));
	arr = json_object_new_array();
	{
		const char *p = PQgetvalue(res, 0, 11);

		while (*p != '\0') {
			size_t n = strcspn(p, " ");

			json_object_array_add(arr, json_object_new_string_len(p, (int)n));
			p += n;
			p += strspn(p, " ");
		}
	}
	json_object_object_add(o, "mtastsMX", arr);
	json_object_object_add(o, "created", json_object_new_int64(db_get_i64(res, 0, 12)));
	PQclear(res);
	{
		/* The policy served at mta-sts.<domain> ("" when none). */
		struct buf policy, id;
		int rc;

		buf_init(&policy);
		buf_init(&id);
		rc = dnsrec_mtasts_policy(web_env_conf(call->req->env), admin_store(call), dom, &policy,
			&id, &err);
		if (rc < 0) {
			buf_free(&policy);
			buf_free(&id);
			web_call_server_error(call, "MTA-STS policy", err);
			goto fail;
		}
		json_object_object_add(o, "mtastsPolicy", admin_str(rc > 0 ? policy.data : ""));
		buf_free(&policy);
		buf_free(&id);
	}

	/* Addresses of the domain with their accounts ("" localpart: the
	 * catch-all), and the accounts whose default domain it is. */
	res = admin_query(call, "reading domain",
		"SELECT ad.localpart, a.name FROM addresses ad JOIN accounts a ON a.id = ad.account_id"
		" JOIN domains d ON d.id = ad.domain_id WHERE d.name = $1 ORDER BY ad.localpart", 1, dom);
	if (res == NULL)
		goto fail;
	arr = json_object_new_array();
	for (k = 0; k < PQntuples(res); k++) {
		struct json_object *a = json_object_new_object();

		json_object_object_add(a, "localpart", admin_str(PQgetvalue(res, k, 0)));
		json_object_object_add(a, "account", admin_str(PQgetvalue(res, k, 1)));
		json_object_array_add(arr, a);
	}
	PQclear(res);
	json_object_object_add(o, "addresses", arr);
	res = admin_query(call, "reading domain",
		"SELECT a.name FROM accounts a JOIN domains d ON d.id = a.domain_id WHERE d.name = $1"
		" ORDER BY a.name", 1, dom);
	if (res == NULL)
		goto fail;
	arr = json_object_new_array();
	for (k = 0; k < PQntuples(res); k++)
		json_object_array_add(arr, admin_str(PQgetvalue(res, k, 0)));
	PQclear(res);
	json_object_object_add(o, "accounts", arr);

	if (store_alias_list(admin_store(call), dom, &aliases, &nal, &err) < 0) {
		web_call_server_error(call, "listing aliases", err);
		goto fail;
	}
	arr = json_object_new_array();
	for (i = 0; i < nal; i++) {
		struct json_object *a = json_object_new_object(), *m = json_object_new_array();

		json_object_object_add(a, "address", admin_str(aliases[i].address));
		json_object_object_add(a, "postPublic", json_object_new_boolean(aliases[i].post_public));
		json_object_object_add(a, "listMembers",
			json_object_new_boolean(aliases[i].list_members));
		json_object_object_add(a, "allowMsgFrom",
			json_object_new_boolean(aliases[i].allow_msg_from));
		for (j = 0; j < aliases[i].nmembers; j++)
			json_object_array_add(m, admin_str(aliases[i].members[j].address));
		json_object_object_add(a, "members", m);
		json_object_array_add(arr, a);
	}
	store_aliases_free(aliases, nal);
	json_object_object_add(o, "aliases", arr);
	if (dkim_json(call, dom, &dkim) < 0)
		goto fail;
	json_object_object_add(o, "dkim", dkim);
	free(dom);
	call->result = o;
	return 0;
fail:
	json_object_put(o);
	free(dom);
	return -1;
}

/* DomainAdd(domain, accountLocalpart): the domain with two DKIM keys
 * (Ed25519 and RSA) and, unless accountLocalpart is "", an account
 * localpart@domain. */
int
admin_api_domain_add(struct web_call *call)
{
	struct store *st = admin_store(call);
	const char *lp = web_call_str(call, 1), *err;
	char *dom;
	int64_t id;
	int rc = -1;

	if (admin_param_domain(call, 0, &dom) < 0)
		return -1;
	if (lp[0] != '\0') {
		/* Check the account address before anything is made. */
		struct mail_addr a;
		struct buf s;

		buf_init(&s);
		buf_printf(&s, "%s@%s", lp, dom);
		if (mail_addr_parse_mailbox(s.data, s.len, true, &a, &err) < 0) {
			buf_free(&s);
			free(dom);
			return web_call_error(call, "user:error",
				"parameter 2 (accountLocalpart): bad localpart %s: %s", lp, err);
		}
		mail_addr_free(&a);
		buf_free(&s);
	}
	if (store_domain_add(st, dom, &err) < 0) {
		admin_fail(call, "adding domain", err);
		goto out;
	}
	if (dkimkey_generate_defaults(st, dom, ms_now(), &err) < 0) {
		admin_fail(call, "making DKIM keys", err);
		goto undo;
	}
	if (lp[0] != '\0' && store_account_add(st, lp, dom, &id, &err) < 0) {
		admin_fail(call, "adding account", err);
		goto undo;
	}
	admin_log(call, "domain-added", dom);
	call->result = NULL;
	rc = 0;
	goto out;
undo:
	/* All or nothing: a half-made domain (no keys, no account) goes
	 * again. It has no accounts or addresses, so removal succeeds. */
	if (store_domain_remove(st, dom, &err) < 0)
		log_warn(call->req->cid, "proto=http app=admin ev=domain-add-undo-failed domain=%s "
			"error=%s", lq(dom), lq(err));
out:
	free(dom);
	return rc;
}

int
admin_api_domain_remove(struct web_call *call)
{
	const char *err;
	char *dom;
	int rc = 0;

	if (admin_param_domain(call, 0, &dom) < 0)
		return -1;
	if (store_domain_remove(admin_store(call), dom, &err) < 0)
		rc = admin_fail(call, "removing domain", err);
	else
		admin_log(call, "domain-removed", dom);
	free(dom);
	call->result = NULL;
	return rc;
}

/* Set one store_domain_set setting from parameter 0 (domain) and value. */
static int
domain_set(struct web_call *call, enum store_domain_setting what, const char *value)
{
	const char *err;
	char *dom;
	int rc = 0;

	if (admin_param_domain(call, 0, &dom) < 0)
		return -1;
	if (store_domain_set(admin_store(call), dom, what, value, &err) < 0)
		rc = admin_fail(call, "changing domain", err);
	else
		admin_log(call, "domain-changed", dom);
	free(dom);
	call->result = NULL;
	return rc;
}

int
admin_api_domain_disabled_save(struct web_call *call)
{
	return domain_set(call, STORE_DOMAIN_DISABLED, web_call_bool(call, 1) ? "yes" : "no");
}

int
admin_api_domain_reports_only_save(struct web_call *call)
{
	return domain_set(call, STORE_DOMAIN_REPORTS_ONLY, web_call_bool(call, 1) ? "yes" : "no");
}

int
admin_api_domain_description_save(struct web_call *call)
{
	return domain_set(call, STORE_DOMAIN_DESCRIPTION, web_call_str(call, 1));
}

int
admin_api_domain_client_settings_save(struct web_call *call)
{
	return domain_set(call, STORE_DOMAIN_CLIENT_SETTINGS, web_call_str(call, 1));
}

int
admin_api_domain_dmarc_save(struct web_call *call)
{
	return domain_set(call, STORE_DOMAIN_DMARC_LOCALPART, web_call_str(call, 1));
}

int
admin_api_domain_tlsrpt_save(struct web_call *call)
{
	return domain_set(call, STORE_DOMAIN_TLSRPT_LOCALPART, web_call_str(call, 1));
}

/* DomainLocalpartConfigSave(domain, catchallSeparators, caseSensitive):
 * both settings; the separators first, as the checks of each look at the
 * addresses. */
int
admin_api_domain_localpart_save(struct web_call *call)
{
	if (domain_set(call, STORE_DOMAIN_SEPARATORS, web_call_str(call, 1)) < 0)
		return -1;
	return domain_set(call, STORE_DOMAIN_CASE_SENSITIVE, web_call_bool(call, 2) ? "yes" : "no");
}

/* DomainMTASTSSave(domain, mode, maxAge, mx) */
int
admin_api_domain_mtasts_save(struct web_call *call)
{
	struct json_object *mx = call->params[3];
	struct buf v;
	size_t i;
	int64_t age = web_call_int(call, 2);

	if (age < 0 || age > 31557600)
		return web_call_error(call, "user:error",
			"parameter 3 (maxAge) must be 1 to 31557600 seconds, or 0 for the default");
	if (domain_set(call, STORE_DOMAIN_MTASTS_MODE, web_call_str(call, 1)) < 0)
		return -1;
	if (domain_set(call, STORE_DOMAIN_MTASTS_MAX_AGE, db_i64(age)) < 0)
		return -1;
	buf_init(&v);
	for (i = 0; i < json_object_array_length(mx); i++) {
		const char *h = json_object_get_string(json_object_array_get_idx(mx, i));

		if (h[0] == '\0' || strpbrk(h, ", ") != NULL) {
			buf_free(&v);
			return web_call_error(call, "user:error",
				"parameter 4 (mx): bad host pattern \"%s\"", h);
		}
		buf_printf(&v, "%s%s", i ? "," : "", h);
	}
	i = (size_t)domain_set(call, STORE_DOMAIN_MTASTS_MX, v.data);
	buf_free(&v);
	return (int)i;
}

/* DomainDKIMAdd(domain, selector, algorithm, headers, expirationSeconds,
 * oversign, sign) -> the TXT record to publish. */
int
admin_api_domain_dkim_add(struct web_call *call)
{
	struct json_object *h = call->params[3];
	struct dkimkey_params p;
	const char **hv;
	const char *err;
	struct buf txt;
	size_t i, nh = json_object_array_length(h);
	char *dom;
	int rc = 0;

	if (admin_param_domain(call, 0, &dom) < 0)
		return -1;
	hv = xcalloc(nh + 1, sizeof(*hv));
	for (i = 0; i < nh; i++)
		hv[i] = json_object_get_string(json_object_array_get_idx(h, i));
	memset(&p, 0, sizeof(p));
	p.domain = dom;
	p.selector = web_call_str(call, 1);
	p.algorithm = web_call_str(call, 2);
	p.headers = hv;
	p.nheaders = nh;
	p.expiration_seconds = web_call_int(call, 4);
	p.oversign = web_call_bool(call, 5);
	p.sign = web_call_bool(call, 6);
	buf_init(&txt);
	if (dkimkey_generate(admin_store(call), &p, &txt, &err) < 0) {
		rc = admin_fail(call, "adding DKIM key", err);
	} else {
		admin_log(call, "dkim-added", p.selector);
		call->result = admin_str(txt.data);
	}
	buf_free(&txt);
	free(hv);
	free(dom);
	return rc;
}

int
admin_api_domain_dkim_remove(struct web_call *call)
{
	const char *err;
	char *dom;
	int rc;

	if (admin_param_domain(call, 0, &dom) < 0)
		return -1;
	rc = store_dkim_selector_rm(admin_store(call), dom, web_call_str(call, 1), &err);
	if (rc < 0)
		rc = admin_fail(call, "removing DKIM key", err);
	else if (rc == 0)
		rc = web_call_error(call, "user:notFound", "no selector %s for %s",
			web_call_str(call, 1), dom);
	else {
		admin_log(call, "dkim-removed", web_call_str(call, 1));
		rc = 0;
	}
	free(dom);
	call->result = NULL;
	return rc;
}

int
admin_api_domain_dkim_sign_save(struct web_call *call)
{
	const char *err;
	char *dom;
	int rc;

	if (admin_param_domain(call, 0, &dom) < 0)
		return -1;
	rc = store_dkim_selector_set_sign(admin_store(call), dom, web_call_str(call, 1),
		web_call_bool(call, 2), &err);
	if (rc < 0)
		rc = admin_fail(call, "changing DKIM key", err);
	else if (rc == 0)
		rc = web_call_error(call, "user:notFound", "no selector %s for %s",
			web_call_str(call, 1), dom);
	else
		rc = 0;
	free(dom);
	call->result = NULL;
	return rc;
}

static struct json_object *
record_json(const struct dnsrec *r)
{
	struct json_object *o = json_object_new_object();
	struct buf p;

	buf_init(&p);
	dnsrec_presentation(r, &p);
	json_object_object_add(o, "comment", admin_str(r->comment ? r->comment : ""));
	json_object_object_add(o, "name", admin_str(r->name));
	json_object_object_add(o, "type", admin_str(dns_type_name(r->type)));
	json_object_object_add(o, "value", admin_str(r->value));
	json_object_object_add(o, "optional", json_object_new_boolean(r->optional));
	json_object_object_add(o, "zone", admin_str(p.data));
	buf_free(&p);
	return o;
}

/* The records of parameter 0, or -1 after an error (unknown domain:
 * user:notFound). */
static int
records(struct web_call *call, struct dnsrec_list *r)
{
	const char *err;

	if (dnsrec_build(web_env_conf(call->req->env), admin_store(call), web_call_str(call, 0), r,
		    &err) < 0) {
		if (strncmp(err, "no such domain", 14) == 0)
			return web_call_error(call, "user:notFound", "%s", err);
		return admin_fail(call, "DNS records", err);
	}
	return 0;
}

/* DomainRecords(domain) -> {records: [{comment, name, type, value,
 * optional, zone}], warnings: [...]} */
int
admin_api_domain_records(struct web_call *call)
{
	struct json_object *o, *arr;
	struct dnsrec_list r;
	size_t i;

	if (records(call, &r) < 0)
		return -1;
	o = json_object_new_object();
	arr = json_object_new_array();
	for (i = 0; i < r.n; i++)
		json_object_array_add(arr, record_json(&r.v[i]));
	json_object_object_add(o, "records", arr);
	json_object_object_add(o, "warnings", admin_strs(r.warnings, r.nwarnings));
	dnsrec_list_free(&r);
	call->result = o;
	return 0;
}

/* DomainCheck(domain) -> {records: [{..., state, found, error,
 * authentic}], warnings, ok} with the resolver of [dns]; ok is false when
 * a required record (MX, SPF, DKIM, DMARC) is not as expected. */
int
admin_api_domain_check(struct web_call *call)
{
	struct conf *conf = web_env_conf(call->req->env);
	struct json_object *o, *arr;
	struct dns_options dopt;
	struct dnsrec_list r;
	struct dns *d;
	const char *err;
	bool ok = true;
	size_t i;

	if (records(call, &r) < 0)
		return -1;
	/* A resolver per check: it re-reads a test zone file, and checks are
	 * rare. */
	memset(&dopt, 0, sizeof(dopt));
	dopt.zone_file = conf->dns.zone_file;
	dopt.trust_anchor = conf->dns.trust_anchor[0] ? conf->dns.trust_anchor : NULL;
	dopt.timeout_ms = (int)(conf->dns.timeout * 1000);
	d = dns_new(&dopt, &err);
	if (d == NULL) {
		dnsrec_list_free(&r);
		return web_call_server_error(call, "DNS resolver", err);
	}
	o = json_object_new_object();
	arr = json_object_new_array();
	for (i = 0; i < r.n; i++) {
		struct json_object *x = record_json(&r.v[i]);
		struct dnsrec_result res;

		dnsrec_check(d, &r.v[i], &res);
		if (res.state != DNSREC_OK && !r.v[i].optional)
			ok = false;
		json_object_object_add(x, "state", admin_str(dnsrec_state_name(res.state)));
		json_object_object_add(x, "found", admin_str(res.found.data ? res.found.data : ""));
		json_object_object_add(x, "error", admin_str(res.error ? res.error : ""));
		json_object_object_add(x, "authentic", json_object_new_boolean(res.authentic));
		dnsrec_result_free(&res);
		json_object_array_add(arr, x);
	}
	dns_free(&d);
	json_object_object_add(o, "records", arr);
	json_object_object_add(o, "warnings", admin_strs(r.warnings, r.nwarnings));
	json_object_object_add(o, "ok", json_object_new_boolean(ok));
	dnsrec_list_free(&r);
	call->result = o;
	return 0;
}
