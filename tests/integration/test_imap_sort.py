"""Integration tests of IMAP SORT and THREAD (RFC 5256) with DISPLAYFROM and
DISPLAYTO (RFC 5957) and their UID forms, against the real daemons and a
throwaway PostgreSQL (harness.py). Run by tests/integration/run-tests, or by
hand: PYTHONPATH=tests/integration top_builddir=BUILD python3 THIS_FILE"""
import re
import unittest

import harness
from harness import PASSWORD, unique

SRV = None


def setUpModule():
    global SRV
    SRV = harness.Server(name="sort", daemons=("imapd",)).start()


def tearDownModule():
    SRV.stop()


def message(subject=None, date=None, frm=None, to=None, cc=None, msgid=None,
            references=None, in_reply_to=None, body_len=40):
    """Message bytes with exactly the given header fields (None: absent)."""
    hdrs = []
    for name, value in (("From", frm), ("To", to), ("Cc", cc), ("Subject", subject),
                        ("Date", date), ("Message-ID", msgid),
                        ("References", references), ("In-Reply-To", in_reply_to)):
        if value is not None:
            hdrs.append("%s: %s\r\n" % (name, value))
    body = ("x" * (body_len - 2)) + "\r\n"
    return ("".join(hdrs) + "\r\n" + body).encode("utf-8")


def ints(data):
    """The numbers of a "* SORT" answer as imaplib returns it."""
    return [int(x) for x in data[0].split()] if data and data[0] else []


# Four messages whose every sort key gives a different order. The comments
# give the key each criterion sees (after base subject extraction, RFC 2047
# decoding, i;ascii-casemap and time zones).
SORT_MSGS = [
    # ARRIVAL 05-Jan; DATE 2025-03-01Z; SUBJECT BANANA; FROM DELTA;
    # DISPLAYFROM ZED; TO ALPHA; DISPLAYTO ALPHA@X.ORG; CC C3; size 2nd
    (dict(subject="Re: banana", date="Sat, 1 Mar 2025 12:00:00 +0000",
          frm="Zed <delta@x.org>", to="alpha@x.org", cc="c3@x.org", body_len=2000),
     "05-Jan-2024 10:00:00 +0000"),
    # ARRIVAL 01-Jan; no Date: DATE is the arrival, 2024-01-01; SUBJECT
    # APPLE; FROM BOB; DISPLAYFROM ANN; TO BRAVO; DISPLAYTO YVONNE; no CC
    (dict(subject="apple", frm="ann <bob@x.org>", to='"Yvonne" <bravo@x.org>',
          body_len=1000),
     "01-Jan-2024 10:00:00 +0000"),
    # ARRIVAL 03-Jan; DATE 2030-01-01 10:00Z; SUBJECT CHERRY; FROM CHARLIE;
    # DISPLAYFROM CHARLIE@X.ORG; TO CHARLIE; DISPLAYTO XAVIER; CC A1
    (dict(subject="[list] cherry (fwd)", date="1 Jan 2030 00:00 -1000",
          frm="Charlie@x.org", to="Xavier <charlie@x.org>", cc="a1@x.org", body_len=3000),
     "03-Jan-2024 10:00:00 +0000"),
    # ARRIVAL 02-Jan; DATE 2029-12-31 15:00Z (earlier than the previous
    # one only when zones count); SUBJECT APPLE (encoded Fwd:); FROM
    # ALPHA; DISPLAYFROM \xc3\x89MILE (sorts after ASCII); no TO; CC B2
    (dict(subject="=?utf-8?q?Fwd=3A_Apple?=", date="Tue, 1 Jan 2030 05:00:00 +1400",
          frm="=?utf-8?q?=C3=89mile?= <alpha@x.org>", cc="b2@x.org", body_len=500),
     "02-Jan-2024 10:00:00 +0000"),
]

SORT_EXPECT = {
    "ARRIVAL": [2, 4, 3, 1],
    "DATE": [2, 1, 4, 3],
    "SUBJECT": [2, 4, 1, 3],
    "FROM": [4, 2, 3, 1],
    "DISPLAYFROM": [2, 3, 1, 4],
    "TO": [4, 1, 2, 3],
    "DISPLAYTO": [4, 1, 3, 2],
    "CC": [2, 3, 4, 1],
    "SIZE": [4, 2, 1, 3],
}


class SortThreadTest(harness.TestCase):

    def account(self, msgs, offset=0):
        """A new account whose INBOX holds msgs ([(fields, internal date)]).
        With offset, that many messages are appended and expunged first,
        so UIDs are sequence numbers + offset. Returns the address."""
        addr = "%s@example.org" % unique("st")
        SRV.add_account(addr, PASSWORD)
        m = SRV.imap(addr, PASSWORD)
        for _ in range(offset):
            typ, data = m.append("INBOX", r"(\Deleted)", None, message(subject="gone"))
            self.assertEqual(typ, "OK", data)
        if offset:
            m.select("INBOX")
            m.expunge()
        for fields, date in msgs:
            typ, data = m.append("INBOX", None, '"%s"' % date if date else None,
                                 message(**fields))
            self.assertEqual(typ, "OK", data)
        m.logout()
        return addr

    def login(self, addr, select="INBOX"):
        m = SRV.imap(addr, PASSWORD)
        self.addCleanup(self.logout, m)
        if select:
            typ, data = m.select(select)
            self.assertEqual(typ, "OK", data)
        return m

    @staticmethod
    def logout(m):
        try:
            m.logout()
        except Exception:
            pass

    def raw(self, addr, select="INBOX"):
        r = harness.Raw(SRV.imap_port)
        self.addCleanup(r.close)
        r.line()
        _, t = r.imap("L", "LOGIN %s %s" % (addr, PASSWORD))
        self.assertTrue(t.startswith("L OK"), t)
        if select:
            _, t = r.imap("S", "SELECT %s" % select)
            self.assertTrue(t.startswith("S OK"), t)
        return r

    def sort(self, m, criteria, *search, charset="UTF-8"):
        typ, data = m.sort(criteria, charset, *(search or ("ALL",)))
        self.assertEqual(typ, "OK", data)
        return ints(data)

    # ---- capabilities

    def test_capabilities(self):
        addr = self.account([])
        m = self.login(addr, select=None)
        typ, data = m.capability()
        caps = data[0].decode().split()
        for cap in ("SORT", "SORT=DISPLAY", "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES"):
            self.assertIn(cap, caps)

    # ---- SORT

    def test_each_criterion(self):
        addr = self.account(SORT_MSGS)
        m = self.login(addr)
        # The sizes the SIZE order was designed with.
        typ, data = m.fetch("1:4", "(RFC822.SIZE)")
        sizes = [int(re.search(rb"RFC822.SIZE (\d+)", d).group(1)) for d in data]
        self.assertEqual(sorted(range(1, 5), key=lambda i: sizes[i - 1]), SORT_EXPECT["SIZE"])
        for crit, want in SORT_EXPECT.items():
            with self.subTest(criterion=crit):
                self.assertEqual(self.sort(m, "(%s)" % crit), want)
                # REVERSE reverses, except that ties stay in mailbox
                # order (SUBJECT: messages 2 and 4 are both APPLE).
                rev = [3, 1, 2, 4] if crit == "SUBJECT" else want[::-1]
                self.assertEqual(self.sort(m, "(REVERSE %s)" % crit), rev)
                # Criteria are case-insensitive.
                self.assertEqual(self.sort(m, "(%s)" % crit.lower()), want)

    def test_ties_and_several_criteria(self):
        addr = self.account(SORT_MSGS)
        m = self.login(addr)
        # Messages 2 and 4 have the same base subject: the next criterion
        # decides, and without one the sequence number does, even under
        # REVERSE (RFC 5256: ties go in mailbox order).
        self.assertEqual(self.sort(m, "(SUBJECT REVERSE DATE)"), [4, 2, 1, 3])
        self.assertEqual(self.sort(m, "(SUBJECT DATE)"), [2, 4, 1, 3])
        self.assertEqual(self.sort(m, "(REVERSE SUBJECT)"), [3, 1, 2, 4])
        self.assertEqual(self.sort(m, "(REVERSE SUBJECT REVERSE ARRIVAL)"), [3, 1, 4, 2])
        # A repeated key changes nothing: SIZE decides the tie.
        self.assertEqual(self.sort(m, "(SUBJECT REVERSE SUBJECT SIZE)"), [4, 2, 1, 3])
        # All equal: mailbox order.
        addr2 = self.account([(dict(subject="same", date="1 Jan 2020 00:00 +0000"), None)] * 3)
        m2 = self.login(addr2)
        self.assertEqual(self.sort(m2, "(REVERSE SUBJECT REVERSE DATE)"), [1, 2, 3])

    def test_search_program(self):
        addr = self.account(SORT_MSGS)
        m = self.login(addr)
        self.assertEqual(self.sort(m, "(ARRIVAL)", "NOT", "FROM", "bob"), [4, 3, 1])
        self.assertEqual(self.sort(m, "(ARRIVAL)", "2:3"), [2, 3])
        self.assertEqual(self.sort(m, "(DATE)", "OR", "FROM", "alpha", "TO", "bravo"), [2, 4])
        self.assertEqual(self.sort(m, "(SUBJECT)", "SUBJECT", "apple"), [2, 4])
        self.assertEqual(self.sort(m, "(SIZE)", "LARGER", "1500"), [1, 3])
        m.store("1,3", "+FLAGS", r"(\Flagged)")
        self.assertEqual(self.sort(m, "(REVERSE ARRIVAL)", "FLAGGED"), [1, 3])
        self.assertEqual(self.sort(m, "(ARRIVAL)", "UNFLAGGED", "SINCE", "02-Jan-2024"), [4])
        # US-ASCII in any case works too.
        self.assertEqual(self.sort(m, "(ARRIVAL)", "ALL", charset="us-ascii"), [2, 4, 3, 1])
        # Nothing matches: an empty SORT response.
        typ, data = m.sort("(DATE)", "UTF-8", "SUBJECT", "no-such-subject")
        self.assertEqual((typ, data), ("OK", [b""]))
        r = self.raw(addr)
        unt, t = r.imap("A", "SORT (DATE) UTF-8 SUBJECT no-such-subject")
        self.assertTrue(t.startswith("A OK"), t)
        self.assertEqual(unt, ["* SORT\r\n"])

    def test_uid_sort(self):
        addr = self.account(SORT_MSGS, offset=3)
        m = self.login(addr)
        typ, data = m.uid("SORT", "(ARRIVAL)", "UTF-8", "ALL")
        self.assertEqual(typ, "OK", data)
        self.assertEqual(ints(data), [5, 7, 6, 4])
        typ, data = m.uid("SORT", "(REVERSE DISPLAYTO)", "UTF-8", "UID", "5:7")
        self.assertEqual(ints(data), [5, 6, 7])
        # The sequence-number form on the same mailbox.
        self.assertEqual(self.sort(m, "(ARRIVAL)"), [2, 4, 3, 1])

    def test_imap4rev2_still_sort(self):
        addr = self.account(SORT_MSGS)
        r = self.raw(addr, select=None)
        _, t = r.imap("E", "ENABLE IMAP4rev2")
        self.assertTrue(t.startswith("E OK"), t)
        _, t = r.imap("S", "SELECT INBOX")
        self.assertTrue(t.startswith("S OK"), t)
        unt, t = r.imap("A", "SORT (ARRIVAL) UTF-8 ALL")
        self.assertTrue(t.startswith("A OK"), t)
        self.assertEqual(unt, ["* SORT 2 4 3 1\r\n"])
        unt, t = r.imap("B", "UID THREAD ORDEREDSUBJECT UTF-8 ALL")
        self.assertTrue(t.startswith("B OK"), t)
        self.assertEqual([u for u in unt if u.startswith("* THREAD")],
                         ["* THREAD (2 4)(1)(3)\r\n"])
        # SEARCH in the same session answers with ESEARCH.
        unt, t = r.imap("C", "SEARCH ALL")
        self.assertTrue(unt[0].startswith("* ESEARCH"), unt)

    def test_modseq_key(self):
        addr = self.account(SORT_MSGS)
        r = self.raw(addr)
        _, t = r.imap("F", "STORE 3 +FLAGS (\\Seen)")
        self.assertTrue(t.startswith("F OK"), t)
        unt, t = r.imap("A", "SORT (ARRIVAL) UTF-8 ALL")
        self.assertEqual(unt, ["* SORT 2 4 3 1\r\n"])
        # RFC 7162 3.1.5: with a MODSEQ key the answer ends with the
        # highest modseq of the messages found.
        unt, t = r.imap("B", "FETCH 1:4 (MODSEQ)")
        mods = {}
        for u in unt:
            f = re.match(r"\* (\d+) FETCH \(.*MODSEQ \((\d+)\)", u)
            if f:
                mods[int(f.group(1))] = int(f.group(2))
        self.assertEqual(sorted(mods), [1, 2, 3, 4], unt)
        self.assertEqual(max(mods.values()), mods[3])
        unt, t = r.imap("C", "SORT (REVERSE ARRIVAL) UTF-8 MODSEQ %d" % mods[3])
        self.assertTrue(t.startswith("C OK"), t)
        self.assertEqual(unt, ["* SORT 3 (MODSEQ %d)\r\n" % mods[3]])

    def test_sort_malformed(self):
        addr = self.account(SORT_MSGS)
        r = self.raw(addr)
        bad = [
            "SORT",                             # nothing
            "SORT (FOO) UTF-8 ALL",             # unknown criterion
            "SORT DATE UTF-8 ALL",              # criteria not a list
            "SORT () UTF-8 ALL",                # empty list
            "SORT (REVERSE) UTF-8 ALL",         # REVERSE without key
            "SORT (REVERSE REVERSE DATE) UTF-8 ALL",
            "SORT (DATE (SUBJECT)) UTF-8 ALL",  # nested list
            "SORT (DATE)",                      # no charset
            "SORT (DATE) UTF-8",                # no search keys
            "SORT (DATE) UTF-8 FOO",            # unknown search key
            "SORT (DATE) UTF-8 (ALL",           # unbalanced
            "SORT (DATE) (UTF-8) ALL",          # charset not a string
            "UID SORT (DATE) UTF-8 UID x",      # bad UID set
        ]
        for i, cmd in enumerate(bad):
            with self.subTest(cmd=cmd):
                tag = "B%d" % i
                unt, t = r.imap(tag, cmd)
                self.assertTrue(t.startswith(tag + " BAD"), t)
                self.assertFalse([u for u in unt if u.startswith("* SORT")], unt)
        for i, cs in enumerate(["ISO-8859-1", "UTF-16", '"KOI8-R"', "ALL"]):
            with self.subTest(charset=cs):
                tag = "N%d" % i
                unt, t = r.imap(tag, "SORT (DATE) %s ALL" % cs)
                self.assertTrue(t.startswith(tag + " NO [BADCHARSET (US-ASCII UTF-8)]"), t)
                self.assertFalse([u for u in unt if u.startswith("* SORT")], unt)
        # The session goes on.
        unt, t = r.imap("OK1", "SORT (ARRIVAL) utf-8 ALL")
        self.assertTrue(t.startswith("OK1 OK"), t)
        self.assertEqual(unt, ["* SORT 2 4 3 1\r\n"])

    def test_not_selected(self):
        addr = self.account(SORT_MSGS)
        r = self.raw(addr, select=None)
        for i, cmd in enumerate(["SORT (DATE) UTF-8 ALL", "THREAD REFERENCES UTF-8 ALL",
                                 "UID SORT (DATE) UTF-8 ALL"]):
            unt, t = r.imap("X%d" % i, cmd)
            self.assertTrue(t.startswith("X%d BAD" % i), t)
        r2 = harness.Raw(SRV.imap_port)
        self.addCleanup(r2.close)
        r2.line()
        unt, t = r2.imap("Y", "SORT (DATE) UTF-8 ALL")
        self.assertTrue(t.startswith("Y BAD"), t)

    # ---- THREAD

    # Dates in the Date fields: minutes after 10:00 on 1 Jan 2025.
    @staticmethod
    def d(minute):
        return "Wed, 1 Jan 2025 10:%02d:00 +0000" % minute

    def thread_msgs(self):
        d = self.d
        return [
            # 1: the start of a discussion
            dict(subject="Meeting", date=d(1), msgid="<m1@x>"),
            dict(subject="Re: Meeting", date=d(2), msgid="<m2@x>", references="<m1@x>"),
            # 3: In-Reply-To only
            dict(subject="Re: Meeting", date=d(3), msgid="<m3@x>", in_reply_to="<m1@x>"),
            dict(subject="Re: Meeting", date=d(4), msgid="<m4@x>",
                 references="<m1@x>\r\n <m2@x>"),
            # 5, 6: replies to a message not in the mailbox: a dummy parent
            dict(subject="Re: lost thread", date=d(5), msgid="<m5@x>", references="<gone@x>"),
            dict(subject="Re: lost thread", date=d(6), msgid="<m6@x>", references="<gone@x>"),
            dict(subject="Party", date=d(7), msgid="<m7@x>"),
            # 8: a reply without references, gathered by subject
            dict(subject="RE: [fwd: party]", date=d(8), msgid="<m8@x>"),
            # 9: its parent is missing between it and message 1
            dict(subject="Re: Meeting", date=d(9), msgid="<m9@x>",
                 references="<m1@x> <missing@x>"),
            # 10: the oldest, appended last
            dict(subject="unrelated", date=d(0), msgid="<m10@x>"),
        ]

    def thread(self, m, alg, *search, uid=False):
        if uid:
            typ, data = m.uid("THREAD", alg, "UTF-8", *(search or ("ALL",)))
        else:
            typ, data = m.thread(alg, "UTF-8", *(search or ("ALL",)))
        self.assertEqual(typ, "OK", data)
        return (data[0] or b"").decode()

    def test_thread_references(self):
        addr = self.account([(f, None) for f in self.thread_msgs()])
        m = self.login(addr)
        self.assertEqual(self.thread(m, "REFERENCES"),
                         "(10)(1 (2 4)(3)(9))((5)(6))(7 8)")
        # Threading only what the search program found: without message
        # 1 its replies hang below a dummy.
        self.assertEqual(self.thread(m, "REFERENCES", "NOT", "SUBJECT", "party", "2:10"),
                         "(10)((2 4)(3)(9))((5)(6))")
        self.assertEqual(self.thread(m, "references", "SUBJECT", "lost"), "((5)(6))")
        self.assertEqual(self.thread(m, "REFERENCES", "5"), "(5)")
        typ, data = m.thread("REFERENCES", "UTF-8", "SUBJECT", "no-such-subject")
        self.assertEqual((typ, data), ("OK", [b""]))
        r = self.raw(addr)
        unt, t = r.imap("A", "THREAD ORDEREDSUBJECT UTF-8 SUBJECT no-such-subject")
        self.assertTrue(t.startswith("A OK"), t)
        self.assertEqual(unt, ["* THREAD\r\n"])

    def test_thread_orderedsubject(self):
        addr = self.account([(f, None) for f in self.thread_msgs()])
        m = self.login(addr)
        self.assertEqual(self.thread(m, "ORDEREDSUBJECT"),
                         "(10)(1 (2)(3)(4)(9))(5 6)(7 8)")
        self.assertEqual(self.thread(m, "ORDEREDSUBJECT", "SUBJECT", "meeting", "NOT", "1"),
                         "(2 (3)(4)(9))")

    def test_uid_thread(self):
        addr = self.account([(f, None) for f in self.thread_msgs()], offset=2)
        m = self.login(addr)
        self.assertEqual(self.thread(m, "REFERENCES", uid=True),
                         "(12)(3 (4 6)(5)(11))((7)(8))(9 10)")
        self.assertEqual(self.thread(m, "ORDEREDSUBJECT", "UID", "3:5", uid=True),
                         "(3 (4)(5))")
        self.assertEqual(self.thread(m, "REFERENCES"), "(10)(1 (2 4)(3)(9))((5)(6))(7 8)")

    def test_thread_sent_date_and_zones(self):
        """Siblings sort by sent date in UTC, an unusable Date falls back to
        the arrival time, and equal dates keep mailbox order."""
        msgs = [
            (dict(subject="root", date=self.d(0), msgid="<r@x>"), None),
            # 10:30 +0200 is 08:30 UTC: the earliest reply
            (dict(subject="Re: root", date="Wed, 1 Jan 2025 10:30:00 +0200",
                  msgid="<a@x>", references="<r@x>"), None),
            # no usable Date: arrival 1 Jan 2025 09:00 UTC
            (dict(subject="Re: root", date="someday", msgid="<b@x>", references="<r@x>"),
             "01-Jan-2025 09:00:00 +0000"),
            (dict(subject="Re: root", date=self.d(20), msgid="<c@x>", references="<r@x>"), None),
            (dict(subject="Re: root", date=self.d(20), msgid="<e@x>", references="<r@x>"), None),
        ]
        addr = self.account(msgs)
        m = self.login(addr)
        self.assertEqual(self.thread(m, "REFERENCES"), "(1 (2)(3)(4)(5))")
        self.assertEqual(self.sort(m, "(DATE)"), [2, 3, 1, 4, 5])
        # One base subject: the earliest message is the parent.
        self.assertEqual(self.thread(m, "ORDEREDSUBJECT"), "(2 (3)(1)(4)(5))")

    def test_thread_malformed(self):
        addr = self.account([(f, None) for f in self.thread_msgs()])
        r = self.raw(addr)
        bad = [
            "THREAD",
            "THREAD FOO UTF-8 ALL",            # unknown algorithm
            "THREAD REFS UTF-8 ALL",
            "THREAD (REFERENCES) UTF-8 ALL",
            "THREAD REFERENCES UTF-8 ()",      # empty search key list
            "THREAD REFERENCES",               # no charset
            "THREAD REFERENCES UTF-8",         # no search keys
            "THREAD ORDEREDSUBJECT UTF-8 NOTAKEY",
            "UID THREAD REFERENCES UTF-8 UID 1:x",
        ]
        for i, cmd in enumerate(bad):
            with self.subTest(cmd=cmd):
                tag = "B%d" % i
                unt, t = r.imap(tag, cmd)
                self.assertTrue(t.startswith(tag + " BAD"), t)
                self.assertFalse([u for u in unt if u.startswith("* THREAD")], unt)
        unt, t = r.imap("N1", "THREAD REFERENCES WINDOWS-1252 ALL")
        self.assertTrue(t.startswith("N1 NO [BADCHARSET (US-ASCII UTF-8)]"), t)
        unt, t = r.imap("OK1", "THREAD REFERENCES US-ASCII ALL")
        self.assertTrue(t.startswith("OK1 OK"), t)
        self.assertIn("* THREAD (10)(1 (2 4)(3)(9))((5)(6))(7 8)\r\n", unt)

    def test_expunged_messages_left_out(self):
        """Messages expunged by another session stay in the view until
        reported; SORT, like SEARCH, no longer finds them."""
        addr = self.account(SORT_MSGS)
        m = self.login(addr)
        other = self.login(addr)
        other.store("3", "+FLAGS", r"(\Deleted)")
        other.expunge()
        # SORT may not send EXPUNGE (RFC 9051 7.5.1): the numbers are
        # those of the old view, without message 3.
        r = self.raw(addr)
        unt, t = r.imap("A", "SORT (ARRIVAL) UTF-8 ALL")
        self.assertEqual(unt, ["* SORT 2 3 1\r\n"])
        typ, data = m.sort("(ARRIVAL)", "UTF-8", "ALL")
        self.assertEqual(typ, "OK")
        self.assertEqual(ints(data), [2, 4, 1])


if __name__ == "__main__":
    unittest.main()
