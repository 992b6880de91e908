"""Real IMAP clients against imapd: mbsync (isync) and offlineimap
synchronizing mailboxes both ways into a local Maildir and again after
changes on either side (new messages, flags, deletions), and mutt: in batch
mode (no terminal) saving its copy of a sent message over IMAP, and driven
by pushed keys on a pseudo-terminal copying, deleting, flagging, reading and
saving messages."""

import fcntl
import os
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import tempfile
import termios
import time

import harness
from harness import make_message, unique

srv = None
PW = "clients-password-1"


def setUpModule():
    global srv
    harness.require_tool("mbsync", "isync")
    harness.require_tool("offlineimap", "offlineimap3")
    harness.require_tool("mutt", "mutt")
    srv = harness.Server("imapclients").start()


def tearDownModule():
    if srv:
        srv.stop()


class MbsyncTest(harness.TestCase):

    def setUp(self):
        self.user = "%s@example.org" % unique("sync")
        srv.add_account(self.user, PW)
        self.dir = tempfile.mkdtemp(prefix="mbsync-")
        self.maildir = os.path.join(self.dir, "mail")
        os.makedirs(self.maildir)
        self.rc = harness.write_mbsyncrc(
            os.path.join(self.dir, "mbsyncrc"),
            "Host 127.0.0.1\nPort %d\nSSLType None\n" % srv.imap_port, self.user, PW,
            self.maildir, patterns="INBOX Work", subfolders=True)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def mbsync(self):
        r = subprocess.run(["mbsync", "-c", self.rc, "-a"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=120, cwd=self.dir)
        self.assertEqual(r.returncode, 0, r.stdout)
        return r.stdout

    def local(self, folder):
        return harness.maildir_messages(self.maildir, folder)

    def remote_subjects(self, mailbox):
        m = srv.imap(self.user, PW)
        try:
            typ, _ = m.select(mailbox)
            if typ != "OK":
                return None
            uids = harness.uid_search(m, "ALL")
            if not uids:
                return {}
            got = harness.fetch_by_uid(m, uids, "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        finally:
            m.logout()
        out = {}
        for it in got.values():
            hdr = next(v for k, v in it.items() if k.startswith("BODY["))
            out[hdr.decode().split(":", 1)[1].strip()] = harness.flags_of(it["FLAGS"])
        return out

    def test_sync_both_ways(self):
        # Two messages on the server, and a Work mailbox.
        subjects = [unique("srv") for _ in range(2)]
        for s in subjects:
            srv.deliver(make_message(subject=s, to=self.user)[0], rcpts=(self.user,))
        m = srv.imap(self.user, PW)
        m.create("Work")
        m.logout()
        self.mbsync()
        local = self.local("INBOX")
        self.assertEqual(len(local), 2)
        for s in subjects:
            self.assertTrue(any(s.encode() in b for b in local.values()), s)

        # A message written locally goes up (APPEND), into Work.
        up = unique("local")
        msg, _ = make_message(subject=up, to=self.user)
        os.makedirs(os.path.join(self.maildir, "Work", "new"), exist_ok=True)
        with open(os.path.join(self.maildir, "Work", "new", "1.local.host"), "wb") as f:
            f.write(msg)
        self.mbsync()
        self.assertIn(up, self.remote_subjects("Work"))

        # Flags: marked seen locally (Maildir ":2,S") goes up; flagged on
        # the server comes down.
        name = next(n for n, b in self.local("INBOX").items() if subjects[0].encode() in b)
        sub = "cur" if os.path.exists(os.path.join(self.maildir, "INBOX", "cur", name)) else "new"
        base = name.split(":2,")[0]
        os.rename(os.path.join(self.maildir, "INBOX", sub, name),
                  os.path.join(self.maildir, "INBOX", "cur", base + ":2,S"))
        m = srv.imap(self.user, PW)
        m.select("INBOX")
        uid = next(u for u in harness.uid_search(m, "ALL")
                   if subjects[1].encode() in harness.fetch_by_uid(
                       m, [u], "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")[u][
                       "BODY[HEADER.FIELDS (SUBJECT)]"])
        m.uid("STORE", str(uid), "+FLAGS", "(\\Flagged)")
        m.logout()
        self.mbsync()
        self.assertIn("\\seen", self.remote_subjects("INBOX")[subjects[0]])
        flagged = [n for n, b in self.local("INBOX").items() if subjects[1].encode() in b]
        self.assertTrue(flagged and ":2," in flagged[0] and "F" in flagged[0].split(":2,")[1],
                        flagged)

        # A deletion on the server (expunged) disappears locally; a new
        # delivery arrives.
        m = srv.imap(self.user, PW)
        m.select("INBOX")
        m.uid("STORE", str(uid), "+FLAGS", "(\\Deleted)")
        m.expunge()
        m.logout()
        late = unique("late")
        srv.deliver(make_message(subject=late, to=self.user)[0], rcpts=(self.user,))
        self.mbsync()
        local = self.local("INBOX")
        self.assertFalse(any(subjects[1].encode() in b for b in local.values()))
        self.assertTrue(any(late.encode() in b for b in local.values()))
        self.assertEqual(len(local), 2)
        # Nothing left to do: a second run changes nothing.
        before = sorted(self.local("INBOX"))
        self.mbsync()
        self.assertEqual(sorted(self.local("INBOX")), before)


class OfflineimapTest(harness.TestCase):

    def setUp(self):
        self.user = "%s@example.org" % unique("oi")
        srv.add_account(self.user, PW)
        self.dir = tempfile.mkdtemp(prefix="offlineimap-")
        self.maildir = os.path.join(self.dir, "mail")
        os.makedirs(self.maildir)
        self.rc = harness.write_offlineimaprc(
            os.path.join(self.dir, "offlineimaprc"), self.dir, self.maildir, srv.imap_port,
            self.user, PW, ["INBOX", "Work"])

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def sync(self):
        r = subprocess.run(["offlineimap", "-c", self.rc, "-o", "-u", "basic"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=120, cwd=self.dir)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertNotIn("ERROR", r.stdout, r.stdout)
        return r.stdout

    def local(self, folder):
        return harness.maildir_messages(self.maildir, folder)

    def test_sync_both_ways(self):
        subjects = [unique("srv") for _ in range(2)]
        for s in subjects:
            srv.deliver(make_message(subject=s, to=self.user)[0], rcpts=(self.user,))
        m = srv.imap(self.user, PW)
        m.create("Work")
        m.logout()
        self.sync()
        local = self.local("INBOX")
        self.assertEqual(len(local), 2)
        # Upload: a new local message in Work.
        up = unique("local")
        msg, _ = make_message(subject=up, to=self.user)
        with open(os.path.join(self.maildir, "Work", "new", "123.local"), "wb") as f:
            f.write(msg)
        # Seen locally.
        name = next(n for n, b in local.items() if subjects[0].encode() in b)
        sub = "cur" if os.path.exists(os.path.join(self.maildir, "INBOX", "cur", name)) else "new"
        os.rename(os.path.join(self.maildir, "INBOX", sub, name),
                  os.path.join(self.maildir, "INBOX", "cur", name.split(":2,")[0] + ":2,S"))
        self.sync()
        m = srv.imap(self.user, PW)
        try:
            m.select("Work")
            got = harness.fetch_by_uid(m, harness.uid_search(m, "ALL"),
                                       "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            self.assertTrue(any(up.encode() in v["BODY[HEADER.FIELDS (SUBJECT)]"]
                                for v in got.values()))
            m.select("INBOX")
            seen = harness.uid_search(m, "SEEN")
            self.assertEqual(len(seen), 1)
            # Deleted on the server: gone locally after the next sync.
            m.uid("STORE", str(seen[0]), "+FLAGS", "(\\Deleted)")
            m.expunge()
        finally:
            m.logout()
        self.sync()
        local = self.local("INBOX")
        self.assertEqual(len(local), 1)
        self.assertFalse(any(subjects[0].encode() in b for b in local.values()))


def run_on_pty(argv, env, cwd, timeout=60):
    """Run argv with a pseudo-terminal (24x80) as its stdin/stdout/stderr,
    as a full-screen program needs; returns (exit status, output). On
    timeout the program is killed and AssertionError carries its screen."""
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.chdir(cwd)
            os.execvpe(argv[0], argv, env)
        finally:
            os._exit(127)
    out = b""
    try:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pid = None
                raise AssertionError("%s did not finish within %d s; screen:\n%s"
                                     % (argv[0], timeout, out.decode("utf-8", "replace")))
            if not select.select([fd], [], [], left)[0]:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the program closed the terminal
                break
            if not chunk:
                break
            out += chunk
        _, status = os.waitpid(pid, 0)
        pid = None
        return os.waitstatus_to_exitcode(status), out.decode("utf-8", "replace")
    finally:
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except OSError:
                pass
        os.close(fd)


class MuttTest(harness.TestCase):
    """mutt 2 against imapd (plain IMAP port, LOGIN): HOME, muttrc and all
    its files in a temporary directory; nothing is cached locally, so every
    change it makes is on the server, where imaplib checks it."""

    def setUp(self):
        self.user = "%s@example.org" % unique("mutt")
        srv.add_account(self.user, PW)
        self.dir = tempfile.mkdtemp(prefix="mutt-")
        self.rc = os.path.join(self.dir, "muttrc")
        # "sendmail": keeps what mutt sends in a file.
        self.sent_file = os.path.join(self.dir, "sent.eml")
        self.sendmail = os.path.join(self.dir, "sendmail")
        with open(self.sendmail, "w") as f:
            f.write("#!/bin/sh\ncat > '%s'\n" % self.sent_file)
        os.chmod(self.sendmail, 0o755)
        with open(self.rc, "w") as f:
            f.write("""set imap_user = "%s"
set imap_pass = "%s"
set imap_authenticators = "login"
set ssl_starttls = no
set ssl_force_tls = no
set folder = "imap://127.0.0.1:%d/"
set spoolfile = "+INBOX"
set record = "+Sent"
set copy = yes
set sendmail = "%s"
set from = "%s"
set use_from = yes
set realname = "Mutt Tester"
set header_cache = ""
set message_cachedir = ""
set delete = yes
set quit = yes
set move = no
set mark_old = no
set confirmappend = no
set confirmcreate = no
set wait_key = no
set sleep_time = 0
set beep = no
set mail_check = 60
set timeout = 60
""" % (self.user, PW, srv.imap_port, self.sendmail, self.user))
        self.env = {"HOME": self.dir, "TERM": "dumb", "LANG": "C.UTF-8", "TMPDIR": self.dir,
                    "PATH": os.environ.get("PATH", "/usr/bin:/bin")}

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def mailbox(self, name):
        """{subject: set of flags} of a mailbox on the server, None when it
        does not exist."""
        m = srv.imap(self.user, PW)
        try:
            typ, _ = m.select(name, readonly=True)
            if typ != "OK":
                return None
            uids = harness.uid_search(m, "ALL")
            got = harness.fetch_by_uid(m, uids, "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])") \
                if uids else {}
        finally:
            m.logout()
        out = {}
        for it in got.values():
            hdr = next(v for k, v in it.items() if k.startswith("BODY["))
            out[hdr.decode().split(":", 1)[1].strip()] = \
                harness.flags_of(it["FLAGS"]) - {"\\recent"}
        return out

    def test_batch_mode_saves_sent_copy(self):
        # stdin is not a terminal: mutt sends without any screen, handing
        # the message to "sendmail" and APPENDing its copy to =Sent.
        subject = unique("batch")
        body = "Hello from mutt in batch mode.\nSecond line.\n"
        r = subprocess.run(["mutt", "-n", "-F", self.rc, "-s", subject, "--",
                            "someone@example.net"], input=body, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=60, cwd=self.dir,
                           env=self.env)
        self.assertEqual(r.returncode, 0, r.stdout)
        with open(self.sent_file, "rb") as f:
            sent = f.read()
        self.assertIn(subject.encode(), sent)
        self.assertEqual(self.mailbox("Sent"), {subject: {"\\seen"}})
        m = srv.imap(self.user, PW)
        try:
            m.select("Sent", readonly=True)
            uid = harness.uid_search(m, "ALL")[0]
            stored = harness.fetch_by_uid(m, [uid], "(BODY.PEEK[])")[uid]["BODY[]"]
        finally:
            m.logout()
        # The copy is the message sent (mutt adds no Bcc here), with CRLF.
        self.assertIn(b"Hello from mutt in batch mode.\r\nSecond line.\r\n", stored)
        msgid = re.search(rb"(?im)^Message-ID: *(<[^>]+>)", sent).group(1)
        self.assertIn(msgid, stored)

    def test_pushed_keys_copy_delete_flag_read_save(self):
        tok = unique("m")
        names = ["%s-%s" % (w, tok) for w in ("alpha", "bravo", "charlie", "delta")]
        for s in names:
            srv.deliver(make_message(subject=s, to=self.user)[0], rcpts=(self.user,))
        # (No "^" in the patterns: in a push string "^a" is Control-A.)
        keys = ("<tag-pattern>~A<enter><tag-prefix><copy-message>=Archive<enter>"
                "<untag-pattern>~A<enter>"
                "<delete-pattern>~s alpha-<enter>"
                "<tag-pattern>~s bravo-<enter><tag-prefix><flag-message>"
                "<untag-pattern>~A<enter>"
                "<search>~s charlie-<enter><display-message><exit>"
                "<search>~s delta-<enter><save-message>=Work<enter>"
                "<sync-mailbox><quit>")
        status, screen = run_on_pty(["mutt", "-n", "-F", self.rc, "-f", "+INBOX",
                                     "-e", 'push "%s"' % keys], self.env, self.dir)
        self.assertEqual(status, 0, screen)
        self.assertEqual(self.mailbox("Archive"), {s: set() for s in names}, screen)
        self.assertEqual(self.mailbox("INBOX"), {names[1]: {"\\flagged"},
                                                 names[2]: {"\\seen"}}, screen)
        self.assertEqual(self.mailbox("Work"), {names[3]: set()}, screen)
