"""The webmail's changing methods (fcgi/webmail/webmail_change.c) as an IMAP
client sees their effect: messages delivered over SMTP are moved, flagged,
removed and marked read through the JSON API, mailboxes are created,
renamed, emptied, removed and given special uses; an IMAP session in IDLE
hears of each change; another account's ids are refused."""

import re
import socket
import unittest

import harness
import webserver
from harness import OTHER, OTHER_PASSWORD, PASSWORD, USER, fetch_by_uid, flags_of, unique
from webserver import WebClient

SRV = None
WEB = None


def setUpModule():
    global SRV, WEB
    # SPF passes for lists.example: its list messages are verified.
    SRV = harness.Server("webmailchange", daemons=("smtpd", "imapd"),
                         dns_zone='lists.example. IN TXT "v=spf1 ip4:127.0.0.0/8 -all"\n')
    WEB = webserver.start_stack(SRV, apps=("webmail",), login_failure_delay="0s")


def tearDownModule():
    webserver.stop_stack(SRV, WEB)


def mailbox_id(name, account=USER):
    rows = SRV.psql("SELECT mb.id FROM mailboxes mb JOIN accounts a ON a.id = mb.account_id"
                    " WHERE a.name = :'a' AND mb.name = :'mb'", a=account, mb=name)
    return int(rows[0][0]) if rows else None


def deliver(subject=None, to=USER, extra_headers=()):
    """Deliver a message over SMTP; returns (webmail message id, Message-ID)."""
    msg, mid = harness.make_message(subject=subject or unique("wm"), to=to,
                                    extra_headers=extra_headers)
    code, _ = SRV.deliver(msg, rcpts=(to,))
    assert code == 250, code
    rows = SRV.psql("SELECT id FROM messages WHERE message_id = :'m'", m=mid.strip("<>").lower())
    return int(rows[0][0]), mid


def imap_find(imap, mailbox, mid):
    """UID and flags of the message with Message-ID mid in mailbox, or None."""
    typ, data = imap.select('"%s"' % mailbox)
    assert typ == "OK", (mailbox, data)
    uids = harness.uid_search(imap, "HEADER", "Message-ID", mid)
    if not uids:
        return None
    got = fetch_by_uid(imap, uids[-1], "(FLAGS)")
    return uids[-1], flags_of(got[uids[-1]].get("FLAGS"))


def imap_list(imap):
    """{name: set of lower-case attributes} of LIST "" "*"."""
    typ, data = imap.list('""', "*")
    assert typ == "OK", data
    out = {}
    for line in data:
        line = line.decode()
        m = re.match(r'\(([^)]*)\) (?:"[^"]*"|NIL) (.*)$', line)
        name = m.group(2)
        if name.startswith('"'):
            name = name[1:-1]
        out[name] = set(a.lower() for a in m.group(1).split())
    return out


class Base(harness.TestCase):
    def client(self, user=USER, password=PASSWORD):
        c = WebClient(WEB.port, "/webmail/", source_ip=harness.fresh_ip())
        c.login(password, user)
        return c

    def error(self, c, method, *params):
        r = c.api(method, *params)
        j = r.json()
        self.assertIn("error", j, (method, params, j))
        return j["error"]["code"]

    def imap(self):
        m = SRV.imap()
        self.addCleanup(m.logout)
        return m


class MessageTest(Base):
    def test_move_to_junk_and_back(self):
        c = self.client()
        a, mida = deliver()
        b, midb = deliver()
        im = self.imap()
        uida, _ = imap_find(im, "INBOX", mida)
        uidb, _ = imap_find(im, "INBOX", midb)
        junk = mailbox_id("Junk")
        self.assertIsNone(c.result("MessageMove", [a, b], junk))
        # Gone from the Inbox, in Junk with new UIDs and $Junk (junk
        # training, as an IMAP MOVE to the junk mailbox does).
        self.assertIsNone(imap_find(im, "INBOX", mida))
        self.assertIsNone(imap_find(im, "INBOX", midb))
        ja, fa = imap_find(im, "Junk", mida)
        jb, fb = imap_find(im, "Junk", midb)
        self.assertIn("$junk", fa)
        self.assertNotIn("$notjunk", fa)
        self.assertIn("$junk", fb)
        self.assertLess(ja, jb)
        # Back to the Inbox: $NotJunk.
        na = SRV.psql("SELECT id FROM messages WHERE message_id = :'m'",
                      m=mida.strip("<>").lower())[0][0]
        self.assertIsNone(c.result("MessageMove", [int(na)], mailbox_id("Inbox")))
        ua, fa = imap_find(im, "INBOX", mida)
        self.assertGreater(ua, max(uida, uidb))
        self.assertIn("$notjunk", fa)
        self.assertNotIn("$junk", fa)
        self.assertIsNone(imap_find(im, "Junk", mida))
        self.assertIsNotNone(imap_find(im, "Junk", midb))

    def test_move_seen_by_idle_session(self):
        c = self.client()
        a, mida = deliver()
        b, midb = deliver()
        r = SRV.raw_imap()
        self.addCleanup(r.close)
        _, t = r.imap("l", 'LOGIN "%s" "%s"' % (USER, PASSWORD))
        self.assertTrue(t.startswith("l OK"), t)
        untagged, t = r.imap("s", "SELECT INBOX")
        self.assertTrue(t.startswith("s OK"), t)
        exists = [int(x.split()[1]) for x in untagged if x.strip().endswith("EXISTS")]
        n = exists[0]
        r.send(b"i IDLE\r\n")
        self.assertEqual(r.line(), b"+ idling\r\n")
        # A flag change arrives as FETCH, a move as two EXPUNGEs.
        self.assertIsNone(c.result("FlagsAdd", [b], ["\\Flagged"]))
        line = r.line(timeout=harness.TIMEOUT).decode()
        self.assertRegex(line, r"^\* %d FETCH \(.*\\Flagged" % n)
        self.assertIsNone(c.result("MessageMove", [a, b], mailbox_id("Archive")))
        got = []
        while len(got) < 2:
            line = r.line(timeout=harness.TIMEOUT).decode()
            m = re.match(r"^\* (\d+) EXPUNGE\r\n$", line)
            if m:
                got.append(int(m.group(1)))
        # a is message n-1 and b is n; expunging n-1 first leaves b as n-1.
        self.assertEqual(got, [n - 1, n - 1])
        r.send(b"DONE\r\n")
        _, t = r.imap_until("i")
        self.assertTrue(t.startswith("i OK"), t)
        im = self.imap()
        ub, fb = imap_find(im, "Archive", midb)
        self.assertIn("\\flagged", fb)
        self.assertIsNotNone(imap_find(im, "Archive", mida))

    def test_delete(self):
        c = self.client()
        a, mida = deliver()
        b, midb = deliver()
        im = self.imap()
        self.assertIsNone(c.result("MessageDelete", [a]))
        self.assertIsNone(imap_find(im, "INBOX", mida))
        self.assertIsNotNone(imap_find(im, "INBOX", midb))
        # Removed for good: no \Deleted left behind, a second delete is
        # "not found".
        self.assertEqual(self.error(c, "MessageDelete", [a]), "user:notFound")
        self.assertEqual(SRV.psql("SELECT count(*) FROM messages WHERE id = :'i'", i=a)[0][0], "0")

    def test_flags(self):
        c = self.client()
        a, mida = deliver()
        im = self.imap()
        self.assertIsNone(c.result("FlagsAdd", [a], ["\\Seen", "$Forwarded", "MyKeyword"]))
        _, f = imap_find(im, "INBOX", mida)
        self.assertTrue({"\\seen", "$forwarded", "mykeyword"} <= f, f)
        self.assertIsNone(c.result("FlagsClear", [a], ["\\seen", "mykeyword"]))
        _, f = imap_find(im, "INBOX", mida)
        self.assertNotIn("\\seen", f)
        self.assertNotIn("mykeyword", f)
        self.assertIn("$forwarded", f)
        for bad in (["\\Recent"], ["\\Bogus"], ["two words"], ["a(b"], [""], []):
            self.assertEqual(self.error(c, "FlagsAdd", [a], bad), "user:error", bad)
        _, f2 = imap_find(im, "INBOX", mida)
        self.assertEqual(f, f2)

    def test_malformed_params(self):
        c = self.client()
        a, _ = deliver()
        self.assertEqual(self.error(c, "MessageMove", [a]), "user:badParams")
        self.assertEqual(self.error(c, "MessageMove", ["x"], mailbox_id("Junk")), "user:badParams")
        self.assertEqual(self.error(c, "MessageMove", [0], mailbox_id("Junk")), "user:badParams")
        self.assertEqual(self.error(c, "MessageMove", [a], "Junk"), "user:badParams")
        self.assertEqual(self.error(c, "MessageMove", [], mailbox_id("Junk")), "user:error")
        self.assertEqual(self.error(c, "MessageMove", [a], 999999999), "user:notFound")
        self.assertEqual(self.error(c, "MessageMove", [a, 999999999], mailbox_id("Junk")),
                         "user:notFound")
        self.assertEqual(self.error(c, "FlagsAdd", [a], "\\Seen"), "user:badParams")
        self.assertEqual(self.error(c, "ThreadMute", [a], "yes"), "user:badParams")
        # Nothing moved by the refused calls.
        self.assertEqual(SRV.psql("SELECT mb.name FROM messages m JOIN mailboxes mb"
                                  " ON mb.id = m.mailbox_id WHERE m.id = :'i'", i=a)[0][0], "Inbox")

    def test_other_accounts_ids_refused(self):
        a, mida = deliver()
        o = self.client(OTHER, OTHER_PASSWORD)
        other_inbox = mailbox_id("Inbox", OTHER)
        self.assertEqual(self.error(o, "MessageMove", [a], other_inbox), "user:notFound")
        self.assertEqual(self.error(o, "MessageMove", [a], mailbox_id("Junk", OTHER)),
                         "user:notFound")
        self.assertEqual(self.error(o, "MessageDelete", [a]), "user:notFound")
        self.assertEqual(self.error(o, "FlagsAdd", [a], ["\\Seen"]), "user:notFound")
        self.assertEqual(self.error(o, "ThreadMute", [a], True), "user:notFound")
        for m in ("MailboxDelete", "MailboxEmpty"):
            self.assertEqual(self.error(o, m, mailbox_id("Inbox")), "user:notFound", m)
        self.assertEqual(self.error(o, "MailboxRename", mailbox_id("Archive"), "Mine"),
                         "user:notFound")
        self.assertEqual(self.error(o, "MailboxSetSpecialUse", mailbox_id("Archive"), ""),
                         "user:notFound")
        self.assertEqual(self.error(o, "MailboxesMarkRead", [mailbox_id("Inbox")]),
                         "user:notFound")
        # The owner's own move into the other account's mailbox is refused too.
        c = self.client()
        self.assertEqual(self.error(c, "MessageMove", [a], other_inbox), "user:notFound")
        im = self.imap()
        _, f = imap_find(im, "INBOX", mida)
        self.assertNotIn("\\seen", f)
        self.assertIn("Archive", imap_list(im))


class MailboxTest(Base):
    def test_create_rename_special_use_empty_delete(self):
        c = self.client()
        im = self.imap()
        base = unique("Lists")
        self.assertIsNone(c.result("MailboxCreate", base + "/Go"))
        names = imap_list(im)
        self.assertIn(base, names)
        self.assertIn(base + "/Go", names)
        self.assertEqual(self.error(c, "MailboxCreate", base + "/Go"), "user:error")
        for bad in ("", "/x", "x/", "a//b", "a*b", "a%b", "a\tb"):
            self.assertEqual(self.error(c, "MailboxCreate", bad), "user:error", bad)

        go = mailbox_id(base + "/Go")
        self.assertIsNone(c.result("MailboxRename", go, base + "/Golang"))
        names = imap_list(im)
        self.assertNotIn(base + "/Go", names)
        self.assertIn(base + "/Golang", names)
        self.assertEqual(mailbox_id(base + "/Golang"), go)
        self.assertEqual(self.error(c, "MailboxRename", go, "Archive"), "user:error")
        self.assertEqual(self.error(c, "MailboxRename", go, "a//b"), "user:error")
        self.assertEqual(self.error(c, "MailboxRename", go, "INBOX"), "user:error")

        # Special use moves from Archive to the new mailbox, then back.
        self.assertIsNone(c.result("MailboxSetSpecialUse", go, "archive"))
        names = imap_list(im)
        self.assertIn("\\archive", names[base + "/Golang"])
        self.assertNotIn("\\archive", names["Archive"])
        self.assertEqual(self.error(c, "MailboxSetSpecialUse", go, "spam"), "user:error")
        self.assertIsNone(c.result("MailboxSetSpecialUse", mailbox_id("Archive"), "archive"))
        names = imap_list(im)
        self.assertIn("\\archive", names["Archive"])
        self.assertNotIn("\\archive", names[base + "/Golang"])
        self.assertIsNone(c.result("MailboxSetSpecialUse", mailbox_id("Archive"), ""))
        self.assertNotIn("\\archive", imap_list(im)["Archive"])
        self.assertIsNone(c.result("MailboxSetSpecialUse", mailbox_id("Archive"), "archive"))

        # Empty: the messages go, the mailbox stays, UIDs keep rising.
        a, mida = deliver()
        b, midb = deliver()
        self.assertIsNone(c.result("MessageMove", [a, b], go))
        typ, data = im.select('"%s/Golang"' % base)
        self.assertEqual(int(data[0]), 2)
        im.close()
        self.assertIsNone(c.result("MailboxEmpty", go))
        typ, data = im.select('"%s/Golang"' % base)
        self.assertEqual(int(data[0]), 0)
        typ, data = im.status('"%s/Golang"' % base, "(UIDNEXT)")
        self.assertIn(b"UIDNEXT 3", data[0])
        im.close()

        # The parent has a child: refused; then the child, then the parent.
        parent = mailbox_id(base)
        self.assertEqual(self.error(c, "MailboxDelete", parent), "user:error")
        self.assertIsNone(c.result("MailboxDelete", go))
        self.assertIsNone(c.result("MailboxDelete", parent))
        names = imap_list(im)
        self.assertNotIn(base, names)
        self.assertNotIn(base + "/Golang", names)
        self.assertEqual(self.error(c, "MailboxDelete", parent), "user:notFound")

    def test_inbox_stays(self):
        c = self.client()
        inbox = mailbox_id("Inbox")
        self.assertEqual(self.error(c, "MailboxDelete", inbox), "user:error")
        self.assertEqual(self.error(c, "MailboxRename", inbox, unique("Old")), "user:error")
        self.assertIn("INBOX", imap_list(self.imap()))

    def test_mark_read(self):
        c = self.client()
        a, mida = deliver()
        b, midb = deliver()
        inbox = mailbox_id("Inbox")
        self.assertIsNone(c.result("MailboxesMarkRead", [inbox]))
        im = self.imap()
        for mid in (mida, midb):
            _, f = imap_find(im, "INBOX", mid)
            self.assertIn("\\seen", f)
        typ, data = im.status("INBOX", "(UNSEEN)")
        self.assertIn(b"UNSEEN 0", data[0])
        self.assertEqual(self.error(c, "MailboxesMarkRead", [inbox, 999999999]), "user:notFound")


class ThreadSettingsTest(Base):
    def test_collapse_and_mute(self):
        c = self.client()
        a, mida = deliver()
        self.assertIsNone(c.result("ThreadCollapse", [a], True))
        row = SRV.psql("SELECT thread_collapsed, thread_muted FROM messages WHERE id = :'i'", i=a)
        self.assertEqual(row[0], ["t", "f"])
        self.assertIsNone(c.result("ThreadCollapse", [a], False))
        self.assertIsNone(c.result("ThreadMute", [a], True))
        row = SRV.psql("SELECT thread_collapsed, thread_muted FROM messages WHERE id = :'i'", i=a)
        self.assertEqual(row[0], ["t", "t"])
        _, f = imap_find(self.imap(), "INBOX", mida)
        self.assertIn("\\seen", f)
        self.assertIsNone(c.result("ThreadMute", [a], False))
        row = SRV.psql("SELECT thread_muted FROM messages WHERE id = :'i'", i=a)
        self.assertEqual(row[0], ["f"])

    def test_muted_thread_replies_arrive_read(self):
        c = self.client()
        p, midp = deliver()
        r1, mid1 = deliver(extra_headers=("In-Reply-To: %s" % midp, "References: %s" % midp))
        rows = SRV.psql("SELECT thread_id FROM messages WHERE id IN (:'a', :'b') ORDER BY id",
                        a=p, b=r1)
        self.assertEqual(rows, [[str(p)], [str(p)]])
        im = self.imap()
        _, f = imap_find(im, "INBOX", mid1)
        self.assertNotIn("\\seen", f)
        self.assertIsNone(c.result("ThreadMute", [p], True))
        for mid in (midp, mid1):
            _, f = imap_find(im, "INBOX", mid)
            self.assertIn("\\seen", f)
        typ, data = im.status("INBOX", "(UNSEEN)")
        unseen = data[0]
        # A reply to the reply, naming only the grandparent in References
        # with the parent in In-Reply-To: in the thread, muted, read.
        r2, mid2 = deliver(extra_headers=("In-Reply-To: %s" % mid1,
                                          "References: %s %s" % (midp, mid1)))
        _, f = imap_find(im, "INBOX", mid2)
        self.assertIn("\\seen", f)
        row = SRV.psql("SELECT thread_id, thread_muted, thread_collapsed,"
                       " array_to_string(thread_parent_ids, ',') FROM messages WHERE id = :'i'", i=r2)
        self.assertEqual(row[0], [str(p), "t", "t", "%d,%d" % (r1, p)])
        typ, data = im.status("INBOX", "(UNSEEN)")
        self.assertEqual(data[0], unseen)
        # Unmuted: the next reply arrives unread again; an unrelated
        # message starts a thread of its own.
        self.assertIsNone(c.result("ThreadMute", [r2], False))
        r3, mid3 = deliver(extra_headers=("In-Reply-To: %s" % mid2,))
        _, f = imap_find(im, "INBOX", mid3)
        self.assertNotIn("\\seen", f)
        q, midq = deliver(extra_headers=("In-Reply-To: <unknown@example.net>",))
        self.assertEqual(SRV.psql("SELECT thread_id FROM messages WHERE id = :'i'", i=q)[0],
                         [str(q)])

    def test_settings(self):
        c = self.client()
        s = {"signature": "-- \nme", "quoting": "top", "showAddressSecurity": True,
             "showHTML": False, "noShowShortcuts": True, "showHeaders": ["List-Id", "X-Mailer"]}
        self.assertIsNone(c.result("SettingsSave", s))
        row = SRV.psql("SELECT signature, quoting, show_address_security, show_html,"
                       " no_show_shortcuts, array_to_string(show_headers, ',') FROM webmail_settings"
                       " ws JOIN accounts a ON a.id = ws.account_id WHERE a.name = :'a'", a=USER)
        self.assertEqual(row[0], ["-- \nme", "top", "t", "f", "t", "List-Id,X-Mailer"])
        for key, val, code in (("quoting", "left", "user:error"), ("showHTML", "yes", "user:badParams"),
                               ("showHeaders", ["Bad Name"], "user:error"),
                               ("showHeaders", [1], "user:badParams")):
            bad = dict(s, **{key: val})
            self.assertEqual(self.error(c, "SettingsSave", bad), code, key)
        bad = dict(s)
        del bad["signature"]
        self.assertEqual(self.error(c, "SettingsSave", bad), "user:badParams")
        row = SRV.psql("SELECT quoting FROM webmail_settings ws JOIN accounts a"
                       " ON a.id = ws.account_id WHERE a.name = :'a'", a=USER)
        self.assertEqual(row[0], ["top"])

    def test_ruleset_never(self):
        c = self.client()
        self.assertIsNone(c.result("RulesetMessageNever", USER, "list.example.net", "", False))
        self.assertIsNone(c.result("RulesetMailboxNever", mailbox_id("Sent"), True))
        self.assertEqual(self.error(c, "RulesetMessageNever", USER, "", "", False), "user:error")
        self.assertEqual(self.error(c, "RulesetMailboxNever", mailbox_id("Inbox", OTHER), True),
                         "user:notFound")
        rows = SRV.psql("SELECT list_id, mailbox_id IS NOT NULL, to_inbox FROM webmail_ruleset_never"
                        " ORDER BY id")
        self.assertIn(["list.example.net", "f", "f"], rows)
        self.assertIn(["", "t", "t"], rows)


class RulesetTest(Base):
    def test_suggest_add_remove(self):
        # A move gives messages new ids: the page asks for a suggestion
        # with the id it is about to move.
        c = self.client()
        inbox, archive = mailbox_id("Inbox"), mailbox_id("Archive")
        frm = "news-%s@example.net" % unique("x").split("-")[1]
        a, mida = deliver_from(frm)
        s = c.result("RulesetSuggestMove", a, inbox, archive)
        self.assertIsNotNone(s)
        self.assertEqual((s["rcptTo"], s["msgFrom"], s["listID"], s["toMailbox"], s["alreadyExists"]),
                         (USER, frm, "", "Archive", False))
        rs = s["ruleset"]
        self.assertEqual(rs["mailbox"], "Archive")
        self.assertEqual(rs["msgFromRegexp"], "^%s$" % frm.replace(".", "\\."))
        self.assertTrue(rs["comment"].startswith("by webmail on "))
        self.assertIsNone(c.result("MessageMove", [a], archive))
        # Moves between other mailboxes get no suggestion.
        a2 = latest(archive)
        self.assertIsNone(c.result("RulesetSuggestMove", a2, archive, mailbox_id("Trash")))

        self.assertIsNone(c.result("RulesetAdd", USER, rs))
        b, midb = deliver_from(frm)
        im = self.imap()
        self.assertIsNone(imap_find(im, "INBOX", midb))
        self.assertIsNotNone(imap_find(im, "Archive", midb))
        # The rule exists now: moving back to the Inbox suggests removing
        # it; moving to the Archive suggests nothing.
        s = c.result("RulesetSuggestMove", b, archive, inbox)
        self.assertTrue(s["alreadyExists"])
        self.assertEqual(s["ruleset"]["mailbox"], "Archive")
        self.assertIsNone(c.result("MessageMove", [b], inbox))
        b2 = latest(inbox)
        self.assertIsNone(c.result("RulesetSuggestMove", b2, inbox, archive))
        self.assertIsNone(c.result("RulesetRemove", USER, s["ruleset"]))
        self.assertEqual(self.error(c, "RulesetRemove", USER, s["ruleset"]), "user:notFound")
        d, midd = deliver_from(frm)
        self.assertIsNotNone(imap_find(im, "INBOX", midd))
        self.assertIsNotNone(c.result("RulesetSuggestMove", d, inbox, archive))

        # "Never" for this sender: no more suggestions.
        self.assertIsNone(c.result("RulesetMessageNever", USER, "", frm, False))
        self.assertIsNone(c.result("RulesetSuggestMove", d, inbox, archive))

    def test_suggest_list(self):
        c = self.client()
        inbox, archive = mailbox_id("Inbox"), mailbox_id("Archive")
        lid = "%s.lists.example" % unique("go").split("-")[1]
        hdr = ("List-Id: Go News <%s>" % lid,)
        a, _ = deliver_from("news@lists.example", extra_headers=hdr)
        s = c.result("RulesetSuggestMove", a, inbox, archive)
        self.assertEqual((s["listID"], s["msgFrom"], s["alreadyExists"]), (lid, "", False))
        rs = s["ruleset"]
        self.assertEqual(rs["headersRegexp"], {"^list-id$": "<%s>$" % lid.replace(".", "\\.")})
        self.assertEqual(rs["listAllowDomain"], "lists.example")
        self.assertEqual(rs["msgFromRegexp"], "")
        self.assertIsNone(c.result("RulesetAdd", USER, rs))
        b, midb = deliver_from("news@lists.example", extra_headers=hdr)
        self.assertIsNotNone(imap_find(self.imap(), "Archive", midb))
        # The same List-Id from a sender whose domain is not verified, or
        # two List-Id fields: no list suggestion.
        d, _ = deliver_from("x@example.net", extra_headers=("List-Id: <%s>" % unique("l"),))
        self.assertIsNone(c.result("RulesetSuggestMove", d, inbox, archive))
        e, _ = deliver_from("news@lists.example", extra_headers=hdr + ("List-Id: <other.lists.example>",))
        self.assertIsNone(c.result("RulesetSuggestMove", e, inbox, archive))
        # "Never" for the list.
        self.assertIsNone(c.result("RulesetRemove", USER, rs))
        f, _ = deliver_from("news@lists.example", extra_headers=hdr)
        self.assertIsNotNone(c.result("RulesetSuggestMove", f, inbox, archive))
        self.assertIsNone(c.result("RulesetMessageNever", USER, lid, "", False))
        self.assertIsNone(c.result("RulesetSuggestMove", f, inbox, archive))

    def test_refused(self):
        c = self.client()
        good = {"msgFromRegexp": "^x@example\\.net$", "mailbox": "Archive"}
        self.assertEqual(self.error(c, "RulesetAdd", OTHER, good), "user:notFound")
        self.assertEqual(self.error(c, "RulesetAdd", USER, {"mailbox": "Archive"}), "user:error")
        self.assertEqual(self.error(c, "RulesetAdd", USER, dict(good, msgFromRegexp="(")),
                         "user:error")
        self.assertEqual(self.error(c, "RulesetAdd", USER, dict(good, mailbox="a//b")), "user:error")
        self.assertEqual(self.error(c, "RulesetAdd", USER, dict(good, isForward="yes")),
                         "user:badParams")
        self.assertEqual(self.error(c, "RulesetAdd", USER, dict(good, headersRegexp=[])),
                         "user:badParams")
        self.assertEqual(SRV.psql("SELECT count(*) FROM rulesets WHERE msg_from_regexp = :'r'",
                                  r=good["msgFromRegexp"])[0][0], "0")
        a, _ = deliver()
        o = self.client(OTHER, OTHER_PASSWORD)
        self.assertEqual(self.error(o, "RulesetSuggestMove", a, mailbox_id("Inbox", OTHER),
                                    mailbox_id("Archive", OTHER)), "user:notFound")


def latest(mailbox):
    """Id of the message with the highest UID in the mailbox."""
    return int(SRV.psql("SELECT id FROM messages WHERE mailbox_id = :'m' ORDER BY uid DESC LIMIT 1",
                        m=mailbox)[0][0])


def deliver_from(frm, extra_headers=()):
    msg, mid = harness.make_message(frm=frm, extra_headers=extra_headers)
    code, _ = SRV.deliver(msg, mail_from=frm)
    assert code == 250, code
    rows = SRV.psql("SELECT id FROM messages WHERE message_id = :'m'", m=mid.strip("<>").lower())
    return int(rows[0][0]), mid


if __name__ == "__main__":
    unittest.main()
