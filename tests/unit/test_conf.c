/* Unit tests for lib/core/conf: a full mailstead.conf, defaults, every
 * error with its exact "file:line: message" text, files, and host:port. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/conf.h"
#include "core/util.h"

/* The three required keys; tests append sections after it. Lines 1-5. */
#define MINIMAL \
	"[general]\n" \
	"hostname = mx.example.com\n" \
	"datadir = /var/lib/mailstead\n" \
	"[database]\n" \
	"conninfo = dbname=mailstead\n"

static const char full[] =
	"; mailstead.conf with every key\n"
	"# both comment styles\n"
	"\n"
	"[general]\n"
	"hostname = mail.example.org\n"
	"datadir=/srv/mail\n"
	"user   =   mailstead\n"
	"loglevel = DEBUG\n"
	"sqldir = /opt/mailstead/sql\n"
	"\n"
	"[database]\n"
	"conninfo = host=/run/postgresql dbname=mail user=mail\n"
	"pool_size = 32\n"
	"\n"
	"[smtp]\n"
	"timeout = 2m\n"
	"max_connections = 200\n"
	"max_message_size = 50m\n"
	"max_recipients = 250\n"
	"max_line_length = 2048\n"
	"\n"
	"[imap]\n"
	"timeout = 1h\n"
	"max_connections = 300\n"
	"max_literal_size = 1g\n"
	"max_line_length = 8192\n"
	"\n"
	"[web]\n"
	"listen = 127.0.0.1:8080\n"
	"\n"
	"[listener public]\n"
	"ips = 0.0.0.0, ::\n"
	"hostname = mx1.example.org\n"
	"tls_cert = /etc/a.pem /etc/b.pem\n"
	"tls_key = /etc/a.key /etc/b.key\n"
	"tls_min_version = 1.3\n"
	"tls_session_tickets = no\n"
	"tls_client_auth = no\n"
	"smtp = 25\n"
	"submission = 587\n"
	"submissions = 465\n"
	"imap = 143\n"
	"imaps = 993\n"
	"smtp_starttls = yes\n"
	"smtp_require_starttls = yes\n"
	"smtp_requiretls = no\n"
	"submission_require_starttls = no\n"
	"imap_require_starttls = no\n"
	"max_message_size = 20m\n"
	"first_time_sender_delay = 0\n"
	"\n"
	"[listener internal]\n"
	"ips = 127.0.0.1\n"
	"imap = 1143\n";

static void
test_full_config(void **state)
{
	struct conf *c = NULL;
	const char *err = NULL;

	assert_int_equal(conf_load_string("full.conf", full, &c, &err), 0);
	assert_non_null(c);
	assert_string_equal(c->path, "full.conf");
	assert_string_equal(c->general.hostname, "mail.example.org");
	assert_string_equal(c->general.datadir, "/srv/mail");
	assert_string_equal(c->general.user, "mailstead");
	assert_string_equal(c->general.loglevel, "DEBUG");
	assert_string_equal(c->general.sqldir, "/opt/mailstead/sql");
	assert_string_equal(c->database.conninfo, "host=/run/postgresql dbname=mail user=mail");
	assert_int_equal(c->database.pool_size, 32);

	assert_int_equal(c->smtp.l.timeout, 120);
	assert_int_equal(c->smtp.l.max_connections, 200);
	assert_int_equal(c->smtp.max_message_size, 50ULL << 20);
	assert_int_equal(c->smtp.max_recipients, 250);
	assert_int_equal(c->smtp.max_line_length, 2048);

	assert_int_equal(c->imap.l.timeout, 3600);
	assert_int_equal(c->imap.l.max_connections, 300);
	assert_int_equal(c->imap.max_literal_size, 1ULL << 30);
	assert_int_equal(c->imap.max_line_length, 8192);

	assert_int_equal(c->web.listen.n, 1);
	assert_string_equal(c->web.listen.v[0], "127.0.0.1:8080");

	assert_int_equal(c->nlisteners, 2);
	{
		const struct conf_listener_def *l = &c->listeners[0], *l2 = &c->listeners[1];

		assert_string_equal(l->name, "public");
		assert_int_equal(l->ips.n, 2);
		assert_string_equal(l->ips.v[1], "::");
		assert_string_equal(l->hostname, "mx1.example.org");
		assert_int_equal(l->tls_cert.n, 2);
		assert_string_equal(l->tls_key.v[1], "/etc/b.key");
		assert_string_equal(l->tls_min_version, "1.3");
		assert_false(l->tls_session_tickets);
		assert_false(l->tls_client_auth);
		assert_int_equal(l->smtp, 25);
		assert_int_equal(l->submission, 587);
		assert_int_equal(l->submissions, 465);
		assert_int_equal(l->imap, 143);
		assert_int_equal(l->imaps, 993);
		assert_true(l->smtp_require_starttls);
		assert_false(l->smtp_requiretls);
		assert_false(l->submission_require_starttls);
		assert_false(l->imap_require_starttls);
		assert_int_equal(l->max_message_size, 20ULL << 20);
		assert_int_equal(l->first_time_sender_delay, 0);
		/* Defaults of a listener. */
		assert_string_equal(l2->name, "internal");
		assert_string_equal(l2->hostname, "mail.example.org");
		assert_int_equal(l2->smtp, 0);
		assert_int_equal(l2->imap, 1143);
		assert_int_equal(l2->tls_cert.n, 0);
		assert_string_equal(l2->tls_min_version, "1.2");
		assert_true(l2->tls_session_tickets);
		assert_true(l2->tls_client_auth);
		assert_true(l2->smtp_starttls);
		assert_true(l2->smtp_requiretls);
		assert_true(l2->submission_require_starttls);
		assert_true(l2->imap_require_starttls);
		assert_int_equal(l2->max_message_size, 50ULL << 20);
		assert_int_equal(l2->first_time_sender_delay, 15);
	}
	conf_free(&c);
	assert_null(c);
}


static void
test_defaults(void **state)
{
	struct conf *c = NULL;
	const char *err = NULL;

	assert_int_equal(conf_load_string("min.conf", MINIMAL, &c, &err), 0);
	assert_string_equal(c->general.hostname, "mx.example.com");
	assert_string_equal(c->general.datadir, "/var/lib/mailstead");
	assert_null(c->general.user);
	assert_string_equal(c->general.loglevel, "info");
	assert_string_equal(c->general.sqldir, MS_SQLDIR);
	assert_string_equal(c->database.conninfo, "dbname=mailstead");
	assert_int_equal(c->database.pool_size, 16);

	/* No listeners: no service runs. */
	assert_int_equal(c->nlisteners, 0);
	assert_int_equal(c->smtp.l.timeout, 300);
	assert_int_equal(c->smtp.l.max_connections, 500);
	assert_int_equal(c->smtp.max_message_size, 100ULL << 20);
	assert_int_equal(c->smtp.max_recipients, 1000);
	assert_int_equal(c->smtp.max_line_length, 4096);

	assert_int_equal(c->imap.l.timeout, 1800);
	assert_int_equal(c->imap.l.max_connections, 1000);
	assert_int_equal(c->imap.max_literal_size, 100ULL << 20);
	assert_int_equal(c->imap.max_line_length, 65536);

	assert_int_equal(c->web.listen.n, 0);
	conf_free(&c);
}

static void
test_syntax_variants(void **state)
{
	struct conf *c = NULL;
	const char *err = NULL;

	/* CRLF line ends, an inline comment, indentation, "key: value",
	 * and an explicitly empty listen list. */
	assert_int_equal(conf_load_string("v.conf",
		"[general]\r\n"
		"  hostname = mx.example.com ; our name\r\n"
		"datadir: /data\r\n"
		"[database]\r\n"
		"conninfo =\r\n"
		"[web]\r\n"
		"listen =\r\n"
		"[smtp]\r\n"
		"max_recipients = 5 ; five\r\n", &c, &err), 0);
	assert_string_equal(c->general.hostname, "mx.example.com");
	assert_string_equal(c->general.datadir, "/data");
	/* libpq reads an empty conninfo as "use PG* variables". */
	assert_string_equal(c->database.conninfo, "");
	assert_int_equal(c->web.listen.n, 0);
	assert_int_equal(c->smtp.max_recipients, 5);
	conf_free(&c);
}

static void
test_range_boundaries(void **state)
{
	static const struct {
		const char *section, *line;
		size_t off;
		uint64_t want;
	} ok[] = {
		{ "database", "pool_size = 1", offsetof(struct conf, database.pool_size), 1 },
		{ "database", "pool_size = 1000", offsetof(struct conf, database.pool_size), 1000 },
		{ "smtp", "max_message_size = 1k", offsetof(struct conf, smtp.max_message_size), 1024 },
		{ "smtp", "max_message_size = 1024g", offsetof(struct conf, smtp.max_message_size), 1ULL << 40 },
		{ "smtp", "timeout = 1", offsetof(struct conf, smtp.l.timeout), 1 },
		{ "smtp", "timeout = 1d", offsetof(struct conf, smtp.l.timeout), 86400 },
		{ "imap", "timeout = 1m", offsetof(struct conf, imap.l.timeout), 60 },
		{ "imap", "max_line_length = 1024", offsetof(struct conf, imap.max_line_length), 1024 },
		{ "imap", "max_line_length = 16777216", offsetof(struct conf, imap.max_line_length), 1 << 24 },
	};
	size_t i;

	for (i = 0; i < MS_NELEM(ok); i++) {
		struct conf *c = NULL;
		const char *err = "unset";
		char text[512];

		(void)snprintf(text, sizeof(text), MINIMAL "[%s]\n%s\n", ok[i].section, ok[i].line);
		if (conf_load_string("t", text, &c, &err) != 0)
			fail_msg("rejected \"%s\": %s", ok[i].line, err);
		assert_int_equal(*(uint64_t *)((char *)c + ok[i].off), ok[i].want);
		conf_free(&c);
	}
}

/* Load text, expect failure with exactly want, and no conf returned. */
static void
expect_error(const char *text, const char *want)
{
	struct conf *c = (struct conf *)&c;	/* sentinel */
	const char *err = NULL;

	if (conf_load_string("t.conf", text, &c, &err) != -1)
		fail_msg("accepted config; wanted \"%s\"", want);
	assert_ptr_equal(c, (struct conf *)&c);
	assert_non_null(err);
	assert_string_equal(err, want);
}

static void
test_listener_errors(void **state)
{
	expect_error(MINIMAL "[listener a]\nsmtp = 25\n",
		"t.conf:7: [listener a] ips is required");
	expect_error(MINIMAL "[listener a]\nips = 1.2.3\n",
		"t.conf:7: [listener a] ips: not an IP address: 1.2.3");
	expect_error(MINIMAL "[listener a]\nips = 127.0.0.1\nsmtp = 70000\n",
		"t.conf:8: [listener a] smtp: 70000 is out of range (0 to 65535)");
	expect_error(MINIMAL "[listener a]\nips = 127.0.0.1\nsmtp = 25\nimap = 25\n",
		"t.conf:7: [listener a] port 25 is used twice");
	expect_error(MINIMAL "[listener a]\nips = 127.0.0.1\nsubmissions = 465\n",
		"t.conf:7: [listener a] submissions and imaps need tls_cert and tls_key");
	expect_error(MINIMAL "[listener a]\nips = 127.0.0.1\ntls_cert = a b\ntls_key = a\n",
		"t.conf:7: [listener a] tls_cert and tls_key must list the same number of files");
	expect_error(MINIMAL "[listener a]\nips = ::1\ntls_min_version = 1.1\n",
		"t.conf:7: [listener a] tls_min_version must be 1.2 or 1.3");
	expect_error(MINIMAL "[listener a]\nips = ::1\nsmtp_starttls = maybe\n",
		"t.conf:8: [listener a] smtp_starttls: want yes or no, not maybe");
	expect_error(MINIMAL "[listener a]\nips = ::1\nbogus = 1\n",
		"t.conf:8: unknown key bogus in [listener a]");
	expect_error(MINIMAL "[listener a]\nips = ::1\nips = ::1\n",
		"t.conf:8: [listener a] ips is set twice");
	expect_error(MINIMAL "[listener a b]\nips = ::1\n",
		"t.conf:7: bad listener name [listener a b] (want one word)");
}

static void
test_error_unknown_section(void **state)
{
	expect_error(MINIMAL "[smtpd]\nlisten = 127.0.0.1:25\n",
		"t.conf:7: unknown section [smtpd]");
	expect_error("hostname = x\n" MINIMAL,
		"t.conf:1: hostname is outside any [section]");
}

static void
test_error_unknown_key(void **state)
{
	expect_error(MINIMAL "[smtp]\nmax_rcpt = 10\n",
		"t.conf:7: unknown key max_rcpt in [smtp]");
	/* Keys are per section: hostname is not an smtp key. */
	expect_error(MINIMAL "[smtp]\nhostname = x\n",
		"t.conf:7: unknown key hostname in [smtp]");
}

static void
test_error_set_twice(void **state)
{
	expect_error(MINIMAL "[smtp]\ntimeout = 5m\nmax_recipients = 5\ntimeout = 6m\n",
		"t.conf:9: [smtp] timeout is set twice");
	/* Also across two [general] sections. */
	expect_error(MINIMAL "[general]\nhostname = other\n",
		"t.conf:7: [general] hostname is set twice");
}

static void
test_error_bad_number(void **state)
{
	expect_error(MINIMAL "[smtp]\nmax_recipients = 10x\n",
		"t.conf:7: [smtp] max_recipients: not a number: 10x");
	expect_error(MINIMAL "[smtp]\nmax_recipients = -1\n",
		"t.conf:7: [smtp] max_recipients: not a number: -1");
	expect_error(MINIMAL "[database]\npool_size =\n",
		"t.conf:7: [database] pool_size: not a number: ");
	expect_error(MINIMAL "[database]\npool_size = 99999999999999999999\n",
		"t.conf:7: [database] pool_size: not a number: 99999999999999999999");
}

static void
test_error_out_of_range(void **state)
{
	expect_error(MINIMAL "[database]\npool_size = 0\n",
		"t.conf:7: [database] pool_size: 0 is out of range (1 to 1000)");
	expect_error(MINIMAL "[database]\npool_size = 1001\n",
		"t.conf:7: [database] pool_size: 1001 is out of range (1 to 1000)");
	expect_error(MINIMAL "[smtp]\nmax_message_size = 1023\n",
		"t.conf:7: [smtp] max_message_size: 1023 is out of range (1024 to 1099511627776)");
	expect_error(MINIMAL "[smtp]\nmax_message_size = 1025g\n",
		"t.conf:7: [smtp] max_message_size: 1025g is out of range (1024 to 1099511627776)");
	expect_error(MINIMAL "[imap]\ntimeout = 30s\n",
		"t.conf:7: [imap] timeout: 30s is out of range (60 to 86400)");
	expect_error(MINIMAL "[smtp]\ntimeout = 0\n",
		"t.conf:7: [smtp] timeout: 0 is out of range (1 to 86400)");
	expect_error(MINIMAL "[smtp]\nmax_line_length = 511\n",
		"t.conf:7: [smtp] max_line_length: 511 is out of range (512 to 1048576)");
}

static void
test_error_bad_size(void **state)
{
	expect_error(MINIMAL "[smtp]\nmax_message_size = 10q\n",
		"t.conf:7: [smtp] max_message_size: not a size (like 25m or 1g): 10q");
	expect_error(MINIMAL "[imap]\nmax_literal_size = 1.5m\n",
		"t.conf:7: [imap] max_literal_size: not a size (like 25m or 1g): 1.5m");
	expect_error(MINIMAL "[imap]\nmax_literal_size = 17179869184g\n",
		"t.conf:7: [imap] max_literal_size: not a size (like 25m or 1g): 17179869184g");
}

static void
test_error_bad_duration(void **state)
{
	expect_error(MINIMAL "[imap]\ntimeout = 1w\n",
		"t.conf:7: [imap] timeout: not a duration (like 30s, 5m, 2h): 1w");
	expect_error(MINIMAL "[smtp]\ntimeout = 5 m\n",
		"t.conf:7: [smtp] timeout: not a duration (like 30s, 5m, 2h): 5 m");
}

static void
test_error_bad_hostport(void **state)
{
	expect_error(MINIMAL "[web]\nlisten = 127.0.0.1\n",
		"t.conf:7: [web] listen: bad address 127.0.0.1 (want host:port or [ipv6]:port)");
	expect_error(MINIMAL "[web]\nlisten = [::1]:143 ::1:993\n",
		"t.conf:7: [web] listen: bad address ::1:993 (want host:port or [ipv6]:port)");
	expect_error(MINIMAL "[web]\nlisten = localhost:70000\n",
		"t.conf:7: [web] listen: bad address localhost:70000 (want host:port or [ipv6]:port)");
}

static void
test_error_bad_loglevel(void **state)
{
	expect_error("[general]\nloglevel = loud\n",
		"t.conf:2: [general] loglevel: unknown level loud (want debug, info, warn or error)");
}

static void
test_error_missing_required(void **state)
{
	expect_error("[general]\ndatadir = /d\n[database]\nconninfo = x\n",
		"t.conf: [general] hostname is required");
	expect_error("[general]\nhostname = h\n[database]\nconninfo = x\n",
		"t.conf: [general] datadir is required");
	expect_error("[general]\nhostname = h\ndatadir = /d\n",
		"t.conf: [database] conninfo is required");
	expect_error("", "t.conf: [general] hostname is required");
	expect_error("; only a comment\n", "t.conf: [general] hostname is required");
}

static void
test_error_empty_required(void **state)
{
	expect_error("[general]\nhostname =\ndatadir = /d\n[database]\nconninfo = x\n",
		"t.conf:2: [general] hostname must not be empty");
	expect_error("[general]\nhostname = h\ndatadir = ; none\n[database]\nconninfo = x\n",
		"t.conf:3: [general] datadir must not be empty");
}

static void
test_error_syntax(void **state)
{
	expect_error(MINIMAL "[smtp]\nthis line has no equals sign\n\n\n\n",
		"t.conf:7: syntax error (want [section] or key = value)");
	expect_error(MINIMAL "[smtp\n", "t.conf:6: syntax error (want [section] or key = value)");
	expect_error("[general]\n= value\n", "t.conf:2: syntax error (want [section] or key = value)");
	/* The first error in the file is the one reported, whichever kind. */
	expect_error("[general]\njunk\nhostname = h\nbogus = 1\n",
		"t.conf:2: syntax error (want [section] or key = value)");
	expect_error("[general]\nbogus = 1\njunk\n",
		"t.conf:2: unknown key bogus in [general]");
}

static void
test_long_lines(void **state)
{
	struct conf *c = NULL;
	const char *err = NULL;
	struct buf t, v;
	size_t n;

	/* A long libpq conninfo (TLS options) is a legitimate line. */
	buf_init(&v);
	for (n = 0; n < 40; n++)
		buf_printf(&v, "%sopt%zu=/etc/ssl/private/some-long-name.pem", n ? " " : "", n);
	buf_init(&t);
	buf_printf(&t, "[general]\nhostname = h\ndatadir = /d\n[database]\nconninfo = %s\n", v.data);
	assert_true(v.len > 1000);
	assert_int_equal(conf_load_string("t.conf", t.data, &c, &err), 0);
	assert_string_equal(c->database.conninfo, v.data);
	conf_free(&c);

	/* 4094 characters before the newline fit; 4095 do not, and the
	 * error names the line instead of parsing its tail as a new line. */
	buf_reset(&t);
	buf_puts(&t, "[general]\nhostname = h\ndatadir = /d\n[database]\nconninfo = ");
	for (n = strlen("conninfo = "); n < 4094; n++)
		buf_putc(&t, n % 10 == 0 ? '=' : 'x');
	buf_puts(&t, "\n");
	assert_int_equal(conf_load_string("t.conf", t.data, &c, &err), 0);
	assert_int_equal(strlen(c->database.conninfo), 4094 - strlen("conninfo = "));
	conf_free(&c);

	buf_truncate(&t, t.len - 1);
	buf_puts(&t, "x\n[smtp]\n");
	expect_error(t.data, "t.conf:5: line too long (more than 4094 characters)");
	buf_free(&t);
	buf_free(&v);
}

static char *
write_temp(const char *text)
{
	char *path = xstrdup("/tmp/ms-test-conf-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(ms_write_all(fd, text, strlen(text)), 0);
	assert_int_equal(close(fd), 0);
	return path;
}

static void
test_load_file(void **state)
{
	struct conf *c = NULL;
	const char *err = NULL;
	char *path = write_temp(full);

	assert_int_equal(conf_load(path, &c, &err), 0);
	assert_string_equal(c->path, path);
	assert_string_equal(c->general.hostname, "mail.example.org");
	assert_int_equal(c->nlisteners, 2);
	assert_int_equal(c->imap.max_literal_size, 1ULL << 30);
	conf_free(&c);
	assert_int_equal(unlink(path), 0);
	free(path);
}

static void
test_load_file_errors(void **state)
{
	struct conf *c = NULL;
	const char *err = NULL;
	char *path, want[256], dir[] = "/tmp/ms-test-conf-dir-XXXXXX";
	struct buf t;
	size_t n;

	path = write_temp(MINIMAL "[imap]\n\nmax_connections = lots\n");
	assert_int_equal(conf_load(path, &c, &err), -1);
	assert_null(c);
	(void)snprintf(want, sizeof(want), "%s:8: [imap] max_connections: not a number: lots", path);
	assert_string_equal(err, want);
	assert_int_equal(unlink(path), 0);
	free(path);

	/* Too-long line through stdio, too. */
	buf_init(&t);
	buf_puts(&t, "[general]\n; ");
	for (n = 0; n < 5000; n++)
		buf_putc(&t, 'c');
	buf_puts(&t, "\nhostname = h\n");
	path = write_temp(t.data);
	buf_free(&t);
	assert_int_equal(conf_load(path, &c, &err), -1);
	(void)snprintf(want, sizeof(want), "%s:2: line too long (more than 4094 characters)", path);
	assert_string_equal(err, want);
	assert_int_equal(unlink(path), 0);
	free(path);

	assert_int_equal(conf_load("/nonexistent/mailstead.conf", &c, &err), -1);
	assert_null(c);
	assert_string_equal(err, "/nonexistent/mailstead.conf: cannot open: No such file or directory");

	/* A directory opens but cannot be read: say so, instead of
	 * complaining that required keys are missing. */
	assert_non_null(mkdtemp(dir));
	assert_int_equal(conf_load(dir, &c, &err), -1);
	(void)snprintf(want, sizeof(want), "%s: cannot read: Is a directory", dir);
	assert_string_equal(err, want);
	assert_int_equal(rmdir(dir), 0);
}

static void
test_conf_free_null(void **state)
{
	struct conf *c = NULL;

	conf_free(&c);
	assert_null(c);
}

static void
test_split_hostport_ok(void **state)
{
	static const struct {
		const char *s, *host;
		unsigned port;
	} ok[] = {
		{ "127.0.0.1:25", "127.0.0.1", 25 },
		{ "0.0.0.0:587", "0.0.0.0", 587 },
		{ "localhost:143", "localhost", 143 },
		{ "mx.example.com:65535", "mx.example.com", 65535 },
		{ "[::1]:25", "::1", 25 },
		{ "[::]:993", "::", 993 },
		{ "[2001:db8::25]:1", "2001:db8::25", 1 },
		{ "[fe80::1%eth0]:25", "fe80::1%eth0", 25 },
	};
	size_t i;

	for (i = 0; i < MS_NELEM(ok); i++) {
		char *host = NULL;
		unsigned port = 0;

		if (conf_split_hostport(ok[i].s, &host, &port) != 0)
			fail_msg("rejected \"%s\"", ok[i].s);
		assert_string_equal(host, ok[i].host);
		assert_int_equal(port, ok[i].port);
		free(host);
	}
}

static void
test_split_hostport_bad(void **state)
{
	static const char *const bad[] = {
		"", ":", ":25", "127.0.0.1", "127.0.0.1:", "host:65536", "host:99999999999",
		"host:-1", "host:+25", "host: 25", "host:25 ", "host:0x19", "host:25a",
		"::1:25", "::1", "[::1]", "[::1]25", "[::1]:", "[::1:25", "[::1]]:25",
		"[::1]:25]", "[]:25", "[localhost]:25", "[127.0.0.1]:25", "a]:25",
		"a[b:25", "[[::1]]:25",
	};
	size_t i;

	for (i = 0; i < MS_NELEM(bad); i++) {
		char *host = (char *)"untouched";
		unsigned port = 7;

		if (conf_split_hostport(bad[i], &host, &port) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_string_equal(host, "untouched");
		assert_int_equal(port, 7);
	}
}

/* [queue] transport names the default transport: it must be a [transport]
 * section (or "direct"); [smtp] localserve_account must be an address. */
static void
test_queue_transport_and_localserve(void **state)
{
	struct conf *c = NULL;
	const char *err = NULL;

	assert_int_equal(conf_load_string("t.conf", MINIMAL, &c, &err), 0);
	assert_string_equal(c->queue.transport, "");
	assert_string_equal(c->smtp.localserve_account, "");
	conf_free(&c);

	assert_int_equal(conf_load_string("t.conf", MINIMAL
		"[queue]\ntransport = relay\n"
		"[transport relay]\ntype = smtp\nhost = 127.0.0.1\nport = 1025\n"
		"[smtp]\nlocalserve_account = you@localhost\n", &c, &err), 0);
	assert_string_equal(c->queue.transport, "relay");
	assert_non_null(conf_transport_find(c, c->queue.transport));
	assert_string_equal(c->smtp.localserve_account, "you@localhost");
	conf_free(&c);

	/* "direct" needs no section. */
	assert_int_equal(conf_load_string("t.conf", MINIMAL "[queue]\ntransport = direct\n",
		&c, &err), 0);
	conf_free(&c);

	expect_error(MINIMAL "[queue]\ntransport = relay\n",
		"t.conf: [queue] transport relay: there is no [transport relay] section");
	expect_error(MINIMAL "[queue]\ntransport = Relay\n"
		"[transport relay]\ntype = smtp\nhost = 127.0.0.1\n",
		"t.conf: [queue] transport Relay: there is no [transport Relay] section");
	expect_error(MINIMAL "[smtp]\nlocalserve_account = you\n",
		"t.conf: [smtp] localserve_account you: want an address localpart@domain");
	expect_error(MINIMAL "[smtp]\nlocalserve_account = @localhost\n",
		"t.conf: [smtp] localserve_account @localhost: want an address localpart@domain");
	expect_error(MINIMAL "[smtp]\nlocalserve_account = you@\n",
		"t.conf: [smtp] localserve_account you@: want an address localpart@domain");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_config),
		cmocka_unit_test(test_listener_errors),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_syntax_variants),
		cmocka_unit_test(test_range_boundaries),
		cmocka_unit_test(test_error_unknown_section),
		cmocka_unit_test(test_error_unknown_key),
		cmocka_unit_test(test_error_set_twice),
		cmocka_unit_test(test_error_bad_number),
		cmocka_unit_test(test_error_out_of_range),
		cmocka_unit_test(test_error_bad_size),
		cmocka_unit_test(test_error_bad_duration),
		cmocka_unit_test(test_error_bad_hostport),
		cmocka_unit_test(test_error_bad_loglevel),
		cmocka_unit_test(test_error_missing_required),
		cmocka_unit_test(test_error_empty_required),
		cmocka_unit_test(test_error_syntax),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_load_file_errors),
		cmocka_unit_test(test_conf_free_null),
		cmocka_unit_test(test_split_hostport_ok),
		cmocka_unit_test(test_split_hostport_bad),
		cmocka_unit_test(test_queue_transport_and_localserve),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
