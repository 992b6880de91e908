"""IMAP: login and SASL PLAIN, LIST with special-use, SELECT/EXAMINE, every
FETCH item we implement, STORE, SEARCH, EXPUNGE, CLOSE, literals and
persistence across connections. Messages arrive through smtpd."""

import base64
import datetime
import imaplib
import socket
import time

import harness
from harness import PASSWORD, USER, fetch_by_uid, flags_of, make_message, uid_search, unique

srv = None


def setUpModule():
    global srv
    srv = harness.Server("imap").start()


def tearDownModule():
    if srv:
        srv.stop()


def fresh_account(n_messages=0):
    """A new account (so the test controls its mailbox state) with
    n_messages delivered to its INBOX. Returns (address, password, [msgs])."""
    addr = "%s@example.org" % unique("imap")
    pw = unique("pw")
    srv.add_account(addr, pw)
    msgs = []
    for i in range(n_messages):
        msg, _ = make_message(to=addr, subject="message %d %s" % (i + 1, unique()))
        code, resp = srv.deliver(msg, rcpts=[addr])
        if code != 250:
            raise AssertionError("delivery failed: %d %r" % (code, resp))
        msgs.append(msg)
    return addr, pw, msgs


def seq_uids(m):
    """[(seq, uid)] of the selected mailbox."""
    typ, data = m.fetch("1:*", "(UID)")
    assert typ == "OK", (typ, data)
    return sorted((seq, int(it["UID"])) for seq, it in harness.parse_fetch(data))


MULTIPART = (
    b"From: \"Alice Example\" <alice@example.net>\r\n"
    b"Reply-To: replies@example.net\r\n"
    b"To: Bob <bob@example.org>, carol@example.org\r\n"
    b"Cc: dave@example.com\r\n"
    b"Subject: Multipart test\r\n"
    b"Date: Mon, 02 Jan 2023 10:00:00 +0000\r\n"
    b"Message-ID: <multipart-1@example.net>\r\n"
    b"In-Reply-To: <parent-1@example.net>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=\"outer-b\"\r\n"
    b"\r\n"
    b"This is a MIME preamble.\r\n"
    b"--outer-b\r\n"
    b"Content-Type: multipart/alternative; boundary=inner-b\r\n"
    b"\r\n"
    b"--inner-b\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 7bit\r\n"
    b"\r\n"
    b"Hello Bob,\r\ntwo lines.\r\n"
    b"\r\n--inner-b\r\n"
    b"Content-Type: text/html; charset=us-ascii\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"<p>Hello Bob</p>\r\n"
    b"\r\n--inner-b--\r\n"
    b"\r\n--outer-b\r\n"
    b"Content-Type: application/octet-stream; name=\"data.bin\"\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"Content-Disposition: attachment; filename=\"data.bin\"\r\n"
    b"\r\n"
    b"AAECAwQFBgcICQ==\r\n"
    b"\r\n--outer-b--\r\n"
    b"epilogue\r\n"
)


def params(lst):
    """body-fld-param list -> {lowername: value}"""
    if lst is None:
        return {}
    return {bytes(k).lower(): bytes(v) for k, v in zip(lst[0::2], lst[1::2])}


def up(v):
    return bytes(v).upper() if isinstance(v, bytes) else str(v).upper().encode()


class ImapTest(harness.TestCase):

    def test_capability(self):
        m = srv.imap(login=False)
        try:
            caps = set(c.upper() for c in m.capabilities)
            for c in ("IMAP4REV2", "IMAP4REV1", "LITERAL+", "SASL-IR", "AUTH=PLAIN"):
                self.assertIn(c, caps)
            typ, data = m.capability()
            self.assertEqual(typ, "OK")
        finally:
            m.shutdown()

    def test_login_wrong_password_then_right(self):
        m = srv.imap(login=False)
        try:
            with self.assertRaises(imaplib.IMAP4.error):
                m.login(USER, "wrong-password")
            with self.assertRaises(imaplib.IMAP4.error):
                m.login("nobody@example.org", PASSWORD)
            typ, _ = m.login(USER, PASSWORD)
            self.assertEqual(typ, "OK")
            typ, _ = m.select("INBOX", readonly=True)
            self.assertEqual(typ, "OK")
        finally:
            m.logout()

    def test_list_special_use(self):
        m = srv.imap()
        try:
            typ, data = m.list('""', "*")
            self.assertEqual(typ, "OK")
            boxes = {}
            for item in data:
                p = harness.ImapParser(harness.imaplib_to_wire([item]))
                attrs, _delim, name = p.value(), p.value(), p.value()
                name = name.decode() if isinstance(name, bytes) else name
                boxes[name] = set(a.lower() for a in attrs)
        finally:
            m.logout()
        self.assertIn("INBOX", [b.upper() for b in boxes])
        expected = {"Sent": "\\sent", "Drafts": "\\drafts", "Trash": "\\trash",
                    "Junk": "\\junk", "Archive": "\\archive"}
        for name, use in expected.items():
            self.assertIn(name, boxes, "LIST lacks %s: %r" % (name, boxes))
            self.assertIn(use, boxes[name], "%s lacks %s" % (name, use))
        self.assertEqual(len(boxes), 6, boxes)

    def test_select_and_examine(self):
        addr, pw, _ = fresh_account(2)
        m = srv.imap(addr, pw)
        try:
            typ, data = m.select("INBOX")
            self.assertEqual(typ, "OK")
            self.assertEqual(int(data[0]), 2)
            self.assertIn("READ-WRITE", m.untagged_responses)
            uidvalidity = int(m.untagged_responses["UIDVALIDITY"][0])
            self.assertGreater(uidvalidity, 0)
            uidnext = int(m.untagged_responses["UIDNEXT"][0])
            uids = [u for _s, u in seq_uids(m)]
            self.assertEqual(len(uids), 2)
            self.assertGreater(uidnext, max(uids))
            self.assertTrue(m.untagged_responses.get("FLAGS"), "no FLAGS in SELECT")
            m.close()

            typ, data = m.select("INBOX", readonly=True)
            self.assertEqual(typ, "OK")
            self.assertIn("READ-ONLY", m.untagged_responses)
            # BODY[] in a read-only mailbox must not set \Seen.
            fetch_by_uid(m, uids[0], "(BODY[])")
            self.assertNotIn("\\seen", flags_of(fetch_by_uid(m, uids[0], "(FLAGS)")[uids[0]]["FLAGS"]))
            typ, _ = m.uid("STORE", str(uids[0]), "+FLAGS", "(\\Flagged)")
            self.assertEqual(typ, "NO", "STORE allowed in EXAMINEd mailbox")

            typ, data = m.select("Sent")
            self.assertEqual(typ, "OK")
            self.assertEqual(int(data[0]), 0)
            typ, _ = m.select("Does-Not-Exist")
            self.assertEqual(typ, "NO")
        finally:
            m.logout()

    def test_fetch_items(self):
        addr, pw, (msg,) = fresh_account(1)
        m = srv.imap(addr, pw)
        try:
            m.select("INBOX")
            (seq, uid), = seq_uids(m)
            it = fetch_by_uid(m, uid, "(FLAGS UID INTERNALDATE RFC822.SIZE BODY.PEEK[] "
                                      "BODY.PEEK[HEADER] BODY.PEEK[TEXT])")[uid]
            full = it["BODY[]"]
            prefix, rest = harness.split_trace(full)
            self.assertEqual(rest, msg)
            self.assertTrue(prefix.startswith(b"Return-Path: <%s>\r\n" % harness.SENDER.encode()))
            self.assertEqual(flags_of(it["FLAGS"]) - {"\\recent"}, set())
            self.assertEqual(int(it["UID"]), uid)
            self.assertEqual(int(it["RFC822.SIZE"]), len(full))
            hdr_end = full.index(b"\r\n\r\n") + 4
            self.assertEqual(it["BODY[HEADER]"], full[:hdr_end])
            self.assertEqual(it["BODY[TEXT]"], full[hdr_end:])
            date = datetime.datetime.strptime(it["INTERNALDATE"].decode().strip(), "%d-%b-%Y %H:%M:%S %z")
            now = datetime.datetime.now(datetime.timezone.utc)
            self.assertLess(abs((now - date).total_seconds()), 300, it["INTERNALDATE"])
            # Sequence-number FETCH returns the same message.
            typ, data = m.fetch(str(seq), "(UID RFC822.SIZE)")
            (s2, it2), = harness.parse_fetch(data)
            self.assertEqual((s2, int(it2["UID"]), int(it2["RFC822.SIZE"])), (seq, uid, len(full)))
        finally:
            m.logout()

    def test_header_only_message(self):
        addr, pw, _ = fresh_account(0)
        msg = b"From: <%s>\r\nTo: <%s>\r\nSubject: no body at all\r\n" % (harness.SENDER.encode(), addr.encode())
        code, resp = srv.deliver(msg, rcpts=[addr])
        self.assertEqual(code, 250, resp)
        m = srv.imap(addr, pw)
        try:
            m.select("INBOX")
            (_, uid), = seq_uids(m)
            it = fetch_by_uid(m, uid, "(RFC822.SIZE BODY.PEEK[] BODY.PEEK[HEADER] BODY.PEEK[TEXT] "
                                      "BODYSTRUCTURE ENVELOPE)")[uid]
        finally:
            m.logout()
        self.assertEqual(harness.split_trace(it["BODY[]"])[1], msg)
        self.assertEqual(int(it["RFC822.SIZE"]), len(it["BODY[]"]))
        self.assertEqual(it["BODY[HEADER]"] + it["BODY[TEXT]"], it["BODY[]"])
        self.assertEqual(it["ENVELOPE"][1], b"no body at all")
        self.assertEqual((up(it["BODYSTRUCTURE"][0]), up(it["BODYSTRUCTURE"][1])), (b"TEXT", b"PLAIN"))

    def test_noop_reports_new_mail(self):
        addr, pw, _ = fresh_account(1)
        with srv.raw_imap() as r:
            self.assertTrue(r.imap("a1", "LOGIN %s %s" % (addr, pw))[1].startswith("a1 OK"))
            untagged, _ = r.imap("a2", "SELECT inbox")
            self.assertIn("* 1 EXISTS", [u.strip() for u in untagged], "SELECT inbox (lower case)")
            msg, _ = make_message(to=addr)
            self.assertEqual(srv.deliver(msg, rcpts=[addr])[0], 250)
            untagged, tagged = r.imap("a3", "NOOP")
            self.assertTrue(tagged.startswith("a3 OK"), tagged)
            self.assertIn("* 2 EXISTS", [u.strip() for u in untagged], "NOOP did not report new mail")

    def test_command_in_one_byte_pieces(self):
        with srv.raw_imap() as r:
            r.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            u, p = USER.encode(), PASSWORD.encode()
            data = b"t1 LOGIN {%d+}\r\n%s \"%s\"\r\nt2 EXAMINE \"INBOX\"\r\n" % (len(u), u, p)
            for i in range(len(data)):
                r.send(data[i:i + 1])
                if i % 8 == 0:
                    time.sleep(0.001)
            _, tagged = r.imap_until("t1")
            self.assertTrue(tagged.startswith("t1 OK"), tagged)
            _, tagged = r.imap_until("t2")
            self.assertTrue(tagged.startswith("t2 OK"), tagged)

    def test_body_sets_seen_peek_does_not(self):
        addr, pw, msgs = fresh_account(2)
        m = srv.imap(addr, pw)
        try:
            m.select("INBOX")
            (_, u1), (_, u2) = seq_uids(m)
            fetch_by_uid(m, u1, "(BODY.PEEK[])")
            self.assertNotIn("\\seen", flags_of(fetch_by_uid(m, u1, "(FLAGS)")[u1]["FLAGS"]))
            got = fetch_by_uid(m, u2, "(BODY[])")[u2]["BODY[]"]
            self.assertEqual(harness.split_trace(got)[1], msgs[1])
            self.assertIn("\\seen", flags_of(fetch_by_uid(m, u2, "(FLAGS)")[u2]["FLAGS"]))
            self.assertNotIn("\\seen", flags_of(fetch_by_uid(m, u1, "(FLAGS)")[u1]["FLAGS"]))
        finally:
            m.logout()
        # Persisted: a new session sees the same.
        m = srv.imap(addr, pw)
        try:
            m.select("INBOX", readonly=True)
            f = fetch_by_uid(m, "1:*", "(FLAGS)")
            self.assertNotIn("\\seen", flags_of(f[u1]["FLAGS"]))
            self.assertIn("\\seen", flags_of(f[u2]["FLAGS"]))
        finally:
            m.logout()

    def test_envelope_and_bodystructure(self):
        addr, pw, _ = fresh_account(0)
        code, resp = srv.deliver(MULTIPART, rcpts=[addr], mail_from="alice@example.net")
        self.assertEqual(code, 250, resp)
        m = srv.imap(addr, pw)
        try:
            m.select("INBOX")
            (_, uid), = seq_uids(m)
            it = fetch_by_uid(m, uid, "(ENVELOPE BODYSTRUCTURE BODY.PEEK[])")[uid]
        finally:
            m.logout()
        self.assertEqual(harness.split_trace(it["BODY[]"])[1], MULTIPART)
        env = it["ENVELOPE"]
        self.assertEqual(len(env), 10, env)
        date, subject, frm, sender, reply_to, to, cc, bcc, in_reply_to, message_id = env
        self.assertEqual(date, b"Mon, 02 Jan 2023 10:00:00 +0000")
        self.assertEqual(subject, b"Multipart test")
        self.assertEqual(frm, [[b"Alice Example", None, b"alice", b"example.net"]])
        self.assertEqual(sender, frm, "Sender defaults to From")
        self.assertEqual(reply_to, [[None, None, b"replies", b"example.net"]])
        self.assertEqual(to, [[b"Bob", None, b"bob", b"example.org"],
                              [None, None, b"carol", b"example.org"]])
        self.assertEqual(cc, [[None, None, b"dave", b"example.com"]])
        self.assertIsNone(bcc)
        self.assertEqual(in_reply_to, b"<parent-1@example.net>")
        self.assertEqual(message_id, b"<multipart-1@example.net>")

        bs = it["BODYSTRUCTURE"]
        # multipart/mixed: (alternative) (attachment) "MIXED" params ...
        self.assertIsInstance(bs[0], list)
        self.assertIsInstance(bs[1], list)
        self.assertEqual(up(bs[2]), b"MIXED")
        self.assertEqual(params(bs[3]).get(b"boundary"), b"outer-b")
        alt = bs[0]
        self.assertIsInstance(alt[0], list)
        self.assertIsInstance(alt[1], list)
        self.assertEqual(up(alt[2]), b"ALTERNATIVE")
        self.assertEqual(params(alt[3]).get(b"boundary"), b"inner-b")
        plain, html = alt[0], alt[1]
        self.assertEqual((up(plain[0]), up(plain[1])), (b"TEXT", b"PLAIN"))
        self.assertEqual(params(plain[2]).get(b"charset", b"").lower(), b"utf-8")
        self.assertEqual(up(plain[5]), b"7BIT")
        self.assertEqual(int(plain[6]), len(b"Hello Bob,\r\ntwo lines.\r\n"))
        self.assertEqual(int(plain[7]), 2, "body-fld-lines of text/plain")
        self.assertEqual((up(html[0]), up(html[1])), (b"TEXT", b"HTML"))
        self.assertEqual(up(html[5]), b"QUOTED-PRINTABLE")
        self.assertEqual(int(html[6]), len(b"<p>Hello Bob</p>\r\n"))
        self.assertEqual(int(html[7]), 1)
        att = bs[1]
        self.assertEqual((up(att[0]), up(att[1])), (b"APPLICATION", b"OCTET-STREAM"))
        self.assertEqual(params(att[2]).get(b"name"), b"data.bin")
        self.assertEqual(up(att[5]), b"BASE64")
        self.assertEqual(int(att[6]), len(b"AAECAwQFBgcICQ==\r\n"))
        # Extension data: md5, disposition, ...
        self.assertGreater(len(att), 8, "no extension data in BODYSTRUCTURE: %r" % att)
        dsp = att[8]
        self.assertIsNotNone(dsp, "no Content-Disposition in BODYSTRUCTURE")
        self.assertEqual(up(dsp[0]), b"ATTACHMENT")
        self.assertEqual(params(dsp[1]).get(b"filename"), b"data.bin")

    def test_store_flags(self):
        addr, pw, _ = fresh_account(2)
        m = srv.imap(addr, pw)
        try:
            m.select("INBOX")
            (s1, u1), (s2, u2) = seq_uids(m)
            typ, data = m.uid("STORE", str(u1), "+FLAGS", "(\\Flagged)")
            self.assertEqual(typ, "OK")
            resp = dict((harness.parse_fetch(data)))
            self.assertIn("\\flagged", flags_of(resp[s1]["FLAGS"]), "STORE without .SILENT must return FLAGS")
            typ, data = m.uid("STORE", str(u1), "+FLAGS", "(\\Seen \\Answered)")
            f = fetch_by_uid(m, u1, "(FLAGS)")[u1]["FLAGS"]
            self.assertEqual(flags_of(f) - {"\\recent"}, {"\\flagged", "\\seen", "\\answered"})
            typ, data = m.uid("STORE", str(u1), "-FLAGS", "(\\Seen)")
            f = fetch_by_uid(m, u1, "(FLAGS)")[u1]["FLAGS"]
            self.assertEqual(flags_of(f) - {"\\recent"}, {"\\flagged", "\\answered"})
            typ, data = m.uid("STORE", str(u1), "FLAGS", "(\\Draft)")
            f = fetch_by_uid(m, u1, "(FLAGS)")[u1]["FLAGS"]
            self.assertEqual(flags_of(f) - {"\\recent"}, {"\\draft"})
            # .SILENT: no FETCH response, but the change happens.
            typ, data = m.uid("STORE", str(u2), "+FLAGS.SILENT", "(\\Flagged)")
            self.assertEqual(typ, "OK")
            self.assertEqual([d for d in data if d], [], "FETCH returned for .SILENT STORE")
            typ, data = m.store(str(s2), "FLAGS.SILENT", "(\\Seen \\Flagged)")
            self.assertEqual(typ, "OK")
            self.assertEqual([d for d in data if d], [])
            typ, data = m.store(str(s2), "-FLAGS.SILENT", "(\\Flagged)")
            f = fetch_by_uid(m, u2, "(FLAGS)")[u2]["FLAGS"]
            self.assertEqual(flags_of(f) - {"\\recent"}, {"\\seen"})
        finally:
            m.logout()
        m = srv.imap(addr, pw)
        try:
            m.select("INBOX", readonly=True)
            f = fetch_by_uid(m, "1:*", "(FLAGS)")
            self.assertEqual(flags_of(f[u1]["FLAGS"]) - {"\\recent"}, {"\\draft"})
            self.assertEqual(flags_of(f[u2]["FLAGS"]) - {"\\recent"}, {"\\seen"})
        finally:
            m.logout()

    def test_store_keywords_many(self):
        # one STORE over several messages with keywords: each message keeps
        # its own other flags; another session sees the result at once
        addr, pw, _ = fresh_account(3)
        m = srv.imap(addr, pw)
        o = srv.imap(addr, pw)
        try:
            m.select("INBOX")
            o.select("INBOX")
            (s1, u1), (s2, u2), (s3, u3) = seq_uids(m)
            m.uid("STORE", str(u2), "+FLAGS.SILENT", "(\\Seen kold)")
            typ, _ = m.uid("STORE", "%d:%d" % (u1, u3), "+FLAGS.SILENT", "(ka kb \\Flagged)")
            self.assertEqual(typ, "OK")
            m.uid("STORE", "%d,%d" % (u1, u2), "-FLAGS.SILENT", "(ka)")
            want = {u1: {"kb", "\\flagged"}, u2: {"kb", "kold", "\\seen", "\\flagged"},
                    u3: {"ka", "kb", "\\flagged"}}
            for sess in (m, o):
                f = fetch_by_uid(sess, "1:*", "(FLAGS)")
                self.assertEqual({u: flags_of(f[u]["FLAGS"]) - {"\\recent"} for u in want}, want)
            typ, data = o.uid("SEARCH", None, "KEYWORD", "ka")
            self.assertEqual([int(x) for x in data[0].split()], [u3])
            typ, data = o.uid("SEARCH", None, "UNKEYWORD", "kold", "FLAGGED")
            self.assertEqual([int(x) for x in data[0].split()], [u1, u3])
        finally:
            m.logout()
            o.logout()

    def test_search(self):
        addr, pw, _ = fresh_account(4)
        m = srv.imap(addr, pw)
        try:
            m.select("INBOX")
            su = seq_uids(m)
            self.assertEqual([s for s, _ in su], [1, 2, 3, 4])
            uids = [u for _, u in su]
            m.uid("STORE", "%d,%d" % (uids[0], uids[2]), "+FLAGS.SILENT", "(\\Seen)")

            def search(*crit):
                typ, data = m.search(None, *crit)
                self.assertEqual(typ, "OK", crit)
                return [int(x) for x in b" ".join(d for d in data if d).split()]

            self.assertEqual(search("ALL"), [1, 2, 3, 4])
            self.assertEqual(search("SEEN"), [1, 3])
            self.assertEqual(search("UNSEEN"), [2, 4])
            self.assertEqual(search("2:3"), [2, 3])
            self.assertEqual(search("UID", "%d:%d" % (uids[1], uids[3])), [2, 3, 4])
            self.assertEqual(search("UID", "%d,%d" % (uids[0], uids[3])), [1, 4])
            self.assertEqual(search("SEEN", "UID", "%d:*" % uids[1]), [3])
            self.assertEqual(uid_search(m, "ALL"), uids)
            self.assertEqual(uid_search(m, "UNSEEN"), [uids[1], uids[3]])
            self.assertEqual(uid_search(m, "UID", "%d:*" % uids[2]), uids[2:])
            self.assertEqual(uid_search(m, "UID", "%d" % (uids[3] + 100)), [])
        finally:
            m.logout()

    def test_expunge(self):
        addr, pw, msgs = fresh_account(3)
        m = srv.imap(addr, pw)
        try:
            m.select("INBOX")
            (_, u1), (_, u2), (_, u3) = seq_uids(m)
            files = srv.msg_files()
            m.uid("STORE", str(u2), "+FLAGS.SILENT", "(\\Deleted)")
            typ, data = m.expunge()
            self.assertEqual(typ, "OK")
            self.assertEqual([int(x) for x in data if x], [2], "EXPUNGE responses")
            self.assertEqual(uid_search(m, "ALL"), [u1, u3])
            got = fetch_by_uid(m, "1:*", "(BODY.PEEK[])")
            self.assertEqual(harness.split_trace(got[u3]["BODY[]"])[1], msgs[2])
            # Second EXPUNGE without \Deleted messages removes nothing.
            typ, data = m.expunge()
            self.assertEqual([x for x in data if x], [])
        finally:
            m.logout()
        self.assertTrue(harness.wait_for(lambda: len(srv.msg_files()) == len(files) - 1, 5),
                        "message file not removed after EXPUNGE")
        m = srv.imap(addr, pw)
        try:
            typ, data = m.select("INBOX")
            self.assertEqual(int(data[0]), 2)
            self.assertEqual(uid_search(m, "ALL"), [u1, u3])
        finally:
            m.logout()

    def test_close_expunges_silently(self):
        addr, pw, _ = fresh_account(3)
        with srv.raw_imap() as r:
            self.assertTrue(r.imap("a1", "LOGIN %s %s" % (addr, pw))[1].startswith("a1 OK"))
            untagged, tagged = r.imap("a2", "SELECT INBOX")
            self.assertTrue(tagged.startswith("a2 OK"), tagged)
            self.assertIn("* 3 EXISTS", [u.strip() for u in untagged])
            untagged, tagged = r.imap("a3", "STORE 1,3 +FLAGS.SILENT (\\Deleted)")
            self.assertTrue(tagged.startswith("a3 OK"), tagged)
            untagged, tagged = r.imap("a4", "CLOSE")
            self.assertTrue(tagged.startswith("a4 OK"), tagged)
            self.assertFalse([u for u in untagged if "EXPUNGE" in u.upper()],
                             "CLOSE sent EXPUNGE responses: %r" % untagged)
            # No mailbox selected any more.
            _, tagged = r.imap("a5", "FETCH 1 (FLAGS)")
            self.assertRegex(tagged, r"^a5 (BAD|NO)")
            untagged, tagged = r.imap("a6", "SELECT INBOX")
            self.assertIn("* 1 EXISTS", [u.strip() for u in untagged])
            r.imap("a7", "LOGOUT")
        self.assertEqual(srv.inbox_count(addr, pw), 1)

    def test_state_persists_across_connections(self):
        addr, pw, msgs = fresh_account(2)
        m = srv.imap(addr, pw)
        try:
            m.select("INBOX")
            uidvalidity = m.untagged_responses["UIDVALIDITY"][0]
            su = seq_uids(m)
            m.uid("STORE", str(su[0][1]), "+FLAGS", "(\\Flagged \\Seen)")
        finally:
            m.logout()
        m = srv.imap(addr, pw)
        try:
            m.select("INBOX")
            self.assertEqual(m.untagged_responses["UIDVALIDITY"][0], uidvalidity)
            self.assertEqual(seq_uids(m), su)
            f = fetch_by_uid(m, "1:*", "(FLAGS BODY.PEEK[])")
            self.assertEqual(flags_of(f[su[0][1]]["FLAGS"]) - {"\\recent"}, {"\\flagged", "\\seen"})
            self.assertEqual(flags_of(f[su[1][1]]["FLAGS"]) - {"\\recent"}, set())
            self.assertEqual([harness.split_trace(f[u]["BODY[]"])[1] for _, u in su], msgs)
        finally:
            m.logout()

    def test_authenticate_plain_sasl_ir(self):
        good = base64.b64encode(b"\0" + USER.encode() + b"\0" + PASSWORD.encode()).decode()
        bad = base64.b64encode(b"\0" + USER.encode() + b"\0wrong").decode()
        with srv.raw_imap() as r:
            _, tagged = r.imap("a1", "AUTHENTICATE PLAIN " + bad)
            self.assertTrue(tagged.startswith("a1 NO"), tagged)
            _, tagged = r.imap("a2", "AUTHENTICATE PLAIN " + good)
            self.assertTrue(tagged.startswith("a2 OK"), tagged)
            _, tagged = r.imap("a3", "SELECT INBOX")
            self.assertTrue(tagged.startswith("a3 OK"), tagged)
        # Without initial response: "+" continuation, then the response.
        with srv.raw_imap() as r:
            r.send("b1 AUTHENTICATE PLAIN\r\n")
            ln = r.line()
            self.assertTrue(ln.startswith(b"+"), ln)
            r.send(good + "\r\n")
            _, tagged = r.imap_until("b1")
            self.assertTrue(tagged.startswith("b1 OK"), tagged)
        # Client cancels with "*".
        with srv.raw_imap() as r:
            r.send("c1 AUTHENTICATE PLAIN\r\n")
            self.assertTrue(r.line().startswith(b"+"))
            r.send("*\r\n")
            _, tagged = r.imap_until("c1")
            self.assertTrue(tagged.startswith("c1 BAD") or tagged.startswith("c1 NO"), tagged)
            _, tagged = r.imap("c2", "NOOP")
            self.assertTrue(tagged.startswith("c2 OK"), tagged)

    def test_sync_literals(self):
        u, p = USER.encode(), PASSWORD.encode()
        with srv.raw_imap() as r:
            r.send(b"a1 LOGIN {%d}\r\n" % len(u))
            ln = r.line(timeout=5)
            self.assertTrue(ln.startswith(b"+"), "no continuation for sync literal: %r" % ln)
            r.send(u + b" {%d}\r\n" % len(p))
            ln = r.line(timeout=5)
            self.assertTrue(ln.startswith(b"+"), ln)
            r.send(p + b"\r\n")
            _, tagged = r.imap_until("a1")
            self.assertTrue(tagged.startswith("a1 OK"), tagged)
            # The server must wait for our data after "+" (nothing else first).
            r.send(b"a2 SELECT {5}\r\n")
            ln = r.line(timeout=5)
            self.assertTrue(ln.startswith(b"+"), ln)
            self.assertTrue(r.nothing_within(0.3), "server answered before the literal arrived")
            r.send(b"INBOX\r\n")
            _, tagged = r.imap_until("a2")
            self.assertTrue(tagged.startswith("a2 OK"), tagged)

    def test_literal_plus(self):
        u, p = USER.encode(), PASSWORD.encode()
        with srv.raw_imap() as r:
            r.send(b"a1 LOGIN {%d+}\r\n%s {%d+}\r\n%s\r\n" % (len(u), u, len(p), p))
            untagged, tagged = r.imap_until("a1")
            self.assertTrue(tagged.startswith("a1 OK"), tagged)
            self.assertFalse([x for x in untagged if x.startswith("+")],
                             "continuation sent for LITERAL+: %r" % untagged)
            untagged, tagged = r.imap("a2", "EXAMINE {5+}\r\nINBOX")
            self.assertTrue(tagged.startswith("a2 OK"), tagged)
            self.assertIn("READ-ONLY", tagged.upper())

    def test_logout(self):
        with srv.raw_imap() as r:
            untagged, tagged = r.imap("z1", "LOGOUT")
            self.assertTrue(any(u.startswith("* BYE") for u in untagged), untagged)
            self.assertTrue(tagged.startswith("z1 OK"), tagged)
            self.assertTrue(r.closed())
