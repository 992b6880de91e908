/* SMTP client I/O: connecting (optionally through SOCKS5), reading
 * replies, EHLO, STARTTLS, AUTH and the mail transaction with PIPELINING.
 * See smtpclient.h for the contract. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/conf.h"
#include "core/log.h"
#include "core/util.h"
#include "smtpclient.h"

static void
set_error(struct smtpc *c, bool permanent, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
set_error(struct smtpc *c, bool permanent, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
	c->permanent = permanent;
}

/* ---- connecting ---- */

/* Non-blocking connect with a timeout; the socket is blocking afterwards
 * (conn.c polls before each read and write). */
static int
tcp_connect(const char *ip, unsigned port, int connect_ms, const char **error_r)
{
	struct sockaddr_storage ss;
	socklen_t slen;
	struct pollfd pfd;
	int fd, fl, err = 0, r;
	socklen_t elen = sizeof(err);

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, ip, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
		slen = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, ip, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
		slen = sizeof(struct sockaddr_in6);
	} else {
		*error_r = ms_err("not an IP address: %s", ip);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		*error_r = ms_err("socket: %s", strerror(errno));
		return -1;
	}
	r = connect(fd, (struct sockaddr *)&ss, slen);
	if (r < 0 && errno != EINPROGRESS) {
		*error_r = ms_err("connect %s port %u: %s", ip, port, strerror(errno));
		close(fd);
		return -1;
	}
	if (r < 0) {
		pfd.fd = fd;
		pfd.events = POLLOUT;
		do
			r = poll(&pfd, 1, connect_ms);
		while (r < 0 && errno == EINTR);
		if (r == 0) {
			*error_r = ms_err("connect %s port %u: timeout", ip, port);
			close(fd);
			return -1;
		}
		if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err != 0) {
			*error_r = ms_err("connect %s port %u: %s", ip, port,
				strerror(err ? err : errno));
			close(fd);
			return -1;
		}
	}
	fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		(void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	{
		int one = 1;

		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	return fd;
}

/* RFC 1928: no authentication (method 0), CONNECT to an IPv4/IPv6
 * address. */
static int
socks5_connect(struct smtpc *c, const char *ip, unsigned port)
{
	unsigned char req[32], rep[32];
	struct buf in;
	size_t n = 0;
	int rc = -1;

	buf_init(&in);
	req[0] = 5;
	req[1] = 1;
	req[2] = 0;
	if (conn_write(&c->conn, req, 3) < 0 || conn_flush(&c->conn) < 0 ||
	    conn_read_exact(&c->conn, &in, 2) < 0) {
		set_error(c, false, "socks: proxy connection failed");
		goto out;
	}
	if ((unsigned char)in.data[0] != 5 || in.data[1] != 0) {
		set_error(c, false, "socks: proxy wants authentication we do not have");
		goto out;
	}
	req[n++] = 5;
	req[n++] = 1;	/* CONNECT */
	req[n++] = 0;
	if (inet_pton(AF_INET, ip, req + 4) == 1) {
		req[n++] = 1;
		n += 4;
	} else if (inet_pton(AF_INET6, ip, req + 4) == 1) {
		req[n++] = 4;
		n += 16;
	} else {
		set_error(c, false, "socks: bad address %s", ip);
		goto out;
	}
	req[n++] = (unsigned char)(port >> 8);
	req[n++] = (unsigned char)(port & 0xff);
	buf_reset(&in);
	if (conn_write(&c->conn, req, n) < 0 || conn_flush(&c->conn) < 0 ||
	    conn_read_exact(&c->conn, &in, 4) < 0) {
		set_error(c, false, "socks: proxy connection failed");
		goto out;
	}
	memcpy(rep, in.data, 4);
	if (rep[0] != 5 || rep[1] != 0) {
		set_error(c, false, "socks: proxy could not connect to %s port %u (reply %u)",
			ip, port, rep[1]);
		goto out;
	}
	/* The bound address that follows: skip it. */
	n = rep[3] == 1 ? 4 + 2 : rep[3] == 4 ? 16 + 2 : 0;
	if (rep[3] == 3) {
		buf_reset(&in);
		if (conn_read_exact(&c->conn, &in, 1) < 0) {
			set_error(c, false, "socks: short reply");
			goto out;
		}
		n = (unsigned char)in.data[0] + 2u;
	}
	buf_reset(&in);
	if (n == 0 || conn_read_exact(&c->conn, &in, n) < 0) {
		set_error(c, false, "socks: bad reply");
		goto out;
	}
	rc = 0;
out:
	buf_free(&in);
	return rc;
}

int
smtpc_connect(struct smtpc *c, const char *host, const char *ip, unsigned port,
	const char *socks, int connect_ms, int timeout_ms)
{
	const char *error;
	int fd;

	memset(c, 0, sizeof(*c));
	c->conn.fd = -1;
	smtpc_reply_init(&c->reply);
	buf_init(&c->line);
	buf_init(&c->conn.wbuf);
	ms_strlcpy(c->host, host, sizeof(c->host));
	ms_strlcpy(c->ip, ip, sizeof(c->ip));
	if (socks != NULL && socks[0] != '\0') {
		char *sh;
		unsigned sp;

		if (conf_split_hostport(socks, &sh, &sp) < 0) {
			set_error(c, false, "bad socks address %s", socks);
			return -1;
		}
		fd = tcp_connect(sh, sp, connect_ms, &error);
		free(sh);
		if (fd < 0) {
			set_error(c, false, "socks proxy: %s", error);
			return -1;
		}
		buf_free(&c->conn.wbuf);
		conn_init(&c->conn, fd, timeout_ms);
		return socks5_connect(c, ip, port);
	}
	fd = tcp_connect(ip, port, connect_ms, &error);
	if (fd < 0) {
		set_error(c, false, "%s", error);
		return -1;
	}
	buf_free(&c->conn.wbuf);
	conn_init(&c->conn, fd, timeout_ms);
	return 0;
}

/* ---- replies ---- */

/* Read one reply into c->reply, line by line. Returns its code, or 0 on
 * I/O errors and malformed replies (c->error set). */
static int
read_reply(struct smtpc *c, const char *stage)
{
	struct buf acc, line;
	const char *error;
	int code = 0;

	buf_init(&acc);
	buf_init(&line);
	for (;;) {
		size_t used;
		int r = conn_read_line(&c->conn, &line, SMTPC_MAX_LINE);

		if (r == -2) {
			set_error(c, false, "%s: reply line too long from %s", stage, c->host);
			c->conn.failed = true;
			break;
		}
		if (r <= 0) {
			set_error(c, false, "%s: %s from %s", stage,
				c->conn.timed_out ? "timeout waiting for reply" : "connection closed",
				c->host);
			c->conn.failed = true;
			break;
		}
		buf_append(&acc, line.data, line.len);
		r = smtpc_reply_parse(acc.data, acc.len, &c->reply, &used, &error);
		if (r == 1) {
			code = c->reply.code;
			break;
		}
		if (r < 0 || acc.len > SMTPC_MAX_REPLY) {
			set_error(c, false, "%s: %s from %s", stage, r < 0 ? error : "reply too long",
				c->host);
			c->conn.failed = true;
			break;
		}
	}
	buf_free(&acc);
	buf_free(&line);
	return code;
}

/* The last reply as error text "stage: code secode text (host)". */
static void
reply_error(struct smtpc *c, const char *stage)
{
	struct buf e;

	buf_init(&e);
	smtpc_reply_format(&e, c->reply.code, c->reply.secode, c->reply.text.data);
	set_error(c, c->reply.code >= 500, "%s: %s (%s)", stage, e.data, c->host);
	buf_free(&e);
}

static int
command(struct smtpc *c, const char *stage, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
command(struct smtpc *c, const char *stage, const char *fmt, ...)
{
	va_list ap;

	buf_reset(&c->line);
	va_start(ap, fmt);
	buf_vprintf(&c->line, fmt, ap);
	va_end(ap);
	buf_puts(&c->line, "\r\n");
	if (conn_write(&c->conn, c->line.data, c->line.len) < 0 || conn_flush(&c->conn) < 0) {
		set_error(c, false, "%s: write failed to %s", stage, c->host);
		return 0;
	}
	return read_reply(c, stage);
}

/* ---- session ---- */

int
smtpc_hello(struct smtpc *c, const char *name, bool greeting)
{
	int code;

	if (greeting) {
		code = read_reply(c, "greeting");
		if (code == 0)
			return -1;
		if (code != 220) {
			reply_error(c, "greeting");
			return -1;
		}
	}
	code = command(c, "ehlo", "EHLO %s", name);
	if (code == 250) {
		smtpc_ehlo_parse(c->reply.text.data, c->reply.text.len, &c->ext);
		return 0;
	}
	if (code >= 500) {
		code = command(c, "helo", "HELO %s", name);
		if (code == 250) {
			memset(&c->ext, 0, sizeof(c->ext));
			return 0;
		}
	}
	if (code != 0)
		reply_error(c, "ehlo");
	return -1;
}

int
smtpc_tls_now(struct smtpc *c, const struct tls_client_params *tp,
	struct tls_client_result *tr)
{
	const char *error;

	if (conn_tls_connect(&c->conn, tp, tr, &error) < 0) {
		set_error(c, false, "%s (%s)", error, c->host);
		return -1;
	}
	c->tls = true;
	c->tls_verified = tr->verified;
	return 0;
}

int
smtpc_starttls(struct smtpc *c, const struct tls_client_params *tp,
	struct tls_client_result *tr, const char *name)
{
	int code = command(c, "starttls", "STARTTLS");

	if (code == 0)
		return -1;
	if (code != 220) {
		reply_error(c, "starttls");
		return -1;
	}
	if (smtpc_tls_now(c, tp, tr) < 0)
		return -1;
	/* RFC 3207 4.2: forget what we knew, ask again. */
	return smtpc_hello(c, name, false);
}

int
smtpc_auth(struct smtpc *c, const char *mech, smtpc_sasl_step *step, void *arg)
{
	struct buf resp, enc, dec;
	const char *error;
	int code, r, rc = -1;
	bool done = false;

	buf_init(&resp);
	buf_init(&enc);
	buf_init(&dec);
	r = step(arg, "", 0, &resp, &error);
	if (r < 0) {
		set_error(c, true, "auth: %s", error);
		goto out;
	}
	/* No initial response (CRAM-MD5): the server speaks first. */
	if (resp.len > 0) {
		ms_base64_encode(&enc, resp.data, resp.len);
		code = command(c, "auth", "AUTH %s %s", mech, enc.data);
	} else {
		code = command(c, "auth", "AUTH %s", mech);
	}
	buf_wipe(&enc);
	buf_wipe(&resp);
	while (code == 334) {
		buf_reset(&dec);
		if (ms_base64_decode(&dec, c->reply.text.data, c->reply.text.len) < 0) {
			(void)command(c, "auth", "*");
			set_error(c, false, "auth: bad base64 challenge from %s", c->host);
			goto out;
		}
		buf_reset(&resp);
		r = step(arg, dec.data, dec.len, &resp, &error);
		done = r == 1;
		if (r < 0) {
			(void)command(c, "auth", "*");
			set_error(c, true, "auth: %s (%s)", error, c->host);
			goto out;
		}
		buf_reset(&enc);
		if (resp.len > 0)
			ms_base64_encode(&enc, resp.data, resp.len);
		code = command(c, "auth", "%s", enc.data);
		buf_wipe(&enc);
		buf_wipe(&resp);
	}
	if (code == 0)
		goto out;
	if (code != 235) {
		reply_error(c, "auth");
		goto out;
	}
	/* SCRAM: the server's final message came with 235 (RFC 4954 4). */
	if (!done && c->reply.text.len > 0 && ms_startswith_ci(mech, "SCRAM-")) {
		buf_reset(&dec);
		if (ms_base64_decode(&dec, c->reply.text.data, strcspn(c->reply.text.data, " ")) == 0 &&
		    dec.len > 0 && dec.data[0] == 'v') {
			buf_reset(&resp);
			if (step(arg, dec.data, dec.len, &resp, &error) < 0) {
				set_error(c, true, "auth: %s (%s)", error, c->host);
				goto out;
			}
		}
	}
	rc = 0;
out:
	buf_wipe(&resp);
	buf_free(&resp);
	buf_free(&enc);
	buf_wipe(&dec);
	buf_free(&dec);
	return rc;
}

/* ---- the transaction ---- */

/* Write the message with dot-stuffing (RFC 5321 4.5.2) and the final
 * ".". The message has CRLF line endings already. */
static int
write_dotted(struct smtpc *c, const char *s, size_t n, bool *bol)
{
	size_t i, start = 0;

	for (i = 0; i < n; i++) {
		if (*bol && s[i] == '.') {
			if (conn_write(&c->conn, s + start, i - start) < 0 ||
			    conn_write(&c->conn, ".", 1) < 0)
				return -1;
			start = i;
		}
		*bol = s[i] == '\n';
	}
	return conn_write(&c->conn, s + start, n - start);
}

static void
rcpt_set(struct smtpc_rcpt_result *r, const struct smtpc_reply *rep, bool ok)
{
	r->code = rep->code;
	ms_strlcpy(r->secode, rep->secode, sizeof(r->secode));
	ms_strlcpy(r->text, rep->text.data ? rep->text.data : "", sizeof(r->text));
	r->ok = ok;
}

static void
rcpt_fail_all(struct smtpc *c, const struct smtpc_tx *tx, struct smtpc_rcpt_result *res,
	bool only_accepted)
{
	size_t i;

	for (i = 0; i < tx->nrcpts; i++) {
		if (only_accepted && !res[i].ok && res[i].code != 0)
			continue;
		res[i].ok = false;
		res[i].code = c->reply.code > 0 && !c->conn.failed ? c->reply.code :
			c->permanent ? 550 : 0;
		ms_strlcpy(res[i].secode, c->reply.code > 0 && !c->conn.failed ?
			c->reply.secode : "", sizeof(res[i].secode));
		ms_strlcpy(res[i].text, c->error, sizeof(res[i].text));
	}
}

int
smtpc_deliver(struct smtpc *c, const struct smtpc_tx *tx, struct smtpc_rcpt_result *res)
{
	struct buf mail;
	size_t i, naccepted = 0;
	int code;
	bool pipe = c->ext.pipelining, bol = true;
	uint64_t size = tx->prefix_len + tx->body_len;

	memset(res, 0, tx->nrcpts * sizeof(*res));
	/* What the server must support, checked before saying anything. */
	if (tx->smtputf8 && !c->ext.smtputf8) {
		set_error(c, true, "remote server %s does not support SMTPUTF8, needed for this "
			"message (5.6.7)", c->host);
		rcpt_fail_all(c, tx, res, false);
		return -1;
	}
	if (tx->has_8bit && !c->ext.eightbitmime) {
		set_error(c, true, "remote server %s does not support 8BITMIME, needed for this "
			"message (5.6.3)", c->host);
		rcpt_fail_all(c, tx, res, false);
		return -1;
	}
	if (c->ext.has_size && c->ext.size > 0 && size > c->ext.size) {
		set_error(c, true, "message of %llu bytes is larger than the %llu bytes remote "
			"server %s accepts (5.3.4)", (unsigned long long)size,
			(unsigned long long)c->ext.size, c->host);
		rcpt_fail_all(c, tx, res, false);
		return -1;
	}
	if (tx->requiretls && (!c->tls_verified || !c->ext.requiretls)) {
		set_error(c, true, "REQUIRETLS: remote server %s %s (5.7.30)", c->host,
			!c->tls_verified ? "has no verified TLS" : "does not support REQUIRETLS");
		rcpt_fail_all(c, tx, res, false);
		return -1;
	}

	buf_init(&mail);
	buf_printf(&mail, "MAIL FROM:<%s>", tx->mailfrom);
	if (c->ext.has_size)
		buf_printf(&mail, " SIZE=%llu", (unsigned long long)size);
	if (tx->has_8bit)
		buf_puts(&mail, " BODY=8BITMIME");
	if (tx->smtputf8)
		buf_puts(&mail, " SMTPUTF8");
	if (tx->requiretls)
		buf_puts(&mail, " REQUIRETLS");
	buf_puts(&mail, "\r\n");
	if (conn_write(&c->conn, mail.data, mail.len) < 0)
		goto ioerr;
	buf_free(&mail);
	if (!pipe) {
		if (conn_flush(&c->conn) < 0)
			goto ioerr;
		code = read_reply(c, "mail");
		if (code == 0)
			goto ioerr;
		if (code != 250) {
			reply_error(c, "mail");
			rcpt_fail_all(c, tx, res, false);
			return -1;
		}
	}
	for (i = 0; i < tx->nrcpts; i++) {
		if (conn_printf(&c->conn, "RCPT TO:<%s>\r\n", tx->rcpts[i]) < 0)
			goto ioerr;
		if (!pipe) {
			if (conn_flush(&c->conn) < 0)
				goto ioerr;
			code = read_reply(c, "rcpt");
			if (code == 0)
				goto ioerr;
			rcpt_set(&res[i], &c->reply, code == 250 || code == 251);
			naccepted += res[i].ok;
		}
	}
	if (pipe) {
		/* RFC 2920 3.1: DATA ends the group; replies come in order. */
		if (conn_puts(&c->conn, "DATA\r\n") < 0 || conn_flush(&c->conn) < 0)
			goto ioerr;
		code = read_reply(c, "mail");
		if (code == 0)
			goto ioerr;
		if (code != 250) {
			char error[sizeof(c->error)], secode[sizeof(c->reply.secode)];
			bool permanent;

			/* The MAIL FROM answer is the reason; the RCPT and
			 * DATA replies of the group (503s) are read and
			 * dropped, and must not replace it. */
			reply_error(c, "mail");
			ms_strlcpy(error, c->error, sizeof(error));
			ms_strlcpy(secode, c->reply.secode, sizeof(secode));
			permanent = c->permanent;
			for (i = 0; i < tx->nrcpts && !c->conn.failed; i++)
				(void)read_reply(c, "rcpt");
			if (!c->conn.failed)
				(void)read_reply(c, "data");
			ms_strlcpy(c->error, error, sizeof(c->error));
			c->permanent = permanent;
			for (i = 0; i < tx->nrcpts; i++) {
				res[i].ok = false;
				res[i].code = code;
				ms_strlcpy(res[i].secode, secode, sizeof(res[i].secode));
				ms_strlcpy(res[i].text, error, sizeof(res[i].text));
			}
			return -1;
		}
		for (i = 0; i < tx->nrcpts; i++) {
			code = read_reply(c, "rcpt");
			if (code == 0)
				goto ioerr;
			rcpt_set(&res[i], &c->reply, code == 250 || code == 251);
			naccepted += res[i].ok;
		}
		code = read_reply(c, "data");
		if (code == 0)
			goto ioerr;
	} else {
		if (naccepted == 0)
			return 0;	/* every recipient has its RCPT reply */
		code = command(c, "data", "DATA");
		if (code == 0)
			goto ioerr;
	}
	if (code != 354) {
		if (naccepted == 0)
			return 0;
		reply_error(c, "data");
		rcpt_fail_all(c, tx, res, true);
		return -1;
	}
	if (naccepted == 0) {
		/* A server that says 354 without recipients gets an empty
		 * message, which it must refuse. */
		if (conn_puts(&c->conn, ".\r\n") < 0 || conn_flush(&c->conn) < 0)
			goto ioerr;
		(void)read_reply(c, "data");
		return 0;
	}
	if (write_dotted(c, tx->prefix, tx->prefix_len, &bol) < 0 ||
	    write_dotted(c, tx->body, tx->body_len, &bol) < 0)
		goto ioerr;
	if (conn_puts(&c->conn, bol ? ".\r\n" : "\r\n.\r\n") < 0 || conn_flush(&c->conn) < 0)
		goto ioerr;
	code = read_reply(c, "data");
	if (code == 0)
		goto ioerr;
	for (i = 0; i < tx->nrcpts; i++) {
		if (!res[i].ok)
			continue;
		rcpt_set(&res[i], &c->reply, code == 250);
	}
	if (code != 250) {
		reply_error(c, "data");
		return -1;
	}
	return 0;

ioerr:
	buf_free(&mail);
	if (c->error[0] == '\0')
		set_error(c, false, "connection to %s failed", c->host);
	c->permanent = false;
	rcpt_fail_all(c, tx, res, true);
	return -1;
}

int
smtpc_rset(struct smtpc *c)
{
	int code;

	if (c->conn.fd < 0 || c->conn.failed || c->conn.eof)
		return -1;
	c->error[0] = '\0';
	c->permanent = false;
	/* RFC 5321 4.1.1.5: RSET clears any transaction state; its 250
	 * also shows the connection still works before it is reused. */
	code = command(c, "rset", "RSET");
	return code == 250 ? 0 : -1;
}

void
smtpc_close(struct smtpc *c)
{
	if (c->conn.fd >= 0 && !c->conn.failed) {
		c->conn.timeout_ms = 1000;
		(void)command(c, "quit", "QUIT");
	}
	if (c->conn.fd >= 0)
		conn_close(&c->conn);
	else
		buf_free(&c->conn.wbuf);
	smtpc_reply_free(&c->reply);
	buf_free(&c->line);
}
