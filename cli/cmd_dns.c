/* mailstead dns records|check DOMAIN: the DNS records a domain needs (MX,
 * SPF, DKIM, DMARC, MTA-STS, TLSRPT, client autoconfiguration, DANE TLSA)
 * from the configuration and the database, and a comparison with what DNS
 * publishes; the logic is lib/admin/dnsrec.c, shared with the admin web
 * interface. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/dnsrec.h"
#include "cli.h"
#include "core/buf.h"
#include "core/util.h"
#include "mail/addr.h"
#include "net/dns.h"

static int
dns_cmd(struct cli *cli, int argc, char **argv, bool check)
{
	const char *domain = NULL, *zone = NULL, *err;
	struct dnsrec_list r;
	struct dns *d = NULL;
	size_t i, nbad = 0;
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
	{
		char *uni, *ascii;

		if (mail_domain_parse(domain, strlen(domain), true, &uni, &ascii, &err) < 0) {
			fprintf(stderr, "mailstead: dns: %s: %s\n", domain, err);
			return 2;
		}
		free(uni);
		free(ascii);
	}
	if (dnsrec_build(cli_conf(cli), cli_store(cli), domain, &r, &err) < 0) {
		fprintf(stderr, "mailstead: dns: %s\n", err);
		return 1;
	}
	for (i = 0; i < r.nwarnings; i++)
		fprintf(stderr, "mailstead: dns: %s\n", r.warnings[i]);
	if (!check) {
		printf("; DNS records for %s (zone-file format)\n", r.n > 0 ? r.v[0].name : domain);
		for (i = 0; i < r.n; i++) {
			struct buf p;

			buf_init(&p);
			dnsrec_presentation(&r.v[i], &p);
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
		struct dnsrec_result res;
		struct buf p;
		bool ok;

		buf_init(&p);
		dnsrec_presentation(&r.v[i], &p);
		dnsrec_check(d, &r.v[i], &res);
		ok = res.state == DNSREC_OK;
		if (!ok && !r.v[i].optional)
			nbad++;
		printf("%s%s %s", dnsrec_state_name(res.state),
			!ok && r.v[i].optional ? " (optional)" : "", p.data);
		if (res.error != NULL)
			printf(" ; %s", res.error);
		else if (!ok && res.found.len > 0)
			printf(" ; found %s", res.found.data);
		if (res.authentic)
			printf(" ; dnssec");
		printf("\n");
		dnsrec_result_free(&res);
		buf_free(&p);
	}
	rc = nbad == 0 ? 0 : 1;
out:
	dnsrec_list_free(&r);
	dns_free(&d);
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
