"""Authentication of incoming mail on port 25: iprev, SPF, DKIM and DMARC
against a zone file, the Authentication-Results and Received-SPF header
fields users see over IMAP, the results stored with each message, DMARC
reject policies (550, with the copy kept in Rejects) and the ruleset
modifiers that override them (IsForward, ListAllowDomain,
AcceptRejectsToMailbox), verified-domain rulesets, and the evaluations
kept for DMARC aggregate reports."""

import base64
import os
import smtplib
import ssl
import subprocess
import tempfile

import harness
from harness import make_message, unique

srv = None
PW = "mailauth-password-1"
KEYDIR = None
KEY = None  # RSA private key (PEM file) of sel._domainkey.signed.example

ZONE = """
sender.example. IN TXT "v=spf1 ip4:127.0.0.1 -all"
_dmarc.sender.example. IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@sender.example"
strict.example. IN TXT "v=spf1 -all"
_dmarc.strict.example. IN TXT "v=DMARC1; p=reject; rua=mailto:reports@strict.example"
lists.example. IN TXT "v=spf1 ip4:127.0.0.0/8 -all"
soft.example. IN TXT "v=spf1 ~all"
_dmarc.quarantine.example. IN TXT "v=DMARC1; p=quarantine; pct=0"
signed.example. IN TXT "v=spf1 -all"
_dmarc.signed.example. IN TXT "v=DMARC1; p=reject; adkim=s"
$SERVFAIL broken.example
$SECURE-ZONE 127.in-addr.arpa
$SECURE-ZONE localhost
$SERVFAIL _dmarc.broken.example
"""


def setUpModule():
    global srv, KEY, KEYDIR
    KEYDIR = tempfile.mkdtemp(prefix="mailauth-key-")
    KEY = os.path.join(KEYDIR, "k.pem")
    subprocess.run(["openssl", "genrsa", "-out", KEY, "2048"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    der = subprocess.run(["openssl", "rsa", "-in", KEY, "-pubout", "-outform", "DER"],
                         check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
    p = base64.b64encode(der).decode()
    chunks = " ".join('"%s"' % p[i:i + 200] for i in range(0, len(p), 200))
    zone = ZONE + 'sel._domainkey.signed.example. IN TXT "v=DKIM1; k=rsa; p=" %s\n' % chunks
    srv = harness.Server("mailauth", dns_zone=zone, tls=True,
                         listener_conf={"submissions": "{port:submissions}"},
                         extra_ports=("submissions",)).start()


def dkim_sign(msg, headers="from,to,subject,date,message-id"):
    """The message signed by `mailstead dkim sign` as sel._domainkey.signed.example."""
    path = os.path.join(KEYDIR, "msg.eml")
    with open(path, "wb") as f:
        f.write(msg)
    r = subprocess.run([harness.CLI, "dkim", "sign", "--domain", "signed.example", "--selector",
                        "sel", "--key", KEY, "--headers", headers, path],
                       check=True, stdout=subprocess.PIPE)
    return r.stdout


def tearDownModule():
    if srv:
        srv.stop()
    if KEYDIR:
        subprocess.run(["rm", "-rf", KEYDIR])


def account():
    d = "%s.example" % unique("rcpt")
    srv.cli("domain", "add", d)
    addr = "user@" + d
    srv.add_account(addr, PW)
    return addr


def fetch_all(user, mailbox="INBOX"):
    """{uid: (flags, message bytes)} of a mailbox; None if it does not exist."""
    m = srv.imap(user, PW)
    try:
        typ, _ = m.select(mailbox, readonly=True)
        if typ != "OK":
            return None
        uids = harness.uid_search(m, "ALL")
        if not uids:
            return {}
        got = harness.fetch_by_uid(m, uids, "(FLAGS BODY.PEEK[])")
    finally:
        m.logout()
    return {u: (harness.flags_of(it["FLAGS"]), it["BODY[]"]) for u, it in got.items()}


def header_block(msg):
    return msg.split(b"\r\n\r\n", 1)[0].replace(b"\r\n\t", b" ").replace(b"\r\n ", b" ")


def row(subject, account_addr):
    rows = srv.psql(
        "select m.spf_result, m.dmarc_result, m.dmarc_disposition, m.iprev_result,"
        " m.mailfrom_validated, m.msgfrom_validated, m.msgfrom_validation,"
        " array_to_string(m.dkim_domains, ','), m.is_reject, mb.name"
        " from messages m join accounts a on a.id = m.account_id"
        " join mailboxes mb on mb.id = m.mailbox_id"
        " where a.name = :'a' and m.subject_base = :'s'", a=account_addr, s=subject)
    return rows


class MailAuthTest(harness.TestCase):

    def send(self, rcpt, frm, mail_from, subject=None, sign=False):
        subject = subject or unique("auth")
        msg, _ = make_message(subject=subject, frm=frm, to=rcpt)
        if sign:
            msg = dkim_sign(msg)
        with srv.smtp() as s:
            code, resp = s.mail(mail_from)
            self.assertEqual(code, 250, resp)
            code, resp = s.rcpt(rcpt)
            self.assertEqual(code, 250, resp)
            code, resp = s.data(msg)
        return code, resp, subject

    def test_spf_and_dmarc_pass(self):
        u = account()
        code, resp, subj = self.send(u, "alice@sender.example", "alice@sender.example")
        self.assertEqual(code, 250, resp)
        (flags, msg), = fetch_all(u).values()
        hdr = header_block(msg)
        self.assertIn(b"Authentication-Results: " + harness.HOSTNAME.encode(), hdr)
        # The reverse name was DNSSEC-authentic: noted in both fields.
        self.assertIn(b"iprev=pass (dnssec) policy.iprev=127.0.0.1 (localhost)", hdr)
        self.assertIn(b"Received: from client.example.net (localhost (dnssec) [127.0.0.1])", hdr)
        self.assertIn(b"spf=pass smtp.mailfrom=alice@sender.example", hdr)
        self.assertIn(b"dkim=none", hdr)
        self.assertIn(b"dmarc=pass (p=reject dis=none) header.from=sender.example", hdr)
        self.assertIn(b"Received-SPF: pass", hdr)
        # Our fields come before the Received line we add.
        self.assertLess(hdr.index(b"Authentication-Results:"), hdr.index(b"Received: from"))
        self.assertEqual(row(subj, u), [["pass", "pass", "none", "pass", "t", "t", "2", "",
                                         "f", "Inbox"]])
        # The evaluation is kept for the aggregate report to sender.example.
        ev = srv.psql("select disposition, aligned_spf_pass, aligned_dkim_pass,"
                      " addresses[1], policy_published->>'p', spf_results->0->>'result'"
                      " from dmarc_evaluations where header_from = 'sender.example'"
                      " order by id desc limit 1")
        self.assertEqual(ev, [["none", "t", "f", "mailto:dmarc@sender.example", "reject", "pass"]])

    def test_dkim_signed_message(self):
        u = account()
        code, resp, subj = self.send(u, "bob@signed.example", "bob@elsewhere.invalid", sign=True)
        self.assertEqual(code, 250, resp)
        (_, msg), = fetch_all(u).values()
        hdr = header_block(msg)
        self.assertRegex(hdr, rb"dkim=pass header\.d=signed\.example header\.s=sel"
                              rb" header\.a=rsa-sha256 header\.b=\S{8}")
        self.assertIn(b"dmarc=pass", hdr)
        r = row(subj, u)[0]
        self.assertEqual((r[0], r[1], r[7]), ("none", "pass", "signed.example"))

    def test_dmarc_reject_keeps_copy_in_rejects(self):
        u = account()
        code, resp, subj = self.send(u, "mallory@strict.example", "mallory@strict.example")
        self.assertEqual(code, 550, resp)
        self.assertIn(b"5.7.1", resp)
        self.assertIn(b"DMARC", resp)
        self.assertEqual(fetch_all(u), {})
        rejects = fetch_all(u, "Rejects")
        self.assertEqual(len(rejects), 1)
        (flags, msg), = rejects.values()
        self.assertIn("\\seen", flags)
        self.assertIn(b"spf=fail", header_block(msg))
        self.assertIn(b"dmarc=fail (p=reject dis=reject) header.from=strict.example",
                      header_block(msg))
        self.assertEqual(row(subj, u), [["fail", "fail", "reject", "pass", "f", "f", "8", "",
                                         "t", "Rejects"]])
        ev = srv.psql("select disposition, aligned_spf_pass from dmarc_evaluations"
                      " where header_from = 'strict.example' order by id desc limit 1")
        self.assertEqual(ev, [["reject", "f"]])

    def test_tampered_signature_fails(self):
        u = account()
        subject = unique("tamper")
        msg, _ = make_message(subject=subject, frm="bob@signed.example", to=u)
        signed = dkim_sign(msg, "from,to,subject")
        msg = signed.replace(b"this is test message", b"this is a changed message")
        with srv.smtp() as s:
            s.mail("bob@signed.example")
            s.rcpt(u)
            code, resp = s.data(msg)
        # Body changed: the signature fails, SPF fails, DMARC rejects.
        self.assertEqual(code, 550, resp)
        (_, stored), = fetch_all(u, "Rejects").values()
        self.assertRegex(header_block(stored), rb"dkim=fail[^;]*header\.d=signed\.example")

    def test_accept_rejects_to_mailbox(self):
        u = account()
        srv.cli("ruleset", "add", u, "--mailbox", "Lists", "--header", "^subject$=^strictlist",
                "--accept-rejects-to-mailbox", "Quarantine")
        code, resp, subj = self.send(u, "x@strict.example", "x@strict.example",
                                     subject=unique("strictlist"))
        self.assertEqual(code, 250, resp)
        self.assertEqual(len(fetch_all(u, "Quarantine")), 1)
        self.assertIsNone(fetch_all(u, "Rejects"))
        ev = srv.psql("select override_reasons[1] from dmarc_evaluations"
                      " where header_from = 'strict.example' order by id desc limit 1")
        self.assertEqual(ev, [["local_policy"]])

    def test_list_allow_domain(self):
        u = account()
        # A list at lists.example (SPF pass for its bounce address)
        # relays a post From strict.example, which fails that domain's DMARC.
        srv.cli("ruleset", "add", u, "--mailbox", "Lists/strict",
                "--mailfrom", r"^bounces@lists\.example$",
                "--list-allow-domain", "lists.example")
        code, resp, subj = self.send(u, "poster@strict.example", "bounces@lists.example")
        self.assertEqual(code, 250, resp)
        self.assertEqual(len(fetch_all(u, "Lists/strict")), 1)
        self.assertEqual(row(subj, u)[0][1:3], ["fail", "reject"])

    def test_is_forward(self):
        u = account()
        srv.cli("ruleset", "add", u, "--mailbox", "Forwarded", "--is-forward",
                "--mailfrom", r"^fwd@lists\.example$", "--verified-domain", "lists.example")
        code, resp, _ = self.send(u, "someone@strict.example", "fwd@lists.example")
        self.assertEqual(code, 250, resp)
        self.assertEqual(len(fetch_all(u, "Forwarded")), 1)

    def test_verified_domain_ruleset(self):
        u = account()
        srv.cli("ruleset", "add", u, "--mailbox", "Verified", "--verified-domain", "sender.example")
        # SPF pass for sender.example: the ruleset matches.
        code, resp, _ = self.send(u, "a@sender.example", "a@sender.example")
        self.assertEqual(code, 250, resp)
        self.assertEqual(len(fetch_all(u, "Verified")), 1)
        # softfail for soft.example: not verified, so the Inbox.
        code, resp, _ = self.send(u, "a@soft.example", "a@soft.example")
        self.assertEqual(code, 250, resp)
        self.assertEqual(len(fetch_all(u, "Verified")), 1)
        self.assertEqual(len(fetch_all(u)), 1)

    def test_quarantine_pct_zero_and_temperror(self):
        u = account()
        # p=quarantine with pct=0: sampled out, nothing done.
        code, resp, subj = self.send(u, "q@quarantine.example", "q@quarantine.example")
        self.assertEqual(code, 250, resp)
        self.assertEqual(row(subj, u)[0][1:3], ["fail", "none"])
        # DNS failures never reject: temperror is recorded, the message delivered.
        code, resp, subj = self.send(u, "t@broken.example", "t@broken.example")
        self.assertEqual(code, 250, resp)
        r = row(subj, u)[0]
        self.assertEqual((r[0], r[1]), ("temperror", "temperror"))

    def test_null_sender_checks_helo(self):
        u = account()
        msg, _ = make_message(subject=unique("dsn"), frm="mailer-daemon@sender.example", to=u)
        with srv.smtp(ehlo=False) as s:
            s.ehlo("sender.example")
            s.mail("<>")
            s.rcpt(u)
            code, resp = s.data(msg)
        self.assertEqual(code, 250, resp)
        (_, stored), = fetch_all(u).values()
        hdr = header_block(stored)
        self.assertIn(b"spf=pass smtp.helo=sender.example", hdr)
        self.assertIn(b"Received-SPF: pass", hdr)


class CliTest(harness.TestCase):
    """dkim gen/list/rm with keys stored per domain, DKIM signing of
    submissions with them, dns records/check, dmarc check."""

    def zone_file(self, text):
        path = os.path.join(KEYDIR, unique("zone"))
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_dkim_keys_sign_submissions(self):
        d = "%s.example" % unique("signer")
        srv.cli("domain", "add", d)
        u = "me@" + d
        srv.add_account(u, PW)
        r = srv.cli("dkim", "gen", "--algorithm", "ed25519", "--domain", d, "--selector", "ed1")
        self.assertRegex(r.stdout, r'^ed1\._domainkey\.%s\. IN TXT "v=DKIM1; k=ed25519; p=[A-Za-z0-9+/=]+"'
                         % d.replace(".", r"\."))
        ed_txt = r.stdout.split(" IN TXT ", 1)[1].strip().strip('"')
        # Settings: the signed fields (From added), no x=, no oversigning; and a
        # key that is only published.
        srv.cli("dkim", "gen", "--algorithm", "rsa", "--domain", d, "--selector", "rsa1",
                "--headers", "Subject,To", "--expiration", "0", "--no-oversign")
        srv.cli("dkim", "gen", "--algorithm", "ed25519", "--domain", d, "--selector", "next",
                "--no-sign")
        lst = srv.cli("dkim", "list", d).stdout
        self.assertIn("selector=rsa1 algorithm=rsa sign=yes oversign=no expiration=0s", lst)
        self.assertIn("selector=next algorithm=ed25519 sign=no", lst)
        self.assertIn("selector=ed1 algorithm=ed25519 sign=yes", lst)
        self.assertIn("selector=rsa1 algorithm=rsa sign=yes", lst)
        self.assertNotIn("PRIVATE", lst)
        # Errors: unknown domain, duplicate selector.
        bad = srv.cli("dkim", "gen", "--algorithm", "rsa", "--domain", "nowhere.example",
                      "--selector", "x", check=False)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("no such domain", bad.stderr)
        dup = srv.cli("dkim", "gen", "--algorithm", "rsa", "--domain", d, "--selector", "ed1",
                      check=False)
        self.assertEqual(dup.returncode, 1)
        self.assertIn("already exists", dup.stderr)

        # A submission From the domain gets both signatures...
        subj = unique("signed")
        msg, _ = make_message(subject=subj, frm=u, to=u)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with smtplib.SMTP_SSL("127.0.0.1", srv.ports["submissions"], timeout=harness.TIMEOUT,
                              context=ctx) as s:
            s.login(u, PW)
            s.sendmail(u, [u], msg)
        (_, stored), = fetch_all(u).values()
        hdr = header_block(stored)
        self.assertIn(b"d=" + d.encode(), hdr)
        self.assertIn(b"s=ed1", hdr)
        self.assertIn(b"s=rsa1", hdr)
        self.assertNotIn(b"s=next", hdr)
        sigs = [f for f in hdr.split(b"\r\n") if f.startswith(b"DKIM-Signature:")]
        self.assertEqual(len(sigs), 2)
        rsa_sig = next(f for f in sigs if b"s=rsa1" in f).replace(b" ", b"")
        self.assertIn(b"h=subject:to:from;", rsa_sig.lower())
        self.assertNotIn(b";x=", rsa_sig)
        ed_sig = next(f for f in sigs if b"s=ed1" in f).replace(b" ", b"")
        self.assertIn(b";x=", ed_sig)
        rsa_txt = next(l for l in srv.cli("dkim", "list", d).stdout.splitlines()
                       if "selector=rsa1" in l).split(" record=", 1)[1]
        # ...which verify against the published records.
        zone = self.zone_file('ed1._domainkey.%s. IN TXT "%s"\nrsa1._domainkey.%s. IN TXT %s\n'
                              % (d, ed_txt, d, " ".join('"%s"' % rsa_txt[i:i + 250]
                                                       for i in range(0, len(rsa_txt), 250))))
        path = os.path.join(KEYDIR, "stored.eml")
        with open(path, "wb") as f:
            f.write(stored)
        v = subprocess.run([harness.CLI, "dkim", "verify", "--dns-zone", zone, path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        self.assertEqual(v.stdout.count("pass"), 2, v.stdout)
        # "dkim sign" uses the stored key by default.
        with open(path, "wb") as f:
            f.write(msg)
        r = srv.cli("dkim", "sign", "--domain", d, "--selector", "ed1", path)
        self.assertTrue(r.stdout.startswith("DKIM-Signature:"), r.stdout[:200])
        # Removing a key stops signing with it.
        srv.cli("dkim", "rm", d, "rsa1")
        self.assertNotIn("rsa1", srv.cli("dkim", "list", d).stdout)
        self.assertEqual(srv.cli("dkim", "rm", d, "rsa1", check=False).returncode, 1)

    def test_dns_records_and_check(self):
        d = "%s.example" % unique("dnsrec")
        srv.cli("domain", "add", d)
        srv.cli("dkim", "gen", "--algorithm", "ed25519", "--domain", d, "--selector", "k1")
        out = srv.cli("dns", "records", d).stdout
        lines = [l for l in out.splitlines() if l and not l.startswith(";")]
        want = [
            "%s. IN MX 10 %s." % (d, harness.HOSTNAME),
            '%s. IN TXT "v=spf1 mx ~all"' % d,
            '_dmarc.%s. IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc-reports@%s!10m"' % (d, d),
            '_smtp._tls.%s. IN TXT "v=TLSRPTv1; rua=mailto:tls-reports@%s"' % (d, d),
            "autoconfig.%s. IN CNAME %s." % (d, harness.HOSTNAME),
            "_submissions._tcp.%s. IN SRV 0 1 %d %s." % (d, srv.ports["submissions"],
                                                      harness.HOSTNAME),
            "_imap._tcp.%s. IN SRV 0 0 0 ." % d,
        ]
        for w in want:
            self.assertIn(w, lines)
        self.assertTrue(any(l.startswith("k1._domainkey.%s. IN TXT \"v=DKIM1; k=ed25519; p=" % d)
                            for l in lines), lines)
        self.assertTrue(any(l.startswith("_mta-sts.%s. IN TXT \"v=STSv1; id=" % d) for l in lines))
        # DANE: SHA-256 of the listener certificate's public key.
        der = subprocess.run("openssl x509 -in %s -pubkey -noout | openssl pkey -pubin -outform DER"
                             % srv.tls_cert, shell=True, check=True, stdout=subprocess.PIPE).stdout
        import hashlib
        self.assertIn("_25._tcp.%s. IN TLSA 3 1 1 %s" % (harness.HOSTNAME,
                                                         hashlib.sha256(der).hexdigest()), lines)

        # Publishing exactly those records makes "dns check" pass...
        zone = self.zone_file("\n".join(lines) + "\n")
        r = srv.cli("dns", "check", d, "--dns-zone", zone, check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(all(l.startswith("ok ") for l in r.stdout.splitlines()), r.stdout)
        # ...a different DMARC record or a missing MX fails it.
        changed = [l.replace("p=reject", "p=none") if l.startswith("_dmarc.") else l
                   for l in lines if " IN MX " not in l]
        zone = self.zone_file("\n".join(changed) + "\n")
        r = srv.cli("dns", "check", d, "--dns-zone", zone, check=False)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertRegex(r.stdout, r"(?m)^missing %s\. IN MX" % d.replace(".", r"\."))
        self.assertRegex(r.stdout, r'(?m)^different _dmarc\..*; found "v=DMARC1; p=none')
        # Optional records do not fail the check.
        basic = [l for l in lines if " IN MX " in l or "v=spf1" in l or "_domainkey" in l
                 or l.startswith("_dmarc.")]
        zone = self.zone_file("\n".join(basic) + "\n")
        r = srv.cli("dns", "check", d, "--dns-zone", zone, check=False)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("missing (optional) _smtp._tls.", r.stdout)
        self.assertEqual(srv.cli("dns", "records", check=False).returncode, 2)

    def test_dmarc_check_cli(self):
        msg, _ = make_message(subject=unique("cli"), frm="bob@signed.example", to="x@y.example")
        path = os.path.join(KEYDIR, "dmarc.eml")
        with open(path, "wb") as f:
            f.write(dkim_sign(msg))
        r = subprocess.run([harness.CLI, "dmarc", "check", path, "--ip", "127.0.0.1",
                            "--mail-from", "bob@signed.example", "--helo", "mx.signed.example",
                            "--dns-zone", srv.zone_path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout.splitlines()
        self.assertEqual(out[0], "pass")
        self.assertIn("spf=fail spf-domain=signed.example spf-aligned=no", out)
        self.assertIn("dkim-aligned=signed.example", out)
        self.assertIn("policy=reject", out)
        self.assertTrue(any(l.startswith("Authentication-Results: localhost;") for l in out))
        # Not signed: DMARC fails and the policy says reject.
        with open(path, "wb") as f:
            f.write(msg)
        r = subprocess.run([harness.CLI, "dmarc", "check", path, "--ip", "127.0.0.1",
                            "--mail-from", "bob@signed.example", "--helo", "mx.signed.example",
                            "--dns-zone", srv.zone_path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.assertEqual(r.stdout.splitlines()[0], "fail")
        self.assertIn("reject=yes", r.stdout.splitlines())
        r = subprocess.run([harness.CLI, "dmarc", "check", path, "--ip", "not-an-ip",
                            "--mail-from", "a@b", "--helo", "h"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
        self.assertEqual(r.returncode, 2)
