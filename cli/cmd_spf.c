/* mailstead spf check: run an SPF check (RFC 7208) from the command line
 * and print the result, the details and the Received-SPF header field.
 * Needs no configuration or database, only DNS (or a test zone file). */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "core/buf.h"
#include "core/util.h"
#include "mailauth/spf.h"
#include "net/dns.h"

static bool
valid_ip(const char *s)
{
	unsigned char b[16];

	return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

/* spf check IP MAILFROM [HELO] [--dns-zone FILE]: exit 0 when the check
 * ran (whatever the result), 2 for usage errors, 1 when DNS cannot be set
 * up. */
static int
spf_cmd_check(int argc, char **argv)
{
	const char *pos[3] = { NULL, NULL, NULL }, *zone = NULL, *err = NULL, *at;
	char host[256], *local = NULL, *domain = NULL;
	struct spf_args args;
	struct spf_outcome o;
	struct dns_options opts;
	struct dns *d;
	struct buf hdr;
	const char *identity = "mailfrom";
	int i, npos = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dns-zone") == 0 || strcmp(argv[i], "-dns-zone") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "mailstead spf check: --dns-zone needs a file\n");
				return 2;
			}
			zone = argv[++i];
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fprintf(stderr, "mailstead spf check: unknown option %s\n", argv[i]);
			return 2;
		} else if (npos < 3) {
			pos[npos++] = argv[i];
		} else {
			fprintf(stderr, "mailstead spf check: too many arguments\n");
			return 2;
		}
	}
	if (npos < 2) {
		fprintf(stderr, "mailstead spf check: need an IP address and a MAIL FROM address or domain\n");
		return 2;
	}
	if (!valid_ip(pos[0])) {
		fprintf(stderr, "mailstead spf check: %s is not an IP address\n", pos[0]);
		return 2;
	}
	memset(&args, 0, sizeof(args));
	args.ip = pos[0];
	args.helo = pos[2];
	if (pos[1][0] == '\0' || strcmp(pos[1], "<>") == 0) {
		/* RFC 7208 2.4: the null reverse-path is checked as
		 * postmaster@HELO. */
		if (pos[2] == NULL || pos[2][0] == '\0') {
			fprintf(stderr, "mailstead spf check: an empty MAIL FROM needs a HELO name\n");
			return 2;
		}
		domain = xstrdup(pos[2]);
		identity = "helo";
	} else if ((at = strrchr(pos[1], '@')) != NULL) {
		local = xstrndup(pos[1], (size_t)(at - pos[1]));
		domain = xstrdup(at + 1);
	} else {
		domain = xstrdup(pos[1]);
	}
	args.localpart = local;
	args.domain = domain;
	if (gethostname(host, sizeof(host)) == 0) {
		host[sizeof(host) - 1] = '\0';
		args.receiver = host;
	}
	memset(&opts, 0, sizeof(opts));
	opts.zone_file = zone;
	opts.timeout_ms = 10000;
	d = dns_new(&opts, &err);
	if (d == NULL) {
		fprintf(stderr, "mailstead spf check: %s\n", err);
		free(local);
		free(domain);
		return 1;
	}
	spf_check(d, &args, &o);
	printf("%s\n", spf_result_name(o.result));
	printf("mechanism=%s\n", o.mechanism != NULL ? o.mechanism : "");
	printf("explanation=%s\n", o.explanation != NULL ? o.explanation : "");
	printf("problem=%s\n", o.problem != NULL ? o.problem : "");
	printf("lookups=%u\n", o.lookups);
	printf("void-lookups=%u\n", o.void_lookups);
	printf("authentic=%s\n", o.authentic ? "yes" : "no");
	buf_init(&hdr);
	spf_received_header(&hdr, &args, identity, &o);
	fputs(hdr.data, stdout);
	buf_free(&hdr);
	spf_outcome_free(&o);
	dns_free(&d);
	free(local);
	free(domain);
	return fflush(stdout) == 0 ? 0 : 1;
}

int
cmd_spf(struct cli *cli, int argc, char **argv)
{
	(void)cli;
	if (argc >= 2 && strcmp(argv[1], "check") == 0)
		return spf_cmd_check(argc - 1, argv + 1);
	if (argc >= 2)
		fprintf(stderr, "mailstead spf: unknown subcommand %s\n", argv[1]);
	return 2;
}
