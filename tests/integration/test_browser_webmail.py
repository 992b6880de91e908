"""The webmail page in a real browser: headless Chromium (Debian package
chromium) driven by playwright-core (tests/browser/webmail-flow.js) through
nginx in front of mailstead-webmail, with smtpd and queued running. A
message is delivered by SMTP first; the user logs in, sees it in the
Inbox, opens it (its text shown, marked read), shows the HTML version of
another in its sandboxed frame, composes and sends a
message to the same account and sees it arrive in the list through the
event stream (no reload), deletes a message (to Trash, then for good from
Trash after confirming) and looks at the page on a narrow screen. Each view
is screenshot into <builddir>/tests/browser/webmail-screenshots.

playwright-core is installed as test_browser.py does;
missing chromium, node or npm is a failure, not a skip."""

import glob
import json
import os
import subprocess
import unittest

import harness
import webserver
from harness import PASSWORD, USER
from test_browser import playwright_core
from webserver import WebClient

SCRIPT = os.path.join(harness.TOP_SRCDIR, "tests", "browser", "webmail-flow.js")
SHOTS = os.path.join(harness.TOP_BUILDDIR, "tests", "browser", "webmail-screenshots")
# What the flow after the login calls, directly or through the page.
SRV = None
WEB = None


def setUpModule():
    global SRV, WEB
    SRV = harness.Server("browserwm", daemons=("smtpd", "imapd", "queued"))
    WEB = webserver.start_stack(SRV, apps=("webmail",), login_failure_delay="0s")


def tearDownModule():
    webserver.stop_stack(SRV, WEB)


def imap_subjects(mailbox):
    """The subjects of the messages in the account's mailbox."""
    m = SRV.imap(USER, PASSWORD)
    try:
        typ, data = m.select('"%s"' % mailbox, readonly=True)
        if typ != "OK":
            raise AssertionError("SELECT %s: %r" % (mailbox, data))
        if int(data[0]) == 0:
            return []
        typ, data = m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        out = []
        for item in data:
            if isinstance(item, tuple):
                line = item[1].decode("utf-8", "replace").strip()
                out.append(line.split(":", 1)[1].strip() if ":" in line else "")
        return out
    finally:
        m.logout()


class TestBrowserWebmail(harness.TestCase):
    def run_flow(self, steps):
        node = harness.require_tool("node", "nodejs")
        chromium = harness.require_tool("chromium", "chromium")
        pkg = playwright_core()
        os.makedirs(SHOTS, exist_ok=True)
        for old in glob.glob(os.path.join(SHOTS, "*.png")):
            os.unlink(old)
        subj1 = harness.unique("Delivered by SMTP")
        msg, _ = harness.make_message(subject=subj1, body="Hello webmail,\r\n\r\nfirst line of %s.\r\n" % subj1)
        code, resp = SRV.deliver(msg)
        self.assertEqual(code, 250, resp)
        subj3 = harness.unique("Newsletter")
        body = ("--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nText version of %s.\r\n"
                "--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<h1>HTML version of %s</h1>"
                "<p>With <b>markup</b>.</p>\r\n--b1--\r\n") % (subj3, subj3)
        msg, _ = harness.make_message(subject=subj3, body=body, extra_headers=(
            "MIME-Version: 1.0", 'Content-Type: multipart/alternative; boundary="b1"'))
        code, resp = SRV.deliver(msg)
        self.assertEqual(code, 250, resp)
        subj2 = harness.unique("Sent from the webmail")
        env = dict(os.environ, MS_BASE="http://127.0.0.1:%d" % WEB.port, MS_ADDRESS=USER,
                   MS_PASSWORD=PASSWORD, MS_SUBJECT1=subj1, MS_SUBJECT2=subj2,
                   MS_SUBJECT3=subj3,
                   MS_STEPS=steps, MS_SHOTS=SHOTS, PLAYWRIGHT_CORE=pkg, CHROMIUM=chromium)
        r = subprocess.run([node, SCRIPT], env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=240)
        if r.returncode != 0:
            self.fail("webmail-flow.js exit %d:\n%s\n%s\n==== web logs ====\n%s" % (
                r.returncode, r.stdout, r.stderr, WEB.log_tails()))
        result = json.loads(r.stdout.strip().splitlines()[-1])
        self.assertTrue(result["ok"])
        pngs = sorted(glob.glob(os.path.join(SHOTS, "*.png")))
        self.assertEqual(len(pngs), result["screenshots"], pngs)
        for p in pngs:
            with open(p, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n", p)
            self.assertGreater(os.path.getsize(p), 1000, p)
        return subj1, subj2, result

    def test_webmail_flow(self):
        subj1, subj2, result = self.run_flow("all")
        # Screenshots: login, inbox, message, HTML message, compose,
        # arrived, deleted (to Trash), trash, deleted for good, narrow list,
        # narrow message.
        self.assertEqual(result["screenshots"], 11)
        # What the browser did took effect on the server: the sent message
        # is in the Inbox, the delivered one is gone from every mailbox.
        inbox = imap_subjects("Inbox")
        self.assertIn(subj2, inbox)
        self.assertNotIn(subj1, inbox)
        self.assertNotIn(subj1, imap_subjects("Trash"))


if __name__ == "__main__":
    unittest.main()
