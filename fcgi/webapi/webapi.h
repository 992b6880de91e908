/* mailstead-webapi: the HTTP/JSON API for applications at /webapi/v0/<Method>
 * (FEATURES.md section 5, webapi; the seeds on the webapi and webhooks):
 * HTTP Basic authentication with an account's login address, the request
 * as a JSON body or as form field "request", the answer as JSON, errors as
 * {"Code": ..., "Message": ...} (400 for the caller's mistakes, 500 for
 * ours). Applications need only an HTTP and a JSON library.
 *
 * webapi.c: dispatch, authentication, the documentation page, the
 * suppression and message methods; webapi_send.c: Send (the request to
 * lib/submit's submit_send); webapi_req.c: request parsing and checking
 * (no database, unit-tested and fuzzed). */
#ifndef MS_FCGI_WEBAPI_H
#define MS_FCGI_WEBAPI_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "core/buf.h"
#include "mail/compose.h"
#include "store/store_rules.h"
#include "web/web.h"

extern const struct web_app webapi_app;

/* ---- requests (webapi_req.c) ---- */

/* Largest JSON request; the web front-end limits the body ([web]
 * max_body) before this. */
#define WA_REQUEST_MAX (64 * 1024 * 1024)

/* Field types of a request object. Every field may be absent or null
 * (then it has its zero value, as in the reference's Go decoder). */
enum wa_type {
	WA_STR,		/* string without NUL */
	WA_INT,		/* integer (no fraction, no exponent) */
	WA_BOOL,
	WA_TIME,	/* RFC 3339 date-time string */
	WA_STRMAP,	/* object of strings */
	WA_ADDRS,	/* [{"Name": string, "Address": string}] */
	WA_STRS,	/* [string] */
	WA_INTS,	/* [integer] */
	WA_FILES,	/* [{"Name", "ContentType", "ContentID", "Data"}], strings */
	WA_HEADERS,	/* [[name, value]] */
};

struct wa_field {
	const char *name;
	enum wa_type type;
};

/* The request of a call: Content-Type "application/json" (or none, with a
 * body starting with "{") is the JSON body itself; "application/x-www-
 * form-urlencoded" (curl -d) has it in the form field "request". Checks
 * that it is one JSON object whose members are the given fields with their
 * types, nothing else. Returns 0 with *root_r (json_object_put it), or -1
 * with the reason in err (for the "protocol" error code). */
int wa_request_parse(const char *content_type, const char *body, size_t len,
	const struct wa_field *fields, size_t nfields, struct json_object **root_r,
	struct buf *err);

/* Member name of o as string ("" when absent or null). */
const char *wa_str(struct json_object *o, const char *name);
/* Member as integer (0 when absent or null). */
int64_t wa_int(struct json_object *o, const char *name);
/* Member as bool (false when absent or null). */
bool wa_bool(struct json_object *o, const char *name);
/* Member array (NULL when absent or null). */
struct json_object *wa_array(struct json_object *o, const char *name);
/* Is the member present and not null? */
bool wa_has(struct json_object *o, const char *name);

/* RFC 3339 section 5.6 date-time ("2024-01-02T15:04:05Z", fractions and
 * numeric offsets allowed) to unix seconds (fraction dropped). Returns 0
 * or -1. */
int wa_parse_time(const char *s, int64_t *t_r);

/* Does s contain control characters (C0 but not tab, or DEL)? Header
 * values with CR or LF would let a caller inject header fields. */
bool wa_has_ctl(const char *s);

#endif

/* ---- calls (webapi.c, webapi_send.c) ---- */

struct json_object;

struct wa_call {
	struct web_request *req;
	struct web_response *resp;
	struct json_object *request;	/* checked against the method's fields */
	struct json_object *result;	/* JSON answer, owned by the call */
	bool raw;			/* the method wrote resp itself (bytes) */
	const char *code;		/* error code, NULL for success */
	struct buf msg;			/* error message */
};

/* Set an error (code as the reference names them: "user", "server",
 * "badAddress", "messageNotFound", ...); returns -1. "server" answers
 * 500, everything else 400. */
int wa_error(struct wa_call *c, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Log error (not shown to the client) and set code "server"; -1. */
int wa_server_error(struct wa_call *c, const char *what, const char *error);

/* Send (webapi_send.c). */
extern const struct wa_field wa_send_fields[];
extern const size_t wa_send_nfields;
int wa_send(struct wa_call *c);
