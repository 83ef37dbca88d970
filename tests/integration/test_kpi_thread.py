"""report kpi runs in a thread of its own (targets.md P12: no event
refused meanwhile, other clients not kept waiting).

dunnd runs with tests/fault/hold.c preloaded (built by make into
BUILD/tests/libhold.so): a thread started while a flag file exists waits
until the file is gone, and says so by creating FLAG.held.  So a report
is held for as long as the test needs, deterministically, and:

* an ingest round trip, status and the feed complete while it is held,
  and the report has not answered meanwhile;
* once released, the report answers from the database as it was when it
  started (the snapshot): the invoice ingested meanwhile is not in it,
  the next report has it;
* a client that goes away during a report leaves the daemon serving;
* SIGTERM during a report: the report's client gets "shutting down",
  dunnd stops cleanly (exit 0) once the thread is done.

Skipped under valgrind (the shim would wrap valgrind itself).
"""
import json
import os
import signal
import subprocess
import time
import unittest

from lib import BUILD, DUNNCTL, WRAPPER, DaemonTest, ingest_events
from test_kpi import CNY_USD, by_key

SHIM = os.path.join(BUILD, "tests", "libhold.so")
LATE_INVOICE = {"type": "invoice", "id": "i9", "account": "A", "invoice": "I9", "amount": 5000,
                "issued": "2026-04-12", "due": "2026-05-12"}


@unittest.skipIf(WRAPPER, "the shim cannot be preloaded under valgrind")
class KpiThread(DaemonTest):
    def setUp(self):
        super().setUp()
        self.assertTrue(os.path.exists(SHIM), "build the shim: make " + SHIM)
        self.flag = os.path.join(self.tmp, "hold")
        self.d = self.daemon(clock="2026-04-15T09:00:00+08:00")
        env = {"LD_PRELOAD": SHIM, "DUNND_HOLD_FLAG": self.flag,
               "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"}
        self.d.start(env=env)
        r, _ = ingest_events(self.d, CNY_USD)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def held_report(self):
        """Starts `report kpi` with its thread held; returns the client."""
        open(self.flag, "w").close()
        p = subprocess.Popen([DUNNCTL, "-s", self.d.sock, "--json", "report", "kpi",
                              "--months", "3"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 20
        while not os.path.exists(self.flag + ".held"):
            self.assertLess(time.monotonic(), deadline, "the report's thread never started")
            self.assertIsNone(p.poll(), "the report answered before its thread ran")
            time.sleep(0.01)
        return p

    def release(self):
        os.unlink(self.flag)

    def test_ingest_and_reads_served_while_a_report_runs(self):
        d = self.d
        p = self.held_report()
        try:
            t0 = time.monotonic()
            r, res = ingest_events(d, [LATE_INVOICE])
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertEqual([x["status"] for x in res], ["ok"])
            self.assertEqual(d.status()["accounts"], 2)
            r = d.ctl("--json", "feed", "--from", "0")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertLess(time.monotonic() - t0, 15)
            # The report is still held: it has not answered.
            self.assertIsNone(p.poll())
        finally:
            self.release()
        out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0, err)
        held = by_key([json.loads(l) for l in out.splitlines()])
        # The snapshot of its start: April's E without I9 (70000 as in
        # test_kpi's worked example), S of April 0.
        self.assertEqual((held[("2026-04", "CNY")]["E"], held[("2026-04", "CNY")]["S"]),
                         (70000, 0))
        r, recs = d.ctl_json("report", "kpi", "--months", "3")
        self.assertEqual(r.returncode, 0, r.stderr)
        now = by_key(recs)
        self.assertEqual((now[("2026-04", "CNY")]["E"], now[("2026-04", "CNY")]["S"]),
                         (75000, 5000))
        self.assertEqual(now[("2026-03", "CNY")], held[("2026-03", "CNY")])
        self.assertEqual(d.stop(), 0, d.log()[-3000:])
        self.assertNotIn("Sanitizer", d.log())

    def test_a_client_gone_during_a_report(self):
        d = self.d
        p = self.held_report()
        p.kill()
        p.wait()
        self.release()
        time.sleep(0.3)
        self.assertEqual(d.status()["accounts"], 2)
        r, recs = d.ctl_json("report", "kpi", "--months", "3")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(recs), 6)
        self.assertEqual(d.stop(), 0, d.log()[-3000:])
        self.assertNotIn("Sanitizer", d.log())

    def test_sigterm_during_a_report(self):
        d = self.d
        p = self.held_report()
        d.proc.send_signal(signal.SIGTERM)
        # The client hears of the stop at once; dunnd waits for the thread.
        out, err = p.communicate(timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("shutting down", out + err)
        time.sleep(0.2)
        self.assertIsNone(d.proc.poll(), "dunnd exited with the report's thread running")
        self.release()
        self.assertEqual(d.proc.wait(30), 0, d.log()[-2000:])
        self.assertIn("dunnd: stopped", d.log())
        self.assertNotIn("Sanitizer", d.log())


if __name__ == "__main__":
    unittest.main()
