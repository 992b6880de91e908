/* The libmicrohttpd front-end, for "mailstead localserve": the same apps
 * as the FastCGI programs, in-process, one thread per connection. The raw
 * request target comes from the URI log callback (so path and query are
 * parsed by web_parse_uri like behind nginx). Each request runs in a
 * thread of its own: a buffered answer is handed to libmicrohttpd when the
 * handler is done; a streamed one (SSE) goes through a pipe that
 * libmicrohttpd reads while the handler writes. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/conf.h"
#include "core/log.h"
#include "core/util.h"
#include "web/web.h"

struct web_mhd {
	struct MHD_Daemon *d;
	struct web_env *env;
	const struct web_app *const *apps;
	size_t napps;
	uint64_t max_body;
};

enum mreq_state { MREQ_RUNNING, MREQ_STREAMING, MREQ_DONE };

struct mreq {
	struct web_mhd *m;
	struct web_request req;
	struct web_response resp;
	bool headers_read;
	size_t nheaders;
	uint64_t max_body;	/* of this request (web_body_limit) */
	pthread_mutex_t mu;
	pthread_cond_t cond;
	enum mreq_state state;
	int refs;		/* libmicrohttpd and the handler thread */
	int wfd;		/* pipe write end while streaming */
};

static void
mreq_unref(struct mreq *r)
{
	int left;

	pthread_mutex_lock(&r->mu);
	left = --r->refs;
	pthread_mutex_unlock(&r->mu);
	if (left > 0)
		return;
	web_response_free(&r->resp);
	web_request_free(&r->req);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cond);
	free(r);
}

static void *
uri_log(void *cls, const char *uri, struct MHD_Connection *con)
{
	struct mreq *r = xcalloc(1, sizeof(*r));

	(void)con;
	r->m = cls;
	web_request_init(&r->req);
	r->req.uri = web_strdup(&r->req, uri);
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cond, NULL);
	r->refs = 1;
	r->wfd = -1;
	return r;
}

static void
completed(void *cls, struct MHD_Connection *con, void **con_cls,
	enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)con;
	(void)toe;
	if (*con_cls != NULL)
		mreq_unref(*con_cls);
	*con_cls = NULL;
}

static enum MHD_Result
count_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct mreq *r = cls;

	(void)kind;
	(void)key;
	(void)value;
	r->nheaders++;
	return MHD_YES;
}

static enum MHD_Result
store_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct mreq *r = cls;
	struct web_request *req = &r->req;
	char *name;
	size_t i;

	(void)kind;
	if (req->nheaders >= WEB_MAX_HEADERS)
		return MHD_NO;
	name = web_strdup(req, key);
	for (i = 0; name[i] != '\0'; i++)
		name[i] = ms_tolower(name[i]);
	req->headers[req->nheaders].name = name;
	req->headers[req->nheaders].value = web_strdup(req, value != NULL ? value : "");
	req->nheaders++;
	return MHD_YES;
}

/* ---- output to libmicrohttpd ---- */

static int
out_begin(void *ctx, struct web_response *resp)
{
	struct mreq *r = ctx;

	if (resp->complete)
		return 0;	/* handed over when the thread is done */
	pthread_mutex_lock(&r->mu);
	r->state = MREQ_STREAMING;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->mu);
	return 0;
}

static int
out_write(void *ctx, const void *p, size_t n)
{
	struct mreq *r = ctx;
	const char *c = p;

	if (r->resp.complete)
		return 0;
	while (n > 0) {
		ssize_t w = write(r->wfd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
out_flush(void *ctx)
{
	(void)ctx;
	return 0;
}

static const struct web_out_ops mhd_ops = { out_begin, out_write, out_flush };

static void *
handler_thread(void *arg)
{
	struct mreq *r = arg;
	struct web_mhd *m = r->m;

	web_handle(m->env, m->apps, m->napps, &r->req, &r->resp);
	pthread_mutex_lock(&r->mu);
	if (r->wfd >= 0 && r->state == MREQ_STREAMING) {
		close(r->wfd);	/* EOF for libmicrohttpd */
		r->wfd = -1;
	}
	r->state = MREQ_DONE;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->mu);
	mreq_unref(r);
	return NULL;
}

static void
add_headers(struct MHD_Response *mr, const struct buf *headers)
{
	const char *p = headers->data;

	while (*p != '\0') {
		const char *eol = strstr(p, "\r\n"), *colon;
		char *name, *value;

		if (eol == NULL)
			break;
		colon = memchr(p, ':', (size_t)(eol - p));
		if (colon != NULL) {
			name = xstrndup(p, (size_t)(colon - p));
			value = xstrndup(colon + 2, (size_t)(eol - colon - 2));
			MHD_add_response_header(mr, name, value);
			free(name);
			free(value);
		}
		p = eol + 2;
	}
}

static enum MHD_Result
respond_simple(struct MHD_Connection *con, unsigned status, const char *text)
{
	struct MHD_Response *mr = MHD_create_response_from_buffer(strlen(text), (void *)text,
		MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	MHD_add_response_header(mr, "Content-Type", "text/plain; charset=utf-8");
	ret = MHD_queue_response(con, status, mr);
	MHD_destroy_response(mr);
	return ret;
}

static enum MHD_Result
access_handler(void *cls, struct MHD_Connection *con, const char *url, const char *method,
	const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct web_mhd *m = cls;
	struct mreq *r = *con_cls;
	struct web_request *req;
	struct MHD_Response *mr;
	enum MHD_Result ret;
	pthread_t t;
	int pfd[2];

	(void)url;
	(void)version;
	if (r == NULL)
		return respond_simple(con, 500, "no request state\n");
	req = &r->req;
	if (!r->headers_read) {
		const union MHD_ConnectionInfo *ci;
		const char *host;

		r->headers_read = true;
		req->method = web_strdup(req, method);
		MHD_get_connection_values(con, MHD_HEADER_KIND, count_header, r);
		if (r->nheaders > WEB_MAX_HEADERS)
			return respond_simple(con, 400, "too many header fields\n");
		req->headers = web_alloc(req, (r->nheaders + 1) * sizeof(struct web_kv));
		MHD_get_connection_values(con, MHD_HEADER_KIND, store_header, r);
		ci = MHD_get_connection_info(con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		if (ci != NULL && ci->client_addr != NULL) {
			char ip[INET6_ADDRSTRLEN] = "";
			const struct sockaddr *sa = ci->client_addr;

			if (sa->sa_family == AF_INET)
				inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof(ip));
			else if (sa->sa_family == AF_INET6)
				inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip,
					sizeof(ip));
			req->remote_ip = web_strdup(req, ip);
		}
		host = web_header(req, "host");
		if (host != NULL) {
			req->host = web_parse_host(req, host);
			if (req->host == NULL)
				return respond_simple(con, 400, "bad Host header\n");
		}
		r->max_body = web_body_limit(m->env, m->apps, m->napps, req->method,
			req->uri != NULL ? req->uri : "/");
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (!req->body_too_large && req->body.len + *upload_data_size <= r->max_body)
			buf_append(&req->body, upload_data, *upload_data_size);
		else {
			req->body_too_large = true;
			buf_reset(&req->body);
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	/* The whole request is here: run it. */
	if (pipe(pfd) < 0)
		return respond_simple(con, 500, "out of file descriptors\n");
	r->wfd = pfd[1];
	web_response_init(&r->resp, &mhd_ops, r);
	pthread_mutex_lock(&r->mu);
	r->refs++;
	pthread_mutex_unlock(&r->mu);
	if (pthread_create(&t, NULL, handler_thread, r) != 0) {
		r->refs--;
		close(pfd[0]);
		close(pfd[1]);
		r->wfd = -1;
		return respond_simple(con, 500, "cannot start a thread\n");
	}
	pthread_detach(t);
	pthread_mutex_lock(&r->mu);
	while (r->state == MREQ_RUNNING)
		pthread_cond_wait(&r->cond, &r->mu);
	if (r->state == MREQ_DONE) {
		/* Buffered: the thread is done with the response. */
		pthread_mutex_unlock(&r->mu);
		close(pfd[0]);
		if (r->wfd >= 0) {
			close(r->wfd);
			r->wfd = -1;
		}
		mr = MHD_create_response_from_buffer(r->resp.body.len, r->resp.body.data,
			MHD_RESPMEM_MUST_COPY);
	} else {
		/* Streaming: status and headers are final; the thread writes the
		 * body into the pipe. */
		pthread_mutex_unlock(&r->mu);
		mr = MHD_create_response_from_pipe(pfd[0]);
	}
	if (mr == NULL)
		return MHD_NO;
	add_headers(mr, &r->resp.headers);
	ret = MHD_queue_response(con, r->resp.status, mr);
	MHD_destroy_response(mr);
	return ret;
}

struct web_mhd *
web_mhd_start(struct web_env *env, const struct web_app *const *apps, size_t napps,
	const char *hostport, const char **error_r)
{
	struct sockaddr_in sin;
	struct web_mhd *m;
	char *host;
	unsigned port;

	if (conf_split_hostport(hostport, &host, &port) < 0) {
		*error_r = ms_err("bad web listen address %s", hostport);
		return NULL;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
		*error_r = ms_err("web listen address must be an IPv4 address: %s", hostport);
		free(host);
		return NULL;
	}
	free(host);
	m = xcalloc(1, sizeof(*m));
	m->env = env;
	m->apps = apps;
	m->napps = napps;
	m->max_body = web_env_conf(env)->web.max_body;
	m->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
		MHD_USE_ERROR_LOG, (uint16_t)port, NULL, NULL, access_handler, m,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
		MHD_OPTION_URI_LOG_CALLBACK, uri_log, m,
		MHD_OPTION_NOTIFY_COMPLETED, completed, m,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)120,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)256,
		MHD_OPTION_END);
	if (m->d == NULL) {
		*error_r = ms_err("cannot start web server on %s", hostport);
		free(m);
		return NULL;
	}
	return m;
}

void
web_mhd_stop(struct web_mhd **mp)
{
	struct web_mhd *m = *mp;

	if (m == NULL)
		return;
	MHD_stop_daemon(m->d);
	free(m);
	*mp = NULL;
}
