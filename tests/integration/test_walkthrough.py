"""The README's walkthrough, run against the real daemon, and a golden run.

WalkthroughTest runs the README's "Walkthrough" commands in order, in a
scratch directory laid out as the README lays it out (the checkout's
dunnd.conf, a copy of rules/ and examples/portfolio.jsonl, ./var), and
asserts their key outcomes: every line of the example ingested; the
stages at the start clock and after `clock advance 7d`; the transitions
of that week with their rules and moments; the first-miss account's
review task; the legal_hold account never reaching legal; `report aging`
adding up to the balances of `accounts`; `simulate` naming the accounts
that `reload` then moves.  The README's commands are run through sh with
build/ on PATH, exactly as printed there, and every output line the README
shows must be one they printed (test_readme_outputs_are_real): a change
of behaviour that makes the README stale fails here.

GoldenTest ingests the same portfolio under the default rules, advances
the test clock 120 days one day at a time, and compares each account's
stage every 10 days and every task (account, type, source, created) to
tests/golden/walkthrough-120d.json.  The same run in 10-day jumps must
give the same file (§4.3: a clock jump processes every moment on the way,
records carry their own moment).  DUNND_WRITE_GOLDEN=1 rewrites the file
instead of comparing; a rewritten file must be reviewed again as below.

Review of tests/golden/walkthrough-120d.json (generated once from the
daemon, then checked by hand against rules/*.conf, interfaces.md and
domain.md; T0 = 2026-03-02T09:00+08:00, no money arrives after T0):

* Cadences (rules/10-stages.conf): negotiation call #1 at entry, #2 +3d,
  #3 +7d, #4 +14d then every 7d; pressure credit_hold #1 and letter #2 at
  entry, call #3 +3d every 7d, visit #4 +10d every 14d (max 3); legal
  the approval of legal_referral #1 at entry (approval = true), letter #2
  +14d every 30d; reminder email #1
  at entry.  Moments are entry + n x 24h, so an account that moved at a
  local midnight gets its tasks at 00:00, one that moved at T0 at 09:00.
* find-decision-maker (P6, rules/30-alerts.conf; reviewed after the
  calendar work): C-1403 (only an accountant), C-1405 (no contacts) from
  T0 and C-1018 (accountant and salesman) from its first overdue day, each
  again every 30 days while something is overdue; C-1402's president
  (email only) is a decision-maker: no review.  No money arrives after
  T0, so no credit_hold is released.  check_working_time() checks every
  window of the run against the default calendar.
* C-1101 (first miss: six invoices settled within due + grace_days 2, the
  one due 03-04 unpaid): reminder at T0 (days_to_due 2 <= 3, due-soon);
  03-05 00:00 negotiation (overdue, days_overdue 1), call #1 and the
  review of alert check-dispute-first in the same evaluation; the alert
  again on 04-04, 05-04, 06-03 (cooldown 30d, first_miss still true).
  `long` and `worsening` never apply (first_miss = false fails);
  first-miss-long at days_overdue 60 = 05-03 00:00; pressure-failed at 90
  = 06-02.  The alert's review tasks are not cancelled on those moves
  (§4.6), its stage tasks are.  Snapshots (days 0, 10, ... 120 =
  03-02, 03-12, ... 06-30, at 09:00): reminder; negotiation x6 (03-12 ..
  05-01, the move being on 05-03); pressure x3 (05-11 .. 05-31); legal x3.
* C-1102 (new customer, nothing settled, first_miss false): reminder at
  T0, negotiation 03-04 (due 03-03), no alert; `long` at 30 days = 04-02;
  legal at 90 = 06-01.
* C-1302 (one promise broken 02-22, one due 03-04): negotiation at T0
  with no call (hold_when promise_pending); the promise breaks at the end
  of 03-04 + promise_grace 1d = 03-06 00:00, promises_broken = 2 within
  90d -> pressure (promises-broken) with credit_hold + letter at 03-06,
  calls from 03-09, visits 03-16, 03-30, 04-13 and no fourth (max 3);
  legal at 02-12 + 90 = 05-13, letters 05-27 and 06-26.
* C-1202 (days late 0, 8, 17, 27, 39; open since 02-20): negotiation at
  T0 (10 days); late_trend over the six points (0, 8, 17, 27, 39, 15) is
  89/17.5 = 5.09 >= 5 on 03-07 with days_overdue 15 -> worsening,
  pressure; legal at 05-21 (02-20 + 90).
* C-1401 (bounced payment: invoice due 02-10 open again): negotiation at
  T0 (20 days), calls at T0, 03-05, 03-09 09:00; late_trend
  (2.5 x days - 2.5) / 17.5 stays below 5 until 36 days, so `long` moves
  it first, on 03-12 (30 days); legal on 05-11.
* C-1501 (undisputed part paid, 40,000.00 disputed): days_overdue 0, so
  it stays current for 120 days; alert dispute-review every 14 days from
  T0 09:00 (03-16, 03-30, ... 06-22), nine reviews.
* C-1601 (large, 102 days overdue): current -> negotiation -> pressure ->
  legal in one evaluation at T0 (overdue, worsening, pressure-failed),
  legal_referral at T0 only, letters at T0 + 14d and every 30d after.
* C-1602 (150 days overdue, tag legal_hold): no transition and no task at
  all; `current` in every snapshot.
* C-1603 (key_account, 24 days overdue): negotiation for all 120 days
  (every escalating rule excludes key_account); key-account-review on
  03-08 00:00 (days_overdue 30) and every 30 days after; the follow-up
  call #4 weekly from 03-16 09:00 without end.
* C-1604 (paused): no transition, no task.  C-1015, C-1016 (balance 0):
  no task.  C-1017 (only two settled invoices, so no first miss): the
  invoice due 03-12 gives reminder 03-09, negotiation 03-13, and with
  three points (0, 0, 15) late_trend 7.5 at 15 days -> worsening 03-27.
* Day 120 (06-30): 31 accounts in legal (everyone with money overdue and
  no exemption), current: C-1015, C-1016, C-1501, C-1602, C-1604;
  negotiation: C-1603.
"""
import datetime
import json
import re
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import lib
from lib import BUILD, DUNNCTL, ROOT, lines

T0 = "2026-03-02T09:00:00+08:00"
GOLDEN = os.path.join(ROOT, "tests", "golden", "walkthrough-120d.json")
README = os.path.join(ROOT, "README.md")

# The README's commands, verbatim (run through sh with build/ on PATH).
C_INGEST = "dunnctl -c dunnd.conf ingest portfolio.jsonl"
C_STATUS = "dunnctl -c dunnd.conf status"
C_ACCOUNTS = "dunnctl -c dunnd.conf accounts"
C_ADVANCE = "dunnctl -c dunnd.conf clock advance 7d"
C_TASKS = "dunnctl -c dunnd.conf tasks --open"
C_WORKABLE = "dunnctl -c dunnd.conf tasks --open --workable --type call --at 2026-03-09T15:00:00+08:00"
C_EXPLAIN = "dunnctl -c dunnd.conf explain C-1101"
C_FEED_PAY = "dunnctl -c dunnd.conf feed --from 80"
C_CHECK = "dunnctl -c dunnd.conf check-rules"
C_SIMULATE = "dunnctl -c dunnd.conf simulate --rules rules"
C_RELOAD = "dunnctl -c dunnd.conf reload"
C_FEED_RELOAD = "dunnctl -c dunnd.conf feed --from 84"
C_AGING = "dunnctl -c dunnd.conf report aging"
C_APPROVALS = "dunnctl -c dunnd.conf tasks --open --type approval"
C_APPROVE = 'dunnctl -c dunnd.conf outcome T-000019 approved --note "file complete, instruct the lawyer"'
C_FEED_APPROVE = "dunnctl -c dunnd.conf feed --from 102"
JQ_ONE = """dunnctl -c dunnd.conf --json feed | jq 'select(.task=="T-000023")'"""
SED = ("sed -i 's/days_overdue = { min = 30; }; first_miss = false;/"
       "days_overdue = { min = 21; }; first_miss = false;/' rules/20-rules.conf")
JQ = """dunnctl -c dunnd.conf --json feed | jq -c 'select(.kind=="task")'"""
PAYMENT = """dunnctl -c dunnd.conf ingest - <<'EOF'
{"type":"outcome","id":"demo-out-1","task":"T-000023","result":"reached","note":"delivery note was missing; resent, they pay today","at":"2026-03-09T09:00:00+08:00"}
{"type":"payment","id":"demo-pay-1","account":"C-1101","amount":12672000,"at":"2026-03-09T09:00:00+08:00"}
EOF"""

# Stages after the ingest at T0 (README: `dunnctl accounts`).
STAGES_T0 = dict(
    {"C-%d" % n: "current" for n in range(1001, 1019)},
    **{"C-1101": "reminder", "C-1102": "reminder",
       "C-1201": "pressure", "C-1202": "negotiation",
       "C-1301": "pressure", "C-1302": "negotiation", "C-1303": "current",
       "C-1401": "negotiation", "C-1402": "negotiation", "C-1403": "negotiation",
       "C-1404": "pressure", "C-1405": "negotiation",
       "C-1501": "current", "C-1502": "negotiation", "C-1503": "current",
       "C-1601": "legal", "C-1602": "current", "C-1603": "negotiation",
       "C-1604": "current"})

# The week's transitions (README: the feed after `clock advance 7d`),
# each checked by hand in the comment.
WEEK = [
    # due 03-03: days_overdue 1 at the start of 03-04.
    ("C-1102", "reminder", "negotiation", "overdue", "2026-03-04T00:00:00+08:00"),
    # due 03-04.
    ("C-1101", "reminder", "negotiation", "overdue", "2026-03-05T00:00:00+08:00"),
    # promise due 03-04 breaks at 03-05 00:00 + promise_grace 1d; the second
    # broken within 90 days.
    ("C-1302", "negotiation", "pressure", "promises-broken", "2026-03-06T00:00:00+08:00"),
    # due 02-20: 15 days overdue, late_trend 5.09.
    ("C-1202", "negotiation", "pressure", "worsening", "2026-03-07T00:00:00+08:00"),
    # due 03-11 (net 60 from 01-10; net 45 from 01-25): days_to_due 3.
    ("C-1004", "current", "reminder", "due-soon", "2026-03-08T00:00:00+08:00"),
    ("C-1503", "current", "reminder", "due-soon", "2026-03-08T00:00:00+08:00"),
    # due 03-12.
    ("C-1017", "current", "reminder", "due-soon", "2026-03-09T00:00:00+08:00"),
]

STAGES_7D = dict(STAGES_T0, **{t[0]: t[2] for t in WEEK})

# Negotiation accounts at 03-09 with 21-29 days overdue and neither
# first_miss nor an exempting tag: the ones `long` at 21 days moves
# (C-1401 27 days, C-1402 24, C-1403 21 -- the boundary; C-1502 has 20,
# C-1603 31 but key_account, C-1101 is back to current).
MOVED_BY_LONG_21 = {"C-1401", "C-1402", "C-1403"}


class WalkDaemon(lib.Daemon):
    """dunnd as the README starts it: the checkout's dunnd.conf (database
    and socket under ./var, rules ./rules) in a scratch directory."""

    def __init__(self, tmp, clock=T0):
        self.tmp = tmp
        self.clock = clock
        self.conf = os.path.join(tmp, "dunnd.conf")
        self.sock = os.path.join(tmp, "var", "dunnd.sock")
        self.db = os.path.join(tmp, "var", "dunnd.db")
        self.log_path = os.path.join(tmp, "dunnd.log")
        self.proc = None
        shutil.copy(os.path.join(ROOT, "dunnd.conf"), tmp)
        shutil.copytree(os.path.join(ROOT, "rules"), os.path.join(tmp, "rules"))
        shutil.copy(os.path.join(ROOT, "examples", "portfolio.jsonl"), tmp)
        os.makedirs(os.path.join(tmp, "var"))

    def argv(self, extra=()):
        # As the README: relative to the scratch directory (dunnd's cwd).
        return lib.WRAPPER + [lib.DUNND, "-c", "dunnd.conf", "-f", "--test-clock=" + self.clock] + list(extra)

    def ctl(self, *args, input=None, timeout=60):
        return subprocess.run([DUNNCTL, "-c", "dunnd.conf"] + list(args), cwd=self.tmp,
                              capture_output=True, text=True, input=input, timeout=timeout)

    def ok(self, *args):
        r = self.ctl(*args)
        if r.returncode != 0:
            raise AssertionError("dunnctl %s exited %d: %s%s"
                                 % (" ".join(args), r.returncode, r.stdout, r.stderr))
        return r.stdout

    def json(self, *args):
        return lines(self.ok("--json", *args))

    def sh(self, script):
        env = dict(os.environ, PATH=BUILD + os.pathsep + os.environ.get("PATH", ""))
        return subprocess.run(["sh", "-c", script], cwd=self.tmp, env=env,
                              capture_output=True, text=True, timeout=60)

    def stages(self):
        return {a["account"]: a["stage"] for a in self.json("accounts")}

    def kill(self):
        """Stops dunnd (SIGTERM; SIGKILL if it hangs); under a wrapper
        (valgrind) its report comes through the exit status."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.stop()
        if lib.WRAPPER and self.proc.returncode == 99:
            raise AssertionError("dunnd under %s exited 99:\n%s" % (lib.WRAPPER[0], self.log()[-3000:]))


def portfolio_lines():
    with open(os.path.join(ROOT, "examples", "portfolio.jsonl")) as f:
        return [l for l in f if l.strip()]


class WalkthroughTest(unittest.TestCase):
    """Runs the walkthrough once (setUpClass); each test checks one outcome."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="dunnd-walk-")
        d = cls.d = WalkDaemon(cls.tmp)
        try:
            cls.run_walkthrough(d)
        except BaseException:
            d.kill()
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.d.kill()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def runcmd(cls, cmd):
        """Runs one of the README's commands as printed there (sh, build/ on
        PATH, in the scratch directory) and keeps its output for
        test_readme_outputs_are_real."""
        r = cls.d.sh(cmd)
        cls.transcript.append((cmd, r.stdout))
        # DUNND_WALK_TRANSCRIPT=FILE: every command and what it printed,
        # to bring the README up to date after a change of behaviour.
        out = os.environ.get("DUNND_WALK_TRANSCRIPT")
        if out:
            with open(out, "a") as f:
                f.write("$ %s\n%s\n" % (cmd, r.stdout))
        return r

    @classmethod
    def run_walkthrough(cls, d):
        cls.transcript = []
        d.start()
        # 1. ingest; 2. status, accounts
        cls.ingest = cls.runcmd(C_INGEST)
        cls.runcmd(C_STATUS)
        cls.runcmd(C_ACCOUNTS)
        cls.status_t0 = d.json("status")[0]
        cls.stages_t0 = d.stages()
        cls.head_t0 = cls.status_t0["feed_head"]
        # 3. feed --follow in another terminal, started before the advance
        follow = subprocess.Popen([DUNNCTL, "-c", "dunnd.conf", "feed", "--follow"],
                                  cwd=d.tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            cls.advance = cls.runcmd(C_ADVANCE)
            cls.status_7d = d.json("status")[0]
            cls.followed = read_until(follow, cls.status_7d["feed_head"])
            follow.send_signal(signal.SIGINT)
            cls.follow_rc = follow.wait(20)
        finally:
            if follow.poll() is None:
                follow.kill()
                follow.wait()
            follow.stdout.close()
            follow.stderr.close()
        cls.feed_human_7d = d.ok("feed")
        if os.environ.get("DUNND_WALK_TRANSCRIPT"):
            with open(os.environ["DUNND_WALK_TRANSCRIPT"], "a") as f:
                f.write("$ (terminal 3: feed --follow)\n%s\n" % cls.feed_human_7d)
        cls.stages_7d = d.stages()
        cls.feed_7d = d.json("feed")
        cls.jq = None
        if shutil.which("jq"):
            cls.jq = d.sh(JQ)
            cls.runcmd(JQ + " | wc -l")
            cls.runcmd(JQ_ONE)
        # 4. tasks --open; 5. explain, the payment
        cls.runcmd(C_TASKS)
        cls.workable = cls.runcmd(C_WORKABLE)
        cls.workable_json = d.json("tasks", "--open", "--workable", "--type", "call",
                                   "--at", "2026-03-09T15:00:00+08:00")
        cls.open_tasks = d.json("tasks", "--open")
        cls.runcmd(C_EXPLAIN)
        cls.explain = d.json("explain", "C-1101")[0]
        cls.head_pay = d.json("status")[0]["feed_head"]
        cls.payment = cls.runcmd(PAYMENT)
        cls.runcmd(C_FEED_PAY)
        cls.feed_pay = d.json("feed", "--from", str(cls.head_pay))
        cls.tasks_after_pay = {t["task"]: t for t in d.json("tasks", "--account", "C-1101")}
        # 6. edit a rule, check, simulate, reload
        with open(os.path.join(d.tmp, "rules", "20-rules.conf")) as f:
            cls.rules_before = f.read()
        cls.sed = cls.runcmd(SED)
        with open(os.path.join(d.tmp, "rules", "20-rules.conf")) as f:
            cls.rules_after = f.read()
        cls.check = d.ctl("check-rules")
        cls.runcmd(C_CHECK)
        cls.runcmd(C_SIMULATE)
        cls.simulated = d.json("simulate", "--rules", "rules")
        cls.accounts_before_reload = {a["account"]: a for a in d.json("accounts")}
        cls.head_reload = d.json("status")[0]["feed_head"]
        cls.reload = cls.runcmd(C_RELOAD)
        cls.runcmd(C_STATUS)
        cls.runcmd(C_FEED_RELOAD)
        cls.status_reload = d.json("status")[0]
        cls.feed_reload = d.json("feed", "--from", str(cls.head_reload))
        cls.simulated_again = d.json("simulate", "--rules", "rules")
        # 7. report aging
        cls.runcmd(C_AGING)
        cls.aging = d.json("report", "aging")
        cls.accounts_end = d.json("accounts")
        cls.feed_end = d.json("feed")
        # 8. a manager approves the legal referral
        cls.approvals = d.json("tasks", "--open", "--type", "approval")
        cls.runcmd(C_APPROVALS)
        cls.head_approve = d.json("status")[0]["feed_head"]
        cls.approve = cls.runcmd(C_APPROVE)
        cls.runcmd(C_FEED_APPROVE)
        cls.feed_approve = d.json("feed", "--from", str(cls.head_approve))

    # --- the README itself -------------------------------------------------

    def test_readme_outputs_are_real(self):
        """Every command of the README's walkthrough was run here, in the
        same order, and every line the README shows as its output (but
        "...") is a line of what it printed, in order."""
        pairs = readme_walkthrough()
        self.assertTrue(pairs)
        ran = list(self.transcript)
        for cmd, shown in pairs:
            if not shown:
                continue  # nothing shown (the setup of terminal 2, check-rules, reload)
            if cmd is FOLLOWED:
                got = self.followed
            elif "dunnd -c dunnd.conf -f" in cmd:
                got = self.d.log()
            elif "| jq " in cmd and self.jq is None:
                continue  # test_jq_task_filter says it skipped
            else:
                while ran and ran[0][0] != cmd:
                    ran.pop(0)
                self.assertTrue(ran, "README command not run here (or out of order): " + cmd)
                got = ran.pop(0)[1]
            self.assertIsSubsequence(shown, got.splitlines(), cmd if cmd is not FOLLOWED else "feed --follow")

    def assertIsSubsequence(self, shown, got, what):
        i = 0
        for line in shown:
            if line.strip() == "...":
                continue
            while i < len(got) and got[i] != line:
                i += 1
            self.assertLess(i, len(got), "%s: README shows %r, not printed (in this order):\n%s"
                            % (what, line, "\n".join(got)))
            i += 1

    def test_readme_shows_every_command(self):
        cmds = [c for c, _ in readme_walkthrough() if c is not FOLLOWED]
        for cmd in (SED, JQ + " | wc -l", JQ_ONE, PAYMENT, C_INGEST, C_STATUS, C_ACCOUNTS, C_ADVANCE,
                    C_TASKS, C_WORKABLE, C_EXPLAIN, C_FEED_PAY, C_CHECK, C_SIMULATE, C_RELOAD, C_FEED_RELOAD,
                    C_AGING, C_APPROVALS, C_APPROVE, C_FEED_APPROVE,
                    "dunnctl -c dunnd.conf feed --follow",
                    "dunnd -c dunnd.conf -f --test-clock=" + T0):
            self.assertTrue(any(cmd == c or cmd in c.splitlines() for c in cmds),
                            "README lacks the command: " + cmd)

    # --- ingest and the start ------------------------------------------------

    def test_ingest_all_ok(self):
        n = len(portfolio_lines())
        self.assertEqual(self.ingest.returncode, 0, self.ingest.stdout + self.ingest.stderr)
        self.assertEqual(self.ingest.stdout.strip(), "%d ok, 0 duplicate, 0 error, 0 rolled_back" % n)

    def test_stages_at_start(self):
        self.assertEqual(self.stages_t0, STAGES_T0)
        self.assertEqual(self.status_t0["now"], T0)
        self.assertEqual(self.status_t0["stages"], {"current": 23, "reminder": 2, "negotiation": 8,
                                                    "pressure": 3, "legal": 1})

    # --- the week --------------------------------------------------------------

    def test_clock_advance(self):
        self.assertEqual(self.advance.returncode, 0, self.advance.stderr)
        self.assertEqual(self.status_7d["now"], "2026-03-09T09:00:00+08:00")

    def test_stages_after_a_week(self):
        self.assertEqual(self.stages_7d, STAGES_7D)

    def test_transitions_of_the_week(self):
        got = [(r["account"], r["from"], r["to"], r["rule"], r["at"])
               for r in self.feed_7d if r["kind"] == "transition" and r["seq"] > self.head_t0]
        self.assertEqual(got, WEEK)

    def test_feed_follow_saw_everything(self):
        self.assertEqual(self.follow_rc, 0)
        self.assertEqual(self.followed, self.feed_human_7d)

    def test_jq_task_filter(self):
        if self.jq is None:
            self.skipTest("jq not installed: apt-get install jq (make test-deps installs it)")
        self.assertEqual(self.jq.returncode, 0, self.jq.stderr)
        self.assertEqual(lines(self.jq.stdout), [r for r in self.feed_7d if r["kind"] == "task"])

    def test_first_miss_review(self):
        reviews = [r for r in self.feed_7d if r["kind"] == "task" and r["account"] == "C-1101"
                   and r["type"] == "review"]
        self.assertEqual(len(reviews), 1, reviews)
        t = reviews[0]
        self.assertEqual((t["task"], t["source"], t["stage"], t["created"], t["days_overdue"]),
                         ("T-000023", "alert:check-dispute-first", "negotiation",
                          "2026-03-05T00:00:00+08:00", 1))
        # P6: a medium company's general manager, though listed last.
        self.assertEqual(t["contact"]["role"], "general_manager")
        # The new customer (nothing settled) gets no such review.
        self.assertFalse([r for r in self.feed_7d if r["kind"] == "task" and r["account"] == "C-1102"
                          and r["type"] == "review"])

    def test_open_tasks_by_priority(self):
        self.assertTrue(self.open_tasks)
        self.assertTrue(all(t["status"] == "open" for t in self.open_tasks))
        keys = [(-t["priority"], t["seq"]) for t in self.open_tasks]
        self.assertEqual(keys, sorted(keys))
        first = self.open_tasks[0]
        self.assertEqual((first["task"], first["account"], first["type"]),
                         ("T-000019", "C-1601", "approval"))
        # P1: litigation is a decision: the referral waits for a manager.
        self.assertEqual(first["for"], {"type": "legal_referral", "script": "legal-referral"})

    def test_workable_calls(self):
        # The collector's queue on Monday 03-09 at 15:00: open calls whose
        # window has begun, by priority, then not_before; none lies ahead.
        self.assertEqual(self.workable.returncode, 0, self.workable.stderr)
        w = self.workable_json
        self.assertTrue(w)
        self.assertTrue(all(t["type"] == "call" and t["status"] == "open" for t in w))
        self.assertTrue(all(t["not_before"] <= "2026-03-09T15:00:00+08:00" for t in w))
        keys = [(-t["priority"], t["not_before"]) for t in w]
        self.assertEqual(keys, sorted(keys))
        opened = [t for t in self.open_tasks if t["type"] == "call"]
        later = [t for t in opened if t["not_before"] > "2026-03-09T15:00:00+08:00"]
        self.assertEqual(len(w) + len(later), len(opened))

    def test_manager_approves_the_legal_referral(self):
        self.assertEqual([(t["task"], t["account"]) for t in self.approvals], [("T-000019", "C-1601")])
        self.assertEqual(self.approve.returncode, 0, self.approve.stdout + self.approve.stderr)
        self.assertEqual(self.head_approve, 102)
        self.assertEqual([(r["kind"], r.get("type"), r.get("task"), r.get("approval"))
                          for r in self.feed_approve],
                         [("done", None, "T-000019", None),
                          ("task", "legal_referral", self.feed_approve[1]["task"], "T-000019")])
        ref = self.feed_approve[1]
        self.assertEqual((ref["account"], ref["script"], ref["source"]),
                         ("C-1601", "legal-referral", "stage:legal#1"))

    def test_explain_first_miss(self):
        e = self.explain
        self.assertEqual(e["stage"], "negotiation")
        f = e["facts"]
        self.assertEqual((f["first_miss"], f["on_time_ratio"], f["days_overdue"]), (True, 1, 5))
        long_ = [r for r in e["rules"] if r["rule"] == "long"][0]
        self.assertTrue(long_["from"])
        self.assertFalse(long_["holds"])
        self.assertEqual([(c["fact"], c["holds"]) for c in long_["conditions"]],
                         [("days_overdue", False), ("first_miss", False), ("tags", True)])
        self.assertEqual([(h["rule"], h["to"]) for h in e["history"]],
                         [("due-soon", "reminder"), ("overdue", "negotiation")])

    # --- the payment -----------------------------------------------------------

    def test_payment_settles_first_miss(self):
        self.assertEqual(self.payment.returncode, 0, self.payment.stdout + self.payment.stderr)
        self.assertEqual(self.payment.stdout.strip(), "2 ok, 0 duplicate, 0 error, 0 rolled_back")
        self.assertEqual([(r["kind"], r.get("rule"), r.get("to"), r.get("task")) for r in self.feed_pay],
                         [("done", None, None, "T-000023"),
                          ("transition", "settled", "current", None),
                          ("cancel", None, None, "T-000022"), ("cancel", None, None, "T-000040")])
        # The outcome closed the review; the stage tasks were cancelled.
        self.assertEqual(self.tasks_after_pay["T-000023"]["status"], "done")
        self.assertEqual(self.tasks_after_pay["T-000022"]["status"], "cancelled")

    # --- the rule edit -----------------------------------------------------------

    def test_sed_edits_one_line(self):
        self.assertEqual(self.sed.returncode, 0, self.sed.stderr)
        before = self.rules_before.splitlines()
        after = self.rules_after.splitlines()
        self.assertEqual(len(before), len(after))
        diff = [(a, b) for a, b in zip(before, after) if a != b]
        self.assertEqual(diff, [("    when = { days_overdue = { min = 30; }; first_miss = false;",
                                 "    when = { days_overdue = { min = 21; }; first_miss = false;")])
        self.assertEqual((self.check.returncode, self.check.stdout, self.check.stderr), (0, "", ""))

    def moved_by_reload(self):
        return {r["account"]: (r["from"], r["to"]) for r in self.feed_reload if r["kind"] == "transition"}

    def test_reload_moves_by_long(self):
        self.assertEqual(self.reload.returncode, 0, self.reload.stderr)
        self.assertEqual(self.status_reload["reloads"], 1)
        self.assertTrue(self.status_reload["last_reload"]["ok"])
        self.assertNotEqual(self.status_reload["rules_version"], self.status_7d["rules_version"])
        trans = [r for r in self.feed_reload if r["kind"] == "transition"]
        self.assertEqual({r["account"] for r in trans}, MOVED_BY_LONG_21)
        for r in trans:
            self.assertEqual((r["from"], r["to"], r["rule"], r["at"]),
                             ("negotiation", "pressure", "long", "2026-03-09T09:00:00+08:00"))

    def test_simulate_lists_what_reload_moves(self):
        # Paused accounts aside: see test_simulate_skips_paused_accounts.
        paused = {a for a, r in self.accounts_before_reload.items() if r["paused"]}
        sim = {r["account"]: (r["from"], r["to"]) for r in self.simulated if r["account"] not in paused}
        self.assertEqual(sim, self.moved_by_reload())
        self.assertEqual({a for a in {r["account"] for r in self.simulated_again} if a not in paused}, set())

    def test_simulate_skips_paused_accounts(self):
        # §7 simulate: "which accounts would change stage under the rule set
        # in DIR"; §4.4 step 2: a paused account's evaluation moves nothing,
        # so a reload (§4.7) never moves it (README reading 30: simulate maps
        # accounts "as a reload would").  dunnd lists the paused C-1604
        # (current -> pressure), even against the very rules it runs.
        self.assertEqual({r["account"]: (r["from"], r["to"]) for r in self.simulated},
                         self.moved_by_reload())
        self.assertEqual(self.simulated_again, [])

    # --- the end ---------------------------------------------------------------

    def test_report_aging_adds_up(self):
        by_stage = {}
        for a in self.accounts_end:
            by_stage[a["stage"]] = by_stage.get(a["stage"], 0) + a["balance"]
        buckets = ("not_due", "1-30", "31-60", "61-90", "91+")
        for row in self.aging:
            self.assertEqual(row["currency"], "CNY")
            self.assertEqual(sum(row[b] for b in buckets), row["total"], row)
            self.assertEqual(row["total"], by_stage.get(row["stage"], 0), row)
        self.assertEqual(sum(r["total"] for r in self.aging),
                         sum(a["balance"] for a in self.accounts_end))
        self.assertGreater(sum(r["total"] for r in self.aging), 0)

    def test_legal_hold_never_legal(self):
        recs = [r for r in self.feed_end if r["account"] == "C-1602"]
        self.assertEqual(recs, [])
        end = {a["account"]: a for a in self.accounts_end}["C-1602"]
        self.assertEqual((end["stage"], end["tags"], end["days_overdue"]), ("current", ["legal_hold"], 157))


def read_until(proc, head, deadline=20.0):
    """Reads the human lines of `feed --follow` from proc.stdout until the
    record with seq head; returns them as text."""
    text = b""
    end = time.monotonic() + deadline
    fd = proc.stdout.fileno()
    want = b"\n%d " % head
    while want not in b"\n" + text or not text.endswith(b"\n"):
        left = end - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise AssertionError("feed --follow stopped after:\n" + text.decode()[-500:])
        chunk = os.read(fd, 65536)
        if not chunk:
            raise AssertionError("feed --follow ended early:\n" + text.decode()[-500:])
        text += chunk
    return text.decode()


FOLLOWED = object()  # the README's output block of `feed --follow` (terminal 3)


def readme_walkthrough():
    """The README's walkthrough as [(command, [lines shown as its output])]:
    each ```sh block with the plain ``` block right after it (if any); the
    plain block after "terminal 3 shows the result:" is FOLLOWED's."""
    with open(README) as f:
        text = f.read()
    start = text.index("\n## Walkthrough\n")
    end = text.index("\n## ", start + 1)
    lines_ = text[start:end].splitlines()
    pairs, i, prose = [], 0, ""
    while i < len(lines_):
        l = lines_[i]
        if l.startswith("```"):
            j = lines_.index("```", i + 1)
            body = lines_[i + 1:j]
            if l == "```sh":
                pairs.append(["\n".join(body), []])
            elif l == "```" and i > 0 and lines_[i - 1] == "```" and pairs:
                pairs[-1][1] = body
            elif prose.endswith("shows the result:"):
                pairs.append([FOLLOWED, body])
            else:
                raise AssertionError("README: an output block after no command: %r" % body[:2])
            i = j + 1
            prose = ""
            continue
        if l.strip():
            prose = l.strip()
        i += 1
    return [tuple(p) for p in pairs]


# --- the golden run ------------------------------------------------------------

DAYS = 120
EVERY = 10


def golden_run(tmp, step):
    """Ingests the example at T0, advances DAYS days in steps of `step`
    days (a divisor of EVERY), and returns the golden document."""
    d = WalkDaemon(tmp)
    try:
        d.start()
        r = d.ctl("--json", "ingest", "portfolio.jsonl")
        if r.returncode != 0:
            raise AssertionError(r.stdout + r.stderr)
        stages = {a: [s] for a, s in d.stages().items()}
        for day in range(step, DAYS + 1, step):
            d.ok("clock", "advance", "%dd" % step)
            if day % EVERY == 0:
                for a, s in d.stages().items():
                    stages[a].append(s)
        records = d.json("tasks")
        tasks = [[t["account"], t["type"], t["source"], t["created"]] for t in records]
        now = d.json("status")[0]["now"]
    finally:
        d.kill()
    return {"start": T0, "now": now, "snapshots_every_days": EVERY, "stages": stages, "tasks": tasks,
            "records": records}


def rule_dates(key):
    """The dates of every `key = [...]` list in the shipped rule files."""
    dates = set()
    for name in sorted(os.listdir(os.path.join(ROOT, "rules"))):
        if not name.endswith(".conf"):
            continue
        with open(os.path.join(ROOT, "rules", name)) as f:
            text = "\n".join(l.split("#")[0] for l in f)
        for m in re.finditer(r"\b%s\s*=\s*\[([^]]*)\]" % key, text):
            dates.update(re.findall(r"\d{4}-\d\d-\d\d", m.group(1)))
    return dates


# The default calendar (rules/05-calendar.conf): office hours, local.
OFFICE = [((9, 0), (12, 0)), ((13, 30), (18, 0))]


def dump_golden(doc):
    """JSON with one account and one task per line, for review and diffs."""
    out = ['{"start": %s, "now": %s, "snapshots_every_days": %d,'
           % (json.dumps(doc["start"]), json.dumps(doc["now"]), doc["snapshots_every_days"]),
           ' "stages": {']
    items = sorted(doc["stages"].items())
    for i, (a, ss) in enumerate(items):
        out.append("  %s: %s%s" % (json.dumps(a), json.dumps(ss), "," if i < len(items) - 1 else ""))
    out.append(" },")
    out.append(' "tasks": [')
    for i, t in enumerate(doc["tasks"]):
        out.append("  %s%s" % (json.dumps(t), "," if i < len(doc["tasks"]) - 1 else ""))
    out.append(" ]}")
    return "\n".join(out) + "\n"


class GoldenTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="dunnd-golden-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_in(self, sub, step):
        path = os.path.join(self.tmp, sub)
        os.makedirs(path)
        return golden_run(path, step)

    def test_120_days_day_by_day(self):
        doc = self.run_in("daily", 1)
        if os.environ.get("DUNND_WRITE_GOLDEN") == "1":
            os.makedirs(os.path.dirname(GOLDEN), exist_ok=True)
            with open(GOLDEN, "w") as f:
                f.write(dump_golden(doc))
            self.skipTest("wrote %s: review it (see the comment at the top of this file)" % GOLDEN)
        with open(GOLDEN) as f:
            want = json.load(f)
        self.assertEqual(doc["now"], "2026-06-30T09:00:00+08:00")
        self.assertEqual(sorted(doc["stages"]), sorted(want["stages"]))
        for a in sorted(want["stages"]):
            self.assertEqual(doc["stages"][a], want["stages"][a], a)
        self.assertEqual(len(doc["tasks"]), len(want["tasks"]))
        for i, (got, exp) in enumerate(zip(doc["tasks"], want["tasks"])):
            self.assertEqual(got, exp, "task %d" % i)
        # Spelled out, whatever the file says: legal_hold never escalates,
        # the first miss gets its review when it misses.
        self.assertEqual(set(doc["stages"]["C-1602"]), {"current"})
        self.assertFalse([t for t in doc["tasks"] if t[0] == "C-1602"])
        self.assertIn(["C-1101", "review", "alert:check-dispute-first", "2026-03-05T00:00:00+08:00"],
                      doc["tasks"])
        self.check_working_time(doc["records"])

    def check_working_time(self, records):
        """Issue #20's promise over 120 days of the example: no part of a
        task's window outside office hours, at lunch, on a weekend or a
        holiday (make-up working days count as working days); every call
        and visit names a contact role or whom to ask for (P6, P7)."""
        holidays, extra = rule_dates("holidays"), rule_dates("extra_workdays")
        self.assertIn("2026-04-06", holidays)  # the files were read
        for t in records:
            self.assertNotEqual(t["window_rank"], "none", t)
            self.assertEqual(t["not_before"], t["windows"][0][0], t)
            self.assertEqual(t["not_after"], t["windows"][-1][1], t)
            self.assertGreaterEqual(t["not_before"][:16], t["created"][:16], t)
            for a, b in t["windows"]:
                fa, fb = datetime.datetime.fromisoformat(a), datetime.datetime.fromisoformat(b)
                day = fa.date().isoformat()
                self.assertEqual(fb.date().isoformat(), day, t)
                self.assertTrue(day in extra or (fa.weekday() < 5 and day not in holidays),
                                "%s on a day off: %r" % (day, t))
                self.assertTrue(any((fa.hour, fa.minute) >= lo and (fb.hour, fb.minute) <= hi
                                    for lo, hi in OFFICE),
                                "outside office hours: %r" % t)
            if t["type"] in ("call", "visit"):
                c = t["contact"]
                self.assertTrue((c is not None and c.get("role")) or t.get("ask_for"), t)

    def test_120_days_in_jumps(self):
        # The same moments processed by 10-day clock jumps give the same run.
        with open(GOLDEN) as f:
            want = json.load(f)
        doc = self.run_in("jumps", EVERY)
        self.assertEqual(doc["stages"], want["stages"])
        self.assertEqual(doc["tasks"], want["tasks"])


if __name__ == "__main__":
    unittest.main()
