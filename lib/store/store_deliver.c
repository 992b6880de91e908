/* Delivery: the message file is linked into msg/<id/8192>/<id> for every
 * recipient and the directories fsync'd before the transaction that inserts
 * the rows commits. A crash in between leaves at most orphan files (found
 * by verifydata), never a row without its file. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "core/log.h"
#include "core/util.h"
#include "mail/header.h"
#include "mail/msgid_refs.h"
#include "mail/mime.h"
#include "store/store.h"
#include "store/store_private.h"

#define MSG_PER_DIR 8192

int
store_tmpfile(struct store *st, char **path_r, const char **error_r)
{
	struct buf p;
	int fd;

	buf_init(&p);
	buf_printf(&p, "%s/tmp/", st->datadir);
	ms_random_token(&p, 12);
	fd = open(p.data, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0) {
		*error_r = ms_err("creating %s: %s", p.data, strerror(errno));
		buf_free(&p);
		return -1;
	}
	*path_r = buf_steal(&p);
	buf_free(&p);
	return fd;
}

/* Facts derived from the message once, shared by all recipients. */
struct msg_facts {
	struct buf parsed;	/* JSON */
	struct buf preview;
	struct buf message_id;
	struct buf subject;
	struct buf from_local, from_domain;
	struct buf fields;	/* messages.search_fields */
	struct buf refs;	/* text[] literal of mail_msgid_refs, "" none */
	bool have_fields;	/* else NULL */
	char hash[65];		/* hex SHA-256 */
	int64_t size;		/* prefix + file */
};

static void
strip_angles(struct buf *out, const char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '<')
		s++;
	n = strcspn(s, ">");
	buf_append(out, s, n);
	ms_str_lower(out->data);
}

/* Subject with leading "Re:", "Fwd:", "Fw:" (any case, repeated) removed:
 * a simplified RFC 5256 base subject for threading. */
static void
base_subject(struct buf *out, const char *s)
{
	bool again = true;

	while (again) {
		again = false;
		while (*s == ' ' || *s == '\t')
			s++;
		if (ms_startswith_ci(s, "re:")) {
			s += 3;
			again = true;
		} else if (ms_startswith_ci(s, "fwd:")) {
			s += 4;
			again = true;
		} else if (ms_startswith_ci(s, "fw:")) {
			s += 3;
			again = true;
		}
	}
	buf_puts(out, s);
	while (out->len > 0 && (out->data[out->len - 1] == ' ' || out->data[out->len - 1] == '\t'))
		buf_truncate(out, out->len - 1);
}

/* The thread of a new message to the account: the nearest referenced
 * message of the account gives thread id, ancestors and the mute and
 * collapse state. Sets the outputs only when a parent is found. */
static int
thread_lookup(PGconn *c, int64_t account_id, const char *refs, struct buf *thread_id,
	struct buf *parents, bool *muted_r, bool *collapsed_r, const char **error_r)
{
	PGresult *res;

	if (refs[0] == '\0')
		return 0;
	res = db_execpv(c, error_r,
		"SELECT COALESCE(thread_id, id), ARRAY[id] || thread_parent_ids,"
		" thread_muted, thread_collapsed FROM messages"
		" WHERE account_id = $1 AND message_id = ANY($2::text[])"
		" ORDER BY array_position($2::text[], message_id), id DESC LIMIT 1",
		2, db_i64(account_id), refs);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 1) {
		buf_puts(thread_id, PQgetvalue(res, 0, 0));
		buf_puts(parents, PQgetvalue(res, 0, 1));
		*muted_r = db_get_bool(res, 0, 2);
		*collapsed_r = db_get_bool(res, 0, 3);
	}
	PQclear(res);
	return 0;
}

static int
analyze(const struct store_msg_in *msg, struct msg_facts *f, const char **error_r)
{
	struct stat stb;
	struct mime_part *root;
	const char *data = "";
	void *map = NULL;
	unsigned char digest[SHA256_DIGEST_LENGTH];
	struct buf hex;
	int fd;

	fd = open(msg->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &stb) < 0) {
		*error_r = ms_err("opening message %s: %s", msg->path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (stb.st_size > 0) {
		map = mmap(NULL, (size_t)stb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			*error_r = ms_err("mapping message: %s", strerror(errno));
			close(fd);
			return -1;
		}
		data = map;
	}
	close(fd);
	f->size = (int64_t)msg->prefix_len + (int64_t)stb.st_size;
	root = mime_parse(data, (size_t)stb.st_size);
	mime_to_json(root, &f->parsed);
	{
		/* The header section as IMAP searches see it: our prefix,
		 * then the file's header. */
		struct buf hdr;

		buf_init(&hdr);
		if (msg->prefix != NULL)
			buf_append(&hdr, msg->prefix, msg->prefix_len);
		buf_append(&hdr, data, mime_header_end(data, (size_t)stb.st_size));
		f->have_fields = mail_header_select(&f->fields, hdr.data, hdr.len,
			store_search_fields, STORE_NSEARCH_FIELDS);
		{
			/* The messages this one refers to, for threading. */
			struct buf irt, refs;
			char **ids = NULL;
			size_t nids;

			buf_init(&irt);
			buf_init(&refs);
			(void)mail_header_get(hdr.data, hdr.len, "in-reply-to", &irt);
			(void)mail_header_get(hdr.data, hdr.len, "references", &refs);
			nids = mail_msgid_refs(irt.data, irt.len, refs.data, refs.len,
				MAIL_MSGID_REFS_MAX_REFS, &ids);
			if (nids > 0)
				db_text_array(&f->refs, (const char *const *)ids, nids);
			mail_msgid_refs_free(ids, nids);
			buf_free(&irt);
			buf_free(&refs);
		}
		buf_free(&hdr);
	}
	mime_preview(root, data, (size_t)stb.st_size, 256, &f->preview);
	if (root->envelope != NULL) {
		const struct mime_envelope *env = root->envelope;

		if (env->message_id != NULL)
			strip_angles(&f->message_id, env->message_id);
		if (env->subject != NULL) {
			struct buf dec;

			buf_init(&dec);
			mail_header_decode_words(&dec, env->subject, strlen(env->subject));
			base_subject(&f->subject, dec.data);
			buf_free(&dec);
		}
		if (env->from.n > 0) {
			buf_puts(&f->from_local, env->from.v[0].localpart);
			buf_puts(&f->from_domain, env->from.v[0].domain);
		}
	}
	mime_free(&root);
	SHA256((const unsigned char *)data, (size_t)stb.st_size, digest);
	buf_init(&hex);
	ms_hex_encode(&hex, digest, sizeof(digest));
	(void)ms_strlcpy(f->hash, hex.data, sizeof(f->hash));
	buf_free(&hex);
	if (map != NULL)
		munmap(map, (size_t)stb.st_size);
	return 0;
}

struct deliver_ctx {
	struct store *st;
	const struct store_msg_in *msg;
	struct store_rcpt *rcpts;
	size_t n;
	struct msg_facts *f;
	char **paths;	/* relative file paths per recipient */
	size_t *order;	/* recipients sorted by account id (lock order) */
	bool over_quota;	/* set by insert_message */
};

/* "INBOX" in any case is the inbox, as in IMAP (RFC 9051 5.1). */
static const char *
rcpt_mailbox(const struct store_rcpt *r)
{
	return r->mailbox == NULL || ms_strcaseeq(r->mailbox, "inbox") ?
		"Inbox" : r->mailbox;
}

/* Insert the message row for one recipient into its mailbox (by name),
 * which must exist. Returns 1 when no row was inserted: the quota would be
 * exceeded or the mailbox does not exist (any changes the statement made
 * are then undone with the transaction). */
static int
insert_message(PGconn *c, struct deliver_ctx *ctx, struct store_rcpt *r,
	const char *relpath, const char **error_r)
{
	const struct store_msg_in *msg = ctx->msg;
	struct buf kw, flags, dkim, valid, thread, parents;
	PGresult *res;
	unsigned f = (msg->flags & SF_ALL) | (r->is_reject ? SF_SEEN : 0);
	bool muted = false, collapsed = false;
	int rc;
	const char *values[48];
	int lengths[48], formats[48];
	int i;

	buf_init(&kw);
	buf_init(&flags);
	buf_init(&dkim);
	buf_init(&valid);
	buf_init(&thread);
	buf_init(&parents);
	/* A reply in a muted thread arrives read (as the reference does). */
	if (thread_lookup(c, r->account_id, ctx->f->refs.data, &thread, &parents, &muted,
		    &collapsed, error_r) < 0) {
		buf_free(&thread);
		buf_free(&parents);
		return -1;
	}
	if (muted)
		f |= SF_SEEN;
	buf_printf(&flags, "%u", f);
	db_text_array(&kw, msg->keywords, msg->nkeywords);
	db_text_array(&dkim, msg->dkim_domains, msg->ndkim_domains);
	/* Validation flags and kinds as one small array: fewer parameters. */
	buf_printf(&valid, "{%d,%d,%d,%u,%u,%u}", msg->ehlo_validated, msg->mailfrom_validated,
		msg->msgfrom_validated, msg->ehlo_validation, msg->mailfrom_validation,
		msg->msgfrom_validation);
	for (i = 0; i < 48; i++) {
		lengths[i] = 0;
		formats[i] = 0;
	}
	values[0] = db_i64(r->message_id);
	values[1] = db_i64(r->account_id);
	values[2] = rcpt_mailbox(r);
	values[3] = flags.data;
	values[4] = kw.data;
	values[5] = db_i64(ctx->f->size);
	values[6] = db_i64(msg->received ? msg->received : ms_now());
	values[7] = relpath;
	values[8] = msg->prefix ? msg->prefix : "";
	lengths[8] = (int)msg->prefix_len;
	formats[8] = 1;	/* binary bytea */
	values[9] = ctx->f->parsed.data;
	values[10] = ctx->f->preview.data;
	values[11] = msg->remote_ip && msg->remote_ip[0] ? msg->remote_ip : NULL;
	values[12] = msg->ehlo ? msg->ehlo : "";
	values[13] = msg->mailfrom ? msg->mailfrom : "";
	values[14] = r->rcpt_localpart ? r->rcpt_localpart : "";
	values[15] = r->rcpt_domain ? r->rcpt_domain : "";
	values[16] = ctx->f->from_local.data;
	values[17] = ctx->f->from_domain.data;
	values[18] = ctx->f->message_id.data;
	values[19] = ctx->f->subject.data;
	values[20] = ctx->f->hash;
	values[21] = db_i64(msg->tls_version);
	values[22] = db_i64(msg->tls_cipher);
	values[23] = msg->require_tls ? "true" : "false";
	values[24] = (f & SF_SEEN) ? "0" : "1";
	values[25] = (f & (SF_SEEN | SF_DELETED)) ? "0" : "1";
	values[26] = (f & SF_DELETED) ? "1" : "0";
	values[27] = r->is_reject ? "true" : "false";
	values[28] = valid.data;
	values[29] = dkim.data;
	values[30] = msg->spf_result ? msg->spf_result : "";
	values[31] = msg->dmarc_result ? msg->dmarc_result : "";
	values[32] = msg->dmarc_disposition ? msg->dmarc_disposition : "";
	values[33] = msg->iprev_result ? msg->iprev_result : "";
	values[34] = ctx->f->have_fields ? ctx->f->fields.data : NULL;
	values[35] = thread.len > 0 ? thread.data : NULL;
	values[36] = parents.len > 0 ? parents.data : "{}";
	values[37] = muted ? "true" : "false";
	values[38] = collapsed ? "true" : "false";
	/* One statement, so the account row lock (which orders modseqs, see
	 * store_bump_modseq) is held for one round trip plus the COMMIT:
	 * modseq and quota on the account, then UID and counts on the
	 * mailbox (the EXISTS makes the account go first, the lock order
	 * used everywhere), then the message row. No row is returned when
	 * the quota would be exceeded or the mailbox is missing. */
	res = db_exec_prepared(c, "store_deliver_insert_v5",
		"WITH a AS (UPDATE accounts SET modseq = modseq + 1, disk_usage = disk_usage + $6"
		"  WHERE id = $2 AND (quota_message_size = 0 OR disk_usage + $6 <= quota_message_size)"
		"  RETURNING modseq),"
		" m AS (UPDATE mailboxes SET uidnext = uidnext + 1, count_total = count_total + 1,"
		"  count_unseen = count_unseen + $25::int, count_unread = count_unread + $26::int,"
		"  count_deleted = count_deleted + $27::int, size = size + $6"
		"  WHERE account_id = $2 AND name = $3 AND EXISTS (SELECT 1 FROM a)"
		"  RETURNING id, uidnext - 1 AS uid)"
		" INSERT INTO messages (id, account_id, mailbox_id, uid, modseq, createseq,"
		" flags, keywords, size, received, file_path, msg_prefix, parsed, preview,"
		" remote_ip, ehlo_domain, mailfrom, mailfrom_localpart, mailfrom_domain,"
		" rcptto_localpart, rcptto_domain, msgfrom_localpart, msgfrom_domain,"
		" message_id, subject_base, message_hash, mailbox_orig_id,"
		" received_tls_version, received_tls_cipher_suite, received_require_tls,"
		" is_reject, ehlo_validated, mailfrom_validated, msgfrom_validated,"
		" ehlo_validation, mailfrom_validation, msgfrom_validation, dkim_domains,"
		" spf_result, dmarc_result, dmarc_disposition, iprev_result, search_fields,"
		" thread_id, thread_parent_ids, thread_muted, thread_collapsed)"
		" SELECT $1, $2, m.id, m.uid, a.modseq, a.modseq, $4, $5, $6, to_timestamp($7), $8, $9,"
		" $10::jsonb, $11, $12::inet, $13, $14,"
		" CASE WHEN strpos($14, '@') = 0 THEN $14 ELSE left($14, length($14) - strpos(reverse($14), '@')) END,"
		" CASE WHEN strpos($14, '@') = 0 THEN '' ELSE lower(right($14, strpos(reverse($14), '@') - 1)) END,"
		" $15, $16, $17, lower($18), $19, $20, decode($21, 'hex'), m.id, $22, $23, $24,"
		" $28, ($29::int[])[1] <> 0, ($29::int[])[2] <> 0, ($29::int[])[3] <> 0,"
		" ($29::int[])[4], ($29::int[])[5], ($29::int[])[6], $30::text[],"
		" $31, $32, $33, $34, $35, COALESCE($36::bigint, $1), $37::bigint[], $38, $39"
		" FROM a, m RETURNING uid, modseq, mailbox_id",
		39, values, lengths, formats, error_r);
	buf_free(&thread);
	buf_free(&parents);
	buf_free(&flags);
	buf_free(&dkim);
	buf_free(&valid);
	if (res == NULL) {
		buf_free(&kw);
		return -1;
	}
	if (PQntuples(res) != 1) {
		PQclear(res);
		buf_free(&kw);
		return 1;
	}
	r->uid = (uint32_t)db_get_i64(res, 0, 0);
	r->modseq = db_get_i64(res, 0, 1);
	r->mailbox_id = db_get_i64(res, 0, 2);
	PQclear(res);
	if (msg->nkeywords > 0) {
		/* New keywords become part of the mailbox's FLAGS. */
		rc = db_cmd(c, error_r,
			"UPDATE mailboxes SET keywords = ARRAY(SELECT DISTINCT k FROM"
			" unnest(keywords || lower($2::text)::text[]) k ORDER BY k)"
			" WHERE id = $1 AND NOT lower($2::text)::text[] <@ keywords",
			2, db_i64(r->mailbox_id), kw.data);
		if (rc < 0) {
			buf_free(&kw);
			return -1;
		}
	}
	buf_free(&kw);
	return 0;
}

/* Deliver to one recipient of a delivery on its own: the mailbox is
 * created when missing, and a refused insert then means the quota. */
static int
deliver_one(PGconn *c, struct deliver_ctx *ctx, struct store_rcpt *r,
	const char *relpath, const char **error_r)
{
	const char *mbname = rcpt_mailbox(r);
	PGresult *res;
	int64_t mailbox_id;
	int rc;

	/* The mailbox is looked up before anything is locked. */
	res = db_execpv(c, error_r,
		"SELECT id FROM mailboxes WHERE account_id = $1 AND name = $2",
		2, db_i64(r->account_id), mbname);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		if (store_mailbox_create_tx(c, r->account_id, mbname, NULL, &mailbox_id,
			    error_r) < 0)
			return -1;
	} else
		PQclear(res);
	rc = insert_message(c, ctx, r, relpath, error_r);
	if (rc == 1) {
		ctx->over_quota = true;
		*error_r = "quota exceeded";
		return -1;
	}
	return rc;
}

static int
deliver_tx(PGconn *c, void *arg, const char **error_r)
{
	struct deliver_ctx *ctx = arg;
	size_t i;

	ctx->over_quota = false;
	for (i = 0; i < ctx->n; i++) {
		size_t k = ctx->order[i];

		if (deliver_one(c, ctx, &ctx->rcpts[k], ctx->paths[k], error_r) < 0)
			return -1;
	}
	if (ctx->msg->tx_hook != NULL &&
	    ctx->msg->tx_hook(c, ctx->msg->tx_hook_arg, ctx->rcpts, ctx->n, error_r) < 0)
		return -1;
	return 0;
}

/*
 * Group commit. Deliveries to one account are ordered by its row lock
 * (modseqs and UIDs must become visible in increasing order), so one
 * transaction per delivery would wait for a WAL flush each, one after the
 * other. Instead, deliveries that arrive while a transaction is running
 * queue up, and the next thread to find no transaction running commits
 * all of them (up to BATCH_MAX) in one transaction with one flush; the
 * others wait for its result (leader/follower). Each delivery is still
 * all-or-nothing: when anything in a batch fails (an over-quota account,
 * a mailbox that does not exist yet, a database error), the batch is
 * rolled back and its deliveries run again one by one.
 */
#define BATCH_MAX 64
#define ID_CACHE 64

struct deliver_job {
	struct deliver_job *next;
	struct deliver_ctx *ctx;
	int rc;
	bool done;
	char error[256];
};

struct store_deliver_queue {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct deliver_job *head, *tail;
	bool running;	/* a leader is running a batch */
	/* Message ids fetched from the sequence ahead of use. */
	int64_t ids[ID_CACHE];
	size_t nids, nextid;
};

struct store_deliver_queue *
store_deliver_queue_new(void)
{
	struct store_deliver_queue *q = xcalloc(1, sizeof(*q));

	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	return q;
}

void
store_deliver_queue_free(struct store_deliver_queue **qp)
{
	struct store_deliver_queue *q = *qp;

	if (q == NULL)
		return;
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
	free(q);
	*qp = NULL;
}

struct batch_item {
	size_t job;	/* index in the batch's jobs */
	size_t rcpt;	/* recipient index in that job */
};

struct batch {
	struct deliver_job **jobs;
	size_t njobs;
	struct batch_item *items;	/* every recipient, in lock order */
	size_t nitems;
	size_t failed;	/* job whose statement failed, or njobs */
};

static int64_t
item_account(const struct batch *b, const struct batch_item *it)
{
	return b->jobs[it->job]->ctx->rcpts[it->rcpt].account_id;
}

static int
batch_tx(PGconn *c, void *arg, const char **error_r)
{
	struct batch *b = arg;
	size_t i;
	int rc;

	b->failed = b->njobs;
	for (i = 0; i < b->nitems; i++) {
		struct deliver_ctx *ctx = b->jobs[b->items[i].job]->ctx;
		size_t k = b->items[i].rcpt;

		rc = insert_message(c, ctx, &ctx->rcpts[k], ctx->paths[k], error_r);
		if (rc == 1)
			*error_r = "a delivery in the batch was refused";
		if (rc != 0) {
			b->failed = b->items[i].job;
			return -1;
		}
	}
	/* After all rows, so each hook sees its message stored. */
	for (i = 0; i < b->njobs; i++) {
		struct deliver_ctx *ctx = b->jobs[i]->ctx;

		if (ctx->msg->tx_hook != NULL &&
		    ctx->msg->tx_hook(c, ctx->msg->tx_hook_arg, ctx->rcpts, ctx->n, error_r) < 0) {
			b->failed = i;
			return -1;
		}
	}
	return 0;
}

static void
job_finish(struct deliver_job *job, int rc, const char *error)
{
	job->rc = rc;
	if (rc != 0)
		(void)ms_strlcpy(job->error, error ? error : "delivery failed",
			sizeof(job->error));
}

static void
run_single(struct store *st, struct deliver_job *job)
{
	const char *error = NULL;

	job_finish(job, db_tx(st->pool, deliver_tx, job->ctx, &error), error);
}

/* Commit the jobs in one transaction. Returns 0 when done (every job has
 * its result), or -1 with *failed_r the job whose delivery made the batch
 * fail (njobs when that is not known, e.g. a failed COMMIT). */
static int
try_batch(struct store *st, struct deliver_job **jobs, size_t njobs,
	size_t *failed_r)
{
	struct batch b;
	const char *error = NULL;
	size_t i, j, m;
	int rc;

	memset(&b, 0, sizeof(b));
	b.jobs = jobs;
	b.njobs = njobs;
	for (i = 0; i < njobs; i++)
		b.nitems += jobs[i]->ctx->n;
	b.items = xcalloc(b.nitems, sizeof(*b.items));
	/* Every recipient of every job in account id order (the lock order
	 * everywhere), by insertion so that one account's deliveries keep
	 * their arrival order. */
	b.nitems = 0;
	for (i = 0; i < njobs; i++)
		for (j = 0; j < jobs[i]->ctx->n; j++) {
			struct batch_item it = { i, jobs[i]->ctx->order[j] };

			for (m = b.nitems++; m > 0 &&
			    item_account(&b, &b.items[m - 1]) > item_account(&b, &it); m--)
				b.items[m] = b.items[m - 1];
			b.items[m] = it;
		}
	rc = db_tx(st->pool, batch_tx, &b, &error);
	free(b.items);
	if (rc == 0 || rc == -2) {
		/* -2: the COMMIT's outcome is unknown for all of them alike. */
		for (i = 0; i < njobs; i++)
			job_finish(jobs[i], rc, error);
		return 0;
	}
	log_debug(NULL, "ev=deliver-batch-failed jobs=%zu error=%s", njobs, lq(error));
	*failed_r = b.failed;
	return -1;
}

/* Run the jobs, together when there are several. When a batch fails
 * because of one delivery, that one runs on its own (where it gets its
 * real result: created mailbox, quota, error) and the others are tried
 * again as a batch; when the cause is not known, each runs on its own. */
/* fsync the bucket directories the jobs' files were linked into, each
 * once, so their entries are durable before the rows commit. A job whose
 * directory cannot be synced fails (and its link is removed). Returns the
 * number of jobs left in jobs[]. */
static size_t
sync_buckets(struct store *st, struct deliver_job **jobs, size_t njobs)
{
	int64_t done[BATCH_MAX * 4], failed[BATCH_MAX * 4];
	size_t ndone = 0, nfailed = 0, i, j, k, kept = 0;

	for (i = 0; i < njobs; i++) {
		struct deliver_ctx *ctx = jobs[i]->ctx;
		bool ok = true;

		for (j = 0; j < ctx->n && ok; j++) {
			int64_t bucket = ctx->rcpts[j].message_id / MSG_PER_DIR;
			bool seen = false;

			for (k = 0; k < nfailed; k++)
				if (failed[k] == bucket)
					ok = false;
			for (k = 0; k < ndone && !seen; k++)
				seen = done[k] == bucket;
			if (!ok || seen)
				continue;
			{
				struct buf dir;

				buf_init(&dir);
				buf_printf(&dir, "%s/msg/%lld", st->datadir, (long long)bucket);
				if (ms_fsync_dir(dir.data) < 0) {
					job_finish(jobs[i], -1, ms_err("fsync %s: %s", dir.data,
						strerror(errno)));
					if (nfailed < MS_NELEM(failed))
						failed[nfailed++] = bucket;
					ok = false;
				} else if (ndone < MS_NELEM(done))
					done[ndone++] = bucket;
				buf_free(&dir);
			}
		}
		if (ok)
			jobs[kept++] = jobs[i];
	}
	return kept;
}

static void
run_batch(struct store *st, struct deliver_job *const *batch, size_t njobs)
{
	struct deliver_job *jobs[BATCH_MAX];
	size_t failed, i;

	memcpy(jobs, batch, njobs * sizeof(*jobs));
	njobs = sync_buckets(st, jobs, njobs);
	while (njobs > 1) {
		if (try_batch(st, jobs, njobs, &failed) == 0)
			return;
		if (failed >= njobs)
			break;
		run_single(st, jobs[failed]);
		for (i = failed; i + 1 < njobs; i++)
			jobs[i] = jobs[i + 1];
		njobs--;
	}
	for (i = 0; i < njobs; i++)
		run_single(st, jobs[i]);
}

/* Tell other processes (IMAP IDLE, webmail) about new messages, after
 * COMMIT: a NOTIFY inside the delivery transaction would hold PostgreSQL's
 * global notify lock until the commit is flushed, serializing all
 * deliveries. One statement for a whole batch, committed without waiting
 * for the disk (set_config(..., true) applies to its own implicit
 * transaction): a lost notification (crash right here) only delays an
 * idle client until its next command. */
static void
notify_payloads(struct buf *out, struct deliver_job *const *jobs, size_t njobs)
{
	const char **v;
	size_t i, j, n = 0, k = 0;

	for (i = 0; i < njobs; i++)
		if (jobs[i]->rc == 0)
			n += jobs[i]->ctx->n;
	if (n == 0)
		return;
	v = xcalloc(n, sizeof(char *));
	for (i = 0; i < njobs; i++) {
		const struct deliver_ctx *ctx = jobs[i]->ctx;

		if (jobs[i]->rc != 0)
			continue;
		for (j = 0; j < ctx->n; j++)
			v[k++] = xasprintf("%lld %lld %lld", (long long)ctx->rcpts[j].account_id,
				(long long)ctx->rcpts[j].mailbox_id, (long long)ctx->rcpts[j].modseq);
	}
	db_text_array(out, v, n);
	for (i = 0; i < n; i++)
		free((char *)v[i]);
	free(v);
}

static void
notify_send(struct store *st, const char *payloads)
{
	const char *error;
	PGconn *c;

	c = db_get(st->pool, &error);
	if (c == NULL) {
		log_warn(NULL, "ev=notify-failed error=%s", lq(error));
		return;
	}
	if (db_cmd(c, &error,
		    "SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, p)"
		    " FROM unnest($2::text[]) p", 2, STORE_NOTIFY_CHANNEL, payloads) < 0)
		log_warn(NULL, "ev=notify-failed error=%s", lq(error));
	db_put(st->pool, c);
}

/* Queue the delivery and wait until a leader (possibly this thread) has
 * committed it. Returns db_tx's result. */
static int
deliver_grouped(struct store *st, struct deliver_ctx *ctx, const char **error_r)
{
	struct store_deliver_queue *q = st->dq;
	struct deliver_job job, *batch[BATCH_MAX];
	struct buf payloads;
	size_t n, i;

	memset(&job, 0, sizeof(job));
	job.ctx = ctx;
	pthread_mutex_lock(&q->mu);
	if (q->tail != NULL)
		q->tail->next = &job;
	else
		q->head = &job;
	q->tail = &job;
	while (!job.done) {
		if (q->running) {
			pthread_cond_wait(&q->cv, &q->mu);
			continue;
		}
		/* Lead: take what is queued (this job is among the first
		 * BATCH_MAX unless more than that were queued before it). */
		for (n = 0; n < BATCH_MAX && q->head != NULL; n++) {
			batch[n] = q->head;
			q->head = q->head->next;
		}
		if (q->head == NULL)
			q->tail = NULL;
		q->running = true;
		pthread_mutex_unlock(&q->mu);
		run_batch(st, batch, n);
		/* The payloads are taken before the jobs are released (their
		 * memory belongs to the waiting threads), the NOTIFY is sent
		 * after, so it does not delay the 250s. */
		buf_init(&payloads);
		notify_payloads(&payloads, batch, n);
		pthread_mutex_lock(&q->mu);
		for (i = 0; i < n; i++)
			batch[i]->done = true;
		q->running = false;
		pthread_cond_broadcast(&q->cv);
		if (payloads.len > 0) {
			pthread_mutex_unlock(&q->mu);
			notify_send(st, payloads.data);
			pthread_mutex_lock(&q->mu);
		}
		buf_free(&payloads);
	}
	pthread_mutex_unlock(&q->mu);
	if (job.rc != 0)
		*error_r = ms_err("%s", job.error);
	return job.rc;
}

/* A message id from the sequence, fetched ID_CACHE at a time. Ids are
 * unique but, across processes, not in delivery order. */
static int
next_message_id(struct store *st, int64_t *id_r, const char **error_r)
{
	struct store_deliver_queue *q = st->dq;
	PGresult *res;
	PGconn *c;
	int i;

	pthread_mutex_lock(&q->mu);
	if (q->nextid < q->nids) {
		*id_r = q->ids[q->nextid++];
		pthread_mutex_unlock(&q->mu);
		return 0;
	}
	pthread_mutex_unlock(&q->mu);
	c = db_get(st->pool, error_r);
	if (c == NULL)
		return -1;
	res = db_execv(c, error_r,
		"SELECT nextval('messages_id_seq') FROM generate_series(1, $1)", 1,
		db_i64(ID_CACHE));
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != ID_CACHE) {
		PQclear(res);
		*error_r = "database: short id block";
		return -1;
	}
	pthread_mutex_lock(&q->mu);
	/* Another thread may have refilled meanwhile: the ids it fetched are
	 * replaced (skipped) by this block, which is harmless. */
	*id_r = db_get_i64(res, 0, 0);
	for (i = 1; i < ID_CACHE; i++)
		q->ids[i - 1] = db_get_i64(res, i, 0);
	q->nids = ID_CACHE - 1;
	q->nextid = 0;
	pthread_mutex_unlock(&q->mu);
	PQclear(res);
	return 0;
}

/* Link the temp file to msg/<dir>/<id>. */
static int
link_file(struct store *st, const char *tmp, int64_t id, char **relpath_r,
	const char **error_r)
{
	struct buf dir, rel, full;
	int rc = -1;

	buf_init(&dir);
	buf_init(&rel);
	buf_init(&full);
	buf_printf(&rel, "msg/%lld/%lld", (long long)(id / MSG_PER_DIR), (long long)id);
	buf_printf(&dir, "%s/msg/%lld", st->datadir, (long long)(id / MSG_PER_DIR));
	buf_printf(&full, "%s/%s", st->datadir, rel.data);
	if (id / MSG_PER_DIR > atomic_load(&st->durable_bucket) &&
	    mkdir(dir.data, 0750) < 0 && errno != EEXIST) {
		*error_r = ms_err("creating %s: %s", dir.data, strerror(errno));
		goto out;
	}
	/* The bucket directory's entry in msg/ must be durable before any
	 * file in it is committed; whoever created it, fsync msg/ once per
	 * new bucket (another thread may have made it and not synced yet). */
	if (id / MSG_PER_DIR > atomic_load(&st->durable_bucket)) {
		struct buf parent;

		buf_init(&parent);
		buf_printf(&parent, "%s/msg", st->datadir);
		if (ms_fsync_dir(parent.data) < 0) {
			*error_r = ms_err("fsync %s: %s", parent.data, strerror(errno));
			buf_free(&parent);
			goto out;
		}
		buf_free(&parent);
		atomic_store(&st->durable_bucket, id / MSG_PER_DIR);
	}
	if (link(tmp, full.data) < 0) {
		*error_r = ms_err("linking message to %s: %s", full.data, strerror(errno));
		goto out;
	}
	/* The new entry is made durable by the group commit's leader, one
	 * fsync of each bucket directory per batch (sync_buckets). */
	*relpath_r = buf_steal(&rel);
	rc = 0;
out:
	buf_free(&dir);
	buf_free(&rel);
	buf_free(&full);
	return rc;
}

int
store_link_file(struct store *st, const char *src, int64_t id, char **relpath_r,
	const char **error_r)
{
	return link_file(st, src, id, relpath_r, error_r);
}

static void
unlink_rel(struct store *st, const char *rel)
{
	struct buf full;

	buf_init(&full);
	buf_printf(&full, "%s/%s", st->datadir, rel);
	(void)unlink(full.data);
	buf_free(&full);
}

int
store_deliver(struct store *st, const struct store_msg_in *msg,
	struct store_rcpt *rcpts, size_t n, const char **error_r)
{
	struct msg_facts f;
	struct deliver_ctx ctx;
	size_t i, j;
	int rc = -1;

	if (n == 0) {
		*error_r = "no recipients";
		return -1;
	}
	memset(&f, 0, sizeof(f));
	buf_init(&f.parsed);
	buf_init(&f.preview);
	buf_init(&f.message_id);
	buf_init(&f.subject);
	buf_init(&f.from_local);
	buf_init(&f.from_domain);
	buf_init(&f.fields);
	buf_init(&f.refs);
	memset(&ctx, 0, sizeof(ctx));
	ctx.st = st;
	ctx.msg = msg;
	ctx.rcpts = rcpts;
	ctx.n = n;
	ctx.f = &f;
	ctx.paths = xcalloc(n, sizeof(char *));
	ctx.order = xcalloc(n, sizeof(size_t));

	if (analyze(msg, &f, error_r) < 0)
		goto out;
	for (i = 0; i < n; i++) {
		if (next_message_id(st, &rcpts[i].message_id, error_r) < 0 ||
		    link_file(st, msg->path, rcpts[i].message_id, &ctx.paths[i], error_r) < 0)
			goto out;
	}
	/* Lock accounts in id order so concurrent multi-recipient deliveries
	 * cannot deadlock. */
	for (i = 0; i < n; i++)
		ctx.order[i] = i;
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && rcpts[ctx.order[j]].account_id < rcpts[ctx.order[j - 1]].account_id; j--) {
			size_t t = ctx.order[j];
			ctx.order[j] = ctx.order[j - 1];
			ctx.order[j - 1] = t;
		}
	rc = deliver_grouped(st, &ctx, error_r);
out:
	for (i = 0; i < n; i++) {
		/* After an unknown COMMIT outcome (-2) the rows may exist: keep
		 * the files (at worst orphans, which verifydata reports). */
		if (ctx.paths[i] != NULL && rc == -1)
			unlink_rel(st, ctx.paths[i]);
		free(ctx.paths[i]);
	}
	if (rc < 0)
		rc = ctx.over_quota ? STORE_OVER_QUOTA : -1;
	free(ctx.paths);
	free(ctx.order);
	buf_free(&f.parsed);
	buf_free(&f.preview);
	buf_free(&f.message_id);
	buf_free(&f.subject);
	buf_free(&f.from_local);
	buf_free(&f.from_domain);
	buf_free(&f.fields);
	buf_free(&f.refs);
	return rc;
}

/* ---- IMAP APPEND / REPLACE ---- */

struct append_ctx {
	int64_t account_id;
	size_t n;
	struct deliver_ctx *dc;	/* one per message (insert_message's view) */
	struct store_rcpt *rcpts;
	int64_t replace_mailbox_id;
	uint32_t replace_uid;
	/* Set by append_tx: */
	int result;		/* 0, STORE_NO_MAILBOX, STORE_OVER_QUOTA, STORE_GONE */
	int64_t mailbox_id, expunge_modseq;
	uint32_t uidvalidity;
	char **del_paths;	/* REPLACE: file of the expunged message */
	size_t ndel;
};

static int
append_tx(PGconn *c, void *arg, const char **error_r)
{
	struct append_ctx *ctx = arg;
	PGresult *res;
	uint32_t *exp = NULL;
	size_t i;
	int rc;

	/* A retried transaction starts over. */
	ctx->result = 0;
	ctx->expunge_modseq = 0;
	store_free_words(ctx->del_paths, ctx->ndel);
	ctx->del_paths = NULL;
	ctx->ndel = 0;
	if (ctx->replace_mailbox_id > 0) {
		/* The account row is locked by the modseq bump first, the lock
		 * order everywhere (store_bump_modseq). */
		if (store_bump_modseq(c, ctx->account_id, &ctx->expunge_modseq, error_r) < 0 ||
		    store_expunge_tx(c, ctx->account_id, ctx->replace_mailbox_id,
			    &ctx->replace_uid, 1, false, ctx->expunge_modseq, &exp,
			    &ctx->del_paths, &ctx->ndel, error_r) < 0) {
			free(exp);
			return -1;
		}
		free(exp);
		if (ctx->ndel == 0) {
			ctx->result = STORE_GONE;
			*error_r = "the message to replace no longer exists";
			return -1;
		}
	}
	res = db_execpv(c, error_r,
		"SELECT id, uidvalidity FROM mailboxes WHERE account_id = $1 AND name = $2",
		2, db_i64(ctx->account_id), rcpt_mailbox(&ctx->rcpts[0]));
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		ctx->result = STORE_NO_MAILBOX;
		*error_r = "no such mailbox";
		return -1;
	}
	ctx->mailbox_id = db_get_i64(res, 0, 0);
	ctx->uidvalidity = (uint32_t)db_get_i64(res, 0, 1);
	PQclear(res);
	/* One statement per message (each gets its UID and modseq in order);
	 * the mailbox exists, so a refused insert is the quota. */
	for (i = 0; i < ctx->n; i++) {
		rc = insert_message(c, &ctx->dc[i], &ctx->rcpts[i], ctx->dc[i].paths[0],
			error_r);
		if (rc == 1) {
			ctx->result = STORE_OVER_QUOTA;
			*error_r = "quota exceeded";
		}
		if (rc != 0)
			return -1;
	}
	return 0;
}

int
store_append(struct store *st, int64_t account_id, const char *mailbox,
	struct store_append_msg *msgs, size_t n, int64_t replace_mailbox_id,
	uint32_t replace_uid, struct store_append_result *r, const char **error_r)
{
	struct append_ctx ctx;
	struct msg_facts *facts;
	struct store_msg_in *ins;
	char **paths;
	int64_t *buckets;
	size_t i, j, nb = 0;
	int rc = -1;
	bool unknown = false;

	memset(r, 0, sizeof(*r));
	if (n == 0) {
		*error_r = "no messages";
		return -1;
	}
	memset(&ctx, 0, sizeof(ctx));
	ctx.account_id = account_id;
	ctx.n = n;
	ctx.replace_mailbox_id = replace_mailbox_id;
	ctx.replace_uid = replace_uid;
	ctx.dc = xcalloc(n, sizeof(*ctx.dc));
	ctx.rcpts = xcalloc(n, sizeof(*ctx.rcpts));
	facts = xcalloc(n, sizeof(*facts));
	ins = xcalloc(n, sizeof(*ins));
	paths = xcalloc(n, sizeof(*paths));
	buckets = xcalloc(n, sizeof(*buckets));
	for (i = 0; i < n; i++) {
		buf_init(&facts[i].parsed);
		buf_init(&facts[i].preview);
		buf_init(&facts[i].message_id);
		buf_init(&facts[i].subject);
		buf_init(&facts[i].from_local);
		buf_init(&facts[i].from_domain);
		buf_init(&facts[i].fields);
		buf_init(&facts[i].refs);
	}
	for (i = 0; i < n; i++) {
		ins[i].path = msgs[i].path;
		ins[i].received = msgs[i].received;
		ins[i].flags = msgs[i].flags;
		ins[i].keywords = msgs[i].keywords;
		ins[i].nkeywords = msgs[i].nkeywords;
		ctx.rcpts[i].account_id = account_id;
		ctx.rcpts[i].mailbox = mailbox;
		ctx.dc[i].st = st;
		ctx.dc[i].msg = &ins[i];
		ctx.dc[i].rcpts = &ctx.rcpts[i];
		ctx.dc[i].n = 1;
		ctx.dc[i].f = &facts[i];
		ctx.dc[i].paths = &paths[i];
		if (analyze(&ins[i], &facts[i], error_r) < 0 ||
		    next_message_id(st, &ctx.rcpts[i].message_id, error_r) < 0 ||
		    link_file(st, msgs[i].path, ctx.rcpts[i].message_id, &paths[i], error_r) < 0)
			goto out;
		/* Each bucket directory is synced once (the links must be
		 * durable before the rows commit). */
		buckets[nb] = ctx.rcpts[i].message_id / MSG_PER_DIR;
		for (j = 0; j < nb && buckets[j] != buckets[nb]; j++)
			;
		if (j == nb)
			nb++;
	}
	for (i = 0; i < nb; i++) {
		struct buf dir;
		int failed;

		buf_init(&dir);
		buf_printf(&dir, "%s/msg/%lld", st->datadir, (long long)buckets[i]);
		failed = ms_fsync_dir(dir.data) < 0;
		if (failed)
			*error_r = ms_err("fsync %s: %s", dir.data, strerror(errno));
		buf_free(&dir);
		if (failed)
			goto out;
	}
	rc = db_tx(st->pool, append_tx, &ctx, error_r);
	/* -2: COMMIT outcome unknown; the links may be in use, keep them. */
	unknown = rc == -2;
	if (rc == -1 && ctx.result != 0)
		rc = ctx.result;
	else if (unknown)
		rc = -1;
	if (rc == 0) {
		struct buf payloads;
		const char *v[2];
		char *p0, *p1 = NULL;

		r->mailbox_id = ctx.mailbox_id;
		r->uidvalidity = ctx.uidvalidity;
		r->expunge_modseq = ctx.expunge_modseq;
		for (i = 0; i < n; i++) {
			msgs[i].uid = ctx.rcpts[i].uid;
			msgs[i].modseq = ctx.rcpts[i].modseq;
		}
		/* NOTIFY after COMMIT, as deliveries do (notify_payloads). */
		p0 = xasprintf("%lld %lld %lld", (long long)account_id,
			(long long)ctx.mailbox_id, (long long)ctx.rcpts[n - 1].modseq);
		v[0] = p0;
		if (replace_mailbox_id > 0 && replace_mailbox_id != ctx.mailbox_id) {
			p1 = xasprintf("%lld %lld %lld", (long long)account_id,
				(long long)replace_mailbox_id, (long long)ctx.expunge_modseq);
			v[1] = p1;
		}
		buf_init(&payloads);
		db_text_array(&payloads, v, p1 != NULL ? 2 : 1);
		notify_send(st, payloads.data);
		buf_free(&payloads);
		free(p0);
		free(p1);
		/* The replaced message's row is gone; its file can go. */
		for (i = 0; i < ctx.ndel; i++)
			unlink_rel(st, ctx.del_paths[i]);
	}
out:
	for (i = 0; i < n; i++) {
		if (paths[i] != NULL && rc != 0 && !unknown)
			unlink_rel(st, paths[i]);
		free(paths[i]);
		buf_free(&facts[i].parsed);
		buf_free(&facts[i].preview);
		buf_free(&facts[i].message_id);
		buf_free(&facts[i].subject);
		buf_free(&facts[i].from_local);
		buf_free(&facts[i].from_domain);
		buf_free(&facts[i].fields);
		buf_free(&facts[i].refs);
	}
	store_free_words(ctx.del_paths, ctx.ndel);
	free(paths);
	free(buckets);
	free(ins);
	free(facts);
	free(ctx.rcpts);
	free(ctx.dc);
	return rc;
}
