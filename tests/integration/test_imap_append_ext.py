"""Integration tests of the APPEND extensions and their neighbours against
the real imapd and a throwaway PostgreSQL (harness.py): MULTIAPPEND (RFC
3502), REPLACE (RFC 8508), APPENDLIMIT (RFC 7889) with TOOBIG, BINARY (RFC
3516: FETCH BINARY/BINARY.PEEK/BINARY.SIZE, literal8 APPEND) and UTF8=ACCEPT
(RFC 6855). Run by tests/integration/run-tests, or by hand:
PYTHONPATH=tests/integration top_builddir=BUILD python3 THIS_FILE"""
import base64
import os
import re
import time
import unittest

import harness
from harness import PASSWORD, make_message, fetch_by_uid, unique

SRV = None
# APPENDLIMIT is the smaller of the two: here the SMTP one.
MAX_LITERAL = 2 * 1024 * 1024
MAX_MESSAGE = 1024 * 1024
LIMIT = MAX_MESSAGE

DATE1 = "01-Jan-2020 10:00:00 +0000"
DATE2 = "15-Feb-2021 08:30:00 +0100"


def setUpModule():
    global SRV
    SRV = harness.Server(name="appendext", daemons=("imapd",),
                         imap_conf={"max_literal_size": str(MAX_LITERAL)},
                         smtp_conf={"max_message_size": str(MAX_MESSAGE)}).start()


def tearDownModule():
    SRV.stop()


def uid_set(s):
    out = []
    for part in s.split(","):
        if ":" in part:
            a, b = (int(x) for x in part.split(":"))
            out.extend(range(a, b + 1))
        else:
            out.append(int(part))
    return out


def msg(subject, body=None):
    return make_message(subject="%s %s" % (subject, unique()), body=body)[0]


def b64lines(data):
    enc = base64.b64encode(data)
    return b"\r\n".join(enc[i:i + 76] for i in range(0, len(enc), 76)) + b"\r\n"


# A message with one leaf per transfer encoding (and two that cannot be
# decoded as BINARY): 1 base64 (bytes with NUL), 2 quoted-printable, 3 8bit
# UTF-8, 4 x-uuencode (unknown), 5 message/rfc822 (not a leaf), 6 nested
# multipart (not a leaf; 6.1 is a base64 leaf).
BIN1 = bytes(range(256)) + b"\x00end"
# (trailing white space of a line is transport padding: the text ends in
# "break", not "break ")
QP_TEXT = ("Gr\u00fc\u00dfe = sch\u00f6n, a long line that gets a soft break " * 3).rstrip()
QP_ENC = (b"Gr=C3=BC=C3=9Fe =3D sch=C3=B6n, a long line that gets a soft break Gr=C3=BC=\r\n"
          b"=C3=9Fe =3D sch=C3=B6n, a long line that gets a soft break Gr=C3=BC=C3=9Fe =\r\n"
          b"=3D sch=C3=B6n, a long line that gets a soft break  \t")
EIGHT = "Caf\u00e9 \u65e5\u672c\r\n".encode("utf-8")
NESTED_LEAF = b"nested \x00 leaf"


def multipart_message():
    parts = [
        b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + b64lines(BIN1),
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable"
        b"\r\n\r\n" + QP_ENC,
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + EIGHT,
        b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\n"
        b"begin 644 x\r\nend\r\n",
        b"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n",
        b"Content-Type: multipart/mixed; boundary=\"in\"\r\n\r\n--in\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + b64lines(NESTED_LEAF) + b"--in--\r\n",
    ]
    head = (b"From: a@example.org\r\nTo: b@example.org\r\nSubject: binary " + unique().encode()
            + b"\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n")
    body = b"".join(b"--b\r\n" + p + b"\r\n" for p in parts) + b"--b--\r\n"
    return head + body


class AppendExtTest(harness.TestCase):

    def account(self):
        addr = "%s@example.org" % unique("ax")
        SRV.add_account(addr, PASSWORD)
        return addr

    def raw(self, addr, select=None, enable=None):
        r = harness.Raw(SRV.imap_port)
        self.addCleanup(r.close)
        r.line()
        _, t = r.imap("L", "LOGIN %s %s" % (addr, PASSWORD))
        self.assertTrue(t.startswith("L OK"), t)
        if enable:
            u, t = r.imap("E", "ENABLE " + enable)
            self.assertTrue(t.startswith("E OK"), t)
        if select:
            _, t = r.imap("S", "SELECT %s" % select)
            self.assertTrue(t.startswith("S OK"), t)
        return r

    def login(self, addr):
        m = SRV.imap(addr, PASSWORD)
        self.addCleanup(lambda: m.logout() if m.state != "LOGOUT" else None)
        return m

    def count(self, addr, mailbox="INBOX"):
        m = SRV.imap(addr, PASSWORD)
        typ, data = m.status(mailbox, "(MESSAGES)")
        m.logout()
        self.assertEqual(typ, "OK", data)
        return int(re.search(rb"MESSAGES (\d+)", data[0]).group(1))

    def assert_no_tmp_files(self):
        # uploads of finished commands are removed
        self.assertTrue(harness.wait_for(lambda: not os.listdir(SRV.tmpdir), 5),
                        os.listdir(SRV.tmpdir))

    def alive(self, r, tag="N"):
        _, t = r.imap(tag, "NOOP")
        self.assertEqual(t, "%s OK NOOP completed" % tag)

    def append_one(self, m, mailbox, data, flags=None, date=None):
        typ, resp = m.append(mailbox, flags, '"%s"' % date if date else None, data)
        self.assertEqual(typ, "OK", resp)
        return int(re.search(rb"APPENDUID \d+ (\d+)", resp[0]).group(1))

    # ---- capabilities and APPENDLIMIT

    def test_capabilities_and_status_appendlimit(self):
        addr = self.account()
        r = self.raw(addr)
        u, t = r.imap("C", "CAPABILITY")
        caps = u[0].split()
        for c in ("MULTIAPPEND", "REPLACE", "BINARY", "UTF8=ACCEPT", "APPENDLIMIT=%d" % LIMIT):
            self.assertIn(c, caps)
        u, t = r.imap("S", "STATUS INBOX (MESSAGES APPENDLIMIT)")
        self.assertEqual(t, "S OK STATUS completed")
        self.assertEqual(u, ['* STATUS "INBOX" (MESSAGES 0 APPENDLIMIT %d)\r\n' % LIMIT])
        # LIST-STATUS (RFC 5819) takes it too
        u, t = r.imap("L", 'LIST "" "Ar*" RETURN (STATUS (APPENDLIMIT))')
        self.assertTrue(t.startswith("L OK"), t)
        self.assertIn('* STATUS "Archive" (APPENDLIMIT %d)\r\n' % LIMIT, u)

    # ---- MULTIAPPEND

    def test_multiappend(self):
        addr = self.account()
        r = self.raw(addr, select="INBOX")
        m1, m2, m3 = msg("first"), msg("second"), msg("third")
        # synchronizing, non-synchronizing and literal8 messages in one
        # command, with flags and dates on some
        r.send('A APPEND INBOX (\\Seen) "%s" {%d}\r\n' % (DATE1, len(m1)))
        self.assertEqual(r.line(), b"+ Ready for literal data\r\n")
        r.send(m1 + b' (\\Flagged $Work) "%s" {%d+}\r\n' % (DATE2.encode(), len(m2)) + m2
               + b" ~{%d}\r\n" % len(m3))
        self.assertEqual(r.line(), b"+ Ready for literal data\r\n")
        r.send(m3 + b"\r\n")
        u, t = r.imap_until("A")
        mm = re.match(r"A OK \[APPENDUID (\d+) ([0-9:,]+)\] APPEND completed$", t)
        self.assertTrue(mm, t)
        uids = uid_set(mm.group(2))
        self.assertEqual(len(uids), 3)
        self.assertEqual(uids, sorted(uids))
        # the selected mailbox learns about them at once
        self.assertIn("* 3 EXISTS\r\n", u)
        m = self.login(addr)
        m.select("INBOX", readonly=True)
        got = fetch_by_uid(m, uids, "(FLAGS INTERNALDATE BODY.PEEK[])")
        self.assertEqual([got[x]["BODY[]"] for x in uids], [m1, m2, m3])
        self.assertEqual(harness.flags_of(got[uids[0]]["FLAGS"]), {"\\seen"})
        self.assertEqual(harness.flags_of(got[uids[1]]["FLAGS"]), {"\\flagged", "$work"})
        self.assertEqual(harness.flags_of(got[uids[2]]["FLAGS"]), set())
        self.assertEqual(got[uids[0]]["INTERNALDATE"],
                         time.strftime("%d-%b-%Y %H:%M:%S %z",
                                       time.localtime(1577872800)).encode())
        self.assertEqual(got[uids[1]]["INTERNALDATE"],
                         time.strftime("%d-%b-%Y %H:%M:%S %z",
                                       time.localtime(1613374200)).encode())
        # a second MULTIAPPEND continues the UIDs
        r.send("B APPEND INBOX {%d+}\r\n" % len(m1) + m1.decode() + " {%d+}\r\n" % len(m2)
               + m2.decode() + "\r\n")
        _, t = r.imap_until("B")
        mm = re.match(r"B OK \[APPENDUID \d+ (\d+):(\d+)\]", t)
        self.assertTrue(mm, t)
        self.assertEqual((int(mm.group(1)), int(mm.group(2))), (uids[2] + 1, uids[2] + 2))
        # messages go to files as they arrive: together they may be more
        # than max_literal_size, each within APPENDLIMIT
        bigs = [msg("big %d" % i, body=(b"%d" % i) * (LIMIT - 1000) + b"\r\n")
                for i in range(3)]
        self.assertGreater(sum(len(x) for x in bigs), MAX_LITERAL)
        r.send(b"C APPEND INBOX" + b"".join(b" {%d+}\r\n" % len(x) + x for x in bigs)
               + b"\r\n")
        _, t = r.imap_until("C")
        mm = re.match(r"C OK \[APPENDUID \d+ (\d+):(\d+)\]", t)
        self.assertTrue(mm, t)
        m.noop()
        got = fetch_by_uid(m, mm.group(1) + ":" + mm.group(2), "(BODY.PEEK[])")
        self.assertEqual([got[x]["BODY[]"] for x in sorted(got)], bigs)
        self.assert_no_tmp_files()

    def test_multiappend_all_or_nothing(self):
        addr = self.account()
        r = self.raw(addr)
        a, b = msg("one"), msg("two")

        def attempt(tag, second):
            r.send(b"%s APPEND INBOX {%d+}\r\n" % (tag.encode(), len(a)) + a + b" " + second
                   + b"\r\n")
            return r.imap_until(tag)[1]

        # an invalid flag on the second message: BAD, none stored
        t = attempt("A", b"(\\Bogus) {%d+}\r\n" % len(b) + b)
        self.assertEqual(t, "A BAD Invalid system flag")
        # a zero-length literal cancels the whole append (RFC 3502)
        t = attempt("B", b"{0+}\r\n")
        self.assertEqual(t, "B NO Empty message, APPEND cancelled")
        # a broken date on the second
        t = attempt("C", b'"31-Feb-2020 10:00:00 +0000" {%d+}\r\n' % len(b) + b)
        self.assertEqual(t, "C BAD Invalid date-time")
        self.assertEqual(self.count(addr), 0)
        # over quota with the third message (the first two would fit)
        SRV.psql("UPDATE accounts SET quota_message_size = %d WHERE name = :'n'"
                 % (len(a) + len(b) + 10), n=addr)
        r.send(b"D APPEND INBOX {%d+}\r\n" % len(a) + a + b" {%d+}\r\n" % len(b) + b
               + b" {%d+}\r\n" % len(a) + a + b"\r\n")
        _, t = r.imap_until("D")
        self.assertTrue(t.startswith("D NO [OVERQUOTA]"), t)
        self.assertEqual(self.count(addr), 0)
        SRV.psql("UPDATE accounts SET quota_message_size = 0 WHERE name = :'n'", n=addr)
        # a missing mailbox: TRYCREATE, not created
        r.send(b"E APPEND NoSuchBox {%d+}\r\n" % len(a) + a + b" {%d+}\r\n" % len(b) + b
               + b"\r\n")
        _, t = r.imap_until("E")
        self.assertEqual(t, "E NO [TRYCREATE] Mailbox does not exist")
        _, t = r.imap("F", "STATUS NoSuchBox (MESSAGES)")
        self.assertTrue(t.startswith("F NO [NONEXISTENT]"), t)
        # ... and with a synchronizing literal the client is told before it
        # sends the data
        r.send("G APPEND NoSuchBox {%d}\r\n" % len(a))
        self.assertEqual(r.line(), b"G NO [TRYCREATE] Mailbox does not exist\r\n")
        self.alive(r)
        self.assertEqual(self.count(addr), 0)
        self.assert_no_tmp_files()

    def test_malformed_append(self):
        addr = self.account()
        r = self.raw(addr)
        a = msg("x")
        cases = [
            # flags without a message after the first one
            (b"(\\Seen)", "BAD Missing message literal"),
            # an atom where a message should be
            (b"foo {3+}\r\nabc", "BAD Expected a message literal"),
            # UTF8 data must be a literal8
            (b"UTF8 ({3+}\r\nabc)", 'BAD UTF8 data must be "UTF8 (~{n}...)"'),
            (b"UTF8 (~{3+}\r\nabc ~{1+}\r\nd)", 'BAD UTF8 data must be "UTF8 (~{n}...)"'),
            (b"UTF8", 'BAD UTF8 data must be "UTF8 (~{n}...)"'),
            # a list that never closes
            (b"(\\Seen {3+}\r\nabc", "BAD Unbalanced parentheses"),
        ]
        for i, (tail, want) in enumerate(cases):
            tag = "M%d" % i
            r.send(b"%s APPEND INBOX {%d+}\r\n" % (tag.encode(), len(a)) + a + b" " + tail
                   + b"\r\n")
            _, t = r.imap_until(tag)
            self.assertEqual(t, "%s %s" % (tag, want))
            self.alive(r)
        _, t = r.imap("P", "APPEND INBOX")
        self.assertTrue(t.startswith("P BAD Usage: APPEND"), t)
        self.assertEqual(self.count(addr), 0)
        self.assert_no_tmp_files()

    # ---- literal8 and TOOBIG

    def test_literal8_only_for_message_data(self):
        addr = self.account()
        r = harness.Raw(SRV.imap_port)
        self.addCleanup(r.close)
        r.line()
        # before login, synchronizing: refused without a continuation
        r.send("A LOGIN ~{%d}\r\n" % len(addr))
        self.assertEqual(r.line(), b"A BAD literal8 (~{n}) is only allowed for message data\r\n")
        # non-synchronizing: its bytes are skipped
        r.send("B LOGIN ~{%d+}\r\n%s %s\r\n" % (len(addr), addr, PASSWORD))
        _, t = r.imap_until("B")
        self.assertEqual(t, "B BAD literal8 (~{n}) is only allowed for message data")
        _, t = r.imap("C", "LOGIN %s %s" % (addr, PASSWORD))
        self.assertTrue(t.startswith("C OK"), t)
        r.send("D SELECT ~{5}\r\n")
        self.assertEqual(r.line(), b"D BAD literal8 (~{n}) is only allowed for message data\r\n")
        # the mailbox name of an APPEND is not message data either
        r.send("E APPEND ~{5+}\r\nINBOX {3+}\r\nabc\r\n")
        _, t = r.imap_until("E")
        self.assertEqual(t, "E BAD literal8 (~{n}) is only allowed for message data")
        self.alive(r)

    def test_other_literals_bounded_in_memory(self):
        # strings of other commands are kept in memory: each up to a line,
        # all of one command up to max_literal_size; the one that would go
        # over is refused before its continuation request
        addr = self.account()
        r = self.raw(addr, select="INBOX")
        size = 60000
        r.send("A SEARCH")
        accepted = 0
        while True:
            r.send(" TEXT {%d}\r\n" % size)
            ln = r.line()
            if ln != b"+ Ready for literal data\r\n":
                break
            r.send("x" * size)
            accepted += 1
        self.assertEqual(ln, b"A NO [TOOBIG] Literal too large\r\n")
        self.assertEqual(accepted, MAX_LITERAL // size)
        self.alive(r)

    def test_toobig_synchronizing(self):
        addr = self.account()
        r = self.raw(addr)
        # refused before the data: no continuation request, the next line
        # is the tagged answer
        r.send("A APPEND INBOX {%d}\r\n" % (LIMIT + 1))
        self.assertEqual(r.line(), b"A NO [TOOBIG] Message of %d bytes is larger than "
                         b"APPENDLIMIT %d\r\n" % (LIMIT + 1, LIMIT))
        self.alive(r)
        # also the second message of a MULTIAPPEND; the first is not stored
        a = msg("first")
        r.send("B APPEND INBOX {%d+}\r\n" % len(a) + a.decode() + " {%d}\r\n" % (LIMIT + 1))
        self.assertTrue(r.line().startswith(b"B NO [TOOBIG]"))
        self.alive(r)
        # exactly the limit is fine (and streamed through many reads)
        big = msg("big", body=b"")
        big += b"x" * (LIMIT - len(big) - 2) + b"\r\n"
        self.assertEqual(len(big), LIMIT)
        m = self.login(addr)
        uid = self.append_one(m, "INBOX", big)
        m.select("INBOX", readonly=True)
        got = fetch_by_uid(m, uid, "(RFC822.SIZE BODY.PEEK[])")
        self.assertEqual(got[uid]["BODY[]"], big)
        self.assertEqual(self.count(addr), 1)
        self.assert_no_tmp_files()

    def test_toobig_literal_plus(self):
        addr = self.account()
        r = self.raw(addr)
        # LITERAL+ over APPENDLIMIT: the data comes anyway; it is read and
        # dropped, the answer is the same NO [TOOBIG], the session goes on
        data = b"Subject: big\r\n\r\n" + b"y" * (LIMIT + 1 - 16)
        self.assertEqual(len(data), LIMIT + 1)
        r.send(b"A APPEND INBOX {%d+}\r\n" % len(data) + data + b"\r\n")
        _, t = r.imap_until("A")
        self.assertEqual(t, "A NO [TOOBIG] Message of %d bytes is larger than APPENDLIMIT %d"
                         % (LIMIT + 1, LIMIT))
        self.alive(r)
        self.assertEqual(self.count(addr), 0)
        # far more than that is not read at all: BYE (RFC 7888 section 4)
        r.send("B APPEND INBOX {%d+}\r\n" % (4 * MAX_LITERAL + 1))
        ln = r.line()
        self.assertTrue(ln.startswith(b"* BYE [TOOBIG]"), ln)
        self.assertTrue(r.closed())
        self.assert_no_tmp_files()

    def test_append_literal8_nul_roundtrip(self):
        addr = self.account()
        r = self.raw(addr)
        body = b"binary\x00data\r\n\x00\x01\x02\xff\r\n"
        data = (b"Subject: nul " + unique().encode() + b"\r\nMIME-Version: 1.0\r\n"
                b"Content-Type: application/octet-stream\r\n"
                b"Content-Transfer-Encoding: binary\r\n\r\n" + body)
        r.send(b"A APPEND INBOX ~{%d}\r\n" % len(data))
        self.assertEqual(r.line(), b"+ Ready for literal data\r\n")
        r.send(data + b"\r\n")
        _, t = r.imap_until("A")
        mm = re.match(r"A OK \[APPENDUID \d+ (\d+)\]", t)
        self.assertTrue(mm, t)
        uid = int(mm.group(1))
        # the RFC 6855 UTF8 data item takes a literal8 too
        utf = ("Subject: Gr\u00fc\u00dfe " + unique() + "\r\nFrom: J\u00fcrgen <j@example.org>"
               "\r\n\r\nHall\u00f6\r\n").encode("utf-8")
        r.send(b"B APPEND INBOX UTF8 (~{%d+}\r\n" % len(utf) + utf + b")\r\n")
        _, t = r.imap_until("B")
        mm = re.match(r"B OK \[APPENDUID \d+ (\d+)\]", t)
        self.assertTrue(mm, t)
        uid2 = int(mm.group(1))
        m = self.login(addr)
        m.select("INBOX", readonly=True)
        got = fetch_by_uid(m, [uid, uid2], "(BODY.PEEK[] BINARY.PEEK[1] BINARY.SIZE[1])")
        self.assertEqual(got[uid]["BODY[]"], data)
        self.assertEqual(got[uid]["BINARY[1]"], body)
        self.assertEqual(got[uid]["BINARY.SIZE[1]"], str(len(body)))
        self.assertEqual(got[uid2]["BODY[]"], utf)
        # NUL in the data: literal8 on the wire
        typ, resp = m.uid("FETCH", str(uid), "(BINARY.PEEK[1])")
        self.assertTrue(resp[0][0].endswith(b"BINARY[1] ~{%d}" % len(body)), resp[0][0])
        self.assert_no_tmp_files()

    # ---- BINARY

    def binary_setup(self):
        addr = self.account()
        m = self.login(addr)
        data = multipart_message()
        uid = self.append_one(m, "INBOX", data)
        m.select("INBOX")
        return addr, m, uid, data

    def test_fetch_binary(self):
        addr, m, uid, data = self.binary_setup()
        got = fetch_by_uid(m, uid, "(BINARY.PEEK[1] BINARY.PEEK[2] BINARY.PEEK[3] "
                                   "BINARY.PEEK[6.1] BINARY.SIZE[1] BINARY.SIZE[2] "
                                   "BINARY.SIZE[3] FLAGS)")[uid]
        self.assertEqual(got["BINARY[1]"], BIN1)
        self.assertEqual(got["BINARY[2]"], QP_TEXT.encode("utf-8"))
        self.assertEqual(got["BINARY[3]"], EIGHT)
        self.assertEqual(got["BINARY[6.1]"], NESTED_LEAF)
        self.assertEqual(got["BINARY.SIZE[1]"], str(len(BIN1)))
        self.assertEqual(got["BINARY.SIZE[2]"], str(len(QP_TEXT.encode("utf-8"))))
        self.assertEqual(got["BINARY.SIZE[3]"], str(len(EIGHT)))
        # PEEK does not set \Seen
        self.assertEqual(harness.flags_of(got["FLAGS"]), set())
        # literal8 only where there is a NUL
        typ, resp = m.uid("FETCH", str(uid), "(BINARY.PEEK[1] BINARY.PEEK[3])")
        self.assertEqual(typ, "OK", resp)
        self.assertTrue(resp[0][0].endswith(b"BINARY[1] ~{%d}" % len(BIN1)), resp[0][0])
        self.assertTrue(resp[1][0].endswith(b" BINARY[3] {%d}" % len(EIGHT)), resp[1][0])
        # partial: decoded octets, no origin in the answer (RFC 9051)
        typ, resp = m.uid("FETCH", str(uid), "(BINARY.PEEK[1]<250.10> BINARY.PEEK[2]<0.3> "
                                             "BINARY.PEEK[3]<100000.5>)")
        self.assertEqual(typ, "OK", resp)
        got = harness.parse_fetch(resp)[0][1]
        self.assertEqual(got["BINARY[1]"], BIN1[250:260])
        self.assertEqual(got["BINARY[2]"], b"Gr\xc3")
        self.assertEqual(got["BINARY[3]"], b"")
        # parts that do not exist: NIL and size 0
        got = fetch_by_uid(m, uid, "(BINARY.PEEK[9] BINARY.SIZE[9] BINARY.PEEK[3.1])")[uid]
        self.assertEqual((got["BINARY[9]"], got["BINARY.SIZE[9]"], got["BINARY[3.1]"]),
                         (None, "0", None))
        # BINARY without PEEK sets \Seen like BODY[]
        got = fetch_by_uid(m, uid, "(BINARY[2])")[uid]
        self.assertEqual(harness.flags_of(got["FLAGS"]), {"\\seen"})

    def test_fetch_binary_whole_message(self):
        addr = self.account()
        m = self.login(addr)
        payload = b"\x00\x01 whole message \xfe\xff" * 20
        data = (b"Subject: single " + unique().encode() + b"\r\nMIME-Version: 1.0\r\n"
                b"Content-Type: application/octet-stream\r\n"
                b"Content-Transfer-Encoding:\r\n base64\r\n\r\n" + b64lines(payload))
        uid = self.append_one(m, "INBOX", data)
        m.select("INBOX", readonly=True)
        got = fetch_by_uid(m, uid, "(BINARY.PEEK[] BINARY.SIZE[] BINARY.PEEK[1])")[uid]
        # the header without the (folded) Content-Transfer-Encoding field,
        # the body decoded
        want = data.split(b"Content-Transfer-Encoding:")[0] + b"\r\n" + payload
        self.assertEqual(got["BINARY[]"], want)
        self.assertEqual(got["BINARY.SIZE[]"], str(len(want)))
        self.assertEqual(got["BINARY[1]"], payload)

    def test_fetch_binary_errors(self):
        addr, m, uid, data = self.binary_setup()
        r = self.raw(addr, select="INBOX")
        # an unknown transfer encoding: NO [UNKNOWN-CTE] (RFC 3516 4.2)
        for att in ("BINARY[4]", "BINARY.PEEK[4]", "BINARY.SIZE[4]"):
            u, t = r.imap("A", "UID FETCH %d (%s)" % (uid, att))
            self.assertTrue(t.startswith("A NO [UNKNOWN-CTE]"), t)
            self.assertFalse([x for x in u if "FETCH" in x], u)
        # multipart and message parts are not leaves
        for att in ("BINARY.PEEK[5]", "BINARY.SIZE[6]"):
            _, t = r.imap("B", "UID FETCH %d (%s)" % (uid, att))
            self.assertTrue(t.startswith("B NO BINARY is only for parts"), t)
        # bad sections and partials: BAD, the session goes on
        for att, want in (("BINARY[TEXT]", "Invalid binary section"),
                          ("BINARY[1.MIME]", "Invalid binary section"),
                          ("BINARY[HEADER]", "Invalid binary section"),
                          ("BINARY[0]", "Invalid binary section"),
                          ("BINARY[1", "Invalid binary section"),
                          ("BINARY.PEEK[1]<5>", "Invalid partial range"),
                          ("BINARY.SIZE[1]<0.5>", "Invalid partial range"),
                          ("BINARY[1]x", "Invalid partial range")):
            _, t = r.imap("C", "UID FETCH %d (%s)" % (uid, att))
            self.assertEqual(t, "C BAD " + want)
        self.alive(r)
        # nothing above set \Seen
        got = fetch_by_uid(m, uid, "(FLAGS)")[uid]
        self.assertEqual(harness.flags_of(got["FLAGS"]), set())

    def test_fetch_binary_stops_at_failing_message(self):
        addr = self.account()
        m = self.login(addr)
        p1 = self.append_one(m, "INBOX", msg("plain"))
        bad = self.append_one(m, "INBOX", multipart_message())
        p2 = self.append_one(m, "INBOX", msg("plain"))
        r = self.raw(addr, select="INBOX")
        # the messages before the failing one are answered (and seen), it
        # and the ones after are not
        u, t = r.imap("A", "UID FETCH 1:* (BINARY[4])")
        self.assertTrue(t.startswith("A NO [UNKNOWN-CTE]"), t)
        fetched = [x for x in u if "FETCH" in x]
        self.assertEqual(len(fetched), 1, u)
        self.assertIn("UID %d " % p1, fetched[0])
        self.assertIn("BINARY[4] NIL", fetched[0])
        m.select("INBOX", readonly=True)
        got = fetch_by_uid(m, [p1, bad, p2], "(FLAGS)")
        self.assertEqual([harness.flags_of(got[x]["FLAGS"]) for x in (p1, bad, p2)],
                         [{"\\seen"}, set(), set()])

    # ---- REPLACE

    def replace_setup(self, n=3):
        addr = self.account()
        m = self.login(addr)
        msgs = [msg("orig %d" % i) for i in range(n)]
        uids = [self.append_one(m, "INBOX", x) for x in msgs]
        m.logout()
        return addr, msgs, uids

    def test_replace(self):
        addr, msgs, uids = self.replace_setup()
        a = self.raw(addr, select="INBOX")
        b = self.raw(addr, select="INBOX")
        new = msg("replacement")
        a.send('R REPLACE 2 INBOX (\\Seen \\Draft) "%s" {%d}\r\n' % (DATE1, len(new)))
        self.assertEqual(a.line(), b"+ Ready for literal data\r\n")
        a.send(new + b"\r\n")
        u, t = a.imap_until("R")
        self.assertEqual(t, "R OK REPLACE completed")
        mm = re.match(r"\* OK \[APPENDUID (\d+) (\d+)\] ", u[0])
        self.assertTrue(mm, u)
        newuid = int(mm.group(2))
        self.assertEqual(newuid, uids[-1] + 1)
        self.assertEqual(u[1:], ["* 2 EXPUNGE\r\n", "* 3 EXISTS\r\n"])
        # the other session sees the old one go and the new one come
        u, t = b.imap("N", "NOOP")
        self.assertIn("* 2 EXPUNGE\r\n", u)
        self.assertIn("* 3 EXISTS\r\n", u)
        m = self.login(addr)
        m.select("INBOX", readonly=True)
        self.assertEqual(harness.uid_search(m, "ALL"), [uids[0], uids[2], newuid])
        got = fetch_by_uid(m, newuid, "(FLAGS INTERNALDATE BODY.PEEK[])")[newuid]
        self.assertEqual(got["BODY[]"], new)
        self.assertEqual(harness.flags_of(got["FLAGS"]), {"\\seen", "\\draft"})
        self.assert_no_tmp_files()

    def test_uid_replace_other_mailbox_qresync(self):
        addr, msgs, uids = self.replace_setup(2)
        a = self.raw(addr, enable="QRESYNC")
        _, t = a.imap("S", "SELECT INBOX")
        self.assertTrue(t.startswith("S OK"), t)
        watcher = self.raw(addr, select="Archive")
        new = msg("to archive")
        a.send("U UID REPLACE %d Archive (\\Flagged) {%d+}\r\n" % (uids[0], len(new))
               + new.decode() + "\r\n")
        u, t = a.imap_until("U")
        self.assertTrue(re.match(r"U OK \[HIGHESTMODSEQ \d+\] UID REPLACE completed$", t), t)
        mm = re.match(r"\* OK \[APPENDUID (\d+) (\d+)\] ", u[0])
        self.assertTrue(mm, u)
        # QRESYNC: VANISHED instead of EXPUNGE; no EXISTS (another mailbox)
        self.assertEqual(u[1:], ["* VANISHED %d\r\n" % uids[0]])
        u, _ = watcher.imap("N", "NOOP")
        self.assertIn("* 1 EXISTS\r\n", u)
        m = self.login(addr)
        m.select("Archive", readonly=True)
        auid = int(mm.group(2))
        got = fetch_by_uid(m, auid, "(FLAGS BODY.PEEK[])")[auid]
        self.assertEqual(got["BODY[]"], new)
        self.assertEqual(harness.flags_of(got["FLAGS"]), {"\\flagged"})
        m.select("INBOX", readonly=True)
        self.assertEqual(harness.uid_search(m, "ALL"), [uids[1]])

    def test_replace_errors(self):
        addr, msgs, uids = self.replace_setup(2)
        r = self.raw(addr)
        new = msg("new")
        # not selected
        r.send("A REPLACE 1 INBOX {%d}\r\n" % len(new))
        self.assertEqual(r.line(), b"A BAD No mailbox selected\r\n")
        _, t = r.imap("S", "SELECT INBOX")
        # a missing target: TRYCREATE before the data, nothing expunged
        r.send("B REPLACE 1 NoSuchBox {%d}\r\n" % len(new))
        self.assertEqual(r.line(), b"B NO [TRYCREATE] Mailbox does not exist\r\n")
        r.send("C REPLACE 1 NoSuchBox {%d+}\r\n" % len(new) + new.decode() + "\r\n")
        u, t = r.imap_until("C")
        self.assertEqual(t, "C NO [TRYCREATE] Mailbox does not exist")
        self.assertFalse([x for x in u if "EXPUNGE" in x], u)
        # sequence number beyond the last, UID that does not exist
        r.send("D REPLACE 3 INBOX {%d+}\r\n" % len(new) + new.decode() + "\r\n")
        self.assertEqual(r.imap_until("D")[1], "D BAD Invalid message sequence number")
        r.send("E UID REPLACE %d INBOX {%d+}\r\n" % (uids[-1] + 50, len(new)) + new.decode()
               + "\r\n")
        self.assertEqual(r.imap_until("E")[1], "E NO No message with UID %d" % (uids[-1] + 50))
        # one message only, and a real number
        r.send("F REPLACE 1 INBOX {%d+}\r\n" % len(new) + new.decode() + " {%d+}\r\n"
               % len(new) + new.decode() + "\r\n")
        self.assertEqual(r.imap_until("F")[1], "F BAD REPLACE takes one message")
        r.send("G REPLACE x INBOX {%d+}\r\n" % len(new) + new.decode() + "\r\n")
        self.assertEqual(r.imap_until("G")[1], "G BAD Invalid message number")
        # read-only: refused before the data
        _, t = r.imap("X", "EXAMINE INBOX")
        r.send("H REPLACE 1 INBOX {%d}\r\n" % len(new))
        self.assertEqual(r.line(), b"H NO [READ-ONLY] Mailbox is read-only\r\n")
        self.alive(r)
        self.assertEqual(self.count(addr), 2)
        # replaced by another session meanwhile: nothing stored
        _, t = r.imap("S2", "SELECT INBOX")
        other = self.login(addr)
        other.select("INBOX")
        other.uid("STORE", str(uids[0]), "+FLAGS.SILENT", "(\\Deleted)")
        other.expunge()
        r.send("I UID REPLACE %d INBOX {%d+}\r\n" % (uids[0], len(new)) + new.decode()
               + "\r\n")
        u, t = r.imap_until("I")
        self.assertEqual(t, "I NO [EXPUNGEISSUED] The message to replace was expunged")
        self.assertEqual(self.count(addr), 1)
        self.assert_no_tmp_files()

    # ---- UTF8=ACCEPT

    def test_utf8_accept_mailbox_names(self):
        addr = self.account()
        name = "B\u00fccher/\u65e5\u672c"
        utf7 = "B&APw-cher/&ZeVnLA-"
        r = self.raw(addr)
        u, t = r.imap("E", "ENABLE UTF8=ACCEPT")
        self.assertEqual(u, ["* ENABLED UTF8=ACCEPT\r\n"])
        u, t = r.imap("E2", "ENABLE UTF8=ACCEPT")
        self.assertEqual(u, ["* ENABLED\r\n"])
        r.send(('C CREATE "%s"\r\n' % name).encode("utf-8"))
        _, t = r.imap_until("C")
        self.assertTrue(t.startswith("C OK"), t)
        # "&" is a plain character now, not modified UTF-7
        _, t = r.imap("C2", 'CREATE "a&b"')
        self.assertTrue(t.startswith("C2 OK"), t)
        u, t = r.imap("L", 'LIST "" "*"')
        self.assertIn(('* LIST (\\HasNoChildren) "/" "%s"\r\n' % name), u)
        self.assertIn('* LIST (\\HasNoChildren) "/" "a&b"\r\n', u)
        r.send(('S SELECT "%s"\r\n' % name).encode("utf-8"))
        u, t = r.imap_until("S")
        self.assertTrue(t.startswith("S OK"), t)
        # messages go in with UTF8 data
        data = ("Subject: \u00dcber " + unique() + "\r\n\r\nx\r\n").encode("utf-8")
        r.send(('A APPEND "%s" UTF8 (~{%d+}\r\n' % (name, len(data))).encode("utf-8") + data
               + b")\r\n")
        u, t = r.imap_until("A")
        self.assertTrue(t.startswith("A OK [APPENDUID"), t)
        self.assertIn("* 1 EXISTS\r\n", u)
        # quoted strings carry UTF-8: the subject comes quoted, not as a
        # literal
        u, t = r.imap("F", "FETCH 1 (ENVELOPE)")
        self.assertIn('"\u00dcber ', u[0])
        # a session without it sees modified UTF-7 and literals
        p = self.raw(addr)
        u, t = p.imap("L", 'LIST "" "*"')
        self.assertIn('* LIST (\\HasNoChildren) "/" "%s"\r\n' % utf7, u)
        self.assertIn('* LIST (\\HasNoChildren) "/" "a&-b"\r\n', u)
        _, t = p.imap("S", 'SELECT "%s"' % utf7)
        self.assertTrue(t.startswith("S OK"), t)
        u, t = p.imap("F", "FETCH 1 (ENVELOPE)")
        self.assertRegex(u[0], r"ENVELOPE \(NIL \{\d+\}\r\n")
        # not valid UTF-8: BAD, the session goes on
        r.send(b'X CREATE "bad\xff\xfename"\r\n')
        _, t = r.imap_until("X")
        self.assertEqual(t, "X BAD Mailbox name is not valid UTF-8")
        r.send(b'Y SELECT "\xc3("\r\n')
        _, t = r.imap_until("Y")
        self.assertEqual(t, "Y BAD Mailbox name is not valid UTF-8")
        self.alive(r)

    def test_utf8_accept_imaplib(self):
        # a real client: imaplib switches to UTF-8 after ENABLE UTF8=ACCEPT
        addr = self.account()
        m = self.login(addr)
        typ, data = m.enable("UTF8=ACCEPT")
        self.assertEqual(typ, "OK", data)
        name = "Entw\u00fcrfe-" + unique()
        typ, data = m.create('"%s"' % name)
        self.assertEqual(typ, "OK", data)
        typ, data = m.list('""', '"Entw*"')
        self.assertEqual(typ, "OK", data)
        self.assertEqual([d for d in data if name.encode("utf-8") in d],
                         [('(\\HasNoChildren) "/" "%s"' % name).encode("utf-8")])
        typ, data = m.select('"%s"' % name)
        self.assertEqual(typ, "OK", data)


if __name__ == "__main__":
    unittest.main(verbosity=2)
