"""Integration tests of mailstead-imapd with real clients (imaplib and raw
sockets) against the real daemons and a throwaway PostgreSQL (harness.py).
Run by tests/integration/run-tests (which puts harness.py on PYTHONPATH), or
by hand: PYTHONPATH=tests/integration top_builddir=BUILD python3 THIS_FILE"""
import base64
import imaplib
import re
import time
import unittest

import harness
from harness import USER, PASSWORD, make_message

SRV = None


def setUpModule():
    global SRV
    SRV = harness.Server(name="imapd").start()


def tearDownModule():
    SRV.stop()


MULTIPART = (
    b"From: =?utf-8?q?J=C3=BCrgen?= <j@example.net>\r\n"
    b"To: a@example.org, Group: b@example.org, c@example.org;\r\n"
    b"Subject: multi\r\n"
    b"Date: Tue, 1 Jul 2025 10:00:00 +0200\r\n"
    b"Message-ID: <multi@example.net>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=\"BB\"\r\n"
    b"\r\n"
    b"preamble\r\n"
    b"--BB\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"Gr=C3=BC=C3=9Fe, needle in the body\r\n"
    b"--BB\r\n"
    b"Content-Type: application/octet-stream; name=\"a.bin\"\r\n"
    b"Content-Disposition: attachment; filename=\"a.bin\"\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"AAECAwQ=\r\n"
    b"--BB\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"From: inner@example.com\r\n"
    b"Subject: inner\r\n"
    b"\r\n"
    b"inner body\r\n"
    b"--BB--\r\n"
)


class ImapdTest(harness.TestCase):

    def login(self, user=USER, password=PASSWORD):
        return SRV.imap(user, password)

    def raw(self, login=True):
        r = harness.Raw(SRV.imap_port)
        greet = r.line()
        self.assertTrue(greet.startswith(b"* OK [CAPABILITY IMAP4rev2 IMAP4rev1"), greet)
        if login:
            _, t = r.imap("L", "LOGIN %s %s" % (USER, PASSWORD))
            self.assertTrue(t.startswith("L OK"), t)
        return r

    def fresh_mailbox(self, n=0, flags=None):
        """Empty INBOX of USER then deliver n messages; returns message bytes."""
        m = self.login()
        m.select("INBOX")
        typ, data = m.search(None, "ALL")
        if data[0]:
            m.store("1:*", "+FLAGS.SILENT", "\\Deleted")
            m.expunge()
        m.logout()
        msgs = []
        for i in range(n):
            msg, _ = make_message(subject="msg %d" % (i + 1))
            SRV.deliver(msg)
            msgs.append(msg)
        return msgs

    # ---- any state / auth

    def test_capability_and_login_failure(self):
        r = self.raw(login=False)
        u, t = r.imap("a", "CAPABILITY")
        self.assertIn("AUTH=PLAIN", u[0])
        self.assertIn("LITERAL+", u[0])
        start = time.monotonic()
        u, t = r.imap("b", "LOGIN %s wrongpassword" % USER)
        self.assertEqual(t, "b NO [AUTHENTICATIONFAILED] Authentication failed")
        self.assertGreaterEqual(time.monotonic() - start, 0.9)
        u, t = r.imap("c", "SELECT INBOX")
        self.assertTrue(t.startswith("c BAD"), t)
        u, t = r.imap("d", "LOGIN {%d+}\r\n%s \"%s\"" % (len(USER), USER, PASSWORD))
        self.assertTrue(t.startswith("d OK [CAPABILITY"), t)
        u, t = r.imap("e", "LOGIN x y")
        self.assertTrue(t.startswith("e BAD"), t)
        u, t = r.imap("f", "LOGOUT")
        self.assertEqual(u, ["* BYE Logging out\r\n"])
        self.assertEqual(t, "f OK LOGOUT completed")
        self.assertTrue(r.closed())
        # passwords never reach the log
        with open(SRV.logpath("imapd")) as f:
            self.assertNotIn(PASSWORD, f.read())

    def test_authenticate_plain(self):
        ir = base64.b64encode(("\0%s\0%s" % (USER, PASSWORD)).encode()).decode()
        r = self.raw(login=False)
        u, t = r.imap("a", "AUTHENTICATE PLAIN " + ir)    # SASL-IR
        self.assertTrue(t.startswith("a OK"), t)
        r.close()
        r = self.raw(login=False)
        r.send("b AUTHENTICATE PLAIN\r\n")
        self.assertEqual(r.line(), b"+ \r\n")
        r.send("*\r\n")
        _, t = r.imap_until("b")
        self.assertEqual(t, "b BAD Authentication cancelled")
        r.send("c AUTHENTICATE PLAIN\r\n")
        self.assertEqual(r.line(), b"+ \r\n")
        r.send("!!notbase64\r\n")
        _, t = r.imap_until("c")
        self.assertTrue(t.startswith("c BAD"), t)
        bad = base64.b64encode(("\0%s\0nope" % USER).encode()).decode()
        _, t = r.imap("d", "AUTHENTICATE PLAIN " + bad)
        self.assertTrue(t.startswith("d NO [AUTHENTICATIONFAILED]"), t)
        r.send("e AUTHENTICATE PLAIN\r\n")
        self.assertEqual(r.line(), b"+ \r\n")
        r.send(ir + "\r\n")
        _, t = r.imap_until("e")
        self.assertTrue(t.startswith("e OK"), t)
        # imaplib's own AUTHENTICATE (continuation form)
        m = imaplib.IMAP4("127.0.0.1", SRV.imap_port)
        typ, _ = m.authenticate("PLAIN", lambda _: ("\0%s\0%s" % (USER, PASSWORD)).encode())
        self.assertEqual(typ, "OK")
        m.logout()

    def test_id_namespace_enable(self):
        r = self.raw()
        u, t = r.imap("a", 'ID ("name" "test" "version" "1")')
        self.assertTrue(u[0].startswith('* ID ("name" "Mailstead"'), u)
        u, t = r.imap("b", "NAMESPACE")
        self.assertEqual(u, ['* NAMESPACE (("" "/")) NIL NIL\r\n'])
        u, t = r.imap("c", "ENABLE IMAP4rev2 FOO")
        self.assertEqual(u, ["* ENABLED IMAP4rev2\r\n"])

    # ---- parser on the wire

    def test_literals_and_errors_on_the_wire(self):
        r = self.raw(login=False)
        r.send("a LOGIN {%d}\r\n" % len(USER))
        self.assertEqual(r.line(), b"+ Ready for literal data\r\n")
        r.send(USER + " {%d}\r\n" % len(PASSWORD))
        self.assertEqual(r.line(), b"+ Ready for literal data\r\n")
        r.send(PASSWORD + "\r\n")
        _, t = r.imap_until("a")
        self.assertTrue(t.startswith("a OK"), t)
        # too large synchronizing literal: refused without reading it
        _, t = r.imap("b", "SELECT {999999999}")
        self.assertEqual(t, "b NO [TOOBIG] Literal too large")
        # too large non-synchronizing literal: read, discarded, BAD
        big = 70000
        r.send("c SELECT {%d+}\r\n" % big + "x" * (big - 10) + "d LOGOUT\r\n" + " y\r\n")
        _, t = r.imap_until("c")
        self.assertEqual(t, "c BAD [TOOBIG] Literal too large")
        # malformed commands get BAD, the session continues
        for cmd, tag in (("e FETCH 1 (FLAGS\r\n", "e"), ("f X \"unterminated\r\n", "f"),
                         ("g LOGIN a\x00b c\r\n", "g"), ("h {abc}\r\n", "h")):
            r.send(cmd)
            _, t = r.imap_until(tag)
            self.assertTrue(t.startswith(tag + " BAD"), t)
        r.send("(bad\r\n")
        self.assertTrue(r.line().startswith(b"* BAD"))
        # an error before a non-synchronizing literal: its bytes are skipped
        r.send("i NOOP \x01 {11+}\r\nj LOGOUT\r\n\r\n")
        _, t = r.imap_until("i")
        self.assertTrue(t.startswith("i BAD"), t)
        _, t = r.imap("k", "NOOP")
        self.assertEqual(t, "k OK NOOP completed")
        # pipelined commands in one packet
        r.send("l NOOP\r\nm CAPABILITY\r\nn NOOP\r\n")
        _, t = r.imap_until("l")
        _, t = r.imap_until("m")
        _, t = r.imap_until("n")
        self.assertEqual(t, "n OK NOOP completed")
        # overlong line
        r.send("o NOOP " + "x" * 70000 + "\r\n")
        _, t = r.imap_until("o")
        self.assertEqual(t, "o BAD Command line too long")
        _, t = r.imap("p", "UNKNOWNCMD")
        self.assertTrue(t.startswith("p BAD Unknown command"), t)
        _, t = r.imap("q", "FETCH 1 FLAGS")
        self.assertEqual(t, "q BAD No mailbox selected")
        r.close()

    # ---- LIST

    def test_list(self):
        m = self.login()
        typ, data = m.list('""', '""')
        self.assertEqual(data, [b'(\\Noselect) "/" ""'])
        typ, data = m.list('""', "*")
        names = [d.decode() for d in data]
        self.assertIn('(\\HasNoChildren) "/" "INBOX"', names)
        self.assertIn('(\\HasNoChildren \\Sent) "/" "Sent"', names)
        self.assertIn('(\\HasNoChildren \\Trash) "/" "Trash"', names)
        typ, data = m.list('""', "inbox")
        self.assertEqual(data, [b'(\\HasNoChildren) "/" "INBOX"'])
        typ, data = m.list('""', "In%")
        self.assertEqual(data, [None])
        m.logout()

    def test_list_hierarchy_and_utf7(self):
        aid = SRV.psql("SELECT id FROM accounts WHERE name = '%s'" % USER)[0][0]
        SRV.psql("INSERT INTO mailboxes (account_id, name, uidvalidity) VALUES "
                 "(%s, 'Entwürfe', 77), (%s, 'Projects/2026', 78), (%s, 'Inbox/sub', 79)"
                 % (aid, aid, aid))
        try:
            m = self.login()
            typ, data = m.list('""', "*")
            names = [d.decode() for d in data]
            self.assertIn('(\\HasNoChildren) "/" "Entw&APw-rfe"', names)
            self.assertIn('(\\Noselect \\HasChildren) "/" "Projects"', names)
            self.assertIn('(\\HasNoChildren) "/" "Projects/2026"', names)
            self.assertIn('(\\HasChildren) "/" "INBOX"', names)
            self.assertIn('(\\HasNoChildren) "/" "INBOX/sub"', names)
            typ, data = m.list('""', "%")
            names = [d.decode() for d in data]
            self.assertNotIn('(\\HasNoChildren) "/" "Projects/2026"', names)
            self.assertIn('(\\Noselect \\HasChildren) "/" "Projects"', names)
            typ, data = m.list("Projects/", "%")
            self.assertEqual(data, [b'(\\HasNoChildren) "/" "Projects/2026"'])
            typ, data = m.select('"Entw&APw-rfe"')
            self.assertEqual(typ, "OK", data)
            typ, data = m.status('"inbox/sub"', "(MESSAGES UIDVALIDITY)")
            self.assertEqual(data, [b'"INBOX/sub" (MESSAGES 0 UIDVALIDITY 79)'])
            m.logout()
        finally:
            SRV.psql("DELETE FROM mailboxes WHERE account_id = %s AND name IN "
                     "('Entwürfe', 'Projects/2026', 'Inbox/sub')" % aid)

    # ---- SELECT / FETCH

    def test_select_responses(self):
        self.fresh_mailbox(2)
        r = self.raw()
        u, t = r.imap("s", "SELECT inbox")
        text = "".join(u)
        self.assertIn("* 2 EXISTS\r\n", text)
        self.assertIn("* 0 RECENT\r\n", text)
        self.assertRegex(text, r"\* FLAGS \(\\Seen \\Answered \\Flagged \\Deleted \\Draft")
        self.assertRegex(text, r"\* OK \[PERMANENTFLAGS \(.*\\\*\)\]")
        self.assertRegex(text, r"\* OK \[UIDVALIDITY \d+\]")
        self.assertRegex(text, r"\* OK \[UIDNEXT \d+\]")
        self.assertEqual(t, "s OK [READ-WRITE] SELECT completed")
        u, t = r.imap("e", "EXAMINE INBOX")
        self.assertEqual(u[0], "* OK [CLOSED] Previous mailbox closed\r\n")
        self.assertIn("* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n", u)
        self.assertEqual(t, "e OK [READ-ONLY] EXAMINE completed")
        _, t = r.imap("f", "STORE 1 +FLAGS (\\Seen)")
        self.assertTrue(t.startswith("f NO [READ-ONLY]"), t)
        _, t = r.imap("g", "FETCH 1 BODY[]")
        _, t = r.imap("h", "FETCH 1 FLAGS")
        # BODY[] in a read-only mailbox does not set \Seen
        u, t = r.imap("i", "FETCH 1 FLAGS")
        self.assertEqual(u, ["* 1 FETCH (FLAGS ())\r\n"])
        _, t = r.imap("j", "SELECT nosuchbox")
        self.assertEqual(t, "j NO [NONEXISTENT] Mailbox does not exist")
        _, t = r.imap("k", "FETCH 1 FLAGS")
        self.assertEqual(t, "k BAD No mailbox selected")
        # rev2 after ENABLE: no RECENT, LIST in SELECT
        u, t = r.imap("l", "ENABLE IMAP4rev2")
        u, t = r.imap("m", "SELECT INBOX")
        self.assertNotIn("* 0 RECENT\r\n", u)
        self.assertIn('* LIST () "/" "INBOX"\r\n', u)
        u, t = r.imap("n", "SEARCH ALL")
        self.assertEqual(u, ['* ESEARCH (TAG "n") ALL 1:2\r\n'])

    def test_fetch_multipart(self):
        self.fresh_mailbox(0)
        SRV.deliver(MULTIPART)
        m = self.login()
        m.select("INBOX")
        typ, data = m.fetch("1", "(BODY.PEEK[] RFC822.SIZE)")
        full = data[0][1]
        size = int(re.search(rb"RFC822.SIZE (\d+)", data[0][0] + data[1]).group(1))
        self.assertEqual(size, len(full))
        self.assertTrue(full.endswith(MULTIPART))
        prefix = full[:len(full) - len(MULTIPART)]
        checks = {
            "BODY.PEEK[HEADER]": prefix + MULTIPART[:MULTIPART.index(b"\r\n\r\n") + 4],
            "BODY.PEEK[TEXT]": MULTIPART[MULTIPART.index(b"\r\n\r\n") + 4:],
            "BODY.PEEK[1]": b"Gr=C3=BC=C3=9Fe, needle in the body",
            "BODY.PEEK[1.MIME]": b"Content-Type: text/plain; charset=utf-8\r\n"
                                 b"Content-Transfer-Encoding: quoted-printable\r\n\r\n",
            "BODY.PEEK[2]": b"AAECAwQ=",
            "BODY.PEEK[3]": b"From: inner@example.com\r\nSubject: inner\r\n\r\ninner body",
            "BODY.PEEK[3.HEADER]": b"From: inner@example.com\r\nSubject: inner\r\n\r\n",
            "BODY.PEEK[3.TEXT]": b"inner body",
            "BODY.PEEK[3.1]": b"inner body",
            "BODY.PEEK[HEADER.FIELDS (SUBJECT message-id)]":
                b"Subject: multi\r\nMessage-ID: <multi@example.net>\r\n\r\n",
            "BODY.PEEK[3.HEADER.FIELDS.NOT (From)]": b"Subject: inner\r\n\r\n",
            "BODY.PEEK[TEXT]<10.8>": MULTIPART[MULTIPART.index(b"\r\n\r\n") + 14:][:8],
            "BODY.PEEK[]<99999.10>": b"",
        }
        for att, want in checks.items():
            typ, data = m.fetch("1", "(%s)" % att)
            self.assertEqual(typ, "OK", att)
            got = data[0][1] if isinstance(data[0], tuple) else None
            if want.endswith(b"\r\n") and not want.endswith(b"\r\n\r\n") and got is not None \
                    and not got.endswith(b"\r\n"):
                got += b"\r\n"
            self.assertEqual(got.rstrip(b"\r\n") if not want.endswith(b"\r\n") else got,
                             want, att)
        typ, data = m.fetch("1", "(BODY.PEEK[4] BODY.PEEK[1.2])")
        self.assertIn(b"BODY[4] NIL", data[0])
        # structure
        typ, data = m.fetch("1", "(BODYSTRUCTURE ENVELOPE FLAGS)")
        resp = data[0].decode()
        self.assertIn('("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable"', resp)
        self.assertIn('("attachment" ("filename" "a.bin"))', resp)
        self.assertIn('"message" "rfc822" NIL NIL NIL "7bit"', resp)
        self.assertIn(' "mixed" ("boundary" "BB")', resp)
        self.assertIn('"multi"', resp)
        self.assertIn('(("=?utf-8?b?SsO8cmdlbg==?=" NIL "j" "example.net"))', resp)
        self.assertIn('((NIL NIL "a" "example.org")(NIL NIL "Group" NIL)'
                      '(NIL NIL "b" "example.org")(NIL NIL "c" "example.org")(NIL NIL NIL NIL))',
                      resp)
        self.assertIn('"<multi@example.net>"', resp)
        self.assertIn("FLAGS ()", resp)   # PEEK and structure do not set \Seen
        typ, data = m.fetch("1", "BODY")
        self.assertNotIn(b'"attachment"', data[0])
        typ, data = m.fetch("1", "FULL")
        self.assertIn(b"ENVELOPE", data[0])
        typ, data = m.fetch("1", "(RFC822.HEADER)")
        typ, data = m.fetch("1", "(FLAGS)")
        self.assertEqual(data, [b"1 (FLAGS ())"])
        typ, data = m.fetch("1", "(RFC822.TEXT)")
        self.assertIn(b"FLAGS (\\Seen)", data[0][0] + data[-1])
        m.logout()

    def test_fetch_header_only_matches_full_path(self):
        # Header-only requests read each file only up to its header; the
        # answer must equal the one computed from the stored structure
        # (forced here by adding ENVELOPE to the request).
        self.fresh_mailbox(0)
        m = self.login()
        msgs = [make_message(subject="crlf", body="x" * 20000 + "\r\n")[0],
                b"Subject: bare lf\nFrom: a@example.org\nX-Y: 1\n\nbody line\n",
                b"Subject: no body\r\nFrom: a@example.org\r\n",
                b"\r\nbody without header\r\n",
                b"Subject: mixed\r\nX-Long: " + b"y" * 10000 + b"\r\n\r\nbody\r\n"]
        for msg in msgs:
            typ, data = m.append("INBOX", None, None, msg)
            self.assertEqual(typ, "OK", data)
        m.select("INBOX")
        items = "RFC822.SIZE BODY.PEEK[HEADER] BODY.PEEK[HEADER.FIELDS (SUBJECT X-Y)] " \
                "BODY.PEEK[HEADER.FIELDS.NOT (SUBJECT)] RFC822.HEADER"
        typ, fast = m.fetch("1:*", "(%s)" % items)
        self.assertEqual(typ, "OK")
        typ, full = m.fetch("1:*", "(%s ENVELOPE)" % items)
        self.assertEqual(typ, "OK")
        fast_v = dict(harness.parse_fetch(fast))
        full_v = dict(harness.parse_fetch(full))
        self.assertEqual(len(fast_v), len(msgs))
        for seq, v in fast_v.items():
            w = dict(full_v[seq])
            w.pop("ENVELOPE")
            self.assertEqual(v, w, seq)
        # (APPEND stores bare LF as CRLF)
        self.assertEqual(fast_v[2]["BODY[HEADER.FIELDS (SUBJECT X-Y)]"],
                         b"Subject: bare lf\r\nX-Y: 1\r\n\r\n")
        self.assertEqual(int(fast_v[1]["RFC822.SIZE"]), len(msgs[0]))

    def test_fetch_seen_and_uid(self):
        self.fresh_mailbox(3)
        m = self.login()
        m.select("INBOX")
        typ, data = m.fetch("2", "(BODY[HEADER])")
        self.assertIn(b"FLAGS (\\Seen)", data[0][0])
        typ, data = m.uid("FETCH", "1:*", "(FLAGS)")
        self.assertEqual(len(data), 3)
        for d in data:
            self.assertRegex(d.decode(), r"^\d+ \(UID \d+ FLAGS \(.*\)\)$")
        typ, data = m.fetch("1:*", "(UID FLAGS)")
        self.assertIn(b"\\Seen", data[1])
        self.assertNotIn(b"\\Seen", data[0])
        with self.assertRaisesRegex(imaplib.IMAP4.error, "BAD.*Invalid message sequence"):
            m.fetch("4", "FLAGS")
        typ, data = m.fetch("*:2", "FAST")
        self.assertEqual(len(data), 2)
        self.assertIn(b"INTERNALDATE", data[0])
        typ, data = m.uid("FETCH", "99999:*", "FLAGS")   # includes the last
        self.assertEqual(len(data), 1)
        m.logout()

    # ---- STORE / SEARCH / EXPUNGE

    def test_store(self):
        self.fresh_mailbox(3)
        r = self.raw()
        r.imap("s", "SELECT INBOX")
        u, t = r.imap("a", "STORE 1:2 +FLAGS (\\Flagged $Junk MyKeyword)")
        self.assertRegex(u[0], r"^\* FLAGS \(\\Seen \\Answered \\Flagged \\Deleted \\Draft "
                         r"\$Forwarded \$Junk \$NotJunk \$Phishing \$MDNSent .*mykeyword")
        self.assertIn("* 1 FETCH (FLAGS (\\Flagged $Junk mykeyword))\r\n", u)
        self.assertIn("* 2 FETCH (FLAGS (\\Flagged $Junk mykeyword))\r\n", u)
        u, t = r.imap("b", "UID STORE 1:* -FLAGS.SILENT $Junk")
        self.assertEqual(u, [])
        u, t = r.imap("c", "STORE 2 FLAGS \\Seen \\Answered")
        self.assertEqual(u, ["* 2 FETCH (FLAGS (\\Seen \\Answered))\r\n"])
        uid3 = int(re.search(r"UID (\d+)", r.imap("x", "FETCH 3 UID")[0][0]).group(1))
        u, t = r.imap("d", "UID STORE %d +FLAGS (\\Draft)" % uid3)
        self.assertEqual(u, ["* 3 FETCH (UID %d FLAGS (\\Draft))\r\n" % uid3])
        u, t = r.imap("e", "STORE 1 +FLAGS (\\Recent)")
        self.assertTrue(t.startswith("e BAD"), t)
        u, t = r.imap("f", "STORE 1 +FLAGS (bad]kw)")
        self.assertTrue(t.startswith("f BAD"), t)
        # unchanged flags are reported too
        u, t = r.imap("g", "STORE 1 +FLAGS (\\Flagged)")
        self.assertEqual(u, ["* 1 FETCH (FLAGS (\\Flagged mykeyword))\r\n"])
        u, t = r.imap("h", "FETCH 1:* FLAGS")
        self.assertEqual(len(u), 3)

    def test_search_subject(self):
        # Subject searches first ask the database which stored subjects
        # may match; encoded words and folding must not hide a match.
        self.fresh_mailbox(0)
        SRV.deliver(make_message(subject="=?utf-8?q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=")[0])
        SRV.deliver(make_message(subject="Weekly report\r\n for Week 7")[0])
        SRV.deliver(make_message(subject="plain words")[0])
        SRV.deliver(make_message(extra_headers=("X-No-Subject: 1",), subject="")[0])
        m = self.login()
        m.select("INBOX")

        def s(*crit):
            typ, data = m.search(None, *crit)
            self.assertEqual(typ, "OK", crit)
            return [int(x) for x in data[0].split()]

        self.assertEqual(s("SUBJECT", "\"AUS K\""), [1])      # decoded, any case
        m.literal = "K\u00f6ln".encode()          # 8-bit: as a literal
        typ, data = m.search("UTF-8", "SUBJECT")
        self.assertEqual((typ, data), ("OK", [b"1"]))
        self.assertEqual(s("SUBJECT", "\"for week\""), [2])   # unfolded
        self.assertEqual(s("SUBJECT", "WORDS"), [3])
        self.assertEqual(s("HEADER", "subject", "plain"), [3])
        self.assertEqual(s("SUBJECT", "nowhere"), [])
        self.assertEqual(s("OR", "SUBJECT", "plain", "SUBJECT", "weekly"), [2, 3])
        self.assertEqual(s("NOT", "SUBJECT", "plain"), [1, 2, 4])
        self.assertEqual(s("SUBJECT", "plain", "SUBJECT", "words"), [3])

    def test_search_stored_fields(self):
        # FROM/TO/CC/BCC/SUBJECT searches read the header fields stored with
        # each message at delivery; a message stored without them (older
        # rows) is searched in its file. Both must give the same answers.
        self.fresh_mailbox(0)
        SRV.deliver(make_message(frm="alice@example.net", subject="one")[0])
        SRV.deliver(make_message(extra_headers=(
            "Cc: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <jm@example.org>,\r\n Bob <bob@example.com>",
            "Bcc: hidden@example.com"), subject="two")[0])
        # no From field, two To fields, a folded Subject
        SRV.deliver(b"To: first@example.com\r\nTo: second@example.com\r\n"
                    b"Subject: a long\r\n\tfolded subject\r\n\r\nbody\r\n")
        # a field name in another case, an X- field searched with HEADER
        SRV.deliver(b"fROM: Carol <carol@example.org>\r\nX-Tag: gold\r\n"
                    b"Subject: three\r\n\r\nbody\r\n")
        m = self.login()
        m.select("INBOX")

        def s(*crit):
            typ, data = m.search(None, *crit)
            self.assertEqual(typ, "OK", crit)
            return [int(x) for x in data[0].split()]

        queries = [
            (("FROM", "alice"), [1]),
            (("FROM", "EXAMPLE.NET"), [1, 2]),      # make_message's default sender too
            (("FROM", "\"carol <carol@\""), [4]),
            (("CC", "\"J\u00fcrgen M\"".encode()), None),
            (("CC", "bob@example.com"), [2]),
            (("BCC", "hidden"), [2]),
            (("TO", "second@"), [3]),
            (("TO", "first"), [3]),
            (("SUBJECT", "\"folded subject\""), [3]),
            (("SUBJECT", "long"), [3]),
            (("HEADER", "Subject", "three"), [4]),
            (("HEADER", "FROM", "carol"), [4]),
            (("HEADER", "X-Tag", "gold"), [4]),
            (("NOT", "FROM", "example"), [3]),
            (("OR", "BCC", "hidden", "TO", "second"), [2, 3]),
            (("UNSEEN", "CC", "bob"), [2]),
        ]

        def run():
            out = []
            for crit, _ in queries:
                if crit[0] == "CC" and isinstance(crit[1], bytes):
                    m.literal = "J\u00fcrgen M".encode()
                    typ, data = m.search("UTF-8", "CC")
                    self.assertEqual(typ, "OK")
                    out.append([int(x) for x in data[0].split()])
                else:
                    out.append(s(*crit))
            return out

        stored = SRV.psql("SELECT count(*) FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id"
                          " WHERE b.name = 'Inbox' AND m.search_fields IS NOT NULL")
        self.assertEqual(stored, [["4"]])
        got = run()
        for (crit, want), g in zip(queries, got):
            self.assertEqual(g, want if want is not None else [2], crit)
        SRV.psql("UPDATE messages SET search_fields = NULL")
        self.assertEqual(run(), got)

    def test_search(self):
        self.fresh_mailbox(0)
        SRV.deliver(make_message(subject="alpha one", body="first body text\r\n")[0])
        SRV.deliver(make_message(subject="beta two", body="second needle\r\n")[0])
        SRV.deliver(MULTIPART)
        SRV.deliver(make_message(subject="gamma", body="x" * 5000 + "\r\n")[0])
        m = self.login()
        m.select("INBOX")
        m.store("1", "+FLAGS", "(\\Seen)")
        m.store("2", "+FLAGS", "(\\Flagged kw1)")
        m.store("4", "+FLAGS", "(\\Deleted $Junk)")

        def s(*crit):
            typ, data = m.search(None, *crit)
            self.assertEqual(typ, "OK", crit)
            return [int(x) for x in data[0].split()]

        self.assertEqual(s("ALL"), [1, 2, 3, 4])
        self.assertEqual(s("SEEN"), [1])
        self.assertEqual(s("UNSEEN"), [2, 3, 4])
        self.assertEqual(s("FLAGGED"), [2])
        self.assertEqual(s("UNFLAGGED"), [1, 3, 4])
        self.assertEqual(s("DELETED"), [4])
        self.assertEqual(s("UNDELETED"), [1, 2, 3])
        self.assertEqual(s("ANSWERED"), [])
        self.assertEqual(s("UNANSWERED"), [1, 2, 3, 4])
        self.assertEqual(s("DRAFT"), [])
        self.assertEqual(s("UNDRAFT"), [1, 2, 3, 4])
        self.assertEqual(s("KEYWORD", "KW1"), [2])
        self.assertEqual(s("UNKEYWORD", "kw1"), [1, 3, 4])
        self.assertEqual(s("KEYWORD", "$Junk"), [4])
        self.assertEqual(s("NOT", "SEEN"), [2, 3, 4])
        self.assertEqual(s("OR", "SEEN", "FLAGGED"), [1, 2])
        self.assertEqual(s("(SEEN)", "UNFLAGGED"), [1])
        self.assertEqual(s("OR", "(SEEN FLAGGED)", "DELETED"), [4])
        self.assertEqual(s("2:3"), [2, 3])
        self.assertEqual(s("*"), [4])
        self.assertEqual(s("LARGER", "4000"), [4])
        self.assertEqual(s("SMALLER", "4000"), [1, 2, 3])
        self.assertEqual(s("SUBJECT", "BETA"), [2])
        self.assertEqual(s("FROM", "RGEN"), [3])     # decoded display name
        self.assertEqual(s("FROM", "j@example"), [3])
        self.assertEqual(s("HEADER", "Message-ID", "multi@"), [3])
        self.assertEqual(s("BODY", "needle"), [2, 3])
        self.assertEqual(s("TEXT", "alpha"), [1])
        self.assertEqual(s("SENTON", "1-Jul-2025"), [3])
        self.assertEqual(s("SENTBEFORE", "2-Jul-2025"), [3])
        self.assertEqual(s("SINCE", "1-Jan-2020"), [1, 2, 3, 4])
        self.assertEqual(s("BEFORE", "1-Jan-2020"), [])
        self.assertEqual(s("CHARSET", "UTF-8", "SEEN"), [1])
        typ, data = m.uid("SEARCH", "ALL")
        uids = [int(x) for x in data[0].split()]
        typ, data = m.uid("SEARCH", "UID", "%d:%d" % (uids[1], uids[2]))
        self.assertEqual([int(x) for x in data[0].split()], uids[1:3])
        typ, data = m.search(None, "UID", "%d" % uids[3])
        self.assertEqual(data, [b"4"])
        with self.assertRaisesRegex(imaplib.IMAP4.error, "BAD.*Unknown search key"):
            m.search(None, "FOO")
        typ, data = m.search(None, "CHARSET", "KOI8-R", "ALL")
        self.assertEqual(typ, "NO")
        # "$" (SEARCHRES) before any SEARCH RETURN (SAVE) is the empty set
        typ, data = m.search(None, "$")
        self.assertEqual((typ, data), ("OK", [b""]))
        with self.assertRaisesRegex(imaplib.IMAP4.error, "BAD"):
            m.search(None, "$$")
        typ, data = m.search(None, "5")
        self.assertEqual(typ, "OK")    # within SEARCH, a set is just a filter
        m.logout()

    def test_esearch_raw(self):
        self.fresh_mailbox(3)
        r = self.raw()
        r.imap("s", "SELECT INBOX")
        u, t = r.imap("a", "SEARCH RETURN (MIN MAX COUNT) 2:3")
        self.assertEqual(u, ['* ESEARCH (TAG "a") MIN 2 MAX 3 COUNT 2\r\n'])
        u, t = r.imap("b", "UID SEARCH RETURN () DELETED")
        self.assertEqual(u, ['* ESEARCH (TAG "b") UID\r\n'])
        u, t = r.imap("c", "SEARCH RETURN (COUNT) DELETED")
        self.assertEqual(u, ['* ESEARCH (TAG "c") COUNT 0\r\n'])

    def test_expunge_numbers(self):
        self.fresh_mailbox(6)
        r = self.raw()
        r.imap("s", "SELECT INBOX")
        r.imap("a", "STORE 2,3,5 +FLAGS.SILENT (\\Deleted)")
        u, t = r.imap("b", "EXPUNGE")
        self.assertEqual(u, ["* 2 EXPUNGE\r\n", "* 2 EXPUNGE\r\n", "* 3 EXPUNGE\r\n"])
        u, t = r.imap("c", "FETCH 1:* UID")
        self.assertEqual(len(u), 3)
        uids = [int(re.search(r"UID (\d+)", x).group(1)) for x in u]
        # UID EXPUNGE only touches the given UIDs
        r.imap("d", "STORE 1:* +FLAGS.SILENT (\\Deleted)")
        u, t = r.imap("e", "UID EXPUNGE %d" % uids[1])
        self.assertEqual(u, ["* 2 EXPUNGE\r\n"])
        # CLOSE expunges silently
        u, t = r.imap("f", "CLOSE")
        self.assertEqual(u, [])
        u, t = r.imap("g", "SELECT INBOX")
        self.assertIn("* 0 EXISTS\r\n", u)

    def test_unselect_keeps_deleted(self):
        self.fresh_mailbox(1)
        r = self.raw()
        r.imap("s", "SELECT INBOX")
        r.imap("a", "STORE 1 +FLAGS.SILENT (\\Deleted)")
        u, t = r.imap("b", "UNSELECT")
        self.assertEqual(t, "b OK UNSELECT completed")
        u, t = r.imap("c", "SELECT INBOX")
        self.assertIn("* 1 EXISTS\r\n", u)
        u, t = r.imap("d", "EXAMINE INBOX")
        u, t = r.imap("e", "EXPUNGE")
        self.assertTrue(t.startswith("e NO [READ-ONLY]"), t)

    # ---- concurrent sessions

    def test_other_session_changes(self):
        self.fresh_mailbox(3)
        a = self.raw()
        a.imap("s", "SELECT INBOX")
        b = self.login()
        b.select("INBOX")
        b.store("2", "+FLAGS", "(\\Flagged)")
        b.store("3", "+FLAGS", "(\\Deleted)")
        b.expunge()
        SRV.deliver(make_message(subject="new one")[0])
        time.sleep(0.5)
        # FETCH must not report the expunge (RFC 9051 7.5.1)
        u, t = a.imap("f", "FETCH 1:3 (FLAGS)")
        self.assertFalse(any("EXPUNGE" in x for x in u), u)
        # new messages may be announced at any time; the expunged one
        # still counts until its EXPUNGE is sent
        self.assertIn("* 4 EXISTS\r\n", u)
        u, t = a.imap("g", "SEARCH ALL")
        self.assertFalse(any("EXPUNGE" in x for x in u), u)
        # NOOP does
        u, t = a.imap("n", "NOOP")
        self.assertEqual(u, ["* 3 EXPUNGE\r\n"])
        u, t = a.imap("o", "FETCH 1:* FLAGS")
        self.assertEqual(len([x for x in u if "FETCH" in x]), 3)
        self.assertIn("\\Flagged", u[1])
        b.logout()

    def test_flag_change_seen_by_noop(self):
        self.fresh_mailbox(1)
        a = self.raw()
        a.imap("s", "SELECT INBOX")
        b = self.login()
        b.select("INBOX")
        b.store("1", "+FLAGS", "(\\Answered)")
        u, t = a.imap("n", "NOOP")
        self.assertEqual(len(u), 1, u)
        self.assertRegex(u[0], r"^\* 1 FETCH \(UID \d+ FLAGS \(\\Answered\)\)")
        u, t = a.imap("m", "NOOP")
        self.assertEqual(u, [])
        b.logout()

    def test_idle(self):
        self.fresh_mailbox(1)
        a = self.raw()
        a.imap("s", "SELECT INBOX")
        a.send("i IDLE\r\n")
        self.assertEqual(a.line(), b"+ idling\r\n")
        start = time.monotonic()
        SRV.deliver(make_message(subject="while idling")[0])
        self.assertEqual(a.line(timeout=5), b"* 2 EXISTS\r\n")
        self.assertLess(time.monotonic() - start, 3)
        b = self.login()
        b.select("INBOX")
        b.store("1", "+FLAGS", "(\\Deleted)")
        self.assertRegex(a.line(timeout=5), rb"^\* 1 FETCH \(UID \d+ FLAGS \(\\Deleted\)\)")
        b.expunge()
        self.assertEqual(a.line(timeout=5), b"* 1 EXPUNGE\r\n")
        b.logout()
        a.send("DONE\r\n")
        _, t = a.imap_until("i")
        self.assertEqual(t, "i OK IDLE terminated")
        a.send("j IDLE\r\n")
        a.line()
        a.send("NOTDONE\r\n")
        _, t = a.imap_until("j")
        self.assertTrue(t.startswith("j BAD"), t)
        _, t = a.imap("k", "NOOP")
        self.assertTrue(t.startswith("k OK"))

    # ---- batches of messages with holes

    def test_fetch_sets_with_holes(self):
        # store_msgs_get reads a dense batch with one range scan and skips
        # the rows not asked for, a sparse one with a UID list; bodies come
        # with the trace prefix of the batch.
        sent = self.fresh_mailbox(12)
        m = self.login()
        m.select("INBOX")
        uids = harness.uid_search(m, "ALL")
        self.assertEqual(len(uids), 12)
        gone = {uids[i] for i in (3, 4, 5, 8)}
        m.uid("STORE", ",".join(str(u) for u in sorted(gone)), "+FLAGS.SILENT", "(\\Deleted)")
        m.expunge()
        left = [u for u in uids if u not in gone]
        by_uid = {u: sent[i] for i, u in enumerate(uids)}
        got = harness.fetch_by_uid(m, left, "(BODY.PEEK[])")
        self.assertEqual(sorted(got), left)
        for u, it in got.items():
            prefix, rest = harness.split_trace(it["BODY[]"])
            self.assertEqual(rest, by_uid[u])
            self.assertTrue(prefix.startswith(b"Return-Path:"), prefix[:40])
        # the whole range, expunged UIDs inside it, a sparse set
        for uid_set, want in (("1:*", left), ("%d:%d" % (uids[3], uids[8]), [uids[6], uids[7]]),
                              ("%d,%d" % (uids[0], uids[11]), [uids[0], uids[11]]),
                              ("%d,%d:%d" % (uids[1], uids[9], uids[10]),
                               [uids[1], uids[9], uids[10]]),
                              ("%d,%d:%d" % (uids[0], uids[2], uids[3]), [uids[0], uids[2]])):
            typ, data = m.uid("FETCH", uid_set, "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            self.assertEqual(typ, "OK")
            items = [it for _, it in harness.parse_fetch(data)]
            self.assertEqual(sorted(int(v["UID"]) for v in items), want, uid_set)
            for v in items:
                u = int(v["UID"])
                self.assertEqual(v["BODY[HEADER.FIELDS (SUBJECT)]"],
                                 b"Subject: msg %d\r\n\r\n" % (uids.index(u) + 1))
        # the same sets with row columns only (read from the narrow
        # columns of a UID range; rows not asked for are left out)
        m.uid("STORE", str(uids[6]), "+FLAGS", "(\\Flagged)")
        for uid_set, want in (("1:*", left), ("%d:%d" % (uids[3], uids[8]), [uids[6], uids[7]]),
                              ("%d,%d:%d" % (uids[1], uids[9], uids[10]),
                               [uids[1], uids[9], uids[10]]),
                              ("%d,%d" % (uids[0], uids[2]), [uids[0], uids[2]])):
            typ, data = m.uid("FETCH", uid_set, "(FLAGS RFC822.SIZE INTERNALDATE)")
            self.assertEqual(typ, "OK")
            items = [it for _, it in harness.parse_fetch(data)]
            self.assertEqual(sorted(int(v["UID"]) for v in items), want, uid_set)
            for v in items:
                u = int(v["UID"])
                self.assertEqual(int(v["RFC822.SIZE"]), len(by_uid[u]) + len(
                    harness.split_trace(got[u]["BODY[]"])[0]) if u in got else 0)
                self.assertEqual("\\Flagged" in str(v["FLAGS"]), u == uids[6], v)
        # sequence numbers: 2 and 8 of the 8 left
        typ, data = m.fetch("2,8", "(UID)")
        self.assertEqual(sorted(int(it["UID"]) for _, it in harness.parse_fetch(data)),
                         [left[1], left[7]])
        m.logout()

    # ---- APPEND

    def test_append(self):
        self.fresh_mailbox(0)
        m = self.login()
        m.select("INBOX")
        msg = b"Subject: appended\r\nFrom: x@example.org\r\n\r\nHello there\r\n"
        typ, data = m.append("INBOX", "(\\Seen foo)", '"05-Mar-2024 10:11:12 +0100"', msg)
        self.assertEqual(typ, "OK")
        mm = re.search(rb"\[APPENDUID (\d+) (\d+)\]", data[0])
        self.assertIsNotNone(mm, data)
        typ, data = m.noop()
        typ, data = m.uid("FETCH", mm.group(2).decode(), "(FLAGS INTERNALDATE BODY.PEEK[])")
        self.assertIn(b"\\Seen foo", data[0][0])
        self.assertIn(b"05-Mar-2024 09:11:12 +0000" if time.strftime("%z") == "+0000" else b"",
                      data[0][0])
        self.assertEqual(data[0][1], msg)
        typ, data = m.append("NoSuchBox", None, None, msg)
        self.assertEqual(typ, "NO")
        self.assertIn(b"TRYCREATE", data[0])
        with self.assertRaisesRegex(imaplib.IMAP4.error, "BAD.*Invalid date-time"):
            m.append("INBOX", None, '"99-Foo-2024 10:11:12 +0100"', msg)
        m.logout()

    def test_append_wire_exists(self):
        self.fresh_mailbox(0)
        r = self.raw()
        r.imap("s", "SELECT INBOX")
        data = b"Subject: x\r\n\r\nbody\r\n"
        r.send(b"a APPEND INBOX {%d+}\r\n" % len(data) + data + b"\r\n")
        u, t = r.imap_until("a")
        self.assertIn("* 1 EXISTS\r\n", u)
        self.assertTrue(t.startswith("a OK [APPENDUID"), t)

    # ---- shutdown (last: restarts the daemon)

    def test_zz_shutdown_bye(self):
        a = self.raw()
        a.imap("s", "SELECT INBOX")
        b = self.raw()
        b.send("i IDLE\r\n")
        b.line()
        SRV.stop_daemon("imapd")
        self.assertEqual(a.line(timeout=5), b"* BYE Server shutting down\r\n")
        self.assertEqual(b.line(timeout=5), b"* BYE Server shutting down\r\n")
        self.assertTrue(a.closed())
        SRV.start_daemon("imapd")


if __name__ == "__main__":
    unittest.main(verbosity=2)
