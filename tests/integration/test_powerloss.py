"""Power loss (interfaces.md §2.4, §5, §6; targets.md R1).

dunnd runs with tests/fault/vfs.c preloaded (BUILD/tests/libfaultvfs.so):
a SQLite VFS shim that keeps every write made since each file's last
sync and, at the power cut, puts back what a disk would not have kept
(a random prefix of the unsynced writes survives, the next one is
dropped or torn, the rest are lost; or, in "drop" cycles, all of them
are lost), then kills dunnd with SIGKILL.  The cut falls at the N-th
sync after the shim is armed, N drawn from the seed: the moment a COMMIT
makes a batch, a sweep's moment, a reload or an ack durable, or the
checkpointer's syncs; when that has not come after a seeded number of
operations, at the next write or sync.

Each cycle: start dunnd on what the last cut left (a start that is itself
cut counts as a cycle), check it, arm the shim, then run seeded
operations (new batches, clock advances, reloads, feed reads and acks)
until the power goes.  The checks after every restart:

* `PRAGMA integrity_check` ok (on a copy of the files, before dunnd
  starts on them);
* every acknowledged batch is there with its balances, and the batch in
  flight at the cut is there entirely or not at all (resending it says
  all `duplicate` or all `ok`); the last acknowledged batch resent is all
  `duplicate`;
* the feed's seq is gapless from 1, it only grows (what was read before
  is still there, unchanged), and no task appears twice for one
  (account, source): no cadence step emitted twice;
* the consumer's cursor is the value of its last acknowledged ack, or of
  the ack in flight at the cut;
* the clock stands at or after the last acknowledged clock advance.

The seed is printed (DUNND_CRASH_SEED to repeat a run); the number of
cuts is DUNND_POWERLOSS_CUTS (make test: 20; make crashtest: more).
"""
import collections
import datetime
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import unittest

from lib import BUILD, DUNNCTL, WRAPPER, DaemonTest, MINIMAL_RULES, feed_records, lines
from test_crash import Batch, ingest_file

SHIM = os.path.join(BUILD, "tests", "libfaultvfs.so")
SEED = int(os.environ.get("DUNND_CRASH_SEED", "20260302"))
CUTS = int(os.environ.get("DUNND_POWERLOSS_CUTS", "20"))
SLOW = 4.0 if (WRAPPER or "asan" in BUILD or "valgrind" in BUILD) else 1.0
DEADLINE = 30.0 * SLOW
CONSUMER = "crm"


def say(fmt, *args):
    if os.environ.get("DUNND_CRASH_FIGURES"):
        print("\n  " + fmt % args, end="", flush=True)


class PowerLoss(DaemonTest):
    maxDiff = None

    def setUp(self):
        super().setUp()
        self.assertTrue(os.path.exists(SHIM), "build the shim: make " + SHIM)
        self.rng = random.Random("%s.powerloss" % SEED)
        self.d = self.daemon()
        self.arm = os.path.join(self.tmp, "arm")
        self.flag = os.path.join(self.tmp, "cut-now")
        self.cutlog = os.path.join(self.tmp, "cuts.log")
        self.rules_variant = 0
        # What the daemon acknowledged, and what was in flight at a cut.
        self.acked, self.inflight = [], []
        self.cursor_acked, self.cursor_inflight = 0, None
        self.now_acked = datetime.datetime.fromisoformat(self.d.clock)
        self.feed = []
        self.outcomes = collections.Counter()

    # --- dunnd under the shim -------------------------------------------------

    def env(self, cycle):
        e = {"LD_PRELOAD": SHIM, "DUNND_PL_ARM": self.arm, "DUNND_PL_LOG": self.cutlog,
             "DUNND_PL_FLAG": self.flag,
             "DUNND_PL_SEED": str(self.rng.randrange(1, 1 << 30)),
             "DUNND_PL_SYNC": str(self.rng.randint(1, 24)),
             "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"}
        if self.rng.random() < 0.25:
            e["DUNND_PL_MODE"] = "drop"
        return e

    def start(self, env):
        """Starts dunnd; True once it answers, False if the power went
        while it started (a cut during recovery)."""
        d = self.d
        d.proc = d.spawn(env=env)
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            if d.proc.poll() is not None:
                self.assertEqual(d.proc.returncode, -signal.SIGKILL,
                                 "dunnd exited at start:\n" + d.log()[-2000:])
                return False
            if os.path.exists(d.sock) and d.ctl("status").returncode == 0:
                return True
            time.sleep(0.02)
        raise AssertionError("dunnd did not answer in time:\n" + d.log()[-2000:])

    def dead(self):
        return self.d.proc.poll() is not None

    def gone(self):
        """After a failed request: True once dunnd is dead (the cut kills
        it as the request fails; give the kernel a moment to reap it)."""
        try:
            self.d.proc.wait(5.0 * SLOW)
            return True
        except subprocess.TimeoutExpired:
            return False

    # --- checks after a cut -----------------------------------------------------

    def integrity(self):
        """integrity_check on a copy of what the cut left (recovering the
        WAL in the copy, not in the original)."""
        chk = os.path.join(self.tmp, "check")
        shutil.rmtree(chk, ignore_errors=True)
        os.makedirs(chk)
        for ext in ("", "-wal"):
            if os.path.exists(self.d.db + ext):
                shutil.copy(self.d.db + ext, os.path.join(chk, "dunnd.db" + ext))
        if not os.path.exists(os.path.join(chk, "dunnd.db")):
            return
        con = sqlite3.connect(os.path.join(chk, "dunnd.db"))
        try:
            self.assertEqual(con.execute("PRAGMA integrity_check").fetchall(), [("ok",)])
            self.assertEqual(con.execute("PRAGMA foreign_key_check").fetchall(), [])
        finally:
            con.close()

    def accounts(self):
        r = self.d.ctl("--json", "accounts", timeout=DEADLINE)
        self.assertEqual(r.returncode, 0, r.stderr)
        return {a["account"]: a for a in lines(r.stdout)}

    def presence(self, accts, b):
        there = [a for a in b.balances if a in accts]
        if not there:
            return "none"
        self.assertEqual(len(there), len(b.balances), "batch %s is half there" % b.tag)
        self.assertEqual([(a, accts[a]["balance"], v) for a, v in b.balances.items()
                          if accts[a]["balance"] != v], [], "batch %s balances" % b.tag)
        return "all"

    def resend(self, b):
        r = ingest_file(self.d, b.path, timeout=DEADLINE)
        self.assertEqual(r.rc, 0, r)
        got = {x["status"] for x in r.results}
        self.assertEqual(len(r.results), b.nlines, r)
        self.assertIn(got, ({"duplicate"}, {"ok"}), "batch %s resent: %r" % (b.tag, r.counts))
        return got.pop()

    def cursor(self):
        r = self.d.ctl("--json", "feed", "--consumer", CONSUMER, timeout=DEADLINE)
        self.assertEqual(r.returncode, 0, r.stderr)
        recs = lines(r.stdout)
        head = self.d.status()["feed_head"]
        return head if not recs else recs[0]["seq"] - 1

    def check(self):
        d = self.d
        accts = self.accounts()
        for b in self.acked:
            self.assertEqual(self.presence(accts, b), "all", "acknowledged batch %s lost" % b.tag)
        for b in self.inflight:
            there = self.presence(accts, b)
            self.assertEqual(self.resend(b), "duplicate" if there == "all" else "ok")
            self.outcomes["in-flight batch " + ("kept" if there == "all" else "lost")] += 1
            self.acked.append(b)
        self.inflight = []
        if self.acked:
            self.assertEqual(self.resend(self.acked[-1]), "duplicate")
        # The feed: seq gapless on from what was read before (all of it
        # is compared again at the end).
        feed = self.feed + feed_records(d, len(self.feed))
        self.assertEqual([r["seq"] for r in feed], list(range(1, len(feed) + 1)), "feed seq")
        self.assertEqual(d.status()["feed_head"], len(feed))
        keys = collections.Counter((r["account"], r["source"]) for r in feed if r["kind"] == "task")
        self.assertEqual([k for k, n in keys.items() if n > 1], [], "a cadence step emitted twice")
        self.feed = feed
        cur = self.cursor()
        self.assertIn(cur, {self.cursor_acked, self.cursor_inflight},
                      "cursor %d: last acknowledged ack %d, in flight %s"
                      % (cur, self.cursor_acked, self.cursor_inflight))
        self.cursor_acked, self.cursor_inflight = cur, None
        now = datetime.datetime.fromisoformat(d.status()["now"])
        if self.now_acked is not None:
            self.assertGreaterEqual(now, self.now_acked, "the clock went back")
        self.now_acked = now

    # --- the operations --------------------------------------------------------

    def op_ingest(self, k):
        b = Batch(self.tmp, "P%03d-%03d" % (k, len(self.acked)), self.rng.randint(3, 30))
        self.inflight.append(b)
        r = ingest_file(self.d, b.path, timeout=DEADLINE)
        if r.rc == 0 and len(r.results) == b.nlines and {x["status"] for x in r.results} == {"ok"}:
            self.acked.append(b)
            self.inflight.remove(b)
        else:
            self.assertTrue(self.gone(), "batch refused with the power on: %r" % r)

    def op_advance(self, k):
        days = self.rng.randint(1, 4)
        r = self.d.ctl("clock", "advance", "%dd" % days, timeout=DEADLINE)
        if r.returncode == 0:
            # The test clock moves by exactly that much (the check after
            # the restart read where it stood).
            self.now_acked += datetime.timedelta(days=days)
        else:
            self.assertTrue(self.gone(), r.stdout + r.stderr)

    def op_reload(self, k):
        # The same rules with another comment: a new rules_version, the
        # whole portfolio re-evaluated, nothing moves.
        self.rules_variant += 1
        with open(os.path.join(self.d.tmp, "rules", "10-rules.conf"), "w") as f:
            f.write("# variant %d\n%s" % (self.rules_variant, MINIMAL_RULES))
        r = self.d.ctl("reload", timeout=DEADLINE)
        if r.returncode != 0:
            self.assertTrue(self.gone(), r.stdout + r.stderr)

    def op_ack(self, k):
        r = self.d.ctl("--json", "feed", "--consumer", CONSUMER, timeout=DEADLINE)
        if r.returncode != 0:
            self.assertTrue(self.gone(), r.stderr)
            return
        recs = lines(r.stdout)
        if not recs:
            return
        seq = self.rng.choice(recs)["seq"]
        self.cursor_inflight = seq
        r = self.d.ctl("ack", "--consumer", CONSUMER, str(seq), timeout=DEADLINE)
        if r.returncode == 0:
            self.cursor_acked, self.cursor_inflight = seq, None
        else:
            self.assertTrue(self.gone(), r.stdout + r.stderr)

    def test_power_cuts(self):
        print("\n  powerloss: DUNND_CRASH_SEED=%d, %d cuts" % (SEED, CUTS), end="", flush=True)
        ops = [self.op_ingest] * 5 + [self.op_advance] * 2 + [self.op_reload, self.op_ack] * 1
        cuts = 0
        while cuts < CUTS:
            for f in (self.arm, self.flag):
                if os.path.exists(f):
                    os.unlink(f)
            self.integrity()
            env = self.env(cuts)
            early = self.rng.random() < 0.15
            if early:
                # Armed from the start: the cut may fall in the recovery,
                # the start's reload or its first commits.
                env["DUNND_PL_SYNC"] = str(self.rng.randint(1, 4))
                open(self.arm, "w").close()
            if not self.start(env):
                cuts += 1
                self.outcomes["cut while starting"] += 1
                continue
            if not early:
                self.check()
                open(self.arm, "w").close()
            n, by_flag = 0, self.rng.randint(6, 30)
            while not self.dead():
                self.rng.choice(ops)(cuts)
                n += 1
                if n == by_flag:
                    # No sync-counted cut yet: the power goes at the next
                    # write or sync, whichever comes first.
                    open(self.flag, "w").close()
                if n > by_flag + 50:
                    raise AssertionError("no cut after %d operations" % n)
            self.d.proc.wait(DEADLINE)
            self.assertEqual(self.d.proc.returncode, -signal.SIGKILL, self.d.log()[-2000:])
            cuts += 1
        self.integrity()
        self.assertTrue(self.start({}))
        self.check()
        self.assertEqual(feed_records(self.d), self.feed, "the feed changed under a cut")
        self.assertEqual(self.d.stop(), 0)
        self.integrity()
        with open(self.cutlog) as f:
            log = f.read()
        self.outcomes["torn writes"] = log.count("next torn")
        self.outcomes["unsynced writes dropped"] = log.count("next dropped")
        say("%d power cuts survived; %d batches acknowledged, feed %d records; %s",
            cuts, len(self.acked), len(self.feed), dict(self.outcomes))


if __name__ == "__main__":
    unittest.main()
