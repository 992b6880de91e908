/* Fuzz target for the SASL server state machine (lib/auth/sasl.c). The
 * input is text lines, like the protocol's framing:
 *   line 1:  MECHANISM [tls] [cb] [cert]
 *   then one client message per line, base64 as on the wire ("=" for an
 *   empty message); a line "-" as the first message means "no initial
 *   response"; a line that is not valid base64 is fed as raw bytes.
 * Credentials: "user" with password "pencil" and the RFC 5802/7677 salts,
 * so the RFC exchanges in the corpus reach every state. The server nonce
 * and CRAM-MD5 challenge are fixed (see the corpus). Checks: only the four
 * statuses, account set exactly on SASL_OK, a result after the end, no
 * step accepted after the end, bounded challenges. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/password.h"
#include "auth/sasl.h"
#include "core/buf.h"
#include "core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_sasl: check failed: %s (line %d)\n", #cond,          \
			        __LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static struct sasl_creds user_creds;
static int have_creds;

static void
init_creds(void)
{
	struct buf salt;
	const char *err;

	if (have_creds)
		return;
	memset(&user_creds, 0, sizeof(user_creds));
	user_creds.account_id = 7;
	(void)ms_strlcpy(user_creds.account_name, "user@example.org",
		sizeof(user_creds.account_name));
	user_creds.have_password = true;
	CHECK(credentials_derive("pencil", &user_creds.cr, &err) == 0);
	buf_init(&salt);
	CHECK(ms_base64_decode(&salt, "QSXCR+Q6sek8bf92", 16) == 0);
	CHECK(scram_keys_compute("sha1", "pencil", (unsigned char *)salt.data, salt.len, 4096,
		      &user_creds.cr.sha1, &err) == 0);
	buf_reset(&salt);
	CHECK(ms_base64_decode(&salt, "W22ZaJ0SNY7soEsUEjb6gQ==", 24) == 0);
	CHECK(scram_keys_compute("sha256", "pencil", (unsigned char *)salt.data, salt.len, 4096,
		      &user_creds.cr.sha256, &err) == 0);
	buf_free(&salt);
	have_creds = 1;
}

static int
lookup(void *ctx, const char *username, struct sasl_creds *out)
{
	(void)ctx;
	CHECK(username != NULL);
	if (strcmp(username, "dberror") == 0)
		return -1;
	if (strcmp(username, "user") == 0 || strcmp(username, "user@example.org") == 0) {
		*out = user_creds;
		return 1;
	}
	return 0;
}

static const unsigned char cb_unique[] = "tls-unique-data";
static const unsigned char cb_exporter[] = "tls-exporter-data-0123456789abcd";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data, *end = s + size, *nl;
	struct sasl_params p;
	struct sasl_server *srv;
	struct buf mech, out, msg;
	enum sasl_status st = SASL_CONTINUE;
	bool first = true;
	int steps = 0;

	init_creds();
	nl = memchr(s, '\n', size);
	if (nl == NULL)
		return 0;
	buf_init(&mech);
	buf_append(&mech, s, (size_t)(nl - s));
	memset(&p, 0, sizeof(p));
	p.hostname = "mail.example.org";
	p.tls = strstr(mech.data, " tls") != NULL;
	if (strstr(mech.data, " cb") != NULL) {
		p.cb_data[SASL_CB_TLS_UNIQUE] = cb_unique;
		p.cb_len[SASL_CB_TLS_UNIQUE] = sizeof(cb_unique) - 1;
		p.cb_data[SASL_CB_TLS_EXPORTER] = cb_exporter;
		p.cb_len[SASL_CB_TLS_EXPORTER] = sizeof(cb_exporter) - 1;
	}
	if (strstr(mech.data, " cert") != NULL) {
		p.external_account_id = 7;
		p.external_login_address = "user@example.org";
	}
	p.secret = (const unsigned char *)"fuzz";
	p.secret_len = 4;
	p.lookup = lookup;
	if (strchr(mech.data, ' ') != NULL)
		buf_truncate(&mech, (size_t)(strchr(mech.data, ' ') - mech.data));
	srv = sasl_server_new(mech.data, &p);
	buf_free(&mech);
	if (srv == NULL)
		return 0;
	sasl_server_set_test_challenge(srv, "<1896.697170952@postoffice.reston.mci.net>");
	if (strncmp(sasl_server_mech(srv), "scram", 5) == 0)
		sasl_server_set_test_challenge(srv, "3rfcNHYJY1ZVvWVs7j");
	buf_init(&out);
	buf_init(&msg);
	s = nl + 1;
	while (s < end && steps < 16) {
		const char *err = NULL, *in;
		size_t len;

		nl = memchr(s, '\n', (size_t)(end - s));
		len = nl ? (size_t)(nl - s) : (size_t)(end - s);
		buf_reset(&msg);
		in = msg.data;
		if (first && len == 1 && s[0] == '-')
			in = NULL;
		else if (sasl_decode_response(s, len, &msg) < 0)
			buf_append(&msg, s, len);
		if (in != NULL)
			in = msg.data;
		st = sasl_server_step(srv, in, in ? msg.len : 0, &out, &err);
		first = false;
		steps++;
		CHECK(st == SASL_CONTINUE || st == SASL_OK || st == SASL_FAIL || st == SASL_ERROR);
		CHECK(out.len < 1024);
		if (st == SASL_OK) {
			CHECK(sasl_server_account(srv) == 7);
			CHECK(strcmp(sasl_server_result(srv), "ok") == 0);
			CHECK(sasl_server_username(srv)[0] != '\0');
		} else {
			CHECK(sasl_server_account(srv) == 0);
		}
		if (st != SASL_CONTINUE) {
			CHECK(err != NULL || st == SASL_OK);
			CHECK(sasl_server_result(srv)[0] != '\0');
			/* Nothing more is accepted. */
			CHECK(sasl_server_step(srv, "", 0, &out, &err) == SASL_FAIL);
			break;
		}
		s = nl ? nl + 1 : end;
	}
	sasl_server_free(&srv);
	CHECK(srv == NULL);
	buf_free(&out);
	buf_free(&msg);
	return 0;
}
