"""Event ingest semantics, black box (interfaces.md §2, §3, §3.1, §7).

Every expected value below is computed by hand from the contract; the
computation and the clause it rests on sit next to each assertion.

Unless a test says otherwise the daemon runs with --test-clock
2026-03-02T09:00:00+08:00 in Asia/Shanghai, so now = that instant and
today = 2026-03-02 (§1).  Under the test clock the `at` limit is now
exactly (§2.2 step 9).

Observables: `dunnctl --json ingest` (one object per non-blank line on
stdout, the counts object on stderr, exit 0 iff every line is ok or
duplicate), REJECTS.jsonl, `dunnctl --json accounts` and `status`.  Stages
are not asserted (evaluation comes later) except "current" for an account
that owes nothing; tasks and the feed are not looked at.

Error texts are not fixed by the contract except "id reused with different
content" and "line too long"; the other checks accept any of a few words
(ERR_* below) so that the message is at least recognisable.
"""
import json
import os
import re
import time
import unittest
from datetime import datetime, timedelta, timezone

from lib import MINIMAL_RULES, DaemonTest, lines

NOW = "2026-03-02T09:00:00+08:00"          # the test clock
NOW_PLUS_1 = "2026-03-02T09:00:01+08:00"   # one second too late (§2.2 step 9)
AT = "2026-03-01T10:00:00+08:00"           # an ordinary past moment
TWO53 = 9007199254740992                   # 2^53, the largest amount (§2 value table)

ERR_ID_REUSED = r"id reused with different content"   # §2.2 step 7, quoted
ERR_UNKNOWN = r"unknown|no such|not found|not exist|does not exist|doesn.t exist|absent"
ERR_MISSING = r"missing|required|needs|new account"
ERR_CURRENCY = r"currency|chang|differ|CNY|USD|EUR"
ERR_BELONG = r"belong|another|other account|not (an invoice )?of|account"
ERR_EXISTS = r"exist|already|reused|taken|in use|duplicate"
ERR_NO_DISPUTE = r"dispute"
ERR_REVERSED = r"already|reversed"
ERR_NOT_MONEY = r"payment|credit|money|revers"
ERR_FUTURE = r"future|now|later|after|ahead"
ERR_TODAY = r"today|future|later|after|ahead"
ERR_ORDER = r"before|earlier|precede|after|later|issued|\bat\b"
ERR_BALANCE = r"balance|exceed|above|more than|greater|over"
ERR_OPEN = r"open|exceed|above|more than|greater|over"
ERR_DISPUTED = r"disput|open|exceed|above|more than|greater|over"
ERR_TOTAL = r"total|2\^53|9007199254740992|exceed|overflow|limit|above|over"


# --- event builders (dict member order = line order, which §2.2 reports by)

def ev(type_, id_, **f):
    d = {"type": type_, "id": id_}
    d.update(f)
    return d


def acct(id_, account, name="Alpha Co", currency="CNY", size="small", **f):
    return ev("account", id_, account=account, name=name, currency=currency, size=size, **f)


def inv(id_, account, invoice, amount, issued="2026-02-01", due="2026-02-20", **f):
    return ev("invoice", id_, account=account, invoice=invoice, amount=amount, issued=issued, due=due, **f)


def pay(id_, account, amount, at=AT, **f):
    return ev("payment", id_, account=account, amount=amount, at=at, **f)


def credit(id_, account, invoice, amount, at=AT, **f):
    return ev("credit", id_, account=account, invoice=invoice, amount=amount, at=at, **f)


def promise(id_, account, amount, due, at=NOW, **f):
    return ev("promise", id_, account=account, amount=amount, due=due, at=at, **f)


def dispute(id_, account, invoice, amount, at=AT, reason="goods damaged", **f):
    return ev("dispute", id_, account=account, invoice=invoice, amount=amount, reason=reason, at=at, **f)


def resolved(id_, account, invoice, at=NOW, **f):
    return ev("dispute_resolved", id_, account=account, invoice=invoice, at=at, **f)


def reversal(id_, account, event, at=NOW, **f):
    return ev("reversal", id_, account=account, event=event, at=at, **f)


# A line that is always refused (§2.2 step 8: unknown account): appended to
# a batch it makes the batch refused, so nothing of it commits (§2.4).
SPOILER = pay("spoiler", "NO-SUCH-ACCOUNT", 1, at=AT)

# The usual starting state: A owes 10000 on A-1 (due 2026-02-20, overdue:
# today − due = 2026-03-02 − 2026-02-20 = 8 days of February + 2 = 10 days),
# B owes 5000 on B-1.
BASE = [acct("ea", "A"), inv("ei", "A", "A-1", 10000),
        acct("eb", "B", name="Beta Co"), inv("ej", "B", "B-1", 5000)]


def local_ts(t):
    """An RFC 3339 timestamp of the epoch second t in +08:00."""
    return datetime.fromtimestamp(int(t), timezone(timedelta(hours=8))).strftime("%Y-%m-%dT%H:%M:%S+08:00")


class IngestCase(DaemonTest):
    """Helpers shared by the ingest tests; one daemon per test."""

    def start(self, base=True, **kw):
        d = self.daemon(**kw).start()
        if base:
            self.commit(d, BASE)
        return d

    def commit(self, d, items, skip_bad=None):
        """Ingests items that must all be ok (exit 0)."""
        r = d.ingest(items, skip_bad=skip_bad)
        self.assertEqual(r.rc, 0, r)
        self.assertTrue(r.results, r)
        self.assertEqual({s for _, s in r.statuses()}, {"ok"}, r)
        return r

    def result(self, r, line):
        for rec in r.results:
            if rec.get("line") == line:
                return rec
        self.fail("no result for line %d: %r" % (line, r))

    def assertError(self, r, line, field, pattern=None):
        rec = self.result(r, line)
        self.assertEqual(rec.get("status"), "error", rec)
        self.assertIn("field", rec, rec)
        self.assertEqual(rec["field"], field, rec)
        self.assertIsInstance(rec.get("error"), str, rec)
        self.assertTrue(rec["error"], rec)
        if pattern is not None:
            self.assertRegex(rec["error"], re.compile(pattern, re.I), rec)

    def assertRefused(self, r, errors, rolled_back=()):
        """A batch without --skip-bad in which exactly the lines of errors
        ({line: (field, pattern)}) are errors and rolled_back are the valid
        lines (§2.4: a refused batch's ok lines become rolled_back)."""
        self.assertEqual(r.rc, 1, r)
        for line, (field, pattern) in errors.items():
            self.assertError(r, line, field, pattern)
        for line in rolled_back:
            self.assertEqual(self.result(r, line).get("status"), "rolled_back", r)
        self.assertEqual(len(r.results), len(errors) + len(rolled_back), r)

    def assertAccount(self, d, account, **want):
        got = d.accounts()
        self.assertIn(account, got)
        rec = got[account]
        self.assertEqual({k: rec.get(k) for k in want}, want, rec)
        return rec

    def assertOpen(self, d, account, invoice, expected):
        """The open amount of one invoice, read through §2.2 step 10 ("a
        credit above its invoice's open amount" is refused): a credit of
        exactly `expected` passes validation, one of expected + 1 does not.
        The SPOILER line refuses both probe batches, and a refused batch
        leaves no trace (§2.4), so probing changes nothing."""
        if expected > 0:
            r = d.ingest([credit("probe-eq", account, invoice, expected, at=AT), SPOILER])
            self.assertEqual(r.statuses(), [(1, "rolled_back"), (2, "error")],
                             "open amount of %s below %d: %r" % (invoice, expected, r))
        r = d.ingest([credit("probe-gt", account, invoice, expected + 1, at=AT), SPOILER])
        self.assertEqual(self.result(r, 1).get("status"), "error",
                         "open amount of %s above %d: %r" % (invoice, expected, r))
        self.assertEqual(self.result(r, 1).get("field"), "amount", r)


# ---------------------------------------------------------------------------
# §2.2 step 8: references

class TestValidationReferences(IngestCase):
    def test_unknown_account(self):
        d = self.start()
        r = d.ingest([inv("u1", "NOPE", "N-1", 100),
                      pay("u2", "NOPE", 100),
                      credit("u3", "NOPE", "A-1", 100),       # account comes before invoice in the row
                      dispute("u4", "NOPE", "A-1", 100),
                      resolved("u5", "NOPE", "A-1"),
                      promise("u6", "NOPE", 100, "2026-03-05"),
                      reversal("u7", "NOPE", "ea")])
        # §2.2 step 8: `account` must exist; §2.4: every bad line is reported.
        self.assertRefused(r, {n: ("account", ERR_UNKNOWN) for n in range(1, 8)})
        self.assertEqual(r.counts, {"ok": 0, "duplicate": 0, "error": 7, "rolled_back": 0})

    def test_new_account_needs_name_currency_size_first_missing_reported(self):
        d = self.start(base=False)
        r = d.ingest([ev("account", "n1", account="N1"),                                   # all three missing
                      ev("account", "n2", account="N2", currency="CNY", size="small"),      # name
                      ev("account", "n3", account="N3", name="Three", size="small"),        # currency
                      ev("account", "n4", account="N4", name="Four", currency="CNY"),       # size
                      ev("account", "n5", account="N5", name="Five", size="large", risk="B"),
                      ev("account", "n6", account="N6", currency="CNY", size="small", tags=[]),
                      acct("n7", "N7")])
        # §2.2 step 8: a new account needs name, currency, size (the first
        # missing one, in row order name, currency, size).
        self.assertRefused(r, {1: ("name", ERR_MISSING), 2: ("name", ERR_MISSING),
                               3: ("currency", ERR_MISSING), 4: ("size", ERR_MISSING),
                               5: ("currency", ERR_MISSING), 6: ("name", ERR_MISSING)},
                           rolled_back=[7])
        # §2.4: a refused batch leaves no trace.
        self.assertEqual(d.status()["accounts"], 0)

    def test_existing_account_currency_cannot_change(self):
        d = self.start()
        r = d.ingest([ev("account", "c1", account="A", currency="USD")])
        # §1 "An account's currency never changes"; §2.2 step 8 (`currency`).
        self.assertRefused(r, {1: ("currency", ERR_CURRENCY)})
        r = d.ingest([acct("c2", "A", name="Alpha Renamed", currency="EUR", size="large")])
        self.assertRefused(r, {1: ("currency", ERR_CURRENCY)})
        # The same currency again is no change: accepted.
        self.commit(d, [ev("account", "c3", account="A", currency="CNY")])
        # Still CNY: a USD payment is refused on `currency` (§2.2 step 8).
        r = d.ingest([pay("c4", "A", 100, currency="USD")])
        self.assertRefused(r, {1: ("currency", ERR_CURRENCY)})

    def test_invoice_must_exist_and_belong_to_the_account(self):
        d = self.start()
        r = d.ingest([pay("x1", "A", 100, invoice="B-1"),
                      credit("x2", "A", "B-1", 100),
                      dispute("x3", "A", "B-1", 100),
                      resolved("x4", "A", "B-1"),
                      pay("x5", "A", 100, invoice="NO-SUCH"),
                      credit("x6", "A", "NO-SUCH", 100),
                      dispute("x7", "A", "NO-SUCH", 100)])
        # §2.2 step 8: `invoice` must exist and belong to `account`.
        self.assertRefused(r, {1: ("invoice", ERR_BELONG), 2: ("invoice", ERR_BELONG),
                               3: ("invoice", ERR_BELONG), 4: ("invoice", ERR_BELONG),
                               5: ("invoice", ERR_UNKNOWN), 6: ("invoice", ERR_UNKNOWN),
                               7: ("invoice", ERR_UNKNOWN)})

    def test_invoice_event_id_must_be_new_everywhere(self):
        d = self.start()
        r = d.ingest([inv("y1", "B", "A-1", 100),     # A's invoice id, on B
                      inv("y2", "A", "A-1", 100),     # A's own id again
                      inv("y3", "A", "A-9", 100),     # new: valid
                      inv("y4", "B", "A-9", 100)])    # taken by line 3 of this batch
        # §2.2 step 8: for `invoice` events the invoice "must not exist
        # anywhere"; §1 invoice ids are portfolio-wide; §2.4 lines see the
        # earlier accepted lines of their batch.
        self.assertRefused(r, {1: ("invoice", ERR_EXISTS), 2: ("invoice", ERR_EXISTS),
                               4: ("invoice", ERR_EXISTS)}, rolled_back=[3])

    def test_dispute_resolved_needs_an_open_dispute(self):
        d = self.start()
        r = d.ingest([resolved("z1", "A", "A-1")])
        # §2.2 step 8: dispute_resolved needs an open dispute on the invoice (`invoice`).
        self.assertRefused(r, {1: ("invoice", ERR_NO_DISPUTE)})
        self.commit(d, [dispute("z2", "A", "A-1", 1000), resolved("z3", "A", "A-1")])
        # §2.3: dispute_resolved closes every open dispute of the invoice.
        r = d.ingest([resolved("z4", "A", "A-1")])
        self.assertRefused(r, {1: ("invoice", ERR_NO_DISPUTE)})

    def test_reversal_needs_an_unreversed_payment_or_credit_of_the_account(self):
        d = self.start()
        # A-1 open: 10000 − pa 1000 − ca 500 = 8500; dispute 200 ≤ 8500;
        # upheld 200 ≤ disputed open min(200, 8500) = 200 (§2.2 step 10).
        self.commit(d, [pay("pa", "A", 1000), pay("pb", "B", 1000), credit("ca", "A", "A-1", 500),
                        promise("pr", "A", 100, "2026-03-05"), dispute("di", "A", "A-1", 200),
                        resolved("dr", "A", "A-1", upheld_amount=200), reversal("ra", "A", "pa")])
        r = d.ingest([reversal("r1", "A", "nope"),   # no such event
                      reversal("r2", "A", "pb"),     # B's payment
                      reversal("r3", "A", "pa"),     # already reversed by ra
                      reversal("r4", "A", "ei"),     # an invoice event
                      reversal("r5", "A", "ea"),     # an account event
                      reversal("r6", "A", "ra"),     # a reversal cannot be reversed (§2.3)
                      reversal("r7", "A", "dr"),     # an upheld amount cannot be reversed (§2.3)
                      reversal("r8", "A", "pr"),     # a promise
                      reversal("r9", "A", "di"),     # a dispute
                      reversal("r10", "A", "ca"),    # A's credit: valid
                      reversal("r11", "A", "ca")])   # reversed by line 10 of this batch
        # §2.2 step 8: `event` must be an accepted payment or credit of
        # `account` that is not reversed yet (`event`).
        self.assertRefused(r, {1: ("event", ERR_UNKNOWN), 2: ("event", None),
                               3: ("event", ERR_REVERSED), 4: ("event", ERR_NOT_MONEY),
                               5: ("event", ERR_NOT_MONEY), 6: ("event", None),
                               7: ("event", None), 8: ("event", ERR_NOT_MONEY),
                               9: ("event", ERR_NOT_MONEY), 11: ("event", ERR_REVERSED)},
                           rolled_back=[10])

    def test_promise_task_must_exist(self):
        d = self.start()
        r = d.ingest([promise("t1", "A", 100, "2026-03-05", task="NO-SUCH-TASK")])
        # §2.2 step 8: `task` must exist (`task`).
        self.assertRefused(r, {1: ("task", ERR_UNKNOWN)})

    def test_currency_must_equal_the_accounts(self):
        d = self.start()
        r = d.ingest([pay("k1", "A", 100, currency="USD"),
                      inv("k2", "A", "A-7", 100, currency="EUR"),
                      credit("k3", "A", "A-1", 100, currency="USD"),
                      promise("k4", "A", 100, "2026-03-05", currency="USD"),
                      dispute("k5", "A", "A-1", 100, currency="USD"),
                      pay("k6", "A", 100, currency="CNY")])
        # §2.2 step 8: `currency` must equal the account's.
        self.assertRefused(r, {n: ("currency", ERR_CURRENCY) for n in range(1, 6)}, rolled_back=[6])


# ---------------------------------------------------------------------------
# §2.2 step 9: dates

class TestValidationDates(IngestCase):
    def test_at_limit_is_now_exactly_under_the_test_clock(self):
        d = self.start()
        # §2.2 step 9: `at` ≤ now, now exactly under --test-clock; §1: a
        # fraction is truncated to the second, any offset names the instant.
        self.commit(d, [pay("n1", "A", 100, at="2026-03-02T09:00:00+08:00"),
                        pay("n2", "A", 100, at="2026-03-02T01:00:00Z"),
                        pay("n3", "A", 100, at="2026-03-02T09:00:00.999999999+08:00")])
        r = d.ingest([pay("f1", "A", 100, at=NOW_PLUS_1),
                      pay("f2", "A", 100, at="2026-03-02T01:00:01Z"),
                      pay("f3", "A", 100, at="2026-03-03T00:00:00+08:00"),
                      credit("f4", "A", "A-1", 100, at=NOW_PLUS_1),
                      dispute("f5", "A", "A-1", 100, at=NOW_PLUS_1),
                      promise("f6", "A", 100, "2026-03-05", at=NOW_PLUS_1),
                      reversal("f7", "A", "n1", at=NOW_PLUS_1)])
        self.assertRefused(r, {n: ("at", ERR_FUTURE) for n in range(1, 8)})
        # 10000 − 3 × 100 = 9700 (§3 balance).
        self.assertAccount(d, "A", balance=9700)

    def test_today_is_the_local_date(self):
        # 07:00 in Shanghai is 23:00Z the day before: today = 2026-03-02 (§1).
        d = self.start(base=False, clock="2026-03-02T07:00:00+08:00")
        self.commit(d, [acct("a", "A"),
                        inv("i", "A", "A-1", 10000, issued="2026-03-02", due="2026-03-02"),  # issued = today, due = issued
                        pay("p", "A", 100, at="2026-03-01T23:00:00Z")])                        # = now
        r = d.ingest([inv("i2", "A", "A-2", 100, issued="2026-03-03", due="2026-03-31"),
                      pay("p2", "A", 100, at="2026-03-01T23:00:01Z")])
        # §2.2 step 9: issued ≤ today (local), at ≤ now.
        self.assertRefused(r, {1: ("issued", ERR_TODAY), 2: ("at", ERR_FUTURE)})
        # §3: due = today is not overdue (due < today); balance 10000 − 100.
        self.assertAccount(d, "A", balance=9900, overdue_amount=0, days_overdue=0)

    def test_issued_not_after_today_due_not_before_issued(self):
        d = self.start()
        r = d.ingest([inv("d1", "A", "A-2", 100, issued="2026-03-03", due="2026-03-31"),
                      inv("d2", "A", "A-3", 100, issued="2026-02-10", due="2026-02-09"),
                      inv("d3", "A", "A-4", 100, issued="2026-03-05", due="2026-03-04"),  # both: issued first (row order)
                      inv("d4", "A", "A-5", 100, issued="2026-03-02", due="2026-03-02")])
        # §2.2 step 9: issued ≤ today; due ≥ issued.
        self.assertRefused(r, {1: ("issued", ERR_TODAY), 2: ("due", ERR_ORDER), 3: ("issued", ERR_TODAY)},
                           rolled_back=[4])

    def test_promise_due_not_before_the_local_date_of_its_at(self):
        d = self.start()
        # 2026-03-01T20:00:00Z is 2026-03-02 04:00 in Shanghai: local date 03-02.
        r = d.ingest([promise("q1", "A", 100, due="2026-03-01", at="2026-03-01T20:00:00Z"),
                      promise("q2", "A", 100, due="2026-03-02", at="2026-03-01T20:00:00Z"),
                      promise("q3", "A", 100, due="2026-02-28", at=AT)])
        # §2.2 step 9: a promise's due ≥ the local date of its at.
        self.assertRefused(r, {1: ("due", ERR_ORDER), 3: ("due", ERR_ORDER)}, rolled_back=[2])

    def test_reversal_not_before_its_event(self):
        d = self.start()
        self.commit(d, [pay("p1", "A", 1000, at="2026-03-01T10:00:00+08:00")])
        r = d.ingest([reversal("r1", "A", "p1", at="2026-03-01T09:59:59+08:00"),
                      reversal("r2", "A", "p1", at="2026-03-01T01:59:59Z")])
        # §2.2 step 9: a reversal's at ≥ the at of its event (`at`).
        self.assertRefused(r, {1: ("at", ERR_ORDER), 2: ("at", ERR_ORDER)})
        # The same instant written in Z is not before it: accepted.
        self.commit(d, [reversal("r3", "A", "p1", at="2026-03-01T02:00:00Z")])
        # §2.3: the reversal undoes the payment: 10000 again.
        self.assertAccount(d, "A", balance=10000)

    def test_wall_clock_allows_five_minutes(self):
        d = self.daemon(clock=None).start()
        now = time.time()
        # issued/due in the past whatever the machine's date.
        self.commit(d, [acct("a", "A"), inv("i", "A", "A-1", 10000, issued="2024-01-01", due="2024-01-31"),
                        pay("p1", "A", 100, at=local_ts(now + 240))])
        r = d.ingest([pay("p2", "A", 100, at=local_ts(now + 360))])
        # §2.2 step 9: under the wall clock the limit is now + 5 minutes.
        self.assertRefused(r, {1: ("at", ERR_FUTURE)})


# ---------------------------------------------------------------------------
# §2.2 step 10: amounts against the state

class TestValidationAmounts(IngestCase):
    def test_payment_above_the_balance(self):
        d = self.start()
        r = d.ingest([pay("a1", "A", 10001),
                      pay("a2", "A", 10001, allow_credit_balance=False),
                      pay("a3", "A", 10001, invoice="A-1"),
                      pay("a4", "A", 10001, allow_credit_balance=True),
                      pay("a5", "A", 1)])
        # §2.2 step 10: A's balance is 10000; above it only with
        # allow_credit_balance true (line 4); after line 4 the balance is 0,
        # so line 5's 1 is above it.
        self.assertRefused(r, {1: ("amount", ERR_BALANCE), 2: ("amount", ERR_BALANCE),
                               3: ("amount", ERR_BALANCE), 5: ("amount", ERR_BALANCE)},
                           rolled_back=[4])
        self.commit(d, [pay("a6", "A", 10000)])          # = the balance: accepted
        self.assertAccount(d, "A", balance=0, credit_balance=0)
        r = d.ingest([pay("a7", "A", 1)])
        self.assertRefused(r, {1: ("amount", ERR_BALANCE)})

    def test_credit_above_its_invoices_open_amount(self):
        d = self.start()
        self.commit(d, [inv("i2", "A", "A-2", 5000, issued="2026-02-10", due="2026-03-10"),
                        pay("c0", "A", 4000, invoice="A-1")])
        # A-1 open = 10000 − 4000 = 6000; balance = 6000 + 5000 = 11000.
        r = d.ingest([credit("c1", "A", "A-1", 6001)])
        # §2.2 step 10: a credit above its invoice's open amount (not the balance).
        self.assertRefused(r, {1: ("amount", ERR_OPEN)})
        self.commit(d, [credit("c2", "A", "A-1", 6000)])  # equal: accepted
        # §2.3 a credit applies to its invoice: A-1 settled, A-2 (due 03-10)
        # not overdue: balance 5000, overdue 0, days_overdue 0 (§3).
        self.assertAccount(d, "A", balance=5000, overdue_amount=0, days_overdue=0)

    def test_dispute_above_open_minus_unresolved_disputes(self):
        d = self.start()
        self.commit(d, [dispute("s1", "A", "A-1", 6000)])
        r = d.ingest([dispute("s2", "A", "A-1", 4001)])
        # §2.2 step 10: limit = open 10000 − unresolved 6000 = 4000.
        self.assertRefused(r, {1: ("amount", ERR_DISPUTED)})
        self.commit(d, [dispute("s3", "A", "A-1", 4000)])
        r = d.ingest([dispute("s4", "A", "A-1", 1)])
        # limit = 10000 − (6000 + 4000) = 0 (§2.3 disputes add up per invoice).
        self.assertRefused(r, {1: ("amount", ERR_DISPUTED)})
        self.commit(d, [resolved("s5", "A", "A-1")])
        # Resolved: no unresolved dispute, the limit is the open 10000 again.
        r = d.ingest([dispute("s6", "A", "A-1", 10000), SPOILER])
        self.assertEqual(r.statuses(), [(1, "rolled_back"), (2, "error")], r)

    def test_upheld_amount_above_the_disputed_open_amount(self):
        d = self.start()
        self.commit(d, [dispute("u1", "A", "A-1", 3000)])
        r = d.ingest([resolved("u2", "A", "A-1", upheld_amount=3001)])
        # §2.2 step 10: disputed open = min(3000, 10000) = 3000 (§2.3).
        self.assertRefused(r, {1: ("upheld_amount", ERR_DISPUTED)})
        self.commit(d, [resolved("u3", "A", "A-1", upheld_amount=3000)])
        # §2.3: upheld_amount is credited: 10000 − 3000.
        self.assertAccount(d, "A", balance=7000)

    def test_promise_above_the_balance(self):
        d = self.start()
        r = d.ingest([promise("pm1", "A", 10001, "2026-03-05"), promise("pm2", "B", 5001, "2026-03-05")])
        # §2.2 step 10: a promise above the balance (A 10000, B 5000).
        self.assertRefused(r, {1: ("amount", ERR_BALANCE), 2: ("amount", ERR_BALANCE)})
        self.commit(d, [promise("pm3", "A", 10000, "2026-03-05")])

    def test_totals_may_not_pass_2_pow_53(self):
        d = self.start(base=False)
        # §2 value table: amount 1 … 2^53, so one invoice of 2^53 is valid
        # and the total invoiced, 2^53, is not above 2^53.
        self.commit(d, [acct("t", "T"), inv("t1", "T", "T-1", TWO53)])
        self.assertAccount(d, "T", balance=TWO53)
        r = d.ingest([inv("t2", "T", "T-2", 1, issued="2026-02-02")])
        # §2.2 step 10: total invoiced would be 2^53 + 1.
        self.assertRefused(r, {1: ("amount", ERR_TOTAL)})
        self.commit(d, [credit("tc1", "T", "T-1", TWO53)])
        self.assertAccount(d, "T", balance=0)
        self.commit(d, [reversal("tr1", "T", "tc1")])
        # §2.3: the reversal re-opens T-1: balance 2^53 again.
        self.assertAccount(d, "T", balance=TWO53)
        r = d.ingest([credit("tc2", "T", "T-1", 1)])
        # total credited 2^53 + 1: "reversals do not lower them".
        self.assertRefused(r, {1: ("amount", ERR_TOTAL)})
        r = d.ingest([dispute("td1", "T", "T-1", 5), resolved("td2", "T", "T-1", upheld_amount=5)])
        # §2.3: upheld_amount is "a credit in every respect except reversal",
        # so it counts in the total credited: 2^53 + 5 (`upheld_amount`).
        self.assertRefused(r, {2: ("upheld_amount", ERR_TOTAL)}, rolled_back=[1])

        self.commit(d, [acct("p", "P"), pay("pp1", "P", TWO53, allow_credit_balance=True)])
        # §2.3: money beyond the balance (0) is the unapplied credit.
        self.assertAccount(d, "P", balance=0, credit_balance=TWO53)
        r = d.ingest([pay("pp2", "P", 1, allow_credit_balance=True)])
        # total paid would be 2^53 + 1.
        self.assertRefused(r, {1: ("amount", ERR_TOTAL)})
        self.commit(d, [reversal("pr1", "P", "pp1")])
        self.assertAccount(d, "P", balance=0, credit_balance=0)
        r = d.ingest([pay("pp3", "P", 1, allow_credit_balance=True)])
        # still 2^53 + 1: totals of accepted events, reversals do not lower them.
        self.assertRefused(r, {1: ("amount", ERR_TOTAL)})


# ---------------------------------------------------------------------------
# §2.2 order of the checks, §2.4 validation against earlier accepted lines

class TestCheckOrder(IngestCase):
    def test_first_error_in_step_order_then_row_order(self):
        d = self.start()
        r = d.ingest([pay("o1", "NOPE", 100, at=NOW_PLUS_1),                                   # 8 before 9
                      inv("o2", "NOPE", "N-1", 100, issued="2026-03-03", due="2026-03-31"),     # 8 before 9
                      pay("o3", "A", 100, invoice="B-1", at=NOW_PLUS_1),                        # 8 before 9
                      pay("o4", "A", 10001, at=NOW_PLUS_1),                                     # 9 before 10
                      pay("o5", "A", 10001, currency="USD"),                                    # 8 before 10
                      promise("o6", "A", 10001, due="2026-02-01", at=AT),                       # 9 before 10
                      pay("o7", "NOPE", 0),                                                     # 6 before 8
                      pay("o8", "A", 100, invoice="NO-SUCH", currency="USD"),                   # row: invoice, currency
                      dispute("o9", "A", "B-1", 100, currency="USD"),                           # row: invoice, currency
                      promise("o10", "A", 100, "2026-03-05", task="NO-SUCH-TASK", currency="USD"),  # task, currency
                      inv("o11", "A", "A-8", 100, issued="2026-03-05", due="2026-03-01"),       # row: issued, due
                      credit("o12", "A", "A-1", 10001, at=NOW_PLUS_1)])                         # 9 before 10
        # §2.2: each line reports its first error in step order; within a
        # step, in the order of the type's row (required, then optional).
        self.assertRefused(r, {1: ("account", ERR_UNKNOWN), 2: ("account", ERR_UNKNOWN),
                               3: ("invoice", ERR_BELONG), 4: ("at", ERR_FUTURE),
                               5: ("currency", ERR_CURRENCY), 6: ("due", ERR_ORDER),
                               7: ("amount", None), 8: ("invoice", ERR_UNKNOWN),
                               9: ("invoice", ERR_BELONG), 10: ("task", ERR_UNKNOWN),
                               11: ("issued", ERR_TODAY), 12: ("at", ERR_FUTURE)})

    def test_lines_see_the_earlier_accepted_lines_of_their_batch(self):
        d = self.start(base=False)
        r = self.commit(d, [acct("b1", "N"),
                            "",
                            inv("b3", "N", "N-1", 1000),
                            pay("b4", "N", 1000),                                  # balance 1000 from line 3
                            ev("account", "b5", account="N", tags=["x"])])         # N exists since line 1
        # §2.1: blank lines get no result but count in `line`.
        self.assertEqual([n for n, _ in r.statuses()], [1, 3, 4, 5])
        self.assertAccount(d, "N", balance=0, tags=["x"])
        r = d.ingest([inv("b6", "N", "N-2", 500),
                      pay("b7", "N", 500),     # valid against line 1's 500
                      pay("b8", "N", 1)])      # balance 0 after line 2
        # §2.4: each line is validated against the state left by the earlier
        # accepted lines; the batch is refused, its valid lines rolled back.
        self.assertRefused(r, {3: ("amount", ERR_BALANCE)}, rolled_back=[1, 2])
        self.assertAccount(d, "N", balance=0)
        # Nothing of it remains (§2.4): N-2 and the id b6 are free again.
        self.commit(d, [inv("b6", "N", "N-2", 700)])
        self.assertAccount(d, "N", balance=700)

    def test_rejected_lines_count_as_absent(self):
        d = self.start(base=False)
        rej = os.path.join(d.tmp, "rejects.jsonl")
        bad_inv = inv("m2", "M", "M-1", 100)
        r = d.ingest([ev("account", "m1", account="M", name="Em", currency="CNY"),  # size missing
                      bad_inv,                                                     # M is absent
                      acct("m3", "K"),
                      inv("m4", "K", "K-1", 100),
                      inv("m1", "K", "K-2", 100),    # the id of rejected line 1: not recorded
                      bad_inv], skip_bad=rej)        # the same text as line 2: an error again
        # §2.4: rejected lines count as absent; their ids are not recorded.
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(r.statuses(), [(1, "error"), (2, "error"), (3, "ok"), (4, "ok"), (5, "ok"), (6, "error")])
        self.assertError(r, 1, "size", ERR_MISSING)
        self.assertError(r, 2, "account", ERR_UNKNOWN)
        self.assertError(r, 6, "account", ERR_UNKNOWN)
        with open(rej) as f:
            self.assertEqual([x["line"] for x in lines(f.read())], [1, 2, 6])
        # --skip-bad commits the good lines: K owes 100 + 100; M does not exist.
        accts = d.accounts()
        self.assertEqual(list(accts), ["K"])
        self.assertEqual(accts["K"]["balance"], 200)


# ---------------------------------------------------------------------------
# §2.4 batches

class TestBatches(IngestCase):
    def test_all_or_nothing(self):
        d = self.start(base=False)
        self.commit(d, [acct("a", "A")])
        r = d.ingest([acct("n1", "N"),
                      inv("n2", "N", "N-1", 1000),
                      pay("n3", "N", 2000),          # above N's balance 1000
                      acct("n4", "O")])
        # §2.4: one bad line refuses the batch: ok lines become rolled_back,
        # exit 1, counts in the final record.
        self.assertRefused(r, {3: ("amount", ERR_BALANCE)}, rolled_back=[1, 2, 4])
        self.assertEqual(r.counts, {"ok": 0, "duplicate": 0, "error": 1, "rolled_back": 3})
        # "A refused batch ... leaves no trace".
        self.assertEqual(list(d.accounts()), ["A"])
        self.assertEqual(d.status()["accounts"], 1)
        # Its ids were not recorded: the good lines go in as new events.
        r = self.commit(d, [acct("n1", "N"), inv("n2", "N", "N-1", 1000), acct("n4", "O")])
        self.assertEqual(r.counts, {"ok": 3, "duplicate": 0, "error": 0, "rolled_back": 0})
        self.assertEqual(list(d.accounts()), ["A", "N", "O"])
        self.assertEqual(d.status()["accounts"], 3)

    def test_skip_bad_commits_good_lines_and_writes_rejects(self):
        d = self.start(base=False)
        rej = os.path.join(d.tmp, "rejects.jsonl")
        l2 = '{"type":"payment",  "id":"s2","account":"NOPE","amount":5,"at":"2026-03-01T10:00:00+08:00"}'
        l4 = b'{"type":"account","id":"s4","account":"U","name":"Caf\xe9","currency":"CNY","size":"small"}'
        data = (json.dumps(acct("s1", "S")).encode() + b"\n"
                + l2.encode() + b"\r\n"
                + json.dumps(inv("s3", "S", "S-1", 700)).encode() + b"\n"
                + l4 + b"\n"
                + b"\n"
                + json.dumps(pay("s6", "S", 100)).encode() + b"\n")
        r = d.ingest(data, skip_bad=rej)
        # §2.4 exit 1 unless every line is ok or duplicate; the good lines are ok.
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(r.statuses(), [(1, "ok"), (2, "error"), (3, "ok"), (4, "error"), (6, "ok")])
        self.assertEqual(r.counts, {"ok": 3, "duplicate": 0, "error": 2, "rolled_back": 0})
        self.assertError(r, 2, "account", ERR_UNKNOWN)
        self.assertError(r, 4, None)          # §2.2 step 1: not UTF-8, field null
        with open(rej, encoding="utf-8") as f:
            got = lines(f.read())
        # §2.4: {"line","field","error","input"}, input = the line without
        # its line end (CR LF both gone), invalid UTF-8 as U+FFFD.
        self.assertEqual([sorted(x) for x in got], [["error", "field", "input", "line"]] * 2)
        self.assertEqual([(x["line"], x["field"], x["input"]) for x in got],
                         [(2, "account", l2),
                          (4, None, l4.decode("utf-8", "replace"))])
        self.assertIn("\ufffd", got[1]["input"])
        self.assertEqual(got[0]["error"], self.result(r, 2)["error"])
        # Committed: S owes 700 − 100; U does not exist.
        accts = d.accounts()
        self.assertEqual(list(accts), ["S"])
        self.assertEqual(accts["S"]["balance"], 600)

    def test_rejects_file_is_created_or_truncated_when_nothing_is_bad(self):
        d = self.start(base=False)
        old = os.path.join(d.tmp, "old-rejects.jsonl")
        with open(old, "w") as f:
            f.write('{"line":9,"field":"x","error":"stale","input":"stale"}\n')
        r = d.ingest([acct("a", "A")], skip_bad=old)
        self.assertEqual(r.rc, 0, r)
        new = os.path.join(d.tmp, "new-rejects.jsonl")
        r = d.ingest([acct("b", "B")], skip_bad=new)
        self.assertEqual(r.rc, 0, r)
        # §2.4: "REJECTS.jsonl is always created (or truncated)".
        for path in (old, new):
            self.assertTrue(os.path.exists(path), path)
            self.assertEqual(os.path.getsize(path), 0, path)
        self.assertEqual(list(d.accounts()), ["A", "B"])

    def test_blank_lines_are_counted_crlf_is_accepted(self):
        d = self.start(base=False)
        data = (b"\r\n"
                + json.dumps(acct("a", "A")).encode() + b"\r\n"
                + b" \t \r\n"
                + json.dumps(inv("i", "A", "A-1", 1000)).encode() + b"\r\n"
                + b"\n"
                + json.dumps(pay("p", "A", 300)).encode())        # no last LF
        r = d.ingest(data)
        # §2.1: blank lines get no result but count; one CR before LF is
        # ignored; the last LF is optional.
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.statuses(), [(2, "ok"), (4, "ok"), (6, "ok")])
        self.assertAccount(d, "A", balance=700)                    # 1000 − 300
        # §2.1: a CR elsewhere is not a line end: two objects on one line
        # are malformed (step 1, field null).
        r = d.ingest(json.dumps(acct("b", "B")).encode() + b"\r" + json.dumps(acct("c", "C")).encode() + b"\n")
        self.assertRefused(r, {1: (None, None)})
        self.assertEqual(list(d.accounts()), ["A"])

    def test_human_output_lists_only_the_lines_that_are_not_ok(self):
        d = self.start(base=False)
        self.commit(d, [acct("a", "A")])
        rej = os.path.join(d.tmp, "rejects.jsonl")
        r = d.ingest([acct("a", "A"), acct("b", "B"), pay("x", "NOPE", 5)], skip_bad=rej, json_out=False)
        # §2.4: without --json dunnctl prints the non-ok lines and the counts.
        self.assertEqual(r.rc, 1, r)
        self.assertRegex(r.stdout, r"(?m)^line 1: duplicate")
        self.assertRegex(r.stdout, r"(?m)^line 3: account: ")
        self.assertNotRegex(r.stdout, r"(?m)^line 2\b")
        self.assertIn("1 ok, 1 duplicate, 1 error, 0 rolled_back", r.stdout)


class TestDuplicates(IngestCase):
    def test_same_id_same_content_in_a_later_batch_is_a_duplicate(self):
        d = self.start(base=False)
        first = BASE + [pay("p1", "A", 3000)]
        self.commit(d, first)
        r = d.ingest(first)
        # §2.2 step 7: same content → duplicate, nothing else happens; exit 0.
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.statuses(), [(n, "duplicate") for n in range(1, 6)])
        self.assertEqual(r.counts, {"ok": 0, "duplicate": 5, "error": 0, "rolled_back": 0})
        # The canonical form: members sorted, strings unescaped (\u0041 = A,
        # \u006d = m), whitespace not significant.
        r = d.ingest(['{ "at" : "2026-03-01T10:00:00+08:00", "amount":3000,'
                      ' "account":"\\u0041", "id":"p1", "type":"pay\\u006dent" }'])
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.statuses(), [(1, "duplicate")])
        # Applied once: 10000 − 3000.
        self.assertAccount(d, "A", balance=7000)

    def test_same_id_different_content_is_an_error(self):
        d = self.start()
        self.commit(d, [pay("p1", "A", 3000, at="2026-03-01T10:00:00+08:00")])
        r = d.ingest([pay("p1", "A", 3001, at="2026-03-01T10:00:00+08:00"),
                      pay("p1", "A", 3000, at="2026-03-01T02:00:00Z"),          # same instant, other text
                      pay("p1", "A", 3000, at="2026-03-01T10:00:00+08:00", currency="CNY"),
                      pay("p1", "NOPE", 3000, at="2026-03-01T10:00:00+08:00"),  # step 7 before step 8
                      ev("invoice", "p1", account="A", invoice="A-9", amount=1,
                         issued="2026-02-01", due="2026-02-02")])               # ids of all types share a namespace
        # §2.2 step 7: different content → (`id`, "id reused with different content").
        self.assertRefused(r, {n: ("id", ERR_ID_REUSED) for n in range(1, 6)})
        self.assertAccount(d, "A", balance=7000)

    def test_duplicate_is_decided_before_the_state_checks(self):
        d = self.start()
        self.commit(d, [pay("full", "A", 10000)])
        # A new payment of 10000 would now be above the balance 0, but step 7
        # comes before step 10: a duplicate.
        r = d.ingest([pay("full", "A", 10000)])
        self.assertEqual((r.rc, r.statuses()), (0, [(1, "duplicate")]), r)
        self.commit(d, [reversal("rv", "A", "full")])
        self.assertAccount(d, "A", balance=10000)
        # Would be "already reversed" (step 8); a duplicate, nothing happens.
        r = d.ingest([reversal("rv", "A", "full")])
        self.assertEqual((r.rc, r.statuses()), (0, [(1, "duplicate")]), r)
        self.assertAccount(d, "A", balance=10000)

    def test_repeat_within_one_batch(self):
        d = self.start()
        r = d.ingest([pay("w1", "A", 3000), pay("w1", "A", 3000)])
        # §2.4: duplicate = a repeat "of an earlier line of the batch"; exit 0.
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.statuses(), [(1, "ok"), (2, "duplicate")])
        self.assertEqual(r.counts, {"ok": 1, "duplicate": 1, "error": 0, "rolled_back": 0})
        self.assertAccount(d, "A", balance=7000)         # applied once: 10000 − 3000
        r = d.ingest([pay("w2", "A", 100), pay("w2", "A", 200)])
        # Different content within the batch: step 7's error on line 2.
        self.assertRefused(r, {2: ("id", ERR_ID_REUSED)}, rolled_back=[1])
        self.assertAccount(d, "A", balance=7000)

    def test_refused_batch_repeat_statuses(self):
        d = self.start()
        self.commit(d, [pay("c1", "A", 1000)])
        r = d.ingest([pay("c1", "A", 1000),      # repeat of a committed event
                      pay("n1", "A", 500),       # ok line
                      pay("n1", "A", 500),       # repeat of an ok line of this batch
                      SPOILER])
        # §2.4: in a batch that does not commit the ok lines and the lines
        # repeating one of them are rolled_back; repeats of committed events
        # stay duplicate; errors stay error.
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(r.statuses(), [(1, "duplicate"), (2, "rolled_back"), (3, "rolled_back"), (4, "error")])
        self.assertEqual(r.counts, {"ok": 0, "duplicate": 1, "error": 1, "rolled_back": 2})
        self.assertAccount(d, "A", balance=9000)         # 10000 − c1 1000 only

    def test_ids_are_durable_across_a_restart(self):
        d = self.start()
        self.commit(d, [pay("p1", "A", 3000)])
        self.assertEqual(d.stop(), 0)
        d.start()
        r = d.ingest(BASE + [pay("p1", "A", 3000)])
        # §2.4: an acknowledged event is committed (durable): still known.
        self.assertEqual(r.rc, 0, r)
        self.assertEqual({s for _, s in r.statuses()}, {"duplicate"})
        r = d.ingest([pay("p1", "A", 3001)])
        self.assertRefused(r, {1: ("id", ERR_ID_REUSED)})
        self.assertAccount(d, "A", balance=7000)
        self.assertAccount(d, "B", balance=5000)


# ---------------------------------------------------------------------------
# §2.3 money, seen through §3 facts in `accounts --json`

class TestMoney(IngestCase):
    def test_overdue_is_strictly_before_today(self):
        d = self.start(base=False)
        self.commit(d, [acct("a", "A"), inv("i1", "A", "A-1", 100, issued="2026-02-20", due="2026-03-02"),
                        acct("b", "B"), inv("i2", "B", "B-1", 100, issued="2026-02-20", due="2026-03-01")])
        # §3: overdue_amount counts due < today (2026-03-02): A-1 is due today,
        # not overdue; B-1 is 1 day overdue.
        self.assertAccount(d, "A", balance=100, overdue_amount=0, days_overdue=0, credit_balance=0)
        self.assertAccount(d, "B", balance=100, overdue_amount=100, days_overdue=1, credit_balance=0)

    def test_partial_payment(self):
        d = self.start()
        # §3: A-1 10000 due 2026-02-20: overdue, days_overdue 10.
        self.assertAccount(d, "A", balance=10000, overdue_amount=10000, days_overdue=10, credit_balance=0)
        self.commit(d, [pay("p", "A", 3000)])
        # §2.3: 3000 to A-1: open 7000, still overdue 10 days.
        self.assertAccount(d, "A", balance=7000, overdue_amount=7000, days_overdue=10, credit_balance=0)
        self.assertAccount(d, "B", balance=5000)         # untouched

    def test_named_invoice_first_then_the_rest_by_earliest_due(self):
        d = self.start(base=False)
        self.commit(d, [acct("a", "A"),
                        inv("ia", "A", "I-a", 1000, issued="2026-02-01", due="2026-02-10"),
                        inv("ib", "A", "I-b", 2000, issued="2026-02-05", due="2026-02-25"),
                        inv("ic", "A", "I-c", 4000, issued="2026-02-10", due="2026-03-10")])
        # §3: balance 7000; overdue I-a + I-b = 3000; days_overdue from I-a:
        # 2026-03-02 − 2026-02-10 = 18 + 2 = 20.
        self.assertAccount(d, "A", balance=7000, overdue_amount=3000, days_overdue=20)
        self.commit(d, [pay("p", "A", 5000, invoice="I-c")])
        # §2.3: first I-c up to its open 4000 → 0; the rest 1000 by earliest
        # due → I-a (due 02-10) → 0.  Left: I-b 2000, due 02-25:
        # days_overdue = 2026-03-02 − 2026-02-25 = 3 + 2 = 5.
        self.assertAccount(d, "A", balance=2000, overdue_amount=2000, days_overdue=5)
        self.assertOpen(d, "A", "I-a", 0)
        self.assertOpen(d, "A", "I-b", 2000)
        self.assertOpen(d, "A", "I-c", 0)

    def test_unnamed_payment_by_due_then_issued_then_arrival(self):
        d = self.start(base=False)
        self.commit(d, [acct("a", "A"),
                        inv("x1", "A", "X1", 1000, issued="2026-02-05", due="2026-02-20"),
                        inv("x2", "A", "X2", 1000, issued="2026-02-01", due="2026-02-20"),
                        inv("x3", "A", "X3", 1000, issued="2026-02-01", due="2026-02-20"),
                        inv("x4", "A", "X4", 1000, issued="2026-01-01", due="2026-02-25"),
                        inv("x0", "A", "X0", 1000, issued="2026-02-10", due="2026-02-15")])
        # Invoice order (§2.3, §3): due, then issued, then arrival:
        # X0 (02-15) · X2 (02-20, 02-01, 2nd) · X3 (02-20, 02-01, 3rd) ·
        # X1 (02-20, 02-05) · X4 (02-25).
        # days_overdue from X0: 2026-03-02 − 2026-02-15 = 13 + 2 = 15.
        self.assertAccount(d, "A", balance=5000, overdue_amount=5000, days_overdue=15)
        self.commit(d, [pay("p1", "A", 2500)])
        # 2500: X0 1000 → 0, X2 1000 → 0, X3 500 → open 500.
        # days_overdue from X3 (due 02-20): 10.
        self.assertAccount(d, "A", balance=2500, overdue_amount=2500, days_overdue=10)
        for invoice, open_ in (("X0", 0), ("X2", 0), ("X3", 500), ("X1", 1000), ("X4", 1000)):
            self.assertOpen(d, "A", invoice, open_)
        self.commit(d, [pay("p2", "A", 1000)])
        # 1000: X3 500 → 0, X1 500 → open 500.  Balance 1500, days from X1: 10.
        self.assertAccount(d, "A", balance=1500, overdue_amount=1500, days_overdue=10)
        for invoice, open_ in (("X3", 0), ("X1", 500), ("X4", 1000)):
            self.assertOpen(d, "A", invoice, open_)

    def test_surplus_credit_is_applied_to_each_new_invoice(self):
        d = self.start(base=False)
        self.commit(d, [acct("a", "A"),
                        inv("i1", "A", "A-1", 10000, issued="2026-02-01", due="2026-02-20"),
                        inv("i2", "A", "A-2", 3000, issued="2026-02-25", due="2026-03-10")])
        self.commit(d, [pay("p", "A", 15000, invoice="A-2", allow_credit_balance=True)])
        # §2.3: A-2 3000 → 0, the rest 12000: A-1 10000 → 0, beyond the
        # whole balance 2000 → unapplied credit; balance never below 0.
        self.assertAccount(d, "A", balance=0, credit_balance=2000, overdue_amount=0, days_overdue=0)
        self.commit(d, [inv("i3", "A", "A-3", 1500, issued="2026-03-01", due="2026-03-31")])
        # The credit is applied to the new invoice: A-3 1500 → 0, credit 500 left.
        self.assertAccount(d, "A", balance=0, credit_balance=500)
        self.commit(d, [inv("i4", "A", "A-4", 1000, issued="2026-02-20", due="2026-02-27")])
        # 1000 − 500 = 500 open, credit 0; overdue (02-27 < 03-02),
        # days_overdue = 2026-03-02 − 2026-02-27 = 1 + 2 = 3.
        self.assertAccount(d, "A", balance=500, credit_balance=0, overdue_amount=500, days_overdue=3)
        self.commit(d, [inv("i5", "A", "A-5", 800, issued="2026-03-01", due="2026-03-31")])
        # No credit left: A-5 owed whole; balance 500 + 800.
        self.assertAccount(d, "A", balance=1300, credit_balance=0)
        self.assertOpen(d, "A", "A-3", 0)
        self.assertOpen(d, "A", "A-4", 500)
        self.assertOpen(d, "A", "A-5", 800)

    def test_credit_with_nothing_owed(self):
        d = self.start(base=False)
        self.commit(d, [acct("c", "C"), pay("p", "C", 700, allow_credit_balance=True)])
        # §2.3: all of it beyond the balance 0: credit 700.
        self.assertAccount(d, "C", balance=0, credit_balance=700)
        self.commit(d, [inv("i", "C", "C-1", 1000, issued="2026-02-01", due="2026-02-20")])
        # Applied to C-1: 1000 − 700 = 300, overdue 10 days.
        self.assertAccount(d, "C", balance=300, credit_balance=0, overdue_amount=300, days_overdue=10)

    def test_credit_note_settles_and_its_reversal_reopens(self):
        d = self.start()
        self.commit(d, [credit("c", "A", "A-1", 10000)])
        # §2.3 a credit applies to its invoice: settled.
        self.assertAccount(d, "A", balance=0, overdue_amount=0, days_overdue=0, credit_balance=0)
        self.commit(d, [reversal("r", "A", "c")])
        # §2.3: a cancelled credit note re-opens A-1 at its due: 10 days.
        self.assertAccount(d, "A", balance=10000, overdue_amount=10000, days_overdue=10, credit_balance=0)

    def test_reversed_payment_reopens_the_invoice_at_its_original_due(self):
        d = self.start(clock="2026-03-12T09:00:00+08:00")
        self.commit(d, [pay("p", "A", 10000, at=AT)])
        self.assertAccount(d, "A", balance=0, overdue_amount=0, days_overdue=0)
        self.commit(d, [reversal("r", "A", "p", at="2026-03-12T08:00:00+08:00")])
        # §2.3: open again with its original due 2026-02-20 (overdue at its
        # original age): today 2026-03-12 − 2026-02-20 = 8 + 12 = 20 days.
        self.assertAccount(d, "A", balance=10000, overdue_amount=10000, days_overdue=20, credit_balance=0)

    def test_reversal_undoes_surplus_already_applied_to_a_later_invoice(self):
        d = self.start()
        self.commit(d, [pay("p1", "A", 12000, allow_credit_balance=True)])
        # A-1 10000 → 0, credit 2000.
        self.assertAccount(d, "A", balance=0, credit_balance=2000)
        self.commit(d, [inv("i2", "A", "A-2", 5000, issued="2026-02-25", due="2026-02-28")])
        # 5000 − 2000 = 3000, days_overdue 2026-03-02 − 02-28 = 2.
        self.assertAccount(d, "A", balance=3000, credit_balance=0, overdue_amount=3000, days_overdue=2)
        self.commit(d, [reversal("r1", "A", "p1")])
        # §2.3: every application of p1 is undone, the one to A-1 and the
        # one of its surplus to A-2: 10000 + 5000 open; days from A-1: 10.
        self.assertAccount(d, "A", balance=15000, credit_balance=0, overdue_amount=15000, days_overdue=10)
        self.assertOpen(d, "A", "A-1", 10000)
        self.assertOpen(d, "A", "A-2", 5000)

    def test_reversal_then_remaining_credit_goes_to_open_invoices_in_order(self):
        d = self.start()
        self.commit(d, [pay("p1", "A", 12000, allow_credit_balance=True)])     # A-1 → 0, credit p1 2000
        self.commit(d, [inv("i2", "A", "A-2", 1000, issued="2026-02-25", due="2026-02-28")])  # p1 credit 1000 → A-2 0
        self.commit(d, [pay("p2", "A", 3000, allow_credit_balance=True)])      # balance 0: credit p2 3000
        # credit = p1's 1000 left + p2's 3000.
        self.assertAccount(d, "A", balance=0, credit_balance=4000)
        self.commit(d, [reversal("r1", "A", "p1")])
        # §2.3: p1's unapplied 1000 removed first; its applications undone
        # (A-1 10000, A-2 1000 open); then the remaining credit (p2 3000) is
        # applied to the open invoices in invoice order: A-1 (due 02-20)
        # first → 7000; A-2 (due 02-28) stays 1000.  Balance 8000, days 10.
        self.assertAccount(d, "A", balance=8000, credit_balance=0, overdue_amount=8000, days_overdue=10)
        self.assertOpen(d, "A", "A-1", 7000)
        self.assertOpen(d, "A", "A-2", 1000)


class TestDisputes(IngestCase):
    def test_dispute_on_a_partly_paid_invoice(self):
        d = self.start()
        self.commit(d, [pay("p1", "A", 4000, invoice="A-1"), dispute("s1", "A", "A-1", 5000)])
        # A-1 open 6000, disputed open min(5000, 6000) = 5000, undisputed
        # 1000 > 0: counted in overdue_invoices → days_overdue 10; overdue
        # includes disputed parts: 6000 (§3).
        self.assertAccount(d, "A", balance=6000, overdue_amount=6000, days_overdue=10)
        r = d.ingest([dispute("s2", "A", "A-1", 1001)])
        # §2.2 step 10: limit = open 6000 − unresolved 5000 = 1000.
        self.assertRefused(r, {1: ("amount", ERR_DISPUTED)})
        r = d.ingest([dispute("s3", "A", "A-1", 1000), SPOILER])
        self.assertEqual(r.statuses(), [(1, "rolled_back"), (2, "error")], r)
        self.commit(d, [pay("p2", "A", 1000, invoice="A-1")])
        # §2.3: payments reduce the undisputed part first: open 5000,
        # disputed open min(5000, 5000) = 5000, undisputed 0 → A-1 is not
        # counted in overdue_invoices: days_overdue 0; overdue_amount 5000.
        self.assertAccount(d, "A", balance=5000, overdue_amount=5000, days_overdue=0)
        r = d.ingest([dispute("s4", "A", "A-1", 1)])
        # limit = 5000 − 5000 = 0.
        self.assertRefused(r, {1: ("amount", ERR_DISPUTED)})
        self.commit(d, [pay("p3", "A", 500, invoice="A-1")])
        # open 4500 < disputed 5000: disputed open = min(5000, 4500) = 4500.
        r = d.ingest([resolved("d1", "A", "A-1", upheld_amount=4501)])
        self.assertRefused(r, {1: ("upheld_amount", ERR_DISPUTED)})
        self.commit(d, [resolved("d2", "A", "A-1", upheld_amount=4500)])
        # §2.3: 4500 credited: A-1 settled.
        self.assertAccount(d, "A", balance=0, overdue_amount=0, days_overdue=0)

    def test_resolved_without_upheld_amount_is_owed_again(self):
        d = self.start()
        self.commit(d, [dispute("s", "A", "A-1", 10000)])
        # Wholly disputed: undisputed open 0 → days_overdue 0 (§3), overdue
        # 10000 (disputed parts included), balance 10000.
        self.assertAccount(d, "A", balance=10000, overdue_amount=10000, days_overdue=0)
        self.commit(d, [resolved("r", "A", "A-1")])
        # §2.3: the rest (all of it) is owed again: days_overdue 10.
        self.assertAccount(d, "A", balance=10000, overdue_amount=10000, days_overdue=10)
        # No unresolved dispute left: a new one may take the whole 10000.
        r = d.ingest([dispute("s2", "A", "A-1", 10000), SPOILER])
        self.assertEqual(r.statuses(), [(1, "rolled_back"), (2, "error")], r)

    def test_resolved_with_upheld_amount_is_credited(self):
        d = self.start()
        self.commit(d, [dispute("s1", "A", "A-1", 3000), dispute("s2", "A", "A-1", 2000)])
        self.commit(d, [resolved("r", "A", "A-1", upheld_amount=5000)])
        # §2.3: disputes add up (5000 ≤ disputed open 5000); the upheld 5000
        # is credited: 10000 − 5000; the invoice stays overdue 10 days.
        self.assertAccount(d, "A", balance=5000, overdue_amount=5000, days_overdue=10)
        self.assertOpen(d, "A", "A-1", 5000)
        # Every open dispute was closed.
        r = d.ingest([resolved("r2", "A", "A-1")])
        self.assertRefused(r, {1: ("invoice", ERR_NO_DISPUTE)})


# ---------------------------------------------------------------------------
# §2.3 account upsert, §7 `accounts --json`

class TestAccountUpsert(IngestCase):
    def test_new_account_that_owes_nothing(self):
        d = self.start(base=False)
        self.commit(d, [acct("a", "A")])
        # §2.3: a new account starts in the first stage; §3 tags [] until set;
        # §7: the fields of `accounts --json`.
        self.assertAccount(d, "A", stage="current", paused=False, balance=0, credit_balance=0,
                           overdue_amount=0, days_overdue=0, promises_broken=0, tags=[])
        st = d.status()
        self.assertEqual(st["accounts"], 1)
        self.assertEqual(st["stages"], {"current": 1, "reminder": 0, "negotiation": 0})

    def test_accounts_are_listed_by_id(self):
        d = self.start(base=False)
        self.commit(d, [acct("1", "b"), acct("2", "A"), acct("3", "a"), acct("4", "B2")])
        # §7 "by account id" (byte order).
        self.assertEqual(list(d.accounts()), ["A", "B2", "a", "b"])
        self.assertEqual(d.status()["accounts"], 4)

    def test_upsert_keeps_absent_fields_and_replaces_lists(self):
        d = self.start(base=False)
        owner = [{"role": "owner", "name": "Mr Wang", "phone": "+86-10-5550100"}]
        cfo = [{"role": "cfo", "name": "Ms Li", "email": "li@example.com"}]
        self.commit(d, [acct("u1", "A", name="Alpha", risk="B", cash_in_day=5,
                             tags=["vip", "north"], contacts=owner)])
        self.assertAccount(d, "A", paused=False, tags=["vip", "north"])
        # An existing account needs no name/currency/size (§2.2 step 8).
        self.commit(d, [ev("account", "u2", account="A", paused=True)])
        # §2.3: absent fields keep their value: tags kept.
        rec = self.assertAccount(d, "A", paused=True, tags=["vip", "north"])
        if "contacts" in rec:
            self.assertEqual(rec["contacts"], owner)
        if "name" in rec:
            self.assertEqual(rec["name"], "Alpha")
        self.commit(d, [ev("account", "u3", account="A", tags=["south"], contacts=cfo)])
        # §2.3: tags and contacts replace their lists; paused kept.
        rec = self.assertAccount(d, "A", paused=True, tags=["south"])
        if "contacts" in rec:
            self.assertEqual(rec["contacts"], cfo)
        self.commit(d, [ev("account", "u4", account="A", tags=[])])
        # §2: `[]` clears.
        self.assertAccount(d, "A", paused=True, tags=[])
        self.commit(d, [ev("account", "u5", account="A", paused=False, tags=["b", "a"])])
        # §7 tags "as last sent" (order kept).
        self.assertAccount(d, "A", paused=False, tags=["b", "a"])
        # currency kept (CNY): a USD payment refused, a CNY one accepted.
        self.commit(d, [inv("i", "A", "A-1", 100)])
        r = d.ingest([pay("p1", "A", 10, currency="USD")])
        self.assertRefused(r, {1: ("currency", ERR_CURRENCY)})
        self.commit(d, [pay("p2", "A", 10, currency="CNY")])
        self.assertAccount(d, "A", balance=90)


# ---------------------------------------------------------------------------
# §3.1 promises given a verdict in their own batch (history imports)

class TestPromiseHistory(IngestCase):
    def test_broken_promises_count_within_90_days(self):
        d = self.start(base=False)
        self.commit(d, [acct("a", "A"), inv("i", "A", "A-1", 10000, issued="2025-10-01", due="2025-10-31")])
        self.commit(d, [promise("h1", "A", 1000, due="2025-11-05", at="2025-11-01T10:00:00+08:00"),
                        promise("h2", "A", 1000, due="2026-02-15", at="2026-02-10T10:00:00+08:00")])
        # §3.1: no money → broken at end of due day + grace 0:
        # h1 2025-11-06T00:00+08:00, h2 2026-02-16T00:00+08:00.
        # §7 90d window: (now − 90d, now] = (2025-12-02T09:00, 2026-03-02T09:00]
        # (03-02 − 28 d = 02-02, − 31 d = 01-02, − 31 d = 12-02): only h2.
        self.assertAccount(d, "A", promises_broken=1)

    def test_money_counts_within_the_promise_span(self):
        d = self.start(base=False)
        setup = []
        for a in "ABCDE":
            setup += [acct("a" + a, a), inv("i" + a, a, a + "-1", 10000, issued="2026-01-01", due="2026-01-31")]
        self.commit(d, setup)
        self.commit(d, [pay("pA", "A", 1000, at="2026-02-12T10:00:00+08:00"),   # inside the span
                        pay("pB", "B", 1000, at="2026-02-16T00:00:00+08:00"),   # = break moment: outside
                        pay("pC", "C", 1000, at="2026-02-10T09:59:59+08:00"),   # before the promise's at
                        pay("pD", "D", 1000, at="2026-02-10T10:00:00+08:00"),   # = the promise's at: inside
                        pay("pE1", "E", 1000, at="2026-02-12T10:00:00+08:00")])  # covers the first promise only
        # Promises at 2026-02-10T10:00+08:00, due 02-15: span
        # [2026-02-10T10:00, 2026-02-16T00:00) (§3.1, promise_grace 0).
        span = dict(due="2026-02-15", at="2026-02-10T10:00:00+08:00")
        self.commit(d, [promise("qA", "A", 1000, **span), promise("qB", "B", 1000, **span),
                        promise("qC", "C", 1000, **span), promise("qD", "D", 1000, **span),
                        promise("qE1", "E", 1000, **span), promise("qE2", "E", 1000, **span)])
        # §3.1: at a promise's ingest it takes the account's not-yet-counted
        # money dated in its span; a history import gets its verdict in its
        # batch: kept if covered, else broken at its break moment (inside the
        # 90d window).  Money is counted once: pE1 completes qE1, qE2 gets none.
        got = d.accounts()
        self.assertEqual({a: got[a]["promises_broken"] for a in "ABCDE"},
                         {"A": 0, "B": 1, "C": 1, "D": 0, "E": 1})

    def test_money_ingested_after_the_verdict_changes_nothing(self):
        d = self.start(base=False)
        span = dict(due="2026-02-15", at="2026-02-10T10:00:00+08:00")
        self.commit(d, [acct("a", "A"), inv("iA", "A", "A-1", 10000, issued="2026-01-01", due="2026-01-31"),
                        acct("b", "B"), inv("iB", "B", "B-1", 10000, issued="2026-01-01", due="2026-01-31")])
        self.commit(d, [promise("qA", "A", 1000, **span)])
        self.commit(d, [pay("pA", "A", 1000, at="2026-02-12T10:00:00+08:00")])
        # §3.1: qA was broken in its batch; "money ingested after a verdict
        # never changes it, whatever its at".
        self.assertAccount(d, "A", promises_broken=1)
        # Same batch (reading): the promise is pending until its batch's
        # evaluation, so money of a later line of that batch dated in its
        # span counts towards it at the money's ingest: kept.
        self.commit(d, [promise("qB", "B", 1000, **span), pay("pB", "B", 1000, at="2026-02-12T10:00:00+08:00")])
        self.assertAccount(d, "B", promises_broken=0)


# ---------------------------------------------------------------------------
# §3.1 promise timers.  These need `dunnctl clock` and the evaluation (#13);
# they fail until those land.

class TestPromiseTimers(IngestCase):
    def clock(self, d, *args):
        r = d.ctl("clock", *args)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_verdicts_after_two_days(self):
        d = self.start(base=False)
        setup = []
        for a in "ABCDE":
            setup += [acct("a" + a, a), inv("i" + a, a, a + "-1", 10000)]
        self.commit(d, setup)
        # Every promise: at now (2026-03-02T09:00), due 2026-03-03, break
        # moment 2026-03-04T00:00+08:00 (end of the due day, grace 0).
        self.commit(d, [promise("qA", "A", 5000, "2026-03-03"),
                        promise("qB", "B", 5000, "2026-03-03"), pay("pB", "B", 5000, at=NOW),
                        promise("qC", "C", 3000, "2026-03-03"),
                        promise("qD", "D", 5000, "2026-03-03"), pay("pD1", "D", 4000, at=NOW),
                        promise("qE", "E", 5000, "2026-03-03"), pay("pE", "E", 5000, at=NOW)])
        # C: money dated before the promise's at is outside its span, but
        # it brings the balance to 0 before the break moment → kept (§3.1).
        self.commit(d, [pay("pC", "C", 10000, at="2026-03-01T12:00:00+08:00")])
        # D: the counted 4000 is withdrawn by its reversal; 1000 more is not
        # enough (§3.1 "reversed money counts no more").
        self.commit(d, [reversal("rD", "D", "pD1"), pay("pD2", "D", 1000, at=NOW)])
        # E: completed by pE (kept); the reversal does not undo a verdict.
        self.commit(d, [reversal("rE", "E", "pE")])
        got = d.accounts()
        self.assertEqual({a: got[a]["promises_broken"] for a in "ABCDE"},
                         {"A": 0, "B": 0, "C": 0, "D": 0, "E": 0})   # nothing broken yet: pending
        self.clock(d, "advance", "2d")
        # now 2026-03-04T09:00: A (no money) and D (1000 of 5000) broken at
        # 2026-03-04T00:00, inside the 90d window.
        got = d.accounts()
        self.assertEqual({a: got[a]["promises_broken"] for a in "ABCDE"},
                         {"A": 1, "B": 0, "C": 0, "D": 1, "E": 0})

    def test_break_moment_is_the_end_of_the_due_day(self):
        d = self.start()
        self.commit(d, [promise("q", "A", 5000, "2026-03-03")])
        self.clock(d, "set", "2026-03-03T23:59:59+08:00")
        self.assertAccount(d, "A", promises_broken=0)      # still pending (§3.1)
        self.clock(d, "set", "2026-03-04T00:00:00+08:00")
        self.assertAccount(d, "A", promises_broken=1)      # next local midnight after 03-03

    def test_promise_grace_delays_the_break(self):
        d = self.start(rules=MINIMAL_RULES + 'promise_grace = "1d";\n')
        self.commit(d, [promise("q", "A", 5000, "2026-03-03")])
        # §3.1: break moment = 2026-03-04T00:00 + 1d = 2026-03-05T00:00+08:00;
        # pending until then, grace included.
        self.clock(d, "set", "2026-03-04T23:59:59+08:00")
        self.assertAccount(d, "A", promises_broken=0)
        self.clock(d, "set", "2026-03-05T00:00:00+08:00")
        self.assertAccount(d, "A", promises_broken=1)

    def test_broken_promise_leaves_the_90_day_window(self):
        d = self.start()
        self.commit(d, [promise("q", "A", 5000, "2026-03-03")])
        # Broken at 2026-03-04T00:00; + 90 d = 2026-06-02T00:00 (27 days of
        # March + 30 + 31 + 2).  Window (now − 90d, now] (§3).
        self.clock(d, "set", "2026-06-01T23:59:59+08:00")
        self.assertAccount(d, "A", promises_broken=1)
        self.clock(d, "set", "2026-06-02T00:00:00+08:00")
        self.assertAccount(d, "A", promises_broken=0)


if __name__ == "__main__":
    unittest.main()
