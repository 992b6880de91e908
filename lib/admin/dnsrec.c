/* DNS records of a domain and checking them against DNS (dnsrec.h). The
 * values are written the way rr_value renders answers, so a record is as
 * expected when one answer's text equals it. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "admin/dnsrec.h"
#include "core/conf.h"
#include "core/util.h"
#include "db/db.h"
#include "mail/addr.h"
#include "mailauth/dkim.h"
#include "store/store.h"

static void
add(struct dnsrec_list *r, const char *comment, const char *name, enum dns_type type,
	const char *value, bool optional)
{
	struct dnsrec *x;

	r->v = xrealloc(r->v, (r->n + 1) * sizeof(*r->v));
	x = &r->v[r->n++];
	x->comment = comment ? xstrdup(comment) : NULL;
	x->name = xstrdup(name);
	x->type = type;
	x->value = xstrdup(value);
	x->optional = optional;
}

static void
warn(struct dnsrec_list *r, const char *text)
{
	r->warnings = xrealloc(r->warnings, (r->nwarnings + 1) * sizeof(char *));
	r->warnings[r->nwarnings++] = xstrdup(text);
}

void
dnsrec_list_free(struct dnsrec_list *r)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		free(r->v[i].comment);
		free(r->v[i].name);
		free(r->v[i].value);
	}
	free(r->v);
	for (i = 0; i < r->nwarnings; i++)
		free(r->warnings[i]);
	free(r->warnings);
	memset(r, 0, sizeof(*r));
}

/* The comparable text of a record from DNS, in the form the expected
 * values are written: MX "10 host", SRV "0 1 465 host", CNAME "host", TXT
 * the concatenated strings, TLSA "3 1 1 hex". */
static void
rr_value(enum dns_type type, const struct dns_rr *rr, struct buf *out)
{
	size_t i;

	switch (type) {
	case DNS_MX:
		buf_printf(out, "%u %s", rr->pref, rr->text);
		break;
	case DNS_SRV:
		buf_printf(out, "%u %u %u %s", rr->pref, rr->weight, rr->port,
			rr->text[0] ? rr->text : ".");
		break;
	case DNS_TLSA:
		buf_printf(out, "%u %u %u ", rr->usage, rr->selector, rr->mtype);
		for (i = 0; i < rr->data_len; i++)
			buf_printf(out, "%02x", rr->data[i]);
		break;
	default:
		buf_append(out, rr->text, rr->text_len);
		break;
	}
}

void
dnsrec_presentation(const struct dnsrec *r, struct buf *out)
{
	size_t i, len;

	buf_printf(out, "%s. IN %s ", r->name, dns_type_name(r->type));
	switch (r->type) {
	case DNS_TXT:
		/* Character-strings of at most 255 bytes (RFC 1035 3.3). */
		len = strlen(r->value);
		for (i = 0; i < len || i == 0; i += 255)
			buf_printf(out, "%s\"%.*s\"", i ? " " : "",
				(int)(len - i < 255 ? len - i : 255), r->value + i);
		break;
	case DNS_MX:
	case DNS_SRV:
	case DNS_CNAME: {
		/* The last word is a host name: absolute. */
		const char *sp = strrchr(r->value, ' ');
		const char *host = sp ? sp + 1 : r->value;

		buf_append(out, r->value, (size_t)(host - r->value));
		buf_puts(out, host);
		if (strcmp(host, ".") != 0)
			buf_putc(out, '.');
		break;
	}
	default:
		buf_puts(out, r->value);
		break;
	}
}

/* SHA-256 of the SubjectPublicKeyInfo of the first certificate in a PEM
 * file, as hex (DANE-EE SPKI SHA-256, "3 1 1"). */
static int
spki_sha256(const char *path, struct buf *hex, const char **error_r)
{
	unsigned char md[SHA256_DIGEST_LENGTH], *der = NULL;
	FILE *f = fopen(path, "r");
	X509 *x;
	int len;

	if (f == NULL) {
		*error_r = ms_err("%s: cannot open", path);
		return -1;
	}
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (x == NULL) {
		*error_r = ms_err("%s: no PEM certificate", path);
		return -1;
	}
	len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
	X509_free(x);
	if (len <= 0) {
		*error_r = ms_err("%s: cannot encode public key", path);
		return -1;
	}
	SHA256(der, (size_t)len, md);
	OPENSSL_free(der);
	ms_hex_encode(hex, md, sizeof(md));
	return 0;
}

/* The host name that receives mail: the first SMTP listener's, else the
 * general host name. */
static const char *
mx_host(const struct conf *conf)
{
	const char *host = conf->general.hostname;
	size_t i;

	for (i = 0; i < conf->nlisteners; i++) {
		const struct conf_listener_def *l = &conf->listeners[i];

		if (l->smtp > 0 && l->hostname != NULL && l->hostname[0] != '\0')
			host = l->hostname;
	}
	return host;
}

struct domain_dns {
	char *dmarc, *tlsrpt, *mtasts_mode, *mtasts_mx;	/* mx: space-separated */
	int64_t mtasts_max_age;
};

static void
domain_dns_free(struct domain_dns *s)
{
	free(s->dmarc);
	free(s->tlsrpt);
	free(s->mtasts_mode);
	free(s->mtasts_mx);
	memset(s, 0, sizeof(*s));
}

/* The domain's DNS settings (sql/015_admin.sql), with the [web] defaults
 * for MTA-STS settings it leaves NULL. 1 found, 0 not, -1. */
static int
domain_dns_get(const struct conf *conf, struct store *st, const char *uni, struct domain_dns *s,
	const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	PGresult *res;
	int found;

	memset(s, 0, sizeof(*s));
	if (c == NULL)
		return -1;
	res = db_execv(c, error_r,
		"SELECT dmarc_localpart, tlsrpt_localpart, coalesce(mtasts_mode, $2),"
		" coalesce(mtasts_max_age, $3::bigint), array_to_string(mtasts_mx, ' ')"
		" FROM domains WHERE name = $1", 3, uni, conf->web.mtasts_mode,
		db_i64((int64_t)conf->web.mtasts_max_age));
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	found = PQntuples(res) == 1;
	if (found) {
		s->dmarc = xstrdup(PQgetvalue(res, 0, 0));
		s->tlsrpt = xstrdup(PQgetvalue(res, 0, 1));
		s->mtasts_mode = xstrdup(PQgetvalue(res, 0, 2));
		s->mtasts_max_age = db_get_i64(res, 0, 3);
		s->mtasts_mx = xstrdup(PQgetvalue(res, 0, 4));
	}
	PQclear(res);
	return found;
}

/* RFC 8461 section 3.2: CRLF-separated key/value pairs; "mx" once per
 * pattern, by default the host names of our SMTP listeners (each once),
 * else [general] hostname. */
static void
policy_text(const struct conf *conf, const struct domain_dns *s, struct buf *policy,
	struct buf *id)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	const char *p = s->mtasts_mx;
	size_t i, j, nmx = 0;

	buf_printf(policy, "version: STSv1\r\nmode: %s\r\n", s->mtasts_mode);
	if (*p == '\0') {
		for (i = 0; i < conf->nlisteners; i++) {
			const char *h = conf->listeners[i].hostname;

			if (conf->listeners[i].smtp == 0 || h == NULL || h[0] == '\0')
				continue;
			for (j = 0; j < i; j++)
				if (conf->listeners[j].smtp != 0 && conf->listeners[j].hostname != NULL &&
				    strcmp(conf->listeners[j].hostname, h) == 0)
					break;
			if (j < i)
				continue;
			buf_printf(policy, "mx: %s\r\n", h);
			nmx++;
		}
		if (nmx == 0)
			buf_printf(policy, "mx: %s\r\n", conf->general.hostname);
	}
	while (*p != '\0') {
		size_t n = strcspn(p, " ");

		buf_printf(policy, "mx: %.*s\r\n", (int)n, p);
		p += n;
		p += strspn(p, " ");
	}
	buf_printf(policy, "max_age: %lld\r\n", (long long)s->mtasts_max_age);
	/* The id changes whenever the policy does (RFC 8461 section 3.1). */
	SHA256((const unsigned char *)policy->data, policy->len, md);
	ms_hex_encode(id, md, 8);
}

int
dnsrec_mtasts_policy(const struct conf *conf, struct store *st, const char *domain,
	struct buf *policy, struct buf *id, const char **error_r)
{
	struct domain_dns s;
	char *uni, *ascii;
	const char *err;
	int found;

	if (mail_domain_parse(domain, strlen(domain), true, &uni, &ascii, &err) < 0)
		return 0;
	found = domain_dns_get(conf, st, uni, &s, error_r);
	free(uni);
	free(ascii);
	if (found <= 0)
		return found;
	if (s.mtasts_mode[0] == '\0')
		found = 0;
	else
		policy_text(conf, &s, policy, id);
	domain_dns_free(&s);
	return found;
}

static void
dkim_records(struct store *st, const char *uni, const char *domain, struct dnsrec_list *r)
{
	struct store_dkim_selector *sels = NULL;
	const char *err;
	size_t nsels = 0, i;

	if (store_dkim_selectors(st, uni, false, &sels, &nsels, &err) < 0) {
		warn(r, ms_err("DKIM keys: %s", err));
		return;
	}
	if (nsels == 0)
		warn(r, ms_err("no DKIM keys for %s yet; make one with: mailstead dkim gen "
			"--algorithm ed25519 --domain %s --selector SELECTOR", domain, domain));
	for (i = 0; i < nsels; i++) {
		EVP_PKEY *key = dkim_key_from_pem(sels[i].private_key, strlen(sels[i].private_key),
			&err);
		struct buf name, txt;

		buf_init(&name);
		buf_init(&txt);
		if (key != NULL && dkim_txt_record(key, &txt, &err) == 0) {
			buf_printf(&name, "%s._domainkey.%s", sels[i].selector, domain);
			add(r, i == 0 ? "DKIM public keys (RFC 6376), one per selector." : NULL,
				name.data, DNS_TXT, txt.data, false);
		} else {
			warn(r, ms_err("DKIM selector %s: %s", sels[i].selector, err));
		}
		EVP_PKEY_free(key);
		buf_free(&name);
		buf_free(&txt);
	}
	store_dkim_selectors_free(sels, nsels);
}

static void
client_records(const struct conf *conf, const char *domain, const char *host,
	struct dnsrec_list *r)
{
	static const struct {
		const char *srv;
		int which;	/* 0 off, 1 submissions, 2 imaps, 3 https */
	} srvs[] = {
		{ "_autodiscover._tcp", 3 }, { "_submissions._tcp", 1 },
		{ "_submission._tcp", 0 }, { "_imaps._tcp", 2 }, { "_imap._tcp", 0 },
		{ "_pop3._tcp", 0 }, { "_pop3s._tcp", 0 },
	};
	uint64_t subm = 0, imaps = 0;
	struct buf name, v;
	size_t i;

	for (i = 0; i < conf->nlisteners; i++) {
		const struct conf_listener_def *l = &conf->listeners[i];

		if (l->submissions > 0 && subm == 0)
			subm = l->submissions;
		if (l->imaps > 0 && imaps == 0)
			imaps = l->imaps;
	}
	buf_init(&name);
	buf_init(&v);
	/* RFC 6186 SRV records ("0 0 0 ." = not offered), Thunderbird
	 * autoconfig and Outlook autodiscover. */
	buf_printf(&name, "autoconfig.%s", domain);
	add(r, "Mail clients find the servers (RFC 6186, RFC 8314; autoconfig, autodiscover).",
		name.data, DNS_CNAME, host, true);
	for (i = 0; i < MS_NELEM(srvs); i++) {
		uint64_t port = srvs[i].which == 1 ? (subm ? subm : 465) :
		    srvs[i].which == 2 ? (imaps ? imaps : 993) : srvs[i].which == 3 ? 443 : 0;

		buf_reset(&name);
		buf_printf(&name, "%s.%s", srvs[i].srv, domain);
		buf_reset(&v);
		if (port == 0)
			buf_puts(&v, "0 0 0 .");
		else
			buf_printf(&v, "0 1 %llu %s", (unsigned long long)port, host);
		add(r, NULL, name.data, DNS_SRV, v.data, true);
	}
	buf_free(&name);
	buf_free(&v);
}

static void
dane_records(const struct conf *conf, struct dnsrec_list *r)
{
	struct buf name, v, hex;
	const char *err;
	size_t i, j;

	buf_init(&name);
	buf_init(&v);
	buf_init(&hex);
	/* DANE (RFC 7672): the public key of each certificate of the
	 * listener that receives mail. Publish only in a DNSSEC-signed zone. */
	for (i = 0; i < conf->nlisteners; i++) {
		const struct conf_listener_def *l = &conf->listeners[i];
		const char *lhost = l->hostname && l->hostname[0] ? l->hostname : conf->general.hostname;

		if (l->smtp == 0)
			continue;
		for (j = 0; j < l->tls_cert.n; j++) {
			buf_reset(&hex);
			if (spki_sha256(l->tls_cert.v[j], &hex, &err) < 0) {
				warn(r, ms_err("listener %s: %s", l->name, err));
				continue;
			}
			buf_reset(&name);
			buf_printf(&name, "_25._tcp.%s", lhost);
			buf_reset(&v);
			buf_printf(&v, "3 1 1 %s", hex.data);
			add(r, j == 0 ? "DANE (RFC 7672), only in a DNSSEC-signed zone: the key of the"
				" certificate (renewals must keep the key, or publish the new one first)." :
				NULL, name.data, DNS_TLSA, v.data, true);
		}
	}
	buf_free(&name);
	buf_free(&v);
	buf_free(&hex);
}

int
dnsrec_build(const struct conf *conf, struct store *st, const char *domain_in,
	struct dnsrec_list *r, const char **error_r)
{
	const char *host = mx_host(conf), *err;
	struct domain_dns s;
	struct buf name, v;
	char *uni, *domain;
	int found;

	memset(r, 0, sizeof(*r));
	if (mail_domain_parse(domain_in, strlen(domain_in), true, &uni, &domain, &err) < 0 ||
	    domain[0] == '[') {
		*error_r = ms_err("bad domain %s: %s", domain_in, uni ? "address literal" : err);
		if (uni != NULL) {
			free(uni);
			free(domain);
		}
		return -1;
	}
	found = domain_dns_get(conf, st, uni, &s, error_r);
	if (found <= 0) {
		if (found == 0)
			*error_r = ms_err("no such domain: %s", uni);
		free(uni);
		free(domain);
		return -1;
	}
	buf_init(&name);
	buf_init(&v);

	buf_printf(&v, "10 %s", host);
	add(r, "Mail for the domain goes to this host (RFC 5321 5.1).", domain, DNS_MX, v.data,
		false);
	add(r, "SPF (RFC 7208): the MX hosts may send for the domain; others soft-fail.",
		domain, DNS_TXT, "v=spf1 mx ~all", false);
	if (strcmp(host, domain) != 0)
		add(r, "SPF for the host name itself (EHLO, bounces with a null sender).", host,
			DNS_TXT, "v=spf1 a -all", false);

	dkim_records(st, uni, domain, r);

	buf_printf(&name, "_dmarc.%s", domain);
	buf_reset(&v);
	if (s.dmarc[0] != '\0') {
		buf_printf(&v, "v=DMARC1; p=reject; rua=mailto:%s@%s!10m", s.dmarc, domain);
		add(r, ms_err("DMARC (RFC 7489): reject mail From the domain that passes neither "
			"aligned SPF nor DKIM;\n; aggregate reports to %s@ (make it an address or "
			"alias).", s.dmarc), name.data, DNS_TXT, v.data, false);
	} else {
		add(r, "DMARC (RFC 7489): reject mail From the domain that passes neither aligned"
			" SPF nor DKIM (no reports requested).", name.data, DNS_TXT,
			"v=DMARC1; p=reject", false);
	}

	if (s.mtasts_mode[0] != '\0') {
		struct buf policy, id;

		buf_init(&policy);
		buf_init(&id);
		buf_puts(&id, "v=STSv1; id=");
		policy_text(conf, &s, &policy, &id);
		buf_reset(&name);
		buf_printf(&name, "_mta-sts.%s", domain);
		add(r, ms_err("MTA-STS (RFC 8461, mode %s): senders require TLS to the MX; the "
			"policy is served at\n; https://mta-sts.<domain>/.well-known/mta-sts.txt.",
			s.mtasts_mode), name.data, DNS_TXT, id.data, true);
		buf_reset(&name);
		buf_printf(&name, "mta-sts.%s", domain);
		add(r, NULL, name.data, DNS_CNAME, host, true);
		buf_free(&policy);
		buf_free(&id);
	}

	if (s.tlsrpt[0] != '\0') {
		buf_reset(&name);
		buf_printf(&name, "_smtp._tls.%s", domain);
		buf_reset(&v);
		buf_printf(&v, "v=TLSRPTv1; rua=mailto:%s@%s", s.tlsrpt, domain);
		add(r, ms_err("TLS reporting (RFC 8460): senders report TLS failures to %s@.",
			s.tlsrpt), name.data, DNS_TXT, v.data, true);
	}

	client_records(conf, domain, host, r);
	dane_records(conf, r);

	buf_free(&name);
	buf_free(&v);
	domain_dns_free(&s);
	free(uni);
	free(domain);
	return 0;
}

const char *
dnsrec_state_name(enum dnsrec_state s)
{
	switch (s) {
	case DNSREC_OK: return "ok";
	case DNSREC_MISSING: return "missing";
	case DNSREC_DIFFERENT: return "different";
	case DNSREC_ERROR: return "error";
	}
	return "?";
}

void
dnsrec_check(struct dns *d, const struct dnsrec *r, struct dnsrec_result *res)
{
	struct dns_answer a;
	struct buf one;
	bool ok = false;
	size_t j;

	memset(res, 0, sizeof(*res));
	buf_init(&res->found);
	buf_init(&one);
	dns_lookup(d, r->name, r->type, &a);
	for (j = 0; a.status == DNS_OK && j < a.n; j++) {
		buf_reset(&one);
		rr_value(r->type, &a.rr[j], &one);
		if (strcasecmp(one.data, r->value) == 0)
			ok = true;
		buf_printf(&res->found, "%s\"%s\"", res->found.len ? ", " : "", one.data);
	}
	buf_free(&one);
	if (ok)
		res->state = DNSREC_OK;
	else if (a.status == DNS_TEMPERROR)
		res->state = DNSREC_ERROR;
	else if (a.status != DNS_OK)
		res->state = DNSREC_MISSING;
	else
		res->state = DNSREC_DIFFERENT;
	if (a.status == DNS_TEMPERROR)
		res->error = xstrdup(a.error ? a.error : "temporary error");
	res->authentic = a.authentic;
	dns_answer_free(&a);
}

void
dnsrec_result_free(struct dnsrec_result *res)
{
	buf_free(&res->found);
	free(res->error);
	res->error = NULL;
}
