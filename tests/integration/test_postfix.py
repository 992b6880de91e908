"""Postfix as an SMTP peer: a private Postfix instance (tests/integration/
postfix.py) relays mail into mailstead-smtpd, over plain SMTP and over
STARTTLS; the messages are read back over IMAP byte-exact apart from the
trace header lines, and Postfix's own log must show status=sent to our port.

Needs the Debian package postfix (a failure when missing, like every other
tool of the suite) and root to start Postfix (skipped, with the reason, when
not root).
"""

import os
import re
import shutil
import tempfile
import unittest

import harness
import postfix
from harness import SENDER, USER, make_message, unique

srv = None
pfdir = None
relays = {}  # "plain"/"tls" -> started Postfix


def setUpModule():
    global srv, pfdir
    if not os.path.exists(postfix.POSTFIX):
        raise harness.HarnessError(postfix.available())
    why = postfix.available()
    if why:
        raise unittest.SkipTest("Postfix relay tests: %s" % why)
    srv = harness.Server("postfix", tls=True).start()
    pfdir = tempfile.mkdtemp(prefix="mailstead-postfix-", dir="/tmp")
    os.chmod(pfdir, 0o755)  # Postfix's services run as the postfix user


def tearDownModule():
    for pf in relays.values():
        try:
            pf.stop()
        except Exception as e:  # noqa: BLE001 - best effort
            harness.log("stopping Postfix in %s: %r" % (pf.base, e))
    if pfdir:
        if harness.KEEP:
            harness.log("keeping %s" % pfdir)
        else:
            shutil.rmtree(pfdir, ignore_errors=True)
    if srv:
        srv.stop()


def relay(kind):
    """The private Postfix relaying to srv: plain (no TLS) or tls (STARTTLS
    required, our self-signed certificate as its CA file)."""
    if kind not in relays:
        if kind == "plain":
            pf = postfix.Postfix(os.path.join(pfdir, kind), mode="relay",
                                 relayhost=("127.0.0.1", srv.smtp_port), tls="none")
        else:
            pf = postfix.Postfix(os.path.join(pfdir, kind), mode="relay",
                                 relayhost=("127.0.0.1", srv.smtp_port), tls="encrypt",
                                 tls_cafile=srv.tls_cert)
        relays[kind] = pf.start()
    return relays[kind]


class PostfixRelayTest(harness.TestCase):

    def run(self, result=None):
        before = len(result.failures) + len(result.errors) if result is not None else 0
        out = super().run(result)
        if result is not None and len(result.failures) + len(result.errors) > before:
            # harness.TestCase printed the Mailstead logs; add Postfix's.
            for pf in relays.values():
                harness.log("Postfix log after %s:\n%s" % (self.id(), pf.log_tail(30)))
        return out

    def relay_message(self, pf, tag):
        body = (b"Relayed through Postfix (%s).\r\n\r\n.a line starting with a dot\r\n"
                b"..two dots\r\ntrailing spaces   \r\n\tTab\r\n" % tag.encode())
        msg, msgid = make_message(subject=unique("postfix-" + tag), body=body,
                                  extra_headers=["X-Test: postfix-%s" % tag])
        code, resp = pf.submit(msg, SENDER, [USER])
        self.assertEqual(code, 250, resp)
        m = re.search(rb"queued as ([0-9A-F]+)", resp)
        self.assertTrue(m, "no queue id in Postfix's reply %r" % resp)
        qid = m.group(1).decode()
        # Postfix delivers asynchronously; its log line is the delivery report.
        done = pf.wait_log(r"%s: to=<%s>, relay=([^,]*), .*status=(\w+) \((.*)\)"
                           % (qid, re.escape(USER)), timeout=30)
        if not done or done.group(2) != "sent":
            self.fail("Postfix did not relay %s to 127.0.0.1:%d (status %s)\n%s"
                      % (qid, srv.smtp_port, done.group(0) if done else "none within 30 s",
                         pf.log_tail()))
        self.assertEqual(done.group(1), "127.0.0.1[127.0.0.1]:%d" % srv.smtp_port,
                         "Postfix relayed to the wrong host")
        self.assertTrue(done.group(3).startswith("250 "), done.group(0))
        return msg, qid

    def test_relay_plain(self):
        pf = relay("plain")
        msg, qid = self.relay_message(pf, "plain")
        _uid, got = self.assertDelivered(srv, msg)
        trace, _ = harness.split_trace(got)
        # Postfix's own Received line travels along with the message.
        self.assertIn(b"by " + postfix.MYHOSTNAME.encode(), trace, trace)
        self.assertIn(qid.encode(), trace, trace)
        self.assertDaemonsAlive(srv)

    def test_relay_starttls(self):
        with srv.smtp() as s:
            offered = s.has_extn("starttls")
        if not offered:
            self.fail("mailstead-smtpd does not offer STARTTLS on a listener with tls_cert=%s "
                      "and tls_key=%s, so Postfix (smtp_tls_security_level=encrypt) cannot "
                      "relay over TLS. Expected to pass once TLS is wired into smtpd."
                      % (srv.tls_cert, srv.tls_key))
        pf = relay("tls")
        msg, qid = self.relay_message(pf, "starttls")
        m = pf.wait_log(r"(Trusted|Untrusted|Verified) TLS connection established to "
                        r"127\.0\.0\.1\[127\.0\.0\.1\]:%d: (\S+)" % srv.smtp_port, timeout=5)
        self.assertTrue(m, "Postfix's log shows no TLS connection to our port\n%s" % pf.log_tail())
        self.assertDelivered(srv, msg)
        self.assertDaemonsAlive(srv)


if __name__ == "__main__":
    unittest.main()
