/* Internals of lib/web shared by its files; programs use web.h only. */
#ifndef MS_WEB_PRIVATE_H
#define MS_WEB_PRIVATE_H

#include <pthread.h>

#include "web/web.h"

struct ratelimit;
struct db_listener;
struct web_sessions;
struct web_files;

struct web_env {
	struct conf *conf;
	struct db_pool *pool;
	struct store *st;
	char *templates_dir, *www_dir;
	struct ratelimit *auth_failures;
	struct web_sessions *sessions;	/* web_session.c */
	struct web_files *files;	/* web_static.c */
	struct db_listener *listener;

	/* Host names the admin app answers besides IPs and localhost. */
	char **config_hosts;
	size_t nconfig_hosts;
	/* Client-settings domains, reloaded when older than a few seconds. */
	pthread_mutex_t hosts_lock;
	char **client_hosts;
	size_t nclient_hosts;
	/* autoconfig./autodiscover./mta-sts.<domain> of enabled domains. */
	char **wellknown_hosts;
	size_t nwellknown_hosts;
	int64_t client_hosts_ms;
};

#define WEB_SESSION_CHANNEL "mailstead_web_sessions"

/* web_session.c */
struct web_sessions *web_sessions_new(void);
void web_sessions_free(struct web_sessions **s);
/* NOTIFY callback: payload is the hex SHA-256 of a removed session token,
 * NULL after a lost listener connection (forget everything). */
void web_sessions_notify(void *ctx, const char *channel, const char *payload);
/* Check the session cookie (and the CSRF token when csrf is non-NULL; an
 * empty csrf is refused) for req's app. On success fills req's session
 * fields and returns true; otherwise answers resp (JSON error for API
 * calls, 403/429 text otherwise) and returns false. */
bool web_auth(struct web_request *req, struct web_response *resp, bool is_api, bool need_csrf,
	const char *csrf);
/* Status for an API error code. */
unsigned web_error_status(const char *code);
/* Answer an API error. */
void web_api_error_resp(struct web_request *req, struct web_response *resp, unsigned status,
	const char *code, const char *message);

/* web_static.c */
struct web_files *web_files_new(void);
void web_files_free(struct web_files **f);

#endif
