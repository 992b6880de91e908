"""DKIM interoperability: messages signed by `mailstead dkim sign` verify
with dkimpy (Debian python3-dkim: the dkim module and its dkimverify
command) and OpenDKIM (opendkim-testmsg), and messages signed by dkimpy
and OpenDKIM verify with `mailstead dkim verify --dns-zone`.

Keys never come from real DNS: dkimpy gets them through dkim.verify's
dnsfunc; dkimverify and opendkim-testmsg, which can only ask a resolver,
run in a private mount and network namespace (unshare) with a small DNS
server on 127.0.0.1:53 and /etc/resolv.conf bind-mounted to point at it.
Those two are skipped where namespaces are not allowed; missing
python3-dkim or opendkim-tools is a failure.

Run: top_builddir=BUILD python3 -m unittest discover -s tests/integration \
         -p test_dkim_interop.py
"""
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

TOP_BUILDDIR = os.environ.get("top_builddir", ".")
MAILSTEAD = os.path.join(TOP_BUILDDIR, "cli", "mailstead")

MESSAGE = (
    "From: Alice <alice@example.org>\n"
    "To: Bob <bob@example.net>\n"
    "Subject: Interop  test\n"
    "\tfolded\n"
    "Date: Mon, 23 Nov 2026 10:00:00 +0100\n"
    "Message-ID: <interop-1@example.org>\n"
    "MIME-Version: 1.0\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "\n"
    "Hello Bob,  \n"
    "\n"
    "this  line has\ttabs and trailing space \n"
    "\n"
    "\n"
)


def zone_records(text):
    """Name -> TXT value (strings concatenated) from zone-file lines."""
    recs = {}
    for line in text.splitlines():
        m = re.match(r"^(\S+)\s+IN\s+TXT\s+(.*)$", line)
        if m:
            name = m.group(1).rstrip(".").lower()
            recs[name] = "".join(re.findall(r'"([^"]*)"', m.group(2)))
    return recs


# Runs under an interpreter that has the dkim module (dkimpy). argv: zone
# file, message file, index of the signature (or -1 for all). Prints one
# result per signature; exit 0 when all verify.
DKIMPY_VERIFY = r"""
import re, sys, dkim
zone = open(sys.argv[1]).read()
recs = {}
for line in zone.splitlines():
    m = re.match(r"^(\S+)\s+IN\s+TXT\s+(.*)$", line)
    if m:
        recs[m.group(1).rstrip(".").lower()] = "".join(re.findall(r'"([^"]*)"', m.group(2))).encode()
def dnsfunc(name, timeout=5):
    if isinstance(name, bytes):
        name = name.decode()
    return recs.get(name.rstrip(".").lower())
msg = open(sys.argv[2], "rb").read()
d = dkim.DKIM(msg)
n = len([h for h in d.headers if h[0].lower() == b"dkim-signature"])
ok = n > 0
for i in range(n):
    r = d.verify(idx=i, dnsfunc=dnsfunc)
    print(i, r)
    ok = ok and r
sys.exit(0 if ok else 1)
"""

# argv: key PEM (as written by mailstead dkim gen), algorithm, selector,
# domain, canonicalization "h/b", length flag, message file. Writes the
# signed message to stdout.
DKIMPY_SIGN = r"""
import base64, sys, dkim
pem, algo, sel, dom, canon, length, path = sys.argv[1:8]
msg = open(path, "rb").read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
key = open(pem, "rb").read()
if algo == "ed25519":
    # dkimpy takes the base64 raw seed; PKCS#8 Ed25519 DER ends with it.
    der = base64.b64decode(b"".join(l for l in key.splitlines() if not l.startswith(b"-----")))
    key = base64.b64encode(der[-32:])
    a = b"ed25519-sha256"
else:
    a = b"rsa-sha256"
h, b = canon.encode().split(b"/")
sig = dkim.sign(msg, sel.encode(), dom.encode(), key, signature_algorithm=a,
                canonicalize=(h, b), length=(length == "1"),
                include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
sys.stdout.buffer.write(sig + msg)
"""


def find_dkimpy():
    for exe in (sys.executable, "/usr/bin/python3"):
        if exe and os.path.exists(exe):
            r = subprocess.run([exe, "-c", "import dkim, nacl, dns"], capture_output=True)
            if r.returncode == 0:
                return exe
    return None


DKIMPY = find_dkimpy()


def netns_usable():
    if os.geteuid() != 0 or shutil.which("unshare") is None or DKIMPY is None:
        return False
    r = subprocess.run(["unshare", "-m", "-n", "true"], capture_output=True)
    return r.returncode == 0


def netns_main(args):
    """Inside unshare -m -n: serve the zone's TXT records on 127.0.0.1:53,
    point /etc/resolv.conf at it and run the command (after "--") with
    standard input passed through."""
    import socket
    import threading

    import dns.message
    import dns.rcode
    import dns.rdatatype
    import dns.rrset

    zone, cmd = args[0], args[args.index("--") + 1:]
    recs = zone_records(open(zone).read())
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 53))

    def serve():
        while True:
            data, peer = sock.recvfrom(4096)
            try:
                q = dns.message.from_wire(data)
            except Exception:
                continue
            resp = dns.message.make_response(q)
            qn = q.question[0].name
            name = qn.to_text().rstrip(".").lower()
            if name in recs and q.question[0].rdtype == dns.rdatatype.TXT:
                v = recs[name]
                chunks = " ".join('"%s"' % v[i:i + 255] for i in range(0, len(v), 255))
                resp.answer.append(dns.rrset.from_text(qn, 300, "IN", "TXT", chunks))
            else:
                resp.set_rcode(dns.rcode.NXDOMAIN)
            sock.sendto(resp.to_wire(), peer)

    threading.Thread(target=serve, daemon=True).start()
    fd, resolv = tempfile.mkstemp()
    os.write(fd, b"nameserver 127.0.0.1\noptions attempts:1 timeout:2\n")
    os.close(fd)
    subprocess.run(["mount", "--bind", resolv, "/etc/resolv.conf"], check=True)
    try:
        r = subprocess.run(cmd, stdin=sys.stdin)
    finally:
        os.unlink(resolv)
    sys.exit(r.returncode)


@unittest.skipUnless(os.path.exists(MAILSTEAD), "cli/mailstead not built (set top_builddir)")
class DkimInterop(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Missing tools are a failure, as in run-tests: CI installs them
        # (contrib/install-deps-debian.sh).
        if DKIMPY is None:
            raise AssertionError("the python dkim module is missing: apt-get install python3-dkim")
        if shutil.which("opendkim-testmsg") is None:
            raise AssertionError("opendkim-testmsg is missing: apt-get install opendkim-tools")
        cls.dir = tempfile.mkdtemp(prefix="dkim-interop-")
        zone = []
        cls.keys = {}
        for algo in ("rsa", "ed25519"):
            sel = "sel-" + algo
            r = subprocess.run([MAILSTEAD, "dkim", "gen", "--algorithm", algo, "--domain",
                                "example.org", "--selector", sel, "--dir", cls.dir],
                               capture_output=True, text=True, check=True)
            zone.append(r.stdout)
            cls.keys[algo] = (sel, os.path.join(
                cls.dir, "%s._domainkey.example.org.%s.pem" % (sel, algo)))
        cls.zone = os.path.join(cls.dir, "keys.zone")
        with open(cls.zone, "w") as f:
            f.write("".join(zone))
        cls.msg = os.path.join(cls.dir, "message.txt")
        with open(cls.msg, "w") as f:
            f.write(MESSAGE)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def write(self, name, data):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def read(self, path):
        with open(path, "rb") as f:
            return f.read()

    def ms_sign(self, algo, *extra):
        sel, pem = self.keys[algo]
        r = subprocess.run([MAILSTEAD, "dkim", "sign", "--domain", "example.org", "--selector",
                            sel, "--key", pem, *extra, self.msg], capture_output=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith(b"DKIM-Signature: v=1; a="))
        self.assertNotIn(b"\n", r.stdout.replace(b"\r\n", b""), "output is CRLF only")
        return r.stdout

    def ms_verify(self, path):
        return subprocess.run([MAILSTEAD, "dkim", "verify", "--dns-zone", self.zone, path],
                              capture_output=True, text=True)

    def dkimpy_verify(self, path):
        return subprocess.run([DKIMPY, "-c", DKIMPY_VERIFY, self.zone, path],
                              capture_output=True, text=True)

    def in_netns(self, cmd, stdin_path):
        with open(stdin_path, "rb") as f:
            return subprocess.run(["unshare", "-m", "-n", DKIMPY, os.path.abspath(__file__),
                                   "--netns-dns", self.zone, "--", *cmd],
                                  stdin=f, capture_output=True, text=True, timeout=60)

    def test_gen_writes_private_key_and_record(self):
        for algo, (sel, pem) in self.keys.items():
            st = os.stat(pem)
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
            with open(pem) as f:
                self.assertIn("-----BEGIN PRIVATE KEY-----", f.read())
        with open(self.zone) as f:
            lines = f.read().splitlines()
        self.assertEqual(len(lines), 2)
        for line in lines:
            self.assertRegex(line, r'^sel-(rsa|ed25519)\._domainkey\.example\.org\. IN TXT "')
            for s in re.findall(r'"([^"]*)"', line):
                self.assertLessEqual(len(s), 255)
        recs = zone_records("\n".join(lines))
        self.assertTrue(recs["sel-rsa._domainkey.example.org"].startswith("v=DKIM1; k=rsa; p=MII"))
        self.assertRegex(recs["sel-ed25519._domainkey.example.org"],
                         r"^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$")

    def test_mailstead_signed_verifies_with_dkimpy(self):
        for algo in ("rsa", "ed25519"):
            for extra in ([], ["--canonicalization", "simple/simple"],
                          ["--oversign", "--expiration", "3600", "--headers",
                           "From,To,Subject,Date,Message-ID,Reply-To"]):
                with self.subTest(algo=algo, extra=extra):
                    path = self.write("ms-signed.eml", self.ms_sign(algo, *extra))
                    r = self.dkimpy_verify(path)
                    self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                    r = self.ms_verify(path)
                    self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                    self.assertTrue(r.stdout.startswith("pass d=example.org s=sel-"), r.stdout)

    def test_tampered_fails_everywhere(self):
        signed = self.ms_sign("ed25519")
        path = self.write("tampered.eml", signed.replace(b"Hello Bob", b"Hello Eve"))
        r = self.dkimpy_verify(path)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        r = self.ms_verify(path)
        self.assertEqual(r.returncode, 1)
        self.assertIn("fail", r.stdout)
        self.assertIn("body hash", r.stdout)

    def test_dkimpy_signed_verifies_with_mailstead(self):
        for algo in ("rsa", "ed25519"):
            sel, pem = self.keys[algo]
            for canon in ("relaxed/relaxed", "simple/simple", "relaxed/simple"):
                for length in ("0", "1"):
                    with self.subTest(algo=algo, canon=canon, length=length):
                        r = subprocess.run([DKIMPY, "-c", DKIMPY_SIGN, pem, algo, sel,
                                            "example.org", canon, length, self.msg],
                                           capture_output=True)
                        self.assertEqual(r.returncode, 0, r.stderr)
                        if length == "1":
                            self.assertIn(b"l=", r.stdout.split(b"\r\nFrom:")[0])
                        path = self.write("py-signed.eml", r.stdout)
                        v = self.ms_verify(path)
                        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
                        self.assertRegex(v.stdout, r"^pass d=example\.org s=%s a=%s-sha256\n$"
                                         % (sel, algo))
                        if length == "1":
                            # Text appended after l= octets is not covered.
                            path = self.write("py-signed-appended.eml",
                                              r.stdout + b"-- \r\nappended by a list\r\n")
                            v = self.ms_verify(path)
                            self.assertEqual(v.returncode, 0, v.stdout + v.stderr)

    def test_opendkim_signed_verifies_with_mailstead(self):
        # opendkim-testmsg signs with RSA only, and Debian's with rsa-sha1
        # (relaxed/simple): this covers our rsa-sha1 verification.
        sel, pem = self.keys["rsa"]
        with open(self.msg, "rb") as f:
            r = subprocess.run(["opendkim-testmsg", "-C", "-d", "example.org", "-s", sel,
                                "-k", pem], stdin=f, capture_output=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        path = self.write("od-signed.eml", r.stdout)
        v = self.ms_verify(path)
        if "a=rsa-sha1" in v.stdout:
            # A correct rsa-sha1 signature is "policy" (RFC 8301), a
            # broken one "fail".
            self.assertEqual(v.returncode, 1, v.stdout + v.stderr)
            self.assertRegex(v.stdout, r"^policy d=example\.org s=sel-rsa a=rsa-sha1 ")
            bad = self.write("od-signed-bad.eml", r.stdout.replace(b"Hello", b"Howdy"))
            v = self.ms_verify(bad)
            self.assertRegex(v.stdout, r"^fail d=example\.org s=sel-rsa a=rsa-sha1 ")
        else:
            self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
            self.assertRegex(v.stdout, r"^pass d=example\.org s=sel-rsa a=rsa-sha256\n$")

    @unittest.skipUnless(netns_usable(), "needs root and unshare -m -n, and dkimpy")
    def test_mailstead_signed_verifies_with_dkimverify(self):
        for algo in ("rsa", "ed25519"):
            with self.subTest(algo=algo):
                path = self.write("ms-signed-dv.eml", self.ms_sign(algo, "--oversign"))
                r = self.in_netns(["dkimverify"], path)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertIn("signature ok", r.stdout)
                bad = self.write("ms-signed-dv-bad.eml",
                                 self.read(path).replace(b"Interop", b"Intercept"))
                r = self.in_netns(["dkimverify"], bad)
                self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)

    @unittest.skipUnless(netns_usable(), "needs root and unshare -m -n, and dkimpy")
    def test_mailstead_signed_verifies_with_opendkim(self):
        for algo in ("rsa", "ed25519"):
            for canon in ("relaxed/relaxed", "simple/simple"):
                with self.subTest(algo=algo, canon=canon):
                    path = self.write("ms-signed-od.eml",
                                      self.ms_sign(algo, "--canonicalization", canon))
                    # opendkim-testmsg is silent and exits 0 when the
                    # signature verifies.
                    r = self.in_netns(["opendkim-testmsg"], path)
                    self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                    bad = self.write("ms-signed-od-bad.eml",
                                     self.read(path).replace(b"Hello", b"Howdy"))
                    r = self.in_netns(["opendkim-testmsg"], bad)
                    self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--netns-dns":
        netns_main(sys.argv[2:])
    unittest.main()
