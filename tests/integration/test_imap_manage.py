"""IMAP mailbox management with python imaplib: CREATE (parents,
CREATE-SPECIAL-USE), DELETE (with messages, children, INBOX), RENAME (with
children, new UIDVALIDITY, INBOX moving its messages), SUBSCRIBE and
UNSUBSCRIBE; what LIST/LSUB/STATUS and the database show afterwards."""

import re

import harness
from harness import make_message, unique

srv = None
PW = "manage-password-1"


def setUpModule():
    global srv
    srv = harness.Server("imapmanage").start()


def tearDownModule():
    if srv:
        srv.stop()


def account():
    addr = "%s@example.org" % unique("mb")
    srv.add_account(addr, PW)
    return addr


def names(m, pattern="*"):
    typ, data = m.list('""', pattern)
    assert typ == "OK", data
    out = {}
    for line in data:
        if not line:
            continue
        line = line.decode()
        mm = re.match(r'^\((.*?)\) (?:"/"|NIL) (.*)$', line)
        assert mm, line
        out[mm.group(2).strip('"')] = mm.group(1).split()
    return out


def status(m, mailbox, items="(MESSAGES UIDVALIDITY UIDNEXT)"):
    typ, data = m.status(mailbox, items)
    if typ != "OK":
        return typ, data
    vals = re.findall(r"(\w+) (\d+)", data[0].decode().split("(", 1)[1])
    return typ, {k: int(v) for k, v in vals}


def append(m, mailbox, n):
    for i in range(n):
        msg, _ = make_message(subject=unique("m%d" % i))
        typ, data = m.append(mailbox, None, None, msg)
        assert typ == "OK", data


class ManageTest(harness.TestCase):

    def setUp(self):
        self.user = account()
        self.m = srv.imap(self.user, PW)

    def tearDown(self):
        try:
            self.m.logout()
        except Exception:  # noqa: BLE001 - the test may have closed it
            pass

    def assertNo(self, result, code):
        typ, data = result
        self.assertEqual(typ, "NO", data)
        self.assertIn(("[%s]" % code).encode(), data[0])

    def test_capabilities(self):
        typ, data = self.m.capability()
        caps = data[0].decode().split()
        self.assertIn("SPECIAL-USE", caps)
        self.assertIn("CREATE-SPECIAL-USE", caps)

    def test_create_with_parents_and_errors(self):
        self.assertEqual(self.m.create("Projects/2026/Q1")[0], "OK")
        got = names(self.m)
        for n in ("Projects", "Projects/2026", "Projects/2026/Q1"):
            self.assertIn(n, got)
        self.assertNo(self.m.create("Projects/2026"), "ALREADYEXISTS")
        self.assertNo(self.m.create("INBOX"), "ALREADYEXISTS")
        self.assertNo(self.m.create("inbox"), "ALREADYEXISTS")
        # A trailing delimiter names the mailbox itself (RFC 9051 6.3.4).
        self.assertEqual(self.m.create("Folder/")[0], "OK")
        self.assertIn("Folder", names(self.m))
        self.assertNo(self.m.create('"bad*name"'), "CANNOT")
        self.assertNo(self.m.create('"/leading"'), "CANNOT")
        # The new mailbox works: select, append, status.
        append(self.m, "Projects/2026/Q1", 2)
        typ, st = status(self.m, "Projects/2026/Q1")
        self.assertEqual(st["MESSAGES"], 2)
        self.assertEqual(self.m.select("Projects/2026/Q1")[0], "OK")

    def test_create_special_use(self):
        r = srv.raw_imap()
        try:
            _, t = r.imap("a", "LOGIN %s %s" % (self.user, PW))
            self.assertTrue(t.startswith("a OK"), t)
            # A new account has Junk already: a second \Junk is refused.
            _, t = r.imap("b", "CREATE Spam (USE (\\Junk))")
            self.assertTrue(t.startswith("b NO [USEATTR]"), t)
            _, t = r.imap("c", "CREATE Odd (USE (\\Flagged))")
            self.assertTrue(t.startswith("c NO [USEATTR]"), t)
            _, t = r.imap("d", "CREATE X (FOO (\\Junk))")
            self.assertTrue(t.startswith("d BAD"), t)
            # After deleting Archive, another mailbox can take its place.
            _, t = r.imap("e", "DELETE Archive")
            self.assertTrue(t.startswith("e OK"), t)
            _, t = r.imap("f", "CREATE Old (USE (\\Archive))")
            self.assertTrue(t.startswith("f OK"), t)
            u, t = r.imap("g", 'LIST "" Old')
            self.assertTrue(any("\\Archive" in x for x in u), u)
        finally:
            r.close()
        rows = srv.psql("select m.special_use from mailboxes m join accounts a on a.id = m.account_id"
                        " where a.name = :'a' and m.name = 'Old'", a=self.user)
        self.assertEqual(rows, [["archive"]])

    def test_delete(self):
        self.assertEqual(self.m.create("Tmp/Child")[0], "OK")
        append(self.m, "Tmp/Child", 3)
        before = srv.psql("select disk_usage from accounts where name = :'a'", a=self.user)[0][0]
        files_before = len(srv.msg_files())
        self.assertNo(self.m.delete("Tmp"), "HASCHILDREN")
        self.assertEqual(self.m.delete("Tmp/Child")[0], "OK")
        self.assertEqual(self.m.delete("Tmp")[0], "OK")
        got = names(self.m)
        self.assertNotIn("Tmp", got)
        self.assertNotIn("Tmp/Child", got)
        self.assertEqual(status(self.m, "Tmp/Child")[0], "NO")
        after = srv.psql("select disk_usage from accounts where name = :'a'", a=self.user)[0][0]
        self.assertLess(int(after), int(before))
        self.assertEqual(srv.psql("select count(*) from messages m join accounts a"
                                  " on a.id = m.account_id where a.name = :'a'", a=self.user),
                         [["0"]])
        self.assertEqual(len(srv.msg_files()), files_before - 3)
        self.assertNo(self.m.delete("INBOX"), "CANNOT")
        self.assertNo(self.m.delete("Nowhere"), "NONEXISTENT")

    def test_delete_selected_mailbox(self):
        self.assertEqual(self.m.create("Gone")[0], "OK")
        append(self.m, "Gone", 1)
        self.assertEqual(self.m.select("Gone")[0], "OK")
        self.assertEqual(self.m.delete("Gone")[0], "OK")
        # No mailbox is selected any more.
        with self.assertRaises(self.m.error):
            self.m.fetch("1", "(FLAGS)")

    def test_rename_with_children(self):
        self.assertEqual(self.m.create("A/B")[0], "OK")
        append(self.m, "A", 2)
        append(self.m, "A/B", 1)
        _, st_a = status(self.m, "A")
        self.assertEqual(self.m.rename("A", "C/D")[0], "OK")
        got = names(self.m)
        self.assertNotIn("A", got)
        self.assertNotIn("A/B", got)
        for n in ("C", "C/D", "C/D/B"):
            self.assertIn(n, got)
        _, st_d = status(self.m, "C/D")
        self.assertEqual(st_d["MESSAGES"], 2)
        self.assertNotEqual(st_d["UIDVALIDITY"], st_a["UIDVALIDITY"])
        self.assertEqual(status(self.m, "C/D/B")[1]["MESSAGES"], 1)
        # The messages can still be read.
        self.assertEqual(self.m.select("C/D")[0], "OK")
        typ, data = self.m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        self.assertEqual(typ, "OK")
        self.assertEqual(len([d for d in data if isinstance(d, tuple)]), 2)
        self.m.unselect()
        self.assertNo(self.m.rename("C/D", "Trash"), "ALREADYEXISTS")
        self.assertNo(self.m.rename("C/D", "C/D/E"), "ALREADYEXISTS")
        self.assertNo(self.m.rename("Nope", "Other"), "NONEXISTENT")
        self.assertNo(self.m.rename("C", "INBOX"), "ALREADYEXISTS")

    def test_rename_inbox_moves_messages(self):
        append(self.m, "INBOX", 3)
        self.assertEqual(self.m.rename("INBOX", '"Old Inbox"')[0], "OK")
        typ, st = status(self.m, '"Old Inbox"')
        self.assertEqual(st["MESSAGES"], 3)
        self.assertEqual(st["UIDNEXT"], 4)
        self.assertEqual(status(self.m, "INBOX")[1]["MESSAGES"], 0)
        self.assertEqual(self.m.select('"Old Inbox"')[0], "OK")
        typ, data = self.m.uid("SEARCH", "ALL")
        self.assertEqual(data[0].split(), [b"1", b"2", b"3"])
        self.m.unselect()
        # INBOX keeps working, with UIDs after the old ones.
        uidnext = status(self.m, "INBOX")[1]["UIDNEXT"]
        append(self.m, "INBOX", 1)
        self.assertEqual(self.m.select("INBOX")[0], "OK")
        typ, data = self.m.uid("SEARCH", "ALL")
        self.assertEqual(data[0].split(), [str(uidnext).encode()])
        # Counts agree with the rows.
        rows = srv.psql("select mb.name, mb.count_total, (select count(*) from messages x"
                        " where x.mailbox_id = mb.id) from mailboxes mb join accounts a"
                        " on a.id = mb.account_id where a.name = :'a' and mb.name in"
                        " ('Inbox', 'Old Inbox') order by 1", a=self.user)
        self.assertEqual(rows, [["Inbox", "1", "1"], ["Old Inbox", "3", "3"]])

    def test_subscribe(self):
        self.assertEqual(self.m.create("Sub")[0], "OK")

        def lsub():
            typ, data = self.m.lsub('""', "*")
            return [d.decode().rsplit(" ", 1)[-1].strip('"') for d in data if d]
        self.assertIn("Sub", lsub())
        self.assertEqual(self.m.unsubscribe("Sub")[0], "OK")
        self.assertNotIn("Sub", lsub())
        self.assertEqual(self.m.subscribe("Sub")[0], "OK")
        self.assertIn("Sub", lsub())
        self.assertNo(self.m.subscribe("Missing"), "NONEXISTENT")

    def test_other_session_sees_new_mailbox(self):
        other = srv.imap(self.user, PW)
        try:
            self.assertEqual(self.m.create("Shared")[0], "OK")
            self.assertIn("Shared", names(other))
            self.assertEqual(self.m.delete("Shared")[0], "OK")
            self.assertNotIn("Shared", names(other))
        finally:
            other.logout()


class ListExtendedTest(harness.TestCase):
    """LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819), SPECIAL-USE
    selection (RFC 6154) over a raw connection."""

    @classmethod
    def setUpClass(cls):
        cls.user = account()
        m = srv.imap(cls.user, PW)
        try:
            for name in ("Lists/Dev", "Lists/Users", "Work"):
                assert m.create(name)[0] == "OK"
            for name in ("Lists", "Lists/Users", "Work"):
                assert m.unsubscribe(name)[0] == "OK"
            append(m, "Lists/Dev", 2)
        finally:
            m.logout()

    def setUp(self):
        self.r = srv.raw_imap()
        _, t = self.r.imap("l", "LOGIN %s %s" % (self.user, PW))
        self.assertTrue(t.startswith("l OK"), t)

    def tearDown(self):
        self.r.close()

    def lines(self, cmd):
        u, t = self.r.imap("x", cmd)
        self.assertTrue(t.startswith("x OK"), (cmd, t))
        return u

    def listed(self, cmd):
        out = {}
        for line in self.lines(cmd):
            mm = re.match(r'^\* LIST \((.*?)\) "/" ("[^"]*"|\S+)(.*)$', line)
            if mm:
                out[mm.group(2).strip('"')] = (mm.group(1).split(), mm.group(3).strip())
        return out

    def test_capabilities(self):
        caps = " ".join(self.lines("CAPABILITY"))
        for c in ("LIST-EXTENDED", "LIST-STATUS", "STATUS=SIZE"):
            self.assertIn(c, caps.split())

    def test_selection_subscribed(self):
        got = self.listed('LIST (SUBSCRIBED) "" "*"')
        self.assertIn("Lists/Dev", got)
        self.assertIn("\\Subscribed", got["Lists/Dev"][0])
        for n in ("Work", "Lists/Users", "Lists"):
            self.assertNotIn(n, got)
        # RETURN (SUBSCRIBED): everything, marked.
        got = self.listed('LIST "" "*" RETURN (SUBSCRIBED)')
        self.assertIn("Work", got)
        self.assertNotIn("\\Subscribed", got["Work"][0])
        self.assertIn("\\Subscribed", got["Lists/Dev"][0])

    def test_recursivematch(self):
        got = self.listed('LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')
        self.assertIn("Lists", got)
        self.assertEqual(got["Lists"][1], '("CHILDINFO" ("SUBSCRIBED"))')
        self.assertNotIn("\\Subscribed", got["Lists"][0])
        self.assertNotIn("Work", got)
        _, t = self.r.imap("y", 'LIST (RECURSIVEMATCH) "" "*"')
        self.assertTrue(t.startswith("y BAD"), t)
        _, t = self.r.imap("z", 'LIST (BOGUS) "" "*"')
        self.assertTrue(t.startswith("z BAD"), t)

    def test_special_use_and_patterns(self):
        got = self.listed('LIST (SPECIAL-USE) "" "*"')
        self.assertEqual(sorted(got), ["Archive", "Drafts", "Junk", "Sent", "Trash"])
        self.assertIn("\\Junk", got["Junk"][0])
        got = self.listed('LIST "" ("INBOX" "Lists/*")')
        self.assertEqual(sorted(got), ["INBOX", "Lists/Dev", "Lists/Users"])

    def test_list_status(self):
        u = self.lines('LIST "" "Lists/%" RETURN (STATUS (MESSAGES UNSEEN SIZE))')
        i = next(k for k, line in enumerate(u) if line.startswith("* LIST") and "Lists/Dev" in line)
        self.assertRegex(u[i + 1].strip(), r'^\* STATUS "?Lists/Dev"? \(MESSAGES 2 UNSEEN 2 SIZE \d+\)$')
        st = [line for line in u if line.startswith("* STATUS")]
        self.assertEqual(len(st), 2)
        _, t = self.r.imap("b", 'LIST "" "*" RETURN (STATUS (NOPE))')
        self.assertTrue(t.startswith("b BAD"), t)
