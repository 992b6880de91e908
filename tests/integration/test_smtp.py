"""SMTP delivery: smtplib and swaks as clients, results read back over IMAP
byte-exact; EHLO keywords; recipient, sender, size and count limits."""

import os
import shutil
import subprocess
import tempfile

import harness
from harness import OTHER, OTHER_PASSWORD, PASSWORD, SENDER, USER, make_message, unique

MAX_SIZE = 1024 * 1024
MAX_RCPTS = 5
srv = None


def setUpModule():
    global srv
    srv = harness.Server("smtp", smtp_conf={"max_message_size": "1m",
                                            "max_recipients": str(MAX_RCPTS)}).start()


def tearDownModule():
    if srv:
        srv.stop()


class SmtpTest(harness.TestCase):

    def test_greeting_and_ehlo_keywords(self):
        with srv.raw_smtp(greet=False) as r:
            code, lines = r.smtp_reply()
            self.assertEqual(code, 220)
            self.assertIn(harness.HOSTNAME, lines[0])
            code, lines = r.smtp("EHLO " + harness.CLIENT_HOSTNAME)
            self.assertEqual(code, 250, lines)
            self.assertIn(harness.HOSTNAME, lines[0])
            kw = {}
            for ln in lines[1:]:
                parts = ln.split(None, 1)
                kw[parts[0].upper()] = parts[1] if len(parts) > 1 else ""
            for k in ("PIPELINING", "SIZE", "ENHANCEDSTATUSCODES", "8BITMIME", "LIMITS", "SMTPUTF8"):
                self.assertIn(k, kw, "EHLO lacks %s: %r" % (k, lines))
            self.assertEqual(kw["SIZE"], str(MAX_SIZE))
            self.assertIn("RCPTMAX=%d" % MAX_RCPTS, kw["LIMITS"].upper().split())
            self.assertEqual(r.smtp("QUIT")[0], 221)

    def test_basic_commands(self):
        with srv.raw_smtp() as r:
            self.assertEqual(r.smtp("HELO " + harness.CLIENT_HOSTNAME)[0], 250)
            self.assertEqual(r.smtp("NOOP")[0], 250)
            code, lines = r.smtp("VRFY user")
            self.assertEqual(code, 252, lines)
            self.assertEqual(r.smtp("RSET")[0], 250)
            # RCPT before MAIL is a sequence error.
            self.assertEqual(r.smtp("RCPT TO:<%s>" % USER)[0], 503)
            self.assertEqual(r.smtp("QUIT")[0], 221)
            self.assertTrue(r.closed(), "connection not closed after QUIT")

    def test_deliver_smtplib_byte_exact(self):
        msg, _ = make_message(extra_headers=["X-Test: smtplib"],
                              body=b"Line one\r\n\r\n  indented line\r\ntrailing spaces   \r\n\tTab\r\n")
        code, resp = srv.deliver(msg)
        self.assertEqual(code, 250, resp)
        self.assertDelivered(srv, msg)

    def test_deliver_swaks(self):
        subject = unique("swaks")
        text = ("From: Swaks Sender <%s>\nTo: <%s>\nSubject: %s\nMessage-ID: <%s@example.net>\n\n"
                "Body from swaks.\n.leading dot\n..two dots\n.\nlast line" % (SENDER, USER, subject, subject))
        d = tempfile.mkdtemp()
        try:
            path = os.path.join(d, "data")
            with open(path, "w") as f:
                f.write(text)
            r = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % srv.smtp_port, "--to", USER,
                                "--from", SENDER, "--helo", harness.CLIENT_HOSTNAME,
                                "--data", "@" + path],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        finally:
            shutil.rmtree(d)
        self.assertEqual(r.returncode, 0, r.stdout.decode("utf-8", "replace"))
        expected = text.replace("\n", "\r\n").encode() + b"\r\n"
        self.assertDelivered(srv, expected)

    def test_swaks_default_message(self):
        before = srv.inbox_count()
        r = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % srv.smtp_port, "--to", USER],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout.decode("utf-8", "replace"))
        m = srv.imap()
        try:
            typ, data = m.select("INBOX", readonly=True)
            self.assertEqual(int(data[0]), before + 1)
            got = harness.fetch_by_uid(m, max(harness.uid_search(m, "ALL")), "(BODY.PEEK[])")
        finally:
            m.logout()
        body = list(got.values())[0]["BODY[]"]
        self.assertIn(b"X-Mailer: swaks", body)
        self.assertIn(b"This is a test mailing", body)

    def test_unknown_user(self):
        with srv.smtp() as s:
            s.mail(SENDER)
            code, resp = s.rcpt("nobody-here@example.org")
            self.assertEqual(code, 550, resp)
            self.assertTrue(resp.startswith(b"5.1.1"), resp)
            # No valid recipient: DATA must not be accepted.
            code, resp = s.docmd("DATA")
            self.assertIn(code, (503, 554), resp)

    def test_no_relay(self):
        with srv.smtp() as s:
            s.mail(SENDER)
            code, resp = s.rcpt("someone@elsewhere.example")
            self.assertEqual(code, 550, resp)
            self.assertTrue(resp.startswith(b"5.7.1"), resp)

    def test_recipient_case_insensitive(self):
        msg, _ = make_message()
        code, resp = srv.deliver(msg, rcpts=["USER@EXAMPLE.ORG"])
        self.assertEqual(code, 250, resp)
        self.assertDelivered(srv, msg)

    def test_null_sender_single_recipient(self):
        before_other = srv.inbox_count(OTHER, OTHER_PASSWORD)
        msg, _ = make_message(frm="mailer-daemon@example.net")
        with srv.smtp() as s:
            self.assertEqual(s.mail("<>")[0], 250)
            self.assertEqual(s.rcpt(USER)[0], 250)
            code, resp = s.rcpt(OTHER)
            self.assertEqual(code, 452, resp)
            code, resp = s.data(msg)
            self.assertEqual(code, 250, resp)
        self.assertDelivered(srv, msg, mail_from="")
        self.assertEqual(srv.inbox_count(OTHER, OTHER_PASSWORD), before_other)

    def test_size_parameter_too_large(self):
        with srv.smtp() as s:
            code, resp = s.docmd("MAIL FROM:<%s> SIZE=%d" % (SENDER, MAX_SIZE * 2))
            self.assertEqual(code, 552, resp)
            code, resp = s.docmd("MAIL FROM:<%s> SIZE=%d" % (SENDER, 1000))
            self.assertEqual(code, 250, resp)

    def test_message_too_large_without_size(self):
        before = srv.inbox_count()
        files = srv.msg_files()
        line = b"x" * 998 + b"\r\n"
        msg, _ = make_message(body=line * (MAX_SIZE // len(line) + 200))
        with srv.smtp() as s:
            s.mail(SENDER)
            s.rcpt(USER)
            code, resp = s.data(msg)
            self.assertEqual(code, 552, resp)
            self.assertEqual(s.noop()[0], 250)
        self.assertEqual(srv.inbox_count(), before)
        self.assertEqual(srv.msg_files(), files)

    def test_max_recipients(self):
        # Distinct accounts, so no recipient is a duplicate of another.
        extra = ["rcptmax%d@example.org" % i for i in range(MAX_RCPTS - 1)]
        for a in extra:
            srv.cli("account", "add", a)
        rcpts = [USER, OTHER] + extra
        msg, _ = make_message()
        with srv.smtp() as s:
            s.mail(SENDER)
            for a in rcpts[:MAX_RCPTS]:
                code, resp = s.rcpt(a)
                self.assertEqual(code, 250, (a, resp))
            code, resp = s.rcpt(rcpts[MAX_RCPTS])
            self.assertEqual(code, 452, resp)
            code, resp = s.data(msg)
            self.assertEqual(code, 250, resp)
        self.assertDelivered(srv, msg)
        self.assertDelivered(srv, msg, OTHER, OTHER_PASSWORD)

    def test_multiple_recipients_two_accounts(self):
        msg, _ = make_message(to="%s, %s" % (USER, OTHER))
        code, resp = srv.deliver(msg, rcpts=[USER, OTHER])
        self.assertEqual(code, 250, resp)
        self.assertDelivered(srv, msg, USER, PASSWORD)
        self.assertDelivered(srv, msg, OTHER, OTHER_PASSWORD)

    def test_pipelining(self):
        msg, _ = make_message()
        with srv.raw_smtp() as r:
            self.assertEqual(r.smtp("EHLO " + harness.CLIENT_HOSTNAME)[0], 250)
            r.send("MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nRCPT TO:<nobody-pipe@example.org>\r\n"
                   "RCPT TO:<%s>\r\nDATA\r\n" % (SENDER, USER, OTHER))
            codes = [r.smtp_reply()[0] for _ in range(5)]
            self.assertEqual(codes, [250, 250, 550, 250, 354])
            r.send(msg + b".\r\n")
            self.assertEqual(r.smtp_reply()[0], 250)
            self.assertEqual(r.smtp("QUIT")[0], 221)
        self.assertDelivered(srv, msg, USER, PASSWORD)
        self.assertDelivered(srv, msg, OTHER, OTHER_PASSWORD)

    def test_dot_stuffing_round_trip(self):
        body = (b".\r\n..\r\n...\r\n.leading\r\n..double leading\r\n"
                b"middle . dot\r\n .space first\r\n.\r\nend.\r\n")
        msg, _ = make_message(body=body)
        code, resp = srv.deliver(msg)
        self.assertEqual(code, 250, resp)
        _uid, got = self.assertDelivered(srv, msg)
        self.assertTrue(got.endswith(b"\r\n" + body))

    def test_large_message_round_trip(self):
        # ~900 KiB (below the 1 MiB limit) with every byte value except CR/LF
        # and NUL in the lines, read back through an IMAP literal.
        alphabet = bytes(b for b in range(1, 256) if b not in (10, 13))
        lines = [alphabet[i % len(alphabet):] + alphabet[:i % len(alphabet)] for i in range(3600)]
        body = b"\r\n".join(ln[:250] for ln in lines) + b"\r\n"
        msg, _ = make_message(body=body, extra_headers=["Content-Type: application/octet-stream",
                                                        "Content-Transfer-Encoding: 8bit"])
        self.assertLess(len(msg), MAX_SIZE)
        self.assertGreater(len(msg), 800 * 1024)
        code, resp = srv.deliver(msg, mail_options=["BODY=8BITMIME"])
        self.assertEqual(code, 250, resp)
        self.assertDelivered(srv, msg)

    def test_8bitmime_body(self):
        body = "Grüße aus Köln — ½ € ✓\r\nLatin-1: ".encode("utf-8") + b"\xe9\xe8\xff\r\n"
        msg, _ = make_message(body=body, extra_headers=["Content-Type: text/plain; charset=utf-8",
                                                        "Content-Transfer-Encoding: 8bit"])
        code, resp = srv.deliver(msg, mail_options=["BODY=8BITMIME"])
        self.assertEqual(code, 250, resp)
        self.assertDelivered(srv, msg)

    def test_smtputf8_addresses(self):
        srv.cli("address", "add", "dörte@example.org", USER)
        sender = "jörg@example.net"
        msg, _ = make_message(subject="Grüße", frm=sender, to="dörte@example.org",
                              body="Schöne Grüße\r\n")
        code, resp = srv.deliver(msg, rcpts=["dörte@example.org"], mail_from=sender,
                                 mail_options=["SMTPUTF8", "BODY=8BITMIME"])
        self.assertEqual(code, 250, resp)
        self.assertDelivered(srv, msg, mail_from=sender)

    def test_utf8_address_requires_smtputf8(self):
        with srv.raw_smtp() as r:
            self.assertEqual(r.smtp("EHLO " + harness.CLIENT_HOSTNAME)[0], 250)
            code, lines = r.smtp("MAIL FROM:<jörg@example.net>")
            self.assertTrue(500 <= code < 600, "UTF-8 MAIL FROM without SMTPUTF8 accepted: %d %r"
                            % (code, lines))
            self.assertEqual(r.smtp("RSET")[0], 250)
            self.assertEqual(r.smtp("MAIL FROM:<%s>" % SENDER)[0], 250)
            code, lines = r.smtp("RCPT TO:<dörte@example.org>")
            self.assertTrue(500 <= code < 600, "UTF-8 RCPT TO without SMTPUTF8 accepted: %d %r"
                            % (code, lines))


class SmtpLocalserveTest(harness.TestCase):
    """[smtp] localserve_account, the testing mode mailstead localserve
    turns on: port 25 takes mail for addresses that are not ours into that
    account, and special localparts fail at MAIL FROM, RCPT TO or DATA."""

    ls = None

    @classmethod
    def setUpClass(cls):
        # A short inactivity timeout: the "timeout" localparts answer
        # 451 after it.
        cls.ls = harness.Server("smtpls", smtp_conf={"localserve_account": USER,
                                                     "timeout": "3s"}).start()

    @classmethod
    def tearDownClass(cls):
        if cls.ls:
            cls.ls.stop()

    def inbox_subjects(self, subject):
        m = self.ls.imap()
        try:
            m.select("INBOX", readonly=True)
            return harness.uid_search(m, "SUBJECT", subject)
        finally:
            m.logout()

    def test_off_by_default(self):
        # The module's ordinary server refuses what localserve accepts.
        with srv.smtp() as s:
            s.mail(SENDER)
            code, resp = s.rcpt("rcpttopermerror@elsewhere.example")
            self.assertEqual((code, resp[:5]), (550, b"5.7.1"), resp)
            code, resp = s.rcpt("someone@elsewhere.example")
            self.assertEqual(code, 550, resp)

    def test_mail_not_ours_goes_to_the_account(self):
        subject = unique("ls")
        msg, _ = make_message(subject=subject, to="someone@elsewhere.example")
        with self.ls.smtp() as s:
            s.mail(SENDER)
            for rcpt in ("someone@elsewhere.example", "nobody-here@example.org"):
                code, resp = s.rcpt(rcpt)
                self.assertEqual(code, 250, (rcpt, resp))
            code, resp = s.data(msg)
            self.assertEqual(code, 250, resp)
        self.assertDelivered(self.ls, msg)
        # Both recipients lead to the one account: one copy.
        self.assertEqual(len(self.inbox_subjects(subject)), 1)
        # Our own addresses still deliver where they belong.
        msg2, _ = make_message(to=OTHER)
        self.ls.deliver(msg2, rcpts=(OTHER,))
        self.assertDelivered(self.ls, msg2, OTHER, OTHER_PASSWORD)

    def test_rcptto_failures(self):
        subject = unique("lsrcpt")
        msg, _ = make_message(subject=subject, to="someone@elsewhere.example")
        with self.ls.raw_smtp() as r:
            self.assertEqual(r.smtp("EHLO " + harness.CLIENT_HOSTNAME)[0], 250)
            self.assertEqual(r.smtp("MAIL FROM:<%s>" % SENDER)[0], 250)
            for lp, want in (("rcpttopermerror", 550), ("RcptToTempError", 451),
                             ("rcptto.552", 552), ("rcptto421", 421)):
                code, lines = r.smtp("RCPT TO:<%s@elsewhere.example>" % lp)
                self.assertEqual(code, want, (lp, lines))
                self.assertIn("special localpart", lines[0])
                self.assertEqual(lines[0][:2], "%d." % (want // 100))
            # Without the prefix the RCPT is fine; the prefix alone too.
            self.assertEqual(r.smtp("RCPT TO:<rcptto@elsewhere.example>")[0], 250)
            self.assertEqual(r.smtp("DATA")[0], 354)
            r.send(msg + b".\r\n")
            code, lines = r.smtp_reply()
            self.assertEqual(code, 250, lines)
            self.assertEqual(r.smtp("QUIT")[0], 221)
        self.assertEqual(len(self.inbox_subjects(subject)), 1)

    def test_mailfrom_failures(self):
        with self.ls.raw_smtp() as r:
            self.assertEqual(r.smtp("EHLO " + harness.CLIENT_HOSTNAME)[0], 250)
            for lp, want in (("mailfrompermerror", 550), ("mailfromtemperror", 451),
                             ("mailfrom-554", 554)):
                code, lines = r.smtp("MAIL FROM:<%s@example.net>" % lp)
                self.assertEqual(code, want, (lp, lines))
            # A recipient-style localpart as sender is no failure.
            self.assertEqual(r.smtp("MAIL FROM:<rcpttopermerror@example.net>")[0], 250)
            self.assertEqual(r.smtp("RSET")[0], 250)
            self.assertEqual(r.smtp("MAIL FROM:<>")[0], 250)

    def test_data_failures(self):
        for lp, want in (("permerror", 550), ("temperror", 451), ("x.452", 452)):
            subject = unique("lsdata")
            msg, _ = make_message(subject=subject, to="%s@elsewhere.example" % lp)
            with self.ls.raw_smtp() as r:
                self.assertEqual(r.smtp("EHLO " + harness.CLIENT_HOSTNAME)[0], 250)
                self.assertEqual(r.smtp("MAIL FROM:<%s>" % SENDER)[0], 250)
                self.assertEqual(r.smtp("RCPT TO:<someone@elsewhere.example>")[0], 250)
                self.assertEqual(r.smtp("RCPT TO:<%s@elsewhere.example>" % lp)[0], 250)
                self.assertEqual(r.smtp("DATA")[0], 354)
                r.send(msg + b".\r\n")
                code, lines = r.smtp_reply()
                self.assertEqual(code, want, (lp, lines))
                # The session goes on.
                self.assertEqual(r.smtp("NOOP")[0], 250)
            # The whole message failed: no copy for the other recipient.
            self.assertEqual(self.inbox_subjects(subject), [], lp)

    def test_timeout_answers_nothing(self):
        with self.ls.raw_smtp() as r:
            self.assertEqual(r.smtp("EHLO " + harness.CLIENT_HOSTNAME)[0], 250)
            self.assertEqual(r.smtp("MAIL FROM:<%s>" % SENDER)[0], 250)
            r.send("RCPT TO:<rcpttotimeout@elsewhere.example>\r\n")
            self.assertTrue(r.nothing_within(1), "answered at once")
            # After the session's inactivity timeout (3s here): 451.
            code, lines = r.smtp_reply()
            self.assertEqual(code, 451, lines)
            self.assertIn("timed out", lines[0])
            self.assertEqual(r.smtp("RCPT TO:<someone@elsewhere.example>")[0], 250)
        # A client that gives up (at MAIL FROM this time) is noticed at
        # once, not after the timeout; the server keeps serving.
        with self.ls.raw_smtp() as r:
            self.assertEqual(r.smtp("EHLO " + harness.CLIENT_HOSTNAME)[0], 250)
            r.send("MAIL FROM:<mailfromtimeout@example.net>\r\n")
            self.assertTrue(r.nothing_within(0.5), "answered at once")
        log = self.ls.logpath("smtpd")

        def noticed():
            with open(log, encoding="utf-8", errors="replace") as f:
                return "ev=localserve-stall stage=mail result=client-gone" in f.read()
        self.assertTrue(harness.wait_for(noticed, 10, 0.1), harness.tail(log, 20))
        with self.ls.raw_smtp() as r:
            self.assertEqual(r.smtp("EHLO " + harness.CLIENT_HOSTNAME)[0], 250)
