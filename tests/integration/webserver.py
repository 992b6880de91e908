"""The web programs behind a real nginx for the integration tests and
bench/web: mailstead-account, -admin, -webapi and -webmail on unix sockets in the
server directory, and nginx (the Debian package) in front of them with the
shipped contrib/nginx/mailstead-locations.conf (socket paths rewritten), on
a free loopback port for HTTP and another for HTTPS (the harness's
self-signed certificate).

Also a minimal JSON API client over http.client (WebClient) that keeps
cookies and the CSRF token like the pages' api.js, and a raw FastCGI
client for malformed-record tests.
"""

import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess

import harness

FCGI = {
    "account": os.path.join(harness.TOP_BUILDDIR, "fcgi", "account", "mailstead-account"),
    "admin": os.path.join(harness.TOP_BUILDDIR, "fcgi", "admin", "mailstead-admin"),
    "webapi": os.path.join(harness.TOP_BUILDDIR, "fcgi", "webapi", "mailstead-webapi"),
    "webmail": os.path.join(harness.TOP_BUILDDIR, "fcgi", "webmail", "mailstead-webmail"),
}
LOCATIONS = os.path.join(harness.TOP_SRCDIR, "contrib", "nginx", "mailstead-locations.conf")


def web_conf(sockdir, **extra):
    """The [web] section for the programs: sockets in sockdir, source-tree
    templates and assets, plus extra keys."""
    kv = {"account_socket": os.path.join(sockdir, "account.sock"),
          "admin_socket": os.path.join(sockdir, "admin.sock"),
          "webapi_socket": os.path.join(sockdir, "webapi.sock"),
          "webmail_socket": os.path.join(sockdir, "webmail.sock"),
          "templates": os.path.join(harness.TOP_SRCDIR, "templates"),
          "www": os.path.join(harness.TOP_SRCDIR, "www"),
          "threads": "8"}
    kv.update(extra)
    return "\n[web]\n" + "".join("%s = %s\n" % (k, v) for k, v in kv.items())


class WebServer:
    """Start with start() after the harness Server is up (and its
    extra_conf holds web_conf(self.sockdir))."""

    def __init__(self, srv, apps=("account", "admin"), workers=1):
        self.srv = srv
        self.apps = tuple(apps)
        self.workers = workers
        self.dir = os.path.join(srv.dir, "nginx")
        self.sockdir = os.path.join(srv.dir, "websock")
        self.procs = {}
        self.nginx = None
        self.port = None
        self.tls_port = None

    def logpath(self, name):
        return self.srv.logpath(name)

    def start(self):
        nginx = harness.require_tool("nginx", "nginx")
        for app in self.apps:
            if not os.access(FCGI[app], os.X_OK):
                raise harness.HarnessError("%s not built" % FCGI[app])
        os.makedirs(self.dir, exist_ok=True)
        os.makedirs(self.sockdir, exist_ok=True)
        for sub in ("tmp", "logs"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        if self.srv.owner:
            harness.chown_tree(self.dir, *self.srv.owner)
            os.chown(self.sockdir, *self.srv.owner)
        for app in self.apps:
            self.start_program(app)
        self.port = harness.free_port()
        self.tls_port = harness.free_port()
        if not self.srv.tls_cert:
            self.srv.make_certificate()
        self.write_conf()
        logf = open(self.logpath("nginx"), "ab")
        self.nginx = subprocess.Popen([nginx, "-p", self.dir, "-c", "nginx.conf",
                                       "-e", os.path.join(self.dir, "logs", "error.log")],
                                      stdin=subprocess.DEVNULL, stdout=logf,
                                      stderr=subprocess.STDOUT)
        logf.close()
        ok = harness.wait_for(lambda: self.nginx.poll() is not None or
                              harness.port_open(self.port), 20)
        if self.nginx.poll() is not None or not ok:
            raise harness.HarnessError("nginx did not start:\n%s\n%s" % (
                harness.tail(self.logpath("nginx")),
                harness.tail(os.path.join(self.dir, "logs", "error.log"))))
        return self

    def start_program(self, app):
        sock = os.path.join(self.sockdir, app + ".sock")
        logf = open(self.logpath(app), "ab")
        proc = subprocess.Popen([FCGI[app], "-c", self.srv.conf], stdin=subprocess.DEVNULL,
                                stdout=logf, stderr=subprocess.STDOUT, cwd=self.srv.dir)
        logf.close()
        self.procs[app] = proc

        def ready():
            if proc.poll() is not None or not os.path.exists(sock):
                return False
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(sock)
                return True
            except OSError:
                return False
            finally:
                s.close()
        ok = harness.wait_for(lambda: proc.poll() is not None or ready(), 30)
        if proc.poll() is not None or not ok:
            raise harness.HarnessError("%s did not start:\n%s" % (app, harness.tail(self.logpath(app))))
        return proc

    def stop_program(self, app):
        proc = self.procs.pop(app, None)
        if proc and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def program_alive(self, app):
        proc = self.procs.get(app)
        return bool(proc and proc.poll() is None)

    def write_conf(self):
        with open(LOCATIONS) as f:
            loc = f.read().replace("/run/mailstead/", self.sockdir + "/")
        shutil.copy("/etc/nginx/fastcgi_params", os.path.join(self.dir, "fastcgi_params"))
        with open(os.path.join(self.dir, "mailstead-locations.conf"), "w") as f:
            f.write(loc)
        tmp = os.path.join(self.dir, "tmp")
        user = "user %s;\n" % harness.RUN_USER if self.srv.owner else ""
        conf = """%sdaemon off;
master_process on;
worker_processes %d;
pid %s/nginx.pid;
error_log %s/logs/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path %s/body;
	fastcgi_temp_path %s/fastcgi;
	proxy_temp_path %s/proxy;
	uwsgi_temp_path %s/uwsgi;
	scgi_temp_path %s/scgi;
	keepalive_requests 100000;
	server {
		listen 127.0.0.1:%d;
		listen 127.0.0.1:%d ssl;
		ssl_certificate %s;
		ssl_certificate_key %s;
		server_name _;
		include mailstead-locations.conf;
	}
}
""" % (user, self.workers, self.dir, self.dir, tmp, tmp, tmp, tmp, tmp, self.port, self.tls_port,
       self.srv.tls_cert, self.srv.tls_key)
        with open(os.path.join(self.dir, "nginx.conf"), "w") as f:
            f.write(conf)

    # The web server in front: its name in logs, its process, and the
    # signal that stops it gracefully (a subclass may run another one).
    FRONT = "nginx"
    FRONT_STOP = signal.SIGQUIT

    def front_proc(self):
        return self.nginx

    def stop(self):
        proc = self.front_proc()
        if proc and proc.poll() is None:
            proc.send_signal(self.FRONT_STOP)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for app in list(self.procs):
            self.stop_program(app)

    def log_tails(self, n=30):
        out = []
        for name in self.apps + (self.FRONT,):
            p = self.logpath(name)
            if os.path.exists(p):
                out.append("---- %s ----\n%s" % (name, harness.tail(p, n)))
        err = os.path.join(self.dir, "logs", "error.log")
        if os.path.exists(err):
            out.append("---- %s error.log ----\n%s" % (self.FRONT, harness.tail(err, n)))
        return "\n".join(out)


def error_code(resp):
    """The error code of a JSON API answer, or None."""
    return resp.json().get("error", {}).get("code")


def error_of(resp):
    """(code, message) of a JSON API error answer."""
    e = resp.json().get("error", {})
    return e.get("code"), e.get("message", "")


def start_stack(srv, apps=None, front=None, admin_password=None, prepare=None, **conf):
    """Start srv (a harness.Server not started yet), then the web programs
    apps behind nginx (or front, a WebServer subclass) with the [web]
    settings conf. The admin password is set when given and prepare(srv)
    runs before the programs start. On failure everything started is
    stopped again and the error raised. Returns the web server."""
    web = None
    try:
        srv.start()
        # The [web] section names sockets inside srv.dir, known only now;
        # the programs read it when they start.
        web = (front or WebServer)(srv, **({"apps": apps} if apps else {}))
        srv.extra_conf = web_conf(web.sockdir, **conf)
        srv.write_conf()
        if admin_password is not None:
            srv.cli("setadminpassword", input=admin_password + "\n")
        if prepare is not None:
            prepare(srv)
        web.start()
    except BaseException:
        stop_stack(srv, web)
        raise
    return web


def stop_stack(srv, web):
    """Stop what start_stack started (either may be None)."""
    if web:
        web.stop()
    if srv:
        srv.stop()


class Response:
    def __init__(self, resp, body):
        self.status = resp.status
        self.headers = resp.getheaders()
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        return json.loads(self.body.decode("utf-8"))


class WebClient:
    """HTTP(S) client of one "browser": cookies of Set-Cookie kept by name
    (path and expiry handled simply), the CSRF token of Login sent as
    x-mailstead-csrf. source_ip picks the loopback source address (the
    failed-login limits are per IP range)."""

    def __init__(self, port, prefix="/", host="localhost", tls=False, source_ip=None):
        self.port = port
        self.prefix = prefix
        self.host = host
        self.tls = tls
        self.source_ip = source_ip
        self.cookies = {}
        self.csrf = None
        self.conn = None

    def _conn(self):
        if self.conn is None:
            src = (self.source_ip, 0) if self.source_ip else None
            if self.tls:
                self.conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=harness.TIMEOUT,
                                                        context=harness.tls_context(),
                                                        source_address=src)
            else:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=harness.TIMEOUT,
                                                       source_address=src)
        return self.conn

    def request(self, method, path, body=None, headers=None, cookies=True):
        h = {"Host": self.host}
        if cookies and self.cookies:
            h["Cookie"] = "; ".join("%s=%s" % kv for kv in self.cookies.items())
        h.update(headers or {})
        for attempt in (0, 1):
            c = self._conn()
            try:
                c.request(method, path, body=body, headers=h)
                resp = c.getresponse()
                data = resp.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt:
                    raise
        r = Response(resp, data)
        if resp.getheader("Connection", "").lower() == "close":
            self.close()
        for sc in r.all("Set-Cookie"):
            name, _, rest = sc.partition("=")
            value = rest.split(";", 1)[0]
            attrs = [a.strip().lower() for a in rest.split(";")[1:]]
            if "max-age=0" in attrs or value == "":
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return r

    def api(self, method, *params, csrf=True, raw_body=None, headers=None):
        """POST <prefix>api/<method>; returns the Response."""
        h = {"Content-Type": "application/json"}
        if csrf and self.csrf:
            h["x-mailstead-csrf"] = self.csrf
        h.update(headers or {})
        body = raw_body if raw_body is not None else json.dumps({"params": list(params)}).encode()
        return self.request("POST", self.prefix + "api/" + method, body=body, headers=h)

    def result(self, method, *params):
        """Call and return the result; AssertionError on an error answer."""
        r = self.api(method, *params)
        j = r.json()
        if r.status != 200 or "error" in j:
            raise AssertionError("%s: HTTP %d %r" % (method, r.status, j))
        return j["result"]

    def login(self, password, username=None):
        token = self.result("LoginPrep")
        params = [token, password] if username is None else [token, username, password]
        r = self.api("Login", *params, csrf=False)
        j = r.json()
        if r.status != 200 or "error" in j:
            raise AssertionError("Login: HTTP %d %r" % (r.status, j))
        self.csrf = j["result"]
        return r

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def __del__(self):
        self.close()


# ---- a raw FastCGI client (FastCGI specification, section 3)

FCGI_BEGIN_REQUEST, FCGI_END_REQUEST, FCGI_PARAMS, FCGI_STDIN, FCGI_STDOUT = 1, 3, 4, 5, 6


def fcgi_record(rtype, content, req_id=1):
    return struct.pack(">BBHHBx", 1, rtype, req_id, len(content), 0) + content


def fcgi_nv(name, value):
    def ln(n):
        return struct.pack(">B", n) if n < 128 else struct.pack(">I", n | 0x80000000)
    return ln(len(name)) + ln(len(value)) + name + value


def fcgi_request(params, body=b""):
    """The bytes of one FastCGI responder request with params [(name, value)]."""
    out = fcgi_record(FCGI_BEGIN_REQUEST, struct.pack(">HB5x", 1, 0))
    p = b"".join(fcgi_nv(k, v) for k, v in params)
    for i in range(0, len(p), 65535):
        out += fcgi_record(FCGI_PARAMS, p[i:i + 65535])
    out += fcgi_record(FCGI_PARAMS, b"")
    for i in range(0, len(body), 65535):
        out += fcgi_record(FCGI_STDIN, body[i:i + 65535])
    return out + fcgi_record(FCGI_STDIN, b"")


def fcgi_exchange(sock_path, data, timeout=10):
    """Send raw bytes to a FastCGI socket; return the STDOUT content
    received before the connection closes or END_REQUEST arrives."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(sock_path)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        buf = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            buf += chunk
        out = b""
        while len(buf) >= 8:
            _v, rtype, _id, clen, plen = struct.unpack(">BBHHB", buf[:7])
            content = buf[8:8 + clen]
            buf = buf[8 + clen + plen:]
            if rtype == FCGI_STDOUT:
                out += content
            if rtype == FCGI_END_REQUEST:
                break
        return out
    finally:
        s.close()
