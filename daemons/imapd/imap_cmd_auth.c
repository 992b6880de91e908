/* Commands valid in any state (CAPABILITY, NOOP, LOGOUT, ID), before
 * authentication (LOGIN, AUTHENTICATE) and ENABLE (RFC 9051 6.1-6.3.1). */
#include "config.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/sasl.h"
#include "core/log.h"
#include "core/util.h"
#include "imap_session.h"

/* Only what is implemented is announced. STARTTLS, AUTH=SCRAM-*, CONDSTORE,
 * QRESYNC, MOVE, UIDPLUS, SPECIAL-USE, ... join with their issues. */
void
imap_capabilities(struct imap_session *s, struct buf *out)
{
	buf_puts(out, "IMAP4rev2 IMAP4rev1 LITERAL+ SASL-IR ENABLE ID IDLE NAMESPACE "
		"UNSELECT ESEARCH");
	if (s->state == IMAP_NOTAUTH) {
		/* RFC 9051 6.2.3: LOGINDISABLED when plain-text login is
		 * not allowed on this connection. */
		if (s->tls || s->d->plaintext_auth)
			buf_puts(out, " AUTH=PLAIN");
		else
			buf_puts(out, " LOGINDISABLED");
	}
}

static bool
auth_allowed(struct imap_session *s, struct imap_cmd *cmd)
{
	if (s->tls || s->d->plaintext_auth)
		return true;
	imap_reply(cmd, IMAP_NO, "[PRIVACYREQUIRED] Use TLS to log in");
	return false;
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
	size_t i;

	if (cmd->nargs == 0) {
		imap_reply(cmd, IMAP_BAD, "ENABLE needs capability names");
		return;
	}
	if (s->state == IMAP_SELECTED) {
		imap_reply(cmd, IMAP_BAD, "ENABLE is not allowed with a selected mailbox");
		return;
	}
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
		}
	}
	imap_untagged(s, "%s", b.data);
	buf_free(&b);
}

/* Common end of LOGIN and AUTHENTICATE. */
static void
login_done(struct imap_session *s, struct imap_cmd *cmd, const char *mech,
	const char *user, const char *password)
{
	const char *error;
	int64_t account_id = 0;
	struct buf caps;
	int r;

	r = store_login(s->d->store, user, password, &account_id, &error);
	if (r < 0) {
		log_error(s->c->cid, "proto=imap ev=login mech=%s user=%s result=error "
			"error=%s", mech, lq(user), lq(error));
		imap_reply(cmd, IMAP_NO, "[UNAVAILABLE] Temporary failure, try again later");
		return;
	}
	if (r == 0) {
		log_info(s->c->cid, "proto=imap ev=login mech=%s user=%s result=fail "
			"remote=%s", mech, lq(user), lq(s->c->remote_ip));
		/* Slow down password guessing. */
		sleep(1);
		imap_reply(cmd, IMAP_NO, "[AUTHENTICATIONFAILED] Authentication failed");
		return;
	}
	log_info(s->c->cid, "proto=imap ev=login mech=%s user=%s result=ok", mech,
		lq(user));
	s->account_id = account_id;
	free(s->username);
	s->username = xstrdup(user);
	s->state = IMAP_AUTH;
	atomic_store(&s->waiter.account_id, account_id);
	buf_init(&caps);
	imap_capabilities(s, &caps);
	imap_reply(cmd, IMAP_OK, "[CAPABILITY %s] Logged in", caps.data);
	buf_free(&caps);
}

/* RFC 9051 6.2.3: login = "LOGIN" SP userid SP password
 * (userid = astring, password = astring). */
void
imap_cmd_login(struct imap_session *s, struct imap_cmd *cmd)
{
	const char *user, *pass;
	size_t passlen;

	if (cmd->nargs != 2 || !imap_arg_astring(&cmd->args[0], &user, NULL) ||
	    !imap_arg_astring(&cmd->args[1], &pass, &passlen)) {
		imap_reply(cmd, IMAP_BAD, "Usage: LOGIN user password");
		return;
	}
	if (auth_allowed(s, cmd))
		login_done(s, cmd, "login", user, pass);
	/* The password lives in the parser's arena until the next command. */
	explicit_bzero((char *)pass, passlen);
}

/* SASL PLAIN (RFC 4616) on decoded bytes. */
static void
auth_plain(struct imap_session *s, struct imap_cmd *cmd, const struct buf *msg)
{
	struct buf authz, authc, pass;
	const char *error;

	buf_init(&authz);
	buf_init(&authc);
	buf_init(&pass);
	if (sasl_plain_parse(msg->data, msg->len, &authz, &authc, &pass, &error) < 0) {
		imap_reply(cmd, IMAP_BAD, "Malformed PLAIN response: %s", error);
	} else if (authz.len > 0 && strcmp(authz.data, authc.data) != 0) {
		log_info(s->c->cid, "proto=imap ev=login mech=plain user=%s result=fail "
			"reason=authzid", lq(authc.data));
		imap_reply(cmd, IMAP_NO,
			"[AUTHORIZATIONFAILED] Authorization as another user is not supported");
	} else {
		login_done(s, cmd, "plain", authc.data, pass.data);
	}
	buf_wipe(&pass);
	buf_free(&pass);
	buf_free(&authz);
	buf_free(&authc);
}

/*
 * RFC 9051 6.2.2 and RFC 4959 (SASL-IR):
 *   authenticate = "AUTHENTICATE" SP auth-type [SP initial-resp]
 *                  *(CRLF base64)
 *   initial-resp = (base64 / "=")
 * "If the client wishes to cancel an authentication exchange, it issues a
 * line consisting of a single "*". If the server receives such a response,
 * or if it receives an invalid base64 string [...], it MUST reject the
 * AUTHENTICATE command by sending a tagged BAD response."
 */
void
imap_cmd_authenticate(struct imap_session *s, struct imap_cmd *cmd)
{
	const char *mech, *resp;
	size_t resplen;
	struct buf decoded;

	if (cmd->nargs < 1 || cmd->nargs > 2 || !imap_arg_atom(&cmd->args[0], &mech)) {
		imap_reply(cmd, IMAP_BAD, "Usage: AUTHENTICATE mechanism [initial-response]");
		return;
	}
	if (!ms_strcaseeq(mech, "PLAIN")) {
		imap_reply(cmd, IMAP_NO, "Unsupported authentication mechanism");
		return;
	}
	if (!auth_allowed(s, cmd))
		return;
	if (cmd->nargs == 2) {
		if (!imap_arg_atom(&cmd->args[1], &resp)) {
			imap_reply(cmd, IMAP_BAD, "Invalid initial response");
			return;
		}
		resplen = cmd->args[1].len;
	} else {
		enum imap_parse_result ev;
		enum imap_read r;

		imap_write(s, "+ \r\n", 4);
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
			return;
		}
		if (ev != IMAP_PARSE_LINE) {
			imap_reply(cmd, IMAP_BAD, "Authentication response too long");
			return;
		}
		resp = imap_parser_line(s->parser, &resplen);
	}
	if (resplen == 1 && resp[0] == '*') {
		imap_reply(cmd, IMAP_BAD, "Authentication cancelled");
		return;
	}
	buf_init(&decoded);
	if (sasl_decode_response(resp, resplen, &decoded) < 0)
		imap_reply(cmd, IMAP_BAD, "Invalid base64 in authentication response");
	else
		auth_plain(s, cmd, &decoded);
	buf_wipe(&decoded);
	buf_free(&decoded);
	explicit_bzero((char *)resp, resplen);
}
