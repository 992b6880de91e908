"""The admin web interface (mailstead-admin behind a real nginx, see
webserver.py): every JSON API method called with python http.client and
its effect checked in the database or with the mailstead command; every
method refused without a session (user:noAuth) and with a wrong parameter
type or count (400 user:badParams naming the parameter); the page and its
assets under a strict CSP."""

import hashlib
import json
import os
import re
import subprocess

import harness
import webserver
from harness import DOMAIN, PASSWORD, USER, unique
from webserver import WebClient, error_of

SRV = None
WEB = None
ADMIN_PASSWORD = "admin-password-9"


def setUpModule():
    global SRV, WEB
    # smtpd only to store a message for an account removal; no queued, so
    # queued messages stay put.
    SRV = harness.Server("webadmin", daemons=("smtpd",), tls=True)
    WEB = webserver.start_stack(SRV, admin_password=ADMIN_PASSWORD, login_failure_delay="0s")


def tearDownModule():
    webserver.stop_stack(SRV, WEB)


def sql(query, **params):
    return SRV.psql(query, **params)


def sql1(query, **params):
    rows = sql(query, **params)
    return rows[0][0] if rows else None


# Every admin method with parameters of the right types (values need not
# exist: the session check comes first).
METHODS = {
    "LoginAttempts": [("limit", 10)],
    "Domains": [],
    "Domain": [("domain", "x.example")],
    "DomainAdd": [("domain", "x.example"), ("accountLocalpart", "")],
    "DomainRemove": [("domain", "x.example")],
    "DomainDisabledSave": [("domain", "x.example"), ("disabled", True)],
    "DomainReportsOnlySave": [("domain", "x.example"), ("reportsOnly", True)],
    "DomainDescriptionSave": [("domain", "x.example"), ("description", "d")],
    "DomainClientSettingsDomainSave": [("domain", "x.example"),
                                       ("clientSettingsDomain", "mail.x.example")],
    "DomainLocalpartConfigSave": [("domain", "x.example"), ("catchallSeparators", "+"),
                                  ("caseSensitive", False)],
    "DomainDMARCAddressSave": [("domain", "x.example"), ("localpart", "dmarc")],
    "DomainTLSRPTAddressSave": [("domain", "x.example"), ("localpart", "tls")],
    "DomainMTASTSSave": [("domain", "x.example"), ("mode", "enforce"), ("maxAge", 86400),
                         ("mx", ["mx.x.example"])],
    "DomainDKIMAdd": [("domain", "x.example"), ("selector", "s1"), ("algorithm", "ed25519"),
                      ("headers", []), ("expirationSeconds", 0), ("oversign", True),
                      ("sign", True)],
    "DomainDKIMRemove": [("domain", "x.example"), ("selector", "s1")],
    "DomainDKIMSignSave": [("domain", "x.example"), ("selector", "s1"), ("sign", False)],
    "DomainRecords": [("domain", "x.example")],
    "DomainCheck": [("domain", "x.example")],
    "Accounts": [],
    "Account": [("account", "a@x.example")],
    "AccountAdd": [("address", "a@x.example")],
    "AccountRemove": [("account", "a@x.example")],
    "SetPassword": [("account", "a@x.example"), ("password", "password-123")],
    "AccountLoginDisabledSave": [("account", "a@x.example"), ("message", "")],
    "AccountSettingsSave": [("account", "a@x.example"), ("maxOutgoingMessagesPerDay", 1),
                            ("maxFirstTimeRecipientsPerDay", 1), ("quotaMessageSize", 0)],
    "AccountFullNameSave": [("account", "a@x.example"), ("fullName", "A")],
    "AddressAdd": [("address", "b@x.example"), ("account", "a@x.example")],
    "AddressRemove": [("address", "b@x.example")],
    "AddressSettingSave": [("address", "b@x.example"), ("setting", "mailbox"), ("value", "X")],
    "Rulesets": [("address", "a@x.example")],
    "RulesetAdd": [("address", "a@x.example"), ("ruleset", {"mailbox": "X"})],
    "RulesetRemove": [("address", "a@x.example"), ("position", 1)],
    "Aliases": [("domain", "")],
    "AliasAdd": [("alias", "l@x.example"), ("members", ["a@x.example"]), ("postPublic", True),
                 ("listMembers", True), ("allowMsgFrom", True)],
    "AliasUpdate": [("alias", "l@x.example"), ("postPublic", True), ("listMembers", True),
                    ("allowMsgFrom", True)],
    "AliasRemove": [("alias", "l@x.example")],
    "AliasAddressesAdd": [("alias", "l@x.example"), ("members", ["a@x.example"])],
    "AliasAddressesRemove": [("alias", "l@x.example"), ("members", ["a@x.example"])],
    "TLSPublicKeys": [("account", "")],
    "TLSPublicKeyRemove": [("fingerprint", "x")],
    "AccountWebhookSave": [("account", "a@x.example"), ("kind", "outgoing"), ("url", ""),
                           ("authorization", ""), ("events", [])],
    "AccountKeepRetiredSave": [("account", "a@x.example"), ("messageSeconds", 0),
                               ("webhookSeconds", 0)],
    "Suppressions": [("account", "")],
    "SuppressionAdd": [("account", "a@x.example"), ("address", "b@y.example"), ("reason", "")],
    "SuppressionRemove": [("account", "a@x.example"), ("address", "b@y.example")],
    "QueueList": [("filter", {}), ("offset", 0), ("limit", 10)],
    "QueueHoldSet": [("ids", [1]), ("hold", True)],
    "QueueNextAttemptSet": [("ids", [1]), ("minutes", 0)],
    "QueueNextAttemptAdd": [("ids", [1]), ("minutes", 5)],
    "QueueFail": [("ids", [1])],
    "QueueDrop": [("ids", [1])],
    "QueueRequireTLSSet": [("ids", [1]), ("requireTLS", "yes")],
    "QueueTransportSet": [("ids", [1]), ("transport", "")],
    "QueueHoldRuleList": [],
    "QueueHoldRuleAdd": [("account", ""), ("senderDomain", ""), ("recipientDomain", "")],
    "QueueHoldRuleRemove": [("id", 1)],
    "RetiredList": [("account", ""), ("limit", 10)],
    "HookList": [("account", ""), ("limit", 10)],
    "HookRetiredList": [("account", ""), ("limit", 10)],
    "HookNextAttemptSet": [("ids", [1]), ("minutes", 0)],
    "HookCancel": [("ids", [1])],
    "QueueSize": [],
    "HookQueueSize": [],
    "HookNextAttemptAdd": [("ids", [1]), ("minutes", 5)],
    "RouteList": [],
    "RouteAdd": [("account", ""), ("domain", ""), ("fromDomains", []), ("toDomains", []),
                 ("minAttempts", 0), ("transport", "direct")],
    "RouteRemove": [("id", 1)],
    "DMARCReports": [("start", 0), ("end", 5), ("domain", ""), ("offset", 0), ("limit", 10)],
    "DMARCReportID": [("domain", "x.example"), ("reportID", 1)],
    "DMARCSummaries": [("start", 0), ("end", 5), ("domain", "")],
    "TLSReports": [("start", 0), ("end", 5), ("policyDomain", ""), ("offset", 0),
                   ("limit", 10)],
    "TLSReportID": [("domain", "x.example"), ("reportID", 1)],
    "TLSRPTSummaries": [("start", 0), ("end", 5), ("policyDomain", "")],
    "DMARCEvaluationStats": [],
    "DMARCEvaluationsDomain": [("domain", "x.example"), ("start", 0), ("end", 5),
                               ("offset", 0), ("limit", 10)],
    "DMARCRemoveEvaluations": [("domain", "x.example")],
    "DMARCSuppressAdd": [("reportingAddress", "r@x.example"), ("until", 2000000000),
                         ("comment", "")],
    "DMARCSuppressList": [],
    "DMARCSuppressRemove": [("id", 1)],
    "DMARCSuppressExtend": [("id", 1), ("until", 2000000000)],
    "TLSRPTResults": [("start", 0), ("end", 5), ("offset", 0), ("limit", 10)],
    "TLSRPTResultsDomain": [("isRcptDom", False), ("domain", "x.example")],
    "TLSRPTRemoveResults": [("isRcptDom", False), ("domain", "x.example"), ("day", "")],
    "TLSRPTSuppressAdd": [("reportingAddress", "r@x.example"), ("until", 2000000000),
                          ("comment", "")],
    "TLSRPTSuppressList": [],
    "TLSRPTSuppressRemove": [("id", 1)],
    "TLSRPTSuppressExtend": [("id", 1), ("until", 2000000000)],
    "Transports": [],
    "LogLevels": [],
    "LogLevelSet": [("program", "smtpd"), ("level", "debug")],
    "LogLevelRemove": [("program", "smtpd")],
}


def wrong_value(v):
    """A value of another JSON type than v."""
    if isinstance(v, bool):
        return "yes"
    if isinstance(v, int):
        return "1"
    if isinstance(v, str):
        return 5
    if isinstance(v, list):
        return ["x", 1] if not v or not isinstance(v[0], str) else [1]
    return []


class Base(harness.TestCase):
    def run(self, result=None):
        before = len(result.failures) + len(result.errors) if result else 0
        out = super().run(result)
        if result and len(result.failures) + len(result.errors) > before and WEB:
            import sys
            sys.stderr.write("\n==== web logs ====\n%s\n" % WEB.log_tails())
        return out

    def setUp(self):
        self.c = WebClient(WEB.port, "/admin/", source_ip=harness.fresh_ip())
        self.c.login(ADMIN_PASSWORD)

    def ok(self, method, *params):
        return self.c.result(method, *params)

    def err(self, method, *params):
        r = self.c.api(method, *params)
        code, msg = error_of(r)
        self.assertIsNotNone(code, "%s%r succeeded: %r" % (method, params, r.json()))
        return r.status, code, msg

    def new_domain(self, account="boss"):
        d = "%s.example" % unique("adm")
        self.assertIsNone(self.ok("DomainAdd", d, account))
        return d


class TestParams(Base):
    def test_every_method_needs_a_session(self):
        anon = WebClient(WEB.port, "/admin/", source_ip=harness.fresh_ip())
        for name, params in METHODS.items():
            r = anon.api(name, *[v for _, v in params])
            self.assertEqual(r.status, 403, name)
            self.assertEqual(error_of(r)[0], "user:noAuth", name)
        # An account session is no admin session.
        acct = WebClient(WEB.port, "/", source_ip=harness.fresh_ip())
        acct.login(PASSWORD, USER)
        anon.cookies["webadminsession"] = acct.cookies["webaccountsession"]
        anon.csrf = acct.csrf
        self.assertEqual(error_of(anon.api("Domains"))[0], "user:badAuth")

    def test_wrong_types_and_counts_name_the_parameter(self):
        for name, params in METHODS.items():
            for i, (pname, v) in enumerate(params):
                vals = [v for _, v in params]
                vals[i] = wrong_value(v)
                r = self.c.api(name, *vals)
                self.assertEqual(r.status, 400, "%s %s" % (name, pname))
                code, msg = error_of(r)
                self.assertEqual(code, "user:badParams", "%s %s" % (name, pname))
                self.assertIn("parameter %d (%s)" % (i + 1, pname), msg)
            r = self.c.api(name, *([v for _, v in params] + [1]))
            self.assertEqual((r.status, error_of(r)[0]), (400, "user:badParams"), name)
            self.assertIn("takes %d parameter" % len(params), error_of(r)[1])
            if params:
                r = self.c.api(name)
                self.assertEqual((r.status, error_of(r)[0]), (400, "user:badParams"), name)
        # Integers too large for int64 and fractions are refused, not cut.
        r = self.c.api("QueueHoldSet", [10 ** 30], True)
        self.assertEqual(error_of(r)[0], "user:badParams")
        r = self.c.api("QueueList", {}, 1.5, 10)
        self.assertEqual(error_of(r)[0], "user:badParams")
        # A mistyped filter field is named too.
        st, code, msg = self.err("QueueList", {"hold": "yes"}, 0, 10)
        self.assertEqual((st, code), (400, "user:badParams"))
        self.assertIn("hold", msg)


class TestDomains(Base):
    def test_add_with_dkim_and_account_then_remove(self):
        d = self.new_domain("boss")
        self.assertEqual(sql1("SELECT count(*) FROM domains WHERE name = :'d'", d=d), "1")
        algos = sql("SELECT s.algorithm, s.sign FROM dkim_selectors s JOIN domains d"
                    " ON d.id = s.domain_id WHERE d.name = :'d' ORDER BY 1", d=d)
        self.assertEqual(algos, [["ed25519", "t"], ["rsa", "t"]])
        self.assertIn("boss@" + d, SRV.cli("account", "list").stdout.split())
        listed = {x["name"]: x for x in self.ok("Domains")}
        self.assertEqual(listed[d]["accounts"], 1)
        self.assertEqual(listed[d]["dkimSelectors"], 2)
        info = self.ok("Domain", d)
        self.assertEqual(info["accounts"], ["boss@" + d])
        self.assertEqual([a["localpart"] for a in info["addresses"]], ["boss"])
        self.assertEqual(sorted(k["algorithm"] for k in info["dkim"]), ["ed25519", "rsa"])
        self.assertTrue(all(k["txt"].startswith("v=DKIM1;") for k in info["dkim"]))
        # The CLI sees the same keys.
        for k in info["dkim"]:
            self.assertIn(k["selector"], SRV.cli("dkim", "list", d).stdout)
        # Adding it again fails; bad names are refused naming the parameter.
        self.assertEqual(self.err("DomainAdd", d, "")[1], "user:error")
        st, code, msg = self.err("DomainAdd", "bad domain!", "")
        self.assertEqual((st, code), (400, "user:error"))
        self.assertIn("parameter 1", msg)
        st, code, msg = self.err("DomainAdd", "ok-%s" % d, "a b")
        self.assertIn("parameter 2 (accountLocalpart)", msg)
        self.assertEqual(sql1("SELECT count(*) FROM domains WHERE name = :'d'", d="ok-" + d), "0")
        self.assertEqual(self.err("Domain", "nonexistent.example")[:2], (404, "user:notFound"))
        # Removal is refused while the account exists.
        st, code, msg = self.err("DomainRemove", d)
        self.assertEqual(code, "user:error")
        self.assertIn("boss@" + d, msg)
        self.assertIsNone(self.ok("AccountRemove", "boss@" + d))
        self.assertIsNone(self.ok("DomainRemove", d))
        self.assertEqual(sql1("SELECT count(*) FROM domains WHERE name = :'d'", d=d), "0")
        self.assertEqual(sql1("SELECT count(*) FROM dkim_selectors s WHERE NOT EXISTS"
                              " (SELECT 1 FROM domains d WHERE d.id = s.domain_id)"), "0")
        self.assertNotIn(d, SRV.cli("domain", "list").stdout.split())

    def test_settings(self):
        d = self.new_domain("")
        self.ok("DomainDisabledSave", d, True)
        self.ok("DomainReportsOnlySave", d, True)
        self.ok("DomainDescriptionSave", d, "the test domain")
        self.ok("DomainClientSettingsDomainSave", d, "Mail.%s" % d)
        self.ok("DomainLocalpartConfigSave", d, "+-", True)
        row = sql("SELECT disabled, reports_only, description, client_settings_domain,"
                  " localpart_catchall_separators, localpart_case_sensitive FROM domains"
                  " WHERE name = :'d'", d=d)[0]
        self.assertEqual(row, ["t", "t", "the test domain", "mail.%s" % d, "+-", "t"])
        info = self.ok("Domain", d)
        self.assertEqual((info["disabled"], info["reportsOnly"], info["catchallSeparators"],
                          info["localpartCaseSensitive"], info["clientSettingsDomain"]),
                         (True, True, "+-", True, "mail.%s" % d))
        self.ok("DomainDisabledSave", d, False)
        self.ok("DomainLocalpartConfigSave", d, "", False)
        self.ok("DomainClientSettingsDomainSave", d, "")
        row = sql("SELECT disabled, localpart_catchall_separators, localpart_case_sensitive,"
                  " client_settings_domain IS NULL FROM domains WHERE name = :'d'", d=d)[0]
        self.assertEqual(row, ["f", "", "f", "t"])
        # Bad values are refused with the reason and change nothing.
        self.assertEqual(self.err("DomainClientSettingsDomainSave", d, "no dots here!")[1],
                         "user:error")
        self.assertEqual(self.err("DomainDescriptionSave", d, "two\nlines")[1], "user:error")
        self.assertEqual(self.err("DomainDisabledSave", "unknown.example", True)[1], "user:error")
        self.assertEqual(sql1("SELECT description FROM domains WHERE name = :'d'", d=d),
                         "the test domain")
        # The CLI changes the same settings, and the API shows them.
        SRV.cli("domain", "set", d, "description", "from the cli")
        self.assertEqual(self.ok("Domain", d)["description"], "from the cli")

    def test_report_and_mtasts_settings_change_the_records(self):
        d = self.new_domain("")
        recs = self.ok("DomainRecords", d)
        zones = [r["zone"] for r in recs["records"]]
        self.assertIn('_dmarc.%s. IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc-reports@%s!10m"'
                      % (d, d), zones)
        # The same records as "mailstead dns records".
        cli = [l for l in SRV.cli("dns", "records", d).stdout.splitlines()
               if l and not l.startswith(";")]
        self.assertEqual(zones, cli)
        self.ok("DomainDMARCAddressSave", d, "dmarc")
        self.ok("DomainTLSRPTAddressSave", d, "")
        self.ok("DomainMTASTSSave", d, "testing", 3600, ["mx1.%s" % d, "*.mx.%s" % d])
        self.assertEqual(sql("SELECT dmarc_localpart, tlsrpt_localpart, mtasts_mode,"
                             " mtasts_max_age, array_to_string(mtasts_mx, ',') FROM domains"
                             " WHERE name = :'d'", d=d)[0],
                         ["dmarc", "", "testing", "3600", "mx1.%s,*.mx.%s" % (d, d)])
        zones2 = [r["zone"] for r in self.ok("DomainRecords", d)["records"]]
        self.assertIn('_dmarc.%s. IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@%s!10m"' % (d, d),
                      zones2)
        self.assertFalse(any(z.startswith("_smtp._tls.") for z in zones2))
        sts = [z for z in zones2 if z.startswith("_mta-sts.")]
        old = [z for z in zones if z.startswith("_mta-sts.")]
        self.assertEqual(len(sts), 1)
        self.assertNotEqual(sts, old, "the policy id did not change with the policy")
        info = self.ok("Domain", d)
        self.assertEqual(info["mtastsMX"], ["mx1.%s" % d, "*.mx.%s" % d])
        # The policy served at mta-sts.<domain> is the one whose hash is
        # the record's id.
        want = "version: STSv1\r\nmode: testing\r\nmx: mx1.%s\r\nmx: *.mx.%s\r\nmax_age: 3600\r\n" % (d, d)
        self.assertEqual(info["mtastsPolicy"], want)
        web = WebClient(WEB.port, "/", host="mta-sts." + d)
        r = web.request("GET", "/.well-known/mta-sts.txt")
        self.assertEqual((r.status, r.body.decode()), (200, want))
        self.assertEqual(sts[0], '_mta-sts.%s. IN TXT "v=STSv1; id=%s"'
                         % (d, hashlib.sha256(want.encode()).hexdigest()[:16]))
        # "default" and 0 fall back to [web] mtasts_mode / mtasts_max_age.
        self.ok("DomainMTASTSSave", d, "default", 0, [])
        self.assertEqual(sql("SELECT mtasts_mode IS NULL, mtasts_max_age IS NULL FROM domains"
                             " WHERE name = :'d'", d=d)[0], ["t", "t"])
        info = self.ok("Domain", d)
        self.assertEqual((info["mtastsMode"], info["mtastsMaxAge"]), ("default", 0))
        self.assertEqual(info["mtastsPolicy"], "version: STSv1\r\nmode: enforce\r\nmx: %s\r\n"
                         "max_age: 86400\r\n" % harness.HOSTNAME)
        self.assertEqual(web.request("GET", "/.well-known/mta-sts.txt").body.decode(),
                         info["mtastsPolicy"])
        # Mode "" publishes no MTA-STS and serves no policy.
        self.ok("DomainMTASTSSave", d, "", 86400, [])
        zones3 = [r["zone"] for r in self.ok("DomainRecords", d)["records"]]
        self.assertFalse(any("mta-sts" in z for z in zones3))
        self.assertEqual(web.request("GET", "/.well-known/mta-sts.txt").status, 404)
        self.assertEqual(self.ok("Domain", d)["mtastsPolicy"], "")
        for args in (("bogus", 3600, []), ("enforce", -1, []), ("enforce", 3600, ["bad host!"]),
                     ("enforce", 3600, ["a,b"])):
            self.assertEqual(self.err("DomainMTASTSSave", d, *args)[1], "user:error", args)
        self.assertEqual(self.err("DomainDMARCAddressSave", d, "a@b")[1], "user:error")
        self.assertEqual(self.err("DomainRecords", "nonexistent.example")[:2],
                         (404, "user:notFound"))

    def test_dkim_selectors(self):
        d = self.new_domain("")
        txt = self.ok("DomainDKIMAdd", d, "extra", "ed25519", ["Subject", "To"], 3600, False,
                      False)
        self.assertTrue(txt.startswith("v=DKIM1; k=ed25519; p="), txt)
        row = sql("SELECT s.algorithm, array_to_string(s.headers, ','), s.oversign, s.sign,"
                  " s.expiration_seconds FROM dkim_selectors s JOIN domains d"
                  " ON d.id = s.domain_id WHERE d.name = :'d' AND s.selector = 'extra'", d=d)
        self.assertEqual(row, [["ed25519", "subject,to,from", "f", "f", "3600"]])
        self.ok("DomainDKIMSignSave", d, "extra", True)
        self.assertEqual(sql1("SELECT s.sign FROM dkim_selectors s JOIN domains d"
                              " ON d.id = s.domain_id WHERE d.name = :'d'"
                              " AND s.selector = 'extra'", d=d), "t")
        recs = [r for r in self.ok("DomainRecords", d)["records"]
                if r["name"] == "extra._domainkey.%s" % d]
        self.assertEqual([r["value"] for r in recs], [txt])
        self.assertEqual(self.err("DomainDKIMAdd", d, "extra", "ed25519", [], 0, True, True)[1],
                         "user:error")
        for args in (("bad/sel", "rsa"), ("s2", "dsa")):
            self.assertEqual(self.err("DomainDKIMAdd", d, args[0], args[1], [], 0, True,
                                      True)[1], "user:error")
        self.ok("DomainDKIMRemove", d, "extra")
        self.assertNotIn("extra", SRV.cli("dkim", "list", d).stdout)
        self.assertEqual(self.err("DomainDKIMRemove", d, "extra")[:2], (404, "user:notFound"))
        self.assertEqual(self.err("DomainDKIMSignSave", d, "extra", True)[:2],
                         (404, "user:notFound"))

    def test_dns_check(self):
        d = self.new_domain("")
        recs = self.ok("DomainRecords", d)["records"]
        zone = "\n".join(r["zone"] for r in recs) + "\n"
        SRV.write_zone(zone)
        try:
            res = self.ok("DomainCheck", d)
            self.assertTrue(res["ok"], res)
            self.assertTrue(all(r["state"] == "ok" for r in res["records"]), res)
            # Without the MX and with another DMARC policy it fails.
            changed = "\n".join(r["zone"].replace("p=reject", "p=none") for r in recs
                                if r["type"] != "MX") + "\n"
            SRV.write_zone(changed)
            res = self.ok("DomainCheck", d)
            self.assertFalse(res["ok"])
            states = {(r["name"], r["type"]): r for r in res["records"]}
            self.assertEqual(states[(d, "MX")]["state"], "missing")
            dm = states[("_dmarc." + d, "TXT")]
            self.assertEqual(dm["state"], "different")
            self.assertIn("p=none", dm["found"])
            # The CLI agrees.
            r = SRV.cli("dns", "check", d, "--dns-zone", SRV.zone_path, check=False)
            self.assertEqual(r.returncode, 1)
            self.assertRegex(r.stdout, r"(?m)^missing %s\. IN MX" % re.escape(d))
        finally:
            SRV.write_zone()


class TestAccounts(Base):
    def test_account_lifecycle(self):
        d = self.new_domain("")
        addr = "alice@" + d
        self.assertEqual(self.ok("AccountAdd", addr), addr)
        self.assertIn(addr, [a["name"] for a in self.ok("Accounts")])
        self.ok("SetPassword", addr, "alice-password-1")
        self.assertEqual(self.err("SetPassword", addr, "short")[1], "user:error")
        acct = WebClient(WEB.port, "/", source_ip=harness.fresh_ip())
        acct.login("alice-password-1", addr)
        # Full name, send limits and quota.
        self.ok("AccountFullNameSave", addr, "Alice Example")
        self.ok("AccountSettingsSave", addr, 50, 7, 1000000)
        row = sql("SELECT full_name, max_outgoing_messages_per_day,"
                  " max_first_time_recipients_per_day, quota_message_size FROM accounts"
                  " WHERE name = :'a'", a=addr)[0]
        self.assertEqual(row, ["Alice Example", "50", "7", "1000000"])
        info = self.ok("Account", addr)
        self.assertEqual((info["fullName"], info["maxOutgoingMessagesPerDay"],
                          info["maxFirstTimeRecipientsPerDay"], info["quotaMessageSize"],
                          info["hasPassword"]), ("Alice Example", 50, 7, 1000000, True))
        for args in ((0, 7, 0), (5, 7, -1), (5, 2 ** 40, 0)):
            st, code, msg = self.err("AccountSettingsSave", addr, *args)
            self.assertEqual((st, code), (400, "user:error"), args)
            self.assertIn("parameter", msg)
        self.assertEqual(sql1("SELECT max_outgoing_messages_per_day FROM accounts"
                              " WHERE name = :'a'", a=addr), "50")
        # The account's own view agrees.
        self.assertEqual(acct.result("Account")["fullName"], "Alice Example")
        # Disabling login ends the session and refuses logins.
        self.ok("AccountLoginDisabledSave", addr, "account closed for maintenance")
        self.assertEqual(sql1("SELECT login_disabled FROM accounts WHERE name = :'a'", a=addr),
                         "account closed for maintenance")
        self.assertEqual(error_of(acct.api("Account"))[0], "user:badAuth")
        other = WebClient(WEB.port, "/", source_ip=harness.fresh_ip())
        token = other.result("LoginPrep")
        r = other.api("Login", token, addr, "alice-password-1", csrf=False)
        self.assertEqual(error_of(r)[0], "user:loginFailed")
        self.ok("AccountLoginDisabledSave", addr, "")
        self.assertEqual(sql1("SELECT login_disabled IS NULL FROM accounts WHERE name = :'a'",
                              a=addr), "t")
        other.login("alice-password-1", addr)
        # A new password ends the sessions of the old one.
        self.ok("SetPassword", addr, "alice-password-2")
        self.assertEqual(error_of(other.api("Account"))[0], "user:badAuth")
        # Unknown accounts: user:notFound naming the parameter.
        st, code, msg = self.err("Account", "nobody@" + d)
        self.assertEqual((st, code), (404, "user:notFound"))
        self.assertIn("parameter 1", msg)
        # Removal, with its messages' rows and files.
        self.ok("AccountRemove", addr)
        self.assertEqual(sql1("SELECT count(*) FROM accounts WHERE name = :'a'", a=addr), "0")
        self.assertNotIn(addr, SRV.cli("account", "list").stdout.split())
        self.assertEqual(self.err("AccountRemove", addr)[:2], (404, "user:notFound"))

    def test_addresses(self):
        d = self.new_domain("bob")
        bob = "bob@" + d
        self.ok("AddressAdd", "robert@" + d, bob)
        self.ok("AddressAdd", "@" + d, bob)
        rows = sql("SELECT '<' || ad.localpart || '>' FROM addresses ad JOIN accounts a ON a.id = ad.account_id"
                   " WHERE a.name = :'a' ORDER BY 1", a=bob)
        self.assertEqual(sorted(r[0] for r in rows), ["<>", "<bob>", "<robert>"])
        self.ok("AddressSettingSave", "robert@" + d, "mailbox", "Robert")
        self.ok("AddressSettingSave", "robert@" + d, "smtp-error", "550 5.1.1 gone")
        self.ok("AddressSettingSave", "robert@" + d, "full-name", "Robert B")
        self.ok("AddressSettingSave", "robert@" + d, "message-auth-required-smtp-error",
                "not verified")
        row = sql("SELECT ad.mailbox, ad.smtp_error, ad.full_name,"
                  " ad.message_auth_required_smtp_error FROM addresses ad JOIN domains d"
                  " ON d.id = ad.domain_id WHERE d.name = :'d' AND ad.localpart = 'robert'",
                  d=d)[0]
        self.assertEqual(row, ["Robert", "550 5.1.1 gone", "Robert B", "not verified"])
        info = self.ok("Account", bob)
        self.assertIn({"address": "robert@" + d, "mailbox": "Robert",
                       "smtpError": "550 5.1.1 gone", "fullName": "Robert B",
                       "messageAuthRequiredSmtpError": "not verified", "rulesets": 0},
                      info["addresses"])
        self.assertEqual(self.err("AddressSettingSave", "robert@" + d, "color", "red")[1],
                         "user:error")
        self.assertEqual(self.err("AddressSettingSave", "robert@" + d, "smtp-error", "hello")[1],
                         "user:error")
        self.assertEqual(self.err("AddressAdd", "robert@" + d, bob)[1], "user:error")
        self.assertEqual(self.err("AddressAdd", "x@unknown-domain.example", bob)[1],
                         "user:error")
        self.ok("AddressRemove", "robert@" + d)
        self.ok("AddressRemove", "@" + d)
        self.assertEqual(sql1("SELECT count(*) FROM addresses ad JOIN domains d"
                              " ON d.id = ad.domain_id WHERE d.name = :'d'", d=d), "1")
        self.assertEqual(self.err("AddressRemove", "robert@" + d)[1], "user:error")

    def test_rulesets(self):
        d = self.new_domain("lars")
        lars = "lars@" + d
        pos = self.ok("RulesetAdd", lars, {"mailbox": "Lists/Dev", "headersRegexp": {"^list-id$": "dev"},
                                           "comment": "dev list"})
        self.assertEqual(pos, 1)
        self.assertEqual(self.ok("RulesetAdd", lars, {"mailbox": "Receipts",
                                                      "smtpMailFromRegexp": "@shop\\.example$",
                                                      "verifiedDomain": "Shop.example"}), 2)
        out = SRV.cli("ruleset", "list", lars).stdout
        self.assertIn("1\tmailbox=Lists/Dev", out)
        self.assertIn("header=^list-id$=dev", out)
        self.assertIn("2\tmailbox=Receipts", out)
        rs = self.ok("Rulesets", lars)
        self.assertEqual([(r["position"], r["mailbox"]) for r in rs], [(1, "Lists/Dev"), (2, "Receipts")])
        self.assertEqual(rs[0]["headersRegexp"], {"^list-id$": "dev"})
        self.assertEqual(rs[1]["verifiedDomain"], "shop.example")
        self.assertEqual(self.ok("Account", lars)["addresses"][0]["rulesets"], 2)
        # Checked like the command line: a condition is needed, regexps must compile.
        self.assertEqual(self.err("RulesetAdd", lars, {"mailbox": "X"})[1], "user:error")
        self.assertEqual(self.err("RulesetAdd", lars, {"mailbox": "X", "msgFromRegexp": "("})[1],
                         "user:error")
        st, code, msg = self.err("RulesetAdd", lars, {"mailbox": "X", "colour": "red"})
        self.assertEqual((st, code), (400, "user:badParams"))
        self.assertIn("colour", msg)
        self.ok("RulesetRemove", lars, 1)
        self.assertEqual([r["mailbox"] for r in self.ok("Rulesets", lars)], ["Receipts"])
        self.assertEqual(self.err("RulesetRemove", lars, 5)[1], "user:error")

    def test_aliases(self):
        d = self.new_domain("carol")
        carol = "carol@" + d
        self.ok("AccountAdd", "dave@" + d)
        alias = "team@" + d
        self.ok("AliasAdd", alias, [carol], True, False, False)
        out = SRV.cli("alias", "list", d).stdout
        self.assertIn("%s\tpost-public=yes\tlist-members=no\tallow-msg-from=no\tmembers=%s"
                      % (alias, carol), out)
        self.ok("AliasUpdate", alias, False, True, True)
        self.ok("AliasAddressesAdd", alias, ["dave@" + d, "ext@elsewhere.example"])
        al = [a for a in self.ok("Aliases", d) if a["address"] == alias][0]
        self.assertEqual((al["postPublic"], al["listMembers"], al["allowMsgFrom"]),
                         (False, True, True))
        self.assertEqual(sorted(al["members"]), sorted([carol, "dave@" + d,
                                                        "ext@elsewhere.example"]))
        self.assertIn(alias, [a["address"] for a in self.ok("Aliases", "")])
        self.assertEqual(self.ok("Account", carol)["aliases"], [alias])
        self.ok("AliasAddressesRemove", alias, ["ext@elsewhere.example", carol])
        self.assertEqual(sql("SELECT m.address FROM alias_members m JOIN aliases a"
                             " ON a.id = m.alias_id JOIN domains d ON d.id = a.domain_id"
                             " WHERE d.name = :'d'", d=d), [["dave@" + d]])
        # Removing the last member, or its account, is refused.
        self.assertEqual(self.err("AliasAddressesRemove", alias, ["dave@" + d])[1], "user:error")
        st, code, msg = self.err("AccountRemove", "dave@" + d)
        self.assertEqual(code, "user:error")
        self.assertIn(alias, msg)
        self.assertEqual(self.err("AliasAdd", "carol@" + d, [carol], False, False, False)[1],
                         "user:error")
        self.ok("AliasRemove", alias)
        self.assertNotIn(alias, SRV.cli("alias", "list", d).stdout)
        self.ok("AccountRemove", "dave@" + d)

    def test_account_removal_leaves_aliases_and_removes_files(self):
        d = self.new_domain("erin")
        erin = "erin@" + d
        self.ok("AccountAdd", "frank@" + d)
        self.ok("AliasAdd", "both@" + d, [erin, "frank@" + d], False, False, False)
        # A stored message: its file goes with the account.
        code, _ = SRV.deliver(b"Subject: hi\r\n\r\nbody\r\n", rcpts=(erin,))
        self.assertEqual(code, 250)
        path = sql1("SELECT m.file_path FROM messages m JOIN accounts a ON a.id = m.account_id"
                    " WHERE a.name = :'a'", a=erin)
        self.assertTrue(path and os.path.exists(os.path.join(SRV.datadir, path)), path)
        self.ok("AccountRemove", erin)
        self.assertFalse(os.path.exists(os.path.join(SRV.datadir, path)))
        self.assertEqual(sql1("SELECT count(*) FROM messages m WHERE NOT EXISTS"
                              " (SELECT 1 FROM accounts a WHERE a.id = m.account_id)"), "0")
        self.assertEqual(sql("SELECT m.address FROM alias_members m JOIN aliases a"
                             " ON a.id = m.alias_id JOIN domains d ON d.id = a.domain_id"
                             " WHERE d.name = :'d'", d=d), [["frank@" + d]])

    def test_cli_changes_the_same_settings(self):
        d = self.new_domain("")
        acct = "ivan@" + d
        SRV.cli("account", "add", acct)
        SRV.cli("account", "set", acct, "quota", "2m")
        SRV.cli("account", "set", acct, "max-outgoing-messages-per-day", "9")
        SRV.cli("account", "set", acct, "login-disabled", "gone fishing")
        SRV.cli("account", "set", acct, "full-name", "Ivan")
        info = self.ok("Account", acct)
        self.assertEqual((info["quotaMessageSize"], info["maxOutgoingMessagesPerDay"],
                          info["loginDisabled"], info["fullName"]),
                         (2 * 1024 * 1024, 9, "gone fishing", "Ivan"))
        # Refused alike: the same library checks.
        r = SRV.cli("account", "set", acct, "max-first-time-recipients-per-day", "0", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(self.err("AccountSettingsSave", acct, 5, 0, 0)[1], "user:error")
        SRV.cli("domain", "set", d, "mtasts-mode", "testing")
        SRV.cli("domain", "set", d, "tlsrpt-localpart", "tlsrpt")
        dom = self.ok("Domain", d)
        self.assertEqual((dom["mtastsMode"], dom["tlsrptLocalpart"]), ("testing", "tlsrpt"))
        self.assertEqual(SRV.cli("domain", "set", d, "mtasts-mode", "bogus",
                                 check=False).returncode, 1)
        self.assertEqual(SRV.cli("domain", "rm", d, check=False).returncode, 1)
        SRV.cli("account", "rm", acct)
        self.assertEqual(self.err("Account", acct)[1], "user:notFound")
        SRV.cli("domain", "rm", d)
        self.assertEqual(self.err("Domain", d)[1], "user:notFound")

    def test_tls_public_keys(self):
        d = self.new_domain("gina")
        gina = "gina@" + d
        key, cert = os.path.join(SRV.dir, "gina.key"), os.path.join(SRV.dir, "gina.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=gina", "-days", "2",
                        "-keyout", key, "-out", cert], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        SRV.cli("tlspubkey", "add", gina, cert, "-name", "laptop")
        keys = self.ok("TLSPublicKeys", gina)
        self.assertEqual([(k["name"], k["account"], k["loginAddress"], k["type"]) for k in keys],
                         [("laptop", gina, gina, "ecdsa-p256")])
        self.assertIn(keys[0]["fingerprint"], SRV.cli("tlspubkey", "list", gina).stdout)
        self.assertIn(keys[0]["fingerprint"], [k["fingerprint"] for k in self.ok("TLSPublicKeys", "")])
        self.assertEqual(self.err("TLSPublicKeys", "nobody@" + d)[:2], (404, "user:notFound"))
        self.ok("TLSPublicKeyRemove", keys[0]["fingerprint"])
        self.assertEqual(self.ok("TLSPublicKeys", gina), [])
        self.assertNotIn(keys[0]["fingerprint"], SRV.cli("tlspubkey", "list", gina).stdout)
        self.assertEqual(self.err("TLSPublicKeyRemove", keys[0]["fingerprint"])[:2],
                         (404, "user:notFound"))

    def test_webhooks_retention_and_suppressions(self):
        d = self.new_domain("hank")
        hank = "hank@" + d
        self.ok("AccountWebhookSave", hank, "outgoing", "https://hooks.example/out", "Basic eDp5",
                ["delivered", "failed"])
        self.ok("AccountWebhookSave", hank, "incoming", "https://hooks.example/in", "", [])
        out = SRV.cli("account", "webhook", hank).stdout
        self.assertIn("https://hooks.example/out", out)
        self.assertIn("https://hooks.example/in", out)
        self.assertNotIn("eDp5", out)
        info = self.ok("Account", hank)
        self.assertEqual((info["outgoingWebhookURL"], info["outgoingWebhookEvents"],
                          info["outgoingWebhookAuthorization"], info["incomingWebhookURL"],
                          info["incomingWebhookAuthorization"]),
                         ("https://hooks.example/out", ["delivered", "failed"], True,
                          "https://hooks.example/in", False))
        self.assertNotIn("eDp5", json.dumps(info))
        for args in (("sideways", "https://x.example/", "", []),
                     ("outgoing", "ftp://x.example/", "", []),
                     ("outgoing", "https://x.example/", "", ["exploded"]),
                     ("incoming", "https://x.example/", "", ["delivered"])):
            self.assertEqual(self.err("AccountWebhookSave", hank, *args)[1], "user:error", args)
        self.ok("AccountWebhookSave", hank, "outgoing", "", "", [])
        self.assertEqual(self.ok("Account", hank)["outgoingWebhookURL"], "")

        self.ok("AccountKeepRetiredSave", hank, 7 * 86400, 3600)
        self.assertEqual(sql("SELECT extract(epoch FROM keep_retired_message_period)::int,"
                             " extract(epoch FROM keep_retired_webhook_period)::int FROM accounts"
                             " WHERE name = :'a'", a=hank)[0], [str(7 * 86400), "3600"])
        info = self.ok("Account", hank)
        self.assertEqual((info["keepRetiredMessageSeconds"], info["keepRetiredWebhookSeconds"]),
                         (7 * 86400, 3600))
        self.assertEqual(self.err("AccountKeepRetiredSave", hank, -1, 0)[1], "user:error")
        SRV.cli("account", "set", hank, "keep-retired-messages", "2d")
        self.assertEqual(self.ok("Account", hank)["keepRetiredMessageSeconds"], 2 * 86400)

        self.assertTrue(self.ok("SuppressionAdd", hank, "Bounce+tag@Remote.example", "bounced"))
        self.assertFalse(self.ok("SuppressionAdd", hank, "bounce@remote.example", ""))
        sup = self.ok("Suppressions", hank)
        self.assertEqual([(x["baseAddress"], x["reason"], x["manual"]) for x in sup],
                         [("bounce@remote.example", "bounced", True)])
        self.assertIn("bounce@remote.example", SRV.cli("queue", "suppress", "list", hank).stdout)
        self.assertIn(hank, [x["account"] for x in self.ok("Suppressions", "")])
        self.ok("SuppressionRemove", hank, "bounce@remote.example")
        self.assertEqual(self.ok("Suppressions", hank), [])
        self.assertEqual(self.err("SuppressionRemove", hank, "bounce@remote.example")[:2],
                         (404, "user:notFound"))


def queue_add(frm, to, account=None):
    msg = ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n\r\nhello\r\n"
           % (frm, to, unique("q"))).encode()
    argv = [harness.CLI, "-c", SRV.conf, "queue", "add", "-from", frm, "-to", to]
    if account:
        argv += ["-account", account]
    r = subprocess.run(argv + ["-"], input=msg, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60, check=True)
    return int(r.stdout.decode().split("\t")[0])


class TestQueue(Base):
    def test_list_pages_and_changes(self):
        rcpt = "%s@remote.example" % unique("r")
        ids = [queue_add(USER, rcpt) for _ in range(5)]
        mine = lambda res: [m for m in res["messages"] if m["recipient"] == rcpt]
        seen = []
        for off in (0, 2, 4):
            res = self.ok("QueueList", {"account": USER}, off, 2)
            self.assertGreaterEqual(res["total"], 5)
            self.assertLessEqual(len(res["messages"]), 2)
            seen += [m["id"] for m in res["messages"]]
        res = self.ok("QueueList", {"account": USER}, 0, 1000)
        self.assertEqual(len(seen), min(6, res["total"]))
        self.assertEqual(seen, [m["id"] for m in res["messages"]][:len(seen)])
        self.assertEqual(sorted(m["id"] for m in mine(res)), ids)
        m = mine(res)[0]
        self.assertEqual((m["sender"], m["account"], m["hold"]), (USER, USER, False))

        # Hold and release, and the hold filter.
        self.assertEqual(self.ok("QueueSize"), int(sql1("SELECT count(*) FROM queue")))
        self.assertEqual(self.ok("QueueHoldSet", ids[:2], True), 2)
        self.assertEqual(sql("SELECT id FROM queue WHERE hold ORDER BY id"),
                         [[str(i)] for i in ids[:2]])
        held = self.ok("QueueList", {"hold": True}, 0, 100)
        self.assertEqual(sorted(m["id"] for m in held["messages"]), ids[:2])
        self.assertEqual(held["total"], 2)
        self.assertEqual(self.ok("QueueHoldSet", ids[:2], False), 2)
        self.assertEqual(sql1("SELECT count(*) FROM queue WHERE hold"), "0")

        # Schedule: in 60 minutes, then 30 minutes earlier.
        self.assertEqual(self.ok("QueueNextAttemptSet", [ids[0]], 60), 1)
        t = int(sql1("SELECT extract(epoch FROM next_attempt - now())::int FROM queue"
                     " WHERE id = :'i'", i=ids[0]))
        self.assertTrue(3500 < t <= 3600, t)
        self.assertEqual(self.ok("QueueNextAttemptAdd", [ids[0]], -30), 1)
        t = int(sql1("SELECT extract(epoch FROM next_attempt - now())::int FROM queue"
                     " WHERE id = :'i'", i=ids[0]))
        self.assertTrue(1700 < t <= 1800, t)

        # REQUIRETLS and transport.
        self.assertEqual(self.ok("QueueRequireTLSSet", [ids[1]], "yes"), 1)
        self.assertEqual(sql1("SELECT require_tls FROM queue WHERE id = :'i'", i=ids[1]), "t")
        self.ok("QueueRequireTLSSet", [ids[1]], "default")
        self.assertEqual(sql1("SELECT require_tls IS NULL FROM queue WHERE id = :'i'", i=ids[1]),
                         "t")
        self.assertEqual(self.err("QueueRequireTLSSet", [ids[1]], "maybe")[1], "user:error")
        self.assertEqual(self.ok("QueueTransportSet", [ids[2]], "direct"), 1)
        self.assertEqual(sql1("SELECT transport FROM queue WHERE id = :'i'", i=ids[2]), "direct")
        self.assertEqual(self.ok("QueueList", {"transport": "direct"}, 0, 10)["total"], 1)
        st, code, msg = self.err("QueueTransportSet", [ids[2]], "nosuch")
        self.assertEqual(code, "user:error")
        self.assertIn("nosuch", msg)

        # Fail: queued fails it at once (transport "!fail", due now).
        self.assertEqual(self.ok("QueueFail", [ids[3]]), 1)
        self.assertEqual(sql1("SELECT transport FROM queue WHERE id = :'i'", i=ids[3]), "!fail")

        # Drop, with the delivery history kept by the account.
        sql("UPDATE accounts SET keep_retired_message_period = '1 day' WHERE name = :'a'", a=USER)
        try:
            self.assertEqual(self.ok("QueueDrop", ids), 5)
        finally:
            sql("UPDATE accounts SET keep_retired_message_period = '0' WHERE name = :'a'", a=USER)
        self.assertEqual(sql1("SELECT count(*) FROM queue WHERE recipient_localpart || '@' ||"
                              " recipient_domain = :'r'", r=rcpt), "0")
        ret = [x for x in self.ok("RetiredList", USER, 100) if x["recipient"] == rcpt]
        self.assertEqual(sorted(x["id"] for x in ret), ids)
        self.assertFalse(any(x["success"] for x in ret))
        self.assertIn(str(ids[0]), SRV.cli("queue", "retired", "list", "-account", USER).stdout)
        self.assertEqual(self.ok("QueueDrop", ids), 0)
        self.assertEqual(self.err("QueueDrop", [])[1], "user:error")
        self.assertEqual(self.err("RetiredList", USER, 0)[1], "user:error")

    def test_hold_rules(self):
        d = "%s.example" % unique("hr")
        r = self.ok("QueueHoldRuleAdd", USER, "", d)
        rid = r["id"]
        rules = {x["id"]: x for x in self.ok("QueueHoldRuleList")}
        self.assertEqual((rules[rid]["account"], rules[rid]["senderDomain"],
                          rules[rid]["recipientDomain"]), (USER, "", d))
        self.assertIn(d, SRV.cli("queue", "holdrules", "list").stdout)
        qid = queue_add(USER, "x@" + d)
        self.assertEqual(sql1("SELECT hold FROM queue WHERE id = :'i'", i=qid), "t")
        self.ok("QueueHoldRuleRemove", rid)
        self.assertNotIn(rid, [x["id"] for x in self.ok("QueueHoldRuleList")])
        self.assertEqual(self.err("QueueHoldRuleRemove", rid)[:2], (404, "user:notFound"))
        self.assertEqual(self.err("QueueHoldRuleAdd", "nobody@nowhere.example", "", "")[1],
                         "user:notFound")
        self.ok("QueueDrop", [qid])

    def test_webhook_queue(self):
        d = self.new_domain("hook")
        acct = "hook@" + d
        SRV.cli("account", "webhook", acct, "set", "outgoing", "http://127.0.0.1:9/hook")
        SRV.cli("account", "webhook", acct, "keep-retired", "1d")
        qid = queue_add(acct, "y@remote.example", account=acct)
        self.assertEqual(self.ok("QueueDrop", [qid]), 1)
        hooks = self.ok("HookList", acct, 100)
        self.assertEqual(len(hooks), 1, hooks)
        h = hooks[0]
        self.assertEqual((h["account"], h["event"], h["url"], h["isIncoming"], h["queueMsgID"]),
                         (acct, "canceled", "http://127.0.0.1:9/hook", False, qid))
        self.assertIn(str(h["id"]), SRV.cli("queue", "webhook", "list", "-account", acct).stdout)
        self.assertEqual(self.ok("HookQueueSize"),
                         int(sql1("SELECT count(*) FROM webhook_queue")))
        self.assertEqual(self.ok("HookNextAttemptSet", [h["id"]], 30), 1)
        self.assertEqual(self.ok("HookNextAttemptAdd", [h["id"]], 60), 1)
        t = int(sql1("SELECT extract(epoch FROM next_attempt - now())::int FROM webhook_queue"
                     " WHERE id = :'i'", i=h["id"]))
        self.assertTrue(5300 < t <= 5400, t)
        self.assertEqual(self.ok("HookCancel", [h["id"]]), 1)
        self.assertEqual(self.ok("HookList", acct, 100), [])
        ret = self.ok("HookRetiredList", acct, 100)
        self.assertEqual([x["id"] for x in ret], [h["id"]])
        self.assertFalse(ret[0]["success"])
        self.assertIn(h["id"], [x["id"] for x in self.ok("HookRetiredList", "", 1000)])


class TestRoutesReports(Base):
    def test_routes(self):
        d = self.new_domain("rita")
        rid = self.ok("RouteAdd", "rita@" + d, "", ["Sender.example"], [], 2, "direct")
        routes = {r["id"]: r for r in self.ok("RouteList")}
        self.assertEqual((routes[rid]["account"], routes[rid]["fromDomains"],
                          routes[rid]["minAttempts"], routes[rid]["transport"]),
                         ("rita@" + d, "sender.example", 2, "direct"))
        self.assertIn("rita@" + d, SRV.cli("queue", "routes", "list").stdout)
        did = self.ok("RouteAdd", "", d, [], ["to.example"], 0, "direct")
        self.assertEqual(sql1("SELECT d.name FROM routes r JOIN domains d ON d.id = r.domain_id"
                              " WHERE r.id = :'i'", i=did), d)
        for args in (("rita@" + d, d, [], [], 0, "direct"), ("", "", [], [], 0, "nosuch"),
                     ("", "", ["bad domain!"], [], 0, "direct"), ("", "", [], [], -1, "direct")):
            self.assertEqual(self.err("RouteAdd", *args)[1], "user:error", args)
        self.ok("RouteRemove", rid)
        self.ok("RouteRemove", did)
        self.assertNotIn(rid, [r["id"] for r in self.ok("RouteList")])
        self.assertEqual(self.err("RouteRemove", rid)[:2], (404, "user:notFound"))

    def test_dmarc_evaluations_and_tls_results(self):
        # More in test_web_reports.py.
        d = "%s.example" % unique("ev")
        sql("INSERT INTO dmarc_evaluations (policy_domain, interval_hours, addresses,"
            " policy_published, source_ip, disposition, aligned_dkim_pass, aligned_spf_pass,"
            " envelope_to, envelope_from, header_from, dkim_results, spf_results)"
            " VALUES (:'d', 24, '{}', '{}', '192.0.2.7', 'none', true, false, 'example.org',"
            " :'d', :'d', '[{\"domain\": \"x\", \"result\": \"pass\"}]', '[]')", d=d)
        stats = {x["domain"]: x for x in self.ok("DMARCEvaluationStats")}
        self.assertEqual(stats[d]["count"], 1)
        ev = self.ok("DMARCEvaluationsDomain", d, 0, 2 ** 37, 0, 10)["evaluations"]
        self.assertEqual((ev[0]["sourceIP"], ev[0]["alignedDKIMPass"], ev[0]["alignedSPFPass"],
                          ev[0]["dkimResults"][0]["result"]), ("192.0.2.7", True, False, "pass"))
        self.assertEqual(self.ok("DMARCEvaluationsDomain", "none-" + d, 0, 2 ** 37, 0, 10),
                         {"total": 0, "evaluations": []})
        sql("INSERT INTO tlsrpt_results (policy_domain, day_utc, recipient_domain, is_host,"
            " policy_type, success_count, failure_count) VALUES (:'d', current_date, :'d',"
            " false, 'sts', 3, 1)", d=d)
        res = self.ok("TLSRPTResultsDomain", False, d)
        self.assertEqual([(r["policyType"], r["successCount"], r["failureCount"]) for r in res],
                         [("sts", 3, 1)])

    def test_report_localpart_and_separators(self):
        d = self.new_domain("")
        self.ok("DomainLocalpartConfigSave", d, "+", False)
        st, code, msg = self.err("DomainDMARCAddressSave", d, "dmarc+reports")
        self.assertEqual(code, "user:error")
        self.assertIn("separator", msg)
        self.ok("DomainTLSRPTAddressSave", d, "tls-reports")


class TestMisc(Base):
    def test_transports_loglevels_login_attempts(self):
        self.assertIsInstance(self.ok("Transports"), list)
        lv = self.ok("LogLevels")
        self.assertEqual(lv["configured"], "debug")
        self.assertEqual(lv["effective"]["admin"], "debug")
        bad = WebClient(WEB.port, "/admin/", source_ip=harness.fresh_ip())
        token = bad.result("LoginPrep")
        bad.api("Login", token, "not-the-password", csrf=False)
        att = self.ok("LoginAttempts", 100)
        self.assertTrue(any(a["protocol"] == "webadmin" and a["result"] == "badcreds"
                            for a in att))

    def test_page_and_assets(self):
        r = self.c.request("GET", "/admin/")
        self.assertEqual(r.status, 200)
        body = r.body.decode()
        for section in ("domains", "domain", "accounts", "account", "queue", "hooks",
                        "retired", "reports", "loginattempts", "system", "routeadd", "confirm"):
            self.assertIn('id="%s"' % section, body)
        self.assertNotIn("<script>", body)
        self.assertNotRegex(body, r"\son[a-z]+=")
        csp = r.header("Content-Security-Policy")
        self.assertIn("default-src 'none'", csp)
        self.assertNotIn("unsafe-inline", csp)
        for asset in ("admin.js", "admin.css", "api.js", "style.css"):
            r = self.c.request("GET", "/admin/" + asset)
            self.assertEqual(r.status, 200, asset)


if __name__ == "__main__":
    import unittest
    unittest.main()
