"""Reports in the admin web interface (behind a real nginx, see
webserver.py): DMARC aggregate and TLS reports stored through lib/reports
(the reports-add test tool calls reports_dmarc_add / reports_tls_add as
the report parsers will), then read with DMARCReports, DMARCReportID,
DMARCSummaries, TLSReports, TLSReportID and TLSRPTSummaries with time
ranges and pages; our DMARC evaluations and outgoing TLS results (rows as
smtpd and queued write them) listed and removed; the suppression lists of
reporting addresses added to, extended and emptied; bad parameters
refused naming the parameter."""

import json
import os
import subprocess
import time

import harness
import webserver
from harness import unique
from webserver import WebClient

SRV = None
WEB = None
ADMIN_PASSWORD = "admin-password-r"
DAY = 86400
# Report periods are whole UTC days some weeks back, so "now" never
# splits one.
T0 = (int(time.time()) // DAY - 40) * DAY
FAR = 253402300799


def setUpModule():
    global SRV, WEB
    SRV = harness.Server("webreports", daemons=(), tls=True)
    WEB = webserver.start_stack(SRV, admin_password=ADMIN_PASSWORD, login_failure_delay="0s")


def tearDownModule():
    webserver.stop_stack(SRV, WEB)


def sql(query, **params):
    return SRV.psql(query, **params)


def sql1(query, **params):
    rows = sql(query, **params)
    return rows[0][0] if rows else None


def add_report(kind, report, check=True, **extra):
    """Store a report with the reports-add tool: ("stored"|"exists", id),
    or (None, error text) when refused and check is false."""
    tool = os.path.join(harness.TOP_BUILDDIR, "tests", "integration", "reports-add")
    doc = dict(extra, kind=kind, report=report)
    r = subprocess.run([tool, SRV.pg.conninfo()], input=json.dumps(doc), capture_output=True,
                       text=True, timeout=60)
    if r.returncode != 0:
        if check:
            raise AssertionError("reports-add failed: %s" % r.stderr)
        return None, r.stderr
    what, rid = r.stdout.split()
    return what, int(rid)


def dmarc_report(domain, report_id, begin, records, org="Google Inc."):
    return {
        "version": "1.0",
        "report_metadata": {"org_name": org, "email": "noreply-dmarc@google.example",
                            "report_id": report_id,
                            "date_range": {"begin": begin, "end": begin + DAY - 1}},
        "policy_published": {"domain": domain, "adkim": "r", "aspf": "r", "p": "reject",
                             "sp": "reject", "pct": 100},
        "record": records,
    }


def record(ip, count, disposition="none", dkim="pass", spf="pass", reasons=(), header_from="x"):
    return {
        "row": {"source_ip": ip, "count": count,
                "policy_evaluated": {"disposition": disposition, "dkim": dkim, "spf": spf,
                                     "reason": [{"type": t} for t in reasons]}},
        "identifiers": {"header_from": header_from, "envelope_from": header_from},
        "auth_results": {"dkim": [{"domain": header_from, "selector": "s1", "result": dkim}],
                         "spf": [{"domain": header_from, "scope": "mfrom", "result": spf}]},
    }


def tls_report(report_id, begin, policies, org="Microsoft Corporation"):
    return {"organization-name": org, "contact-info": "tlsrpt@ms.example",
            "report-id": report_id,
            "date-range": {"start-datetime": begin, "end-datetime": begin + DAY - 1},
            "policies": policies}


def tls_policy(domain, ptype, ok, failed, details=()):
    return {"policy": {"policy-type": ptype, "policy-domain": domain,
                       "policy-string": ["version: STSv1", "mode: enforce"],
                       "mx-host": ["mx." + domain]},
            "summary": {"total-successful-session-count": ok,
                        "total-failure-session-count": failed},
            "failure-details": [
                {"result-type": t, "sending-mta-ip": "203.0.113.9",
                 "receiving-ip": "192.0.2.25", "receiving-mx-hostname": "mx." + domain,
                 "failed-session-count": n} for t, n in details]}


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
        j = r.json()
        self.assertIn("error", j, "%s%r succeeded: %r" % (method, params, j))
        return r.status, j["error"]["code"], j["error"]["message"]


class TestDMARCReports(Base):
    def test_store_list_detail_summary(self):
        d = "%s.example" % unique("dm")
        # The domain as a reporter may write it: upper case, trailing dot.
        rep = dmarc_report(d.upper() + ".", "r-1", T0, [
            record("192.0.2.1", 10, header_from=d),
            record("2001:db8::5", 3, "quarantine", "fail", "pass", ["forwarded"], d),
            record("198.51.100.7", 2, "reject", "fail", "fail", ["local_policy", "forwarded"],
                   d),
        ])
        what, rid = add_report("dmarc", rep, fromDomain="Google.Example")
        self.assertEqual(what, "stored")
        self.assertEqual(sql("SELECT domain, from_domain, record_count, message_count, org_name"
                             " FROM dmarc_reports WHERE id = :'i'", i=rid),
                         [[d, "google.example", "3", "15", "Google Inc."]])
        rows = sql("SELECT host(source_ip), count, disposition, dkim, spf, reasons::text,"
                   " header_from, dkim_results::text FROM dmarc_report_records"
                   " WHERE report = :'i' ORDER BY count DESC", i=rid)
        self.assertEqual(rows, [
            ["192.0.2.1", "10", "none", "pass", "pass", "{}", d, "{pass}"],
            ["2001:db8::5", "3", "quarantine", "fail", "pass", "{forwarded}", d, "{fail}"],
            ["198.51.100.7", "2", "reject", "fail", "fail", "{local_policy,forwarded}", d,
             "{fail}"]])
        # Sent twice: stored once.
        self.assertEqual(add_report("dmarc", rep), ("exists", rid))
        self.assertEqual(sql1("SELECT count(*) FROM dmarc_reports WHERE domain = :'d'", d=d),
                         "1")

        page = self.ok("DMARCReports", T0 - DAY, T0 + DAY, d, 0, 10)
        self.assertEqual(page["total"], 1)
        r = page["reports"][0]
        self.assertEqual((r["id"], r["domain"], r["fromDomain"], r["orgName"], r["reportID"],
                          r["begin"], r["end"], r["records"], r["messages"], r["dkimFail"],
                          r["spfFail"], r["policyPublished"]["p"]),
                         (rid, d, "google.example", "Google Inc.", "r-1", T0, T0 + DAY - 1, 3,
                          15, 5, 2, "reject"))

        one = self.ok("DMARCReportID", d, rid)
        self.assertEqual((one["id"], one["domain"]), (rid, d))
        recs = one["report"]["record"]
        self.assertEqual([x["row"]["source_ip"] for x in recs],
                         ["192.0.2.1", "2001:db8::5", "198.51.100.7"])
        self.assertEqual(recs[2]["row"]["policy_evaluated"]["reason"],
                         [{"type": "local_policy"}, {"type": "forwarded"}])
        self.assertEqual(one["report"]["report_metadata"]["date_range"],
                         {"begin": T0, "end": T0 + DAY - 1})
        self.assertEqual(one["report"]["policy_published"]["domain"], d)
        # Only with its own domain, and only existing ids.
        self.assertEqual(self.err("DMARCReportID", "other-" + d, rid)[:2], (404, "user:notFound"))
        self.assertEqual(self.err("DMARCReportID", d, rid + 100000)[:2], (404, "user:notFound"))

        # The psql view agrees.
        self.assertEqual(sql("SELECT reports, messages, quarantined, rejected, dkim_fail,"
                             " spf_fail FROM dmarc_report_summary WHERE domain = :'d'", d=d),
                         [["1", "15", "3", "2", "5", "2"]])

        sums = self.ok("DMARCSummaries", T0 - DAY, T0 + DAY, d)
        self.assertEqual(sums, [{
            "domain": d, "reports": 1, "total": 15, "dispositionNone": 10,
            "dispositionQuarantine": 3, "dispositionReject": 2, "dkimFail": 5, "spfFail": 2,
            "policyOverrides": {"forwarded": 5, "local_policy": 2}}])

    def test_time_range_and_pages(self):
        d = "%s.example" % unique("dp")
        ids = []
        for i in range(5):
            ids.append(add_report("dmarc", dmarc_report(d, "p-%d" % i, T0 + i * DAY,
                                                        [record("192.0.2.%d" % (i + 1), i + 1)]))[1])
        # All five, newest period first, in pages of two.
        seen = []
        for off in (0, 2, 4):
            page = self.ok("DMARCReports", T0, T0 + 5 * DAY, d, off, 2)
            self.assertEqual(page["total"], 5)
            seen += [r["id"] for r in page["reports"]]
        self.assertEqual(seen, list(reversed(ids)))
        # Past the end: no rows, the total still known.
        self.assertEqual(self.ok("DMARCReports", T0, T0 + 5 * DAY, d, 10, 2),
                         {"total": 5, "reports": []})
        # Periods overlapping days 1 and 2 only (the range end is exclusive).
        page = self.ok("DMARCReports", T0 + DAY, T0 + 3 * DAY, d, 0, 100)
        self.assertEqual([r["id"] for r in page["reports"]], [ids[2], ids[1]])
        # A range after all of them, and another domain: nothing.
        self.assertEqual(self.ok("DMARCReports", T0 + 5 * DAY, T0 + 9 * DAY, d, 0, 10)["total"], 0)
        self.assertEqual(self.ok("DMARCReports", T0, T0 + 5 * DAY, "no-" + d, 0, 10),
                         {"total": 0, "reports": []})
        # "" is every domain: at least these five.
        self.assertGreaterEqual(self.ok("DMARCReports", T0, T0 + 5 * DAY, "", 0, 1)["total"], 5)
        sums = self.ok("DMARCSummaries", T0 + DAY, T0 + 3 * DAY, d)
        self.assertEqual((sums[0]["reports"], sums[0]["total"]), (2, 5))
        self.assertEqual(self.ok("DMARCSummaries", T0 + 6 * DAY, T0 + 9 * DAY, d), [])

    def test_invalid_reports_store_nothing(self):
        d = "%s.example" % unique("di")
        before = sql1("SELECT count(*) FROM dmarc_reports")
        bad = [
            dmarc_report(d, "b-1", T0, [record("not-an-ip", 1)]),
            dmarc_report(d, "b-2", T0, [record("192.0.2.1", -1)]),
            dmarc_report("bad domain!", "b-3", T0, [record("192.0.2.1", 1)]),
            dmarc_report(d, "", T0, [record("192.0.2.1", 1)]),
        ]
        late = dmarc_report(d, "b-5", T0, [])
        late["report_metadata"]["date_range"]["end"] = T0 - 1
        bad.append(late)
        for rep in bad:
            what, msg = add_report("dmarc", rep, check=False)
            self.assertIsNone(what, rep)
            self.assertIn("reports-add:", msg)
        self.assertEqual(sql1("SELECT count(*) FROM dmarc_reports"), before)
        # A report without records is valid.
        self.assertEqual(add_report("dmarc", dmarc_report(d, "empty", T0, []))[0], "stored")


class TestTLSReports(Base):
    def test_store_list_detail_summary(self):
        d = "%s.example" % unique("tl")
        host = "mx." + d
        rep = tls_report("2026-t-1", T0, [
            tls_policy(d.upper(), "sts", 100, 3, [("certificate-expired", 2),
                                                  ("validation-failure", 1)]),
            tls_policy(host, "tlsa", 40, 1, [("tlsa-invalid", 1)]),
        ])
        what, rid = add_report("tls", rep, fromDomain="microsoft.example",
                               mailFrom="tlsrpt@microsoft.example")
        self.assertEqual(what, "stored")
        self.assertEqual(sql("SELECT policy_domains::text, success_count, failure_count,"
                             " host_report, mail_from FROM tls_reports WHERE id = :'i'", i=rid),
                         [["{%s,%s}" % (d, host), "140", "4", "f", "tlsrpt@microsoft.example"]])
        self.assertEqual(sql("SELECT policy_domain, policy_type, success_count, failure_count,"
                             " jsonb_array_length(failure_details), mx_hosts::text"
                             " FROM tls_report_policies WHERE report = :'i' ORDER BY id", i=rid),
                         [[d, "sts", "100", "3", "2", "{mx.%s}" % d.upper()],
                          [host, "tlsa", "40", "1", "1", "{mx.%s}" % host]])
        self.assertEqual(add_report("tls", rep), ("exists", rid))

        page = self.ok("TLSReports", T0, T0 + DAY, d, 0, 10)
        self.assertEqual(page["total"], 1)
        r = page["reports"][0]
        self.assertEqual((r["id"], r["policyDomains"], r["orgName"], r["reportID"], r["success"],
                          r["failure"], r["hostReport"], r["begin"], r["end"]),
                         (rid, [d, host], "Microsoft Corporation", "2026-t-1", 140, 4, False,
                          T0, T0 + DAY - 1))
        # Found by either of its policy domains.
        self.assertEqual(self.ok("TLSReports", T0, T0 + DAY, host, 0, 10)["total"], 1)

        one = self.ok("TLSReportID", host, rid)
        self.assertEqual(one["report"]["report-id"], "2026-t-1")
        pol = one["report"]["policies"][0]
        self.assertEqual(pol["summary"], {"total-successful-session-count": 100,
                                          "total-failure-session-count": 3})
        self.assertEqual([f["result-type"] for f in pol["failure-details"]],
                         ["certificate-expired", "validation-failure"])
        self.assertTrue(one["report"]["date-range"]["start-datetime"].endswith("T00:00:00Z"))
        self.assertEqual(self.err("TLSReportID", "x" + d, rid)[:2], (404, "user:notFound"))

        self.assertEqual(sql("SELECT policy_type, reports, successes, failures"
                             " FROM tls_report_summary WHERE policy_domain = :'d'", d=d),
                         [["sts", "1", "100", "3"]])

        sums = self.ok("TLSRPTSummaries", T0, T0 + DAY, d)
        self.assertEqual(sums, [{"policyDomain": d, "reports": 1, "success": 100, "failure": 3,
                                 "resultTypeCounts": {"certificate-expired": 2,
                                                      "validation-failure": 1}}])
        both = {s["policyDomain"]: s for s in self.ok("TLSRPTSummaries", T0, T0 + DAY, "")}
        self.assertEqual(both[host]["resultTypeCounts"], {"tlsa-invalid": 1})

    def test_time_range_pages_and_host_reports(self):
        d = "%s.example" % unique("tp")
        ids = [add_report("tls", tls_report("tp-%s-%d" % (d, i), T0 + i * DAY,
                                            [tls_policy(d, "sts", i, 0)]),
                          hostReport=(i == 2))[1] for i in range(3)]
        p1 = self.ok("TLSReports", T0, T0 + 3 * DAY, d, 0, 2)
        p2 = self.ok("TLSReports", T0, T0 + 3 * DAY, d, 2, 2)
        self.assertEqual((p1["total"], p2["total"]), (3, 3))
        self.assertEqual([r["id"] for r in p1["reports"] + p2["reports"]], list(reversed(ids)))
        self.assertEqual([r["hostReport"] for r in p1["reports"]], [True, False])
        page = self.ok("TLSReports", T0 + DAY, T0 + 2 * DAY, d, 0, 10)
        self.assertEqual([r["id"] for r in page["reports"]], [ids[1]])
        self.assertEqual(self.ok("TLSRPTSummaries", T0, T0 + 3 * DAY, d)[0]["success"], 3)
        # No policy, or a bad domain: refused, nothing stored.
        self.assertIsNone(add_report("tls", tls_report("x1", T0, []), check=False)[0])
        self.assertIsNone(add_report("tls", tls_report("x2", T0, [tls_policy("a b", "sts", 1, 0)]),
                                     check=False)[0])
        self.assertEqual(sql1("SELECT count(*) FROM tls_reports WHERE report_id IN ('x1', 'x2')"),
                         "0")


class TestEvaluations(Base):
    def add_eval(self, d, ago, disposition="none", optional=False, ip="192.0.2.7"):
        sql("INSERT INTO dmarc_evaluations (policy_domain, evaluated, interval_hours, addresses,"
            " policy_published, source_ip, disposition, aligned_dkim_pass, aligned_spf_pass,"
            " envelope_to, envelope_from, header_from, dkim_results, spf_results, optional)"
            " VALUES (:'d', now() - make_interval(secs => :'ago'), 24,"
            " '{mailto:dmarc@x.example}', '{\"domain\": \"x\", \"p\": \"reject\"}', :'ip',"
            " :'disp', true, false, 'example.org', :'d', :'d',"
            " '[{\"domain\": \"x\", \"result\": \"pass\"}]', '[]', :'opt')",
            d=d, ago=ago, ip=ip, disp=disposition, opt="true" if optional else "false")

    def test_stats_list_remove(self):
        d = "%s.example" % unique("ev")
        now = int(time.time())
        self.add_eval(d, 7200, "none", ip="192.0.2.1")
        self.add_eval(d, 3600, "reject", optional=True, ip="192.0.2.2")
        self.add_eval(d, 60, "quarantine", ip="192.0.2.3")
        st = {x["domain"]: x for x in self.ok("DMARCEvaluationStats")}[d]
        self.assertEqual((st["count"], st["dispositions"], st["sendReport"]),
                         (3, ["none", "quarantine", "reject"], True))
        self.assertLessEqual(st["first"], now - 7199)
        page = self.ok("DMARCEvaluationsDomain", d, 0, FAR, 0, 2)
        self.assertEqual(page["total"], 3)
        self.assertEqual([e["sourceIP"] for e in page["evaluations"]], ["192.0.2.3", "192.0.2.2"])
        e = page["evaluations"][1]
        self.assertEqual((e["optional"], e["disposition"], e["addresses"], e["alignedDKIMPass"],
                          e["alignedSPFPass"], e["policyPublished"]["p"],
                          e["dkimResults"][0]["result"]),
                         (True, "reject", ["mailto:dmarc@x.example"], True, False, "reject",
                          "pass"))
        self.assertEqual([e["sourceIP"] for e in
                          self.ok("DMARCEvaluationsDomain", d, 0, FAR, 2, 2)["evaluations"]],
                         ["192.0.2.1"])
        # Only the last 30 minutes: one.
        recent = self.ok("DMARCEvaluationsDomain", d, now - 1800, FAR, 0, 10)
        self.assertEqual([e["sourceIP"] for e in recent["evaluations"]], ["192.0.2.3"])
        self.assertEqual(self.ok("DMARCRemoveEvaluations", d), 3)
        self.assertNotIn(d, [x["domain"] for x in self.ok("DMARCEvaluationStats")])
        self.assertEqual(self.ok("DMARCEvaluationsDomain", d, 0, FAR, 0, 10),
                         {"total": 0, "evaluations": []})
        self.assertEqual(self.ok("DMARCRemoveEvaluations", d), 0)

    def test_only_optional_sends_no_report(self):
        d = "%s.example" % unique("eo")
        self.add_eval(d, 10, "reject", optional=True)
        st = {x["domain"]: x for x in self.ok("DMARCEvaluationStats")}[d]
        self.assertEqual((st["count"], st["sendReport"]), (1, False))


class TestTLSResults(Base):
    def add_result(self, pol, rcpt, day, is_host=False, ok=5, failed=1):
        sql("INSERT INTO tlsrpt_results (policy_domain, day_utc, recipient_domain, is_host,"
            " policy_type, success_count, failure_count, failure_details) VALUES (:'p', :'day',"
            " :'r', :'h', 'sts', :'ok', :'f', '[{\"result-type\": \"certificate-expired\","
            " \"failed-session-count\": 1}]')",
            p=pol, r=rcpt, day=day, h="true" if is_host else "false", ok=ok, f=failed)

    def test_list_domain_remove(self):
        d = "%s.example" % unique("tr")
        mx = "mx." + d
        day0 = time.strftime("%Y-%m-%d", time.gmtime(T0))
        day1 = time.strftime("%Y-%m-%d", time.gmtime(T0 + DAY))
        self.add_result(d, d, day0)
        self.add_result(d, d, day1, ok=7)
        self.add_result(mx, d, day1, is_host=True)
        page = self.ok("TLSRPTResults", T0, T0 + 2 * DAY, 0, 1000)
        mine = [r for r in page["results"] if r["recipientDomain"] == d]
        # Newest day first, then by policy domain ("mx.tr..." before "tr...").
        self.assertEqual([(r["policyDomain"], r["day"], r["isHost"]) for r in mine],
                         [(mx, day1, True), (d, day1, False), (d, day0, False)])
        self.assertEqual(mine[1]["successCount"], 7)
        self.assertEqual(mine[1]["failureDetails"][0]["result-type"], "certificate-expired")
        # The second day only; a page of one has the same total.
        later = self.ok("TLSRPTResults", T0 + DAY, T0 + DAY + 1, 0, 1)
        self.assertEqual(len(later["results"]), 1)
        self.assertGreaterEqual(later["total"], 2)
        self.assertEqual(later["results"][0]["day"], day1)
        self.assertEqual(len(self.ok("TLSRPTResultsDomain", False, d)), 2)
        self.assertEqual(len(self.ok("TLSRPTResultsDomain", True, d)), 3)
        self.assertEqual([r["policyDomain"] for r in self.ok("TLSRPTResultsDomain", False, mx)],
                         [mx])
        self.assertEqual(self.ok("TLSRPTRemoveResults", False, d, day0), 1)
        self.assertEqual(self.ok("TLSRPTRemoveResults", True, d, ""), 2)
        self.assertEqual(self.ok("TLSRPTResultsDomain", True, d), [])
        for day in ("2026-02-30", "2026-13-01", "yesterday", "2026-1-01"):
            st, code, msg = self.err("TLSRPTRemoveResults", False, d, day)
            self.assertEqual((st, code), (400, "user:error"), day)
            self.assertIn("parameter 3 (day)", msg)


class TestSuppressions(Base):
    def test_add_list_extend_remove(self):
        for kind in ("DMARC", "TLSRPT"):
            other = "TLSRPT" if kind == "DMARC" else "DMARC"
            lp = unique("rua")
            until = int(time.time()) + 3600
            sid = self.ok(kind + "SuppressAdd", "mailto:%s@Reports.Example" % lp, until, "bounces")
            lst = {x["id"]: x for x in self.ok(kind + "SuppressList")}
            self.assertEqual((lst[sid]["reportingAddress"], lst[sid]["until"], lst[sid]["comment"],
                              lst[sid]["active"]),
                             ("%s@reports.example" % lp, until, "bounces", True))
            # Separate lists per kind.
            self.assertNotIn(sid, [x["id"] for x in self.ok(other + "SuppressList")])
            st, code, msg = self.err(kind + "SuppressAdd", "%s@reports.example" % lp, until, "")
            self.assertEqual(code, "user:error")
            self.assertIn("already", msg)
            self.assertIsNone(self.ok(kind + "SuppressExtend", sid, until + 86400))
            lst = {x["id"]: x for x in self.ok(kind + "SuppressList")}
            self.assertEqual(lst[sid]["until"], until + 86400)
            self.assertEqual(self.err(other + "SuppressRemove", sid)[:2], (404, "user:notFound"))
            self.assertIsNone(self.ok(kind + "SuppressRemove", sid))
            self.assertNotIn(sid, [x["id"] for x in self.ok(kind + "SuppressList")])
            self.assertEqual(self.err(kind + "SuppressRemove", sid)[:2], (404, "user:notFound"))
            self.assertEqual(self.err(kind + "SuppressExtend", sid, until)[:2],
                             (404, "user:notFound"))
            # Bad addresses and times in the past are refused.
            st, code, msg = self.err(kind + "SuppressAdd", "not an address", until, "")
            self.assertIn("parameter 1", msg)
            st, code, msg = self.err(kind + "SuppressAdd", "a@b.example", int(time.time()) - 5, "")
            self.assertIn("parameter 2 (until)", msg)
            self.assertEqual(sql1("SELECT count(*) FROM report_suppressions"
                                  " WHERE reporting_address = 'a@b.example'"), "0")


class TestParams(Base):
    def test_bad_ranges_pages_domains(self):
        cases = [
            ("DMARCReports", [10, 5, "", 0, 10], "parameter 2 (end)"),
            ("DMARCReports", [-1, 5, "", 0, 10], "parameter 1 (start)"),
            ("DMARCReports", [0, 5, "", -1, 10], "parameter 4 (offset)"),
            ("DMARCReports", [0, 5, "", 0, 0], "parameter 5 (limit)"),
            ("DMARCReports", [0, 5, "", 0, 1001], "parameter 5 (limit)"),
            ("DMARCReports", [0, 5, "bad domain!", 0, 10], "parameter 3"),
            ("DMARCSummaries", [0, FAR + 1, ""], "parameter 2 (end)"),
            ("TLSReports", [0, 5, "bad domain!", 0, 10], "parameter 3"),
            ("TLSReports", [0, 5, "", 0, 5000], "parameter 5 (limit)"),
            ("TLSRPTSummaries", [5, 5, ""], "parameter 2 (end)"),
            ("DMARCEvaluationsDomain", ["", 0, 5, 0, 10], "parameter 1"),
            ("DMARCEvaluationsDomain", ["x.example", 0, 5, 0, -3], "parameter 5 (limit)"),
            ("DMARCRemoveEvaluations", ["bad domain!"], "parameter 1"),
            ("TLSRPTResults", [0, 5, -2, 10], "parameter 3 (offset)"),
            ("TLSRPTResultsDomain", [True, "[192.0.2.1]"], "parameter 2"),
            ("DMARCReportID", ["", 1], "parameter 1"),
        ]
        for method, params, want in cases:
            st, code, msg = self.err(method, *params)
            self.assertEqual((st, code), (400, "user:error"), (method, params))
            self.assertIn(want, msg, (method, params))
        # Wrong JSON types are caught before the method runs.
        r = self.c.api("DMARCReports", "0", 5, "", 0, 10)
        self.assertEqual((r.status, r.json()["error"]["code"]), (400, "user:badParams"))
        r = self.c.api("TLSRPTRemoveResults", "yes", "x.example", "")
        self.assertEqual((r.status, r.json()["error"]["code"]), (400, "user:badParams"))

    def test_needs_a_session(self):
        anon = WebClient(WEB.port, "/admin/", source_ip=harness.fresh_ip())
        r = anon.api("DMARCReports", 0, 5, "", 0, 10)
        self.assertEqual((r.status, r.json()["error"]["code"]), (403, "user:noAuth"))

    def test_page_has_the_report_views(self):
        body = self.c.request("GET", "/admin/").body.decode()
        for section in ("dmarcreports", "tlsreports", "dmarcevals", "tlsresults",
                        "suppressions"):
            self.assertIn('id="%s"' % section, body)


if __name__ == "__main__":
    import unittest
    unittest.main()
