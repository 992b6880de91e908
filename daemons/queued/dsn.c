/* Delivery status notifications we send (RFC 3464, with RFC 6533 for
 * internationalized addresses): a multipart/report with a human part, the
 * machine-readable message/delivery-status (or message/global-delivery-
 * status) and the original header section, with References to the
 * original message so mail clients thread it. Local senders get it in
 * their Inbox (lib/store); remote senders through the queue with the null
 * reverse-path (RFC 5321 4.5.5), so no DSN about a DSN is ever made. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "mail/mime.h"
#include "queued.h"

static bool
has_nonascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

/* The original header section (prefix plus the file's header), at most
 * 64 KiB. */
static void
original_header(struct queued *q, const struct queue_item *it, struct buf *out)
{
	struct buf path, file;
	size_t hend;

	buf_append(out, it->prefix.data, it->prefix.len);
	buf_init(&path);
	buf_init(&file);
	buf_printf(&path, "%s/%s", q->store->datadir, it->file_path);
	if (ms_read_file(path.data, &file) == 0) {
		hend = mime_header_end(file.data, file.len);
		if (hend > 65536)
			hend = 65536;
		buf_append(out, file.data, hend);
	}
	buf_free(&path);
	buf_free(&file);
	/* End with exactly one CRLF CRLF. */
	while (out->len > 0 && (out->data[out->len - 1] == '\n' || out->data[out->len - 1] == '\r'))
		out->len--;
	out->data[out->len] = '\0';
	buf_puts(out, "\r\n");
}

static void
rfc5322_utc(struct buf *out, int64_t t)
{
	ms_rfc5322_date(out, (time_t)t);
}

/* Compose the DSN. utf8: the SMTPUTF8 form (message/global-delivery-
 * status, RFC 6533 3), else addresses are given in ASCII form where
 * possible and "utf-8" address types are still used for non-ASCII
 * localparts (RFC 6533 allows them in message/delivery-status only
 * encoded; we then use the global form anyway). */
static void
compose(struct queued *q, const struct dsn_rcpt *r, size_t n, bool delayed, const char *to,
	bool utf8, struct buf *out)
{
	const struct queue_item *it0 = r[0].it;
	struct buf bnd, hdr;
	size_t i;

	buf_init(&bnd);
	buf_init(&hdr);
	ms_random_token(&bnd, 12);
	buf_printf(out, "From: Mail Delivery Subsystem <postmaster@%s>\r\n", q->hostname);
	buf_printf(out, "To: <%s>\r\n", to);
	buf_printf(out, "Subject: %s\r\n", delayed ? "mail delivery delayed" : "mail delivery failed");
	buf_printf(out, "Message-Id: <%s.dsn@%s>\r\n", bnd.data, q->hostname);
	buf_puts(out, "Date: ");
	rfc5322_utc(out, ms_now());
	buf_puts(out, "\r\n");
	/* Seeds: a References header to the message with the problem, so
	 * mail clients show the DSN with it. */
	if (it0->message_id[0] == '<')
		buf_printf(out, "References: %s\r\nIn-Reply-To: %s\r\n", it0->message_id,
			it0->message_id);
	buf_puts(out, "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n");
	buf_printf(out, "Content-Type: multipart/report; report-type=%s;\r\n\tboundary=\"%s\"\r\n\r\n",
		utf8 ? "global-delivery-status" : "delivery-status", bnd.data);
	buf_puts(out, "This is a delivery status notification (RFC 3464).\r\n\r\n");

	buf_printf(out, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n"
		"Content-Transfer-Encoding: 8bit\r\n\r\n", bnd.data);
	if (delayed)
		buf_puts(out, "Delivery of your message has been delayed. Delivery will be retried;"
			" you will be notified if it fails for good.\r\n\r\n");
	else
		buf_puts(out, "Delivery of your message failed; it will not be retried.\r\n\r\n");
	if (it0->subject[0] != '\0')
		buf_printf(out, "Subject: %s\r\n", it0->subject);
	if (it0->message_id[0] != '\0')
		buf_printf(out, "Message-ID: %s\r\n", it0->message_id);
	buf_puts(out, "\r\n");
	for (i = 0; i < n; i++)
		buf_printf(out, "Recipient: %s@%s\r\nError: %s\r\n\r\n", r[i].it->rcpt_localpart,
			r[i].it->rcpt_domain, r[i].error);

	buf_printf(out, "--%s\r\nContent-Type: message/%s\r\n%s\r\n", bnd.data,
		utf8 ? "global-delivery-status" : "delivery-status",
		utf8 ? "Content-Transfer-Encoding: 8bit\r\n" : "");
	buf_printf(out, "Reporting-MTA: dns; %s\r\n", q->hostname);
	buf_puts(out, "Arrival-Date: ");
	rfc5322_utc(out, it0->queued);
	buf_puts(out, "\r\n");
	for (i = 0; i < n; i++) {
		const struct queue_item *it = r[i].it;
		const char *status = r[i].secode[0] ? r[i].secode : delayed ? "4.0.0" : "5.0.0";
		bool u = has_nonascii(it->rcpt_localpart) || has_nonascii(it->rcpt_domain);

		/* RFC 3464 2.3: Final-Recipient with its address type;
		 * "utf-8" for internationalized addresses (RFC 6533 3). */
		buf_printf(out, "\r\nFinal-Recipient: %s; %s@%s\r\n", u ? "utf-8" : "rfc822",
			it->rcpt_localpart, it->rcpt_domain);
		buf_printf(out, "Action: %s\r\nStatus: %s\r\n", delayed ? "delayed" : "failed",
			(status[0] == '4' || status[0] == '5') ? status : delayed ? "4.0.0" : "5.0.0");
		if (r[i].remote_mta != NULL)
			buf_printf(out, "Remote-MTA: dns; %s\r\n", r[i].remote_mta);
		if (r[i].code > 0) {
			struct buf diag;

			buf_init(&diag);
			queue_utf8_sanitize(&diag, r[i].error);
			/* One line: CR/LF from a multi-line reply become spaces. */
			for (size_t k = 0; k < diag.len; k++)
				if (diag.data[k] == '\r' || diag.data[k] == '\n')
					diag.data[k] = ' ';
			buf_printf(out, "Diagnostic-Code: smtp; %s\r\n", diag.data);
			buf_free(&diag);
		}
		buf_puts(out, "Last-Attempt-Date: ");
		rfc5322_utc(out, ms_now());
		buf_puts(out, "\r\n");
	}
	original_header(q, it0, &hdr);
	buf_printf(out, "\r\n--%s\r\nContent-Type: %s\r\n%s\r\n", bnd.data,
		utf8 ? "message/global-headers" : "text/rfc822-headers",
		has_nonascii(hdr.data) ? "Content-Transfer-Encoding: 8bit\r\n" : "");
	buf_append(out, hdr.data, hdr.len);
	buf_printf(out, "\r\n--%s--\r\n", bnd.data);
	buf_free(&bnd);
	buf_free(&hdr);
}

static int
write_tmp(struct queued *q, const struct buf *msg, char **path_r, const char **error_r)
{
	int fd = store_tmpfile(q->store, path_r, error_r);

	if (fd < 0)
		return -1;
	if (ms_write_all(fd, msg->data, msg->len) < 0 || fsync(fd) < 0) {
		*error_r = "writing DSN file failed";
		close(fd);
		(void)unlink(*path_r);
		free(*path_r);
		*path_r = NULL;
		return -1;
	}
	close(fd);
	return 0;
}

void
dsn_send(struct queued *q, const struct dsn_rcpt *r, size_t n, bool delayed)
{
	const struct queue_item *it0 = r[0].it;
	struct buf msg, to;
	char *path = NULL;
	const char *error = NULL;
	bool utf8;
	size_t i;
	int rc = -1;

	/* No DSN about DSNs (null sender) or about our reports. */
	if (it0->sender_domain[0] == '\0' || it0->is_dmarc_report || it0->is_tls_report)
		return;
	buf_init(&msg);
	buf_init(&to);
	buf_printf(&to, "%s@%s", it0->sender_localpart, it0->sender_domain);
	utf8 = has_nonascii(to.data);
	for (i = 0; i < n; i++)
		utf8 |= has_nonascii(r[i].it->rcpt_localpart) || has_nonascii(r[i].it->rcpt_domain);
	compose(q, r, n, delayed, to.data, utf8, &msg);
	if (write_tmp(q, &msg, &path, &error) < 0)
		goto out;
	if (it0->account_id > 0) {
		/* The sender is one of our accounts: its Inbox. */
		struct store_msg_in in;
		struct store_rcpt rc0;

		memset(&in, 0, sizeof(in));
		memset(&rc0, 0, sizeof(rc0));
		in.path = path;
		in.prefix = "Return-Path: <>\r\n";
		in.prefix_len = strlen(in.prefix);
		in.mailfrom = "";
		rc0.account_id = it0->account_id;
		rc0.mailbox = NULL;
		rc0.rcpt_localpart = it0->sender_localpart;
		rc0.rcpt_domain = it0->sender_domain;
		rc = store_deliver(q->store, &in, &rc0, 1, &error);
	} else {
		struct queue_msg_in in;
		struct queue_rcpt qr;

		memset(&in, 0, sizeof(in));
		memset(&qr, 0, sizeof(qr));
		in.path = path;
		in.prefix = "";
		in.sender_localpart = "";
		in.sender_domain = "";
		in.has_8bit = true;
		in.smtputf8 = utf8;
		in.subject = delayed ? "mail delivery delayed" : "mail delivery failed";
		qr.localpart = it0->sender_localpart;
		qr.domain = it0->sender_domain;
		rc = queue_add(q->store, &in, &qr, 1, NULL, &error);
	}
out:
	if (rc != 0)
		log_error(NULL, "proto=queue ev=dsn qid=%lld kind=%s to=%s err=%s", (long long)it0->id,
			delayed ? "delayed" : "failed", lq(to.data), lq(error ? error : "?"));
	else
		log_info(NULL, "proto=queue ev=dsn qid=%lld kind=%s to=%s rcpts=%zu local=%s",
			(long long)it0->id, delayed ? "delayed" : "failed", lq(to.data), n,
			it0->account_id > 0 ? "yes" : "no");
	if (path != NULL) {
		(void)unlink(path);
		free(path);
	}
	buf_free(&msg);
	buf_free(&to);
}
