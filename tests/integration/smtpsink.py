"""A scripted SMTP sink for delivery tests: a threaded server on one
loopback address (IPv4, or ::1) and port that records every transaction and answers by
rules on the recipient localpart, so tests can drive temporary and
permanent failures at each stage:

  RCPT TO:<temp...@...>      451 4.2.0 at RCPT
  RCPT TO:<perm...@...>      550 5.1.1 at RCPT
  RCPT TO:<mlperm...@...>    550 5.1.1 at RCPT, a multi-line reply with the
                             enhanced code on every line (RFC 2034)
  RCPT TO:<datatemp...@...>  accepted; 451 4.3.0 after the message
  RCPT TO:<dataperm...@...>  accepted; 554 5.6.0 after the message
  RCPT TO:<slow...@...>      accepted; the final reply waits `slow` seconds
  RCPT TO:<once...@...>      451 at RCPT the first time this address is
                             seen, then accepted (a retry succeeds)

Options: auth=(user, password) offers AUTH CRAM-MD5 PLAIN and checks them;
pipelining, smtputf8, eightbit toggle the EHLO keywords; starttls="broken"
offers STARTTLS, answers it with 220 and then breaks the handshake (sends
bytes that are not TLS and closes), as a server with a broken TLS setup
does. Python standard library only.
"""

import base64
import hashlib
import hmac
import socket
import socketserver
import threading
import time


class Sink:
    def __init__(self, host, port, auth=None, pipelining=True, smtputf8=True, eightbit=True,
                 slow=30, starttls=None):
        self.host, self.port = host, port
        self.auth = auth
        self.pipelining, self.smtputf8, self.eightbit = pipelining, smtputf8, eightbit
        self.slow = slow
        self.starttls = starttls
        self.starttls_count = 0
        self.lock = threading.Lock()
        self.messages = []      # (mailfrom, [rcpts], data, mail_params)
        self.connections = 0
        self.auth_mechs = []
        self.seen_once = set()
        self.rcpt_attempts = {}
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                sink._session(self)

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
            daemon_threads = True

        self.server = Server((host, port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def delivered_to(self, rcpt):
        with self.lock:
            return [m for m in self.messages if rcpt in m[1]]

    def _session(self, h):
        with self.lock:
            self.connections += 1

        def send(line):
            h.wfile.write(line.encode() + b"\r\n")
            h.wfile.flush()

        def readline():
            ln = h.rfile.readline(65536)
            if not ln:
                raise EOFError
            return ln.decode("utf-8", "replace").rstrip("\r\n")

        send("220 sink.test ESMTP")
        mailfrom, rcpts, params = None, [], ""
        try:
            while True:
                ln = readline()
                up = ln.upper()
                if up.startswith("EHLO"):
                    ext = ["250-sink.test", "250-SIZE 10000000", "250-ENHANCEDSTATUSCODES"]
                    if self.pipelining:
                        ext.append("250-PIPELINING")
                    if self.eightbit:
                        ext.append("250-8BITMIME")
                    if self.smtputf8:
                        ext.append("250-SMTPUTF8")
                    if self.auth:
                        ext.append("250-AUTH CRAM-MD5 PLAIN")
                    if self.starttls:
                        ext.append("250-STARTTLS")
                    ext[-1] = "250 " + ext[-1][4:]
                    for e in ext:
                        send(e)
                elif up == "STARTTLS" and self.starttls:
                    with self.lock:
                        self.starttls_count += 1
                    send("220 2.0.0 ready to start TLS")
                    h.wfile.write(b"this is not a TLS server hello\r\n" * 4)
                    h.wfile.flush()
                    return
                elif up.startswith("AUTH CRAM-MD5"):
                    chal = b"<12345.%d@sink.test>" % int(time.time())
                    send("334 " + base64.b64encode(chal).decode())
                    resp = base64.b64decode(readline()).decode()
                    user, _, digest = resp.partition(" ")
                    want = hmac.new(self.auth[1].encode(), chal, hashlib.md5).hexdigest()
                    with self.lock:
                        self.auth_mechs.append("CRAM-MD5")
                    if user == self.auth[0] and digest == want:
                        send("235 2.7.0 ok")
                    else:
                        send("535 5.7.8 bad credentials")
                elif up.startswith("AUTH PLAIN"):
                    parts = ln.split(" ")
                    data = base64.b64decode(parts[2]) if len(parts) > 2 else b""
                    with self.lock:
                        self.auth_mechs.append("PLAIN")
                    if data.split(b"\0")[1:] == [self.auth[0].encode(), self.auth[1].encode()]:
                        send("235 2.7.0 ok")
                    else:
                        send("535 5.7.8 bad credentials")
                elif up.startswith("MAIL FROM:"):
                    end = ln.index(">")
                    mailfrom, rcpts, params = ln[11:end], [], ln[end + 1:].strip()
                    send("250 2.1.0 ok")
                elif up.startswith("RCPT TO:"):
                    addr = ln[9:ln.index(">")]
                    lp = addr.split("@")[0]
                    with self.lock:
                        self.rcpt_attempts[addr] = self.rcpt_attempts.get(addr, 0) + 1
                    if lp.startswith("mlperm"):
                        send("550-5.1.1 no such user here,")
                        send("550 5.1.1 check the address")
                    elif lp.startswith("temp"):
                        send("451 4.2.0 try again later")
                    elif lp.startswith("perm"):
                        send("550 5.1.1 no such user here")
                    elif lp.startswith("once") and addr not in self.seen_once:
                        with self.lock:
                            self.seen_once.add(addr)
                        send("451 4.2.0 greylisted, come back")
                    else:
                        rcpts.append(addr)
                        send("250 2.1.5 ok")
                elif up == "DATA":
                    if not rcpts:
                        send("554 5.5.1 no valid recipients")
                        continue
                    send("354 go ahead")
                    data = []
                    while True:
                        ln = h.rfile.readline(1 << 20)
                        if not ln:
                            raise EOFError
                        if ln in (b".\r\n", b".\n"):
                            break
                        if ln.startswith(b".."):
                            ln = ln[1:]
                        data.append(ln)
                    body = b"".join(data)
                    lps = [r.split("@")[0] for r in rcpts]
                    if any(lp.startswith("slow") for lp in lps):
                        time.sleep(self.slow)
                    if any(lp.startswith("datatemp") for lp in lps):
                        send("451 4.3.0 temporary problem with the message")
                    elif any(lp.startswith("dataperm") for lp in lps):
                        send("554 5.6.0 message refused")
                    else:
                        with self.lock:
                            self.messages.append((mailfrom, list(rcpts), body, params))
                        send("250 2.0.0 queued as sink")
                    rcpts = []
                elif up == "RSET":
                    rcpts = []
                    send("250 ok")
                elif up == "QUIT":
                    send("221 bye")
                    return
                elif up == "NOOP":
                    send("250 ok")
                else:
                    send("502 5.5.2 command not implemented")
        except (EOFError, OSError, socket.timeout):
            return
