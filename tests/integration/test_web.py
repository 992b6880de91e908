"""The web platform through a real nginx (fastcgi_pass to mailstead-account
and mailstead-admin on unix sockets), with python http.client as the
browser: login with LoginPrep/Login, cookie flags, CSRF refusals, session
expiry and Logout, a password change ending the other sessions, failed-login
limits and login_attempts, host-based 404s, static files with ETag and gzip,
and malformed requests (bad JSON, wrong types, huge bodies, path traversal,
bad FastCGI records) answered with 4xx while the programs keep running."""

import gzip
import json
import os
import socket
import subprocess
import time
import unittest

import harness
import webserver
from harness import OTHER, OTHER_PASSWORD, PASSWORD, USER
from webserver import WebClient, error_of

SRV = None
WEB = None
ADMIN_PASSWORD = "admin-password-1"
IDLE = 4  # seconds of [web] session idle time in this suite


def setUpModule():
    global SRV, WEB
    SRV = harness.Server("web", daemons=(), tls=True)
    WEB = webserver.start_stack(SRV, admin_password=ADMIN_PASSWORD,
                                account_session_idle="%ds" % IDLE,
                                admin_session_idle="%ds" % IDLE, login_failure_delay="0s")


def tearDownModule():
    webserver.stop_stack(SRV, WEB)


def cookie_attrs(resp, name):
    for sc in resp.all("Set-Cookie"):
        if sc.startswith(name + "="):
            return [a.strip().lower() for a in sc.split(";")]
    return None


class Base(harness.TestCase):
    def run(self, result=None):
        before = len(result.failures) + len(result.errors) if result else 0
        out = super().run(result)
        if result and len(result.failures) + len(result.errors) > before and WEB:
            import sys
            sys.stderr.write("\n==== web logs ====\n%s\n" % WEB.log_tails())
        return out

    def account(self, **kw):
        kw.setdefault("source_ip", harness.fresh_ip())
        return WebClient(WEB.port, "/", **kw)

    def admin(self, **kw):
        kw.setdefault("source_ip", harness.fresh_ip())
        return WebClient(WEB.port, "/admin/", **kw)

    def assertAlive(self):
        for app in WEB.apps:
            self.assertTrue(WEB.program_alive(app), "%s is not running" % app)
        r = self.account().request("GET", "/")
        self.assertEqual(r.status, 200)


class TestLogin(Base):
    def test_login_cookies_and_account(self):
        c = self.account()
        r = c.api("LoginPrep")
        self.assertEqual(r.status, 200)
        token = r.json()["result"]
        self.assertGreaterEqual(len(token), 16)
        attrs = cookie_attrs(r, "webaccountlogin")
        self.assertIsNotNone(attrs, r.headers)
        for a in ("httponly", "samesite=strict", "path=/", "max-age=30"):
            self.assertIn(a, attrs)
        self.assertNotIn("secure", attrs, "Secure on plain HTTP")
        r = c.api("Login", token, USER, PASSWORD, csrf=False)
        self.assertEqual(r.status, 200, r.body)
        csrf = r.json()["result"]
        attrs = cookie_attrs(r, "webaccountsession")
        for a in ("httponly", "samesite=strict", "path=/"):
            self.assertIn(a, attrs)
        self.assertFalse(any(a.startswith("max-age") or a.startswith("expires") for a in attrs),
                         "session cookie must not have an expiry: %r" % attrs)
        self.assertEqual(cookie_attrs(r, "webaccountlogin")[1:].count("max-age=0"), 1,
                         "login cookie not removed")
        c.csrf = csrf
        a = c.result("Account")
        self.assertEqual(a["name"], USER)
        self.assertIn(USER, a["addresses"])
        self.assertEqual(a["loginAddress"], USER)
        # The session cookie holds no account name and no CSRF token.
        self.assertNotIn(csrf, c.cookies["webaccountsession"])
        # Only hashes of the tokens are stored.
        rows = SRV.psql("SELECT encode(token_hash, 'hex') FROM web_sessions")
        self.assertNotIn(c.cookies["webaccountsession"], json.dumps(rows))

    def test_login_over_https_sets_secure(self):
        c = WebClient(WEB.tls_port, "/", tls=True, source_ip=harness.fresh_ip())
        r = c.login(PASSWORD, USER)
        self.assertIn("secure", cookie_attrs(r, "webaccountsession"))
        self.assertEqual(c.result("Account")["name"], USER)

    def test_login_needs_loginprep_cookie(self):
        c = self.account()
        r = c.api("Login", "made-up-token", USER, PASSWORD, csrf=False)
        self.assertEqual(error_of(r), ("user:error", "missing login token"))
        # A token of another browser does not help either.
        other = self.account()
        token = other.result("LoginPrep")
        r = c.api("Login", token, USER, PASSWORD, csrf=False)
        self.assertEqual(error_of(r)[0], "user:error")
        self.assertNotIn("webaccountsession", c.cookies)

    def test_bad_password(self):
        c = self.account()
        token = c.result("LoginPrep")
        r = c.api("Login", token, USER, "wrong-password", csrf=False)
        self.assertEqual(r.status, 403)
        self.assertEqual(error_of(r)[0], "user:loginFailed")
        self.assertNotIn("webaccountsession", c.cookies)

    def test_csrf_refused(self):
        c = self.account()
        c.login(PASSWORD, USER)
        # No header: user:noAuth, as without a session.
        r = c.api("Account", csrf=False)
        self.assertEqual(r.status, 403)
        self.assertEqual(error_of(r)[0], "user:noAuth")
        self.assertIn("csrf", error_of(r)[1])
        # A wrong token: user:badAuth.
        r = c.api("Account", csrf=False, headers={"x-mailstead-csrf": "x" * 22})
        self.assertEqual(error_of(r)[0], "user:badAuth")
        # The CSRF token of another session does not fit this one.
        other = self.account()
        other.login(PASSWORD, USER)
        r = c.api("Account", csrf=False, headers={"x-mailstead-csrf": other.csrf})
        self.assertEqual(error_of(r)[0], "user:badAuth")
        # No cookie, right token: no session.
        nocookie = self.account()
        nocookie.csrf = c.csrf
        r = nocookie.api("Account")
        self.assertEqual(error_of(r), ("user:noAuth", "no session"))
        self.assertEqual(c.result("Account")["name"], USER)

    def test_logout(self):
        c = self.account()
        c.login(PASSWORD, USER)
        session = c.cookies["webaccountsession"]
        r = c.api("Logout")
        self.assertEqual(r.status, 200, r.body)
        self.assertIn("max-age=0", cookie_attrs(r, "webaccountsession"))
        self.assertNotIn("webaccountsession", c.cookies)
        # Replaying the old cookie fails.
        c.cookies["webaccountsession"] = session
        r = c.api("Account")
        self.assertEqual(error_of(r)[0], "user:badAuth")
        # Logout itself needs the session.
        r = c.api("Logout")
        self.assertEqual(error_of(r)[0], "user:badAuth")

    def test_session_expiry_and_extension(self):
        c = self.account()
        c.login(PASSWORD, USER)
        # Used every IDLE/2 seconds, the session outlives IDLE.
        for _ in range(4):
            time.sleep(IDLE / 2)
            self.assertEqual(c.result("Account")["name"], USER)
        # Idle longer than IDLE: gone, also from other processes' view
        # (the row is expired in the database).
        time.sleep(IDLE + 1.5)
        r = c.api("Account")
        self.assertEqual(error_of(r)[0], "user:badAuth")

    def test_password_change_ends_other_sessions(self):
        a, b = self.account(), self.account()
        a.login(OTHER_PASSWORD, OTHER)
        b.login(OTHER_PASSWORD, OTHER)
        u = self.account()
        u.login(PASSWORD, USER)
        self.assertEqual(b.result("Account")["name"], OTHER)
        r = a.api("SetPassword", "short")
        self.assertEqual(error_of(r)[0], "user:error")
        new = "new-other-password-3"
        try:
            self.assertIsNone(a.result("SetPassword", new))
            # The session that changed it lives on; the other does not.
            self.assertEqual(a.result("Account")["name"], OTHER)
            r = b.api("Account")
            self.assertEqual(error_of(r)[0], "user:badAuth")
            # Sessions of other accounts are untouched.
            self.assertEqual(u.result("Account")["name"], USER)
            # The new password logs in over the web and IMAP-style
            # password checks alike; the old one no longer does.
            self.account().login(new, OTHER)
            c = self.account()
            token = c.result("LoginPrep")
            self.assertEqual(error_of(c.api("Login", token, OTHER, OTHER_PASSWORD, csrf=False))[0],
                             "user:loginFailed")
        finally:
            SRV.cli("setaccountpassword", OTHER, input=OTHER_PASSWORD + "\n")
        # The command line ends web sessions too: the program's session
        # cache hears of it through a NOTIFY, a moment after the command.
        self.assertTrue(harness.wait_for(
            lambda: error_of(a.api("Account"))[0] == "user:badAuth", 5))

    def test_full_name(self):
        c = self.account()
        c.login(PASSWORD, USER)
        self.assertIsNone(c.result("AccountSaveFullName", "Jöhn <Doe>"))
        self.assertEqual(c.result("Account")["fullName"], "Jöhn <Doe>")
        self.assertEqual(SRV.psql("SELECT full_name FROM accounts WHERE name = :'n'", n=USER),
                         [["Jöhn <Doe>"]])
        r = c.api("AccountSaveFullName", "bad\nname")
        self.assertEqual(r.status, 400)
        self.assertEqual(error_of(r)[0], "user:error")

    def test_failed_logins_rate_limited_and_recorded(self):
        harness.clear_of_minute_boundary()
        ip = harness.fresh_ip()
        c = self.account(source_ip=ip)
        for _ in range(10):
            token = c.result("LoginPrep")
            r = c.api("Login", token, USER, "wrong-password", csrf=False)
            self.assertEqual(error_of(r)[0], "user:loginFailed")
        # Over the limit: refused before checking, even the right password.
        token = c.result("LoginPrep")
        r = c.api("Login", token, USER, PASSWORD, csrf=False)
        self.assertEqual(r.status, 429)
        self.assertIn("too many", error_of(r)[1])
        # Another address range is not affected.
        self.account().login(PASSWORD, USER)
        rows = SRV.psql("SELECT result, count FROM login_attempts WHERE remote_ip = :'ip'"
                        " AND protocol = 'webaccount' ORDER BY result", ip=ip)
        self.assertEqual(rows, [["badcreds", "10"], ["ratelimited", "1"]])
        # The account sees the attempts on it.
        u = self.account()
        u.login(PASSWORD, USER)
        att = u.result("LoginAttempts", 100)
        mine = [a for a in att if a["remoteIP"] == ip]
        # (The refused attempt was not checked, so it names no account.)
        self.assertEqual(sorted((a["result"], a["count"]) for a in mine), [("badcreds", 10)])
        self.assertTrue(all(a["accountName"] == USER and a["authMech"] == "weblogin" for a in att))
        self.assertTrue(any(a["result"] == "ok" for a in att))


class TestAdmin(Base):
    def test_admin_login_and_domains(self):
        self.account().login(PASSWORD, USER)
        c = self.admin()
        token = c.result("LoginPrep")
        r = c.api("Login", token, "wrong", csrf=False)
        self.assertEqual(error_of(r)[0], "user:loginFailed")
        r = c.login(ADMIN_PASSWORD)
        attrs = cookie_attrs(r, "webadminsession")
        self.assertIn("path=/admin/", attrs)
        domains = c.result("Domains")
        self.assertIn(harness.DOMAIN, [d["name"] for d in domains])
        # The admin session is not an account session and vice versa.
        acct = self.account()
        acct.cookies["webaccountsession"] = c.cookies["webadminsession"]
        acct.csrf = c.csrf
        self.assertEqual(error_of(acct.api("Account"))[0], "user:badAuth")
        att = c.result("LoginAttempts", 1000)
        self.assertTrue(any(a["protocol"] == "webadmin" and a["result"] == "badcreds" for a in att))
        self.assertTrue(any(a["protocol"] == "webaccount" for a in att))

    def test_admin_session_limit_and_new_password(self):
        clients = []
        for _ in range(11):
            c = self.admin()
            c.login(ADMIN_PASSWORD)
            clients.append(c)
        # At most 10 admin sessions: the least recently used went.
        self.assertEqual(error_of(clients[0].api("Domains"))[0], "user:badAuth")
        for c in clients[1:]:
            self.assertIsInstance(c.result("Domains"), list)
        SRV.cli("setadminpassword", input="another-admin-pw\n")
        try:
            self.assertEqual(error_of(clients[5].api("Domains"))[0], "user:badAuth")
            self.admin().login("another-admin-pw")
        finally:
            SRV.cli("setadminpassword", input=ADMIN_PASSWORD + "\n")

    def test_admin_redirect_and_page(self):
        c = self.admin()
        r = c.request("GET", "/admin")
        self.assertEqual(r.status, 301)
        self.assertTrue(r.header("Location").endswith("/admin/"))
        r = c.request("GET", "/admin/")
        self.assertEqual(r.status, 200)
        self.assertIn(b"Mailstead admin", r.body)
        csp = r.header("Content-Security-Policy")
        self.assertIn("default-src 'none'", csp)
        self.assertIn("script-src 'self'", csp)


class TestHosts(Base):
    def page(self, path, host):
        c = WebClient(WEB.port, "/", host=host, source_ip=harness.fresh_ip())
        return c.request("GET", path).status

    def test_host_based_access(self):
        for host in ("localhost", "127.0.0.1", harness.HOSTNAME, "MAIL.EXAMPLE.ORG.", "[::1]",
                     "localhost:8080"):
            self.assertEqual(self.page("/admin/", host), 200, host)
            self.assertEqual(self.page("/", host), 200, host)
        for host in ("www.example.org", "example.org", "imap.example.org"):
            self.assertEqual(self.page("/admin/", host), 404, host)
            self.assertEqual(self.page("/", host), 404, host)
        # A client-settings domain serves the account app, not the admin.
        SRV.psql("UPDATE domains SET client_settings_domain = 'imap.example.org'")
        try:
            ok = harness.wait_for(lambda: self.page("/", "imap.example.org") == 200, 10)
            self.assertTrue(ok, "account app not served on the client-settings domain")
            self.assertEqual(self.page("/admin/", "imap.example.org"), 404)
            self.assertEqual(self.page("/", "www.example.org"), 404)
            c = WebClient(WEB.port, "/", host="imap.example.org", source_ip=harness.fresh_ip())
            c.login(PASSWORD, USER)
            self.assertEqual(c.result("Account")["name"], USER)
            # The API is host-checked too.
            c.host = "www.example.org"
            self.assertEqual(c.api("Account").status, 404)
        finally:
            SRV.psql("UPDATE domains SET client_settings_domain = NULL")


class TestStatic(Base):
    def test_etag_cache_and_gzip(self):
        c = self.account()
        with open(os.path.join(harness.TOP_SRCDIR, "www", "common", "api.js"), "rb") as f:
            want = f.read()
        r = c.request("GET", "/api.js")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, want)
        self.assertTrue(r.header("Content-Type").startswith("text/javascript"))
        self.assertEqual(r.header("Cache-Control"), "no-cache")
        etag = r.header("ETag")
        self.assertRegex(etag, r'^"[0-9a-f]+"$')
        r = c.request("GET", "/api.js", headers={"If-None-Match": etag})
        self.assertEqual(r.status, 304)
        self.assertEqual(r.body, b"")
        r = c.request("GET", "/api.js", headers={"Accept-Encoding": "gzip"})
        self.assertEqual(r.header("Content-Encoding"), "gzip")
        self.assertEqual(gzip.decompress(r.body), want)
        self.assertLess(len(r.body), len(want))
        r = c.request("GET", "/api.js", headers={"Accept-Encoding": "gzip;q=0"})
        self.assertIsNone(r.header("Content-Encoding"))
        # Per-app files and the shared ones under the admin prefix.
        self.assertEqual(self.admin().request("GET", "/admin/admin.js").status, 200)
        self.assertEqual(self.admin().request("GET", "/admin/style.css").status, 200)
        self.assertEqual(c.request("GET", "/admin.js").status, 404)
        self.assertEqual(c.request("GET", "/favicon.svg").status, 200)
        self.assertEqual(c.request("GET", "/nope.js").status, 404)

    def test_account_page(self):
        r = self.account().request("GET", "/")
        self.assertEqual(r.status, 200)
        self.assertIn(b"Mailstead account", r.body)
        self.assertIn("script-src 'self'", r.header("Content-Security-Policy"))
        self.assertEqual(r.header("X-Content-Type-Options"), "nosniff")


class TestSpawnFcgi(Base):
    def test_socket_on_stdin(self):
        """spawn-fcgi hands the program its listening socket as fd 0; the
        program then serves there instead of its configured socket."""
        spawn = harness.require_tool("spawn-fcgi", "spawn-fcgi")
        sock = os.path.join(WEB.sockdir, "spawned.sock")
        logf = open(SRV.logpath("spawned"), "ab")
        proc = subprocess.Popen([spawn, "-n", "-s", sock, "-M", "0666", "--", webserver.FCGI["admin"],
                                 "-c", SRV.conf], stdout=logf, stderr=subprocess.STDOUT)
        logf.close()
        try:
            params = [(b"REQUEST_METHOD", b"POST"), (b"REQUEST_URI", b"/admin/api/Version"),
                      (b"HTTP_HOST", b"localhost"), (b"CONTENT_LENGTH", b"14")]

            def answer():
                try:
                    return webserver.fcgi_exchange(sock, webserver.fcgi_request(params, b'{"params": []}'))
                except OSError:
                    return None
            out = harness.wait_for(answer, 20, 0.2)
            self.assertIsNotNone(out, harness.tail(SRV.logpath("spawned")))
            self.assertTrue(out.startswith(b"Status: 200"), out[:200])
            self.assertIn(b'"result":"mailstead ', out)
            # The configured socket still belongs to the nginx-facing program.
            self.assertTrue(WEB.program_alive("admin"))
        finally:
            proc.terminate()
            proc.wait(10)


class TestMalformed(Base):
    def raw(self, data, port=None):
        """Send raw bytes to nginx; return the status code of the answer."""
        s = socket.create_connection(("127.0.0.1", port or WEB.port), timeout=harness.TIMEOUT)
        try:
            s.sendall(data)
            buf = b""
            while b"\r\n" not in buf:
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
        finally:
            s.close()
        line = buf.split(b"\r\n", 1)[0]
        return int(line.split()[1]) if line.startswith(b"HTTP/") else None

    def test_bad_json_and_params(self):
        c = self.account()
        c.login(PASSWORD, USER)
        for body, code in ((b"", "user:badRequest"), (b"{", "user:badRequest"),
                           (b"[]", "user:badRequest"), (b'{"params": 1}', "user:badRequest"),
                           (b'{"params": []} trailing', "user:badRequest"),
                           (b'{"params": ["\xff"]}', "user:badRequest"),
                           (b"{" * 5000, "user:badRequest"),
                           (b'{"params": [5]}', "user:badParams"),
                           (b'{"params": []}', "user:badParams"),
                           (b'{"params": ["a", "b"]}', "user:badParams")):
            r = c.api("AccountSaveFullName", raw_body=body)
            self.assertEqual(r.status, 400, body[:50])
            self.assertEqual(error_of(r)[0], code, body[:50])
        r = c.api("AccountSaveFullName", 5)
        self.assertIn("parameter 1 (fullName)", error_of(r)[1])
        self.assertIn("string", error_of(r)[1])
        r = c.api("LoginAttempts", 1.5)
        self.assertEqual(error_of(r)[0], "user:badParams")
        r = c.api("LoginAttempts", 10 ** 30)
        self.assertEqual(error_of(r)[0], "user:badParams")
        r = c.api("NoSuchMethod")
        self.assertEqual(r.status, 404)
        self.assertEqual(error_of(r)[0], "user:notFound")
        r = c.request("GET", "/api/Account")
        self.assertEqual(r.status, 405)
        # Nothing above changed the account.
        self.assertEqual(c.result("Account")["name"], USER)
        self.assertAlive()

    def test_huge_bodies(self):
        c = self.account()
        # Over [web] max_body (1m), under nginx's limit: the program says 413.
        r = c.api("Version", raw_body=b"x" * (1536 * 1024))
        self.assertEqual(r.status, 413)
        # Over nginx's client_max_body_size: nginx says 413.
        c.close()
        r = c.api("Version", raw_body=b"x" * (3 * 1024 * 1024))
        self.assertEqual(r.status, 413)
        c.close()
        self.assertEqual(c.result("Version").split()[0], "mailstead")
        self.assertAlive()

    def test_path_traversal(self):
        for path in (b"/../etc/passwd", b"/%2e%2e/etc/passwd", b"/a/..%2f..%2fetc/passwd",
                     b"/admin/..%2fadmin.js", b"/%2e%2e%2f%2e%2e%2fetc%2fpasswd", b"/style.css%00.js",
                     b"/.hidden", b"/admin/../../templates/admin.html", b"/a%5c..%5cb",
                     b"/%C0%AE%C0%AE/etc/passwd"):
            status = self.raw(b"GET " + path + b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            self.assertIsNotNone(status, path)
            self.assertIn(status, (400, 404), path)
        self.assertAlive()

    def test_bad_http(self):
        for data in (b"GET / HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n",
                     b"GET / HTTP/1.1\r\nHost: localhost\r\nCookie: " + b"c=v; " * 60 +
                     b"\r\nConnection: close\r\n\r\n",
                     b"GET /?" + b"a=1&" * 200 + b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
                     b"GET /?a=%zz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"):
            status = self.raw(data)
            self.assertIsNotNone(status)
            self.assertGreaterEqual(status, 400, data[:60])
            self.assertLess(status, 500, data[:60])
        self.assertAlive()

    def test_bad_fastcgi(self):
        sock = os.path.join(WEB.sockdir, "account.sock")
        good = [(b"REQUEST_METHOD", b"GET"), (b"REQUEST_URI", b"/"), (b"HTTP_HOST", b"localhost")]
        out = webserver.fcgi_exchange(sock, webserver.fcgi_request(good))
        self.assertTrue(out.startswith(b"Status: 200"), out[:100])
        for params in ([], [(b"REQUEST_URI", b"/")], [(b"REQUEST_METHOD", b"get"), (b"REQUEST_URI", b"/")],
                       [(b"REQUEST_METHOD", b"GET")],
                       [(b"REQUEST_METHOD", b"GET"), (b"REQUEST_URI", b"relative")],
                       [(b"REQUEST_METHOD", b"GET"), (b"REQUEST_URI", b"/"), (b"HTTP_HOST", b"a/b")],
                       good + [(b"HTTP_X_%d" % i, b"v") for i in range(150)],
                       good + [(b"CONTENT_LENGTH", b"99999999999")],
                       good + [(b"HTTP_COOKIE", b"c=v; " * 60)],
                       good + [(b"REQUEST_URI", b"/" + b"a" * 9000)]):
            out = webserver.fcgi_exchange(sock, webserver.fcgi_request(params))
            status = int(out.split(b"\r\n", 1)[0].split()[1]) if out.startswith(b"Status:") else None
            self.assertIsNotNone(status, params[:3])
            self.assertGreaterEqual(status, 400, (params[:3], out[:80]))
            self.assertLess(status, 500, (params[:3], out[:80]))
        # Broken records: truncated, bad version, a params length past the
        # record. libfcgi drops the connection; the program lives on.
        for data in (b"\x01\x01\x00\x01\x00\x08", b"\x07" * 64, webserver.fcgi_request(good)[:30],
                     webserver.fcgi_record(1, b"\x00\x01\x00\x00\x00\x00\x00\x00") +
                     webserver.fcgi_record(4, b"\x7f\x7fabc")):
            webserver.fcgi_exchange(sock, data, timeout=3)
        out = webserver.fcgi_exchange(sock, webserver.fcgi_request(good))
        self.assertTrue(out.startswith(b"Status: 200"), out[:100])
        self.assertAlive()


if __name__ == "__main__":
    unittest.main()
