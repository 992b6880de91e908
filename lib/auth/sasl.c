/* Server-side SASL: one state machine per exchange, shared by SMTP AUTH and
 * IMAP AUTHENTICATE. Every client-induced problem ends in SASL_FAIL, never
 * in a crash; unknown users go through the same steps as known ones (fake
 * SCRAM salts, the dummy yescrypt hash, zero CRAM-MD5 pads) so answers and
 * timing do not reveal which accounts exist. */
#include "config.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "auth/sasl.h"
#include "auth/saslprep.h"
#include "core/util.h"

/* ---- message helpers ---- */

/* RFC 4616 section 2:
 *   message   = [authzid] UTF8NUL authcid UTF8NUL passwd
 *   authcid   = 1*SAFE ; MUST accept up to 255 octets
 *   passwd    = 1*SAFE ; MUST accept up to 255 octets */
int
sasl_plain_parse(const char *msg, size_t n, struct buf *authzid_r,
	struct buf *authcid_r, struct buf *passwd_r, const char **error_r)
{
	const char *nul1 = memchr(msg, '\0', n), *nul2;
	size_t zlen, clen, plen;

	if (nul1 == NULL) {
		*error_r = "malformed PLAIN message";
		return -1;
	}
	nul2 = memchr(nul1 + 1, '\0', n - (size_t)(nul1 + 1 - msg));
	if (nul2 == NULL) {
		*error_r = "malformed PLAIN message";
		return -1;
	}
	zlen = (size_t)(nul1 - msg);
	clen = (size_t)(nul2 - nul1 - 1);
	plen = n - (size_t)(nul2 + 1 - msg);
	if (memchr(nul2 + 1, '\0', plen) != NULL) {
		*error_r = "malformed PLAIN message";
		return -1;
	}
	if (clen == 0 || plen == 0) {
		*error_r = "empty user name or password";
		return -1;
	}
	if (zlen > 1024 || clen > 1024 || plen > 1024) {
		*error_r = "PLAIN field too long";
		return -1;
	}
	buf_reset(authzid_r);
	buf_reset(authcid_r);
	buf_reset(passwd_r);
	buf_append(authzid_r, msg, zlen);
	buf_append(authcid_r, nul1 + 1, clen);
	buf_append(passwd_r, nul2 + 1, plen);
	return 0;
}

int
sasl_decode_response(const char *line, size_t n, struct buf *out)
{
	buf_reset(out);
	if (n == 1 && line[0] == '=')
		return 0;
	return ms_base64_decode(out, line, n);
}

/* ---- mechanisms ---- */

enum mech_kind { MK_PLAIN, MK_LOGIN, MK_CRAMMD5, MK_SCRAM, MK_EXTERNAL };

struct mech {
	const char *name;	/* as announced */
	const char *lower;	/* for logs / login attempts */
	enum mech_kind kind;
	bool plus;
	const char *hash;	/* SCRAM: "sha1" / "sha256" */
};

/* In announcement order (FEATURES.md section 2). */
static const struct mech mechs[] = {
	{ "EXTERNAL", "external", MK_EXTERNAL, false, NULL },
	{ "SCRAM-SHA-256-PLUS", "scram-sha-256-plus", MK_SCRAM, true, "sha256" },
	{ "SCRAM-SHA-256", "scram-sha-256", MK_SCRAM, false, "sha256" },
	{ "SCRAM-SHA-1-PLUS", "scram-sha-1-plus", MK_SCRAM, true, "sha1" },
	{ "SCRAM-SHA-1", "scram-sha-1", MK_SCRAM, false, "sha1" },
	{ "CRAM-MD5", "cram-md5", MK_CRAMMD5, false, NULL },
	{ "PLAIN", "plain", MK_PLAIN, false, NULL },
	{ "LOGIN", "login", MK_LOGIN, false, NULL },
};

void
sasl_mechanisms(bool tls, bool have_channel_binding, bool have_client_cert,
	struct buf *out)
{
	size_t i, start = out->len;

	for (i = 0; i < MS_NELEM(mechs); i++) {
		if (mechs[i].kind == MK_EXTERNAL && !(tls && have_client_cert))
			continue;
		if (mechs[i].plus && !(tls && have_channel_binding))
			continue;
		if (out->len > start)
			buf_putc(out, ' ');
		buf_puts(out, mechs[i].name);
	}
}

/* ---- server state ---- */

enum state {
	ST_START,
	ST_PLAIN,		/* waiting for the PLAIN message */
	ST_LOGIN_USER,
	ST_LOGIN_PASS,
	ST_CRAM,		/* challenge sent, waiting for "user digest" */
	ST_SCRAM_FIRST,		/* waiting for client-first-message */
	ST_SCRAM_FINAL,		/* server-first sent, waiting for client-final */
	ST_SCRAM_END,		/* server-final sent, waiting for the empty answer */
	ST_EXTERNAL,
	ST_DONE,
};

static const char R_OK[] = "ok", R_BADCREDS[] = "badcreds",
	R_BADCHANBIND[] = "badchanbind", R_BADPROTOCOL[] = "badprotocol",
	R_DISABLED[] = "logindisabled", R_ERROR[] = "error";

struct sasl_server {
	const struct mech *mech;
	enum state st;
	const char *result;

	char *hostname;
	bool tls;
	struct buf cb[SASL_CB_NTYPES];
	bool have_cb[SASL_CB_NTYPES];
	int64_t ext_account;
	char *ext_login;
	struct buf secret;
	sasl_lookup_fn *lookup;
	void *lookup_ctx;
	char *test_challenge;

	struct buf user;	/* claimed user name, prepared */
	struct buf challenge;	/* CRAM-MD5 */
	struct sasl_creds creds;
	bool found;		/* creds are a real account's */
	int64_t account;
	bool disabled;

	/* SCRAM (RFC 5802 section 3 names) */
	struct scram_keys keys;	/* real or fake */
	int cb_type;		/* -1: no channel binding used */
	struct buf gs2_header;	/* as received, including the final ',' */
	struct buf client_first_bare, server_first, nonce;
};

static pthread_once_t secret_once = PTHREAD_ONCE_INIT;
static unsigned char process_secret[32];

static void
make_process_secret(void)
{
	ms_random(process_secret, sizeof(process_secret));
}

static const struct mech *
mech_find(const char *name)
{
	size_t i;

	for (i = 0; i < MS_NELEM(mechs); i++)
		if (ms_strcaseeq(name, mechs[i].name))
			return &mechs[i];
	return NULL;
}

struct sasl_server *
sasl_server_new(const char *mech, const struct sasl_params *p)
{
	const struct mech *m = mech_find(mech);
	struct sasl_server *s;
	bool any_cb = false;
	int i;

	if (m == NULL || p->lookup == NULL)
		return NULL;
	for (i = 0; i < SASL_CB_NTYPES; i++)
		if (p->cb_data[i] != NULL && p->cb_len[i] > 0)
			any_cb = true;
	if (m->plus && !(p->tls && any_cb))
		return NULL;
	if (m->kind == MK_EXTERNAL &&
	    (!p->tls || p->external_account_id <= 0 || p->external_login_address == NULL ||
		    p->external_login_address[0] == '\0'))
		return NULL;

	s = xcalloc(1, sizeof(*s));
	s->mech = m;
	s->st = ST_START;
	s->result = "";
	s->hostname = xstrdup(p->hostname != NULL && p->hostname[0] != '\0' ? p->hostname
									     : "localhost");
	s->tls = p->tls;
	for (i = 0; i < SASL_CB_NTYPES; i++) {
		buf_init(&s->cb[i]);
		if (p->tls && p->cb_data[i] != NULL && p->cb_len[i] > 0) {
			buf_append(&s->cb[i], p->cb_data[i], p->cb_len[i]);
			s->have_cb[i] = true;
		}
	}
	s->ext_account = p->external_account_id;
	s->ext_login = p->external_login_address ? xstrdup(p->external_login_address) : NULL;
	buf_init(&s->secret);
	if (p->secret != NULL && p->secret_len > 0) {
		buf_append(&s->secret, p->secret, p->secret_len);
	} else {
		pthread_once(&secret_once, make_process_secret);
		buf_append(&s->secret, process_secret, sizeof(process_secret));
	}
	s->lookup = p->lookup;
	s->lookup_ctx = p->lookup_ctx;
	s->cb_type = -1;
	buf_init(&s->user);
	buf_init(&s->challenge);
	buf_init(&s->gs2_header);
	buf_init(&s->client_first_bare);
	buf_init(&s->server_first);
	buf_init(&s->nonce);
	return s;
}

void
sasl_server_free(struct sasl_server **sp)
{
	struct sasl_server *s = *sp;
	int i;

	if (s == NULL)
		return;
	*sp = NULL;
	free(s->hostname);
	for (i = 0; i < SASL_CB_NTYPES; i++) {
		buf_wipe(&s->cb[i]);
		buf_free(&s->cb[i]);
	}
	free(s->ext_login);
	buf_wipe(&s->secret);
	buf_free(&s->secret);
	free(s->test_challenge);
	buf_free(&s->user);
	buf_free(&s->challenge);
	buf_free(&s->gs2_header);
	buf_free(&s->client_first_bare);
	buf_free(&s->server_first);
	buf_free(&s->nonce);
	OPENSSL_cleanse(&s->creds, sizeof(s->creds));
	OPENSSL_cleanse(&s->keys, sizeof(s->keys));
	free(s);
}

int64_t
sasl_server_account(const struct sasl_server *s)
{
	return s->account;
}

const char *
sasl_server_username(const struct sasl_server *s)
{
	return s->user.data;
}

const char *
sasl_server_account_name(const struct sasl_server *s)
{
	return s->account > 0 ? s->creds.account_name : "";
}

const char *
sasl_server_log_account(const struct sasl_server *s)
{
	return s->creds.account_id > 0 ? s->creds.account_name : "";
}

const char *
sasl_server_mech(const struct sasl_server *s)
{
	return s->mech->lower;
}

const char *
sasl_server_result(const struct sasl_server *s)
{
	return s->result;
}

const char *
sasl_server_login_disabled(const struct sasl_server *s)
{
	return s->disabled ? s->creds.login_disabled_msg : NULL;
}

void
sasl_server_set_test_challenge(struct sasl_server *s, const char *challenge)
{
	free(s->test_challenge);
	s->test_challenge = xstrdup(challenge);
}

/* ---- outcomes ---- */

static enum sasl_status
fail(struct sasl_server *s, const char *result, const char *why, const char **error_r)
{
	s->st = ST_DONE;
	s->result = result;
	s->account = 0;
	*error_r = why;
	return SASL_FAIL;
}

static enum sasl_status
internal_error(struct sasl_server *s, const char *why, const char **error_r)
{
	s->st = ST_DONE;
	s->result = R_ERROR;
	s->account = 0;
	*error_r = why;
	return SASL_ERROR;
}

/* Credentials were verified: succeed unless the login is disabled. */
static enum sasl_status
succeed(struct sasl_server *s, const char **error_r)
{
	if (s->creds.login_disabled) {
		s->disabled = true;
		return fail(s, R_DISABLED, "login disabled for account", error_r);
	}
	s->st = ST_DONE;
	s->result = R_OK;
	s->account = s->creds.account_id;
	return SASL_OK;
}

/* SASLprep a user name into s->user. Returns 0 or -1. */
static int
set_user(struct sasl_server *s, const char *name, size_t n, const char **error_r)
{
	const char *err;

	buf_reset(&s->user);
	if (n > 1024) {
		*error_r = "user name too long";
		return -1;
	}
	if (saslprep(name, n, &s->user, &err) < 0) {
		*error_r = ms_err("bad user name: %s", err);
		return -1;
	}
	return 0;
}

/* Look s->user up. Returns 1 found, 0 unknown, -1 error. The creds of an
 * unknown user are zeroed. */
static int
lookup_user(struct sasl_server *s)
{
	int r;

	OPENSSL_cleanse(&s->creds, sizeof(s->creds));
	r = s->lookup(s->lookup_ctx, s->user.data, &s->creds);
	if (r != 1) {
		OPENSSL_cleanse(&s->creds, sizeof(s->creds));
		s->found = false;
		return r < 0 ? -1 : 0;
	}
	/* Terminate the strings the callback filled, whatever it did. */
	s->creds.account_name[sizeof(s->creds.account_name) - 1] = '\0';
	s->creds.login_disabled_msg[sizeof(s->creds.login_disabled_msg) - 1] = '\0';
	s->creds.cr.hash[sizeof(s->creds.cr.hash) - 1] = '\0';
	s->found = true;
	return 1;
}

/* ---- PLAIN, LOGIN ---- */

/* Check a password for s->user; same cost for unknown users. */
static enum sasl_status
check_password(struct sasl_server *s, const char *password, const char **error_r)
{
	int r = lookup_user(s);
	bool ok;

	if (r < 0)
		return internal_error(s, "credentials lookup failed", error_r);
	if (r == 0 || !s->creds.have_password) {
		(void)password_verify(password, password_dummy_hash());
		return fail(s, R_BADCREDS, r == 0 ? "unknown user" : "account has no password",
			error_r);
	}
	ok = password_verify(password, s->creds.cr.hash);
	if (!ok)
		return fail(s, R_BADCREDS, "wrong password", error_r);
	return succeed(s, error_r);
}

static enum sasl_status
plain_message(struct sasl_server *s, const char *in, size_t inlen, const char **error_r)
{
	struct buf authz, authc, pass, prepz;
	const char *err;
	enum sasl_status rc;

	buf_init(&authz);
	buf_init(&authc);
	buf_init(&pass);
	buf_init(&prepz);
	if (sasl_plain_parse(in, inlen, &authz, &authc, &pass, &err) < 0) {
		rc = fail(s, R_BADPROTOCOL, err, error_r);
		goto out;
	}
	if (set_user(s, authc.data, authc.len, &err) < 0) {
		rc = fail(s, R_BADPROTOCOL, err, error_r);
		goto out;
	}
	/* No proxy authorization: an authzid must name the same user. */
	if (authz.len > 0 &&
	    (saslprep(authz.data, authz.len, &prepz, &err) < 0 ||
		    strcmp(prepz.data, s->user.data) != 0)) {
		rc = fail(s, R_BADPROTOCOL, "authorization identity differs from user name",
			error_r);
		goto out;
	}
	rc = check_password(s, pass.data, error_r);
out:
	buf_free(&authz);
	buf_free(&authc);
	buf_wipe(&pass);
	buf_free(&pass);
	buf_free(&prepz);
	return rc;
}

/* ---- CRAM-MD5 (RFC 2195) ---- */

static void
cram_challenge(struct sasl_server *s, struct buf *out)
{
	buf_reset(&s->challenge);
	/* RFC 2195 section 2: a presumptively arbitrary string, random digits
	 * and a timestamp, in the form of an RFC 822 msg-id. */
	if (s->test_challenge != NULL)
		buf_puts(&s->challenge, s->test_challenge);
	else
		buf_printf(&s->challenge, "<%llu.%lld@%s>",
			(unsigned long long)(ms_random_u64() % 10000000000ULL),
			(long long)ms_now(), s->hostname);
	buf_append(out, s->challenge.data, s->challenge.len);
}

static enum sasl_status
cram_response(struct sasl_server *s, const char *in, size_t inlen, const char **error_r)
{
	static const unsigned char zero[16];
	const char *sp, *err;
	char given[32], expected[33];
	size_t i;
	int r;
	bool ok;

	/* "user SP digest", digest 32 lower-case hex digits; the user name
	 * may itself contain spaces, so split at the last one. */
	if (memchr(in, '\0', inlen) != NULL)
		return fail(s, R_BADPROTOCOL, "NUL in CRAM-MD5 response", error_r);
	sp = NULL;
	for (i = inlen; i > 0; i--)
		if (in[i - 1] == ' ') {
			sp = in + i - 1;
			break;
		}
	if (sp == NULL || sp == in || (size_t)(in + inlen - (sp + 1)) != 32)
		return fail(s, R_BADPROTOCOL, "malformed CRAM-MD5 response", error_r);
	for (i = 0; i < 32; i++) {
		char c = ms_tolower(sp[1 + i]);

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return fail(s, R_BADPROTOCOL, "malformed CRAM-MD5 digest", error_r);
		given[i] = c;
	}
	if (set_user(s, in, (size_t)(sp - in), &err) < 0)
		return fail(s, R_BADPROTOCOL, err, error_r);
	r = lookup_user(s);
	if (r < 0)
		return internal_error(s, "credentials lookup failed", error_r);
	if (r == 1 && s->creds.have_password)
		crammd5_digest(s->creds.cr.crammd5_ipad, s->creds.cr.crammd5_opad,
			s->challenge.data, s->challenge.len, expected);
	else
		crammd5_digest(zero, zero, s->challenge.data, s->challenge.len, expected);
	ok = CRYPTO_memcmp(expected, given, 32) == 0 && r == 1 && s->creds.have_password;
	OPENSSL_cleanse(expected, sizeof(expected));
	if (!ok)
		return fail(s, R_BADCREDS, r == 1 ? "wrong CRAM-MD5 digest" : "unknown user",
			error_r);
	return succeed(s, error_r);
}

/* ---- SCRAM (RFC 5802, RFC 7677) ---- */

/* One comma-separated attribute of a SCRAM message. */
struct field {
	const char *p;
	size_t n;
};

#define SCRAM_MAX_FIELDS 32

/* Split s[0..n) at commas. Returns the number of fields, or 0 when there
 * are too many or one is empty. */
static size_t
split_fields(const char *s, size_t n, struct field *f, size_t max)
{
	size_t i, start = 0, k = 0;

	for (i = 0; i <= n; i++) {
		if (i < n && s[i] != ',')
			continue;
		if (k == max || i == start)
			return 0;
		f[k].p = s + start;
		f[k].n = i - start;
		k++;
		start = i + 1;
	}
	return k;
}

/* attr-val = ALPHA "=" value, value = 1*value-char: is f "<name>=..."? */
static bool
is_attr(const struct field *f, char name)
{
	return f->n >= 3 && f->p[0] == name && f->p[1] == '=';
}

static bool
is_any_attr(const struct field *f)
{
	char c = f->p[0];

	return f->n >= 3 && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) && f->p[1] == '=';
}

/* saslname = 1*(value-safe-char / "=2C" / "=3D"), decoded and prepared. */
static int
saslname_decode(const char *p, size_t n, struct buf *out, const char **error_r)
{
	struct buf raw;
	size_t i;
	int rc = -1;

	buf_init(&raw);
	for (i = 0; i < n; i++) {
		if (p[i] == '=') {
			if (n - i >= 3 && p[i + 1] == '2' && p[i + 2] == 'C')
				buf_putc(&raw, ',');
			else if (n - i >= 3 && p[i + 1] == '3' && p[i + 2] == 'D')
				buf_putc(&raw, '=');
			else {
				*error_r = "bad '=' escape in SCRAM name";
				goto out;
			}
			i += 2;
		} else {
			buf_putc(&raw, p[i]);
		}
	}
	buf_reset(out);
	if (raw.len > 1024) {
		*error_r = "SCRAM name too long";
		goto out;
	}
	if (saslprep(raw.data, raw.len, out, error_r) < 0)
		goto out;
	rc = 0;
out:
	buf_free(&raw);
	return rc;
}

/* printable = %x21-2B / %x2D-7E, the nonce alphabet. */
static bool
printable(const char *p, size_t n)
{
	size_t i;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x21 || (unsigned char)p[i] > 0x7E || p[i] == ',')
			return false;
	return true;
}

static const EVP_MD *
scram_md(const struct sasl_server *s)
{
	return strcmp(s->mech->hash, "sha1") == 0 ? EVP_sha1() : EVP_sha256();
}

/* Salt and keys for a user without usable SCRAM credentials: the salt is
 * HMAC-SHA256(secret, mechanism hash, lower-cased name), so repeated
 * attempts (from any process sharing the secret) see the same salt, like
 * for a real account; the keys are random, so no proof can match. */
static void
fake_keys(struct sasl_server *s)
{
	unsigned char mac[32];
	unsigned int len = 0;
	struct buf msg;
	size_t i;

	buf_init(&msg);
	buf_puts(&msg, "mailstead scram salt");
	buf_putc(&msg, '\0');
	buf_puts(&msg, s->mech->hash);
	buf_putc(&msg, '\0');
	for (i = 0; i < s->user.len; i++)
		buf_putc(&msg, ms_tolower(s->user.data[i]));
	memset(&s->keys, 0, sizeof(s->keys));
	if (HMAC(EVP_sha256(), s->secret.data, (int)s->secret.len,
		    (const unsigned char *)msg.data, msg.len, mac, &len) == NULL)
		ms_random(mac, sizeof(mac));
	memcpy(s->keys.salt, mac, SCRAM_SALT_LEN);
	s->keys.saltlen = SCRAM_SALT_LEN;
	s->keys.iterations = SCRAM_ITERATIONS;
	s->keys.keylen = (size_t)EVP_MD_get_size(scram_md(s));
	ms_random(s->keys.stored_key, sizeof(s->keys.stored_key));
	ms_random(s->keys.server_key, sizeof(s->keys.server_key));
	OPENSSL_cleanse(mac, sizeof(mac));
	buf_free(&msg);
}

static bool
have_any_cb(const struct sasl_server *s)
{
	int i;

	for (i = 0; i < SASL_CB_NTYPES; i++)
		if (s->have_cb[i])
			return true;
	return false;
}

/* RFC 5802 section 7:
 *   gs2-cbind-flag  = ("p=" cb-name) / "n" / "y"
 *   gs2-header      = gs2-cbind-flag "," [ authzid ] ","
 *   authzid         = "a=" saslname
 * Checks the flag against the mechanism (section 6). Sets s->gs2_header,
 * s->cb_type and *authz_r, and returns the length of the header, or 0
 * after fail() (result and *error_r set). */
static size_t
scram_gs2(struct sasl_server *s, const char *in, size_t n, struct buf *authz_r,
	enum sasl_status *rc, const char **error_r)
{
	size_t i, j;
	const char *err;

	buf_reset(authz_r);
	if (n >= 2 && (in[0] == 'n' || in[0] == 'y') && in[1] == ',') {
		i = 1;
		if (in[0] == 'y' && s->mech->plus) {
			*rc = fail(s, R_BADCHANBIND, "gs2 flag y with a -PLUS mechanism", error_r);
			return 0;
		}
		/* The client supports channel binding but believes we do not:
		 * we announce -PLUS whenever we have binding data, so someone
		 * removed it from the list. */
		if (in[0] == 'y' && have_any_cb(s)) {
			*rc = fail(s, R_BADCHANBIND,
				"server-does-support-channel-binding (gs2 flag y: downgrade?)",
				error_r);
			return 0;
		}
		if (in[0] == 'n' && s->mech->plus) {
			*rc = fail(s, R_BADCHANBIND, "-PLUS mechanism without channel binding",
				error_r);
			return 0;
		}
	} else if (n >= 2 && in[0] == 'p' && in[1] == '=') {
		/* cb-name = 1*(ALPHA / DIGIT / "." / "-") */
		for (j = 2; j < n && in[j] != ','; j++) {
			char c = in[j];

			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				    (c >= '0' && c <= '9') || c == '.' || c == '-')) {
				*rc = fail(s, R_BADPROTOCOL, "malformed channel binding name",
					error_r);
				return 0;
			}
		}
		if (j == 2 || j == n) {
			*rc = fail(s, R_BADPROTOCOL, "malformed gs2 header", error_r);
			return 0;
		}
		if (j - 2 == 10 && memcmp(in + 2, "tls-unique", 10) == 0)
			s->cb_type = SASL_CB_TLS_UNIQUE;
		else if (j - 2 == 12 && memcmp(in + 2, "tls-exporter", 12) == 0)
			s->cb_type = SASL_CB_TLS_EXPORTER;
		else {
			*rc = fail(s, R_BADPROTOCOL, "unsupported-channel-binding-type", error_r);
			return 0;
		}
		/* A non-PLUS mechanism with "p" is accepted when we can bind
		 * (cyrus-sasl clients do this); the binding is verified the same. */
		if (!s->have_cb[s->cb_type]) {
			*rc = fail(s, R_BADCHANBIND,
				"channel binding type not available on this connection", error_r);
			return 0;
		}
		i = j;
	} else {
		*rc = fail(s, R_BADPROTOCOL, "malformed gs2 header", error_r);
		return 0;
	}
	/* in[i] == ',' */
	i++;
	if (i < n && in[i] == ',') {
		i++;
	} else if (n - i >= 2 && in[i] == 'a' && in[i + 1] == '=') {
		const char *end = memchr(in + i, ',', n - i);

		if (end == NULL || end == in + i + 2 ||
		    saslname_decode(in + i + 2, (size_t)(end - in - i - 2), authz_r, &err) < 0) {
			*rc = fail(s, R_BADPROTOCOL, "malformed authzid", error_r);
			return 0;
		}
		i = (size_t)(end - in) + 1;
	} else {
		*rc = fail(s, R_BADPROTOCOL, "malformed gs2 header", error_r);
		return 0;
	}
	buf_reset(&s->gs2_header);
	buf_append(&s->gs2_header, in, i);
	return i;
}

/* RFC 5802 section 7:
 *   client-first-message-bare = [reserved-mext ","] username "," nonce
 *                               ["," extensions]
 *   client-first-message = gs2-header client-first-message-bare
 *   server-first-message = [reserved-mext ","] nonce "," salt ","
 *                          iteration-count ["," extensions] */
static enum sasl_status
scram_first(struct sasl_server *s, const char *in, size_t n, struct buf *out,
	const char **error_r)
{
	struct field f[SCRAM_MAX_FIELDS];
	struct buf authz;
	enum sasl_status rc = SASL_FAIL;
	const char *err;
	size_t hl, nf, i, keylen;
	int r;

	if (memchr(in, '\0', n) != NULL)
		return fail(s, R_BADPROTOCOL, "NUL in SCRAM message", error_r);
	buf_init(&authz);
	hl = scram_gs2(s, in, n, &authz, &rc, error_r);
	if (hl == 0)
		goto out;
	nf = split_fields(in + hl, n - hl, f, MS_NELEM(f));
	if (nf == 0) {
		rc = fail(s, R_BADPROTOCOL, "malformed client-first-message", error_r);
		goto out;
	}
	/* Section 5.1, "m": reserved for mandatory extensions; a server that
	 * does not support it MUST fail the authentication. */
	if (f[0].n >= 2 && f[0].p[0] == 'm' && f[0].p[1] == '=') {
		rc = fail(s, R_BADPROTOCOL, "extensions-not-supported", error_r);
		goto out;
	}
	if (nf < 2 || !is_attr(&f[0], 'n') || !is_attr(&f[1], 'r')) {
		rc = fail(s, R_BADPROTOCOL, "malformed client-first-message", error_r);
		goto out;
	}
	/* Unknown optional extensions are ignored, but must be attributes. */
	for (i = 2; i < nf; i++)
		if (!is_any_attr(&f[i])) {
			rc = fail(s, R_BADPROTOCOL, "malformed extension", error_r);
			goto out;
		}
	if (saslname_decode(f[0].p + 2, f[0].n - 2, &s->user, &err) < 0) {
		rc = fail(s, R_BADPROTOCOL, ms_err("bad user name: %s", err), error_r);
		goto out;
	}
	if (authz.len > 0 && strcmp(authz.data, s->user.data) != 0) {
		rc = fail(s, R_BADPROTOCOL, "authorization identity differs from user name",
			error_r);
		goto out;
	}
	if (!printable(f[1].p + 2, f[1].n - 2)) {
		rc = fail(s, R_BADPROTOCOL, "malformed client nonce", error_r);
		goto out;
	}
	buf_reset(&s->client_first_bare);
	buf_append(&s->client_first_bare, in + hl, n - hl);

	r = lookup_user(s);
	if (r < 0) {
		rc = internal_error(s, "credentials lookup failed", error_r);
		goto out;
	}
	keylen = (size_t)EVP_MD_get_size(scram_md(s));
	memset(&s->keys, 0, sizeof(s->keys));
	if (r == 1 && s->creds.have_password)
		s->keys = strcmp(s->mech->hash, "sha1") == 0 ? s->creds.cr.sha1
							     : s->creds.cr.sha256;
	if (s->keys.saltlen == 0 || s->keys.saltlen > SCRAM_SALT_LEN ||
	    s->keys.iterations == 0 || s->keys.keylen != keylen) {
		/* Unknown user, or no usable keys: continue with fake ones. */
		s->found = false;
		fake_keys(s);
	}

	buf_reset(&s->nonce);
	buf_append(&s->nonce, f[1].p + 2, f[1].n - 2);
	if (s->test_challenge != NULL) {
		buf_puts(&s->nonce, s->test_challenge);
	} else {
		unsigned char rnd[18];

		ms_random(rnd, sizeof(rnd));
		ms_base64_encode(&s->nonce, rnd, sizeof(rnd));
	}
	buf_reset(&s->server_first);
	buf_puts(&s->server_first, "r=");
	buf_append(&s->server_first, s->nonce.data, s->nonce.len);
	buf_puts(&s->server_first, ",s=");
	ms_base64_encode(&s->server_first, s->keys.salt, s->keys.saltlen);
	buf_printf(&s->server_first, ",i=%u", (unsigned)s->keys.iterations);
	buf_append(out, s->server_first.data, s->server_first.len);
	s->st = ST_SCRAM_FINAL;
	rc = SASL_CONTINUE;
out:
	buf_free(&authz);
	return rc;
}

/* Failure after the client-final message: RFC 5802 section 7
 *   server-error = "e=" server-error-value */
static enum sasl_status
scram_final_fail(struct sasl_server *s, struct buf *out, const char *e, const char *result,
	const char *why, const char **error_r)
{
	buf_reset(out);
	buf_puts(out, "e=");
	buf_puts(out, e);
	return fail(s, result, why, error_r);
}

/* RFC 5802 section 7:
 *   client-final-message-without-proof = channel-binding "," nonce
 *                                        ["," extensions]
 *   client-final-message = client-final-message-without-proof "," proof
 *   channel-binding = "c=" base64   ; of gs2-header [cbind-data]
 *   proof           = "p=" base64
 * Section 3:
 *   AuthMessage     := client-first-message-bare + "," +
 *                      server-first-message + "," +
 *                      client-final-message-without-proof
 *   ClientSignature := HMAC(StoredKey, AuthMessage)
 *   ClientKey       := ClientProof XOR ClientSignature, checked by
 *                      H(ClientKey) == StoredKey
 *   ServerSignature := HMAC(ServerKey, AuthMessage) */
static enum sasl_status
scram_final(struct sasl_server *s, const char *in, size_t n, struct buf *out,
	const char **error_r)
{
	const EVP_MD *md = scram_md(s);
	struct field f[SCRAM_MAX_FIELDS];
	struct buf cbind, expect, proof, authmsg;
	unsigned char sig[EVP_MAX_MD_SIZE], key[EVP_MAX_MD_SIZE], stored[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	size_t nf, i, keylen = s->keys.keylen;
	enum sasl_status rc;
	bool ok;

	buf_init(&cbind);
	buf_init(&expect);
	buf_init(&proof);
	buf_init(&authmsg);
	if (memchr(in, '\0', n) != NULL) {
		rc = scram_final_fail(s, out, "invalid-encoding", R_BADPROTOCOL,
			"NUL in SCRAM message", error_r);
		goto out;
	}
	nf = split_fields(in, n, f, MS_NELEM(f));
	if (nf < 3 || !is_attr(&f[0], 'c') || !is_attr(&f[1], 'r') ||
	    !is_attr(&f[nf - 1], 'p')) {
		rc = scram_final_fail(s, out, "invalid-encoding", R_BADPROTOCOL,
			"malformed client-final-message", error_r);
		goto out;
	}
	for (i = 2; i < nf - 1; i++)
		if (!is_any_attr(&f[i]) || f[i].p[0] == 'p') {
			rc = scram_final_fail(s, out, "invalid-encoding", R_BADPROTOCOL,
				"malformed client-final-message extension", error_r);
			goto out;
		}
	if (ms_base64_decode(&cbind, f[0].p + 2, f[0].n - 2) < 0 ||
	    ms_base64_decode(&proof, f[nf - 1].p + 2, f[nf - 1].n - 2) < 0) {
		rc = scram_final_fail(s, out, "invalid-encoding", R_BADPROTOCOL,
			"bad base64 in client-final-message", error_r);
		goto out;
	}
	/* The channel binding must repeat our gs2 header and, for "p", the
	 * binding data of this connection: a man in the middle has another. */
	buf_append(&expect, s->gs2_header.data, s->gs2_header.len);
	if (s->cb_type >= 0)
		buf_append(&expect, s->cb[s->cb_type].data, s->cb[s->cb_type].len);
	if (cbind.len != expect.len || CRYPTO_memcmp(cbind.data, expect.data, expect.len) != 0) {
		rc = scram_final_fail(s, out, "channel-bindings-dont-match", R_BADCHANBIND,
			"channel bindings do not match (possible man in the middle)", error_r);
		goto out;
	}
	if (f[1].n - 2 != s->nonce.len || memcmp(f[1].p + 2, s->nonce.data, s->nonce.len) != 0) {
		rc = scram_final_fail(s, out, "other-error", R_BADPROTOCOL, "nonce mismatch",
			error_r);
		goto out;
	}
	if (proof.len != keylen) {
		rc = scram_final_fail(s, out, "invalid-encoding", R_BADPROTOCOL,
			"proof has the wrong length", error_r);
		goto out;
	}

	buf_append(&authmsg, s->client_first_bare.data, s->client_first_bare.len);
	buf_putc(&authmsg, ',');
	buf_append(&authmsg, s->server_first.data, s->server_first.len);
	buf_putc(&authmsg, ',');
	buf_append(&authmsg, in, (size_t)(f[nf - 1].p - 1 - in));
	if (HMAC(md, s->keys.stored_key, (int)keylen, (const unsigned char *)authmsg.data,
		    authmsg.len, sig, &len) == NULL) {
		rc = internal_error(s, "HMAC failed", error_r);
		goto out;
	}
	for (i = 0; i < keylen; i++)
		key[i] = (unsigned char)proof.data[i] ^ sig[i];
	if (EVP_Digest(key, keylen, stored, &len, md, NULL) != 1) {
		rc = internal_error(s, "digest failed", error_r);
		goto out;
	}
	ok = CRYPTO_memcmp(stored, s->keys.stored_key, keylen) == 0 && s->found;
	if (!ok) {
		rc = scram_final_fail(s, out, "invalid-proof", R_BADCREDS,
			s->found ? "wrong password" : "unknown user or no SCRAM credentials",
			error_r);
		goto out;
	}
	if (s->creds.login_disabled) {
		rc = succeed(s, error_r);	/* fails with "logindisabled" */
		goto out;
	}
	if (HMAC(md, s->keys.server_key, (int)keylen, (const unsigned char *)authmsg.data,
		    authmsg.len, sig, &len) == NULL) {
		rc = internal_error(s, "HMAC failed", error_r);
		goto out;
	}
	buf_puts(out, "v=");
	ms_base64_encode(out, sig, keylen);
	s->st = ST_SCRAM_END;
	rc = SASL_CONTINUE;
out:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(sig, sizeof(sig));
	buf_free(&cbind);
	buf_free(&expect);
	buf_free(&proof);
	buf_free(&authmsg);
	return rc;
}

/* ---- EXTERNAL (RFC 4422 appendix A) ---- */

/* The client is authenticated by its TLS certificate's public key; the
 * message is an optional authzid. Empty: the key's login address. Else
 * it must name the same account (the login address or another address of
 * it), as the reference server allows. */
static enum sasl_status
external_message(struct sasl_server *s, const char *in, size_t inlen, const char **error_r)
{
	const char *err;
	int r;

	if (inlen == 0) {
		buf_reset(&s->user);
		buf_puts(&s->user, s->ext_login);
	} else if (memchr(in, '\0', inlen) != NULL || set_user(s, in, inlen, &err) < 0) {
		return fail(s, R_BADPROTOCOL, "malformed EXTERNAL authorization identity",
			error_r);
	}
	r = lookup_user(s);
	if (r < 0)
		return internal_error(s, "credentials lookup failed", error_r);
	if (r == 0 || s->creds.account_id != s->ext_account)
		return fail(s, R_BADCREDS,
			"authorization identity is not of the client certificate's account",
			error_r);
	return succeed(s, error_r);
}

/* ---- dispatcher ---- */

enum sasl_status
sasl_server_step(struct sasl_server *s, const char *in, size_t inlen, struct buf *out,
	const char **error_r)
{
	bool first = s->st == ST_START;
	enum state st = s->st;

	buf_reset(out);
	*error_r = NULL;
	if (st == ST_DONE) {
		*error_r = "authentication exchange already finished";
		return SASL_FAIL;
	}
	if (in == NULL && !first)
		return fail(s, R_BADPROTOCOL, "missing client response", error_r);
	if (in != NULL && inlen > SASL_MAX_MESSAGE)
		return fail(s, R_BADPROTOCOL, "client message too long", error_r);

	if (first) {
		switch (s->mech->kind) {
		case MK_PLAIN:
			st = ST_PLAIN;
			break;
		case MK_LOGIN:
			st = ST_LOGIN_USER;
			if (in == NULL) {
				/* The draft's prompts; clients ignore them. */
				buf_puts(out, "Username:");
				s->st = st;
				return SASL_CONTINUE;
			}
			break;
		case MK_CRAMMD5:
			/* The server speaks first (RFC 4954 section 4: no
			 * initial response for such mechanisms). */
			if (in != NULL)
				return fail(s, R_BADPROTOCOL, "CRAM-MD5 takes no initial response",
					error_r);
			cram_challenge(s, out);
			s->st = ST_CRAM;
			return SASL_CONTINUE;
		case MK_SCRAM:
			st = ST_SCRAM_FIRST;
			break;
		case MK_EXTERNAL:
			st = ST_EXTERNAL;
			break;
		}
		s->st = st;
		if (in == NULL)
			return SASL_CONTINUE;	/* empty challenge */
	}

	switch (st) {
	case ST_PLAIN:
		return plain_message(s, in, inlen, error_r);
	case ST_LOGIN_USER: {
		const char *err;

		if (inlen == 0 || memchr(in, '\0', inlen) != NULL ||
		    set_user(s, in, inlen, &err) < 0)
			return fail(s, R_BADPROTOCOL, "malformed LOGIN user name", error_r);
		buf_puts(out, "Password:");
		s->st = ST_LOGIN_PASS;
		return SASL_CONTINUE;
	}
	case ST_LOGIN_PASS: {
		struct buf pw;
		enum sasl_status rc;

		if (inlen == 0 || memchr(in, '\0', inlen) != NULL)
			return fail(s, R_BADPROTOCOL, "malformed LOGIN password", error_r);
		buf_init(&pw);
		buf_append(&pw, in, inlen);
		rc = check_password(s, pw.data, error_r);
		buf_wipe(&pw);
		buf_free(&pw);
		return rc;
	}
	case ST_CRAM:
		return cram_response(s, in, inlen, error_r);
	case ST_SCRAM_FIRST:
		return scram_first(s, in, inlen, out, error_r);
	case ST_SCRAM_FINAL:
		return scram_final(s, in, inlen, out, error_r);
	case ST_SCRAM_END:
		/* RFC 5802 section 5 / RFC 4954 section 4: the client answers
		 * the server-final message with an empty response. */
		if (inlen != 0)
			return fail(s, R_BADPROTOCOL,
				"expected an empty response after server-final", error_r);
		s->st = ST_DONE;
		s->result = R_OK;
		s->account = s->creds.account_id;
		return SASL_OK;
	case ST_EXTERNAL:
		return external_message(s, in, inlen, error_r);
	case ST_START:
	case ST_DONE:
		break;
	}
	return internal_error(s, "bad SASL state", error_r);
}
