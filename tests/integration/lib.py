"""Harness for integration tests: the real dunnd in a temporary directory.

Every test starts its own dunnd with its own dunnd.conf, rules and
--test-clock, and drives it only through dunnctl and the socket.  Nothing
sleeps to synchronise: start() polls `dunnctl status` with a deadline.
"""
import datetime
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("DUNND_BUILD", "build"))
DUNND = os.path.join(BUILD, "dunnd")
DUNNCTL = os.path.join(BUILD, "dunnctl")
WRAPPER = os.environ.get("DUNND_WRAPPER", "").split()
# Under valgrind/ASan a start takes longer.
START_DEADLINE = 60.0 if WRAPPER else 20.0

MINIMAL_RULES = """
stages = (
  { name = "current"; },
  { name = "reminder"; tasks = ( { type = "email"; script = "remind"; } ); },
  { name = "negotiation";
    tasks = ( { type = "call"; script = "ask"; },
              { type = "call"; script = "firm"; after = "3d"; } ); }
);
rules = (
  { name = "due-soon"; from = ["current"]; to = "reminder"; when = { days_to_due = { max = 2; }; }; },
  { name = "overdue"; from = ["current", "reminder"]; to = "negotiation"; when = { days_overdue = { min = 1; }; }; },
  { name = "settled"; from = ["*"]; to = "current"; when = { balance = { max = 0; }; }; }
);
scripts = (
  { name = "remind"; checklist = [ "say when it is due" ]; },
  { name = "ask"; checklist = [ "ask for payment today", "learn the reason", "get a promise" ]; },
  { name = "firm"; checklist = [ "be firm" ]; }
);
"""



def _varints(b, i, n):
    """The offset after n varints of b from offset i."""
    for _ in range(n):
        while b[i] & 0x80:
            i += 1
        i += 1
    return i


def _varint(b, i):
    u, shift = 0, 0
    while True:
        u |= (b[i] & 0x7f) << shift
        shift += 7
        i += 1
        if not b[i - 1] & 0x80:
            return (u >> 1) ^ -(u & 1), i


def _strs(b, i, n):
    for _ in range(n):
        ln, i = _varint(b, i)
        i += ln
    return i


def _list(b, i, ints, strs=0):
    n, i = _varint(b, i)
    for _ in range(n):
        i = _varints(b, _strs(b, i, strs), ints)
    return i


def whole_state(ev, evl):
    """An account's state as dunnd before schema version 8 saved it: one
    blob of state version 4, made of the two parts this dunnd saves
    (daemon/account.c acct_encode(); the bytes are moved, not re-encoded)."""
    ev, evl = bytes(ev), bytes(evl)
    assert ev[0] == 5, ev[0]
    i = _strs(ev, 1, 1)                       # currency
    i = _varints(ev, i, 3)                    # paused, size, risk
    n, i = _varint(ev, i)
    i = _strs(ev, i, n)                       # tags
    i = _list(ev, i, 6)                       # open invoices
    i = _list(ev, i, 4)                       # settled
    i = _varints(ev, i, 1)                    # settled dropped
    i = _list(ev, i, 8)                       # promises
    i = _varints(ev, i, 3)                    # last other outcome
    head_end = _list(ev, i, 2)                # unreached tail
    i = _varints(ev, head_end, 3)             # invoiced, paid, credited
    money_end = _list(ev, i, 3, 1)            # credit
    people_end = _varints(ev, money_end, 4)   # roles, cash-in day
    assert people_end == len(ev)
    j = _varints(evl, 0, 2)                   # stage, stage_entered
    cad_end = _varints(evl, j, 4)
    held_end = _varints(evl, cad_end, 1)      # credit_held
    return (b"\x04" + ev[1:head_end] + evl[:j] + ev[head_end:money_end]
            + evl[j:cad_end] + evl[held_end:] + ev[money_end:people_end]
            + evl[cad_end:held_end])


def state_as_v7(con):
    """Turns the accounts' saved state back into what schema version 7
    and before held: each account's whole state in accounts.state, its
    stage in accounts.stage (and no acct_eval table)."""
    con.create_function("whole_state", 2, whole_state)
    con.create_function("stage_entered", 1,
                        lambda evl: _varint(bytes(evl), _varints(bytes(evl), 0, 1))[0])
    con.executescript(
        "UPDATE accounts SET"
        " state = whole_state(state, (SELECT e.state FROM acct_eval e"
        "  WHERE e.id = accounts.id)),"
        " stage = (SELECT e.stage FROM acct_eval e WHERE e.id = accounts.id),"
        " stage_entered = (SELECT stage_entered(e.state) FROM acct_eval e"
        "  WHERE e.id = accounts.id)"
        " WHERE id IN (SELECT id FROM acct_eval);"
        "DROP TABLE acct_eval;")



LEDGER_KINDS = ("payment", "credit", "upheld")


def ledger_entries(data):
    """An account's ledger (daemon/ledger.c) as a list of dicts: seq,
    kind, reversed, amount, at, uncounted, apps [(invoice seq, amount,
    at, undone)], pms [(promise seq, amount, withdrawn)]."""
    b = bytes(data)
    assert b[0] == 1, b[0]
    n, i = _varint(b, 1)
    out, prev = [], 0
    for _ in range(n):
        d, i = _varint(b, i)
        seq = prev = prev + d
        m = {"seq": seq}
        kind, i = _varint(b, i)
        m["kind"], m["reversed"] = LEDGER_KINDS[kind & 3], bool(kind & 4)
        m["amount"], i = _varint(b, i)
        m["at"], i = _varint(b, i)
        m["uncounted"], i = _varint(b, i)
        m["apps"], m["pms"] = [], []
        k, i = _varint(b, i)
        for _ in range(k):
            inv, i = _varint(b, i)
            amount, i = _varint(b, i)
            at, i = _varint(b, i)
            undone, i = _varint(b, i)
            m["apps"].append((seq - inv, amount, m["at"] + at, undone))
        k, i = _varint(b, i)
        for _ in range(k):
            pr, i = _varint(b, i)
            amount, i = _varint(b, i)
            withdrawn, i = _varint(b, i)
            m["pms"].append((seq - pr, amount, withdrawn))
        out.append(m)
    assert i == len(b)
    return out


# Schema version 1's money tables, which version 10 replaced by ledger.
MONEY_TABLES_V9 = (
    "CREATE TABLE money(event TEXT PRIMARY KEY,"
    " account TEXT NOT NULL REFERENCES accounts(id),"
    " seq INTEGER NOT NULL, kind TEXT NOT NULL, amount INTEGER NOT NULL,"
    " at INTEGER NOT NULL, invoice TEXT REFERENCES invoices(id),"
    " unapplied INTEGER NOT NULL DEFAULT 0,"
    " uncounted INTEGER NOT NULL DEFAULT 0, reversed_by TEXT) WITHOUT ROWID;"
    "CREATE INDEX money_uncounted ON money(account, at, seq) WHERE uncounted > 0;"
    "CREATE TABLE applications(id INTEGER PRIMARY KEY,"
    " money TEXT NOT NULL REFERENCES money(event), invoice INTEGER NOT NULL,"
    " amount INTEGER NOT NULL, at INTEGER NOT NULL,"
    " undone INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX applications_money ON applications(money);"
    "CREATE INDEX applications_invoice ON applications(invoice);"
    "CREATE TABLE promises(event TEXT PRIMARY KEY,"
    " account TEXT NOT NULL REFERENCES accounts(id),"
    " seq INTEGER NOT NULL, amount INTEGER NOT NULL, due INTEGER NOT NULL,"
    " at INTEGER NOT NULL, task TEXT, counted INTEGER NOT NULL DEFAULT 0,"
    " verdict TEXT, verdict_at INTEGER) WITHOUT ROWID;"
    "CREATE TABLE promise_money(promise TEXT NOT NULL REFERENCES promises(event),"
    " money TEXT NOT NULL REFERENCES money(event), amount INTEGER NOT NULL,"
    " withdrawn INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY(promise, money)) WITHOUT ROWID;"
    "CREATE INDEX promise_money_money ON promise_money(money);"
    "CREATE TABLE disputes(event TEXT PRIMARY KEY,"
    " account TEXT NOT NULL REFERENCES accounts(id),"
    " invoice TEXT NOT NULL REFERENCES invoices(id), seq INTEGER NOT NULL,"
    " amount INTEGER NOT NULL, at INTEGER NOT NULL, reason TEXT NOT NULL,"
    " resolved INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
    "CREATE INDEX disputes_invoice ON disputes(invoice);")


def _day(date):
    y, m, d = (int(x) for x in date.split("-"))
    return (datetime.date(y, m, d) - datetime.date(1970, 1, 1)).days


def ledger_as_v9(con):
    """Turns the ledgers back into what schema version 9 and before held:
    a row per payment, credit and upheld amount (money), per application
    and per promise contribution, and the promises and disputes tables
    (from the events' bodies)."""
    con.executescript(MONEY_TABLES_V9)
    ids = dict(con.execute("SELECT seq, id FROM events"))
    events = {seq: (id_, typ, json.loads(body), at) for seq, id_, typ, body, at in
              con.execute("SELECT seq, id, type, body, at FROM events")}
    reversed_by = {b["event"]: id_ for id_, typ, b, _ in events.values() if typ == "reversal"}
    for account, data in con.execute("SELECT account, data FROM ledger").fetchall():
        for m in ledger_entries(data):
            mid, _, body, _ = events[m["seq"]]
            con.execute("INSERT INTO money VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
                        (mid, account, m["seq"], m["kind"], m["amount"], m["at"],
                         body.get("invoice"), m["uncounted"],
                         reversed_by[mid] if m["reversed"] else None))
            for inv, amount, at, undone in m["apps"]:
                con.execute("INSERT INTO applications(money, invoice, amount, at, undone)"
                            " VALUES (?, ?, ?, ?, ?)", (mid, inv, amount, at, undone))
            for pr, amount, withdrawn in m["pms"]:
                con.execute("INSERT INTO promise_money VALUES (?, ?, ?, ?)",
                            (ids[pr], mid, amount, withdrawn))
    resolved = {b["invoice"] for _, typ, b, _ in events.values() if typ == "dispute_resolved"}
    for seq, (id_, typ, b, at) in events.items():
        if typ == "promise":
            con.execute("INSERT INTO promises(event, account, seq, amount, due, at, task)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (id_, b["account"], seq, b["amount"], _day(b["due"]), at, b.get("task")))
        elif typ == "dispute":
            con.execute("INSERT INTO disputes VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (id_, b["account"], b["invoice"], seq, b["amount"], at, b["reason"],
                         int(b["invoice"] in resolved)))
    con.executescript("DROP TABLE ledger; PRAGMA user_version = 9;")


# The tasks table as schema version 6 and before had it (keyed by the
# id's text, WITHOUT ROWID, with version 6's indexes): the tests that
# turn a database back into an older dunnd's run it first.
TASKS_AS_V6 = (
    "CREATE TABLE tasks_v6(id TEXT PRIMARY KEY, feed_seq INTEGER NOT NULL,"
    " account TEXT NOT NULL REFERENCES accounts(id), type TEXT NOT NULL,"
    " stage TEXT NOT NULL, source TEXT NOT NULL,"
    " status TEXT NOT NULL DEFAULT 'open', priority INTEGER NOT NULL,"
    " alert INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL, outcome TEXT)"
    " WITHOUT ROWID;"
    "INSERT INTO tasks_v6 SELECT printf('T-%06d', num), feed_seq, account, type,"
    " stage, source, status, priority, alert, created, outcome FROM tasks;"
    "DROP TABLE tasks; ALTER TABLE tasks_v6 RENAME TO tasks;"
    "CREATE INDEX tasks_account ON tasks(account, status);"
    "CREATE INDEX tasks_open ON tasks(priority, feed_seq) WHERE status = 'open';"
    "CREATE INDEX tasks_seq ON tasks(feed_seq);"
    "CREATE INDEX tasks_open_type ON tasks(type, created, status)"
    " WHERE status = 'open';"
    "CREATE INDEX tasks_created ON tasks(created, status, account);")

def lines(text):
    return [json.loads(l) for l in text.splitlines() if l.strip()]


def write_jsonl(path, items):
    """Writes a JSON Lines file and returns path.

    items is either bytes (written as they are: the caller chooses every
    line end) or a list whose dicts are dumped compactly, whose str lines
    are written as UTF-8 and whose bytes lines are written raw, each
    followed by LF."""
    if isinstance(items, (bytes, bytearray)):
        data = bytes(items)
    else:
        out = []
        for it in items:
            if isinstance(it, dict):
                it = json.dumps(it, separators=(",", ":"), ensure_ascii=False)
            if isinstance(it, str):
                it = it.encode()
            out.append(bytes(it) + b"\n")
        data = b"".join(out)
    with open(path, "wb") as f:
        f.write(data)
    return path


class IngestResult:
    """What `dunnctl --json ingest` gave: exit code, the per-line objects
    (stdout), the counts object (stderr, README "Readings" 10) and the raw
    streams."""

    def __init__(self, rc, stdout, stderr, json_out=True):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.results = lines(stdout) if json_out else []
        self.counts = None
        for l in stderr.splitlines():
            if l.startswith("{"):
                self.counts = json.loads(l)
                break

    def statuses(self):
        """[(line, status), ...] in reply order."""
        return [(r.get("line"), r.get("status")) for r in self.results]

    def __repr__(self):
        return "IngestResult(rc=%r, results=%r, stderr=%r)" % (self.rc, self.results, self.stderr[-500:])


class Daemon:
    """One dunnd in its own directory: tmp/dunnd.conf, tmp/rules, tmp/dunnd.db."""

    def __init__(self, tmp, clock="2026-03-02T09:00:00+08:00", rules=MINIMAL_RULES,
                 conf_extra="", timezone="Asia/Shanghai"):
        self.tmp = tmp
        self.clock = clock
        self.sock = os.path.join(tmp, "dunnd.sock")
        self.conf = os.path.join(tmp, "dunnd.conf")
        self.db = os.path.join(tmp, "dunnd.db")
        self.log_path = os.path.join(tmp, "dunnd.log")
        self.proc = None
        os.makedirs(os.path.join(tmp, "rules"), exist_ok=True)
        if rules is not None:
            with open(os.path.join(tmp, "rules", "10-rules.conf"), "w") as f:
                f.write(rules)
        with open(self.conf, "w") as f:
            f.write('database = "dunnd.db";\nrules = "rules";\nsocket = "dunnd.sock";\n'
                    'timezone = "%s";\nlog_level = "debug";\n%s' % (timezone, conf_extra))

    def argv(self, extra=()):
        args = WRAPPER + [DUNND, "-c", self.conf, "-f"]
        if self.clock is not None:
            args.append("--test-clock=" + self.clock)
        return args + list(extra)

    def spawn(self, extra=(), env=None):
        log = open(self.log_path, "ab")
        e = dict(os.environ)
        e.update(env or {})
        p = subprocess.Popen(self.argv(extra), stdout=log, stderr=log, cwd=self.tmp, env=e)
        log.close()
        return p

    def start(self, extra=(), env=None):
        self.proc = self.spawn(extra, env)
        deadline = time.monotonic() + START_DEADLINE
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("dunnd exited %s at start; log:\n%s"
                                     % (self.proc.returncode, self.log()[-2000:]))
            if os.path.exists(self.sock) and self.ctl("status").returncode == 0:
                return self
            time.sleep(0.02)
        raise AssertionError("dunnd did not answer in time; log:\n" + self.log()[-2000:])

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def ctl(self, *args, input=None, timeout=60):
        return subprocess.run([DUNNCTL, "-s", self.sock] + list(args), capture_output=True,
                              text=True, input=input, timeout=timeout)

    def ctl_json(self, *args):
        r = self.ctl("--json", *args)
        return r, lines(r.stdout)

    def status(self):
        r, recs = self.ctl_json("status")
        assert r.returncode == 0, r.stderr
        return recs[0]

    _batches = itertools.count(1)

    def ingest(self, items, skip_bad=None, json_out=True):
        """Writes items (see write_jsonl) to a new file in tmp and runs
        `dunnctl [--json] ingest [--skip-bad REJECTS] FILE`."""
        path = write_jsonl(os.path.join(self.tmp, "batch-%d.jsonl" % next(self._batches)), items)
        args = [DUNNCTL, "-s", self.sock] + (["--json"] if json_out else []) + ["ingest"]
        if skip_bad is not None:
            args += ["--skip-bad", skip_bad]
        r = subprocess.run(args + [path], capture_output=True, timeout=60)
        return IngestResult(r.returncode, r.stdout.decode("utf-8", "replace"),
                            r.stderr.decode("utf-8", "replace"), json_out)

    def accounts(self):
        """`dunnctl --json accounts` as {account id: record}, in output order."""
        r, recs = self.ctl_json("accounts")
        assert r.returncode == 0, r.stderr
        return {a["account"]: a for a in recs}

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("dunnd did not stop on %s" % sig)
        return self.proc.returncode

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(self.sock)
        return s


def request(sock, obj_or_bytes):
    data = obj_or_bytes if isinstance(obj_or_bytes, bytes) else (json.dumps(obj_or_bytes) + "\n").encode()
    sock.sendall(data)


def read_reply(sock, f=None):
    """Reads records up to and including the final one; returns (records, final)."""
    f = f or sock.makefile("rb")
    recs = []
    while True:
        line = f.readline()
        if not line:
            raise AssertionError("connection closed before the final record")
        rec = json.loads(line)
        if "ok" in rec:
            return recs, rec
        recs.append(rec)


class DaemonTest(unittest.TestCase):
    """A test case with a fresh temporary directory and daemon helpers."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="dunnd-it-")
        self.daemons = []

    def tearDown(self):
        for d in self.daemons:
            if d.proc is not None and d.proc.poll() is None:
                d.proc.kill()
                d.proc.wait()
            if WRAPPER and d.proc is not None:
                # valgrind/ASan report through the exit status.
                self.assertNotEqual(d.proc.returncode, 99, d.log()[-3000:])
        shutil.rmtree(self.tmp, ignore_errors=True)

    def daemon(self, sub="d", **kw):
        path = os.path.join(self.tmp, sub)
        os.makedirs(path, exist_ok=True)
        d = Daemon(path, **kw)
        self.daemons.append(d)
        return d


# --- Helpers for scenario tests (evaluation, feed, clock) -------------------

def ingest_events(d, events, *args):
    """Sends events as one batch (`dunnctl --json ingest FILE`); returns
    (CompletedProcess, per-line result records)."""
    n = len([x for x in os.listdir(d.tmp) if x.startswith("batch-")])
    path = write_jsonl(os.path.join(d.tmp, "batch-%04d.jsonl" % n), events)
    return d.ctl_json("ingest", *(list(args) + [path]))


def feed_records(d, from_seq=None):
    """The feed records with seq > from_seq (`dunnctl --json feed`)."""
    args = ["feed"] if from_seq is None else ["feed", "--from", str(from_seq)]
    r, recs = d.ctl_json(*args)
    if r.returncode != 0:
        raise AssertionError("dunnctl feed exited %d: %s" % (r.returncode, r.stderr))
    return recs


def task_records(d, *args):
    """`dunnctl --json tasks ARGS`: the task records with their status."""
    r, recs = d.ctl_json("tasks", *args)
    if r.returncode != 0:
        raise AssertionError("dunnctl tasks exited %d: %s" % (r.returncode, r.stderr))
    return recs


def account_records(d):
    """`dunnctl --json accounts`, as a dict by account id."""
    r, recs = d.ctl_json("accounts")
    if r.returncode != 0:
        raise AssertionError("dunnctl accounts exited %d: %s" % (r.returncode, r.stderr))
    return {a["account"]: a for a in recs}
