"""dunnctl against a fake daemon (§7, §8).

The daemon side of most commands is written elsewhere, so these tests
stand in for it: a thread on a Unix socket reads one request line per
connection, records it, and answers with canned records shaped as the
contract says.  They check the exact request each command line sends,
--json output byte for byte, the human tables, the exit codes, and that
feed --follow shows each record as it arrives.
"""
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from lib import DUNNCTL, DaemonTest

DEADLINE = 20.0

ACCOUNTS = [
    {"account": "C-1001", "name": "Acme Trading", "stage": "negotiation", "paused": False,
     "balance": 1250000, "credit_balance": 0, "overdue_amount": 1250000, "days_overdue": 12,
     "promises_broken": 1, "tags": ["vip"], "currency": "CNY", "days_to_due": None},
    {"account": "C-1002", "name": "Beta", "stage": "current", "paused": True,
     "balance": 5, "credit_balance": 700, "overdue_amount": 0, "days_overdue": 0,
     "promises_broken": 0, "tags": [], "currency": "EUR", "days_to_due": 3,
     "something_new": {"x": [1, 2]}},
    {"account": "C-1003", "name": "Gamma", "stage": "legal", "paused": False,
     "balance": 9007199254740992, "credit_balance": 0, "overdue_amount": 9007199254740992,
     "days_overdue": 400, "promises_broken": 3, "tags": ["legal_hold"], "currency": "USD"},
]

TASK = {"seq": 1042, "kind": "task", "task": "T-000417", "account": "C-1001", "type": "call",
        "stage": "negotiation", "source": "stage:negotiation#2", "script": "call-2-firm",
        "checklist": ["ask for payment now"],
        "contact": {"role": "cfo", "name": "Li", "phone": "+86 10 1234"},
        "priority": 466, "priority_factors": {"amount": 280, "age": 36, "risk": 50, "stage": 100},
        "not_before": "2026-11-27T09:00:00+08:00", "not_after": "2026-11-28T09:00:00+08:00",
        "amount_due": 1250000, "currency": "CNY", "days_overdue": 12,
        "reason": "negotiation cadence step 2 (after 5d)", "created": "2026-11-27T09:00:00+08:00"}
TRANSITION = {"seq": 1043, "kind": "transition", "account": "C-1001", "from": "negotiation",
              "to": "pressure", "rule": "long", "at": "2026-11-28T00:00:00+08:00"}
CANCEL = {"seq": 1044, "kind": "cancel", "task": "T-000417", "account": "C-1001",
          "reason": "left stage negotiation (rule long)", "at": "2026-11-28T00:00:00+08:00"}

EXPLAIN = {
    "account": "C-1001", "stage": "negotiation", "paused": True, "currency": "CNY",
    "facts": {"balance": 1250000, "days_overdue": 12, "late_trend": 0.1, "tags": ["vip", "big"],
              "promise_pending": False, "stage": "negotiation"},
    "rules": [
        {"rule": "overdue", "from": False, "holds": True,
         "conditions": [{"fact": "days_overdue", "value": 12, "test": {"min": 1}, "holds": True}]},
        {"rule": "long", "from": True, "holds": False,
         "conditions": [{"fact": "days_overdue", "value": 12, "test": {"min": 30}, "holds": False}]},
    ],
    "alerts": [{"alert": "check-dispute-first", "holds": False, "cooldown_until": "2026-12-20T00:00:00+08:00",
                "conditions": [{"fact": "first_miss", "value": False, "test": True, "holds": False}]}],
    "history": [{"rule": "overdue", "at": "2026-11-16T00:00:00+08:00", "from": "current",
                 "to": "negotiation", "facts": {"days_overdue": 1}}],
    "open_tasks": [dict(TASK, status="open")],
    "next": {"at": "2026-12-01T09:00:00+08:00", "what": "stage:negotiation#3"},
    "extra": "tolerated",
}

AGING = [
    {"stage": "negotiation", "currency": "CNY", "not_due": 0, "1-30": 750000, "31-60": 250000,
     "61-90": 0, "91+": 0, "total": 1000000},
    {"stage": "legal", "currency": "USD", "not_due": 0, "1-30": 0, "31-60": 0, "61-90": 0,
     "91+": 123456789, "total": 123456789},
]

OK = {"ok": True}


def encode(rec):
    if isinstance(rec, bytes):
        return rec if rec.endswith(b"\n") else rec + b"\n"
    if isinstance(rec, str):
        return (rec if rec.endswith("\n") else rec + "\n").encode()
    return (json.dumps(rec, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


class FakeDaemon:
    """Answers the first request line of each connection.

    reply is a list of records (dicts, or str/bytes sent as they are), or
    a function (conn, request) that talks itself.
    """

    count = 0

    def __init__(self, tmp, reply=None):
        FakeDaemon.count += 1
        self.path = os.path.join(tmp, "fake%d.sock" % FakeDaemon.count)
        self.reply = [OK] if reply is None else reply
        self.raw = []
        self.requests = []
        self.errors = []
        self.releases = []  # events a talking reply waits on, set at close
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(self.path)
        self.srv.listen(8)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            try:
                with conn:
                    line = conn.makefile("rb").readline()
                    self.raw.append(line)
                    req = json.loads(line)
                    self.requests.append(req)
                    if callable(self.reply):
                        self.reply(conn, req)
                    else:
                        for rec in self.reply:
                            conn.sendall(encode(rec))
            except (OSError, ValueError) as e:
                self.errors.append(e)

    def close(self):
        for ev in self.releases:
            ev.set()
        try:
            self.srv.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.srv.close()
        self.thread.join(5)


class CtlTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="dunnctl-it-")
        self.fakes = []
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
            for f in (p.stdout, p.stderr):
                if f is not None:
                    f.close()
        for f in self.fakes:
            f.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def fake(self, reply=None):
        f = FakeDaemon(self.tmp, reply)
        self.fakes.append(f)
        return f

    def ctl(self, fake, *args, sock=None):
        path = sock or (fake.path if fake else os.path.join(self.tmp, "none.sock"))
        return subprocess.run([DUNNCTL, "-s", path] + list(args), capture_output=True,
                              text=True, timeout=DEADLINE)

    def request(self, args, reply=None):
        """Runs dunnctl ARGS against a fake; returns (result, request sent)."""
        f = self.fake(reply)
        r = self.ctl(f, *args)
        self.assertEqual(len(f.requests), 1, r.stderr)
        return r, f.requests[0]

    def popen(self, fake, *args):
        p = subprocess.Popen([DUNNCTL, "-s", fake.path] + list(args), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        self.procs.append(p)
        return p

    def read_line(self, p):
        """The next stdout line of p, within the deadline (no sleeping)."""
        fd = p.stdout.fileno()
        data = b""
        deadline = time.monotonic() + DEADLINE
        while not data.endswith(b"\n"):
            left = deadline - time.monotonic()
            self.assertGreater(left, 0, "no line from dunnctl in time: %r" % data)
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 1)
                self.assertNotEqual(chunk, b"", "dunnctl closed stdout: %r" % data)
                data += chunk
        return data.decode()

    def wait(self, p):
        return p.wait(DEADLINE)


class Requests(CtlTest):
    """The exact request object of each command line (§8)."""

    CASES = [
        (["accounts"], {"cmd": "accounts"}),
        (["accounts", "--stage", "negotiation"], {"cmd": "accounts", "stage": "negotiation"}),
        (["accounts", "--stage=legal"], {"cmd": "accounts", "stage": "legal"}),
        (["--json", "accounts", "--stage", "legal"], {"cmd": "accounts", "stage": "legal"}),
        (["tasks"], {"cmd": "tasks"}),
        (["tasks", "--open"], {"cmd": "tasks", "open": True}),
        (["tasks", "--open", "--type", "call", "--account", "C-1001"],
         {"cmd": "tasks", "open": True, "type": "call", "account": "C-1001"}),
        (["tasks", "--account=C-1", "--type=legal_referral"],
         {"cmd": "tasks", "type": "legal_referral", "account": "C-1"}),
        (["feed"], {"cmd": "feed"}),
        (["feed", "--from", "0"], {"cmd": "feed", "from": 0}),
        (["feed", "--from", "17", "--consumer", "crm"], {"cmd": "feed", "from": 17, "consumer": "crm"}),
        (["feed", "--from=9223372036854775807"], {"cmd": "feed", "from": 9223372036854775807}),
        (["ack", "--consumer", "crm", "42"], {"cmd": "ack", "consumer": "crm", "seq": 42}),
        (["ack", "7", "--consumer", "crm"], {"cmd": "ack", "consumer": "crm", "seq": 7}),
        (["ack", "--consumer=crm", "0"], {"cmd": "ack", "consumer": "crm", "seq": 0}),
        (["explain", "C-1001"], {"cmd": "explain", "account": "C-1001"}),
        (["explain", "--", "-odd"], {"cmd": "explain", "account": "-odd"}),
        (["report", "aging"], {"cmd": "report", "name": "aging"}),
        (["clock", "set", "2026-03-03T09:00:00+08:00"], {"cmd": "clock", "set": "2026-03-03T09:00:00+08:00"}),
        (["clock", "set", "2026-03-03T01:00:00.5Z"], {"cmd": "clock", "set": "2026-03-03T01:00:00.5Z"}),
        (["clock", "advance", "5d"], {"cmd": "clock", "advance": "5d"}),
        (["clock", "advance", "90m"], {"cmd": "clock", "advance": "90m"}),
    ]

    def test_each_command_line_sends_its_request(self):
        for args, want in self.CASES:
            with self.subTest(args=args):
                r, req = self.request(args)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(req, dict(want, v=1))

    def test_feed_consumer_asks_for_the_cursor_first(self):
        # Without --from, a request for no record tells whether the
        # consumer ever acked (a typo would replay the feed from 1).
        for follow in ([], ["--follow"]):
            f = self.fake()
            r = self.ctl(f, "feed", "--consumer", "dialer", *follow)
            self.assertEqual(r.returncode, 0, r.stderr)
            want = {"v": 1, "cmd": "feed", "consumer": "dialer"}
            if follow:
                want["follow"] = True
            self.assertEqual(f.requests, [{"v": 1, "cmd": "feed", "consumer": "dialer",
                                           "from": 2 ** 53 - 1}, want])
        f = self.fake([{"ok": True, "cursor": None}])
        r = self.ctl(f, "feed", "--consumer", "dialer")
        self.assertIn("dunnctl: warning: consumer dialer has never acknowledged", r.stderr)
        f = self.fake([{"ok": True, "cursor": 4}])
        r = self.ctl(f, "feed", "--consumer", "dialer")
        self.assertEqual(r.stderr, "")

    def test_request_is_one_compact_line(self):
        r, _ = self.request(["tasks", "--open"])
        raw = self.fakes[-1].raw[0]
        self.assertTrue(raw.endswith(b"\n"))
        self.assertEqual(raw.count(b"\n"), 1)
        self.assertNotIn(b" ", raw)

    def test_options_around_the_command(self):
        f = self.fake([ACCOUNTS[0], OK])
        r = subprocess.run([DUNNCTL, "accounts", "--stage", "legal", "--json", "-s", f.path],
                           capture_output=True, text=True, timeout=DEADLINE)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(f.requests, [{"v": 1, "cmd": "accounts", "stage": "legal"}])
        self.assertEqual(json.loads(r.stdout), ACCOUNTS[0])


class Usage(CtlTest):
    """Usage errors exit 2 with a message and the usage text, sending nothing."""

    BAD = [
        ["accounts", "--stage"], ["accounts", "--stage="], ["accounts", "--bogus"],
        ["accounts", "extra"], ["accounts", "--stage", "a", "--stage", "b"],
        ["tasks", "--type", "phone"], ["tasks", "--open=yes"], ["tasks", "--account"],
        ["feed", "--from", "abc"], ["feed", "--from", "-1"], ["feed", "--from", "1.5"],
        ["feed", "--from", "+3"], ["feed", "--from", ""], ["feed", "--from", "99999999999999999999"],
        ["feed", "--follow=1"], ["feed", "5"],
        ["ack"], ["ack", "5"], ["ack", "--consumer", "crm"], ["ack", "--consumer", "crm", "x"],
        ["ack", "--consumer", "crm", "1", "2"], ["ack", "--consumer", "crm", "-1"],
        ["explain"], ["explain", "a", "b"], ["explain", "--all"],
        ["simulate"], ["simulate", "--rules"], ["simulate", "dir"],
        ["report"], ["report", "ageing"], ["report", "aging", "x"],
        ["clock"], ["clock", "set"], ["clock", "advance"], ["clock", "rewind", "5d"],
        ["clock", "set", "2026-03-03"], ["clock", "set", "2026-03-03T09:00:00"],
        ["clock", "set", "2026-13-01T00:00:00Z"], ["clock", "set", "2026-03-03T23:59:60Z"],
        ["clock", "set", "1969-12-31T23:59:59Z"], ["clock", "advance", "5x"],
        ["clock", "advance", "1234567d"], ["clock", "advance", "d"], ["clock", "advance", "-5d"],
        ["clock", "set", "2026-03-03T09:00:00+08:00", "extra"],
    ]

    def test_usage_errors_exit_2_and_send_nothing(self):
        f = self.fake()
        for args in self.BAD:
            with self.subTest(args=args):
                r = self.ctl(f, *args)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertRegex(r.stderr, r"^dunnctl: ")
                self.assertIn("usage: dunnctl", r.stderr)
                self.assertEqual(r.stdout, "")
        self.assertEqual(f.requests, [])

    def test_messages_say_what_is_wrong(self):
        for args, text in ((["feed", "--from", "abc"], "--from must be a non-negative integer"),
                           (["ack", "--consumer", "crm"], "ack needs SEQ"),
                           (["ack", "3"], "ack needs --consumer NAME"),
                           (["clock", "set", "2026-03-03"], "clock set: bad time"),
                           (["clock", "advance", "5x"], "unknown duration unit"),
                           (["tasks", "--type", "phone"], 'unknown task type "phone"'),
                           (["accounts", "--bogus"], 'unknown option "--bogus"'),
                           (["simulate"], "simulate needs --rules DIR")):
            with self.subTest(args=args):
                r = self.ctl(None, *args)
                self.assertEqual(r.returncode, 2)
                self.assertIn(text, r.stderr)

    def test_usage_lists_every_command(self):
        r = subprocess.run([DUNNCTL], capture_output=True, text=True, timeout=DEADLINE)
        self.assertEqual(r.returncode, 2)
        for cmd in ("status", "ingest", "accounts [--stage S]", "explain ACCOUNT",
                    "tasks [--open [--workable [--at TIME]]] [--type T] [--account A]",
                    "feed [--from SEQ] [--follow] [--consumer NAME]", "ack --consumer NAME SEQ",
                    "reload", "check-rules [DIR]", "simulate --rules DIR", "report aging",
                    "clock set TIME | advance DURATION"):
            self.assertIn("dunnctl " + cmd, r.stderr)


class ExitCodes(CtlTest):
    def test_failed_command_exits_1_with_the_error(self):
        for args in (["accounts"], ["explain", "C-9"], ["ack", "--consumer", "c", "99"],
                     ["feed"], ["simulate", "--rules", self.tmp], ["report", "aging"],
                     ["clock", "advance", "1d"], ["tasks"]):
            with self.subTest(args=args):
                r, _ = self.request(args, [{"ok": False, "error": "no such thing"}])
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertEqual(r.stderr, "dunnctl: no such thing\n")
                self.assertEqual(r.stdout, "")

    def test_refusals_exit_3(self):
        for err in ("too many clients", "shutting down"):
            for args in (["accounts"], ["feed", "--follow"], ["clock", "advance", "1d"]):
                with self.subTest(err=err, args=args):
                    r, _ = self.request(args, [{"ok": False, "error": err}])
                    self.assertEqual(r.returncode, 3)
                    self.assertIn(err, r.stderr)

    def test_unreachable_exits_3(self):
        for args in (["accounts"], ["feed", "--follow"], ["report", "aging"]):
            r = self.ctl(None, *args)
            self.assertEqual(r.returncode, 3)
            self.assertIn("cannot reach dunnd", r.stderr)

    def test_connection_closed_without_final_record_exits_3(self):
        r, _ = self.request(["accounts"], [ACCOUNTS[0]])
        self.assertEqual(r.returncode, 3)
        self.assertIn("closed the connection", r.stderr)

    def test_garbage_reply_exits_3(self):
        r, _ = self.request(["tasks"], ["this is not json"])
        self.assertEqual(r.returncode, 3)
        self.assertIn("bad reply", r.stderr)

    def test_ack_is_quiet_on_success(self):
        r, _ = self.request(["ack", "--consumer", "crm", "5"], [{"ok": True}])
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "", ""))


class Json(CtlTest):
    """--json prints the data records exactly as received, one per line."""

    def test_records_are_printed_as_received(self):
        odd = '{ "seq" : 7,"kind":"cancel" , "account":"C-\\u00e9","task":"T-000001","reason":"x"}'
        for args, recs in ((["accounts"], ACCOUNTS), (["tasks"], [dict(TASK, status="open")]),
                           (["feed"], [TASK, TRANSITION, CANCEL]), (["explain", "C-1001"], [EXPLAIN]),
                           (["report", "aging"], AGING),
                           (["simulate", "--rules", self.tmp], [{"account": "C-1", "from": "a", "to": "b"}]),
                           (["feed", "--from", "6"], [odd])):
            with self.subTest(args=args):
                r, _ = self.request(["--json"] + args, recs + [{"ok": True, "extra": 1}])
                self.assertEqual(r.returncode, 0, r.stderr)
                want = "".join(encode(x).decode() for x in recs)
                self.assertEqual(r.stdout, want)
                for line, rec in zip(r.stdout.splitlines(), recs):
                    if isinstance(rec, dict):
                        self.assertEqual(json.loads(line), rec)

    def test_records_before_an_error_are_printed(self):
        r, _ = self.request(["--json", "feed"], [TASK, {"ok": False, "error": "disk on fire"}])
        self.assertEqual(r.returncode, 1)
        self.assertEqual(json.loads(r.stdout), TASK)


class Human(CtlTest):
    def table(self, out):
        lines = out.splitlines()
        return lines[0], lines[1:]

    def test_accounts_table(self):
        r, _ = self.request(["accounts"], ACCOUNTS + [OK])
        self.assertEqual(r.returncode, 0, r.stderr)
        head, rows = self.table(r.stdout)
        self.assertEqual(head.split(), ["ACCOUNT", "STAGE", "BALANCE", "OVERDUE", "DISPUTED",
                                        "DAYS", "BROKEN", "TAGS"])
        self.assertEqual(len(rows), 3)
        self.assertIn("12500.00 CNY", rows[0])
        # The currency once, with the balance; the row's other amounts are in it.
        self.assertEqual(rows[1].split()[:7], ["C-1002", "current", "(paused)", "0.05", "EUR",
                                               "0.00", "-"])
        self.assertIn("90071992547409.92 USD", rows[2])
        self.assertIn(" (paused)", rows[1])
        self.assertNotIn("paused", rows[0] + rows[2])
        # Right-aligned amounts and counts end under their headings.
        for col in ("BALANCE", "OVERDUE", "DISPUTED", "DAYS", "BROKEN"):
            end = head.index(col) + len(col)
            for row in rows:
                self.assertNotEqual(row[end - 1], " ", (col, row))
                self.assertEqual(row[end:end + 1].strip(), "", (col, row))
        # Left-aligned columns start under theirs.
        for col in ("STAGE",):
            start = head.index(col)
            for row in rows:
                self.assertNotEqual(row[start], " ")
                self.assertEqual(row[start - 1], " ")
        self.assertEqual(rows[0].split()[:5], ["C-1001", "negotiation", "12500.00", "CNY", "12500.00"])

    def test_accounts_fit_80_columns(self):
        r, _ = self.request(["accounts"], ACCOUNTS[:2] + [OK])
        for line in r.stdout.splitlines():
            self.assertLessEqual(len(line), 80, line)
            self.assertEqual(line, line.rstrip())

    def test_money_is_exact_for_every_amount(self):
        cases = {0: "0.00", 1: "0.01", 99: "0.99", 100: "1.00", 1250000: "12500.00", -150: "-1.50",
                 -5: "-0.05", 123456789012345678: "1234567890123456.78",
                 -9223372036854775808: "-92233720368547758.08",
                 9223372036854775807: "92233720368547758.07"}
        recs = [{"account": "A%d" % i, "stage": "s", "balance": v, "overdue_amount": 0,
                 "currency": "JPY"} for i, v in enumerate(cases)]
        r, _ = self.request(["accounts"], recs + [OK])
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = r.stdout.splitlines()[1:]
        for row, want in zip(rows, cases.values()):
            self.assertEqual(row.split()[2:4], [want, "JPY"])

    def test_missing_and_odd_fields_are_tolerated(self):
        recs = [{"account": "C-1"}, {"account": "C-2", "stage": 5, "balance": "lots", "paused": "yes",
                                    "days_overdue": None, "tags": {"odd": True}}]
        r, _ = self.request(["accounts"], recs + [OK])
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = r.stdout.splitlines()[1:]
        self.assertEqual(rows[0].split(), ["C-1", "-", "-", "-", "-", "-", "-", "-"])
        self.assertEqual(rows[1].split(), ["C-2", "5", "lots", "-", "-", "-", "-", "-"])

    def test_empty_lists(self):
        for args, text in ((["accounts"], "no accounts\n"),
                           (["accounts", "--stage", "legal"], "no accounts in that stage\n"),
                           (["tasks", "--open"], "no tasks\n"),
                           (["report", "aging"], "no open amounts\n"),
                           (["simulate", "--rules", self.tmp], "no account would change stage\n")):
            with self.subTest(args=args):
                r, _ = self.request(args, [OK])
                self.assertEqual((r.returncode, r.stdout), (0, text), r.stderr)

    def test_tasks_table(self):
        done = dict(TASK, task="T-000400", status="done", type="legal_referral", priority=1000,
                    source="alert:check-dispute-first", seq=1)
        r, _ = self.request(["tasks"], [done, dict(TASK, status="open"), OK])
        self.assertEqual(r.returncode, 0, r.stderr)
        head, rows = self.table(r.stdout)
        self.assertEqual(head.split(), ["TASK", "ACCOUNT", "TYPE", "STAGE", "PRIORITY", "STATUS",
                                        "CREATED", "SOURCE"])
        self.assertEqual(rows[1].split(), ["T-000417", "C-1001", "call", "negotiation", "466", "open",
                                           "2026-11-27", "09:00", "stage:negotiation#2"])
        self.assertEqual(rows[0].split()[4:6], ["1000", "done"])
        end = head.index("PRIORITY") + len("PRIORITY")
        self.assertEqual([row[end - 4:end] for row in rows], ["1000", " 466"])
        # With everyday types, the columns before the source fit in 80.
        r, _ = self.request(["tasks"], [dict(TASK, status="cancelled"), OK])
        row = r.stdout.splitlines()[1]
        self.assertLessEqual(len(row[:row.index("stage:")].rstrip()), 80)

    def test_feed_lines(self):
        r, _ = self.request(["feed"], [TASK, TRANSITION, CANCEL, {"seq": 1045, "kind": "later",
                                                                  "account": "C-1"}, OK])
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 4)
        self.assertEqual(lines[0].split()[:5], ["1042", "task", "C-1001", "T-000417", "call"])
        self.assertIn("12500.00 CNY", lines[0])
        self.assertIn("priority 466", lines[0])
        self.assertIn("stage:negotiation#2", lines[0])
        self.assertEqual(lines[1].split()[:3], ["1043", "transition", "C-1001"])
        self.assertIn("negotiation -> pressure", lines[1])
        self.assertIn("rule long", lines[1])
        self.assertEqual(lines[2].split()[:4], ["1044", "cancel", "C-1001", "T-000417:"])
        self.assertIn("left stage negotiation (rule long)", lines[2])
        self.assertEqual(lines[3].split(), ["1045", "later", "C-1"])

    def test_control_characters_never_reach_the_terminal(self):
        evil = dict(CANCEL, reason="\x1b[2J\x07gone\r", account="C-\x7f")
        r, _ = self.request(["feed"], [evil, OK])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("?[2J?gone?", r.stdout)
        self.assertIn("C-?", r.stdout)
        self.assertEqual(r.stdout.count("\n"), 1)
        for c in "\x1b\x07\r\x7f":
            self.assertNotIn(c, r.stdout)

    def test_explain_report(self):
        r, _ = self.request(["explain", "C-1001"], [EXPLAIN, OK])
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout
        lines = out.splitlines()
        self.assertEqual(lines[0], "account C-1001: stage negotiation, paused")
        self.assertIn("facts", lines)
        self.assertRegex(out, r"\n  balance +12500\.00 CNY\n")
        self.assertRegex(out, r"\n  late_trend +0\.1\n")
        self.assertRegex(out, r"\n  tags +vip, big\n")
        self.assertRegex(out, r"\n  promise_pending +false\n")
        self.assertIn("  + overdue: not from this stage, holds\n", out)
        self.assertIn("  - long: from this stage, does not hold\n", out)
        self.assertRegex(out, r"\n      \+ days_overdue +12  test min=1\n")
        self.assertRegex(out, r"\n      - days_overdue +12  test min=30\n")
        self.assertIn("  - check-dispute-first: does not hold, cooldown until 2026-12-20T00:00:00+08:00\n", out)
        self.assertRegex(out, r"\n      - first_miss +false  test true\n")
        self.assertIn("  2026-11-16T00:00:00+08:00  current -> negotiation  rule overdue  days_overdue=1\n",
                      out)
        i = lines.index("open tasks")
        self.assertEqual(lines[i + 1].split(), ["TASK", "TYPE", "STAGE", "PRIORITY", "CREATED", "SOURCE"])
        self.assertEqual(lines[i + 2].split(), ["T-000417", "call", "negotiation", "466", "2026-11-27",
                                                "09:00", "stage:negotiation#2"])
        self.assertEqual(lines[-1], "next  2026-12-01T09:00:00+08:00  stage:negotiation#3")

    def test_explain_with_little(self):
        rec = {"account": "C-2", "stage": "current", "paused": False, "facts": {}, "rules": [],
               "alerts": [], "history": [], "open_tasks": [], "next": None}
        r, _ = self.request(["explain", "C-2"], [rec, OK])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.splitlines(), [
            "account C-2: stage current", "facts", "  none", "rules", "  none", "alerts", "  none",
            "history", "  none", "open tasks", "  none", "next  nothing due"])

    def test_report_aging(self):
        r, _ = self.request(["report", "aging"], AGING + [OK])
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["STAGE", "CUR", "BUCKET", "AMOUNT", "SHARE"])
        self.assertEqual(len(lines), 1 + 2 * 6)
        for line in lines:
            self.assertLessEqual(len(line), 80, line)
        rows = {}
        for line in lines[1:7]:
            f = line.split()
            rows[f[-4] if f[0] == "negotiation" else f[0]] = line
        self.assertEqual(lines[1].split()[:4], ["negotiation", "CNY", "not_due", "0.00"])
        self.assertIn("7500.00", rows["1-30"])
        self.assertIn("75.0%", rows["1-30"])
        self.assertIn("25.0%", rows["31-60"])
        self.assertIn("0.0%", rows["61-90"])
        bars = [line.count("#") for line in lines[1:6]]
        full = lines[11].count("#")  # 100% of legal/USD is in 91+
        self.assertGreaterEqual(full, 10)
        self.assertEqual(bars[0], 0)
        self.assertLessEqual(abs(bars[1] - 3 * bars[2]), 3)
        self.assertIn(bars[1] + bars[2], (full, full + 1))
        self.assertEqual(lines[6].split(), ["total", "10000.00"])
        self.assertEqual(lines[7].split()[:4], ["legal", "USD", "not_due", "0.00"])
        self.assertIn("1234567.89", lines[11])
        self.assertIn("100.0%", lines[11])
        # The bars start in one column.
        self.assertEqual(len({line.index("#") for line in lines[1:] if "#" in line}), 1)

    def test_simulate_table(self):
        r, _ = self.request(["simulate", "--rules", self.tmp],
                            [{"account": "C-1001", "from": "negotiation", "to": "pressure"},
                             {"account": "C-1002", "from": "current", "to": "reminder", "why": "x"}, OK])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([l.split() for l in r.stdout.splitlines()],
                         [["ACCOUNT", "FROM", "TO"], ["C-1001", "negotiation", "pressure"],
                          ["C-1002", "current", "reminder"]])

    def test_simulate_rule_errors(self):
        r, _ = self.request(["simulate", "--rules", self.tmp],
                            [{"level": "error", "message": "10-a.conf:3: unknown stage \"x\""},
                             {"ok": False, "error": "the rule set has errors"}])
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "10-a.conf:3: unknown stage \"x\"\n")

    def test_clock_prints_the_new_time(self):
        r, _ = self.request(["clock", "advance", "1d"], [{"ok": True, "now": "2026-03-03T09:00:00+08:00"}])
        self.assertEqual((r.returncode, r.stdout), (0, "now 2026-03-03T09:00:00+08:00\n"), r.stderr)
        r, _ = self.request(["clock", "set", "2026-03-04T09:00:00+08:00"],
                            [{"now": "2026-03-04T09:00:00+08:00"}, OK])
        self.assertEqual((r.returncode, r.stdout), (0, "now 2026-03-04T09:00:00+08:00\n"), r.stderr)
        r, _ = self.request(["clock", "advance", "1d"], [OK])
        self.assertEqual((r.returncode, r.stdout), (0, ""))


class Simulate(CtlTest):
    def write(self, name, data):
        path = os.path.join(self.tmp, "rules", name)
        with open(path, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
        return path

    def setUp(self):
        super().setUp()
        os.makedirs(os.path.join(self.tmp, "rules", "sub.conf"))
        self.dir = os.path.join(self.tmp, "rules")

    def test_files_are_read_as_the_daemon_reads_a_rules_directory(self):
        self.write("b.conf", "rules = ();\n")
        self.write("B.conf", "stages = ( { name = \"current\"; } );\n")
        self.write("a-é.conf", "# é\n")
        self.write(".hidden.conf", "bogus")
        self.write("notes.txt", "bogus")
        self.write("x.conf.bak", "bogus")
        self.write("empty.conf", "")
        self.write("crlf.conf", "a = 1;\r\n\ttrend_window = 6;\r\n")
        self.write("sub.conf/inner.conf", "bogus")
        os.symlink("b.conf", os.path.join(self.dir, "link.conf"))
        r, req = self.request(["simulate", "--rules", self.dir])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(req["cmd"], "simulate")
        self.assertEqual(req["v"], 1)
        self.assertEqual(sorted(req), ["cmd", "files", "v"])
        self.assertEqual(req["files"], [
            {"name": "B.conf", "text": "stages = ( { name = \"current\"; } );\n"},
            {"name": "a-é.conf", "text": "# é\n"},
            {"name": "b.conf", "text": "rules = ();\n"},
            {"name": "crlf.conf", "text": "a = 1;\r\n\ttrend_window = 6;\r\n"},
            {"name": "empty.conf", "text": ""},
            {"name": "link.conf", "text": "rules = ();\n"},
        ])

    def test_empty_directory_sends_no_files(self):
        r, req = self.request(["simulate", "--rules", self.dir])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(req, {"v": 1, "cmd": "simulate", "files": []})

    def check_refused(self, text):
        f = self.fake()
        r = self.ctl(f, "simulate", "--rules", self.dir)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(text, r.stderr)
        self.assertEqual(f.requests, [])
        return r

    def test_invalid_utf8_is_refused_naming_the_file_and_line(self):
        self.write("10-ok.conf", "rules = ();\n")
        self.write("20-latin1.conf", b"# ok\n# caf\xe9\n")
        r = self.check_refused("/20-latin1.conf:2: not valid UTF-8")

    def test_surrogates_and_overlongs_are_not_utf8(self):
        for data in (b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"ok\xe2\x82"):
            with self.subTest(data=data):
                self.write("x.conf", data)
                self.check_refused("x.conf:1: not valid UTF-8")

    def test_nul_byte_is_refused(self):
        self.write("x.conf", b"a = 1;\n\nb\x00\n")
        self.check_refused("x.conf:3: a NUL byte")

    def test_file_name_not_utf8(self):
        os.close(os.open(os.path.join(self.dir.encode(), b"bad\xff.conf"), os.O_CREAT | os.O_WRONLY))
        self.check_refused("file name is not valid UTF-8")

    def test_missing_directory_and_dangling_link(self):
        f = self.fake()
        r = self.ctl(f, "simulate", "--rules", os.path.join(self.tmp, "nope"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("nope: No such file or directory", r.stderr)
        os.symlink("gone", os.path.join(self.dir, "dead.conf"))
        self.check_refused("dead.conf: No such file or directory")

    def test_too_large_for_one_request(self):
        self.write("a.conf", "#" * (700 * 1024) + "\n")
        self.write("b.conf", "#" * (400 * 1024) + "\n")
        self.check_refused("too large to send")
        os.unlink(os.path.join(self.dir, "b.conf"))
        self.write("a.conf", "#" * (2 * 1024 * 1024))
        self.check_refused("too large to send")


class Follow(CtlTest):
    """feed --follow shows each record as it arrives and stops cleanly."""

    def stepper(self, records, final=None):
        """A fake that sends one record per step, when the test says so."""
        steps = [threading.Event() for _ in records]
        done = threading.Event()

        def reply(conn, req):
            if req.get("from") == 2 ** 53 - 1:      # feed --consumer's first question
                conn.sendall(encode({"ok": True, "cursor": 0}))
                return
            for rec, go in zip(records, steps):
                if not go.wait(DEADLINE):
                    return
                conn.sendall(encode(rec))
            if final is not None:
                conn.sendall(encode(final))
            else:
                done.wait(DEADLINE)

        f = self.fake(reply)
        f.releases += steps + [done]
        return f, steps, done

    def test_json_records_appear_one_by_one_then_shutting_down_exits_3(self):
        raw = [TASK, TRANSITION, '{"seq":1044, "kind":"cancel","account":"C-1001","task":"T-000417"}']
        f, steps, _ = self.stepper(raw, {"ok": False, "error": "shutting down"})
        p = self.popen(f, "feed", "--follow", "--json", "--consumer", "crm")
        for rec, go in zip(raw, steps):
            go.set()
            self.assertEqual(self.read_line(p), encode(rec).decode())
        self.assertEqual(self.wait(p), 3)
        self.assertEqual(p.stderr.read(), b"dunnctl: shutting down\n")
        self.assertEqual(f.requests, [{"v": 1, "cmd": "feed", "consumer": "crm", "from": 2 ** 53 - 1},
                                      {"v": 1, "cmd": "feed", "follow": True, "consumer": "crm"}])

    def test_human_lines_appear_one_by_one(self):
        f, steps, _ = self.stepper([TASK, TRANSITION], {"ok": True})
        p = self.popen(f, "feed", "--follow", "--from", "1041")
        steps[0].set()
        self.assertTrue(self.read_line(p).startswith("1042 task"))
        steps[1].set()
        self.assertTrue(self.read_line(p).startswith("1043 transition"))
        self.assertEqual(self.wait(p), 0)

    def test_sigint_exits_0_quietly(self):
        f, steps, _ = self.stepper([TASK, TRANSITION])
        p = self.popen(f, "--json", "feed", "--follow")
        steps[0].set()
        self.assertEqual(json.loads(self.read_line(p)), TASK)
        p.send_signal(signal.SIGINT)
        self.assertEqual(self.wait(p), 0)
        self.assertEqual(p.stderr.read(), b"")

    def test_reader_gone_exits_0_without_waiting_for_a_record(self):
        f, steps, _ = self.stepper([TASK, TRANSITION])
        p = self.popen(f, "--json", "feed", "--follow")
        steps[0].set()
        self.read_line(p)
        p.stdout.close()
        self.assertEqual(self.wait(p), 0)
        self.assertEqual(p.stderr.read(), b"")

    def test_reader_gone_while_writing_exits_0(self):
        # No follow, so no watching of stdout: the write itself fails.
        r_fd, w_fd = os.pipe()
        os.close(r_fd)
        f = self.fake([TASK, TRANSITION, OK])
        p = subprocess.Popen([DUNNCTL, "-s", f.path, "--json", "feed"], stdout=w_fd,
                             stderr=subprocess.PIPE)
        os.close(w_fd)
        self.procs.append(p)
        self.assertEqual(self.wait(p), 0)
        self.assertEqual(p.stderr.read(), b"")

    def test_unwritable_stdout_is_an_error(self):
        if not os.path.exists("/dev/full"):
            self.skipTest("no /dev/full")
        f = self.fake(ACCOUNTS + [OK])
        with open("/dev/full", "w") as full:
            r = subprocess.run([DUNNCTL, "-s", f.path, "accounts"], stdout=full,
                               stderr=subprocess.PIPE, text=True, timeout=DEADLINE)
        self.assertEqual(r.returncode, 1)
        self.assertIn("stdout", r.stderr)


if __name__ == "__main__":
    unittest.main()


class SocketFromEnvironmentTest(DaemonTest):
    """dunnctl(1) ENVIRONMENT: $DUNND_SOCKET and $DUNNCTL_CONFIG stand in
    for -s and -c when neither is given; the options still win."""

    def setUp(self):
        super().setUp()
        self.d = self.daemon().start()

    def run_ctl(self, args, env):
        e = {k: v for k, v in os.environ.items()
             if k not in ("DUNND_SOCKET", "DUNNCTL_CONFIG")}
        e.update(env)
        return subprocess.run([DUNNCTL] + args, capture_output=True, text=True,
                              env=e, cwd="/", timeout=30)

    def test_dunnd_socket(self):
        r = self.run_ctl(["--json", "status"], {"DUNND_SOCKET": self.d.sock})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("feed_head", json.loads(r.stdout))

    def test_dunnctl_config(self):
        r = self.run_ctl(["--json", "status"], {"DUNNCTL_CONFIG": self.d.conf})
        self.assertEqual(r.returncode, 0, r.stderr)
        # check-rules takes the rules directory from it too.
        r = self.run_ctl(["check-rules"], {"DUNNCTL_CONFIG": self.d.conf})
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_option_wins_over_environment(self):
        r = self.run_ctl(["-s", self.d.sock, "status"],
                         {"DUNND_SOCKET": "/nonexistent/dunnd.sock"})
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.run_ctl(["status"], {"DUNND_SOCKET": "/nonexistent/dunnd.sock"})
        self.assertEqual(r.returncode, 3)
        self.assertIn("cannot reach dunnd at /nonexistent/dunnd.sock", r.stderr)
        self.assertNotIn("make run", r.stderr)

    def test_default_says_how_to_reach_make_run(self):
        if os.path.exists("/etc/dunnd/dunnd.conf"):
            self.skipTest("/etc/dunnd/dunnd.conf exists here: the default is taken from it")
        r = self.run_ctl(["status"], {})
        self.assertEqual(r.returncode, 3)
        self.assertIn("cannot reach dunnd at /run/dunnd/dunnd.sock", r.stderr)
        self.assertIn("-c dunnd.conf", r.stderr)
        self.assertIn("DUNNCTL_CONFIG", r.stderr)
