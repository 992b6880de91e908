"""The webmail's reading side (fcgi/webmail/webmail_view.c) behind nginx:
message lists with keyset pagination, search and filters, single messages
as MessageItem and ParsedMessage, the single-use token and the /events
stream that reports deliveries and flag changes."""

import http.client
import json
import socket
import time
import unittest

import harness
import webserver
from harness import OTHER, OTHER_PASSWORD, PASSWORD, USER
from webserver import WebClient

SRV = None
WEB = None


def setUpModule():
    global SRV, WEB
    SRV = harness.Server("webmailview", daemons=("smtpd", "imapd"))
    # 12 workers: at most 6 event streams at once, 4 per account.
    WEB = webserver.start_stack(SRV, apps=("webmail",), login_failure_delay="0s", threads="12")


def tearDownModule():
    webserver.stop_stack(SRV, WEB)


def client(user=USER, password=PASSWORD):
    c = WebClient(WEB.port, "/webmail/", source_ip=harness.fresh_ip())
    c.login(password, user)
    return c


def error_code(r):
    j = r.json()
    return j.get("error", {}).get("code")


def query(mailbox_id=0, search="", unread=False, flagged=False):
    return {"mailboxID": mailbox_id, "search": search, "unread": unread, "flagged": flagged}


def page(anchor=0, count=10):
    return {"anchorMessageID": anchor, "count": count}


def deliver(subject, to=USER, body=None, extra=()):
    msg, _ = harness.make_message(subject=subject, to=to, body=body, extra_headers=extra)
    code, resp = SRV.deliver(msg, rcpts=(to,))
    assert code == 250, (code, resp)


MULTIPART = (
    b"--b1\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"Gr=C3=BC=C3=9Fe, the report is attached.\r\n"
    b"--b1\r\n"
    b"Content-Type: application/pdf; name=\"report.pdf\"\r\n"
    b"Content-Disposition: attachment; filename=\"report.pdf\"\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+PgpzdHJlYW0K\r\n"
    b"--b1--\r\n")


WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf")


class EventStream:
    """GET /webmail/events?token=T read as server-sent events."""

    def __init__(self, c, token):
        self.conn = http.client.HTTPConnection("127.0.0.1", WEB.port, timeout=harness.TIMEOUT)
        self.conn.request("GET", "/webmail/events?token=" + token, headers={
            "Host": "localhost",
            "Cookie": "; ".join("%s=%s" % kv for kv in c.cookies.items())})
        self.resp = self.conn.getresponse()

    def event(self, timeout=15):
        """The next event as (name, data), comments skipped."""
        deadline = time.monotonic() + timeout
        name, data = None, []
        while time.monotonic() < deadline:
            self.conn.sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                line = self.resp.readline()
            except socket.timeout:
                break
            if not line:
                raise AssertionError("stream ended")
            line = line.decode("utf-8").rstrip("\r\n")
            if line == "":
                if name is not None or data:
                    return name, json.loads("\n".join(data))
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
        raise AssertionError("no event within %ds" % timeout)

    def changes_until(self, pred, timeout=15):
        """Read "changes" events until pred(data) holds; returns data."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            name, data = self.event(timeout=max(1, deadline - time.monotonic()))
            if name == "changes" and pred(data):
                return data
        raise AssertionError("no matching changes event")

    def close(self):
        self.conn.close()


class ViewTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tag = harness.unique("pg")
        for w in WORDS:
            deliver("%s number %s" % (cls.tag, w))
        msg, _ = harness.make_message(subject="%s from juergen" % cls.tag)
        msg = msg.replace(b"From: Sender <", b"From: =?iso-8859-1?q?J=FCrgen_Schmidt?= <", 1)
        SRV.deliver(msg)
        deliver("=?utf-8?q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?= %s" % cls.tag,
                body=MULTIPART,
                extra=("MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="b1"'))
        SRV.psql_wait("SELECT count(*) FROM messages WHERE parsed->'E'->>'s' LIKE :'t'",
                      lambda rows: int(rows[0][0]) == 9, t="%" + cls.tag + "%")

    def all_mine(self, c):
        out = []
        anchor = 0
        while True:
            r = c.result("Request", query(search=self.tag), page(anchor, 3))
            out.extend(r["messages"])
            if not r["hasMore"]:
                return out, r["total"]
            anchor = r["messages"][-1]["id"]

    def test_request_pagination(self):
        c = client()
        first = c.result("Request", query(search=self.tag), page(0, 3))
        self.assertEqual(first["total"], 9)
        self.assertEqual(len(first["messages"]), 3)
        self.assertTrue(first["hasMore"])
        msgs, total = self.all_mine(c)
        self.assertEqual(total, 9)
        ids = [m["id"] for m in msgs]
        self.assertEqual(len(ids), 9)
        self.assertEqual(len(set(ids)), 9)
        # Newest first: received descending, then id descending.
        keys = [(m["received"], m["id"]) for m in msgs]
        self.assertEqual(keys, sorted(keys, reverse=True))
        # The last page says there is no more.
        last = c.result("Request", query(search=self.tag), page(ids[-2], 3))
        self.assertEqual([m["id"] for m in last["messages"]], ids[-1:])
        self.assertFalse(last["hasMore"])

    def test_request_search_and_mailbox(self):
        c = client()
        r = c.result("Request", query(search="%s NUMBER delta" % self.tag), page())
        self.assertEqual(r["total"], 1)
        self.assertEqual(r["messages"][0]["subject"], "%s number delta" % self.tag)
        # Addresses and text count too.
        r = c.result("Request", query(search="%s sender@example.net" % self.tag), page())
        self.assertEqual(r["total"], 9)
        r = c.result("Request", query(search="%s attached" % self.tag), page())
        self.assertEqual(r["total"], 1)
        # Encoded words count decoded: in the subject (any case of ASCII
        # letters) and in display names.
        r = c.result("Request", query(search="%s köln GRÜSSE" % self.tag), page())
        self.assertEqual((r["total"], len(r["messages"])), (0, 0))
        r = c.result("Request", query(search="%s KÖLN grüße" % self.tag.upper()), page())
        self.assertEqual(r["total"], 1)
        self.assertEqual(r["messages"][0]["subject"], "Grüße aus Köln %s" % self.tag)
        r = c.result("Request", query(search="Jürgen " + self.tag), page())
        self.assertEqual(r["total"], 1)
        self.assertEqual(r["messages"][0]["from"][0]["name"], "Jürgen Schmidt")
        r = c.result("Request", query(search=self.tag + " nosuchwordanywhere"), page())
        self.assertEqual(r["total"], 0)
        self.assertEqual(r["messages"], [])
        inbox = r = c.result("Request", query(search=self.tag), page(0, 1))["messages"][0]["mailboxID"]
        r = c.result("Request", query(mailbox_id=inbox, search=self.tag), page())
        self.assertEqual(r["total"], 9)

    def test_unread_and_flagged_filters(self):
        c = client()
        tag = harness.unique("unr")
        deliver(tag + " a")
        deliver(tag + " b")
        SRV.psql_wait("SELECT count(*) FROM messages WHERE parsed->'E'->>'s' LIKE (:'t')",
                      lambda rows: int(rows[0][0]) == 2, t=tag + " %")
        m = SRV.imap()
        m.select("INBOX")
        typ, data = m.uid("SEARCH", None, "SUBJECT", '"%s a"' % tag)
        uid = data[0].split()[0].decode()
        m.uid("STORE", uid, "+FLAGS", r"(\Seen \Flagged)")
        m.logout()
        r = c.result("Request", query(search=tag, unread=True), page())
        self.assertEqual([x["subject"] for x in r["messages"]], [tag + " b"])
        self.assertEqual(r["total"], 1)
        r = c.result("Request", query(search=tag, flagged=True), page())
        self.assertEqual([x["subject"] for x in r["messages"]], [tag + " a"])
        self.assertIn("\\Seen", r["messages"][0]["flags"])
        self.assertIn("\\Flagged", r["messages"][0]["flags"])

    def test_message_item_and_parsed_message(self):
        c = client()
        r = c.result("Request", query(search=self.tag + " report"), page())
        self.assertEqual(r["total"], 1)
        item = r["messages"][0]
        self.assertEqual(item["subject"], "Grüße aus Köln %s" % self.tag)
        self.assertEqual(item["from"], [{"name": "Sender", "address": harness.SENDER}])
        self.assertEqual(item["to"], [{"name": "", "address": USER}])
        self.assertEqual(item["attachments"], 1)
        self.assertGreater(item["date"], 1600000000)
        self.assertTrue(item["messageID"].startswith("<"))
        self.assertIn("report is attached", item["preview"])
        for k in ("id", "mailboxID", "uid", "threadID", "flags", "size", "received", "cc",
                  "bcc", "replyTo", "inReplyTo", "isList", "threadMuted", "threadCollapsed"):
            self.assertIn(k, item)
        self.assertEqual(c.result("MessageItem", item["id"]), item)

        pm = c.result("ParsedMessage", item["id"])
        self.assertEqual(pm["item"], item)
        self.assertEqual(pm["text"].strip(), "Grüße, the report is attached.")
        self.assertFalse(pm["hasHTML"])
        self.assertEqual(pm["viewMode"], "text")
        self.assertEqual(pm["listUnsubscribe"], "")
        root = pm["part"]
        self.assertEqual(root["path"], [])
        self.assertEqual(root["contentType"], "multipart/mixed")
        self.assertEqual([p["contentType"] for p in root["parts"]],
                         ["text/plain", "application/pdf"])
        pdf = root["parts"][1]
        self.assertEqual(pdf["path"], [1])
        self.assertEqual(pdf["disposition"], "attachment")
        self.assertEqual(pdf["filename"], "report.pdf")
        self.assertEqual(root["parts"][0]["charset"], "utf-8")
        self.assertEqual(pm["attachments"], [{"path": [1], "filename": "report.pdf",
                                              "contentType": "application/pdf",
                                              "size": pdf["size"]}])
        self.assertEqual(pm["headers"]["subject"],
                         ["=?utf-8?q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?= %s" % self.tag])
        self.assertIn("message-id", pm["headers"])

    def test_attached_message(self):
        tag = harness.unique("fwd")
        body = (b"--b2\r\n"
                b"Content-Type: text/plain\r\n\r\n"
                b"See the forwarded message.\r\n"
                b"--b2\r\n"
                b"Content-Type: message/rfc822\r\n\r\n"
                b"Subject: inner\r\nFrom: x@example.com\r\n\r\n"
                b"Inner text.\r\n"
                b"--b2--\r\n")
        deliver(tag, body=body, extra=("MIME-Version: 1.0",
                                       'Content-Type: multipart/mixed; boundary="b2"'))
        c = client()
        r = c.result("Request", query(search=tag), page())
        self.assertEqual(r["total"], 1)
        self.assertEqual(r["messages"][0]["attachments"], 1)
        pm = c.result("ParsedMessage", r["messages"][0]["id"])
        self.assertEqual(pm["text"].strip(), "See the forwarded message.")
        att = pm["part"]["parts"][1]
        self.assertEqual((att["contentType"], att["path"]), ("message/rfc822", [1]))
        self.assertEqual([(p["contentType"], p["path"]) for p in att["parts"]],
                         [("text/plain", [1, 0])])
        self.assertEqual([a["path"] for a in pm["attachments"]], [[1]])

    def test_other_accounts_message_not_found(self):
        tag = harness.unique("oth")
        deliver(tag, to=OTHER)
        rows = SRV.psql_wait("SELECT m.id FROM messages m WHERE parsed->'E'->>'s' = (:'t')",
                             lambda rows: len(rows) == 1, t=tag)
        other_id = int(rows[0][0])
        c = client()
        self.assertEqual(error_code(c.api("MessageItem", other_id)), "user:notFound")
        self.assertEqual(error_code(c.api("ParsedMessage", other_id)), "user:notFound")
        self.assertEqual(error_code(c.api("MessageItem", 999999999)), "user:notFound")
        # Its mailbox is not ours either, and its messages are not listed.
        mb = SRV.psql("SELECT mailbox_id FROM messages WHERE id = (:'i')", i=other_id)[0][0]
        self.assertEqual(error_code(c.api("Request", query(mailbox_id=int(mb)), page())),
                         "user:notFound")
        self.assertEqual(c.result("Request", query(search=tag), page())["total"], 0)
        self.assertEqual(error_code(c.api("Request", query(), page(other_id, 10))),
                         "user:notFound")
        # The owner sees it.
        o = client(OTHER, OTHER_PASSWORD)
        self.assertEqual(o.result("MessageItem", other_id)["subject"], tag)

    def test_malformed_params(self):
        c = client()
        bad = [
            ("Request", [query(), page(0, 0)]),
            ("Request", [query(), page(0, 100000)]),
            ("Request", [query(), page(-5, 10)]),
            ("Request", [query(), {"anchorMessageID": "x", "count": 10}]),
            ("Request", [{"mailboxID": "1", "search": "", "unread": False, "flagged": False},
                         page()]),
            ("Request", [{"mailboxID": 0, "search": 5, "unread": False, "flagged": False}, page()]),
            ("Request", [{"mailboxID": 0}, page()]),
            ("Request", [query(search="x" * 5000), page()]),
            ("Request", [query(search=" ".join("w%d" % i for i in range(50))), page()]),
            ("Request", [query(search="a\x01b"), page()]),
        ]
        for method, params in bad:
            r = c.api(method, *params)
            self.assertEqual(error_code(r), "user:error", (params, r.body[:200]))
        # Types the method table checks are refused before the method runs.
        for params in ([["x"], page()], [query()], ["1"]):
            r = c.api("Request" if len(params) != 1 or params[0] != "1" else "MessageItem",
                      *params)
            self.assertIn(error_code(r), ("user:badParams", "user:error"), r.body[:200])

    def test_ssetypes(self):
        c = client()
        types = c.result("SSETypes")
        self.assertEqual([t.split(":")[0] for t in types], ["start", "changes", "ping"])


class EventsTest(harness.TestCase):
    def test_events_delivery_and_flags(self):
        c = client()
        token = c.result("Token")
        es = EventStream(c, token)
        try:
            self.assertEqual(es.resp.status, 200)
            self.assertIn("text/event-stream", es.resp.getheader("Content-Type"))
            # X-Accel-Buffering: no (added by lib/web's FastCGI front-end
            # for streamed bodies) is consumed by nginx; the events
            # arriving promptly below show it took effect.
            name, start = es.event()
            self.assertEqual(name, "start")
            self.assertEqual(start["account"], USER)
            self.assertEqual(start["loginAddress"], USER)
            self.assertIn(USER, start["addresses"])
            self.assertIn("Inbox", [m["name"] for m in start["mailboxes"]])
            self.assertEqual(start["settings"]["quoting"], "default")

            tag = harness.unique("ev")
            deliver(tag)
            data = es.changes_until(lambda d: any(m["subject"] == tag for m in d["added"]))
            added = [m for m in data["added"] if m["subject"] == tag][0]
            inbox = [m for m in data["mailboxes"] if m["name"] == "Inbox"][0]
            self.assertEqual(added["mailboxID"], inbox["id"])
            self.assertGreaterEqual(inbox["unread"], 1)

            m = SRV.imap()
            m.select("INBOX")
            m.uid("STORE", str(added["uid"]), "+FLAGS", r"(\Flagged)")
            data = es.changes_until(lambda d: any(f["id"] == added["id"] for f in d["flags"]))
            f = [f for f in data["flags"] if f["id"] == added["id"]][0]
            self.assertIn("\\Flagged", f["flags"])

            # An expunge names the removed message.
            m.uid("STORE", str(added["uid"]), "+FLAGS", r"(\Deleted)")
            m.expunge()
            m.logout()
            data = es.changes_until(lambda d: added["id"] in d["removed"])
        finally:
            es.close()

    def test_token_single_use(self):
        c = client()
        token = c.result("Token")
        es = EventStream(c, token)
        try:
            self.assertEqual(es.resp.status, 200)
            self.assertEqual(es.event()[0], "start")
        finally:
            es.close()
        again = EventStream(c, token)
        try:
            self.assertEqual(again.resp.status, 403)
        finally:
            again.close()
        bad = EventStream(c, "nosuchtoken")
        try:
            self.assertEqual(bad.resp.status, 403)
        finally:
            bad.close()
        # Many tokens: the oldest of an account go, the newest work.
        tokens = [c.result("Token") for i in range(30)]
        es = EventStream(c, tokens[0])
        try:
            self.assertEqual(es.resp.status, 403)
        finally:
            es.close()
        es = EventStream(c, tokens[-1])
        try:
            self.assertEqual(es.resp.status, 200)
        finally:
            es.close()
        # Another session's token is refused too (and used up).
        other = client(OTHER, OTHER_PASSWORD)
        t2 = other.result("Token")
        es = EventStream(c, t2)
        try:
            self.assertEqual(es.resp.status, 403)
        finally:
            es.close()


    def test_logout_ends_stream(self):
        c = client()
        es = EventStream(c, c.result("Token"))
        try:
            self.assertEqual(es.event()[0], "start")
            self.assertIsNone(c.result("Logout"))
            # The stream ends (read until the end; event() raises then).
            with self.assertRaisesRegex(AssertionError, "stream ended"):
                while True:
                    es.event(timeout=30)
        finally:
            es.close()



class StreamLimitsTest(harness.TestCase):
    """After EventsTest (names sort so), whose streams are then gone or
    going."""

    def test_stream_limits(self):
        # Streams hold a FastCGI worker each: an account gets 4, all
        # together at most half the workers; the API keeps answering.
        c = client(OTHER, OTHER_PASSWORD)
        held = []
        try:
            for i in range(4):
                es = EventStream(c, c.result("Token"))
                held.append(es)
                self.assertEqual(es.resp.status, 200)
                self.assertEqual(es.event()[0], "start")
            es = EventStream(c, c.result("Token"))
            held.append(es)
            self.assertEqual(es.resp.status, 429)
            # A fresh account, whose per-account limit is not near.
            third = "third-%s@%s" % (harness.unique("t"), harness.DOMAIN)
            SRV.add_account(third, "third-password-3")
            u = client(third, "third-password-3")
            statuses = []
            for i in range(6):
                es = EventStream(u, u.result("Token"))
                held.append(es)
                statuses.append(es.resp.status)
                if es.resp.status != 200:
                    break
            # Streams of other tests may still be winding down, so fewer
            # than 2 may be left, never more; the last answer is 503 (all
            # streams), not 429 (this account's).
            self.assertEqual(statuses[-1], 503, statuses)
            self.assertLessEqual(statuses.count(200), 2, statuses)
            self.assertEqual(u.result("SSETypes")[0].split(":")[0], "start")
        finally:
            for es in held:
                es.close()


if __name__ == "__main__":
    unittest.main()
