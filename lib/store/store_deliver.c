/* Delivery: the message file is linked into msg/<id/8192>/<id> for every
 * recipient and the directories fsync'd before the transaction that inserts
 * the rows commits. A crash in between leaves at most orphan files (found
 * by verifydata), never a row without its file. */
#include "config.h"

#include <errno.h>
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
	bool over_quota;	/* set by deliver_one */
};

static int
deliver_one(PGconn *c, struct deliver_ctx *ctx, struct store_rcpt *r,
	const char *relpath, const char **error_r)
{
	const struct store_msg_in *msg = ctx->msg;
	/* "INBOX" in any case is the inbox, as in IMAP (RFC 9051 5.1). */
	const char *mbname = r->mailbox == NULL || ms_strcaseeq(r->mailbox, "inbox") ?
		"Inbox" : r->mailbox;
	struct buf kw, flags;
	PGresult *res;
	int64_t mailbox_id;
	unsigned f = msg->flags & SF_ALL;
	int rc;
	const char *values[32];
	int lengths[32], formats[32];
	int i;

	/* The mailbox is looked up before anything is locked. */
	res = db_execv(c, error_r,
		"SELECT id FROM mailboxes WHERE account_id = $1 AND name = $2",
		2, db_i64(r->account_id), mbname);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		if (store_mailbox_create_tx(c, r->account_id, mbname, NULL, &mailbox_id,
			    error_r) < 0)
			return -1;
	} else {
		mailbox_id = db_get_i64(res, 0, 0);
		PQclear(res);
	}

	buf_init(&kw);
	buf_init(&flags);
	buf_printf(&flags, "%u", f);
	db_text_array(&kw, msg->keywords, msg->nkeywords);
	for (i = 0; i < 32; i++) {
		lengths[i] = 0;
		formats[i] = 0;
	}
	values[0] = db_i64(r->message_id);
	values[1] = db_i64(r->account_id);
	values[2] = db_i64(mailbox_id);
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
	/* One statement, so the account row lock (which orders modseqs, see
	 * store_bump_modseq) is held for one round trip plus the COMMIT:
	 * modseq and quota on the account, then UID and counts on the
	 * mailbox (the EXISTS makes the account go first, the lock order
	 * used everywhere), then the message row. No row is returned when
	 * the quota would be exceeded, and then nothing changed. */
	res = db_exec_bin(c,
		"WITH a AS (UPDATE accounts SET modseq = modseq + 1, disk_usage = disk_usage + $6"
		"  WHERE id = $2 AND (quota_message_size = 0 OR disk_usage + $6 <= quota_message_size)"
		"  RETURNING modseq),"
		" m AS (UPDATE mailboxes SET uidnext = uidnext + 1, count_total = count_total + 1,"
		"  count_unseen = count_unseen + $25::int, count_unread = count_unread + $26::int,"
		"  count_deleted = count_deleted + $27::int, size = size + $6"
		"  WHERE id = $3 AND EXISTS (SELECT 1 FROM a) RETURNING uidnext - 1 AS uid)"
		" INSERT INTO messages (id, account_id, mailbox_id, uid, modseq, createseq,"
		" flags, keywords, size, received, file_path, msg_prefix, parsed, preview,"
		" remote_ip, ehlo_domain, mailfrom, mailfrom_localpart, mailfrom_domain,"
		" rcptto_localpart, rcptto_domain, msgfrom_localpart, msgfrom_domain,"
		" message_id, subject_base, message_hash, mailbox_orig_id,"
		" received_tls_version, received_tls_cipher_suite, received_require_tls)"
		" SELECT $1, $2, $3, m.uid, a.modseq, a.modseq, $4, $5, $6, to_timestamp($7), $8, $9,"
		" $10::jsonb, $11, $12::inet, $13, $14,"
		" CASE WHEN strpos($14, '@') = 0 THEN $14 ELSE left($14, length($14) - strpos(reverse($14), '@')) END,"
		" CASE WHEN strpos($14, '@') = 0 THEN '' ELSE lower(right($14, strpos(reverse($14), '@') - 1)) END,"
		" $15, $16, $17, lower($18), $19, $20, decode($21, 'hex'), $3, $22, $23, $24"
		" FROM a, m RETURNING uid, modseq",
		27, values, lengths, formats, error_r);
	buf_free(&flags);
	if (res == NULL) {
		buf_free(&kw);
		return -1;
	}
	if (PQntuples(res) != 1) {
		PQclear(res);
		buf_free(&kw);
		ctx->over_quota = true;
		*error_r = "quota exceeded";
		return -1;
	}
	r->uid = (uint32_t)db_get_i64(res, 0, 0);
	r->modseq = db_get_i64(res, 0, 1);
	PQclear(res);
	if (msg->nkeywords > 0) {
		/* New keywords become part of the mailbox's FLAGS. */
		rc = db_cmd(c, error_r,
			"UPDATE mailboxes SET keywords = ARRAY(SELECT DISTINCT k FROM"
			" unnest(keywords || lower($2::text)::text[]) k ORDER BY k)"
			" WHERE id = $1 AND NOT lower($2::text)::text[] <@ keywords",
			2, db_i64(mailbox_id), kw.data);
		if (rc < 0) {
			buf_free(&kw);
			return -1;
		}
	}
	buf_free(&kw);
	r->mailbox_id = mailbox_id;
	return 0;
}

/* Tell other processes (IMAP IDLE, webmail) about the new messages, after
 * COMMIT: a NOTIFY inside the delivery transaction would hold PostgreSQL's
 * global notify lock until the commit is flushed, serializing all
 * deliveries. A lost notification (crash right here) only delays an idle
 * client until its next command, so this commit need not wait for the
 * disk. */
static void
notify_delivered(struct store *st, const struct store_rcpt *rcpts, size_t n)
{
	const char *error;
	struct buf payloads;
	const char **v;
	PGconn *c;
	size_t i;

	c = db_get(st->pool, &error);
	if (c == NULL) {
		log_warn(NULL, "ev=notify-failed error=%s", lq(error));
		return;
	}
	buf_init(&payloads);
	v = xcalloc(n, sizeof(char *));
	for (i = 0; i < n; i++)
		v[i] = xasprintf("%lld %lld %lld", (long long)rcpts[i].account_id,
			(long long)rcpts[i].mailbox_id, (long long)rcpts[i].modseq);
	db_text_array(&payloads, v, n);
	if (db_cmd(c, &error, "BEGIN", 0) < 0 ||
	    db_cmd(c, &error, "SET LOCAL synchronous_commit TO off", 0) < 0 ||
	    db_cmd(c, &error, "SELECT pg_notify($1, p) FROM unnest($2::text[]) p", 2,
		    STORE_NOTIFY_CHANNEL, payloads.data) < 0 ||
	    db_cmd(c, &error, "COMMIT", 0) < 0)
		log_warn(NULL, "ev=notify-failed error=%s", lq(error));
	db_put(st->pool, c);
	for (i = 0; i < n; i++)
		free((char *)v[i]);
	free(v);
	buf_free(&payloads);
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
	return 0;
}

static int
next_message_id(struct store *st, int64_t *id_r, const char **error_r)
{
	PGconn *c = db_get(st->pool, error_r);
	PGresult *res;

	if (c == NULL)
		return -1;
	res = db_execv(c, error_r, "SELECT nextval('messages_id_seq')", 0);
	db_put(st->pool, c);
	if (res == NULL)
		return -1;
	*id_r = db_get_i64(res, 0, 0);
	PQclear(res);
	return 0;
}

/* Link the temp file to msg/<dir>/<id>; fsync the directory. */
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
	if (ms_fsync_dir(dir.data) < 0) {
		*error_r = ms_err("fsync %s: %s", dir.data, strerror(errno));
		unlink(full.data);
		goto out;
	}
	*relpath_r = buf_steal(&rel);
	rc = 0;
out:
	buf_free(&dir);
	buf_free(&rel);
	buf_free(&full);
	return rc;
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
	rc = db_tx(st->pool, deliver_tx, &ctx, error_r);
	if (rc == 0)
		notify_delivered(st, rcpts, n);
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
	return rc;
}
