"""Integration tests of IMAP CONDSTORE and QRESYNC (RFC 7162) against the
real daemons and a throwaway PostgreSQL (harness.py). Run by
tests/integration/run-tests, or by hand:
PYTHONPATH=tests/integration top_builddir=BUILD python3 THIS_FILE"""
import re
import unittest

import harness
from harness import PASSWORD, make_message, unique

SRV = None


def setUpModule():
    global SRV
    SRV = harness.Server(name="condstore", daemons=("imapd",)).start()


def tearDownModule():
    SRV.stop()


def uid_set(s):
    """Expand "1:3,5" into a sorted list of ints."""
    out = []
    for part in s.split(","):
        if ":" in part:
            a, b = sorted(int(x) for x in part.split(":"))
            out.extend(range(a, b + 1))
        else:
            out.append(int(part))
    return sorted(out)


def code(lines, name):
    """The value of response code [name value] in the first line with it."""
    for ln in lines:
        m = re.search(r"\[%s ([^\]]*)\]" % name, ln)
        if m:
            return m.group(1)
    return None


def fetch_modseqs(lines):
    """{uid: modseq} from untagged FETCH lines that carry UID and MODSEQ."""
    out = {}
    for ln in lines:
        u = re.search(r"UID (\d+)", ln)
        m = re.search(r"MODSEQ \((\d+)\)", ln)
        if ln.startswith("* ") and " FETCH " in ln and u and m:
            out[int(u.group(1))] = int(m.group(1))
    return out


class CondstoreTest(harness.TestCase):

    def account(self, n=0):
        addr = "%s@example.org" % unique("cs")
        SRV.add_account(addr, PASSWORD)
        m = SRV.imap(addr, PASSWORD)
        for i in range(n):
            msg, _ = make_message(subject="msg %d %s" % (i + 1, unique()))
            typ, data = m.append("INBOX", None, None, msg)
            self.assertEqual(typ, "OK", data)
        m.logout()
        return addr

    def append(self, addr, mailbox="INBOX"):
        m = SRV.imap(addr, PASSWORD)
        typ, data = m.append(mailbox, None, None, make_message(subject=unique())[0])
        self.assertEqual(typ, "OK", data)
        m.logout()

    def raw(self, addr, enable=None):
        r = harness.Raw(SRV.imap_port)
        self.addCleanup(r.close)
        r.line()
        _, t = r.imap("L", "LOGIN %s %s" % (addr, PASSWORD))
        self.assertTrue(t.startswith("L OK"), t)
        if enable:
            u, t = r.imap("E", "ENABLE " + enable)
            self.assertTrue(t.startswith("E OK"), t)
        return r

    def ok(self, r, tag, cmd):
        u, t = r.imap(tag, cmd)
        self.assertTrue(t.startswith(tag + " OK"), (cmd, u, t))
        return u, t

    def select(self, r, cmd="SELECT INBOX"):
        u, t = self.ok(r, "S", cmd)
        hms = code(u, "HIGHESTMODSEQ")
        self.assertIsNotNone(hms, u)
        return u, int(hms)

    def uids(self, r):
        u, _ = self.ok(r, "US", "UID SEARCH ALL")
        line = [x for x in u if x.startswith("* SEARCH")][0]
        return [int(x) for x in line.split()[2:]]

    # ---- CONDSTORE

    def test_capability_and_enable(self):
        addr = self.account()
        r = self.raw(addr)
        u, _ = self.ok(r, "C", "CAPABILITY")
        caps = u[0].split()
        self.assertIn("CONDSTORE", caps)
        self.assertIn("QRESYNC", caps)
        u, _ = self.ok(r, "E1", "ENABLE CONDSTORE")
        self.assertEqual(u, ["* ENABLED CONDSTORE\r\n"])
        u, _ = self.ok(r, "E2", "ENABLE CONDSTORE")
        self.assertEqual(u, ["* ENABLED\r\n"])
        # QRESYNC implies CONDSTORE, which was on already: only QRESYNC
        u, _ = self.ok(r, "E3", "ENABLE QRESYNC CONDSTORE")
        self.assertEqual(u, ["* ENABLED QRESYNC\r\n"])
        r2 = self.raw(addr)
        u, _ = self.ok(r2, "E4", "ENABLE QRESYNC")
        self.assertEqual(u, ["* ENABLED QRESYNC\r\n"])

    def test_highestmodseq_rises(self):
        addr = self.account(2)
        r = self.raw(addr)
        _, h1 = self.select(r)
        self.ok(r, "U", "UNSELECT")
        self.append(addr)
        _, h2 = self.select(r)
        self.assertGreater(h2, h1)
        self.ok(r, "F", "STORE 1 +FLAGS (\\Flagged)")
        self.ok(r, "U2", "UNSELECT")
        _, h3 = self.select(r, "EXAMINE INBOX")
        self.assertGreater(h3, h2)
        # a change elsewhere in the account leaves this mailbox's value
        self.ok(r, "CR", "CREATE Other")
        self.append(addr, "Other")
        _, h4 = self.select(r, "EXAMINE INBOX")
        self.assertEqual(h4, h3)

    def test_status_highestmodseq(self):
        addr = self.account(1)
        r = self.raw(addr)
        u, _ = self.ok(r, "T", "STATUS INBOX (MESSAGES HIGHESTMODSEQ)")
        m = re.search(r"HIGHESTMODSEQ (\d+)", u[0])
        self.assertTrue(m, u)
        h1 = int(m.group(1))
        self.append(addr)
        u, _ = self.ok(r, "T2", "STATUS INBOX (HIGHESTMODSEQ)")
        h2 = int(re.search(r"HIGHESTMODSEQ (\d+)", u[0]).group(1))
        self.assertGreater(h2, h1)
        _, h3 = self.select(r)
        self.assertEqual(h3, h2)

    def test_fetch_modseq_and_changedsince(self):
        addr = self.account(3)
        r = self.raw(addr)
        _, hms = self.select(r)
        u, _ = self.ok(r, "F", "UID FETCH 1:* (MODSEQ)")
        mods = fetch_modseqs(u)
        self.assertEqual(len(mods), 3, u)
        self.assertEqual(max(mods.values()), hms)
        uids = sorted(mods)
        # change the second message from another session
        m = SRV.imap(addr, PASSWORD)
        m.select("INBOX")
        m.uid("STORE", str(uids[1]), "+FLAGS", "(\\Seen)")
        m.logout()
        u, _ = self.ok(r, "F2", "UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % hms)
        # the change also comes as an unsolicited FETCH; only that message
        fetches = [x for x in u if " FETCH " in x]
        self.assertEqual(set(fetch_modseqs(fetches)), {uids[1]}, u)
        self.assertIn("UID %d " % uids[1], fetches[0])
        self.assertIn("\\Seen", fetches[0])
        self.assertGreater(fetch_modseqs(fetches)[uids[1]], hms)
        # CHANGEDSINCE with the newest value returns nothing. (The other
        # session's change may still be reported unsolicited here, if its
        # notification arrived after F2: that FETCH carries the same
        # modseq and is allowed at any time.)
        newest = fetch_modseqs(fetches)[uids[1]]
        u, _ = self.ok(r, "F3", "FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % newest)
        late = fetch_modseqs([x for x in u if " FETCH " in x])
        self.assertEqual({k: v for k, v in late.items() if not (k == uids[1] and v == newest)},
                         {}, u)

    def test_flag_change_by_other_carries_modseq(self):
        addr = self.account(1)
        r = self.raw(addr, enable="CONDSTORE")
        _, hms = self.select(r)
        m = SRV.imap(addr, PASSWORD)
        m.select("INBOX")
        m.store("1", "+FLAGS", "(\\Answered)")
        m.logout()
        u, _ = self.ok(r, "N", "NOOP")
        self.assertEqual(len(u), 1, u)
        self.assertRegex(u[0], r"^\* 1 FETCH \(UID \d+ FLAGS \(\\Answered\) MODSEQ \((\d+)\)\)")
        self.assertGreater(int(re.search(r"MODSEQ \((\d+)\)", u[0]).group(1)), hms)

    def test_store_unchangedsince(self):
        addr = self.account(3)
        r = self.raw(addr)
        _, hms = self.select(r)
        # message 2 changes after the client's modseq
        m = SRV.imap(addr, PASSWORD)
        m.select("INBOX")
        m.store("2", "+FLAGS", "(\\Flagged)")
        m.logout()
        u, t = self.ok(r, "ST", "STORE 1:3 (UNCHANGEDSINCE %d) +FLAGS (\\Seen)" % hms)
        self.assertIn("[MODIFIED 2]", t)
        fetches = [x for x in u if " FETCH " in x and "\\Seen" in x]
        self.assertEqual(sorted(int(x.split()[1]) for x in fetches), [1, 3], u)
        for x in fetches:
            self.assertRegex(x, r"MODSEQ \(\d+\)")
        u, _ = self.ok(r, "F", "FETCH 2 (FLAGS)")
        flags = [x for x in u if x.startswith("* 2 FETCH")][0]
        self.assertNotIn("\\Seen", flags)
        self.assertIn("\\Flagged", flags)
        # UID STORE reports UIDs; .SILENT still gets MODSEQ for the changed
        uids = self.uids(r)
        u, _ = self.ok(r, "F1", "UID FETCH %d (MODSEQ)" % uids[0])
        mod1 = fetch_modseqs(u)[uids[0]]
        m = SRV.imap(addr, PASSWORD)
        m.select("INBOX")
        m.store("2", "+FLAGS", "(\\Answered)")
        m.logout()
        self.ok(r, "N", "NOOP")
        u, t = self.ok(r, "ST2", "UID STORE %d,%d (UNCHANGEDSINCE %d) +FLAGS.SILENT (\\Draft)"
                       % (uids[0], uids[1], mod1))
        self.assertIn("[MODIFIED %d]" % uids[1], t)
        self.assertEqual(len(u), 1, u)
        self.assertRegex(u[0], r"^\* 1 FETCH \(UID %d MODSEQ \(\d+\)\)" % uids[0])
        # UNCHANGEDSINCE 0 always fails
        u, t = self.ok(r, "ST3", "STORE 3 (UNCHANGEDSINCE 0) -FLAGS (\\Seen)")
        self.assertIn("[MODIFIED 3]", t)
        u, t = r.imap("ST4", "STORE 1 (UNCHANGEDSINCE x) +FLAGS (\\Seen)")
        self.assertTrue(t.startswith("ST4 BAD"), t)

    def test_search_modseq(self):
        addr = self.account(4)
        r = self.raw(addr)
        _, hms = self.select(r)
        self.ok(r, "ST", "STORE 2,4 +FLAGS (\\Flagged)")
        u, _ = self.ok(r, "SE", "SEARCH MODSEQ %d" % (hms + 1))
        line = [x for x in u if x.startswith("* SEARCH")][0]
        m = re.match(r"^\* SEARCH 2 4 \(MODSEQ (\d+)\)\r\n$", line)
        self.assertTrue(m, line)
        self.assertGreater(int(m.group(1)), hms)
        # entry name and type are accepted
        u, _ = self.ok(r, "SE2", 'SEARCH MODSEQ "/flags/\\\\flagged" all %d' % (hms + 1))
        self.assertTrue(any(x.startswith("* SEARCH 2 4 (MODSEQ") for x in u), u)
        u, _ = self.ok(r, "SE3", "UID SEARCH RETURN (COUNT) MODSEQ %d" % (hms + 1))
        self.assertRegex(u[0], r"^\* ESEARCH \(TAG \"SE3\"\) UID COUNT 2 MODSEQ \d+")
        u, _ = self.ok(r, "SE4", "SEARCH MODSEQ 999999999")
        self.assertEqual(u, ["* SEARCH\r\n"])

    def test_implicit_enable_sends_highestmodseq(self):
        addr = self.account(1)
        r = self.raw(addr)
        self.ok(r, "S", "SELECT INBOX")
        u, _ = self.ok(r, "F", "FETCH 1 (MODSEQ)")
        self.assertRegex(u[0], r"^\* OK \[HIGHESTMODSEQ \d+\]")
        self.assertRegex(u[1], r"^\* 1 FETCH \(MODSEQ \(\d+\)\)")

    def test_expunge_highestmodseq(self):
        addr = self.account(2)
        r = self.raw(addr, enable="CONDSTORE")
        _, hms = self.select(r)
        self.ok(r, "D", "STORE 1 +FLAGS.SILENT (\\Deleted)")
        u, t = self.ok(r, "X", "EXPUNGE")
        self.assertIn("* 1 EXPUNGE\r\n", u)
        self.assertGreater(int(code([t], "HIGHESTMODSEQ")), hms)

    # ---- QRESYNC

    def test_qresync_select(self):
        addr = self.account(5)
        r = self.raw(addr, enable="QRESYNC")
        u, hms = self.select(r)
        uids = self.uids(r)
        uidvalidity = int(code(u, "UIDVALIDITY"))
        self.ok(r, "U", "UNSELECT")
        # another session: flag one, expunge two, one new message
        m = SRV.imap(addr, PASSWORD)
        m.select("INBOX")
        m.uid("STORE", str(uids[0]), "+FLAGS", "(\\Seen)")
        m.uid("STORE", "%d,%d" % (uids[1], uids[3]), "+FLAGS", "(\\Deleted)")
        m.expunge()
        m.logout()
        self.append(addr)
        u, _ = self.select(r, "SELECT INBOX (QRESYNC (%d %d))" % (uidvalidity, hms))
        vanished = [x for x in u if x.startswith("* VANISHED")]
        self.assertEqual(vanished, ["* VANISHED (EARLIER) %d,%d\r\n" % (uids[1], uids[3])])
        fetches = [x for x in u if " FETCH " in x]
        changed = fetch_modseqs(fetches)
        # the flagged one and the new one; nothing for the untouched
        self.assertIn(uids[0], changed)
        self.assertTrue(all(v > hms for v in changed.values()), fetches)
        self.assertNotIn(uids[2], changed)
        self.assertNotIn(uids[4], changed)
        self.assertEqual(len(changed), 2, fetches)
        self.assertTrue(any("\\Seen" in x for x in fetches if "UID %d " % uids[0] in x))
        self.assertIn("* 4 EXISTS\r\n", u)
        # known-uids restrict VANISHED
        self.ok(r, "U2", "UNSELECT")
        u, _ = self.select(r, "EXAMINE INBOX (QRESYNC (%d %d %d:%d))"
                           % (uidvalidity, hms, uids[2], uids[4]))
        self.assertEqual([x for x in u if x.startswith("* VANISHED")],
                         ["* VANISHED (EARLIER) %d\r\n" % uids[3]])
        # wrong UIDVALIDITY: no resync data at all
        self.ok(r, "U3", "UNSELECT")
        u, _ = self.select(r, "SELECT INBOX (QRESYNC (%d %d))" % (uidvalidity + 1, hms))
        self.assertEqual([x for x in u if "VANISHED" in x or " FETCH " in x], [])
        # up to date: nothing but the usual responses
        _, now = self.select(r, "SELECT INBOX")
        u, _ = self.select(r, "SELECT INBOX (QRESYNC (%d %d))" % (uidvalidity, now))
        self.assertEqual([x for x in u if "VANISHED" in x or " FETCH " in x], [])

    def test_qresync_requires_enable(self):
        addr = self.account(1)
        r = self.raw(addr)
        u, t = r.imap("S", "SELECT INBOX (QRESYNC (1 1))")
        self.assertTrue(t.startswith("S BAD"), t)
        u, t = r.imap("S2", "SELECT INBOX (CONDSTORE)")
        self.assertTrue(t.startswith("S2 OK"), t)
        self.assertTrue(code(u, "HIGHESTMODSEQ"), u)
        u, t = r.imap("F", "UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")
        self.assertTrue(t.startswith("F BAD"), t)

    def test_uid_fetch_vanished(self):
        addr = self.account(4)
        r = self.raw(addr, enable="QRESYNC")
        _, hms = self.select(r)
        uids = self.uids(r)
        m = SRV.imap(addr, PASSWORD)
        m.select("INBOX")
        m.uid("STORE", str(uids[2]), "+FLAGS", "(\\Deleted)")
        m.expunge()
        m.uid("STORE", str(uids[3]), "+FLAGS", "(\\Flagged)")
        m.logout()
        # a fresh session that knows the old state
        r2 = self.raw(addr, enable="QRESYNC")
        self.select(r2)
        u, _ = self.ok(r2, "F", "UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % hms)
        self.assertEqual(u[0], "* VANISHED (EARLIER) %d\r\n" % uids[2])
        self.assertEqual(sorted(fetch_modseqs(u[1:])), [uids[3]], u)
        # outside the requested UID set: not reported
        u, _ = self.ok(r2, "F2", "UID FETCH %d (FLAGS) (CHANGEDSINCE %d VANISHED)"
                       % (uids[0], hms))
        self.assertEqual(u, [])

    def test_vanished_instead_of_expunge(self):
        addr = self.account(4)
        r = self.raw(addr, enable="QRESYNC")
        self.select(r)
        uids = self.uids(r)
        self.ok(r, "D", "STORE 1,2 +FLAGS.SILENT (\\Deleted)")
        u, t = self.ok(r, "X", "EXPUNGE")
        self.assertEqual(u, ["* VANISHED %d:%d\r\n" % (uids[0], uids[1])])
        self.assertTrue(code([t], "HIGHESTMODSEQ"), t)
        # MOVE
        self.ok(r, "C", "CREATE Dest")
        u, _ = self.ok(r, "M", "MOVE 1 Dest")
        self.assertIn("* VANISHED %d\r\n" % uids[2], u)
        self.assertFalse(any("EXPUNGE" in x for x in u), u)
        # another session's expunge, seen in IDLE
        r.send("I IDLE\r\n")
        self.assertEqual(r.line(), b"+ idling\r\n")
        m = SRV.imap(addr, PASSWORD)
        m.select("INBOX")
        m.store("1", "+FLAGS", "(\\Deleted)")
        self.assertRegex(r.line(timeout=5).decode(),
                         r"^\* 1 FETCH \(UID %d FLAGS \(\\Deleted\) MODSEQ \(\d+\)\)" % uids[3])
        m.expunge()
        m.logout()
        self.assertEqual(r.line(timeout=5), ("* VANISHED %d\r\n" % uids[3]).encode())
        r.send("DONE\r\n")
        _, t = r.imap_until("I")
        self.assertTrue(t.startswith("I OK"), t)
        # UID EXPUNGE after a delivery
        self.append(addr)
        u, _ = self.ok(r, "N", "NOOP")
        self.assertEqual(u, ["* 1 EXISTS\r\n"])
        new = self.uids(r)[0]
        self.ok(r, "D2", "UID STORE %d +FLAGS.SILENT (\\Deleted)" % new)
        u, _ = self.ok(r, "X2", "UID EXPUNGE %d" % new)
        self.assertEqual(u, ["* VANISHED %d\r\n" % new])

    def test_full_resync_after_tombstone_cleanup(self):
        addr = self.account(6)
        r = self.raw(addr, enable="QRESYNC")
        u, hms = self.select(r)
        uids = self.uids(r)
        uidvalidity = int(code(u, "UIDVALIDITY"))
        self.ok(r, "U", "UNSELECT")
        m = SRV.imap(addr, PASSWORD)
        m.select("INBOX")
        m.uid("STORE", "%d,%d,%d" % (uids[1], uids[2], uids[4]), "+FLAGS", "(\\Deleted)")
        m.expunge()
        m.logout()
        # cleanup removed the tombstones, past the client's modseq
        SRV.psql("DELETE FROM expunged WHERE account_id ="
                 " (SELECT id FROM accounts WHERE name = :'a');"
                 " INSERT INTO sync_state (account_id, highest_deleted_modseq)"
                 " SELECT id, modseq FROM accounts WHERE name = :'a'"
                 " ON CONFLICT (account_id) DO UPDATE"
                 " SET highest_deleted_modseq = EXCLUDED.highest_deleted_modseq", a=addr)
        u, h2 = self.select(r, "SELECT INBOX (QRESYNC (%d %d %d:%d))"
                            % (uidvalidity, hms, uids[0], uids[5]))
        self.assertGreaterEqual(h2, hms)
        vanished = [x for x in u if x.startswith("* VANISHED")]
        self.assertEqual(len(vanished), 1, u)
        self.assertTrue(vanished[0].startswith("* VANISHED (EARLIER) "), vanished)
        self.assertEqual(uid_set(vanished[0].split()[3]), [uids[1], uids[2], uids[4]])
        # without known-uids: every missing UID below UIDNEXT
        self.ok(r, "U2", "UNSELECT")
        u, _ = self.select(r, "SELECT INBOX (QRESYNC (%d %d))" % (uidvalidity, hms))
        vanished = [x for x in u if x.startswith("* VANISHED")]
        got = uid_set(vanished[0].split()[3])
        self.assertEqual([x for x in got if x >= uids[0]], [uids[1], uids[2], uids[4]])


if __name__ == "__main__":
    unittest.main()
