/* mailstead queue: list, inspect, inject, hold/release and drop messages
 * of the outgoing queue; hold rules; per-account suppression lists.
 * Listings are tab-separated with a header line, values escaped as in
 * PostgreSQL's COPY text format (\t \n \r \\), so they paste into psql
 * and split with cut/awk. Times are UTC, ISO 8601. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "core/daemon.h"
#include "core/util.h"
#include "mail/addr.h"
#include "mail/header.h"
#include "queue/queue.h"

/* ---- output ---- */

/* ---- arguments ---- */

static int
parse_id(const char *s, int64_t *id_r)
{
	uint64_t v;

	if (ms_parse_u64(s, 1, INT64_MAX, &v) < 0) {
		fprintf(stderr, "mailstead: bad message id %s\n", s);
		return -1;
	}
	*id_r = (int64_t)v;
	return 0;
}

static int
parse_ids(int argc, char **argv, int64_t **ids_r)
{
	int64_t *ids = xcalloc((size_t)argc, sizeof(int64_t));
	int i;

	for (i = 0; i < argc; i++) {
		if (parse_id(argv[i], &ids[i]) < 0) {
			free(ids);
			return -1;
		}
	}
	*ids_r = ids;
	return 0;
}

/* An address for the queue: Unicode domain, unquoted localpart. */
static int
parse_addr(const char *s, struct mail_addr *a)
{
	const char *error;

	if (mail_addr_parse_mailbox(s, strlen(s), true, a, &error) < 0) {
		fprintf(stderr, "mailstead: bad address %s: %s\n", s, error);
		return -1;
	}
	return 0;
}

static char *
parse_domain_arg(const char *s)
{
	char *uni, *ascii;
	const char *error;

	if (mail_domain_parse(s, strlen(s), true, &uni, &ascii, &error) < 0) {
		fprintf(stderr, "mailstead: bad domain %s: %s\n", s, error);
		return NULL;
	}
	free(ascii);
	return uni;
}

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

/* ---- list, dump, hold, drop ---- */

static int
queue_cmd_list(struct cli *cli, int argc, char **argv)
{
	struct queue_msg *v;
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
	if (queue_list(cli_store(cli), account_id, (size_t)max, &v, &n, &error) < 0) {
		fprintf(stderr, "mailstead: queue list: %s\n", error);
		return 1;
	}
	printf("id\tbase_id\tqueued\thold\taccount\tfrom\tto\tfrom_id\tattempts\t"
		"max_attempts\tnext_attempt\tlast_attempt\tsize\trequire_tls\ttransport\t"
		"future_release\tmessage_id\tsubject\textra\tlast_error\n");
	for (i = 0; i < n; i++) {
		const struct queue_msg *m = &v[i];
		char b[64];

		cli_put_field(cli_fmt_i64(m->id, b, sizeof(b)), true);
		cli_put_field(cli_fmt_i64(m->base_id, b, sizeof(b)), false);
		cli_put_field(cli_fmt_time(m->queued, b, sizeof(b)), false);
		cli_put_field(m->hold ? "yes" : "no", false);
		cli_put_field(m->account, false);
		cli_put_field(m->sender[0] ? m->sender : "<>", false);
		cli_put_field(m->recipient, false);
		cli_put_field(m->from_id, false);
		cli_put_field(cli_fmt_i64(m->attempts, b, sizeof(b)), false);
		cli_put_field(cli_fmt_i64(m->max_attempts, b, sizeof(b)), false);
		cli_put_field(cli_fmt_time(m->next_attempt, b, sizeof(b)), false);
		cli_put_field(cli_fmt_time(m->last_attempt, b, sizeof(b)), false);
		cli_put_field(cli_fmt_i64(m->size, b, sizeof(b)), false);
		cli_put_field(m->require_tls < 0 ? "default" : m->require_tls ? "yes" : "no", false);
		cli_put_field(m->transport, false);
		cli_put_field(m->future_release_request, false);
		cli_put_field(m->message_id, false);
		cli_put_field(m->subject, false);
		cli_put_field(m->extra, false);
		cli_put_field(m->last_error, false);
		putchar('\n');
	}
	queue_msgs_free(v, n);
	return 0;
}

static int
queue_cmd_dump(struct cli *cli, int argc, char **argv)
{
	struct buf out;
	const char *error;
	int64_t id;
	int r;

	if (argc != 2)
		return 2;
	if (parse_id(argv[1], &id) < 0)
		return 1;
	buf_init(&out);
	r = queue_msg_read(cli_store(cli), id, &out, &error);
	if (r < 0)
		fprintf(stderr, "mailstead: queue dump: %s\n", error);
	else if (r == 0)
		fprintf(stderr, "mailstead: queue dump: no message %lld in the queue\n", (long long)id);
	else if (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0)
		r = -1;
	buf_free(&out);
	return r == 1 ? 0 : 1;
}

static int
queue_cmd_hold(struct cli *cli, int argc, char **argv, bool hold)
{
	const char *error;
	int64_t *ids;
	size_t changed;
	int rc;

	if (argc < 2)
		return 2;
	if (parse_ids(argc - 1, argv + 1, &ids) < 0)
		return 1;
	rc = queue_hold_set(cli_store(cli), ids, (size_t)(argc - 1), hold, &changed, &error);
	free(ids);
	if (rc < 0) {
		fprintf(stderr, "mailstead: queue %s: %s\n", argv[0], error);
		return 1;
	}
	printf("%zu message%s %s\n", changed, changed == 1 ? "" : "s",
		hold ? "put on hold" : "released");
	return 0;
}

static int
queue_cmd_drop(struct cli *cli, int argc, char **argv)
{
	const char *error;
	int64_t *ids;
	size_t dropped;
	int rc;

	if (argc < 2)
		return 2;
	if (parse_ids(argc - 1, argv + 1, &ids) < 0)
		return 1;
	rc = queue_drop(cli_store(cli), ids, (size_t)(argc - 1), &dropped, &error);
	free(ids);
	if (rc < 0) {
		fprintf(stderr, "mailstead: queue drop: %s\n", error);
		return 1;
	}
	printf("%zu message%s dropped\n", dropped, dropped == 1 ? "" : "s");
	return dropped > 0 ? 0 : 1;
}

/* ---- add ---- */

/* Wire form: bare LF becomes CRLF (files written by editors and scripts),
 * as sendmail-style injection does. */
static void
to_crlf(struct buf *out, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			buf_putc(out, '\r');
		buf_putc(out, s[i]);
	}
}

static bool
has_8bit(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return true;
	return false;
}

struct add_opts {
	const char *account, *from, *file;
	const char **to;
	size_t nto;
	bool limits, fromid;
	int max_attempts;
	const char *transport;
	int64_t next_attempt;
	char release[128];
	enum queue_tls tls;
};

static int
add_parse(int argc, char **argv, struct add_opts *o)
{
	const char *error;
	int k, r;

	memset(o, 0, sizeof(*o));
	o->to = xcalloc((size_t)argc, sizeof(char *));
	for (k = 1; k < argc; k++) {
		const char *a = argv[k], *val = k + 1 < argc ? argv[k + 1] : NULL;

		if (a[0] != '-' || strcmp(a, "-") == 0) {
			if (o->file != NULL || k + 1 != argc)
				return 2;
			o->file = a;
			continue;
		}
		if (cli_opt_is(a, "limits")) {
			o->limits = true;
			continue;
		}
		if (cli_opt_is(a, "fromid")) {
			o->fromid = true;
			continue;
		}
		if (val == NULL)
			return 2;
		k++;
		if (cli_opt_is(a, "from")) {
			o->from = val;
		} else if (cli_opt_is(a, "to")) {
			o->to[o->nto++] = val;
		} else if (cli_opt_is(a, "account")) {
			o->account = val;
		} else if (cli_opt_is(a, "holdfor") || cli_opt_is(a, "holduntil")) {
			r = cli_opt_is(a, "holdfor") ?
				queue_parse_holdfor(val, ms_now(), &o->next_attempt, o->release,
					sizeof(o->release), &error) :
				queue_parse_holduntil(val, ms_now(), &o->next_attempt, o->release,
					sizeof(o->release), &error);
			if (r != 0) {
				fprintf(stderr, "mailstead: queue add: %s\n", error);
				return 1;
			}
		} else if (cli_opt_is(a, "maxattempts")) {
			uint64_t v;

			if (ms_parse_u64(val, 1, 100, &v) < 0)
				return 2;
			o->max_attempts = (int)v;
		} else if (cli_opt_is(a, "transport")) {
			o->transport = val;
		} else if (cli_opt_is(a, "requiretls")) {
			if (strcmp(val, "yes") == 0)
				o->tls = QUEUE_TLS_REQUIRED;
			else if (strcmp(val, "no") == 0)
				o->tls = QUEUE_TLS_NOT_REQUIRED;
			else if (strcmp(val, "default") == 0)
				o->tls = QUEUE_TLS_DEFAULT;
			else
				return 2;
		} else {
			return 2;
		}
	}
	if (o->from == NULL || o->nto == 0 || o->file == NULL)
		return 2;
	return 0;
}

/* Read the message and derive what the queue row needs from it. */
static int
add_read(const char *file, struct buf *msg)
{
	struct buf raw;
	int rc = 0;

	buf_init(&raw);
	if (strcmp(file, "-") == 0) {
		char chunk[65536];
		size_t got;

		while ((got = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
			buf_append(&raw, chunk, got);
		if (ferror(stdin))
			rc = -1;
	} else {
		rc = ms_read_file(file, &raw);
	}
	if (rc < 0)
		perror(file);
	else
		to_crlf(msg, raw.data, raw.len);
	buf_free(&raw);
	return rc;
}

static int
queue_cmd_add(struct cli *cli, int argc, char **argv)
{
	struct add_opts o;
	struct buf msg, prefix, hdr, subj;
	struct queue_extra extra;
	struct queue_msg_in in;
	struct queue_rcpt *rcpts = NULL;
	struct buf *fromids = NULL;
	struct mail_addr from, *to = NULL;
	struct conf *conf;
	struct store *st;
	const char *error;
	char *tmp = NULL;
	int64_t *ids = NULL;
	bool utf8 = false;
	size_t i, hlen;
	int rc, fd = -1, r;

	rc = add_parse(argc, argv, &o);
	if (rc != 0) {
		free(o.to);
		return rc;
	}
	rc = 1;
	buf_init(&msg);
	buf_init(&prefix);
	buf_init(&hdr);
	buf_init(&subj);
	memset(&extra, 0, sizeof(extra));
	memset(&from, 0, sizeof(from));
	to = xcalloc(o.nto, sizeof(*to));
	rcpts = xcalloc(o.nto, sizeof(*rcpts));
	ids = xcalloc(o.nto, sizeof(*ids));
	if (strcmp(o.from, "<>") != 0 && parse_addr(o.from, &from) < 0)
		goto out;
	if (from.localpart != NULL && has_8bit(from.localpart, strlen(from.localpart)))
		utf8 = true;
	for (i = 0; i < o.nto; i++) {
		if (parse_addr(o.to[i], &to[i]) < 0)
			goto out;
		rcpts[i].localpart = to[i].localpart;
		rcpts[i].domain = to[i].domain;
		if (has_8bit(to[i].localpart, strlen(to[i].localpart)))
			utf8 = true;
	}
	/* Read as the invoking user, before switching to the daemons' user. */
	if (add_read(o.file, &msg) < 0)
		goto out;
	conf = cli_conf(cli);
	if (geteuid() == 0 && conf->general.user != NULL && conf->general.user[0] != '\0' &&
	    daemon_drop_privileges(conf->general.user, &error) < 0) {
		fprintf(stderr, "mailstead: queue add: %s\n", error);
		goto out;
	}

	/* Header facts; X-Mailstead-Extra-* fields become the extra data and
	 * are left out of the stored message, as for submission. */
	if (queue_extract_extra(msg.data, msg.len, &extra, &error) < 0) {
		fprintf(stderr, "mailstead: queue add: %s\n", error);
		goto out;
	}
	/* The header section ends at the first empty line (all CRLF now). */
	hlen = msg.len;
	for (i = 0; i + 1 < msg.len; i++) {
		if (msg.data[i] == '\r' && msg.data[i + 1] == '\n' &&
		    (i == 0 || (i >= 2 && msg.data[i - 2] == '\r' && msg.data[i - 1] == '\n'))) {
			hlen = i + 2;
			break;
		}
	}
	if (has_8bit(msg.data, hlen))
		utf8 = true;
	/* RFC 6409 8.2/8.3: a submission server may add Message-ID and Date. */
	if (!mail_header_get(msg.data, hlen, "Message-ID", &hdr)) {
		struct buf id;

		buf_init(&id);
		buf_puts(&id, "<");
		ms_random_token(&id, 15);
		buf_printf(&id, "@%s>", conf->general.hostname ? conf->general.hostname : "localhost");
		buf_printf(&prefix, "Message-Id: %s\r\n", id.data);
		buf_reset(&hdr);
		buf_puts(&hdr, id.data);
		buf_free(&id);
	}
	{
		struct buf date;

		buf_init(&date);
		if (!mail_header_get(msg.data, hlen, "Date", &date)) {
			buf_puts(&prefix, "Date: ");
			ms_rfc5322_date(&prefix, time(NULL));
			buf_puts(&prefix, "\r\n");
		}
		buf_free(&date);
	}

	st = cli_store(cli);
	memset(&in, 0, sizeof(in));
	if (o.account != NULL) {
		if (find_account(cli, o.account, &in.account_id) < 0)
			goto out;
	} else if (from.domain != NULL) {
		struct buf key;

		buf_init(&key);
		queue_rcpt_key(&key, from.localpart, from.domain);
		r = store_account_find(st, key.data, &in.account_id, &error);
		buf_free(&key);
		if (r < 0) {
			fprintf(stderr, "mailstead: queue add: %s\n", error);
			goto out;
		}
	}
	if (o.limits && in.account_id == 0) {
		fprintf(stderr, "mailstead: queue add: -limits needs an account (-account)\n");
		goto out;
	}

	{
		struct buf d;

		buf_init(&d);
		buf_printf(&d, "%s/tmp", st->datadir);
		if (ms_mkdir_p(d.data, 0750) < 0) {
			perror(d.data);
			buf_free(&d);
			goto out;
		}
		buf_free(&d);
	}
	fd = store_tmpfile(st, &tmp, &error);
	if (fd < 0) {
		fprintf(stderr, "mailstead: queue add: %s\n", error);
		goto out;
	}
	if (ms_write_all(fd, msg.data, msg.len) < 0 || fsync(fd) < 0) {
		perror(tmp);
		goto out;
	}

	in.path = tmp;
	in.prefix = prefix.data;
	in.prefix_len = prefix.len;
	in.sender_localpart = from.localpart ? from.localpart : "";
	in.sender_domain = from.domain ? from.domain : "";
	in.has_8bit = has_8bit(msg.data, msg.len);
	in.smtputf8 = utf8;
	in.message_id = hdr.data;
	(void)mail_header_get(msg.data, hlen, "Subject", &subj);
	in.subject = subj.data;
	in.require_tls = o.tls;
	in.next_attempt = o.next_attempt;
	in.future_release_request = o.release;
	in.extra = &extra;
	in.strip_extra_headers = true;
	in.check_limits = o.limits;
	in.max_attempts = o.max_attempts;
	in.transport = o.transport;
	if (o.fromid) {
		/* A random fromid per recipient, sent after the sender domain's
		 * catch-all separator so returning DSNs can be matched. */
		fromids = xcalloc(o.nto, sizeof(struct buf));
		for (i = 0; i < o.nto; i++) {
			buf_init(&fromids[i]);
			ms_random_token(&fromids[i], 12);
			rcpts[i].from_id = fromids[i].data;
		}
	}
	r = queue_add(st, &in, rcpts, o.nto, ids, &error);
	if (r != 0) {
		fprintf(stderr, "mailstead: queue add: %s%s\n",
			r > 0 ? "refused: " : "", error);
		goto out;
	}
	for (i = 0; i < o.nto; i++) {
		char b[32];

		cli_put_field(cli_fmt_i64(ids[i], b, sizeof(b)), true);
		cli_put_field(o.to[i], false);
		putchar('\n');
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp != NULL) {
		(void)unlink(tmp);
		free(tmp);
	}
	queue_extra_free(&extra);
	mail_addr_free(&from);
	for (i = 0; i < o.nto; i++)
		mail_addr_free(&to[i]);
	free(to);
	free(rcpts);
	free(ids);
	free(o.to);
	for (i = 0; fromids != NULL && i < o.nto; i++)
		buf_free(&fromids[i]);
	free(fromids);
	buf_free(&msg);
	buf_free(&prefix);
	buf_free(&hdr);
	buf_free(&subj);
	return rc;
}

/* ---- hold rules ---- */

static int
queue_cmd_holdrules(struct cli *cli, int argc, char **argv)
{
	const char *error;

	if (argc == 2 && strcmp(argv[1], "list") == 0) {
		struct queue_hold_rule *v;
		size_t n, i;

		if (queue_holdrule_list(cli_store(cli), &v, &n, &error) < 0) {
			fprintf(stderr, "mailstead: queue holdrules list: %s\n", error);
			return 1;
		}
		printf("id\taccount\tsender_domain\trecipient_domain\n");
		for (i = 0; i < n; i++) {
			char b[32];

			cli_put_field(cli_fmt_i64(v[i].id, b, sizeof(b)), true);
			cli_put_field(v[i].account, false);
			cli_put_field(v[i].sender_domain, false);
			cli_put_field(v[i].recipient_domain, false);
			putchar('\n');
		}
		queue_hold_rules_free(v, n);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "add") == 0) {
		char *sdom = NULL, *rdom = NULL;
		int64_t account_id = 0, id;
		size_t held;
		int k, rc = 1;

		for (k = 2; k < argc; k++) {
			if (k + 1 >= argc) {
				rc = 2;
				goto add_out;
			}
			if (cli_opt_is(argv[k], "account")) {
				if (find_account(cli, argv[++k], &account_id) < 0)
					goto add_out;
			} else if (cli_opt_is(argv[k], "senderdom") && sdom == NULL) {
				if ((sdom = parse_domain_arg(argv[++k])) == NULL)
					goto add_out;
			} else if (cli_opt_is(argv[k], "recipientdom") && rdom == NULL) {
				if ((rdom = parse_domain_arg(argv[++k])) == NULL)
					goto add_out;
			} else {
				rc = 2;
				goto add_out;
			}
		}
		if (queue_holdrule_add(cli_store(cli), account_id, sdom ? sdom : "",
			    rdom ? rdom : "", &id, &held, &error) < 0) {
			fprintf(stderr, "mailstead: queue holdrules add: %s\n", error);
			goto add_out;
		}
		printf("hold rule %lld added; %zu queued message%s put on hold\n",
			(long long)id, held, held == 1 ? "" : "s");
		rc = 0;
add_out:
		free(sdom);
		free(rdom);
		return rc;
	}
	if (argc == 3 && strcmp(argv[1], "remove") == 0) {
		int64_t id;
		int r;

		if (parse_id(argv[2], &id) < 0)
			return 1;
		r = queue_holdrule_remove(cli_store(cli), id, &error);
		if (r < 0)
			fprintf(stderr, "mailstead: queue holdrules remove: %s\n", error);
		else if (r == 0)
			fprintf(stderr, "mailstead: queue holdrules remove: no hold rule %lld\n",
				(long long)id);
		else
			printf("hold rule %lld removed\n", (long long)id);
		return r == 1 ? 0 : 1;
	}
	return 2;
}

/* ---- suppression list ---- */

static void
put_suppression(const struct queue_suppression *s)
{
	char b[64];

	cli_put_field(s->account, true);
	cli_put_field(s->base_address, false);
	cli_put_field(s->original_address, false);
	cli_put_field(s->manual ? "yes" : "no", false);
	cli_put_field(s->reason, false);
	cli_put_field(cli_fmt_time(s->created, b, sizeof(b)), false);
	putchar('\n');
}

#define SUPPRESSION_HEADER "account\tbase_address\toriginal_address\tmanual\treason\tcreated\n"

static int
queue_cmd_suppress(struct cli *cli, int argc, char **argv)
{
	struct mail_addr a;
	struct buf reason;
	const char *error, *sub = argc >= 2 ? argv[1] : "";
	int64_t account_id = 0;
	int r, k, rc = 1;

	if (strcmp(sub, "list") == 0 && argc <= 3) {
		struct queue_suppression *v;
		size_t n, i;

		if (argc == 3 && find_account(cli, argv[2], &account_id) < 0)
			return 1;
		if (queue_suppression_list(cli_store(cli), account_id, &v, &n, &error) < 0) {
			fprintf(stderr, "mailstead: queue suppress list: %s\n", error);
			return 1;
		}
		fputs(SUPPRESSION_HEADER, stdout);
		for (i = 0; i < n; i++)
			put_suppression(&v[i]);
		queue_suppressions_free(v, n);
		return 0;
	}
	if (!((strcmp(sub, "add") == 0 && argc >= 4) ||
	      ((strcmp(sub, "remove") == 0 || strcmp(sub, "lookup") == 0) && argc == 4)))
		return 2;
	if (find_account(cli, argv[2], &account_id) < 0)
		return 1;
	memset(&a, 0, sizeof(a));
	if (parse_addr(argv[3], &a) < 0)
		return 1;
	buf_init(&reason);
	if (strcmp(sub, "add") == 0) {
		for (k = 4; k < argc; k++)
			buf_printf(&reason, k > 4 ? " %s" : "%s", argv[k]);
		r = queue_suppression_add(cli->store, account_id, a.localpart, a.domain, true,
			reason.len ? reason.data : "added with mailstead queue suppress add", &error);
		if (r < 0) {
			fprintf(stderr, "mailstead: queue suppress add: %s\n", error);
		} else {
			struct buf base;

			buf_init(&base);
			queue_base_address(&base, a.localpart, a.domain);
			printf(r == 0 ? "suppressed %s for %s (base address %s)\n" :
				"%s was already suppressed for %s (base address %s)\n",
				argv[3], argv[2], base.data);
			buf_free(&base);
			rc = 0;
		}
	} else if (strcmp(sub, "remove") == 0) {
		r = queue_suppression_remove(cli->store, account_id, a.localpart, a.domain, &error);
		if (r < 0)
			fprintf(stderr, "mailstead: queue suppress remove: %s\n", error);
		else if (r == 0)
			fprintf(stderr, "mailstead: queue suppress remove: %s is not suppressed for %s\n",
				argv[3], argv[2]);
		else
			printf("%s no longer suppressed for %s\n", argv[3], argv[2]);
		rc = r == 1 ? 0 : 1;
	} else {
		struct queue_suppression s;

		r = queue_suppression_lookup(cli->store, account_id, a.localpart, a.domain, &s,
			&error);
		if (r < 0) {
			fprintf(stderr, "mailstead: queue suppress lookup: %s\n", error);
		} else if (r == 0) {
			printf("%s is not suppressed for %s\n", argv[3], argv[2]);
		} else {
			fputs(SUPPRESSION_HEADER, stdout);
			put_suppression(&s);
			queue_suppression_free(&s);
			rc = 0;
		}
	}
	buf_free(&reason);
	mail_addr_free(&a);
	return rc;
}

int
cmd_queue(struct cli *cli, int argc, char **argv)
{
	const char *sub = argc >= 2 ? argv[1] : "";

	if (strcmp(sub, "list") == 0)
		return queue_cmd_list(cli, argc - 1, argv + 1);
	if (strcmp(sub, "add") == 0)
		return queue_cmd_add(cli, argc - 1, argv + 1);
	if (strcmp(sub, "dump") == 0)
		return queue_cmd_dump(cli, argc - 1, argv + 1);
	if (strcmp(sub, "hold") == 0)
		return queue_cmd_hold(cli, argc - 1, argv + 1, true);
	if (strcmp(sub, "unhold") == 0)
		return queue_cmd_hold(cli, argc - 1, argv + 1, false);
	if (strcmp(sub, "drop") == 0)
		return queue_cmd_drop(cli, argc - 1, argv + 1);
	if (strcmp(sub, "holdrules") == 0)
		return queue_cmd_holdrules(cli, argc - 1, argv + 1);
	if (strcmp(sub, "suppress") == 0)
		return queue_cmd_suppress(cli, argc - 1, argv + 1);
	if (strcmp(sub, "webhook") == 0)
		return cmd_queue_webhook(cli, argc - 1, argv + 1);
	if (argc >= 2)
		return cmd_queue_deliver(cli, argc - 1, argv + 1);
	return 2;
}
