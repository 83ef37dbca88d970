"""A full disk (targets.md R8; interfaces.md §2.4).

dunnd runs with tests/fault/enospc.c preloaded (built by make into
BUILD/tests/libenospc.so): while a flag file exists, every write to the
database or its WAL fails with ENOSPC, as on a full filesystem.  Then:

* a batch is refused with a clear error naming the cause, exit 1, and
  nothing of it is committed (resending it later gives "ok", not
  "duplicate");
* reads keep working: status, accounts, explain, feed;
* a clock advance fails (exit 1) and the clock stays;
* once space returns (the flag removed) the same batch is accepted and
  the clock moves, without a restart; the daemon never exited.

Skipped under valgrind (the shim would wrap valgrind itself).
"""
import os
import unittest

from lib import BUILD, WRAPPER, DaemonTest, ingest_events

SHIM = os.path.join(BUILD, "tests", "libenospc.so")


def account(eid, acct):
    return {"type": "account", "id": eid, "account": acct, "name": "Customer " + acct,
            "currency": "CNY", "size": "medium"}


def invoice(eid, acct, inv, amount):
    return {"type": "invoice", "id": eid, "account": acct, "invoice": inv, "amount": amount,
            "issued": "2026-02-01", "due": "2026-02-20"}


@unittest.skipIf(WRAPPER, "the shim cannot be preloaded under valgrind")
class DiskFull(DaemonTest):
    def setUp(self):
        super().setUp()
        self.assertTrue(os.path.exists(SHIM), "build the shim: make " + SHIM)
        self.flag = os.path.join(self.tmp, "disk-full")
        self.d = self.daemon()
        env = {"LD_PRELOAD": SHIM, "DUNND_FAULT_FLAG": self.flag,
               "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"}
        self.d.start(env=env)

    def full(self, on):
        if on:
            open(self.flag, "w").close()
        elif os.path.exists(self.flag):
            os.unlink(self.flag)

    def test_refused_then_accepted_when_space_returns(self):
        d = self.d
        r, res = ingest_events(d, [account("a1", "A"), invoice("a2", "A", "I-1", 1000)])
        self.assertEqual(r.returncode, 0, r.stderr)
        head = d.status()["feed_head"]
        now = d.status()["now"]

        self.full(True)
        batch = [account("b1", "B"), invoice("b2", "B", "I-2", 500)]
        r, res = ingest_events(d, batch)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertRegex(r.stdout + r.stderr, r"(?i)full|space")
        self.assertNotIn("ok", [x.get("status") for x in res])
        # Reads keep working, and show nothing of the refused batch.
        st = d.status()
        self.assertEqual((st["accounts"], st["feed_head"]), (1, head))
        self.assertEqual(list(d.accounts()), ["A"])
        r = d.ctl("--json", "explain", "A")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = d.ctl("--json", "feed", "--from", "0")
        self.assertEqual(r.returncode, 0, r.stderr)
        # Time cannot move either: its moments cannot be committed.
        r = d.ctl("clock", "advance", "2d")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(d.status()["now"], now)

        self.full(False)
        r, res = ingest_events(d, batch)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual([x["status"] for x in res], ["ok", "ok"])   # not "duplicate"
        r = d.ctl("clock", "advance", "2d")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(d.status()["accounts"], 2)
        self.assertIsNone(d.proc.poll())


if __name__ == "__main__":
    unittest.main()
