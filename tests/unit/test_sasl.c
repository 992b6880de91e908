/* Tests of the SASL server state machine (lib/auth/sasl.c) and SASLprep:
 * SCRAM-SHA-1/256 exchanges reproducing RFC 5802 section 5 and RFC 7677
 * section 3 byte for byte, -PLUS channel binding, gs2 downgrade checks,
 * malformed SCRAM messages, PLAIN, LOGIN, CRAM-MD5 (RFC 2195), EXTERNAL,
 * unknown users, and random garbage fed to every mechanism state. */
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

#include "auth/password.h"
#include "auth/sasl.h"
#include "auth/saslprep.h"
#include "core/util.h"

/* ---- accounts of the fake credential store ---- */

struct user {
	const char *name;	/* what the client types */
	int64_t account_id;
	const char *account_name;
	const char *password;	/* NULL: account without password */
	const char *disabled;	/* login disabled message, or NULL */
};

static const struct user users[] = {
	/* RFC 5802/7677 examples: SCRAM keys from the RFC salts. */
	{ "user", 7, "user@example.org", "pencil", NULL },
	{ "user@example.org", 7, "user@example.org", "pencil", NULL },
	{ "other@example.org", 7, "user@example.org", "pencil", NULL },
	{ "tim", 11, "tim@example.org", "tanstaaftanstaaf", NULL },
	{ "stranger@example.org", 8, "stranger@example.org", "s3cret", NULL },
	{ "off@example.org", 9, "off@example.org", "s3cret", "account suspended" },
	{ "nopass@example.org", 10, "nopass@example.org", NULL, NULL },
	{ "us,er", 12, "comma@example.org", "pencil", NULL },
};

static struct sasl_creds creds[MS_NELEM(users)];
static int lookups;

static void
b64d(struct buf *out, const char *s)
{
	buf_reset(out);
	assert_int_equal(ms_base64_decode(out, s, strlen(s)), 0);
}

static int
setup_creds(void **state)
{
	struct buf salt;
	const char *err;
	size_t i;

	buf_init(&salt);
	for (i = 0; i < MS_NELEM(users); i++) {
		struct sasl_creds *c = &creds[i];

		memset(c, 0, sizeof(*c));
		c->account_id = users[i].account_id;
		(void)ms_strlcpy(c->account_name, users[i].account_name, sizeof(c->account_name));
		if (users[i].disabled != NULL) {
			c->login_disabled = true;
			(void)ms_strlcpy(c->login_disabled_msg, users[i].disabled,
				sizeof(c->login_disabled_msg));
		}
		if (users[i].password == NULL)
			continue;
		c->have_password = true;
		/* One yescrypt per distinct password is plenty. */
		if (i > 0 && users[i - 1].password != NULL &&
		    strcmp(users[i - 1].password, users[i].password) == 0)
			c->cr = creds[i - 1].cr;
		else
			assert_int_equal(credentials_derive(users[i].password, &c->cr, &err), 0);
		if (strcmp(users[i].password, "pencil") == 0) {
			b64d(&salt, "QSXCR+Q6sek8bf92");
			assert_int_equal(scram_keys_compute("sha1", "pencil",
						 (unsigned char *)salt.data, salt.len, 4096,
						 &c->cr.sha1, &err), 0);
			b64d(&salt, "W22ZaJ0SNY7soEsUEjb6gQ==");
			assert_int_equal(scram_keys_compute("sha256", "pencil",
						 (unsigned char *)salt.data, salt.len, 4096,
						 &c->cr.sha256, &err), 0);
		}
	}
	buf_free(&salt);
	return 0;
}

static int
lookup(void *ctx, const char *username, struct sasl_creds *out)
{
	size_t i;

	(void)ctx;
	lookups++;
	if (strcmp(username, "dberror") == 0)
		return -1;
	for (i = 0; i < MS_NELEM(users); i++)
		if (strcmp(username, users[i].name) == 0) {
			*out = creds[i];
			return 1;
		}
	return 0;
}

static const unsigned char cb_unique[12] = "unique-12345";
static const unsigned char cb_exporter[32] = "exporter-0123456789abcdefghijklm";

/* Parameters: TLS with both channel-binding types unless told otherwise. */
static struct sasl_params
params(bool tls, bool unique, bool exporter)
{
	struct sasl_params p;

	memset(&p, 0, sizeof(p));
	p.hostname = "mail.example.org";
	p.tls = tls;
	if (unique) {
		p.cb_data[SASL_CB_TLS_UNIQUE] = cb_unique;
		p.cb_len[SASL_CB_TLS_UNIQUE] = sizeof(cb_unique);
	}
	if (exporter) {
		p.cb_data[SASL_CB_TLS_EXPORTER] = cb_exporter;
		p.cb_len[SASL_CB_TLS_EXPORTER] = sizeof(cb_exporter);
	}
	p.secret = (const unsigned char *)"test secret";
	p.secret_len = 11;
	p.lookup = lookup;
	return p;
}

/* One step with a C-string message (NULL: no initial response). */
static enum sasl_status
step(struct sasl_server *s, const char *in, struct buf *out)
{
	const char *err = NULL;
	enum sasl_status st = sasl_server_step(s, in, in ? strlen(in) : 0, out, &err);

	if (st == SASL_FAIL || st == SASL_ERROR)
		assert_non_null(err);
	return st;
}

static enum sasl_status
stepn(struct sasl_server *s, const char *in, size_t n, struct buf *out)
{
	const char *err = NULL;

	return sasl_server_step(s, in, n, out, &err);
}

/* ---- a SCRAM client, to compute proofs for arbitrary inputs ---- */

struct client_final {
	struct buf msg;		/* client-final-message */
	struct buf server_final;	/* what the server must answer */
};

/* From server-first, compute the client-final-message for password with
 * the channel-binding input gs2header+cb and optional extension text
 * placed before the proof. */
static void
scram_client(const char *hash, const char *password, const char *client_first_bare,
	const char *server_first, const char *gs2header, const unsigned char *cb, size_t cblen,
	const char *ext, struct client_final *cf)
{
	const EVP_MD *md = strcmp(hash, "sha1") == 0 ? EVP_sha1() : EVP_sha256();
	size_t hlen = (size_t)EVP_MD_get_size(md), i;
	unsigned char salted[32], ckey[32], stored[32], csig[32], proof[32], skey[32], ssig[32];
	unsigned int len;
	struct buf salt, cbin, nonce, without, authmsg;
	const char *r, *s, *it, *comma;
	uint64_t iter;

	buf_init(&salt);
	buf_init(&cbin);
	buf_init(&nonce);
	buf_init(&without);
	buf_init(&authmsg);
	r = strstr(server_first, "r=");
	s = strstr(server_first, ",s=");
	it = strstr(server_first, ",i=");
	assert_non_null(r);
	assert_non_null(s);
	assert_non_null(it);
	buf_append(&nonce, r + 2, (size_t)(s - r - 2));
	comma = strchr(s + 3, ',');
	assert_int_equal(ms_base64_decode(&salt, s + 3, (size_t)(comma - s - 3)), 0);
	assert_int_equal(ms_parse_u64(it + 3, 1, 1000000, &iter), 0);
	assert_int_equal(PKCS5_PBKDF2_HMAC(password, (int)strlen(password),
				 (unsigned char *)salt.data, (int)salt.len, (int)iter, md, (int)hlen,
				 salted), 1);
	HMAC(md, salted, (int)hlen, (const unsigned char *)"Client Key", 10, ckey, &len);
	EVP_Digest(ckey, hlen, stored, &len, md, NULL);
	HMAC(md, salted, (int)hlen, (const unsigned char *)"Server Key", 10, skey, &len);

	buf_puts(&cbin, gs2header);
	buf_append(&cbin, cb, cblen);
	buf_puts(&without, "c=");
	ms_base64_encode(&without, cbin.data, cbin.len);
	buf_puts(&without, ",r=");
	buf_append(&without, nonce.data, nonce.len);
	if (ext != NULL) {
		buf_putc(&without, ',');
		buf_puts(&without, ext);
	}
	buf_printf(&authmsg, "%s,%s,%s", client_first_bare, server_first, without.data);
	HMAC(md, stored, (int)hlen, (unsigned char *)authmsg.data, authmsg.len, csig, &len);
	for (i = 0; i < hlen; i++)
		proof[i] = ckey[i] ^ csig[i];
	HMAC(md, skey, (int)hlen, (unsigned char *)authmsg.data, authmsg.len, ssig, &len);

	buf_init(&cf->msg);
	buf_init(&cf->server_final);
	buf_printf(&cf->msg, "%s,p=", without.data);
	ms_base64_encode(&cf->msg, proof, hlen);
	buf_puts(&cf->server_final, "v=");
	ms_base64_encode(&cf->server_final, ssig, hlen);
	buf_free(&salt);
	buf_free(&cbin);
	buf_free(&nonce);
	buf_free(&without);
	buf_free(&authmsg);
}

static void
client_final_free(struct client_final *cf)
{
	buf_free(&cf->msg);
	buf_free(&cf->server_final);
}

/* A full SCRAM exchange; returns the final status. */
static enum sasl_status
scram_exchange(const char *mech, struct sasl_params *p, const char *gs2, const char *user,
	const char *password, const unsigned char *cb, size_t cblen, const char **result_r)
{
	struct sasl_server *s = sasl_server_new(mech, p);
	const char *hash = strstr(mech, "256") ? "sha256" : "sha1";
	struct client_final cf;
	struct buf out, first, bare;
	enum sasl_status st;
	static char result[32];

	assert_non_null(s);
	buf_init(&out);
	buf_init(&first);
	buf_init(&bare);
	buf_printf(&bare, "n=%s,r=clientnonce123", user);
	buf_printf(&first, "%s%s", gs2, bare.data);
	st = step(s, first.data, &out);
	if (st == SASL_CONTINUE) {
		scram_client(hash, password, bare.data, out.data, gs2, cb, cblen, NULL, &cf);
		st = step(s, cf.msg.data, &out);
		if (st == SASL_CONTINUE) {
			assert_string_equal(out.data, cf.server_final.data);
			st = step(s, "", &out);
		}
		client_final_free(&cf);
	}
	(void)ms_strlcpy(result, sasl_server_result(s), sizeof(result));
	*result_r = result;
	sasl_server_free(&s);
	assert_null(s);
	buf_free(&out);
	buf_free(&first);
	buf_free(&bare);
	return st;
}

/* ---- SCRAM: the RFC examples ---- */

static void
rfc_exchange(const char *mech, const char *client_first, const char *snonce,
	const char *server_first, const char *client_final, const char *server_final)
{
	struct sasl_params p = params(false, false, false);
	struct sasl_server *s = sasl_server_new(mech, &p);
	struct buf out;

	assert_non_null(s);
	buf_init(&out);
	sasl_server_set_test_challenge(s, snonce);
	assert_int_equal(step(s, client_first, &out), SASL_CONTINUE);
	assert_string_equal(out.data, server_first);
	assert_string_equal(sasl_server_username(s), "user");
	assert_int_equal(sasl_server_account(s), 0);
	assert_int_equal(step(s, client_final, &out), SASL_CONTINUE);
	assert_string_equal(out.data, server_final);
	assert_int_equal(sasl_server_account(s), 0);
	assert_int_equal(step(s, "", &out), SASL_OK);
	assert_int_equal(out.len, 0);
	assert_int_equal(sasl_server_account(s), 7);
	assert_string_equal(sasl_server_account_name(s), "user@example.org");
	assert_string_equal(sasl_server_username(s), "user");
	assert_string_equal(sasl_server_result(s), "ok");
	assert_null(sasl_server_login_disabled(s));
	/* The exchange is over. */
	assert_int_equal(step(s, "", &out), SASL_FAIL);
	sasl_server_free(&s);
	buf_free(&out);
}

static void
test_scram_sha1_rfc5802(void **state)
{
	rfc_exchange("SCRAM-SHA-1", "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL", "3rfcNHYJY1ZVvWVs7j",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
		"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
		"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
	/* Mechanism names are case-insensitive. */
	rfc_exchange("scram-sha-1", "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL", "3rfcNHYJY1ZVvWVs7j",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
		"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
		"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
}

static void
test_scram_sha256_rfc7677(void **state)
{
	rfc_exchange("SCRAM-SHA-256", "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
		"%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
		"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
		"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
}

/* Without an initial response the server sends an empty challenge first;
 * the server nonce is random and the exchange still completes. */
static void
test_scram_no_initial_response(void **state)
{
	struct sasl_params p = params(false, false, false);
	struct sasl_server *s = sasl_server_new("SCRAM-SHA-256", &p);
	struct client_final cf;
	struct buf out;
	const char *bare = "n=user,r=abcdefgh";

	buf_init(&out);
	assert_int_equal(step(s, NULL, &out), SASL_CONTINUE);
	assert_int_equal(out.len, 0);
	assert_int_equal(step(s, "n,,n=user,r=abcdefgh", &out), SASL_CONTINUE);
	assert_true(strncmp(out.data, "r=abcdefgh", 10) == 0);
	assert_true(strlen(out.data) > 10 + 20);	/* random server part */
	assert_non_null(strstr(out.data, ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"));
	scram_client("sha256", "pencil", bare, out.data, "n,,", NULL, 0, NULL, &cf);
	assert_int_equal(step(s, cf.msg.data, &out), SASL_CONTINUE);
	assert_string_equal(out.data, cf.server_final.data);
	assert_int_equal(step(s, "", &out), SASL_OK);
	client_final_free(&cf);
	/* A second NULL step is a protocol error. */
	sasl_server_free(&s);
	s = sasl_server_new("SCRAM-SHA-256", &p);
	assert_int_equal(step(s, NULL, &out), SASL_CONTINUE);
	assert_int_equal(step(s, NULL, &out), SASL_FAIL);
	assert_string_equal(sasl_server_result(s), "badprotocol");
	sasl_server_free(&s);
	buf_free(&out);
}

/* ---- SCRAM -PLUS and the gs2 header ---- */

static void
test_scram_plus(void **state)
{
	struct sasl_params p = params(true, true, true);
	const char *res;

	/* Matching channel binding of either type, both hashes. */
	assert_int_equal(scram_exchange("SCRAM-SHA-256-PLUS", &p, "p=tls-exporter,,", "user",
				 "pencil", cb_exporter, sizeof(cb_exporter), &res), SASL_OK);
	assert_int_equal(scram_exchange("SCRAM-SHA-256-PLUS", &p, "p=tls-unique,,", "user",
				 "pencil", cb_unique, sizeof(cb_unique), &res), SASL_OK);
	assert_int_equal(scram_exchange("SCRAM-SHA-1-PLUS", &p, "p=tls-unique,,", "user",
				 "pencil", cb_unique, sizeof(cb_unique), &res), SASL_OK);
	assert_int_equal(scram_exchange("SCRAM-SHA-1-PLUS", &p, "p=tls-exporter,a=user,",
				 "user", "pencil", cb_exporter, sizeof(cb_exporter), &res), SASL_OK);
	/* Binding data of another connection (a man in the middle). */
	assert_int_equal(scram_exchange("SCRAM-SHA-256-PLUS", &p, "p=tls-exporter,,", "user",
				 "pencil", cb_unique, sizeof(cb_unique), &res), SASL_FAIL);
	assert_string_equal(res, "badchanbind");
	assert_int_equal(scram_exchange("SCRAM-SHA-256-PLUS", &p, "p=tls-exporter,,", "user",
				 "pencil", cb_exporter, sizeof(cb_exporter) - 1, &res), SASL_FAIL);
	assert_string_equal(res, "badchanbind");
	/* Right binding, wrong password. */
	assert_int_equal(scram_exchange("SCRAM-SHA-256-PLUS", &p, "p=tls-exporter,,", "user",
				 "pen", cb_exporter, sizeof(cb_exporter), &res), SASL_FAIL);
	assert_string_equal(res, "badcreds");
	/* A bare mechanism with "p" (cyrus-sasl does this) binds the same. */
	assert_int_equal(scram_exchange("SCRAM-SHA-256", &p, "p=tls-exporter,,", "user",
				 "pencil", cb_exporter, sizeof(cb_exporter), &res), SASL_OK);
	assert_int_equal(scram_exchange("SCRAM-SHA-256", &p, "p=tls-exporter,,", "user",
				 "pencil", cb_unique, sizeof(cb_unique), &res), SASL_FAIL);
	assert_string_equal(res, "badchanbind");
	/* "n": the binding input is just the header "n,,". */
	assert_int_equal(scram_exchange("SCRAM-SHA-256", &p, "n,,", "user", "pencil", NULL, 0,
				 &res), SASL_OK);
}

/* The c= attribute must echo the header exactly; the server-error is
 * returned for the protocol to send. */
static void
test_scram_plus_error_message(void **state)
{
	struct sasl_params p = params(true, true, true);
	struct sasl_server *s = sasl_server_new("SCRAM-SHA-256-PLUS", &p);
	struct client_final cf;
	struct buf out;

	buf_init(&out);
	assert_int_equal(step(s, "p=tls-unique,,n=user,r=nonce1234", &out), SASL_CONTINUE);
	scram_client("sha256", "pencil", "n=user,r=nonce1234", out.data, "p=tls-unique,,",
		cb_exporter, sizeof(cb_exporter), NULL, &cf);
	assert_int_equal(step(s, cf.msg.data, &out), SASL_FAIL);
	assert_string_equal(out.data, "e=channel-bindings-dont-match");
	assert_int_equal(sasl_server_account(s), 0);
	client_final_free(&cf);
	sasl_server_free(&s);
	buf_free(&out);
}

static void
test_scram_gs2_flags(void **state)
{
	struct sasl_params p = params(true, true, true);
	struct sasl_params nocb = params(true, false, false);
	struct sasl_params only_exporter = params(true, false, true);
	const char *res;
	struct sasl_server *s;
	struct buf out;

	buf_init(&out);
	/* RFC 5802 section 6: "y" means the client could bind but thinks we
	 * cannot; we announce -PLUS whenever we can, so this is a downgrade. */
	assert_int_equal(scram_exchange("SCRAM-SHA-256", &p, "y,,", "user", "pencil", NULL, 0,
				 &res), SASL_FAIL);
	assert_string_equal(res, "badchanbind");
	assert_int_equal(scram_exchange("SCRAM-SHA-1", &only_exporter, "y,,", "user", "pencil",
				 NULL, 0, &res), SASL_FAIL);
	/* Without binding data (no -PLUS announced), "y" is fine; c= is
	 * base64("y,,") = "eSws". */
	assert_int_equal(scram_exchange("SCRAM-SHA-256", &nocb, "y,,", "user", "pencil", NULL, 0,
				 &res), SASL_OK);
	assert_int_equal(scram_exchange("SCRAM-SHA-1", &nocb, "y,,", "user", "pencil", NULL, 0,
				 &res), SASL_OK);
	/* -PLUS requires "p". */
	assert_int_equal(scram_exchange("SCRAM-SHA-256-PLUS", &p, "n,,", "user", "pencil", NULL, 0,
				 &res), SASL_FAIL);
	assert_string_equal(res, "badchanbind");
	assert_int_equal(scram_exchange("SCRAM-SHA-256-PLUS", &p, "y,,", "user", "pencil", NULL, 0,
				 &res), SASL_FAIL);
	/* A binding type the connection does not have (tls-unique on 1.3). */
	assert_int_equal(scram_exchange("SCRAM-SHA-256-PLUS", &only_exporter, "p=tls-unique,,",
				 "user", "pencil", cb_unique, sizeof(cb_unique), &res), SASL_FAIL);
	assert_string_equal(res, "badchanbind");
	/* Unknown binding type. */
	assert_int_equal(scram_exchange("SCRAM-SHA-256-PLUS", &p, "p=tls-server-end-point,,",
				 "user", "pencil", NULL, 0, &res), SASL_FAIL);
	assert_string_equal(res, "badprotocol");
	/* "p" on a connection without any binding data. */
	assert_int_equal(scram_exchange("SCRAM-SHA-256", &nocb, "p=tls-exporter,,", "user",
				 "pencil", cb_exporter, sizeof(cb_exporter), &res), SASL_FAIL);
	/* -PLUS is not offered without binding data or without TLS. */
	assert_null(sasl_server_new("SCRAM-SHA-256-PLUS", &nocb));
	p.tls = false;
	assert_null(sasl_server_new("SCRAM-SHA-1-PLUS", &p));
	/* Without TLS the binding data is ignored, so "y" is fine. */
	s = sasl_server_new("SCRAM-SHA-1", &p);
	assert_int_equal(step(s, "y,,n=user,r=abc", &out), SASL_CONTINUE);
	sasl_server_free(&s);
	buf_free(&out);
}

/* ---- SCRAM: malformed messages ---- */

static void
expect_first_fails(const char *mech, const char *msg, size_t n, const char *result)
{
	struct sasl_params p = params(true, true, true);
	struct sasl_server *s = sasl_server_new(mech, &p);
	struct buf out;
	const char *err = NULL;

	buf_init(&out);
	if (sasl_server_step(s, msg, n, &out, &err) != SASL_FAIL)
		fail_msg("client-first %.*s: did not fail", (int)(n > 80 ? 80 : n), msg);
	assert_non_null(err);
	assert_string_equal(sasl_server_result(s), result);
	assert_int_equal(sasl_server_account(s), 0);
	assert_int_equal(step(s, "n,,n=user,r=abc", &out), SASL_FAIL);
	sasl_server_free(&s);
	buf_free(&out);
}

static void
test_scram_malformed_first(void **state)
{
	static const char *const bad[] = {
		"", "n", "n,", "n,,", ",,n=user,r=abc", "n,,n=user", "n,,r=abc",
		"n,,r=abc,n=user",		/* wrong order */
		"n,,n=,r=abc", "n,,n=user,r=", "n,,n=user,,r=abc", "n,,n=user,r=abc,",
		"n,,n=user,r=abc,,x=y", "n,,n=user,r=abc,1=x", "n,,n=user,r=abc,x",
		"n,,n=user,r=abc,x=",
		"n,,n=us=er,r=abc", "n,,n=us=2Xer,r=abc", "n,,n=us=2cer,r=abc", "n,,n=user=,r=abc",
		"n,,n=user,r=ab\x7f" "c", "n,,n=user,r=ab c", "n,,n=us\x01" "er,r=abc",
		"n,,n=\xff\xfe,r=abc",		/* invalid UTF-8 */
		"x,,n=user,r=abc", "N,,n=user,r=abc", "n,x=y,n=user,r=abc", "n,a=,n=user,r=abc",
		"n,a=other,n=user,r=abc",	/* proxy authorization */
		"n,a=user", "n,a=user,", "n,,m=ext,n=user,r=abc",	/* mandatory extension */
		"n,,m=,n=user,r=abc", "p,,n=user,r=abc", "p=,,n=user,r=abc",
		"p=tls unique,,n=user,r=abc", "p=tls-unique", "p=tls-unique,",
		"n,,N=user,r=abc", "nn,,n=user,r=abc", "n,,n=user,r=abc\n",
	};
	char huge[SASL_MAX_MESSAGE + 100];
	size_t i;

	for (i = 0; i < MS_NELEM(bad); i++) {
		const char *result = "badprotocol";

		expect_first_fails("SCRAM-SHA-256", bad[i], strlen(bad[i]), result);
		expect_first_fails("SCRAM-SHA-1", bad[i], strlen(bad[i]), result);
	}
	/* NUL bytes anywhere. */
	expect_first_fails("SCRAM-SHA-256", "n,,n=user\0,r=abc", 16, "badprotocol");
	expect_first_fails("SCRAM-SHA-256", "n,,n=user,r=abc\0", 16, "badprotocol");
	expect_first_fails("SCRAM-SHA-256", "\0,,n=user,r=abc", 15, "badprotocol");
	/* Too long, even when otherwise well-formed. */
	memset(huge, 'a', sizeof(huge));
	memcpy(huge, "n,,n=user,r=", 12);
	expect_first_fails("SCRAM-SHA-256", huge, sizeof(huge), "badprotocol");
}

/* Well-formed variants that must be accepted. */
static void
test_scram_first_variants(void **state)
{
	struct sasl_params p = params(false, false, false);
	struct sasl_server *s;
	struct buf out;
	char big[4000];

	buf_init(&out);
	/* Unknown optional extensions are ignored. */
	s = sasl_server_new("SCRAM-SHA-256", &p);
	assert_int_equal(step(s, "n,,n=user,r=abc,x=ext,y=more", &out), SASL_CONTINUE);
	sasl_server_free(&s);
	/* authzid equal to the user. */
	s = sasl_server_new("SCRAM-SHA-256", &p);
	assert_int_equal(step(s, "n,a=user,n=user,r=abc", &out), SASL_CONTINUE);
	sasl_server_free(&s);
	/* Escapes in saslname: "=2C" is ',', "=3D" is '='. */
	s = sasl_server_new("SCRAM-SHA-256", &p);
	assert_int_equal(step(s, "n,,n=us=2Cer,r=abc", &out), SASL_CONTINUE);
	assert_string_equal(sasl_server_username(s), "us,er");
	sasl_server_free(&s);
	s = sasl_server_new("SCRAM-SHA-256", &p);
	assert_int_equal(step(s, "n,,n=a=3Db,r=abc", &out), SASL_CONTINUE);
	assert_string_equal(sasl_server_username(s), "a=b");
	sasl_server_free(&s);
	/* SASLprep: a no-break space in the user name becomes a space. */
	s = sasl_server_new("SCRAM-SHA-256", &p);
	assert_int_equal(step(s, "n,,n=a\xc2\xa0" "b,r=abc", &out), SASL_CONTINUE);
	assert_string_equal(sasl_server_username(s), "a b");
	sasl_server_free(&s);
	/* A long nonce within the message limit. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "n,,n=user,r=", 12);
	s = sasl_server_new("SCRAM-SHA-256", &p);
	assert_int_equal(step(s, big, &out), SASL_CONTINUE);
	sasl_server_free(&s);
	buf_free(&out);
}

/* Start an RFC 7677 exchange and feed a client-final variant. */
static enum sasl_status
final_variant(const char *client_final, size_t n, struct buf *out, const char **result_r)
{
	static char result[32];
	struct sasl_params p = params(false, false, false);
	struct sasl_server *s = sasl_server_new("SCRAM-SHA-256", &p);
	enum sasl_status st;

	sasl_server_set_test_challenge(s, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
	assert_int_equal(step(s, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO", out), SASL_CONTINUE);
	st = stepn(s, client_final, n, out);
	(void)ms_strlcpy(result, sasl_server_result(s), sizeof(result));
	*result_r = result;
	if (st == SASL_CONTINUE)
		st = step(s, "", out);
	sasl_server_free(&s);
	return st;
}

#define NONCE "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define PROOF "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="

static void
test_scram_malformed_final(void **state)
{
	static const struct {
		const char *msg, *result, *e;
	} bad[] = {
		{ "", "badprotocol", "e=invalid-encoding" },
		{ "c=biws", "badprotocol", "e=invalid-encoding" },
		{ "c=biws,r=" NONCE, "badprotocol", "e=invalid-encoding" },
		{ "r=" NONCE ",c=biws,p=" PROOF, "badprotocol", "e=invalid-encoding" },
		{ "c=biws,p=" PROOF ",r=" NONCE, "badprotocol", "e=invalid-encoding" },
		{ "c=biws,r=" NONCE ",p=" PROOF ",x=y", "badprotocol", "e=invalid-encoding" },
		{ "c=biws,r=" NONCE ",p=" PROOF ",p=" PROOF, "badprotocol", "e=invalid-encoding" },
		{ "c=biws,r=" NONCE ",,p=" PROOF, "badprotocol", "e=invalid-encoding" },
		{ "c=biws,r=" NONCE ",1=x,p=" PROOF, "badprotocol", "e=invalid-encoding" },
		{ "c=bi!s,r=" NONCE ",p=" PROOF, "badprotocol", "e=invalid-encoding" },
		{ "c=biw,r=" NONCE ",p=" PROOF, "badprotocol", "e=invalid-encoding" },
		{ "c=biws,r=" NONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ", "badprotocol",
			"e=invalid-encoding" },
		{ "c=biws,r=" NONCE ",p=", "badprotocol", "e=invalid-encoding" },
		{ "c=,r=" NONCE ",p=" PROOF, "badprotocol", "e=invalid-encoding" },
		/* Proof of the wrong length (SHA-1 size for SHA-256). */
		{ "c=biws,r=" NONCE ",p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", "badprotocol",
			"e=invalid-encoding" },
		/* Nonce mismatch: client part only, or altered. */
		{ "c=biws,r=rOprNGfwEbeRWgbNEkqO,p=" PROOF, "badprotocol", "e=other-error" },
		{ "c=biws,r=" NONCE "x,p=" PROOF, "badprotocol", "e=other-error" },
		/* Channel binding not echoing the "n,," header. */
		{ "c=eSws,r=" NONCE ",p=" PROOF, "badchanbind", "e=channel-bindings-dont-match" },
		{ "c=biwsAAAA,r=" NONCE ",p=" PROOF, "badchanbind", "e=channel-bindings-dont-match" },
		/* A flipped proof bit. */
		{ "c=biws,r=" NONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVU=", "badcreds",
			"e=invalid-proof" },
		/* An extension the proof did not cover. */
		{ "c=biws,r=" NONCE ",x=y,p=" PROOF, "badcreds", "e=invalid-proof" },
	};
	struct buf out;
	const char *res;
	size_t i;

	buf_init(&out);
	for (i = 0; i < MS_NELEM(bad); i++) {
		if (final_variant(bad[i].msg, strlen(bad[i].msg), &out, &res) != SASL_FAIL)
			fail_msg("client-final %s: did not fail", bad[i].msg);
		assert_string_equal(res, bad[i].result);
		assert_string_equal(out.data, bad[i].e);
	}
	/* NUL inside. */
	assert_int_equal(final_variant("c=biws\0,r=x", 11, &out, &res), SASL_FAIL);
	assert_string_equal(res, "badprotocol");
	/* The RFC message itself passes the same path. */
	assert_int_equal(final_variant("c=biws,r=" NONCE ",p=" PROOF,
				 strlen("c=biws,r=" NONCE ",p=" PROOF), &out, &res), SASL_OK);
	buf_free(&out);
}

/* An extension before the proof is part of AuthMessage and accepted. */
static void
test_scram_final_extension(void **state)
{
	struct sasl_params p = params(false, false, false);
	struct sasl_server *s = sasl_server_new("SCRAM-SHA-1", &p);
	struct client_final cf;
	struct buf out;

	buf_init(&out);
	assert_int_equal(step(s, "n,,n=user,r=abcdefgh", &out), SASL_CONTINUE);
	scram_client("sha1", "pencil", "n=user,r=abcdefgh", out.data, "n,,", NULL, 0,
		"x=extension", &cf);
	assert_int_equal(step(s, cf.msg.data, &out), SASL_CONTINUE);
	assert_string_equal(out.data, cf.server_final.data);
	/* The client must answer the server-final with an empty message. */
	assert_int_equal(step(s, "x", &out), SASL_FAIL);
	assert_string_equal(sasl_server_result(s), "badprotocol");
	assert_int_equal(sasl_server_account(s), 0);
	client_final_free(&cf);
	sasl_server_free(&s);
	buf_free(&out);
}

/* Unknown users get a salt derived from the secret and the name: the same
 * every time (and in every process with the same secret), 16 bytes, 4096
 * iterations, like a real account, and the exchange fails at the proof. */
static void
first_reply(const char *mech, struct sasl_params *p, const char *msg, struct buf *reply)
{
	struct sasl_server *s = sasl_server_new(mech, p);
	struct buf out;

	buf_init(&out);
	sasl_server_set_test_challenge(s, "SERVERNONCE");
	assert_int_equal(step(s, msg, &out), SASL_CONTINUE);
	buf_reset(reply);
	buf_append(reply, out.data, out.len);
	sasl_server_free(&s);
	buf_free(&out);
}

static void
test_scram_unknown_user(void **state)
{
	struct sasl_params p = params(false, false, false);
	struct sasl_params p2 = params(false, false, false);
	struct buf a, b, salt;
	const char *res, *sp, *ip;

	buf_init(&a);
	buf_init(&b);
	buf_init(&salt);
	first_reply("SCRAM-SHA-256", &p, "n,,n=ghost@example.org,r=abc", &a);
	first_reply("SCRAM-SHA-256", &p, "n,,n=ghost@example.org,r=abc", &b);
	assert_string_equal(a.data, b.data);
	/* Case-insensitive like the real lookup. */
	first_reply("SCRAM-SHA-256", &p, "n,,n=Ghost@Example.org,r=abc", &b);
	assert_string_equal(a.data, b.data);
	sp = strstr(a.data, ",s=");
	ip = strstr(a.data, ",i=4096");
	assert_non_null(sp);
	assert_non_null(ip);
	assert_int_equal(ms_base64_decode(&salt, sp + 3, (size_t)(ip - sp - 3)), 0);
	assert_int_equal(salt.len, 16);
	/* Other user, other hash, other secret: other salt. */
	first_reply("SCRAM-SHA-256", &p, "n,,n=ghost2@example.org,r=abc", &b);
	assert_string_not_equal(a.data, b.data);
	first_reply("SCRAM-SHA-1", &p, "n,,n=ghost@example.org,r=abc", &b);
	assert_string_not_equal(strstr(a.data, ",s="), strstr(b.data, ",s="));
	p2.secret = (const unsigned char *)"other secret";
	p2.secret_len = 12;
	first_reply("SCRAM-SHA-256", &p2, "n,,n=ghost@example.org,r=abc", &b);
	assert_string_not_equal(a.data, b.data);
	/* Without a secret: a per-process one, still stable. */
	p2.secret = NULL;
	p2.secret_len = 0;
	first_reply("SCRAM-SHA-256", &p2, "n,,n=ghost@example.org,r=abc", &a);
	first_reply("SCRAM-SHA-256", &p2, "n,,n=ghost@example.org,r=abc", &b);
	assert_string_equal(a.data, b.data);
	/* The exchange runs to the proof and fails like a wrong password. */
	assert_int_equal(scram_exchange("SCRAM-SHA-256", &p, "n,,", "ghost@example.org", "pencil",
				 NULL, 0, &res), SASL_FAIL);
	assert_string_equal(res, "badcreds");
	/* An account without password behaves the same. */
	assert_int_equal(scram_exchange("SCRAM-SHA-1", &p, "n,,", "nopass@example.org", "",
				 NULL, 0, &res), SASL_FAIL);
	assert_string_equal(res, "badcreds");
	buf_free(&a);
	buf_free(&b);
	buf_free(&salt);
}

static void
test_scram_login_disabled_and_errors(void **state)
{
	struct sasl_params p = params(false, false, false);
	struct sasl_server *s;
	struct client_final cf;
	struct buf out, pw;
	const char *res;

	buf_init(&out);
	buf_init(&pw);
	/* Right password of a disabled account: refused with the message. */
	s = sasl_server_new("SCRAM-SHA-256", &p);
	assert_int_equal(step(s, "n,,n=off@example.org,r=abcdefgh", &out), SASL_CONTINUE);
	scram_client("sha256", "s3cret", "n=off@example.org,r=abcdefgh", out.data, "n,,", NULL, 0,
		NULL, &cf);
	assert_int_equal(step(s, cf.msg.data, &out), SASL_FAIL);
	assert_string_equal(sasl_server_result(s), "logindisabled");
	assert_string_equal(sasl_server_login_disabled(s), "account suspended");
	assert_int_equal(sasl_server_account(s), 0);
	client_final_free(&cf);
	sasl_server_free(&s);
	/* Wrong password: no hint that the account is disabled. */
	assert_int_equal(scram_exchange("SCRAM-SHA-256", &p, "n,,", "off@example.org", "wrong",
				 NULL, 0, &res), SASL_FAIL);
	assert_string_equal(res, "badcreds");
	/* Database trouble is an internal error, not a failed login. */
	s = sasl_server_new("SCRAM-SHA-256", &p);
	assert_int_equal(step(s, "n,,n=dberror,r=abc", &out), SASL_ERROR);
	assert_string_equal(sasl_server_result(s), "error");
	sasl_server_free(&s);
	buf_free(&out);
	buf_free(&pw);
}

/* ---- PLAIN ---- */

static enum sasl_status
plain(struct sasl_params *p, const char *msg, size_t n, const char **result_r, int64_t *acct_r)
{
	static char result[32];
	struct sasl_server *s = sasl_server_new("PLAIN", p);
	struct buf out;
	enum sasl_status st;

	buf_init(&out);
	st = stepn(s, msg, n, &out);
	(void)ms_strlcpy(result, sasl_server_result(s), sizeof(result));
	*result_r = result;
	*acct_r = sasl_server_account(s);
	sasl_server_free(&s);
	buf_free(&out);
	return st;
}

#define PLAIN(s) s, sizeof(s) - 1

static void
test_plain(void **state)
{
	struct sasl_params p = params(true, false, false);
	struct sasl_server *s;
	struct buf out;
	const char *res;
	int64_t acct;

	buf_init(&out);
	assert_int_equal(plain(&p, PLAIN("\0user@example.org\0pencil"), &res, &acct), SASL_OK);
	assert_int_equal(acct, 7);
	assert_string_equal(res, "ok");
	/* Another address of the account works too. */
	assert_int_equal(plain(&p, PLAIN("\0other@example.org\0pencil"), &res, &acct), SASL_OK);
	assert_int_equal(acct, 7);
	assert_int_equal(plain(&p, PLAIN("user@example.org\0user@example.org\0pencil"), &res,
				 &acct), SASL_OK);
	/* Wrong password and unknown user look the same. */
	assert_int_equal(plain(&p, PLAIN("\0user@example.org\0pencil2"), &res, &acct), SASL_FAIL);
	assert_string_equal(res, "badcreds");
	assert_int_equal(acct, 0);
	/* For the login attempt log only: whose account was tried. */
	s = sasl_server_new("PLAIN", &p);
	assert_int_equal(stepn(s, PLAIN("\0other@example.org\0nope"), &out), SASL_FAIL);
	assert_string_equal(sasl_server_log_account(s), "user@example.org");
	assert_string_equal(sasl_server_account_name(s), "");
	sasl_server_free(&s);
	s = sasl_server_new("PLAIN", &p);
	assert_int_equal(stepn(s, PLAIN("\0ghost\0nope"), &out), SASL_FAIL);
	assert_string_equal(sasl_server_log_account(s), "");
	sasl_server_free(&s);
	assert_int_equal(plain(&p, PLAIN("\0ghost@example.org\0pencil"), &res, &acct), SASL_FAIL);
	assert_string_equal(res, "badcreds");
	assert_int_equal(plain(&p, PLAIN("\0nopass@example.org\0x"), &res, &acct), SASL_FAIL);
	assert_string_equal(res, "badcreds");
	/* No proxy authorization. */
	assert_int_equal(plain(&p, PLAIN("stranger@example.org\0user@example.org\0pencil"), &res,
				 &acct), SASL_FAIL);
	assert_string_equal(res, "badprotocol");
	/* Malformed. */
	assert_int_equal(plain(&p, PLAIN("user@example.org\0pencil"), &res, &acct), SASL_FAIL);
	assert_string_equal(res, "badprotocol");
	assert_int_equal(plain(&p, PLAIN(""), &res, &acct), SASL_FAIL);
	assert_int_equal(plain(&p, PLAIN("\0\0pencil"), &res, &acct), SASL_FAIL);
	assert_int_equal(plain(&p, PLAIN("\0user\0pen\0cil"), &res, &acct), SASL_FAIL);
	assert_int_equal(plain(&p, PLAIN("\0us\ter\0pencil"), &res, &acct), SASL_FAIL);
	assert_string_equal(res, "badprotocol");
	/* Password with a control character: refused, no crash. */
	assert_int_equal(plain(&p, PLAIN("\0user\0pen\x01" "cil"), &res, &acct), SASL_FAIL);
	assert_string_equal(res, "badcreds");
	/* Disabled account, internal error. */
	assert_int_equal(plain(&p, PLAIN("\0off@example.org\0s3cret"), &res, &acct), SASL_FAIL);
	assert_string_equal(res, "logindisabled");
	assert_int_equal(plain(&p, PLAIN("\0dberror\0x"), &res, &acct), SASL_ERROR);
	assert_string_equal(res, "error");
	/* No initial response: empty challenge, then the message. */
	s = sasl_server_new("plain", &p);
	assert_string_equal(sasl_server_mech(s), "plain");
	assert_int_equal(step(s, NULL, &out), SASL_CONTINUE);
	assert_int_equal(out.len, 0);
	assert_int_equal(stepn(s, PLAIN("\0user\0pencil"), &out), SASL_OK);
	assert_string_equal(sasl_server_username(s), "user");
	sasl_server_free(&s);
	buf_free(&out);
}

/* ---- LOGIN ---- */

static void
test_login(void **state)
{
	struct sasl_params p = params(true, false, false);
	struct sasl_server *s;
	struct buf out;

	buf_init(&out);
	s = sasl_server_new("LOGIN", &p);
	assert_int_equal(step(s, NULL, &out), SASL_CONTINUE);
	assert_string_equal(out.data, "Username:");
	assert_int_equal(step(s, "tim", &out), SASL_CONTINUE);
	assert_string_equal(out.data, "Password:");
	assert_int_equal(step(s, "tanstaaftanstaaf", &out), SASL_OK);
	assert_int_equal(sasl_server_account(s), 11);
	assert_string_equal(sasl_server_username(s), "tim");
	sasl_server_free(&s);
	/* User name as initial response. */
	s = sasl_server_new("LOGIN", &p);
	assert_int_equal(step(s, "tim", &out), SASL_CONTINUE);
	assert_string_equal(out.data, "Password:");
	assert_int_equal(step(s, "wrong", &out), SASL_FAIL);
	assert_string_equal(sasl_server_result(s), "badcreds");
	sasl_server_free(&s);
	/* Unknown user, empty answers, NUL. */
	s = sasl_server_new("LOGIN", &p);
	assert_int_equal(step(s, "nobody", &out), SASL_CONTINUE);
	assert_int_equal(step(s, "pw", &out), SASL_FAIL);
	assert_string_equal(sasl_server_result(s), "badcreds");
	sasl_server_free(&s);
	s = sasl_server_new("LOGIN", &p);
	assert_int_equal(step(s, "", &out), SASL_FAIL);
	sasl_server_free(&s);
	s = sasl_server_new("LOGIN", &p);
	assert_int_equal(step(s, "tim", &out), SASL_CONTINUE);
	assert_int_equal(step(s, "", &out), SASL_FAIL);
	sasl_server_free(&s);
	s = sasl_server_new("LOGIN", &p);
	assert_int_equal(stepn(s, "ti\0m", 4, &out), SASL_FAIL);
	sasl_server_free(&s);
	s = sasl_server_new("LOGIN", &p);
	assert_int_equal(step(s, "tim", &out), SASL_CONTINUE);
	assert_int_equal(stepn(s, "tanstaaf\0tanstaaf", 17, &out), SASL_FAIL);
	assert_string_equal(sasl_server_result(s), "badprotocol");
	sasl_server_free(&s);
	buf_free(&out);
}

/* ---- CRAM-MD5 ---- */

static void
test_crammd5(void **state)
{
	struct sasl_params p = params(true, false, false);
	static const char *const bad[] = {
		"tim", "tim ", " b913a602c7eda7a495b4e6e7334d3890",
		"tim b913a602c7eda7a495b4e6e7334d389", "tim b913a602c7eda7a495b4e6e7334d38900",
		"tim b913a602c7eda7a495b4e6e7334d389g", "timb913a602c7eda7a495b4e6e7334d3890",
		"tim\tb913a602c7eda7a495b4e6e7334d3890",
	};
	const char *chal = "<1896.697170952@postoffice.reston.mci.net>";
	struct sasl_server *s;
	struct buf out;
	size_t i;

	buf_init(&out);
	/* RFC 2195 section 2 example. */
	s = sasl_server_new("CRAM-MD5", &p);
	sasl_server_set_test_challenge(s, chal);
	assert_int_equal(step(s, NULL, &out), SASL_CONTINUE);
	assert_string_equal(out.data, chal);
	assert_int_equal(step(s, "tim b913a602c7eda7a495b4e6e7334d3890", &out), SASL_OK);
	assert_int_equal(sasl_server_account(s), 11);
	sasl_server_free(&s);
	/* Upper-case hex is accepted. */
	s = sasl_server_new("CRAM-MD5", &p);
	sasl_server_set_test_challenge(s, chal);
	assert_int_equal(step(s, NULL, &out), SASL_CONTINUE);
	assert_int_equal(step(s, "tim B913A602C7EDA7A495B4E6E7334D3890", &out), SASL_OK);
	sasl_server_free(&s);
	/* A real challenge: <digits.digits@hostname>; the RFC answer fails. */
	s = sasl_server_new("CRAM-MD5", &p);
	assert_int_equal(step(s, NULL, &out), SASL_CONTINUE);
	assert_true(out.data[0] == '<');
	assert_true(strlen(out.data) > 20);
	assert_non_null(strstr(out.data, "@mail.example.org>"));
	assert_int_equal(step(s, "tim b913a602c7eda7a495b4e6e7334d3890", &out), SASL_FAIL);
	assert_string_equal(sasl_server_result(s), "badcreds");
	sasl_server_free(&s);
	/* Unknown user. */
	s = sasl_server_new("CRAM-MD5", &p);
	sasl_server_set_test_challenge(s, chal);
	assert_int_equal(step(s, NULL, &out), SASL_CONTINUE);
	assert_int_equal(step(s, "tom b913a602c7eda7a495b4e6e7334d3890", &out), SASL_FAIL);
	assert_string_equal(sasl_server_result(s), "badcreds");
	sasl_server_free(&s);
	/* No initial response allowed, not even an empty one. */
	s = sasl_server_new("CRAM-MD5", &p);
	assert_int_equal(step(s, "", &out), SASL_FAIL);
	assert_string_equal(sasl_server_result(s), "badprotocol");
	sasl_server_free(&s);
	for (i = 0; i < MS_NELEM(bad); i++) {
		s = sasl_server_new("CRAM-MD5", &p);
		sasl_server_set_test_challenge(s, chal);
		assert_int_equal(step(s, NULL, &out), SASL_CONTINUE);
		if (step(s, bad[i], &out) != SASL_FAIL)
			fail_msg("CRAM-MD5 response %s did not fail", bad[i]);
		assert_string_equal(sasl_server_result(s), "badprotocol");
		sasl_server_free(&s);
	}
	buf_free(&out);
}

/* ---- EXTERNAL ---- */

static enum sasl_status
external(struct sasl_params *p, const char *authzid, const char **result_r, int64_t *acct_r,
	const char **user_r)
{
	static char result[32], user[256];
	struct sasl_server *s = sasl_server_new("EXTERNAL", p);
	struct buf out;
	enum sasl_status st;

	assert_non_null(s);
	buf_init(&out);
	st = step(s, authzid, &out);
	if (authzid == NULL) {
		assert_int_equal(st, SASL_CONTINUE);
		assert_int_equal(out.len, 0);
		st = step(s, "", &out);
	}
	(void)ms_strlcpy(result, sasl_server_result(s), sizeof(result));
	(void)ms_strlcpy(user, sasl_server_username(s), sizeof(user));
	*result_r = result;
	*user_r = user;
	*acct_r = sasl_server_account(s);
	sasl_server_free(&s);
	buf_free(&out);
	return st;
}

static void
test_external(void **state)
{
	struct sasl_params p = params(true, false, true);
	const char *res, *user;
	int64_t acct;

	/* Not offered without a known client key, or without TLS. */
	assert_null(sasl_server_new("EXTERNAL", &p));
	p.external_account_id = 7;
	p.external_login_address = "user@example.org";
	p.tls = false;
	assert_null(sasl_server_new("EXTERNAL", &p));
	p.tls = true;
	/* Empty authzid: the key's login address. */
	assert_int_equal(external(&p, "", &res, &acct, &user), SASL_OK);
	assert_int_equal(acct, 7);
	assert_string_equal(user, "user@example.org");
	assert_string_equal(res, "ok");
	assert_int_equal(external(&p, NULL, &res, &acct, &user), SASL_OK);
	assert_string_equal(user, "user@example.org");
	/* The login address itself, or another address of the account. */
	assert_int_equal(external(&p, "user@example.org", &res, &acct, &user), SASL_OK);
	assert_int_equal(external(&p, "other@example.org", &res, &acct, &user), SASL_OK);
	assert_string_equal(user, "other@example.org");
	assert_int_equal(acct, 7);
	/* An address of another account, or of nobody. */
	assert_int_equal(external(&p, "stranger@example.org", &res, &acct, &user), SASL_FAIL);
	assert_string_equal(res, "badcreds");
	assert_int_equal(acct, 0);
	assert_int_equal(external(&p, "ghost@example.org", &res, &acct, &user), SASL_FAIL);
	assert_string_equal(res, "badcreds");
	assert_int_equal(external(&p, "us\x01" "er", &res, &acct, &user), SASL_FAIL);
	assert_string_equal(res, "badprotocol");
	assert_int_equal(external(&p, "dberror", &res, &acct, &user), SASL_ERROR);
	/* A disabled account. */
	p.external_account_id = 9;
	p.external_login_address = "off@example.org";
	assert_int_equal(external(&p, "", &res, &acct, &user), SASL_FAIL);
	assert_string_equal(res, "logindisabled");
}

/* ---- mechanism list ---- */

static void
test_mechanisms(void **state)
{
	struct buf b;

	buf_init(&b);
	sasl_mechanisms(true, true, true, &b);
	assert_string_equal(b.data, "EXTERNAL SCRAM-SHA-256-PLUS SCRAM-SHA-256 SCRAM-SHA-1-PLUS "
				    "SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN");
	buf_reset(&b);
	sasl_mechanisms(true, true, false, &b);
	assert_string_equal(b.data, "SCRAM-SHA-256-PLUS SCRAM-SHA-256 SCRAM-SHA-1-PLUS "
				    "SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN");
	buf_reset(&b);
	sasl_mechanisms(true, false, true, &b);
	assert_string_equal(b.data, "EXTERNAL SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN");
	buf_reset(&b);
	sasl_mechanisms(false, true, true, &b);
	assert_string_equal(b.data, "SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN");
	/* Appends. */
	buf_reset(&b);
	buf_puts(&b, "AUTH ");
	sasl_mechanisms(false, false, false, &b);
	assert_string_equal(b.data, "AUTH SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN");
	buf_free(&b);
	/* Unknown mechanism names. */
	{
		struct sasl_params p = params(true, true, true);

		assert_null(sasl_server_new("GSSAPI", &p));
		assert_null(sasl_server_new("", &p));
		assert_null(sasl_server_new("SCRAM-SHA-512", &p));
		p.lookup = NULL;
		assert_null(sasl_server_new("PLAIN", &p));
	}
}

/* ---- garbage into every state ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Drive mech to the state reached by the given valid prefix of messages,
 * then feed random messages until it finishes. */
static void
garbage_after(const char *mech, const char *const *prefix, size_t nprefix, bool null_first)
{
	struct sasl_params p = params(true, true, true);
	char msg[600];
	int round, rounds = 200;

	/* Password checks cost a yescrypt each: fewer rounds there. */
	if (strcmp(mech, "PLAIN") == 0 || strcmp(mech, "LOGIN") == 0)
		rounds = 30;
	p.external_account_id = 7;
	p.external_login_address = "user@example.org";
	for (round = 0; round < rounds; round++) {
		struct sasl_server *s = sasl_server_new(mech, &p);
		struct buf out;
		enum sasl_status st = SASL_CONTINUE;
		size_t i, n;
		int steps;

		assert_non_null(s);
		buf_init(&out);
		sasl_server_set_test_challenge(s, "<1.2@x>");
		if (null_first)
			assert_int_equal(step(s, NULL, &out), SASL_CONTINUE);
		for (i = 0; i < nprefix; i++)
			assert_int_equal(step(s, prefix[i], &out), SASL_CONTINUE);
		for (steps = 0; steps < 5 && st == SASL_CONTINUE; steps++) {
			const char *err = NULL;

			n = (size_t)(rnd() % sizeof(msg));
			for (i = 0; i < n; i++) {
				uint64_t r = rnd();

				/* Mostly printable with SCRAM-ish punctuation. */
				msg[i] = (r & 3) ? ",=anrcp0123456789ABCDEF+/"[(r >> 8) % 25]
						 : (char)(r >> 16);
			}
			/* An empty message is a valid LOGIN-less answer in
			 * some states; keep it non-empty. */
			if (n == 0)
				msg[n++] = 'x';
			st = sasl_server_step(s, msg, n, &out, &err);
			assert_true(st == SASL_CONTINUE || st == SASL_FAIL);
			if (st == SASL_FAIL) {
				assert_non_null(err);
				assert_int_equal(sasl_server_account(s), 0);
				assert_true(sasl_server_result(s)[0] != '\0');
			}
			assert_true(out.len < 1024);
		}
		sasl_server_free(&s);
		buf_free(&out);
	}
}

static void
test_garbage(void **state)
{
	static const char *const scram_first[] = { "n,,n=user,r=abcdefgh" };
	static const char *const scram_plus_first[] = { "p=tls-unique,,n=user,r=abcdefgh" };
	static const char *const login_user[] = { "tim" };

	garbage_after("PLAIN", NULL, 0, false);
	garbage_after("PLAIN", NULL, 0, true);
	garbage_after("LOGIN", NULL, 0, false);
	garbage_after("LOGIN", NULL, 0, true);
	garbage_after("LOGIN", login_user, 1, true);
	garbage_after("CRAM-MD5", NULL, 0, true);
	garbage_after("SCRAM-SHA-1", NULL, 0, false);
	garbage_after("SCRAM-SHA-256", NULL, 0, true);
	garbage_after("SCRAM-SHA-1", scram_first, 1, false);
	garbage_after("SCRAM-SHA-256", scram_first, 1, true);
	garbage_after("SCRAM-SHA-256-PLUS", scram_plus_first, 1, false);
	garbage_after("EXTERNAL", NULL, 0, true);
}

/* Garbage after a valid server-final: only the empty answer completes. */
static void
test_garbage_scram_end(void **state)
{
	struct sasl_params p = params(false, false, false);
	int round;

	for (round = 0; round < 20; round++) {
		struct sasl_server *s = sasl_server_new("SCRAM-SHA-256", &p);
		struct buf out;
		char msg[64];
		size_t i, n = 1 + (size_t)(rnd() % sizeof(msg));

		buf_init(&out);
		sasl_server_set_test_challenge(s, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
		assert_int_equal(step(s, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO", &out), SASL_CONTINUE);
		assert_int_equal(step(s, "c=biws,r=" NONCE ",p=" PROOF, &out), SASL_CONTINUE);
		for (i = 0; i < n; i++)
			msg[i] = (char)rnd();
		assert_int_equal(stepn(s, msg, n, &out), SASL_FAIL);
		assert_int_equal(sasl_server_account(s), 0);
		sasl_server_free(&s);
		buf_free(&out);
	}
}

/* ---- SASLprep ---- */

static void
prep_ok(const char *in, const char *want)
{
	struct buf b;
	const char *err = NULL;

	buf_init(&b);
	buf_puts(&b, "x");	/* appends */
	if (saslprep(in, strlen(in), &b, &err) != 0)
		fail_msg("saslprep(%s) failed: %s", in, err);
	assert_string_equal(b.data + 1, want);
	buf_free(&b);
}

static void
prep_bad(const char *in, size_t n)
{
	struct buf b;
	const char *err = NULL;

	buf_init(&b);
	buf_puts(&b, "x");
	if (saslprep(in, n, &b, &err) != -1)
		fail_msg("saslprep accepted %zu bytes", n);
	assert_non_null(err);
	assert_string_equal(b.data, "x");	/* left as it was */
	buf_free(&b);
}

static void
test_saslprep(void **state)
{
	/* RFC 4013 section 3 examples that need no NFKC/bidi tables. */
	prep_ok("I\xc2\xad" "X", "IX");		/* soft hyphen mapped to nothing */
	prep_ok("user", "user");
	prep_ok("USER", "USER");		/* no case folding */
	prep_bad("\x07", 1);			/* prohibited: control */
	/* Documented limit: NFKC is not applied (RFC: U+00AA -> "a",
	 * U+2168 -> "IX"); such characters pass through unchanged. */
	prep_ok("\xc2\xaa", "\xc2\xaa");
	prep_ok("\xe2\x85\xa8", "\xe2\x85\xa8");
	/* Mappings. */
	prep_ok("a\xc2\xa0" "b", "a b");		/* U+00A0 */
	prep_ok("a\xe3\x80\x80" "b", "a b");		/* U+3000 */
	prep_ok("a\xe2\x80\x8b" "b", "a b");		/* U+200B is in C.1.2 */
	prep_ok("a\xef\xbb\xbf" "b", "ab");		/* U+FEFF mapped to nothing */
	prep_ok("a\xe2\x80\x8d" "b", "ab");		/* U+200D */
	prep_ok("a\xef\xb8\x8f" "b", "ab");		/* variation selector */
	prep_ok("p\xc3\xa4ss w\xc3\xb6rd \xe2\x82\xac", "p\xc3\xa4ss w\xc3\xb6rd \xe2\x82\xac");
	prep_ok("\xf0\x9f\x94\x91", "\xf0\x9f\x94\x91");	/* U+1F511 */
	/* Prohibited and malformed. */
	prep_bad("a\0b", 3);
	prep_bad("a\x7f", 2);
	prep_bad("a\xc2\x85", 3);		/* U+0085 */
	prep_bad("a\xe2\x80\xa8", 4);		/* U+2028 */
	prep_bad("\xee\x80\x80", 3);		/* U+E000 private use */
	prep_bad("\xf3\xb0\x80\x80", 4);		/* U+F0000 */
	prep_bad("\xef\xbf\xbe", 3);		/* U+FFFE */
	prep_bad("\xf0\x9f\xbf\xbf", 4);		/* U+1FFFF */
	prep_bad("\xef\xbf\xbd", 3);		/* U+FFFD (C.6) */
	prep_bad("\xe2\xbf\xb0", 3);		/* U+2FF0 (C.7) */
	prep_bad("\xe2\x80\x8e", 3);		/* U+200E (C.8) */
	prep_bad("\xcd\x80", 2);			/* U+0340 (C.8) */
	prep_bad("\xf3\xa0\x80\x81", 4);		/* U+E0001 (C.9) */
	prep_bad("\xed\xa0\x80", 3);		/* surrogate */
	prep_bad("\xc0\xaf", 2);			/* overlong */
	prep_bad("\xe0\x80\xaf", 3);		/* overlong */
	prep_bad("\xf4\x90\x80\x80", 4);		/* above U+10FFFF */
	prep_bad("\xc3", 1);			/* truncated */
	prep_bad("\xc3\x28", 2);
	prep_bad("\x80", 1);
	prep_bad("\xff", 1);
	prep_bad("", 0);
	prep_bad("\xc2\xad", 2);			/* empty after mapping */
}

/* Passwords are prepared the same way when set and when checked. */
static void
test_password_saslprep(void **state)
{
	struct credentials cr;
	struct scram_keys k;
	const char *err;

	assert_int_equal(credentials_derive("pen\xc2\xad" "cil", &cr, &err), 0);
	assert_true(password_verify("pencil", cr.hash));
	assert_true(password_verify("pen\xc2\xad" "cil", cr.hash));
	assert_false(password_verify("pen\x01" "cil", cr.hash));
	assert_int_equal(scram_keys_compute("sha256", "pencil", cr.sha256.salt, cr.sha256.saltlen,
				 cr.sha256.iterations, &k, &err), 0);
	assert_memory_equal(k.stored_key, cr.sha256.stored_key, 32);
	assert_int_equal(cr.sha1.saltlen, SCRAM_SALT_LEN);
	credentials_wipe(&cr);
	assert_int_equal(credentials_derive("bad\x01", &cr, &err), -1);
	assert_non_null(strstr(err, "control"));
	assert_int_equal(credentials_derive("", &cr, &err), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scram_sha1_rfc5802),
		cmocka_unit_test(test_scram_sha256_rfc7677),
		cmocka_unit_test(test_scram_no_initial_response),
		cmocka_unit_test(test_scram_plus),
		cmocka_unit_test(test_scram_plus_error_message),
		cmocka_unit_test(test_scram_gs2_flags),
		cmocka_unit_test(test_scram_malformed_first),
		cmocka_unit_test(test_scram_first_variants),
		cmocka_unit_test(test_scram_malformed_final),
		cmocka_unit_test(test_scram_final_extension),
		cmocka_unit_test(test_scram_unknown_user),
		cmocka_unit_test(test_scram_login_disabled_and_errors),
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_login),
		cmocka_unit_test(test_crammd5),
		cmocka_unit_test(test_external),
		cmocka_unit_test(test_mechanisms),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_garbage_scram_end),
		cmocka_unit_test(test_saslprep),
		cmocka_unit_test(test_password_saslprep),
	};

	return cmocka_run_group_tests(tests, setup_creds, NULL);
}
