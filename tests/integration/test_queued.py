"""mailstead-queued: delivery of the outgoing queue to real peers on
loopback. Every MX name in the test zone points at its own loopback
address and direct delivery uses one port ([queue] direct_port), so a
scripted sink (smtpsink.py, 127.0.0.3) and Postfix (127.0.0.2) can be
recipient domains' mail servers side by side. The retry schedule is made
fast with [queue] backoff_ms instead of waiting real minutes."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import unittest

import harness
from harness import USER, PASSWORD, wait_for, unique
import postfix
import smtpsink

SRV = None
SINK = None
TLSSINK = None  # a server whose STARTTLS handshake always fails
PORT = None

ZONE = """
$AUTHENTIC no
sink.test. MX 10 mx.sink.test.
mx.sink.test. A 127.0.0.3
two.test. MX 10 mx.sink.test.
implicit.test. A 127.0.0.3
nullmx.test. MX 0 .
fallback.test. MX 10 dead.fallback.test.
fallback.test. MX 20 mx.sink.test.
dead.fallback.test. A 127.0.0.5
pf.test. MX 10 mx.pf.test.
mx.pf.test. A 127.0.0.2
tempdead.test. MX 10 mx.sink.test.
tempdead.test. MX 20 dead.fallback.test.
brokentls.test. MX 10 mx.brokentls.test.
mx.brokentls.test. A 127.0.0.6
dual.test. MX 10 mx.dual.test.
mx.dual.test. AAAA ::1
mx.dual.test. A 127.0.0.7
$AUTHENTIC yes
danebroken.test. MX 10 mx.danebroken.test.
mx.danebroken.test. A 127.0.0.6
_25._tcp.mx.danebroken.test. TLSA 3 1 1 0000000000000000000000000000000000000000000000000000000000000000
"""


def setUpModule():
    global SRV, SINK, TLSSINK, PORT
    PORT = harness.free_port_on("127.0.0.2", "127.0.0.3", "127.0.0.5", "127.0.0.6", "127.0.0.7",
                                "::1")
    SINK = smtpsink.Sink("127.0.0.3", PORT, slow=8).start()
    TLSSINK = smtpsink.Sink("127.0.0.6", PORT, starttls="broken").start()
    SRV = harness.Server("queued", daemons=("smtpd", "imapd", "queued"), dns_zone=ZONE,
                         queue_conf={"direct_port": str(PORT), "backoff_ms": "400",
                                     "lease": "3s", "connect_timeout": "2s",
                                     "command_timeout": "20s", "max_attempts": "8",
                                     "retired_cleanup": "1h"}).start()
    # History is kept for the test account, so retired rows can be checked.
    SRV.psql("UPDATE accounts SET keep_retired_message_period = '1 day'")


def tearDownModule():
    if SRV:
        SRV.stop()
    if SINK:
        SINK.stop()
    if TLSSINK:
        TLSSINK.stop()


def u(prefix):
    """A localpart with a unique tail but no '+'/'-', so suppression base
    addresses (cut at those) of different tests never collide."""
    return unique(prefix).replace("-", "")


def message(subject=None, msgid=None, extra=()):
    msg, mid = harness.make_message(subject=subject, frm=USER, to="x@sink.test", msgid=msgid,
                                    extra_headers=extra)
    return msg, mid


def enqueue(to, msg=None, frm=USER, args=()):
    """Queue msg for the recipients with `mailstead queue add`; returns the ids."""
    if msg is None:
        msg, _ = message()
    if isinstance(to, str):
        to = [to]
    cmd = ["queue", "add", "-from", frm] + sum([["-to", t] for t in to], []) + list(args) + ["-"]
    r = SRV.cli(*cmd, input=msg.decode("utf-8", "replace"))
    return [int(line.split("\t")[0]) for line in r.stdout.strip().splitlines()]


def queued_ids():
    return {int(r[0]) for r in SRV.psql("SELECT id FROM queue")}


def retired(qid):
    rows = SRV.psql("SELECT success, attempts, jsonb_array_length(results), "
                    "results -> -1 ->> 'error' FROM queue_retired WHERE id = :'id'", id=qid)
    return rows[0] if rows else None


def last_result(qid):
    """code, secode, error of the last attempt of a retired message."""
    return SRV.psql("SELECT results -> -1 ->> 'code', results -> -1 ->> 'secode',"
                    " results -> -1 ->> 'error' FROM queue_retired WHERE id = :'id'", id=qid)[0]


def wait_retired(qid, timeout=30):
    return wait_for(lambda: retired(qid), timeout, 0.1)


def inbox_dsns(subject_word):
    """Messages in USER's Inbox whose Subject contains subject_word: [(bytes)]."""
    m = SRV.imap()
    try:
        m.select("INBOX")
        uids = harness.uid_search(m, "SUBJECT", subject_word)
        if not uids:
            return []
        got = harness.fetch_by_uid(m, uids, "(BODY.PEEK[])")
        return [it["BODY[]"] for it in got.values()]
    finally:
        m.logout()


class QueuedTest(harness.TestCase):

    def test_delivery_two_recipients_one_transaction(self):
        msg, mid = message()
        a, b = u("a") + "@sink.test", u("b") + "@sink.test"
        ids = enqueue([a, b], msg)
        for i in ids:
            self.assertEqual(wait_retired(i)[0], "t", "not delivered: %s" % i)
        got = SINK.delivered_to(a)
        self.assertEqual(len(got), 1)
        mailfrom, rcpts, data, _ = got[0]
        # One transaction carried both recipients.
        self.assertEqual(sorted(rcpts), sorted([a, b]))
        self.assertEqual(mailfrom, USER)
        self.assertIn(mid.encode(), data)
        self.assertTrue(data.endswith(msg.split(b"\r\n\r\n", 1)[1]), "body changed")
        self.assertFalse(queued_ids() & set(ids), "delivered rows still queued")

    def test_implicit_mx(self):
        rcpt = u("i") + "@implicit.test"
        (qid,) = enqueue(rcpt)
        self.assertEqual(wait_retired(qid)[0], "t")
        self.assertEqual(len(SINK.delivered_to(rcpt)), 1)

    def test_lower_priority_mx_after_dead_one(self):
        rcpt = u("f") + "@fallback.test"
        (qid,) = enqueue(rcpt)
        self.assertEqual(wait_retired(qid)[0], "t")
        self.assertEqual(len(SINK.delivered_to(rcpt)), 1)

    def test_temporary_failure_then_retry_succeeds(self):
        rcpt = u("once") + "@sink.test"
        (qid,) = enqueue(rcpt)
        r = wait_retired(qid)
        self.assertIsNotNone(r, "not retired")
        success, attempts, nresults, _ = r
        self.assertEqual(success, "t")
        self.assertEqual(int(attempts), 2, "one failed attempt, then success")
        self.assertEqual(int(nresults), 2, "results history has both attempts")
        first = SRV.psql("SELECT results -> 0 ->> 'code', results -> 0 ->> 'success'"
                         " FROM queue_retired WHERE id = :'id'", id=qid)[0]
        self.assertEqual(first, ["451", "false"])

    def test_permanent_failure_dsn_and_suppression(self):
        rcpt = u("perm") + "@sink.test"
        msg, mid = message(subject=unique("permsubj"))
        (qid,) = enqueue(rcpt, msg)
        r = wait_retired(qid)
        self.assertEqual(r[0], "f")
        self.assertEqual(int(r[1]), 1, "a permanent error is not retried")
        self.assertIn("5.1.1", r[3])
        dsns = wait_for(lambda: inbox_dsns("failed") and [d for d in inbox_dsns("failed")
                                                        if mid.encode() in d], 15)
        self.assertTrue(dsns, "no failure DSN in the sender's Inbox")
        d = dsns[0]
        self.assertRegex(d, rb"(?i)references: " + re.escape(mid.encode()))
        self.assertIn(b"multipart/report; report-type=delivery-status", d)
        self.assertRegex(d, rb"(?i)Final-Recipient: rfc822; " + re.escape(rcpt.encode()))
        self.assertIn(b"Action: failed", d)
        self.assertIn(b"Status: 5.1.1", d)
        # Item 4: the address went on the suppression list ...
        out = SRV.cli("queue", "suppress", "lookup", USER, rcpt, check=False)
        self.assertEqual(out.returncode, 0, "not suppressed after a 550: %s" % out.stdout)
        # ... so the next message fails at once, without a connection.
        before = SINK.rcpt_attempts.get(rcpt, 0)
        (qid2,) = enqueue(rcpt)
        r2 = wait_retired(qid2)
        self.assertEqual(r2[0], "f")
        self.assertIn("suppression", r2[3])
        self.assertEqual(SINK.rcpt_attempts.get(rcpt, 0), before, "suppressed rcpt was tried")

    def test_null_mx_fails_permanently(self):
        (qid,) = enqueue(u("n") + "@nullmx.test")
        r = wait_retired(qid)
        self.assertEqual(r[0], "f")
        self.assertIn("null MX", r[3])

    def test_max_attempts_then_failure_dsn(self):
        rcpt = u("temp") + "@sink.test"
        msg, mid = message()
        (qid,) = enqueue(rcpt, msg, args=("-maxattempts", "3"))
        r = wait_retired(qid, 60)
        self.assertIsNotNone(r)
        self.assertEqual(r[0], "f")
        self.assertEqual(int(r[1]), 3)
        self.assertEqual(int(r[2]), 3)
        self.assertEqual(SINK.rcpt_attempts.get(rcpt), 3)
        self.assertTrue(wait_for(lambda: [d for d in inbox_dsns("failed") if mid.encode() in d],
                                 15), "no DSN after the last attempt")

    def test_delayed_dsn_after_fifth_attempt(self):
        rcpt = u("temp") + "@sink.test"
        msg, mid = message()
        (qid,) = enqueue(rcpt, msg, args=("-maxattempts", "6"))
        d = wait_for(lambda: [x for x in inbox_dsns("delayed") if mid.encode() in x], 90)
        self.assertTrue(d, "no delayed DSN")
        self.assertIn(b"Action: delayed", d[0])
        att = SRV.psql("SELECT attempts FROM queue WHERE id = :'id' UNION ALL "
                       "SELECT attempts FROM queue_retired WHERE id = :'id'", id=qid)
        self.assertGreaterEqual(int(att[0][0]), 5)

    def test_lease_renewed_during_a_slow_attempt(self):
        """The sink holds its answer to the message 8 s, the lease is 3 s:
        queued keeps renewing the lease while it waits, so the message is
        not claimed again and sent a second time."""
        rcpt = u("slow") + "@sink.test"
        (qid,) = enqueue(rcpt)
        r = wait_retired(qid, timeout=60)
        self.assertIsNotNone(r, "not retired")
        self.assertEqual(r[0], "t")
        self.assertEqual(int(r[1]), 1, "one attempt")
        self.assertEqual(len(SINK.delivered_to(rcpt)), 1, "sent more than once")
        self.assertEqual(SINK.rcpt_attempts.get(rcpt, 0), 1, "a second attempt was started")

    def test_next_attempt_starts_with_other_address_family(self):
        # mx.dual.test has ::1 (a server that greylists: 451 the first
        # time) and 127.0.0.7 (nothing listens). Attempt 1 starts with
        # IPv6 as resolved, gets the 451, then finds IPv4 refused; the
        # connection to ::1 is remembered, so attempt 2 starts with IPv4
        # (refused again) before ::1 takes the message.
        v6 = smtpsink.Sink("::1", PORT).start()
        try:
            rcpt = u("once") + "@dual.test"
            (qid,) = enqueue(rcpt)
            r = wait_retired(qid)
            self.assertIsNotNone(r, "not retired")
            self.assertEqual((r[0], int(r[1])), ("t", 2))
            self.assertEqual(len(v6.delivered_to(rcpt)), 1)
            self.assertEqual(v6.connections, 2)
        finally:
            v6.stop()
        dialed = SRV.psql("SELECT dialed_ips::text FROM queue_retired WHERE id = :'id'", id=qid)
        self.assertEqual(json.loads(dialed[0][0]), {"mx.dual.test": ["::1", "::1"]})
        # The refused IPv4 address was dialed in both attempts: first
        # (after the IPv6 connection) in the second one.
        with open(SRV.logpath("queued")) as f:
            refused = [line for line in f if "ev=connect-failed host=mx.dual.test" in line
                       and "ip=127.0.0.7" in line]
        self.assertEqual(len(refused), 2, refused)

    def test_hold_and_future_release(self):
        rcpt = u("h") + "@sink.test"
        (qid,) = enqueue(rcpt, args=("-holdfor", "4"))
        time.sleep(1.5)
        self.assertIn(qid, queued_ids(), "delivered before the release time")
        self.assertEqual(wait_retired(qid)[0], "t")
        self.assertEqual(len(SINK.delivered_to(rcpt)), 1)
        # Held messages are not delivered even when due.
        rcpt = u("h") + "@sink.test"
        (qid,) = enqueue(rcpt, args=("-holdfor", "3600"))
        SRV.cli("queue", "hold", str(qid))
        SRV.cli("queue", "schedule", "-now", str(qid))
        time.sleep(1.5)
        self.assertIn(qid, queued_ids(), "held message delivered")
        self.assertEqual(SINK.delivered_to(rcpt), [])
        SRV.cli("queue", "unhold", str(qid))
        self.assertEqual(wait_retired(qid)[0], "t")

    def test_cli_fail_schedule_retired(self):
        rcpt = u("temp") + "@sink.test"
        (qid,) = enqueue(rcpt, args=("-maxattempts", "50"))
        wait_for(lambda: int(SRV.psql("SELECT attempts FROM queue WHERE id = :'id'",
                                      id=qid)[0][0]) >= 1, 10)
        r = SRV.cli("queue", "schedule", "-in", "1h", str(qid))
        self.assertIn("1 message changed", r.stdout)
        later = SRV.psql("SELECT next_attempt > now() + interval '50 minutes' FROM queue "
                         "WHERE id = :'id'", id=qid)
        self.assertEqual(later, [["t"]])
        SRV.cli("queue", "fail", str(qid))
        r = wait_retired(qid)
        self.assertEqual(r[0], "f")
        self.assertIn("administrator", r[3])
        out = SRV.cli("queue", "retired", "list").stdout
        self.assertIn(rcpt, out)
        out = SRV.cli("queue", "retired", "print", str(qid)).stdout
        self.assertIn("success: no", out)
        self.assertIn("results: [", out)
        r = SRV.cli("queue", "transport", "nosuch", "1", check=False)
        self.assertNotEqual(r.returncode, 0)

    def test_fromid_in_mail_from(self):
        SRV.cli("domain", "set", harness.DOMAIN, "-catchall", "+", check=False)
        SRV.psql("UPDATE domains SET localpart_catchall_separators = '+' WHERE name = :'d'",
                 d=harness.DOMAIN)
        rcpt = u("fid") + "@sink.test"
        (qid,) = enqueue(rcpt, args=("-fromid",))
        fid = SRV.psql("SELECT from_id FROM queue WHERE id = :'id' UNION ALL "
                       "SELECT from_id FROM queue_retired WHERE id = :'id'", id=qid)[0][0]
        self.assertTrue(fid)
        self.assertEqual(wait_retired(qid)[0], "t")
        mailfrom = SINK.delivered_to(rcpt)[0][0]
        lp, dom = USER.split("@")
        self.assertEqual(mailfrom, "%s+%s@%s" % (lp, fid, dom))
        SRV.psql("UPDATE domains SET localpart_catchall_separators = '' WHERE name = :'d'",
                 d=harness.DOMAIN)

    def test_failed_dsn_to_fromid_suppresses_and_is_recorded(self):
        # A message delivered fine, then a DSN saying it failed comes back
        # to its unique MAIL FROM (user+FROMID@): the recipient goes on
        # the suppression list and the DSN into the retired message's
        # results (the reference's behaviour), without any webhook set.
        SRV.psql("UPDATE domains SET localpart_catchall_separators = '+' WHERE name = :'d'",
                 d=harness.DOMAIN)
        try:
            rcpt = u("later") + "@sink.test"
            (qid,) = enqueue(rcpt, args=("-fromid",))
            self.assertEqual(wait_retired(qid)[0], "t")
            fid = SRV.psql("SELECT from_id FROM queue_retired WHERE id = :'id'", id=qid)[0][0]
            self.assertNotEqual(SRV.cli("queue", "suppress", "lookup", USER, rcpt,
                                        check=False).returncode, 0)
            lp, dom = USER.split("@")
            to = "%s+%s@%s" % (lp, fid, dom)
            dsn = ("From: MAILER-DAEMON@mx.sink.test\r\nTo: <%s>\r\n"
                   "Subject: Undelivered Mail Returned to Sender\r\n"
                   "Content-Type: multipart/report; report-type=delivery-status;"
                   " boundary=b\r\n\r\n"
                   "--b\r\nContent-Type: text/plain\r\n\r\nIt failed.\r\n"
                   "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
                   "Reporting-MTA: dns; mx.sink.test\r\n\r\n"
                   "Final-Recipient: rfc822; %s\r\nAction: failed\r\n"
                   "Status: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n"
                   "--b--\r\n" % (to, rcpt)).encode()
            code, _ = SRV.deliver(dsn, rcpts=[to], mail_from="")
            self.assertEqual(code, 250)
            out = SRV.cli("queue", "suppress", "lookup", USER, rcpt, check=False)
            self.assertEqual(out.returncode, 0, "not suppressed after the DSN: %s" % out.stdout)
            last = SRV.psql("SELECT jsonb_array_length(results), results -> -1 ->> 'success',"
                            " results -> -1 ->> 'code', results -> -1 ->> 'secode',"
                            " results -> -1 ->> 'error' FROM queue_retired WHERE id = :'id'",
                            id=qid)[0]
            self.assertEqual(last[:4], ["2", "false", "550", "5.1.1"])
            self.assertIn("DSN received: failed", last[4])
            # A "delayed" DSN is recorded but suppresses nothing.
            rcpt2 = u("later") + "@sink.test"
            (qid2,) = enqueue(rcpt2, args=("-fromid",))
            self.assertEqual(wait_retired(qid2)[0], "t")
            fid2 = SRV.psql("SELECT from_id FROM queue_retired WHERE id = :'id'", id=qid2)[0][0]
            to2 = "%s+%s@%s" % (lp, fid2, dom)
            dsn2 = dsn.decode().replace(to, to2).replace(rcpt, rcpt2) \
                .replace("Action: failed", "Action: delayed").replace("5.1.1", "4.2.0") \
                .replace("550", "451").encode()
            self.assertEqual(SRV.deliver(dsn2, rcpts=[to2], mail_from="")[0], 250)
            self.assertNotEqual(SRV.cli("queue", "suppress", "lookup", USER, rcpt2,
                                        check=False).returncode, 0)
            self.assertEqual(SRV.psql("SELECT results -> -1 ->> 'code' FROM queue_retired"
                                      " WHERE id = :'id'", id=qid2), [["451"]])
        finally:
            SRV.psql("UPDATE domains SET localpart_catchall_separators = '' WHERE name = :'d'",
                     d=harness.DOMAIN)

    def test_recipient_domain_tls_recorded(self):
        rcpt = u("t") + "@two.test"
        (qid,) = enqueue(rcpt)
        self.assertEqual(wait_retired(qid)[0], "t")
        rows = SRV.psql("SELECT starttls, requiretls FROM recipient_domain_tls "
                        "WHERE domain = 'two.test'")
        self.assertEqual(rows, [["f", "f"]], "the sink offers no STARTTLS")

    def test_requiretls_refused_without_verified_tls(self):
        rcpt = u("r") + "@sink.test"
        (qid,) = enqueue(rcpt, args=("-requiretls", "yes"))
        r = wait_retired(qid)
        self.assertEqual(r[0], "f")
        self.assertIn("REQUIRETLS", r[3])
        self.assertEqual(SINK.delivered_to(rcpt), [])

    def test_rcpt_reply_kept_when_next_mx_unreachable(self):
        # The first MX answers 451 4.2.0 at RCPT TO, the second cannot be
        # reached: the result, the DSN and the webhook keep the answer.
        rcpt = u("temp") + "@tempdead.test"
        msg, mid = message()
        (qid,) = enqueue(rcpt, msg, args=("-maxattempts", "1"))
        r = wait_retired(qid)
        self.assertEqual(r[0], "f")
        self.assertEqual(last_result(qid), ["451", "4.2.0", "451 4.2.0 try again later"])
        d = wait_for(lambda: [x for x in inbox_dsns("failed") if mid.encode() in x], 15)
        self.assertTrue(d, "no failure DSN")
        self.assertIn(b"Diagnostic-Code: smtp; 451 4.2.0 try again later\r\n", d[0])

    def test_error_text_does_not_repeat_enhanced_code(self):
        rcpt = u("perm") + "@sink.test"
        (qid,) = enqueue(rcpt)
        wait_retired(qid)
        self.assertEqual(last_result(qid), ["550", "5.1.1", "550 5.1.1 no such user here"])
        # A multi-line reply with the code on every line (RFC 2034).
        rcpt = u("mlperm") + "@sink.test"
        (qid,) = enqueue(rcpt)
        wait_retired(qid)
        self.assertEqual(last_result(qid), ["550", "5.1.1",
                                            "550 5.1.1 no such user here, check the address"])
        reason = SRV.cli("queue", "suppress", "list").stdout
        self.assertIn("550 5.1.1 no such user here, check the address", reason)
        self.assertNotIn("5.1.1 5.1.1", reason)

    def test_broken_starttls_opportunistic_falls_back_to_plaintext(self):
        rcpt = u("b") + "@brokentls.test"
        before = (TLSSINK.connections, TLSSINK.starttls_count)
        (qid,) = enqueue(rcpt)
        r = wait_retired(qid)
        self.assertEqual(r[0], "t", "not delivered after the TLS failure: %s" % (r,))
        self.assertEqual(int(r[1]), 1, "delivered in the same attempt")
        self.assertEqual(len(TLSSINK.delivered_to(rcpt)), 1)
        # One connection with the failed handshake, one in plaintext.
        self.assertEqual((TLSSINK.connections - before[0], TLSSINK.starttls_count - before[1]),
                         (2, 1))

    def test_broken_starttls_job_reuses_fallback_connection_not_for_dmarc_report(self):
        # Three messages for brokentls.test due at once: one claim, one
        # job. The first falls back to plaintext after the failed
        # handshake; the second goes over that kept plaintext connection
        # (RSET, no new connection); the third is a DMARC report, which
        # may not fall back (RFC 7489 7.2.1), so it must not use the
        # plaintext connection either: a new one, STARTTLS fails again,
        # not delivered.
        rcpts = [u("j") + "@brokentls.test" for _ in range(3)]
        ids = [enqueue(r, args=("-holdfor", "3600"))[0] for r in rcpts[:2]]
        ids += enqueue(rcpts[2], args=("-holdfor", "3600", "-maxattempts", "1"))
        SRV.psql("UPDATE queue SET is_dmarc_report = true WHERE id = :'id'", id=ids[2])
        before = (TLSSINK.connections, TLSSINK.starttls_count)
        SRV.psql("UPDATE queue SET next_attempt = now() WHERE id IN (%d, %d, %d)" % tuple(ids))
        SRV.psql("NOTIFY mailstead_queue")
        r = [wait_retired(qid) for qid in ids]
        self.assertEqual([x[0] for x in r], ["t", "t", "f"], r)
        self.assertEqual([len(TLSSINK.delivered_to(x)) for x in rcpts], [1, 1, 0])
        self.assertEqual(last_result(ids[2])[1], "4.7.5")
        # First: failed handshake + plaintext; second: none; DMARC
        # report: one more failed handshake.
        self.assertEqual((TLSSINK.connections - before[0], TLSSINK.starttls_count - before[1]),
                         (3, 2))

    def test_broken_starttls_dane_not_delivered(self):
        # DANE (authentic MX and TLSA) requires TLS: no fallback.
        rcpt = u("d") + "@danebroken.test"
        before = TLSSINK.connections
        (qid,) = enqueue(rcpt, args=("-maxattempts", "1"))
        r = wait_retired(qid)
        self.assertEqual(r[0], "f")
        self.assertEqual(TLSSINK.delivered_to(rcpt), [])
        self.assertEqual(TLSSINK.connections - before, 1)
        self.assertEqual(last_result(qid)[1], "4.7.5")

    def test_broken_starttls_dane_tls_required_no(self):
        # "TLS-Required: No": verified TLS fails, then unverified TLS
        # (which fails the same way here), then plaintext delivers.
        rcpt = u("n") + "@danebroken.test"
        before = (TLSSINK.connections, TLSSINK.starttls_count)
        (qid,) = enqueue(rcpt, args=("-requiretls", "no"))
        r = wait_retired(qid)
        self.assertEqual(r[0], "t", "not delivered: %s" % (r,))
        self.assertEqual(len(TLSSINK.delivered_to(rcpt)), 1)
        self.assertEqual((TLSSINK.connections - before[0], TLSSINK.starttls_count - before[1]),
                         (3, 2))
        with open(SRV.logpath("queued"), encoding="utf-8", errors="replace") as f:
            log = f.read()
        self.assertIn("ev=tls-fallback host=mx.danebroken.test ip=127.0.0.6 from=policy "
                      "to=unverified-tls", log)


class DefaultTransportTest(harness.TestCase):
    """[queue] transport: the transport for messages that name none and
    match no route (a smarthost for everything; localserve uses it)."""

    srv = None

    @classmethod
    def setUpClass(cls):
        cls.srv = harness.Server(
            "qdeftr", daemons=("smtpd", "imapd", "queued"), dns_zone=ZONE,
            queue_conf={"direct_port": str(PORT), "backoff_ms": "400", "lease": "3s",
                        "connect_timeout": "2s", "command_timeout": "20s",
                        "transport": "viasink"},
            extra_sections=(("transport viasink", {"type": "smtp", "host": "127.0.0.3",
                                                   "port": str(PORT), "starttls": "no"}),
                            ("transport refuse", {"type": "fail", "fail_code": "554",
                                                  "fail_message": "refused by test route"}))
        ).start()
        cls.srv.psql("UPDATE accounts SET keep_retired_message_period = '1 day'")

    @classmethod
    def tearDownClass(cls):
        if cls.srv:
            cls.srv.stop()

    def enqueue(self, rcpt, *args):
        msg, _ = message()
        r = self.srv.cli("queue", "add", "-from", USER, "-to", rcpt, *args, "-",
                         input=msg.decode())
        return int(r.stdout.split("\t")[0])

    def outcome(self, qid):
        """(success, last error) once retired, or None."""
        rows = self.srv.psql("SELECT success, results -> -1 ->> 'error' FROM queue_retired "
                             "WHERE id = :'id'", id=qid)
        return rows[0] if rows else None

    def test_no_route_uses_queue_transport(self):
        # nowhere.test has no DNS records: only the smarthost can deliver.
        rcpt = u("d") + "@nowhere.test"
        qid = self.enqueue(rcpt)
        r = wait_for(lambda: self.outcome(qid), 30, 0.1)
        self.assertEqual(r and r[0], "t", r)
        self.assertEqual(len(SINK.delivered_to(rcpt)), 1)

    def test_route_wins_over_queue_transport(self):
        self.srv.cli("queue", "routes", "add", "-to", "routed.test", "refuse")
        rcpt = u("r") + "@routed.test"
        qid = self.enqueue(rcpt)
        r = wait_for(lambda: self.outcome(qid), 30, 0.1)
        self.assertEqual(r and r[0], "f", r)
        self.assertIn("refused by test route", r[1])
        self.assertEqual(SINK.delivered_to(rcpt), [])

    def test_message_transport_wins_over_queue_transport(self):
        # Explicitly direct: the MX lookup of nowhere.test fails, the
        # smarthost is not used.
        rcpt = u("x") + "@nowhere.test"
        qid = self.enqueue(rcpt, "-transport", "direct")

        def tried():
            return self.outcome(qid) or self.srv.psql(
                "SELECT 1 FROM queue WHERE id = :'id' AND jsonb_array_length(results) > 0",
                id=qid)
        self.assertTrue(wait_for(tried, 30, 0.1))
        self.assertEqual(SINK.delivered_to(rcpt), [])


if __name__ == "__main__":
    unittest.main()
