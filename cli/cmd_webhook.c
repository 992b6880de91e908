/* mailstead queue webhook ...: the webhook queue (calls waiting or being
 * retried, and retired ones); mailstead account webhook ...: an account's
 * webhook URLs. Listings are tab-separated with a header line, escaped
 * like PostgreSQL COPY text, as the other queue listings. Authorization
 * values are secrets: they are read from standard input when asked for
 * and never printed. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "core/util.h"
#include "queue/webhook.h"

static int
find_account(struct cli *cli, const char *name, int64_t *id_r)
{
	const char *error;
	int found = store_account_find(cli_store(cli), name, id_r, &error);

	if (found < 0)
		fprintf(stderr, "mailstead: %s\n", error);
	else if (found == 0)
		fprintf(stderr, "mailstead: no account %s\n", name);
	return found == 1 ? 0 : -1;
}

static int
parse_ids(int argc, char **argv, int64_t **ids_r)
{
	int64_t *ids = xcalloc((size_t)argc + 1, sizeof(int64_t));
	uint64_t v;
	int i;

	for (i = 0; i < argc; i++) {
		if (ms_parse_u64(argv[i], 1, INT64_MAX, &v) < 0) {
			fprintf(stderr, "mailstead: bad webhook id %s\n", argv[i]);
			free(ids);
			return -1;
		}
		ids[i] = (int64_t)v;
	}
	*ids_r = ids;
	return 0;
}

/* ---- queue webhook ---- */

static int
webhook_cmd_list(struct cli *cli, bool retired, int argc, char **argv)
{
	struct webhook_call *v;
	const char *error;
	int64_t account_id = 0;
	uint64_t max = 0;
	size_t n, i;
	int k;

	for (k = 1; k < argc; k++) {
		if (cli_opt_is(argv[k], "account") && k + 1 < argc) {
			if (find_account(cli, argv[++k], &account_id) < 0)
				return 1;
		} else if (cli_opt_is(argv[k], "n") && k + 1 < argc &&
			   ms_parse_u64(argv[k + 1], 1, 1000000000, &max) == 0) {
			k++;
		} else {
			return 2;
		}
	}
	if (webhook_list(cli_store(cli), retired, account_id, (size_t)max, &v, &n, &error) < 0) {
		fprintf(stderr, "mailstead: queue webhook list: %s\n", error);
		return 1;
	}
	if (retired)
		printf("id\taccount\tevent\tqueue_msg_id\tfrom_id\tmessage_id\tsubject\turl\t"
			"authorization\tsubmitted\tattempts\tsuccess\tsuperseded_by\tlast_activity\t"
			"keep_until\tlast_result\n");
	else
		printf("id\taccount\tevent\tqueue_msg_id\tfrom_id\tmessage_id\tsubject\turl\t"
			"authorization\tsubmitted\tattempts\tnext_attempt\tlast_result\n");
	for (i = 0; i < n; i++) {
		const struct webhook_call *w = &v[i];
		char b[64];

		cli_put_field(cli_fmt_i64(w->id, b, sizeof(b)), true);
		cli_put_field(w->account, false);
		cli_put_field(w->event, false);
		cli_put_field(cli_fmt_i64(w->queue_msg_id, b, sizeof(b)), false);
		cli_put_field(w->from_id, false);
		cli_put_field(w->message_id, false);
		cli_put_field(w->subject, false);
		cli_put_field(w->url, false);
		cli_put_field(w->authorization ? "yes" : "no", false);
		cli_put_field(cli_fmt_time(w->submitted, b, sizeof(b)), false);
		cli_put_field(cli_fmt_i64(w->attempts, b, sizeof(b)), false);
		if (retired) {
			cli_put_field(w->success ? "yes" : "no", false);
			cli_put_field(cli_fmt_i64(w->superseded_by, b, sizeof(b)), false);
			cli_put_field(cli_fmt_time(w->last_activity, b, sizeof(b)), false);
			cli_put_field(cli_fmt_time(w->keep_until, b, sizeof(b)), false);
		} else {
			cli_put_field(cli_fmt_time(w->next_attempt, b, sizeof(b)), false);
		}
		cli_put_field(w->last_result, false);
		putchar('\n');
	}
	webhook_calls_free(v, n);
	return 0;
}

/* One call: its fields as "name: value" lines, the results (JSON), then a
 * blank line and the payload exactly as it is POSTed. */
static int
webhook_cmd_print(struct cli *cli, bool retired, int argc, char **argv)
{
	struct webhook_call w;
	const char *error;
	int64_t *ids;
	char b[64];
	int r;

	if (argc != 2)
		return 2;
	if (parse_ids(1, argv + 1, &ids) < 0)
		return 1;
	r = webhook_get(cli_store(cli), retired, ids[0], &w, &error);
	free(ids);
	if (r < 0) {
		fprintf(stderr, "mailstead: queue webhook print: %s\n", error);
		return 1;
	}
	if (r == 0) {
		fprintf(stderr, "mailstead: queue webhook print: no %swebhook %s\n",
			retired ? "retired " : "", argv[1]);
		return 1;
	}
	printf("id: %lld\n", (long long)w.id);
	printf("account: %s\n", w.account);
	printf("event: %s\n", w.event);
	printf("queue_msg_id: %lld\n", (long long)w.queue_msg_id);
	printf("from_id: %s\n", w.from_id);
	printf("message_id: %s\n", w.message_id);
	printf("subject: %s\n", w.subject);
	printf("url: %s\n", w.url);
	printf("authorization: %s\n", w.authorization ? "yes" : "no");
	printf("submitted: %s\n", cli_fmt_time(w.submitted, b, sizeof(b)));
	printf("attempts: %d\n", w.attempts);
	if (retired) {
		printf("success: %s\n", w.success ? "yes" : "no");
		printf("superseded_by: %lld\n", (long long)w.superseded_by);
		printf("last_activity: %s\n", cli_fmt_time(w.last_activity, b, sizeof(b)));
		printf("keep_until: %s\n", cli_fmt_time(w.keep_until, b, sizeof(b)));
	} else {
		printf("next_attempt: %s\n", cli_fmt_time(w.next_attempt, b, sizeof(b)));
	}
	printf("results: %s\n\n%s\n", w.results, w.payload);
	free(w.account);
	free(w.url);
	free(w.event);
	free(w.from_id);
	free(w.message_id);
	free(w.subject);
	free(w.last_result);
	free(w.results);
	free(w.payload);
	return 0;
}

static int
webhook_cmd_schedule(struct cli *cli, int argc, char **argv)
{
	const char *error;
	int64_t *ids = NULL, delay = 0;
	uint64_t secs;
	size_t changed;
	bool all = false;
	int k = 1, rc;

	if (k < argc && cli_opt_is(argv[k], "now")) {
		k++;
	} else if (k + 1 < argc && cli_opt_is(argv[k], "in") &&
		   ms_parse_duration(argv[k + 1], &secs) == 0 && secs <= 366ULL * 86400) {
		delay = (int64_t)secs;
		k += 2;
	} else {
		return 2;
	}
	if (k + 1 == argc && cli_opt_is(argv[k], "all"))
		all = true;
	else if (k >= argc)
		return 2;
	if (!all && parse_ids(argc - k, argv + k, &ids) < 0)
		return 1;
	rc = webhook_schedule(cli_store(cli), ids, all ? 0 : (size_t)(argc - k), delay, &changed,
		&error);
	free(ids);
	if (rc < 0) {
		fprintf(stderr, "mailstead: queue webhook schedule: %s\n", error);
		return 1;
	}
	printf("%zu webhook%s rescheduled\n", changed, changed == 1 ? "" : "s");
	return changed > 0 ? 0 : 1;
}

static int
webhook_cmd_drop(struct cli *cli, int argc, char **argv)
{
	const char *error;
	int64_t *ids;
	size_t n;
	int rc;

	if (argc < 2)
		return 2;
	if (parse_ids(argc - 1, argv + 1, &ids) < 0)
		return 1;
	rc = webhook_cancel(cli_store(cli), ids, (size_t)(argc - 1), &n, &error);
	free(ids);
	if (rc < 0) {
		fprintf(stderr, "mailstead: queue webhook drop: %s\n", error);
		return 1;
	}
	printf("%zu webhook%s dropped\n", n, n == 1 ? "" : "s");
	return n > 0 ? 0 : 1;
}

/* Make the due calls from this process (mailstead-queued normally does):
 * for trying a receiver, or when the daemon is stopped. Several senders
 * never make the same call twice (webhook_process claims with SKIP
 * LOCKED). */
static int
webhook_cmd_send(struct cli *cli, int argc, char **argv)
{
	struct webhook_send_opts o;
	const char *error;
	int total = 0, n, rounds;

	if (argc != 1)
		return 2;
	memset(&o, 0, sizeof(o));
	cli_store(cli);
	/* Calls just attempted are not due again, so this ends. */
	for (rounds = 0; rounds < 1000; rounds++) {
		n = webhook_process(cli->store, &o, NULL, &error);
		if (n < 0) {
			fprintf(stderr, "mailstead: queue webhook send: %s\n", error);
			return 1;
		}
		if (n == 0)
			break;
		total += n;
	}
	printf("%d webhook call%s attempted\n", total, total == 1 ? "" : "s");
	return 0;
}

int
cmd_queue_webhook(struct cli *cli, int argc, char **argv)
{
	const char *sub = argc >= 2 ? argv[1] : "";

	if (strcmp(sub, "list") == 0)
		return webhook_cmd_list(cli, false, argc - 1, argv + 1);
	if (strcmp(sub, "print") == 0)
		return webhook_cmd_print(cli, false, argc - 1, argv + 1);
	if (strcmp(sub, "schedule") == 0)
		return webhook_cmd_schedule(cli, argc - 1, argv + 1);
	if (strcmp(sub, "send") == 0)
		return webhook_cmd_send(cli, argc - 1, argv + 1);
	if (strcmp(sub, "drop") == 0 || strcmp(sub, "cancel") == 0)
		return webhook_cmd_drop(cli, argc - 1, argv + 1);
	if (strcmp(sub, "retired") == 0 && argc >= 3) {
		if (strcmp(argv[2], "list") == 0)
			return webhook_cmd_list(cli, true, argc - 2, argv + 2);
		if (strcmp(argv[2], "print") == 0)
			return webhook_cmd_print(cli, true, argc - 2, argv + 2);
	}
	return 2;
}

/* ---- account webhook ---- */

static int
account_show(struct cli *cli, int64_t id)
{
	struct webhook_account_conf c;
	const char *error;
	int r;

	memset(&c, 0, sizeof(c));
	r = webhook_account_get(cli_store(cli), id, &c, &error);
	if (r <= 0) {
		fprintf(stderr, "mailstead: account webhook: %s\n", r < 0 ? error : "no such account");
		return 1;
	}
	printf("outgoing-url: %s\n", c.outgoing_url);
	printf("outgoing-authorization: %s\n", c.outgoing_authorization ? "set" : "none");
	printf("outgoing-events: %s\n", c.outgoing_events[0] ? c.outgoing_events : "all");
	printf("incoming-url: %s\n", c.incoming_url);
	printf("incoming-authorization: %s\n", c.incoming_authorization ? "set" : "none");
	printf("keep-retired: %llds\n", (long long)c.keep_retired_s);
	webhook_account_conf_free(&c);
	return 0;
}

/* account webhook ACCOUNT
 * account webhook ACCOUNT set outgoing|incoming URL [-authorization-stdin]
 *     [-events E,E...]
 * account webhook ACCOUNT clear outgoing|incoming
 * account webhook ACCOUNT keep-retired DURATION */
int
cmd_account_webhook(struct cli *cli, int argc, char **argv)
{
	struct buf auth;
	const char *error, *events = NULL, *what;
	int64_t id;
	bool incoming, auth_stdin = false;
	int k, rc = 1;

	/* argv[0] is "webhook" */
	if (argc < 2)
		return 2;
	if (find_account(cli, argv[1], &id) < 0)
		return 1;
	if (argc == 2)
		return account_show(cli, id);
	what = argv[2];
	if (strcmp(what, "keep-retired") == 0 && argc == 4) {
		uint64_t secs;

		if (ms_parse_duration(argv[3], &secs) < 0 || secs > 3650ULL * 86400) {
			fprintf(stderr, "mailstead: bad duration %s (e.g. 168h, 7d)\n", argv[3]);
			return 1;
		}
		if (webhook_account_set_keep(cli->store, id, (int64_t)secs, &error) < 0) {
			fprintf(stderr, "mailstead: account webhook: %s\n", error);
			return 1;
		}
		printf("retired webhooks of %s are kept for %llu seconds\n", argv[1],
			(unsigned long long)secs);
		return 0;
	}
	if (argc < 4 || (strcmp(argv[3], "outgoing") != 0 && strcmp(argv[3], "incoming") != 0))
		return 2;
	incoming = strcmp(argv[3], "incoming") == 0;
	buf_init(&auth);
	if (strcmp(what, "clear") == 0 && argc == 4) {
		if (webhook_account_set(cli->store, id, incoming, "", "", incoming ? NULL : "",
			    &error) < 0) {
			fprintf(stderr, "mailstead: account webhook: %s\n", error);
			goto out;
		}
		printf("%s webhook of %s removed\n", argv[3], argv[1]);
		rc = 0;
		goto out;
	}
	if (strcmp(what, "set") != 0 || argc < 5) {
		rc = 2;
		goto out;
	}
	for (k = 5; k < argc; k++) {
		if (cli_opt_is(argv[k], "authorization-stdin"))
			auth_stdin = true;
		else if (cli_opt_is(argv[k], "events") && k + 1 < argc && !incoming)
			events = argv[++k];
		else {
			rc = 2;
			goto out;
		}
	}
	if (auth_stdin && cli_read_password("Authorization header value: ", &auth) < 0) {
		fprintf(stderr, "mailstead: account webhook: no Authorization value on standard input\n");
		goto out;
	}
	if (webhook_account_set(cli->store, id, incoming, argv[4], auth.data,
		    events ? events : (incoming ? NULL : ""), &error) < 0) {
		fprintf(stderr, "mailstead: account webhook: %s\n", error);
		goto out;
	}
	printf("%s webhook of %s set to %s%s\n", argv[3], argv[1], argv[4],
		auth.len ? " with an Authorization header" : "");
	rc = 0;
out:
	buf_wipe(&auth);
	buf_free(&auth);
	return rc;
}
