"""The webapi (fcgi/webapi, FEATURES.md section 5) through a real nginx:
Send composes a message that mailstead-queued delivers to an SMTP sink on
loopback, with the outgoing webhook arriving at a python receiver, and to
a Postfix peer; local recipients read over IMAP; attachments arrive intact,
unicode in names and subject; fromid MAIL FROM; FutureRelease, RequireTLS
and SaveSent; the suppression-list methods and a suppressed recipient
failing; the message methods on a message delivered over SMTP, checked
over IMAP; HTTP Basic auth (401, the failed-login limiter's 429,
login_attempts, password changes); malformed JSON, wrong types, header
injection and oversize bodies refused with clear errors and nothing
queued; the documentation page; the README's curl examples, run with
curl; the `mailstead webapi` client."""

import base64
import email
import email.policy
import hashlib
import http.client
import http.server
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

import harness
import postfix
import smtpsink
import webserver
from harness import OTHER, OTHER_PASSWORD, PASSWORD, USER, unique, wait_for

SRV = None
WEB = None
SINK = None
RECEIVER = None

ZONE = """
$AUTHENTIC no
sink.test. MX 10 mx.sink.test.
mx.sink.test. A 127.0.0.3
pf.test. MX 10 mx.pf.test.
mx.pf.test. A 127.0.0.1
"""
PORT = None  # direct delivery port: the sink on 127.0.0.3, Postfix on 127.0.0.1


class Receiver:
    """Webhook receiver: records every POST (path, headers, JSON body)."""

    def __init__(self):
        self.requests = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with outer.lock:
                    outer.requests.append((self.path, self.headers, body))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def events(self, path):
        with self.lock:
            return [json.loads(b) for p, h, b in self.requests if p == path]

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def setUpModule():
    global SRV, WEB, SINK, RECEIVER, PORT
    port = PORT = harness.free_port_on("127.0.0.1", "127.0.0.3")
    SINK = smtpsink.Sink("127.0.0.3", port).start()
    RECEIVER = Receiver()
    SRV = harness.Server("webapi", daemons=("smtpd", "imapd", "queued"), dns_zone=ZONE,
                         queue_conf={"direct_port": str(port), "backoff_ms": "300",
                                     "max_attempts": "2", "connect_timeout": "3s",
                                     "command_timeout": "20s"})
    try:
        SRV.start()
        WEB = webserver.WebServer(SRV, apps=("webapi",))
        SRV.extra_conf = webserver.web_conf(WEB.sockdir)
        SRV.write_conf()
        SRV.cli("dkim", "gen", "--algorithm", "ed25519", "--domain", "example.org",
                "--selector", "wa1")
        SRV.cli("domain", "set", "example.org", "catchall-separators", "+")
        SRV.psql("UPDATE accounts SET keep_retired_message_period = '1 day'")
        WEB.start()
    except BaseException:
        tearDownModule()
        raise


def tearDownModule():
    for x in (WEB, SRV, SINK, RECEIVER):
        if x:
            x.stop()


class Resp:
    def __init__(self, r, body):
        self.status = r.status
        self.headers = r
        self.body = body

    def json(self):
        return json.loads(self.body)


def call(method, request=None, user=USER, password=PASSWORD, body=None, content_type=None,
         source_ip=None, auth=True, http_method="POST", path=None):
    """One webapi call over http.client; request is dumped as JSON body."""
    src = (source_ip, 0) if source_ip else None
    c = http.client.HTTPConnection("127.0.0.1", WEB.port, timeout=harness.TIMEOUT,
                                   source_address=src)
    h = {"Host": "localhost"}
    if auth:
        h["Authorization"] = "Basic " + base64.b64encode(
            ("%s:%s" % (user, password)).encode()).decode()
    if body is None and request is not None:
        body = json.dumps(request).encode()
        content_type = content_type or "application/json"
    if content_type:
        h["Content-Type"] = content_type
    c.request(http_method, path or "/webapi/v0/" + method, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return Resp(r, data)


def ok(method, request, **kw):
    r = call(method, request, **kw)
    if r.status != 200:
        raise AssertionError("%s: HTTP %d %r\n%s" % (method, r.status, r.body, WEB.log_tails()))
    return r.json() if r.headers.getheader("Content-Type", "").startswith("application/json") \
        else r.body


def queue_count():
    """Queue ids taken so far (the sequence of queue and queue_retired):
    unchanged when nothing was queued, whatever queued delivered since."""
    return int(SRV.psql("SELECT last_value + CASE WHEN is_called THEN 1 ELSE 0 END"
                        " FROM queue_id_seq")[0][0])


def sink_message(rcpt, timeout=60):
    got = []
    if not wait_for(lambda: got.extend(SINK.delivered_to(rcpt)) or got, timeout, 0.1):
        raise AssertionError("nothing delivered to %s\n%s" % (rcpt, harness.tail(SRV.logpath("queued"))))
    return got[-1]


def latest_msgid(account, mailbox="Inbox"):
    rows = SRV.psql("SELECT m.id FROM messages m JOIN mailboxes mb ON mb.id = m.mailbox_id"
                    " JOIN accounts a ON a.id = m.account_id WHERE a.name = :'a'"
                    " AND mb.name = :'mb' ORDER BY m.id DESC LIMIT 1", a=account, mb=mailbox)
    return int(rows[0][0])


class Base(harness.TestCase):
    def run(self, result=None):
        before = len(result.failures) + len(result.errors) if result else 0
        out = super().run(result)
        if result and len(result.failures) + len(result.errors) > before and WEB:
            import sys
            sys.stderr.write("\n==== logs ====\n%s\n%s\n" % (WEB.log_tails(), SRV.log_tails()))
        return out


class SendTest(Base):
    def test_send_delivered_by_queued_with_webhook(self):
        hook = "/" + unique("out")
        SRV.cli("account", "webhook", USER, "set", "outgoing", RECEIVER.url(hook))
        pdf = os.urandom(3000) + b"\x00\xff" * 100
        png = b"\x89PNG\r\n\x1a\n" + os.urandom(500)
        subject = "Grüße, Bestellung %s ✓" % unique("s")
        rcpt = "%s@sink.test" % unique("ok").replace("-", "")
        req = {
            "From": [{"Name": "Jörg Shop", "Address": USER}],
            "To": [{"Name": "Zoë \"Z\" Doe", "Address": rcpt}],
            "Subject": subject,
            "Text": "Hello Zoë,\nthanks for your order.\n" + "long line " * 30 + "\n",
            "HTML": "<p>Hello <b>Zoë</b></p><img src=\"cid:logo@x\">",
            "InlineFiles": [{"Name": "logo.png", "ContentID": "<logo@x>",
                             "Data": base64.b64encode(png).decode()}],
            "AttachedFiles": [{"Name": "Rechnung-ä.pdf", "ContentType": "application/pdf",
                               "Data": base64.b64encode(pdf).decode()}],
            "Headers": [["X-Campaign", "spring"]],
            "References": ["<a@x>", "<b@x>"],
            "Extra": {"OrderId": "42", "Customer": "ACME"},
        }
        res = ok("Send", req)
        self.assertRegex(res["MessageID"], r"^<[^@<>]+@.+>$")
        self.assertEqual(len(res["Submissions"]), 1)
        sub = res["Submissions"][0]
        self.assertEqual((sub["Address"], sub["FromID"]), (rcpt, ""))
        self.assertIsInstance(sub["QueueMsgID"], int)

        mailfrom, rcpts, data, params = sink_message(rcpt)
        self.assertEqual((mailfrom, rcpts), (USER, [rcpt]))
        msg = email.message_from_bytes(data, policy=email.policy.default)
        self.assertEqual(str(msg["Subject"]), subject)
        self.assertEqual(msg["Message-Id"], res["MessageID"])
        self.assertEqual(msg["From"].addresses[0].display_name, "Jörg Shop")
        self.assertEqual(msg["To"].addresses[0].display_name, 'Zoë "Z" Doe')
        self.assertEqual(msg["In-Reply-To"], "<b@x>")
        self.assertEqual(msg["X-Campaign"], "spring")
        self.assertIn("d=example.org", msg["DKIM-Signature"])
        self.assertNotIn("Bcc", msg)
        self.assertEqual(msg.get_content_type(), "multipart/mixed")
        parts = {p.get_content_type(): p for p in msg.walk()}
        self.assertEqual(parts["text/plain"].get_content().replace("\r\n", "\n"), req["Text"])
        self.assertEqual(parts["text/plain"]["Content-Transfer-Encoding"], "quoted-printable")
        self.assertIn("<b>Zoë</b>", parts["text/html"].get_content())
        self.assertEqual(hashlib.sha256(parts["image/png"].get_content()).hexdigest(),
                         hashlib.sha256(png).hexdigest())
        self.assertEqual(parts["image/png"]["Content-ID"], "<logo@x>")
        att = parts["application/pdf"]
        self.assertEqual(att.get_filename(), "Rechnung-ä.pdf")
        self.assertEqual(hashlib.sha256(att.get_content()).hexdigest(),
                         hashlib.sha256(pdf).hexdigest())
        # Lines within RFC 5322's 998 and MIME's 76 where we encode.
        self.assertTrue(all(len(ln) <= 998 for ln in data.split(b"\r\n")))
        # The signature verifies with the published key.
        self.assertIn("pass", self.dkim_verify(data))

        # The webhook: delivered, for this queue message, with Extra.
        events = []
        self.assertTrue(wait_for(lambda: events.extend(RECEIVER.events(hook)) or events, 60),
                        harness.tail(SRV.logpath("queued")))
        ev = events[-1]
        self.assertEqual((ev["Event"], ev["QueueMsgID"], ev["MessageID"], ev["Subject"],
                          ev["Extra"]),
                         ("delivered", sub["QueueMsgID"], res["MessageID"], subject,
                          {"OrderId": "42", "Customer": "ACME"}))
        SRV.cli("account", "webhook", USER, "clear", "outgoing")

    def dkim_verify(self, data):
        keys = SRV.cli("dkim", "list", "example.org").stdout
        # The zone for verification: the selector's TXT record as listed.
        rec = [ln for ln in keys.splitlines() if "wa1" in ln]
        self.assertTrue(rec, keys)
        txt = re.search(r"(v=DKIM1;.*)$", rec[0])
        zone = os.path.join(SRV.dir, "dkim.zone")
        with open(zone, "w") as f:
            f.write('wa1._domainkey.example.org. TXT "%s"\n' % txt.group(1).strip())
        path = os.path.join(SRV.dir, "dkim-msg.eml")
        with open(path, "wb") as f:
            f.write(data)
        return SRV.cli("dkim", "verify", "--dns-zone", zone, path).stdout

    def test_bcc_save_sent_and_plain_text(self):
        to = "%s@sink.test" % unique("to").replace("-", "")
        bcc = "%s@sink.test" % unique("bcc").replace("-", "")
        before = int(SRV.psql("SELECT count(*) FROM messages m JOIN mailboxes mb ON"
                              " mb.id = m.mailbox_id WHERE mb.name = 'Sent'")[0][0])
        res = ok("Send", {"To": [{"Address": to}], "BCC": [{"Address": bcc}],
                          "Subject": "plain", "Text": "just text\n", "SaveSent": True})
        self.assertEqual([s["Address"] for s in res["Submissions"]], [to, bcc])
        _, _, data, _ = sink_message(bcc)
        msg = email.message_from_bytes(data, policy=email.policy.default)
        self.assertNotIn("Bcc", msg)
        self.assertEqual(msg.get_content_type(), "text/plain")
        self.assertEqual(msg["Content-Transfer-Encoding"], "7bit")
        self.assertEqual(msg.get_content(), "just text\r\n")
        # From defaults to the login address.
        self.assertEqual(msg["From"].addresses[0].addr_spec, USER)
        # The copy in Sent, seen, with the Bcc field, over IMAP.
        m = SRV.imap()
        try:
            typ, d = m.select("Sent")
            self.assertEqual(int(d[0]), before + 1)
            typ, d = m.fetch(d[0].decode(), "(FLAGS BODY.PEEK[])")
            self.assertIn(b"\\Seen", d[0][0])
            self.assertIn(("Bcc: <%s>" % bcc).encode(), d[0][1])
            self.assertIn(res["MessageID"].encode(), d[0][1])
        finally:
            m.logout()

    def test_local_recipient_read_over_imap(self):
        subject = unique("local")
        remote = "%s@sink.test" % unique("mix").replace("-", "")
        data = os.urandom(2000)
        res = ok("Send", {"To": [{"Name": "Other", "Address": OTHER}, {"Address": remote}],
                          "Subject": subject, "Text": "hi other\n",
                          "AttachedFiles": [{"Name": "d.bin", "Data": base64.b64encode(data).decode()}]})
        subs = {s["Address"]: s for s in res["Submissions"]}
        # Delivered here at once (no queue message), the other queued.
        self.assertEqual(subs[OTHER]["QueueMsgID"], 0)
        self.assertGreater(subs[remote]["QueueMsgID"], 0)
        m = SRV.imap(user=OTHER, password=OTHER_PASSWORD)
        try:
            m.select("INBOX")
            typ, d = m.search(None, "SUBJECT", subject)
            self.assertEqual(len(d[0].split()), 1, d)
            typ, d = m.fetch(d[0].decode(), "(BODY.PEEK[])")
        finally:
            m.logout()
        msg = email.message_from_bytes(d[0][1], policy=email.policy.default)
        self.assertEqual(msg["Return-Path"], "<%s>" % USER)
        self.assertIn("d=example.org", msg["DKIM-Signature"])
        att = [p for p in msg.walk() if p.get_filename() == "d.bin"][0]
        self.assertEqual(att.get_content(), data)
        self.assertTrue(sink_message(remote))
        self.assertEqual(SINK.delivered_to(OTHER), [])
        # An address of our domain that does not exist: refused, nothing sent.
        n = queue_count()
        r = call("Send", {"To": [{"Address": "nobody-here@example.org"}, {"Address": remote}],
                          "Text": "x"})
        self.assertEqual((r.status, r.json()["Code"]), (400, "badAddress"))
        self.assertEqual(queue_count(), n)

    def test_smtputf8_address(self):
        rcpt = "zoë%s@sink.test" % unique("u").replace("-", "")
        res = ok("Send", {"To": [{"Address": rcpt}], "Subject": "ünïcode", "Text": "x"})
        mailfrom, rcpts, data, params = sink_message(rcpt)
        self.assertIn("SMTPUTF8", params.upper().split())
        self.assertIn("Subject: ünïcode".encode(), data)
        self.assertEqual(res["Submissions"][0]["Address"], rcpt)

    def test_future_release_and_require_tls(self):
        rcpt = "%s@sink.test" % unique("later").replace("-", "")
        t = time.gmtime(time.time() + 3600)
        res = ok("Send", {"To": [{"Address": rcpt}], "Text": "later",
                          "FutureRelease": time.strftime("%Y-%m-%dT%H:%M:%SZ", t),
                          "RequireTLS": False})
        qid = res["Submissions"][0]["QueueMsgID"]
        row = SRV.psql("SELECT future_release_request, require_tls,"
                       " next_attempt > now() + interval '50 minutes' FROM queue WHERE id = :'id'",
                       id=qid)[0]
        self.assertEqual(row[0], "until;" + time.strftime("%Y-%m-%dT%H:%M:%SZ", t))
        self.assertEqual(row[1:], ["f", "t"])
        SRV.cli("queue", "drop", str(qid))
        r = call("Send", {"To": [{"Address": rcpt}], "Text": "x",
                          "FutureRelease": "2999-01-01T00:00:00Z"})
        self.assertEqual((r.status, r.json()["Code"]), (400, "user"))

    def test_fromid_login(self):
        login = "wa+app@example.org"
        acct = unique("fid") + "@example.org"
        SRV.add_account(acct, "fromid-pass-1")
        SRV.cli("account", "fromid-login", acct, "add", login)
        self.assertIn(login, SRV.cli("account", "fromid-login", acct).stdout)
        rcpt = "%s@sink.test" % unique("fid").replace("-", "")
        res = ok("Send", {"From": [{"Address": acct}], "To": [{"Address": rcpt}], "Text": "x"},
                 user=login, password="fromid-pass-1")
        fromid = res["Submissions"][0]["FromID"]
        self.assertRegex(fromid, r"^[A-Za-z0-9_-]{16}$")
        mailfrom, _, _, _ = sink_message(rcpt)
        self.assertEqual(mailfrom, "%s+%s@example.org" % (acct.split("@")[0], fromid))
        # A plain login of the same account sends without.
        rcpt2 = "%s@sink.test" % unique("nofid").replace("-", "")
        res = ok("Send", {"To": [{"Address": rcpt2}], "Text": "x"}, user=acct,
                 password="fromid-pass-1")
        self.assertEqual(res["Submissions"][0]["FromID"], "")
        self.assertEqual(sink_message(rcpt2)[0], acct)


class SuppressionTest(Base):
    def test_suppression_methods_and_suppressed_send_fails(self):
        addr = "%s@sink.test" % unique("sup").replace("-", "")
        hook = "/" + unique("sup")
        SRV.cli("account", "webhook", OTHER, "set", "outgoing", RECEIVER.url(hook))
        kw = {"user": OTHER, "password": OTHER_PASSWORD}
        self.assertEqual(ok("SuppressionPresent", {"EmailAddress": addr}, **kw), {"Present": False})
        self.assertEqual(ok("SuppressionAdd", {"EmailAddress": addr.replace("@", "+tag@"),
                                               "Manual": True, "Reason": "unsubscribed"}, **kw), {})
        self.assertEqual(ok("SuppressionPresent", {"EmailAddress": addr}, **kw), {"Present": True})
        sups = ok("SuppressionList", {}, **kw)["Suppressions"]
        s = [x for x in sups if x["BaseAddress"] == addr]
        self.assertEqual(len(s), 1, sups)
        self.assertEqual((s[0]["Account"], s[0]["Manual"], s[0]["Reason"], s[0]["OriginalAddress"]),
                         (OTHER, True, "unsubscribed", addr.replace("@", "+tag@")))
        self.assertRegex(s[0]["Created"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        # Another account's list is its own.
        self.assertEqual(ok("SuppressionPresent", {"EmailAddress": addr}), {"Present": False})

        # Sending to it: queued, then failed at once by queued ("suppressed").
        res = ok("Send", {"To": [{"Address": addr}], "Text": "x"}, **kw)
        qid = res["Submissions"][0]["QueueMsgID"]
        events = []
        self.assertTrue(wait_for(lambda: events.extend(RECEIVER.events(hook)) or events, 60),
                        harness.tail(SRV.logpath("queued")))
        self.assertEqual((events[-1]["Event"], events[-1]["QueueMsgID"]), ("suppressed", qid))
        self.assertIn("suppression list", events[-1]["Error"])
        self.assertEqual(SINK.delivered_to(addr), [])

        self.assertEqual(ok("SuppressionRemove", {"EmailAddress": addr}, **kw), {})
        self.assertEqual(ok("SuppressionPresent", {"EmailAddress": addr}, **kw), {"Present": False})
        r = call("SuppressionRemove", {"EmailAddress": addr}, **kw)
        self.assertEqual((r.status, r.json()["Code"]), (400, "notFound"))
        r = call("SuppressionAdd", {"EmailAddress": "not an address"}, **kw)
        self.assertEqual((r.status, r.json()["Code"]), (400, "badAddress"))
        SRV.cli("account", "webhook", OTHER, "clear", "outgoing")


class MessageTest(Base):
    def deliver(self):
        subject = unique("msg")
        attach = os.urandom(700)
        body = ("--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHallo Welt\r\n"
                "--b1\r\nContent-Type: application/octet-stream\r\n"
                "Content-Disposition: attachment; filename=a.bin\r\n"
                "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n--b1--\r\n"
                % base64.encodebytes(attach).decode().replace("\n", "\r\n"))
        msg, mid = harness.make_message(subject=subject, body=body, extra_headers=(
            "MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="b1"',
            "In-Reply-To: <parent@x>"))
        SRV.deliver(msg)
        return latest_msgid(USER), subject, mid, attach, msg

    def imap_flags(self, mailbox, mid):
        m = SRV.imap()
        try:
            m.select(mailbox)
            typ, d = m.search(None, "HEADER", "Message-ID", mid)
            if not d[0]:
                return None
            typ, d = m.fetch(d[0].split()[-1].decode(), "(FLAGS)")
            return d[0].decode()
        finally:
            m.logout()

    def test_get_raw_part(self):
        msgid, subject, mid, attach, raw = self.deliver()
        res = ok("MessageGet", {"MsgID": msgid})
        m = res["Message"]
        self.assertEqual((m["Subject"], m["MessageID"], m["From"]),
                         (subject, mid, [{"Name": "Sender", "Address": harness.SENDER}]))
        self.assertEqual(m["To"], [{"Name": "", "Address": USER}])
        self.assertEqual(m["References"], ["<parent@x>"])
        self.assertIn("Hallo Welt", m["Text"])
        self.assertEqual(res["Structure"]["ContentType"], "multipart/mixed")
        self.assertEqual([p["ContentType"] for p in res["Structure"]["Parts"]],
                         ["text/plain", "application/octet-stream"])
        meta = res["Meta"]
        self.assertEqual((meta["MailboxName"], meta["MailFrom"], meta["DSN"], meta["RemoteIP"]),
                         ("Inbox", harness.SENDER, False, "127.0.0.1"))
        self.assertEqual(meta["RcptTo"], USER)
        self.assertGreater(meta["Size"], len(raw))

        r = call("MessageRawGet", {"MsgID": msgid})
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers.getheader("Content-Type").startswith("text/plain"))
        self.assertTrue(r.body.endswith(raw), r.body[-200:])

        part = ok("MessagePartGet", {"MsgID": msgid, "PartPath": [1]})
        self.assertEqual(part, attach)
        self.assertEqual(ok("MessagePartGet", {"MsgID": msgid, "PartPath": [0]}).strip(),
                         b"Hallo Welt")
        r = call("MessagePartGet", {"MsgID": msgid, "PartPath": [5]})
        self.assertEqual((r.status, r.json()["Code"]), (400, "partNotFound"))

        # Another account cannot see it.
        r = call("MessageGet", {"MsgID": msgid}, user=OTHER, password=OTHER_PASSWORD)
        self.assertEqual((r.status, r.json()["Code"]), (400, "messageNotFound"))

    def test_flags_move_delete(self):
        msgid, subject, mid, _, _ = self.deliver()
        self.assertEqual(ok("MessageFlagsAdd", {"MsgID": msgid,
                                                "Flags": ["\\seen", "$Junk", "Processed"]}), {})
        flags = self.imap_flags("INBOX", mid)
        for f in ("\\Seen", "$Junk", "processed"):
            self.assertIn(f, flags)
        self.assertEqual(ok("MessageFlagsRemove", {"MsgID": msgid, "Flags": ["\\Seen"]}), {})
        self.assertNotIn("\\Seen", self.imap_flags("INBOX", mid))
        # Flags in lower case, as the reference lists them.
        self.assertEqual(ok("MessageGet", {"MsgID": msgid})["Meta"]["Flags"], ["$junk", "processed"])
        r = call("MessageFlagsAdd", {"MsgID": msgid, "Flags": ["bad flag"]})
        self.assertEqual((r.status, r.json()["Code"]), (400, "user"))

        self.assertEqual(ok("MessageMove", {"MsgID": msgid, "DestMailboxName": "Archive"}), {})
        self.assertIsNone(self.imap_flags("INBOX", mid))
        self.assertIsNotNone(self.imap_flags("Archive", mid))
        r = call("MessageMove", {"MsgID": latest_msgid(USER, "Archive"),
                                 "DestMailboxName": "NoSuchBox"})
        self.assertEqual((r.status, r.json()["Code"]), (400, "user"))
        self.assertIn("not found", r.json()["Message"])

        moved = latest_msgid(USER, "Archive")
        self.assertEqual(ok("MessageGet", {"MsgID": moved})["Meta"]["MailboxName"], "Archive")
        self.assertEqual(ok("MessageDelete", {"MsgID": moved}), {})
        self.assertIsNone(self.imap_flags("Archive", mid))
        r = call("MessageGet", {"MsgID": moved})
        self.assertEqual((r.status, r.json()["Code"]), (400, "messageNotFound"))


class AuthTest(Base):
    def test_missing_and_bad_credentials(self):
        ip = harness.fresh_ip()
        r = call("SuppressionList", {}, auth=False, source_ip=ip)
        self.assertEqual(r.status, 401)
        self.assertIn("Basic", r.headers.getheader("WWW-Authenticate"))
        self.assertEqual(r.json()["Code"], "unauthorized")
        r = call("SuppressionList", {}, password="wrong", source_ip=ip)
        self.assertEqual((r.status, r.json()["Code"]), (401, "unauthorized"))
        rows = SRV.psql("SELECT result, auth_mech, account_name FROM login_attempts"
                        " WHERE protocol = 'webapi' AND remote_ip = :'ip'", ip=ip)
        self.assertEqual(rows, [["badcreds", "httpbasic", USER]])
        ok("SuppressionList", {}, source_ip=ip)
        rows = SRV.psql("SELECT result FROM login_attempts WHERE protocol = 'webapi'"
                        " AND remote_ip = :'ip' ORDER BY result", ip=ip)
        self.assertEqual(rows, [["badcreds"], ["ok"]])
        # Successful calls of an application are written once a minute,
        # failures every time.
        for _ in range(3):
            ok("SuppressionList", {}, source_ip=ip)
            call("SuppressionList", {}, password="wrong", source_ip=ip)
        rows = SRV.psql("SELECT result, count FROM login_attempts WHERE protocol = 'webapi'"
                        " AND remote_ip = :'ip' ORDER BY result", ip=ip)
        self.assertEqual(rows, [["badcreds", "4"], ["ok", "1"]])

    def test_password_change_and_disabled_login_apply_at_once(self):
        # Logins are cached (no password hashing per call) but checked
        # against the stored hash on every call.
        acct = unique("pw") + "@example.org"
        SRV.add_account(acct, "first-pass-1")
        ip = harness.fresh_ip()
        for _ in range(3):
            ok("SuppressionList", {}, user=acct, password="first-pass-1", source_ip=ip)
        SRV.cli("setaccountpassword", acct, input="second-pass-2\n")
        r = call("SuppressionList", {}, user=acct, password="first-pass-1", source_ip=ip)
        self.assertEqual(r.status, 401)
        ok("SuppressionList", {}, user=acct, password="second-pass-2", source_ip=ip)
        SRV.psql("UPDATE accounts SET login_disabled = 'no' WHERE name = :'a'", a=acct)
        r = call("SuppressionList", {}, user=acct, password="second-pass-2", source_ip=ip)
        self.assertEqual(r.status, 401)

    def test_rate_limit(self):
        harness.clear_of_minute_boundary()
        ip = harness.fresh_ip()
        statuses = [call("SuppressionList", {}, password="wrong%d" % i, source_ip=ip).status
                    for i in range(10)]
        self.assertEqual(statuses, [401] * 10)
        # The limiter now refuses even the right password from this range.
        r = call("SuppressionList", {}, source_ip=ip)
        self.assertEqual((r.status, r.json()["Code"]), (429, "rateLimited"))
        # Other addresses are not affected.
        ok("SuppressionList", {}, source_ip=harness.fresh_ip())


class RequestTest(Base):
    def expect(self, r, status, code, text):
        self.assertEqual(r.status, status, r.body)
        j = r.json()
        self.assertEqual(j["Code"], code, j)
        self.assertIn(text, j["Message"])

    def test_malformed_and_wrong_types(self):
        n = queue_count()
        to = [{"Address": "x@sink.test"}]
        self.expect(call("Send", body=b'{"To": [', content_type="application/json"),
                    400, "protocol", "malformed JSON")
        self.expect(call("Send", body=b'{"Text": "a"} {}', content_type="application/json"),
                    400, "protocol", "malformed JSON")
        self.expect(call("Send", body=b'[1]', content_type="application/json"),
                    400, "protocol", "JSON object")
        self.expect(call("Send", {"To": "x@sink.test", "Text": "a"}),
                    400, "protocol", 'field "To" must be an array')
        self.expect(call("Send", {"To": to, "Text": 5}), 400, "protocol", 'field "Text" must be a string')
        self.expect(call("Send", {"To": to, "Text": "a", "Bogus": 1}),
                    400, "protocol", 'unknown field "Bogus"')
        self.expect(call("MessageGet", {"MsgID": "1"}), 400, "protocol", "must be an integer")
        self.expect(call("MessageGet", {"MsgID": 1.5}), 400, "protocol", "must be an integer")
        self.expect(call("Send", {"To": to, "Text": "a", "RequireTLS": "yes"}),
                    400, "protocol", "boolean")
        self.expect(call("Send", {"To": to, "Text": "a", "FutureRelease": "tomorrow"}),
                    400, "protocol", "RFC 3339")
        self.expect(call("Send", body=b"", content_type="application/x-www-form-urlencoded"),
                    400, "protocol", "missing/empty request")
        self.expect(call("Send", body=b"x", content_type="text/xml"), 400, "protocol",
                    "unknown content-type")
        self.expect(call("Send", {"To": to}), 400, "missingBody", "text or html")
        self.expect(call("Send", {"Text": "a"}), 400, "noRecipients", "no recipients")
        self.expect(call("Send", {"To": [{"Address": "no-at-sign"}], "Text": "a"}),
                    400, "badAddress", "no-at-sign")
        self.expect(call("Send", {"From": [{"Address": OTHER}], "To": to, "Text": "a"}),
                    400, "badFrom", "not configured")
        self.expect(call("Send", {"From": [{"Address": USER}, {"Address": USER}], "To": to,
                                  "Text": "a"}), 400, "multipleFrom", "multiple")
        self.expect(call("Send", {"To": to, "Text": "a", "MessageID": "x@y"}),
                    400, "malformedMessageID", "<>")
        self.expect(call("Send", {"To": to, "Text": "a", "AttachedFiles": [{"Data": "!!"}]}),
                    400, "user", "base64")
        self.assertEqual(queue_count(), n)

    def test_header_injection_refused(self):
        n = queue_count()
        to = [{"Address": "x@sink.test"}]
        for req in ({"To": to, "Text": "a", "Subject": "hi\r\nBcc: victim@example.com"},
                    {"To": [{"Name": "a\nBcc: v@x", "Address": "x@sink.test"}], "Text": "a"},
                    {"To": to, "Text": "a", "Headers": [["X-A", "v\r\nBcc: v@x"]]},
                    {"To": to, "Text": "a", "Headers": [["X-A: b\r\nBcc", "v"]]},
                    {"To": to, "Text": "a", "Headers": [["Content-Type", "text/html"]]},
                    {"To": to, "Text": "a", "References": ["<a@b>\r\nBcc: v@x"]},
                    {"To": [{"Address": "x@sink.test\r\nRCPT TO:<v@x>"}], "Text": "a"}):
            r = call("Send", req)
            self.assertEqual(r.status, 400, (req, r.body))
            self.assertIn(r.json()["Code"], ("user", "badAddress"), r.body)
        self.assertEqual(queue_count(), n)

    def test_oversize_body(self):
        n = queue_count()
        big = {"To": [{"Address": "x@sink.test"}], "Text": "a",
               "AttachedFiles": [{"Data": base64.b64encode(b"x" * 3000000).decode()}]}
        r = call("Send", big)
        self.assertEqual(r.status, 413)
        self.assertEqual(queue_count(), n)

    def test_form_field_and_unknown_method(self):
        body = urllib.parse.urlencode({"request": json.dumps({"EmailAddress": "a+b@sink.test"})})
        r = call("SuppressionPresent", body=body.encode(),
                 content_type="application/x-www-form-urlencoded")
        self.assertEqual((r.status, r.json()), (200, {"Present": False}))
        r = call("NoSuchMethod", {})
        self.assertEqual((r.status, r.json()["Code"]), (404, "protocol"))

    def test_index_page(self):
        r = call("", auth=False, http_method="GET", path="/webapi/v0/")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers.getheader("Content-Type").startswith("text/html"))
        page = r.body.decode()
        for m in ("Send", "SuppressionList", "SuppressionAdd", "SuppressionRemove",
                  "SuppressionPresent", "MessageGet", "MessageRawGet", "MessagePartGet",
                  "MessageDelete", "MessageFlagsAdd", "MessageFlagsRemove", "MessageMove"):
            self.assertIn('id="%s"' % m, page)
            self.assertIn("curl -u", page)
        r = call("", auth=False, http_method="GET", path="/webapi/")
        self.assertEqual((r.status, r.headers.getheader("Location")), (303, "/webapi/v0/"))


class PostfixTest(Base):
    """Send to a Postfix peer on loopback (Debian's postfix, a private
    instance delivering pf.test into Maildirs)."""

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(postfix.POSTFIX):
            raise harness.HarnessError(postfix.available())
        why = postfix.available()
        if why:
            raise unittest.SkipTest("Postfix peer: %s" % why)
        cls.dir = tempfile.mkdtemp(prefix="mailstead-webapi-pf-", dir="/tmp")
        os.chmod(cls.dir, 0o755)
        cls.pf = postfix.Postfix(cls.dir, mode="maildir", domains=("pf.test",), port=PORT)
        try:
            cls.pf.start()
        except BaseException:
            shutil.rmtree(cls.dir, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.pf.stop()
        finally:
            shutil.rmtree(cls.dir, ignore_errors=True)

    def test_send_to_postfix(self):
        rcpt = "%s@pf.test" % unique("pf").replace("-", "")
        data = os.urandom(5000)
        subject = "Postfix ✓ %s" % unique("s")
        res = ok("Send", {"To": [{"Name": "Päivi", "Address": rcpt}], "Subject": subject,
                          "Text": "over SMTP to Postfix\n",
                          "AttachedFiles": [{"Name": "x.bin", "Data": base64.b64encode(data).decode()}]})
        self.assertGreater(res["Submissions"][0]["QueueMsgID"], 0)
        files = []
        self.assertTrue(wait_for(lambda: files.extend(self.pf.maildir_new_files(rcpt)) or files, 60),
                        "%s\n%s" % (harness.tail(SRV.logpath("queued")), self.pf.log_tail()))
        with open(files[0], "rb") as f:
            msg = email.message_from_bytes(f.read(), policy=email.policy.default)
        self.assertEqual((str(msg["Subject"]), msg["Message-Id"]), (subject, res["MessageID"]))
        att = [p for p in msg.walk() if p.get_filename() == "x.bin"][0]
        self.assertEqual(hashlib.sha256(att.get_content()).hexdigest(),
                         hashlib.sha256(data).hexdigest())
        self.assertIn("d=example.org", msg["DKIM-Signature"])


class CliClientTest(Base):
    def run_cli(self, *args, password=PASSWORD):
        env = dict(os.environ, MAILSTEAD_WEBAPI_URL="http://127.0.0.1:%d/webapi/v0/" % WEB.port,
                   MAILSTEAD_WEBAPI_PASSWORD=password)
        return subprocess.run([harness.CLI] + list(args), env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=60)

    def test_mailstead_webapi_client(self):
        addr = "%s@sink.test" % unique("cli").replace("-", "")
        r = self.run_cli("webapi", "-user", USER, "SuppressionAdd",
                         json.dumps({"EmailAddress": addr, "Reason": "cli"}))
        self.assertEqual((r.returncode, json.loads(r.stdout)), (0, {}), r.stderr)
        r = self.run_cli("webapi", "-user", USER, "SuppressionPresent",
                         json.dumps({"EmailAddress": addr}))
        self.assertEqual((r.returncode, json.loads(r.stdout)), (0, {"Present": True}), r.stderr)
        ok("SuppressionRemove", {"EmailAddress": addr})
        # Errors: the JSON error on stdout, the status on stderr, exit 1.
        r = self.run_cli("webapi", "-user", USER, "Send", '{"Text": "x"}')
        self.assertEqual((r.returncode, json.loads(r.stdout)["Code"]), (1, "noRecipients"))
        self.assertIn(b"HTTP status 400", r.stderr)
        r = self.run_cli("webapi", "-user", USER, "SuppressionList", password="wrong")
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"HTTP status 401", r.stderr)


class CurlTest(Base):
    """The README's examples, verbatim but for host, port and account."""

    def readme_examples(self):
        with open(os.path.join(harness.TOP_SRCDIR, "README.md")) as f:
            text = f.read()
        sect = text.split("## Webapi", 1)[1].split("\n## ", 1)[0]
        return re.findall(r"^\s*(curl .*?)\s*$", sect, re.M)

    def test_readme_curl_examples(self):
        lines = self.readme_examples()
        self.assertGreaterEqual(len(lines), 3, lines)
        rcpt = "%s@sink.test" % unique("curl").replace("-", "")
        for ln in lines:
            cmd = (ln.replace("you@example.org:password", "%s:%s" % (USER, PASSWORD))
                   .replace("https://mail.example.org", "http://127.0.0.1:%d" % WEB.port)
                   .replace("jane@example.com", rcpt)
                   .replace("you@example.org", USER))
            r = subprocess.run(["sh", "-c", cmd.replace("curl ", "curl -sS -H 'Host: localhost' ", 1)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
            self.assertEqual(r.returncode, 0, (cmd, r.stderr))
            out = json.loads(r.stdout)
            self.assertNotIn("Code", out, (cmd, out))
        self.assertTrue(sink_message(rcpt))


if __name__ == "__main__":
    unittest.main()
