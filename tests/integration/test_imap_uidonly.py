"""Integration tests of IMAP UIDONLY (RFC 9586): after ENABLE UIDONLY the
server refuses sequence numbers, answers FETCH with UIDFETCH and reports
expunges with VANISHED. Run by tests/integration/run-tests, or by hand:
PYTHONPATH=tests/integration top_builddir=BUILD python3 THIS_FILE"""
import re
import unittest

import harness
from harness import PASSWORD, make_message, unique

SRV = None


def setUpModule():
    global SRV
    SRV = harness.Server(name="uidonly", daemons=("imapd",)).start()


def tearDownModule():
    SRV.stop()


class UIDOnlyTest(harness.TestCase):

    def setUp(self):
        """An account whose INBOX holds UIDs 2, 3 and 4 (1 expunged), so
        UIDs and sequence numbers differ."""
        self.addr = "%s@example.org" % unique("uo")
        SRV.add_account(self.addr, PASSWORD)
        m = SRV.imap(self.addr, PASSWORD)
        for i in range(4):
            msg, _ = make_message(subject="m%d" % i)
            m.append("INBOX", None, None, msg)
        m.select("INBOX")
        m.uid("STORE", "1", "+FLAGS", "(\\Deleted)")
        m.expunge()
        m.logout()

    def raw(self, enable=("UIDONLY",)):
        r = harness.Raw(SRV.imap_port)
        self.addCleanup(r.close)
        r.line()
        _, t = r.imap("L", "LOGIN %s %s" % (self.addr, PASSWORD))
        self.assertTrue(t.startswith("L OK"), t)
        if enable:
            u, t = r.imap("E", "ENABLE " + " ".join(enable))
            self.assertTrue(t.startswith("E OK"), t)
            self.assertIn("* ENABLED %s\r\n" % " ".join(enable), u)
        return r

    def test_capability(self):
        m = SRV.imap(self.addr, PASSWORD)
        typ, data = m.capability()
        self.assertIn(b"UIDONLY", data[0].split())
        m.logout()

    def test_sequence_numbers_refused(self):
        r = self.raw()
        _, t = r.imap("S", "SELECT INBOX")
        self.assertTrue(t.startswith("S OK"), t)
        for cmd in ("FETCH 1 (FLAGS)", "STORE 1 +FLAGS (\\Seen)", "SEARCH ALL",
                    "COPY 1 INBOX", "MOVE 1 INBOX"):
            _, t = r.imap("B", cmd)
            self.assertRegex(t, r"^B BAD \[UIDREQUIRED\] ", cmd)
        # A sequence set as a search key, in UID SEARCH too.
        _, t = r.imap("K", "UID SEARCH 1:2")
        self.assertRegex(t, r"^K BAD \[UIDREQUIRED\] ")
        u, t = r.imap("U", "UID SEARCH UID 3:*")
        self.assertTrue(t.startswith("U OK"), t)
        self.assertTrue(any(re.search(r"\b3:4\b|\b3,4\b|SEARCH 3 4", x) for x in u), u)
        # Nothing changed by the refused commands.
        u, t = r.imap("F", "UID FETCH 1:* (FLAGS)")
        self.assertEqual(u, ["* 2 UIDFETCH (FLAGS ())\r\n", "* 3 UIDFETCH (FLAGS ())\r\n",
                             "* 4 UIDFETCH (FLAGS ())\r\n"])

    def test_uidfetch_responses(self):
        r = self.raw()
        r.imap("S", "SELECT INBOX")
        u, t = r.imap("F", "UID FETCH 3 (UID RFC822.SIZE)")
        self.assertEqual(len(u), 1, u)
        self.assertRegex(u[0], r"^\* 3 UIDFETCH \(UID 3 RFC822\.SIZE \d+\)\r\n$")
        u, t = r.imap("T", "UID STORE 4 +FLAGS (\\Flagged)")
        self.assertEqual(u, ["* 4 UIDFETCH (FLAGS (\\Flagged))\r\n"])
        # Changes by another session come as UIDFETCH and VANISHED.
        o = SRV.imap(self.addr, PASSWORD)
        o.select("INBOX")
        o.uid("STORE", "2", "+FLAGS", "(\\Answered)")
        o.uid("STORE", "3", "+FLAGS", "(\\Deleted)")
        o.expunge()
        o.logout()
        u, t = r.imap("N", "NOOP")
        self.assertIn("* 2 UIDFETCH (FLAGS (\\Answered))\r\n", u)
        self.assertIn("* VANISHED 3\r\n", u)
        self.assertFalse(any("EXPUNGE" in x for x in u), u)
        # Our own EXPUNGE: VANISHED as well.
        r.imap("D", "UID STORE 2 +FLAGS.SILENT (\\Deleted)")
        u, t = r.imap("X", "EXPUNGE")
        self.assertEqual(u, ["* VANISHED 2\r\n"])
        self.assertTrue(t.startswith("X OK"), t)

    def test_qresync_sequence_match_data_refused(self):
        r = self.raw(enable=("QRESYNC", "UIDONLY"))
        _, t = r.imap("S", "SELECT INBOX (QRESYNC (1 1 2:4 (1:3 2:4)))")
        self.assertRegex(t, r"^S BAD \[UIDREQUIRED\] ")
        _, t = r.imap("Z", "NOOP")
        self.assertTrue(t.startswith("Z OK"), t)

    def test_without_enable_nothing_changes(self):
        r = self.raw(enable=())
        r.imap("S", "SELECT INBOX")
        u, t = r.imap("F", "FETCH 1 (UID)")
        self.assertEqual(u, ["* 1 FETCH (UID 2)\r\n"])


if __name__ == "__main__":
    unittest.main()
