"""The webmail program (mailstead-webmail) behind a real nginx with the
shipped locations file: mounted at /webmail/ next to the account, admin
and webapi programs, its own session cookie scoped to /webmail/, CSRF
required, host-based access as the account interface, static assets with
the favicon, and the login limiter shared with the other logins."""

import unittest

import harness
import webserver
from harness import DOMAIN, PASSWORD, USER
from webserver import WebClient

SRV = None
WEB = None


def setUpModule():
    global SRV, WEB
    SRV = harness.Server("webmail", daemons=())
    WEB = webserver.start_stack(SRV, apps=("account", "admin", "webmail", "webapi"),
                                login_failure_delay="0s")


def tearDownModule():
    webserver.stop_stack(SRV, WEB)


class WebmailMountTest(harness.TestCase):
    def client(self, host="localhost"):
        return WebClient(WEB.port, "/webmail/", host=host, source_ip=harness.fresh_ip())

    def test_page_and_assets(self):
        c = self.client()
        r = c.request("GET", "/webmail/")
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertIn(b"Mailstead webmail", r.body)
        csp = r.header("Content-Security-Policy") or ""
        self.assertIn("default-src", csp)
        self.assertNotIn("unsafe-inline", csp.split("script-src", 1)[-1].split(";", 1)[0])
        # Message HTML is shown in a sandboxed iframe of /webmail/msg/...:
        # frames of our own URLs only, and nobody frames the page.
        self.assertIn("frame-src 'self'", csp)
        self.assertIn("frame-ancestors 'none'", csp)
        for path, ctype in (("/webmail/webmail.js", "javascript"), ("/webmail/api.js", "javascript"),
                            ("/webmail/style.css", "text/css"), ("/webmail/favicon.svg", "image/svg")):
            r = c.request("GET", path)
            self.assertEqual(r.status, 200, path)
            self.assertIn(ctype, r.header("Content-Type"), path)
            self.assertTrue(r.header("ETag"), path)
        # Without the trailing slash nginx redirects, rather than letting
        # the account interface answer.
        r = c.request("GET", "/webmail")
        self.assertEqual(r.status, 301)
        self.assertTrue(r.header("Location").endswith("/webmail/"), r.header("Location"))

    def test_login_session_cookie_and_csrf(self):
        c = self.client()
        self.assertEqual(c.result("Version").split()[0], "mailstead")
        # Without a session: user:noAuth, which makes the page show its form.
        r = c.api("Logout")
        self.assertEqual(r.json()["error"]["code"], "user:noAuth")
        r = c.login(PASSWORD, USER)
        cookie = [v for v in r.all("Set-Cookie") if v.startswith("webmailsession=")]
        self.assertEqual(len(cookie), 1, r.all("Set-Cookie"))
        attrs = [a.strip().lower() for a in cookie[0].split(";")[1:]]
        self.assertIn("httponly", attrs)
        self.assertIn("samesite=strict", attrs)
        self.assertIn("path=/webmail/", attrs)
        # The session is the webmail's: the account interface at "/" does
        # not see the cookie (path), and the CSRF token is required.
        csrf = c.csrf
        c.csrf = None
        r = c.api("Logout")
        self.assertEqual(r.json()["error"]["code"], "user:noAuth")
        c.csrf = "wrong" + csrf
        r = c.api("Logout")
        self.assertEqual(r.json()["error"]["code"], "user:badAuth")
        c.csrf = csrf
        self.assertIsNone(c.result("Logout"))
        r = c.api("Logout")
        self.assertIn(r.json()["error"]["code"], ("user:noAuth", "user:badAuth"))

    def test_bad_password_refused(self):
        c = self.client()
        token = c.result("LoginPrep")
        r = c.api("Login", token, USER, "wrong password", csrf=False)
        self.assertEqual(r.json()["error"]["code"], "user:loginFailed")
        rows = SRV.psql_wait("SELECT count(*) FROM login_attempts WHERE protocol = 'webmail'"
                             " AND result <> 'ok'", lambda rows: int(rows[0][0]) >= 1)
        self.assertGreaterEqual(int(rows[0][0]), 1)

    def test_hosts(self):
        # The user-facing apps answer on IP addresses and the configured
        # names, and 404 for other names.
        self.assertEqual(self.client(host="127.0.0.1").request("GET", "/webmail/").status, 200)
        self.assertEqual(self.client(host="other.example").request("GET", "/webmail/").status, 404)

    def test_other_programs_still_mounted(self):
        c = WebClient(WEB.port, "/", source_ip=harness.fresh_ip())
        self.assertIn(b"Mailstead account", c.request("GET", "/").body)
        a = WebClient(WEB.port, "/admin/", source_ip=harness.fresh_ip())
        self.assertIn(b"admin", a.request("GET", "/admin/").body.lower())
        r = c.request("GET", "/webapi/v0/")
        self.assertEqual(r.status, 200)


if __name__ == "__main__":
    unittest.main()
