/* Commands valid in any state (CAPABILITY, NOOP, LOGOUT, ID), before
 * authentication (STARTTLS, LOGIN, AUTHENTICATE) and ENABLE (RFC 9051
 * 6.1-6.3.1). Authentication follows mailstead-smtpd's submission
 * (smtp_auth.c): the SASL mechanisms of lib/auth/sasl.h, TLS client
 * certificates (PREAUTH, EXTERNAL), the shared failed-login limiter with a
 * delay after each failure, and every attempt in login_attempts. Passwords
 * never reach a log line. */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/ratelimit.h"
#include "auth/sasl.h"
#include "core/log.h"
#include "core/util.h"
#include "net/tls.h"
#include "store/store.h"
#include "imap_session.h"

/* FEATURES.md section 2: "Delays: auth fail 1 s" (for IMAP as for SMTP). */
#define IMAP_AUTH_FAIL_DELAY_MS 1000

/* In the order of enum sasl_cb_type. */
static const char *const cb_names[SASL_CB_NTYPES] = { "tls-unique", "tls-exporter" };

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void
set_str(char **p, const char *v)
{
	free(*p);
	*p = v != NULL ? xstrdup(v) : NULL;
}

static bool
have_any_cb(const struct imap_session *s)
{
	int i;

	for (i = 0; i < SASL_CB_NTYPES; i++)
		if (s->have_cb[i])
			return true;
	return false;
}

/* Plain-text logins are refused before TLS when the listener says
 * imap_require_starttls (the default). */
static bool
logins_disabled(const struct imap_session *s)
{
	return !s->tls && s->lst->conf->imap_require_starttls;
}

/* Only what is implemented is announced; other extensions join with
 * their issues. */
void
imap_capabilities(struct imap_session *s, struct buf *out)
{
	struct buf mechs;
	const char *p, *sp;

	/* One extension per line (FEATURES.md section 3 order where it
	 * applies). */
	buf_puts(out, "IMAP4rev2 IMAP4rev1 LITERAL+ SASL-IR ENABLE ID IDLE NAMESPACE "
		"UNSELECT ESEARCH SPECIAL-USE CREATE-SPECIAL-USE LIST-EXTENDED LIST-STATUS "
		"STATUS=SIZE UIDPLUS MOVE CONDSTORE QRESYNC"
		" QUOTA QUOTA=RES-STORAGE"
		" METADATA LIST-METADATA"
		" NOTIFY"
		" UIDONLY"
		" MULTIAPPEND REPLACE BINARY UTF8=ACCEPT"
		" SORT SORT=DISPLAY THREAD=ORDEREDSUBJECT THREAD=REFERENCES"
		" SEARCHRES WITHIN SAVEDATE MULTISEARCH PREVIEW INPROGRESS"
		" COMPRESS=DEFLATE"
		);
	/* RFC 7889: one limit for all mailboxes, so with its value. */
	buf_printf(out, " APPENDLIMIT=%llu", (unsigned long long)imap_appendlimit(s));
	if (s->state != IMAP_NOTAUTH)
		return;
	/* RFC 9051 6.2.1: STARTTLS only before TLS and before login. */
	if (!s->tls && s->lst->tls != NULL)
		buf_puts(out, " STARTTLS");
	/* RFC 9051 6.2.3: LOGINDISABLED when plain-text login is not allowed
	 * on this connection; then no mechanism is offered either. */
	if (logins_disabled(s)) {
		buf_puts(out, " LOGINDISABLED");
		return;
	}
	/* FEATURES.md section 3 order (sasl_mechanisms): EXTERNAL first with
	 * a registered client certificate, -PLUS only with channel binding.
	 * IMAP does not announce LOGIN (the LOGIN command does its job). */
	buf_init(&mechs);
	sasl_mechanisms(s->tls, have_any_cb(s), s->tls_account_id > 0, &mechs);
	for (p = mechs.data; p != NULL && *p != '\0'; p = sp != NULL ? sp + 1 : NULL) {
		size_t n;

		sp = strchr(p, ' ');
		n = sp != NULL ? (size_t)(sp - p) : strlen(p);
		if (n == 5 && strncmp(p, "LOGIN", 5) == 0)
			continue;
		buf_puts(out, " AUTH=");
		buf_append(out, p, n);
	}
	buf_free(&mechs);
}

static bool
auth_allowed(struct imap_session *s, struct imap_cmd *cmd)
{
	if (!logins_disabled(s))
		return true;
	imap_reply(cmd, IMAP_NO, "[PRIVACYREQUIRED] Use TLS to log in (STARTTLS)");
	return false;
}

/* ---- failed-login limiter ---- */

bool
imap_auth_ratelimited(struct imap_session *s)
{
	return s->d->auth_failures != NULL &&
		!ratelimit_allow(s->d->auth_failures, s->c->remote_ip, ms_now(), 1);
}

static void
count_failure(struct imap_session *s)
{
	if (s->d->auth_failures != NULL)
		(void)ratelimit_add(s->d->auth_failures, s->c->remote_ip, ms_now(), 1);
}

static void
count_success(struct imap_session *s)
{
	if (s->d->auth_failures != NULL)
		ratelimit_reset(s->d->auth_failures, s->c->remote_ip, ms_now());
}

/* ---- login attempts ---- */

/* Record an attempt. Called after the reply was flushed, so a slow
 * database does not hold up the client's answer. */
static void
record_attempt(struct imap_session *s, const char *mech, const char *login,
	const char *account, const char *result)
{
	store_login_attempt_conn(s->d->store, s->c, "imap", s->tls_fingerprint, mech, login, account, result);
}

/* The session is authenticated from now on. */
static void
logged_in(struct imap_session *s, int64_t account_id, const char *account_name,
	const char *username)
{
	s->account_id = account_id;
	set_str(&s->account_name, account_name);
	set_str(&s->username, username);
	s->state = IMAP_AUTH;
	atomic_store(&s->waiter.account_id, account_id);
}

/* ---- TLS ---- */

/* A client certificate was presented: is its public key registered to an
 * account that may log in? Then EXTERNAL is offered, and with preauth (the
 * implicit TLS greeting; the reference's default unless the key has the
 * no-IMAP-preauth flag) the session is authenticated at once. As in
 * mailstead-smtpd, an unknown key is recorded as a failed attempt but the
 * connection goes on unauthenticated and the limiter does not count it.
 * Returns true when the session was logged in. */
static bool
tls_client_key(struct imap_session *s, bool allow_preauth)
{
	struct store_tlspubkey k;
	struct sasl_creds cr;
	const char *error, *result;
	bool preauth = false;
	int r;

	if (imap_auth_ratelimited(s)) {
		log_info(s->c->cid, "proto=imap ev=auth mech=tlsclientauth fingerprint=%s "
			"result=ratelimited", lq(s->tls_fingerprint));
		return false;
	}
	memset(&k, 0, sizeof(k));
	r = store_tlspubkey_lookup(s->d->store, s->tls_fingerprint, &k, &error);
	if (r < 0) {
		log_error(s->c->cid, "proto=imap ev=auth mech=tlsclientauth fingerprint=%s "
			"result=error err=%s", lq(s->tls_fingerprint), lq(error));
		return false;
	}
	if (r == 0) {
		log_info(s->c->cid, "proto=imap ev=auth mech=tlsclientauth fingerprint=%s "
			"result=badcreds reason=unknown-key", lq(s->tls_fingerprint));
		record_attempt(s, "tlsclientauth", "", NULL, "badcreds");
		return false;
	}
	memset(&cr, 0, sizeof(cr));
	r = store_credentials_lookup(s->d->store, k.login_address, &cr, &error);
	if (r < 0) {
		log_error(s->c->cid, "proto=imap ev=auth mech=tlsclientauth fingerprint=%s "
			"result=error err=%s", lq(s->tls_fingerprint), lq(error));
		store_tlspubkey_free(&k);
		return false;
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
		preauth = allow_preauth && !k.no_imap_preauth;
		if (preauth)
			logged_in(s, k.account_id, cr.account_name, k.login_address);
	}
	log_info(s->c->cid, "proto=imap ev=auth mech=tlsclientauth user=%s account=%s "
		"fingerprint=%s result=%s preauth=%s", lq(k.login_address),
		lq(r > 0 ? cr.account_name : "-"), lq(s->tls_fingerprint), result,
		preauth ? "yes" : "no");
	if (strcmp(result, "ok") != 0) {
		count_failure(s);
		record_attempt(s, "tlsclientauth", k.login_address,
			r > 0 ? cr.account_name : NULL, result);
	} else if (preauth) {
		/* Without preauth the login is recorded when EXTERNAL (or
		 * another mechanism) is used. */
		count_success(s);
		record_attempt(s, "tlsclientauth", k.login_address, cr.account_name, result);
	}
	credentials_wipe(&cr.cr);
	store_tlspubkey_free(&k);
	return preauth;
}

bool
imap_auth_tls_established(struct imap_session *s, bool allow_preauth)
{
	const char *error;
	struct buf fp;
	bool preauth = false;
	int i;

	/* RFC 5929 / RFC 9266: which channel bindings -PLUS can use here. */
	for (i = 0; i < SASL_CB_NTYPES; i++) {
		s->have_cb[i] = conn_tls_channel_binding(s->c, cb_names[i], &s->cb[i],
			&error) == 0 && s->cb[i].len > 0;
		if (!s->have_cb[i])
			buf_reset(&s->cb[i]);
	}
	if (!s->lst->conf->tls_client_auth)
		return false;
	buf_init(&fp);
	if (conn_tls_client_pubkey(s->c, &fp, NULL) == 1 && fp.len > 0) {
		set_str(&s->tls_fingerprint, fp.data);
		preauth = tls_client_key(s, allow_preauth);
	}
	buf_free(&fp);
	return preauth;
}

void
imap_auth_free(struct imap_session *s)
{
	int i;

	free(s->account_name);
	free(s->tls_fingerprint);
	free(s->tls_login_address);
	s->account_name = s->tls_fingerprint = s->tls_login_address = NULL;
	for (i = 0; i < SASL_CB_NTYPES; i++)
		buf_free(&s->cb[i]);
}

/* RFC 9051 6.2.1: starttls = "STARTTLS". "The server remains in the
 * non-authenticated state, even if client credentials are supplied during
 * the [TLS] negotiation", and "the client MUST discard cached information
 * about server capabilities" (we send none unasked). Pipelined input after
 * the command is thrown away (STARTTLS command injection). */
void
imap_cmd_starttls(struct imap_session *s, struct imap_cmd *cmd)
{
	const char *error;
	size_t discarded;

	if (cmd->nargs != 0) {
		imap_reply(cmd, IMAP_BAD, "STARTTLS takes no arguments");
		return;
	}
	if (s->tls) {
		imap_reply(cmd, IMAP_BAD, "TLS is already active");
		return;
	}
	if (s->lst->tls == NULL) {
		imap_reply(cmd, IMAP_BAD, "STARTTLS is not available on this listener");
		return;
	}
	(void)conn_printf(s->c, "%s OK Begin TLS negotiation now\r\n", cmd->tag);
	cmd->replied = true;
	/* conn_tls_accept drops what the connection buffered after the
	 * command (the parser reads that buffer in place). */
	if (conn_tls_accept_flags(s->c, s->lst->tls, CONN_TLS_STRICT_SNI, &error) < 0) {
		log_info(s->c->cid, "proto=imap ev=starttls result=failed err=%s", lq(error));
		s->state = IMAP_LOGOUT;
		return;
	}
	s->tls = true;
	discarded = conn_tls_discarded_plaintext(s->c);
	log_info(s->c->cid, "proto=imap ev=starttls result=ok version=%s cipher=%s sni=%s "
		"discarded=%zu", conn_tls_version_name(s->c), conn_tls_cipher_name(s->c),
		lq(conn_tls_sni(s->c) ? conn_tls_sni(s->c) : ""), discarded);
	if (discarded > 0)
		log_warn(s->c->cid, "proto=imap ev=starttls-injection bytes=%zu", discarded);
	/* No PREAUTH is possible here: a registered key offers EXTERNAL. */
	(void)imap_auth_tls_established(s, false);
}

void
imap_cmd_capability(struct imap_session *s, struct imap_cmd *cmd)
{
	struct buf b;

	if (cmd->nargs != 0) {
		imap_reply(cmd, IMAP_BAD, "CAPABILITY takes no arguments");
		return;
	}
	buf_init(&b);
	imap_capabilities(s, &b);
	imap_untagged(s, "CAPABILITY %s", b.data);
	buf_free(&b);
}

void
imap_cmd_noop(struct imap_session *s, struct imap_cmd *cmd)
{
	/* The dispatcher reports mailbox changes (CMDF_SYNC). */
	(void)s;
	if (cmd->nargs != 0)
		imap_reply(cmd, IMAP_BAD, "NOOP takes no arguments");
}

void
imap_cmd_logout(struct imap_session *s, struct imap_cmd *cmd)
{
	if (cmd->nargs != 0) {
		imap_reply(cmd, IMAP_BAD, "LOGOUT takes no arguments");
		return;
	}
	/* RFC 9051 6.1.3: BYE, then the tagged OK, then close. */
	imap_untagged(s, "BYE Logging out");
	imap_view_close(s);
	s->state = IMAP_LOGOUT;
}

/* RFC 2971: id ::= "ID" SPACE id_params_list;
 * id_params_list ::= "(" #(string SPACE nstring) ")" / nil */
void
imap_cmd_id(struct imap_session *s, struct imap_cmd *cmd)
{
	const struct imap_arg *list;
	const char *name = NULL, *version = NULL;
	size_t n = 0, i;
	struct buf b;

	if (cmd->nargs != 1 || (cmd->args[0].type != IMAP_ARG_NIL &&
		    !imap_arg_list(&cmd->args[0], &list, &n)) || n % 2 != 0 || n > 60) {
		imap_reply(cmd, IMAP_BAD, "Invalid ID parameters");
		return;
	}
	for (i = 0; i + 1 < n; i += 2) {
		const char *k, *v;

		if (!imap_arg_string(&list[i], &k, NULL) ||
		    !imap_arg_nstring(&list[i + 1], &v, NULL)) {
			imap_reply(cmd, IMAP_BAD, "Invalid ID parameters");
			return;
		}
		if (ms_strcaseeq(k, "name"))
			name = v;
		else if (ms_strcaseeq(k, "version"))
			version = v;
	}
	if (name != NULL || version != NULL)
		log_info(s->c->cid, "proto=imap ev=id client=%s version=%s",
			lq(name ? name : ""), lq(version ? version : ""));
	buf_init(&b);
	buf_puts(&b, "ID (\"name\" \"Mailstead\" \"version\" ");
	imap_buf_string(s, &b, PACKAGE_VERSION, strlen(PACKAGE_VERSION));
	buf_putc(&b, ')');
	imap_untagged(s, "%s", b.data);
	buf_free(&b);
}

/* RFC 5161 / RFC 9051 6.3.1: "ENABLE" 1*(SP capability); only before a
 * mailbox is selected. Unknown capabilities are ignored. */
void
imap_cmd_enable(struct imap_session *s, struct imap_cmd *cmd)
{
	struct buf b;
	unsigned before, listed = 0;
	size_t i;

	if (cmd->nargs == 0) {
		imap_reply(cmd, IMAP_BAD, "ENABLE needs capability names");
		return;
	}
	if (s->state == IMAP_SELECTED) {
		imap_reply(cmd, IMAP_BAD, "ENABLE is not allowed with a selected mailbox");
		return;
	}
	/* RFC 5161 3.1: the ENABLED response lists what this command newly
	 * enabled; QRESYNC implies CONDSTORE (RFC 7162 3.2.3), which is
	 * listed only when named. */
	before = s->enabled;
	buf_init(&b);
	buf_puts(&b, "ENABLED");
	for (i = 0; i < cmd->nargs; i++) {
		const char *capa;

		if (!imap_arg_atom(&cmd->args[i], &capa)) {
			imap_reply(cmd, IMAP_BAD, "Invalid capability name");
			buf_free(&b);
			return;
		}
		if (ms_strcaseeq(capa, "IMAP4rev2") && !(s->enabled & IMAP_EN_REV2)) {
			s->enabled |= IMAP_EN_REV2;
			buf_puts(&b, " IMAP4rev2");
		} else if (ms_strcaseeq(capa, "CONDSTORE") && !(before & IMAP_EN_CONDSTORE) &&
			   !(listed & IMAP_EN_CONDSTORE)) {
			s->enabled |= IMAP_EN_CONDSTORE;
			listed |= IMAP_EN_CONDSTORE;
			buf_puts(&b, " CONDSTORE");
		} else if (ms_strcaseeq(capa, "UIDONLY") && !(s->enabled & IMAP_EN_UIDONLY)) {
			s->enabled |= IMAP_EN_UIDONLY;
			buf_puts(&b, " UIDONLY");
		} else if (ms_strcaseeq(capa, "QRESYNC") && !(s->enabled & IMAP_EN_QRESYNC)) {
			s->enabled |= IMAP_EN_QRESYNC | IMAP_EN_CONDSTORE;
			buf_puts(&b, " QRESYNC");
		} else if (ms_strcaseeq(capa, "UTF8=ACCEPT") && !(s->enabled & IMAP_EN_UTF8)) {
			/* RFC 6855 section 3: UTF-8 mailbox names and
			 * strings from now on */
			s->enabled |= IMAP_EN_UTF8;
			buf_puts(&b, " UTF8=ACCEPT");
		}
	}
	imap_untagged(s, "%s", b.data);
	buf_free(&b);
}

/* ---- LOGIN and AUTHENTICATE ---- */

static struct sasl_server *
new_sasl(struct imap_session *s, const char *mech)
{
	struct sasl_params p;
	int i;

	memset(&p, 0, sizeof(p));
	p.hostname = s->lst->conf->hostname != NULL ? s->lst->conf->hostname
						     : s->d->conf->general.hostname;
	p.tls = s->tls;
	for (i = 0; i < SASL_CB_NTYPES; i++) {
		if (s->have_cb[i]) {
			p.cb_data[i] = (const unsigned char *)s->cb[i].data;
			p.cb_len[i] = s->cb[i].len;
		}
	}
	p.external_account_id = s->tls_account_id;
	p.external_login_address = s->tls_login_address;
	p.secret = s->d->sasl_secret;
	p.secret_len = s->d->sasl_secret_len;
	p.lookup = store_sasl_lookup;
	p.lookup_ctx = s->d->store;
	return sasl_server_new(mech, &p);
}

/* Send the tagged answer now, so the database write of the login attempt
 * does not hold it up. */
static void
reply_now(struct imap_session *s, struct imap_cmd *cmd)
{
	(void)conn_printf(s->c, "%s %s %s\r\n", cmd->tag,
		cmd->status == IMAP_OK ? "OK" : cmd->status == IMAP_NO ? "NO" : "BAD",
		cmd->reply.data);
	(void)conn_flush(s->c);
	cmd->replied = true;
}

/* Make an account's login_disabled text fit a response line. */
static void
reply_text(struct buf *out, const char *msg)
{
	const unsigned char *p;

	for (p = (const unsigned char *)msg; *p != '\0' && out->len < 300; p++)
		buf_putc(out, *p < 0x20 || *p >= 0x7f ? '?' : (char)*p);
}

/* Too many failures from this address: do not even try. */
static bool
refuse_ratelimited(struct imap_session *s, struct imap_cmd *cmd, const char *mech,
	const char *user)
{
	if (!imap_auth_ratelimited(s))
		return false;
	imap_reply(cmd, IMAP_NO, "[UNAVAILABLE] Too many authentication failures, "
		"try again later");
	reply_now(s, cmd);
	log_info(s->c->cid, "proto=imap ev=auth mech=%s user=%s result=ratelimited", mech,
		lq(user));
	record_attempt(s, mech, user, NULL, "ratelimited");
	return true;
}

/* Send a challenge ("+ " base64, RFC 9051 7.5) and read the client's line.
 * Returns 1 with the line (in the parser's arena), 0 when it was too long,
 * -1 when the connection is gone (then the session is over). */
static int
challenge(struct imap_session *s, struct imap_cmd *cmd, const struct buf *data,
	const char **line_r, size_t *len_r)
{
	enum imap_parse_result ev;
	enum imap_read r;
	struct buf enc;

	buf_init(&enc);
	buf_puts(&enc, "+ ");
	ms_base64_encode(&enc, data->data, data->len);
	buf_puts(&enc, "\r\n");
	imap_write(s, enc.data, enc.len);
	buf_free(&enc);
	imap_parser_want_line(s->parser);
	r = imap_session_read(s, false, &ev);
	if (r != IMAP_READ_EVENT) {
		/* Connection gone, timed out or shutting down. */
		if (r == IMAP_READ_TIMEOUT)
			imap_bye(s, "autologout; idle too long");
		else if (r == IMAP_READ_STOP)
			imap_bye(s, "Server shutting down");
		s->state = IMAP_LOGOUT;
		cmd->replied = true;
		return -1;
	}
	if (ev != IMAP_PARSE_LINE)
		return 0;
	*line_r = imap_parser_line(s->parser, len_r);
	return 1;
}

/*
 * Run a SASL exchange to its end and answer the command. in/inlen: the
 * decoded initial response (in == NULL: none). interactive: continuations
 * may be sent (AUTHENTICATE; not for LOGIN). mech: the name for logs and
 * login attempts.
 *
 * RFC 9051 6.2.2: "If the client wishes to cancel an authentication
 * exchange, it issues a line consisting of a single "*". If the server
 * receives such a response, or if it receives an invalid base64 string
 * [...], it MUST reject the AUTHENTICATE command by sending a tagged BAD
 * response."
 */
static void
exchange(struct imap_session *s, struct imap_cmd *cmd, struct sasl_server *ss,
	const char *in, size_t inlen, bool interactive, const char *mech)
{
	struct buf out, resp, msg;
	enum sasl_status st;
	const char *error = NULL, *result = NULL, *line;
	bool count = true;
	size_t linelen;
	int r;

	buf_init(&out);
	buf_init(&resp);
	buf_init(&msg);
	st = sasl_server_step(ss, in, inlen, &out, &error);
	while (st == SASL_CONTINUE) {
		if (!interactive) {
			imap_reply(cmd, IMAP_BAD, "Incomplete authentication exchange");
			result = "badprotocol";
			goto done;
		}
		r = challenge(s, cmd, &out, &line, &linelen);
		if (r < 0)
			goto eof;
		if (r == 0) {
			imap_reply(cmd, IMAP_BAD, "Authentication response too long");
			result = "badprotocol";
			goto done;
		}
		if (linelen == 1 && line[0] == '*') {
			imap_reply(cmd, IMAP_BAD, "Authentication cancelled");
			result = "aborted";
			goto done;
		}
		r = sasl_decode_response(line, linelen, &resp);
		explicit_bzero((char *)line, linelen);
		if (r < 0) {
			imap_reply(cmd, IMAP_BAD, "Invalid base64 in authentication response");
			result = "badprotocol";
			goto done;
		}
		st = sasl_server_step(ss, resp.data, resp.len, &out, &error);
		buf_wipe(&resp);
	}
	switch (st) {
	case SASL_OK:
		/* A registered client certificate was presented: another
		 * mechanism may name another address, but of the same account
		 * (as in the reference). */
		if (s->tls_account_id > 0 && s->tls_account_id != sasl_server_account(ss)) {
			sleep_ms(IMAP_AUTH_FAIL_DELAY_MS);
			imap_reply(cmd, IMAP_NO, "[AUTHENTICATIONFAILED] Authentication failed, "
				"the TLS client certificate belongs to another account");
			result = "badcreds";
			error = "account differs from the TLS client certificate's";
			break;
		}
		logged_in(s, sasl_server_account(ss), sasl_server_account_name(ss),
			sasl_server_username(ss));
		result = "ok";
		count = false;
		count_success(s);
		buf_reset(&msg);
		imap_capabilities(s, &msg);
		imap_reply(cmd, IMAP_OK, "[CAPABILITY %s] Logged in", msg.data);
		break;
	case SASL_FAIL:
		if (out.len > 0 && interactive) {
			/* A SCRAM server-error "e=..." (RFC 5802 7): sent as a
			 * challenge, as the reference does; the client's answer
			 * (normally "*") is read and dropped. */
			r = challenge(s, cmd, &out, &line, &linelen);
			if (r < 0)
				goto eof;
			if (r > 0)
				explicit_bzero((char *)line, linelen);
		}
		/* FEATURES.md: failures are answered after a delay, slowing
		 * down password guessing. */
		sleep_ms(IMAP_AUTH_FAIL_DELAY_MS);
		if (sasl_server_login_disabled(ss) != NULL) {
			/* RFC 5530 CONTACTADMIN: the credentials were right, a
			 * client should not ask for another password. */
			buf_puts(&msg, "Login disabled for this account");
			if (sasl_server_login_disabled(ss)[0] != '\0') {
				buf_puts(&msg, ": ");
				reply_text(&msg, sasl_server_login_disabled(ss));
			}
			imap_reply(cmd, IMAP_NO, "[CONTACTADMIN] %s", msg.data);
		} else {
			imap_reply(cmd, IMAP_NO, "[AUTHENTICATIONFAILED] Authentication failed");
		}
		break;
	case SASL_ERROR:
	default:
		/* Our fault (database down): no failure counted. */
		count = false;
		imap_reply(cmd, IMAP_NO, "[UNAVAILABLE] Temporary failure, try again later");
		break;
	}
	goto done;
eof:
	result = sasl_server_result(ss)[0] != '\0' ? sasl_server_result(ss) : "aborted";
done:
	if (result == NULL)
		result = sasl_server_result(ss)[0] != '\0' ? sasl_server_result(ss) : "error";
	if (strcmp(result, "ok") != 0 && count)
		count_failure(s);
	log_info(s->c->cid, "proto=imap ev=auth mech=%s user=%s account=%s result=%s%s%s",
		mech, lq(sasl_server_username(ss)),
		lq(strcmp(result, "ok") == 0 ? s->account_name : sasl_server_log_account(ss)),
		result, error != NULL ? " err=" : "", error != NULL ? lq(error) : "");
	if (!cmd->replied)
		reply_now(s, cmd);
	record_attempt(s, mech, sasl_server_username(ss),
		strcmp(result, "ok") == 0 ? s->account_name : sasl_server_log_account(ss), result);
	buf_wipe(&out);
	buf_free(&out);
	buf_wipe(&resp);
	buf_free(&resp);
	buf_free(&msg);
}

/* RFC 9051 6.2.3: login = "LOGIN" SP userid SP password
 * (userid = astring, password = astring). Verified as SASL PLAIN, so
 * disabled accounts, the limiter and login attempts work as for
 * AUTHENTICATE. */
void
imap_cmd_login(struct imap_session *s, struct imap_cmd *cmd)
{
	struct sasl_server *ss;
	const char *user, *pass;
	size_t userlen, passlen;
	struct buf msg;

	if (cmd->nargs != 2 || !imap_arg_astring(&cmd->args[0], &user, &userlen) ||
	    !imap_arg_astring(&cmd->args[1], &pass, &passlen)) {
		imap_reply(cmd, IMAP_BAD, "Usage: LOGIN user password");
		return;
	}
	if (!auth_allowed(s, cmd) || refuse_ratelimited(s, cmd, "login", user) ||
	    (ss = new_sasl(s, "PLAIN")) == NULL) {
		explicit_bzero((char *)pass, passlen);
		return;
	}
	/* PLAIN message: NUL authcid NUL password (RFC 4616). */
	buf_init(&msg);
	buf_putc(&msg, '\0');
	buf_append(&msg, user, userlen);
	buf_putc(&msg, '\0');
	buf_append(&msg, pass, passlen);
	/* The password lives in the parser's arena until the next command. */
	explicit_bzero((char *)pass, passlen);
	exchange(s, cmd, ss, msg.data, msg.len, false, "login");
	buf_wipe(&msg);
	buf_free(&msg);
	sasl_server_free(&ss);
}

/*
 * RFC 9051 6.2.2 and RFC 4959 (SASL-IR):
 *   authenticate = "AUTHENTICATE" SP auth-type [SP initial-resp]
 *                  *(CRLF base64)
 *   auth-type    = atom
 *   initial-resp = (base64 / "=")
 */
void
imap_cmd_authenticate(struct imap_session *s, struct imap_cmd *cmd)
{
	struct sasl_server *ss;
	const char *mech, *resp = NULL;
	size_t resplen = 0;
	struct buf decoded, lower;

	if (cmd->nargs < 1 || cmd->nargs > 2 || !imap_arg_atom(&cmd->args[0], &mech) ||
	    strlen(mech) > 20) {
		imap_reply(cmd, IMAP_BAD, "Usage: AUTHENTICATE mechanism [initial-response]");
		return;
	}
	if (cmd->nargs == 2) {
		if (!imap_arg_atom(&cmd->args[1], &resp)) {
			imap_reply(cmd, IMAP_BAD, "Invalid initial response");
			return;
		}
		resplen = cmd->args[1].len;
	}
	buf_init(&lower);
	buf_puts(&lower, mech);
	ms_str_lower(lower.data);
	if (!auth_allowed(s, cmd) || refuse_ratelimited(s, cmd, lower.data, "")) {
		buf_free(&lower);
		return;
	}
	ss = new_sasl(s, mech);
	if (ss == NULL) {
		/* Unknown, or not offered on this connection (-PLUS without
		 * channel binding, EXTERNAL without a registered key). */
		log_info(s->c->cid, "proto=imap ev=auth mech=%s result=unsupported",
			lq(lower.data));
		imap_reply(cmd, IMAP_NO, "Unsupported authentication mechanism");
		buf_free(&lower);
		return;
	}
	buf_init(&decoded);
	if (resp == NULL) {
		exchange(s, cmd, ss, NULL, 0, true, sasl_server_mech(ss));
	} else if (sasl_decode_response(resp, resplen, &decoded) < 0) {
		imap_reply(cmd, IMAP_BAD, "Invalid base64 in initial response");
		reply_now(s, cmd);
		count_failure(s);
		log_info(s->c->cid, "proto=imap ev=auth mech=%s result=badprotocol",
			sasl_server_mech(ss));
		record_attempt(s, sasl_server_mech(ss), "", NULL, "badprotocol");
	} else {
		exchange(s, cmd, ss, decoded.data, decoded.len, true, sasl_server_mech(ss));
	}
	if (resp != NULL)
		explicit_bzero((char *)resp, resplen);
	buf_wipe(&decoded);
	buf_free(&decoded);
	buf_free(&lower);
	sasl_server_free(&ss);
}
