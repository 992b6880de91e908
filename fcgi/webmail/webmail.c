/* The webmail: its page, the method table and the routes. The methods are
 * in the files named in webmail_private.h, which also describes the JSON
 * values they take and give. */
#include "config.h"

#include "core/util.h"
#include "webmail/webmail.h"
#include "webmail/webmail_private.h"

static const struct web_route routes[] = {
	{ "GET", "/", 0, web_route_page },
	/* ---- routes of webmail_view.c ---- */
	/* ---- routes of webmail_msg.c ---- */
	{ "GET", "/msg/", WEB_ROUTE_PREFIX | WEB_ROUTE_AUTH | WEB_ROUTE_STREAM, webmail_route_msg },
};

/* M("Name", fn, { "param", WJ_TYPE }, ...) and M0("Name", fn) for methods
 * without parameters. */
#define P(...) ((const struct web_param[]){ __VA_ARGS__ })
#define M(name, fn, ...) { name, P(__VA_ARGS__), \
	sizeof(P(__VA_ARGS__)) / sizeof(struct web_param), 0, fn }
#define M0(name, fn) { name, NULL, 0, 0, fn }

static const struct web_api_method methods[] = {
	{ "LoginPrep", NULL, 0, WEB_API_NOAUTH, web_api_loginprep },
	{ "Login", web_login_params, 3, WEB_API_NOAUTH, web_api_login },
	{ "Logout", NULL, 0, 0, web_api_logout },
	{ "Version", NULL, 0, WEB_API_NOAUTH, web_api_version },
	/* ---- methods of webmail_view.c ---- */
	/* ---- methods of webmail_change.c ---- */
	M("MessageMove", wm_message_move, { "messageIDs", WJ_INT_ARRAY }, { "mailboxID", WJ_INT }),
	M("MessageDelete", wm_message_delete, { "messageIDs", WJ_INT_ARRAY }),
	M("FlagsAdd", wm_flags_add, { "messageIDs", WJ_INT_ARRAY }, { "flags", WJ_STRING_ARRAY }),
	M("FlagsClear", wm_flags_clear, { "messageIDs", WJ_INT_ARRAY }, { "flags", WJ_STRING_ARRAY }),
	M("MailboxesMarkRead", wm_mailboxes_mark_read, { "mailboxIDs", WJ_INT_ARRAY }),
	M("MailboxCreate", wm_mailbox_create, { "name", WJ_STRING }),
	M("MailboxDelete", wm_mailbox_delete, { "mailboxID", WJ_INT }),
	M("MailboxEmpty", wm_mailbox_empty, { "mailboxID", WJ_INT }),
	M("MailboxRename", wm_mailbox_rename, { "mailboxID", WJ_INT }, { "newName", WJ_STRING }),
	M("MailboxSetSpecialUse", wm_mailbox_set_special_use, { "mailboxID", WJ_INT },
		{ "specialUse", WJ_STRING }),
	M("ThreadCollapse", wm_thread_collapse, { "messageIDs", WJ_INT_ARRAY },
		{ "collapse", WJ_BOOL }),
	M("ThreadMute", wm_thread_mute, { "messageIDs", WJ_INT_ARRAY }, { "mute", WJ_BOOL }),
	M("SettingsSave", wm_settings_save, { "settings", WJ_OBJECT }),
	M("RulesetSuggestMove", wm_ruleset_suggest_move, { "messageID", WJ_INT },
		{ "fromMailboxID", WJ_INT }, { "toMailboxID", WJ_INT }),
	M("RulesetAdd", wm_ruleset_add, { "rcptTo", WJ_STRING }, { "ruleset", WJ_OBJECT }),
	M("RulesetRemove", wm_ruleset_remove, { "rcptTo", WJ_STRING }, { "ruleset", WJ_OBJECT }),
	M("RulesetMessageNever", wm_ruleset_message_never, { "rcptTo", WJ_STRING },
		{ "listID", WJ_STRING }, { "msgFrom", WJ_STRING }, { "toInbox", WJ_BOOL }),
	M("RulesetMailboxNever", wm_ruleset_mailbox_never, { "mailboxID", WJ_INT },
		{ "toMailbox", WJ_BOOL }),
	/* ---- methods of webmail_submit.c ---- */
	M("MessageSubmit", wm_message_submit, { "m", WJ_OBJECT }),
	M("MessageCompose", wm_message_compose, { "m", WJ_OBJECT }, { "draftMessageID", WJ_INT }),
	M("MessageFindMessageID", wm_message_find_message_id, { "messageID", WJ_STRING }),
	M("DecodeMIMEWords", wm_decode_mime_words, { "text", WJ_STRING }),
	M("FromAddressSettingsSave", wm_from_address_settings_save, { "settings", WJ_OBJECT }),
	M("CompleteRecipient", wm_complete_recipient, { "search", WJ_STRING }),
	M("RecipientSecurity", wm_recipient_security, { "address", WJ_STRING }),
};

const struct web_app webmail_app = {
	.name = "webmail",
	.kind = "webmail",
	.prefix = "/webmail/",
	.hosts = WEB_HOSTS_USER,
	.session = WEB_SESSION_ACCOUNT,
	.routes = routes,
	.nroutes = MS_NELEM(routes),
	.methods = methods,
	.nmethods = MS_NELEM(methods),
	.login = web_account_login,
};
