/* SPF checks per second against a zone file (test-mode DNS, so the
 * figures are SPF evaluation plus libunbound's answer path, no network):
 * a typical record with an include chain, a, mx and ip4/ip6 terms, for a
 * passing and a failing client address. Run by bench/spf. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mailauth/spf.h"
#include "net/dns.h"

static const char zone[] =
	"example.com. IN TXT \"v=spf1 a mx include:_spf.provider.example ip4:198.51.100.0/24 -all\"\n"
	"example.com. IN A 192.0.2.1\n"
	"example.com. IN MX 10 mx1.example.com.\n"
	"example.com. IN MX 20 mx2.example.com.\n"
	"mx1.example.com. IN A 192.0.2.11\n"
	"mx2.example.com. IN A 192.0.2.12\n"
	"_spf.provider.example. IN TXT \"v=spf1 include:_netblocks.provider.example ~all\"\n"
	"_netblocks.provider.example. IN TXT \"v=spf1 ip4:203.0.113.0/25 ip4:203.0.113.128/25 "
	"ip6:2001:db8:1::/48 ip6:2001:db8:2::/48 ~all\"\n";

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
run(struct dns *d, const char *ip, long n, enum spf_result *r)
{
	struct spf_args a;
	struct spf_outcome o;
	double t0;
	long i;

	memset(&a, 0, sizeof(a));
	a.ip = ip;
	a.domain = "example.com";
	a.localpart = "sender";
	a.helo = "client.example.net";
	a.receiver = "mx.example.org";
	t0 = now();
	for (i = 0; i < n; i++) {
		*r = spf_check(d, &a, &o);
		spf_outcome_free(&o);
	}
	return (double)n / (now() - t0);
}

int
main(int argc, char **argv)
{
	char path[] = "/tmp/spf-bench-zoneXXXXXX";
	struct dns_options o;
	const char *err;
	struct dns *d;
	enum spf_result r;
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 20000;
	int fd = mkstemp(path);
	double first, rate;

	if (fd < 0 || write(fd, zone, sizeof(zone) - 1) != (ssize_t)(sizeof(zone) - 1)) {
		perror("zone file");
		return 1;
	}
	close(fd);
	memset(&o, 0, sizeof(o));
	o.zone_file = path;
	d = dns_new(&o, &err);
	unlink(path);
	if (d == NULL) {
		fprintf(stderr, "spf-bench: %s\n", err);
		return 1;
	}
	first = run(d, "203.0.113.200", 1, &r);
	printf("first check (cold): %.0f us, result %s\n", 1e6 / first, spf_result_name(r));
	rate = run(d, "203.0.113.200", n, &r);
	printf("pass via include chain (203.0.113.200): %.0f checks/s, result %s\n", rate,
		spf_result_name(r));
	rate = run(d, "192.0.2.12", n, &r);
	printf("pass via mx (192.0.2.12): %.0f checks/s, result %s\n", rate, spf_result_name(r));
	rate = run(d, "192.0.2.99", n, &r);
	printf("fail, every term evaluated (192.0.2.99): %.0f checks/s, result %s\n", rate,
		spf_result_name(r));
	dns_free(&d);
	return 0;
}
