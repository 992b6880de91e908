"""Integration tests of the SEARCH extensions of mailstead-imapd against the
real daemons and a throwaway PostgreSQL (harness.py): SEARCHRES (RFC 5182,
"$" and RETURN (SAVE)), WITHIN (RFC 5032), SAVEDATE (RFC 8514), MULTISEARCH
(RFC 7377, the ESEARCH command), PREVIEW (RFC 8970), INPROGRESS (RFC 9585),
and flag/keyword/size/date searches answered from the message rows. Run by
tests/integration/run-tests, or by hand:
PYTHONPATH=tests/integration top_builddir=BUILD python3 THIS_FILE"""
import datetime
import email.utils
import re
import time
import unittest

import harness
from harness import PASSWORD, make_message, unique, uid_search

SRV = None


def setUpModule():
    global SRV
    # search_progress_interval = 0: INPROGRESS at every step of a search
    # long enough to have steps (more than one batch of messages).
    SRV = harness.Server(name="searchext", daemons=("smtpd", "imapd"),
                         imap_conf={"search_progress_interval": "0"}).start()


def tearDownModule():
    SRV.stop()


MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def imap_date(dt):
    """date-text of a datetime: d-Mon-yyyy."""
    return "%d-%s-%04d" % (dt.day, MONTHS[dt.month - 1], dt.year)


def imap_datetime(ts):
    """date-time (quoted) for unix time ts, in UTC."""
    dt = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)
    return '"%02d-%s-%04d %02d:%02d:%02d +0000"' % (
        dt.day, MONTHS[dt.month - 1], dt.year, dt.hour, dt.minute, dt.second)


def parse_datetime(s):
    """Unix time of an IMAP date-time "dd-Mon-yyyy hh:mm:ss +zzzz"."""
    dt = datetime.datetime.strptime(s.strip().strip('"').strip(), "%d-%b-%Y %H:%M:%S %z")
    return dt.timestamp()


def esearch_all(untagged):
    """The ALL set of the one ESEARCH response among untagged, as ints."""
    lines = [u for u in untagged if u.startswith("* ESEARCH")]
    assert len(lines) == 1, untagged
    m = re.search(r" ALL (\S+)", lines[0])
    return expand(m.group(1)) if m else []


def expand(s):
    out = []
    for part in s.split(","):
        if ":" in part:
            a, b = (int(x) for x in part.split(":"))
            out.extend(range(min(a, b), max(a, b) + 1))
        else:
            out.append(int(part))
    return out


def search_nums(untagged):
    """Numbers of the one "* SEARCH" response among untagged."""
    lines = [u for u in untagged if u.startswith("* SEARCH")]
    assert len(lines) == 1, untagged
    return [int(x) for x in lines[0].split()[2:] if x.isdigit()]


def fetch_seqs(untagged, item="UID"):
    """[(seq, value of item)] of the FETCH responses among untagged."""
    out = []
    for u in untagged:
        m = re.match(r"\* (\d+) FETCH \((.*)\)\r?\n?$", u, re.S)
        if not m:
            continue
        v = re.search(r"%s (\S+|\([^)]*\))" % re.escape(item), m.group(2))
        out.append((int(m.group(1)), v.group(1) if v else None))
    return out


class Base(harness.TestCase):

    def account(self):
        addr = "%s@example.org" % unique("se")
        SRV.add_account(addr, PASSWORD)
        return addr

    def append(self, addr, mailbox, n=1, flags=None, date=None, msg=None):
        """Append n messages; returns their UIDs (from APPENDUID)."""
        m = SRV.imap(addr, PASSWORD)
        uids = []
        for i in range(n):
            body = msg if msg is not None else make_message(subject="m%d %s" % (i, unique()))[0]
            typ, data = m.append(mailbox, flags, date, body)
            self.assertEqual(typ, "OK", data)
            uids.append(int(re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1)))
        m.logout()
        return uids

    def raw(self, addr, select="INBOX", enable=None):
        r = harness.Raw(SRV.imap_port)
        self.addCleanup(r.close)
        r.line()
        _, t = r.imap("L", "LOGIN %s %s" % (addr, PASSWORD))
        self.assertTrue(t.startswith("L OK"), t)
        if enable:
            _, t = r.imap("E", "ENABLE %s" % enable)
            self.assertTrue(t.startswith("E OK"), t)
        if select:
            _, t = r.imap("S", "SELECT %s" % select)
            self.assertTrue(t.startswith("S OK"), t)
        return r

    def ok(self, r, tag, cmd):
        u, t = r.imap(tag, cmd)
        self.assertTrue(t.startswith(tag + " OK"), (cmd, t, u))
        return u

    def bad(self, r, tag, cmd, word="BAD"):
        u, t = r.imap(tag, cmd)
        self.assertTrue(t.startswith("%s %s" % (tag, word)), (cmd, t, u))
        # the session goes on
        self.ok(r, tag + "n", "NOOP")
        return t


class CapabilityTest(Base):

    def test_capabilities(self):
        r = harness.Raw(SRV.imap_port)
        self.addCleanup(r.close)
        greet = r.line().decode()
        for cap in ("SEARCHRES", "WITHIN", "SAVEDATE", "MULTISEARCH", "PREVIEW", "INPROGRESS"):
            self.assertRegex(greet, r"\b%s\b" % cap)
        r = self.raw(self.account(), select=None)
        u = self.ok(r, "C", "CAPABILITY")
        for cap in ("SEARCHRES", "WITHIN", "SAVEDATE", "MULTISEARCH", "PREVIEW", "INPROGRESS"):
            self.assertRegex(u[0], r"\b%s\b" % cap)


class SearchResTest(Base):
    """RFC 5182: RETURN (SAVE) and "$"."""

    def setup_box(self):
        """Six messages in INBOX, 2, 4 and 5 \\Flagged; Archive created."""
        addr = self.account()
        uids = self.append(addr, "INBOX", 6)
        r = self.raw(addr)
        self.ok(r, "F", "STORE 2,4:5 +FLAGS.SILENT (\\Flagged)")
        return addr, uids, r

    def test_save_then_dollar_in_every_command(self):
        addr, uids, r = self.setup_box()
        flagged = [uids[1], uids[3], uids[4]]
        u = self.ok(r, "A", "SEARCH RETURN (SAVE) FLAGGED")
        # SAVE alone asks for no result
        self.assertFalse([x for x in u if "SEARCH" in x], u)

        # FETCH and UID FETCH: the same messages
        u = self.ok(r, "B", "FETCH $ (UID)")
        self.assertEqual(fetch_seqs(u), [(2, str(flagged[0])), (4, str(flagged[1])),
                                         (5, str(flagged[2]))])
        u = self.ok(r, "C", "UID FETCH $ (FLAGS)")
        self.assertEqual(sorted(int(v) for _, v in fetch_seqs(u, "UID")), flagged)

        # SEARCH: "$" as sequence set and after UID, also combined
        self.assertEqual(search_nums(self.ok(r, "D", "SEARCH $")), [2, 4, 5])
        self.assertEqual(search_nums(self.ok(r, "E", "UID SEARCH UID $")), flagged)
        self.assertEqual(search_nums(self.ok(r, "E2", "UID SEARCH NOT $")),
                         [uids[0], uids[2], uids[5]])
        self.assertEqual(search_nums(self.ok(r, "E3", "SEARCH OR $ 1")), [1, 2, 4, 5])

        # STORE and UID STORE
        u = self.ok(r, "G", "STORE $ +FLAGS (\\Seen)")
        self.assertEqual([s for s, _ in fetch_seqs(u, "FLAGS")], [2, 4, 5])
        self.assertEqual(search_nums(self.ok(r, "H", "SEARCH SEEN")), [2, 4, 5])
        self.ok(r, "I", "UID STORE $ -FLAGS.SILENT (\\Seen)")
        self.assertEqual(search_nums(self.ok(r, "J", "SEARCH SEEN")), [])

        # COPY and UID COPY
        _, t = r.imap("K", "COPY $ Archive")
        self.assertTrue(t.startswith("K OK [COPYUID "), t)
        self.assertEqual(len(expand(t.split()[4])), 3, t)
        _, t = r.imap("L", "UID COPY $ Archive")
        self.assertTrue(t.startswith("L OK [COPYUID "), t)
        self.assertEqual(expand(t.split()[4]), flagged, t)

        # MOVE: the moved messages are expunged, and so gone from "$"
        u = self.ok(r, "M", "MOVE $ Trash")
        self.assertEqual(len([x for x in u if x.endswith("EXPUNGE\r\n")]), 3, u)
        u = self.ok(r, "N", "FETCH $ (UID)")
        self.assertEqual(fetch_seqs(u), [])
        self.assertEqual(len(uid_search_box(addr, "Trash")), 3)
        self.assertEqual(len(uid_search_box(addr, "Archive")), 6)

    def test_uid_move_and_uid_expunge(self):
        addr, uids, r = self.setup_box()
        self.ok(r, "A", "UID SEARCH RETURN (SAVE) 1:3")
        u = self.ok(r, "B", "UID MOVE $ Archive")
        self.assertEqual(len([x for x in u if x.endswith("EXPUNGE\r\n")]), 3, u)
        self.assertEqual(len(uid_search_box(addr, "Archive")), 3)
        # UID EXPUNGE $: only the saved \Deleted messages go
        self.ok(r, "C", "STORE 1:3 +FLAGS.SILENT (\\Deleted)")
        self.ok(r, "D", "SEARCH RETURN (SAVE) 1:2")
        u = self.ok(r, "E", "UID EXPUNGE $")
        self.assertEqual([x for x in u if "EXPUNGE" in x], ["* 1 EXPUNGE\r\n", "* 1 EXPUNGE\r\n"])
        self.assertEqual(uid_search_box(addr, "INBOX"), uids[5:])

    def test_save_with_min_max(self):
        addr, uids, r = self.setup_box()
        u = self.ok(r, "A", "SEARCH RETURN (SAVE MIN) FLAGGED")
        self.assertRegex(u[0], r'^\* ESEARCH \(TAG "A"\) MIN 2\r\n$')
        self.assertEqual(fetch_seqs(self.ok(r, "B", "FETCH $ (UID)")), [(2, str(uids[1]))])
        u = self.ok(r, "C", "UID SEARCH RETURN (MAX SAVE) FLAGGED")
        self.assertRegex(u[0], r'^\* ESEARCH \(TAG "C"\) UID MAX %d\r\n$' % uids[4])
        self.assertEqual(search_nums(self.ok(r, "D", "SEARCH $")), [5])
        self.ok(r, "E", "SEARCH RETURN (SAVE MIN MAX) FLAGGED")
        self.assertEqual(search_nums(self.ok(r, "F", "SEARCH $")), [2, 5])
        # with COUNT or ALL the whole result is saved (RFC 5182 2.4)
        u = self.ok(r, "G", "SEARCH RETURN (SAVE MIN COUNT) FLAGGED")
        self.assertRegex(u[0], r"MIN 2 COUNT 3")
        self.assertEqual(search_nums(self.ok(r, "H", "SEARCH $")), [2, 4, 5])
        self.ok(r, "I", "SEARCH RETURN (MAX SAVE ALL) 1:3")
        self.assertEqual(search_nums(self.ok(r, "J", "SEARCH $")), [1, 2, 3])
        # MIN and MAX of a single match: saved once
        self.ok(r, "K", "SEARCH RETURN (SAVE MIN MAX) 4")
        self.assertEqual(fetch_seqs(self.ok(r, "L", "FETCH $ (UID)")), [(4, str(uids[3]))])
        # no match: "$" becomes empty
        self.ok(r, "M", "SEARCH RETURN (SAVE MIN) DELETED")
        self.assertEqual(fetch_seqs(self.ok(r, "N", "FETCH $ (UID)")), [])

    def test_dollar_after_expunge(self):
        addr, uids, r = self.setup_box()
        self.ok(r, "A", "SEARCH RETURN (SAVE) 1:4")
        self.ok(r, "B", "STORE 2 +FLAGS.SILENT (\\Deleted)")
        u = self.ok(r, "C", "EXPUNGE")
        self.assertIn("* 2 EXPUNGE\r\n", u)
        u = self.ok(r, "D", "FETCH $ (UID)")
        self.assertEqual(fetch_seqs(u), [(1, str(uids[0])), (2, str(uids[2])), (3, str(uids[3]))])
        # expunged by another session: gone once the EXPUNGE is reported
        o = SRV.imap(addr, PASSWORD)
        o.select("INBOX")
        o.uid("STORE", str(uids[2]), "+FLAGS.SILENT", "(\\Deleted)")
        o.expunge()
        o.logout()
        u = self.ok(r, "E", "NOOP")
        self.assertIn("* 2 EXPUNGE\r\n", u)
        u = self.ok(r, "F", "UID FETCH $ (FLAGS)")
        self.assertEqual(sorted(int(v) for _, v in fetch_seqs(u)), [uids[0], uids[3]])

    def test_dollar_empty_in_fresh_selection(self):
        addr, uids, r = self.setup_box()
        # never saved: the empty set, every command succeeds doing nothing
        self.assertEqual(fetch_seqs(self.ok(r, "A", "FETCH $ (UID)")), [])
        self.assertEqual(search_nums(self.ok(r, "B", "SEARCH $")), [])
        _, t = r.imap("C", "COPY $ Archive")
        self.assertTrue(t.startswith("C OK"), t)
        self.assertNotIn("COPYUID", t)
        self.ok(r, "D", "STORE $ +FLAGS (\\Seen)")
        self.ok(r, "E", "UID EXPUNGE $")
        # each of SELECT, EXAMINE, UNSELECT, CLOSE resets it
        for reset in ("SELECT INBOX", "EXAMINE INBOX", "UNSELECT", "CLOSE"):
            self.ok(r, "F", "SELECT INBOX")
            self.ok(r, "G", "SEARCH RETURN (SAVE) ALL")
            self.assertEqual(len(fetch_seqs(self.ok(r, "H", "FETCH $ (UID)"))), 6)
            self.ok(r, "I", reset)
            if not reset.startswith(("SELECT", "EXAMINE")):
                self.ok(r, "J", "SELECT INBOX")
            self.assertEqual(fetch_seqs(self.ok(r, "K", "FETCH $ (UID)")), [], reset)
        # a failed SELECT leaves no selection, and a new one starts empty
        self.ok(r, "L", "SEARCH RETURN (SAVE) ALL")
        _, t = r.imap("M", "SELECT NoSuchBox")
        self.assertTrue(t.startswith("M NO"), t)
        self.ok(r, "N", "SELECT INBOX")
        self.assertEqual(fetch_seqs(self.ok(r, "O", "FETCH $ (UID)")), [])

    def test_imap4rev2(self):
        addr, uids, r = self.setup_box()
        r = self.raw(addr, enable="IMAP4rev2")
        u = self.ok(r, "A", "SEARCH RETURN (SAVE) FLAGGED")
        self.assertFalse([x for x in u if "SEARCH" in x], u)
        u = self.ok(r, "B", "SEARCH $")
        self.assertEqual(esearch_all(u), [2, 4, 5])
        u = self.ok(r, "C", "UID SEARCH UNFLAGGED $")
        self.assertEqual(esearch_all(u), [])

    def test_malformed(self):
        addr, uids, r = self.setup_box()
        self.ok(r, "A", "SEARCH RETURN (SAVE) FLAGGED")
        for cmd in ("FETCH $,1 (UID)", "FETCH $:3 (UID)", "FETCH 1,$ (UID)", "FETCH $$ (UID)",
                    "UID FETCH $x FLAGS", "STORE $, +FLAGS (\\Seen)", "COPY $$ Archive",
                    "UID EXPUNGE $1", "SEARCH $,2", "UID SEARCH UID $$", "SEARCH UID",
                    "SEARCH RETURN (SAVE FOO) ALL", "SEARCH RETURN SAVE ALL",
                    "SEARCH RETURN (SAVE)", "SEARCH RETURN (SAVE) BOGUS",
                    "SEARCH RETURN ((SAVE)) ALL", "SEARCH RETURN"):
            self.bad(r, "X", cmd)
        # commands rejected as BAD leave "$" as it was
        self.assertEqual(search_nums(self.ok(r, "B", "SEARCH $")), [2, 4, 5])
        # "$" in a mailbox name or flag is not a sequence set
        self.bad(r, "Y", "FETCH $ $")
        # no mailbox selected
        self.ok(r, "Z", "UNSELECT")
        self.bad(r, "Z2", "FETCH $ (UID)")


def uid_search_box(addr, mailbox, *criteria):
    m = SRV.imap(addr, PASSWORD)
    m.select(mailbox)
    out = uid_search(m, *(criteria or ("ALL",)))
    m.logout()
    return out


class WithinTest(Base):
    """RFC 5032: OLDER and YOUNGER, in seconds against the internal date."""

    def test_older_younger(self):
        addr = self.account()
        now = time.time()
        old = self.append(addr, "INBOX", date=imap_datetime(now - 10 * 86400))[0]
        mid = self.append(addr, "INBOX", date=imap_datetime(now - 2 * 3600))[0]
        new = self.append(addr, "INBOX", date=imap_datetime(now - 30))[0]
        m = SRV.imap(addr, PASSWORD)
        m.select("INBOX")
        self.assertEqual(uid_search(m, "OLDER", "86400"), [old])
        self.assertEqual(uid_search(m, "YOUNGER", "3600"), [new])
        self.assertEqual(uid_search(m, "YOUNGER", "10800", "OLDER", "600"), [mid])
        self.assertEqual(uid_search(m, "OLDER", "1"), [old, mid, new])
        self.assertEqual(uid_search(m, "YOUNGER", "4294967295"), [old, mid, new])
        self.assertEqual(uid_search(m, "NOT", "YOUNGER", "3600"), [old, mid])
        self.assertEqual(uid_search(m, "OR", "OLDER", "86400", "YOUNGER", "60"), [old, new])
        # with a text key too (the rows are filtered before reading)
        self.assertEqual(uid_search(m, "OLDER", "600", "TEXT", '"test message"'), [old, mid])
        m.logout()
        r = self.raw(addr)
        for cmd in ("SEARCH OLDER 0", "SEARCH YOUNGER -5", "SEARCH OLDER", "SEARCH YOUNGER x",
                    "SEARCH OLDER 4294967296", "SEARCH OLDER (1)"):
            self.bad(r, "B", cmd)


class SaveDateTest(Base):
    """RFC 8514: FETCH SAVEDATE, SEARCH SAVED*."""

    def savedates(self, addr, mailbox):
        r = self.raw(addr, select=mailbox)
        u = self.ok(r, "F", "UID FETCH 1:* (SAVEDATE INTERNALDATE)")
        out = {}
        for x in u:
            m = re.search(r'UID (\d+)', x)
            sd = re.search(r'SAVEDATE "([^"]+)"', x)
            idate = re.search(r'INTERNALDATE "([^"]+)"', x)
            if m:
                out[int(m.group(1))] = (parse_datetime(sd.group(1)), parse_datetime(idate.group(1)))
        return out

    def test_savedate_append_copy_move_delivery(self):
        addr = self.account()
        t0 = time.time()
        uid = self.append(addr, "INBOX", date='"01-Jan-2020 10:00:00 +0000"')[0]
        sd = self.savedates(addr, "INBOX")
        saved, internal = sd[uid]
        self.assertEqual(internal, parse_datetime("01-Jan-2020 10:00:00 +0000"))
        self.assertLessEqual(abs(saved - t0), 60)
        time.sleep(1.2)
        r = self.raw(addr)
        self.ok(r, "C", "UID COPY %d Archive" % uid)
        self.ok(r, "M", "UID MOVE %d Trash" % uid)
        for box in ("Archive", "Trash"):
            (s2, i2), = self.savedates(addr, box).values()
            # the internal date stays, the save date is the copy's
            self.assertEqual(i2, internal, box)
            self.assertNotEqual(s2, i2, box)
            self.assertGreaterEqual(s2, saved + 1, box)
        # delivery over SMTP: saved when delivered
        t1 = time.time()
        code, _ = SRV.deliver(make_message(to=addr)[0], rcpts=(addr,))
        self.assertEqual(code, 250)
        (s3, i3), = self.savedates(addr, "INBOX").values()
        self.assertLessEqual(abs(s3 - t1), 60)

    def test_search_saved(self):
        addr = self.account()
        self.append(addr, "INBOX", 2, date='"01-Jan-2020 10:00:00 +0000"')
        r = self.raw(addr)
        u = self.ok(r, "F", "FETCH 1 (SAVEDATE)")
        sd = re.search(r'SAVEDATE "(\d+-\w+-\d+)', u[0]).group(1)
        day = datetime.datetime.strptime(sd, "%d-%b-%Y")
        today = imap_date(day)
        tomorrow = imap_date(day + datetime.timedelta(days=1))
        self.assertEqual(search_nums(self.ok(r, "A", "SEARCH SAVEDON %s" % today)), [1, 2])
        self.assertEqual(search_nums(self.ok(r, "B", "SEARCH SAVEDSINCE %s" % today)), [1, 2])
        self.assertEqual(search_nums(self.ok(r, "C", "SEARCH SAVEDBEFORE %s" % today)), [])
        self.assertEqual(search_nums(self.ok(r, "D", "SEARCH SAVEDBEFORE %s" % tomorrow)), [1, 2])
        self.assertEqual(search_nums(self.ok(r, "E", "SEARCH SAVEDSINCE %s" % tomorrow)), [])
        self.assertEqual(search_nums(self.ok(r, "G", "SEARCH SAVEDATESUPPORTED")), [1, 2])
        # the internal date is something else
        self.assertEqual(search_nums(self.ok(r, "H", "SEARCH SAVEDON 1-Jan-2020")), [])
        self.assertEqual(search_nums(self.ok(r, "I", "SEARCH ON 1-Jan-2020")), [1, 2])
        self.assertEqual(search_nums(self.ok(r, "J", "SEARCH NOT SAVEDON %s" % today)), [])
        self.assertEqual(search_nums(self.ok(r, "K", "SEARCH OR SAVEDBEFORE 1-Jan-2021 2")), [2])
        for cmd in ("SEARCH SAVEDON", "SEARCH SAVEDON 32-Jan-2020", "SEARCH SAVEDBEFORE x",
                    "SEARCH SAVEDSINCE (1-Jan-2020)", "FETCH 1 (SAVEDATE",
                    "FETCH 1 SAVEDATE.PEEK"):
            self.bad(r, "X", cmd)


class MultiSearchTest(Base):
    """RFC 7377: ESEARCH IN (...)."""

    def setup_account(self):
        addr = self.account()
        m = SRV.imap(addr, PASSWORD)
        for box in ("Work", "Work/Sub", "Work/Sub/Deep", "Empty", "Other"):
            self.assertEqual(m.create(box)[0], "OK")
        m.logout()
        u = {}
        u["INBOX"] = self.append(addr, "INBOX", 3, flags="(\\Flagged)")
        u["INBOX"] += self.append(addr, "INBOX", 1)
        u["Archive"] = self.append(addr, "Archive", 2)
        u["Work"] = self.append(addr, "Work", 2, flags="(\\Flagged)")
        u["Work/Sub"] = self.append(addr, "Work/Sub", 1, flags="(\\Flagged)")
        u["Work/Sub/Deep"] = self.append(addr, "Work/Sub/Deep", 1, flags="(\\Flagged)")
        u["Other"] = self.append(addr, "Other", 1, flags="(\\Flagged \\Seen)")
        return addr, u

    def results(self, untagged, tag):
        """{mailbox: (uidvalidity, rest of the response)} from ESEARCH lines."""
        out = {}
        for x in untagged:
            if not x.startswith("* ESEARCH"):
                continue
            m = re.match(r'\* ESEARCH \(TAG "%s" MAILBOX ("[^"]*"|\S+) UIDVALIDITY (\d+)\) UID'
                         r'(.*)\r\n$' % re.escape(tag), x)
            self.assertTrue(m, x)
            out[m.group(1).strip('"')] = (int(m.group(2)), m.group(3).strip())
        return out

    def uidvalidity(self, addr, box):
        m = SRV.imap(addr, PASSWORD)
        typ, data = m.status('"%s"' % box, "(UIDVALIDITY)")
        m.logout()
        return int(re.search(rb"UIDVALIDITY (\d+)", data[0]).group(1))

    def test_sources_authenticated_state(self):
        addr, u = self.setup_account()
        r = self.raw(addr, select=None)
        res = self.results(self.ok(r, "A", "ESEARCH IN (personal) FLAGGED"), "A")
        self.assertEqual(sorted(res), ["INBOX", "Other", "Work", "Work/Sub", "Work/Sub/Deep"])
        self.assertEqual(res["INBOX"], (self.uidvalidity(addr, "INBOX"),
                                        "ALL %d:%d" % (u["INBOX"][0], u["INBOX"][2])))
        self.assertEqual(res["Work"][0], self.uidvalidity(addr, "Work"))
        # empty results get no response; Empty has no messages at all
        res = self.results(self.ok(r, "B", "ESEARCH IN (mailboxes (Archive Empty)) ALL"), "B")
        self.assertEqual(list(res), ["Archive"])
        res = self.results(self.ok(r, "C", "ESEARCH IN (mailboxes Archive) FLAGGED"), "C")
        self.assertEqual(res, {})
        res = self.results(self.ok(r, "D", "ESEARCH IN (subtree Work) FLAGGED"), "D")
        self.assertEqual(sorted(res), ["Work", "Work/Sub", "Work/Sub/Deep"])
        res = self.results(self.ok(r, "E", "ESEARCH IN (subtree-one Work) FLAGGED"), "E")
        self.assertEqual(sorted(res), ["Work", "Work/Sub"])
        res = self.results(self.ok(r, "F", "ESEARCH IN (inboxes) ALL"), "F")
        self.assertEqual(list(res), ["INBOX"])
        # several filters, overlapping: each mailbox once
        res = self.results(self.ok(r, "G", "ESEARCH IN (inboxes mailboxes (INBOX Other) "
                                            "subtree-one Work/Sub) RETURN (COUNT MIN) FLAGGED"),
                           "G")
        self.assertEqual(sorted(res), ["INBOX", "Other", "Work/Sub", "Work/Sub/Deep"])
        self.assertEqual(res["INBOX"][1], "MIN %d COUNT 3" % u["INBOX"][0])
        self.assertEqual(res["Other"][1], "MIN %d COUNT 1" % u["Other"][0])
        # subscribed: all are (CREATE subscribes), until unsubscribed
        self.ok(r, "H", "UNSUBSCRIBE Work")
        res = self.results(self.ok(r, "I", "ESEARCH IN (subscribed) FLAGGED"), "I")
        self.assertEqual(sorted(res), ["INBOX", "Other", "Work/Sub", "Work/Sub/Deep"])
        # other keys, sequence numbers count each mailbox's messages
        res = self.results(self.ok(r, "J", "ESEARCH IN (personal) UNSEEN 2:*"), "J")
        self.assertEqual(res["INBOX"][1], "ALL %d:%d" % (u["INBOX"][1], u["INBOX"][3]))
        self.assertEqual(res["Archive"][1], "ALL %d" % u["Archive"][1])
        self.assertNotIn("Other", res)
        # CONDSTORE: each result ends with its highest MODSEQ
        res = self.results(self.ok(r, "K", "ESEARCH IN (mailboxes (INBOX Work)) MODSEQ 1"), "K")
        self.assertRegex(res["INBOX"][1], r"^ALL %d:%d MODSEQ \d+$" % (u["INBOX"][0],
                                                                       u["INBOX"][3]))
        self.assertRegex(res["Work"][1], r"^ALL \S+ MODSEQ \d+$")

    def test_selected_state(self):
        addr, u = self.setup_account()
        r = self.raw(addr, select="Work")
        # without IN: the selected mailbox
        res = self.results(self.ok(r, "A", "ESEARCH FLAGGED"), "A")
        self.assertEqual(list(res), ["Work"])
        self.assertEqual(res["Work"][1], "ALL %d:%d" % tuple(u["Work"]))
        res = self.results(self.ok(r, "B", "ESEARCH IN (selected subtree INBOX) RETURN (MAX) ALL"),
                           "B")
        self.assertEqual(res, {"INBOX": (self.uidvalidity(addr, "INBOX"), "MAX %d" % u["INBOX"][3]),
                               "Work": (self.uidvalidity(addr, "Work"), "MAX %d" % u["Work"][1])})
        # SAVE over the selected mailbox alone, then "$"
        u2 = self.ok(r, "C", "ESEARCH IN (selected) RETURN (SAVE MIN) ALL")
        self.assertEqual(self.results(u2, "C"),
                         {"Work": (self.uidvalidity(addr, "Work"), "MIN %d" % u["Work"][0])})
        u2 = self.ok(r, "C2", "ESEARCH RETURN (SAVE) ALL")
        self.assertEqual([x for x in u2 if "ESEARCH" in x], [])
        self.ok(r, "C3", "ESEARCH RETURN (SAVE MIN) ALL")
        self.assertEqual(search_nums(self.ok(r, "D", "UID SEARCH $")), [u["Work"][0]])
        res = self.results(self.ok(r, "E", "ESEARCH IN (selected) $"), "E")
        self.assertEqual(res["Work"][1], "ALL %d" % u["Work"][0])
        # SAVE or "$" with other mailboxes
        self.bad(r, "F", "ESEARCH IN (personal) RETURN (SAVE) ALL")
        self.bad(r, "G", "ESEARCH IN (selected mailboxes INBOX) RETURN (SAVE) ALL")
        self.bad(r, "H", "ESEARCH IN (personal) $", word="NO")
        # a message added elsewhere is in the results of the selected
        # mailbox only once announced: the server may announce it (EXISTS)
        # before the results, never after them
        o = SRV.imap(addr, PASSWORD)
        o.append("Work", "(\\Flagged)", None, make_message()[0])
        o.logout()
        lines = self.ok(r, "I", "ESEARCH IN (mailboxes Work) FLAGGED")
        res = self.results(lines, "I")
        at = [i for i, x in enumerate(lines) if "ESEARCH" in x][0]
        announced = any(re.match(r"\* 3 EXISTS", x) for x in lines[:at])
        self.assertFalse(any("EXISTS" in x for x in lines[at:]))
        self.assertEqual(res["Work"][1], "ALL %d:%d" % (u["Work"][0], u["Work"][1] + 1)
                         if announced else "ALL %d:%d" % tuple(u["Work"]))

    def test_nonexistent_and_malformed(self):
        addr, u = self.setup_account()
        r = self.raw(addr, select=None)
        t = self.bad(r, "A", "ESEARCH IN (mailboxes NoSuch) ALL", word="NO")
        self.assertIn("[NONEXISTENT]", t)
        self.bad(r, "B", "ESEARCH IN (mailboxes (INBOX NoSuch)) ALL", word="NO")
        self.bad(r, "C", "ESEARCH IN (subtree NoSuch) ALL", word="NO")
        for cmd in ("ESEARCH IN (bogus) ALL", "ESEARCH IN () ALL", "ESEARCH IN (mailboxes) ALL",
                    "ESEARCH IN personal ALL", "ESEARCH IN (personal (depth 1)) ALL",
                    "ESEARCH IN (mailboxes ()) ALL", "ESEARCH IN (personal)",
                    "ESEARCH IN (personal) RETURN (BOGUS) ALL", "ESEARCH IN (personal) BOGUS",
                    "ESEARCH IN", "ESEARCH", "ESEARCH IN (selected) ALL", "ESEARCH ALL",
                    "UID ESEARCH ALL"):
            self.bad(r, "X", cmd)
        # not before login
        r2 = harness.Raw(SRV.imap_port)
        self.addCleanup(r2.close)
        r2.line()
        _, t = r2.imap("A", "ESEARCH IN (personal) ALL")
        self.assertTrue(t.startswith("A BAD"), t)


class PreviewTest(Base):
    """RFC 8970: FETCH PREVIEW."""

    PLAIN = ("Subject: plain\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
             "  Hello   there,\r\n\r\n\tthis is   the preview text. Caf\xc3\xa9.\r\n")
    HTML = ("Subject: html\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
            "<html><head><title>Title</title><style>p {color: red}</style></head>"
            "<body><p>Hello&nbsp;<b>HTML</b>&amp; world</p><script>bad()</script>"
            "<div>second &lt;block&gt;</div></body></html>\r\n")
    MULTI = ("Subject: multi\r\nMIME-Version: 1.0\r\n"
             "Content-Type: multipart/mixed; boundary=outer\r\n\r\n"
             "--outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n"
             "--inner\r\nContent-Type: text/plain; charset=us-ascii\r\n"
             "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
             "Plain part with soft=\r\nbreak and =3D sign.\r\n"
             "--inner\r\nContent-Type: text/html\r\n\r\n<p>HTML alternative</p>\r\n"
             "--inner--\r\n"
             "--outer\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment\r\n"
             "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--outer--\r\n")
    ATTACH_ONLY = ("Subject: attachment only\r\nMIME-Version: 1.0\r\n"
                   "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
                   "--b\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                   "iVBORw0KGgo=\r\n--b--\r\n")

    EXPECT = ["Hello there, this is the preview text. Caf\xe9.",
              "Hello HTML& world second <block>",
              "Plain part with softbreak and = sign.",
              ""]

    def previews(self, r, tag, cmd):
        u = self.ok(r, tag, cmd)
        out = {}
        for x in u:
            m = re.match(r'\* (\d+) FETCH \(.*PREVIEW ("(?:[^"\\]|\\.)*"|NIL)', x)
            if m:
                v = m.group(2)
                out[int(m.group(1))] = None if v == "NIL" else \
                    re.sub(r'\\(.)', r'\1', v[1:-1])
        return out

    def setup_box(self):
        addr = self.account()
        for msg in (self.PLAIN, self.HTML, self.MULTI, self.ATTACH_ONLY):
            self.append(addr, "INBOX", msg=msg.encode("latin-1"))
        r = self.raw(addr, enable="IMAP4rev2")   # UTF-8 in quoted strings
        return addr, r

    def test_preview_kinds(self):
        addr, r = self.setup_box()
        got = self.previews(r, "A", "FETCH 1:* (PREVIEW)")
        self.assertEqual([got[i] for i in (1, 2, 3, 4)], self.EXPECT)
        got = self.previews(r, "B", "FETCH 1:4 (UID PREVIEW (LAZY))")
        self.assertEqual([got[i] for i in (1, 2, 3, 4)], self.EXPECT)
        got = self.previews(r, "C", "UID FETCH 1:* PREVIEW (LAZY)")
        self.assertEqual(len(got), 4)
        got = self.previews(r, "D", "FETCH 2 PREVIEW")
        self.assertEqual(got, {2: self.EXPECT[1]})
        # a preview does not set \Seen
        self.assertEqual(esearch_all(self.ok(r, "F", "SEARCH SEEN")), [])

    def test_computed_when_missing_and_saved(self):
        addr, r = self.setup_box()
        SRV.psql("update messages set preview = null where account_id = "
                 "(select id from accounts where name = :'a')", a=addr)
        got = self.previews(r, "A", "FETCH 1:* (PREVIEW)")
        self.assertEqual([got[i] for i in (1, 2, 3, 4)], self.EXPECT)
        rows = SRV.psql("select count(*) from messages where preview is null and account_id = "
                        "(select id from accounts where name = :'a')", a=addr)
        self.assertEqual(rows, [["0"]])
        got = self.previews(r, "B", "FETCH 1:* (PREVIEW)")
        self.assertEqual([got[i] for i in (1, 2, 3, 4)], self.EXPECT)

    def test_long_preview_cut(self):
        addr = self.account()
        words = " ".join("word%03d" % i for i in range(200))
        self.append(addr, "INBOX", msg=("Subject: long\r\n\r\n%s\r\n" % words).encode())
        r = self.raw(addr)
        got = self.previews(r, "A", "FETCH 1 (PREVIEW)")[1]
        self.assertLessEqual(len(got), 200)
        self.assertTrue(words.startswith(got), got)
        self.assertGreater(len(got), 150)
        self.assertFalse(got.endswith(" "))

    def test_malformed(self):
        addr, r = self.setup_box()
        for cmd in ("FETCH 1 (PREVIEW (FOO))", "FETCH 1 (PREVIEW ())", "FETCH 1 PREVIEW (LAZY",
                    "FETCH 1 (PREVIEW LAZY)", "FETCH 1 (PREVIEW ((LAZY)))", "FETCH 1 PREVIEW.PEEK"):
            self.bad(r, "X", cmd)


class InProgressTest(Base):
    """RFC 9585: "* OK [INPROGRESS (tag done goal)]" during long searches
    (the test server reports at every step of 500 messages)."""

    def fill(self, addr, mailbox, n):
        """n messages in mailbox: one APPENDed, its row copied in SQL."""
        self.append(addr, mailbox, msg=make_message(subject="fill")[0])
        SRV.psql("""
            with src as (select m.* from messages m join mailboxes b on b.id = m.mailbox_id
                         join accounts a on a.id = b.account_id
                         where a.name = :'a' and b.name = :'b' limit 1)
            insert into messages (id, account_id, mailbox_id, uid, modseq, createseq, flags,
                keywords, size, received, file_path, msg_prefix, parsed, preview, message_id,
                subject_base)
            select nextval('messages_id_seq'), account_id, mailbox_id, uid + g, modseq, modseq,
                flags, keywords, size, received, file_path, msg_prefix, parsed, preview,
                message_id, subject_base
            from src, generate_series(1, :n - 1) g;
            update mailboxes b set uidnext = uidnext + :n - 1, count_total = :n,
                count_unseen = :n, count_unread = :n
            from accounts a where a.id = b.account_id and a.name = :'a' and b.name = :'b';
            """.replace(":n", str(int(n))), a=addr,
                 b="Inbox" if mailbox.upper() == "INBOX" else mailbox)

    def progress(self, untagged):
        return [x for x in untagged if "[INPROGRESS" in x]

    def test_progress(self):
        addr = self.account()
        self.fill(addr, "INBOX", 1200)
        r = self.raw(addr)
        u = self.ok(r, "T1", 'UID SEARCH FROM "no such sender"')
        self.assertEqual(self.progress(u),
                         ['* OK [INPROGRESS ("T1" 500 1200)] Searching\r\n',
                          '* OK [INPROGRESS ("T1" 1000 1200)] Searching\r\n'])
        # progress before the result
        self.assertTrue(u[-1].startswith("* SEARCH"), u)
        # a tag with "]" would end the response code: NIL
        u = self.ok(r, "a]b", "SEARCH BODY nothing")
        self.assertEqual(self.progress(u)[0], "* OK [INPROGRESS (NIL 500 1200)] Searching\r\n")
        # with rows filtered first, the steps count the candidates' places
        u = self.ok(r, "T2", "SEARCH UNSEEN TEXT nothing")
        self.assertEqual(len(self.progress(u)), 2, u)
        # short searches: none
        u = self.ok(r, "T3", "SEARCH 1:400 SUBJECT fill")
        self.assertEqual(self.progress(u), [])
        self.assertEqual(len(search_nums(u)), 400)
        # flag searches read rows, not messages: one step, no report
        u = self.ok(r, "T4", "SEARCH UNSEEN")
        self.assertEqual(self.progress(u), [])
        self.assertEqual(len(search_nums(u)), 1200)
        # ESEARCH over several mailboxes: one goal for all
        self.fill(addr, "Archive", 600)
        u = self.ok(r, "T5", 'ESEARCH IN (personal) SUBJECT "fill"')
        p = self.progress(u)
        self.assertGreaterEqual(len(p), 3, u)
        for x in p:
            m = re.search(r'\("T5" (\d+) (\d+)\)', x)
            self.assertEqual(int(m.group(2)), 1800, x)
            self.assertLessEqual(int(m.group(1)), 1800, x)
        self.assertEqual(len([x for x in u if x.startswith("* ESEARCH")]), 2, u)


class RowSearchTest(Base):
    """Flag, keyword, size, date and UID searches (answered from the rows,
    with simple keys in the database's WHERE clause) against a model."""

    def test_against_model(self):
        addr = self.account()
        n = 40
        model = []
        m = SRV.imap(addr, PASSWORD)
        for i in range(n):
            flags = []
            if i % 2 == 0:
                flags.append("\\Seen")
            if i % 3 == 0:
                flags.append("\\Flagged")
            if i % 5 == 0:
                flags.append("\\Deleted")
            if i % 4 == 1:
                flags.append("foo")
            if i % 7 == 2:
                flags.append("$Forwarded")
            body = "x" * (i * 100)
            msg = make_message(subject="s%d" % i, body=body)[0]
            day = 1 + i % 28
            date = '"%02d-Mar-2021 12:00:00 +0000"' % day
            typ, data = m.append("INBOX", "(%s)" % " ".join(flags), date, msg)
            self.assertEqual(typ, "OK", data)
            uid = int(re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1))
            model.append({"uid": uid, "seq": i + 1, "flags": set(f.lower() for f in flags),
                          "size": len(msg), "day": day, "subject": "s%d" % i})
        m.select("INBOX")
        # a message expunged elsewhere in between leaves a UID gap
        m.uid("STORE", str(model[10]["uid"]), "+FLAGS.SILENT", "(\\Deleted)")
        m.uid("EXPUNGE", str(model[10]["uid"]))
        model.pop(10)
        for k, x in enumerate(model):
            x["seq"] = k + 1
        uids = [x["uid"] for x in model]

        def sel(pred):
            return [x["uid"] for x in model if pred(x)]

        cases = [
            (["UNSEEN"], sel(lambda x: "\\seen" not in x["flags"])),
            (["SEEN", "FLAGGED"], sel(lambda x: {"\\seen", "\\flagged"} <= x["flags"])),
            (["NOT", "DELETED"], sel(lambda x: "\\deleted" not in x["flags"])),
            (["UNDELETED", "UNFLAGGED"],
             sel(lambda x: not x["flags"] & {"\\deleted", "\\flagged"})),
            (["KEYWORD", "foo"], sel(lambda x: "foo" in x["flags"])),
            (["KEYWORD", "FOO", "UNSEEN"], sel(lambda x: "foo" in x["flags"] and
                                               "\\seen" not in x["flags"])),
            (["UNKEYWORD", "foo", "SEEN"], sel(lambda x: "foo" not in x["flags"] and
                                               "\\seen" in x["flags"])),
            (["KEYWORD", "$Forwarded"], sel(lambda x: "$forwarded" in x["flags"])),
            (["KEYWORD", "nosuch"], []),
            (["UNKEYWORD", "nosuch"], uids),
            (["OR", "FLAGGED", "KEYWORD", "foo"],
             sel(lambda x: "\\flagged" in x["flags"] or "foo" in x["flags"])),
            (["NOT", "OR", "SEEN", "DELETED"],
             sel(lambda x: not x["flags"] & {"\\seen", "\\deleted"})),
            (["LARGER", "2000"], sel(lambda x: x["size"] > 2000)),
            (["SMALLER", "2000", "LARGER", "1000"], sel(lambda x: 1000 < x["size"] < 2000)),
            (["LARGER", "3000", "SMALLER", "1000"], []),
            (["SINCE", "10-Mar-2021"], sel(lambda x: x["day"] >= 10)),
            (["BEFORE", "10-Mar-2021", "SEEN"], sel(lambda x: x["day"] < 10 and
                                                   "\\seen" in x["flags"])),
            (["ON", "5-Mar-2021"], sel(lambda x: x["day"] == 5)),
            (["SINCE", "5-Mar-2021", "BEFORE", "8-Mar-2021"], sel(lambda x: 5 <= x["day"] < 8)),
            (["UID", "%d:%d" % (uids[5], uids[20]), "UNSEEN"],
             sel(lambda x: uids[5] <= x["uid"] <= uids[20] and "\\seen" not in x["flags"])),
            (["UID", "%d:*" % uids[-3], "NOT", "FLAGGED"],
             sel(lambda x: x["uid"] >= uids[-3] and "\\flagged" not in x["flags"])),
            (["5:9", "SEEN"], sel(lambda x: 5 <= x["seq"] <= 9 and "\\seen" in x["flags"])),
            (["*", "ALL"], [uids[-1]]),
            (["2,30:*", "UNFLAGGED"],
             sel(lambda x: (x["seq"] == 2 or x["seq"] >= 30) and "\\flagged" not in x["flags"])),
            (["OR", "1:3", "FLAGGED"], sel(lambda x: x["seq"] <= 3 or "\\flagged" in x["flags"])),
            (["(", "SEEN", "(", "FLAGGED", "LARGER", "100", ")", ")"],
             sel(lambda x: {"\\seen", "\\flagged"} <= x["flags"] and x["size"] > 100)),
            (["NEW"], []),
            (["OLD", "SEEN"], sel(lambda x: "\\seen" in x["flags"])),
            # a text key with row conditions: only those rows are read
            (["UNSEEN", "SUBJECT", "s1"],
             sel(lambda x: "\\seen" not in x["flags"] and "s1" in x["subject"])),
            (["SUBJECT", "s2", "UID", "%d:%d" % (uids[0], uids[25])],
             sel(lambda x: "s2" in x["subject"] and x["uid"] <= uids[25])),
        ]
        for crit, want in cases:
            typ, data = m.uid("SEARCH", " ".join(crit).replace("( ", "(").replace(" )", ")"))
            self.assertEqual(typ, "OK", (crit, data))
            self.assertEqual([int(x) for x in data[0].split()], want, crit)
        m.logout()


if __name__ == "__main__":
    unittest.main()
