"""Webhooks (FEATURES.md sections 4 and 6) against a real HTTP receiver on
loopback (python http.server): outgoing delivery events ("canceled" from
queue drop) with the exact JSON body and headers, the Authorization
header, a retry after a 500, retired calls; superseding; incoming-message
webhooks after an SMTP delivery through smtpd; the CLI (queue webhook
list/print/schedule/drop/send, account webhook); and mailstead-queued
delivering to an SMTP sink on loopback: delivered, failed (suppressing)
and delayed events sent by its own webhook sender, which also retries
after a 500 when rescheduled."""

import datetime
import http.server
import json
import os
import re
import socketserver
import subprocess
import threading
import time
import unittest

import harness
from harness import OTHER, OTHER_PASSWORD, USER, unique

srv = None
receiver = None


class Receiver:
    """An HTTP server recording every request; answers with the next status
    of self.statuses (200 when empty)."""

    def __init__(self):
        self.requests = []
        self.statuses = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with outer.lock:
                    outer.requests.append({"path": self.path, "headers": self.headers,
                                           "body": body})
                    status = outer.statuses.pop(0) if outer.statuses else 200
                reply = b"not now" if status >= 300 else b"thanks"
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def take(self, path):
        with self.lock:
            got = [r for r in self.requests if r["path"] == path]
            self.requests = [r for r in self.requests if r["path"] != path]
        return got

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def setUpModule():
    global srv, receiver
    receiver = Receiver()
    srv = harness.Server("webhooks", daemons=("smtpd",)).start()


def tearDownModule():
    if srv:
        srv.stop()
    if receiver:
        receiver.stop()


def parse_list(out):
    lines = out.rstrip("\n").split("\n")
    header = lines[0].split("\t")
    return [dict(zip(header, ln.split("\t"))) for ln in lines[1:] if ln]


def queue_add(msg, to, frm):
    r = subprocess.run([harness.CLI, "-c", srv.conf, "queue", "add", "-from", frm, "-to", to,
                        "-holdfor", "3600", "-"], input=msg, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60, cwd=srv.dir)
    if r.returncode != 0:
        raise AssertionError("queue add: %s %s" % (r.stdout, r.stderr))
    return int(r.stdout.decode().split("\t")[0])


def new_account(prefix):
    addr = "%s@example.org" % unique(prefix)
    srv.add_account(addr, unique("pw"))
    return addr


def send_due():
    """Make the due calls (what mailstead-queued's sender does)."""
    r = srv.cli("queue", "webhook", "send")
    return int(r.stdout.split()[0])


RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$")


def parse_time(s):
    s = re.sub(r"\.\d+", "", s).replace("Z", "+00:00")
    return datetime.datetime.fromisoformat(s)


class WebhookTest(harness.TestCase):

    def outgoing_account(self, path, auth=None, keep="7d", events=None):
        acct = new_account("hook")
        args = ["account", "webhook", acct, "set", "outgoing", receiver.url(path)]
        if auth:
            args.append("-authorization-stdin")
        if events:
            args += ["-events", events]
        srv.cli(*args, input=(auth + "\n") if auth else None)
        srv.cli("account", "webhook", acct, "keep-retired", keep)
        return acct

    def message(self, frm, subject, extra=()):
        mid = "<%s@example.org>" % unique("mid")
        hdrs = ["From: <%s>" % frm, "To: <rcpt@remote.example>", "Subject: %s" % subject,
                "Message-ID: %s" % mid, "Date: Mon, 1 Jan 2024 10:00:00 +0000"] + list(extra)
        return ("\r\n".join(hdrs) + "\r\n\r\nHello.\r\n").encode(), mid

    # ------------------------------------------------------------ outgoing

    def test_canceled_event_retry_and_exact_payload(self):
        path = "/" + unique("out")
        acct = self.outgoing_account(path, auth="Bearer s3cret-t0ken")
        msg, mid = self.message(acct, "Grüße", extra=["X-Mailstead-Extra-Order-Id: 42",
                                                      "X-Mailstead-Extra-Customer: ACME"])
        qid = queue_add(msg, "rcpt@remote.example", acct)
        before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        srv.cli("queue", "drop", str(qid))

        calls = [c for c in parse_list(srv.cli("queue", "webhook", "list", "-account", acct).stdout)]
        self.assertEqual(len(calls), 1)
        call = calls[0]
        self.assertEqual((call["event"], call["queue_msg_id"], call["attempts"],
                          call["authorization"], call["url"]),
                         ("canceled", str(qid), "0", "yes", receiver.url(path)))
        # The Authorization value is a secret: never listed.
        self.assertNotIn("s3cret", srv.cli("queue", "webhook", "list").stdout)
        self.assertNotIn("s3cret", srv.cli("account", "webhook", acct).stdout)

        # First attempt: the receiver fails with 500; the call stays,
        # with the attempt recorded and the next one a minute later.
        receiver.statuses = [500]
        self.assertEqual(send_due(), 1)
        got = receiver.take(path)
        self.assertEqual(len(got), 1)
        call = parse_list(srv.cli("queue", "webhook", "list", "-account", acct).stdout)[0]
        self.assertEqual(call["attempts"], "1")
        self.assertIn("500", call["last_result"])
        wait = (parse_time(call["next_attempt"]) - datetime.datetime.now(datetime.timezone.utc))
        self.assertTrue(40 < wait.total_seconds() <= 61, wait)
        # Not due yet: nothing is sent.
        self.assertEqual(send_due(), 0)
        self.assertEqual(receiver.take(path), [])

        # Retry now: the receiver accepts; the call is retired.
        r = srv.cli("queue", "webhook", "schedule", "-now", call["id"])
        self.assertIn("1 webhook rescheduled", r.stdout)
        self.assertEqual(send_due(), 1)
        got2 = receiver.take(path)
        self.assertEqual(len(got2), 1)
        self.assertEqual(parse_list(srv.cli("queue", "webhook", "list", "-account", acct).stdout), [])

        for attempt, req in ((1, got[0]), (2, got2[0])):
            h = req["headers"]
            self.assertEqual(h["Content-Type"], "application/json; charset=utf-8")
            self.assertRegex(h["User-Agent"], r"^mailstead/\S+ \(webhook\)$")
            self.assertEqual(h["Authorization"], "Bearer s3cret-t0ken")
            self.assertEqual(h["X-Mailstead-Webhook-ID"], call["id"])
            self.assertEqual(h["X-Mailstead-Webhook-Attempt"], str(attempt))
        # The same body both times, byte for byte.
        self.assertEqual(got[0]["body"], got2[0]["body"])
        body = json.loads(got[0]["body"])
        queued = body.pop("WebhookQueued")
        self.assertRegex(queued, RFC3339_UTC)
        self.assertLessEqual(abs((parse_time(queued) - before).total_seconds()), 30)
        self.assertEqual(body, {
            "Version": 0, "Event": "canceled", "DSN": False, "Suppressing": False,
            "QueueMsgID": qid, "FromID": "", "MessageID": mid, "Subject": "Grüße",
            "SMTPCode": 0, "SMTPEnhancedCode": "", "Error": "delivery canceled by admin",
            "Extra": {"Customer": "ACME", "Order-Id": "42"}})
        # Field order as the reference writes it.
        self.assertEqual(list(json.loads(got[0]["body"]).keys()),
                         ["Version", "Event", "DSN", "Suppressing", "QueueMsgID", "FromID",
                          "MessageID", "Subject", "WebhookQueued", "SMTPCode",
                          "SMTPEnhancedCode", "Error", "Extra"])

        retired = parse_list(srv.cli("queue", "webhook", "retired", "list", "-account", acct).stdout)
        self.assertEqual(len(retired), 1)
        self.assertEqual((retired[0]["id"], retired[0]["success"], retired[0]["attempts"],
                          retired[0]["authorization"]), (call["id"], "yes", "2", "yes"))
        out = srv.cli("queue", "webhook", "retired", "print", call["id"]).stdout
        results = json.loads(re.search(r"^results: (.*)$", out, re.M).group(1))
        self.assertEqual([(x["success"], x["code"], x["response"]) for x in results],
                         [(False, 500, "not now"), (True, 200, "thanks")])
        self.assertIn(got[0]["body"].decode(), out)
        self.assertNotIn("s3cret", out)

    def test_failed_for_good_after_the_last_attempt(self):
        path = "/" + unique("fail")
        acct = self.outgoing_account(path)
        qid = queue_add(self.message(acct, "x")[0], "rcpt@remote.example", acct)
        srv.cli("queue", "drop", str(qid))
        hid = parse_list(srv.cli("queue", "webhook", "list", "-account", acct).stdout)[0]["id"]
        # As if 11 attempts had failed already: the 12th is the last.
        srv.psql("update webhook_queue set attempts = 11 where id = :'id'", id=hid)
        receiver.statuses = [503]
        self.assertEqual(send_due(), 1)
        self.assertEqual(len(receiver.take(path)), 1)
        self.assertEqual(parse_list(srv.cli("queue", "webhook", "list", "-account", acct).stdout), [])
        r = parse_list(srv.cli("queue", "webhook", "retired", "list", "-account", acct).stdout)
        self.assertEqual((r[0]["success"], r[0]["attempts"]), ("no", "12"))
        self.assertIn("503", r[0]["last_result"])

    def test_superseding(self):
        path = "/" + unique("sup")
        acct = self.outgoing_account(path)
        qid = queue_add(self.message(acct, "sup")[0], "rcpt@remote.example", acct)
        aid = srv.psql("select id from accounts where name = :'n'", n=acct)[0][0]
        # An earlier event for the same queue message, not sent yet (as the
        # delivery daemon queues "delayed" after a failed attempt).
        old = srv.psql(
            "insert into webhook_queue (queue_msg_id, account_id, url, is_incoming,"
            " outgoing_event, payload) values (:'q', :'a', :'u', false, 'delayed', '{}')"
            " returning id", q=qid, a=aid, u=receiver.url(path))[0][0]
        # And one for another message, which must stay.
        other = srv.psql(
            "insert into webhook_queue (queue_msg_id, account_id, url, is_incoming,"
            " outgoing_event, payload, next_attempt) values (:'q', :'a', :'u', false,"
            " 'delayed', '{}', now() + interval '1 hour') returning id",
            q=qid + 100000, a=aid, u=receiver.url(path))[0][0]
        srv.cli("queue", "drop", str(qid))
        calls = parse_list(srv.cli("queue", "webhook", "list", "-account", acct).stdout)
        self.assertEqual(sorted((c["event"], c["queue_msg_id"]) for c in calls),
                         sorted([("canceled", str(qid)), ("delayed", str(qid + 100000))]))
        new = [c["id"] for c in calls if c["event"] == "canceled"][0]
        self.assertNotIn(old, [c["id"] for c in calls])
        self.assertIn(other, [c["id"] for c in calls])
        r = parse_list(srv.cli("queue", "webhook", "retired", "list", "-account", acct).stdout)
        self.assertEqual([(x["id"], x["superseded_by"], x["success"]) for x in r],
                         [(old, new, "no")])
        # Only the newer event goes out.
        self.assertEqual(send_due(), 1)
        got = receiver.take(path)
        self.assertEqual([json.loads(g["body"])["Event"] for g in got], ["canceled"])

    def test_event_filter_and_accounts_without_hooks(self):
        path = "/" + unique("filt")
        acct = self.outgoing_account(path, events="delivered,failed")
        qid = queue_add(self.message(acct, "f")[0], "rcpt@remote.example", acct)
        srv.cli("queue", "drop", str(qid))
        self.assertEqual(parse_list(srv.cli("queue", "webhook", "list", "-account", acct).stdout), [])
        plain = new_account("nohook")
        qid = queue_add(self.message(plain, "n")[0], "rcpt@remote.example", plain)
        srv.cli("queue", "drop", str(qid))
        self.assertEqual(parse_list(srv.cli("queue", "webhook", "list", "-account", plain).stdout), [])

    def test_drop_and_schedule_cli(self):
        path = "/" + unique("drop")
        acct = self.outgoing_account(path)
        qid = queue_add(self.message(acct, "d")[0], "rcpt@remote.example", acct)
        srv.cli("queue", "drop", str(qid))
        hid = parse_list(srv.cli("queue", "webhook", "list", "-account", acct).stdout)[0]["id"]
        r = srv.cli("queue", "webhook", "schedule", "-in", "2h", hid)
        self.assertIn("1 webhook rescheduled", r.stdout)
        na = parse_list(srv.cli("queue", "webhook", "list", "-account", acct).stdout)[0]["next_attempt"]
        wait = parse_time(na) - datetime.datetime.now(datetime.timezone.utc)
        self.assertTrue(7100 < wait.total_seconds() <= 7201, wait)
        out = srv.cli("queue", "webhook", "print", hid).stdout
        self.assertIn("event: canceled", out)
        self.assertEqual(json.loads(out.split("\n\n", 1)[1])["QueueMsgID"], qid)
        r = srv.cli("queue", "webhook", "drop", hid)
        self.assertIn("1 webhook dropped", r.stdout)
        self.assertEqual(srv.cli("queue", "webhook", "drop", hid, check=False).returncode, 1)
        self.assertEqual(srv.cli("queue", "webhook", "print", hid, check=False).returncode, 1)
        r = parse_list(srv.cli("queue", "webhook", "retired", "list", "-account", acct).stdout)
        self.assertEqual((r[0]["id"], r[0]["success"], r[0]["last_result"]),
                         (hid, "no", "canceled by admin"))
        self.assertEqual(send_due(), 0)
        self.assertEqual(receiver.take(path), [])

    def test_account_webhook_settings(self):
        acct = new_account("conf")
        r = srv.cli("account", "webhook", acct, "set", "outgoing", "ftp://x.example/", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("http", r.stderr)
        r = srv.cli("account", "webhook", acct, "set", "outgoing", "https://x.example/h",
                    "-events", "delivered,bounced", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("bounced", r.stderr)
        srv.cli("account", "webhook", acct, "set", "incoming", "https://in.example/h",
                "-authorization-stdin", input="Basic dXNlcjpwYXNz\n")
        srv.cli("account", "webhook", acct, "set", "outgoing", "https://out.example/h",
                "-events", "delivered, failed")
        out = srv.cli("account", "webhook", acct).stdout
        self.assertIn("outgoing-url: https://out.example/h\n", out)
        self.assertIn("outgoing-authorization: none\n", out)
        self.assertIn("outgoing-events: delivered,failed\n", out)
        self.assertIn("incoming-url: https://in.example/h\n", out)
        self.assertIn("incoming-authorization: set\n", out)
        self.assertNotIn("dXNlcjpwYXNz", out)
        srv.cli("account", "webhook", acct, "clear", "incoming")
        out = srv.cli("account", "webhook", acct).stdout
        self.assertIn("incoming-url: \n", out)
        self.assertIn("incoming-authorization: none\n", out)
        # The secret is gone from the database, not just hidden.
        self.assertEqual(srv.psql("select count(*) from accounts where name = :'n'"
                                  " and incoming_webhook_authorization = ''", n=acct)[0][0], "1")

    # ------------------------------------------------------------ incoming

    def test_incoming_message_webhook_after_smtp_delivery(self):
        path = "/" + unique("in")
        srv.cli("account", "webhook", OTHER, "set", "incoming", receiver.url(path),
                "-authorization-stdin", input="Basic aW46aG9vaw==\n")
        self.addCleanup(srv.cli, "account", "webhook", OTHER, "clear", "incoming")
        mid = "<%s@sender.example>" % unique("in")
        msg = (
            "From: \"Jöhn Sender\" <sender@example.net>\r\n"
            "To: Other <%s>, plain@example.com\r\n"
            "Cc: <cc@example.com>\r\n"
            "Reply-To: replies@example.net\r\n"
            "Subject: =?utf-8?q?Caf=C3=A9_order?=\r\n"
            "Message-ID: %s\r\n"
            "In-Reply-To: <parent@example.net>\r\n"
            "References: <root@example.net>\r\n <parent@example.net>\r\n"
            "Date: Tue, 2 Jan 2024 15:04:05 +0100\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
            "\r\n"
            "--outer\r\n"
            "Content-Type: multipart/alternative; boundary=\"alt\"\r\n"
            "\r\n"
            "--alt\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n"
            "\r\n"
            "Hello caf=C3=A9,\r\n"
            "line two\r\n"
            "--alt\r\n"
            "Content-Type: text/html; charset=utf-8\r\n"
            "\r\n"
            "<p>Hello</p>\r\n"
            "--alt--\r\n"
            "--outer\r\n"
            "Content-Type: application/pdf; name=\"bill.pdf\"\r\n"
            "Content-Disposition: attachment; filename=\"bill.pdf\"\r\n"
            "Content-ID: <pdf1@example.net>\r\n"
            "Content-Transfer-Encoding: base64\r\n"
            "\r\n"
            "JVBERi0xLjQK\r\n"
            "--outer--\r\n" % (OTHER, mid)).encode("utf-8")
        code, _ = srv.deliver(msg, rcpts=[OTHER, USER], mail_from="bounce@example.net")
        self.assertEqual(code, 250)
        # One call, for the account with the incoming URL only.
        calls = [c for c in parse_list(srv.cli("queue", "webhook", "list").stdout)
                 if c["url"] == receiver.url(path)]
        self.assertEqual([(c["event"], c["account"], c["message_id"], c["subject"])
                          for c in calls], [("incoming", OTHER, mid, "Café order")])
        self.assertEqual(send_due(), 1)
        got = receiver.take(path)
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0]["headers"]["Authorization"], "Basic aW46aG9vaw==")
        body = json.loads(got[0]["body"])
        msgid, received = srv.psql(
            "select m.id, to_char(m.received at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
            " from messages m join accounts a on a.id = m.account_id"
            " where a.name = :'n' and m.message_id = :'mid'", n=OTHER, mid=mid.strip("<>"))[0]
        self.assertEqual(list(body.keys()),
                         ["Version", "From", "To", "CC", "BCC", "ReplyTo", "Subject", "MessageID",
                          "InReplyTo", "References", "Date", "Text", "HTML", "Structure", "Meta"])
        self.assertEqual(body["From"], [{"Name": "Jöhn Sender", "Address": "sender@example.net"}])
        self.assertEqual(body["To"], [{"Name": "Other", "Address": OTHER},
                                      {"Name": "", "Address": "plain@example.com"}])
        self.assertEqual(body["CC"], [{"Name": "", "Address": "cc@example.com"}])
        self.assertEqual(body["BCC"], [])
        self.assertEqual(body["ReplyTo"], [{"Name": "", "Address": "replies@example.net"}])
        self.assertEqual((body["Subject"], body["MessageID"], body["InReplyTo"]),
                         ("Café order", mid, "<parent@example.net>"))
        self.assertEqual(body["References"], ["<root@example.net>", "<parent@example.net>"])
        self.assertEqual(body["Date"], "2024-01-02T15:04:05+01:00")
        self.assertEqual(body["Text"], "Hello café,\nline two")
        self.assertEqual(body["HTML"], "<p>Hello</p>")
        st = body["Structure"]
        self.assertEqual((st["ContentType"], st["ContentTypeParams"], len(st["Parts"])),
                         ("multipart/mixed", {"boundary": "outer"}, 2))
        alt, pdf = st["Parts"]
        self.assertEqual([p["ContentType"] for p in alt["Parts"]], ["text/plain", "text/html"])
        self.assertEqual(alt["Parts"][0]["ContentTypeParams"], {"charset": "utf-8"})
        self.assertEqual(pdf, {"ContentType": "application/pdf",
                               "ContentTypeParams": {"name": "bill.pdf"},
                               "ContentID": "<pdf1@example.net>",
                               "ContentDisposition": "attachment", "Filename": "bill.pdf",
                               "DecodedSize": 9, "Parts": []})
        meta = body["Meta"]
        self.assertEqual(meta, {"MsgID": int(msgid), "MailFrom": "bounce@example.net",
                                "MailFromValidated": False, "MsgFromValidated": False,
                                "RcptTo": OTHER, "DKIMVerifiedDomains": [],
                                "RemoteIP": "127.0.0.1", "Received": received,
                                "MailboxName": "Inbox", "Automated": False})
        self.assertTrue(srv.daemon_alive("smtpd"))

    def test_incoming_automated_and_no_hook_without_url(self):
        path = "/" + unique("auto")
        acct = new_account("auto")
        srv.cli("account", "webhook", acct, "set", "incoming", receiver.url(path))
        msg = ("From: list@example.net\r\nTo: %s\r\nSubject: news\r\n"
               "List-Id: <news.example.net>\r\n\r\nhi\r\n" % acct).encode()
        code, _ = srv.deliver(msg, rcpts=[acct, OTHER])
        self.assertEqual(code, 250)
        calls = [c for c in parse_list(srv.cli("queue", "webhook", "list").stdout)
                 if c["url"] == receiver.url(path)]
        self.assertEqual(len(calls), 1)
        self.assertEqual(send_due(), 1)
        body = json.loads(receiver.take(path)[0]["body"])
        self.assertTrue(body["Meta"]["Automated"])
        self.assertEqual(body["Date"], None)
        self.assertEqual((body["Text"], body["HTML"]), ("hi\n", ""))
        # OTHER has no incoming URL: no call was made for its copy.
        self.assertEqual(srv.psql("select count(*) from webhook_queue w join accounts a"
                                  " on a.id = w.account_id where a.name = :'n'", n=OTHER)[0][0], "0")


class DsnWebhookTest(harness.TestCase):
    """Mail to a unique MAIL FROM address (user+FROMID@) of a message the
    account sent is about that message: a DSN becomes an outgoing event
    ("DSN": true), anything else "unrecognized"; no incoming webhook."""

    def setUp(self):
        srv.cli("domain", "set", "example.org", "catchall-separators", "+")
        self.addCleanup(srv.cli, "domain", "set", "example.org", "catchall-separators", "")

    def sent_message(self, acct, from_id):
        aid = srv.psql("select id from accounts where name = :'n'", n=acct)[0][0]
        lp = acct.split("@")[0]
        return int(srv.psql(
            "insert into queue_retired (id, base_id, queued, sender_account_id,"
            " sender_localpart, sender_domain, from_id, recipient_localpart, recipient_domain,"
            " recipient_address, attempts, max_attempts, has_8bit, smtputf8, is_dmarc_report,"
            " is_tls_report, size, message_id, subject, extra, success, keep_until)"
            " select nextval('queue_id_seq'), currval('queue_id_seq'), now(), :'a', :'lp',"
            " 'example.org', :'f', 'bob', 'remote.example', 'bob@remote.example', 1, 0, false,"
            " false, false, false, 100, '<sent1@example.org>', 'Invoice', '{\"Order\":\"9\"}',"
            " true, now() + interval '1 day' returning id", a=aid, lp=lp, f=from_id)[0][0])

    def test_dsn_to_fromid_address(self):
        path = "/" + unique("dsn")
        acct = new_account("dsn")
        srv.cli("account", "webhook", acct, "set", "outgoing", receiver.url(path))
        srv.cli("account", "webhook", acct, "set", "incoming", receiver.url(path + "/in"))
        fid = unique("f").replace("-", "")
        qid = self.sent_message(acct, fid)
        lp, dom = acct.split("@")
        dsn = ("From: MAILER-DAEMON@remote.example\r\nTo: <%s+%s@%s>\r\n"
               "Subject: Undelivered Mail Returned to Sender\r\n"
               "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
               "--b\r\nContent-Type: text/plain\r\n\r\nIt failed.\r\n"
               "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
               "Reporting-MTA: dns; mx.remote.example\r\n\r\n"
               "Final-Recipient: rfc822; bob@remote.example\r\nAction: failed\r\n"
               "Status: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n"
               "--b--\r\n" % (lp, fid, dom)).encode()
        code, _ = srv.deliver(dsn, rcpts=["%s+%s@%s" % (lp, fid, dom)], mail_from="")
        self.assertEqual(code, 250)
        calls = parse_list(srv.cli("queue", "webhook", "list", "-account", acct).stdout)
        self.assertEqual([(c["event"], c["queue_msg_id"], c["from_id"]) for c in calls],
                         [("failed", str(qid), fid)])
        self.assertEqual(send_due(), 1)
        body = json.loads(receiver.take(path)[0]["body"])
        body.pop("WebhookQueued")
        self.assertEqual(body, {"Version": 0, "Event": "failed", "DSN": True,
                                "Suppressing": False, "QueueMsgID": qid, "FromID": fid,
                                "MessageID": "<sent1@example.org>", "Subject": "Invoice",
                                "SMTPCode": 550, "SMTPEnhancedCode": "5.1.1", "Error": "",
                                "Extra": {"Order": "9"}})
        self.assertEqual(receiver.take(path + "/in"), [])

        # Other mail to the address: "unrecognized". Mail to the plain
        # address: the incoming webhook.
        msg = ("From: someone@example.net\r\nSubject: re: invoice\r\n\r\nthanks\r\n").encode()
        self.assertEqual(srv.deliver(msg, rcpts=["%s+%s@%s" % (lp, fid, dom)])[0], 250)
        self.assertEqual(srv.deliver(msg, rcpts=[acct])[0], 250)
        self.assertEqual(send_due(), 2)
        got = receiver.take(path)
        self.assertEqual([(json.loads(g["body"])["Event"], json.loads(g["body"])["DSN"])
                          for g in got], [("unrecognized", False)])
        inc = receiver.take(path + "/in")
        self.assertEqual([json.loads(g["body"])["Meta"]["RcptTo"] for g in inc], [acct])


class SmtpSink:
    """A minimal SMTP server on loopback: RCPT TO:<perm...> gets 550 5.1.1,
    <temp...> 451 4.2.0, anything else is accepted; messages are counted."""

    def __init__(self):
        self.delivered = []
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                def reply(s):
                    self.wfile.write(s.encode() + b"\r\n")
                    self.wfile.flush()
                reply("220 sink.example ESMTP")
                rcpts = []
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    cmd = line.decode("utf-8", "replace").strip()
                    verb = cmd.split(" ", 1)[0].upper()
                    if verb in ("EHLO", "HELO"):
                        reply("250-sink.example\r\n250 8BITMIME")
                    elif verb == "MAIL":
                        rcpts = []
                        reply("250 2.1.0 ok")
                    elif verb == "RCPT":
                        addr = cmd.split(":", 1)[1].strip().strip("<>")
                        if addr.startswith("perm"):
                            reply("550 5.1.1 no such user")
                        elif addr.startswith("temp"):
                            reply("451 4.2.0 try later")
                        else:
                            rcpts.append(addr)
                            reply("250 2.1.5 ok")
                    elif verb == "DATA":
                        reply("354 go ahead")
                        while self.rfile.readline() not in (b".\r\n", b""):
                            pass
                        outer.delivered += rcpts
                        reply("250 2.0.0 queued")
                    elif verb == "QUIT":
                        reply("221 bye")
                        return
                    else:
                        reply("250 ok")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class QueuedWebhookTest(harness.TestCase):
    """mailstead-queued delivers and sends the webhooks itself."""

    @classmethod
    def setUpClass(cls):
        cls.sink = SmtpSink()
        srv.write_zone("remote.example. IN MX 10 localhost.\n")
        cls.conf = os.path.join(srv.dir, "queued.conf")
        with open(cls.conf, "w") as f:
            f.write(srv.conf_text() + "\n[queue]\ndirect_port = %d\nbackoff_ms = 200\n"
                    "max_attempts = 2\nconnect_timeout = 5s\ncommand_timeout = 10s\n"
                    % cls.sink.port)
        logf = open(srv.logpath("queued"), "ab")
        cls.proc = subprocess.Popen([os.path.join(harness.TOP_BUILDDIR, "daemons", "queued",
                                                  "mailstead-queued"), "-c", cls.conf],
                                    stdin=subprocess.DEVNULL, stdout=logf,
                                    stderr=subprocess.STDOUT, cwd=srv.dir)
        logf.close()

        def started():
            with open(srv.logpath("queued"), "rb") as f:
                return b"ev=start" in f.read()
        if not harness.wait_for(lambda: cls.proc.poll() is not None or started(), 30) or \
                cls.proc.poll() is not None:
            raise AssertionError("mailstead-queued did not start:\n%s"
                                 % harness.tail(srv.logpath("queued")))

    @classmethod
    def tearDownClass(cls):
        if cls.proc.poll() is None:
            cls.proc.terminate()
            try:
                cls.proc.wait(15)
            except subprocess.TimeoutExpired:
                cls.proc.kill()
                cls.proc.wait()
        cls.sink.stop()

    def test_delivery_events_from_queued(self):
        path = "/" + unique("queued")
        acct = new_account("qd")
        srv.cli("account", "webhook", acct, "set", "outgoing", receiver.url(path))
        srv.cli("account", "webhook", acct, "keep-retired", "1d")
        msg = ("From: <%s>\r\nTo: <ok@remote.example>\r\nSubject: deliveries\r\n"
               "Message-ID: <q1@example.org>\r\nX-Mailstead-Extra-Batch: b7\r\n\r\n"
               "Hi.\r\n" % acct).encode()
        r = subprocess.run([harness.CLI, "-c", srv.conf, "queue", "add", "-from", acct,
                            "-to", "ok@remote.example", "-to", "perm@remote.example",
                            "-to", "temp@remote.example", "-"], input=msg,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        ids = {ln.split("\t")[1]: int(ln.split("\t")[0])
               for ln in r.stdout.decode().splitlines()}
        # The final event of each recipient: delivered, failed (and put on
        # the suppression list), failed after the last attempt.
        events = {}

        def done():
            for req in receiver.take(path):
                b = json.loads(req["body"])
                events.setdefault(b["QueueMsgID"], []).append(b)
            return all(q in events and events[q][-1]["Event"] in ("delivered", "failed")
                       for q in ids.values())
        self.assertTrue(harness.wait_for(done, 60), (events, harness.tail(srv.logpath("queued"))))
        ok = events[ids["ok@remote.example"]]
        self.assertEqual([(b["Event"], b["SMTPCode"], b["SMTPEnhancedCode"], b["Error"])
                          for b in ok], [("delivered", 0, "", "")])
        self.assertEqual((ok[0]["MessageID"], ok[0]["Subject"], ok[0]["Extra"], ok[0]["DSN"]),
                         ("<q1@example.org>", "deliveries", {"Batch": "b7"}, False))
        perm = events[ids["perm@remote.example"]]
        self.assertEqual([(b["Event"], b["SMTPCode"], b["SMTPEnhancedCode"], b["Suppressing"])
                          for b in perm], [("failed", 550, "5.1.1", True)])
        self.assertIn("no such user", perm[0]["Error"])
        temp = events[ids["temp@remote.example"]]
        # Delayed after the first attempt (unless superseded before it
        # went out), failed after the second; never in another order.
        # (The codes are the delivery daemon's business; its failure
        # text must arrive.)
        self.assertIn([b["Event"] for b in temp], (["failed"], ["delayed", "failed"]))
        self.assertNotEqual(temp[-1]["Error"], "")
        self.assertEqual(self.sink.delivered.count("ok@remote.example"), 1)
        # Everything sent once and retired as success.
        self.assertEqual(parse_list(srv.cli("queue", "webhook", "list", "-account", acct).stdout), [])
        retired = parse_list(srv.cli("queue", "webhook", "retired", "list", "-account", acct).stdout)
        self.assertTrue(all(x["success"] == "yes" or x["superseded_by"] != "0" for x in retired),
                        retired)

    def test_queue_fail_gives_failed_event(self):
        path = "/" + unique("qfail")
        acct = new_account("qf")
        srv.cli("account", "webhook", acct, "set", "outgoing", receiver.url(path))
        qid = queue_add(self.message_for(acct), "held@remote.example", acct)
        srv.cli("queue", "fail", str(qid))
        got = []
        self.assertTrue(harness.wait_for(lambda: got.extend(receiver.take(path)) or got, 30),
                        harness.tail(srv.logpath("queued")))
        body = json.loads(got[0]["body"])
        self.assertEqual((body["Event"], body["QueueMsgID"], body["Subject"]),
                         ("failed", qid, "to fail"))
        self.assertNotEqual(body["Error"], "")

    def message_for(self, acct):
        return ("From: <%s>\r\nTo: <held@remote.example>\r\nSubject: to fail\r\n\r\nx\r\n"
                % acct).encode()

    def test_queued_retries_after_500_when_rescheduled(self):
        path = "/" + unique("qretry")
        acct = new_account("qr")
        srv.cli("account", "webhook", acct, "set", "outgoing", receiver.url(path),
                "-events", "delivered")
        receiver.statuses = [500]
        msg = ("From: <%s>\r\nTo: <ok2@remote.example>\r\nSubject: retry\r\n\r\nx\r\n"
               % acct).encode()
        r = subprocess.run([harness.CLI, "-c", srv.conf, "queue", "add", "-from", acct,
                            "-to", "ok2@remote.example", "-"], input=msg,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        got = []
        self.assertTrue(harness.wait_for(lambda: got.extend(receiver.take(path)) or got, 60),
                        harness.tail(srv.logpath("queued")))
        self.assertEqual(got[0]["headers"]["X-Mailstead-Webhook-Attempt"], "1")
        call = parse_list(srv.cli("queue", "webhook", "list", "-account", acct).stdout)[0]
        self.assertEqual(call["attempts"], "1")
        # The NOTIFY of the reschedule wakes queued's sender at once.
        srv.cli("queue", "webhook", "schedule", "-now", call["id"])
        got = []
        self.assertTrue(harness.wait_for(lambda: got.extend(receiver.take(path)) or got, 30),
                        harness.tail(srv.logpath("queued")))
        self.assertEqual(got[0]["headers"]["X-Mailstead-Webhook-Attempt"], "2")
        self.assertEqual(json.loads(got[0]["body"])["Event"], "delivered")
        self.assertTrue(harness.wait_for(lambda: parse_list(srv.cli(
            "queue", "webhook", "list", "-account", acct).stdout) == [], 10))


if __name__ == "__main__":
    unittest.main()
