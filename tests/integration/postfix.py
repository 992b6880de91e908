"""A private Postfix instance for tests and benchmarks.

Postfix(base, ...) writes a complete configuration directory (main.cf,
master.cf) under `base`, with its own queue and data directories, a log file
(maillog_file via the postlog service) and one SMTP service on a free
loopback port, and runs it with `postfix -c CONFDIR start/stop`. It never
touches /etc/postfix or the system instance that Debian's package may have
started on port 25: a different port, queue, data directory and master lock,
no multi-instance machinery.

Two modes:

  Postfix(base, mode="maildir", domains=("example.org",))
      delivers mail for those domains with virtual(8) into Maildirs under
      base/maildirs/DOMAIN/LOCALPART/ (a catch-all per domain unless
      `recipients` is given). Postfix fsyncs each Maildir file.

  Postfix(base, mode="relay", relayhost=("127.0.0.1", PORT), tls="encrypt")
      relays everything (no local destinations) to [127.0.0.1]:PORT, with
      smtp_tls_security_level = tls ("none", "may", "encrypt", "verify")
      and smtp_tls_loglevel = 1, so the log says "Trusted/Untrusted TLS
      connection established to ...".

Postfix needs root to start (the master runs as root, services as the
postfix user); `available()` tells why it cannot run here. Python standard
library only.
"""

import grp
import os
import pwd
import re
import shutil
import smtplib
import socket
import subprocess
import time

POSTFIX = "/usr/sbin/postfix"
POSTCONF = "/usr/sbin/postconf"
MAIL_OWNER = "postfix"
MYHOSTNAME = "relay.postfix.test"  # must differ from the peer's name (loop check)

# The standard Debian master.cf services, chroot off everywhere (the queue is
# in a temporary directory that has no chroot skeleton).
_MASTER_SERVICES = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
        -o syslog_name=postfix/$service_name
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class PostfixError(Exception):
    pass


def available():
    """None when a private Postfix can run here, else the reason why not."""
    if not os.path.exists(POSTFIX):
        return ("%s not found: install the Debian package postfix "
                "(DEBIAN_FRONTEND=noninteractive apt-get install -y postfix)" % POSTFIX)
    if os.geteuid() != 0:
        return "starting Postfix needs root (its master process runs as root)"
    try:
        pwd.getpwnam(MAIL_OWNER)
        grp.getgrnam("postdrop")
    except KeyError as e:
        return "the postfix package's users/groups are missing: %s" % e
    return None


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def _port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class Postfix:
    def __init__(self, base, mode="maildir", domains=("example.org",), recipients=None,
                 relayhost=None, tls="none", tls_cafile=None, port=None, extra_main=None,
                 myhostname=MYHOSTNAME):
        if mode not in ("maildir", "relay"):
            raise ValueError("mode must be maildir or relay")
        if mode == "relay" and not relayhost:
            raise ValueError("relay mode needs relayhost=(ip, port)")
        self.base = os.path.abspath(base)
        self.mode = mode
        self.domains = tuple(domains)
        self.recipients = tuple(recipients) if recipients else None
        self.relayhost = relayhost
        self.tls = tls
        self.tls_cafile = tls_cafile
        self.port = port or free_port()
        self.extra_main = dict(extra_main or {})
        self.myhostname = myhostname
        self.started = False

    # -- paths
    @property
    def confdir(self):
        return os.path.join(self.base, "etc")

    @property
    def queuedir(self):
        return os.path.join(self.base, "queue")

    @property
    def datadir(self):
        return os.path.join(self.base, "data")

    @property
    def maildirs(self):
        return os.path.join(self.base, "maildirs")

    @property
    def logfile(self):
        return os.path.join(self.base, "log", "postfix.log")

    # -- configuration
    def main_cf(self):
        pw = pwd.getpwnam(MAIL_OWNER)
        m = {
            "compatibility_level": "3.6",
            "queue_directory": self.queuedir,
            "data_directory": self.datadir,
            "mail_owner": MAIL_OWNER,
            "setgid_group": "postdrop",
            "myhostname": self.myhostname,
            "mydomain": "postfix.test",
            "myorigin": "$myhostname",
            "mydestination": "",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "smtpd_peername_lookup": "no",
            "smtp_dns_support_level": "disabled",
            "smtp_address_preference": "ipv4",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "local_transport": "error:local delivery is disabled",
            "biff": "no",
            "append_dot_mydomain": "no",
            "maillog_file": self.logfile,
            "maillog_file_prefixes": self.base,
            "smtp_tls_loglevel": "1",
            "smtpd_tls_security_level": "none",
            "smtp_tls_security_level": "none",
            "smtp_helo_name": "$myhostname",
            # Let "postfix stop" and deferred mail in tests be quick.
            "queue_run_delay": "10s",
            "minimal_backoff_time": "10s",
            "maximal_backoff_time": "20s",
        }
        if self.mode == "maildir":
            if self.recipients:
                vmap = ["%s %s/%s/" % (r, r.rpartition("@")[2], r.rpartition("@")[0])
                        for r in self.recipients]
            else:
                vmap = ["@%s %s/catchall/" % (d, d) for d in self.domains]
            with open(os.path.join(self.confdir, "vmailbox"), "w") as f:
                f.write("\n".join(vmap) + "\n")
            m.update({
                "virtual_mailbox_domains": " ".join(self.domains),
                "virtual_mailbox_base": self.maildirs,
                "virtual_mailbox_maps": "texthash:" + os.path.join(self.confdir, "vmailbox"),
                "virtual_minimum_uid": str(min(100, pw.pw_uid)),
                "virtual_uid_maps": "static:%d" % pw.pw_uid,
                "virtual_gid_maps": "static:%d" % pw.pw_gid,
                "relayhost": "",
            })
        else:
            host, port = self.relayhost
            m.update({
                "relayhost": "[%s]:%d" % (host, port),
                "smtp_tls_security_level": self.tls,
                "virtual_mailbox_domains": "",
            })
            if self.tls_cafile:
                m["smtp_tls_CAfile"] = self.tls_cafile
        m.update(self.extra_main)
        return "".join("%s = %s\n" % kv for kv in m.items())

    def master_cf(self):
        return ("127.0.0.1:%d inet n       -       n       -       -       smtpd\n" % self.port
                + _MASTER_SERVICES)

    def write_config(self):
        for d in (self.base, self.confdir, self.queuedir, os.path.dirname(self.logfile)):
            os.makedirs(d, exist_ok=True)
        # The postfix user must be able to reach queue, log and Maildirs.
        for d in (self.base, self.queuedir):
            os.chmod(d, 0o755)
        d = os.path.dirname(self.base)
        while d != "/":
            if not os.stat(d).st_mode & 0o001:
                raise PostfixError("%s is not searchable by the postfix user (mode %o); "
                                   "Postfix's base directory must be below world-searchable "
                                   "directories" % (d, os.stat(d).st_mode & 0o7777))
            d = os.path.dirname(d)
        with open(os.path.join(self.confdir, "main.cf"), "w") as f:
            f.write(self.main_cf())
        with open(os.path.join(self.confdir, "master.cf"), "w") as f:
            f.write(self.master_cf())
        pw = pwd.getpwnam(MAIL_OWNER)
        if self.mode == "maildir":
            os.makedirs(self.maildirs, exist_ok=True)
            os.chown(self.maildirs, pw.pw_uid, pw.pw_gid)
            os.chmod(self.maildirs, 0o755)

    # -- life cycle
    def _run(self, *args, check=True, timeout=60):
        r = subprocess.run([POSTFIX, "-c", self.confdir] + list(args), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise PostfixError("postfix -c %s %s exited %d:\n%s\n%s"
                               % (self.confdir, " ".join(args), r.returncode, r.stdout,
                                  self.log_tail()))
        return r

    def postconf(self, *args):
        r = subprocess.run([POSTCONF, "-c", self.confdir] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=30)
        return r.stdout

    def start(self, timeout=30):
        why = available()
        if why:
            raise PostfixError(why)
        self.write_config()
        self._run("check")
        self._run("start")
        self.started = True
        deadline = time.monotonic() + timeout
        while not _port_open(self.port):
            if time.monotonic() > deadline:
                raise PostfixError("Postfix not listening on 127.0.0.1:%d after %d s\n%s"
                                   % (self.port, timeout, self.log_tail()))
            time.sleep(0.1)
        return self

    def stop(self):
        if not self.started:
            return
        self.started = False
        self._run("stop", check=False)
        # "postfix stop" returns before the master is gone; wait for its pid file lock.
        pidfile = os.path.join(self.queuedir, "pid", "master.pid")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with open(pidfile) as f:
                    pid = int(f.read().strip() or 0)
            except (OSError, ValueError):
                break
            if not pid or not os.path.exists("/proc/%d" % pid):
                break
            time.sleep(0.1)

    def remove(self):
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.stop()

    # -- clients and inspection
    def smtp(self, timeout=30):
        return smtplib.SMTP("127.0.0.1", self.port, local_hostname="client.example.net",
                            timeout=timeout)

    def submit(self, msg, mail_from, rcpts):
        """Send msg to this Postfix over SMTP; returns (code, text) of DATA."""
        with self.smtp() as s:
            s.ehlo()
            code, resp = s.mail(mail_from)
            if code != 250:
                raise PostfixError("Postfix MAIL FROM: %d %r" % (code, resp))
            for r in rcpts:
                code, resp = s.rcpt(r)
                if code not in (250, 251):
                    raise PostfixError("Postfix RCPT TO:<%s>: %d %r" % (r, code, resp))
            return s.data(msg)

    def flush(self):
        self._run("flush", check=False)

    def log_text(self):
        try:
            with open(self.logfile, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=40):
        return "---- %s ----\n%s" % (self.logfile, "\n".join(self.log_text().splitlines()[-n:]))

    def wait_log(self, pattern, timeout=30):
        """The first match of regex pattern in the log within timeout, or None."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.log_text())
            if m or time.monotonic() > deadline:
                return m
            time.sleep(0.1)

    def queue_id_for(self, message_id, timeout=30):
        """Postfix's queue id of the message with this Message-ID (from the
        cleanup log line), or None."""
        m = self.wait_log(r"postfix/cleanup\[\d+\]: ([0-9A-F]+): message-id=%s"
                          % re.escape(message_id), timeout)
        return m.group(1) if m else None

    def maildir_new_count(self):
        """Number of files in every new/ directory under the Maildir base."""
        n = 0
        for root, dirs, files in os.walk(self.maildirs):
            if os.path.basename(root) == "new":
                n += len(files)
                dirs[:] = []
        return n

    def maildir_new_files(self, address):
        local, _, domain = address.rpartition("@")
        if self.recipients:
            d = os.path.join(self.maildirs, domain, local, "new")
        else:
            d = os.path.join(self.maildirs, domain, "catchall", "new")
        try:
            return sorted(os.path.join(d, n) for n in os.listdir(d))
        except FileNotFoundError:
            return []
