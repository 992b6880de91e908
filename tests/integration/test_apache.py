"""The web programs behind a real Apache (the Debian apache2 package) with
the shipped contrib/apache/mailstead.conf: the file is included as it is,
with only its ports, socket directory and certificate paths rewritten, and
with exactly the modules a Debian installation has enabled plus the ones
its "a2enmod" comment names. So a mistake in the shipped file (a missing
module, a wrong ProxyPass, buffering of server-sent events, a lost
Authorization header) fails here.

Apache runs in the foreground (-DFOREGROUND) with its own ServerRoot,
PidFile and loopback ports; as root its children run as the harness's
unprivileged user, as nginx's workers do in the other web tests."""

import base64
import gzip
import http.client
import io
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import unittest
import zipfile

import harness
import webserver
from harness import HOSTNAME, PASSWORD, USER
from webserver import WebClient, error_code

SITE = os.path.join(harness.TOP_SRCDIR, "contrib", "apache", "mailstead.conf")
MODDIR = "/etc/apache2/mods-available"
# What Debian 12's apache2 package enables on installation
# (/etc/apache2/mods-enabled), in a2enmod names.
DEBIAN_DEFAULT_MODS = ("access_compat", "alias", "auth_basic", "authn_core", "authn_file",
                       "authz_core", "authz_host", "authz_user", "autoindex", "deflate", "dir",
                       "env", "filter", "mime", "mpm_event", "negotiation", "reqtimeout",
                       "setenvif", "status")
ADMIN_PASSWORD = "admin-password-1"
IMPORT_ACCOUNT = "importer@example.org"
IMPORT_PASSWORD = "importer-password-1"

SRV = None
WEB = None


def site_modules():
    """The modules the shipped file says to enable ("a2enmod ...")."""
    with open(SITE) as f:
        m = re.search(r"a2enmod ([a-z_ ]+)", f.read())
    if m is None:
        raise harness.HarnessError("%s names no modules to enable (a2enmod ...)" % SITE)
    return m.group(1).split()


class ApacheServer(webserver.WebServer):
    """The FastCGI programs as for nginx, Apache in front."""

    def __init__(self, srv, apps):
        super().__init__(srv, apps=apps)
        self.dir = os.path.join(srv.dir, "apache")
        self.apache = None

    def start(self):
        apache = harness.require_tool("apache2", "apache2")
        os.makedirs(self.sockdir, exist_ok=True)
        for sub in ("run", "logs"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        if self.srv.owner:
            harness.chown_tree(self.dir, *self.srv.owner)
            os.chown(self.sockdir, *self.srv.owner)
        for app in self.apps:
            self.start_program(app)
        self.port = harness.free_port()
        self.tls_port = harness.free_port()
        if not self.srv.tls_cert:
            self.srv.make_certificate()
        self.write_conf()
        env = dict(os.environ)
        run = os.path.join(self.dir, "run")
        # Debian's mods-available/*.conf refer to these (ssl's session cache).
        env.update(APACHE_RUN_DIR=run, APACHE_LOCK_DIR=run, APACHE_LOG_DIR=os.path.join(self.dir, "logs"),
                   APACHE_PID_FILE=os.path.join(run, "apache2.pid"))
        logf = open(self.logpath("apache"), "ab")
        self.apache = subprocess.Popen([apache, "-d", self.dir, "-f", os.path.join(self.dir, "apache2.conf"),
                                        "-DFOREGROUND"], stdin=subprocess.DEVNULL, stdout=logf,
                                       stderr=subprocess.STDOUT, env=env)
        logf.close()
        ok = harness.wait_for(lambda: self.apache.poll() is not None or
                              (harness.port_open(self.port) and harness.port_open(self.tls_port)), 30)
        if self.apache.poll() is not None or not ok:
            raise harness.HarnessError("apache did not start:\n%s\n%s" % (
                harness.tail(self.logpath("apache")),
                harness.tail(os.path.join(self.dir, "logs", "error.log"))))
        return self

    def site_conf(self):
        """The shipped site with test ports, sockets and certificate."""
        with open(SITE) as f:
            site = f.read()
        subs = ((r"<VirtualHost \*:80>", "<VirtualHost 127.0.0.1:%d>" % self.port),
                (r"<VirtualHost \*:443>", "<VirtualHost 127.0.0.1:%d>" % self.tls_port),
                (r"unix:/run/mailstead/", "unix:%s/" % self.sockdir),
                (r"(?m)^(\s*SSLCertificateFile) \S+", r"\1 " + self.srv.tls_cert),
                (r"(?m)^(\s*SSLCertificateKeyFile) \S+", r"\1 " + self.srv.tls_key))
        for pat, rep in subs:
            site, n = re.subn(pat, rep, site)
            if n == 0:
                raise harness.HarnessError("%s: nothing matches %s" % (SITE, pat))
        return site

    def write_conf(self):
        with open(os.path.join(self.dir, "mailstead-site.conf"), "w") as f:
            f.write(self.site_conf())
        run = os.path.join(self.dir, "run")
        lines = ["ServerRoot %s" % self.dir,
                 "DefaultRuntimeDir %s" % run,
                 "PidFile %s/apache2.pid" % run,
                 "Mutex file:%s default" % run,
                 "ErrorLog %s/logs/error.log" % self.dir,
                 "LogLevel warn",
                 "ServerName localhost",
                 "Listen 127.0.0.1:%d" % self.port,
                 "Listen 127.0.0.1:%d" % self.tls_port]
        if self.srv.owner:
            lines += ["User %s" % harness.RUN_USER, "Group %s" % harness.RUN_USER]
        mods = []

        def enable(m):
            # As a2enmod: a module's "# Depends:" come first.
            if m in mods:
                return
            load = os.path.join(MODDIR, m + ".load")
            if not os.path.exists(load):
                raise harness.HarnessError("no Apache module %s (%s)" % (m, load))
            with open(load) as f:
                dep = re.search(r"(?m)^# Depends: (.*)$", f.read())
            for d in (dep.group(1).split() if dep else ()):
                enable(d)
            mods.append(m)
            lines.append("Include %s" % load)
            if os.path.exists(os.path.join(MODDIR, m + ".conf")):
                lines.append("Include %s" % os.path.join(MODDIR, m + ".conf"))
        for m in DEBIAN_DEFAULT_MODS + tuple(site_modules()):
            enable(m)
        lines.append("Include %s/mailstead-site.conf" % self.dir)
        with open(os.path.join(self.dir, "apache2.conf"), "w") as f:
            f.write("\n".join(lines) + "\n")

    FRONT = "apache"
    FRONT_STOP = signal.SIGTERM

    def front_proc(self):
        return self.apache


def setUpModule():
    global SRV, WEB
    SRV = harness.Server("apache", daemons=(), tls=True)
    WEB = webserver.start_stack(SRV, apps=("account", "admin", "webmail", "webapi"), front=ApacheServer,
                                admin_password=ADMIN_PASSWORD,
                                prepare=lambda srv: srv.add_account(IMPORT_ACCOUNT,
                                                                    IMPORT_PASSWORD),
                                login_failure_delay="0s", max_import="64m")


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

    def client(self, prefix="/", **kw):
        """A browser on the TLS virtual host (the plain one only redirects)."""
        kw.setdefault("source_ip", harness.fresh_ip())
        return WebClient(WEB.tls_port, prefix, tls=True, **kw)

    def plain(self, path, host="localhost"):
        c = http.client.HTTPConnection("127.0.0.1", WEB.port, timeout=harness.TIMEOUT)
        try:
            c.request("GET", path, headers={"Host": host})
            r = c.getresponse()
            r.read()
            return r.status, r.getheader("Location")
        finally:
            c.close()


class TestVhosts(Base):
    def test_plain_http_redirects_except_acme(self):
        status, loc = self.plain("/admin/?x=1")
        self.assertEqual(status, 301)
        self.assertEqual(loc, "https://%s/admin/?x=1" % HOSTNAME)
        status, loc = self.plain("/")
        self.assertEqual((status, loc), (301, "https://%s/" % HOSTNAME))
        # ACME http-01 challenges are answered on plain HTTP (here: no
        # such file), never redirected.
        status, loc = self.plain("/.well-known/acme-challenge/token1")
        self.assertNotEqual(status, 301)
        self.assertIsNone(loc)

    def test_hsts_and_admin_redirect(self):
        c = self.client()
        r = c.request("GET", "/")
        self.assertEqual(r.status, 200)
        self.assertIn(b"Mailstead account", r.body)
        self.assertIn("max-age=", r.header("Strict-Transport-Security") or "")
        self.assertIn("script-src 'self'", r.header("Content-Security-Policy"))
        r = c.request("GET", "/admin")
        self.assertEqual(r.status, 301)
        self.assertTrue(r.header("Location").endswith("/admin/"), r.header("Location"))
        r = c.request("GET", "/webapi")
        self.assertEqual(r.status, 301)
        self.assertTrue(r.header("Location").endswith("/webapi/"), r.header("Location"))
        r = c.request("GET", "/webmail")
        self.assertEqual(r.status, 301)
        self.assertTrue(r.header("Location").endswith("/webmail/"), r.header("Location"))


class TestWebmail(Base):
    def test_login_secure_cookie(self):
        c = self.client("/webmail/")
        r = c.request("GET", "/webmail/")
        self.assertEqual(r.status, 200)
        self.assertIn(b"Mailstead webmail", r.body)
        self.assertIn("script-src 'self'", r.header("Content-Security-Policy"))
        r = c.login(PASSWORD, USER)
        attrs = cookie_attrs(r, "webmailsession")
        self.assertIsNotNone(attrs, r.all("Set-Cookie"))
        # Over TLS through Apache (HTTPS=on from mod_ssl): Secure.
        for a in ("secure", "httponly", "samesite=strict", "path=/webmail/"):
            self.assertIn(a, attrs)
        self.assertIsNone(c.result("Logout"))


class TestAccount(Base):
    def test_login_secure_cookies_and_csrf(self):
        c = self.client()
        r = c.api("LoginPrep")
        self.assertEqual(r.status, 200, r.body)
        token = r.json()["result"]
        r = c.api("Login", token, USER, PASSWORD, csrf=False)
        self.assertEqual(r.status, 200, r.body)
        c.csrf = r.json()["result"]
        # HTTPS=on from mod_ssl reaches the program: Secure cookies.
        attrs = cookie_attrs(r, "webaccountsession")
        for a in ("secure", "httponly", "samesite=strict", "path=/"):
            self.assertIn(a, attrs)
        self.assertEqual(c.result("Account")["name"], USER)
        # Without the CSRF header: refused.
        r = c.api("Account", csrf=False)
        self.assertEqual(r.status, 403)
        self.assertEqual(error_code(r), "user:noAuth")
        r = c.api("Account", csrf=False, headers={"x-mailstead-csrf": "x" * 22})
        self.assertEqual(error_code(r), "user:badAuth")
        # A cookie-less request with the right token: no session.
        other = self.client()
        other.csrf = c.csrf
        self.assertEqual(error_code(other.api("Account")), "user:noAuth")

    def test_remote_addr_reaches_the_program(self):
        """REMOTE_ADDR is the client, not Apache: the failed login is
        recorded with the client's source address."""
        ip = harness.fresh_ip()
        c = self.client(source_ip=ip)
        token = c.result("LoginPrep")
        r = c.api("Login", token, USER, "wrong-password", csrf=False)
        self.assertEqual(error_code(r), "user:loginFailed")
        rows = SRV.psql("SELECT count(*) FROM login_attempts WHERE remote_ip = :'ip'", ip=ip)
        self.assertEqual(rows, [["1"]])


class TestAdmin(Base):
    def test_admin_login(self):
        c = self.client("/admin/")
        c.login(ADMIN_PASSWORD)
        domains = json.dumps(c.result("Domains"))
        self.assertIn("example.org", domains)

    def test_host_based_access(self):
        def status(path, host):
            return self.client(host=host).request("GET", path).status
        for host in ("localhost", "127.0.0.1", HOSTNAME, "[::1]"):
            self.assertEqual(status("/admin/", host), 200, host)
            self.assertEqual(status("/", host), 200, host)
        for host in ("www.example.org", "example.org"):
            self.assertEqual(status("/admin/", host), 404, host)
            self.assertEqual(status("/", host), 404, host)
        c = self.client("/admin/", host="www.example.org")
        self.assertEqual(c.api("LoginPrep").status, 404)


class TestStatic(Base):
    def test_etag_and_gzip(self):
        with open(os.path.join(harness.TOP_SRCDIR, "www", "common", "api.js"), "rb") as f:
            want = f.read()
        c = self.client()
        r = c.request("GET", "/api.js")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, want)
        etag = r.header("ETag")
        self.assertRegex(etag or "", r'^"[0-9a-f]+"$')
        self.assertEqual(r.header("Cache-Control"), "no-cache")
        r = c.request("GET", "/api.js", headers={"If-None-Match": etag})
        self.assertEqual(r.status, 304)
        self.assertEqual(r.body, b"")
        r = c.request("GET", "/api.js", headers={"Accept-Encoding": "gzip"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Encoding"), "gzip")
        self.assertEqual(gzip.decompress(r.body), want)
        # The program's compressed answer, not compressed twice by mod_deflate.
        self.assertEqual(r.header("ETag"), etag)
        r = c.request("GET", "/admin/admin.js")
        self.assertEqual(r.status, 200)


class TestWebapi(Base):
    def call(self, user, password):
        c = http.client.HTTPSConnection("127.0.0.1", WEB.tls_port, timeout=harness.TIMEOUT,
                                        context=harness.tls_context(),
                                        source_address=(harness.fresh_ip(), 0))
        try:
            auth = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
            c.request("POST", "/webapi/v0/SuppressionList", body=b"{}",
                      headers={"Host": "localhost", "Content-Type": "application/json",
                               "Authorization": "Basic " + auth})
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def test_basic_auth_passed_through(self):
        status, body = self.call(USER, PASSWORD)
        self.assertEqual(status, 200, body)
        self.assertIn("Suppressions", json.loads(body))
        status, body = self.call(USER, "wrong-password")
        self.assertEqual(status, 401, body)


class TestLimits(Base):
    def test_request_size(self):
        c = self.client()
        # Over the program's [web] max_body (1m), under Apache's limit.
        r = c.api("Version", raw_body=b"x" * (1536 * 1024))
        self.assertEqual(r.status, 413)
        c.close()
        # Over the site's LimitRequestBody (2m): Apache refuses.
        r = c.api("Version", raw_body=b"x" * (3 * 1024 * 1024))
        self.assertEqual(r.status, 413)
        c.close()
        self.assertTrue(c.result("Version").startswith("mailstead "))


def maildir_zip(n):
    """A zip of one maildir with n small messages (one archive entry each,
    so an abort takes effect between them)."""
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(n):
            z.writestr("Bulk/cur/%d.host:2,S" % i,
                       "From: a@example.net\r\nSubject: bulk %d\r\n\r\nMessage %d.\r\n" % (i, i))
    return bio.getvalue()


class TestImportStreaming(Base):
    def test_import_progress_streams(self):
        """Import progress (server-sent events) reaches the browser while
        the import runs: the first event arrives, the import is then
        aborted, and the stream ends with "aborted". An Apache that
        buffered the answer would deliver nothing before the import ended
        on its own ("done")."""
        c = self.client()
        c.login(IMPORT_PASSWORD, IMPORT_ACCOUNT)
        data = maildir_zip(30000)
        # Larger than max_body (1m): the /import location allows it.
        self.assertGreater(len(data), 2 * 1024 * 1024)
        r = c.request("POST", "/import", body=data,
                      headers={"Content-Type": "application/octet-stream",
                               "x-mailstead-csrf": c.csrf})
        self.assertEqual(r.status, 200, r.body[:300])
        token = r.json()["result"]["importToken"]

        raw = socket.create_connection(("127.0.0.1", WEB.tls_port), timeout=harness.TIMEOUT)
        s = harness.tls_context().wrap_socket(raw)
        try:
            cookies = "; ".join("%s=%s" % kv for kv in c.cookies.items())
            s.sendall(("GET /importprogress?token=%s HTTP/1.1\r\nHost: localhost\r\n"
                       "Cookie: %s\r\nConnection: close\r\n\r\n" % (token, cookies)).encode())
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = s.recv(65536)
                self.assertTrue(chunk, "connection closed before the headers: %r" % buf)
                buf += chunk
            head, _, rest = buf.partition(b"\r\n\r\n")
            self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
            self.assertIn(b"text/event-stream", head.lower())
            # Wait for one complete event.
            while re.search(rb"data: [^\n]*\n\n", rest) is None:
                chunk = s.recv(65536)
                self.assertTrue(chunk, "stream ended before any event")
                rest += chunk
            self.assertEqual(c.result("ImportAbort", token), None)
            while True:
                try:
                    chunk = s.recv(65536)
                except (ssl.SSLError, ConnectionResetError):
                    break
                if not chunk:
                    break
                rest += chunk
        finally:
            s.close()
        events = re.findall(rb"event: (\w+)", rest)
        self.assertTrue(events, rest[:500])
        self.assertEqual(events[-1], b"aborted", events)


if __name__ == "__main__":
    unittest.main()
