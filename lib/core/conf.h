/* The static configuration file, mailstead.conf (INI, parsed with libinih).
 * Sections and keys are described by one table in conf.c; unknown keys,
 * bad values and missing required keys are reported as "file:line: message".
 * The dynamic configuration (domains, accounts, ...) lives in the database. */
#ifndef MS_CONF_H
#define MS_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A list of "host:port" listen addresses ("127.0.0.1:25", "[::1]:25"). */
struct conf_strlist {
	char **v;
	size_t n;
};

/* Settings shared by all listeners of one protocol. */
struct conf_listener {
	uint64_t timeout;	/* seconds of client inactivity */
	uint64_t max_connections;	/* total concurrent connections */
};

/* One [listener NAME] section: the addresses, host name and TLS files of a
 * set of IPs, and which services run on them (port 0: service off). */
struct conf_listener_def {
	char *name;
	int line;		/* where the section starts, for errors */
	struct conf_strlist ips;	/* "0.0.0.0", "::", "127.0.0.1" ... */
	char *hostname;		/* default: [general] hostname */
	struct conf_strlist tls_cert;	/* PEM certificate chain files */
	struct conf_strlist tls_key;	/* matching private key files */
	char *tls_min_version;	/* "1.2" or "1.3" */
	bool tls_session_tickets;
	bool tls_client_auth;	/* ask for client certificates (EXTERNAL) */
	uint64_t smtp, submission, submissions, imap, imaps;	/* ports */
	bool smtp_starttls;	/* offer STARTTLS on smtp (when TLS files exist) */
	bool smtp_require_starttls;	/* refuse mail before STARTTLS */
	bool smtp_requiretls;	/* announce REQUIRETLS (RFC 8689) after TLS */
	bool submission_require_starttls;	/* no AUTH before TLS */
	bool imap_require_starttls;	/* LOGINDISABLED before TLS */
	uint64_t max_message_size;	/* default: [smtp] max_message_size */
	uint64_t first_time_sender_delay;	/* seconds, incoming smtp */
};

/* One [transport NAME] section: how mailstead-queued delivers when a route
 * (routes table) selects NAME (FEATURES.md section 7, Transports). */
struct conf_transport {
	char *name;
	int line;
	/* "direct" (MX lookup, with family choice), "smtp" (relay to a
	 * smarthost, no auth), "submission" (587, STARTTLS, auth),
	 * "submissions" (465, implicit TLS, auth), "socks" (direct delivery
	 * through a SOCKS5 proxy), "fail" (fail every delivery). */
	char *type;
	char *host;		/* smtp/submission(s): the smarthost */
	uint64_t port;		/* 0: 25, 587 or 465 by type */
	char *username;		/* submission(s): SASL user */
	char *password_file;	/* its password, first line (read at start) */
	char *password;		/* loaded from password_file, never logged */
	struct conf_strlist auth_mechanisms;	/* allowed; empty: strongest offered */
	bool starttls;		/* smtp: STARTTLS when offered (default yes) */
	bool tls_verify;	/* smtp/submission(s): verify the certificate */
	bool disable_ipv4, disable_ipv6;	/* direct/socks address families */
	char *socks_address;	/* socks: "host:port" of the proxy */
	struct conf_strlist remote_ips;	/* socks: our IPs as seen behind the proxy */
	char *remote_hostname;	/* socks: EHLO name behind the proxy */
	uint64_t fail_code;	/* fail: SMTP code given (4xx or 5xx) */
	char *fail_message;	/* fail: its text */
};

struct conf {
	char *path;

	struct {
		char *hostname;	/* our host name, in EHLO, greetings, Received */
		char *datadir;	/* message files, temporary files */
		char *user;	/* unprivileged user to switch to when root */
		char *loglevel;
		char *sqldir;	/* migrations; default: installed share dir */
	} general;

	struct {
		char *conninfo;	/* libpq connection string */
		uint64_t pool_size;
	} database;

	struct {
		struct conf_listener l;
		uint64_t max_message_size;	/* bytes */
		uint64_t max_recipients;
		uint64_t max_line_length;
		/* Testing only (set by mailstead localserve): on port 25, mail
		 * for addresses that are not ours is delivered to this account
		 * address instead of refused, and special localparts simulate
		 * failures (README, localserve). "" : off. */
		char *localserve_account;
	} smtp;

	struct {
		struct conf_listener l;
		uint64_t max_literal_size;
		uint64_t max_line_length;
		/* Seconds between "* OK [INPROGRESS ...]" responses of a long
		 * search (RFC 9585); 0: at every step (for tests). */
		uint64_t search_progress_interval;
	} imap;

	struct {
		struct conf_strlist listen;	/* libmicrohttpd server (localserve) */
		char *templates;	/* directory of templates/ */
		char *www;		/* directory of www/ (static assets) */
		/* FastCGI unix sockets of the programs; "" means standard
		 * input (spawn-fcgi, systemd socket activation). */
		char *admin_socket, *account_socket, *webapi_socket, *webmail_socket;
		char *socket_group;	/* group of the sockets (the web server's) */
		uint64_t threads;	/* FastCGI worker threads per program */
		uint64_t max_body;	/* bytes of a request body */
		/* Bytes of an uploaded archive (POST of the account
		 * import), instead of max_body. */
		uint64_t max_import;
		/* The MTA-STS policy served on mta-sts.<domain> (RFC 8461
		 * section 3.2): "enforce", "testing" or "none", and max_age. */
		char *mtasts_mode;
		uint64_t mtasts_max_age;	/* seconds */
		uint64_t admin_session_idle;	/* seconds */
		uint64_t account_session_idle;	/* seconds, also webmail */
		uint64_t login_failure_delay;	/* seconds before a failed login answers */
		/* Trust X-Forwarded-Proto/-For (a proxy in front of the web
		 * server that does not pass HTTPS/REMOTE_ADDR itself). */
		bool trust_forwarded;
		bool access_log;	/* one logfmt line per request */
	} web;

	struct {
		/* Zone file answering all lookups (tests, offline use); ""
		 * for the system resolver (MAILSTEAD_DNS_ZONE overrides). */
		char *zone_file;
		char *trust_anchor;	/* "" for the default root key file */
		uint64_t timeout;	/* seconds per lookup */
	} dns;

	/* mailstead-queued (outgoing delivery). */
	struct {
		uint64_t max_concurrent;	/* deliveries (connections) at once */
		uint64_t max_attempts;		/* default for rows with 0 */
		/* First retry delay in milliseconds, doubled after each
		 * failed attempt (FEATURES.md section 4: 7.5 minutes). Tests
		 * make it small instead of waiting. */
		uint64_t backoff_ms;
		uint64_t lease;			/* seconds a claimed delivery is protected */
		uint64_t connect_timeout;	/* seconds per TCP connect */
		uint64_t command_timeout;	/* seconds per SMTP reply */
		uint64_t direct_port;		/* port of direct delivery (25; tests) */
		char *tls_ca_file;		/* extra CA for certificate checks ("" none) */
		uint64_t mtasts_port;		/* HTTPS port of MTA-STS policy hosts (443; tests) */
		char *ehlo_hostname;		/* "" : [general] hostname */
		uint64_t retired_cleanup;	/* seconds between removals of old history */
		/* The [transport NAME] used when neither the message nor a
		 * route names one (a smarthost for everything); "" : direct. */
		char *transport;
	} queue;

	struct conf_listener_def *listeners;
	size_t nlisteners;
	struct conf_transport *transports;
	size_t ntransports;
};

/* The transport named name, or NULL. */
const struct conf_transport *conf_transport_find(const struct conf *conf, const char *name);

/* Load and validate path. Returns 0 and a new conf in *conf_r, or -1 with
 * a "file:line: message" error in *error_r (per-thread storage). */
int conf_load(const char *path, struct conf **conf_r, const char **error_r);
/* Load from a string (for tests); name is used in error messages. */
int conf_load_string(const char *name, const char *text, struct conf **conf_r,
	const char **error_r);
void conf_free(struct conf **conf);

/* Format ip and port as "ip:port" or "[ipv6]:port" (malloc'd). */
char *conf_hostport(const char *ip, unsigned port);

/* Split "host:port" or "[v6]:port" into a malloc'd host and a port.
 * Returns 0 or -1. */
int conf_split_hostport(const char *s, char **host_r, unsigned *port_r);

#endif
