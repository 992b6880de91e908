"""The outgoing queue, enqueue side (lib/queue), through `mailstead queue`:
queue add (rows, hard-linked files, base_id, prefix, 8bit/SMTPUTF8),
X-Mailstead-Extra-* headers (extra data, stripped from the stored file),
hold rules, FUTURERELEASE, REQUIRETLS, the account send limits (also under
concurrency), suppression lists, hold/unhold, drop (with retired history),
dump, list output, and the NOTIFY that wakes mailstead-queued."""

import datetime
import json
import os
import subprocess
import threading
import time

import harness
from harness import OTHER, USER, unique

srv = None


def setUpModule():
    global srv
    # The queue needs no daemon: everything goes through the CLI.
    srv = harness.Server("queue", daemons=()).start()


def tearDownModule():
    if srv:
        srv.stop()


def message(subject=None, extra_headers=(), body="Hello there.\r\n", msgid=True, date=True,
            frm=USER, to="rcpt@remote.example"):
    subject = subject or unique("subj")
    hdrs = ["From: <%s>" % frm, "To: <%s>" % to, "Subject: %s" % subject]
    if date:
        hdrs.append("Date: Mon, 1 Jan 2024 10:00:00 +0000")
    if msgid:
        hdrs.append("Message-ID: <%s@example.org>" % unique("mid"))
    hdrs += list(extra_headers)
    return ("\r\n".join(hdrs) + "\r\n\r\n" + body).encode("utf-8")


def queue_add(msg, to, frm=USER, args=(), check=True):
    """Run `queue add`, message on stdin; returns (CompletedProcess, [ids])."""
    if isinstance(to, str):
        to = [to]
    argv = ["queue", "add", "-from", frm]
    for t in to:
        argv += ["-to", t]
    argv += list(args) + ["-"]
    r = subprocess.run([harness.CLI, "-c", srv.conf] + argv, input=msg, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60, cwd=srv.dir)
    out = r.stdout.decode("utf-8", "replace")
    if check and r.returncode != 0:
        raise AssertionError("queue add %s exited %d: %s %s" % (to, r.returncode, out,
                                                              r.stderr.decode("utf-8", "replace")))
    ids = []
    if r.returncode == 0:
        for ln in out.splitlines():
            qid, rcpt = ln.split("\t")
            ids.append(int(qid))
    r.out, r.err = out, r.stderr.decode("utf-8", "replace")
    return r, ids


def dump(qid):
    """`queue dump` output as bytes (srv.cli would translate CRLF)."""
    r = subprocess.run([harness.CLI, "-c", srv.conf, "queue", "dump", str(qid)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if r.returncode != 0:
        raise AssertionError("queue dump %d: %s" % (qid, r.stderr))
    return r.stdout


def row(qid, cols):
    rows = srv.psql("select %s from queue where id = :'id'" % cols, id=qid)
    return rows[0] if rows else None


def queue_count():
    return int(srv.psql("select count(*) from queue")[0][0])


def queue_files():
    return harness.files_under(os.path.join(srv.datadir, "queue"))


def read_file(rel):
    with open(os.path.join(srv.datadir, rel), "rb") as f:
        return f.read()


def new_account(prefix="acct"):
    addr = "%s@example.org" % unique(prefix)
    srv.add_account(addr, unique("pw"))
    return addr


def parse_list(out):
    lines = out.rstrip("\n").split("\n")
    header = lines[0].split("\t")
    return [dict(zip(header, ln.split("\t"))) for ln in lines[1:] if ln]


class QueueTest(harness.TestCase):

    def tearDown(self):
        # Hold rules of one test must not hold another's messages.
        srv.psql("delete from queue_hold_rules")

    def assertNothingLeftInTmp(self):
        self.assertEqual(srv.tmp_files(), set(), "temporary files left behind")

    # ------------------------------------------------------------ add

    def test_add_rows_files_and_dump(self):
        msg = message()
        rcpts = ["One@Remote.EXAMPLE", "two@other.example"]
        r, ids = queue_add(msg, rcpts)
        self.assertEqual(len(ids), 2, r.out)
        self.assertLess(ids[0], ids[1])
        acct_id = srv.psql("select id from accounts where name = :'n'", n=USER)[0][0]
        want_size = str(len(msg))
        for qid, lp, dom in ((ids[0], "One", "remote.example"), (ids[1], "two", "other.example")):
            got = row(qid, "base_id, sender_account_id, sender_localpart, sender_domain,"
                      " recipient_localpart, recipient_domain, hold, size, attempts,"
                      " next_attempt <= now(), next_attempt > now() - interval '1 minute',"
                      " file_path, require_tls is null, extra::text, future_release_request,"
                      " has_8bit, smtputf8")
            self.assertEqual(got, [str(ids[0]), acct_id, "user", "example.org", lp, dom, "f",
                                   want_size, "0", "t", "t",
                                   "queue/%d/%d" % (qid // 8192, qid), "t", "{}", "", "f", "f"])
            self.assertEqual(read_file(got[11]), msg)
        # One file, hard-linked once per recipient; the temporary copy is gone.
        st = [os.stat(os.path.join(srv.datadir, "queue/%d/%d" % (q // 8192, q))) for q in ids]
        self.assertEqual(st[0].st_ino, st[1].st_ino)
        self.assertEqual(st[0].st_nlink, 2)
        if srv.owner:
            self.assertEqual((st[0].st_uid, st[0].st_gid), srv.owner,
                             "queue file not owned by the daemons' user")
        self.assertNothingLeftInTmp()
        # Message-ID and Subject as submitted.
        mid, subj = row(ids[0], "message_id, subject")
        self.assertTrue(mid.startswith("<") and mid.endswith("@example.org>"), mid)
        self.assertIn(("Message-ID: %s" % mid).encode(), msg)
        self.assertIn(("Subject: %s" % subj).encode(), msg)
        # dump prints exactly what will be sent.
        self.assertEqual(dump(ids[1]), msg)
        # The recipients are remembered for the send limits.
        self.assertEqual(srv.psql(
            "select recipient from outgoing_recipients where account_id = :'a'"
            " and recipient in ('One@remote.example', 'two@other.example') order by 1",
            a=acct_id), [["One@remote.example"], ["two@other.example"]])

    def test_single_recipient_base_id_is_own_id(self):
        _, ids = queue_add(message(), "solo@remote.example")
        self.assertEqual(row(ids[0], "base_id")[0], str(ids[0]))

    def test_prefix_adds_message_id_and_date(self):
        msg = message(msgid=False, date=False)
        _, ids = queue_add(msg, "nomid@remote.example")
        dumped = dump(ids[0])
        self.assertTrue(dumped.endswith(msg), "file is not the message as given")
        prefix = dumped[:-len(msg)]
        fields = harness.header_fields(prefix)
        self.assertEqual([f[0] for f in fields], ["message-id", "date"], prefix)
        mid = fields[0][1].decode()
        self.assertRegex(mid, r"^<[A-Za-z0-9_-]+@%s>$" % harness.HOSTNAME.replace(".", r"\."))
        self.assertEqual(row(ids[0], "message_id, size"), [mid, str(len(dumped))])
        # The file itself is unchanged; the prefix lives in the row.
        self.assertEqual(read_file(row(ids[0], "file_path")[0]), msg)

    def test_lf_converted_8bit_and_smtputf8(self):
        msg = b"From: <user@example.org>\nSubject: caf\xc3\xa9\nMessage-ID: <x@y>\nDate: x\n\nr\xc3\xa9sum\xc3\xa9\n"
        _, ids = queue_add(msg, "j\u00f6rg@m\u00fcller.example")
        got = row(ids[0], "has_8bit, smtputf8, recipient_localpart, recipient_domain, file_path")
        self.assertEqual(got[:4], ["t", "t", "j\u00f6rg", "m\u00fcller.example"])
        self.assertEqual(read_file(got[4]), msg.replace(b"\n", b"\r\n"))
        # ASCII message and addresses: neither.
        _, ids = queue_add(message(), "plain@remote.example")
        self.assertEqual(row(ids[0], "has_8bit, smtputf8"), ["f", "f"])

    def test_raw_8bit_header_is_stored(self):
        # A Subject in raw Latin-1 is not UTF-8: the message is queued as
        # is, the subject column gets U+FFFD for the bad byte.
        msg = message(subject="x").replace(b"Subject: x", b"Subject: caf\xe9")
        _, ids = queue_add(msg, "latin1@remote.example")
        self.assertEqual(row(ids[0], "subject")[0], "caf\ufffd")
        self.assertEqual(dump(ids[0]), msg)

    def test_null_sender_and_unknown_sender_account(self):
        _, ids = queue_add(message(), "x@remote.example", frm="<>")
        self.assertEqual(row(ids[0], "sender_localpart, sender_domain, sender_account_id is null"),
                         ["", "", "t"])
        # A sender address that is no account's: a system message.
        _, ids = queue_add(message(), "x@remote.example", frm="bounces@elsewhere.example")
        self.assertEqual(row(ids[0], "sender_account_id is null"), ["t"])
        # -account names the account explicitly.
        _, ids = queue_add(message(), "x@remote.example", frm="bounces@elsewhere.example",
                           args=["-account", OTHER])
        self.assertEqual(row(ids[0], "sender_account_id")[0],
                         srv.psql("select id from accounts where name = :'n'", n=OTHER)[0][0])

    def test_bad_input_queues_nothing(self):
        before, files = queue_count(), queue_files()
        cases = [
            (["-from", USER, "-"], 2),                       # no recipient
            (["-from", USER, "-to", "x@remote.example"], 2),  # no file
            (["-to", "x@remote.example", "-"], 2),           # no sender
            (["-from", USER, "-to", "not an address", "-"], 1),
            (["-from", USER, "-to", "x@remote.example", "-account", "nobody@example.org", "-"], 1),
            (["-from", USER, "-to", "x@remote.example", "-requiretls", "maybe", "-"], 2),
            (["-from", USER, "-to", "x@remote.example", "-bogus", "1", "-"], 2),
            (["-from", USER, "-to", "x@remote.example", "/nonexistent/file"], 1),
        ]
        for argv, code in cases:
            with self.subTest(argv=argv):
                r = subprocess.run([harness.CLI, "-c", srv.conf, "queue", "add"] + argv,
                                   input=message(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   timeout=60)
                self.assertEqual(r.returncode, code, r.stderr)
        self.assertEqual(queue_count(), before)
        self.assertEqual(queue_files(), files)
        self.assertNothingLeftInTmp()

    # ------------------------------------------------------------ extra

    def test_extra_headers_become_data_and_leave_the_message(self):
        body = "X-Mailstead-Extra-Body: stays, this is the body\r\n"
        msg = message(extra_headers=["X-Mailstead-Extra-order-id: 123",
                                     "x-mailstead-extra-CUSTOMER: Acme",
                                     "  Corp",
                                     "X-Other: kept"], body=body)
        _, ids = queue_add(msg, ["a@remote.example", "b@remote.example"])
        for qid in ids:
            self.assertEqual(json.loads(row(qid, "extra::text")[0]),
                             {"Order-Id": "123", "Customer": "Acme Corp"})
        stored = read_file(row(ids[0], "file_path")[0])
        want = (msg.replace(b"X-Mailstead-Extra-order-id: 123\r\n", b"")
                   .replace(b"x-mailstead-extra-CUSTOMER: Acme\r\n  Corp\r\n", b""))
        self.assertNotEqual(want, msg)
        self.assertEqual(stored, want)
        self.assertIn(b"X-Other: kept\r\n", stored)
        self.assertTrue(stored.endswith(body.encode()))
        self.assertEqual(row(ids[0], "size")[0], str(len(stored)))
        # The stripped copy is shared by both recipients (one inode).
        paths = [os.path.join(srv.datadir, row(q, "file_path")[0]) for q in ids]
        self.assertEqual(os.stat(paths[0]).st_ino, os.stat(paths[1]).st_ino)
        self.assertNothingLeftInTmp()

    def test_bad_extra_headers_refused(self):
        before, files = queue_count(), queue_files()
        for hdrs in (["X-Mailstead-Extra-Id: 1", "x-mailstead-extra-ID: 2"],
                     ["X-Mailstead-Extra-: empty key"],
                     ["X-Mailstead-Extra-a/b: not a token"]):
            with self.subTest(headers=hdrs):
                r, _ = queue_add(message(extra_headers=hdrs), "x@remote.example", check=False)
                self.assertEqual(r.returncode, 1, r.out)
                self.assertIn("Extra", r.err)
        r, _ = queue_add(message(extra_headers=[]).replace(b"Subject:", b"X-Mailstead-Extra-Bad: \x01\r\nSubject:"),
                         "x@remote.example", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(queue_count(), before)
        self.assertEqual(queue_files(), files)
        self.assertNothingLeftInTmp()

    # ------------------------------------------------------------ hold rules

    def holdrule(self, *args):
        r = srv.cli("queue", "holdrules", "add", *args)
        self.assertRegex(r.stdout, r"hold rule \d+ added")
        return int(r.stdout.split()[2])

    def test_hold_rules(self):
        rid = self.holdrule("-recipientdom", "Held.EXAMPLE")
        rules = parse_list(srv.cli("queue", "holdrules", "list").stdout)
        self.assertIn({"id": str(rid), "account": "", "sender_domain": "",
                       "recipient_domain": "held.example"}, rules)
        _, ids = queue_add(message(), ["a@held.example", "b@free.example"])
        self.assertEqual([row(q, "hold")[0] for q in ids], ["t", "f"])

        # Conditions combine: this account AND this domain.
        self.holdrule("-account", OTHER, "-recipientdom", "both.example")
        _, ids = queue_add(message(), ["a@both.example"])            # from USER
        self.assertEqual(row(ids[0], "hold")[0], "f")
        _, ids = queue_add(message(frm=OTHER), ["a@both.example"], frm=OTHER)
        self.assertEqual(row(ids[0], "hold")[0], "t")
        self.holdrule("-senderdom", "example.org", "-recipientdom", "sd.example")
        _, ids = queue_add(message(), ["a@sd.example"])
        self.assertEqual(row(ids[0], "hold")[0], "t")
        _, ids = queue_add(message(), ["a@sd.example"], frm="x@other-sender.example")
        self.assertEqual(row(ids[0], "hold")[0], "f")

        # Removing a rule releases nothing, and new messages are not held.
        r = srv.cli("queue", "holdrules", "remove", str(rid))
        self.assertIn("removed", r.stdout)
        self.assertNotEqual(srv.cli("queue", "holdrules", "remove", str(rid), check=False).returncode, 0)
        _, ids2 = queue_add(message(), ["c@held.example"])
        self.assertEqual(row(ids2[0], "hold")[0], "f")

    def test_empty_rule_holds_everything_including_queued(self):
        _, before = queue_add(message(), ["early@anywhere.example"])
        self.assertEqual(row(before[0], "hold")[0], "f")
        r = srv.cli("queue", "holdrules", "add")
        n_held = int(r.stdout.split(";")[1].split()[0])
        self.assertGreaterEqual(n_held, 1)
        self.assertEqual(row(before[0], "hold")[0], "t", "rule did not hold queued message")
        _, ids = queue_add(message(), ["x@anywhere.example", "y@else.example"], frm="<>")
        self.assertEqual([row(q, "hold")[0] for q in ids], ["t", "t"])

    def test_hold_unhold(self):
        _, ids = queue_add(message(), ["h1@remote.example", "h2@remote.example"])
        r = srv.cli("queue", "hold", str(ids[0]), str(ids[1]))
        self.assertIn("2 messages", r.stdout)
        self.assertEqual([row(q, "hold")[0] for q in ids], ["t", "t"])
        r = srv.cli("queue", "hold", str(ids[0]))
        self.assertIn("0 messages", r.stdout)
        r = srv.cli("queue", "unhold", str(ids[1]))
        self.assertIn("1 message released", r.stdout)
        self.assertEqual([row(q, "hold")[0] for q in ids], ["t", "f"])
        self.assertEqual(srv.cli("queue", "hold", "abc", check=False).returncode, 1)

    # ------------------------------------------------------------ future release, TLS

    def test_future_release(self):
        _, ids = queue_add(message(), "later@remote.example", args=["-holdfor", "3600"])
        got = row(ids[0], "future_release_request,"
                  " extract(epoch from next_attempt - now()) between 3500 and 3600")
        self.assertEqual(got, ["for;3600", "t"])
        until = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=2)
                 ).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
        _, ids = queue_add(message(), "later@remote.example", args=["-holduntil", until])
        got = row(ids[0], "future_release_request,"
                  " to_char(next_attempt at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
        self.assertEqual(got, ["until;" + until, until])
        # Listed by next attempt: these come after messages due now.
        listed = parse_list(srv.cli("queue", "list").stdout)
        pos = {int(m["id"]): i for i, m in enumerate(listed)}
        due_now = [int(m["id"]) for m in listed if m["future_release"] == ""]
        self.assertLess(max(pos[q] for q in due_now), pos[ids[0]])
        # More than 60 days, or in the past: refused, nothing queued.
        before = queue_count()
        past = "2001-01-01T00:00:00Z"
        for args in (["-holdfor", "5184001"], ["-holduntil", past], ["-holdfor", "0"],
                     ["-holduntil", "tomorrow"]):
            r, _ = queue_add(message(), "x@remote.example", args=args, check=False)
            self.assertNotEqual(r.returncode, 0, args)
        self.assertEqual(queue_count(), before)

    def test_requiretls(self):
        for val, want in (("yes", "true"), ("no", "false"), ("default", "null")):
            _, ids = queue_add(message(), "tls@remote.example", args=["-requiretls", val])
            self.assertEqual(row(ids[0], "coalesce(require_tls::text, 'null')")[0], want, val)

    # ------------------------------------------------------------ limits

    def test_message_limit(self):
        acct = new_account("lim")
        srv.psql("update accounts set max_outgoing_messages_per_day = 3 where name = :'n'", n=acct)
        queue_add(message(frm=acct), ["a@l.example", "b@l.example"], frm=acct, args=["-limits"])
        before = queue_count()
        r, _ = queue_add(message(frm=acct), ["c@l.example", "d@l.example"], frm=acct,
                         args=["-limits"], check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("max number of messages (3) over past 24h reached", r.err)
        self.assertEqual(queue_count(), before)
        self.assertNothingLeftInTmp()
        # One more recipient still fits.
        queue_add(message(frm=acct), ["c@l.example"], frm=acct, args=["-limits"])
        r, _ = queue_add(message(frm=acct), ["e@l.example"], frm=acct, args=["-limits"], check=False)
        self.assertEqual(r.returncode, 1)
        # Submissions older than 24 hours no longer count.
        srv.psql("update outgoing set submitted = now() - interval '25 hours'"
                 " where account_id = (select id from accounts where name = :'n')", n=acct)
        queue_add(message(frm=acct), ["e@l.example", "f@l.example"], frm=acct, args=["-limits"])
        # ... and are cleaned up on the next submission.
        self.assertEqual(srv.psql(
            "select count(*), count(*) filter (where submitted < now() - interval '24 hours')"
            " from outgoing where account_id = (select id from accounts where name = :'n')",
            n=acct), [["2", "0"]])

    def test_first_time_recipient_limit(self):
        acct = new_account("first")
        srv.psql("update accounts set max_first_time_recipients_per_day = 2 where name = :'n'", n=acct)
        queue_add(message(frm=acct), ["a@ft.example", "b@ft.example"], frm=acct, args=["-limits"])
        # Known recipients are fine, again and again.
        for _ in range(3):
            queue_add(message(frm=acct), ["a@ft.example"], frm=acct, args=["-limits"])
        r, _ = queue_add(message(frm=acct), ["a@ft.example", "c@ft.example"], frm=acct,
                         args=["-limits"], check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("max number of new/first-time recipients (2) over past 24h reached", r.err)
        # First sent to more than 24 hours ago: not first-time today.
        srv.psql("update outgoing_recipients set first_submitted = now() - interval '2 days'"
                 " where account_id = (select id from accounts where name = :'n')", n=acct)
        queue_add(message(frm=acct), ["c@ft.example", "d@ft.example"], frm=acct, args=["-limits"])
        # Without -limits (an administrator injecting) nothing is checked.
        queue_add(message(frm=acct), ["e@ft.example", "f@ft.example", "g@ft.example"], frm=acct)

    def test_limits_hold_under_concurrency(self):
        acct = new_account("conc")
        srv.psql("update accounts set max_outgoing_messages_per_day = 4 where name = :'n'", n=acct)
        results = []

        def one(i):
            r, _ = queue_add(message(frm=acct), ["p%d@conc.example" % i], frm=acct,
                             args=["-limits"], check=False)
            results.append(r.returncode)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(sorted(results), [0] * 4 + [1] * 6)
        self.assertEqual(srv.psql(
            "select count(*) from queue q join accounts a on a.id = q.sender_account_id"
            " where a.name = :'n'", n=acct), [["4"]])

    # ------------------------------------------------------------ suppressions

    def test_suppression_list(self):
        acct = new_account("sup")
        r = srv.cli("queue", "suppress", "add", acct, "John.Doe+News@Example.COM", "hard", "bounce")
        self.assertIn("johndoe@example.com", r.stdout)
        lst = parse_list(srv.cli("queue", "suppress", "list", acct).stdout)
        self.assertEqual(len(lst), 1)
        self.assertEqual((lst[0]["account"], lst[0]["base_address"], lst[0]["original_address"],
                          lst[0]["manual"], lst[0]["reason"]),
                         (acct, "johndoe@example.com", "John.Doe+News@example.com", "yes",
                          "hard bounce"))
        # Lookups by base address; other accounts are not affected.
        for addr in ("johndoe@example.com", "JOHN.DOE-shop@example.com", "j.o.h.n.d.o.e@example.com"):
            r = srv.cli("queue", "suppress", "lookup", acct, addr, check=False)
            self.assertEqual(r.returncode, 0, addr)
            self.assertIn("johndoe@example.com", r.stdout)
        self.assertEqual(srv.cli("queue", "suppress", "lookup", acct, "johndoe@example.net",
                                 check=False).returncode, 1)
        self.assertEqual(srv.cli("queue", "suppress", "lookup", USER, "johndoe@example.com",
                                 check=False).returncode, 1)
        # A second add of the same base address changes nothing.
        r = srv.cli("queue", "suppress", "add", acct, "johndoe@example.com")
        self.assertIn("already", r.stdout)
        self.assertEqual(len(parse_list(srv.cli("queue", "suppress", "list", acct).stdout)), 1)
        # The list of all accounts includes it.
        self.assertIn(acct, [s["account"] for s in
                             parse_list(srv.cli("queue", "suppress", "list").stdout)])
        # As in the reference, a suppressed recipient is still queued: the
        # delivery attempt fails it at once, so the sender gets a DSN.
        _, ids = queue_add(message(frm=acct), ["john.doe@example.com"], frm=acct)
        self.assertEqual(row(ids[0], "recipient_localpart")[0], "john.doe")
        # Remove by any address with the same base.
        r = srv.cli("queue", "suppress", "remove", acct, "JohnDoe+x@example.com")
        self.assertIn("no longer suppressed", r.stdout)
        self.assertEqual(srv.cli("queue", "suppress", "lookup", acct, "johndoe@example.com",
                                 check=False).returncode, 1)
        self.assertEqual(srv.cli("queue", "suppress", "remove", acct, "johndoe@example.com",
                                 check=False).returncode, 1)
        self.assertEqual(srv.cli("queue", "suppress", "add", "nobody@example.org", "x@y.example",
                                 check=False).returncode, 1)

    # ------------------------------------------------------------ drop, list

    def test_drop(self):
        _, ids = queue_add(message(), ["d1@remote.example", "d2@remote.example"])
        paths = [os.path.join(srv.datadir, row(q, "file_path")[0]) for q in ids]
        r = srv.cli("queue", "drop", str(ids[0]))
        self.assertIn("1 message dropped", r.stdout)
        self.assertIsNone(row(ids[0], "id"))
        self.assertFalse(os.path.exists(paths[0]))
        self.assertTrue(os.path.exists(paths[1]), "the other recipient's link went too")
        # The account keeps no history by default.
        self.assertEqual(srv.psql("select count(*) from queue_retired where id = :'i'", i=ids[0]),
                         [["0"]])
        self.assertEqual(srv.cli("queue", "drop", str(ids[0]), check=False).returncode, 1)
        self.assertNotEqual(srv.cli("queue", "dump", str(ids[0]), check=False).returncode, 0)

        # With a keep period the dropped message becomes history.
        acct = new_account("keep")
        srv.psql("update accounts set keep_retired_message_period = '7 days' where name = :'n'",
                 n=acct)
        _, kept = queue_add(message(frm=acct, subject="keep me"), ["k@remote.example"], frm=acct,
                            args=["-holdfor", "600"])
        srv.cli("queue", "drop", str(kept[0]))
        got = srv.psql(
            "select recipient_address, success, subject, future_release_request,"
            " results -> -1 ->> 'error', keep_until between now() + interval '6 days 23 hours'"
            " and now() + interval '7 days 1 hour'"
            " from queue_retired where id = :'i'", i=kept[0])
        self.assertEqual(got, [["k@remote.example", "f", "keep me", "for;600",
                                "delivery canceled by admin", "t"]])

    def test_list_output(self):
        acct = new_account("list")
        subject = "tab\there \\ back"
        _, ids = queue_add(message(frm=acct, subject=subject), ["l1@remote.example"], frm=acct,
                           args=["-requiretls", "yes"])
        out = srv.cli("queue", "list", "-account", acct).stdout
        lines = out.rstrip("\n").split("\n")
        self.assertEqual(len(lines), 2, out)
        header = lines[0].split("\t")
        fields = lines[1].split("\t")
        self.assertEqual(len(fields), len(header), "a value was not escaped: %r" % lines[1])
        m = dict(zip(header, fields))
        self.assertEqual(m["id"], str(ids[0]))
        self.assertEqual(m["account"], acct)
        self.assertEqual(m["from"], acct)
        self.assertEqual(m["to"], "l1@remote.example")
        self.assertEqual(m["hold"], "no")
        self.assertEqual(m["require_tls"], "yes")
        self.assertEqual(m["subject"], "tab\\there \\\\ back")
        self.assertRegex(m["queued"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(m["last_attempt"], "")
        # -n limits, and an unknown account is an error.
        self.assertEqual(len(parse_list(srv.cli("queue", "list", "-n", "1").stdout)), 1)
        self.assertEqual(srv.cli("queue", "list", "-account", "nobody@example.org",
                                 check=False).returncode, 1)
        r = srv.cli("help", "queue")
        for word in ("holdrules", "suppress", "dump", "-holdfor", "-limits"):
            self.assertIn(word, r.stdout)

    # ------------------------------------------------------------ notify

    def test_notify_wakes_the_queue_daemon(self):
        """A LISTENing session (as mailstead-queued will be) is told once per
        transaction that queues messages or changes their hold state, and not
        about unrelated changes."""
        pg = srv.pg
        p = subprocess.Popen([pg._bin("psql"), "-X", "-q", "-A", "-t", "-h", pg.sockdir,
                              "-p", str(pg.port), "-U", harness.DB_USER, "-d", harness.DB_NAME],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
        ids = []

        def add():
            ids.extend(queue_add(message(), ["n1@remote.example", "n2@remote.example"])[1])

        def hold():
            srv.cli("queue", "hold", str(ids[0]))

        def unhold():
            srv.cli("queue", "unhold", str(ids[0]))

        def suppress():
            srv.cli("queue", "suppress", "add", USER, "quiet@remote.example")

        try:
            p.stdin.write("LISTEN mailstead_queue;\nSELECT 'listening';\n")
            p.stdin.flush()
            self.assertEqual(p.stdout.readline().strip(), "listening")
            for action in (add, hold, unhold, suppress):
                action()
                # psql prints what arrived while it was idle after the
                # result of its next statement.
                time.sleep(0.5)
                p.stdin.write("SELECT 'after-%s';\n" % action.__name__)
                p.stdin.flush()
            p.stdin.close()
            out = p.stdout.read()
            p.wait(30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()
        counts = {}
        cur = None
        for ln in out.splitlines():
            if ln.startswith("after-"):
                cur = ln[len("after-"):]
                counts[cur] = 0
            elif 'Asynchronous notification "mailstead_queue"' in ln:
                self.assertIsNotNone(cur, out)
                counts[cur] += 1
        self.assertEqual(counts, {"add": 1, "hold": 1, "unhold": 1, "suppress": 0}, out)
