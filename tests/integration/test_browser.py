"""The web interfaces in a real browser: headless Chromium (Debian package
chromium) driven by playwright-core (tests/browser/web-flow.js) through
nginx in front of mailstead-admin and mailstead-account. The admin logs in,
adds a domain and an account in it and sets its password, looks at the
reports pages (stored DMARC and TLS reports, an evaluation), suppresses a
reporting address and removes the evaluations; the account
logs in, changes its password, and logs in again with the new one. Each
page is screenshot into <builddir>/tests/browser/screenshots.

playwright-core (a pinned version, no bundled browsers) is installed from
the npm registry into <builddir>/tests/browser on first use. Missing
chromium, node or npm is a failure, not a skip (CI installs them with
contrib/install-deps-debian.sh)."""

import glob
import json
import os
import subprocess
import time

import harness
import webserver
from webserver import WebClient

# The newest release that supports Node 18 (Debian 12's nodejs); 1.62 needs 20.
PLAYWRIGHT_VERSION = "1.61.1"
SCRIPT = os.path.join(harness.TOP_SRCDIR, "tests", "browser", "web-flow.js")
NODE_DIR = os.path.join(harness.TOP_BUILDDIR, "tests", "browser")
SHOTS = os.path.join(NODE_DIR, "screenshots")
ADMIN_PASSWORD = "admin-password-browser-7"
DOMAIN = "browser.example"
ADDRESS = "carol@browser.example"
PW1 = "first-Password-71"
PW2 = "second-Password-72"
SUPPRESS = "dmarc-reports@bounces.example"
# The stored reports are of a day before the reports page's default
# period (the last 30 days), so it first shows them as not received.
REPORT_T0 = (int(time.time()) // 86400 - 60) * 86400

SRV = None
WEB = None


def playwright_core():
    """The path of the pinned playwright-core in the build directory,
    installed with npm when missing or of another version."""
    pkg = os.path.join(NODE_DIR, "node_modules", "playwright-core")
    try:
        with open(os.path.join(pkg, "package.json")) as f:
            if json.load(f).get("version") == PLAYWRIGHT_VERSION:
                return pkg
    except (OSError, ValueError):
        pass
    npm = harness.require_tool("npm", "npm")
    os.makedirs(NODE_DIR, exist_ok=True)
    env = dict(os.environ, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1")
    r = subprocess.run([npm, "install", "--prefix", NODE_DIR, "--no-audit", "--no-fund",
                        "--no-save", "playwright-core@" + PLAYWRIGHT_VERSION],
                       env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=300)
    if r.returncode != 0 or not os.path.exists(os.path.join(pkg, "package.json")):
        raise harness.HarnessError("npm install playwright-core@%s failed (exit %d):\n%s%s" % (
            PLAYWRIGHT_VERSION, r.returncode, r.stdout[-2000:], r.stderr[-2000:]))
    return pkg


def store_reports():
    """A DMARC and a TLS report through lib/reports (the reports-add test
    tool), and one DMARC evaluation as smtpd stores it."""
    tool = os.path.join(harness.TOP_BUILDDIR, "tests", "integration", "reports-add")
    dmarc = {"kind": "dmarc", "fromDomain": "google.example", "report": {
        "report_metadata": {"org_name": "google.example", "email": "noreply@google.example",
                            "report_id": "b-1",
                            "date_range": {"begin": REPORT_T0, "end": REPORT_T0 + 86399}},
        "policy_published": {"domain": DOMAIN, "p": "reject", "pct": 100},
        "record": [{"row": {"source_ip": "192.0.2.1", "count": 12,
                            "policy_evaluated": {"disposition": "none", "dkim": "pass",
                                                 "spf": "pass"}},
                    "identifiers": {"header_from": DOMAIN},
                    "auth_results": {"dkim": [{"domain": DOMAIN, "result": "pass"}],
                                     "spf": [{"domain": DOMAIN, "result": "pass"}]}}]}}
    tls = {"kind": "tls", "report": {
        "organization-name": "Microsoft Corporation", "report-id": "b-2",
        "date-range": {"start-datetime": REPORT_T0, "end-datetime": REPORT_T0 + 86399},
        "policies": [{"policy": {"policy-type": "sts", "policy-domain": DOMAIN},
                      "summary": {"total-successful-session-count": 20,
                                  "total-failure-session-count": 2},
                      "failure-details": [{"result-type": "certificate-expired",
                                           "failed-session-count": 2}]}]}}
    for doc in (dmarc, tls):
        subprocess.run([tool, SRV.pg.conninfo()], input=json.dumps(doc), text=True,
                       capture_output=True, check=True, timeout=60)
    SRV.psql("INSERT INTO dmarc_evaluations (policy_domain, interval_hours, addresses,"
             " policy_published, source_ip, disposition, aligned_dkim_pass, aligned_spf_pass,"
             " envelope_to, envelope_from, header_from, dkim_results, spf_results)"
             " VALUES ('other.example', 24, '{mailto:d@other.example}', '{}', '198.51.100.9',"
             " 'reject', false, false, '%s', 'other.example', 'other.example', '[]', '[]')"
             % DOMAIN)


def setUpModule():
    global SRV, WEB
    SRV = harness.Server("browser", daemons=(), tls=True)
    WEB = webserver.start_stack(SRV, admin_password=ADMIN_PASSWORD,
                                prepare=lambda srv: store_reports(), login_failure_delay="0s")


def tearDownModule():
    webserver.stop_stack(SRV, WEB)


class TestBrowser(harness.TestCase):
    def test_admin_and_account_flow(self):
        node = harness.require_tool("node", "nodejs")
        chromium = harness.require_tool("chromium", "chromium")
        pkg = playwright_core()
        os.makedirs(SHOTS, exist_ok=True)
        for old in glob.glob(os.path.join(SHOTS, "*.png")):
            os.unlink(old)
        env = dict(os.environ, MS_BASE="http://127.0.0.1:%d" % WEB.port,
                   MS_ADMIN_PW=ADMIN_PASSWORD, MS_DOMAIN=DOMAIN, MS_ADDRESS=ADDRESS,
                   MS_PW1=PW1, MS_PW2=PW2, MS_SHOTS=SHOTS, PLAYWRIGHT_CORE=pkg,
                   MS_REPORT_DAY=time.strftime("%Y-%m-%d", time.gmtime(REPORT_T0)),
                   MS_SUPPRESS=SUPPRESS,
                   CHROMIUM=chromium)
        r = subprocess.run([node, SCRIPT], env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=240)
        if r.returncode != 0:
            self.fail("web-flow.js exit %d:\n%s\n%s\n==== web logs ====\n%s" % (
                r.returncode, r.stdout, r.stderr, WEB.log_tails()))
        result = json.loads(r.stdout.strip().splitlines()[-1])
        self.assertTrue(result["ok"])
        name = result["account"]

        # The browser's actions took effect on the server.
        self.assertEqual(SRV.psql("SELECT count(*) FROM domains WHERE name = '%s'" % DOMAIN), [["1"]])
        acct = WebClient(WEB.port, "/", source_ip=harness.fresh_ip())
        acct.login(PW2, ADDRESS)
        self.assertEqual(acct.result("Account")["name"], name)
        old = WebClient(WEB.port, "/", source_ip=harness.fresh_ip())
        tok = old.result("LoginPrep")
        j = old.api("Login", tok, ADDRESS, PW1, csrf=False).json()
        self.assertIn("error", j, "the old password still logs in")
        self.assertEqual(j["error"]["code"], "user:loginFailed")

        # The reports pages' changes: the suppression added, the
        # evaluations removed.
        self.assertEqual(SRV.psql("SELECT kind, comment FROM report_suppressions"
                                  " WHERE reporting_address = '%s'" % SUPPRESS),
                         [["dmarc", "bounces"]])
        self.assertEqual(SRV.psql("SELECT count(*) FROM dmarc_evaluations"), [["0"]])

        # A PNG per page visited: admin login, domains, domain, accounts,
        # account, password set, reports empty, reports, DMARC report, TLS
        # report, evaluations, system with a log level; account login,
        # account, password changed, old password refused, login again.
        pngs = sorted(glob.glob(os.path.join(SHOTS, "*.png")))
        self.assertEqual(len(pngs), 17, pngs)
        self.assertEqual(result["screenshots"], 17)
        for p in pngs:
            with open(p, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n", p)
            self.assertGreater(os.path.getsize(p), 1000, p)


if __name__ == "__main__":
    import unittest
    unittest.main()
