/* The webmail's reading side (webmail_private.h): message lists (Request,
 * keyset pagination on received and id), single messages (MessageItem,
 * ParsedMessage), the single-use tokens for /events and the event stream
 * itself.
 *
 * /events occupies a FastCGI worker thread for as long as the page is
 * open (lib/web has a fixed pool of [web] threads). So that streams cannot
 * starve the pool, at most half of the workers (rounded down) stream at
 * once (more: 503) and an account has at most WM_STREAMS_PER_ACCOUNT
 * streams (more: 429). The page then works without live updates. A
 * stream notices a closed page within WM_CLIENT_CHECK_S seconds (a
 * comment line written) and a removed session (Logout, password change)
 * within WM_SESSION_CHECK_S, and frees its worker.
 *
 * A "changes" event carries at most 5000 added or changed messages (a
 * larger change, e.g. all of a big mailbox marked read, is cut there; the
 * page sees the mailbox counts and re-requests its list). Removed
 * messages are named from the tombstones (expunged) by a map of (mailbox,
 * uid) -> id the stream keeps of the account's messages (24 bytes each);
 * messages gone with a deleted mailbox leave no tombstones and are not
 * listed (the mailbox is gone from "mailboxes"). */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/conf.h"
#include "core/log.h"
#include "core/util.h"
#include "db/db.h"
#include "mail/addr.h"
#include "mail/header.h"
#include "mail/mime.h"
#include "store/store.h"
#include "webmail/webmail_private.h"

#define WM_TOKEN_TTL_MS 60000
#define WM_MAX_TOKENS 1000
#define WM_TOKENS_PER_ACCOUNT 20
#define WM_STREAMS_PER_ACCOUNT 4
#define WM_PING_S 30
#define WM_SESSION_CHECK_S 10	/* a stream checks its session */
#define WM_CLIENT_CHECK_S 2	/* a stream checks its client is still there */
#define WM_MAX_PAGE 200
#define WM_MAX_SEARCH 1000	/* bytes of a search */
#define WM_MAX_WORDS 20

/* ---- MessageItem ---- */

static struct json_object *
jstr(const char *s)
{
	return json_object_new_string(s != NULL ? s : "");
}

static struct json_object *
addrs_json(const struct mail_hdr_addrs *l)
{
	struct json_object *a = json_object_new_array();
	size_t i;

	for (i = 0; i < l->n; i++) {
		const struct mail_hdr_addr *x = &l->v[i];
		struct json_object *o;
		struct buf b;

		if (x->localpart == NULL || x->localpart[0] == '\0')
			continue;	/* group markers */
		buf_init(&b);
		buf_puts(&b, x->localpart);
		if (x->domain != NULL && x->domain[0] != '\0') {
			buf_putc(&b, '@');
			buf_puts(&b, x->domain);
		}
		o = json_object_new_object();
		json_object_object_add(o, "name", jstr(x->name));
		json_object_object_add(o, "address", json_object_new_string(b.data));
		json_object_array_add(a, o);
		buf_free(&b);
	}
	return a;
}

/* Whether a leaf part is an attachment: said so, has a file name, or is
 * not text below a multipart. */
static const char *
part_param(const struct mime_param *v, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i].name != NULL && strcmp(v[i].name, name) == 0)
			return v[i].value;
	return NULL;
}

static const char *
part_filename(const struct mime_part *p)
{
	const char *f = part_param(p->disp_params, p->ndisp_params, "filename");

	if (f == NULL)
		f = part_param(p->params, p->nparams, "name");
	return f;
}

static bool
part_is_attachment(const struct mime_part *p, bool root)
{
	if (p->nparts > 0)
		return false;
	if (p->disposition != NULL && strcmp(p->disposition, "attachment") == 0)
		return true;
	if (root)
		return false;
	if (part_filename(p) != NULL)
		return true;
	return strcmp(p->type, "text") != 0 && strcmp(p->type, "multipart") != 0;
}

static void
count_attachments(const struct mime_part *p, bool root, int64_t *n)
{
	size_t i;

	if (part_is_attachment(p, root))
		(*n)++;
	for (i = 0; i < p->nparts; i++)
		count_attachments(&p->parts[i], false, n);
}

static struct json_object *
flags_json(unsigned flags, const char *keywords_json)
{
	struct json_object *a = json_object_new_array(), *kw;
	unsigned bit;
	size_t i;

	for (bit = 1; bit <= SF_MDNSENT; bit <<= 1) {
		const char *name;

		if ((flags & bit) == 0 || bit == SF_DELETED)
			continue;
		name = store_flag_name(bit);
		if (name != NULL)
			json_object_array_add(a, json_object_new_string(name));
	}
	kw = keywords_json != NULL ? json_tokener_parse(keywords_json) : NULL;
	if (kw != NULL && json_object_is_type(kw, json_type_array))
		for (i = 0; i < json_object_array_length(kw); i++)
			json_object_array_add(a, json_object_get(json_object_array_get_idx(kw, i)));
	json_object_put(kw);
	return a;
}

struct json_object *
wm_item_json(const PGresult *r, int row, int col)
{
	struct json_object *o = json_object_new_object();
	const char *parsed = PQgetvalue(r, row, col + 8);
	struct mime_part *root = NULL;
	const struct mime_envelope *env = NULL;
	static const struct mail_hdr_addrs none;
	int64_t nattach = 0;
	struct buf subj;

	if (!PQgetisnull(r, row, col + 8))
		root = mime_from_json(parsed, strlen(parsed));
	if (root != NULL)
		env = root->envelope;
	json_object_object_add(o, "id", json_object_new_int64(db_get_i64(r, row, col)));
	json_object_object_add(o, "mailboxID", json_object_new_int64(db_get_i64(r, row, col + 1)));
	json_object_object_add(o, "uid", json_object_new_int64(db_get_i64(r, row, col + 2)));
	json_object_object_add(o, "threadID", json_object_new_int64(db_get_i64(r, row, col + 3)));
	json_object_object_add(o, "flags", flags_json((unsigned)db_get_i64(r, row, col + 4),
		PQgetvalue(r, row, col + 5)));
	json_object_object_add(o, "size", json_object_new_int64(db_get_i64(r, row, col + 6)));
	json_object_object_add(o, "received", json_object_new_int64(db_get_i64(r, row, col + 7)));
	json_object_object_add(o, "date",
		json_object_new_int64(env != NULL ? wm_date_parse(env->date) : 0));
	buf_init(&subj);
	if (env != NULL && env->subject != NULL)
		mail_header_decode_words(&subj, env->subject, strlen(env->subject));
	json_object_object_add(o, "subject", json_object_new_string(subj.data));
	buf_free(&subj);
	json_object_object_add(o, "from", addrs_json(env != NULL ? &env->from : &none));
	json_object_object_add(o, "to", addrs_json(env != NULL ? &env->to : &none));
	json_object_object_add(o, "cc", addrs_json(env != NULL ? &env->cc : &none));
	json_object_object_add(o, "bcc", addrs_json(env != NULL ? &env->bcc : &none));
	json_object_object_add(o, "replyTo", addrs_json(env != NULL ? &env->reply_to : &none));
	json_object_object_add(o, "messageID", jstr(env != NULL ? env->message_id : NULL));
	json_object_object_add(o, "inReplyTo", jstr(env != NULL ? env->in_reply_to : NULL));
	json_object_object_add(o, "preview", jstr(PQgetvalue(r, row, col + 9)));
	if (root != NULL)
		count_attachments(root, true, &nattach);
	json_object_object_add(o, "attachments", json_object_new_int64(nattach));
	json_object_object_add(o, "isList", json_object_new_boolean(db_get_bool(r, row, col + 10)));
	json_object_object_add(o, "threadMuted",
		json_object_new_boolean(db_get_bool(r, row, col + 11)));
	json_object_object_add(o, "threadCollapsed",
		json_object_new_boolean(db_get_bool(r, row, col + 12)));
	mime_free(&root);
	return o;
}

/* ---- Mailbox ---- */

struct json_object *
wm_mailboxes_json(struct store *st, int64_t account_id, const char **error_r)
{
	struct store_mailbox *mbs;
	struct json_object *a;
	size_t n, i, j;

	if (store_mailbox_list(st, account_id, &mbs, &n, error_r) < 0)
		return NULL;
	a = json_object_new_array();
	for (i = 0; i < n; i++) {
		struct json_object *o = json_object_new_object(), *kw;
		const char *slash = strrchr(mbs[i].name, '/');
		int64_t parent = 0;

		/* The parent is the mailbox named like the part before the
		 * last "/", if it exists. */
		if (slash != NULL)
			for (j = 0; j < n; j++)
				if (strlen(mbs[j].name) == (size_t)(slash - mbs[i].name) &&
				    strncmp(mbs[j].name, mbs[i].name,
					(size_t)(slash - mbs[i].name)) == 0)
					parent = mbs[j].id;
		json_object_object_add(o, "id", json_object_new_int64(mbs[i].id));
		json_object_object_add(o, "name", json_object_new_string(mbs[i].name));
		json_object_object_add(o, "parentID", json_object_new_int64(parent));
		json_object_object_add(o, "specialUse", jstr(mbs[i].special_use));
		json_object_object_add(o, "total", json_object_new_int64(mbs[i].count_total));
		json_object_object_add(o, "unread", json_object_new_int64(mbs[i].count_unread));
		json_object_object_add(o, "unseen", json_object_new_int64(mbs[i].count_unseen));
		json_object_object_add(o, "size", json_object_new_int64(mbs[i].size));
		kw = json_object_new_array();
		for (j = 0; j < mbs[i].nkeywords; j++)
			json_object_array_add(kw, json_object_new_string(mbs[i].keywords[j]));
		json_object_object_add(o, "keywords", kw);
		json_object_array_add(a, o);
	}
	store_mailboxes_free(mbs, n);
	return a;
}

/* ---- methods ---- */

static int
get_message_row(struct web_call *call, int64_t id, const char *extra, PGresult **r_out)
{
	char sql[1024];
	const char *p[2];
	char ids[24], acc[24];
	PGresult *r;

	snprintf(ids, sizeof(ids), "%lld", (long long)id);
	snprintf(acc, sizeof(acc), "%lld", (long long)call->req->account_id);
	p[0] = ids;
	p[1] = acc;
	snprintf(sql, sizeof(sql), "SELECT " WM_ITEM_COLUMNS "%s FROM messages m"
		" WHERE m.id = $1 AND m.account_id = $2", extra);
	r = wm_query(call, "message", sql, 2, p);
	if (r == NULL)
		return -1;
	if (PQntuples(r) != 1) {
		PQclear(r);
		return web_call_error(call, "user:notFound", "no such message");
	}
	*r_out = r;
	return 0;
}

int
wm_api_message_item(struct web_call *call)
{
	PGresult *r;

	if (get_message_row(call, web_call_int(call, 0), "", &r) < 0)
		return -1;
	call->result = wm_item_json(r, 0, 0);
	PQclear(r);
	return 0;
}

int
wm_api_ssetypes(struct web_call *call)
{
	struct json_object *a = json_object_new_array();

	json_object_array_add(a, json_object_new_string(
		"start: the account, its addresses, mailboxes and settings, first"));
	json_object_array_add(
	        a, json_object_new_string("changes: mailboxes with current counts, messages added, "
	                                  "removed and with new flags"));
	json_object_array_add(a, json_object_new_string("ping: every 30 seconds, nothing else"));
	call->result = a;
	return 0;
}

/* Member of a JSON object with the expected type, or NULL after the
 * call's user:error. */
static struct json_object *
member(struct web_call *call, struct json_object *o, const char *name, enum json_type t)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, t)) {
		web_call_error(call, "user:error", "%s: missing or of the wrong type", name);
		return NULL;
	}
	return v;
}

/* Whether s is UTF-8 (RFC 3629: shortest forms, no surrogates, at most
 * U+10FFFF) without control characters, as the database takes it. */
static bool
search_valid(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;

	while (*u != '\0') {
		unsigned char c = *u;
		uint32_t cp;
		size_t n, i;

		if (c < 0x20 && c != '\t')
			return false;
		if (c < 0x80) {
			u++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, cp = c & 0x07;
		else
			return false;
		for (i = 1; i <= n; i++) {
			if ((u[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (u[i] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		u += n + 1;
	}
	return true;
}

/* Lower-case ASCII and the Latin-1 letters (U+00C0..U+00DE but U+00D7,
 * in UTF-8) in place: the folding of the words and texts search_check
 * compares. */
static void
search_fold(char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 'A' && c <= 'Z')
			s[i] = (char)(c + 32);
		else if (c == 0xc3 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
			(unsigned char)s[i + 1] <= 0x9e && (unsigned char)s[i + 1] != 0x97) {
			s[i + 1] = (char)((unsigned char)s[i + 1] + 0x20);
			i++;
		}
	}
}

/* Whether every word (folded by search_fold) occurs in one of the texts:
 * the stored header fields decoded, the subject and the preview, compared
 * with ASCII letters folded. For the rows the database cannot judge. */
static bool
search_check(const char *fields, const char *subject, const char *preview,
	char *const *words, size_t nwords)
{
	struct buf hay;
	size_t i;
	bool ok = true;

	buf_init(&hay);
	if (fields != NULL)
		mail_header_decode_words(&hay, fields, strlen(fields));
	buf_putc(&hay, '\n');
	buf_puts(&hay, subject != NULL ? subject : "");
	buf_putc(&hay, '\n');
	buf_puts(&hay, preview != NULL ? preview : "");
	search_fold(hay.data, hay.len);
	for (i = 0; i < nwords && ok; i++)
		ok = strstr(hay.data, words[i]) != NULL;
	buf_free(&hay);
	return ok;
}

/* SQL: all words of the text[] parameter $%d occur, as stored. */
#define WM_DEFINITE "NOT EXISTS (SELECT 1 FROM unnest($%d::text[]) w WHERE strpos(" \
	"lower(coalesce(m.search_fields, '') || ' ' || coalesce(m.parsed->'E'->>'s', '') ||" \
	" ' ' || coalesce(m.preview, '')), lower(w)) = 0)"

int
wm_api_request(struct web_call *call)
{
	struct json_object *q = call->params[0], *pg = call->params[1], *v, *res, *msgs;
	int64_t mailbox_id, anchor, count;
	bool unread, flagged;
	const char *search;
	struct buf where, sql, words;
	const char *p[8];
	char pbuf[8][24];
	char *lwords[WM_MAX_WORDS];
	size_t nwords = 0;
	int np = 0, i, n, wordsparam = 0, rc = -1;
	int64_t total = 0, naccepted = 0, batch;
	PGresult *r;

	if ((v = member(call, q, "mailboxID", json_type_int)) == NULL)
		return -1;
	mailbox_id = json_object_get_int64(v);
	if ((v = member(call, q, "search", json_type_string)) == NULL)
		return -1;
	search = json_object_get_string(v);
	if ((v = member(call, q, "unread", json_type_boolean)) == NULL)
		return -1;
	unread = json_object_get_boolean(v);
	if ((v = member(call, q, "flagged", json_type_boolean)) == NULL)
		return -1;
	flagged = json_object_get_boolean(v);
	if ((v = member(call, pg, "anchorMessageID", json_type_int)) == NULL)
		return -1;
	anchor = json_object_get_int64(v);
	if ((v = member(call, pg, "count", json_type_int)) == NULL)
		return -1;
	count = json_object_get_int64(v);
	if (count < 1 || count > WM_MAX_PAGE)
		return web_call_error(call, "user:error", "count must be 1 to %d", WM_MAX_PAGE);
	if (mailbox_id < 0 || anchor < 0)
		return web_call_error(call, "user:error", "ids cannot be negative");
	if (strlen(search) > WM_MAX_SEARCH)
		return web_call_error(call, "user:error", "search too long");
	if (!search_valid(search))
		return web_call_error(
		        call, "user:error", "search with control characters or not UTF-8");

	buf_init(&where);
	buf_init(&sql);
	buf_init(&words);
	snprintf(pbuf[np], sizeof(pbuf[np]), "%lld", (long long)call->req->account_id);
	p[np] = pbuf[np];
	np++;
	if (mailbox_id > 0) {
		PGresult *mr;
		const char *mp[2] = { pbuf[0], NULL };
		char mb[24];

		snprintf(mb, sizeof(mb), "%lld", (long long)mailbox_id);
		mp[1] = mb;
		mr = wm_query(call, "mailbox",
		        "SELECT 1 FROM mailboxes WHERE account_id = $1 AND id = $2", 2, mp);
		if (mr == NULL)
			goto fail;
		n = PQntuples(mr);
		PQclear(mr);
		if (n != 1) {
			web_call_error(call, "user:notFound", "no such mailbox");
			goto fail;
		}
		snprintf(pbuf[np], sizeof(pbuf[np]), "%lld", (long long)mailbox_id);
		p[np] = pbuf[np];
		np++;
		buf_printf(&where, "m.account_id = $1 AND m.mailbox_id = $%d", np);
	} else {
		buf_puts(&where,
		        "m.account_id = $1 AND m.mailbox_id NOT IN (SELECT id FROM mailboxes"
		        " WHERE account_id = $1 AND special_use IN ('junk', 'trash'))");
	}
	if (unread)
		buf_printf(&where, " AND m.flags & %d = 0", SF_SEEN);
	if (flagged)
		buf_printf(&where, " AND m.flags & %d <> 0", SF_FLAGGED);
	buf_printf(&where, " AND m.flags & %d = 0", SF_DELETED);
	if (search[0] != '\0') {
		/* Words as a text[] parameter; each must occur in the stored
		 * header fields, the envelope subject or the preview. */
		const char *wv[WM_MAX_WORDS];
		char *copy = xstrdup(search), *c = copy;
		size_t nw = 0;

		while (*c != '\0') {
			while (*c == ' ' || *c == '\t')
				*c++ = '\0';
			if (*c == '\0')
				break;
			if (nw == WM_MAX_WORDS) {
				free(copy);
				web_call_error(call, "user:error", "at most %d search words",
					WM_MAX_WORDS);
				goto fail;
			}
			wv[nw++] = c;
			while (*c != '\0' && *c != ' ' && *c != '\t')
				c++;
		}
		if (nw > 0) {
			db_text_array(&words, wv, nw);
			p[np] = words.data;
			np++;
			wordsparam = np;
			/* Candidates: every word in the stored fields, subject or
			 * preview as stored ("definite"), or fields with encoded
			 * words, which the database cannot judge and
			 * search_check decides on decoded. */
			buf_printf(&where,
			        " AND (" WM_DEFINITE " OR strpos(m.search_fields, '=?') > 0)", np);
			for (i = 0; i < (int)nw; i++) {
				nwords = (size_t)i + 1;
				lwords[i] = xstrdup(wv[i]);
				search_fold(lwords[i], strlen(lwords[i]));
			}
		}
		free(copy);
	}
	/* total: the definite matches counted by the database, the others
	 * checked here. */
	if (wordsparam > 0)
		buf_printf(&sql, "SELECT " WM_DEFINITE ", m.search_fields, m.parsed->'E'->>'s',"
			" m.preview FROM messages m WHERE %s AND NOT " WM_DEFINITE " UNION ALL"
			" SELECT true, NULL, count(*)::text, NULL FROM messages m WHERE %s AND "
			WM_DEFINITE, wordsparam, where.data, wordsparam, where.data, wordsparam);
	else
		buf_printf(&sql, "SELECT true, NULL, count(*)::text, NULL FROM messages m WHERE %s",
			where.data);
	r = wm_query(call, "request count", sql.data, np, p);
	if (r == NULL)
		goto fail;
	n = PQntuples(r);
	for (i = 0; i < n; i++) {
		if (db_get_bool(r, i, 0)) {
			total += db_get_i64(r, i, 2);
		} else {
			struct buf subj;
			const char *raw = PQgetvalue(r, i, 2);

			buf_init(&subj);
			mail_header_decode_words(&subj, raw, strlen(raw));
			if (search_check(PQgetvalue(r, i, 1), subj.data, PQgetvalue(r, i, 3),
				lwords, nwords))
				total++;
			buf_free(&subj);
		}
	}
	PQclear(r);
	if (anchor > 0) {
		const char *ap[2] = { pbuf[0], NULL };
		char ab[24];

		snprintf(ab, sizeof(ab), "%lld", (long long)anchor);
		ap[1] = ab;
		r = wm_query(call, "anchor",
		        "SELECT 1 FROM messages WHERE account_id = $1 AND id = $2", 2, ap);
		if (r == NULL)
			goto fail;
		n = PQntuples(r);
		PQclear(r);
		if (n != 1) {
			web_call_error(call, "user:notFound", "no such anchor message");
			goto fail;
		}
		/* Keyset: after the anchor in (received, id) descending. */
		snprintf(pbuf[np], sizeof(pbuf[np]), "%lld", (long long)anchor);
		p[np] = pbuf[np];
	}
	np++;
	buf_printf(&where, " AND ($%d::bigint IS NULL OR (m.received, m.id) < (SELECT a.received,"
		" a.id FROM messages a WHERE a.id = $%d AND a.account_id = $1))", np, np);
	{
		/* Column WM_ITEM_NCOLUMNS: the row needs search_check. */
		struct buf t;

		buf_init(&t);
		if (wordsparam > 0)
			buf_printf(&t, "NOT " WM_DEFINITE, wordsparam);
		else
			buf_puts(&t, "false");
		buf_reset(&sql);
		buf_printf(&sql,
		        "SELECT " WM_ITEM_COLUMNS ", %s, m.search_fields FROM messages m"
		        " WHERE %s ORDER BY m.received DESC, m.id DESC LIMIT $%d",
		        t.data, where.data, np + 1);
		buf_free(&t);
	}
	msgs = json_object_new_array();
	/* Batches until count + 1 messages passed (the last tells hasMore);
	 * larger ones when messages need checking here. */
	batch = count + 1;
	for (;;) {
		char lim[24];

		snprintf(lim, sizeof(lim), "%lld", (long long)batch);
		p[np] = lim;
		if (anchor <= 0)
			p[np - 1] = NULL;
		r = wm_query(call, "request", sql.data, np + 1, p);
		if (r == NULL) {
			json_object_put(msgs);
			goto fail;
		}
		n = PQntuples(r);
		for (i = 0; i < n && naccepted <= count; i++) {
			struct json_object *item = wm_item_json(r, i, 0);

			if (db_get_bool(r, i, WM_ITEM_NCOLUMNS)) {
				struct json_object *sj, *pj;

				json_object_object_get_ex(item, "subject", &sj);
				json_object_object_get_ex(item, "preview", &pj);
				if (!search_check(PQgetvalue(r, i, WM_ITEM_NCOLUMNS + 1),
				            json_object_get_string(sj), json_object_get_string(pj),
				            lwords, nwords)) {
					json_object_put(item);
					continue;
				}
			}
			if (naccepted++ < count)
				json_object_array_add(msgs, item);
			else
				json_object_put(item);
		}
		if (n > 0) {
			anchor = db_get_i64(r, n - 1, 0);
			snprintf(pbuf[np - 1], sizeof(pbuf[np - 1]), "%lld", (long long)anchor);
			p[np - 1] = pbuf[np - 1];
		}
		PQclear(r);
		if (naccepted > count || n < batch)
			break;
		if (batch < 5000)
			batch *= 2;
	}
	res = json_object_new_object();
	json_object_object_add(res, "messages", msgs);
	json_object_object_add(res, "hasMore", json_object_new_boolean(naccepted > count));
	json_object_object_add(res, "total", json_object_new_int64(total));
	call->result = res;
	rc = 0;
fail:
	buf_free(&where);
	buf_free(&sql);
	buf_free(&words);
	for (i = 0; i < (int)nwords; i++)
		free(lwords[i]);
	return rc;
}

/* ---- ParsedMessage ---- */

static struct json_object *
path_json(const int64_t *path, size_t depth)
{
	struct json_object *a = json_object_new_array();
	size_t i;

	for (i = 0; i < depth; i++)
		json_object_array_add(a, json_object_new_int64(path[i]));
	return a;
}

#define WM_MAX_DEPTH 40

struct parse_walk {
	const char *s;
	size_t n;
	const struct mime_part *text;	/* first text/plain */
	bool has_html;
	struct json_object *attachments;
};

/* Part JSON of p at path[0..depth). Inside an attached message (inner)
 * nothing is collected into w: its text and attachments are its own. */
static struct json_object *
part_json(struct parse_walk *w, const struct mime_part *p, int64_t *path, size_t depth,
	bool inner)
{
	struct json_object *o = json_object_new_object(), *kids = json_object_new_array();
	const char *cs = part_param(p->params, p->nparams, "charset");
	const char *fn = part_filename(p);
	uint64_t size = p->end > p->body_start ? p->end - p->body_start : 0;
	struct buf ct, name, cid;
	size_t i;

	buf_init(&ct);
	buf_init(&name);
	buf_init(&cid);
	buf_printf(&ct, "%s/%s", p->type, p->subtype);
	if (fn != NULL)
		mail_header_decode_words(&name, fn, strlen(fn));
	if (p->encoding != NULL && strcmp(p->encoding, "base64") == 0)
		size = size / 4 * 3;
	if (p->id != NULL) {
		const char *id = p->id;
		size_t l = strlen(id);

		if (l >= 2 && id[0] == '<' && id[l - 1] == '>')
			buf_append(&cid, id + 1, l - 2);
		else
			buf_puts(&cid, id);
	}
	json_object_object_add(o, "path", path_json(path, depth));
	json_object_object_add(o, "contentType", json_object_new_string(ct.data));
	json_object_object_add(o, "charset", jstr(cs));
	json_object_object_add(o, "disposition",
	        jstr(p->disposition != NULL && (strcmp(p->disposition, "inline") == 0 ||
	                                               strcmp(p->disposition, "attachment") == 0)
	                        ? p->disposition
	                        : ""));
	json_object_object_add(o, "filename", json_object_new_string(name.data));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)size));
	json_object_object_add(o, "contentID", json_object_new_string(cid.data));
	if (inner) {
		/* nothing collected */
	} else if (part_is_attachment(p, depth == 0)) {
		struct json_object *a = json_object_new_object();

		json_object_object_add(a, "path", path_json(path, depth));
		json_object_object_add(a, "filename", json_object_new_string(name.data));
		json_object_object_add(a, "contentType", json_object_new_string(ct.data));
		json_object_object_add(a, "size", json_object_new_int64((int64_t)size));
		json_object_array_add(w->attachments, a);
	} else if (p->nparts == 0 && strcmp(p->type, "text") == 0) {
		if (strcmp(p->subtype, "plain") == 0 && w->text == NULL)
			w->text = p;
		else if (strcmp(p->subtype, "html") == 0)
			w->has_html = true;
	}
	if (depth < WM_MAX_DEPTH) {
		for (i = 0; i < p->nparts; i++) {
			path[depth] = (int64_t)i;
			json_object_array_add(kids, part_json(w, &p->parts[i], path, depth + 1,
				inner));
		}
		if (p->message != NULL) {
			path[depth] = 0;
			json_object_array_add(
			        kids, part_json(w, p->message, path, depth + 1, true));
		}
	}
	json_object_object_add(o, "parts", kids);
	buf_free(&ct);
	buf_free(&name);
	buf_free(&cid);
	return o;
}

/* The first URL in <> of a List-Unsubscribe value that is http(s). */
static void
list_unsubscribe(const char *v, struct buf *out)
{
	const char *lt;

	while ((lt = strchr(v, '<')) != NULL) {
		const char *gt = strchr(lt, '>');

		if (gt == NULL)
			return;
		if (strncasecmp(lt + 1, "https://", 8) == 0 ||
		        strncasecmp(lt + 1, "http://", 7) == 0) {
			buf_append(out, lt + 1, (size_t)(gt - lt - 1));
			return;
		}
		v = gt + 1;
	}
}

int
wm_api_parsed_message(struct web_call *call)
{
	struct store *st = web_env_store(call->req->env);
	struct parse_walk w;
	struct json_object *res, *headers, *item, *from;
	struct mime_part *root = NULL;
	struct mail_header_iter it;
	struct buf msg, text, unsub, fromaddr;
	const char *error, *name, *value, *mode = "text";
	size_t namelen, valuelen, prefix_len, hend;
	int64_t path[WM_MAX_DEPTH];
	PGresult *r;
	int rc = -1;

	if (get_message_row(call, web_call_int(call, 0),
		", m.file_path, length(m.msg_prefix)", &r) < 0)
		return -1;
	buf_init(&msg);
	buf_init(&text);
	buf_init(&unsub);
	buf_init(&fromaddr);
	item = wm_item_json(r, 0, 0);
	if (!PQgetisnull(r, 0, 8))
		root = mime_from_json(PQgetvalue(r, 0, 8), (size_t)PQgetlength(r, 0, 8));
	prefix_len = (size_t)db_get_i64(r, 0, WM_ITEM_NCOLUMNS + 1);
	if (store_msg_read(st, db_get_i64(r, 0, 0), PQgetvalue(r, 0, WM_ITEM_NCOLUMNS), &msg,
		&error) < 0) {
		web_call_server_error(call, "read message", error);
		json_object_put(item);
		goto done;
	}
	if (prefix_len > msg.len)
		prefix_len = msg.len;
	if (root == NULL)
		root = mime_parse(msg.data + prefix_len, msg.len - prefix_len);

	memset(&w, 0, sizeof(w));
	w.s = msg.data + prefix_len;
	w.n = msg.len - prefix_len;
	w.attachments = json_object_new_array();
	res = json_object_new_object();
	json_object_object_add(res, "item", item);
	json_object_object_add(res, "part", part_json(&w, root, path, 0, false));

	headers = json_object_new_object();
	hend = mime_header_end(msg.data, msg.len);
	mail_header_iter_init(&it, msg.data, hend);
	while (mail_header_next(&it, &name, &namelen, &value, &valuelen)) {
		struct json_object *a;
		char *lname = xmalloc(namelen + 1);
		size_t i;
		struct buf uv;

		for (i = 0; i < namelen; i++)
			lname[i] =
			        (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
		lname[namelen] = '\0';
		buf_init(&uv);
		mail_header_unfold(&uv, value, valuelen);
		if (!json_object_object_get_ex(headers, lname, &a)) {
			a = json_object_new_array();
			json_object_object_add(headers, lname, a);
		}
		json_object_array_add(a, json_object_new_string_len(uv.data, (int)uv.len));
		if (strcmp(lname, "list-unsubscribe") == 0 && unsub.len == 0)
			list_unsubscribe(uv.data, &unsub);
		buf_free(&uv);
		free(lname);
	}
	json_object_object_add(res, "headers", headers);
	if (w.text != NULL)
		mime_part_text(w.text, w.s, w.n, &text);
	json_object_object_add(res, "text", json_object_new_string_len(text.data, (int)text.len));
	json_object_object_add(res, "hasHTML", json_object_new_boolean(w.has_html));
	json_object_object_add(res, "attachments", w.attachments);
	json_object_object_add(res, "listUnsubscribe", json_object_new_string(unsub.data));

	/* viewMode: the setting saved for the From address. */
	if (json_object_object_get_ex(item, "from", &from) && json_object_array_length(from) > 0) {
		struct json_object *a0 = json_object_array_get_idx(from, 0), *addr;
		const char *pp[2];
		char acc[24];
		PGresult *vr;

		if (json_object_object_get_ex(a0, "address", &addr)) {
			snprintf(acc, sizeof(acc), "%lld", (long long)call->req->account_id);
			pp[0] = acc;
			pp[1] = json_object_get_string(addr);
			vr = wm_query(call, "view mode", "SELECT view_mode FROM"
				" webmail_from_address_settings WHERE account_id = $1 AND"
				" from_address = $2", 2, pp);
			if (vr == NULL) {
				json_object_put(res);
				goto done;
			}
			if (PQntuples(vr) == 1)
				mode = PQgetvalue(vr, 0, 0);
			json_object_object_add(res, "viewMode", json_object_new_string(mode));
			PQclear(vr);
		}
	}
	if (!json_object_object_get_ex(res, "viewMode", NULL))
		json_object_object_add(res, "viewMode", json_object_new_string("text"));
	call->result = res;
	rc = 0;
done:
	PQclear(r);
	mime_free(&root);
	buf_free(&msg);
	buf_free(&text);
	buf_free(&unsub);
	buf_free(&fromaddr);
	return rc;
}

/* ---- tokens ---- */

struct wm_token {
	char tok[40];
	int64_t account_id;
	unsigned char session_hash[32];
	int64_t expires_ms;
};

static pthread_mutex_t tokens_mu = PTHREAD_MUTEX_INITIALIZER;
static struct wm_token tokens[WM_MAX_TOKENS];
static size_t ntokens;

static void
tokens_expire(int64_t now)
{
	size_t i = 0;

	while (i < ntokens) {
		if (tokens[i].expires_ms <= now) {
			explicit_bzero(&tokens[i], sizeof(tokens[i]));
			tokens[i] = tokens[--ntokens];
		} else {
			i++;
		}
	}
}

int
wm_api_token(struct web_call *call)
{
	int64_t now = ms_mono_ms();
	struct buf t;

	buf_init(&t);
	ms_random_token(&t, 18);
	pthread_mutex_lock(&tokens_mu);
	tokens_expire(now);
	{
		/* An account's oldest token goes when it has too many, so
		 * one account cannot use up the table. */
		size_t i, mine = 0, oldest = 0;

		for (i = 0; i < ntokens; i++) {
			if (tokens[i].account_id != call->req->account_id)
				continue;
			if (mine++ == 0 || tokens[i].expires_ms < tokens[oldest].expires_ms)
				oldest = i;
		}
		if (mine >= WM_TOKENS_PER_ACCOUNT) {
			explicit_bzero(&tokens[oldest], sizeof(tokens[oldest]));
			tokens[oldest] = tokens[--ntokens];
		}
	}
	if (ntokens == WM_MAX_TOKENS || t.len >= sizeof(tokens[0].tok)) {
		pthread_mutex_unlock(&tokens_mu);
		buf_wipe(&t);
		buf_free(&t);
		call->status = 503;
		return web_call_error(call, "server:error", "too many tokens, try again later");
	}
	memcpy(tokens[ntokens].tok, t.data, t.len + 1);
	tokens[ntokens].account_id = call->req->account_id;
	memcpy(tokens[ntokens].session_hash, call->req->session_hash, 32);
	tokens[ntokens].expires_ms = now + WM_TOKEN_TTL_MS;
	ntokens++;
	pthread_mutex_unlock(&tokens_mu);
	call->result = json_object_new_string(t.data);
	buf_wipe(&t);
	buf_free(&t);
	return 0;
}

/* Take the token (single use): true when it was valid for req's session. */
static bool
token_take(const struct web_request *req, const char *tok)
{
	bool ok = false;
	size_t i;

	if (tok == NULL || tok[0] == '\0')
		return false;
	pthread_mutex_lock(&tokens_mu);
	tokens_expire(ms_mono_ms());
	for (i = 0; i < ntokens; i++) {
		if (strcmp(tokens[i].tok, tok) != 0)
			continue;
		ok = tokens[i].account_id == req->account_id &&
			memcmp(tokens[i].session_hash, req->session_hash, 32) == 0;
		explicit_bzero(&tokens[i], sizeof(tokens[i]));
		tokens[i] = tokens[--ntokens];
		break;
	}
	pthread_mutex_unlock(&tokens_mu);
	return ok;
}

/* ---- /events ---- */

struct wm_stream {
	int64_t account_id;
	bool pending;
	struct wm_stream *next;
};

static pthread_mutex_t streams_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t streams_cond = PTHREAD_COND_INITIALIZER;
static struct wm_stream *streams;
static size_t nstreams;
static pthread_mutex_t subscribe_mu = PTHREAD_MUTEX_INITIALIZER;
static bool subscribed;

/* Listener thread: "<account_id> <mailbox_id> <modseq>", NULL after a
 * lost connection (everyone rechecks). */
static void
store_notify(void *ctx, const char *channel, const char *payload)
{
	uint64_t account = 0;
	struct wm_stream *s;
	const char *sp;

	(void)ctx;
	(void)channel;
	if (payload != NULL) {
		sp = strchr(payload, ' ');
		if (sp == NULL || ms_parse_u64n(payload, (size_t)(sp - payload), 1, INT64_MAX,
			&account) < 0)
			return;
	}
	pthread_mutex_lock(&streams_mu);
	for (s = streams; s != NULL; s = s->next)
		if (payload == NULL || s->account_id == (int64_t)account)
			s->pending = true;
	pthread_cond_broadcast(&streams_cond);
	pthread_mutex_unlock(&streams_mu);
}

/* (mailbox_id, uid) -> message id of the account's messages, so removed
 * messages (tombstones know only mailbox and uid) can be named. */
struct msgkey {
	int64_t mailbox_id, uid, id;
};

static int
msgkey_cmp(const void *a, const void *b)
{
	const struct msgkey *x = a, *y = b;

	if (x->mailbox_id != y->mailbox_id)
		return x->mailbox_id < y->mailbox_id ? -1 : 1;
	if (x->uid != y->uid)
		return x->uid < y->uid ? -1 : 1;
	return 0;
}

struct stream_state {
	struct web_env *env;
	int64_t account_id;
	char account[24];
	unsigned char session_hash[32];
	int64_t modseq;
	struct msgkey *keys;
	size_t nkeys, cap;
};

static PGresult *
sq(struct stream_state *ss, const char *sql, int n, const char *const *p, const char **error_r)
{
	struct db_pool *pool = web_env_pool(ss->env);
	PGconn *c = db_get(pool, error_r);
	PGresult *r;

	if (c == NULL)
		return NULL;
	r = db_exec(c, sql, n, p, error_r);
	db_put(pool, c);
	return r;
}

static void
keys_add(struct stream_state *ss, int64_t mb, int64_t uid, int64_t id)
{
	if (ss->nkeys == ss->cap) {
		ss->cap = ss->cap ? ss->cap * 2 : 1024;
		ss->keys = xrealloc(ss->keys, ss->cap * sizeof(*ss->keys));
	}
	ss->keys[ss->nkeys].mailbox_id = mb;
	ss->keys[ss->nkeys].uid = uid;
	ss->keys[ss->nkeys].id = id;
	ss->nkeys++;
}

/* Modseq and the message keys at the start. */
static int
stream_init(struct stream_state *ss, const char **error_r)
{
	const char *p[1] = { ss->account };
	PGresult *r;
	int i, n;

	r = sq(ss, "SELECT modseq FROM accounts WHERE id = $1", 1, p, error_r);
	if (r == NULL)
		return -1;
	ss->modseq = PQntuples(r) == 1 ? db_get_i64(r, 0, 0) : 0;
	PQclear(r);
	r = sq(ss, "SELECT mailbox_id, uid, id FROM messages WHERE account_id = $1", 1, p,
		error_r);
	if (r == NULL)
		return -1;
	n = PQntuples(r);
	for (i = 0; i < n; i++)
		keys_add(ss, db_get_i64(r, i, 0), db_get_i64(r, i, 1), db_get_i64(r, i, 2));
	PQclear(r);
	if (ss->nkeys > 0)
		qsort(ss->keys, ss->nkeys, sizeof(*ss->keys), msgkey_cmp);
	return 0;
}

/* The "changes" event data since ss->modseq, or NULL when nothing changed
 * (*error_r NULL) or on an error. */
static struct json_object *
stream_changes(struct stream_state *ss, const char **error_r)
{
	struct json_object *ev, *added, *removed, *flags, *mbs;
	const char *p[2];
	char since[24];
	int64_t newmodseq;
	PGresult *r;
	int i, n;
	bool sorted = true;

	*error_r = NULL;
	p[0] = ss->account;
	r = sq(ss, "SELECT modseq FROM accounts WHERE id = $1", 1, p, error_r);
	if (r == NULL)
		return NULL;
	newmodseq = PQntuples(r) == 1 ? db_get_i64(r, 0, 0) : 0;
	PQclear(r);
	if (newmodseq <= ss->modseq)
		return NULL;
	snprintf(since, sizeof(since), "%lld", (long long)ss->modseq);
	p[1] = since;
	/* Rows changed since: per mailbox on messages_mailbox_modseq. */
	r = sq(ss, "SELECT " WM_ITEM_COLUMNS ", m.createseq > $2 FROM messages m"
		" WHERE m.mailbox_id IN (SELECT id FROM mailboxes WHERE account_id = $1)"
		" AND m.modseq > $2 ORDER BY m.id LIMIT 5000", 2, p, error_r);
	if (r == NULL)
		return NULL;
	added = json_object_new_array();
	flags = json_object_new_array();
	n = PQntuples(r);
	for (i = 0; i < n; i++) {
		struct json_object *item = wm_item_json(r, i, 0);

		if (db_get_bool(r, i, WM_ITEM_NCOLUMNS)) {
			json_object_array_add(added, item);
			keys_add(ss, db_get_i64(r, i, 1), db_get_i64(r, i, 2), db_get_i64(r, i, 0));
			sorted = false;
		} else {
			struct json_object *f = json_object_new_object(), *fl;

			json_object_object_get_ex(item, "flags", &fl);
			json_object_object_add(f, "id", json_object_new_int64(db_get_i64(r, i, 0)));
			json_object_object_add(f, "flags", json_object_get(fl));
			json_object_array_add(flags, f);
			json_object_put(item);
		}
	}
	PQclear(r);
	if (!sorted)
		qsort(ss->keys, ss->nkeys, sizeof(*ss->keys), msgkey_cmp);
	removed = json_object_new_array();
	r = sq(ss, "SELECT e.mailbox_id, e.uid FROM expunged e WHERE e.mailbox_id IN"
		" (SELECT id FROM mailboxes WHERE account_id = $1) AND e.modseq > $2", 2, p,
		error_r);
	if (r != NULL) {
		n = PQntuples(r);
		for (i = 0; i < n; i++) {
			struct msgkey k = { db_get_i64(r, i, 0), db_get_i64(r, i, 1), 0 }, *f;

			f = ss->nkeys == 0 ? NULL :
				bsearch(&k, ss->keys, ss->nkeys, sizeof(k), msgkey_cmp);
			if (f != NULL && f->id != 0) {
				json_object_array_add(removed, json_object_new_int64(f->id));
				f->id = 0;
			}
		}
		PQclear(r);
	}
	mbs = r != NULL ? wm_mailboxes_json(web_env_store(ss->env), ss->account_id, error_r) : NULL;
	if (mbs == NULL) {
		json_object_put(added);
		json_object_put(flags);
		json_object_put(removed);
		return NULL;
	}
	ss->modseq = newmodseq;
	ev = json_object_new_object();
	json_object_object_add(ev, "mailboxes", mbs);
	json_object_object_add(ev, "added", added);
	json_object_object_add(ev, "removed", removed);
	json_object_object_add(ev, "flags", flags);
	return ev;
}

static struct json_object *
stream_start(struct stream_state *ss, const struct web_request *req, const char **error_r)
{
	struct json_object *o = json_object_new_object(), *a, *s, *mbs;
	const char *p[1] = { ss->account };
	PGresult *r;
	int i, n;

	json_object_object_add(o, "account", jstr(req->account_name));
	json_object_object_add(o, "loginAddress", jstr(req->login_address));
	r = sq(ss, "SELECT full_name FROM accounts WHERE id = $1", 1, p, error_r);
	if (r == NULL)
		goto fail;
	json_object_object_add(o, "fullName", jstr(PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : ""));
	PQclear(r);
	r = sq(ss, "SELECT a.localpart || '@' || d.name FROM addresses a JOIN domains d ON"
		" d.id = a.domain_id WHERE a.account_id = $1 ORDER BY 1", 1, p, error_r);
	if (r == NULL)
		goto fail;
	a = json_object_new_array();
	n = PQntuples(r);
	for (i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(PQgetvalue(r, i, 0)));
	PQclear(r);
	json_object_object_add(o, "addresses", a);
	mbs = wm_mailboxes_json(web_env_store(ss->env), ss->account_id, error_r);
	if (mbs == NULL)
		goto fail;
	json_object_object_add(o, "mailboxes", mbs);
	r = sq(ss, "SELECT signature, quoting, show_address_security, show_html,"
		" no_show_shortcuts, array_to_json(show_headers) FROM webmail_settings"
		" WHERE account_id = $1", 1, p, error_r);
	if (r == NULL)
		goto fail;
	s = json_object_new_object();
	n = PQntuples(r);
	json_object_object_add(s, "signature", jstr(n ? PQgetvalue(r, 0, 0) : ""));
	json_object_object_add(s, "quoting", jstr(n ? PQgetvalue(r, 0, 1) : "default"));
	json_object_object_add(s, "showAddressSecurity",
		json_object_new_boolean(n ? db_get_bool(r, 0, 2) : false));
	json_object_object_add(
	        s, "showHTML", json_object_new_boolean(n ? db_get_bool(r, 0, 3) : false));
	json_object_object_add(s, "noShowShortcuts",
		json_object_new_boolean(n ? db_get_bool(r, 0, 4) : false));
	a = n ? json_tokener_parse(PQgetvalue(r, 0, 5)) : NULL;
	json_object_object_add(s, "showHeaders", a != NULL ? a : json_object_new_array());
	PQclear(r);
	json_object_object_add(o, "settings", s);
	return o;
fail:
	json_object_put(o);
	return NULL;
}

/* Whether the session still exists. */
static int
session_alive(struct stream_state *ss)
{
	const char *p[1];
	int lens[1] = { 32 }, fmts[1] = { 1 };
	const char *error;
	struct db_pool *pool = web_env_pool(ss->env);
	PGconn *c = db_get(pool, &error);
	PGresult *r;
	int alive;

	if (c == NULL)
		return 1;	/* cannot tell: keep going */
	p[0] = (const char *)ss->session_hash;
	r = PQexecParams(c, "SELECT 1 FROM web_sessions WHERE token_hash = $1 AND expires > now()",
		1, NULL, p, lens, fmts, 0);
	alive = PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) > 0;
	PQclear(r);
	db_put(pool, c);
	return alive;
}

static int
send_json(struct web_response *resp, const char *event, struct json_object *o)
{
	int rc = web_resp_sse(resp, event,
		json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));

	json_object_put(o);
	return rc;
}

void
wm_route_events(struct web_request *req, struct web_response *resp)
{
	struct wm_stream me = { req->account_id, false, NULL }, **pp, *s;
	struct stream_state ss;
	struct json_object *o;
	const char *error = NULL;
	size_t max, per = 0;
	int64_t last_ping, last_session, last_client;

	if (!token_take(req, web_arg(req, "token"))) {
		web_resp_text(resp, 403, "missing, used or expired token");
		return;
	}
	max = web_env_conf(req->env)->web.threads / 2;
	/* Subscribed once per process, not under streams_mu: the listener
	 * thread takes that in store_notify. */
	pthread_mutex_lock(&subscribe_mu);
	if (!subscribed) {
		db_listener_subscribe(
		        web_env_listener(req->env), STORE_NOTIFY_CHANNEL, store_notify, NULL);
		subscribed = true;
	}
	pthread_mutex_unlock(&subscribe_mu);
	pthread_mutex_lock(&streams_mu);
	for (s = streams; s != NULL; s = s->next)
		if (s->account_id == req->account_id)
			per++;
	if (per >= WM_STREAMS_PER_ACCOUNT || nstreams >= max) {
		pthread_mutex_unlock(&streams_mu);
		web_resp_header(resp, "Retry-After", "60");
		web_resp_text(resp, per >= WM_STREAMS_PER_ACCOUNT ? 429 : 503,
			per >= WM_STREAMS_PER_ACCOUNT ? "too many event streams for this account" :
			"too many event streams");
		return;
	}
	me.next = streams;
	streams = &me;
	nstreams++;
	pthread_mutex_unlock(&streams_mu);

	memset(&ss, 0, sizeof(ss));
	ss.env = req->env;
	ss.account_id = req->account_id;
	snprintf(ss.account, sizeof(ss.account), "%lld", (long long)req->account_id);
	memcpy(ss.session_hash, req->session_hash, 32);
	if (stream_init(&ss, &error) < 0 || (o = stream_start(&ss, req, &error)) == NULL) {
		log_error(NULL, "app=webmail ev=events err=%s", lq(error != NULL ? error : "?"));
		web_resp_text(resp, 500, "server error");
		goto done;
	}
	resp->status = 200;
	web_resp_header(resp, "Content-Type", "text/event-stream");
	web_resp_header(resp, "Cache-Control", "no-store");
	/* X-Accel-Buffering: no comes from lib/web's FastCGI front-end, as
	 * for every streamed body. */
	if (web_resp_stream_begin(resp) < 0 || send_json(resp, "start", o) < 0)
		goto done;
	last_ping = last_session = last_client = ms_mono_ms();
	for (;;) {
		bool pending;
		int64_t now;

		pthread_mutex_lock(&streams_mu);
		if (!me.pending) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&streams_cond, &streams_mu, &ts);
		}
		pending = me.pending;
		me.pending = false;
		pthread_mutex_unlock(&streams_mu);
		now = ms_mono_ms();
		if (pending) {
			o = stream_changes(&ss, &error);
			if (o != NULL) {
				if (send_json(resp, "changes", o) < 0)
					break;
			} else if (error != NULL) {
				log_error(NULL, "app=webmail ev=events err=%s", lq(error));
				/* Try again on the next round. */
				pthread_mutex_lock(&streams_mu);
				me.pending = true;
				pthread_mutex_unlock(&streams_mu);
				sleep(1);
			}
		}
		if (now - last_ping >= WM_PING_S * 1000) {
			if (web_resp_sse(resp, "ping", "{}") < 0)
				break;
			last_ping = now;
		}
		if (now - last_session >= WM_SESSION_CHECK_S * 1000) {
			last_session = now;
			if (!session_alive(&ss))
				break;
		}
		if (now - last_client >= WM_CLIENT_CHECK_S * 1000) {
			/* A comment finds out whether the client is still there:
			 * nginx closes the FastCGI connection when it is not, and
			 * the write fails. */
			last_client = now;
			if (web_resp_write(resp, ":\n\n", 3) < 0 || web_resp_flush(resp) < 0)
				break;
		}
	}
done:
	pthread_mutex_lock(&streams_mu);
	for (pp = &streams; *pp != NULL; pp = &(*pp)->next)
		if (*pp == &me) {
			*pp = me.next;
			break;
		}
	nstreams--;
	pthread_mutex_unlock(&streams_mu);
	free(ss.keys);
}
