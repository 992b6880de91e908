"""IMAP QUOTA (RFC 9208), METADATA (RFC 5464) and LIST-METADATA (RFC 9590)
against the real imapd and a throwaway PostgreSQL (harness.py): quota
figures after appends and expunges, accounts without a limit, SETQUOTA
refused, APPEND over quota, STATUS DELETED/DELETED-STORAGE; annotations of
the server and of mailboxes set, read with DEPTH and MAXSIZE, removed,
limited, kept by RENAME and removed by DELETE; LIST RETURN (METADATA); and
malformed commands that must leave the session usable. Run by
tests/integration/run-tests, or by hand: PYTHONPATH=tests/integration
top_builddir=BUILD python3 THIS_FILE"""
import re

import harness
from harness import PASSWORD, make_message, unique

SRV = None


def setUpModule():
    global SRV
    SRV = harness.Server(name="quotameta", daemons=("imapd",)).start()


def tearDownModule():
    SRV.stop()


def kib(n):
    """RFC 9208 STORAGE units: 1024 octets, a partly used unit counts."""
    return (n + 1023) // 1024


class Base(harness.TestCase):

    def account(self):
        addr = "%s@example.org" % unique("qm")
        SRV.add_account(addr, PASSWORD)
        return addr

    def raw(self, addr):
        r = harness.Raw(SRV.imap_port)
        self.addCleanup(r.close)
        r.line()
        _, t = r.imap("L", "LOGIN %s %s" % (addr, PASSWORD))
        self.assertTrue(t.startswith("L OK"), t)
        return r

    def ok(self, r, tag, cmd):
        u, t = r.imap(tag, cmd)
        self.assertTrue(t.startswith(tag + " OK"), (cmd, u, t))
        return u

    def alive(self, r):
        """The session still works after whatever came before."""
        _, t = r.imap("alive", "NOOP")
        self.assertEqual(t, "alive OK NOOP completed")

    def set_quota(self, addr, sql_value):
        SRV.psql("update accounts set quota_message_size = %s where name = :'a'" % sql_value,
                 a=addr)

    def usage(self, addr):
        return int(SRV.psql("select disk_usage from accounts where name = :'a'", a=addr)[0][0])


# ---------------------------------------------------------------- QUOTA

class QuotaTest(Base):

    def test_capabilities(self):
        m = SRV.imap(self.account(), PASSWORD)
        typ, data = m.capability()
        m.logout()
        caps = data[0].decode().split()
        for c in ("QUOTA", "QUOTA=RES-STORAGE", "METADATA", "LIST-METADATA"):
            self.assertIn(c, caps)
        # Only what is implemented: no SETQUOTA, no message-count resource.
        self.assertNotIn("QUOTASET", caps)
        self.assertNotIn("QUOTA=RES-MESSAGE", caps)

    def test_figures_follow_appends_and_expunges(self):
        addr = self.account()
        self.set_quota(addr, "100000")
        m = SRV.imap(addr, PASSWORD)
        sizes = []
        for i in range(3):
            msg, _ = make_message(subject=unique("q%d" % i), body=b"x" * (1500 * (i + 1)) + b"\r\n")
            typ, data = m.append("INBOX", None, None, msg)
            self.assertEqual(typ, "OK", data)
            sizes.append(len(msg))
        used = sum(sizes)
        self.assertEqual(self.usage(addr), used)

        typ, data = m.getquotaroot("INBOX")
        self.assertEqual(typ, "OK", data)
        roots, quotas = data
        self.assertEqual(roots, [b'"INBOX" ""'])
        self.assertEqual(quotas, [b'"" (STORAGE %d %d)' % (kib(used), kib(100000))])
        typ, data = m.getquota('""')
        self.assertEqual(typ, "OK", data)
        self.assertEqual(data, [b'"" (STORAGE %d 98)' % kib(used)])

        # Expunging the largest message frees its size.
        m.select("INBOX")
        m.store("3", "+FLAGS", "\\Deleted")
        m.expunge()
        used -= sizes[2]
        self.assertEqual(self.usage(addr), used)
        typ, data = m.getquota('""')
        self.assertEqual(data, [b'"" (STORAGE %d 98)' % kib(used)])

        # A deleted mailbox takes its messages' sizes with it.
        m.create("Gone")
        msg, _ = make_message(body=b"y" * 4000 + b"\r\n")
        m.append("Gone", None, None, msg)
        typ, data = m.getquota('""')
        self.assertEqual(data, [b'"" (STORAGE %d 98)' % kib(used + len(msg))])
        m.delete("Gone")
        typ, data = m.getquota('""')
        self.assertEqual(data, [b'"" (STORAGE %d 98)' % kib(used)])
        m.logout()

    def test_rounding_up(self):
        addr = self.account()
        # One byte of limit is one unit, not zero; nothing used is 0.
        self.set_quota(addr, "1")
        r = self.raw(addr)
        u = self.ok(r, "g", 'GETQUOTA ""')
        self.assertEqual(u, ['* QUOTA "" (STORAGE 0 1)\r\n'])
        self.set_quota(addr, "2049")
        u = self.ok(r, "g", 'GETQUOTA ""')
        self.assertEqual(u, ['* QUOTA "" (STORAGE 0 3)\r\n'])

    def test_no_limit(self):
        addr = self.account()
        r = self.raw(addr)
        # The root exists, but a quota list cannot be empty: no QUOTA.
        u = self.ok(r, "a", "GETQUOTAROOT INBOX")
        self.assertEqual(u, ['* QUOTAROOT "INBOX" ""\r\n'])
        u = self.ok(r, "b", 'GETQUOTA ""')
        self.assertEqual(u, [])
        # A mailbox that does not exist yet has the same root.
        u = self.ok(r, "c", 'GETQUOTAROOT "Not/There yet"')
        self.assertEqual(u, ['* QUOTAROOT "Not/There yet" ""\r\n'])

    def test_unknown_root_and_setquota(self):
        addr = self.account()
        self.set_quota(addr, "5000")
        r = self.raw(addr)
        u, t = r.imap("a", "GETQUOTA other")
        self.assertTrue(t.startswith("a NO "), t)
        self.assertEqual(u, [])
        u, t = r.imap("b", 'SETQUOTA "" (STORAGE 1000000)')
        self.assertEqual(t, "b NO [NOPERM] Quotas are set by the administrator")
        self.assertEqual(SRV.psql("select quota_message_size from accounts where name = :'a'",
                                  a=addr), [["5000"]])
        u, t = r.imap("c", 'SETQUOTA "" ()')
        self.assertTrue(t.startswith("c NO [NOPERM]"), t)
        self.alive(r)

    def test_malformed_quota_commands(self):
        r = self.raw(self.account())
        for cmd in ("GETQUOTAROOT", "GETQUOTAROOT INBOX extra", "GETQUOTAROOT (INBOX)",
                    "GETQUOTA", 'GETQUOTA "" x', "GETQUOTA ()",
                    "SETQUOTA", 'SETQUOTA ""', 'SETQUOTA "" STORAGE', 'SETQUOTA "" (STORAGE)',
                    'SETQUOTA "" (STORAGE x)', 'SETQUOTA "" (STORAGE -1)',
                    'SETQUOTA "" ((STORAGE) 1)'):
            u, t = r.imap("m", cmd)
            self.assertTrue(t.startswith("m BAD "), (cmd, t))
        self.alive(r)
        # Before login the commands do not exist for the client.
        r2 = harness.Raw(SRV.imap_port)
        self.addCleanup(r2.close)
        r2.line()
        _, t = r2.imap("n", "GETQUOTAROOT INBOX")
        self.assertTrue(t.startswith("n BAD "), t)
        _, t = r2.imap("n", 'GETMETADATA "" /private/comment')
        self.assertTrue(t.startswith("n BAD "), t)

    def test_append_over_quota(self):
        addr = self.account()
        m = SRV.imap(addr, PASSWORD)
        msg, _ = make_message(body=b"z" * 3000 + b"\r\n")
        self.assertEqual(m.append("INBOX", None, None, msg)[0], "OK")
        used = self.usage(addr)
        self.set_quota(addr, str(used + 100))
        typ, data = m.append("INBOX", None, None, msg)
        self.assertEqual(typ, "NO", data)
        self.assertTrue(data[0].startswith(b"[OVERQUOTA]"), data)
        self.assertEqual(self.usage(addr), used)
        typ, data = m.select("INBOX", readonly=True)
        self.assertEqual(data, [b"1"])
        # What fits is still accepted.
        small, _ = make_message(subject="s", body=b"\r\n")
        self.set_quota(addr, str(used + len(small)))
        typ, data = m.append("INBOX", None, None, small)
        self.assertEqual(typ, "OK", data)
        self.assertEqual(self.usage(addr), used + len(small))
        # COPY over quota answers the same code.
        m.select("INBOX")
        typ, data = m.copy("1", "Archive")
        self.assertEqual(typ, "NO", data)
        self.assertTrue(data[0].startswith(b"[OVERQUOTA]"), data)
        m.logout()

    def test_status_deleted_storage(self):
        addr = self.account()
        m = SRV.imap(addr, PASSWORD)
        sizes = []
        for i in range(4):
            msg, _ = make_message(subject=unique("d%d" % i), body=b"w" * (700 * (i + 1)) + b"\r\n")
            self.assertEqual(m.append("INBOX", None, None, msg)[0], "OK")
            sizes.append(len(msg))
        typ, data = m.status("INBOX", "(DELETED DELETED-STORAGE MESSAGES)")
        self.assertEqual(data, [b'"INBOX" (DELETED 0 DELETED-STORAGE 0 MESSAGES 4)'])
        m.select("INBOX")
        m.store("2,4", "+FLAGS", "\\Deleted")
        typ, data = m.status("INBOX", "(DELETED-STORAGE DELETED)")
        self.assertIn(b"(DELETED-STORAGE %d DELETED 2)" % (sizes[1] + sizes[3]), data[0])
        # The same items in LIST-STATUS.
        r = self.raw(addr)
        u = self.ok(r, "l", 'LIST "" INBOX RETURN (STATUS (DELETED DELETED-STORAGE))')
        self.assertEqual(u[1], "* STATUS \"INBOX\" (DELETED 2 DELETED-STORAGE %d)\r\n"
                         % (sizes[1] + sizes[3]))
        # After the expunge nothing is left to reclaim, and the quota
        # usage went down by exactly what DELETED-STORAGE said.
        before = self.usage(addr)
        m.expunge()
        self.assertEqual(before - self.usage(addr), sizes[1] + sizes[3])
        typ, data = m.status("INBOX", "(DELETED DELETED-STORAGE)")
        self.assertIn(b"(DELETED 0 DELETED-STORAGE 0)", data[0])
        m.logout()


# ------------------------------------------------------------- METADATA

def metadata(untagged):
    """Parse '* METADATA mailbox (entry value ...)' lines (as read by
    harness.Raw, literals inline) into [(mailbox, {entry: value})]."""
    def b(v):
        return v.encode() if isinstance(v, str) else v and bytes(v)

    out = []
    for line in untagged:
        data = line.encode("utf-8")
        assert data.startswith(b"* METADATA "), line
        p = harness.ImapParser(data[len(b"* METADATA "):])
        mbox = b(p.value())
        lst = p.value()
        assert p.at_end(), line
        out.append((mbox, dict((b(k), b(v)) for k, v in zip(lst[0::2], lst[1::2]))))
    return out


class MetadataTest(Base):

    def setUp(self):
        self.addr = self.account()
        self.r = self.raw(self.addr)

    def get(self, cmd, tag="g"):
        u, t = self.r.imap(tag, "GETMETADATA " + cmd)
        self.assertTrue(t.startswith(tag + " OK"), (cmd, u, t))
        return metadata(u), t

    def test_server_annotations(self):
        got, _ = self.get('"" /private/comment')
        self.assertEqual(got, [])
        self.ok(self.r, "s", 'SETMETADATA "" (/PRIVATE/Comment "server wide")')
        got, t = self.get('"" /private/comment')
        self.assertEqual(got, [(b"", {b"/private/comment": b"server wide"})])
        self.assertEqual(t, "g OK GETMETADATA completed")
        # Not visible on a mailbox.
        got, _ = self.get("INBOX /private/comment")
        self.assertEqual(got, [])
        # Update, then delete with NIL.
        self.ok(self.r, "s", 'SETMETADATA "" (/private/comment "updated")')
        got, _ = self.get('"" (/private/comment)')
        self.assertEqual(got, [(b"", {b"/private/comment": b"updated"})])
        self.ok(self.r, "s", 'SETMETADATA "" (/private/comment NIL)')
        got, _ = self.get('"" (/private/comment)')
        self.assertEqual(got, [])
        # Removing what does not exist is fine.
        self.ok(self.r, "s", 'SETMETADATA "" (/private/comment NIL)')
        self.assertEqual(SRV.psql(
            "select count(*) from metadata x join accounts a on a.id = x.account_id"
            " where a.name = :'a'", a=self.addr), [["0"]])

    def test_mailbox_annotations(self):
        self.ok(self.r, "s", 'SETMETADATA INBOX (/private/comment "inbox value"'
                ' /shared/comment "shared value")')
        self.ok(self.r, "c", "CREATE Other")
        self.ok(self.r, "s", 'SETMETADATA Other (/private/comment "other value")')
        got, _ = self.get("inbox (/private/comment /private/unknown /shared/comment)")
        self.assertEqual(got, [(b"INBOX", {b"/private/comment": b"inbox value",
                                          b"/shared/comment": b"shared value"})])
        got, _ = self.get("Other /private/comment")
        self.assertEqual(got, [(b"Other", {b"/private/comment": b"other value"})])
        # Quoted strings come back as strings; the order is by entry name.
        u = self.ok(self.r, "g", "GETMETADATA INBOX (/shared/comment /private/comment)")
        self.assertEqual(u, ['* METADATA "INBOX" (/private/comment "inbox value"'
                             ' /shared/comment "shared value")\r\n'])
        # No such mailbox.
        u, t = self.r.imap("n", 'SETMETADATA Nowhere (/private/comment "x")')
        self.assertTrue(t.startswith("n NO [TRYCREATE]"), t)
        u, t = self.r.imap("n", "GETMETADATA Nowhere /private/comment")
        self.assertTrue(t.startswith("n NO [TRYCREATE]"), t)
        self.alive(self.r)

    def test_literal_values(self):
        # A literal value, with a NUL byte: returned as a literal8.
        # (LITERAL+ is for plain literals: a literal8 is synchronizing.)
        self.r.send(b"l1 SETMETADATA INBOX (/private/bin ~{5}\r\n")
        self.assertTrue(self.r.line().startswith(b"+ "))
        self.r.send(b'a\x00b\r\n /private/text {5+}\r\nhello /private/quoted "say \\"hi\\"")\r\n')
        u, t = self.r.imap_until("l1")
        self.assertEqual(t, "l1 OK SETMETADATA completed")
        self.r.send(b"l2 GETMETADATA INBOX (/private/bin /private/text /private/quoted)\r\n")
        line = self.r.line()
        self.assertEqual(line, b'* METADATA "INBOX" (/private/bin ~{5}\r\n')
        self.assertEqual(self.r.read_exact(5), b"a\x00b\r\n")
        self.assertEqual(self.r.line(),
                         b' /private/quoted "say \\"hi\\"" /private/text {5}\r\n')
        self.assertEqual(self.r.read_exact(5), b"hello")
        self.assertEqual(self.r.line(), b")\r\n")
        self.assertEqual(self.r.line(), b"l2 OK GETMETADATA completed\r\n")
        # Stored as given.
        rows = SRV.psql("select entry, encode(value, 'hex'), is_string from metadata x"
                        " join accounts a on a.id = x.account_id where a.name = :'a'"
                        " order by entry", a=self.addr)
        self.assertEqual(rows, [["/private/bin", "6100620d0a", "f"],
                                ["/private/quoted", b'say "hi"'.hex(), "t"],
                                ["/private/text", b"hello".hex(), "f"]])
        # A synchronizing literal gets its continuation request.
        self.r.send(b"l3 SETMETADATA INBOX (/private/sync {3}\r\n")
        self.assertTrue(self.r.line().startswith(b"+ "))
        self.r.send(b"abc)\r\n")
        _, t = self.r.imap_until("l3")
        self.assertEqual(t, "l3 OK SETMETADATA completed")
        got, _ = self.get("INBOX /private/sync")
        self.assertEqual(got, [(b"INBOX", {b"/private/sync": b"abc"})])

    def test_several_changes_at_once(self):
        # The last change of an entry wins, all in one command.
        self.ok(self.r, "s", 'SETMETADATA INBOX (/private/a "1" /private/b "2" /private/a "3"'
                ' /private/b NIL /private/c "4")')
        got, _ = self.get("INBOX (/private/a /private/b /private/c)")
        self.assertEqual(got, [(b"INBOX", {b"/private/a": b"3", b"/private/c": b"4"})])
        self.ok(self.r, "s", 'SETMETADATA INBOX (/private/a NIL /private/a "5")')
        got, _ = self.get("INBOX /private/a")
        self.assertEqual(got, [(b"INBOX", {b"/private/a": b"5"})])

    def test_depth(self):
        self.ok(self.r, "s", 'SETMETADATA INBOX (/private/a "x" /private/a/b "y" /private/a/b/c "z"'
                ' /private/a/b/c/d "w" /private/ab "v" /shared/a "s")')
        got, _ = self.get("(DEPTH 0) INBOX /private/a")
        self.assertEqual(got, [(b"INBOX", {b"/private/a": b"x"})])
        got, _ = self.get("(DEPTH 1) INBOX /private/a")
        self.assertEqual(got, [(b"INBOX", {b"/private/a": b"x", b"/private/a/b": b"y"})])
        got, _ = self.get("(depth infinity) INBOX (/private/a)")
        self.assertEqual(got, [(b"INBOX", {b"/private/a": b"x", b"/private/a/b": b"y",
                                          b"/private/a/b/c": b"z", b"/private/a/b/c/d": b"w"})])
        # Below an entry without a value of its own.
        got, _ = self.get("(DEPTH 1) INBOX /private/a/b/c")
        self.assertEqual(got, [(b"INBOX", {b"/private/a/b/c": b"z", b"/private/a/b/c/d": b"w"})])
        got, _ = self.get("(DEPTH 1) INBOX /private")
        self.assertEqual(got, [(b"INBOX", {b"/private/a": b"x", b"/private/ab": b"v"})])
        # Everything: the root.
        got, _ = self.get('(DEPTH infinity) INBOX "/"')
        self.assertEqual(len(got[0][1]), 6)
        got, _ = self.get('(DEPTH infinity) INBOX ""')
        self.assertEqual(len(got[0][1]), 6)
        got, _ = self.get("(DEPTH infinity) INBOX /shared")
        self.assertEqual(got, [(b"INBOX", {b"/shared/a": b"s"})])

    def test_maxsize_longentries(self):
        self.ok(self.r, "s", 'SETMETADATA INBOX (/private/short "abcd" /private/long "abcdefgh"'
                ' /private/longer "abcdefghijkl")')
        got, t = self.get("(MAXSIZE 4) INBOX (/private/short /private/long /private/longer)")
        self.assertEqual(got, [(b"INBOX", {b"/private/short": b"abcd"})])
        self.assertEqual(t, "g OK [METADATA LONGENTRIES 12] GETMETADATA completed")
        got, t = self.get("(MAXSIZE 8 DEPTH 1) INBOX /private")
        self.assertEqual(got, [(b"INBOX", {b"/private/short": b"abcd",
                                          b"/private/long": b"abcdefgh"})])
        self.assertEqual(t, "g OK [METADATA LONGENTRIES 12] GETMETADATA completed")
        # Nothing small enough: no METADATA response, still LONGENTRIES.
        got, t = self.get("(MAXSIZE 0) INBOX /private/long")
        self.assertEqual(got, [])
        self.assertEqual(t, "g OK [METADATA LONGENTRIES 8] GETMETADATA completed")
        got, t = self.get("(MAXSIZE 100) INBOX /private/long")
        self.assertEqual(t, "g OK GETMETADATA completed")

    def test_too_large(self):
        # A value larger than all annotations may be together.
        big = b"x" * 600000
        self.r.send(b"b1 SETMETADATA INBOX (/private/big1 {%d+}\r\n%s)\r\n" % (len(big), big))
        _, t = self.r.imap_until("b1")
        self.assertEqual(t, "b1 OK SETMETADATA completed")
        self.r.send(b"b2 SETMETADATA \"\" (/private/big2 {%d+}\r\n%s)\r\n" % (len(big), big))
        _, t = self.r.imap_until("b2")
        self.assertEqual(t, "b2 NO [METADATA MAXSIZE 1000000] Entries and values are limited to"
                            " 1000000 bytes per account")
        got, _ = self.get('"" /private/big2')
        self.assertEqual(got, [])
        # Replacing the big value is fine (the total is what counts).
        self.r.send(b"b3 SETMETADATA INBOX (/private/big1 {%d+}\r\n%s)\r\n" % (len(big), big))
        _, t = self.r.imap_until("b3")
        self.assertEqual(t, "b3 OK SETMETADATA completed")
        # A literal above the limit on its own is refused before it is read
        # into the command (TOOBIG), and the session goes on.
        self.r.send(b"b4 SETMETADATA INBOX (/private/huge {1000001}\r\n")
        _, t = self.r.imap_until("b4")
        self.assertTrue(t.startswith("b4 NO [TOOBIG]"), t)
        self.alive(self.r)
        # Removing is allowed whatever the state.
        self.ok(self.r, "d", "SETMETADATA INBOX (/private/big1 NIL)")

    def test_too_many(self):
        pairs = " ".join('/private/k%d "v"' % i for i in range(1000))
        self.ok(self.r, "m1", "SETMETADATA INBOX (%s)" % pairs)
        u, t = self.r.imap("m2", 'SETMETADATA "" (/private/one-more "v")')
        self.assertEqual(t, "m2 NO [METADATA TOOMANY] At most 1000 entries per account")
        # Nothing of a refused command is kept, also not its other changes.
        u, t = self.r.imap("m3", 'SETMETADATA INBOX (/private/k1 NIL /private/new1 "v"'
                           ' /private/new2 "v")')
        self.assertTrue(t.startswith("m3 NO [METADATA TOOMANY]"), t)
        got, _ = self.get("INBOX /private/k1")
        self.assertEqual(got, [(b"INBOX", {b"/private/k1": b"v"})])
        # Replacing keeps the count; one out, one in works.
        self.ok(self.r, "m4", 'SETMETADATA INBOX (/private/k1 "w")')
        self.ok(self.r, "m5", 'SETMETADATA INBOX (/private/k2 NIL /private/new "v")')
        self.assertEqual(SRV.psql(
            "select count(*) from metadata x join accounts a on a.id = x.account_id"
            " where a.name = :'a'", a=self.addr), [["1000"]])

    def test_bad_entry_names(self):
        for entry in ('/private/no*', '/private/no%', '/private/trailing/', '/private//double',
                      '"/private/\x01"', '"/private/\x7f"', '"/private/\xc3\xa9"', "(/private/a)"):
            u, t = self.r.imap("b", 'SETMETADATA INBOX (%s "x")' % entry)
            self.assertTrue(t.startswith("b BAD "), (entry, t))
            u, t = self.r.imap("b", "GETMETADATA INBOX (%s)" % entry)
            self.assertTrue(t.startswith("b BAD "), (entry, t))
        # Well-formed names that cannot be set: NO.
        for entry in ("/badprefix/comment", "/private", "/comment", '""', "/",
                      "/private/vendor", "/shared/vendor/example", "/private/vendor/x"):
            u, t = self.r.imap("n", 'SETMETADATA INBOX (%s "x")' % entry)
            self.assertTrue(t.startswith("n NO "), (entry, t))
        self.ok(self.r, "v", 'SETMETADATA INBOX (/private/vendor/example.com/setting "x")')
        got, _ = self.get("INBOX /private/vendor/example.com/setting")
        self.assertEqual(len(got), 1)
        self.alive(self.r)

    def test_malformed_commands(self):
        for cmd in ("GETMETADATA", "GETMETADATA INBOX", "GETMETADATA INBOX /a /b",
                    "GETMETADATA INBOX ()", "GETMETADATA () INBOX /private/a",
                    "GETMETADATA (DEPTH 0 DEPTH 0) INBOX /private/a",
                    "GETMETADATA (MAXSIZE 1 MAXSIZE 2) INBOX /private/a",
                    "GETMETADATA (DEPTH 2) INBOX /private/a",
                    "GETMETADATA (DEPTH) INBOX /private/a",
                    "GETMETADATA (MAXSIZE x) INBOX /private/a",
                    "GETMETADATA (MAXSIZE -1) INBOX /private/a",
                    "GETMETADATA (BOGUS 1) INBOX /private/a",
                    "GETMETADATA (DEPTH 1) (INBOX) /private/a",
                    "SETMETADATA", "SETMETADATA INBOX", "SETMETADATA INBOX ()",
                    'SETMETADATA INBOX (/private/a)',
                    'SETMETADATA INBOX (/private/a "x" /private/b)',
                    'SETMETADATA INBOX /private/a "x"', 'SETMETADATA INBOX (/private/a atom)',
                    'SETMETADATA INBOX (/private/a ("x"))', 'SETMETADATA INBOX (/private/a "x") x',
                    'SETMETADATA (INBOX) (/private/a "x")'):
            u, t = self.r.imap("m", cmd)
            self.assertTrue(t.startswith("m BAD "), (cmd, u, t))
            # (20 BAD answers in a row end the session: keep it going)
            self.r.imap("n", "NOOP")
        # Unbalanced input is a parse error of the line, not the end of it all.
        for line in ('SETMETADATA INBOX (/private/a "x"', 'GETMETADATA INBOX (/private/a',
                     'SETMETADATA INBOX (/private/a "unterminated)'):
            u, t = self.r.imap("p", line)
            self.assertTrue(t.startswith("p BAD "), (line, t))
        self.alive(self.r)
        self.assertEqual(SRV.psql(
            "select count(*) from metadata x join accounts a on a.id = x.account_id"
            " where a.name = :'a'", a=self.addr), [["0"]])

    def test_rename_keeps_delete_removes(self):
        self.ok(self.r, "c", "CREATE Box/Child")
        self.ok(self.r, "s", 'SETMETADATA Box (/private/color "red")')
        self.ok(self.r, "s", 'SETMETADATA Box/Child (/private/color "blue")')
        self.ok(self.r, "r", "RENAME Box Moved")
        got, _ = self.get("Moved /private/color")
        self.assertEqual(got, [(b"Moved", {b"/private/color": b"red"})])
        got, _ = self.get("Moved/Child /private/color")
        self.assertEqual(got, [(b"Moved/Child", {b"/private/color": b"blue"})])
        # A new mailbox under the old name starts without annotations.
        self.ok(self.r, "c", "CREATE Box")
        got, _ = self.get("Box /private/color")
        self.assertEqual(got, [])
        # Deleting removes them; a mailbox created again has none.
        self.ok(self.r, "d", "DELETE Moved/Child")
        self.assertEqual(SRV.psql(
            "select count(*) from metadata x join accounts a on a.id = x.account_id"
            " where a.name = :'a' and x.value = 'blue'", a=self.addr), [["0"]])
        self.ok(self.r, "c", "CREATE Moved/Child")
        got, _ = self.get("Moved/Child /private/color")
        self.assertEqual(got, [])
        # Renaming INBOX: the new mailbox gets a copy, INBOX keeps its own.
        self.ok(self.r, "s", 'SETMETADATA INBOX (/private/color "green")')
        self.ok(self.r, "r", "RENAME INBOX Old-Inbox")
        got, _ = self.get("Old-Inbox /private/color")
        self.assertEqual(got, [(b"Old-Inbox", {b"/private/color": b"green"})])
        got, _ = self.get("INBOX /private/color")
        self.assertEqual(got, [(b"INBOX", {b"/private/color": b"green"})])

    def test_rename_inbox_over_limit(self):
        pairs = " ".join('/private/k%d "v"' % i for i in range(600))
        self.ok(self.r, "m1", "SETMETADATA INBOX (%s)" % pairs)
        u, t = self.r.imap("r", "RENAME INBOX Copy")
        self.assertTrue(t.startswith("r NO [METADATA TOOMANY]"), t)
        u, t = self.r.imap("s", "STATUS Copy (MESSAGES)")
        self.assertTrue(t.startswith("s NO [NONEXISTENT]"), t)

    def test_set_changes_highestmodseq(self):
        u = self.ok(self.r, "a", "STATUS INBOX (HIGHESTMODSEQ)")
        before = int(re.search(r"HIGHESTMODSEQ (\d+)", u[0]).group(1))
        self.ok(self.r, "s", 'SETMETADATA INBOX (/private/comment "x")')
        u = self.ok(self.r, "b", "STATUS INBOX (HIGHESTMODSEQ)")
        self.assertGreater(int(re.search(r"HIGHESTMODSEQ (\d+)", u[0]).group(1)), before)

    def test_imaplib_client(self):
        """A real client library: imaplib with the commands registered."""
        import imaplib
        imaplib.Commands.setdefault("GETMETADATA", ("AUTH", "SELECTED"))
        imaplib.Commands.setdefault("SETMETADATA", ("AUTH", "SELECTED"))
        m = SRV.imap(self.addr, PASSWORD)
        typ, data = m._simple_command("SETMETADATA", "INBOX", '(/private/comment "from imaplib")')
        self.assertEqual(typ, "OK", data)
        typ, data = m._simple_command("GETMETADATA", "INBOX", "/private/comment")
        self.assertEqual(typ, "OK", data)
        typ, data = m._untagged_response(typ, data, "METADATA")
        self.assertEqual(data, [b'"INBOX" (/private/comment "from imaplib")'])
        m.logout()


# --------------------------------------------------------- LIST-METADATA

class ListMetadataTest(Base):

    def test_list_return_metadata(self):
        addr = self.account()
        r = self.raw(addr)
        self.ok(r, "c", "CREATE Work/Project")
        self.ok(r, "s", 'SETMETADATA INBOX (/private/color "#ff0000" /shared/comment "mail")')
        self.ok(r, "s", 'SETMETADATA Work/Project (/private/color "#00ff00")')
        self.ok(r, "s", 'SETMETADATA "" (/private/color "server")')
        u = self.ok(r, "l", 'LIST "" "*" RETURN (METADATA (/private/color /shared/comment))')
        # Each mailbox's METADATA follows its LIST line; entries without a
        # value are NIL; the server annotation is not a mailbox's.
        listed = [x for x in u if x.startswith("* LIST ")]
        self.assertGreaterEqual(len(listed), 8)
        for i, line in enumerate(u):
            if line.startswith("* LIST "):
                name = line.rstrip("\r\n").rsplit(" ", 1)[1]
                self.assertTrue(u[i + 1].startswith("* METADATA %s (" % name), (line, u[i + 1]))
        meta = dict((mb, v) for mb, v in metadata([x for x in u if x.startswith("* METADATA ")]))
        self.assertEqual(meta[b"INBOX"], {b"/private/color": b"#ff0000",
                                          b"/shared/comment": b"mail"})
        self.assertEqual(meta[b"Work/Project"], {b"/private/color": b"#00ff00",
                                                 b"/shared/comment": None})
        self.assertEqual(meta[b"Archive"], {b"/private/color": None, b"/shared/comment": None})
        self.assertEqual(len(meta), len(listed))
        # With other return options and a pattern; entries case-insensitive.
        u = self.ok(r, "l", 'LIST "" "Work/%" RETURN (STATUS (MESSAGES) METADATA (/PRIVATE/Color))')
        self.assertEqual(u, ['* LIST (\\HasNoChildren) "/" "Work/Project"\r\n',
                             '* STATUS "Work/Project" (MESSAGES 0)\r\n',
                             '* METADATA "Work/Project" (/private/color "#00ff00")\r\n'])
        # A parent that is not a mailbox itself gets no METADATA (IMAP
        # cannot make one here: DELETE refuses a mailbox with children).
        self.ok(r, "c", "CREATE Deep/Inside")
        SRV.psql("update mailboxes set parent_id = null where name = 'Deep/Inside' and"
                 " account_id = (select id from accounts where name = :'a');"
                 " delete from mailboxes where name = 'Deep' and"
                 " account_id = (select id from accounts where name = :'a')", a=addr)
        u = self.ok(r, "l", 'LIST "" "Deep*" RETURN (METADATA (/private/color))')
        self.assertEqual(u, ['* LIST (\\NonExistent \\HasChildren) "/" "Deep"\r\n',
                             '* LIST (\\HasNoChildren) "/" "Deep/Inside"\r\n',
                             '* METADATA "Deep/Inside" (/private/color NIL)\r\n'])
        # Without the option nothing changes.
        u = self.ok(r, "l", 'LIST "" INBOX')
        self.assertEqual(len(u), 1)

    def test_list_metadata_malformed(self):
        r = self.raw(self.account())
        for cmd in ('LIST "" * RETURN (METADATA)', 'LIST "" * RETURN (METADATA ())',
                    'LIST "" * RETURN (METADATA /private/a)',
                    'LIST "" * RETURN (METADATA (/private/a*))',
                    'LIST "" * RETURN (METADATA (/private/a/))',
                    'LIST "" * RETURN (METADATA ((/private/a)))',
                    'LIST "" * RETURN (METADATA (/private/a) METADATA (/private/b))',
                    'LSUB "" * RETURN (METADATA (/private/a))'):
            u, t = r.imap("m", cmd)
            self.assertTrue(t.startswith("m BAD "), (cmd, u, t))
        self.alive(r)


if __name__ == "__main__":
    import unittest
    unittest.main()
