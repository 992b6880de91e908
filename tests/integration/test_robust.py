"""Malformed and hostile input, vanishing clients, crashes: the daemons answer
with the protocol's error, keep the session where the protocol allows,
store nothing they should not, leave no temporary files, and lose no
message they acknowledged."""

import os
import signal
import socket
import threading
import time

import harness
from harness import PASSWORD, SENDER, USER, fetch_by_uid, make_message, uid_search, unique

srv = None


def setUpModule():
    global srv
    srv = harness.Server("robust").start()


def tearDownModule():
    if srv:
        srv.stop()


def start_data(r, rcpt=USER):
    """EHLO/MAIL/RCPT/DATA on a raw connection, asserting each reply."""
    for cmd, want in (("EHLO " + harness.CLIENT_HOSTNAME, 250), ("MAIL FROM:<%s>" % SENDER, 250),
                      ("RCPT TO:<%s>" % rcpt, 250), ("DATA", 354)):
        code, lines = r.smtp(cmd)
        if code != want:
            raise AssertionError("%s: %d %r" % (cmd, code, lines))


class RobustTest(harness.TestCase):

    def setUp(self):
        self.count0 = srv.inbox_count()
        self.files0 = srv.msg_files()

    def assertNothingStored(self):
        self.assertEqual(srv.inbox_count(), self.count0, "a message was stored")
        self.assertEqual(srv.msg_files(), self.files0, "message files changed")
        self.assertTrue(harness.wait_for(lambda: not srv.tmp_files(), 5),
                        "temporary files left behind: %r" % srv.tmp_files())

    def assertCanDeliver(self):
        msg, _ = make_message()
        code, resp = srv.deliver(msg)
        self.assertEqual(code, 250, resp)
        self.assertDelivered(srv, msg)

    # ---------------------------------------------------------------- SMTP

    def test_smtp_overlong_command_line(self):
        msg, _ = make_message()
        with srv.raw_smtp() as r:
            self.assertEqual(r.smtp("EHLO " + harness.CLIENT_HOSTNAME)[0], 250)
            code, lines = r.smtp("MAIL FROM:<%s@example.net>" % ("a" * 5000))
            self.assertEqual(code, 500, lines)
            self.assertTrue(lines[0].startswith("5.5.2"), lines)
            # The rest of the long line must not be taken as a new command.
            self.assertTrue(r.nothing_within(0.5), "extra reply after overlong line")
            self.assertEqual(r.smtp("NOOP")[0], 250)
            start_data(r)
            r.send(msg + b".\r\n")
            code, lines = r.smtp_reply()
            self.assertEqual(code, 250, lines)
            self.assertEqual(r.smtp("QUIT")[0], 221)
        self.assertDelivered(srv, msg)

    def test_smtp_unknown_and_malformed_commands(self):
        with srv.raw_smtp() as r:
            self.assertEqual(r.smtp("EHLO " + harness.CLIENT_HOSTNAME)[0], 250)
            code, lines = r.smtp("FROBNICATE now")
            self.assertEqual(code, 500, lines)
            self.assertTrue(lines[0].startswith("5.5.1"), lines)
            code, lines = r.smtp("\x01\x02\x7f binary")
            self.assertEqual(code, 500, lines)
            code, lines = r.smtp("MAIL FROM:no-brackets-here")
            self.assertTrue(code in (501, 553, 555), (code, lines))
            self.assertEqual(r.smtp("noop")[0], 250)
        self.assertDaemonsAlive(srv)

    def _data_rejected(self, first, rest):
        """Send DATA content in two parts; the server must not answer before
        the real end, then reject with 550 5.5.2 (SMTP smuggling) once."""
        with srv.raw_smtp() as r:
            start_data(r)
            hdr, _ = make_message(body=b"")
            r.send(hdr + first)
            self.assertTrue(r.nothing_within(0.5), "server replied before the end of DATA: %r" % r.buf)
            r.send(rest)
            code, lines = r.smtp_reply()
            self.assertEqual(code, 550, lines)
            self.assertTrue(lines[0].startswith("5.5.2"), lines)
            self.assertIn("smuggling", " ".join(lines).lower())
            self.assertTrue(r.nothing_within(0.5), "more than one reply: %r" % r.buf)
            # The session continues.
            self.assertEqual(r.smtp("RSET")[0], 250)
            self.assertEqual(r.smtp("NOOP")[0], 250)
            self.assertEqual(r.smtp("QUIT")[0], 221)
        self.assertNothingStored()
        self.assertDaemonsAlive(srv)

    def test_smtp_bare_lf_in_data(self):
        self._data_rejected(b"line one\nline two\r\n", b"last\r\n.\r\n")

    def test_smtp_bare_cr_in_data(self):
        self._data_rejected(b"line one\rline two\r\n", b"last\r\n.\r\n")

    def test_smtp_lf_dot_lf_does_not_end_data(self):
        smuggled = ("MAIL FROM:<evil@example.net>\r\nRCPT TO:<%s>\r\nDATA\r\n"
                    "Subject: smuggled\r\n\r\nsmuggled\r\n" % USER).encode()
        for sep in (b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n", b"\r\n.\r"):
            with self.subTest(sep=sep):
                self._data_rejected(b"body" + sep + smuggled, b".\r\n")

    def test_smtp_input_in_one_byte_pieces(self):
        # Commands and DATA trickled one byte per TCP segment: the
        # end-of-data detection and the command parser must resume.
        msg, _ = make_message(body=b".dot\r\nline\r\n")
        with srv.raw_smtp() as r:
            r.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def trickle(data):
                for i in range(len(data)):
                    r.send(data[i:i + 1])
                    if i % 16 == 0:
                        time.sleep(0.001)

            for cmd, want in (("EHLO " + harness.CLIENT_HOSTNAME, 250), ("MAIL FROM:<%s>" % SENDER, 250),
                              ("RCPT TO:<%s>" % USER, 250), ("DATA", 354)):
                trickle((cmd + "\r\n").encode())
                self.assertEqual(r.smtp_reply()[0], want, cmd)
            stuffed = msg.replace(b"\r\n.", b"\r\n..")
            trickle(stuffed + b".")
            time.sleep(0.05)
            trickle(b"\r")
            self.assertTrue(r.nothing_within(0.3), "replied before the final LF")
            trickle(b"\n")
            code, lines = r.smtp_reply()
            self.assertEqual(code, 250, lines)
        self.assertDelivered(srv, msg)

    def test_smtp_client_vanishes_mid_data(self):
        for partial in (b"x" * 200000 + b"\r\n", b"half a line without end",
                        b"line\r\n.", b"line\r\n.\r"):
            with self.subTest(partial=partial[:30]):
                r = srv.raw_smtp()
                start_data(r)
                hdr, _ = make_message(body=b"")
                r.send(hdr + partial)
                time.sleep(0.2)
                r.close()
                self.assertNothingStored()
        self.assertDaemonsAlive(srv)
        self.assertCanDeliver()

    def test_smtp_client_vanishes_before_data(self):
        for cmds in (["EHLO x"], ["EHLO x", "MAIL FROM:<%s>" % SENDER],
                     ["EHLO x", "MAIL FROM:<%s>" % SENDER, "RCPT TO:<%s>" % USER]):
            r = srv.raw_smtp()
            for c in cmds:
                r.smtp(c)
            r.close()
        self.assertNothingStored()
        self.assertDaemonsAlive(srv)

    def test_smtp_parallel_sessions(self):
        addr = "%s@example.org" % unique("par")
        pw = unique("pw")
        srv.add_account(addr, pw)
        sent, errors = [], []
        lock = threading.Lock()

        def worker():
            try:
                with srv.smtp() as s:
                    for _ in range(5):
                        msg, _ = make_message(to=addr)
                        s.mail(SENDER)
                        s.rcpt(addr)
                        code, resp = s.data(msg)
                        with lock:
                            (sent if code == 250 else errors).append(msg if code == 250 else resp)
            except Exception as e:  # noqa: BLE001 - reported below
                with lock:
                    errors.append(repr(e))

        threads = [threading.Thread(target=worker) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(errors, [])
        self.assertEqual(len(sent), 50)
        m = srv.imap(addr, pw)
        try:
            m.select("INBOX", readonly=True)
            got = fetch_by_uid(m, "1:*", "(BODY.PEEK[])")
        finally:
            m.logout()
        self.assertEqual(sorted(harness.split_trace(it["BODY[]"])[1] for it in got.values()), sorted(sent))
        # UIDs are unique and strictly increasing in delivery order.
        self.assertEqual(len(set(got)), 50)

    def test_smtp_survives_database_connections_being_killed(self):
        """PostgreSQL ends every connection of the daemons (a restart, an
        idle timeout, an operator's pg_terminate_backend): the next
        deliveries reconnect, prepare their statements again and succeed."""
        for _ in range(3):
            self.assertEqual(srv.deliver(make_message()[0])[0], 250)
        for attempt in range(2):
            pids = [r[0] for r in srv.psql(
                "select pid from pg_stat_activity where datname = current_database()"
                " and pid <> pg_backend_pid() and backend_type = 'client backend'")]
            self.assertTrue(pids)
            srv.psql("select pg_terminate_backend(p) from unnest(string_to_array(:'p', ',')::int[]) p",
                     p=",".join(pids))
            # Terminating is asynchronous: wait until those backends are
            # gone (the daemons' LISTEN connections come back at once).
            self.assertTrue(harness.wait_for(lambda: srv.psql(
                "select count(*) from pg_stat_activity"
                " where pid = any(string_to_array(:'p', ',')::int[])", p=",".join(pids)) == [["0"]], 10))
            msgs = [make_message()[0] for _ in range(3)]
            for msg in msgs:
                code, resp = srv.deliver(msg)
                self.assertEqual(code, 250, (attempt, resp))
            for msg in msgs:
                self.assertDelivered(srv, msg)
        self.assertDaemonsAlive(srv)

    def test_smtp_durability_sigkill_after_250(self):
        for _ in range(3):
            msg, _ = make_message(body=b"durable\r\n" * 2000)
            s = srv.smtp()
            s.mail(SENDER)
            s.rcpt(USER)
            code, resp = s.data(msg)
            srv.kill_daemon("smtpd")  # right after reading the 250
            self.assertEqual(code, 250, resp)
            s.close()
            srv.start_daemon("smtpd")
            self.assertDelivered(srv, msg)

    def test_smtp_sigkill_under_load_loses_no_acked_message(self):
        addr = "%s@example.org" % unique("crash")
        pw = unique("pw")
        srv.add_account(addr, pw)
        acked = []
        stop = threading.Event()
        lock = threading.Lock()

        def worker():
            while not stop.is_set():
                try:
                    with srv.smtp() as s:
                        while not stop.is_set():
                            msg, _ = make_message(to=addr, body=b"load\r\n" * 500)
                            s.mail(SENDER)
                            s.rcpt(addr)
                            code, _resp = s.data(msg)
                            if code == 250:
                                with lock:
                                    acked.append(msg)
                except Exception:  # noqa: BLE001 - the server is killed on purpose
                    return

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        harness.wait_for(lambda: len(acked) >= 20, 30)
        srv.kill_daemon("smtpd")
        stop.set()
        for t in threads:
            t.join(30)
        srv.start_daemon("smtpd")
        self.assertGreater(len(acked), 0, "no message was acknowledged before the kill")
        m = srv.imap(addr, pw)
        try:
            m.select("INBOX", readonly=True)
            got = fetch_by_uid(m, "1:*", "(BODY.PEEK[])") if uid_search(m, "ALL") else {}
        finally:
            m.logout()
        stored = [harness.split_trace(it["BODY[]"])[1] for it in got.values()]
        missing = [a for a in acked if a not in stored]
        self.assertEqual(missing, [], "%d acknowledged messages lost" % len(missing))
        # Whatever is stored is complete (a message that was committed but
        # not yet acknowledged may exist; a truncated one may not).
        for b in stored:
            self.assertTrue(b.endswith(b"load\r\n" * 500), "truncated message stored")
        self.assertCanDeliver()

    # ---------------------------------------------------------------- IMAP

    def _imap_session(self):
        r = srv.raw_imap()
        _, tagged = r.imap("l1", "LOGIN %s %s" % (USER, PASSWORD))
        self.assertTrue(tagged.startswith("l1 OK"), tagged)
        _, tagged = r.imap("l2", "SELECT INBOX")
        self.assertTrue(tagged.startswith("l2 OK"), tagged)
        return r

    def assertStillWorks(self, r, tag):
        _, tagged = r.imap(tag, "NOOP")
        self.assertTrue(tagged.startswith(tag + " OK"), tagged)
        untagged, tagged = r.imap(tag + "f", "FETCH 1 (UID FLAGS)")
        self.assertTrue(tagged.startswith(tag + "f OK"), tagged)
        self.assertTrue(any("FETCH" in u for u in untagged), untagged)

    def _bad(self, r, tag, line, allowed=("BAD",)):
        """Send a malformed line; expect the tagged BAD (or NO where allowed)
        for tag, or any BAD line when tag is None (no parsable tag)."""
        r.send(line)
        while True:
            ln = r.line().decode("utf-8", "replace")
            self.assertTrue(ln, "connection closed after %r" % line)
            self.assertFalse(ln.startswith("+"), "continuation for %r" % line)
            if tag is None and " BAD" in ln.upper():
                return
            if tag is not None and ln.startswith(tag + " "):
                break
        word = ln.split()[1].upper()
        self.assertIn(word, allowed, "%r answered %r" % (line, ln))

    def test_imap_garbage(self):
        self.assertCanDeliver()
        with self._imap_session() as r:
            self._bad(r, "x1", b"x1 FROBNICATE\r\n")
            self._bad(r, None, b"\x00\xff\xfe garbage \x01\r\n")
            self._bad(r, "x2", b"x2 SELECT\r\n")
            self._bad(r, "x3", b"x3 FETCH\r\n")
            self._bad(r, "x4", b"x4 FETCH abc (FLAGS)\r\n")
            self._bad(r, "x5", b"x5 UID FETCH 1:* (NOSUCHITEM)\r\n")
            self._bad(r, "x6", b"x6 FETCH 1 BODY[HEADER\r\n")
            self._bad(r, "x7", b"x7 LOGIN\r\n")
            self._bad(r, "x8", b"x8 SELECT \"unterminated\r\n")
            self.assertStillWorks(r, "ok1")

    def test_imap_unbalanced_parens(self):
        self.assertCanDeliver()
        with self._imap_session() as r:
            self._bad(r, "p1", b"p1 FETCH 1 (FLAGS UID\r\n")
            self._bad(r, "p2", b"p2 FETCH 1 FLAGS)\r\n")
            self._bad(r, "p3", b"p3 UID FETCH 1:* ((FLAGS)\r\n")
            self._bad(r, "p4", b"p4 STORE 1 +FLAGS (\\Seen\r\n")
            self._bad(r, "p5", b"p5 SEARCH (ALL\r\n")
            self._bad(r, "p6", b"p6 FETCH 1 (" + b"(" * 500 + b"\r\n")
            self.assertStillWorks(r, "ok2")

    def test_imap_bad_literals(self):
        self.assertCanDeliver()
        with self._imap_session() as r:
            self._bad(r, "b1", b"b1 LOGIN {abc}\r\n")
            self._bad(r, "b2", b"b2 SELECT {99999999999999999999}\r\n", allowed=("BAD", "NO"))
            self._bad(r, "b3", b"b3 SELECT {-5}\r\n")
            # Larger than max_literal_size (100m): refused, no "+".
            self._bad(r, "b4", b"b4 SELECT {2000000000}\r\n", allowed=("BAD", "NO"))
            self.assertStillWorks(r, "ok3")

    def test_imap_client_vanishes_mid_literal(self):
        for data in (b"v1 LOGIN {100}\r\n", b"v1 LOGIN {100+}\r\nonly part",
                     b"v1 LOGIN " + USER.encode(), b"v1 UID FETCH 1:* (FLAGS"):
            r = srv.raw_imap()
            r.send(data)
            time.sleep(0.1)
            r.close()
        self.assertDaemonsAlive(srv)
        self.assertEqual(srv.inbox_count(), self.count0)

    # ---------------------------------------------------------- privileges

    def test_daemons_run_unprivileged(self):
        if not harness.is_root():
            self.skipTest("only meaningful when the suite runs as root")
        uid, gid = harness.ensure_run_user()
        self.assertCanDeliver()
        for name in ("smtpd", "imapd"):
            tasks = harness.proc_ids(srv.procs[name].pid)
            self.assertTrue(tasks, "no /proc entry for %s" % name)
            for tid, (uids, gids, groups) in tasks.items():
                self.assertEqual(uids, [uid] * 4, "%s thread %d uids" % (name, tid))
                self.assertEqual(gids, [gid] * 4, "%s thread %d gids" % (name, tid))
                self.assertNotIn(0, groups, "%s thread %d keeps group root" % (name, tid))
        for rel in srv.msg_files():
            st = os.stat(os.path.join(srv.msgdir, rel))
            self.assertEqual(st.st_uid, uid, "message file %s not owned by %s" % (rel, harness.RUN_USER))

    # ---------------------------------------------------------- signals

    def test_sigterm_stops_daemons_with_clients_connected(self):
        idle_imap = srv.imap()
        idle_imap.select("INBOX")
        idle_smtp = srv.raw_smtp()
        try:
            for name in ("smtpd", "imapd"):
                t0 = time.monotonic()
                status = srv.stop_daemon(name, sig=signal.SIGTERM, timeout=10)
                self.assertIsNotNone(status, "%s did not stop within 10 s of SIGTERM" % name)
                self.assertEqual(status, 0, "%s exit status after SIGTERM" % name)
                self.assertLess(time.monotonic() - t0, 10)
                self.assertFalse(harness.port_open(srv.ports[name]), "%s port still open" % name)
        finally:
            idle_smtp.close()
            try:
                idle_imap.shutdown()
            except OSError:
                pass
            for name in ("smtpd", "imapd"):
                if name not in srv.procs:
                    srv.start_daemon(name)
        self.assertCanDeliver()
