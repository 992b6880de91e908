/* Message submission (RFC 6409) in mailstead-smtpd: which MAIL FROM and
 * From addresses an authenticated account may use, and what happens after
 * DATA: the message is checked, local recipients get their copies at once
 * (store_deliver through the same delivery plan as port 25) and the rest
 * goes to the outgoing queue (queue_add), both durable before the one 250. */
#include "config.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/log.h"
#include "db/db.h"
#include "core/util.h"
#include "mail/addr.h"
#include "mail/header.h"
#include "mailauth/dkim.h"
#include "queue/queue.h"
#include "smtp_private.h"
#include "store/store.h"

/* RFC 6409 6.1 (and the reference): the MSA checks that the sender is one
 * of the authenticated user's addresses: an address (or catch-all) that
 * delivers to the account, or an alias with allow_msg_from that the
 * account is a member of (store_alias_allows_from). The null reverse-path
 * is allowed, as in the reference: mail clients send delivery and read
 * notifications (RFC 3461, RFC 8098) with it; the From header is still
 * checked after DATA. */
int
smtp_submit_check_mailfrom(struct smtp_session *s, const struct smtp_mail *m)
{
	const char *error;
	bool disabled = false;
	int r;

	if (m->null_sender)
		return 0;
	if (m->from.domain[0] == '[') {
		/* An address literal is never one of ours. */
		r = 0;
	} else {
		r = store_alias_allows_from(s->srv->store, s->account_id, m->from.localpart,
			m->from.domain, &disabled, &error);
		if (r < 0) {
			log_error(s->cid, "proto=smtp ev=mail result=error err=%s", lq(error));
			smtp_reply(s, "451 4.3.0 temporary error checking the sender, try again later");
			return -1;
		}
	}
	if (disabled) {
		log_info(s->cid, "proto=smtp ev=mail from=%s@%s result=refused reason=domain-disabled",
			lq(m->from.localpart), lq(m->from.domain));
		smtp_reply(s, "451 4.3.0 domain of MAIL FROM address temporarily disabled");
		return -1;
	}
	if (r == 0) {
		log_info(s->cid, "proto=smtp ev=mail from=%s@%s account=%s result=refused "
			"reason=not-own-address", lq(m->from.localpart), lq(m->from.domain),
			lq(s->account_name));
		smtp_refuse(s, "550 5.7.1 MAIL FROM must match authenticated account");
		return -1;
	}
	return 0;
}

/* ---- the message ---- */

/* Does the header section read from the file end with the empty line
 * (RFC 5322 2.1: header, empty line, body)? */
static bool
has_header_end(const struct buf *h)
{
	return (h->len >= 2 && memcmp(h->data + h->len - 2, "\n\n", 2) == 0) ||
		(h->len >= 3 && memcmp(h->data + h->len - 3, "\n\r\n", 3) == 0) ||
		(h->len == 2 && memcmp(h->data, "\r\n", 2) == 0);
}

/* Number of header fields named name (case-insensitive). */
static size_t
count_fields(const char *h, size_t n, const char *name)
{
	struct mail_header_iter it;
	const char *fname, *value;
	size_t flen, vlen, count = 0;

	mail_header_iter_init(&it, h, n);
	while (mail_header_next(&it, &fname, &flen, &value, &vlen))
		if (flen == strlen(name) && ms_strncaseeq(fname, name, flen))
			count++;
	return count;
}

/* RFC 8689 5: "TLS-Required: No" asks to deliver even when the recipient
 * domain's policy (MTA-STS, DANE) cannot be met. As the reference: every
 * TLS-Required field must say "no"; only without REQUIRETLS. */
static bool
has_tls_required_no(const char *h, size_t n)
{
	struct mail_header_iter it;
	const char *fname, *value;
	size_t flen, vlen;
	bool seen = false;

	mail_header_iter_init(&it, h, n);
	while (mail_header_next(&it, &fname, &flen, &value, &vlen)) {
		struct buf v;
		bool no;

		if (!(flen == strlen("TLS-Required") &&
			    ms_strncaseeq(fname, "TLS-Required", flen)))
			continue;
		buf_init(&v);
		mail_header_unfold(&v, value, vlen);
		no = ms_strcaseeq(v.data, "no");
		buf_free(&v);
		if (!no)
			return false;
		seen = true;
	}
	return seen;
}

/* RFC 5322 3.6.4 msg-id for a message without one (RFC 6409 8.3: the MSA
 * may add it): random, at our host name. */
static void
make_message_id(struct smtp_session *s, struct buf *out)
{
	unsigned char r[16];

	ms_random(r, sizeof(r));
	buf_putc(out, '<');
	ms_base64url_encode(out, r, sizeof(r));
	buf_printf(out, "@%s>", s->srv->hostname);
}

/* Append "until;" and t as RFC 3339 UTC, the request the reference stores
 * for HOLDUNTIL. */
static void
format_until(struct buf *out, int64_t t)
{
	char tmp[64];
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	if (strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		tmp[0] = '\0';
	buf_printf(out, "until;%s", tmp);
}

struct submit_rcpts {
	struct queue_rcpt *v;
	size_t n, cap;
};

static void
rcpts_add(struct submit_rcpts *r, const char *localpart, const char *domain)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 8;
		r->v = xrealloc(r->v, r->cap * sizeof(*r->v));
	}
	memset(&r->v[r->n], 0, sizeof(r->v[r->n]));
	r->v[r->n].localpart = localpart;
	r->v[r->n].domain = domain;
	r->n++;
}

/* FROMID (the seeds): after a login with one of the account's
 * fromid_login_addresses (sql/016, set in the account web interface), each
 * queued recipient gets a random fromid; mailstead-queued then sends with
 * MAIL FROM localpart<separator>fromid@domain, so a DSN or reply to it is
 * matched to the message (webhooks). *ids_r (qr->n strings, NULL when no
 * fromid is used) must be freed with free_fromids. Returns 0 or -1. */
static int
assign_fromids(struct smtp_session *s, struct submit_rcpts *qr, char ***ids_r,
	const char **error_r)
{
	const char *login = s->username != NULL && s->username[0] != '\0' ? s->username :
		s->tls_login_address;
	struct db_pool *pool = s->srv->store->pool;
	PGresult *res;
	PGconn *c;
	bool use;
	size_t i;

	*ids_r = NULL;
	if (login == NULL || login[0] == '\0' || qr->n == 0)
		return 0;
	c = db_get(pool, error_r);
	if (c == NULL)
		return -1;
	res = db_execv(c, error_r, "SELECT EXISTS (SELECT 1 FROM accounts a,"
		" unnest(a.fromid_login_addresses) AS f(addr) WHERE a.id = $1 AND lower(f.addr) = lower($2))",
		2, db_i64(s->account_id), login);
	db_put(pool, c);
	if (res == NULL)
		return -1;
	use = db_get_bool(res, 0, 0);
	PQclear(res);
	if (!use)
		return 0;
	*ids_r = xcalloc(qr->n, sizeof(char *));
	for (i = 0; i < qr->n; i++) {
		struct buf b;

		/* 12 random bytes: 16 base64url characters. */
		buf_init(&b);
		ms_random_token(&b, 12);
		(*ids_r)[i] = buf_steal(&b);
		buf_free(&b);
		qr->v[i].from_id = (*ids_r)[i];
	}
	return 0;
}

static void
free_fromids(char **ids, size_t n)
{
	size_t i;

	if (ids == NULL)
		return;
	for (i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

/* The account's send limits (the reference's SendLimitReached) for all
 * recipients of the transaction, local ones included as the reference
 * counts them. Returns 0 within limits, 1 refused (replied), -1 error. */
static int
precheck_limits(struct smtp_session *s, const char *txid)
{
	struct buf *keys = xcalloc(s->tx.nrcpts, sizeof(*keys));
	const char **v = xcalloc(s->tx.nrcpts, sizeof(*v));
	const char *error;
	int reason = QUEUE_OK, r;
	int64_t limit = 0;
	size_t i;

	for (i = 0; i < s->tx.nrcpts; i++) {
		buf_init(&keys[i]);
		queue_rcpt_key(&keys[i], s->tx.rcpts[i].localpart, s->tx.rcpts[i].domain);
		v[i] = keys[i].data;
	}
	r = queue_check_limits(s->srv->store, s->account_id, v, s->tx.nrcpts, &reason, &limit,
		&error);
	if (r < 0) {
		log_error(s->cid, "proto=smtp ev=data result=error err=%s txid=%s", lq(error), txid);
	} else if (reason != QUEUE_OK) {
		smtp_reply(s, "451 4.7.1 %s", queue_refusal_text(reason, limit));
		log_info(s->cid, "proto=smtp ev=data result=refused reason=send-limit limit=%lld "
			"account=%s txid=%s", (long long)limit, lq(s->account_name), txid);
		r = 1;
	}
	for (i = 0; i < s->tx.nrcpts; i++)
		buf_free(&keys[i]);
	free(keys);
	free(v);
	return r;
}

/* DKIM-sign a submission (RFC 6376 5) with every signing selector of the
 * From domain: the signed data is the header fields we add (Message-Id,
 * Date, in added) followed by the file as received. Signatures are
 * appended to out. A failure is logged and the message goes out without
 * that signature (a broken key must not stop all mail). */
static void
dkim_sign_submission(struct smtp_session *s, const char *path, const char *from_domain,
	const struct buf *added, struct buf *out, const char *txid)
{
	struct store_dkim_selector *sels = NULL;
	struct buf data;
	struct stat st;
	const char *error;
	char *uni = NULL, *ascii = NULL;
	size_t nsels = 0, i;
	void *map = MAP_FAILED;
	int fd;

	if (from_domain == NULL || from_domain[0] == '\0')
		return;
	if (store_dkim_selectors(s->srv->store, from_domain, true, &sels, &nsels, &error) < 0) {
		log_error(s->cid, "proto=smtp ev=dkim-sign result=error err=%s txid=%s",
			lq(error), txid);
		return;
	}
	if (nsels == 0 || mail_domain_parse(from_domain, strlen(from_domain), true, &uni, &ascii,
		    &error) < 0) {
		store_dkim_selectors_free(sels, nsels);
		return;
	}
	buf_init(&data);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > 0)
		map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (fd >= 0)
		close(fd);
	if (map == MAP_FAILED) {
		log_error(s->cid, "proto=smtp ev=dkim-sign result=error err=%s txid=%s",
			lq("cannot read message"), txid);
		goto out;
	}
	buf_append(&data, added->data, added->len);
	buf_append(&data, map, (size_t)st.st_size);
	munmap(map, (size_t)st.st_size);
	for (i = 0; i < nsels; i++) {
		struct dkim_sign_opts o;
		EVP_PKEY *key;

		key = dkim_key_from_pem_cached(sels[i].private_key, strlen(sels[i].private_key),
			&error);
		if (key == NULL) {
			log_error(s->cid, "proto=smtp ev=dkim-sign result=error domain=%s selector=%s"
				" err=%s txid=%s", lq(ascii), lq(sels[i].selector), lq(error), txid);
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
		if (dkim_sign(&o, data.data, data.len, out, &error) < 0)
			log_error(s->cid, "proto=smtp ev=dkim-sign result=error domain=%s selector=%s"
				" err=%s txid=%s", lq(ascii), lq(sels[i].selector), lq(error), txid);
		else
			log_debug(s->cid, "proto=smtp ev=dkim-sign domain=%s selector=%s txid=%s",
				lq(ascii), lq(sels[i].selector), txid);
		EVP_PKEY_free(key);
	}
out:
	buf_free(&data);
	free(uni);
	free(ascii);
	store_dkim_selectors_free(sels, nsels);
}

/* After DATA on submission. The order of the two durable steps, and why:
 *
 *  1. Everything that can refuse the message is decided first, with no
 *     side effects: header and From checks, X-Mailstead-Extra-* syntax,
 *     the send limits over all recipients, the alias posting rules.
 *  2. Local copies are stored (store_deliver).
 *  3. Remote recipients (and external members of local aliases) are
 *     queued (queue_add, which checks the limits again atomically).
 *  4. Only then 250.
 *
 * If step 3 fails after step 2 succeeded we answer 451, and a retrying
 * client stores the local copies a second time. The other order would, on
 * a failure of the local delivery, send the message to the remote
 * recipients twice: a duplicate in our own mailboxes (same Message-ID,
 * which clients can collapse) is the lesser harm than a duplicate sent to
 * the world, which cannot be taken back. The predictable refusal of step 3
 * (send limit) is caught in step 1, so only a database or disk failure, or
 * a concurrent submission of the same account hitting the limit in
 * between, leads there.
 *
 * With FUTURERELEASE (HOLDFOR/HOLDUNTIL) every recipient, local ones
 * included, goes to the queue, so nobody sees the message before the
 * release time the user asked for. */
void
smtp_submit_data(struct smtp_session *s, const char *path, const char *txid,
	const struct smtp_data *d)
{
	struct buf hdr, v, msgid, subject, rcv, extra_prefix, prefix, ids, qids, req;
	struct queue_extra extra;
	struct store_forwards fw;
	struct submit_rcpts qr;
	char **fromids = NULL;
	struct queue_msg_in qm;
	char *from_lp = NULL, *from_dom = NULL;
	const char *error;
	bool hold = s->tx.mail.has_hold, disabled = false, local_done = false;
	int64_t *qid = NULL;
	size_t i, nlocal = 0, nremote = 0;
	int r;

	buf_init(&hdr);
	buf_init(&v);
	buf_init(&msgid);
	buf_init(&subject);
	buf_init(&rcv);
	buf_init(&extra_prefix);
	buf_init(&prefix);
	buf_init(&ids);
	buf_init(&qids);
	buf_init(&req);
	memset(&extra, 0, sizeof(extra));
	memset(&fw, 0, sizeof(fw));
	memset(&qr, 0, sizeof(qr));

	if (store_msg_read_header(path, STORE_RULES_HEADER_READ_MAX, &hdr, &error) < 0) {
		log_error(s->cid, "proto=smtp ev=data result=error err=%s txid=%s", lq(error), txid);
		smtp_reply(s, "451 4.3.0 temporary error reading message, try again later");
		goto out;
	}
	/* RFC 6409 8 (the reference): "message requires both header and body
	 * section". */
	if (!has_header_end(&hdr)) {
		smtp_refuse(s, "554 5.6.0 message requires both header and body section");
		log_info(s->cid, "proto=smtp ev=data result=refused reason=no-header-end txid=%s",
			txid);
		goto out;
	}
	/* The From header: exactly one field with exactly one address (RFC
	 * 5322 3.6: one From; a second makes DMARC ambiguous), which must be
	 * the account's, as MAIL FROM. */
	if (count_fields(hdr.data, hdr.len, "From") != 1 ||
	    store_msgfrom_parse(hdr.data, hdr.len, &from_lp, &from_dom) != 1) {
		smtp_refuse(s, "550 5.6.0 message needs exactly one From header with one address");
		log_info(s->cid, "proto=smtp ev=data result=refused reason=bad-from account=%s "
			"txid=%s", lq(s->account_name), txid);
		goto out;
	}
	r = store_alias_allows_from(s->srv->store, s->account_id, from_lp, from_dom, &disabled,
		&error);
	if (r < 0) {
		log_error(s->cid, "proto=smtp ev=data result=error err=%s txid=%s", lq(error), txid);
		smtp_reply(s, "451 4.3.0 temporary error checking the From address, try again later");
		goto out;
	}
	if (disabled) {
		smtp_reply(s, "451 4.3.0 domain of message From address temporarily disabled");
		log_info(s->cid, "proto=smtp ev=data result=refused reason=from-domain-disabled "
			"msgfrom=%s txid=%s", lq(ms_err("%s@%s", from_lp, from_dom)), txid);
		goto out;
	}
	if (r == 0) {
		smtp_refuse(s, "550 5.7.1 message From address must belong to authenticated account");
		log_info(s->cid, "proto=smtp ev=data result=refused reason=not-own-from msgfrom=%s "
			"account=%s txid=%s", lq(ms_err("%s@%s", from_lp, from_dom)),
			lq(s->account_name), txid);
		goto out;
	}
	/* X-Mailstead-Extra-*: data for webhooks, kept in the queue row. */
	if (queue_extract_extra(hdr.data, hdr.len, &extra, &error) < 0) {
		smtp_reply(s, "554 5.6.0 %s", error);
		s->nerrors++;
		log_info(s->cid, "proto=smtp ev=data result=refused reason=bad-extra err=%s txid=%s",
			lq(error), txid);
		goto out;
	}

	/* RFC 6409 8.3 / 8.1: Message-ID and Date when missing, in the
	 * prefix (the file stays as received). */
	if (mail_header_get(hdr.data, hdr.len, "Message-ID", &v) && v.len > 0) {
		buf_append(&msgid, v.data, v.len);
	} else {
		make_message_id(s, &msgid);
		buf_printf(&extra_prefix, "Message-Id: %s\r\n", msgid.data);
	}
	buf_reset(&v);
	if (!mail_header_get(hdr.data, hdr.len, "Date", &v)) {
		buf_puts(&extra_prefix, "Date: ");
		ms_rfc5322_date(&extra_prefix, time(NULL));
		buf_puts(&extra_prefix, "\r\n");
	}
	(void)mail_header_get(hdr.data, hdr.len, "Subject", &subject);
	/* DKIM signatures over what we added so far and the message. */
	{
		struct buf sigs;

		buf_init(&sigs);
		dkim_sign_submission(s, path, from_dom, &extra_prefix, &sigs, txid);
		if (sigs.len > 0) {
			buf_append(&sigs, extra_prefix.data, extra_prefix.len);
			buf_reset(&extra_prefix);
			buf_append(&extra_prefix, sigs.data, sigs.len);
		}
		buf_free(&sigs);
	}
	/* RFC 8601 2.7.4 "auth" method, as the reference adds. */
	buf_printf(&extra_prefix, "Authentication-Results: %s; auth=pass", s->srv->hostname);
	if (!s->tx.mail.null_sender)
		buf_printf(&extra_prefix, " smtp.mailfrom=%s", s->tx.from);
	buf_puts(&extra_prefix, "\r\n");
	smtp_build_prefix(s, txid, false, NULL, &rcv);

	for (i = 0; i < s->tx.nrcpts; i++) {
		if (s->tx.rcpts[i].r.status == STORE_DEST_OK)
			nlocal++;
		else
			nremote++;
	}
	r = precheck_limits(s, txid);
	if (r < 0) {
		smtp_reply(s, "451 4.3.0 temporary error checking send limits, try again later");
		goto out;
	}
	if (r > 0)
		goto out;

	/* Step 2: local copies, with Return-Path as a final delivery. */
	if (!hold && nlocal > 0) {
		buf_printf(&prefix, "Return-Path: <%s>\r\n", s->tx.from);
		buf_append(&prefix, rcv.data, rcv.len);
		buf_append(&prefix, extra_prefix.data, extra_prefix.len);
		r = smtp_deliver_local(s, path, txid, &prefix, true, NULL, &ids, &fw, &error);
		if (r < 0) {
			log_error(s->cid, "proto=smtp ev=data result=error err=%s txid=%s",
				lq(error), txid);
			smtp_reply(s, "451 4.3.0 temporary error storing message, try again later");
			goto out;
		}
		if (r > 0) {
			smtp_refuse(s, error);
			log_info(s->cid, "proto=smtp ev=data result=refused reply=%s txid=%s",
				lq(error), txid);
			goto out;
		}
		local_done = ids.len > 0;
	}

	/* Step 3: the queue. */
	for (i = 0; i < s->tx.nrcpts; i++)
		if (hold || s->tx.rcpts[i].r.status != STORE_DEST_OK)
			rcpts_add(&qr, s->tx.rcpts[i].localpart, s->tx.rcpts[i].domain);
	for (i = 0; i < fw.n; i++)
		rcpts_add(&qr, fw.localparts[i], fw.domains[i]);
	if (qr.n > 0) {
		buf_reset(&prefix);
		buf_append(&prefix, rcv.data, rcv.len);
		buf_append(&prefix, extra_prefix.data, extra_prefix.len);
		memset(&qm, 0, sizeof(qm));
		qm.path = path;
		qm.prefix = prefix.data;
		qm.prefix_len = prefix.len;
		qm.account_id = s->account_id;
		qm.sender_localpart = s->tx.mail.null_sender ? "" : s->tx.mail.from.localpart;
		qm.sender_domain = s->tx.mail.null_sender ? "" : s->tx.mail.from.domain;
		qm.has_8bit = d->eightbit;
		qm.smtputf8 = s->tx.mail.smtputf8;
		qm.message_id = msgid.data;
		qm.subject = subject.data;
		/* RFC 8689: REQUIRETLS wins over "TLS-Required: No". */
		qm.require_tls = s->tx.mail.requiretls ? QUEUE_TLS_REQUIRED :
			has_tls_required_no(hdr.data, hdr.len) ? QUEUE_TLS_NOT_REQUIRED :
			QUEUE_TLS_DEFAULT;
		if (hold) {
			qm.next_attempt = s->tx.mail.hold_until;
			if (s->tx.mail.hold_is_for)
				buf_printf(&req, "for;%llu", (unsigned long long)s->tx.mail.hold_for);
			else
				format_until(&req, s->tx.mail.hold_until);
			qm.future_release_request = req.data;
		}
		qm.extra = &extra;
		qm.strip_extra_headers = true;
		qm.check_limits = true;
		qid = xcalloc(qr.n, sizeof(*qid));
		if (assign_fromids(s, &qr, &fromids, &error) < 0) {
			log_error(s->cid, "proto=smtp ev=data result=error err=%s txid=%s", lq(error), txid);
			smtp_reply(s, "451 4.3.0 temporary error queueing message, try again later");
			goto out;
		}
		r = queue_add(s->srv->store, &qm, qr.v, qr.n, qid, &error);
		if (r != 0) {
			if (r == QUEUE_LIMIT_MESSAGES || r == QUEUE_LIMIT_FIRST_TIME) {
				/* The limit was reached since the check above, by a
				 * concurrent submission. */
				smtp_reply(s, "451 4.7.1 %s", error);
				log_info(s->cid, "proto=smtp ev=data result=refused reason=send-limit "
					"local_delivered=%s txid=%s", local_done ? "yes" : "no", txid);
			} else {
				log_error(s->cid, "proto=smtp ev=data result=error err=%s "
					"local_delivered=%s txid=%s", lq(error),
					local_done ? "yes" : "no", txid);
				smtp_reply(s, "451 4.3.0 temporary error queueing message, try again later");
			}
			goto out;
		}
		for (i = 0; i < qr.n; i++)
			buf_printf(&qids, "%s%lld", i ? "," : "", (long long)qid[i]);
	}
	/* Durable for every recipient: only now 250. */
	log_info(s->cid, "proto=smtp ev=data result=submitted account=%s size=%llu 8bit=%s "
		"rcpts=%zu local=%zu remote=%zu queued=%zu hold=%s msgids=%s queueids=%s "
		"messageid=%s txid=%s", lq(s->account_name), (unsigned long long)d->size,
		d->eightbit ? "yes" : "no", s->tx.nrcpts, hold ? 0 : nlocal, nremote, qr.n,
		hold ? "yes" : "no", ids.data, qids.data, lq(msgid.data), txid);
	smtp_reply(s, "250 2.0.0 message accepted as %s", txid);
out:
	free(from_lp);
	free(from_dom);
	free(qid);
	free_fromids(fromids, qr.n);
	free(qr.v);
	store_forwards_free(&fw);
	queue_extra_free(&extra);
	buf_free(&hdr);
	buf_free(&v);
	buf_free(&msgid);
	buf_free(&subject);
	buf_free(&rcv);
	buf_free(&extra_prefix);
	buf_free(&prefix);
	buf_free(&ids);
	buf_free(&qids);
	buf_free(&req);
}
