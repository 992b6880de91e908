"""mailstead-queued against real peers on loopback, beyond the scripted
sink of test_queued.py:

  * Postfix (Debian) as the recipient domain's MX, over STARTTLS;
  * two mailstead-queued processes on one database delivering 200 queued
    messages: each arrives exactly once;
  * kill -9 of mailstead-queued while the sink holds back its answer to
    the message: after the lease passes the message is sent again once
    (the one duplicate RFC 5321 section 6.1 allows when the "250" is
    lost), nothing is lost, nothing is sent a third time;
  * the submission (STARTTLS) and submissions (implicit TLS) transports
    into a second Mailstead, authenticating with SCRAM-SHA-256;
  * the socks transport through a small SOCKS5 server (RFC 1928) written
    here;
  * submission of a message to an address on the account's suppression
    list is refused at RCPT TO.

Every MX name of the test zone points at its own loopback address and
direct delivery uses one port ([queue] direct_port)."""

import os
import select
import shutil
import signal
import smtplib
import socket
import socketserver
import ssl
import struct
import subprocess
import tempfile
import threading
import time
import unittest

import harness
import nginx
from harness import USER, PASSWORD, wait_for, unique
import postfix
import smtpsink

SND = RCV = SINK = SOCKS = PF = None
PORT = None
pfdir = None
RCV_USER = "bob@rcv.test"
RCV_PASSWORD = "rcv-Secret-9"
SINK_DOMAINS = ["s%d.test" % i for i in range(1, 6)]

ZONE = "\n".join([
    "sink.test. MX 10 mx.sink.test.",
    "mx.sink.test. A 127.0.0.3",
    "pf.test. MX 10 mx.pf.test.",
    "mx.pf.test. A 127.0.0.2",
] + ["%s MX 10 mx.sink.test." % d for d in SINK_DOMAINS]) + "\n"


class Socks5:
    """A SOCKS5 proxy (RFC 1928), no authentication, CONNECT to IPv4 and
    IPv6 addresses only; it records each CONNECT target."""

    def __init__(self):
        self.targets = []
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                outer._session(self.request)

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def _read(s, n):
        b = b""
        while len(b) < n:
            c = s.recv(n - len(b))
            if not c:
                raise EOFError
            b += c
        return b

    def _session(self, s):
        try:
            ver, nmethods = self._read(s, 2)
            methods = self._read(s, nmethods)
            if ver != 5 or 0 not in methods:
                s.sendall(b"\x05\xff")
                return
            s.sendall(b"\x05\x00")
            ver, cmd, _, atyp = self._read(s, 4)
            if atyp == 1:
                host = socket.inet_ntop(socket.AF_INET, self._read(s, 4))
            elif atyp == 4:
                host = socket.inet_ntop(socket.AF_INET6, self._read(s, 16))
            else:
                s.sendall(b"\x05\x08\x00\x01" + b"\0" * 6)
                return
            (port,) = struct.unpack("!H", self._read(s, 2))
            if ver != 5 or cmd != 1:
                s.sendall(b"\x05\x07\x00\x01" + b"\0" * 6)
                return
            self.targets.append((host, port))
            try:
                up = socket.create_connection((host, port), timeout=10)
            except OSError:
                s.sendall(b"\x05\x05\x00\x01" + b"\0" * 6)
                return
            s.sendall(b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") + b"\0\0")
            try:
                socks = [s, up]
                while True:
                    r, _, _ = select.select(socks, [], [], 60)
                    if not r:
                        return
                    for x in r:
                        data = x.recv(65536)
                        if not data:
                            return
                        (up if x is s else s).sendall(data)
            finally:
                up.close()
        except (EOFError, OSError, ValueError):
            return


class PostfixOn(postfix.Postfix):
    """The private Postfix listening on another loopback address."""

    def __init__(self, base, ip, **kw):
        self.ip = ip
        super().__init__(base, **kw)

    def master_cf(self):
        return super().master_cf().replace("127.0.0.1:%d " % self.port,
                                           "%s:%d " % (self.ip, self.port), 1)

    def start(self, timeout=30):
        # postfix.py waits for 127.0.0.1:port; this one listens elsewhere.
        def open_on(port):
            try:
                with socket.create_connection((self.ip, port), timeout=1):
                    return True
            except OSError:
                return False
        orig = postfix._port_open
        postfix._port_open = open_on
        try:
            return super().start(timeout)
        finally:
            postfix._port_open = orig


def setUpModule():
    global SND, RCV, SINK, SOCKS, PORT, pfdir
    PORT = harness.free_port_on("127.0.0.2", "127.0.0.3")
    SINK = smtpsink.Sink("127.0.0.3", PORT, slow=6).start()
    SOCKS = Socks5()
    RCV = harness.Server("qprcv", tls=True, daemons=("smtpd", "imapd"),
                         listener_conf={"submission": "{port:submission}",
                                        "submissions": "{port:submissions}"},
                         extra_ports=("submission", "submissions"))
    orig_start = RCV._start

    def start_with_domain():
        accts, RCV.accounts = RCV.accounts, []
        orig_start()
        RCV.cli("domain", "add", "rcv.test")
        for a, p in accts + [(RCV_USER, RCV_PASSWORD)]:
            RCV.add_account(a, p)
    RCV._start = start_with_domain
    RCV.start()
    pfdir = tempfile.mkdtemp(prefix="mailstead-qpeers-", dir="/tmp")
    os.chmod(pfdir, 0o755)
    pwfile = os.path.join(pfdir, "relay-password")
    with open(pwfile, "w") as f:
        f.write(PASSWORD + "\n")
    os.chmod(pwfile, 0o644)
    pwfile2 = os.path.join(pfdir, "relay-password-bob")
    with open(pwfile2, "w") as f:
        f.write(RCV_PASSWORD + "\n")
    os.chmod(pwfile2, 0o644)
    # The relay takes mail from the same address as on the sender (MAIL
    # FROM must be the authenticated account's), for bob@rcv.test there.
    common = {"host": "127.0.0.1", "username": USER, "password_file": pwfile,
              "auth_mechanisms": "SCRAM-SHA-256"}
    SND = harness.Server(
        "qpsnd", daemons=("smtpd", "imapd", "queued"), dns_zone=ZONE,
        queue_conf={"direct_port": str(PORT), "backoff_ms": "400", "lease": "12s",
                    "connect_timeout": "2s", "command_timeout": "30s",
                    "max_concurrent": "3", "tls_ca_file": RCV.tls_cert,
                    "retired_cleanup": "1h"},
        listener_conf={"submission": "{port:submission}"}, extra_ports=("submission",),
        tls=True,
        extra_sections=[
            ("transport subm", dict(common, type="submission",
                                    port=str(RCV.ports["submission"]))),
            ("transport subms", dict(common, type="submissions",
                                     port=str(RCV.ports["submissions"]))),
            # Logs in as bob, whose relay refuses MAIL FROM user@.
            ("transport submbob", dict(common, type="submission", username=RCV_USER,
                                       password_file=pwfile2,
                                       port=str(RCV.ports["submission"]))),
            ("transport viasocks", {"type": "socks",
                                    "socks_address": "127.0.0.1:%d" % SOCKS.port,
                                    "remote_hostname": "proxied.example.org"}),
        ]).start()
    SND.psql("UPDATE accounts SET keep_retired_message_period = '1 day'")


def tearDownModule():
    if PF:
        try:
            PF.stop()
        except Exception as e:  # noqa: BLE001 - best effort
            harness.log("stopping Postfix: %r" % e)
    for x in (SND, RCV):
        if x:
            x.stop()
    for x in (SINK, SOCKS):
        if x:
            x.stop()
    if pfdir and not harness.KEEP:
        shutil.rmtree(pfdir, ignore_errors=True)


def u(prefix):
    return unique(prefix).replace("-", "")


def enqueue(to, frm=USER, args=(), subject=None):
    if isinstance(to, str):
        to = [to]
    msg, mid = harness.make_message(subject=subject, frm=frm, to=to[0])
    cmd = ["queue", "add", "-from", frm] + sum([["-to", t] for t in to], []) + list(args) + ["-"]
    r = SND.cli(*cmd, input=msg.decode("utf-8", "replace"))
    return [int(line.split("\t")[0]) for line in r.stdout.strip().splitlines()], mid


def retired(qid):
    rows = SND.psql("SELECT success, attempts, jsonb_array_length(results),"
                    " results -> -1 ->> 'error' FROM queue_retired WHERE id = :'id'", id=qid)
    return rows[0] if rows else None


def wait_retired(qid, timeout=60):
    return wait_for(lambda: retired(qid), timeout, 0.1)


SCRAM_LOGINS = ("SELECT coalesce(sum(count), 0) FROM login_attempts"
                " WHERE auth_mech = 'scram-sha-256' AND result = 'ok'")


def queued_log():
    with open(SND.logpath("queued"), encoding="utf-8", errors="replace") as f:
        return f.read()


class PeersTest(harness.TestCase):

    def test_postfix_mx_over_starttls(self):
        global PF
        why = postfix.available()
        if why:
            self.skipTest(why)
        cert, key = nginx.self_signed(pfdir, "pf", ["mx.pf.test"])
        for p in (cert, key):
            os.chmod(p, 0o644)  # Postfix's smtpd runs as the postfix user
        PF = PostfixOn(os.path.join(pfdir, "pf"), "127.0.0.2", mode="maildir",
                       domains=("pf.test",), port=PORT,
                       extra_main={"inet_interfaces": "all",
                                   "smtpd_tls_security_level": "may",
                                   "smtpd_tls_cert_file": cert,
                                   "smtpd_tls_key_file": key,
                                   "smtpd_tls_loglevel": "1",
                                   "mynetworks": "127.0.0.0/8"})
        PF.start()
        rcpt = u("p") + "@pf.test"
        (qid,), mid = enqueue(rcpt)
        r = wait_retired(qid)
        self.assertIsNotNone(r, "not retired:\n%s" % harness.tail(SND.logpath("queued")))
        self.assertEqual(r[0], "t", r)
        files = wait_for(lambda: PF.maildir_new_files(rcpt), 20)
        self.assertTrue(files, "not in Postfix's Maildir:\n%s" % PF.log_tail())
        with open(files[0], "rb") as f:
            self.assertIn(mid.encode(), f.read())
        # Over TLS: Postfix's log and ours say so.
        self.assertTrue(PF.wait_log(r"TLS connection established from", 10),
                        PF.log_tail())
        self.assertRegex(queued_log(), r"ev=transaction host=mx\.pf\.test ip=127\.0\.0\.2 "
                                       r"tls=yes")
        # STARTTLS support recorded for the account (FEATURES.md section 4).
        rows = SND.psql("SELECT starttls FROM recipient_domain_tls WHERE domain = 'pf.test'")
        self.assertEqual(rows, [["t"]])

    def test_two_queued_processes_deliver_each_message_once(self):
        # Everything is held while it is queued, then released at once so
        # that both processes compete for the rows.
        rule = SND.cli("queue", "holdrules", "add").stdout
        second = None
        try:
            ids, rcpts = [], []
            for i in range(40):
                to = [u("two%d" % i) + "@" + d for d in SINK_DOMAINS]
                got, _ = enqueue(to)
                ids += got
                rcpts += to
            self.assertEqual(len(ids), 200)
        finally:
            for row in SND.psql("SELECT id FROM queue_hold_rules"):
                SND.cli("queue", "holdrules", "remove", row[0])
        logf = open(SND.logpath("queued2"), "ab")
        second = subprocess.Popen([harness.DAEMONS["queued"], "-c", SND.conf],
                                  stdin=subprocess.DEVNULL, stdout=logf,
                                  stderr=subprocess.STDOUT, cwd=SND.dir)
        logf.close()
        try:
            def started():
                with open(SND.logpath("queued2"), errors="replace") as f:
                    return "ev=start" in f.read()
            self.assertTrue(wait_for(started, 30))
            SND.cli("queue", "unhold", *[str(i) for i in ids])
            done = wait_for(lambda: int(SND.psql(
                "SELECT count(*) FROM queue_retired WHERE id = ANY(:'ids'::bigint[])",
                ids="{%s}" % ",".join(map(str, ids)))[0][0]) == 200, 180, 0.5)
            self.assertTrue(done, "not all delivered:\n%s" % harness.tail(SND.logpath("queued")))
        finally:
            second.send_signal(signal.SIGTERM)
            try:
                second.wait(15)
            except subprocess.TimeoutExpired:
                second.kill()
                second.wait()
        counts = [len(SINK.delivered_to(r)) for r in rcpts]
        self.assertEqual([r for r, c in zip(rcpts, counts) if c != 1], [],
                         "recipients not delivered exactly once")
        ok = SND.psql("SELECT count(*) FROM queue_retired WHERE success AND attempts = 1"
                      " AND id = ANY(:'ids'::bigint[])", ids="{%s}" % ",".join(map(str, ids)))
        self.assertEqual(ok, [["200"]])
        # Both processes did some of the work.
        with open(SND.logpath("queued2"), errors="replace") as f:
            n2 = f.read().count("result=delivered")
        n1 = queued_log().count("result=delivered")
        self.assertGreater(n2, 0, "the second process delivered nothing")
        self.assertGreater(n1, 0, "the first process delivered nothing")

    def test_kill_9_mid_delivery_one_retry_no_loss(self):
        rcpt = u("slow") + "@sink.test"
        (qid,), mid = enqueue(rcpt)
        # The sink has the message and holds back its "250" (slow=6 s).
        self.assertTrue(wait_for(lambda: SINK.rcpt_attempts.get(rcpt, 0) >= 1, 20))
        time.sleep(0.5)
        SND.procs["queued"].send_signal(signal.SIGKILL)
        SND.procs["queued"].wait(10)
        self.assertIsNone(retired(qid), "recorded although killed")
        self.assertEqual(SND.psql("SELECT count(*) FROM queue WHERE id = :'id'", id=qid),
                         [["1"]], "message lost")
        SND.start_daemon("queued")
        r = wait_retired(qid, 60)
        self.assertIsNotNone(r, "not delivered after the restart:\n%s"
                             % harness.tail(SND.logpath("queued")))
        success, attempts, nresults, _ = r
        self.assertEqual(success, "t")
        # The killed attempt counted (it was claimed) but left no result;
        # exactly one more attempt delivered.
        self.assertEqual(int(attempts), 2)
        self.assertEqual(int(nresults), 1)
        time.sleep(7)  # anything else under way would arrive by now
        got = SINK.delivered_to(rcpt)
        # The first copy reached the sink before the kill (its 250 was
        # lost): RFC 5321 6.1 allows this one duplicate, no more.
        self.assertEqual(len(got), 2)
        self.assertTrue(all(mid.encode() in g[2] for g in got))
        self.assertEqual(SINK.rcpt_attempts.get(rcpt), 2)

    def _relay(self, transport):
        rcpt = RCV_USER
        subject = unique("relay-" + transport)
        before = RCV.psql(SCRAM_LOGINS)[0][0]
        (qid,), mid = enqueue(rcpt, args=("-transport", transport), subject=subject)
        r = wait_retired(qid)
        self.assertIsNotNone(r, harness.tail(SND.logpath("queued")))
        self.assertEqual(r[0], "t", r)
        m = RCV.imap(user=RCV_USER, password=RCV_PASSWORD)
        try:
            m.select("INBOX")
            uids = harness.uid_search(m, "SUBJECT", subject)
            self.assertEqual(len(uids), 1)
        finally:
            m.logout()
        after = RCV.psql(SCRAM_LOGINS)[0][0]
        self.assertGreater(int(after), int(before), "no SCRAM-SHA-256 login at the relay")
        # A relayed message is "relayed" for webhooks and DSNs: no
        # recipient-domain TLS record for a smarthost.
        self.assertEqual(SND.psql("SELECT count(*) FROM recipient_domain_tls WHERE domain ="
                                  " 'rcv.test'"), [["0"]])

    def test_submission_transport_scram(self):
        self._relay("subm")

    def test_submissions_transport_scram(self):
        self._relay("subms")

    def test_submission_login_refused_not_delivered(self):
        # The relay refuses the login: no delivery, the failure says why.
        subject = unique("refused")
        RCV.psql("UPDATE accounts SET login_disabled = 'held for the test' WHERE name = :'n'",
                 n=USER)
        try:
            (qid,), _ = enqueue(RCV_USER, args=("-transport", "subm", "-maxattempts", "1"),
                                subject=subject)
            r = wait_retired(qid)
            self.assertEqual(r[0], "f")
            self.assertIn("auth: 5", r[3])
        finally:
            RCV.psql("UPDATE accounts SET login_disabled = NULL WHERE name = :'n'", n=USER)

    def test_pipelined_mail_from_refusal_is_the_reason(self):
        # MAIL FROM, RCPT TO and DATA go in one pipelined group; the
        # relay refuses MAIL FROM (550 5.7.1) and then answers 503 to the
        # rest. The recorded failure is the MAIL FROM answer.
        (qid,), _ = enqueue(RCV_USER, args=("-transport", "submbob"))
        r = wait_retired(qid)
        self.assertEqual(r[0], "f")
        self.assertEqual(int(r[1]), 1, "a 5xx is not retried")
        row = SND.psql("SELECT results -> -1 ->> 'code', results -> -1 ->> 'secode'"
                       " FROM queue_retired WHERE id = :'id'", id=qid)[0]
        self.assertEqual(row, ["550", "5.7.1"])
        self.assertIn("mail: 550 5.7.1 MAIL FROM must match", r[3])

    def test_socks5_transport(self):
        rcpt = u("sx") + "@sink.test"
        n = len(SOCKS.targets)
        (qid,), mid = enqueue(rcpt, args=("-transport", "viasocks"))
        r = wait_retired(qid)
        self.assertEqual(r[0], "t", r)
        got = SINK.delivered_to(rcpt)
        self.assertEqual(len(got), 1)
        self.assertIn(mid.encode(), got[0][2])
        # Through the proxy, to the MX's address and the delivery port.
        self.assertEqual(SOCKS.targets[n:], [("127.0.0.3", PORT)])

    def test_submission_to_suppressed_address_refused(self):
        rcpt = u("supp") + "@sink.test"
        SND.cli("queue", "suppress", "add", USER, rcpt, "bounced", "before")
        other = u("fine") + "@sink.test"
        s = smtplib.SMTP("127.0.0.1", SND.ports["submission"], timeout=harness.TIMEOUT)
        try:
            s.ehlo()
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            s.starttls(context=ctx)
            s.ehlo()
            s.login(USER, PASSWORD)
            self.assertEqual(s.mail(USER)[0], 250)
            code, text = s.rcpt(rcpt)
            self.assertEqual(code, 550)
            self.assertIn(b"5.7.1", text)
            self.assertIn(b"suppression list", text)
            # Other recipients of the same message go on.
            self.assertEqual(s.rcpt(other)[0], 250)
            msg, _ = harness.make_message(frm=USER, to=other)
            self.assertEqual(s.data(msg)[0], 250)
        finally:
            s.quit()
        self.assertEqual(SND.psql("SELECT count(*) FROM queue WHERE recipient_localpart ="
                                  " :'lp'", lp=rcpt.split("@")[0]), [["0"]])
        self.assertEqual(SND.psql("SELECT count(*) FROM queue_retired WHERE"
                                  " recipient_localpart = :'lp'", lp=rcpt.split("@")[0]),
                         [["0"]])
        self.assertTrue(wait_for(lambda: SINK.delivered_to(other), 30))
        self.assertEqual(SINK.rcpt_attempts.get(rcpt), None)


if __name__ == "__main__":
    unittest.main()
