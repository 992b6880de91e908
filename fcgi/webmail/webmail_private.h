/* Internals of the webmail (mailstead-webmail, mounted at /webmail/): the
 * JSON API every file implements a part of, and the routes.
 *
 * The API follows DESIGN.md "Web": POST /webmail/api/<Method> with
 * {"params": [...]} and a session (cookie webmailsession, header
 * x-mailstead-csrf). Method names are the reference's (FEATURES.md section
 * 5, webmail); the values are ours, in camelCase, described here once so
 * the server files and www/webmail/webmail.js agree. Every method works
 * on the session's account only (req->account_id); an id of another
 * account's message or mailbox is "user:notFound". Mistakes of the caller
 * are "user:error" with a message for people.
 *
 * ---- shapes ----
 *
 * Mailbox: {id, name ("Inbox", "Lists/Go" with "/" separators), parentID
 *   (0 for top level), specialUse ("" or archive, drafts, junk, sent,
 *   trash), total, unread (messages without \Seen), unseen, size (bytes),
 *   keywords [string]}
 * Address: {name (display name, decoded, may be ""), address ("lp@domain")}
 * MessageItem: {id, mailboxID, uid, threadID, flags [string: "\\Seen",
 *   "\\Answered", "\\Flagged", "\\Draft", "$Forwarded", "$Junk",
 *   "$NotJunk", "$Phishing", "$MDNSent", and the keywords], size,
 *   received (unix seconds), date (unix seconds of the Date field, 0 when
 *   missing or bad), subject (decoded), from [Address], to [Address], cc
 *   [Address], bcc [Address], replyTo [Address], messageID (with <>),
 *   inReplyTo, preview (start of the text, one line), attachments (count
 *   of attached parts), isList (has List-Id), threadMuted,
 *   threadCollapsed}
 * Part (MIME tree): {path [int] (indexes from the root, [] is the root),
 *   contentType ("text/plain", lower case), charset, disposition
 *   ("inline", "attachment" or ""), filename (decoded, may be ""), size
 *   (decoded bytes, estimated), contentID (without <>), parts [Part]}
 * ParsedMessage: {item MessageItem, part Part, headers {lower-case name:
 *   [raw values]}, text (the first text/plain part decoded to UTF-8, "" if
 *   none), hasHTML (a text/html part exists), attachments [{path,
 *   filename, contentType, size}], listUnsubscribe (URL or "" ),
 *   viewMode ("text", "html" or "htmlexternal": the from-address setting
 *   when one is saved, else "text")}
 * Settings: {signature, quoting ("default", "bottom", "top"),
 *   showAddressSecurity, showHTML, noShowShortcuts, showHeaders [string]}
 * Query: {mailboxID (0: all mailboxes but Junk and Trash), search (words
 *   that must all occur in the subject, addresses or text, "" none),
 *   unread (bool: only unread), flagged (bool)}
 * Page: {anchorMessageID (0: from the newest), count (1..200)}
 *
 * ---- methods (file that implements them) ----
 *
 * webmail.c: LoginPrep, Login, Logout, Version (lib/web).
 *
 * webmail_view.c:
 *   Token() -> string: a single-use token (valid 60 s) that the page puts
 *     in the query of GET /webmail/events?token=... (EventSource cannot
 *     send the CSRF header).
 *   Request(query Query, page Page) -> {messages [MessageItem] newest
 *     first (by received, then id) starting after anchorMessageID,
 *     hasMore bool, total int (matches of the query)}
 *   MessageItem(messageID) -> MessageItem
 *   ParsedMessage(messageID) -> ParsedMessage
 *   SSETypes() -> [string]: the event names of /events with one line each.
 *   GET /events?token=T (SSE, X-Accel-Buffering: no): first event "start"
 *     {account, loginAddress, fullName, addresses [string], mailboxes
 *     [Mailbox], settings Settings}, then within a second of any change
 *     to the account's mail (LISTEN/NOTIFY on store's channel) an event
 *     "changes" {mailboxes [Mailbox] (all, current counts), added
 *     [MessageItem], removed [messageID], flags [{id, flags [string]}]}
 *     computed from the changes since the last event (modseq), and
 *     "ping" every 30 s. The page re-requests its view when needed.
 *
 * webmail_change.c:
 *   MessageMove(messageIDs [int], mailboxID) -> null
 *   MessageDelete(messageIDs [int]) -> null (removed for good)
 *   FlagsAdd(messageIDs [int], flags [string]) -> null
 *   FlagsClear(messageIDs [int], flags [string]) -> null
 *   MailboxesMarkRead(mailboxIDs [int]) -> null
 *   MailboxCreate(name) -> null
 *   MailboxDelete(mailboxID) -> null
 *   MailboxEmpty(mailboxID) -> null (removes all its messages)
 *   MailboxRename(mailboxID, newName) -> null
 *   MailboxSetSpecialUse(mailboxID, specialUse "" | archive | drafts |
 *     junk | sent | trash) -> null (the use moves from the mailbox that
 *     had it)
 *   ThreadCollapse(messageIDs [int], collapse bool) -> null (all
 *     messages of their threads)
 *   ThreadMute(messageIDs [int], mute bool) -> null (mute also collapses
 *     and marks the thread read; new messages of a muted thread arrive
 *     \Seen)
 *   SettingsSave(settings Settings) -> null
 *   RulesetSuggestMove(messageID, fromMailboxID, toMailboxID) ->
 *     {listID, msgFrom, rcptTo, toMailbox, ruleset object or null (the
 *     suggested ruleset as the account API's destination rulesets),
 *     alreadyExists bool} or null when no suggestion (webmail asks "always
 *     move these?" after a move, as the reference does). A move gives
 *     messages new ids (new rows, as IMAP MOVE), so the page asks with
 *     the id before calling MessageMove and shows the question after.
 *     alreadyExists true: the ruleset exists and the move went back into
 *     the address's mailbox, so the question is "remove this ruleset?"
 *   RulesetAdd(rcptTo, ruleset object) -> null
 *   RulesetRemove(rcptTo, ruleset object) -> null
 *   RulesetMessageNever(rcptTo, listID, msgFrom, toInbox bool) -> null
 *   RulesetMailboxNever(mailboxID, toMailbox bool) -> null
 *
 * webmail_submit.c:
 *   MessageSubmit(m {from Address-string "lp@domain" of the account, to
 *     [string], cc [string], bcc [string], replyTo string, subject,
 *     textBody, attachments [{filename, contentType, data (base64)}],
 *     forwardAttachments {messageID, paths [[int]]}, isForward bool,
 *     responseMessageID int (0: none; a reply sets \Answered, a forward
 *     $Forwarded on it), requireTLS (true, false or null), futureRelease
 *     (unix seconds or 0), draftMessageID (0: none; removed once sent)})
 *     -> null. Addresses may be "Name <lp@domain>".
 *   MessageCompose(m as MessageSubmit, draftMessageID) -> int (id of the
 *     saved draft in the Drafts mailbox, replacing draftMessageID)
 *   MessageFindMessageID(messageID string) -> int (0: not found)
 *   CompleteRecipient(search) -> {addresses [string], complete bool}
 *   RecipientSecurity(address) -> {startTLS, mtaSTS, dnssec, dane,
 *     requireTLS: each "unknown", "yes" or "no"}
 *   DecodeMIMEWords(text) -> string
 *   FromAddressSettingsSave({fromAddress, viewMode}) -> null
 *
 * webmail_msg.c (routes, WEB_ROUTE_AUTH, only the account's messages):
 *   GET /msg/<id>/raw, /msg/<id>/text, /msg/<id>/html,
 *   /msg/<id>/htmlexternal, /msg/<id>/view/<path "0.1">,
 *   /msg/<id>/download/<path>, /msg/<id>/attachments.zip
 */
#ifndef MS_FCGI_WEBMAIL_PRIVATE_H
#define MS_FCGI_WEBMAIL_PRIVATE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "web/web.h"

/* Run sql with n text parameters (web_call_query): the result (caller
 * PQclear()s) or NULL after the call's "server:error". */
static inline PGresult *
wm_query(struct web_call *call, const char *what, const char *sql, int n,
	const char *const *params)
{
	return web_call_query(call, what, sql, n, params);
}
/* The same for a statement whose result is not needed: 0 or -1. */
static inline int
wm_cmd(struct web_call *call, const char *what, const char *sql, int n,
	const char *const *params)
{
	return web_call_cmd(call, what, sql, n, params);
}

/* ---- webmail_view.c ---- */

/* ---- webmail_change.c ---- */

/* Methods (see above). */
web_api_fn wm_message_move, wm_message_delete, wm_flags_add, wm_flags_clear,
	wm_mailboxes_mark_read, wm_mailbox_create, wm_mailbox_delete, wm_mailbox_empty,
	wm_mailbox_rename, wm_mailbox_set_special_use, wm_thread_collapse, wm_thread_mute,
	wm_settings_save, wm_ruleset_suggest_move, wm_ruleset_add, wm_ruleset_remove,
	wm_ruleset_message_never, wm_ruleset_mailbox_never;
/* An IMAP keyword we accept (RFC 9051 atom, at most 128 bytes). */
bool wm_keyword_ok(const char *s);

/* ---- webmail_submit.c ---- */

int wm_message_submit(struct web_call *call);
int wm_message_compose(struct web_call *call);
int wm_message_find_message_id(struct web_call *call);
int wm_decode_mime_words(struct web_call *call);
int wm_from_address_settings_save(struct web_call *call);
int wm_complete_recipient(struct web_call *call);
int wm_recipient_security(struct web_call *call);

/* ---- webmail_msg.c ---- */

/* GET /msg/<id>/(raw|text|html|htmlexternal|view/<path>|download/<path>|
 * attachments.zip) of the session's account (404 for other messages). */
void webmail_route_msg(struct web_request *req, struct web_response *resp);

#endif
