"""Log levels set at run time: the admin API (LogLevels, LogLevelSet,
LogLevelRemove) through nginx and `mailstead loglevel` store levels per
program that running smtpd and the FastCGI programs apply without a
restart; invalid programs and levels are refused; reading the levels costs
no query per request."""

import itertools
import re
import smtplib
import time
import unittest

import harness
import webserver
from webserver import WebClient

SRV = None
WEB = None
ADMIN_PASSWORD = "admin-password-1"
PROGRAMS = ("smtpd", "imapd", "queued", "admin", "account", "webmail", "webapi", "cli")
_verbs = itertools.count(100000)


class InfoServer(harness.Server):
    """The harness's server with [general] loglevel = info (the harness
    default is debug), so debug lines show only when set at run time."""

    def conf_text(self, **over):
        over.setdefault("general", {})["loglevel"] = "info"
        return super().conf_text(**over)


def setUpModule():
    global SRV, WEB
    SRV = InfoServer("loglevel", daemons=("smtpd",))
    WEB = webserver.start_stack(SRV, apps=("admin",), admin_password=ADMIN_PASSWORD,
                                login_failure_delay="0s")


def tearDownModule():
    webserver.stop_stack(SRV, WEB)


def log_text(name):
    with open(SRV.logpath(name), "rb") as f:
        return f.read().decode("utf-8", "replace")


def unknown_command():
    """Send smtpd an unknown command (logged at debug level only) and
    QUIT; once QUIT is answered the session has written its log lines.
    Returns the verb."""
    verb = "XLOG%d" % next(_verbs)
    s = smtplib.SMTP("127.0.0.1", SRV.ports["smtpd"], timeout=harness.TIMEOUT)
    try:
        code, _ = s.docmd(verb)
        assert code == 500, code
        s.quit()
    finally:
        s.close()
    return verb


def last_change(name):
    """The level of the last ev=loglevel-changed line in name's log (None:
    never changed, so the config file's)."""
    m = re.findall(r"ev=loglevel-changed from=\w+ to=(\w+)", log_text(name))
    return m[-1] if m else None


def debug_logged(verb):
    return re.search(r"level=debug .*ev=unknown-command verb=%s\b" % verb,
                     log_text("smtpd")) is not None


class Base(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = WebClient(WEB.port, "/admin/", source_ip=harness.fresh_ip())
        cls.c.login(ADMIN_PASSWORD)

    def tearDown(self):
        # Back to the config file's level in the running programs before
        # the next test looks at their logs.
        SRV.psql("DELETE FROM log_levels")
        for name in ("smtpd", "admin"):
            self.assertTrue(harness.wait_for(lambda: last_change(name) in (None, "info"), 30, 0.2),
                            name)

    def err(self, method, *params):
        r = self.c.api(method, *params)
        e = r.json().get("error", {})
        return r.status, e.get("code"), e.get("message", "")


class TestAdminAPI(Base):
    def test_set_smtpd_debug_then_remove(self):
        lv = self.c.result("LogLevels")
        self.assertEqual(lv["configured"], "info")
        self.assertEqual(lv["levels"], {})
        self.assertEqual(set(lv["effective"]), set(PROGRAMS) | {""})
        self.assertEqual(set(lv["effective"].values()), {"info"})
        # At info, smtpd does not log the unknown command.
        self.assertFalse(debug_logged(unknown_command()))

        self.assertIsNone(self.c.result("LogLevelSet", "smtpd", "debug"))
        lv = self.c.result("LogLevels")
        self.assertEqual(lv["levels"], {"smtpd": "debug"})
        self.assertEqual(lv["effective"]["smtpd"], "debug")
        self.assertEqual(lv["effective"]["imapd"], "info")
        self.assertEqual(lv["effective"][""], "info")
        # The running smtpd picks it up within seconds.
        ok = harness.wait_for(lambda: debug_logged(unknown_command()), 30, 0.3)
        self.assertTrue(ok, "smtpd did not start logging at debug:\n" +
                        harness.tail(SRV.logpath("smtpd")))
        self.assertEqual(last_change("smtpd"), "debug")

        self.assertIsNone(self.c.result("LogLevelRemove", "smtpd"))
        self.assertEqual(self.c.result("LogLevels")["levels"], {})
        ok = harness.wait_for(lambda: last_change("smtpd") == "info", 30, 0.3)
        self.assertTrue(ok, harness.tail(SRV.logpath("smtpd")))
        # From then on, no debug lines.
        for _ in range(3):
            self.assertFalse(debug_logged(unknown_command()))
        self.assertTrue(SRV.daemon_alive("smtpd"))

    def test_default_and_program_override(self):
        self.c.result("LogLevelSet", "", "debug")
        self.c.result("LogLevelSet", "imapd", "error")
        lv = self.c.result("LogLevels")
        self.assertEqual(lv["levels"], {"": "debug", "imapd": "error"})
        self.assertEqual(lv["effective"]["smtpd"], "debug")
        self.assertEqual(lv["effective"]["imapd"], "error")
        self.assertEqual(lv["effective"][""], "debug")
        # smtpd has no level of its own: the default applies to it, and to
        # the running admin FastCGI program too.
        ok = harness.wait_for(lambda: debug_logged(unknown_command()), 30, 0.3)
        self.assertTrue(ok, harness.tail(SRV.logpath("smtpd")))
        ok = harness.wait_for(lambda: last_change("admin") == "debug", 30, 0.3)
        self.assertTrue(ok, harness.tail(SRV.logpath("admin")))
        # Setting again replaces.
        self.c.result("LogLevelSet", "", "warn")
        self.assertEqual(self.c.result("LogLevels")["levels"][""], "warn")
        self.c.result("LogLevelRemove", "")
        self.c.result("LogLevelRemove", "imapd")
        lv = self.c.result("LogLevels")
        self.assertEqual(lv["levels"], {})
        self.assertEqual(lv["effective"]["smtpd"], "info")
        ok = harness.wait_for(lambda: last_change("admin") == "info", 30, 0.3)
        self.assertTrue(ok, harness.tail(SRV.logpath("admin")))

    def test_invalid_program_and_level(self):
        for params, word in ((("nosuch", "debug"), "unknown program"),
                             (("SMTPD", "debug"), "unknown program"),
                             (("mailstead-smtpd", "debug"), "unknown program"),
                             (("smtpd", "verbose"), "unknown log level"),
                             (("smtpd", "DEBUG"), "unknown log level"),
                             (("smtpd", ""), "unknown log level")):
            st, code, msg = self.err("LogLevelSet", *params)
            self.assertEqual((st, code), (400, "user:error"), params)
            self.assertIn(word, msg, params)
            self.assertIn("parameter %d" % (1 if "program" in word else 2), msg)
        st, code, msg = self.err("LogLevelRemove", "nosuch")
        self.assertEqual(code, "user:error")
        self.assertIn("unknown program", msg)
        st, code, msg = self.err("LogLevelRemove", "imapd")
        self.assertEqual(code, "user:notFound")
        st, code, _ = self.err("LogLevelSet", "smtpd", 5)
        self.assertEqual((st, code), (400, "user:badParams"))
        self.assertEqual(self.c.result("LogLevels")["levels"], {})


class TestCLI(Base):
    def rows(self):
        out = SRV.cli("loglevel", "list").stdout.splitlines()
        self.assertEqual(out[0], "program\tset\teffective")
        return {line.split("\t")[0]: line.split("\t")[1:] for line in out[1:]}

    def test_set_list_remove(self):
        rows = self.rows()
        self.assertEqual(set(rows), set(PROGRAMS) | {"default"})
        self.assertEqual(rows["smtpd"], ["-", "info"])
        self.assertEqual(rows["default"], ["-", "info"])
        SRV.cli("loglevel", "set", "queued", "debug")
        SRV.cli("loglevel", "set", "default", "warn")
        rows = self.rows()
        self.assertEqual(rows["queued"], ["debug", "debug"])
        self.assertEqual(rows["default"], ["warn", "warn"])
        self.assertEqual(rows["smtpd"], ["-", "warn"])
        # The admin API sees the same.
        self.assertEqual(self.c.result("LogLevels")["levels"], {"": "warn", "queued": "debug"})
        SRV.cli("loglevel", "remove", "queued")
        SRV.cli("loglevel", "remove", "default")
        rows = self.rows()
        self.assertEqual(rows["queued"], ["-", "info"])
        self.assertEqual(rows["default"], ["-", "info"])
        # list is the default subcommand.
        self.assertEqual(SRV.cli("loglevel").stdout, SRV.cli("loglevel", "list").stdout)

    def test_errors(self):
        r = SRV.cli("loglevel", "set", "nosuch", "debug", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("unknown program", r.stderr)
        r = SRV.cli("loglevel", "set", "smtpd", "loud", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("unknown log level", r.stderr)
        r = SRV.cli("loglevel", "remove", "imapd", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no log level set for imapd", r.stderr)
        for args in (("set", "smtpd"), ("remove",), ("frob",), ("list", "x")):
            r = SRV.cli("loglevel", *args, check=False)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn("usage: mailstead loglevel", r.stderr)
        self.assertEqual(self.c.result("LogLevels")["levels"], {})

    def test_cli_level_of_its_own(self):
        """The command logs at the "cli" level when one is set, and not at
        the daemons' default."""
        SRV.cli("loglevel", "set", "default", "debug")
        r = SRV.cli("loglevel", "list")
        self.assertNotIn("level=debug", r.stderr)
        SRV.cli("loglevel", "set", "cli", "debug")
        r = SRV.cli("loglevel", "list")
        self.assertIn("level=debug prog=mailstead ev=loglevel-applied program=cli level=debug",
                      r.stderr)


class TestCost(Base):
    def test_no_query_per_request(self):
        """Reading the levels is a periodic query per process, not one per
        request: 300 API calls add far fewer than 300 scans of log_levels."""
        def scans():
            rows = SRV.psql("SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0)"
                            " FROM pg_stat_user_tables WHERE relname = 'log_levels'")
            return int(rows[0][0])
        # Backends report their counters within about 10 s of going idle
        # (PostgreSQL 15), so both readings wait that long.
        time.sleep(11)
        before = scans()
        for _ in range(300):
            self.c.result("Version")
        time.sleep(11)
        delta = scans() - before
        # Two processes (smtpd, admin) poll every 2 s over ~25 s: ~25.
        self.assertGreater(delta, 0, "no process reads log_levels at all")
        self.assertLess(delta, 150, "scans of log_levels: %d" % delta)


if __name__ == "__main__":
    unittest.main()
