"""TLS in mailstead-smtpd with real clients: STARTTLS on port 25 and on
submission, implicit TLS on submissions, the EHLO keywords before and after
TLS, REQUIRETLS, the Received comment and stored TLS facts, STARTTLS command
injection, certificate reload on SIGHUP, and broken TLS clients."""
import hashlib
import imaplib
import os
import signal
import smtplib
import socket
import ssl
import subprocess
import time
import unittest

import harness
from harness import USER, PASSWORD, make_message

srv = None


def setUpModule():
    global srv
    srv = harness.Server(name="tls", tls=True,
                         listener_conf={"submission": "{port:submission}",
                                        "submissions": "{port:submissions}"},
                         extra_ports=("submission", "submissions")).start()


def tearDownModule():
    srv.stop()


def client_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def ehlo_keywords(smtp):
    code, text = smtp.ehlo("client.example")
    assert code == 250, (code, text)
    return [ln.split(b" ")[0].decode() for ln in text.splitlines()[1:]]


def peer_cert_sha256(port):
    s = smtplib.SMTP("127.0.0.1", port, timeout=harness.TIMEOUT)
    try:
        s.starttls(context=client_context())
        der = s.sock.getpeercert(binary_form=True)
        return hashlib.sha256(der).hexdigest()
    finally:
        s.quit()


class TlsTest(harness.TestCase):

    def inbox_count(self):
        with srv.imap() as m:
            typ, data = m.select("INBOX")
            return int(data[0])

    def last_message(self):
        with srv.imap() as m:
            typ, data = m.select("INBOX")
            n = int(data[0])
            typ, data = m.fetch(str(n), "(BODY.PEEK[])")
            return data[0][1]

    def test_ehlo_before_and_after_starttls(self):
        s = smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=harness.TIMEOUT)
        try:
            before = ehlo_keywords(s)
            self.assertIn("STARTTLS", before)
            self.assertNotIn("REQUIRETLS", before)
            self.assertNotIn("FUTURERELEASE", before)
            s.starttls(context=client_context())
            after = ehlo_keywords(s)
            self.assertNotIn("STARTTLS", after)
            # FEATURES.md order: REQUIRETLS right after SIZE once TLS is on.
            self.assertEqual(after, ["PIPELINING", "SIZE", "REQUIRETLS", "ENHANCEDSTATUSCODES",
                                     "8BITMIME", "LIMITS", "SMTPUTF8"])
            # A second STARTTLS is refused, the session goes on.
            code, _ = s.docmd("STARTTLS")
            self.assertEqual(code, 503)
            self.assertEqual(s.noop()[0], 250)
        finally:
            s.quit()

    def test_starttls_delivery_records_tls(self):
        subject = harness.unique("tls")
        msg, _ = make_message(subject=subject)
        s = smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=harness.TIMEOUT)
        s.starttls(context=client_context())
        s.sendmail("sender@example.net", [USER], msg)
        s.quit()
        data = self.last_message()
        trace, body = harness.split_trace(data)
        self.assertIn(b"with ESMTPS", trace)
        self.assertRegex(trace, rb"\(TLS1\.[23] TLS_[A-Z0-9_]+\)")
        self.assertEqual(body, msg)
        rows = srv.psql("select received_tls_version, received_tls_cipher_suite,"
                        " received_require_tls from messages where subject_base = :'s'",
                        s=subject)
        self.assertEqual(len(rows), 1)
        self.assertIn(rows[0][0], ("771", "772"))  # 0x0303 / 0x0304
        self.assertNotEqual(rows[0][1], "0")
        self.assertEqual(rows[0][2], "f")

    def test_requiretls(self):
        subject = harness.unique("reqtls")
        s = smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=harness.TIMEOUT)
        try:
            s.ehlo()
            # Not announced without TLS: refused like an unknown parameter.
            code, _ = s.mail("sender@example.net", ["REQUIRETLS"])
            self.assertEqual(code, 555)
            s.starttls(context=client_context())
            s.ehlo()
            code, _ = s.mail("sender@example.net", ["REQUIRETLS"])
            self.assertEqual(code, 250)
            self.assertEqual(s.rcpt(USER)[0], 250)
            self.assertEqual(s.data(make_message(subject=subject)[0])[0], 250)
        finally:
            s.quit()
        trace, _ = harness.split_trace(self.last_message())
        self.assertIn(b"(requiretls)", trace)
        rows = srv.psql("select received_require_tls from messages where subject_base = :'s'",
                        s=subject)
        self.assertEqual(rows, [["t"]])

    def test_require_starttls_not_set_plain_mail_works(self):
        # smtp_require_starttls defaults to no: plain mail still arrives.
        before = self.inbox_count()
        s = smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=harness.TIMEOUT)
        s.sendmail("sender@example.net", [USER], make_message()[0])
        s.quit()
        self.assertEqual(self.inbox_count(), before + 1)

    def test_starttls_injection_discarded(self):
        # CVE-2011-0411 class: commands pipelined after STARTTLS in the same
        # packet must never be executed after the handshake.
        sock = socket.create_connection(("127.0.0.1", srv.smtp_port), timeout=harness.TIMEOUT)
        f = sock.makefile("rb")
        self.assertTrue(f.readline().startswith(b"220"))
        sock.sendall(b"EHLO a\r\n")
        while True:
            ln = f.readline()
            if ln[3:4] == b" ":
                break
        sock.sendall(b"STARTTLS\r\nMAIL FROM:<injected@example.net>\r\n")
        self.assertTrue(f.readline().startswith(b"220"))
        tls = client_context().wrap_socket(sock, server_hostname="localhost")
        tls.settimeout(1.0)
        # Nothing may come back on its own: the injected MAIL was dropped.
        with self.assertRaises(socket.timeout):
            tls.recv(100)
        tls.settimeout(harness.TIMEOUT)
        tf = tls.makefile("rb")
        # The session was reset: MAIL needs EHLO again.
        tls.sendall(b"MAIL FROM:<x@example.net>\r\n")
        self.assertTrue(tf.readline().startswith(b"503"))
        tls.sendall(b"QUIT\r\n")
        self.assertTrue(tf.readline().startswith(b"221"))
        tls.close()
        self.assertIn("ev=starttls-injection", open(srv.logpath("smtpd")).read())

    def test_submission_starttls_requires_auth(self):
        s = smtplib.SMTP("127.0.0.1", srv.ports["submission"], timeout=harness.TIMEOUT)
        try:
            kw = ehlo_keywords(s)
            self.assertIn("STARTTLS", kw)
            self.assertIn("FUTURERELEASE", kw)
            s.starttls(context=client_context())
            kw = ehlo_keywords(s)
            self.assertIn("REQUIRETLS", kw)
            code, text = s.mail("user@example.org")
            self.assertEqual(code, 530, text)
        finally:
            s.quit()

    def test_submissions_implicit_tls(self):
        s = smtplib.SMTP_SSL("127.0.0.1", srv.ports["submissions"], timeout=harness.TIMEOUT,
                             context=client_context())
        try:
            self.assertTrue(s.sock.version().startswith("TLSv1."))
            code, text = s.ehlo("client.example")
            self.assertEqual(code, 250)
            future = [ln for ln in text.splitlines() if ln.startswith(b"FUTURERELEASE")]
            self.assertEqual(len(future), 1)
            self.assertEqual(future[0].split()[1], b"5184000")
            self.assertNotIn(b"STARTTLS", text)
            self.assertEqual(s.mail("user@example.org")[0], 530)
        finally:
            s.quit()

    def test_plaintext_on_implicit_tls_port(self):
        # A plain-text client on 465 gets no greeting and is disconnected;
        # the daemon keeps serving.
        with harness.Raw(srv.ports["submissions"]) as r:
            r.send(b"EHLO plain\r\n")
            self.assertTrue(r.closed(10))
        self.assertTrue(srv.daemon_alive("smtpd"))

    def test_garbage_handshake(self):
        with harness.Raw(srv.smtp_port) as r:
            self.assertTrue(r.line().startswith(b"220"))
            r.send(b"STARTTLS\r\n")
            self.assertTrue(r.line().startswith(b"220"))
            r.send(b"GET / HTTP/1.0\r\n\r\n" * 20)
            self.assertTrue(r.closed(10))
        s = smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=harness.TIMEOUT)
        self.assertEqual(s.noop()[0], 250)
        s.quit()

    def test_imap_logins_disabled_when_tls_required(self):
        # imap_require_starttls (the default): before STARTTLS, CAPABILITY
        # says STARTTLS and LOGINDISABLED, and LOGIN is refused; after
        # STARTTLS the login works (test_imap_tls.py tests the rest).
        port = harness.free_port()
        path = os.path.join(srv.dir, "imap-strict.conf")
        with open(path, "w") as f:
            f.write(srv.conf_text(listener={"imap": str(port), "imap_require_starttls": "yes"}))
        if srv.owner:
            os.chown(path, *srv.owner)
        log = open(os.path.join(srv.dir, "logs", "imapd-strict.log"), "ab")
        proc = subprocess.Popen([harness.DAEMONS["imapd"], "-c", path], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT)
        log.close()
        try:
            self.assertTrue(harness.wait_for(lambda: harness.port_open(port), 20))
            m = imaplib.IMAP4("127.0.0.1", port, timeout=harness.TIMEOUT)
            typ, data = m.capability()
            self.assertIn(b"LOGINDISABLED", data[0])
            self.assertIn(b"STARTTLS", data[0])
            with self.assertRaises(imaplib.IMAP4.error):
                m.login(USER, PASSWORD)
            m.starttls(ssl_context=client_context())
            self.assertNotIn("LOGINDISABLED", m.capabilities)
            self.assertEqual(m.login(USER, PASSWORD)[0], "OK")
            m.logout()
        finally:
            proc.terminate()
            proc.wait(10)

    def test_zz_sighup_reloads_certificate(self):
        old = peer_cert_sha256(srv.smtp_port)
        # A connection made before the reload keeps working afterwards.
        early = smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=harness.TIMEOUT)
        early.starttls(context=client_context())
        early.ehlo()
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
        srv.procs["smtpd"].send_signal(signal.SIGHUP)
        self.assertTrue(harness.wait_for(lambda: "ev=tls-reload result=ok" in
                                         open(srv.logpath("smtpd")).read(), 10))
        new = peer_cert_sha256(srv.smtp_port)
        self.assertNotEqual(old, new)
        self.assertEqual(early.noop()[0], 250)
        early.quit()


if __name__ == "__main__":
    unittest.main()
