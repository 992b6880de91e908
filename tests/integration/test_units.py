"""The systemd units of contrib/systemd as "make install" installs them:
systemd-analyze verify accepts them without a warning, the socket paths are
the ones nginx is configured for, and each ExecStart command line, run as
systemd would run it (the FastCGI programs with the listening socket as
standard input, StandardInput=socket), starts a program that serves,
reloads on ExecReload's SIGHUP and stops on SIGTERM.

No systemd runs in the test container (PID 1 is not systemd), so the units
are not started through systemctl; systemd-analyze verify works without it."""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import unittest

import harness
import webserver

SERVICES = ("smtpd", "imapd", "queued", "account", "admin", "webapi", "webmail")
SOCKETS = ("account", "admin", "webapi", "webmail")
DAEMONS = ("smtpd", "imapd", "queued")

SRV = None
DEST = None
UNITDIR = None
VARS = {}


def make_var(name):
    """A variable of the build's Makefile (configure's choice)."""
    r = subprocess.run(["make", "-s", "--no-print-directory", "-C", harness.TOP_BUILDDIR,
                        "-f", "Makefile", "-f", "-", "print-var"],
                       input="print-var:\n\t@echo 'var=$(%s)'\n" % name, capture_output=True,
                       text=True, check=True, env=clean_env())
    # Under "make check" the parent's MAKEFLAGS can still make this make
    # print "Entering directory" lines: take only the marked line.
    for line in r.stdout.splitlines():
        if line.startswith("var="):
            return line[4:].strip()
    raise harness.HarnessError("make printed no value for %s: %r" % (name, r.stdout))


def clean_env():
    """The environment without the parent make's flags and jobserver."""
    env = dict(os.environ)
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"):
        env.pop(k, None)
    return env


def unit_keys(path):
    """{(section, key): [values]} of a unit file."""
    keys, section = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            k, _, v = line.partition("=")
            keys.setdefault((section, k.strip()), []).append(v.strip())
    return keys


def setUpModule():
    global SRV, DEST, UNITDIR
    for v in ("sbindir", "sysconfdir", "systemdsystemunitdir"):
        VARS[v] = make_var(v)
    if not VARS["systemdsystemunitdir"] or VARS["systemdsystemunitdir"] == "no":
        raise unittest.SkipTest("configured --without-systemdsystemunitdir (no systemd.pc): "
                                "make install installs no units")
    DEST = tempfile.mkdtemp(prefix="mailstead-units-", dir="/tmp")
    r = subprocess.run(["make", "-C", harness.TOP_BUILDDIR, "install", "DESTDIR=" + DEST],
                       capture_output=True, text=True, env=clean_env())
    if r.returncode != 0:
        shutil.rmtree(DEST, ignore_errors=True)
        raise harness.HarnessError("make install failed:\n" + r.stdout[-3000:] + r.stderr[-3000:])
    UNITDIR = DEST + VARS["systemdsystemunitdir"]
    SRV = harness.Server("units", daemons=())
    SRV.extra_conf = webserver.web_conf(os.path.join(DEST, "unused-sockets"))
    SRV.start()
    SRV.write_conf()


def tearDownModule():
    if SRV:
        SRV.stop()
    if DEST:
        shutil.rmtree(DEST, ignore_errors=True)


def exec_start(name):
    """ExecStart of the installed unit as an argv list."""
    keys = unit_keys(os.path.join(UNITDIR, "mailstead-%s.service" % name))
    (line,) = keys[("Service", "ExecStart")]
    return line.split()


class TestInstalled(harness.TestCase):
    def test_all_units_installed(self):
        want = sorted(["mailstead-%s.service" % s for s in SERVICES] +
                      ["mailstead-%s.socket" % s for s in SOCKETS])
        self.assertEqual(sorted(os.listdir(UNITDIR)), want)

    def test_exec_start_names_installed_program_and_config(self):
        for name in SERVICES:
            argv = exec_start(name)
            self.assertEqual(argv, [os.path.join(VARS["sbindir"], "mailstead-" + name), "-c",
                                    os.path.join(VARS["sysconfdir"], "mailstead.conf")], name)
            self.assertTrue(os.access(DEST + argv[0], os.X_OK), argv[0])
            # No @var@ left unsubstituted anywhere.
            with open(os.path.join(UNITDIR, "mailstead-%s.service" % name)) as f:
                self.assertNotRegex(f.read(), r"@[a-z_]+@")

    def test_systemd_analyze_verify(self):
        tool = harness.require_tool("systemd-analyze", "systemd")
        # verify checks that ExecStart programs exist; they are under
        # DESTDIR here, so point copies of the units there.
        work = tempfile.mkdtemp(prefix="mailstead-verify-", dir="/tmp")
        try:
            paths = []
            for fn in sorted(os.listdir(UNITDIR)):
                with open(os.path.join(UNITDIR, fn)) as f:
                    text = f.read()
                text = text.replace("ExecStart=" + VARS["sbindir"], "ExecStart=" + DEST + VARS["sbindir"])
                p = os.path.join(work, fn)
                with open(p, "w") as f:
                    f.write(text)
                paths.append(p)
            r = subprocess.run([tool, "verify"] + paths, capture_output=True, text=True,
                               env=dict(os.environ, SYSTEMD_LOG_LEVEL="notice"), timeout=120)
            out = (r.stdout + r.stderr).strip()
            self.assertEqual(r.returncode, 0, out)
            # Unknown keys and bad values are only warnings: none allowed.
            self.assertEqual(out, "")
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def test_sockets_match_nginx(self):
        with open(webserver.LOCATIONS) as f:
            passes = set(re.findall(r"fastcgi_pass unix:(\S+);", f.read()))
        for name in SOCKETS:
            keys = unit_keys(os.path.join(UNITDIR, "mailstead-%s.socket" % name))
            self.assertEqual(keys[("Socket", "ListenStream")], ["/run/mailstead/%s.sock" % name])
            self.assertIn("/run/mailstead/%s.sock" % name, passes)
            # nginx (www-data) can connect, others cannot.
            self.assertEqual(keys[("Socket", "SocketGroup")], ["www-data"])
            self.assertEqual(keys[("Socket", "SocketMode")], ["0660"])
            svc = unit_keys(os.path.join(UNITDIR, "mailstead-%s.service" % name))
            self.assertEqual(svc[("Service", "StandardInput")], ["socket"])
            # Output must not go to the socket.
            self.assertEqual(svc[("Service", "StandardOutput")], ["journal"])

    def test_datadir_writable_under_protect_system(self):
        conf_datadir = None
        with open(os.path.join(harness.TOP_SRCDIR, "etc", "mailstead.conf.example")) as f:
            m = re.search(r"^datadir\s*=\s*(\S+)", f.read(), re.M)
            conf_datadir = m.group(1)
        for name in SERVICES:
            keys = unit_keys(os.path.join(UNITDIR, "mailstead-%s.service" % name))
            self.assertEqual(keys[("Service", "ProtectSystem")], ["strict"])
            self.assertEqual(keys[("Service", "ReadWritePaths")], ["-" + conf_datadir])


class TestExecStart(harness.TestCase):
    """Each ExecStart, with the configuration path pointed at the test's."""

    def argv(self, name):
        argv = exec_start(name)
        return [DEST + argv[0]] + [SRV.conf if a.endswith("/mailstead.conf") else a for a in argv[1:]]

    def stop(self, proc, name):
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            self.fail("%s ignored SIGTERM" % name)
        self.assertEqual(rc, 0, harness.tail(SRV.logpath(name)))

    def test_daemons(self):
        for name in DAEMONS:
            keys = unit_keys(os.path.join(UNITDIR, "mailstead-%s.service" % name))
            logf = open(SRV.logpath(name), "ab")
            proc = subprocess.Popen(self.argv(name), stdin=subprocess.DEVNULL, stdout=logf,
                                    stderr=subprocess.STDOUT, cwd=SRV.dir)
            logf.close()
            try:
                pat = re.compile(rb"ev=start\b")

                def started():
                    with open(SRV.logpath(name), "rb") as f:
                        return pat.search(f.read()) is not None
                harness.wait_for(lambda: proc.poll() is not None or started(), 30)
                # Type=simple: the started process itself keeps running.
                self.assertIsNone(proc.poll(), harness.tail(SRV.logpath(name)))
                if name in SRV.ports:
                    self.assertTrue(harness.wait_for(lambda: harness.port_open(SRV.ports[name]), 30))
                reload = keys.get(("Service", "ExecReload"))
                if reload:
                    self.assertEqual(reload, ["/bin/kill -HUP $MAINPID"])
                    proc.send_signal(signal.SIGHUP)
                    if name in SRV.ports:
                        with socket.create_connection(("127.0.0.1", SRV.ports[name]), 10) as s:
                            s.settimeout(10)
                            self.assertTrue(s.recv(100))
                    self.assertIsNone(proc.poll(), harness.tail(SRV.logpath(name)))
            finally:
                if proc.poll() is None:
                    self.stop(proc, name)

    def test_fcgi_socket_activation(self):
        requests = {
            "account": [(b"REQUEST_METHOD", b"GET"), (b"REQUEST_URI", b"/"),
                        (b"HTTP_HOST", b"localhost")],
            "admin": [(b"REQUEST_METHOD", b"POST"), (b"REQUEST_URI", b"/admin/api/Version"),
                      (b"HTTP_HOST", b"localhost"), (b"CONTENT_LENGTH", b"14")],
            "webapi": [(b"REQUEST_METHOD", b"GET"), (b"REQUEST_URI", b"/webapi/v0/"),
                       (b"HTTP_HOST", b"localhost")],
            "webmail": [(b"REQUEST_METHOD", b"GET"), (b"REQUEST_URI", b"/webmail/"),
                        (b"HTTP_HOST", b"localhost")],
        }
        for name in SOCKETS:
            # What systemd does for the .socket unit + StandardInput=socket.
            path = os.path.join(SRV.dir, "activated-%s.sock" % name)
            lsock = socket.socket(socket.AF_UNIX)
            lsock.bind(path)
            os.chmod(path, 0o666)
            lsock.listen(16)
            logf = open(SRV.logpath(name), "ab")
            proc = subprocess.Popen(self.argv(name), stdin=lsock.fileno(), stdout=logf,
                                    stderr=subprocess.STDOUT, cwd=SRV.dir)
            logf.close()
            lsock.close()
            try:
                body = b'{"params": []}' if name == "admin" else b""
                out = webserver.fcgi_exchange(path, webserver.fcgi_request(requests[name], body), 30)
                self.assertTrue(out.startswith(b"Status: "), (name, out[:200],
                                                               harness.tail(SRV.logpath(name))))
                if name == "account":
                    self.assertTrue(out.startswith(b"Status: 200"), out[:200])
                    self.assertIn(b"Mailstead account", out)
                if name == "admin":
                    self.assertTrue(out.startswith(b"Status: 200"), out[:200])
                    self.assertIn(b'"result":"mailstead ', out)
                if name == "webmail":
                    self.assertTrue(out.startswith(b"Status: 200"), out[:200])
                    self.assertIn(b"Mailstead webmail", out)
            finally:
                if proc.poll() is None:
                    self.stop(proc, name)


if __name__ == "__main__":
    unittest.main()
