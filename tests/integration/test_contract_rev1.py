"""A black-box review of the calendar, schedules, cadence and feed
clauses of the contract (§3 decision_maker, §4.5, §4.9, §5, §7 tasks
--workable), driven only through the real dunnd and dunnctl.

Each test names the clause it checks in a comment.  What the other
suites already cover (test_playbook, test_approval, test_feedx,
test_calendar_rules, test_eval) is not repeated here.

T0 = Monday 2 March 2026, 09:00 in Shanghai (no DST) unless a test says
otherwise.
"""
import datetime
import os
import subprocess
import unittest

from lib import DUNNCTL, DaemonTest, feed_records, ingest_events, task_records

T0 = "2026-03-02T09:00:00+08:00"

OWNER = {"role": "owner", "name": "Mr Zhao", "phone": "+86-10-1"}


def stage_rules(tasks, head="", alerts=""):
    """A two-stage rule set: an account with an overdue invoice enters
    "neg", whose stage tasks are `tasks` (libconfig text)."""
    return head + """
stages = (
  { name = "current"; },
  { name = "neg"; hold_when = { promise_pending = true; }; tasks = ( %s ); }
);
rules = (
  { name = "settled"; from = "*"; to = "current"; when = { balance = { max = 0; }; }; },
  { name = "overdue"; from = "current"; to = "neg"; when = { days_overdue = { min = 1; }; }; }
);
scripts = ( { name = "s"; checklist = [ "do it" ]; } );
%s
""" % (tasks, alerts)


def account(eid, acct, size="small", contacts=None, **kw):
    e = {"type": "account", "id": eid, "account": acct, "name": "Co " + acct,
         "currency": "CNY", "size": size}
    if contacts is not None:
        e["contacts"] = contacts
    e.update(kw)
    return e


def overdue_invoice(eid, acct, at, amount=100000):
    """An invoice whose due date is the day before the local date of at."""
    day = datetime.date.fromisoformat(at[:10])
    return {"type": "invoice", "id": eid, "account": acct, "invoice": "I-" + eid,
            "amount": amount, "issued": str(day - datetime.timedelta(days=30)),
            "due": str(day - datetime.timedelta(days=1))}


def tasks_of(recs, acct=None):
    return [r for r in recs if r.get("kind") == "task" and (acct is None or r["account"] == acct)]


class ContractTest(DaemonTest):
    def start(self, rules, clock=T0, timezone="Asia/Shanghai"):
        self.n = getattr(self, "n", 0) + 1
        return self.daemon("d%d" % self.n, rules=rules, clock=clock, timezone=timezone).start()

    def ingest(self, d, events):
        r, res = ingest_events(d, events)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return res

    def clock(self, d, *args):
        r = d.ctl("clock", *args)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def emit(self, rules, clock=T0, timezone="Asia/Shanghai", **acct_kw):
        """Starts dunnd at clock; an account A with an overdue invoice
        enters "neg" at clock; returns (daemon, A's task records)."""
        d = self.start(rules, clock, timezone)
        contacts = acct_kw.pop("contacts", [OWNER])
        size = acct_kw.pop("size", "small")
        self.ingest(d, [account("E-1", "A", size, contacts, **acct_kw),
                        overdue_invoice("E-2", "A", clock)])
        return d, tasks_of(feed_records(d), "A")

    def window(self, t):
        return (t["window_rank"], t["not_before"], t["not_after"], t["windows"])


CAL = 'calendar = { hours = ["09:00-12:00", "13:30-18:00"]; };\n'


class Windows(ContractTest):
    # §4.9 The window: "with neither calendar nor schedule, the window is
    # E ... E + 24 h and windows is [[E, E + 24 h]]"; rank "none"; §5: no
    # `schedule` member without one.
    def test_neither_calendar_nor_schedule(self):
        at = "2026-03-02T09:17:05+08:00"
        d, t = self.emit(stage_rules('{ type = "call"; }'), clock=at)
        self.assertEqual(len(t), 1)
        end = "2026-03-03T09:17:05+08:00"
        self.assertEqual(self.window(t[0]), ("none", at, end, [[at, end]]))
        self.assertNotIn("schedule", t[0])
        self.assertTrue(t[0]["window_reason"])

    # §4.9 Slots: D's parts are its windows cut to instants >= E, the empty
    # ones left out; not_before = start of the first part, not_after = end
    # of the last; one candidate without a schedule: rank "first".
    def test_parts_are_cut_to_the_emission(self):
        d, t = self.emit(stage_rules('{ type = "call"; }', CAL),
                         clock="2026-03-02T11:40:00+08:00")
        self.assertEqual(self.window(t[0]), (
            "first", "2026-03-02T11:40:00+08:00", "2026-03-02T18:00:00+08:00",
            [["2026-03-02T11:40:00+08:00", "2026-03-02T12:00:00+08:00"],
             ["2026-03-02T13:30:00+08:00", "2026-03-02T18:00:00+08:00"]]))
        # After the morning window: only the afternoon part.
        d, t = self.emit(stage_rules('{ type = "call"; }', CAL),
                         clock="2026-03-02T12:30:00+08:00")
        self.assertEqual(t[0]["windows"], [["2026-03-02T13:30:00+08:00",
                                            "2026-03-02T18:00:00+08:00"]])

    # §4.9 Slots: "a working day D is a slot when its windows hold at least
    # min_window of instants >= E in total (with no schedule: the
    # calendar's hours and 30 minutes)".
    def test_thirty_minutes_make_a_slot_fifteen_do_not(self):
        d, t = self.emit(stage_rules('{ type = "call"; }', CAL),
                         clock="2026-03-02T17:30:00+08:00")
        self.assertEqual(t[0]["windows"], [["2026-03-02T17:30:00+08:00",
                                            "2026-03-02T18:00:00+08:00"]])
        d, t = self.emit(stage_rules('{ type = "call"; }', CAL),
                         clock="2026-03-02T17:45:00+08:00")
        self.assertEqual(self.window(t[0]), (
            "first", "2026-03-03T09:00:00+08:00", "2026-03-03T18:00:00+08:00",
            [["2026-03-03T09:00:00+08:00", "2026-03-03T12:00:00+08:00"],
             ["2026-03-03T13:30:00+08:00", "2026-03-03T18:00:00+08:00"]]))
        # The min_window of a schedule counts instead: 1h needs more than
        # Monday's last 45 minutes.
        head = CAL + 'schedules = ( { name = "c"; types = ["call"]; min_window = "1h"; } );\n'
        d, t = self.emit(stage_rules('{ type = "call"; }', head),
                         clock="2026-03-02T17:15:00+08:00")
        self.assertEqual(t[0]["not_before"], "2026-03-03T09:00:00+08:00")
        self.assertEqual(t[0]["schedule"], "c")

    # §4.9 A task's schedule: "A schedule's hours narrow the calendar's
    # (the intersection of the two lists, window by window)"; `24:00` is
    # allowed as an end.
    def test_schedule_hours_intersect_the_calendars(self):
        head = CAL + ('schedules = ( { name = "c"; types = ["call"]; '
                      'hours = ["11:00-14:00", "17:00-24:00"]; } );\n')
        d, t = self.emit(stage_rules('{ type = "call"; }', head),
                         clock="2026-03-02T08:00:00+08:00")
        self.assertEqual(self.window(t[0]), (
            "first", "2026-03-02T11:00:00+08:00", "2026-03-02T18:00:00+08:00",
            [["2026-03-02T11:00:00+08:00", "2026-03-02T12:00:00+08:00"],
             ["2026-03-02T13:30:00+08:00", "2026-03-02T14:00:00+08:00"],
             ["2026-03-02T17:00:00+08:00", "2026-03-02T18:00:00+08:00"]]))

    # §4.9 "24:00 = the next local midnight"; a window never spans midnight.
    def test_window_ending_at_midnight(self):
        head = 'calendar = { hours = ["20:00-24:00"]; };\n'
        d, t = self.emit(stage_rules('{ type = "call"; }', head),
                         clock="2026-03-02T21:00:00+08:00")
        self.assertEqual(t[0]["windows"], [["2026-03-02T21:00:00+08:00",
                                            "2026-03-03T00:00:00+08:00"]])

    # §4.9 Working days: "a local date is a working day when it is in
    # extra_workdays, or its weekday is in workdays and it is not in
    # holidays"; top-level holidays add to the calendar's.
    def test_holidays_and_extra_workdays(self):
        head = ('calendar = { hours = ["09:00-18:00"]; holidays = ["2026-03-02"]; '
                'extra_workdays = ["2026-03-07"]; };\nholidays = ["2026-03-03"];\n')
        d, t = self.emit(stage_rules('{ type = "call"; }', head))
        # Monday and Tuesday off: Wednesday.
        self.assertEqual(t[0]["not_before"], "2026-03-04T09:00:00+08:00")
        self.assertEqual(t[0]["window_rank"], "first")
        # Saturday 7 March is a make-up working day.
        d, t = self.emit(stage_rules('{ type = "call"; }', head),
                         clock="2026-03-07T10:00:00+08:00")
        self.assertEqual(t[0]["windows"], [["2026-03-07T10:00:00+08:00",
                                            "2026-03-07T18:00:00+08:00"]])
        # Sunday is not: Monday 9 March.
        d, t = self.emit(stage_rules('{ type = "call"; }', head),
                         clock="2026-03-08T10:00:00+08:00")
        self.assertEqual(t[0]["not_before"], "2026-03-09T09:00:00+08:00")

    # §4.9 The window: "Only the local dates from E's to E's + 366 are
    # looked at ... With no slot there ... the window is E ... E + 24 h";
    # rank "none".
    def test_no_slot_within_366_days(self):
        mondays = []
        day = datetime.date(2026, 3, 2)
        while day <= datetime.date(2027, 3, 3):
            mondays.append('"%s"' % day)
            day += datetime.timedelta(days=7)
        head = ('calendar = { workdays = ["mon"]; holidays = [%s]; };\n' % ", ".join(mondays))
        d, t = self.emit(stage_rules('{ type = "call"; }', head))
        end = "2026-03-03T09:00:00+08:00"
        self.assertEqual(self.window(t[0]), ("none", T0, end, [[T0, end]]))
        # One Monday less off (1 March 2027, E's date + 364): that is the slot.
        head = ('calendar = { workdays = ["mon"]; holidays = [%s]; };\n'
                % ", ".join(m for m in mondays if m != '"2027-03-01"'))
        d, t = self.emit(stage_rules('{ type = "call"; }', head))
        self.assertEqual((t[0]["window_rank"], t[0]["not_before"]),
                         ("first", "2027-03-01T09:00:00+08:00"))

    # §4.9 calendar defaults: workdays Monday-Friday, hours
    # ["09:00-18:00"]; lists may be libconfig lists too.
    def test_calendar_defaults_and_lists(self):
        d, t = self.emit(stage_rules('{ type = "call"; }', 'calendar = { };\n'),
                         clock="2026-03-07T10:00:00+08:00")
        self.assertEqual(t[0]["windows"], [["2026-03-09T09:00:00+08:00", "2026-03-09T18:00:00+08:00"]])
        d, t = self.emit(stage_rules('{ type = "call"; }',
                                     'calendar = { workdays = ("sat"); hours = ("10:00-11:00"); };\n'),
                         clock="2026-03-02T10:00:00+08:00")
        self.assertEqual(t[0]["windows"], [["2026-03-07T10:00:00+08:00", "2026-03-07T11:00:00+08:00"]])

    # §4.9 "Only the local dates from E's to E's + 366 are looked at, for
    # every candidate": a first slot near the end leaves one candidate.
    def test_candidates_end_with_the_366_days(self):
        mondays = []
        day = datetime.date(2026, 3, 2)
        while day < datetime.date(2027, 3, 1):
            mondays.append('"%s"' % day)
            day += datetime.timedelta(days=7)
        head = ('calendar = { workdays = ["mon"]; holidays = [%s]; };\n'
                'schedules = ( { name = "c"; types = ["call"]; defer_days = 3; } );\n' % ", ".join(mondays))
        d, t = self.emit(stage_rules('{ type = "call"; }', head))
        self.assertEqual((t[0]["window_rank"], t[0]["not_before"]),
                         ("first", "2027-03-01T09:00:00+08:00"))

    # §4.9 Rank and reason: `neutral` for a weekday in neither list, `avoid`
    # for one in avoid; among candidates the lowest (class, date) wins.
    def test_weekday_classes(self):
        head = CAL + ('schedules = ( { name = "c"; types = ["call"]; prefer = ["thu"]; '
                      'avoid = ["tue"]; defer_days = 3; } );\n')
        d, t = self.emit(stage_rules('{ type = "call"; }', head))
        # Mon (neutral), Tue (avoid), Wed (neutral), Thu (prefer): Thursday.
        self.assertEqual((t[0]["window_rank"], t[0]["not_before"]),
                         ("prefer", "2026-03-05T09:00:00+08:00"))
        head = CAL + ('schedules = ( { name = "c"; types = ["call"]; '
                      'avoid = ["mon"]; defer_days = 2; } );\n')
        d, t = self.emit(stage_rules('{ type = "call"; }', head))
        # Mon (avoid), Tue, Wed (neutral): the earliest neutral one.
        self.assertEqual((t[0]["window_rank"], t[0]["not_before"]),
                         ("neutral", "2026-03-03T09:00:00+08:00"))
        head = CAL + ('schedules = ( { name = "c"; types = ["call"]; '
                      'avoid = ["mon", "tue", "wed"]; defer_days = 2; } );\n')
        d, t = self.emit(stage_rules('{ type = "call"; }', head))
        self.assertEqual((t[0]["window_rank"], t[0]["not_before"]),
                         ("avoid", "2026-03-02T09:00:00+08:00"))
        # defer_days 0: one candidate, "first" whatever its class.
        head = CAL + ('schedules = ( { name = "c"; types = ["call"]; '
                      'avoid = ["mon"]; } );\n')
        d, t = self.emit(stage_rules('{ type = "call"; }', head))
        self.assertEqual((t[0]["window_rank"], t[0]["not_before"]),
                         ("first", "2026-03-02T09:00:00+08:00"))

    # §4.9 cash-in class: "D+1, D+2 or D+3 has day of month min(C, that
    # month's days)"; cash-in class beats weekday class.
    def test_cash_in_day_beyond_the_months_end(self):
        head = CAL + ('schedules = ( { name = "c"; types = ["call"]; prefer = ["thu"]; '
                      'defer_days = 3; cash_in = true; } );\n')
        # E = Thu 23 April 2026; candidates Thu 23 (prefer), Fri 24, Mon 27,
        # Tue 28.  Day 31 in April is the 30th: Mon 27 (28, 29, 30) and Tue
        # 28 are in the cash-in class; Monday is the earlier.
        d, t = self.emit(stage_rules('{ type = "call"; }', head),
                         clock="2026-04-23T09:00:00+08:00", cash_in_day=31)
        self.assertEqual((t[0]["window_rank"], t[0]["not_before"]),
                         ("cash_in", "2026-04-27T09:00:00+08:00"))
        # Without cash_in on the schedule the day is ignored: Thursday.
        d, t = self.emit(stage_rules('{ type = "call"; }', head.replace("cash_in = true", "cash_in = false")),
                         clock="2026-04-23T09:00:00+08:00", cash_in_day=31)
        self.assertEqual((t[0]["window_rank"], t[0]["not_before"]),
                         ("prefer", "2026-04-23T09:00:00+08:00"))

    # §4.9 A task's schedule: "the schedule named by its stage or alert
    # task; else the schedule whose types holds the task's type; else none".
    def test_named_schedule_beats_types(self):
        head = CAL + ('schedules = ( { name = "named"; hours = ["15:00-16:00"]; },\n'
                      '  { name = "bytype"; types = ["call", "visit"]; hours = ["10:00-11:00"]; } );\n')
        d, t = self.emit(stage_rules('{ type = "call"; schedule = "named"; }, { type = "visit"; },'
                                     ' { type = "email"; }', head))
        self.assertEqual([(x["type"], x.get("schedule"), x["not_before"]) for x in t], [
            ("call", "named", "2026-03-02T15:00:00+08:00"),
            ("visit", "bytype", "2026-03-02T10:00:00+08:00"),
            ("email", None, "2026-03-02T09:00:00+08:00")])

    # §4.9 Slots: "A date on which an open task of the account of the same
    # type already has its window ... is no slot" -- any origin, open at the
    # moment of emission; a task no longer open frees its date.
    def test_one_task_of_a_type_per_account_and_day(self):
        head = CAL
        alerts = ('alerts = ( { name = "al"; when = { overdue_amount = { min = 1; }; }; '
                  'task = { type = "call"; }; } );')
        d, t = self.emit(stage_rules('{ type = "call"; }, { type = "email"; },'
                                     ' { type = "call"; after = "1h"; }', head, alerts))
        # Step 1's call Monday; the email is another type: Monday too; the
        # alert's call (same evaluation, after the stage tasks): Tuesday.
        self.assertEqual([(x["source"], x["not_before"][:10]) for x in t], [
            ("stage:neg#1", "2026-03-02"), ("stage:neg#2", "2026-03-02"),
            ("alert:al", "2026-03-03")])
        # The first call is answered; step 3 (10:00) may use Monday again.
        self.clock(d, "set", "2026-03-02T09:30:00+08:00")
        self.ingest(d, [{"type": "outcome", "id": "O-1", "task": t[0]["task"],
                         "result": "reached", "at": "2026-03-02T09:30:00+08:00"}])
        self.clock(d, "set", "2026-03-02T10:00:00+08:00")
        t3 = [x for x in tasks_of(feed_records(d), "A") if x["source"] == "stage:neg#3"]
        self.assertEqual(len(t3), 1)
        self.assertEqual(t3[0]["windows"][0], ["2026-03-02T10:00:00+08:00",
                                               "2026-03-02T12:00:00+08:00"])

    # §4.9 "fixed then (a reload never changes an emitted task)".
    def test_reload_keeps_emitted_windows(self):
        d, t = self.emit(stage_rules('{ type = "call"; }', CAL))
        with open(os.path.join(d.tmp, "rules", "10-rules.conf"), "w") as f:
            f.write(stage_rules('{ type = "call"; }',
                                'calendar = { hours = ["10:00-11:00"]; };\n'))
        r = d.ctl("reload")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        rec = [x for x in task_records(d) if x["task"] == t[0]["task"]][0]
        self.assertEqual(self.window(rec), self.window(t[0]))
        self.assertEqual(rec["status"], "open")


class Dst(ContractTest):
    # §4.9 "each bound at the first instant of that date whose local time
    # is >= it ...; a window whose bounds coincide (a DST gap) is empty".
    RULES = stage_rules('{ type = "call"; }',
                        'calendar = { workdays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];'
                        ' hours = ["02:00-03:30", "09:00-10:00"]; };\n')

    def test_spring_forward(self):
        # Berlin, Sunday 29 March 2026: 02:00 -> 03:00.  The first window
        # runs from 03:00 (the first instant at or after 02:00) to 03:30.
        d, t = self.emit(self.RULES, clock="2026-03-28T12:00:00+01:00", timezone="Europe/Berlin")
        self.assertEqual(t[0]["windows"], [
            ["2026-03-29T03:00:00+02:00", "2026-03-29T03:30:00+02:00"],
            ["2026-03-29T09:00:00+02:00", "2026-03-29T10:00:00+02:00"]])

    def test_spring_forward_empty_window(self):
        rules = self.RULES.replace("02:00-03:30", "02:00-03:00")
        d, t = self.emit(rules, clock="2026-03-28T12:00:00+01:00", timezone="Europe/Berlin")
        self.assertEqual(t[0]["windows"], [
            ["2026-03-29T09:00:00+02:00", "2026-03-29T10:00:00+02:00"]])

    def test_fall_back(self):
        # Sunday 25 October 2026: 03:00 -> 02:00.  02:00-03:00 runs from
        # the first 02:00 (CEST) to 03:00 CET: two hours.
        rules = self.RULES.replace("02:00-03:30", "02:00-03:00")
        d, t = self.emit(rules, clock="2026-10-24T12:00:00+02:00", timezone="Europe/Berlin")
        self.assertEqual(t[0]["windows"][0],
                         ["2026-10-25T02:00:00+02:00", "2026-10-25T03:00:00+01:00"])


    # Santiago moves its clocks at midnight: 6 September 2026 has no
    # 00:00 (00:00 -04 -> 01:00 -03), 4 April 2026 ends twice.  A bound is
    # "the first instant of that date whose local time is >= it"; 24:00 is
    # "the next local midnight" (§1: the first instant of a local date).
    SANTIAGO = stage_rules('{ type = "call"; }',
                           'calendar = { workdays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];'
                           ' hours = ["00:00-01:30", "23:00-24:00"]; };\n')

    def test_day_without_midnight(self):
        d, t = self.emit(self.SANTIAGO, clock="2026-09-05T23:10:00-04:00", timezone="America/Santiago")
        self.assertEqual(t[0]["windows"], [["2026-09-05T23:10:00-04:00", "2026-09-06T01:00:00-03:00"]])
        d, t = self.emit(self.SANTIAGO, clock="2026-09-05T23:40:00-04:00", timezone="America/Santiago")
        self.assertEqual(t[0]["windows"], [
            ["2026-09-06T01:00:00-03:00", "2026-09-06T01:30:00-03:00"],
            ["2026-09-06T23:00:00-03:00", "2026-09-07T00:00:00-03:00"]])

    def test_day_ending_twice(self):
        d, t = self.emit(self.SANTIAGO, clock="2026-04-04T22:00:00-03:00", timezone="America/Santiago")
        self.assertEqual(t[0]["windows"], [["2026-04-04T23:00:00-03:00", "2026-04-05T00:00:00-04:00"]])


class Contacts(ContractTest):
    # §5 contact: "the first listed contact whose role comes earliest in
    # the account size's preference ... For call and sms tasks only
    # contacts with a phone count, for email only those with an email.
    # When contact is null or its role is not in that preference, the task
    # also carries ask_for: the role of the best contact in the preference
    # that the channel rule left out, else the first role of the
    # preference."
    RULES = stage_rules('{ type = "call"; }, { type = "email"; }, { type = "letter"; },'
                        ' { type = "sms"; }')

    def by_type(self, t):
        return {x["type"]: x for x in t}

    def test_medium_preference_order_and_channels(self):
        ACC = {"role": "accountant", "name": "Acc", "phone": "1"}
        GM1 = {"role": "general_manager", "name": "GM1", "email": "gm1@x"}
        GM2 = {"role": "general_manager", "name": "GM2", "phone": "2"}
        CFO = {"role": "cfo", "name": "CFO", "phone": "3", "email": "cfo@x"}
        d, t = self.emit(self.RULES, size="medium", contacts=[ACC, CFO, GM1, GM2])
        t = self.by_type(t)
        self.assertEqual(t["call"]["contact"], GM2)
        self.assertEqual(t["email"]["contact"], GM1)
        self.assertEqual(t["letter"]["contact"], GM1)
        for x in t.values():
            self.assertNotIn("ask_for", x)

    def test_ask_for_the_decision_maker_the_channel_left_out(self):
        ACC = {"role": "accountant", "name": "Acc", "phone": "1"}
        FD = {"role": "finance_director", "name": "FD", "email": "fd@x"}
        CFO = {"role": "cfo", "name": "CFO", "email": "cfo@x"}
        d, t = self.emit(self.RULES, size="medium", contacts=[ACC, FD, CFO])
        t = self.by_type(t)
        # The call and the sms reach the accountant and ask for the cfo
        # (the best decision-maker left out for lack of a phone).
        for ty in ("call", "sms"):
            self.assertEqual(t[ty]["contact"], ACC)
            self.assertEqual(t[ty]["ask_for"], "cfo")
        self.assertEqual(t["email"]["contact"], CFO)
        self.assertNotIn("ask_for", t["email"])

    def test_large_without_contacts_and_outside_the_preference(self):
        d, t = self.emit(self.RULES, size="large", contacts=[])
        for x in t:
            self.assertIsNone(x["contact"])
            self.assertEqual(x["ask_for"], "ap_manager")
        # An owner is no decision-maker of a large company: named, and the
        # ap_manager asked for.
        d, t = self.emit(self.RULES, size="large", contacts=[OWNER])
        t = self.by_type(t)
        self.assertEqual(t["call"]["contact"], OWNER)
        self.assertEqual(t["call"]["ask_for"], "ap_manager")
        # Nobody with an email: contact null, ask_for the first role.
        self.assertIsNone(t["email"]["contact"])
        self.assertEqual(t["email"]["ask_for"], "ap_manager")

    # §3 decision_maker: "the account has a contact whose role is in its
    # size's preference" -- whatever its channels.
    def test_decision_maker_by_size(self):
        FC = {"role": "financial_controller", "name": "FC", "email": "fc@x"}
        d = self.start(self.RULES)
        self.ingest(d, [account("E-1", "L1", "large", [FC]),
                        account("E-2", "L2", "large", [OWNER]),
                        account("E-3", "S1", "small", [FC]),
                        account("E-4", "S2", "small")])
        want = {"L1": True, "L2": False, "S1": False, "S2": False}
        for acct, dm in want.items():
            r, recs = d.ctl_json("explain", acct)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIs(recs[0]["facts"]["decision_maker"], dm, acct)


class Workable(ContractTest):
    # §7 tasks --open --workable [--at TIME]: "only those whose window has
    # begun (not_before <= TIME, default now), by priority, then
    # not_before".
    def test_boundary_default_now_and_order(self):
        head = CAL
        d = self.start(stage_rules('{ type = "call"; }', head), clock="2026-03-02T08:00:00+08:00")
        # Two accounts with different priorities (amount digits).
        self.ingest(d, [account("E-1", "A", contacts=[OWNER]),
                        overdue_invoice("E-2", "A", T0, amount=100),
                        account("E-3", "B", contacts=[OWNER]),
                        overdue_invoice("E-4", "B", T0, amount=10000000)])
        # At 08:00 nothing has begun (windows from 09:00).
        self.assertEqual(task_records(d, "--open", "--workable"), [])
        self.assertEqual(task_records(d, "--open", "--workable", "--at",
                                      "2026-03-02T08:59:59+08:00"), [])
        # not_before <= TIME: at 09:00 exactly both have begun; B first.
        w = task_records(d, "--open", "--workable", "--at", "2026-03-02T09:00:00+08:00")
        self.assertEqual([x["account"] for x in w], ["B", "A"])
        self.assertTrue(all(x["status"] == "open" for x in w))
        # Default now: the clock moved to 09:00.
        self.clock(d, "set", "2026-03-02T09:00:00+08:00")
        self.assertEqual(len(task_records(d, "--open", "--workable")), 2)
        # A done task is not workable.
        self.ingest(d, [{"type": "outcome", "id": "O-1", "task": w[0]["task"],
                         "result": "reached", "at": "2026-03-02T09:00:00+08:00"}])
        self.assertEqual([x["account"] for x in task_records(d, "--open", "--workable")], ["A"])

    # §7 --workable with --type and --account.
    def test_workable_with_filters(self):
        d = self.start(stage_rules('{ type = "call"; }, { type = "email"; }', CAL))
        self.ingest(d, [account("E-1", "A", contacts=[OWNER]), overdue_invoice("E-2", "A", T0),
                        account("E-3", "B", contacts=[OWNER]), overdue_invoice("E-4", "B", T0)])
        w = task_records(d, "--open", "--workable", "--type", "call", "--account", "B")
        self.assertEqual([(x["account"], x["type"]) for x in w], [("B", "call")])
        self.assertEqual(len(task_records(d, "--open", "--workable", "--type", "email")), 2)

    def test_same_priority_by_not_before(self):
        d = self.start(stage_rules('{ type = "call"; }', CAL), clock="2026-03-02T08:00:00+08:00")
        # A's call: Monday; B's: Tuesday (the clock jumps past Monday's
        # hours first); same priority inputs.
        self.ingest(d, [account("E-1", "B", contacts=[OWNER]),
                        overdue_invoice("E-2", "B", T0, amount=5000)])
        self.clock(d, "set", "2026-03-02T17:50:00+08:00")
        self.ingest(d, [account("E-3", "A", contacts=[OWNER]),
                        {"type": "invoice", "id": "E-4", "account": "A", "invoice": "I-4",
                         "amount": 5000, "issued": "2026-01-31", "due": "2026-03-01"}])
        recs = tasks_of(feed_records(d))
        self.assertEqual(recs[0]["priority"], recs[1]["priority"])
        w = task_records(d, "--open", "--workable", "--at", "2026-03-03T12:00:00+08:00")
        self.assertEqual([(x["account"], x["not_before"][:10]) for x in w],
                         [("B", "2026-03-02"), ("A", "2026-03-03")])

    # §7 synopsis `tasks [--open [--workable [--at TIME]]]`: the README's
    # reading is that --workable implies --open (it lists open tasks only).
    def test_workable_alone_is_the_open_queue(self):
        d = self.start(stage_rules('{ type = "call"; }, { type = "email"; }', CAL))
        self.ingest(d, [account("E-1", "A", contacts=[OWNER]), overdue_invoice("E-2", "A", T0)])
        t = tasks_of(feed_records(d))
        self.ingest(d, [{"type": "outcome", "id": "O-1", "task": t[0]["task"],
                         "result": "reached", "at": T0}])
        self.assertEqual([x["task"] for x in task_records(d, "--workable")], [t[1]["task"]])
        self.assertEqual(task_records(d, "--workable"), task_records(d, "--open", "--workable"))



class MoreWindows(ContractTest):
    def show(self, d, acct="A"):
        return [r for r in feed_records(d) if r.get("account") == acct]

    # §4.5 Approval: the approval task's "window by the calendar alone -- no
    # schedule, the first slot, the one-per-day rule kept"; the gated task
    # gets "its window (all its candidates), contact and priority computed
    # at its emission".
    def test_approval_windows(self):
        head = CAL + ('schedules = ( { name = "c"; types = ["call"]; hours = ["14:00-17:00"]; '
                      'prefer = ["fri"]; defer_days = 4; } );\n')
        d, t = self.emit(stage_rules('{ type = "call"; script = "s"; approval = true; },'
                                     ' { type = "call"; approval = true; }, { type = "call"; }', head))
        self.assertEqual([x["type"] for x in t], ["approval", "approval", "call"])
        a1, a2, call = t
        for a in (a1, a2):
            self.assertNotIn("schedule", a)
            self.assertEqual(a["window_rank"], "first")
        self.assertEqual(a1["for"], {"type": "call", "script": "s"})
        self.assertEqual(a2["for"], {"type": "call"})
        # Calendar hours, not the schedule's; the second approval task
        # (same type, same account) goes to Tuesday.
        self.assertEqual(a1["windows"], [["2026-03-02T09:00:00+08:00", "2026-03-02T12:00:00+08:00"],
                                         ["2026-03-02T13:30:00+08:00", "2026-03-02T18:00:00+08:00"]])
        self.assertEqual(a2["not_before"], "2026-03-03T09:00:00+08:00")
        # Step 3 (not gated) takes Friday, preferred.
        self.assertEqual((call["schedule"], call["window_rank"], call["not_before"]),
                         ("c", "prefer", "2026-03-06T14:00:00+08:00"))
        # Approved: the gated call is chosen among its candidates at its
        # emission -- Friday is taken by step 3's open call, so Monday to
        # Thursday and Monday 9th are the five, none preferred: Monday.
        self.ingest(d, [{"type": "outcome", "id": "O-1", "task": a1["task"],
                         "result": "approved", "at": T0}])
        g = [x for x in self.show(d) if x.get("approval") == a1["task"]]
        self.assertEqual(len(g), 1)
        self.assertEqual((g[0]["schedule"], g[0]["window_rank"], g[0]["windows"], g[0]["contact"]),
                         ("c", "neutral", [["2026-03-02T14:00:00+08:00", "2026-03-02T17:00:00+08:00"]],
                          OWNER))

    # §4.5 Approval: the gated task is emitted "with the stage tasks, in
    # step order" -- here beside a step that fell due while held, both in
    # the evaluation of the batch that approves and ends the hold.
    def test_gated_task_in_step_order(self):
        rules = stage_rules('{ type = "legal_referral"; approval = true; },'
                            ' { type = "letter"; after = "1d"; }').replace(
            'hold_when = { promise_pending = true; };',
            'hold_when = { days_in_stage = { min = 1; }; tags = { none = ["go"]; }; };')
        d, t = self.emit(rules)
        appr = t[0]
        self.assertEqual(appr["type"], "approval")
        # At entry + 1d the letter falls due, at the evaluation that finds
        # the account held: not emitted.
        self.clock(d, "set", "2026-03-03T10:00:00+08:00")
        self.assertEqual(len(tasks_of(feed_records(d))), 1)
        head = d.status()["feed_head"]
        # One batch: the approval, and the tag that ends the hold.
        self.ingest(d, [{"type": "outcome", "id": "O-1", "task": appr["task"], "result": "approved",
                         "at": "2026-03-03T10:00:00+08:00"},
                        account("E-3", "A", tags=["go"])])
        new = feed_records(d, head)
        self.assertEqual([(r["kind"], r.get("type"), r.get("source")) for r in new], [
            ("done", None, None),
            ("task", "legal_referral", "stage:neg#1"),
            ("task", "letter", "stage:neg#2")])
        self.assertEqual(new[1]["approval"], appr["task"])
        self.assertEqual(new[2]["created"], "2026-03-03T10:00:00+08:00")

    # §4.9 Slots: "without supersede, unanswered tasks of a repeating step
    # push the next ones to later dates"; with it (§4.5) the cancel comes
    # just before the new task, so the day is free again.
    def test_supersede_and_the_one_per_day_rule(self):
        d, t = self.emit(stage_rules('{ type = "call"; every = "1h"; max = 3; supersede = true; }', CAL))
        self.clock(d, "set", "2026-03-02T11:00:00+08:00")
        recs = self.show(d)
        self.assertEqual([(r["kind"], r.get("source"), (r.get("not_before") or "")[:10]) for r in recs[1:]], [
            ("task", "stage:neg#1/1", "2026-03-02"),
            ("cancel", None, ""),
            ("task", "stage:neg#1/2", "2026-03-02"),
            ("cancel", None, ""),
            ("task", "stage:neg#1/3", "2026-03-02")])
        self.assertEqual(recs[2]["reason"], "superseded by " + recs[3]["task"])
        self.assertEqual(recs[3]["not_before"], "2026-03-02T10:00:00+08:00")
        d, t = self.emit(stage_rules('{ type = "call"; every = "1h"; max = 3; }', CAL))
        self.clock(d, "set", "2026-03-02T11:00:00+08:00")
        self.assertEqual([r["not_before"][:10] for r in tasks_of(self.show(d))],
                         ["2026-03-02", "2026-03-03", "2026-03-04"])

    # §4.1 "Without calendar every moment is working time": a schedule
    # alone (a warning) narrows every day to its hours.
    def test_schedule_without_calendar(self):
        head = ('schedules = ( { name = "c"; types = ["call"]; hours = ["14:00-17:30"]; '
                'prefer = ["sun"]; defer_days = 2; } );\n')
        d, t = self.emit(stage_rules('{ type = "call"; }, { type = "email"; }', head),
                         clock="2026-03-07T09:00:00+08:00")
        call, email = t
        # Saturday (neutral), Sunday (preferred), Monday: Sunday.
        self.assertEqual((call["window_rank"], call["windows"]),
                         ("prefer", [["2026-03-08T14:00:00+08:00", "2026-03-08T17:30:00+08:00"]]))
        # The email has neither calendar nor schedule: E ... E + 24 h.
        self.assertEqual((email["window_rank"], email["windows"]),
                         ("none", [["2026-03-07T09:00:00+08:00", "2026-03-08T09:00:00+08:00"]]))

    # §4.5 Credit release / §4.9: a credit_release task takes the schedule
    # whose types hold it ("credit_release may appear in a schedule's
    # types"), with its candidates; the hold it cancels is no longer open.
    def test_credit_release_window(self):
        head = CAL + ('schedules = ( { name = "r"; types = ["credit_release", "credit_hold"]; '
                      'hours = ["15:00-16:00"]; prefer = ["wed"]; defer_days = 3; } );\n')
        rules = head + """stages = ( { name = "current"; release_when = { balance = { max = 0; }; }; },
  { name = "neg"; tasks = ( { type = "credit_hold"; } ); } );
rules = ( { name = "settled"; from = "*"; to = "current"; when = { balance = { max = 0; }; }; },
  { name = "overdue"; from = "current"; to = "neg"; when = { days_overdue = { min = 1; }; }; } );
"""
        d, t = self.emit(rules)
        self.assertEqual((t[0]["type"], t[0]["schedule"], t[0]["window_rank"], t[0]["not_before"]),
                         ("credit_hold", "r", "prefer", "2026-03-04T15:00:00+08:00"))
        self.ingest(d, [{"type": "payment", "id": "P-1", "account": "A", "amount": 100000, "at": T0}])
        recs = self.show(d)
        rel = recs[-1]
        self.assertEqual(recs[-2], dict(recs[-2], kind="cancel", task=t[0]["task"], reason="credit released"))
        self.assertEqual((rel["type"], rel["source"], rel["schedule"], rel["window_rank"], rel["not_before"]),
                         ("credit_release", "release:current", "r", "prefer", "2026-03-04T15:00:00+08:00"))



DIAG_STAGES = """stages = (
  { name = "current"; release_when = { balance = { max = 0; }; }; },
  { name = "neg"; tasks = ( { type = "call"; }, { type = "visit"; } ); }
);
rules = (
  { name = "settled"; from = "*"; to = "current"; when = { balance = { max = 0; }; }; },
  { name = "overdue"; from = "current"; to = "neg"; when = { days_overdue = { min = 1; }; }; }
);
"""


def sched(body):
    return CAL + "\nschedules = ( { name = \"c\"; " + body + " } );\n"


class Diagnostics(DaemonTest):
    """§4.9 Errors and warnings, as check-rules reports them (§4.8:
    FILE:LINE: message, warnings as FILE:LINE: warning: message; errors
    exit 1, warnings alone 0).  Each case: files, then the expected
    (file, line, is_warning) of every diagnostic, in order."""

    CASES = [
        # an unknown key in calendar or a schedule
        ("calendar unknown key", {"10.conf": 'calendar = { colour = "x"; };\n'}, [("10.conf", 1, False)]),
        ("schedule unknown key", {"10.conf": sched('types = ["call"]; colour = 1;')}, [("10.conf", 3, False)]),
        # a bad weekday, date or window
        ("bad weekday", {"10.conf": 'calendar = { workdays = ["Mon"]; };\n'}, [("10.conf", 1, False)]),
        ("bad date", {"10.conf": 'calendar = {\n holidays = ["2026-02-29"]; };\n'}, [("10.conf", 2, False)]),
        ("bad window form", {"10.conf": 'calendar = { hours = ["9:00-12:00"]; };\n'}, [("10.conf", 1, False)]),
        ("window start = end", {"10.conf": 'calendar = { hours = ["12:00-12:00"]; };\n'}, [("10.conf", 1, False)]),
        ("window past 24:00", {"10.conf": 'calendar = { hours = ["12:00-24:01"]; };\n'}, [("10.conf", 1, False)]),
        ("windows overlap", {"10.conf": 'calendar = { hours = ["09:00-12:00", "11:00-13:00"]; };\n'}, [("10.conf", 1, False)]),
        ("windows descending", {"10.conf": 'calendar = { hours = ["13:00-14:00", "09:00-12:00"]; };\n'}, [("10.conf", 1, False)]),
        ("windows touching", {"10.conf": 'calendar = { hours = ["09:00-12:00", "12:00-24:00"]; };\n'}, []),
        ("bare string", {"10.conf": 'calendar = { workdays = "mon"; };\n'}, [("10.conf", 1, False)]),
        # an empty workdays, types, prefer or avoid
        ("empty workdays", {"10.conf": 'calendar = { workdays = []; };\n'}, [("10.conf", 1, False)]),
        ("empty types", {"10.conf": sched('types = [];')}, [("10.conf", 3, False)]),
        ("empty prefer", {"10.conf": sched('types = ["call"]; prefer = [];')}, [("10.conf", 3, False)]),
        ("empty avoid", {"10.conf": sched('types = ["call"]; avoid = ();')}, [("10.conf", 3, False)]),
        # a date in both holidays and extra_workdays (at the later one)
        ("holiday and extra workday", {"10.conf": CAL + 'holidays = ["2026-03-04"];\n',
                                       "20.conf": '\nextra_workdays = ["2026-03-04"];\n'},
         [("20.conf", 2, False)]),
        # a weekday in both prefer and avoid; a repeated weekday or date
        ("prefer and avoid", {"10.conf": sched('types = ["call"]; prefer = ["mon"]; avoid = ["mon"];')},
         [("10.conf", 3, False)]),
        ("repeated weekday", {"10.conf": 'calendar = { workdays = ["mon", "tue", "mon"]; };\n'}, [("10.conf", 1, False)]),
        ("repeated date across files", {"10.conf": CAL + 'holidays = ["2026-03-03"];\n',
                                        "20.conf": '\n\nholidays = ["2026-03-04",\n "2026-03-03"];\n'},
         [("20.conf", 4, False)]),
        ("repeated type is harmless", {"10.conf": sched('types = ["call", "call"];')}, []),
        # an unknown task type in types; a type in two schedules (the later)
        ("unknown type", {"10.conf": sched('types = ["fax"];')}, [("10.conf", 3, False)]),
        ("type in two schedules", {"10.conf": CAL + 'schedules = ( { name = "c"; types = ["call"]; },\n'
                                              '  { name = "d"; types = ["visit", "call"]; } );\n'},
         [("10.conf", 3, False)]),
        # a schedule whose hours share no instant with the calendar's
        ("no shared instant", {"10.conf": sched('types = ["call"]; hours = ["12:00-13:30"];')},
         [("10.conf", 3, False)]),
        ("touching is no shared instant", {"10.conf": sched('types = ["call"]; hours = ["18:00-19:00"];')},
         [("10.conf", 3, False)]),
        # min_window: > 0, not longer than the daily total -- the default included
        ("min_window equal to the day", {"10.conf": sched('types = ["call"]; min_window = "450m";')}, []),
        ("min_window longer", {"10.conf": sched('types = ["call"]; min_window = "451m";')}, [("10.conf", 3, False)]),
        ("default min_window longer", {"10.conf": sched('types = ["call"]; hours = ["11:50-12:10"];')},
         [("10.conf", 3, False)]),
        ("defer_days 32", {"10.conf": sched('types = ["call"]; defer_days = 32;')}, [("10.conf", 3, False)]),
        # holidays / extra_workdays without calendar
        ("holidays without calendar", {"10.conf": 'holidays = ["2026-03-03"];\n'}, [("10.conf", 1, False)]),
        # warnings
        ("extra workday on a workday", {"10.conf": 'calendar = { extra_workdays = ["2026-03-02"]; };\n'},
         [("10.conf", 1, True)]),
        ("holiday off the workdays", {"10.conf": CAL, "20.conf": '\nholidays = ["2026-03-02",\n "2026-03-07"];\n'},
         [("20.conf", 3, True)]),
        ("unused schedule", {"10.conf": sched('types = ["sms"];')}, [("10.conf", 3, True)]),
        ("unused schedule without types", {"10.conf": sched('')}, [("10.conf", 3, True)]),
        ("prefer off the workdays", {"10.conf": sched('types = ["call"]; prefer = ["sat"];')}, [("10.conf", 3, True)]),
        ("avoid off the workdays", {"10.conf": sched('types = ["call"]; avoid = ["sun"];')}, [("10.conf", 3, True)]),
        ("schedules without calendar", {"10.conf": '\nschedules = ( { name = "c"; types = ["call"]; } );\n'},
         [("10.conf", 2, True)]),
    ]

    def check(self, name, files, want, stages=DIAG_STAGES):
        rules = os.path.join(self.tmp, name.replace(" ", "_"))
        os.makedirs(rules)
        files = dict(files)
        files["50-stages.conf"] = stages
        for fn, text in files.items():
            with open(os.path.join(rules, fn), "w") as f:
                f.write(text)
        r = subprocess.run([DUNNCTL, "check-rules", rules], capture_output=True, text=True, timeout=60)
        out = [l for l in (r.stdout + r.stderr).splitlines() if not l.startswith("rules ")]
        got = []
        for l in out:
            fn, line, rest = l.split(":", 2)
            got.append((fn, int(line), rest.startswith(" warning: ")))
        self.assertEqual(got, want, "%s:\n%s" % (name, "\n".join(out)))
        errors = any(not w for _, _, w in want)
        self.assertEqual(r.returncode, 1 if errors else 0, name)

    def test_calendar_and_schedule_diagnostics(self):
        for name, files, want in self.CASES:
            with self.subTest(name):
                self.check(name, files, want)

    # §4.9 task-type errors and warnings.
    def test_task_type_diagnostics(self):
        stage = DIAG_STAGES
        no_release = stage.replace('release_when = { balance = { max = 0; }; };', '')
        cases = [
            ("credit_hold in a stage with release_when",
             stage.replace('name = "neg";', 'name = "neg"; release_when = { balance = { max = 0; }; };')
                  .replace('{ type = "call"; }', '{ type = "credit_hold"; }'), 3, False),
            ("approval in a stage", stage.replace('{ type = "call"; }', '{ type = "approval"; }'), 3, False),
            ("credit_release in a stage", stage.replace('{ type = "call"; }', '{ type = "credit_release"; }'), 3, False),
            ("credit_hold in an alert", stage + '\nalerts = ( { name = "a"; when = { };\n'
             '  task = { type = "credit_hold"; }; } );\n', 11, False),
            ("approval in an alert", stage + '\nalerts = ( { name = "a"; when = { };\n'
             '  task = { type = "approval"; }; } );\n', 11, False),
            ("credit_hold while no stage has release_when",
             no_release.replace('{ type = "call"; }', '{ type = "credit_hold"; }'), 3, True),
        ]
        for name, text, line, warning in cases:
            with self.subTest(name):
                self.check(name, {"10.conf": CAL}, [("50-stages.conf", line, warning)], stages=text)
        # A task naming a schedule whose given types lack its type (at the
        # task); credit_release in a schedule's types counts as used only
        # where a stage has release_when.
        self.check("schedule for other types",
                   {"10.conf": sched('types = ["visit"];')},
                   [("50-stages.conf", 3, True)],
                   stages=stage.replace('{ type = "call"; }', '{ type = "call"; schedule = "c"; }'))
        self.check("credit_release schedule, release_when", {"10.conf": sched('types = ["credit_release"];')}, [])
        self.check("credit_release schedule, no release_when",
                   {"10.conf": sched('types = ["credit_release"];')}, [("10.conf", 3, True)], stages=no_release)



class CatchUp(ContractTest):
    # §4.9 Catch-up: "under the wall clock, a task emitted by the catch-up
    # before READY=1 whose window would end before the catch-up's end gets
    # its window chosen as if emitted at that end; its created stays."
    def test_missed_step_gets_a_window_after_the_catch_up(self):
        tz = datetime.timezone(datetime.timedelta(hours=8))
        past = (datetime.datetime.now(tz) - datetime.timedelta(days=3)).replace(
            hour=9, minute=0, second=0, microsecond=0)
        d = self.start(stage_rules('{ type = "call"; }, { type = "email"; after = "1d"; }'),
                       clock=past.isoformat())
        self.ingest(d, [account("E-1", "A", contacts=[OWNER]),
                        overdue_invoice("E-2", "A", past.isoformat())])
        self.assertEqual(d.stop(), 0)
        d.clock = None
        before = datetime.datetime.now(tz).replace(microsecond=0)
        d.start()
        after = datetime.datetime.now(tz)
        t = tasks_of(feed_records(d), "A")
        self.assertEqual([x["source"] for x in t], ["stage:neg#1", "stage:neg#2"])
        # Step 1 was emitted under the test clock: its window stands.
        self.assertEqual(t[0]["not_before"], past.isoformat())
        email = t[1]
        self.assertEqual(email["created"], (past + datetime.timedelta(days=1)).isoformat())
        nb = datetime.datetime.fromisoformat(email["not_before"])
        na = datetime.datetime.fromisoformat(email["not_after"])
        self.assertTrue(before <= nb <= after, (before, nb, after))
        self.assertEqual(na - nb, datetime.timedelta(hours=24))
        self.assertEqual(email["windows"], [[email["not_before"], email["not_after"]]])
        self.assertEqual(email["window_rank"], "none")



CREDIT_RULES = """
stages = (
  { name = "current"; release_when = { balance = { max = 0; }; }; },
  { name = "neg"; tasks = ( { type = "call"; } ); },
  { name = "pressure"; tasks = ( { type = "credit_hold"; }, { type = "letter"; } ); },
  { name = "legal"; hold_when = { tags = { any = ["release"]; }; };
    release_when = { tags = { any = ["release"]; }; };
    tasks = ( { type = "legal_referral"; }, { type = "visit"; after = "2d"; } ); }
);
rules = (
  { name = "settled"; from = "*"; to = "current"; when = { balance = { max = 0; }; }; },
  { name = "overdue"; from = "current"; to = "neg"; when = { days_overdue = { min = 1; }; }; },
  { name = "press"; from = "neg"; to = "pressure"; when = { tags = { any = ["p"]; }; }; },
  { name = "ease"; from = "pressure"; to = "neg"; when = { tags = { none = ["p"]; }; }; },
  { name = "sue"; from = "pressure"; to = "legal"; when = { tags = { any = ["l"]; }; }; }
);
"""


class Credit(ContractTest):
    def tag(self, d, eid, *tags):
        self.ingest(d, [account(eid, "A", tags=list(tags))])

    def recs(self, d, head):
        return [(r["kind"], r.get("type"), r.get("reason")) for r in feed_records(d, head)]

    # §4.4 "Only the final stage's cadence starts; skipped-through stages
    # emit nothing": climbing through pressure begins no hold.
    def test_skipped_through_hold_stage_holds_nothing(self):
        d, t = self.emit(CREDIT_RULES)
        self.tag(d, "E-3", "p", "l")
        self.assertEqual([x["type"] for x in tasks_of(feed_records(d))], ["call", "legal_referral"])
        self.assertFalse(d.ctl_json("explain", "A")[1][0]["credit_held"])

    # §4.5 Credit release: "After the transitions of an evaluation ..., an
    # account that is not paused, whose credit is held and whose stage has
    # a release_when that holds gets one credit_release task, before the
    # stage's tasks ... The release is not subject to hold_when".  §5
    # order: transition, cancels of the stage left, cancels of the holds,
    # the release, the new stage tasks (none here: legal is held).
    def test_release_on_entry_to_a_held_stage(self):
        d, t = self.emit(CREDIT_RULES)
        self.tag(d, "E-3", "p")
        hold, letter = [x for x in tasks_of(feed_records(d)) if x["stage"] == "pressure"]
        head = d.status()["feed_head"]
        self.tag(d, "E-4", "p", "l", "release")
        new = feed_records(d, head)
        self.assertEqual([(r["kind"], r.get("task") if r["kind"] == "cancel" else r.get("type"))
                          for r in new],
                         [("transition", None), ("cancel", letter["task"]),
                          ("cancel", hold["task"]), ("task", "credit_release")])
        self.assertEqual((new[-1]["source"], new[-1]["stage"]), ("release:legal", "legal"))

    # §4.5 the release with no transition ("none included"), in a stage
    # whose hold_when holds.
    def test_release_in_the_stage_it_is_held_in(self):
        d, t = self.emit(CREDIT_RULES)
        self.tag(d, "E-3", "p")
        hold = [x for x in tasks_of(feed_records(d)) if x["type"] == "credit_hold"][0]
        self.clock(d, "advance", "1d")
        self.tag(d, "E-4", "p", "l")
        self.assertEqual(d.ctl_json("explain", "A")[1][0]["stage"], "legal")
        head = d.status()["feed_head"]
        # "release" makes legal's release_when and hold_when hold: no
        # transition, the release all the same; the hold cancelled first.
        self.tag(d, "E-5", "p", "l", "release")
        new = feed_records(d, head)
        self.assertEqual([(r["kind"], r.get("type") or r.get("task")) for r in new],
                         [("cancel", hold["task"]), ("task", "credit_release")])
        self.assertEqual(new[0]["reason"], "credit released")
        rel = new[1]
        self.assertEqual((rel["source"], rel["stage"]), ("release:legal", "legal"))
        self.assertIsNone(rel["contact"])
        self.assertEqual(rel["priority_factors"], hold["priority_factors"])
        self.assertFalse(d.ctl_json("explain", "A")[1][0]["credit_held"])
        # Released once: later evaluations add nothing, though release_when
        # still holds.
        head = d.status()["feed_head"]
        self.clock(d, "advance", "3d")
        self.assertEqual([r for r in feed_records(d, head) if r.get("type") == "credit_release"], [])

    # §4.5 "a credit_release task is not cancelled by them either"
    # (leaving its stage, a reload's move, a pause).
    def test_release_task_survives_pause_and_leaving(self):
        d, t = self.emit(CREDIT_RULES)
        self.tag(d, "E-3", "p")
        self.tag(d, "E-4", "p", "l", "release")
        rel = [x for x in tasks_of(feed_records(d)) if x["type"] == "credit_release"]
        self.assertEqual(len(rel), 1)
        self.tag(d, "E-5", "p", "l")                       # still legal
        self.ingest(d, [account("E-6", "A", paused=True)])
        self.ingest(d, [account("E-7", "A", paused=False)])
        self.ingest(d, [{"type": "payment", "id": "P-1", "account": "A", "amount": 100000, "at": T0}])
        self.assertEqual(d.ctl_json("explain", "A")[1][0]["stage"], "current")
        with open(os.path.join(d.tmp, "rules", "10-rules.conf"), "w") as f:
            f.write(CREDIT_RULES.replace('"current"', '"start"'))
        r = d.ctl("reload")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        cancelled = {x["task"] for x in feed_records(d) if x["kind"] == "cancel"}
        self.assertNotIn(rel[0]["task"], cancelled)
        self.assertEqual([x["status"] for x in task_records(d) if x["task"] == rel[0]["task"]], ["open"])

    # §4.5 "A credit_hold task ... stays open until an outcome": an outcome
    # closes it, the credit stays held until the release, which then has no
    # hold to cancel; "its priority_factors are those of the credit_hold
    # task that began the hold" -- a second hold while held begins nothing.
    def test_hold_closed_by_an_outcome_and_a_second_hold(self):
        d, t = self.emit(CREDIT_RULES)
        self.tag(d, "E-3", "p")
        first = [x for x in tasks_of(feed_records(d)) if x["type"] == "credit_hold"][0]
        self.ingest(d, [{"type": "outcome", "id": "O-1", "task": first["task"],
                         "result": "done", "at": T0}])
        self.assertTrue(d.ctl_json("explain", "A")[1][0]["credit_held"])
        # Ten days later: back to neg and up again -- a second hold, with
        # other factors (age).
        self.clock(d, "advance", "10d")
        self.tag(d, "E-4")
        self.tag(d, "E-5", "p")
        holds = [x for x in tasks_of(feed_records(d)) if x["type"] == "credit_hold"]
        self.assertEqual(len(holds), 2)
        self.assertNotEqual(holds[1]["priority_factors"], first["priority_factors"])
        head = d.status()["feed_head"]
        self.ingest(d, [{"type": "payment", "id": "P-1", "account": "A", "amount": 100000,
                         "at": "2026-03-12T09:00:00+08:00"}])
        new = feed_records(d, head)
        kinds = [(r["kind"], r.get("task") if r["kind"] == "cancel" else r.get("type")) for r in new]
        # transition; the letter (stage left); the open hold (not the
        # closed one); the release.
        letter = [x for x in tasks_of(feed_records(d)) if x["type"] == "letter"][-1]
        self.assertEqual(kinds, [("transition", None), ("cancel", letter["task"]),
                                 ("cancel", holds[1]["task"]), ("task", "credit_release")])
        self.assertEqual(new[-1]["priority_factors"], first["priority_factors"])
        self.assertEqual(new[-1]["source"], "release:current")



class Cadence(ContractTest):
    # §4.5 "max caps the tasks a step yields per stage entry (the first
    # included) ... with every and no max it repeats until the stage is
    # left"; §5 source "stage:NAME#K" with "/N" for the task n of a step
    # that has every; "Each stage entry starts the cadence clock at 0".
    def test_max_per_entry_and_repeat_until_left(self):
        rules = stage_rules('{ type = "call"; every = "1d"; max = 2; },'
                            ' { type = "email"; after = "1d"; every = "2d"; }')
        d, t = self.emit(rules)
        self.clock(d, "advance", "6d")
        t = tasks_of(feed_records(d), "A")
        self.assertEqual([x["source"] for x in t if x["type"] == "call"],
                         ["stage:neg#1/1", "stage:neg#1/2"])
        # The email at 1d, 3d, 5d: created at entry + 1d + n x 2d.
        self.assertEqual([(x["source"], x["created"]) for x in t if x["type"] == "email"], [
            ("stage:neg#2/1", "2026-03-03T09:00:00+08:00"),
            ("stage:neg#2/2", "2026-03-05T09:00:00+08:00"),
            ("stage:neg#2/3", "2026-03-07T09:00:00+08:00")])
        # Paid: the stage is left, its open tasks cancelled; a new invoice
        # overdue brings it back: a new entry, the counts start again.
        open_ = sorted(x["task"] for x in task_records(d, "--open"))
        self.assertEqual(len(open_), len(t))
        head = d.status()["feed_head"]
        self.ingest(d, [{"type": "payment", "id": "P-1", "account": "A", "amount": 100000,
                         "at": "2026-03-08T09:00:00+08:00"}])
        new = feed_records(d, head)
        self.assertEqual(new[0]["kind"], "transition")
        self.assertEqual([r["kind"] for r in new[1:]], ["cancel"] * len(open_))
        self.assertEqual(sorted(r["task"] for r in new[1:]), open_)
        self.assertEqual(task_records(d, "--open"), [])
        head = d.status()["feed_head"]
        self.ingest(d, [overdue_invoice("E-9", "A", "2026-03-08T09:00:00+08:00")])
        t2 = tasks_of(feed_records(d, head), "A")
        self.assertEqual([x["source"] for x in t2], ["stage:neg#1/1"])

    # §4.3 "Records produced then carry that moment as at/created (a
    # task's window, §4.9, is chosen from it), even when the test clock
    # jumps past it".
    def test_window_chosen_at_the_due_moment_across_a_jump(self):
        d, t = self.emit(stage_rules('{ type = "call"; }, { type = "email"; after = "1d"; }', CAL))
        self.clock(d, "set", "2026-03-07T12:00:00+08:00")
        email = [x for x in tasks_of(feed_records(d), "A") if x["type"] == "email"][0]
        self.assertEqual((email["created"], email["not_before"], email["window_rank"]),
                         ("2026-03-03T09:00:00+08:00", "2026-03-03T09:00:00+08:00", "first"))

    # §4.9 "with neither calendar nor schedule, the window is E ... E +
    # 24 h" -- read as whatever other tasks are open (README reading 106).
    def test_no_calendar_ignores_the_one_per_day_rule(self):
        d, t = self.emit(stage_rules('{ type = "call"; }, { type = "call"; }'))
        end = "2026-03-03T09:00:00+08:00"
        self.assertEqual([(x["window_rank"], x["windows"]) for x in t], [("none", [[T0, end]])] * 2)

    # §4.9 The window: "a stage task that was due at an evaluation that
    # found the account ... paused (emitted when that ended, §4.5; P4) has
    # only the first slot": an account created paused enters the first
    # stage, whose after-0d step is due at once.
    def test_step_due_while_paused_gets_the_first_slot(self):
        head = CAL + ('schedules = ( { name = "c"; types = ["call"]; prefer = ["fri"]; '
                      'defer_days = 4; } );\n')
        rules = head + """stages = ( { name = "first"; tasks = ( { type = "call"; } ); } );
rules = ( );
"""
        d = self.start(rules)
        self.ingest(d, [account("E-1", "A", contacts=[OWNER], paused=True),
                        account("E-2", "B", contacts=[OWNER])])
        t = tasks_of(feed_records(d))
        # B, not paused: Friday preferred among five candidates.
        self.assertEqual([(x["account"], x["window_rank"], x["not_before"][:10]) for x in t],
                         [("B", "prefer", "2026-03-06")])
        self.clock(d, "set", "2026-03-03T09:00:00+08:00")
        self.ingest(d, [account("E-3", "A", paused=False)])
        t = tasks_of(feed_records(d), "A")
        self.assertEqual([(x["window_rank"], x["not_before"]) for x in t],
                         [("first", "2026-03-03T09:00:00+08:00")])

    # §4.4 step 2 / §4.5 Pausing "cancels the account's open stage and
    # alert tasks (credit_hold tasks excepted)" with the reason "account
    # paused".
    def test_pause_cancels_stage_and_alert_tasks(self):
        alerts = ('alerts = ( { name = "al"; when = { overdue_amount = { min = 1; }; }; '
                  'task = { type = "review"; }; } );')
        d, t = self.emit(stage_rules('{ type = "call"; }', "", alerts))
        self.assertEqual([x["source"] for x in t], ["stage:neg#1", "alert:al"])
        head = d.status()["feed_head"]
        self.ingest(d, [account("E-3", "A", paused=True)])
        new = feed_records(d, head)
        self.assertEqual([(r["kind"], r["task"], r["reason"]) for r in new],
                         [("cancel", x["task"], "account paused") for x in t])

    # §5 "A task keeps the contact chosen at its emission."
    def test_contact_kept_after_the_contacts_change(self):
        d, t = self.emit(stage_rules('{ type = "call"; }'))
        other = {"role": "president", "name": "Ms Li", "phone": "9"}
        self.ingest(d, [account("E-3", "A", contacts=[other])])
        rec = task_records(d, "--account", "A")
        self.assertEqual(rec[0]["contact"], OWNER)
        self.assertEqual(feed_records(d)[1]["contact"], OWNER)


if __name__ == "__main__":
    unittest.main()
