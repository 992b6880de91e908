"""COMPRESS=DEFLATE (RFC 4978) in mailstead-imapd: a raw-socket client that
compresses its commands with python's zlib (raw deflate, wbits=-15, a sync
flush after each write) and inflates the server's responses, over plain text,
STARTTLS and implicit TLS (imaps); large APPEND and FETCH literals, IDLE woken
by an SMTP delivery (also while half a compressed command is still in
flight), pipelined input after COMPRESS, a second COMPRESS refused with
NO [COMPRESSIONACTIVE], malformed COMPRESS commands, and garbage or an ended
stream closing only that connection. Then real clients: mbsync (isync 1.4
uses COMPRESS whenever it is announced) and offlineimap (usecompression).

Every response batch of the server must end with a sync flush (the empty
stored block 00 00 ff ff), or a client would wait for data held back in the
compressor; the tests check that on the raw bytes."""

import os
import random
import re
import shutil
import socket
import subprocess
import tempfile
import time
import zlib

import harness
from harness import PASSWORD, USER, make_message, tls_context, unique

srv = None
SYNC_MARK = b"\x00\x00\xff\xff"


def setUpModule():
    global srv
    srv = harness.Server(name="imapcompress", tls=True,
                         listener_conf={"imaps": "{port:imaps}"},
                         extra_ports=("imaps",)).start()


def tearDownModule():
    if srv:
        srv.stop()


class DeflateSock:
    """A socket (plain or TLS) wrapped in RFC 4978 compression: sendall
    compresses and sync-flushes, recv inflates. Counts the raw bytes."""

    def __init__(self, sock, level=6):
        self.sock = sock
        self.comp = zlib.compressobj(level, zlib.DEFLATED, -15)
        self.decomp = zlib.decompressobj(-15)
        self.raw_in = b""
        self.raw_out = 0
        self.plain_in = 0

    def compress(self, data):
        return self.comp.compress(data) + self.comp.flush(zlib.Z_SYNC_FLUSH)

    def sendall(self, data):
        z = self.compress(data)
        self.raw_out += len(z)
        self.sock.sendall(z)

    def send_raw(self, z):
        self.raw_out += len(z)
        self.sock.sendall(z)

    def recv(self, n):
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                return b""
            self.raw_in += chunk
            out = self.decomp.decompress(chunk)
            if out:
                self.plain_in += len(out)
                return out

    def drain(self, seconds=0.3):
        """Raw bytes still on the way (a flush marker split off by TCP);
        they must inflate to nothing."""
        self.sock.settimeout(seconds)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                self.raw_in += chunk
                out = self.decomp.decompress(chunk)
                if out:
                    raise AssertionError("unexpected data after the response: %r" % out)
        except socket.timeout:
            pass
        finally:
            self.sock.settimeout(harness.TIMEOUT)

    def settimeout(self, t):
        self.sock.settimeout(t)

    def close(self):
        self.sock.close()


class Conn(harness.Raw):
    """An IMAP connection that can turn on compression: mode "plain",
    "starttls" (STARTTLS on the imap port) or "imaps"."""

    def __init__(self, mode="plain", login=True):
        self.buf = b""
        port = srv.ports["imaps" if mode == "imaps" else "imapd"]
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=harness.TIMEOUT)
        if mode == "imaps":
            self.sock = tls_context().wrap_socket(self.sock, server_hostname="localhost")
        self.greeting = self.line().decode()
        assert self.greeting.startswith("* OK"), self.greeting
        if mode == "starttls":
            _, t = self.imap("st", "STARTTLS")
            assert t.startswith("st OK"), t
            self.sock = tls_context().wrap_socket(self.sock, server_hostname="localhost")
        self.sock.settimeout(harness.TIMEOUT)
        self.z = None
        if login:
            _, t = self.imap("l", "LOGIN %s %s" % (USER, PASSWORD))
            assert t.startswith("l OK"), t

    def compress(self):
        _, t = self.imap("z", "COMPRESS DEFLATE")
        assert t == "z OK DEFLATE active", t
        # Nothing may follow the OK uncompressed.
        assert self.buf == b"", self.buf
        self.z = DeflateSock(self.sock)
        self.sock = self.z

    def check_flushed(self, test):
        """The raw bytes so far end with a sync flush."""
        self.z.drain()
        test.assertTrue(self.z.raw_in.endswith(SYNC_MARK),
                        "response not sync-flushed: %r" % self.z.raw_in[-16:])


def big_body(n):
    """About n bytes of text that compresses well but not trivially."""
    rnd = random.Random(n)
    words = ["mail", "server", "compress", "deflate", "imap", "literal", "fetch",
             "mailbox", "header", "window", "block", "flush", "client", "stead"]
    lines = []
    size = 0
    while size < n:
        ln = " ".join(rnd.choice(words) for _ in range(12)) + "\r\n"
        lines.append(ln)
        size += len(ln)
    return "".join(lines).encode()


def same_message(stored, sent):
    """stored (a client's local copy, or one fetched back) holds sent:
    its Message-ID and its body byte for byte, line ends aside (mbsync
    stores LF and adds an X-TUID header; delivery adds trace fields)."""
    stored = stored.replace(b"\r\n", b"\n")
    head, body = sent.replace(b"\r\n", b"\n").split(b"\n\n", 1)
    mid = next(ln for ln in head.split(b"\n") if ln.lower().startswith(b"message-id:"))
    return mid in stored and stored.endswith(b"\n\n" + body)


def imapd_log():
    with open(srv.logpath("imapd"), encoding="utf-8", errors="replace") as f:
        return f.read()


class CompressTest(harness.TestCase):

    def fresh_inbox(self):
        m = srv.imap()
        m.select("INBOX")
        typ, data = m.search(None, "ALL")
        if data[0]:
            m.store(b",".join(data[0].split()).decode(), "+FLAGS.SILENT", "(\\Deleted)")
            m.expunge()
        m.logout()

    def test_capability(self):
        c = Conn(login=False)
        self.assertIn(" COMPRESS=DEFLATE", c.greeting)
        _, t = c.imap("l", "LOGIN %s %s" % (USER, PASSWORD))
        self.assertIn(" COMPRESS=DEFLATE", t)
        u, t = c.imap("c", "CAPABILITY")
        self.assertIn("COMPRESS=DEFLATE", u[0].split())
        c.close()

    def test_before_login_and_malformed(self):
        c = Conn(login=False)
        # RFC 4978 section 5: command-auth, so not before login.
        _, t = c.imap("a", "COMPRESS DEFLATE")
        self.assertTrue(t.startswith("a BAD"), t)
        _, t = c.imap("l", "LOGIN %s %s" % (USER, PASSWORD))
        self.assertTrue(t.startswith("l OK"), t)
        for tag, cmd in (("b", "COMPRESS"), ("c", "COMPRESS GZIP"), ("d", "COMPRESS DEFLATE X"),
                         ("e", 'COMPRESS "DEFLATE"'), ("f", "COMPRESS (DEFLATE)")):
            _, t = c.imap(tag, cmd)
            self.assertTrue(t.startswith(tag + " BAD"), (cmd, t))
        # Still uncompressed and usable.
        _, t = c.imap("n", "NOOP")
        self.assertEqual(t, "n OK NOOP completed")
        c.close()

    def run_session(self, c, size=1 << 20):
        """SELECT, APPEND a large message (synchronizing literal: the
        continuation request comes compressed), FETCH it back, compare."""
        self.fresh_inbox()
        c.compress()
        u, t = c.imap("s", "SELECT INBOX")
        self.assertTrue(t.startswith("s OK [READ-WRITE]"), t)
        self.assertIn("* 0 EXISTS\r\n", u)
        c.check_flushed(self)
        msg, _ = make_message(subject=unique("big"), body=big_body(size))
        c.send(b"a APPEND INBOX (\\Seen) {%d}\r\n" % len(msg))
        self.assertTrue(c.line().startswith(b"+ "))
        c.send(msg + b"\r\n")
        u, t = c.imap_until("a")
        self.assertRegex(t, r"^a OK \[APPENDUID \d+ \d+\]")
        before = c.z.plain_in, len(c.z.raw_in)
        c.send("f FETCH 1 (FLAGS RFC822.SIZE BODY.PEEK[])\r\n")
        first = c.line()
        self.assertRegex(first, rb"^\* 1 FETCH \(.*BODY\[\] \{%d\}\r\n$" % len(msg))
        self.assertIn(b"RFC822.SIZE %d" % len(msg), first)
        self.assertEqual(c.read_exact(len(msg)), msg)
        self.assertEqual(c.line(), b")\r\n")
        _, t = c.imap_until("f")
        self.assertEqual(t, "f OK FETCH completed")
        c.check_flushed(self)
        plain = c.z.plain_in - before[0]
        raw = len(c.z.raw_in) - before[1]
        self.assertGreater(plain, len(msg))
        # Compressed on the wire: this text shrinks to well under a third.
        self.assertLess(raw, plain / 3, (raw, plain))
        return msg

    def test_plain(self):
        c = Conn()
        self.run_session(c)
        _, t = c.imap("o", "LOGOUT")
        self.assertEqual(t, "o OK LOGOUT completed")
        self.assertTrue(c.closed())
        c.close()

    def test_imaps(self):
        c = Conn("imaps")
        self.run_session(c)
        self.idle_wakeup(c)
        c.close()

    def test_starttls_then_compress(self):
        c = Conn("starttls")
        self.run_session(c, size=200000)
        _, t = c.imap("n", "NOOP")
        self.assertEqual(t, "n OK NOOP completed")
        c.close()

    def idle_wakeup(self, c):
        """IDLE on a compressed connection (mailbox selected): an SMTP
        delivery arrives as EXISTS at once."""
        typ, n = None, None
        u, t = c.imap("x", "NOOP")
        self.assertTrue(t.startswith("x OK"), t)
        m = srv.imap()
        typ, data = m.select("INBOX", readonly=True)
        n = int(data[0])
        m.logout()
        c.send("i IDLE\r\n")
        self.assertEqual(c.line(), b"+ idling\r\n")
        start = time.monotonic()
        srv.deliver(make_message(subject=unique("idle"))[0])
        self.assertEqual(c.line(timeout=5), b"* %d EXISTS\r\n" % (n + 1))
        self.assertLess(time.monotonic() - start, 3)
        c.send("DONE\r\n")
        _, t = c.imap_until("i")
        self.assertEqual(t, "i OK IDLE terminated")
        c.check_flushed(self)

    def test_idle_plain(self):
        self.fresh_inbox()
        c = Conn()
        c.compress()
        c.imap("s", "SELECT INBOX")
        self.idle_wakeup(c)
        c.close()

    def test_idle_with_partial_compressed_input(self):
        # Half of the compressed "DONE" is in the server's inflater, which
        # yields nothing from it yet: a delivery must still wake IDLE (the
        # wait may not block in a read), and the rest completes DONE.
        self.fresh_inbox()
        c = Conn()
        c.compress()
        c.imap("s", "SELECT INBOX")
        c.send("i IDLE\r\n")
        self.assertEqual(c.line(), b"+ idling\r\n")
        z = c.z.compress(b"DONE\r\n")
        self.assertGreater(len(z), 2)
        c.z.send_raw(z[:1])
        time.sleep(0.3)
        srv.deliver(make_message(subject=unique("partial"))[0])
        self.assertEqual(c.line(timeout=5), b"* 1 EXISTS\r\n")
        c.z.send_raw(z[1:])
        _, t = c.imap_until("i")
        self.assertEqual(t, "i OK IDLE terminated")
        c.close()

    def test_input_one_byte_at_a_time(self):
        c = Conn()
        c.compress()
        z = c.z.compress(b"a NOOP\r\nb SELECT INBOX\r\n")
        for i in range(len(z)):
            c.z.send_raw(z[i:i + 1])
            time.sleep(0.01)
        _, t = c.imap_until("a")
        self.assertEqual(t, "a OK NOOP completed")
        _, t = c.imap_until("b")
        self.assertTrue(t.startswith("b OK [READ-WRITE]"), t)
        c.close()

    def test_second_compress_refused(self):
        c = Conn()
        c.compress()
        _, t = c.imap("y", "COMPRESS DEFLATE")
        self.assertEqual(t, "y NO [COMPRESSIONACTIVE] DEFLATE active via COMPRESS")
        # Malformed ones still get BAD, and the session goes on compressed.
        _, t = c.imap("w", "COMPRESS")
        self.assertTrue(t.startswith("w BAD"), t)
        _, t = c.imap("n", "NOOP")
        self.assertEqual(t, "n OK NOOP completed")
        c.check_flushed(self)
        c.close()

    def test_pipelined_after_compress(self):
        # A client that does not wait for the OK (RFC 4978 says it must)
        # but compresses what follows COMPRESS is still understood: the
        # bytes read ahead go to the inflater.
        c = Conn()
        comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        z = comp.compress(b"n NOOP\r\n") + comp.flush(zlib.Z_SYNC_FLUSH)
        c.sock.sendall(b"z COMPRESS DEFLATE\r\n" + z)
        self.assertEqual(c.line(), b"z OK DEFLATE active\r\n")
        ds = DeflateSock(c.sock)
        ds.comp = comp
        ds.raw_in = c.buf
        c.buf = ds.decomp.decompress(c.buf)
        c.sock = c.z = ds
        _, t = c.imap_until("n")
        self.assertEqual(t, "n OK NOOP completed")
        c.close()

    def test_garbage_closes_connection(self):
        other = Conn()
        other.compress()
        c = Conn()
        c.compress()
        _, t = c.imap("n", "NOOP")
        self.assertEqual(t, "n OK NOOP completed")
        # Block type 3 (reserved) in the first byte: not deflate data.
        c.z.send_raw(b"\xff" * 64)
        self.assertTrue(c.closed(timeout=10))
        c.close()
        self.assertTrue(harness.wait_for(lambda: "ev=inflate-error" in imapd_log(), 5),
                        "no inflate error logged")
        # Everyone else is served: an open compressed session and a new one.
        _, t = other.imap("n", "NOOP")
        self.assertEqual(t, "n OK NOOP completed")
        other.close()
        self.assertDaemonsAlive(srv)
        d = Conn()
        d.compress()
        _, t = d.imap("n", "NOOP")
        self.assertEqual(t, "n OK NOOP completed")
        d.close()

    def test_garbage_over_tls(self):
        c = Conn("imaps")
        c.compress()
        # 0xfe: not final, block type 3 (reserved); then noise.
        c.z.send_raw(b"\xfe" + os.urandom(40))
        self.assertTrue(c.closed(timeout=10))
        c.close()
        self.assertDaemonsAlive(srv)

    def test_client_ends_stream(self):
        # A final deflate block ends the client's stream: what came before
        # it is served, then the server closes the connection.
        c = Conn()
        c.compress()
        z = c.z.comp.compress(b"n NOOP\r\n") + c.z.comp.flush(zlib.Z_FINISH)
        c.z.send_raw(z)
        _, t = c.imap_until("n")
        self.assertEqual(t, "n OK NOOP completed")
        self.assertTrue(c.closed(timeout=10))
        c.close()


# ------------------------------------------------------------ real clients

def compress_count():
    return imapd_log().count("ev=compress result=ok")


class MbsyncCompressTest(harness.TestCase):
    """isync 1.4 sends COMPRESS DEFLATE after login whenever the server
    announces it; it then syncs over the compressed connection."""

    def setUp(self):
        harness.require_tool("mbsync", "isync")
        self.user = "%s@example.org" % unique("zsync")
        self.pw = "zsync-password-1"
        srv.add_account(self.user, self.pw)
        self.dir = tempfile.mkdtemp(prefix="mbsync-z-")
        self.maildir = os.path.join(self.dir, "mail")
        os.makedirs(self.maildir)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def write_rc(self, tls):
        if tls:
            # The certificate's name (imapd refuses unknown SNI names).
            net = ("Host localhost\nPort %d\nSSLType IMAPS\nSystemCertificates no\n"
                   "CertificateFile %s\n" % (srv.ports["imaps"], srv.tls_cert))
        else:
            net = "Host 127.0.0.1\nPort %d\nSSLType None\n" % srv.imap_port
        return harness.write_mbsyncrc(os.path.join(self.dir, "mbsyncrc"), net, self.user,
                                      self.pw, self.maildir)

    def run_mbsync(self, rc):
        r = subprocess.run(["mbsync", "-D", "-c", rc, "-a"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=120, cwd=self.dir)
        self.assertEqual(r.returncode, 0, r.stdout[-4000:])
        return r.stdout

    def local_bodies(self):
        """The local messages with LF line ends (mbsync stores them so)."""
        return list(harness.maildir_messages(self.maildir, "INBOX").values())

    def sync_and_check(self, tls):
        msgs = []
        for i in range(3):
            msg, _ = make_message(subject=unique("z%d" % i), to=self.user,
                                  body=big_body(100000 * (i + 1)))
            srv.deliver(msg, rcpts=(self.user,))
            msgs.append(msg)
        before = compress_count()
        out = self.run_mbsync(self.write_rc(tls))
        self.assertRegex(out, r"COMPRESS DEFLATE")
        self.assertGreater(compress_count(), before, "mbsync did not use COMPRESS")
        local = self.local_bodies()
        self.assertEqual(len(local), 3)
        for msg in msgs:
            self.assertTrue(any(same_message(b, msg) for b in local), "message not synced intact")
        # Upload over the compressed connection.
        up, _ = make_message(subject=unique("zup"), to=self.user, body=big_body(50000))
        with open(os.path.join(self.maildir, "INBOX", "new", "1.local.host"), "wb") as f:
            f.write(up)
        self.run_mbsync(self.write_rc(tls))
        m = srv.imap(self.user, self.pw)
        try:
            m.select("INBOX", readonly=True)
            got = harness.fetch_by_uid(m, harness.uid_search(m, "ALL"), "(BODY.PEEK[])")
        finally:
            m.logout()
        self.assertTrue(any(same_message(v["BODY[]"], up) for v in got.values()),
                        "upload not intact")

    def test_mbsync_plain(self):
        self.sync_and_check(tls=False)

    def test_mbsync_imaps(self):
        self.sync_and_check(tls=True)


class OfflineimapCompressTest(harness.TestCase):
    """offlineimap3 with usecompression = yes. Its imaplib2 (3.5, Debian
    12) inflates at most 32 KiB per socket wake-up and keeps the rest in
    the decompressor until the socket is readable again, so a response
    whose compressed bytes arrive at once and inflate to more than that
    (a 150 KB text message) hangs the client, with Dovecot 2.3 (imap_zlib)
    as well; the messages here stay below that."""

    def setUp(self):
        harness.require_tool("offlineimap", "offlineimap3")
        self.user = "%s@example.org" % unique("zoi")
        self.pw = "zoi-password-1"
        srv.add_account(self.user, self.pw)
        self.dir = tempfile.mkdtemp(prefix="offlineimap-z-")
        self.maildir = os.path.join(self.dir, "mail")
        os.makedirs(self.maildir)
        self.rc = harness.write_offlineimaprc(
            os.path.join(self.dir, "offlineimaprc"), self.dir, self.maildir, srv.imap_port,
            self.user, self.pw, ["INBOX"], extra="usecompression = yes\n")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_offlineimap_sync(self):
        msgs = []
        for i in range(2):
            msg, _ = make_message(subject=unique("oz%d" % i), to=self.user,
                                  body=big_body(8000))
            srv.deliver(msg, rcpts=(self.user,))
            msgs.append(msg)
        before = compress_count()
        r = subprocess.run(["offlineimap", "-c", self.rc, "-o", "-u", "basic"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=120, cwd=self.dir)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertNotIn("ERROR", r.stdout, r.stdout)
        self.assertGreater(compress_count(), before, "offlineimap did not use COMPRESS")
        local = []
        for sub in ("cur", "new"):
            d = os.path.join(self.maildir, "INBOX", sub)
            for n in os.listdir(d) if os.path.isdir(d) else []:
                with open(os.path.join(d, n), "rb") as f:
                    local.append(f.read())
        self.assertEqual(len(local), 2)
        for msg in msgs:
            self.assertTrue(any(same_message(b, msg) for b in local), "message not synced intact")


if __name__ == "__main__":
    import unittest
    unittest.main(verbosity=2)
