/* Unit tests for the webhook payloads (lib/queue/webhook_json.c): the
 * outgoing-event and incoming-message JSON against exact expected text,
 * Date parsing, text extraction and cutting, and malformed messages (the
 * result must still be valid JSON). */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "core/util.h"
#include "queue/webhook.h"

static void
test_outgoing_exact(void **state)
{
	struct webhook_outgoing_event ev;
	struct buf out;

	(void)state;
	memset(&ev, 0, sizeof(ev));
	ev.account_id = 1;
	ev.queue_msg_id = 7;
	ev.event = WEBHOOK_EVENT_FAILED;
	ev.suppressing = true;
	ev.from_id = "abc";
	ev.message_id = "<x@y>";
	ev.subject = "Say \"hi\"\n\x01 a/b \\";
	ev.extra = "{\"b\":\"2\",\"a\":\"1\",\"n\":3}";
	ev.smtp_code = 550;
	ev.smtp_secode = "1.1";
	ev.error = "550 5.1.1 no such user";
	buf_init(&out);
	webhook_outgoing_json(&out, &ev, 1704164645500000LL);
	assert_string_equal(out.data,
		"{\"Version\":0,\"Event\":\"failed\",\"DSN\":false,\"Suppressing\":true,"
		"\"QueueMsgID\":7,\"FromID\":\"abc\",\"MessageID\":\"<x@y>\","
		"\"Subject\":\"Say \\\"hi\\\"\\n\\u0001 a/b \\\\\","
		"\"WebhookQueued\":\"2024-01-02T03:04:05.5Z\",\"SMTPCode\":550,"
		"\"SMTPEnhancedCode\":\"5.1.1\",\"Error\":\"550 5.1.1 no such user\","
		"\"Extra\":{\"a\":\"1\",\"b\":\"2\"}}");
	buf_free(&out);
}

static void
test_outgoing_defaults(void **state)
{
	struct webhook_outgoing_event ev;
	struct buf out;

	(void)state;
	memset(&ev, 0, sizeof(ev));
	ev.event = WEBHOOK_EVENT_DELIVERED;
	ev.queue_msg_id = 1;
	ev.subject = "caf\xe9";	/* Latin-1, not UTF-8 */
	ev.extra = "not json";
	ev.smtp_secode = "5.7.1";	/* full form kept as is */
	buf_init(&out);
	webhook_outgoing_json(&out, &ev, 1704164645000000LL);
	assert_string_equal(out.data,
		"{\"Version\":0,\"Event\":\"delivered\",\"DSN\":false,\"Suppressing\":false,"
		"\"QueueMsgID\":1,\"FromID\":\"\",\"MessageID\":\"\","
		"\"Subject\":\"caf\xef\xbf\xbd\",\"WebhookQueued\":\"2024-01-02T03:04:05Z\","
		"\"SMTPCode\":0,\"SMTPEnhancedCode\":\"5.7.1\",\"Error\":\"\",\"Extra\":{}}");
	/* Microseconds, trailing zeros dropped. */
	buf_reset(&out);
	ev.smtp_secode = NULL;
	webhook_outgoing_json(&out, &ev, 1704164645000120LL);
	assert_non_null(strstr(out.data, "\"WebhookQueued\":\"2024-01-02T03:04:05.00012Z\""));
	assert_non_null(strstr(out.data, "\"SMTPEnhancedCode\":\"\""));
	buf_free(&out);
}

static void
test_events_and_urls(void **state)
{
	(void)state;
	assert_true(webhook_event_valid("delivered"));
	assert_true(webhook_event_valid("unrecognized"));
	assert_false(webhook_event_valid("incoming"));
	assert_false(webhook_event_valid("Delivered"));
	assert_false(webhook_event_valid(""));
	assert_false(webhook_event_valid(NULL));
	assert_true(webhook_url_valid("https://hooks.example/x?a=b"));
	assert_true(webhook_url_valid("http://127.0.0.1:8080/"));
	assert_false(webhook_url_valid("ftp://example.org/"));
	assert_false(webhook_url_valid("https://"));
	assert_false(webhook_url_valid("https:///path"));
	assert_false(webhook_url_valid("https://a.example/\r\nX-Evil: 1"));
	assert_false(webhook_url_valid("https://a.example/ space"));
	assert_false(webhook_url_valid("example.org"));
}

static const struct webhook_incoming_meta meta_alice = {
	.mailfrom = "alice@example.org",
	.mailfrom_validated = true,
	.msgfrom_validated = false,
	.dkim_domains = (const char *const[]){ "example.org" },
	.ndkim_domains = 1,
	.remote_ip = "192.0.2.1",
	.received = 1704103200,
};

/* The payload of msg (NUL-terminated) with meta_alice, msg id 42. */
static char *
incoming(const char *msg, const struct webhook_incoming_meta *meta)
{
	struct webhook_incoming *wi = webhook_incoming_new(msg, strlen(msg),
		meta ? meta : &meta_alice);
	struct buf out;
	struct json_object *o;

	buf_init(&out);
	webhook_incoming_json(&out, wi, 42, "bob@example.com", "Inbox");
	webhook_incoming_free(&wi);
	assert_null(wi);
	/* Always valid JSON. */
	o = json_tokener_parse(out.data);
	assert_non_null(o);
	json_object_put(o);
	return buf_steal(&out);
}

static void
test_incoming_exact(void **state)
{
	char *j;

	(void)state;
	j = incoming("From: Alice <alice@example.org>\r\n"
		"To: bob@example.com\r\n"
		"Subject: Hi\r\n"
		"Message-ID: <m1@example.org>\r\n"
		"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
		"\r\n"
		"Hello\r\n", NULL);
	assert_string_equal(j,
		"{\"Version\":0,\"From\":[{\"Name\":\"Alice\",\"Address\":\"alice@example.org\"}],"
		"\"To\":[{\"Name\":\"\",\"Address\":\"bob@example.com\"}],\"CC\":[],\"BCC\":[],"
		"\"ReplyTo\":[],\"Subject\":\"Hi\",\"MessageID\":\"<m1@example.org>\","
		"\"InReplyTo\":\"\",\"References\":[],\"Date\":\"2024-01-01T10:00:00Z\","
		"\"Text\":\"Hello\\n\",\"HTML\":\"\","
		"\"Structure\":{\"ContentType\":\"text/plain\","
		"\"ContentTypeParams\":{\"charset\":\"us-ascii\"},\"ContentID\":\"\","
		"\"ContentDisposition\":\"\",\"Filename\":\"\",\"DecodedSize\":7,\"Parts\":[]},"
		"\"Meta\":{\"MsgID\":42,\"MailFrom\":\"alice@example.org\","
		"\"MailFromValidated\":true,\"MsgFromValidated\":false,"
		"\"RcptTo\":\"bob@example.com\",\"DKIMVerifiedDomains\":[\"example.org\"],"
		"\"RemoteIP\":\"192.0.2.1\",\"Received\":\"2024-01-01T10:00:00Z\","
		"\"MailboxName\":\"Inbox\",\"Automated\":false}}");
	free(j);
}

static void
test_incoming_multipart(void **state)
{
	struct json_object *o, *v, *st, *parts;
	char *j;

	(void)state;
	j = incoming("From: a@example.org\r\n"
		"To: \"Q, R\" <q@EXAMPLE.org>, undisclosed-recipients:;\r\n"
		"Subject: =?utf-8?b?w6lsw6g=?=\r\n"
		"References: <a@x> (comment)\r\n <b@x>\r\n"
		"Content-Type: multipart/mixed; boundary=b1\r\n"
		"\r\n"
		"--b1\r\n"
		"Content-Type: text/html; charset=iso-8859-1\r\n"
		"Content-Transfer-Encoding: quoted-printable\r\n"
		"\r\n"
		"<b>caf=E9</b>\r\n"
		"--b1\r\n"
		"Content-Type: text/plain\r\n"
		"\r\n"
		"second text\r\n"
		"--b1\r\n"
		"Content-Type: application/octet-stream; name=\"=?utf-8?q?r=C3=A9sum=C3=A9.bin?=\"\r\n"
		"Content-Transfer-Encoding: base64\r\n"
		"\r\n"
		"AAEC\r\n"
		"--b1--\r\n", NULL);
	o = json_tokener_parse(j);
	assert_true(json_object_object_get_ex(o, "Subject", &v));
	assert_string_equal(json_object_get_string(v), "\xc3\xa9l\xc3\xa8");
	assert_true(json_object_object_get_ex(o, "To", &v));
	assert_int_equal(json_object_array_length(v), 1);
	assert_string_equal(json_object_to_json_string_ext(json_object_array_get_idx(v, 0),
		JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
		"{\"Name\":\"Q, R\",\"Address\":\"q@example.org\"}");
	assert_true(json_object_object_get_ex(o, "References", &v));
	assert_string_equal(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN),
		"[\"<a@x>\",\"<b@x>\"]");
	/* Not multipart/alternative: the first readable child only. */
	assert_true(json_object_object_get_ex(o, "HTML", &v));
	assert_string_equal(json_object_get_string(v), "<b>caf\xc3\xa9</b>");
	assert_true(json_object_object_get_ex(o, "Text", &v));
	assert_string_equal(json_object_get_string(v), "");
	assert_true(json_object_object_get_ex(o, "Date", &v));
	assert_true(json_object_is_type(v, json_type_null));
	assert_true(json_object_object_get_ex(o, "Structure", &st));
	assert_true(json_object_object_get_ex(st, "Parts", &parts));
	assert_int_equal(json_object_array_length(parts), 3);
	v = json_object_array_get_idx(parts, 2);
	assert_string_equal(json_object_get_string(json_object_object_get(v, "Filename")),
		"r\xc3\xa9sum\xc3\xa9.bin");
	assert_int_equal(json_object_get_int64(json_object_object_get(v, "DecodedSize")), 3);
	assert_int_equal(json_object_get_int64(json_object_object_get(st, "DecodedSize")), 0);
	json_object_put(o);
	free(j);
}

static const char *
date_of(const char *date)
{
	static char result[128];
	struct json_object *o, *v;
	struct buf msg;
	char *j;

	buf_init(&msg);
	buf_printf(&msg, "From: a@example.org\r\nDate: %s\r\n\r\nx\r\n", date);
	j = incoming(msg.data, NULL);
	buf_free(&msg);
	o = json_tokener_parse(j);
	assert_true(json_object_object_get_ex(o, "Date", &v));
	(void)ms_strlcpy(result, json_object_is_type(v, json_type_null) ? "null" :
		json_object_get_string(v), sizeof(result));
	json_object_put(o);
	free(j);
	return result;
}

static void
test_dates(void **state)
{
	(void)state;
	assert_string_equal(date_of("Tue, 2 Jan 2024 15:04:05 +0100"), "2024-01-02T15:04:05+01:00");
	assert_string_equal(date_of("2 Jan 2024 15:04:05 -0930 (comment)"),
		"2024-01-02T15:04:05-09:30");
	/* Obsolete forms (RFC 5322 4.3): two-digit year, named zone, no
	 * seconds. */
	assert_string_equal(date_of("2 Jan 24 15:04 EST"), "2024-01-02T15:04:00-05:00");
	assert_string_equal(date_of("Fri, 31 Dec 99 23:59:59 GMT"), "1999-12-31T23:59:59Z");
	assert_string_equal(date_of("29 Feb 2024 00:00:00 +0000"), "2024-02-29T00:00:00Z");
	/* Malformed: no date at all. */
	assert_string_equal(date_of("yesterday"), "null");
	assert_string_equal(date_of("32 Jan 2024 10:00:00 +0000"), "null");
	assert_string_equal(date_of("1 Foo 2024 10:00:00 +0000"), "null");
	assert_string_equal(date_of("1 Jan 2024 25:00:00 +0000"), "null");
	assert_string_equal(date_of("1 Jan 2024"), "null");
	assert_string_equal(date_of(""), "null");
}

static void
test_automated(void **state)
{
	struct webhook_incoming_meta m = meta_alice;
	char *j;

	(void)state;
	j = incoming("From: a@example.org\r\nAuto-Submitted: auto-replied\r\n\r\nx\r\n", NULL);
	assert_non_null(strstr(j, "\"Automated\":true"));
	free(j);
	j = incoming("From: a@example.org\r\nAuto-Submitted: no\r\n\r\nx\r\n", NULL);
	assert_non_null(strstr(j, "\"Automated\":false"));
	free(j);
	j = incoming("From: a@example.org\r\nPrecedence: bulk\r\n\r\nx\r\n", NULL);
	assert_non_null(strstr(j, "\"Automated\":true"));
	free(j);
	m.mailfrom = "";	/* null sender: a bounce or other service message */
	j = incoming("From: a@example.org\r\n\r\nx\r\n", &m);
	assert_non_null(strstr(j, "\"Automated\":true"));
	assert_non_null(strstr(j, "\"MailFrom\":\"\""));
	free(j);
}

static void
test_text_cut(void **state)
{
	struct buf msg;
	struct json_object *o, *v;
	char *j;
	size_t i;

	(void)state;
	buf_init(&msg);
	buf_puts(&msg, "Content-Type: text/plain; charset=utf-8\r\n\r\n");
	/* Two-byte characters across the 1 MiB boundary: the cut must not
	 * split one. */
	buf_putc(&msg, 'x');
	for (i = 0; i < WEBHOOK_TEXT_MAX / 2 + 10; i++)
		buf_puts(&msg, "\xc3\xa9");
	j = incoming(msg.data, NULL);
	o = json_tokener_parse(j);
	assert_true(json_object_object_get_ex(o, "Text", &v));
	assert_int_equal(json_object_get_string_len(v), WEBHOOK_TEXT_MAX - 1);
	json_object_put(o);
	free(j);
	buf_free(&msg);
}

static void
test_malformed(void **state)
{
	static const char *const msgs[] = {
		"",
		"\r\n",
		"no header at all",
		"From: <<<@@@>>>\r\nTo: ,,,;;;\r\nReferences: <<<>>> <a\r\n\r\n",
		"Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n--\r\n",
		"Content-Type: multipart/alternative; boundary=x\r\n\r\n--x\r\n"
		"Content-Type: text/plain; charset=no-such-charset\r\n"
		"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64\xff\xfe\r\n--x",
		"Subject: \xff\xfe\x80 \"\\\r\nMessage-ID: \x01\x02\r\nDate: 1 Jan 99999 10:00 +9999\r\n\r\n",
		"From: =?utf-8?q?=FF=FE?= <a@b>\r\nContent-Type: text/html\r\n\r\n\xe2\x80\xa8<\x00>",
	};
	size_t i;

	(void)state;
	for (i = 0; i < MS_NELEM(msgs); i++)
		free(incoming(msgs[i], NULL));
	{
		/* With NUL bytes inside (not just at the end). */
		static const char nul[] = "Subject: a\0b\r\n\r\nbody\0more\r\n";
		struct webhook_incoming *wi = webhook_incoming_new(nul, sizeof(nul) - 1, &meta_alice);
		struct buf out;
		struct json_object *o;

		buf_init(&out);
		webhook_incoming_json(&out, wi, 1, "", "");
		assert_int_equal(strlen(out.data), out.len);
		o = json_tokener_parse(out.data);
		assert_non_null(o);
		json_object_put(o);
		buf_free(&out);
		webhook_incoming_free(&wi);
	}
}

static const char *
dsn_event(const char *msg, struct webhook_dsn *d)
{
	webhook_dsn_parse(msg, strlen(msg), d);
	return webhook_dsn_event(d);
}

#define DSN_HEAD \
	"From: MAILER-DAEMON@remote.example\r\n" \
	"Content-Type: multipart/report; report-type=delivery-status; boundary=r\r\n" \
	"\r\n--r\r\nContent-Type: text/plain\r\n\r\nYour message failed.\r\n" \
	"--r\r\nContent-Type: message/delivery-status\r\n\r\n" \
	"Reporting-MTA: dns; mx.remote.example\r\n\r\n"

static void
test_dsn(void **state)
{
	struct webhook_dsn d;

	(void)state;
	assert_string_equal(dsn_event(DSN_HEAD
		"Final-Recipient: rfc822; bob@remote.example\r\n"
		"Action: Failed\r\n"
		"Status: 5.1.1\r\n"
		"Diagnostic-Code: smtp; 550 5.1.1 user\r\n unknown\r\n"
		"\r\n--r--\r\n", &d), "failed");
	assert_true(d.is_dsn);
	assert_int_equal(d.nrcpts, 1);
	assert_int_equal(d.code, 550);
	assert_string_equal(d.secode, "1.1");
	/* Status only (no SMTP diagnostic): the class gives the code. */
	assert_string_equal(dsn_event(DSN_HEAD
		"Final-Recipient: rfc822; bob@remote.example\r\n"
		"Action: delayed\r\nStatus: 4.4.7 (timeout)\r\n"
		"Diagnostic-Code: x-unix; something\r\n--r--\r\n", &d), "delayed");
	assert_int_equal(d.code, 400);
	assert_string_equal(d.secode, "4.7");
	/* Two recipients, unknown actions, no DSN at all: unrecognized. */
	assert_string_equal(dsn_event(DSN_HEAD
		"Final-Recipient: rfc822; a@remote.example\r\nAction: failed\r\n\r\n"
		"Final-Recipient: rfc822; b@remote.example\r\nAction: failed\r\n--r--\r\n", &d),
		"unrecognized");
	assert_int_equal(d.nrcpts, 2);
	assert_string_equal(dsn_event(DSN_HEAD
		"Final-Recipient: rfc822; a@remote.example\r\nAction: bounced\r\n--r--\r\n", &d),
		"unrecognized");
	assert_string_equal(dsn_event(DSN_HEAD "--r--\r\n", &d), "unrecognized");
	assert_true(d.is_dsn);
	assert_int_equal(d.nrcpts, 0);
	assert_string_equal(dsn_event("From: a@b\r\n\r\nthanks\r\n", &d), "unrecognized");
	assert_false(d.is_dsn);
	/* Malformed diagnostics give no codes. */
	assert_string_equal(dsn_event(DSN_HEAD
		"Action: failed\r\nDiagnostic-Code: smtp; 5500 x\r\nStatus: 9.9.9\r\n--r--\r\n",
		&d), "failed");
	assert_int_equal(d.code, 0);
	assert_string_equal(d.secode, "");
	/* SMTPUTF8 DSNs (RFC 6533), bare LF line ends. */
	assert_string_equal(dsn_event(
		"Content-Type: multipart/report; boundary=r\n\n--r\n\nx\n--r\n"
		"Content-Type: message/global-delivery-status\n\nReporting-MTA: dns; x\n\n"
		"Action: relayed\n--r--\n", &d), "relayed");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_outgoing_exact),
		cmocka_unit_test(test_outgoing_defaults),
		cmocka_unit_test(test_events_and_urls),
		cmocka_unit_test(test_incoming_exact),
		cmocka_unit_test(test_incoming_multipart),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_automated),
		cmocka_unit_test(test_text_cut),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_dsn),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
