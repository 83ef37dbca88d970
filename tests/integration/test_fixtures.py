"""Rule fixtures: `dunnctl test-rules [--rules DIR] FIXTURE...` (§7).

Every test runs the real dunnctl (offline, no daemon) on fixtures written
here and asserts its exact output and exit code.  The explain printed
after a failed expectation is compared with what `dunnctl explain` prints
for the same events on a real dunnd with the same rules and test clock:
the fixture runner must be the daemon's engine, not a second one.
"""
import glob
import json
import os
import re
import shutil
import subprocess

from lib import DUNNCTL, MINIMAL_RULES, ROOT, DaemonTest, ingest_events, write_jsonl

START = {"start": "2026-03-02T09:00:00+08:00", "timezone": "Asia/Shanghai"}
ACCOUNT = {"type": "account", "id": "a1", "account": "C-1", "name": "Acme",
           "currency": "CNY", "size": "small",
           "contacts": [{"role": "owner", "name": "Wang", "phone": "+86 1", "email": "wang@example.com"}]}
SIZE_ERROR = "\"huge\" is not one of small, medium, large"
INVOICE = {"type": "invoice", "id": "i1", "account": "C-1", "invoice": "INV-1",
           "amount": 100000, "issued": "2026-02-08", "due": "2026-03-10"}


def expect(account, **kw):
    e = {"account": account}
    e.update(kw)
    return {"expect": e}


class FixtureTest(DaemonTest):
    def setUp(self):
        super().setUp()
        self.rules = os.path.join(self.tmp, "rules")
        os.makedirs(self.rules)
        with open(os.path.join(self.rules, "10-rules.conf"), "w") as f:
            f.write(MINIMAL_RULES)
        self.old_cwd = os.getcwd()
        os.chdir(self.tmp)  # fixture names print as given: keep them short

    def tearDown(self):
        os.chdir(self.old_cwd)
        super().tearDown()

    def fixture(self, name, items):
        return write_jsonl(os.path.join(self.tmp, name), items) and name

    def run_ctl(self, *args, rules=None):
        return subprocess.run([DUNNCTL, "test-rules", "--rules", rules or self.rules] + list(args),
                              capture_output=True, text=True, timeout=120)

    def explain_of(self, events, clock):
        """What `dunnctl explain C-1` prints on a real dunnd after events
        (one batch at the start) and `clock set clock`."""
        d = self.daemon(rules=MINIMAL_RULES).start()
        r, _ = ingest_events(d, events)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(d.ctl("clock", "set", clock).returncode, 0)
        r = d.ctl("explain", "C-1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(d.stop(), 0)
        return r.stdout


class Passing(FixtureTest):
    def test_every_kind_of_expectation_passes(self):
        f = self.fixture("ok.jsonl", [
            {"comment": "a fixture that holds"}, START, ACCOUNT, INVOICE,
            expect("C-1", stage="current"),
            expect("C-1", no_task={}),
            "",
            {"at": "2026-03-08T12:00:00+08:00"},
            expect("C-1", stage="reminder"),
            expect("C-1", task={"type": "email", "script": "remind", "source": "stage:reminder#1",
                                "created": "2026-03-07T16:00:00Z", "contact": {"role": "owner"},
                                "amount_due": 100000.0, "checklist": ["say when it is due"]}),
            {"at": "2026-03-11T00:00:00+08:00"},
            expect("C-1", facts={"days_overdue": 1, "balance": 1e5, "tags": [],
                                 "days_to_due": None, "risk": None, "size": "small"}),
            expect("C-1", task={"script": "ask", "stage": "negotiation", "schedule": None}),
            expect("C-1", no_task={"script": "remind"}),
        ])
        r = self.run_ctl(f)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "7 passed, 0 failed\n", ""))
        r = self.run_ctl("--json", f)
        self.assertEqual(r.returncode, 0)
        self.assertEqual(r.stderr, "")
        out = [json.loads(l) for l in r.stdout.splitlines()]
        self.assertEqual([(o["line"], o["ok"]) for o in out[:-1]],
                         [(5, True), (6, True), (9, True), (10, True), (12, True), (13, True),
                          (14, True)])
        self.assertEqual(out[0], {"fixture": "ok.jsonl", "line": 5, "ok": True,
                                  "expected": {"account": "C-1", "stage": "current"},
                                  "found": "current"})
        self.assertEqual(out[1]["found"], [])
        self.assertEqual([t["task"] for t in out[3]["found"]], ["T-000001"])
        self.assertEqual(out[4]["found"], {"days_overdue": 1, "balance": 100000, "tags": [],
                                           "days_to_due": None, "risk": None, "size": "small"})
        self.assertEqual(out[-1], {"passed": 7, "failed": 0})

    def test_tags_compare_as_sets_and_null_means_absent(self):
        f = self.fixture("tags.jsonl", [
            START, dict(ACCOUNT, tags=["b", "a", "c"]),
            expect("C-1", facts={"tags": ["c", "a", "b"], "days_to_due": None}),
            expect("C-1", facts={"tags": ["a", "b"]}),
        ])
        r = self.run_ctl(f)
        self.assertEqual(r.returncode, 1)
        self.assertTrue(r.stdout.startswith(
            'tags.jsonl:4: account C-1: expected facts {"tags":["a","b"]}, '
            'found {"tags":["b","a","c"]}\naccount C-1'), r.stdout)
        self.assertTrue(r.stdout.endswith("\n1 passed, 1 failed\n"))


class Failing(FixtureTest):
    def test_each_kind_fails_with_expected_found_and_the_explain(self):
        events = [ACCOUNT, INVOICE]
        f = self.fixture("fail.jsonl", [
            START] + events + [
            {"at": "2026-03-11T12:00:00+08:00"},
            expect("C-1", stage="reminder"),
            expect("C-1", facts={"days_overdue": 2, "balance": 100000}),
            expect("C-1", task={"script": "firm"}),
            expect("C-1", no_task={"type": "call"}),
            expect("C-2", stage="current"),
            {"at": "2026-03-11T13:00:00+08:00"},
            {"comment": "nothing was added since the group above"},
            expect("C-1", task={"type": "call"}),
        ])
        explain = self.explain_of(events, "2026-03-11T12:00:00+08:00")
        explain2 = self.explain_of(events, "2026-03-11T13:00:00+08:00")
        self.assertIn("account C-1", explain)
        r = self.run_ctl(f)
        self.assertEqual(r.stderr, "")
        self.assertEqual(r.stdout,
            'fail.jsonl:5: account C-1: expected stage "reminder", found "negotiation"\n'
            + explain +
            'fail.jsonl:6: account C-1: expected facts {"days_overdue":2,"balance":100000}, '
            'found {"days_overdue":1,"balance":100000}\n'
            + explain +
            'fail.jsonl:7: account C-1: expected a task {"script":"firm"} since the start, found only:\n'
            '  T-000001 stage:reminder#1: {"script":"remind"}\n'
            '  T-000002 stage:negotiation#1: {"script":"ask"}\n'
            + explain +
            'fail.jsonl:8: account C-1: expected no task {"type":"call"} since the start, found 1:\n'
            '  T-000002 stage:negotiation#1: {"type":"call"}\n'
            + explain +
            'fail.jsonl:9: account C-2: expected stage "current", found no such account\n'
            'fail.jsonl:12: account C-1: expected a task {"type":"call"} since line 9, found none\n'
            + explain2 +
            "0 passed, 6 failed\n")
        self.assertEqual(r.returncode, 1)

        r = self.run_ctl("--json", f)
        self.assertEqual((r.returncode, r.stderr), (1, ""))
        out = [json.loads(l) for l in r.stdout.splitlines()]
        self.assertEqual(len(out), 7)
        self.assertEqual(out[0], {"fixture": "fail.jsonl", "line": 5, "ok": False,
                                  "expected": {"account": "C-1", "stage": "reminder"},
                                  "found": "negotiation"})
        self.assertEqual(out[1]["found"], {"days_overdue": 1, "balance": 100000})
        self.assertEqual([t["source"] for t in out[2]["found"]],
                         ["stage:reminder#1", "stage:negotiation#1"])
        self.assertEqual(out[4], {"fixture": "fail.jsonl", "line": 9, "ok": False,
                                  "expected": {"account": "C-2", "stage": "current"},
                                  "found": None})
        self.assertEqual(out[5]["found"], [])
        self.assertEqual(out[6], {"passed": 0, "failed": 6})

    def test_refused_batch_fails_at_its_first_bad_line_and_stops(self):
        f = self.fixture("refused.jsonl", [
            START, ACCOUNT,
            expect("C-1", stage="current"),
            INVOICE,
            {"comment": "a comment inside the batch"},
            "",
            dict(INVOICE, id="i2", invoice="INV-2", amount=1.5),
            dict(INVOICE, id="i3", account="C-9", invoice="INV-3"),
            expect("C-1", stage="current"),
            {"at": "2026-03-12T00:00:00+08:00"},
            expect("C-1", stage="negotiation"),
        ])
        r = self.run_ctl(f)
        self.assertEqual((r.returncode, r.stderr), (1, ""))
        self.assertEqual(r.stdout,
            "refused.jsonl:7: batch refused: amount: must be an integer as written: no fraction\n"
            "refused.jsonl: 2 expectations not run (the fixture stopped at the refused batch)\n"
            "1 passed, 2 failed\n")
        r = self.run_ctl("--json", f)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr,
            "refused.jsonl:7: batch refused: amount: must be an integer as written: no fraction\n"
            "refused.jsonl: 2 expectations not run (the fixture stopped at the refused batch)\n")
        out = [json.loads(l) for l in r.stdout.splitlines()]
        self.assertEqual([(o["line"], o["ok"], o["found"]) for o in out[:-1]],
                         [(3, True, "current"), (9, False, None), (11, False, None)])
        self.assertEqual(out[-1], {"passed": 1, "failed": 2})

    def test_refused_batch_without_expectations_still_exits_1(self):
        f = self.fixture("r.jsonl", [START, dict(ACCOUNT, size="huge")])
        r = self.run_ctl(f)
        self.assertEqual((r.returncode, r.stdout), (1,
            "r.jsonl:2: batch refused: size: %s\n0 passed, 0 failed\n" % SIZE_ERROR))


class Malformed(FixtureTest):
    def test_every_malformed_line_is_reported_and_nothing_runs(self):
        f = self.fixture("bad.jsonl", [
            {"comment": "every kind of malformed line"},
            START, ACCOUNT,
            '{"expect": {"account": "C-1", "stage": "current"}',
            expect("C-1", no_tasks={}),
            expect("C-1", task={"scrpt": "ask"}),
            expect("C-1", facts={"days_overdu": 1}),
            expect("C-1", stage="pressure"),
            expect("C-1", task={"script": "call-2-firm"}),
            expect("C-1", task={"created": "2026-03-11 00:00"}),
            expect("C-1", task={"type": "fax"}),
            expect("C-1", facts={"first_miss": 1}),
            expect("C-1", task={"source": "stage:negotiation#3"}),
            {"at": "2026-03-05T00:00:00+08:00"},
            {"at": "2026-03-04T00:00:00+08:00"},
            {"at": "2026-03-06T00:00:00"},
            {"clock": "2026-03-07T00:00:00+08:00"},
            START,
            "[1, 2]",
            expect("C-1", stage="current", facts={"balance": 0}),
            expect("C-1", facts={}),
            expect("C-1", task={"contact": {"role": "boss"}}),
            expect("C-1", task={"windows": [["2026-03-11T00:00:00+08:00"]]}),
            expect("C-1", stage="current"),
        ])
        want = (
            "bad.jsonl:4: bad JSON: '}' expected near end of file\n"
            'bad.jsonl:5: expect: unknown member "no_tasks" (account and one of stage, facts, task, no_task)\n'
            'bad.jsonl:6: expect: task: "scrpt" is not a member of a task record\n'
            'bad.jsonl:7: expect: facts: unknown fact "days_overdu"\n'
            'bad.jsonl:8: expect: stage: "pressure" names no stage of the rule set\n'
            'bad.jsonl:9: expect: task: script: "call-2-firm" names no script of the rule set\n'
            'bad.jsonl:10: expect: task: created: "2026-03-11 00:00" is not an RFC 3339 timestamp with an offset\n'
            'bad.jsonl:11: expect: task: type: "fax" is not a task type\n'
            "bad.jsonl:12: expect: facts: first_miss: expected true or false\n"
            'bad.jsonl:13: expect: task: source: "stage:negotiation#3" names no stage step, alert or release of the rule set\n'
            "bad.jsonl:15: at: 2026-03-04T00:00:00+08:00 is before the clock (2026-03-05T00:00:00+08:00): the clock only moves forward\n"
            'bad.jsonl:16: at: "2026-03-06T00:00:00" is not an RFC 3339 timestamp with an offset\n'
            'bad.jsonl:17: not a fixture line: expected an event (with "type"), {"at":TIME}, {"expect":{...}} or {"comment":TEXT}\n'
            'bad.jsonl:18: only the first line may be {"start":TIME,"timezone":ZONE}\n'
            "bad.jsonl:19: not a JSON object\n"
            "bad.jsonl:20: expect: expected exactly one of stage, facts, task, no_task\n"
            "bad.jsonl:21: expect: facts: expected a non-empty object {NAME: VALUE}\n"
            'bad.jsonl:22: expect: task: contact: role: "boss" is not a contact role\n'
            "bad.jsonl:23: expect: task: windows: window 1 is not a [from, to] pair\n"
            "bad.jsonl: 14 expectations not run (malformed fixture)\n")
        r = self.run_ctl(f)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (2, want + "0 passed, 14 failed\n", ""))
        r = self.run_ctl("--json", f)
        self.assertEqual((r.returncode, r.stderr), (2, want))
        out = [json.loads(l) for l in r.stdout.splitlines()]
        self.assertEqual(len(out), 15)
        # Line 4 is no JSON: not known as an expectation.
        self.assertEqual(out[0], {"fixture": "bad.jsonl", "line": 5, "ok": False,
                                  "expected": {"account": "C-1", "no_tasks": {}}, "found": None})
        self.assertEqual(out[-1], {"passed": 0, "failed": 14})

    def test_start_line(self):
        cases = [
            ([ACCOUNT, START], 'x.jsonl:1: the first line must be {"start":TIME,"timezone":ZONE}\n'
                               'x.jsonl:2: only the first line may be {"start":TIME,"timezone":ZONE}\n'),
            ([{"start": "2026-03-02T09:00:00+08:00"}],
             'x.jsonl:1: the first line must be {"start":TIME,"timezone":ZONE}\n'),
            ([{"start": "2026-03-02T09:00:00+08:00", "timezone": "Mars/Olympus"}],
             'x.jsonl:1: timezone: unknown time zone "Mars/Olympus" (an IANA name from tzdata, e.g. "Asia/Shanghai")\n'),
            ([{"start": "2026-03-02", "timezone": "Asia/Shanghai"}],
             'x.jsonl:1: start: "2026-03-02" is not an RFC 3339 timestamp with an offset\n'),
            ([{"comment": "only a comment"}, ""],
             'x.jsonl: no {"start":TIME,"timezone":ZONE} line\n'),
        ]
        for items, want in cases:
            with self.subTest(want=want):
                f = self.fixture("x.jsonl", items)
                r = self.run_ctl(f)
                self.assertEqual((r.returncode, r.stdout), (2, want + "0 passed, 0 failed\n"))

    def test_malformed_fixture_does_not_stop_the_others(self):
        good = self.fixture("good.jsonl", [START, ACCOUNT, expect("C-1", stage="current")])
        bad = self.fixture("bad.jsonl", [START, expect("C-1", stage="nowhere")])
        r = self.run_ctl(good, bad, good)
        self.assertEqual((r.returncode, r.stdout), (2,
            'bad.jsonl:2: expect: stage: "nowhere" names no stage of the rule set\n'
            "bad.jsonl: 1 expectation not run (malformed fixture)\n"
            "2 passed, 1 failed\n"))

    def test_unreadable_fixture(self):
        r = self.run_ctl("missing.jsonl")
        self.assertEqual((r.returncode, r.stdout), (2,
            "missing.jsonl: cannot read: No such file or directory\n0 passed, 0 failed\n"))

    def test_rule_set_with_errors(self):
        with open(os.path.join(self.rules, "20-broken.conf"), "w") as f:
            f.write('rules = ( { name = "x"; from = "nowhere"; to = "current"; when = { }; } );\n')
        f = self.fixture("ok.jsonl", [START, ACCOUNT, expect("C-1", stage="current"),
                                      expect("C-1", no_task={})])
        r = self.run_ctl(f)
        head = ('20-broken.conf:1: rule x: unknown stage "nowhere" in from\n'
                "%s: the rule set has 1 error: no fixture runs\n" % self.rules)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stdout.splitlines()[-2:],
                         ["ok.jsonl: 2 expectations not run (the rule set has errors)",
                          "0 passed, 2 failed"])
        self.assertRegex(r.stdout.splitlines()[0], r"^20-broken\.conf:1: ")
        self.assertEqual(r.stdout.splitlines()[1],
                         "%s: the rule set has 1 error: no fixture runs" % self.rules)
        del head
        r = self.run_ctl("--json", f)
        self.assertEqual(r.returncode, 2)
        self.assertRegex(r.stderr, r"^20-broken\.conf:1: ")
        self.assertEqual([json.loads(l) for l in r.stdout.splitlines()], [
            {"fixture": "ok.jsonl", "line": 3, "ok": False,
             "expected": {"account": "C-1", "stage": "current"}, "found": None},
            {"fixture": "ok.jsonl", "line": 4, "ok": False,
             "expected": {"account": "C-1", "no_task": {}}, "found": None},
            {"passed": 0, "failed": 2}])

    def test_usage(self):
        r = subprocess.run([DUNNCTL, "test-rules", "--rules", self.rules], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("test-rules needs at least one FIXTURE", r.stderr)
        r = subprocess.run([DUNNCTL, "-c", os.path.join(self.tmp, "none.conf"), "test-rules",
                            "x.jsonl"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("no --rules DIR given and no readable dunnd.conf", r.stderr)


class Zones(FixtureTest):
    def test_fixtures_in_different_zones_in_one_run(self):
        # 2026-03-08 is the start of daylight saving time in New York:
        # the local midnight of 11 March is 04:00Z; in Shanghai 16:00Z
        # of 10 March; in Kolkata 18:30Z of 10 March.
        def fx(name, zone, midnight, before):
            return self.fixture(name, [
                {"start": "2026-03-02T09:00:00Z", "timezone": zone}, ACCOUNT, INVOICE,
                {"at": before},
                expect("C-1", stage="reminder"),
                {"at": midnight},
                expect("C-1", stage="negotiation"),
                expect("C-1", task={"script": "ask", "created": midnight}),
            ])
        ny = fx("ny.jsonl", "America/New_York", "2026-03-11T04:00:00Z", "2026-03-11T03:59:59Z")
        sh = fx("sh.jsonl", "Asia/Shanghai", "2026-03-10T16:00:00Z", "2026-03-10T15:59:59Z")
        ko = fx("ko.jsonl", "Asia/Kolkata", "2026-03-10T18:30:00Z", "2026-03-10T18:29:59Z")
        r = self.run_ctl(ny, sh, ko, ny)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "12 passed, 0 failed\n", ""))
        # The task's created is written in the fixture's zone.
        r = self.run_ctl("--json", ny, sh)
        out = [json.loads(l) for l in r.stdout.splitlines()]
        self.assertEqual([t["created"] for t in out[2]["found"] if t["script"] == "ask"],
                         ["2026-03-11T00:00:00-04:00"])
        self.assertEqual([t["created"] for t in out[5]["found"] if t["script"] == "ask"],
                         ["2026-03-11T00:00:00+08:00"])

    def test_a_config_in_another_zone_gets_a_warning(self):
        conf = os.path.join(self.tmp, "dunnd.conf")
        with open(conf, "w") as f:
            f.write('database = "x.db";\nrules = "rules";\ntimezone = "Europe/Paris";\n')
        f = self.fixture("ok.jsonl", [START, ACCOUNT, expect("C-1", stage="current")])
        r = subprocess.run([DUNNCTL, "-c", conf, "test-rules", f], capture_output=True, text=True)
        self.assertEqual((r.returncode, r.stdout), (0,
            'ok.jsonl:1: warning: timezone "Asia/Shanghai" differs from dunnd.conf\'s "Europe/Paris"\n'
            "1 passed, 0 failed\n"))


class DefaultRules(FixtureTest):
    SHIPPED = os.path.join(ROOT, "rules", "tests")

    def shipped(self):
        return sorted(glob.glob(os.path.join(self.SHIPPED, "*.jsonl")))

    def test_shipped_fixtures_pass(self):
        fixtures = self.shipped()
        self.assertGreaterEqual(len(fixtures), 10)
        r = self.run_ctl(*fixtures, rules=os.path.join(ROOT, "rules"))
        self.assertEqual(r.returncode, 0, r.stdout[-3000:])
        self.assertRegex(r.stdout, r"^\d+ passed, 0 failed\n$")
        self.assertEqual(r.stderr, "")

    def test_every_shipped_fixture_names_its_playbook_point(self):
        for path in self.shipped():
            with open(path) as f:
                comments = [json.loads(l)["comment"] for l in f
                            if l.strip() and "comment" in json.loads(l)]
            self.assertTrue(comments and re.match(r"^(P\d+|Exemption)", comments[0]),
                            "%s: no comment line naming its point first" % path)

    def test_a_broken_rule_is_caught(self):
        fixture = os.path.join(self.SHIPPED, "p3-call-themes.jsonl")
        r = self.run_ctl(fixture, rules=os.path.join(ROOT, "rules"))
        self.assertEqual(r.returncode, 0, r.stdout[-3000:])
        broken = os.path.join(self.tmp, "broken")
        shutil.copytree(os.path.join(ROOT, "rules"), broken)
        path = os.path.join(broken, "10-stages.conf")
        with open(path) as f:
            text = f.read()
        # Call 2 five days after entering negotiation instead of three.
        edited = text.replace('script = "call-2-firm"; after = "3d";',
                              'script = "call-2-firm"; after = "5d";')
        self.assertNotEqual(edited, text)
        with open(path, "w") as f:
            f.write(edited)
        r = self.run_ctl(fixture, rules=broken)
        self.assertEqual(r.returncode, 1)
        first = r.stdout.splitlines()[0]
        self.assertEqual(first, fixture + ':16: account C-3: expected a task '
                         '{"type":"call","script":"call-2-firm","source":"stage:negotiation#2",'
                         '"created":"2026-03-14T00:00:00+08:00"} since line 12, found none')
        self.assertIn("\naccount C-3", r.stdout)
        self.assertRegex(r.stdout, r"\n\d+ passed, [1-9]\d* failed\n$")

    def test_readme_story(self):
        """The README's "An operator changes a rule": visits every 21 days
        fail p10-credit-hold.jsonl at line 28; the fixture updated with
        the README's sed passes."""
        work = os.path.join(self.tmp, "work")
        os.makedirs(work)
        shutil.copytree(os.path.join(ROOT, "rules"), os.path.join(work, "rules"))
        with open(os.path.join(ROOT, "README.md")) as f:
            readme = f.read()
        story = readme[readme.index("**An operator changes a rule.**"):]
        seds = re.findall(r"^sed -i .*$", story, re.M)[:2]
        self.assertEqual(len(seds), 2)
        fixtures = "rules/tests/*.jsonl"

        def sh(cmd):
            return subprocess.run(cmd, shell=True, cwd=work, capture_output=True, text=True,
                                  env=dict(os.environ, PATH=os.path.dirname(DUNNCTL) + ":"
                                           + os.environ["PATH"]))
        self.assertEqual(sh(seds[0]).returncode, 0)
        r = sh("dunnctl test-rules --rules rules " + fixtures)
        self.assertEqual(r.returncode, 1)
        shown = story[story.index("```\nrules/tests/p10"):]
        shown = shown[4:shown.index("```", 4)].splitlines()
        out = r.stdout.splitlines()
        # The README abridges the explain at each "...": every other
        # line it shows is printed, in that order, first and last alike.
        self.assertEqual(out[0], shown[0])
        self.assertEqual(out[-1], shown[-1])
        rest = iter(out)
        for line in shown:
            if line != "...":
                self.assertIn(line, rest, "README line not printed (in order): " + line)
        self.assertEqual(sh(seds[1]).returncode, 0)
        r = sh("dunnctl test-rules --rules rules " + fixtures)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertRegex(r.stdout, r"^[1-9][0-9]* passed, 0 failed\n$")
        # The README shows the count the fixed copy really prints.
        self.assertIn("```\n" + r.stdout + "```", story)
