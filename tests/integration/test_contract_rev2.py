"""A black-box review of the clauses new in this round, through the real
binaries only: rule-file keys of §4.1/§4.9 as `check-rules` reports them
(FILE:LINE), `test-rules` (§7 rule fixtures), `report kpi` (§7 KPIs),
`metrics` (§7), who may use them (§8) and `dunnd-push` (§9).  Each test
names the clause it checks; what the other test files already cover is
not repeated here.
"""
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import time

import lib
from lib import DUNNCTL, MINIMAL_RULES, DaemonTest, ingest_events, write_jsonl
from test_push import PUSH, Hook, free_port, overdue_accounts

BASE = """stages = (
  { name = "current"; release_when = { balance = { max = 0; }; }; },
  { name = "negotiation"; tasks = ( { type = "call"; script = "ask"; } ); }
);
rules = (
  { name = "overdue"; from = ["current"]; to = "negotiation"; when = { days_overdue = { min = 1; }; }; },
  { name = "settled"; from = ["*"]; to = "current"; when = { balance = { max = 0; }; }; }
);
scripts = ( { name = "ask"; checklist = [ "ask" ]; } );
"""


def check_rules(path):
    r = subprocess.run([DUNNCTL, "check-rules", path], capture_output=True, text=True,
                       timeout=60)
    return r.returncode, r.stdout.splitlines()


class RuleKeys(DaemonTest):
    """§4.1's new keys and §4.9's errors and warnings, as FILE:LINE."""

    def ruleset(self, **files):
        path = os.path.join(self.tmp, "rules-%d" % len(os.listdir(self.tmp)))
        os.makedirs(path)
        with open(os.path.join(path, "10-base.conf"), "w") as f:
            f.write(BASE)
        for name, text in files.items():
            with open(os.path.join(path, name.replace("_", "-") + ".conf"), "w") as f:
                f.write(text)
        return path

    def assert_refused(self, path, want):
        """Every line of want is reported (in that order), and the set is refused."""
        rc, out = check_rules(path)
        self.assertEqual(rc, 1, out)
        self.assertRegex(out[-1], r"^rules refused: \d+ errors?, \d+ warnings?$")
        got = iter(out)
        for w in want:
            self.assertTrue(any(l.startswith(w) for l in got), (w, "\n".join(out)))

    def test_calendar_once_and_the_date_lists(self):
        # §4.1: calendar at most once (across files); holidays and
        # extra_workdays in several files, a date repeated across them an
        # error at its later occurrence; without calendar they are errors.
        p = self.ruleset(**{"20_cal": 'calendar = {\n  holidays = ["2026-10-01"];\n'
                                      '  extra_workdays = ["2026-10-10"];\n};\n',
                            "30_more": 'calendar = { };\nholidays = [\n  "2026-10-02",\n'
                                       '  "2026-10-01"\n];\nextra_workdays = [ "2026-10-02" ];\n'})
        self.assert_refused(p, [
            "30-more.conf:1: calendar is set twice (first at 20-cal.conf:1)",
            "30-more.conf:4: holidays: 2026-10-01 is repeated (first at 20-cal.conf:2)",
            "30-more.conf:6: extra_workdays: 2026-10-02 is also in holidays (30-more.conf:3): "
            "a date is either a holiday or an extra working day"])
        p = self.ruleset(**{"20_x": '\nextra_workdays = [ "2026-10-10" ];\n'})
        rc, out = check_rules(p)
        self.assertEqual(rc, 1)
        self.assertRegex(out[0], r"^20-x\.conf:2: extra_workdays .*calendar")

    def test_calendar_and_schedule_errors(self):
        # §4.9 errors: unknown key, bare-string list, empty lists, a
        # repeated weekday, a type in two schedules (at the later one),
        # hours sharing nothing with the calendar's, min_window longer
        # than the day (the default included), bad defer_days/cash_in.
        p = self.ruleset(**{"20_cal": 'calendar = {\n  hours = ["09:00-12:00"];\n'
                                      '  workdays = ["mon", "mon"];\n  colour = 1;\n};\n'
                                      'schedules = (\n'
                                      '  { name = "a"; types = "call"; },\n'
                                      '  { name = "b"; types = ["call"]; prefer = []; },\n'
                                      '  { name = "c"; types = ["call", "call"]; }\n'
                                      ');\n'})
        self.assert_refused(p, [
            '20-cal.conf:3: calendar: workdays: weekday "mon" is repeated',
            '20-cal.conf:4: calendar: unknown key "colour"',
            '20-cal.conf:7: schedule "a": types must be a list',
            '20-cal.conf:8: schedule "b": prefer must not be empty',
            '20-cal.conf:9: schedule "c": types: "call" is already in the types of schedule "b"',
        ])
        # With a good calendar, the hours of each schedule are checked against it.
        p = self.ruleset(**{"20_cal": 'calendar = { hours = ["09:00-12:00"]; };\n'
                                      'schedules = (\n'
                                      '  { name = "d"; hours = ["13:00-14:00"]; },\n'
                                      '  { name = "e"; hours = ["09:00-09:20"]; },\n'
                                      '  { name = "f"; min_window = "4h";\n'
                                      '    cash_in = 1; defer_days = 32; }\n'
                                      ');\n'})
        self.assert_refused(p, [
            '20-cal.conf:3: schedule "d": hours share no time with the calendar\'s hours',
            '20-cal.conf:4: schedule "e": the default min_window "30m" is longer than the 20m',
            '20-cal.conf:5: schedule "f": min_window "4h" is longer than the 3h',
        ])
        rc, out = check_rules(p)
        self.assertTrue(any(l.startswith('20-cal.conf:6: schedule "f": cash_in') for l in out), out)
        self.assertTrue(any(l.startswith('20-cal.conf:6: schedule "f": defer_days') for l in out),
                        out)

    def test_task_keys_approval_supersede_release_when(self):
        # §4.1 table: approval/supersede booleans; release_when conditions;
        # approval and credit_release are dunnd's own; credit_hold only as
        # a stage task of a stage without release_when (§4.9 errors).
        p = self.ruleset(**{"20_x": 'stages = (\n'
                                    '  { name = "p";\n'
                                    '    tasks = ( { type = "call"; approval = 1; supersede = "yes"; },\n'
                                    '              { type = "approval"; },\n'
                                    '              { type = "credit_release"; } ); },\n'
                                    '  { name = "q"; release_when = { nofact = 1; };\n'
                                    '    tasks = ( { type = "credit_hold"; } ); },\n'
                                    '  { name = "r"; release_when = 3; }\n'
                                    ');\n'
                                    'alerts = ( { name = "al"; when = { first_miss = true; };\n'
                                    '  task = { type = "credit_hold"; }; } );\n'})
        self.assert_refused(p, [
            '20-x.conf:3: stage "p", task 1: approval must be true or false',
            '20-x.conf:3: stage "p", task 1: supersede must be true or false',
            '20-x.conf:4: stage "p", task 2: task type "approval" is dunnd\'s own',
            '20-x.conf:5: stage "p", task 3: task type "credit_release" is dunnd\'s own',
            '20-x.conf:6: stage "q": release_when: unknown fact "nofact"',
            '20-x.conf:7: stage "q", task 1: a credit_hold task is not allowed in a stage with '
            'release_when',
            '20-x.conf:8: stage "r": release_when must be a group of conditions',
            '20-x.conf:11: alert "al": task: a credit_hold task is not allowed in an alert',
        ])
        # The good forms pass: booleans, a credit_hold where no stage
        # releases is only a warning.
        p = self.ruleset(**{"20_x": 'stages = ( { name = "p";\n'
                                    '  tasks = ( { type = "call"; approval = true; supersede = true; },\n'
                                    '            { type = "credit_hold"; } ); } );\n'})
        rc, out = check_rules(p)
        self.assertEqual(rc, 0, out)

    def test_warnings_of_section_4_9(self):
        p = self.ruleset(**{"20_w": 'calendar = { holidays = ["2026-10-03"];\n'
                                    '  extra_workdays = ["2026-10-05"]; };\n'
                                    'schedules = (\n'
                                    '  { name = "v"; types = ["visit"]; },\n'
                                    '  { name = "s"; prefer = ["sat"]; },\n'
                                    '  { name = "rel"; types = ["credit_release"]; }\n'
                                    ');\n'
                                    'alerts = ( { name = "al"; when = { first_miss = true; };\n'
                                    '  task = { type = "call"; schedule = "v"; }; } );\n'})
        rc, out = check_rules(p)
        self.assertEqual(rc, 0, out)
        for want in ['20-w.conf:1: warning: holidays: 2026-10-03 is a Saturday',
                     '20-w.conf:2: warning: extra_workdays: 2026-10-05 is a Monday',
                     '20-w.conf:5: warning: schedule "s": prefer: "sat" is not in the '
                     'calendar\'s workdays',
                     '20-w.conf:9: warning: alert "al": task: schedule "v" is for other task types']:
            self.assertTrue(any(l.startswith(want) for l in out), (want, out))
        # "rel" is used: a stage has release_when (credit_release tasks).
        self.assertFalse(any('"rel"' in l for l in out), out)
        # schedules without calendar: a warning; holidays without one: an error.
        p = self.ruleset(**{"20_s": 'schedules = ( { name = "s"; types = ["call"]; } );\n'})
        rc, out = check_rules(p)
        self.assertEqual(rc, 0, out)
        self.assertRegex(out[0], r"^20-s\.conf:1: warning: schedules without a calendar")


START = {"start": "2026-03-02T09:00:00+08:00", "timezone": "Asia/Shanghai"}
ACCOUNT = {"type": "account", "id": "a1", "account": "C-1", "name": "Acme",
           "currency": "CNY", "size": "small"}
OVERDUE = {"type": "invoice", "id": "i1", "account": "C-1", "invoice": "INV-1",
           "amount": 100000, "issued": "2026-02-08", "due": "2026-03-01"}


def expect(account, **kw):
    e = {"account": account}
    e.update(kw)
    return {"expect": e}


class Fixtures(DaemonTest):
    """§7 rule fixtures: what test_fixtures.py leaves out."""

    def setUp(self):
        super().setUp()
        self.rules = os.path.join(self.tmp, "rules")
        os.makedirs(self.rules)
        with open(os.path.join(self.rules, "10-rules.conf"), "w") as f:
            f.write(MINIMAL_RULES)
        self.old = os.getcwd()
        os.chdir(self.tmp)

    def tearDown(self):
        os.chdir(self.old)
        super().tearDown()

    def fx(self, name, items):
        write_jsonl(os.path.join(self.tmp, name), items)
        return name

    def run_ctl(self, *args):
        return subprocess.run([DUNNCTL] + list(args), capture_output=True, text=True, timeout=120)

    def test_each_fixture_has_its_own_portfolio_from_seq_1(self):
        # "run against a fresh, private portfolio ... (seq and task numbers from 1)"
        items = [START, ACCOUNT, OVERDUE,
                 expect("C-1", task={"task": "T-000001", "seq": 2, "kind": "task",
                                     "source": "stage:negotiation#1"}),
                 expect("C-1", stage="negotiation")]
        a = self.fx("a.jsonl", items)
        b = self.fx("b.jsonl", items)
        r = self.run_ctl("test-rules", "--rules", self.rules, a, b, a)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "6 passed, 0 failed\n", ""))

    def test_at_the_clock_is_a_no_op_and_options_may_follow(self):
        # "TIME equal to the clock is a no-op"; §7: -s/-c/--json may follow COMMAND.
        f = self.fx("same.jsonl", [START, ACCOUNT, {"at": START["start"]},
                                   {"at": "2026-03-02T01:00:00Z"},
                                   expect("C-1", stage="current")])
        r = self.run_ctl("test-rules", f, "--rules", self.rules, "--json")
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        out = [json.loads(l) for l in r.stdout.splitlines()]
        self.assertEqual(out[-1], {"passed": 1, "failed": 0})
        self.assertEqual(out[0]["line"], 5)

    def test_malformed_beats_failed_in_the_exit_code(self):
        # "Exit 2 when a fixture is malformed ...; else 1 when an expectation failed"
        failing = self.fx("fail.jsonl", [START, ACCOUNT, expect("C-1", stage="negotiation")])
        bad = self.fx("bad.jsonl", [START, ACCOUNT,
                                    expect("C-1", task={"schedule": "calls"}),
                                    expect("C-1", task={"window_rank": "best"})])
        r = self.run_ctl("test-rules", "--rules", self.rules, failing, bad)
        self.assertEqual(r.returncode, 2, r.stdout)
        self.assertIn('bad.jsonl:3: expect: task: schedule: "calls" names no schedule of the '
                      'rule set\n', r.stdout)
        self.assertRegex(r.stdout, r'bad\.jsonl:4: expect: task: window_rank: "best" ')
        self.assertTrue(r.stdout.endswith("0 passed, 3 failed\n"), r.stdout)
        r = self.run_ctl("test-rules", "--rules", self.rules, failing)
        self.assertEqual(r.returncode, 1)

    def test_promise_facts_use_the_90d_window(self):
        # "promises_broken and _kept with the 90d window".  A promise due
        # 3 March breaks at 4 March 00:00; 90 days later it leaves the window.
        f = self.fx("p.jsonl", [
            START, ACCOUNT, OVERDUE,
            {"type": "promise", "id": "pr1", "account": "C-1", "amount": 1000,
             "due": "2026-03-03", "at": "2026-03-02T09:00:00+08:00"},
            expect("C-1", facts={"promise_pending": True, "promises_broken": 0}),
            {"at": "2026-03-04T00:00:00+08:00"},
            expect("C-1", facts={"promise_pending": False, "promises_broken": 1,
                                 "promises_kept": 0}),
            {"at": "2026-06-01T23:59:59+08:00"},
            expect("C-1", facts={"promises_broken": 1}),
            {"at": "2026-06-02T00:00:00+08:00"},
            expect("C-1", facts={"promises_broken": 0}),
        ])
        r = self.run_ctl("test-rules", "--rules", self.rules, f)
        self.assertEqual((r.returncode, r.stdout), (0, "4 passed, 0 failed\n"))

    def test_an_unknown_event_type_is_a_refused_batch_not_a_malformed_line(self):
        # "an event line (a JSON object with a member type): it goes to the ingest as written"
        f = self.fx("t.jsonl", [START, ACCOUNT, {"type": "bogus", "id": "x"},
                                expect("C-1", stage="current")])
        r = self.run_ctl("test-rules", "--rules", self.rules, f)
        self.assertEqual(r.returncode, 1)
        self.assertTrue(r.stdout.startswith('t.jsonl:3: batch refused: type: unknown event type'),
                        r.stdout)
        self.assertTrue(r.stdout.endswith("0 passed, 1 failed\n"))


class KpiMoney(DaemonTest):
    """§7 KPIs: unapplied credit is not in R; a credit balance applies to
    a later invoice at its own date; an upheld amount counts as a payment
    at its `at`; ratios absent when their denominator is 0."""

    def test_credit_balance_upheld_amounts_and_application_dates(self):
        d = self.daemon(clock="2026-04-15T09:00:00+08:00").start()
        r, _ = ingest_events(d, [
            {"type": "account", "id": "a", "account": "A", "name": "A", "currency": "CNY",
             "size": "small"},
            {"type": "account", "id": "b", "account": "B", "name": "B", "currency": "USD",
             "size": "small"},
            {"type": "invoice", "id": "i1", "account": "A", "invoice": "I1", "amount": 100000,
             "issued": "2026-03-01", "due": "2026-03-31"},
            # 30000 beyond the balance: unapplied credit, not in R.
            {"type": "payment", "id": "p1", "account": "A", "amount": 130000,
             "at": "2026-03-10T10:00:00+08:00", "allow_credit_balance": True},
            # The credit applies to I2 dated the start of its issued day (25 March).
            {"type": "invoice", "id": "i2", "account": "A", "invoice": "I2", "amount": 50000,
             "issued": "2026-03-25", "due": "2026-04-24"},
            {"type": "dispute", "id": "d1", "account": "A", "invoice": "I2", "amount": 10000,
             "reason": "short delivery", "at": "2026-04-02T10:00:00+08:00"},
            # 4000 upheld on 6 April: paid in every respect.
            {"type": "dispute_resolved", "id": "r1", "account": "A", "invoice": "I2",
             "upheld_amount": 4000, "at": "2026-04-06T10:00:00+08:00"},
            {"type": "invoice", "id": "i3", "account": "A", "invoice": "I3", "amount": 7000,
             "issued": "2026-04-10", "due": "2026-04-12"},
        ])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r, recs = d.ctl_json("report", "kpi", "--months", "2")
        self.assertEqual(r.returncode, 0, r.stderr)
        k = {(x["month"], x["currency"]): x for x in recs}
        self.assertEqual(sorted(k), [("2026-03", "CNY"), ("2026-03", "USD"),
                                     ("2026-04", "CNY"), ("2026-04", "USD")])
        # March: B = 0; E = R(31 Mar) = I1 0 + I2 (50000 - 30000) = 20000
        # (the 30000 of credit counted once, on I2, never as negative R);
        # S = 150000; C = I2's 20000 (due 24 April).
        m = k[("2026-03", "CNY")]
        self.assertEqual((m["B"], m["E"], m["S"], m["C"]), (0, 20000, 150000, 20000))
        self.assertAlmostEqual(m["dso"], 20000 / 150000 * 31, places=12)
        self.assertEqual(m["cei"], 1.0)
        # April (today 15 April): B = 20000; E = I2 (20000 - 4000) + I3
        # 7000 = 23000; S = 7000; C = I2's 16000 (I3 is past due).
        a = k[("2026-04", "CNY")]
        self.assertEqual((a["B"], a["E"], a["S"], a["C"]), (20000, 23000, 7000, 16000))
        self.assertAlmostEqual(a["dso"], 23000 / 7000 * 30, places=10)
        self.assertAlmostEqual(a["cei"], (20000 + 7000 - 23000) / (20000 + 7000 - 16000),
                               places=14)
        # USD: an account without invoices still has its rows; no ratio.
        for month in ("2026-03", "2026-04"):
            u = k[(month, "USD")]
            self.assertEqual((u["B"], u["E"], u["S"], u["C"]), (0, 0, 0, 0))
            for key in ("dso", "cei", "promise_kept_rate"):
                self.assertNotIn(key, u)

    def test_empty_portfolio_and_unreachable_daemon(self):
        # Rows: one per currency of the portfolio's accounts -- none here.
        d = self.daemon().start()
        r = d.ctl("--json", "report", "kpi")
        self.assertEqual((r.returncode, r.stdout), (0, ""))
        self.assertEqual(d.stop(), 0)
        # §7: exit 3 when the daemon is unreachable.
        for args in (["report", "kpi"], ["metrics"], ["report", "kpi", "--months", "2"]):
            r = d.ctl(*args)
            self.assertEqual(r.returncode, 3, (args, r.stderr))


class Protocol(DaemonTest):
    """§8: the `report` and `metrics` requests; §8 roles for them."""

    def ask(self, d, obj):
        with d.connect() as s:
            f = s.makefile("rb")
            lib.request(s, obj)
            return lib.read_reply(s, f)

    def test_report_and_metrics_requests(self):
        d = self.daemon(clock="2026-04-15T09:00:00+08:00").start()
        ingest_events(d, overdue_accounts(0, 1))
        recs, final = self.ask(d, {"v": 1, "cmd": "report", "name": "kpi", "months": 2})
        self.assertEqual(final["ok"], True)
        self.assertEqual([x["month"] for x in recs], ["2026-03", "2026-04"])
        recs, final = self.ask(d, {"v": 1, "cmd": "metrics"})
        self.assertEqual((len(recs), final["ok"]), (1, True))
        self.assertEqual(list(recs[0]), ["text"])
        self.assertIn("# TYPE dunnd_batch_commit_seconds histogram\n", recs[0]["text"])
        for bad in ({"v": 1, "cmd": "report"},
                    {"v": 1, "cmd": "report", "name": "nope"},
                    {"v": 1, "cmd": "report", "name": 3},
                    {"v": 1, "cmd": "report", "name": "kpi", "months": "2"},
                    {"v": 1, "cmd": "report", "name": "kpi", "months": 1.5},
                    {"v": 1, "cmd": "report", "name": "kpi", "colour": 1},
                    {"v": 1, "cmd": "metrics", "months": 1}):
            recs, final = self.ask(d, bad)
            self.assertEqual((recs, final["ok"]), ([], False), bad)
            self.assertIsInstance(final["error"], str)

    def roles(self, role):
        d = self.daemon(role, conf_extra='admins = [ "12345" ];\n%s = [ "%d" ];\n'
                        % (role, os.getuid()))
        d.start()
        return d

    def test_readers_and_consumers_may_use_report_kpi_and_metrics(self):
        # §7 metrics: "readers may use it"; §8: readers may use report,
        # metrics; consumers those and ack.
        for role in ("readers", "consumers"):
            d = self.roles(role)
            for args in (["metrics"], ["--json", "metrics"], ["report", "kpi"],
                         ["--json", "report", "kpi", "--months", "1"], ["report", "aging"]):
                r = d.ctl(*args)
                self.assertEqual(r.returncode, 0, (role, args, r.stderr))
            r = d.ctl("ack", "--consumer", "crm", "0")
            self.assertEqual(r.returncode, 0 if role == "consumers" else 1, (role, r.stderr))
            self.assertEqual(d.stop(), 0)

    def test_label_values_are_escaped(self):
        # §7 metrics: Prometheus text format 0.0.4 -- a stage name may hold
        # '"', '\\' and a newline; label values escape them.
        d = self.daemon(rules='stages = ( { name = "cur\\"r\\\\ent x"; }, { name = "n\\nl"; } );\n'
                              'rules = ( { name = "r"; from = "*"; to = "n\\nl";\n'
                              '  when = { days_overdue = { min = 1; }; }; } );\n').start()
        ingest_events(d, [{"type": "account", "id": "a", "account": "A", "name": "A",
                           "currency": "CNY", "size": "small"}])
        text = d.ctl("metrics").stdout
        self.assertIn('dunnd_accounts{stage="cur\\"r\\\\ent x"} 1\n', text)
        self.assertIn('dunnd_accounts{stage="n\\nl"} 0\n', text)
        promtool = shutil.which("promtool")
        if promtool:
            r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                               text=True, timeout=60)
            self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))

    def test_events_total_counts_since_start(self):
        # §7 metrics: dunnd_events_total{status} counts since start.
        d = self.daemon().start()
        ingest_events(d, overdue_accounts(0, 1))
        self.assertIn('dunnd_events_total{status="ok"} 2\n', d.ctl("metrics").stdout)
        self.assertEqual(d.stop(), 0)
        d.start()
        text = d.ctl("metrics").stdout
        self.assertIn('dunnd_events_total{status="ok"} 0\n', text)
        self.assertIn("dunnd_reloads_total 0\n", text)
        self.assertIn("dunnd_feed_head 2\n", text)


class Push(DaemonTest):
    """§9 dunnd-push: backoff, the secret file, unsigned requests, config errors."""

    def setUp(self):
        super().setUp()
        self.hook = Hook()
        self.hook.port = free_port()
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.hook.stop()
        super().tearDown()

    def conf(self, d, text):
        path = os.path.join(self.tmp, "push.conf")
        with open(path, "w") as f:
            f.write('url = "%s";\nsocket = "%s";\nconsumer = "crm";\nlinger = "0s";\n%s'
                    % (self.hook.url(), d.sock, text))
        return path

    def spawn(self, conf):
        log = open(os.path.join(self.tmp, "push.log"), "ab")
        p = subprocess.Popen(lib.WRAPPER + [PUSH, "-f", "-c", conf], stdout=log, stderr=log)
        log.close()
        self.procs.append(p)
        return p

    def wait(self, cond, what, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return
            time.sleep(0.02)
        with open(os.path.join(self.tmp, "push.log")) as f:
            raise AssertionError("timed out waiting for %s\n%s" % (what, f.read()[-2000:]))

    def test_backoff_is_drawn_from_half_d_to_d(self):
        # "after a wait drawn uniformly from [d/2, d], d = min(2^(n-1) s,
        # retry_max) for the n-th retry": retry_max 2s gives d = 1, 2, 2, 2.
        d = self.daemon().start()
        ingest_events(d, overdue_accounts(0, 1))
        arrivals = []

        def decide(req):
            arrivals.append(time.monotonic())
            return ("status", 503) if req["n"] < 4 else ("status", 200)

        self.hook.decide = decide
        self.hook.start()
        with open(os.path.join(self.tmp, "k.secret"), "wb") as f:
            f.write(b"k")
        p = self.spawn(self.conf(d, 'retry_max = "2s";\nsecret_file = "k.secret";\n'))
        self.wait(lambda: len(arrivals) >= 5, "five attempts")
        gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
        slack = 0.4 if not lib.WRAPPER else 2.0
        for gap, dmax in zip(gaps, (1, 2, 2, 2)):
            self.assertGreaterEqual(gap, dmax / 2 - 0.05, gaps)
            self.assertLessEqual(gap, dmax + slack, gaps)
        # The same key and body every time, each attempt signed anew (its
        # own time), then acknowledged.
        reqs = self.hook.snapshot()
        self.assertEqual({r["key"] for r in reqs}, {"1-2"})
        self.assertEqual({r["body"] for r in reqs}, {reqs[0]["body"]})
        stamps = []
        for r in reqs:
            t, v1 = r["sig"].split(",")
            stamps.append(int(t[2:]))
            self.assertEqual(hmac.new(b"k", t[2:].encode() + b"." + r["body"],
                                      hashlib.sha256).hexdigest(), v1[3:])
        self.assertEqual(stamps, sorted(stamps))
        self.assertGreater(stamps[-1], stamps[0])
        self.wait(lambda: lib.feed_records(d) and
                  d.ctl_json("feed", "--consumer", "crm")[1] == [], "the ack")
        p.terminate()
        self.assertEqual(p.wait(10), 0)

    def test_secret_is_the_file_less_one_final_lf_and_no_secret_no_signature(self):
        d = self.daemon().start()
        ingest_events(d, overdue_accounts(0, 1))
        self.hook.start()
        with open(os.path.join(self.tmp, "k.secret"), "wb") as f:
            f.write(b"key\n\n")
        p = self.spawn(self.conf(d, 'secret_file = "k.secret";\n'))
        self.wait(lambda: self.hook.delivered() == {1, 2}, "the batch")
        p.terminate()
        self.assertEqual(p.wait(10), 0)
        req = self.hook.snapshot()[0]
        m = re.match(r"^t=(\d+),v1=([0-9a-f]{64})$", req["sig"])
        self.assertIsNotNone(m, req["sig"])
        mac = hmac.new(b"key\n", m.group(1).encode() + b"." + req["body"],
                       hashlib.sha256).hexdigest()
        self.assertEqual(mac, m.group(2))
        self.assertEqual(req["feed_id"], d.status()["feed_id"])
        # Without a secret (and no credentials directory): no signature header.
        ingest_events(d, overdue_accounts(1, 1))
        env = dict(os.environ)
        env.pop("CREDENTIALS_DIRECTORY", None)
        log = open(os.path.join(self.tmp, "push.log"), "ab")
        p = subprocess.Popen(lib.WRAPPER + [PUSH, "-f", "-c", self.conf(d, "")], stdout=log,
                             stderr=log, env=env)
        log.close()
        self.procs.append(p)
        self.wait(lambda: {3, 4} <= self.hook.delivered(), "the unsigned batch")
        req = [r for r in self.hook.snapshot() if r["key"] == "3-4"][0]
        self.assertIsNone(req["sig"])
        self.assertEqual(req["ctype"], "application/json")

    def test_config_errors_exit_1_before_anything_is_sent(self):
        d = self.daemon().start()
        ingest_events(d, overdue_accounts(0, 1))
        self.hook.start()
        path = self.conf(d, 'batch_max = 10001;\n'
                            'types = ["call", "fax"];\n'
                            'ca_file = "no-such-ca.pem";\n'
                            'retry_max = "0s";\n')
        r = subprocess.run([PUSH, "-f", "-c", path], capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 1)
        for line, text in ((5, "batch_max"), (6, 'types: element 2: unknown task type "fax"'),
                           (7, "ca_file: cannot read"), (8, "retry_max")):
            self.assertRegex(r.stderr, r"(?m)^%s:%d: %s" % (re.escape(path), line, re.escape(text)))
        self.assertEqual(self.hook.snapshot(), [])
        self.assertEqual(len(d.ctl_json("feed", "--consumer", "crm")[1]), 2)
        # Every type dunnd emits is a good one, approval included; "s" durations.
        path = self.conf(d, 'types = ["call", "visit", "letter", "email", "sms", "credit_hold",'
                            ' "credit_release", "review", "legal_referral", "approval"];\n'
                            'batch_max = 10000;\ntimeout = "30s";\nretry_max = "90s";\n')
        r = subprocess.run([PUSH, "--check", "-c", path], capture_output=True, text=True,
                           timeout=20)
        self.assertEqual((r.returncode, r.stderr), (0, ""))

    def test_linger_waits_for_a_partial_batch_not_a_full_one(self):
        # "linger: wait for more records before sending a partial batch".
        d = self.daemon().start()
        arrivals = []

        def decide(req):
            arrivals.append((time.monotonic(), req["key"]))
            return ("status", 200)

        self.hook.decide = decide
        self.hook.start()
        with open(os.path.join(self.tmp, "push.conf"), "w") as f:
            f.write('url = "%s";\nsocket = "%s";\nconsumer = "crm";\nlinger = "2s";\n'
                    'batch_max = 4;\n' % (self.hook.url(), d.sock))
        self.spawn(os.path.join(self.tmp, "push.conf"))
        self.wait(lambda: "delivering" in open(os.path.join(self.tmp, "push.log")).read(),
                  "dunnd-push to start")
        time.sleep(0.3)
        t0 = time.monotonic()
        ingest_events(d, overdue_accounts(0, 1))          # 2 records of 4
        self.wait(lambda: len(arrivals) == 1, "the partial batch")
        self.assertEqual(arrivals[0][1], "1-2")
        self.assertGreaterEqual(arrivals[0][0] - t0, 1.9)
        self.assertLess(arrivals[0][0] - t0, 4.0 if not lib.WRAPPER else 8.0)
        t0 = time.monotonic()
        ingest_events(d, overdue_accounts(1, 2))          # 4 records: a full batch
        self.wait(lambda: len(arrivals) == 2, "the full batch")
        self.assertEqual(arrivals[1][1], "3-6")
        self.assertLess(arrivals[1][0] - t0, 1.5)

    def test_give_up_after_counts_within_one_run(self):
        # "the N-th answer with a 4xx ... to the same batch in one run".
        d = self.daemon().start()
        ingest_events(d, overdue_accounts(0, 1))

        def decide(req):
            return ("status", 422) if req["n"] < 2 else ("status", 200)

        self.hook.decide = decide
        self.hook.start()
        conf = self.conf(d, 'give_up_after = 2;\ndead_letter = "dead.jsonl";\n')
        p = self.spawn(conf)
        # Stopped after its first 4xx, within the first retry's wait (>= 0.5 s).
        self.wait(lambda: [r["answer"] for r in self.hook.snapshot()] == [422], "a 422")
        p.terminate()
        self.assertEqual(p.wait(10), 0)
        self.assertEqual(len(self.hook.snapshot()), 1)
        self.spawn(conf)
        self.wait(lambda: self.hook.delivered() == {1, 2}, "the batch delivered")
        self.assertEqual([r["answer"] for r in self.hook.snapshot()], [422, 422, 200])
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "dead.jsonl")))
        self.wait(lambda: d.ctl_json("feed", "--consumer", "crm")[1] == [], "the ack")


class KpiPromises(DaemonTest):
    def test_verdicts_count_in_the_month_of_their_moment_per_currency(self):
        # §7: promise verdicts "whose moment lies in [M's first instant,
        # the next month's first instant)", per currency.
        d = self.daemon(clock="2026-04-15T09:00:00+08:00").start()
        r, _ = ingest_events(d, [
            {"type": "account", "id": "a", "account": "A", "name": "A", "currency": "CNY",
             "size": "small"},
            {"type": "account", "id": "b", "account": "B", "name": "B", "currency": "USD",
             "size": "small"},
            {"type": "invoice", "id": "i1", "account": "A", "invoice": "I1", "amount": 100000,
             "issued": "2026-03-01", "due": "2026-03-10"},
            {"type": "invoice", "id": "j1", "account": "B", "invoice": "J1", "amount": 100000,
             "issued": "2026-03-01", "due": "2026-03-10"},
            # A: due 31 March, broken at the next local midnight: April.
            {"type": "promise", "id": "pa", "account": "A", "amount": 1000,
             "due": "2026-03-31", "at": "2026-03-20T09:00:00+08:00"},
            # B: kept by money of the last second of March: March.
            {"type": "payment", "id": "mb", "account": "B", "amount": 1000,
             "at": "2026-03-31T23:59:59+08:00"},
            {"type": "promise", "id": "pb", "account": "B", "amount": 1000,
             "due": "2026-03-31", "at": "2026-03-20T09:00:00+08:00"},
        ])
        self.assertEqual(r.returncode, 0, r.stdout)
        r, recs = d.ctl_json("report", "kpi", "--months", "2")
        k = {(x["month"], x["currency"]): x.get("promise_kept_rate") for x in recs}
        self.assertEqual(k, {("2026-03", "CNY"): None, ("2026-03", "USD"): 1.0,
                             ("2026-04", "CNY"): 0.0, ("2026-04", "USD"): None})


class Usage(DaemonTest):
    def test_usage_errors_exit_2_without_a_daemon(self):
        # §7: exit 2 for a usage error (checked before the daemon is reached).
        sock = os.path.join(self.tmp, "none.sock")
        for args in (["report"], ["report", "kpi", "--months"], ["report", "kpi", "extra"],
                     ["report", "kpi", "--months", "0"], ["report", "kpi", "--bogus"],
                     ["report", "aging", "--months", "2"], ["metrics", "--months", "2"],
                     ["test-rules", "--bogus", "x.jsonl"], ["test-rules", "--rules"]):
            r = subprocess.run([DUNNCTL, "-s", sock] + args, capture_output=True, text=True,
                               timeout=20)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertNotEqual(r.stderr, "", args)


MAN = os.path.join(lib.ROOT, "man")


class ManPages(DaemonTest):
    """Every command, option and setting these clauses name is in its page."""

    def page(self, name):
        with open(os.path.join(MAN, name)) as f:
            # mdoc escapes: "\-" is "-".
            return f.read().replace("\\-", "-").replace("\\(dq", '"')

    def assert_names(self, page, names):
        text = self.page(page)
        for n in names:
            self.assertIn(n, text, "%s does not mention %s" % (page, n))

    def test_dunnctl_names_the_new_commands(self):
        self.assert_names("dunnctl.1", [
            "test-rules", "--rules", "RULE FIXTURES", "passed", "failed", "metrics",
            "report", "kpi", "--months", "dso", "cei", "promise_kept_rate", "roll_rates",
            "HELP", "TYPE", "dunnd_accounts", "dunnd_tasks_open", "dunnd_feed_head",
            "dunnd_consumer_lag", "dunnd_events_total", "dunnd_reloads_total",
            "dunnd_last_reload_success", "dunnd_batch_commit_seconds",
            "dunnd_resident_memory_bytes"])

    def test_protocol_names_report_and_metrics(self):
        self.assert_names("dunnd-protocol.7", ["report", "months", "aging", "kpi", "metrics",
                                               "text"])

    def test_push_page_names_every_setting_and_header(self):
        self.assert_names("dunnd-push.8", [
            "url", "socket", "consumer", "secret_file", "kinds", "types", "batch_max",
            "linger", "timeout", "retry_max", "give_up_after", "dead_letter", "headers",
            "ca_file", "Idempotency-Key", "Dunnd-Feed-Id", "Dunnd-Signature",
            "CREDENTIALS_DIRECTORY", "SIGTERM", "is required"])

    def test_rules_page_names_the_new_keys(self):
        self.assert_names("dunnd.rules.5", [
            "calendar", "workdays", "hours", "holidays", "extra_workdays", "schedules",
            "types", "prefer", "avoid", "defer_days", "min_window", "cash_in",
            "release_when", "approval", "supersede", "credit_release"])

