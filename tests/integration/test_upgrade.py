"""A database written by the previous dunnd (schema version 5) is
migrated by this one, says so in its log, and answers as before.

Version 6 makes the two indexes of open tasks partial (open tasks only).
The test writes a database with this dunnd, turns it back into what
version 5 wrote (the same tables; the two indexes over every task with
the status first), and starts again on it.
"""
import sqlite3
import unittest

from lib import DaemonTest, ingest_events, task_records

T0 = "2026-03-02T09:00:00+08:00"

V5_INDEXES = ("DROP INDEX tasks_open; DROP INDEX tasks_open_type;"
              "CREATE INDEX tasks_open ON tasks(status, priority, feed_seq);"
              "CREATE INDEX tasks_open_type ON tasks(status, type, created);"
              "PRAGMA user_version = 5;")


def events(n):
    out = []
    for i in range(n):
        a = "A%02d" % i
        out.append({"type": "account", "id": a + "-a", "account": a, "name": "Shop " + a,
                    "currency": "CNY", "size": "small",
                    "contacts": [{"role": "owner", "name": "O", "phone": "+86 1"}]})
        out.append({"type": "invoice", "id": a + "-i", "account": a, "invoice": a + "-I",
                    "amount": 1000 * (i + 1), "issued": "2026-02-01",
                    "due": "2026-03-0%d" % (1 + i % 3)})
    return out


class Upgrade(DaemonTest):
    def snapshot(self, d):
        r = d.ctl("metrics")
        self.assertEqual(r.returncode, 0, r.stderr)
        open_lines = sorted(l for l in r.stdout.splitlines()
                            if l.startswith("dunnd_tasks_open{") or
                            l.startswith("dunnd_oldest_open_task_age_seconds "))
        self.assertEqual(len(open_lines), 1 + len([l for l in r.stdout.splitlines()
                                                   if l.startswith("dunnd_tasks_open{")]))
        return (task_records(d, "--open"), task_records(d), d.accounts(), open_lines)

    def test_version_5_database_is_migrated(self):
        d = self.daemon(clock=T0).start()
        r, _ = ingest_events(d, events(12))
        self.assertEqual(r.returncode, 0, r.stderr)
        # Tasks open, cancelled (stage left) and open again.
        self.assertEqual(d.ctl("clock", "advance", "2d").returncode, 0)
        before = self.snapshot(d)
        statuses = {t["status"] for t in before[1]}
        self.assertEqual(statuses, {"open", "cancelled"})
        nopen = len(before[0])
        self.assertGreater(nopen, 0)
        self.assertEqual(d.stop(), 0)

        db = sqlite3.connect(d.db)
        self.assertEqual(db.execute("PRAGMA user_version").fetchone()[0], 6)
        db.executescript(V5_INDEXES)
        db.close()

        d.start()
        log = d.log()
        self.assertIn("store: schema migrated to version 6", log)
        self.assertIn("store: the indexes of open tasks rebuilt for open tasks only (%d rows)"
                      % nopen, log)
        db = sqlite3.connect(d.db)
        sql = dict(db.execute("SELECT name, sql FROM sqlite_master WHERE name LIKE 'tasks_open%'"))
        self.assertEqual(db.execute("PRAGMA user_version").fetchone()[0], 6)
        db.close()
        self.assertTrue(sql["tasks_open"].endswith("WHERE status = 'open'"), sql)
        self.assertTrue(sql["tasks_open_type"].endswith("WHERE status = 'open'"), sql)
        self.assertEqual(self.snapshot(d), before)

        # Work goes on: the next midnights cancel and open tasks as before.
        self.assertEqual(d.ctl("clock", "advance", "3d").returncode, 0)
        after = task_records(d, "--open")
        every = task_records(d)
        self.assertEqual(sorted(t["task"] for t in after),
                         sorted(t["task"] for t in every if t["status"] == "open"))


if __name__ == "__main__":
    unittest.main()
