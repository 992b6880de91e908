/* The IMAP session: read loop, command table and dispatcher, tagged and
 * untagged output, mailbox names, and the selected mailbox's view kept in
 * step with the store (RFC 9051 sections 3, 5.2, 5.5, 7.5.1). */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/daemon.h"
#include "core/log.h"
#include "core/util.h"
#include "imap_session.h"
#include "imap_utf7.h"

/* Consecutive commands answered BAD (malformed, unknown, or not allowed in
 * the state) before we give up on a client: it is not speaking IMAP, or not
 * listening to our answers. */
#define MAX_BAD_COMMANDS 20

/*
 * The command table (RFC 9051 section 6; states in section 3). Checking
 * happens here, acting in the handlers. CMDF_NO_EXPUNGE implements RFC 9051
 * section 7.5.1: "An EXPUNGE response MUST NOT be sent when no command is in
 * progress, nor while responding to a FETCH, STORE, or SEARCH command. [...]
 * Note: UID FETCH, UID STORE, and UID SEARCH are different commands from
 * FETCH, STORE, and SEARCH. An EXPUNGE response MAY be sent during a UID
 * command." SORT and THREAD (RFC 5256) answer with sequence numbers as
 * SEARCH does, so they get the same flag.
 */
struct imap_command_def {
	const char *name;
	imap_cmd_fn *fn;
	unsigned flags;
};

static const struct imap_command_def commands[] = {
	{ "CAPABILITY", imap_cmd_capability, 0 },
	{ "NOOP", imap_cmd_noop, CMDF_SYNC },
	{ "LOGOUT", imap_cmd_logout, 0 },
	{ "ID", imap_cmd_id, 0 },
	{ "STARTTLS", imap_cmd_starttls, CMDF_NOTAUTH },
	{ "LOGIN", imap_cmd_login, CMDF_NOTAUTH },
	{ "AUTHENTICATE", imap_cmd_authenticate, CMDF_NOTAUTH },
	{ "ENABLE", imap_cmd_enable, CMDF_AUTH },
	{ "SELECT", imap_cmd_select, CMDF_AUTH },
	{ "EXAMINE", imap_cmd_select, CMDF_AUTH },
	{ "CREATE", imap_cmd_create, CMDF_AUTH },
	{ "DELETE", imap_cmd_delete, CMDF_AUTH },
	{ "RENAME", imap_cmd_rename, CMDF_AUTH },
	{ "SUBSCRIBE", imap_cmd_subscribe, CMDF_AUTH },
	{ "UNSUBSCRIBE", imap_cmd_subscribe, CMDF_AUTH },
	{ "LIST", imap_cmd_list, CMDF_AUTH },
	{ "LSUB", imap_cmd_lsub, CMDF_AUTH },
	{ "NAMESPACE", imap_cmd_namespace, CMDF_AUTH },
	{ "STATUS", imap_cmd_status, CMDF_AUTH },
	{ "APPEND", imap_cmd_append, CMDF_AUTH },
	{ "IDLE", imap_cmd_idle, CMDF_AUTH },
	{ "COMPRESS", imap_cmd_compress, CMDF_AUTH },
	{ "CHECK", imap_cmd_check, CMDF_SELECTED | CMDF_SYNC },
	{ "CLOSE", imap_cmd_close, CMDF_SELECTED },
	{ "UNSELECT", imap_cmd_unselect, CMDF_SELECTED },
	{ "EXPUNGE", imap_cmd_expunge, CMDF_SELECTED | CMDF_UID },
	{ "FETCH", imap_cmd_fetch, CMDF_SELECTED | CMDF_UID | CMDF_NO_EXPUNGE | CMDF_SEQNUMS },
	{ "STORE", imap_cmd_store, CMDF_SELECTED | CMDF_UID | CMDF_NO_EXPUNGE | CMDF_SEQNUMS },
	{ "SEARCH", imap_cmd_search, CMDF_SELECTED | CMDF_UID | CMDF_NO_EXPUNGE | CMDF_SEQNUMS },
	{ "SORT", imap_cmd_sort, CMDF_SELECTED | CMDF_UID | CMDF_NO_EXPUNGE | CMDF_SEQNUMS },
	{ "THREAD", imap_cmd_thread, CMDF_SELECTED | CMDF_UID | CMDF_NO_EXPUNGE | CMDF_SEQNUMS },
	{ "COPY", imap_cmd_copy, CMDF_SELECTED | CMDF_UID | CMDF_SEQNUMS },
	{ "MOVE", imap_cmd_copy, CMDF_SELECTED | CMDF_UID | CMDF_SEQNUMS },
	{ "GETQUOTAROOT", imap_cmd_getquotaroot, CMDF_AUTH },
	{ "GETQUOTA", imap_cmd_getquota, CMDF_AUTH },
	{ "SETQUOTA", imap_cmd_setquota, CMDF_AUTH },
	{ "GETMETADATA", imap_cmd_getmetadata, CMDF_AUTH },
	{ "SETMETADATA", imap_cmd_setmetadata, CMDF_AUTH },
	{ "NOTIFY", imap_cmd_notify, CMDF_AUTH },
	{ "REPLACE", imap_cmd_replace, CMDF_SELECTED | CMDF_UID | CMDF_SEQNUMS },
	{ "ESEARCH", imap_cmd_esearch, CMDF_AUTH },
};

static const struct imap_command_def *
find_command(const char *name)
{
	size_t i;

	for (i = 0; i < MS_NELEM(commands); i++)
		if (ms_strcaseeq(commands[i].name, name))
			return &commands[i];
	return NULL;
}

const char *
imap_cid(const struct imap_session *s)
{
	return s->c->cid;
}

/* ---- output ---- */

void
imap_write(struct imap_session *s, const void *p, size_t n)
{
	(void)conn_write(s->c, p, n);
}

void
imap_bye(struct imap_session *s, const char *text)
{
	(void)conn_recover_timeout(s->c);
	(void)conn_printf(s->c, "* BYE %s\r\n", text);
}

void
imap_reply(struct imap_cmd *cmd, enum imap_status st, const char *fmt, ...)
{
	va_list ap;

	cmd->status = st;
	buf_reset(&cmd->reply);
	va_start(ap, fmt);
	buf_vprintf(&cmd->reply, fmt, ap);
	va_end(ap);
}

void
imap_untagged(struct imap_session *s, const char *fmt, ...)
{
	struct buf b;
	va_list ap;

	buf_init(&b);
	buf_puts(&b, "* ");
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	buf_puts(&b, "\r\n");
	imap_write(s, b.data, b.len);
	buf_free(&b);
}

bool
imap_utf8(const struct imap_session *s)
{
	return (s->enabled & (IMAP_EN_REV2 | IMAP_EN_UTF8)) != 0;
}

/*
 * RFC 9051 section 4.3: a quoted string cannot hold CR, LF or NUL; 8-bit
 * UTF-8 is allowed in quoted strings only in IMAP4rev2 (section 9,
 * QUOTED-CHAR with UTF8-2..4) or after ENABLE UTF8=ACCEPT (RFC 6855
 * section 3), so other IMAP4rev1 sessions get a literal.
 */
void
imap_buf_string(struct imap_session *s, struct buf *out, const char *str, size_t len)
{
	bool quoted = len <= 1024;
	size_t i;

	for (i = 0; quoted && i < len; i++) {
		unsigned char c = (unsigned char)str[i];

		if (c == '\0' || c == '\r' || c == '\n' ||
		    (c >= 0x80 && !imap_utf8(s)))
			quoted = false;
	}
	if (!quoted) {
		buf_printf(out, "{%zu}\r\n", len);
		buf_append(out, str, len);
		return;
	}
	buf_putc(out, '"');
	for (i = 0; i < len; i++) {
		if (str[i] == '"' || str[i] == '\\')
			buf_putc(out, '\\');
		buf_putc(out, str[i]);
	}
	buf_putc(out, '"');
}

void
imap_buf_astring(struct imap_session *s, struct buf *out, const char *str)
{
	size_t i, n = strlen(str);
	bool atom = n > 0 && n <= 1024 && !ms_strcaseeq(str, "NIL");

	for (i = 0; atom && i < n; i++) {
		unsigned char c = (unsigned char)str[i];

		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c) != NULL)
			atom = false;
	}
	if (atom)
		buf_append(out, str, n);
	else
		imap_buf_string(s, out, str, n);
}

void
imap_buf_nstring(struct imap_session *s, struct buf *out, const char *str)
{
	if (str == NULL)
		buf_puts(out, "NIL");
	else
		imap_buf_string(s, out, str, strlen(str));
}

/* System flags in the order we list them; the bits are the store's. */
static const struct {
	unsigned bit;
	const char *name;
} sysflags[] = {
	{ SF_SEEN, "\\Seen" },
	{ SF_ANSWERED, "\\Answered" },
	{ SF_FLAGGED, "\\Flagged" },
	{ SF_DELETED, "\\Deleted" },
	{ SF_DRAFT, "\\Draft" },
	{ SF_FORWARDED, "$Forwarded" },
	{ SF_JUNK, "$Junk" },
	{ SF_NOTJUNK, "$NotJunk" },
	{ SF_PHISHING, "$Phishing" },
	{ SF_MDNSENT, "$MDNSent" },
};

void
imap_buf_flags(struct buf *out, unsigned flags, char *const *kw, size_t nkw)
{
	bool first = true;
	size_t i;

	buf_putc(out, '(');
	for (i = 0; i < MS_NELEM(sysflags); i++) {
		if (!(flags & sysflags[i].bit))
			continue;
		if (!first)
			buf_putc(out, ' ');
		buf_puts(out, sysflags[i].name);
		first = false;
	}
	for (i = 0; i < nkw; i++) {
		if (!first)
			buf_putc(out, ' ');
		buf_puts(out, kw[i]);
		first = false;
	}
	buf_putc(out, ')');
}

/* ---- mailbox names ---- */

/*
 * The store calls the inbox "Inbox"; IMAP calls it INBOX, case-insensitively
 * (RFC 9051 section 5.1: "The case-insensitive mailbox name INBOX is a
 * special name reserved to mean 'the primary mailbox for this user on this
 * server'"), including as the first level of a hierarchical name.
 */
static bool
is_inbox_prefix(const char *s, size_t n)
{
	return n >= 5 && ms_strncaseeq(s, "INBOX", 5) && (n == 5 || s[5] == '/');
}

void
imap_buf_mailbox(struct imap_session *s, struct buf *out, const char *name)
{
	struct buf t;
	size_t n = strlen(name);

	buf_init(&t);
	if (is_inbox_prefix(name, n)) {
		buf_puts(&t, "INBOX");
		name += 5;
		n -= 5;
	}
	if (imap_utf8(s))
		buf_append(&t, name, n);
	else
		imap_utf7_encode(&t, name, n);
	imap_buf_string(s, out, t.data, t.len);
	buf_free(&t);
}

int
imap_mailbox_arg(struct imap_session *s, const struct imap_arg *a,
	struct buf *name_r, const char **error_r)
{
	const char *str;
	size_t len, i;

	buf_reset(name_r);
	if (!imap_arg_astring(a, &str, &len)) {
		*error_r = "Invalid mailbox name";
		return -1;
	}
	/* RFC 6855 section 3: with UTF8=ACCEPT (as in IMAP4rev2) names are
	 * UTF-8, "&" is just a character. */
	if (!imap_utf8(s) && memchr(str, '&', len) != NULL) {
		if (imap_utf7_decode(name_r, str, len) < 0) {
			*error_r = "Invalid modified UTF-7 in mailbox name";
			return -1;
		}
	} else {
		buf_append(name_r, str, len);
	}
	if (is_inbox_prefix(name_r->data, name_r->len))
		memcpy(name_r->data, "Inbox", 5);
	for (i = 0; i < name_r->len; i++) {
		unsigned char c = (unsigned char)name_r->data[i];

		if (c < 0x20 || c == 0x7f) {
			*error_r = "Invalid character in mailbox name";
			return -1;
		}
	}
	/* RFC 9051 section 5.1: mailbox names are UTF-8. A quoted string may
	 * only carry well-formed UTF-8 (QUOTED-CHAR), a literal any octet;
	 * either way a malformed name is the client's error, not a reason to
	 * let the store fail ("NO [UNAVAILABLE]" and an error in our log). */
	if (!imap_utf8_valid(name_r->data, name_r->len)) {
		*error_r = "Mailbox name is not valid UTF-8";
		return -1;
	}
	return 0;
}

/* ---- message uploads ---- */

struct imap_upload *
imap_upload_new(struct imap_session *s, const char **error_r)
{
	struct imap_upload *u;
	char *path = NULL;
	int fd = store_tmpfile(s->d->store, &path, error_r);

	if (fd < 0)
		return NULL;
	s->uploads = xrealloc(s->uploads, (s->nuploads + 1) * sizeof(*s->uploads));
	u = &s->uploads[s->nuploads++];
	memset(u, 0, sizeof(*u));
	u->path = path;
	u->fd = fd;
	return u;
}

/* The parser's stream function: literal bytes of the upload being read
 * (always the last one) go to its file. After a failed write the rest is
 * only counted; the command then answers NO. */
static void
upload_write(void *ctx, const void *data, size_t len)
{
	struct imap_session *s = ctx;
	struct imap_upload *u = &s->uploads[s->nuploads - 1];
	const char *p = data;
	size_t off = 0;

	u->written += len;
	while (!u->failed && off < len) {
		ssize_t w = write(u->fd, p + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			log_error(s->c->cid, "proto=imap ev=upload-write-failed path=%s error=%s",
				lq(u->path), lq(w < 0 ? strerror(errno) : "short write"));
			u->failed = true;
			break;
		}
		off += (size_t)w;
	}
}

/* After a command (or its error): the uploads' temporary files go. */
static void
uploads_clear(struct imap_session *s)
{
	size_t i;

	for (i = 0; i < s->nuploads; i++) {
		if (s->uploads[i].fd >= 0)
			close(s->uploads[i].fd);
		(void)unlink(s->uploads[i].path);
		free(s->uploads[i].path);
	}
	free(s->uploads);
	s->uploads = NULL;
	s->nuploads = 0;
}

bool
imap_mailbox_in_subtree(const char *name, const char *top, bool one_level)
{
	size_t n = strlen(top);

	if (strcmp(name, top) == 0)
		return true;
	if (strncmp(name, top, n) != 0 || name[n] != '/')
		return false;
	return !one_level || strchr(name + n + 1, '/') == NULL;
}

/* ---- input ---- */

/* Refuse the literal just announced with our own answer after the tag. */
static void
refuse_literal(struct imap_session *s, enum imap_parse_error kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
refuse_literal(struct imap_session *s, enum imap_parse_error kind, const char *fmt, ...)
{
	va_list ap;

	buf_reset(&s->refusal);
	va_start(ap, fmt);
	buf_vprintf(&s->refusal, fmt, ap);
	va_end(ap);
	imap_parser_literal_refuse(s->parser, kind, s->refusal.data);
}

/*
 * A literal announcement. APPEND and REPLACE message data goes to a
 * temporary file as it arrives (up to APPENDLIMIT, RFC 7889); everything
 * else is a string no longer than a command line (RFC 7888 section 4 lets
 * the server refuse larger ones), and literal8 is only for message data
 * (RFC 3516 section 4.3). A synchronizing literal is refused before the
 * client sends it; a refused non-synchronizing one arrives anyway and is
 * read and discarded, unless it is more than twice max_literal_size: then
 * the connection is closed (RFC 7888 section 4 allows either). Taken ones
 * get a continuation request when synchronizing.
 */
static void
on_literal(struct imap_session *s)
{
	const struct imap_command *pc = imap_parser_command(s->parser);
	uint64_t size = imap_parser_literal_size(s->parser);
	uint64_t limit = s->d->conf->imap.max_line_length;
	uint64_t cap = s->d->conf->imap.max_literal_size;
	bool sync = imap_parser_literal_sync(s->parser);
	bool metadata = false;
	const char *error;

	cap = cap > UINT64_MAX / 2 ? UINT64_MAX : cap * 2;
	if (!sync && size > cap) {
		refuse_literal(s, IMAP_PERR_FATAL, "[TOOBIG] Literal of %llu bytes is too large",
			(unsigned long long)size);
		return;
	}
	/* A METADATA value may be as large as all of an account's
	 * annotations together (the store checks the total), and binary
	 * (literal8, RFC 5464 5.3). */
	if (s->state != IMAP_NOTAUTH && pc->name != NULL &&
	    ms_strcaseeq(pc->name, "SETMETADATA")) {
		metadata = true;
		if (limit < STORE_METADATA_MAX_SIZE)
			limit = STORE_METADATA_MAX_SIZE;
	}
	if (pc->name != NULL &&
	    imap_append_message_literal(s, pc, imap_parser_literal_depth(s->parser))) {
		struct imap_upload *u;

		if (imap_append_check_literal(s, pc, size, sync, &s->refusal) < 0) {
			imap_parser_literal_refuse(s->parser, IMAP_PERR_REFUSED, s->refusal.data);
			return;
		}
		u = imap_upload_new(s, &error);
		if (u == NULL) {
			log_error(s->c->cid, "proto=imap ev=upload-failed error=%s", lq(error));
			refuse_literal(s, IMAP_PERR_REFUSED, "NO [UNAVAILABLE] Temporary failure");
			return;
		}
		u->size = size;
		imap_parser_literal_stream(s->parser, upload_write, s);
	} else if (imap_parser_literal8(s->parser) && !metadata) {
		refuse_literal(s, IMAP_PERR_REFUSED,
			"BAD literal8 (~{n}) is only allowed for message data");
		return;
	} else if (size > limit || !imap_parser_literal_fits(s->parser)) {
		/* (the second: all of the command's literals together are
		 * over max_literal_size) */
		imap_parser_literal_refuse(s->parser, IMAP_PERR_TOOBIG,
			"Literal too large");
		return;
	}
	if (sync) {
		(void)conn_puts(s->c, "+ Ready for literal data\r\n");
		(void)conn_flush(s->c);
	}
}

static enum imap_read
wait_input(struct imap_session *s, bool wake)
{
	int64_t deadline = ms_mono_ms() + (int64_t)s->d->conf->imap.l.timeout * 1000;

	for (;;) {
		int64_t left = deadline - ms_mono_ms();
		int r;

		if (daemon_stop)
			return IMAP_READ_STOP;
		if (left <= 0)
			return IMAP_READ_TIMEOUT;
		r = conn_wait(s->c, s->waiter.fd, left > INT_MAX ? INT_MAX : (int)left);
		if (r == 1)
			return IMAP_READ_EVENT;
		if (r == 0)
			return IMAP_READ_TIMEOUT;
		if (r < 0)
			return IMAP_READ_EOF;
		/* Only a wakeup that arrives now ends the wait: older ones
		 * are the business of whoever set the flags. */
		if (imap_waiter_consume(&s->waiter)) {
			s->changes_pending = true;
			s->notify_pending = true;
			if (wake)
				return IMAP_READ_WAKE;
		}
		if (daemon_stop)
			return IMAP_READ_STOP;
	}
}

enum imap_read
imap_session_read(struct imap_session *s, bool wake, enum imap_parse_result *ev)
{
	for (;;) {
		size_t used = 0, avail;
		const char *in = conn_peek(s->c, &avail);
		ssize_t n;

		/* The parser reads the connection's buffer in place (no copy
		 * of our own: 16 KiB less per connection). Also called with
		 * no bytes: a refused literal ends the command without more
		 * input. */
		*ev = imap_parser_feed(s->parser, in, avail, &used);
		conn_skip(s->c, used);
		if (*ev == IMAP_PARSE_LITERAL) {
			on_literal(s);
			continue;
		}
		if (*ev != IMAP_PARSE_MORE)
			return IMAP_READ_EVENT;
		if (conn_flush(s->c) < 0)
			return IMAP_READ_EOF;
		if (wake || imap_parser_idle(s->parser)) {
			enum imap_read r = wait_input(s, wake);

			if (r != IMAP_READ_EVENT)
				return r;
		}
		n = conn_fill(s->c);
		if (n <= 0)
			return (n < 0 && s->c->timed_out) ? IMAP_READ_TIMEOUT : IMAP_READ_EOF;
	}
}

/* ---- dispatch ---- */

static const char *
status_word(enum imap_status st)
{
	return st == IMAP_OK ? "OK" : st == IMAP_NO ? "NO" : "BAD";
}

/* Run one command; returns its tagged result. */
static enum imap_status
dispatch(struct imap_session *s, const struct imap_command *pc)
{
	const struct imap_command_def *def;
	struct imap_cmd cmd;
	const char *name = pc->name;

	memset(&cmd, 0, sizeof(cmd));
	buf_init(&cmd.reply);
	cmd.tag = pc->tag;
	cmd.args = pc->args;
	cmd.nargs = pc->nargs;
	cmd.status = IMAP_OK;
	if (ms_strcaseeq(name, "UID")) {
		if (cmd.nargs == 0 || !imap_arg_atom(&cmd.args[0], &name)) {
			imap_reply(&cmd, IMAP_BAD, "Missing command after UID");
			goto reply;
		}
		cmd.uid = true;
		cmd.args++;
		cmd.nargs--;
	}
	def = find_command(name);
	if (def == NULL || (cmd.uid && !(def->flags & CMDF_UID))) {
		imap_reply(&cmd, IMAP_BAD, "Unknown command");
		goto reply;
	}
	cmd.name = def->name;
	cmd.flags = def->flags;
	if ((def->flags & CMDF_NOTAUTH) && s->state != IMAP_NOTAUTH) {
		imap_reply(&cmd, IMAP_BAD, "Already authenticated");
		goto reply;
	}
	if ((def->flags & (CMDF_AUTH | CMDF_SELECTED)) && s->state == IMAP_NOTAUTH) {
		imap_reply(&cmd, IMAP_BAD, "Not authenticated");
		goto reply;
	}
	if ((def->flags & CMDF_SELECTED) && s->state != IMAP_SELECTED) {
		imap_reply(&cmd, IMAP_BAD, "No mailbox selected");
		goto reply;
	}
	/* RFC 9586 3.1: after ENABLE UIDONLY, commands that would take
	 * sequence numbers are refused in their non-UID form. */
	if ((def->flags & CMDF_SEQNUMS) && !cmd.uid && (s->enabled & IMAP_EN_UIDONLY)) {
		imap_reply(&cmd, IMAP_BAD, "[UIDREQUIRED] Use UID %s with UIDONLY", def->name);
		goto reply;
	}
	log_debug(s->c->cid, "proto=imap ev=command tag=%s cmd=%s%s", lq(cmd.tag),
		cmd.uid ? "UID-" : "", cmd.name);
	imap_reply(&cmd, IMAP_OK, "%s%s completed", cmd.uid ? "UID " : "", cmd.name);
	def->fn(s, &cmd);
	if (cmd.replied)
		goto out;
	/* Pending mailbox updates go before the tagged response. */
	if (s->state == IMAP_SELECTED)
		(void)imap_sync(s, cmd.uid || !(def->flags & CMDF_NO_EXPUNGE),
			(def->flags & CMDF_SYNC) != 0);
reply:
	(void)conn_printf(s->c, "%s %s %s\r\n", cmd.tag, status_word(cmd.status),
		cmd.reply.data);
out:
	buf_free(&cmd.reply);
	return cmd.status;
}

/* ---- session ---- */

void
imap_session_run(struct conn *c, void *ctx)
{
	struct imap_session sess, *s = &sess;
	struct imap_parser_limits lim;
	unsigned bad = 0;
	const char *error;
	struct buf caps;
	bool preauth = false;
	int i;

	memset(s, 0, sizeof(*s));
	s->c = c;
	s->lst = ctx;
	s->d = s->lst->d;
	s->state = IMAP_NOTAUTH;
	for (i = 0; i < SASL_CB_NTYPES; i++)
		buf_init(&s->cb[i]);
	if (s->lst->implicit_tls) {
		/* RFC 8314 3.3: implicit TLS, the handshake comes first. */
		if (conn_tls_accept_flags(c, s->lst->tls, CONN_TLS_STRICT_SNI, &error) < 0) {
			log_info(c->cid, "proto=imap ev=tls result=failed err=%s", lq(error));
			imap_auth_free(s);
			return;
		}
		s->tls = true;
		log_info(c->cid, "proto=imap ev=tls result=ok version=%s cipher=%s sni=%s",
			conn_tls_version_name(c), conn_tls_cipher_name(c),
			lq(conn_tls_sni(c) ? conn_tls_sni(c) : ""));
	}
	/* As the reference: an address with too many failed logins gets no
	 * IMAP service for a while (the limiter of ratelimit.h). */
	if (imap_auth_ratelimited(s)) {
		log_info(c->cid, "proto=imap ev=refused reason=auth-ratelimited");
		(void)conn_puts(c, "* BYE [UNAVAILABLE] Too many authentication failures, "
			"try again later\r\n");
		(void)conn_flush(c);
		imap_auth_free(s);
		return;
	}
	lim.max_line = s->d->conf->imap.max_line_length;
	lim.max_literal = s->d->conf->imap.max_literal_size;
	lim.max_depth = 32;
	lim.max_args = 10000;
	/* Every literal is announced: on_literal decides (streams message
	 * data of any size up to APPENDLIMIT, refuses the rest). */
	lim.max_stream = UINT64_MAX;
	s->parser = imap_parser_new(&lim);
	buf_init(&s->refusal);
	if (imap_waiter_add(s->d->registry, &s->waiter, &error) < 0) {
		log_error(c->cid, "proto=imap ev=session-failed error=%s", lq(error));
		(void)conn_puts(c, "* BYE Internal error\r\n");
		(void)conn_flush(c);
		imap_parser_free(&s->parser);
		buf_free(&s->refusal);
		imap_auth_free(s);
		return;
	}
	/* After the waiter exists: a preauthenticated session gets change
	 * notifications for its account. */
	if (s->tls)
		preauth = imap_auth_tls_established(s, true);

	/* RFC 9051 7.1.4: "* PREAUTH" when the connection is already
	 * authenticated (here: a registered TLS client certificate whose key
	 * allows it, as in the reference). */
	buf_init(&caps);
	imap_capabilities(s, &caps);
	if (preauth)
		(void)conn_printf(c, "* PREAUTH [CAPABILITY %s] %s Mailstead IMAP server, "
			"logged in as %s\r\n", caps.data, s->d->conf->general.hostname,
			s->username);
	else
		(void)conn_printf(c, "* OK [CAPABILITY %s] %s Mailstead IMAP server ready\r\n",
			caps.data, s->d->conf->general.hostname);
	buf_free(&caps);

	while (s->state != IMAP_LOGOUT && !c->failed) {
		enum imap_parse_result ev;
		enum imap_read r;
		const char *reason;
		const struct imap_command *pc;

		/* NOTIFY: changes are reported between commands, never in the
		 * middle of one the client is sending. */
		if (s->notify != NULL && s->notify_pending && imap_parser_idle(s->parser))
			imap_notify_poll(s, false);
		r = imap_session_read(s, s->notify != NULL, &ev);
		if (r == IMAP_READ_WAKE)
			continue;
		if (r == IMAP_READ_EOF)
			break;
		if (r == IMAP_READ_TIMEOUT) {
			log_info(c->cid, "proto=imap ev=timeout");
			imap_bye(s, "autologout; idle too long");
			break;
		}
		if (r == IMAP_READ_STOP) {
			imap_bye(s, "Server shutting down");
			break;
		}
		pc = imap_parser_command(s->parser);
		if (ev == IMAP_PARSE_COMMAND) {
			enum imap_status st = dispatch(s, pc);

			uploads_clear(s);
			if (st != IMAP_BAD) {
				bad = 0;
			} else if (++bad >= MAX_BAD_COMMANDS &&
				   s->state != IMAP_LOGOUT && !c->failed) {
				(void)conn_puts(c, "* BYE Too many invalid commands\r\n");
				break;
			}
		} else if (ev == IMAP_PARSE_ERROR) {
			enum imap_parse_error kind = imap_parser_error(s->parser, &reason);

			uploads_clear(s);
			log_info(c->cid, "proto=imap ev=bad-command tag=%s reason=%s",
				lq(pc->tag ? pc->tag : "*"), lq(reason));
			if (kind == IMAP_PERR_FATAL) {
				(void)conn_printf(c, "* BYE %s\r\n", reason);
				break;
			}
			if (kind == IMAP_PERR_REFUSED) {
				/* our own answer to a literal (not a malformed
				 * command) */
				(void)conn_printf(c, "%s %s\r\n", pc->tag, reason);
				continue;
			}
			if (pc->tag == NULL)
				(void)conn_printf(c, "* BAD %s\r\n", reason);
			else if (kind == IMAP_PERR_TOOBIG)
				(void)conn_printf(c, "%s %s [TOOBIG] %s\r\n", pc->tag,
					imap_parser_literal_sync(s->parser) ? "NO" : "BAD",
					reason);
			else
				(void)conn_printf(c, "%s BAD %s\r\n", pc->tag, reason);
			if (++bad >= MAX_BAD_COMMANDS) {
				(void)conn_puts(c, "* BYE Too many invalid commands\r\n");
				break;
			}
		}
		if (daemon_stop && s->state != IMAP_LOGOUT) {
			(void)conn_puts(c, "* BYE Server shutting down\r\n");
			break;
		}
	}
	(void)conn_flush(c);
	uploads_clear(s);
	buf_free(&s->refusal);
	imap_view_close(s);
	imap_notify_free(&s->notify);
	imap_waiter_remove(s->d->registry, &s->waiter);
	imap_parser_free(&s->parser);
	free(s->username);
	imap_auth_free(s);
}

/* ---- the selected mailbox ---- */

void
imap_view_close(struct imap_session *s)
{
	struct imap_view *v = s->sel;
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < v->nkeywords; i++)
		free(v->keywords[i]);
	free(v->keywords);
	imap_view_state_drop(v);
	free(v->uids);
	free(v->pending_expunge);
	free(v->own);
	free(v->saved);
	free(v->name);
	free(v);
	s->sel = NULL;
	if (s->state == IMAP_SELECTED)
		s->state = IMAP_AUTH;
}

void
imap_view_own(struct imap_session *s, int64_t modseq)
{
	struct imap_view *v = s->sel;

	if (v == NULL)
		return;
	if (v->nown > 0 && v->own[v->nown - 1] == modseq)
		return;
	v->own = xrealloc(v->own, (v->nown + 1) * sizeof(*v->own));
	v->own[v->nown++] = modseq;
}

static bool
is_own(const struct imap_view *v, int64_t modseq)
{
	size_t i;

	for (i = 0; i < v->nown; i++)
		if (v->own[i] == modseq)
			return true;
	return false;
}

static bool
bsearch_u32(const uint32_t *v, size_t n, uint32_t x, size_t *pos_r)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	*pos_r = lo;
	return lo < n && v[lo] == x;
}

bool
imap_view_pending(const struct imap_view *v, uint32_t uid)
{
	size_t pos;

	return v->npending > 0 && bsearch_u32(v->pending_expunge, v->npending, uid, &pos);
}

void
imap_view_send_flags(struct imap_session *s)
{
	struct imap_view *v = s->sel;
	struct buf b;

	buf_init(&b);
	buf_puts(&b, "* FLAGS ");
	imap_buf_flags(&b, SF_ALL, v->keywords, v->nkeywords);
	buf_puts(&b, "\r\n");
	if (v->readonly) {
		buf_puts(&b, "* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n");
	} else {
		buf_puts(&b, "* OK [PERMANENTFLAGS ");
		imap_buf_flags(&b, SF_ALL, v->keywords, v->nkeywords);
		/* "\*": clients may create new keywords */
		buf_truncate(&b, b.len - 1);
		buf_puts(&b, " \\*)] Flags permitted\r\n");
	}
	imap_write(s, b.data, b.len);
	buf_free(&b);
}

void
imap_view_keywords(struct imap_session *s, char *const *kw, size_t n)
{
	struct imap_view *v = s->sel;
	bool added = false;
	size_t i, j;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++) {
		for (j = 0; j < v->nkeywords; j++)
			if (ms_strcaseeq(v->keywords[j], kw[i]))
				break;
		if (j < v->nkeywords)
			continue;
		v->keywords = xrealloc(v->keywords, (v->nkeywords + 1) * sizeof(char *));
		v->keywords[v->nkeywords++] = xstrdup(kw[i]);
		added = true;
	}
	if (added)
		imap_view_send_flags(s);
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Send EXPUNGE for every pending UID and drop them from the view. Walking in
 * ascending order, a message's number is its index minus the messages
 * already reported expunged before it (RFC 9051 7.4.1: numbers shift down
 * immediately after each EXPUNGE response). */
static void
flush_expunges(struct imap_session *s)
{
	struct imap_view *v = s->sel;
	size_t i, w = 0, k = 0, removed = 0;
	/* RFC 9586 3.4: UIDONLY sessions get VANISHED too. */
	bool vanished = (s->enabled & (IMAP_EN_QRESYNC | IMAP_EN_UIDONLY)) != 0;
	uint32_t *gone = NULL;

	/* RFC 7162 3.2.10: with QRESYNC enabled, "* VANISHED uid-set"
	 * replaces the EXPUNGE responses (the UIDs were all in the view). */
	if (vanished)
		gone = xmalloc((v->npending + 1) * sizeof(*gone));
	for (i = 0; i < v->n; i++) {
		uint32_t u = v->uids[i];

		while (k < v->npending && v->pending_expunge[k] < u)
			k++;
		if (k < v->npending && v->pending_expunge[k] == u) {
			if (vanished)
				gone[removed] = u;
			else
				imap_untagged(s, "%zu EXPUNGE", i - removed + 1);
			removed++;
			continue;
		}
		if (v->ms != NULL)
			v->ms[w] = v->ms[i];
		v->uids[w++] = u;
	}
	v->n = w;
	v->npending = 0;
	if (vanished && removed > 0) {
		struct buf b;

		buf_init(&b);
		buf_puts(&b, "* VANISHED ");
		imap_seqset_format(&b, gone, removed);
		buf_puts(&b, "\r\n");
		imap_write(s, b.data, b.len);
		buf_free(&b);
	}
	free(gone);
}

/* Append UIDs to the pending expunges (keeping them sorted and unique). */
static void
add_pending(struct imap_view *v, const uint32_t *uids, size_t n)
{
	size_t i, pos;

	for (i = 0; i < n; i++) {
		if (!bsearch_u32(v->uids, v->n, uids[i], &pos))
			continue;	/* not in the client's view (e.g. our own) */
		if (bsearch_u32(v->pending_expunge, v->npending, uids[i], &pos))
			continue;
		v->pending_expunge = xrealloc(v->pending_expunge,
			(v->npending + 1) * sizeof(uint32_t));
		memmove(&v->pending_expunge[pos + 1], &v->pending_expunge[pos],
			(v->npending - pos) * sizeof(uint32_t));
		v->pending_expunge[pos] = uids[i];
		v->npending++;
	}
}

int
imap_sync(struct imap_session *s, bool allow_expunge, bool force)
{
	struct imap_view *v = s->sel;
	struct store_change *ch = NULL;
	uint32_t *exp = NULL, *fresh = NULL;
	size_t nch = 0, nexp = 0, nfresh = 0, i, oldn;
	int64_t modseq = 0;
	const char *error;
	enum imap_notify_sel mode;
	bool flag_changes;

	if (v == NULL)
		return 0;
	if (imap_waiter_consume(&s->waiter)) {
		s->changes_pending = true;
		s->notify_pending = true;
	}
	mode = imap_notify_selected(s, &flag_changes);
	if (mode == IMAP_NOTIFY_SEL_OFF) {
		/* NOTIFY without the selected mailbox: nothing from others
		 * (RFC 5465 3); our own EXPUNGE still answers. The state
		 * would go stale: the database answers from now on. */
		imap_view_state_drop(v);
		if (allow_expunge && v->npending > 0)
			flush_expunges(s);
		return 0;
	}
	if (!force && !s->changes_pending) {
		if (allow_expunge && v->npending > 0)
			flush_expunges(s);
		return 0;
	}
	s->changes_pending = false;
	if (store_changes_since(s->d->store, s->account_id, v->id, v->modseq, &ch, &nch,
		    &exp, &nexp, &modseq, &error) < 0) {
		log_warn(s->c->cid, "proto=imap ev=sync-failed error=%s", lq(error));
		imap_view_state_drop(v);
		return -1;
	}
	add_pending(v, exp, nexp);
	if (allow_expunge && v->npending > 0)
		flush_expunges(s);

	/* New keywords first, so FETCH responses only use announced ones. */
	for (i = 0; i < nch; i++)
		imap_view_keywords(s, ch[i].keywords, ch[i].nkeywords);

	/* New messages: UIDs above the last one the client knows. */
	if (nch > 0)
		fresh = xmalloc(nch * sizeof(*fresh));
	for (i = 0; i < nch; i++)
		if (v->n == 0 || ch[i].uid > v->uids[v->n - 1])
			fresh[nfresh++] = ch[i].uid;
	if (nfresh > 1)
		qsort(fresh, nfresh, sizeof(*fresh), cmp_u32);
	oldn = v->n;
	for (i = 0; i < nfresh; i++) {
		if (v->n > 0 && fresh[i] <= v->uids[v->n - 1])
			continue;
		imap_view_grow(v);
		if (v->ms != NULL)
			memset(&v->ms[v->n], 0, sizeof(v->ms[v->n]));
		v->uids[v->n++] = fresh[i];
		if (fresh[i] >= v->uidnext)
			v->uidnext = fresh[i] + 1;
	}
	if (v->n != oldn)
		imap_untagged(s, "%zu EXISTS", v->n);
	/* Every change, ours too, into the state: the rows as they are now. */
	for (i = 0; i < nch && v->ms != NULL; i++) {
		size_t pos;

		if (bsearch_u32(v->uids, v->n, ch[i].uid, &pos))
			imap_view_state_set(v, pos, ch[i].flags, ch[i].modseq, ch[i].keywords,
				ch[i].nkeywords);
	}

	/* Flag changes by others to messages the client already knew. */
	for (i = 0; i < nch && flag_changes; i++) {
		size_t pos;
		struct buf b;

		if (is_own(v, ch[i].modseq))
			continue;
		if (!bsearch_u32(v->uids, oldn < v->n ? oldn : v->n, ch[i].uid, &pos))
			continue;
		if (imap_view_pending(v, ch[i].uid))
			continue;
		buf_init(&b);
		imap_buf_fetch_open(s, &b, pos + 1, ch[i].uid, true);
		buf_puts(&b, "FLAGS ");
		imap_buf_flags(&b, ch[i].flags, ch[i].keywords, ch[i].nkeywords);
		/* RFC 7162 3.1.4: MODSEQ in every unsolicited FETCH once
		 * CONDSTORE is enabled. */
		if (s->enabled & IMAP_EN_CONDSTORE)
			buf_printf(&b, " MODSEQ (%lld)", (long long)ch[i].modseq);
		buf_puts(&b, ")\r\n");
		imap_write(s, b.data, b.len);
		buf_free(&b);
	}
	/* RFC 5465 5.2: MessageNew's FETCH for the new messages. */
	if (mode != IMAP_NOTIFY_SEL_CLASSIC && v->n > oldn)
		imap_notify_new_messages(s, oldn, v->n);
	if (modseq > v->modseq)
		v->modseq = modseq;
	/* Our own changes up to here are accounted for. */
	{
		size_t w = 0;

		for (i = 0; i < v->nown; i++)
			if (v->own[i] > v->modseq)
				v->own[w++] = v->own[i];
		v->nown = w;
	}
	free(fresh);
	store_changes_free(ch, nch);
	free(exp);
	return 0;
}

void
imap_buf_fetch_open(struct imap_session *s, struct buf *b, size_t seq, uint32_t uid,
	bool uid_item)
{
	/* RFC 9586 3.3: "* uid UIDFETCH (" in UIDONLY sessions, where the
	 * UID item would repeat the number. */
	if (s->enabled & IMAP_EN_UIDONLY)
		buf_printf(b, "* %u UIDFETCH (", uid);
	else if (uid_item)
		buf_printf(b, "* %zu FETCH (UID %u ", seq, uid);
	else
		buf_printf(b, "* %zu FETCH (", seq);
}

/* ---- CONDSTORE and QRESYNC ---- */

int64_t
imap_view_highestmodseq(struct imap_session *s)
{
	int64_t hms = 0;
	const char *error;

	if (s->sel == NULL)
		return 0;
	if (store_mailbox_modseq(s->d->store, s->account_id, s->sel->id, &hms, NULL, NULL,
		    &error) < 0) {
		log_error(imap_cid(s), "proto=imap ev=highestmodseq error=%s", lq(error));
		return 0;
	}
	return hms;
}

void
imap_condstore_enable(struct imap_session *s)
{
	int64_t hms;

	if (s->enabled & IMAP_EN_CONDSTORE)
		return;
	s->enabled |= IMAP_EN_CONDSTORE;
	if (s->sel != NULL && (hms = imap_view_highestmodseq(s)) > 0)
		imap_untagged(s, "OK [HIGHESTMODSEQ %lld] Highest", (long long)hms);
}

/* Append "lo" or "lo:hi" to a uid-set under construction. */
static void
put_range(struct buf *b, bool *first, uint32_t lo, uint32_t hi)
{
	if (!*first)
		buf_putc(b, ',');
	*first = false;
	if (lo == hi)
		buf_printf(b, "%u", lo);
	else
		buf_printf(b, "%u:%u", lo, hi);
}

int
imap_vanished_earlier(struct imap_session *s, const struct imap_seqset *known,
	int64_t since)
{
	struct imap_view *v = s->sel;
	uint32_t *exp = NULL, maxuid = v->uidnext > 0 ? v->uidnext - 1 : 0;
	size_t nexp = 0, i, pos;
	int64_t deleted = 0;
	const char *error;
	bool first = true;
	struct buf b;

	if (store_mailbox_modseq(s->d->store, s->account_id, v->id, NULL, NULL, &deleted,
		    &error) < 0 ||
	    (deleted <= since &&
		store_expunged_since(s->d->store, v->id, since, &exp, &nexp, &error) < 0)) {
		log_error(imap_cid(s), "proto=imap ev=vanished error=%s", lq(error));
		return -1;
	}
	buf_init(&b);
	buf_puts(&b, "* VANISHED (EARLIER) ");
	if (deleted > since) {
		/* The tombstones the client needs are gone: every UID it may
		 * know that is not in the view now. */
		struct imap_seqrange all = { 1, maxuid }, *r;
		size_t nr = 1, j;

		if (known != NULL)
			r = imap_seqset_resolve(known, maxuid, &nr);
		else
			r = &all;
		for (j = 0; j < nr && maxuid > 0; j++) {
			uint32_t lo = r[j].lo, hi = r[j].hi > maxuid ? maxuid : r[j].hi;

			if (lo == 0 || lo > hi)
				continue;
			/* the view's UIDs inside [lo, hi] split it into gaps */
			(void)bsearch_u32(v->uids, v->n, lo, &pos);
			while (lo <= hi) {
				if (pos < v->n && v->uids[pos] <= hi) {
					if (v->uids[pos] > lo)
						put_range(&b, &first, lo, v->uids[pos] - 1);
					if (v->uids[pos] == UINT32_MAX)
						break;
					lo = v->uids[pos] + 1;
					pos++;
				} else {
					put_range(&b, &first, lo, hi);
					break;
				}
			}
		}
		if (r != &all)
			free(r);
	} else {
		for (i = 0; i < nexp; i++) {
			if (known != NULL && !imap_seqset_contains(known, exp[i], maxuid))
				continue;
			/* still in the view: a later VANISHED reports it */
			if (bsearch_u32(v->uids, v->n, exp[i], &pos))
				continue;
			put_range(&b, &first, exp[i], exp[i]);
		}
	}
	if (!first) {
		buf_puts(&b, "\r\n");
		imap_write(s, b.data, b.len);
	}
	buf_free(&b);
	free(exp);
	return 0;
}

int
imap_view_indexes(struct imap_session *s, struct imap_cmd *cmd,
	const struct imap_arg *a, uint32_t **idx_r, size_t *n_r)
{
	struct imap_seqset set;
	const char *str, *error;
	int ret = 0;

	*idx_r = NULL;
	*n_r = 0;
	if (!imap_arg_atom(a, &str)) {
		imap_reply(cmd, IMAP_BAD, "Missing sequence set");
		return -1;
	}
	imap_seqset_init(&set);
	if (imap_seqset_parse(str, a->len, true, &set, &error) < 0) {
		imap_reply(cmd, IMAP_BAD, "%s", error);
		imap_seqset_free(&set);
		return -1;
	}
	if (set.saved) {
		/* RFC 5182 section 2.1: "$" stands for the same messages in
		 * UID and non-UID commands; before any SAVE it is empty, and
		 * messages whose expunge was reported are gone from it. */
		imap_seqset_uidlist_to_indexes(s->sel->saved, s->sel->nsaved, s->sel->uids,
			s->sel->n, idx_r, n_r);
	} else if (cmd->uid) {
		imap_seqset_uids_to_indexes(&set, s->sel->uids, s->sel->n, idx_r, n_r);
	} else if (imap_seqset_to_indexes(&set, (uint32_t)s->sel->n, idx_r, n_r) < 0) {
		/* RFC 9051 section 9 (seq-number): "The server should respond
		 * with a tagged BAD response to a command that uses a message
		 * sequence number greater than the number of messages in the
		 * selected mailbox. This includes "*" if the selected mailbox
		 * is empty." */
		imap_reply(cmd, IMAP_BAD, "Invalid message sequence number");
		ret = -1;
	}
	imap_seqset_free(&set);
	return ret;
}

void
imap_view_expunged(struct imap_session *s, const uint32_t *uids, size_t n)
{
	if (s->sel != NULL)
		add_pending(s->sel, uids, n);
}

/* ---- flags ---- */

/* flag-keyword atoms: ATOM-CHAR only (no "\\", "%", "*", "]", ...). */
static bool
valid_keyword(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c) != NULL)
			return false;
	}
	return true;
}

void
imap_keywords_free(char **kw, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(kw[i]);
	free(kw);
}

int
imap_parse_flags(const struct imap_arg *v, size_t n, unsigned *flags_r,
	char ***kw_r, size_t *nkw_r, const char **error_r)
{
	char **kw = NULL;
	size_t nkw = 0, i, j, k;

	*flags_r = 0;
	*kw_r = NULL;
	*nkw_r = 0;
	for (i = 0; i < n; i++) {
		const char *f;
		bool sys = false;

		if (!imap_arg_atom(&v[i], &f)) {
			*error_r = "Invalid flag";
			goto fail;
		}
		for (j = 0; j < MS_NELEM(sysflags); j++) {
			if (ms_strcaseeq(f, sysflags[j].name)) {
				*flags_r |= sysflags[j].bit;
				sys = true;
				break;
			}
		}
		if (sys)
			continue;
		if (f[0] == '\\') {
			/* \Recent is not storable; other \X are unknown. */
			*error_r = "Invalid system flag";
			goto fail;
		}
		if (!valid_keyword(f)) {
			*error_r = "Invalid keyword";
			goto fail;
		}
		for (k = 0; k < nkw; k++)
			if (ms_strcaseeq(kw[k], f))
				break;
		if (k < nkw)
			continue;
		if (nkw >= 1000) {
			*error_r = "Too many keywords";
			goto fail;
		}
		kw = xrealloc(kw, (nkw + 1) * sizeof(*kw));
		kw[nkw] = xstrdup(f);
		ms_str_lower(kw[nkw]);
		nkw++;
	}
	*kw_r = kw;
	*nkw_r = nkw;
	return 0;
fail:
	imap_keywords_free(kw, nkw);
	return -1;
}

/* ---- dates (RFC 9051 section 9) ----
 *   date-time       = DQUOTE date-day-fixed "-" date-month "-" date-year
 *                     SP time SP zone DQUOTE
 *   date-day-fixed  = (SP DIGIT) / 2DIGIT
 *   date-month      = "Jan" / "Feb" / "Mar" / "Apr" / "May" / "Jun" /
 *                     "Jul" / "Aug" / "Sep" / "Oct" / "Nov" / "Dec"
 *   time            = 2DIGIT ":" 2DIGIT ":" 2DIGIT
 *   zone            = ("+" / "-") 4DIGIT
 *   date-text       = date-day "-" date-month "-" date-year
 *   date-day        = 1*2DIGIT
 */
static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

void
imap_buf_datetime(struct buf *out, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	long off;

	localtime_r(&tt, &tm);
	off = tm.tm_gmtoff / 60;
	buf_printf(out, "%02d-%s-%04d %02d:%02d:%02d %c%02ld%02ld", tm.tm_mday,
		months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
		tm.tm_sec, off < 0 ? '-' : '+', labs(off) / 60, labs(off) % 60);
}

static int
digits(const char *s, size_t n, int *v)
{
	size_t i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

static int
days_in_month(int y, int m)
{
	static const int dm[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dm[m - 1];
}

/* Parses "d-Mon-yyyy" at s; returns the number of bytes used or -1. */
static int
parse_date_prefix(const char *s, int *y_r, int *m_r, int *d_r)
{
	size_t i = 0, dlen;
	int m;

	if (s[0] == ' ')
		i = 1;
	dlen = (s[i] >= '0' && s[i] <= '9' && s[i + 1] >= '0' && s[i + 1] <= '9') ? 2 : 1;
	if (digits(s + i, dlen, d_r) < 0)
		return -1;
	i += dlen;
	if (s[i] != '-')
		return -1;
	i++;
	for (m = 0; m < 12; m++)
		if (ms_strncaseeq(s + i, months[m], 3))
			break;
	if (m == 12 || s[i + 3] != '-')
		return -1;
	i += 4;
	if (digits(s + i, 4, y_r) < 0)
		return -1;
	i += 4;
	*m_r = m + 1;
	if (*y_r < 1900 || *d_r < 1 || *d_r > days_in_month(*y_r, *m_r))
		return -1;
	return (int)i;
}

int
imap_parse_date(const char *s, int *y_r, int *m_r, int *d_r)
{
	int n = parse_date_prefix(s, y_r, m_r, d_r);

	return (n < 0 || s[n] != '\0') ? -1 : 0;
}

int
imap_parse_datetime(const char *s, int64_t *t_r)
{
	int y, mo, d, hh, mm, ss, zh, zm, n;
	struct tm tm;
	int64_t off;

	n = parse_date_prefix(s, &y, &mo, &d);
	if (n < 0)
		return -1;
	s += n;
	if (strlen(s) != 15 || s[0] != ' ' || s[3] != ':' || s[6] != ':' ||
	    s[9] != ' ' || (s[10] != '+' && s[10] != '-') ||
	    digits(s + 1, 2, &hh) < 0 || digits(s + 4, 2, &mm) < 0 ||
	    digits(s + 7, 2, &ss) < 0 || digits(s + 11, 2, &zh) < 0 ||
	    digits(s + 13, 2, &zm) < 0 || hh > 23 || mm > 59 || ss > 60 || zm > 59)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	off = (int64_t)(zh * 60 + zm) * 60;
	*t_r = (int64_t)timegm(&tm) - (s[10] == '+' ? off : -off);
	return 0;
}
