"""The account web interface through a real nginx (fastcgi_pass to
mailstead-account): every API method of the account settings (webhooks,
fromid login addresses, retired periods, rejects, junk filter, suppression
list, TLS public keys, addresses with rulesets, aliases), import of a real
mbox and of a maildir tree (zip and tar.gz) with progress over server-sent
events, export as zip/tgz of maildir and mbox compared byte for byte with
what was imported, malformed archives, and the well-known endpoints
(Thunderbird autoconfig, Microsoft autodiscover, Apple .mobileconfig,
MTA-STS policy on mta-sts.<domain>)."""

import io
import json
import os
import plistlib
import smtplib
import subprocess
import tarfile
import tempfile
import unittest
import xml.etree.ElementTree as ET
import zipfile

import harness
import webserver
from harness import DOMAIN, HOSTNAME, OTHER, PASSWORD, USER
from webserver import WebClient

SRV = None
WEB = None


def setUpModule():
    global SRV, WEB
    SRV = harness.Server("webaccount", daemons=("smtpd",), tls=True, extra_ports=("imaps", "subm"),
                         listener_conf={"imaps": "{port:imaps}", "submission": "{port:subm}"})
    WEB = webserver.start_stack(SRV, login_failure_delay="0s", mtasts_mode="testing",
                                mtasts_max_age="2d", max_import="4m")


def tearDownModule():
    webserver.stop_stack(SRV, WEB)


def sse_events(body):
    """[(event, data)] of a text/event-stream body (comments skipped)."""
    out = []
    for block in body.decode("utf-8").split("\n\n"):
        ev, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event: "):
                ev = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        if data:
            out.append((ev, json.loads("\n".join(data))))
    return out


class Base(harness.TestCase):
    def run(self, result=None):
        before = len(result.failures) + len(result.errors) if result else 0
        out = super().run(result)
        if result and len(result.failures) + len(result.errors) > before and WEB:
            import sys
            sys.stderr.write("\n==== web logs ====\n%s\n" % WEB.log_tails())
        return out

    def client(self, user=USER, password=PASSWORD, host="localhost"):
        c = WebClient(WEB.port, "/", host=host, source_ip=harness.fresh_ip())
        c.login(password, user)
        return c

    def err(self, c, method, *params):
        r = c.api(method, *params)
        j = r.json()
        self.assertIn("error", j, "%s%r should fail: %r" % (method, params, j))
        return j["error"]["code"], j["error"]["message"]

    def assertAlive(self):
        self.assertTrue(WEB.program_alive("account"), "mailstead-account is not running")
        r = WebClient(WEB.port, "/").request("GET", "/")
        self.assertEqual(r.status, 200)


class TestSettings(Base):
    def test_webhooks(self):
        c = self.client()
        c.result("OutgoingWebhookSave", "https://hooks.example.net/out", "Basic c2VjcmV0",
                 ["delivered", "failed"])
        c.result("IncomingWebhookSave", "http://hooks.example.net/in", "")
        s = c.result("Settings")
        self.assertEqual(s["outgoingWebhook"], {"url": "https://hooks.example.net/out",
                                                "authorization": "Basic c2VjcmV0",
                                                "events": ["delivered", "failed"]})
        self.assertEqual(s["incomingWebhook"]["url"], "http://hooks.example.net/in")
        rows = SRV.psql("SELECT outgoing_webhook_url, array_to_string(outgoing_webhook_events, ','),"
                        " incoming_webhook_url FROM accounts WHERE name = '%s'" % USER)
        self.assertEqual(rows, [["https://hooks.example.net/out", "delivered,failed",
                                 "http://hooks.example.net/in"]])
        self.assertEqual(self.err(c, "OutgoingWebhookSave", "ftp://x", "", [])[0], "user:error")
        code, msg = self.err(c, "OutgoingWebhookSave", "https://x.example", "", ["bogus"])
        self.assertIn("unknown webhook event", msg)
        self.assertEqual(self.err(c, "IncomingWebhookSave", "", "Bearer x")[0], "user:error")
        self.assertEqual(self.err(c, "IncomingWebhookSave", "https://x\n", "")[0], "user:error")
        # Clearing.
        c.result("OutgoingWebhookSave", "", "", [])
        self.assertEqual(c.result("Settings")["outgoingWebhook"]["url"], "")

    def test_fromid_login_addresses(self):
        c = self.client()
        code, msg = self.err(c, "FromIDLoginAddressesSave", [OTHER])
        self.assertIn("not an address of this account", msg)
        code, msg = self.err(c, "FromIDLoginAddressesSave", [USER])
        self.assertIn("catch-all separator", msg)
        SRV.cli("domain", "set", DOMAIN, "catchall-separators", "+")
        try:
            c.result("FromIDLoginAddressesSave", [USER])
            self.assertEqual(c.result("Settings")["fromIDLoginAddresses"], [USER])
            c.result("FromIDLoginAddressesSave", [])
            self.assertEqual(c.result("Settings")["fromIDLoginAddresses"], [])
        finally:
            SRV.cli("domain", "set", DOMAIN, "catchall-separators", "")

    def test_fromid_used_by_submission(self):
        """A message submitted after logging in with a fromid login address
        is queued with a fromid; without it, with none."""
        c = self.client()
        SRV.cli("domain", "set", DOMAIN, "catchall-separators", "+")

        def submit(rcpt):
            s = smtplib.SMTP("127.0.0.1", SRV.ports["subm"], timeout=harness.TIMEOUT)
            try:
                s.ehlo("client.example")
                s.starttls(context=harness.tls_context())
                s.ehlo("client.example")
                s.login(USER, PASSWORD)
                s.sendmail(USER, [rcpt], b"From: user@example.org\r\nTo: %s\r\nSubject: t\r\n\r\nhi\r\n"
                           % rcpt.encode())
            finally:
                s.quit()
            return SRV.psql("SELECT length(from_id) FROM queue WHERE recipient_localpart = :'lp'",
                            lp=rcpt.split("@")[0])
        try:
            c.result("FromIDLoginAddressesSave", [USER])
            self.assertEqual(submit("fromid-on@elsewhere.example"), [["16"]])
            c.result("FromIDLoginAddressesSave", [])
            self.assertEqual(submit("fromid-off@elsewhere.example"), [["0"]])
        finally:
            SRV.psql("DELETE FROM queue WHERE recipient_domain = 'elsewhere.example'")
            SRV.cli("domain", "set", DOMAIN, "catchall-separators", "")

    def test_retired_rejects_junk(self):
        c = self.client()
        c.result("KeepRetiredPeriodsSave", 86400 * 7, 3600)
        s = c.result("Settings")
        self.assertEqual((s["keepRetiredMessagePeriod"], s["keepRetiredWebhookPeriod"]), (604800, 3600))
        self.assertEqual(SRV.psql("SELECT extract(epoch FROM keep_retired_message_period)::bigint"
                                  " FROM accounts WHERE name = '%s'" % USER), [["604800"]])
        self.assertEqual(self.err(c, "KeepRetiredPeriodsSave", -1, 0)[0], "user:error")
        self.assertEqual(self.err(c, "KeepRetiredPeriodsSave", "1d", 0)[0], "user:badParams")

        c.result("RejectsSave", "Rejects", True)
        s = c.result("Settings")
        self.assertEqual((s["rejectsMailbox"], s["keepRejects"]), ("Rejects", True))
        self.assertIn("Inbox", self.err(c, "RejectsSave", "inbox", False)[1])
        self.assertEqual(self.err(c, "RejectsSave", "a//b", False)[0], "user:error")

        jf = {"threshold": 0.95, "onegrams": True, "twograms": True, "threegrams": False,
              "maxPower": 0.01, "topWords": 10, "ignoreWords": 0.1, "rareWords": 2}
        c.result("JunkFilterSave", jf)
        self.assertEqual(c.result("Settings")["junkFilter"], jf)
        bad = dict(jf, threshold=1.5)
        self.assertIn("threshold", self.err(c, "JunkFilterSave", bad)[1])
        bad = dict(jf, extra=1)
        self.assertIn("unknown", self.err(c, "JunkFilterSave", bad)[1])
        bad = dict(jf)
        del bad["topWords"]
        self.assertIn("missing", self.err(c, "JunkFilterSave", bad)[1])
        c.result("JunkFilterSave", None)
        self.assertIsNone(c.result("Settings")["junkFilter"])

    def test_suppressions(self):
        c = self.client()
        c.result("SuppressionAdd", "Some.One+tag@Example.NET", True, "asked to stop")
        lst = c.result("SuppressionList")
        self.assertEqual(len(lst), 1)
        self.assertEqual(lst[0]["baseAddress"], "someone@example.net")
        self.assertEqual(lst[0]["originalAddress"], "Some.One+tag@example.net")
        self.assertEqual((lst[0]["manual"], lst[0]["reason"]), (True, "asked to stop"))
        self.assertIn("already", self.err(c, "SuppressionAdd", "someone@example.net", True, "")[1])
        self.assertEqual(self.err(c, "SuppressionAdd", "not an address", True, "")[0], "user:error")
        # The other account does not see it.
        self.assertEqual(self.client(OTHER, harness.OTHER_PASSWORD).result("SuppressionList"), [])
        c.result("SuppressionRemove", "someone@example.net")
        self.assertEqual(c.result("SuppressionList"), [])
        self.assertEqual(self.err(c, "SuppressionRemove", "someone@example.net")[0], "user:notFound")

    def test_tls_public_keys(self):
        c = self.client()
        d = tempfile.mkdtemp(dir=SRV.dir)
        key, cert = os.path.join(d, "k.pem"), os.path.join(d, "c.pem")
        # The commands the page shows (ed25519 key, minimal certificate).
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", key], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(["openssl", "req", "-x509", "-key", key, "-subj", "/CN=laptop", "-days", "3650",
                        "-out", cert], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(cert) as f:
            pem = f.read()
        k = c.result("TLSPublicKeyAdd", USER, "", False, pem)
        self.assertEqual((k["type"], k["name"], k["loginAddress"]), ("ed25519", "laptop", USER))
        self.assertEqual(len(k["fingerprint"]), 43)
        self.assertIn("already", self.err(c, "TLSPublicKeyAdd", USER, "x", False, pem)[1])
        self.assertIn("not an address", self.err(c, "TLSPublicKeyAdd", OTHER, "x", False, pem)[1])
        self.assertIn("certificate", self.err(c, "TLSPublicKeyAdd", USER, "x", False, "garbage")[1])
        c.result("TLSPublicKeyUpdate", {"fingerprint": k["fingerprint"], "name": "phone",
                                        "noIMAPPreauth": True})
        [k2] = c.result("TLSPublicKeys")
        self.assertEqual((k2["name"], k2["noIMAPPreauth"]), ("phone", True))
        other = self.client(OTHER, harness.OTHER_PASSWORD)
        self.assertEqual(other.result("TLSPublicKeys"), [])
        self.assertEqual(self.err(other, "TLSPublicKeyRemove", k["fingerprint"])[0], "user:notFound")
        self.assertEqual(self.err(other, "TLSPublicKeyUpdate",
                                  {"fingerprint": k["fingerprint"], "name": "x"})[0], "user:notFound")
        c.result("TLSPublicKeyRemove", k["fingerprint"])
        self.assertEqual(c.result("TLSPublicKeys"), [])

    def test_destinations_and_rulesets(self):
        c = self.client()
        [d] = [x for x in c.result("Destinations") if x["address"] == USER]
        self.assertEqual((d["mailbox"], d["rulesets"]), ("Inbox", []))
        rs = [{"smtpMailFromRegexp": "@lists\\.example\\.net$", "verifiedDomain": "lists.example.net",
               "headersRegexp": {"^list-id$": "dev"}, "mailbox": "Lists/Dev", "comment": "dev list",
               "listAllowDomain": "lists.example.net"},
              {"msgFromRegexp": "boss@", "mailbox": "inbox/boss"}]
        c.result("DestinationSave", USER, {"mailbox": "Inbox", "fullName": "User Name", "rulesets": rs})
        [d] = [x for x in c.result("Destinations") if x["address"] == USER]
        self.assertEqual(d["fullName"], "User Name")
        self.assertEqual([r["mailbox"] for r in d["rulesets"]], ["Lists/Dev", "Inbox/boss"])
        self.assertEqual(d["rulesets"][0]["headersRegexp"], {"^list-id$": "dev"})
        # The CLI sees the same rulesets, in order.
        out = SRV.cli("ruleset", "list", USER).stdout
        self.assertLess(out.index("Lists/Dev"), out.index("Inbox/boss"), out)
        # Validation: nothing is saved on any error.
        for bad, want in ((dict(mailbox="X"), "condition"),
                          (dict(msgFromRegexp="(", mailbox="X"), "ruleset 1"),
                          (dict(headersRegexp={"Subject": "x"}, mailbox="X"), "lower case"),
                          (dict(msgFromRegexp="x"), "mailbox"),
                          (dict(msgFromRegexp="x", mailbox="X", verifiedDomain="bad domain!"), "domain"),
                          (dict(msgFromRegexp="x", mailbox="X", isForward=True), "ruleset 1")):
            code, msg = self.err(c, "DestinationSave", USER, {"rulesets": [bad]})
            self.assertEqual(code, "user:error", msg)
            self.assertIn(want, msg)
        self.assertEqual(self.err(c, "DestinationSave", USER, {"rulesets": [1]})[0], "user:badParams")
        self.assertIn("not an address", self.err(c, "DestinationSave", OTHER, {})[1])
        self.assertEqual(len(SRV.psql("SELECT 1 FROM rulesets r JOIN addresses a ON a.id = r.address_id"
                                      " WHERE a.localpart = 'user'")), 2)
        # Removing all.
        c.result("DestinationSave", USER, {"mailbox": "", "rulesets": []})
        [d] = [x for x in c.result("Destinations") if x["address"] == USER]
        self.assertEqual(d["rulesets"], [])

    def test_aliases(self):
        SRV.cli("alias", "add", "team@" + DOMAIN, USER, OTHER, "--list-members")
        SRV.cli("alias", "add", "hidden@" + DOMAIN, USER, OTHER)
        try:
            lst = self.client().result("Aliases")
            by = {a["address"]: a for a in lst}
            self.assertEqual(sorted(by), ["hidden@" + DOMAIN, "team@" + DOMAIN])
            self.assertEqual(by["team@" + DOMAIN]["members"], [OTHER, USER])
            self.assertTrue(by["team@" + DOMAIN]["listMembers"])
            self.assertIsNone(by["hidden@" + DOMAIN]["members"])
            self.assertEqual(by["hidden@" + DOMAIN]["memberAddresses"], [USER])
        finally:
            SRV.cli("alias", "rm", "team@" + DOMAIN)
            SRV.cli("alias", "rm", "hidden@" + DOMAIN)

    def test_basic_methods(self):
        c = self.client()
        self.assertTrue(c.result("Version").startswith("mailstead "))
        self.assertEqual(c.result("Account")["name"], USER)
        pw = c.result("GeneratePassword")
        self.assertGreaterEqual(len(pw), 16)
        atts = c.result("LoginAttempts", 10)
        self.assertTrue(any(a["result"] == "ok" for a in atts))
        c.result("AccountSaveFullName", "Full Name")
        self.assertEqual(c.result("Account")["fullName"], "Full Name")
        c.result("SetPassword", PASSWORD)
        self.assertEqual(self.err(c, "ImportAbort", "nosuchtoken")[0], "user:notFound")


# ---- import and export

MBOX_MSGS = [
    b"From: a@example.net\nTo: user@example.org\nSubject: one\nMessage-ID: <1@x>\n\nBody one.\n"
    b"From here on, a line that mbox must quote.\n>From an already quoted line.\n",
    b"From: b@example.net\nSubject: two\n\nSecond message\n\nwith a blank line.\n",
    b"From: c@example.net\nSubject: three\n\n" + b"x" * 5000 + b"\n",
]


def make_mbox(msgs):
    out = b""
    for i, m in enumerate(msgs):
        out += b"From sender@example.net Thu Nov 23 0%d:00:00 2023\n" % i
        for line in m.split(b"\n")[:-1]:
            k = len(line) - len(line.lstrip(b">"))
            if line[k:].startswith(b"From "):
                line = b">" + line
            out += line + b"\n"
        out += b"\n"
    return out


def parse_mbox(data):
    """Messages of an mboxrd file (our own reading, not Python's mboxo)."""
    msgs, cur = [], None
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    prev_blank = True
    for line in lines:
        if prev_blank and line.startswith(b"From "):
            if cur is not None:
                msgs.append(cur[:-1])  # the blank separator line
            cur = b""
        else:
            k = len(line) - len(line.lstrip(b">"))
            if k and line[k:].startswith(b"From "):
                line = line[1:]
            cur += line + b"\n"
        prev_blank = line == b""
    if cur is not None:
        msgs.append(cur[:-1])
    return msgs


def crlf(b):
    return b.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


MAILDIR = {
    "cur/1700000000.1.host:2,S": b"From: d@example.net\nSubject: seen\n\nseen body\n",
    "new/1700000001.2.host": b"From: e@example.net\nSubject: new\n\nnew body\n",
    ".Work.Projects/cur/1700000002.3.host:2,FR": b"From: f@example.net\nSubject: work\n\nwork body\n",
    "tmp/1700000003.4.host": b"From: g@example.net\nSubject: tmp\n\nnot a message yet\n",
    "dovecot-uidlist": b"3 V1 N4\n",
}


def tgz(files):
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w:gz") as t:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = 1700000000
            t.addfile(ti, io.BytesIO(data))
    return bio.getvalue()


def zipped(files):
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return bio.getvalue()


class TestImportExport(Base):
    ACCOUNT = "porter@" + DOMAIN
    PW = "porter-password-1"

    @classmethod
    def setUpClass(cls):
        SRV.add_account(cls.ACCOUNT, cls.PW)

    def upload(self, c, data, csrf=True):
        h = {"Content-Type": "application/octet-stream"}
        if csrf:
            h["x-mailstead-csrf"] = c.csrf
        return c.request("POST", "/import", body=data, headers=h)

    def run_import(self, c, data):
        r = self.upload(c, data)
        self.assertEqual(r.status, 200, r.body)
        token = r.json()["result"]["importToken"]
        r = c.request("GET", "/importprogress?token=" + token)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.header("Content-Type"), "text/event-stream")
        return sse_events(r.body)

    def export(self, c, fmt, arch):
        body = "csrf=%s&format=%s&archive=%s" % (c.csrf, fmt, arch)
        r = c.request("POST", "/export", body=body.encode(),
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 200, r.body[:300])
        return r

    def messages_in(self, mailbox):
        return SRV.psql("SELECT m.uid FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id"
                        " JOIN accounts a ON a.id = m.account_id WHERE a.name = '%s' AND b.name = '%s'"
                        % (self.ACCOUNT, mailbox))

    def test_1_import_mbox_and_maildir_then_export(self):
        c = self.client(self.ACCOUNT, self.PW)
        evs = self.run_import(c, zipped({"Archive/Old.mbox": make_mbox(MBOX_MSGS)}))
        self.assertEqual(evs[0], ("start", {"messages": 3}), evs)
        self.assertEqual(evs[-1][0], "done", evs)
        self.assertEqual(evs[-1][1]["total"], 3)
        self.assertTrue(any(e == "count" and d["mailbox"] == "Archive/Old" for e, d in evs), evs)
        self.assertEqual(len(self.messages_in("Archive/Old")), 3)

        evs = self.run_import(c, tgz(MAILDIR))
        self.assertEqual(evs[-1], ("done", {"total": 3, "mailboxes": 2}), evs)
        self.assertEqual(len(self.messages_in("Inbox")), 2)
        self.assertEqual(len(self.messages_in("Work/Projects")), 1)
        flags = SRV.psql("SELECT m.flags FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id"
                         " WHERE b.name = 'Work/Projects' AND m.account_id ="
                         " (SELECT id FROM accounts WHERE name = '%s')" % self.ACCOUNT)
        self.assertEqual(flags, [["6"]])  # \Answered | \Flagged
        recv = SRV.psql("SELECT extract(epoch FROM m.received)::bigint FROM messages m JOIN mailboxes b"
                        " ON b.id = m.mailbox_id WHERE b.name = 'Archive/Old' ORDER BY m.uid")
        self.assertEqual(recv[0], ["1700697600"])  # Thu Nov 23 00:00:00 2023 UTC

        # mbox export: the mbox messages come back byte for byte (LF).
        r = self.export(c, "mbox", "zip")
        self.assertEqual(r.header("Content-Type"), "application/zip")
        self.assertIn("attachment", r.header("Content-Disposition"))
        z = zipfile.ZipFile(io.BytesIO(r.body))
        names = z.namelist()
        self.assertIn("Archive/Old.mbox", names)
        self.assertIn("Inbox.mbox", names)
        self.assertEqual(parse_mbox(z.read("Archive/Old.mbox")), MBOX_MSGS)
        inbox = parse_mbox(z.read("Inbox.mbox"))
        self.assertEqual(sorted(inbox), sorted([MAILDIR["cur/1700000000.1.host:2,S"],
                                                MAILDIR["new/1700000001.2.host"]]))

        # maildir export (tgz): stored bytes (CRLF) and flags in names.
        r = self.export(c, "maildir", "tgz")
        self.assertEqual(r.header("Content-Type"), "application/gzip")
        t = tarfile.open(fileobj=io.BytesIO(r.body), mode="r:gz")
        files = {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}
        dirs = {m.name.rstrip("/") for m in t.getmembers() if m.isdir()}
        self.assertIn("Inbox/new", dirs)
        self.assertIn("Work/Projects/tmp", dirs)
        work = [(n, b) for n, b in files.items() if n.startswith("Work/Projects/cur/")]
        self.assertEqual(len(work), 1)
        self.assertTrue(work[0][0].endswith(":2,FR"), work[0][0])
        self.assertEqual(work[0][1], crlf(MAILDIR[".Work.Projects/cur/1700000002.3.host:2,FR"]))
        old = sorted(b for n, b in files.items() if n.startswith("Archive/Old/cur/"))
        self.assertEqual(old, sorted(crlf(m) for m in MBOX_MSGS))
        seen = [n for n, b in files.items() if b == crlf(MAILDIR["cur/1700000000.1.host:2,S"])]
        self.assertEqual(len(seen), 1)
        self.assertTrue(seen[0].startswith("Inbox/cur/1700000000.") and seen[0].endswith(":2,S"), seen)

        # Round trip: the maildir export imported into another account.
        other = "porter2@" + DOMAIN
        SRV.add_account(other, self.PW)
        c2 = self.client(other, self.PW)
        evs = self.run_import(c2, r.body)
        self.assertEqual(evs[-1][0], "done", evs)
        self.assertEqual(evs[-1][1]["total"], 6)
        r2 = self.export(c2, "maildir", "zip")
        z2 = zipfile.ZipFile(io.BytesIO(r2.body))
        got = sorted(z2.read(n) for n in z2.namelist() if "/cur/" in n and not n.endswith("/"))
        self.assertEqual(got, sorted(files[n] for n in files if "/cur/" in n))

    def test_large_upload(self):
        """Uploads over [web] max_body (1m) but within max_import pass
        (nginx's /import location allows them too); larger ones get 413."""
        import base64
        c = self.client(self.ACCOUNT, self.PW)
        body = base64.encodebytes(os.urandom(2200 * 1024))
        msg = b"From: big@example.net\nSubject: big\n\n" + body
        data = tgz({"Big.mbox": make_mbox([msg])})
        self.assertGreater(len(data), 2 * 1024 * 1024)
        evs = self.run_import(c, data)
        self.assertEqual(evs[-1], ("done", {"total": 1, "mailboxes": 1}), evs[-3:])
        r = self.export(c, "mbox", "tgz")
        t = tarfile.open(fileobj=io.BytesIO(r.body), mode="r:gz")
        self.assertEqual(parse_mbox(t.extractfile("Big.mbox").read()), [msg])
        big = os.urandom(5 * 1024 * 1024)
        self.assertEqual(self.upload(c, big).status, 413)
        # The API keeps the small limit.
        r = c.api("Account", raw_body=b" " * (1024 * 1024 + 10))
        self.assertEqual(r.status, 413)

    def test_malformed_archives(self):
        c = self.client(self.ACCOUNT, self.PW)
        before = SRV.psql("SELECT count(*) FROM messages")
        evs = self.run_import(c, b"this is not an archive at all\n" * 10)
        self.assertEqual(evs[-1][0], "error", evs)
        self.assertIn("archive", evs[-1][1]["message"])
        good = tgz({"x.mbox": make_mbox(MBOX_MSGS)})
        evs = self.run_import(c, good[:len(good) // 2])
        self.assertEqual(evs[-1][0], "error", evs)
        self.assertNotIn("start", [e for e, d in evs])
        zbytes = zipped({"a.mbox": make_mbox(MBOX_MSGS * 200)})
        evs = self.run_import(c, zbytes[:len(zbytes) // 2])
        self.assertEqual(evs[-1][0], "error", evs)
        # Odd entries: skipped with a problem each, the rest imported.
        evs = self.run_import(c, zipped({"notes.txt": b"hello\n", "../../etc/x.mbox": make_mbox(MBOX_MSGS[:1]),
                                         "bad.mbox": b"no from line\n", "empty/cur/1.x:2,": b""}))
        problems = [d["message"] for e, d in evs if e == "problem"]
        self.assertEqual(len(problems), 4, evs)
        self.assertTrue(any("notes.txt" in p for p in problems), problems)
        self.assertTrue(any(".." in p for p in problems), problems)
        self.assertEqual(evs[-1], ("done", {"total": 0, "mailboxes": 0}), evs)
        self.assertEqual(SRV.psql("SELECT count(*) FROM messages"), before)
        # No CSRF header: refused; empty body: an error.
        self.assertEqual(self.upload(c, good, csrf=False).status, 403)
        r = self.upload(c, b"")
        self.assertEqual(r.json()["error"]["code"], "user:error")
        # Someone else's token is not found.
        r = self.upload(c, good)
        token = r.json()["result"]["importToken"]
        c2 = self.client(OTHER, harness.OTHER_PASSWORD)
        self.assertEqual(c2.request("GET", "/importprogress?token=" + token).status, 404)
        c.request("GET", "/importprogress?token=" + token)
        self.assertEqual(c.request("POST", "/export", body=b"csrf=%s&format=eml&archive=zip"
                                   % c.csrf.encode(),
                                   headers={"Content-Type": "application/x-www-form-urlencoded"}).status, 400)
        self.assertAlive()


class TestPage(Base):
    def test_page_and_assets(self):
        c = WebClient(WEB.port, "/")
        r = c.request("GET", "/")
        self.assertEqual(r.status, 200)
        csp = r.header("Content-Security-Policy")
        self.assertIn("script-src 'self'", csp)
        self.assertNotIn("unsafe-inline", csp)
        for ref in (b"account.js", b"account.css", b"api.js", b'id="importform"', b'id="keyform"',
                    b"openssl genpkey"):
            self.assertIn(ref, r.body)
        self.assertNotIn(b"<script>", r.body)  # no inline scripts
        for path, ctype in (("/account.js", "javascript"), ("/account.css", "text/css"),
                            ("/favicon.svg", "image/svg")):
            r = c.request("GET", path)
            self.assertEqual(r.status, 200, path)
            self.assertIn(ctype, r.header("Content-Type"))


# ---- well-known endpoints

class TestWellKnown(Base):
    def get(self, host, path, method="GET", body=None):
        return WebClient(WEB.port, "/", host=host).request(method, path, body=body)

    def test_autoconfig(self):
        r = self.get("autoconfig." + DOMAIN, "/mail/config-v1.1.xml?emailaddress=user%40example.org")
        self.assertEqual(r.status, 200, r.body)
        self.assertTrue(r.header("Content-Type").startswith("application/xml"))
        x = ET.fromstring(r.body)
        self.assertEqual(x.tag, "clientConfig")
        p = x.find("emailProvider")
        self.assertEqual(p.get("id"), DOMAIN)
        inc = p.find("incomingServer")
        self.assertEqual((inc.get("type"), inc.findtext("hostname"), inc.findtext("port"),
                          inc.findtext("socketType"), inc.findtext("username")),
                         ("imap", HOSTNAME, str(SRV.ports["imaps"]), "SSL", USER))
        out = p.find("outgoingServer")
        self.assertEqual((out.get("type"), out.findtext("port"), out.findtext("socketType")),
                         ("smtp", str(SRV.ports["subm"]), "STARTTLS"))
        # Without emailaddress: the placeholder, domain from the host name.
        r = self.get("autoconfig." + DOMAIN, "/.well-known/autoconfig/mail/config-v1.1.xml")
        self.assertEqual(ET.fromstring(r.body).find("emailProvider/incomingServer/username").text,
                         "%EMAILADDRESS%")
        self.assertEqual(self.get("autoconfig.unknown.example", "/mail/config-v1.1.xml").status, 404)
        self.assertEqual(self.get("localhost", "/mail/config-v1.1.xml?emailaddress=x%40nowhere.example").status,
                         404)
        # Nothing else of the interface on the well-known host names.
        self.assertEqual(self.get("autoconfig." + DOMAIN, "/").status, 404)
        self.assertEqual(self.get("autoconfig." + DOMAIN, "/favicon.svg").status, 404)
        r = WebClient(WEB.port, "/", host="autoconfig." + DOMAIN).api("Version")
        self.assertEqual(r.status, 404)

    def test_autodiscover(self):
        req = (b'<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/'
               b'exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>user@example.org'
               b'</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/'
               b'outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>')
        r = self.get("autodiscover." + DOMAIN, "/autodiscover/autodiscover.xml", "POST", req)
        self.assertEqual(r.status, 200, r.body)
        ns = {"a": "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006",
              "o": "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"}
        x = ET.fromstring(r.body)
        protos = x.findall("o:Response/o:Account/o:Protocol", ns)
        got = {p.findtext("o:Type", namespaces=ns): (p.findtext("o:Server", namespaces=ns),
                                                     p.findtext("o:Port", namespaces=ns),
                                                     p.findtext("o:Encryption", namespaces=ns),
                                                     p.findtext("o:LoginName", namespaces=ns))
               for p in protos}
        self.assertEqual(got, {"IMAP": (HOSTNAME, str(SRV.ports["imaps"]), "TLS", USER),
                               "SMTP": (HOSTNAME, str(SRV.ports["subm"]), None, USER)})
        self.assertEqual(self.get("autodiscover." + DOMAIN, "/autodiscover/autodiscover.xml", "POST",
                                  b"<nothing/>").status, 400)
        self.assertEqual(self.get("autodiscover." + DOMAIN, "/autodiscover/autodiscover.xml", "POST",
                                  req.replace(b"example.org<", b"nowhere.example<")).status, 404)

    def test_mtasts(self):
        r = self.get("mta-sts." + DOMAIN, "/.well-known/mta-sts.txt")
        self.assertEqual(r.status, 200, r.body)
        self.assertTrue(r.header("Content-Type").startswith("text/plain"))
        self.assertEqual(r.body, b"version: STSv1\r\nmode: testing\r\nmx: %s\r\nmax_age: 172800\r\n"
                         % HOSTNAME.encode())
        self.assertEqual(self.get("mta-sts.unknown.example", "/.well-known/mta-sts.txt").status, 404)
        self.assertEqual(self.get("localhost", "/.well-known/mta-sts.txt").status, 404)
        self.assertEqual(self.get("mta-sts." + DOMAIN, "/").status, 404)
        # A disabled domain has no policy.
        SRV.cli("domain", "set", DOMAIN, "disabled", "yes")
        try:
            harness.wait_for(lambda: self.get("mta-sts." + DOMAIN, "/.well-known/mta-sts.txt").status == 404, 10)
            self.assertEqual(self.get("mta-sts." + DOMAIN, "/.well-known/mta-sts.txt").status, 404)
        finally:
            SRV.cli("domain", "set", DOMAIN, "disabled", "no")

    def test_mobileconfig(self):
        c = self.client()
        r = c.request("GET", "/profile.mobileconfig")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.header("Content-Type"), "application/x-apple-aspen-config")
        self.assertIn("email-account-user@example.org.mobileconfig", r.header("Content-Disposition"))
        p = plistlib.loads(r.body)
        self.assertEqual(p["PayloadType"], "Configuration")
        [acct] = p["PayloadContent"]
        self.assertEqual(acct["PayloadType"], "com.apple.mail.managed")
        self.assertEqual(acct["EmailAddress"], USER)
        self.assertEqual((acct["IncomingMailServerHostName"], acct["IncomingMailServerPortNumber"],
                          acct["IncomingMailServerUseSSL"]), (HOSTNAME, SRV.ports["imaps"], True))
        self.assertEqual((acct["OutgoingMailServerPortNumber"], acct["OutgoingMailServerUseSSL"]),
                         (SRV.ports["subm"], False))
        # Stable identifiers: the same profile twice.
        self.assertEqual(c.request("GET", "/profile.mobileconfig").body, r.body)
        self.assertEqual(c.request("GET", "/profile.mobileconfig?address=other%40example.org").status, 404)
        # Needs a session.
        self.assertEqual(WebClient(WEB.port, "/").request("GET", "/profile.mobileconfig").status, 403)


if __name__ == "__main__":
    unittest.main()
