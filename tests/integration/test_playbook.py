"""The playbook's timing and people on the real daemon (issue #20).

* Windows in the feed (calendar, schedules, slots, defer_days, weekday
  and cash-in classes, the one-per-day rule, rank and reason).
* A step that fell due while the account was held is emitted, when the
  hold ends, with its first slot only (P4: do what you said, on time).
* Contacts chosen by channel, `ask_for`, no contact on internal tasks,
  and the `decision_maker` fact (P6).
* Credit hold -> legal keeps the hold -> payment -> release cancels the
  hold task (P10); a reload that renames the hold's stage; a restart.
* `tasks --open --workable [--at]`: the collector's queue.

T0 = Monday 2 March 2026, 09:00 in Shanghai.  6 March is a holiday in
these rules.
"""
import json
import os
import unittest

from lib import DaemonTest, account_records, feed_records, ingest_events, task_records

T0 = "2026-03-02T09:00:00+08:00"

CAL = """
calendar = { hours = ["09:00-12:00", "13:30-18:00"]; holidays = ["2026-03-06"]; };
schedules = (
  { name = "first-call"; },
  { name = "calls"; types = ["call"]; hours = ["14:00-17:30"];
    prefer = ["fri", "thu", "tue"]; avoid = ["mon", "wed"]; defer_days = 2; cash_in = true; }
);
"""

RULES = CAL + """
stages = (
  { name = "current"; release_when = { balance = { max = 0; }; }; },
  { name = "neg"; hold_when = { promise_pending = true; };
    tasks = ( { type = "call"; schedule = "first-call"; },
              { type = "call"; after = "2d"; },
              { type = "email"; after = "3d"; } ); },
  { name = "pressure"; tasks = ( { type = "credit_hold"; }, { type = "letter"; } ); },
  { name = "legal"; tasks = ( { type = "legal_referral"; } ); }
);
rules = (
  { name = "settled"; from = "*"; to = "current"; when = { balance = { max = 0; }; }; },
  { name = "overdue"; from = "current"; to = "neg"; when = { days_overdue = { min = 1; }; }; },
  { name = "long"; from = "neg"; to = "pressure"; when = { days_overdue = { min = 10; }; }; },
  { name = "to-legal"; from = "pressure"; to = "legal"; when = { days_overdue = { min = 20; }; }; }
);
alerts = ( { name = "find-dm"; when = { decision_maker = false; overdue_amount = { min = 1; }; };
             task = { type = "review"; }; } );
"""

OWNER = {"role": "owner", "name": "Mr Zhao", "phone": "+86-10-1"}
OWNER_MAIL = {"role": "owner", "name": "Ms Qian", "email": "qian@example.com"}
ACCOUNTANT = {"role": "accountant", "name": "Mr Sun", "phone": "+86-10-2"}


def account(eid, acct, size="small", contacts=None, **kw):
    e = {"type": "account", "id": eid, "account": acct, "name": "Co " + acct,
         "currency": "CNY", "size": size}
    if contacts is not None:
        e["contacts"] = contacts
    e.update(kw)
    return e


def invoice(eid, acct, inv, amount, due="2026-03-01", issued="2026-02-01"):
    return {"type": "invoice", "id": eid, "account": acct, "invoice": inv,
            "amount": amount, "issued": issued, "due": due}


def tasks_of(recs, acct):
    return [r for r in recs if r.get("kind") == "task" and r["account"] == acct]


class PlaybookTest(DaemonTest):
    def start(self, rules=RULES, clock=T0):
        return self.daemon(rules=rules, clock=clock).start()

    def ingest(self, d, events):
        r, res = ingest_events(d, events)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return res

    def clock(self, d, *args):
        r = d.ctl("clock", *args)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def explain(self, d, acct):
        r, recs = d.ctl_json("explain", acct)
        self.assertEqual(r.returncode, 0, r.stderr)
        return recs[0]


class Windows(PlaybookTest):
    def test_windows_contacts_and_classes(self):
        d = self.start()
        self.ingest(d, [
            # A: a decision-maker with a phone; cash-in day 12.
            account("E-1", "A", contacts=[OWNER], cash_in_day=12),
            invoice("E-2", "A", "I-1", 500000),
            # B: medium, only an accountant on file: no decision-maker.
            account("E-3", "B", "medium", contacts=[ACCOUNTANT]),
            invoice("E-4", "B", "I-2", 700000),
        ])
        recs = feed_records(d)
        a = tasks_of(recs, "A")
        # Step 1 (schedule first-call, P1): the first working time, the
        # calendar's hours, one candidate.
        self.assertEqual(len(a), 1)
        self.assertEqual(a[0]["schedule"], "first-call")
        self.assertEqual(a[0]["window_rank"], "first")
        self.assertEqual(a[0]["not_before"], "2026-03-02T09:00:00+08:00")
        self.assertEqual(a[0]["not_after"], "2026-03-02T18:00:00+08:00")
        self.assertEqual(a[0]["windows"], [
            ["2026-03-02T09:00:00+08:00", "2026-03-02T12:00:00+08:00"],
            ["2026-03-02T13:30:00+08:00", "2026-03-02T18:00:00+08:00"]])
        self.assertEqual(a[0]["contact"], OWNER)
        self.assertNotIn("ask_for", a[0])
        # B: the review alert asks for the decision-maker (P6): the
        # accountant is named, the general manager asked for.
        b = tasks_of(recs, "B")
        self.assertEqual([t["type"] for t in b], ["call", "review"])
        review = b[1]
        self.assertEqual(review["source"], "alert:find-dm")
        self.assertEqual(review["contact"], ACCOUNTANT)
        self.assertEqual(review["ask_for"], "general_manager")
        self.assertNotIn("schedule", review)
        self.assertEqual(review["window_rank"], "first")
        self.assertFalse(self.explain(d, "B")["facts"]["decision_maker"])
        self.assertTrue(self.explain(d, "A")["facts"]["decision_maker"])

        # Step 2 (after 2d) falls due on Wednesday 03-04 09:00: schedule
        # "calls" by type; candidates Wed (avoid), Thu (prefer), and -- the
        # 6th being a holiday and the 7th-8th a weekend -- Mon 03-09
        # (avoid).  A's cash-in day 12 puts Mon 03-09 in the cash-in class
        # (03-12 is three days on): it wins.  B has no cash-in day: Thu.
        self.clock(d, "set", "2026-03-04T09:00:00+08:00")
        recs = feed_records(d)
        a2 = [t for t in tasks_of(recs, "A") if t["source"] == "stage:neg#2"][0]
        self.assertEqual(a2["created"], "2026-03-04T09:00:00+08:00")
        self.assertEqual(a2["schedule"], "calls")
        self.assertEqual(a2["window_rank"], "cash_in")
        self.assertEqual(a2["windows"], [["2026-03-09T14:00:00+08:00",
                                          "2026-03-09T17:30:00+08:00"]])
        self.assertIn("12", a2["window_reason"])
        b2 = [t for t in tasks_of(recs, "B") if t["source"] == "stage:neg#2"][0]
        self.assertEqual(b2["window_rank"], "prefer")
        self.assertEqual((b2["not_before"], b2["not_after"]),
                         ("2026-03-05T14:00:00+08:00", "2026-03-05T17:30:00+08:00"))
        # B's call goes to the accountant (phone), asking for the
        # general manager.
        self.assertEqual(b2["contact"], ACCOUNTANT)
        self.assertEqual(b2["ask_for"], "general_manager")

        # --workable at Wednesday 09:00: step 1's calls and B's review have
        # begun, the step-2 calls have not.
        work = task_records(d, "--open", "--workable")
        self.assertEqual(sorted(t["source"] for t in work),
                         ["alert:find-dm", "stage:neg#1", "stage:neg#1"])
        prios = [t["priority"] for t in work]
        self.assertEqual(prios, sorted(prios, reverse=True))
        # At Monday 03-09 15:00 A's step-2 call has begun too; B's since
        # Thursday.  Ordered by priority, then not_before.
        work = task_records(d, "--open", "--workable", "--at", "2026-03-09T15:00:00+08:00")
        self.assertEqual(len(work), 5)
        keys = [(-t["priority"], t["not_before"]) for t in work]
        self.assertEqual(keys, sorted(keys))
        r = d.ctl("tasks", "--open", "--workable", "--at", "2026-03-09T15:00:00+08:00")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("ask for the general_manager", r.stdout)
        self.assertIn("2026-03-09 14:00", r.stdout)
        r = d.ctl("tasks", "--open", "--workable", "--at", "tomorrow")
        self.assertEqual(r.returncode, 2)
        r = d.ctl("tasks", "--at", T0)
        self.assertEqual(r.returncode, 2)

        # Step 3 (email, after 3d) on Thursday 09:00, no schedule: the
        # calendar's hours.  A's owner has no email... she has only a
        # phone: nobody to write to, ask for the owner.
        self.clock(d, "set", "2026-03-05T09:00:00+08:00")
        a3 = [t for t in tasks_of(feed_records(d), "A") if t["type"] == "email"][0]
        self.assertIsNone(a3["contact"])
        self.assertEqual(a3["ask_for"], "owner")
        self.assertEqual(a3["not_before"], "2026-03-05T09:00:00+08:00")

    def test_email_goes_to_the_decision_maker_with_an_email(self):
        d = self.start()
        self.ingest(d, [account("E-1", "C", contacts=[OWNER, OWNER_MAIL]),
                        invoice("E-2", "C", "I-1", 100)])
        self.clock(d, "set", "2026-03-05T09:00:00+08:00")
        t = tasks_of(feed_records(d), "C")
        self.assertEqual(t[0]["contact"], OWNER)       # the call: a phone
        email = [x for x in t if x["type"] == "email"][0]
        self.assertEqual(email["contact"], OWNER_MAIL)  # the email: an email
        self.assertNotIn("ask_for", email)

    def test_cash_in_day_zero_clears_it(self):
        d = self.start()
        self.ingest(d, [account("E-1", "A", contacts=[OWNER], cash_in_day=12),
                        invoice("E-2", "A", "I-1", 500000),
                        account("E-3", "A", cash_in_day=0)])
        self.clock(d, "set", "2026-03-04T09:00:00+08:00")
        a2 = [t for t in tasks_of(feed_records(d), "A") if t["source"] == "stage:neg#2"][0]
        # Without a cash-in day, Thursday (prefer) beats both Mondays.
        self.assertEqual(a2["window_rank"], "prefer")
        self.assertEqual(a2["not_before"], "2026-03-05T14:00:00+08:00")


HOLD_RULES = """
calendar = { hours = ["09:00-12:00", "13:30-18:00"]; };
schedules = (
  { name = "calls"; types = ["call"]; hours = ["14:00-17:30"];
    prefer = ["fri", "thu", "tue"]; avoid = ["mon", "wed"]; defer_days = 2; }
);
stages = (
  { name = "current"; },
  { name = "neg"; hold_when = { promise_pending = true; };
    tasks = ( { type = "call"; }, { type = "call"; after = "7d"; } ); }
);
rules = (
  { name = "settled"; from = "*"; to = "current"; when = { balance = { max = 0; }; }; },
  { name = "overdue"; from = "current"; to = "neg"; when = { days_overdue = { min = 1; }; }; }
);
"""


class HeldStep(PlaybookTest):
    def test_call_after_a_broken_promise_is_not_deferred(self):
        d = self.start(rules=HOLD_RULES)
        # The account enters neg with a promise pending: held, no call.
        self.ingest(d, [
            account("E-1", "A", contacts=[OWNER]),
            invoice("E-2", "A", "I-1", 1000),
            {"type": "promise", "id": "E-3", "account": "A", "amount": 1000,
             "due": "2026-03-04", "at": T0},
        ])
        self.assertEqual(tasks_of(feed_records(d), "A"), [])
        # Broken at the end of Wednesday 03-04: at Thursday 00:00 the step
        # that fell due while held is emitted with its first slot only --
        # Thursday -- though Friday (preferred) is within defer_days (P4:
        # the announced step happens on the day).
        self.clock(d, "set", "2026-03-05T00:00:00+08:00")
        t = tasks_of(feed_records(d), "A")
        self.assertEqual(len(t), 1)
        self.assertEqual(t[0]["created"], "2026-03-05T00:00:00+08:00")
        self.assertEqual(t[0]["window_rank"], "first")
        self.assertEqual(t[0]["not_before"], "2026-03-05T14:00:00+08:00")
        # Step 2 (after 7d of running clock: Thu 03-12 00:00) is deferred
        # as usual: Thu (prefer 2nd), Fri (prefer 1st), Mon (avoid): Friday.
        self.clock(d, "set", "2026-03-12T00:00:00+08:00")
        t = tasks_of(feed_records(d), "A")
        self.assertEqual(len(t), 2)
        self.assertEqual(t[1]["window_rank"], "prefer")
        self.assertEqual(t[1]["not_before"], "2026-03-13T14:00:00+08:00")


class CreditRelease(PlaybookTest):
    def enter_legal(self, d):
        self.ingest(d, [account("E-1", "D", contacts=[OWNER]),
                        invoice("E-2", "D", "I-1", 100000)])
        # days_overdue 10 on 03-11: pressure (hold, letter); 20 on 03-21:
        # legal -- the letter is cancelled, the hold stays (P10).
        self.clock(d, "set", "2026-03-21T09:00:00+08:00")
        recs = feed_records(d)
        hold = [r for r in recs if r.get("type") == "credit_hold"]
        self.assertEqual(len(hold), 1)
        self.assertIsNone(hold[0]["contact"])
        self.assertNotIn("ask_for", hold[0])
        letter = [r for r in recs if r.get("type") == "letter"][0]
        cancels = {r["task"] for r in recs if r["kind"] == "cancel"}
        self.assertIn(letter["task"], cancels)
        self.assertNotIn(hold[0]["task"], cancels)
        self.assertEqual(self.explain(d, "D")["stage"], "legal")
        self.assertTrue(self.explain(d, "D")["credit_held"])
        self.assertTrue(account_records(d)["D"]["credit_held"])
        return hold[0]

    def pay_and_check_release(self, d, holds, stage="current"):
        head = d.status()["feed_head"]
        self.ingest(d, [{"type": "payment", "id": "E-9", "account": "D",
                         "amount": 100000, "at": "2026-03-21T09:00:00+08:00"}])
        new = feed_records(d, head)
        kinds = [(r["kind"], r.get("type"), r.get("task")) for r in new]
        # transition, the cancel of the legal stage's task, the holds'
        # cancels ("credit released"), then the release (§5 order).
        self.assertEqual(kinds[0][0], "transition")
        rel = [r for r in new if r.get("type") == "credit_release"]
        self.assertEqual(len(rel), 1)
        rel = rel[0]
        hold_cancels = [r for r in new if r["kind"] == "cancel"
                        and r["task"] in {h["task"] for h in holds}]
        self.assertEqual([c["task"] for c in hold_cancels], [h["task"] for h in holds])
        for c in hold_cancels:
            self.assertEqual(c["reason"], "credit released")
        self.assertLess(new.index(hold_cancels[-1]), new.index(rel))
        self.assertEqual(rel["source"], "release:" + stage)
        self.assertEqual(rel["stage"], stage)
        self.assertNotIn("script", rel)
        self.assertIsNone(rel["contact"])
        self.assertNotIn("ask_for", rel)
        self.assertEqual(rel["priority_factors"], holds[0]["priority_factors"])
        self.assertEqual(rel["priority"], sum(holds[0]["priority_factors"].values()))
        self.assertFalse(self.explain(d, "D")["credit_held"])
        # Once released, nothing more: a later evaluation emits no second release.
        self.clock(d, "advance", "2d")
        self.assertEqual(len([r for r in feed_records(d) if r.get("type") == "credit_release"]), 1)

    def test_hold_survives_legal_and_payment_releases_it(self):
        d = self.start()
        hold = self.enter_legal(d)
        self.pay_and_check_release(d, [hold])

    def test_restart_keeps_the_held_credit(self):
        d = self.start()
        hold = self.enter_legal(d)
        self.assertEqual(d.stop(), 0)
        d.clock = None
        d.start(extra=["--test-clock=2026-03-21T09:00:00+08:00"])
        self.assertTrue(self.explain(d, "D")["credit_held"])
        self.pay_and_check_release(d, [hold])

    def test_reload_renaming_the_stage_keeps_the_hold(self):
        d = self.start()
        hold = self.enter_legal(d)
        # Rename legal: the account moves to the first stage by reload (its
        # stage tasks cancelled, the hold kept), then climbs again.
        with open(os.path.join(d.tmp, "rules", "10-rules.conf"), "w") as f:
            f.write(RULES.replace('"legal"', '"litigation"'))
        r = d.ctl("reload")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        recs = feed_records(d)
        self.assertIn("reload", [r.get("rule") for r in recs if r["kind"] == "transition"])
        self.assertNotIn(hold["task"], {r["task"] for r in recs if r["kind"] == "cancel"})
        self.assertTrue(self.explain(d, "D")["credit_held"])
        # In the same evaluation it climbs through neg and pressure to
        # litigation (skipped-through stages emit nothing): still one hold,
        # released by the payment.
        self.assertEqual(self.explain(d, "D")["stage"], "litigation")
        holds = [r for r in recs if r.get("type") == "credit_hold"]
        self.assertEqual(holds, [hold])
        self.pay_and_check_release(d, holds)

    def test_pause_keeps_the_hold(self):
        d = self.start()
        hold = self.enter_legal(d)
        self.ingest(d, [account("E-5", "D", paused=True)])
        open_ = [t["task"] for t in task_records(d, "--open")]
        self.assertEqual(open_, [hold["task"]])
        # Paused: no release, even paid.
        self.ingest(d, [{"type": "payment", "id": "E-6", "account": "D",
                         "amount": 100000, "at": "2026-03-21T09:00:00+08:00"}])
        self.assertEqual([r for r in feed_records(d) if r.get("type") == "credit_release"], [])
        self.assertTrue(self.explain(d, "D")["credit_held"])
        # Unpaused: released at once.
        self.ingest(d, [account("E-7", "D", paused=False)])
        rel = [r for r in feed_records(d) if r.get("type") == "credit_release"]
        self.assertEqual(len(rel), 1)
        self.assertEqual(task_records(d, "--open", "--type", "credit_hold"), [])


if __name__ == "__main__":
    unittest.main()
