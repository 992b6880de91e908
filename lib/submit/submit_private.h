/* Internals of lib/submit shared by submit.c and submit_local.c. */
#ifndef MS_SUBMIT_PRIVATE_H
#define MS_SUBMIT_PRIVATE_H

#include "store/store_rules.h"
#include "submit/submit.h"

struct queue_rcpt;
struct store_recipient;

/* One submit_send call. */
struct sctx {
	struct store *st;
	const struct conf *conf;
	const char *cid;
	const struct submit_msg *m;
	struct submit_err *err;
	char **strs;		/* arena_strdup */
	size_t nstrs, capstrs;
};

/* Set err's code and message; returns -1. */
int submit_set_error(struct sctx *c, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Log error (not shown to the user) and set code "server"; -1. */
int submit_server_error(struct sctx *c, const char *what, const char *error);

struct submit_local {
	struct store_recipient *r;	/* one per recipient */
	bool *is_local;			/* delivered here, not queued */
	size_t n, nlocal;
	size_t ncopies;			/* copies stored */
	/* External members of local aliases, for the queue. */
	struct store_forwards fwd;
};
void submit_local_free(struct submit_local *l);
/* Look up the n recipients: ours (is_local), or elsewhere. Unknown,
 * disabled or refusing local addresses are the user's error (-1). */
int submit_local_lookup(struct sctx *c, const struct queue_rcpt *rcpts, size_t n,
	struct submit_local *l);

struct submit_local_msg {
	const char *path;		/* the composed message, fsync'd */
	const struct buf *msg;		/* its bytes */
	const struct buf *prefix;	/* Received, DKIM-Signature */
	const struct buf *local_prefix;	/* Return-Path and prefix */
	const char *mailfrom;		/* sender address */
	const char *from_localpart, *from_domain;
};
/* Store the copies for the local recipients through the delivery plan;
 * external alias members are added to l's forwards. Returns 0 (durable)
 * or -1 with the error set and nothing stored. */
int submit_local_deliver(struct sctx *c, const struct submit_local_msg *m,
	const struct queue_rcpt *rcpts, size_t n, struct submit_local *l);

#endif
