/* mailstead dmarc check: evaluate a message file as smtpd does for incoming
 * mail (SPF for the MAIL FROM or HELO identity, DKIM, DMARC, iprev) and
 * print the results and the Authentication-Results header. */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "cli.h"
#include "core/util.h"
#include "mailauth/authres.h"
#include "mailauth/dkim.h"
#include "mailauth/dmarc.h"
#include "mailauth/spf.h"
#include "net/dns.h"
#include "store/store_rules.h"

static int
dmarc_check_cmd(int argc, char **argv)
{
	const char *file = NULL, *ip = NULL, *mailfrom = NULL, *helo = NULL, *zone = NULL;
	const char *err = NULL, *hostname = "localhost";
	struct dns_options o;
	struct dns *d;
	struct buf msg, hdr;
	struct spf_args sa;
	struct spf_outcome spf;
	struct dkim_result *dk = NULL;
	struct dmarc_outcome dm;
	struct iprev_outcome ipr;
	struct authres ar;
	char *from_lp = NULL, *from_dom = NULL, *spf_domain, *mf_lp = NULL;
	unsigned char rnd = 0, bin[16];
	size_t ndk = 0, i, hlen;
	int k;

	for (k = 2; k < argc; k++) {
		if (argv[k][0] == '-' && argv[k][1] == '-' && k + 1 < argc) {
			const char *v = argv[k + 1];

			if (strcmp(argv[k], "--ip") == 0)
				ip = v;
			else if (strcmp(argv[k], "--mail-from") == 0)
				mailfrom = v;
			else if (strcmp(argv[k], "--helo") == 0)
				helo = v;
			else if (strcmp(argv[k], "--dns-zone") == 0)
				zone = v;
			else if (strcmp(argv[k], "--hostname") == 0)
				hostname = v;
			else
				return 2;
			k++;
		} else if (file == NULL && (argv[k][0] != '-' || strcmp(argv[k], "-") == 0)) {
			file = argv[k];
		} else {
			return 2;
		}
	}
	if (file == NULL || ip == NULL || mailfrom == NULL || helo == NULL)
		return 2;
	if (inet_pton(AF_INET, ip, bin) != 1 && inet_pton(AF_INET6, ip, bin) != 1) {
		fprintf(stderr, "mailstead: dmarc check: not an IP address: %s\n", ip);
		return 2;
	}
	memset(&o, 0, sizeof(o));
	o.zone_file = zone;
	d = dns_new(&o, &err);
	if (d == NULL) {
		fprintf(stderr, "mailstead: dmarc check: %s\n", err);
		return 1;
	}
	buf_init(&msg);
	if (cli_read_message(file, &msg) < 0) {
		dns_free(&d);
		return 1;
	}

	/* SPF: the MAIL FROM domain, or HELO for the null sender "" / "<>". */
	memset(&sa, 0, sizeof(sa));
	sa.ip = ip;
	sa.helo = helo;
	sa.receiver = hostname;
	if (mailfrom[0] == '\0' || strcmp(mailfrom, "<>") == 0) {
		spf_domain = xstrdup(helo);
		sa.localpart = "postmaster";
		mailfrom = "";
	} else {
		const char *at = strrchr(mailfrom, '@');

		spf_domain = xstrdup(at ? at + 1 : mailfrom);
		mf_lp = at ? xstrndup(mailfrom, (size_t)(at - mailfrom)) : xstrdup("postmaster");
		sa.localpart = mf_lp;
	}
	ms_str_lower(spf_domain);
	sa.domain = spf_domain;
	spf_check(d, &sa, &spf);
	(void)dkim_verify(d, msg.data, msg.len, 0, &dk, &ndk);
	iprev_check(d, ip, &ipr);

	/* The From header domain. */
	hlen = msg.len;
	{
		const char *sep = memmem(msg.data, msg.len, "\r\n\r\n", 4);

		if (sep != NULL)
			hlen = (size_t)(sep - msg.data) + 2;
	}
	buf_init(&hdr);
	buf_append(&hdr, msg.data, hlen);
	(void)store_msgfrom_parse(hdr.data, hdr.len, &from_lp, &from_dom);
	buf_free(&hdr);
	if (RAND_bytes(&rnd, 1) != 1)
		rnd = 0;
	dmarc_check(d, from_dom, &spf, spf_domain, dk, ndk, (unsigned)rnd * 100u / 256u, &dm);

	printf("%s\n", dmarc_result_name(dm.result));
	printf("from-domain=%s\n", dm.from_domain ? dm.from_domain : "");
	printf("record-domain=%s\n", dm.record_domain ? dm.record_domain : "");
	printf("policy=%s\n", dm.record_domain ? dmarc_policy_name(dm.policy) : "");
	printf("disposition=%s\n", dmarc_policy_name(dm.disposition));
	printf("reject=%s\n", dm.reject ? "yes" : "no");
	printf("spf=%s spf-domain=%s spf-aligned=%s\n", spf_result_name(spf.result), spf_domain,
		dm.spf_aligned ? "yes" : "no");
	for (i = 0; i < ndk; i++)
		printf("dkim=%s dkim-domain=%s selector=%s%s%s\n", dkim_status_name(dk[i].status),
			dk[i].domain ? dk[i].domain : "", dk[i].selector ? dk[i].selector : "",
			dk[i].error ? " error=" : "", dk[i].error ? dk[i].error : "");
	printf("dkim-aligned=%s\n", dm.dkim_aligned ? dm.dkim_aligned_domain : "no");
	printf("iprev=%s%s%s\n", iprev_result_name(ipr.result), ipr.name ? " name=" : "",
		ipr.name ? ipr.name : "");
	if (dm.error != NULL)
		printf("error=%s\n", dm.error);
	memset(&ar, 0, sizeof(ar));
	ar.authserv_id = hostname;
	ar.ip = ip;
	ar.iprev = &ipr;
	if (mailfrom[0] == '\0') {
		ar.spf_helo = &spf;
		ar.helo = spf_domain;
	} else {
		ar.spf_mailfrom = &spf;
		ar.mailfrom = mailfrom;
	}
	ar.dkim = dk;
	ar.ndkim = ndk;
	ar.dmarc = &dm;
	{
		struct buf h;

		buf_init(&h);
		authres_header(&h, &ar);
		fputs(h.data, stdout);
		buf_free(&h);
	}
	dmarc_outcome_free(&dm);
	iprev_outcome_free(&ipr);
	dkim_results_free(dk, ndk);
	spf_outcome_free(&spf);
	free(spf_domain);
	free(mf_lp);
	free(from_lp);
	free(from_dom);
	buf_free(&msg);
	dns_free(&d);
	return 0;
}

int
cmd_dmarc(struct cli *cli, int argc, char **argv)
{
	(void)cli;
	if (argc >= 2 && strcmp(argv[1], "check") == 0)
		return dmarc_check_cmd(argc, argv);
	return 2;
}
