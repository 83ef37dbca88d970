"""A database written by an earlier dunnd (schema versions 5 to 8) is
migrated by this one, says so in its log, and answers as before.

Version 6 makes the two indexes of open tasks partial (open tasks only);
version 7 keys the tasks table by task number (a rowid table) instead
of by the id's text; version 8 keeps the part of an account's state that
evaluation changes in a table of its own (acct_eval), where version 7
saved each account's state whole in its accounts row; version 9 takes the
status out of the indexes of tasks by account and by creation and adds
one of the done tasks.  The test writes a database with this dunnd,
turns it back into what version 8 (or 7, 6, 5) wrote, and starts again
on it.
"""
import sqlite3
import unittest

from lib import TASKS_AS_V6, DaemonTest, ingest_events, state_as_v7, task_records

T0 = "2026-03-02T09:00:00+08:00"

V6_TASKS = TASKS_AS_V6 + "PRAGMA user_version = 6;"
# Version 8's indexes of tasks by account and by creation, with status.
V8_INDEXES = ("DROP INDEX tasks_account; DROP INDEX tasks_created; DROP INDEX tasks_done;"
              "CREATE INDEX tasks_account ON tasks(account, status);"
              "CREATE INDEX tasks_created ON tasks(created, status, account);"
              "PRAGMA user_version = 8;")
# And version 5's indexes of open tasks, over every task, status first.
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

    def older(self, version):
        """A database as dunnd of version wrote it, with open, cancelled
        and done tasks; the answers it gave then."""
        d = self.daemon(clock=T0).start()
        r, _ = ingest_events(d, events(12))
        self.assertEqual(r.returncode, 0, r.stderr)
        # Tasks open, cancelled (stage left) and open again; one done.
        self.assertEqual(d.ctl("clock", "advance", "2d").returncode, 0)
        first = task_records(d, "--open")[0]["task"]
        r, _ = ingest_events(d, [{"type": "outcome", "id": "o-1", "task": first,
                                  "result": "no_answer", "at": "2026-03-04T09:00:00+08:00"}])
        self.assertEqual(r.returncode, 0, r.stderr)
        before = self.snapshot(d)
        statuses = {t["status"] for t in before[1]}
        self.assertEqual(statuses, {"open", "cancelled", "done"})
        self.assertEqual(d.stop(), 0)

        db = sqlite3.connect(d.db)
        self.assertEqual(db.execute("PRAGMA user_version").fetchone()[0], 9)
        db.executescript(V8_INDEXES)
        if version <= 7:
            state_as_v7(db)
            db.executescript("PRAGMA user_version = 7;")
        if version <= 6:
            db.executescript(V6_TASKS)
        if version == 5:
            db.executescript(V5_INDEXES)
        db.close()
        return d, before

    def split_states(self, d):
        """The accounts whose state is saved in two parts, after checking
        that every other one is saved whole (state version 4)."""
        db = sqlite3.connect(d.db)
        rows = db.execute("SELECT a.id, substr(a.state, 1, 1), e.id IS NOT NULL"
                          " FROM accounts a LEFT JOIN acct_eval e ON e.id = a.id").fetchall()
        db.close()
        for acct, version, split in rows:
            self.assertEqual(version, b"\x05" if split else b"\x04", acct)
        return sorted(acct for acct, _, split in rows if split)

    def check_migrated(self, d, before):
        db = sqlite3.connect(d.db)
        self.assertEqual(db.execute("PRAGMA user_version").fetchone()[0], 9)
        sql = dict(db.execute("SELECT name, sql FROM sqlite_master WHERE name LIKE 'tasks%'"))
        self.assertEqual(db.execute("PRAGMA integrity_check").fetchone()[0], "ok")
        db.close()
        self.assertIn("num INTEGER PRIMARY KEY", sql["tasks"])
        self.assertTrue(sql["tasks_open"].endswith("WHERE status = 'open'"), sql)
        self.assertTrue(sql["tasks_open_type"].endswith("WHERE status = 'open'"), sql)
        self.assertTrue(sql["tasks_done"].endswith("WHERE status = 'done'"), sql)
        self.assertIn("tasks(account, feed_seq)", sql["tasks_account"])
        self.assertIn("tasks(created, account)", sql["tasks_created"])
        self.assertEqual(sorted(sql), ["tasks", "tasks_account", "tasks_created", "tasks_done",
                                       "tasks_open", "tasks_open_type", "tasks_seq"])
        self.assertEqual(self.snapshot(d), before)

        # Work goes on: the next midnights cancel and open tasks as before,
        # numbered on from the last one; outcomes find their tasks.
        last = max(int(t["task"][2:]) for t in before[1])
        self.assertEqual(d.ctl("clock", "advance", "3d").returncode, 0)
        after = task_records(d, "--open")
        every = task_records(d)
        self.assertEqual(sorted(t["task"] for t in after),
                         sorted(t["task"] for t in every if t["status"] == "open"))
        new = sorted(int(t["task"][2:]) for t in every if int(t["task"][2:]) > last)
        self.assertGreater(len(new), 0)
        self.assertEqual(new, list(range(last + 1, last + 1 + len(new))))
        task = after[0]["task"]
        r, _ = ingest_events(d, [{"type": "outcome", "id": "o-2", "task": task,
                                  "result": "paid", "at": "2026-03-07T08:00:00+08:00"}])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([t["status"] for t in task_records(d) if t["task"] == task], ["done"])
        # An id dunnd would not write is no task (T-1 is not T-000001).
        r, out = ingest_events(d, [{"type": "outcome", "id": "o-3", "task": "T-" + task[2:].lstrip("0"),
                                    "result": "paid", "at": "2026-03-07T08:00:00+08:00"}])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("unknown task", r.stdout + r.stderr)

        # Each account saved since is saved in two parts; a restart reads
        # them, and the accounts still saved whole, as they were.
        self.assertGreater(len(self.split_states(d)), 0)
        now = self.snapshot(d)
        self.assertEqual(d.stop(), 0)
        d.start()
        self.assertEqual(self.snapshot(d), now)
        self.assertEqual(d.ctl("clock", "advance", "30d").returncode, 0)
        self.assertEqual(len(self.split_states(d)), len(before[2]))
        now = self.snapshot(d)
        self.assertEqual(d.stop(), 0)
        d.start()
        self.assertEqual(self.snapshot(d), now)

    def start_migrating(self, d, version):
        """Starts d on a database of version - 1: this start's log, which
        says it migrated to version and nothing before."""
        d.start()
        log = d.log().split("dunnd: stopped")[-1]
        self.assertIn("store: schema migrated to version %d" % version, log)
        self.assertNotIn("schema migrated to version %d" % (version - 1), log)
        return log

    def test_a_refused_batch_on_an_account_saved_whole_then_a_night(self):
        """An account an earlier dunnd saved whole, touched by a refused
        batch and then moved by a night (its evaluation part only): both
        parts are written, and the next start reads it (review finding:
        the refusal's restore forgot that its row was still whole)."""
        d, before = self.older(7)
        d.start()
        r, _ = ingest_events(d, [
            {"type": "payment", "id": "p-x", "account": "A00", "amount": 10,
             "at": "2026-03-04T09:00:00+08:00"},
            {"type": "payment", "id": "p-y", "account": "A00"}])
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(d.ctl("clock", "advance", "5d").returncode, 0)
        self.assertIn("A00", self.split_states(d))
        now = self.snapshot(d)
        self.assertEqual(d.stop(), 0)
        d.start()
        self.assertEqual(self.snapshot(d), now)

    def test_version_8_database_is_migrated(self):
        d, before = self.older(8)
        log = self.start_migrating(d, 9)
        self.assertIn("store: the indexes of tasks by account and by creation rebuilt without "
                      "their status (%d rows)" % len(before[1]), log)
        self.check_migrated(d, before)

    def test_version_7_database_is_migrated(self):
        d, before = self.older(7)
        db = sqlite3.connect(d.db)
        self.assertEqual(db.execute("SELECT DISTINCT substr(state, 1, 1) FROM accounts").fetchall(),
                         [(b"\x04",)])
        db.close()
        log = self.start_migrating(d, 8)
        self.assertIn("store: accounts' evaluation state moved to a table of its own "
                      "(acct_eval), each account at its next save (%d rows)" % len(before[2]), log)
        self.check_migrated(d, before)

    def test_version_6_database_is_migrated(self):
        d, before = self.older(6)
        d.start()
        log = d.log()
        self.assertIn("store: schema migrated to version 7", log)
        self.assertIn("store: the tasks table rebuilt keyed by task number (%d rows)"
                      % len(before[1]), log)
        self.check_migrated(d, before)

    def test_version_5_database_is_migrated(self):
        d, before = self.older(5)
        d.start()
        log = d.log()
        self.assertIn("store: schema migrated to version 6", log)
        self.assertIn("store: the indexes of open tasks rebuilt for open tasks only (%d rows)"
                      % len(before[0]), log)
        self.assertIn("store: schema migrated to version 7", log)
        self.check_migrated(d, before)

if __name__ == "__main__":
    unittest.main()
