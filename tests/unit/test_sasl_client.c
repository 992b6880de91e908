/* Tests of the client side of SASL (lib/auth/sasl_client.c), used by
 * mailstead-queued for AUTH to smarthosts: mechanism choice, PLAIN,
 * CRAM-MD5 (RFC 2195 example), and SCRAM-SHA-1/256 (RFC 5802) against a
 * server computed here, with malformed and hostile server messages: bad
 * nonces, bad salts, bad iteration counts, server errors, mandatory
 * extensions and a wrong server signature. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth/sasl_client.h"
#include "core/buf.h"
#include "core/util.h"

/* ---- choosing ---- */

static void
test_choose(void **state)
{
	static const char *const only_plain[] = { "plain" };
	static const char *const crammd5_plain[] = { "CRAM-MD5", "PLAIN" };

	(void)state;
	assert_string_equal(sasl_client_choose("PLAIN LOGIN SCRAM-SHA-1 CRAM-MD5", NULL, 0),
		"SCRAM-SHA-1");
	assert_string_equal(sasl_client_choose("plain scram-sha-256 scram-sha-1", NULL, 0),
		"SCRAM-SHA-256");
	assert_string_equal(sasl_client_choose("PLAIN CRAM-MD5", NULL, 0), "CRAM-MD5");
	assert_string_equal(sasl_client_choose("SCRAM-SHA-256 PLAIN", only_plain, 1), "PLAIN");
	assert_string_equal(sasl_client_choose("SCRAM-SHA-256 PLAIN CRAM-MD5", crammd5_plain, 2),
		"CRAM-MD5");
	/* Whole words only: -PLUS variants and prefixes do not count. */
	assert_null(sasl_client_choose("SCRAM-SHA-256-PLUS LOGIN", NULL, 0));
	assert_null(sasl_client_choose("XPLAIN PLAINX", NULL, 0));
	assert_null(sasl_client_choose("", NULL, 0));
	assert_null(sasl_client_choose("SCRAM-SHA-256", only_plain, 1));
	assert_null(sasl_client_new("LOGIN", "u", "p"));
}

/* ---- PLAIN and CRAM-MD5 ---- */

static void
test_plain(void **state)
{
	struct sasl_client *c = sasl_client_new("PLAIN", "tim", "secret");
	struct buf out;
	const char *error = NULL;

	(void)state;
	buf_init(&out);
	assert_int_equal(sasl_client_step(c, "", 0, &out, &error), 0);
	assert_int_equal(out.len, 11);
	assert_memory_equal(out.data, "\0tim\0secret", 11);
	/* PLAIN has no challenge: one is an error. */
	buf_reset(&out);
	assert_int_equal(sasl_client_step(c, "x", 1, &out, &error), -1);
	assert_non_null(error);
	sasl_client_free(&c);
	assert_null(c);
	buf_free(&out);
}

static void
test_crammd5_rfc2195(void **state)
{
	static const char chal[] = "<1896.697170952@postoffice.reston.mci.net>";
	struct sasl_client *c = sasl_client_new("CRAM-MD5", "tim", "tanstaaftanstaaf");
	struct buf out;
	const char *error = NULL;

	(void)state;
	buf_init(&out);
	/* No initial response: the server speaks first. */
	assert_int_equal(sasl_client_step(c, "", 0, &out, &error), 0);
	assert_int_equal(out.len, 0);
	assert_int_equal(sasl_client_step(c, chal, strlen(chal), &out, &error), 0);
	assert_string_equal(out.data, "tim b913a602c7eda7a495b4e6e7334d3890");
	/* A second challenge is not part of CRAM-MD5. */
	buf_reset(&out);
	assert_int_equal(sasl_client_step(c, chal, strlen(chal), &out, &error), -1);
	sasl_client_free(&c);
	buf_free(&out);
}

/* ---- SCRAM against a server computed here ---- */

struct scram {
	struct sasl_client *c;
	const EVP_MD *md;
	struct buf client_first_bare;
	char cnonce[128];
	struct buf server_first;
	struct buf client_final;	/* without ",p=" */
	struct buf proof;		/* decoded client proof */
	const char *error;
};

/* Start a SCRAM exchange: the client-first message, checked for form. */
static void
scram_start(struct scram *s, const char *mech, const char *user, const char *pass)
{
	struct buf out;
	const char *r;

	memset(s, 0, sizeof(*s));
	s->md = strcmp(mech, "SCRAM-SHA-1") == 0 ? EVP_sha1() : EVP_sha256();
	s->c = sasl_client_new(mech, user, pass);
	assert_non_null(s->c);
	buf_init(&s->client_first_bare);
	buf_init(&s->server_first);
	buf_init(&s->client_final);
	buf_init(&s->proof);
	buf_init(&out);
	assert_int_equal(sasl_client_step(s->c, "", 0, &out, &s->error), 0);
	/* gs2-header "n,," (no channel binding, no authzid). */
	assert_true(out.len > 3 && memcmp(out.data, "n,,", 3) == 0);
	buf_append(&s->client_first_bare, out.data + 3, out.len - 3);
	r = strstr(out.data, ",r=");
	assert_non_null(r);
	assert_true(strlen(r + 3) >= 16 && strlen(r + 3) < sizeof(s->cnonce));
	ms_strlcpy(s->cnonce, r + 3, sizeof(s->cnonce));
	buf_free(&out);
}

static void
scram_end(struct scram *s)
{
	sasl_client_free(&s->c);
	buf_free(&s->client_first_bare);
	buf_free(&s->server_first);
	buf_free(&s->client_final);
	buf_free(&s->proof);
}

/* Feed a server-first message; on success split the client-final. */
static int
scram_server_first(struct scram *s, const char *msg)
{
	struct buf out;
	const char *p;
	int r;

	buf_reset(&s->server_first);
	buf_puts(&s->server_first, msg);
	buf_init(&out);
	r = sasl_client_step(s->c, msg, strlen(msg), &out, &s->error);
	if (r == 0) {
		p = strstr(out.data, ",p=");
		assert_non_null(p);
		buf_append(&s->client_final, out.data, (size_t)(p - out.data));
		assert_int_equal(ms_base64_decode(&s->proof, p + 3, strlen(p + 3)), 0);
	}
	buf_free(&out);
	return r;
}

/* The server's view (RFC 5802 3): SaltedPassword, then the proof check
 * and the server signature. Returns whether the client's proof is right;
 * the base64 ServerSignature goes to sig. */
static bool
scram_server_verify(struct scram *s, const char *pass, const char *salt_b64, int iter,
	struct buf *sig)
{
	unsigned char salted[EVP_MAX_MD_SIZE], ckey[EVP_MAX_MD_SIZE], skey[EVP_MAX_MD_SIZE],
		stored[EVP_MAX_MD_SIZE], csig[EVP_MAX_MD_SIZE], ssig[EVP_MAX_MD_SIZE];
	unsigned mdlen = (unsigned)EVP_MD_get_size(s->md), len, i;
	struct buf salt, am;
	bool ok;

	buf_init(&salt);
	buf_init(&am);
	assert_int_equal(ms_base64_decode(&salt, salt_b64, strlen(salt_b64)), 0);
	assert_int_equal(PKCS5_PBKDF2_HMAC(pass, (int)strlen(pass),
		(const unsigned char *)salt.data, (int)salt.len, iter, s->md, (int)mdlen, salted), 1);
	HMAC(s->md, salted, (int)mdlen, (const unsigned char *)"Client Key", 10, ckey, &len);
	HMAC(s->md, salted, (int)mdlen, (const unsigned char *)"Server Key", 10, skey, &len);
	EVP_Digest(ckey, mdlen, stored, &len, s->md, NULL);
	buf_printf(&am, "%s,%s,%s", s->client_first_bare.data, s->server_first.data,
		s->client_final.data);
	HMAC(s->md, stored, (int)mdlen, (const unsigned char *)am.data, am.len, csig, &len);
	ok = s->proof.len == mdlen;
	for (i = 0; ok && i < mdlen; i++)
		ok = ((unsigned char)s->proof.data[i] ^ csig[i]) == ckey[i];
	HMAC(s->md, skey, (int)mdlen, (const unsigned char *)am.data, am.len, ssig, &len);
	ms_base64_encode(sig, ssig, mdlen);
	buf_free(&salt);
	buf_free(&am);
	return ok;
}

static int
scram_server_final(struct scram *s, const char *msg)
{
	struct buf out;
	int r;

	buf_init(&out);
	r = sasl_client_step(s->c, msg, strlen(msg), &out, &s->error);
	buf_free(&out);
	return r;
}

static void
scram_full(const char *mech)
{
	struct scram s;
	struct buf first, sig, final;

	scram_start(&s, mech, "us=er,x", "pencil");
	/* saslname escapes "=" and "," (RFC 5802 5.1). */
	assert_true(strncmp(s.client_first_bare.data, "n=us=3Der=2Cx,r=", 16) == 0);
	buf_init(&first);
	buf_init(&sig);
	buf_init(&final);
	buf_printf(&first, "r=%s%s,s=QSXCR+Q6sek8bf92,i=4096", s.cnonce, "3rfcNHYJY1ZVvWVs7j");
	assert_int_equal(scram_server_first(&s, first.data), 0);
	/* client-final carries the whole nonce, as the server sent it. */
	assert_string_equal(s.client_final.data, ms_err("c=biws,r=%s3rfcNHYJY1ZVvWVs7j", s.cnonce));
	assert_true(scram_server_verify(&s, "pencil", "QSXCR+Q6sek8bf92", 4096, &sig));
	buf_printf(&final, "v=%s", sig.data);
	assert_int_equal(scram_server_final(&s, final.data), 1);
	/* Nothing after the end. */
	assert_int_equal(scram_server_final(&s, final.data), -1);
	scram_end(&s);
	buf_free(&first);
	buf_free(&sig);
	buf_free(&final);
}

static void
test_scram_sha256(void **state)
{
	(void)state;
	scram_full("SCRAM-SHA-256");
}

static void
test_scram_sha1(void **state)
{
	(void)state;
	scram_full("SCRAM-SHA-1");
}

/* A server-first message with @N replaced by the client's nonce must be
 * refused with an error naming the problem (needle). */
static void
bad_first(const char *tmpl, const char *needle)
{
	struct scram s;
	struct buf msg;
	const char *p;

	scram_start(&s, "SCRAM-SHA-256", "user", "pencil");
	buf_init(&msg);
	for (p = tmpl; *p; p++) {
		if (p[0] == '@' && p[1] == 'N') {
			buf_puts(&msg, s.cnonce);
			p++;
		} else {
			buf_putc(&msg, *p);
		}
	}
	if (scram_server_first(&s, msg.data) != -1)
		fail_msg("accepted server-first %s", msg.data);
	assert_non_null(s.error);
	if (strstr(s.error, needle) == NULL)
		fail_msg("error for %s is \"%s\", want \"%s\"", msg.data, s.error, needle);
	buf_free(&msg);
	scram_end(&s);
}

static void
test_scram_bad_nonce(void **state)
{
	(void)state;
	/* Not our nonce, ours without the server's part, ours changed. */
	bad_first("r=abcdefghijklmnopqrstuvwxyz0123456789,s=QSXCR+Q6sek8bf92,i=4096", "nonce");
	bad_first("r=@N,s=QSXCR+Q6sek8bf92,i=4096", "nonce");
	bad_first("r=x@N,s=QSXCR+Q6sek8bf92,i=4096", "nonce");
	/* Control characters and 8-bit bytes would go back in client-final. */
	bad_first("r=@Nab\tc,s=QSXCR+Q6sek8bf92,i=4096", "printable");
	bad_first("r=@N\xc3\xa9,s=QSXCR+Q6sek8bf92,i=4096", "printable");
	/* The nonce must come first (RFC 5802 7). */
	bad_first("s=QSXCR+Q6sek8bf92,r=@Nsrv,i=4096", "nonce");
	bad_first("", "nonce");
	bad_first("r=", "nonce");
}

static void
test_scram_bad_salt(void **state)
{
	(void)state;
	bad_first("r=@Nsrv,i=4096", "salt");
	bad_first("r=@Nsrv,s=,i=4096", "salt");
	bad_first("r=@Nsrv,s=!!!notbase64,i=4096", "salt");
	bad_first("r=@Nsrv,s=QSXCR+Q6sek8bf9,i=4096", "salt");
}

static void
test_scram_bad_iterations(void **state)
{
	(void)state;
	bad_first("r=@Nsrv,s=QSXCR+Q6sek8bf92", "iteration");
	bad_first("r=@Nsrv,s=QSXCR+Q6sek8bf92,i=", "iteration");
	bad_first("r=@Nsrv,s=QSXCR+Q6sek8bf92,i=0", "iteration");
	bad_first("r=@Nsrv,s=QSXCR+Q6sek8bf92,i=-1", "iteration");
	bad_first("r=@Nsrv,s=QSXCR+Q6sek8bf92,i=4096x", "iteration");
	bad_first("r=@Nsrv,s=QSXCR+Q6sek8bf92,i=18446744073709551617", "iteration");
	/* Beyond what we compute: a server cannot make us spin. */
	bad_first("r=@Nsrv,s=QSXCR+Q6sek8bf92,i=1000001", "iteration");
}

static void
test_scram_server_errors(void **state)
{
	(void)state;
	/* A mandatory extension we do not know (RFC 5802 7: reserved-mext). */
	bad_first("m=ext,r=@Nsrv,s=QSXCR+Q6sek8bf92,i=4096", "nonce");
	bad_first("e=unknown-user", "unknown-user");
}

static void
test_scram_wrong_server_signature(void **state)
{
	static const char *const bad[] = {
		"", "v=", "v=!!!!", "x=abc", "v=AAAA", "e=invalid-proof",
		"e=other-error,v=AAAA",
	};
	struct scram s;
	struct buf first, sig, final;
	size_t i;

	(void)state;
	scram_start(&s, "SCRAM-SHA-256", "user", "pencil");
	buf_init(&first);
	buf_init(&sig);
	buf_init(&final);
	buf_printf(&first, "r=%ssrvnonce,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", s.cnonce);
	assert_int_equal(scram_server_first(&s, first.data), 0);
	/* A server that knows the proof is right but not the key: its
	 * signature over another password is not accepted. */
	assert_true(scram_server_verify(&s, "pencil", "W22ZaJ0SNY7soEsUEjb6gQ==", 4096, &sig));
	buf_reset(&sig);
	(void)scram_server_verify(&s, "pencil2", "W22ZaJ0SNY7soEsUEjb6gQ==", 4096, &sig);
	buf_printf(&final, "v=%s", sig.data);
	assert_int_equal(scram_server_final(&s, final.data), -1);
	assert_non_null(strstr(s.error, "signature"));
	scram_end(&s);

	/* Other broken server-final messages, each on a fresh exchange. */
	for (i = 0; i < MS_NELEM(bad); i++) {
		scram_start(&s, "SCRAM-SHA-1", "user", "pencil");
		buf_reset(&first);
		buf_printf(&first, "r=%sx,s=QSXCR+Q6sek8bf92,i=1", s.cnonce);
		assert_int_equal(scram_server_first(&s, first.data), 0);
		if (scram_server_final(&s, bad[i]) != -1)
			fail_msg("accepted server-final \"%s\"", bad[i]);
		assert_non_null(s.error);
		if (bad[i][0] == 'e')
			assert_non_null(strstr(s.error, bad[i] + 2));
		scram_end(&s);
	}
	buf_free(&first);
	buf_free(&sig);
	buf_free(&final);
}

/* Random bytes at every step never crash and never report success. */
static void
test_scram_garbage(void **state)
{
	unsigned seed = 12345;
	int round;

	(void)state;
	for (round = 0; round < 300; round++) {
		struct scram s;
		char msg[64];
		size_t n = (size_t)(round % 64), i;

		scram_start(&s, round % 2 ? "SCRAM-SHA-1" : "SCRAM-SHA-256", "user", "pencil");
		for (i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			msg[i] = (char)(seed >> 16);
		}
		{
			struct buf out;

			buf_init(&out);
			assert_int_equal(sasl_client_step(s.c, msg, n, &out, &s.error), -1);
			buf_free(&out);
		}
		scram_end(&s);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_choose),
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_crammd5_rfc2195),
		cmocka_unit_test(test_scram_sha256),
		cmocka_unit_test(test_scram_sha1),
		cmocka_unit_test(test_scram_bad_nonce),
		cmocka_unit_test(test_scram_bad_salt),
		cmocka_unit_test(test_scram_bad_iterations),
		cmocka_unit_test(test_scram_server_errors),
		cmocka_unit_test(test_scram_wrong_server_signature),
		cmocka_unit_test(test_scram_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
