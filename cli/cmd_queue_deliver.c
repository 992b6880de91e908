/* mailstead queue: the commands about delivery (schedule, fail,
 * requiretls, transport), delivery history (retired list/print) and
 * routes. Output as in cmd_queue.c: tab-separated with a header line,
 * COPY-escaped, times UTC. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "core/util.h"
#include "mail/addr.h"
#include "queue/queue.h"

static int
ids_parse(int argc, char **argv, int64_t **ids_r)
{
	int64_t *ids;
	int i;

	if (argc < 1)
		return -1;
	ids = xcalloc((size_t)argc, sizeof(int64_t));
	for (i = 0; i < argc; i++) {
		uint64_t v;

		if (ms_parse_u64(argv[i], 1, INT64_MAX, &v) < 0) {
			fprintf(stderr, "mailstead: bad message id %s\n", argv[i]);
			free(ids);
			return -1;
		}
		ids[i] = (int64_t)v;
	}
	*ids_r = ids;
	return 0;
}

static int
account_id(struct cli *cli, const char *name, int64_t *id_r)
{
	const char *error;
	int r = store_account_find(cli_store(cli), name, id_r, &error);

	if (r < 0)
		fprintf(stderr, "mailstead: %s\n", error);
	else if (r == 0)
		fprintf(stderr, "mailstead: no account %s\n", name);
	return r == 1 ? 0 : -1;
}

/* queue schedule|fail|requiretls|transport: one field for the ids. */
static int
set_field(struct cli *cli, const char *cmd, enum queue_field f, const char *value, int argc,
	char **argv)
{
	const char *error;
	int64_t *ids;
	size_t changed = 0;
	int rc;

	if (ids_parse(argc, argv, &ids) < 0)
		return argc < 1 ? 2 : 1;
	rc = queue_update_field(cli_store(cli), ids, (size_t)argc, f, value, &changed, &error);
	free(ids);
	if (rc < 0) {
		fprintf(stderr, "mailstead: queue %s: %s\n", cmd, error);
		return 1;
	}
	printf("%zu message%s changed\n", changed, changed == 1 ? "" : "s");
	return changed > 0 ? 0 : 1;
}

static int
cmd_schedule(struct cli *cli, int argc, char **argv)
{
	char v[32];
	uint64_t secs;
	bool neg = false;

	/* queue schedule -now ID... | -in DURATION ID... | -add [-]DURATION ID... */
	if (argc >= 2 && cli_opt_is(argv[1], "now")) {
		(void)snprintf(v, sizeof(v), "%lld", (long long)ms_now());
		return set_field(cli, "schedule", QUEUE_FIELD_NEXT_ATTEMPT, v, argc - 2, argv + 2);
	}
	if (argc >= 3 && (cli_opt_is(argv[1], "in") || cli_opt_is(argv[1], "add"))) {
		const char *d = argv[2];

		if (d[0] == '-') {
			neg = true;
			d++;
		}
		if (ms_parse_duration(d, &secs) < 0 || (neg && cli_opt_is(argv[1], "in"))) {
			fprintf(stderr, "mailstead: queue schedule: bad duration %s\n", argv[2]);
			return 1;
		}
		if (cli_opt_is(argv[1], "in")) {
			(void)snprintf(v, sizeof(v), "%lld", (long long)(ms_now() + (int64_t)secs));
			return set_field(cli, "schedule", QUEUE_FIELD_NEXT_ATTEMPT, v, argc - 3, argv + 3);
		}
		(void)snprintf(v, sizeof(v), "%s%llu", neg ? "-" : "", (unsigned long long)secs);
		return set_field(cli, "schedule", QUEUE_FIELD_NEXT_ATTEMPT_ADD, v, argc - 3, argv + 3);
	}
	return 2;
}

static void
retired_row(const struct queue_retired *r)
{
	char b[64];

	cli_put_field(cli_fmt_i64(r->id, b, sizeof(b)), true);
	cli_put_field(cli_fmt_i64(r->base_id, b, sizeof(b)), false);
	cli_put_field(cli_fmt_time(r->queued, b, sizeof(b)), false);
	cli_put_field(r->account, false);
	cli_put_field(r->sender, false);
	cli_put_field(r->recipient, false);
	cli_put_field(r->from_id, false);
	cli_put_field(cli_fmt_i64(r->attempts, b, sizeof(b)), false);
	cli_put_field(r->success ? "yes" : "no", false);
	cli_put_field(cli_fmt_time(r->last_activity, b, sizeof(b)), false);
	cli_put_field(cli_fmt_time(r->keep_until, b, sizeof(b)), false);
	cli_put_field(r->transport, false);
	cli_put_field(r->message_id, false);
	cli_put_field(r->subject, false);
	cli_put_field(r->last_error, false);
	putchar('\n');
}

static int
cmd_retired(struct cli *cli, int argc, char **argv)
{
	struct queue_retired *v;
	const char *error;
	int64_t acct = 0, id = 0;
	uint64_t max = 0;
	size_t n, i;
	int k;

	if (argc >= 2 && strcmp(argv[1], "list") == 0) {
		for (k = 2; k < argc; k++) {
			if (cli_opt_is(argv[k], "account") && k + 1 < argc) {
				if (account_id(cli, argv[++k], &acct) < 0)
					return 1;
			} else if (cli_opt_is(argv[k], "n") && k + 1 < argc &&
				   ms_parse_u64(argv[k + 1], 1, 1000000000, &max) == 0) {
				k++;
			} else {
				return 2;
			}
		}
	} else if (argc == 3 && strcmp(argv[1], "print") == 0) {
		uint64_t u;

		if (ms_parse_u64(argv[2], 1, INT64_MAX, &u) < 0)
			return 2;
		id = (int64_t)u;
	} else {
		return 2;
	}
	if (queue_retired_list(cli_store(cli), acct, id, (size_t)max, &v, &n, &error) < 0) {
		fprintf(stderr, "mailstead: queue retired: %s\n", error);
		return 1;
	}
	if (id > 0) {
		if (n == 0) {
			fprintf(stderr, "mailstead: queue retired print: no retired message %lld\n",
				(long long)id);
			queue_retired_free(v, n);
			return 1;
		}
		/* One message: every field, and the attempts as JSON. */
		printf("id: %lld\nbase_id: %lld\naccount: %s\nfrom: %s\nto: %s\nfrom_id: %s\n"
			"attempts: %d\nsuccess: %s\ntransport: %s\nmessage_id: %s\nsubject: %s\n"
			"results: %s\n", (long long)v[0].id, (long long)v[0].base_id, v[0].account,
			v[0].sender, v[0].recipient, v[0].from_id, v[0].attempts,
			v[0].success ? "yes" : "no", v[0].transport, v[0].message_id, v[0].subject,
			v[0].results);
		queue_retired_free(v, n);
		return 0;
	}
	printf("id\tbase_id\tqueued\taccount\tfrom\tto\tfrom_id\tattempts\tsuccess\t"
		"last_activity\tkeep_until\ttransport\tmessage_id\tsubject\tlast_error\n");
	for (i = 0; i < n; i++)
		retired_row(&v[i]);
	queue_retired_free(v, n);
	return 0;
}

/* A comma-separated list of domains, parsed to lower-case Unicode. */
static int
domains_parse(const char *s, char ***v_r, size_t *n_r)
{
	char **v = NULL;
	size_t n = 0;
	const char *p = s;

	while (*p) {
		size_t k = strcspn(p, ",");
		char *uni, *ascii;
		const char *error;
		bool dot = p[0] == '.';

		if (k > 0) {
			if (mail_domain_parse(p + dot, k - dot, true, &uni, &ascii, &error) < 0) {
				fprintf(stderr, "mailstead: bad domain %.*s: %s\n", (int)k, p, error);
				return -1;
			}
			free(ascii);
			v = xrealloc(v, (n + 1) * sizeof(char *));
			v[n++] = dot ? xasprintf(".%s", uni) : xstrdup(uni);
			free(uni);
		}
		p += k;
		if (*p == ',')
			p++;
	}
	*v_r = v;
	*n_r = n;
	return 0;
}

static int
cmd_routes(struct cli *cli, int argc, char **argv)
{
	const char *error;

	if (argc == 2 && strcmp(argv[1], "list") == 0) {
		struct queue_route *v;
		size_t n, i;
		char b[32];

		if (queue_route_list(cli_store(cli), &v, &n, &error) < 0) {
			fprintf(stderr, "mailstead: queue routes list: %s\n", error);
			return 1;
		}
		printf("id\tlevel\taccount_or_domain\tfrom_domains\tto_domains\tmin_attempts\t"
			"transport\n");
		for (i = 0; i < n; i++) {
			cli_put_field(cli_fmt_i64(v[i].id, b, sizeof(b)), true);
			cli_put_field(v[i].account[0] ? "account" : v[i].domain[0] ? "domain" : "global", false);
			cli_put_field(v[i].account[0] ? v[i].account : v[i].domain, false);
			cli_put_field(v[i].from_domains, false);
			cli_put_field(v[i].to_domains, false);
			cli_put_field(cli_fmt_i64(v[i].min_attempts, b, sizeof(b)), false);
			cli_put_field(v[i].transport, false);
			putchar('\n');
		}
		queue_routes_free(v, n);
		return 0;
	}
	if (argc >= 3 && strcmp(argv[1], "add") == 0) {
		int64_t acct = 0, id;
		const char *domain = "", *transport = NULL;
		char **from = NULL, **to = NULL, *dom = NULL;
		size_t nfrom = 0, nto = 0, i;
		uint64_t minatt = 0;
		int k, rc = 1;

		for (k = 2; k < argc; k++) {
			const char *a = argv[k];

			if (a[0] != '-') {
				if (transport != NULL || k + 1 != argc)
					return 2;
				transport = a;
			} else if (k + 1 >= argc) {
				return 2;
			} else if (cli_opt_is(a, "account")) {
				if (account_id(cli, argv[++k], &acct) < 0)
					return 1;
			} else if (cli_opt_is(a, "domain")) {
				char **d;
				size_t nd;

				if (domains_parse(argv[++k], &d, &nd) < 0 || nd != 1)
					return 1;
				dom = d[0];
				free(d);
				domain = dom;
			} else if (cli_opt_is(a, "from")) {
				if (domains_parse(argv[++k], &from, &nfrom) < 0)
					return 1;
			} else if (cli_opt_is(a, "to")) {
				if (domains_parse(argv[++k], &to, &nto) < 0)
					return 1;
			} else if (cli_opt_is(a, "minattempts")) {
				if (ms_parse_u64(argv[++k], 0, 1000, &minatt) < 0)
					return 2;
			} else {
				return 2;
			}
		}
		if (transport == NULL || (acct > 0 && domain[0] != '\0'))
			return 2;
		if (strcmp(transport, "direct") != 0 &&
		    conf_transport_find(cli_conf(cli), transport) == NULL) {
			fprintf(stderr, "mailstead: queue routes add: no [transport %s] in %s\n",
				transport, cli_conf(cli)->path);
		} else if (queue_route_add(cli_store(cli), acct, domain, (const char *const *)from,
			       nfrom, (const char *const *)to, nto, (int)minatt, transport, &id,
			       &error) < 0) {
			fprintf(stderr, "mailstead: queue routes add: %s\n", error);
		} else {
			printf("route %lld added\n", (long long)id);
			rc = 0;
		}
		for (i = 0; i < nfrom; i++)
			free(from[i]);
		for (i = 0; i < nto; i++)
			free(to[i]);
		free(from);
		free(to);
		free(dom);
		return rc;
	}
	if (argc == 3 && strcmp(argv[1], "remove") == 0) {
		uint64_t id;
		int r;

		if (ms_parse_u64(argv[2], 1, INT64_MAX, &id) < 0)
			return 2;
		r = queue_route_remove(cli_store(cli), (int64_t)id, &error);
		if (r < 0)
			fprintf(stderr, "mailstead: queue routes remove: %s\n", error);
		else if (r == 0)
			fprintf(stderr, "mailstead: queue routes remove: no route %s\n", argv[2]);
		return r == 1 ? 0 : 1;
	}
	return 2;
}

int
cmd_queue_deliver(struct cli *cli, int argc, char **argv)
{
	const char *sub = argv[0];

	if (strcmp(sub, "schedule") == 0)
		return cmd_schedule(cli, argc, argv);
	if (strcmp(sub, "fail") == 0)
		return set_field(cli, "fail", QUEUE_FIELD_FAIL, NULL, argc - 1, argv + 1);
	if (strcmp(sub, "requiretls") == 0) {
		const char *v;

		if (argc < 3)
			return 2;
		if (strcmp(argv[1], "yes") == 0)
			v = "true";
		else if (strcmp(argv[1], "no") == 0)
			v = "false";
		else if (strcmp(argv[1], "default") == 0)
			v = NULL;
		else
			return 2;
		return set_field(cli, "requiretls", QUEUE_FIELD_REQUIRE_TLS, v, argc - 2, argv + 2);
	}
	if (strcmp(sub, "transport") == 0) {
		if (argc < 3)
			return 2;
		if (argv[1][0] != '\0' && strcmp(argv[1], "direct") != 0 &&
		    conf_transport_find(cli_conf(cli), argv[1]) == NULL) {
			fprintf(stderr, "mailstead: queue transport: no [transport %s] in %s\n", argv[1],
				cli_conf(cli)->path);
			return 1;
		}
		return set_field(cli, "transport", QUEUE_FIELD_TRANSPORT, argv[1], argc - 2, argv + 2);
	}
	if (strcmp(sub, "retired") == 0)
		return cmd_retired(cli, argc, argv);
	if (strcmp(sub, "routes") == 0)
		return cmd_routes(cli, argc, argv);
	return 2;
}
