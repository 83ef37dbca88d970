"""A database written by an earlier dunnd (schema versions 5 to 9) is
migrated by this one, says so in its log, and answers as before.

Version 6 makes the two indexes of open tasks partial (open tasks only);
version 7 keys the tasks table by task number (a rowid table) instead
of by the id's text; version 8 keeps the part of an account's state that
evaluation changes in a table of its own (acct_eval), where version 7
saved each account's state whole in its accounts row; version 9 takes the
status out of the indexes of tasks by account and by creation and adds
one of the done tasks; version 10 keeps each account's money history
(payments, credits and upheld amounts with their applications and
promise contributions) in one ledger row, where version 9 had a row per
payment, application and contribution, and drops the promises and
disputes tables.  The test writes a database with this dunnd, turns it
back into what version 9 (or 8, 7, 6, 5) wrote, and starts again on it.
"""
import os
import signal
import socket
import sqlite3
import unittest

from lib import (TASKS_AS_V6, DaemonTest, ingest_events, ledger_as_v9, ledger_entries,
                 state_as_v7, task_records)

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
    return out + MONEY


AT1 = "2026-03-01T10:00:00+08:00"
AT2 = "2026-03-02T08:00:00+08:00"
# Money for the ledgers: a payment applied to two invoices (A00), one
# counted towards two promises (A01), one left as credit (A02), money
# counted by a later promise (A03), an upheld amount (A04), a credit
# (A05).
MONEY = [
    {"type": "invoice", "id": "A00-i2", "account": "A00", "invoice": "A00-I2", "amount": 1000,
     "issued": "2026-02-01", "due": "2026-03-20"},
    {"type": "payment", "id": "p-A00", "account": "A00", "amount": 1500, "at": AT1},
    {"type": "promise", "id": "pr-A01-1", "account": "A01", "amount": 500, "due": "2026-03-10",
     "at": AT1},
    {"type": "promise", "id": "pr-A01-2", "account": "A01", "amount": 500, "due": "2026-03-12",
     "at": AT1},
    {"type": "payment", "id": "p-A01", "account": "A01", "amount": 800, "at": AT2},
    {"type": "payment", "id": "p-A02", "account": "A02", "amount": 4000, "at": AT1,
     "allow_credit_balance": True},
    {"type": "payment", "id": "p-A03", "account": "A03", "amount": 1000,
     "at": "2026-02-20T10:00:00+08:00"},
    {"type": "promise", "id": "pr-A03", "account": "A03", "amount": 1500, "due": "2026-03-05",
     "at": "2026-02-19T10:00:00+08:00"},
    {"type": "dispute", "id": "d-A04", "account": "A04", "invoice": "A04-I", "amount": 2000,
     "reason": "goods damaged", "at": AT1},
    {"type": "dispute_resolved", "id": "dr-A04", "account": "A04", "invoice": "A04-I",
     "upheld_amount": 2000, "at": AT2},
    {"type": "credit", "id": "c-A05", "account": "A05", "invoice": "A05-I", "amount": 500,
     "at": AT1},
]

# After a migration: what reads the ledgers back.  Credit taken by a new
# invoice, then its payment reversed; reversals of money applied to two
# invoices and of money counted towards a kept and a pending promise; a
# promise that counts an earlier credit, which is then reversed.
AT3 = "2026-03-04T08:00:00+08:00"
LATER = [
    {"type": "invoice", "id": "A02-i2", "account": "A02", "invoice": "A02-I2", "amount": 600,
     "issued": "2026-03-01", "due": "2026-03-25"},
    {"type": "reversal", "id": "r-A02", "account": "A02", "event": "p-A02", "at": AT3},
    {"type": "reversal", "id": "r-A00", "account": "A00", "event": "p-A00", "at": AT3},
    {"type": "reversal", "id": "r-A01", "account": "A01", "event": "p-A01", "at": AT3},
    {"type": "promise", "id": "pr-A05", "account": "A05", "amount": 300, "due": "2026-03-08",
     "at": "2026-02-28T10:00:00+08:00"},
    {"type": "reversal", "id": "r-A05", "account": "A05", "event": "c-A05", "at": AT3},
    {"type": "payment", "id": "p-A03-2", "account": "A03", "amount": 200, "at": AT3},
]


def ledgers(db):
    """Every ledger, decoded, with each money's promise contributions in
    promise order (the order of a pair's rows is not kept by version 9)."""
    out = {}
    for account, data in db.execute("SELECT account, data FROM ledger"):
        out[account] = ledger_entries(data)
        for m in out[account]:
            m["pms"].sort()
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

    def history(self, d):
        """The portfolio and two days of it; the first open task then."""
        r, _ = ingest_events(d, events(12))
        self.assertEqual(r.returncode, 0, r.stderr)
        # Tasks open, cancelled (stage left) and open again; one done.
        self.assertEqual(d.ctl("clock", "advance", "2d").returncode, 0)
        first = task_records(d, "--open")[0]["task"]
        r, out = ingest_events(d, [{"type": "outcome", "id": "o-1", "task": first,
                                    "result": "no_answer", "at": "2026-03-04T09:00:00+08:00"}])
        self.assertEqual(r.returncode, 0, out)

    def older(self, version):
        """A database as dunnd of version wrote it, with open, cancelled
        and done tasks; the answers it gave then."""
        d = self.daemon(clock=T0).start()
        self.history(d)
        before = self.snapshot(d)
        statuses = {t["status"] for t in before[1]}
        self.assertEqual(statuses, {"open", "cancelled", "done"})
        self.assertEqual(d.stop(), 0)

        db = sqlite3.connect(d.db)
        self.assertEqual(db.execute("PRAGMA user_version").fetchone()[0], 10)
        self.ledgers = ledgers(db)
        self.assertEqual(len(self.ledgers), 6)
        ledger_as_v9(db)
        if version <= 8:
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
        self.assertEqual(db.execute("PRAGMA user_version").fetchone()[0], 10)
        sql = dict(db.execute("SELECT name, sql FROM sqlite_master WHERE name LIKE 'tasks%'"))
        self.assertEqual(db.execute("PRAGMA integrity_check").fetchone()[0], "ok")
        # The money rows are one ledger per account again, as this dunnd
        # wrote them; the tables they were in are gone.
        self.assertEqual(ledgers(db), self.ledgers)
        tables = {n for n, in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        self.assertFalse(tables & {"money", "applications", "promise_money", "promises",
                                   "disputes"}, tables)
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
        # All but A02 at most, which nothing changes: paid, a credit left.
        self.assertLessEqual(set(before[2]) - set(self.split_states(d)), {"A02"})
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

    def test_version_9_database_is_migrated(self):
        d, before = self.older(9)
        log = self.start_migrating(d, 10)
        self.assertIn("store: payments, credits and their applications kept per account "
                      "(ledger); tables money, applications, promise_money, promises and "
                      "disputes dropped (6 rows)", log)
        self.check_migrated(d, before)

    def notify_start(self, d):
        """Starts d with a NOTIFY_SOCKET: the messages up to READY=1."""
        path = os.path.join(d.tmp, "notify-%d.sock" % len(os.listdir(d.tmp)))
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        ns.bind(path)
        ns.settimeout(60)
        self.addCleanup(ns.close)
        d.start(env={"NOTIFY_SOCKET": path})
        msgs = []
        while not any("READY=1" in m for m in msgs):
            msgs.append(ns.recv(4096).decode())
        return msgs

    def test_a_migration_extends_the_systemd_start_timeout(self):
        """A start that migrates says so in its log and tells systemd to
        wait (a version-10 migration of 1 M accounts takes about a
        minute, systemd's default start timeout is 90 s); one that does
        not migrate does neither."""
        d, _ = self.older(9)
        msgs = self.notify_start(d)
        first = msgs[0]
        self.assertIn("EXTEND_TIMEOUT_USEC=1800000000", first)
        self.assertIn("STATUS=migrating the database from schema version 9 to 10", first)
        log = d.log().split("dunnd: stopped")[-1]
        self.assertIn("store: schema version 9, this dunnd's is 10: migrating", log)
        self.assertLess(log.index("migrating"), log.index("schema migrated to version 10"))
        # Killed right after (no checkpoint at stop): the next start
        # reads the new version from the file and announces nothing.
        r, _ = ingest_events(d, [{"type": "payment", "id": "p-k", "account": "A03",
                                  "amount": 5, "at": AT3}])
        self.assertEqual(r.returncode, 0)
        d.stop(signal.SIGKILL)
        self.assertGreater(os.path.getsize(d.db + "-wal"), 0)
        msgs = self.notify_start(d)
        self.assertFalse([m for m in msgs if "migrating" in m], msgs)
        # The log holds every start: the migrating one's line only.
        self.assertEqual(d.log().count("this dunnd's is 10: migrating"), 1)

    def test_money_read_back_after_the_migration(self):
        """Reversals, a new invoice taking credit and a promise counting
        earlier money, on a migrated database, answer as on one that
        never was: accounts, tasks, the ledgers."""
        d, _ = self.older(9)
        self.start_migrating(d, 10)
        control = self.daemon("control", clock=T0).start()
        self.history(control)
        for x in (d, control):
            r, out = ingest_events(x, LATER)
            self.assertEqual(r.returncode, 0, out)
        self.assertEqual(self.snapshot(d), self.snapshot(control))
        # Refused as before: a second reversal, an upheld amount.
        for e in ({"type": "reversal", "id": "r-A00-2", "account": "A00", "event": "p-A00",
                   "at": AT3},
                  {"type": "reversal", "id": "r-A04", "account": "A04", "event": "dr-A04",
                   "at": AT3}):
            r, out = ingest_events(d, [e])
            self.assertNotEqual(r.returncode, 0)
            self.assertRegex(r.stdout + str(out), "already reversed|not an accepted payment or credit")
        self.assertEqual(d.stop(), 0)
        self.assertEqual(control.stop(), 0)
        dbs = [sqlite3.connect(x.db) for x in (d, control)]
        self.assertEqual(ledgers(dbs[0]), ledgers(dbs[1]))
        got = ledgers(dbs[0])
        self.assertTrue(all(m["reversed"] for m in got["A00"]))
        self.assertEqual([m["apps"][0][3] for m in got["A00"]], [1])
        for db in dbs:
            db.close()

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
