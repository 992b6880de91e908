/* SMTP AUTH (RFC 4954) on the submission listeners of mailstead-smtpd: the
 * EHLO mechanism list, the SASL exchange over 334 continuations on top of
 * lib/auth/sasl.h, TLS client certificates (a registered key authenticates
 * the session, as in the reference), the failed-login limiter and the
 * login attempt log. Passwords never reach a log line. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/ratelimit.h"
#include "auth/sasl.h"
#include "core/log.h"
#include "core/util.h"
#include "net/tls.h"
#include "smtp_private.h"
#include "store/store.h"

/* FEATURES.md section 2: "Delays: auth fail 1 s". */
#define SMTP_AUTH_FAIL_DELAY_MS 1000

/* In the order of enum sasl_cb_type. */
static const char *const cb_names[SASL_CB_NTYPES] = { "tls-unique", "tls-exporter" };

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- failed-login limiter ---- */

bool
smtp_auth_ratelimited(struct smtp_session *s)
{
	return s->srv->auth_failures != NULL &&
		!ratelimit_allow(s->srv->auth_failures, s->c->remote_ip, ms_now(), 1);
}

static void
count_failure(struct smtp_session *s)
{
	if (s->srv->auth_failures != NULL)
		(void)ratelimit_add(s->srv->auth_failures, s->c->remote_ip, ms_now(), 1);
}

static void
count_success(struct smtp_session *s)
{
	if (s->srv->auth_failures != NULL)
		ratelimit_reset(s->srv->auth_failures, s->c->remote_ip, ms_now());
}

/* ---- login attempts ---- */

/* Record an attempt. Called after the reply was flushed, so a slow
 * database does not hold up the client's answer. */
static void
record_attempt(struct smtp_session *s, const char *mech, const char *login,
	const char *account, const char *result)
{
	store_login_attempt_conn(s->srv->store, s->c, "submission", s->tls_fingerprint, mech, login, account, result);
}

/* ---- TLS ---- */

static void
set_str(char **p, const char *v)
{
	free(*p);
	*p = v != NULL ? xstrdup(v) : NULL;
}

/* A client certificate was presented: is its public key registered to an
 * account that may log in? Then the session is authenticated (the
 * reference's submission needs no AUTH command then) and EXTERNAL is
 * offered. An unknown key is recorded as a failed attempt but, unlike in
 * the reference (which fails the TLS handshake), the connection goes on
 * unauthenticated and the limiter does not count it: a client that sends
 * some other certificate may still log in with a password, and a key
 * cannot be guessed (the handshake proves its private key). */
static void
tls_client_key(struct smtp_session *s)
{
	struct store_tlspubkey k;
	struct sasl_creds cr;
	const char *error, *result;
	int r;

	/* As the reference: no certificate logins from an address that
	 * failed too often. */
	if (smtp_auth_ratelimited(s)) {
		log_info(s->cid, "proto=smtp ev=auth mech=tlsclientauth fingerprint=%s "
			"result=ratelimited", lq(s->tls_fingerprint));
		return;
	}
	memset(&k, 0, sizeof(k));
	r = store_tlspubkey_lookup(s->srv->store, s->tls_fingerprint, &k, &error);
	if (r < 0) {
		log_error(s->cid, "proto=smtp ev=auth mech=tlsclientauth fingerprint=%s "
			"result=error err=%s", lq(s->tls_fingerprint), lq(error));
		return;
	}
	if (r == 0) {
		log_info(s->cid, "proto=smtp ev=auth mech=tlsclientauth fingerprint=%s "
			"result=badcreds reason=unknown-key", lq(s->tls_fingerprint));
		record_attempt(s, "tlsclientauth", "", NULL, "badcreds");
		return;
	}
	memset(&cr, 0, sizeof(cr));
	r = store_credentials_lookup(s->srv->store, k.login_address, &cr, &error);
	if (r < 0) {
		log_error(s->cid, "proto=smtp ev=auth mech=tlsclientauth fingerprint=%s "
			"result=error err=%s", lq(s->tls_fingerprint), lq(error));
		store_tlspubkey_free(&k);
		return;
	}
	if (r == 0 || cr.account_id != k.account_id) {
		/* The login address moved to another account, or is gone. */
		result = "badcreds";
	} else if (cr.login_disabled) {
		result = "logindisabled";
	} else {
		result = "ok";
		s->tls_account_id = k.account_id;
		set_str(&s->tls_login_address, k.login_address);
		s->authenticated = true;
		s->account_id = k.account_id;
		set_str(&s->account_name, cr.account_name);
		set_str(&s->username, k.login_address);
	}
	log_info(s->cid, "proto=smtp ev=auth mech=tlsclientauth user=%s account=%s "
		"fingerprint=%s result=%s", lq(k.login_address),
		lq(r > 0 ? cr.account_name : "-"), lq(s->tls_fingerprint), result);
	if (strcmp(result, "ok") == 0)
		count_success(s);
	else
		count_failure(s);
	record_attempt(s, "tlsclientauth", k.login_address, r > 0 ? cr.account_name : NULL,
		result);
	credentials_wipe(&cr.cr);
	store_tlspubkey_free(&k);
}

void
smtp_auth_tls_established(struct smtp_session *s)
{
	const char *error;
	struct buf fp;
	int i;

	/* RFC 5929 / RFC 9266: which channel bindings -PLUS can use here. */
	for (i = 0; i < SASL_CB_NTYPES; i++) {
		s->have_cb[i] = conn_tls_channel_binding(s->c, cb_names[i], &s->cb[i],
			&error) == 0 && s->cb[i].len > 0;
		if (!s->have_cb[i])
			buf_reset(&s->cb[i]);
	}
	if (!s->submission || !s->srv->listener->tls_client_auth)
		return;
	buf_init(&fp);
	if (conn_tls_client_pubkey(s->c, &fp, NULL) == 1 && fp.len > 0) {
		set_str(&s->tls_fingerprint, fp.data);
		tls_client_key(s);
	}
	buf_free(&fp);
}

static bool
have_any_cb(const struct smtp_session *s)
{
	int i;

	for (i = 0; i < SASL_CB_NTYPES; i++)
		if (s->have_cb[i])
			return true;
	return false;
}

/* RFC 4954 3: "AUTH" followed by the mechanisms (FEATURES.md order, from
 * sasl_mechanisms). Before TLS with submission_require_starttls, nothing:
 * no mechanism may be used yet. */
void
smtp_auth_ehlo_mechanisms(struct smtp_session *s, struct buf *out)
{
	if (!s->tls && s->srv->listener->submission_require_starttls)
		return;
	sasl_mechanisms(s->tls, have_any_cb(s), s->tls_account_id > 0, out);
}

/* ---- the AUTH command ---- */

/* RFC 4954 4:
 *   auth-command = "AUTH" SP sasl-mech [SP initial-response]
 *                  *(CRLF [base64]) [CRLF cancel-response] CRLF
 *   initial-response = base64 / "="
 *   cancel-response = "*"
 * RFC 4422 3.1: sasl-mech = 1*20mech-char,
 *   mech-char = UPPER-ALPHA / DIGIT / HYPHEN / UNDERSCORE
 * (compared case-insensitively, as clients send lower case too). */
static bool
is_mech_name(const char *p, size_t n)
{
	size_t i;

	if (n == 0 || n > 20)
		return false;
	for (i = 0; i < n; i++) {
		char c = p[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

int
smtp_check_auth(struct smtp_session *s, struct smtp_cmd *cmd)
{
	const char *a = cmd->line.args, *end = a + cmd->line.argslen, *sp;
	struct sasl_params p;
	size_t mlen;
	int i;

	sp = memchr(a, ' ', cmd->line.argslen);
	mlen = sp != NULL ? (size_t)(sp - a) : cmd->line.argslen;
	if (!is_mech_name(a, mlen)) {
		smtp_refuse(s, "501 5.5.4 syntax: AUTH mechanism [initial-response]");
		return -1;
	}
	/* RFC 4954 4: "After an AUTH command has been successfully completed,
	 * no more AUTH commands may be issued in the same session"; and AUTH
	 * is not permitted during a mail transaction. */
	if (s->sasl_done) {
		smtp_refuse(s, "503 5.5.1 already authenticated");
		return -1;
	}
	if (s->tx.active) {
		smtp_refuse(s, "503 5.5.1 AUTH not allowed during a mail transaction");
		return -1;
	}
	/* RFC 4954 6: 538 5.7.11 Encryption required for requested
	 * authentication mechanism. */
	if (!s->tls && s->srv->listener->submission_require_starttls) {
		smtp_refuse(s, "538 5.7.11 encryption required for authentication, "
			"use STARTTLS first");
		return -1;
	}
	if (sp != NULL) {
		/* Some clients (Windows Mail) send two spaces; accept any. */
		while (sp < end && *sp == ' ')
			sp++;
		if (sp == end) {
			smtp_refuse(s, "501 5.5.2 missing initial response after space");
			return -1;
		}
		cmd->u.auth.initial = xstrndup(sp, (size_t)(end - sp));
	}
	cmd->u.auth.mech = xstrndup(a, mlen);
	/* Too many failures from this address: do not even try (the
	 * reference's limiter, FEATURES.md section 5). */
	if (smtp_auth_ratelimited(s)) {
		smtp_reply(s, "454 4.7.0 too many authentication failures, try again later");
		(void)conn_flush(s->c);
		char *lower = xstrdup(cmd->u.auth.mech);

		ms_str_lower(lower);
		log_info(s->cid, "proto=smtp ev=auth mech=%s result=ratelimited", lq(lower));
		record_attempt(s, lower, "", NULL, "ratelimited");
		free(lower);
		return -1;
	}
	memset(&p, 0, sizeof(p));
	p.hostname = s->srv->hostname;
	p.tls = s->tls;
	for (i = 0; i < SASL_CB_NTYPES; i++) {
		if (s->have_cb[i]) {
			p.cb_data[i] = (const unsigned char *)s->cb[i].data;
			p.cb_len[i] = s->cb[i].len;
		}
	}
	p.external_account_id = s->tls_account_id;
	p.external_login_address = s->tls_login_address;
	p.secret = s->srv->sasl_secret;
	p.secret_len = s->srv->sasl_secret_len;
	p.lookup = store_sasl_lookup;
	p.lookup_ctx = s->srv->store;
	cmd->u.auth.sasl = sasl_server_new(cmd->u.auth.mech, &p);
	if (cmd->u.auth.sasl == NULL) {
		/* RFC 4954 4: 504 for a mechanism we do not support (or do
		 * not offer on this connection: -PLUS without channel
		 * binding, EXTERNAL without a registered certificate). */
		smtp_refuse(s, "504 5.5.4 mechanism not supported");
		log_info(s->cid, "proto=smtp ev=auth mech=%s result=unsupported",
			lq(cmd->u.auth.mech));
		return -1;
	}
	return 0;
}

/* Make an account's login_disabled text fit an SMTP reply line. */
static void
reply_text(struct buf *out, const char *msg)
{
	const unsigned char *p;

	for (p = (const unsigned char *)msg; *p != '\0' && out->len < 300; p++)
		buf_putc(out, *p < 0x20 || *p >= 0x7f ? '?' : (char)*p);
}

void
smtp_proceed_auth(struct smtp_session *s, struct smtp_cmd *cmd)
{
	struct sasl_server *ss = cmd->u.auth.sasl;
	struct buf out, enc, line, resp, msg;
	enum sasl_status st;
	const char *error = NULL, *result = NULL;
	bool count = true;
	int r;

	buf_init(&out);
	buf_init(&enc);
	buf_init(&line);
	buf_init(&resp);
	buf_init(&msg);
	if (cmd->u.auth.initial != NULL) {
		/* "=" is the empty initial response (sasl_decode_response). */
		if (sasl_decode_response(cmd->u.auth.initial, strlen(cmd->u.auth.initial),
			    &resp) < 0) {
			smtp_refuse(s, "501 5.5.2 invalid base64 in initial response");
			result = "badprotocol";
			goto done;
		}
		st = sasl_server_step(ss, resp.data, resp.len, &out, &error);
	} else {
		st = sasl_server_step(ss, NULL, 0, &out, &error);
	}
	buf_wipe(&resp);
	while (st == SASL_CONTINUE) {
		size_t n;

		buf_reset(&enc);
		ms_base64_encode(&enc, out.data, out.len);
		smtp_reply(s, "334 %s", enc.data);
		if (conn_flush(s->c) < 0)
			goto eof;
		r = conn_read_line(s->c, &line, SMTP_AUTH_LINE_MAX);
		if (r == -2) {
			/* RFC 4954 4: 500 5.5.6 Authentication Exchange line
			 * is too long. */
			smtp_refuse(s, "500 5.5.6 authentication exchange line is too long");
			result = "badprotocol";
			goto done;
		}
		if (r <= 0 || line.len == 0 || line.data[line.len - 1] != '\n')
			goto eof;
		n = line.len - 1;
		if (n > 0 && line.data[n - 1] == '\r')
			n--;
		/* RFC 4954 4: "*" cancels: 501. */
		if (n == 1 && line.data[0] == '*') {
			smtp_refuse(s, "501 5.0.0 authentication cancelled");
			result = "aborted";
			goto done;
		}
		if (sasl_decode_response(line.data, n, &resp) < 0) {
			buf_wipe(&line);
			smtp_refuse(s, "501 5.5.2 invalid base64 in response");
			result = "badprotocol";
			goto done;
		}
		buf_wipe(&line);
		st = sasl_server_step(ss, resp.data, resp.len, &out, &error);
		buf_wipe(&resp);
	}
	switch (st) {
	case SASL_OK:
		/* A registered client certificate already authenticated the
		 * session: AUTH may name another address, but of the same
		 * account (as in the reference). */
		if (s->authenticated && s->account_id != sasl_server_account(ss)) {
			sleep_ms(SMTP_AUTH_FAIL_DELAY_MS);
			smtp_refuse(s, "535 5.7.8 authentication failed, the TLS client "
				"certificate belongs to another account");
			result = "badcreds";
			error = "account differs from the TLS client certificate's";
			break;
		}
		s->authenticated = true;
		s->sasl_done = true;
		s->account_id = sasl_server_account(ss);
		set_str(&s->account_name, sasl_server_account_name(ss));
		set_str(&s->username, sasl_server_username(ss));
		result = "ok";
		count = false;
		count_success(s);
		smtp_reply(s, "235 2.7.0 authentication successful");
		break;
	case SASL_FAIL:
		if (out.len > 0) {
			/* A SCRAM server-error "e=..." (RFC 5802 7): send it as
			 * a challenge, as the reference does, and take the
			 * client's answer (normally "*") before failing. */
			buf_reset(&enc);
			ms_base64_encode(&enc, out.data, out.len);
			smtp_reply(s, "334 %s", enc.data);
			if (conn_flush(s->c) < 0)
				goto eof;
			r = conn_read_line(s->c, &line, SMTP_AUTH_LINE_MAX);
			buf_wipe(&line);
			if (r == 0 || r == -1)
				goto eof;
		}
		/* FEATURES.md: a failed authentication is answered after a
		 * delay, slowing down password guessing. */
		sleep_ms(SMTP_AUTH_FAIL_DELAY_MS);
		if (sasl_server_login_disabled(ss) != NULL) {
			/* RFC 5248 / IANA X.7.13 "User Account Disabled" (the
			 * reference's 525): the credentials were right, so a
			 * client should not ask for the password again. */
			buf_puts(&msg, "525 5.7.13 login disabled for this account");
			if (sasl_server_login_disabled(ss)[0] != '\0') {
				buf_puts(&msg, ": ");
				reply_text(&msg, sasl_server_login_disabled(ss));
			}
			smtp_refuse(s, msg.data);
		} else {
			smtp_refuse(s, "535 5.7.8 authentication credentials invalid");
		}
		break;
	case SASL_ERROR:
	default:
		/* Our fault (database down): no failure counted. */
		count = false;
		smtp_reply(s, "454 4.7.0 temporary authentication failure, try again later");
		break;
	}
	goto done;
eof:
	/* EOF, timeout or I/O error in the middle of the exchange. */
	result = sasl_server_result(ss)[0] != '\0' ? sasl_server_result(ss) : "aborted";
	s->quit = true;
	if (s->c->timed_out && conn_recover_timeout(s->c)) {
		smtp_reply(s, "421 4.4.2 %s timeout, closing connection", s->srv->hostname);
		s->c->failed = true;
	}
done:
	/* Our own outcome (syntax, cancel, account mismatch), else the
	 * state machine's. */
	if (result == NULL)
		result = sasl_server_result(ss)[0] != '\0' ? sasl_server_result(ss) : "error";
	if (strcmp(result, "ok") != 0 && count)
		count_failure(s);
	log_info(s->cid, "proto=smtp ev=auth mech=%s user=%s account=%s result=%s%s%s",
		sasl_server_mech(ss), lq(sasl_server_username(ss)),
		lq(strcmp(result, "ok") == 0 ? s->account_name : sasl_server_log_account(ss)),
		result, error != NULL ? " err=" : "", error != NULL ? lq(error) : "");
	(void)conn_flush(s->c);
	record_attempt(s, sasl_server_mech(ss), sasl_server_username(ss),
		strcmp(result, "ok") == 0 ? s->account_name : sasl_server_log_account(ss), result);
	buf_wipe(&out);
	buf_free(&out);
	buf_free(&enc);
	buf_wipe(&line);
	buf_free(&line);
	buf_wipe(&resp);
	buf_free(&resp);
	buf_free(&msg);
}

void
smtp_cleanup_auth(struct smtp_cmd *cmd)
{
	free(cmd->u.auth.mech);
	if (cmd->u.auth.initial != NULL) {
		explicit_bzero(cmd->u.auth.initial, strlen(cmd->u.auth.initial));
		free(cmd->u.auth.initial);
	}
	sasl_server_free(&cmd->u.auth.sasl);
}

void
smtp_auth_free(struct smtp_session *s)
{
	int i;

	free(s->account_name);
	free(s->username);
	free(s->tls_fingerprint);
	free(s->tls_login_address);
	s->account_name = s->username = s->tls_fingerprint = s->tls_login_address = NULL;
	for (i = 0; i < SASL_CB_NTYPES; i++)
		buf_free(&s->cb[i]);
}
