"""The mailstead command: migrate, config errors, version/help, domains,
accounts, addresses (including the catch-all), passwords, and localserve
(private cluster, delivery, status page, clean stop, resume)."""

import tempfile
import hashlib
import base64
import glob
import imaplib
import json
import os
import re
import signal
import smtplib
import ssl
import subprocess
import time
import urllib.request

import harness
from harness import CLI, OTHER, OTHER_PASSWORD, PASSWORD, SENDER, USER, make_message, unique

srv = None


def setUpModule():
    global srv
    srv = harness.Server("cli").start()


def tearDownModule():
    if srv:
        srv.stop()


def run(*args, input=None, timeout=60):
    return subprocess.run([CLI] + list(args), input=input, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=timeout, cwd=srv.dir)


def applied_count(text):
    """The number of migrations `migrate` says it applied: the first number
    after "applied", else the first number in the output."""
    m = re.search(r"(?i)appl\w*\D{0,30}?(\d+)", text) or re.search(r"\b(\d+)\b", text)
    if not m:
        raise AssertionError("migrate printed no count: %r" % text)
    return int(m.group(1))


def migration_files():
    return sorted(glob.glob(os.path.join(harness.TOP_SRCDIR, "sql", "[0-9]*.sql")))


def imap_login_ok(user, password, port=None):
    m = imaplib.IMAP4("127.0.0.1", port or srv.imap_port, timeout=harness.TIMEOUT)
    try:
        m.login(user, password)
        return True
    except imaplib.IMAP4.error:
        return False
    finally:
        try:
            m.logout()
        except Exception:  # noqa: BLE001
            m.shutdown()


class CliTest(harness.TestCase):

    def write(self, name, text):
        path = os.path.join(srv.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def fresh_db_conf(self):
        db = unique("db").replace("-", "_")
        srv.pg.createdb(db)
        text = srv.conf_text(database={"conninfo": srv.pg.conninfo(db)})
        return db, self.write(db + ".conf", text)

    def test_migrate_fresh_then_again(self):
        n = len(migration_files())
        self.assertGreater(n, 0)
        # The harness migrated the main database already: nothing to do.
        self.assertEqual(applied_count(srv.migrate_output), n, srv.migrate_output)
        r = srv.cli("migrate")
        self.assertEqual(applied_count(r.stdout + r.stderr), 0, r.stdout + r.stderr)
        db, conf = self.fresh_db_conf()
        r = srv.cli("migrate", conf=conf)
        self.assertEqual(applied_count(r.stdout + r.stderr), n, r.stdout + r.stderr)
        self.assertEqual(srv.pg.psql("select count(*) from accounts", dbname=db), [["0"]])
        r = srv.cli("migrate", conf=conf)
        self.assertEqual(applied_count(r.stdout + r.stderr), 0, r.stdout + r.stderr)

    def test_migrate_concurrently(self):
        db, conf = self.fresh_db_conf()
        procs = [subprocess.Popen([CLI, "-c", conf, "migrate"], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for _ in range(3)]
        outs = [p.communicate(60)[0] for p in procs]
        self.assertEqual([p.returncode for p in procs], [0, 0, 0], outs)
        self.assertEqual(srv.pg.psql("select count(*) from domains", dbname=db), [["0"]])

    def test_schema_is_documented(self):
        # psql's \d+ must explain every table, view and column we create
        # (the migration bookkeeping table is the only exception).
        rows = srv.psql(
            "select c.relname, coalesce(a.attname, '') from pg_class c"
            " join pg_namespace n on n.oid = c.relnamespace and n.nspname = 'public'"
            " left join pg_attribute a on a.attrelid = c.oid and a.attnum > 0"
            "  and not a.attisdropped and c.relkind = 'r'"
            " where c.relkind in ('r', 'v') and c.relname <> 'schema_migrations'"
            " and (a.attname is null and obj_description(c.oid, 'pg_class') is null"
            "  or a.attname is not null and col_description(c.oid, a.attnum) is null)")
        self.assertEqual(rows, [], "tables/columns without COMMENT ON")
        self.assertGreater(int(srv.psql(
            "select count(*) from pg_description d join pg_class c on c.oid = d.objoid"
            " where c.relname = 'messages'")[0][0]), 40)

    def test_tlspubkey_add_list_rm(self):
        d = tempfile.mkdtemp(dir=srv.dir)
        cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=laptop",
                        "-keyout", key, "-out", cert], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        pub = subprocess.run("openssl x509 -in %s -pubkey -noout | openssl pkey -pubin -outform DER"
                             % cert, shell=True, check=True, stdout=subprocess.PIPE).stdout
        fp = base64.urlsafe_b64encode(hashlib.sha256(pub).digest()).rstrip(b"=").decode()
        r = srv.cli("tlspubkey", "add", harness.USER, cert)
        self.assertIn(fp, r.stdout)
        self.assertIn("ecdsa-p256", r.stdout)
        rows = [ln.split("\t") for ln in srv.cli("tlspubkey", "list").stdout.splitlines()]
        self.assertEqual(rows[0][0], "fingerprint")
        mine = [row for row in rows[1:] if row[0] == fp]
        self.assertEqual(len(mine), 1, rows)
        self.assertEqual(mine[0][1:6], ["ecdsa-p256", "laptop", harness.USER, harness.USER, "no"])
        # The same key twice, an unknown address and a non-certificate fail.
        r = srv.cli("tlspubkey", "add", harness.USER, cert, check=False)
        self.assertNotEqual(r.returncode, 0)
        r = srv.cli("tlspubkey", "add", "nobody@example.org", cert, check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("nobody@example.org", r.stderr)
        r = srv.cli("tlspubkey", "add", harness.USER, key, check=False)
        self.assertNotEqual(r.returncode, 0)
        srv.cli("tlspubkey", "rm", fp)
        self.assertNotIn(fp, srv.cli("tlspubkey", "list").stdout)
        r = srv.cli("tlspubkey", "rm", fp, check=False)
        self.assertEqual(r.returncode, 1)

    def test_bad_config_reported_with_file_and_line(self):
        good = srv.conf_text().splitlines()
        cases = []
        # Unknown key on line 3.
        bad = list(good)
        bad.insert(2, "no_such_key = 1")
        cases.append(("unknown-key", bad, 3))
        # Bad size value.
        bad = list(good)
        i = next(i for i, ln in enumerate(bad) if ln.startswith("max_message_size"))
        bad[i] = "max_message_size = lots"
        cases.append(("bad-size", bad, i + 1))
        # A line that is not key = value.
        bad = list(good)
        bad.insert(4, "this line is garbage")
        cases.append(("garbage", bad, 5))
        # Bad listen address.
        bad = list(good)
        i = next(i for i, ln in enumerate(bad) if ln.startswith("smtp ="))
        bad[i] = "smtp = notaport"
        cases.append(("bad-listen", bad, i + 1))
        for name, lines, lineno in cases:
            with self.subTest(case=name):
                path = self.write("bad-%s.conf" % name, "\n".join(lines) + "\n")
                for prog in ([CLI, "-c", path, "migrate"], [harness.DAEMONS["smtpd"], "-c", path],
                             [harness.DAEMONS["imapd"], "-c", path]):
                    r = subprocess.run(prog, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       text=True, timeout=30)
                    self.assertNotEqual(r.returncode, 0, "%s accepted %s" % (prog[0], name))
                    self.assertIn("%s:%d:" % (path, lineno), r.stdout,
                                  "%s: error does not name file:line" % os.path.basename(prog[0]))

    def test_missing_config_file(self):
        path = os.path.join(srv.dir, "does-not-exist.conf")
        r = run("-c", path, "migrate")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(path, r.stdout + r.stderr)

    def test_version_and_help(self):
        r = run("version")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"\d+\.\d+\.\d+")
        r = run("help")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout + r.stderr
        for cmd in ("migrate", "domain", "account", "address", "setaccountpassword", "localserve", "version"):
            self.assertIn(cmd, out, "help does not list %s" % cmd)
        r = run("help", "localserve")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("-smtp-port", r.stdout + r.stderr)
        r = run("no-such-command")
        self.assertNotEqual(r.returncode, 0)

    def test_account_add_unknown_domain(self):
        addr = "someone@unknown-domain.example"
        r = srv.cli("account", "add", addr, check=False)
        self.assertNotEqual(r.returncode, 0, "account add for unknown domain succeeded")
        self.assertIn("unknown-domain.example", r.stdout + r.stderr)
        self.assertEqual(srv.psql("select count(*) from accounts where name = :'n'", n=addr), [["0"]])
        # Nothing half-created: after adding the domain the same command works.
        srv.cli("domain", "add", "unknown-domain.example")
        srv.cli("account", "add", addr)
        r = srv.cli("account", "add", addr, check=False)
        self.assertNotEqual(r.returncode, 0, "duplicate account add succeeded")
        r = srv.cli("domain", "add", "unknown-domain.example", check=False)
        self.assertNotEqual(r.returncode, 0, "duplicate domain add succeeded")

    def test_account_usage_view(self):
        # The documented reporting view agrees with what IMAP shows.
        addr = "%s@example.org" % unique("usage")
        pw = unique("pw")
        srv.add_account(addr, pw)
        self.assertEqual(srv.psql("select messages, bytes, unseen from account_usage where account = :'a'",
                                  a=addr), [["0", "0", "0"]])
        for _ in range(2):
            msg, _ = make_message(to=addr)
            self.assertEqual(srv.deliver(msg, rcpts=[addr])[0], 250)
        m = srv.imap(addr, pw)
        try:
            m.select("INBOX")
            sizes = harness.fetch_by_uid(m, "1:*", "(RFC822.SIZE)")
            uid = min(sizes)
            harness.fetch_by_uid(m, uid, "(BODY[])")  # sets \Seen
        finally:
            m.logout()
        total = sum(int(it["RFC822.SIZE"]) for it in sizes.values())
        self.assertEqual(srv.psql("select messages, bytes, unseen from account_usage where account = :'a'",
                                  a=addr), [["2", str(total), "1"]])

    def test_setaccountpassword(self):
        addr = "%s@example.org" % unique("pw")
        srv.add_account(addr, "first-password")
        self.assertTrue(imap_login_ok(addr, "first-password"))
        srv.cli("setaccountpassword", addr, input="second password!\n")
        self.assertTrue(imap_login_ok(addr, "second password!"))
        self.assertFalse(imap_login_ok(addr, "first-password"), "old password still works")
        r = srv.cli("setaccountpassword", "nobody-at-all@example.org", input="x-password\n", check=False)
        self.assertNotEqual(r.returncode, 0)

    def test_address_add_extra_destination(self):
        srv.cli("address", "add", "alias-for-other@example.org", OTHER)
        msg, _ = make_message(to="alias-for-other@example.org")
        code, resp = srv.deliver(msg, rcpts=["alias-for-other@example.org"])
        self.assertEqual(code, 250, resp)
        self.assertDelivered(srv, msg, OTHER, OTHER_PASSWORD)
        r = srv.cli("address", "add", "x@not-our-domain.example", OTHER, check=False)
        self.assertNotEqual(r.returncode, 0)
        r = srv.cli("address", "add", "y@example.org", "no-such-account@example.org", check=False)
        self.assertNotEqual(r.returncode, 0)

    def test_address_add_catchall(self):
        with srv.smtp() as s:
            s.mail(SENDER)
            self.assertEqual(s.rcpt("random-before@example.org")[0], 550)
        srv.cli("address", "add", "@example.org", USER)
        msg, _ = make_message(to="anything-%s@example.org" % unique())
        code, resp = srv.deliver(msg, rcpts=["anything-goes-here@example.org"])
        self.assertEqual(code, 250, resp)
        self.assertDelivered(srv, msg, USER, PASSWORD)
        # Explicit addresses still win over the catch-all.
        msg2, _ = make_message(to=OTHER)
        self.assertEqual(srv.deliver(msg2, rcpts=[OTHER])[0], 250)
        self.assertDelivered(srv, msg2, OTHER, OTHER_PASSWORD)
        # Other domains still rejected.
        with srv.smtp() as s:
            s.mail(SENDER)
            self.assertEqual(s.rcpt("x@elsewhere.example")[0], 550)


# ------------------------------------------------------------------ localserve

def read_env(path):
    r = subprocess.run(["sh", "-c", 'set -a; . "$1" >/dev/null; env', "sh", path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       env={"PATH": "/usr/bin:/bin"})
    if r.returncode != 0:
        raise AssertionError("sourcing %s failed: %s" % (path, r.stderr))
    env = {}
    for ln in r.stdout.splitlines():
        k, _, v = ln.partition("=")
        env[k] = v
    return env


def procs_mentioning(text):
    """PIDs of processes whose command line contains text."""
    out = []
    for d in glob.glob("/proc/[0-9]*"):
        try:
            with open(d + "/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if text in cmd and int(os.path.basename(d)) != os.getpid():
            out.append((int(os.path.basename(d)), cmd))
    return out


class LocalTarget:
    """Adapter so TestCase.assertDelivered can read from a localserve."""

    def __init__(self, imap_port):
        self.imap_port = imap_port

    def imap(self, user, password):
        m = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=harness.TIMEOUT)
        m.login(user, password)
        return m


class LocalserveTest(harness.TestCase):
    """One localserve instance driven through its life: first run, use,
    SIGTERM, resume. Methods run in name order."""

    proc = None

    @classmethod
    def setUpClass(cls):
        cls.dir = os.path.join(srv.dir, "local")
        cls.log = os.path.join(srv.dir, "logs", "localserve.log")
        cls.smtp_port, cls.imap_port, cls.http_port = (harness.free_port() for _ in range(3))
        cls.submission_port, cls.submissions_port = harness.free_port(), harness.free_port()
        cls.imaps_port = harness.free_port()
        cls.sent = []
        cls.first_env = None
        try:
            cls.start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def start(cls):
        logf = open(cls.log, "ab")
        cls.log_offset = os.path.getsize(cls.log)
        cls.proc = subprocess.Popen(
            [CLI, "localserve", "-dir", cls.dir, "-smtp-port", str(cls.smtp_port),
             "-imap-port", str(cls.imap_port), "-http-port", str(cls.http_port),
             "-submission-port", str(cls.submission_port),
             "-submissions-port", str(cls.submissions_port),
             "-imaps-port", str(cls.imaps_port)],
            stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT, cwd=srv.dir)
        logf.close()
        envfile = os.path.join(cls.dir, "localserve.env")
        ready = harness.wait_for(
            lambda: cls.proc.poll() is not None or (
                os.path.exists(envfile) and all(harness.port_open(p) for p in
                                                (cls.smtp_port, cls.imap_port, cls.imaps_port,
                                                 cls.http_port))),
            120, 0.2)
        if cls.proc.poll() is not None or not ready:
            raise AssertionError("localserve not ready (exit %s):\n%s"
                                 % (cls.proc.poll(), harness.tail(cls.log, 60)))

    @classmethod
    def stop(cls, timeout=15):
        """SIGTERM; returns seconds taken, or None when it had to be killed."""
        if not cls.proc or cls.proc.poll() is not None:
            return 0
        t0 = time.monotonic()
        cls.proc.send_signal(signal.SIGTERM)
        try:
            cls.proc.wait(timeout)
            return time.monotonic() - t0
        except subprocess.TimeoutExpired:
            cls.proc.kill()
            cls.proc.wait()
            return None

    @classmethod
    def tearDownClass(cls):
        cls.stop()
        # A postmaster left behind by a failed run: stop it (immediate mode).
        for pidfile in glob.glob(os.path.join(cls.dir, "**", "postmaster.pid"), recursive=True):
            try:
                with open(pidfile) as f:
                    pid = int(f.readline())
                os.kill(pid, signal.SIGQUIT)
            except (OSError, ValueError):
                pass

    def output(self):
        with open(self.log, "rb") as f:
            f.seek(self.log_offset)
            return f.read().decode("utf-8", "replace")

    def env(self):
        return read_env(os.path.join(self.dir, "localserve.env"))

    def cli_ok(self, env, *args):
        r = subprocess.run([CLI, "-c", env["MAILSTEAD_CONF"]] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, "%s: %s" % (args, r.stdout))
        return r.stdout

    def table(self, env, *args):
        """A tab-separated listing of the CLI as [{column: value}]."""
        lines = self.cli_ok(env, *args).splitlines()
        head = lines[0].split("\t")
        return [dict(zip(head, ln.split("\t"))) for ln in lines[1:] if ln]

    def queued(self, env):
        return self.table(env, "queue", "list")

    def retired(self, env):
        return self.table(env, "queue", "retired", "list")

    def inbox_count(self, env):
        m = LocalTarget(self.imap_port).imap(env["ACCOUNT"], env["PASSWORD"])
        try:
            typ, data = m.select("INBOX", readonly=True)
            return int(data[0])
        finally:
            m.logout()

    def test_1_first_run_prints_credentials_and_writes_files(self):
        env = self.env()
        type(self).first_env = env
        for k in ("MAILSTEAD_CONF", "SMTP_PORT", "IMAP_PORT", "HTTP_PORT", "ACCOUNT", "PASSWORD",
                  "PGHOST", "PGPORT", "PGDATABASE", "PGUSER"):
            self.assertTrue(env.get(k), "localserve.env lacks %s: %r" % (k, env))
        self.assertEqual(os.path.realpath(env["MAILSTEAD_CONF"]),
                         os.path.realpath(os.path.join(self.dir, "mailstead.conf")))
        self.assertTrue(os.path.isfile(env["MAILSTEAD_CONF"]))
        self.assertEqual((int(env["SMTP_PORT"]), int(env["IMAP_PORT"]), int(env["HTTP_PORT"])),
                         (self.smtp_port, self.imap_port, self.http_port))
        self.assertIn("@", env["ACCOUNT"])
        out = self.output()
        self.assertIn(env["ACCOUNT"], out, "address not printed")
        self.assertIn(env["PASSWORD"], out, "password not printed")
        # Nothing of it runs as root (PostgreSQL refuses to; the daemons and
        # the web server must not).
        if harness.is_root():
            procs = procs_mentioning(self.dir) + [(self.proc.pid, "localserve")]
            self.assertGreaterEqual(len(procs), 3, procs)
            for pid, cmd in procs:
                for tid, (uids, _gids, _groups) in harness.proc_ids(pid).items():
                    self.assertNotIn(0, uids, "runs as root: %s (task %d)" % (cmd, tid))
        # psql with the variables from the env file reaches the database.
        r = subprocess.run(["sh", "-c", '. "$1"; export PGHOST PGPORT PGDATABASE PGUSER; '
                            'exec "$2" -X -A -t -c "select count(*) from accounts"', "sh",
                            os.path.join(self.dir, "localserve.env"),
                            os.path.join(harness.pg_bindir(), "psql")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertGreaterEqual(int(r.stdout.strip()), 1)

    def test_2_swaks_delivers_and_imap_reads(self):
        env = self.first_env or self.env()
        r = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % self.smtp_port, "--to", env["ACCOUNT"]],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout.decode("utf-8", "replace"))
        for _ in range(2):
            msg, _ = make_message(to=env["ACCOUNT"])
            with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=harness.TIMEOUT) as s:
                s.sendmail(SENDER, [env["ACCOUNT"]], msg)
            self.sent.append(msg)
        target = LocalTarget(self.imap_port)
        for msg in self.sent:
            self.assertDelivered(target, msg, env["ACCOUNT"], env["PASSWORD"])
        m = target.imap(env["ACCOUNT"], env["PASSWORD"])
        try:
            typ, data = m.select("INBOX", readonly=True)
            self.assertEqual(int(data[0]), 3)
        finally:
            m.logout()

    def test_2b_submission_with_tls(self):
        env = self.first_env or self.env()
        self.assertEqual((int(env["SUBMISSION_PORT"]), int(env["SUBMISSIONS_PORT"])),
                         (self.submission_port, self.submissions_port))
        self.assertTrue(os.path.isfile(env["TLS_CERT"]))
        # STARTTLS on the submission port, then implicit TLS; both log in
        # and hand a message for another domain to the queue.
        for port, tls_flag in ((self.submission_port, "--tls"),
                               (self.submissions_port, "--tls-on-connect")):
            r = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % port, tls_flag,
                                "--auth", "PLAIN", "--auth-user", env["ACCOUNT"],
                                "--auth-password", env["PASSWORD"], "--from", env["ACCOUNT"],
                                "--to", "someone@example.net"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
            out = r.stdout.decode("utf-8", "replace")
            self.assertEqual(r.returncode, 0, out)
            self.assertIn("235 2.7.0", out)
        # Nothing leaves the machine: the queue hands both messages to
        # localserve's own smtp port, which delivers them to the account.
        delivered = harness.wait_for(
            lambda: len([r for r in self.retired(env) if r["to"] == "someone@example.net"
                         and r["success"] == "yes"]) == 2, 60, 0.3)
        self.assertTrue(delivered, "not delivered through the queue: %r\n%s"
                        % (self.retired(env), harness.tail(self.log, 40)))
        self.assertEqual([r for r in self.queued(env) if r["to"] == "someone@example.net"], [])
        self.assertEqual(self.inbox_count(env), 5)
        m = LocalTarget(self.imap_port).imap(env["ACCOUNT"], env["PASSWORD"])
        try:
            m.select("INBOX", readonly=True)
            uids = harness.uid_search(m, "TO", "someone@example.net")
        finally:
            m.logout()
        self.assertEqual(len(uids), 2)

    def test_2d_sent_mail_failures_are_simulated(self):
        """Recipients with the special localparts fail at localserve's smtp
        port as asked: permanently (DSN in the Inbox), or temporarily
        (retried soon, as [queue] backoff_ms of localserve says)."""
        env = self.first_env or self.env()
        before = self.inbox_count(env)
        perm, temp = "rcpttopermerror@example.net", "rcpttotemperror@example.net"
        msg, _ = make_message(frm=env["ACCOUNT"], to="someone@example.net")
        with smtplib.SMTP("127.0.0.1", self.submission_port, timeout=harness.TIMEOUT) as c:
            ctx = ssl.create_default_context(cafile=env["TLS_CERT"])
            ctx.check_hostname = False
            c.starttls(context=ctx)
            c.login(env["ACCOUNT"], env["PASSWORD"])
            # One message for three recipients: the ordinary one still
            # arrives, byte for byte.
            c.sendmail(env["ACCOUNT"], ["someone@example.net", perm, temp], msg)
        target = LocalTarget(self.imap_port)
        self.assertTrue(harness.wait_for(
            lambda: any(r["to"] == perm and r["success"] == "no" for r in self.retired(env)),
            60, 0.3), "no failure for %s: %r" % (perm, self.retired(env)))
        failed = [r for r in self.retired(env) if r["to"] == perm][0]
        self.assertIn("550", failed["last_error"])
        self.assertDelivered(target, msg, env["ACCOUNT"], env["PASSWORD"], mail_from=env["ACCOUNT"])
        # The sender is told: a failure DSN naming the recipient.
        self.assertTrue(harness.wait_for(lambda: self.inbox_count(env) == before + 2, 30, 0.3),
                        "Inbox has %d messages, want %d" % (self.inbox_count(env), before + 2))
        m = target.imap(env["ACCOUNT"], env["PASSWORD"])
        try:
            m.select("INBOX", readonly=True)
            uids = harness.uid_search(m, "SUBJECT", "\"mail delivery failed\"")
            self.assertEqual(len(uids), 1)
            got = harness.fetch_by_uid(m, uids, "(BODY.PEEK[])")
            dsn = got[uids[0]]["BODY[]"]
        finally:
            m.logout()
        self.assertIn(perm.encode(), dsn)
        self.assertIn(b"550", dsn)
        # The temporary failure stays queued and is tried again soon.
        self.assertTrue(harness.wait_for(
            lambda: any(r["to"] == temp and int(r["attempts"]) >= 2 for r in self.queued(env)),
            60, 0.3), "no second attempt for %s: %r" % (temp, self.queued(env)))
        row = [r for r in self.queued(env) if r["to"] == temp][0]
        self.assertIn("451", row["last_error"])
        self.assertFalse([r for r in self.retired(env) if r["to"] == temp])
        # Dropped before it would give a "delayed" DSN; the counts of the
        # later tests stay fixed.
        self.cli_ok(env, "queue", "drop", row["id"])
        self.assertEqual(self.inbox_count(env), before + 2)

    def test_2c_imap_with_tls(self):
        env = self.first_env or self.env()
        self.assertEqual(int(env["IMAPS_PORT"]), self.imaps_port)
        with open(env["MAILSTEAD_CONF"]) as f:
            self.assertIn("imaps = %d\n" % self.imaps_port, f.read())
        ctx = ssl.create_default_context(cafile=env["TLS_CERT"])
        ctx.check_hostname = False
        # Implicit TLS with the self-signed certificate of localserve.env.
        m = imaplib.IMAP4_SSL("127.0.0.1", self.imaps_port, ssl_context=ctx,
                              timeout=harness.TIMEOUT)
        try:
            self.assertIn("AUTH=SCRAM-SHA-256", m.capabilities)
            self.assertEqual(m.login(env["ACCOUNT"], env["PASSWORD"])[0], "OK")
            typ, data = m.select("INBOX", readonly=True)
            self.assertEqual(typ, "OK")
        finally:
            m.logout()
        # STARTTLS on the imap port (plain-text login stays allowed there).
        m = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=harness.TIMEOUT)
        try:
            self.assertIn("STARTTLS", m.capabilities)
            self.assertIn("AUTH=PLAIN", m.capabilities)
            self.assertEqual(m.starttls(ssl_context=ctx)[0], "OK")
            self.assertEqual(m.login(env["ACCOUNT"], env["PASSWORD"])[0], "OK")
        finally:
            m.logout()

    def test_3_cli_against_localserve(self):
        env = self.first_env or self.env()
        conf = env["MAILSTEAD_CONF"]

        def cli(*args, input=None):
            r = subprocess.run([CLI, "-c", conf] + list(args), input=input, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, "%s: %s" % (args, r.stdout))
            return r.stdout

        self.assertEqual(applied_count(cli("migrate")), 0)
        domain = env["ACCOUNT"].split("@", 1)[1]
        extra = "extra@" + domain
        cli("account", "add", extra)
        cli("setaccountpassword", extra, input="extra-password\n")
        self.assertTrue(imap_login_ok(extra, "extra-password", port=self.imap_port))

    def test_4_status_page(self):
        env = self.first_env or self.env()
        with urllib.request.urlopen("http://127.0.0.1:%d/status/" % self.http_port, timeout=20) as resp:
            self.assertEqual(resp.status, 200)
            page = resp.read().decode("utf-8", "replace")
        self.assertIn(env["ACCOUNT"], page)
        # 3 received, 3 sent and delivered back through the queue, 1 DSN.
        self.assertRegex(page, re.escape(env["ACCOUNT"]) + r"</td><td>Inbox</td><td class=\"n\">7<",
                         "status page does not show 7 messages in the account's Inbox")

    def test_4_webapi(self):
        """The webapi in localserve's web server, called with the
        `mailstead webapi` client and the printed credentials."""
        env = self.first_env or self.env()
        url = "http://127.0.0.1:%d/webapi/v0/" % self.http_port
        r = subprocess.run([CLI, "webapi", "-url", url, "-user", env["ACCOUNT"],
                            "SuppressionList"], input=env["PASSWORD"] + "\n",
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        sups = json.loads(r.stdout)["Suppressions"]
        self.assertEqual({s["Account"] for s in sups} - {env["ACCOUNT"]}, set(), sups)
        r = subprocess.run([CLI, "webapi", "-url", url, "-user", env["ACCOUNT"],
                            "SuppressionList"], input="wrong-password\n",
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("HTTP status 401", r.stderr)

    def test_4_web_interfaces(self):
        """The account, admin and webmail programs in-process
        (libmicrohttpd), at the production paths, with the printed
        credentials."""
        import webserver
        env = self.first_env or self.env()
        self.assertIn("ADMIN_PASSWORD", env)
        self.assertIn(env["ADMIN_PASSWORD"], self.output() or harness.tail(self.log, 200))
        c = webserver.WebClient(self.http_port, "/")
        r = c.request("GET", "/")
        self.assertEqual(r.status, 200)
        self.assertIn(b"Mailstead account", r.body)
        self.assertIn("script-src 'self'", r.header("Content-Security-Policy"))
        self.assertEqual(c.request("GET", "/style.css").status, 200)
        c.login(env["PASSWORD"], env["ACCOUNT"])
        self.assertEqual(c.result("Account")["name"], env["ACCOUNT"])
        self.assertEqual(webserver.error_code(c.api("Account", csrf=False)), "user:noAuth")
        r = c.api("Version", raw_body=b"{")
        self.assertEqual(r.status, 400)
        r = c.request("GET", "/%2e%2e/mailstead.conf")
        self.assertEqual(r.status, 400)
        m = webserver.WebClient(self.http_port, "/webmail/")
        r = m.request("GET", "/webmail/")
        self.assertEqual(r.status, 200)
        self.assertIn(b"Mailstead webmail", r.body)
        m.login(env["PASSWORD"], env["ACCOUNT"])
        self.assertIsNone(m.result("Logout"))
        a = webserver.WebClient(self.http_port, "/admin/")
        self.assertEqual(a.request("GET", "/admin").status, 301)
        a.login(env["ADMIN_PASSWORD"])
        self.assertIn("localhost", [d["name"] for d in a.result("Domains")])
        a.host = "www.example.org"
        self.assertEqual(a.request("GET", "/admin/").status, 404)

    def test_4_log_level_of_web_programs(self):
        """The web programs run inside localserve: a level set for one of
        them reaches that process within seconds, and its removal too."""
        env = self.first_env or self.env()
        conf = env["MAILSTEAD_CONF"]

        def cli(*args):
            r = subprocess.run([CLI, "-c", conf] + list(args), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, "%s: %s" % (args, r.stdout))

        def changed(frm, to):
            pat = re.compile(r"prog=mailstead-localserve .*ev=loglevel-changed from=%s to=%s"
                             % (frm, to))
            return lambda: pat.search(self.output() or "")

        cli("loglevel", "set", "webapi", "debug")
        try:
            self.assertTrue(harness.wait_for(changed("info", "debug"), 20), harness.tail(self.log, 20))
        finally:
            cli("loglevel", "remove", "webapi")
        self.assertTrue(harness.wait_for(changed("debug", "info"), 20), harness.tail(self.log, 20))

    def test_5_sigterm_stops_everything_then_resume(self):
        env = self.first_env or self.env()
        took = self.stop(15)
        self.assertIsNotNone(took, "localserve did not exit within 15 s of SIGTERM")
        self.assertEqual(self.proc.returncode, 0, "localserve exit status after SIGTERM")
        time.sleep(0.5)
        left = procs_mentioning(self.dir)
        self.assertEqual(left, [], "processes still running for the localserve dir")
        self.assertEqual(glob.glob(os.path.join(self.dir, "**", "postmaster.pid"), recursive=True), [],
                         "postgres did not shut down")
        for p in (self.smtp_port, self.imap_port, self.imaps_port, self.http_port):
            self.assertFalse(harness.port_open(p), "port %d still open" % p)

        type(self).start()
        env2 = self.env()
        self.assertEqual(env2["ACCOUNT"], env["ACCOUNT"])
        self.assertEqual(env2["PASSWORD"], env["PASSWORD"])
        target = LocalTarget(self.imap_port)
        for msg in self.sent:
            self.assertDelivered(target, msg, env["ACCOUNT"], env["PASSWORD"])
        self.assertEqual(self.inbox_count(env), 7)
        self.assertTrue(imap_login_ok("extra@" + env["ACCOUNT"].split("@", 1)[1], "extra-password",
                                      port=self.imap_port))
        took = self.stop(15)
        self.assertIsNotNone(took, "localserve did not exit within 15 s of SIGTERM (second run)")
        self.assertEqual(self.proc.returncode, 0, "localserve exit status after SIGTERM (second run)")
