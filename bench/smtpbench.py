"""Shared code of the SMTP benchmarks in bench/: the load-generating client
of smtp-deliver (also used by postfix-compare), reading localserve.env,
the loopback-only address check, and IMAP/process helpers.

Python standard library only. Only loopback addresses are accepted: these
are load generators, not for other hosts.
"""

import imaplib
import ipaddress
import os
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import time


def fail(msg):
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "bench"
    sys.exit("%s: %s" % (prog, msg))


def read_env(path):
    """The variables of a localserve.env (a shell file), as a dict."""
    r = subprocess.run(["sh", "-c", 'set -a; . "$1" >/dev/null; env', "sh", path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       env={"PATH": "/usr/bin:/bin"})
    if r.returncode != 0:
        fail("cannot read %s: %s" % (path, r.stderr.strip()))
    env = {}
    for ln in r.stdout.splitlines():
        k, _, v = ln.partition("=")
        env[k] = v
    return env


def hostport(s, what):
    """(host, port) of "host:port"; exits unless every address is loopback."""
    host, sep, port = s.rpartition(":")
    if not sep or not port.isdigit():
        fail("--%s wants host:port, got %r" % (what, s))
    host = host.strip("[]")
    try:
        infos = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        fail("cannot resolve %s: %s" % (host, e))
    for info in infos:
        addr = ipaddress.ip_address(info[4][0].split("%")[0])
        if not addr.is_loopback:
            fail("refusing non-loopback address %s for --%s" % (addr, what))
    return host, int(port)


def make_message(i, size, run, sender, to):
    """Message i of a run: headers plus a text body, exactly `size` bytes."""
    head = ("From: <%s>\r\nTo: <%s>\r\nSubject: bench %s %d\r\nMessage-ID: <%s.%d@bench.invalid>\r\n"
            "Date: %s\r\n\r\n" % (sender, to, run, i, run, i,
                                  time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())))
    head = head.encode()
    line = b"The quick brown fox jumps over the lazy dog, again and again and again.\r\n"
    body = bytearray()
    while len(head) + len(body) + len(line) <= size:
        body += line
    rest = size - len(head) - len(body)
    if rest >= 2:
        body += b"x" * (rest - 2) + b"\r\n"
    return head + bytes(body)


def make_messages(n, size, run, sender, to):
    return [make_message(i, size, run, sender, to) for i in range(n)]


def inbox_count(host, port, user, password):
    m = imaplib.IMAP4(host, port, timeout=30)
    try:
        m.login(user, password)
        typ, data = m.select("INBOX", readonly=True)
        if typ != "OK":
            raise RuntimeError("EXAMINE INBOX: %s %r" % (typ, data))
        return int(data[0])
    finally:
        try:
            m.logout()
        except Exception:  # noqa: BLE001
            pass


def percentile(values, p):
    if not values:
        return 0.0
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def no_verify_context():
    """TLS client context without certificate verification (benchmarks talk
    to self-signed test servers on loopback)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def offers_starttls(host, port, helo="bench.example.net"):
    """True when the SMTP server at host:port announces STARTTLS."""
    with smtplib.SMTP(host, port, local_hostname=helo, timeout=30) as s:
        s.ehlo()
        return s.has_extn("starttls")


class Result:
    """What send() measured."""

    def __init__(self):
        self.t0 = None          # monotonic start (first connection)
        self.t_sent = None      # monotonic time of the last 250 (all threads joined)
        self.accepted = 0
        self.failures = []
        self.latencies = []     # DATA-to-250 seconds per accepted message
        self.connections = 0
        self.tls_connections = 0
        self.cpu = 0.0          # client process CPU seconds spent sending

    @property
    def send_time(self):
        return self.t_sent - self.t0

    @property
    def rate(self):
        return self.accepted / self.send_time if self.send_time > 0 else 0.0


def send(host, port, msgs, sender, to, sessions, per_session, tls=False,
         helo="bench.example.net", timeout=60, login=None):
    """Deliver msgs over `sessions` parallel SMTP connections, each sending
    up to per_session messages before QUIT and reconnecting. With tls, every
    connection does STARTTLS (no certificate verification) before MAIL.
    login=(user, password): AUTH on every connection (submission).
    Returns a Result."""
    res = Result()
    lock = threading.Lock()
    next_i = [0]
    ctx = no_verify_context() if tls else None

    def take():
        with lock:
            if next_i[0] >= len(msgs):
                return None
            i = next_i[0]
            next_i[0] += 1
            return i

    def worker():
        while True:
            i = take()
            if i is None:
                return
            try:
                with smtplib.SMTP(host, port, local_hostname=helo, timeout=timeout) as s:
                    with lock:
                        res.connections += 1
                    s.ehlo()
                    if tls:
                        if not s.has_extn("starttls"):
                            raise smtplib.SMTPNotSupportedError(
                                "server does not offer STARTTLS (--tls)")
                        code, resp = s.starttls(context=ctx)
                        if code != 220:
                            raise smtplib.SMTPResponseException(code, resp)
                        s.ehlo()
                        with lock:
                            res.tls_connections += 1
                    if login:
                        s.login(*login)
                    n = 0
                    while i is not None:
                        code, resp = s.mail(sender)
                        if code != 250:
                            raise smtplib.SMTPSenderRefused(code, resp, sender)
                        code, resp = s.rcpt(to)
                        if code not in (250, 251):
                            raise smtplib.SMTPRecipientsRefused({to: (code, resp)})
                        t = time.monotonic()
                        code, resp = s.data(msgs[i])
                        dt = time.monotonic() - t
                        with lock:
                            if code == 250:
                                res.accepted += 1
                                res.latencies.append(dt)
                            else:
                                res.failures.append("%d %s" % (code, resp.decode("utf-8", "replace")))
                        n += 1
                        i = take() if n < per_session else None
            except (smtplib.SMTPException, OSError) as e:
                with lock:
                    res.failures.append("message %d: %r" % (i, e))

    cpu0 = sum(os.times()[:2])
    res.t0 = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    res.t_sent = time.monotonic()
    res.cpu = sum(os.times()[:2]) - cpu0
    return res


def wait_until(count_fn, target, t0, timeout, interval=0.05):
    """Poll count_fn() until it reaches target; returns (seconds since t0 when
    reached or None, last count)."""
    count = count_fn()
    while time.monotonic() - t0 < timeout:
        if count >= target:
            return time.monotonic() - t0, count
        time.sleep(interval)
        count = count_fn()
    if count >= target:
        return time.monotonic() - t0, count
    return None, count


def find_daemon_pid(program, conf):
    """Pid of the running `program` (e.g. mailstead-smtpd) whose command line
    names config file conf, or None. Reads /proc; several matches (e.g. a
    master and children) give the oldest."""
    conf = os.path.realpath(conf)
    best = None
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
            with open("/proc/%s/stat" % d) as f:
                start = int(f.read().rsplit(")", 1)[1].split()[19])
        except (OSError, IndexError, ValueError):
            continue
        if not argv or os.path.basename(argv[0]) != program:
            continue
        if not any(os.path.realpath(a) == conf for a in argv[1:]):
            continue
        if best is None or start < best[0]:
            best = (start, int(d))
    return best[1] if best else None


def tree_cpu(pids):
    """CPU seconds (user+system) used so far by the processes in pids and
    all their descendants, including reaped children (cutime/cstime), from
    /proc. Missing pids count as 0."""
    hz = os.sysconf("SC_CLK_TCK")
    kids, ticks = {}, {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        ticks[int(d)] = sum(int(x) for x in st[11:15])
        kids.setdefault(int(st[1]), []).append(int(d))
    total, todo, seen = 0, [p for p in pids if p], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        total += ticks.get(p, 0)
        todo += kids.get(p, [])
    return total / hz


def postmaster_pid(sockdir, port):
    """Pid of the PostgreSQL server with its socket in sockdir, or None."""
    try:
        with open(os.path.join(sockdir, ".s.PGSQL.%s.lock" % port)) as f:
            return int(f.readline().strip())
    except (OSError, ValueError):
        return None


def proc_status(pid):
    """/proc/PID/status as a dict of strings."""
    with open("/proc/%d/status" % pid) as f:
        return dict(ln.rstrip("\n").split(":\t", 1) for ln in f if ":\t" in ln)


def kb(value):
    """'1234 kB' -> 1234."""
    return int(value.split()[0])
