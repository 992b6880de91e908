/* One IMAP connection: state (RFC 9051 section 3), the command table and
 * dispatcher, the selected mailbox's view (UIDs by sequence number) kept in
 * step with the store, and response writers shared by the command files
 * (imap_cmd_*.c, imap_fetch.c, imap_search.c). Internal to mailstead-imapd.
 *
 * Adding a command: write an imap_cmd_fn in a command file, declare it
 * below, add a row to the table in imap_session.c with its state and
 * expunge flags. The handler parses cmd->args, writes untagged responses
 * with the writers below and sets the tagged result with imap_reply(); the
 * dispatcher sends pending mailbox updates and then the tagged line. */
#ifndef IMAP_SESSION_H
#define IMAP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/ratelimit.h"
#include "auth/sasl.h"
#include "core/buf.h"
#include "core/conf.h"
#include "net/conn.h"
#include "net/tls.h"
#include "store/store.h"
#include "imap_notify.h"
#include "imap_parser.h"
#include "imap_seqset.h"

/* Process-wide state, read-only once net_serve runs. */
struct imapd {
	const struct conf *conf;
	struct store *store;
	struct imap_registry *registry;
	/* Failed logins per address range (ratelimit_new_auth_failures, the
	 * limits SMTP uses), the delay and NO [UNAVAILABLE] come with it. */
	struct ratelimit *auth_failures;
	/* store_server_secret("sasl-fake-salt") for struct sasl_params. */
	const unsigned char *sasl_secret;
	size_t sasl_secret_len;
};

/* One listening service: a listener's imap (STARTTLS) or imaps (implicit
 * TLS) port; the fd_ctx of its sockets in net_serve. */
struct imap_listener {
	struct imapd *d;
	const struct conf_listener_def *conf;
	/* The listener's certificates; NULL: no STARTTLS (then plain-text
	 * logins only with imap_require_starttls = no). */
	struct tls_ctx *tls;
	bool implicit_tls;	/* imaps: the handshake comes first (RFC 8314) */
};

enum imap_state {
	IMAP_NOTAUTH,
	IMAP_AUTH,
	IMAP_SELECTED,
	IMAP_LOGOUT,
};

/* Extensions turned on by ENABLE (RFC 5161). */
enum imap_enabled {
	IMAP_EN_REV2 = 1 << 0,	/* IMAP4rev2 behaviour (ESEARCH, no RECENT) */
	/* RFC 7162: MODSEQ in every flag FETCH; also turned on by the first
	 * command using a CONDSTORE feature (imap_condstore_enable). */
	IMAP_EN_CONDSTORE = 1 << 1,
	IMAP_EN_QRESYNC = 1 << 2,	/* VANISHED instead of EXPUNGE; implies CONDSTORE */
	/* RFC 9586: UIDs only; sequence numbers in commands are BAD
	 * [UIDREQUIRED], FETCH responses are UIDFETCH, expunges VANISHED. */
	IMAP_EN_UIDONLY = 1 << 4,
	/* RFC 6855: UTF-8 mailbox names and quoted strings (as IMAP4rev2
	 * has them), without the rest of IMAP4rev2. */
	IMAP_EN_UTF8 = 1 << 3,
};

/* A message's flags, keywords and modseq in the view (16 bytes). */
struct imap_msgstate {
	int64_t modseq;
	uint32_t flags;		/* SF_* */
	uint32_t kw;		/* 1 + index into kwsets; 0: no keywords */
};

/* A keyword list as stored ("a b"), split for FETCH and SEARCH. */
struct imap_kwset {
	char *joined;
	char **v;
	size_t n;
};

/* The selected mailbox as the client knows it. Sequence number n is
 * uids[n-1]. Expunges seen in the store while EXPUNGE responses are not
 * allowed (RFC 9051 7.5.1) stay in uids and are listed in pending_expunge
 * until the next command that may report them. */
struct imap_view {
	int64_t id;
	char *name;		/* store name ("Inbox", "Archive/2026") */
	uint32_t uidvalidity, uidnext;
	bool readonly;
	uint32_t *uids;
	size_t n, cap;
	int64_t modseq;		/* account modseq reported up to */
	uint32_t *pending_expunge;	/* ascending */
	size_t npending;
	char **keywords;	/* announced in FLAGS */
	size_t nkeywords;
	int64_t *own;		/* modseqs of our own changes already reported */
	size_t nown;
	/* What the session keeps of each message (imap_view_state.c):
	 * ms[i] belongs to uids[i]; NULL when not kept. Loaded with the
	 * UIDs at SELECT and kept current by imap_sync, so FETCH of flags
	 * and searches on flags answer without the database (after a
	 * sync). Dropped when the mailbox stops being synchronized
	 * (NOTIFY without it). */
	struct imap_msgstate *ms;
	struct imap_kwset *kwsets;	/* distinct keyword lists; ms[].kw - 1 */
	size_t nkwsets;
	uint32_t *kwhash;		/* open addressing: kwsets index + 1 */
	size_t kwhashcap;		/* power of 2, or 0 */
	/* RFC 5182 SEARCHRES: the result saved by SEARCH RETURN (SAVE), as
	 * UIDs ascending; "$" means those still in uids. Empty until a SAVE;
	 * a new SELECT/EXAMINE, CLOSE or UNSELECT starts a new view. */
	uint32_t *saved;
	size_t nsaved;
};

/* A message literal of APPEND or REPLACE, streamed to a temporary file as it
 * arrives (the parser's IMAP_ARG_STREAM with stream_id n is uploads[n-1]).
 * The files are removed when the command is done. */
struct imap_upload {
	char *path;		/* <datadir>/tmp/... */
	int fd;
	uint64_t size, written;
	bool failed;		/* a write failed (logged): the command fails */
};

struct imap_session {
	struct conn *c;
	struct imapd *d;
	const struct imap_listener *lst;
	struct imap_parser *parser;
	enum imap_state state;
	unsigned enabled;	/* enum imap_enabled */
	bool tls;
	int64_t account_id;
	char *username;
	char *account_name;
	/* After the TLS handshake: channel bindings for SCRAM-*-PLUS, and the
	 * client certificate's key (imap_auth_tls_established). */
	bool have_cb[SASL_CB_NTYPES];
	struct buf cb[SASL_CB_NTYPES];
	char *tls_fingerprint;		/* NULL: no client certificate */
	int64_t tls_account_id;		/* > 0: registered key, EXTERNAL offered */
	char *tls_login_address;
	struct imap_view *sel;
	struct imap_waiter waiter;
	bool changes_pending;	/* a change notification arrived */
	/* NOTIFY (imap_cmd_notify.c): NULL when not given; notify_pending:
	 * a change notification arrived since other mailboxes were looked at. */
	struct imap_notify *notify;
	bool notify_pending;
	struct imap_upload *uploads;	/* of the command being read */
	size_t nuploads;
	struct buf refusal;	/* our answer to a refused literal */
};

enum imap_status { IMAP_OK, IMAP_NO, IMAP_BAD };

/* Command flags in the table. */
enum {
	CMDF_NOTAUTH = 1 << 0,	/* only before authentication */
	CMDF_AUTH = 1 << 1,	/* needs authenticated or selected state */
	CMDF_SELECTED = 1 << 2,	/* needs a selected mailbox */
	CMDF_UID = 1 << 3,	/* has a UID form */
	CMDF_NO_EXPUNGE = 1 << 4,	/* no EXPUNGE responses (non-UID form) */
	CMDF_SYNC = 1 << 5,	/* always look for mailbox changes */
	CMDF_SEQNUMS = 1 << 6,	/* non-UID form takes sequence numbers (UIDONLY) */
};

struct imap_cmd {
	const char *tag;
	const char *name;	/* canonical upper case, without "UID " */
	bool uid;
	const struct imap_arg *args;
	size_t nargs;
	unsigned flags;
	enum imap_status status;
	struct buf reply;	/* text after the status, "[CODE] text" */
	bool replied;		/* the handler wrote the tagged line itself */
};

typedef void imap_cmd_fn(struct imap_session *s, struct imap_cmd *cmd);

/* Entry point for net_serve; ctx is the socket's struct imap_listener. */
void imap_session_run(struct conn *c, void *ctx);

/* ---- results and output ---- */

/* Set the tagged result ("[CODE] text" in fmt). The last call wins. */
void imap_reply(struct imap_cmd *cmd, enum imap_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Untagged response: "* " + formatted text + CRLF. */
void imap_untagged(struct imap_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Append an IMAP string (quoted when safe, else a literal) to out. */
void imap_buf_string(struct imap_session *s, struct buf *out, const char *str,
	size_t len);
/* An astring: bare when it is a non-empty atom (not NIL), else a string. */
void imap_buf_astring(struct imap_session *s, struct buf *out, const char *str);
/* Same, NIL when str is NULL. */
void imap_buf_nstring(struct imap_session *s, struct buf *out, const char *str);
/* Start an untagged FETCH: "* seq FETCH (" plus "UID uid " with uid_item,
 * or "* uid UIDFETCH (" in a UIDONLY session (RFC 9586). */
void imap_buf_fetch_open(struct imap_session *s, struct buf *b, size_t seq, uint32_t uid,
	bool uid_item);
/* Append "(\Seen kw1 ...)". */
void imap_buf_flags(struct buf *out, unsigned flags, char *const *kw, size_t nkw);
/* Append a mailbox name as the client sees it (INBOX, modified UTF-7). */
void imap_buf_mailbox(struct imap_session *s, struct buf *out, const char *name);
/* A client's mailbox argument to the store name ("inbox" -> "Inbox",
 * modified UTF-7 decoded unless UTF-8 is on, valid UTF-8 required).
 * Returns 0 or -1 with *error_r. */
int imap_mailbox_arg(struct imap_session *s, const struct imap_arg *a,
	struct buf *name_r, const char **error_r);
/* Does the session use UTF-8 in mailbox names and quoted strings
 * (IMAP4rev2 or UTF8=ACCEPT enabled)? */
bool imap_utf8(const struct imap_session *s);
/* Is store name name top or below it (RFC 5465 section 6 "subtree"; with
 * one_level only top and its children: RFC 7377 "subtree-one")? */
bool imap_mailbox_in_subtree(const char *name, const char *top, bool one_level);
/* "* BYE text", also after a read timeout (which marks the connection
 * failed for reading). */
void imap_bye(struct imap_session *s, const char *text);
/* Write to the connection. */
void imap_write(struct imap_session *s, const void *p, size_t n);

/* ---- input inside a command (AUTHENTICATE, IDLE) ---- */

enum imap_read {
	IMAP_READ_EVENT,	/* *ev has a parser event */
	IMAP_READ_EOF,
	IMAP_READ_TIMEOUT,
	IMAP_READ_STOP,		/* daemon shutting down */
	IMAP_READ_WAKE,		/* change notification (only with wake) */
};
/* Read until the parser has an event. With wake, a change notification
 * interrupts the wait between lines. */
enum imap_read imap_session_read(struct imap_session *s, bool wake,
	enum imap_parse_result *ev);
/* A new upload with an empty temporary file, appended to s->uploads (the
 * pointer is valid until the next call). Returns NULL with *error_r. */
struct imap_upload *imap_upload_new(struct imap_session *s, const char **error_r);

/* ---- the selected mailbox ---- */

/* Report changes made by others since the last report: EXISTS, FETCH FLAGS,
 * FLAGS for new keywords, and EXPUNGE when allowed. With force the store is
 * asked even without a notification. Returns 0, or -1 (logged). */
int imap_sync(struct imap_session *s, bool allow_expunge, bool force);
/* Leave the selected state (no EXPUNGE responses). */
void imap_view_close(struct imap_session *s);

/* imap_bodystructure.c: FETCH ENVELOPE (e may be NULL: all NIL) and
 * BODY/BODYSTRUCTURE (ext: with the extension data) of part p. */
struct mime_envelope;
struct mime_part;
void imap_buf_envelope(struct imap_session *s, struct buf *out, const struct mime_envelope *e);
void imap_buf_body(struct imap_session *s, struct buf *out, const struct mime_part *p, bool ext,
	unsigned depth);

/* imap_view_state.c: the per-message state of the view. */
/* Load the view's UIDs and their state (SELECT). Returns 0 or -1. */
int imap_view_load(struct imap_session *s, struct imap_view *v, const char **error_r);
/* Room for one more UID (and its state). */
void imap_view_grow(struct imap_view *v);
/* Set the state of uids[pos]. */
void imap_view_state_set(struct imap_view *v, size_t pos, unsigned flags, int64_t modseq,
	char *const *kw, size_t nkw);
/* Forget the state (it will not be kept current any more). */
void imap_view_state_drop(struct imap_view *v);
/* The state of uids[pos] in m (uid, flags, modseq, keywords borrowed from
 * the view: valid until the next sync). */
void imap_view_state_get(const struct imap_view *v, size_t pos, struct store_msg *m);
/* Bring the state up to date for an answer from it: a sync (which also
 * reports the changes, as any sync). False when the view keeps no state
 * (then the database answers). */
bool imap_view_state_fresh(struct imap_session *s, bool allow_expunge);
/* Remember a modseq of our own change, so imap_sync does not repeat it. */
void imap_view_own(struct imap_session *s, int64_t modseq);
/* Is uid expunged in the store but not yet reported? */
bool imap_view_pending(const struct imap_view *v, uint32_t uid);
/* Note keywords possibly new to the mailbox; sends FLAGS when there are. */
void imap_view_keywords(struct imap_session *s, char *const *kw, size_t n);
/* Resolve a sequence-set argument to view indexes (cmd->uid: UIDs), or
 * "$", the saved search result (RFC 5182). On failure sets a BAD reply and
 * returns -1. */
int imap_view_indexes(struct imap_session *s, struct imap_cmd *cmd,
	const struct imap_arg *a, uint32_t **idx_r, size_t *n_r);
/* "FLAGS (...)" and "OK [PERMANENTFLAGS (...)]" for the view. */
void imap_view_send_flags(struct imap_session *s);
/* Messages expunged by this session: reported at the next point where
 * EXPUNGE responses are allowed. */
void imap_view_expunged(struct imap_session *s, const uint32_t *uids, size_t n);

/* ---- CONDSTORE and QRESYNC (RFC 7162) ---- */

/* A CONDSTORE enabling command (RFC 7162 3.1): turn CONDSTORE on; when that
 * happens with a mailbox selected, send "OK [HIGHESTMODSEQ n]" so the
 * client has the value the later MODSEQs build on. */
void imap_condstore_enable(struct imap_session *s);
/* The selected mailbox's HIGHESTMODSEQ now; 0 on error (logged). */
int64_t imap_view_highestmodseq(struct imap_session *s);
/* RFC 7162 3.2.5.2 / 3.2.6: send "* VANISHED (EARLIER) uid-set" for the UIDs
 * in known (NULL: all UIDs) expunged after since and not in the view. When
 * tombstones that old were cleaned, every UID of known below UIDNEXT that is
 * not in the view is reported instead. Returns 0, or -1 (logged). */
int imap_vanished_earlier(struct imap_session *s, const struct imap_seqset *known,
	int64_t since);

/* ---- flags and dates ---- */

/* Parse flags (RFC 9051 section 9: flag = "\Answered" / "\Flagged" /
 * "\Deleted" / "\Seen" / "\Draft" / flag-keyword / flag-extension) into
 * store bits and keywords (lower-cased, malloc'd; free with
 * imap_keywords_free). Returns 0 or -1 with *error_r. */
int imap_parse_flags(const struct imap_arg *v, size_t n, unsigned *flags_r,
	char ***kw_r, size_t *nkw_r, const char **error_r);
void imap_keywords_free(char **kw, size_t n);
/* Append "dd-Mon-yyyy hh:mm:ss +zzzz" (date-time, without quotes) in local
 * time. */
void imap_buf_datetime(struct buf *out, int64_t t);
/* Parse date-time "dd-Mon-yyyy hh:mm:ss +zzzz" (day may be space-padded
 * or one digit). Returns 0 and unix seconds, or -1. */
int imap_parse_datetime(const char *s, int64_t *t_r);
/* Parse date-text "d-Mon-yyyy" into year, month (1-12), day. */
int imap_parse_date(const char *s, int *y_r, int *m_r, int *d_r);

/* Log prefix helpers */
const char *imap_cid(const struct imap_session *s);

/* ---- command handlers ---- */

/* imap_cmd_auth.c: any state and not-authenticated state */
imap_cmd_fn imap_cmd_capability, imap_cmd_noop, imap_cmd_logout, imap_cmd_id,
	imap_cmd_login, imap_cmd_authenticate, imap_cmd_enable, imap_cmd_starttls;
/* The CAPABILITY list for the session's current state. */
void imap_capabilities(struct imap_session *s, struct buf *out);
/* After a TLS handshake (implicit or STARTTLS): note the channel bindings
 * and look up the client certificate's key. Returns true when the key
 * logged the session in (only with allow_preauth, for the greeting of
 * implicit TLS: state authenticated, greet with PREAUTH). */
bool imap_auth_tls_established(struct imap_session *s, bool allow_preauth);
/* Has this address failed to log in too often (the shared limiter)? */
bool imap_auth_ratelimited(struct imap_session *s);
/* Free what the session's authentication holds. */
void imap_auth_free(struct imap_session *s);

/* imap_cmd_mailbox.c: authenticated and selected state */
imap_cmd_fn imap_cmd_select, imap_cmd_list, imap_cmd_lsub, imap_cmd_namespace,
	imap_cmd_status, imap_cmd_check, imap_cmd_close, imap_cmd_unselect,
	imap_cmd_expunge, imap_cmd_idle;
/* The STATUS response text for mb (imap_cmd_mailbox.c; also LIST-STATUS).
 * Returns 0, or -1 for an unknown item. */
int imap_status_response(struct imap_session *s, const struct store_mailbox *mb,
	const struct imap_arg *atts, size_t n, struct buf *b);
/* imap_cmd_list.c: LIST, LSUB (declared with the mailbox commands above) */
/* imap_cmd_manage.c: CREATE, DELETE, RENAME, SUBSCRIBE/UNSUBSCRIBE */
imap_cmd_fn imap_cmd_create, imap_cmd_delete, imap_cmd_rename, imap_cmd_subscribe;

/* imap_fetch.c: FETCH; imap_cmd_store.c: STORE */
imap_cmd_fn imap_cmd_fetch, imap_cmd_store;

/* imap_search.c: SEARCH and UID SEARCH; imap_cmd_esearch.c: ESEARCH
 * (RFC 7377 MULTISEARCH) */
imap_cmd_fn imap_cmd_search, imap_cmd_esearch;
/* Parse args[0..n) as search-key *(SP search-key) (no CHARSET or RETURN)
 * and evaluate it over the selected mailbox, as SEARCH does. Returns 0
 * with the matches as ascending view indexes in *idx_r (malloc'd; free
 * it) and, when the program has a MODSEQ key (RFC 7162 3.1.5; CONDSTORE
 * is then enabled), their highest modseq in *maxmod_r, else 0. Returns -1
 * with cmd's reply set: BAD for a malformed program, NO when the store
 * failed. */
int imap_search_program(struct imap_session *s, struct imap_cmd *cmd,
	const struct imap_arg *args, size_t n, uint32_t **idx_r, size_t *n_r,
	int64_t *maxmod_r);

/* imap_cmd_sort.c: SORT and THREAD (RFC 5256, RFC 5957) with UID forms */
imap_cmd_fn imap_cmd_sort, imap_cmd_thread;

/* imap_cmd_copy.c: COPY and MOVE (by cmd->name), with UID forms */
imap_cmd_fn imap_cmd_copy;

/* imap_cmd_meta.c: QUOTA (RFC 9208) and METADATA (RFC 5464) */
imap_cmd_fn imap_cmd_getquotaroot, imap_cmd_getquota, imap_cmd_setquota,
	imap_cmd_getmetadata, imap_cmd_setmetadata;
/* A METADATA entry name argument (RFC 5464 section 3.2), checked and put in
 * lower case into out. Returns 0, or -1 with *error_r (answer BAD). */
int imap_metadata_entry(const struct imap_arg *a, struct buf *out, const char **error_r);
/* Append an annotation's value the way the client set it: a string, or a
 * literal (literal8 when it contains NUL). */
void imap_buf_metadata_value(struct imap_session *s, struct buf *out,
	const struct store_metadata *m);
/* imap_cmd_list.c: "\Junk" for "junk" (RFC 6154), NULL when unknown. */
const char *imap_special_use_attr(const char *special_use);

/* imap_fetch.c, for NOTIFY's MessageNew: check fetch attributes (as in
 * FETCH; MODSEQ turns CONDSTORE on), and send FETCH responses (with UID)
 * for view indexes [first, last) with them (NULL: FLAGS). */
int imap_fetch_atts_check(struct imap_session *s, const struct imap_arg *atts, size_t n,
	const char **error_r);
void imap_fetch_new_messages(struct imap_session *s, const struct imap_arg *atts, size_t n,
	size_t first, size_t last);

/* imap_cmd_notify.c: NOTIFY (RFC 5465) */
imap_cmd_fn imap_cmd_notify;
/* How the selected mailbox's changes are reported. */
enum imap_notify_sel {
	IMAP_NOTIFY_SEL_CLASSIC,	/* no NOTIFY: as RFC 9051 says */
	IMAP_NOTIFY_SEL_OFF,		/* NOTIFY without a SELECTED group: not at all */
	IMAP_NOTIFY_SEL_NOW,		/* SELECTED: also between commands */
	IMAP_NOTIFY_SEL_DELAYED,	/* SELECTED-DELAYED: expunges wait for a command */
};
/* *flag_changes_r: whether flag changes are reported. */
enum imap_notify_sel imap_notify_selected(const struct imap_session *s,
	bool *flag_changes_r);
/* After imap_sync added view indexes [first, last): the FETCH responses
 * MessageNew asks for. */
void imap_notify_new_messages(struct imap_session *s, size_t first, size_t last);
/* Report what NOTIFY asks for (between commands or in IDLE). */
void imap_notify_poll(struct imap_session *s, bool in_idle);
void imap_notify_free(struct imap_notify **n);
/* imap_cmd_append.c: APPEND (RFC 3502 MULTIAPPEND, RFC 3516 literal8, RFC
 * 6855 UTF8 data) and REPLACE/UID REPLACE (RFC 8508) */
imap_cmd_fn imap_cmd_append, imap_cmd_replace;
/* The largest message APPEND and REPLACE take: [imap] max_literal_size or
 * [smtp] max_message_size, the smaller (RFC 7889 APPENDLIMIT). */
uint64_t imap_appendlimit(const struct imap_session *s);
/* At a literal announcement (imap_session.c): is it the message data of an
 * APPEND or REPLACE (pc: the command so far, depth: the literal's list
 * nesting)? */
bool imap_append_message_literal(const struct imap_session *s,
	const struct imap_command *pc, unsigned depth);
/* Before taking such a message literal: what can be decided now (size,
 * empty message, and for a synchronizing one, which the client sends only
 * after our continuation request, the mailbox and state). Returns 0, or -1
 * with the answer after the tag in reply ("NO [TOOBIG] ..."). */
int imap_append_check_literal(struct imap_session *s, const struct imap_command *pc,
	uint64_t size, bool sync, struct buf *reply);
/* imap_cmd_compress.c: COMPRESS DEFLATE (RFC 4978) */
imap_cmd_fn imap_cmd_compress;

#endif
