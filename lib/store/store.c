/* Store handle and flag names. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "store/store.h"
#include "store/store_private.h"

static const char *const flag_names[] = {
	"\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft",
	"$Forwarded", "$Junk", "$NotJunk", "$Phishing", "$MDNSent",
};

const char *
store_flag_name(unsigned bit)
{
	unsigned i;

	for (i = 0; i < MS_NELEM(flag_names); i++)
		if (bit == 1u << i)
			return flag_names[i];
	return NULL;
}

unsigned
store_flag_parse(const char *name, size_t len)
{
	unsigned i;

	for (i = 0; i < MS_NELEM(flag_names); i++)
		if (strlen(flag_names[i]) == len && ms_strncaseeq(flag_names[i], name, len))
			return 1u << i;
	return 0;
}

struct store *
store_open(struct db_pool *pool, const char *datadir, unsigned flags,
	const char **error_r)
{
	static const char *const subdirs[] = { "tmp", "msg" };
	struct store *st;
	size_t i;

	for (i = 0; (flags & STORE_OPEN_DIRS) && i < MS_NELEM(subdirs); i++) {
		struct buf p;

		buf_init(&p);
		buf_printf(&p, "%s/%s", datadir, subdirs[i]);
		if (ms_mkdir_p(p.data, 0750) < 0) {
			*error_r = ms_err("creating %s: %s", p.data, strerror(errno));
			buf_free(&p);
			return NULL;
		}
		buf_free(&p);
	}
	/* Make the entries of tmp/ and msg/ durable once at start. */
	if (flags & STORE_OPEN_DIRS)
		(void)ms_fsync_dir(datadir);
	st = xcalloc(1, sizeof(*st));
	st->pool = pool;
	st->datadir = xstrdup(datadir);
	st->durable_bucket = -1;
	st->dq = store_deliver_queue_new();
	return st;
}

void
store_close(struct store **stp)
{
	struct store *st = *stp;

	if (st == NULL)
		return;
	store_deliver_queue_free(&st->dq);
	free(st->datadir);
	free(st);
	*stp = NULL;
}

int
store_bump_modseq(PGconn *c, int64_t account_id, int64_t *modseq_r,
	const char **error_r)
{
	PGresult *res = db_execv(c, error_r,
		"UPDATE accounts SET modseq = modseq + 1 WHERE id = $1 RETURNING modseq",
		1, db_i64(account_id));

	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		*error_r = "account not found";
		return -1;
	}
	*modseq_r = db_get_i64(res, 0, 0);
	PQclear(res);
	return 0;
}

int
store_notify(PGconn *c, int64_t account_id, int64_t mailbox_id, int64_t modseq,
	const char **error_r)
{
	struct buf payload;
	int rc;

	buf_init(&payload);
	buf_printf(&payload, "%lld %lld %lld", (long long)account_id,
		(long long)mailbox_id, (long long)modseq);
	rc = db_cmd(c, error_r, "SELECT pg_notify($1, $2)", 2,
		STORE_NOTIFY_CHANNEL, payload.data);
	buf_free(&payload);
	return rc;
}

void
store_split_words(const char *s, char ***v_r, size_t *n_r)
{
	char **v = NULL;
	size_t n = 0;

	while (*s) {
		size_t len;

		while (*s == ' ')
			s++;
		len = strcspn(s, " ");
		if (len == 0)
			break;
		v = xrealloc(v, (n + 1) * sizeof(char *));
		v[n++] = xstrndup(s, len);
		s += len;
	}
	*v_r = v;
	*n_r = n;
}

void
store_free_words(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void
store_pg_uid_array(struct buf *out, const uint32_t *uids, size_t n)
{
	size_t i;

	buf_putc(out, '{');
	for (i = 0; i < n; i++)
		buf_printf(out, i ? ",%u" : "%u", uids[i]);
	buf_putc(out, '}');
}
