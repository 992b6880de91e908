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

struct conf_listener {
	struct conf_strlist listen;	/* empty: service disabled */
	uint64_t timeout;	/* seconds of client inactivity */
	uint64_t max_connections;	/* total concurrent connections */
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
	} smtp;

	struct {
		struct conf_listener l;
		uint64_t max_literal_size;
		uint64_t max_line_length;
	} imap;

	struct {
		struct conf_strlist listen;	/* libmicrohttpd server (localserve) */
	} web;
};

/* Load and validate path. Returns 0 and a new conf in *conf_r, or -1 with
 * a "file:line: message" error in *error_r (per-thread storage). */
int conf_load(const char *path, struct conf **conf_r, const char **error_r);
/* Load from a string (for tests); name is used in error messages. */
int conf_load_string(const char *name, const char *text, struct conf **conf_r,
	const char **error_r);
void conf_free(struct conf **conf);

/* Split "host:port" or "[v6]:port" into a malloc'd host and a port.
 * Returns 0 or -1. */
int conf_split_hostport(const char *s, char **host_r, unsigned *port_r);

#endif
