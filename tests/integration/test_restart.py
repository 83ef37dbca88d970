"""Restart equality (#11): the state loaded from SQLite at start gives the
same facts, verdicts, cadence and alert state as the state before the
stop — checked through `explain --json` of every account, `accounts`,
`tasks` and the feed, then by moving the clock on both sides of a
restart and comparing what each produces."""
import os
import shutil
import signal
import unittest

from lib import DaemonTest, ingest_events, feed_records, account_records, task_records
from test_eval import EXAMPLE_RULES, account, invoice, payment, promise

T0 = "2026-03-02T09:00:00+08:00"


def portfolio():
    ev = []
    for i, (size, due) in enumerate([("small", "2026-02-10"), ("medium", "2026-02-27"),
                                     ("large", "2026-03-04"), ("medium", "2025-12-30")]):
        a = "R-%d" % i
        ev.append(account("a%d" % i, a, size, risk="ABCDE"[i]))
        for k in range(4):
            ev.append(invoice("i%d-%d" % (i, k), a, "%s-%d" % (a, k), 10000 * (k + 1),
                              "2025-%02d-01" % (k + 7), "2025-%02d-20" % (k + 8)))
        ev.append(invoice("j%d" % i, a, a + "-late", 77700, "2025-12-01", due))
        # Settle the first three invoices, the later ones later and later.
        for k in range(3):
            ev.append(payment("p%d-%d" % (i, k), a, 10000 * (k + 1),
                              "2025-%02d-%02dT10:00:00+08:00" % (k + 8, 20 + k * i),
                              invoice="%s-%d" % (a, k)))
    ev.append(promise("pr1", "R-0", 5000, "2026-03-05", "2026-03-01T10:00:00+08:00"))
    ev.append(promise("pr2", "R-3", 50000, "2026-02-20", "2026-02-10T10:00:00+08:00"))
    ev.append({"type": "dispute", "id": "d1", "account": "R-1", "invoice": "R-1-late",
               "amount": 700, "reason": "short delivery", "at": "2026-03-01T10:00:00+08:00"})
    ev.append({"type": "payment", "id": "x1", "account": "R-2", "amount": 200000,
               "allow_credit_balance": True, "at": "2026-03-02T08:00:00+08:00"})
    ev.append({"type": "reversal", "id": "rv1", "account": "R-2", "event": "x1",
               "at": "2026-03-02T08:30:00+08:00", "reason": "bounced"})
    return ev


class RestartEquality(DaemonTest):
    def snapshot(self, d):
        ids = sorted(account_records(d))
        explains = {}
        for a in ids:
            r, recs = d.ctl_json("explain", a)
            self.assertEqual(r.returncode, 0, r.stderr)
            explains[a] = recs[0]
        return (explains, account_records(d), task_records(d), feed_records(d))

    def run_days(self, d, n):
        for _ in range(n):
            r = d.ctl("clock", "advance", "1d")
            self.assertEqual(r.returncode, 0, r.stderr)
        return self.snapshot(d)

    def test_state_after_restart_equals_state_before(self):
        d = self.daemon(rules=EXAMPLE_RULES, clock=T0).start()
        r, recs = ingest_events(d, portfolio())
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.run_days(d, 3)[3], feed_records(d))
        before = self.snapshot(d)
        self.assertTrue(before[3], "the portfolio produced no feed at all")
        # A copy of the database, to run the same days without a restart.
        self.assertEqual(d.stop(), 0)
        twin = self.daemon(sub="twin", rules=EXAMPLE_RULES, clock=T0)
        for f in os.listdir(d.tmp):
            if f.startswith("dunnd.db"):
                shutil.copy(os.path.join(d.tmp, f), os.path.join(twin.tmp, f))
        d.start()
        self.assertEqual(self.snapshot(d), before)
        # kill -9 and start again: the same.
        d.stop(signal.SIGKILL)
        d.start()
        self.assertEqual(self.snapshot(d), before)
        # 40 more days here and on the twin give the same feed and facts.
        twin.start()
        self.assertEqual(self.run_days(d, 40), self.run_days(twin, 40))


if __name__ == "__main__":
    unittest.main()
