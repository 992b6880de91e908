/* Fuzz target for lib/mailauth/dkim: the input is parsed as a
 * DKIM-Signature value (dkim_signature_check), as a key record, and
 * verified as a whole message against a small zone (DNS test mode) whose
 * keys match the selectors in the seeds; results are checked for the
 * properties callers rely on. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "mailauth/dkim.h"
#include "mailauth/dkim_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_dkim: check failed: %s (line %d)\n", #cond,          \
			        __LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* The RFC 8463 Appendix A keys, so seeds made from its example verify. */
static const char zone[] =
	"brisbane._domainkey.football.example.com. IN TXT "
	"\"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"\n"
	"test._domainkey.football.example.com. IN TXT "
	"\"v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutAC\" "
	"\"DfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB\"\n"
	"revoked._domainkey.football.example.com. IN TXT \"v=DKIM1; p=\"\n"
	"$SERVFAIL temp._domainkey.football.example.com\n";

static struct dns *dns;
static char zone_path[] = "/tmp/fuzz_dkim_zoneXXXXXX";

static void
cleanup(void)
{
	dns_free(&dns);
	unlink(zone_path);
}

static struct dns *
get_dns(void)
{
	struct dns_options o;
	const char *err = NULL;
	int fd;

	if (dns != NULL)
		return dns;
	fd = mkstemp(zone_path);
	CHECK(fd >= 0);
	CHECK(write(fd, zone, sizeof(zone) - 1) == (ssize_t)(sizeof(zone) - 1));
	close(fd);
	memset(&o, 0, sizeof(o));
	o.zone_file = zone_path;
	o.timeout_ms = 2000;
	dns = dns_new(&o, &err);
	CHECK(dns != NULL);
	atexit(cleanup);
	return dns;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct dkim_result *r = NULL;
	struct dkim_keyrec kr;
	const char *err = NULL;
	size_t n = 99, i;
	int ret;

	if (dkim_signature_check(s, size, &err) < 0)
		CHECK(err != NULL);
	if (dkim_keyrec_parse(s, size, &kr, &err) == 0) {
		EVP_PKEY *k = dkim_keyrec_pkey(&kr, &err);

		CHECK(k != NULL || err != NULL);
		EVP_PKEY_free(k);
	}
	dkim_keyrec_free(&kr);

	/* As a message; verified at the RFC 8463 example's time. */
	ret = dkim_verify(get_dns(), s, size, 1528637909, &r, &n);
	if (ret < 0) {
		CHECK(n == 0 && r == NULL);
		return 0;
	}
	for (i = 0; i < n; i++) {
		CHECK(r[i].status != DKIM_NONE);
		CHECK((r[i].status == DKIM_PASS) == (r[i].error == NULL));
		if (r[i].status == DKIM_PASS)
			CHECK(r[i].domain != NULL && r[i].selector != NULL &&
			      r[i].identity != NULL && r[i].b_prefix != NULL);
		CHECK(strlen(dkim_status_name(r[i].status)) > 0);
	}
	dkim_results_free(r, n);
	return 0;
}
