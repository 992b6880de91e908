"""Local delivery rules: catch-all separators, case sensitivity, catch-all
versus exact addresses and aliases, per-address SMTP errors, disabled and
reports-only domains, aliases (members, posting rules, de-duplication,
external members), rulesets choosing mailboxes by MAIL FROM, From and
header regexps, and the CLI behind them, including its errors. Every
change is made with the CLI while smtpd runs (it looks recipients up per
RCPT TO), and results are read back over IMAP."""

import re
import smtplib
import threading
import time

import harness
from harness import SENDER, make_message, unique

srv = None
PW = "delivery-password-1"


def setUpModule():
    global srv
    srv = harness.Server("delivery").start()


def tearDownModule():
    if srv:
        srv.stop()


def new_domain():
    d = "%s.example" % unique("d")
    srv.cli("domain", "add", d)
    return d


def new_account(addr):
    srv.add_account(addr, PW)
    return addr


def cli_fails(*args):
    """Run a CLI command that must fail; returns its stderr+stdout."""
    r = srv.cli(*args, check=False)
    if r.returncode == 0:
        raise AssertionError("mailstead %s succeeded: %s" % (" ".join(args), r.stdout))
    return r.stderr + r.stdout


def send(rcpts, subject, frm=SENDER, mail_from=SENDER, extra_headers=()):
    """Deliver one message; RCPT refusals raise, the DATA reply is returned."""
    msg, _ = make_message(subject=subject, frm=frm, to=rcpts[0], extra_headers=extra_headers)
    return srv.deliver(msg, rcpts=rcpts, mail_from=mail_from)


def rcpt_reply(rcpt, mail_from=SENDER):
    with srv.smtp() as s:
        code, resp = s.mail(mail_from)
        assert code == 250, (code, resp)
        return s.rcpt(rcpt)


def count(user, subject, mailbox="INBOX"):
    """Messages with this subject in user's mailbox (None: no mailbox)."""
    m = srv.imap(user, PW)
    try:
        typ, _ = m.select(mailbox, readonly=True)
        if typ != "OK":
            return None
        uids = harness.uid_search(m, "ALL")
        if not uids:
            return 0
        got = harness.fetch_by_uid(m, uids, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    finally:
        m.logout()
    n = 0
    for it in got.values():
        hdr = next((v for k, v in it.items() if k.startswith("BODY[")), b"") or b""
        if subject.encode() in hdr:
            n += 1
    return n


def mailboxes(user):
    m = srv.imap(user, PW)
    try:
        typ, data = m.list()
        assert typ == "OK", data
    finally:
        m.logout()
    return [d.decode().rsplit(" ", 1)[-1].strip('"') for d in data if d]


class DeliveryTest(harness.TestCase):

    # ------------------------------------------------------ address lookup

    def test_catchall_separators(self):
        d = new_domain()
        u = new_account("user@" + d)
        subj = unique("sep")
        code, resp = rcpt_reply("user+tag@" + d)
        self.assertEqual(code, 550, "user+tag@ accepted before separators were set")
        r = srv.cli("domain", "set", d, "catchall-separators", "+-")
        self.assertIn("catchall-separators", r.stdout)
        for rcpt in ("user+tag@" + d, "user-list-x@" + d, "User+Other@" + d.upper()):
            code, resp = send([rcpt], subj)
            self.assertEqual(code, 250, (rcpt, resp))
        self.assertEqual(count(u, subj), 3)
        # user+a and user-b in one transaction are one destination: one copy.
        subj2 = unique("sep2")
        code, resp = send(["user+a@" + d, "user-b@" + d], subj2)
        self.assertEqual(code, 250, resp)
        self.assertEqual(count(u, subj2), 1)
        # Separators can be removed again.
        srv.cli("domain", "set", d, "catchall-separators", "")
        self.assertEqual(rcpt_reply("user+tag@" + d)[0], 550)
        # An address containing a separator blocks setting it.
        srv.cli("address", "add", "first-last@" + d, u)
        err = cli_fails("domain", "set", d, "catchall-separators", "-")
        self.assertIn("first-last", err)
        err = cli_fails("domain", "set", d, "catchall-separators", "a")
        self.assertIn("separator", err)

    def test_case_sensitivity(self):
        d = new_domain()
        u = new_account("mixed@" + d)
        subj = unique("case")
        code, resp = send(["MIXED@" + d], subj)
        self.assertEqual(code, 250, resp)
        self.assertEqual(count(u, subj), 1)
        srv.cli("domain", "set", d, "case-sensitive", "yes")
        code, resp = rcpt_reply("MIXED@" + d)
        self.assertEqual(code, 550, resp)
        self.assertEqual(rcpt_reply("mixed@" + d)[0], 250)
        # A case-sensitive address with capitals is reachable exactly...
        srv.cli("address", "add", "Boss@" + d, u)
        self.assertEqual(rcpt_reply("Boss@" + d)[0], 250)
        self.assertEqual(rcpt_reply("boss@" + d)[0], 550)
        # ... and blocks going back to case-insensitive.
        err = cli_fails("domain", "set", d, "case-sensitive", "no")
        self.assertIn("Boss", err)
        srv.cli("address", "rm", "Boss@" + d)
        srv.cli("domain", "set", d, "case-sensitive", "no")
        self.assertEqual(rcpt_reply("MIXED@" + d)[0], 250)
        self.assertIn("yes or no", cli_fails("domain", "set", d, "disabled", "maybe"))

    def test_catchall_exact_and_alias(self):
        d = new_domain()
        exact = new_account("exact@" + d)
        catch = new_account("catch@" + d)
        member = new_account("member@" + d)
        srv.cli("address", "add", "@" + d, catch)
        srv.cli("alias", "add", "list@" + d, member, "--post-public")
        subj = unique("exact")
        self.assertEqual(send(["exact@" + d], subj)[0], 250)
        self.assertEqual(send(["random-%s@%s" % (unique(), d)], subj)[0], 250)
        self.assertEqual(send(["list@" + d], subj)[0], 250)
        self.assertEqual(count(exact, subj), 1)
        self.assertEqual(count(catch, subj), 1, "catch-all got exact or alias mail")
        self.assertEqual(count(member, subj), 1, "alias lost to the catch-all")

    def test_smtp_error_at_rcpt(self):
        d = new_domain()
        u = new_account("gone@" + d)
        srv.cli("address", "add", "@" + d, u)
        srv.cli("address", "set", "gone@" + d, "smtp-error", "550 5.1.1 gone away")
        code, resp = rcpt_reply("gone@" + d)
        self.assertEqual(code, 550)
        self.assertEqual(resp, b"5.1.1 gone away")
        # The catch-all does not rescue an address that refuses.
        code, resp = rcpt_reply("GONE@" + d)
        self.assertEqual(code, 550)
        self.assertEqual(rcpt_reply("other@" + d)[0], 250)
        # A bare code is completed; 421 becomes a 451 for the recipient.
        srv.cli("address", "set", "gone@" + d, "smtp-error", "421")
        code, resp = rcpt_reply("gone@" + d)
        self.assertEqual(code, 451, resp)
        self.assertTrue(resp.startswith(b"4.3.0"), resp)
        # "" accepts mail again.
        srv.cli("address", "set", "gone@" + d, "smtp-error", "")
        subj = unique("back")
        self.assertEqual(send(["gone@" + d], subj)[0], 250)
        self.assertEqual(count(u, subj), 1)
        self.assertIn("4xx or 5xx", cli_fails("address", "set", "gone@" + d, "smtp-error", "250 fine"))
        self.assertIn("ASCII", cli_fails("address", "set", "gone@" + d, "smtp-error", "550 caf\u00e9"))

    def test_disabled_domain(self):
        d = new_domain()
        u = new_account("user@" + d)
        srv.cli("domain", "set", d, "disabled", "yes")
        code, resp = rcpt_reply("user@" + d)
        self.assertEqual(code, 450, resp)
        self.assertTrue(resp.startswith(b"4."), resp)
        srv.cli("domain", "set", d, "disabled", "no")
        subj = unique("enabled")
        self.assertEqual(send(["user@" + d], subj)[0], 250)
        self.assertEqual(count(u, subj), 1)

    def test_over_quota_452(self):
        d = new_domain()
        u = new_account("user@" + d)
        subj = unique("fits")
        self.assertEqual(send(["user@" + d], subj)[0], 250)
        # Quota just above what is stored now: the next message does not fit.
        srv.psql("update accounts set quota_message_size = disk_usage + 10 where name = :'a'",
                 a="user@" + d)
        subj2 = unique("full")
        code, resp = send(["user@" + d], subj2)
        self.assertEqual(code, 452, resp)
        self.assertTrue(resp.startswith(b"4.2.2"), resp)
        self.assertEqual(count(u, subj2), 0)
        srv.psql("update accounts set quota_message_size = 0 where name = :'a'", a="user@" + d)
        self.assertEqual(send(["user@" + d], subj2)[0], 250)
        self.assertEqual(count(u, subj2), 1)

    def test_concurrent_deliveries_stay_consistent(self):
        """Many sessions at once (so deliveries are committed in groups),
        mixed with ones that must fail (an account over quota, also as
        the second recipient of a message) and ones into a mailbox that
        does not exist yet: every 250 is stored exactly once, every 452
        stores nothing for any recipient, and UIDs, modseqs, mailbox
        counts and disk usage agree with the stored messages."""
        d = new_domain()
        a = new_account("a@" + d)
        b = new_account("b@" + d)
        c = new_account("c@" + d)
        srv.cli("ruleset", "add", c, "--mailbox", "Later/New", "--header", "^x-route$=^later$")
        srv.psql("update accounts set quota_message_size = 1 where name = :'a'", a=b)
        results = []
        lock = threading.Lock()

        def worker(w):
            try:
                with srv.smtp() as s:
                    for i in range(6):
                        kind = (w + i) % 4
                        rcpts = {0: [a], 1: [c], 2: [a, b], 3: [c]}[kind]
                        hdrs = ["X-Route: later"] if kind == 3 else []
                        # "x" is no hex digit: "ccx2" cannot turn up in the random suffix
                        # of another kind's subject ("cc0-..cc2..").
                        subj = unique("ccx%d" % kind)
                        msg, _ = make_message(subject=subj, to=rcpts[0], extra_headers=hdrs)
                        s.mail(SENDER)
                        for r in rcpts:
                            s.rcpt(r)
                        code, _resp = s.data(msg)
                        with lock:
                            results.append((kind, subj, code))
            except Exception as e:  # noqa: BLE001 - reported below
                with lock:
                    results.append((-1, repr(e), 0))

        threads = [threading.Thread(target=worker, args=(w,)) for w in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(len(results), 72, results)
        for kind, subj, code in results:
            self.assertEqual(code, 452 if kind == 2 else 250, (kind, subj))
        self.assertEqual(count(a, "ccx0"), 18)
        self.assertEqual(count(a, "ccx2"), 0)
        self.assertEqual(count(b, "ccx2"), 0)
        self.assertEqual(count(c, "ccx1"), 18)
        self.assertEqual(count(c, "ccx3", "Later/New"), 18)
        for acct, n in ((a, 18), (b, 0), (c, 36)):
            rows = srv.psql(
                "select count(*), count(distinct m.modseq), coalesce(sum(m.size), 0),"
                " max(ac.disk_usage) from messages m join accounts ac on ac.id = m.account_id"
                " where ac.name = :'a'", a=acct)
            self.assertEqual(rows[0][:2], [str(n), str(n)], acct)
            self.assertEqual(rows[0][2], rows[0][3] or "0", acct)
            for mb in srv.psql(
                    "select mb.name, mb.uidnext, mb.count_total, mb.size,"
                    " (select count(*) from messages m where m.mailbox_id = mb.id),"
                    " (select coalesce(sum(size), 0) from messages m where m.mailbox_id = mb.id),"
                    " (select coalesce(max(uid), 0) from messages m where m.mailbox_id = mb.id)"
                    " from mailboxes mb join accounts ac on ac.id = mb.account_id"
                    " where ac.name = :'a'", a=acct):
                name, uidnext, total, size, nrows, sumsize, maxuid = mb
                self.assertEqual((total, size), (nrows, sumsize), (acct, name))
                # UIDs 1..n without gaps: failed deliveries rolled back theirs.
                self.assertEqual(int(uidnext), int(maxuid) + 1, (acct, name))
                self.assertEqual(int(maxuid), int(nrows), (acct, name))

    def test_reports_only_domain(self):
        d = new_domain()
        rep = new_account("dmarc-reports@" + d)
        srv.cli("address", "add", "@" + d, rep)
        srv.cli("alias", "add", "team@" + d, rep, "--post-public")
        self.assertEqual(rcpt_reply("anything@" + d)[0], 250)
        srv.cli("domain", "set", d, "reports-only", "yes")
        subj = unique("report")
        self.assertEqual(send(["dmarc-reports@" + d], subj)[0], 250)
        self.assertEqual(count(rep, subj), 1)
        # Neither the catch-all nor aliases apply.
        self.assertEqual(rcpt_reply("anything@" + d)[0], 550)
        self.assertEqual(rcpt_reply("team@" + d)[0], 550)
        srv.cli("domain", "set", d, "reports-only", "no")
        self.assertEqual(rcpt_reply("team@" + d)[0], 250)

    # ------------------------------------------------------------ aliases

    def alias_setup(self, *flags):
        d = new_domain()
        a = new_account("a@" + d)
        b = new_account("b@" + d)
        srv.cli("alias", "add", "team@" + d, a, b, *flags)
        return d, a, b

    def test_alias_delivers_to_local_members(self):
        d, a, b = self.alias_setup("--post-public", "--list-members")
        r = srv.cli("alias", "list", d)
        self.assertEqual(r.stdout.strip().split("\t"),
                         ["team@" + d, "post-public=yes", "list-members=yes",
                          "allow-msg-from=no", "members=%s,%s" % (a, b)])
        subj = unique("team")
        code, resp = send(["Team@" + d], subj)
        self.assertEqual(code, 250, resp)
        self.assertEqual(count(a, subj), 1)
        self.assertEqual(count(b, subj), 1)
        # The stored copies record the alias as the RCPT TO.
        rows = srv.psql("select rcptto_localpart from messages m join mailboxes b"
                        " on b.id = m.mailbox_id where m.subject_base = :'s'", s=subj)
        self.assertEqual(sorted(r[0] for r in rows), ["Team", "Team"])
        # Members can be added and removed; the last one stays.
        c = new_account("c@" + d)
        srv.cli("alias", "addaddr", "team@" + d, c)
        srv.cli("alias", "rmaddr", "team@" + d, a, b)
        subj2 = unique("team2")
        self.assertEqual(send(["team@" + d], subj2)[0], 250)
        self.assertEqual((count(a, subj2), count(b, subj2), count(c, subj2)), (0, 0, 1))
        self.assertIn("at least one member", cli_fails("alias", "rmaddr", "team@" + d, c))
        self.assertIn("last member", cli_fails("address", "rm", c))
        self.assertIn("not a member", cli_fails("alias", "rmaddr", "team@" + d, a))
        self.assertIn("already a member", cli_fails("alias", "addaddr", "team@" + d, c))
        srv.cli("alias", "rm", "team@" + d)
        self.assertEqual(rcpt_reply("team@" + d)[0], 550)
        self.assertEqual(srv.cli("alias", "list", d).stdout, "")

    def test_alias_members_only(self):
        d, a, b = self.alias_setup()
        subj = unique("closed")
        # A non-member learns after DATA (the From header decides).
        code, resp = send(["team@" + d], subj)
        self.assertEqual(code, 550, resp)
        self.assertTrue(resp.startswith(b"5.7.2"), resp)
        self.assertEqual((count(a, subj), count(b, subj)), (0, 0))
        # A member may post; the other members get it, the poster not.
        subj2 = unique("member-post")
        code, resp = send(["team@" + d], subj2, frm="A@" + d)
        self.assertEqual(code, 250, resp)
        self.assertEqual((count(a, subj2), count(b, subj2)), (0, 1))
        # The alias itself as From needs allow-msg-from.
        subj3 = unique("as-alias")
        self.assertEqual(send(["team@" + d], subj3, frm="team@" + d)[0], 550)
        srv.cli("alias", "set", "team@" + d, "allow-msg-from", "yes")
        self.assertEqual(send(["team@" + d], subj3, frm="team@" + d)[0], 250)
        self.assertEqual((count(a, subj3), count(b, subj3)), (1, 1))
        # Refused for the alias, delivered for a direct recipient in the
        # same transaction.
        other = new_account("other@" + d)
        subj4 = unique("mixed")
        code, resp = send(["team@" + d, other], subj4)
        self.assertEqual(code, 250, resp)
        self.assertEqual((count(a, subj4), count(b, subj4), count(other, subj4)), (0, 0, 1))
        # Public: anyone.
        srv.cli("alias", "set", "team@" + d, "post-public", "yes")
        subj5 = unique("public")
        self.assertEqual(send(["team@" + d], subj5)[0], 250)
        self.assertEqual((count(a, subj5), count(b, subj5)), (1, 1))
        self.assertIn(
            "post-public=yes\tlist-members=no\tallow-msg-from=yes",
            srv.cli("alias", "list", d).stdout)

    def test_member_also_direct_recipient_gets_one_copy(self):
        d, a, b = self.alias_setup("--post-public")
        subj = unique("once")
        # In both orders of RCPT TO.
        code, resp = send(["team@" + d, a], subj)
        self.assertEqual(code, 250, resp)
        code, resp = send([b, "team@" + d], subj)
        self.assertEqual(code, 250, resp)
        self.assertEqual(count(a, subj), 2)
        self.assertEqual(count(b, subj), 2)
        # A sender who is a member (by MAIL FROM) gets no copy either.
        subj2 = unique("from-member")
        code, resp = send(["team@" + d], subj2, mail_from=a)
        self.assertEqual(code, 250, resp)
        self.assertEqual((count(a, subj2), count(b, subj2)), (0, 1))

    def test_alias_external_members(self):
        d = new_domain()
        a = new_account("a@" + d)
        srv.cli("alias", "add", "fwd@" + d, "someone@elsewhere.example", "--post-public")
        # Nobody here could receive it, and forwarding needs the queue:
        # a temporary error instead of losing the message.
        code, resp = rcpt_reply("fwd@" + d)
        self.assertEqual(code, 451, resp)
        srv.cli("alias", "addaddr", "fwd@" + d, a)
        subj = unique("ext")
        code, resp = send(["fwd@" + d], subj)
        self.assertEqual(code, 250, resp)
        self.assertEqual(count(a, subj), 1)
        with open(srv.logpath("smtpd"), encoding="utf-8", errors="replace") as f:
            log = f.read()
        self.assertRegex(log, r"ev=alias-forward .*member=someone@elsewhere\.example "
                              r"result=not-forwarded")
        self.assertIn("someone@elsewhere.example", srv.cli("alias", "list", d).stdout)

    # ----------------------------------------------------------- rulesets

    def test_ruleset_by_mailfrom(self):
        d = new_domain()
        u = new_account("u@" + d)
        r = srv.cli("ruleset", "add", u, "--mailbox", "Lists",
                    "--mailfrom", r"^list-bounces\+[a-z0-9]+@lists\.example\.net$")
        self.assertIn("mailbox=Lists", r.stdout)
        self.assertNotIn("Lists", mailboxes(u))
        subj = unique("mf")
        code, resp = send([u], subj, mail_from="list-bounces+abc@lists.example.net")
        self.assertEqual(code, 250, resp)
        self.assertEqual(count(u, subj, "Lists"), 1)
        self.assertEqual(count(u, subj), 0)
        self.assertIn("Lists", mailboxes(u))
        # Case-sensitive by default; other senders go to the Inbox.
        subj2 = unique("mf2")
        self.assertEqual(send([u], subj2, mail_from="LIST-BOUNCES+abc@lists.example.net")[0], 250)
        self.assertEqual(send([u], subj2)[0], 250)
        self.assertEqual(count(u, subj2), 2)
        self.assertEqual(count(u, subj2, "Lists"), 0)

    def test_ruleset_by_msgfrom_and_order(self):
        d = new_domain()
        u = new_account("u@" + d)
        srv.cli("ruleset", "add", u, "--mailbox", "Boss", "--msgfrom", r"(?i)^boss@corp\.example$")
        srv.cli("ruleset", "add", u, "--mailbox=Corp", "--msgfrom=@corp\\.example$",
                "--comment", "all of corp")
        r = srv.cli("ruleset", "list", u)
        lines = r.stdout.strip().split("\n")
        self.assertEqual(len(lines), 2, r.stdout)
        self.assertTrue(lines[0].startswith("1\tmailbox=Boss\tmsgfrom=(?i)^boss@corp\\.example$"), lines)
        self.assertIn("comment=all of corp", lines[1])
        subj = unique("boss")
        self.assertEqual(send([u], subj, frm="BOSS@corp.example")[0], 250)
        self.assertEqual(send([u], subj, frm="peer@corp.example")[0], 250)
        self.assertEqual((count(u, subj, "Boss"), count(u, subj, "Corp")), (1, 1))
        # Removing rule 1: the boss falls through to Corp.
        srv.cli("ruleset", "rm", u, "1")
        subj2 = unique("boss2")
        self.assertEqual(send([u], subj2, frm="boss@corp.example")[0], 250)
        self.assertEqual((count(u, subj2, "Boss"), count(u, subj2, "Corp")), (0, 1))
        self.assertIn("no ruleset 2", cli_fails("ruleset", "rm", u, "2"))

    def test_ruleset_by_header_and_alias_member(self):
        d = new_domain()
        u = new_account("u@" + d)
        v = new_account("v@" + d)
        srv.cli("ruleset", "add", u, "--mailbox", "Lists/Dev",
                "--header", r"^list-id$=<dev\.lists\.example>$")
        srv.cli("alias", "add", "all@" + d, u, v, "--post-public")
        subj = unique("hdr")
        hdrs = ["List-Id: Developers\r\n <DEV.lists.example>"]
        self.assertEqual(send([u], subj, extra_headers=hdrs)[0], 250)
        self.assertEqual(count(u, subj, "Lists/Dev"), 1)
        # Through the alias, each member's own rulesets apply.
        subj2 = unique("hdr2")
        self.assertEqual(send(["all@" + d], subj2, extra_headers=hdrs)[0], 250)
        self.assertEqual((count(u, subj2, "Lists/Dev"), count(u, subj2)), (1, 0))
        self.assertEqual(count(v, subj2), 1)
        # Without the header: Inbox.
        subj3 = unique("hdr3")
        self.assertEqual(send([u], subj3, extra_headers=["List-Id: <other.lists.example>"])[0], 250)
        self.assertEqual((count(u, subj3), count(u, subj3, "Lists/Dev")), (1, 0))

    def test_address_mailbox_and_rm(self):
        d = new_domain()
        u = new_account("u@" + d)
        srv.cli("address", "add", "extra@" + d, u)
        srv.cli("address", "set", "extra@" + d, "mailbox", "inbox/Extra")
        subj = unique("mbox")
        self.assertEqual(send(["extra@" + d], subj)[0], 250)
        self.assertEqual(count(u, subj, "INBOX/Extra"), 1)
        # Removing the address (with its rulesets) takes effect at once.
        srv.cli("ruleset", "add", "extra@" + d, "--mailbox", "X", "--mailfrom", ".")
        r = srv.cli("address", "rm", "extra@" + d)
        self.assertIn("removed", r.stdout)
        self.assertEqual(rcpt_reply("extra@" + d)[0], 550)
        self.assertEqual(srv.psql("select count(*) from rulesets r join addresses a"
                                  " on a.id = r.address_id where a.localpart = 'extra'"), [["0"]])
        self.assertIn("no address", cli_fails("address", "rm", "extra@" + d))
        self.assertIn("wildcard", cli_fails("address", "set", u, "mailbox", "a*"))

    # ---------------------------------------------------------- CLI errors

    def test_cli_errors(self):
        d = new_domain()
        u = new_account("u@" + d)
        err = cli_fails("ruleset", "add", u, "--mailbox", "X", "--mailfrom", "a(b")
        self.assertIn("bad regular expression a(b", err)
        err = cli_fails("ruleset", "add", u, "--mailbox", "X", "--msgfrom", r"\d+@x")
        self.assertIn(r"\d is not supported", err)
        err = cli_fails("ruleset", "add", u, "--mailbox", "X", "--header", "List-Id=x")
        self.assertIn("lower case", err)
        err = cli_fails("ruleset", "add", u, "--mailbox", "X", "--header", "novalue")
        self.assertIn("FIELD-REGEXP=VALUE-REGEXP", err)
        err = cli_fails("ruleset", "add", u, "--mailbox", "X")
        self.assertIn("at least one condition", err)
        err = cli_fails("ruleset", "add", u, "--mailfrom", "x")
        self.assertIn("--mailbox is required", err)
        err = cli_fails("ruleset", "add", u, "--mailbox", "X", "--mailfrom", "x", "--is-forward")
        self.assertIn("verified domain", err)
        err = cli_fails("ruleset", "add", u, "--mailbox", "X", "--mailfrom", "x",
                        "--accept-rejects-to-mailbox", "inbox")
        self.assertIn("cannot be Inbox", err)
        err = cli_fails("ruleset", "add", "nobody@" + d, "--mailbox", "X", "--mailfrom", "x")
        self.assertIn("no address nobody@" + d, err)
        err = cli_fails("ruleset", "add", u, "--mailbox", "X", "--bogus", "x")
        self.assertIn("unknown or incomplete option --bogus", err)
        self.assertIn("bad ruleset number", cli_fails("ruleset", "rm", u, "zero"))
        self.assertIn("no address", cli_fails("ruleset", "list", "nobody@" + d))
        self.assertEqual(srv.cli("ruleset", "list", u).stdout, "")
        # Nothing was stored by the failures.
        self.assertEqual(srv.psql("select count(*) from rulesets r join addresses a on"
                                  " a.id = r.address_id join domains d on d.id = a.domain_id"
                                  " where d.name = :'d'", d=d), [["0"]])
        # Aliases.
        self.assertIn("no address nobody@" + d,
                      cli_fails("alias", "add", "team@" + d, "nobody@" + d))
        self.assertIn("in use as an address", cli_fails("alias", "add", u, u))
        self.assertIn("at least one member", cli_fails("alias", "add", "team@" + d))
        srv.cli("domain", "set", d, "catchall-separators", "+")
        self.assertIn("separator", cli_fails("alias", "add", "a+b@" + d, u))
        srv.cli("alias", "add", "team@" + d, u)
        self.assertIn("already exists", cli_fails("alias", "add", "team@" + d, u))
        self.assertIn("in use", cli_fails("address", "add", "team@" + d, u))
        self.assertIn("no alias", cli_fails("alias", "rm", "nope@" + d))
        self.assertIn("yes or no", cli_fails("alias", "set", "team@" + d, "post-public", "perhaps"))
        self.assertIn("bad member address", cli_fails("alias", "addaddr", "team@" + d, "not an address"))
        # Domains and addresses.
        self.assertIn("does not exist", cli_fails("domain", "set", "nope.example", "disabled", "yes"))
        r = srv.cli("domain", "set", d, "colour", "blue", check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown setting colour", r.stderr)
        self.assertIn("no address", cli_fails("address", "set", "nobody@" + d, "mailbox", "X"))
        # Help names the new commands.
        out = srv.cli("help").stdout
        for word in ("alias", "ruleset", "domain set", "address rm"):
            self.assertIn(word, out)
        self.assertIn("--mailfrom", srv.cli("help", "ruleset").stdout)
        self.assertIn("post-public", srv.cli("help", "alias").stdout)

    def test_changes_apply_without_restart(self):
        # One SMTP session across CLI changes: each RCPT sees the current
        # rows (no cache in smtpd).
        d = new_domain()
        u = new_account("u@" + d)
        with srv.smtp() as s:
            self.assertEqual(s.mail(SENDER)[0], 250)
            self.assertEqual(s.rcpt("late@" + d)[0], 550)
            srv.cli("address", "add", "late@" + d, u)
            self.assertEqual(s.rcpt("late@" + d)[0], 250)
            srv.cli("domain", "set", d, "disabled", "yes")
            self.assertEqual(s.rcpt(u)[0], 450)
            s.rset()
        srv.cli("domain", "set", d, "disabled", "no")
