"""Evaluation and time (interfaces.md §3-§7): black-box scenario tests.

Each test starts dunnd with its own small rule set and a --test-clock,
drives it through `dunnctl ingest` and `dunnctl clock`, and asserts the
exact feed (§5): every record's kind, account, stage, source, task id,
times, contact, amount_due, days_overdue and priority factors.  Every
expected value is computed by hand in the comment beside it, citing the
clause it follows; nothing here derives expectations from the daemon.

Conventions used in the hand computations:
* zone Asia/Shanghai (+08:00, no DST) unless a test says otherwise;
  T0 = 2026-03-02T09:00:00+08:00 (a Monday) is the default start;
  2026 is not a leap year (February has 28 days).
* days_overdue (§3) = today - due of the earliest invoice with undisputed
  open > 0 and due < today; a local midnight is the first instant of a
  local date (§1), so it changes at 00:00+08:00.
* priority (§5) = amount + age + risk + stage with
  amount = 40 x decimal digits of amount_due (max 400),
  age    = 3 x days_overdue (max 300),
  risk   = A 0, B 25, C 50 (also when unset), D 75, E 100,
  stage  = floor(200 x i / (stages - 1)), i = 0-based stage position.
* not_before = created (the emission moment), not_after = not_before + 24 h
  of elapsed time (§5).
* `reason` texts are free (§5): only checked to be strings.

Readings of the contract these tests fix (where it left a choice):
R1  The cancels of one evaluation come in the order their tasks were
    emitted (ascending seq / task id).
R2  `contact` is the chosen contact object exactly as sent in `contacts`
    (role, name, and whichever of phone/email it had).
R3  Feed records have exactly the members of the §5 example: transition
    {seq,kind,account,from,to,rule,at}; cancel {seq,kind,task,account,
    reason,at}; task {seq,kind,task,account,type,stage,source,[script,
    checklist],contact,priority,priority_factors,not_before,not_after,
    amount_due,currency,days_overdue,reason,created}.  `tasks --json`
    records carry the same members (seq/kind optional) plus `status`.
R4  The hold (hold_when) decided at an evaluation applies from that
    evaluation's moment until the next evaluation; the cadence clock
    accrues only over the unheld, unpaused stretches between evaluations.
R5  An outcome event touches its task's account: that account is evaluated
    in the outcome's batch.
R6  The pause/unpause cancel and resume moment is the batch's now.
R7  A stage task's days_overdue / amount_due / priority are computed at its
    emission moment (a held step released later carries the later values).
R8  With the §4.1 example, the third visit (entry + 42d) never falls due:
    rule `long` moves the account to pressure at days_overdue 30
    (entry + 29d), after two visits.
R9  The clock position is committed with each moment's records: after a
    kill -9 in the middle of a clock jump, the feed is exactly the records
    of the moments <= the restored `now` (a prefix of the uninterrupted
    feed), and finishing the jump yields the uninterrupted feed.
R10 `clock set` to the current instant written with another offset
    (2026-03-02T01:00:00Z for 09:00+08:00) is the same time: exit 0.
"""
import json
import datetime
import signal
import subprocess
import time
import unittest

from lib import (DUNNCTL, DaemonTest, account_records, feed_records, ingest_events,
                 task_records)

T0 = "2026-03-02T09:00:00+08:00"

# The complete rule set of interfaces.md §4.1, verbatim.
EXAMPLE_RULES = """
stages = (                      # ordered: first = where accounts start; later = more severe
  { name = "current"; },
  { name = "reminder";
    tasks = ( { type = "email"; script = "reminder"; after = "0d"; } ); },
  { name = "negotiation";
    hold_when = { promise_pending = true; };   # cadence clock stops meanwhile
    tasks = ( { type = "call"; script = "call-1-inform";       after = "0d"; },
              { type = "call"; script = "call-2-firm";         after = "5d"; },
              { type = "call"; script = "call-3-consequences"; after = "10d"; },
              { type = "visit"; after = "14d"; every = "14d"; max = 3; } ); },
  { name = "pressure";
    tasks = ( { type = "letter"; script = "final-notice"; },
              { type = "credit_hold"; after = "7d"; } ); },
  { name = "legal"; tasks = ( { type = "legal_referral"; } ); }
);
rules = (                       # transitions, tried in order
  { name = "due-soon"; from = "current"; to = "reminder"; when = { days_to_due = { max = 3; }; }; },
  { name = "overdue"; from = ["current", "reminder"]; to = "negotiation";
    when = { days_overdue = { min = 1; }; }; },
  { name = "promises-broken"; from = ["negotiation"]; to = "pressure";
    when = { promises_broken = { min = 2; window = "90d"; }; }; },
  { name = "long"; from = ["negotiation"]; to = "pressure"; when = { days_overdue = { min = 30; }; }; },
  { name = "to-legal"; from = ["pressure"]; to = "legal";
    when = { days_overdue = { min = 90; }; tags = { none = ["legal_hold"]; }; }; },
  { name = "settled"; from = ["*"]; to = "current"; when = { balance = { max = 0; }; }; }
);
alerts = ( { name = "check-dispute-first"; when = { first_miss = true; };   # task only
             task = { type = "review"; script = "dispute-check"; }; cooldown = "30d"; } );
scripts = (
  { name = "reminder";            checklist = [ "say what falls due, and when" ]; },
  { name = "call-1-inform";       checklist = [ "state the overdue amount", "ask for a payment date" ]; },
  { name = "call-2-firm";         checklist = [ "ask for payment now", "get a promise" ]; },
  { name = "call-3-consequences"; checklist = [ "announce the credit hold" ]; },
  { name = "final-notice";        checklist = [ "send the final notice" ]; },
  { name = "dispute-check";       checklist = [ "ask whether something is disputed" ]; }
);
trend_window = 6;
"""


# --- Events -----------------------------------------------------------------

def account(eid, acct, size, risk=None, contacts=None, **extra):
    e = {"type": "account", "id": eid, "account": acct, "name": "Customer " + acct,
         "currency": "CNY", "size": size}
    if risk is not None:
        e["risk"] = risk
    if contacts is not None:
        e["contacts"] = contacts
    e.update(extra)
    return e


def invoice(eid, acct, inv, amount, issued, due):
    return {"type": "invoice", "id": eid, "account": acct, "invoice": inv,
            "amount": amount, "issued": issued, "due": due}


def payment(eid, acct, amount, at, **extra):
    e = {"type": "payment", "id": eid, "account": acct, "amount": amount, "at": at}
    e.update(extra)
    return e


def promise(eid, acct, amount, due, at):
    return {"type": "promise", "id": eid, "account": acct, "amount": amount,
            "due": due, "at": at}


def outcome(eid, task, result, at):
    return {"type": "outcome", "id": eid, "task": task, "result": result, "at": at}


def pause(eid, acct, paused):
    return {"type": "account", "id": eid, "account": acct, "paused": paused}


# --- Expected feed records (§5) ---------------------------------------------

def TR(seq, acct, frm, to, rule, at):
    """A transition record: exactly these members."""
    return {"seq": seq, "kind": "transition", "account": acct, "from": frm, "to": to,
            "rule": rule, "at": at}


def CX(seq, task, acct, at):
    """A cancel record: these members plus a free `reason`."""
    return {"seq": seq, "kind": "cancel", "task": task, "account": acct, "at": at}


def TK(seq, task, acct, type, stage, source, created, not_after, amount_due,
       days_overdue, factors, priority, script=None, checklist=None, contact=None,
       currency="CNY", ask_for="auto"):
    """A task record: these members plus a free `reason`; `script` and
    `checklist` only when the step or alert names a script (§5).
    factors = (amount, age, risk, stage), each computed by hand at the call;
    priority is the hand-computed sum, checked here against the factors."""
    amount, age, risk, stg = factors
    if priority != amount + age + risk + stg:
        raise ValueError("hand computation: %r do not sum to %d" % (factors, priority))
    rec = {"seq": seq, "kind": "task", "task": task, "account": acct, "type": type,
           "stage": stage, "source": source, "contact": contact, "priority": priority,
           "priority_factors": {"amount": amount, "age": age, "risk": risk, "stage": stg},
           "not_before": created, "not_after": not_after, "amount_due": amount_due,
           "currency": currency, "days_overdue": days_overdue, "created": created,
           # No calendar and no schedule: E ... E + 24 h (§4.9).
           "window_rank": "none", "windows": [[created, not_after]]}
    if ask_for is not None:
        rec["ask_for"] = ask_for  # "auto": see EvalTest.resolve_ask_for
    if script is not None:
        rec["script"] = script
        rec["checklist"] = checklist
    return rec


def moment(rec):
    """The instant a feed record carries (`created` of tasks, else `at`)."""
    return datetime.datetime.fromisoformat(rec["created"] if rec["kind"] == "task" else rec["at"])


def ts(text):
    return datetime.datetime.fromisoformat(text)


class EvalTest(DaemonTest):
    maxDiff = None

    def ingest(self, d, events):
        """One batch in which every line must be `ok`."""
        r, recs = ingest_events(d, events)
        self.assertEqual(r.returncode, 0, "ingest failed:\n%s\n%s" % (r.stdout, r.stderr))
        # One result per line (records with `line`; README reading 10 puts
        # the counts on stderr, but tolerate them on stdout).
        results = [x for x in recs if "line" in x]
        self.assertEqual([x.get("status") for x in results], ["ok"] * len(events), r.stdout)
        return recs

    def clock(self, d, *args):
        """`dunnctl clock set TIME` / `clock advance DURATION`; must succeed."""
        r = d.ctl("clock", *args)
        self.assertEqual(r.returncode, 0, "clock %s: %s%s" % (args, r.stdout, r.stderr))
        return r

    def normalized(self, recs):
        """Feed records with the free `reason` checked and dropped."""
        out = []
        for r in recs:
            r = dict(r)
            if r.get("kind") in ("task", "cancel"):
                self.assertIsInstance(r.pop("reason", None), str, "%r has no reason" % r)
            if r.get("kind") == "task":
                self.assertIsInstance(r.pop("window_reason", None), str,
                                      "%r has no window_reason" % r)
            out.append(r)
        return out

    # §5, P6: the roles that decide payments, best first, by size.
    PREF = {"small": ["owner", "president"],
            "medium": ["general_manager", "cfo", "finance_director"],
            "large": ["ap_manager", "financial_controller"]}

    def resolve_ask_for(self, d, want):
        """TK's ask_for="auto": with no contact, the first role of the
        size's preference; with a decision-maker as contact, none; any
        other case must be written out (its channel decides)."""
        sizes = {}
        for r in want:
            if r.get("kind") != "task" or r.get("ask_for") != "auto":
                continue
            del r["ask_for"]
            if r["type"] in ("credit_hold", "credit_release", "approval"):
                continue
            if r["account"] not in sizes:
                ex = d.ctl("--json", "explain", r["account"])
                sizes[r["account"]] = json.loads(ex.stdout)["facts"]["size"]
            pref = self.PREF[sizes[r["account"]]]
            if r["contact"] is None:
                r["ask_for"] = pref[0]
            elif r["contact"]["role"] not in pref:
                raise ValueError("%r: write its ask_for out" % r)

    def assertFeed(self, d, want, from_seq=None):
        self.resolve_ask_for(d, want)
        got = self.normalized(feed_records(d, from_seq))
        self.assertEqual(got, want)
        return got

    def assertTasks(self, d, want, *args):
        """`tasks --json ARGS` lists exactly the tasks (task id, status) in want,
        in that order; each record carries the feed record's members (§7)."""
        recs = task_records(d, *args)
        self.assertEqual([(r.get("task"), r.get("status")) for r in recs], want)
        feed = {r["task"]: r for r in self.normalized(feed_records(d)) if r["kind"] == "task"}
        for r in recs:
            f = feed[r["task"]]
            for k, v in f.items():
                if k not in ("seq", "kind"):
                    self.assertEqual(r.get(k), v, "tasks record %s member %s" % (r["task"], k))
        return recs

    def assertStage(self, d, acct, stage):
        self.assertEqual(account_records(d)[acct]["stage"], stage)


# --- 1. The §4.1 ladder over 120 days -----------------------------------------

ACC_WU = {"role": "accountant", "name": "Mr Wu", "phone": "+86-21-5550101"}
CFO_LI = {"role": "cfo", "name": "Ms Li", "phone": "+86-21-5550100"}

CL = {  # checklists of the §4.1 scripts
    "reminder": ["say what falls due, and when"],
    "call-1-inform": ["state the overdue amount", "ask for a payment date"],
    "call-2-firm": ["ask for payment now", "get a promise"],
    "call-3-consequences": ["announce the credit hold"],
    "final-notice": ["send the final notice"],
}


def ladder_feed():
    """The whole feed of test_ladder, hand-computed.

    C-1001: medium, risk unset (C: 50), contacts [accountant, cfo] -> the cfo
    (medium preference general_manager, cfo, finance_director; §5).
    I-1: 1,250,000 issued 2026-03-02, due 2026-03-07 (Saturday).
    amount_due = undisputed_overdue if > 0, else balance - disputed (§5):
    1,250,000 throughout (7 digits -> amount factor 280).
    5 stages: current 0, reminder 50, negotiation 100, pressure 150, legal 200.
    """
    C = "C-1001"

    def task(seq, n, type, stage, source, created, not_after, do, factors, prio, script=None):
        # §5: an email needs a contact with an email: Ms Li has none, so
        # nobody is named and the collector asks for the cfo (P6).
        # A credit hold is for sales and logistics: no contact at all.
        email, hold = type == "email", type == "credit_hold"
        return TK(seq, "T-%06d" % n, C, type, stage, source, created, not_after, 1250000,
                  do, factors, prio, script, CL.get(script),
                  None if email or hold else CFO_LI,
                  ask_for="cfo" if email else None if hold else "auto")

    return [
        # 03-02 days_to_due 5, 03-03: 4 -> nothing.  03-04 00:00 days_to_due 3:
        # rule due-soon (max 3), current -> reminder at the local midnight (§4.3).
        TR(1, C, "current", "reminder", "due-soon", "2026-03-04T00:00:00+08:00"),
        # reminder step 1 (after 0d): age 0, stage 200*1/4 = 50: 280+0+50+50 = 380.
        task(2, 1, "email", "reminder", "stage:reminder#1", "2026-03-04T00:00:00+08:00",
             "2026-03-05T00:00:00+08:00", 0, (280, 0, 50, 50), 380, "reminder"),
        # 03-07 is the due date (not < today): days_overdue 0.  03-08 00:00:
        # days_overdue 1 -> rule overdue, reminder -> negotiation; the open
        # reminder email is cancelled (leaving a stage, §4.4 step 3), then
        # negotiation step 1 (after 0d).  No promise: not held.
        TR(3, C, "reminder", "negotiation", "overdue", "2026-03-08T00:00:00+08:00"),
        CX(4, "T-000001", C, "2026-03-08T00:00:00+08:00"),
        # age 3*1 = 3, stage 200*2/4 = 100: 280+3+50+100 = 433.
        task(5, 2, "call", "negotiation", "stage:negotiation#1", "2026-03-08T00:00:00+08:00",
             "2026-03-09T00:00:00+08:00", 1, (280, 3, 50, 100), 433, "call-1-inform"),
        # step 2 after 5d: entry 03-08 00:00 + 120 h = 03-13 00:00; days_overdue
        # 03-13 - 03-07 = 6, age 18: 280+18+50+100 = 448.
        task(6, 3, "call", "negotiation", "stage:negotiation#2", "2026-03-13T00:00:00+08:00",
             "2026-03-14T00:00:00+08:00", 6, (280, 18, 50, 100), 448, "call-2-firm"),
        # step 3 after 10d: 03-18 00:00; days_overdue 11, age 33: 463.
        task(7, 4, "call", "negotiation", "stage:negotiation#3", "2026-03-18T00:00:00+08:00",
             "2026-03-19T00:00:00+08:00", 11, (280, 33, 50, 100), 463, "call-3-consequences"),
        # step 4 (visit, after 14d every 14d max 3), task n=0 -> "/1":
        # 03-22 00:00; days_overdue 15, age 45: 475.  No script.
        task(8, 5, "visit", "negotiation", "stage:negotiation#4/1", "2026-03-22T00:00:00+08:00",
             "2026-03-23T00:00:00+08:00", 15, (280, 45, 50, 100), 475),
        # n=1 -> "/2": entry + 14d + 14d = 04-05 00:00 (March has 31 days);
        # days_overdue 04-05 - 03-07 = 29, age 87: 517.
        task(9, 6, "visit", "negotiation", "stage:negotiation#4/2", "2026-04-05T00:00:00+08:00",
             "2026-04-06T00:00:00+08:00", 29, (280, 87, 50, 100), 517),
        # 04-06 00:00: days_overdue 30 -> rule long (promises-broken, before it,
        # does not hold).  §5 order: transition, the cancels of the stage left
        # (in the order the tasks were emitted), then the new stage's tasks.
        # The third visit (entry + 42d = 04-19) never falls due: the stage is
        # left first.
        TR(10, C, "negotiation", "pressure", "long", "2026-04-06T00:00:00+08:00"),
        CX(11, "T-000002", C, "2026-04-06T00:00:00+08:00"),
        CX(12, "T-000003", C, "2026-04-06T00:00:00+08:00"),
        CX(13, "T-000004", C, "2026-04-06T00:00:00+08:00"),
        CX(14, "T-000005", C, "2026-04-06T00:00:00+08:00"),
        CX(15, "T-000006", C, "2026-04-06T00:00:00+08:00"),
        # pressure step 1 (letter, after 0d by default): days_overdue 30,
        # age 90, stage 200*3/4 = 150: 280+90+50+150 = 570.
        task(16, 7, "letter", "pressure", "stage:pressure#1", "2026-04-06T00:00:00+08:00",
             "2026-04-07T00:00:00+08:00", 30, (280, 90, 50, 150), 570, "final-notice"),
        # step 2 (credit_hold after 7d): 04-13 00:00; days_overdue 37, age 111: 591.
        task(17, 8, "credit_hold", "pressure", "stage:pressure#2", "2026-04-13T00:00:00+08:00",
             "2026-04-14T00:00:00+08:00", 37, (280, 111, 50, 150), 591),
        # 06-05 00:00: days_overdue 03-07 + 90 d = 06-05 -> rule to-legal (tags
        # [] has none of ["legal_hold"]); both pressure tasks are still open:
        # the letter is cancelled, the credit hold stays (§4.5, P10).
        TR(18, C, "pressure", "legal", "to-legal", "2026-06-05T00:00:00+08:00"),
        CX(19, "T-000007", C, "2026-06-05T00:00:00+08:00"),
        # legal step 1: age 270, stage 200*4/4 = 200: 280+270+50+200 = 800.
        task(20, 9, "legal_referral", "legal", "stage:legal#1", "2026-06-05T00:00:00+08:00",
             "2026-06-06T00:00:00+08:00", 90, (280, 270, 50, 200), 800),
        # 06-30 09:00: the payment of the whole balance; in that batch's
        # evaluation (now = 06-30 09:00, §4.3) balance 0 -> rule settled
        # (from "*"), legal -> current; the open legal task is cancelled.
        # current has no tasks; the alert's first_miss needs 3 settled invoices.
        # (The hold stays open: these rules have no release_when.)
        TR(21, C, "legal", "current", "settled", "2026-06-30T09:00:00+08:00"),
        CX(22, "T-000009", C, "2026-06-30T09:00:00+08:00"),
    ]


class Ladder(EvalTest):
    def test_ladder_of_the_example_rule_set(self):
        want = ladder_feed()
        d = self.daemon(rules=EXAMPLE_RULES, clock=T0).start()
        self.ingest(d, [
            account("E-1", "C-1001", "medium", contacts=[ACC_WU, CFO_LI]),
            invoice("E-2", "C-1001", "I-1", 1250000, "2026-03-02", "2026-03-07"),
        ])
        # At T0 days_to_due is 5: nothing yet, and no transition for a new
        # account (§2.3).
        self.assertFeed(d, [])
        self.assertStage(d, "C-1001", "current")
        now = ts(T0)
        for day in range(1, 121):
            self.clock(d, "advance", "1d")
            now += datetime.timedelta(days=1)
            # `clock advance` returns after every moment up to now has been
            # processed (§7); a record is emitted at its moment, never later
            # and never earlier (§5): the feed is exactly the records <= now.
            # (The last two records come from the payment below, sent at
            # the moment the loop ends: they are not in the feed yet.)
            self.assertFeed(d, [r for r in want[:20] if moment(r) <= now])
            if day == 34:  # 2026-04-05 09:00
                self.assertStage(d, "C-1001", "negotiation")
            elif day == 35:  # 2026-04-06 09:00
                self.assertStage(d, "C-1001", "pressure")
        self.assertEqual(d.status()["now"], "2026-06-30T09:00:00+08:00")
        self.assertStage(d, "C-1001", "legal")
        self.assertEqual(len(feed_records(d)), 20)
        self.ingest(d, [payment("E-3", "C-1001", 1250000, "2026-06-30T09:00:00+08:00")])
        self.assertFeed(d, want)
        # --from N: the records with seq > N.
        self.assertFeed(d, want[20:], from_seq=20)
        st = d.status()
        self.assertEqual(st["feed_head"], 22)
        self.assertEqual(st["stages"], {"current": 1, "reminder": 0, "negotiation": 0,
                                        "pressure": 0, "legal": 0})
        a = account_records(d)["C-1001"]
        self.assertEqual((a["stage"], a["balance"], a["overdue_amount"], a["days_overdue"],
                          a["paused"]), ("current", 0, 0, 0, False))
        # Every task was cancelled on leaving its stage but the credit hold,
        # which outlasts stages (§4.5); `tasks` is in seq order.
        self.assertTasks(d, [("T-%06d" % n, "open" if n == 8 else "cancelled")
                             for n in range(1, 10)])
        self.assertTasks(d, [("T-000008", "open")], "--open")

# --- 2. Chained hops ----------------------------------------------------------

HOP_RULES = """
stages = (
  { name = "current"; },
  { name = "a"; tasks = ( { type = "call"; script = "s"; } ); },
  { name = "b"; tasks = ( { type = "letter"; }, { type = "visit"; after = "1d"; } ); }
);
rules = (
  { name = "to-a"; from = "current"; to = "a"; when = { overdue_invoices = { min = 1; }; }; },
  { name = "to-b"; from = "a"; to = "b"; when = { days_overdue = { min = 3; }; }; },
  { name = "settled"; from = "*"; to = "current"; when = { balance = { max = 0; }; }; }
);
scripts = ( { name = "s"; checklist = [ "c" ]; } );
"""

AP_MA = {"role": "ap_manager", "name": "Mr Ma", "email": "ma@example.com"}


class Hops(EvalTest):
    def test_one_evaluation_hops_twice_and_only_the_last_stage_emits(self):
        # 3 stages: stage factor a = 200*1/2 = 100, b = 200*2/2 = 200.
        d = self.daemon(rules=HOP_RULES, clock=T0).start()
        self.ingest(d, [
            # large, risk E (100), one ap_manager contact (email only).
            # 4,000,000: 7 digits -> 280.  Due 02-25: days_overdue at T0 =
            # 03-02 - 02-25 = 5 (February has 28 days).
            account("E-1", "A-1", "large", risk="E", contacts=[AP_MA]),
            invoice("E-2", "A-1", "I-1", 4000000, "2026-02-01", "2026-02-25"),
            # small, risk unset (50), no contacts (contact null).
            # 10: 2 digits -> 80.  Due 03-01: days_overdue 1 at T0.
            account("E-3", "A-2", "small"),
            invoice("E-4", "A-2", "I-2", 10, "2026-02-01", "2026-03-01"),
        ])
        at = T0
        want = [
            # Batch at T0, accounts in order of first appearance (§2.4).
            # to-a holds (1 overdue invoice), then from a, to-b holds
            # (days_overdue 5 >= 3): two transitions with the same at (§4.4).
            TR(1, "A-1", "current", "a", "to-a", at),
            TR(2, "A-1", "a", "b", "to-b", at),
            # Only b's cadence starts: its step 1 (letter, after 0d); a's call
            # is never emitted.  280 + 3*5 + 100 + 200 = 595.
            TK(3, "T-000001", "A-1", "letter", "b", "stage:b#1", at, "2026-03-03T09:00:00+08:00",
               4000000, 5, (280, 15, 100, 200), 595, contact=AP_MA),
            # to-a holds; to-b does not (days_overdue 1 < 3): one hop.
            TR(4, "A-2", "current", "a", "to-a", at),
            # a's step 1: 80 + 3 + 50 + 100 = 233.
            TK(5, "T-000002", "A-2", "call", "a", "stage:a#1", at, "2026-03-03T09:00:00+08:00",
               10, 1, (80, 3, 50, 100), 233, "s", ["c"]),
        ]
        self.assertFeed(d, want)
        self.assertEqual(d.status()["stages"], {"current": 0, "a": 1, "b": 1})
        self.clock(d, "set", "2026-03-05T00:00:00+08:00")
        want += [
            # A-1's visit: entry T0 + 1d = 03-03 09:00; days_overdue 6:
            # 280 + 18 + 100 + 200 = 598.
            TK(6, "T-000003", "A-1", "visit", "b", "stage:b#2", "2026-03-03T09:00:00+08:00",
               "2026-03-04T09:00:00+08:00", 4000000, 6, (280, 18, 100, 200), 598, contact=AP_MA),
            # A-2 at the 03-04 midnight: days_overdue 3 -> to-b; a's open call
            # is cancelled, then b's letter: 80 + 9 + 50 + 200 = 339.
            TR(7, "A-2", "a", "b", "to-b", "2026-03-04T00:00:00+08:00"),
            CX(8, "T-000002", "A-2", "2026-03-04T00:00:00+08:00"),
            TK(9, "T-000004", "A-2", "letter", "b", "stage:b#1", "2026-03-04T00:00:00+08:00",
               "2026-03-05T00:00:00+08:00", 10, 3, (80, 9, 50, 200), 339),
            # A-2's visit at its entry + 1d = 03-05 00:00, the new clock
            # position itself (every moment <= P is processed, §4.3):
            # days_overdue 4: 80 + 12 + 50 + 200 = 342.
            TK(10, "T-000005", "A-2", "visit", "b", "stage:b#2", "2026-03-05T00:00:00+08:00",
               "2026-03-06T00:00:00+08:00", 10, 4, (80, 12, 50, 200), 342),
        ]
        self.assertFeed(d, want)
        self.assertTasks(d, [("T-000001", "open"), ("T-000002", "cancelled"), ("T-000003", "open"),
                             ("T-000004", "open"), ("T-000005", "open")])

# --- 3. Hold on a pending promise ---------------------------------------------

HOLD_RULES = """
promise_grace = "12h";
stages = (
  { name = "current"; },
  { name = "neg";
    hold_when = { promise_pending = true; };
    tasks = ( { type = "call"; }, { type = "letter"; after = "2d"; } ); }
);
rules = (
  { name = "overdue"; from = "current"; to = "neg"; when = { days_overdue = { min = 1; }; }; },
  { name = "settled"; from = "*"; to = "current"; when = { balance = { max = 0; }; }; }
);
"""
# 2 stages: the stage factor of neg is 200*1/1 = 200.  Accounts here are
# small, risk unset (50), without contacts (contact null).  Invoice I-1:
# 100,000 (6 digits -> 240) issued 03-01, due 03-05: days_overdue 1 at the
# 03-06 midnight, which moves the account to neg (rule overdue).


class Hold(EvalTest):
    def start(self):
        d = self.daemon(rules=HOLD_RULES, clock=T0).start()
        return d

    def open_account(self, d, *more):
        self.ingest(d, [account("E-1", "A-1", "small"),
                        invoice("E-2", "A-1", "I-1", 100000, "2026-03-01", "2026-03-05")]
                    + list(more))

    def test_promise_at_entry_broken_at_its_moment_by_a_clock_jump(self):
        d = self.start()
        # P-1, due 03-07: break moment = end of its due day (03-08 00:00)
        # + promise_grace 12h = 2026-03-08T12:00:00+08:00 (§3.1).
        self.open_account(d, promise("E-3", "A-1", 100000, "2026-03-07", T0))
        # One jump over everything, to 03-12 09:00 (§4.3: all moments in time
        # order, each record carrying its own moment).
        self.clock(d, "advance", "10d")
        self.assertFeed(d, [
            # 03-06 00:00: neg entered while P-1 is pending: held from entry,
            # so the after="0d" call is not emitted (§4.5).
            TR(1, "A-1", "current", "neg", "overdue", "2026-03-06T00:00:00+08:00"),
            # 03-08 12:00: P-1 broken (a timer, no event): not held any more;
            # the cadence clock starts running now, at 0 -> step 1 now.
            # days_overdue 03-08 - 03-05 = 3: 240 + 9 + 50 + 200 = 499.
            TK(2, "T-000001", "A-1", "call", "neg", "stage:neg#1", "2026-03-08T12:00:00+08:00",
               "2026-03-09T12:00:00+08:00", 100000, 3, (240, 9, 50, 200), 499),
            # step 2 (after 2d of running clock): 03-10 12:00; days_overdue 5:
            # 240 + 15 + 50 + 200 = 505.
            TK(3, "T-000002", "A-1", "letter", "neg", "stage:neg#2", "2026-03-10T12:00:00+08:00",
               "2026-03-11T12:00:00+08:00", 100000, 5, (240, 15, 50, 200), 505),
        ])
        self.assertEqual(account_records(d)["A-1"]["promises_broken"], 1)

    def test_promise_at_entry_kept_releases_the_hold_in_the_batch(self):
        d = self.start()
        # P-1: 40,000 due 03-09 (break moment 03-10 12:00, never reached).
        self.open_account(d, promise("E-3", "A-1", 40000, "2026-03-09", T0))
        self.clock(d, "set", "2026-03-07T10:00:00+08:00")
        # Entered neg at 03-06 00:00, held: nothing but the transition.
        self.assertFeed(d, [TR(1, "A-1", "current", "neg", "overdue", "2026-03-06T00:00:00+08:00")])
        self.assertTasks(d, [], "--open")
        # 40,000 paid at 03-07 10:00 (in P-1's span) covers P-1: kept, verdict
        # moment 03-07 10:00 (§3.1).  I-1 open 60,000, still overdue.  The
        # batch's evaluation (now 03-07 10:00) finds the account not held:
        # step 1 now.  amount_due 60,000 (5 digits -> 200), days_overdue
        # 03-07 - 03-05 = 2: 200 + 6 + 50 + 200 = 456.
        self.ingest(d, [payment("E-4", "A-1", 40000, "2026-03-07T10:00:00+08:00")])
        want = [
            TR(1, "A-1", "current", "neg", "overdue", "2026-03-06T00:00:00+08:00"),
            TK(2, "T-000001", "A-1", "call", "neg", "stage:neg#1", "2026-03-07T10:00:00+08:00",
               "2026-03-08T10:00:00+08:00", 60000, 2, (200, 6, 50, 200), 456),
        ]
        self.assertFeed(d, want)
        self.clock(d, "set", "2026-03-10T00:00:00+08:00")
        # The cadence clock ran from 03-07 10:00: step 2 (2d) at 03-09 10:00,
        # not at 03-08 00:00 (entry + 2d); days_overdue 4: 200+12+50+200 = 462.
        want.append(TK(3, "T-000002", "A-1", "letter", "neg", "stage:neg#2",
                       "2026-03-09T10:00:00+08:00", "2026-03-10T10:00:00+08:00",
                       60000, 4, (200, 12, 50, 200), 462))
        self.assertFeed(d, want)
        self.assertEqual(account_records(d)["A-1"]["promises_broken"], 0)

    def test_promise_after_entry_stops_the_cadence_clock(self):
        d = self.start()
        self.open_account(d)
        self.clock(d, "set", "2026-03-07T06:00:00+08:00")
        want = [
            TR(1, "A-1", "current", "neg", "overdue", "2026-03-06T00:00:00+08:00"),
            # Not held at entry: step 1 at once; days_overdue 1:
            # 240 + 3 + 50 + 200 = 493.
            TK(2, "T-000001", "A-1", "call", "neg", "stage:neg#1", "2026-03-06T00:00:00+08:00",
               "2026-03-07T00:00:00+08:00", 100000, 1, (240, 3, 50, 200), 493),
        ]
        self.assertFeed(d, want)
        # P-1 at 03-07 06:00, due 03-07: break moment 03-08 00:00 + 12h =
        # 03-08 12:00.  The batch's evaluation finds it pending: held from
        # 03-07 06:00, after the cadence clock has run 30 h (from 03-06 00:00).
        self.ingest(d, [promise("E-3", "A-1", 10000, "2026-03-07", "2026-03-07T06:00:00+08:00")])
        # Unheld at 03-08 12:00 (broken), the clock needs 48 - 30 = 18 h more:
        # step 2 falls due at 03-09 06:00 (not entry + 2d = 03-08 00:00, and not
        # 03-10 12:00 as if the clock restarted at 0).
        self.clock(d, "set", "2026-03-09T05:59:59+08:00")
        self.assertFeed(d, want)
        self.clock(d, "set", "2026-03-12T00:00:00+08:00")
        # days_overdue 03-09 - 03-05 = 4: 240 + 12 + 50 + 200 = 502.
        want.append(TK(3, "T-000002", "A-1", "letter", "neg", "stage:neg#2",
                       "2026-03-09T06:00:00+08:00", "2026-03-10T06:00:00+08:00",
                       100000, 4, (240, 12, 50, 200), 502))
        self.assertFeed(d, want)
        self.assertEqual(account_records(d)["A-1"]["promises_broken"], 1)

# --- 4. Alerts and cooldowns --------------------------------------------------

ALERT_RULES = """
stages = ( { name = "current"; }, { name = "late"; } );
rules = (
  { name = "five-days"; from = "current"; to = "late"; when = { days_overdue = { min = 5; }; }; },
  { name = "settled"; from = "*"; to = "current"; when = { balance = { max = 0; }; }; }
);
alerts = (
  { name = "chase"; when = { overdue_invoices = { min = 1; }; };
    task = { type = "review"; }; cooldown = "60h"; },
  { name = "once"; when = { overdue_invoices = { min = 1; }; };
    task = { type = "sms"; script = "hello"; }; }
);
scripts = ( { name = "hello"; checklist = [ "say hello" ]; } );
"""

OWNER_ZHAO = {"role": "owner", "name": "Mr Zhao", "phone": "+86-10-5550199"}


class Alerts(EvalTest):
    def test_cooldown_refire_stage_change_and_false_condition(self):
        # small, risk B (25), one owner contact (small preference:
        # owner, president).  I-1: 5,000 (4 digits -> 160), due 03-03.
        # 2 stages: current 0, late 200*1/1 = 200.
        d = self.daemon(rules=ALERT_RULES, clock=T0).start()
        self.ingest(d, [account("E-1", "A-1", "small", risk="B", contacts=[OWNER_ZHAO]),
                        invoice("E-2", "A-1", "I-1", 5000, "2026-03-01", "2026-03-03")])
        # 03-02, 03-03: nothing overdue, the alerts' condition is false.
        self.clock(d, "set", "2026-03-03T23:59:59+08:00")
        self.assertFeed(d, [])
        self.clock(d, "set", "2026-03-10T09:00:00+08:00")
        want = [
            # 03-04 00:00: overdue_invoices 1, days_overdue 1; no rule holds.
            # Alerts in alert order (§4.6, §5): chase, then once.  Each task
            # carries the final stage, current.  160 + 3 + 25 + 0 = 188.
            TK(1, "T-000001", "A-1", "review", "current", "alert:chase", "2026-03-04T00:00:00+08:00",
               "2026-03-05T00:00:00+08:00", 5000, 1, (160, 3, 25, 0), 188, contact=OWNER_ZHAO),
            TK(2, "T-000002", "A-1", "sms", "current", "alert:once", "2026-03-04T00:00:00+08:00",
               "2026-03-05T00:00:00+08:00", 5000, 1, (160, 3, 25, 0), 188, "hello", ["say hello"],
               OWNER_ZHAO),
            # chase's cooldown ends at 03-04 00:00 + 60 h = 03-06 12:00 (not a
            # midnight): still holding -> fires again exactly then
            # (level-triggered, created = fire + cooldown).  days_overdue 3:
            # 160 + 9 + 25 + 0 = 194.  once (no cooldown) never again.
            TK(3, "T-000003", "A-1", "review", "current", "alert:chase", "2026-03-06T12:00:00+08:00",
               "2026-03-07T12:00:00+08:00", 5000, 3, (160, 9, 25, 0), 194, contact=OWNER_ZHAO),
            # 03-08 00:00: days_overdue 5 -> five-days.  No cancel: alert tasks
            # are not cancelled by a stage change (§4.6); late has no tasks.
            # chase cools down until 03-06 12:00 + 60 h = 03-09 00:00.
            TR(4, "A-1", "current", "late", "five-days", "2026-03-08T00:00:00+08:00"),
            # 03-09 00:00: chase again, carrying stage late; days_overdue 6:
            # 160 + 18 + 25 + 200 = 403.  Next cooldown end: 03-11 12:00.
            TK(5, "T-000004", "A-1", "review", "late", "alert:chase", "2026-03-09T00:00:00+08:00",
               "2026-03-10T00:00:00+08:00", 5000, 6, (160, 18, 25, 200), 403, contact=OWNER_ZHAO),
        ]
        self.assertFeed(d, want)
        # Paid at 03-10 09:00: settled -> current; still no cancels (the four
        # tasks are alert tasks).
        self.ingest(d, [payment("E-3", "A-1", 5000, "2026-03-10T09:00:00+08:00")])
        want.append(TR(6, "A-1", "late", "current", "settled", "2026-03-10T09:00:00+08:00"))
        self.assertFeed(d, want)
        # 03-11 12:00, chase's cooldown end, finds the condition false: nothing.
        self.clock(d, "set", "2026-03-20T00:00:00+08:00")
        self.assertFeed(d, want)
        self.assertTasks(d, [("T-000001", "open"), ("T-000002", "open"), ("T-000003", "open"),
                             ("T-000004", "open")])
        # A new invoice, 100 (3 digits -> 120), due 03-15: already 5 days
        # overdue in the batch (now 03-20 00:00): five-days moves the account
        # to late, chase (cooled down since 03-11 12:00) fires at once, once
        # does not (it fired before, no cooldown = ever).
        # 120 + 15 + 25 + 200 = 360.
        self.ingest(d, [invoice("E-4", "A-1", "I-2", 100, "2026-03-01", "2026-03-15")])
        want += [
            TR(7, "A-1", "current", "late", "five-days", "2026-03-20T00:00:00+08:00"),
            TK(8, "T-000005", "A-1", "review", "late", "alert:chase", "2026-03-20T00:00:00+08:00",
               "2026-03-21T00:00:00+08:00", 100, 5, (120, 15, 25, 200), 360, contact=OWNER_ZHAO),
        ]
        self.assertFeed(d, want)

# --- 5. Pause and unpause -----------------------------------------------------

PAUSE_RULES = """
stages = (
  { name = "current"; },
  { name = "neg"; tasks = ( { type = "call"; }, { type = "letter"; after = "5d"; } ); }
);
rules = (
  { name = "overdue"; from = "current"; to = "neg"; when = { days_overdue = { min = 1; }; }; },
  { name = "settled"; from = "*"; to = "current"; when = { balance = { max = 0; }; }; }
);
"""
# 2 stages: neg's stage factor is 200.  A-1: medium, risk C (50), no
# contacts.  I-1: 20,000 (5 digits -> 200) issued 03-01, due 03-02.


class Pause(EvalTest):
    def test_pause_cancels_and_stops_the_cadence_clock(self):
        d = self.daemon(rules=PAUSE_RULES, clock=T0).start()
        self.ingest(d, [account("E-1", "A-1", "medium", risk="C"),
                        invoice("E-2", "A-1", "I-1", 20000, "2026-03-01", "2026-03-02")])
        self.clock(d, "set", "2026-03-04T12:00:00+08:00")
        want = [
            # 03-03 00:00: days_overdue 1 -> neg; step 1: 200 + 3 + 50 + 200 = 453.
            TR(1, "A-1", "current", "neg", "overdue", "2026-03-03T00:00:00+08:00"),
            TK(2, "T-000001", "A-1", "call", "neg", "stage:neg#1", "2026-03-03T00:00:00+08:00",
               "2026-03-04T00:00:00+08:00", 20000, 1, (200, 3, 50, 200), 453),
        ]
        self.assertFeed(d, want)
        # Paused at 03-04 12:00 (the batch's now): the open call is cancelled
        # (§4.4 step 2).  The cadence clock has run 36 h (from 03-03 00:00).
        self.ingest(d, [pause("E-3", "A-1", True)])
        want.append(CX(3, "T-000001", "A-1", "2026-03-04T12:00:00+08:00"))
        self.assertFeed(d, want)
        self.assertTrue(account_records(d)["A-1"]["paused"])
        self.assertTasks(d, [("T-000001", "cancelled")])
        # Two days paused: midnights and the old step-2 moment (03-08 00:00,
        # not reached yet anyway) emit nothing.
        self.clock(d, "set", "2026-03-06T12:00:00+08:00")
        self.assertFeed(d, want)
        # Unpaused at 03-06 12:00: evaluated at once; the withdrawn call is not
        # issued again (§4.5); the clock resumes at 36 h.
        self.ingest(d, [pause("E-4", "A-1", False)])
        self.assertFeed(d, want)
        self.assertFalse(account_records(d)["A-1"]["paused"])
        # Step 2 (after 5d = 120 h) needs 84 h more: 03-06 12:00 + 84 h =
        # 03-10 00:00 = entry + 7d (5d + the 2d paused).
        self.clock(d, "set", "2026-03-09T23:59:59+08:00")
        self.assertFeed(d, want)
        self.clock(d, "set", "2026-03-12T00:00:00+08:00")
        # days_overdue 03-10 - 03-02 = 8: 200 + 24 + 50 + 200 = 474.
        want.append(TK(4, "T-000002", "A-1", "letter", "neg", "stage:neg#2",
                       "2026-03-10T00:00:00+08:00", "2026-03-11T00:00:00+08:00",
                       20000, 8, (200, 24, 50, 200), 474))
        self.assertFeed(d, want)

    def test_paused_account_does_not_move_until_unpaused(self):
        d = self.daemon(rules=PAUSE_RULES, clock=T0).start()
        # A new account sent paused, already 1 day overdue (due 03-01): the
        # batch's evaluation stops at §4.4 step 2 (nothing to cancel), no
        # transition.  Not at the midnights either.
        self.ingest(d, [account("E-1", "A-1", "medium", risk="C", paused=True),
                        invoice("E-2", "A-1", "I-1", 20000, "2026-03-01", "2026-03-01")])
        self.clock(d, "set", "2026-03-04T09:00:00+08:00")
        self.assertFeed(d, [])
        self.assertStage(d, "A-1", "current")
        # Unpausing evaluates at once (§4.3, §4.5), at the batch's now:
        # days_overdue 03-04 - 03-01 = 3: 200 + 9 + 50 + 200 = 459.
        self.ingest(d, [pause("E-3", "A-1", False)])
        self.assertFeed(d, [
            TR(1, "A-1", "current", "neg", "overdue", "2026-03-04T09:00:00+08:00"),
            TK(2, "T-000001", "A-1", "call", "neg", "stage:neg#1", "2026-03-04T09:00:00+08:00",
               "2026-03-05T09:00:00+08:00", 20000, 3, (200, 9, 50, 200), 459),
        ])

# --- 6. Re-anchoring days_overdue after a partial payment ---------------------

ANCHOR_RULES = """
stages = (
  { name = "current"; },
  { name = "neg"; tasks = ( { type = "call"; } ); },
  { name = "pressure"; tasks = ( { type = "letter"; } ); }
);
rules = (
  { name = "overdue"; from = "current"; to = "neg"; when = { days_overdue = { min = 1; }; }; },
  { name = "long"; from = "neg"; to = "pressure"; when = { days_overdue = { min = 10; }; }; },
  { name = "settled"; from = "*"; to = "current"; when = { balance = { max = 0; }; }; }
);
"""

ACC_HU = {"role": "accountant", "name": "Ms Hu", "phone": "+86-20-5550111"}
FC_SUN = {"role": "financial_controller", "name": "Mr Sun", "email": "sun@example.com"}


class Reanchor(EvalTest):
    def test_paying_the_oldest_invoice_moves_the_pressure_moment(self):
        # large, risk D (75), contacts [accountant, financial_controller]
        # -> the financial_controller (large preference: ap_manager,
        # financial_controller).  3 stages: neg 100, pressure 200.
        d = self.daemon(rules=ANCHOR_RULES, clock=T0).start()
        self.ingest(d, [
            account("E-1", "A-1", "large", risk="D", contacts=[ACC_HU, FC_SUN]),
            invoice("E-2", "A-1", "I-1", 50000, "2026-02-20", "2026-03-01"),
            invoice("E-3", "A-1", "I-2", 70000, "2026-02-20", "2026-03-05"),
        ])
        want = [
            # At T0 (batch): days_overdue 03-02 - 03-01 = 1 -> neg.
            # amount_due = undisputed_overdue = 50,000 (I-2 not due yet):
            # 5 digits -> 200; 200 + 3 + 75 + 100 = 378.
            TR(1, "A-1", "current", "neg", "overdue", T0),
            # A call needs a phone: Ms Hu, asking for the financial
            # controller, whom only an email reaches (§5, P6).
            TK(2, "T-000001", "A-1", "call", "neg", "stage:neg#1", T0, "2026-03-03T09:00:00+08:00",
               50000, 1, (200, 3, 75, 100), 378, contact=ACC_HU,
               ask_for="financial_controller"),
        ]
        self.assertFeed(d, want)
        self.clock(d, "set", "2026-03-08T09:00:00+08:00")
        self.assertEqual(account_records(d)["A-1"]["days_overdue"], 7)
        # 50,000 without invoice goes to the earliest due: I-1 settled.  The
        # earliest overdue invoice is now I-2 (due 03-05): days_overdue 3.
        self.ingest(d, [payment("E-4", "A-1", 50000, "2026-03-08T09:00:00+08:00")])
        a = account_records(d)["A-1"]
        self.assertEqual((a["days_overdue"], a["overdue_amount"], a["balance"]), (3, 70000, 70000))
        # 03-11 00:00 would have been days_overdue 10 with I-1: nothing now.
        self.clock(d, "set", "2026-03-11T00:00:00+08:00")
        self.assertFeed(d, want)
        self.clock(d, "set", "2026-03-20T00:00:00+08:00")
        want += [
            # 03-15 00:00 = 03-05 + 10 d: rule long; the open call cancelled.
            TR(3, "A-1", "neg", "pressure", "long", "2026-03-15T00:00:00+08:00"),
            CX(4, "T-000001", "A-1", "2026-03-15T00:00:00+08:00"),
            # amount_due 70,000 -> 200; age 30; 200 + 30 + 75 + 200 = 505.
            TK(5, "T-000002", "A-1", "letter", "pressure", "stage:pressure#1",
               "2026-03-15T00:00:00+08:00", "2026-03-16T00:00:00+08:00",
               70000, 10, (200, 30, 75, 200), 505, contact=FC_SUN),
        ]
        self.assertFeed(d, want)

# --- 7. Task fields: source, script, contact, amount_due, priority, ids -------

FIELD_RULES = """
stages = (
  { name = "current"; },
  { name = "s1"; tasks = ( { type = "call"; script = "x"; },
                           { type = "visit"; every = "1d"; max = 2; } ); },
  { name = "s2"; },
  { name = "s3"; }
);
rules = (
  { name = "overdue"; from = "current"; to = "s1"; when = { overdue_amount = { min = 1; }; }; },
  { name = "to-s2"; from = "s1"; to = "s2"; when = { tags = { any = ["s2"]; }; }; },
  { name = "to-s3"; from = "s2"; to = "s3"; when = { tags = { any = ["s3"]; }; }; },
  { name = "settled"; from = "*"; to = "current"; when = { balance = { max = 0; }; }; }
);
alerts = ( { name = "big"; when = { overdue_amount = { min = 1; }; }; task = { type = "review"; }; } );
scripts = ( { name = "x"; checklist = [ "one", "two" ]; } );
"""

C_ACC = {"role": "accountant", "name": "Acc", "phone": "1"}
C_FD = {"role": "finance_director", "name": "Fd", "phone": "2"}
C_CFO1 = {"role": "cfo", "name": "Cfo One", "phone": "3"}
C_CFO2 = {"role": "cfo", "name": "Cfo Two", "email": "cfo2@example.com"}
C_SALES = {"role": "sales", "name": "Sales", "phone": "4"}
C_FC = {"role": "financial_controller", "name": "Fc", "phone": "5"}
C_AP = {"role": "ap_manager", "name": "Ap", "email": "ap@example.com"}


class TaskFields(EvalTest):
    def test_fields_of_stage_and_alert_tasks(self):
        # 4 stages: stage factor of s1 = floor(200*1/3) = 66.
        d = self.daemon(rules=FIELD_RULES, clock=T0).start()
        self.ingest(d, [
            # K-9: medium, risk unset (50); contacts accountant, finance_director,
            # cfo, cfo -> the first cfo (cfo precedes finance_director in the
            # medium preference; the first listed of that role).
            # 1,250,000 (7 digits -> 280), due 02-20: days_overdue 10 (age 30).
            account("E-1", "K-9", "medium", contacts=[C_ACC, C_FD, C_CFO1, C_CFO2]),
            invoice("E-2", "K-9", "I-9", 1250000, "2026-02-01", "2026-02-20"),
            # K-10: small, risk A (0); contacts sales, accountant: no owner or
            # president -> the first listed, sales.  9 (1 digit -> 40), due
            # 03-01: days_overdue 1 (age 3).
            account("E-3", "K-10", "small", risk="A", contacts=[C_SALES, C_ACC]),
            invoice("E-4", "K-10", "I-10", 9, "2026-02-01", "2026-03-01"),
            # k-1: large, risk D (75); contacts financial_controller,
            # ap_manager -> ap_manager (earlier in the large preference,
            # though listed second).  X-1 100,000 due 02-20, wholly disputed;
            # X-2 30,000 due 03-31.  overdue_amount 100,000 (disputed parts
            # included) -> rule overdue; undisputed_overdue 0, so amount_due =
            # balance - disputed = 130,000 - 100,000 = 30,000 (5 digits ->
            # 200); no undisputed overdue invoice: days_overdue 0.
            account("E-5", "k-1", "large", risk="D", contacts=[C_FC, C_AP]),
            invoice("E-6", "k-1", "X-1", 100000, "2026-02-01", "2026-02-20"),
            invoice("E-7", "k-1", "X-2", 30000, "2026-03-01", "2026-03-31"),
            {"type": "dispute", "id": "E-8", "account": "k-1", "invoice": "X-1",
             "amount": 100000, "reason": "damaged goods", "at": T0},
            # K-100: large, risk E (100), no contacts (contact null).
            # 123,456,789,012: 12 digits -> 480, capped at 400.  Due
            # 2025-10-03: days_overdue 150 -> 450, capped at 300.
            account("E-9", "K-100", "large", risk="E"),
            invoice("E-10", "K-100", "I-100", 123456789012, "2025-09-01", "2025-10-03"),
        ])
        n1 = "2026-03-03T09:00:00+08:00"  # not_after of the tasks created at T0

        def three(seq, first, acct, amount_due, do, factors, prio, contact,
                  call_contact="same", ask_for="auto"):
            # §5: a call needs a contact with a phone.
            if call_contact == "same":
                call_contact = contact
            # One account's evaluation in the batch (§5 order): transition,
            # stage tasks in step order (call #1, visit #2 task n=0 -> "/1"),
            # then the alert task (carrying the final stage s1).
            ids = ["T-%06d" % (first + i) for i in range(3)]
            return [
                TR(seq, acct, "current", "s1", "overdue", T0),
                TK(seq + 1, ids[0], acct, "call", "s1", "stage:s1#1", T0, n1, amount_due, do,
                   factors, prio, "x", ["one", "two"], call_contact, ask_for=ask_for),
                TK(seq + 2, ids[1], acct, "visit", "s1", "stage:s1#2/1", T0, n1, amount_due, do,
                   factors, prio, contact=contact, ask_for=ask_for),
                TK(seq + 3, ids[2], acct, "review", "s1", "alert:big", T0, n1, amount_due, do,
                   factors, prio, contact=contact, ask_for=ask_for),
            ]

        # Batch: accounts in order of first appearance (§2.4): K-9, K-10, k-1, K-100.
        want = (three(1, 1, "K-9", 1250000, 10, (280, 30, 50, 66), 426, C_CFO1)
                # K-10: no decision-maker on file: ask for the owner (P6).
                + three(5, 4, "K-10", 9, 1, (40, 3, 0, 66), 109, C_SALES, ask_for="owner")
                # k-1: the ap_manager has no phone: the call goes to the
                # financial controller (also a decider: no ask_for).
                + three(9, 7, "k-1", 30000, 0, (200, 0, 75, 66), 341, C_AP, call_contact=C_FC)
                + three(13, 10, "K-100", 123456789012, 150, (400, 300, 100, 66), 866, None))
        self.assertFeed(d, want)
        self.clock(d, "advance", "3d")
        # The visit's task n=1 ("/2") at entry + 1d = 03-03 09:00, max 2: no
        # "/3".  Accounts due at one moment go in byte order of id (§4.3):
        # "K-10" < "K-100" < "K-9" < "k-1".  days_overdue one more (k-1: 0).
        n2 = "2026-03-04T09:00:00+08:00"

        def visit2(seq, n, acct, amount_due, do, factors, prio, contact, ask_for="auto"):
            return TK(seq, "T-%06d" % n, acct, "visit", "s1", "stage:s1#2/2", n1, n2, amount_due,
                      do, factors, prio, contact=contact, ask_for=ask_for)

        want += [
            visit2(17, 13, "K-10", 9, 2, (40, 6, 0, 66), 112, C_SALES, ask_for="owner"),
            visit2(18, 14, "K-100", 123456789012, 151, (400, 300, 100, 66), 866, None),
            visit2(19, 15, "K-9", 1250000, 11, (280, 33, 50, 66), 429, C_CFO1),
            visit2(20, 16, "k-1", 30000, 0, (200, 0, 75, 66), 341, C_AP),
        ]
        self.assertFeed(d, want)
        # tasks: seq order; --open: by priority (desc), then seq (§7).
        every = [("T-%06d" % n, "open") for n in range(1, 17)]
        self.assertTasks(d, every)
        by_prio = [10, 11, 12, 14,   # 866
                   15,               # 429
                   1, 2, 3,          # 426
                   7, 8, 9, 16,      # 341
                   13,               # 112
                   4, 5, 6]          # 109
        self.assertTasks(d, [("T-%06d" % n, "open") for n in by_prio], "--open")
        self.assertTasks(d, [("T-%06d" % n, "open") for n in (4, 5, 6, 13)], "--account", "K-10")
        self.assertTasks(d, [("T-%06d" % n, "open") for n in (2, 5, 8, 11, 13, 14, 15, 16)],
                         "--type", "visit")

# --- 8. Restart and crash -----------------------------------------------------

RESTART_RULES = """
stages = (
  { name = "current"; },
  { name = "neg"; tasks = ( { type = "call"; }, { type = "letter"; after = "3d"; },
                            { type = "visit"; after = "8d"; } ); }
);
rules = (
  { name = "overdue"; from = "current"; to = "neg"; when = { days_overdue = { min = 1; }; }; },
  { name = "settled"; from = "*"; to = "current"; when = { balance = { max = 0; }; }; }
);
"""

DAILY_RULES = """
stages = (
  { name = "current"; },
  { name = "neg"; tasks = ( { type = "call"; every = "1d"; } ); }
);
rules = (
  { name = "overdue"; from = "current"; to = "neg"; when = { days_overdue = { min = 1; }; }; },
  { name = "settled"; from = "*"; to = "current"; when = { balance = { max = 0; }; }; }
);
"""


class Restart(EvalTest):
    def restart(self, d, clock, sig=signal.SIGTERM):
        rc = d.stop(sig)
        if sig == signal.SIGTERM:
            self.assertEqual(rc, 0)
        d.clock = clock
        d.start()

    def test_restart_keeps_the_feed_and_processes_missed_moments(self):
        # medium, risk A (0), no contacts; I-1: 1,000 (4 digits -> 160)
        # due 03-02.  2 stages: neg 200.
        d = self.daemon(rules=RESTART_RULES, clock=T0).start()
        self.ingest(d, [account("E-1", "A-1", "medium", risk="A"),
                        invoice("E-2", "A-1", "I-1", 1000, "2026-03-01", "2026-03-02")])
        self.clock(d, "set", "2026-03-04T09:00:00+08:00")
        want = [
            # 03-03 00:00: days_overdue 1 -> neg; call: 160 + 3 + 0 + 200 = 363.
            TR(1, "A-1", "current", "neg", "overdue", "2026-03-03T00:00:00+08:00"),
            TK(2, "T-000001", "A-1", "call", "neg", "stage:neg#1", "2026-03-03T00:00:00+08:00",
               "2026-03-04T00:00:00+08:00", 1000, 1, (160, 3, 0, 200), 363),
        ]
        self.assertFeed(d, want)
        tasks_before = task_records(d)
        # Same --test-clock as at the first start (T0, before the stored
        # position): the clock is max(TIME, stored) = 03-04 09:00 (§6);
        # nothing is processed again, nothing re-emitted.
        self.restart(d, T0)
        self.assertEqual(d.status()["now"], "2026-03-04T09:00:00+08:00")
        self.assertFeed(d, want)
        self.assertEqual(task_records(d), tasks_before)
        self.assertEqual(d.status()["feed_head"], 2)
        # Advancing continues: letter at entry + 3d = 03-06 00:00,
        # days_overdue 4: 160 + 12 + 0 + 200 = 372.
        self.clock(d, "set", "2026-03-07T09:00:00+08:00")
        want.append(TK(3, "T-000002", "A-1", "letter", "neg", "stage:neg#2",
                       "2026-03-06T00:00:00+08:00", "2026-03-07T00:00:00+08:00",
                       1000, 4, (160, 12, 0, 200), 372))
        self.assertFeed(d, want)
        # Restart at a later --test-clock: the moment missed while stopped
        # (visit at entry + 8d = 03-11 00:00) is processed before READY with
        # its own time (§6).  days_overdue 9: 160 + 27 + 0 + 200 = 387.
        self.restart(d, "2026-03-12T09:00:00+08:00")
        self.assertEqual(d.status()["now"], "2026-03-12T09:00:00+08:00")
        want.append(TK(4, "T-000003", "A-1", "visit", "neg", "stage:neg#3",
                       "2026-03-11T00:00:00+08:00", "2026-03-12T00:00:00+08:00",
                       1000, 9, (160, 27, 0, 200), 387))
        self.assertFeed(d, want)
        # kill -9 after committed work: everything acknowledged survives.
        self.restart(d, T0, signal.SIGKILL)
        self.assertEqual(d.status()["now"], "2026-03-12T09:00:00+08:00")
        self.assertFeed(d, want)
        self.assertTasks(d, [("T-000001", "open"), ("T-000002", "open"), ("T-000003", "open")])

    def test_kill_during_a_clock_jump_loses_and_repeats_nothing(self):
        # 20 accounts A-01 .. A-20, each 1 day overdue at T0: each moves to
        # neg in the batch (order of appearance = id order) and gets call
        # "/1" at T0, then "/n" every 24 h at 09:00 (no max: until the stage
        # is left, §4.5).  Midnights change nothing a rule acts on.
        accts = ["A-%02d" % i for i in range(1, 21)]
        d = self.daemon(rules=DAILY_RULES, clock=T0).start()
        events = []
        for i, a in enumerate(accts):
            events += [account("E-a%d" % i, a, "small"),
                       invoice("E-i%d" % i, a, "I-%d" % i, 1000, "2026-02-20", "2026-03-01")]
        self.ingest(d, events)
        # The full feed up to 06-10 09:00 (T0 + 100 d; that moment included):
        # (kind, account, task, source, moment); seq = position + 1; task ids
        # in feed order.
        full = []
        for a in accts:
            full.append(("transition", a, None, None, T0))
            full.append(("task", a, None, "stage:neg#1/1", T0))
        start = ts(T0)
        for k in range(1, 101):
            at = (start + datetime.timedelta(days=k)).isoformat()
            for a in accts:  # byte order of id (§4.3)
                full.append(("task", a, None, "stage:neg#1/%d" % (k + 1), at))
        n = 0
        for i, r in enumerate(full):
            if r[0] == "task":
                n += 1
                full[i] = (i + 1, r[0], r[1], "T-%06d" % n, r[3], r[4])
            else:
                full[i] = (i + 1,) + r
        self.assertEqual(len(full), 2040)

        def project(recs):
            return [(r["seq"], r["kind"], r["account"], r.get("task"), r.get("source"),
                     r["created"] if r["kind"] == "task" else r["at"]) for r in recs]

        target = "2026-06-10T09:00:00+08:00"
        p = subprocess.Popen([DUNNCTL, "-s", d.sock, "clock", "set", target],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.03)  # not synchronisation: any moment of the jump will do
        d.stop(signal.SIGKILL)
        p.wait(60)
        d.start()
        got = project(feed_records(d))
        # Whatever was committed is an exact prefix of the full feed: seq
        # gapless from 1, no task twice for one (account, source), nothing
        # after the restored clock position.
        self.assertEqual(got, full[:len(got)])
        self.assertGreaterEqual(len(got), 40)
        now = ts(d.status()["now"])
        self.assertTrue(all(ts(r[5]) <= now for r in got))
        self.assertEqual([r for r in full if ts(r[5]) <= now], got)
        self.clock(d, "set", target)
        self.assertEqual(project(feed_records(d)), full)
        self.assertEqual(d.status()["feed_head"], 2040)

# --- 9. The clock command -----------------------------------------------------

class ClockCommand(EvalTest):
    def test_backwards_same_and_forward(self):
        d = self.daemon(clock=T0).start()
        # An earlier time: exit 1 (§7), the clock stays.
        r = d.ctl("clock", "set", "2026-03-02T08:59:59+08:00")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        r, recs = d.ctl_json("clock", "set", "2026-03-01T00:00:00+08:00")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(d.status()["now"], T0)
        # The current time: a no-op, exit 0 (also written with another offset).
        self.clock(d, "set", T0)
        self.clock(d, "set", "2026-03-02T01:00:00Z")
        self.assertEqual(d.status()["now"], T0)
        # Forward: now is reported in the zone's offset (§1).
        self.clock(d, "advance", "1d")
        self.assertEqual(d.status()["now"], "2026-03-03T09:00:00+08:00")
        self.clock(d, "advance", "90m")
        self.assertEqual(d.status()["now"], "2026-03-03T10:30:00+08:00")
        self.clock(d, "set", "2026-03-04T00:00:00Z")
        self.assertEqual(d.status()["now"], "2026-03-04T08:00:00+08:00")
        # 2026-03-04T00:00:00Z is now in the past.
        r = d.ctl("clock", "set", "2026-03-03T23:59:59Z")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(d.status()["now"], "2026-03-04T08:00:00+08:00")

    def test_beyond_year_9999_in_the_zone_exit_1(self):
        # §1: years 1970-9999.  9999-12-31T20:00:00Z is 10000-01-01 04:00
        # in +08:00: refused (exit 1), the clock stays; the last local
        # second is fine.
        d = self.daemon(clock="9999-12-31T10:00:00Z").start()
        for args in (("set", "9999-12-31T20:00:00Z"), ("advance", "1d")):
            r = d.ctl("clock", *args)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn("9999", r.stdout + r.stderr)
            self.assertEqual(d.status()["now"], "9999-12-31T18:00:00+08:00")
        self.clock(d, "set", "9999-12-31T23:59:59+08:00")
        self.assertEqual(d.status()["now"], "9999-12-31T23:59:59+08:00")

    def test_sigterm_stops_a_long_clock_jump(self):
        # A jump of 1,000 years is 365,000 daily sweeps, one step each:
        # SIGTERM between two of them stops dunnd (exit 0) without
        # waiting for the rest; the jump's client gets "shutting down"
        # (exit 3); a restart resumes at the last processed moment.
        d = self.daemon(clock=T0).start()
        jump = subprocess.Popen([DUNNCTL, "-s", d.sock, "clock", "advance", "52000w"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(1.0)
        t0 = time.monotonic()
        self.assertEqual(d.stop(timeout=20), 0)
        self.assertLess(time.monotonic() - t0, 10)
        out, _ = jump.communicate(timeout=20)
        self.assertEqual(jump.returncode, 3, out)
        self.assertIn("shutting down", out)
        d.start()
        now = d.status()["now"]
        self.assertGreater(now, "2026-03-03")     # some days were processed
        self.assertLess(now, "3026")             # but not the thousand years
        self.assertTrue(now.endswith("T00:05:00+08:00"), now)   # a sweep_at moment

    def test_sigterm_stops_a_long_catch_up_at_start(self):
        # §6: a restart at a later --test-clock first processes every
        # moment missed meanwhile, before READY=1.  500 years of daily
        # sweeps take long: SIGTERM stops it between two moments, dunnd
        # exits 0 having committed what it processed, and the next start
        # resumes there.
        d = self.daemon(clock=T0).start()
        self.assertEqual(d.stop(), 0)
        d.clock = "2526-03-02T09:00:00+08:00"
        p = d.spawn()
        deadline = time.monotonic() + 60
        while "processing the moments missed since" not in d.log():
            self.assertLess(time.monotonic(), deadline, d.log()[-2000:])
            time.sleep(0.02)
        time.sleep(0.5)
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=20), 0)
        self.assertIn("stopped during the catch-up", d.log())
        d.clock = T0
        d.start()
        now = d.status()["now"]
        self.assertGreater(now, "2026-03-03")
        self.assertLess(now, "2526")

    def test_without_test_clock_exit_1(self):
        d = self.daemon(clock=None).start()
        for args in (("set", "2099-01-01T00:00:00+08:00"), ("advance", "1d")):
            r = d.ctl("clock", *args)
            self.assertEqual(r.returncode, 1, "clock %s: %s%s" % (args, r.stdout, r.stderr))
        self.assertEqual(d.status()["clock"], "wall")


# --- 10. Outcomes -------------------------------------------------------------

OUTCOME_RULES = """
stages = (
  { name = "current"; },
  { name = "neg"; tasks = ( { type = "call"; }, { type = "sms"; } ); },
  { name = "unreach"; tasks = ( { type = "letter"; } ); }
);
rules = (
  { name = "overdue"; from = "current"; to = "neg"; when = { days_overdue = { min = 1; }; }; },
  { name = "unreachable"; from = "neg"; to = "unreach"; when = { unreached = { min = 2; }; }; },
  { name = "settled"; from = "*"; to = "current"; when = { balance = { max = 0; }; }; }
);
"""

PRES_QIAN = {"role": "president", "name": "Ms Qian", "phone": "+86-571-5550123"}
OWNER_ZHOU = {"role": "owner", "name": "Mr Zhou", "phone": "+86-571-5550124"}


class Outcomes(EvalTest):
    def test_outcomes_close_tasks_and_count_for_unreached(self):
        # small, risk unset (50); contacts president, owner -> the owner
        # (owner precedes president in the small preference, whatever the
        # listing order).  I-1: 300,000 (6 digits -> 240), due 03-01:
        # days_overdue 1 at T0.  3 stages: neg 100, unreach 200.
        d = self.daemon(rules=OUTCOME_RULES, clock=T0).start()
        self.ingest(d, [account("E-1", "A-1", "small", contacts=[PRES_QIAN, OWNER_ZHOU]),
                        invoice("E-2", "A-1", "I-1", 300000, "2026-02-20", "2026-03-01")])
        n1 = "2026-03-03T09:00:00+08:00"
        want = [
            TR(1, "A-1", "current", "neg", "overdue", T0),
            # 240 + 3 + 50 + 100 = 393 for both.
            TK(2, "T-000001", "A-1", "call", "neg", "stage:neg#1", T0, n1, 300000, 1,
               (240, 3, 50, 100), 393, contact=OWNER_ZHOU),
            TK(3, "T-000002", "A-1", "sms", "neg", "stage:neg#2", T0, n1, 300000, 1,
               (240, 3, 50, 100), 393, contact=OWNER_ZHOU),
        ]
        self.assertFeed(d, want)
        # no_answer on the open call: done (§2.3), a done record (§5);
        # unreached 1: no rule.
        self.ingest(d, [outcome("E-3", "T-000001", "no_answer", T0)])
        want.append({"seq": 4, "kind": "done", "task": "T-000001", "account": "A-1",
                     "result": "no_answer", "at": T0})
        self.assertFeed(d, want)
        self.assertTasks(d, [("T-000001", "done"), ("T-000002", "open")])
        self.assertTasks(d, [("T-000002", "open")], "--open")
        # A second outcome on the done call is recorded and counts (§2.3):
        # unreached 2 -> unreachable in this batch's evaluation (now T0).
        # Leaving neg cancels the open sms only (the call is done).
        self.ingest(d, [outcome("E-4", "T-000001", "wrong_contact", T0)])
        want += [
            TR(5, "A-1", "neg", "unreach", "unreachable", T0),
            CX(6, "T-000002", "A-1", T0),
            # 240 + 3 + 50 + 200 = 493.
            TK(7, "T-000003", "A-1", "letter", "unreach", "stage:unreach#1", T0, n1, 300000, 1,
               (240, 3, 50, 200), 493, contact=OWNER_ZHOU),
        ]
        self.assertFeed(d, want)
        # An outcome on the cancelled sms is recorded; the status stays.
        self.ingest(d, [outcome("E-5", "T-000002", "reached", T0)])
        self.assertFeed(d, want)
        self.assertTasks(d, [("T-000001", "done"), ("T-000002", "cancelled"), ("T-000003", "open")])


# --- DST: elapsed cadence time and offsets in Europe/Berlin --------------------

DST_RULES = """
stages = (
  { name = "current"; },
  { name = "neg"; tasks = ( { type = "call"; }, { type = "letter"; after = "1d"; } ); }
);
rules = (
  { name = "overdue"; from = "current"; to = "neg"; when = { days_overdue = { min = 1; }; }; },
  { name = "settled"; from = "*"; to = "current"; when = { balance = { max = 0; }; }; }
);
"""


class Dst(EvalTest):
    def test_spring_forward(self):
        # Europe/Berlin, 2026-03-29 (Sunday): 02:00 CET -> 03:00 CEST, a 23 h day.
        d = self.daemon(rules=DST_RULES, clock="2026-03-27T12:00:00+01:00",
                        timezone="Europe/Berlin").start()
        # small, risk unset (50); 500 (3 digits -> 120), due 03-28.
        self.ingest(d, [account("E-1", "A-1", "small"),
                        invoice("E-2", "A-1", "I-1", 500, "2026-03-20", "2026-03-28")])
        self.clock(d, "set", "2026-04-01T00:00:00+02:00")
        self.assertEqual(d.status()["now"], "2026-04-01T00:00:00+02:00")
        self.assertFeed(d, [
            # The local midnight starting 03-29 is still CET: days_overdue 1.
            TR(1, "A-1", "current", "neg", "overdue", "2026-03-29T00:00:00+01:00"),
            # not_after = + 24 h elapsed = 2026-03-29T23:00Z = 03-30 01:00 CEST.
            # 2 stages: 200.  120 + 3 + 50 + 200 = 373.
            TK(2, "T-000001", "A-1", "call", "neg", "stage:neg#1", "2026-03-29T00:00:00+01:00",
               "2026-03-30T01:00:00+02:00", 500, 1, (120, 3, 50, 200), 373),
            # after "1d" is 24 h elapsed, not the next local midnight (§1):
            # 03-30 01:00 CEST; days_overdue 2: 120 + 6 + 50 + 200 = 376.
            TK(3, "T-000002", "A-1", "letter", "neg", "stage:neg#2", "2026-03-30T01:00:00+02:00",
               "2026-03-31T01:00:00+02:00", 500, 2, (120, 6, 50, 200), 376),
        ])


if __name__ == "__main__":
    unittest.main()
