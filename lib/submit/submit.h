/* Sending a message composed from parts on behalf of a logged-in account:
 * the pipeline shared by the webapi's Send and the webmail's
 * MessageSubmit. Checks the message as submission does (From must be the
 * account's, send limits, header injection), composes it (lib/mail/
 * compose.c), DKIM-signs it, delivers local recipients through the
 * delivery plan and queues the rest (durable, fsync'd, before returning),
 * optionally keeps a copy with Bcc in the Sent mailbox. */
#ifndef MS_SUBMIT_H
#define MS_SUBMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/buf.h"
#include "mail/compose.h"

struct conf;
struct store;
struct queue_extra;

/* Recipients of one message (To + CC + BCC); the queue takes 10000. */
#define SUBMIT_MAX_RCPTS 1000
#define SUBMIT_MAX_FILES 100

struct submit_addr {
	const char *name;	/* display name, "" for none */
	const char *address;	/* as the user gave it, parsed here */
};

enum submit_tls {
	SUBMIT_TLS_DEFAULT = 0,	/* the recipient domain's policy */
	SUBMIT_TLS_REQUIRED,	/* REQUIRETLS (RFC 8689) */
	SUBMIT_TLS_NOT_REQUIRED,	/* "TLS-Required: No" */
};

struct submit_msg {
	/* The sender: account, the address it logged in with (the default
	 * From, and fromid login addresses), the client for the logs. */
	int64_t account_id;
	const char *account_name;
	const char *login_address;
	const char *remote_ip;	/* "" when unknown */
	const char *app;	/* for log lines: "webapi", "webmail" */

	const struct submit_addr *from;	/* 0: login address with full name; >1: error */
	size_t nfrom;
	const struct submit_addr *to, *cc, *bcc, *reply_to;
	size_t nto, ncc, nbcc, nreply_to;
	const char *message_id;	/* with <>; NULL: generated */
	const char *const *references;	/* the last one is also In-Reply-To */
	size_t nreferences;
	bool has_date;		/* else now */
	time_t date;
	const char *subject, *text, *html;	/* "" for none; text or html needed */
	const char *const (*headers)[2];	/* extra header fields, name and value */
	size_t nheaders;
	const struct mail_compose_file *inline_files, *attached_files;	/* decoded data */
	size_t ninline, nattached;
	const struct queue_extra *extra;	/* for webhooks; NULL for none */
	enum submit_tls require_tls;
	bool has_future_release;	/* FutureRelease: queue until then */
	int64_t future_release;	/* unix seconds */
	bool save_sent;		/* copy with Bcc into the Sent mailbox */
};

struct submit_rcpt_result {
	int64_t queue_id;	/* 0: delivered to a local mailbox, not queued */
	char *from_id;		/* fromid of a queued recipient, "" for none */
};

struct submit_result {
	char *message_id;	/* with <> */
	struct submit_rcpt_result *rcpts;	/* To, then CC, then BCC */
	size_t nrcpts;
	size_t nlocal, nqueued;
};
void submit_result_free(struct submit_result *r);

/* An error: code as the webapi names them ("user", "server", "badAddress",
 * "badFrom", "multipleFrom", "missingBody", "noRecipients",
 * "malformedMessageID", "domainDisabled", "messageLimitReached",
 * "recipientLimitReached", "messageTooLarge", "sentOverQuota"), and a
 * message for the user. "server" errors were logged with details. */
struct submit_err {
	const char *code;	/* static string, NULL while no error */
	struct buf msg;
};
void submit_err_init(struct submit_err *e);
void submit_err_free(struct submit_err *e);

/* Send m. Returns 0 with res filled (submit_result_free it) once local
 * copies are stored and the queue entries are durable, or -1 with err set
 * (nothing sent, except for "sentOverQuota" and a "server" error after
 * queueing, whose messages say the message was sent). cid keys the log
 * lines. conf gives the host name and the message size limit. */
int submit_send(struct store *st, const struct conf *conf, const char *cid,
	const struct submit_msg *m, struct submit_result *res, struct submit_err *err);

#endif
