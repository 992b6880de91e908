"""Malformed and hostile IMAP input on the wire (harness.Raw) against the real
mailstead-imapd: every case gets the protocol's answer -- BAD or NO, with
the RFC's response code where one is defined -- and the session goes on
working afterwards (NOOP and a real FETCH answered OK), or ends with BYE
where the protocol allows no recovery, and the daemon keeps serving.

Covers: parentheses, sequence sets (RFC 9051 section 9 seq-number, 6.4.9),
literal limits (RFC 7888 section 4, RFC 9051 7.1 TOOBIG), commands in the
wrong state (RFC 9051 section 3), tags, NUL and 8-bit bytes, line length,
the limit on consecutive BAD commands, a whole session fed one byte at a
time, and clients that vanish mid-command. test_robust.py and test_imapd.py
hold the first, coarser checks of some of these; this file pins each answer.

Run by tests/integration/run-tests, or by hand:
PYTHONPATH=tests/integration top_builddir=BUILD python3 THIS_FILE"""
import re
import socket
import struct
import time
import unittest

import harness
from harness import PASSWORD, USER, make_message, unique

SRV = None
# Small limits keep the oversize cases fast: [imap] max_literal_size and
# max_line_length of the test server.
MAX_LITERAL = 65536
MAX_LINE = 2048
MAX_BAD_COMMANDS = 20  # daemons/imapd/imap_session.c
DATE = "01-Jan-2024 10:00:00 +0000"


def setUpModule():
    global SRV
    SRV = harness.Server(name="malformed", daemons=("imapd",),
                         imap_conf={"max_literal_size": str(MAX_LITERAL),
                                    "max_line_length": str(MAX_LINE)}).start()
    m = SRV.imap()
    try:
        for i in range(3):
            msg, _ = make_message(subject="malformed %d" % (i + 1))
            typ, data = m.append("INBOX", None, '"%s"' % DATE, msg)
            assert typ == "OK", data
        typ, data = m.create("Empty")
        assert typ == "OK", data
    finally:
        m.logout()


def tearDownModule():
    if SRV:
        SRV.stop()


TAGGED = re.compile(r"^(\S+) (OK|NO|BAD)(?: \[([A-Z0-9-]+)[^\]]*\])?(?: (.*))?$")


class MalformedTest(harness.TestCase):

    # ------------------------------------------------------------ helpers

    def conn(self, login=True, select="INBOX", user=USER, password=PASSWORD):
        r = SRV.raw_imap()
        r.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if login:
            _, t = r.imap("L1", "LOGIN %s %s" % (user, password))
            self.assertTrue(t.startswith("L1 OK"), t)
        if select:
            u, t = r.imap("L2", "SELECT %s" % select)
            self.assertTrue(t.startswith("L2 OK"), t)
            r.exists = next(int(x.split()[1]) for x in u if x.rstrip().endswith(" EXISTS"))
        return r

    def answer(self, r, data, tag):
        """Send data; return (other lines, tagged line) of tag. No "+"
        continuation may come: every case here is answered at once."""
        if isinstance(data, str):
            data = data.encode()
        r.send(data)
        other = []
        while True:
            ln = r.line()
            self.assertTrue(ln, "connection closed after %r; got %r" % (data[:80], other))
            self.assertFalse(ln.startswith(b"+"), "continuation request for %r" % data[:80])
            s = ln.decode("utf-8", "replace").rstrip("\r\n")
            if s.startswith(tag + " "):
                return other, s
            other.append(s)

    def check(self, r, data, tag, status, code=None, text=None):
        """The tagged answer of tag to data is `status` with response code
        `code` (None: no code) and contains `text` (case-insensitive)."""
        other, line = self.answer(r, data, tag)
        m = TAGGED.match(line)
        self.assertIsNotNone(m, "malformed tagged line %r for %r" % (line, data))
        self.assertEqual((m.group(2), m.group(3)), (status, code),
                         "%r answered %r" % (data, line))
        if text is not None:
            self.assertIn(text.lower(), line.lower(), "%r answered %r" % (data, line))
        # Nothing else was executed: no answer under another tag.
        self.assertEqual([o for o in other if not o.startswith("* ")], [],
                         "stray responses for %r" % data)
        return other, line

    def check_untagged_bad(self, r, data, text=None):
        """A line without a usable tag: "* BAD" and nothing else."""
        r.send(data)
        ln = r.line().decode("utf-8", "replace").rstrip("\r\n")
        self.assertTrue(ln.startswith("* BAD "), "%r answered %r" % (data, ln))
        if text is not None:
            self.assertIn(text.lower(), ln.lower(), "%r answered %r" % (data, ln))

    def works(self, r, tag="ok", selected=True):
        """The session is still usable: NOOP OK without stray output, a real
        FETCH of message 1 returns it, and imapd is alive."""
        other, t = self.answer(r, "%s NOOP\r\n" % tag, tag)
        self.assertEqual(t, "%s OK NOOP completed" % tag)
        self.assertEqual(other, [], "stray output before NOOP's answer")
        if selected:
            other, t = self.answer(r, "%sf FETCH 1 (UID FLAGS)\r\n" % tag, tag + "f")
            self.assertTrue(t.startswith(tag + "f OK"), t)
            self.assertEqual(len(other), 1, other)
            self.assertTrue(re.match(r"\* 1 FETCH \(UID \d+ FLAGS \(", other[0]), other)
        self.assertTrue(SRV.daemon_alive("imapd"), "imapd died")

    def count(self, mailbox="INBOX", user=USER, password=PASSWORD):
        return SRV.inbox_count(user, password, mailbox)

    def plus(self, r, what):
        ln = r.line()
        self.assertTrue(ln.startswith(b"+ "), "no continuation for %s: %r" % (what, ln))

    # ------------------------------------------------- parentheses, nesting

    def test_parentheses(self):
        n0 = self.count()
        with self.conn() as r:
            for i, line in enumerate((
                    b"FETCH 1 (FLAGS UID",              # unclosed
                    b"FETCH 1 FLAGS)",                   # stray ")"
                    b"FETCH 1 (FLAGS))",
                    b"FETCH 1 ((FLAGS)",
                    b"FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT]",
                    b"UID FETCH 1:* (FLAGS) )",
                    b"STORE 1 +FLAGS (\\Seen",
                    b"STORE 1 +FLAGS \\Seen)",
                    b"STORE 1 +FLAGS (\\Seen))",
                    b"SEARCH (ALL",
                    b"SEARCH (ALL))",
                    b"SEARCH ((ALL)",
                    b"SEARCH OR (SEEN) (ALL",
                    b"SEARCH NOT )")):
                self.check(r, b"p%d %s\r\n" % (i, line), "p%d" % i, "BAD",
                           text="parenthes" if b"(" in line and b")" not in line else None)
                self.works(r, "w%d" % i)
            # None of the STOREs did anything.
            other, _ = self.check(r, "f1 FETCH 1:* (FLAGS)\r\n", "f1", "OK")
            self.assertEqual(len(other), r.exists)
            self.assertFalse([o for o in other if "\\Seen" in o], other)
            # APPEND flag lists. A list left open before a synchronizing
            # literal is only known to be unbalanced at the end of the line,
            # after the literal: "+" comes, then BAD, and nothing is stored.
            r.send(b"a1 APPEND INBOX (\\Seen {5}\r\n")
            self.plus(r, "APPEND with an open flag list")
            self.check(r, b"hello\r\n", "a1", "BAD", text="parenthes")
            # The same with LITERAL+: the message bytes are not a command.
            self.check(r, b"a2 APPEND INBOX (\\Seen {12+}\r\nx2 LOGOUT\r\n\r\n", "a2", "BAD",
                       text="parenthes")
            # A stray ")" is seen before the literal: BAD at once, no "+".
            self.check(r, b"a3 APPEND INBOX \\Seen) {5}\r\n", "a3", "BAD", text=")")
            self.check(r, b"a4 APPEND INBOX (\\Seen)) {12+}\r\nx4 LOGOUT\r\n\r\n", "a4", "BAD",
                       text=")")
            # A list inside the flag list is not a flag.
            self.check(r, b"a5 APPEND INBOX ((\\Seen)) {12+}\r\nx5 LOGOUT\r\n\r\n", "a5", "BAD",
                       text="flag")
            self.works(r, "w-append")
            # A ")" alone: no tag to answer to.
            self.check_untagged_bad(r, b")\r\n")
            self.check_untagged_bad(r, b") NOOP\r\n")
            self.works(r, "w-paren")
            # Nesting: 32 levels are allowed (the parser's max_depth), 33 not.
            deep = b"(" * 32 + b"ALL" + b")" * 32
            other, _ = self.check(r, b"n1 SEARCH %s\r\n" % deep, "n1", "OK")
            self.assertEqual(other, ["* SEARCH " + " ".join(str(i) for i in
                                                        range(1, r.exists + 1))])
            self.check(r, b"n2 SEARCH %s\r\n" % (b"(" + deep + b")"), "n2", "BAD", text="deep")
            self.check(r, b"n3 FETCH 1 %s\r\n" % (b"(" * 33 + b"FLAGS" + b")" * 33), "n3", "BAD",
                       text="deep")
            # Far deeper, and unbalanced too: the first error is reported.
            self.check(r, b"n4 FETCH 1 %s\r\n" % (b"(" * 1500), "n4", "BAD", text="deep")
            self.check(r, b"n5 SEARCH %s\r\n" % (b")" * 1500), "n5", "BAD")
            self.works(r, "w-deep")
        self.assertEqual(self.count(), n0, "a malformed APPEND stored a message")

    # ---------------------------------------------------- sequence sets

    def test_bad_sequence_sets(self):
        with self.conn() as r:
            n = r.exists
            self.assertGreaterEqual(n, 3)
            bad_sets = ("0", "1:0", "0:1", "1:0x", "*:", ":1", ",", "1,", ",1", "1,,2",
                        "4294967296", "1:4294967296", "99999999999999999999", "-1", "1:-1",
                        "1:*:2", "1::2", "a", "1.5", "%")
            i = 0
            for cmd in ("FETCH %s (FLAGS)", "UID FETCH %s (FLAGS)", "STORE %s +FLAGS (\\Seen)",
                        "UID STORE %s +FLAGS (\\Seen)", "COPY %s Empty", "UID COPY %s Empty",
                        "MOVE %s Empty", "SEARCH %s", "UID SEARCH UID %s", "UID EXPUNGE %s"):
                for s in bad_sets:
                    i += 1
                    tag = "s%d" % i
                    self.check(r, "%s %s\r\n" % (tag, cmd % s), tag, "BAD")
                    # Interleaved good commands: the BAD counter restarts.
                    if i % 10 == 0:
                        self.works(r, "w%d" % i)
            # Empty: no argument, an empty quoted string, two spaces.
            self.check(r, "e1 FETCH\r\n", "e1", "BAD")
            self.check(r, 'e2 FETCH "" (FLAGS)\r\n', "e2", "BAD")
            self.check(r, "e3 FETCH  (FLAGS)\r\n", "e3", "BAD")
            self.check(r, "e4 STORE  +FLAGS (\\Seen)\r\n", "e4", "BAD")
            self.works(r, "w-empty")
            # Nothing was stored, flagged or moved by any of them.
            other, _ = self.check(r, "f1 FETCH 1:* (FLAGS)\r\n", "f1", "OK")
            self.assertEqual(len(other), n)
            self.assertFalse([o for o in other if "\\Seen" in o], other)
        self.assertEqual(self.count("Empty"), 0, "a malformed COPY/MOVE copied")

    def test_sequence_numbers_beyond_exists(self):
        """RFC 9051 section 9 (seq-number): "The server should respond with
        a tagged BAD response to a command that uses a message sequence
        number greater than the number of messages in the selected
        mailbox. This includes "*" if the selected mailbox is empty."
        Section 6.4.9: "A non-existent unique identifier is ignored without
        any error message generated." mox does the same (xnumSetEval)."""
        with self.conn() as r:
            n = r.exists
            for i, cmd in enumerate(("FETCH %d (FLAGS)" % (n + 1), "FETCH 1:%d (FLAGS)" % (n + 1),
                                     "FETCH %d:* (FLAGS)" % (n + 1), "FETCH 4294967295 (FLAGS)",
                                     "FETCH 1,%d (FLAGS)" % (n + 5),
                                     "STORE %d +FLAGS (\\Deleted)" % (n + 1),
                                     "STORE 1:%d +FLAGS (\\Deleted)" % (n + 1),
                                     "COPY %d Empty" % (n + 1), "MOVE 1:%d Empty" % (n + 1))):
                self.check(r, "b%d %s\r\n" % (i, cmd), "b%d" % i, "BAD", text="sequence")
            self.works(r, "w-seq")
            # In range, "*" and reversed ranges are fine.
            other, _ = self.check(r, "g1 FETCH %d:1 (UID)\r\n" % n, "g1", "OK")
            self.assertEqual(len(other), n)
            other, _ = self.check(r, "g2 FETCH * (UID)\r\n", "g2", "OK")
            self.assertEqual(len(other), 1)
            self.assertTrue(other[0].startswith("* %d FETCH" % n), other)
            # UIDs that do not exist: OK, and nothing happens.
            for i, cmd in enumerate(("UID FETCH 4294967295 (FLAGS)",
                                     "UID FETCH 100000:4294967295 (FLAGS)",
                                     "UID STORE 100000:200000 +FLAGS (\\Deleted)",
                                     "UID COPY 100000:200000 Empty",
                                     "UID MOVE 100000:200000 Empty",
                                     "UID EXPUNGE 100000:200000",
                                     "UID SEARCH UID 100000:200000")):
                other, _ = self.check(r, "u%d %s\r\n" % (i, cmd), "u%d" % i, "OK")
                self.assertTrue(all(o.startswith("* SEARCH") or o.startswith("* ESEARCH")
                                    for o in other), other)
            # A sequence-number search key is a criterion, not a reference to
            # a message: out of range it matches nothing (as in mox and
            # Dovecot) instead of the "should" BAD above.
            other, _ = self.check(r, "q1 SEARCH %d\r\n" % (n + 1), "q1", "OK")
            self.assertEqual(other, ["* SEARCH"])
            self.works(r, "w-uid")
        self.assertEqual(self.count("Empty"), 0)

    def test_sequence_sets_on_empty_mailbox(self):
        with self.conn(select="Empty") as r:
            self.assertEqual(r.exists, 0)
            for i, cmd in enumerate(("FETCH * (FLAGS)", "FETCH 1 (FLAGS)", "FETCH 1:* (FLAGS)",
                                     "STORE * +FLAGS (\\Seen)", "COPY 1:* INBOX",
                                     "MOVE * INBOX")):
                self.check(r, "b%d %s\r\n" % (i, cmd), "b%d" % i, "BAD", text="sequence")
            for i, cmd in enumerate(("UID FETCH 1:* (FLAGS)", "UID FETCH * (FLAGS)",
                                     "UID FETCH 1:4294967295 (FLAGS)",
                                     "UID STORE 1:4294967295 +FLAGS (\\Deleted)",
                                     "UID COPY 1:* INBOX", "UID MOVE 1:4294967295 INBOX",
                                     "UID EXPUNGE 1:4294967295", "EXPUNGE",
                                     "UID SEARCH UID 1:4294967295", "SEARCH ALL")):
                other, _ = self.check(r, "u%d %s\r\n" % (i, cmd), "u%d" % i, "OK")
                self.assertEqual([o for o in other if not o.startswith("* SEARCH")], [], cmd)
            self.works(r, "w-empty", selected=False)

    # ---------------------------------------------------------- literals

    def test_literal_limits(self):
        n0 = self.count()
        with self.conn() as r:
            # A synchronizing literal over max_literal_size: refused before
            # the client sends it (no "+"), NO [TOOBIG] (RFC 9051 7.1.2,
            # RFC 7888 section 4).
            self.check(r, "t1 APPEND INBOX {%d}\r\n" % (MAX_LITERAL + 1), "t1", "NO", "TOOBIG")
            self.check(r, "t2 APPEND INBOX (\\Seen) \"%s\" {%d}\r\n" % (DATE, 10 ** 15),
                       "t2", "NO", "TOOBIG")
            self.works(r, "w1")
            # A non-synchronizing one arrives anyway: it is read and
            # discarded (RFC 7888 section 4); for APPEND the answer is the
            # APPENDLIMIT one, NO [TOOBIG] (RFC 7889). Its bytes, a command
            # line here, are never executed.
            big = b"x" * (MAX_LITERAL - 20) + b"\r\nevil LOGOUT\r\n"
            big += b"y" * (MAX_LITERAL + 1 - len(big))
            self.check(r, b"t3 APPEND INBOX {%d+}\r\n%s\r\n" % (len(big), big), "t3", "NO",
                       "TOOBIG")
            self.works(r, "w2")
            # Exactly at the limit: accepted.
            msg = b"Subject: at the limit\r\n\r\n"
            msg += b"z" * (MAX_LITERAL - len(msg))
            r.send(b"t4 APPEND INBOX {%d}\r\n" % len(msg))
            self.plus(r, "APPEND at max_literal_size")
            other, line = self.check(r, msg + b"\r\n", "t4", "OK", "APPENDUID")
            self.assertIn("* %d EXISTS" % (r.exists + 1), other)
            # (Several messages of one MULTIAPPEND are each held to the
            # limit, not their total: test_imap_append_ext.)
            # Literals in other commands are bounded by max_line_length.
            self.check(r, "t6 SELECT {%d}\r\n" % (MAX_LINE + 1), "t6", "NO", "TOOBIG")
            self.check(r, b"t7 SEARCH SUBJECT {%d+}\r\n%s\r\n"
                       % (MAX_LINE + 1, b"s" * (MAX_LINE + 1)), "t7", "BAD", "TOOBIG")
            # At the limit it is taken (and the name is just unknown).
            r.send("t8 STATUS {%d}\r\n" % MAX_LINE)
            self.plus(r, "literal of max_line_length")
            self.check(r, b"w" * MAX_LINE + b" (MESSAGES)\r\n", "t8", "NO", "NONEXISTENT")
            self.works(r, "w4")
        # A non-synchronizing size that is not even a number64 cannot be
        # skipped: BYE and close, and the next connection is served.
        with self.conn(select=None) as r:
            r.send(b"t9 APPEND INBOX {99999999999999999999+}\r\nabc\r\n")
            ln = r.line()
            self.assertTrue(ln.startswith(b"* BYE "), ln)
            self.assertTrue(r.closed(), "connection left open after BYE")
        with self.conn(select=None) as r:
            # The synchronizing form is just refused.
            self.check(r, b"t10 APPEND INBOX {99999999999999999999}\r\n", "t10", "NO", "TOOBIG")
            self.works(r, "w5", selected=False)
        self.assertEqual(self.count(), n0 + 1, "only the APPEND at the limit stores")
        self.assertTrue(harness.wait_for(lambda: not SRV.tmp_files(), 5), SRV.tmp_files())

    def test_literals_before_login(self):
        with self.conn(login=False, select=None) as r:
            # Before authentication every literal is bounded by the line
            # length, APPEND included.
            self.check(r, "t1 APPEND INBOX {%d}\r\n" % (MAX_LINE + 1), "t1", "NO", "TOOBIG")
            self.check(r, "t2 LOGIN {%d}\r\n" % (MAX_LINE + 1), "t2", "NO", "TOOBIG")
            self.check(r, b"t3 LOGIN {%d+}\r\n%s x\r\n" % (MAX_LINE + 1, b"u" * (MAX_LINE + 1)),
                       "t3", "BAD", "TOOBIG")
            self.works(r, "w1", selected=False)
            # An APPEND small enough: refused for the state, not stored.
            self.check(r, b"t4 APPEND INBOX {12+}\r\nx4 LOGOUT\r\n\r\n", "t4", "BAD",
                       text="authenticated")
            u = USER.encode()
            self.check(r, b"t5 LOGIN {%d+}\r\n%s %s\r\n" % (len(u), u, PASSWORD.encode()),
                       "t5", "OK", "CAPABILITY")
            self.check(r, b"t6 SELECT INBOX\r\n", "t6", "OK", "READ-WRITE")
            self.works(r, "w2")

    # ------------------------------------------------- commands and state

    def test_wrong_state(self):
        # Not authenticated (RFC 9051 section 3): only any-state commands,
        # STARTTLS, AUTHENTICATE and LOGIN.
        with self.conn(login=False, select=None) as r:
            for i, cmd in enumerate((
                    "FETCH 1 (FLAGS)", "STORE 1 +FLAGS (\\Seen)", "SEARCH ALL", "EXPUNGE",
                    "CLOSE", "UNSELECT", "CHECK", "COPY 1 INBOX", "MOVE 1 INBOX",
                    "UID FETCH 1 (FLAGS)", "UID EXPUNGE 1", "SELECT INBOX", "EXAMINE INBOX",
                    'LIST "" *', "LSUB \"\" *", "STATUS INBOX (MESSAGES)", "CREATE x",
                    "DELETE x", "RENAME x y", "SUBSCRIBE INBOX", "NAMESPACE",
                    "ENABLE IMAP4rev2", "IDLE")):
                self.check(r, "n%d %s\r\n" % (i, cmd), "n%d" % i, "BAD", text="authenticated")
                self.works(r, "w%d" % i, selected=False)
        # Authenticated, nothing selected.
        with self.conn(select=None) as r:
            for i, cmd in enumerate((
                    "FETCH 1 (FLAGS)", "STORE 1 +FLAGS (\\Seen)", "SEARCH ALL", "EXPUNGE",
                    "CLOSE", "UNSELECT", "CHECK", "COPY 1 INBOX", "MOVE 1 INBOX",
                    "UID FETCH 1 (FLAGS)", "UID STORE 1 +FLAGS (\\Seen)", "UID SEARCH ALL",
                    "UID COPY 1 INBOX", "UID MOVE 1 INBOX", "UID EXPUNGE 1")):
                self.check(r, "a%d %s\r\n" % (i, cmd), "a%d" % i, "BAD", text="selected")
                self.works(r, "v%d" % i, selected=False)
            for i, cmd in enumerate(("LOGIN %s %s" % (USER, PASSWORD), "AUTHENTICATE PLAIN",
                                     "AUTHENTICATE PLAIN " + harness.b64("\0%s\0%s"
                                                                         % (USER, PASSWORD)),
                                     "STARTTLS")):
                self.check(r, "l%d %s\r\n" % (i, cmd), "l%d" % i, "BAD", text="authenticated")
            self.works(r, "w-auth", selected=False)
        # Selected.
        with self.conn() as r:
            # RFC 9051 6.3.1: "The ENABLE command is only valid in the
            # authenticated state, before any mailbox is selected."
            self.check(r, "e1 ENABLE CONDSTORE\r\n", "e1", "BAD")
            self.check(r, "e2 LOGIN %s %s\r\n" % (USER, PASSWORD), "e2", "BAD")
            self.check(r, "e3 STARTTLS\r\n", "e3", "BAD")
            self.works(r, "w-sel")
            # UID with commands that have no UID form, and without one.
            for i, cmd in enumerate(('UID LIST "" *', "UID NOOP", "UID SELECT INBOX",
                                     "UID CLOSE", "UID CHECK", "UID LOGOUT", "UID",
                                     "UID UID FETCH 1 (FLAGS)", "UID 1 FETCH (FLAGS)",
                                     'UID "FETCH" 1 (FLAGS)')):
                self.check(r, "u%d %s\r\n" % (i, cmd), "u%d" % i, "BAD")
                self.works(r, "wu%d" % i)
            # Unknown commands, also close to real ones.
            for i, cmd in enumerate(("FROBNICATE", "XYZZY 1 2 3", "FETCHX 1 (FLAGS)",
                                     "FETC 1 (FLAGS)", "NOOOP", "LOG OUT", "X-LIST \"\" *")):
                self.check(r, "k%d %s\r\n" % (i, cmd), "k%d" % i, "BAD", text="unknown")
                self.works(r, "wk%d" % i)
            # UID LOGOUT did not log out.
            self.works(r, "w-end")

    def test_tags_and_bytes(self):
        with self.conn() as r:
            # A line of one word: the word is the tag, the command is missing.
            self.check(r, "NOOP\r\n", "NOOP", "BAD", text="missing")
            self.check(r, "t1\r\n", "t1", "BAD", text="missing")
            self.check(r, "t2 \r\n", "t2", "BAD", text="missing")
            self.works(r, "w1")
            # Tags must be ASTRING-CHARs other than "+" (RFC 9051 section 9):
            # without one there is nothing to tag the answer with.
            for line in (b" NOOP", b"  t3 NOOP", b"   ", b"\t", b"t*3 NOOP", b"+t3 NOOP",
                         b"t%3 NOOP", b"t(3 NOOP", b"t)3 NOOP", b"t{3} NOOP", b't"3 NOOP',
                         b"t\\3 NOOP", b"*", b"* NOOP", b"+ NOOP", b"\x01 NOOP", b"\x7f NOOP",
                         b"t\x00 NOOP", b"\x00", b"t\xc3\xa43 NOOP", b"\xff NOOP"):
                self.check_untagged_bad(r, line + b"\r\n", text="tag")
                self.works(r, "w-tag")
            # "]" is an ASTRING-CHAR: a valid tag.
            self.check(r, "t]4 NOOP\r\n", "t]4", "OK")
            # Empty lines between commands are ignored, not answered.
            other, t = self.answer(r, b"\r\n\r\n\nt5 NOOP\r\n", "t5")
            self.assertEqual((other, t), ([], "t5 OK NOOP completed"))
            # NUL bytes.
            self.check(r, b"t6 NO\x00OP\r\n", "t6", "BAD")
            self.check(r, b"t7 NOOP \x00\r\n", "t7", "BAD")
            self.check(r, b"t8 SELECT \"IN\x00BOX\"\r\n", "t8", "BAD", text="NUL")
            self.check(r, b"t9 SELECT {7+}\r\nIN\x00BOX\r\n", "t9", "BAD")
            self.check(r, b"t10 FETCH 1\x00 (FLAGS)\r\n", "t10", "BAD")
            self.works(r, "w2")
            # 8-bit bytes outside strings (atoms are 7-bit).
            self.check(r, b"t11 SELECT INB\xc3\x96X\r\n", "t11", "BAD", text="8-bit")
            self.check(r, b"t12 N\xc3\xa4OP\r\n", "t12", "BAD")
            self.check(r, b"t13 FETCH 1 (FL\xffAGS)\r\n", "t13", "BAD", text="8-bit")
            self.check(r, b"t14 STORE 1 +FLAGS (k\xe4yword)\r\n", "t14", "BAD", text="8-bit")
            self.works(r, "w3")
            # In a quoted string UTF-8 is fine (RFC 9051 QUOTED-CHAR); it is a
            # name like any other. Malformed UTF-8 is the client's error
            # (BAD), quoted or in a literal.
            self.check(r, b"t15 STATUS \"Inb\xc3\xa4x\" (MESSAGES)\r\n", "t15", "NO",
                       "NONEXISTENT")
            self.check(r, b"t16 STATUS \"Inb\xe4x\" (MESSAGES)\r\n", "t16", "BAD", text="UTF-8")
            self.check(r, b"t17 CREATE {5+}\r\nInb\xe4x\r\n", "t17", "BAD", text="UTF-8")
            self.check(r, b"t18 COPY 1 \"\xed\xa0\x80\"\r\n", "t18", "BAD", text="UTF-8")
            self.check(r, b"t19 APPEND \"\xc0\xafx\" {12+}\r\nx4 LOGOUT\r\n\r\n", "t19", "BAD",
                       text="UTF-8")
            self.check(r, b"t20 RENAME Empty \"\xf4\x90\x80\x80\"\r\n", "t20", "BAD",
                       text="UTF-8")
            self.works(r, "w4")
            # Bare CR, CR CR LF.
            self.check(r, b"t21 NOOP\r\r\n", "t21", "BAD")
            self.check(r, b"t22 FETCH 1\r(FLAGS)\r\n", "t22", "BAD")
            self.works(r, "w5")
            # Lines up to max_line_length (CRLF included) are read, longer
            # ones refused; the rest of the line is skipped, not executed.
            line = b'l1 SEARCH SUBJECT "'
            line += b"q" * (MAX_LINE - len(line) - 3) + b'"\r\n'
            self.assertEqual(len(line), MAX_LINE)
            self.check(r, line, "l1", "OK")
            line = line[:-3] + b'q"\r\n'
            self.check(r, b"l2" + line[2:], "l2", "BAD", text="too long")
            self.check(r, b"l3 NOOP " + b"x" * (MAX_LINE * 100) + b"\r\nx3 LOGOUT\r\n", "l3",
                       "BAD", text="too long")
            # The "x3 LOGOUT" after it is its own line: a real command.
            self.check(r, b"", "x3", "OK")
        self.assertTrue(SRV.daemon_alive("imapd"))
        with self.conn() as r:
            # A line too long before the tag ends: no tag to answer.
            self.check_untagged_bad(r, b"t" * (MAX_LINE * 3) + b" NOOP\r\n", text="too long")
            self.works(r, "w6")
        self.assertEqual(self.count("Empty"), 0)

    def test_too_many_bad_commands(self):
        with self.conn() as r:
            # MAX_BAD_COMMANDS - 1 in a row, of every kind, and a good one:
            # the count starts again.
            kinds = (b"FETCH 1 (FLAGS", b"FROBNICATE", b"ENABLE CONDSTORE", b"FETCH 0 (FLAGS)",
                     b"UID LIST \"\" *")
            for round_ in range(2):
                for i in range(MAX_BAD_COMMANDS - 1):
                    tag = "r%db%d" % (round_, i)
                    self.check(r, b"%s %s\r\n" % (tag.encode(), kinds[i % len(kinds)]), tag,
                               "BAD")
                self.works(r, "r%d" % round_)
            # Then MAX_BAD_COMMANDS in a row, pipelined with one more good
            # command: each gets its BAD, then "* BYE" and the connection is
            # closed; the command after it is not run.
            data = b"".join(b"x%d %s\r\n" % (i, kinds[i % len(kinds)])
                            for i in range(MAX_BAD_COMMANDS))
            r.send(data + b"after NOOP\r\n")
            for i in range(MAX_BAD_COMMANDS):
                ln = r.line().decode("utf-8", "replace")
                self.assertTrue(ln.startswith("x%d BAD " % i), ln)
            ln = r.line()
            self.assertTrue(ln.startswith(b"* BYE "), ln)
            self.assertTrue(r.closed(), "connection left open after BYE")
        # Untagged errors count too.
        with self.conn(login=False, select=None) as r:
            r.send(b"*\r\n" * MAX_BAD_COMMANDS)
            for i in range(MAX_BAD_COMMANDS):
                self.assertTrue(r.line().startswith(b"* BAD "))
            self.assertTrue(r.line().startswith(b"* BYE "))
            self.assertTrue(r.closed())
        with self.conn() as r:
            self.works(r, "w-after")

    # ------------------------------------------------ one byte at a time

    def _session_script(self, user):
        """The pieces of a realistic session; None: wait for "+"."""
        u = user.encode()
        msg = (b"From: a@example.net\r\nTo: bytes@example.org\r\nSubject: appended bytewise\r\n"
               b"Message-ID: <bytewise@example.net>\r\n\r\nbody line 1\r\nbody line 2\r\n")
        return [
            b"a1 LOGIN {%d+}\r\n%s \"%s\"\r\n" % (len(u), u, PASSWORD.encode())
            + b"a2 CAPABILITY\r\n"
            b"a3 SELECT \"INBOX\"\r\n"
            b"a4 FETCH 1:* (FLAGS BODY.PEEK[HEADER])\r\n"
            b"a5 STORE 2 +FLAGS (\\Flagged $Label1)\r\n"
            b"a6 SEARCH FLAGGED\r\n"
            b"a7 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (Subject)])\r\n"
            b"a8 APPEND INBOX (\\Seen) \"%s\" {%d}\r\n" % (DATE.encode(), len(msg)),
            None,
            msg + b"\r\n"
            b"a9 UID SEARCH SUBJECT \"bytewise\"\r\n"
            b"a10 FETCH 4 (FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[TEXT])\r\n"
            b"a11 STORE 1:* -FLAGS.SILENT (\\Seen)\r\n"
            b"a12 LOGOUT\r\n",
        ]

    def _transcript(self, user, bytewise):
        pieces = self._session_script(user)
        r = harness.Raw(SRV.imap_port)
        r.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        lines = [r.line()]
        try:
            for p in pieces:
                if p is None:
                    while True:
                        ln = r.line()
                        self.assertTrue(ln, "closed before the continuation: %r" % lines)
                        lines.append(ln)
                        if ln.startswith(b"+ "):
                            break
                    continue
                if not bytewise:
                    r.send(p)
                    continue
                for i in range(len(p)):
                    r.send(p[i:i + 1])
                    # A pause now and then makes the daemon read most bytes
                    # on their own instead of in a batch.
                    if i % 2 == 0:
                        time.sleep(0.0005)
            while True:
                ln = r.line()
                if not ln:
                    break
                lines.append(ln)
        finally:
            r.close()
        # Values that differ between the two accounts.
        out = []
        for ln in lines:
            ln = re.sub(rb"\[UIDVALIDITY \d+\]", b"[UIDVALIDITY v]", ln)
            ln = re.sub(rb"\[APPENDUID \d+ ", b"[APPENDUID v ", ln)
            out.append(ln)
        return out

    def _bytewise_account(self):
        addr = "%s@example.org" % unique("bytes")
        SRV.add_account(addr, PASSWORD)
        m = SRV.imap(addr, PASSWORD)
        try:
            for i, fl in enumerate((None, "(\\Seen)", "(\\Answered $Forwarded)")):
                # The same messages in each account: only the login differs.
                msg = (b"From: sender@example.net\r\nTo: bytes@example.org\r\n"
                       b"Subject: bytewise %d\r\nDate: Mon, 1 Jan 2024 10:00:0%d +0000\r\n"
                       b"\r\nbody %d\r\n" % (i, i, i))
                typ, data = m.append("INBOX", fl, '"%s"' % DATE, msg)
                self.assertEqual(typ, "OK", data)
        finally:
            m.logout()
        return addr

    def test_session_one_byte_at_a_time(self):
        whole = self._transcript(self._bytewise_account(), bytewise=False)
        t0 = time.monotonic()
        bytewise = self._transcript(self._bytewise_account(), bytewise=True)
        self.assertLess(time.monotonic() - t0, 20)
        # The session itself did what it should (so the comparison is not
        # between two failures).
        text = b"".join(whole).decode("utf-8", "replace")
        for i in range(1, 13):
            self.assertRegex(text, r"\r\na%d OK " % i)
        self.assertIn("* SEARCH 2\r\n", text)
        self.assertIn("Subject: bytewise 1", text)
        self.assertIn("* 4 EXISTS", text)
        self.assertIn("* BYE", text)
        self.assertIn("body line 2", text)
        self.assertEqual(bytewise, whole)

    # ------------------------------------------------- vanishing clients

    def test_clients_vanish(self):
        addr = "%s@example.org" % unique("vanish")
        SRV.add_account(addr, PASSWORD)
        keeper = SRV.imap(addr, PASSWORD)
        try:
            typ, data = keeper.append("INBOX", None, None, make_message(subject="first")[0])
            self.assertEqual(typ, "OK", data)
            typ, data = keeper.select("INBOX")
            self.assertEqual((typ, data), ("OK", [b"1"]))

            def session(select=True):
                return self.conn(user=addr, select="INBOX" if select else None)

            # Mid-literal: synchronizing (after "+") and non-synchronizing.
            r = session(select=False)
            r.send(b"v1 APPEND INBOX {200}\r\n")
            self.plus(r, "APPEND")
            r.send(b"x" * 100)
            r.close()
            r = session(select=False)
            r.send(b"v2 APPEND INBOX {200+}\r\n" + b"x" * 100)
            r.close()
            # Mid-line, with an open list.
            r = session()
            r.send(b"v3 FETCH 1:* (FLAGS")
            r.close()
            # During IDLE: a close, a reset, and a half-close.
            for how in ("close", "reset", "shutdown"):
                r = session()
                r.send(b"v4 IDLE\r\n")
                self.plus(r, "IDLE")
                if how == "reset":
                    r.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                      struct.pack("ii", 1, 0))
                elif how == "shutdown":
                    r.sock.shutdown(socket.SHUT_WR)
                r.close()
            # A client that asks for a lot and leaves without reading.
            r = session()
            r.send(b"v5 FETCH 1:* (BODY.PEEK[] BODY.PEEK[] BODY.PEEK[])\r\n" * 20)
            r.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            r.close()

            # The others are still served: a new message reaches the
            # session that stayed, whose NOOP reports it.
            time.sleep(0.2)
            other = SRV.imap(addr, PASSWORD)
            typ, data = other.append("INBOX", None, None, make_message(subject="second")[0])
            self.assertEqual(typ, "OK", data)
            other.logout()
            typ, data = keeper.noop()
            self.assertEqual(typ, "OK")
            self.assertIn(b"2", keeper.untagged_responses.get("EXISTS", [b""]), data)
            typ, data = keeper.fetch("1:*", "(FLAGS)")
            self.assertEqual(typ, "OK")
            self.assertEqual(len([d for d in data if d]), 2, data)
        finally:
            keeper.logout()
        self.assertTrue(SRV.daemon_alive("imapd"))
        self.assertEqual(self.count(user=addr), 2, "a half-sent APPEND was stored")
        self.assertTrue(harness.wait_for(lambda: not SRV.tmp_files(), 5), SRV.tmp_files())
        with self.conn(user=addr) as r:
            self.works(r, "w-vanish")


if __name__ == "__main__":
    unittest.main()
