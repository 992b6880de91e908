"""Integration test harness: a throwaway PostgreSQL cluster, a mailstead.conf,
the real daemons on free loopback ports, and helpers to talk to them with
real clients (smtplib, imaplib, swaks, raw sockets).

One Server per test module (setUpModule/tearDownModule) keeps `make check`
fast. Python standard library only.

Environment:
  top_srcdir, top_builddir   set by `make check` (defaults: ../.. and cwd)
  PG_BINDIR                  PostgreSQL server binaries (default: newest
                             /usr/lib/postgresql/*/bin)
  MAILSTEAD_KEEP_TEST_DIR=1  keep the temporary directory for inspection
"""

import atexit
import base64
import csv
import email.utils
import glob
import io
import imaplib
import os
import pwd
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
TOP_SRCDIR = os.path.abspath(os.environ.get("top_srcdir") or os.path.join(HERE, "..", ".."))
TOP_BUILDDIR = os.path.abspath(os.environ.get("top_builddir") or os.getcwd())
CLI = os.path.join(TOP_BUILDDIR, "cli", "mailstead")
DAEMONS = {
    "smtpd": os.path.join(TOP_BUILDDIR, "daemons", "smtpd", "mailstead-smtpd"),
    "imapd": os.path.join(TOP_BUILDDIR, "daemons", "imapd", "mailstead-imapd"),
    "queued": os.path.join(TOP_BUILDDIR, "daemons", "queued", "mailstead-queued"),
}
# Daemons without a listening port: started when their log says ev=start.
PORTLESS = ("queued",)
KEEP = os.environ.get("MAILSTEAD_KEEP_TEST_DIR") == "1"

RUN_USER = "mailstead"  # OS user for PostgreSQL and the daemons when root
DB_USER = "mailstead"
DB_NAME = "mailstead"
DOMAIN = "example.org"
USER = "user@example.org"
PASSWORD = "test-password-1"
OTHER = "other@example.org"
OTHER_PASSWORD = "other-password-2"
SENDER = "sender@example.net"
CLIENT_HOSTNAME = "client.example.net"
HOSTNAME = "mail.example.org"

TIMEOUT = 20  # seconds for network reads in tests
# Header fields the server may add at the top of a delivered message.
TRACE_FIELDS = ("return-path", "received", "authentication-results", "received-spf")


class HarnessError(Exception):
    pass


# ---------------------------------------------------------------- utilities

def log(msg):
    sys.stderr.write("harness: %s\n" % msg)
    sys.stderr.flush()


def is_root():
    return os.geteuid() == 0


def pg_bindir():
    """Directory with the PostgreSQL server binaries, or None."""
    env = os.environ.get("PG_BINDIR")
    if env:
        return env if os.path.exists(os.path.join(env, "postgres")) else None
    best = None
    for d in glob.glob("/usr/lib/postgresql/*/bin"):
        if not (os.path.exists(os.path.join(d, "postgres")) and os.path.exists(os.path.join(d, "initdb"))):
            continue
        ver = os.path.basename(os.path.dirname(d))
        try:
            key = tuple(int(x) for x in ver.split("."))
        except ValueError:
            continue
        if best is None or key > best[0]:
            best = (key, d)
    return best[1] if best else None


def ensure_run_user():
    """(uid, gid) of the unprivileged user, creating it when missing."""
    try:
        pw = pwd.getpwnam(RUN_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                        "--shell", "/usr/sbin/nologin", RUN_USER], check=True)
        pw = pwd.getpwnam(RUN_USER)
    return pw.pw_uid, pw.pw_gid


def demote(uid, gid):
    def fn():
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    return fn


def chown_tree(path, uid, gid):
    os.chown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for n in dirs + files:
            try:
                os.lchown(os.path.join(root, n), uid, gid)
            except FileNotFoundError:
                pass


def proc_ids(pid):
    """{task id: (uids, gids, groups)} for every thread of pid, from /proc."""
    out = {}
    for task in glob.glob("/proc/%d/task/*" % pid):
        try:
            with open(task + "/status") as f:
                st = dict(ln.rstrip("\n").split(":\t", 1) for ln in f if ":\t" in ln)
        except OSError:
            continue
        out[int(os.path.basename(task))] = (
            [int(x) for x in st["Uid"].split()], [int(x) for x in st["Gid"].split()],
            [int(x) for x in st.get("Groups", "").split()])
    return out


_ports_given = set()


def free_port():
    """A port free on 127.0.0.1 now, never one this process was given
    before: the kernel may hand out a just-closed port again, and a
    server's listeners (or two servers of a test) must not share one."""
    while True:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        finally:
            s.close()
        if port not in _ports_given:
            _ports_given.add(port)
            return port


def free_port_on(*ips):
    """A port free on all the given loopback addresses (IPv4, or ::1)."""
    for _ in range(50):
        p = free_port()
        ok = True
        for ip in ips:
            s = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET)
            try:
                s.bind((ip, p))
            except OSError:
                ok = False
            finally:
                s.close()
        if ok:
            return p
    raise RuntimeError("no free port on %s" % ", ".join(ips))


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_for(pred, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            return v
        time.sleep(interval)


def tail(path, n=40):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return "(%s)" % e
    lines = data.decode("utf-8", "replace").splitlines()
    return "\n".join(lines[-n:])


def files_under(path):
    """Regular files below path (recursively), as a set of relative paths."""
    out = set()
    for root, _dirs, files in os.walk(path):
        for n in files:
            out.add(os.path.relpath(os.path.join(root, n), path))
    return out


def unique(prefix="t"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:12])


def make_message(subject=None, body=None, frm=SENDER, to=USER, extra_headers=(), msgid=None):
    """An RFC 5322 message as CRLF bytes, ending in CRLF. Returns (bytes, msgid)."""
    if subject is None:
        subject = unique("subject")
    if msgid is None:
        msgid = "<%s@example.net>" % unique("mid")
    if body is None:
        body = b"Hello,\r\n\r\nthis is test message %s.\r\n" % subject.encode()
    if isinstance(body, str):
        body = body.encode("utf-8")
    hdrs = [
        "From: Sender <%s>" % frm,
        "To: <%s>" % to,
        "Subject: %s" % subject,
        "Date: %s" % email.utils.formatdate(localtime=False),
        "Message-ID: %s" % msgid,
    ] + list(extra_headers)
    head = "".join(h + "\r\n" for h in hdrs).encode("utf-8")
    return head + b"\r\n" + body, msgid


def split_trace(data):
    """Split a message fetched over IMAP into (added trace header lines,
    the rest). The added lines are the leading Return-Path/Received/...
    fields (with their continuation lines)."""
    pos = 0
    while pos < len(data):
        end = data.find(b"\r\n", pos)
        if end < 0:
            break
        line = data[pos:end]
        if pos > 0 and line[:1] in (b" ", b"\t"):
            pos = end + 2
            continue
        name = line.split(b":", 1)[0].strip().lower().decode("latin-1")
        if ":" not in line.decode("latin-1") or name not in TRACE_FIELDS:
            break
        pos = end + 2
    return data[:pos], data[pos:]


def header_fields(block):
    """Unfolded header fields of a header block as [(lowername, value)]."""
    out = []
    for line in block.split(b"\r\n"):
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and out:
            out[-1] = (out[-1][0], out[-1][1] + b" " + line.strip())
            continue
        name, _, value = line.partition(b":")
        out.append((name.strip().lower().decode("latin-1"), value.strip()))
    return out


# ------------------------------------------------------------- IMAP parsing

class _Lit(bytes):
    pass


def imaplib_to_wire(data):
    """Turn imaplib's untagged data list back into wire-format lines."""
    out = b""
    for item in data:
        if item is None:
            continue
        if isinstance(item, tuple):
            out += item[0] + b"\r\n" + item[1]
        else:
            out += item + b"\r\n"
    return out


class ImapParser:
    """Parses IMAP data (atoms, quoted strings, literals, NIL, lists) from
    raw bytes. Atoms become str, strings and literals bytes, NIL None."""

    def __init__(self, data):
        self.d = data
        self.i = 0

    def ws(self):
        while self.i < len(self.d) and self.d[self.i:self.i + 1] in (b" ", b"\r", b"\n"):
            self.i += 1

    def at_end(self):
        self.ws()
        return self.i >= len(self.d)

    def value(self):
        self.ws()
        d = self.d
        c = d[self.i:self.i + 1]
        if c == b"(":
            self.i += 1
            lst = []
            while True:
                self.ws()
                if self.i >= len(d):
                    raise ValueError("unterminated list")
                if d[self.i:self.i + 1] == b")":
                    self.i += 1
                    return lst
                lst.append(self.value())
        if c == b'"':
            self.i += 1
            out = bytearray()
            while True:
                ch = d[self.i:self.i + 1]
                if ch == b"":
                    raise ValueError("unterminated string")
                self.i += 1
                if ch == b"\\":
                    out += d[self.i:self.i + 1]
                    self.i += 1
                elif ch == b'"':
                    return bytes(out)
                else:
                    out += ch
        if c == b"~" and d[self.i + 1:self.i + 2] == b"{":
            self.i += 1     # literal8 (RFC 3516): the same on the wire
            c = b"{"
        if c == b"{":
            m = re.compile(rb"\{(\d+)\+?\}\r\n").match(d, self.i)
            if not m:
                raise ValueError("bad literal at %r" % d[self.i:self.i + 20])
            n = int(m.group(1))
            start = m.end()
            self.i = start + n
            return _Lit(d[start:start + n])
        # atom, possibly with [section] containing spaces and <partial>
        start = self.i
        depth = 0
        while self.i < len(d):
            ch = d[self.i:self.i + 1]
            if ch == b"[":
                depth += 1
            elif ch == b"]":
                depth -= 1
            elif depth == 0 and ch in (b" ", b"(", b")", b"\r", b"\n"):
                break
            self.i += 1
        atom = d[start:self.i].decode("utf-8", "replace")
        if atom == "":
            raise ValueError("unexpected %r at %d" % (c, self.i))
        if atom.upper() == "NIL":
            return None
        return atom


def parse_fetch(data):
    """Parse imaplib FETCH data into a list of (seq, {ITEM: value}), with
    item names upper-cased (e.g. 'UID', 'FLAGS', 'BODY[]', 'BODY[HEADER]')."""
    if isinstance(data, (list, tuple)):
        data = imaplib_to_wire(data)
    p = ImapParser(data)
    out = []
    while not p.at_end():
        seq = p.value()
        if isinstance(seq, str) and seq.upper() == "FETCH":
            seq = None
        lst = p.value()
        if isinstance(lst, str) and lst.upper() == "FETCH":
            lst = p.value()
        if not isinstance(lst, list) or len(lst) % 2:
            raise ValueError("bad FETCH response %r" % (lst,))
        items = {}
        for k, v in zip(lst[0::2], lst[1::2]):
            items[k.upper()] = v
        out.append((int(seq), items))
    return out


def fetch_by_uid(imap, uids, items):
    """UID FETCH and return {uid: {ITEM: value}}; fails on NO/BAD."""
    if isinstance(uids, (list, tuple, set)):
        uids = ",".join(str(u) for u in sorted(uids))
    typ, data = imap.uid("FETCH", str(uids), items)
    if typ != "OK":
        raise AssertionError("UID FETCH %s %s: %s %r" % (uids, items, typ, data))
    res = {}
    for _seq, it in parse_fetch(data):
        if "UID" in it:
            res.setdefault(int(it["UID"]), {}).update(it)
    return res


def uid_search(imap, *criteria):
    typ, data = imap.uid("SEARCH", *criteria)
    if typ != "OK":
        raise AssertionError("UID SEARCH %s: %s %r" % (criteria, typ, data))
    return [int(x) for x in b" ".join(d for d in data if d).split()]


def flags_of(value):
    return set(f.lower() for f in (value or []))


# ------------------------------------------------------------ raw sockets

class Raw:
    """A plain TCP connection with timeouts for malformed-input tests."""

    def __init__(self, port, host="127.0.0.1", timeout=TIMEOUT):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def line(self, timeout=None):
        """One line including CRLF; b'' at EOF. Raises socket.timeout."""
        if timeout is not None:
            self.sock.settimeout(timeout)
        try:
            while b"\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    out, self.buf = self.buf, b""
                    return out
                self.buf += chunk
        finally:
            if timeout is not None:
                self.sock.settimeout(TIMEOUT)
        i = self.buf.index(b"\n") + 1
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def nothing_within(self, seconds):
        """True when the server sends nothing for `seconds`."""
        if self.buf:
            return False
        self.sock.settimeout(seconds)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return True
        finally:
            self.sock.settimeout(TIMEOUT)
        self.buf += chunk
        return False

    def smtp_reply(self):
        """(code, [text lines]) of one possibly multi-line SMTP reply."""
        lines = []
        while True:
            ln = self.line()
            if not ln:
                raise EOFError("connection closed; got %r" % lines)
            s = ln.decode("utf-8", "replace").rstrip("\r\n")
            if len(s) < 3 or not s[:3].isdigit():
                raise AssertionError("malformed SMTP reply line %r" % s)
            lines.append(s[4:])
            if len(s) == 3 or s[3] == " ":
                return int(s[:3]), lines

    def smtp(self, cmd):
        self.send(cmd + "\r\n")
        return self.smtp_reply()

    def imap_until(self, tag):
        """Lines (str) up to and including the tagged response for tag.
        Literals inside responses are read too. Returns (untagged, tagged)."""
        untagged = []
        while True:
            ln = self.line()
            if not ln:
                raise EOFError("connection closed before %s; got %r" % (tag, untagged))
            m = re.search(rb"\{(\d+)\}\r\n$", ln)
            while m:
                lit = self.read_exact(int(m.group(1)))
                rest = self.line()
                ln = ln + lit + rest
                m = re.search(rb"\{(\d+)\}\r\n$", rest)
            s = ln.decode("utf-8", "replace")
            if s.startswith(tag + " "):
                return untagged, s.rstrip("\r\n")
            untagged.append(s)

    def imap(self, tag, cmd):
        self.send("%s %s\r\n" % (tag, cmd))
        return self.imap_until(tag)

    def closed(self, timeout=5):
        """True when the peer closes the connection within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
        except socket.timeout:
            return False
        except OSError:
            return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


# ------------------------------------------------------------- PostgreSQL

class PgCluster:
    """A private PostgreSQL cluster in base/pgdata with its socket in
    base/pgsock, listening on no TCP address."""

    # postgres -c settings; no fsync for test speed (bench/queue drops
    # those two for a durable database).
    server_options = ["listen_addresses=", "fsync=off", "full_page_writes=off",
                      "max_connections=200", "shared_buffers=32MB"]

    def __init__(self, base, owner=None):
        self.bindir = pg_bindir()
        if not self.bindir:
            raise HarnessError("PostgreSQL server binaries not found (install the Debian package "
                               "postgresql, or set PG_BINDIR)")
        self.base = base
        self.datadir = os.path.join(base, "pgdata")
        self.sockdir = os.path.join(base, "pgsock")
        self.logfile = os.path.join(base, "logs", "postgres.log")
        self.port = free_port()
        self.owner = owner  # (uid, gid) when running as root
        self.proc = None

    def _pre(self):
        return demote(*self.owner) if self.owner else None

    def _bin(self, name):
        return os.path.join(self.bindir, name)

    def start(self):
        for d in (self.sockdir, os.path.dirname(self.logfile)):
            os.makedirs(d, exist_ok=True)
            if self.owner:
                os.chown(d, *self.owner)
        env = dict(os.environ, LC_ALL="C", LANG="C")
        r = subprocess.run([self._bin("initdb"), "--auth=trust", "-U", DB_USER, "-E", "UTF8",
                            "--locale=C", "--no-sync", "-D", self.datadir],
                           preexec_fn=self._pre(), cwd=self.base, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            raise HarnessError("initdb failed:\n" + r.stdout.decode("utf-8", "replace"))
        logf = open(self.logfile, "ab")
        if self.owner:
            os.chown(self.logfile, *self.owner)
        self.proc = subprocess.Popen(
            [self._bin("postgres"), "-D", self.datadir, "-k", self.sockdir, "-p", str(self.port)]
            + sum([["-c", o] for o in self.server_options], []),
            preexec_fn=self._pre(), cwd=self.base, env=env, stdout=logf, stderr=subprocess.STDOUT)
        logf.close()
        ok = wait_for(lambda: self.proc.poll() is not None or self._ready(), 30, 0.1)
        if self.proc.poll() is not None or not ok:
            raise HarnessError("postgres did not start:\n" + tail(self.logfile))
        r = subprocess.run([self._bin("createdb"), "-h", self.sockdir, "-p", str(self.port),
                            "-U", DB_USER, DB_NAME], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            raise HarnessError("createdb failed: " + r.stdout.decode("utf-8", "replace"))

    def _ready(self):
        r = subprocess.run([self._bin("psql"), "-X", "-q", "-h", self.sockdir, "-p", str(self.port),
                            "-U", DB_USER, "-d", "postgres", "-c", "select 1"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return r.returncode == 0

    def conninfo(self, dbname=DB_NAME):
        return "host=%s port=%d dbname=%s user=%s" % (self.sockdir, self.port, dbname, DB_USER)

    def createdb(self, name):
        subprocess.run([self._bin("createdb"), "-h", self.sockdir, "-p", str(self.port),
                        "-U", DB_USER, name], check=True)

    def psql(self, query, params=None, dbname=DB_NAME):
        """Run one query with psql; params become psql variables, to be
        referenced as :'name' (literal) in the query. Returns rows as lists
        of strings (NULL and '' both come back as '')."""
        args = [self._bin("psql"), "-X", "-q", "-t", "--csv", "-v", "ON_ERROR_STOP=1",
                "-h", self.sockdir, "-p", str(self.port), "-U", DB_USER, "-d", dbname]
        for k, v in (params or {}).items():
            args += ["-v", "%s=%s" % (k, v)]
        r = subprocess.run(args + ["-f", "-"], input=query.encode("utf-8"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            raise AssertionError("psql failed (%s): %s" % (query, r.stderr.decode("utf-8", "replace")))
        return [row for row in csv.reader(io.StringIO(r.stdout.decode("utf-8"))) if row]

    def stop(self):
        if not self.proc or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)  # fast shutdown
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ----------------------------------------------------------------- server

_active = []


def _cleanup_at_exit():
    for srv in list(_active):
        try:
            srv.stop()
        except Exception as e:  # noqa: BLE001 - best effort at exit
            log("cleanup of %s failed: %r" % (srv.dir, e))


atexit.register(_cleanup_at_exit)


def active_servers():
    return list(_active)


class Server:
    """PostgreSQL + mailstead.conf + mailstead-smtpd + mailstead-imapd.

    smtp_conf/imap_conf: extra keys for those config sections.
    daemons: which daemons to start.
    tls: generate a self-signed certificate (CN=localhost, subjectAltName
    DNS:localhost and IP:127.0.0.1) in the server directory and put it in
    the listener's tls_cert/tls_key; its path is then self.tls_cert."""

    def __init__(self, name="it", smtp_conf=None, imap_conf=None, daemons=("smtpd", "imapd"),
                 accounts=((USER, PASSWORD), (OTHER, OTHER_PASSWORD)), tls=False,
                 listener_conf=None, extra_ports=(), dns_zone="", queue_conf=None,
                 extra_sections=()):
        """listener_conf: extra keys for [listener test]; a value may name
        a port from extra_ports as "{port:NAME}" (free ports picked at start).
        dns_zone: zone-file lines answering the daemons' DNS lookups (with
        localhost's records); no test ever asks real DNS."""
        self.name = name
        # queue_conf: keys of [queue]; extra_sections: (section name,
        # {key: value}) pairs appended, e.g. ("transport relay", {...}).
        self.queue_conf = dict(queue_conf or {})
        self.extra_sections = list(extra_sections)
        self.listener_conf = dict(listener_conf or {})
        self.extra_ports = tuple(extra_ports)
        self.tls = tls
        self.dns_zone = dns_zone
        self.tls_cert = None
        self.tls_key = None
        self.smtp_conf = dict(smtp_conf or {})
        self.imap_conf = dict(imap_conf or {})
        self.daemon_names = tuple(daemons)
        self.accounts = list(accounts)
        self.owner = None
        self.dir = None
        self.pg = None
        self.procs = {}
        self.ports = {}
        # Extra sections appended to mailstead.conf (e.g. "[web]\n...").
        self.extra_conf = ""

    # -- paths
    @property
    def conf(self):
        return os.path.join(self.dir, "mailstead.conf")

    @property
    def datadir(self):
        return os.path.join(self.dir, "data")

    @property
    def msgdir(self):
        return os.path.join(self.datadir, "msg")

    @property
    def tmpdir(self):
        return os.path.join(self.datadir, "tmp")

    def logpath(self, name):
        return os.path.join(self.dir, "logs", name + ".log")

    # -- life cycle
    def start(self):
        for p in [CLI] + [DAEMONS[d] for d in self.daemon_names]:
            if not os.access(p, os.X_OK):
                raise HarnessError("%s not built (top_builddir=%s)" % (p, TOP_BUILDDIR))
        self.dir = tempfile.mkdtemp(prefix="mailstead-%s-" % self.name, dir="/tmp")
        _active.append(self)
        try:
            self._start()
        except BaseException as e:
            msg = "%s\n%s" % (e, self.log_tails())
            self.stop()
            raise HarnessError(msg) from e
        return self

    def _start(self):
        if is_root():
            self.owner = ensure_run_user()
        os.chmod(self.dir, 0o755)
        os.makedirs(os.path.join(self.dir, "logs"))
        for d in (self.datadir, self.msgdir, self.tmpdir):
            os.makedirs(d, exist_ok=True)
        if self.owner:
            chown_tree(self.dir, *self.owner)
        if self.tls:
            self.make_certificate()
        self.pg = PgCluster(self.dir, self.owner)
        self.pg.start()
        self.ports = {"smtpd": free_port(), "imapd": free_port()}
        for name in self.extra_ports:
            self.ports[name] = free_port()
        self.write_conf()
        r = self.cli("migrate")
        self.migrate_output = r.stdout
        self.cli("domain", "add", DOMAIN)
        for acct, pw in self.accounts:
            self.add_account(acct, pw)
        for d in self.daemon_names:
            self.start_daemon(d)

    def make_certificate(self):
        """A self-signed P-256 certificate for localhost/127.0.0.1 made with
        the openssl command, in DIR/tls/cert.pem and DIR/tls/key.pem."""
        d = os.path.join(self.dir, "tls")
        os.makedirs(d, exist_ok=True)
        cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        try:
            r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                                "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                "-subj", "/CN=localhost",
                                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                                "-days", "3650", "-keyout", key, "-out", cert],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=60)
        except FileNotFoundError:
            raise HarnessError("openssl command not found (apt-get install openssl)")
        if r.returncode != 0:
            raise HarnessError("openssl req failed:\n" + r.stdout.decode("utf-8", "replace"))
        os.chmod(key, 0o600)
        if self.owner:
            chown_tree(d, *self.owner)
        self.tls_cert, self.tls_key = cert, key

    def conf_text(self, **over):
        smtp = {"timeout": "5m",
                "max_message_size": "100m", "max_recipients": "1000", "max_line_length": "4096"}
        smtp.update(self.smtp_conf)
        imap = {"timeout": "30m"}
        imap.update(self.imap_conf)
        listener = {"ips": "127.0.0.1", "smtp": str(self.ports["smtpd"]),
                    "imap": str(self.ports["imapd"]), "imap_require_starttls": "no"}
        if self.tls_cert:
            listener.update({"tls_cert": self.tls_cert, "tls_key": self.tls_key})
        for k, v in self.listener_conf.items():
            for name, port in self.ports.items():
                v = v.replace("{port:%s}" % name, str(port))
            listener[k] = v
        listener.update(over.get("listener", {}))
        general = {"hostname": HOSTNAME, "datadir": self.datadir, "loglevel": "debug",
                   "sqldir": os.path.join(TOP_SRCDIR, "sql")}
        if self.owner:
            general["user"] = RUN_USER
        general.update(over.get("general", {}))
        db = {"conninfo": self.pg.conninfo(), "pool_size": "8"}
        db.update(over.get("database", {}))
        dns = {"zone_file": self.zone_path, "timeout": "5s"}
        dns.update(over.get("dns", {}))
        queue = dict(self.queue_conf)
        queue.update(over.get("queue", {}))
        out = []
        for sect, kv in (("general", general), ("database", db), ("smtp", smtp), ("imap", imap),
                         ("dns", dns), ("queue", queue), ("listener test", listener)) + \
                tuple(self.extra_sections):
            out.append("[%s]" % sect)
            out += ["%s = %s" % (k, v) for k, v in kv.items()]
            out.append("")
        return "\n".join(out) + self.extra_conf

    @property
    def zone_path(self):
        return os.path.join(self.dir, "dns.zone")

    def write_zone(self, extra=None):
        """(Re)write the zone file: localhost's records, self.dns_zone, and
        extra. Daemons read it at start (restart them after a change)."""
        text = ("localhost. IN A 127.0.0.1\n"
                "1.0.0.127.in-addr.arpa. IN PTR localhost.\n"
                "%s\n%s\n" % (self.dns_zone, extra or ""))
        with open(self.zone_path, "w") as f:
            f.write(text)
        if self.owner:
            os.chown(self.zone_path, *self.owner)

    def write_conf(self):
        if not os.path.exists(self.zone_path):
            self.write_zone()
        with open(self.conf, "w") as f:
            f.write(self.conf_text())

    def stop(self):
        for name in list(self.procs):
            self.stop_daemon(name, timeout=10)
        if self.pg:
            self.pg.stop()
        if self in _active:
            _active.remove(self)
        if self.dir and os.path.isdir(self.dir):
            if KEEP:
                log("keeping %s" % self.dir)
            else:
                shutil.rmtree(self.dir, ignore_errors=True)

    # -- CLI
    def cli(self, *args, input=None, check=True, conf=None, timeout=60):
        """Run `mailstead -c CONF args...`; returns CompletedProcess (text)."""
        cmd = [CLI, "-c", conf or self.conf] + list(args)
        r = subprocess.run(cmd, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=timeout, cwd=self.dir)
        if check and r.returncode != 0:
            raise AssertionError("%s exited %d\nstdout: %s\nstderr: %s"
                                 % (" ".join(cmd), r.returncode, r.stdout, r.stderr))
        return r

    def add_account(self, address, password):
        self.cli("account", "add", address)
        self.cli("setaccountpassword", address, input=password + "\n")

    def psql(self, query, **params):
        return self.pg.psql(query, params)

    def psql_wait(self, query, want, timeout=10, **params):
        """The rows of query once they equal want (a list of rows) or once
        want(rows) is true (a function), polling until timeout; then the
        last rows read. For what a daemon writes after its reply (login
        attempts are recorded after the answer is flushed)."""
        ok = want if callable(want) else (lambda rows: rows == want)
        deadline = time.monotonic() + timeout
        while True:
            rows = self.pg.psql(query, params)
            if ok(rows) or time.monotonic() > deadline:
                return rows
            time.sleep(0.05)

    # -- daemons
    def start_daemon(self, name, wait=True):
        logf = open(self.logpath(name), "ab")
        proc = subprocess.Popen([DAEMONS[name], "-c", self.conf], stdin=subprocess.DEVNULL,
                                stdout=logf, stderr=subprocess.STDOUT, cwd=self.dir)
        logf.close()
        self.procs[name] = proc
        if wait and name in PORTLESS:
            pat = re.compile(rb"ev=start .*pid=%d\b" % proc.pid)

            def started():
                with open(self.logpath(name), "rb") as f:
                    return pat.search(f.read()) is not None
            ok = wait_for(lambda: proc.poll() is not None or started(), 30)
            if proc.poll() is not None or not ok:
                raise HarnessError("%s did not start:\n%s" % (name, tail(self.logpath(name))))
            return proc
        if wait:
            ok = wait_for(lambda: proc.poll() is not None or port_open(self.ports[name]), 30)
            if proc.poll() is not None:
                raise HarnessError("%s exited with %s at start:\n%s"
                                   % (name, proc.returncode, tail(self.logpath(name))))
            if not ok:
                raise HarnessError("%s not listening on %d after 30 s:\n%s"
                                   % (name, self.ports[name], tail(self.logpath(name))))
        return proc

    def stop_daemon(self, name, sig=signal.SIGTERM, timeout=10):
        """Signal the daemon and wait; returns its exit status (None if it
        had to be SIGKILLed after timeout)."""
        proc = self.procs.get(name)
        if not proc:
            return None
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                self.procs.pop(name, None)
                return None
        self.procs.pop(name, None)
        return proc.returncode

    def kill_daemon(self, name):
        return self.stop_daemon(name, sig=signal.SIGKILL)

    def restart_daemon(self, name, sig=signal.SIGTERM):
        self.stop_daemon(name, sig=sig)
        # The old listening socket may linger briefly.
        if name not in PORTLESS:
            wait_for(lambda: not port_open(self.ports[name]), 5)
        return self.start_daemon(name)

    def daemon_alive(self, name):
        proc = self.procs.get(name)
        if name in PORTLESS:
            return bool(proc and proc.poll() is None)
        return bool(proc and proc.poll() is None and port_open(self.ports[name]))

    def log_tails(self, n=30):
        if not self.dir:
            return ""
        out = []
        for name in ("smtpd", "imapd", "queued", "postgres"):
            p = self.logpath(name)
            if os.path.exists(p):
                out.append("---- %s (last %d lines of %s) ----\n%s" % (name, n, p, tail(p, n)))
        return "\n".join(out)

    # -- clients
    @property
    def smtp_port(self):
        return self.ports["smtpd"]

    @property
    def imap_port(self):
        return self.ports["imapd"]

    def smtp(self, ehlo=True):
        s = smtplib.SMTP("127.0.0.1", self.smtp_port, local_hostname=CLIENT_HOSTNAME, timeout=TIMEOUT)
        if ehlo:
            s.ehlo()
        return s

    def imap(self, user=USER, password=PASSWORD, login=True):
        m = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=TIMEOUT)
        if login:
            m.login(user, password)
        return m

    def raw_smtp(self, greet=True):
        r = Raw(self.smtp_port)
        if greet:
            code, lines = r.smtp_reply()
            if code != 220:
                raise AssertionError("greeting %d %r" % (code, lines))
        return r

    def raw_imap(self, greet=True):
        r = Raw(self.imap_port)
        if greet:
            ln = r.line()
            if not ln.startswith(b"* OK"):
                raise AssertionError("IMAP greeting %r" % ln)
        return r

    def deliver(self, msg, rcpts=(USER,), mail_from=SENDER, mail_options=(), rcpt_options=()):
        """Send msg with smtplib; returns the final DATA reply (code, text)."""
        with self.smtp() as s:
            code, resp = s.mail(mail_from, list(mail_options))
            if code != 250:
                raise AssertionError("MAIL FROM: %d %r" % (code, resp))
            for r in rcpts:
                code, resp = s.rcpt(r, list(rcpt_options))
                if code not in (250, 251):
                    raise AssertionError("RCPT TO:<%s>: %d %r" % (r, code, resp))
            return s.data(msg)

    def inbox_count(self, user=USER, password=PASSWORD, mailbox="INBOX"):
        m = self.imap(user, password)
        try:
            typ, data = m.select(mailbox, readonly=True)
            if typ != "OK":
                raise AssertionError("SELECT %s: %s %r" % (mailbox, typ, data))
            return int(data[0])
        finally:
            m.logout()

    def msg_files(self):
        return files_under(self.msgdir)

    def tmp_files(self):
        return files_under(self.tmpdir)


class TestCase(unittest.TestCase):
    """Prints the daemon log tails when a test fails or errors."""

    maxDiff = 4000

    def run(self, result=None):
        if result is None:
            return super().run(result)
        before = len(result.failures) + len(result.errors)
        out = super().run(result)
        if len(result.failures) + len(result.errors) > before:
            for srv in active_servers():
                sys.stderr.write("\n==== logs of %s after %s ====\n%s\n"
                                 % (srv.dir, self.id(), srv.log_tails()))
            sys.stderr.flush()
        return out

    # helpers shared by the suites
    def assertDaemonsAlive(self, srv):
        for name in srv.daemon_names:
            self.assertTrue(srv.daemon_alive(name), "%s is not running/accepting" % name)

    def assertDelivered(self, srv, sent, user=USER, password=PASSWORD, mail_from=SENDER):
        """Find `sent` in the INBOX of user, compare byte-exact apart from the
        added trace header lines, return (uid, fetched bytes)."""
        m = srv.imap(user, password)
        try:
            m.select("INBOX", readonly=True)
            uids = uid_search(m, "ALL")
            self.assertTrue(uids, "INBOX of %s is empty" % user)
            got = fetch_by_uid(m, uids, "(BODY.PEEK[] RFC822.SIZE)")
        finally:
            m.logout()
        for uid, it in sorted(got.items(), reverse=True):
            body = it.get("BODY[]")
            if body is None:
                continue
            prefix, rest = split_trace(body)
            if rest == sent:
                fields = header_fields(prefix)
                names = [f[0] for f in fields]
                self.assertTrue(names and names[0] == "return-path",
                                "first added line is not Return-Path: %r" % prefix)
                self.assertIn("received", names, "no Received line added: %r" % prefix)
                rp = fields[0][1].decode("utf-8", "replace")
                self.assertEqual(rp, "<%s>" % mail_from, "Return-Path")
                self.assertEqual(int(it["RFC822.SIZE"]), len(body), "RFC822.SIZE != len(BODY[])")
                return uid, body
        # Produce a helpful diff against the most recent message.
        last = got[max(got)].get("BODY[]") or b""
        self.fail("message not found byte-exact in %s's INBOX.\nsent:\n%r\nnewest:\n%r"
                  % (user, sent, last))


# ---- helpers shared by the TLS/authentication tests

_next_ip = [0]


def clear_of_minute_boundary(need=15):
    """The failed-login limiter counts in fixed one-minute windows: wait
    for the next minute when fewer than need seconds of this one are left,
    so a test's failures all land in one window."""
    left = 60 - time.time() % 60
    if left < need:
        time.sleep(left + 1)


def fresh_ip():
    """A loopback source address in a /21 of its own (never 127.0.0.0/21),
    so per-address limits of one test do not touch another."""
    _next_ip[0] += 1
    k = _next_ip[0]
    return "127.%d.%d.1" % (k // 32, (k % 32) * 8)


def tls_context(max_version=None, cert=None):
    """A client TLS context without certificate checks (self-signed test
    certificates), optionally capped at max_version and with a client
    certificate (cert, key)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if max_version is not None:
        ctx.maximum_version = max_version
    if cert is not None:
        ctx.load_cert_chain(*cert)
    return ctx


def b64(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return base64.b64encode(data).decode("ascii")


def unb64(s):
    return base64.b64decode(s)


# ------------------------------------------------------------ sync clients

def require_tool(name, package):
    """The path of a client the suite drives; missing is a failure (the
    README's test command installs it), not a skip."""
    path = shutil.which(name)
    if path is None:
        raise HarnessError("%s not found: install the Debian package %s" % (name, package))
    return path


def write_mbsyncrc(path, net, user, password, maildir, patterns="INBOX", subfolders=False):
    """An mbsync (isync) configuration syncing `patterns` between the
    server (`net`: its Host/Port/SSLType lines) and a Maildir."""
    with open(path, "w") as f:
        f.write("IMAPAccount test\n%sUser %s\nPass %s\nAuthMechs LOGIN\n\n"
                "IMAPStore remote\nAccount test\n\n"
                "MaildirStore local\nPath %s/\nInbox %s/INBOX\n%s\n"
                "Channel test\nFar :remote:\nNear :local:\nPatterns %s\n"
                "Create Both\nExpunge Both\nSyncState *\n"
                % (net, user, password, maildir, maildir,
                   "SubFolders Verbatim\n" if subfolders else "", patterns))
    return path


def write_offlineimaprc(path, workdir, maildir, port, user, password, folders,
                        extra=""):
    """An offlineimap configuration syncing `folders` of the plain IMAP
    port with a Maildir; `extra` adds lines to the remote repository."""
    with open(path, "w") as f:
        f.write("[general]\naccounts = test\nmetadata = %s/meta\nui = basic\n\n"
                "[Account test]\nlocalrepository = local\nremoterepository = remote\n\n"
                "[Repository local]\ntype = Maildir\nlocalfolders = %s\n\n"
                "[Repository remote]\ntype = IMAP\nremotehost = 127.0.0.1\n"
                "remoteport = %d\nremoteuser = %s\nremotepass = %s\nssl = no\n"
                "starttls = no\n%sfolderfilter = lambda f: f in %r\n"
                % (workdir, maildir, port, user, password, extra, list(folders)))
    return path


def maildir_messages(maildir, folder):
    """{file name: bytes} of the messages in a Maildir folder."""
    out = {}
    for sub in ("cur", "new"):
        d = os.path.join(maildir, folder, sub)
        for n in os.listdir(d) if os.path.isdir(d) else []:
            with open(os.path.join(d, n), "rb") as f:
                out[n] = f.read()
    return out
