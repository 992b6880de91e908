/* Message rows for IMAP SEARCH without the message text: a scan of a
 * mailbox's small columns with simple conditions evaluated by the database,
 * saving computed previews, and the mailboxes mail is delivered to. */
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "store/store.h"
#include "store/store_private.h"

const char *const store_search_fields[STORE_NSEARCH_FIELDS] = {
	"from", "to", "cc", "bcc", "subject",
};

bool
store_is_search_field(const char *name)
{
	size_t i;

	for (i = 0; i < STORE_NSEARCH_FIELDS; i++)
		if (ms_strcaseeq(name, store_search_fields[i]))
			return true;
	return false;
}

void
store_msg_filter_init(struct store_msg_filter *f)
{
	memset(f, 0, sizeof(*f));
	f->size_gt = f->size_lt = f->modseq_ge = -1;
	f->received_ge = f->saved_ge = INT64_MIN;
	f->received_lt = f->saved_lt = INT64_MAX;
}

bool
store_msg_filter_active(const struct store_msg_filter *f)
{
	return f->flags_set != 0 || f->flags_clear != 0 || f->nkeywords > 0 ||
		f->nno_keywords > 0 || f->size_gt >= 0 || f->size_lt >= 0 || f->modseq_ge >= 0 ||
		f->received_ge != INT64_MIN || f->received_lt != INT64_MAX ||
		f->saved_ge != INT64_MIN || f->saved_lt != INT64_MAX || f->subject_contains != NULL ||
		f->fields_contains != NULL;
}

/* An optional bound: NULL (SQL NULL, no condition) or its decimal text. */
static const char *
bound(int64_t v, int64_t none)
{
	return v == none ? NULL : db_i64(v);
}

int
store_msgs_scan(struct store *st, int64_t mailbox_id, uint32_t after, uint32_t last,
	size_t limit, const struct store_msg_filter *f, unsigned what,
	struct store_msg **msgs_r, size_t *n_r, const char **error_r)
{
	bool with_keywords = (what & STORE_SCAN_KEYWORDS) != 0;
	bool with_fields = (what & STORE_SCAN_FIELDS) != 0;
	struct store_msg_filter none;
	struct buf kw, nokw;
	PGconn *c;
	PGresult *res;
	int i, rows;

	*msgs_r = NULL;
	*n_r = 0;
	if (after >= last || limit == 0)
		return 0;
	if (f == NULL) {
		store_msg_filter_init(&none);
		f = &none;
	}
	buf_init(&kw);
	buf_init(&nokw);
	if (f->nkeywords > 0)
		db_text_array(&kw, f->keywords, f->nkeywords);
	if (f->nno_keywords > 0)
		db_text_array(&nokw, f->no_keywords, f->nno_keywords);
	c = db_get(st->pool, error_r);
	if (c == NULL) {
		buf_free(&kw);
		buf_free(&nokw);
		return -1;
	}
	/* Absent conditions are SQL NULL parameters; with the values known
	 * at planning (unnamed statement) they fold away, and without the
	 * keywords the columns are those of messages_mailbox_search
	 * (sql/006): an index-only scan in UID order. Whole seconds, as the
	 * IMAP dates and the time arithmetic of WITHIN use. */
	res = db_execv(c, error_r,
		"SELECT uid, flags, modseq, size, floor(extract(epoch FROM received))::bigint,"
		" floor(extract(epoch FROM savedate))::bigint,"
		" CASE WHEN $4 THEN array_to_string(keywords, ' ') END,"
		" CASE WHEN $18 THEN search_fields END,"
		/* rows without fields: what reading the file takes */
		" CASE WHEN $18 AND search_fields IS NULL THEN id END,"
		" CASE WHEN $18 AND search_fields IS NULL THEN file_path END,"
		" CASE WHEN $18 AND search_fields IS NULL THEN msg_prefix END,"
		" CASE WHEN $18 AND search_fields IS NULL THEN length(msg_prefix) END"
		" FROM messages WHERE mailbox_id = $1 AND uid > $2 AND uid <= $3"
		" AND flags & $5::int = $5::int AND flags & $6::int = 0"
		" AND ($7::text[] IS NULL OR keywords @> $7::text[])"
		" AND ($8::text[] IS NULL OR NOT keywords && $8::text[])"
		" AND ($9::bigint IS NULL OR size > $9::bigint)"
		" AND ($10::bigint IS NULL OR size < $10::bigint)"
		" AND ($11::bigint IS NULL OR modseq >= $11::bigint)"
		" AND ($12::bigint IS NULL OR received >= to_timestamp($12::bigint))"
		" AND ($13::bigint IS NULL OR received < to_timestamp($13::bigint))"
		" AND ($14::bigint IS NULL OR savedate >= to_timestamp($14::bigint))"
		" AND ($15::bigint IS NULL OR savedate < to_timestamp($15::bigint))"
		/* The envelope's subject is unfolded but not decoded: one with
		 * encoded words ("=?") stays a candidate, and so does a row
		 * without one (NULL). lower() folds at least the ASCII letters
		 * the IMAP comparison folds, so no match is lost. Rows read
		 * with their stored fields are judged by those instead (below;
		 * the envelope is inside the large parsed column). */
		" AND ($17::text IS NULL OR ($18 AND search_fields IS NOT NULL) OR COALESCE("
		"  strpos(lower(parsed->'E'->>'s'), lower($17::text)) > 0"
		"  OR strpos(parsed->'E'->>'s', '=?') > 0, true))"
		/* The same for the stored fields (unfolded, not decoded). */
		" AND ($19::text IS NULL OR search_fields IS NULL"
		"  OR strpos(lower(search_fields), lower($19::text)) > 0"
		"  OR strpos(search_fields, '=?') > 0)"
		" ORDER BY uid LIMIT $16",
		19, db_i64(mailbox_id), db_i64(after), db_i64(last),
		with_keywords ? "true" : "false", db_i64(f->flags_set), db_i64(f->flags_clear),
		f->nkeywords > 0 ? kw.data : NULL, f->nno_keywords > 0 ? nokw.data : NULL,
		bound(f->size_gt, -1), bound(f->size_lt, -1), bound(f->modseq_ge, -1),
		bound(f->received_ge, INT64_MIN), bound(f->received_lt, INT64_MAX),
		bound(f->saved_ge, INT64_MIN), bound(f->saved_lt, INT64_MAX),
		db_i64(limit > INT_MAX ? INT_MAX : (int64_t)limit), f->subject_contains,
		with_fields ? "true" : "false", f->fields_contains);
	db_put(st->pool, c);
	buf_free(&kw);
	buf_free(&nokw);
	if (res == NULL)
		return -1;
	rows = PQntuples(res);
	*msgs_r = xcalloc((size_t)rows + 1, sizeof(struct store_msg));
	for (i = 0; i < rows; i++) {
		struct store_msg *m = &(*msgs_r)[i];

		m->uid = (uint32_t)db_get_i64(res, i, 0);
		m->flags = (unsigned)db_get_i64(res, i, 1);
		m->modseq = db_get_i64(res, i, 2);
		m->size = db_get_i64(res, i, 3);
		m->received = db_get_i64(res, i, 4);
		m->savedate = db_get_i64(res, i, 5);
		buf_init(&m->prefix);
		buf_init(&m->fields);
		if (with_keywords)
			store_split_words(PQgetvalue(res, i, 6), &m->keywords, &m->nkeywords);
		if (!with_fields)
			continue;
		if (!PQgetisnull(res, i, 7)) {
			buf_append(&m->fields, PQgetvalue(res, i, 7),
				(size_t)PQgetlength(res, i, 7));
			m->have_fields = true;
		} else {
			m->id = db_get_i64(res, i, 8);
			m->file_path = xstrdup(PQgetvalue(res, i, 9));
			m->prefix_len = (size_t)db_get_i64(res, i, 11);
			m->have_prefix = db_get_bytea(res, i, 10, &m->prefix) == 0;
		}
	}
	*n_r = (size_t)rows;
	PQclear(res);
	return 0;
}

int
store_msgs_set_previews(struct store *st, int64_t mailbox_id, const uint32_t *uids,
	const char *const *previews, size_t n, const char **error_r)
{
	struct buf ua, pa;
	PGconn *c;
	int r;

	if (n == 0)
		return 0;
	buf_init(&ua);
	buf_init(&pa);
	store_pg_uid_array(&ua, uids, n);
	db_text_array(&pa, previews, n);
	c = db_get(st->pool, error_r);
	if (c == NULL) {
		buf_free(&ua);
		buf_free(&pa);
		return -1;
	}
	/* Only where still missing: another session may have been first. */
	r = db_cmd(c, error_r,
		"UPDATE messages m SET preview = x.p"
		" FROM unnest($2::bigint[], $3::text[]) AS x(uid, p)"
		" WHERE m.mailbox_id = $1 AND m.uid = x.uid AND m.preview IS NULL",
		3, db_i64(mailbox_id), ua.data, pa.data);
	db_put(st->pool, c);
	buf_free(&ua);
	buf_free(&pa);
	return r;
}

void
store_names_free(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}
