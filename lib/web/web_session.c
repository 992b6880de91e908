/* Web sessions and CSRF, as the seeds describe (the reference's webauth):
 * LoginPrep sets a short-lived login cookie whose value Login must echo, so
 * other sites cannot make a browser log in; Login checks the failed-login
 * limiter, the credentials, and creates a server-side session (table
 * web_sessions) whose random token goes into an HttpOnly, SameSite=Strict,
 * path-scoped cookie; the CSRF token, also random and tied to the session,
 * is returned to the page, which sends it as header x-mailstead-csrf on API
 * calls (or as form field "csrf"). Sessions are extended on use; Logout
 * and password changes remove them.
 *
 * Only SHA-256 hashes of the tokens are stored, so database readers cannot
 * take over sessions. Each process caches sessions it has seen; a trigger
 * NOTIFYs every removal so the caches forget them at once, and a cached
 * entry is rechecked against the database at least every 30 seconds. */
#include "config.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/password.h"
#include "auth/ratelimit.h"
#include "core/conf.h"
#include "core/log.h"
#include "core/util.h"
#include "db/db.h"
#include "store/store.h"
#include "web/web.h"
#include "web/web_private.h"

#define TOKEN_BYTES 16		/* the reference uses 16 random bytes */
#define ADMIN_MAX_SESSIONS 10
#define ACCOUNT_MAX_SESSIONS 100
#define RECHECK_MS 30000	/* cached sessions are rechecked this often */
#define CACHE_BUCKETS 256
#define CACHE_MAX 10000
#define LOGIN_COOKIE_AGE 30	/* seconds: one login attempt */

struct cached_session {
	struct cached_session *next;
	unsigned char hash[32];
	unsigned char csrf_hash[32];
	enum web_session_kind kind;
	int64_t account_id;
	char *account_name, *login_address;
	int64_t expires_ms;	/* wall clock: when idle too long */
	int64_t db_expires_ms;	/* what the database row says */
	int64_t verified_ms;	/* monotonic: last read from the database */
};

struct web_sessions {
	pthread_mutex_t mu;
	struct cached_session *buckets[CACHE_BUCKETS];
	size_t n;
	/* Bumped by every removal notice: a database read that started
	 * before a removal must not put the session back in the cache. */
	uint64_t generation;
};

static void
cached_free(struct cached_session *e)
{
	free(e->account_name);
	free(e->login_address);
	OPENSSL_cleanse(e, sizeof(*e));
	free(e);
}

struct web_sessions *
web_sessions_new(void)
{
	struct web_sessions *s = xcalloc(1, sizeof(*s));

	pthread_mutex_init(&s->mu, NULL);
	return s;
}

static void
cache_clear_locked(struct web_sessions *s)
{
	size_t i;

	for (i = 0; i < CACHE_BUCKETS; i++) {
		struct cached_session *e, *next;

		for (e = s->buckets[i]; e != NULL; e = next) {
			next = e->next;
			cached_free(e);
		}
		s->buckets[i] = NULL;
	}
	s->n = 0;
}

void
web_sessions_free(struct web_sessions **sp)
{
	struct web_sessions *s = *sp;

	if (s == NULL)
		return;
	cache_clear_locked(s);
	pthread_mutex_destroy(&s->mu);
	free(s);
	*sp = NULL;
}

static struct cached_session **
cache_slot(struct web_sessions *s, const unsigned char hash[32])
{
	struct cached_session **pp = &s->buckets[hash[0]];

	while (*pp != NULL && memcmp((*pp)->hash, hash, 32) != 0)
		pp = &(*pp)->next;
	return pp;
}

static void
cache_remove(struct web_sessions *s, const unsigned char hash[32])
{
	struct cached_session **pp, *e;

	pthread_mutex_lock(&s->mu);
	s->generation++;
	pp = cache_slot(s, hash);
	if ((e = *pp) != NULL) {
		*pp = e->next;
		cached_free(e);
		s->n--;
	}
	pthread_mutex_unlock(&s->mu);
}

/* Drop all sessions of account_id except keep (NULL: none kept). */
static void
cache_remove_account(struct web_sessions *s, int64_t account_id, const unsigned char *keep)
{
	size_t i;

	pthread_mutex_lock(&s->mu);
	s->generation++;
	for (i = 0; i < CACHE_BUCKETS; i++) {
		struct cached_session **pp = &s->buckets[i], *e;

		while ((e = *pp) != NULL) {
			if (e->account_id == account_id && e->kind == WEB_SESSION_ACCOUNT &&
			    (keep == NULL || memcmp(e->hash, keep, 32) != 0)) {
				*pp = e->next;
				cached_free(e);
				s->n--;
			} else {
				pp = &e->next;
			}
		}
	}
	pthread_mutex_unlock(&s->mu);
}

void
web_sessions_notify(void *ctx, const char *channel, const char *payload)
{
	struct web_sessions *s = ctx;
	unsigned char hash[32];
	size_t i;

	(void)channel;
	if (payload == NULL || strlen(payload) != 64) {
		pthread_mutex_lock(&s->mu);
		s->generation++;
		cache_clear_locked(s);
		pthread_mutex_unlock(&s->mu);
		return;
	}
	for (i = 0; i < 32; i++) {
		unsigned v;
		char hex[3] = { payload[2 * i], payload[2 * i + 1], '\0' };
		char *end;

		v = (unsigned)strtoul(hex, &end, 16);
		if (*end != '\0')
			return;
		hash[i] = (unsigned char)v;
	}
	cache_remove(s, hash);
}

static void
sha256(const char *s, unsigned char out[32])
{
	SHA256((const unsigned char *)s, strlen(s), out);
}

static const char *
kind_name(enum web_session_kind k)
{
	return k == WEB_SESSION_ADMIN ? "admin" : "account";
}

static int64_t
idle_seconds(struct web_env *env, enum web_session_kind k)
{
	return (int64_t)(k == WEB_SESSION_ADMIN ? env->conf->web.admin_session_idle :
		env->conf->web.account_session_idle);
}

static const char *
bytea_hex(struct buf *out, const unsigned char *p, size_t n)
{
	buf_reset(out);
	buf_puts(out, "\\x");
	ms_hex_encode(out, p, n);
	return out->data;
}

/* ---- creating, using and removing sessions ---- */

struct create_ctx {
	enum web_session_kind kind;
	int64_t account_id;
	const char *login_address, *remote_ip, *user_agent;
	const char *token_hex, *csrf_hex;
	int64_t idle;
};

static int
create_tx(PGconn *c, void *vctx, const char **error_r)
{
	struct create_ctx *x = vctx;
	const char *acct = x->account_id != 0 ? db_i64(x->account_id) : NULL;
	int max = x->kind == WEB_SESSION_ADMIN ? ADMIN_MAX_SESSIONS : ACCOUNT_MAX_SESSIONS;

	/* Expired sessions go first; then the least recently used beyond the
	 * limit (the reference drops the oldest). */
	if (db_cmd(c, error_r, "DELETE FROM web_sessions WHERE expires < now()", 0) < 0 ||
	    db_cmd(c, error_r,
		"DELETE FROM web_sessions WHERE id IN (SELECT id FROM web_sessions"
		" WHERE kind = $1 AND account_id IS NOT DISTINCT FROM $2::bigint"
		" ORDER BY last_used DESC, id DESC OFFSET $3)",
		3, kind_name(x->kind), acct, db_i64(max - 1)) < 0)
		return -1;
	return db_cmd(c, error_r,
		"INSERT INTO web_sessions (token_hash, csrf_hash, kind, account_id, login_address,"
		" remote_ip, user_agent, expires)"
		" VALUES ($1::bytea, $2::bytea, $3, $4::bigint, $5, $6, $7,"
		" now() + make_interval(secs => $8::bigint))",
		8, x->token_hex, x->csrf_hex, kind_name(x->kind), acct, x->login_address,
		x->remote_ip, x->user_agent, db_i64(x->idle));
}

static int
session_create(struct web_request *req, int64_t account_id, const char *login_address,
	struct buf *token, struct buf *csrf, const char **error_r)
{
	struct web_env *env = req->env;
	unsigned char th[32], ch[32];
	struct buf th_hex, ch_hex;
	struct create_ctx x;
	const char *ua = web_header(req, "user-agent");
	int rc;

	ms_random_token(token, TOKEN_BYTES);
	ms_random_token(csrf, TOKEN_BYTES);
	sha256(token->data, th);
	sha256(csrf->data, ch);
	buf_init(&th_hex);
	buf_init(&ch_hex);
	memset(&x, 0, sizeof(x));
	x.kind = req->app->session;
	x.account_id = account_id;
	x.login_address = login_address;
	x.remote_ip = req->remote_ip;
	x.user_agent = ua != NULL ? ua : "";
	x.token_hex = bytea_hex(&th_hex, th, 32);
	x.csrf_hex = bytea_hex(&ch_hex, ch, 32);
	x.idle = idle_seconds(env, x.kind);
	rc = db_tx(env->pool, create_tx, &x, error_r);
	buf_free(&th_hex);
	buf_free(&ch_hex);
	return rc == 0 ? 0 : -1;
}

enum use_result { USE_OK, USE_BAD, USE_ERROR };

static void
cache_put(struct web_sessions *s, uint64_t gen, const unsigned char hash[32],
	const unsigned char csrf_hash[32], enum web_session_kind kind, int64_t account_id,
	const char *account_name, const char *login_address, int64_t expires_ms)
{
	struct cached_session **pp, *e;

	pthread_mutex_lock(&s->mu);
	if (s->generation != gen) {
		pthread_mutex_unlock(&s->mu);
		return;
	}
	if (s->n >= CACHE_MAX)
		cache_clear_locked(s);
	pp = cache_slot(s, hash);
	if (*pp == NULL) {
		e = xcalloc(1, sizeof(*e));
		*pp = e;
		s->n++;
	} else {
		e = *pp;
		free(e->account_name);
		free(e->login_address);
	}
	memcpy(e->hash, hash, 32);
	memcpy(e->csrf_hash, csrf_hash, 32);
	e->kind = kind;
	e->account_id = account_id;
	e->account_name = xstrdup(account_name);
	e->login_address = xstrdup(login_address);
	e->expires_ms = e->db_expires_ms = expires_ms;
	e->verified_ms = ms_mono_ms();
	pthread_mutex_unlock(&s->mu);
}

static bool
csrf_ok(const char *csrf, const unsigned char want[32])
{
	unsigned char h[32];

	if (csrf == NULL)
		return true;	/* no CSRF check wanted */
	sha256(csrf, h);
	return CRYPTO_memcmp(h, want, 32) == 0;
}

/* Read the session from the database, extending it. */
static enum use_result
use_db(struct web_request *req, const unsigned char hash[32], const char *csrf,
	const char **why_r, const char **error_r)
{
	struct web_env *env = req->env;
	enum web_session_kind kind = req->app->session;
	struct buf hex, csrf_hash;
	PGresult *res;
	PGconn *c;
	uint64_t gen;
	enum use_result r = USE_BAD;

	pthread_mutex_lock(&env->sessions->mu);
	gen = env->sessions->generation;
	pthread_mutex_unlock(&env->sessions->mu);
	c = db_get(env->pool, error_r);
	if (c == NULL)
		return USE_ERROR;
	buf_init(&hex);
	res = db_execv(c, error_r,
		"UPDATE web_sessions s SET last_used = now(),"
		" expires = now() + make_interval(secs => $3::bigint)"
		" WHERE token_hash = $1::bytea AND kind = $2 AND expires > now()"
		" RETURNING s.csrf_hash, coalesce(s.account_id, 0), s.login_address,"
		" coalesce((SELECT a.name FROM accounts a WHERE a.id = s.account_id), ''),"
		" (extract(epoch FROM s.expires) * 1000)::bigint",
		3, bytea_hex(&hex, hash, 32), kind_name(kind), db_i64(idle_seconds(env, kind)));
	db_put(env->pool, c);
	buf_free(&hex);
	if (res == NULL)
		return USE_ERROR;
	if (PQntuples(res) != 1) {
		*why_r = "unknown or expired session";
		PQclear(res);
		return USE_BAD;
	}
	buf_init(&csrf_hash);
	if (db_get_bytea(res, 0, 0, &csrf_hash) < 0 || csrf_hash.len != 32) {
		*why_r = "bad session row";
	} else if (!csrf_ok(csrf, (const unsigned char *)csrf_hash.data)) {
		*why_r = "mismatch between CSRF and session tokens";
	} else {
		req->account_id = db_get_i64(res, 0, 1);
		req->login_address = web_strdup(req, PQgetvalue(res, 0, 2));
		req->account_name = web_strdup(req, PQgetvalue(res, 0, 3));
		cache_put(env->sessions, gen, hash, (const unsigned char *)csrf_hash.data, kind,
			req->account_id, req->account_name, req->login_address, db_get_i64(res, 0, 4));
		r = USE_OK;
	}
	buf_free(&csrf_hash);
	PQclear(res);
	return r;
}

static enum use_result
session_use(struct web_request *req, const char *token, const char *csrf, const char **why_r,
	const char **error_r)
{
	struct web_env *env = req->env;
	struct web_sessions *s = env->sessions;
	enum web_session_kind kind = req->app->session;
	int64_t idle_ms = idle_seconds(env, kind) * 1000, now = ms_now_ms();
	/* Extending the row on every request would be one write per API
	 * call; the expiry is written when it moved by this much. */
	int64_t slack = idle_ms / 4 < 60000 ? idle_ms / 4 : 60000;
	struct cached_session *e;
	unsigned char hash[32];
	bool write = false;

	if (strlen(token) > 100) {
		*why_r = "malformed session";
		return USE_BAD;
	}
	sha256(token, hash);
	memcpy(req->session_hash, hash, 32);
	pthread_mutex_lock(&s->mu);
	e = *cache_slot(s, hash);
	if (e != NULL && e->kind == kind && now < e->expires_ms &&
	    ms_mono_ms() - e->verified_ms < RECHECK_MS) {
		if (!csrf_ok(csrf, e->csrf_hash)) {
			pthread_mutex_unlock(&s->mu);
			*why_r = "mismatch between CSRF and session tokens";
			return USE_BAD;
		}
		e->expires_ms = now + idle_ms;
		if (e->expires_ms - e->db_expires_ms > slack) {
			write = true;
			e->db_expires_ms = e->expires_ms;
		}
		req->account_id = e->account_id;
		req->account_name = web_strdup(req, e->account_name);
		req->login_address = web_strdup(req, e->login_address);
		pthread_mutex_unlock(&s->mu);
		if (write) {
			/* use_db extends the row and refreshes the entry. */
			return use_db(req, hash, csrf, why_r, error_r);
		}
		return USE_OK;
	}
	pthread_mutex_unlock(&s->mu);
	return use_db(req, hash, csrf, why_r, error_r);
}

static void
sleep_seconds(uint64_t s)
{
	struct timespec ts = { (time_t)s, 0 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

bool
web_auth(struct web_request *req, struct web_response *resp, bool is_api, bool need_csrf,
	const char *csrf)
{
	struct web_env *env = req->env;
	const struct web_app *app = req->app;
	const char *token, *why = NULL, *error = NULL;
	char cookie_name[64];
	enum use_result r;
	unsigned status = 403;
	const char *code = "user:noAuth";

	if (app->session == WEB_SESSION_NONE) {
		why = "no sessions in this program";
		goto fail;
	}
	if (need_csrf && (csrf == NULL || csrf[0] == '\0')) {
		why = is_api ? "missing required csrf header" : "missing required csrf field";
		goto fail;
	}
	snprintf(cookie_name, sizeof(cookie_name), "%ssession", app->kind);
	token = web_cookie(req, cookie_name);
	if (token == NULL || token[0] == '\0') {
		why = "no session";
		goto fail;
	}
	if (!ratelimit_allow(env->auth_failures, req->remote_ip, ms_now(), 1)) {
		status = 429;
		code = "user:error";
		why = "too many authentication attempts";
		goto fail;
	}
	r = session_use(req, token, need_csrf ? csrf : NULL, &why, &error);
	if (r == USE_ERROR) {
		log_error(req->cid, "proto=http app=%s ev=session-check-failed error=%s", app->name,
			lq(error));
		status = 500;
		code = "server:error";
		why = "checking the session failed";
		goto fail;
	}
	if (r == USE_BAD) {
		ratelimit_add(env->auth_failures, req->remote_ip, ms_now(), 1);
		log_info(req->cid, "proto=http app=%s ev=bad-session reason=%s ip=%s", app->name,
			lq(why), lq(req->remote_ip));
		sleep_seconds(env->conf->web.login_failure_delay);
		code = "user:badAuth";
		goto fail;
	}
	req->authenticated = true;
	return true;
fail:
	if (is_api) {
		web_api_error_resp(req, resp, status, code, why);
	} else {
		struct buf t;

		buf_init(&t);
		buf_printf(&t, "%u - %s - %s", status, status == 429 ? "too many requests" :
			status == 500 ? "server error" : "forbidden", why);
		web_resp_text(resp, status, t.data);
		buf_free(&t);
	}
	return false;
}

/* ---- login API ---- */

const struct web_param web_login_params[3] = {
	{ "loginToken", WJ_STRING }, { "username", WJ_STRING }, { "password", WJ_STRING },
};
const struct web_param web_login_admin_params[2] = {
	{ "loginToken", WJ_STRING }, { "password", WJ_STRING },
};

int
web_api_loginprep(struct web_call *call)
{
	struct web_request *req = call->req;
	struct buf token;
	char name[64];

	buf_init(&token);
	ms_random_token(&token, TOKEN_BYTES);
	snprintf(name, sizeof(name), "%slogin", req->app->kind);
	web_set_cookie(req, call->resp, name, token.data, LOGIN_COOKIE_AGE);
	call->result = json_object_new_string(token.data);
	buf_wipe(&token);
	buf_free(&token);
	return 0;
}

static void
record_attempt_mech(struct web_request *req, const char *account, const char *login,
	const char *mech, const char *result)
{
	struct store_login_attempt a;
	const char *ua = web_header(req, "user-agent"), *error;

	memset(&a, 0, sizeof(a));
	a.account_name = account != NULL && account[0] != '\0' ? account :
		req->app->session == WEB_SESSION_ADMIN ? "(admin)" : "-";
	a.login_address = login;
	a.remote_ip = req->remote_ip;
	a.local_ip = req->local_ip;
	a.tls = req->https ? "https" : "";
	a.tls_pubkey_fingerprint = "";
	a.protocol = req->app->kind;
	a.user_agent = ua != NULL ? ua : "";
	a.auth_mech = mech;
	a.result = result;
	if (store_login_attempt_record(req->env->st, &a, &error) < 0)
		log_error(req->cid, "proto=http ev=login-attempt-record-failed error=%s", lq(error));
}

static void
record_attempt(struct web_request *req, const char *account, const char *login,
	const char *result)
{
	record_attempt_mech(req, account, login, "weblogin", result);
}

/* RFC 7617 section 2: credentials = "Basic" 1*SP token68, the token the
 * base64 of user-id ":" password (the user-id cannot contain a colon, the
 * password can). */
static int
parse_basic(struct web_request *req, const char *h, const char **user_r, const char **pass_r)
{
	struct buf dec;
	const char *colon;
	size_t i;

	if (h == NULL || !ms_strncaseeq(h, "Basic ", 6))
		return -1;
	for (h += 6; *h == ' '; h++)
		;
	buf_init(&dec);
	if (ms_base64_decode(&dec, h, strlen(h)) < 0 || memchr(dec.data, '\0', dec.len) != NULL ||
	    (colon = memchr(dec.data, ':', dec.len)) == NULL) {
		buf_wipe(&dec);
		buf_free(&dec);
		return -1;
	}
	i = (size_t)(colon - dec.data);
	*user_r = web_strndup(req, dec.data, i);
	*pass_r = web_strndup(req, colon + 1, dec.len - i - 1);
	buf_wipe(&dec);
	buf_free(&dec);
	return 0;
}

/* Applications call the webapi many times a minute with the same
 * credentials: a successful HTTP Basic login is written to login_attempts
 * (a database write) at most once a minute per app, login, address and
 * user agent. Failures are always written. */
#define BASIC_OK_RECORD_MS 60000
#define BASIC_OK_SLOTS 64

static struct {
	pthread_mutex_t mu;
	unsigned char key[BASIC_OK_SLOTS][32];
	int64_t at[BASIC_OK_SLOTS];
	size_t next;
} basic_ok = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* Whether this successful login should be recorded now. */
static bool
basic_ok_due(struct web_request *req, const char *user)
{
	const char *ua = web_header(req, "user-agent");
	unsigned char key[32];
	int64_t now = ms_mono_ms();
	struct buf k;
	bool due = true;
	size_t i;

	buf_init(&k);
	buf_printf(&k, "%s%c%s%c%s%c%s", req->app->kind, 0, user, 0, req->remote_ip, 0,
		ua != NULL ? ua : "");
	SHA256((const unsigned char *)k.data, k.len, key);
	buf_free(&k);
	pthread_mutex_lock(&basic_ok.mu);
	for (i = 0; i < BASIC_OK_SLOTS; i++)
		if (basic_ok.at[i] != 0 && memcmp(basic_ok.key[i], key, 32) == 0) {
			if (now - basic_ok.at[i] < BASIC_OK_RECORD_MS)
				due = false;
			else
				basic_ok.at[i] = now;
			break;
		}
	if (i == BASIC_OK_SLOTS) {
		memcpy(basic_ok.key[basic_ok.next], key, 32);
		basic_ok.at[basic_ok.next] = now;
		basic_ok.next = (basic_ok.next + 1) % BASIC_OK_SLOTS;
	}
	pthread_mutex_unlock(&basic_ok.mu);
	return due;
}

int
web_basic_auth(struct web_request *req, const char **password_r, unsigned *status_r,
	const char **error_r)
{
	struct web_env *env = req->env;
	const struct web_app *app = req->app;
	const char *user = NULL, *pass = NULL, *account_name = NULL, *error;
	int64_t account_id = 0;
	int rc;

	*password_r = NULL;
	if (parse_basic(req, web_header(req, "authorization"), &user, &pass) < 0) {
		*status_r = 401;
		*error_r = "use HTTP basic authentication with an email address as user name";
		return 0;
	}
	if (!ratelimit_allow(env->auth_failures, req->remote_ip, ms_now(), 1)) {
		record_attempt_mech(req, NULL, user, "httpbasic", "ratelimited");
		log_info(req->cid, "proto=http app=%s ev=login result=ratelimited login=%s ip=%s",
			app->name, lq(user), lq(req->remote_ip));
		*status_r = 429;
		*error_r = "too many authentication attempts";
		return 0;
	}
	rc = app->login(req, user, pass, &account_id, &account_name, &error);
	if (rc < 0) {
		record_attempt_mech(req, account_name, user, "httpbasic", "error");
		log_error(req->cid, "proto=http app=%s ev=login-failed error=%s", app->name, lq(error));
		*status_r = 500;
		*error_r = "error verifying credentials";
		return -1;
	}
	if (rc == 0) {
		ratelimit_add(env->auth_failures, req->remote_ip, ms_now(), 1);
		record_attempt_mech(req, account_name, user, "httpbasic", "badcreds");
		log_info(req->cid, "proto=http app=%s ev=login result=badcreds login=%s ip=%s",
			app->name, lq(user), lq(req->remote_ip));
		*status_r = 401;
		*error_r = "bad credentials: use HTTP basic authentication with an email address "
			"and password";
		return 0;
	}
	ratelimit_reset(env->auth_failures, req->remote_ip, ms_now());
	if (basic_ok_due(req, user))
		record_attempt_mech(req, account_name, user, "httpbasic", "ok");
	req->authenticated = true;
	req->account_id = account_id;
	req->account_name = account_name != NULL ? account_name : "";
	req->login_address = user;
	*password_r = pass;
	return 1;
}

int
web_api_login(struct web_call *call)
{
	struct web_request *req = call->req;
	struct web_env *env = req->env;
	const struct web_app *app = req->app;
	bool admin = call->nparams == 2;
	const char *login_token = web_call_str(call, 0);
	const char *username = admin ? "" : web_call_str(call, 1);
	const char *password = web_call_str(call, admin ? 1 : 2);
	const char *cookie, *account_name = NULL, *error;
	struct buf token, csrf;
	char name[64];
	int64_t account_id = 0;
	int rc;

	snprintf(name, sizeof(name), "%slogin", app->kind);
	cookie = web_cookie(req, name);
	if (cookie == NULL || strlen(cookie) != strlen(login_token) ||
	    CRYPTO_memcmp(cookie, login_token, strlen(cookie)) != 0 || cookie[0] == '\0')
		return web_call_error(call, "user:error", "missing login token");
	if (!ratelimit_allow(env->auth_failures, req->remote_ip, ms_now(), 1)) {
		record_attempt(req, NULL, username, "ratelimited");
		call->status = 429;
		return web_call_error(call, "user:error", "too many authentication attempts");
	}
	rc = app->login(req, username, password, &account_id, &account_name, &error);
	if (rc < 0) {
		record_attempt(req, account_name, username, "error");
		return web_call_server_error(call, "login", error);
	}
	if (rc == 0) {
		ratelimit_add(env->auth_failures, req->remote_ip, ms_now(), 1);
		record_attempt(req, account_name, username, "badcreds");
		log_info(req->cid, "proto=http app=%s ev=login result=badcreds login=%s ip=%s",
			app->name, lq(username), lq(req->remote_ip));
		sleep_seconds(env->conf->web.login_failure_delay);
		return web_call_error(call, "user:loginFailed", "invalid credentials");
	}
	ratelimit_reset(env->auth_failures, req->remote_ip, ms_now());
	buf_init(&token);
	buf_init(&csrf);
	if (session_create(req, account_id, username, &token, &csrf, &error) < 0) {
		buf_wipe(&token);
		buf_free(&token);
		buf_free(&csrf);
		record_attempt(req, account_name, username, "error");
		return web_call_server_error(call, "creating session", error);
	}
	record_attempt(req, account_name, username, "ok");
	log_info(req->cid, "proto=http app=%s ev=login result=ok login=%s account=%s ip=%s",
		app->name, lq(username), lq(account_name != NULL ? account_name : "(admin)"),
		lq(req->remote_ip));
	snprintf(name, sizeof(name), "%ssession", app->kind);
	web_set_cookie(req, call->resp, name, token.data, -1);
	snprintf(name, sizeof(name), "%slogin", app->kind);
	web_set_cookie(req, call->resp, name, "", 0);
	call->result = json_object_new_string(csrf.data);
	buf_wipe(&token);
	buf_free(&token);
	buf_wipe(&csrf);
	buf_free(&csrf);
	return 0;
}

int
web_api_logout(struct web_call *call)
{
	struct web_request *req = call->req;
	struct buf hex;
	const char *error;
	char name[64];
	PGconn *c;
	int rc;

	buf_init(&hex);
	c = db_get(req->env->pool, &error);
	rc = c == NULL ? -1 : db_cmd(c, &error, "DELETE FROM web_sessions WHERE token_hash = $1::bytea",
		1, bytea_hex(&hex, req->session_hash, 32));
	if (c != NULL)
		db_put(req->env->pool, c);
	buf_free(&hex);
	if (rc < 0)
		return web_call_server_error(call, "logout", error);
	cache_remove(req->env->sessions, req->session_hash);
	snprintf(name, sizeof(name), "%ssession", req->app->kind);
	web_set_cookie(req, call->resp, name, "", 0);
	call->result = NULL;
	return 0;
}

/* ---- removing an account's sessions ---- */

static int
remove_account_rows(struct db_pool *pool, int64_t account_id, const unsigned char *keep,
	const char **error_r)
{
	struct buf hex;
	PGconn *c = db_get(pool, error_r);
	int rc;

	if (c == NULL)
		return -1;
	buf_init(&hex);
	if (keep != NULL)
		bytea_hex(&hex, keep, 32);
	rc = db_cmd(c, error_r,
		"DELETE FROM web_sessions WHERE account_id = $1 AND kind = 'account'"
		" AND ($2::bytea IS NULL OR token_hash <> $2::bytea)",
		2, db_i64(account_id), keep != NULL ? hex.data : NULL);
	db_put(pool, c);
	buf_free(&hex);
	return rc;
}

int
web_sessions_remove_account(struct web_env *env, int64_t account_id,
	const struct web_request *keep, const char **error_r)
{
	const unsigned char *k = keep != NULL && keep->authenticated ? keep->session_hash : NULL;

	if (remove_account_rows(env->pool, account_id, k, error_r) < 0)
		return -1;
	/* The NOTIFY reaches this process's cache too, but asynchronously;
	 * the next request must already fail. */
	cache_remove_account(env->sessions, account_id, k);
	return 0;
}

int
web_sessions_remove_account_db(struct db_pool *pool, int64_t account_id, const char **error_r)
{
	return remove_account_rows(pool, account_id, NULL, error_r);
}

/* ---- the admin password ---- */

int
web_admin_password_set(struct db_pool *pool, const char *password, const char **error_r)
{
	struct credentials cr;
	PGconn *c;
	int rc;

	if (credentials_derive(password, &cr, error_r) < 0)
		return -1;
	c = db_get(pool, error_r);
	if (c == NULL) {
		credentials_wipe(&cr);
		return -1;
	}
	/* A new password ends every admin session. */
	rc = db_cmd(c, error_r,
		"WITH s AS (INSERT INTO admin_password (id, password_hash) VALUES (1, $1)"
		" ON CONFLICT (id) DO UPDATE SET password_hash = $1, updated = now())"
		" DELETE FROM web_sessions WHERE kind = 'admin'", 1, cr.hash);
	db_put(pool, c);
	credentials_wipe(&cr);
	return rc;
}

int
web_admin_password_check(struct db_pool *pool, const char *password, const char **error_r)
{
	PGconn *c = db_get(pool, error_r);
	PGresult *res;
	char *hash = NULL;
	bool ok;

	if (c == NULL)
		return -1;
	res = db_execv(c, error_r, "SELECT password_hash FROM admin_password WHERE id = 1", 0);
	db_put(pool, c);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 1)
		hash = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (hash == NULL) {
		(void)password_verify(password, password_dummy_hash());
		return 0;
	}
	ok = password_verify(password, hash);
	free(hash);
	return ok ? 1 : 0;
}

int
web_login_attempts_result(struct web_call *call, const char *account_name, int64_t limit)
{
	struct store_login_attempt *v;
	struct json_object *arr;
	const char *error;
	size_t i, n;

	if (limit < 0 || limit > 10000)
		return web_call_error(call, "user:error", "limit must be between 0 and 10000");
	if (store_login_attempt_list(call->req->env->st, account_name, (size_t)limit, &v, &n,
	    &error) < 0)
		return web_call_server_error(call, "listing login attempts", error);
	arr = json_object_new_array();
	for (i = 0; i < n; i++) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "first", json_object_new_int64(v[i].first));
		json_object_object_add(o, "last", json_object_new_int64(v[i].last));
		json_object_object_add(o, "count", json_object_new_int64(v[i].count));
		json_object_object_add(o, "accountName", json_object_new_string(v[i].account_name));
		json_object_object_add(o, "loginAddress", json_object_new_string(v[i].login_address));
		json_object_object_add(o, "remoteIP", json_object_new_string(v[i].remote_ip));
		json_object_object_add(o, "localIP", json_object_new_string(v[i].local_ip));
		json_object_object_add(o, "tls", json_object_new_string(v[i].tls));
		json_object_object_add(o, "protocol", json_object_new_string(v[i].protocol));
		json_object_object_add(o, "userAgent", json_object_new_string(v[i].user_agent));
		json_object_object_add(o, "authMech", json_object_new_string(v[i].auth_mech));
		json_object_object_add(o, "result", json_object_new_string(v[i].result));
		json_object_array_add(arr, o);
	}
	store_login_attempts_free(v, n);
	call->result = arr;
	return 0;
}

int
web_account_login(struct web_request *req, const char *username, const char *password,
	int64_t *account_id_r, const char **account_name_r, const char **error_r)
{
	struct store *st = web_env_store(req->env);
	int64_t id = 0;
	PGresult *res;
	PGconn *c;
	int ok, found;

	*account_name_r = NULL;
	ok = store_login(st, username, password, &id, error_r);
	if (ok < 0)
		return -1;
	/* The account's name, also for refused logins, so the account owner
	 * sees attempts on it (LoginAttempts). */
	if (!ok) {
		found = store_account_find(st, username, &id, error_r);
		if (found < 0)
			return -1;
		if (!found)
			return 0;
	}
	c = db_get(st->pool, error_r);
	if (c == NULL)
		return -1;
	res = db_execv(c, error_r, "SELECT name FROM accounts WHERE id = $1", 1, db_i64(id));
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 1)
		*account_name_r = web_strdup(req, PQgetvalue(res, 0, 0));
	PQclear(res);
	if (ok)
		*account_id_r = id;
	return ok;
}
