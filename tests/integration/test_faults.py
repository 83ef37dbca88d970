"""I/O faults (interfaces.md §2.4; targets.md R8).

dunnd runs with tests/fault/vfs.c preloaded (BUILD/tests/libfaultvfs.so),
which fails the N-th write or the N-th sync that SQLite asks for (counted
over dunnd's life, every file and both connections: the daemon's and
the checkpointer's) with an I/O error: only that one (transient), or
that one and every later one until the driver says the disk is back
(persistent).  For N = 1, 2, 3 ... over one scenario - the start, new
batches, clock advances (the sweep and its feed appends), a feed read
and an ack, a reload, and the checkpoints meanwhile - each run checks:

* a request that fails says why (dunnctl exit 1 with the cause; an
  ingest's lines are `rolled_back`), and while the fault lasts reads keep
  working (status, accounts, feed) and a request that writes fails again
  cleanly;
* once the fault is gone the same request succeeds without a restart
  (a batch then gives all `ok`: nothing of it had been committed);
* a fault during the start makes dunnd exit 1 with a message, and the
  next start (without faults) works;
* dunnd never dies of a fault once it has started;
* memory and disk agree: what the running dunnd reports at the end
  (status, accounts, the whole feed, the consumer's cursor) is exactly
  what a restart after kill -9 finds, every acknowledged batch is there,
  and `PRAGMA integrity_check` is ok.

make test runs a sample of N (DUNND_FAULT_RUNS, default 16 runs);
`make crashtest` every N for both kinds and both modes.
"""
import collections
import os
import random
import shutil
import signal
import sqlite3
import time
import unittest

from lib import BUILD, WRAPPER, DaemonTest, MINIMAL_RULES, feed_records, lines
from test_crash import Batch, ingest_file

SHIM = os.path.join(BUILD, "tests", "libfaultvfs.so")
SEED = int(os.environ.get("DUNND_CRASH_SEED", "20260302"))
RUNS = int(os.environ.get("DUNND_FAULT_RUNS", "12"))   # 0: every N
OPS = os.environ.get("DUNND_FAULT_OPS", "write,sync,malloc").split(",")
SLOW = 4.0 if (WRAPPER or "asan" in BUILD or "valgrind" in BUILD) else 1.0
DEADLINE = 30.0 * SLOW
CONSUMER = "crm"


def say(fmt, *args):
    if os.environ.get("DUNND_CRASH_FIGURES"):
        print("\n  " + fmt % args, end="", flush=True)


@unittest.skipIf(WRAPPER, "the shim cannot be preloaded under valgrind")
class Faults(DaemonTest):
    maxDiff = None

    def setUp(self):
        super().setUp()
        self.assertTrue(os.path.exists(SHIM), "build the shim: make " + SHIM)
        self.outcomes = collections.Counter()

    # --- one run ------------------------------------------------------------------

    def env(self, run, op=None, n=None, persistent=False):
        e = {"LD_PRELOAD": SHIM, "DUNND_FAULT_COUNT": os.path.join(run, "counts"),
             "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"}
        if op is not None:
            e.update({"DUNND_FAULT_OP": op, "DUNND_FAULT_N": str(n),
                      "DUNND_FAULT_FIRED": os.path.join(run, "fired")})
            if persistent:
                e["DUNND_FAULT_HOLD"] = os.path.join(run, "hold")
                open(e["DUNND_FAULT_HOLD"], "w").close()
        return e

    def start(self, d, env):
        """True once dunnd answers; False when it exited (code 1, with a
        message) while starting."""
        d.proc = d.spawn(env=env)
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            if d.proc.poll() is not None:
                self.assertEqual(d.proc.returncode, 1, d.log()[-2000:])
                return False
            if os.path.exists(d.sock) and d.ctl("status").returncode == 0:
                return True
            time.sleep(0.02)
        raise AssertionError("dunnd did not answer in time:\n" + d.log()[-2000:])

    def heal(self, run):
        hold = os.path.join(run, "hold")
        if os.path.exists(hold):
            os.unlink(hold)

    def reads_work(self, d, db=True):
        """Reads keep working; db=False: only those served from memory
        (while every allocation SQLite makes fails, nothing can be read
        from the database)."""
        for args in (("status",), ("accounts",)) + (
                (("feed", "--from", "0"), ("tasks",)) if db else ()):
            r = d.ctl("--json", *args, timeout=DEADLINE)
            self.assertEqual(r.returncode, 0, "%s while faulting: %s" % (args, r.stderr))
        accts = lines(d.ctl("--json", "accounts", timeout=DEADLINE).stdout)
        if accts and db:
            r = d.ctl("--json", "explain", accts[0]["account"], timeout=DEADLINE)
            self.assertEqual(r.returncode, 0, "explain while faulting: " + r.stderr)

    def steps(self, d, batches):
        """The scenario: (name, request) pairs; a request returns None on
        success, or the text of a clean failure (and fails the test on
        anything else)."""
        def ingest(b):
            def f():
                r = ingest_file(d, b.path, timeout=DEADLINE)
                st = {x["status"] for x in r.results}
                if r.rc == 0:
                    self.assertEqual(st, {"ok"}, r)
                    self.acked.append(b)
                    return None
                # Lines before the failure rolled_back, from it on error
                # naming the database (an allocation can fail mid-batch).
                self.assertEqual(r.rc, 1, r)
                self.assertNotIn("ok", st, r)
                self.assertLessEqual(st, {"rolled_back", "error"}, r)
                return r.stderr
            return f

        def ctl(*args):
            def f():
                r = d.ctl(*args, timeout=DEADLINE)
                if r.returncode == 0:
                    return None
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                return r.stdout + r.stderr
            return f

        def reload():
            with open(os.path.join(d.tmp, "rules", "10-rules.conf"), "w") as f:
                f.write("# changed\n" + MINIMAL_RULES)
            return ctl("reload")()

        def ack():
            r = d.ctl("--json", "feed", "--consumer", CONSUMER, timeout=DEADLINE)
            if r.returncode != 0:   # the read itself met the fault
                self.assertEqual(r.returncode, 1, r.stderr)
                return r.stderr
            recs = lines(r.stdout)
            return ctl("ack", "--consumer", CONSUMER, str(recs[len(recs) // 2]["seq"]))()

        return [("ingest", ingest(batches[0])), ("advance", ctl("clock", "advance", "1d")),
                ("ack", ack), ("ingest", ingest(batches[1])),
                ("reload", reload), ("advance", ctl("clock", "advance", "3d")),
                ("ingest", ingest(batches[2])), ("ack", ack)]

    def snapshot(self, d):
        st = d.status()
        r = d.ctl("--json", "accounts", timeout=DEADLINE)
        self.assertEqual(r.returncode, 0, r.stderr)
        r2 = d.ctl("--json", "feed", "--consumer", CONSUMER, timeout=DEADLINE)
        self.assertEqual(r2.returncode, 0, r2.stderr)
        return {"status": {k: st[k] for k in ("feed_head", "now", "accounts", "rules_version")},
                "accounts": lines(r.stdout), "feed": feed_records(d),
                "cursor_view": lines(r2.stdout)}

    def run_once(self, tag, op=None, n=None, persistent=False):
        """One scenario; returns (what happened, the counts the shim saw)."""
        d = self.daemon(sub=tag)
        run = d.tmp
        batches = [Batch(run, "F%d" % i, 12 + 3 * i) for i in range(3)]
        self.acked = []
        what = "no request failed"
        started = self.start(d, self.env(run, op, n, persistent))
        if started and op is None:
            with open(os.path.join(run, "counts")) as f:
                self.at_start = tuple(int(x) for x in f.read().split())
        if not started:
            self.assertRegex(d.log(), r"(?i)error|cannot|failed")
            self.heal(run)
            what = "start refused (exit 1)"
            self.assertTrue(self.start(d, self.env(run)), d.log()[-2000:])
        for name, req in self.steps(d, batches):
            err = req()
            if err is None:
                continue
            self.assertRegex(err, r"(?i)disk I/O error|out of memory|failed|database error", name)
            self.reads_work(d, db=not (persistent and op == "malloc"))
            if persistent:
                self.assertIsNotNone(req(), "%s succeeded while the fault lasts" % name)
                self.heal(run)
            self.assertIsNone(req(), "%s after the fault:\n%s" % (name, d.log()[-3000:]))
            what = "%s refused, then done without a restart" % name
            self.assertIsNone(d.proc.poll(), "dunnd died of a fault")
        self.heal(run)
        self.assertIsNone(d.proc.poll(), "dunnd died of a fault:\n" + d.log()[-2000:])
        if what == "no request failed" and os.path.exists(os.path.join(run, "fired")):
            what = "absorbed (the checkpointer's)"
        elif what == "no request failed":
            what = "N past the scenario"
        before = self.snapshot(d)
        with open(os.path.join(run, "counts")) as f:
            counts = tuple(int(x) for x in f.read().split())
        if os.environ.get("DUNND_FAULT_KEEP"):
            print(d.log())
        d.proc.kill()
        d.proc.wait(DEADLINE)
        chk = os.path.join(run, "check")
        os.makedirs(chk)
        for ext in ("", "-wal"):
            if os.path.exists(d.db + ext):
                shutil.copy(d.db + ext, os.path.join(chk, "dunnd.db" + ext))
        con = sqlite3.connect(os.path.join(chk, "dunnd.db"))
        self.assertEqual(con.execute("PRAGMA integrity_check").fetchall(), [("ok",)])
        self.assertEqual(con.execute("PRAGMA foreign_key_check").fetchall(), [])
        con.close()
        d.start()
        after = self.snapshot(d)
        self.assertEqual(before, after, "memory and disk disagree after %s" % what)
        accts = {a["account"]: a for a in after["accounts"]}
        for b in self.acked:
            self.assertEqual({a: accts[a]["balance"] for a in b.balances if a in accts},
                             b.balances, "acknowledged batch %s" % b.tag)
        self.assertEqual(len(self.acked), 3)
        self.assertEqual(d.stop(), 0)
        shutil.rmtree(run, ignore_errors=True)
        return what, counts

    def test_nth_write_and_sync_fail(self):
        what, (nw, ns, nm) = self.run_once("ref")
        self.assertEqual(what, "N past the scenario")
        rng = random.Random("%s.faults" % SEED)
        plan = []
        totals = {"write": nw, "sync": ns, "malloc": nm}
        starts = dict(zip(("write", "sync", "malloc"), self.at_start))
        for op in OPS:
            total = totals[op]
            for persistent in (False, True):
                ns_ = list(range(1, total + 1))
                if RUNS:
                    # A sample: N = 1 (the start's first) once per kind,
                    # the others after the start.
                    k = max(1, RUNS // (2 * len(OPS)))
                    after = list(range(starts[op] + 1, total + 1))
                    ns_ = sorted(set(([1] if not persistent else []) +
                                     rng.sample(after, min(k, len(after)))))
                plan += [(op, n, persistent) for n in ns_]
        print("\n  faults: DUNND_CRASH_SEED=%d, scenario %d writes %d syncs %d allocations,"
              " %d runs" % (SEED, nw, ns, nm, len(plan)), end="", flush=True)
        if os.environ.get("DUNND_FAULT_ONLY"):
            o, n, p = os.environ["DUNND_FAULT_ONLY"].split(":")
            plan = [(o, int(n), p == "p")]
        for i, (op, n, persistent) in enumerate(plan):
            with self.subTest(op=op, n=n, persistent=persistent):
                what, _ = self.run_once("r%d" % i, op, n, persistent)
                self.outcomes["%s %s: %s" % ("persistent" if persistent else "transient", op,
                                             what)] += 1
        for k in sorted(self.outcomes):
            say("%3d x %s", self.outcomes[k], k)


if __name__ == "__main__":
    unittest.main()
