"""The webmail's sending and drafts (fcgi/webmail/webmail_submit.c) through
nginx and mailstead-webmail with a real session and CSRF header:
MessageSubmit to a local account (delivered at once, copy in Sent) and to
an external address (queued), a reply setting \\Answered and a forward
$Forwarded on the original, drafts saved and replaced in Drafts and removed
once sent, the small helper methods, and bad input answered user:error
with nothing sent."""

import re
import unittest

import harness
import webserver
from harness import OTHER, OTHER_PASSWORD, PASSWORD, USER
from webserver import WebClient

SRV = None
WEB = None
SF_ANSWERED = 1 << 1
SF_DRAFT = 1 << 4
ZONE = """
$AUTHENTIC no
plain.test. MX 10 mx.plain.test.
mx.plain.test. A 127.0.0.9
$AUTHENTIC yes
signed.test. MX 10 mx.signed.test.
mx.signed.test. A 127.0.0.9
_25._tcp.mx.signed.test. TLSA 3 1 1 %s
signedonly.test. MX 10 mx.signedonly.test.
mx.signedonly.test. A 127.0.0.9
""" % ("ab" * 32)


def setUpModule():
    global SRV, WEB
    SRV = harness.Server("wmsubmit", daemons=(), dns_zone=ZONE)
    WEB = webserver.start_stack(SRV, apps=("webmail",), login_failure_delay="0s")


def tearDownModule():
    webserver.stop_stack(SRV, WEB)


def queue_count():
    return int(SRV.psql("SELECT last_value + CASE WHEN is_called THEN 1 ELSE 0 END"
                        " FROM queue_id_seq")[0][0])


def mailbox_ids(account, mailbox):
    """Ids of the messages of account's mailbox, ascending."""
    rows = SRV.psql("SELECT m.id FROM messages m JOIN mailboxes mb ON mb.id = m.mailbox_id"
                    " JOIN accounts a ON a.id = m.account_id WHERE a.name = :'a'"
                    " AND mb.name = :'mb' ORDER BY m.id", a=account, mb=mailbox)
    return [int(r[0]) for r in rows]


def message_file(msg_id):
    """The stored message (prefix and file) of a message id."""
    rows = SRV.psql("SELECT encode(msg_prefix, 'escape'), file_path FROM messages"
                    " WHERE id = :'id'", id=msg_id)
    path = rows[0][1]
    import os
    if not os.path.isabs(path):
        path = os.path.join(SRV.dir, "data", path)
    with open(path, "rb") as f:
        return f.read()


class WebmailSubmitTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = WebClient(WEB.port, "/webmail/", source_ip=harness.fresh_ip())
        cls.c.login(PASSWORD, USER)

    def error(self, method, *params):
        r = self.c.api(method, *params)
        j = r.json()
        self.assertIn("error", j, (params, j))
        return j["error"]["code"], j["error"].get("message", "")

    def msg(self, **kw):
        m = {"from": USER, "to": [], "cc": [], "bcc": [], "replyTo": "",
             "subject": "", "textBody": "hello\n", "attachments": [],
             "isForward": False, "responseMessageID": 0, "requireTLS": None,
             "futureRelease": 0, "draftMessageID": 0}
        m.update(kw)
        return m

    def test_submit_local_and_sent_copy(self):
        inbox = mailbox_ids(OTHER, "Inbox")
        sent = mailbox_ids(USER, "Sent")
        n = queue_count()
        self.assertIsNone(self.c.result("MessageSubmit", self.msg(
            to=["Other Person <%s>" % OTHER], subject="to other",
            textBody="local delivery\n",
            attachments=[{"filename": "a.txt", "contentType": "text/plain",
                          "data": "aGVsbG8gZmlsZQ=="}])))
        new = [i for i in mailbox_ids(OTHER, "Inbox") if i not in inbox]
        self.assertEqual(len(new), 1)
        data = message_file(new[0])
        self.assertIn(b"Subject: to other", data)
        self.assertIn(b"To: Other Person <%s>" % OTHER.encode(), data)
        self.assertIn(b"local delivery", data)
        self.assertIn(b"aGVsbG8gZmlsZQ==", data)
        # Local: nothing queued; a copy in the sender's Sent.
        self.assertEqual(queue_count(), n)
        self.assertEqual(len(mailbox_ids(USER, "Sent")), len(sent) + 1)

    def test_submit_external_queued(self):
        rcpt = "someone@remote.example"
        self.assertIsNone(self.c.result("MessageSubmit", self.msg(
            to=[rcpt], bcc=["hidden@remote.example"], subject="out", requireTLS=False)))
        rows = SRV.psql("SELECT recipient_localpart, require_tls FROM queue"
                        " WHERE recipient_domain = 'remote.example' ORDER BY id DESC LIMIT 2")
        self.assertEqual(sorted(r[0] for r in rows), ["hidden", "someone"])
        self.assertTrue(all(r[1] == "f" for r in rows), rows)

    def test_reply_sets_answered_and_forward_sets_forwarded(self):
        # A message to ourselves is the original.
        before = mailbox_ids(USER, "Inbox")
        self.c.result("MessageSubmit", self.msg(to=[USER], subject="original"))
        orig = [i for i in mailbox_ids(USER, "Inbox") if i not in before][0]
        flags = lambda: SRV.psql("SELECT flags, keywords FROM messages WHERE id = :'id'",
                                 id=orig)[0]
        self.assertEqual(int(flags()[0]) & SF_ANSWERED, 0)
        before = mailbox_ids(OTHER, "Inbox")
        self.c.result("MessageSubmit", self.msg(to=[OTHER], subject="Re: original",
                                                responseMessageID=orig))
        self.assertEqual(int(flags()[0]) & SF_ANSWERED, SF_ANSWERED)
        self.assertNotIn("$forwarded", flags()[1])
        # The reply names the original (In-Reply-To, References).
        mid = re.search(rb"\nMessage-Id: (<[^>]+>)", message_file(orig), re.I).group(1)
        reply = [i for i in mailbox_ids(OTHER, "Inbox") if i not in before][0]
        data = message_file(reply)
        self.assertIn(b"In-Reply-To: " + mid + b"\r\n", data)
        self.assertIn(b"References: " + mid + b"\r\n", data)
        # A reply to the reply carries the whole chain.
        rmid = re.search(rb"\nMessage-Id: (<[^>]+>)", data, re.I).group(1)
        before = mailbox_ids(USER, "Inbox")
        other = WebClient(WEB.port, "/webmail/", source_ip=harness.fresh_ip())
        other.login(OTHER_PASSWORD, OTHER)
        other.result("MessageSubmit", self.msg(**{"from": OTHER, "to": [USER],
                                                  "responseMessageID": reply}))
        back = [i for i in mailbox_ids(USER, "Inbox") if i not in before][0]
        self.assertIn(b"References: " + mid + b"\r\n\t" + rmid + b"\r\nIn-Reply-To: " + rmid,
                      message_file(back))
        self.c.result("MessageSubmit", self.msg(to=[OTHER], subject="Fwd: original",
                                                isForward=True, responseMessageID=orig))
        self.assertIn("$forwarded", flags()[1])
        # Another account's or a missing message: not found, nothing sent.
        n = len(mailbox_ids(OTHER, "Inbox"))
        code, _ = self.error("MessageSubmit", self.msg(to=[OTHER], responseMessageID=99999999))
        self.assertEqual(code, "user:notFound")
        self.assertEqual(len(mailbox_ids(OTHER, "Inbox")), n)

    def test_forward_attachments(self):
        before = mailbox_ids(USER, "Inbox")
        self.c.result("MessageSubmit", self.msg(
            to=[USER], subject="with file",
            attachments=[{"filename": "report.csv", "contentType": "text/csv",
                          "data": "YSxiCjEsMgo="}]))
        orig = [i for i in mailbox_ids(USER, "Inbox") if i not in before][0]
        before = mailbox_ids(OTHER, "Inbox")
        self.c.result("MessageSubmit", self.msg(
            to=[OTHER], subject="Fwd: with file", isForward=True, responseMessageID=orig,
            forwardAttachments={"messageID": orig, "paths": [[1]]}))
        fwd = [i for i in mailbox_ids(OTHER, "Inbox") if i not in before][0]
        data = message_file(fwd)
        self.assertIn(b"report.csv", data)
        self.assertIn(b"text/csv", data)
        self.assertIn(b"YSxiCjEsMgo=", data)
        for bad in ({"messageID": orig, "paths": [[7]]}, {"messageID": orig, "paths": [[]]},
                    {"messageID": orig, "paths": [["x"]]}, {"messageID": orig, "paths": "x"},
                    {"messageID": "x", "paths": [[1]]}):
            code, _ = self.error("MessageSubmit", self.msg(to=[OTHER], forwardAttachments=bad))
            self.assertEqual(code, "user:error", bad)
        code, _ = self.error("MessageSubmit", self.msg(
            to=[OTHER], forwardAttachments={"messageID": 99999999, "paths": [[1]]}))
        self.assertEqual(code, "user:notFound")

    def test_drafts_save_replace_and_send(self):
        d1 = self.c.result("MessageCompose", self.msg(to=[OTHER], subject="draft one"), 0)
        self.assertIn(d1, mailbox_ids(USER, "Drafts"))
        row = SRV.psql("SELECT flags FROM messages WHERE id = :'id'", id=d1)[0]
        self.assertEqual(int(row[0]) & SF_DRAFT, SF_DRAFT)
        self.assertIn(b"draft one", message_file(d1))
        d2 = self.c.result("MessageCompose", self.msg(to=[OTHER], subject="draft two",
                                                      bcc=["b@remote.example"]), d1)
        drafts = mailbox_ids(USER, "Drafts")
        self.assertIn(d2, drafts)
        self.assertNotIn(d1, drafts)
        self.assertIn(b"Bcc: <b@remote.example>", message_file(d2))
        # MessageFindMessageID finds it by its Message-ID, with or without <>.
        mid = SRV.psql("SELECT message_id FROM messages WHERE id = :'id'", id=d2)[0][0]
        self.assertEqual(self.c.result("MessageFindMessageID", "<%s>" % mid), d2)
        self.assertEqual(self.c.result("MessageFindMessageID", mid), d2)
        self.assertEqual(self.c.result("MessageFindMessageID", "<nothing@here>"), 0)
        # Sending the draft removes it.
        self.c.result("MessageSubmit", self.msg(to=[OTHER], subject="draft two",
                                                draftMessageID=d2))
        self.assertNotIn(d2, mailbox_ids(USER, "Drafts"))
        code, _ = self.error("MessageCompose", self.msg(to=[OTHER]), 99999999)
        self.assertEqual(code, "user:notFound")
        # Drafts refuse header injection too.
        n = len(mailbox_ids(USER, "Drafts"))
        for m in (self.msg(subject="a\r\nBcc: x@remote.example"),
                  self.msg(attachments=[{"filename": "a\r\nX-Evil: 1", "data": ""}]),
                  self.msg(attachments=[{"filename": "a", "contentType": "text/plain\r\nX: 1",
                                         "data": ""}]),
                  self.msg(attachments=[{"filename": "a", "contentType": "nonsense",
                                         "data": ""}]),
                  self.msg(to=["Evil\r\n <x@remote.example>"])):
            code, _ = self.error("MessageCompose", m, 0)
            self.assertEqual(code, "user:error", m)
        self.assertEqual(len(mailbox_ids(USER, "Drafts")), n)

    def test_bad_input(self):
        n = queue_count()
        inbox = len(mailbox_ids(OTHER, "Inbox"))
        cases = [
            self.msg(to=["not an address"]),
            self.msg(to=["a@b@c"]),
            self.msg(to=["<>"]),
            self.msg(to=[OTHER], **{"from": "stranger@example.org"}),
            self.msg(to=[OTHER], **{"from": ""}),
            self.msg(to=[]),
            self.msg(to=[42]),
            self.msg(to="x@remote.example"),
            self.msg(to=[OTHER], subject="a\r\nBcc: evil@remote.example"),
            self.msg(to=[OTHER], attachments=[{"filename": "x", "data": "!!not base64"}]),
            self.msg(to=[OTHER], attachments=["x"]),
            self.msg(to=[OTHER], responseMessageID="1"),
            self.msg(to=[OTHER], isForward="yes"),
            self.msg(to=[OTHER], requireTLS="no"),
            self.msg(to=["nobody-here@example.org"]),
            self.msg(to=[OTHER], textBody=["x"]),
            self.msg(to=[OTHER], subject="x\x00y"),
        ]
        for m in cases:
            code, message = self.error("MessageSubmit", m)
            self.assertEqual(code, "user:error", (m, message))
            self.assertTrue(message)
        # Wrong parameter types are refused by the API layer.
        r = self.c.api("MessageSubmit", "not an object")
        self.assertTrue(r.json()["error"]["code"].startswith("user:"))
        self.assertEqual(queue_count(), n)
        self.assertEqual(len(mailbox_ids(OTHER, "Inbox")), inbox)

    def test_complete_recipient(self):
        self.c.result("MessageSubmit", self.msg(to=["Zed Quux <zq.complete@remote.example>"],
                                                subject="for completion"))
        res = self.c.result("CompleteRecipient", "ZQ.COMP")
        self.assertEqual(res["addresses"], ['"Zed Quux" <zq.complete@remote.example>'])
        self.assertTrue(res["complete"])
        # By display name too, and the account's own addresses.
        self.assertIn('"Zed Quux" <zq.complete@remote.example>',
                      self.c.result("CompleteRecipient", "zed")["addresses"])
        self.assertTrue(any(USER in a for a in self.c.result("CompleteRecipient",
                                                              USER[:3])["addresses"]))
        self.assertEqual(self.c.result("CompleteRecipient", "no-such-prefix-xyz"),
                         {"addresses": [], "complete": True})
        # At most 20, then complete is false.
        for i in range(21):
            self.c.result("MessageCompose", self.msg(to=["many%02d@remote.example" % i]), 0)
        res = self.c.result("CompleteRecipient", "many")
        self.assertEqual(len(res["addresses"]), 20)
        self.assertFalse(res["complete"])
        # LIKE characters are not patterns.
        self.assertEqual(self.c.result("CompleteRecipient", "%")["addresses"], [])

    def test_recipient_security(self):
        SRV.psql("INSERT INTO recipient_domain_tls (account_id, domain, starttls, requiretls)"
                 " SELECT id, 'plain.test', true, false FROM accounts WHERE name = :'a'", a=USER)
        self.assertEqual(self.c.result("RecipientSecurity", "x@plain.test"),
                         {"startTLS": "yes", "mtaSTS": "no", "dnssec": "no", "dane": "no",
                          "requireTLS": "no"})
        res = self.c.result("RecipientSecurity", "x@signed.test")
        self.assertEqual((res["dnssec"], res["dane"], res["startTLS"], res["requireTLS"]),
                         ("yes", "yes", "unknown", "unknown"))
        res = self.c.result("RecipientSecurity", "x@signedonly.test")
        self.assertEqual((res["dnssec"], res["dane"]), ("yes", "no"))
        for bad in ("", "no-at-sign", "a@b@c", "x\r\n@plain.test"):
            code, _ = self.error("RecipientSecurity", bad)
            self.assertEqual(code, "user:error", bad)

    def test_decode_mime_words(self):
        self.assertEqual(self.c.result("DecodeMIMEWords", "=?utf-8?q?caf=C3=A9?= ok"), "café ok")
        self.assertEqual(self.c.result("DecodeMIMEWords", "=?iso-8859-1?b?6Q==?="), "é")
        self.assertEqual(self.c.result("DecodeMIMEWords", "=?bogus"), "=?bogus")

    def test_from_address_settings(self):
        self.assertIsNone(self.c.result("FromAddressSettingsSave",
                                        {"fromAddress": "News@Example.COM", "viewMode": "html"}))
        self.c.result("FromAddressSettingsSave",
                      {"fromAddress": "News@EXAMPLE.com", "viewMode": "htmlexternal"})
        rows = SRV.psql("SELECT from_address, view_mode FROM webmail_from_address_settings")
        self.assertEqual(rows, [["News@example.com", "htmlexternal"]])
        code, _ = self.error("FromAddressSettingsSave", {"fromAddress": "x@y", "viewMode": "pdf"})
        self.assertEqual(code, "user:error")
        code, _ = self.error("FromAddressSettingsSave", {"fromAddress": "no", "viewMode": "text"})
        self.assertEqual(code, "user:error")


if __name__ == "__main__":
    unittest.main()
