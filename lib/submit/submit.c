/* Sending for the web programs (lib/submit/submit.h): check the message
 * as submission checks one (From must be the account's, the send limits),
 * compose it (lib/mail/compose.c), DKIM-sign it like submission does,
 * deliver our own recipients through the delivery plan (submit_local.c)
 * and queue the others through lib/queue (mailstead-queued delivers and
 * sends the outgoing webhooks); optionally keep a copy in the Sent
 * mailbox. Error codes are the webapi reference's (webapisrv/server.go). */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/conf.h"
#include "core/log.h"
#include "core/util.h"
#include "db/db.h"
#include "mail/addr.h"
#include "mailauth/dkim.h"
#include "queue/queue.h"
#include "store/store.h"
#include "store/store_rules.h"
#include "submit/submit_private.h"

void
submit_err_init(struct submit_err *e)
{
	e->code = NULL;
	buf_init(&e->msg);
}

void
submit_err_free(struct submit_err *e)
{
	buf_free(&e->msg);
	e->code = NULL;
}

void
submit_result_free(struct submit_result *r)
{
	size_t i;

	for (i = 0; i < r->nrcpts; i++)
		free(r->rcpts[i].from_id);
	free(r->rcpts);
	free(r->message_id);
	memset(r, 0, sizeof(*r));
}

int
submit_set_error(struct sctx *c, const char *code, const char *fmt, ...)
{
	va_list ap;

	c->err->code = code;
	buf_reset(&c->err->msg);
	va_start(ap, fmt);
	buf_vprintf(&c->err->msg, fmt, ap);
	va_end(ap);
	return -1;
}

int
submit_server_error(struct sctx *c, const char *what, const char *error)
{
	log_error(c->cid, "proto=http app=%s ev=server-error what=%s error=%s", c->m->app,
		lq(what), lq(error));
	return submit_set_error(c, "server", "%s failed (see the server log)", what);
}

/* Strings that live until submit_send returns. */
static const char *
arena_strdup(struct sctx *c, const char *s)
{
	if (c->nstrs == c->capstrs) {
		c->capstrs = c->capstrs * 2 + 16;
		c->strs = xrealloc(c->strs, c->capstrs * sizeof(*c->strs));
	}
	c->strs[c->nstrs] = xstrdup(s);
	return c->strs[c->nstrs++];
}

/* Header fields submit_send writes itself; a caller's copy would make the
 * message ambiguous (two From, two Content-Type) or bypass the checks. */
static const char *const reserved_headers[] = {
	"From", "Sender", "To", "Cc", "Bcc", "Reply-To", "Subject", "Date", "Message-Id",
	"References", "In-Reply-To", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
	"Content-Disposition", "Content-Id", "Return-Path", "Received", "DKIM-Signature",
};

struct send_addrs {
	struct mail_addr *parsed;	/* n */
	struct mail_compose_addr *v;		/* n, strings from arena_strdup */
	size_t n;
};

static void
send_addrs_free(struct send_addrs *a)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		mail_addr_free(&a->parsed[i]);
	free(a->parsed);
	free(a->v);
	memset(a, 0, sizeof(*a));
}

/* The [{Name, Address}] list of field name: parsed (RFC 5321 Mailbox,
 * SMTPUTF8 allowed), names without control characters. *utf8 is set when
 * a localpart is not ASCII (the message then needs SMTPUTF8). */
static int
parse_addrs(struct sctx *c, const char *field, const struct submit_addr *in, size_t n,
	struct send_addrs *out, bool *utf8)
{
	size_t i;
	const char *error;

	memset(out, 0, sizeof(*out));
	if (n > SUBMIT_MAX_RCPTS)
		return submit_set_error(c, "user", "too many addresses in %s (at most %d)", field,
			SUBMIT_MAX_RCPTS);
	out->parsed = xcalloc(n + 1, sizeof(*out->parsed));
	out->v = xcalloc(n + 1, sizeof(*out->v));
	for (i = 0; i < n; i++) {
		const char *name = in[i].name != NULL ? in[i].name : "",
			*addr = in[i].address != NULL ? in[i].address : "";
		const unsigned char *p;
		struct buf f;

		if (mail_compose_has_ctl(name) || mail_compose_has_ctl(addr))
			return submit_set_error(c, "user", "checking header values: control "
				"characters not allowed (in %s)", field);
		if (mail_addr_parse_mailbox(addr, strlen(addr), true, &out->parsed[i], &error) < 0)
			return submit_set_error(c, "badAddress", "parsing address \"%s\": %s", addr,
				error);
		out->n = i + 1;
		for (p = (const unsigned char *)out->parsed[i].localpart; *p != '\0'; p++)
			if (*p >= 0x80)
				*utf8 = true;
		buf_init(&f);
		mail_addr_format(&f, &out->parsed[i], true);
		out->v[i].name = arena_strdup(c, name);
		out->v[i].addr = arena_strdup(c, f.data);
		buf_free(&f);
	}
	return 0;
}

/* Format the addresses again once it is known whether the message may
 * carry UTF-8 (SMTPUTF8), else with A-label domains. */
static void
format_addrs(struct sctx *c, struct send_addrs *a, bool utf8)
{
	size_t i;

	for (i = 0; i < a->n; i++) {
		struct buf f;

		buf_init(&f);
		mail_addr_format(&f, &a->parsed[i], utf8);
		a->v[i].addr = arena_strdup(c, f.data);
		buf_free(&f);
	}
}

/* RFC 5322 3.6.8: field-name = 1*ftext, ftext = %d33-57 / %d59-126. */
static bool
field_name_ok(const char *s)
{
	const char *p;

	if (s[0] == '\0' || strlen(s) > 76)
		return false;
	for (p = s; *p != '\0'; p++)
		if (*p < 33 || *p > 126 || *p == ':')
			return false;
	return true;
}

/* A media type as the caller gives it: type "/" subtype, parameters
 * allowed, printable ASCII only. */
static bool
content_type_ok(const char *s)
{
	const char *slash = strchr(s, '/');
	const char *p;

	if (slash == NULL || slash == s || slash[1] == '\0' || strlen(s) > 200)
		return false;
	for (p = s; *p != '\0'; p++)
		if (*p < 32 || *p > 126)
			return false;
	return true;
}

/* Names and content types of files end up in header fields. */
static int
check_files(struct sctx *c, const char *field, const struct mail_compose_file *v, size_t n)
{
	size_t i;

	if (n > SUBMIT_MAX_FILES)
		return submit_set_error(c, "user", "too many files in %s (at most %d)", field,
			SUBMIT_MAX_FILES);
	for (i = 0; i < n; i++) {
		if (mail_compose_has_ctl(v[i].name) || mail_compose_has_ctl(v[i].content_id) ||
		    strpbrk(v[i].content_id, " \t\"") != NULL || strlen(v[i].name) > 255 ||
		    strlen(v[i].content_id) > 250)
			return submit_set_error(c, "user", "checking header values: bad Name or "
				"ContentID in %s", field);
		if (v[i].content_type[0] != '\0' && !content_type_ok(v[i].content_type))
			return submit_set_error(c, "user", "bad ContentType \"%s\" in %s: want "
				"type/subtype", mail_compose_has_ctl(v[i].content_type) ? "?" :
				v[i].content_type, field);
	}
	return 0;
}

/* DKIM signatures (RFC 6376 5) of the From domain's signing selectors over
 * msg, appended to out. A broken key is logged and skipped, as in
 * submission: it must not stop all mail. */
static void
dkim_sign_msg(struct sctx *c, const char *from_domain, const struct buf *msg,
	struct buf *out)
{
	struct store *st = c->st;
	struct store_dkim_selector *sels = NULL;
	char *uni = NULL, *ascii = NULL;
	size_t nsels = 0, i;
	const char *error;

	if (store_dkim_selectors(st, from_domain, true, &sels, &nsels, &error) < 0) {
		log_error(c->cid, "proto=http app=%s ev=dkim-sign result=error err=%s", c->m->app,
			lq(error));
		return;
	}
	if (nsels == 0 || mail_domain_parse(from_domain, strlen(from_domain), true, &uni, &ascii,
		    &error) < 0) {
		store_dkim_selectors_free(sels, nsels);
		return;
	}
	for (i = 0; i < nsels; i++) {
		struct dkim_sign_opts o;
		EVP_PKEY *key;

		key = dkim_key_from_pem_cached(sels[i].private_key, strlen(sels[i].private_key),
			&error);
		if (key == NULL) {
			log_error(c->cid, "proto=http app=%s ev=dkim-sign result=error "
				"domain=%s selector=%s err=%s", c->m->app, lq(ascii), lq(sels[i].selector),
				lq(error));
			continue;
		}
		memset(&o, 0, sizeof(o));
		o.domain = ascii;
		o.selector = sels[i].selector;
		o.key = key;
		o.headers = sels[i].nheaders > 0 ? (const char *const *)sels[i].headers : NULL;
		o.nheaders = sels[i].nheaders;
		o.oversign = sels[i].oversign;
		o.expiration = sels[i].expiration_seconds;
		if (dkim_sign(&o, msg->data, msg->len, out, &error) < 0)
			log_error(c->cid, "proto=http app=%s ev=dkim-sign result=error "
				"domain=%s selector=%s err=%s", c->m->app, lq(ascii), lq(sels[i].selector),
				lq(error));
		EVP_PKEY_free(key);
	}
	free(uni);
	free(ascii);
	store_dkim_selectors_free(sels, nsels);
}

/* Write data to a new fsync'd file in the store's tmp directory. */
static char *
write_tmp(struct sctx *c, const struct buf *a, const struct buf *b)
{
	const char *error;
	char *path = NULL;
	int fd;

	fd = store_tmpfile(c->st, &path, &error);
	if (fd < 0) {
		submit_server_error(c, "creating temporary file for message", error);
		return NULL;
	}
	if ((a != NULL && ms_write_all(fd, a->data, a->len) < 0) ||
	    ms_write_all(fd, b->data, b->len) < 0 || fsync(fd) < 0) {
		close(fd);
		(void)unlink(path);
		free(path);
		submit_server_error(c, "writing message", "write or fsync failed");
		return NULL;
	}
	close(fd);
	return path;
}

/* The account's full name, whether the login address asks for fromids,
 * and the catch-all separators of the From domain. */
static int
account_facts(struct sctx *c, const char *from_domain, char **full_name_r,
	bool *use_fromid_r, char **separators_r)
{
	struct store *st = c->st;
	const char *error;
	PGresult *res;
	PGconn *pc;

	pc = db_get(st->pool, &error);
	if (pc == NULL)
		return submit_server_error(c, "reading account", error);
	res = db_execpv(pc, &error,
		"SELECT a.full_name,"
		" EXISTS (SELECT 1 FROM fromid_login_addresses f WHERE f.account_id = a.id"
		"  AND f.address = lower($2)),"
		" coalesce((SELECT localpart_catchall_separators FROM domains WHERE name = $3), '')"
		" FROM accounts a WHERE a.id = $1",
		3, db_i64(c->m->account_id), c->m->login_address, from_domain);
	db_put(st->pool, pc);
	if (res == NULL)
		return submit_server_error(c, "reading account", error);
	if (PQntuples(res) != 1) {
		PQclear(res);
		return submit_set_error(c, "user", "account no longer exists");
	}
	*full_name_r = xstrdup(PQgetvalue(res, 0, 0));
	*use_fromid_r = db_get_bool(res, 0, 1);
	*separators_r = xstrdup(PQgetvalue(res, 0, 2));
	PQclear(res);
	return 0;
}

static const char *
sent_mailbox(struct sctx *c, const char **error_r)
{
	struct store_mailbox *mbs;
	const char *name = NULL;
	size_t n, i;

	if (store_mailbox_list(c->st, c->m->account_id, &mbs, &n,
		    error_r) < 0)
		return NULL;
	for (i = 0; i < n; i++)
		if (mbs[i].special_use != NULL && ms_strcaseeq(mbs[i].special_use, "sent")) {
			name = arena_strdup(c, mbs[i].name);
			break;
		}
	store_mailboxes_free(mbs, n);
	*error_r = NULL;
	return name;
}

/* SaveSent: the message with its Bcc field (only the sender sees it) and
 * signatures, seen and not junk, in the Sent mailbox. The message was
 * queued already: an error here says so. */
static int
save_sent(struct sctx *c, const struct send_addrs *bcc, bool utf8,
	const struct buf *prefix, const struct buf *msg)
{
	struct store_append_result ar;
	struct store_append_msg am;
	struct buf head;
	const char *mb, *error = NULL;
	char *path;
	size_t i;
	int r;

	mb = sent_mailbox(c, &error);
	if (mb == NULL)
		return error != NULL ? submit_server_error(c, "message queued, finding Sent mailbox",
			error) : 0;
	buf_init(&head);
	if (bcc->n > 0) {
		buf_puts(&head, "Bcc: ");
		for (i = 0; i < bcc->n; i++) {
			struct buf f;

			buf_init(&f);
			mail_addr_format(&f, &bcc->parsed[i], utf8);
			buf_printf(&head, "%s<%s>", i > 0 ? ",\r\n\t" : "", f.data);
			buf_free(&f);
		}
		buf_puts(&head, "\r\n");
	}
	buf_append(&head, prefix->data, prefix->len);
	path = write_tmp(c, &head, msg);
	buf_free(&head);
	if (path == NULL)
		return -1;
	memset(&am, 0, sizeof(am));
	am.path = path;
	am.flags = SF_SEEN | SF_NOTJUNK;
	memset(&ar, 0, sizeof(ar));
	r = store_append(c->st, c->m->account_id, mb, &am, 1, 0, 0, &ar,
		&error);
	(void)unlink(path);
	free(path);
	if (r == STORE_OVER_QUOTA)
		return submit_set_error(c, "sentOverQuota", "message was sent, but not stored in sent "
			"mailbox: over quota");
	if (r == STORE_NO_MAILBOX)
		return 0;
	if (r != 0)
		return submit_server_error(c, "message queued, storing in Sent mailbox", error);
	return 0;
}

static int
send_msg(struct sctx *c, struct submit_result *res)
{
	const struct submit_msg *m = c->m;
	const struct conf *conf = c->conf;
	struct store *st = c->st;
	struct send_addrs from, to, cc, bcc, reply_to;
	size_t nrcpt = 0, i, nrefs = m->nreferences, nhdrs = m->nheaders;
	struct queue_rcpt *rcpts = NULL, *qrcpts = NULL;
	struct submit_local local;
	ptrdiff_t *qidx = NULL;
	size_t nq = 0;
	struct buf *fromids = NULL, *keys = NULL;
	const char **keyv = NULL, *const *refs = m->references, *const (*hdrs)[2] = m->headers;
	const char *subject = m->subject != NULL ? m->subject : "",
		*text = m->text != NULL ? m->text : "", *html = m->html != NULL ? m->html : "",
		*error;
	char *full_name = NULL, *separators = NULL, *path = NULL, *sender_lp = NULL;
	struct buf msgid, msg, prefix, sigs, freq, base, lprefix, mailfrom;
	struct queue_msg_in qm;
	struct mail_compose_msg wm;
	int64_t *qids = NULL, next_attempt = 0, now = (int64_t)time(NULL), limit = 0;
	bool utf8 = false, use_fromid = false, from_default = false;
	int rc = -1, reason = QUEUE_OK, r;

	memset(&from, 0, sizeof(from));
	memset(&to, 0, sizeof(to));
	memset(&cc, 0, sizeof(cc));
	memset(&bcc, 0, sizeof(bcc));
	memset(&reply_to, 0, sizeof(reply_to));
	memset(&local, 0, sizeof(local));
	buf_init(&lprefix);
	buf_init(&mailfrom);
	buf_init(&msgid);
	buf_init(&msg);
	buf_init(&prefix);
	buf_init(&sigs);
	buf_init(&freq);
	buf_init(&base);

	if (text[0] == '\0' && html[0] == '\0') {
		submit_set_error(c, "missingBody", "at least text or html body required");
		goto out;
	}
	if (m->nfrom > 1) {
		submit_set_error(c, "multipleFrom", "multiple from-addresses not allowed");
		goto out;
	}
	if (parse_addrs(c, "From", m->from, m->nfrom, &from, &utf8) < 0 ||
	    parse_addrs(c, "To", m->to, m->nto, &to, &utf8) < 0 ||
	    parse_addrs(c, "CC", m->cc, m->ncc, &cc, &utf8) < 0 ||
	    parse_addrs(c, "BCC", m->bcc, m->nbcc, &bcc, &utf8) < 0 ||
	    parse_addrs(c, "ReplyTo", m->reply_to, m->nreply_to, &reply_to, &utf8) < 0)
		goto out;
	if (from.n == 0) {
		/* The reference: the login address, with the account's full
		 * name. */
		const char *login = c->m->login_address;

		from_default = true;
		send_addrs_free(&from);
		from.parsed = xcalloc(1, sizeof(*from.parsed));
		from.v = xcalloc(1, sizeof(*from.v));
		if (mail_addr_parse_mailbox(login, strlen(login), true, &from.parsed[0], &error) < 0) {
			submit_set_error(c, "badFrom", "login \"%s\" is not an email address: give From", login);
			goto out;
		}
		from.n = 1;
		for (i = 0; from.parsed[0].localpart[i] != '\0'; i++)
			if ((unsigned char)from.parsed[0].localpart[i] >= 0x80)
				utf8 = true;
	}
	if (account_facts(c, from.parsed[0].domain, &full_name, &use_fromid, &separators) < 0)
		goto out;
	if (from_default)
		from.v[0].name = arena_strdup(c, full_name);
	{
		bool disabled = false;

		r = store_alias_allows_from(st, c->m->account_id, from.parsed[0].localpart,
			from.parsed[0].domain, &disabled, &error);
		if (r < 0) {
			submit_server_error(c, "checking from address", error);
			goto out;
		}
		if (disabled) {
			submit_set_error(c, "domainDisabled", "domain of from-address is temporarily disabled");
			goto out;
		}
		if (r == 0) {
			submit_set_error(c, "badFrom", "from-address not configured for account");
			goto out;
		}
	}
	nrcpt = to.n + cc.n + bcc.n;
	if (nrcpt == 0) {
		submit_set_error(c, "noRecipients", "no recipients");
		goto out;
	}
	if (nrcpt > SUBMIT_MAX_RCPTS) {
		submit_set_error(c, "user", "too many recipients (at most %d)", SUBMIT_MAX_RCPTS);
		goto out;
	}

	/* Header injection: no CR/LF (or other controls) in anything that
	 * becomes a header field. */
	if (mail_compose_has_ctl(subject)) {
		submit_set_error(c, "user", "checking header values: control characters not allowed "
			"(in Subject)");
		goto out;
	}
	if (m->message_id != NULL) {
		const char *mid = m->message_id;
		size_t n = strlen(mid);

		if (n < 3 || mid[0] != '<' || mid[n - 1] != '>') {
			submit_set_error(c, "malformedMessageID", "missing <> in message-id");
			goto out;
		}
		if (mail_compose_has_ctl(mid) || strpbrk(mid, " \t") != NULL || n > 500) {
			submit_set_error(c, "malformedMessageID", "message-id with spaces or control characters");
			goto out;
		}
		buf_puts(&msgid, mid);
	} else {
		/* RFC 5322 3.6.4: unique, at our host name. */
		buf_putc(&msgid, '<');
		ms_random_token(&msgid, 16);
		buf_printf(&msgid, "@%s>", conf->general.hostname);
	}
	for (i = 0; i < nrefs; i++) {
		if (mail_compose_has_ctl(refs[i]) || strpbrk(refs[i], " \t") != NULL || strlen(refs[i]) > 500) {
			submit_set_error(c, "user", "checking header values: bad References entry");
			goto out;
		}
	}
	for (i = 0; i < nhdrs; i++) {
		size_t k;

		if (!field_name_ok(hdrs[i][0])) {
			submit_set_error(c, "user", "checking header values: bad header field name");
			goto out;
		}
		if (mail_compose_has_ctl(hdrs[i][1]) || strlen(hdrs[i][1]) > 4000) {
			submit_set_error(c, "user", "checking header values: control characters not allowed "
				"(in header %s)", hdrs[i][0]);
			goto out;
		}
		for (k = 0; k < MS_NELEM(reserved_headers); k++)
			if (ms_strcaseeq(hdrs[i][0], reserved_headers[k])) {
				submit_set_error(c, "user", "header %s is set by Send itself; use the request "
					"fields", reserved_headers[k]);
				goto out;
			}
	}
	if (check_files(c, "InlineFiles", m->inline_files, m->ninline) < 0 ||
	    check_files(c, "AttachedFiles", m->attached_files, m->nattached) < 0)
		goto out;
	if (m->extra != NULL)
		for (i = 0; i < m->extra->n; i++) {
			const char *key = m->extra->v[i].key, *k;
			bool ok = key[0] != '\0' && strlen(key) <= 100;

			for (k = key; *k != '\0'; k++)
				if (*k <= 0x20 || *k >= 0x7f)
					ok = false;
			if (!ok || mail_compose_has_ctl(m->extra->v[i].value)) {
				submit_set_error(c, "user", "Extra keys must be printable ASCII, values "
					"without control characters");
				goto out;
			}
		}
	if (m->has_future_release) {
		next_attempt = m->future_release;
		if (next_attempt > now + QUEUE_FUTURE_RELEASE_MAX) {
			submit_set_error(c, "user", "scheduling delivery: date/time can not be further than "
				"%d days in the future", QUEUE_FUTURE_RELEASE_MAX / 86400);
			goto out;
		}
		if (next_attempt > now) {
			time_t tt = (time_t)next_attempt;
			struct tm tm;
			char tmp[64];

			gmtime_r(&tt, &tm);
			if (strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
				tmp[0] = '\0';
			buf_printf(&freq, "until;%s", tmp);
		} else {
			next_attempt = 0;
		}
	}

	/* The account's send limits before any work (the queue checks them
	 * again atomically). */
	keys = xcalloc(nrcpt, sizeof(*keys));
	keyv = xcalloc(nrcpt, sizeof(*keyv));
	rcpts = xcalloc(nrcpt, sizeof(*rcpts));
	for (i = 0; i < nrcpt; i++) {
		const struct mail_addr *a = i < to.n ? &to.parsed[i] : i < to.n + cc.n ?
			&cc.parsed[i - to.n] : &bcc.parsed[i - to.n - cc.n];

		buf_init(&keys[i]);
		queue_rcpt_key(&keys[i], a->localpart, a->domain);
		keyv[i] = keys[i].data;
		rcpts[i].localpart = a->localpart;
		rcpts[i].domain = a->domain;
	}
	if (queue_check_limits(st, c->m->account_id, keyv, nrcpt, &reason, &limit, &error) < 0) {
		submit_server_error(c, "checking send limit", error);
		goto out;
	}
	if (reason == QUEUE_LIMIT_MESSAGES || reason == QUEUE_LIMIT_FIRST_TIME) {
		submit_set_error(c, reason == QUEUE_LIMIT_MESSAGES ? "messageLimitReached" :
			"recipientLimitReached", "%s", queue_refusal_text(reason, limit));
		goto out;
	}
	/* Our own recipients are delivered here, as submission does; with
	 * FutureRelease everything waits in the queue. */
	if (next_attempt == 0 && submit_local_lookup(c, rcpts, nrcpt, &local) < 0)
		goto out;

	format_addrs(c, &from, utf8);
	format_addrs(c, &to, utf8);
	format_addrs(c, &cc, utf8);
	format_addrs(c, &reply_to, utf8);
	memset(&wm, 0, sizeof(wm));
	wm.from = from.v[0];
	wm.to = to.v;
	wm.nto = to.n;
	wm.cc = cc.v;
	wm.ncc = cc.n;
	wm.reply_to = reply_to.v;
	wm.nreply_to = reply_to.n;
	wm.subject = subject;
	wm.date = (time_t)now;
	if (m->has_date)
		wm.date = m->date;
	wm.message_id = msgid.data;
	wm.references = refs;
	wm.nreferences = nrefs;
	wm.headers = hdrs;
	wm.nheaders = nhdrs;
	wm.text = text;
	wm.html = html;
	wm.inline_files = m->inline_files;
	wm.ninline = m->ninline;
	wm.attached_files = m->attached_files;
	wm.nattached = m->nattached;
	wm.smtputf8 = utf8;
	mail_compose(&msg, &wm);
	if (msg.len > conf->web.max_body * 2 + (1 << 20)) {
		submit_set_error(c, "messageTooLarge", "message too large");
		goto out;
	}
	path = write_tmp(c, NULL, &msg);
	if (path == NULL)
		goto out;

	/* RFC 5321 4.4 trace field, then the signatures over the message. */
	buf_printf(&prefix, "Received: from %s by %s id %s; ", conf->general.hostname,
		conf->general.hostname, c->cid);
	ms_rfc5322_date(&prefix, (time_t)now);
	buf_puts(&prefix, "\r\n");
	dkim_sign_msg(c, from.parsed[0].domain, &msg, &sigs);
	buf_append(&prefix, sigs.data, sigs.len);

	/* fromid (the seeds): MAIL FROM localpart + separator + random id
	 * per recipient, so a DSN names the message and recipient. */
	sender_lp = xstrdup(from.parsed[0].localpart);
	if (use_fromid) {
		if (separators[0] == '\0') {
			submit_set_error(c, "user", "fromid login address, but domain %s has no catch-all "
				"separator configured", from.parsed[0].domain);
			goto out;
		}
		sender_lp[strcspn(sender_lp, separators)] = '\0';
		fromids = xcalloc(nrcpt, sizeof(*fromids));
		for (i = 0; i < nrcpt; i++) {
			buf_init(&fromids[i]);
			/* base64url, without the separators themselves. */
			do {
				buf_reset(&fromids[i]);
				ms_random_token(&fromids[i], 12);
			} while (strpbrk(fromids[i].data, separators) != NULL);
			rcpts[i].from_id = fromids[i].data;
		}
	}

	mail_addr_format(&mailfrom, &from.parsed[0], true);
	/* Local copies first, then the queue: a failure after the local
	 * delivery makes a retrying client store duplicates in our own
	 * mailboxes, the other order could send to the world twice (see
	 * smtp_submit.c). */
	if (local.nlocal > 0) {
		struct submit_local_msg lm;

		buf_printf(&lprefix, "Return-Path: <%s>\r\n", mailfrom.data);
		buf_append(&lprefix, prefix.data, prefix.len);
		memset(&lm, 0, sizeof(lm));
		lm.path = path;
		lm.msg = &msg;
		lm.prefix = &prefix;
		lm.local_prefix = &lprefix;
		lm.mailfrom = mailfrom.data;
		lm.from_localpart = from.parsed[0].localpart;
		lm.from_domain = from.parsed[0].domain;
		if (submit_local_deliver(c, &lm, rcpts, nrcpt, &local) < 0)
			goto out;
	}
	/* The queue: remote recipients, and external alias members. */
	qrcpts = xcalloc(nrcpt + local.fwd.n + 1, sizeof(*qrcpts));
	qidx = xcalloc(nrcpt + 1, sizeof(*qidx));
	for (i = 0; i < nrcpt; i++) {
		qidx[i] = -1;
		if (local.is_local == NULL || !local.is_local[i]) {
			qidx[i] = (ptrdiff_t)nq;
			qrcpts[nq++] = rcpts[i];
		}
	}
	for (i = 0; i < local.fwd.n; i++) {
		qrcpts[nq].localpart = local.fwd.localparts[i];
		qrcpts[nq].domain = local.fwd.domains[i];
		qrcpts[nq].from_id = NULL;
		nq++;
	}
	qids = xcalloc(nq + 1, sizeof(*qids));
	if (nq > 0) {
		memset(&qm, 0, sizeof(qm));
		qm.path = path;
		qm.prefix = prefix.data;
		qm.prefix_len = prefix.len;
		qm.account_id = c->m->account_id;
		qm.sender_localpart = sender_lp;
		qm.sender_domain = from.parsed[0].domain;
		qm.has_8bit = utf8;
		qm.smtputf8 = utf8;
		qm.message_id = msgid.data;
		qm.subject = subject;
		qm.require_tls = m->require_tls == SUBMIT_TLS_REQUIRED ? QUEUE_TLS_REQUIRED :
			m->require_tls == SUBMIT_TLS_NOT_REQUIRED ? QUEUE_TLS_NOT_REQUIRED :
			QUEUE_TLS_DEFAULT;
		qm.next_attempt = next_attempt;
		qm.future_release_request = freq.len > 0 ? freq.data : NULL;
		qm.extra = m->extra != NULL && m->extra->n > 0 ? m->extra : NULL;
		qm.check_limits = true;
		r = queue_add(st, &qm, qrcpts, nq, qids, &error);
		if (r == QUEUE_LIMIT_MESSAGES || r == QUEUE_LIMIT_FIRST_TIME) {
			submit_set_error(c, r == QUEUE_LIMIT_MESSAGES ? "messageLimitReached" :
				"recipientLimitReached", "%s", error);
			goto out;
		}
		if (r != 0) {
			submit_server_error(c, "adding messages to the delivery queue", error);
			goto out;
		}
	}
	{
		struct buf ids;

		buf_init(&ids);
		for (i = 0; i < nq; i++)
			buf_printf(&ids, "%s%lld", i ? "," : "", (long long)qids[i]);
		log_info(c->cid, "proto=http app=%s ev=send account=%s rcpts=%zu local=%zu "
			"copies=%zu queued=%zu size=%zu messageid=%s queueids=%s fromid=%s", c->m->app,
			lq(c->m->account_name), nrcpt, local.nlocal, local.ncopies, nq, msg.len,
			lq(msgid.data), ids.data, use_fromid ? "yes" : "no");
		buf_free(&ids);
	}
	if (m->save_sent && save_sent(c, &bcc, utf8, &prefix, &msg) < 0)
		goto out;

	res->message_id = xstrdup(msgid.data);
	res->nrcpts = nrcpt;
	res->nlocal = local.nlocal;
	res->nqueued = nq;
	res->rcpts = xcalloc(nrcpt + 1, sizeof(*res->rcpts));
	for (i = 0; i < nrcpt; i++) {
		res->rcpts[i].queue_id = qidx[i] >= 0 ? qids[qidx[i]] : 0;
		res->rcpts[i].from_id = xstrdup(fromids != NULL && qidx[i] >= 0 ?
			fromids[i].data : "");
	}
	rc = 0;
out:
	if (path != NULL) {
		(void)unlink(path);
		free(path);
	}
	if (keys != NULL)
		for (i = 0; i < nrcpt; i++)
			buf_free(&keys[i]);
	if (fromids != NULL)
		for (i = 0; i < nrcpt; i++)
			buf_free(&fromids[i]);
	free(keys);
	free(keyv);
	free(fromids);
	free(rcpts);
	free(qids);
	free(full_name);
	free(separators);
	free(sender_lp);
	send_addrs_free(&from);
	send_addrs_free(&to);
	send_addrs_free(&cc);
	send_addrs_free(&bcc);
	send_addrs_free(&reply_to);
	buf_free(&msgid);
	buf_free(&msg);
	buf_free(&prefix);
	buf_free(&sigs);
	buf_free(&freq);
	buf_free(&base);
	buf_free(&lprefix);
	buf_free(&mailfrom);
	submit_local_free(&local);
	free(qrcpts);
	free(qidx);
	return rc;
}

int
submit_send(struct store *st, const struct conf *conf, const char *cid,
	const struct submit_msg *m, struct submit_result *res, struct submit_err *err)
{
	struct sctx c;
	size_t i;
	int r;

	memset(res, 0, sizeof(*res));
	memset(&c, 0, sizeof(c));
	c.st = st;
	c.conf = conf;
	c.cid = cid;
	c.m = m;
	c.err = err;
	r = send_msg(&c, res);
	for (i = 0; i < c.nstrs; i++)
		free(c.strs[i]);
	free(c.strs);
	if (r < 0)
		submit_result_free(res);
	return r;
}
