"""Test helpers: a private certificate authority made with the openssl
command, and nginx serving static files over HTTPS on a loopback port (for
MTA-STS policies, RFC 8461). Python standard library only; nginx is the
Debian package nginx (nginx-light is enough)."""

import os
import shutil
import signal
import subprocess
import time

import harness


def _openssl(*args):
    try:
        r = subprocess.run(["openssl"] + list(args), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    except FileNotFoundError:
        raise harness.HarnessError("openssl command not found (apt-get install openssl)")
    if r.returncode != 0:
        raise harness.HarnessError("openssl %s failed:\n%s"
                                   % (args[0], r.stdout.decode("utf-8", "replace")))


class TestCA:
    """A CA certificate and key in directory d (cert d/ca.pem), and leaf
    certificates it signs. Files are world-readable so daemons running as
    the harness's unprivileged user can read them (test keys only)."""

    def __init__(self, d, name="Mailstead Test CA"):
        self.dir = d
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o755)
        self.cert = os.path.join(d, "ca.pem")
        self.key = os.path.join(d, "ca-key.pem")
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-subj", "/CN=%s" % name, "-days", "30",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                 "-keyout", self.key, "-out", self.cert)
        self._fix_modes()

    def _fix_modes(self):
        for f in os.listdir(self.dir):
            os.chmod(os.path.join(self.dir, f), 0o644)

    def leaf(self, name, dns_names, days=30):
        """A certificate for dns_names signed by this CA: (cert, key) paths
        named after name."""
        cert = os.path.join(self.dir, name + ".pem")
        key = os.path.join(self.dir, name + "-key.pem")
        csr = os.path.join(self.dir, name + ".csr")
        san = ",".join("DNS:" + n for n in dns_names)
        _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-subj", "/CN=%s" % dns_names[0], "-addext", "subjectAltName=" + san,
                 "-keyout", key, "-out", csr)
        _openssl("x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key,
                 "-CAcreateserial", "-days", str(days), "-copy_extensions", "copy", "-out", cert)
        self._fix_modes()
        return cert, key


def self_signed(d, name, dns_names):
    """A self-signed certificate (no CA): (cert, key) paths."""
    cert = os.path.join(d, name + ".pem")
    key = os.path.join(d, name + "-key.pem")
    san = ",".join("DNS:" + n for n in dns_names)
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-subj", "/CN=%s" % dns_names[0], "-addext", "subjectAltName=" + san,
             "-days", "30", "-keyout", key, "-out", cert)
    os.chmod(cert, 0o644)
    os.chmod(key, 0o644)
    return cert, key


def spki_sha256(cert):
    """Hex SHA-256 of the certificate's SubjectPublicKeyInfo (TLSA 3 1 1)."""
    pub = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-pubkey"],
                         stdout=subprocess.PIPE, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                         stdout=subprocess.PIPE, check=True).stdout
    import hashlib
    return hashlib.sha256(der).hexdigest()


class Nginx:
    """nginx on 127.0.0.1:port with HTTPS server blocks. sites: list of
    (server_names, cert, key, {path: (body, content_type)}) where each
    path is served with exactly that body and type. Runs in the
    foreground without a master process, so no user switch is needed."""

    def __init__(self, d, sites):
        self.dir = d
        self.sites = sites
        self.port = harness.free_port()
        self.proc = None

    def _conf(self):
        root = os.path.join(self.dir, "www")
        out = ["daemon off;", "master_process off;", "worker_processes 1;",
               "error_log %s/error.log info;" % self.dir, "pid %s/nginx.pid;" % self.dir,
               "events { worker_connections 64; }", "http {",
               "  access_log %s/access.log;" % self.dir,
               "  client_body_temp_path %s/tmp/body;" % self.dir,
               "  proxy_temp_path %s/tmp/proxy;" % self.dir,
               "  fastcgi_temp_path %s/tmp/fastcgi;" % self.dir,
               "  uwsgi_temp_path %s/tmp/uwsgi;" % self.dir,
               "  scgi_temp_path %s/tmp/scgi;" % self.dir,
               "  types { }", "  default_type application/octet-stream;"]
        for i, (names, cert, key, files) in enumerate(self.sites):
            site_root = os.path.join(root, str(i))
            out += ["  server {",
                    "    listen 127.0.0.1:%d ssl;" % self.port,
                    "    server_name %s;" % " ".join(names),
                    "    ssl_certificate %s;" % cert,
                    "    ssl_certificate_key %s;" % key,
                    "    root %s;" % site_root]
            for path, (body, ctype) in files.items():
                fpath = os.path.join(site_root, path.lstrip("/"))
                os.makedirs(os.path.dirname(fpath), exist_ok=True)
                with open(fpath, "wb") as f:
                    f.write(body if isinstance(body, bytes) else body.encode("utf-8"))
                out += ["    location = %s { default_type \"%s\"; }" % (path, ctype)]
            out.append("  }")
        out.append("}")
        return "\n".join(out) + "\n"

    def start(self):
        exe = shutil.which("nginx") or "/usr/sbin/nginx"
        if not os.path.exists(exe):
            raise harness.HarnessError("nginx not found (apt-get install nginx)")
        os.makedirs(os.path.join(self.dir, "tmp"), exist_ok=True)
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(self._conf())
        log = open(os.path.join(self.dir, "stderr.log"), "ab")
        self.proc = subprocess.Popen([exe, "-p", self.dir, "-c", conf], stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        ok = harness.wait_for(lambda: self.proc.poll() is not None or
                              harness.port_open(self.port), 20)
        if self.proc.poll() is not None or not ok:
            raise harness.HarnessError("nginx did not start:\n%s\n%s" % (
                harness.tail(os.path.join(self.dir, "stderr.log")),
                harness.tail(os.path.join(self.dir, "error.log"))))
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def requests(self):
        """Lines of the access log (one per request)."""
        p = os.path.join(self.dir, "access.log")
        if not os.path.exists(p):
            return []
        with open(p) as f:
            return f.read().splitlines()
