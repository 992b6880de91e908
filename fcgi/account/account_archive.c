/* Import and export of mailboxes in the account web interface (libarchive).
 *
 * Import: POST /import with a zip or tar(.gz) archive as the body (CSRF in
 * the x-mailstead-csrf header). The archive is spooled to a temporary file
 * and read by a thread of this process; GET /importprogress?token=...
 * streams its progress as server-sent events ("count", "problem", then
 * "done", "aborted" or "error"), replaying earlier events to a late or
 * reconnecting reader. Files in the archive are maildir messages
 * (<mailbox>/cur|new/<file>, flags from ":2,<letters>"; Maildir++ folders
 * ".A.B" become "A/B") or mbox files (<mailbox>.mbox, or any file starting
 * with "From "; mboxrd ">From " unquoting). Messages get CRLF line ends and
 * are stored through store_append in batches, each batch one transaction;
 * ImportAbort stops after the current batch (batches already stored stay).
 *
 * Export: POST /export (form: csrf, format=maildir|mbox, archive=zip|tgz)
 * streams every mailbox as one archive: maildir keeps the stored bytes
 * (CRLF) with flags in the file names and keywords in dovecot-keywords;
 * mbox files have LF line ends, mboxrd quoting and a From line with the
 * received time (each is spooled to a temporary file first: a tar entry
 * needs its size). Nothing is held in memory beyond one message. */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "account/account_private.h"
#include "core/conf.h"
#include "core/log.h"
#include "core/util.h"
#include "db/db.h"
#include "mail/mbox.h"
#include "store/store.h"
#include "store/store_rules.h"

#define IMPORT_BATCH 100		/* messages per store_append */
#define IMPORT_BATCH_BYTES (32 << 20)	/* bytes per store_append */
#define IMPORT_MAX_EVENTS 5000		/* problems beyond are counted only */
#define IMPORT_KEEP_MS (15 * 60 * 1000)	/* finished jobs kept for readers */
#define SSE_KEEPALIVE_S 15
#define EXPORT_UID_CHUNK 500

/* ---- import jobs ---- */

struct import_event {
	char *name, *data;
};

struct import_job {
	struct import_job *next;
	char *token;
	int64_t account_id;
	char *account_name;
	char *path;			/* spooled archive */
	struct web_env *env;
	char cid[16];
	struct import_event *events;
	size_t nevents;
	size_t nproblems_dropped;
	bool done, abort;
	int64_t done_ms;
	bool quiet;		/* first pass: problems are not reported */
};

static pthread_mutex_t jobs_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t jobs_cond = PTHREAD_COND_INITIALIZER;
static struct import_job *jobs;

static void
job_free(struct import_job *j)
{
	size_t i;

	for (i = 0; i < j->nevents; i++) {
		free(j->events[i].name);
		free(j->events[i].data);
	}
	free(j->events);
	free(j->token);
	free(j->account_name);
	free(j->path);
	free(j);
}

/* Remove jobs finished long ago. Called with jobs_mu held. */
static void
jobs_expire(void)
{
	struct import_job **pp = &jobs;
	int64_t now = ms_mono_ms();

	while (*pp != NULL) {
		struct import_job *j = *pp;

		if (j->done && now - j->done_ms > IMPORT_KEEP_MS) {
			*pp = j->next;
			job_free(j);
		} else {
			pp = &j->next;
		}
	}
}

/* Record an event (data is a JSON object) and wake the readers. */
static void
job_event(struct import_job *j, const char *name, struct json_object *data)
{
	pthread_mutex_lock(&jobs_mu);
	if (strcmp(name, "problem") == 0 && j->nevents >= IMPORT_MAX_EVENTS) {
		j->nproblems_dropped++;
	} else {
		j->events = xrealloc(j->events, (j->nevents + 1) * sizeof(*j->events));
		j->events[j->nevents].name = xstrdup(name);
		j->events[j->nevents].data = xstrdup(json_object_to_json_string_ext(data,
			JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		j->nevents++;
	}
	pthread_cond_broadcast(&jobs_cond);
	pthread_mutex_unlock(&jobs_mu);
	json_object_put(data);
}

static void
job_problem(struct import_job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
job_problem(struct import_job *j, const char *fmt, ...)
{
	struct json_object *o;
	struct buf b;
	va_list ap;

	if (j->quiet)
		return;
	o = json_object_new_object();
	buf_init(&b);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	json_object_object_add(o, "message", json_object_new_string(b.data));
	buf_free(&b);
	job_event(j, "problem", o);
}

static void
job_error(struct import_job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The import failed: an "error" event ends it. */
static void
job_error(struct import_job *j, const char *fmt, ...)
{
	struct json_object *o = json_object_new_object();
	struct buf b;
	va_list ap;

	buf_init(&b);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	json_object_object_add(o, "message", json_object_new_string(b.data));
	buf_free(&b);
	job_event(j, "error", o);
}

static bool
job_aborted(struct import_job *j)
{
	bool a;

	pthread_mutex_lock(&jobs_mu);
	a = j->abort;
	pthread_mutex_unlock(&jobs_mu);
	return a;
}

/* ---- import: storing messages ---- */

struct importer {
	struct import_job *job;
	struct store *st;
	uint64_t max_msg;
	/* The batch: messages for one mailbox. */
	char *mailbox;
	struct store_append_msg msgs[IMPORT_BATCH];
	char *paths[IMPORT_BATCH];
	size_t n, bytes;
	int64_t total, mailbox_count;
	char **created;		/* mailboxes known to exist */
	size_t ncreated;
	bool fatal;		/* stop: quota, database */
	/* First pass: read the whole archive and count the messages without
	 * storing anything, so a damaged archive stores nothing. */
	bool dry;
	int64_t counted;
};

static void
batch_discard(struct importer *im)
{
	size_t i;

	for (i = 0; i < im->n; i++) {
		unlink(im->paths[i]);
		free(im->paths[i]);
	}
	im->n = 0;
	im->bytes = 0;
}

static int
ensure_mailbox(struct importer *im, const char *name)
{
	const char *error;
	int64_t id;
	size_t i;
	int rc;

	for (i = 0; i < im->ncreated; i++)
		if (strcmp(im->created[i], name) == 0)
			return 0;
	rc = store_mailbox_create(im->st, im->job->account_id, name, NULL, &id, &error);
	if (rc < 0) {
		job_problem(im->job, "creating mailbox %s: %s", name, error);
		return -1;
	}
	im->created = xrealloc(im->created, (im->ncreated + 1) * sizeof(char *));
	im->created[im->ncreated++] = xstrdup(name);
	return 0;
}

/* Store the batch. On failures that will not go away (quota, database)
 * the import stops. */
static int
batch_flush(struct importer *im)
{
	struct store_append_result r;
	struct json_object *o;
	const char *error = "";
	int rc;

	if (im->n == 0)
		return 0;
	if (ensure_mailbox(im, im->mailbox) < 0) {
		batch_discard(im);
		im->fatal = true;
		return -1;
	}
	rc = store_append(im->st, im->job->account_id, im->mailbox, im->msgs, im->n, 0, 0, &r,
		&error);
	if (rc != 0) {
		struct json_object *e = json_object_new_object();

		json_object_object_add(e, "message", json_object_new_string(
			rc == STORE_OVER_QUOTA ? "the messages do not fit in the account's quota" :
			rc == STORE_NO_MAILBOX ? "mailbox disappeared during the import" :
			"storing messages failed (see the server log)"));
		if (rc < 0 && rc != STORE_OVER_QUOTA && rc != STORE_NO_MAILBOX)
			log_error(im->job->cid, "proto=http app=account ev=import-store-failed"
				" account=%s error=%s", lq(im->job->account_name), lq(error));
		job_event(im->job, "error", e);
		batch_discard(im);
		im->fatal = true;
		return -1;
	}
	im->total += (int64_t)im->n;
	im->mailbox_count += (int64_t)im->n;
	batch_discard(im);
	o = json_object_new_object();
	json_object_object_add(o, "mailbox", json_object_new_string(im->mailbox));
	json_object_object_add(o, "count", json_object_new_int64(im->mailbox_count));
	json_object_object_add(o, "total", json_object_new_int64(im->total));
	job_event(im->job, "count", o);
	return 0;
}

/* Write data as a message file with CRLF line ends. */
static int
write_message(struct importer *im, const char *data, size_t len, char **path_r, size_t *size_r)
{
	struct buf out;
	const char *error;
	size_t i;
	int fd, rc = 0;

	fd = store_tmpfile(im->st, path_r, &error);
	if (fd < 0) {
		job_problem(im->job, "temporary file: %s", error);
		return -1;
	}
	buf_init(&out);
	for (i = 0; i < len; i++) {
		if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r'))
			buf_putc(&out, '\r');
		buf_putc(&out, data[i]);
	}
	if (ms_write_all(fd, out.data, out.len) < 0 || fsync(fd) < 0) {
		job_problem(im->job, "writing temporary file: %s", strerror(errno));
		rc = -1;
	}
	*size_r = out.len;
	close(fd);
	buf_free(&out);
	if (rc < 0) {
		unlink(*path_r);
		free(*path_r);
	}
	return rc;
}

/* Add one message for mailbox (as named in the archive). */
static int
add_message(struct importer *im, const char *mailbox, const char *data, size_t len,
	int64_t received, unsigned flags, const char *where)
{
	struct buf norm;
	const char *error;
	size_t size;
	char *path;

	if (len == 0) {
		job_problem(im->job, "%s: empty message skipped", where);
		return 0;
	}
	if (len > im->max_msg) {
		job_problem(im->job, "%s: message of %zu bytes is over the limit, skipped", where, len);
		return 0;
	}
	buf_init(&norm);
	if (store_mailbox_name_norm(mailbox, &norm, &error) < 0) {
		job_problem(im->job, "%s: bad mailbox name %s: %s", where, mailbox, error);
		buf_free(&norm);
		return 0;
	}
	if (im->mailbox == NULL || strcmp(im->mailbox, norm.data) != 0) {
		if (batch_flush(im) < 0) {
			buf_free(&norm);
			return -1;
		}
		free(im->mailbox);
		im->mailbox = buf_steal(&norm);
		im->mailbox_count = 0;
	}
	buf_free(&norm);
	if (im->dry) {
		im->counted++;
		return 0;
	}
	if (write_message(im, data, len, &path, &size) < 0) {
		im->fatal = true;
		return -1;
	}
	im->paths[im->n] = path;
	memset(&im->msgs[im->n], 0, sizeof(im->msgs[im->n]));
	im->msgs[im->n].path = path;
	im->msgs[im->n].received = received;
	im->msgs[im->n].flags = flags;
	im->n++;
	im->bytes += size;
	if (im->n == IMPORT_BATCH || im->bytes >= IMPORT_BATCH_BYTES)
		return batch_flush(im);
	return 0;
}

/* ---- import: archive entries ---- */

/* Read the rest of the entry into out (at most max bytes; 1 when it is
 * larger and was skipped). 0, 1, or -1 on an archive error. */
static int
read_entry(struct importer *im, struct archive *a, struct buf *out, size_t max)
{
	char chunk[65536];
	la_ssize_t n;

	buf_reset(out);
	while ((n = archive_read_data(a, chunk, sizeof(chunk))) > 0) {
		if (out->len + (size_t)n > max) {
			(void)archive_read_data_skip(a);
			return 1;
		}
		buf_append(out, chunk, (size_t)n);
	}
	if (n < 0) {
		job_problem(im->job, "reading archive: %s", archive_error_string(a));
		return -1;
	}
	return 0;
}

/* Flags of a maildir file name "...:2,<letters>" (maildir spec "info"
 * semantics): D draft, F flagged, P passed, R replied, S seen, T trashed. */
static unsigned
maildir_flags(const char *name)
{
	const char *info = strstr(name, ":2,");
	unsigned f = 0;

	if (info == NULL)
		info = strstr(name, "!2,");	/* the ':' is '!' on some systems */
	if (info == NULL)
		return 0;
	for (info += 3; *info != '\0'; info++) {
		switch (*info) {
		case 'D': f |= SF_DRAFT; break;
		case 'F': f |= SF_FLAGGED; break;
		case 'P': f |= SF_FORWARDED; break;
		case 'R': f |= SF_ANSWERED; break;
		case 'S': f |= SF_SEEN; break;
		case 'T': f |= SF_DELETED; break;
		}
	}
	return f;
}

/* Mailbox name of a maildir directory path ("" is the inbox; Maildir++
 * ".A.B" is "A/B"). */
static void
maildir_mailbox(struct buf *out, const char *dir, size_t n)
{
	size_t i;

	buf_reset(out);
	/* The last path component decides for Maildir++ (".Sent" directly in
	 * the maildir); deeper paths are the hierarchy itself. */
	if (n == 0) {
		buf_puts(out, "Inbox");
		return;
	}
	if (dir[0] == '.' && memchr(dir, '/', n) == NULL) {
		for (i = 1; i < n; i++)
			buf_putc(out, dir[i] == '.' ? '/' : dir[i]);
		if (out->len == 0)
			buf_puts(out, "Inbox");
		return;
	}
	buf_append(out, dir, n);
}

/* Messages of an mbox entry, for mbox_feed. */
struct mbox_ctx {
	struct importer *im;
	const char *mailbox, *where;
};

static int
mbox_msg(void *arg, const char *msg, size_t len, int64_t received, size_t number, bool too_large)
{
	struct mbox_ctx *mc = arg;

	if (too_large) {
		job_problem(mc->im->job, "%s: message %zu is over the size limit, skipped", mc->where,
			number);
		return 0;
	}
	if (add_message(mc->im, mc->mailbox, msg, len, received, 0, mc->where) < 0)
		return -1;
	return job_aborted(mc->im->job) ? -1 : 0;
}

/* Split an mbox entry into messages as it is read; first[0..nfirst) are
 * bytes of the entry already read. */
static int
import_mbox(struct importer *im, struct archive *a, const char *mailbox, const char *where,
	const char *first, size_t nfirst)
{
	struct mbox_ctx mc = { im, mailbox, where };
	struct mbox_reader r;
	char chunk[65536];
	la_ssize_t n;
	int rc;

	mbox_reader_init(&r, im->max_msg);
	rc = mbox_feed(&r, first, nfirst, mbox_msg, &mc);
	while (rc == 0 && (n = archive_read_data(a, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			job_problem(im->job, "%s: reading archive: %s", where, archive_error_string(a));
			mbox_reader_free(&r);
			return -1;
		}
		rc = mbox_feed(&r, chunk, (size_t)n, mbox_msg, &mc);
	}
	if (rc == 0)
		rc = mbox_finish(&r, mbox_msg, &mc);
	mbox_reader_free(&r);
	if (rc == MBOX_NOT_MBOX) {
		job_problem(im->job, "%s: not an mbox file (no \"From \" line at the start), skipped",
			where);
		(void)archive_read_data_skip(a);
		return 0;
	}
	/* -1: stopped by an abort (not an error) or a failure (im->fatal). */
	return rc < 0 && im->fatal ? -1 : 0;
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Files of maildir tools that are no messages. */
static bool
maildir_meta(const char *base)
{
	static const char *const names[] = { "dovecot-keywords", "dovecot-uidlist",
		"dovecot-uidvalidity", "maildirfolder", "subscriptions", "courierimapkeywords",
		"courierimapuiddb", ".DS_Store" };
	size_t i;

	for (i = 0; i < MS_NELEM(names); i++)
		if (strcmp(base, names[i]) == 0)
			return true;
	return strncmp(base, "dovecot.", 8) == 0 || strncmp(base, "._", 2) == 0;
}

static int
import_entry(struct importer *im, struct archive *a, struct archive_entry *e, struct buf *data)
{
	const char *raw = archive_entry_pathname(e), *base, *p;
	struct buf path, mb;
	int rc = 0;

	if (raw == NULL || archive_entry_filetype(e) != AE_IFREG) {
		(void)archive_read_data_skip(a);
		return 0;
	}
	buf_init(&path);
	buf_init(&mb);
	/* Normalize: no leading "/" or "./", no "." or ".." segments (names
	 * only pick a mailbox; nothing is written to disk by name). */
	for (p = raw; *p != '\0';) {
		size_t n = strcspn(p, "/");

		if (n == 0 || (n == 1 && p[0] == '.')) {
		} else if (n == 2 && p[0] == '.' && p[1] == '.') {
			job_problem(im->job, "%s: path with \"..\" skipped", raw);
			(void)archive_read_data_skip(a);
			goto out;
		} else {
			if (path.len > 0)
				buf_putc(&path, '/');
			buf_append(&path, p, n);
		}
		p += n;
		if (*p == '/')
			p++;
	}
	if (path.len == 0) {
		(void)archive_read_data_skip(a);
		goto out;
	}
	base = strrchr(path.data, '/');
	base = base != NULL ? base + 1 : path.data;
	if (maildir_meta(base)) {
		(void)archive_read_data_skip(a);
		goto out;
	}
	/* Maildir: ".../cur/<file>" or ".../new/<file>"; tmp/ holds
	 * deliveries in progress, not messages. */
	if (base > path.data + 3) {
		const char *dir = base - 4;	/* "cur/" */

		if ((dir == path.data || dir[-1] == '/') &&
		    (strncmp(dir, "cur/", 4) == 0 || strncmp(dir, "new/", 4) == 0 ||
		     strncmp(dir, "tmp/", 4) == 0)) {
			size_t dn = dir == path.data ? 0 : (size_t)(dir - 1 - path.data);
			int64_t received = 0;
			uint64_t t;
			int r;

			if (strncmp(dir, "tmp/", 4) == 0) {
				(void)archive_read_data_skip(a);
				goto out;
			}
			maildir_mailbox(&mb, path.data, dn);
			r = read_entry(im, a, data, im->max_msg);
			if (r < 0) {
				rc = -1;
				goto out;
			}
			if (r == 1) {
				job_problem(im->job, "%s: message is over the size limit, skipped", path.data);
				goto out;
			}
			/* Delivery time: the name's leading seconds, else the
			 * file's time. */
			if (ms_parse_u64n(base, strcspn(base, "."), 1, INT64_MAX, &t) == 0)
				received = (int64_t)t;
			else if (archive_entry_mtime_is_set(e))
				received = (int64_t)archive_entry_mtime(e);
			rc = add_message(im, mb.data, data->data, data->len, received,
				maildir_flags(base), path.data);
			goto out;
		}
	}
	/* mbox: by name, or by its first line. */
	{
		char head[5];
		la_ssize_t n = 0;

		if (!ends_with(path.data, ".mbox")) {
			n = archive_read_data(a, head, sizeof(head));
			if (n < 0) {
				job_problem(im->job, "%s: reading archive: %s", path.data,
					archive_error_string(a));
				rc = -1;
				goto out;
			}
			if (n < 5 || memcmp(head, "From ", 5) != 0) {
				job_problem(im->job, "%s: neither a maildir message (in cur/ or new/) nor an"
					" mbox file, skipped", path.data);
				(void)archive_read_data_skip(a);
				goto out;
			}
			buf_puts(&mb, path.data);
		} else {
			buf_append(&mb, path.data, path.len - 5);
		}
		/* "mbox" or "Inbox.mbox" alone is the inbox. */
		if (strcmp(mb.data, "mbox") == 0 || strcmp(mb.data, "INBOX") == 0 || mb.len == 0) {
			buf_reset(&mb);
			buf_puts(&mb, "Inbox");
		}
		rc = import_mbox(im, a, mb.data, path.data, head, n > 0 ? (size_t)n : 0);
	}
out:
	buf_free(&path);
	buf_free(&mb);
	return rc;
}

/* One pass over the archive. Returns "done" or "aborted", or NULL after
 * an "error" event. */
static const char *
import_pass(struct importer *im, struct buf *data)
{
	struct import_job *job = im->job;
	const char *final = "done";
	struct archive_entry *e;
	struct archive *a;
	int r;

	a = archive_read_new();
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_bzip2(a);
	archive_read_support_filter_xz(a);
	archive_read_support_format_zip(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, job->path, 65536) != ARCHIVE_OK) {
		job_error(job, "not a zip or tar(.gz) archive: %s", archive_error_string(a));
		archive_read_free(a);
		return NULL;
	}
	for (;;) {
		if (job_aborted(job)) {
			final = "aborted";
			break;
		}
		r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r == ARCHIVE_WARN) {
			job_problem(job, "archive: %s", archive_error_string(a));
		} else if (r != ARCHIVE_OK) {
			job_error(job, "bad archive: %s", archive_error_string(a));
			final = NULL;
			break;
		}
		if (import_entry(im, a, e, data) < 0 && !im->fatal) {
			job_error(job, "bad archive: %s", archive_error_string(a) != NULL ?
				archive_error_string(a) : "unreadable entry");
			final = NULL;
			break;
		}
		if (im->fatal) {
			final = NULL;
			break;
		}
	}
	archive_read_free(a);
	return final;
}

static void *
import_thread(void *arg)
{
	struct import_job *job = arg;
	struct importer im;
	struct json_object *o;
	struct buf data;
	const char *final;
	size_t i;

	memset(&im, 0, sizeof(im));
	im.job = job;
	im.st = web_env_store(job->env);
	im.max_msg = web_env_conf(job->env)->imap.max_literal_size;
	buf_init(&data);
	im.dry = true;
	job->quiet = true;
	final = import_pass(&im, &data);
	job->quiet = false;
	im.dry = false;
	free(im.mailbox);
	im.mailbox = NULL;
	if (final != NULL && strcmp(final, "done") == 0) {
		o = json_object_new_object();
		json_object_object_add(o, "messages", json_object_new_int64(im.counted));
		job_event(job, "start", o);
		final = import_pass(&im, &data);
	}
	if (final != NULL && strcmp(final, "done") == 0 && batch_flush(&im) < 0)
		final = NULL;
	else if (final == NULL || strcmp(final, "done") != 0)
		batch_discard(&im);
	if (final != NULL) {
		o = json_object_new_object();
		json_object_object_add(o, "total", json_object_new_int64(im.total));
		json_object_object_add(o, "mailboxes", json_object_new_int64((int64_t)im.ncreated));
		job_event(job, final, o);
	}
	log_info(job->cid, "proto=http app=account ev=import-%s account=%s messages=%lld",
		final != NULL ? final : "failed", lq(job->account_name), (long long)im.total);
	buf_free(&data);
	for (i = 0; i < im.ncreated; i++)
		free(im.created[i]);
	free(im.created);
	free(im.mailbox);
	unlink(job->path);
	pthread_mutex_lock(&jobs_mu);
	job->done = true;
	job->done_ms = ms_mono_ms();
	pthread_cond_broadcast(&jobs_cond);
	pthread_mutex_unlock(&jobs_mu);
	return NULL;
}

/* ---- import: routes and API ---- */

static void
json_answer(struct web_response *resp, unsigned status, const char *code, const char *msg,
	struct json_object *result)
{
	struct json_object *o = json_object_new_object();

	if (code != NULL) {
		struct json_object *e = json_object_new_object();

		json_object_object_add(e, "code", json_object_new_string(code));
		json_object_object_add(e, "message", json_object_new_string(msg));
		json_object_object_add(o, "error", e);
	} else {
		json_object_object_add(o, "result", result);
	}
	web_resp_json(resp, status, o);
	json_object_put(o);
}

void
acct_route_import(struct web_request *req, struct web_response *resp)
{
	struct store *st = web_env_store(req->env);
	struct import_job *j;
	struct json_object *r;
	struct buf tok;
	const char *error;
	char *path;
	pthread_t t;
	int fd;

	if (req->body.len == 0) {
		json_answer(resp, 400, "user:error", "no archive in the request body", NULL);
		return;
	}
	pthread_mutex_lock(&jobs_mu);
	jobs_expire();
	for (j = jobs; j != NULL; j = j->next)
		if (j->account_id == req->account_id && !j->done)
			break;
	pthread_mutex_unlock(&jobs_mu);
	if (j != NULL) {
		json_answer(resp, 400, "user:error", "an import is already running for this account",
			NULL);
		return;
	}
	fd = store_tmpfile(st, &path, &error);
	if (fd < 0) {
		log_error(req->cid, "proto=http app=account ev=import-spool error=%s", lq(error));
		json_answer(resp, 500, "server:error", "storing the upload failed", NULL);
		return;
	}
	if (ms_write_all(fd, req->body.data, req->body.len) < 0) {
		log_error(req->cid, "proto=http app=account ev=import-spool error=%s", lq(strerror(errno)));
		close(fd);
		unlink(path);
		free(path);
		json_answer(resp, 500, "server:error", "storing the upload failed", NULL);
		return;
	}
	close(fd);
	j = xcalloc(1, sizeof(*j));
	buf_init(&tok);
	ms_random_token(&tok, 18);
	j->token = buf_steal(&tok);
	buf_free(&tok);
	j->account_id = req->account_id;
	j->account_name = xstrdup(req->account_name);
	j->path = path;
	j->env = req->env;
	ms_strlcpy(j->cid, req->cid, sizeof(j->cid));
	pthread_mutex_lock(&jobs_mu);
	j->next = jobs;
	jobs = j;
	pthread_mutex_unlock(&jobs_mu);
	if (pthread_create(&t, NULL, import_thread, j) != 0) {
		pthread_mutex_lock(&jobs_mu);
		j->done = true;
		j->done_ms = ms_mono_ms();
		pthread_mutex_unlock(&jobs_mu);
		unlink(path);
		json_answer(resp, 500, "server:error", "cannot start the import", NULL);
		return;
	}
	pthread_detach(t);
	log_info(req->cid, "proto=http app=account ev=import-started account=%s bytes=%zu",
		lq(req->account_name), req->body.len);
	r = json_object_new_object();
	json_object_object_add(r, "importToken", json_object_new_string(j->token));
	json_answer(resp, 200, NULL, NULL, r);
}

/* The job of token for this account, or NULL. Called with jobs_mu held. */
static struct import_job *
job_find(const char *token, int64_t account_id)
{
	struct import_job *j;

	if (token == NULL)
		return NULL;
	for (j = jobs; j != NULL; j = j->next)
		if (strcmp(j->token, token) == 0 && j->account_id == account_id)
			return j;
	return NULL;
}

void
acct_route_import_progress(struct web_request *req, struct web_response *resp)
{
	struct import_job *j;
	size_t next = 0;
	bool done = false;

	pthread_mutex_lock(&jobs_mu);
	j = job_find(web_arg(req, "token"), req->account_id);
	pthread_mutex_unlock(&jobs_mu);
	if (j == NULL) {
		web_resp_text(resp, 404, "no such import");
		return;
	}
	resp->status = 200;
	web_resp_header(resp, "Content-Type", "text/event-stream");
	web_resp_header(resp, "Cache-Control", "no-store");
	if (web_resp_stream_begin(resp) < 0)
		return;
	/* Jobs are freed only when done and old (jobs_expire runs from
	 * POST /import); a reader holds none of them past that. */
	while (!done) {
		struct import_event ev;
		bool have = false;

		pthread_mutex_lock(&jobs_mu);
		while (next >= j->nevents && !j->done) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += SSE_KEEPALIVE_S;
			if (pthread_cond_timedwait(&jobs_cond, &jobs_mu, &ts) == ETIMEDOUT)
				break;
		}
		if (next < j->nevents) {
			ev.name = xstrdup(j->events[next].name);
			ev.data = xstrdup(j->events[next].data);
			next++;
			have = true;
		} else if (j->done) {
			done = true;
		}
		pthread_mutex_unlock(&jobs_mu);
		if (have) {
			int rc = web_resp_sse(resp, ev.name, ev.data);

			free(ev.name);
			free(ev.data);
			if (rc < 0)
				return;
		} else if (!done) {
			/* A comment keeps proxies from timing out. */
			if (web_resp_write(resp, ":\n\n", 3) < 0 || web_resp_flush(resp) < 0)
				return;
		}
	}
}

int
acct_api_import_abort(struct web_call *call)
{
	struct import_job *j;
	bool found;

	pthread_mutex_lock(&jobs_mu);
	j = job_find(web_call_str(call, 0), call->req->account_id);
	found = j != NULL && !j->done;
	if (found)
		j->abort = true;
	pthread_mutex_unlock(&jobs_mu);
	if (!found)
		return web_call_error(call, "user:notFound", "no such running import");
	return 0;
}

/* ---- export ---- */

struct exporter {
	struct web_request *req;
	struct web_response *resp;
	struct store *st;
	struct archive *a;
	bool mbox;
	bool failed;
};

static la_ssize_t
export_write_cb(struct archive *a, void *ctx, const void *p, size_t n)
{
	struct exporter *ex = ctx;

	(void)a;
	if (web_resp_write(ex->resp, p, n) < 0)
		return -1;
	return (la_ssize_t)n;
}

static int
export_entry(struct exporter *ex, const char *name, const void *data, size_t len, int64_t mtime,
	bool dir)
{
	struct archive_entry *e = archive_entry_new();
	int rc = 0;

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, dir ? AE_IFDIR : AE_IFREG);
	archive_entry_set_perm(e, dir ? 0755 : 0644);
	archive_entry_set_size(e, dir ? 0 : (la_int64_t)len);
	archive_entry_set_mtime(e, (time_t)mtime, 0);
	if (archive_write_header(ex->a, e) != ARCHIVE_OK ||
	    (!dir && len > 0 && archive_write_data(ex->a, data, len) != (la_ssize_t)len)) {
		if (!ex->resp->client_gone)
			log_error(ex->req->cid, "proto=http app=account ev=export-failed error=%s",
				lq(archive_error_string(ex->a)));
		rc = -1;
	}
	archive_entry_free(e);
	return rc;
}

/* An entry whose data is the first size bytes of the file fd, copied in
 * pieces (an mbox file can be larger than memory should hold). */
static int
export_file_entry(struct exporter *ex, const char *name, int fd, uint64_t size)
{
	struct archive_entry *e = archive_entry_new();
	char chunk[65536];
	uint64_t done = 0;
	int rc = 0;

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)size);
	archive_entry_set_mtime(e, (time_t)ms_now(), 0);
	if (lseek(fd, 0, SEEK_SET) < 0 || archive_write_header(ex->a, e) != ARCHIVE_OK)
		rc = -1;
	while (rc == 0 && done < size) {
		ssize_t n = read(fd, chunk, size - done < sizeof(chunk) ? (size_t)(size - done) : sizeof(chunk));

		if (n <= 0 || archive_write_data(ex->a, chunk, (size_t)n) != n)
			rc = -1;
		else
			done += (uint64_t)n;
	}
	if (rc < 0 && !ex->resp->client_gone)
		log_error(ex->req->cid, "proto=http app=account ev=export-failed error=%s",
			lq(archive_error_string(ex->a) != NULL ? archive_error_string(ex->a) : strerror(errno)));
	archive_entry_free(e);
	return rc;
}

/* Maildir flag letters of a message, in ASCII order as the spec says. */
static void
maildir_info(struct buf *out, unsigned flags, char **kw, size_t nkw, char **mbkw, size_t nmbkw)
{
	size_t i, j;

	buf_puts(out, ":2,");
	if (flags & SF_DRAFT)
		buf_putc(out, 'D');
	if (flags & SF_FLAGGED)
		buf_putc(out, 'F');
	if (flags & SF_FORWARDED)
		buf_putc(out, 'P');
	if (flags & SF_ANSWERED)
		buf_putc(out, 'R');
	if (flags & SF_SEEN)
		buf_putc(out, 'S');
	if (flags & SF_DELETED)
		buf_putc(out, 'T');
	/* Keywords as lower-case letters, Dovecot's dovecot-keywords
	 * numbering (first 26 keywords of the mailbox). */
	for (j = 0; j < nmbkw && j < 26; j++)
		for (i = 0; i < nkw; i++)
			if (strcmp(kw[i], mbkw[j]) == 0)
				buf_putc(out, (char)('a' + j));
}

/* The path of a mailbox in the archive: its name, with "." and ".."
 * segments made harmless so unpacking cannot leave the target directory. */
static void
export_path(struct buf *out, const char *name)
{
	const char *p = name;

	while (*p != '\0') {
		size_t n = strcspn(p, "/");

		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			buf_putc(out, '_');
		buf_append(out, p, n);
		p += n;
		if (*p == '/') {
			buf_putc(out, '/');
			p++;
		}
	}
}

static int
export_mailbox(struct exporter *ex, const struct store_mailbox *mb)
{
	uint32_t *uids = NULL;
	size_t nuids = 0, off, i;
	struct buf mbox, name, msg;
	char *spool = NULL;
	uint64_t spooled = 0;
	const char *error;
	int rc = 0, fd = -1;

	if (store_mailbox_uids(ex->st, mb->id, &uids, &nuids, &error) < 0) {
		log_error(ex->req->cid, "proto=http app=account ev=export-failed error=%s", lq(error));
		return -1;
	}
	/* An mbox entry needs its size first (tar): the file is written to
	 * a temporary file, then copied into the archive. */
	if (ex->mbox && (fd = store_tmpfile(ex->st, &spool, &error)) < 0) {
		log_error(ex->req->cid, "proto=http app=account ev=export-failed error=%s", lq(error));
		free(uids);
		return -1;
	}
	buf_init(&mbox);
	buf_init(&name);
	buf_init(&msg);
	if (!ex->mbox) {
		static const char *const sub[] = { "cur/", "new/", "tmp/" };

		for (i = 0; i < 3 && rc == 0; i++) {
			buf_reset(&name);
			export_path(&name, mb->name);
			buf_printf(&name, "/%s", sub[i]);
			rc = export_entry(ex, name.data, NULL, 0, ms_now(), true);
		}
		if (rc == 0 && mb->nkeywords > 0) {
			struct buf kw;

			buf_init(&kw);
			for (i = 0; i < mb->nkeywords && i < 26; i++)
				buf_printf(&kw, "%zu %s\n", i, mb->keywords[i]);
			buf_reset(&name);
			export_path(&name, mb->name);
			buf_puts(&name, "/dovecot-keywords");
			rc = export_entry(ex, name.data, kw.data, kw.len, ms_now(), false);
			buf_free(&kw);
		}
	}
	for (off = 0; off < nuids && rc == 0; off += EXPORT_UID_CHUNK) {
		size_t n = nuids - off > EXPORT_UID_CHUNK ? EXPORT_UID_CHUNK : nuids - off, nm = 0;
		struct store_msg *ms = NULL;

		if (store_msgs_get(ex->st, mb->id, uids + off, n, STORE_MSGS_PREFIX, &ms, &nm,
		    &error) < 0) {
			log_error(ex->req->cid, "proto=http app=account ev=export-failed error=%s",
				lq(error));
			rc = -1;
			break;
		}
		for (i = 0; i < nm && rc == 0; i++) {
			buf_reset(&msg);
			if (store_msg_read_msg(ex->st, &ms[i], &msg, &error) < 0) {
				log_error(ex->req->cid, "proto=http app=account ev=export-failed error=%s",
					lq(error));
				rc = -1;
				break;
			}
			if (ex->mbox) {
				buf_reset(&mbox);
				mbox_append(&mbox, msg.data, msg.len, ms[i].received);
				if (ms_write_all(fd, mbox.data, mbox.len) < 0) {
					log_error(ex->req->cid, "proto=http app=account ev=export-failed"
						" error=%s", lq(strerror(errno)));
					rc = -1;
				}
				spooled += mbox.len;
				continue;
			}
			buf_reset(&name);
			export_path(&name, mb->name);
			buf_printf(&name, "/cur/%lld.%u.%u.mailstead",
				(long long)ms[i].received, mb->uidvalidity, ms[i].uid);
			maildir_info(&name, ms[i].flags, ms[i].keywords, ms[i].nkeywords, mb->keywords,
				mb->nkeywords);
			rc = export_entry(ex, name.data, msg.data, msg.len, ms[i].received, false);
		}
		store_msgs_free(ms, nm);
	}
	if (rc == 0 && ex->mbox) {
		buf_reset(&name);
		export_path(&name, mb->name);
		buf_puts(&name, ".mbox");
		rc = export_file_entry(ex, name.data, fd, spooled);
	}
	if (fd >= 0) {
		close(fd);
		unlink(spool);
		free(spool);
	}
	free(uids);
	buf_free(&mbox);
	buf_free(&name);
	buf_free(&msg);
	return rc;
}

void
acct_route_export(struct web_request *req, struct web_response *resp)
{
	const char *format = web_arg(req, "format"), *arch = web_arg(req, "archive"), *error;
	struct store_mailbox *mbs = NULL;
	struct exporter ex;
	struct buf cd;
	size_t i, n = 0;
	bool zip;
	int rc = 0;

	if (format == NULL || arch == NULL ||
	    (strcmp(format, "maildir") != 0 && strcmp(format, "mbox") != 0) ||
	    (strcmp(arch, "zip") != 0 && strcmp(arch, "tgz") != 0)) {
		web_resp_text(resp, 400, "format must be maildir or mbox, archive zip or tgz");
		return;
	}
	zip = strcmp(arch, "zip") == 0;
	memset(&ex, 0, sizeof(ex));
	ex.req = req;
	ex.resp = resp;
	ex.st = web_env_store(req->env);
	ex.mbox = strcmp(format, "mbox") == 0;
	if (store_mailbox_list(ex.st, req->account_id, &mbs, &n, &error) < 0) {
		log_error(req->cid, "proto=http app=account ev=export-failed error=%s", lq(error));
		web_resp_text(resp, 500, "export failed (see the server log)");
		return;
	}
	resp->status = 200;
	web_resp_header(resp, "Content-Type", zip ? "application/zip" : "application/gzip");
	buf_init(&cd);
	buf_printf(&cd, "attachment; filename=\"mailstead-export-%s.%s\"", format, zip ? "zip" : "tgz");
	web_resp_header(resp, "Content-Disposition", cd.data);
	web_resp_header(resp, "Cache-Control", "no-store");
	buf_free(&cd);
	if (web_resp_stream_begin(resp) < 0) {
		store_mailboxes_free(mbs, n);
		return;
	}
	ex.a = archive_write_new();
	if (zip) {
		archive_write_set_format_zip(ex.a);
	} else {
		archive_write_set_format_pax_restricted(ex.a);
		archive_write_add_filter_gzip(ex.a);
	}
	archive_write_set_bytes_in_last_block(ex.a, 1);
	if (archive_write_open(ex.a, &ex, NULL, export_write_cb, NULL) != ARCHIVE_OK) {
		log_error(req->cid, "proto=http app=account ev=export-failed error=%s",
			lq(archive_error_string(ex.a)));
		rc = -1;
	}
	for (i = 0; i < n && rc == 0; i++)
		rc = export_mailbox(&ex, &mbs[i]);
	/* On failure the archive is left incomplete (no end record), so the
	 * download reads as broken rather than as a shorter export. */
	if (rc == 0)
		archive_write_close(ex.a);
	else
		archive_write_fail(ex.a);
	archive_write_free(ex.a);
	log_info(req->cid, "proto=http app=account ev=export account=%s format=%s archive=%s"
		" mailboxes=%zu result=%s", lq(req->account_name), format, arch, n,
		rc == 0 ? "ok" : "failed");
	store_mailboxes_free(mbs, n);
}
