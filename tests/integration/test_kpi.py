"""report kpi (§7 KPIs): DSO, CEI, promise-kept rate and roll rates on
small portfolios worked out by hand, a reversal restating a month, the
--json shape, and the charts drawn on a terminal (a pseudo-terminal)."""
import json
import os
import pty
import select
import subprocess
import unittest

from lib import TASKS_AS_V6, DUNNCTL, DaemonTest, ingest_events, ledger_as_v9, state_as_v7, task_records

CNY_USD = [
    {"type": "account", "id": "a-A", "account": "A", "name": "A", "currency": "CNY", "size": "small"},
    {"type": "account", "id": "a-B", "account": "B", "name": "B", "currency": "USD", "size": "small"},
    {"type": "invoice", "id": "i1", "account": "A", "invoice": "I1", "amount": 100000,
     "issued": "2026-01-10", "due": "2026-02-09"},
    {"type": "invoice", "id": "i2", "account": "A", "invoice": "I2", "amount": 50000,
     "issued": "2026-02-05", "due": "2026-03-07"},
    {"type": "invoice", "id": "i3", "account": "A", "invoice": "I3", "amount": 80000,
     "issued": "2026-03-01", "due": "2026-03-31"},
    {"type": "invoice", "id": "j1", "account": "B", "invoice": "J1", "amount": 30000,
     "issued": "2026-03-15", "due": "2026-04-14"},
    # P1 goes to I1 (earliest due): I1 open 40000 from 20 February.
    {"type": "payment", "id": "p1", "account": "A", "amount": 60000, "at": "2026-02-20T10:00:00+08:00"},
    # A credit note on I2: I2 open 40000 from 10 March.
    {"type": "credit", "id": "c1", "account": "A", "invoice": "I2", "amount": 10000,
     "at": "2026-03-10T10:00:00+08:00"},
    # P2 closes I1 (40000) and leaves I2 at 10000.
    {"type": "payment", "id": "p2", "account": "A", "amount": 70000, "at": "2026-03-25T10:00:00+08:00"},
    # P3 closes I2 (10000) and leaves I3 at 70000.
    {"type": "payment", "id": "p3", "account": "A", "amount": 20000, "at": "2026-04-02T10:00:00+08:00"},
]


def by_key(recs):
    return {(r["month"], r["currency"]): r for r in recs}


class Kpi(DaemonTest):
    def kpi(self, d, *args):
        r, recs = d.ctl_json("report", "kpi", *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return recs

    def test_dso_and_cei_by_hand(self):
        d = self.daemon(clock="2026-04-15T09:00:00+08:00").start()
        r, _ = ingest_events(d, CNY_USD)
        self.assertEqual(r.returncode, 0, r.stdout)
        recs = self.kpi(d, "--months", "3")
        # One row per month (oldest first) and currency (in byte order).
        self.assertEqual([(x["month"], x["currency"]) for x in recs],
                         [("2026-02", "CNY"), ("2026-02", "USD"), ("2026-03", "CNY"),
                          ("2026-03", "USD"), ("2026-04", "CNY"), ("2026-04", "USD")])
        k = by_key(recs)
        # February (28 days), CNY.  B = R(31 Jan) = I1 100000.  E = R(28 Feb)
        # = I1 100000 - 60000 + I2 50000 = 90000.  S = I2 50000.  C = the
        # part of E due on or after 28 Feb: I2 50000.
        # dso = 90000 / 50000 * 28 = 50.4; cei = (100000 + 50000 - 90000) /
        # (100000 + 50000 - 50000) = 0.6.
        f = k[("2026-02", "CNY")]
        self.assertEqual((f["B"], f["S"], f["E"], f["C"]), (100000, 50000, 90000, 50000))
        self.assertAlmostEqual(f["dso"], 50.4)
        self.assertAlmostEqual(f["cei"], 0.6)
        # March (31 days): B = 90000; S = I3 80000; E = R(31 Mar) = I1 0 +
        # I2 (50000 - 10000 - 30000) + I3 80000 = 90000; C = I3 80000 (due
        # 31 Mar, not yet past due).  dso = 90000 / 80000 * 31 = 34.875;
        # cei = (90000 + 80000 - 90000) / (170000 - 80000) = 8/9.
        m = k[("2026-03", "CNY")]
        self.assertEqual((m["B"], m["S"], m["E"], m["C"]), (90000, 80000, 90000, 80000))
        self.assertEqual(m["dso"], 34.875)
        self.assertAlmostEqual(m["cei"], 80000 / 90000)
        # April, the current month: E is R(today, 15 April) = I3 70000
        # (P3 took 10000 from I2 and 10000 from I3); no invoice issued, so
        # dso is absent; C = 0 (I3 was due 31 March); cei = (90000 + 0 -
        # 70000) / (90000 + 0 - 0) = 2/9.  Its 70000 are 15 days past due.
        a = k[("2026-04", "CNY")]
        self.assertEqual((a["B"], a["S"], a["E"], a["C"]), (90000, 0, 70000, 0))
        self.assertNotIn("dso", a)
        self.assertAlmostEqual(a["cei"], 20000 / 90000)
        self.assertEqual(a["end"], "2026-04-15")
        self.assertEqual(a["aging"], {"not_due": 0, "in_collection": 70000, "doubtful": 0,
                                      "bad": 0, "dead": 0})
        # USD: nothing in February (every denominator 0: no ratio at all);
        # in March S = E = C = 30000: dso = 31.0, and cei's denominator
        # B + S - C is 0; in April J1 is one day past due: cei = 0.0.
        u = k[("2026-02", "USD")]
        self.assertEqual((u["B"], u["S"], u["E"], u["C"]), (0, 0, 0, 0))
        for key in ("dso", "cei", "promise_kept_rate"):
            self.assertNotIn(key, u)
        u = k[("2026-03", "USD")]
        self.assertEqual(u["dso"], 31.0)
        self.assertNotIn("cei", u)
        u = k[("2026-04", "USD")]
        self.assertEqual(u["cei"], 0.0)
        self.assertEqual(u["aging"]["in_collection"], 30000)

    def test_a_reversal_restates_every_month(self):
        d = self.daemon(clock="2026-04-15T09:00:00+08:00").start()
        ingest_events(d, CNY_USD)
        before = by_key(self.kpi(d, "--months", "3"))
        self.assertEqual(before[("2026-03", "CNY")]["E"], 90000)
        # P2 (25 March) bounces, reported in April: it counts as never
        # applied.  March's E = I1 40000 + I2 40000 + I3 80000 = 160000;
        # P3 stays where it went, so April's E = I1 40000 + I2 30000 + I3
        # 70000 = 140000.  February is unchanged.
        r, _ = ingest_events(d, [{"type": "reversal", "id": "rev-p2", "account": "A",
                                  "event": "p2", "at": "2026-04-10T10:00:00+08:00"}])
        self.assertEqual(r.returncode, 0, r.stdout)
        after = by_key(self.kpi(d, "--months", "3"))
        self.assertEqual(after[("2026-02", "CNY")], before[("2026-02", "CNY")])
        m = after[("2026-03", "CNY")]
        self.assertEqual((m["B"], m["E"], m["C"]), (90000, 160000, 80000))
        self.assertAlmostEqual(m["cei"], (90000 + 80000 - 160000) / (90000 + 80000 - 80000))
        self.assertEqual((after[("2026-04", "CNY")]["B"], after[("2026-04", "CNY")]["E"]),
                         (160000, 140000))

    def test_history_imported_later_counts(self):
        d = self.daemon(clock="2026-04-15T09:00:00+08:00").start()
        ingest_events(d, CNY_USD[:2])
        self.assertEqual(by_key(self.kpi(d, "--months", "3"))[("2026-02", "CNY")]["E"], 0)
        ingest_events(d, CNY_USD[2:])
        self.assertEqual(by_key(self.kpi(d, "--months", "3"))[("2026-02", "CNY")]["E"], 90000)

    def test_daily_totals_kept_by_ingest_equal_a_rebuild(self):
        # The first report builds the daily totals from the stored
        # events; later events (invoices, payments, a credit, a reversal)
        # update them as they are ingested.  A rebuild from scratch (its
        # zone forgotten, as after a change of timezone) gives the same.
        d = self.daemon(clock="2026-04-15T09:00:00+08:00").start()
        ingest_events(d, CNY_USD[:5])
        self.kpi(d, "--months", "4")
        ingest_events(d, CNY_USD[5:])
        ingest_events(d, [{"type": "reversal", "id": "rev-p2", "account": "A", "event": "p2",
                           "at": "2026-04-10T10:00:00+08:00"}])
        kept = self.kpi(d, "--months", "4")
        self.assertEqual(by_key(kept)[("2026-03", "CNY")]["E"], 160000)
        self.assertEqual(d.stop(), 0)
        import sqlite3
        db = sqlite3.connect(d.db)
        rows = db.execute("SELECT count(*) FROM kpi_days").fetchone()[0]
        self.assertGreater(rows, 0)
        db.execute("DELETE FROM meta WHERE key = 'kpi_zone'")
        db.execute("UPDATE kpi_days SET applied = applied + 999")  # stale: must go
        db.commit()
        db.close()
        d.start()
        self.assertEqual(self.kpi(d, "--months", "4"), kept)
        self.assertIn("kpi: daily totals rebuilt for zone Asia/Shanghai", d.log())

    def test_promise_kept_rate(self):
        d = self.daemon(clock="2026-04-15T09:00:00+08:00").start()
        r, _ = ingest_events(d, [
            {"type": "account", "id": "a", "account": "P", "name": "P", "currency": "CNY",
             "size": "small"},
            {"type": "invoice", "id": "k1", "account": "P", "invoice": "K1", "amount": 100000,
             "issued": "2026-01-05", "due": "2026-01-20"},
            {"type": "payment", "id": "m1", "account": "P", "amount": 30000,
             "at": "2026-02-05T10:00:00+08:00"},
            # Kept by m1, dated in its span: verdict moment 5 February.
            {"type": "promise", "id": "pr1", "account": "P", "amount": 30000, "due": "2026-02-10",
             "at": "2026-02-01T09:00:00+08:00"},
            # Broken at the end of 20 February.
            {"type": "promise", "id": "pr2", "account": "P", "amount": 10000, "due": "2026-02-20",
             "at": "2026-02-15T09:00:00+08:00"},
            # Broken at the end of 5 March.
            {"type": "promise", "id": "pr3", "account": "P", "amount": 10000, "due": "2026-03-05",
             "at": "2026-03-01T09:00:00+08:00"},
            {"type": "payment", "id": "m2", "account": "P", "amount": 5000,
             "at": "2026-04-02T10:00:00+08:00"},
            # Kept by m2 on 2 April.
            {"type": "promise", "id": "pr4", "account": "P", "amount": 5000, "due": "2026-04-03",
             "at": "2026-04-01T09:00:00+08:00"},
        ])
        self.assertEqual(r.returncode, 0, r.stdout)
        k = by_key(self.kpi(d, "--months", "4"))
        self.assertNotIn("promise_kept_rate", k[("2026-01", "CNY")])  # no verdict
        self.assertEqual(k[("2026-02", "CNY")]["promise_kept_rate"], 0.5)
        self.assertEqual(k[("2026-03", "CNY")]["promise_kept_rate"], 0.0)
        self.assertEqual(k[("2026-04", "CNY")]["promise_kept_rate"], 1.0)
        self.assertEqual((k[("2026-02", "CNY")]["promises_kept"],
                          k[("2026-02", "CNY")]["promises_broken"]), (1, 1))

    def test_roll_rates(self):
        # MINIMAL_RULES: current -> reminder 2 days before due, ->
        # negotiation 1 day after.  Accounts are created on 5 January.
        d = self.daemon(clock="2026-01-05T09:00:00+08:00").start()

        def acct(a, due, issued="2026-01-05"):
            return [{"type": "account", "id": "a-" + a, "account": a, "name": a,
                     "currency": "CNY", "size": "small"},
                    {"type": "invoice", "id": "i-" + a, "account": a, "invoice": "I-" + a,
                     "amount": 1000, "issued": issued, "due": due}]
        # X: reminder 8 Feb, negotiation 11 Feb.  Y: negotiation 21 Jan.
        # Z: paid on 15 Feb, stays current.  V: reminder at the very first
        # instant of March (00:00 on 1 March), negotiation 4 March.
        ingest_events(d, acct("X", "2026-02-10") + acct("Y", "2026-01-20") +
                      acct("Z", "2026-03-20") + acct("V", "2026-03-03"))
        d.ctl("clock", "set", "2026-02-15T09:00:00+08:00")
        ingest_events(d, [{"type": "payment", "id": "pz", "account": "Z", "amount": 1000,
                           "at": "2026-02-15T09:00:00+08:00"}])
        d.ctl("clock", "set", "2026-02-20T09:00:00+08:00")
        # W, created 20 February: reminder 3 March, negotiation 6 March.
        ingest_events(d, acct("W", "2026-03-05", "2026-02-20"))
        r = d.ctl("clock", "set", "2026-03-10T09:00:00+08:00")
        self.assertEqual(r.returncode, 0, r.stderr)
        stages = {a["account"]: a["stage"] for a in d.ctl_json("accounts")[1]}
        self.assertEqual(stages, {"V": "negotiation", "W": "negotiation", "X": "negotiation",
                                  "Y": "negotiation", "Z": "current"})
        k = by_key(self.kpi(d, "--months", "3"))
        # January: nobody existed at its first instant.
        self.assertEqual(k[("2026-01", "CNY")]["roll_rates"], {})
        # February: at its start X, Z, V current and Y in negotiation; at
        # its end (before the transitions made at 00:00 on 1 March) X is in
        # negotiation: 1 of 3; Y has no later stage: 0.  W is not counted.
        self.assertEqual(k[("2026-02", "CNY")]["roll_rates"],
                         {"current": 1 / 3, "negotiation": 0.0})
        # March (to now): current at its start Z, V, W; V and W moved on.
        self.assertEqual(k[("2026-03", "CNY")]["roll_rates"],
                         {"current": 2 / 3, "negotiation": 0.0})

    def test_tasks_and_their_outcomes_per_month(self):
        """tasks = the tasks created in the month, tasks_with_outcome = those
        of them an outcome closed (not those cancelled), outcome_share the
        ratio: as `tasks --json` tells them, for one currency (counted by
        the indexes) and for two (counted per account)."""
        def portfolio(currencies):
            out = []
            for i in range(8):
                a = "K%d" % i
                out.append({"type": "account", "id": "a-" + a, "account": a, "name": a,
                            "currency": currencies[i % len(currencies)], "size": "small",
                            "contacts": [{"role": "owner", "name": "O", "phone": "+86 1"}]})
                out.append({"type": "invoice", "id": "i-" + a, "account": a, "invoice": "I-" + a,
                            "amount": 10000 * (i + 1), "issued": "2026-02-01",
                            "due": "2026-03-%02d" % (5 + 2 * i)})
            return out

        for currencies in (["CNY"], ["CNY", "USD"]):
            with self.subTest(currencies=currencies):
                d = self.daemon(sub="t%d" % len(currencies),
                                clock="2026-03-01T09:00:00+08:00").start()
                r, _ = ingest_events(d, portfolio(currencies))
                self.assertEqual(r.returncode, 0, r.stdout)
                n = 0
                for step in ("12d", "20d", "25d", "30d"):
                    self.assertEqual(d.ctl("clock", "advance", step).returncode, 0)
                    now = d.status()["now"]
                    for t in task_records(d, "--open")[:2]:
                        n += 1
                        r, _ = ingest_events(d, [{"type": "outcome", "id": "o-%d" % n,
                                                  "task": t["task"], "result": "reached",
                                                  "at": now}])
                        self.assertEqual(r.returncode, 0, r.stdout)
                cur = {a: rec["currency"] for a, rec in d.accounts().items()}
                want = {}
                every = task_records(d)
                self.assertGreater(len([t for t in every if t["status"] == "cancelled"]), 0)
                for t in every:
                    w = want.setdefault((t["created"][:7], cur[t["account"]]), [0, 0])
                    w[0] += 1
                    w[1] += t["status"] == "done"
                got = by_key(self.kpi(d, "--months", "4"))
                self.assertEqual(sorted(k for k in want if k in got), sorted(want))
                for key, rec in got.items():
                    tasks, done = want.get(key, [0, 0])
                    self.assertEqual((rec["tasks"], rec["tasks_with_outcome"]), (tasks, done), key)
                    if tasks:
                        self.assertAlmostEqual(rec["outcome_share"], done / tasks)
                    else:
                        self.assertNotIn("outcome_share", rec)
                self.assertGreater(sum(w[1] for w in want.values()), 2)
                d.stop()

    def test_accounts_of_an_older_database_get_a_creation_instant(self):
        # Schema version 3 records when each account was created; an
        # account of an older database gets the earliest instant known of
        # it: its first transition, else when its stage was entered.
        d = self.daemon(clock="2026-01-05T09:00:00+08:00").start()
        ingest_events(d, [
            {"type": "account", "id": "a-X", "account": "X", "name": "X", "currency": "CNY",
             "size": "small"},
            {"type": "invoice", "id": "i-X", "account": "X", "invoice": "I-X", "amount": 1000,
             "issued": "2026-01-05", "due": "2026-01-20"},
            {"type": "account", "id": "a-Z", "account": "Z", "name": "Z", "currency": "CNY",
             "size": "small"}])
        d.ctl("clock", "set", "2026-02-10T09:00:00+08:00")
        before = by_key(self.kpi(d, "--months", "2"))
        self.assertEqual(d.stop(), 0)
        import sqlite3
        db = sqlite3.connect(d.db)
        ledger_as_v9(db)
        state_as_v7(db)
        db.executescript(TASKS_AS_V6 +
                         "DROP INDEX accounts_created; DROP INDEX tasks_open_type;"
                         "DROP INDEX tasks_created; ALTER TABLE accounts DROP COLUMN created;"
                         "DROP TABLE kpi_days; DELETE FROM meta WHERE key = 'kpi_zone';"
                         "PRAGMA user_version = 2;")
        db.close()
        d.start()
        self.assertIn("schema migrated to version 3", d.log())
        db = sqlite3.connect(d.db)
        created = dict(db.execute("SELECT id, created FROM accounts"))
        db.close()
        # X moved to reminder at 00:00 on 18 January (first transition);
        # Z never moved: its stage was entered at its creation.
        self.assertEqual(created["X"], 1768665600)   # 2026-01-18T00:00:00+08:00
        self.assertEqual(created["Z"], 1767574800)   # 2026-01-05T09:00:00+08:00
        # Both count in February (created before it), as before.
        after = by_key(self.kpi(d, "--months", "2"))
        self.assertEqual(after[("2026-02", "CNY")]["roll_rates"],
                         before[("2026-02", "CNY")]["roll_rates"])
        self.assertEqual(after, before)

    def test_json_shape_and_months(self):
        d = self.daemon(clock="2026-04-15T09:00:00+08:00").start()
        ingest_events(d, CNY_USD)
        r = d.ctl("--json", "report", "kpi")
        self.assertEqual(r.returncode, 0, r.stderr)
        recs = [json.loads(l) for l in r.stdout.splitlines()]
        # Default: the current month and the 5 before it, two currencies.
        self.assertEqual([x["month"] for x in recs[::2]],
                         ["2025-11", "2025-12", "2026-01", "2026-02", "2026-03", "2026-04"])
        for x in recs:
            for key in ("month", "currency", "B", "E", "S", "C", "roll_rates"):
                self.assertIn(key, x)
            for key in ("B", "E", "S", "C"):
                self.assertIsInstance(x[key], int)
            for key in ("dso", "cei", "promise_kept_rate"):
                if key in x:
                    self.assertIsInstance(x[key], float)
        # Floats unrounded, as the shortest repr: 8/9 has 16 digits.
        self.assertIn('"cei":0.8888888888888888', r.stdout)
        for bad in ("0", "121", "x", "-1"):
            r = d.ctl("report", "kpi", "--months", bad)
            self.assertEqual(r.returncode, 2, bad)
        # The request itself refuses what dunnctl would not send.
        r = d.ctl("report", "kpi", "--months", "1")
        self.assertEqual(r.returncode, 0)
        self.assertIn("2026-04  CNY", r.stdout)

    def test_human_table_when_piped(self):
        d = self.daemon(clock="2026-04-15T09:00:00+08:00").start()
        ingest_events(d, CNY_USD)
        r = d.ctl("report", "kpi", "--months", "3")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("2026-03  CNY          900.00          800.00          900.00"
                      "          800.00    34.9   88.9%", r.stdout)
        self.assertIn("CNY: DSO 2026-03 34.9 days vs 2026-02 50.4 days: collecting faster",
                      r.stdout)
        # No chart characters in a pipe.
        self.assertFalse(any(0x2580 <= ord(ch) <= 0x259f for ch in r.stdout))


def run_tty(args, timeout=20):
    """Runs dunnctl with stdout on a pseudo-terminal; returns (rc, text)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(DUNNCTL, [DUNNCTL] + args)
    out = b""
    while True:
        r, _, _ = select.select([fd], [], [], timeout)
        if not r:
            break
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out.decode("utf-8").replace("\r\n", "\n")


class Charts(DaemonTest):
    def test_kpi_charts_on_a_terminal(self):
        d = self.daemon(clock="2026-04-15T09:00:00+08:00").start()
        ingest_events(d, CNY_USD)
        rc, out = run_tty(["-s", d.sock, "report", "kpi", "--months", "3"])
        self.assertEqual(rc, 0, out)
        # The table is there, and the charts: sparklines of DSO over the
        # three months (50.4, 34.875, absent: highest, lowest, gap) with
        # the latest value, and the aging of April's E as bars.
        self.assertIn("2026-03  CNY          900.00", out)
        line = [l for l in out.splitlines() if l.strip().startswith("DSO (days)")]
        self.assertEqual(len(line), 2, out)  # CNY and USD
        self.assertIn("\u2588\u2581 ", line[0])
        self.assertIn("CEI (%)", out)
        self.assertRegex(out, r"CEI \(%\)\s+\S+\s+22\.2%")
        bars = [l for l in out.splitlines() if l.strip().startswith("in_collection")]
        # CNY: all 700.00 of E in collection, a full bar of 30 cells.
        self.assertIn("\u2588" * 30, bars[0])
        self.assertIn("700.00", bars[0])
        self.assertIn("100.0%", bars[0])
        # The same command piped: no chart.
        r = d.ctl("report", "kpi", "--months", "3")
        self.assertNotIn("DSO (days)", r.stdout)
        # --json is the same on a terminal.
        rc, out = run_tty(["-s", d.sock, "--json", "report", "kpi", "--months", "3"])
        self.assertEqual([json.loads(l) for l in out.splitlines()],
                         d.ctl_json("report", "kpi", "--months", "3")[1])

    def test_aging_chart_on_a_terminal(self):
        d = self.daemon(clock="2026-04-15T09:00:00+08:00").start()
        ingest_events(d, CNY_USD)
        rc, out = run_tty(["-s", d.sock, "report", "aging"])
        self.assertEqual(rc, 0, out)
        recs = d.ctl_json("report", "aging")[1]
        self.assertTrue(recs)
        for rec in recs:
            head = "%s %s  total %d.%02d" % (rec["stage"], rec["currency"],
                                             rec["total"] // 100, rec["total"] % 100)
            self.assertIn(head, out)
        # A (CNY) owes I3's 700.00, 1-30 days past due: one full bar.
        self.assertRegex(out, "1-30 +\u2588{30} +700.00  100.0%")
        piped = d.ctl("report", "aging").stdout
        self.assertFalse(any(0x2580 <= ord(ch) <= 0x259f for ch in piped))
        self.assertIn("#", piped)


if __name__ == "__main__":
    unittest.main()
