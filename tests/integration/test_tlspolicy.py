"""Outbound TLS policy of mailstead-queued with real parts on loopback:
a sending Mailstead (smtpd + queued) whose test zone file has MX, TLSA and
_mta-sts records; a receiving Mailstead whose SMTP listener has a
self-signed certificate (for DANE) and one from a test CA (for MTA-STS,
chosen by SNI); nginx serving MTA-STS policies over HTTPS with a test-CA
certificate that queued trusts through [queue] tls_ca_file.

Checks: DANE with a right TLSA record delivers over a self-signed
certificate, a wrong one stops delivery; MTA-STS enforce delivers to a
matching MX with a valid certificate, stops delivery to a non-matching MX
and to an MX whose certificate is not PKIX-valid, "TLS-Required: No"
overrides the mismatch; REQUIRETLS without DANE, MTA-STS or signed MX
fails for good; policies are cached in the database and TLSRPT results are
recorded per policy domain."""

import os
import shutil
import subprocess
import tempfile

import harness
import nginx
from harness import USER, unique

harness.DAEMONS.setdefault("queued", os.path.join(harness.TOP_BUILDDIR, "daemons", "queued",
                                                  "mailstead-queued"))

RCV_PASSWORD = "rcv-password-1"
DOMAINS = ("dane-ok.test", "dane-bad.test", "sts.test", "stsbad.test", "stsself.test",
           "plain.test")

snd = rcv = web = None
certdir = None
policy_enforce = "version: STSv1\nmode: enforce\nmx: mx.sts.test\nmax_age: 86400\n"
policy_self = "version: STSv1\nmode: enforce\nmx: *.stsself.test\nmax_age: 86400\n"


class Sender(harness.Server):
    """A Server running mailstead-queued; its [queue] keys go in queue_conf
    (written by harness.Server)."""


def zone(dane_ok_hash):
    bad = "00" * 32
    return "\n".join([
        "$AUTHENTIC yes",
        "dane-ok.test. IN MX 10 mx.dane-ok.test.",
        "mx.dane-ok.test. IN A 127.0.0.1",
        "_25._tcp.mx.dane-ok.test. IN TLSA 3 1 1 %s" % dane_ok_hash,
        "dane-bad.test. IN MX 10 mx.dane-bad.test.",
        "mx.dane-bad.test. IN A 127.0.0.1",
        "_25._tcp.mx.dane-bad.test. IN TLSA 3 1 1 %s" % bad,
        "$AUTHENTIC no",
        "sts.test. IN MX 10 mx.sts.test.",
        "mx.sts.test. IN A 127.0.0.1",
        '_mta-sts.sts.test. IN TXT "v=STSv1; id=20240101;"',
        "mta-sts.sts.test. IN A 127.0.0.1",
        # An MX the enforced policy does not list.
        "stsbad.test. IN MX 10 mx.other.test.",
        "mx.other.test. IN A 127.0.0.1",
        '_mta-sts.stsbad.test. IN TXT "v=STSv1; id=1;"',
        "mta-sts.stsbad.test. IN A 127.0.0.1",
        # A listed MX whose certificate (the receiver's fallback, the
        # self-signed one) is not valid for it.
        "stsself.test. IN MX 10 mx.stsself.test.",
        "mx.stsself.test. IN A 127.0.0.1",
        '_mta-sts.stsself.test. IN TXT "v=STSv1; id=1;"',
        "mta-sts.stsself.test. IN A 127.0.0.1",
        "plain.test. IN MX 10 mx.plain.test.",
        "mx.plain.test. IN A 127.0.0.1",
        ""])


def setUpModule():
    global snd, rcv, web, certdir
    certdir = tempfile.mkdtemp(prefix="mailstead-tlspolicy-certs-", dir="/tmp")
    os.chmod(certdir, 0o755)
    ca = nginx.TestCA(os.path.join(certdir, "ca"))
    dane_cert, dane_key = nginx.self_signed(certdir, "dane", ["mx.dane-ok.test",
                                                             "mx.dane-bad.test"])
    sts_cert, sts_key = ca.leaf("mx-sts", ["mx.sts.test", "mx.other.test"])
    web_cert, web_key = ca.leaf("mta-sts", ["mta-sts.sts.test", "mta-sts.stsbad.test",
                                            "mta-sts.stsself.test"])
    accounts = [("user@" + d, RCV_PASSWORD) for d in DOMAINS]
    # The receiver: the self-signed certificate first (the fallback for
    # SNI names no certificate covers), the CA-signed one for mx.sts.test.
    rcv = harness.Server("tlsrcv", accounts=accounts, daemons=("smtpd", "imapd"),
                         listener_conf={"tls_cert": "%s %s" % (dane_cert, sts_cert),
                                        "tls_key": "%s %s" % (dane_key, sts_key),
                                        "first_time_sender_delay": "0s"})
    orig_start = rcv._start

    def start_with_domains():
        # Domains must exist before their accounts are added.
        r = rcv
        r.accounts, accts = [], r.accounts
        orig_start()
        for d in DOMAINS:
            r.cli("domain", "add", d)
        for a, p in accts:
            r.add_account(a, p)
    rcv._start = start_with_domains
    rcv.start()

    web = nginx.Nginx(os.path.join(certdir, "nginx"), [
        (["mta-sts.sts.test", "mta-sts.stsbad.test"], web_cert, web_key,
         {"/.well-known/mta-sts.txt": (policy_enforce, "text/plain")}),
        (["mta-sts.stsself.test"], web_cert, web_key,
         {"/.well-known/mta-sts.txt": (policy_self, "text/plain; charset=utf-8")}),
    ]).start()

    snd = Sender("tlssnd", daemons=("smtpd",), dns_zone=zone(nginx.spki_sha256(dane_cert)))
    # Direct delivery goes to the receiver's port instead of 25, policy
    # fetches to nginx's instead of 443.
    snd.queue_conf = {"direct_port": str(rcv.ports["smtpd"]), "tls_ca_file": ca.cert,
                      "mtasts_port": str(web.port), "connect_timeout": "10s",
                      "command_timeout": "30s"}
    snd.start()
    snd.start_daemon("queued", wait=False)
    ok = harness.wait_for(lambda: "ev=start" in open(snd.logpath("queued")).read() or
                          snd.procs["queued"].poll() is not None, 30)
    if not ok or snd.procs["queued"].poll() is not None:
        raise harness.HarnessError("mailstead-queued did not start:\n" +
                                   harness.tail(snd.logpath("queued")))


def tearDownModule():
    for s in (snd, rcv):
        if s:
            s.stop()
    if web:
        web.stop()
    if certdir and not harness.KEEP:
        shutil.rmtree(certdir, ignore_errors=True)


def message(to, extra=()):
    subject = unique("tls")
    hdrs = ["From: <%s>" % USER, "To: <%s>" % to, "Subject: %s" % subject,
            "Date: Mon, 1 Jan 2024 10:00:00 +0000",
            "Message-ID: <%s@example.org>" % unique("mid")] + list(extra)
    return subject, ("\r\n".join(hdrs) + "\r\n\r\nTLS policy test.\r\n").encode()


def enqueue(to, args=()):
    subject, msg = message(to)
    r = subprocess.run([harness.CLI, "-c", snd.conf, "queue", "add", "-from", USER, "-to", to] +
                       list(args) + ["-"], input=msg, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60, cwd=snd.dir)
    if r.returncode != 0:
        raise AssertionError("queue add: %s %s" % (r.stdout, r.stderr))
    qid = int(r.stdout.decode().split("\t")[0])
    return qid, subject


def attempted(qid):
    """Wait until the first delivery attempt of qid is over: the row is
    gone (delivered or failed for good) or has an attempt. Returns the
    row's results text ('' when gone)."""
    def done():
        rows = snd.psql("select results::text from queue where id = :'id'", id=qid)
        return not rows or rows[0][0] != "[]"
    assert harness.wait_for(done, 60), "no delivery attempt in 60 s:\n" + \
        harness.tail(snd.logpath("queued"))
    rows = snd.psql("select results::text from queue where id = :'id'", id=qid)
    return rows[0][0] if rows else ""


def received(domain, subject):
    rows = rcv.psql("select count(*) from messages m join mailboxes b on b.id = m.mailbox_id"
                    " join accounts a on a.id = b.account_id"
                    " where a.name = :'acct' and m.subject_base = :'subj'",
                    acct="user@" + domain, subj=subject)
    return int(rows[0][0])


def retired_error(qid):
    rows = snd.psql("select results::text from queue_retired where id = :'id'", id=qid)
    return rows[0][0] if rows else ""


def tlsrpt(policy_domain, is_host):
    rows = snd.psql("select policy_type, success_count, failure_count, failure_details::text,"
                    " array_to_string(policy_strings, '|') from tlsrpt_results"
                    " where policy_domain = :'d' and is_host = :'h'"
                    " and day_utc = (now() at time zone 'UTC')::date",
                    d=policy_domain, h="true" if is_host else "false")
    return rows[0] if rows else None


class TLSPolicyTest(harness.TestCase):

    def assertDelivered(self, domain, subject):
        ok = harness.wait_for(lambda: received(domain, subject) == 1, 30)
        self.assertTrue(ok, "message to %s not delivered:\n%s" % (
            domain, harness.tail(snd.logpath("queued"))))

    def test_dane_right_tlsa_delivers(self):
        qid, subject = enqueue("user@dane-ok.test")
        results = attempted(qid)
        self.assertEqual(results, "", "still queued: " + results)
        self.assertDelivered("dane-ok.test", subject)
        # The host's DANE result: policy tlsa with the record, a success.
        r = tlsrpt("mx.dane-ok.test", True)
        self.assertIsNotNone(r)
        self.assertEqual(r[0], "tlsa")
        self.assertGreaterEqual(int(r[1]), 1)
        self.assertEqual(int(r[2]), 0)
        self.assertTrue(r[4].startswith("3 1 1 "), r[4])
        log = open(snd.logpath("queued")).read()
        self.assertIn("mode=required+dane", log)

    def test_dane_wrong_tlsa_stops_delivery(self):
        qid, subject = enqueue("user@dane-bad.test")
        results = attempted(qid)
        self.assertNotEqual(results, "", "the message left the queue")
        self.assertIn("4.7.5", results)
        self.assertIn("DANE verification failed", results)
        self.assertEqual(received("dane-bad.test", subject), 0)
        r = tlsrpt("mx.dane-bad.test", True)
        self.assertIsNotNone(r)
        self.assertEqual(r[0], "tlsa")
        self.assertGreaterEqual(int(r[2]), 1)
        self.assertIn('"result-type": "tlsa-invalid"', r[3])
        self.assertIn('"receiving-ip": "127.0.0.1"', r[3])

    def test_mtasts_enforce_matching_mx_delivers(self):
        qid, subject = enqueue("user@sts.test")
        self.assertEqual(attempted(qid), "")
        self.assertDelivered("sts.test", subject)
        # The policy was fetched over HTTPS and cached.
        self.assertTrue(any("/.well-known/mta-sts.txt" in ln for ln in web.requests()))
        rows = snd.psql("select record_id, mode, array_to_string(mx, ','), max_age,"
                        " valid_until > now() + interval '23 hours'"
                        " from mtasts_policies where domain = 'sts.test'")
        self.assertEqual(rows, [["20240101", "enforce", "mx.sts.test", "86400", "t"]])
        r = tlsrpt("sts.test", False)
        self.assertEqual(r[0], "sts")
        self.assertGreaterEqual(int(r[1]), 1)
        self.assertIn("mode: enforce", r[4])
        # A second message uses the cached policy: no new fetch.
        before = len([ln for ln in web.requests() if "mta-sts.txt" in ln])
        qid, subject = enqueue("user@sts.test")
        self.assertEqual(attempted(qid), "")
        self.assertDelivered("sts.test", subject)
        after = len([ln for ln in web.requests() if "mta-sts.txt" in ln])
        self.assertEqual(before, after)

    def test_mtasts_enforce_mx_mismatch_stops_delivery(self):
        qid, subject = enqueue("user@stsbad.test")
        results = attempted(qid)
        self.assertNotEqual(results, "")
        self.assertIn("not allowed by the MTA-STS policy", results)
        self.assertEqual(received("stsbad.test", subject), 0)
        r = tlsrpt("stsbad.test", False)
        self.assertEqual(r[0], "sts")
        self.assertGreaterEqual(int(r[2]), 1)
        self.assertIn("mtasts-policy-mx-mismatch", r[3])
        self.assertIn('"receiving-mx-hostname": "mx.other.test"', r[3])

    def test_mtasts_enforce_untrusted_certificate_stops_delivery(self):
        qid, subject = enqueue("user@stsself.test")
        results = attempted(qid)
        self.assertNotEqual(results, "")
        self.assertIn("not verified", results)
        self.assertEqual(received("stsself.test", subject), 0)
        r = tlsrpt("stsself.test", False)
        self.assertEqual(r[0], "sts")
        self.assertGreaterEqual(int(r[2]), 1)
        # Self-signed and for other names: not trusted (the chain is
        # checked before the name).
        self.assertRegex(r[3], "certificate-not-trusted|certificate-host-mismatch")

    def test_tls_required_no_overrides_mismatch(self):
        qid, subject = enqueue("user@stsbad.test", ["-requiretls", "no"])
        self.assertEqual(attempted(qid), "")
        self.assertDelivered("stsbad.test", subject)

    def test_requiretls_with_mtasts_enforce_delivers(self):
        qid, subject = enqueue("user@sts.test", ["-requiretls", "yes"])
        self.assertEqual(attempted(qid), "")
        self.assertDelivered("sts.test", subject)

    def test_requiretls_without_policy_fails(self):
        qid, subject = enqueue("user@plain.test", ["-requiretls", "yes"])
        attempted(qid)
        self.assertEqual(received("plain.test", subject), 0)
        rows = snd.psql("select count(*) from queue where id = :'id'", id=qid)
        self.assertEqual(rows, [["0"]], "a permanent failure leaves the queue")
        self.assertIn("5.7.30", retired_error(qid) + harness.tail(snd.logpath("queued"), 200))


if __name__ == "__main__":
    import unittest
    unittest.main()
