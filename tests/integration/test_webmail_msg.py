"""The webmail's message routes (GET /webmail/msg/<id>/...) behind nginx:
a delivered multipart message with an HTML part holding a script, a
remote image and a cid: image, a text part and an attachment; raw, text,
html (remote blocked), htmlexternal (remote kept), view and download of
parts, attachments.zip; the CSP and nosniff headers on each; no access
without a session or from another account."""

import base64
import io
import unittest
import zipfile

import harness
import webserver
from harness import DOMAIN, PASSWORD, USER
from webserver import WebClient

SRV = None
WEB = None
OTHER = "msgother@" + DOMAIN
OTHER_PASSWORD = "other-password-2"

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")
ATTACHMENT = b"%PDF-1.4 not really a pdf \x00\x01\x02 bytes\n" * 20

MESSAGE = ("From: Sender <sender@example.net>\r\n"
           "To: " + USER + "\r\n"
           "Subject: webmail message routes\r\n"
           "Message-ID: <msgroutes@example.net>\r\n"
           "MIME-Version: 1.0\r\n"
           "Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
           "\r\n"
           "--outer\r\n"
           "Content-Type: multipart/alternative; boundary=\"alt\"\r\n"
           "\r\n"
           "--alt\r\n"
           "Content-Type: text/plain; charset=iso-8859-1\r\n"
           "Content-Transfer-Encoding: quoted-printable\r\n"
           "\r\n"
           "Caf=E9 <b>plain</b> text\r\n"
           "--alt\r\n"
           "Content-Type: multipart/related; boundary=\"rel\"\r\n"
           "\r\n"
           "--rel\r\n"
           "Content-Type: text/html; charset=utf-8\r\n"
           "\r\n"
           "<html><body onload=\"alert(1)\"><p>Hello <b>HTML</b></p>"
           "<script>alert('xss')</script>"
           "<img src=\"https://tracker.example/pixel.gif\" alt=\"remote\">"
           "<img src=\"cid:logo@example.net\" alt=\"logo\">"
           "<a href=\"https://example.com/page\">link</a>"
           "<a href=\"javascript:alert(2)\">bad</a></body></html>\r\n"
           "--rel\r\n"
           "Content-Type: image/png\r\n"
           "Content-ID: <logo@example.net>\r\n"
           "Content-Transfer-Encoding: base64\r\n"
           "\r\n" + base64.b64encode(PNG).decode() + "\r\n"
           "--rel--\r\n"
           "--alt--\r\n"
           "--outer\r\n"
           "Content-Type: application/pdf; name=\"report.pdf\"\r\n"
           "Content-Disposition: attachment; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22q%22.pdf\r\n"
           "Content-Transfer-Encoding: base64\r\n"
           "\r\n" + base64.encodebytes(ATTACHMENT).decode().replace("\n", "\r\n") +
           "--outer--\r\n").encode()


def setUpModule():
    global SRV, WEB
    SRV = harness.Server("webmailmsg", daemons=("smtpd",))
    WEB = webserver.start_stack(SRV, apps=("account", "webmail"), login_failure_delay="0s")
    SRV.add_account(OTHER, OTHER_PASSWORD)
    code, _ = SRV.deliver(MESSAGE)
    if code != 250:
        raise AssertionError("delivery: %d" % code)


def tearDownModule():
    webserver.stop_stack(SRV, WEB)


class WebmailMsgTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        rows = SRV.psql_wait("SELECT max(id) FROM messages WHERE size > 0",
                             lambda rows: rows and rows[0][0] not in ("", None))
        cls.msgid = int(rows[0][0])

    def client(self, user=USER, password=PASSWORD):
        c = WebClient(WEB.port, "/webmail/", source_ip=harness.fresh_ip())
        c.login(password, user)
        return c

    def get(self, c, what):
        return c.request("GET", "/webmail/msg/%d/%s" % (self.msgid, what))

    def assertSafeHeaders(self, r, what):
        self.assertEqual(r.header("X-Content-Type-Options"), "nosniff", what)
        csp = r.header("Content-Security-Policy") or ""
        self.assertIn("default-src 'none'", csp, what)
        self.assertIn("sandbox", csp, what)
        self.assertNotIn("script-src", csp, what)

    def test_raw(self):
        r = self.get(self.client(), "raw")
        self.assertEqual(r.status, 200, r.body[:200])
        self.assertTrue(r.header("Content-Type").startswith("text/plain"))
        self.assertIn(b"Subject: webmail message routes", r.body)
        self.assertIn(b"<script>alert('xss')</script>", r.body)
        self.assertSafeHeaders(r, "raw")

    def test_text(self):
        r = self.get(self.client(), "text")
        self.assertEqual(r.status, 200, r.body[:200])
        self.assertTrue(r.header("Content-Type").startswith("text/html"))
        # decoded from quoted-printable and iso-8859-1, escaped as HTML
        self.assertIn("Café &lt;b&gt;plain&lt;/b&gt; text".encode(), r.body)
        self.assertSafeHeaders(r, "text")

    def test_html_blocks_remote_and_scripts(self):
        r = self.get(self.client(), "html")
        self.assertEqual(r.status, 200, r.body[:200])
        self.assertTrue(r.header("Content-Type").startswith("text/html"))
        body = r.body.decode()
        self.assertIn("<p>Hello <b>HTML</b></p>", body)
        self.assertNotIn("<script", body)
        self.assertNotIn("alert", body)
        self.assertNotIn("onload", body)
        self.assertNotIn("javascript:", body)
        self.assertNotIn("tracker.example", body)
        self.assertIn('<img alt="remote">', body)
        # the cid: image is inline, as the sandboxed frame has no cookie
        self.assertIn('<img src="data:image/png;base64,' + base64.b64encode(PNG).decode() + '"',
                      body)
        self.assertIn('<a href="https://example.com/page" target="_blank" '
                      'rel="noopener noreferrer">link</a>', body)
        self.assertSafeHeaders(r, "html")
        csp = r.header("Content-Security-Policy")
        self.assertNotIn("http:", csp)
        self.assertNotIn("allow-scripts", csp)
        self.assertNotIn("allow-same-origin", csp)

    def test_htmlexternal_keeps_remote(self):
        r = self.get(self.client(), "htmlexternal")
        self.assertEqual(r.status, 200, r.body[:200])
        body = r.body.decode()
        self.assertIn('<img src="https://tracker.example/pixel.gif" alt="remote">', body)
        self.assertNotIn("<script", body)
        self.assertSafeHeaders(r, "htmlexternal")
        csp = r.header("Content-Security-Policy")
        self.assertIn("img-src data: http: https:", csp)
        self.assertNotIn("allow-scripts", csp)

    def test_view_and_download(self):
        c = self.client()
        # 0.0.1.1 is the image of multipart/related
        r = self.get(c, "view/0.0.1.1")
        self.assertEqual(r.status, 200, r.body[:200])
        self.assertEqual(r.header("Content-Type"), "image/png")
        self.assertEqual(r.body, PNG)
        self.assertSafeHeaders(r, "view image")
        # a PDF is not shown inline: handed over as a file
        r = self.get(c, "view/0.1")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Type"), "application/octet-stream")
        self.assertTrue(r.header("Content-Disposition").startswith("attachment;"))
        self.assertEqual(r.body, ATTACHMENT)
        r = self.get(c, "download/0.1")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, ATTACHMENT)
        cd = r.header("Content-Disposition")
        self.assertEqual(cd, "attachment; filename=\"r__sum__ _q_.pdf\"; "
                         "filename*=UTF-8''r%C3%A9sum%C3%A9%20%22q%22.pdf")
        self.assertSafeHeaders(r, "download")
        for bad in ("view/1", "view/0.9", "view/0.x", "download/", "view/0..1", "nothing"):
            self.assertEqual(self.get(c, bad).status, 404, bad)

    def test_attachments_zip(self):
        r = self.get(self.client(), "attachments.zip")
        self.assertEqual(r.status, 200, r.body[:200])
        self.assertEqual(r.header("Content-Type"), "application/zip")
        self.assertTrue(r.header("Content-Disposition").startswith("attachment;"))
        self.assertEqual(r.header("X-Content-Type-Options"), "nosniff")
        z = zipfile.ZipFile(io.BytesIO(r.body))
        files = {n: z.read(n) for n in z.namelist()}
        self.assertEqual(files.get('résumé "q".pdf'), ATTACHMENT, list(files))
        self.assertIn(PNG, files.values())

    def test_other_account_and_no_session(self):
        other = self.client(OTHER, OTHER_PASSWORD)
        for what in ("raw", "text", "html", "htmlexternal", "view/0.1", "download/0.1",
                     "attachments.zip"):
            r = self.get(other, what)
            self.assertEqual(r.status, 404, what)
            self.assertNotIn(b"webmail message routes", r.body)
            self.assertNotIn(ATTACHMENT[:20], r.body)
        anon = WebClient(WEB.port, "/webmail/", source_ip=harness.fresh_ip())
        r = self.get(anon, "raw")
        self.assertIn(r.status, (401, 403))
        self.assertNotIn(b"webmail message routes", r.body)
        self.assertEqual(other.request("GET", "/webmail/msg/999999999/raw").status, 404)


if __name__ == "__main__":
    unittest.main()
