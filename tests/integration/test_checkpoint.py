"""The WAL checkpointer (interfaces.md §2.4; targets.md P2, R1).

dunnd's own connection never checkpoints (autocheckpoint off); a thread
with its own connection copies the WAL back into the database file,
every 10 ms while the WAL grows and at least every 100 ms.  Under steady ingest with pauses, while dunnd runs:

* the database file grows (pages reach it before any clean stop);
* the WAL stays bounded: it is started over after each checkpoint, so it
  never holds much more than the batches of one pause-free stretch.

Before the fix the checkpointer's connection had never read, so its
pager had not opened the WAL and each checkpoint copied nothing: the
database stayed at 4096 bytes and the WAL grew with every batch.
"""
import os
import time
import unittest

from lib import DaemonTest, ingest_events

BATCHES = 8
PER_BATCH = 150


def batch(b):
    ev = []
    for k in range(PER_BATCH):
        a = "C%02d-%04d" % (b, k)
        ev.append({"type": "account", "id": "a." + a, "account": a, "name": "Customer " + a,
                   "currency": "CNY", "size": "small"})
        ev.append({"type": "invoice", "id": "i." + a, "account": a, "invoice": "I." + a,
                   "amount": 1000 + k, "issued": "2026-02-01", "due": "2026-02-20"})
    return ev


def size(path):
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0


class Checkpoint(DaemonTest):
    def wait_checkpointed(self, d, deadline=10.0):
        """Waits (bounded) until the database file has grown past what
        it was; returns its size."""
        before = size(d.db)
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if size(d.db) > before:
                return size(d.db)
            time.sleep(0.05)
        return size(d.db)

    def test_database_grows_and_wal_stays_bounded(self):
        d = self.daemon().start()
        wal = d.db + "-wal"
        db0 = size(d.db)
        r, res = ingest_events(d, batch(0))
        self.assertEqual(r.returncode, 0, r.stderr)
        one = size(wal)                     # the WAL after one batch
        self.assertGreater(one, 0)
        db1 = self.wait_checkpointed(d)
        self.assertGreater(db1, db0, "no checkpoint copied the first batch (db %d bytes, wal %d)"
                           % (db1, size(wal)))
        walmax = one
        for b in range(1, BATCHES):
            r, res = ingest_events(d, batch(b))
            self.assertEqual(r.returncode, 0, r.stderr)
            walmax = max(walmax, size(wal))
            time.sleep(0.6)                 # a pause: the checkpointer runs within 100 ms
        self.assertIsNone(d.proc.poll())
        dbn = size(d.db)
        # The database holds the later batches too (read while dunnd runs).
        self.assertGreater(dbn, db1 * 3, "database %d bytes after %d batches" % (dbn, BATCHES))
        # Without checkpoints the WAL would hold all BATCHES batches.
        self.assertLess(walmax, one * 3, "WAL grew to %d bytes (one batch: %d)" % (walmax, one))
        self.assertEqual(d.status()["accounts"], BATCHES * PER_BATCH)


if __name__ == "__main__":
    unittest.main()
