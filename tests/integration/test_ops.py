"""Operator safety (issue 28): the clock that cannot run ahead (§6), file
modes, the audit log, dunnd --check resolving users and groups, the
convenience commands of dunnctl (§7) and its conventions."""
import datetime
import json
import os
import stat
import subprocess
import unittest

from lib import (DUNND, DUNNCTL, WRAPPER, DaemonTest, account_records,
                 ingest_events, task_records)

TZ = datetime.timezone(datetime.timedelta(hours=8))

ACCOUNT = {"type": "account", "id": "a1", "account": "A", "name": "A Co",
           "currency": "CNY", "size": "small", "tags": ["key_account"]}


class ClockAhead(DaemonTest):
    def run_once_in_future(self, d, days):
        future = (datetime.datetime.now(TZ) + datetime.timedelta(days=days)).replace(
            microsecond=0)
        d.clock = future.isoformat()
        d.start()
        self.assertEqual(d.stop(), 0)
        d.clock = None

    def test_refused_two_days_ahead_then_overridden(self):
        d = self.daemon()
        self.run_once_in_future(d, 2)
        p = d.spawn()
        rc = p.wait(60)
        self.assertEqual(rc, 1, d.log()[-2000:])
        log = d.log()
        self.assertIn("ahead of the system time", log)
        self.assertIn("--clock-ahead-ok", log)
        self.assertRegex(log, r"is 1d 23h \d+m \(\d+ s\) ahead|is 2d 0h 0m")
        self.assertFalse(os.path.exists(d.sock))
        # The override: it runs on from the stored position.
        d.start(extra=["--clock-ahead-ok"])
        st = d.status()
        self.assertEqual(st["clock"], "wall")
        self.assertGreater(st["clock_ahead"], 2 * 86400 - 600)
        self.assertLessEqual(st["clock_ahead"], 2 * 86400)
        r = d.ctl("status")
        self.assertIn("clock ahead", r.stdout)
        self.assertEqual(d.stop(), 0)

    def test_up_to_an_hour_ahead_starts(self):
        d = self.daemon()
        self.run_once_in_future(d, 0.5 / 24)
        d.start()
        st = d.status()
        self.assertGreater(st["clock_ahead"], 0)
        self.assertLessEqual(st["clock_ahead"], 1800)

    def test_clock_ahead_zero_when_not(self):
        d = self.daemon(clock=None).start()
        self.assertEqual(d.status()["clock_ahead"], 0)


if __name__ == "__main__":
    unittest.main()
