"""Integration tests of IMAP COPY, MOVE, their UID forms and UIDPLUS
(RFC 9051 6.4.7-6.4.9, RFC 6851, RFC 4315) against the real daemons and a
throwaway PostgreSQL (harness.py). Run by tests/integration/run-tests, or by
hand: PYTHONPATH=tests/integration top_builddir=BUILD python3 THIS_FILE"""
import os
import re
import time
import unittest

import harness
from harness import PASSWORD, make_message, fetch_by_uid, unique

SRV = None


def setUpModule():
    global SRV
    SRV = harness.Server(name="copymove", daemons=("imapd",)).start()


def tearDownModule():
    SRV.stop()


DATE1 = "01-Jan-2020 10:00:00 +0000"
DATE2 = "15-Feb-2021 08:30:00 +0100"


def uid_set(s):
    """Expand an RFC 4315 uid-set ("1:3,5") into a list of ints, in order."""
    out = []
    for part in s.split(","):
        if ":" in part:
            a, b = (int(x) for x in part.split(":"))
            out.extend(range(a, b + 1) if a <= b else range(a, b - 1, -1))
        else:
            out.append(int(part))
    return out


class CopyMoveTest(harness.TestCase):

    def account(self, n=0, flags=None):
        """A new account with n messages appended to INBOX (flags[i], dates
        alternating); returns (address, [message bytes])."""
        addr = "%s@example.org" % unique("cm")
        SRV.add_account(addr, PASSWORD)
        m = SRV.imap(addr, PASSWORD)
        msgs = []
        for i in range(n):
            msg, _ = make_message(subject="msg %d %s" % (i + 1, unique()))
            fl = flags[i] if flags else None
            typ, data = m.append("INBOX", fl, '"%s"' % (DATE1 if i % 2 == 0 else DATE2), msg)
            self.assertEqual(typ, "OK", data)
            msgs.append(msg)
        m.logout()
        return addr, msgs

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

    def login(self, addr):
        return SRV.imap(addr, PASSWORD)

    def uids(self, addr, mailbox):
        m = self.login(addr)
        m.select(mailbox)
        typ, data = m.uid("SEARCH", None, "ALL")
        m.logout()
        return [int(x) for x in data[0].split()]

    def uidvalidity(self, addr, mailbox):
        m = self.login(addr)
        typ, data = m.status(mailbox, "(UIDVALIDITY)")
        m.logout()
        return int(re.search(rb"UIDVALIDITY (\d+)", data[0]).group(1))

    def check_consistent(self, addr):
        """Mailbox counts and the account's disk usage agree with the rows,
        and STATUS reports them."""
        rows = SRV.psql(
            "select b.name, b.count_total, b.count_unseen, b.count_deleted, b.size,"
            " count(m.id), count(m.id) filter (where m.flags & 1 = 0),"
            " count(m.id) filter (where m.flags & 8 <> 0), coalesce(sum(m.size), 0)"
            " from mailboxes b join accounts a on a.id = b.account_id"
            " left join messages m on m.mailbox_id = b.id"
            " where a.name = :'a' group by b.id order by b.name", a=addr)
        m = self.login(addr)
        for f in rows:
            self.assertEqual(f[1:5], f[5:9], f)
            typ, data = m.status('"%s"' % f[0], "(MESSAGES UNSEEN SIZE)")
            self.assertEqual(typ, "OK", data)
            st = data[0].decode()
            self.assertIn("MESSAGES %s " % f[1], st)
            self.assertIn("UNSEEN %s " % f[2], st)
            self.assertIn("SIZE %s)" % f[4], st)
        m.logout()
        usage = SRV.psql(
            "select a.disk_usage = coalesce((select sum(size) from messages"
            " where account_id = a.id), 0) from accounts a where name = :'a'", a=addr)
        self.assertEqual(usage, [["t"]])

    # ---- COPY

    def test_capabilities(self):
        r = harness.Raw(SRV.imap_port)
        self.addCleanup(r.close)
        greet = r.line().decode()
        self.assertIn(" UIDPLUS", greet)
        self.assertIn(" MOVE", greet)
        addr, _ = self.account()
        r = self.raw(addr, select=None)
        u, _ = r.imap("c", "CAPABILITY")
        self.assertRegex(u[0], r" UIDPLUS[ \r]")
        self.assertRegex(u[0], r" MOVE[ \r]")

    def test_copy_keeps_everything(self):
        addr, msgs = self.account(3, flags=["(\\Flagged kw1)", "(\\Seen $Forwarded)", None])
        src_uids = self.uids(addr, "INBOX")
        self.assertEqual(src_uids, [1, 2, 3])
        r = self.raw(addr)
        u, t = r.imap("c1", "COPY 1:3 Archive")
        mo = re.match(r"c1 OK \[COPYUID (\d+) (\S+) (\S+)\] COPY completed$", t)
        self.assertTrue(mo, t)
        self.assertEqual(int(mo.group(1)), self.uidvalidity(addr, "Archive"))
        self.assertEqual(uid_set(mo.group(2)), [1, 2, 3])
        self.assertEqual(mo.group(3), "1:3")
        self.assertEqual(u, [])

        m = self.login(addr)
        m.select("INBOX", readonly=True)
        src = fetch_by_uid(m, "1:*", "(FLAGS INTERNALDATE BODY.PEEK[])")
        m.select("Archive", readonly=True)
        dst = fetch_by_uid(m, "1:*", "(FLAGS INTERNALDATE BODY.PEEK[])")
        m.logout()
        self.assertEqual(sorted(dst), [1, 2, 3])
        for s_uid, d_uid in zip([1, 2, 3], [1, 2, 3]):
            s, d = src[s_uid], dst[d_uid]
            self.assertEqual(sorted(s["FLAGS"]), sorted(d["FLAGS"]))
            self.assertEqual(s["INTERNALDATE"], d["INTERNALDATE"])
            self.assertEqual(s["BODY[]"], d["BODY[]"])
            self.assertEqual(d["BODY[]"], msgs[s_uid - 1])
        self.assertIn("kw1", [f.lower() for f in dst[1]["FLAGS"]])
        self.assertIn("\\Flagged", dst[1]["FLAGS"])
        self.assertIn("$Forwarded", dst[2]["FLAGS"])

        # Every column but the ones a copy gets anew is the original's; each
        # copy is its own row with its own hard link to the same file.
        fresh = "'{id,mailbox_id,uid,modseq,createseq,savedate,file_path}'::text[]"
        diff = SRV.psql(
            "select count(*), count(*) filter (where (to_jsonb(s) - %s) <> (to_jsonb(d) - %s))"
            " from messages s join messages d on d.message_hash = s.message_hash"
            " and d.account_id = s.account_id and d.id <> s.id"
            " where s.account_id = (select id from accounts where name = :'a')"
            % (fresh, fresh), a=addr)
        self.assertEqual(diff, [["6", "0"]])    # 3 pairs, both ways
        paths = SRV.psql(
            "select b.name, m.uid, m.file_path from messages m"
            " join mailboxes b on b.id = m.mailbox_id"
            " where m.account_id = (select id from accounts where name = :'a')"
            " order by 1, 2", a=addr)
        files = {}
        for name, uid, path in paths:
            files[(name, int(uid))] = path
        self.assertEqual(len(set(files.values())), 6)
        for uid in (1, 2, 3):
            a = os.stat(os.path.join(SRV.datadir, files[("Inbox", uid)]))
            b = os.stat(os.path.join(SRV.datadir, files[("Archive", uid)]))
            self.assertEqual((a.st_ino, a.st_dev), (b.st_ino, b.st_dev))
            self.assertGreaterEqual(a.st_nlink, 2)

        # UID COPY, and copies into the selected mailbox itself.
        u, t = r.imap("c2", "UID COPY 2:3 Archive")
        self.assertEqual(t, "c2 OK [COPYUID %d 2:3 4:5] UID COPY completed"
                         % self.uidvalidity(addr, "Archive"))
        u, t = r.imap("c3", "COPY 3,1 INBOX")
        self.assertEqual(t, "c3 OK [COPYUID %d 1,3 4:5] COPY completed"
                         % self.uidvalidity(addr, "INBOX"))
        self.assertEqual(u, ["* 5 EXISTS\r\n"])
        u, t = r.imap("f", "FETCH 4:5 (UID FLAGS)")
        self.assertEqual(len(u), 2, u)
        self.assertRegex(u[0], r"^\* 4 FETCH \(UID 4 FLAGS \(.*\\Flagged.*\)\)")
        r.imap("z", "LOGOUT")
        self.assertEqual(self.uids(addr, "Archive"), [1, 2, 3, 4, 5])
        self.check_consistent(addr)

    def test_copy_errors(self):
        addr, _ = self.account(2)
        r = self.raw(addr)
        _, t = r.imap("a", "COPY 1 Nonexistent")
        self.assertEqual(t, "a NO [TRYCREATE] Mailbox does not exist")
        _, t = r.imap("a2", "MOVE 1 Nonexistent")
        self.assertEqual(t, "a2 NO [TRYCREATE] Mailbox does not exist")
        for tag, cmd in (("b", "COPY 3 Archive"), ("c", "COPY x Archive"),
                         ("d", "COPY 0 Archive"), ("e", "COPY 1"), ("f", "MOVE 1:* "),
                         ("g", "COPY 1:2 Archive extra"), ("h", "MOVE 9 Archive")):
            _, t = r.imap(tag, cmd)
            self.assertTrue(t.startswith(tag + " BAD"), t)
        # Nothing matched: OK without COPYUID.
        u, t = r.imap("i", "UID COPY 50:60 Archive")
        self.assertTrue(t.startswith("i OK"), t)
        self.assertNotIn("COPYUID", t)
        u, t = r.imap("j", "UID MOVE 50 Archive")
        self.assertTrue(t.startswith("j OK"), t)
        self.assertEqual(u, [])
        self.assertEqual(self.uids(addr, "Archive"), [])

        # Over quota: refused as a whole.
        usage = SRV.psql("select disk_usage from accounts where name = :'a'", a=addr)
        SRV.psql("update accounts set quota_message_size = disk_usage + 10 where name = :'a'",
                 a=addr)
        _, t = r.imap("k", "COPY 1:2 Archive")
        self.assertEqual(t, "k NO [OVERQUOTA] Quota exceeded")
        self.assertEqual(self.uids(addr, "Archive"), [])
        self.assertEqual(
            SRV.psql("select disk_usage from accounts where name = :'a'", a=addr), usage)
        # A move does not add to the disk usage and is allowed.
        u, t = r.imap("l", "MOVE 1 Archive")
        self.assertTrue(t.startswith("l OK"), t)
        SRV.psql("update accounts set quota_message_size = 0 where name = :'a'", a=addr)
        _, t = r.imap("m", "COPY 1 Archive")
        self.assertTrue(t.startswith("m OK [COPYUID"), t)
        # No link left behind by the refused copy: every file under msg/
        # of this account's ids is referenced.
        r.imap("z", "LOGOUT")
        self.check_consistent(addr)

    # ---- MOVE

    def test_move(self):
        addr, msgs = self.account(5, flags=[None, "(\\Seen)", None, "(kw2)", None])
        r = self.raw(addr)
        uv = self.uidvalidity(addr, "Archive")
        u, t = r.imap("m", "MOVE 2,4 Archive")
        self.assertEqual(t, "m OK MOVE completed")
        self.assertEqual(u[0], "* OK [COPYUID %d 2,4 1:2] Moved\r\n" % uv)
        # Sequence numbers shift after each EXPUNGE: 2 then 3 (the old 4).
        self.assertEqual(u[1:], ["* 2 EXPUNGE\r\n", "* 3 EXPUNGE\r\n"])
        u, t = r.imap("f", "FETCH 1:* (UID)")
        self.assertEqual(u, ["* 1 FETCH (UID 1)\r\n", "* 2 FETCH (UID 3)\r\n",
                             "* 3 FETCH (UID 5)\r\n"])
        tomb = SRV.psql("select e.uid from expunged e join mailboxes b on b.id = e.mailbox_id"
                        " join accounts a on a.id = b.account_id"
                        " where a.name = :'a' and b.name = 'Inbox' order by 1", a=addr)
        self.assertEqual(tomb, [["2"], ["4"]])

        m = self.login(addr)
        m.select("Archive", readonly=True)
        got = fetch_by_uid(m, "1:*", "(FLAGS BODY.PEEK[])")
        m.logout()
        self.assertEqual(sorted(got), [1, 2])
        self.assertEqual(got[1]["BODY[]"], msgs[1])
        self.assertEqual(got[2]["BODY[]"], msgs[3])
        self.assertIn("\\Seen", got[1]["FLAGS"])
        self.assertIn("kw2", got[2]["FLAGS"])

        # UID MOVE of the last message.
        u, t = r.imap("n", "UID MOVE 5 Archive")
        self.assertEqual(t, "n OK UID MOVE completed")
        self.assertEqual(u, ["* OK [COPYUID %d 5 3] Moved\r\n" % uv, "* 3 EXPUNGE\r\n"])
        # Within the same mailbox: a new UID, the old one expunged.
        u, t = r.imap("o", "MOVE 1 INBOX")
        self.assertEqual(t, "o OK MOVE completed")
        self.assertEqual(u, ["* OK [COPYUID %d 1 6] Moved\r\n" % self.uidvalidity(addr, "INBOX"),
                             "* 1 EXPUNGE\r\n", "* 2 EXISTS\r\n"])
        u, t = r.imap("p", "FETCH 1:* (UID)")
        self.assertEqual(u, ["* 1 FETCH (UID 3)\r\n", "* 2 FETCH (UID 6)\r\n"])
        r.imap("z", "LOGOUT")
        self.assertEqual(self.uids(addr, "INBOX"), [3, 6])
        self.assertEqual(self.uids(addr, "Archive"), [1, 2, 3])
        # The moved messages' original files are gone, the copies' are there.
        paths = SRV.psql("select file_path from messages where account_id ="
                         " (select id from accounts where name = :'a')", a=addr)
        self.assertEqual(len(paths), 5)
        for (p,) in paths:
            self.assertEqual(os.stat(os.path.join(SRV.datadir, p)).st_nlink, 1)
        self.check_consistent(addr)

    def test_move_seen_by_idle_sessions(self):
        addr, _ = self.account(3)
        a = self.raw(addr, "INBOX")
        b = self.raw(addr, "Archive")
        a.send("i IDLE\r\n")
        self.assertEqual(a.line(), b"+ idling\r\n")
        b.send("j IDLE\r\n")
        self.assertEqual(b.line(), b"+ idling\r\n")
        c = self.raw(addr)
        start = time.monotonic()
        _, t = c.imap("m", "MOVE 2 Archive")
        self.assertEqual(t, "m OK MOVE completed")
        self.assertEqual(a.line(timeout=5), b"* 2 EXPUNGE\r\n")
        self.assertEqual(b.line(timeout=5), b"* 1 EXISTS\r\n")
        _, t = c.imap("c", "COPY 1 Archive")
        self.assertTrue(t.startswith("c OK [COPYUID"), t)
        self.assertEqual(b.line(timeout=5), b"* 2 EXISTS\r\n")
        self.assertLess(time.monotonic() - start, 4)
        for r, tag in ((a, "i"), (b, "j")):
            r.send("DONE\r\n")
            _, t = r.imap_until(tag)
            self.assertEqual(t, "%s OK IDLE terminated" % tag)
        # A session without IDLE learns at its next NOOP.
        d = self.raw(addr, "Archive")
        c.imap("n", "MOVE 1 Archive")
        u, _ = d.imap("x", "NOOP")
        self.assertEqual(u, ["* 3 EXISTS\r\n"])

    def test_move_read_only(self):
        addr, _ = self.account(1)
        r = self.raw(addr, select=None)
        r.imap("e", "EXAMINE INBOX")
        _, t = r.imap("m", "MOVE 1 Archive")
        self.assertEqual(t, "m NO [READ-ONLY] Mailbox is read-only")
        _, t = r.imap("c", "COPY 1 Archive")
        self.assertTrue(t.startswith("c OK [COPYUID"), t)

    # ---- Junk flags

    def test_junk_flags(self):
        addr, _ = self.account(4, flags=[None, "($NotJunk)", "($Junk)", None])
        r = self.raw(addr)
        _, t = r.imap("a", "MOVE 1 Junk")
        self.assertTrue(t.startswith("a OK"), t)
        _, t = r.imap("b", "COPY 1 Junk")      # the old 2, with $NotJunk
        self.assertTrue(t.startswith("b OK"), t)
        _, t = r.imap("c", "COPY 1 Archive")   # no junk mailbox involved: unchanged
        self.assertTrue(t.startswith("c OK"), t)
        m = self.login(addr)
        m.select("Junk", readonly=True)
        got = fetch_by_uid(m, "1:*", "(FLAGS)")
        self.assertEqual(sorted(got), [1, 2])
        for uid in (1, 2):
            self.assertIn("$Junk", got[uid]["FLAGS"])
            self.assertNotIn("$NotJunk", got[uid]["FLAGS"])
        m.select("Archive", readonly=True)
        got = fetch_by_uid(m, "1:*", "(FLAGS)")
        self.assertEqual(got[1]["FLAGS"], ["$NotJunk"])
        # The original of the COPY keeps its flags.
        m.select("INBOX", readonly=True)
        got = fetch_by_uid(m, "2", "(FLAGS)")
        self.assertEqual(got[2]["FLAGS"], ["$NotJunk"])
        m.logout()

        # Out of Junk: $NotJunk, except into Trash.
        _, t = r.imap("s", "SELECT Junk")
        self.assertTrue(t.startswith("s OK"), t)
        _, t = r.imap("d", "UID MOVE 1 INBOX")
        self.assertTrue(t.startswith("d OK"), t)
        _, t = r.imap("e", "UID MOVE 2 Trash")
        self.assertTrue(t.startswith("e OK"), t)
        r.imap("z", "LOGOUT")
        m = self.login(addr)
        m.select("INBOX", readonly=True)
        got = fetch_by_uid(m, "5", "(FLAGS)")
        self.assertIn("$NotJunk", got[5]["FLAGS"])
        self.assertNotIn("$Junk", got[5]["FLAGS"])
        m.select("Trash", readonly=True)
        got = fetch_by_uid(m, "1", "(FLAGS)")
        self.assertEqual(got[1]["FLAGS"], ["$Junk"])
        m.logout()
        self.check_consistent(addr)

    # ---- UID EXPUNGE (UIDPLUS)

    def test_uid_expunge(self):
        addr, _ = self.account(3, flags=["(\\Deleted)", "(\\Deleted)", "(\\Deleted)"])
        r = self.raw(addr)
        u, t = r.imap("a", "UID EXPUNGE 2")
        self.assertEqual(t, "a OK UID EXPUNGE completed")
        self.assertEqual(u, ["* 2 EXPUNGE\r\n"])
        u, t = r.imap("b", "UID EXPUNGE 2:*")   # only 3 is left in that range
        self.assertEqual(u, ["* 2 EXPUNGE\r\n"])
        u, t = r.imap("c", "FETCH 1:* (UID FLAGS)")
        self.assertEqual(u, ["* 1 FETCH (UID 1 FLAGS (\\Deleted))\r\n"])
        _, t = r.imap("d", "UID EXPUNGE")
        self.assertTrue(t.startswith("d BAD"), t)
        r.imap("z", "LOGOUT")
        self.check_consistent(addr)


if __name__ == "__main__":
    unittest.main()
