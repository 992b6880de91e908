/* Fuzz target for lib/mailauth/spf: the input is an SPF record. It goes
 * through the syntax check (spf_record_check) and through a full
 * evaluation as the record of the checked domain, for an IPv4 and an IPv6
 * client, against a small test zone (written once) with includes,
 * redirects, loops, explanation records and a failing name, so that
 * mechanisms reach the DNS. Checks: a result in range, a problem exactly
 * for the error results, the lookup limits held, and a syntax error
 * always evaluating to permerror. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "mailauth/spf.h"
#include "mailauth/spf_private.h"
#include "net/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_spf: check failed: %s (line %d)\n", #cond,           \
			        __LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* Inputs past this are cut: DNS messages hold at most 64 KiB anyway. */
#define MAX_RECORD 65535

static const char zone[] =
	"example.org. IN A 192.0.2.1\n"
	"example.org. IN AAAA 2001:db8::1\n"
	"example.org. IN MX 10 mx.example.org.\n"
	"mx.example.org. IN A 192.0.2.2\n"
	"mx.example.org. IN AAAA 2001:db8::2\n"
	"1.2.0.192.in-addr.arpa. IN PTR example.org.\n"
	"inc.example.org. IN TXT \"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ~all\"\n"
	"loop.example.org. IN TXT \"v=spf1 include:loop.example.org\"\n"
	"redir.example.org. IN TXT \"v=spf1 redirect=redir.example.org\"\n"
	"exp.example.org. IN TXT \"%{i} %{c} %{r} %{t} %{p} %{S} is not allowed\"\n"
	"two.example.org. IN TXT \"v=spf1 -all\"\n"
	"two.example.org. IN TXT \"v=spf1 +all\"\n"
	"$SERVFAIL fail.example.org\n";

static struct dns *d;

static void
setup(void)
{
	char path[] = "/tmp/fuzz_spf_zoneXXXXXX";
	struct dns_options o;
	const char *err = NULL;
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	CHECK(write(fd, zone, sizeof(zone) - 1) == (ssize_t)(sizeof(zone) - 1));
	close(fd);
	memset(&o, 0, sizeof(o));
	o.zone_file = path;
	o.timeout_ms = 2000;
	d = dns_new(&o, &err);
	if (d == NULL)
		fprintf(stderr, "fuzz_spf: dns_new: %s\n", err);
	CHECK(d != NULL);
	/* The zone is loaded; the file is no longer needed. */
	unlink(path);
}

static void
check_outcome(const struct spf_outcome *o, enum spf_result r)
{
	CHECK(o->result == r);
	CHECK(r >= SPF_NONE && r <= SPF_PERMERROR);
	CHECK((o->problem != NULL) == (r == SPF_TEMPERROR || r == SPF_PERMERROR));
	CHECK(o->explanation == NULL || r == SPF_FAIL);
	CHECK(o->mechanism == NULL || (r != SPF_NONE && r != SPF_TEMPERROR && r != SPF_PERMERROR));
	CHECK(o->lookups <= SPF_MAX_LOOKUPS + 1);
	CHECK(o->void_lookups <= SPF_MAX_VOID + 1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *ips[] = { "192.0.2.1", "2001:db8::3" };
	const char *rec = (const char *)data, *err = NULL;
	struct spf_outcome o;
	struct spf_args a;
	struct buf hdr;
	enum spf_result r;
	size_t i;
	int syntax;

	if (d == NULL)
		setup();
	if (size > MAX_RECORD)
		size = MAX_RECORD;
	syntax = spf_record_check(rec, size, &err);
	CHECK(syntax == 0 || err != NULL);
	buf_init(&hdr);
	for (i = 0; i < sizeof(ips) / sizeof(ips[0]); i++) {
		memset(&a, 0, sizeof(a));
		a.ip = ips[i];
		a.localpart = "fuzz.er+x";
		a.domain = "example.org";
		a.helo = "helo.example.net";
		a.receiver = "mx.example.net";
		a.now = 1700000000;
		r = spf_check_record(d, &a, rec, size, &o);
		check_outcome(&o, r);
		/* A record that does not parse is a permerror (or none when
		 * it is not an SPF record at all). */
		if (syntax != 0)
			CHECK(r == SPF_PERMERROR || r == SPF_NONE);
		buf_reset(&hdr);
		spf_received_header(&hdr, &a, "mailfrom", &o);
		CHECK(hdr.len > 2 && memcmp(hdr.data + hdr.len - 2, "\r\n", 2) == 0);
		CHECK(strlen(hdr.data) == hdr.len);
		spf_outcome_free(&o);
	}
	buf_free(&hdr);
	return 0;
}
