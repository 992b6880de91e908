/* Fuzz target for the webhook payloads (lib/queue/webhook_json.c): the
 * input is a message for the incoming-message payload (MIME structure,
 * addresses, References, Date, text extraction) and, split at its first
 * line, a subject and an "extra" JSON text for the outgoing payload; and
 * the same message as an incoming DSN.
 * Both payloads must always be valid JSON without NUL bytes. */
#include "config.h"

#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/util.h"
#include "queue/webhook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_webhook: check failed: %s (line %d)\n", #cond,       \
			        __LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static void
check_json(const struct buf *b)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o;

	CHECK(strlen(b->data) == b->len);
	o = json_tokener_parse_ex(tok, b->data, (int)b->len);
	CHECK(o != NULL && json_tokener_get_error(tok) == json_tokener_success);
	CHECK(json_object_is_type(o, json_type_object));
	json_object_put(o);
	json_tokener_free(tok);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const dkim[] = { "example.org" };
	struct webhook_incoming_meta meta;
	struct webhook_incoming *wi;
	struct webhook_outgoing_event ev;
	struct buf out, first, rest;
	const char *s = (const char *)data;
	const char *nl = memchr(s, '\n', size);
	size_t i;

	memset(&meta, 0, sizeof(meta));
	meta.mailfrom = "a@example.org";
	meta.dkim_domains = dkim;
	meta.ndkim_domains = 1;
	meta.received = 1700000000;
	{
		struct webhook_dsn d;

		webhook_dsn_parse(s, size, &d);
		CHECK(d.action[sizeof(d.action) - 1] == '\0' || strlen(d.action) < sizeof(d.action));
		CHECK(d.code == 0 || (d.code >= 200 && d.code < 600));
		CHECK(webhook_event_valid(webhook_dsn_event(&d)));
	}
	wi = webhook_incoming_new(s, size, &meta);
	buf_init(&out);
	webhook_incoming_json(&out, wi, 1, "b@example.org", "Inbox");
	check_json(&out);
	webhook_incoming_free(&wi);

	buf_init(&first);
	buf_init(&rest);
	buf_append(&first, s, nl ? (size_t)(nl - s) : size);
	if (nl != NULL)
		buf_append(&rest, nl + 1, size - (size_t)(nl - s) - 1);
	/* C strings: stop at a NUL as callers' strings would. */
	for (i = 0; i < first.len; i++)
		if (first.data[i] == '\0')
			buf_truncate(&first, i);
	memset(&ev, 0, sizeof(ev));
	ev.event = WEBHOOK_EVENT_DELAYED;
	ev.subject = first.data;
	ev.message_id = first.data;
	ev.error = first.data;
	ev.extra = rest.data;
	ev.smtp_code = 451;
	ev.smtp_secode = first.len < 8 ? first.data : "4.0.0";
	buf_reset(&out);
	webhook_outgoing_json(&out, &ev, 1700000000123456LL);
	check_json(&out);
	buf_free(&out);
	buf_free(&first);
	buf_free(&rest);
	return 0;
}
