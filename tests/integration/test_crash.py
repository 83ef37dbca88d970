"""Stops and crashes (interfaces.md §2.4, §5, §6; targets.md R1, R10).

The real dunnd is stopped (SIGTERM) or killed (SIGKILL) at moments chosen
by a seeded random generator while it ingests, advances its test clock or
serves a feed follower, then restarted on the same files.  Crash timing
cannot be deterministic, so every test asserts invariants that hold
whatever the moment was, never counts that depend on it:

* an acknowledged batch (the final record said ok, `dunnctl ingest` exit
  0) is there after the restart, all of it: its accounts with their
  balances, and resending it gives `duplicate` for every line;
* a batch that was not acknowledged is there completely or not at all
  (all-or-nothing, §2.4): resending it gives all `duplicate` or all `ok`;
* the feed's seq is gapless from 1 and no task appears twice for one
  (account, source) (§5: the rule sets here never re-enter a stage);
* `PRAGMA integrity_check` is ok, read with Python's sqlite3 through a
  read-only URI while dunnd is down;
* a consumer cursor is what its last acknowledged `ack` set, or the value
  of an `ack` in flight at the crash, never older.

Waits are bounded by deadlines (scaled for valgrind/ASan builds), and the
random crash delays are fractions of durations measured in the same run,
so the tests hit the middle of the work on a slow build too.  With
DUNND_CRASH_FIGURES=1 in the environment the tests print where each crash
landed and what it left.

Unless a test says otherwise dunnd runs MINIMAL_RULES (lib.py) with
--test-clock T0 in Asia/Shanghai, restarted with the same --test-clock.

At SIGTERM dunnd drains every client's queued output (2 s in all), so a
long reply or a follower that is behind gets whole records and its final
record.
"""
import collections
import contextlib
import datetime
import fcntl
import json
import os
import random
import shutil
import signal
import sqlite3
import struct
import subprocess
import termios
import threading
import time
import unittest

from lib import (BUILD, DUNNCTL, WRAPPER, DaemonTest, IngestResult, feed_records,
                 lines, read_reply, request, task_records, write_jsonl)

T0 = "2026-03-02T09:00:00+08:00"    # the test clock at every start
AT = "2026-03-01T10:00:00+08:00"    # when the partial payments were made
# Every random choice below comes from SEED; `make crashtest` sets
# DUNND_CRASH_SEED (another set of moments) and DUNND_CRASH_SCALE (that
# many times the kills of each test).
SEED = int(os.environ.get("DUNND_CRASH_SEED", "20260302"))
SCALE = max(1, int(os.environ.get("DUNND_CRASH_SCALE", "1")))
# Deadlines only (never sleeps): sanitizer and valgrind builds are slower.
SLOW = 4.0 if (WRAPPER or "asan" in BUILD or "valgrind" in BUILD) else 1.0
DEADLINE = 30.0 * SLOW


# --- Batches ----------------------------------------------------------------

class Batch:
    """A batch file of new accounts tag-00000 ... with one invoice each and
    a partial payment on every third: the accounts it creates and the
    balance each must show once the batch is in.

    Invoice k is issued 02-01 and due 02-20 + (k mod 30) days, so at T0
    some are overdue (a transition and a task), some due within 2 days (a
    reminder task under MINIMAL_RULES) and some not due yet."""

    def __init__(self, tmp, tag, n):
        self.tag = tag
        self.path = os.path.join(tmp, "%s.jsonl" % tag)
        self.balances = {}
        events = []
        for k in range(n):
            a = "%s-%05d" % (tag, k)
            amount = 1000 + k
            day = 20 + k % 30
            due = "2026-02-%02d" % day if day <= 28 else "2026-03-%02d" % (day - 28)
            events.append({"type": "account", "id": "a." + a, "account": a,
                           "name": "Customer " + a, "currency": "CNY", "size": "small"})
            events.append({"type": "invoice", "id": "i." + a, "account": a, "invoice": "I." + a,
                           "amount": amount, "issued": "2026-02-01", "due": due})
            if k % 3 == 0:
                events.append({"type": "payment", "id": "p." + a, "account": a, "amount": 100,
                               "at": AT})
                amount -= 100
            self.balances[a] = amount
        self.nlines = len(events)
        write_jsonl(self.path, events)
        self.size = os.path.getsize(self.path)


def ingest_file(d, path, json_out=True, timeout=None):
    """`dunnctl [--json] ingest FILE` on an existing file."""
    args = [DUNNCTL, "-s", d.sock] + (["--json"] if json_out else []) + ["ingest", path]
    r = subprocess.run(args, capture_output=True, timeout=timeout or DEADLINE)
    return IngestResult(r.returncode, r.stdout.decode("utf-8", "replace"),
                        r.stderr.decode("utf-8", "replace"), json_out)


def acknowledged(r, batch):
    """The batch's reply was a complete, successful one (§2.4)."""
    return (r.rc == 0 and len(r.results) == batch.nlines
            and all(x.get("status") == "ok" for x in r.results))


def proc_io(pid, key):
    """A counter of /proc/PID/io (rchar: bytes the process has read)."""
    with open("/proc/%d/io" % pid) as f:
        for l in f:
            k, _, v = l.partition(":")
            if k == key:
                return int(v)
    raise AssertionError("no %s in /proc/%d/io" % (key, pid))


def unsent(sock):
    """Bytes written to sock that the peer has not read yet (Linux: for a
    Unix stream socket SIOCOUTQ counts them until the reader consumes
    them)."""
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0]


def datetime_of(text):
    return datetime.datetime.fromisoformat(text)


def wait_for(cond, what, deadline=None):
    end = time.monotonic() + (deadline or DEADLINE)
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.002)


class CrashTest(DaemonTest):
    maxDiff = None

    def setUp(self):
        super().setUp()
        self.rng = random.Random("%s.%s" % (SEED, self.id()))

    # --- what is there after a restart ---------------------------------------

    def presence(self, accts, batch):
        """'all' or 'none' of batch in the accounts listing; fails when
        only part of it is there or a balance is off."""
        there = [a for a in batch.balances if a in accts]
        if not there:
            return "none"
        self.assertEqual(len(there), len(batch.balances),
                         "batch %s is half there: %d of %d accounts"
                         % (batch.tag, len(there), len(batch.balances)))
        wrong = [(a, accts[a]["balance"], b) for a, b in batch.balances.items()
                 if accts[a]["balance"] != b]
        self.assertEqual(wrong, [], "batch %s: balances (account, got, want)" % batch.tag)
        return "all"

    def accounts(self, d):
        r = d.ctl("--json", "accounts", timeout=DEADLINE)
        self.assertEqual(r.returncode, 0, r.stderr)
        return {a["account"]: a for a in lines(r.stdout)}

    def resend(self, d, batch):
        """Resends batch; returns 'duplicate' (it was all there) or 'ok'
        (none of it was; now it is).  Anything mixed fails."""
        r = ingest_file(d, batch.path)
        self.assertEqual(r.rc, 0, r)
        got = {x["status"] for x in r.results}
        self.assertEqual(len(r.results), batch.nlines, r)
        self.assertIn(got, ({"duplicate"}, {"ok"}), "batch %s resent: %r" % (batch.tag, r.counts))
        return got.pop()

    def assertFeedSound(self, d):
        """Feed seq gapless from 1; no (account, source) twice; `tasks`
        lists each task record once.  Returns the feed."""
        feed = feed_records(d)
        self.assertEqual([r["seq"] for r in feed], list(range(1, len(feed) + 1)), "feed seq")
        self.assertEqual(d.status()["feed_head"], len(feed))
        keys = collections.Counter((r["account"], r["source"]) for r in feed if r["kind"] == "task")
        self.assertEqual([k for k, n in keys.items() if n > 1], [], "a task emitted twice")
        ids = [r["task"] for r in feed if r["kind"] == "task"]
        self.assertEqual(len(set(ids)), len(ids), "a task id reused")
        self.assertEqual(sorted(t["task"] for t in task_records(d)), sorted(ids))
        return feed

    def assertIntegrity(self, d):
        """PRAGMA integrity_check on the files as they are, dunnd down."""
        self.assertTrue(d.proc is None or d.proc.poll() is not None, "dunnd still runs")
        with contextlib.closing(sqlite3.connect("file:%s?mode=ro" % d.db, uri=True)) as db:
            self.assertEqual(db.execute("PRAGMA integrity_check").fetchall(), [("ok",)])
            # dunnd runs without foreign-key enforcement (README): every
            # reference must hold all the same
            self.assertEqual(db.execute("PRAGMA foreign_key_check").fetchall(), [])

    def kill(self, d):
        d.proc.kill()
        d.proc.wait(DEADLINE)
        self.assertEqual(d.proc.returncode, -signal.SIGKILL)

    def term(self, d):
        self.assertEqual(d.stop(signal.SIGTERM, timeout=DEADLINE), 0, d.log()[-2000:])


# --- 1. SIGTERM during an ingest (§6) -------------------------------------------

class SigtermDuringIngest(CrashTest):
    """§6: SIGTERM finishes the batch being processed, commits and exits 0;
    a batch not fully received is dropped with "shutting down"."""

    N = 12000   # accounts: 2 + 1/3 events each, 28,000 lines, 3.7 MB

    def batch(self, tag="B"):
        return Batch(self.tmp, tag, self.N)

    def test_sigterm_while_the_body_arrives_drops_the_batch(self):
        d = self.daemon().start()
        b = self.batch()
        with open(b.path, "rb") as f:
            body = f.read()
        s = d.connect()
        request(s, b'{"v":1,"cmd":"ingest","bytes":%d}\n' % len(body))
        s.sendall(body[: len(body) * 3 // 5])
        # Every byte sent so far is read by dunnd: the body is accumulating.
        wait_for(lambda: unsent(s) == 0, "dunnd to read the first part of the body")
        d.proc.send_signal(signal.SIGTERM)
        recs, fin = read_reply(s)
        self.assertEqual((recs, fin), ([], {"ok": False, "error": "shutting down"}))
        s.close()
        self.assertEqual(d.proc.wait(DEADLINE), 0)
        d.start()
        self.assertEqual(self.presence(self.accounts(d), b), "none")
        self.assertEqual(d.status()["feed_head"], 0)
        self.assertEqual(self.resend(d, b), "ok")
        self.assertEqual(self.presence(self.accounts(d), b), "all")

    def sigterm_once_received(self, json_out):
        """Starts `dunnctl ingest` on a big batch and sends SIGTERM as soon
        as dunnd has read the whole request and body: it is processing the
        batch then (one thread: the body's last read starts it)."""
        d = self.daemon().start()
        b = self.batch()
        # dunnctl's request line (§8; its length does not depend on the
        # member order), then the body: dunnd reads nothing else meanwhile.
        req = {"v": 1, "cmd": "ingest", "bytes": b.size, "skip_bad": False,
               "results": "all" if json_out else "bad"}
        total = len(json.dumps(req, separators=(",", ":"))) + 1 + b.size
        base = proc_io(d.proc.pid, "rchar")
        p = subprocess.Popen([DUNNCTL, "-s", d.sock] + (["--json"] if json_out else [])
                             + ["ingest", b.path], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_for(lambda: proc_io(d.proc.pid, "rchar") - base >= total,
                 "dunnd to read the whole batch")
        d.proc.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=DEADLINE)
        self.assertEqual(d.proc.wait(DEADLINE), 0)
        return d, b, IngestResult(p.returncode, out.decode(), err.decode(), json_out)

    def test_sigterm_while_processing_commits_and_replies(self):
        # Without --json the reply is the non-ok lines (none) and the counts.
        d, b, r = self.sigterm_once_received(json_out=False)
        self.assertEqual(r.rc, 0, r)
        self.assertIn("%d ok, 0 duplicate, 0 error, 0 rolled_back" % b.nlines, r.stdout)
        d.start()
        self.assertEqual(self.presence(self.accounts(d), b), "all")
        self.assertFeedSound(d)
        self.assertEqual(self.resend(d, b), "duplicate")

    # §6 "finishes the batch being processed, commits, exits 0"; §2.4
    # "the reply follows the commit": the client reading the reply gets
    # all of it (28,000 result lines, 1 MB, more than a socket buffer).
    def test_sigterm_while_processing_delivers_the_whole_reply(self):
        d, b, r = self.sigterm_once_received(json_out=True)
        d.start()
        # Whatever the reply, the batch is in: processing had started.
        self.assertEqual(self.presence(self.accounts(d), b), "all")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(len(r.results), b.nlines)
        self.assertEqual(r.counts, {"ok": b.nlines, "duplicate": 0, "error": 0, "rolled_back": 0})

    def test_sigterm_at_random_moments_all_or_nothing(self):
        # Random moments from just after dunnctl starts to past the end of
        # an uninterrupted ingest (measured first): before the body is in
        # the batch is dropped ("shutting down", exit 3), after it the batch
        # commits and the reply says so (exit 0).  Nothing else.
        d = self.daemon().start()
        warm = Batch(self.tmp, "W", self.N // 4)
        t = time.monotonic()
        self.assertEqual(ingest_file(d, warm.path, json_out=False).rc, 0)
        took = time.monotonic() - t
        outcomes = collections.Counter()
        for i in range(6):
            b = Batch(self.tmp, "R%d" % i, self.N // 4)
            p = subprocess.Popen([DUNNCTL, "-s", d.sock, "ingest", b.path],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            # The crash moment: half of them early, while dunnctl starts,
            # connects and sends (a few ms), the others anywhere.
            delay = self.rng.uniform(0.0, 0.04 if i % 2 else 1.2) * took
            time.sleep(delay)
            d.proc.send_signal(signal.SIGTERM)
            out, err = p.communicate(timeout=DEADLINE)
            r = IngestResult(p.returncode, out.decode(), err.decode(), json_out=False)
            self.assertEqual(d.proc.wait(DEADLINE), 0)
            d.start()
            there = self.presence(self.accounts(d), b)
            if r.rc == 0:
                self.assertIn("%d ok, 0 duplicate" % b.nlines, r.stdout)
                self.assertEqual(there, "all", r)
            else:
                # "shutting down", or dunnd gone before dunnctl connected.
                self.assertEqual(r.rc, 3, r)
                self.assertEqual(there, "none", r)
            outcomes[there] += 1
            figures("sigterm %d after %.3fs (an ingest takes %.3fs): %s", i, delay, took, there)
            self.assertEqual(self.resend(d, b), "duplicate" if there == "all" else "ok")
        figures("%d SIGTERMs: %d batches committed and acknowledged, %d dropped",
                6, outcomes["all"], outcomes["none"])
        self.assertFeedSound(d)
        self.term(d)
        self.assertIntegrity(d)



# --- 2. kill -9 during a stream of batches (R1) -----------------------------------

def expected_stage(account):
    """The stage MINIMAL_RULES give a Batch account at T0: invoice k is due
    02-20 + (k mod 30) days; up to 03-01 it is overdue (negotiation), due
    03-02 .. 03-04 it is within 2 days (reminder), later it is current."""
    k = int(account.rsplit("-", 1)[1]) % 30
    return "negotiation" if k <= 9 else "reminder" if k <= 12 else "current"


def figures(fmt, *args):
    """Crash figures for the report, when DUNND_CRASH_FIGURES is set."""
    if os.environ.get("DUNND_CRASH_FIGURES"):
        print("\n  " + fmt % args, end="", flush=True)


class KillDuringIngest(CrashTest):
    KILLS = 12 * SCALE

    def sender(self, d, k, rng, log, stop):
        """Sends new batches one after the other until one is not
        acknowledged; log gets (batch, IngestResult) for each."""
        j = 0
        while not stop.is_set():
            b = Batch(self.tmp, "K%02d-%03d" % (k, j), rng.randint(20, 200))
            r = ingest_file(d, b.path)
            log.append((b, r))
            if not acknowledged(r, b):
                return
            j += 1

    def check_state(self, d, acked, inflight, feed):
        """After a restart: every acknowledged batch there, every batch in
        flight at the crash all there or not at all, and the feed (feed:
        the records read after the previous restart, extended here) holds
        exactly the records of the accounts that are there.  Returns the
        tags of the in-flight batches that are there."""
        accts = self.accounts(d)
        for b in acked:
            self.assertEqual(self.presence(accts, b), "all", "acknowledged batch %s lost" % b.tag)
        there = {b.tag for b in inflight if self.presence(accts, b) == "all"}
        want = sum(len(b.balances) for b in acked) + sum(
            len(b.balances) for b in inflight if b.tag in there)
        self.assertEqual(len(accts), want, "accounts of no batch")
        stages = {a: r["stage"] for a, r in accts.items()}
        self.assertEqual([a for a, s in stages.items() if s != expected_stage(a)], [])
        # The feed only grows: read what is new, seq gapless on from there.
        new = feed_records(d, len(feed))
        feed.extend(new)
        self.assertEqual([r["seq"] for r in feed], list(range(1, len(feed) + 1)), "feed seq")
        self.assertEqual(d.status()["feed_head"], len(feed))
        # Committed with its batch (§5): a transition and its first task for
        # every account that left `current`, nothing for the others.
        per = collections.defaultdict(list)
        for r in feed:
            per[r["account"]].append((r["kind"], r.get("to") or r.get("source")))
        self.assertEqual(set(per) - set(accts), set(), "feed records of absent accounts")
        for a, s in stages.items():
            self.assertEqual(per.get(a, []), [] if s == "current" else
                             [("transition", s), ("task", "stage:%s#1" % s)], a)
        return there

    def test_kill_9_at_random_moments_of_a_stream_of_batches(self):
        d = self.daemon().start()
        warm = Batch(self.tmp, "W", 200)
        t = time.monotonic()
        r = ingest_file(d, warm.path)
        took = time.monotonic() - t
        self.assertTrue(acknowledged(r, warm), r)
        acked, inflight, there, feed = [warm], [], set(), []
        nbatches = 1
        for k in range(self.KILLS):
            log, stop = [], threading.Event()
            th = threading.Thread(target=self.sender,
                                  args=(d, k, random.Random(self.rng.random()), log, stop))
            th.start()
            delay = self.rng.uniform(0.1, 4.0) * took
            time.sleep(delay)  # the crash moment: not synchronisation
            self.kill(d)
            stop.set()
            th.join(DEADLINE)
            self.assertFalse(th.is_alive())
            nbatches += len(log)
            for b, r in log[:-1]:
                acked.append(b)
            if log:
                b, r = log[-1]
                if acknowledged(r, b):
                    acked.append(b)
                else:
                    # Killed under it, or dunnd gone before it connected.
                    self.assertEqual(r.rc, 3, r)
                    inflight.append(b)
            self.assertIntegrity(d)
            d.start()
            now_there = self.check_state(d, acked, inflight, feed)
            self.assertTrue(there <= now_there, "an in-flight batch vanished later")
            figures("kill %2d after %.3fs: %d batches acknowledged, in flight: %s", k, delay,
                    len(log) - (1 if log and log[-1][0] in inflight else 0),
                    "none" if not log or log[-1][0] not in inflight else
                    ("committed" if log[-1][0].tag in now_there else "absent"))
            there = now_there
        # Resending everything as one batch: duplicates for every line of an
        # acknowledged batch, and for an in-flight batch all duplicates if
        # it is there, all ok if it is not.
        every = acked + inflight
        allpath = os.path.join(self.tmp, "all.jsonl")
        with open(allpath, "wb") as out:
            for b in every:
                with open(b.path, "rb") as f:
                    out.write(f.read())
        r = ingest_file(d, allpath)
        self.assertEqual(r.rc, 0, r)
        got = [x["status"] for x in r.results]
        self.assertEqual(len(got), sum(b.nlines for b in every))
        pos = 0
        for b in every:
            st = set(got[pos:pos + b.nlines])
            pos += b.nlines
            self.assertEqual(st, {"duplicate"} if b in acked or b.tag in there else {"ok"},
                             b.tag)
        figures("%d kills, %d batches, %d in flight at a kill (%d of them committed)",
                self.KILLS, nbatches, len(inflight), len(there))
        self.assertEqual(self.assertFeedSound(d)[:len(feed)], feed)
        self.term(d)
        self.assertIntegrity(d)


# --- 3. kill -9 during a clock jump (R1, §4.3, §6) --------------------------------

# Cadences with repeating steps, so that a jump has many moments with
# records: every local midnight moves days_overdue / days_to_due, every
# cadence step falls due at its own moment.  No payments and no rule back,
# so no account enters a stage twice: (account, source) is unique.
CLOCK_RULES = """
stages = (
  { name = "current"; },
  { name = "reminder"; tasks = ( { type = "email"; } ); },
  { name = "negotiation";
    tasks = ( { type = "call"; },
              { type = "call"; after = "1d"; every = "2d"; max = 6; },
              { type = "letter"; after = "9d"; } ); },
  { name = "pressure";
    tasks = ( { type = "letter"; }, { type = "visit"; after = "3d"; every = "5d"; } ); }
);
rules = (
  { name = "due-soon"; from = ["current"]; to = "reminder"; when = { days_to_due = { max = 2; }; }; },
  { name = "overdue"; from = ["current", "reminder"]; to = "negotiation";
    when = { days_overdue = { min = 1; }; }; },
  { name = "long"; from = ["negotiation"]; to = "pressure"; when = { days_overdue = { min = 15; }; }; }
);
"""


def portfolio(n):
    """n accounts C-0000 ..., one invoice each, due 03-02 .. 03-29."""
    events = []
    for i in range(n):
        a = "C-%04d" % i
        events.append({"type": "account", "id": "a." + a, "account": a, "name": "Customer " + a,
                       "currency": "CNY", "size": ("small", "medium", "large")[i % 3]})
        events.append({"type": "invoice", "id": "i." + a, "account": a, "invoice": "I." + a,
                       "amount": 1000 + 37 * i, "issued": "2026-02-01",
                       "due": "2026-03-%02d" % (2 + i % 28)})
    return events


def moment(rec):
    return rec["created"] if rec["kind"] == "task" else rec["at"]


class KillDuringClockJump(CrashTest):
    TARGET = "2026-05-01T09:00:00+08:00"    # T0 + 60 days
    KILLS = 6 * SCALE

    def setup_daemon(self, sub):
        d = self.daemon(sub=sub, rules=CLOCK_RULES, clock=T0).start()
        path = write_jsonl(os.path.join(d.tmp, "portfolio.jsonl"), portfolio(400))
        r = ingest_file(d, path, json_out=False)
        self.assertEqual(r.rc, 0, r)
        return d

    def clock_set(self, d):
        r = d.ctl("clock", "set", self.TARGET, timeout=DEADLINE)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_kill_9_during_a_long_jump_then_finish_it(self):
        # The same portfolio and jump without a crash.
        ref = self.setup_daemon("ref")
        t = time.monotonic()
        self.clock_set(ref)
        took = time.monotonic() - t
        want = feed_records(ref)
        want_tasks = task_records(ref)
        self.term(ref)
        self.assertGreater(len(want), 5000)

        d = self.setup_daemon("crash")
        start = feed_records(d)
        self.assertEqual(want[:len(start)], start)
        kills = 0
        for k in range(self.KILLS):
            p = subprocess.Popen([DUNNCTL, "-s", d.sock, "clock", "set", self.TARGET],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            delay = self.rng.uniform(0.05, 0.7) * took
            time.sleep(delay)  # the crash moment: not synchronisation
            self.kill(d)
            p.communicate(timeout=DEADLINE)
            kills += 1
            self.assertIntegrity(d)
            d.start()   # the same --test-clock (T0): the stored position wins
            now = d.status()["now"]
            feed = self.assertFeedSound(d)
            # What was committed is the uninterrupted feed up to the restored
            # clock position, exactly (the R9 reading of test_eval).
            self.assertEqual(feed, want[:len(feed)], "not a prefix of the uninterrupted feed")
            cut = [r for r in want if datetime_of(moment(r)) <= datetime_of(now)]
            self.assertEqual(len(feed), len(cut), "feed vs clock position %s" % now)
            figures("kill %d after %.3fs (the jump takes %.3fs): clock at %s, %d of %d records",
                    k, delay, took, now, len(feed), len(want))
            if now == self.TARGET:
                break
        self.clock_set(d)
        self.assertEqual(self.assertFeedSound(d), want)
        self.assertEqual(task_records(d), want_tasks)
        self.assertEqual(d.status()["now"], self.TARGET)
        self.term(d)
        self.assertIntegrity(d)
        self.assertGreaterEqual(kills, 1)


class KillDuringReload(CrashTest):
    """R1 "kill -9 during reloads": a reload that re-evaluates every
    account either committed before the kill or is taken up at the start,
    as §6 says for rules that changed while dunnd was down, at the stored
    clock position - the same moment.  Either way the feed ends up as
    after an uninterrupted reload."""
    KILLS = 4 * SCALE
    NEW_RULES = CLOCK_RULES.replace("days_overdue = { min = 15; }", "days_overdue = { min = 5; }")

    def copy_of(self, template, sub):
        d = self.daemon(sub=sub, rules=CLOCK_RULES, clock=T0)
        for ext in ("", "-wal"):
            if os.path.exists(template.db + ext):
                shutil.copy(template.db + ext, d.db + ext)
        d.start()
        with open(os.path.join(d.tmp, "rules", "10-rules.conf"), "w") as f:
            f.write(self.NEW_RULES)
        return d

    def test_kill_9_during_a_reload(self):
        # 600 accounts, 20 days into their cadences, stopped cleanly: the
        # state every run below starts from.
        tpl = self.daemon(sub="tpl", rules=CLOCK_RULES, clock=T0).start()
        path = write_jsonl(os.path.join(tpl.tmp, "portfolio.jsonl"), portfolio(600))
        self.assertEqual(ingest_file(tpl, path, json_out=False).rc, 0)
        self.assertEqual(tpl.ctl("clock", "advance", "20d", timeout=DEADLINE).returncode, 0)
        before = feed_records(tpl)
        self.term(tpl)

        ref = self.copy_of(tpl, "ref")
        t = time.monotonic()
        r = ref.ctl("reload", timeout=DEADLINE)
        took = time.monotonic() - t
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        want, want_tasks, st = feed_records(ref), task_records(ref), ref.status()
        self.assertGreater(len(want), len(before) + 100, "the new rules change nothing")
        self.term(ref)

        for k in range(self.KILLS):
            d = self.copy_of(tpl, "crash%d" % k)
            if k % 2:
                d.proc.send_signal(signal.SIGHUP)
                p = None
            else:
                p = subprocess.Popen([DUNNCTL, "-s", d.sock, "reload"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            delay = self.rng.uniform(0.2, 2.5) * took
            time.sleep(delay)  # the crash moment: not synchronisation
            self.kill(d)
            if p is not None:
                p.wait(DEADLINE)
            self.assertIntegrity(d)
            d.start()
            self.assertEqual(self.assertFeedSound(d), want)
            self.assertEqual(task_records(d), want_tasks)
            got = d.status()
            self.assertEqual((got["rules_version"], got["now"]), (st["rules_version"], st["now"]))
            self.term(d)
            figures("kill %d after %.3fs (a reload takes %.3fs): %s", k, delay, took,
                    "redone at the start" if "changed while stopped" in d.log()
                    else "committed before the kill")


# --- 4. Consumer cursors (§5, §7 feed / ack; R1) ---------------------------------

class ConsumerCursors(CrashTest):
    def setup_daemon(self, n=40):
        d = self.daemon().start()
        b = Batch(self.tmp, "F", n)
        self.assertEqual(ingest_file(d, b.path, json_out=False).rc, 0)
        head = d.status()["feed_head"]
        self.assertGreater(head, 10)
        return d, head

    def cursor(self, d, name):
        """The consumer's cursor, as `feed --consumer NAME` shows it: the
        records start right after it."""
        r = d.ctl("--json", "feed", "--consumer", name, timeout=DEADLINE)
        self.assertEqual(r.returncode, 0, r.stderr)
        recs = lines(r.stdout)
        head = d.status()["feed_head"]
        if not recs:
            return head
        self.assertEqual([x["seq"] for x in recs], list(range(recs[0]["seq"], head + 1)))
        return recs[0]["seq"] - 1

    def ack(self, d, name, seq):
        return d.ctl("ack", "--consumer", name, str(seq), timeout=DEADLINE)

    def test_ack_forward_backward_and_beyond_the_head(self):
        d, head = self.setup_daemon()
        self.assertEqual(self.cursor(d, "crm"), 0)      # a new consumer starts at 0
        r = self.ack(d, "crm", head + 1)
        self.assertEqual(r.returncode, 1, r)             # beyond the head: an error
        self.assertIn("%d" % head, r.stderr)
        self.assertEqual(self.cursor(d, "crm"), 0)       # ... that changed nothing
        for seq in (5, 2, head, 0, 7):                   # backwards is allowed (replay)
            r = self.ack(d, "crm", seq)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(self.cursor(d, "crm"), seq)
        # Reading never moves a cursor; --from wins over it.
        self.assertEqual(self.cursor(d, "crm"), 7)
        r, recs = d.ctl_json("feed", "--consumer", "crm", "--from", "2")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(recs[0]["seq"], 3)
        self.assertEqual(self.cursor(d, "crm"), 7)
        # Consumers are separate; the head moves on with new records.
        self.assertEqual(self.cursor(d, "erp"), 0)
        self.assertEqual(self.ack(d, "crm", head + 1).returncode, 1)
        b = Batch(self.tmp, "G", 10)
        self.assertEqual(ingest_file(d, b.path, json_out=False).rc, 0)
        head2 = d.status()["feed_head"]
        self.assertGreater(head2, head)
        self.assertEqual(self.ack(d, "crm", head2).returncode, 0)
        self.assertEqual(self.cursor(d, "crm"), head2)

    def test_cursors_survive_sigterm_and_kill_9(self):
        d, head = self.setup_daemon()
        want = {"crm": 3, "erp": head, "dialer": 1}
        for name, seq in (("crm", 3), ("erp", head), ("dialer", 9), ("dialer", 1)):
            self.assertEqual(self.ack(d, name, seq).returncode, 0)
        self.term(d)
        d.start()
        self.assertEqual({n: self.cursor(d, n) for n in want}, want)
        # Acknowledged, then killed at once: still there.
        self.assertEqual(self.ack(d, "crm", 4).returncode, 0)
        self.kill(d)
        self.assertIntegrity(d)
        d.start()
        want["crm"] = 4
        self.assertEqual({n: self.cursor(d, n) for n in want}, want)
        self.assertEqual(self.ack(d, "crm", head + 1).returncode, 1)
        self.assertEqual(self.cursor(d, "crm"), 4)

    def acker(self, d, seqs, log):
        """Acks seqs one by one for consumer crm; log gets (seq, rc)."""
        for seq in seqs:
            r = self.ack(d, "crm", seq)
            log.append((seq, r.returncode))
            if r.returncode != 0:
                return

    def test_kill_9_while_acking(self):
        # The cursor after a crash is the last acknowledged ack's value or
        # that of the ack in flight: never anything older (R1).
        d, head = self.setup_daemon()
        t = time.monotonic()
        self.assertEqual(self.ack(d, "crm", 1).returncode, 0)
        took = time.monotonic() - t
        last = 1
        for k in range(5):
            seqs = [self.rng.randint(0, head) for _ in range(200)]
            log = []
            th = threading.Thread(target=self.acker, args=(d, seqs, log))
            th.start()
            delay = self.rng.uniform(1.0, 12.0) * took
            time.sleep(delay)  # the crash moment: not synchronisation
            self.kill(d)
            th.join(DEADLINE)
            self.assertFalse(th.is_alive())
            done = [s for s, rc in log if rc == 0]
            if done:
                last = done[-1]
            maybe = {last} | {s for s, rc in log[-1:] if rc != 0}
            self.assertIntegrity(d)
            d.start()
            got = self.cursor(d, "crm")
            self.assertIn(got, maybe, "acks done %r, then %r" % (done[-3:], log[-1:]))
            figures("kill %d after %.3fs: %d acks acknowledged, cursor %d", k, delay, len(done), got)
            last = got


# --- 5. Files left by a crash or an operator (R10) ---------------------------------
# A garbage or truncated database is refused and left untouched:
# test_foundation.BadStart covers it.

class WalFiles(CrashTest):
    def snapshot(self, d):
        return self.accounts(d), feed_records(d)

    def test_hot_wal_left_by_kill_9_is_recovered(self):
        d = self.daemon().start()
        for k, mangle in enumerate((None, "shm", "torn")):
            b = Batch(self.tmp, "H%d" % k, 150)
            self.assertTrue(acknowledged(ingest_file(d, b.path), b))
            before = self.snapshot(d)
            self.kill(d)    # right after the acknowledgement
            wal = d.db + "-wal"
            self.assertTrue(os.path.exists(wal), "no -wal after kill -9")
            self.assertGreater(os.path.getsize(wal), 32, "the -wal holds no frame")
            if mangle == "shm":
                # Its index gone too (a reboot's tmpfs, say): rebuilt from the WAL.
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(d.db + "-shm")
            elif mangle == "torn":
                # A next transaction torn by the power going: frames without a
                # valid checksum are not part of the database.
                with open(wal, "ab") as f:
                    f.write(bytes(self.rng.randrange(256) for _ in range(4096 + 24)))
            d.start()
            self.assertEqual(self.snapshot(d), before, mangle)
            self.assertEqual(self.resend(d, b), "duplicate")
        self.assertFeedSound(d)
        self.term(d)
        self.assertIntegrity(d)

    def test_deleted_wal_after_a_clean_stop_still_starts(self):
        d = self.daemon().start()
        b = Batch(self.tmp, "D", 150)
        self.assertTrue(acknowledged(ingest_file(d, b.path), b))
        before = self.snapshot(d)
        self.term(d)
        for ext in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(d.db + ext)
        d.start()
        self.assertEqual(self.snapshot(d), before)
        self.assertEqual(self.resend(d, b), "duplicate")
        b2 = Batch(self.tmp, "E", 20)
        self.assertTrue(acknowledged(ingest_file(d, b2.path), b2))
        self.term(d)
        self.assertIntegrity(d)


# --- 6. feed --follow across records and a stop (§5, §8) ---------------------------

class Follower:
    """`dunnctl --json feed --follow ARGS` with a thread collecting what it
    prints; or, with raw=True, the request on a socket of our own (to see
    the final record as sent)."""

    def __init__(self, d, *args, raw=False, pause=0):
        self.got, self.final, self.rc, self.err = [], None, None, b""
        self.pause = pause
        self.error = self.rest = None
        if raw:
            self.sock = d.connect()
            req = {"v": 1, "cmd": "feed", "follow": True}
            req.update(dict(zip(args[::2], args[1::2])))
            request(self.sock, req)
            self.thread = threading.Thread(target=self.read_raw, daemon=True)
        else:
            self.p = subprocess.Popen([DUNNCTL, "-s", d.sock, "--json", "feed", "--follow"]
                                      + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            self.thread = threading.Thread(target=self.read_ctl, daemon=True)
        self.thread.start()

    def read_raw(self):
        self.sock.settimeout(None)
        with self.sock, self.sock.makefile("rb") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    self.error = line    # a record cut short
                    break
                if "ok" in rec:
                    self.final = rec
                    break
                self.got.append(rec)
                if self.pause and len(self.got) % 50 == 0:
                    time.sleep(self.pause)   # a slow reader
            self.rest = f.read()

    def read_ctl(self):
        with self.p.stdout, self.p.stderr:
            for line in self.p.stdout:
                self.got.append(json.loads(line))
            self.err = self.p.stderr.read()
        self.rc = self.p.wait()

    def wait_for(self, n):
        wait_for(lambda: len(self.got) >= n, "the follower to get %d records" % n)

    def end(self):
        self.thread.join(DEADLINE)
        assert not self.thread.is_alive(), "the follower did not end"


class FollowTheFeed(CrashTest):
    def setup_daemon(self, n):
        d = self.daemon(rules=CLOCK_RULES, clock=T0).start()
        self.events = portfolio(n)
        return d

    def ingest(self, d, events, tag):
        path = write_jsonl(os.path.join(d.tmp, tag + ".jsonl"), events)
        r = ingest_file(d, path, json_out=False)
        self.assertEqual(r.rc, 0, r)

    def test_records_arrive_in_order_and_sigterm_ends_the_followers(self):
        d = self.setup_daemon(120)
        followers = [Follower(d), Follower(d, "from", 0, raw=True)]
        # Batches and clock moves, interleaved; the followers keep up.
        for k in range(4):
            self.ingest(d, self.events[60 * k:60 * (k + 1)], "part%d" % k)
            if k == 1:
                head = d.status()["feed_head"]
                self.assertEqual(d.ctl("ack", "--consumer", "crm", str(head // 2)).returncode, 0)
                followers.append(Follower(d, "--consumer", "crm"))
                followers.append(Follower(d, "--from", str(head - 3)))
            r = d.ctl("clock", "advance", "3d", timeout=DEADLINE)
            self.assertEqual(r.returncode, 0, r.stderr)
        want = feed_records(d)
        self.assertEqual([r["seq"] for r in want], list(range(1, len(want) + 1)))
        starts = [1, 1, head // 2 + 1, head - 2]
        for f, first in zip(followers, starts):
            f.wait_for(len(want) - first + 1)
        for f, first in zip(followers, starts):
            self.assertEqual(f.got, want[first - 1:])
        self.term(d)
        for f in followers:
            f.end()
        for f in followers[:1] + followers[2:]:
            self.assertEqual(f.rc, 3, f.err)
            self.assertEqual(f.err, b"dunnctl: shutting down\n")
        raw = followers[1]
        self.assertEqual(raw.final, {"ok": False, "error": "shutting down"})
        self.assertEqual(raw.rest, b"")
        for f, first in zip(followers, starts):
            self.assertEqual(f.got, want[first - 1:])

    # §8: a follower is sent records "until the client closes or the
    # daemon stops (final {"ok":false,"error":"shutting down"})": whole
    # records, a gapless prefix of the feed, then that final record.
    def test_sigterm_while_a_follower_is_behind(self):
        d = self.setup_daemon(400)
        self.ingest(d, self.events, "all")
        r = d.ctl("clock", "set", KillDuringClockJump.TARGET, timeout=DEADLINE)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertGreater(d.status()["feed_head"], 5000)
        # A steady reader of about 1,000 records/s: far behind a backlog of
        # over 5,000 records (2 MB) after a tenth of a second.
        f = Follower(d, "from", 0, raw=True, pause=0.05)
        f.wait_for(100)
        self.term(d)
        f.end()
        self.assertIsNone(f.error, "the follower's stream broke off")
        d.start()
        want = feed_records(d)
        self.assertGreaterEqual(len(f.got), 100)
        self.assertEqual(f.got, want[:len(f.got)])
        self.assertEqual(f.final, {"ok": False, "error": "shutting down"})
        self.assertEqual(f.rest, b"")

if __name__ == "__main__":
    unittest.main()
