/* Client configuration endpoints of the account web interface: Thunderbird
 * autoconfig (/mail/config-v1.1.xml on autoconfig.<domain>), Microsoft
 * autodiscover (POST /autodiscover/autodiscover.xml on
 * autodiscover.<domain>), an Apple .mobileconfig profile of the logged-in
 * account, and the MTA-STS policy (RFC 8461 section 3.2) on
 * mta-sts.<domain>. Server names and ports come from the listeners of
 * mailstead.conf; a domain's client-settings domain, when set, is the host
 * name clients are told. The favicon is not served on these hosts (the
 * seeds): only WEB_ROUTE_WELLKNOWN routes answer there. */
#include "config.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "account/account_private.h"
#include "admin/dnsrec.h"
#include "core/conf.h"
#include "core/log.h"
#include "core/util.h"
#include "db/db.h"
#include "mail/addr.h"

/* Largest autodiscover request we look at (it is a few hundred bytes). */
#define AUTODISCOVER_MAX 16384

struct client_service {
	const char *host;	/* ASCII host name */
	unsigned port;		/* 0: not offered */
	bool tls;		/* implicit TLS; else STARTTLS */
};

struct client_conf {
	char *domain_ascii;
	struct client_service imap, submission;
};

static void
client_conf_free(struct client_conf *cc)
{
	free(cc->domain_ascii);
}

/* Settings for domain (as given: any case, Unicode or A-labels). Returns 1,
 * 0 when it is not an enabled domain of ours, -1 on error (logged). */
static int
client_conf_get(struct web_request *req, const char *domain, struct client_conf *cc)
{
	const struct conf *conf = web_env_conf(req->env);
	struct db_pool *pool = web_env_pool(req->env);
	char *uni = NULL, *ascii = NULL;
	const char *error, *host;
	PGresult *res;
	PGconn *c;
	size_t i;

	memset(cc, 0, sizeof(*cc));
	if (mail_domain_parse(domain, strlen(domain), true, &uni, &ascii, &error) < 0)
		return 0;
	c = db_get(pool, &error);
	if (c == NULL) {
		log_error(req->cid, "proto=http app=account ev=client-conf error=%s", lq(error));
		free(uni);
		free(ascii);
		return -1;
	}
	res = db_execv(c, &error, "SELECT coalesce(client_settings_domain, '') FROM domains"
		" WHERE name = $1 AND NOT disabled AND NOT reports_only", 1, uni);
	db_put(pool, c);
	free(uni);
	if (res == NULL) {
		log_error(req->cid, "proto=http app=account ev=client-conf error=%s", lq(error));
		free(ascii);
		return -1;
	}
	if (PQntuples(res) != 1) {
		PQclear(res);
		free(ascii);
		return 0;
	}
	cc->domain_ascii = ascii;
	host = PQgetvalue(res, 0, 0)[0] != '\0' ? web_strdup(req, PQgetvalue(res, 0, 0)) : NULL;
	PQclear(res);
	/* Implicit TLS is preferred over STARTTLS (RFC 8314 section 3). */
	for (i = 0; i < conf->nlisteners; i++) {
		const struct conf_listener_def *l = &conf->listeners[i];
		const char *h = host != NULL ? host :
			l->hostname != NULL && l->hostname[0] != '\0' ? l->hostname : conf->general.hostname;

		if (cc->imap.port == 0 || (!cc->imap.tls && l->imaps != 0)) {
			if (l->imaps != 0)
				cc->imap = (struct client_service){ h, (unsigned)l->imaps, true };
			else if (l->imap != 0 && cc->imap.port == 0)
				cc->imap = (struct client_service){ h, (unsigned)l->imap, false };
		}
		if (cc->submission.port == 0 || (!cc->submission.tls && l->submissions != 0)) {
			if (l->submissions != 0)
				cc->submission = (struct client_service){ h, (unsigned)l->submissions, true };
			else if (l->submission != 0 && cc->submission.port == 0)
				cc->submission = (struct client_service){ h, (unsigned)l->submission, false };
		}
	}
	return 1;
}

static void
resp_body(struct web_response *resp, unsigned status, const char *ctype, const struct buf *b)
{
	resp->status = status;
	buf_reset(&resp->body);
	buf_append(&resp->body, b->data, b->len);
	web_resp_header(resp, "Content-Type", ctype);
	web_resp_header(resp, "Cache-Control", "no-store");
}

/* The domain a well-known request is about: from the email address
 * (query "emailaddress", as Thunderbird sends it) or else the host name
 * without prefix. */
static const char *
request_domain(struct web_request *req, const char *email, const char *prefix)
{
	const char *at;

	if (email != NULL && email[0] != '\0') {
		at = strrchr(email, '@');
		return at != NULL && at[1] != '\0' ? at + 1 : NULL;
	}
	if (strncmp(req->host, prefix, strlen(prefix)) == 0)
		return req->host + strlen(prefix);
	return req->host;
}

/* ---- Thunderbird autoconfig ---- */

static void
autoconfig_server(struct buf *x, const char *elem, const char *type, const struct client_service *s,
	const char *user)
{
	buf_printf(x, "    <%s type=\"%s\">\n      <hostname>", elem, type);
	web_html_escape(x, s->host);
	buf_printf(x, "</hostname>\n      <port>%u</port>\n      <socketType>%s</socketType>\n"
		"      <username>", s->port, s->tls ? "SSL" : "STARTTLS");
	web_html_escape(x, user);
	buf_printf(x, "</username>\n      <authentication>password-encrypted</authentication>\n"
		"    </%s>\n", elem);
}

void
acct_route_autoconfig(struct web_request *req, struct web_response *resp)
{
	const char *email = web_arg(req, "emailaddress"), *domain;
	struct client_conf cc;
	struct buf x;
	int rc;

	domain = request_domain(req, email, "autoconfig.");
	rc = domain == NULL ? 0 : client_conf_get(req, domain, &cc);
	if (rc <= 0) {
		web_resp_text(resp, rc < 0 ? 500 : 404, rc < 0 ? "server error" : "unknown domain");
		return;
	}
	if (email == NULL || email[0] == '\0')
		email = "%EMAILADDRESS%";
	buf_init(&x);
	buf_puts(&x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<clientConfig version=\"1.1\">\n"
		"  <emailProvider id=\"");
	web_html_escape(&x, cc.domain_ascii);
	buf_puts(&x, "\">\n    <domain>");
	web_html_escape(&x, cc.domain_ascii);
	buf_puts(&x, "</domain>\n    <displayName>");
	web_html_escape(&x, email);
	buf_puts(&x, "</displayName>\n    <displayShortName>");
	web_html_escape(&x, cc.domain_ascii);
	buf_puts(&x, "</displayShortName>\n");
	if (cc.imap.port != 0)
		autoconfig_server(&x, "incomingServer", "imap", &cc.imap, email);
	if (cc.submission.port != 0)
		autoconfig_server(&x, "outgoingServer", "smtp", &cc.submission, email);
	buf_puts(&x, "  </emailProvider>\n  <clientConfigUpdate url=\"https://autoconfig.");
	web_html_escape(&x, cc.domain_ascii);
	buf_puts(&x, "/mail/config-v1.1.xml\"/>\n</clientConfig>\n");
	resp_body(resp, 200, "application/xml; charset=utf-8", &x);
	buf_free(&x);
	client_conf_free(&cc);
}

/* ---- Microsoft autodiscover ---- */

/* The text of the first <name>...</name> in xml[0..n), with the five
 * predefined entities decoded; NULL when absent or unreasonable. */
static char *
xml_element_text(struct web_request *req, const char *xml, size_t n, const char *name)
{
	struct buf open, close, out;
	const char *p, *q, *end = xml + n;
	char *r = NULL;

	buf_init(&open);
	buf_init(&close);
	buf_init(&out);
	buf_printf(&open, "<%s>", name);
	buf_printf(&close, "</%s>", name);
	p = memmem(xml, n, open.data, open.len);
	if (p == NULL)
		goto out;
	p += open.len;
	q = memmem(p, (size_t)(end - p), close.data, close.len);
	if (q == NULL || q - p > 512)
		goto out;
	while (p < q) {
		static const struct { const char *ent; char c; } ents[] = {
			{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' }, { "&quot;", '"' },
			{ "&apos;", '\'' } };
		size_t k;

		if (*p == '&') {
			for (k = 0; k < MS_NELEM(ents); k++)
				if ((size_t)(q - p) >= strlen(ents[k].ent) &&
				    strncmp(p, ents[k].ent, strlen(ents[k].ent)) == 0)
					break;
			if (k == MS_NELEM(ents))
				goto out;
			buf_putc(&out, ents[k].c);
			p += strlen(ents[k].ent);
			continue;
		}
		if (*p == '<' || *p == '\0')
			goto out;
		buf_putc(&out, *p++);
	}
	r = web_strdup(req, out.data);
out:
	buf_free(&open);
	buf_free(&close);
	buf_free(&out);
	return r;
}

static void
autodiscover_protocol(struct buf *x, const char *type, const struct client_service *s,
	const char *login)
{
	buf_printf(x, "      <Protocol>\n        <Type>%s</Type>\n        <Server>", type);
	web_html_escape(x, s->host);
	buf_printf(x, "</Server>\n        <Port>%u</Port>\n        <LoginName>", s->port);
	web_html_escape(x, login);
	/* SSL "on" with Encryption TLS: implicit TLS; SSL "on" alone:
	 * STARTTLS. SPA (Microsoft's own authentication) is off. */
	buf_printf(x, "</LoginName>\n        <SSL>on</SSL>\n%s        <SPA>off</SPA>\n"
		"        <AuthRequired>on</AuthRequired>\n      </Protocol>\n",
		s->tls ? "        <Encryption>TLS</Encryption>\n" : "");
}

void
acct_route_autodiscover(struct web_request *req, struct web_response *resp)
{
	struct mail_addr a;
	struct client_conf cc;
	const char *email, *error;
	struct buf x;
	int rc;

	if (req->body.len > AUTODISCOVER_MAX) {
		web_resp_text(resp, 413, "request too large");
		return;
	}
	email = xml_element_text(req, req->body.data, req->body.len, "EMailAddress");
	if (email == NULL) {
		web_resp_text(resp, 400, "autodiscover request without EMailAddress");
		return;
	}
	if (mail_addr_parse_mailbox(email, strlen(email), true, &a, &error) < 0) {
		web_resp_text(resp, 400, "bad EMailAddress");
		return;
	}
	rc = client_conf_get(req, a.domain, &cc);
	mail_addr_free(&a);
	if (rc <= 0) {
		web_resp_text(resp, rc < 0 ? 500 : 404, rc < 0 ? "server error" : "unknown domain");
		return;
	}
	buf_init(&x);
	buf_puts(&x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\">\n"
		"  <Response xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a\">\n"
		"    <Account>\n      <AccountType>email</AccountType>\n      <Action>settings</Action>\n");
	if (cc.imap.port != 0)
		autodiscover_protocol(&x, "IMAP", &cc.imap, email);
	if (cc.submission.port != 0)
		autodiscover_protocol(&x, "SMTP", &cc.submission, email);
	buf_puts(&x, "    </Account>\n  </Response>\n</Autodiscover>\n");
	resp_body(resp, 200, "application/xml; charset=utf-8", &x);
	buf_free(&x);
	client_conf_free(&cc);
}

/* ---- MTA-STS policy ---- */

void
acct_route_mtasts(struct web_request *req, struct web_response *resp)
{
	struct client_conf cc;
	struct buf policy, id;
	const char *err;
	int rc;

	/* RFC 8461 section 3.3: the policy host is "mta-sts." followed by
	 * the Policy Domain. */
	if (strncmp(req->host, "mta-sts.", 8) != 0) {
		web_resp_text(resp, 404, "not found");
		return;
	}
	rc = client_conf_get(req, req->host + 8, &cc);
	if (rc <= 0) {
		web_resp_text(resp, rc < 0 ? 500 : 404, rc < 0 ? "server error" : "unknown domain");
		return;
	}
	client_conf_free(&cc);
	/* The same policy text whose hash is the id of the domain's _mta-sts
	 * record (lib/admin/dnsrec.c): the domain's settings, else [web]
	 * mtasts_mode and mtasts_max_age, "mx" for our SMTP listeners. */
	buf_init(&policy);
	buf_init(&id);
	rc = dnsrec_mtasts_policy(web_env_conf(req->env), web_env_store(req->env), req->host + 8,
		&policy, &id, &err);
	if (rc < 0) {
		log_error(req->cid, "proto=http app=account ev=mtasts-policy-failed error=%s", lq(err));
		web_resp_text(resp, 500, "server error");
	} else if (rc == 0) {
		web_resp_text(resp, 404, "no MTA-STS policy for this domain");
	} else {
		resp_body(resp, 200, "text/plain; charset=utf-8", &policy);
	}
	buf_free(&policy);
	buf_free(&id);
}

/* ---- Apple configuration profile ---- */

static void
plist_kv(struct buf *x, const char *indent, const char *key, const char *type, const char *value)
{
	buf_printf(x, "%s<key>%s</key>\n%s<%s>", indent, key, indent, type);
	web_html_escape(x, value);
	buf_printf(x, "</%s>\n", type);
}

static void
plist_bool(struct buf *x, const char *indent, const char *key, bool v)
{
	buf_printf(x, "%s<key>%s</key>\n%s<%s/>\n", indent, key, indent, v ? "true" : "false");
}

/* A stable UUID for the profile of these addresses, so a reinstalled
 * profile replaces the old one: SHA-256 of a label and the addresses. */
static void
profile_uuid(char out[37], const char *label, const char *addresses)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	struct buf in, h;

	buf_init(&in);
	buf_printf(&in, "mailstead-mobileconfig\n%s\n%s", label, addresses);
	if (EVP_Digest(in.data, in.len, md, &mdlen, EVP_sha256(), NULL) != 1)
		ms_panic("SHA-256 failed");
	buf_free(&in);
	buf_init(&h);
	ms_hex_encode(&h, md, 16);
	/* 8-4-4-4-12 */
	memcpy(out, h.data, 8);
	out[8] = '-';
	memcpy(out + 9, h.data + 8, 4);
	out[13] = '-';
	memcpy(out + 14, h.data + 12, 4);
	out[18] = '-';
	memcpy(out + 19, h.data + 16, 4);
	out[23] = '-';
	memcpy(out + 24, h.data + 20, 12);
	out[36] = '\0';
	buf_free(&h);
}

void
acct_route_mobileconfig(struct web_request *req, struct web_response *resp)
{
	const char *params[1] = { db_i64(req->account_id) };
	struct db_pool *pool = web_env_pool(req->env);
	const char *error, *first = NULL, *want = web_arg(req, "address"), *at;
	struct buf x, addrs, ident, disp;
	struct client_conf cc;
	char uuid_cfg[37], uuid_acct[37];
	PGresult *res;
	PGconn *c;
	int i, rc;

	c = db_get(pool, &error);
	if (c == NULL) {
		web_resp_text(resp, 500, "server error");
		return;
	}
	/* Regular addresses only: a catch-all "@domain" is no login. */
	res = db_exec(c, "SELECT ad.localpart || '@' || d.name, a.full_name FROM addresses ad"
		" JOIN domains d ON d.id = ad.domain_id JOIN accounts a ON a.id = ad.account_id"
		" WHERE ad.account_id = $1 AND ad.localpart <> '' ORDER BY d.name, ad.localpart",
		1, params, &error);
	db_put(pool, c);
	if (res == NULL) {
		log_error(req->cid, "proto=http app=account ev=mobileconfig error=%s", lq(error));
		web_resp_text(resp, 500, "server error");
		return;
	}
	buf_init(&addrs);
	for (i = 0; i < PQntuples(res); i++) {
		const char *ad = PQgetvalue(res, i, 0);

		if ((want != NULL && strcmp(ad, want) == 0) ||
		    (want == NULL && strcmp(ad, req->login_address) == 0))
			first = web_strdup(req, ad);
	}
	if (first == NULL && want != NULL) {
		PQclear(res);
		buf_free(&addrs);
		web_resp_text(resp, 404, "not an address of this account");
		return;
	}
	if (first == NULL && PQntuples(res) > 0)
		first = web_strdup(req, PQgetvalue(res, 0, 0));
	if (first == NULL) {
		PQclear(res);
		buf_free(&addrs);
		web_resp_text(resp, 404, "the account has no address");
		return;
	}
	/* The login address first: Apple uses it for IMAP and submission. */
	buf_puts(&addrs, first);
	for (i = 0; i < PQntuples(res); i++)
		if (strcmp(PQgetvalue(res, i, 0), first) != 0)
			buf_printf(&addrs, ",%s", PQgetvalue(res, i, 0));
	buf_init(&x);
	buf_puts(&x, PQgetvalue(res, 0, 1));
	PQclear(res);
	at = strrchr(first, '@');
	rc = client_conf_get(req, at + 1, &cc);
	if (rc <= 0) {
		buf_free(&x);
		buf_free(&addrs);
		web_resp_text(resp, rc < 0 ? 500 : 404, rc < 0 ? "server error" : "domain disabled");
		return;
	}
	{
		/* Apple wants a reverse-DNS identifier. */
		const char *d = cc.domain_ascii, *e = d + strlen(d);

		buf_init(&ident);
		while (e > d) {
			const char *s = e;

			while (s > d && s[-1] != '.')
				s--;
			buf_append(&ident, s, (size_t)(e - s));
			buf_putc(&ident, '.');
			e = s > d ? s - 1 : d;
		}
		for (const char *p = first; p < at; p++)
			buf_putc(&ident, (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
				(*p >= '0' && *p <= '9') || *p == '-' ? *p : '_');
	}
	profile_uuid(uuid_cfg, "config", addrs.data);
	profile_uuid(uuid_acct, "account", addrs.data);
	buf_init(&disp);
	buf_printf(&disp, "%s email account", first);
	{
		struct buf p;
		const char *fullname = web_strdup(req, x.data);
		char port[16];

		buf_init(&p);
		buf_puts(&p, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			"<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\""
			" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n<plist version=\"1.0\">\n<dict>\n"
			"\t<key>PayloadContent</key>\n\t<array>\n\t\t<dict>\n");
		plist_kv(&p, "\t\t\t", "EmailAccountDescription", "string", first);
		plist_kv(&p, "\t\t\t", "EmailAccountName", "string", fullname);
		plist_kv(&p, "\t\t\t", "EmailAccountType", "string", "EmailTypeIMAP");
		plist_kv(&p, "\t\t\t", "EmailAddress", "string", addrs.data);
		if (cc.imap.port != 0) {
			plist_kv(&p, "\t\t\t", "IncomingMailServerAuthentication", "string", "EmailAuthCRAMMD5");
			plist_kv(&p, "\t\t\t", "IncomingMailServerHostName", "string", cc.imap.host);
			snprintf(port, sizeof(port), "%u", cc.imap.port);
			plist_kv(&p, "\t\t\t", "IncomingMailServerPortNumber", "integer", port);
			plist_bool(&p, "\t\t\t", "IncomingMailServerUseSSL", cc.imap.tls);
			plist_kv(&p, "\t\t\t", "IncomingMailServerUsername", "string", first);
		}
		if (cc.submission.port != 0) {
			plist_kv(&p, "\t\t\t", "OutgoingMailServerAuthentication", "string", "EmailAuthCRAMMD5");
			plist_kv(&p, "\t\t\t", "OutgoingMailServerHostName", "string", cc.submission.host);
			snprintf(port, sizeof(port), "%u", cc.submission.port);
			plist_kv(&p, "\t\t\t", "OutgoingMailServerPortNumber", "integer", port);
			plist_bool(&p, "\t\t\t", "OutgoingMailServerUseSSL", cc.submission.tls);
			plist_kv(&p, "\t\t\t", "OutgoingMailServerUsername", "string", first);
			plist_bool(&p, "\t\t\t", "OutgoingPasswordSameAsIncomingPassword", true);
		}
		buf_puts(&ident, ".email.account");
		plist_kv(&p, "\t\t\t", "PayloadIdentifier", "string", ident.data);
		plist_kv(&p, "\t\t\t", "PayloadType", "string", "com.apple.mail.managed");
		plist_kv(&p, "\t\t\t", "PayloadUUID", "string", uuid_acct);
		plist_kv(&p, "\t\t\t", "PayloadVersion", "integer", "1");
		buf_puts(&p, "\t\t</dict>\n\t</array>\n");
		plist_kv(&p, "\t", "PayloadDisplayName", "string", disp.data);
		buf_truncate(&ident, ident.len - strlen(".account"));
		plist_kv(&p, "\t", "PayloadIdentifier", "string", ident.data);
		plist_kv(&p, "\t", "PayloadType", "string", "Configuration");
		plist_kv(&p, "\t", "PayloadUUID", "string", uuid_cfg);
		plist_kv(&p, "\t", "PayloadVersion", "integer", "1");
		buf_puts(&p, "</dict>\n</plist>\n");
		resp_body(resp, 200, "application/x-apple-aspen-config", &p);
		buf_free(&p);
	}
	{
		struct buf cd;

		/* The file name: the address with anything unusual replaced. */
		buf_init(&cd);
		buf_puts(&cd, "attachment; filename=\"email-account-");
		for (const char *p = first; *p != '\0'; p++)
			buf_putc(&cd, (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
				(*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == '@' ? *p : '_');
		buf_puts(&cd, ".mobileconfig\"");
		web_resp_header(resp, "Content-Disposition", cd.data);
		buf_free(&cd);
	}
	buf_free(&disp);
	buf_free(&ident);
	buf_free(&x);
	buf_free(&addrs);
	client_conf_free(&cc);
}
