"""Operator safety (issue 28): the clock that cannot run ahead (§6), file
modes, the audit log, dunnd --check resolving users and groups, the
convenience commands of dunnctl (§7) and its conventions."""
import datetime
import json
import os
import stat
import subprocess
import unittest

from lib import (ROOT, DUNND, DUNNCTL, WRAPPER, DaemonTest, account_records,
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


class StartSafety(DaemonTest):
    def test_database_files_are_0600_whatever_the_umask(self):
        old = os.umask(0o022)
        try:
            d = self.daemon().start()
        finally:
            os.umask(old)
        r, _ = ingest_events(d, [ACCOUNT])
        self.assertEqual(r.returncode, 0, r.stderr)
        for name in ("dunnd.db", "dunnd.db-wal", "dunnd.db-shm"):
            path = os.path.join(d.tmp, name)
            self.assertTrue(os.path.exists(path), name)
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600, name)
        self.assertEqual(stat.S_IMODE(os.stat(d.sock).st_mode), 0o660)

    def test_long_catch_up_extends_the_systemd_start_timeout(self):
        import socket
        d = self.daemon(clock="2026-03-02T09:00:00+08:00").start()
        r, _ = ingest_events(d, [ACCOUNT, {
            "type": "invoice", "id": "i1", "account": "A", "invoice": "I-1",
            "amount": 1000, "issued": "2026-03-01", "due": "2026-03-05"}])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(d.stop(), 0)
        path = os.path.join(d.tmp, "notify.sock")
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        ns.bind(path)
        ns.settimeout(60)
        self.addCleanup(ns.close)
        d.clock = "2027-03-02T09:00:00+08:00"  # a year of midnights to catch up
        d.start(env={"NOTIFY_SOCKET": path})
        msgs = []
        while not any("READY=1" in m for m in msgs):
            msgs.append(ns.recv(4096).decode())
        before_ready = msgs[:-1] + [msgs[-1].split("READY=1")[0]]
        self.assertTrue(any("EXTEND_TIMEOUT_USEC=" in m for m in before_ready), msgs)
        self.assertEqual(d.stop(), 0)


class Audit(DaemonTest):
    def test_one_line_per_mutating_request_naming_the_uid(self):
        d = self.daemon().start()
        uid = os.getuid()
        r, _ = ingest_events(d, [ACCOUNT, {"type": "bogus", "id": "x"}], "--skip-bad",
                             os.path.join(d.tmp, "rej.jsonl"))
        self.assertEqual(r.returncode, 1)
        self.assertEqual(d.ctl("ack", "--consumer", "push", "0").returncode, 0)
        self.assertEqual(d.ctl("clock", "advance", "1h").returncode, 0)
        self.assertEqual(d.ctl("reload").returncode, 0)
        bk = os.path.join(d.tmp, "copy.db")
        self.assertEqual(d.ctl("backup", bk).returncode, 0)
        self.assertEqual(stat.S_IMODE(os.stat(bk).st_mode), 0o600)
        d.ctl("status")
        d.ctl("accounts")
        self.assertEqual(d.stop(), 0)
        audit = [l.split("audit: ", 1)[1] for l in d.log().splitlines() if "audit: " in l]
        p = "uid %d: " % uid
        self.assertEqual(audit[:3], [
            p + "ingest: 1 ok, 0 duplicate, 1 error, 0 rolled_back: committed",
            p + "ack push 0: ok",
            p + "clock advance 1h: now 2026-03-02T10:00:00+08:00",
        ])
        self.assertTrue(audit[3].startswith(p + "reload: ok, version "), audit)
        self.assertEqual(audit[4], p + "backup %s: started" % bk)
        self.assertEqual(len(audit), 5, audit)


class CheckResolves(DaemonTest):
    def check(self, d):
        return subprocess.run([DUNND, "-c", d.conf, "--check"], capture_output=True,
                              text=True, timeout=60)

    def test_missing_socket_group_fails_check_as_it_fails_the_start(self):
        d = self.daemon(conf_extra='socket_group = "no-such-group-28";\n')
        r = self.check(d)
        self.assertEqual(r.returncode, 1, r.stderr)
        want = d.conf + ': socket_group: unknown group "no-such-group-28"'
        self.assertIn(want, r.stderr)
        p = d.spawn()
        self.assertEqual(p.wait(60), 1)
        self.assertIn(want, d.log())
        self.assertFalse(os.path.exists(d.db))

    def test_unknown_users_and_groups_are_warnings_at_check_and_start(self):
        d = self.daemon(conf_extra='admins = [ "root", "no-such-user-28", "@no-such-group-28", "0" ];\n'
                                   'readers = [ "@no-such-readers-28" ];\n'
                                   'consumers = [ "no-such-pusher-28" ];\n')
        r = self.check(d)
        self.assertEqual(r.returncode, 0, r.stderr)
        warnings = [l for l in r.stderr.splitlines() if "warning:" in l]
        self.assertEqual(warnings, [
            d.conf + ': warning: admins: unknown user "no-such-user-28": skipped, it grants nobody access',
            d.conf + ': warning: admins: unknown group "no-such-group-28": skipped, it grants nobody access',
            d.conf + ': warning: readers: unknown group "no-such-readers-28": skipped, it grants nobody access',
            d.conf + ': warning: consumers: unknown user "no-such-pusher-28": skipped, it grants nobody access',
        ])
        d.start()
        self.assertEqual(d.stop(), 0)
        for w in warnings:
            self.assertEqual(d.log().count(w), 1, d.log())


class ConvenienceCommands(DaemonTest):
    def setUp(self):
        super().setUp()
        self.d = self.daemon().start()
        r, _ = ingest_events(self.d, [ACCOUNT, {
            "type": "invoice", "id": "i1", "account": "A", "invoice": "I-1",
            "amount": 1000, "issued": "2026-02-01", "due": "2026-02-10"}])
        self.assertEqual(r.returncode, 0, r.stderr)

    def query(self, sql):
        import sqlite3
        db = sqlite3.connect(self.d.db)
        try:
            return list(db.execute(sql))
        finally:
            db.close()

    def event_ids(self):
        return [r[0] for r in self.query("SELECT id FROM events ORDER BY seq")]

    def test_pause_and_unpause(self):
        r = self.d.ctl("pause", "A")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "1 ok, 0 duplicate, 0 error, 0 rolled_back\n")
        self.assertTrue(account_records(self.d)["A"]["paused"])
        r = self.d.ctl("--json", "unpause", "A")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout), {"line": 1, "status": "ok"})
        self.assertFalse(account_records(self.d)["A"]["paused"])
        ids = self.event_ids()[2:]
        self.assertEqual(len(ids), 2)
        for i in ids:
            self.assertRegex(i, r"^ctl-[0-9a-f]{32}$")
        self.assertNotEqual(ids[0], ids[1])
        # An unknown account: the ingest error, exit 1.
        r = self.d.ctl("pause", "NOPE")
        self.assertEqual(r.returncode, 1)
        self.assertIn("line 1: name:", r.stdout)  # a new account needs a name
        self.assertIn("0 ok, 0 duplicate, 1 error, 0 rolled_back", r.stdout)
        self.assertEqual(self.d.ctl("pause").returncode, 2)

    def test_tag_adds_and_removes_without_dropping(self):
        r = self.d.ctl("tag", "A", "+legal_hold")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(account_records(self.d)["A"]["tags"], ["key_account", "legal_hold"])
        r = self.d.ctl("tag", "A", "+vip", "-key_account", "+legal_hold")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(account_records(self.d)["A"]["tags"], ["legal_hold", "vip"])
        r = self.d.ctl("tag", "A", "-absent")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(account_records(self.d)["A"]["tags"], ["legal_hold", "vip"])
        r = self.d.ctl("tag", "A")
        self.assertEqual((r.returncode, r.stdout), (0, "A: legal_hold vip\n"))
        r = self.d.ctl("tag", "A", "vip")
        self.assertEqual(r.returncode, 2)
        r = self.d.ctl("tag", "A", "+x", "-x")
        self.assertEqual(r.returncode, 2)
        self.assertIn("both added and removed", r.stderr)
        r = self.d.ctl("tag", "NOPE", "+x")
        self.assertEqual(r.returncode, 1)
        self.assertIn("NOPE", r.stderr)

    def test_outcome_closes_the_task(self):
        self.assertEqual(self.d.ctl("clock", "advance", "1d").returncode, 0)
        tasks = task_records(self.d, "--open")
        self.assertTrue(tasks, "MINIMAL_RULES give an overdue account a call")
        t = tasks[0]["task"]
        r = self.d.ctl("outcome", t, "reached", "--note", "will pay friday")
        self.assertEqual(r.returncode, 0, r.stderr)
        done = [x for x in task_records(self.d) if x["task"] == t][0]
        self.assertEqual(done["status"], "done")
        # The default --at is the daemon's now (a test clock here).
        at = int(datetime.datetime.fromisoformat("2026-03-03T09:00:00+08:00").timestamp())
        self.assertEqual(self.query("SELECT event, result, at, note FROM outcomes"),
                         [(self.event_ids()[-1], "reached", at, "will pay friday")])
        r = self.d.ctl("outcome", t, "paid", "--at", "2026-03-03T08:00:00+08:00")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.d.ctl("outcome", t, "bogus")
        self.assertEqual(r.returncode, 1)
        self.assertIn("line 1: result:", r.stdout)
        self.assertEqual(self.d.ctl("outcome", t, "paid", "--at", "yesterday").returncode, 2)
        self.assertRegex(self.event_ids()[-1], r"^ctl-[0-9a-f]{32}$")

    def test_admins_only(self):
        if os.getuid() == 12345:
            self.skipTest("the test user is the uid the test makes the admin")
        d = self.daemon("r", conf_extra='admins = [ "12345" ];\nreaders = [ "%d" ];\n'
                        % os.getuid())
        d.start()
        for args in (["pause", "A"], ["unpause", "A"], ["outcome", "T-000001", "done",
                     "--at", "2026-03-02T09:00:00+08:00"]):
            r = d.ctl(*args)
            self.assertEqual(r.returncode, 1, args)
            self.assertIn("permission denied", r.stderr)
        # tag reads first (explain is a reader's), then is refused.
        r = d.ctl("tag", "A", "+x")
        self.assertEqual(r.returncode, 1)


class RuleCycles(DaemonTest):
    """§4.8's cycle against brute force: every simple cycle of each
    strongly connected set enumerated, the shortest kept, ties by the
    sorted rule positions, then by the cycle order from its first rule."""

    @staticmethod
    def expected(n, adj):
        reach = [set() for _ in range(n)]
        for i in range(n):
            stack = [i]
            while stack:
                for w in adj[stack.pop()]:
                    if w not in reach[i]:
                        reach[i].add(w)
                        stack.append(w)
        done, want = set(), []
        for i in range(n):
            if i in done or i not in reach[i]:
                continue
            comp = sorted(j for j in range(n) if j == i or (j in reach[i] and i in reach[j]))
            done.update(comp)
            cycles = []

            def dfs(start, path):
                for w in adj[path[-1]]:
                    if w == start and len(path) >= 2:
                        cycles.append(list(path))
                    elif w in comp and w > start and w not in path:
                        dfs(start, path + [w])
            for v in comp:
                dfs(v, [v])
            length = min(len(c) for c in cycles)
            best = min((c for c in cycles if len(c) == length), key=lambda c: (sorted(c), c))
            want.append("10.conf:%d: rule cycle: %s -> r%d" % (
                best[0] + 3, " -> ".join("r%d" % x for x in best), best[0]))
        return sorted(want)

    def test_random_rule_sets_against_brute_force(self):
        import random
        rnd = random.Random(28)
        d = os.path.join(self.tmp, "rules")
        os.makedirs(d)
        for trial in range(120):
            stages = ["s%d" % i for i in range(rnd.randint(2, 5))]
            rules = []
            for _ in range(rnd.randint(2, 8)):
                f = rnd.choice(stages)
                rules.append((f, rnd.choice([x for x in stages if x != f])))
            n = len(rules)
            adj = [[b for b in range(n) if rules[b][0] == rules[a][1] and rules[b][1] != rules[a][1]]
                   for a in range(n)]
            with open(os.path.join(d, "10.conf"), "w") as f:
                f.write("stages = ( %s );\nrules = (\n%s );\n" % (
                    ", ".join('{ name = "%s"; }' % x for x in stages),
                    ",\n".join('{ name = "r%d"; from = "%s"; to = "%s"; when = { }; }' % (i, a, b)
                               for i, (a, b) in enumerate(rules))))
            r = subprocess.run([DUNNCTL, "check-rules", d], capture_output=True, text=True)
            got = sorted(l for l in r.stdout.splitlines() if "rule cycle" in l)
            self.assertEqual(got, self.expected(n, adj), (trial, rules))


class CliConventions(DaemonTest):
    def test_help_version_and_did_you_mean(self):
        r = subprocess.run([DUNNCTL, "--help"], capture_output=True, text=True)
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        self.assertIn("dunnctl tag ACCOUNT [+TAG...] [-TAG...]", r.stdout)
        r = subprocess.run([DUNNCTL, "--version"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^dunnctl \d+\.\d+\.\d+\n$")
        r = subprocess.run([DUNND, "--help"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        self.assertIn("--clock-ahead-ok", r.stdout)
        for typo, cmd in (("stauts", "status"), ("acounts", "accounts"), ("taks", "tasks"),
                          ("unpasue", "unpause")):
            r = subprocess.run([DUNNCTL, typo], capture_output=True, text=True)
            self.assertEqual(r.returncode, 2)
            self.assertIn('unknown command "%s"; did you mean "%s"?' % (typo, cmd), r.stderr)
        r = subprocess.run([DUNNCTL, "frobnicate"], capture_output=True, text=True)
        self.assertIn('unknown command "frobnicate"\n', r.stderr)

    def test_check_rules_json_and_plurals(self):
        rules = os.path.join(self.tmp, "rules")
        os.makedirs(rules)
        with open(os.path.join(rules, "10.conf"), "w") as f:
            f.write('stages = ( { name = "a"; }, { name = "b"; }, { name = "c"; } );\n'
                    'rules = ( { name = "ab"; from = "a"; to = "b"; when = { }; },\n'
                    '  { name = "ba"; from = "b"; to = "a"; when = { }; } );\n')
        r = subprocess.run([DUNNCTL, "check-rules", rules], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout.splitlines()[-1], "rules refused: 1 error, 1 warning")
        r = subprocess.run([DUNNCTL, "check-rules", "--json", rules], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertEqual([json.loads(l) for l in r.stdout.splitlines()], [
            {"file": "10.conf", "line": 1, "level": "warning",
             "message": 'stage "c": no rule leads to this stage, so no account can reach it'},
            {"file": "10.conf", "line": 2, "level": "error", "message": "rule cycle: ab -> ba -> ab"},
            {"errors": 1, "warnings": 1},
        ])
        with open(os.path.join(rules, "10.conf"), "w") as f:
            f.write('stages = ( { name = "a"; } );\n')
        r = subprocess.run([DUNNCTL, "--json", "check-rules", rules], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        last = json.loads(r.stdout.splitlines()[-1])
        self.assertEqual((last["errors"], last["warnings"]), (0, 0))
        self.assertRegex(last["rules_version"], "^[0-9a-f]{32}$")

    def test_reload_refusal_counts_in_the_singular(self):
        d = self.daemon().start()
        with open(os.path.join(d.tmp, "rules", "10-rules.conf"), "a") as f:
            f.write("colour = 1;\n")
        r = d.ctl("reload")
        self.assertEqual(r.returncode, 1)
        self.assertIn("reload refused: 1 error\n", r.stderr)

    def test_accounts_aging_and_explain(self):
        d = self.daemon().start()
        r, _ = ingest_events(d, [
            ACCOUNT,
            {"type": "invoice", "id": "i1", "account": "A", "invoice": "I-1",
             "amount": 123456, "issued": "2026-02-01", "due": "2026-02-10"},
            {"type": "dispute", "id": "d1", "account": "A", "invoice": "I-1",
             "amount": 1000, "reason": "short delivery", "at": "2026-03-01T09:00:00+08:00"},
            {"type": "account", "id": "b1", "account": "B", "name": "B Co",
             "currency": "CNY", "size": "small"},
            {"type": "invoice", "id": "i2", "account": "B", "invoice": "I-2",
             "amount": 5000, "issued": "2026-03-01", "due": "2026-04-30"},
            {"type": "account", "id": "u1", "account": "U", "name": "U Inc",
             "currency": "USD", "size": "small"},
            {"type": "invoice", "id": "i3", "account": "U", "invoice": "I-3",
             "amount": 700, "issued": "2026-03-01", "due": "2026-04-30"},
        ])
        self.assertEqual(r.returncode, 0, r.stderr)
        out = d.ctl("accounts").stdout.splitlines()
        self.assertEqual(out[0].split(), ["ACCOUNT", "STAGE", "BALANCE", "OVERDUE", "DISPUTED",
                                          "DAYS", "BROKEN", "TAGS"])
        self.assertEqual(out[1].split(), ["A", "negotiation", "1234.56", "CNY", "1234.56",
                                          "10.00", "20", "0", "key_account"])
        self.assertEqual(out[2].split(), ["B", "current", "50.00", "CNY", "0.00", "-",
                                          "0", "0", "-"])
        self.assertEqual(d.ctl("pause", "B").returncode, 0)
        self.assertIn("B        current (paused)", d.ctl("accounts").stdout)
        aging = d.ctl("report", "aging").stdout.splitlines()
        alls = [l for l in aging if l.startswith("all ")]
        self.assertEqual(len(alls), 1, aging)          # CNY only: USD has one stage
        self.assertEqual(alls[0].split()[:4], ["all", "CNY", "not_due", "50.00"])
        i = aging.index(alls[0])
        self.assertEqual(aging[i + 5].split(), ["total", "1284.56"])
        # explain: the facts' unit in the conditions and the history too.
        ex = d.ctl("explain", "A").stdout
        self.assertIn("  balance             1234.56\n", ex)
        self.assertIn("balance            1234.56  test max=0.00\n", ex)
        self.assertNotIn("123456", ex)


class InstallUpgrade(unittest.TestCase):
    def make_install(self, dest):
        r = subprocess.run(["make", "-s", "-C", ROOT, "install", "DESTDIR=" + dest,
                            "B=" + os.path.relpath(os.path.dirname(DUNND), ROOT)],
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r

    def shipped(self):
        return sorted(f for f in os.listdir(os.path.join(ROOT, "rules")) if f.endswith(".conf"))

    def test_customised_rules_get_dist_files_beside_them(self):
        import tempfile
        shipped = self.shipped()
        self.assertGreaterEqual(len(shipped), 3)
        with tempfile.TemporaryDirectory() as dest:
            self.make_install(dest)
            rd = os.path.join(dest, "etc/dunnd/rules.d")
            self.assertEqual(sorted(os.listdir(rd)), shipped)   # fresh: as they are
            # The operator edits one file; another is new in this release
            # (here: one the first install had, removed again).
            edited, new = shipped[-2], shipped[-1]
            with open(os.path.join(rd, edited), "a") as f:
                f.write("# local edit\n")
            os.unlink(os.path.join(rd, new))
            r = self.make_install(dest)
            self.assertEqual(sorted(os.listdir(rd)),
                             sorted(shipped[:-1] + [edited + ".dist", new + ".dist"]))
            with open(os.path.join(rd, edited)) as f:
                self.assertTrue(f.read().endswith("# local edit\n"))
            with open(os.path.join(rd, new + ".dist")) as f, \
                    open(os.path.join(ROOT, "rules", new)) as g:
                self.assertEqual(f.read(), g.read())
            self.assertIn("is customised: 2 default rule file(s) installed as .dist", r.stdout)
            self.assertIn(new + ".dist", r.stdout)

    def test_an_unchanged_default_set_gets_new_files_normally(self):
        import tempfile
        shipped = self.shipped()
        with tempfile.TemporaryDirectory() as dest:
            self.make_install(dest)
            rd = os.path.join(dest, "etc/dunnd/rules.d")
            os.unlink(os.path.join(rd, shipped[-1]))
            r = self.make_install(dest)
            self.assertEqual(sorted(os.listdir(rd)), shipped)
            self.assertNotIn(".dist", r.stdout)


if __name__ == "__main__":
    unittest.main()
