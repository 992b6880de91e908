"""TLS and authentication in mailstead-imapd: STARTTLS on the imap port
(RFC 9051 6.2.1, with the STARTTLS injection defence), implicit TLS on the
imaps port (RFC 8314), LOGINDISABLED before TLS (imap_require_starttls),
AUTHENTICATE (RFC 9051 6.2.2, SASL-IR RFC 4959) with every mechanism of
lib/auth/sasl (SCRAM clients written here with hashlib/hmac), TLS client
certificates (PREAUTH greeting, or EXTERNAL for keys added with
-no-imap-preauth), the failed-login delay and limiter, login attempts and
the certificate reload on SIGHUP.

Clients are python imaplib and raw sockets. Tests that fail logins connect
from their own loopback address (127.x.y.1, each in its own /21), so the
per-IP limiter of one test does not affect the others.

Channel binding: python's ssl module gives tls-unique (TLS 1.2 only) but
not tls-exporter, so SCRAM-*-PLUS is tested over TLS 1.2 with tls-unique;
over TLS 1.3 the -PLUS names are still announced (tls-exporter) and a
client that cannot compute the binding uses the plain SCRAM names."""

import base64
import hashlib
import hmac
import imaplib
import os
import signal
import socket
import ssl
import subprocess
import threading
import time

import harness
from harness import OTHER, OTHER_PASSWORD, PASSWORD, USER, b64, fresh_ip, tls_context, unb64

srv = None
DISABLED = "disabled@example.org"
ACCT_PASSWORD = "acct-password-3"


def setUpModule():
    global srv
    srv = harness.Server(name="imaptls", tls=True, daemons=("imapd",),
                         listener_conf={"imap_require_starttls": "yes",
                                        "imaps": "{port:imaps}",
                                        "tls_client_auth": "yes"},
                         extra_ports=("imaps",),
                         accounts=((USER, PASSWORD), (OTHER, OTHER_PASSWORD),
                                   (DISABLED, ACCT_PASSWORD))).start()
    srv.psql("update accounts set login_disabled = 'account on hold, call the office'"
             " where name = :'n'", n=DISABLED)


def tearDownModule():
    if srv:
        srv.stop()










class Conn(harness.Raw):
    """A raw IMAP connection: implicit TLS (imaps), STARTTLS on the imap
    port, or plain text (starttls=False). The greeting is in .greeting."""

    def __init__(self, implicit=True, starttls=True, ctx=None, source=None):
        self.buf = b""
        ctx = ctx or tls_context()
        port = srv.ports["imaps" if implicit else "imapd"]
        sock = socket.create_connection(("127.0.0.1", port), timeout=harness.TIMEOUT,
                                        source_address=(source, 0) if source else None)
        self.sock = sock
        if implicit:
            self.sock = ctx.wrap_socket(sock, server_hostname="localhost")
            self.greeting = self.line().decode()
        else:
            self.greeting = self.line().decode()
            if starttls:
                _, t = self.imap("st", "STARTTLS")
                assert t.startswith("st OK"), t
                self.sock = ctx.wrap_socket(sock, server_hostname="localhost")
        self.sock.settimeout(harness.TIMEOUT)

    def capabilities(self):
        u, t = self.imap("cap", "CAPABILITY")
        assert t.startswith("cap OK"), t
        caps = [ln for ln in u if ln.startswith("* CAPABILITY ")]
        assert len(caps) == 1, u
        return caps[0].rstrip("\r\n").split(" ")[2:]

    def auth_mechs(self):
        return [c[5:] for c in self.capabilities() if c.startswith("AUTH=")]

    def cont(self):
        """Read a "+ " continuation; returns its decoded data."""
        ln = self.line().decode()
        assert ln.startswith("+ "), ln
        return unb64(ln[2:].strip()) if ln[2:].strip() else b""

    def tagged(self, tag):
        return self.imap_until(tag)[1]


def scram(conn, mech, user, password, cb_type=None, cb_data=None, bad_cb=False, initial=True,
          tag="s"):
    """A SCRAM client (RFC 5802, RFC 7677) over IMAP AUTHENTICATE: returns
    (tagged response, server-final message or None)."""
    hname = "sha1" if mech.startswith("SCRAM-SHA-1") else "sha256"
    hfn = getattr(hashlib, hname)
    nonce = b64(os.urandom(18))
    gs2 = "p=%s,," % cb_type if cb_type else "n,,"
    first_bare = "n=%s,r=%s" % (user, nonce)
    if initial:
        conn.send("%s AUTHENTICATE %s %s\r\n" % (tag, mech, b64(gs2 + first_bare)))
    else:
        conn.send("%s AUTHENTICATE %s\r\n" % (tag, mech))
        assert conn.cont() == b""
        conn.send(b64(gs2 + first_bare) + "\r\n")
    ln = conn.line().decode()
    if not ln.startswith("+ "):
        return ln.rstrip("\r\n"), None
    server_first = unb64(ln[2:].strip()).decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    assert attrs["r"].startswith(nonce), server_first
    salted = hashlib.pbkdf2_hmac(hname, password.encode(), unb64(attrs["s"]), int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", hfn).digest()
    stored_key = hfn(client_key).digest()
    cb = gs2.encode() + (cb_data or b"")
    if bad_cb:
        cb = gs2.encode() + b"\x00" * 32
    final_wo_proof = "c=%s,r=%s" % (b64(cb), attrs["r"])
    auth_msg = ",".join((first_bare, server_first, final_wo_proof)).encode()
    sig = hmac.new(stored_key, auth_msg, hfn).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, sig))
    conn.send(b64(final_wo_proof + ",p=" + b64(proof)) + "\r\n")
    ln = conn.line().decode()
    if not ln.startswith("+ "):
        return ln.rstrip("\r\n"), None
    server_final = unb64(ln[2:].strip()).decode()
    if server_final.startswith("e="):
        conn.send("*\r\n")
        return conn.tagged(tag), server_final
    server_key = hmac.new(salted, b"Server Key", hfn).digest()
    expect = b64(hmac.new(server_key, auth_msg, hfn).digest())
    assert server_final == "v=" + expect, "server signature mismatch: %r" % server_final
    conn.send("\r\n")
    return conn.tagged(tag), server_final


def make_client_cert(name):
    d = os.path.join(srv.dir, "clientcerts")
    os.makedirs(d, exist_ok=True)
    cert, key = os.path.join(d, name + ".pem"), os.path.join(d, name + "-key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=%s" % name, "-days", "30",
                    "-keyout", key, "-out", cert], check=True, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.chmod(d, 0o755)
    os.chmod(cert, 0o644)
    return cert, key


def spki_fingerprint(cert):
    """mox's TLS public key fingerprint: base64url(sha256(SPKI DER)), no padding."""
    pub = subprocess.run(["openssl", "x509", "-in", cert, "-pubkey", "-noout"], check=True,
                         stdout=subprocess.PIPE).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub, check=True,
                         stdout=subprocess.PIPE).stdout
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")


def attempts(want=None, **where):
    """Login attempts rows; with want (rows, or a function of them), polled
    until they match: imapd records an attempt after sending its answer."""
    cond = " and ".join("%s = :'%s'" % (k, k) for k in where)
    query = "select auth_mech, result, protocol from login_attempts where " + cond \
        + " order by auth_mech, result"
    if want is None:
        return srv.psql(query, **where)
    return srv.psql_wait(query, want, **where)


MECHS = ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-1",
         "CRAM-MD5", "PLAIN"]


class TlsTest(harness.TestCase):

    def test_starttls_then_login_with_imaplib(self):
        m = imaplib.IMAP4("127.0.0.1", srv.imap_port, timeout=harness.TIMEOUT)
        try:
            self.assertIn("STARTTLS", m.capabilities)
            self.assertIn("LOGINDISABLED", m.capabilities)
            self.assertFalse([c for c in m.capabilities if c.startswith("AUTH=")])
            typ, _ = m.starttls(ssl_context=tls_context())
            self.assertEqual(typ, "OK")
            # imaplib asks CAPABILITY again after TLS (RFC 9051 6.2.1).
            self.assertNotIn("STARTTLS", m.capabilities)
            self.assertNotIn("LOGINDISABLED", m.capabilities)
            self.assertIn("AUTH=PLAIN", m.capabilities)
            typ, _ = m.login(USER, PASSWORD)
            self.assertEqual(typ, "OK")
            typ, data = m.select("INBOX")
            self.assertEqual(typ, "OK")
        finally:
            m.logout()

    def test_logindisabled_before_tls(self):
        ip = fresh_ip()
        c = Conn(implicit=False, starttls=False, source=ip)
        try:
            self.assertTrue(c.greeting.startswith("* OK [CAPABILITY "), c.greeting)
            self.assertIn(" STARTTLS", c.greeting)
            self.assertIn(" LOGINDISABLED", c.greeting)
            caps = c.capabilities()
            self.assertIn("LOGINDISABLED", caps)
            self.assertEqual([x for x in caps if x.startswith("AUTH=")], [])
            _, t = c.imap("a", "LOGIN %s %s" % (USER, PASSWORD))
            self.assertTrue(t.startswith("a NO [PRIVACYREQUIRED]"), t)
            _, t = c.imap("b", "AUTHENTICATE PLAIN " + b64("\0%s\0%s" % (USER, PASSWORD)))
            self.assertTrue(t.startswith("b NO [PRIVACYREQUIRED]"), t)
            _, t = c.imap("c", "SELECT INBOX")
            self.assertTrue(t.startswith("c BAD"), t)
        finally:
            c.close()

    def test_imaps_implicit_tls(self):
        m = imaplib.IMAP4_SSL("127.0.0.1", srv.ports["imaps"], ssl_context=tls_context(),
                              timeout=harness.TIMEOUT)
        try:
            self.assertNotIn("STARTTLS", m.capabilities)
            self.assertNotIn("LOGINDISABLED", m.capabilities)
            self.assertEqual([c[5:] for c in m.capabilities if c.startswith("AUTH=")], MECHS)
            self.assertEqual(m.login(USER, PASSWORD)[0], "OK")
            self.assertEqual(m.select("INBOX")[0], "OK")
        finally:
            m.logout()
        # Plain text on the imaps port is a failed handshake, nothing else.
        with harness.Raw(srv.ports["imaps"]) as r:
            r.send(b"a CAPABILITY\r\n")
            self.assertTrue(r.closed(10))
        self.assertTrue(srv.daemon_alive("imapd"))

    def test_starttls_injection(self):
        c = Conn(implicit=False, starttls=False)
        try:
            # Both commands in one segment: "b" must never be answered.
            c.send(b"a STARTTLS\r\nb NOOP\r\n")
            u, t = c.imap_until("a")
            self.assertTrue(t.startswith("a OK"), t)
            self.assertEqual(c.buf, b"")
            c.sock = tls_context().wrap_socket(c.sock, server_hostname="localhost")
            c.sock.settimeout(harness.TIMEOUT)
            u, t = c.imap("c", "NOOP")
            self.assertEqual(u, [])
            self.assertTrue(t.startswith("c OK"), t)
            self.assertNotIn("STARTTLS", c.capabilities())
            _, t = c.imap("d", "STARTTLS")
            self.assertTrue(t.startswith("d BAD"), t)
        finally:
            c.close()
        self.assertTrue(harness.wait_for(
            lambda: "ev=starttls-injection bytes=8" in open(srv.logpath("imapd")).read(), 5))

    def test_starttls_not_after_login(self):
        c = Conn(implicit=True)
        try:
            _, t = c.imap("a", "LOGIN %s %s" % (USER, PASSWORD))
            self.assertTrue(t.startswith("a OK [CAPABILITY "), t)
            _, t = c.imap("b", "STARTTLS")
            self.assertTrue(t.startswith("b BAD"), t)
        finally:
            c.close()


class AuthTest(harness.TestCase):

    def test_plain_sasl_ir_and_continuation(self):
        c = Conn(implicit=False)
        try:
            self.assertEqual(c.auth_mechs(), MECHS)
            _, t = c.imap("a", "AUTHENTICATE PLAIN " + b64("\0%s\0%s" % (USER, PASSWORD)))
            self.assertTrue(t.startswith("a OK [CAPABILITY "), t)
            self.assertNotIn("AUTH=", t)
            _, t = c.imap("b", "AUTHENTICATE PLAIN")
            self.assertTrue(t.startswith("b BAD"), t)
        finally:
            c.close()
        c = Conn(implicit=True)
        try:
            c.send("a AUTHENTICATE PLAIN\r\n")
            self.assertEqual(c.cont(), b"")
            c.send(b64("\0%s\0%s" % (OTHER, OTHER_PASSWORD)) + "\r\n")
            t = c.tagged("a")
            self.assertTrue(t.startswith("a OK"), t)
            u, t = c.imap("b", "SELECT INBOX")
            self.assertTrue(t.startswith("b OK"), t)
        finally:
            c.close()

    def test_imaplib_authenticate(self):
        m = imaplib.IMAP4_SSL("127.0.0.1", srv.ports["imaps"], ssl_context=tls_context(),
                              timeout=harness.TIMEOUT)
        try:
            typ, _ = m.authenticate("PLAIN", lambda _: ("\0%s\0%s" % (USER, PASSWORD)).encode())
            self.assertEqual(typ, "OK")
        finally:
            m.shutdown()
        m = imaplib.IMAP4_SSL("127.0.0.1", srv.ports["imaps"], ssl_context=tls_context(),
                              timeout=harness.TIMEOUT)
        try:
            # imaplib's CRAM-MD5 (login_cram_md5).
            typ, _ = m.login_cram_md5(USER, PASSWORD)
            self.assertEqual(typ, "OK")
        finally:
            m.shutdown()

    def test_scram(self):
        for mech in ("SCRAM-SHA-256", "SCRAM-SHA-1"):
            for initial in (True, False):
                c = Conn(implicit=initial)
                try:
                    t, final = scram(c, mech, USER, PASSWORD, initial=initial)
                    self.assertTrue(t.startswith("s OK"), (mech, t))
                    self.assertTrue(final.startswith("v="))
                    self.assertTrue(c.imap("n", "SELECT INBOX")[1].startswith("n OK"))
                finally:
                    c.close()
        ip = fresh_ip()
        c = Conn(source=ip)
        try:
            start = time.time()
            t, final = scram(c, "SCRAM-SHA-256", USER, "wrong")
            self.assertTrue(t.startswith("s NO [AUTHENTICATIONFAILED]"), t)
            self.assertEqual(final, "e=invalid-proof")
            self.assertGreaterEqual(time.time() - start, 0.9)
            # The session goes on.
            self.assertTrue(c.imap("n", "NOOP")[1].startswith("n OK"))
        finally:
            c.close()
        rows = attempts(remote_ip=ip)
        self.assertEqual(rows, [["scram-sha-256", "badcreds", "imap"]])

    def test_scram_plus_tls_unique(self):
        ctx = tls_context(max_version=ssl.TLSVersion.TLSv1_2)
        for mech in ("SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"):
            c = Conn(ctx=ctx, implicit=mech.startswith("SCRAM-SHA-256"))
            try:
                self.assertEqual(c.sock.version(), "TLSv1.2")
                self.assertEqual(c.auth_mechs(), MECHS)
                cb = c.sock.get_channel_binding("tls-unique")
                self.assertTrue(cb)
                t, _ = scram(c, mech, USER, PASSWORD, cb_type="tls-unique", cb_data=cb)
                self.assertTrue(t.startswith("s OK"), t)
            finally:
                c.close()
        ip = fresh_ip()
        # Channel binding data of another connection: a man in the middle.
        c = Conn(ctx=ctx, source=ip)
        try:
            t, final = scram(c, "SCRAM-SHA-256-PLUS", USER, PASSWORD, cb_type="tls-unique",
                             bad_cb=True)
            self.assertTrue(t.startswith("s NO [AUTHENTICATIONFAILED]"), t)
            self.assertEqual(final, "e=channel-bindings-dont-match")
        finally:
            c.close()
        rows = attempts(remote_ip=ip)
        self.assertEqual(rows, [["scram-sha-256-plus", "badchanbind", "imap"]])

    def test_cram_md5(self):
        c = Conn()
        try:
            c.send("a AUTHENTICATE CRAM-MD5\r\n")
            chal = c.cont()
            self.assertTrue(chal.startswith(b"<") and chal.endswith(b">"), chal)
            digest = hmac.new(PASSWORD.encode(), chal, hashlib.md5).hexdigest()
            c.send(b64("%s %s" % (USER, digest)) + "\r\n")
            t = c.tagged("a")
            self.assertTrue(t.startswith("a OK"), t)
        finally:
            c.close()

    def test_cancel_bad_base64_and_garbage(self):
        ip = fresh_ip()
        c = Conn(source=ip)
        try:
            c.send("a AUTHENTICATE PLAIN\r\n")
            c.cont()
            c.send("*\r\n")
            t = c.tagged("a")
            self.assertTrue(t.startswith("a BAD"), t)
            _, t = c.imap("b", "AUTHENTICATE PLAIN !!notbase64!!")
            self.assertTrue(t.startswith("b BAD"), t)
            c.send("c AUTHENTICATE SCRAM-SHA-256\r\n")
            c.cont()
            c.send("%%%\r\n")
            t = c.tagged("c")
            self.assertTrue(t.startswith("c BAD"), t)
            # SCRAM protocol garbage: a NO, never a crash.
            for i, msg in enumerate((b"garbage", b"n,,n=user,r=", b"p=tls-server-end-point,,n=a,r=b",
                                     b"n,,m=ext,n=a,r=b", b"\x00\xff\x00")):
                tag = "g%d" % i
                _, t = c.imap(tag, "AUTHENTICATE SCRAM-SHA-256 " + b64(msg))
                self.assertTrue(t.startswith(tag + " NO [AUTHENTICATIONFAILED]") or
                                t.startswith(tag + " BAD"), t)
            _, t = c.imap("d", "AUTHENTICATE NOSUCHMECH")
            self.assertTrue(t.startswith("d NO"), t)
            _, t = c.imap("e", "AUTHENTICATE EXTERNAL =")
            self.assertTrue(t.startswith("e NO"), t)
            self.assertTrue(c.imap("f", "NOOP")[1].startswith("f OK"))
        finally:
            c.close()
        self.assertTrue(srv.daemon_alive("imapd"))
        rows = attempts(remote_ip=ip)
        self.assertIn(["plain", "aborted", "imap"], rows)
        self.assertIn(["plain", "badprotocol", "imap"], rows)

    def test_wrong_password_delay_and_attempts(self):
        ip = fresh_ip()
        c = Conn(source=ip)
        try:
            start = time.time()
            _, t = c.imap("a", "LOGIN %s wrong" % USER)
            self.assertTrue(t.startswith("a NO [AUTHENTICATIONFAILED]"), t)
            self.assertGreaterEqual(time.time() - start, 0.9)
            _, t = c.imap("b", "LOGIN %s %s" % (USER, PASSWORD))
            self.assertTrue(t.startswith("b OK"), t)
        finally:
            c.close()
        want = [["login", "badcreds", "imap", USER, USER, "t"],
                ["login", "ok", "imap", USER, USER, "t"]]
        rows = srv.psql_wait("select auth_mech, result, protocol, account_name, login_address,"
                             " tls like 'version=TLS1.%' from login_attempts where remote_ip = :'ip'"
                             " order by result", want, ip=ip)
        self.assertEqual(rows, want)

    def test_login_disabled(self):
        ip = fresh_ip()
        c = Conn(source=ip)
        try:
            _, t = c.imap("a", "LOGIN %s %s" % (DISABLED, ACCT_PASSWORD))
            self.assertTrue(t.startswith("a NO [CONTACTADMIN]"), t)
            self.assertIn("account on hold, call the office", t)
        finally:
            c.close()
        want = [["login", "logindisabled", "imap"]]
        self.assertEqual(attempts(want, remote_ip=ip), want)

    def test_failed_login_rate_limit(self):
        # 10 failed logins a minute from one address, then NO [UNAVAILABLE]
        # without trying, and new connections get BYE. The limiter counts
        # in whole minutes: do not start right before one ends.
        if time.time() % 60 > 45:
            time.sleep(61 - time.time() % 60)
        ip = fresh_ip()
        waiting = Conn(source=ip)
        results = []

        def fail_once():
            c = Conn(source=ip)
            try:
                results.append(c.imap("x", "LOGIN %s wrong" % USER)[1])
            finally:
                c.close()

        try:
            threads = [threading.Thread(target=fail_once) for _ in range(10)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            self.assertEqual(len(results), 10)
            for t in results:
                self.assertTrue(t.startswith("x NO [AUTHENTICATIONFAILED]"), t)
            start = time.time()
            _, t = waiting.imap("a", "LOGIN %s %s" % (USER, PASSWORD))
            self.assertTrue(t.startswith("a NO [UNAVAILABLE]"), t)
            self.assertLess(time.time() - start, 0.9)
            _, t = waiting.imap("b", "AUTHENTICATE PLAIN " + b64("\0%s\0%s" % (USER, PASSWORD)))
            self.assertTrue(t.startswith("b NO [UNAVAILABLE]"), t)
            self.assertTrue(waiting.imap("c", "NOOP")[1].startswith("c OK"))
        finally:
            waiting.close()
        sock = socket.create_connection(("127.0.0.1", srv.imap_port), timeout=harness.TIMEOUT,
                                        source_address=(ip, 0))
        try:
            greeting = sock.recv(1000)
            self.assertTrue(greeting.startswith(b"* BYE [UNAVAILABLE]"), greeting)
        finally:
            sock.close()
        # Everybody else logs in as usual.
        c = Conn(source=fresh_ip())
        try:
            self.assertTrue(c.imap("a", "LOGIN %s %s" % (USER, PASSWORD))[1].startswith("a OK"))
        finally:
            c.close()
        rows = srv.psql_wait("select count from login_attempts where remote_ip = :'ip'"
                             " and result = 'ratelimited'", lambda r: sorted(r) == [["1"], ["1"]],
                             ip=ip)
        self.assertEqual(sorted(rows), [["1"], ["1"]])


class ClientCertTest(harness.TestCase):

    def test_preauth_with_registered_key(self):
        cert = make_client_cert("laptop")
        fp = spki_fingerprint(cert[0])
        srv.cli("tlspubkey", "add", USER, cert[0])
        ctx = tls_context(cert=cert)
        c = Conn(ctx=ctx)
        try:
            self.assertTrue(c.greeting.startswith("* PREAUTH [CAPABILITY "), c.greeting)
            self.assertNotIn("AUTH=", c.greeting)
            _, t = c.imap("a", "SELECT INBOX")
            self.assertTrue(t.startswith("a OK"), t)
            _, t = c.imap("b", "AUTHENTICATE EXTERNAL =")
            self.assertTrue(t.startswith("b BAD"), t)
        finally:
            c.close()
        # imaplib sees the PREAUTH greeting as state AUTH.
        m = imaplib.IMAP4_SSL("127.0.0.1", srv.ports["imaps"], ssl_context=ctx,
                              timeout=harness.TIMEOUT)
        try:
            self.assertEqual(m.state, "AUTH")
            self.assertEqual(m.select("INBOX")[0], "OK")
        finally:
            m.shutdown()
        # STARTTLS cannot greet with PREAUTH: EXTERNAL is offered first.
        c = Conn(ctx=ctx, implicit=False)
        try:
            self.assertEqual(c.auth_mechs(), ["EXTERNAL"] + MECHS)
            _, t = c.imap("a", "AUTHENTICATE EXTERNAL =")
            self.assertTrue(t.startswith("a OK"), t)
        finally:
            c.close()
        rows = srv.psql_wait("select auth_mech, result, protocol from login_attempts"
                             " where tls_pubkey_fingerprint = :'f' order by auth_mech",
                             lambda r: ["external", "ok", "imap"] in r
                             and ["tlsclientauth", "ok", "imap"] in r, f=fp)
        self.assertIn(["external", "ok", "imap"], rows)
        self.assertIn(["tlsclientauth", "ok", "imap"], rows)

    def test_no_imap_preauth_key(self):
        cert = make_client_cert("phone")
        srv.cli("tlspubkey", "add", OTHER, cert[0], "-no-imap-preauth")
        ctx = tls_context(cert=cert)
        c = Conn(ctx=ctx)
        try:
            self.assertTrue(c.greeting.startswith("* OK [CAPABILITY "), c.greeting)
            self.assertIn("AUTH=EXTERNAL AUTH=SCRAM-SHA-256", c.greeting)
            _, t = c.imap("a", "SELECT INBOX")
            self.assertTrue(t.startswith("a BAD"), t)
            # Another account's password does not go with this certificate.
            start = time.time()
            _, t = c.imap("b", "LOGIN %s %s" % (USER, PASSWORD))
            self.assertTrue(t.startswith("b NO [AUTHENTICATIONFAILED]"), t)
            self.assertGreaterEqual(time.time() - start, 0.9)
            c.send("c AUTHENTICATE EXTERNAL\r\n")
            self.assertEqual(c.cont(), b"")
            c.send("\r\n")
            t = c.tagged("c")
            self.assertTrue(t.startswith("c OK"), t)
            _, t = c.imap("d", "SELECT INBOX")
            self.assertTrue(t.startswith("d OK"), t)
        finally:
            c.close()

    def test_unknown_key(self):
        cert = make_client_cert("stranger")
        c = Conn(ctx=tls_context(cert=cert), source=fresh_ip())
        try:
            self.assertTrue(c.greeting.startswith("* OK"), c.greeting)
            self.assertEqual(c.auth_mechs(), MECHS)
            _, t = c.imap("a", "AUTHENTICATE EXTERNAL =")
            self.assertTrue(t.startswith("a NO"), t)
            self.assertTrue(c.imap("b", "LOGIN %s %s" % (USER, PASSWORD))[1].startswith("b OK"))
        finally:
            c.close()


class ReloadTest(harness.TestCase):

    def test_sighup_reloads_certificate_keeps_connections(self):
        def peer_cert():
            with socket.create_connection(("127.0.0.1", srv.ports["imaps"]), timeout=10) as s:
                with tls_context().wrap_socket(s, server_hostname="localhost") as t:
                    return hashlib.sha256(t.getpeercert(binary_form=True)).hexdigest()

        old = peer_cert()
        early = Conn(implicit=False)
        self.assertTrue(early.imap("a", "LOGIN %s %s" % (USER, PASSWORD))[1].startswith("a OK"))
        cert, key = srv.tls_cert, srv.tls_key
        tmpc, tmpk = cert + ".new", key + ".new"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost", "-days", "30",
                        "-keyout", tmpk, "-out", tmpc], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if srv.owner:
            for p in (tmpc, tmpk):
                os.chown(p, *srv.owner)
        os.replace(tmpk, key)
        os.replace(tmpc, cert)
        try:
            srv.procs["imapd"].send_signal(signal.SIGHUP)
            self.assertTrue(harness.wait_for(lambda: "ev=tls-reload result=ok" in
                                             open(srv.logpath("imapd")).read(), 10))
            self.assertNotEqual(old, peer_cert())
            self.assertTrue(early.imap("b", "SELECT INBOX")[1].startswith("b OK"))
            self.assertTrue(early.imap("c", "LOGOUT")[1].startswith("c OK"))
        finally:
            early.close()


if __name__ == "__main__":
    import unittest
    unittest.main()
