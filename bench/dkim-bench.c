/* DKIM throughput on one core: sign and verify a 10 KB message N times
 * with RSA-2048 (rsa-sha256) and Ed25519 (ed25519-sha256), relaxed/relaxed.
 * Verification includes the key lookup, answered from a zone file (DNS
 * test mode, unbound's local data). Run by bench/dkim.
 *   usage: dkim-bench [N]   (default 500) */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core/buf.h"
#include "core/util.h"
#include "mailauth/dkim.h"

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
make_message(struct buf *m)
{
	size_t line = 0;

	buf_puts(m, "From: Alice <alice@example.org>\r\n"
		    "To: Bob <bob@example.net>\r\n"
		    "Subject: Quarterly report\r\n"
		    "Date: Mon, 23 Nov 2026 10:00:00 +0100\r\n"
		    "Message-ID: <bench-1@example.org>\r\n"
		    "MIME-Version: 1.0\r\n"
		    "Content-Type: text/plain; charset=utf-8\r\n"
		    "\r\n");
	while (m->len < 10 * 1024) {
		buf_printf(m, "Line %zu of the report:  some\twords, numbers 12345 and "
			      "trailing space   \r\n",
			line++);
	}
}

static int
bench(struct dns *d, EVP_PKEY *key, const char *sel, const struct buf *msg, int n)
{
	struct dkim_sign_opts o;
	struct dkim_result *r;
	struct buf sig, signed_msg;
	const char *err = NULL;
	double t0, ts, tv;
	size_t nr;
	int i;

	memset(&o, 0, sizeof(o));
	o.domain = "example.org";
	o.selector = sel;
	o.key = key;
	buf_init(&sig);
	t0 = now_s();
	for (i = 0; i < n; i++) {
		buf_reset(&sig);
		if (dkim_sign(&o, msg->data, msg->len, &sig, &err) < 0) {
			fprintf(stderr, "dkim-bench: sign: %s\n", err);
			return -1;
		}
	}
	ts = now_s() - t0;
	buf_init(&signed_msg);
	buf_append(&signed_msg, sig.data, sig.len);
	buf_append(&signed_msg, msg->data, msg->len);
	t0 = now_s();
	for (i = 0; i < n; i++) {
		if (dkim_verify(d, signed_msg.data, signed_msg.len, 0, &r, &nr) < 0 || nr != 1 ||
		    r[0].status != DKIM_PASS) {
			fprintf(stderr, "dkim-bench: verify failed: %s\n",
				nr > 0 && r[0].error ? r[0].error : "?");
			return -1;
		}
		dkim_results_free(r, nr);
	}
	tv = now_s() - t0;
	printf("%s sign %.0f msg/s verify %.0f msg/s (n=%d, %zu bytes)\n",
		EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA ? "rsa2048" : "ed25519", n / ts, n / tv,
		n, msg->len);
	buf_free(&sig);
	buf_free(&signed_msg);
	return 0;
}

int
main(int argc, char **argv)
{
	char zone_path[] = "/tmp/dkim-bench-zoneXXXXXX";
	struct dns_options o;
	struct dns *d;
	struct buf msg, zone, rec;
	EVP_PKEY *rsa, *ed;
	const char *err = NULL;
	uint64_t n = 500;
	int fd, rc = 0;
	size_t i;

	if (argc > 1 && ms_parse_u64(argv[1], 1, 10000000, &n) < 0) {
		fprintf(stderr, "usage: dkim-bench [N]\n");
		return 2;
	}
	rsa = dkim_key_generate(DKIM_ALGO_RSA, &err);
	ed = dkim_key_generate(DKIM_ALGO_ED25519, &err);
	if (rsa == NULL || ed == NULL) {
		fprintf(stderr, "dkim-bench: %s\n", err);
		return 1;
	}
	buf_init(&zone);
	buf_init(&rec);
	dkim_txt_record(rsa, &rec, &err);
	buf_puts(&zone, "rsa._domainkey.example.org. IN TXT");
	for (i = 0; i < rec.len; i += 255)
		buf_printf(&zone, " \"%.*s\"", (int)(rec.len - i < 255 ? rec.len - i : 255),
			rec.data + i);
	buf_reset(&rec);
	dkim_txt_record(ed, &rec, &err);
	buf_printf(&zone, "\ned._domainkey.example.org. IN TXT \"%s\"\n", rec.data);
	fd = mkstemp(zone_path);
	if (fd < 0 || ms_write_all(fd, zone.data, zone.len) < 0) {
		fprintf(stderr, "dkim-bench: cannot write the zone file\n");
		return 1;
	}
	close(fd);
	memset(&o, 0, sizeof(o));
	o.zone_file = zone_path;
	if ((d = dns_new(&o, &err)) == NULL) {
		fprintf(stderr, "dkim-bench: %s\n", err);
		unlink(zone_path);
		return 1;
	}
	buf_init(&msg);
	make_message(&msg);
	if (bench(d, rsa, "rsa", &msg, (int)n) < 0 || bench(d, ed, "ed", &msg, (int)n) < 0)
		rc = 1;
	dns_free(&d);
	unlink(zone_path);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ed);
	buf_free(&msg);
	buf_free(&zone);
	buf_free(&rec);
	return rc;
}
