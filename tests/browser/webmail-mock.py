#!/usr/bin/env python3
"""A stand-in for mailstead-webmail to work on the webmail page
(templates/webmail.html, www/webmail/*) without the server side: serves
the page with the real Content-Security-Policy and answers the JSON API and
/events of fcgi/webmail/webmail_private.h from memory, for one account.
Not a test of the server; tests/browser/webmail-flow.js can run against it
(MS_BASE=http://127.0.0.1:PORT MS_STEPS=all MS_SUBJECT3="HTML newsletter" ...).

    webmail-mock.py PORT ADDRESS PASSWORD SUBJECT1 [EXTRA]

EXTRA: that many more old messages in Archive (for "load more").
"""

import base64
import itertools
import json
import os
import re
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOP = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
PORT, ADDRESS, PASSWORD, SUBJECT1 = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]

lock = threading.Condition()
ids = itertools.count(1)
sessions = {}   # cookie -> csrf
tokens = set()
changes = []    # change dicts, appended under lock
drops = [0]     # GET /webmail/mock/drop ends the event streams (reconnecting)
mailboxes = []
messages = {}   # id -> {item, text}
settings = {"signature": "", "quoting": "default", "showAddressSecurity": False, "showHTML": False,
            "noShowShortcuts": False, "showHeaders": []}


def mailbox(name, use=""):
    m = {"id": next(ids), "name": name, "parentID": 0, "specialUse": use, "total": 0, "unread": 0,
         "unseen": 0, "size": 0, "keywords": []}
    mailboxes.append(m)
    return m


def counts():
    for mb in mailboxes:
        ms = [m["item"] for m in messages.values() if m["item"]["mailboxID"] == mb["id"]]
        mb["total"] = len(ms)
        mb["unread"] = mb["unseen"] = sum(1 for m in ms if "\\Seen" not in m["flags"])
        mb["size"] = sum(m["size"] for m in ms)


def addr(s):
    m = re.match(r'\s*"?([^"<]*?)"?\s*<([^>]+)>', s)
    return {"name": m.group(1).strip(), "address": m.group(2)} if m else {"name": "", "address": s.strip()}


def add_message(mb, frm, to, subject, text, cc=(), seen=False):
    i = next(ids)
    item = {"id": i, "mailboxID": mb["id"], "uid": i, "threadID": i, "flags": ["\\Seen"] if seen else [],
            "size": len(text) + 200, "received": int(time.time()), "date": int(time.time()),
            "subject": subject, "from": [addr(frm)], "to": [addr(t) for t in to],
            "cc": [addr(t) for t in cc], "bcc": [], "replyTo": [], "messageID": "<%d@mock>" % i,
            "inReplyTo": "", "preview": text.strip().split("\n")[0][:80], "attachments": 0,
            "isList": False, "threadMuted": False, "threadCollapsed": False}
    messages[i] = {"item": item, "text": text}
    return item


def change(**kw):
    counts()
    kw["mailboxes"] = json.loads(json.dumps(mailboxes))
    changes.append(kw)
    lock.notify_all()


def by_use(use):
    return next((m for m in mailboxes if m["specialUse"] == use), None)


class UserError(Exception):
    def __init__(self, code, msg):
        super().__init__(msg)
        self.code = code


def api(method, p):
    if method == "Token":
        t = secrets.token_hex(8)
        tokens.add(t)
        return t
    if method == "Request":
        q, page = p
        ex = {m["id"] for m in mailboxes if m["specialUse"] in ("junk", "trash")}
        ms = [m for m in messages.values()
              if (m["item"]["mailboxID"] == q["mailboxID"] if q["mailboxID"] else m["item"]["mailboxID"] not in ex)
              and (not q["unread"] or "\\Seen" not in m["item"]["flags"])
              and all(w.lower() in (m["item"]["subject"] + m["text"]).lower() for w in q["search"].split())]
        ms.sort(key=lambda m: (m["item"]["received"], m["item"]["id"]), reverse=True)
        items = [m["item"] for m in ms]
        if page["anchorMessageID"]:
            k = [x["id"] for x in items].index(page["anchorMessageID"])
            items = items[k + 1:]
        return {"messages": items[:page["count"]], "hasMore": len(items) > page["count"], "total": len(ms)}
    if method == "ParsedMessage":
        m = messages.get(p[0])
        if not m:
            raise UserError("user:notFound", "no such message")
        return {"item": m["item"], "part": {"path": [], "contentType": "text/plain", "charset": "utf-8",
                "disposition": "", "filename": "", "size": len(m["text"]), "contentID": "", "parts": []},
                "headers": {}, "text": m["text"], "hasHTML": bool(m.get("html")),
                "attachments": m.get("attachments", []),
                "listUnsubscribe": "", "viewMode": "text"}
    if method in ("FlagsAdd", "FlagsClear"):
        out = []
        for i in p[0]:
            f = messages[i]["item"]["flags"]
            for fl in p[1]:
                if method == "FlagsAdd" and fl not in f:
                    f.append(fl)
                if method == "FlagsClear" and fl in f:
                    f.remove(fl)
            out.append({"id": i, "flags": list(f)})
        change(flags=out)
        return None
    if method == "MessageMove":
        moved = []
        for i in p[0]:
            messages[i]["item"]["mailboxID"] = p[1]
            moved.append(messages[i]["item"])
        change(removed=list(p[0]))
        change(added=moved)
        return None
    if method == "MessageDelete":
        for i in p[0]:
            messages.pop(i, None)
        change(removed=list(p[0]))
        return None
    if method == "MessageSubmit":
        m = p[0]
        if not m["to"] + m["cc"] + m["bcc"]:
            raise UserError("user:error", "no recipients")
        for a in m["attachments"]:
            sys.stderr.write("mock: attachment %s %s %d bytes\n" % (a["filename"], a["contentType"],
                                                                 len(base64.b64decode(a["data"]))))
        sys.stderr.write("mock: submit requireTLS=%r futureRelease=%r\n" % (m["requireTLS"], m["futureRelease"]))
        sent = add_message(by_use("sent"), m["from"], m["to"], m["subject"], m["textBody"], m["cc"], seen=True)
        added = [sent]
        if any(addr(t)["address"] == ADDRESS for t in m["to"] + m["cc"] + m["bcc"]):
            added.append(add_message(mailboxes[0], m["from"], m["to"], m["subject"], m["textBody"], m["cc"]))
        gone = [m["draftMessageID"]] if m.get("draftMessageID") in messages else []
        for i in gone:
            del messages[i]
        change(added=added, removed=gone)
        return None
    if method == "MessageCompose":
        d = add_message(by_use("drafts"), p[0]["from"], p[0]["to"], p[0]["subject"], p[0]["textBody"], seen=True)
        if p[1]:
            messages.pop(p[1], None)
        change(added=[d], removed=[p[1]] if p[1] else [])
        return d["id"]
    if method == "CompleteRecipient":
        return {"addresses": [a for a in ("Someone <someone@example.net>", ADDRESS) if p[0].lower() in a.lower()],
                "complete": True}
    if method == "SettingsSave":
        settings.update(p[0])
        return None
    if method == "MailboxCreate":
        mailbox(p[0])
        change()
        return None
    if method == "MailboxRename":
        next(m for m in mailboxes if m["id"] == p[0])["name"] = p[1]
        change()
        return None
    if method == "MailboxSetSpecialUse":
        for m in mailboxes:
            if m["specialUse"] == p[1]:
                m["specialUse"] = ""
        next(m for m in mailboxes if m["id"] == p[0])["specialUse"] = p[1]
        change()
        return None
    if method in ("MailboxDelete", "MailboxEmpty"):
        gone = [i for i, m in messages.items() if m["item"]["mailboxID"] == p[0]]
        for i in gone:
            del messages[i]
        if method == "MailboxDelete":
            mailboxes[:] = [m for m in mailboxes if m["id"] != p[0]]
        change(removed=gone)
        return None
    if method == "MailboxesMarkRead":
        out = []
        for m in messages.values():
            if m["item"]["mailboxID"] in p[0] and "\\Seen" not in m["item"]["flags"]:
                m["item"]["flags"].append("\\Seen")
                out.append({"id": m["item"]["id"], "flags": m["item"]["flags"]})
        change(flags=out)
        return None
    if method == "RulesetSuggestMove":
        to = next((m for m in mailboxes if m["id"] == p[2]), None)
        if not to or to["specialUse"] or p[1] != mailboxes[0]["id"] or p[0] not in messages:
            return None
        frm = messages[p[0]]["item"]["from"][0]["address"]
        return {"listID": "", "msgFrom": frm, "rcptTo": ADDRESS, "toMailbox": to["name"],
                "ruleset": {"msgFromRegexp": "^" + re.escape(frm) + "$", "mailbox": to["name"]},
                "alreadyExists": False}
    if method in ("ThreadMute", "ThreadCollapse", "RulesetAdd", "RulesetRemove", "RulesetMessageNever", "RulesetMailboxNever"):
        return None
    if method == "RecipientSecurity":
        return {"startTLS": "yes", "mtaSTS": "no", "dnssec": "unknown", "dane": "no", "requireTLS": "unknown"}
    if method == "FromAddressSettingsSave":
        return None
    raise UserError("user:notFound", "no such API method")


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("mock: " + (fmt % args) + "\n")

    def send(self, status, ctype, body, extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", CSP)
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def session(self):
        m = re.search(r"webmailsession=(\w+)", self.headers.get("Cookie", ""))
        return m and sessions.get(m.group(1))

    def do_GET(self):
        path = self.path.split("?")[0]
        files = {"/webmail/": ("templates/webmail.html", "text/html; charset=utf-8"),
                 "/webmail/api.js": ("www/common/api.js", "text/javascript"),
                 "/webmail/style.css": ("www/common/style.css", "text/css"),
                 "/webmail/webmail.js": ("www/webmail/webmail.js", "text/javascript"),
                 "/webmail/webmail.css": ("www/webmail/webmail.css", "text/css"),
                 "/webmail/favicon.svg": ("www/webmail/favicon.svg", "image/svg+xml")}
        if path in files:
            with open(os.path.join(TOP, files[path][0]), "rb") as f:
                body = f.read().replace(b"{{title}}", b"webmail")
            return self.send(200, files[path][1], body)
        m = re.match(r"/webmail/msg/(\d+)/(raw|text|html|htmlexternal|download/.*)$", path)
        if m and self.session() and int(m.group(1)) in messages:
            msg = messages[int(m.group(1))]
            if m.group(2).startswith("html"):
                self.send_response(200)
                body = msg.get("html", "").encode()
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; "
                                 "frame-ancestors 'self'; sandbox")
                self.end_headers()
                self.wfile.write(body)
                return None
            return self.send(200, "text/plain; charset=utf-8", msg["text"].encode())
        if path == "/webmail/mock/drop":
            with lock:
                drops[0] += 1
                lock.notify_all()
            return self.send(200, "text/plain", b"dropped")
        if path == "/webmail/events":
            t = re.search(r"token=(\w+)", self.path)
            with lock:
                if not t or t.group(1) not in tokens:
                    return self.send(403, "text/plain", b"bad token")
                tokens.discard(t.group(1))
                counts()
                start = {"account": ADDRESS.split("@")[0], "loginAddress": ADDRESS, "fullName": "Mock User",
                         "addresses": [ADDRESS], "mailboxes": mailboxes, "settings": settings}
                seen = len(changes)
                drop = drops[0]
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            try:
                self.wfile.write(b"event: start\ndata: " + json.dumps(start).encode() + b"\n\n")
                self.wfile.flush()
                while True:
                    with lock:
                        lock.wait_for(lambda: len(changes) > seen or drops[0] != drop, timeout=30)
                        if drops[0] != drop:
                            self.close_connection = True
                            return None
                        new, seen = changes[seen:], len(changes)
                    for c in new:
                        self.wfile.write(b"event: changes\ndata: " + json.dumps(c).encode() + b"\n\n")
                    if not new:
                        self.wfile.write(b"event: ping\ndata: {}\n\n")
                    self.wfile.flush()
            except OSError:
                return
        return self.send(404, "text/plain", b"not found")

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(n) or b"{}")
        method = self.path.rsplit("/", 1)[-1]
        p = body.get("params") or []
        extra = []
        try:
            if method == "LoginPrep":
                result = secrets.token_hex(8)
            elif method == "Login":
                if p[1] != ADDRESS or p[2] != PASSWORD:
                    raise UserError("user:loginFailed", "invalid credentials")
                cookie, csrf = secrets.token_hex(8), secrets.token_hex(8)
                sessions[cookie] = csrf
                extra.append(("Set-Cookie", "webmailsession=%s; Path=/webmail/; HttpOnly; SameSite=Strict" % cookie))
                result = csrf
            else:
                csrf = self.session()
                if not csrf:
                    raise UserError("user:noAuth", "no session")
                if self.headers.get("x-mailstead-csrf") != csrf:
                    raise UserError("user:badAuth", "bad csrf token")
                if method == "Logout":
                    result = None
                else:
                    with lock:
                        result = api(method, p)
            out = {"result": result}
            status = 200
        except UserError as e:
            out = {"error": {"code": e.code, "message": str(e)}}
            status = 404 if e.code == "user:notFound" else 400
        self.send(status, "application/json", json.dumps(out).encode(), extra)


inbox = mailbox("Inbox")
for name, use in (("Archive", "archive"), ("Drafts", "drafts"), ("Junk", "junk"), ("Sent", "sent"),
                  ("Trash", "trash")):
    mailbox(name, use)
for k in range(3):
    add_message(inbox, "Old Friend <friend@example.net>", [ADDRESS], "Earlier message %d" % k,
                "Some older text %d.\n" % k, seen=True)
news = add_message(inbox, "News <news@example.net>", [ADDRESS], "HTML newsletter",
                   "Text version of HTML newsletter.\n", seen=True)
messages[news["id"]]["html"] = "<h1 style='color:#a33'>HTML version of HTML newsletter</h1><p>With <b>markup</b>.</p>"
messages[news["id"]]["attachments"] = [{"path": [1], "filename": "report.pdf", "contentType": "application/pdf",
                                        "size": 12345}, {"path": [2], "filename": "a.txt", "contentType": "text/plain",
                                                         "size": 10}]
news["attachments"] = 2
for k in range(int(sys.argv[5]) if len(sys.argv) > 5 else 0):
    add_message(by_use("archive"), "Archiver <old@example.net>", [ADDRESS], "Archived %d" % k, "Old.\n", seen=True)
time.sleep(1.1)
add_message(inbox, "Sender <sender@example.net>", [ADDRESS], SUBJECT1,
            "Hello webmail,\n\nfirst line of %s.\n" % SUBJECT1)
counts()
ThreadingHTTPServer(("127.0.0.1", PORT), H).serve_forever()
