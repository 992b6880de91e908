/* mailstead dns records|check DOMAIN: the DNS records a domain needs (MX,
 * SPF, DKIM, DMARC, MTA-STS, TLSRPT, client autoconfiguration, DANE TLSA)
 * from the configuration and the database, and a comparison with what DNS
 * publishes. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "cli.h"
#include "core/buf.h"
#include "core/util.h"
#include "mail/addr.h"
#include "mailauth/dkim.h"
#include "net/dns.h"

struct record {
	char *comment;		/* printed above the record, or NULL */
	char *name;		/* owner, without final dot */
	enum dns_type type;
	char *value;		/* canonical form compared with DNS (see rr_value) */
	bool optional;		/* "dns check" reports it but does not fail */
};

struct records {
	struct record *v;
	size_t n;
};

static void
add(struct records *r, const char *comment, const char *name, enum dns_type type,
	const char *value, bool optional)
{
	struct record *x;

	r->v = xrealloc(r->v, (r->n + 1) * sizeof(*r->v));
	x = &r->v[r->n++];
	x->comment = comment ? xstrdup(comment) : NULL;
	x->name = xstrdup(name);
	x->type = type;
	x->value = xstrdup(value);
	x->optional = optional;
}

static void
records_free(struct records *r)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		free(r->v[i].comment);
		free(r->v[i].name);
		free(r->v[i].value);
	}
	free(r->v);
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

/* Zone-file presentation of an expected value. */
static void
presentation(const struct record *r, struct buf *out)
{
	size_t i, len;

	buf_printf(out, "%s. IN %s ", r->name, dns_type_name(r->type));
	switch (r->type) {
	case DNS_TXT:
		/* Character-strings of at most 255 bytes. */
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
	size_t i;

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
	for (i = 0; i < sizeof(md); i++)
		buf_printf(hex, "%02x", md[i]);
	return 0;
}

/* The records for domain (A-label form). */
static int
build(struct cli *cli, const char *domain, struct records *r)
{
	struct conf *conf = cli_conf(cli);
	struct store_dkim_selector *sels = NULL;
	const char *host = conf->general.hostname, *err;
	struct buf v, policy;
	unsigned char md[SHA256_DIGEST_LENGTH];
	size_t nsels = 0, i, j;
	uint64_t subm = 0, imaps = 0;

	for (i = 0; i < conf->nlisteners; i++) {
		const struct conf_listener_def *l = &conf->listeners[i];

		if (l->smtp > 0 && l->hostname != NULL && l->hostname[0] != '\0')
			host = l->hostname;
		if (l->submissions > 0 && subm == 0)
			subm = l->submissions;
		if (l->imaps > 0 && imaps == 0)
			imaps = l->imaps;
	}
	buf_init(&v);
	buf_init(&policy);

	buf_printf(&v, "10 %s", host);
	add(r, "Mail for the domain goes to this host (RFC 5321 5.1).", domain, DNS_MX, v.data,
		false);
	add(r, "SPF (RFC 7208): the MX hosts may send for the domain; others soft-fail.",
		domain, DNS_TXT, "v=spf1 mx ~all", false);
	if (strcmp(host, domain) != 0)
		add(r, "SPF for the host name itself (EHLO, bounces with a null sender).", host,
			DNS_TXT, "v=spf1 a -all", false);

	if (store_dkim_selectors(cli_store(cli), domain, false, &sels, &nsels, &err) < 0) {
		fprintf(stderr, "mailstead: dns: %s\n", err);
		buf_free(&v);
		buf_free(&policy);
		return -1;
	}
	if (nsels == 0)
		fprintf(stderr, "mailstead: dns: no DKIM keys for %s yet; make one with: mailstead dkim"
			" gen --algorithm ed25519 --domain %s --selector SELECTOR\n", domain, domain);
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
			fprintf(stderr, "mailstead: dns: DKIM selector %s: %s\n", sels[i].selector, err);
		}
		EVP_PKEY_free(key);
		buf_free(&name);
		buf_free(&txt);
	}
	store_dkim_selectors_free(sels, nsels);

	buf_reset(&v);
	buf_printf(&v, "_dmarc.%s", domain);
	buf_reset(&policy);
	buf_printf(&policy, "v=DMARC1; p=reject; rua=mailto:dmarc-reports@%s!10m", domain);
	add(r, "DMARC (RFC 7489): reject mail From the domain that passes neither aligned SPF nor"
		" DKIM;\n; aggregate reports to dmarc-reports@ (make it an address or alias).", v.data,
		DNS_TXT, policy.data, false);

	/* MTA-STS (RFC 8461): the id changes whenever the policy does. */
	buf_reset(&policy);
	buf_printf(&policy, "version: STSv1\nmode: enforce\nmx: %s\nmax_age: 86400\n", host);
	SHA256((const unsigned char *)policy.data, policy.len, md);
	buf_reset(&v);
	buf_printf(&v, "_mta-sts.%s", domain);
	{
		struct buf id;

		buf_init(&id);
		buf_puts(&id, "v=STSv1; id=");
		for (j = 0; j < 8; j++)
			buf_printf(&id, "%02x", md[j]);
		add(r, "MTA-STS (RFC 8461): senders require TLS to the MX; the policy is served at\n"
			"; https://mta-sts.<domain>/.well-known/mta-sts.txt.", v.data, DNS_TXT,
			id.data, true);
		buf_free(&id);
	}
	buf_reset(&v);
	buf_printf(&v, "mta-sts.%s", domain);
	add(r, NULL, v.data, DNS_CNAME, host, true);

	buf_reset(&v);
	buf_printf(&v, "_smtp._tls.%s", domain);
	buf_reset(&policy);
	buf_printf(&policy, "v=TLSRPTv1; rua=mailto:tls-reports@%s", domain);
	add(r, "TLS reporting (RFC 8460): senders report TLS failures to tls-reports@.", v.data,
		DNS_TXT, policy.data, true);

	/* Client autoconfiguration: RFC 6186 SRV records ("0 0 0 ." = not
	 * offered), Thunderbird autoconfig and Outlook autodiscover. */
	buf_reset(&v);
	buf_printf(&v, "autoconfig.%s", domain);
	add(r, "Mail clients find the servers (RFC 6186, RFC 8314; autoconfig, autodiscover).",
		v.data, DNS_CNAME, host, true);
	{
		static const struct {
			const char *srv;
			int which;	/* 0 off, 1 submissions, 2 imaps, 3 https */
		} srvs[] = {
			{ "_autodiscover._tcp", 3 }, { "_submissions._tcp", 1 },
			{ "_submission._tcp", 0 }, { "_imaps._tcp", 2 }, { "_imap._tcp", 0 },
			{ "_pop3._tcp", 0 }, { "_pop3s._tcp", 0 },
		};

		for (i = 0; i < MS_NELEM(srvs); i++) {
			uint64_t port = srvs[i].which == 1 ? (subm ? subm : 465) :
			    srvs[i].which == 2 ? (imaps ? imaps : 993) : srvs[i].which == 3 ? 443 : 0;

			buf_reset(&v);
			buf_printf(&v, "%s.%s", srvs[i].srv, domain);
			buf_reset(&policy);
			if (port == 0)
				buf_puts(&policy, "0 0 0 .");
			else
				buf_printf(&policy, "0 1 %llu %s", (unsigned long long)port, host);
			add(r, NULL, v.data, DNS_SRV, policy.data, true);
		}
	}

	/* DANE (RFC 7672): the public key of each certificate of the
	 * listener that receives mail. Publish only in a DNSSEC-signed zone. */
	for (i = 0; i < conf->nlisteners; i++) {
		const struct conf_listener_def *l = &conf->listeners[i];
		const char *lhost = l->hostname && l->hostname[0] ? l->hostname : conf->general.hostname;

		if (l->smtp == 0)
			continue;
		for (j = 0; j < l->tls_cert.n; j++) {
			struct buf hex;

			buf_init(&hex);
			if (spki_sha256(l->tls_cert.v[j], &hex, &err) < 0) {
				fprintf(stderr, "mailstead: dns: listener %s: %s\n", l->name, err);
				buf_free(&hex);
				continue;
			}
			buf_reset(&v);
			buf_printf(&v, "_25._tcp.%s", lhost);
			buf_reset(&policy);
			buf_printf(&policy, "3 1 1 %s", hex.data);
			add(r, j == 0 ? "DANE (RFC 7672), only in a DNSSEC-signed zone: the key of the"
				" certificate (renewals must keep the key, or publish the new one first)." :
				NULL, v.data, DNS_TLSA, policy.data, true);
			buf_free(&hex);
		}
	}
	buf_free(&v);
	buf_free(&policy);
	return 0;
}

static int
dns_cmd(struct cli *cli, int argc, char **argv, bool check)
{
	const char *domain = NULL, *zone = NULL, *err;
	char *uni = NULL, *ascii = NULL;
	struct records r;
	struct dns *d = NULL;
	size_t i, j, nbad = 0;
	int k, rc = 1;

	for (k = 2; k < argc; k++) {
		/* "records" makes no lookups; it takes the option too, so
		 * scripts can pass it to every command alike. */
		if (strcmp(argv[k], "--dns-zone") == 0 && k + 1 < argc)
			zone = argv[++k];
		else if (domain == NULL && argv[k][0] != '-')
			domain = argv[k];
		else
			return 2;
	}
	if (domain == NULL)
		return 2;
	if (mail_domain_parse(domain, strlen(domain), true, &uni, &ascii, &err) < 0) {
		fprintf(stderr, "mailstead: dns: %s: %s\n", domain, err);
		return 2;
	}
	memset(&r, 0, sizeof(r));
	if (build(cli, ascii, &r) < 0)
		goto out;
	if (!check) {
		printf("; DNS records for %s (zone-file format)\n", ascii);
		for (i = 0; i < r.n; i++) {
			struct buf p;

			buf_init(&p);
			presentation(&r.v[i], &p);
			if (r.v[i].comment != NULL)
				printf("\n; %s\n", r.v[i].comment);
			printf("%s\n", p.data);
			buf_free(&p);
		}
		rc = 0;
		goto out;
	}
	{
		struct dns_options o;

		memset(&o, 0, sizeof(o));
		o.zone_file = zone;
		d = dns_new(&o, &err);
		if (d == NULL) {
			fprintf(stderr, "mailstead: dns check: %s\n", err);
			goto out;
		}
	}
	for (i = 0; i < r.n; i++) {
		struct dns_answer a;
		struct buf p, found;
		const char *state;
		bool ok = false;

		buf_init(&p);
		buf_init(&found);
		presentation(&r.v[i], &p);
		dns_lookup(d, r.v[i].name, r.v[i].type, &a);
		for (j = 0; a.status == DNS_OK && j < a.n; j++) {
			struct buf one;

			buf_init(&one);
			rr_value(r.v[i].type, &a.rr[j], &one);
			if (strcasecmp(one.data, r.v[i].value) == 0)
				ok = true;
			buf_printf(&found, "%s\"%s\"", found.len ? ", " : "", one.data);
			buf_free(&one);
		}
		if (ok)
			state = "ok";
		else if (a.status == DNS_TEMPERROR)
			state = "error";
		else if (a.status != DNS_OK)
			state = "missing";
		else
			state = "different";
		if (!ok && !r.v[i].optional)
			nbad++;
		printf("%s%s %s", state, !ok && r.v[i].optional ? " (optional)" : "", p.data);
		if (a.status == DNS_TEMPERROR)
			printf(" ; %s", a.error ? a.error : "temporary error");
		else if (!ok && found.len > 0)
			printf(" ; found %s", found.data);
		if (a.authentic)
			printf(" ; dnssec");
		printf("\n");
		dns_answer_free(&a);
		buf_free(&p);
		buf_free(&found);
	}
	rc = nbad == 0 ? 0 : 1;
out:
	records_free(&r);
	dns_free(&d);
	free(uni);
	free(ascii);
	return rc;
}

int
cmd_dns(struct cli *cli, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "records") == 0)
		return dns_cmd(cli, argc, argv, false);
	if (argc >= 2 && strcmp(argv[1], "check") == 0)
		return dns_cmd(cli, argc, argv, true);
	return 2;
}
