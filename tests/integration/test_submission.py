"""Submission in mailstead-smtpd (RFC 6409, RFC 4954): AUTH on 587 (STARTTLS)
and 465 (implicit TLS) with every mechanism real clients speak (swaks:
PLAIN, LOGIN, CRAM-MD5; python smtplib; a SCRAM-SHA-1/256(-PLUS) client
written here; EXTERNAL with a TLS client certificate made by openssl),
malformed AUTH input, the failed-login delay and limiter, login attempts,
the per-IP connection limits, and what an authenticated session may send:
MAIL FROM and From rules (addresses, catch-all separators, aliases with
allow-msg-from), local delivery, the outgoing queue (rows and files,
FUTURERELEASE, X-Mailstead-Extra-*, REQUIRETLS / TLS-Required: No, send
limits), and added Message-ID/Date.

Tests that fail logins connect from their own loopback address (127.x.y.1,
each in its own /21), so the per-IP limiters of one test do not affect the
others; the whole 127.0.0.0/8 is local on Linux."""

import base64
import datetime
import hashlib
import hmac
import json
import os
import smtplib
import socket
import ssl
import subprocess
import threading
import time

import harness
from harness import OTHER, OTHER_PASSWORD, PASSWORD, USER, b64, fresh_ip, tls_context, unb64, unique

srv = None
DISABLED = "disabled@example.org"
LIMITED = "limited@example.org"
ACCT_PASSWORD = "acct-password-3"
MECHS_TLS = ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-1",
             "CRAM-MD5", "PLAIN", "LOGIN"]


def setUpModule():
    global srv
    srv = harness.Server(name="subm", tls=True,
                         listener_conf={"submission": "{port:submission}",
                                        "submissions": "{port:submissions}"},
                         extra_ports=("submission", "submissions"),
                         accounts=((USER, PASSWORD), (OTHER, OTHER_PASSWORD),
                                   (DISABLED, ACCT_PASSWORD), (LIMITED, ACCT_PASSWORD))).start()
    srv.cli("domain", "set", harness.DOMAIN, "catchall-separators", "+")
    srv.cli("alias", "add", "team@example.org", USER, OTHER, "--allow-msg-from")
    srv.cli("alias", "add", "closed@example.org", USER, OTHER)
    srv.cli("alias", "add", "fwd@example.org", USER, "friend@elsewhere.example")
    srv.psql("update accounts set login_disabled = 'account on hold, call the office'"
             " where name = :'n'", n=DISABLED)


def tearDownModule():
    if srv:
        srv.stop()










class TlsRaw(harness.Raw):
    """A raw SMTP connection over TLS: implicit (465) or after STARTTLS
    (587), greeting and EHLO already read."""

    def __init__(self, implicit=True, ctx=None, source=None, ehlo=True):
        self.buf = b""
        ctx = ctx or tls_context()
        port = srv.ports["submissions" if implicit else "submission"]
        sock = socket.create_connection(("127.0.0.1", port), timeout=harness.TIMEOUT,
                                        source_address=(source, 0) if source else None)
        if implicit:
            self.sock = ctx.wrap_socket(sock, server_hostname="localhost")
            self.greeting = self.smtp_reply()
        else:
            self.sock = sock
            self.greeting = self.smtp_reply()
            assert self.smtp("EHLO client.example")[0] == 250
            code, _ = self.smtp("STARTTLS")
            assert code == 220, code
            self.sock = ctx.wrap_socket(sock, server_hostname="localhost")
        self.sock.settimeout(harness.TIMEOUT)
        self.ehlo_lines = None
        if ehlo:
            code, self.ehlo_lines = self.smtp("EHLO client.example")
            assert code == 250, (code, self.ehlo_lines)

    def keyword(self, name):
        for ln in self.ehlo_lines[1:]:
            if ln.split(" ")[0] == name:
                return ln
        return None

    def auth_plain(self, user=USER, password=PASSWORD):
        return self.smtp("AUTH PLAIN " + b64("\0%s\0%s" % (user, password)))


def scram_auth(conn, mech, user, password, cb_type=None, cb_data=None, gs2_flag=None,
               bad_cb=False, initial=True):
    """A SCRAM client (RFC 5802, RFC 7677) over an SMTP connection: returns
    (code, text lines, server-final message or None)."""
    hname = "sha1" if mech.startswith("SCRAM-SHA-1") else "sha256"
    hfn = getattr(hashlib, hname)
    nonce = b64(os.urandom(18))
    if gs2_flag is not None:
        gs2 = gs2_flag + ",,"
    elif cb_type:
        gs2 = "p=%s,," % cb_type
    else:
        gs2 = "n,,"
    first_bare = "n=%s,r=%s" % (user.replace("=", "=3D").replace(",", "=2C"), nonce)
    if initial:
        code, lines = conn.smtp("AUTH %s %s" % (mech, b64(gs2 + first_bare)))
    else:
        # No initial response: an empty challenge first (RFC 4954 4).
        code, lines = conn.smtp("AUTH %s" % mech)
        assert (code, lines) == (334, [""]), (code, lines)
        code, lines = conn.smtp(b64(gs2 + first_bare))
    if code != 334:
        return code, lines, None
    server_first = unb64(lines[0]).decode()
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
    code, lines = conn.smtp(b64(final_wo_proof + ",p=" + b64(proof)))
    if code != 334:
        return code, lines, None
    server_final = unb64(lines[0]).decode()
    if server_final.startswith("e="):
        code, lines = conn.smtp("*")
        return code, lines, server_final
    server_key = hmac.new(salted, b"Server Key", hfn).digest()
    expect = b64(hmac.new(server_key, auth_msg, hfn).digest())
    assert server_final == "v=" + expect, "server signature mismatch: %r" % server_final
    code, lines = conn.smtp("")
    return code, lines, server_final


def swaks(*args, source=None):
    cmd = ["swaks", "--server", "127.0.0.1", "--timeout", "20"] + list(args)
    if source:
        cmd += ["--local-interface", source]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    return r.returncode, r.stdout.decode("utf-8", "replace")


def submit(msg, rcpts, mail_from=USER, user=USER, password=PASSWORD, mail_options=(),
           source=None):
    """Authenticate on 465 with smtplib and send; returns the DATA reply."""
    s = smtplib.SMTP_SSL("127.0.0.1", srv.ports["submissions"], timeout=harness.TIMEOUT,
                         context=tls_context(), source_address=(source, 0) if source else None)
    try:
        s.ehlo("client.example")
        s.login(user, password)
        code, text = s.mail(mail_from, list(mail_options))
        if code != 250:
            return code, text
        for r in rcpts:
            code, text = s.rcpt(r)
            if code != 250:
                return code, text
        return s.data(msg)
    finally:
        try:
            s.quit()
        except smtplib.SMTPException:
            pass


def message(frm=USER, to="rcpt@remote.example", subject=None, extra_headers=(), msgid=True,
            date=True, body="Hello from submission.\r\n"):
    subject = subject or unique("subm")
    hdrs = ["From: <%s>" % frm, "To: <%s>" % to, "Subject: %s" % subject]
    if date:
        hdrs.append("Date: Mon, 1 Jan 2024 10:00:00 +0000")
    if msgid:
        hdrs.append("Message-ID: <%s@example.org>" % unique("mid"))
    hdrs += list(extra_headers)
    return ("\r\n".join(hdrs) + "\r\n\r\n" + body).encode("utf-8"), subject


def queue_rows(subject):
    return srv.psql("select id, sender_localpart, sender_domain, recipient_localpart,"
                    " recipient_domain, file_path, extract(epoch from next_attempt)::bigint,"
                    " future_release_request, extra::text, coalesce(require_tls::text, 'null'),"
                    " message_id, (select name from accounts where id = sender_account_id),"
                    " encode(msg_prefix, 'escape')"
                    " from queue where subject = :'s' order by id", s=subject)


def mailbox_messages(user, password, subject):
    m = srv.imap(user, password)
    try:
        m.select("INBOX", readonly=True)
        uids = harness.uid_search(m, "SUBJECT", '"%s"' % subject)
        if not uids:
            return []
        got = harness.fetch_by_uid(m, uids, "(BODY.PEEK[])")
        return [got[u]["BODY[]"] for u in sorted(got)]
    finally:
        m.logout()


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


def register_cert(address, cert):
    fp = spki_fingerprint(cert)
    srv.cli("tlspubkey", "add", address, cert)
    rows = srv.psql("select login_address from tls_public_keys where fingerprint = :'f'", f=fp)
    assert rows == [[address]], rows
    return fp


class AuthTest(harness.TestCase):

    def test_ehlo_auth_keyword_and_order(self):
        # 587 before STARTTLS: TLS is required for AUTH, so no AUTH keyword.
        s = smtplib.SMTP("127.0.0.1", srv.ports["submission"], timeout=harness.TIMEOUT)
        try:
            code, text = s.ehlo("client.example")
            self.assertNotIn(b"AUTH", text)
            # And AUTH itself asks for TLS first.
            code, text = s.docmd("AUTH", "PLAIN " + b64("\0%s\0%s" % (USER, PASSWORD)))
            self.assertEqual(code, 538, text)
            self.assertTrue(text.startswith(b"5.7.11"), text)
        finally:
            s.quit()
        for implicit in (False, True):
            c = TlsRaw(implicit=implicit)
            try:
                kws = [ln.split(" ")[0] for ln in c.ehlo_lines[1:]]
                self.assertEqual(kws, ["PIPELINING", "SIZE", "REQUIRETLS", "AUTH", "FUTURERELEASE",
                                       "ENHANCEDSTATUSCODES", "8BITMIME", "LIMITS", "SMTPUTF8"])
                # TLS 1.3: channel binding with tls-exporter, so -PLUS is offered.
                self.assertEqual(c.keyword("AUTH").split(" ")[1:], MECHS_TLS)
            finally:
                c.close()
        # TLS 1.2 (tls-unique) offers -PLUS too.
        c = TlsRaw(ctx=tls_context(max_version=ssl.TLSVersion.TLSv1_2))
        try:
            self.assertEqual(c.sock.version(), "TLSv1.2")
            self.assertEqual(c.keyword("AUTH").split(" ")[1:], MECHS_TLS)
        finally:
            c.close()
        # A bogus EHLO name is fine on submission (mail clients send such
        # names and their users cannot fix them), not on port 25.
        c = TlsRaw(ehlo=False)
        try:
            self.assertEqual(c.auth_plain()[0], 503)  # EHLO first
            self.assertEqual(c.smtp("EHLO my..laptop")[0], 250)
            self.assertEqual(c.auth_plain()[0], 235)
        finally:
            c.close()
        with srv.raw_smtp() as r:
            self.assertEqual(r.smtp("EHLO my..laptop")[0], 501)
        # Port 25: no AUTH at all.
        with srv.raw_smtp() as r:
            code, lines = r.smtp("EHLO client.example")
            self.assertFalse([ln for ln in lines if ln.startswith("AUTH")])
            self.assertEqual(r.smtp("AUTH PLAIN " + b64("\0%s\0%s" % (USER, PASSWORD)))[0], 502)

    def test_swaks_every_mechanism(self):
        sent = []
        for tlsopt, port in (("--tls", srv.ports["submission"]),
                             ("--tls-on-connect", srv.ports["submissions"])):
            for mech in ("PLAIN", "LOGIN", "CRAM-MD5"):
                subject = unique("swaks-" + mech.lower())
                rc, out = swaks("--port", str(port), tlsopt, "--auth", mech,
                                "--auth-user", USER, "--auth-password", PASSWORD,
                                "--from", USER, "--to", OTHER, "--h-From", "<%s>" % USER,
                                "--h-Subject", subject)
                self.assertEqual(rc, 0, out)
                self.assertIn("235 2.7.0", out)
                sent.append(subject)
        for subject in sent:
            got = mailbox_messages(OTHER, OTHER_PASSWORD, subject)
            self.assertEqual(len(got), 1, subject)
            trace, _ = harness.split_trace(got[0])
            self.assertIn(b"with ESMTPSA", trace)
            self.assertIn(b"Return-Path: <%s>" % USER.encode(), trace)

    def test_swaks_wrong_password_each_mechanism(self):
        ip = fresh_ip()
        for mech in ("PLAIN", "LOGIN", "CRAM-MD5"):
            t0 = time.monotonic()
            rc, out = swaks("--port", str(srv.ports["submissions"]), "--tls-on-connect",
                            "--auth", mech, "--auth-user", USER, "--auth-password", "wrong",
                            "--from", USER, "--to", OTHER, source=ip)
            self.assertNotEqual(rc, 0, out)
            self.assertIn("535 5.7.8", out)
            # FEATURES.md: failed authentication is answered after 1 s.
            self.assertGreaterEqual(time.monotonic() - t0, 1.0)

    def test_smtplib_login(self):
        for mech in ("CRAM-MD5", "PLAIN", "LOGIN"):
            s = smtplib.SMTP("127.0.0.1", srv.ports["submission"], timeout=harness.TIMEOUT)
            try:
                s.starttls(context=tls_context())
                s.ehlo("client.example")
                s.user, s.password = USER, PASSWORD
                code, text = s.auth(mech, getattr(s, "auth_" + mech.lower().replace("-", "_")))
                self.assertEqual(code, 235, (mech, text))
                # RFC 4954 4: a second AUTH is refused.
                self.assertEqual(s.docmd("AUTH PLAIN " + b64("\0%s\0%s" % (USER, PASSWORD)))[0],
                                 503)
            finally:
                s.quit()
        s = smtplib.SMTP_SSL("127.0.0.1", srv.ports["submissions"], timeout=harness.TIMEOUT,
                             context=tls_context(), source_address=(fresh_ip(), 0))
        try:
            s.ehlo("client.example")
            with self.assertRaises(smtplib.SMTPAuthenticationError) as cm:
                s.login(USER, "not-the-password")
            self.assertEqual(cm.exception.smtp_code, 535)
            # The session goes on; the right password works.
            self.assertEqual(s.login(OTHER, OTHER_PASSWORD)[0], 235)
        finally:
            s.quit()

    def test_scram(self):
        for mech, initial in (("SCRAM-SHA-256", True), ("SCRAM-SHA-1", True),
                              ("SCRAM-SHA-256", False)):
            c = TlsRaw()
            try:
                code, lines, final = scram_auth(c, mech, USER, PASSWORD, initial=initial)
                self.assertEqual(code, 235, lines)
                self.assertTrue(final.startswith("v="))
                self.assertEqual(c.smtp("MAIL FROM:<%s>" % USER)[0], 250)
            finally:
                c.close()
        c = TlsRaw(source=fresh_ip())
        try:
            t0 = time.monotonic()
            code, lines, final = scram_auth(c, "SCRAM-SHA-256", USER, "wrong-password")
            self.assertEqual(code, 535, lines)
            self.assertEqual(final, "e=invalid-proof")
            self.assertGreaterEqual(time.monotonic() - t0, 1.0)
            # Unknown users get a (fake) salt too and fail the same way.
            code, lines, final = scram_auth(c, "SCRAM-SHA-256", "nobody@example.org", "x")
            self.assertEqual(code, 535, lines)
            self.assertEqual(c.smtp("NOOP")[0], 250)
        finally:
            c.close()

    def test_scram_plus_tls_unique(self):
        ctx = tls_context(max_version=ssl.TLSVersion.TLSv1_2)
        for mech in ("SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"):
            c = TlsRaw(ctx=ctx)
            try:
                self.assertEqual(c.sock.version(), "TLSv1.2")
                cb = c.sock.get_channel_binding("tls-unique")
                self.assertTrue(cb)
                code, lines, _ = scram_auth(c, mech, USER, PASSWORD, cb_type="tls-unique",
                                            cb_data=cb)
                self.assertEqual(code, 235, lines)
            finally:
                c.close()
        ip = fresh_ip()
        # Channel binding data of another connection: a man in the middle.
        c = TlsRaw(ctx=ctx, source=ip)
        try:
            code, lines, final = scram_auth(c, "SCRAM-SHA-256-PLUS", USER, PASSWORD,
                                            cb_type="tls-unique", cb_data=b"", bad_cb=True)
            self.assertEqual(code, 535, lines)
            self.assertEqual(final, "e=channel-bindings-dont-match")
        finally:
            c.close()
        # "y": the client thinks we do not offer -PLUS, but we do: a downgrade.
        c = TlsRaw(ctx=ctx, source=ip)
        try:
            code, lines, _ = scram_auth(c, "SCRAM-SHA-256", USER, PASSWORD, gs2_flag="y")
            self.assertEqual(code, 535, lines)
            self.assertEqual(c.smtp("NOOP")[0], 250)
        finally:
            c.close()
        rows = srv.psql("select result from login_attempts where remote_ip = :'ip'"
                        " and auth_mech = 'scram-sha-256-plus'", ip=ip)
        self.assertEqual(rows, [["badchanbind"]])

    def test_external_and_certificate_login(self):
        cert = make_client_cert("phone")
        fp = register_cert(USER, cert[0])
        ctx = tls_context(cert=cert)
        c = TlsRaw(ctx=ctx)
        try:
            self.assertEqual(c.keyword("AUTH").split(" ")[1:], ["EXTERNAL"] + MECHS_TLS)
            # A registered key authenticates the session: no AUTH needed (the
            # reference's behaviour), MAIL is accepted at once.
            self.assertEqual(c.smtp("MAIL FROM:<%s>" % USER)[0], 250)
            # AUTH during a transaction is refused.
            self.assertEqual(c.smtp("AUTH EXTERNAL =")[0], 503)
            self.assertEqual(c.smtp("RSET")[0], 250)
            code, lines = c.smtp("AUTH EXTERNAL =")
            self.assertEqual(code, 235, lines)
            self.assertEqual(c.smtp("AUTH EXTERNAL =")[0], 503)
        finally:
            c.close()
        # EXTERNAL with an authorization identity of another account fails.
        c = TlsRaw(ctx=ctx, implicit=False)
        try:
            code, lines = c.smtp("AUTH EXTERNAL " + b64(OTHER))
            self.assertEqual(code, 535, lines)
            # Another mechanism works only for the certificate's account.
            code, lines = c.auth_plain(OTHER, OTHER_PASSWORD)
            self.assertEqual(code, 535, lines)
            self.assertEqual(c.auth_plain()[0], 235)
        finally:
            c.close()
        # swaks with the certificate submits without --auth.
        subject = unique("certmail")
        rc, out = swaks("--port", str(srv.ports["submissions"]), "--tls-on-connect",
                        "--tls-cert", cert[0], "--tls-key", cert[1], "--from", USER, "--to", OTHER,
                        "--h-From", "<%s>" % USER, "--h-Subject", subject)
        self.assertEqual(rc, 0, out)
        self.assertEqual(len(mailbox_messages(OTHER, OTHER_PASSWORD, subject)), 1)
        rows = srv.psql_wait("select auth_mech, result from login_attempts"
                             " where tls_pubkey_fingerprint = :'f' order by auth_mech",
                             lambda r: ["external", "ok"] in r and ["tlsclientauth", "ok"] in r,
                             f=fp)
        self.assertIn(["external", "ok"], rows)
        self.assertIn(["tlsclientauth", "ok"], rows)
        # An unknown key: no EXTERNAL, no login.
        other = make_client_cert("unknown")
        c = TlsRaw(ctx=tls_context(cert=other), source=fresh_ip())
        try:
            self.assertEqual(c.keyword("AUTH").split(" ")[1:], MECHS_TLS)
            self.assertEqual(c.smtp("AUTH EXTERNAL =")[0], 504)
            self.assertEqual(c.smtp("MAIL FROM:<%s>" % USER)[0], 530)
        finally:
            c.close()

    def test_malformed_auth_input(self):
        c = TlsRaw(source=fresh_ip())
        try:
            self.assertEqual(c.smtp("AUTH")[0], 501)
            self.assertEqual(c.smtp("AUTH PL@IN")[0], 501)
            self.assertEqual(c.smtp("AUTH FOO-BAR")[0], 504)
            code, lines = c.smtp("AUTH PLAIN !!!notbase64")
            self.assertEqual((code, lines[0][:5]), (501, "5.5.2"))
            # Cancelled with "*".
            self.assertEqual(c.smtp("AUTH PLAIN")[0], 334)
            code, lines = c.smtp("*")
            self.assertEqual((code, lines[0][:5]), (501, "5.0.0"))
            # Bad base64 in a continuation.
            self.assertEqual(c.smtp("AUTH LOGIN")[0], 334)
            self.assertEqual(c.smtp("%%%")[0], 501)
            # An empty initial response ("=") is not a valid PLAIN message.
            self.assertEqual(c.smtp("AUTH PLAIN =")[0], 535)
            # An empty LOGIN user name.
            code, lines = c.smtp("AUTH LOGIN")
            self.assertEqual((code, unb64(lines[0])), (334, b"Username:"))
            self.assertEqual(c.smtp("")[0], 535)
            # Too long: a command line over 12 KB, a continuation line over
            # 12 KB, and a response that decodes to more than SASL allows.
            self.assertEqual(c.smtp("AUTH PLAIN " + "A" * 20000)[0], 500)
            self.assertEqual(c.smtp("AUTH PLAIN")[0], 334)
            code, lines = c.smtp("A" * 13000)
            self.assertEqual((code, lines[0][:5]), (500, "5.5.6"))
            self.assertEqual(c.smtp("AUTH PLAIN " + b64(b"\0" + b"x" * 9000))[0], 535)
            # After all that the session is fine and a real login works.
            self.assertEqual(c.smtp("NOOP")[0], 250)
            self.assertEqual(c.auth_plain()[0], 235)
        finally:
            c.close()

    def test_scram_protocol_garbage(self):
        c = TlsRaw(source=fresh_ip())
        try:
            self.assertEqual(c.smtp("AUTH SCRAM-SHA-256 " + b64("garbage"))[0], 535)
            self.assertEqual(c.smtp("NOOP")[0], 250)
            # A valid first message, then a garbage final message.
            nonce = b64(os.urandom(12))
            code, lines = c.smtp("AUTH SCRAM-SHA-256 " + b64("n,,n=%s,r=%s" % (USER, nonce)))
            self.assertEqual(code, 334)
            code, lines = c.smtp(b64("c=biws,r=wrongnonce,p=AAAA"))
            if code == 334:  # server-error as a challenge, then the answer
                code, lines = c.smtp("*")
            self.assertEqual(code, 535, lines)
            self.assertEqual(c.smtp("NOOP")[0], 250)
            self.assertEqual(c.auth_plain()[0], 235)
        finally:
            c.close()

    def test_login_disabled(self):
        c = TlsRaw(source=fresh_ip())
        try:
            code, lines = c.auth_plain(DISABLED, ACCT_PASSWORD)
            self.assertEqual(code, 525, lines)
            self.assertIn("5.7.13", lines[0])
            self.assertIn("account on hold, call the office", lines[0])
            # The wrong password gets the ordinary answer: nothing revealed.
            self.assertEqual(c.auth_plain(DISABLED, "wrong")[0], 535)
        finally:
            c.close()
        want = [["badcreds"], ["logindisabled"]]
        rows = srv.psql_wait("select result from login_attempts where account_name = :'a'"
                             " order by result", want, a=DISABLED)
        self.assertEqual(rows, want)

    def test_login_attempts_recorded(self):
        ip = fresh_ip()
        c = TlsRaw(source=ip)
        try:
            self.assertEqual(c.auth_plain(USER, "bad")[0], 535)
            self.assertEqual(c.auth_plain()[0], 235)
        finally:
            c.close()
        want = [[USER, USER, "submission", "plain", "badcreds", "127.0.0.1", "t"],
                [USER, USER, "submission", "plain", "ok", "127.0.0.1", "t"]]
        rows = srv.psql_wait("select account_name, login_address, protocol, auth_mech, result,"
                             " local_ip, tls like 'version=TLS1.%' from login_attempts"
                             " where remote_ip = :'ip' order by result", want, ip=ip)
        self.assertEqual(rows, want)
        # Passwords never reach the log.
        with open(srv.logpath("smtpd")) as f:
            logtext = f.read()
        self.assertNotIn(PASSWORD, logtext)
        self.assertIn("ev=auth mech=plain user=%s" % USER, logtext)

    def test_failed_auth_rate_limit(self):
        # FEATURES.md: 10 failed logins per minute per IP, then 454 without
        # trying, and new submission connections are refused. The limiter
        # counts in whole minutes: do not start right before one ends.
        if time.time() % 60 > 45:
            time.sleep(61 - time.time() % 60)
        ip = fresh_ip()
        waiting = TlsRaw(source=ip)
        results = []

        def fail_once():
            c = TlsRaw(source=ip)
            try:
                results.append(c.auth_plain(USER, "wrong")[0])
            finally:
                c.close()

        try:
            threads = [threading.Thread(target=fail_once) for _ in range(10)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            self.assertEqual(results, [535] * 10)
            code, lines = waiting.auth_plain()
            self.assertEqual(code, 454, lines)
            self.assertIn("too many authentication failures", lines[0])
            self.assertEqual(waiting.smtp("NOOP")[0], 250)
        finally:
            waiting.close()
        # New submission connections from that address are refused...
        r = harness.Raw.__new__(harness.Raw)
        r.buf = b""
        r.sock = socket.create_connection(("127.0.0.1", srv.ports["submission"]),
                                          timeout=harness.TIMEOUT, source_address=(ip, 0))
        try:
            code, lines = r.smtp_reply()
            self.assertEqual(code, 421, lines)
        finally:
            r.close()
        # ...while everybody else logs in as usual.
        c = TlsRaw(source=fresh_ip())
        try:
            self.assertEqual(c.auth_plain()[0], 235)
        finally:
            c.close()
        rows = srv.psql_wait("select count from login_attempts where remote_ip = :'ip'"
                             " and result = 'ratelimited'", [["1"]], ip=ip)
        self.assertEqual(rows, [["1"]])


class ConnectionLimitTest(harness.TestCase):

    def test_localhost_is_not_limited(self):
        """127.0.0.1 (local webmail, monitoring) gets past the 30-at-once
        limit that applies to other addresses."""
        conns = []
        try:
            for _ in range(35):
                r = srv.raw_smtp()
                conns.append(r)
                self.assertEqual(r.smtp("NOOP")[0], 250)
        finally:
            for r in conns:
                r.close()

    def test_concurrent_connections_per_ip(self):
        ip = fresh_ip()
        conns = []

        def connect():
            r = harness.Raw.__new__(harness.Raw)
            r.buf = b""
            r.sock = socket.create_connection(("127.0.0.1", srv.smtp_port),
                                              timeout=harness.TIMEOUT, source_address=(ip, 0))
            return r

        try:
            for _ in range(30):
                r = connect()
                conns.append(r)
                self.assertEqual(r.smtp_reply()[0], 220)
            r = connect()
            conns.append(r)
            code, lines = r.smtp_reply()
            self.assertEqual(code, 421)
            self.assertIn("too many connections from your address", lines[0])
            self.assertTrue(r.closed(5))
            # Another address is not affected.
            with srv.raw_smtp() as other:
                self.assertEqual(other.smtp("NOOP")[0], 250)
            # A slot comes free when a connection ends.
            conns[0].smtp("QUIT")
            conns[0].close()

            def admitted():
                x = connect()
                conns.append(x)
                return x.smtp_reply()[0] == 220
            self.assertTrue(harness.wait_for(admitted, 5, 0.2))
        finally:
            for r in conns:
                r.close()


class SubmitTest(harness.TestCase):

    def test_remote_recipient_is_queued(self):
        msg, subject = message(to="someone@remote.example")
        code, text = submit(msg, ["someone@remote.example"])
        self.assertEqual(code, 250, text)
        rows = queue_rows(subject)
        self.assertEqual(len(rows), 1)
        (qid, slp, sdom, rlp, rdom, path, next_attempt, frr, extra, reqtls, mid, acct,
         prefix) = rows[0]
        self.assertEqual((slp, sdom, rlp, rdom, acct), ("user", "example.org", "someone",
                                                        "remote.example", USER))
        self.assertLessEqual(abs(int(next_attempt) - time.time()), 60)
        self.assertEqual((frr, extra, reqtls), ("", "{}", "null"))
        self.assertTrue(mid.startswith("<mid-"))
        self.assertIn("with ESMTPSA", prefix)
        self.assertIn("for <someone@remote.example>", prefix)
        self.assertNotIn("Return-Path", prefix)
        self.assertIn("auth=pass smtp.mailfrom=%s" % USER, prefix)
        with open(os.path.join(srv.datadir, path), "rb") as f:
            self.assertEqual(f.read(), msg)
        # Not delivered locally to anyone.
        self.assertEqual(mailbox_messages(USER, PASSWORD, subject), [])

    def test_local_recipient_lands_in_mailbox(self):
        msg, subject = message(to=OTHER)
        code, text = submit(msg, [OTHER])
        self.assertEqual(code, 250, text)
        uid, body = self.assertDelivered(srv, msg, user=OTHER, password=OTHER_PASSWORD,
                                         mail_from=USER)
        trace, _ = harness.split_trace(body)
        self.assertIn(b"with ESMTPSA", trace)
        self.assertIn(b"Authentication-Results: mail.example.org; auth=pass", trace)
        # The submitting client's address is not published.
        self.assertNotIn(b"[127.0.0.1]", trace)
        self.assertEqual(queue_rows(subject), [])

    def test_local_and_remote_in_one_message(self):
        msg, subject = message(to=OTHER)
        code, text = submit(msg, [OTHER, "a@remote.example", "b@remote.example"])
        self.assertEqual(code, 250, text)
        self.assertEqual(len(mailbox_messages(OTHER, OTHER_PASSWORD, subject)), 1)
        rows = queue_rows(subject)
        self.assertEqual(sorted(r[3] for r in rows), ["a", "b"])
        # No "for" clause with several recipients.
        self.assertNotIn("for <", rows[0][12])

    def test_mail_from_must_be_own_address(self):
        msg, _ = message(frm=OTHER)
        code, text = submit(msg, ["x@remote.example"], mail_from=OTHER)
        self.assertEqual(code, 550, text)
        self.assertTrue(text.startswith(b"5.7.1"), text)
        for bad in ("nobody@example.org", "user@elsewhere.example", "user@[127.0.0.1]"):
            code, text = submit(msg, ["x@remote.example"], mail_from=bad)
            self.assertEqual(code, 550, (bad, text))
        # Catch-all separator: user+tag@ is the user's.
        msg, subject = message(frm="user+news@example.org")
        code, text = submit(msg, ["x@remote.example"], mail_from="user+news@example.org")
        self.assertEqual(code, 250, text)
        self.assertEqual(queue_rows(subject)[0][1], "user+news")
        # The null reverse-path is allowed, as in the reference (mail
        # clients send read receipts with it); the From is still checked.
        msg, subject = message()
        code, text = submit(msg, ["x@remote.example"], mail_from="")
        self.assertEqual(code, 250, text)
        self.assertEqual(queue_rows(subject)[0][1:3], ["", ""])

    def test_from_header_rules(self):
        # Not the account's address.
        msg, subject = message(frm=OTHER)
        code, text = submit(msg, ["x@remote.example"])
        self.assertEqual(code, 550, text)
        self.assertTrue(text.startswith(b"5.7.1"), text)
        self.assertEqual(queue_rows(subject), [])
        # No From, two From fields, two addresses.
        for hdrs in (["To: <x@remote.example>"],
                     ["From: <%s>" % USER, "From: <%s>" % USER],
                     ["From: <%s>, <%s>" % (USER, OTHER)]):
            msg = ("\r\n".join(hdrs + ["Subject: s"]) + "\r\n\r\nbody\r\n").encode()
            code, text = submit(msg, ["x@remote.example"])
            self.assertEqual(code, 550, (hdrs, text))
        # No empty line between header and body.
        code, text = submit(b"From: <%s>\r\nSubject: s\r\n" % USER.encode(), ["x@remote.example"])
        self.assertEqual(code, 554, text)

    def test_alias_as_from(self):
        # allow-msg-from: members may send as the alias.
        msg, subject = message(frm="team@example.org")
        code, text = submit(msg, ["x@remote.example"], mail_from="team@example.org")
        self.assertEqual(code, 250, text)
        self.assertEqual(len(queue_rows(subject)), 1)
        # Without allow-msg-from, not as MAIL FROM and not as From.
        msg, _ = message(frm="closed@example.org")
        self.assertEqual(submit(msg, ["x@remote.example"], mail_from="closed@example.org")[0], 550)
        self.assertEqual(submit(msg, ["x@remote.example"])[0], 550)
        # A non-member cannot use it either.
        msg, _ = message(frm="team@example.org")
        self.assertEqual(submit(msg, ["x@remote.example"], user=LIMITED,
                                password=ACCT_PASSWORD, mail_from=LIMITED)[0], 550)

    def test_alias_recipient_local_and_external_members(self):
        msg, subject = message(to="fwd@example.org")
        code, text = submit(msg, ["fwd@example.org"], user=OTHER, password=OTHER_PASSWORD,
                            mail_from=OTHER)
        self.assertEqual(code, 550, text)  # from OTHER, not ours: From check
        msg, subject = message(frm=OTHER, to="fwd@example.org")
        code, text = submit(msg, ["fwd@example.org"], user=OTHER, password=OTHER_PASSWORD,
                            mail_from=OTHER)
        # fwd@ is members-only: OTHER is not a member.
        self.assertEqual(code, 550, text)
        self.assertTrue(text.startswith(b"5.7.2"), text)
        msg, subject = message(to="fwd@example.org")
        code, text = submit(msg, ["fwd@example.org"])
        self.assertEqual(code, 250, text)
        # USER is the sender and a member: no copy to itself; the external
        # member is queued.
        rows = queue_rows(subject)
        self.assertEqual([(r[3], r[4]) for r in rows], [("friend", "elsewhere.example")])

    def test_unknown_local_recipient(self):
        s = smtplib.SMTP_SSL("127.0.0.1", srv.ports["submissions"], timeout=harness.TIMEOUT,
                             context=tls_context())
        try:
            s.login(USER, PASSWORD)
            self.assertEqual(s.mail(USER)[0], 250)
            code, text = s.rcpt("nosuchuser@example.org")
            self.assertEqual(code, 550)
            self.assertTrue(text.startswith(b"5.1.1"), text)
            self.assertEqual(s.rcpt("x@[192.0.2.1]")[0], 250)
        finally:
            s.quit()

    def test_future_release(self):
        msg, subject = message()
        code, text = submit(msg, ["x@remote.example", OTHER], mail_options=["HOLDFOR=3600"])
        self.assertEqual(code, 250, text)
        rows = queue_rows(subject)
        # Local recipients wait for the release time too: they are queued.
        self.assertEqual(sorted(r[3] for r in rows), ["other", "x"])
        for r in rows:
            self.assertLessEqual(abs(int(r[6]) - (time.time() + 3600)), 60)
            self.assertEqual(r[7], "for;3600")
        self.assertEqual(mailbox_messages(OTHER, OTHER_PASSWORD, subject), [])
        until = (datetime.datetime.now(datetime.timezone.utc) +
                 datetime.timedelta(days=2)).replace(microsecond=0)
        stamp = until.strftime("%Y-%m-%dT%H:%M:%SZ")
        msg, subject = message()
        code, text = submit(msg, ["x@remote.example"], mail_options=["HOLDUNTIL=" + stamp])
        self.assertEqual(code, 250, text)
        rows = queue_rows(subject)
        self.assertEqual(int(rows[0][6]), int(until.timestamp()))
        self.assertEqual(rows[0][7], "until;" + stamp)
        # Too far, or in the past: 554 as the reference answers.
        for opt in ("HOLDFOR=%d" % (61 * 86400), "HOLDUNTIL=2001-01-01T00:00:00Z"):
            code, text = submit(msg, ["x@remote.example"], mail_options=[opt])
            self.assertEqual(code, 554, (opt, text))

    def test_extra_headers(self):
        msg, subject = message(extra_headers=["X-Mailstead-Extra-Foo: bar",
                                              "X-Mailstead-Extra-Order-Id: 123"])
        code, text = submit(msg, ["x@remote.example"])
        self.assertEqual(code, 250, text)
        rows = queue_rows(subject)
        self.assertEqual(json.loads(rows[0][8]), {"Foo": "bar", "Order-Id": "123"})
        with open(os.path.join(srv.datadir, rows[0][5]), "rb") as f:
            data = f.read()
        self.assertNotIn(b"X-Mailstead-Extra", data)
        self.assertIn(b"Subject: " + subject.encode(), data)
        # A key twice is refused, as in the reference.
        msg, subject = message(extra_headers=["X-Mailstead-Extra-Foo: a",
                                              "X-Mailstead-Extra-Foo: b"])
        code, text = submit(msg, ["x@remote.example"])
        self.assertEqual(code, 554, text)
        self.assertEqual(queue_rows(subject), [])

    def test_requiretls_and_tls_required_no(self):
        msg, subject = message()
        self.assertEqual(submit(msg, ["x@remote.example"], mail_options=["REQUIRETLS"])[0], 250)
        self.assertEqual(queue_rows(subject)[0][9], "true")
        msg, subject = message(extra_headers=["TLS-Required: No"])
        self.assertEqual(submit(msg, ["x@remote.example"])[0], 250)
        self.assertEqual(queue_rows(subject)[0][9], "false")

    def test_message_id_and_date_added(self):
        msg, subject = message(to=OTHER, msgid=False, date=False)
        self.assertEqual(submit(msg, [OTHER, "x@remote.example"])[0], 250)
        got = mailbox_messages(OTHER, OTHER_PASSWORD, subject)
        self.assertEqual(len(got), 1)
        self.assertTrue(got[0].endswith(msg))
        added = got[0][:-len(msg)]
        self.assertRegex(added, rb"\r\nMessage-Id: <[A-Za-z0-9_-]+@mail\.example\.org>\r\n")
        self.assertRegex(added, rb"\r\nDate: [A-Z][a-z]{2}, ")
        rows = queue_rows(subject)
        self.assertRegex(rows[0][10], r"^<[A-Za-z0-9_-]+@mail\.example\.org>$")
        self.assertIn("Message-Id: " + rows[0][10], rows[0][12])

    def test_daily_limit(self):
        srv.psql("update accounts set max_outgoing_messages_per_day = 2 where name = :'n'",
                 n=LIMITED)
        msg, _ = message(frm=LIMITED)
        ok = submit(msg, ["a@remote.example", "b@remote.example"], user=LIMITED,
                    password=ACCT_PASSWORD, mail_from=LIMITED)
        self.assertEqual(ok[0], 250, ok)
        msg, subject = message(frm=LIMITED)
        code, text = submit(msg, ["c@remote.example"], user=LIMITED, password=ACCT_PASSWORD,
                            mail_from=LIMITED)
        self.assertEqual(code, 451, text)
        self.assertEqual(text, b"4.7.1 max number of messages (2) over past 24h reached, try "
                               b"increasing per-account setting max_outgoing_messages_per_day")
        self.assertEqual(queue_rows(subject), [])

    def test_submission_needs_auth(self):
        s = smtplib.SMTP_SSL("127.0.0.1", srv.ports["submissions"], timeout=harness.TIMEOUT,
                             context=tls_context())
        try:
            s.ehlo("client.example")
            self.assertEqual(s.mail(USER)[0], 530)
            self.assertEqual(s.rcpt("x@remote.example")[0], 530)
        finally:
            s.quit()
        # Port 25 still never relays.
        with srv.smtp() as s:
            self.assertEqual(s.mail(USER)[0], 250)
            self.assertEqual(s.rcpt("x@remote.example")[0], 550)


if __name__ == "__main__":
    import unittest
    unittest.main()
