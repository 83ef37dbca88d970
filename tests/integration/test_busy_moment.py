"""A busy moment: thousands of accounts due at one instant (engine.c's
bulk path, taken when at least 4,096 accounts and a sixteenth of the
heap are due at exactly that instant).

Invariant 2 of the engine, and what a feed reader sees (§5): the
accounts due at one moment are evaluated in id order, each account's
records together (its transition, then the cancel of the task it
leaves, then its new stage's task).  The accounts are ingested in a
shuffled order, so creation order is not id order.
"""
import random
import re
import unittest

from lib import DaemonTest, feed_records, ingest_events

T0 = "2026-03-02T09:00:00+08:00"  # a Monday
BUSY = 6000  # due 03-02: overdue at 03-03 00:00, all at once
QUIET = 120  # due 03-20: nothing moves them at that midnight


def portfolio():
    ids = ["B%05d" % i for i in range(BUSY)] + ["Q%05d" % i for i in range(QUIET)]
    random.Random(7).shuffle(ids)
    events = []
    for i in ids:
        due = "2026-03-02" if i.startswith("B") else "2026-03-20"
        events.append({"type": "account", "id": i + "-a", "account": i, "name": "Shop " + i,
                       "currency": "CNY", "size": "small",
                       "contacts": [{"role": "owner", "name": "O " + i, "phone": "+86 1"}]})
        events.append({"type": "invoice", "id": i + "-i", "account": i, "invoice": i + "-INV",
                       "amount": 1000, "issued": "2026-02-01", "due": due})
    return events


class BusyMoment(DaemonTest):
    def test_midnight_of_thousands_in_id_order(self):
        d = self.daemon(clock=T0)
        d.start()
        ingest_events(d, portfolio())
        head = d.status()["feed_head"]
        r = d.ctl("clock", "advance", "1d")
        self.assertEqual(r.returncode, 0, r.stderr)
        recs = feed_records(d, head)
        midnight = "2026-03-03T00:00:00+08:00"
        # B accounts: reminder (due-soon at T0) -> negotiation at midnight.
        trans = [x for x in recs if x["kind"] == "transition"]
        self.assertEqual(len(trans), BUSY)
        self.assertEqual([x["account"] for x in trans],
                         ["B%05d" % i for i in range(BUSY)])
        self.assertTrue(all(x["at"] == midnight and x["to"] == "negotiation" for x in trans))
        # ... by the bulk path (the log says so at debug level): every
        # B account is due at that midnight.  The Q accounts are not:
        # their days_to_due changes, but no condition's truth does
        # until 03-17 (due-soon: days_to_due <= 3), so they are not
        # woken (eval_next_wake()).
        bulk = [int(n) for n in re.findall(
            r"engine: (\d+) accounts due at one moment, taken in id order", d.log())]
        self.assertEqual(bulk, [BUSY])
        # Each account's records together: transition, cancel, task.
        by_pos = [(x["kind"], x["account"]) for x in recs]
        for n, i in enumerate(range(BUSY)):
            acc = "B%05d" % i
            self.assertEqual(by_pos[3 * n:3 * n + 3],
                             [("transition", acc), ("cancel", acc), ("task", acc)])
        self.assertEqual(len(recs), 3 * BUSY)
        self.assertEqual([x["seq"] for x in recs], list(range(head + 1, head + 1 + len(recs))))
        calls = [x for x in recs if x["kind"] == "task"]
        self.assertTrue(all(x["type"] == "call" and x["script"] == "ask"
                            and x["created"] == midnight for x in calls))

        # The second call step (after 3d) falls due for all at one instant
        # too: 03-06 00:00, again in id order (the Q accounts stay current:
        # due-soon only from 03-18).
        head = d.status()["feed_head"]
        r = d.ctl("clock", "set", "2026-03-06T09:00:00+08:00")
        self.assertEqual(r.returncode, 0, r.stderr)
        recs = feed_records(d, head)
        self.assertEqual([(x["kind"], x["account"], x["script"], x["created"]) for x in recs],
                         [("task", "B%05d" % i, "firm", "2026-03-06T00:00:00+08:00")
                          for i in range(BUSY)])
        bulk = [int(n) for n in re.findall(
            r"engine: (\d+) accounts due at one moment, taken in id order", d.log())]
        # The midnights of 03-03 and 03-06, the second with the firm
        # calls; at 03-04 and 03-05 days_overdue moves for the B accounts
        # but no condition's truth does: nobody is woken.
        self.assertEqual(bulk, [BUSY, BUSY])


        # A restart finds the same stages (each account's state saved once).
        accts = d.accounts()
        d.stop()
        d.start()
        self.assertEqual(d.accounts(), accts)
        self.assertEqual(sum(a["stage"] == "negotiation" for a in accts.values()), BUSY)


if __name__ == "__main__":
    unittest.main()
