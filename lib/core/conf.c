/* mailstead.conf parsing. libinih does the INI syntax; a reader wrapper
 * counts lines so every error can name file:line. Multi-line values are
 * turned off so the count is exact, and a line too long for libinih's line
 * buffer is an error rather than being split into two "lines". */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "conf.h"
#include "log.h"
#include "util.h"

enum conf_type {
	CT_STR,
	CT_LIST,	/* space or comma separated */
	CT_UINT,
	CT_SIZE,
	CT_DURATION,
	CT_LOGLEVEL,
	CT_HOSTPORTS,	/* list of host:port */
	CT_BOOL,
	CT_IPS,		/* list of IP addresses */
};

struct conf_key {
	const char *section;
	const char *name;
	enum conf_type type;
	size_t off;
	const char *dflt;	/* NULL: no default */
	bool required;
	uint64_t min, max;	/* CT_UINT/CT_SIZE/CT_DURATION; CT_STR: min length */
};

#define O(f) offsetof(struct conf, f)

/* Longest line accepted, including the newline; libinih's default of 200
 * is too short for a libpq conninfo with TLS options. */
#define CONF_MAX_LINE 4096

static const struct conf_key keys[] = {
	{ "general", "hostname", CT_STR, O(general.hostname), NULL, true, 1, 0 },
	{ "general", "datadir", CT_STR, O(general.datadir), NULL, true, 1, 0 },
	{ "general", "user", CT_STR, O(general.user), NULL, false, 0, 0 },
	{ "general", "loglevel", CT_LOGLEVEL, O(general.loglevel), "info", false, 0, 0 },
	{ "general", "sqldir", CT_STR, O(general.sqldir), MS_SQLDIR, false, 0, 0 },

	/* An empty conninfo is valid: libpq then uses the PG* environment. */
	{ "database", "conninfo", CT_STR, O(database.conninfo), NULL, true, 0, 0 },
	{ "database", "pool_size", CT_UINT, O(database.pool_size), "16", false, 1, 1000 },

	{ "smtp", "timeout", CT_DURATION, O(smtp.l.timeout), "5m", false, 1, 86400 },
	{ "smtp", "max_connections", CT_UINT, O(smtp.l.max_connections), "500", false, 1, 100000 },
	{ "smtp", "max_message_size", CT_SIZE, O(smtp.max_message_size), "100m", false, 1024, (uint64_t)1 << 40 },
	{ "smtp", "max_recipients", CT_UINT, O(smtp.max_recipients), "1000", false, 1, 100000 },
	{ "smtp", "max_line_length", CT_UINT, O(smtp.max_line_length), "4096", false, 512, 1 << 20 },
	{ "smtp", "localserve_account", CT_STR, O(smtp.localserve_account), "", false, 0, 0 },

	{ "imap", "timeout", CT_DURATION, O(imap.l.timeout), "30m", false, 60, 86400 },
	{ "imap", "max_connections", CT_UINT, O(imap.l.max_connections), "1000", false, 1, 100000 },
	{ "imap", "max_literal_size", CT_SIZE, O(imap.max_literal_size), "100m", false, 1024, (uint64_t)1 << 40 },
	{ "imap", "max_line_length", CT_UINT, O(imap.max_line_length), "65536", false, 1024, 1 << 24 },
	{ "imap", "search_progress_interval", CT_DURATION, O(imap.search_progress_interval), "10s", false, 0, 3600 },

	{ "web", "listen", CT_HOSTPORTS, O(web.listen), "", false, 0, 0 },
	{ "web", "templates", CT_STR, O(web.templates), MS_PKGDATADIR "/templates", false, 1, 0 },
	{ "web", "www", CT_STR, O(web.www), MS_PKGDATADIR "/www", false, 1, 0 },
	{ "web", "admin_socket", CT_STR, O(web.admin_socket), "", false, 0, 0 },
	{ "web", "account_socket", CT_STR, O(web.account_socket), "", false, 0, 0 },
	{ "web", "webapi_socket", CT_STR, O(web.webapi_socket), "", false, 0, 0 },
	{ "web", "webmail_socket", CT_STR, O(web.webmail_socket), "", false, 0, 0 },
	{ "web", "socket_group", CT_STR, O(web.socket_group), "", false, 0, 0 },
	{ "web", "threads", CT_UINT, O(web.threads), "8", false, 1, 256 },
	{ "web", "max_body", CT_SIZE, O(web.max_body), "1m", false, 1024, (uint64_t)1 << 32 },
	{ "web", "max_import", CT_SIZE, O(web.max_import), "256m", false, 1024, (uint64_t)1 << 40 },
	{ "web", "mtasts_mode", CT_STR, O(web.mtasts_mode), "enforce", false, 1, 0 },
	{ "web", "mtasts_max_age", CT_DURATION, O(web.mtasts_max_age), "1d", false, 60, 31557600 },
	{ "web", "admin_session_idle", CT_DURATION, O(web.admin_session_idle), "12h", false, 1, 30 * 86400 },
	{ "web", "account_session_idle", CT_DURATION, O(web.account_session_idle), "24h", false, 1, 30 * 86400 },
	{ "web", "login_failure_delay", CT_DURATION, O(web.login_failure_delay), "1s", false, 0, 60 },
	{ "web", "trust_forwarded", CT_BOOL, O(web.trust_forwarded), "no", false, 0, 0 },
	{ "web", "access_log", CT_BOOL, O(web.access_log), "yes", false, 0, 0 },

	{ "dns", "zone_file", CT_STR, O(dns.zone_file), "", false, 0, 0 },
	{ "dns", "trust_anchor", CT_STR, O(dns.trust_anchor), "", false, 0, 0 },
	{ "dns", "timeout", CT_DURATION, O(dns.timeout), "10s", false, 1, 300 },

	{ "queue", "max_concurrent", CT_UINT, O(queue.max_concurrent), "10", false, 1, 1000 },
	{ "queue", "max_attempts", CT_UINT, O(queue.max_attempts), "8", false, 1, 100 },
	{ "queue", "backoff_ms", CT_UINT, O(queue.backoff_ms), "450000", false, 1, 86400000 },
	{ "queue", "lease", CT_DURATION, O(queue.lease), "30m", false, 1, 86400 },
	{ "queue", "connect_timeout", CT_DURATION, O(queue.connect_timeout), "30s", false, 1, 600 },
	{ "queue", "command_timeout", CT_DURATION, O(queue.command_timeout), "5m", false, 1, 3600 },
	{ "queue", "direct_port", CT_UINT, O(queue.direct_port), "25", false, 1, 65535 },
	{ "queue", "tls_ca_file", CT_STR, O(queue.tls_ca_file), "", false, 0, 0 },
	{ "queue", "mtasts_port", CT_UINT, O(queue.mtasts_port), "443", false, 1, 65535 },
	{ "queue", "ehlo_hostname", CT_STR, O(queue.ehlo_hostname), "", false, 0, 0 },
	{ "queue", "retired_cleanup", CT_DURATION, O(queue.retired_cleanup), "1h", false, 1, 86400 },
	{ "queue", "transport", CT_STR, O(queue.transport), "", false, 0, 0 },
};

#define L(f) offsetof(struct conf_listener_def, f)
#define MAXSIZE ((uint64_t)1 << 40)

/* Keys of [listener NAME] sections; offsets into struct conf_listener_def.
 * Defaults "@..." are resolved in finish_listener. */
static const struct conf_key lkeys[] = {
	{ "listener", "ips", CT_IPS, L(ips), NULL, true, 0, 0 },
	{ "listener", "hostname", CT_STR, L(hostname), NULL, false, 1, 0 },
	{ "listener", "tls_cert", CT_LIST, L(tls_cert), "", false, 0, 0 },
	{ "listener", "tls_key", CT_LIST, L(tls_key), "", false, 0, 0 },
	{ "listener", "tls_min_version", CT_STR, L(tls_min_version), "1.2", false, 1, 0 },
	{ "listener", "tls_session_tickets", CT_BOOL, L(tls_session_tickets), "yes", false, 0, 0 },
	{ "listener", "tls_client_auth", CT_BOOL, L(tls_client_auth), "yes", false, 0, 0 },
	{ "listener", "smtp", CT_UINT, L(smtp), "0", false, 0, 65535 },
	{ "listener", "submission", CT_UINT, L(submission), "0", false, 0, 65535 },
	{ "listener", "submissions", CT_UINT, L(submissions), "0", false, 0, 65535 },
	{ "listener", "imap", CT_UINT, L(imap), "0", false, 0, 65535 },
	{ "listener", "imaps", CT_UINT, L(imaps), "0", false, 0, 65535 },
	{ "listener", "smtp_starttls", CT_BOOL, L(smtp_starttls), "yes", false, 0, 0 },
	{ "listener", "smtp_require_starttls", CT_BOOL, L(smtp_require_starttls), "no", false, 0, 0 },
	{ "listener", "smtp_requiretls", CT_BOOL, L(smtp_requiretls), "yes", false, 0, 0 },
	{ "listener", "submission_require_starttls", CT_BOOL, L(submission_require_starttls), "yes", false, 0, 0 },
	{ "listener", "imap_require_starttls", CT_BOOL, L(imap_require_starttls), "yes", false, 0, 0 },
	{ "listener", "max_message_size", CT_SIZE, L(max_message_size), NULL, false, 1024, MAXSIZE },
	{ "listener", "first_time_sender_delay", CT_DURATION, L(first_time_sender_delay), "15s", false, 0, 3600 },
};

#define T(f) offsetof(struct conf_transport, f)

/* Keys of [transport NAME] sections. */
static const struct conf_key tkeys[] = {
	{ "transport", "type", CT_STR, T(type), NULL, true, 1, 0 },
	{ "transport", "host", CT_STR, T(host), "", false, 0, 0 },
	{ "transport", "port", CT_UINT, T(port), "0", false, 0, 65535 },
	{ "transport", "username", CT_STR, T(username), "", false, 0, 0 },
	{ "transport", "password_file", CT_STR, T(password_file), "", false, 0, 0 },
	{ "transport", "auth_mechanisms", CT_LIST, T(auth_mechanisms), "", false, 0, 0 },
	{ "transport", "starttls", CT_BOOL, T(starttls), "yes", false, 0, 0 },
	{ "transport", "tls_verify", CT_BOOL, T(tls_verify), "yes", false, 0, 0 },
	{ "transport", "disable_ipv4", CT_BOOL, T(disable_ipv4), "no", false, 0, 0 },
	{ "transport", "disable_ipv6", CT_BOOL, T(disable_ipv6), "no", false, 0, 0 },
	{ "transport", "socks_address", CT_STR, T(socks_address), "", false, 0, 0 },
	{ "transport", "remote_ips", CT_LIST, T(remote_ips), "", false, 0, 0 },
	{ "transport", "remote_hostname", CT_STR, T(remote_hostname), "", false, 0, 0 },
	{ "transport", "fail_code", CT_UINT, T(fail_code), "554", false, 400, 599 },
	{ "transport", "fail_message", CT_STR, T(fail_message), "delivery refused by transport", false, 0, 0 },
};

#define MAX_LISTENERS 64
#define MAX_TRANSPORTS 64

struct parse_state {
	struct conf *conf;
	const char *name;
	FILE *fp;
	const char *str;	/* when parsing a string */
	int line;
	bool seen[MS_NELEM(keys)];
	bool (*lseen)[MS_NELEM(lkeys)];	/* per listener */
	bool (*tseen)[MS_NELEM(tkeys)];	/* per transport */
	const char *cur_section;	/* for messages about listener keys */
	struct buf secbuf;
	const char *error;
	int error_line;	/* line of error; 0 when it has none */
};

static void
strlist_free(struct conf_strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void
strlist_parse(struct conf_strlist *l, const char *value)
{
	const char *p = value;

	strlist_free(l);
	while (*p) {
		size_t n;

		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		n = strcspn(p, " ,\t");
		if (n == 0)
			break;
		l->v = xrealloc(l->v, (l->n + 1) * sizeof(char *));
		l->v[l->n++] = xstrndup(p, n);
		p += n;
	}
}

int
conf_split_hostport(const char *s, char **host_r, unsigned *port_r)
{
	const char *colon;
	uint64_t port;
	char *host;

	if (s[0] == '[') {
		/* Brackets only around an IPv6 literal (RFC 3986 IP-literal). */
		const char *end = strchr(s, ']');
		if (end == NULL || end[1] != ':')
			return -1;
		host = xstrndup(s + 1, (size_t)(end - s - 1));
		colon = end + 1;
		if (strchr(host, ':') == NULL || strchr(host, '[') != NULL) {
			free(host);
			return -1;
		}
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || colon == s)
			return -1;
		host = xstrndup(s, (size_t)(colon - s));
		if (strpbrk(host, ":[]") != NULL) {
			free(host);
			return -1;
		}
	}
	if (ms_parse_u64(colon + 1, 0, 65535, &port) < 0) {
		free(host);
		return -1;
	}
	*host_r = host;
	*port_r = (unsigned)port;
	return 0;
}

/* Store value into the field described by k; on error set st->error. */
static int
set_value(struct parse_state *st, char *base, const struct conf_key *k,
	const char *value)
{
	char *field = base + k->off;
	/* Section as the user wrote it, e.g. "listener public". */
	const char *sect = st->cur_section != NULL ? st->cur_section : k->section;
	uint64_t v = 0;
	size_t i;

	switch (k->type) {
	case CT_STR:
		if (strlen(value) < k->min) {
			st->error = ms_err("%s:%d: [%s] %s must not be empty",
				st->name, st->line, sect, k->name);
			return -1;
		}
		free(*(char **)field);
		*(char **)field = xstrdup(value);
		return 0;
	case CT_LIST:
		strlist_parse((struct conf_strlist *)field, value);
		return 0;
	case CT_BOOL: {
		bool b;

		if (ms_parse_bool(value, &b) < 0) {
			st->error = ms_err("%s:%d: [%s] %s: want yes or no, not %s",
				st->name, st->line, sect, k->name, value);
			return -1;
		}
		*(bool *)field = b;
		return 0;
	}
	case CT_IPS: {
		struct conf_strlist *l = (struct conf_strlist *)field;
		unsigned char tmp[16];

		strlist_parse(l, value);
		for (i = 0; i < l->n; i++) {
			if (inet_pton(AF_INET, l->v[i], tmp) != 1 &&
			    inet_pton(AF_INET6, l->v[i], tmp) != 1) {
				st->error = ms_err("%s:%d: [%s] %s: not an IP address: %s",
					st->name, st->line, sect, k->name, l->v[i]);
				return -1;
			}
		}
		if (l->n == 0) {
			st->error = ms_err("%s:%d: [%s] %s: at least one IP address is needed",
				st->name, st->line, sect, k->name);
			return -1;
		}
		return 0;
	}
	case CT_HOSTPORTS: {
		struct conf_strlist *l = (struct conf_strlist *)field;

		strlist_parse(l, value);
		for (i = 0; i < l->n; i++) {
			char *host;
			unsigned port;

			if (conf_split_hostport(l->v[i], &host, &port) < 0) {
				st->error = ms_err("%s:%d: [%s] %s: bad address %s (want host:port or [ipv6]:port)",
					st->name, st->line, sect, k->name, l->v[i]);
				return -1;
			}
			free(host);
		}
		return 0;
	}
	case CT_LOGLEVEL: {
		enum ms_log_level lvl;

		if (log_parse_level(value, &lvl) < 0) {
			st->error = ms_err("%s:%d: [%s] %s: unknown level %s (want debug, info, warn or error)",
				st->name, st->line, sect, k->name, value);
			return -1;
		}
		free(*(char **)field);
		*(char **)field = xstrdup(value);
		return 0;
	}
	case CT_UINT:
		if (ms_parse_u64(value, 0, UINT64_MAX, &v) < 0) {
			st->error = ms_err("%s:%d: [%s] %s: not a number: %s",
				st->name, st->line, sect, k->name, value);
			return -1;
		}
		break;
	case CT_SIZE:
		if (ms_parse_size(value, &v) < 0) {
			st->error = ms_err("%s:%d: [%s] %s: not a size (like 25m or 1g): %s",
				st->name, st->line, sect, k->name, value);
			return -1;
		}
		break;
	case CT_DURATION:
		if (ms_parse_duration(value, &v) < 0) {
			st->error = ms_err("%s:%d: [%s] %s: not a duration (like 30s, 5m, 2h): %s",
				st->name, st->line, sect, k->name, value);
			return -1;
		}
		break;
	}
	if (v < k->min || v > k->max) {
		st->error = ms_err("%s:%d: [%s] %s: %s is out of range (%llu to %llu)",
			st->name, st->line, sect, k->name, value,
			(unsigned long long)k->min, (unsigned long long)k->max);
		return -1;
	}
	*(uint64_t *)field = v;
	return 0;
}

/* A key in [listener NAME]: find or create the listener and set it. */
static int
listener_value(struct parse_state *st, const char *lname, const char *name,
	const char *value)
{
	struct conf *conf = st->conf;
	struct conf_listener_def *l = NULL;
	size_t i, li;

	for (li = 0; li < conf->nlisteners; li++) {
		if (strcmp(conf->listeners[li].name, lname) == 0) {
			l = &conf->listeners[li];
			break;
		}
	}
	if (l == NULL) {
		if (lname[0] == '\0' || strchr(lname, ' ') != NULL) {
			st->error = ms_err("%s:%d: bad listener name [listener %s] (want one word)",
				st->name, st->line, lname);
			st->error_line = st->line;
			return 0;
		}
		if (conf->nlisteners >= MAX_LISTENERS) {
			st->error = ms_err("%s:%d: too many listeners (at most %d)",
				st->name, st->line, MAX_LISTENERS);
			st->error_line = st->line;
			return 0;
		}
		conf->listeners = xrealloc(conf->listeners,
			(conf->nlisteners + 1) * sizeof(*conf->listeners));
		st->lseen = xrealloc(st->lseen, (conf->nlisteners + 1) * sizeof(*st->lseen));
		li = conf->nlisteners++;
		l = &conf->listeners[li];
		memset(l, 0, sizeof(*l));
		memset(st->lseen[li], 0, sizeof(st->lseen[li]));
		l->name = xstrdup(lname);
		l->line = st->line;
	}
	if (name == NULL)
		return 1;
	for (i = 0; i < MS_NELEM(lkeys); i++) {
		if (strcmp(lkeys[i].name, name) != 0)
			continue;
		if (st->lseen[li][i]) {
			st->error = ms_err("%s:%d: [listener %s] %s is set twice",
				st->name, st->line, lname, name);
			st->error_line = st->line;
			return 0;
		}
		st->lseen[li][i] = true;
		buf_reset(&st->secbuf);
		buf_printf(&st->secbuf, "listener %s", lname);
		st->cur_section = st->secbuf.data;
		if (set_value(st, (char *)l, &lkeys[i], value) < 0) {
			st->error_line = st->line;
			return 0;
		}
		st->cur_section = NULL;
		return 1;
	}
	st->error = ms_err("%s:%d: unknown key %s in [listener %s]", st->name,
		st->line, name, lname);
	st->error_line = st->line;
	return 0;
}

/* Defaults and cross-checks of one listener after the whole file is read. */
static void
finish_listener(struct parse_state *st, size_t li)
{
	struct conf *conf = st->conf;
	struct conf_listener_def *l = &conf->listeners[li];
	uint64_t ports[5];
	size_t i, j;

	for (i = 0; i < MS_NELEM(lkeys) && st->error == NULL; i++) {
		if (st->lseen[li][i])
			continue;
		if (lkeys[i].required) {
			st->error = ms_err("%s:%d: [listener %s] %s is required", st->name,
				l->line, l->name, lkeys[i].name);
			return;
		}
		if (lkeys[i].dflt != NULL && set_value(st, (char *)l, &lkeys[i], lkeys[i].dflt) < 0)
			ms_panic("bad default for listener.%s", lkeys[i].name);
	}
	if (st->error != NULL)
		return;
	if (l->hostname == NULL)
		l->hostname = xstrdup(conf->general.hostname);
	if (l->max_message_size == 0)
		l->max_message_size = conf->smtp.max_message_size;
	if (strcmp(l->tls_min_version, "1.2") != 0 && strcmp(l->tls_min_version, "1.3") != 0) {
		st->error = ms_err("%s:%d: [listener %s] tls_min_version must be 1.2 or 1.3",
			st->name, l->line, l->name);
		return;
	}
	if (l->tls_cert.n != l->tls_key.n) {
		st->error = ms_err("%s:%d: [listener %s] tls_cert and tls_key must list the same number of files",
			st->name, l->line, l->name);
		return;
	}
	if (l->tls_cert.n == 0 && (l->submissions || l->imaps)) {
		st->error = ms_err("%s:%d: [listener %s] submissions and imaps need tls_cert and tls_key",
			st->name, l->line, l->name);
		return;
	}
	ports[0] = l->smtp;
	ports[1] = l->submission;
	ports[2] = l->submissions;
	ports[3] = l->imap;
	ports[4] = l->imaps;
	for (i = 0; i < 5; i++)
		for (j = i + 1; j < 5; j++)
			if (ports[i] != 0 && ports[i] == ports[j]) {
				st->error = ms_err("%s:%d: [listener %s] port %llu is used twice",
					st->name, l->line, l->name, (unsigned long long)ports[i]);
				return;
			}
}

/* A key in [transport NAME]: find or create the transport and set it. */
static int
transport_value(struct parse_state *st, const char *tname, const char *name,
	const char *value)
{
	struct conf *conf = st->conf;
	struct conf_transport *t = NULL;
	size_t i, ti;

	for (ti = 0; ti < conf->ntransports; ti++) {
		if (strcmp(conf->transports[ti].name, tname) == 0) {
			t = &conf->transports[ti];
			break;
		}
	}
	if (t == NULL) {
		if (tname[0] == '\0' || strchr(tname, ' ') != NULL ||
		    strcmp(tname, "direct") == 0) {
			st->error = ms_err("%s:%d: bad transport name [transport %s] (want one word,"
				" not \"direct\")", st->name, st->line, tname);
			st->error_line = st->line;
			return 0;
		}
		if (conf->ntransports >= MAX_TRANSPORTS) {
			st->error = ms_err("%s:%d: too many transports (at most %d)",
				st->name, st->line, MAX_TRANSPORTS);
			st->error_line = st->line;
			return 0;
		}
		conf->transports = xrealloc(conf->transports,
			(conf->ntransports + 1) * sizeof(*conf->transports));
		st->tseen = xrealloc(st->tseen, (conf->ntransports + 1) * sizeof(*st->tseen));
		ti = conf->ntransports++;
		t = &conf->transports[ti];
		memset(t, 0, sizeof(*t));
		memset(st->tseen[ti], 0, sizeof(st->tseen[ti]));
		t->name = xstrdup(tname);
		t->line = st->line;
	}
	if (name == NULL)
		return 1;
	for (i = 0; i < MS_NELEM(tkeys); i++) {
		if (strcmp(tkeys[i].name, name) != 0)
			continue;
		if (st->tseen[ti][i]) {
			st->error = ms_err("%s:%d: [transport %s] %s is set twice",
				st->name, st->line, tname, name);
			st->error_line = st->line;
			return 0;
		}
		st->tseen[ti][i] = true;
		buf_reset(&st->secbuf);
		buf_printf(&st->secbuf, "transport %s", tname);
		st->cur_section = st->secbuf.data;
		if (set_value(st, (char *)t, &tkeys[i], value) < 0) {
			st->error_line = st->line;
			return 0;
		}
		st->cur_section = NULL;
		return 1;
	}
	st->error = ms_err("%s:%d: unknown key %s in [transport %s]", st->name,
		st->line, name, tname);
	st->error_line = st->line;
	return 0;
}

/* Defaults and checks of one transport; the password file is read here
 * (start-up runs as root, the daemon may not read it later). */
static void
finish_transport(struct parse_state *st, size_t ti)
{
	struct conf_transport *t = &st->conf->transports[ti];
	static const char *const types[] = {
		"direct", "smtp", "submission", "submissions", "socks", "fail",
	};
	bool known = false;
	size_t i;

	for (i = 0; i < MS_NELEM(tkeys) && st->error == NULL; i++) {
		if (st->tseen[ti][i])
			continue;
		if (tkeys[i].required) {
			st->error = ms_err("%s:%d: [transport %s] %s is required", st->name,
				t->line, t->name, tkeys[i].name);
			return;
		}
		if (tkeys[i].dflt != NULL && set_value(st, (char *)t, &tkeys[i], tkeys[i].dflt) < 0)
			ms_panic("bad default for transport.%s", tkeys[i].name);
	}
	if (st->error != NULL)
		return;
	for (i = 0; i < MS_NELEM(types); i++)
		known |= strcmp(t->type, types[i]) == 0;
	if (!known) {
		st->error = ms_err("%s:%d: [transport %s] type must be direct, smtp, submission,"
			" submissions, socks or fail", st->name, t->line, t->name);
		return;
	}
	if ((strcmp(t->type, "smtp") == 0 || strncmp(t->type, "submission", 10) == 0) &&
	    t->host[0] == '\0') {
		st->error = ms_err("%s:%d: [transport %s] %s needs host", st->name, t->line,
			t->name, t->type);
		return;
	}
	if (strcmp(t->type, "socks") == 0) {
		char *h;
		unsigned p;

		if (conf_split_hostport(t->socks_address, &h, &p) < 0) {
			st->error = ms_err("%s:%d: [transport %s] socks needs socks_address host:port",
				st->name, t->line, t->name);
			return;
		}
		free(h);
	}
	if (t->disable_ipv4 && t->disable_ipv6) {
		st->error = ms_err("%s:%d: [transport %s] cannot disable both IPv4 and IPv6",
			st->name, t->line, t->name);
		return;
	}
	if (t->port == 0)
		t->port = strcmp(t->type, "submission") == 0 ? 587 :
			strcmp(t->type, "submissions") == 0 ? 465 : 25;
	if (t->password_file[0] != '\0') {
		struct buf pw;

		buf_init(&pw);
		if (ms_read_file(t->password_file, &pw) < 0) {
			st->error = ms_err("%s:%d: [transport %s] password_file %s: %s", st->name,
				t->line, t->name, t->password_file, strerror(errno));
			buf_free(&pw);
			return;
		}
		pw.len = strcspn(pw.data, "\r\n");
		pw.data[pw.len] = '\0';
		t->password = xstrdup(pw.data);
		buf_wipe(&pw);
		buf_free(&pw);
	}
}

const struct conf_transport *
conf_transport_find(const struct conf *conf, const char *name)
{
	size_t i;

	for (i = 0; i < conf->ntransports; i++)
		if (strcmp(conf->transports[i].name, name) == 0)
			return &conf->transports[i];
	return NULL;
}

static int
handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_state *st = user;
	bool known_section = false;
	size_t i;

	if (st->error != NULL)
		return 0;
	if (name != NULL && name[0] == '\0')
		return 0;	/* "= value": libinih reports a syntax error */
	if (section[0] == '\0' && name != NULL) {
		st->error = ms_err("%s:%d: %s is outside any [section]", st->name,
			st->line, name);
		st->error_line = st->line;
		return 0;
	}
	if (strncmp(section, "listener ", 9) == 0)
		return listener_value(st, section + 9, name, value);
	if (strncmp(section, "transport ", 10) == 0)
		return transport_value(st, section + 10, name, value);
	for (i = 0; i < MS_NELEM(keys); i++) {
		if (strcmp(keys[i].section, section) != 0)
			continue;
		known_section = true;
		if (name == NULL || strcmp(keys[i].name, name) != 0)
			continue;
		if (st->seen[i]) {
			st->error = ms_err("%s:%d: [%s] %s is set twice",
				st->name, st->line, section, name);
			st->error_line = st->line;
			return 0;
		}
		st->seen[i] = true;
		if (set_value(st, (char *)st->conf, &keys[i], value) < 0) {
			st->error_line = st->line;
			return 0;
		}
		return 1;
	}
	if (!known_section)
		st->error = ms_err("%s:%d: unknown section [%s]", st->name, st->line, section);
	else if (name != NULL)
		st->error = ms_err("%s:%d: unknown key %s in [%s]", st->name, st->line, name, section);
	if (st->error != NULL)
		st->error_line = st->line;
	return st->error == NULL;
}

static char *
reader(char *str, int num, void *stream)
{
	struct parse_state *st = stream;
	bool more;
	size_t n;

	if (st->error != NULL)
		return NULL;
	if (st->fp != NULL) {
		if (fgets(str, num, st->fp) == NULL) {
			if (ferror(st->fp)) {
				st->error = ms_err("%s: cannot read: %s", st->name,
					strerror(errno));
				st->error_line = 0;
			}
			return NULL;
		}
		n = strlen(str);
		more = false;
		if (n == (size_t)num - 1 && str[n - 1] != '\n') {
			int c = getc(st->fp);

			more = c != EOF;
			if (more)
				(void)ungetc(c, st->fp);
		}
	} else {
		if (*st->str == '\0')
			return NULL;
		n = strcspn(st->str, "\n");
		if (st->str[n] == '\n')
			n++;
		if (n > (size_t)num - 1)
			n = (size_t)num - 1;
		memcpy(str, st->str, n);
		str[n] = '\0';
		st->str += n;
		more = *st->str != '\0';
	}
	st->line++;
	/* A full buffer without the newline: the rest of the line would come
	 * back as a line of its own, so stop here. */
	if (n == (size_t)num - 1 && str[n - 1] != '\n' && more) {
		st->error = ms_err("%s:%d: line too long (more than %d characters)",
			st->name, st->line, num - 2);
		st->error_line = st->line;
		return NULL;
	}
	return str;
}

static int
finish(struct parse_state *st, int rc, struct conf **conf_r, const char **error_r)
{
	struct conf *conf = st->conf;
	size_t i;

	/* libinih keeps going after an error and returns the line of the
	 * first one; report whichever came first, ours or its syntax error. */
	if (rc > 0 && (st->error == NULL || (st->error_line > 0 && rc < st->error_line)))
		st->error = ms_err("%s:%d: syntax error (want [section] or key = value)",
			st->name, rc);
	if (st->error == NULL && rc < 0)
		st->error = ms_err("%s: cannot parse: out of memory", st->name);
	for (i = 0; i < MS_NELEM(keys) && st->error == NULL; i++) {
		if (st->seen[i])
			continue;
		if (keys[i].required) {
			st->error = ms_err("%s: [%s] %s is required", st->name,
				keys[i].section, keys[i].name);
			break;
		}
		if (keys[i].dflt != NULL && set_value(st, (char *)conf, &keys[i], keys[i].dflt) < 0)
			ms_panic("bad default for %s.%s", keys[i].section, keys[i].name);
	}
	for (i = 0; i < conf->nlisteners && st->error == NULL; i++)
		finish_listener(st, i);
	for (i = 0; i < conf->ntransports && st->error == NULL; i++)
		finish_transport(st, i);
	/* The default transport must exist now: a typo would otherwise only
	 * show as every delivery failing with "unknown transport". */
	if (st->error == NULL && conf->queue.transport[0] != '\0' &&
	    strcmp(conf->queue.transport, "direct") != 0 &&
	    conf_transport_find(conf, conf->queue.transport) == NULL)
		st->error = ms_err("%s: [queue] transport %s: there is no [transport %s] section",
			st->name, conf->queue.transport, conf->queue.transport);
	if (st->error == NULL && conf->smtp.localserve_account[0] != '\0') {
		const char *at = strrchr(conf->smtp.localserve_account, '@');

		if (at == NULL || at == conf->smtp.localserve_account || at[1] == '\0')
			st->error = ms_err("%s: [smtp] localserve_account %s: want an address "
				"localpart@domain", st->name, conf->smtp.localserve_account);
	}
	if (st->error == NULL && strcmp(conf->web.mtasts_mode, "enforce") != 0 &&
	    strcmp(conf->web.mtasts_mode, "testing") != 0 && strcmp(conf->web.mtasts_mode, "none") != 0)
		st->error = ms_err("%s: [web] mtasts_mode must be enforce, testing or none", st->name);
	free(st->lseen);
	st->lseen = NULL;
	free(st->tseen);
	st->tseen = NULL;
	buf_free(&st->secbuf);
	if (st->error != NULL) {
		*error_r = st->error;
		conf_free(&conf);
		return -1;
	}
	*conf_r = conf;
	return 0;
}

/* Debian's libinih has its compile-time options as globals; set the ones
 * the line numbers and limits above depend on. */
static int
parse(struct parse_state *st)
{
	ini_allow_multiline = false;
	ini_use_stack = true;
	ini_max_line = CONF_MAX_LINE;
	return ini_parse_stream(reader, st, handler, st);
}

int
conf_load(const char *path, struct conf **conf_r, const char **error_r)
{
	struct parse_state st;
	int rc;

	memset(&st, 0, sizeof(st));
	buf_init(&st.secbuf);
	st.name = path;
	st.fp = fopen(path, "r");
	if (st.fp == NULL) {
		*error_r = ms_err("%s: cannot open: %s", path, strerror(errno));
		buf_free(&st.secbuf);
		return -1;
	}
	st.conf = xcalloc(1, sizeof(*st.conf));
	st.conf->path = xstrdup(path);
	rc = parse(&st);
	fclose(st.fp);
	return finish(&st, rc, conf_r, error_r);
}

int
conf_load_string(const char *name, const char *text, struct conf **conf_r,
	const char **error_r)
{
	struct parse_state st;
	int rc;

	memset(&st, 0, sizeof(st));
	buf_init(&st.secbuf);
	st.name = name;
	st.str = text;
	st.conf = xcalloc(1, sizeof(*st.conf));
	st.conf->path = xstrdup(name);
	rc = parse(&st);
	return finish(&st, rc, conf_r, error_r);
}

static void
free_fields(char *base, const struct conf_key *k, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char *field = base + k[i].off;

		if (k[i].type == CT_STR || k[i].type == CT_LOGLEVEL)
			free(*(char **)field);
		else if (k[i].type == CT_LIST || k[i].type == CT_HOSTPORTS || k[i].type == CT_IPS)
			strlist_free((struct conf_strlist *)field);
	}
}

void
conf_free(struct conf **confp)
{
	struct conf *conf = *confp;
	size_t i;

	if (conf == NULL)
		return;
	free_fields((char *)conf, keys, MS_NELEM(keys));
	for (i = 0; i < conf->nlisteners; i++) {
		free_fields((char *)&conf->listeners[i], lkeys, MS_NELEM(lkeys));
		free(conf->listeners[i].name);
	}
	free(conf->listeners);
	for (i = 0; i < conf->ntransports; i++) {
		free_fields((char *)&conf->transports[i], tkeys, MS_NELEM(tkeys));
		free(conf->transports[i].name);
		if (conf->transports[i].password != NULL) {
			explicit_bzero(conf->transports[i].password,
				strlen(conf->transports[i].password));
			free(conf->transports[i].password);
		}
	}
	free(conf->transports);
	free(conf->path);
	free(conf);
	*confp = NULL;
}

char *
conf_hostport(const char *ip, unsigned port)
{
	return strchr(ip, ':') != NULL ? xasprintf("[%s]:%u", ip, port) :
		xasprintf("%s:%u", ip, port);
}
