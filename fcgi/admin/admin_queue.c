/* Admin API: the outgoing queue (list by page, hold/release, schedule,
 * fail, drop, REQUIRETLS, transport), hold rules, retired messages, the
 * webhook queue, transports and log levels (the reference's webadmin
 * Queue*, Retired*, Hook* methods). The same lib/queue functions as
 * "mailstead queue". */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "admin/admin_private.h"
#include "core/buf.h"
#include "core/conf.h"
#include "core/log.h"
#include "core/util.h"
#include "db/loglevel.h"
#include "queue/queue.h"
#include "queue/webhook.h"

static struct json_object *
msg_json(const struct queue_msg *m)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_int64(m->id));
	json_object_object_add(o, "baseID", json_object_new_int64(m->base_id));
	json_object_object_add(o, "queued", json_object_new_int64(m->queued));
	json_object_object_add(o, "hold", json_object_new_boolean(m->hold));
	json_object_object_add(o, "account", admin_str(m->account));
	json_object_object_add(o, "sender", admin_str(m->sender));
	json_object_object_add(o, "recipient", admin_str(m->recipient));
	json_object_object_add(o, "attempts", json_object_new_int(m->attempts));
	json_object_object_add(o, "maxAttempts", json_object_new_int(m->max_attempts));
	json_object_object_add(o, "nextAttempt", json_object_new_int64(m->next_attempt));
	json_object_object_add(o, "lastAttempt", json_object_new_int64(m->last_attempt));
	json_object_object_add(o, "lastError", admin_str(m->last_error));
	json_object_object_add(o, "size", json_object_new_int64(m->size));
	json_object_object_add(o, "messageID", admin_str(m->message_id));
	json_object_object_add(o, "subject", admin_str(m->subject));
	json_object_object_add(o, "transport", admin_str(m->transport));
	json_object_object_add(o, "requireTLS", m->require_tls < 0 ? NULL :
		json_object_new_boolean(m->require_tls == 1));
	return o;
}

/* QueueList(filter, offset, limit) -> {total, messages}. filter: object
 * with optional "account" (name or address), "hold" (boolean) and
 * "transport" (string). */
int
admin_api_queue_list(struct web_call *call)
{
	struct json_object *f = call->params[0], *o, *arr;
	struct queue_filter qf;
	struct queue_msg *msgs = NULL;
	int64_t offset = web_call_int(call, 1), limit = web_call_int(call, 2), total;
	const char *err;
	size_t n = 0, i;

	memset(&qf, 0, sizeof(qf));
	qf.hold = -1;
	if (offset < 0 || limit < 1 || limit > 1000)
		return web_call_error(call, "user:error",
			"parameter 2 (offset) must be >= 0 and parameter 3 (limit) 1 to 1000");
	json_object_object_foreach(f, key, val) {
		if (strcmp(key, "account") == 0 && json_object_is_type(val, json_type_string)) {
			int found = store_account_find(admin_store(call), json_object_get_string(val),
				&qf.account_id, &err);

			if (found < 0)
				return web_call_server_error(call, "finding account", err);
			if (!found)
				return web_call_error(call, "user:notFound", "no account %s",
					json_object_get_string(val));
		} else if (strcmp(key, "hold") == 0 && json_object_is_type(val, json_type_boolean)) {
			qf.hold = json_object_get_boolean(val) ? 1 : 0;
		} else if (strcmp(key, "transport") == 0 &&
			   json_object_is_type(val, json_type_string)) {
			qf.transport = json_object_get_string(val);
		} else {
			return web_call_error(call, "user:badParams", "parameter 1 (filter): unknown or "
				"mistyped field \"%s\" (account: string, hold: boolean, transport: "
				"string)", key);
		}
	}
	if (queue_list_page(admin_store(call), &qf, (size_t)offset, (size_t)limit, &msgs, &n,
		    &total, &err) < 0)
		return web_call_server_error(call, "listing queue", err);
	o = json_object_new_object();
	arr = json_object_new_array();
	for (i = 0; i < n; i++)
		json_object_array_add(arr, msg_json(&msgs[i]));
	queue_msgs_free(msgs, n);
	json_object_object_add(o, "total", json_object_new_int64(total));
	json_object_object_add(o, "messages", arr);
	call->result = o;
	return 0;
}

/* The number changed, as the result. */
static int
changed_result(struct web_call *call, const char *what, size_t n)
{
	admin_log(call, what, db_i64((int64_t)n));
	call->result = json_object_new_int64((int64_t)n);
	return 0;
}

/* QueueHoldSet(ids, hold) -> number changed */
int
admin_api_queue_hold_set(struct web_call *call)
{
	const char *err;
	int64_t *ids;
	size_t n, changed = 0;
	int rc;

	if (admin_param_ids(call, 0, &ids, &n) < 0)
		return -1;
	rc = queue_hold_set(admin_store(call), ids, n, web_call_bool(call, 1), &changed, &err);
	free(ids);
	if (rc < 0)
		return admin_fail(call, "queue hold", err);
	return changed_result(call, "queue-hold", changed);
}

static int
update_field(struct web_call *call, enum queue_field f, const char *value, const char *what)
{
	const char *err;
	int64_t *ids;
	size_t n, changed = 0;
	int rc;

	if (admin_param_ids(call, 0, &ids, &n) < 0)
		return -1;
	rc = queue_update_field(admin_store(call), ids, n, f, value, &changed, &err);
	free(ids);
	if (rc < 0)
		return admin_fail(call, what, err);
	return changed_result(call, what, changed);
}

/* QueueNextAttemptSet(ids, minutes): next attempt "minutes" from now (0:
 * now). */
int
admin_api_queue_next_attempt_set(struct web_call *call)
{
	int64_t min = web_call_int(call, 1);

	if (min < 0 || min > 366 * 24 * 60)
		return web_call_error(call, "user:error",
			"parameter 2 (minutes) must be 0 to %d", 366 * 24 * 60);
	return update_field(call, QUEUE_FIELD_NEXT_ATTEMPT, db_i64(ms_now() + min * 60),
		"queue-schedule");
}

/* QueueNextAttemptAdd(ids, minutes): move the next attempt (may be
 * negative). */
int
admin_api_queue_next_attempt_add(struct web_call *call)
{
	int64_t min = web_call_int(call, 1);

	if (min < -366 * 24 * 60 || min > 366 * 24 * 60)
		return web_call_error(call, "user:error",
			"parameter 2 (minutes) must be within a year either way");
	return update_field(call, QUEUE_FIELD_NEXT_ATTEMPT_ADD, db_i64(min * 60), "queue-schedule");
}

/* QueueFail(ids): mailstead-queued fails them at once with a DSN. */
int
admin_api_queue_fail(struct web_call *call)
{
	return update_field(call, QUEUE_FIELD_FAIL, NULL, "queue-fail");
}

int
admin_api_queue_drop(struct web_call *call)
{
	const char *err;
	int64_t *ids;
	size_t n, dropped = 0;
	int rc;

	if (admin_param_ids(call, 0, &ids, &n) < 0)
		return -1;
	rc = queue_drop(admin_store(call), ids, n, &dropped, &err);
	free(ids);
	if (rc < 0)
		return admin_fail(call, "queue drop", err);
	return changed_result(call, "queue-drop", dropped);
}

/* QueueRequireTLSSet(ids, value): "yes" (REQUIRETLS), "no" ("TLS-Required:
 * No") or "default" (the recipient domain's policy). */
int
admin_api_queue_requiretls_set(struct web_call *call)
{
	const char *v = web_call_str(call, 1);

	if (strcmp(v, "yes") == 0)
		return update_field(call, QUEUE_FIELD_REQUIRE_TLS, "true", "queue-requiretls");
	if (strcmp(v, "no") == 0)
		return update_field(call, QUEUE_FIELD_REQUIRE_TLS, "false", "queue-requiretls");
	if (strcmp(v, "default") == 0)
		return update_field(call, QUEUE_FIELD_REQUIRE_TLS, NULL, "queue-requiretls");
	return web_call_error(call, "user:error",
		"parameter 2 (requireTLS) must be yes, no or default, not %s", v);
}

/* QueueTransportSet(ids, transport): a [transport NAME] of the
 * configuration, "direct", or "" for the routes. */
int
admin_api_queue_transport_set(struct web_call *call)
{
	const char *t = web_call_str(call, 1);

	if (t[0] != '\0' && strcmp(t, "direct") != 0 &&
	    conf_transport_find(web_env_conf(call->req->env), t) == NULL)
		return web_call_error(call, "user:error",
			"parameter 2 (transport): no [transport %s] in the configuration", t);
	return update_field(call, QUEUE_FIELD_TRANSPORT, t, "queue-transport");
}

int
admin_api_queue_hold_rule_list(struct web_call *call)
{
	struct queue_hold_rule *v = NULL;
	struct json_object *arr;
	const char *err;
	size_t n = 0, i;

	if (queue_holdrule_list(admin_store(call), &v, &n, &err) < 0)
		return web_call_server_error(call, "listing hold rules", err);
	arr = json_object_new_array();
	for (i = 0; i < n; i++) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "id", json_object_new_int64(v[i].id));
		json_object_object_add(o, "account", admin_str(v[i].account));
		json_object_object_add(o, "senderDomain", admin_str(v[i].sender_domain));
		json_object_object_add(o, "recipientDomain", admin_str(v[i].recipient_domain));
		json_object_array_add(arr, o);
	}
	queue_hold_rules_free(v, n);
	call->result = arr;
	return 0;
}

/* Parameter i as a domain for a hold rule ("" any). */
static int
rule_domain(struct web_call *call, size_t i, char **dom_r)
{
	*dom_r = NULL;
	if (web_call_str(call, i)[0] == '\0')
		return 0;
	return admin_param_domain(call, i, dom_r);
}

/* QueueHoldRuleAdd(account, senderDomain, recipientDomain) -> {id, held};
 * "" for any. Queued messages matching it are held too. */
int
admin_api_queue_hold_rule_add(struct web_call *call)
{
	char *sd = NULL, *rd = NULL;
	const char *err;
	int64_t acct = 0, id = 0;
	size_t held = 0;
	int rc = -1;

	if ((web_call_str(call, 0)[0] != '\0' && admin_param_account(call, 0, &acct) < 0) ||
	    rule_domain(call, 1, &sd) < 0 || rule_domain(call, 2, &rd) < 0)
		goto out;
	if (queue_holdrule_add(admin_store(call), acct, sd ? sd : "", rd ? rd : "", &id, &held,
		    &err) < 0) {
		rc = admin_fail(call, "adding hold rule", err);
		goto out;
	}
	call->result = json_object_new_object();
	json_object_object_add(call->result, "id", json_object_new_int64(id));
	json_object_object_add(call->result, "held", json_object_new_int64((int64_t)held));
	admin_log(call, "holdrule-added", db_i64(id));
	rc = 0;
out:
	free(sd);
	free(rd);
	return rc;
}

int
admin_api_queue_hold_rule_remove(struct web_call *call)
{
	const char *err;
	int rc = queue_holdrule_remove(admin_store(call), web_call_int(call, 0), &err);

	if (rc < 0)
		return admin_fail(call, "removing hold rule", err);
	if (rc == 0)
		return web_call_error(call, "user:notFound", "no hold rule %lld",
			(long long)web_call_int(call, 0));
	admin_log(call, "holdrule-removed", db_i64(web_call_int(call, 0)));
	call->result = NULL;
	return 0;
}

/* Parameter i as an account filter ("" all), and parameter i+1 as a
 * limit (1..10000). */
static int
account_limit(struct web_call *call, size_t i, int64_t *acct_r, size_t *limit_r)
{
	int64_t lim = web_call_int(call, i + 1);

	*acct_r = 0;
	if (lim < 1 || lim > 10000)
		return web_call_error(call, "user:error", "parameter %zu (limit) must be 1 to 10000",
			i + 2);
	*limit_r = (size_t)lim;
	if (web_call_str(call, i)[0] == '\0')
		return 0;
	return admin_param_account(call, i, acct_r);
}

/* RetiredList(account, limit) -> delivery history, newest first. */
int
admin_api_retired_list(struct web_call *call)
{
	struct queue_retired *v = NULL;
	struct json_object *arr;
	const char *err;
	int64_t acct;
	size_t lim, n = 0, i;

	if (account_limit(call, 0, &acct, &lim) < 0)
		return -1;
	if (queue_retired_list(admin_store(call), acct, 0, lim, &v, &n, &err) < 0)
		return web_call_server_error(call, "listing retired messages", err);
	arr = json_object_new_array();
	for (i = 0; i < n; i++) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "id", json_object_new_int64(v[i].id));
		json_object_object_add(o, "baseID", json_object_new_int64(v[i].base_id));
		json_object_object_add(o, "queued", json_object_new_int64(v[i].queued));
		json_object_object_add(o, "account", admin_str(v[i].account));
		json_object_object_add(o, "sender", admin_str(v[i].sender));
		json_object_object_add(o, "recipient", admin_str(v[i].recipient));
		json_object_object_add(o, "attempts", json_object_new_int(v[i].attempts));
		json_object_object_add(o, "lastActivity", json_object_new_int64(v[i].last_activity));
		json_object_object_add(o, "keepUntil", json_object_new_int64(v[i].keep_until));
		json_object_object_add(o, "success", json_object_new_boolean(v[i].success));
		json_object_object_add(o, "messageID", admin_str(v[i].message_id));
		json_object_object_add(o, "subject", admin_str(v[i].subject));
		json_object_object_add(o, "transport", admin_str(v[i].transport));
		json_object_object_add(o, "lastError", admin_str(v[i].last_error));
		json_object_array_add(arr, o);
	}
	queue_retired_free(v, n);
	call->result = arr;
	return 0;
}

static int
hooks(struct web_call *call, bool retired)
{
	struct webhook_call *v = NULL;
	struct json_object *arr;
	const char *err;
	int64_t acct;
	size_t lim, n = 0, i;

	if (account_limit(call, 0, &acct, &lim) < 0)
		return -1;
	if (webhook_list(admin_store(call), retired, acct, lim, &v, &n, &err) < 0)
		return web_call_server_error(call, "listing webhooks", err);
	arr = json_object_new_array();
	for (i = 0; i < n; i++) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "id", json_object_new_int64(v[i].id));
		json_object_object_add(o, "queueMsgID", json_object_new_int64(v[i].queue_msg_id));
		json_object_object_add(o, "account", admin_str(v[i].account));
		json_object_object_add(o, "url", admin_str(v[i].url));
		json_object_object_add(o, "isIncoming", json_object_new_boolean(v[i].is_incoming));
		json_object_object_add(o, "event", admin_str(v[i].event));
		json_object_object_add(o, "messageID", admin_str(v[i].message_id));
		json_object_object_add(o, "subject", admin_str(v[i].subject));
		json_object_object_add(o, "submitted", json_object_new_int64(v[i].submitted));
		json_object_object_add(o, "attempts", json_object_new_int(v[i].attempts));
		json_object_object_add(o, "lastResult", admin_str(v[i].last_result));
		if (retired) {
			json_object_object_add(o, "success", json_object_new_boolean(v[i].success));
			json_object_object_add(o, "lastActivity",
				json_object_new_int64(v[i].last_activity));
		} else {
			json_object_object_add(o, "nextAttempt", json_object_new_int64(v[i].next_attempt));
		}
		json_object_array_add(arr, o);
	}
	webhook_calls_free(v, n);
	call->result = arr;
	return 0;
}

/* HookList(account, limit) / HookRetiredList(account, limit) */
int
admin_api_hook_list(struct web_call *call)
{
	return hooks(call, false);
}

int
admin_api_hook_retired_list(struct web_call *call)
{
	return hooks(call, true);
}

/* HookNextAttemptSet(ids, minutes) -> number changed */
int
admin_api_hook_next_attempt_set(struct web_call *call)
{
	int64_t min = web_call_int(call, 1), *ids;
	const char *err;
	size_t n, changed = 0;
	int rc;

	if (min < 0 || min > 366 * 24 * 60)
		return web_call_error(call, "user:error", "parameter 2 (minutes) must be 0 to %d",
			366 * 24 * 60);
	if (admin_param_ids(call, 0, &ids, &n) < 0)
		return -1;
	rc = webhook_schedule(admin_store(call), ids, n, min == 0 ? -1 : min * 60, &changed, &err);
	free(ids);
	if (rc < 0)
		return admin_fail(call, "scheduling webhooks", err);
	return changed_result(call, "hook-schedule", changed);
}

/* HookCancel(ids) -> number canceled */
int
admin_api_hook_cancel(struct web_call *call)
{
	const char *err;
	int64_t *ids;
	size_t n, canceled = 0;
	int rc;

	if (admin_param_ids(call, 0, &ids, &n) < 0)
		return -1;
	rc = webhook_cancel(admin_store(call), ids, n, &canceled, &err);
	free(ids);
	if (rc < 0)
		return admin_fail(call, "canceling webhooks", err);
	return changed_result(call, "hook-cancel", canceled);
}

/* Transports() -> [{name, type, host, port}] of the configuration. */
int
admin_api_transports(struct web_call *call)
{
	const struct conf *conf = web_env_conf(call->req->env);
	struct json_object *arr = json_object_new_array();
	size_t i;

	for (i = 0; i < conf->ntransports; i++) {
		const struct conf_transport *t = &conf->transports[i];
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "name", admin_str(t->name));
		json_object_object_add(o, "type", admin_str(t->type));
		json_object_object_add(o, "host", admin_str(t->host ? t->host : ""));
		json_object_object_add(o, "port", json_object_new_int64((int64_t)t->port));
		json_object_array_add(arr, o);
	}
	call->result = arr;
	return 0;
}

/* LogLevels() -> {configured, levels, effective}: configured is [general]
 * loglevel of the config file; levels the ones set at run time (program ->
 * level, "" the default of all), which the running programs apply within
 * a few seconds (lib/db/loglevel.c); effective what each program then
 * logs at. */
int
admin_api_log_levels(struct web_call *call)
{
	const struct conf *conf = web_env_conf(call->req->env);
	struct db_pool *pool = web_env_pool(call->req->env);
	enum ms_log_level cl = loglevel_conf_level(conf->general.loglevel);
	struct json_object *o, *levels, *eff;
	struct loglevel_row *rows = NULL;
	const char *err;
	size_t n = 0, i;
	PGconn *c;
	int rc;

	c = db_get(pool, &err);
	if (c == NULL)
		return web_call_server_error(call, "reading log levels", err);
	rc = loglevel_list(c, &rows, &n, &err);
	db_put(pool, c);
	if (rc < 0)
		return web_call_server_error(call, "reading log levels", err);
	o = json_object_new_object();
	levels = json_object_new_object();
	eff = json_object_new_object();
	json_object_object_add(o, "configured", admin_str(log_level_name(cl)));
	for (i = 0; i < n; i++)
		json_object_object_add(levels, rows[i].program,
			admin_str(log_level_name(rows[i].level)));
	json_object_object_add(eff, "", admin_str(log_level_name(
		loglevel_effective(rows, n, "", cl))));
	for (i = 0; loglevel_programs[i] != NULL; i++)
		json_object_object_add(eff, loglevel_programs[i], admin_str(log_level_name(
			loglevel_effective(rows, n, loglevel_programs[i], cl))));
	loglevel_rows_free(&rows, n);
	json_object_object_add(o, "levels", levels);
	json_object_object_add(o, "effective", eff);
	call->result = o;
	return 0;
}

/* LogLevelSet(program, level): program "" sets the default. */
int
admin_api_log_level_set(struct web_call *call)
{
	struct db_pool *pool = web_env_pool(call->req->env);
	const char *program = web_call_str(call, 0), *level = web_call_str(call, 1), *err;
	enum ms_log_level l;
	struct buf d;
	PGconn *c;
	int rc;

	if (loglevel_check_program(program, &err) < 0)
		return web_call_error(call, "user:error", "parameter 1 (program): %s", err);
	if (loglevel_check_level(level, &l, &err) < 0)
		return web_call_error(call, "user:error", "parameter 2 (level): %s", err);
	c = db_get(pool, &err);
	if (c == NULL)
		return web_call_server_error(call, "setting the log level", err);
	rc = loglevel_set(c, program, level, &err);
	db_put(pool, c);
	if (rc < 0)
		return web_call_server_error(call, "setting the log level", err);
	buf_init(&d);
	buf_printf(&d, "%s=%s", program[0] != '\0' ? program : "(default)", level);
	admin_log(call, "loglevel-set", d.data);
	buf_free(&d);
	call->result = NULL;
	return 0;
}

/* LogLevelRemove(program): the program falls back to the default ("" row,
 * else the config file); removing "" leaves the config file's level. */
int
admin_api_log_level_remove(struct web_call *call)
{
	struct db_pool *pool = web_env_pool(call->req->env);
	const char *program = web_call_str(call, 0), *err;
	PGconn *c;
	int rc;

	if (loglevel_check_program(program, &err) < 0)
		return web_call_error(call, "user:error", "parameter 1 (program): %s", err);
	c = db_get(pool, &err);
	if (c == NULL)
		return web_call_server_error(call, "removing the log level", err);
	rc = loglevel_remove(c, program, &err);
	db_put(pool, c);
	if (rc < 0)
		return web_call_server_error(call, "removing the log level", err);
	if (rc == 0)
		return web_call_error(call, "user:notFound", "no log level set for %s",
			program[0] != '\0' ? program : "the default (\"\")");
	admin_log(call, "loglevel-removed", program[0] != '\0' ? program : "(default)");
	call->result = NULL;
	return 0;
}

/* QueueSize() / HookQueueSize(): how many are waiting. */
static int
count_rows(struct web_call *call, const char *sql)
{
	PGresult *res = admin_query(call, "counting", sql, 0);

	if (res == NULL)
		return -1;
	call->result = json_object_new_int64(db_get_i64(res, 0, 0));
	PQclear(res);
	return 0;
}

int
admin_api_queue_size(struct web_call *call)
{
	return count_rows(call, "SELECT count(*) FROM queue");
}

int
admin_api_hook_queue_size(struct web_call *call)
{
	return count_rows(call, "SELECT count(*) FROM webhook_queue");
}

/* HookNextAttemptAdd(ids, minutes): move the next attempt of webhook
 * calls (may be negative). */
int
admin_api_hook_next_attempt_add(struct web_call *call)
{
	int64_t min = web_call_int(call, 1), *ids;
	const char *err;
	size_t n, changed = 0;
	int rc;

	if (min < -366 * 24 * 60 || min > 366 * 24 * 60)
		return web_call_error(call, "user:error",
			"parameter 2 (minutes) must be within a year either way");
	if (admin_param_ids(call, 0, &ids, &n) < 0)
		return -1;
	rc = webhook_schedule_add(admin_store(call), ids, n, min * 60, &changed, &err);
	free(ids);
	if (rc < 0)
		return admin_fail(call, "scheduling webhooks", err);
	return changed_result(call, "hook-schedule", changed);
}

/* RouteList() -> [{id, account, domain, fromDomains, toDomains,
 * minAttempts, transport}]: account routes, then domain, then global. */
int
admin_api_route_list(struct web_call *call)
{
	struct queue_route *v = NULL;
	struct json_object *arr;
	const char *err;
	size_t n = 0, i;

	if (queue_route_list(admin_store(call), &v, &n, &err) < 0)
		return web_call_server_error(call, "listing routes", err);
	arr = json_object_new_array();
	for (i = 0; i < n; i++) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "id", json_object_new_int64(v[i].id));
		json_object_object_add(o, "account", admin_str(v[i].account));
		json_object_object_add(o, "domain", admin_str(v[i].domain));
		json_object_object_add(o, "fromDomains", admin_str(v[i].from_domains));
		json_object_object_add(o, "toDomains", admin_str(v[i].to_domains));
		json_object_object_add(o, "minAttempts", json_object_new_int(v[i].min_attempts));
		json_object_object_add(o, "transport", admin_str(v[i].transport));
		json_object_array_add(arr, o);
	}
	queue_routes_free(v, n);
	call->result = arr;
	return 0;
}

/* The domains of a WJ_STRING_ARRAY parameter in stored form. */
static int
domain_list(struct web_call *call, size_t i, char ***v_r, size_t *n_r)
{
	struct json_object *a = call->params[i];
	size_t n = json_object_array_length(a), k;
	char **v = xcalloc(n + 1, sizeof(char *));

	for (k = 0; k < n; k++) {
		const char *s = json_object_get_string(json_object_array_get_idx(a, k)), *err;
		char *ascii;

		if (mail_domain_parse(s, strlen(s), true, &v[k], &ascii, &err) < 0) {
			while (k > 0)
				free(v[--k]);
			free(v);
			return web_call_error(call, "user:error", "parameter %zu: bad domain \"%s\": %s",
				i + 1, s, err);
		}
		free(ascii);
	}
	*v_r = v;
	*n_r = n;
	return 0;
}

/* RouteAdd(account, domain, fromDomains, toDomains, minAttempts,
 * transport) -> id: on the account's level (account), the sender domain's
 * (domain) or global (both ""). */
int
admin_api_route_add(struct web_call *call)
{
	const char *t = web_call_str(call, 5), *err;
	char **from = NULL, **to = NULL, *dom = NULL;
	size_t nfrom = 0, nto = 0, i;
	int64_t acct = 0, id = 0, minatt = web_call_int(call, 4);
	int rc = -1;

	if (web_call_str(call, 0)[0] != '\0' && web_call_str(call, 1)[0] != '\0')
		return web_call_error(call, "user:error",
			"a route is for an account (parameter 1) or a domain (parameter 2), not both");
	if (minatt < 0 || minatt > 1000)
		return web_call_error(call, "user:error", "parameter 5 (minAttempts) must be 0 to 1000");
	if (strcmp(t, "direct") != 0 && conf_transport_find(web_env_conf(call->req->env), t) == NULL)
		return web_call_error(call, "user:error",
			"parameter 6 (transport): no [transport %s] in the configuration", t);
	if ((web_call_str(call, 0)[0] != '\0' && admin_param_account(call, 0, &acct) < 0) ||
	    (web_call_str(call, 1)[0] != '\0' && admin_param_domain(call, 1, &dom) < 0) ||
	    domain_list(call, 2, &from, &nfrom) < 0 || domain_list(call, 3, &to, &nto) < 0)
		goto out;
	if (queue_route_add(admin_store(call), acct, dom ? dom : "", (const char *const *)from, nfrom,
		    (const char *const *)to, nto, (int)minatt, t, &id, &err) < 0) {
		rc = admin_fail(call, "adding route", err);
		goto out;
	}
	admin_log(call, "route-added", db_i64(id));
	call->result = json_object_new_int64(id);
	rc = 0;
out:
	for (i = 0; i < nfrom; i++)
		free(from[i]);
	for (i = 0; i < nto; i++)
		free(to[i]);
	free(from);
	free(to);
	free(dom);
	return rc;
}

int
admin_api_route_remove(struct web_call *call)
{
	const char *err;
	int rc = queue_route_remove(admin_store(call), web_call_int(call, 0), &err);

	if (rc < 0)
		return admin_fail(call, "removing route", err);
	if (rc == 0)
		return web_call_error(call, "user:notFound", "no route %lld",
			(long long)web_call_int(call, 0));
	admin_log(call, "route-removed", db_i64(web_call_int(call, 0)));
	call->result = NULL;
	return 0;
}
