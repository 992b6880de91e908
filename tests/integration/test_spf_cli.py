"""mailstead spf check: result words, details, the Received-SPF header and
exit statuses, with DNS answered from a test zone file (--dns-zone and
$MAILSTEAD_DNS_ZONE). Needs no database or daemons."""

import os
import shutil
import subprocess
import tempfile
import unittest

from harness import CLI

ZONE = """\
; mailstead spf check integration test zone
example.org. IN TXT "v=spf1 ip4:192.0.2.0/24 mx include:_spf.example.net ~all"
example.org. IN MX 10 mx.example.org.
mx.example.org. IN A 198.51.100.25
_spf.example.net. IN TXT "v=spf1 ip6:2001:db8::/32 -all"
hard.example.org. IN TXT "v=spf1 ip4:192.0.2.1 -all exp=why.example.org"
why.example.org. IN TXT "%{i} may not send for %{d}"
soft.example.org. IN TXT "v=spf1 ~all"
neutral.example.org. IN TXT "v=spf1 ?all"
empty.example.org. IN TXT "v=spf1"
broken.example.org. IN TXT "v=spf1 ip4:192.0.2.1/33 -all"
two.example.org. IN TXT "v=spf1 -all"
two.example.org. IN TXT "v=spf1 +all"
temp.example.org. IN TXT "v=spf1 a:down.example.org -all"
$SERVFAIL down.example.org
$SERVFAIL servfail.example.org
helo.example.net. IN TXT "v=spf1 a -all"
helo.example.net. IN A 203.0.113.5
$AUTHENTIC yes
secure.example.org. IN TXT "v=spf1 ip4:203.0.113.0/24 -all"
"""


class SpfCliTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if not os.access(CLI, os.X_OK):
            raise AssertionError("%s is not built" % CLI)
        cls.dir = tempfile.mkdtemp(prefix="spfcli")
        cls.zone = os.path.join(cls.dir, "zone")
        with open(cls.zone, "w") as f:
            f.write(ZONE)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def run_cli(self, *args, env=None, zone=True):
        argv = [CLI, "spf"] + list(args)
        if zone:
            argv += ["--dns-zone", self.zone]
        e = dict(os.environ)
        e.pop("MAILSTEAD_DNS_ZONE", None)
        if env:
            e.update(env)
        return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=60, env=e, cwd=self.dir)

    def check(self, ip, mailfrom, *rest, want=None):
        p = self.run_cli("check", ip, mailfrom, *rest)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.split("\n")
        fields = dict(l.split("=", 1) for l in lines[1:] if "=" in l and not l.startswith(("Received-SPF", "\t", " ")))
        if want is not None:
            self.assertEqual(lines[0], want, p.stdout)
        header = p.stdout[p.stdout.index("Received-SPF:"):]
        return lines[0], fields, header

    def test_pass(self):
        word, f, header = self.check("192.0.2.7", "alice@example.org", "mail.example.com", want="pass")
        self.assertEqual(f["mechanism"], "ip4:192.0.2.0/24")
        self.assertEqual(f["lookups"], "0")
        self.assertEqual(f["authentic"], "no")
        self.assertTrue(header.startswith("Received-SPF: pass ("))
        self.assertIn("client-ip=192.0.2.7;", header)
        self.assertIn('envelope-from="alice@example.org";', header)
        self.assertIn("helo=mail.example.com;", header)
        self.assertIn("identity=mailfrom", header)
        for line in header.split("\n"):
            self.assertLessEqual(len(line.expandtabs(8).rstrip("\r")), 78, header)
        # mx and include (IPv6) also pass, counting their lookups.
        _, f, _ = self.check("198.51.100.25", "example.org", want="pass")
        self.assertEqual((f["mechanism"], f["lookups"]), ("mx", "1"))
        _, f, _ = self.check("2001:db8::9", "bob@example.org", want="pass")
        self.assertEqual((f["mechanism"], f["lookups"]), ("include:_spf.example.net", "2"))
        # An IPv4-mapped client is the IPv4 client.
        self.check("::ffff:192.0.2.7", "alice@example.org", want="pass")

    def test_fail_with_explanation(self):
        _, f, header = self.check("192.0.2.99", "x@hard.example.org", want="fail")
        self.assertEqual(f["mechanism"], "-all")
        self.assertEqual(f["explanation"], "192.0.2.99 may not send for hard.example.org")
        self.assertTrue(header.startswith("Received-SPF: fail ("))

    def test_softfail_neutral_none(self):
        _, f, _ = self.check("203.0.113.1", "x@example.org", want="softfail")
        self.assertEqual(f["mechanism"], "~all")
        self.check("203.0.113.1", "x@soft.example.org", want="softfail")
        self.check("203.0.113.1", "x@neutral.example.org", want="neutral")
        _, f, _ = self.check("203.0.113.1", "x@empty.example.org", want="neutral")
        self.assertEqual(f["mechanism"], "default")
        _, f, header = self.check("203.0.113.1", "x@nospf.example.org", want="none")
        self.assertEqual(f["mechanism"], "")
        self.assertTrue(header.startswith("Received-SPF: none ("))

    def test_errors(self):
        _, f, header = self.check("192.0.2.1", "x@broken.example.org", want="permerror")
        self.assertNotEqual(f["problem"], "")
        self.assertIn("problem=", header)
        _, f, _ = self.check("192.0.2.1", "x@two.example.org", want="permerror")
        self.assertIn("2 SPF records", f["problem"])
        _, f, _ = self.check("192.0.2.1", "x@temp.example.org", want="temperror")
        self.assertIn("down.example.org", f["problem"])
        self.check("192.0.2.1", "x@servfail.example.org", want="temperror")

    def test_helo_identity_and_env_zone(self):
        # An empty MAIL FROM checks postmaster@HELO; the zone from the
        # environment.
        p = self.run_cli("check", "203.0.113.5", "", "helo.example.net", zone=False,
                         env={"MAILSTEAD_DNS_ZONE": self.zone})
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.split("\n")[0], "pass")
        self.assertIn("identity=helo", p.stdout)
        self.assertIn('envelope-from="postmaster@helo.example.net"', p.stdout)

    def test_authentic(self):
        _, f, _ = self.check("203.0.113.9", "x@secure.example.org", want="pass")
        self.assertEqual(f["authentic"], "yes")

    def test_usage_errors(self):
        for args in (["check"], ["check", "192.0.2.1"], ["check", "not-an-ip", "x@example.org"],
                     ["check", "192.0.2.1", "x@example.org", "helo", "extra"],
                     ["check", "192.0.2.1", "x@example.org", "--bogus"],
                     ["check", "192.0.2.1", "", ""], ["frobnicate"], []):
            p = self.run_cli(*args)
            self.assertEqual(p.returncode, 2, (args, p.stdout, p.stderr))
            self.assertEqual(p.stdout, "", args)
            self.assertIn("usage: mailstead spf", p.stderr, args)
        p = subprocess.run([CLI, "help", "spf"], stdout=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(p.returncode, 0)
        self.assertIn("Exit status", p.stdout)

    def test_internal_error(self):
        p = self.run_cli("check", "192.0.2.1", "x@example.org", "--dns-zone",
                         os.path.join(self.dir, "missing.zone"), zone=False)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("missing.zone", p.stderr)
        bad = os.path.join(self.dir, "bad.zone")
        with open(bad, "w") as f:
            f.write("$FROBNICATE yes\n")
        p = self.run_cli("check", "192.0.2.1", "x@example.org", "--dns-zone", bad, zone=False)
        self.assertEqual(p.returncode, 1, p.stdout)


if __name__ == "__main__":
    unittest.main()
